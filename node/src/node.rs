//! The running node: application, mempool, block producer and the RPC face.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use parlend_contracts::Instruction;
use parlend_contracts::genesis::Genesis;
use parlend_contracts::query::{self, QueryError};
use parlend_contracts::state::GlobalConfig;
use parlend_contracts::{Block, Transaction, VerifiedTransaction};
use parlend_ledger::block::Receipt;
use parlend_ledger::exec::{AccountState, BlockContext, ExecutionStats, prepare_transaction, simulate_transaction};
use parlend_ledger::state::{StateReader, StoreError};
use parlend_ledger::{AccessSet, Address, Hash, Keypair, RejectReason, StateKey};
use parlend_ledger::{AssetId, Wad};
use parlend_rpc::api::HttpRejection;
use parlend_rpc::types::{
    AT_RISK_BELOW_DEFAULT, AccountView, BalancesView, BlockExecutionView, BlockParams, BlockView, CertificateView,
    ClockView, CommitSignatureView, CommittedTransactionView, ConsensusPeerView, ConsensusView, ErrorView,
    EventsParams, EventsView, FaucetParams, HeadView, INCREASE_TIME_SECONDS_MAX, LIQUIDATABLE_LIMIT_DEFAULT,
    LiquidatableParams, LiquidatableView, MarketView, MineView, OutcomeView, PositionView, PriceEntryView, ProofParams,
    ProofView, Proven, ReceiptView, RevertView, SimulateParams, SimulationView, SnapshotView, StateChangeView,
    StateProofsView, TransactionView, TxState, TxStatusView, ValidatorView, ValidatorsView,
};
use parlend_rpc::{ApiError, NodeApi, RunningServer, ServerLimits};
use parlend_store::{ChainHead, DEFAULT_STATE_HISTORY, MemoryStore, RocksStore, RocksStoreOptions, Store};
use rayon::prelude::*;
use tokio::sync::watch;

use crate::admitting::Admitting;
use crate::events::{outcome_view, typed_events};
use crate::feed::{self, Feed};
use crate::mempool::{Mempool, MempoolLimits};
use crate::metrics::{BlockTimings, Metrics};
use crate::producer::{self, Command, ExecuteAhead, ProduceError};
use crate::proving::{ProvingError, ProvingReader};
use crate::relay::{Relay, RelayLimits};
use crate::validator::NodeHost;
use parlend_app::certificate::{CommitCertificate, ValidatorSet};
use parlend_app::{App, AppError};
use parlend_consensus::{ConsensusStatus, RunningValidator, ValidatorConfig, ValidatorError};
use parlend_contracts::dev::{dev_keypair, dev_minter};

/// Everything a node is configured with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The chain's genesis.
    pub genesis: Genesis,
    /// Where RocksDB keeps the chain; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
    /// Where the RPC listens (port 0 picks a free port).
    pub rpc_address: SocketAddr,
    /// Time between blocks; zero produces a block as soon as transactions arrive.
    pub block_time: Duration,
    /// Mempool bounds.
    pub mempool: MempoolLimits,
    /// Most transactions per block.
    pub block_transactions_max: usize,
    /// fsync every block.
    pub fsync: bool,
    /// How many heights' state trees to keep for proofs (`None`: every
    /// height, an archive node); older ones are pruned.
    pub state_history: Option<u64>,
    /// Dev mode: dev-only RPC methods are enabled.
    pub dev: bool,
    /// RPC limits.
    pub rpc_limits: ServerLimits,
    /// Threads executing blocks (0: one per core).
    pub threads: usize,
    /// Produce blocks only when asked (`dev_mine`), like anvil's
    /// `--no-mining`: transactions stay pending until then.
    pub manual_mining: bool,
    /// Dev mode: at start, re-post stale oracle prices at their last value
    /// (see [`Node::refresh_dev_prices`]). `parlend run --dev` turns it on;
    /// tests that count blocks from genesis leave it off.
    pub refresh_dev_prices: bool,
    /// Validator mode: blocks are decided with the other validators of the
    /// genesis through the consensus engine, not cut by a producer.
    pub validator: Option<ValidatorConfig>,
    /// Validator mode: the other validators' RPC addresses, where
    /// transactions this node admits are relayed.
    pub relay_to: Vec<SocketAddr>,
    /// Test only: propose blocks with a wrong state root.
    pub wrong_state_root: bool,
    /// Blocks a subscriber may fall behind before it is dropped (the
    /// capacity of the block feed's broadcast channel).
    pub feed_capacity: usize,
    /// With an interval: whether a block being built executes its first
    /// part before the cut.
    pub execute_ahead: ExecuteAhead,
    /// With an interval: how long a cut may wait past its deadline for the
    /// `sendTransactions` batches being admitted then that should be in by
    /// the end of it ([`crate::admitting`]); `None`: an eighth of the
    /// interval; zero: never.
    pub cut_grace: Option<Duration>,
}

impl NodeConfig {
    /// Defaults around a genesis: in memory, on-demand blocks, port 0.
    pub fn new(genesis: Genesis) -> NodeConfig {
        NodeConfig {
            genesis,
            data_dir: None,
            rpc_address: SocketAddr::from(([127, 0, 0, 1], 0)),
            block_time: Duration::ZERO,
            mempool: MempoolLimits::default(),
            block_transactions_max: 5_000,
            fsync: true,
            state_history: Some(DEFAULT_STATE_HISTORY),
            dev: true,
            rpc_limits: ServerLimits::default(),
            threads: 0,
            manual_mining: false,
            refresh_dev_prices: false,
            validator: None,
            relay_to: Vec::new(),
            wrong_state_root: false,
            feed_capacity: FEED_CAPACITY_DEFAULT,
            execute_ahead: ExecuteAhead::default(),
            cut_grace: None,
        }
    }

    /// How long a cut may wait for batches being admitted (see
    /// [`NodeConfig::cut_grace`]); zero on demand (no interval).
    pub fn cut_grace(&self) -> Duration {
        if self.block_time.is_zero() {
            return Duration::ZERO;
        }
        self.cut_grace.unwrap_or(self.block_time / CUT_GRACE_DIVISOR)
    }
}

/// Without [`NodeConfig::cut_grace`], a cut waits at most the interval
/// divided by this for batches being admitted.
pub const CUT_GRACE_DIVISOR: u32 = 8;

/// Default of [`NodeConfig::feed_capacity`]. The broadcast channel keeps
/// the last this many blocks' feeds (shared by every subscriber), so it
/// bounds the feed's memory too.
pub const FEED_CAPACITY_DEFAULT: usize = 64;

