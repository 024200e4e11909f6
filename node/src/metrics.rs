//! Prometheus metrics, served at `GET /metrics` (OpenMetrics text).
//!
//! | metric | type | what |
//! |--------|------|------|
//! | `parlend_blocks` | counter | blocks committed by this process |
//! | `parlend_head_height` | gauge | height of the committed head |
//! | `parlend_transactions{status}` | counter | committed transactions: `success`, `failed`, `access_violation` |
//! | `parlend_transactions_rejected{reason}` | counter | submissions refused at admission (`mempool_full`, `nonce`, `signature`, ...) |
//! | `parlend_mempool_transactions` | gauge | pending transactions (in blocks in progress included) |
//! | `parlend_mempool_ready_transactions` | gauge | pending transactions no block has taken yet |
//! | `parlend_mempool_dropped{reason}` | counter | pending transactions dropped without being committed (`getTransactionStatus` says `dropped`, with the code): `stale_nonce` (a block from another validator used the nonce), `evicted` (their signer's nonces were out of order in a block: a bug) |
//! | `parlend_admission_seconds_per_transaction` | histogram | admission time per transaction of each `sendTransaction(s)` call (decode, signatures, mempool) |
//! | `parlend_block_fill_ratio` | histogram | transactions per block over the block's capacity |
//! | `parlend_block_phase_seconds{phase}` | histogram | block time by phase: `sigverify`, `schedule`, `execute`, `root`, `commit` |
//! | `parlend_block_cut_to_commit_seconds` | histogram | producer: from a block's cut to its commit (the last part's execution, the root, the write): what a transaction waits beyond the block interval |
//! | `parlend_block_cut_wait_seconds` | histogram | producer: how long a cut waited past its deadline for `sendTransactions` batches being admitted (cuts that waited only; see `--cut-grace-ms`) |
//! | `parlend_block_transactions` | histogram | transactions per block |
//! | `parlend_block_parallelism` | gauge | last block's transactions per step of its longest dependency chain (1 when run serially) |
//! | `parlend_block_reexecutions` | counter | transactions re-executed by the parallel executor's validation |
//! | `parlend_block_serial_fallbacks` | counter | blocks the parallel executor ran serially (too small or too little parallelism) |
//! | `parlend_relay_transactions{outcome}` | counter | validators: transactions relayed to other validators, per peer: `accepted`, `already_known`, `refused_nonce`, `refused_full`, `refused_other` (the peer's verdict), `dropped_queue_full` (not queued: the peer's relay queue was full), `dropped_unreachable` (the peer could not take the call for the whole retry time) |
//! | `parlend_relay_batches` | counter | validators: `relayTransactions` calls made |
//! | `parlend_relay_queued_transactions` | gauge | validators: transactions waiting to be relayed, all peers' queues together |
//! | `parlend_http_rejected{reason}` | counter | requests answered and connections closed by the HTTP layer: `shed`, `timeout`, `too_large`, `body_timeout`, `connection_refused`, `connection_evicted` |
//!
//! A validator adds its consensus metrics (`parlend_consensus_*`: rounds,
//! nil votes, proposal and sync sizes, peers; listed in
//! `parlend_consensus::metrics`) and the engine's own (`malachitebft_*`).
//!
//! Phases: `sigverify` is the signature verification done at mempool
//! admission since the previous block (the producer's blocks carry
//! transactions verified on the way in; with several cores a batch's
//! signatures are checked side by side, so this is wall time, not CPU); `schedule` builds the dependency
//! graph; `execute` is the rest of execution (prologue, transactions,
//! epilogue); `root` computes the state root (the state tree's update);
//! `commit` writes the block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use parlend_ledger::RejectReason;
use parlend_ledger::block::{Receipt, TxStatus};
use parlend_ledger::exec::ExecutionStats;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

/// The relay's metrics (validator mode), registered when it starts.
#[derive(Clone, Default)]
pub struct RelayMetrics {
    transactions: Family<Labels, Counter>,
    batches: Counter,
    queued: Gauge,
}

