//! The parlend application: the node's core, shaped as consensus-engine phases.
//!
//! | phase              | here                         | CometBFT ABCI analogue |
//! |--------------------|------------------------------|------------------------|
//! | check a tx         | [`App::check_transaction`]   | `CheckTx`              |
//! | prepare a block    | [`App::prepare_proposal`]    | `PrepareProposal`      |
//! | process a proposal | [`App::process_proposal`]    | `ProcessProposal`      |
//! | finalize           | [`App::finalize_block`]      | `FinalizeBlock`        |
//! | commit             | [`App::commit`]              | `Commit`               |
//! | info               | [`App::info`]                | `Info`                 |
//! | query              | [`App::store`] readers       | `Query`                |
//!
//! Today the single-node block producer drives these phases. Nothing here
//! assumes it is the only node: a proposal from elsewhere goes through
//! `process_proposal` (stateless checks, signatures, nonces) before
//! `finalize_block`, and `finalize_block` is deterministic, so every
//! validator computes the same roots.

pub mod certificate;

use std::collections::HashMap;
use std::sync::Arc;

use certificate::CommitCertificate;
use std::time::{Duration, Instant};

use parlend_contracts::genesis::{Genesis, GenesisError};
use parlend_contracts::{Block, LendingVm, VerifiedTransaction};
use parlend_ledger::block::{Header, Receipt, receipts_root, transactions_root};
use parlend_ledger::crypto::KeyCache;
use parlend_ledger::exec::parallel::{ExecutionStats, PoolError};
use parlend_ledger::exec::{BlockContext, BlockError, BlockInParts, BlockOutput, ParallelExecutor, verify_known};
use parlend_ledger::limits::TRANSACTIONS_PER_BLOCK_MAX;
use parlend_ledger::state::{CommitmentUpdate, StateReader, StoreError, WriteSet};
use parlend_ledger::{Hash, RejectReason};
use parlend_store::{BlockCommit, ChainHead, Store};

/// Why the application cannot proceed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The genesis is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] GenesisError),
    /// The store holds another chain.
    #[error("the data directory holds chain {found}, not chain {expected}; use another --data-dir")]
    WrongChain {
        /// This node's chain id.
        expected: u64,
        /// The stored chain's id.
        found: u64,
    },
    /// The store holds another genesis.
    #[error("the data directory was created from another genesis (block 0 is {found}, expected {expected})")]
    WrongGenesis {
        /// This genesis' block hash.
        expected: Hash,
        /// The stored block 0 hash.
        found: Hash,
    },
    /// The block cannot be executed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A proposal is invalid.
    #[error("invalid proposal: {0}")]
    InvalidProposal(#[from] ProposalError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The executor's threads could not start.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// Which check a proposed block failed, with the values compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// The block belongs to another chain.
    #[error("chain {found} is not {expected}")]
    WrongChain {
        /// This chain.
        expected: u64,
        /// The block's.
        found: u64,
    },
    /// The block is not the head's child.
    #[error("block {height} (parent {parent}) does not extend head {head_height} ({head_hash})")]
    DoesNotExtend {
        /// The block's height.
        height: u64,
        /// The block's parent hash.
        parent: Hash,
        /// The head's height.
        head_height: u64,
        /// The head's hash.
        head_hash: Hash,
    },
    /// The block is dated before its parent.
    #[error("timestamp {timestamp} is before the parent's {parent_timestamp}")]
    TimestampBackwards {
        /// The block's timestamp.
        timestamp: u64,
        /// The parent's timestamp.
        parent_timestamp: u64,
    },
    /// The header's transaction count is not the block's, or over the limit.
    #[error("the header counts {declared} transactions, the block holds {actual} (at most {limit})")]
    TransactionCount {
        /// The header's count.
        declared: u64,
        /// Transactions in the block.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// A transaction fails a stateless check or its signature.
    #[error("transaction {index} is rejected: {reason}")]
    Transaction {
        /// Its index in the block.
        index: usize,
        /// Why.
        reason: RejectReason,
    },
}

/// A block the producer proposes: ordered, verified transactions.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Height.
    pub height: u64,
    /// Parent hash.
    pub parent_hash: Hash,
    /// Timestamp, seconds.
    pub timestamp: u64,
    /// Transactions in execution order.
    pub transactions: Vec<VerifiedTransaction>,
}

/// A proposal executed, its root not yet computed.
#[derive(Debug)]
pub struct Executed {
    /// The proposal.
    pub proposal: Proposal,
    /// Receipts and state changes.
    pub output: BlockOutput,
    /// How the executor spent its time.
    pub stats: ExecutionStats,
}

