//! Malformed and hostile requests get a clear JSON-RPC error, never a 500,
//! and the node keeps serving.

use parlend_tests::{TestNode, post_raw};
use serde_json::{Value, json};

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getHead\",\"params\":{}{}}}",
        open.repeat(depth),
        close.repeat(depth)
    )
}

fn assert_error(status: u16, body: &Value, what: &str) -> i64 {
    assert!(status != 500 && status < 600, "{what}: HTTP {status}: {body}");
    let code = body["error"]["code"].as_i64().unwrap_or_else(|| panic!("{what}: not a JSON-RPC error: {body}"));
    assert!(body["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{what}: {body}");
    assert_eq!(body["jsonrpc"], "2.0", "{what}: {body}");
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_errors_and_never_a_500() {
    let node = TestNode::in_memory().await;
    let url = &node.url;
    let address = "11".repeat(32);
    let request = |method: &str, params: Value| json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("truncated JSON", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getHe".to_vec(), -32700),
        ("empty body", Vec::new(), -32700),
        ("binary garbage", vec![0xff, 0xfe, 0x00, 0x01, 0x80], -32700),
        ("a bare number", b"12345678901234567890123456789012345678901234567890".to_vec(), -32700),
        ("an empty batch", b"[]".to_vec(), -32600),
        ("deeply nested arrays", nested(100_000, "[", "]").into_bytes(), -32602),
        ("deeply nested objects", nested(50_000, "{\"a\":", "}").into_bytes(), -32700),
        ("a huge id", b"{\"jsonrpc\":\"2.0\",\"id\":1e999999,\"method\":\"getHead\"}".to_vec(), -32600),
        ("a fractional id", b"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"getHead\"}".to_vec(), -32600),
        ("params as an array", request("getAccount", json!([address])).to_string().into_bytes(), -32602),
        ("params as a string", request("getHead", json!("now")).to_string().into_bytes(), -32602),
        (
            "a wrong type",
            request("sendTransaction", json!({"transaction": "00", "wait": "yes"})).to_string().into_bytes(),
            -32602,
        ),
        (
            "an unknown field",
            request("getPosition", json!({"address": address, "asOf": 5})).to_string().into_bytes(),
            -32602,
        ),
        (
            "an unknown nested field",
            request(
                "simulateTransaction",
                json!({"signer": address, "instructions": [
            {"type": "deposit", "asset": "USDC", "amount": "1", "memo": "x"}]}),
            )
            .to_string()
            .into_bytes(),
            -32602,
        ),
        (
            "an unknown instruction",
            request(
                "simulateTransaction",
                json!({"signer": address, "instructions": [
            {"type": "print", "asset": "USDC"}]}),
            )
            .to_string()
            .into_bytes(),
            -32602,
        ),
        (
            "an amount over u128",
            request(
                "dev_faucet",
                json!({"address": address, "asset": "USDC",
            "amount": "340282366920938463463374607431768211456"}),
            )
            .to_string()
            .into_bytes(),
            -32602,
        ),
        (
            "an amount as a JSON number",
            request(
                "dev_faucet",
                json!({"address": address, "asset": "USDC",
            "amount": 1e30}),
            )
            .to_string()
            .into_bytes(),
            -32602,
        ),
        (
            "a negative amount",
            request("dev_faucet", json!({"address": address, "asset": "USDC", "amount": "-5"}))
                .to_string()
                .into_bytes(),
            -32602,
        ),
        (
            "a height over u64",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getBlock\",\"params\":{\"height\":18446744073709551616}}"
                .to_vec(),
            -32602,
        ),
        (
            "a huge time jump",
            request("dev_increaseTime", json!({"seconds": u64::MAX})).to_string().into_bytes(),
            -32602,
        ),
        ("a bad address", request("getBalances", json!({"address": "0xnothex"})).to_string().into_bytes(), -32602),
        (
            "an asset symbol too long",
            request("getMarket", json!({"asset": "ABCDEFGHIJKLMNOP"})).to_string().into_bytes(),
            -32602,
        ),
        (
            "a lone surrogate",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getMarket\",\"params\":{\"asset\":\"\\ud800\"}}".to_vec(),
            -32602,
        ),
        ("odd-length hex", request("sendTransaction", json!({"transaction": "abc"})).to_string().into_bytes(), -32602),
        ("a limit of zero", request("getLiquidatable", json!({"limit": 0})).to_string().into_bytes(), -32602),
        ("too many blocks", request("dev_mine", json!({"blocks": 1_000_000})).to_string().into_bytes(), -32602),
        ("no method", b"{\"jsonrpc\":\"2.0\",\"id\":1}".to_vec(), -32600),
        ("jsonrpc 1.0", b"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"getHead\"}".to_vec(), -32600),
    ];
    let mut wrong = Vec::new();
    for (what, body, expected) in cases {
        let (status, answer) = post_raw(url, body).await;
        if assert_error(status, &answer, what) != expected {
            wrong.push(format!("{what}: expected {expected}, got {answer}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // An oversized batch, and an oversized body without a declared length
    // problem (the body itself is too long).
    let calls: Vec<Value> = (0..101).map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "getHead"})).collect();
    let (status, answer) = post_raw(url, Value::Array(calls).to_string()).await;
    assert_eq!(assert_error(status, &answer, "oversized batch"), -32010);
    let (status, answer) = post_raw(url, vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(assert_error(status, &answer, "oversized body"), -32007);

    // A batch mixing good and bad calls answers each.
    let mixed = json!([request("getHead", json!({})), request("getHead", json!({"x": 1})), {"jsonrpc": "2.0"}]);
    let (status, answer) = post_raw(url, mixed.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let answers = answer.as_array().expect("an array");
    assert_eq!(answers.len(), 3, "{answer}");
    assert!(answers.iter().filter(|answer| answer["error"]["code"].is_i64()).count() == 2, "{answer}");

    // Still serving, and nothing entered the chain.
    let head = node.client.head().await.unwrap();
    assert_eq!((head.height, head.pending_transactions), (0, 0));
    node.stop().await;
}
