//! Block production: when to cut a block, and a two-stage pipeline that
//! executes block N+1 while block N is written and fsynced.
//!
//! # When a block is cut
//!
//! - With an interval (`--block-time-ms N`, N > 0): when the interval has
//!   passed since the last cut and something waits, or as soon as a full
//!   block waits ([`crate::node::NodeConfig::block_transactions_max`]),
//!   whichever comes first. Never one block per arrival: admission wakes the
//!   producer only when the mempool stops being empty or fills a block.
//! - On demand (`--block-time-ms 0`): as soon as something waits and the
//!   executor is free; what arrives while a block executes waits for the
//!   next one, so blocks grow with the load.
//! - Manual mining: only on `dev_mine`, one block per request.
//!
//! # The pipeline
//!
//! ```text
//! producer thread:  take ─ prepare ─ execute N+1 (on N's changes over the store) ─ wait N ─ seal N+1 ─ send
//! committer thread:                     write + fsync N ─ publish N                                  write N+1 …
//! ```
//!
//! Execution reads the store with the block still being committed layered
//! over it ([`PendingState`]), so it sees exactly the state after N. The
//! state root needs the store's commitment at N, so sealing (root, header)
//! waits for N's commit. Nothing of N is observable before its commit:
//! queries read the store, which RocksDB updates only once the write batch
//! is durable; N's transactions stay pending in the mempool (in flight)
//! until the committer publishes N (head, mempool, metrics). One block at
//! most is in flight, so a crash leaves the store at a committed block with
//! every acknowledged transaction in it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parlend_app::certificate::CommitCertificate;
use parlend_app::{AppError, Committed, Executed, Finalized};
use parlend_contracts::VerifiedTransaction;
use parlend_ledger::block::Header;
use parlend_ledger::exec::{AccountState, BlockError};
use parlend_ledger::state::{StateReader, StoreError, Value, WriteSet};
use parlend_ledger::{Address, Hash, StateKey};
use parlend_store::{ChainHead, Store};

use crate::metrics::BlockTimings;
use crate::node::{Node, Published};

/// What the producer is asked to do.
pub(crate) enum Command {
    /// Transactions are waiting (the mempool stopped being empty, or holds
    /// a full block).
    Wake,
    /// Produce a block now, even an empty one, and report its height once
    /// committed.
    Mine(mpsc::Sender<Result<u64, ProduceError>>),
    /// Roll the chain back to a height and empty the mempool; reports how
    /// many pending transactions were dropped.
    Revert(u64, mpsc::Sender<Result<usize, ProduceError>>),
    /// Stop after the blocks in progress are committed.
    Stop,
}

/// Why a block could not be produced.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProduceError {
    /// The application failed (execution, the store).
    #[error(transparent)]
    App(Arc<AppError>),
    /// The producer or the committer has stopped.
    #[error("the block producer has stopped")]
    Stopped,
}

impl From<AppError> for ProduceError {
    fn from(error: AppError) -> ProduceError {
        ProduceError::App(Arc::new(error))
    }
}

/// The state after a block still being committed: its changes over the store.
struct PendingState<'a> {
    store: &'a dyn Store,
    changes: &'a WriteSet,
}

impl StateReader for PendingState<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        match self.changes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.store.get(key),
        }
    }
}

/// The block handed to the committer and not yet reported committed.
struct InFlight {
    header: Header,
    changes: WriteSet,
    hashes: Vec<Hash>,
}

/// A block for the committer, with what it publishes afterwards.
struct Job {
    finalized: Finalized,
    hashes: Vec<Hash>,
    timings: BlockTimings,
}

/// Starts the producer thread (and its committer thread).
pub(crate) fn spawn(node: Arc<Node>, commands: Receiver<Command>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("parlend-producer".to_string())
        .spawn(move || Producer::new(node, commands).run())
        .expect("spawning the producer thread")
}

struct Producer {
    node: Arc<Node>,
    commands: Receiver<Command>,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Result<u64, ProduceError>>,
    committer: Option<JoinHandle<()>>,
    in_flight: Option<InFlight>,
    last_cut: Instant,
}

