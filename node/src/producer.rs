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
//!   A cut due while `sendTransactions` batches are being admitted may wait
//!   for those that should be in before a grace ends (by default an eighth
//!   of the interval; [`crate::admitting`]), so that a batch about to land
//!   is not split and its last chunks do not wait a whole interval more;
//!   the next interval still runs from the deadline.
//! - On demand (`--block-time-ms 0`): as soon as something waits and the
//!   executor is free; what arrives while a block executes waits for the
//!   next one, so blocks grow with the load.
//! - Manual mining: only on `dev_mine`, one block per request.
//!
//! # Parts
//!
//! With an interval, the next block is executed in up to three parts: at
//! each of the [`PARTS_AT`] fractions of the interval, if at least
//! [`PART_TRANSACTIONS_MIN`] transactions wait, they are executed as the
//! block's next part ([`parlend_app::BlockInProgress`]: the same result as
//! the whole block executed at once; the block's timestamp is its first
//! part's). When the block is cut only what arrived after the last part
//! is left to execute, so a transaction's wait for its commit is
//! shortened by most of the block's execution time. Only with CPU to
//! spare (by default, [`ExecuteAhead`]): when the node kept more than
//! [`PART_BUSY_MAX_PER_MILLE`] of the machine's cores busy since the last
//! cut, the block executes whole at the cut (under full load a part costs
//! throughput: in `bench rpc`'s closed loop, measured 12-15% fewer
//! committed transactions; the latency there is queueing anyway).
//!
//! # The pipeline
//!
//! ```text
//! producer thread:  parts of N+1 … ─ last part of N+1 (on N's changes over the store) ─ wait N ─ seal N+1 ─ send
//! committer thread:       write + fsync N ─ publish N                                                  write N+1 …
//! ```
//!
//! Execution reads the store with the block still being committed layered
//! over it (`PendingState`), so it sees exactly the state after N. The
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
use parlend_app::{AppError, BlockInProgress, Committed, Executed, Finalized};
use parlend_contracts::VerifiedTransaction;
use parlend_ledger::block::Header;
use parlend_ledger::exec::{AccountState, BlockError};
use parlend_ledger::state::{StateReader, StoreError, Value, WriteSet};
use parlend_ledger::{Address, Hash, StateKey};
use parlend_store::{ChainHead, Store};

use crate::admitting::Deferred;
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

/// When, as fractions of the interval (numerator, denominator), the block
/// being built executes what waits as its next part. The second part
/// leaves an eighth of the interval's arrivals to the cut instead of a
/// quarter: in `bench rpc --workload lending-mix` at half load (14,000
/// tx/s offered, batches of 1,000), p90 submit-to-commit 225-231 ms
/// against 230-241 ms with the first part alone (four runs each,
/// alternated).
pub const PARTS_AT: [(u32, u32); 2] = [(3, 4), (7, 8)];

/// The fewest waiting transactions worth a part of their own: fewer would
/// run on the serial executor, and cost little to execute with the last
/// part.
pub const PART_TRANSACTIONS_MIN: usize = 256;

/// Above this share of the machine's cores (per mille) kept busy by the
/// node since the last cut, the block being built executes no part (with
/// [`ExecuteAhead::SpareCpu`]).
pub const PART_BUSY_MAX_PER_MILLE: u128 = 800;

/// Whether a block being built executes its first part before the cut
/// (`parlend run --execute-ahead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecuteAhead {
    /// When the node kept at most [`PART_BUSY_MAX_PER_MILLE`] of the
    /// machine's cores busy since the last cut.
    #[default]
    SpareCpu,
    /// Whenever enough transactions wait.
    Always,
    /// Never: every block executes whole when it is cut.
    Never,
}

/// The state a new block executes on: the store, with the block still being
/// committed (if any) over it.
struct PendingState<'a> {
    store: &'a dyn Store,
    changes: Option<&'a WriteSet>,
}

impl<'a> PendingState<'a> {
    fn over(store: &'a dyn Store, in_flight: Option<&'a InFlight>) -> PendingState<'a> {
        PendingState { store, changes: in_flight.map(|in_flight| &in_flight.changes) }
    }
}

