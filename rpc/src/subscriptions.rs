//! WebSocket subscriptions: `subscribeNewHeads`, `subscribeTransactions`,
//! `subscribeLiquidatable`, `subscribeMarkets` and `unsubscribe`.
//!
//! The node publishes each committed block's head as the block commits
//! ([`NodeApi::heads`], for `subscribeNewHeads`), then one [`BlockFeed`]
//! per block ([`NodeApi::feed`], for `subscribeTransactions` and
//! `subscribeMarkets`), then the block's [`RiskFeed`] once the liquidatable
//! index has reached it ([`NodeApi::risk_feed`], for
//! `subscribeLiquidatable`), each on a broadcast channel: publishing never
//! waits for a subscriber.
//! Each subscription is a task that renders the blocks it cares about and
//! hands the messages to its connection's buffer of
//! [`ServerLimits::subscriber_buffer`] messages. A subscriber is dropped,
//! with a closing notification whose error is [`SUBSCRIBER_TOO_SLOW`], when
//! it falls more blocks behind than the node's broadcast channel holds, or
//! when a message waits [`SUBSCRIBER_SEND_TIMEOUT`] for room in that
//! buffer: only its own task waits, so a slow reader costs its own
//! subscription, never the block producer.
//!
//! Limits: [`ServerLimits::subscriptions_per_connection_max`] on one
//! connection and [`ServerLimits::subscriptions_max`] on the server, both
//! answered with [`TOO_MANY_SUBSCRIPTIONS`](crate::error::TOO_MANY_SUBSCRIPTIONS).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::server::{PendingSubscriptionSink, SubscriptionSink};
use jsonrpsee::core::{SubscriptionError, server::SendTimeoutError};
use jsonrpsee::server::ConnectionId;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{Extensions, RpcModule};
use parlend_ledger::Wad;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::api::NodeApi;
use crate::error::{ApiError, SUBSCRIBER_TOO_SLOW, UNAVAILABLE};
use crate::methods;
use crate::server::{RpcContext, ServerLimits, parse};
use crate::types::{
    AT_RISK_BELOW_DEFAULT, BlockFeed, LiquidatableFilter, LiquidatableNoticeView, NewHeadView, NoParams,
    RiskChangeView, RiskFeed, RiskPoint, RiskState, TransactionsFilter, UnsubscribeParams, WATCH_BELOW_MAX,
};

/// The live subscriptions of the server, for its limits and `unsubscribe`.
pub struct Subscriptions {
    total_max: usize,
    per_connection_max: usize,
    state: parking_lot::Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    per_connection: HashMap<usize, usize>,
    /// Live subscriptions by (connection, id as JSON): how to end each.
    live: HashMap<(usize, String), Arc<Notify>>,
}

/// A place among the subscriptions, held while one runs.
struct Held {
    registry: Arc<Subscriptions>,
    connection: usize,
    id: Option<String>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut state = self.registry.state.lock();
        state.total -= 1;
        if let Some(count) = state.per_connection.get_mut(&self.connection) {
            *count -= 1;
            if *count == 0 {
                state.per_connection.remove(&self.connection);
            }
        }
        if let Some(id) = self.id.take() {
            state.live.remove(&(self.connection, id));
        }
    }
}

impl Subscriptions {
    /// Empty, with the server's limits.
    pub fn new(limits: &ServerLimits) -> Arc<Subscriptions> {
        Arc::new(Subscriptions {
            total_max: usize::try_from(limits.subscriptions_max).unwrap_or(usize::MAX),
            per_connection_max: usize::try_from(limits.subscriptions_per_connection_max).unwrap_or(usize::MAX),
            state: parking_lot::Mutex::new(State::default()),
        })
    }

    /// Subscriptions running now.
    pub fn live(&self) -> usize {
        self.state.lock().total
    }

    fn hold(self: &Arc<Self>, connection: ConnectionId) -> Result<Held, ApiError> {
        let mut state = self.state.lock();
        let on_connection = state.per_connection.get(&connection.0).copied().unwrap_or(0);
        if on_connection >= self.per_connection_max {
            return Err(ApiError::TooManySubscriptions(format!(
                "this connection holds {on_connection}, the most one connection may"
            )));
        }
        if state.total >= self.total_max {
            return Err(ApiError::TooManySubscriptions(format!(
                "the server holds {}, the most it may; retry later",
                state.total
            )));
        }
        state.total += 1;
        *state.per_connection.entry(connection.0).or_default() += 1;
        Ok(Held { registry: self.clone(), connection: connection.0, id: None })
    }

