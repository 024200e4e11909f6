//! Replay: re-execute a chain from genesis and prove every block reproduces.
//!
//! A [`Replayer`] drives the same [`App`] phases a validator runs for a
//! proposal from elsewhere (`process_proposal`, then `finalize_block`), on
//! the parallel executor, and compares what it computes with what the
//! chain committed, block by block, in this order:
//!
//! 1. the height follows the head, and the parent hash is the head's hash;
//! 2. the transactions root (the log's transactions are the committed ones);
//! 3. every transaction's stateless checks and signature;
//! 4. after execution: the state root, the receipts root, and the block hash.
//!
//! The first difference stops the replay with a [`ReplayError`] naming the
//! height and which hash differs. Blocks come from a log file
//! ([`replay_log`], [`replay_file`]) or from a store ([`replay_store`]:
//! `parlend replay --data-dir`), and go into any store: a [`StateOnlyStore`]
//! for verification (memory bounded by the state, not the log), or RocksDB
//! for an import ([`import_log`]), which then serves the chain.

mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parlend_contracts::Block;
use parlend_contracts::genesis::Genesis;
use parlend_ledger::Hash;
use parlend_ledger::block::transactions_root;
use parlend_ledger::exec::BlockError;
use parlend_ledger::state::StoreError;
use parlend_store::{ChainHead, Store};

pub use store::StateOnlyStore;

use crate::format::{LogBlock, LogError, LogReader};
use parlend_app::{App, AppError, ProposalError};

/// Which of a block's commitments differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// The block's parent hash is not the previous block's hash.
    ParentHash,
    /// The block's transactions are not the ones its header commits to.
    TransactionsRoot,
    /// The state after the block (the state hash).
    StateRoot,
    /// The receipts of the block's transactions.
    ReceiptsRoot,
    /// The hash of the whole header.
    BlockHash,
}

impl std::fmt::Display for HashKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HashKind::ParentHash => "parent hash",
            HashKind::TransactionsRoot => "transactions root",
            HashKind::StateRoot => "state hash (state root)",
            HashKind::ReceiptsRoot => "receipts root",
            HashKind::BlockHash => "block hash",
        })
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The log cannot be read (truncated, corrupt, not a log).
    #[error(transparent)]
    Log(#[from] LogError),
    /// A block does not reproduce.
    #[error("mismatch at height {height}: {kind} differs: the log has {logged}, replay computed {replayed}{detail}")]
    Mismatch {
        /// The block.
        height: u64,
        /// Which commitment.
        kind: HashKind,
        /// What the chain committed.
        logged: Hash,
        /// What re-execution produced.
        replayed: Hash,
        /// More about the cause, when known (starts with "; ").
        detail: String,
    },
    /// The next block is not the one after the head.
    #[error("mismatch at height {expected}: the log's next block is block {found}, blocks are missing or out of order")]
    OutOfOrder {
        /// The height due.
        expected: u64,
        /// The height found.
        found: u64,
    },
    /// A block cannot be executed as it stands (a bad signature, a nonce
    /// out of order).
    #[error("block {height} is invalid: {reason}")]
    InvalidBlock {
        /// The block.
        height: u64,
        /// Which check it fails.
        reason: ProposalError,
    },
    /// A block's transactions cannot execute (a nonce out of order, a
    /// corrupt value).
    #[error("block {height} is invalid: {reason}")]
    Unexecutable {
        /// The block.
        height: u64,
        /// Why.
        reason: BlockError,
    },
    /// The chain could not be opened (genesis, store).
    #[error(transparent)]
    App(#[from] AppError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReplayError {
    /// The height at which the replay failed, when a block is to blame.
    pub fn height(&self) -> Option<u64> {
        match self {
            ReplayError::Mismatch { height, .. }
            | ReplayError::InvalidBlock { height, .. }
            | ReplayError::Unexecutable { height, .. } => Some(*height),
            ReplayError::OutOfOrder { expected, .. } => Some(*expected),
            ReplayError::Log(LogError::Corrupt { blocks, .. }) => Some(blocks + 1),
            _ => None,
        }
    }
}

/// How to replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Executor threads (0: one per core).
    pub threads: usize,
    /// Stop after this height (inclusive).
    pub halt_at_height: Option<u64>,
}

/// Where a replay is, reported after every block.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The height just verified.
    pub height: u64,
    /// Blocks verified (or, in an import, already present and checked).
    pub blocks: u64,
    /// Transactions re-executed.
    pub transactions: u64,
    /// Bytes of the input read (log files only; 0 otherwise).
    pub bytes_read: u64,
    /// Since the replay started.
    pub elapsed: Duration,
}

