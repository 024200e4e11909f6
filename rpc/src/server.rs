//! The HTTP server: JSON-RPC 2.0 on `POST /` (jsonrpsee, mounted in axum),
//! WebSocket subscriptions on `GET /` with an upgrade, the dashboard on
//! `GET /` without one (and its `/dashboard/*` files), `GET /health`,
//! `GET /metrics`. Connections are accepted, timed and
//! shared out by `transport.rs`; `envelope.rs` mends the JSON-RPC details
//! jsonrpsee does not handle (notifications, negative ids).
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
use jsonrpsee::types::error::OVERSIZED_REQUEST_MSG;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use parlend_ledger::Hash;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};

use crate::api::{HttpRejection, NodeApi};
use crate::envelope::{self, Prepared};
use crate::error::{
    ApiError, BODY_TIMEOUT, INTERNAL_ERROR, INVALID_REQUEST, OVERSIZED_REQUEST, PARSE_ERROR, REQUEST_TIMEOUT,
    SERVER_BUSY,
};
use crate::methods;
use crate::subscriptions::Subscriptions;
use crate::types::{
    AddressParams, AssetParams, BlockParams, EVENTS_BLOCK_RANGE_MAX, EVENTS_LIMIT_MAX, EventsParams, FaucetParams,
    HashParams, HealthView, INCREASE_TIME_SECONDS_MAX, IncreaseTimeParams, LIQUIDATABLE_LIMIT_MAX, LiquidatableParams,
    MINE_BLOCKS_MAX, MineParams, ProofParams, ProvableAddressParams, ProvableAssetParams, RevertParams, SendOutcome,
    SendTransactionParams, SendTransactionsParams, SetTimeParams, SimulateParams, TxState, TxStatusView,
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
    /// Most open TCP connections. A new connection beyond it closes the
    /// idle connection quiet the longest; when every one is busy it waits in
    /// the kernel's accept queue until one closes.
    pub connections_max: u32,
    /// Most open connections from one IP address, so that one client cannot
    /// hold every slot. A new connection beyond it closes that address's
    /// idle connection quiet the longest, or is closed at once when all of
    /// them are busy.
    pub connections_per_ip_max: u32,
    /// Most requests in flight (submissions, simulations, batches, scans);
    /// beyond it requests are shed at once with HTTP 503.
    pub requests_in_flight_max: u32,
    /// Most in-flight single calls of the light reads (`getHead`, ...), a
    /// lane of their own so that they keep answering under a flood.
    pub light_requests_in_flight_max: u32,
    /// Most request bodies being read at once; beyond it requests are shed
    /// at once with HTTP 503 (a client sending bodies slowly holds at most
    /// this many connections busy).
    pub body_reads_in_flight_max: u32,
    /// Longest wait for a request's headers, counted from the moment the
    /// connection waits for a request: its opening, and the end of each
    /// response (so it is also how long an idle keep-alive connection stays
    /// open). Then the connection is closed.
    pub header_read_timeout: Duration,
    /// Longest time to receive a request's body once its headers are in;
    /// then it is answered with HTTP 408 and the connection closed. The
    /// request timeout bounds it too, when it is the shorter.
    pub body_read_timeout: Duration,
    /// Longest time a request may run before it is answered with HTTP 503.
    pub request_timeout: Duration,
    /// Longest `wait` for a commit (below the request timeout).
    pub wait_max: Duration,
    /// Most open WebSocket connections (beyond it an upgrade is answered
    /// with HTTP 429). They do not count against `connections_max`.
    pub websocket_connections_max: u32,
    /// Most subscriptions on one WebSocket connection.
    pub subscriptions_per_connection_max: u32,
    /// Most subscriptions on the server.
    pub subscriptions_max: u32,
    /// Messages a WebSocket connection may have waiting to be written; a
    /// subscription whose message waits 5 s for room is dropped (the
    /// subscriber is too slow).
    pub subscriber_buffer: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            body_bytes_max: 1024 * 1024,
            response_bytes_max: 16 * 1024 * 1024,
            batch_calls_max: 100,
            connections_max: 1_024,
            connections_per_ip_max: 512,
            requests_in_flight_max: 256,
            light_requests_in_flight_max: 64,
            body_reads_in_flight_max: 128,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            wait_max: Duration::from_secs(50),
            websocket_connections_max: 128,
            subscriptions_per_connection_max: 16,
            subscriptions_max: 1_024,
            subscriber_buffer: 256,
        }
    }
}

