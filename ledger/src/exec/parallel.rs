//! The parallel executor: the result of [`super::execute_block_serial`],
//! byte for byte, on all cores.
//!
//! # Algorithm
//!
//! 1. **Prologue**, serial, exactly as in the serial executor.
//! 2. **Schedule** (the `schedule` module): one pass over the declared access
//!    sets builds a read-after-write dependency graph. `delta` accesses add
//!    no edges, so transactions of different users on one market are
//!    independent even though they all change that market's totals.
//! 3. **Base values**: the value of each declared key after the prologue is
//!    read from the state once, by the first transaction that needs it
//!    (a `OnceLock` per key), so reads of the store spread over the workers
//!    and keys nobody reads are never fetched. Global keys (configuration,
//!    market parameters and indices, prices), which every transaction
//!    reads, are copied once per worker, and each read clones the worker's
//!    own copy: no shared reference count, no allocation per read.
//! 4. **Execute**, barrier-free: every transaction whose dependencies have
//!    executed is ready; workers take ready transactions and run them
//!    speculatively. A transaction reads each `read`/`write` key from the
//!    output of its source (the last earlier writer of the key, or the
//!    value after the prologue), plus, on aggregates, the deltas of the `delta`
//!    transactions in between. Its `delta` keys are evaluated against a
//!    speculative base (the source's value without the deltas in between):
//!    its bounded operations are only recorded as predicates.
//! 5. **Commit**, in block order, overlapping with execution: whichever
//!    worker holds the commit lock advances a pointer over executed
//!    transactions. For each one it checks that
//!    - no key it read exactly was changed by a re-execution before it
//!      (a *dirty* key), and
//!    - every recorded predicate still holds against the exact running
//!      value of its aggregate (the serial value at this position);
//!
//!    and otherwise re-executes it, there and then, against exact values.
//!    Only transactions whose outcome the serial order changes are executed
//!    twice (the idea of Block-STM's aggregators). Then its deltas are
//!    applied to the running values, the values it wrote become their keys'
//!    latest values (while its output is still in the core's cache), and
//!    its receipt is recorded.
//! 6. **Finish**: the touched keys, gathered in parallel in key-id order
//!    and sorted (on [`StateKey::order_prefix`] first), with their latest
//!    or running values where they differ from the state before the block;
//!    then the epilogue, serial, over those final values. Whether a written
//!    value equals the value before the block is found by the worker that
//!    wrote it, while both are in its cache (a mask per attempt); the finish
//!    only compares aggregates and what a worker could not read.
//!
//! # Invariants
//!
//! - A transaction is committed only after every earlier one, and only with
//!   an output computed from exact inputs: its exact reads were produced by
//!   committed sources whose effects did not change since, and each of its
//!   bounded operations has the outcome it has in serial order. Since a
//!   contract sees a `delta` key only through those outcomes, the output
//!   equals the serial one.
//! - A re-executed transaction whose effects differ marks the keys it
//!   writes dirty, so every later transaction that read its old output is
//!   re-executed when the pointer reaches it; one whose effects are
//!   unchanged leaves them clean.
//! - Blocks with little parallelism (one thread, a handful of
//!   transactions, or a dependency chain nearly as long as the block) run
//!   on the serial executor, so this executor is never much slower than it.
//!   The commonest such block, one signer sending most of it, is caught
//!   before scheduling by a frequent-signer pass (Misra-Gries, no
//!   hashing); others after scheduling, from the graph's depth.
//!
//! # Costs
//!
//! The pool's threads are pinned one to a core when there is one thread per
//! core, the default (`cores_to_pin`): the threads a block wakes then never
//! take turns on one core while another idles.
//!
//! The scheduler's buffers (hash map, access and edge arrays) and the
//! executor's per-key and per-transaction arrays are kept from one block to
//! the next, so a block does not pay page faults and rehashing for them
//! (allocated afresh, they were about a third of the page faults of a
//! 5,000-transaction block); outputs and values are freed on all threads. A
//! resolved access is 16 bytes and names its key by id. Work that would
//! otherwise be serial is done by the workers, in parallel: each attempt
//! carries whether its writes equal the values before the block and the key
//! ids of its writes, deltas and predicates, so the in-order commit and the
//! finish neither search access sets nor chase values through memory. The
//! phase timings and counts of [`ExecutionStats`] are what `parlend bench
//! exec` and the node's metrics report.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};
use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use super::schedule::{NONE, ResolvedAccess, Schedule, Scratch, one_signer_dominates, schedule_with};
use super::{BlockContext, BlockError, BlockOutput, TxOutput, TxSource, Vm, execute_block_serial, run_transaction};
use crate::access::{AccessMode, StateKey};
use crate::block::Receipt;
use crate::limits::AGGREGATE_FIELDS_MAX;
use crate::state::{
    Fields, Overlay, SignedDelta, StateReader, StoreError, Value, WriteSet, decode_fields, encode_fields,
};
use crate::tx::VerifiedTransaction;

