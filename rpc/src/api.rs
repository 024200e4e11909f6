//! What the server needs from a node. `parlend-node` implements it; the
//! server knows nothing else about the node, so `rpc` never depends on `node`.

use std::sync::Arc;

use parlend_ledger::{Address, AssetId, Hash, Wad};
use tokio::sync::{broadcast, watch};

use crate::error::ApiError;
use crate::types::{
    AccountView, BalancesView, BlockFeed, BlockParams, BlockView, ClockView, CommittedTransactionView, EventsParams,
    EventsView, FaucetParams, HeadView, LiquidatableParams, LiquidatableView, MarketView, MineView, NewHeadView,
    PositionView, PriceEntryView, ProofParams, ProofView, Proven, ReceiptView, RevertView, RiskFeed, RiskSnapshot,
    SimulateParams, SimulationView, SnapshotView, TxStatusView, ValidatorsView,
};

/// A node, as the RPC server sees it. Methods may block briefly on storage;
/// the server calls them off the async workers.
pub trait NodeApi: Send + Sync + 'static {
    /// The chain id.
    fn chain_id(&self) -> u64;

    /// Admits a signed transaction (canonical bytes) to the mempool.
    fn submit(&self, transaction: &[u8]) -> Result<Hash, ApiError>;

    /// Admits signed transactions in order, each with its own verdict (the
    /// same one a single submission would get): a batch may check its
    /// signatures side by side and take the mempool once.
    fn submit_batch(&self, transactions: &[Vec<u8>]) -> Vec<Result<Hash, ApiError>> {
        transactions.iter().map(|transaction| self.submit(transaction)).collect()
    }

    /// Admits transactions another validator admitted and relayed: like
    /// [`NodeApi::submit_batch`], but never relayed again.
    fn relay(&self, transactions: &[Vec<u8>]) -> Vec<Result<Hash, ApiError>> {
        self.submit_batch(transactions)
    }

    /// The chain's validators (none for a single-node chain) and where
    /// this node's consensus is.
    fn validators(&self) -> Result<ValidatorsView, ApiError>;

    /// The committed head's height; changes after every commit.
    fn head_height(&self) -> watch::Receiver<u64>;

    /// The head.
    fn head(&self) -> Result<HeadView, ApiError>;

    /// A block by height or hash (the head if neither).
    fn block(&self, params: &BlockParams) -> Result<Option<BlockView>, ApiError>;

    /// A pending or committed transaction.
    fn transaction(&self, hash: &Hash) -> Result<Option<CommittedTransactionView>, ApiError>;

    /// The receipt of a committed transaction.
    fn receipt(&self, hash: &Hash) -> Result<Option<ReceiptView>, ApiError>;

    /// Where a transaction is.
    fn transaction_status(&self, hash: &Hash) -> Result<TxStatusView, ApiError>;

    /// An account's nonces.
    fn account(&self, address: &Address) -> Result<AccountView, ApiError>;

    /// An account's wallet balances.
    /// With `proof`, the proofs of every key read, at the head.
    fn balances(&self, address: &Address, proof: bool) -> Result<Proven<BalancesView>, ApiError>;

    /// Runs a transaction against the current state without committing it.
    fn simulate(&self, params: &SimulateParams) -> Result<SimulationView, ApiError>;

    /// A user's position at the node's clock.
    /// With `proof`, the proofs of every key read, at the head.
    fn position(&self, owner: &Address, proof: bool) -> Result<Proven<PositionView>, ApiError>;

    /// One market at the node's clock (`NotFound` without a market).
    /// With `proof`, the proofs of every key read, at the head.
    fn market(&self, asset: AssetId, proof: bool) -> Result<Proven<MarketView>, ApiError>;

    /// Every market at the node's clock.
    fn markets(&self) -> Result<Vec<MarketView>, ApiError>;

    /// An asset's price (`NotFound` for an unregistered asset).
    fn price(&self, asset: AssetId) -> Result<PriceEntryView, ApiError>;

    /// Every registered asset's price.
    fn prices(&self) -> Result<Vec<PriceEntryView>, ApiError>;

    /// A state key's value at a height (the head by default) with its proof
    /// against that height's header (`NotFound` for a height above the head
    /// or whose state tree is not kept).
    fn proof(&self, params: &ProofParams) -> Result<ProofView, ApiError>;

    /// Positions that can be liquidated, and those at risk, worst first.
    fn liquidatable(&self, params: &LiquidatableParams) -> Result<LiquidatableView, ApiError>;

    /// `getEvents`, its params checked (range, limit, cursor within the range).
    fn events(&self, params: &EventsParams) -> Result<EventsView, ApiError>;

    /// What the node publishes after each committed block, for the
    /// subscriptions: a receiver of its own per subscriber, which falls
    /// behind rather than holding the node up. `None` when the node
    /// publishes nothing.
    fn feed(&self) -> Option<broadcast::Receiver<Arc<BlockFeed>>> {
        None
    }

    /// Each committed block's head, published as soon as the block is
    /// committed (before the fuller [`NodeApi::feed`], which waits for the
    /// liquidatable index and the block's views): what `subscribeNewHeads`
    /// sends. `None` when the node publishes nothing.
    fn heads(&self) -> Option<broadcast::Receiver<Arc<NewHeadView>>> {
        None
    }

    /// The liquidatable index's moves in each committed block, published
    /// once the index has reached it (after [`NodeApi::feed`]'s block):
    /// what `subscribeLiquidatable` follows. `None` when the node
    /// publishes nothing.
    fn risk_feed(&self) -> Option<broadcast::Receiver<Arc<RiskFeed>>> {
        None
    }

    /// The liquidatable index's members whose last evaluated health is
    /// below `at_risk_below`, and the block it is at.
    fn risk_snapshot(&self, at_risk_below: Wad) -> Result<RiskSnapshot, ApiError> {
        let _ = at_risk_below;
        Err(ApiError::Unavailable("this node keeps no liquidatable index".to_string()))
    }

    /// Whether dev-only methods are served.
    fn dev_mode(&self) -> bool;

    /// Dev: submits a mint signed by the dev minter; returns its id.
    fn dev_faucet(&self, params: &FaucetParams) -> Result<Hash, ApiError>;

    /// Dev: produces `blocks` blocks now (empty ones if nothing is pending).
    fn dev_mine(&self, blocks: u32) -> Result<MineView, ApiError>;

    /// Dev: moves the node's clock forward.
    fn dev_increase_time(&self, seconds: u64) -> Result<ClockView, ApiError>;

    /// `dev_setTime`: the clock to `timestamp` (not before its current time).
    fn dev_set_time(&self, timestamp: u64) -> Result<ClockView, ApiError>;

    /// Dev: remembers the head (and the clock offset).
    fn dev_snapshot(&self) -> Result<SnapshotView, ApiError>;

    /// Dev: rolls the chain back to a snapshot, dropping it and every later
    /// one, and empties the mempool.
    fn dev_revert(&self, id: u64) -> Result<RevertView, ApiError>;

    /// The Prometheus text exposition of the node's metrics.
    fn metrics(&self) -> String;

    /// Counts a request the HTTP layer answered itself (shed, timed out,
    /// too large) or a connection it refused or closed, for the metrics.
    fn http_rejected(&self, reason: HttpRejection) {
        let _ = reason;
    }
}

/// Why the HTTP layer answered a request without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpRejection {
    /// Too many requests in flight: shed with 503.
    Shed,
    /// The request ran past the request timeout.
    Timeout,
    /// The body was over the size limit.
    TooLarge,
    /// The body did not arrive within the body read timeout.
    BodyTimeout,
    /// A new connection was closed at once: its address held its share of
    /// connections and none of them was idle.
    ConnectionRefused,
    /// An idle connection was closed to make room for a new one.
    ConnectionEvicted,
}

impl HttpRejection {
    /// A label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            HttpRejection::Shed => "shed",
            HttpRejection::Timeout => "timeout",
            HttpRejection::TooLarge => "too_large",
            HttpRejection::BodyTimeout => "body_timeout",
            HttpRejection::ConnectionRefused => "connection_refused",
            HttpRejection::ConnectionEvicted => "connection_evicted",
        }
    }
}
