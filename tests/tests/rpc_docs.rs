//! docs/rpc.md cannot drift from the server: its methods are exactly the
//! served ones, its code table is exactly `rpc/src/error.rs`, every error
//! it lists (under a method, or for every request) is provoked here
//! against real nodes and must come back with that code, and the results
//! of `getMarket` and `getPosition` name every field the server sends.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use parlend_contracts::dev::dev_genesis;
use parlend_contracts::{Instruction, Transaction};
use parlend_ledger::{Access, AccessMode, AccessSet, Address, StateKey};
use parlend_node::node::NodeConfig;
use parlend_rpc::error::{self as codes, ALL_CODES};
use parlend_rpc::{ServerLimits, methods};
use parlend_tests::{
    DEV_CHAIN_ID, TestNode, asset, call, dev_keypair, error_code, post_raw, signed_transfer, tokens, transfer_access,
};
use serde_json::{Value, json};

/// What docs/rpc.md says.
struct Documented {
    /// Method name to its error codes, in document order.
    methods: BTreeMap<String, Vec<i64>>,
    /// Method names in document order.
    order: Vec<String>,
    /// The code table.
    codes: BTreeSet<i64>,
    /// Errors of every request.
    general: Vec<i64>,
}

fn codes_in(line: &str) -> Vec<i64> {
    line.split('`')
        .skip(1)
        .step_by(2)
        .map(|code| code.parse().unwrap_or_else(|_| panic!("bad code {code:?}")))
        .collect()
}