impl ServerLimits {
    /// Checks that every limit is usable: positive, the per-address share
    /// within the total, and `wait_max` below the request timeout (so a `wait` ends with its own
    /// error first).
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("body_bytes_max", self.body_bytes_max),
            ("response_bytes_max", self.response_bytes_max),
            ("batch_calls_max", self.batch_calls_max),
            ("connections_max", self.connections_max),
            ("connections_per_ip_max", self.connections_per_ip_max),
            ("requests_in_flight_max", self.requests_in_flight_max),
            ("light_requests_in_flight_max", self.light_requests_in_flight_max),
            ("body_reads_in_flight_max", self.body_reads_in_flight_max),
            ("websocket_connections_max", self.websocket_connections_max),
            ("subscriptions_per_connection_max", self.subscriptions_per_connection_max),
            ("subscriptions_max", self.subscriptions_max),
            ("subscriber_buffer", self.subscriber_buffer),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("{name} must be positive"));
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return Err("header_read_timeout and body_read_timeout must be positive".to_string());
        }
        if self.connections_per_ip_max > self.connections_max {
            return Err("connections_per_ip_max must be at most connections_max".to_string());
        }
        if self.wait_max >= self.request_timeout {
            return Err("wait_max must be below request_timeout".to_string());
        }
        Ok(())
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

pub(crate) fn parse<T: DeserializeOwned>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    // Absent params are an empty object, so methods without required fields
    // accept `{}`, `null` and no params alike.
    // Params are named: an array would fill a struct's fields by position,
    // silently, so only an object (or nothing) is accepted.
    let invalid = |message: String| ErrorObjectOwned::owned(crate::error::INVALID_PARAMS, message, None::<()>);
    let text = match params.as_str().map(str::trim_start) {
        None | Some("null") => "{}",
        Some(text) if text.starts_with('{') => text,
        Some(_) => return Err(invalid("invalid params: params must be a JSON object of named fields".to_string())),
    };
    serde_json::from_str(text).map_err(|error| invalid(format!("invalid params: {error}")))
}

/// Transaction bytes in hex, with or without one `0x` (SIMD decoding: at
/// full load this ran on every submitted byte).
fn decode_hex(text: &str) -> Result<Vec<u8>, ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    // const-hex would strip a second `0x` (or `0X`) itself: refuse it as the
    // plain decoder does, at the `x`.
    let decoded = match digits.as_bytes() {
        [b'0', b'x' | b'X', ..] => hex::decode(digits).map_err(|error| error.to_string()),
        _ => const_hex::decode(digits).map_err(|error| error.to_string()),
    };
    decoded.map_err(|error| ApiError::InvalidParams(format!("transaction is not hex: {error}")))
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
    pub(crate) node: Arc<N>,
    limits: ServerLimits,
    pub(crate) subscriptions: Arc<Subscriptions>,
}

/// The JSON-RPC methods served over HTTP, for mounting or for calling
/// in-process (the subscription methods answer that they need a WebSocket).
pub fn rpc_module<N: NodeApi>(node: Arc<N>, limits: ServerLimits) -> RpcModule<RpcContext<N>> {
    let subscriptions = Subscriptions::new(&limits);
    let mut module = RpcModule::new(RpcContext { node, limits, subscriptions });
    register(&mut module).expect("method names are unique");
    crate::subscriptions::register_http(&mut module).expect("method names are unique");
    module
}

/// What WebSocket connections serve: the subscriptions and `unsubscribe`
/// (every other method is served over HTTP), sharing `subscriptions`.
pub fn websocket_module<N: NodeApi>(
    node: Arc<N>,
    limits: ServerLimits,
    subscriptions: Arc<Subscriptions>,
) -> RpcModule<RpcContext<N>> {
    let mut module = RpcModule::new(RpcContext { node, limits, subscriptions });
    crate::subscriptions::register_websocket(&mut module).expect("method names are unique");
    module
}

type Registered = Result<(), jsonrpsee::core::RegisterMethodError>;

fn register<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Registered {
    register_submission(module)?;
    register_reads(module)?;
    register_dev(module)
}

/// Registers `name`: parse the params as `P`, check them with `check`, then
/// answer with one call to the node on a blocking thread.
fn read_method<N, P, R>(
    module: &mut RpcModule<RpcContext<N>>,
    name: &'static str,
    check: fn(&P) -> Result<(), ApiError>,
    call: fn(&N, P) -> Result<R, ApiError>,
) -> Registered
where
    N: NodeApi,
    P: DeserializeOwned + Send + 'static,
    R: serde::Serialize + Clone + Send + 'static,
{
    module.register_async_method(name, move |params, context, _| async move {
        let request: P = parse(&params)?;
        check(&request)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| call(node, request)).await?)
    })?;
    Ok(())
}

/// No check beyond the params' types.
fn any<P>(_: &P) -> Result<(), ApiError> {
    Ok(())
}

