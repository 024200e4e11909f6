//! The JSON-RPC details jsonrpsee does not handle as JSON-RPC 2.0 asks, mended
//! around it rather than by hand-writing the protocol.
//!
//! jsonrpsee 0.26 represents a request id only as a string, an unsigned
//! 64-bit integer or null, and over HTTP it neither runs a notification nor
//! stays silent about one: it answers a bare `null`, and it takes a call
//! whose id it cannot represent (`-5`, `1.5`) for a notification. So before a
//! body reaches jsonrpsee, [`prepare`] looks at every call's id, and when a
//! call is a notification or has an id jsonrpsee cannot hold, it gives every
//! call of the body a placeholder id of its own (a string, spliced into the
//! text, which is otherwise left byte for byte as the client sent it).
//! [`Rewritten::restore`] puts the client's ids back into the answer, drops
//! the answers to notifications and answers each unrepresentable id with
//! `-32600`. Bodies without either (nearly all) pass through untouched.
//!
//! The rules this gives, documented in `docs/rpc.md`:
//! - an id is a string, null, or an integer from -2^63 to 2^64-1, echoed as
//!   the client wrote it; any other id is an invalid request (`-32600`);
//! - a notification (no `id` member) runs, and gets no answer: a body of only
//!   notifications is answered HTTP 204 with an empty body;
//! - a batch entry that is not an object is no request: it is answered
//!   `-32600` with a null id, here (jsonrpsee would read a struct from an
//!   array and answer `[5]` with the id 5);
//! - a body that is not a JSON object or array is a parse error (`-32700`)
//!   answered with HTTP 200, like every other JSON-RPC error.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The message of the answer to an id that is not a string, null or a
/// 64-bit integer.
pub const INVALID_ID_MESSAGE: &str =
    "invalid request: the id must be a string, an integer from -2^63 to 2^64-1, or null";

/// The message of the answer to a batch entry that is not an object (the
/// words jsonrpsee uses for an invalid request).
pub const NOT_A_REQUEST_MESSAGE: &str = "Invalid request";

/// The start of every placeholder id, then the call's index in the body. No
/// client id can be mistaken for one: in a rewritten body every call's id is
/// a placeholder, and answers to bodies that were not rewritten are not
/// looked at.
const PLACEHOLDER_PREFIX: &str = "\u{0}parlend-call:";

/// What to do with a request body.
#[derive(Debug)]
pub enum Prepared<'a> {
    /// Not a JSON object or array (or empty): a parse error.
    ParseError,
    /// Hand the body, with leading whitespace removed, to jsonrpsee as it is.
    Pass(&'a [u8]),
    /// Hand `body` to jsonrpsee and restore its answer with `rewritten`.
    Rewrite(Rewritten),
}

/// A body whose ids were replaced by placeholders, and what each call's
/// answer needs to become the client's.
#[derive(Debug)]
pub struct Rewritten {
    /// The body for jsonrpsee.
    pub body: Vec<u8>,
    /// Whether the client sent a batch (an array) rather than one call.
    batch: bool,
    /// One entry per call, in the body's order.
    calls: Vec<Call>,
}

/// What one call's answer becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    /// The answer gets this id back (the client's raw JSON text).
    Answer(String),
    /// A notification: the call runs, its answer is dropped.
    Notification,
    /// The id cannot be represented: not sent, answered with `-32600`.
    InvalidId,
    /// Not an object: not sent, answered with `-32600` and a null id.
    NotAnObject,
}

/// How a call's `id` member is read: present (even `null`) or absent.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// What an id is, as far as jsonrpsee is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    /// A string, null or unsigned 64-bit integer: jsonrpsee handles it.
    Native,
    /// No id: a notification.
    Absent,
    /// A negative integer that fits in 64 bits: allowed, rewritten.
    Negative,
    /// Anything else (fraction, exponent, too large, bool, object, array).
    Invalid,
}

fn id_kind(id: Option<&RawValue>) -> IdKind {
    let Some(raw) = id.map(RawValue::get) else { return IdKind::Absent };
    match raw.as_bytes().first() {
        Some(b'"' | b'n') => IdKind::Native,
        _ if raw.parse::<u64>().is_ok() => IdKind::Native,
        _ if raw.parse::<i64>().is_ok() => IdKind::Negative,
        _ => IdKind::Invalid,
    }
}

