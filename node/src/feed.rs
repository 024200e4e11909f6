//! What the node publishes after each committed block, for the RPC's
//! subscriptions, and the liquidatable index kept up to date with it.
//!
//! A block's head goes out first, from the committer as the block is
//! published (`Feed::head_committed`, only while anyone subscribes to
//! heads): building it takes the block and receipts the node keeps in
//! memory, nothing more, so `subscribeNewHeads` learns of a commit as soon
//! as a client polling the head would (it waited for the index and the
//! block's views before: 24 ms at the median, up to 32, behind a 2 ms
//! poll, at 12,000 lending transactions/s).
//!
//! Then the committer wakes the feed thread (`Feed::committed`: a token
//! in a queue of one, never waiting). The feed thread takes every block
//! from the last one it processed to the head, in order (from memory, or
//! from the store when far behind). When anyone subscribes to them, it
//! first builds and broadcasts the block's [`BlockFeed`] (head,
//! transactions with receipts, markets and prices); then it derives what
//! the block may have changed from its transactions' declared access sets
//! ([`BlockDigest::of`]), brings the [`RiskIndex`] to it and broadcasts
//! the index's moves ([`RiskFeed`]): `subscribeTransactions` and
//! `subscribeMarkets` do not wait for the index.
//! Every subscriber reads the same `Arc`, and one that falls more than the
//! channel's capacity behind is dropped by the RPC
//! ([`parlend_rpc::subscriptions`]). So the producer never waits for the
//! feed, and no block is skipped however far the feed falls behind, up to
//! [`CATCH_UP_MAX`] blocks, beyond which the
//! index is rebuilt at the head and the blocks between are not published.
//!
//! Both the views and the index read the state as the block left it
//! (`BlockState`: the state tree's versioned values), not the head: when
//! the next blocks commit before the feed reaches this one, a market total
//! or a position's move is still this block's, never a later one's shown
//! early (a liquidation's move at the price drop's height, as happened).
//! A store whose history no longer holds the block is read at its head.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use parlend_contracts::query;
use parlend_contracts::{Instruction, SignedTransaction};
use parlend_ledger::block::{Receipt, TxStatus};
use parlend_ledger::state::{StateReader, StoreError, Value};
use parlend_ledger::{Address, Hash, StateKey, Wad};
use parlend_rpc::ApiError;
use parlend_rpc::types::{
    BlockExecutionView, BlockFeed, FeedTransaction, MarketsNoticeView, NewHeadView, ReceiptView, RiskFeed, RiskMove,
    RiskSnapshot, TransactionNoticeView,
};
use parlend_store::Store;
use tokio::sync::broadcast;

use crate::events::{outcome_view, typed_events};
use crate::node::Node;
use crate::risk::{BlockDigest, RiskIndex};

/// The most blocks the feed catches up on one by one; further behind, it
/// rebuilds the index at the head and publishes from there.
pub const CATCH_UP_MAX: u64 = 4_096;

/// How long a reader of the index waits for it to reach the head.
pub const INDEX_WAIT: Duration = Duration::from_secs(10);

/// The node's side of the feed.
pub(crate) struct Feed {
    /// Wakes the feed thread (a queue of one token).
    wake: SyncSender<()>,
    heads: broadcast::Sender<Arc<NewHeadView>>,
    blocks: broadcast::Sender<Arc<BlockFeed>>,
    risk: broadcast::Sender<Arc<RiskFeed>>,
    index: Mutex<RiskIndex>,
    /// The chain went back (`dev_revert`): rebuild.
    reverted: AtomicBool,
    /// Held by a test to keep the feed thread from the next block.
    #[cfg(test)]
    paused: Mutex<()>,
}