fn register_submission<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Registered {
    module.register_async_method(methods::SEND_TRANSACTION, |params, context, _| async move {
        let request: SendTransactionParams = parse(&params)?;
        let bytes = decode_hex(&request.transaction)?;
        let hash = blocking(&context.node, move |node| node.submit(&bytes)).await?;
        if !request.wait {
            return Ok::<_, ErrorObjectOwned>(TxStatusView {
                hash,
                status: TxState::Pending,
                receipt: None,
                error: None,
            });
        }
        let timeout = wait_timeout(request.timeout_ms, &context.limits);
        Ok(wait_for_commit(&*context.node, hash, timeout).await?)
    })?;
    module.register_async_method(methods::SEND_TRANSACTIONS, |params, context, _| async move {
        let request: SendTransactionsParams = parse(&params)?;
        let results = blocking(&context.node, move |node| Ok(submit_hex_batch(node, &request.transactions))).await?;
        let mut outcomes: Vec<SendOutcome> = results.into_iter().map(send_outcome).collect();
        if request.wait {
            // One deadline for the whole list, so the call never outlasts the
            // longest wait however many transactions it carries.
            let deadline = tokio::time::Instant::now() + wait_timeout(request.timeout_ms, &context.limits);
            for outcome in &mut outcomes {
                if let Some(accepted) = &mut outcome.accepted {
                    let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
                    *accepted = wait_for_commit(&*context.node, accepted.hash, timeout).await?;
                }
            }
        }
        Ok::<_, ErrorObjectOwned>(outcomes)
    })?;
    module.register_async_method(methods::RELAY_TRANSACTIONS, |params, context, _| async move {
        let request: SendTransactionsParams = parse(&params)?;
        let results = blocking(&context.node, move |node| Ok(relay_hex_batch(node, &request.transactions))).await?;
        Ok::<_, ErrorObjectOwned>(results.into_iter().map(send_outcome).collect::<Vec<_>>())
    })?;
    read_method(module, methods::SIMULATE_TRANSACTION, any, |node: &N, request: SimulateParams| node.simulate(&request))
}

/// A `relayTransactions` list: as [`submit_hex_batch`], never relayed again.
fn relay_hex_batch<N: NodeApi>(node: &N, transactions: &[String]) -> Vec<Result<Hash, ApiError>> {
    hex_batch(transactions, |valid| node.relay(valid))
}

/// Decodes a `sendTransactions` list and admits what decodes, in one call
/// to the node; every entry keeps its own verdict, in order.
fn submit_hex_batch<N: NodeApi>(node: &N, transactions: &[String]) -> Vec<Result<Hash, ApiError>> {
    hex_batch(transactions, |valid| node.submit_batch(valid))
}

fn hex_batch(
    transactions: &[String],
    admit: impl FnOnce(&[Vec<u8>]) -> Vec<Result<Hash, ApiError>>,
) -> Vec<Result<Hash, ApiError>> {
    let mut verdicts: Vec<Option<Result<Hash, ApiError>>> = Vec::with_capacity(transactions.len());
    let mut valid = Vec::with_capacity(transactions.len());
    for text in transactions {
        match decode_hex(text) {
            Ok(bytes) => {
                valid.push(bytes);
                verdicts.push(None);
            }
            Err(error) => verdicts.push(Some(Err(error))),
        }
    }
    let mut admitted = admit(&valid).into_iter();
    let missing = || Err(ApiError::Unavailable("the node gave no verdict".to_string()));
    verdicts.into_iter().map(|verdict| verdict.unwrap_or_else(|| admitted.next().unwrap_or_else(missing))).collect()
}

/// One transaction's answer in a `sendTransactions` list.
fn send_outcome(result: Result<Hash, ApiError>) -> SendOutcome {
    match result {
        Ok(hash) => SendOutcome {
            accepted: Some(TxStatusView { hash, status: TxState::Pending, receipt: None, error: None }),
            error: None,
        },
        Err(error) => SendOutcome {
            accepted: None,
            error: Some(crate::types::ErrorView { code: error.code(), message: error.to_string() }),
        },
    }
}