/// Decides what to do with a request body (see the module docs).
pub fn prepare(body: &[u8]) -> Prepared<'_> {
    let start = body.iter().position(|byte| !byte.is_ascii_whitespace()).unwrap_or(body.len());
    let body = &body[start..];
    // Text that is not UTF-8 is no JSON: jsonrpsee answers the parse error.
    // (The look at the ids below skips the members it does not read
    // without checking them, so it cannot be the judge of that.)
    if std::str::from_utf8(body).is_err() && matches!(body.first(), Some(b'{' | b'[')) {
        return Prepared::Pass(body);
    }
    match body.first() {
        Some(b'{') => prepare_entries(body, false, &[body]),
        Some(b'[') => match serde_json::from_slice::<Vec<&RawValue>>(body) {
            Ok(entries) => {
                let entries: Vec<&[u8]> = entries.iter().map(|entry| entry.get().as_bytes()).collect();
                prepare_entries(body, true, &entries)
            }
            // jsonrpsee answers the parse error.
            Err(_) => Prepared::Pass(body),
        },
        _ => Prepared::ParseError,
    }
}

/// What the envelope read of one entry of a body.
#[derive(Clone, Copy)]
enum Entry<'a> {
    /// Not a JSON object: no request.
    NotAnObject,
    /// An object whose `id` could not be read (a repeated member, broken
    /// JSON): jsonrpsee answers it with the right error; sent as it is.
    Unread,
    /// An object, and its id.
    Read(IdKind, Option<&'a RawValue>),
}

fn read_entry(entry: &[u8]) -> Entry<'_> {
    // Only an object is a call: serde would also read a struct from an
    // array (`[5]` as an id of 5).
    if entry.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Entry::NotAnObject;
    }
    match serde_json::from_slice::<Peek<'_>>(entry) {
        Ok(peek) => Entry::Read(id_kind(peek.id), peek.id),
        Err(_) => Entry::Unread,
    }
}

fn prepare_entries<'a>(body: &'a [u8], batch: bool, entries: &[&'a [u8]]) -> Prepared<'a> {
    let read: Vec<Entry<'_>> = entries.iter().map(|entry| read_entry(entry)).collect();
    if read.iter().all(|entry| matches!(entry, Entry::Unread | Entry::Read(IdKind::Native, _))) {
        return Prepared::Pass(body);
    }
    let mut out = Vec::with_capacity(body.len() + entries.len() * 32);
    let mut calls = Vec::with_capacity(entries.len());
    for (entry, read) in entries.iter().zip(read) {
        let call = match read {
            Entry::NotAnObject => {
                calls.push(Call::NotAnObject);
                continue;
            }
            Entry::Read(IdKind::Invalid, _) => {
                calls.push(Call::InvalidId);
                continue;
            }
            Entry::Read(IdKind::Absent, _) => Call::Notification,
            Entry::Read(_, id) => Call::Answer(id.map_or("null", RawValue::get).to_string()),
            Entry::Unread => Call::Answer("null".to_string()),
        };
        out.push(if out.is_empty() { b'[' } else { b',' });
        let placeholder =
            serde_json::to_string(&format!("{PLACEHOLDER_PREFIX}{}", calls.len())).expect("a string always serializes");
        match read {
            Entry::NotAnObject | Entry::Unread => out.extend_from_slice(entry),
            Entry::Read(_, Some(id)) => match range_within(entry, id.get().as_bytes()) {
                Some(range) => {
                    out.extend_from_slice(&entry[..range.start]);
                    out.extend_from_slice(placeholder.as_bytes());
                    out.extend_from_slice(&entry[range.end..]);
                }
                None => out.extend_from_slice(entry),
            },
            Entry::Read(_, None) => splice_id(&mut out, entry, &placeholder),
        }
        calls.push(call);
    }
    if !out.is_empty() {
        out.push(b']');
    }
    if !batch && !out.is_empty() {
        // One call stays one call: jsonrpsee answers a batch of one with an
        // array, and a lone call must get an object.
        out = out[1..out.len() - 1].to_vec();
    }
    Prepared::Rewrite(Rewritten { body: out, batch, calls })
}

/// The byte range of `inner` within `outer`, when `inner` is a slice of it.
fn range_within(outer: &[u8], inner: &[u8]) -> Option<Range<usize>> {
    let start = inner.as_ptr().addr().checked_sub(outer.as_ptr().addr())?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// Writes `entry` (an object without an `id` member) with `"id":placeholder`
/// as its first member.
fn splice_id(out: &mut Vec<u8>, entry: &[u8], placeholder: &str) {
    out.push(b'{');
    out.extend_from_slice(b"\"id\":");
    out.extend_from_slice(placeholder.as_bytes());
    let rest = &entry[1..];
    let empty = rest.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'}');
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
}

/// An invalid-request answer with a null id.
fn invalid_request_answer(message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": crate::error::INVALID_REQUEST, "message": message},
    })
    .to_string()
}

