//! `parlend bench exec`: the executor on named workloads, serial baseline
//! and parallel figure from the same run.
//!
//! Every workload is a set of pre-signed transactions over an in-memory
//! state, with access sets from `simulateTransaction`'s engine (so they are
//! exactly what a client would declare). Each measured block is executed by
//! the serial reference executor and by the parallel executor alternately,
//! `repeat` times each, and the medians are reported side by side, so a
//! noisy machine affects both figures alike (after three untimed warm-up
//! runs of each on the first block). The outputs are compared
//! byte for byte and the state roots after the run must be equal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parlend_contracts::{LendingVm, VerifiedTransaction};
use parlend_ledger::exec::{BlockContext, BlockOutput, ParallelExecutor, execute_block_serial, verify_transactions};
use parlend_ledger::state::{
    CommitmentUpdate, StateCommitment, Value, WriteSet, key_hash, prepare_update_by_library, value_hash,
};
use parlend_ledger::{Hash, StateKey};
use serde::Serialize;

pub use crate::workload::WorkloadKind;
use crate::workload::{WORKLOAD_CHAIN_ID, apply};

/// Benchmark parameters.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    /// The workload.
    pub workload: WorkloadKind,
    /// Transactions measured.
    pub transactions: usize,
    /// Transactions per block.
    pub block_size: usize,
    /// Executor threads.
    pub threads: usize,
    /// Runs of each executor per block; medians are reported.
    pub repeat: usize,
    /// Seed of the workload's random choices.
    pub seed: u64,
}

/// Untimed runs of each executor on the first block.
const WARM_UP_RUNS: usize = 3;

/// What a run measured. Every figure comes from this run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    /// Workload name.
    pub workload: &'static str,
    /// Transactions measured.
    pub transactions: usize,
    /// Blocks measured.
    pub blocks: usize,
    /// Executor threads.
    pub threads: usize,
    /// Runs per executor per block.
    pub repeat: usize,
    /// Serial executor throughput (median), transactions per second.
    pub serial_tps: f64,
    /// Parallel executor throughput (median), transactions per second.
    pub parallel_tps: f64,
    /// `parallel_tps / serial_tps`.
    pub speedup: f64,
    /// Parallel execution time per block (sum of the blocks' medians over
    /// the blocks), milliseconds.
    pub parallel_ms_per_block: f64,
    /// Time to compute a block's state root (the state tree's update from
    /// the block's changes, median of `repeat` runs, summed over the blocks
    /// and divided by them), milliseconds.
    pub state_root_ms_per_block: f64,
    /// `state_root_ms_per_block / parallel_ms_per_block`.
    pub state_root_share: f64,
    /// The same block's tree update by the `jmt` library alone (one
    /// thread), measured alike: the reference the node's update replaces.
    pub library_root_ms_per_block: f64,
    /// `library_root_ms_per_block / parallel_ms_per_block`.
    pub library_root_share: f64,
    /// The hashing a block's tree update does, on one thread (median of
    /// `repeat` runs, per block): each new node hashed whole, each written
    /// key and value hashed, as the update computes them.
    pub root_hashing_ms_per_block: f64,
    /// `root_hashing_ms_per_block` spread evenly over the executor's
    /// threads, over `parallel_ms_per_block`: the least share of parallel
    /// execution an update that hashes each new node whole could take on
    /// those threads (one that kept an internal node's inner hashes and
    /// rehashed only the changed halves could go below it).
    pub root_hashing_floor_share: f64,
    /// Time to build the dependency graph, per transaction (median), nanoseconds.
    pub schedule_ns_per_tx: f64,
    /// Transactions re-executed at commit, per run.
    pub reexecutions: usize,
    /// Transactions that succeeded (the rest failed with a reason, as in serial order).
    pub succeeded: usize,
    /// Whether the parallel executor chose the serial path for any block.
    pub serial_fallback: bool,
    /// Signature verification throughput on the same threads, transactions per second.
    pub signature_verification_tps: f64,
    /// Whether receipts and state roots equal the serial executor's.
    pub state_hash_equal: bool,
    /// State root after the serial run.
    pub serial_state_root: Hash,
    /// State root after the parallel run.
    pub parallel_state_root: Hash,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

#[allow(clippy::float_arithmetic)]
fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-12)
}

/// One block's timed runs, reduced to medians.
struct BlockSample {
    serial: Duration,
    parallel: Duration,
    schedule: Duration,
    reexecutions: usize,
    serial_fallback: bool,
    /// Every parallel run's receipts and changes equal the serial run's.
    equal: bool,
    /// The serial output (it moves the state on).
    serial_output: BlockOutput,
    /// The first parallel run's changes (the state hash is computed from them).
    parallel_changes: WriteSet,
}

