//! parlend end-to-end tests: helpers to start real nodes (in-process or as
//! child processes) and to build signed transactions.
//!
//! The tests themselves live in `tests/tests/`; scenario files in
//! `tests/scenarios/`, golden logs and their expected hashes in
//! `tests/golden/`. [`replay`] is the replay harness for Rust tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parlend_contracts::{Instruction, SignedTransaction, Transaction};
use parlend_ledger::{Access, AccessMode, AccessSet, Address, Amount, AssetId, Keypair, StateKey};
use parlend_node::genesis::dev_genesis;
use parlend_node::node::{Node, NodeConfig, NodeHandle};
use parlend_node::replay::{ReplayError, ReplayOptions, ReplaySummary};
use parlend_rpc::Client;

pub use parlend_node::genesis::{DEV_CHAIN_ID, dev_keypair, dev_minter};

/// Replays the log at `path` from genesis with every check (state root,
/// receipts root, block hash of every block), on one thread per core;
/// streaming, so memory is bounded by the chain's state, not the log.
pub fn replay(path: &Path) -> Result<ReplaySummary, ReplayError> {
    replay_with_threads(path, 0)
}

/// [`replay`] on `threads` executor threads.
pub fn replay_with_threads(path: &Path, threads: usize) -> Result<ReplaySummary, ReplayError> {
    parlend_node::replay::replay_file(path, &ReplayOptions { threads, halt_at_height: None })
}

/// `tests/golden/`: golden logs and `MANIFEST.toml`.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// `tests/scenarios/`: the scenario files, sorted by name.
pub fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "toml" || extension == "json"))
        .collect();
    files.sort();
    files
}

/// An in-process node with its client.
pub struct TestNode {
    /// The node.
    pub handle: NodeHandle,
    /// A client connected to it over HTTP.
    pub client: Client,
    /// Its RPC URL.
    pub url: String,
}

impl TestNode {
    /// A dev node in memory, producing a block as soon as transactions arrive.
    pub async fn in_memory() -> TestNode {
        TestNode::start(NodeConfig::new(dev_genesis())).await
    }

    /// A dev node on RocksDB in `data_dir`.
    pub async fn on_rocksdb(data_dir: &Path) -> TestNode {
        let mut config = NodeConfig::new(dev_genesis());
        config.data_dir = Some(data_dir.to_path_buf());
        TestNode::start(config).await
    }

    /// A node with this configuration (its RPC address should use port 0).
    pub async fn start(config: NodeConfig) -> TestNode {
        let handle = Node::start(config).await.expect("node starts");
        let url = format!("http://{}", handle.rpc_address);
        let client = Client::new(&url).expect("client");
        TestNode { handle, client, url }
    }

    /// Stops the node.
    pub async fn stop(self) {
        self.handle.shutdown().await;
    }
}

/// An asset id from a symbol.
pub fn asset(symbol: &str) -> AssetId {
    AssetId::new(symbol).expect("valid symbol")
}

/// Whole tokens of a dev asset in base units.
pub fn tokens(symbol: &str, whole: u128) -> Amount {
    let decimals = parlend_node::genesis::DEV_ASSETS.iter().find(|(s, _)| *s == symbol).expect("dev asset").1;
    Amount(whole * 10u128.pow(u32::from(decimals)))
}

/// The access set of a transfer, built by hand (tests of the ledger's rules;
/// clients use `simulateTransaction`).
pub fn transfer_access(from: Address, to: Address, asset: AssetId) -> AccessSet {
    AccessSet::from_unsorted([
        Access { key: StateKey::Config, mode: AccessMode::Read },
        Access { key: StateKey::Account { owner: from }, mode: AccessMode::Write },
        Access { key: StateKey::Balance { owner: from, asset }, mode: AccessMode::Delta },
        Access { key: StateKey::Balance { owner: to, asset }, mode: AccessMode::Delta },
    ])
    .expect("valid access set")
}

/// A signed transfer with a hand-built access set.
pub fn signed_transfer(key: &Keypair, nonce: u64, to: Address, asset: AssetId, amount: Amount) -> SignedTransaction {
    Transaction {
        chain_id: DEV_CHAIN_ID,
        signer: key.address(),
        nonce,
        access: transfer_access(key.address(), to, asset),
        instructions: vec![Instruction::Transfer { to, asset, amount }],
    }
    .sign(key)
}

/// The `parlend` binary of this build, built on demand if a test runs
/// before cargo built it.
pub fn parlend_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/parlend
    let profile_dir = exe.parent().and_then(Path::parent).expect("target directory layout");
    let binary = profile_dir.join(format!("parlend{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--workspace", "--bins"])
            .status()
            .expect("running cargo build for the parlend binary");
        assert!(status.success(), "building the parlend binary failed");
    }
    binary
}

/// A node running as a child process.
pub struct ChildNode {
    /// The process.
    pub child: Child,
    /// Its RPC URL.
    pub url: String,
}

impl ChildNode {
    /// Starts `parlend run --dev` on `data_dir` with a random port and waits
    /// for its "RPC listening on" line.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> ChildNode {
        let mut child = Command::new(parlend_binary())
            .args(["run", "--dev", "--rpc-addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning parlend");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            assert!(Instant::now() < deadline, "parlend did not print its RPC address in time");
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("RPC listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => panic!("parlend exited before serving"),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ChildNode { child, url }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