impl RelayMetrics {
    /// Counts transactions queued for a peer.
    pub fn queued(&self, count: usize) {
        self.queued.inc_by(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts transactions taken from a peer's queue for a call.
    pub fn dequeued(&self, count: usize) {
        self.batches.inc();
        self.queued.dec_by(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts a peer's verdicts on a delivered batch.
    pub fn delivered(&self, outcomes: &[parlend_rpc::types::SendOutcome]) {
        for outcome in outcomes {
            let label = match &outcome.error {
                None => "accepted",
                Some(error) if error.code == parlend_rpc::error::ALREADY_KNOWN => "already_known",
                Some(error)
                    if [parlend_rpc::error::NONCE_TOO_LOW, parlend_rpc::error::NONCE_TOO_HIGH]
                        .contains(&error.code) =>
                {
                    "refused_nonce"
                }
                Some(error)
                    if [parlend_rpc::error::MEMPOOL_FULL, parlend_rpc::error::SIGNER_QUEUE_FULL]
                        .contains(&error.code) =>
                {
                    "refused_full"
                }
                Some(_) => "refused_other",
            };
            self.transactions.get_or_create(&vec![("outcome", label)]).inc();
        }
    }

    /// Counts transactions not queued for a peer: its queue was full.
    pub fn dropped_queue_full(&self, count: usize) {
        if count > 0 {
            self.transactions.get_or_create(&vec![("outcome", "dropped_queue_full")]).inc_by(count as u64);
        }
    }

    /// Counts transactions of a batch dropped after the peer could not
    /// take it for the whole retry time.
    pub fn dropped_unreachable(&self, count: usize) {
        self.transactions.get_or_create(&vec![("outcome", "dropped_unreachable")]).inc_by(count as u64);
    }

    /// A count by outcome (tests).
    pub fn count(&self, outcome: &'static str) -> u64 {
        self.transactions.get_or_create(&vec![("outcome", outcome)]).get()
    }

    /// Calls made (tests).
    pub fn batches(&self) -> u64 {
        self.batches.get()
    }
}

/// Time one block spent in each phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockTimings {
    /// Building the dependency graph.
    pub schedule: Duration,
    /// Executing (prologue, transactions, epilogue).
    pub execute: Duration,
    /// Computing the state root (the state tree's update).
    pub root: Duration,
    /// Writing the block (one atomic, fsynced batch).
    pub commit: Duration,
    /// When the producer cut the block (`None`: a validator's block).
    pub cut_at: Option<std::time::Instant>,
}

/// The node's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    blocks: Counter,
    head_height: Gauge,
    transactions: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    mempool: Gauge,
    mempool_ready: Gauge,
    dropped: Family<Labels, Counter>,
    admission: Histogram,
    block_fill: Histogram,
    phases: Family<Labels, Histogram>,
    cut_to_commit: Histogram,
    cut_wait: Histogram,
    block_transactions: Histogram,
    parallelism: Gauge<f64, AtomicU64>,
    reexecutions: Counter,
    serial_fallbacks: Counter,
    executed_ahead: Counter,
    http_rejected: Family<Labels, Counter>,
    /// Nanoseconds of admission signature checks since the last block.
    sigverify_nanos: AtomicU64,
}

fn phase_histogram() -> Histogram {
    // 10 µs to about 20 s.
    Histogram::new(exponential_buckets(0.000_01, 2.0, 22))
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            registry: Mutex::new(Registry::with_prefix("parlend")),
            blocks: Counter::default(),
            head_height: Gauge::default(),
            transactions: Family::default(),
            rejected: Family::default(),
            mempool: Gauge::default(),
            mempool_ready: Gauge::default(),
            dropped: Family::default(),
            // 100 ns to about 1.6 s per transaction.
            admission: Histogram::new(exponential_buckets(0.000_000_1, 2.0, 24)),
            // 1/1024 to 1 of a block.
            block_fill: Histogram::new(exponential_buckets(0.000_976_562_5, 2.0, 11)),
            phases: Family::new_with_constructor(phase_histogram),
            // 1 ms to about 1 s in steps of 25%: it is a latency.
            cut_to_commit: Histogram::new(exponential_buckets(0.001, 1.25, 32)),
            // 100 µs to about 1 s.
            cut_wait: Histogram::new(exponential_buckets(0.000_1, 1.5, 24)),
            block_transactions: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            parallelism: Gauge::default(),
            reexecutions: Counter::default(),
            serial_fallbacks: Counter::default(),
            executed_ahead: Counter::default(),
            http_rejected: Family::default(),
            sigverify_nanos: AtomicU64::new(0),
        };
        {
            let mut registry = metrics.registry.lock();
            registry.register("blocks", "Blocks committed by this process", metrics.blocks.clone());
            registry.register("head_height", "Height of the committed head", metrics.head_height.clone());
            registry.register("transactions", "Committed transactions by status", metrics.transactions.clone());
            registry.register(
                "transactions_rejected",
                "Submissions refused at admission, by reason",
                metrics.rejected.clone(),
            );
            registry.register("mempool_transactions", "Pending transactions", metrics.mempool.clone());
            registry.register(
                "transactions_executed_ahead",
                "Transactions executed as the first part of their block, before it was cut",
                metrics.executed_ahead.clone(),
            );
            registry.register(
                "mempool_ready_transactions",
                "Pending transactions no block has taken yet",
                metrics.mempool_ready.clone(),
            );
            registry.register(
                "mempool_dropped",
                "Pending transactions dropped without being committed, by reason",
                metrics.dropped.clone(),
            );
            registry.register(
                "admission_seconds_per_transaction",
                "Admission time per transaction of each submission call",
                metrics.admission.clone(),
            );
            registry.register(
                "block_fill_ratio",
                "Transactions per block over its capacity",
                metrics.block_fill.clone(),
            );
            registry.register("block_phase_seconds", "Block time by phase", metrics.phases.clone());
            registry.register(
                "block_cut_to_commit_seconds",
                "From a block's cut to its commit",
                metrics.cut_to_commit.clone(),
            );
            registry.register(
                "block_cut_wait_seconds",
                "How long a cut waited past its deadline for batches being admitted",
                metrics.cut_wait.clone(),
            );
            registry.register("block_transactions", "Transactions per block", metrics.block_transactions.clone());
            registry.register(
                "block_parallelism",
                "Last block's transactions per step of its longest dependency chain",
                metrics.parallelism.clone(),
            );
            registry.register(
                "block_reexecutions",
                "Transactions re-executed by the parallel executor",
                metrics.reexecutions.clone(),
            );
            registry.register(
                "block_serial_fallbacks",
                "Blocks the parallel executor ran serially",
                metrics.serial_fallbacks.clone(),
            );
            registry.register("http_rejected", "Requests answered by the HTTP layer", metrics.http_rejected.clone());
        }
        metrics
    }

