//! RPC input: every method's params as the server parses them (the first
//! byte picks the method, the rest is the params text), and the envelope's
//! rewriting of ids and notifications of the same text taken as a request
//! body, whose restored answer must be JSON.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use parlend_rpc::envelope::{Prepared, prepare};
use parlend_rpc::methods;
use parlend_rpc::server::parse_method_params;
use serde_json::value::RawValue;

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
/// JSON is checked as raw values: a number of any size is JSON (a
/// `serde_json::Value` refuses one beyond an f64, e.g. 1e400, which a
/// client may well send in a member the server never reads).
fn envelope(body: &[u8]) {
    let Prepared::Rewrite(rewritten) = prepare(body) else { return };
    let answer = if rewritten.is_empty() {
        Vec::new()
    } else {
        let sent: &RawValue = serde_json::from_slice(&rewritten.body).expect("the rewritten body is JSON");
        let answers = match serde_json::from_str::<Vec<&RawValue>>(sent.get()) {
            Ok(calls) => format!("[{}]", calls.iter().map(|call| answer_to(call)).collect::<Vec<_>>().join(",")),
            Err(_) => answer_to(sent),
        };
        answers.into_bytes()
    };
    if let Some(text) = rewritten.restore(&answer) {
        let restored: &RawValue = serde_json::from_str(&text).expect("the restored answer is JSON");
        assert!(matches!(restored.get().as_bytes().first(), Some(b'{' | b'[')), "{text}");
    }
}

/// jsonrpsee's answer to one call, as far as the envelope cares: the call's
/// `id` member (the last one, when repeated; null when it has none or is no
/// object) and a result.
fn answer_to(call: &RawValue) -> String {
    let members = serde_json::from_str::<BTreeMap<String, &RawValue>>(call.get()).unwrap_or_default();
    let id = members.get("id").map_or("null", |id| id.get());
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":1}}"#)
}
