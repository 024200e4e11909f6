//! Error codes. Stable: clients match on them.
//!
//! Standard JSON-RPC codes for envelope problems, and positive codes in
//! families for everything parlend-specific:
//!
//! | code  | meaning |
//! |-------|---------|
//! | -32700 | parse error: the body is not JSON |
//! | -32600 | invalid request: not a JSON-RPC 2.0 request |
//! | -32601 | method not found |
//! | -32602 | invalid params: wrong type, missing or unknown field, bad hex, bad amount |
//! | -32603 | internal error |
//! | -32007 | request body too large |
//! | -32009 | server busy: load shed (HTTP 503), retry later |
//! | -32010 | batch has too many calls |
//! | 1001 | transaction too large |
//! | 1002 | malformed transaction (not a canonical encoding) |
//! | 1003 | instruction count out of range |
//! | 1004 | wrong chain id |
//! | 1005 | access set does not declare the signer's account as written |
//! | 1010 | signer is not a valid ed25519 public key |
//! | 1011 | signer is a weak (small-order) key |
//! | 1012 | signature is not canonical |
//! | 1013 | signature does not verify |
//! | 1020 | nonce too low (already used) |
//! | 1021 | nonce too high (skips ahead) |
//! | 1022 | transaction already known |
//! | 1030 | mempool full (retry later) |
//! | 1031 | too many pending transactions for this signer |
//! | 1040 | not found |
//! | 1041 | state pruned: the height's state tree is no longer kept |
//! | 1050 | simulation failed (no access set fits the limits) |
//! | 1060 | timed out waiting for commit (the transaction is still pending) |
//! | 1070 | dev-mode method on a node not in dev mode |
//! | 1080 | node unavailable (store failure, shutting down) |
//! | 1090 | request timed out (HTTP 503) |
//! | 1091 | request body not received in time (HTTP 408) |
//! | 1100 | too many subscriptions (on the connection or on the server) |
//! | 1101 | subscriber too slow: dropped (a subscription's closing error) |
//! | 1102 | subscription method called over HTTP (needs a WebSocket) |
//!
//! `docs/rpc.md` documents the same table with each method's errors; a
//! test checks that the two agree with [`ALL_CODES`].

use jsonrpsee::types::ErrorObjectOwned;
use parlend_ledger::{RejectReason, SignatureError};

/// Parse error (standard): the body is not JSON.
pub const PARSE_ERROR: i32 = -32700;
/// Invalid request (standard): not a JSON-RPC 2.0 request.
pub const INVALID_REQUEST: i32 = -32600;
/// Method not found (standard).
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Invalid params (standard).
pub const INVALID_PARAMS: i32 = -32602;
/// Request body too large (jsonrpsee's code).
pub const OVERSIZED_REQUEST: i32 = -32007;
/// Server busy: the request was shed (jsonrpsee's code).
pub const SERVER_BUSY: i32 = -32009;
/// Batch has too many calls (jsonrpsee's code).
pub const BATCH_TOO_LARGE: i32 = -32010;
/// Internal error (standard).
pub const INTERNAL_ERROR: i32 = -32603;
/// Transaction too large.
pub const TRANSACTION_TOO_LARGE: i32 = 1001;
/// Malformed transaction.
pub const MALFORMED_TRANSACTION: i32 = 1002;
/// Instruction count out of range.
pub const INSTRUCTION_COUNT: i32 = 1003;
/// Wrong chain id.
pub const WRONG_CHAIN: i32 = 1004;
/// Signer's account not declared as written.
pub const NONCE_NOT_DECLARED: i32 = 1005;
/// Invalid public key.
pub const INVALID_PUBLIC_KEY: i32 = 1010;
/// Weak public key.
pub const WEAK_PUBLIC_KEY: i32 = 1011;
/// Non-canonical signature.
pub const NON_CANONICAL_SIGNATURE: i32 = 1012;
/// Signature does not verify.
pub const INVALID_SIGNATURE: i32 = 1013;
/// Nonce already used.
pub const NONCE_TOO_LOW: i32 = 1020;
/// Nonce skips ahead.
pub const NONCE_TOO_HIGH: i32 = 1021;
/// Already known.
pub const ALREADY_KNOWN: i32 = 1022;
/// Mempool full.
pub const MEMPOOL_FULL: i32 = 1030;
/// Per-signer queue full.
pub const SIGNER_QUEUE_FULL: i32 = 1031;
/// Not found.
pub const NOT_FOUND: i32 = 1040;
/// The state at that height is pruned.
pub const PRUNED: i32 = 1041;
/// Simulation failed.
pub const SIMULATION_FAILED: i32 = 1050;
/// Wait timed out.
pub const WAIT_TIMEOUT: i32 = 1060;
/// Dev mode only.
pub const DEV_ONLY: i32 = 1070;
/// Node unavailable.
pub const UNAVAILABLE: i32 = 1080;
/// The request took longer than the server's request timeout.
pub const REQUEST_TIMEOUT: i32 = 1090;
/// The request's body did not arrive within the body read timeout.
pub const BODY_TIMEOUT: i32 = 1091;

/// A WebSocket connection or the server holds as many subscriptions as it may.
pub const TOO_MANY_SUBSCRIPTIONS: i32 = 1100;
/// A subscriber fell too far behind and was dropped (the error of its
/// closing notification).
pub const SUBSCRIBER_TOO_SLOW: i32 = 1101;
/// A subscription method called over HTTP: it needs a WebSocket connection.
pub const WEBSOCKET_ONLY: i32 = 1102;

