//! `parlend replay`: re-execute a chain from genesis and check every block.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use parlend_app::certificate::{CommitCertificate, ValidatorSet};
use parlend_contracts::genesis::Genesis;
use parlend_store::{RocksStore, RocksStoreOptions, Store};

use super::progress::Reporter;
use parlend_log::format::LogReader;
use parlend_log::replay::{ReplayOptions, ReplaySummary, StateOnlyStore, replay_log, replay_store};

/// `parlend replay` arguments.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["file", "data_dir"])))]
pub struct ReplayArgs {
    /// A log file (from `parlend log export`, `log generate` or `scenario run --save-log`).
    pub file: Option<PathBuf>,
    /// Replay the blocks committed in this data directory instead (the node must be stopped).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The genesis file of the data directory's chain (default: the dev genesis). Logs carry their own.
    #[arg(long, requires = "data_dir")]
    pub genesis: Option<PathBuf>,
    /// Executor threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Stop after verifying this height.
    #[arg(long)]
    pub halt_at_height: Option<u64>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `parlend replay`.
pub fn main(args: &ReplayArgs) -> anyhow::Result<()> {
    let options = ReplayOptions { threads: args.threads, halt_at_height: args.halt_at_height };
    let summary = match (&args.file, &args.data_dir) {
        (Some(path), _) => {
            let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
            let log = LogReader::open_file(path).with_context(|| format!("cannot open {}", path.display()))?;
            let mut reporter = Reporter::new(size, "the log", args.quiet);
            let result = replay_log(log, Arc::new(StateOnlyStore::new()), &options, &mut |progress| {
                reporter.update(progress.bytes_read, || {
                    format!("block {} verified, {} transactions", progress.height, progress.transactions)
                });
            });
            reporter.finish();
            result?
        }
        (None, Some(data_dir)) => {
            anyhow::ensure!(data_dir.is_dir(), "{} is not a data directory", data_dir.display());
            let genesis = super::log::load_genesis(args.genesis.as_deref())?;
            let store = RocksStore::open(data_dir, RocksStoreOptions { sync: false, ..RocksStoreOptions::default() })
                .with_context(|| format!("cannot open {} (is a node running on it?)", data_dir.display()))?;
            let head = store.head().map_or(0, |head| head.height);
            let mut reporter = Reporter::new(head, "the blocks", args.quiet);
            let result = replay_store(&store, &genesis, &options, &mut |progress| {
                reporter.update(progress.height, || format!("{} transactions", progress.transactions));
            });
            reporter.finish();
            let summary = result?;
            let certified = verify_certificates(&store, &genesis, summary.head.height)?;
            if certified > 0 && !args.json {
                println!("{certified} commit certificates verified against the genesis validators");
            }
            summary
        }
        (None, None) => anyhow::bail!("give a log FILE or --data-dir"),
    };
    print_summary(&summary, args.json)
}

/// On a chain run by validators, checks the commit certificate of every
/// block up to `head` against the genesis validators; returns how many.
pub fn verify_certificates(store: &dyn Store, genesis: &Genesis, head: u64) -> anyhow::Result<u64> {
    let validators = ValidatorSet::from_genesis(&genesis.validators);
    if validators.is_empty() {
        return Ok(0);
    }
    for height in 1..=head {
        let header = store.header(height)?.with_context(|| format!("block {height} is missing"))?;
        let bytes = store.certificate(height)?.with_context(|| format!("block {height} has no commit certificate"))?;
        let certificate: CommitCertificate =
            borsh::from_slice(&bytes).with_context(|| format!("the certificate of block {height} does not decode"))?;
        certificate
            .verify(&validators, height, &header.hash())
            .with_context(|| format!("the certificate of block {height} does not prove it"))?;
    }
    Ok(head)
}

/// Prints what a replay or import verified.
pub fn print_summary(summary: &ReplaySummary, json: bool) -> anyhow::Result<()> {
    if json {
        return super::print_json(&serde_json::json!({
            "height": summary.head.height,
            "blockHash": summary.head.hash,
            "stateRoot": summary.head.header.state_root,
            "blocks": summary.blocks,
            "skipped": summary.skipped,
            "transactions": summary.transactions,
            "failedTransactions": summary.failed_transactions,
            "seconds": summary.elapsed.as_secs_f64(),
            "transactionsPerSecond": summary.transactions_per_second(),
            "blocksPerSecond": summary.blocks_per_second(),
            "threads": summary.threads,
            "halted": summary.halted,
        }));
    }
    let verb = if summary.halted { "halted at" } else { "verified up to" };
    println!(
        "replay {verb} height {}: {} blocks and {} transactions re-executed, every hash reproduced",
        summary.head.height, summary.blocks, summary.transactions
    );
    println!(
        "{} of the transactions were included as failed (their receipts name the reason)",
        summary.failed_transactions
    );
    if summary.skipped > 0 {
        println!("{} blocks were already in the store and matched by hash", summary.skipped);
    }
    println!("head        {}", summary.head.hash);
    println!("state root  {}", summary.head.header.state_root);
    println!(
        "throughput  {} transactions/s, {} blocks/s ({:.3} s on {} threads)",
        summary.transactions_per_second(),
        summary.blocks_per_second(),
        summary.elapsed.as_secs_f64(),
        summary.threads
    );
    Ok(())
}
