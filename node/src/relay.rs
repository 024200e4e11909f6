//! The relay: transactions this validator admitted from clients, sent to
//! the other validators' `relayTransactions` so whichever proposes next can
//! include them.
//!
//! - One queue of transactions per peer, drained by one task per peer that
//!   sends everything queued as one call, bounded by
//!   [`RelayLimits::batch_transactions`] and [`RelayLimits::batch_bytes`]
//!   (under a peer's request body limit once hex-encoded): a burst becomes
//!   a few large calls, not many small ones, and a signer's transactions
//!   reach each peer in the order they were admitted here.
//! - A call the peer cannot take now (unreachable, overloaded, timed out)
//!   is retried, the same batch first, with backoff up to
//!   [`RelayLimits::retry_for`]; then it is dropped and counted.
//! - A peer's queue is bounded ([`RelayLimits::queue_transactions`],
//!   [`RelayLimits::queue_bytes`]); past either bound a transaction is not
//!   queued for that peer, counted, and logged when the queue fills. Nothing
//!   is lost for all that: the transaction stays in this node's mempool and
//!   is committed when this node proposes (docs/validators.md, "Relay").

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use parlend_rpc::client::{Client, ClientError};
use parlend_rpc::error as codes;
use parlend_rpc::types::SendOutcome;
use tokio::sync::Notify;

use crate::metrics::RelayMetrics;

/// The relay's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// Most transactions in one call.
    pub batch_transactions: usize,
    /// Most bytes of transactions in one call (hex doubles them on the wire).
    pub batch_bytes: usize,
    /// Most transactions queued for one peer.
    pub queue_transactions: usize,
    /// Most bytes of transactions queued for one peer.
    pub queue_bytes: usize,
    /// How long a call the peer cannot take is retried before its batch
    /// is dropped.
    pub retry_for: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            batch_transactions: 2_000,
            // 768 KiB of hex and 6 KB of quotes and commas: under the
            // default 1 MiB request body limit.
            batch_bytes: 384 * 1024,
            queue_transactions: 100_000,
            queue_bytes: 64 * 1024 * 1024,
            retry_for: Duration::from_secs(30),
        }
    }
}

/// Longest wait between two tries of a call.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// First wait before a call is tried again.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);

/// Sends admitted transactions to the other validators.
pub struct Relay {
    peers: Vec<Arc<PeerQueue>>,
    metrics: RelayMetrics,
}

impl Relay {
    /// Starts relaying to `peers` (their RPC addresses), one task each.
    pub fn start(peers: &[SocketAddr], limits: RelayLimits, metrics: RelayMetrics) -> Relay {
        let peers = peers
            .iter()
            .filter_map(|peer| {
                let client = Client::new(&format!("http://{peer}")).ok()?;
                let queue = Arc::new(PeerQueue::new(*peer, limits));
                tokio::spawn(send_loop(queue.clone(), client, metrics.clone()));
                Some(queue)
            })
            .collect();
        Relay { peers, metrics }
    }

    /// Queues admitted transactions (canonical bytes, in admission order)
    /// for every peer.
    pub fn push(&self, transactions: &[&Vec<u8>]) {
        if transactions.is_empty() {
            return;
        }
        let shared: Vec<Arc<[u8]>> = transactions.iter().map(|bytes| Arc::from(bytes.as_slice())).collect();
        for peer in &self.peers {
            let queued = peer.push(&shared);
            self.metrics.queued(queued);
            self.metrics.dropped_queue_full(shared.len() - queued);
        }
    }
}

/// What is queued for one peer.
#[derive(Default)]
struct Queued {
    transactions: VecDeque<Arc<[u8]>>,
    bytes: usize,
    /// The queue refused a transaction since it last had room (so a full
    /// queue is logged once, not per transaction).
    full: bool,
}

/// One peer's queue and what wakes its task.
struct PeerQueue {
    peer: SocketAddr,
    limits: RelayLimits,
    queued: Mutex<Queued>,
    wake: Notify,
}

impl PeerQueue {
    fn new(peer: SocketAddr, limits: RelayLimits) -> PeerQueue {
        PeerQueue { peer, limits, queued: Mutex::new(Queued::default()), wake: Notify::new() }
    }

