//! `parlend bench exec`: the executor on named workloads, serial baseline
//! and parallel figure from the same run.
//!
//! Every workload is a set of pre-signed transactions over an in-memory
//! state, with access sets from `simulateTransaction`'s engine (so they are
//! exactly what a client would declare). Each measured block is executed by
//! the serial reference executor and by the parallel executor alternately,
//! `repeat` times each, and the medians are reported side by side, so a
//! noisy machine affects both figures alike. The outputs are compared
//! byte for byte and the state roots after the run must be equal.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parlend_contracts::genesis::{Genesis, GenesisAccount};
use parlend_contracts::state::AssetInfo;
use parlend_contracts::{Instruction, LendingVm, SignedTransaction, Transaction, VerifiedTransaction};
use parlend_ledger::exec::{
    BlockContext, ParallelExecutor, execute_block_serial, simulate_transaction, verify_transactions,
};
use parlend_ledger::state::{StateCommitment, Value, WriteSet};
use parlend_ledger::{AccessSet, Amount, AssetId, Hash, Keypair, StateKey};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

/// The chain id of benchmark chains.
const BENCH_CHAIN_ID: u64 = 9_999;
/// Timestamp of the benchmark genesis.
const BENCH_GENESIS_TIMESTAMP: u64 = 1_767_225_600;

/// A named workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Transfers between disjoint pairs of accounts.
    Transfers,
    /// Every transaction from one account: each depends on the one before.
    SerialChain,
}

impl WorkloadKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Transfers => "transfers",
            WorkloadKind::SerialChain => "serial-chain",
        }
    }
}

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

/// A workload, ready to run: a state and blocks of verified transactions.
pub struct Workload {
    /// The state before the first measured block.
    pub state: BTreeMap<StateKey, Value>,
    /// Measured blocks.
    pub blocks: Vec<Vec<VerifiedTransaction>>,
    /// Timestamp of the first measured block.
    pub timestamp: u64,
}

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
    /// Time to build the dependency graph, per transaction (median), nanoseconds.
    pub schedule_ns_per_tx: f64,
    /// Transactions re-executed at commit, per run.
    pub reexecutions: usize,
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

/// Keys for the benchmark: deterministic from the seed.
fn keys(seed: u64, count: usize) -> Vec<Keypair> {
    (0..count)
        .map(|index| {
            let tag = parlend_ledger::primitives::sha256_tagged(
                b"parlend/bench-key",
                &[&seed.to_be_bytes(), &(index as u64).to_be_bytes()],
            );
            Keypair::from_seed(&tag.0)
        })
        .collect()
}

fn usdc() -> AssetId {
    AssetId::from_static("USDC")
}

/// A genesis funding `accounts` with every benchmark asset.
fn genesis(accounts: &[Keypair]) -> Genesis {
    let admin = accounts[0].address();
    let assets = vec![AssetInfo { id: usdc(), decimals: 6 }];
    let balances: BTreeMap<AssetId, Amount> = [(usdc(), Amount(1_000_000_000_000))].into_iter().collect();
    Genesis {
        chain_id: BENCH_CHAIN_ID,
        timestamp: BENCH_GENESIS_TIMESTAMP,
        admin,
        oracle: admin,
        minter: None,
        assets,
        accounts: accounts
            .iter()
            .map(|key| GenesisAccount { address: key.address(), balances: balances.clone() })
            .collect(),
        markets: Vec::new(),
        liquidation: Default::default(),
    }
}

/// Signs `instructions` with the exact access set simulation finds against `state`.
fn prepare(
    state: &BTreeMap<StateKey, Value>,
    context: &BlockContext,
    key: &Keypair,
    nonce: u64,
    instructions: Vec<Instruction>,
) -> anyhow::Result<SignedTransaction> {
    let mut transaction = Transaction {
        chain_id: BENCH_CHAIN_ID,
        signer: key.address(),
        nonce,
        access: AccessSet::default(),
        instructions,
    };
    let simulation = simulate_transaction(&LendingVm, state, context, &transaction)?;
    transaction.access = AccessSet::new(simulation.accesses)?;
    Ok(transaction.sign(key))
}

