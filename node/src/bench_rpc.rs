//! `parlend bench rpc`: throughput and latency on the path a user takes.
//!
//! Starts a node as a child process (or targets a running one), funds the
//! workload's signers in its genesis, commits the setup transactions
//! (untimed), then submits pre-signed transactions over real HTTP JSON-RPC
//! (`sendTransactions` batches) from several connections, closed loop (each
//! connection sends its next batch when the last is answered) or open loop
//! at an offered rate. A watcher follows the chain head and times every
//! transaction from its submission (its scheduled time, in open loop, so a
//! slow node cannot hide its queueing) to the moment its block is seen
//! committed (the node's `subscribeNewHeads` notification for it arrives;
//! a node without WebSocket has its head polled every 5 ms instead).
//! Reported from the same run: committed tx/s, transactions per block,
//! the share on the parallel executor, latency percentiles, rejections by
//! reason, the node's CPU time per committed transaction and the machine's signature-check
//! ceiling (`verify_strict` on all cores), beside the same check with the
//! signers' decompressed keys kept, as the node's admission does it.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use parking_lot::Mutex;
use parlend_app::SIGNER_KEYS_CACHED;
use parlend_contracts::SignedTransaction;
use parlend_ledger::Hash;
use parlend_ledger::crypto::KeyCache;
use parlend_rpc::Client;
use parlend_rpc::client::{PreparedSend, Subscription, WsClient};
use parlend_rpc::types::{BlockParams, BlockView, NewHeadView, SendOutcome, SendTransactionsParams};
use parlend_sim::workload::{RpcWorkload, WORKLOAD_CHAIN_ID, WorkloadKind, rpc_workload};
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::mpsc;

/// How long the node may take to print its RPC address.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the watcher asks for the head when it cannot subscribe to it,
/// and how often the drain checks for unsettled transactions.
const HEAD_POLL: Duration = Duration::from_millis(5);

/// Which node to measure.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start `parlend run` as a child process with these extra flags.
    Spawn {
        /// Flags after `parlend run --genesis G --data-dir D --rpc-addr 127.0.0.1:0`.
        flags: Vec<String>,
        /// Where the node keeps its chain (a temporary folder if `None`).
        data_dir: Option<PathBuf>,
    },
    /// A node already running with the workload's genesis
    /// (`--write-genesis` writes it).
    Url(String),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RpcBenchConfig {
    /// The workload (`transfers` or `lending-mix`).
    pub workload: WorkloadKind,
    /// Measured transactions.
    pub transactions: usize,
    /// Accounts signing them.
    pub signers: usize,
    /// HTTP connections submitting.
    pub connections: usize,
    /// Transactions per `sendTransactions` call.
    pub batch: usize,
    /// Offered load, transactions per second (`None`: closed loop, as fast
    /// as the node answers).
    pub rate: Option<u64>,
    /// Seed of the workload.
    pub seed: u64,
    /// The node.
    pub target: Target,
    /// Longest wait for the last commit after the last submission.
    pub drain_timeout: Duration,
}

