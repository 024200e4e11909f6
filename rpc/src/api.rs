//! What the server needs from a node. `parlend-node` implements it; the
//! server knows nothing else about the node, so `rpc` never depends on `node`.

use parlend_ledger::{Address, Hash};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::types::{
    AccountView, BalancesView, BlockParams, BlockView, CommittedTransactionView, HeadView, ReceiptView, SimulateParams,
    SimulationView, TxStatusView,
};

/// A node, as the RPC server sees it. Methods may block briefly on storage;
/// the server calls them off the async workers.
pub trait NodeApi: Send + Sync + 'static {
    /// The chain id.
    fn chain_id(&self) -> u64;

    /// Admits a signed transaction (canonical bytes) to the mempool.
    fn submit(&self, transaction: &[u8]) -> Result<Hash, ApiError>;

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
    fn balances(&self, address: &Address) -> Result<BalancesView, ApiError>;

    /// Runs a transaction against the current state without committing it.
    fn simulate(&self, params: &SimulateParams) -> Result<SimulationView, ApiError>;
}
