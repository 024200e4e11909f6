//! `parlend run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use crate::config::FileConfig;
use crate::node::{Node, NodeConfig};
use parlend_contracts::dev::{DEV_ACCOUNTS, dev_genesis, dev_keypair, dev_minter};
use parlend_store::DEFAULT_STATE_HISTORY;

/// `parlend run` arguments. Every setting but `--reset` can also come from
/// `--config FILE` (TOML, see `parlend_node::config`); a flag or its
/// environment variable overrides the file.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A TOML config file with any of the settings below.
    #[arg(long, env = "PARLEND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Dev mode: a dev genesis with 10 prefunded accounts whose keys are printed, and dev-only RPC methods.
    #[arg(long)]
    pub dev: bool,
    /// A genesis file (JSON) instead of the dev genesis.
    #[arg(long, conflicts_with = "dev", env = "PARLEND_GENESIS")]
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
    /// RPC listen address; port 0 picks a free port (the bound address is printed). Default 127.0.0.1:8545.
    #[arg(long, env = "PARLEND_RPC_ADDR")]
    pub rpc_addr: Option<SocketAddr>,
    /// Milliseconds between blocks; 0 produces a block as soon as transactions arrive. Default 200.
    #[arg(long, env = "PARLEND_BLOCK_TIME_MS")]
    pub block_time_ms: Option<u64>,
    /// Threads executing blocks (0: one per core). With one per core, each is pinned to its core. Default 0.
    #[arg(long, env = "PARLEND_THREADS")]
    pub threads: Option<usize>,
    /// Do not fsync each block (faster; a power loss may lose the last blocks, never a partial one).
    #[arg(long)]
    pub no_fsync: bool,
    /// Keep the state tree of the last N heights (proofs reach that far back); older ones are pruned. Default 1000.
    #[arg(long, env = "PARLEND_STATE_HISTORY", value_name = "N")]
    pub state_history: Option<u64>,
    /// Archive node: keep the state tree of every height (proofs at any height); nothing is pruned.
    #[arg(long, conflicts_with = "state_history")]
    pub archive: bool,
    /// Produce blocks only on `dev_mine` (or `parlend dev mine`); transactions stay pending until then.
    #[arg(long)]
    pub manual_mining: bool,
    /// With an interval, execute what waits at 3/4 of it as the block's first part, so that less is left to
    /// execute when the block is cut (lower latency): `spare-cpu` (only while the node leaves at least 20% of
    /// the cores idle; under full load it would cost throughput), `always` or `never`. Default spare-cpu.
    #[arg(long, value_enum, env = "PARLEND_EXECUTE_AHEAD", value_name = "WHEN")]
    pub execute_ahead: Option<crate::producer::ExecuteAhead>,
    /// With an interval, how long a block may be cut after its deadline to take whole the `sendTransactions`
    /// batches being admitted then that should be in by the end of it (0: never wait). Default an eighth of
    /// the interval.
    #[arg(long, env = "PARLEND_CUT_GRACE_MS", value_name = "MS")]
    pub cut_grace_ms: Option<u64>,
    /// Dev mode: do not re-post stale oracle prices at start and after time warps. By default a dev node
    /// whose oracle is dev account 0 re-posts every stale price at its last value, so borrowing works at
    /// once and after `parlend dev increase-time`.
    #[arg(long)]
    pub keep_stale_prices: bool,
    /// Most transactions per block. Default 5000.
    #[arg(long, env = "PARLEND_BLOCK_TRANSACTIONS_MAX")]
    pub block_transactions_max: Option<usize>,
    /// Most pending transactions; beyond it submissions are refused with "mempool full". Default 50000.
    #[arg(long, env = "PARLEND_MEMPOOL_CAPACITY")]
    pub mempool_capacity: Option<usize>,
    /// Most pending transactions per signer. Default 1000.
    #[arg(long, env = "PARLEND_MEMPOOL_PER_SIGNER")]
    pub mempool_per_signer: Option<usize>,
    /// Largest RPC request body, bytes. Default 1048576.
    #[arg(long, env = "PARLEND_RPC_BODY_BYTES_MAX")]
    pub rpc_body_bytes_max: Option<u32>,
    /// Largest RPC response body, bytes. Default 16777216.
    #[arg(long, env = "PARLEND_RPC_RESPONSE_BYTES_MAX")]
    pub rpc_response_bytes_max: Option<u32>,
    /// Most calls in one JSON-RPC batch. Default 100.
    #[arg(long, env = "PARLEND_RPC_BATCH_CALLS_MAX")]
    pub rpc_batch_calls_max: Option<u32>,
    /// Most open RPC connections (a new one closes the idle connection quiet the longest). Default 1024.
    #[arg(long, env = "PARLEND_RPC_CONNECTIONS_MAX")]
    pub rpc_connections_max: Option<u32>,
    /// Most open RPC connections from one IP address. Default 512.
    #[arg(long, env = "PARLEND_RPC_CONNECTIONS_PER_IP_MAX")]
    pub rpc_connections_per_ip_max: Option<u32>,
    /// Most RPC request bodies being read at once; beyond it requests are shed with HTTP 503. Default 128.
    #[arg(long, env = "PARLEND_RPC_BODY_READS_IN_FLIGHT_MAX")]
    pub rpc_body_reads_in_flight_max: Option<u32>,
    /// Longest wait for a request's headers, milliseconds; also how long an idle connection stays open.
    /// Default 10000.
    #[arg(long, env = "PARLEND_RPC_HEADER_READ_TIMEOUT_MS")]
    pub rpc_header_read_timeout_ms: Option<u64>,
    /// Longest time to receive a request's body, milliseconds (answered with HTTP 408). Default 10000.
    #[arg(long, env = "PARLEND_RPC_BODY_READ_TIMEOUT_MS")]
    pub rpc_body_read_timeout_ms: Option<u64>,
    /// Most RPC requests in flight; beyond it requests are shed with HTTP 503. Default 256.
    #[arg(long, env = "PARLEND_RPC_REQUESTS_IN_FLIGHT_MAX")]
    pub rpc_requests_in_flight_max: Option<u32>,
    /// Most light reads (getHead, getAccount, ...) in flight, in their own lane. Default 64.
    #[arg(long, env = "PARLEND_RPC_LIGHT_REQUESTS_IN_FLIGHT_MAX")]
    pub rpc_light_requests_in_flight_max: Option<u32>,
    /// RPC request timeout, milliseconds (answered with HTTP 503). Default 60000.
    #[arg(long, env = "PARLEND_RPC_REQUEST_TIMEOUT_MS")]
    pub rpc_request_timeout_ms: Option<u64>,
    /// Longest `wait` for a commit, milliseconds; below the request timeout. Default 50000.
    #[arg(long, env = "PARLEND_RPC_WAIT_MAX_MS")]
    pub rpc_wait_max_ms: Option<u64>,
    /// Most open WebSocket connections (apart from HTTP ones); beyond it an upgrade gets HTTP 429. Default 128.
    #[arg(long, env = "PARLEND_RPC_WEBSOCKET_CONNECTIONS_MAX")]
    pub rpc_websocket_connections_max: Option<u32>,
    /// Most subscriptions on one WebSocket connection. Default 16.
    #[arg(long, env = "PARLEND_RPC_SUBSCRIPTIONS_PER_CONNECTION_MAX")]
    pub rpc_subscriptions_per_connection_max: Option<u32>,
    /// Most subscriptions on the node. Default 1024.
    #[arg(long, env = "PARLEND_RPC_SUBSCRIPTIONS_MAX")]
    pub rpc_subscriptions_max: Option<u32>,
    /// Messages waiting to be written on one WebSocket connection; a subscription whose message waits
    /// 5 s for room is dropped as too slow. Default 256.
    #[arg(long, env = "PARLEND_RPC_SUBSCRIBER_BUFFER")]
    pub rpc_subscriber_buffer: Option<u32>,
    /// Blocks a subscriber may fall behind before it is dropped as too slow. Default 64.
    #[arg(long, env = "PARLEND_RPC_FEED_CAPACITY")]
    pub rpc_feed_capacity: Option<usize>,
    /// Before serving, verify and import this log (from `parlend log export`) into the data directory;
    /// the chain then continues from the log's last block. The log's genesis must be this node's.
    #[arg(long, conflicts_with = "in_memory")]
    pub from_log: Option<PathBuf>,
    /// A validator's directory (from `parlend testnet init`): the same as `--config DIR/config.toml`.
    #[arg(long, conflicts_with = "config")]
    pub home: Option<PathBuf>,
    /// Test only: as a validator, propose blocks with a wrong state root (the others must refuse them).
    #[arg(long, hide = true)]
    pub test_wrong_state_root: bool,
}

