//! What the node publishes after each committed block, for the RPC's
//! subscriptions, and the liquidatable index kept up to date with it.
//!
//! The committer hands each committed block's digest to the feed thread
//! through a bounded queue without waiting ([`Feed::committed`]); when the
//! queue is full the event is dropped and the index rebuilt from the state
//! at the next one, so the producer never waits for the feed. The feed
//! thread brings the [`RiskIndex`] to the block, and, when anyone
//! subscribes, builds one [`BlockFeed`] (head, transactions with receipts,
//! markets and prices, index moves) and broadcasts it: every subscriber
//! reads the same `Arc`, and one that falls more than the channel's
//! capacity behind is dropped by the RPC ([`parlend_rpc::subscriptions`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use parlend_contracts::query;
use parlend_contracts::{Instruction, SignedTransaction};
use parlend_ledger::block::TxStatus;
use parlend_ledger::{Address, Wad};
use parlend_rpc::ApiError;
use parlend_rpc::types::{
    BlockFeed, FeedTransaction, MarketsNoticeView, NewHeadView, ReceiptView, RiskMove, RiskSnapshot,
    TransactionNoticeView,
};
use tokio::sync::broadcast;

use crate::node::{Node, outcome_view};
use crate::risk::{BlockDigest, RiskIndex};

/// Committed blocks waiting for the feed thread; beyond it, the index is
/// rebuilt instead.
pub const FEED_QUEUE: usize = 1_024;

/// How long a reader of the index waits for it to reach the head.
pub const INDEX_WAIT: Duration = Duration::from_secs(10);

/// What the committer tells the feed thread.
#[derive(Debug)]
pub(crate) enum FeedEvent {
    /// A block was committed.
    Committed {
        /// Its height.
        height: u64,
        /// What it changed.
        digest: BlockDigest,
    },
    /// The chain went back to `height` (`dev_revert`).
    Reverted {
        /// The head afterwards.
        height: u64,
    },
}

/// The node's side of the feed.
pub(crate) struct Feed {
    events: SyncSender<FeedEvent>,
    blocks: broadcast::Sender<Arc<BlockFeed>>,
    index: Mutex<RiskIndex>,
    /// An event was dropped (queue full): rebuild at the next one.
    lost: AtomicBool,
}

impl Feed {
    /// A feed whose subscribers may fall `capacity` blocks behind.
    pub(crate) fn new(capacity: usize) -> (Feed, Receiver<FeedEvent>) {
        let (events, receiver) = sync_channel(FEED_QUEUE);
        let (blocks, _) = broadcast::channel(capacity.max(1));
        (Feed { events, blocks, index: Mutex::new(RiskIndex::new()), lost: AtomicBool::new(false) }, receiver)
    }

