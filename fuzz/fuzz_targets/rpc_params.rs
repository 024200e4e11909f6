//! RPC input: every method's params as the server parses them (the first
//! byte picks the method, the rest is the params text), and the envelope's
//! rewriting of ids and notifications of the same text taken as a request
//! body, whose restored answer must be JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parlend_rpc::envelope::{Prepared, prepare};
use parlend_rpc::methods;
use parlend_rpc::server::parse_method_params;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else { return };
    if let Ok(text) = std::str::from_utf8(rest) {
        let method = methods::ALL[usize::from(*selector) % methods::ALL.len()];
        let params = if selector & 0x80 == 0 { Some(text) } else { None };
        let _ = parse_method_params(method, params);
    }
    envelope(rest);
});

/// Rewrites the body, answers every call jsonrpsee would get with its own
/// id, and restores: the result is JSON, and never more answers than calls.
fn envelope(body: &[u8]) {
    let Prepared::Rewrite(rewritten) = prepare(body) else { return };
    let answer = if rewritten.is_empty() {
        Vec::new()
    } else {
        let sent: serde_json::Value = serde_json::from_slice(&rewritten.body).expect("the rewritten body is JSON");
        let answer_to = |call: &serde_json::Value| serde_json::json!({"jsonrpc": "2.0", "id": call["id"], "result": 1});
        let answers = match &sent {
            serde_json::Value::Array(calls) => serde_json::Value::Array(calls.iter().map(answer_to).collect()),
            call => answer_to(call),
        };
        answers.to_string().into_bytes()
    };
    if let Some(text) = rewritten.restore(&answer) {
        let restored: serde_json::Value = serde_json::from_str(&text).expect("the restored answer is JSON");
        assert!(restored.is_object() || restored.is_array(), "{text}");
    }
}