/// Blocks smaller than this run serially: coordinating threads costs more
/// than it saves.
pub const PARALLEL_TRANSACTIONS_MIN: usize = 16;

/// Blocks whose average parallelism (transactions per level of the longest
/// dependency chain) is below this run serially.
pub const PARALLELISM_MIN: u32 = 2;

/// Outputs one task frees at least, when a block's outputs are dropped.
const FREE_CHUNK: usize = 512;

/// Final values one task compares with the state before the block at least.
const FINAL_CHUNK: usize = 256;

/// Spins before an idle worker yields its core.
const IDLE_SPINS_BEFORE_YIELD: u32 = 64;

/// What a block's execution cost, for benchmarks and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutionStats {
    /// Time spent building the dependency graph.
    pub schedule: Duration,
    /// Transactions executed a second time during commit.
    pub reexecutions: usize,
    /// Time spent in the block prologue.
    pub prologue: Duration,
    /// Time spent executing and committing transactions.
    pub execute: Duration,
    /// Of `execute`, time the in-order commit spent validating, re-executing
    /// and applying (serial work: it bounds the speedup).
    pub commit: Duration,
    /// Time spent merging final values, in the epilogue and diffing.
    pub finish: Duration,
    /// Length of the longest dependency chain.
    pub depth: u32,
    /// Declared accesses in the block.
    pub accesses: usize,
    /// Dependency edges between transactions.
    pub edges: usize,
    /// Whether the block ran on the serial executor instead.
    pub serial_fallback: bool,
}

/// Why a thread pool could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the executor's thread pool: {0}")]
pub struct PoolError(String);

/// The parallel executor, with its own thread pool.
pub struct ParallelExecutor {
    pool: rayon::ThreadPool,
    threads: usize,
    scratch: Mutex<Scratch>,
    buffers: Mutex<Buffers>,
}

impl ParallelExecutor {
    /// An executor with `threads` worker threads (0: one per core).
    pub fn new(threads: usize) -> Result<ParallelExecutor, PoolError> {
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        let cores = cores_to_pin(threads, core_affinity::get_core_ids().unwrap_or_default());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("parlend-exec-{index}"))
            .start_handler(move |index| {
                if let Some(&core) = cores.get(index) {
                    core_affinity::set_for_current(core);
                }
            })
            .build()
            .map_err(|error| PoolError(error.to_string()))?;
        let (scratch, buffers) = (Mutex::new(Scratch::default()), Mutex::new(Buffers::default()));
        Ok(ParallelExecutor { pool, threads, scratch, buffers })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The pool, for other parallel stages (signature verification).
    pub fn pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    /// Executes a block; the result equals [`execute_block_serial`]'s.
    pub fn execute_block<V: Vm>(
        &self,
        vm: &V,
        base: &dyn StateReader,
        context: &BlockContext,
        transactions: &[VerifiedTransaction<V::Instruction>],
    ) -> Result<BlockOutput, BlockError> {
        self.execute_block_with_stats(vm, base, context, transactions).map(|(output, _)| output)
    }

    /// Executes a block and reports what it cost.
    pub fn execute_block_with_stats<V: Vm>(
        &self,
        vm: &V,
        base: &dyn StateReader,
        context: &BlockContext,
        transactions: &[VerifiedTransaction<V::Instruction>],
    ) -> Result<(BlockOutput, ExecutionStats), BlockError> {
        if self.threads == 1
            || transactions.len() < PARALLEL_TRANSACTIONS_MIN
            || one_signer_dominates(transactions, PARALLELISM_MIN)
        {
            let stats = ExecutionStats { serial_fallback: true, ..ExecutionStats::default() };
            return execute_block_serial(vm, base, context, transactions).map(|output| (output, stats));
        }
        let started = Instant::now();
        // One block at a time uses the scratch memory; a concurrent caller
        // (the node verifies and executes on different paths) gets its own.
        let mut own = Scratch::default();
        let mut shared = self.scratch.try_lock();
        let scratch = shared.as_deref_mut().unwrap_or(&mut own);
        let schedule = schedule_with(transactions, scratch);
        let mut stats = ExecutionStats {
            schedule: started.elapsed(),
            depth: schedule.depth,
            accesses: schedule.accesses.len(),
            edges: schedule.successors.len(),
            ..ExecutionStats::default()
        };
        if !schedule.parallelism_at_least(PARALLELISM_MIN) {
            stats.serial_fallback = true;
            scratch.recycle(schedule);
            return execute_block_serial(vm, base, context, transactions).map(|output| (output, stats));
        }
        let result = self.execute_scheduled(vm, base, context, transactions, &schedule, &mut stats);
        scratch.recycle(schedule);
        result.map(|output| (output, stats))
    }

