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

use parlend_contracts::dev::dev_genesis;
use parlend_contracts::{Instruction, SignedTransaction, Transaction};
use parlend_ledger::{Access, AccessMode, AccessSet, Address, Amount, AssetId, Keypair, StateKey};
use parlend_log::replay::{ReplayError, ReplayOptions, ReplaySummary};
use parlend_node::node::{Node, NodeConfig, NodeHandle};
use parlend_rpc::Client;

pub use parlend_contracts::dev::{DEV_CHAIN_ID, dev_keypair, dev_minter};

/// Replays the log at `path` from genesis with every check (state root,
/// receipts root, block hash of every block), on one thread per core;
/// streaming, so memory is bounded by the chain's state, not the log.
pub fn replay(path: &Path) -> Result<ReplaySummary, ReplayError> {
    replay_with_threads(path, 0)
}

/// [`replay`] on `threads` executor threads.
pub fn replay_with_threads(path: &Path, threads: usize) -> Result<ReplaySummary, ReplayError> {
    parlend_log::replay::replay_file(path, &ReplayOptions { threads, halt_at_height: None })
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
    let decimals = parlend_contracts::dev::DEV_ASSETS.iter().find(|(s, _)| *s == symbol).expect("dev asset").1;
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

/// A base port for `parlend testnet init --base-port` unlikely to be in
/// use: testnets of several test processes must not collide, so each
/// `salt` (one per test) has a range of its own, 3,000 ports wide, and the
/// place in it depends on the process and the time.
pub fn testnet_base_port(salt: u16) -> u16 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |time| time.subsec_nanos());
    let spread = u16::try_from((std::process::id() ^ nanos) % 300).unwrap_or(0);
    20_000 + salt * 3_000 + spread * 8
}