impl Feed {
    /// A feed whose subscribers may fall `capacity` blocks behind.
    pub(crate) fn new(capacity: usize) -> (Feed, Receiver<()>) {
        let (wake, wakes) = sync_channel(1);
        let (blocks, _) = broadcast::channel(capacity.max(1));
        let (heads, _) = broadcast::channel(capacity.max(1));
        let (risk, _) = broadcast::channel(capacity.max(1));
        let index = Mutex::new(RiskIndex::new());
        let reverted = AtomicBool::new(false);
        #[cfg(not(test))]
        let feed = Feed { wake, heads, blocks, risk, index, reverted };
        #[cfg(test)]
        let feed = Feed { wake, heads, blocks, risk, index, reverted, paused: Mutex::new(()) };
        (feed, wakes)
    }

    /// A block was committed: its head goes to the heads' subscribers, if
    /// any (`head` builds it only then).
    pub(crate) fn head_committed(&self, head: impl FnOnce() -> NewHeadView) {
        if self.heads.receiver_count() > 0 {
            let _ = self.heads.send(Arc::new(head()));
        }
    }

    /// A receiver of the index's moves published from now on.
    pub(crate) fn subscribe_risk(&self) -> broadcast::Receiver<Arc<RiskFeed>> {
        self.risk.subscribe()
    }

    /// A receiver of the heads published from now on.
    pub(crate) fn subscribe_heads(&self) -> broadcast::Receiver<Arc<NewHeadView>> {
        self.heads.subscribe()
    }

    /// A block was committed: wakes the feed thread without waiting (a
    /// token already queued will do).
    pub(crate) fn committed(&self) {
        let _ = self.wake.try_send(());
    }