    /// Steps 3 to 6 of the algorithm, on a block worth running in parallel.
    fn execute_scheduled<V: Vm>(
        &self,
        vm: &V,
        base: &dyn StateReader,
        context: &BlockContext,
        transactions: &[VerifiedTransaction<V::Instruction>],
        schedule: &Schedule,
        stats: &mut ExecutionStats,
    ) -> Result<BlockOutput, BlockError> {
        let started = Instant::now();
        let mut overlay = Overlay::new(base);
        vm.begin_block(context, &mut overlay)?;
        stats.prologue = started.elapsed();
        let started = Instant::now();
        // Transactions read the values after the prologue from `overlay`,
        // each key once, on first use.
        let buffers = self.buffers.try_lock().map(|mut kept| std::mem::take(&mut *kept)).unwrap_or_default();
        let run = Run::new(vm, context, transactions, schedule, &overlay, buffers, self.threads);
        self.pool.scope(|scope| {
            for _ in 0..self.threads {
                scope.spawn(|_| run.work());
            }
        });
        let mut commit = run.finish()?;
        stats.reexecutions = commit.reexecutions;
        stats.commit = commit.busy;
        stats.execute = started.elapsed();
        let started = Instant::now();

        let changes = self.finish_block(vm, base, context, &overlay, schedule, &run, &mut commit)?;
        let receipts = std::mem::take(&mut commit.receipts);
        let buffers = self.empty(run, commit);
        if let Some(mut kept) = self.buffers.try_lock() {
            *kept = buffers;
        }
        stats.finish = started.elapsed();
        Ok(BlockOutput { receipts, changes })
    }

    /// The block's buffers, emptied for the next block. Thousands of
    /// outputs and values to free: on all threads, not on this one alone.
    fn empty<V: Vm>(&self, run: Run<'_, V>, commit: Commit) -> Buffers {
        let Run { mut base_values, mut outputs, pending, global, copies, .. } = run;
        let Commit { running, dirty, touched, mut latest, .. } = commit;
        self.pool.install(|| {
            rayon::join(
                || outputs.par_iter_mut().with_min_len(FREE_CHUNK).for_each(|output| drop(output.get_mut().take())),
                || {
                    base_values.par_iter_mut().with_min_len(FREE_CHUNK).for_each(|value| drop(value.take()));
                    latest.par_iter_mut().with_min_len(FREE_CHUNK).for_each(|value| drop(value.take()));
                },
            )
        });
        Buffers { base_values, outputs, pending, global, copies, running, dirty, touched, latest }
    }
}

/// The cores the pool's threads are pinned to, one each: all the `cores`
/// this process may use, if the pool has a thread for each of them (the default)
/// and more than one; else none, and the operating system places the threads.
///
/// Unpinned, when every core has a worker, the threads a block wakes are
/// often placed on one core, where they take turns for a scheduler tick or
/// two (4 ms on a 250 Hz kernel) before the idle core pulls one: measured on
/// 2 cores, a 5,000-transaction block took 15 or 20 ms to execute depending
/// on where its threads woke. A pool smaller than the machine is not pinned:
/// there are idle cores to wake on, and two such pools (two nodes with
/// `--threads 2`) pinned to the same first cores would share them while the
/// others idle.
pub(super) fn cores_to_pin(threads: usize, cores: Vec<core_affinity::CoreId>) -> Vec<core_affinity::CoreId> {
    if threads > 1 && threads == cores.len() { cores } else { Vec::new() }
}

/// The per-block buffers of the executor, kept from one block to the next:
/// megabytes allocated afresh for every block are page faults on every block.
#[derive(Default)]
struct Buffers {
    base_values: Vec<OnceLock<Result<Option<Value>, StoreError>>>,
    outputs: Vec<RwLock<Option<Arc<Attempt>>>>,
    pending: Vec<AtomicU32>,
    global: Vec<u32>,
    copies: Vec<Vec<OnceLock<Option<Value>>>>,
    running: Vec<Option<Fields>>,
    dirty: Vec<bool>,
    touched: Vec<bool>,
    latest: Vec<Option<Latest>>,
}