/// The `parlend` binary of this build. Cargo does not build another
/// package's binaries for these tests, so the first call in each test
/// process runs `cargo build` (quick when it is fresh): a binary left from
/// an older build would test old code.
pub fn parlend_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/<test> -> target/<profile>/parlend
            let profile_dir = exe.parent().and_then(Path::parent).expect("target directory layout");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--workspace", "--bins"]);
            // Cargo gives this test process its package's variables; build
            // scripts that watch them (ring's) would see a change from the
            // outer build and rebuild themselves and their dependents.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if name.starts_with("CARGO_PKG_")
                    || name.starts_with("CARGO_MANIFEST_")
                    || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&&*name)
                {
                    build.env_remove(&*name);
                }
            }
            if profile_dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("running cargo build for the parlend binary");
            assert!(status.success(), "building the parlend binary failed");
            profile_dir.join(format!("parlend{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
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
        let mut args: Vec<std::ffi::OsString> =
            ["run", "--dev", "--rpc-addr", "127.0.0.1:0", "--data-dir"].iter().map(Into::into).collect();
        args.push(data_dir.into());
        args.extend(extra.iter().map(Into::into));
        ChildNode::spawn_with(&args)
    }

    /// Starts `parlend run --config CONFIG` (a validator of a testnet).
    pub fn spawn_config(config: &Path, extra: &[&str]) -> ChildNode {
        let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "--config".into(), config.into()];
        args.extend(extra.iter().map(Into::into));
        ChildNode::spawn_with(&args)
    }

    /// Starts `parlend ARGS` and waits for its "RPC listening on" line.
    pub fn spawn_with(args: &[std::ffi::OsString]) -> ChildNode {
        let mut child = Command::new(parlend_binary())
            .args(args)
            // Validators' peers come and go in tests: their network's
            // connection warnings are expected noise.
            .env("RUST_LOG", "warn,arc_malachitebft_network=error,arc_malachitebft_discovery=error")
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

/// Whole US dollars as an oracle price (18 decimals).
pub fn usd(whole: u128) -> parlend_ledger::Wad {
    parlend_ledger::Wad(whole * parlend_ledger::Wad::SCALE)
}

/// Posts `prices` (symbol, whole USD) as the dev oracle (dev account 0),
/// observed at the node's clock, and waits for the block. The dev genesis
/// prices are as old as the genesis, so every lending test posts fresh ones.
pub async fn post_prices(client: &Client, prices: &[(&str, u128)]) {
    let clock = client.head().await.expect("head").clock;
    let instructions = prices
        .iter()
        .map(|(symbol, price)| Instruction::SetPrice { asset: asset(symbol), price: usd(*price), timestamp: clock })
        .collect();
    let status = client.submit(&dev_keypair(0), instructions, true).await.expect("prices are posted");
    assert_eq!(status.status, parlend_rpc::types::TxState::Committed, "posting prices failed: {status:?}");
}

/// Submits `instructions` signed by `key`, waits, and asserts success.
pub async fn submit_ok(
    client: &Client,
    key: &Keypair,
    instructions: Vec<Instruction>,
) -> parlend_rpc::types::TxStatusView {
    let status = client.submit(key, instructions, true).await.expect("submitted");
    assert_eq!(status.status, parlend_rpc::types::TxState::Committed, "transaction failed: {status:?}");
    status
}

/// POSTs a raw body to `url` from a blocking thread; returns the HTTP status
/// and the body as JSON (a JSON string holding the text if it is not JSON).
pub async fn post_raw(url: &str, body: impl Into<Vec<u8>>) -> (u16, serde_json::Value) {
    let (url, body) = (url.to_string(), body.into());
    tokio::task::spawn_blocking(move || post_blocking(&url, body)).await.expect("the request thread")
}

/// The blocking form of [`post_raw`].
pub fn post_blocking(url: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.post(url).header("content-type", "application/json").send(body).expect("HTTP request");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Calls `method` with `params` over raw HTTP; returns the HTTP status and body.
pub async fn call(url: &str, method: &str, params: serde_json::Value) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post_raw(url, body.to_string()).await
}

/// The JSON-RPC error code of a response body (panics if it has none).
pub fn error_code(body: &serde_json::Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or_else(|| panic!("expected a JSON-RPC error, got {body}"))
}

/// A WebSocket JSON-RPC connection at the frame level, for tests that need
/// to control reading (a subscriber that stops reading) or see raw
/// notifications and errors.
pub struct RawWs {
    sender: soketto::Sender<tokio_util::compat::Compat<tokio::net::TcpStream>>,
    receiver: soketto::Receiver<tokio_util::compat::Compat<tokio::net::TcpStream>>,
    next_id: u64,
    /// Messages read while waiting for an answer, in order.
    queued: std::collections::VecDeque<serde_json::Value>,
}

impl RawWs {
    /// Opens a WebSocket to the node at `url` (`http://host:port`). With
    /// `receive_buffer`, the socket's kernel receive buffer is that small.
    /// `Err` holds the HTTP status of a refused upgrade.
    pub async fn connect(url: &str, receive_buffer: Option<u32>) -> Result<RawWs, u16> {
        use tokio_util::compat::TokioAsyncReadCompatExt;
        let host = url.trim_start_matches("http://").to_string();
        let address: std::net::SocketAddr = host.parse().expect("an address");
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).expect("a receive buffer size");
        }
        let stream = socket.connect(address).await.expect("connecting");
        let mut client = soketto::handshake::Client::new(stream.compat(), &host, "/");
        match client.handshake().await.expect("a handshake answer") {
            soketto::handshake::ServerResponse::Accepted { .. } => {}
            soketto::handshake::ServerResponse::Rejected { status_code } => return Err(status_code),
            soketto::handshake::ServerResponse::Redirect { status_code, .. } => return Err(status_code),
        }
        let (sender, receiver) = client.into_builder().finish();
        Ok(RawWs { sender, receiver, next_id: 1, queued: std::collections::VecDeque::new() })
    }

    /// Sends a call and returns its answer (an object with `result` or
    /// `error`); notifications that arrive first are kept for
    /// [`RawWs::next_message`].
    pub async fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.sender.send_text(body.to_string()).await.expect("sending");
        self.sender.flush().await.expect("flushing");
        loop {
            let message = self
                .receive(std::time::Duration::from_secs(20))
                .await
                .unwrap_or_else(|| panic!("no answer to {method}"));
            if message["id"].as_u64() == Some(id) {
                return message;
            }
            self.queued.push_back(message);
        }
    }

    /// The next message (kept or read), waiting at most `timeout`.
    pub async fn next_message(&mut self, timeout: std::time::Duration) -> Option<serde_json::Value> {
        match self.queued.pop_front() {
            Some(message) => Some(message),
            None => self.receive(timeout).await,
        }
    }

    async fn receive(&mut self, timeout: std::time::Duration) -> Option<serde_json::Value> {
        let mut data = Vec::new();
        match tokio::time::timeout(timeout, self.receiver.receive_data(&mut data)).await {
            Ok(Ok(_)) => Some(serde_json::from_slice(&data).expect("JSON")),
            Ok(Err(_)) | Err(_) => None,
        }
    }
}