fn register_reads<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Registered {
    read_method(module, methods::GET_TRANSACTION, any, |node: &N, request: HashParams| {
        node.transaction(&request.hash)
    })?;
    read_method(module, methods::GET_RECEIPT, any, |node: &N, request: HashParams| node.receipt(&request.hash))?;
    read_method(module, methods::GET_TRANSACTION_STATUS, any, |node: &N, request: HashParams| {
        node.transaction_status(&request.hash)
    })?;
    read_method(module, methods::GET_BLOCK, check_block, |node: &N, request: BlockParams| node.block(&request))?;
    read_method(module, methods::GET_HEAD, any, |node: &N, _: Empty| node.head())?;
    read_method(module, methods::GET_VALIDATORS, any, |node: &N, _: Empty| node.validators())?;
    read_method(module, methods::GET_ACCOUNT, any, |node: &N, request: AddressParams| node.account(&request.address))?;
    read_method(module, methods::GET_BALANCES, any, |node: &N, request: ProvableAddressParams| {
        node.balances(&request.address, request.proof)
    })?;
    read_method(module, methods::GET_POSITION, any, |node: &N, request: ProvableAddressParams| {
        node.position(&request.address, request.proof)
    })?;
    read_method(module, methods::GET_MARKET, any, |node: &N, request: ProvableAssetParams| {
        node.market(request.asset, request.proof)
    })?;
    read_method(module, methods::GET_MARKETS, any, |node: &N, _: Empty| node.markets())?;
    read_method(module, methods::GET_PRICE, any, |node: &N, request: AssetParams| node.price(request.asset))?;
    read_method(module, methods::GET_PRICES, any, |node: &N, _: Empty| node.prices())?;
    read_method(module, methods::GET_PROOF, any, |node: &N, request: ProofParams| node.proof(&request))?;
    read_method(module, methods::GET_LIQUIDATABLE, check_liquidatable, |node: &N, request: LiquidatableParams| {
        node.liquidatable(&request)
    })?;
    read_method(module, methods::GET_EVENTS, check_events, |node: &N, request: EventsParams| node.events(&request))
}

/// `getEvents`: a bounded range, a bounded page, a known kind and a cursor
/// inside the range.
fn check_events(request: &EventsParams) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::InvalidParams(message));
    if request.to_height < request.from_height {
        return invalid("toHeight must be at least fromHeight".to_string());
    }
    if request.to_height - request.from_height >= EVENTS_BLOCK_RANGE_MAX {
        return invalid(format!("a range spans at most {EVENTS_BLOCK_RANGE_MAX} blocks"));
    }
    if request.limit.is_some_and(|limit| limit == 0 || limit > EVENTS_LIMIT_MAX) {
        return invalid(format!("limit must be between 1 and {EVENTS_LIMIT_MAX}"));
    }
    if let Some(kind) = &request.kind
        && parlend_contracts::Event::kind_of(kind).is_none()
    {
        let kinds: Vec<&str> = parlend_contracts::Event::KINDS.iter().map(|(_, name)| *name).collect();
        return invalid(format!("unknown event kind {kind:?} (one of {})", kinds.join(", ")));
    }
    if request.cursor.is_some_and(|cursor| cursor.height < request.from_height || cursor.height > request.to_height) {
        return invalid("the cursor is outside fromHeight..=toHeight".to_string());
    }
    Ok(())
}

fn check_block(request: &BlockParams) -> Result<(), ApiError> {
    if request.height.is_some() && request.hash.is_some() {
        return Err(ApiError::InvalidParams("give a height or a hash, not both".to_string()));
    }
    Ok(())
}

fn check_liquidatable(request: &LiquidatableParams) -> Result<(), ApiError> {
    if request.limit.is_some_and(|limit| limit == 0 || limit > LIQUIDATABLE_LIMIT_MAX) {
        return Err(ApiError::InvalidParams(format!("limit must be between 1 and {LIQUIDATABLE_LIMIT_MAX}")));
    }
    Ok(())
}

fn dev_only<N: NodeApi>(node: &N, method: &'static str) -> Result<(), ApiError> {
    if node.dev_mode() { Ok(()) } else { Err(ApiError::DevOnly(method)) }
}

fn register_dev<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Registered {
    module.register_async_method(methods::DEV_FAUCET, |params, context, _| async move {
        dev_only(&*context.node, methods::DEV_FAUCET)?;
        let request: FaucetParams = parse(&params)?;
        let hash = blocking(&context.node, move |node| node.dev_faucet(&request)).await?;
        let timeout = wait_timeout(None, &context.limits);
        Ok::<_, ErrorObjectOwned>(wait_for_commit(&*context.node, hash, timeout).await?)
    })?;

    module.register_async_method(methods::DEV_MINE, |params, context, _| async move {
        dev_only(&*context.node, methods::DEV_MINE)?;
        let request: MineParams = parse(&params)?;
        let blocks = request.blocks.unwrap_or(1);
        if blocks == 0 || blocks > MINE_BLOCKS_MAX {
            return Err(ApiError::InvalidParams(format!("blocks must be between 1 and {MINE_BLOCKS_MAX}")).into());
        }
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.dev_mine(blocks)).await?)
    })?;

    module.register_async_method(methods::DEV_INCREASE_TIME, |params, context, _| async move {
        dev_only(&*context.node, methods::DEV_INCREASE_TIME)?;
        let request: IncreaseTimeParams = parse(&params)?;
        if request.seconds > INCREASE_TIME_SECONDS_MAX {
            let message = format!("seconds must be at most {INCREASE_TIME_SECONDS_MAX} (100 years)");
            return Err(ApiError::InvalidParams(message).into());
        }
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.dev_increase_time(request.seconds)).await?)
    })?;

    module.register_async_method(methods::DEV_SET_TIME, |params, context, _| async move {
        dev_only(&*context.node, methods::DEV_SET_TIME)?;
        let request: SetTimeParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.dev_set_time(request.timestamp)).await?)
    })?;

    module.register_async_method(methods::DEV_SNAPSHOT, |params, context, _| async move {
        dev_only(&*context.node, methods::DEV_SNAPSHOT)?;
        let _: Empty = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, |node| node.dev_snapshot()).await?)
    })?;

    module.register_async_method(methods::DEV_REVERT, |params, context, _| async move {
        dev_only(&*context.node, methods::DEV_REVERT)?;
        let request: RevertParams = parse(&params)?;
        Ok::<_, ErrorObjectOwned>(blocking(&context.node, move |node| node.dev_revert(request.id)).await?)
    })?;
    Ok(())
}