impl ParallelExecutor {
    /// The block's changes: the prologue's writes, the final value of every
    /// key the transactions changed (gathered in parallel), then the
    /// epilogue's writes, each compared with the state before the block.
    #[allow(clippy::too_many_arguments)]
    fn finish_block<V: Vm>(
        &self,
        vm: &V,
        base: &dyn StateReader,
        context: &BlockContext,
        prologue: &Overlay<'_>,
        schedule: &Schedule,
        run: &Run<'_, V>,
        commit: &mut Commit,
    ) -> Result<WriteSet, BlockError> {
        // Every key a committed transaction wrote or changed, with its value
        // after the transactions and whether that differs from the value
        // after the prologue (for a key the prologue did not write, the
        // base's). Gathered in key-id order, so the per-key arrays are read
        // front to back; written values are moved, not cloned, and most were
        // compared with the base by the worker that wrote them. Then sorted
        // by key, on integer prefixes first.
        let keys = &schedule.keys;
        let Commit { running, touched, latest, .. } = commit;
        let mut finals: Vec<Final> = self.pool.install(|| {
            latest
                .par_iter_mut()
                .enumerate()
                .with_min_len(FINAL_CHUNK)
                .filter(|(id, _)| touched[*id])
                .filter_map(|(id, latest)| {
                    let key = keys[id];
                    let (value, unchanged) = if key.is_aggregate() {
                        (running[id].as_ref().map(encode_fields)?, None)
                    } else {
                        let Latest { value, unchanged } = latest.take()?;
                        (value, unchanged)
                    };
                    let unchanged = match unchanged {
                        Some(unchanged) => Ok(unchanged),
                        None => run.base(index_u32(id)).map(|before| *before == value),
                    };
                    Some(unchanged.map(|unchanged| Final { prefix: key.order_prefix(), key, value, unchanged }))
                })
                .collect::<Result<_, StoreError>>()
        })?;
        self.pool
            .install(|| finals.par_sort_unstable_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| a.key.cmp(&b.key))));
        let touched: Vec<StateKey> = finals.iter().map(|last| last.key).collect();
        let finals = finals.into_iter().filter(|last| !last.unchanged).map(|last| (last.key, last.value));
        let mut changes: WriteSet = finals.collect();
        let prologue_writes = prologue.writes().clone();
        // Keys whose final value must still be compared with the base: the
        // prologue's (a transaction may have set one back) and the epilogue's.
        let mut compare: Vec<StateKey> = prologue_writes.keys().copied().collect();
        for (key, value) in prologue_writes {
            changes.entry(key).or_insert(value);
        }
        let block = Overlay::with_writes(base, changes);
        let mut epilogue = Overlay::new(&block);
        vm.end_block(context, &mut epilogue, &touched)?;
        let epilogue_writes = epilogue.into_writes();
        let mut changes = block.into_writes();
        compare.extend(epilogue_writes.keys().copied());
        changes.extend(epilogue_writes);
        for key in compare {
            if let Some(value) = changes.get(&key)
                && base.get(&key)? == *value
            {
                changes.remove(&key);
            }
        }
        Ok(changes)
    }
}

/// One execution attempt: an output, or an error that is final only if it
/// happens with exact inputs; with which of the output's writes leave their
/// key as it was after the prologue, found by the worker that ran it while
/// both values were in its cache (at the end of the block, each comparison
/// would be two cache misses on the one thread that finishes it).
struct Attempt {
    output: Result<TxOutput, BlockError>,
    /// Bit `i`: `writes[i]` (not an aggregate) was compared with the value
    /// after the prologue.
    compared: u64,
    /// Bit `i`: and equals it.
    unchanged: u64,
    /// The key ids of the output's writes, then of its deltas, then of its
    /// predicates' keys, as far as they fit ([`NONE`] beyond): found by the
    /// worker, so that the in-order commit need not search for them.
    ids: [u32; ATTEMPT_KEY_IDS],
}

/// Key ids an [`Attempt`] carries.
const ATTEMPT_KEY_IDS: usize = 12;

// A transaction writes only keys it declares, so its writes fit the masks.
const _: () = assert!(crate::limits::ACCESS_KEYS_PER_TRANSACTION_MAX <= 64);

impl Attempt {
    /// The key id at `position` in [`Attempt::ids`], if recorded.
    fn id(&self, position: usize) -> Option<u32> {
        self.ids.get(position).copied().filter(|&id| id != NONE)
    }

    /// Whether `writes[position]` leaves its key as it was after the
    /// prologue (`None`: not compared).
    fn unchanged(&self, position: usize) -> Option<bool> {
        let bit = 1u64.checked_shl(u32::try_from(position).ok()?)?;
        (self.compared & bit != 0).then_some(self.unchanged & bit != 0)
    }
}

/// The value the last committed writer of a non-aggregate key wrote.
struct Latest {
    value: Option<Value>,
    /// Whether it is the value after the prologue (`None`: not compared).
    unchanged: Option<bool>,
}

/// A key's value after the block's transactions.
struct Final {
    /// [`StateKey::order_prefix`], to sort on.
    prefix: u64,
    key: StateKey,
    value: Option<Value>,
    /// Whether it is the value after the prologue.
    unchanged: bool,
}

/// The commit pointer and everything only it touches.
#[derive(Default)]
struct Commit {
    next: usize,
    /// The exact value of each aggregate after every committed transaction,
    /// by key id (`None` until a transaction changes it).
    running: Vec<Option<Fields>>,
    /// Keys whose value, as later transactions read it speculatively, is
    /// not the exact one.
    dirty: Vec<bool>,
    dirty_count: usize,
    /// Keys a committed transaction wrote or changed.
    touched: Vec<bool>,
    /// The value the last committed writer of each non-aggregate key wrote
    /// (`None` until one does).
    latest: Vec<Option<Latest>>,
    receipts: Vec<Receipt>,
    reexecutions: usize,
    busy: Duration,
    error: Option<BlockError>,
}