/// Latency percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcBenchReport {
    /// The workload.
    pub workload: &'static str,
    /// Transactions submitted.
    pub transactions: usize,
    /// Signing accounts.
    pub signers: usize,
    /// HTTP connections.
    pub connections: usize,
    /// Transactions per call.
    pub batch: usize,
    /// Offered rate (`None`: closed loop).
    pub offered_tps: Option<u64>,
    /// Transactions seen committed.
    pub committed: usize,
    /// Committed transactions per second, first submission to last commit.
    pub committed_tps: f64,
    /// Blocks holding the measured transactions.
    pub blocks: usize,
    /// Mean transactions per block.
    pub transactions_per_block: f64,
    /// Largest block.
    pub transactions_per_block_max: usize,
    /// Share of those blocks the parallel executor ran (not its serial fallback).
    pub parallel_blocks_share: f64,
    /// Share of the transactions in blocks the parallel executor ran.
    pub parallel_transactions_share: f64,
    /// Submission to commit, milliseconds.
    pub latency_ms: Percentiles,
    /// Refused submissions by error (code and the first message seen).
    pub rejected: BTreeMap<String, u64>,
    /// The node's CPU time (user + system) per committed transaction, when
    /// the node is a child process.
    pub node_cpu_micros_per_transaction: Option<f64>,
    /// `verify_strict` on all cores of this machine, transactions per
    /// second: the mean of the measurements before and after the load.
    pub signature_ceiling_tps: f64,
    /// The ceiling measured before the load (the node not yet started).
    pub signature_ceiling_before_tps: f64,
    /// The ceiling measured after the load (the node stopped): how far the
    /// two differ says how much the machine itself moved during the run.
    pub signature_ceiling_after_tps: f64,
    /// `committed_tps / signature_ceiling_tps`.
    pub committed_over_ceiling: f64,
    /// The same check with the signers' decompressed keys kept, as the
    /// node's admission does, on all cores after the load: transactions
    /// per second.
    pub signature_ceiling_cached_keys_tps: f64,
    /// `committed_tps / signature_ceiling_cached_keys_tps`.
    pub committed_over_cached_keys_ceiling: f64,
    /// Seconds from the first submission to the last commit.
    pub elapsed_seconds: f64,
    /// Every block holding measured transactions: its size, and whether the
    /// parallel executor ran it.
    pub block_list: Vec<(usize, bool)>,
    /// How commits were seen: `subscription` (`subscribeNewHeads`) or
    /// `polling` (the head every 5 ms, for a node without WebSocket).
    pub commits_seen_by: &'static str,
}

/// Runs the benchmark.
pub fn run(config: &RpcBenchConfig) -> anyhow::Result<RpcBenchReport> {
    anyhow::ensure!(config.connections > 0 && config.batch > 0, "connections and batch must be positive");
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    eprintln!(
        "signing {} {} transactions from {} signers...",
        config.transactions,
        config.workload.name(),
        config.signers
    );
    let workload = rpc_workload(config.workload, config.transactions, config.signers, config.seed, timestamp)?;
    let before = signature_ceiling(&workload.transactions, None);
    let node = NodeUnderTest::start(&config.target, &workload)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(measure(config, &workload, &node));
    drop(node);
    let measured = result?;
    let after = signature_ceiling(&workload.transactions, None);
    let cached_keys = signature_ceiling(&workload.transactions, Some(&KeyCache::new(SIGNER_KEYS_CACHED)));
    Ok(report(config, measured, Ceiling { before, after, cached_keys }))
}

/// Writes the workload's genesis (for a node started by hand, `--url`).
pub fn write_genesis(config: &RpcBenchConfig, path: &Path) -> anyhow::Result<()> {
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let workload = rpc_workload(config.workload, 0, config.signers, config.seed, timestamp)?;
    std::fs::write(path, serde_json::to_vec_pretty(&workload.genesis)?)?;
    Ok(())
}

/// The machine's signature-check ceiling, measured before and after the
/// load (this VM's speed moves by ±10% between runs minutes apart), and
/// with the signers' keys kept (after the load).
#[derive(Clone, Copy)]
struct Ceiling {
    before: f64,
    after: f64,
    cached_keys: f64,
}

impl Ceiling {
    #[expect(clippy::float_arithmetic, reason = "a benchmark figure for people")]
    fn mean(self) -> f64 {
        (self.before + self.after) / 2.0
    }
}