/// Parameters of methods that take none.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// Parses `params` (JSON text, `None` for absent) as `method` parses its
/// params, with the server's rules and the same checks before the node is
/// asked; `Ok` for a method that is not served. The fuzz target of the RPC
/// params (`fuzz/`) drives it; its error is what a client would get.
pub fn parse_method_params(method: &str, params: Option<&str>) -> Result<(), ErrorObjectOwned> {
    fn check<T: DeserializeOwned>(params: &Params<'_>) -> Result<(), ErrorObjectOwned> {
        parse::<T>(params).map(|_| ())
    }
    let params = Params::new(params);
    match method {
        methods::SEND_TRANSACTION => {
            let request: SendTransactionParams = parse(&params)?;
            decode_hex(&request.transaction).map(|_| ()).map_err(ErrorObjectOwned::from)
        }
        methods::SEND_TRANSACTIONS | methods::RELAY_TRANSACTIONS => check::<SendTransactionsParams>(&params),
        methods::SIMULATE_TRANSACTION => check::<SimulateParams>(&params),
        methods::GET_TRANSACTION | methods::GET_RECEIPT | methods::GET_TRANSACTION_STATUS => {
            check::<HashParams>(&params)
        }
        methods::GET_BLOCK => check::<BlockParams>(&params),
        methods::GET_HEAD
        | methods::GET_MARKETS
        | methods::GET_PRICES
        | methods::GET_VALIDATORS
        | methods::DEV_SNAPSHOT => check::<Empty>(&params),
        methods::GET_ACCOUNT => check::<AddressParams>(&params),
        methods::GET_BALANCES | methods::GET_POSITION => check::<ProvableAddressParams>(&params),
        methods::GET_MARKET => check::<ProvableAssetParams>(&params),
        methods::GET_PRICE => check::<AssetParams>(&params),
        methods::GET_LIQUIDATABLE => check::<LiquidatableParams>(&params),
        methods::GET_PROOF => check::<ProofParams>(&params),
        methods::GET_EVENTS => {
            let request: EventsParams = parse(&params)?;
            check_events(&request).map_err(ErrorObjectOwned::from)
        }
        methods::DEV_FAUCET => check::<FaucetParams>(&params),
        methods::DEV_MINE => check::<MineParams>(&params),
        methods::DEV_INCREASE_TIME => check::<IncreaseTimeParams>(&params),
        methods::DEV_SET_TIME => check::<SetTimeParams>(&params),
        methods::DEV_REVERT => check::<RevertParams>(&params),
        method if methods::is_websocket_only(method) => crate::subscriptions::check_filter(method, &params),
        _ => Ok(()),
    }
}

