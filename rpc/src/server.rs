//! The HTTP server: JSON-RPC 2.0 on `POST /` (jsonrpsee, mounted in axum),
//! `GET /health`.
//!
//! jsonrpsee owns the protocol envelope: parsing, batches, standard error
//! codes, the request-size and batch-size limits. Each method parses its
//! params as one JSON object into a typed struct that rejects unknown fields.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonrpsee::RpcModule;
use jsonrpsee::server::{BatchRequestConfig, ServerConfig, ServerHandle, StopHandle, stop_channel};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use parlend_ledger::Hash;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tower::Service;

use crate::api::NodeApi;
use crate::error::{ApiError, INTERNAL_ERROR};
use crate::methods;
use crate::types::{
    AddressParams, BlockParams, HashParams, HealthView, SendOutcome, SendTransactionParams, SendTransactionsParams,
    SimulateParams, TxState, TxStatusView,
};

/// Server limits. Every one is bounded; the defaults are safe for a dev node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest request body, bytes.
    pub body_bytes_max: u32,
    /// Largest response body, bytes.
    pub response_bytes_max: u32,
    /// Most calls in one batch.
    pub batch_calls_max: u32,
    /// Most concurrent connections.
    pub connections_max: u32,
    /// Longest `wait` for a commit.
    pub wait_max: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            body_bytes_max: 1024 * 1024,
            response_bytes_max: 16 * 1024 * 1024,
            batch_calls_max: 100,
            connections_max: 512,
            wait_max: Duration::from_secs(120),
        }
    }
}

/// Default `wait` when the request gives none.
const WAIT_DEFAULT: Duration = Duration::from_secs(30);

/// How much of an oversized body is read and discarded before answering, so
/// that a client still sending receives the error instead of a reset
/// connection. Beyond this, the connection is simply closed.
const OVERSIZED_DRAIN_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// How long draining an oversized body may take.
const OVERSIZED_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`RunningServer::stop`] waits for open connections to finish.
pub const GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running server.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub address: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops the server: no new connections, in-flight requests finish and
    /// idle keep-alive connections close (each connection task holds the node,
    /// so the node's store is released only once they are gone). After
    /// [`GRACEFUL_SHUTDOWN_TIMEOUT`] the rest is aborted.
    pub async fn stop(mut self) {
        let _ = self.handle.stop();
        if tokio::time::timeout(GRACEFUL_SHUTDOWN_TIMEOUT, &mut self.task).await.is_err() {
            self.task.abort();
            let _ = self.task.await;
        }
    }
}

fn parse<T: DeserializeOwned>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    // Absent params are an empty object, so methods without required fields
    // accept `{}`, `null` and no params alike.
    match params.as_str() {
        None => serde_json::from_str("{}"),
        Some(text) => serde_json::from_str(text),
    }
    .map_err(|error| {
        ErrorObjectOwned::owned(crate::error::INVALID_PARAMS, format!("invalid params: {error}"), None::<()>)
    })
}

fn decode_hex(text: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|error| ApiError::InvalidParams(format!("transaction is not hex: {error}")))
}

async fn wait_for_commit<N: NodeApi>(node: &N, hash: Hash, timeout: Duration) -> Result<TxStatusView, ApiError> {
    let mut heads = node.head_height();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = node.transaction_status(&hash)?;
        if status.status != TxState::Pending {
            return Ok(status);
        }
        match tokio::time::timeout_at(deadline, heads.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return Err(ApiError::Unavailable("node is shutting down".to_string())),
            Err(_) => return Err(ApiError::WaitTimeout(hash)),
        }
    }
}

fn wait_timeout(requested: Option<u64>, limits: &ServerLimits) -> Duration {
    requested.map_or(WAIT_DEFAULT, Duration::from_millis).min(limits.wait_max)
}

async fn blocking<N: NodeApi, T: Send + 'static>(
    node: &Arc<N>,
    call: impl FnOnce(&N) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let node = node.clone();
    tokio::task::spawn_blocking(move || call(&node))
        .await
        .unwrap_or_else(|_| Err(ApiError::Unavailable("request handler failed".to_string())))
}

/// State shared by the method handlers.
pub struct RpcContext<N> {
    node: Arc<N>,
    limits: ServerLimits,
}

/// The JSON-RPC methods, for mounting or for calling in-process.
pub fn rpc_module<N: NodeApi>(node: Arc<N>, limits: ServerLimits) -> RpcModule<RpcContext<N>> {
    let mut module = RpcModule::new(RpcContext { node, limits });
    register(&mut module).expect("method names are unique");
    module
}