fn documented() -> Documented {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rpc.md")).expect("docs/rpc.md");
    let mut methods = BTreeMap::new();
    let mut order = Vec::new();
    let mut codes = BTreeSet::new();
    let mut general = Vec::new();
    let mut current: Option<String> = None;
    let mut in_methods = false;
    for line in text.lines() {
        if line.starts_with("## ") {
            in_methods = line == "## Methods";
            current = None;
        } else if let Some(name) = line.strip_prefix("### `").and_then(|rest| rest.strip_suffix('`')) {
            assert!(in_methods, "method {name} outside ## Methods");
            assert!(methods.insert(name.to_string(), Vec::new()).is_none(), "{name} documented twice");
            order.push(name.to_string());
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("Errors of every request:") {
            general = codes_in(rest);
        } else if let Some(rest) = line.strip_prefix("Errors:") {
            let name = current.clone().unwrap_or_else(|| panic!("an Errors line outside a method: {line}"));
            methods.insert(name, codes_in(rest));
        } else if let Some(Ok(code)) =
            line.strip_prefix("| ").map(|row| row.split(" |").next().unwrap_or_default().trim().parse::<i64>())
        {
            assert!(codes.insert(code), "code {code} in the table twice");
        }
    }
    Documented { methods, order, codes, general }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_exactly_the_served_methods_and_codes() {
    let docs = documented();
    let listed: Vec<&str> = docs.order.iter().map(String::as_str).collect();
    assert_eq!(listed, methods::ALL, "docs/rpc.md methods (in order) must be methods::ALL");
    let node = TestNode::in_memory().await;
    let module = parlend_rpc::server::rpc_module(Arc::clone(&node.handle.node), ServerLimits::default());
    let served: BTreeSet<&str> = module.method_names().collect();
    assert_eq!(served, methods::ALL.iter().copied().collect(), "served methods");
    drop(module); // it holds the node, which must be released to stop
    // And over HTTP, every one answers (with a result or its own error).
    for method in methods::ALL {
        let (status, body) = call(&node.url, method, json!({})).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert_ne!(body["error"]["code"].as_i64(), Some(-32601), "{method} is not served");
    }
    let table: BTreeSet<i64> = ALL_CODES.iter().map(|(code, _)| i64::from(*code)).collect();
    assert_eq!(docs.codes, table, "docs/rpc.md's code table must be rpc::error::ALL_CODES");
    for code in docs.methods.values().flatten().chain(&docs.general) {
        assert!(table.contains(code), "{code} is listed but not in the table");
    }
    node.stop().await;
}

/// Nodes set up so that every documented error can happen.
struct Nodes {
    /// A dev node, blocks on demand, keeping one height's state tree.
    auto: TestNode,
    /// A dev node that mines only on dev_mine, with a tiny mempool.
    manual: TestNode,
    /// A node not in dev mode.
    production: TestNode,
    /// One heavy request in flight at most; mines only on dev_mine; one
    /// pending transaction per signer; one subscription per WebSocket.
    narrow: TestNode,
    /// A 1 ms request timeout.
    hasty: TestNode,
}

async fn nodes() -> Nodes {
    let mut auto = NodeConfig::new(dev_genesis());
    auto.state_history = Some(1);
    let mut manual = NodeConfig::new(dev_genesis());
    manual.manual_mining = true;
    manual.mempool.capacity = 2;
    manual.mempool.per_signer = 1;
    let mut production = NodeConfig::new(dev_genesis());
    production.dev = false;
    let mut narrow = NodeConfig::new(dev_genesis());
    narrow.manual_mining = true;
    narrow.rpc_limits.requests_in_flight_max = 1;
    narrow.mempool.per_signer = 1;
    narrow.rpc_limits.subscriptions_per_connection_max = 1;
    let mut hasty = NodeConfig::new(dev_genesis());
    hasty.rpc_limits.request_timeout = Duration::from_millis(1);
    hasty.rpc_limits.wait_max = Duration::ZERO;
    Nodes {
        auto: TestNode::start(auto).await,
        manual: TestNode::start(manual).await,
        production: TestNode::start(production).await,
        narrow: TestNode::start(narrow).await,
        hasty: TestNode::start(hasty).await,
    }
}

fn hex_of(transaction: &parlend_contracts::SignedTransaction) -> String {
    hex::encode(transaction.encode())
}

fn send(bytes: &[u8]) -> Value {
    json!({"transaction": hex::encode(bytes)})
}

/// A transfer by dev account `index`, with nonce `nonce`.
fn transfer(index: u32, nonce: u64) -> parlend_contracts::SignedTransaction {
    signed_transfer(&dev_keypair(index), nonce, dev_keypair(9).address(), asset("USDC"), tokens("USDC", 1))
}

fn unsigned(signer: Address, access: AccessSet, instructions: Vec<Instruction>) -> Transaction {
    Transaction { chain_id: DEV_CHAIN_ID, signer, nonce: 0, access, instructions }
}

/// Makes `method` answer with `code`; returns the response body.
async fn provoke(nodes: &Nodes, method: &str, code: i64) -> Value {
    let key = dev_keypair(1);
    let usdc = asset("USDC");
    let to = dev_keypair(2).address();
    let url = &nodes.auto.url;
    let code_i32 = i32::try_from(code).unwrap();
    match (method, code_i32) {
        (_, codes::INVALID_PARAMS) => call(url, method, json!({"noSuchField": 1})).await.1,
        ("unsubscribe", codes::WEBSOCKET_ONLY) => call(url, method, json!({"subscription": 1})).await.1,
        (_, codes::WEBSOCKET_ONLY) => call(url, method, json!({})).await.1,
        (_, codes::TOO_MANY_SUBSCRIPTIONS) => {
            let mut ws = parlend_tests::RawWs::connect(&nodes.narrow.url, None).await.expect("a WebSocket");
            let first = ws.call("subscribeMarkets", json!({})).await;
            assert!(first["result"].is_number(), "{first}");
            ws.call(method, json!({})).await
        }
        ("sendTransaction", codes::TRANSACTION_TOO_LARGE) => {
            let accesses: Vec<Access> = (0..40u8)
                .map(|i| Access {
                    key: StateKey::Balance { owner: Address([i; 32]), asset: usdc },
                    mode: AccessMode::Delta,
                })
                .chain([Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write }])
                .collect();
            let instructions = (0..16u8)
                .map(|i| Instruction::Transfer { to: Address([i; 32]), asset: usdc, amount: tokens("USDC", 1) })
                .collect();
            let big = unsigned(key.address(), AccessSet::from_unsorted(accesses).unwrap(), instructions).sign(&key);
            call(url, method, send(&big.encode())).await.1
        }
        ("sendTransaction", codes::MALFORMED_TRANSACTION) => call(url, method, send(&[1, 2, 3])).await.1,
        ("sendTransaction", codes::INSTRUCTION_COUNT) => {
            let empty = unsigned(key.address(), transfer_access(key.address(), to, usdc), vec![]).sign(&key);
            call(url, method, send(&empty.encode())).await.1
        }
        ("sendTransaction", codes::WRONG_CHAIN) => {
            let mut transaction = transfer(1, 0).transaction;
            transaction.chain_id += 1;
            call(url, method, send(&transaction.sign(&key).encode())).await.1
        }
        ("sendTransaction", codes::NONCE_NOT_DECLARED) => {
            let instructions = vec![Instruction::Transfer { to, asset: usdc, amount: tokens("USDC", 1) }];
            let bare = unsigned(key.address(), AccessSet::new(vec![]).unwrap(), instructions).sign(&key);
            call(url, method, send(&bare.encode())).await.1
        }
        ("sendTransaction", codes::INVALID_PUBLIC_KEY | codes::WEAK_PUBLIC_KEY) => {
            let mut signer = [2u8; 32];
            if code_i32 == codes::WEAK_PUBLIC_KEY {
                signer = [0; 32];
                signer[0] = 1;
            }
            let signer = Address(signer);
            let instructions = vec![Instruction::Transfer { to, asset: usdc, amount: tokens("USDC", 1) }];
            let transaction = unsigned(signer, transfer_access(signer, to, usdc), instructions);
            let signed =
                parlend_contracts::SignedTransaction { transaction, signature: parlend_ledger::Signature([0; 64]) };
            call(url, method, send(&signed.encode())).await.1
        }
        ("sendTransaction", codes::NON_CANONICAL_SIGNATURE) => {
            let mut signed = transfer(1, 0);
            signed.signature.0[63] |= 0xf0; // S far above the group order
            call(url, method, send(&signed.encode())).await.1
        }
        ("sendTransaction", codes::INVALID_SIGNATURE) => {
            let mut signed = transfer(1, 0);
            signed.signature.0[0] ^= 1;
            call(url, method, send(&signed.encode())).await.1
        }
        ("sendTransaction", codes::NONCE_TOO_LOW | codes::ALREADY_KNOWN) => {
            let index = if code_i32 == codes::ALREADY_KNOWN { 3 } else { 4 };
            let first = transfer(index, 0);
            let (_, body) = call(url, method, json!({"transaction": hex_of(&first), "wait": true})).await;
            assert_eq!(body["result"]["status"], "committed", "{body}");
            if code_i32 == codes::ALREADY_KNOWN {
                return call(url, method, json!({"transaction": hex_of(&first)})).await.1;
            }
            let other = signed_transfer(&dev_keypair(index), 0, to, usdc, tokens("USDC", 2));
            call(url, method, json!({"transaction": hex_of(&other)})).await.1
        }
        ("sendTransaction", codes::NONCE_TOO_HIGH) => {
            call(url, method, json!({"transaction": hex_of(&transfer(5, 5))})).await.1
        }
        ("sendTransaction", codes::SIGNER_QUEUE_FULL) => {
            let url = &nodes.narrow.url;
            let (_, body) = call(url, method, json!({"transaction": hex_of(&transfer(5, 0))})).await;
            assert_eq!(body["result"]["status"], "pending", "{body}");
            call(url, method, json!({"transaction": hex_of(&transfer(5, 1))})).await.1
        }
        ("sendTransaction", codes::MEMPOOL_FULL) => {
            let url = &nodes.manual.url;
            // Capacity 2: two signers fill it (one may be there already).
            for index in [6, 7] {
                let (_, body) = call(url, method, json!({"transaction": hex_of(&transfer(index, 0))})).await;
                if body["error"]["code"] == json!(codes::MEMPOOL_FULL) {
                    return body;
                }
            }
            call(url, method, json!({"transaction": hex_of(&transfer(8, 0))})).await.1
        }
        ("sendTransaction" | "sendTransactions", codes::WAIT_TIMEOUT) => {
            // On a node that mines only when asked, nothing commits.
            let url = &nodes.narrow.url;
            let signed = hex_of(&transfer(if method == "sendTransaction" { 1 } else { 2 }, 0));
            let params = if method == "sendTransaction" {
                json!({"transaction": signed, "wait": true, "timeoutMs": 100})
            } else {
                json!({"transactions": [signed], "wait": true, "timeoutMs": 100})
            };
            call(url, method, params).await.1
        }
        ("simulateTransaction", codes::INSTRUCTION_COUNT) => {
            call(url, method, json!({"signer": key.address(), "instructions": []})).await.1
        }
        ("getMarket" | "getPrice", codes::NOT_FOUND) => call(url, method, json!({"asset": "GOLD"})).await.1,
        ("dev_revert", codes::NOT_FOUND) => call(url, method, json!({"id": 999_999})).await.1,
        ("dev_revert", codes::PRUNED) => {
            let (_, snapshot) = call(url, "dev_snapshot", json!({})).await;
            call(url, "dev_mine", json!({"blocks": 2})).await;
            call(url, method, json!({"id": snapshot["result"]["id"]})).await.1
        }
        ("getProof", codes::PRUNED) => {
            call(url, "dev_mine", json!({"blocks": 1})).await;
            call(url, method, json!({"key": "config", "height": 0})).await.1
        }
        ("getProof", codes::NOT_FOUND) => call(url, method, json!({"key": "config", "height": 1_000_000})).await.1,
        (_, codes::DEV_ONLY) => call(&nodes.production.url, method, json!({})).await.1,
        // Errors of every request.
        (_, codes::PARSE_ERROR) => post_raw(url, "{\"jsonrpc\": \"2.0\", \"method\": ").await.1,
        (_, codes::INVALID_REQUEST) => {
            post_raw(url, json!({"jsonrpc": "1.0", "id": 1, "method": "getHead"}).to_string()).await.1
        }
        (_, codes::METHOD_NOT_FOUND) => call(url, "getEverything", json!({})).await.1,
        (_, codes::OVERSIZED_REQUEST) => {
            let (status, body) = call(url, "sendTransaction", json!({"transaction": "ab".repeat(1024 * 1024)})).await;
            assert_eq!(status, 413);
            body
        }
        (_, codes::BATCH_TOO_LARGE) => {
            let calls: Vec<Value> =
                (0..101).map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "getHead"})).collect();
            post_raw(url, Value::Array(calls).to_string()).await.1
        }
        (_, codes::SERVER_BUSY) => {
            // The narrow node runs one heavy request at a time: hold it with a
            // wait that cannot end (nothing is mined), then ask for another.
            let narrow = nodes.narrow.url.clone();
            let held = tokio::spawn(async move {
                let params = json!({"transaction": hex_of(&transfer(3, 0)), "wait": true, "timeoutMs": 1_500});
                call(&narrow, "sendTransaction", params).await
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (status, body) = call(&nodes.narrow.url, "getMarkets", json!({})).await;
            assert_eq!(status, 503, "{body}");
            let (_, held) = held.await.unwrap();
            assert_eq!(error_code(&held), i64::from(codes::WAIT_TIMEOUT), "{held}");
            body
        }
        (_, codes::REQUEST_TIMEOUT) => {
            let (status, body) = call(&nodes.hasty.url, "dev_mine", json!({"blocks": 1000})).await;
            assert_eq!(status, 503, "{body}");
            body
        }
        (_, codes::BODY_TIMEOUT) => {
            // The hasty node's 1 ms request timeout bounds the body's read:
            // declare a body and send only its first byte.
            let (status, body) = half_a_body(&nodes.hasty.url).await;
            assert_eq!(status, 408, "{body}");
            body
        }
        (method, code) => panic!("docs/rpc.md lists {code} for {method}, and no case here provokes it"),
    }
}