/// The axum router: `POST /` for JSON-RPC, `GET /` for WebSocket
/// subscriptions (an upgrade) or the dashboard, `GET /health`, `GET /metrics`.
///
/// A request passes, in order: a place among the bodies being read (503
/// with [`SERVER_BUSY`] when there is none), the declared-length check (413
/// at once), a read of the body bounded in size (413) and time (408 with
/// [`BODY_TIMEOUT`]), the envelope's look at the ids (see
/// [`crate::envelope`]; a body that is not a JSON object or array is a parse
/// error), the choice of a lane (a single call of a [`methods::LIGHT`]
/// method, or everything else), the lane's load shedder and concurrency
/// limit (503 with [`SERVER_BUSY`] when the lane is full: never queued), its
/// timeout (503 with [`REQUEST_TIMEOUT`]), and then jsonrpsee, which owns the
/// protocol envelope and the batch limit.
pub fn router<N: NodeApi>(node: Arc<N>, limits: ServerLimits, stop: StopHandle) -> Router {
    let config = ServerConfig::builder()
        .max_request_body_size(limits.body_bytes_max)
        .max_response_body_size(limits.response_bytes_max)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.batch_calls_max))
        // jsonrpsee counts in-flight requests here; the lanes in front of it
        // bound them first, so this never refuses on its own.
        .max_connections(limits.requests_in_flight_max.saturating_add(limits.light_requests_in_flight_max))
        .http_only()
        .build();
    let service = jsonrpsee::server::Server::builder()
        .set_config(config)
        .to_service_builder()
        .build(rpc_module(node.clone(), limits), stop.clone());
    let lane = |in_flight_max: u32| {
        let in_flight_max = usize::try_from(in_flight_max).unwrap_or(usize::MAX);
        let lane = ServiceBuilder::new()
            .load_shed()
            .concurrency_limit(in_flight_max)
            .timeout(limits.request_timeout)
            .service(service.clone());
        tower::util::BoxCloneSyncService::new(lane)
    };
    let body_reads = usize::try_from(limits.body_reads_in_flight_max).unwrap_or(usize::MAX);
    let lanes = Lanes {
        heavy: lane(limits.requests_in_flight_max),
        light: lane(limits.light_requests_in_flight_max),
        body_reads: Arc::new(tokio::sync::Semaphore::new(body_reads)),
    };

    let websocket = websocket_service(node.clone(), limits, stop);
    let rpc_node = node.clone();
    let health_node = node.clone();
    let metrics_node = node;
    Router::new()
        .route(
            "/",
            post(move |request: Request| {
                let lanes = lanes.clone();
                let node = rpc_node.clone();
                async move { handle_rpc(&*node, lanes, limits, request).await }
            })
            .get(move |request: Request| {
                let websocket = websocket.clone();
                async move { websocket.handle(request).await }
            }),
        )
        .route("/dashboard/app.js", get(|| async { crate::dashboard::script() }))
        .route("/dashboard/style.css", get(|| async { crate::dashboard::style() }))
        .route("/health", get(move || health(health_node.clone())))
        .route("/metrics", get(move || metrics(metrics_node.clone())))
}

/// WebSocket connections: each upgrade gets a jsonrpsee service of its own
/// (its own connection id), all sharing the methods, the subscriptions and
/// a bound on open connections.
#[derive(Clone)]
struct WebSocket {
    builder: jsonrpsee::server::TowerServiceBuilder<tower::layer::util::Identity, tower::layer::util::Identity>,
    methods: jsonrpsee::Methods,
    stop: StopHandle,
}

fn websocket_service<N: NodeApi>(node: Arc<N>, limits: ServerLimits, stop: StopHandle) -> WebSocket {
    let config = ServerConfig::builder()
        .max_request_body_size(limits.body_bytes_max)
        .max_response_body_size(limits.response_bytes_max)
        // The subscriptions' own limit answers first, with its own code.
        .max_subscriptions_per_connection(limits.subscriptions_per_connection_max.saturating_add(1))
        .set_message_buffer_capacity(limits.subscriber_buffer)
        .enable_ws_ping(jsonrpsee::server::PingConfig::new().ping_interval(WEBSOCKET_PING_INTERVAL))
        .ws_only()
        .build();
    let builder = jsonrpsee::server::Server::builder()
        .set_config(config)
        .to_service_builder()
        .max_connections(limits.websocket_connections_max);
    let subscriptions = Subscriptions::new(&limits);
    let methods = websocket_module(node, limits, subscriptions).into();
    WebSocket { builder, methods, stop }
}

/// How often a WebSocket connection is pinged; one that stays silent for
/// longer than jsonrpsee's inactivity limit (40 s) is closed.
const WEBSOCKET_PING_INTERVAL: Duration = Duration::from_secs(30);

impl WebSocket {
    async fn handle(self, request: Request) -> Response {
        if !jsonrpsee::server::ws::is_upgrade_request(&request) {
            return crate::dashboard::index();
        }
        let service = self.builder.build(self.methods, self.stop);
        match service.oneshot(request).await {
            Ok(response) => response.map(axum::body::Body::new).into_response(),
            Err(error) => internal_error(&error.to_string()),
        }
    }
}

type LaneService = tower::util::BoxCloneSyncService<Request, jsonrpsee::server::HttpResponse, tower::BoxError>;

#[derive(Clone)]
struct Lanes {
    heavy: LaneService,
    light: LaneService,
    /// Places among the request bodies being read.
    body_reads: Arc<tokio::sync::Semaphore>,
}

