//! Validator mode: the node as the consensus engine's host, and the relay
//! that shares submitted transactions with the other validators.
//!
//! In validator mode no producer thread cuts blocks: the engine asks this
//! node for a block when it proposes ([`Host::propose`]), to execute the
//! blocks others propose ([`Host::execute_proposed`]) and to commit what
//! the validators decided, with its certificate ([`Host::commit`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parlend_app::Finalized;
use parlend_app::certificate::CommitCertificate;
use parlend_consensus::host::{Host, HostError};
use parlend_contracts::{Block, VerifiedTransaction};
use parlend_ledger::Hash;
use parlend_store::{ChainHead, Store};
use tokio::sync::mpsc;

use crate::metrics::BlockTimings;
use crate::node::Node;
use crate::producer::{account_nonces, execute_pending};

/// The node as the engine's host.
pub struct NodeHost {
    node: Arc<Node>,
    /// Test only: propose blocks whose state root is wrong (a lying
    /// proposer, which the other validators must vote down).
    wrong_state_root: bool,
}

impl NodeHost {
    /// The host for `node`.
    pub fn new(node: Arc<Node>, wrong_state_root: bool) -> NodeHost {
        NodeHost { node, wrong_state_root }
    }
}

impl Host for NodeHost {
    fn head(&self) -> ChainHead {
        self.node.app().info()
    }

    fn propose(&self) -> Result<Finalized, HostError> {
        let app = self.node.app();
        let store: &dyn Store = &**app.store();
        let executed =
            execute_pending(&self.node, &app.info().header, store, true)?.expect("a forced block is always executed");
        let hashes: Vec<Hash> = executed.proposal.transactions.iter().map(VerifiedTransaction::hash).collect();
        let mut finalized = self.node.app().seal(executed).inspect_err(|_| self.node.release(&hashes))?;
        if self.wrong_state_root {
            finalized.block.header.state_root = Hash([0xee; 32]);
        }
        Ok(finalized)
    }

    fn execute_proposed(&self, block: &Block) -> Result<Finalized, HostError> {
        let app = self.node.app();
        // Relayed transactions were verified when this node admitted them.
        let proposal = app.process_proposal_known(block, |ids| self.node.pending(ids))?;
        Ok(app.finalize_block(proposal)?)
    }

    fn commit(&self, finalized: Finalized, certificate: &CommitCertificate) -> Result<ChainHead, HostError> {
        let node = &self.node;
        let height = finalized.block.header.height;
        let hashes: Vec<Hash> = finalized.block.transactions.iter().map(|transaction| transaction.hash()).collect();
        let entries = crate::events::tx_log_entries(&finalized.block.transactions, &hashes);
        let nonces = account_nonces(&finalized.changes);
        let receipts = finalized.receipts.clone();
        let stats = finalized.stats;
        let root = finalized.state_root_time;
        let mut timings =
            BlockTimings { schedule: stats.schedule, execute: Duration::ZERO, root, commit: Duration::ZERO };
        node.executed(height, &stats, timings);
        let started = Instant::now();
        let head = node.app().commit_certified(finalized, Some(certificate))?;
        timings.commit += started.elapsed();
        node.published(&head, &hashes, &nonces, &receipts, &stats, timings);
        crate::events::log_block(&head, &entries, &receipts, &stats, timings.schedule + timings.root + timings.commit);
        Ok(head)
    }

    fn abandon(&self, block: &Block) {
        let hashes: Vec<Hash> = block.transactions.iter().map(|transaction| transaction.hash()).collect();
        self.node.release(&hashes);
    }

    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, HostError> {
        let store = self.node.app().store();
        let (Some(bytes), Some(certificate)) = (store.block_bytes(height)?, store.certificate(height)?) else {
            return Ok(None);
        };
        let certificate = borsh::from_slice(&certificate).map_err(|error| HostError::Corrupt {
            what: "certificate",
            height,
            reason: error.to_string(),
        })?;
        Ok(Some((bytes, certificate)))
    }
}

/// Transactions per relayed call.
const RELAY_BATCH_MAX: usize = 1_000;

/// Transactions waiting to be relayed, at most; beyond it the newest are
/// not relayed (they still reach a block when this node proposes).
pub const RELAY_QUEUE_MAX: usize = 100_000;

/// Sends transactions this node admitted from clients to the other
/// validators' RPC (`relayTransactions`, which does not relay again), so
/// whichever validator proposes next can include them.
pub struct Relay {
    queue: mpsc::Sender<Vec<u8>>,
}

impl Relay {
    /// Starts relaying to `peers` (their RPC addresses).
    pub fn start(peers: Vec<SocketAddr>) -> Relay {
        let (queue, receiver) = mpsc::channel(RELAY_QUEUE_MAX);
        tokio::spawn(relay_loop(peers, receiver));
        Relay { queue }
    }

    /// Queues an admitted transaction.
    pub fn push(&self, transaction: Vec<u8>) {
        if self.queue.try_send(transaction).is_err() {
            tracing::warn!("the relay queue is full; a transaction is not relayed");
        }
    }
}

/// Batches queued per peer, at most, before a slow peer misses some.
const PEER_BATCHES_MAX: usize = 64;

async fn relay_loop(peers: Vec<SocketAddr>, mut receiver: mpsc::Receiver<Vec<u8>>) {
    // One task per peer sends its batches in order: a signer's nonces must
    // reach each mempool in sequence.
    let senders: Vec<mpsc::Sender<Arc<Vec<Vec<u8>>>>> = peers
        .into_iter()
        .filter_map(|peer| {
            let client = parlend_rpc::client::Client::new(&format!("http://{peer}")).ok()?;
            let (sender, mut batches) = mpsc::channel::<Arc<Vec<Vec<u8>>>>(PEER_BATCHES_MAX);
            tokio::spawn(async move {
                while let Some(batch) = batches.recv().await {
                    if let Err(error) = client.relay(&batch).await {
                        tracing::debug!(%peer, %error, "relaying transactions to a validator failed");
                    }
                }
            });
            Some(sender)
        })
        .collect();
    let mut batch = Vec::with_capacity(RELAY_BATCH_MAX);
    while receiver.recv_many(&mut batch, RELAY_BATCH_MAX).await > 0 {
        let transactions = Arc::new(std::mem::take(&mut batch));
        for sender in &senders {
            if sender.try_send(transactions.clone()).is_err() {
                tracing::warn!("a validator is not keeping up; a batch is not relayed to it");
            }
        }
    }
}
