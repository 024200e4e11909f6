//! Every bad input gets a JSON-RPC error with a stable code and never enters
//! a block; nothing panics.

use parlend_contracts::{Instruction, Transaction};
use parlend_ledger::{Access, AccessMode, AccessSet, Address, StateKey};
use parlend_rpc::error as codes;
use parlend_tests::{DEV_CHAIN_ID, TestNode, asset, dev_keypair, signed_transfer, tokens, transfer_access};
use serde_json::{Value, json};

/// POSTs a raw body; returns the HTTP status and the parsed JSON body.
fn post(url: &str, body: impl Into<Vec<u8>>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response =
        agent.post(url).header("content-type", "application/json").send(body.into()).expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn error_code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or_else(|| panic!("expected a JSON-RPC error, got {body}"))
}

async fn send_code(node: &TestNode, bytes: &[u8]) -> i32 {
    let error = node.client.send_raw(bytes, false).await.expect_err("the transaction must be rejected");
    error.code().unwrap_or_else(|| panic!("expected an RPC error, got {error}"))
}

async fn assert_nothing_committed(node: &TestNode) {
    let head = node.client.head().await.unwrap();
    assert_eq!(head.height, 0, "a rejected transaction was committed");
    assert_eq!(head.pending_transactions, 0, "a rejected transaction entered the mempool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_errors_have_standard_codes() {
    let node = TestNode::in_memory().await;
    let url = node.url.clone();
    tokio::task::spawn_blocking(move || {
        let (_, body) = post(&url, "{\"jsonrpc\": \"2.0\", \"method\": ");
        assert_eq!(error_code(&body), -32700, "truncated JSON");
        let (_, body) = post(&url, "not json at all");
        assert_eq!(error_code(&body), -32700, "not JSON");
        let (_, body) =
            post(&url, json!({"jsonrpc": "2.0", "id": 1, "method": "noSuchMethod", "params": {}}).to_string());
        assert_eq!(error_code(&body), -32601, "unknown method");
        let (_, body) = post(
            &url,
            json!({"jsonrpc": "2.0", "id": 1, "method": "getAccount", "params": {"address": 12}}).to_string(),
        );
        assert_eq!(error_code(&body), -32602, "wrong param type");
        let (_, body) =
            post(&url, json!({"jsonrpc": "2.0", "id": 1, "method": "getAccount", "params": {}}).to_string());
        assert_eq!(error_code(&body), -32602, "missing param");
        let address = "11".repeat(32);
        let request =
            json!({"jsonrpc": "2.0", "id": 1, "method": "getAccount", "params": {"address": address, "extra": 1}});
        let (_, body) = post(&url, request.to_string());
        assert_eq!(error_code(&body), -32602, "unknown field");
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": {"transaction": "zz"}});
        let (_, body) = post(&url, request.to_string());
        assert_eq!(error_code(&body), -32602, "transaction not hex");
        let (_, body) = post(&url, json!({"jsonrpc": "1.0", "id": 1, "method": "getHead"}).to_string());
        assert_eq!(error_code(&body), -32600, "not JSON-RPC 2.0");
    })
    .await
    .unwrap();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_and_batch_are_refused() {
    let node = TestNode::in_memory().await;
    let url = node.url.clone();
    tokio::task::spawn_blocking(move || {
        let huge = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sendTransaction\",\"params\":{{\"transaction\":\"{}\"}}}}",
            "ab".repeat(1024 * 1024)
        );
        let (status, body) = post(&url, huge);
        assert_eq!(error_code(&body), -32007, "oversized body (HTTP {status})");
        let calls: Vec<Value> = (0..101).map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "getHead"})).collect();
        let (_, body) = post(&url, Value::Array(calls).to_string());
        assert_eq!(error_code(&body), -32010, "oversized batch");
        // A batch within the limit answers every call.
        let calls: Vec<Value> = (0..3).map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "getHead"})).collect();
        let (_, body) = post(&url, Value::Array(calls).to_string());
        assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
    })
    .await
    .unwrap();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_rejected() {
    let node = TestNode::in_memory().await;
    let key = dev_keypair(1);
    let mut tx = signed_transfer(&key, 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    tx.signature.0[0] ^= 0x01;
    assert_eq!(send_code(&node, &tx.encode()).await, codes::INVALID_SIGNATURE);
    // Signed by another key.
    let mut tx = signed_transfer(&key, 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    tx.signature = dev_keypair(2).sign(&tx.transaction.signing_bytes());
    assert_eq!(send_code(&node, &tx.encode()).await, codes::INVALID_SIGNATURE);
    assert_nothing_committed(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_and_invalid_keys_are_rejected() {
    let node = TestNode::in_memory().await;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for (signer, code) in [(Address(identity), codes::WEAK_PUBLIC_KEY), (Address([2; 32]), codes::INVALID_PUBLIC_KEY)] {
        let to = dev_keypair(2).address();
        let transaction = Transaction {
            chain_id: DEV_CHAIN_ID,
            signer,
            nonce: 0,
            access: transfer_access(signer, to, asset("USDC")),
            instructions: vec![Instruction::Transfer { to, asset: asset("USDC"), amount: tokens("USDC", 1) }],
        };
        let signed =
            parlend_contracts::SignedTransaction { transaction, signature: parlend_ledger::Signature([0; 64]) };
        assert_eq!(send_code(&node, &signed.encode()).await, code);
    }
    assert_nothing_committed(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_canonical_signature_is_rejected() {
    const ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let node = TestNode::in_memory().await;
    let mut tx = signed_transfer(&dev_keypair(1), 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    // S + L: the same signature in a malleated, non-reduced form.
    let mut carry = 0u16;
    for (index, order_byte) in ORDER.iter().enumerate() {
        let sum = u16::from(tx.signature.0[32 + index]) + u16::from(*order_byte) + carry;
        tx.signature.0[32 + index] = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(send_code(&node, &tx.encode()).await, codes::NON_CANONICAL_SIGNATURE);
    assert_nothing_committed(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chain_is_rejected() {
    let node = TestNode::in_memory().await;
    let key = dev_keypair(1);
    let to = dev_keypair(2).address();
    let transaction = Transaction {
        chain_id: DEV_CHAIN_ID + 1,
        signer: key.address(),
        nonce: 0,
        access: transfer_access(key.address(), to, asset("USDC")),
        instructions: vec![Instruction::Transfer { to, asset: asset("USDC"), amount: tokens("USDC", 1) }],
    };
    assert_eq!(send_code(&node, &transaction.sign(&key).encode()).await, codes::WRONG_CHAIN);
    assert_nothing_committed(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_skipped_and_duplicate_nonces_are_rejected() {
    let node = TestNode::in_memory().await;
    let key = dev_keypair(1);
    let to = dev_keypair(2).address();
    let first = signed_transfer(&key, 0, to, asset("USDC"), tokens("USDC", 1));
    node.client.send(&first, true).await.unwrap();
    // The same bytes again: already known (committed).
    assert_eq!(send_code(&node, &first.encode()).await, codes::ALREADY_KNOWN);
    // Another transaction with the used nonce: stale.
    let stale = signed_transfer(&key, 0, to, asset("USDC"), tokens("USDC", 2));
    assert_eq!(send_code(&node, &stale.encode()).await, codes::NONCE_TOO_LOW);
    // Skipping ahead.
    let ahead = signed_transfer(&key, 5, to, asset("USDC"), tokens("USDC", 2));
    assert_eq!(send_code(&node, &ahead.encode()).await, codes::NONCE_TOO_HIGH);
    let head = node.client.head().await.unwrap();
    assert_eq!(head.height, 1);
    assert_eq!(head.pending_transactions, 0);
    assert_eq!(node.client.account(key.address()).await.unwrap().nonce, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_malformed_transactions_are_rejected() {
    let node = TestNode::in_memory().await;
    let key = dev_keypair(1);
    // A genuinely signed transaction over the size limit: a large access set
    // and the most instructions.
    let mut accesses: Vec<Access> = (0..40u8)
        .map(|i| Access {
            key: StateKey::Balance { owner: Address([i; 32]), asset: asset("USDC") },
            mode: AccessMode::Delta,
        })
        .collect();
    accesses.push(Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write });
    let instructions = (0..16u8)
        .map(|i| Instruction::Transfer { to: Address([i; 32]), asset: asset("USDC"), amount: tokens("USDC", 1) })
        .collect();
    let transaction = Transaction {
        chain_id: DEV_CHAIN_ID,
        signer: key.address(),
        nonce: 0,
        access: AccessSet::from_unsorted(accesses).unwrap(),
        instructions,
    };
    let bytes = transaction.sign(&key).encode();
    assert!(bytes.len() > parlend_ledger::limits::TRANSACTION_BYTES_MAX);
    assert_eq!(send_code(&node, &bytes).await, codes::TRANSACTION_TOO_LARGE);

    // Garbage, a truncated transaction, and trailing bytes.
    let good = signed_transfer(&key, 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1)).encode();
    assert_eq!(send_code(&node, &[1, 2, 3]).await, codes::MALFORMED_TRANSACTION);
    assert_eq!(send_code(&node, &good[..good.len() - 1]).await, codes::MALFORMED_TRANSACTION);
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(send_code(&node, &trailing).await, codes::MALFORMED_TRANSACTION);

    // No instructions.
    let empty = Transaction {
        chain_id: DEV_CHAIN_ID,
        signer: key.address(),
        nonce: 0,
        access: transfer_access(key.address(), key.address(), asset("USDC")),
        instructions: vec![],
    };
    assert_eq!(send_code(&node, &empty.sign(&key).encode()).await, codes::INSTRUCTION_COUNT);

    // An access set that does not declare the signer's nonce.
    let undeclared = Transaction {
        chain_id: DEV_CHAIN_ID,
        signer: key.address(),
        nonce: 0,
        access: AccessSet::new(vec![]).unwrap(),
        instructions: vec![Instruction::Transfer {
            to: key.address(),
            asset: asset("USDC"),
            amount: tokens("USDC", 1),
        }],
    };
    assert_eq!(send_code(&node, &undeclared.sign(&key).encode()).await, codes::NONCE_NOT_DECLARED);
    assert_nothing_committed(&node).await;
    node.stop().await;
}