    /// Hands an event to the feed thread without waiting.
    pub(crate) fn send(&self, event: FeedEvent) {
        match self.events.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => self.lost.store(true, Ordering::Release),
        }
    }

    /// A receiver of the blocks published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<BlockFeed>> {
        self.blocks.subscribe()
    }

    /// Runs `read` on the index once it has reached `height` (waiting at
    /// most [`INDEX_WAIT`]).
    pub(crate) fn read_index<T>(&self, height: u64, read: impl FnOnce(&RiskIndex) -> T) -> Result<T, ApiError> {
        let deadline = Instant::now() + INDEX_WAIT;
        loop {
            {
                let index = self.index.lock();
                if index.height().is_some_and(|at| at >= height) {
                    return Ok(read(&index));
                }
            }
            if Instant::now() >= deadline {
                return Err(ApiError::Unavailable("the liquidatable index is still catching up; retry".into()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Starts the feed thread. It holds the node weakly: it ends when the node
/// is dropped (its queue's sender with it).
pub(crate) fn spawn(node: Weak<Node>, events: Receiver<FeedEvent>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("parlend-feed".to_string()).spawn(move || {
        if let Some(node) = node.upgrade() {
            let height = node.app().info().height;
            if let Err(error) = rebuild(&node, height) {
                tracing::error!(%error, "building the liquidatable index failed");
            }
        }
        while let Ok(event) = events.recv() {
            let Some(node) = node.upgrade() else { break };
            if let Err(error) = process(&node, event) {
                tracing::error!(%error, "the block feed failed; the index is rebuilt at the next block");
                node.feed_state().lost.store(true, Ordering::Release);
            }
        }
    })
}

fn rebuild(node: &Node, height: u64) -> Result<Vec<RiskMove>, ApiError> {
    let owners = node.position_owners()?;
    let timestamp = node.app().info().header.timestamp;
    let started = Instant::now();
    let moves =
        node.feed_state().index.lock().rebuild(node.reader(), &owners, height, timestamp).map_err(query_error)?;
    tracing::debug!(positions = owners.len(), elapsed = ?started.elapsed(), "liquidatable index built");
    Ok(moves)
}

fn query_error(error: query::QueryError) -> ApiError {
    ApiError::Unavailable(format!("liquidatable index: {error}"))
}

fn process(node: &Node, event: FeedEvent) -> Result<(), ApiError> {
    let feed = node.feed_state();
    let lost = feed.lost.swap(false, Ordering::AcqRel);
    let (height, digest) = match event {
        FeedEvent::Reverted { height } => {
            rebuild(node, height)?;
            return Ok(());
        }
        FeedEvent::Committed { height, digest } => (height, digest),
    };
    let Some(block) = node.block_at(height)? else {
        // Reverted since: the revert's event rebuilds.
        return Ok(());
    };
    let timestamp = block.header.timestamp;
    let moves = if lost || digest.parameters_changed || feed.index.lock().height().is_none() {
        rebuild(node, height)?
    } else {
        feed.index.lock().apply(node.reader(), &digest, height, timestamp).map_err(query_error)?
    };
    if feed.blocks.receiver_count() == 0 {
        return Ok(());
    }
    let published = block_feed(node, &block, moves)?;
    let _ = feed.blocks.send(Arc::new(published));
    Ok(())
}

/// The feed of one committed block.
fn block_feed(node: &Node, block: &parlend_contracts::Block, risk: Vec<RiskMove>) -> Result<BlockFeed, ApiError> {
    let header = block.header.clone();
    let height = header.height;
    let hash = header.hash();
    let receipts = node.receipts_at(height)?;
    let mut transactions = Vec::with_capacity(block.transactions.len());
    let (mut failed, mut liquidations) = (0u32, 0u32);
    for (index, (transaction, receipt)) in block.transactions.iter().zip(receipts.iter()).enumerate() {
        let succeeded = matches!(receipt.status, TxStatus::Success);
        failed += u32::from(!succeeded);
        let instructions = &transaction.transaction.instructions;
        if succeeded && instructions.iter().any(|instruction| matches!(instruction, Instruction::Liquidate { .. })) {
            liquidations += 1;
        }
        let receipt = ReceiptView {
            tx_hash: receipt.tx_hash,
            block_height: height,
            block_hash: hash,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            outcome: outcome_view(&receipt.status),
        };
        transactions.push(feed_transaction(transaction, receipt));
    }
    let timestamp = header.timestamp;
    let reader = node.reader();
    let markets = query::markets(reader, timestamp).map_err(query_error)?;
    let prices = query::prices(reader, timestamp).map_err(query_error)?;
    let head = NewHeadView {
        hash,
        transactions: u32::try_from(block.transactions.len()).unwrap_or(u32::MAX),
        failed,
        liquidations,
        execution: node.execution_of(height),
        header,
    };
    Ok(BlockFeed { head, transactions, markets: MarketsNoticeView { height, timestamp, markets, prices }, risk })
}

fn feed_transaction(transaction: &SignedTransaction, receipt: ReceiptView) -> FeedTransaction {
    let signer = transaction.transaction.signer;
    let mut addresses = vec![signer];
    for instruction in &transaction.transaction.instructions {
        if let Some(address) = named_address(instruction)
            && !addresses.contains(&address)
        {
            addresses.push(address);
        }
    }
    let notice = TransactionNoticeView {
        signer,
        nonce: transaction.transaction.nonce,
        instructions: transaction.transaction.instructions.clone(),
        receipt,
    };
    FeedTransaction { notice, addresses }
}

/// The account an instruction names besides its signer, if any.
fn named_address(instruction: &Instruction) -> Option<Address> {
    match instruction {
        Instruction::Transfer { to, .. } | Instruction::Mint { to, .. } => Some(*to),
        Instruction::Repay { on_behalf_of, .. } => *on_behalf_of,
        Instruction::Liquidate { borrower, .. } => Some(*borrower),
        Instruction::SetOracle { oracle } => Some(*oracle),
        Instruction::SetAdmin { admin } => Some(*admin),
        Instruction::SetMinter { minter } => *minter,
        Instruction::CreateMarket { .. }
        | Instruction::UpdateMarket { .. }
        | Instruction::SetPrice { .. }
        | Instruction::SetLiquidationConfig { .. }
        | Instruction::Deposit { .. }
        | Instruction::Withdraw { .. }
        | Instruction::Borrow { .. }
        | Instruction::SetCollateral { .. }
        | Instruction::FlashBorrow { .. }
        | Instruction::FlashRepay { .. }
        | Instruction::SetEModeCategory { .. }
        | Instruction::SetEMode { .. }
        | Instruction::CoverDeficit { .. } => None,
    }
}

impl Feed {
    /// The index's members below `bound`, once it has reached `height`.
    pub(crate) fn snapshot(&self, height: u64, bound: Wad) -> Result<RiskSnapshot, ApiError> {
        self.read_index(height, |index| RiskSnapshot {
            height: index.height().unwrap_or(height),
            members: index.members(bound),
        })
    }
}