    /// Records one admission call: `count` transactions, their signature
    /// checks taking `checked` (wall time), the whole call `total`.
    #[expect(clippy::float_arithmetic, reason = "a metric for people, never part of state or consensus")]
    pub fn admitted(&self, count: usize, checked: Duration, total: Duration) {
        let nanos = u64::try_from(checked.as_nanos()).unwrap_or(u64::MAX);
        self.sigverify_nanos.fetch_add(nanos, Ordering::Relaxed);
        let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
        self.admission.observe(total.as_secs_f64() / f64::from(count));
    }

    /// Counts a refused submission.
    pub fn rejected(&self, reason: &RejectReason) {
        let label = match reason {
            RejectReason::TooLarge { .. } => "too_large",
            RejectReason::Malformed(_) | RejectReason::InstructionCount(_) | RejectReason::NonceNotDeclared => {
                "malformed"
            }
            RejectReason::WrongChain { .. } => "wrong_chain",
            RejectReason::Signature(_) => "signature",
            RejectReason::NonceTooLow { .. } | RejectReason::NonceTooHigh { .. } => "nonce",
            RejectReason::AlreadyKnown(_) => "already_known",
            RejectReason::MempoolFull { .. } => "mempool_full",
            RejectReason::SignerQueueFull { .. } => "signer_queue_full",
        };
        self.rejected.get_or_create(&vec![("reason", label)]).inc();
    }