    fn name(held: &mut Held, id: String) -> Arc<Notify> {
        let cancel = Arc::new(Notify::new());
        held.registry.state.lock().live.insert((held.connection, id.clone()), cancel.clone());
        held.id = Some(id);
        cancel
    }

    /// Ends a subscription of `connection`; whether there was one.
    fn end(&self, connection: usize, id: &str) -> bool {
        match self.state.lock().live.remove(&(connection, id.to_string())) {
            Some(cancel) => {
                cancel.notify_one();
                true
            }
            None => false,
        }
    }
}

type Registered = Result<(), jsonrpsee::core::RegisterMethodError>;

/// Registers the subscriptions and `unsubscribe` (WebSocket connections).
pub(crate) fn register_websocket<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Registered {
    let [heads, transactions, liquidatable, markets] = methods::SUBSCRIPTIONS else {
        unreachable!("four subscriptions");
    };
    module.register_subscription(heads.0, heads.1, heads.2, |params, pending, context, _| async move {
        let Some((_, pending)) = accept_params::<NoParams>(&params, pending, no_check).await else { return Ok(()) };
        run(pending, context, |node: &N| node.heads(), |head: &NewHeadView| one(head)).await
    })?;
    module.register_subscription(
        transactions.0,
        transactions.1,
        transactions.2,
        |params, pending, context, _| async move {
            let Some((filter, pending)) = accept_params::<TransactionsFilter>(&params, pending, no_check).await else {
                return Ok(());
            };
            run(
                pending,
                context,
                |node: &N| node.feed(),
                move |block: &BlockFeed| {
                    block
                        .transactions
                        .iter()
                        .filter(|entry| filter.address.is_none_or(|address| entry.addresses.contains(&address)))
                        .filter_map(|entry| to_raw(&entry.notice))
                        .collect()
                },
            )
            .await
        },
    )?;
    module.register_subscription(
        liquidatable.0,
        liquidatable.1,
        liquidatable.2,
        |params, pending, context, _| async move {
            let Some((filter, pending)) = accept_params::<LiquidatableFilter>(&params, pending, check_band).await
            else {
                return Ok(());
            };
            run_liquidatable(pending, context, filter.at_risk_below.unwrap_or(AT_RISK_BELOW_DEFAULT)).await
        },
    )?;
    module.register_subscription(markets.0, markets.1, markets.2, |params, pending, context, _| async move {
        let Some((_, pending)) = accept_params::<NoParams>(&params, pending, no_check).await else { return Ok(()) };
        run(pending, context, |node: &N| node.feed(), |block: &BlockFeed| one(&block.markets)).await
    })?;
    module.register_method(methods::UNSUBSCRIBE, |params, context, extensions| {
        let request: UnsubscribeParams = parse(&params)?;
        let connection = connection_of(extensions);
        Ok::<_, ErrorObjectOwned>(context.subscriptions.end(connection, &request.subscription.to_string()))
    })?;
    Ok(())
}

/// Registers the subscription methods for HTTP: each checks its params,
/// then answers that it needs a WebSocket.
pub(crate) fn register_http<N: NodeApi>(module: &mut RpcModule<RpcContext<N>>) -> Registered {
    let names = methods::SUBSCRIPTIONS.iter().map(|(subscribe, _, _)| *subscribe).chain([methods::UNSUBSCRIBE]);
    for method in names {
        module.register_method(method, move |params, _, _| {
            check_filter(method, &params)?;
            Err::<bool, ErrorObjectOwned>(ApiError::WebSocketOnly(method).into())
        })?;
    }
    Ok(())
}

/// Parses and checks a subscription's params (the same rules as the
/// methods': `parse_method_params` uses it too).
pub(crate) fn check_filter(method: &str, params: &jsonrpsee::types::Params<'_>) -> Result<(), ErrorObjectOwned> {
    match method {
        methods::SUBSCRIBE_TRANSACTIONS => parse::<TransactionsFilter>(params).map(|_| ()),
        methods::SUBSCRIBE_LIQUIDATABLE => {
            let filter: LiquidatableFilter = parse(params)?;
            check_band(&filter).map_err(ErrorObjectOwned::from)
        }
        methods::UNSUBSCRIBE => parse::<UnsubscribeParams>(params).map(|_| ()),
        _ => parse::<NoParams>(params).map(|_| ()),
    }
}

