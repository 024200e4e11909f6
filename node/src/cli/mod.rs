//! The `parlend` command line.

mod bench;
mod describe;
mod dev;
mod format;
mod keys;
mod log;
mod progress;
mod proof;
mod query;
mod replay;
mod run;
mod scenario;
mod testnet;
mod tx;
mod watch;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use keys::{KeyFile, load_key};

/// parlend: a local ledger node for decentralized lending whose
/// transactions run in parallel.
#[derive(Debug, Parser)]
#[command(name = "parlend", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
    /// The log's format on stderr: `text` (colours only on a terminal) or `json` (one object a line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "PARLEND_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
}

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object per line, for machines.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node.
    Run(Box<run::RunArgs>),
    /// Generate a key pair.
    Keygen(keys::KeygenArgs),
    /// Build, sign and send a transaction.
    Tx(tx::TxArgs),
    /// Read chain state.
    Query(query::QueryArgs),
    /// Measure the executor.
    Bench(bench::BenchArgs),
    /// Dev node controls: faucet, mine, increase-time, snapshot, revert.
    Dev(dev::DevArgs),
    /// Re-execute a chain from genesis (a log file or a data directory) and check every block's hashes.
    Replay(replay::ReplayArgs),
    /// Export, import or generate transaction logs.
    Log(log::LogArgs),
    /// Run scenario files: lending stories with expectations per step.
    Scenario(scenario::ScenarioArgs),
    /// Several validators on this machine: write a testnet, run it.
    Testnet(testnet::TestnetArgs),
    /// Follow a node live over WebSocket: heads, txs, liquidatable, markets.
    Watch(watch::WatchArgs),
    /// Check a saved proof offline against its header's state root (exit status 1 if it does not verify).
    VerifyProof(proof::VerifyProofArgs),
}

/// Options shared by commands that talk to a node.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// The node's RPC URL (`http://` is assumed without a scheme: `localhost:8545`).
    #[arg(long, env = "PARLEND_RPC", default_value = "http://127.0.0.1:8545", global = true)]
    pub rpc: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A client for `args.rpc`, `http://` assumed when the URL has no scheme.
pub(crate) fn client(args: &RpcArgs) -> anyhow::Result<parlend_rpc::Client> {
    let url = rpc_url(&args.rpc);
    parlend_rpc::Client::new(&url).map_err(|error| anyhow::anyhow!("--rpc {}: not a usable URL: {error}", args.rpc))
}

/// The URL with `http://` added when it has no scheme.
pub fn rpc_url(text: &str) -> String {
    if text.contains("://") { text.to_string() } else { format!("http://{text}") }
}

/// The message when no node answers at `url`.
pub fn unreachable_message(url: &str) -> String {
    format!(
        "cannot reach a parlend node at {url} (connection refused). Start one with `parlend run --dev`, \
         or point --rpc (or PARLEND_RPC) at a running node."
    )
}

/// Replaces "transport: client error (Connect)" with what to do about it.
fn explain(error: anyhow::Error, url: Option<&str>) -> anyhow::Error {
    let unreachable = error.chain().any(|cause| {
        matches!(cause.downcast_ref::<parlend_rpc::ClientError>(), Some(parlend_rpc::ClientError::Transport(text))
            if text.contains("Connect") || text.contains("connect"))
    });
    match url {
        Some(url) if unreachable => anyhow::anyhow!(unreachable_message(&rpc_url(url))),
        _ => error,
    }
}

/// Runs the CLI.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    let url = match &cli.command {
        Command::Tx(args) => Some(args.rpc.rpc.clone()),
        Command::Query(args) => Some(args.rpc.rpc.clone()),
        Command::Dev(args) => Some(args.rpc.rpc.clone()),
        _ => None,
    };
    dispatch(cli).await.map_err(|error| explain(error, url.as_deref()))
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(*args).await,
        Command::Testnet(args) => testnet::run(args).await,
        Command::Keygen(args) => keys::keygen(&args),
        Command::Tx(args) => tx::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::VerifyProof(args) => proof::verify(&args),
        Command::Bench(args) => tokio::task::spawn_blocking(move || bench::main(args)).await?,
        Command::Dev(args) => dev::run(args).await,
        Command::Replay(args) => tokio::task::spawn_blocking(move || replay::main(&args)).await?,
        Command::Log(args) => tokio::task::spawn_blocking(move || log::main(args)).await?,
        Command::Scenario(args) => tokio::task::spawn_blocking(move || scenario::main(args)).await?,
        Command::Watch(args) => watch::run(args).await,
    }
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The default data directory of the dev chain.
pub(crate) fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from(".parlend"), |home| PathBuf::from(home).join(".parlend"))
}