impl Producer {
    fn new(node: Arc<Node>, commands: Receiver<Command>) -> Producer {
        let (jobs, job_queue) = mpsc::sync_channel::<Job>(1);
        let (done_sender, done) = mpsc::channel();
        let committer_node = node.clone();
        let committer = std::thread::Builder::new()
            .name("parlend-committer".to_string())
            .spawn(move || {
                for job in job_queue {
                    let _ = done_sender.send(commit(&committer_node, job));
                }
            })
            .expect("spawning the committer thread");
        Producer {
            node,
            commands,
            jobs: Some(jobs),
            done,
            committer: Some(committer),
            in_flight: None,
            last_cut: Instant::now(),
        }
    }

    fn run(mut self) {
        loop {
            let command = match self.wait_time() {
                None => self.commands.recv().ok(),
                Some(timeout) => match self.commands.recv_timeout(timeout) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => Some(Command::Wake),
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            match command {
                None | Some(Command::Stop) => break,
                Some(Command::Wake) => {
                    self.node.wake_pending.store(false, Ordering::Release);
                    if !self.node.config().manual_mining {
                        self.cut_while_due();
                    }
                }
                Some(Command::Mine(reply)) => {
                    let _ = reply.send(self.mine());
                }
                Some(Command::Revert(height, reply)) => {
                    let drained = self.drain();
                    let _ = reply.send(drained.and_then(|()| self.node.revert_to(height)));
                }
            }
        }
        if let Err(error) = self.drain() {
            tracing::error!(%error, "the last block could not be committed");
        }
        drop(self.jobs.take());
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }

    /// How long to wait for a command before checking the mempool again:
    /// until the interval's deadline while something waits; otherwise until
    /// woken.
    fn wait_time(&self) -> Option<Duration> {
        let config = self.node.config();
        if config.manual_mining || config.block_time.is_zero() || self.node.ready_transactions() == 0 {
            return None;
        }
        Some((self.last_cut + config.block_time).saturating_duration_since(Instant::now()))
    }

    /// Cuts blocks while one is due: on demand, while anything waits; with
    /// an interval, once it has passed, and again while full blocks wait.
    fn cut_while_due(&mut self) {
        let (full, interval) = (self.node.config().block_transactions_max, self.node.config().block_time);
        loop {
            let ready = self.node.ready_transactions();
            let interval_passed = self.last_cut.elapsed() >= interval;
            if ready == 0 || !(interval_passed || ready >= full) {
                return;
            }
            self.last_cut = Instant::now();
            if let Err(error) = self.cut(false) {
                tracing::error!(%error, "block production failed");
                return;
            }
        }
    }

    /// `dev_mine`: a block now, committed before the answer.
    fn mine(&mut self) -> Result<u64, ProduceError> {
        self.last_cut = Instant::now();
        self.cut(true)?;
        self.drain()?;
        Ok(self.node.app().info().height)
    }

    /// Waits for the block in flight, if any, to be committed.
    fn drain(&mut self) -> Result<(), ProduceError> {
        let Some(in_flight) = self.in_flight.take() else { return Ok(()) };
        match self.done.recv() {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                self.node.release(&in_flight.hashes);
                Err(error)
            }
            Err(_) => Err(ProduceError::Stopped),
        }
    }

    /// Cuts one block from the mempool (an empty one only when `force`d),
    /// executes it on the state after the block in flight, waits for that
    /// one's commit, seals the new one and hands it to the committer.
    fn cut(&mut self, force: bool) -> Result<(), ProduceError> {
        let started = Instant::now();
        let Some(executed) = self.execute_next(force)? else { return Ok(()) };
        let executed_in = started.elapsed();
        let hashes: Vec<Hash> = executed.proposal.transactions.iter().map(VerifiedTransaction::hash).collect();
        if let Err(error) = self.drain() {
            self.node.release(&hashes);
            return Err(error);
        }
        let schedule = executed.stats.schedule;
        let finalized = self.node.app().seal(executed).inspect_err(|_| self.node.release(&hashes))?;
        // The committer adds the write's time to `commit`.
        let timings = BlockTimings {
            schedule,
            execute: executed_in.saturating_sub(schedule),
            root: finalized.state_root_time,
            commit: Duration::ZERO,
        };
        self.in_flight = Some(InFlight {
            header: finalized.block.header.clone(),
            changes: finalized.changes.clone(),
            hashes: hashes.clone(),
        });
        let jobs = self.jobs.as_ref().ok_or(ProduceError::Stopped)?;
        jobs.send(Job { finalized, hashes, timings }).map_err(|_| ProduceError::Stopped)
    }