/// The node's configuration from flags, environment, file and defaults,
/// plus what `run` needs besides it.
#[derive(Debug)]
pub struct Resolved {
    /// The node configuration.
    pub config: NodeConfig,
    /// Delete the data directory first.
    pub reset: bool,
}

/// The state tree's window: `--archive` (or `archive = true`) keeps every
/// height; otherwise `--state-history`, the file's `state_history`, or the
/// default. A window must hold at least one height.
fn state_history(args: &RunArgs, file: &FileConfig) -> anyhow::Result<Option<u64>> {
    if args.archive {
        return Ok(None);
    }
    let history = match args.state_history {
        Some(history) => Some(history),
        None => {
            if file.archive.unwrap_or(false) && file.state_history.is_some() {
                bail!("the config file sets both archive and state_history: choose one");
            }
            if file.archive.unwrap_or(false) { None } else { Some(file.state_history.unwrap_or(DEFAULT_STATE_HISTORY)) }
        }
    };
    if history == Some(0) {
        bail!("--state-history must keep at least one height (use --archive to keep all)");
    }
    Ok(history)
}

/// Merges flags (and their environment variables) over `file` over the defaults.
pub fn resolve(args: &RunArgs, file: &FileConfig) -> anyhow::Result<Resolved> {
    let genesis_path = args.genesis.clone().or_else(|| file.genesis.clone());
    let dev = args.dev || (args.genesis.is_none() && file.dev.unwrap_or(false));
    let genesis = match (&genesis_path, dev) {
        (Some(_), true) => bail!("dev mode uses the dev genesis: give either dev or a genesis file, not both"),
        (Some(path), false) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not a genesis file", path.display()))?
        }
        (None, true) => dev_genesis(),
        (None, false) => bail!("give --dev for a dev chain, or --genesis FILE"),
    };
    let in_memory = args.in_memory || (args.data_dir.is_none() && file.in_memory.unwrap_or(false));
    let data_dir = match (args.data_dir.clone().or_else(|| file.data_dir.clone()), in_memory) {
        (_, true) => None,
        (Some(path), false) => Some(path),
        (None, false) => Some(crate::cli::default_data_dir().join(if dev { "dev" } else { "chain" })),
    };
    let mut config = NodeConfig::new(genesis);
    config.data_dir = data_dir;
    config.dev = dev;
    config.rpc_address = args.rpc_addr.or(file.rpc_addr).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8545)));
    config.block_time = Duration::from_millis(args.block_time_ms.or(file.block_time_ms).unwrap_or(200));
    config.threads = args.threads.or(file.threads).unwrap_or(0);
    config.fsync = !args.no_fsync && file.fsync.unwrap_or(true);
    config.state_history = state_history(args, file)?;
    config.manual_mining = args.manual_mining || file.manual_mining.unwrap_or(false);
    config.execute_ahead = args.execute_ahead.or(file.execute_ahead).unwrap_or_default();
    config.cut_grace = args.cut_grace_ms.or(file.cut_grace_ms).map(Duration::from_millis);
    config.refresh_dev_prices = !(args.keep_stale_prices || file.keep_stale_prices.unwrap_or(false));
    if let Some(max) = args.block_transactions_max.or(file.block_transactions_max) {
        config.block_transactions_max = max;
    }
    let mempool = &mut config.mempool;
    mempool.capacity = args.mempool_capacity.or(file.mempool.capacity).unwrap_or(mempool.capacity);
    mempool.per_signer = args.mempool_per_signer.or(file.mempool.per_signer).unwrap_or(mempool.per_signer);
    if mempool.capacity == 0 || mempool.per_signer == 0 || config.block_transactions_max == 0 {
        bail!("mempool capacity, per-signer limit and block size must be positive");
    }
    rpc_limits(args, &file.rpc, &mut config.rpc_limits);
    config.feed_capacity = args.rpc_feed_capacity.or(file.rpc.feed_capacity).unwrap_or(config.feed_capacity);
    if config.feed_capacity == 0 {
        bail!("feed_capacity must be positive");
    }
    config.rpc_limits.validate().map_err(|message| anyhow::anyhow!("invalid RPC limits: {message}"))?;
    resolve_validator(args, file, &mut config)?;
    Ok(Resolved { config, reset: args.reset })
}