struct Run<'a, V: Vm> {
    vm: &'a V,
    context: &'a BlockContext,
    transactions: &'a [VerifiedTransaction<V::Instruction>],
    schedule: &'a Schedule,
    /// The state after the prologue.
    state: &'a dyn StateReader,
    /// Its value of each key, read on first use.
    base_values: Vec<OnceLock<Result<Option<Value>, StoreError>>>,
    outputs: Vec<RwLock<Option<Arc<Attempt>>>>,
    pending: Vec<AtomicU32>,
    /// For each key, its slot among the global keys
    /// ([`StateKey::is_global`]: read by transactions of every user), or
    /// [`NONE`].
    global: Vec<u32>,
    /// Per worker, its copies of the global keys' values.
    copies: Vec<Vec<OnceLock<Option<Value>>>>,
    queue: Injector<u32>,
    commit: Mutex<Commit>,
    committed: AtomicUsize,
    failed: AtomicBool,
}

/// Reads for a speculative execution.
struct Speculative<'r, 'a, V: Vm> {
    run: &'r Run<'a, V>,
    index: usize,
}

/// Reads for an execution at the commit pointer: every input is exact.
struct Exact<'r, 'a, V: Vm> {
    run: &'r Run<'a, V>,
    commit: &'r Commit,
    index: usize,
}

fn corrupt(key: StateKey) -> StoreError {
    StoreError::corrupt_key(&key, "not an aggregate")
}

impl Buffers {
    /// The buffers sized for one block of `count` transactions over
    /// `schedule`'s keys, with `threads` workers. Emptied by
    /// `ParallelExecutor::empty`: clearing drops nothing.
    fn reset_for(mut self, schedule: &Schedule, count: usize, threads: usize) -> Buffers {
        let keys = schedule.keys.len();
        self.base_values.clear();
        self.base_values.resize_with(keys, OnceLock::new);
        self.outputs.clear();
        self.outputs.resize_with(count, || RwLock::new(None));
        // Global keys get consecutive slots in each worker's copies.
        let mut globals = 0;
        self.global.clear();
        self.global.extend(schedule.keys.iter().map(|key| {
            if !key.is_global() {
                return NONE;
            }
            globals += 1;
            globals - 1
        }));
        self.copies.resize_with(threads, Vec::new);
        for copies in &mut self.copies {
            copies.clear();
            copies.resize_with(globals as usize, OnceLock::new);
        }
        self.pending.clear();
        self.pending.extend(schedule.dependency_counts.iter().map(|&count| AtomicU32::new(count)));
        self.running.clear();
        self.running.resize(keys, None);
        self.dirty.clear();
        self.dirty.resize(keys, false);
        self.touched.clear();
        self.touched.resize(keys, false);
        self.latest.clear();
        self.latest.resize_with(keys, || None);
        self
    }
}