    /// The chain went back: the index is rebuilt.
    pub(crate) fn reverted(&self) {
        self.reverted.store(true, Ordering::Release);
        self.committed();
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
                if index.height().is_some_and(|at| at >= height) && !self.reverted.load(Ordering::Acquire) {
                    return Ok(read(&index));
                }
            }
            if Instant::now() >= deadline {
                return Err(ApiError::Unavailable("the liquidatable index is still catching up; retry".into()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The index's members below `bound`, once it has reached `height`.
    pub(crate) fn snapshot(&self, height: u64, bound: Wad) -> Result<RiskSnapshot, ApiError> {
        self.read_index(height, |index| RiskSnapshot {
            height: index.height().unwrap_or(height),
            members: index.members(bound),
        })
    }
}

/// Starts the feed thread. It holds the node weakly: it ends when the node
/// is dropped (its wake sender with it).
pub(crate) fn spawn(node: Weak<Node>, wakes: Receiver<()>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("parlend-feed".to_string()).spawn(move || {
        crate::node::behind_the_block_pipeline();
        // The next block to publish; `None` until the index is built.
        let mut next: Option<u64> = None;
        loop {
            if let Some(node) = node.upgrade() {
                match catch_up(&node, next) {
                    Ok(processed) => next = Some(processed),
                    Err(error) => {
                        tracing::error!(%error, "the block feed failed; the index is rebuilt at the next block");
                        next = None;
                    }
                }
            } else {
                break;
            }
            if wakes.recv().is_err() {
                break;
            }
        }
    })
}

/// Processes every block from `next` to the head; the next block to process.
fn catch_up(node: &Node, next: Option<u64>) -> Result<u64, ApiError> {
    let head = node.app().info().height;
    let feed = node.feed_state();
    let reverted = feed.reverted.swap(false, Ordering::AcqRel);
    match next {
        Some(next) if !reverted && head.saturating_sub(next) < CATCH_UP_MAX => {
            for height in next..=head {
                #[cfg(test)]
                let _paused = feed.paused.lock();
                publish(node, height)?;
            }
            Ok(head.saturating_add(1).max(next))
        }
        _ => {
            rebuild(node, node.reader(), head, node.app().info().header.timestamp, Vec::new())?;
            Ok(head + 1)
        }
    }
}

/// Rebuilds the index from every position that exists at the head and
/// the owners in `also`, evaluated in `state` (block `height`'s, at
/// `timestamp`).
fn rebuild(
    node: &Node,
    state: &dyn StateReader,
    height: u64,
    timestamp: u64,
    also: Vec<Address>,
) -> Result<Vec<RiskMove>, ApiError> {
    let mut owners = node.position_owners()?;
    owners.extend(also);
    owners.sort_unstable();
    owners.dedup();
    let started = Instant::now();
    let moves = node.feed_state().index.lock().rebuild(state, &owners, height, timestamp).map_err(query_error)?;
    tracing::debug!(positions = owners.len(), elapsed = ?started.elapsed(), "liquidatable index built");
    Ok(moves)
}

fn query_error(error: query::QueryError) -> ApiError {
    ApiError::Unavailable(format!("liquidatable index: {error}"))
}

/// Publishes block `height`, brings the index to it and publishes the
/// index's moves; both read the state as the block left it.
fn publish(node: &Node, height: u64) -> Result<(), ApiError> {
    let feed = node.feed_state();
    let Some(block) = node.block_at(height)? else {
        // Reverted since: the revert's wake rebuilds.
        return Ok(());
    };
    let store = node.app().store();
    let kept = BlockState { store: &**store, height, read: Mutex::default() };
    // A store that no longer holds the block's state (a history shorter
    // than the feed's lag) is read at its head, as it stands.
    let state: &dyn StateReader = if height >= store.pruned_below() { &kept } else { node.reader() };
    if feed.blocks.receiver_count() > 0 {
        let _ = feed.blocks.send(Arc::new(block_feed(node, state, &block)?));
    }
    let digest = BlockDigest::of(&block);
    let timestamp = block.header.timestamp;
    let moves = if digest.parameters_changed {
        // A position with debt at `height` may be gone by the head: it had
        // debt before the block (the index holds it) or the block touched it.
        let mut also: Vec<Address> = feed.index.lock().owners().collect();
        also.extend(&digest.touched);
        rebuild(node, state, height, timestamp, also)?
    } else {
        feed.index.lock().apply(state, &digest, height, timestamp).map_err(query_error)?
    };
    if feed.risk.receiver_count() > 0 {
        let _ = feed.risk.send(Arc::new(RiskFeed { height, risk: moves }));
    }
    Ok(())
}

/// The state as one block left it, read from the store's versioned values:
/// the head may have moved on while the feed reaches the block, and a
/// market, price or position read at the head would be attributed to the
/// wrong block. Each key is read once (every position reads the markets).
struct BlockState<'a> {
    store: &'a dyn Store,
    height: u64,
    read: Mutex<HashMap<StateKey, Option<Value>>>,
}

impl StateReader for BlockState<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        if let Some(value) = self.read.lock().get(key) {
            return Ok(value.clone());
        }
        let value = self.store.get_at(key, self.height)?.ok_or(StoreError::NotKept { height: self.height })?;
        self.read.lock().insert(*key, value.clone());
        Ok(value)
    }
}

/// The feed of one committed block, whose state `state` reads.
fn block_feed(node: &Node, state: &dyn StateReader, block: &parlend_contracts::Block) -> Result<BlockFeed, ApiError> {
    let header = block.header.clone();
    let height = header.height;
    let hash = header.hash();
    let receipts = node.receipts_at(height)?;
    let mut transactions = Vec::with_capacity(block.transactions.len());
    for (index, (transaction, receipt)) in block.transactions.iter().zip(receipts.iter()).enumerate() {
        let receipt = ReceiptView {
            tx_hash: receipt.tx_hash,
            block_height: height,
            block_hash: hash,
            index: u32::try_from(index).unwrap_or(u32::MAX),
            outcome: outcome_view(&receipt.status),
            events: typed_events(&receipt.events)?,
        };
        transactions.push(feed_transaction(transaction, receipt));
    }
    let timestamp = header.timestamp;
    let markets = query::markets(state, timestamp).map_err(query_error)?;
    let prices = query::prices(state, timestamp).map_err(query_error)?;
    let head = head_view(block, hash, &receipts, node.execution_of(height));
    Ok(BlockFeed { head, transactions, markets: MarketsNoticeView { height, timestamp, markets, prices } })
}