/// Sends a request declaring a 100-byte body and only its first byte; the
/// HTTP status and the JSON answer.
async fn half_a_body(url: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connecting");
    let head = "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.expect("sending");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the body timeout never came")
        .expect("reading");
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Codes that need a broken store or a bug to happen: documented, not provoked.
const NOT_PROVOKABLE: &[i32] = &[codes::INTERNAL_ERROR, codes::UNAVAILABLE];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_error_is_answered_with_its_code() {
    let docs = documented();
    let nodes = nodes().await;
    let mut provoked = 0;
    for (method, errors) in &docs.methods {
        for code in errors {
            let body = provoke(&nodes, method, *code).await;
            assert_eq!(error_code(&body), *code, "{method} should answer {code}: {body}");
            assert!(body["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{body}");
            provoked += 1;
        }
    }
    for code in &docs.general {
        if NOT_PROVOKABLE.iter().any(|skip| i64::from(*skip) == *code) {
            continue;
        }
        let body = provoke(&nodes, "*", *code).await;
        assert_eq!(error_code(&body), *code, "every request may answer {code}: {body}");
        provoked += 1;
    }
    assert!(provoked > 40, "only {provoked} errors provoked");
    for node in [nodes.auto, nodes.manual, nodes.production, nodes.narrow, nodes.hasty] {
        node.stop().await;
    }
}

/// The words of a method's section of docs/rpc.md.
fn documented_words(method: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rpc.md")).expect("docs/rpc.md");
    let start = text.find(&format!("### `{method}`")).unwrap_or_else(|| panic!("{method} is not documented"));
    let rest = &text[start + 4..];
    let section = &rest[..rest.find("\n### ").unwrap_or(rest.len())];
    section.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty()).map(String::from).collect()
}