impl<'a, V: Vm> Run<'a, V> {
    fn new(
        vm: &'a V,
        context: &'a BlockContext,
        transactions: &'a [VerifiedTransaction<V::Instruction>],
        schedule: &'a Schedule,
        state: &'a dyn StateReader,
        buffers: Buffers,
        threads: usize,
    ) -> Run<'a, V> {
        let count = transactions.len();
        let Buffers { base_values, outputs, pending, global, copies, running, dirty, touched, latest } =
            buffers.reset_for(schedule, count, threads);
        let queue = Injector::new();
        for (index, &dependencies) in schedule.dependency_counts.iter().enumerate() {
            if dependencies == 0 {
                queue.push(u32::try_from(index).expect("bounded block size"));
            }
        }
        Run {
            vm,
            context,
            transactions,
            schedule,
            state,
            base_values,
            outputs,
            pending,
            global,
            copies,
            queue,
            commit: Mutex::new(Commit {
                running,
                dirty,
                touched,
                latest,
                receipts: Vec::with_capacity(count),
                ..Commit::default()
            }),
            committed: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        }
    }

    fn done(&self) -> bool {
        self.failed.load(Ordering::Acquire) || self.committed.load(Ordering::Acquire) == self.transactions.len()
    }

    /// A worker: run ready transactions, help the commit pointer, until the
    /// block is committed.
    fn work(&self) {
        let mut idle = 0u32;
        while !self.done() {
            match self.queue.steal() {
                Steal::Success(index) => {
                    idle = 0;
                    self.run_from(index as usize);
                }
                Steal::Retry => {}
                Steal::Empty => {
                    self.try_commit();
                    idle += 1;
                    if idle < IDLE_SPINS_BEFORE_YIELD {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }

    /// Executes `index`, then keeps going with one successor it made ready
    /// (no queue round trip along a chain); other ready successors are queued.
    fn run_from(&self, mut index: usize) {
        loop {
            if self.failed.load(Ordering::Acquire) {
                return;
            }
            let output =
                run_transaction(self.vm, self.context, index, &self.transactions[index], &self.speculative(index));
            *self.outputs[index].write() = Some(Arc::new(self.attempt(index, output)));
            let mut next = None;
            for &successor in self.schedule.successors_of(index) {
                if self.pending[successor as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                    match next {
                        None => next = Some(successor as usize),
                        Some(_) => self.queue.push(successor),
                    }
                }
            }
            self.try_commit();
            match next {
                Some(successor) => index = successor,
                None => return,
            }
        }
    }

    /// Transaction `index`'s access to `key`: at `position` in its accesses
    /// (the view's hint: they are in access-set order) when that is the
    /// key, else found by search.
    fn access_of(&self, index: usize, key: &StateKey, position: Option<usize>) -> Option<&ResolvedAccess> {
        let accesses = self.schedule.accesses_of(index);
        match position.and_then(|position| accesses.get(position)) {
            Some(access) if self.schedule.key(access) == key => Some(access),
            _ => self.schedule.access(index, key),
        }
    }

    /// An attempt of transaction `index`, its writes compared with the
    /// values after the prologue. A value that cannot be read is left
    /// uncompared: the end of the block reads it again and fails there.
    fn attempt(&self, index: usize, output: Result<TxOutput, BlockError>) -> Attempt {
        let mut ids = [NONE; ATTEMPT_KEY_IDS];
        if let Ok(output) = &output {
            let keys = output
                .writes
                .iter()
                .map(|(key, _)| key)
                .chain(output.deltas.iter().map(|(key, _)| key))
                .chain(output.predicates.iter().map(|predicate| &predicate.key));
            for (slot, key) in ids.iter_mut().zip(keys) {
                *slot = self.schedule.access(index, key).map_or(NONE, |access| access.key_id);
            }
        }
        let mut attempt = Attempt { output, compared: 0, unchanged: 0, ids };
        let (mut compared, mut unchanged) = (0u64, 0u64);
        if let Ok(output) = &attempt.output {
            for (position, (key, value)) in output.writes.iter().enumerate() {
                let Some(bit) = u32::try_from(position).ok().and_then(|position| 1u64.checked_shl(position)) else {
                    break;
                };
                if !key.is_aggregate()
                    && let Some(id) = self.key_id(index, &attempt, position, key)
                    && let Ok(before) = self.base(id)
                {
                    compared |= bit;
                    if before == value {
                        unchanged |= bit;
                    }
                }
            }
        }
        (attempt.compared, attempt.unchanged) = (compared, unchanged);
        attempt
    }

    /// The id of `key`, found at `position` in `attempt`'s key ids or by
    /// search among transaction `index`'s accesses.
    fn key_id(&self, index: usize, attempt: &Attempt, position: usize, key: &StateKey) -> Option<u32> {
        attempt.id(position).or_else(|| self.schedule.access(index, key).map(|access| access.key_id))
    }

    fn speculative(&self, index: usize) -> Speculative<'_, 'a, V> {
        Speculative { run: self, index }
    }

    fn output(&self, index: usize) -> Option<Arc<Attempt>> {
        self.outputs[index].read().clone()
    }

    /// The value of `key` as left by transaction `source` (or the state
    /// before the block for [`NONE`]). A source that did not write the key
    /// (it failed, or has not run yet) passes through to its own source.
    fn value_at(&self, mut source: u32, key: &StateKey, key_id: u32) -> Result<Option<Value>, StoreError> {
        while source != NONE {
            if let Some(written) = self.written_by(source, key) {
                return Ok(written);
            }
            source = self.schedule.access(source as usize, key).map_or(NONE, |access| access.source);
        }
        self.base_for_reader(key_id)
    }

    /// The value of key `key_id` after the prologue, for a transaction to
    /// keep. Every transaction of a block reads the same configuration,
    /// index and price values: cloning one `Bytes` from all cores would make
    /// its reference count the most contended cache line of the block, and
    /// a copy per read is an allocation per read. So each worker clones its
    /// own copy of a global key's value; other values (an account's) are
    /// cloned as they are.
    fn base_for_reader(&self, key_id: u32) -> Result<Option<Value>, StoreError> {
        let base = self.base(key_id)?;
        let slot = self.global[key_id as usize];
        if slot == NONE {
            return Ok(base.clone());
        }
        match rayon::current_thread_index().and_then(|worker| self.copies.get(worker)) {
            Some(copies) => Ok(copies[slot as usize].get_or_init(|| unshared(base)).clone()),
            None => Ok(unshared(base)),
        }
    }

    /// The value of key `key_id` after the prologue, read once.
    fn base(&self, key_id: u32) -> Result<&Option<Value>, StoreError> {
        let id = key_id as usize;
        self.base_values[id].get_or_init(|| self.state.get(&self.schedule.keys[id])).as_ref().map_err(Clone::clone)
    }

    /// The value a speculative exact read of `access` sees: its source's,
    /// plus, on an aggregate, the deltas of the transactions in between. A
    /// source that did not write the key passes through to its own source,
    /// collecting the deltas before it as well.
    fn speculative_read(&self, access: &ResolvedAccess) -> Result<Option<Value>, StoreError> {
        let key = self.schedule.key(access);
        if !key.is_aggregate() {
            return self.value_at(access.source, key, access.key_id);
        }
        let mut net = [SignedDelta::ZERO; AGGREGATE_FIELDS_MAX];
        let mut current = *access;
        // Decoded where it lies: a value before the block is not copied.
        let fields = loop {
            self.collect_deltas(&current, key, &mut net);
            if current.source == NONE {
                break decode_fields(self.base(current.key_id)?.as_deref());
            }
            if let Some(written) = self.written_by(current.source, key) {
                break decode_fields(written.as_deref());
            }
            match self.schedule.access(current.source as usize, key) {
                Some(previous) => current = *previous,
                None => break decode_fields(self.base(current.key_id)?.as_deref()),
            }
        };
        let mut fields = fields.map_err(|_| corrupt(*key))?;
        for (field, delta) in fields.iter_mut().zip(&net) {
            // Speculative: a sum out of range means an earlier outcome will
            // differ, and validation catches it.
            *field = delta.apply(*field).unwrap_or(*field);
        }
        Ok(encode_fields(&fields))
    }

    /// The value transaction `writer` wrote to `key`, if it executed and wrote it.
    fn written_by(&self, writer: u32, key: &StateKey) -> Option<Option<Value>> {
        let attempt = self.output(writer as usize)?;
        let Ok(output) = &attempt.output else { return None };
        let position = output.writes.binary_search_by(|(written, _)| written.cmp(key)).ok()?;
        Some(output.writes[position].1.clone())
    }

    /// Adds to `net` the deltas of the `delta` transactions between
    /// `access`'s source and its transaction (an access to `key`).
    fn collect_deltas(&self, access: &ResolvedAccess, key: &StateKey, net: &mut [SignedDelta; AGGREGATE_FIELDS_MAX]) {
        let mut event = access.last_delta;
        while event != NONE {
            let delta_event = self.schedule.delta_events[event as usize];
            if let Some(attempt) = self.output(delta_event.transaction as usize)
                && let Ok(output) = &attempt.output
                && let Ok(position) = output.deltas.binary_search_by(|(changed, _)| changed.cmp(key))
            {
                for (total, delta) in net.iter_mut().zip(&output.deltas[position].1) {
                    *total = total.combine(*delta).unwrap_or(*total);
                }
            }
            event = delta_event.previous;
        }
    }

    fn try_commit(&self) {
        if let Some(mut commit) = self.commit.try_lock() {
            self.advance(&mut commit);
        }
    }

    /// Commits executed transactions in block order, as far as possible.
    fn advance(&self, commit: &mut Commit) {
        let started = Instant::now();
        self.advance_inner(commit);
        commit.busy += started.elapsed();
    }

    fn advance_inner(&self, commit: &mut Commit) {
        while commit.next < self.transactions.len() && commit.error.is_none() {
            let index = commit.next;
            let Some(attempt) = self.output(index) else { return };
            if let Err(error) = self.commit_one(commit, index, attempt) {
                commit.error = Some(error);
                self.failed.store(true, Ordering::Release);
                return;
            }
            commit.next += 1;
            self.committed.store(commit.next, Ordering::Release);
        }
    }

    fn commit_one(&self, commit: &mut Commit, index: usize, attempt: Arc<Attempt>) -> Result<(), BlockError> {
        let accesses = self.schedule.accesses_of(index);
        for access in accesses {
            if access.aggregate && access.mode != AccessMode::Read {
                let running = &mut commit.running[access.key_id as usize];
                if running.is_none() {
                    let base = self.base(access.key_id)?.as_deref();
                    let corrupt = |_| BlockError::Corrupt(*self.schedule.key(access));
                    *running = Some(decode_fields(base).map_err(corrupt)?);
                }
            }
        }
        let valid = match &attempt.output {
            Ok(output) => {
                self.inputs_unchanged(commit, accesses) && self.predicates_hold(commit, index, &attempt, output)
            }
            Err(_) => false,
        };
        let (attempt, changed) = if valid {
            (attempt, false)
        } else {
            commit.reexecutions += 1;
            let exact = Exact { run: self, commit, index };
            let output = run_transaction(self.vm, self.context, index, &self.transactions[index], &exact)?;
            let changed = match &attempt.output {
                Ok(previous) => !same_effects(previous, &output),
                Err(_) => true,
            };
            let attempt = Arc::new(self.attempt(index, Ok(output)));
            *self.outputs[index].write() = Some(attempt.clone());
            (attempt, changed)
        };
        let Ok(output) = &attempt.output else { unreachable!("an exact execution either succeeded or returned") };
        // With nothing stale and an output as speculated, no key changes
        // state (see the cases below).
        let settled = !changed && commit.dirty_count == 0;
        for access in accesses.iter().filter(|_| !settled) {
            let was = commit.dirty[access.key_id as usize];
            // Later readers of a key this transaction wrote see its (now
            // exact) output: stale only if that output changed. Readers of a
            // key it declared but did not write see through it to earlier
            // values, which stay as stale as they were.
            let key = self.schedule.key(access);
            let wrote = output.writes.binary_search_by(|(written, _)| written.cmp(key)).is_ok();
            let now = match access.mode {
                AccessMode::Write if wrote => changed,
                AccessMode::Write | AccessMode::Delta => was || changed,
                AccessMode::Read => was,
            };
            if was != now {
                commit.dirty[access.key_id as usize] = now;
                if now { commit.dirty_count += 1 } else { commit.dirty_count -= 1 }
            }
        }
        self.apply(commit, index, &attempt)?;
        let tx_hash = self.transactions[index].hash();
        commit.receipts.push(Receipt { tx_hash, status: output.status.clone(), events: output.events.clone() });
        Ok(())
    }

    fn inputs_unchanged(&self, commit: &Commit, accesses: &[ResolvedAccess]) -> bool {
        commit.dirty_count == 0
            || accesses.iter().all(|access| access.mode == AccessMode::Delta || !commit.dirty[access.key_id as usize])
    }

    fn predicates_hold(&self, commit: &Commit, index: usize, attempt: &Attempt, output: &TxOutput) -> bool {
        let first = output.writes.len() + output.deltas.len();
        output.predicates.iter().enumerate().all(|(position, predicate)| {
            let Some(id) = self.key_id(index, attempt, first + position, &predicate.key) else { return false };
            let Some(fields) = &commit.running[id as usize] else { return false };
            predicate.matches(fields[usize::from(predicate.field)])
        })
    }

    /// Applies a committed output to the running aggregates.
    fn apply(&self, commit: &mut Commit, index: usize, attempt: &Attempt) -> Result<(), BlockError> {
        let Ok(output) = &attempt.output else { return Ok(()) };
        for (position, (key, value)) in output.writes.iter().enumerate() {
            let Some(id) = self.key_id(index, attempt, position, key) else { continue };
            let id = id as usize;
            commit.touched[id] = true;
            if key.is_aggregate() {
                let fields = decode_fields(value.as_deref()).map_err(|_| BlockError::Corrupt(*key))?;
                commit.running[id] = Some(fields);
            } else {
                // The output is in this core's cache now; at the end of the
                // block it would be a cache miss per key.
                commit.latest[id] = Some(Latest { value: value.clone(), unchanged: attempt.unchanged(position) });
            }
        }
        for (position, (key, net)) in output.deltas.iter().enumerate() {
            let Some(id) = self.key_id(index, attempt, output.writes.len() + position, key) else { continue };
            commit.touched[id as usize] = true;
            let running = commit.running[id as usize].as_mut().ok_or(BlockError::Corrupt(*key))?;
            for (field, delta) in running.iter_mut().zip(net) {
                *field = delta.apply(*field).map_err(|_| BlockError::Corrupt(*key))?;
            }
        }
        Ok(())
    }

    /// Finishes committing (every transaction has executed) and hands back
    /// the commit state.
    fn finish(&self) -> Result<Commit, BlockError> {
        let mut commit = std::mem::take(&mut *self.commit.lock());
        if commit.error.is_none() {
            self.advance(&mut commit);
        }
        match commit.error.take() {
            Some(error) => Err(error),
            None if commit.next == self.transactions.len() => Ok(commit),
            None => Err(BlockError::Store(StoreError::Interrupted("not every transaction was committed"))),
        }
    }
}

/// A copy of a value that shares no reference count with it.
fn unshared(value: &Option<Value>) -> Option<Value> {
    value.as_deref().map(Value::copy_from_slice)
}

fn index_u32(index: usize) -> u32 {
    u32::try_from(index).expect("key and transaction counts are bounded by the block limits")
}

/// Whether two outputs have the same effects (status, writes, deltas);
/// predicates are not effects.
fn same_effects(a: &TxOutput, b: &TxOutput) -> bool {
    a.status == b.status && a.writes == b.writes && a.deltas == b.deltas
}

impl<V: Vm> TxSource for Speculative<'_, '_, V> {
    fn read(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.read_hinted(key, None)
    }

    fn delta_base(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.delta_base_hinted(key, None)
    }

    fn read_hinted(&self, key: &StateKey, position: Option<usize>) -> Result<Option<Value>, StoreError> {
        match self.run.access_of(self.index, key, position) {
            Some(access) => self.run.speculative_read(access),
            None => Ok(None),
        }
    }

    fn delta_base_hinted(&self, key: &StateKey, position: Option<usize>) -> Result<Option<Value>, StoreError> {
        match self.run.access_of(self.index, key, position) {
            Some(access) => self.run.value_at(access.source, key, access.key_id),
            None => Ok(None),
        }
    }
}

impl<V: Vm> TxSource for Exact<'_, '_, V> {
    fn read(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.read_hinted(key, None)
    }

    fn delta_base(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.read_hinted(key, None)
    }

    fn read_hinted(&self, key: &StateKey, position: Option<usize>) -> Result<Option<Value>, StoreError> {
        let Some(access) = self.run.access_of(self.index, key, position) else { return Ok(None) };
        if key.is_aggregate()
            && let Some(fields) = &self.commit.running[access.key_id as usize]
        {
            return Ok(encode_fields(fields));
        }
        self.run.value_at(access.source, key, access.key_id)
    }

    fn delta_base_hinted(&self, key: &StateKey, position: Option<usize>) -> Result<Option<Value>, StoreError> {
        self.read_hinted(key, position)
    }
}