/// Why a node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    /// Another process holds the data directory's lock.
    #[error(
        "the data directory {} is in use by another parlend node: stop that node, or give another --data-dir \
         (or --in-memory)",
        .0.display()
    )]
    DataDirInUse(PathBuf),
    /// The application could not start.
    #[error(transparent)]
    App(#[from] AppError),
    /// The admission threads could not start.
    #[error("cannot start the admission threads: {0}")]
    Admission(String),
    /// The consensus engine could not start.
    #[error(transparent)]
    Validator(#[from] ValidatorError),
    /// The RPC could not bind.
    #[error("cannot serve RPC on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// The node: the state every RPC call and the producer share.
pub struct Node {
    app: App,
    mempool: Mutex<Mempool>,
    /// A `Wake` is on its way to the producer (admission sends one at a time).
    pub(crate) wake_pending: AtomicBool,
    /// Checks signatures of `sendTransactions` batches on every core.
    admission: rayon::ThreadPool,
    /// The batches being admitted (a cut may wait for one).
    pub(crate) admitting: Admitting,
    heads: watch::Sender<u64>,
    /// How recent blocks were executed (height, stats), oldest first.
    executions: Mutex<VecDeque<(u64, BlockExecutionView)>>,
    /// The last blocks' receipts (and the last few blocks), decoded,
    /// oldest first.
    recent: Mutex<VecDeque<RecentBlock>>,
    commands: Mutex<mpsc::Sender<Command>>,
    config: NodeConfig,
    dev: Mutex<DevState>,
    /// Serializes `dev_faucet`: each mint takes the minter's next nonce.
    faucet: Mutex<()>,
    metrics: Metrics,
    /// The chain's validators (empty: a single-node chain).
    validators: ValidatorSet,
    /// Validator mode: where consensus is.
    consensus: OnceLock<Arc<Mutex<ConsensusStatus>>>,
    /// Validator mode: sends admitted transactions to the other validators.
    relay: OnceLock<Relay>,
    /// The block feed and the liquidatable index.
    feed: Feed,
}

/// Dev mode's clock offset and snapshots.
#[derive(Debug, Default)]
struct DevState {
    /// Seconds added to the wall clock by `dev_increaseTime`.
    offset_seconds: u64,
    /// Live snapshots, oldest first.
    snapshots: Vec<Snapshot>,
    /// The id of the next snapshot.
    next_snapshot_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Snapshot {
    id: u64,
    height: u64,
    offset_seconds: u64,
}

/// Batches at least this long have their signatures checked on every core.
const PARALLEL_ADMISSION_MIN: usize = 8;

/// A `sendTransactions` batch is checked and inserted this many
/// transactions at a time: on 2 cores a chunk's signatures take ~3.5 ms, a
/// 1,000-transaction batch's ~28 ms, which its first transactions no longer
/// wait for.
pub const ADMISSION_CHUNK: usize = 128;

/// What inserting a checked chunk gave: each transaction's id or refusal,
/// whether the mempool stopped being empty and whether it came to hold a
/// full block.
struct Inserted {
    results: Vec<Result<Hash, ApiError>>,
    started_waiting: bool,
    filled_block: bool,
}

/// Blocks whose execution stats the node keeps for `getBlock`.
pub const EXECUTIONS_KEPT: usize = 4_096;

/// Blocks whose receipts the node keeps decoded in memory.
pub const RECEIPTS_KEPT: usize = 64;

/// Blocks the node keeps decoded in memory after their commit, with their
/// transaction ids (the block feed, `getBlock` and `getTransaction` read
/// recent blocks without a store read and decode).
pub const BLOCKS_KEPT: usize = 16;

/// At most this many transactions in the blocks kept in memory (the
/// newest block is always kept): 16 blocks of the default size (peak RSS
/// +52 MB in a 200,000-transaction lending run), four of the largest.
pub const BLOCKS_KEPT_TRANSACTIONS: usize = 80_000;

/// One committed block's receipts and, while it is among the last
/// [`BLOCKS_KEPT`], the block and its transaction ids.
#[derive(Clone)]
struct RecentBlock {
    height: u64,
    hash: Hash,
    receipts: Arc<Vec<Receipt>>,
    block: Option<KeptBlock>,
}

/// A block and its transactions' ids, in block order.
type KeptBlock = (Arc<Block>, Arc<Vec<Hash>>);

/// Keeps the blocks of the newest `blocks_max` entries of `recent` (oldest
/// first) while they hold at most `transactions_max` transactions in all;
/// the newest block is always kept. The receipts stay. Gives back the
/// blocks it forgot.
fn forget_old_blocks(recent: &mut VecDeque<RecentBlock>, blocks_max: usize, transactions_max: usize) -> Vec<KeptBlock> {
    let mut transactions = 0;
    let mut forgotten = Vec::new();
    for (age, kept) in recent.iter_mut().rev().enumerate() {
        let Some((block, _)) = &kept.block else { break };
        transactions += block.transactions.len();
        if age > 0 && (age >= blocks_max || transactions > transactions_max) {
            forgotten.extend(kept.block.take());
        }
    }
    forgotten
}

/// What [`Node::remember`] forgot: the oldest receipts and old blocks.
type Forgotten = (Option<RecentBlock>, Vec<KeptBlock>);

/// A committed block as the committer publishes it.
pub(crate) struct Published {
    /// The block.
    pub(crate) block: Block,
    /// Its transactions' ids, in block order.
    pub(crate) hashes: Vec<Hash>,
    /// Its receipts, in block order.
    pub(crate) receipts: Arc<Vec<Receipt>>,
}

/// Most live snapshots; the oldest is forgotten beyond it.
pub const SNAPSHOTS_MAX: usize = 1_000;

/// Most positions the liquidatable index reads when it is (re)built.
pub const LIQUIDATABLE_SCAN_MAX: u64 = 1_000_000;

/// A started node: its RPC server and producer thread.
pub struct NodeHandle {
    /// The node.
    pub node: Arc<Node>,
    /// The RPC's bound address.
    pub rpc_address: SocketAddr,
    server: RunningServer,
    producer: Option<JoinHandle<()>>,
    validator: Option<RunningValidator>,
}

impl NodeHandle {
    /// Stops producing (finishing the block in progress) and serving.
    pub async fn shutdown(mut self) {
        if let Some(validator) = self.validator.take() {
            validator.stop().await;
        }
        let _ = self.node.commands.lock().send(Command::Stop);
        if let Some(producer) = self.producer.take() {
            let _ = tokio::task::spawn_blocking(move || producer.join()).await;
        }
        self.server.stop().await;
        // The store closes (and its RocksDB lock is released) when the last
        // reference to the node is gone; connection tasks drop theirs as they
        // finish. Wait for that, bounded, so a restart in the same process
        // can reopen the directory.
        let deadline = Instant::now() + STORE_RELEASE_TIMEOUT;
        while Arc::strong_count(&self.node) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if Arc::strong_count(&self.node) > 1 {
            tracing::warn!("node state still referenced after shutdown; the store stays open until released");
        }
    }
}

/// How long [`NodeHandle::shutdown`] waits for the last reference to the node.
/// How long a dev time warp waits for its price update to be committed.
const WARP_PRICES_WAIT: Duration = Duration::from_secs(10);

const STORE_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// How much lower than the block pipeline's the scheduling priority of the
/// admission and feed threads is (a `nice` increment).
const BEHIND_THE_PIPELINE: i32 = 5;

/// Lowers the calling thread's scheduling priority below the block
/// pipeline's (producer, executor, committer): when both want a core, the
/// block being cut, executed and committed gets it first, and admission
/// (signature checks, most of the node's CPU under load) takes the time
/// between blocks. Linux only, where a thread has a nice value of its own
/// (elsewhere `nice` would lower the whole process, once per thread).
pub(crate) fn behind_the_block_pipeline() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::nice(BEHIND_THE_PIPELINE) {
        tracing::debug!(%error, "the thread keeps the pipeline's priority");
    }
}

impl Node {
    /// Opens the store, the application and the mempool, starts the block
    /// producer and the RPC server.
    pub async fn start(config: NodeConfig) -> Result<NodeHandle, StartError> {
        let store: Arc<dyn Store> = match &config.data_dir {
            Some(path) => Arc::new(
                RocksStore::open(path, RocksStoreOptions { sync: config.fsync, history: config.state_history })
                    .map_err(|error| match &error {
                        StoreError::Io(text) if text.contains("lock") || text.contains("LOCK") => {
                            StartError::DataDirInUse(path.clone())
                        }
                        _ => StartError::Store(error),
                    })?,
            ),
            None => Arc::new(MemoryStore::with_history(config.state_history)),
        };
        Node::start_on(store, config).await
    }

    /// [`Node::start`] on a store the caller opened (`config.data_dir` is
    /// not used).
    pub async fn start_on(store: Arc<dyn Store>, config: NodeConfig) -> Result<NodeHandle, StartError> {
        let app = App::open(store, &config.genesis, config.threads)?;
        let head = app.info();
        tracing::info!(height = head.height, hash = %head.hash, "chain opened");
        let (heads, _) = watch::channel(head.height);
        let (sender, receiver) = mpsc::channel();
        let (feed, feed_wakes) = Feed::new(config.feed_capacity);
        let admission = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|index| format!("parlend-admit-{index}"))
            .start_handler(|_| behind_the_block_pipeline())
            .build()
            .map_err(|error| StartError::Admission(error.to_string()))?;
        let node = Arc::new(Node {
            app,
            mempool: Mutex::new(Mempool::new(config.mempool)),
            wake_pending: AtomicBool::new(false),
            admission,
            admitting: Admitting::default(),
            heads,
            executions: Mutex::new(VecDeque::with_capacity(EXECUTIONS_KEPT)),
            recent: Mutex::new(VecDeque::with_capacity(RECEIPTS_KEPT)),
            commands: Mutex::new(sender),
            config: config.clone(),
            dev: Mutex::new(DevState { next_snapshot_id: 1, ..DevState::default() }),
            faucet: Mutex::new(()),
            metrics: Metrics::new(),
            validators: ValidatorSet::from_genesis(&config.genesis.validators),
            consensus: OnceLock::new(),
            relay: OnceLock::new(),
            feed,
        });
        feed::spawn(Arc::downgrade(&node), feed_wakes).map_err(|error| StartError::Admission(error.to_string()))?;
        node.metrics.head(head.height);
        // Validators decide blocks together: no producer cuts them.
        let producer = config.validator.is_none().then(|| producer::spawn(node.clone(), receiver));
        match node.refresh_dev_prices() {
            Ok(Some((count, _))) => {
                tracing::info!(target: "parlend::dev", count, "dev: re-posted stale oracle prices at their last value")
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "dev: could not re-post stale oracle prices"),
        }
        let server = parlend_rpc::serve(node.clone(), config.rpc_address, config.rpc_limits)
            .await
            .map_err(|source| StartError::Bind { address: config.rpc_address, source })?;
        let validator = match start_validator(&node).await {
            Ok(validator) => validator,
            Err(error) => {
                server.stop().await;
                return Err(error);
            }
        };
        Ok(NodeHandle { rpc_address: server.address, node, server, producer, validator })
    }

    /// Validator mode: where consensus is (`None` for a single node).
    pub fn consensus_status(&self) -> Option<ConsensusStatus> {
        self.consensus.get().map(|status| status.lock().clone())
    }

    /// The application.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Produces a block now (even an empty one) and returns its height
    /// once committed.
    pub fn mine(&self) -> Result<u64, ProduceError> {
        let (reply, answer) = mpsc::channel();
        self.commands.lock().send(Command::Mine(reply)).map_err(|_| ProduceError::Stopped)?;
        answer.recv().map_err(|_| ProduceError::Stopped)?
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Admits signed transactions (canonical bytes) to the mempool, in
    /// order, [`ADMISSION_CHUNK`] at a time: each chunk's signatures are
    /// checked first, on all cores, then the chunk is inserted under one
    /// short hold of the mempool (committed nonces and recent ids come from
    /// memory), so a block cut while a large batch is checked takes the
    /// chunks before it. Wakes the producer as soon as the mempool fills a
    /// block, and once the whole batch is in if it stopped being empty (an
    /// idle producer cuts at once: it takes the batch, not its first chunk).
    pub fn admit(&self, transactions: &[Vec<u8>]) -> Vec<Result<Hash, ApiError>> {
        self.admit_from(transactions, None)
    }

    /// [`Node::admit`], queueing what is admitted on `relay` before the
    /// mempool is let go, so the relay sees each signer's transactions in
    /// the order the mempool took them, whichever call carried them.
    fn admit_from(&self, transactions: &[Vec<u8>], relay: Option<&Relay>) -> Vec<Result<Hash, ApiError>> {
        let started = Instant::now();
        let mut checking = Duration::ZERO;
        let mut results = Vec::with_capacity(transactions.len());
        let mut waiting = false;
        let batch = self.admitting.begin(transactions.len());
        for chunk in transactions.chunks(ADMISSION_CHUNK) {
            let checked_at = Instant::now();
            let checked = self.check_transactions(chunk);
            checking += checked_at.elapsed();
            let inserted = self.insert_checked(chunk, checked, relay);
            results.extend(inserted.results);
            batch.progress(results.len());
            waiting |= inserted.started_waiting;
            if inserted.filled_block {
                self.wake();
            }
        }
        self.metrics.admitted(transactions.len(), checking, started.elapsed());
        drop(batch);
        if waiting || self.admitting.cut_waiting() {
            self.wake();
        }
        results
    }

    /// The stateless checks (decoding, signature) of each of `transactions`,
    /// on all cores for more than a few.
    fn check_transactions(&self, transactions: &[Vec<u8>]) -> Vec<Result<VerifiedTransaction, RejectReason>> {
        if transactions.len() >= PARALLEL_ADMISSION_MIN {
            self.admission.install(|| transactions.par_iter().map(|bytes| self.app.check_transaction(bytes)).collect())
        } else {
            transactions.iter().map(|bytes| self.app.check_transaction(bytes)).collect()
        }
    }

    /// Inserts `checked` (the checks of `transactions`, in order) under one
    /// hold of the mempool, queueing what is admitted on `relay`.
    fn insert_checked(
        &self,
        transactions: &[Vec<u8>],
        checked: Vec<Result<VerifiedTransaction, RejectReason>>,
        relay: Option<&Relay>,
    ) -> Inserted {
        let full = self.config.block_transactions_max;
        let (inserted, depth) = {
            let mut mempool = self.mempool.lock();
            let before = mempool.ready_len();
            let results: Vec<_> = checked
                .into_iter()
                .map(|checked| match checked {
                    Ok(transaction) => self.insert(&mut mempool, transaction),
                    Err(reason) => {
                        self.metrics.rejected(&reason);
                        Err(reason.into())
                    }
                })
                .collect();
            if let Some(relay) = relay {
                let admitted: Vec<&Vec<u8>> = transactions
                    .iter()
                    .zip(&results)
                    .filter(|(_, result)| result.is_ok())
                    .map(|(bytes, _)| bytes)
                    .collect();
                relay.push(&admitted);
            }
            let after = mempool.ready_len();
            let inserted = Inserted {
                results,
                started_waiting: before == 0 && after > 0,
                filled_block: before < full && after >= full,
            };
            (inserted, (mempool.len(), after))
        };
        self.metrics.mempool(depth.0, depth.1);
        inserted
    }

    /// Inserts a checked transaction, learning its signer's committed nonce
    /// from the store first if the mempool does not know it (under the
    /// mempool's lock, so no commit slips in between).
    fn insert(&self, mempool: &mut Mempool, transaction: VerifiedTransaction) -> Result<Hash, ApiError> {
        let signer = transaction.transaction().signer;
        if mempool.next_nonce(&signer).is_none() {
            mempool.learn(signer, self.committed_nonce(&signer)?);
        }
        let hash = transaction.hash();
        mempool.insert(transaction).map(|()| hash).map_err(|reason| {
            self.metrics.rejected(&reason);
            reason.into()
        })
    }

    /// Tells the producer that transactions wait, unless a wake is on its way.
    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let _ = self.commands.lock().send(Command::Wake);
        }
    }

    /// Pending transactions no block has taken.
    pub(crate) fn ready_transactions(&self) -> usize {
        self.mempool.lock().ready_len()
    }

    /// Takes transactions for a block (in flight until committed or released).
    pub(crate) fn take_transactions(&self, count: usize) -> Vec<VerifiedTransaction> {
        let mut mempool = self.mempool.lock();
        let taken = mempool.take(count);
        self.metrics.mempool(mempool.len(), mempool.ready_len());
        taken
    }

    /// The pending transactions among `hashes`, verified when admitted
    /// (one hold of the mempool).
    pub(crate) fn pending(&self, hashes: &[Hash]) -> HashMap<Hash, VerifiedTransaction> {
        let mempool = self.mempool.lock();
        hashes.iter().filter_map(|hash| mempool.get(hash).map(|transaction| (*hash, transaction.clone()))).collect()
    }

    /// Puts the transactions of an abandoned block back in line.
    pub(crate) fn release(&self, hashes: &[Hash]) {
        self.mempool.lock().release(hashes);
    }

    /// Puts every in-flight transaction back in line (a validator's earlier
    /// proposals at the height it proposes for again).
    pub(crate) fn release_in_flight(&self) {
        let mut mempool = self.mempool.lock();
        mempool.release_all();
        self.metrics.mempool(mempool.len(), mempool.ready_len());
    }

    /// The signer of a pending transaction.
    pub(crate) fn signer_of(&self, hash: &Hash) -> Option<Address> {
        self.mempool.lock().get(hash).map(|transaction| transaction.transaction().signer)
    }

    /// Drops `signer`'s pending transactions (recorded as dropped for
    /// their nonces against `expected`) and puts the rest of an abandoned
    /// block back in line.
    pub(crate) fn evict(&self, signer: Option<Address>, expected: u64, block: &[Hash]) {
        let mut mempool = self.mempool.lock();
        if let Some(signer) = signer {
            let evicted = mempool.evict_signer(&signer, expected);
            self.metrics.dropped("evicted", evicted);
        }
        mempool.release(block);
    }

    /// Before a block's commit: how it was executed (for `getBlock`), known
    /// before the block can be seen; the commit's time is added by
    /// [`Node::published`].
    pub(crate) fn executed(&self, height: u64, stats: &ExecutionStats, timings: BlockTimings) {
        let mut executions = self.executions.lock();
        executions.retain(|(at, _)| *at < height);
        if executions.len() >= EXECUTIONS_KEPT {
            executions.pop_front();
        }
        executions.push_back((height, execution_view(stats, timings)));
    }

    /// After a block's commit: the mempool forgets its transactions and
    /// learns its signers' nonces, metrics and the head move, waiters wake.
    pub(crate) fn published(
        &self,
        head: &ChainHead,
        published: Published,
        nonces: &[(Address, u64)],
        stats: &ExecutionStats,
        timings: BlockTimings,
    ) {
        let Published { block, hashes, receipts } = published;
        {
            let mut mempool = self.mempool.lock();
            let stale = mempool.committed(&hashes, nonces);
            self.metrics.dropped("stale_nonce", stale);
            self.metrics.mempool(mempool.len(), mempool.ready_len());
        }
        self.metrics.block_committed(head.height, &receipts, stats, timings, self.config.block_transactions_max);
        if let Some((_, view)) = self.executions.lock().iter_mut().rev().find(|(at, _)| *at == head.height) {
            view.commit_micros = micros(timings.commit);
        }
        let block = Arc::new(block);
        let forgotten = self.remember(RecentBlock {
            height: head.height,
            hash: head.hash,
            receipts: receipts.clone(),
            block: Some((block.clone(), Arc::new(hashes))),
        });
        self.heads.send_replace(head.height);
        self.feed
            .head_committed(|| crate::feed::head_view(&block, head.hash, &receipts, self.execution_of(head.height)));
        self.feed.committed();
        // Freed after the waiters are woken.
        drop(forgotten);
    }

    /// Keeps a committed block's receipts (the last [`RECEIPTS_KEPT`]) and
    /// the block (the last [`BLOCKS_KEPT`], within
    /// [`BLOCKS_KEPT_TRANSACTIONS`]). Gives back what it forgot, for the
    /// caller to free outside the lock, after the head is published (a
    /// block is thousands of allocations).
    fn remember(&self, block: RecentBlock) -> Forgotten {
        let mut recent = self.recent.lock();
        let oldest = if recent.len() >= RECEIPTS_KEPT { recent.pop_front() } else { None };
        recent.push_back(block);
        (oldest, forget_old_blocks(&mut recent, BLOCKS_KEPT, BLOCKS_KEPT_TRANSACTIONS))
    }

    /// In dev mode, when the chain's oracle is dev account 0: re-posts
    /// every stale price at its last value, as one transaction from the
    /// oracle. The dev genesis is dated (so its hash is the same
    /// everywhere), and its prices are long stale by the time a developer
    /// starts a node; without this, borrowing and liquidating would fail
    /// until someone posts prices. Returns how many prices were posted, and
    /// the transaction that posts them.
    pub fn refresh_dev_prices(&self) -> Result<Option<(usize, Hash)>, ApiError> {
        let oracle = dev_keypair(0);
        if !self.config.dev || !self.config.refresh_dev_prices || self.config_value()?.oracle != oracle.address() {
            return Ok(None);
        }
        let now = self.clock();
        let instructions: Vec<Instruction> = query::prices(self.reader(), now)
            .map_err(query_error)?
            .into_iter()
            .filter_map(|entry| {
                let price = entry.price.filter(|price| price.stale)?;
                Some(Instruction::SetPrice { asset: entry.asset, price: price.price, timestamp: now })
            })
            .collect();
        if instructions.is_empty() {
            return Ok(None);
        }
        let count = instructions.len();
        let hash = self.submit_prepared(&oracle, instructions).map_err(|error| match error {
            ApiError::InvalidParams(reason) => ApiError::Unavailable(format!("the price update {reason}")),
            other => other,
        })?;
        Ok(Some((count, hash)))
    }

    /// After a dev time warp: the dev oracle's prices re-posted at their
    /// last value (as at start), and, unless blocks are mined only on
    /// demand, committed before the warp answers, so the next transaction
    /// sees fresh prices. Returns how many were posted.
    fn refresh_after_warp(&self) -> Result<u32, ApiError> {
        let Some((count, hash)) = self.refresh_dev_prices()? else { return Ok(0) };
        tracing::info!(target: "parlend::dev", count, %hash, "dev: re-posted stale oracle prices at their last value");
        if !self.config.manual_mining {
            let deadline = Instant::now() + WARP_PRICES_WAIT;
            while self.receipt_view(&hash)?.is_none() {
                if Instant::now() >= deadline {
                    return Err(ApiError::Unavailable(format!("the price update {hash} was not committed in time")));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Prepares `instructions` as `key`'s next transaction (simulated on the
    /// committed state for its access set), and submits it; one whose
    /// simulation fails is refused with `InvalidParams("would fail: ...")`.
    fn submit_prepared(&self, key: &Keypair, instructions: Vec<Instruction>) -> Result<Hash, ApiError> {
        let nonce = self.account(&key.address())?.pending_nonce;
        let head = self.app.info();
        let context = BlockContext { chain_id: self.app.chain_id(), height: head.height + 1, timestamp: self.clock() };
        let store: &dyn Store = &**self.app.store();
        let prepared = prepare_transaction(self.app.vm(), store, &context, key, nonce, instructions)
            .map_err(|error| ApiError::Unavailable(error.to_string()))?;
        if let OutcomeView::Failed { reason, .. } = outcome_view(&prepared.simulation.status) {
            return Err(ApiError::InvalidParams(format!("would fail: {reason}")));
        }
        self.submit(&prepared.transaction.encode())
    }

    /// The node's clock: the wall clock plus the dev offset, never before
    /// the head. The next block's timestamp, and the time queries accrue to.
    pub fn clock(&self) -> u64 {
        let offset = self.dev.lock().offset_seconds;
        now_seconds().saturating_add(offset).max(self.app.info().header.timestamp)
    }

    /// The metrics.
    pub fn metrics_registry(&self) -> &Metrics {
        &self.metrics
    }

    /// Rolls back to `height` under the mempool lock (runs on the producer
    /// thread, so no block is in progress).
    pub(crate) fn revert_to(&self, height: u64) -> Result<usize, ProduceError> {
        let mut mempool = self.mempool.lock();
        self.app.store().revert_to(height).map_err(|error| ProduceError::from(AppError::Store(error)))?;
        let dropped = mempool.len();
        mempool.clear();
        self.executions.lock().retain(|(at, _)| *at <= height);
        self.recent.lock().retain(|block| block.height <= height);
        self.heads.send_replace(height);
        self.feed.reverted();
        self.metrics.head(height);
        self.metrics.mempool(0, 0);
        tracing::warn!(height, dropped, "chain reverted to a snapshot");
        Ok(dropped)
    }

    /// `answer` computed from the store, or, with `proof`, from the values
    /// proven at the head: every key it reads is proven against the head's
    /// header, so the answer and its proofs are of the same state.
    fn proven<T>(
        &self,
        proof: bool,
        answer: impl FnOnce(&dyn StateReader) -> Result<T, ApiError>,
    ) -> Result<Proven<T>, ApiError> {
        if !proof {
            return Ok(Proven { view: answer(self.reader())?, proofs: None });
        }
        let store: &dyn Store = &**self.app.store();
        let head = store.head().ok_or_else(|| ApiError::NotFound("no block yet".to_string()))?;
        let reader = ProvingReader::new(store, head.height);
        let view = answer(&reader);
        let entries = reader.into_entries().map_err(|error| match error {
            ProvingError::Pruned => ApiError::Pruned(format!(
                "the state at height {} was pruned while the answer was read; ask again",
                head.height
            )),
            ProvingError::Store(error) => unavailable(error),
        })?;
        let certificate = self.certificate_view(head.height)?;
        let proofs = StateProofsView { height: head.height, header: head.header, entries, certificate };
        Ok(Proven { view: view?, proofs: Some(proofs) })
    }

    pub(crate) fn reader(&self) -> &dyn StateReader {
        &**self.app.store()
    }

    pub(crate) fn feed_state(&self) -> &Feed {
        &self.feed
    }

    /// Every account with a position (at most [`LIQUIDATABLE_SCAN_MAX`]).
    pub(crate) fn position_owners(&self) -> Result<Vec<Address>, ApiError> {
        // Collect the owners first: evaluating reads the store, which must
        // not happen inside its scan.
        let mut owners = Vec::new();
        let prefix = StateKey::Position { owner: Address([0; 32]) }.encode();
        self.app
            .store()
            .scan(&prefix[..1], &mut |key, _| {
                if let StateKey::Position { owner } = key {
                    owners.push(owner);
                }
                (owners.len() as u64) < LIQUIDATABLE_SCAN_MAX
            })
            .map_err(unavailable)?;
        Ok(owners)
    }

    /// What the node keeps of a recent block, if it still does.
    fn recent_at(&self, height: u64) -> Option<RecentBlock> {
        self.recent.lock().iter().rev().find(|block| block.height == height).cloned()
    }

    /// A committed block's receipts (kept decoded for recent blocks).
    pub(crate) fn receipts_at(&self, height: u64) -> Result<Arc<Vec<Receipt>>, ApiError> {
        match self.recent_at(height) {
            Some(recent) => Ok(recent.receipts),
            None => Ok(Arc::new(self.app.store().receipts(height).map_err(unavailable)?.unwrap_or_default())),
        }
    }

    /// How this node executed a recent block.
    pub(crate) fn execution_of(&self, height: u64) -> Option<BlockExecutionView> {
        self.executions.lock().iter().rev().find(|(at, _)| *at == height).map(|(_, view)| *view)
    }

    fn committed_nonce(&self, address: &Address) -> Result<u64, ApiError> {
        let key = StateKey::Account { owner: *address };
        let value = self.app.store().get(&key).map_err(unavailable)?;
        AccountState::decode(value.as_deref())
            .map(|account| account.nonce)
            .ok_or_else(|| unavailable(StoreError::corrupt_key(&key, "not an account")))
    }

    fn config_value(&self) -> Result<GlobalConfig, ApiError> {
        config_in(self.reader())
    }

    pub(crate) fn block_at(&self, height: u64) -> Result<Option<Arc<Block>>, ApiError> {
        Ok(self.block_and_ids(height)?.map(|(block, _)| block))
    }

    /// A committed block and its transactions' ids: from memory for the
    /// last [`BLOCKS_KEPT`], else read and decoded from the store.
    fn block_and_ids(&self, height: u64) -> Result<Option<KeptBlock>, ApiError> {
        if let Some(kept) = self.recent_at(height).and_then(|recent| recent.block) {
            return Ok(Some(kept));
        }
        let Some(bytes) = self.app.store().block_bytes(height).map_err(unavailable)? else {
            return Ok(None);
        };
        let block: Block = borsh::from_slice(&bytes)
            .map_err(|error| ApiError::Unavailable(format!("corrupt block {height}: {error}")))?;
        let hashes = block.transactions.iter().map(parlend_contracts::SignedTransaction::hash).collect();
        Ok(Some((Arc::new(block), Arc::new(hashes))))
    }

    fn certificate_view(&self, height: u64) -> Result<Option<CertificateView>, ApiError> {
        let Some(bytes) = self.app.store().certificate(height).map_err(unavailable)? else {
            return Ok(None);
        };
        let certificate: CommitCertificate = borsh::from_slice(&bytes)
            .map_err(|error| ApiError::Unavailable(format!("corrupt certificate {height}: {error}")))?;
        let signatures = certificate
            .signatures
            .iter()
            .map(|commit| CommitSignatureView { validator: commit.validator, signature: commit.signature })
            .collect();
        Ok(Some(CertificateView { round: certificate.round, signatures }))
    }

    fn receipt_view(&self, hash: &Hash) -> Result<Option<ReceiptView>, ApiError> {
        let store = self.app.store();
        let Some(location) = store.tx_location(hash).map_err(unavailable)? else {
            return Ok(None);
        };
        // Recent blocks' receipts are kept decoded: waiting for a batch of
        // commits reads one receipt per transaction from the same block.
        let (receipts, block_hash) = match self.recent_at(location.height) {
            Some(recent) => (recent.receipts, Some(recent.hash)),
            None => {
                let receipts = store.receipts(location.height).map_err(unavailable)?.unwrap_or_default();
                let header = store.header(location.height).map_err(unavailable)?;
                (Arc::new(receipts), header.map(|header| header.hash()))
            }
        };
        let (Some(receipt), Some(block_hash)) = (receipts.get(location.index as usize), block_hash) else {
            return Err(ApiError::Unavailable(format!("receipt of {hash} is missing")));
        };
        Ok(Some(ReceiptView {
            tx_hash: receipt.tx_hash,
            block_height: location.height,
            block_hash,
            index: location.index,
            outcome: outcome_view(&receipt.status),
            events: typed_events(&receipt.events)?,
        }))
    }
}

/// Validator mode: starts the consensus engine with the node as its host,
/// and the relay to the other validators.
async fn start_validator(node: &Arc<Node>) -> Result<Option<RunningValidator>, StartError> {
    let config = node.config();
    let Some(validator) = config.validator.clone() else { return Ok(None) };
    let host = Arc::new(NodeHost::new(node.clone(), config.wrong_state_root));
    let running = parlend_consensus::start(host, &node.validators, validator).await?;
    let _ = node.consensus.set(running.status_handle());
    node.metrics.register_consensus(running.metrics());
    if !config.relay_to.is_empty() {
        let metrics = node.metrics.register_relay();
        let _ = node.relay.set(Relay::start(&config.relay_to, RelayLimits::default(), metrics));
    }
    Ok(Some(running))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn execution_view(stats: &ExecutionStats, timings: BlockTimings) -> BlockExecutionView {
    BlockExecutionView {
        parallel: !stats.serial_fallback,
        depth: stats.depth,
        reexecutions: stats.reexecutions as u64,
        schedule_micros: micros(timings.schedule),
        execute_micros: micros(timings.execute),
        root_micros: micros(timings.root),
        commit_micros: micros(timings.commit),
    }
}

fn consensus_view(status: ConsensusStatus) -> ConsensusView {
    let peers: Vec<ConsensusPeerView> = status
        .peers
        .into_iter()
        .map(|peer| ConsensusPeerView { peer_id: peer.peer_id, validator: peer.validator })
        .collect();
    ConsensusView { height: status.height, round: status.round, peer_count: peers.len() as u64, peers }
}

/// The global configuration as `reader` holds it.
fn config_in(reader: &dyn StateReader) -> Result<GlobalConfig, ApiError> {
    let value = reader.get(&StateKey::Config).map_err(unavailable)?;
    value
        .and_then(|bytes| borsh::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::Unavailable("the configuration is missing".to_string()))
}

fn unavailable(error: StoreError) -> ApiError {
    ApiError::Unavailable(error.to_string())
}

fn query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::UnknownMarket(asset) => ApiError::NotFound(format!("no market for {asset}")),
        other => ApiError::Unavailable(other.to_string()),
    }
}

fn transaction_view(hash: Hash, transaction: &parlend_contracts::SignedTransaction) -> TransactionView {
    let inner = &transaction.transaction;
    TransactionView {
        hash,
        chain_id: inner.chain_id,
        signer: inner.signer,
        nonce: inner.nonce,
        access: inner.access.clone(),
        instructions: inner.instructions.clone(),
        signature: transaction.signature,
    }
}

impl NodeApi for Node {
    fn chain_id(&self) -> u64 {
        self.app.chain_id()
    }

    fn submit(&self, bytes: &[u8]) -> Result<Hash, ApiError> {
        self.submit_batch(std::slice::from_ref(&bytes.to_vec()))
            .pop()
            .unwrap_or(Err(ApiError::Unavailable("no answer".into())))
    }

    fn submit_batch(&self, transactions: &[Vec<u8>]) -> Vec<Result<Hash, ApiError>> {
        self.admit_from(transactions, self.relay.get())
    }

    fn relay(&self, transactions: &[Vec<u8>]) -> Vec<Result<Hash, ApiError>> {
        self.admit(transactions)
    }

    fn validators(&self) -> Result<ValidatorsView, ApiError> {
        let validators = self
            .validators
            .validators()
            .iter()
            .map(|validator| ValidatorView { public_key: validator.public_key, power: validator.power })
            .collect();
        Ok(ValidatorsView {
            validators,
            total_power: self.validators.total_power(),
            this_node: self.config.validator.as_ref().map(|validator| validator.key.address()),
            consensus: self.consensus_status().map(consensus_view),
        })
    }

    fn head_height(&self) -> watch::Receiver<u64> {
        self.heads.subscribe()
    }

    fn head(&self) -> Result<HeadView, ApiError> {
        let head = self.app.info();
        Ok(HeadView {
            chain_id: self.app.chain_id(),
            height: head.height,
            hash: head.hash,
            timestamp: head.header.timestamp,
            state_root: head.header.state_root,
            pending_transactions: self.mempool.lock().len() as u64,
            clock: self.clock(),
        })
    }

    fn block(&self, params: &BlockParams) -> Result<Option<BlockView>, ApiError> {
        let height = match (params.height, params.hash) {
            (Some(height), _) => height,
            (None, Some(hash)) => match self.app.store().block_height(&hash).map_err(unavailable)? {
                Some(height) => height,
                None => return Ok(None),
            },
            (None, None) => self.app.info().height,
        };
        let Some((block, hashes)) = self.block_and_ids(height)? else {
            return Ok(None);
        };
        let full_transactions = params.full.then(|| {
            block.transactions.iter().zip(hashes.iter()).map(|(tx, hash)| transaction_view(*hash, tx)).collect()
        });
        let execution = self.executions.lock().iter().rev().find(|(at, _)| *at == height).map(|(_, view)| *view);
        Ok(Some(BlockView {
            hash: block.header.hash(),
            header: block.header.clone(),
            transactions: hashes.to_vec(),
            full_transactions,
            execution,
            certificate: self.certificate_view(height)?,
        }))
    }

    fn transaction(&self, hash: &Hash) -> Result<Option<CommittedTransactionView>, ApiError> {
        if let Some(pending) = self.mempool.lock().get(hash) {
            return Ok(Some(CommittedTransactionView {
                transaction: transaction_view(*hash, pending.signed()),
                status: TxState::Pending,
                receipt: None,
            }));
        }
        let Some(location) = self.app.store().tx_location(hash).map_err(unavailable)? else {
            return Ok(None);
        };
        let block = self.block_at(location.height)?.ok_or_else(|| ApiError::Unavailable("block is missing".into()))?;
        let transaction = block
            .transactions
            .get(location.index as usize)
            .ok_or_else(|| ApiError::Unavailable("transaction is missing from its block".into()))?;
        let receipt = self.receipt_view(hash)?;
        let status = match &receipt {
            Some(receipt) if receipt.outcome.is_success() => TxState::Committed,
            _ => TxState::Failed,
        };
        Ok(Some(CommittedTransactionView { transaction: transaction_view(*hash, transaction), status, receipt }))
    }

    fn receipt(&self, hash: &Hash) -> Result<Option<ReceiptView>, ApiError> {
        self.receipt_view(hash)
    }

    fn transaction_status(&self, hash: &Hash) -> Result<TxStatusView, ApiError> {
        // Committed first: a transaction leaves the mempool only after its
        // block is committed, so checking the store first never misses it.
        if let Some(receipt) = self.receipt_view(hash)? {
            let status = if receipt.outcome.is_success() { TxState::Committed } else { TxState::Failed };
            return Ok(TxStatusView { hash: *hash, status, receipt: Some(receipt), error: None });
        }
        {
            let mempool = self.mempool.lock();
            if mempool.contains(hash) {
                return Ok(TxStatusView { hash: *hash, status: TxState::Pending, receipt: None, error: None });
            }
            if let Some(reason) = mempool.dropped(hash) {
                let error = ApiError::from(reason.clone());
                let error = Some(ErrorView { code: error.code(), message: error.to_string() });
                return Ok(TxStatusView { hash: *hash, status: TxState::Dropped, receipt: None, error });
            }
        }
        // It may have been committed between the two checks.
        if let Some(receipt) = self.receipt_view(hash)? {
            let status = if receipt.outcome.is_success() { TxState::Committed } else { TxState::Failed };
            return Ok(TxStatusView { hash: *hash, status, receipt: Some(receipt), error: None });
        }
        Ok(TxStatusView { hash: *hash, status: TxState::Unknown, receipt: None, error: None })
    }

    fn account(&self, address: &Address) -> Result<AccountView, ApiError> {
        let mempool = self.mempool.lock();
        let nonce = self.committed_nonce(address)?;
        Ok(AccountView { address: *address, nonce, pending_nonce: mempool.next_nonce(address).unwrap_or(nonce) })
    }

    fn balances(&self, address: &Address, proof: bool) -> Result<Proven<BalancesView>, ApiError> {
        self.proven(proof, |reader| BalancesView::read(reader, *address).map_err(query_error))
    }

    fn simulate(&self, params: &SimulateParams) -> Result<SimulationView, ApiError> {
        let count = params.instructions.len();
        if count == 0 || count > parlend_ledger::limits::INSTRUCTIONS_PER_TRANSACTION_MAX {
            return Err(parlend_ledger::RejectReason::InstructionCount(count).into());
        }
        let nonce = match params.nonce {
            Some(nonce) => nonce,
            None => self.account(&params.signer)?.pending_nonce,
        };
        let head = self.app.info();
        let context = BlockContext { chain_id: self.app.chain_id(), height: head.height + 1, timestamp: self.clock() };
        let transaction = Transaction {
            chain_id: self.app.chain_id(),
            signer: params.signer,
            nonce,
            access: AccessSet::default(),
            instructions: params.instructions.clone(),
        };
        let store: &dyn Store = &**self.app.store();
        let simulation = simulate_transaction(self.app.vm(), store, &context, &transaction)
            .map_err(|error| ApiError::Unavailable(error.to_string()))?;
        let access =
            AccessSet::new(simulation.accesses.clone()).map_err(|error| ApiError::Simulation(error.to_string()))?;
        let changes = simulation
            .changes
            .iter()
            .map(|(key, after)| StateChangeView {
                key: *key,
                before: simulation.before.get(key).cloned().flatten().map(hex::encode),
                after: after.as_ref().map(hex::encode),
            })
            .collect();
        Ok(SimulationView {
            outcome: outcome_view(&simulation.status),
            access,
            nonce,
            chain_id: self.app.chain_id(),
            changes,
            events: typed_events(&simulation.events)?,
        })
    }

    fn position(&self, owner: &Address, proof: bool) -> Result<Proven<PositionView>, ApiError> {
        let now = self.clock();
        self.proven(proof, |reader| query::position_summary(reader, *owner, now).map_err(query_error))
    }

    fn market(&self, asset: AssetId, proof: bool) -> Result<Proven<MarketView>, ApiError> {
        let now = self.clock();
        self.proven(proof, |reader| query::market_summary(reader, asset, now).map_err(query_error))
    }

    fn markets(&self) -> Result<Vec<MarketView>, ApiError> {
        query::markets(self.reader(), self.clock()).map_err(query_error)
    }

    fn price(&self, asset: AssetId) -> Result<PriceEntryView, ApiError> {
        if !self.config_value()?.assets.iter().any(|info| info.id == asset) {
            return Err(ApiError::NotFound(format!("no asset {asset}")));
        }
        let price = query::price(self.reader(), asset, self.clock()).map_err(query_error)?;
        Ok(PriceEntryView { asset, price })
    }

    fn prices(&self) -> Result<Vec<PriceEntryView>, ApiError> {
        query::prices(self.reader(), self.clock()).map_err(query_error)
    }

    fn proof(&self, params: &ProofParams) -> Result<ProofView, ApiError> {
        let head = self.app.info();
        let height = params.height.unwrap_or(head.height);
        if height > head.height {
            return Err(ApiError::NotFound(format!("height {height} is above the head ({})", head.height)));
        }
        let store = self.app.store();
        let pruned_below = store.pruned_below();
        if height < pruned_below {
            return Err(ApiError::Pruned(format!(
                "the state at height {height} is pruned: this node keeps heights from {pruned_below} (run an archive node for older ones)"
            )));
        }
        let header = store
            .header(height)
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::NotFound(format!("no block at height {height}")))?;
        let (value, proof) = store
            .prove(&params.key, height)
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::NotFound(format!("the state at height {height} is not kept")))?;
        Ok(ProofView {
            key: params.key,
            height,
            value: value.map(hex::encode),
            proof: hex::encode(proof.to_bytes()),
            header,
            certificate: self.certificate_view(height)?,
        })
    }

    fn events(&self, params: &EventsParams) -> Result<EventsView, ApiError> {
        crate::events::events(&**self.app.store(), params)
    }

    fn liquidatable(&self, params: &LiquidatableParams) -> Result<LiquidatableView, ApiError> {
        let now = self.clock();
        let at_risk_below = params.at_risk_below.unwrap_or(AT_RISK_BELOW_DEFAULT);
        let limit = usize::try_from(params.limit.unwrap_or(LIQUIDATABLE_LIMIT_DEFAULT)).unwrap_or(usize::MAX);
        let head = self.app.info().height;
        let (found, scanned) = self
            .feed
            .read_index(head, |index| (index.query(self.reader(), now, at_risk_below, limit), index.len() as u64))?;
        let found = found.map_err(query_error)?;
        Ok(LiquidatableView {
            timestamp: now,
            at_risk_below,
            liquidatable: found.liquidatable,
            at_risk: found.at_risk,
            scanned,
            evaluated: found.evaluated,
        })
    }

    fn feed(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<parlend_rpc::types::BlockFeed>>> {
        Some(self.feed.subscribe())
    }

    fn heads(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<parlend_rpc::types::NewHeadView>>> {
        Some(self.feed.subscribe_heads())
    }

    fn risk_feed(&self) -> Option<tokio::sync::broadcast::Receiver<Arc<parlend_rpc::types::RiskFeed>>> {
        Some(self.feed.subscribe_risk())
    }

    fn risk_snapshot(&self, at_risk_below: Wad) -> Result<parlend_rpc::types::RiskSnapshot, ApiError> {
        self.feed.snapshot(self.app.info().height, at_risk_below)
    }

    fn dev_mode(&self) -> bool {
        self.config.dev
    }

    fn dev_faucet(&self, params: &FaucetParams) -> Result<Hash, ApiError> {
        let minter = dev_minter();
        if self.config_value()?.minter != Some(minter.address()) {
            return Err(ApiError::Unavailable("this chain's minter is not the dev minter: the faucet is off".into()));
        }
        let instructions = vec![Instruction::Mint { to: params.address, asset: params.asset, amount: params.amount }];
        // One mint at a time: each takes the minter's next pending nonce.
        let _faucet = self.faucet.lock();
        let hash = self.submit_prepared(&minter, instructions).map_err(|error| match error {
            ApiError::InvalidParams(reason) => ApiError::InvalidParams(format!("the mint {reason}")),
            other => other,
        })?;
        let (to, asset, amount) = (params.address, params.asset, params.amount);
        tracing::info!(target: "parlend::dev", %to, %asset, %amount, %hash, "dev: faucet");
        Ok(hash)
    }

    fn dev_mine(&self, blocks: u32) -> Result<MineView, ApiError> {
        let mut height = self.app.info().height;
        for _ in 0..blocks {
            height = self.mine().map_err(|error| ApiError::Unavailable(error.to_string()))?;
        }
        tracing::info!(target: "parlend::dev", blocks, height, "dev: mined");
        Ok(MineView { blocks, height })
    }

    fn dev_increase_time(&self, seconds: u64) -> Result<ClockView, ApiError> {
        let offset_seconds = {
            let mut dev = self.dev.lock();
            dev.offset_seconds = dev
                .offset_seconds
                .checked_add(seconds)
                .filter(|offset| *offset <= 10 * INCREASE_TIME_SECONDS_MAX)
                .ok_or_else(|| ApiError::InvalidParams("the clock offset would exceed 1000 years".into()))?;
            dev.offset_seconds
        };
        let clock = self.clock();
        tracing::info!(target: "parlend::dev", seconds, clock, offset_seconds, "dev: clock moved forward");
        let prices_refreshed = self.refresh_after_warp()?;
        Ok(ClockView { offset_seconds, clock, prices_refreshed })
    }

    fn dev_set_time(&self, timestamp: u64) -> Result<ClockView, ApiError> {
        let now = self.clock();
        if timestamp < now {
            return Err(ApiError::InvalidParams(format!(
                "{timestamp} is before the node's clock ({now}): the clock never goes back (dev_revert does)"
            )));
        }
        // The clock is the wall clock plus the offset (or the head's time,
        // when that is later): the offset that makes it `timestamp`, which
        // is at least the current offset since `timestamp >= now`.
        let target = timestamp.saturating_sub(now_seconds());
        let current = self.dev.lock().offset_seconds;
        self.dev_increase_time(target.saturating_sub(current))
    }

    fn dev_snapshot(&self) -> Result<SnapshotView, ApiError> {
        let height = self.app.info().height;
        let mut dev = self.dev.lock();
        let id = dev.next_snapshot_id;
        dev.next_snapshot_id += 1;
        let offset_seconds = dev.offset_seconds;
        if dev.snapshots.len() >= SNAPSHOTS_MAX {
            dev.snapshots.remove(0);
        }
        dev.snapshots.push(Snapshot { id, height, offset_seconds });
        tracing::info!(target: "parlend::dev", id, height, "dev: snapshot");
        Ok(SnapshotView { id, height })
    }

    fn dev_revert(&self, id: u64) -> Result<RevertView, ApiError> {
        let snapshot = {
            let mut dev = self.dev.lock();
            let Some(position) = dev.snapshots.iter().position(|snapshot| snapshot.id == id) else {
                return Err(ApiError::NotFound(format!("no snapshot {id} (reverting consumes it and later ones)")));
            };
            let snapshot = dev.snapshots[position];
            let pruned_below = self.app.store().pruned_below();
            if snapshot.height < pruned_below {
                return Err(ApiError::Pruned(format!(
                    "snapshot {id} is at height {}, whose state tree is pruned: this node keeps heights from {pruned_below} (--state-history, or --archive)",
                    snapshot.height
                )));
            }
            dev.snapshots.truncate(position);
            dev.offset_seconds = snapshot.offset_seconds;
            snapshot
        };
        let (reply, answer) = mpsc::channel();
        let stopped = || ApiError::Unavailable("the producer has stopped".to_string());
        self.commands.lock().send(Command::Revert(snapshot.height, reply)).map_err(|_| stopped())?;
        let dropped =
            answer.recv().map_err(|_| stopped())?.map_err(|error| ApiError::Unavailable(error.to_string()))?;
        tracing::info!(target: "parlend::dev", id, height = snapshot.height, dropped, "dev: reverted to a snapshot");
        Ok(RevertView { id, height: snapshot.height, dropped_transactions: dropped as u64 })
    }

    fn metrics(&self) -> String {
        {
            let mempool = self.mempool.lock();
            self.metrics.mempool(mempool.len(), mempool.ready_len());
        }
        let mut text = self.metrics.encode();
        if self.consensus.get().is_some() {
            // The engine's own metrics (rounds, votes, sync, network) follow
            // ours in the same exposition, which ends once.
            text = text.trim_end().trim_end_matches("# EOF").to_string();
            text.push_str(&parlend_consensus::engine_metrics());
        }
        text
    }

    fn http_rejected(&self, reason: HttpRejection) {
        self.metrics.http_rejected(reason.label());
    }
}

/// Receipts of a block, for callers that hold one.
pub fn receipts_of(node: &Node, height: u64) -> Result<Vec<Receipt>, StoreError> {
    Ok(node.app.store().receipts(height)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use parlend_contracts::dev::{DEV_CHAIN_ID, dev_keypair};
    use parlend_ledger::block::Header;

    use super::*;

    /// A kept entry at `height` whose block holds `transactions` copies of
    /// one transaction.
    fn entry(height: u64, transactions: usize) -> RecentBlock {
        let transaction = Transaction {
            chain_id: DEV_CHAIN_ID,
            signer: dev_keypair(1).address(),
            nonce: height,
            access: AccessSet::new(Vec::new()).unwrap(),
            instructions: Vec::new(),
        }
        .sign(&dev_keypair(1));
        let header = Header {
            chain_id: DEV_CHAIN_ID,
            height,
            parent_hash: Hash::ZERO,
            timestamp: 0,
            transaction_count: u32::try_from(transactions).unwrap(),
            transactions_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
        };
        let block = Block { header, transactions: vec![transaction; transactions] };
        RecentBlock {
            height,
            hash: Hash([0; 32]),
            receipts: Arc::default(),
            block: Some((Arc::new(block), Arc::new(vec![Hash([0; 32]); transactions]))),
        }
    }

    fn kept(recent: &VecDeque<RecentBlock>) -> Vec<u64> {
        recent.iter().filter(|entry| entry.block.is_some()).map(|entry| entry.height).collect()
    }

    #[test]
    fn old_blocks_are_forgotten_by_count_and_by_transactions_but_never_the_newest() {
        let mut recent = VecDeque::new();
        for height in 0..6 {
            recent.push_back(entry(height, 10));
            forget_old_blocks(&mut recent, 3, 1_000);
        }
        assert_eq!(kept(&recent), vec![3, 4, 5], "three blocks by count");
        recent.push_back(entry(6, 25));
        forget_old_blocks(&mut recent, 3, 40);
        assert_eq!(kept(&recent), vec![5, 6], "35 transactions fit in 40, 45 do not");
        recent.push_back(entry(7, 100));
        forget_old_blocks(&mut recent, 3, 40);
        assert_eq!(kept(&recent), vec![7], "the newest block is kept over the bound");
        assert_eq!(recent.len(), 8, "every entry keeps its receipts");
    }
}