impl StateReader for PendingState<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        match self.changes.and_then(|changes| changes.get(key)) {
            Some(value) => Ok(value.clone()),
            None => self.store.get(key),
        }
    }
}

/// The next block, executed part by part while the interval runs.
struct Building {
    block: BlockInProgress,
    hashes: Vec<Hash>,
    /// Time its parts took to take and execute.
    executing: Duration,
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
    building: Option<Building>,
    last_cut: Instant,
    /// Which of [`PARTS_AT`] the block being built executes next.
    next_part: usize,
    /// The node's CPU time at the last cut.
    cut_cpu: Option<Duration>,
    /// A cut past its deadline waiting for batches being admitted.
    deferred: Option<Deferred>,
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
        let now = Instant::now();
        Producer {
            node,
            commands,
            jobs: Some(jobs),
            done,
            committer: Some(committer),
            in_flight: None,
            building: None,
            last_cut: now,
            next_part: 0,
            cut_cpu: process_cpu_time(),
            deferred: None,
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
                    self.abandon_building();
                    let drained = self.drain();
                    let _ = reply.send(drained.and_then(|()| self.node.revert_to(height)));
                }
            }
        }
        self.abandon_building();
        if let Err(error) = self.drain() {
            tracing::error!(%error, "the last block could not be committed");
        }
        drop(self.jobs.take());
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }

    /// When the block being built executes its next part (`None`: it has
    /// no more).
    fn part_due(&self) -> Option<Instant> {
        let interval = self.node.config().block_time;
        PARTS_AT
            .get(self.next_part)
            .map(|(numerator, denominator)| self.last_cut + interval * *numerator / *denominator)
    }

    /// How long to wait for a command before checking the mempool again:
    /// until the next part or the interval's deadline while something
    /// waits; otherwise until woken.
    fn wait_time(&self) -> Option<Duration> {
        let config = self.node.config();
        if config.manual_mining || config.block_time.is_zero() {
            return None;
        }
        let building = self.building.as_ref().is_some_and(|building| !building.block.is_empty());
        if !building && self.node.ready_transactions() == 0 {
            return None;
        }
        let wake_at = match &self.deferred {
            Some(deferred) => deferred.until,
            None => {
                let deadline = self.last_cut + config.block_time;
                self.part_due().map_or(deadline, |due| due.min(deadline))
            }
        };
        Some(wake_at.saturating_duration_since(Instant::now()))
    }

    /// Cuts blocks while one is due: on demand, while anything waits; with
    /// an interval, once it has passed, and again while full blocks wait.
    /// Otherwise, at a part's time, executes what waits as the next part of
    /// the block being built.
    fn cut_while_due(&mut self) {
        let (full, interval) = (self.node.config().block_transactions_max, self.node.config().block_time);
        loop {
            let ready = self.node.ready_transactions();
            let waiting = ready + self.building.as_ref().map_or(0, |building| building.block.len());
            if waiting == 0 {
                return;
            }
            let due = self.last_cut.elapsed() >= interval;
            if waiting >= full || (due && !self.put_off()) {
                self.mark_cut();
                if let Err(error) = self.cut(false) {
                    tracing::error!(%error, "block production failed");
                    return;
                }
                continue;
            }
            if due {
                return;
            }
            if self.part_due().is_some_and(|at| Instant::now() >= at) {
                self.next_part += 1;
                if ready < PART_TRANSACTIONS_MIN || !self.ahead_allowed() {
                    return;
                }
                if let Err(error) = self.execute_part() {
                    tracing::error!(%error, "executing part of a block failed; its transactions go back to the mempool");
                }
            }
            return;
        }
    }

    /// Whether the cut, due now, waits for batches being admitted: those
    /// in progress at its deadline that should be in before the grace
    /// ends, while any is still being admitted and the grace lasts.
    fn put_off(&mut self) -> bool {
        let grace = self.node.config().cut_grace();
        if grace.is_zero() {
            return false;
        }
        let admitting = &self.node.admitting;
        let deadline = self.last_cut + self.node.config().block_time;
        let deferred = self.deferred.get_or_insert_with(|| Deferred::new(admitting, deadline, grace));
        // Raised before the batches are looked at: a batch that ends after
        // the look sees it and wakes the producer.
        admitting.set_cut_waiting(true);
        let waits = deferred.waits(admitting, Instant::now());
        if !waits {
            admitting.set_cut_waiting(false);
        }
        waits
    }

    /// `dev_mine`: a block now, committed before the answer.
    fn mine(&mut self) -> Result<u64, ProduceError> {
        self.mark_cut();
        self.cut(true)?;
        self.drain()?;
        Ok(self.node.app().info().height)
    }

    /// A block is being cut now: the interval, the part's time and the CPU
    /// time since the cut start again. A cut put off for batches being
    /// admitted keeps the cadence: the next interval runs from its deadline.
    fn mark_cut(&mut self) {
        self.node.admitting.set_cut_waiting(false);
        let now = Instant::now();
        self.last_cut = match self.deferred.take() {
            Some(deferred) if now <= deferred.until => {
                if deferred.waited_for_any() {
                    self.node.metrics_registry().cut_waited(now.saturating_duration_since(deferred.deadline));
                }
                deferred.deadline
            }
            _ => now,
        };
        self.next_part = 0;
        self.cut_cpu = process_cpu_time();
    }

    /// Waits for the block in flight, if any, to be committed. If it
    /// fails, the block being built on it goes too.
    fn drain(&mut self) -> Result<(), ProduceError> {
        let Some(in_flight) = self.in_flight.take() else { return Ok(()) };
        match self.done.recv() {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                self.node.release(&in_flight.hashes);
                self.abandon_building();
                Err(error)
            }
            Err(_) => Err(ProduceError::Stopped),
        }
    }

    /// Puts the transactions of the block being built back in line.
    fn abandon_building(&mut self) {
        if let Some(building) = self.building.take() {
            self.node.release(&building.hashes);
        }
    }

    /// Cuts the block: executes its last part (what waits, up to a full
    /// block; an empty block only when `force`d) on the state after the
    /// block in flight, waits for that one's commit, seals the new one and
    /// hands it to the committer.
    fn cut(&mut self, force: bool) -> Result<(), ProduceError> {
        let Some((executed, hashes, executed_in)) = self.execute_last(force)? else { return Ok(()) };
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
            cut_at: Some(self.last_cut),
        };
        self.in_flight = Some(InFlight {
            header: finalized.block.header.clone(),
            changes: finalized.changes.clone(),
            hashes: hashes.clone(),
        });
        let jobs = self.jobs.as_ref().ok_or(ProduceError::Stopped)?;
        jobs.send(Job { finalized, hashes, timings }).map_err(|_| ProduceError::Stopped)
    }

    /// Whether the block being built may execute a part now.
    fn ahead_allowed(&self) -> bool {
        match self.node.config().execute_ahead {
            ExecuteAhead::Always => true,
            ExecuteAhead::Never => false,
            ExecuteAhead::SpareCpu => self.cpu_to_spare(),
        }
    }

    /// Whether the node kept at most [`PART_BUSY_MAX_PER_MILLE`] of the
    /// machine's cores busy since the last cut (unknown: no).
    fn cpu_to_spare(&self) -> bool {
        let (Some(at_cut), Some(now)) = (self.cut_cpu, process_cpu_time()) else { return false };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let available = self.last_cut.elapsed().as_micros() * cores as u128;
        now.saturating_sub(at_cut).as_micros() * 1_000 <= available * PART_BUSY_MAX_PER_MILLE
    }

    /// A new block on the block in flight (or the head).
    fn begin(&self) -> Building {
        let parent = match &self.in_flight {
            Some(in_flight) => in_flight.header.clone(),
            None => self.node.app().info().header,
        };
        let block = self.node.app().begin_block_on(&parent, self.node.clock());
        Building { block, hashes: Vec::new(), executing: Duration::ZERO }
    }

    /// Executes what waits (up to a full block) as the next part of the
    /// block being built. On an error the block being built is abandoned.
    fn execute_part(&mut self) -> Result<(), ProduceError> {
        let started = Instant::now();
        let mut building = self.building.take().unwrap_or_else(|| self.begin());
        let room = self.node.config().block_transactions_max.saturating_sub(building.block.len());
        let base = PendingState::over(&**self.node.app().store(), self.in_flight.as_ref());
        let app = self.node.app();
        match take_and_execute(&self.node, room, false, |part| app.execute_part(&mut building.block, &base, part)) {
            Ok(Some(((), hashes))) => {
                self.node.metrics_registry().executed_ahead(hashes.len());
                building.hashes.extend(hashes);
            }
            Ok(None) => {}
            Err(error) => {
                self.node.release(&building.hashes);
                return Err(error.into());
            }
        }
        building.executing += started.elapsed();
        if !building.block.is_empty() {
            self.building = Some(building);
        }
        Ok(())
    }

    /// Executes the last part of the block being built (or of a new one):
    /// what waits, up to a full block. `None` when nothing waits, no part
    /// was executed and the block is not `force`d. Gives the block, its
    /// transactions' ids and the time its parts took.
    fn execute_last(&mut self, force: bool) -> Result<Option<(Executed, Vec<Hash>, Duration)>, ProduceError> {
        let started = Instant::now();
        let Building { mut block, hashes: mut ids, executing } = self.building.take().unwrap_or_else(|| self.begin());
        let room = self.node.config().block_transactions_max.saturating_sub(block.len());
        let base = PendingState::over(&**self.node.app().store(), self.in_flight.as_ref());
        let app = self.node.app();
        let force = force || !block.is_empty();
        match take_and_execute(&self.node, room, force, |part| app.execute_last_part(&mut block, &base, part)) {
            Ok(Some((executed, hashes))) => {
                ids.extend(hashes);
                Ok(Some((executed, ids, executing + started.elapsed())))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.node.release(&ids);
                Err(error.into())
            }
        }
    }
}