/// The id of one answer object.
#[derive(Deserialize)]
struct AnswerId<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

impl Rewritten {
    /// Whether anything was left to send to jsonrpsee.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The client's answer from jsonrpsee's answer to [`Rewritten::body`]:
    /// `None` when nothing is to be answered (only notifications).
    pub fn restore(&self, answer: &[u8]) -> Option<String> {
        let answers: Vec<&RawValue> = if self.is_empty() {
            Vec::new()
        } else if self.batch || answer.first() == Some(&b'[') {
            match serde_json::from_slice::<Vec<&RawValue>>(answer) {
                Ok(answers) => answers,
                // jsonrpsee answered the whole batch with one error (the
                // response was too large): nothing to map.
                Err(_) => return Some(String::from_utf8_lossy(answer).into_owned()),
            }
        } else {
            match serde_json::from_slice::<&RawValue>(answer) {
                Ok(answer) => vec![answer],
                Err(_) => return Some(String::from_utf8_lossy(answer).into_owned()),
            }
        };
        let mut answers = answers.into_iter();
        let mut out: Vec<String> = Vec::with_capacity(self.calls.len());
        for call in &self.calls {
            match call {
                Call::InvalidId => out.push(invalid_request_answer(INVALID_ID_MESSAGE)),
                Call::NotAnObject => out.push(invalid_request_answer(NOT_A_REQUEST_MESSAGE)),
                // A notification's answer is dropped, unless the entry was
                // no request at all (`{}`, broken JSON): that is answered,
                // with a null id.
                Call::Notification => {
                    if let Some(answer) = answers.next().filter(|answer| is_not_a_request(answer)) {
                        out.push(with_id(answer, "null"));
                    }
                }
                Call::Answer(id) => {
                    if let Some(answer) = answers.next() {
                        out.push(with_id(answer, id));
                    }
                }
            }
        }
        // An answer jsonrpsee gave beyond one per call (never expected) is
        // kept rather than lost.
        out.extend(answers.map(|answer| answer.get().to_string()));
        match (self.batch, out.len()) {
            (_, 0) => None,
            (false, 1) => out.pop(),
            _ => Some(format!("[{}]", out.join(","))),
        }
    }
}

/// Whether an answer says its call was no request: the invalid-request or
/// the parse error.
fn is_not_a_request(answer: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Error {
        code: i64,
    }
    #[derive(Deserialize)]
    struct Answer {
        error: Option<Error>,
    }
    let codes = [i64::from(crate::error::INVALID_REQUEST), i64::from(crate::error::PARSE_ERROR)];
    serde_json::from_str::<Answer>(answer.get())
        .is_ok_and(|answer| answer.error.is_some_and(|error| codes.contains(&error.code)))
}