    /// Queues what fits within the bounds, in order, and wakes the task;
    /// returns how many were queued (the first ones).
    fn push(&self, transactions: &[Arc<[u8]>]) -> usize {
        let mut queued = self.queued.lock();
        let mut count = 0;
        for transaction in transactions {
            let fits = queued.transactions.len() < self.limits.queue_transactions
                && queued.bytes + transaction.len() <= self.limits.queue_bytes;
            if !fits {
                break;
            }
            queued.bytes += transaction.len();
            queued.transactions.push_back(transaction.clone());
            count += 1;
        }
        if count < transactions.len() && !queued.full {
            queued.full = true;
            tracing::warn!(
                peer = %self.peer,
                queued = queued.transactions.len(),
                "the relay queue to a validator is full: transactions are not relayed to it until it drains (they \
                 stay in this node's mempool and commit when this node proposes)"
            );
        }
        drop(queued);
        self.wake.notify_one();
        count
    }

    /// Takes the next batch: everything queued, within the batch bounds
    /// (at least one transaction when anything is queued).
    fn next_batch(&self) -> Vec<Vec<u8>> {
        let mut queued = self.queued.lock();
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = queued.transactions.front() {
            let fits = batch.len() < self.limits.batch_transactions && bytes + next.len() <= self.limits.batch_bytes;
            if !fits && !batch.is_empty() {
                break;
            }
            bytes += next.len();
            batch.push(next.to_vec());
            queued.transactions.pop_front();
        }
        queued.bytes -= bytes;
        if queued.full && !batch.is_empty() {
            queued.full = false;
            tracing::info!(peer = %self.peer, "the relay queue to a validator has room again");
        }
        batch
    }
}

/// One peer's task: sends batches in order until the runtime stops.
async fn send_loop(queue: Arc<PeerQueue>, client: Client, metrics: RelayMetrics) {
    loop {
        let batch = queue.next_batch();
        if batch.is_empty() {
            queue.wake.notified().await;
            continue;
        }
        metrics.dequeued(batch.len());
        match deliver(&client, &batch, queue.limits.retry_for).await {
            Ok(outcomes) => metrics.delivered(&outcomes),
            Err(error) => {
                tracing::warn!(peer = %queue.peer, %error, transactions = batch.len(), "a relay batch is dropped");
                metrics.dropped_unreachable(batch.len());
            }
        }
    }
}

