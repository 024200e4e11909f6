//! `parlend run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use parlend_contracts::genesis::Genesis;

use crate::genesis::{DEV_ACCOUNTS, dev_genesis, dev_keypair, dev_minter};
use crate::node::{Node, NodeConfig};

/// `parlend run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Dev mode: a dev genesis with 10 prefunded accounts whose keys are printed, and dev-only RPC methods.
    #[arg(long)]
    pub dev: bool,
    /// A genesis file (JSON) instead of the dev genesis.
    #[arg(long, conflicts_with = "dev")]
    pub genesis: Option<PathBuf>,
    /// Where the chain is stored (RocksDB). Default: ~/.parlend/dev in dev mode.
    #[arg(long, env = "PARLEND_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the chain in memory only: nothing survives a restart.
    #[arg(long, conflicts_with = "data_dir")]
    pub in_memory: bool,
    /// Delete the data directory first, starting a fresh chain.
    #[arg(long)]
    pub reset: bool,
    /// RPC listen address; port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "PARLEND_RPC_ADDR", default_value = "127.0.0.1:8545")]
    pub rpc_addr: SocketAddr,
    /// Milliseconds between blocks; 0 produces a block as soon as transactions arrive.
    #[arg(long, env = "PARLEND_BLOCK_TIME_MS", default_value_t = 200)]
    pub block_time_ms: u64,
    /// Threads executing blocks (0: one per core).
    #[arg(long, env = "PARLEND_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Do not fsync each block (faster; a power loss may lose the last blocks, never a partial one).
    #[arg(long)]
    pub no_fsync: bool,
    /// Before serving, verify and import this log (from `parlend log export`) into the data directory;
    /// the chain then continues from the log's last block. The log's genesis must be this node's.
    #[arg(long, conflicts_with = "in_memory")]
    pub from_log: Option<PathBuf>,
}

fn print_dev_accounts() {
    println!("parlend dev chain");
    println!();
    println!("Dev accounts (each holds 1,000,000 USDC, 1,000 WETH, 50 WBTC, 1,000,000 TBILL):");
    for index in 0..DEV_ACCOUNTS {
        let key = dev_keypair(index);
        println!("  dev:{index}  address {}  secret {}", key.address(), hex::encode(key.seed()));
    }
    println!("  dev:0 is also the admin and the oracle; the faucet mints with {}", dev_minter().address());
    println!();
    println!("WARNING: these keys are publicly known. Anyone can sign with them. Never use them outside a dev chain.");
    println!();
}

/// `parlend run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let (genesis, dev) = match (&args.genesis, args.dev) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let genesis: Genesis =
                serde_json::from_str(&text).with_context(|| format!("{} is not a genesis file", path.display()))?;
            (genesis, false)
        }
        (None, true) => (dev_genesis(), true),
        (None, false) => bail!("give --dev for a dev chain, or --genesis FILE"),
    };
    let data_dir = match (&args.data_dir, args.in_memory) {
        (_, true) => None,
        (Some(path), false) => Some(path.clone()),
        (None, false) => Some(crate::cli::default_data_dir().join(if dev { "dev" } else { "chain" })),
    };
    if let Some(path) = &data_dir {
        if args.reset && path.exists() {
            std::fs::remove_dir_all(path).with_context(|| format!("cannot delete {}", path.display()))?;
        }
        std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    if let (Some(log), Some(path)) = (&args.from_log, &data_dir) {
        let log_genesis = crate::log::LogReader::open_file(log)
            .with_context(|| format!("cannot open {}", log.display()))?
            .header()
            .genesis
            .clone();
        anyhow::ensure!(log_genesis == genesis, "{} is the log of another genesis than this node's", log.display());
        crate::cli::log::import(log, path, args.threads, false)?;
    }
    let mut config = NodeConfig::new(genesis);
    config.data_dir = data_dir.clone();
    config.rpc_address = args.rpc_addr;
    config.block_time = Duration::from_millis(args.block_time_ms);
    config.fsync = !args.no_fsync;
    config.dev = dev;
    config.threads = args.threads;

    if dev {
        print_dev_accounts();
    }
    let handle = Node::start(config).await?;
    let head = handle.node.app().info();
    match &data_dir {
        Some(path) => println!("Chain {} at height {} in {}", head.header.chain_id, head.height, path.display()),
        None => println!("Chain {} at height {} in memory", head.header.chain_id, head.height),
    }
    println!("RPC listening on http://{}", handle.rpc_address);

    shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    println!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