/// Every key of a JSON object (and of the objects it holds, lists' first
/// elements included), outside the ones named in `skip`.
fn keys_of(value: &Value, skip: &[&str], out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                out.insert(key.clone());
                if !skip.contains(&key.as_str()) {
                    keys_of(inner, skip, out);
                }
            }
        }
        Value::Array(items) => items.iter().take(1).for_each(|item| keys_of(item, skip, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_market_and_position_results_name_every_served_field() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let (usdc, tbill) = (asset("USDC"), asset("TBILL"));
    parlend_tests::post_prices(client, &[("USDC", 1), ("TBILL", 1)]).await;
    let lender = Instruction::Deposit { asset: usdc, amount: tokens("USDC", 10_000) };
    parlend_tests::submit_ok(client, &dev_keypair(2), vec![lender]).await;
    // An isolated position in e-mode shows every optional field.
    let isolated = vec![
        Instruction::Deposit { asset: tbill, amount: tokens("TBILL", 1_000) },
        Instruction::SetCollateral { asset: tbill, enabled: true },
        Instruction::SetEMode { category: 1 },
        Instruction::Borrow { asset: usdc, amount: tokens("USDC", 100) },
    ];
    parlend_tests::submit_ok(client, &dev_keypair(1), isolated).await;
    let address = dev_keypair(1).address().to_string();
    for (method, params, skip) in [
        ("getMarket", json!({"asset": "TBILL"}), &["index"][..]),
        ("getMarket", json!({"asset": "USDC"}), &["index"][..]),
        ("getPosition", json!({"address": address}), &["price"][..]),
    ] {
        let (status, body) = call(&node.url, method, params).await;
        assert_eq!(status, 200, "{body}");
        let mut served = BTreeSet::new();
        keys_of(&body["result"], skip, &mut served);
        let words = documented_words(method);
        let missing: Vec<&String> = served.iter().filter(|key| !words.contains(*key)).collect();
        assert!(missing.is_empty(), "docs/rpc.md's {method} does not name {missing:?}");
    }
    node.stop().await;
}