/// Takes up to `room` pending transactions and runs `execute` on them
/// (even on none when `force`d; `None` when nothing waits otherwise),
/// giving its result and their ids. A signer whose nonces turn out out of
/// order (which the mempool's rules prevent) is evicted and the rest taken
/// again, rather than stalling production; on any other error the
/// transactions go back.
fn take_and_execute<T>(
    node: &Node,
    room: usize,
    force: bool,
    mut execute: impl FnMut(Vec<VerifiedTransaction>) -> Result<T, AppError>,
) -> Result<Option<(T, Vec<Hash>)>, AppError> {
    loop {
        let taken = node.take_transactions(room);
        if taken.is_empty() && !force {
            return Ok(None);
        }
        let hashes: Vec<Hash> = taken.iter().map(VerifiedTransaction::hash).collect();
        match execute(taken) {
            Ok(done) => return Ok(Some((done, hashes))),
            Err(AppError::Block(BlockError::NonceMismatch { index, expected, got })) => {
                evict_out_of_order(node, &hashes, index, expected, got);
            }
            Err(error) => {
                node.release(&hashes);
                return Err(error);
            }
        }
    }
}

/// Takes up to a block of pending transactions and executes them on `base`
/// as the block after `parent` ([`take_and_execute`]); `None` when nothing
/// waits and the block is not `force`d.
pub(crate) fn execute_pending(
    node: &Node,
    parent: &Header,
    base: &dyn StateReader,
    force: bool,
) -> Result<Option<Executed>, AppError> {
    let app = node.app();
    let executed = take_and_execute(node, node.config().block_transactions_max, force, |candidates| {
        app.execute(base, app.prepare_proposal_on(parent, candidates, node.clock()))
    })?;
    Ok(executed.map(|(executed, _)| executed))
}

/// Evicts the signer of the transaction at `index` among `hashes`, whose
/// nonce `got` is not the `expected` one (which the mempool's rules
/// prevent), and puts the other transactions back in line.
fn evict_out_of_order(node: &Node, hashes: &[Hash], index: usize, expected: u64, got: u64) {
    let signer = hashes.get(index).and_then(|hash| node.signer_of(hash));
    tracing::error!(
        ?signer,
        expected,
        got,
        "evicting a signer whose transactions have out-of-order nonces (getTransactionStatus reports them dropped)"
    );
    node.evict(signer, expected, hashes);
}

/// The CPU time every thread of this process has used (`None` where the
/// platform does not say).
fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let seconds = u64::try_from(time.tv_sec).ok()?;
        let nanos = u32::try_from(time.tv_nsec).ok()?;
        Some(Duration::new(seconds, nanos))
    }
    #[cfg(not(unix))]
    None
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