/// Runs `block` serially and in parallel alternately, `repeat` times each.
fn measure_block(
    executor: &ParallelExecutor,
    state: &BTreeMap<StateKey, Value>,
    context: &BlockContext,
    block: &[VerifiedTransaction],
    repeat: usize,
) -> anyhow::Result<BlockSample> {
    let vm = LendingVm;
    let (mut serial_times, mut parallel_times, mut schedule_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut reexecutions, mut serial_fallback) = (0, false);
    // Both executors' outputs are compared with this untimed serial one and
    // dropped before the next timed run, so every timed run starts with the
    // same memory in use.
    let serial = execute_block_serial(&vm, state, context, block)?;
    let mut equal = true;
    let mut parallel = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let output = execute_block_serial(&vm, state, context, block)?;
        serial_times.push(started.elapsed());
        equal &= output == serial;
        drop(output);
        let started = Instant::now();
        let (output, stats) = executor.execute_block_with_stats(&vm, state, context, block)?;
        parallel_times.push(started.elapsed());
        schedule_times.push(stats.schedule);
        if std::env::var_os("PARLEND_BENCH_PHASES").is_some() {
            eprintln!("phases: serial {:?} parallel {:?} {stats:?}", serial_times.last(), parallel_times.last());
        }
        reexecutions = stats.reexecutions;
        serial_fallback |= stats.serial_fallback;
        equal &= output.receipts == serial.receipts;
        // The state hash is computed from a parallel output's own changes:
        // the first one's, kept from then on by both executors' runs alike.
        parallel.get_or_insert(output.changes);
    }
    Ok(BlockSample {
        serial: median(serial_times),
        parallel: median(parallel_times),
        schedule: median(schedule_times),
        reexecutions,
        serial_fallback,
        equal,
        serial_output: serial,
        parallel_changes: parallel.unwrap_or_default(),
    })
}