/// Sends one batch, trying again while the peer cannot take it now, until
/// `retry_for` has passed.
async fn deliver(client: &Client, batch: &[Vec<u8>], retry_for: Duration) -> Result<Vec<SendOutcome>, ClientError> {
    let started = Instant::now();
    let mut backoff = BACKOFF_FIRST;
    loop {
        match client.relay(batch).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(error) if retryable(&error) && started.elapsed() + backoff < retry_for => {
                tracing::debug!(%error, "relaying transactions to a validator failed; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether a failed call may succeed later: the peer was unreachable,
/// overloaded or slow, not refusing the request itself.
fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Transport(_) => true,
        ClientError::Rpc { code, .. } => {
            [codes::SERVER_BUSY, codes::REQUEST_TIMEOUT, codes::BODY_TIMEOUT, codes::UNAVAILABLE].contains(code)
        }
        ClientError::Verification(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RelayLimits {
        RelayLimits {
            batch_transactions: 3,
            batch_bytes: 10,
            queue_transactions: 5,
            queue_bytes: 14,
            retry_for: Duration::from_millis(10),
        }
    }

    fn transaction(length: usize, fill: u8) -> Arc<[u8]> {
        Arc::from(vec![fill; length])
    }

    #[test]
    fn batches_take_everything_queued_within_their_bounds_in_order() {
        let queue = PeerQueue::new(SocketAddr::from(([127, 0, 0, 1], 1)), limits());
        let pushed: Vec<Arc<[u8]>> = (0..4).map(|index| transaction(2, index)).collect();
        assert_eq!(queue.push(&pushed), 4);
        // Count bound: three of four.
        assert_eq!(queue.next_batch(), vec![vec![0; 2], vec![1; 2], vec![2; 2]]);
        assert_eq!(queue.next_batch(), vec![vec![3; 2]]);
        assert!(queue.next_batch().is_empty());
        // Byte bound: 6 + 6 > 10, so one per batch; one larger than a whole
        // batch still goes, alone.
        assert_eq!(queue.push(&[transaction(6, 7), transaction(6, 8)]), 2);
        assert_eq!(queue.next_batch(), vec![vec![7; 6]]);
        assert_eq!(queue.next_batch(), vec![vec![8; 6]]);
        assert_eq!(queue.push(&[transaction(12, 9)]), 1);
        assert_eq!(queue.next_batch(), vec![vec![9; 12]]);
        assert_eq!(queue.queued.lock().bytes, 0);
    }

    #[test]
    fn a_full_queue_takes_the_first_that_fit_and_has_room_once_drained() {
        let queue = PeerQueue::new(SocketAddr::from(([127, 0, 0, 1], 1)), limits());
        // Byte bound: 4 + 4 + 4 fit in 14, the fourth does not.
        let pushed: Vec<Arc<[u8]>> = (0..6).map(|index| transaction(4, index)).collect();
        assert_eq!(queue.push(&pushed), 3);
        assert!(queue.queued.lock().full);
        // Count bound: five one-byte transactions at most.
        let queue = PeerQueue::new(SocketAddr::from(([127, 0, 0, 1], 1)), limits());
        let small: Vec<Arc<[u8]>> = (0..7).map(|index| transaction(1, index)).collect();
        assert_eq!(queue.push(&small), 5);
        assert_eq!(queue.next_batch().len(), 3);
        assert!(!queue.queued.lock().full, "room again");
        assert_eq!(queue.push(&small[5..]), 2, "the rest fits now");
        let rest: Vec<Vec<u8>> = [queue.next_batch(), queue.next_batch()].concat();
        assert_eq!(rest, vec![vec![3], vec![4], vec![5], vec![6]]);
    }

    fn transfers(count: usize) -> parlend_sim::workload::RpcWorkload {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        parlend_sim::workload::rpc_workload(parlend_sim::workload::WorkloadKind::Transfers, count, 50, 11, now).unwrap()
    }

    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..3_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what}: not after 30 s");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_single_transactions_reaches_the_peer_in_a_few_large_calls() {
        const COUNT: usize = 3_000;
        let workload = transfers(COUNT);
        let mut config = crate::node::NodeConfig::new(workload.genesis);
        config.manual_mining = true;
        let peer = crate::node::Node::start(config).await.unwrap();
        let metrics = RelayMetrics::default();
        let relay = Relay::start(&[peer.rpc_address], RelayLimits::default(), metrics.clone());
        // As many admissions of one transaction each, as fast as they come.
        let bytes: Vec<Vec<u8>> =
            workload.transactions.iter().map(parlend_contracts::SignedTransaction::encode).collect();
        for transaction in &bytes {
            relay.push(&[transaction]);
        }
        eventually("every transaction relayed", || metrics.count("accepted") == COUNT as u64).await;
        let pending = parlend_rpc::api::NodeApi::head(&*peer.node).unwrap().pending_transactions;
        assert_eq!(pending, COUNT as u64, "in the peer's mempool");
        assert_eq!(metrics.count("dropped_queue_full") + metrics.count("refused_nonce"), 0);
        assert!(metrics.batches() < (COUNT / 10) as u64, "{} calls for {COUNT} transactions", metrics.batches());
        drop(relay);
        peer.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_an_unreachable_peer_never_takes_is_dropped_and_counted() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let metrics = RelayMetrics::default();
        let limits = RelayLimits { retry_for: Duration::from_millis(300), ..RelayLimits::default() };
        let relay = Relay::start(&[closed], limits, metrics.clone());
        let bytes = vec![vec![1u8; 100]; 10];
        relay.push(&bytes.iter().collect::<Vec<_>>());
        eventually("the batch dropped", || metrics.count("dropped_unreachable") == 10).await;
        assert!(metrics.batches() >= 1);
    }

    #[test]
    fn only_transient_failures_are_tried_again() {
        assert!(retryable(&ClientError::Transport("connection refused".into())));
        assert!(retryable(&ClientError::Rpc { code: codes::SERVER_BUSY, message: String::new() }));
        assert!(!retryable(&ClientError::Rpc { code: codes::INVALID_PARAMS, message: String::new() }));
    }
}