/// `verify_strict` of every transaction on all cores (signers' keys from
/// `keys` when given, as admission takes them): transactions per second.
#[expect(clippy::float_arithmetic, reason = "a benchmark figure for people")]
fn signature_ceiling(transactions: &[SignedTransaction], keys: Option<&KeyCache>) -> f64 {
    let started = Instant::now();
    let check = |tx: &SignedTransaction| match keys {
        Some(keys) => tx.clone().verify_cached(WORKLOAD_CHAIN_ID, keys).is_ok(),
        None => tx.clone().verify(WORKLOAD_CHAIN_ID).is_ok(),
    };
    let valid = transactions.par_iter().filter(|tx| check(tx)).count();
    valid as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// The node being measured, and how to read its CPU time.
struct NodeUnderTest {
    url: String,
    child: Option<Child>,
    _scratch: Option<tempfile::TempDir>,
}

impl NodeUnderTest {
    fn start(target: &Target, workload: &RpcWorkload) -> anyhow::Result<NodeUnderTest> {
        let (flags, data_dir) = match target {
            Target::Url(url) => return Ok(NodeUnderTest { url: url.clone(), child: None, _scratch: None }),
            Target::Spawn { flags, data_dir } => (flags, data_dir),
        };
        let scratch = tempfile::tempdir()?;
        let genesis = scratch.path().join("genesis.json");
        std::fs::write(&genesis, serde_json::to_vec(&workload.genesis)?)?;
        let data = data_dir.clone().unwrap_or_else(|| scratch.path().join("data"));
        let mut child = Command::new(std::env::current_exe()?)
            .args(["run", "--rpc-addr", "127.0.0.1:0", "--genesis"])
            .arg(&genesis)
            .arg("--data-dir")
            .arg(&data)
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the node")?;
        let url = read_rpc_address(&mut child)?;
        Ok(NodeUnderTest { url, child: Some(child), _scratch: Some(scratch) })
    }

    /// User plus system CPU time of the child node so far.
    fn cpu_time(&self) -> Option<Duration> {
        let child = self.child.as_ref()?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 1_000 / clock_ticks_per_second()))
    }
}

impl Drop for NodeUnderTest {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

fn read_rpc_address(child: &mut Child) -> anyhow::Result<String> {
    let stdout = child.stdout.take().context("the node's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + NODE_START_TIMEOUT;
    let url = loop {
        if Instant::now() > deadline {
            bail!("the node did not print its RPC address in time");
        }
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("RPC listening on ") {
                    break url.trim().to_string();
                }
            }
            _ => bail!("the node exited before serving"),
        }
    };
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(url)
}

/// What the submitters and the watcher saw.
struct Measured {
    submitted: usize,
    latencies: Vec<Duration>,
    blocks: Vec<(usize, bool)>,
    rejected: BTreeMap<String, u64>,
    elapsed: Duration,
    node_cpu: Option<Duration>,
    seen_by: &'static str,
}

/// When each accepted transaction was submitted; filled by the submitters,
/// emptied by the watcher.
type Pending = Arc<Mutex<HashMap<Hash, Instant>>>;

/// What the watcher saw: each measured transaction's latency, each block
/// holding some (its size, whether it ran in parallel), the last commit.
#[derive(Default)]
struct Watched {
    latencies: Vec<Duration>,
    blocks: Vec<(usize, bool)>,
    last_commit: Option<Instant>,
}

async fn measure(config: &RpcBenchConfig, workload: &RpcWorkload, node: &NodeUnderTest) -> anyhow::Result<Measured> {
    let client = Client::new(&node.url)?;
    commit_setup(&client, &workload.setup, config.batch).await?;
    let pending: Pending = Arc::default();
    // Requests are encoded before the clock starts, as a load generator on
    // another machine would have them: the run spends this machine's cores
    // on the node, not on encoding.
    let partitions: Vec<Vec<Batch>> = partition(&workload.transactions, config.connections)
        .iter()
        .map(|transactions| transactions.chunks(config.batch.max(1)).map(Batch::of).collect())
        .collect::<anyhow::Result<_>>()?;
    // Subscribed before the clock starts (connecting is not the node's
    // work) and before the first height is read (no block after it missed).
    let heads = Heads::follow(&node.url).await;
    let seen_by = heads.name();
    let cpu_before = node.cpu_time();
    let started = Instant::now();
    let first_height = client.head().await?.height;
    let watched: Arc<Mutex<Watched>> = Arc::default();
    let watcher = tokio::spawn(watch(client.clone(), heads, pending.clone(), watched.clone(), first_height));
    let mut submitters = Vec::new();
    for (index, batches) in partitions.into_iter().enumerate() {
        let url = node.url.clone();
        let pending = pending.clone();
        let schedule = Schedule::new(config, index, started);
        submitters.push(tokio::spawn(submit(url, batches, schedule, pending)));
    }
    let mut rejected = BTreeMap::new();
    let mut submitted = 0;
    for submitter in submitters {
        let (sent, refused) = submitter.await??;
        submitted += sent;
        for (reason, count) in refused {
            *rejected.entry(reason).or_insert(0) += count;
        }
    }
    let deadline = Instant::now() + config.drain_timeout;
    while !pending.lock().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(HEAD_POLL).await;
    }
    watcher.abort();
    if let Ok(Err(error)) = watcher.await {
        return Err(error.context("following the chain"));
    }
    let node_cpu = node.cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    let Watched { latencies, blocks, last_commit } = std::mem::take(&mut *watched.lock());
    let elapsed = last_commit.unwrap_or_else(Instant::now).saturating_duration_since(started);
    Ok(Measured { submitted, latencies, blocks, rejected, elapsed, node_cpu, seen_by })
}