/// Runs a workload: serial and parallel alternately, `repeat` times per block.
pub fn run(config: &BenchConfig) -> anyhow::Result<BenchReport> {
    let workload = crate::workload::build(config.workload, config.transactions, config.seed)?;
    let executor = ParallelExecutor::new(config.threads)?;

    let started = Instant::now();
    let verified = verify_transactions(executor.pool(), workload.transactions, WORKLOAD_CHAIN_ID);
    let verification = started.elapsed();
    let verified: Vec<VerifiedTransaction> = verified.into_iter().collect::<Result<_, _>>()?;
    let blocks: Vec<&[VerifiedTransaction]> = verified.chunks(config.block_size.max(1)).collect();

    let mut state: BTreeMap<StateKey, Value> = workload.state;
    let mut serial_commitment = StateCommitment::from_entries(state.clone())?;
    let mut parallel_commitment = serial_commitment.clone();
    let (mut serial_total, mut parallel_total, mut schedule_total) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut state_root_total, mut library_root_total, mut root_hashing_total) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut reexecutions, mut serial_fallback, mut equal, mut succeeded) = (0, false, true, 0);
    for (index, block) in blocks.iter().enumerate() {
        let height = index as u64 + 1;
        let context = BlockContext { height, timestamp: workload.context.timestamp + height - 1, ..workload.context };
        if index == 0 {
            // Untimed runs of each first: the allocator's arenas, the thread
            // pool and the caches warm up on them, not on measured samples
            // (the first few runs of a fresh process are up to 3x slower).
            for _ in 0..WARM_UP_RUNS {
                execute_block_serial(&LendingVm, &state, &context, block)?;
                executor.execute_block(&LendingVm, &state, &context, block)?;
            }
        }
        let sample = measure_block(&executor, &state, &context, block, config.repeat)?;
        serial_total += sample.serial;
        parallel_total += sample.parallel;
        schedule_total += sample.schedule;
        reexecutions += sample.reexecutions;
        serial_fallback |= sample.serial_fallback;
        equal &= sample.equal;
        let serial = sample.serial_output;
        succeeded += serial.receipts.iter().filter(|receipt| receipt.status.is_success()).count();
        let update = serial_commitment.prepare(&serial.changes)?;
        serial_commitment.apply(update)?;
        // Each update's runs back to back, so neither runs in the caches
        // and memory the other just churned.
        let (mut root_samples, mut library_samples) = (Vec::new(), Vec::new());
        for _ in 0..config.repeat.max(1) {
            let started = Instant::now();
            let update = parallel_commitment.prepare(&sample.parallel_changes)?;
            root_samples.push(started.elapsed());
            drop(update);
        }
        for _ in 0..config.repeat.max(1) {
            let started = Instant::now();
            let update = prepare_update_by_library(
                &parallel_commitment,
                parallel_commitment.next_version(),
                &sample.parallel_changes,
            )?;
            library_samples.push(started.elapsed());
            drop(update);
        }
        state_root_total += median(root_samples);
        library_root_total += median(library_samples);
        let update = parallel_commitment.prepare(&sample.parallel_changes)?;
        let hashing = (0..config.repeat.max(1)).map(|_| hashing_time(&update, &sample.parallel_changes)).collect();
        root_hashing_total += median(hashing);
        parallel_commitment.apply(update)?;
        apply(&mut state, &serial.changes);
    }
    let transactions = verified.len();
    let serial_tps = per_second(transactions, serial_total);
    let parallel_tps = per_second(transactions, parallel_total);
    #[allow(clippy::float_arithmetic)]
    let (speedup, schedule_ns_per_tx) =
        (parallel_tps / serial_tps, schedule_total.as_nanos() as f64 / transactions.max(1) as f64);
    #[allow(clippy::float_arithmetic)]
    let per_block = |total: Duration| total.as_secs_f64() * 1_000.0 / blocks.len().max(1) as f64;
    let (parallel_ms_per_block, state_root_ms_per_block) = (per_block(parallel_total), per_block(state_root_total));
    #[allow(clippy::float_arithmetic)]
    let state_root_share = state_root_ms_per_block / parallel_ms_per_block.max(1e-12);
    let library_root_ms_per_block = per_block(library_root_total);
    #[allow(clippy::float_arithmetic)]
    let library_root_share = library_root_ms_per_block / parallel_ms_per_block.max(1e-12);
    let root_hashing_ms_per_block = per_block(root_hashing_total);
    #[allow(clippy::float_arithmetic)]
    let root_hashing_floor_share =
        root_hashing_ms_per_block / executor.threads().max(1) as f64 / parallel_ms_per_block.max(1e-12);
    Ok(BenchReport {
        workload: config.workload.name(),
        transactions,
        blocks: blocks.len(),
        threads: executor.threads(),
        repeat: config.repeat.max(1),
        serial_tps,
        parallel_tps,
        speedup,
        parallel_ms_per_block,
        state_root_ms_per_block,
        state_root_share,
        library_root_ms_per_block,
        library_root_share,
        root_hashing_ms_per_block,
        root_hashing_floor_share,
        schedule_ns_per_tx,
        reexecutions,
        succeeded,
        serial_fallback,
        signature_verification_tps: per_second(transactions, verification),
        state_hash_equal: equal && serial_commitment.root() == parallel_commitment.root(),
        serial_state_root: serial_commitment.root(),
        parallel_state_root: parallel_commitment.root(),
    })
}

/// The time to hash, on this thread, what the tree update of `writes`
/// hashes: every node of `update` (the update hashes each new node once)
/// and each written key and value (SHA-256 of the key's encoding, of the
/// value's bytes).
fn hashing_time(update: &CommitmentUpdate, writes: &WriteSet) -> Duration {
    let started = Instant::now();
    let mut folded = 0u8;
    for (_, node) in update.nodes() {
        folded ^= node.hash()[0];
    }
    for (key, value) in writes {
        folded ^= key_hash(key).0[0];
        if let Some(value) = value {
            folded ^= value_hash(value).0[0];
        }
    }
    std::hint::black_box(folded);
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// Every workload runs, agrees with the serial executor and reports its
    /// figures (not a timing test: no figure is compared with a bound).
    #[test]
    fn every_workload_runs_and_agrees_with_the_serial_executor() {
        for &workload in WorkloadKind::value_variants() {
            let config = BenchConfig { workload, transactions: 400, block_size: 200, threads: 2, repeat: 2, seed: 7 };
            let report = run(&config).unwrap_or_else(|error| panic!("{}: {error:#}", workload.name()));
            assert!(report.state_hash_equal, "{}: {report:?}", workload.name());
            assert_eq!(report.serial_state_root, report.parallel_state_root);
            assert_eq!((report.transactions, report.blocks, report.threads), (400, 2, 2));
            assert!(report.succeeded > 0, "{}: {report:?}", workload.name());
            assert!(report.state_root_ms_per_block > 0.0 && report.parallel_ms_per_block > 0.0, "{report:?}");
            assert!(report.library_root_ms_per_block > 0.0, "{report:?}");
            assert!(report.root_hashing_ms_per_block > 0.0 && report.root_hashing_floor_share > 0.0, "{report:?}");
            assert_eq!(report.serial_fallback, workload == WorkloadKind::SerialChain, "{}", workload.name());
        }
    }
}
