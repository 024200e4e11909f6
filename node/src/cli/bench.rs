//! `parlend bench ...`.

use clap::{Args, Subcommand};

use parlend_sim::bench::{BenchConfig, WorkloadKind, run};

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
}

/// `parlend bench`.
pub fn main(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
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