/// The RPC limits: flags over the file's `[rpc]` over the defaults.
fn rpc_limits(args: &RunArgs, rpc: &crate::config::RpcSection, limits: &mut parlend_rpc::ServerLimits) {
    limits.body_bytes_max = args.rpc_body_bytes_max.or(rpc.body_bytes_max).unwrap_or(limits.body_bytes_max);
    limits.response_bytes_max =
        args.rpc_response_bytes_max.or(rpc.response_bytes_max).unwrap_or(limits.response_bytes_max);
    limits.batch_calls_max = args.rpc_batch_calls_max.or(rpc.batch_calls_max).unwrap_or(limits.batch_calls_max);
    limits.connections_max = args.rpc_connections_max.or(rpc.connections_max).unwrap_or(limits.connections_max);
    limits.connections_per_ip_max =
        args.rpc_connections_per_ip_max.or(rpc.connections_per_ip_max).unwrap_or(limits.connections_per_ip_max);
    limits.body_reads_in_flight_max =
        args.rpc_body_reads_in_flight_max.or(rpc.body_reads_in_flight_max).unwrap_or(limits.body_reads_in_flight_max);
    if let Some(ms) = args.rpc_header_read_timeout_ms.or(rpc.header_read_timeout_ms) {
        limits.header_read_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = args.rpc_body_read_timeout_ms.or(rpc.body_read_timeout_ms) {
        limits.body_read_timeout = Duration::from_millis(ms);
    }
    limits.requests_in_flight_max =
        args.rpc_requests_in_flight_max.or(rpc.requests_in_flight_max).unwrap_or(limits.requests_in_flight_max);
    limits.light_requests_in_flight_max = args
        .rpc_light_requests_in_flight_max
        .or(rpc.light_requests_in_flight_max)
        .unwrap_or(limits.light_requests_in_flight_max);
    if let Some(ms) = args.rpc_request_timeout_ms.or(rpc.request_timeout_ms) {
        limits.request_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = args.rpc_wait_max_ms.or(rpc.wait_max_ms) {
        limits.wait_max = Duration::from_millis(ms);
    }
    limits.websocket_connections_max = args
        .rpc_websocket_connections_max
        .or(rpc.websocket_connections_max)
        .unwrap_or(limits.websocket_connections_max);
    limits.subscriptions_per_connection_max = args
        .rpc_subscriptions_per_connection_max
        .or(rpc.subscriptions_per_connection_max)
        .unwrap_or(limits.subscriptions_per_connection_max);
    limits.subscriptions_max = args.rpc_subscriptions_max.or(rpc.subscriptions_max).unwrap_or(limits.subscriptions_max);
    limits.subscriber_buffer = args.rpc_subscriber_buffer.or(rpc.subscriber_buffer).unwrap_or(limits.subscriber_buffer);
}

/// The `[validator]` section: consensus with the genesis's validators.
fn resolve_validator(args: &RunArgs, file: &FileConfig, config: &mut NodeConfig) -> anyhow::Result<()> {
    config.wrong_state_root = args.test_wrong_state_root;
    let Some(section) = &file.validator else {
        anyhow::ensure!(!args.test_wrong_state_root, "--test-wrong-state-root needs a [validator] section");
        return Ok(());
    };
    anyhow::ensure!(!config.genesis.validators.is_empty(), "[validator] needs a genesis that names validators");
    anyhow::ensure!(!config.manual_mining, "validators decide blocks together: manual mining is not available");
    let key = crate::cli::load_key(&section.key_file.to_string_lossy())?;
    let mut timeouts = parlend_consensus::default_timeouts();
    if let Some(ms) = section.propose_timeout_ms {
        timeouts.propose = Duration::from_millis(ms);
    }
    config.validator = Some(parlend_consensus::ValidatorConfig {
        key,
        home: section.home.clone(),
        listen: section.p2p_addr,
        peers: section.peers.clone(),
        timeouts,
        min_block_time: config.block_time.max(VALIDATOR_BLOCK_TIME_MIN),
    });
    config.relay_to = section.relay_rpc.clone();
    Ok(())
}

/// The least time between a validator chain's blocks: heights never run
/// back to back, even when every block is empty.
const VALIDATOR_BLOCK_TIME_MIN: Duration = Duration::from_millis(100);

/// The dev banner: the keys, and their genesis funds (`continued`: the
/// chain has blocks, so balances have moved since).
fn print_dev_accounts(continued: bool) {
    println!("parlend dev chain");
    println!();
    if continued {
        println!("Dev accounts (funded at genesis; this chain has moved on: `parlend query account dev:N`):");
    } else {
        println!("Dev accounts (each holds 1,000,000 USDC, 1,000 WETH, 50 WBTC, 1,000,000 TBILL):");
    }
    for index in 0..DEV_ACCOUNTS {
        let key = dev_keypair(index);
        println!("  dev:{index}  address {}  secret {}", key.address(), hex::encode(key.seed()));
    }
    println!("  dev:0 is also the admin and the oracle; the faucet mints with {}", dev_minter().address());
    println!();
    println!("WARNING: these keys are publicly known. Anyone can sign with them. Never use them outside a dev chain.");
    println!();
}

/// Says so when the head is later than the wall clock (a dev time warp
/// before a restart): blocks are stamped from the head's time until the
/// wall clock catches up.
fn print_clock_ahead(head_timestamp: u64) {
    let wall =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    if head_timestamp > wall {
        println!(
            "Clock: the head is at {}, {} ahead of the wall clock (a time warp); blocks are stamped from there",
            crate::cli::format::timestamp(head_timestamp),
            crate::cli::format::duration(head_timestamp - wall)
        );
    }
}

/// `parlend run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config_path = args.config.clone().or_else(|| args.home.as_ref().map(|home| home.join("config.toml")));
    let file = match &config_path {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let Resolved { config, reset } = resolve(&args, &file)?;
    let (dev, data_dir) = (config.dev, config.data_dir.clone());
    if let Some(path) = &data_dir {
        if reset && path.exists() {
            std::fs::remove_dir_all(path).with_context(|| format!("cannot delete {}", path.display()))?;
        }
        std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    if let (Some(log), Some(path)) = (&args.from_log, &data_dir) {
        let log_genesis = parlend_log::format::LogReader::open_file(log)
            .with_context(|| format!("cannot open {}", log.display()))?
            .header()
            .genesis
            .clone();
        anyhow::ensure!(
            log_genesis == config.genesis,
            "{} is the log of another genesis than this node's",
            log.display()
        );
        crate::cli::log::import(log, path, config.threads, false)?;
    }

    // The store is opened (and its lock taken) before anything is printed:
    // a second node on the same directory fails with one line.
    let handle = Node::start(config).await?;
    let head = handle.node.app().info();
    if dev {
        print_dev_accounts(head.height > 0);
    }
    match &data_dir {
        Some(path) => println!("Chain {} at height {} in {}", head.header.chain_id, head.height, path.display()),
        None => println!("Chain {} at height {} in memory", head.header.chain_id, head.height),
    }
    print_clock_ahead(head.header.timestamp);
    println!("RPC listening on http://{}", handle.rpc_address);
    if let Some(validator) = &handle.node.config().validator {
        println!("Validator {} on p2p {}", validator.key.address(), validator.listen);
    }

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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn run_args(flags: &[&str]) -> RunArgs {
        let argv = ["parlend", "run"].iter().chain(flags).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => *args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let file = FileConfig::parse(
            "dev = true\nin_memory = true\nblock_time_ms = 7\nthreads = 3\n[rpc]\nbatch_calls_max = 3\n\
             requests_in_flight_max = 9\n[mempool]\ncapacity = 11\n",
        )
        .unwrap();
        let resolved = resolve(&run_args(&["--block-time-ms", "5", "--rpc-batch-calls-max", "4"]), &file).unwrap();
        let config = resolved.config;
        assert!(config.dev && config.data_dir.is_none());
        assert_eq!(config.block_time, Duration::from_millis(5), "the flag wins");
        assert_eq!(config.rpc_limits.batch_calls_max, 4, "the flag wins");
        assert_eq!(config.threads, 3, "the file wins over the default");
        assert_eq!(config.rpc_limits.requests_in_flight_max, 9);
        assert_eq!(config.mempool.capacity, 11);
        assert_eq!(config.mempool.per_signer, crate::mempool::MempoolLimits::default().per_signer, "default");
        assert_eq!(config.rpc_address, SocketAddr::from(([127, 0, 0, 1], 8545)), "default");
        assert!(config.fsync);
    }

    #[test]
    fn the_cut_grace_is_an_eighth_of_the_interval_unless_set_and_none_on_demand() {
        let dev = FileConfig::parse("dev = true\nin_memory = true\ncut_grace_ms = 9").unwrap();
        let grace = |args: &[&str], file: &FileConfig| resolve(&run_args(args), file).unwrap().config.cut_grace();
        assert_eq!(grace(&[], &FileConfig::parse("dev = true").unwrap()), Duration::from_millis(25));
        assert_eq!(grace(&[], &dev), Duration::from_millis(9), "the file");
        assert_eq!(grace(&["--cut-grace-ms", "0"], &dev), Duration::ZERO, "the flag wins");
        assert_eq!(grace(&["--block-time-ms", "0"], &dev), Duration::ZERO, "on demand");
    }

    #[test]
    fn state_history_comes_from_the_flag_the_file_or_the_default() {
        let dev = FileConfig::parse("dev = true\nin_memory = true").unwrap();
        let config = |args: &[&str], file: &FileConfig| resolve(&run_args(args), file).map(|r| r.config.state_history);
        assert_eq!(config(&[], &dev).unwrap(), Some(parlend_store::DEFAULT_STATE_HISTORY));
        assert_eq!(config(&["--state-history", "5"], &dev).unwrap(), Some(5));
        assert_eq!(config(&["--archive"], &dev).unwrap(), None);
        assert!(config(&["--state-history", "0"], &dev).is_err(), "a window of no height");
        let file = FileConfig::parse("dev = true\nin_memory = true\nstate_history = 7").unwrap();
        assert_eq!(config(&[], &file).unwrap(), Some(7));
        assert_eq!(config(&["--state-history", "9"], &file).unwrap(), Some(9), "the flag wins");
        assert_eq!(config(&["--archive"], &file).unwrap(), None, "the flag wins");
        let archive = FileConfig::parse("dev = true\nin_memory = true\narchive = true").unwrap();
        assert_eq!(config(&[], &archive).unwrap(), None);
        let both = FileConfig::parse("dev = true\nin_memory = true\narchive = true\nstate_history = 3").unwrap();
        assert!(config(&[], &both).is_err(), "archive and a window");
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let dev = FileConfig::parse("dev = true\nin_memory = true").unwrap();
        let error = resolve(&run_args(&["--rpc-wait-max-ms", "70000"]), &dev).unwrap_err();
        assert!(error.to_string().contains("wait_max"), "{error}");
        assert!(resolve(&run_args(&["--rpc-batch-calls-max", "0"]), &dev).is_err());
        assert!(resolve(&run_args(&["--mempool-capacity", "0"]), &dev).is_err());
        assert!(resolve(&run_args(&[]), &FileConfig::default()).is_err(), "neither dev nor a genesis");
        let both = FileConfig::parse("dev = true\ngenesis = \"g.json\"").unwrap();
        assert!(resolve(&run_args(&[]), &both).is_err());
    }
}