/// `answer` with its placeholder id replaced by `id` (raw JSON text).
fn with_id(answer: &RawValue, id: &str) -> String {
    let text = answer.get();
    let Ok(AnswerId { id: Some(placeholder) }) = serde_json::from_str::<AnswerId<'_>>(text) else {
        return text.to_string();
    };
    if !placeholder.starts_with(PLACEHOLDER_PREFIX) {
        return text.to_string();
    }
    // The placeholder's text, as jsonrpsee wrote it, appears once: find it
    // by its escaped form.
    let escaped = serde_json::to_string(placeholder.as_ref()).unwrap_or_default();
    match text.find(&escaped) {
        Some(start) => format!("{}{id}{}", &text[..start], &text[start + escaped.len()..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(body: &str) -> Rewritten {
        match prepare(body.as_bytes()) {
            Prepared::Rewrite(rewritten) => rewritten,
            other => panic!("{body}: expected a rewrite, got {other:?}"),
        }
    }

    #[test]
    fn native_ids_pass_untouched() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"getHead"}"#,
            r#"  {"jsonrpc":"2.0","id":"x","method":"getHead"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"getHead"}"#,
            r#"[{"jsonrpc":"2.0","id":18446744073709551615,"method":"getHead"}]"#,
            "[]",
            "[1,2",
            r#"{"jsonrpc":"2.0","id":1,"met"#,
        ] {
            assert!(matches!(prepare(body.as_bytes()), Prepared::Pass(_)), "{body}");
        }
    }

    #[test]
    fn not_an_object_or_array_is_a_parse_error() {
        for body in ["", "   ", "garbage", "12345", "\"text\"", "null"] {
            assert!(matches!(prepare(body.as_bytes()), Prepared::ParseError), "{body:?}");
        }
    }

    #[test]
    fn a_negative_id_is_replaced_and_restored() {
        let rewritten = rewrite(r#"{"jsonrpc":"2.0","id":-5,"method":"getHead"}"#);
        let body = String::from_utf8(rewritten.body.clone()).unwrap();
        assert_eq!(body, r#"{"jsonrpc":"2.0","id":"\u0000parlend-call:0","method":"getHead"}"#);
        let answer = r#"{"jsonrpc":"2.0","id":"\u0000parlend-call:0","result":7}"#;
        assert_eq!(rewritten.restore(answer.as_bytes()).unwrap(), r#"{"jsonrpc":"2.0","id":-5,"result":7}"#);
    }

    #[test]
    fn a_notification_runs_and_is_not_answered() {
        let rewritten = rewrite(r#"{"jsonrpc":"2.0","method":"getHead"}"#);
        let body = String::from_utf8(rewritten.body.clone()).unwrap();
        assert_eq!(body, r#"{"id":"\u0000parlend-call:0","jsonrpc":"2.0","method":"getHead"}"#);
        let answer = r#"{"jsonrpc":"2.0","id":"\u0000parlend-call:0","result":7}"#;
        assert_eq!(rewritten.restore(answer.as_bytes()), None);
    }

    #[test]
    fn a_batch_keeps_its_order_and_answers_only_calls() {
        let rewritten = rewrite(
            r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","id":1.5,"method":"c"},{"jsonrpc":"2.0","id":-2,"method":"d"},{"jsonrpc":"2.0","id":"\u0000parlend-call:0","method":"e"}]"#,
        );
        let sent: Vec<serde_json::Value> = serde_json::from_slice(&rewritten.body).unwrap();
        assert_eq!(sent.len(), 4, "the call with a fractional id is not sent");
        let answer = r#"[{"jsonrpc":"2.0","id":"\u0000parlend-call:0","result":"a"},{"jsonrpc":"2.0","id":"\u0000parlend-call:1","result":"b"},{"jsonrpc":"2.0","id":"\u0000parlend-call:3","result":"d"},{"jsonrpc":"2.0","id":"\u0000parlend-call:4","result":"e"}]"#;
        let restored: serde_json::Value = serde_json::from_str(&rewritten.restore(answer.as_bytes()).unwrap()).unwrap();
        let ids: Vec<&serde_json::Value> = restored.as_array().unwrap().iter().map(|answer| &answer["id"]).collect();
        assert_eq!(
            ids,
            [
                &serde_json::json!(1),
                &serde_json::Value::Null,
                &serde_json::json!(-2),
                &serde_json::json!("\u{0}parlend-call:0")
            ]
        );
        assert_eq!(restored[1]["error"]["code"], crate::error::INVALID_REQUEST);
        assert_eq!(restored[2]["result"], "d");
    }

    #[test]
    fn a_lone_invalid_id_is_answered_without_running() {
        for id in ["1.5", "1e999", "-9223372036854775809", "18446744073709551616", "true", "{}", "[1]"] {
            let rewritten = rewrite(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getHead"}}"#));
            assert!(rewritten.is_empty(), "{id}");
            let answer: serde_json::Value = serde_json::from_str(&rewritten.restore(b"").unwrap()).unwrap();
            assert_eq!(answer["error"]["code"], crate::error::INVALID_REQUEST, "{id}");
        }
    }

    /// Found by fuzzing (`fuzz/`, rpc_params): a notification whose
    /// skipped members hold bytes that are not UTF-8 was rewritten, and
    /// its parse error then dropped as a notification's answer.
    #[test]
    fn a_body_that_is_not_utf8_goes_to_jsonrpsee_as_it_is() {
        let body = b"{\"jsonrpc\":\"2.0\",\"method\":\"getHea\xa3\xa3d\",\"params\":{}}";
        assert!(matches!(prepare(body), Prepared::Pass(_)));
        let rewritten = rewrite(r#"[{"jsonrpc":"2.0","method":"a"}]"#);
        let parse_error = r#"[{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}]"#;
        let restored: serde_json::Value =
            serde_json::from_str(&rewritten.restore(parse_error.as_bytes()).unwrap()).unwrap();
        assert_eq!(restored[0]["error"]["code"], crate::error::PARSE_ERROR);
    }

    /// Found by fuzzing (`fuzz/`, rpc_params): serde reads a struct from an
    /// array too, so `[[]]` was taken for a notification and its entry
    /// rewritten into broken JSON; and jsonrpsee answered `[5]` with the id
    /// 5. An entry that is not an object is answered here, with a null id.
    #[test]
    fn entries_that_are_not_objects_are_answered_with_a_null_id() {
        for (body, entries) in [("[\n[\n]]", 1), ("[[5]]", 1), ("[5, \"x\", null]", 3)] {
            let rewritten = rewrite(body);
            assert!(rewritten.is_empty(), "{body}: nothing is sent");
            let answers: serde_json::Value = serde_json::from_str(&rewritten.restore(b"").unwrap()).unwrap();
            let answers = answers.as_array().unwrap_or_else(|| panic!("{body}: a batch answer"));
            assert_eq!(answers.len(), entries, "{body}");
            for answer in answers {
                assert_eq!(answer["id"], serde_json::Value::Null, "{body}");
                assert_eq!(answer["error"]["code"], crate::error::INVALID_REQUEST, "{body}");
            }
        }
        let rewritten = rewrite(r#"[[1], {"jsonrpc":"2.0","id":1,"method":"a"}, {"jsonrpc":"2.0","method":"b"}]"#);
        let sent: Vec<serde_json::Value> = serde_json::from_slice(&rewritten.body).unwrap();
        assert_eq!(sent.len(), 2, "the array entry is not sent");
        let answer = r#"[{"jsonrpc":"2.0","id":"\u0000parlend-call:1","result":"a"},{"jsonrpc":"2.0","id":"\u0000parlend-call:2","result":"b"}]"#;
        let restored: serde_json::Value = serde_json::from_str(&rewritten.restore(answer.as_bytes()).unwrap()).unwrap();
        assert_eq!(restored[0]["id"], serde_json::Value::Null);
        assert_eq!(restored[0]["error"]["code"], crate::error::INVALID_REQUEST);
        assert_eq!(restored[1]["id"], 1);
        assert_eq!(restored.as_array().map(Vec::len), Some(2), "the notification is not answered");
    }

    /// Found by fuzzing (`fuzz/`, rpc_params; the finding was the
    /// harness's, which read JSON numbers as f64): a member the server
    /// never reads may hold a number of any size, and the rewritten body
    /// keeps it byte for byte, still JSON.
    #[test]
    fn a_number_beyond_f64_survives_the_rewrite() {
        let huge = "1".repeat(400);
        let rewritten = rewrite(&format!(r#"{{"transactions": {huge}}}"#));
        let body = String::from_utf8(rewritten.body.clone()).unwrap();
        assert_eq!(body, format!(r#"{{"id":"\u0000parlend-call:0","transactions": {huge}}}"#));
        assert!(serde_json::from_str::<&RawValue>(&body).is_ok());
        let rewritten = rewrite(&format!(r#"[{{"jsonrpc":"2.0","id":-1,"method":"a","params":[{huge}]}}]"#));
        let sent: Vec<&RawValue> = serde_json::from_slice(&rewritten.body).unwrap();
        assert!(sent[0].get().ends_with(&format!("[{huge}]}}")));
    }

    #[test]
    fn an_empty_notification_object_gets_a_well_formed_id() {
        let rewritten = rewrite("[{}, { }]");
        let sent: Vec<serde_json::Value> = serde_json::from_slice(&rewritten.body).unwrap();
        assert_eq!(sent[1]["id"], "\u{0}parlend-call:1");
    }
}
