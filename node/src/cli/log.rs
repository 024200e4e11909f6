//! `parlend log`: export, import and generate transaction logs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use parlend_contracts::genesis::Genesis;
use parlend_store::{RocksStore, RocksStoreOptions, Store};

use super::progress::Reporter;
use parlend_contracts::dev::dev_genesis;
use parlend_log::format::{Compression, LogReader, export_store};
use parlend_log::generate::{WorkloadConfig, generate};
use parlend_log::replay::{ReplayOptions, import_log};

/// `parlend log` arguments.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LogCommand,
}

/// `parlend log` subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Write the committed blocks of a data directory as a log file (the node must be stopped).
    Export {
        /// The node's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The log file to write.
        #[arg(long)]
        out: PathBuf,
        /// The chain's genesis file (default: the dev genesis); checked against the stored block 0.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Export up to this height only.
        #[arg(long)]
        up_to: Option<u64>,
        /// Write the records uncompressed.
        #[arg(long)]
        no_compress: bool,
    },
    /// Verify a log block by block and commit it into a data directory, so a node can serve the chain
    /// (`parlend run --data-dir D` afterwards; or `parlend run --from-log FILE` in one step).
    Import {
        /// The log file.
        file: PathBuf,
        /// The data directory (created if absent; if it holds a prefix of the chain, the rest is added).
        #[arg(long)]
        data_dir: PathBuf,
        /// Executor threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// No progress output.
        #[arg(long)]
        quiet: bool,
    },
    /// Generate a lending workload log (deposits, borrows, transfers, repayments, withdrawals, price moves).
    Generate {
        /// The log file to write.
        #[arg(long)]
        out: PathBuf,
        /// Transactions in the log.
        #[arg(long, default_value_t = 100_000)]
        transactions: u64,
        /// Transactions per block.
        #[arg(long, default_value_t = 500)]
        block_size: usize,
        /// Accounts taking part.
        #[arg(long, default_value_t = 2_000)]
        accounts: usize,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Executor threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
}

/// Reads a genesis file, or the dev genesis without one.
pub(crate) fn load_genesis(path: Option<&Path>) -> anyhow::Result<Genesis> {
    match path {
        None => Ok(dev_genesis()),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not a genesis file", path.display()))
        }
    }
}

/// Imports `file` into the RocksDB store at `data_dir`, verifying every block.
pub(crate) fn import(file: &Path, data_dir: &Path, threads: usize, quiet: bool) -> anyhow::Result<()> {
    let size = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    let log = LogReader::open_file(file).with_context(|| format!("cannot open {}", file.display()))?;
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    // Unsynced writes while importing: each block is still one atomic
    // batch, a crash of the process loses nothing written, a power loss at
    // most the tail, and the import can be run again to add it.
    let store = Arc::new(
        RocksStore::open(data_dir, RocksStoreOptions { sync: false, ..RocksStoreOptions::default() })
            .with_context(|| format!("cannot open {} (is a node running on it?)", data_dir.display()))?,
    );
    let mut reporter = Reporter::new(size, "the log", quiet);
    let options = ReplayOptions { threads, halt_at_height: None };
    let result = import_log(log, store.clone(), &options, &mut |progress| {
        reporter.update(progress.bytes_read, || format!("block {} imported", progress.height));
    });
    reporter.finish();
    let summary = result?;
    if !quiet {
        println!("imported {} into {}", file.display(), data_dir.display());
        super::replay::print_summary(&summary, false)?;
    }
    Ok(())
}

/// `parlend log`.
pub fn main(args: LogArgs) -> anyhow::Result<()> {
    match args.command {
        LogCommand::Export { data_dir, out, genesis, up_to, no_compress } => {
            anyhow::ensure!(data_dir.is_dir(), "{} is not a data directory", data_dir.display());
            let genesis = load_genesis(genesis.as_deref())?;
            let store = RocksStore::open(&data_dir, RocksStoreOptions { sync: false, ..RocksStoreOptions::default() })
                .with_context(|| format!("cannot open {} (is a node running on it?)", data_dir.display()))?;
            let file = std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let compression = if no_compress { Compression::None } else { Compression::Zstd };
            let trailer = export_store(&store as &dyn Store, &genesis, file, compression, up_to)?;
            println!(
                "exported {} blocks ({} transactions) to {}; head {}",
                trailer.blocks,
                trailer.transactions,
                out.display(),
                trailer.head_hash
            );
            Ok(())
        }
        LogCommand::Import { file, data_dir, threads, quiet } => import(&file, &data_dir, threads, quiet),
        LogCommand::Generate { out, transactions, block_size, accounts, seed, threads } => {
            let config = WorkloadConfig { transactions, block_size, accounts, seed, threads };
            let file = std::fs::File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let mut reporter = Reporter::new(transactions, "the transactions", false);
            let started = std::time::Instant::now();
            let trailer =
                generate(&config, file, &mut |written| reporter.update(written, || format!("{written} written")))?;
            reporter.finish();
            println!(
                "generated {} blocks, {} transactions in {:.1} s to {}; head {}",
                trailer.blocks,
                trailer.transactions,
                started.elapsed().as_secs_f64(),
                out.display(),
                trailer.head_hash
            );
            Ok(())
        }
    }
}