async fn handle_rpc<N: NodeApi>(node: &N, lanes: Lanes, limits: ServerLimits, request: Request) -> Response {
    let Ok(reading) = lanes.body_reads.clone().try_acquire_owned() else {
        node.http_rejected(HttpRejection::Shed);
        return closing(busy_response(SERVER_BUSY, "server busy: too many request bodies being read, retry later"));
    };
    if declared_length(&request).is_some_and(|length| length > u64::from(limits.body_bytes_max)) {
        node.http_rejected(HttpRejection::TooLarge);
        return oversized(request, limits.body_read_timeout.min(limits.request_timeout)).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, &limits).await {
        Ok(bytes) => bytes,
        Err(rejection) => {
            if let Some(reason) = rejection.reason {
                node.http_rejected(reason);
            }
            return rejection.response;
        }
    };
    drop(reading);
    match envelope::prepare(&bytes) {
        Prepared::ParseError => rpc_error_response(axum::http::StatusCode::OK, PARSE_ERROR, "Parse error"),
        Prepared::Pass(body) => {
            let body = bytes.slice_ref(body);
            match call_lane(node, &lanes, parts, body).await {
                Ok(response) if is_bare_null(&response) => {
                    rpc_error_response(axum::http::StatusCode::OK, INVALID_REQUEST, crate::envelope::INVALID_ID_MESSAGE)
                }
                Ok(response) => response.map(axum::body::Body::new).into_response(),
                Err(response) => response,
            }
        }
        Prepared::Rewrite(rewritten) => rewritten_call(node, &lanes, parts, rewritten).await,
    }
}

/// Runs a body whose ids the envelope replaced, and gives the answer the
/// client's ids back; 204 when nothing is to be answered.
async fn rewritten_call<N: NodeApi>(
    node: &N,
    lanes: &Lanes,
    parts: axum::http::request::Parts,
    rewritten: envelope::Rewritten,
) -> Response {
    use http_body_util::BodyExt;
    let answer = if rewritten.is_empty() {
        axum::body::Bytes::new()
    } else {
        let body = axum::body::Bytes::from(rewritten.body.clone());
        match call_lane(node, lanes, parts, body).await {
            Ok(response) if response.status() == axum::http::StatusCode::OK => {
                match response.into_body().collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(error) => return internal_error(&error.to_string()),
                }
            }
            Ok(response) => return response.map(axum::body::Body::new).into_response(),
            Err(response) => return response,
        }
    };
    match rewritten.restore(&answer) {
        Some(text) => ([(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], text).into_response(),
        None => axum::http::StatusCode::NO_CONTENT.into_response(),
    }
}

/// Hands `body` to jsonrpsee through its lane; an `Err` is the lane's own
/// answer (shed, timed out).
async fn call_lane<N: NodeApi>(
    node: &N,
    lanes: &Lanes,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Result<jsonrpsee::server::HttpResponse, Response> {
    let lane = if is_light_call(&body) { lanes.light.clone() } else { lanes.heavy.clone() };
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    lane.oneshot(request).await.map_err(|error| {
        if error.is::<tower::load_shed::error::Overloaded>() {
            node.http_rejected(HttpRejection::Shed);
            busy_response(SERVER_BUSY, "server busy: too many requests in flight, retry later")
        } else if error.is::<tower::timeout::error::Elapsed>() {
            node.http_rejected(HttpRejection::Timeout);
            busy_response(REQUEST_TIMEOUT, "request timed out")
        } else {
            internal_error(&error.to_string())
        }
    })
}

/// Why a body could not be read, and the answer.
struct BodyRejection {
    reason: Option<HttpRejection>,
    response: Response,
}

/// Reads a request body, bounded in size and in time.
async fn read_body(body: axum::body::Body, limits: &ServerLimits) -> Result<axum::body::Bytes, BodyRejection> {
    use http_body_util::BodyExt;
    let body_max = usize::try_from(limits.body_bytes_max).unwrap_or(usize::MAX);
    let read = http_body_util::Limited::new(body, body_max).collect();
    let timeout = limits.body_read_timeout.min(limits.request_timeout);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(BodyRejection {
            reason: Some(HttpRejection::TooLarge),
            response: closing(rpc_error_response(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                OVERSIZED_REQUEST,
                OVERSIZED_REQUEST_MSG,
            )),
        }),
        // The client went away or sent a broken body: nobody reads the answer.
        Ok(Err(_)) => Err(BodyRejection {
            reason: None,
            response: closing(rpc_error_response(
                axum::http::StatusCode::BAD_REQUEST,
                PARSE_ERROR,
                "cannot read the body",
            )),
        }),
        Err(_) => Err(BodyRejection {
            reason: Some(HttpRejection::BodyTimeout),
            response: closing(rpc_error_response(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                BODY_TIMEOUT,
                &format!("the request body did not arrive within {} ms", timeout.as_millis()),
            )),
        }),
    }
}