/// Builds a workload.
pub fn build(config: &BenchConfig) -> anyhow::Result<(Workload, Vec<SignedTransaction>)> {
    let count = config.transactions;
    let timestamp = BENCH_GENESIS_TIMESTAMP + 12;
    let context = BlockContext { chain_id: BENCH_CHAIN_ID, height: 1, timestamp };
    let mut rng = StdRng::seed_from_u64(config.seed);
    let (state, signed) = match config.workload {
        WorkloadKind::Transfers => {
            let accounts = keys(config.seed, 2 * count);
            let state = genesis(&accounts).state()?;
            let mut signed = Vec::with_capacity(count);
            for index in 0..count {
                let amount = Amount(rng.random_range(1..1_000_000));
                let to = accounts[count + index].address();
                let instruction = Instruction::Transfer { to, asset: usdc(), amount };
                signed.push(prepare(&state, &context, &accounts[index], 0, vec![instruction])?);
            }
            (state, signed)
        }
        WorkloadKind::SerialChain => {
            let accounts = keys(config.seed, 64);
            let state = genesis(&accounts).state()?;
            let mut signed = Vec::with_capacity(count);
            for nonce in 0..count {
                let to = accounts[1 + rng.random_range(0..63)].address();
                let instruction = Instruction::Transfer { to, asset: usdc(), amount: Amount(1) };
                signed.push(prepare(&state, &context, &accounts[0], nonce as u64, vec![instruction])?);
            }
            (state, signed)
        }
    };
    let verified: Vec<VerifiedTransaction> =
        signed.iter().map(|tx| tx.clone().verify(BENCH_CHAIN_ID)).collect::<Result<_, _>>()?;
    let blocks = verified.chunks(config.block_size.max(1)).map(<[VerifiedTransaction]>::to_vec).collect();
    Ok((Workload { state, blocks, timestamp }, signed))
}

/// Runs a workload: serial and parallel alternately, `repeat` times per block.
pub fn run(config: &BenchConfig) -> anyhow::Result<BenchReport> {
    let (workload, signed) = build(config)?;
    let executor = ParallelExecutor::new(config.threads)?;
    let vm = LendingVm;

    let started = Instant::now();
    let verified = verify_transactions(executor.pool(), signed, BENCH_CHAIN_ID);
    let verification = started.elapsed();
    anyhow::ensure!(verified.iter().all(Result::is_ok), "a benchmark transaction failed verification");

    let mut state = workload.state.clone();
    let mut serial_commitment = StateCommitment::from_entries(state.clone());
    let mut parallel_commitment = serial_commitment.clone();
    let (mut serial_total, mut parallel_total, mut schedule_total) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut reexecutions, mut serial_fallback, mut equal) = (0, false, true);
    for (index, block) in workload.blocks.iter().enumerate() {
        let height = index as u64 + 1;
        let context = BlockContext { chain_id: BENCH_CHAIN_ID, height, timestamp: workload.timestamp + height };
        let (mut serial_times, mut parallel_times, mut schedule_times) = (Vec::new(), Vec::new(), Vec::new());
        let mut outputs = None;
        for _ in 0..config.repeat.max(1) {
            let started = Instant::now();
            let serial = execute_block_serial(&vm, &state, &context, block)?;
            serial_times.push(started.elapsed());
            let started = Instant::now();
            let (parallel, stats) = executor.execute_block_with_stats(&vm, &state, &context, block)?;
            parallel_times.push(started.elapsed());
            schedule_times.push(stats.schedule);
            if std::env::var_os("PARLEND_BENCH_PHASES").is_some() {
                eprintln!("phases: {stats:?}");
            }
            reexecutions = stats.reexecutions;
            serial_fallback |= stats.serial_fallback;
            equal &= serial.receipts == parallel.receipts;
            outputs = Some((serial, parallel));
        }
        serial_total += median(serial_times);
        parallel_total += median(parallel_times);
        schedule_total += median(schedule_times);
        let (serial, parallel) = outputs.expect("at least one run");
        let update = serial_commitment.prepare(&serial.changes);
        serial_commitment.apply(update);
        let update = parallel_commitment.prepare(&parallel.changes);
        parallel_commitment.apply(update);
        apply(&mut state, &serial.changes);
    }
    let transactions: usize = workload.blocks.iter().map(Vec::len).sum();
    let serial_tps = per_second(transactions, serial_total);
    let parallel_tps = per_second(transactions, parallel_total);
    #[allow(clippy::float_arithmetic)]
    let (speedup, schedule_ns_per_tx) =
        (parallel_tps / serial_tps, schedule_total.as_nanos() as f64 / transactions.max(1) as f64);
    Ok(BenchReport {
        workload: config.workload.name(),
        transactions,
        blocks: workload.blocks.len(),
        threads: executor.threads(),
        repeat: config.repeat.max(1),
        serial_tps,
        parallel_tps,
        speedup,
        schedule_ns_per_tx,
        reexecutions,
        serial_fallback,
        signature_verification_tps: per_second(transactions, verification),
        state_hash_equal: equal && serial_commitment.root() == parallel_commitment.root(),
        serial_state_root: serial_commitment.root(),
        parallel_state_root: parallel_commitment.root(),
    })
}

fn apply(state: &mut BTreeMap<StateKey, Value>, changes: &WriteSet) {
    for (key, value) in changes {
        match value {
            Some(value) => state.insert(*key, value.clone()),
            None => state.remove(key),
        };
    }
}