fn check_band(filter: &LiquidatableFilter) -> Result<(), ApiError> {
    match filter.at_risk_below {
        Some(band) if band <= Wad::ONE || band > WATCH_BELOW_MAX => Err(ApiError::InvalidParams(format!(
            "atRiskBelow must be above 1 (1e18) and at most {} (1.25)",
            WATCH_BELOW_MAX.0
        ))),
        _ => Ok(()),
    }
}

/// A subscription's params, parsed and checked; `None` when they are not
/// right (the error is the call's answer).
async fn accept_params<P: DeserializeOwned>(
    params: &jsonrpsee::types::Params<'static>,
    pending: PendingSubscriptionSink,
    check: fn(&P) -> Result<(), ApiError>,
) -> Option<(P, PendingSubscriptionSink)> {
    let parsed = parse::<P>(params).and_then(|request| check(&request).map(|()| request).map_err(Into::into));
    match parsed {
        Ok(request) => Some((request, pending)),
        Err(error) => {
            pending.reject(error).await;
            None
        }
    }
}

fn no_check<P>(_: &P) -> Result<(), ApiError> {
    Ok(())
}

fn connection_of(extensions: &Extensions) -> usize {
    extensions.get::<ConnectionId>().map_or(usize::MAX, |connection| connection.0)
}

fn to_raw<T: Serialize>(value: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

fn one<T: Serialize>(value: &T) -> Vec<Box<RawValue>> {
    to_raw(value).into_iter().collect()
}

/// A closing notification's error.
fn closing(code: i32, message: String) -> SubscriptionError {
    let error = serde_json::json!({"code": code, "message": message});
    match serde_json::value::to_raw_value(&error) {
        Ok(raw) => SubscriptionError::from_json(raw),
        Err(_) => SubscriptionError::from(message),
    }
}

/// What a subscription follows: one item per committed block.
trait PerBlock: Send + Sync + 'static {
    /// The block's height.
    fn height(&self) -> u64;
}

impl PerBlock for BlockFeed {
    fn height(&self) -> u64 {
        self.head.header.height
    }
}

impl PerBlock for RiskFeed {
    fn height(&self) -> u64 {
        self.height
    }
}

impl PerBlock for NewHeadView {
    fn height(&self) -> u64 {
        self.header.height
    }
}

/// A node's channel of `T`s (`None`: it publishes none).
type Channel<T> = Option<Receiver<Arc<T>>>;

/// A started subscription: its sink, its place, the blocks and how to end it.
struct Started<T> {
    sink: SubscriptionSink,
    _held: Held,
    cancel: Arc<Notify>,
    feed: Receiver<Arc<T>>,
}

/// Takes a place, subscribes to the node's channel (`channel`) and accepts
/// the call; `None` when it was refused (the refusal is the call's answer).
async fn start<N: NodeApi, T>(
    pending: PendingSubscriptionSink,
    context: &RpcContext<N>,
    channel: impl FnOnce(&N) -> Channel<T>,
) -> Result<Option<Started<T>>, SubscriptionError> {
    let mut held = match context.subscriptions.hold(pending.connection_id()) {
        Ok(held) => held,
        Err(error) => {
            pending.reject(error).await;
            return Ok(None);
        }
    };
    let Some(feed) = channel(&context.node) else {
        pending.reject(ApiError::Unavailable("this node publishes no blocks".to_string())).await;
        return Ok(None);
    };
    let sink = pending.accept().await.map_err(|error| SubscriptionError::from(error.to_string()))?;
    let id = serde_json::to_string(&sink.subscription_id()).unwrap_or_default();
    let cancel = Subscriptions::name(&mut held, id);
    Ok(Some(Started { sink, _held: held, cancel, feed }))
}

/// Runs a subscription that sends `render(item)` for every item of the
/// node's `channel`.
async fn run<N: NodeApi, T: PerBlock>(
    pending: PendingSubscriptionSink,
    context: Arc<RpcContext<N>>,
    channel: impl FnOnce(&N) -> Channel<T>,
    render: impl FnMut(&T) -> Vec<Box<RawValue>> + Send,
) -> Result<(), SubscriptionError> {
    let Some(started) = start(pending, &context, channel).await? else { return Ok(()) };
    forward(started, 0, render).await
}