/// What a finished replay did.
#[derive(Debug, Clone)]
pub struct ReplaySummary {
    /// The head after the last block.
    pub head: ChainHead,
    /// Blocks re-executed and verified.
    pub blocks: u64,
    /// Blocks already in the target store, checked by hash (imports only).
    pub skipped: u64,
    /// Transactions re-executed.
    pub transactions: u64,
    /// Of those, transactions included as failed (their receipts say why).
    pub failed_transactions: u64,
    /// Wall time of the replay.
    pub elapsed: Duration,
    /// Executor threads.
    pub threads: usize,
    /// Whether `halt_at_height` stopped it before the end.
    pub halted: bool,
}

impl ReplaySummary {
    /// Transactions re-executed per second (integer arithmetic, rounded down).
    pub fn transactions_per_second(&self) -> u64 {
        per_second(self.transactions, self.elapsed)
    }

    /// Blocks re-executed per second (rounded down).
    pub fn blocks_per_second(&self) -> u64 {
        per_second(self.blocks, self.elapsed)
    }
}

fn per_second(count: u64, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros().max(1);
    u64::try_from(u128::from(count) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// Re-executes blocks on top of a store and checks each against the chain.
pub struct Replayer {
    app: App,
    started: Instant,
    blocks: u64,
    skipped: u64,
    transactions: u64,
    failed_transactions: u64,
    /// The height the next block must have.
    next_height: u64,
    /// The store's head when the replay started: blocks up to it are
    /// checked by hash instead of re-executed.
    present_height: u64,
}

impl Replayer {
    /// Opens `store` with `genesis` (writing block 0 if the store is
    /// empty) and checks that block 0 is `genesis_hash`, when given.
    pub fn new(
        store: Arc<dyn Store>,
        genesis: &Genesis,
        genesis_hash: Option<Hash>,
        threads: usize,
    ) -> Result<Replayer, ReplayError> {
        let app = App::open(store, genesis, threads)?;
        let built = app.store().header(0)?.map(|header| header.hash()).unwrap_or(Hash::ZERO);
        if let Some(logged) = genesis_hash.filter(|logged| *logged != built) {
            let detail = "; the log's genesis does not build its block 0".to_string();
            return Err(ReplayError::Mismatch {
                height: 0,
                kind: HashKind::BlockHash,
                logged,
                replayed: built,
                detail,
            });
        }
        let present_height = app.info().height;
        Ok(Replayer {
            app,
            started: Instant::now(),
            blocks: 0,
            skipped: 0,
            transactions: 0,
            failed_transactions: 0,
            next_height: 1,
            present_height,
        })
    }

    /// The head.
    pub fn head(&self) -> ChainHead {
        self.app.info()
    }

    /// The application (its store holds the replayed state).
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Verifies and commits the next block, whose committed hash is `logged_hash`.
    /// A block the store already holds is checked by hash and skipped.
    pub fn apply(&mut self, logged_hash: Hash, block: &Block) -> Result<(), ReplayError> {
        let height = block.header.height;
        if height != self.next_height {
            return Err(ReplayError::OutOfOrder { expected: self.next_height, found: height });
        }
        if height <= self.present_height {
            self.check_present(logged_hash, height)?;
            self.next_height += 1;
            return Ok(());
        }
        let head = self.app.info();
        let mismatch =
            |kind, logged, replayed, detail: String| ReplayError::Mismatch { height, kind, logged, replayed, detail };
        if block.header.parent_hash != head.hash {
            return Err(mismatch(HashKind::ParentHash, block.header.parent_hash, head.hash, String::new()));
        }
        let ids: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
        let root = transactions_root(&ids);
        if root != block.header.transactions_root {
            let detail = self.first_invalid_transaction(block);
            return Err(mismatch(HashKind::TransactionsRoot, block.header.transactions_root, root, detail));
        }
        let proposal = self.app.process_proposal(block).map_err(|error| invalid(height, error))?;
        let finalized = self.app.finalize_block(proposal).map_err(|error| invalid(height, error))?;
        let replayed = &finalized.block.header;
        if replayed.state_root != block.header.state_root {
            return Err(mismatch(HashKind::StateRoot, block.header.state_root, replayed.state_root, String::new()));
        }
        if replayed.receipts_root != block.header.receipts_root {
            return Err(mismatch(
                HashKind::ReceiptsRoot,
                block.header.receipts_root,
                replayed.receipts_root,
                String::new(),
            ));
        }
        if replayed.hash() != logged_hash {
            let detail = if block.header.hash() == logged_hash {
                String::new()
            } else {
                "; the logged header does not hash to the logged block hash".to_string()
            };
            return Err(mismatch(HashKind::BlockHash, logged_hash, replayed.hash(), detail));
        }
        let failed = finalized.receipts.iter().filter(|receipt| !receipt.status.is_success()).count();
        self.app.commit(finalized)?;
        self.failed_transactions += failed as u64;
        self.next_height += 1;
        self.blocks += 1;
        self.transactions += ids.len() as u64;
        Ok(())
    }

    fn check_present(&mut self, logged_hash: Hash, height: u64) -> Result<(), ReplayError> {
        let stored = self.app.store().header(height)?.map(|header| header.hash());
        match stored {
            Some(stored) if stored == logged_hash => {
                self.skipped += 1;
                Ok(())
            }
            Some(stored) => Err(ReplayError::Mismatch {
                height,
                kind: HashKind::BlockHash,
                logged: logged_hash,
                replayed: stored,
                detail: "; the target store already holds a different block at this height".to_string(),
            }),
            None => Err(ReplayError::Store(StoreError::MissingBlock { height })),
        }
    }

    /// On a transactions-root mismatch: which transaction fails its checks.
    fn first_invalid_transaction(&self, block: &Block) -> String {
        let chain_id = self.app.chain_id();
        block
            .transactions
            .iter()
            .enumerate()
            .find_map(|(index, tx)| {
                tx.clone()
                    .verify(chain_id)
                    .err()
                    .map(|reason| format!("; transaction {index} fails its checks: {reason}"))
            })
            .unwrap_or_default()
    }

    /// What the replay did.
    pub fn summary(&self, halted: bool) -> ReplaySummary {
        ReplaySummary {
            head: self.app.info(),
            blocks: self.blocks,
            skipped: self.skipped,
            transactions: self.transactions,
            failed_transactions: self.failed_transactions,
            elapsed: self.started.elapsed(),
            threads: self.app.executor().threads(),
            halted,
        }
    }

    fn progress(&self, bytes_read: u64) -> Progress {
        Progress {
            height: self.app.info().height,
            blocks: self.blocks + self.skipped,
            transactions: self.transactions,
            bytes_read,
            elapsed: self.started.elapsed(),
        }
    }
}

fn invalid(height: u64, error: AppError) -> ReplayError {
    match error {
        AppError::InvalidProposal(reason) => ReplayError::InvalidBlock { height, reason },
        AppError::Block(BlockError::Store(error)) | AppError::Store(error) => ReplayError::Store(error),
        AppError::Block(reason) => ReplayError::Unexecutable { height, reason },
        other => ReplayError::App(other),
    }
}

/// Replays a log into `store` (which must be empty or hold a prefix of the
/// same chain), calling `progress` after every block. Streams: one block in
/// memory at a time.
pub fn replay_log(
    mut log: LogReader,
    store: Arc<dyn Store>,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ReplaySummary, ReplayError> {
    let genesis_hash = log.header().genesis_hash;
    let mut replayer = Replayer::new(store, &log.header().genesis, Some(genesis_hash), options.threads)?;
    // The accounts are in the state now; a large genesis need not be held twice.
    log.release_genesis_accounts();
    if options.halt_at_height.is_some_and(|halt| replayer.head().height >= halt) {
        return Ok(replayer.summary(true));
    }
    while let Some(LogBlock { hash, block, .. }) = log.next_block()? {
        replayer.apply(hash, &block)?;
        progress(&replayer.progress(log.bytes_read()));
        if options.halt_at_height.is_some_and(|halt| block.header.height >= halt) {
            return Ok(replayer.summary(true));
        }
    }
    Ok(replayer.summary(false))
}

/// Replays the log file at `path` in memory (a [`StateOnlyStore`]): the
/// library form of `parlend replay FILE`. Memory is bounded by the chain's
/// state, not by the length of the log.
pub fn replay_file(path: &Path, options: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let log = LogReader::open_file(path)?;
    replay_log(log, Arc::new(StateOnlyStore::new()), options, &mut |_| {})
}

/// Imports a log into `target` (e.g. a node's RocksDB): every block is
/// verified as in a replay, then committed, so the node can serve the chain.
/// Blocks the target already holds are checked by hash and skipped, so an
/// interrupted import can be run again.
pub fn import_log(
    log: LogReader,
    target: Arc<dyn Store>,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ReplaySummary, ReplayError> {
    replay_log(log, target, options, progress)
}

/// Replays the blocks committed in `source` (a node's data directory) from
/// `genesis`, in memory, checking every one: `parlend replay --data-dir`.
pub fn replay_store(
    source: &dyn Store,
    genesis: &Genesis,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ReplaySummary, ReplayError> {
    let stored_genesis = source.header(0)?.map(|header| header.hash());
    let mut replayer = Replayer::new(Arc::new(StateOnlyStore::new()), genesis, stored_genesis, options.threads)?;
    let head = source.head().map_or(0, |head| head.height);
    let last = options.halt_at_height.map_or(head, |halt| halt.min(head));
    for height in 1..=last {
        let missing = || ReplayError::Store(StoreError::MissingBlock { height });
        let hash = source.header(height)?.ok_or_else(missing)?.hash();
        let bytes = source.block_bytes(height)?.ok_or_else(missing)?;
        let block: Block = borsh::from_slice(&bytes).map_err(|error| {
            ReplayError::Store(StoreError::Corrupt { what: format!("block {height}"), reason: error.to_string() })
        })?;
        replayer.apply(hash, &block)?;
        progress(&replayer.progress(0));
    }
    Ok(replayer.summary(last < head))
}