/// A block being executed part by part, as its transactions arrive
/// ([`App::begin_block_on`]); its last part gives an [`Executed`] block,
/// the same as the whole block executed at once.
#[derive(Debug)]
pub struct BlockInProgress {
    parent_hash: Hash,
    /// The transactions executed so far.
    transactions: Vec<VerifiedTransaction>,
    parts: BlockInParts,
}

impl BlockInProgress {
    /// Transactions executed so far.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// Whether no transaction has been executed yet.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }
}

/// An executed block, ready to commit.
#[derive(Debug, Clone)]
pub struct Finalized {
    /// The block (its header has every root).
    pub block: Block,
    /// Receipts, in block order.
    pub receipts: Vec<Receipt>,
    /// State changes.
    pub changes: WriteSet,
    /// The commitment update to the new state root.
    pub commitment: CommitmentUpdate,
    /// How the executor spent its time (for metrics).
    pub stats: ExecutionStats,
    /// Time spent computing the state root.
    pub state_root_time: Duration,
}

/// A committed block, as [`App::commit_keeping`] gives it back.
pub struct Committed {
    /// The new head.
    pub head: ChainHead,
    /// The block.
    pub block: Block,
    /// Its receipts, in block order.
    pub receipts: Arc<Vec<Receipt>>,
}

/// How many signers' decompressed keys the app keeps (about 250 bytes each).
pub const SIGNER_KEYS_CACHED: usize = 32_768;

/// The application.
pub struct App {
    vm: LendingVm,
    store: Arc<dyn Store>,
    chain_id: u64,
    executor: ParallelExecutor,
    /// Decompressed keys of recent signers, for every signature check.
    keys: KeyCache,
}

impl App {
    /// Opens the application on `store`, writing the genesis block if the
    /// store is empty, and checking that it belongs to this chain if not.
    /// Blocks execute on `threads` threads (0: one per core).
    pub fn open(store: Arc<dyn Store>, genesis: &Genesis, threads: usize) -> Result<App, AppError> {
        let executor = ParallelExecutor::new(threads)?;
        let keys = KeyCache::new(SIGNER_KEYS_CACHED);
        let app = App { vm: LendingVm, store, chain_id: genesis.chain_id, executor, keys };
        let genesis_block = App::genesis_commit(genesis)?;
        match app.store.header(0)? {
            None => app.store.commit(genesis_block)?,
            Some(stored) if stored.chain_id != genesis.chain_id => {
                return Err(AppError::WrongChain { expected: genesis.chain_id, found: stored.chain_id });
            }
            Some(stored) if stored.hash() != genesis_block.header.hash() => {
                return Err(AppError::WrongGenesis { expected: genesis_block.header.hash(), found: stored.hash() });
            }
            Some(_) => {}
        }
        Ok(app)
    }