/// The head of `block` (whose hash is `hash` and receipts `receipts`), as
/// `subscribeNewHeads` sends it.
pub(crate) fn head_view(
    block: &parlend_contracts::Block,
    hash: Hash,
    receipts: &[Receipt],
    execution: Option<BlockExecutionView>,
) -> NewHeadView {
    let (mut failed, mut liquidations) = (0u32, 0u32);
    for (transaction, receipt) in block.transactions.iter().zip(receipts) {
        let succeeded = matches!(receipt.status, TxStatus::Success);
        failed += u32::from(!succeeded);
        let instructions = &transaction.transaction.instructions;
        if succeeded && instructions.iter().any(|instruction| matches!(instruction, Instruction::Liquidate { .. })) {
            liquidations += 1;
        }
    }
    NewHeadView {
        hash,
        transactions: u32::try_from(block.transactions.len()).unwrap_or(u32::MAX),
        failed,
        liquidations,
        execution,
        header: block.header.clone(),
    }
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

#[cfg(test)]
mod tests {
    use parlend_contracts::AmountOrAll;
    use parlend_ledger::block::Header;
    use parlend_ledger::{Amount, AssetId, Bps, Keypair};

    use super::*;
    use crate::mempool::tests::signed;
    use parlend_rpc::types::{RiskPoint, RiskState};

    fn receipt(transaction: &SignedTransaction, status: TxStatus) -> Receipt {
        Receipt { tx_hash: transaction.hash(), status, events: Vec::new() }
    }

    /// A block of a transfer, a liquidation that succeeded and one that
    /// failed, with its receipts.
    fn block() -> (parlend_contracts::Block, Vec<Receipt>) {
        let (key, usdc) = (Keypair::from_seed(&[7; 32]), AssetId::from_static("USDC"));
        let liquidate = Instruction::Liquidate {
            borrower: key.address(),
            debt_asset: usdc,
            collateral_asset: usdc,
            debt_to_cover: AmountOrAll::All,
            receive_deposit: false,
        };
        let transactions = vec![
            signed(&key, 0, Instruction::Transfer { to: key.address(), asset: usdc, amount: Amount(1) }),
            signed(&key, 1, liquidate.clone()),
            signed(&key, 2, liquidate),
        ];
        let failed = TxStatus::Failed { instruction: 0, code: 1, detail: Vec::new() };
        let receipts = vec![
            receipt(&transactions[0], TxStatus::Success),
            receipt(&transactions[1], TxStatus::Success),
            receipt(&transactions[2], failed),
        ];
        let header = Header {
            chain_id: 1,
            height: 9,
            parent_hash: Hash::ZERO,
            timestamp: 1_700_000_000,
            transaction_count: 3,
            transactions_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
        };
        (parlend_contracts::Block { header, transactions }, receipts)
    }

    #[test]
    fn a_head_counts_failures_and_liquidations_that_succeeded() {
        let (block, receipts) = block();
        let head = head_view(&block, block.header.hash(), &receipts, None);
        assert_eq!((head.transactions, head.failed, head.liquidations), (3, 1, 1));
        assert_eq!((head.hash, head.header.height), (block.header.hash(), 9));
    }

    #[test]
    fn heads_go_out_as_blocks_commit_and_are_built_only_for_subscribers() {
        let (feed, _wakes) = Feed::new(4);
        // Nobody listens: the head is not even built.
        feed.head_committed(|| panic!("built without a subscriber"));
        let mut heads = feed.subscribe_heads();
        let (block, receipts) = block();
        feed.head_committed(|| head_view(&block, block.header.hash(), &receipts, None));
        // Published without the feed thread, the index or a block view.
        let head = heads.try_recv().unwrap();
        assert_eq!(head.header.height, 9);
        assert!(feed.blocks.receiver_count() == 0 && heads.try_recv().is_err());
    }

    /// The dev asset `symbol`'s `whole` tokens in base units.
    fn tokens(symbol: &str, whole: u128) -> Amount {
        let decimals = parlend_contracts::dev::DEV_ASSETS.iter().find(|(name, _)| *name == symbol).unwrap().1;
        Amount(whole * 10u128.pow(u32::from(decimals)))
    }

    async fn submit(client: &parlend_rpc::Client, key: &Keypair, instructions: Vec<Instruction>) -> u64 {
        let status = client.submit(key, instructions, true).await.unwrap();
        status.receipt.filter(|receipt| receipt.outcome.is_success()).expect("committed and succeeded").block_height
    }

    /// `(symbol, whole USD)` prices posted by the dev oracle at the node's clock.
    async fn post_prices(client: &parlend_rpc::Client, prices: &[(&'static str, u128)]) -> u64 {
        let clock = client.head().await.unwrap().clock;
        let instructions = prices
            .iter()
            .map(|(symbol, price)| Instruction::SetPrice {
                asset: AssetId::new(symbol).unwrap(),
                price: Wad(price * Wad::SCALE),
                timestamp: clock,
            })
            .collect();
        submit(client, &parlend_contracts::dev::dev_keypair(0), instructions).await
    }

    /// The next notice of a channel, within a deadline.
    async fn next<T: Clone>(receiver: &mut broadcast::Receiver<T>) -> T {
        tokio::time::timeout(Duration::from_secs(20), receiver.recv()).await.expect("in time").expect("open")
    }

    /// A dev node on which dev account 1 has borrowed 24,000 USDC against
    /// 10 WETH at 3,000 USD (at risk, not liquidatable), with the feed past
    /// that block.
    struct AtRisk {
        handle: crate::node::NodeHandle,
        client: parlend_rpc::Client,
        blocks: broadcast::Receiver<Arc<BlockFeed>>,
        risk: broadcast::Receiver<Arc<RiskFeed>>,
    }

    async fn a_borrower_at_risk() -> AtRisk {
        let config = crate::node::NodeConfig::new(parlend_contracts::dev::dev_genesis());
        let handle = Node::start(config).await.unwrap();
        let client = parlend_rpc::Client::new(&format!("http://{}", handle.rpc_address)).unwrap();
        let feed = handle.node.feed_state();
        let (blocks, mut risk) = (feed.subscribe(), feed.subscribe_risk());
        let dev = parlend_contracts::dev::dev_keypair;
        let (usdc, weth) = (AssetId::from_static("USDC"), AssetId::from_static("WETH"));
        post_prices(&client, &[("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)]).await;
        submit(&client, &dev(2), vec![Instruction::Deposit { asset: usdc, amount: tokens("USDC", 500_000) }]).await;
        let borrow = vec![
            Instruction::Deposit { asset: weth, amount: tokens("WETH", 10) },
            Instruction::Borrow { asset: usdc, amount: tokens("USDC", 24_000) },
        ];
        let borrowed = submit(&client, &dev(1), borrow).await;
        while next(&mut risk).await.height < borrowed {}
        AtRisk { handle, client, blocks, risk }
    }

    /// The risk moves notified up to block `height`: each one's height and
    /// the position's state before and after (at risk below 1.05).
    async fn risk_moves_until(
        risk: &mut broadcast::Receiver<Arc<RiskFeed>>,
        height: u64,
    ) -> Vec<(u64, RiskState, RiskState)> {
        let state = |point: Option<RiskPoint>| RiskPoint::state(point.as_ref(), Wad(1_050_000_000_000_000_000));
        let mut moves = Vec::new();
        loop {
            let notice = next(risk).await;
            moves.extend(notice.risk.iter().map(|moved| (notice.height, state(moved.before), state(moved.after))));
            if notice.height >= height {
                return moves;
            }
        }
    }

    // The pause is held across two submissions on purpose, as below.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parameter_change_published_late_keeps_a_position_closed_since() {
        let AtRisk { handle, client, mut risk, .. } = a_borrower_at_risk().await;
        let feed = handle.node.feed_state();
        let dev = parlend_contracts::dev::dev_keypair;
        let (usdc, weth) = (AssetId::from_static("USDC"), AssetId::from_static("WETH"));

        // Before the feed reaches it, the admin lowers WETH's liquidation
        // threshold (the borrower becomes liquidatable), then the borrower
        // repays and withdraws everything: the position is gone at the head.
        let paused = feed.paused.lock();
        let mut params = parlend_contracts::dev::dev_market_params("WETH");
        (params.ltv, params.liquidation_threshold) = (Bps(6_000), Bps(7_000));
        let changed = submit(&client, &dev(0), vec![Instruction::UpdateMarket { asset: weth, params }]).await;
        let close = vec![
            Instruction::Repay { asset: usdc, amount: AmountOrAll::All, on_behalf_of: None },
            Instruction::Withdraw { asset: weth, amount: AmountOrAll::All },
        ];
        let closed = submit(&client, &dev(1), close).await;
        drop(paused);

        let moves = risk_moves_until(&mut risk, closed).await;
        let expected = vec![
            (changed, RiskState::AtRisk, RiskState::Liquidatable),
            (closed, RiskState::Liquidatable, RiskState::None),
        ];
        assert_eq!(moves, expected);
        handle.shutdown().await;
    }

    // The pause is held across two submissions on purpose: only the feed
    // thread (not a task of this runtime) waits for it.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_block_is_published_with_its_own_state_when_later_blocks_committed_first() {
        let AtRisk { handle, client, mut blocks, mut risk } = a_borrower_at_risk().await;
        let feed = handle.node.feed_state();
        let dev = parlend_contracts::dev::dev_keypair;
        let (borrower, liquidator) = (dev(1), dev(3));
        let (usdc, weth) = (AssetId::from_static("USDC"), AssetId::from_static("WETH"));

        // The price drop and the liquidation both commit before the feed
        // reaches the first of them.
        let paused = feed.paused.lock();
        let dropped = post_prices(&client, &[("USDC", 1), ("WETH", 2_800)]).await;
        let liquidate = Instruction::Liquidate {
            borrower: borrower.address(),
            debt_asset: usdc,
            collateral_asset: weth,
            debt_to_cover: AmountOrAll::All,
            receive_deposit: false,
        };
        let liquidated = submit(&client, &liquidator, vec![liquidate]).await;
        assert_eq!(liquidated, dropped + 1);
        drop(paused);

        // Each block's moves and markets are its own: the borrower becomes
        // liquidatable with the drop and stops being so with the liquidation.
        let moves = risk_moves_until(&mut risk, liquidated).await;
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(moves[0], (dropped, RiskState::AtRisk, RiskState::Liquidatable), "{moves:?}");
        assert_eq!((moves[1].0, moves[1].1), (liquidated, RiskState::Liquidatable), "{moves:?}");
        let mut debt = Vec::new();
        loop {
            let notice = next(&mut blocks).await;
            let usdc_market = notice.markets.markets.iter().find(|market| market.asset == usdc).unwrap();
            debt.push((notice.markets.height, usdc_market.total_debt));
            if notice.markets.height == liquidated {
                break;
            }
        }
        let at = |height: u64| debt.iter().find(|(at, _)| *at == height).unwrap().1;
        assert!(at(dropped) >= tokens("USDC", 24_000), "{debt:?}");
        assert!(at(liquidated) < tokens("USDC", 24_000), "{debt:?}");
        handle.shutdown().await;
    }
}