/// `subscribeLiquidatable`: the members first, then each block's changes.
async fn run_liquidatable<N: NodeApi>(
    pending: PendingSubscriptionSink,
    context: Arc<RpcContext<N>>,
    at_risk_below: Wad,
) -> Result<(), SubscriptionError> {
    let Some(started) = start(pending, &context, |node: &N| node.risk_feed()).await? else { return Ok(()) };
    let node = context.node.clone();
    let snapshot = tokio::task::spawn_blocking(move || node.risk_snapshot(at_risk_below))
        .await
        .map_err(|error| closing(UNAVAILABLE, error.to_string()))?
        .map_err(|error| closing(error.code(), error.to_string()))?;
    let changes = snapshot
        .members
        .iter()
        .filter_map(|(owner, point)| {
            let to = RiskPoint::state(Some(point), at_risk_below);
            matches!(to, RiskState::AtRisk | RiskState::Liquidatable).then_some(RiskChangeView {
                owner: *owner,
                from: RiskState::None,
                to,
                health: Some(*point),
            })
        })
        .collect();
    let first = LiquidatableNoticeView { height: snapshot.height, snapshot: true, at_risk_below, changes };
    if let Some(raw) = to_raw(&first) {
        send(&started.sink, raw).await?;
    }
    forward(started, snapshot.height, move |block: &RiskFeed| liquidatable_changes(block, at_risk_below)).await
}

/// The positions of `block` that entered or left the band's sets.
fn liquidatable_changes(block: &RiskFeed, at_risk_below: Wad) -> Vec<Box<RawValue>> {
    let mut changes: Vec<RiskChangeView> = block
        .risk
        .iter()
        .filter_map(|moved| {
            let from = RiskPoint::state(moved.before.as_ref(), at_risk_below);
            let to = RiskPoint::state(moved.after.as_ref(), at_risk_below);
            let watched = |state| matches!(state, RiskState::AtRisk | RiskState::Liquidatable);
            (from != to && (watched(from) || watched(to))).then_some(RiskChangeView {
                owner: moved.owner,
                from,
                to,
                health: moved.after,
            })
        })
        .collect();
    if changes.is_empty() {
        return Vec::new();
    }
    changes.sort_by_key(|change| (change.health.map_or(Wad::MAX, |health| health.health_factor), change.owner));
    let notice = LiquidatableNoticeView { height: block.height, snapshot: false, at_risk_below, changes };
    one(&notice)
}

/// How long a notification may wait for room in its connection's buffer
/// before the subscriber is dropped as too slow.
pub const SUBSCRIBER_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Hands `message` to the connection, waiting for room at most
/// [`SUBSCRIBER_SEND_TIMEOUT`] (only this subscriber waits); `false` once
/// the connection or subscription is closed.
async fn send(sink: &SubscriptionSink, message: Box<RawValue>) -> Result<bool, SubscriptionError> {
    match sink.send_timeout(message, SUBSCRIBER_SEND_TIMEOUT).await {
        Ok(()) => Ok(true),
        Err(SendTimeoutError::Closed(_)) => Ok(false),
        Err(SendTimeoutError::Timeout(_)) => Err(closing(
            SUBSCRIBER_TOO_SLOW,
            format!(
                "subscriber too slow: its connection's buffer of {} messages stayed full for {} s; the subscription is dropped",
                sink.max_capacity(),
                SUBSCRIBER_SEND_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Sends every block's item after height `after` through `render` until the
/// client unsubscribes, the connection closes, or it falls behind.
async fn forward<T: PerBlock>(
    started: Started<T>,
    after: u64,
    mut render: impl FnMut(&T) -> Vec<Box<RawValue>> + Send,
) -> Result<(), SubscriptionError> {
    let Started { sink, _held, cancel, mut feed } = started;
    loop {
        let received = tokio::select! {
            () = sink.closed() => return Ok(()),
            () = cancel.notified() => return Ok(()),
            received = feed.recv() => received,
        };
        match received {
            Ok(block) if block.height() <= after => {}
            Ok(block) => {
                for message in render(&block) {
                    if !send(&sink, message).await? {
                        return Ok(());
                    }
                }
            }
            Err(RecvError::Lagged(missed)) => {
                return Err(closing(
                    SUBSCRIBER_TOO_SLOW,
                    format!("subscriber too slow: it fell {missed} blocks behind; the subscription is dropped"),
                ));
            }
            Err(RecvError::Closed) => {
                return Err(closing(UNAVAILABLE, "the node stopped publishing blocks".to_string()));
            }
        }
    }
}
