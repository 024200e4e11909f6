//! What the consensus driver needs from the node it runs in.

use parlend_app::certificate::CommitCertificate;
use parlend_app::{AppError, Finalized};
use parlend_contracts::Block;
use parlend_ledger::state::StoreError;
use parlend_store::ChainHead;

/// Why the node could not do what consensus asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The application failed (a block that does not execute, the store).
    #[error(transparent)]
    App(#[from] AppError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored block or certificate does not decode.
    #[error("the stored {what} at height {height} does not decode: {reason}")]
    Corrupt {
        /// Block or certificate.
        what: &'static str,
        /// Its height.
        height: u64,
        /// The decoder's message.
        reason: String,
    },
}

/// The node, as the consensus driver sees it. Every method may block (it
/// executes blocks or reads the store); the driver calls them off the
/// engine's tasks.
pub trait Host: Send + Sync + 'static {
    /// The last committed block.
    fn head(&self) -> ChainHead;

    /// Builds the next block on the head from pending transactions (its
    /// transactions stay in flight until [`Host::commit`] or
    /// [`Host::abandon`]). Called again at the same height (a later round
    /// this node proposes in), it builds an alternative to the earlier
    /// proposals, which stay in flight too: whichever is decided commits.
    fn propose(&self) -> Result<Finalized, HostError>;

    /// Executes a block another validator proposed on the head: the
    /// result's header is what this node computes for it.
    fn execute_proposed(&self, block: &Block) -> Result<Finalized, HostError>;

    /// Commits a decided block with its certificate (one atomic write), then
    /// publishes it (mempool, metrics, subscribers).
    fn commit(&self, finalized: Finalized, certificate: &CommitCertificate) -> Result<ChainHead, HostError>;

    /// A block this node proposed was not decided: its transactions go back
    /// in line.
    fn abandon(&self, block: &Block);

    /// A committed block's canonical bytes and its certificate.
    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, HostError>;
}
