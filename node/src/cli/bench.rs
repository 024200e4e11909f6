//! `parlend bench ...`.

use clap::{Args, Subcommand};

use parlend_sim::bench::{BenchConfig, WorkloadKind, run};

use crate::bench_rpc::{RpcBenchConfig, RpcBenchReport, Target, write_genesis};

/// `parlend bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchKind,
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// The block executor: serial baseline and parallel figure from one run.
    Exec {
        /// The workload.
        #[arg(long, value_enum)]
        workload: WorkloadKind,
        /// Transactions to measure.
        #[arg(long, default_value_t = 10_000)]
        txs: usize,
        /// Transactions per block.
        #[arg(long, default_value_t = 5_000)]
        block_size: usize,
        /// Executor threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Runs of each executor per block; medians are reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Seed of the workload.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The path a user takes: pre-signed transactions over HTTP JSON-RPC to a
    /// node (started here as a child process unless `--url`), committed
    /// tx/s, latency and the signature-check ceiling from one run.
    Rpc(Box<RpcArgs>),
    /// The liquidatable index on a synthetic state of `--positions`
    /// borrowers: building it, a block's update, a price move, and
    /// `getLiquidatable` from it against a scan of every position.
    Liquidatable {
        /// Borrowers in the state.
        #[arg(long, default_value_t = 100_000)]
        positions: usize,
        /// Seed of the state.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Runs of each query; medians are reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
}

/// `parlend bench rpc` arguments.
#[derive(Debug, Args)]
pub struct RpcArgs {
    /// The workload: `transfers` or `lending-mix`.
    #[arg(long, value_enum, default_value = "transfers")]
    pub workload: WorkloadKind,
    /// Transactions to submit.
    #[arg(long, default_value_t = 40_000)]
    pub txs: usize,
    /// Accounts signing them (funded in the node's genesis).
    #[arg(long, default_value_t = 400)]
    pub signers: usize,
    /// HTTP connections submitting.
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Transactions per `sendTransactions` call.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Offered load in transactions per second (open loop); without it,
    /// closed loop at the node's pace.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Seed of the workload.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Measure a node already running (with the genesis `--write-genesis` wrote).
    #[arg(long)]
    pub url: Option<String>,
    /// Write the workload's genesis to this file and exit (to start a node by hand for `--url`).
    #[arg(long)]
    pub write_genesis: Option<std::path::PathBuf>,
    /// The started node's milliseconds between blocks.
    #[arg(long, default_value_t = 200)]
    pub block_time_ms: u64,
    /// The started node does not fsync.
    #[arg(long)]
    pub no_fsync: bool,
    /// The started node's executor threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// The started node's data directory (default: a temporary one).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Seconds to wait for the last commits after the last submission.
    #[arg(long, default_value_t = 60)]
    pub drain_timeout_seconds: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `parlend bench`.
pub fn main(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Rpc(args) => rpc(&args),
        BenchKind::Liquidatable { positions, seed, repeat } => liquidatable(positions, seed, repeat.max(1)),
        BenchKind::Exec { workload, txs, block_size, threads, repeat, seed, json } => {
            anyhow::ensure!(txs > 0 && block_size > 0, "--txs and --block-size must be positive");
            anyhow::ensure!(
                block_size <= parlend_ledger::limits::TRANSACTIONS_PER_BLOCK_MAX,
                "--block-size is at most {}",
                parlend_ledger::limits::TRANSACTIONS_PER_BLOCK_MAX
            );
            let config = BenchConfig { workload, transactions: txs, block_size, threads, repeat, seed };
            let report = run(&config)?;
            if json {
                return super::print_json(&report);
            }
            println!("workload            {}", report.workload);
            println!(
                "transactions        {} in {} blocks, {} threads, median of {}",
                report.transactions, report.blocks, report.threads, report.repeat
            );
            println!("serial              {:>12.0} tx/s", report.serial_tps);
            println!("parallel            {:>12.0} tx/s", report.parallel_tps);
            println!("speedup             {:>12.2}x", report.speedup);
            println!("parallel per block  {:>12.2} ms", report.parallel_ms_per_block);
            println!(
                "state root / block  {:>12.2} ms ({:.3} of parallel execution)",
                report.state_root_ms_per_block, report.state_root_share
            );
            println!(
                "  jmt library alone {:>12.2} ms ({:.3}; the update the node's replaces)",
                report.library_root_ms_per_block, report.library_root_share
            );
            println!(
                "  its hashing alone {:>12.2} ms on 1 thread ({:.3} if spread over {} threads)",
                report.root_hashing_ms_per_block, report.root_hashing_floor_share, report.threads
            );
            println!("scheduling          {:>12.0} ns/tx", report.schedule_ns_per_tx);
            println!("succeeded           {:>12}", report.succeeded);
            println!("re-executions       {:>12}", report.reexecutions);
            if report.serial_fallback {
                println!("                    (the executor ran some blocks serially: too little parallelism)");
            }
            println!("signature checks    {:>12.0} tx/s", report.signature_verification_tps);
            println!("state hash equal    {:>12}", if report.state_hash_equal { "yes" } else { "NO" });
            anyhow::ensure!(report.state_hash_equal, "the parallel executor diverged from the serial one");
            Ok(())
        }
    }
}

/// The median of `repeat` runs of `run`, and its last result.
fn timed<T>(repeat: usize, mut run: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(std::time::Duration, T)> {
    let mut times = Vec::with_capacity(repeat);
    let mut last = None;
    for _ in 0..repeat {
        let started = std::time::Instant::now();
        last = Some(run()?);
        times.push(started.elapsed());
    }
    times.sort_unstable();
    Ok((times[times.len() / 2], last.ok_or_else(|| anyhow::anyhow!("no run"))?))
}

fn liquidatable(positions: usize, seed: u64, repeat: usize) -> anyhow::Result<()> {
    use crate::risk::{BlockDigest, RiskIndex, SyntheticState, synthetic_state};
    use parlend_ledger::{AssetId, StateKey, Wad};
    let SyntheticState { mut state, now, owners } = synthetic_state(positions, seed).map_err(anyhow::Error::msg)?;
    let band = Wad(1_050_000_000_000_000_000);
    let mut index = RiskIndex::new();
    let (build, _) = timed(1, || Ok(index.rebuild(&state, &owners, 1, now)?))?;
    let (query, found) = timed(repeat, || Ok(index.query(&state, now, band, 100)?))?;
    let (lowest, lowest_found) = timed(repeat, || Ok(index.query(&state, now, Wad(1_000_000 * Wad::SCALE), 25)?))?;
    let (scan, scanned) = timed(repeat.min(3), || {
        let mut below = 0usize;
        for owner in &owners {
            let report = parlend_contracts::query::health(&state, *owner, now)?;
            below += usize::from(report.health.is_some_and(|health| health.health_factor < band));
        }
        Ok(below)
    })?;
    // A block that rewrote 100 positions (their health re-evaluated, and
    // the range that may be below 1.25).
    let touched = BlockDigest { touched: owners[..100.min(owners.len())].to_vec(), ..BlockDigest::default() };
    let (block, moves) = timed(1, || Ok(index.apply(&state, &touched, 2, now)?))?;
    // A block that moved WETH's price: half the borrowers hold WETH.
    let weth = AssetId::new("WETH").map_err(anyhow::Error::msg)?;
    let entry = parlend_contracts::oracle::PriceEntry { price: Wad(2_900 * Wad::SCALE), timestamp: now };
    state.insert(StateKey::Price { asset: weth }, borsh::to_vec(&entry)?.into());
    let repriced = BlockDigest { repriced: vec![weth], ..BlockDigest::default() };
    let (price_move, _) = timed(1, || Ok(index.apply(&state, &repriced, 3, now)?))?;
    // Milliseconds with three decimals, in integers.
    let ms = |duration: std::time::Duration| {
        let micros = duration.as_micros();
        format!("{}.{:03}", micros / 1_000, micros % 1_000)
    };
    println!("positions with debt        {:>10}", index.len());
    println!("index build                {:>10} ms", ms(build));
    println!(
        "getLiquidatable (index)    {:>10} ms  ({} evaluated; {} liquidatable, {} at risk)",
        ms(query),
        found.evaluated,
        found.liquidatable.len(),
        found.at_risk.len()
    );
    println!("lowest 25 of any band      {:>10} ms  ({} evaluated)", ms(lowest), lowest_found.evaluated);
    println!("scan of every position     {:>10} ms  ({scanned} below the band)", ms(scan));
    println!("block writing 100 positions{:>10} ms  ({} moves near the band)", ms(block), moves.len());
    println!("block moving WETH's price  {:>10} ms  ({} holders)", ms(price_move), owners.len().div_ceil(2));
    Ok(())
}

fn rpc(args: &RpcArgs) -> anyhow::Result<()> {
    let mut flags = vec!["--block-time-ms".to_string(), args.block_time_ms.to_string()];
    flags.extend(["--threads".to_string(), args.threads.to_string()]);
    if args.no_fsync {
        flags.push("--no-fsync".to_string());
    }
    let target = match &args.url {
        Some(url) => Target::Url(url.clone()),
        None => Target::Spawn { flags, data_dir: args.data_dir.clone() },
    };
    let config = RpcBenchConfig {
        workload: args.workload,
        transactions: args.txs,
        signers: args.signers,
        connections: args.connections,
        batch: args.batch,
        rate: args.rate,
        seed: args.seed,
        target,
        drain_timeout: std::time::Duration::from_secs(args.drain_timeout_seconds),
    };
    if let Some(path) = &args.write_genesis {
        return write_genesis(&config, path);
    }
    let report = crate::bench_rpc::run(&config)?;
    if args.json {
        return super::print_json(&report);
    }
    print_rpc_report(&report);
    Ok(())
}

#[expect(clippy::float_arithmetic, reason = "benchmark figures for people")]
fn print_rpc_report(report: &RpcBenchReport) {
    let loop_kind =
        report.offered_tps.map_or_else(|| "closed loop".to_string(), |rate| format!("open loop at {rate} tx/s"));
    println!(
        "workload            {} ({} signers, {} connections, {} per call, {loop_kind})",
        report.workload, report.signers, report.connections, report.batch
    );
    println!(
        "committed           {:>12} of {} in {:.2} s",
        report.committed, report.transactions, report.elapsed_seconds
    );
    println!("committed           {:>12.0} tx/s", report.committed_tps);
    println!(
        "signature ceiling   {:>12.0} tx/s (verify_strict, all cores; {:.0} before the load, {:.0} after)",
        report.signature_ceiling_tps, report.signature_ceiling_before_tps, report.signature_ceiling_after_tps
    );
    println!("committed / ceiling {:>12.2}", report.committed_over_ceiling);
    println!(
        "ceiling, keys kept  {:>12.0} tx/s (as admission checks: signers' keys decompressed once; committed / it {:.2})",
        report.signature_ceiling_cached_keys_tps, report.committed_over_cached_keys_ceiling
    );
    println!(
        "blocks              {:>12} ({:.0} tx/block, largest {})",
        report.blocks, report.transactions_per_block, report.transactions_per_block_max
    );
    println!(
        "parallel path       {:>11.0}% of blocks, {:.0}% of transactions",
        report.parallel_blocks_share * 100.0,
        report.parallel_transactions_share * 100.0
    );
    let latency = &report.latency_ms;
    println!(
        "submit to commit    p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (commits seen by {})",
        latency.p50, latency.p90, latency.p99, latency.max, report.commits_seen_by
    );
    if let Some(cpu) = report.node_cpu_micros_per_transaction {
        println!("node CPU            {cpu:>12.1} µs per committed transaction");
    }
    if report.rejected.is_empty() {
        println!("rejected            {:>12}", 0);
    }
    for (reason, count) in &report.rejected {
        println!("rejected            {count:>12} {reason}");
    }
}