/// Commits the setup transactions (positions for lending), untimed.
async fn commit_setup(client: &Client, setup: &[SignedTransaction], batch: usize) -> anyhow::Result<()> {
    if setup.is_empty() {
        return Ok(());
    }
    eprintln!("committing {} setup transactions...", setup.len());
    for chunk in setup.chunks(batch) {
        let outcomes = client.send_many(chunk, true).await?;
        if let Some(error) = outcomes.iter().find_map(|outcome| outcome.error.as_ref()) {
            bail!("a setup transaction was refused: {} (code {})", error.message, error.code);
        }
    }
    Ok(())
}

/// Splits transactions over connections so that each signer's stay on one
/// connection, in nonce order.
fn partition(transactions: &[SignedTransaction], connections: usize) -> Vec<Vec<SignedTransaction>> {
    let mut partitions = vec![Vec::new(); connections];
    for transaction in transactions {
        let signer = transaction.transaction.signer.0;
        let slot = usize::from(u16::from_be_bytes([signer[0], signer[1]])) % connections;
        partitions[slot].push(transaction.clone());
    }
    partitions
}

/// When a connection sends its batches: as soon as it can (closed loop), or
/// each at its slot of an offered rate shared by all connections.
#[derive(Clone, Copy)]
struct Schedule {
    started: Instant,
    /// Time between this connection's batches (`None`: closed loop).
    spacing: Option<Duration>,
    /// This connection's offset, so connections interleave.
    offset: Duration,
}

impl Schedule {
    fn new(config: &RpcBenchConfig, index: usize, started: Instant) -> Schedule {
        let spacing = config.rate.filter(|rate| *rate > 0).map(|rate| {
            let per_connection_nanos =
                1_000_000_000u128 * (config.batch * config.connections) as u128 / u128::from(rate);
            Duration::from_nanos(u64::try_from(per_connection_nanos).unwrap_or(u64::MAX))
        });
        let offset = spacing.map_or(Duration::ZERO, |spacing| {
            spacing / u32::try_from(config.connections).unwrap_or(1) * u32::try_from(index).unwrap_or(0)
        });
        Schedule { started, spacing, offset }
    }

    /// When batch `number` is due (`None`: now).
    fn due(&self, number: u32) -> Option<Instant> {
        self.spacing.map(|spacing| self.started + self.offset + spacing * number)
    }
}

/// One request: its transactions' ids and its encoded parameters.
struct Batch {
    hashes: Vec<Hash>,
    params: PreparedSend,
}

impl Batch {
    fn of(transactions: &[SignedTransaction]) -> anyhow::Result<Batch> {
        let hex = transactions.iter().map(|transaction| const_hex::encode(transaction.encode())).collect();
        Ok(Batch {
            hashes: transactions.iter().map(SignedTransaction::hash).collect(),
            params: PreparedSend::new(&SendTransactionsParams { transactions: hex, wait: false, timeout_ms: None })?,
        })
    }
}

