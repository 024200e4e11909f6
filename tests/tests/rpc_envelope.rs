//! The JSON-RPC 2.0 details docs/rpc.md promises, one test each:
//! notifications run and get no answer, negative ids are echoed, asset
//! symbols are `A-Z0-9` exactly, every parse error is HTTP 200 with -32700,
//! and a public key whose `y` is not below the field's prime is a key error.

use std::time::{Duration, Instant};

use parlend_contracts::{Instruction, SignedTransaction, Transaction};
use parlend_ledger::{Address, Signature};
use parlend_rpc::error as codes;
use parlend_tests::{
    DEV_CHAIN_ID, TestNode, asset, call, dev_keypair, error_code, post_raw, signed_transfer, tokens, transfer_access,
};
use serde_json::{Value, json};

fn hex_of(transaction: &SignedTransaction) -> String {
    hex::encode(transaction.encode())
}

/// Waits until `hash` is committed.
async fn committed(url: &str, hash: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = call(url, "getTransactionStatus", json!({"hash": hash})).await;
        if body["result"]["status"] == "committed" {
            return;
        }
        assert!(Instant::now() < deadline, "{hash} never committed: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_runs_and_gets_no_answer() {
    let node = TestNode::in_memory().await;
    let url = &node.url;
    let key = dev_keypair(1);
    let to = dev_keypair(2).address();

    // Alone: HTTP 204, an empty body, and the transaction was submitted.
    let first = signed_transfer(&key, 0, to, asset("USDC"), tokens("USDC", 1));
    let notification =
        json!({"jsonrpc": "2.0", "method": "sendTransaction", "params": {"transaction": hex_of(&first)}});
    let (status, body) = post_raw(url, notification.to_string()).await;
    assert_eq!((status, body), (204, Value::String(String::new())));
    committed(url, &first.hash().to_string()).await;

    // In a batch: only the call with an id is answered.
    let second = signed_transfer(&key, 1, to, asset("USDC"), tokens("USDC", 1));
    let batch = json!([
        {"jsonrpc": "2.0", "method": "sendTransaction", "params": {"transaction": hex_of(&second)}},
        {"jsonrpc": "2.0", "id": "head", "method": "getHead"},
        {"jsonrpc": "2.0", "method": "noSuchMethod"},
    ]);
    let (status, body) = post_raw(url, batch.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let answers = body.as_array().unwrap_or_else(|| panic!("an array: {body}"));
    assert_eq!(answers.len(), 1, "{body}");
    assert_eq!(answers[0]["id"], "head", "{body}");
    committed(url, &second.hash().to_string()).await;

    // A batch of notifications only: 204.
    let (status, body) = post_raw(url, json!([{"jsonrpc": "2.0", "method": "getHead"}]).to_string()).await;
    assert_eq!((status, body), (204, Value::String(String::new())));

    // An entry that is no request at all is still answered, with a null id
    // (`[[]]` found by fuzzing: an array entry was taken for a notification).
    for body in ["[{}]", "[\n[\n]]", "[[5], {\"jsonrpc\": \"2.0\", \"method\": \"getHead\"}]"] {
        let (status, answer) = post_raw(url, body).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer[0]["error"]["code"], codes::INVALID_REQUEST, "{body}: {answer}");
        assert_eq!(answer[0]["id"], Value::Null, "{body}: {answer}");
        assert_eq!(answer.as_array().map(Vec::len), Some(1), "{body}: {answer}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_ids_are_accepted_and_echoed() {
    let node = TestNode::in_memory().await;
    for id in ["-1", "-9223372036854775808", "-0", "18446744073709551615", "\"-1\""] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getHead"}}"#);
        let (status, answer) = post_raw(&node.url, body).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer["result"]["height"].is_u64(), "id {id}: {answer}");
        assert_eq!(answer["id"].to_string(), serde_json::from_str::<Value>(id).unwrap().to_string(), "{answer}");
    }
    // The exact text comes back, as sent.
    let (_, text) = post_raw(&node.url, r#"{"jsonrpc":"2.0","id":-0,"method":"noSuchMethod"}"#).await;
    assert_eq!(error_code(&text), i64::from(codes::METHOD_NOT_FOUND));
    // In a batch, each answer keeps its own id, in order.
    let batch = r#"[{"jsonrpc":"2.0","id":-7,"method":"getHead"},{"jsonrpc":"2.0","id":7,"method":"getHead"},{"jsonrpc":"2.0","id":-8,"method":"getMarket","params":{"asset":"GOLD"}}]"#;
    let (status, answer) = post_raw(&node.url, batch).await;
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<i64> = answer.as_array().unwrap().iter().map(|answer| answer["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [-7, 7, -8], "{answer}");
    assert_eq!(answer[2]["error"]["code"], codes::NOT_FOUND, "{answer}");
    // Beyond 64 bits, or not an integer: an invalid request that does not run.
    for id in ["-9223372036854775809", "18446744073709551616", "1.5", "1e3", "true"] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getHead"}}"#);
        let (status, answer) = post_raw(&node.url, body).await;
        assert_eq!((status, error_code(&answer)), (200, i64::from(codes::INVALID_REQUEST)), "id {id}: {answer}");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_symbols_are_upper_case_exactly() {
    let node = TestNode::in_memory().await;
    let url = &node.url;
    let (_, answer) = call(url, "getMarket", json!({"asset": "USDC"})).await;
    assert_eq!(answer["result"]["asset"], "USDC", "{answer}");
    let signer = dev_keypair(1).address();
    for symbol in ["usdc", "Usdc", "uSDC"] {
        for (method, params) in [
            ("getMarket", json!({"asset": symbol})),
            ("getPrice", json!({"asset": symbol})),
            ("dev_faucet", json!({"address": signer, "asset": symbol, "amount": "1"})),
            (
                "simulateTransaction",
                json!({"signer": signer, "instructions": [{"type": "deposit", "asset": symbol, "amount": "1"}]}),
            ),
        ] {
            let (_, answer) = call(url, method, params).await;
            assert_eq!(error_code(&answer), i64::from(codes::INVALID_PARAMS), "{method} {symbol}: {answer}");
            assert!(answer["error"]["message"].as_str().unwrap().contains("A-Z"), "{answer}");
        }
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parse_error_is_http_200_with_the_same_code() {
    let node = TestNode::in_memory().await;
    let long_whitespace = format!("{}{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getHead\"}}", " ".repeat(300));
    let broken: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("whitespace", b"  \n\t ".to_vec()),
        ("garbage", b"garbage".to_vec()),
        ("binary", vec![0xff, 0x00, 0x7b]),
        ("a number", b"12345".to_vec()),
        ("a string", b"\"getHead\"".to_vec()),
        ("null", b"null".to_vec()),
        ("a truncated object", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"met".to_vec()),
        ("a truncated array", b"[1,2".to_vec()),
        ("trailing text", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getHead\"} x".to_vec()),
        ("an open key", b"{\"a\":".to_vec()),
        // Found by fuzzing: a notification holding bytes that are not UTF-8.
        (
            "a notification that is not UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"getHea\xa3d\",\"params\":{}}".to_vec(),
        ),
    ];
    for (what, body) in broken {
        let (status, answer) = post_raw(&node.url, body).await;
        assert_eq!(status, 200, "{what}: {answer}");
        assert_eq!(error_code(&answer), i64::from(codes::PARSE_ERROR), "{what}: {answer}");
        assert_eq!(answer["id"], Value::Null, "{what}: {answer}");
    }
    // Leading whitespace of any length is not an error.
    let (status, answer) = post_raw(&node.url, long_whitespace).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"]["height"].is_u64(), "{answer}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_y_at_or_above_p_gets_the_key_code() {
    let node = TestNode::in_memory().await;
    let to = dev_keypair(2).address();
    let usdc = asset("USDC");
    for excess in [0u8, 1, 5, 18] {
        // y = p + excess: 0xed + excess, then 0xff bytes, top byte 0x7f.
        let mut key = [0xffu8; 32];
        key[0] = 0xed + excess;
        key[31] = 0x7f;
        let signer = Address(key);
        let transaction = Transaction {
            chain_id: DEV_CHAIN_ID,
            signer,
            nonce: 0,
            access: transfer_access(signer, to, usdc),
            instructions: vec![Instruction::Transfer { to, asset: usdc, amount: tokens("USDC", 1) }],
        };
        let signed = SignedTransaction { transaction, signature: Signature([0; 64]) };
        let (_, answer) = call(&node.url, "sendTransaction", json!({"transaction": hex_of(&signed)})).await;
        assert_eq!(error_code(&answer), i64::from(codes::INVALID_PUBLIC_KEY), "y = p + {excess}: {answer}");
    }
    node.stop().await;
}