    /// Block 0 of the chain `genesis` starts (its header: the one every
    /// node of the chain has at height 0).
    pub fn genesis_commit(genesis: &Genesis) -> Result<BlockCommit, AppError> {
        let changes: WriteSet = genesis.state()?.into_iter().map(|(key, value)| (key, Some(value))).collect();
        let commitment = parlend_ledger::state::StateCommitment::new().prepare(&changes)?;
        let header = Header {
            chain_id: genesis.chain_id,
            height: 0,
            parent_hash: Hash::ZERO,
            timestamp: genesis.timestamp,
            transaction_count: 0,
            transactions_root: transactions_root(&[]),
            state_root: commitment.root(),
            receipts_root: receipts_root(&[]),
        };
        let block = Block { header: header.clone(), transactions: Vec::new() };
        Ok(BlockCommit {
            header,
            block_bytes: block.encode(),
            receipts: Arc::default(),
            changes,
            commitment,
            certificate: None,
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The VM.
    pub fn vm(&self) -> &LendingVm {
        &self.vm
    }

    /// The block executor.
    pub fn executor(&self) -> &ParallelExecutor {
        &self.executor
    }

    /// Info: the last committed block (always present after `open`).
    pub fn info(&self) -> ChainHead {
        self.store.head().expect("the genesis block is committed when the app opens")
    }

    /// Check a transaction for the mempool: every stateless check and the
    /// signature. Nonces are checked by the mempool against committed state.
    pub fn check_transaction(&self, bytes: &[u8]) -> Result<VerifiedTransaction, RejectReason> {
        VerifiedTransaction::from_bytes_cached(bytes, self.chain_id, &self.keys)
    }

    /// Prepare a proposal on top of the head from candidate transactions (in
    /// mempool order), at `timestamp` (never before the parent's).
    pub fn prepare_proposal(&self, candidates: Vec<VerifiedTransaction>, timestamp: u64) -> Proposal {
        self.prepare_proposal_on(&self.info().header, candidates, timestamp)
    }

    /// Prepare a proposal on top of `parent` (the head, or a block still
    /// being committed), at `timestamp` (never before the parent's).
    pub fn prepare_proposal_on(
        &self,
        parent: &Header,
        mut candidates: Vec<VerifiedTransaction>,
        timestamp: u64,
    ) -> Proposal {
        candidates.truncate(TRANSACTIONS_PER_BLOCK_MAX);
        Proposal {
            height: parent.height + 1,
            parent_hash: parent.hash(),
            timestamp: timestamp.max(parent.timestamp),
            transactions: candidates,
        }
    }

    /// Process a proposed block from elsewhere: structure, parent, time and
    /// every signature. Execution (nonces included) happens in finalize.
    pub fn process_proposal(&self, block: &Block) -> Result<Proposal, AppError> {
        self.process_proposal_known(block, |_| HashMap::new())
    }

    /// [`App::process_proposal`], reusing the transactions `known` finds
    /// already verified among the block's ids (a validator's mempool)
    /// instead of checking their signatures again; every other transaction
    /// gets the full check.
    pub fn process_proposal_known(
        &self,
        block: &Block,
        known: impl FnOnce(&[Hash]) -> HashMap<Hash, VerifiedTransaction> + Send,
    ) -> Result<Proposal, AppError> {
        self.check_header(&block.header, block.transactions.len())?;
        let header = &block.header;
        let verified = verify_known(self.executor.pool(), block.transactions.clone(), self.chain_id, &self.keys, known);
        let mut transactions = Vec::with_capacity(verified.len());
        for (index, result) in verified.into_iter().enumerate() {
            transactions.push(result.map_err(|reason| ProposalError::Transaction { index, reason })?);
        }
        Ok(Proposal {
            height: header.height,
            parent_hash: header.parent_hash,
            timestamp: header.timestamp,
            transactions,
        })
    }

    /// The checks of a proposed header against the head.
    fn check_header(&self, header: &Header, transactions: usize) -> Result<(), ProposalError> {
        let head = self.info();
        if header.chain_id != self.chain_id {
            return Err(ProposalError::WrongChain { expected: self.chain_id, found: header.chain_id });
        }
        if header.height != head.height + 1 || header.parent_hash != head.hash {
            return Err(ProposalError::DoesNotExtend {
                height: header.height,
                parent: header.parent_hash,
                head_height: head.height,
                head_hash: head.hash,
            });
        }
        if header.timestamp < head.header.timestamp {
            return Err(ProposalError::TimestampBackwards {
                timestamp: header.timestamp,
                parent_timestamp: head.header.timestamp,
            });
        }
        if transactions > TRANSACTIONS_PER_BLOCK_MAX || header.transaction_count as usize != transactions {
            return Err(ProposalError::TransactionCount {
                declared: u64::from(header.transaction_count),
                actual: transactions,
                limit: TRANSACTIONS_PER_BLOCK_MAX,
            });
        }
        Ok(())
    }

    /// Execute a proposal against the head: receipts, state changes and the
    /// header with every root. Commits nothing.
    pub fn finalize_block(&self, proposal: Proposal) -> Result<Finalized, AppError> {
        let executed = self.execute(&*self.store, proposal)?;
        self.seal(executed)
    }

    /// The first half of finalize: execute a proposal against `base` (the
    /// store, or the store with a block still being committed layered over
    /// it). Computes no root, so `base` may run ahead of the store.
    pub fn execute(&self, base: &dyn StateReader, proposal: Proposal) -> Result<Executed, AppError> {
        let context = BlockContext { chain_id: self.chain_id, height: proposal.height, timestamp: proposal.timestamp };
        let (output, stats) =
            self.executor.execute_block_with_stats(&self.vm, base, &context, &proposal.transactions)?;
        Ok(Executed { proposal, output, stats })
    }

    /// Starts a block on top of `parent` (the head, or a block still being
    /// committed) at `timestamp` (never before the parent's), to execute in
    /// parts ([`App::execute_part`], [`App::execute_last_part`]).
    pub fn begin_block_on(&self, parent: &Header, timestamp: u64) -> BlockInProgress {
        let context = BlockContext {
            chain_id: self.chain_id,
            height: parent.height + 1,
            timestamp: timestamp.max(parent.timestamp),
        };
        BlockInProgress { parent_hash: parent.hash(), transactions: Vec::new(), parts: BlockInParts::new(context) }
    }

    /// Executes `transactions` as the next part of `block`, on `base` (the
    /// state before the block: the store, or the store with a block still
    /// being committed layered over it). On an error the block is as it
    /// was, without them (a `NonceMismatch` index is within `transactions`).
    pub fn execute_part(
        &self,
        block: &mut BlockInProgress,
        base: &dyn StateReader,
        transactions: Vec<VerifiedTransaction>,
    ) -> Result<(), AppError> {
        check_room(block, transactions.len())?;
        block.parts.execute(&self.executor, &self.vm, base, &transactions)?;
        block.transactions.extend(transactions);
        Ok(())
    }

    /// Executes the last part of `block` (possibly empty) with the
    /// epilogue: the block executed, as [`App::execute`] would give it for
    /// all its transactions at once; `block` is then empty. On an error the
    /// block is as it was, without them.
    pub fn execute_last_part(
        &self,
        block: &mut BlockInProgress,
        base: &dyn StateReader,
        transactions: Vec<VerifiedTransaction>,
    ) -> Result<Executed, AppError> {
        check_room(block, transactions.len())?;
        let context = *block.parts.context();
        let (output, stats) = block.parts.finish(&self.executor, &self.vm, base, &transactions)?;
        let mut all = std::mem::take(&mut block.transactions);
        all.extend(transactions);
        let proposal = Proposal {
            height: context.height,
            parent_hash: block.parent_hash,
            timestamp: context.timestamp,
            transactions: all,
        };
        Ok(Executed { proposal, output, stats })
    }

    /// The second half of finalize: the state root (against the store,
    /// which must hold the executed block's parent) and the header.
    pub fn seal(&self, executed: Executed) -> Result<Finalized, AppError> {
        let Executed { proposal, output: BlockOutput { receipts, changes }, stats } = executed;
        let started = Instant::now();
        let commitment = self.store.prepare_root(&changes)?;
        let state_root_time = started.elapsed();
        let ids: Vec<Hash> = proposal.transactions.iter().map(VerifiedTransaction::hash).collect();
        let header = Header {
            chain_id: self.chain_id,
            height: proposal.height,
            parent_hash: proposal.parent_hash,
            timestamp: proposal.timestamp,
            transaction_count: u32::try_from(ids.len()).map_err(|_| ProposalError::TransactionCount {
                declared: ids.len() as u64,
                actual: ids.len(),
                limit: TRANSACTIONS_PER_BLOCK_MAX,
            })?,
            transactions_root: transactions_root(&ids),
            state_root: commitment.root(),
            receipts_root: receipts_root(&receipts),
        };
        let transactions = proposal.transactions.into_iter().map(VerifiedTransaction::into_signed).collect();
        Ok(Finalized { block: Block { header, transactions }, receipts, changes, commitment, stats, state_root_time })
    }

    /// Commit a finalized block: one atomic write.
    pub fn commit(&self, finalized: Finalized) -> Result<ChainHead, AppError> {
        Ok(self.commit_keeping(finalized, None)?.head)
    }

    /// Commit a finalized block, with its commit certificate in validator
    /// mode (in the same atomic write), giving back the block and its
    /// receipts (shared with the store's indexer), for a node that keeps
    /// recent blocks in memory rather than reading them back.
    pub fn commit_keeping(
        &self,
        finalized: Finalized,
        certificate: Option<&CommitCertificate>,
    ) -> Result<Committed, AppError> {
        let Finalized { block, receipts, changes, commitment, .. } = finalized;
        let header = block.header.clone();
        let receipts = Arc::new(receipts);
        self.store.commit(BlockCommit {
            block_bytes: block.encode(),
            header: header.clone(),
            receipts: receipts.clone(),
            changes,
            commitment,
            certificate: certificate.map(parlend_ledger::encode_canonical),
        })?;
        let head = ChainHead { height: header.height, hash: header.hash(), header };
        Ok(Committed { head, block, receipts })
    }
}

/// Refuses a part that would take a block past [`TRANSACTIONS_PER_BLOCK_MAX`].
fn check_room(block: &BlockInProgress, adding: usize) -> Result<(), AppError> {
    let total = block.len() + adding;
    if total > TRANSACTIONS_PER_BLOCK_MAX {
        return Err(ProposalError::TransactionCount {
            declared: total as u64,
            actual: total,
            limit: TRANSACTIONS_PER_BLOCK_MAX,
        }
        .into());
    }
    Ok(())
}