/// Every code the server answers with, and what it means.
pub const ALL_CODES: &[(i32, &str)] = &[
    (PARSE_ERROR, "parse error"),
    (INVALID_REQUEST, "invalid request"),
    (METHOD_NOT_FOUND, "method not found"),
    (INVALID_PARAMS, "invalid params"),
    (INTERNAL_ERROR, "internal error"),
    (OVERSIZED_REQUEST, "request body too large"),
    (SERVER_BUSY, "server busy"),
    (BATCH_TOO_LARGE, "batch too large"),
    (TRANSACTION_TOO_LARGE, "transaction too large"),
    (MALFORMED_TRANSACTION, "malformed transaction"),
    (INSTRUCTION_COUNT, "instruction count out of range"),
    (WRONG_CHAIN, "wrong chain id"),
    (NONCE_NOT_DECLARED, "signer's account not declared as written"),
    (INVALID_PUBLIC_KEY, "invalid public key"),
    (WEAK_PUBLIC_KEY, "weak public key"),
    (NON_CANONICAL_SIGNATURE, "non-canonical signature"),
    (INVALID_SIGNATURE, "invalid signature"),
    (NONCE_TOO_LOW, "nonce too low"),
    (NONCE_TOO_HIGH, "nonce too high"),
    (ALREADY_KNOWN, "already known"),
    (MEMPOOL_FULL, "mempool full"),
    (SIGNER_QUEUE_FULL, "signer queue full"),
    (NOT_FOUND, "not found"),
    (PRUNED, "state pruned"),
    (SIMULATION_FAILED, "simulation failed"),
    (WAIT_TIMEOUT, "wait timed out"),
    (DEV_ONLY, "dev mode only"),
    (UNAVAILABLE, "node unavailable"),
    (REQUEST_TIMEOUT, "request timed out"),
    (BODY_TIMEOUT, "body timed out"),
    (TOO_MANY_SUBSCRIPTIONS, "too many subscriptions"),
    (SUBSCRIBER_TOO_SLOW, "subscriber too slow"),
    (WEBSOCKET_ONLY, "WebSocket only"),
];

/// The code of a rejection.
pub fn reject_code(reason: &RejectReason) -> i32 {
    match reason {
        RejectReason::TooLarge { .. } => TRANSACTION_TOO_LARGE,
        RejectReason::Malformed(_) => MALFORMED_TRANSACTION,
        RejectReason::InstructionCount(_) => INSTRUCTION_COUNT,
        RejectReason::WrongChain { .. } => WRONG_CHAIN,
        RejectReason::NonceNotDeclared => NONCE_NOT_DECLARED,
        RejectReason::Signature(SignatureError::InvalidPublicKey) => INVALID_PUBLIC_KEY,
        RejectReason::Signature(SignatureError::WeakPublicKey) => WEAK_PUBLIC_KEY,
        RejectReason::Signature(SignatureError::NonCanonical) => NON_CANONICAL_SIGNATURE,
        RejectReason::Signature(SignatureError::Invalid) => INVALID_SIGNATURE,
        RejectReason::NonceTooLow { .. } => NONCE_TOO_LOW,
        RejectReason::NonceTooHigh { .. } => NONCE_TOO_HIGH,
        RejectReason::AlreadyKnown(_) => ALREADY_KNOWN,
        RejectReason::MempoolFull { .. } => MEMPOOL_FULL,
        RejectReason::SignerQueueFull { .. } => SIGNER_QUEUE_FULL,
    }
}

/// An error a node method returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The transaction is rejected.
    #[error(transparent)]
    Rejected(#[from] RejectReason),
    /// The parameters are invalid.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// Nothing with that id.
    #[error("not found: {0}")]
    NotFound(String),
    /// The state at a height is no longer kept.
    #[error("state pruned: {0}")]
    Pruned(String),
    /// The simulation could not produce a transaction.
    #[error("simulation failed: {0}")]
    Simulation(String),
    /// Waiting for a commit timed out.
    #[error("timed out waiting for {0} to commit; it is still pending")]
    WaitTimeout(parlend_ledger::Hash),
    /// A dev-mode method on a node that is not in dev mode.
    #[error("{0} is only available on a dev node (parlend run --dev)")]
    DevOnly(&'static str),
    /// The node cannot serve (store failure, shutting down).
    #[error("node unavailable: {0}")]
    Unavailable(String),
    /// A subscription beyond a limit (per connection or on the server).
    #[error("too many subscriptions: {0}")]
    TooManySubscriptions(String),
    /// A subscription method called over HTTP.
    #[error("{0} needs a WebSocket connection (ws:// on the RPC address)")]
    WebSocketOnly(&'static str),
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> i32 {
        match self {
            ApiError::Rejected(reason) => reject_code(reason),
            ApiError::InvalidParams(_) => INVALID_PARAMS,
            ApiError::NotFound(_) => NOT_FOUND,
            ApiError::Pruned(_) => PRUNED,
            ApiError::Simulation(_) => SIMULATION_FAILED,
            ApiError::WaitTimeout(_) => WAIT_TIMEOUT,
            ApiError::DevOnly(_) => DEV_ONLY,
            ApiError::Unavailable(_) => UNAVAILABLE,
            ApiError::TooManySubscriptions(_) => TOO_MANY_SUBSCRIPTIONS,
            ApiError::WebSocketOnly(_) => WEBSOCKET_ONLY,
        }
    }
}

impl From<ApiError> for ErrorObjectOwned {
    fn from(error: ApiError) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(error.code(), error.to_string(), None::<()>)
    }
}