/// One connection: sends its batches; returns how many transactions it
/// sent and the refusals by reason.
async fn submit(
    url: String,
    batches: Vec<Batch>,
    schedule: Schedule,
    pending: Pending,
) -> anyhow::Result<(usize, BTreeMap<String, u64>)> {
    let client = Client::new(&url)?;
    let mut refused = BTreeMap::new();
    let mut sent = 0;
    for (number, Batch { hashes, params }) in batches.into_iter().enumerate() {
        let due = schedule.due(u32::try_from(number).unwrap_or(u32::MAX));
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
        }
        let submitted_at = due.unwrap_or_else(Instant::now);
        // Registered before sending: a block may commit them before the
        // answer arrives.
        pending.lock().extend(hashes.iter().map(|hash| (*hash, submitted_at)));
        sent += hashes.len();
        let outcomes: Vec<SendOutcome> = client.send_prepared(params).await?;
        let mut pending = pending.lock();
        for (hash, outcome) in hashes.iter().zip(outcomes) {
            if outcome.accepted.is_some() {
                continue;
            }
            pending.remove(hash);
            let reason = match outcome.error {
                Some(error) => format!("{} {}", error.code, reason_of(&error.message)),
                None => "no answer".to_string(),
            };
            *refused.entry(reason).or_insert(0) += 1;
        }
    }
    Ok((sent, refused))
}

/// The stable part of an error message (before any numbers).
fn reason_of(message: &str) -> &str {
    message.split(|c: char| c == ':' || c.is_ascii_digit()).next().unwrap_or(message).trim()
}

/// A new head and the moment the watcher learned of it.
type Arrival = anyhow::Result<(u64, Instant)>;

/// How the watcher learns of new blocks: the node's `subscribeNewHeads`
/// (a notification as each block commits), or, where the node has no
/// WebSocket endpoint, the head polled every 5 ms.
enum Heads {
    /// The subscription and the connection that carries it.
    Subscribed(WsClient, Subscription<NewHeadView>),
    /// No subscription: poll.
    Polled,
}

impl Heads {
    /// Subscribes to the node's heads; polls if that fails.
    async fn follow(url: &str) -> Heads {
        let subscribed = async {
            let ws = WsClient::connect(url).await?;
            let heads = ws.new_heads().await?;
            Ok::<_, parlend_rpc::ClientError>(Heads::Subscribed(ws, heads))
        };
        subscribed.await.unwrap_or_else(|error| {
            eprintln!("no heads subscription ({error}); polling the head every {} ms", HEAD_POLL.as_millis());
            Heads::Polled
        })
    }

    /// How it learns of commits, as the report names it.
    fn name(&self) -> &'static str {
        match self {
            Heads::Subscribed(..) => "subscription",
            Heads::Polled => "polling",
        }
    }

    /// Sends every new head with the moment it arrived, until the heads
    /// end (the error says why) or the receiver is gone.
    async fn announce(self, client: Client, arrivals: mpsc::UnboundedSender<Arrival>) {
        match self {
            Heads::Subscribed(_ws, mut heads) => loop {
                let arrival = match heads.next().await {
                    Some(Ok(head)) => Ok((head.header.height, Instant::now())),
                    Some(Err(error)) => Err(anyhow::anyhow!("a head notification was not understood: {error}")),
                    None => Err(anyhow::anyhow!("the heads subscription ended ({:?})", heads.close_reason())),
                };
                if !passed_on(&arrivals, arrival) {
                    return;
                }
            },
            Heads::Polled => loop {
                let arrival = client.head().await.map(|head| (head.height, Instant::now())).map_err(Into::into);
                if !passed_on(&arrivals, arrival) {
                    return;
                }
                tokio::time::sleep(HEAD_POLL).await;
            },
        }
    }
}

/// Sends `arrival`; whether the heads go on (it was not an error and the
/// watcher still listens).
fn passed_on(arrivals: &mpsc::UnboundedSender<Arrival>, arrival: Arrival) -> bool {
    let ended = arrival.is_err();
    arrivals.send(arrival).is_ok() && !ended
}

