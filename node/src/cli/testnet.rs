//! `parlend testnet`: several validators on this machine.
//!
//! `init` writes one directory per validator (key, config, data) and a
//! shared genesis naming them; `run` starts them all as child processes
//! and stops them together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use parlend_contracts::dev::dev_genesis;
use parlend_contracts::genesis::{Genesis, GenesisValidator};
use parlend_ledger::Keypair;

use crate::cli::KeyFile;

/// `parlend testnet` arguments.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TestnetCommand,
}

/// `parlend testnet` subcommands.
#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Write a testnet: validator keys, a genesis naming them, one config per validator.
    Init(InitArgs),
    /// Start every validator of a testnet directory (Ctrl-C stops them all).
    Run(RunTestnetArgs),
}

/// `parlend testnet init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// How many validators.
    #[arg(long, default_value_t = 4)]
    pub validators: u16,
    /// The directory to write (must not exist, or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// The genesis to start from (its validators are replaced); default: the dev genesis.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Validator i listens for peers on BASE+i and serves RPC on BASE+100+i.
    #[arg(long, default_value_t = 26_000)]
    pub base_port: u16,
    /// Milliseconds between blocks (at least).
    #[arg(long, default_value_t = 200)]
    pub block_time_ms: u64,
    /// Each validator's voting power.
    #[arg(long, default_value_t = 10)]
    pub power: u64,
}

/// `parlend testnet run`.
#[derive(Debug, Args)]
pub struct RunTestnetArgs {
    /// A directory written by `parlend testnet init`.
    pub dir: PathBuf,
}

/// The most validators `init` writes.
pub const VALIDATORS_MAX: u16 = 100;

/// Runs `parlend testnet`.
pub async fn run(args: TestnetArgs) -> anyhow::Result<()> {
    match args.command {
        TestnetCommand::Init(args) => init(&args),
        TestnetCommand::Run(args) => run_all(&args.dir).await,
    }
}

fn port(base: u16, offset: u16) -> anyhow::Result<u16> {
    base.checked_add(offset).with_context(|| format!("port {base} + {offset} is beyond 65535"))
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    if args.validators == 0 || args.validators > VALIDATORS_MAX {
        bail!("--validators must be between 1 and {VALIDATORS_MAX}");
    }
    if args.out.exists() && std::fs::read_dir(&args.out)?.next().is_some() {
        bail!("{} exists and is not empty", args.out.display());
    }
    let out = absolute(&args.out)?;
    let keys: Vec<Keypair> = (0..args.validators)
        .map(|_| Keypair::generate().map_err(|error| anyhow::anyhow!("no randomness for a key: {error}")))
        .collect::<anyhow::Result<_>>()?;
    let mut genesis: Genesis = match &args.genesis {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)
            .with_context(|| format!("{} is not a genesis file", path.display()))?,
        None => dev_genesis(),
    };
    genesis.validators =
        keys.iter().map(|key| GenesisValidator { public_key: key.address(), power: args.power }).collect();
    std::fs::create_dir_all(&out)?;
    let genesis_path = out.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis)?)?;
    let p2p: Vec<SocketAddr> = (0..args.validators)
        .map(|i| Ok(SocketAddr::from(([127, 0, 0, 1], port(args.base_port, i)?))))
        .collect::<anyhow::Result<_>>()?;
    let rpc: Vec<SocketAddr> = (0..args.validators)
        .map(|i| Ok(SocketAddr::from(([127, 0, 0, 1], port(args.base_port, 100 + i)?))))
        .collect::<anyhow::Result<_>>()?;
    for (index, key) in keys.iter().enumerate() {
        let node = out.join(format!("node{index}"));
        std::fs::create_dir_all(&node)?;
        let key_file = node.join("validator.key.json");
        std::fs::write(&key_file, serde_json::to_string_pretty(&KeyFile::new(key))?)?;
        let others = |addresses: &[SocketAddr]| -> Vec<String> {
            addresses.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, a)| format!("\"{a}\"")).collect()
        };
        let config = format!(
            "genesis = \"{}\"\ndata_dir = \"{}\"\nrpc_addr = \"{}\"\nblock_time_ms = {}\n\n[validator]\n\
             key_file = \"{}\"\nhome = \"{}\"\np2p_addr = \"{}\"\npeers = [{}]\nrelay_rpc = [{}]\n",
            genesis_path.display(),
            node.join("data").display(),
            rpc[index],
            args.block_time_ms,
            key_file.display(),
            node.join("consensus").display(),
            p2p[index],
            others(&p2p).join(", "),
            others(&rpc).join(", "),
        );
        std::fs::write(node.join("config.toml"), config)?;
        println!("node{index}: validator {}  rpc http://{}  p2p {}", key.address(), rpc[index], p2p[index]);
    }
    println!(
        "testnet of {} validators in {}; start it with: parlend testnet run {}",
        keys.len(),
        out.display(),
        out.display()
    );
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) })
}

/// The node directories of a testnet, in order.
fn node_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("config.toml").is_file())
        .collect();
    nodes.sort();
    if nodes.is_empty() {
        bail!("{} holds no validator (run parlend testnet init first)", dir.display());
    }
    Ok(nodes)
}

async fn run_all(dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the parlend executable")?;
    let mut children = Vec::new();
    for node in node_dirs(dir)? {
        let log = std::fs::File::create(node.join("node.log"))?;
        let child = tokio::process::Command::new(&exe)
            .arg("run")
            .arg("--config")
            .arg(node.join("config.toml"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the validator in {}", node.display()))?;
        println!(
            "started {} (pid {}), log in {}",
            node.display(),
            child.id().unwrap_or(0),
            node.join("node.log").display()
        );
        children.push(child);
    }
    println!("{} validators running; Ctrl-C stops them", children.len());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        (index, status) = first_exit(&mut children) => {
            println!("validator {index} exited ({status}); stopping the others");
        }
    }
    for child in &mut children {
        let _ = child.kill().await;
    }
    Ok(())
}

/// Waits until any child exits: its index and exit status.
async fn first_exit(children: &mut [tokio::process::Child]) -> (usize, std::process::ExitStatus) {
    loop {
        for (index, child) in children.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait() {
                return (index, status);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