/// `response` with `Connection: close`: the request's body was not read to
/// its end, so the connection cannot carry another request.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

/// Whether jsonrpsee answered a bare `null`: it does so for a call whose id
/// it cannot represent (`1.5`, `1e999`), which deserves an error instead.
/// Every real answer is an object or an array of them, far longer than the
/// four bytes of `null`.
fn is_bare_null(response: &jsonrpsee::server::HttpResponse) -> bool {
    axum::body::HttpBody::size_hint(response.body()).exact() == Some(4)
}

/// Whether the body is one call (not a batch) of a light method. Bodies that
/// do not parse go to the heavy lane, where jsonrpsee answers them.
fn is_light_call(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return false;
    }
    serde_json::from_slice::<Peek<'_>>(body)
        .ok()
        .and_then(|peek| peek.method)
        .is_some_and(|method| methods::LIGHT.contains(&method.as_ref()))
}

fn declared_length(request: &Request) -> Option<u64> {
    request.headers().get(axum::http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Answers a request whose declared length is over the limit: reads and
/// discards its body (bounded in size and time, never buffered), then
/// answers 413 with the JSON-RPC "request too big" error.
async fn oversized(request: Request, body_read_timeout: Duration) -> Response {
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
    let drained = tokio::time::timeout(OVERSIZED_DRAIN_TIMEOUT.min(body_read_timeout), drain).await;
    let response =
        rpc_error_response(axum::http::StatusCode::PAYLOAD_TOO_LARGE, OVERSIZED_REQUEST, OVERSIZED_REQUEST_MSG);
    if drained.is_ok() { response } else { closing(response) }
}

fn rpc_error_response(status: axum::http::StatusCode, code: i32, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message},
    });
    (status, axum::Json(body)).into_response()
}

/// 503 with `Retry-After: 1`: the request did not run (or was cut off);
/// retrying later is safe for every method (submissions are deduplicated).
fn busy_response(code: i32, message: &str) -> Response {
    let mut response = rpc_error_response(axum::http::StatusCode::SERVICE_UNAVAILABLE, code, message);
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    response
}

fn internal_error(message: &str) -> Response {
    rpc_error_response(axum::http::StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR, message)
}

async fn health<N: NodeApi>(node: Arc<N>) -> Response {
    let height = *node.head_height().borrow();
    let consensus = node.validators().ok().and_then(|validators| validators.consensus);
    axum::Json(HealthView { status: "ok".to_string(), height, consensus }).into_response()
}

async fn metrics<N: NodeApi>(node: Arc<N>) -> Response {
    let text = tokio::task::spawn_blocking(move || node.metrics()).await.unwrap_or_default();
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(axum::http::header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Binds `address` (port 0 picks a free port) and serves until stopped.
pub async fn serve<N: NodeApi>(
    node: Arc<N>,
    address: SocketAddr,
    limits: ServerLimits,
) -> std::io::Result<RunningServer> {
    limits.validate().map_err(|message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message))?;
    let listener = TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    let app = router(node.clone(), limits, stop.clone());
    let report: crate::transport::Report = Arc::new(move |reason| node.http_rejected(reason));
    let task = tokio::spawn(crate::transport::accept_loop(listener, app, limits, stop, report));
    Ok(RunningServer { address, handle, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every served method has its params parser: none falls through to
    /// the `Ok` of an unknown method (each rejects an unknown field).
    #[test]
    fn every_method_parses_its_own_params() {
        for method in methods::ALL {
            let error = parse_method_params(method, Some(r#"{"noSuchField": 1}"#)).unwrap_err();
            assert_eq!(error.code(), crate::error::INVALID_PARAMS, "{method}");
        }
        assert!(parse_method_params("getHead", None).is_ok());
        assert!(parse_method_params("getMarket", Some(r#"{"asset": "usdc"}"#)).is_err());
        assert!(parse_method_params("sendTransaction", Some(r#"{"transaction": "0xzz"}"#)).is_err());
    }

    /// One `0x` at most, both cases of digits, and the plain decoder's
    /// verdict on everything else.
    #[test]
    fn transaction_hex_takes_one_prefix() {
        assert_eq!(decode_hex("0x0aFf").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(decode_hex("0aff").unwrap(), vec![0x0a, 0xff]);
        for bad in ["0x0x0aff", "0X0aff", "0x0X0aff", "0af", "0xzz", "0a f"] {
            let error = decode_hex(bad).unwrap_err();
            assert!(error.to_string().contains("transaction is not hex"), "{bad}: {error}");
            assert!(hex::decode(bad.strip_prefix("0x").unwrap_or(bad)).is_err(), "{bad}");
        }
    }
}