/// Follows the head; for every new block, times its measured transactions
/// to the moment the watcher learned that the head includes it (a task of
/// its own reads the heads, so fetching each block's list of transactions
/// afterwards, the watcher's bookkeeping, never delays that moment).
async fn watch(
    client: Client,
    heads: Heads,
    pending: Pending,
    watched: Arc<Mutex<Watched>>,
    from_height: u64,
) -> anyhow::Result<()> {
    let (sender, mut arrivals) = mpsc::unbounded_channel();
    // A set aborts its tasks when dropped: the announcer ends with the watcher.
    let mut announcer = tokio::task::JoinSet::new();
    announcer.spawn(heads.announce(client.clone(), sender));
    let mut height = from_height;
    while let Some(arrival) = arrivals.recv().await {
        let (head, seen) = arrival?;
        while height < head {
            height += 1;
            let block = client.block(&BlockParams { height: Some(height), ..BlockParams::default() }).await?;
            if let Some(block) = block {
                settle(&block, seen, &pending, &watched);
            }
        }
    }
    Ok(())
}

/// Times a committed block's measured transactions to `seen`.
fn settle(block: &BlockView, seen: Instant, pending: &Pending, watched: &Mutex<Watched>) {
    let mut pending = pending.lock();
    let mut watched = watched.lock();
    let before = watched.latencies.len();
    for hash in &block.transactions {
        if let Some(submitted) = pending.remove(hash) {
            watched.latencies.push(seen.saturating_duration_since(submitted));
        }
    }
    if watched.latencies.len() > before {
        let parallel = block.execution.as_ref().is_some_and(|execution| execution.parallel);
        watched.blocks.push((block.transactions.len(), parallel));
        watched.last_commit = Some(seen);
    }
}

/// The report of a run.
#[expect(clippy::float_arithmetic, reason = "benchmark figures for people")]
fn report(config: &RpcBenchConfig, measured: Measured, ceiling: Ceiling) -> RpcBenchReport {
    let Measured { submitted, mut latencies, blocks, rejected, elapsed, node_cpu, seen_by } = measured;
    let committed = latencies.len();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let committed_tps = committed as f64 / seconds;
    let in_blocks: usize = blocks.iter().map(|(count, _)| count).sum();
    let parallel_blocks = blocks.iter().filter(|(_, parallel)| *parallel).count();
    let in_parallel: usize = blocks.iter().filter(|(_, parallel)| *parallel).map(|(count, _)| count).sum();
    let share = |part: usize, whole: usize| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    latencies.sort_unstable();
    // The smallest latency that `per_mille` of them do not exceed.
    let at = |per_mille: usize| {
        let rank = (latencies.len() * per_mille).div_ceil(1_000).clamp(1, latencies.len().max(1));
        latencies.get(rank - 1).map_or(0.0, |latency| latency.as_secs_f64() * 1_000.0)
    };
    RpcBenchReport {
        workload: config.workload.name(),
        transactions: submitted,
        signers: config.signers,
        connections: config.connections,
        batch: config.batch,
        offered_tps: config.rate,
        committed,
        committed_tps,
        blocks: blocks.len(),
        transactions_per_block: share(in_blocks, blocks.len()),
        transactions_per_block_max: blocks.iter().map(|(count, _)| *count).max().unwrap_or(0),
        parallel_blocks_share: share(parallel_blocks, blocks.len()),
        parallel_transactions_share: share(in_parallel, in_blocks),
        latency_ms: Percentiles { p50: at(500), p90: at(900), p99: at(990), max: at(1_000) },
        rejected,
        node_cpu_micros_per_transaction: node_cpu
            .filter(|_| committed > 0)
            .map(|cpu| cpu.as_secs_f64() * 1_000_000.0 / committed as f64),
        signature_ceiling_tps: ceiling.mean(),
        signature_ceiling_before_tps: ceiling.before,
        signature_ceiling_after_tps: ceiling.after,
        committed_over_ceiling: committed_tps / ceiling.mean().max(1e-9),
        signature_ceiling_cached_keys_tps: ceiling.cached_keys,
        committed_over_cached_keys_ceiling: committed_tps / ceiling.cached_keys.max(1e-9),
        elapsed_seconds: seconds,
        block_list: blocks,
        commits_seen_by: seen_by,
    }
}