fn register<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_async_method(methods::SEND_TRANSACTION, |params, context, _| async move {
        let request: SendTransactionParams = parse(&params)?;
        let bytes = decode_hex(&request.transaction)?;
        let hash = blocking(&context.node, move |node| node.submit(&bytes)).await?;
        if !request.wait {
            return Ok::<_, ErrorObjectOwned>(TxStatusView { hash, status: TxState::Pending, receipt: None });
        }
        let timeout = wait_timeout(request.timeout_ms, &context.limits);
        Ok(wait_for_commit(&*context.node, hash, timeout).await?)
    })?;

    module.register_async_method(methods::SEND_TRANSACTIONS, |params, context, _| async move {
        let request: SendTransactionsParams = parse(&params)?;
        let mut outcomes = Vec::with_capacity(request.transactions.len());
        for transaction in request.transactions {
            let result = match decode_hex(&transaction) {
                Ok(bytes) => blocking(&context.node, move |node| node.submit(&bytes)).await,
                Err(error) => Err(error),
            };
            outcomes.push(match result {
                Ok(hash) => SendOutcome {
                    accepted: Some(TxStatusView { hash, status: TxState::Pending, receipt: None }),
                    error: None,
                },
                Err(error) => SendOutcome {
                    accepted: None,
                    error: Some(crate::types::ErrorView { code: error.code(), message: error.to_string() }),
                },
            });
        }
        if request.wait {
            let timeout = wait_timeout(request.timeout_ms, &context.limits);
            for outcome in &mut outcomes {
                if let Some(accepted) = &mut outcome.accepted {
                    *accepted = wait_for_commit(&*context.node, accepted.hash, timeout).await?;
                }
            }
        }
        Ok::<_, ErrorObjectOwned>(outcomes)
    })?;

    module.register_async_method(methods::SIMULATE_TRANSACTION, |params, context, _| async move {
        let request: SimulateParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.simulate(&request)).await?)
    })?;

    module.register_async_method(methods::GET_TRANSACTION, |params, context, _| async move {
        let request: HashParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.transaction(&request.hash)).await?)
    })?;

    module.register_async_method(methods::GET_RECEIPT, |params, context, _| async move {
        let request: HashParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.receipt(&request.hash)).await?)
    })?;

    module.register_async_method(methods::GET_TRANSACTION_STATUS, |params, context, _| async move {
        let request: HashParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.transaction_status(&request.hash)).await?)
    })?;

    module.register_async_method(methods::GET_BLOCK, |params, context, _| async move {
        let request: BlockParams = parse(&params)?;
        if request.height.is_some() && request.hash.is_some() {
            return Err(ApiError::InvalidParams("give a height or a hash, not both".to_string()).into());
        }
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.block(&request)).await?)
    })?;

    module.register_async_method(methods::GET_HEAD, |params, context, _| async move {
        let _: Empty = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, |node| node.head()).await?)
    })?;

    module.register_async_method(methods::GET_ACCOUNT, |params, context, _| async move {
        let request: AddressParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.account(&request.address)).await?)
    })?;

    module.register_async_method(methods::GET_BALANCES, |params, context, _| async move {
        let request: AddressParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.balances(&request.address)).await?)
    })?;
    Ok(())
}

/// Parameters of methods that take none.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// The axum router: `POST /` for JSON-RPC, `GET /health`.
pub fn router<N: NodeApi>(node: Arc<N>, limits: ServerLimits, stop: StopHandle) -> Router {
    let config = ServerConfig::builder()
        .max_request_body_size(limits.body_bytes_max)
        .max_response_body_size(limits.response_bytes_max)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.batch_calls_max))
        .max_connections(limits.connections_max)
        .http_only()
        .build();
    let service = jsonrpsee::server::Server::builder()
        .set_config(config)
        .to_service_builder()
        .build(rpc_module(node.clone(), limits), stop);

    let health_node = node.clone();
    Router::new()
        .route(
            "/",
            post(move |request: Request| {
                let mut service = service.clone();
                async move {
                    if declared_length(&request).is_some_and(|length| length > u64::from(limits.body_bytes_max)) {
                        return oversized(request).await;
                    }
                    match service.call(request).await {
                        Ok(response) => response.map(axum::body::Body::new).into_response(),
                        Err(error) => internal_error(&error.to_string()),
                    }
                }
            }),
        )
        .route("/health", get(move || health(health_node.clone())))
}

fn declared_length(request: &Request) -> Option<u64> {
    request.headers().get(axum::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Answers a request whose declared length is over the limit: reads and
/// discards its body (bounded in size and time, never buffered), then
/// answers 413 with the JSON-RPC "request too big" error.
async fn oversized(request: Request) -> Response {
    use http_body_util::BodyExt;
    let mut body = request.into_body();
    let drain = async {
        let mut read = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |data| data.len() as u64);
            if read > OVERSIZED_DRAIN_BYTES_MAX {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(OVERSIZED_DRAIN_TIMEOUT, drain).await;
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": jsonrpsee::types::error::OVERSIZED_REQUEST_CODE, "message": jsonrpsee::types::error::OVERSIZED_REQUEST_MSG},
    });
    (axum::http::StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

fn internal_error(message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": INTERNAL_ERROR, "message": message},
    });
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

async fn health<N: NodeApi>(node: Arc<N>) -> Response {
    let height = *node.head_height().borrow();
    axum::Json(HealthView { status: "ok".to_string(), height }).into_response()
}

/// Binds `address` (port 0 picks a free port) and serves until stopped.
pub async fn serve<N: NodeApi>(
    node: Arc<N>,
    address: SocketAddr,
    limits: ServerLimits,
) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    let app = router(node, limits, stop.clone());
    let task = tokio::spawn(async move {
        let shutdown = async move { stop.shutdown().await };
        if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(%error, "RPC server failed");
        }
    });
    Ok(RunningServer { address, handle, task })
}