    /// Takes transactions and executes them as the next block (on the
    /// block in flight, if any); `None` when nothing waits and the block is
    /// not forced.
    fn execute_next(&mut self, force: bool) -> Result<Option<Executed>, ProduceError> {
        let node = &self.node;
        let store: &dyn Store = &**node.app().store();
        let executed = match &self.in_flight {
            Some(in_flight) => {
                let base = PendingState { store, changes: &in_flight.changes };
                execute_pending(node, &in_flight.header, &base, force)
            }
            None => execute_pending(node, &node.app().info().header, store, force),
        };
        Ok(executed?)
    }
}

/// Takes up to a block of pending transactions and executes them on `base`
/// as the block after `parent`; `None` when nothing waits and the block is
/// not `force`d. A signer whose nonces turn out out of order (which the
/// mempool's rules prevent) is evicted and the block retried, rather than
/// stalling production; on any other error the transactions go back.
pub(crate) fn execute_pending(
    node: &Node,
    parent: &Header,
    base: &dyn StateReader,
    force: bool,
) -> Result<Option<Executed>, AppError> {
    loop {
        let candidates = node.take_transactions(node.config().block_transactions_max);
        if candidates.is_empty() && !force {
            return Ok(None);
        }
        let hashes: Vec<Hash> = candidates.iter().map(VerifiedTransaction::hash).collect();
        let proposal = node.app().prepare_proposal_on(parent, candidates, node.clock());
        match node.app().execute(base, proposal) {
            Ok(executed) => return Ok(Some(executed)),
            Err(AppError::Block(BlockError::NonceMismatch { index, expected, got })) => {
                let signer = node.signer_of(&hashes[index]);
                tracing::error!(
                    ?signer,
                    expected,
                    got,
                    "evicting a signer whose transactions have out-of-order nonces (getTransactionStatus reports them \
                     dropped)"
                );
                node.evict(signer, expected, &hashes);
            }
            Err(error) => {
                node.release(&hashes);
                return Err(error);
            }
        }
    }
}

/// The committer: writes a block (one atomic, fsynced batch), then publishes
/// it: the mempool forgets its transactions and learns its signers' nonces,
/// metrics and the head move, waiters wake.
fn commit(node: &Node, job: Job) -> Result<u64, ProduceError> {
    let Job { finalized, hashes, timings } = job;
    let head = commit_and_publish(node, finalized, hashes, None, timings).inspect_err(|error| {
        tracing::error!(%error, "committing a block failed; its transactions go back to the mempool");
    })?;
    Ok(head.height)
}

/// Writes a finalized block whose transaction ids are `hashes` (with its
/// commit certificate in validator mode), then publishes it and logs it.
pub(crate) fn commit_and_publish(
    node: &Node,
    finalized: Finalized,
    hashes: Vec<Hash>,
    certificate: Option<&CommitCertificate>,
    mut timings: BlockTimings,
) -> Result<ChainHead, AppError> {
    let entries = crate::events::tx_log_entries(&finalized.block.transactions, &hashes);
    let nonces = account_nonces(&finalized.changes);
    let stats = finalized.stats;
    node.executed(finalized.block.header.height, &stats, timings);
    let started = Instant::now();
    let Committed { head, block, receipts } = node.app().commit_keeping(finalized, certificate)?;
    timings.commit += started.elapsed();
    let took = timings.schedule + timings.execute + timings.root + timings.commit;
    node.published(&head, Published { block, hashes, receipts: receipts.clone() }, &nonces, &stats, timings);
    crate::events::log_block(&head, &entries, &receipts, &stats, took);
    Ok(head)
}

/// The new nonce of every account a block changed.
fn account_nonces(changes: &WriteSet) -> Vec<(Address, u64)> {
    changes
        .iter()
        .filter_map(|(key, value)| match key {
            StateKey::Account { owner } => {
                let nonce = AccountState::decode(value.as_deref()).map_or(0, |account| account.nonce);
                Some((*owner, nonce))
            }
            _ => None,
        })
        .collect()
}