    /// Records a committed block.
    #[expect(clippy::float_arithmetic, reason = "a metric for people, never part of state or consensus")]
    pub fn block_committed(
        &self,
        height: u64,
        receipts: &[Receipt],
        stats: &ExecutionStats,
        timings: BlockTimings,
        capacity: usize,
    ) {
        self.blocks.inc();
        self.head_height.set(i64::try_from(height).unwrap_or(i64::MAX));
        for receipt in receipts {
            let status = match receipt.status {
                TxStatus::Success => "success",
                TxStatus::Failed { .. } => "failed",
                TxStatus::AccessViolation { .. } => "access_violation",
            };
            self.transactions.get_or_create(&vec![("status", status)]).inc();
        }
        let sigverify = Duration::from_nanos(self.sigverify_nanos.swap(0, Ordering::Relaxed));
        for (phase, elapsed) in [
            ("sigverify", sigverify),
            ("schedule", timings.schedule),
            ("execute", timings.execute),
            ("root", timings.root),
            ("commit", timings.commit),
        ] {
            self.phases.get_or_create(&vec![("phase", phase)]).observe(elapsed.as_secs_f64());
        }
        if let Some(cut_at) = timings.cut_at {
            self.cut_to_commit.observe(cut_at.elapsed().as_secs_f64());
        }
        let count = u32::try_from(receipts.len()).unwrap_or(u32::MAX);
        self.block_transactions.observe(f64::from(count));
        let capacity = u32::try_from(capacity.max(1)).unwrap_or(u32::MAX);
        self.block_fill.observe(f64::from(count) / f64::from(capacity));
        self.parallelism.set(parallelism(count, stats));
        self.reexecutions.inc_by(u64::try_from(stats.reexecutions).unwrap_or(u64::MAX));
        if stats.serial_fallback {
            self.serial_fallbacks.inc();
        }
    }

    /// A cut waited `waited` past its deadline for batches being admitted.
    pub fn cut_waited(&self, waited: Duration) {
        self.cut_wait.observe(waited.as_secs_f64());
    }

    /// Transactions executed as the first part of the block being built.
    pub fn executed_ahead(&self, count: usize) {
        self.executed_ahead.inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// Sets the mempool depths: every pending transaction, and those no
    /// block has taken yet.
    pub fn mempool(&self, pending: usize, ready: usize) {
        self.mempool.set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.mempool_ready.set(i64::try_from(ready).unwrap_or(i64::MAX));
    }

    /// Counts pending transactions dropped without being committed:
    /// `stale_nonce` (a block from another validator used the nonce) or
    /// `evicted` (their signer's nonces were out of order in a block).
    pub fn dropped(&self, reason: &'static str, count: usize) {
        if count > 0 {
            self.dropped.get_or_create(&vec![("reason", reason)]).inc_by(count as u64);
        }
    }

    /// Sets the head height (after a revert).
    pub fn head(&self, height: u64) {
        self.head_height.set(i64::try_from(height).unwrap_or(i64::MAX));
    }

    /// Registers a validator's consensus metrics beside these.
    pub fn register_consensus(&self, consensus: &parlend_consensus::metrics::ConsensusMetrics) {
        consensus.register(&mut self.registry.lock());
    }

    /// The relay's metrics, registered beside these.
    pub fn register_relay(&self) -> RelayMetrics {
        let relay = RelayMetrics::default();
        let mut registry = self.registry.lock();
        registry.register(
            "relay_transactions",
            "Transactions relayed to other validators (once per peer), by outcome",
            relay.transactions.clone(),
        );
        registry.register("relay_batches", "relayTransactions calls made to other validators", relay.batches.clone());
        registry.register(
            "relay_queued_transactions",
            "Transactions waiting to be relayed, all peers' queues together",
            relay.queued.clone(),
        );
        relay
    }

    /// Counts a request the HTTP layer answered itself.
    pub fn http_rejected(&self, reason: &'static str) {
        self.http_rejected.get_or_create(&vec![("reason", reason)]).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry.lock());
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Transactions per step of the longest dependency chain: how many
/// transactions ran side by side on average. 1 for a serial block.
#[expect(clippy::float_arithmetic, reason = "a metric for people, never part of state or consensus")]
fn parallelism(transactions: u32, stats: &ExecutionStats) -> f64 {
    if stats.serial_fallback || stats.depth == 0 || transactions == 0 {
        return if transactions == 0 { 0.0 } else { 1.0 };
    }
    f64::from(transactions) / f64::from(stats.depth)
}
