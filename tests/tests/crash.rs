//! Crash soak: a node process (RocksDB, fsync on) under a mixed lending load
//! (deposits, borrows, repayments, withdrawals, transfers, price posts) is
//! killed with SIGKILL again and again, at random moments. After every
//! restart:
//!
//! - every acknowledged transaction is committed, in the block and at the
//!   place its acknowledgement named, with its receipt. Acknowledged means
//!   `sendTransaction` with `wait` returned a receipt, or it returned
//!   `pending` and `getTransactionStatus` later reported it included;
//! - the chain is the one seen before, extended: the last block checked
//!   before the kill still has its hash (each header commits to its parent);
//! - every signer's nonces in the committed blocks run 0, 1, 2, ... without a
//!   gap or a repeat, and its account nonce is the next one;
//! - every asset is conserved: the wallets of every holder plus each
//!   market's cash equal the genesis supply (the load mints nothing; the
//!   treasury is part of a market's cash, see `contracts/src/market.rs`),
//!   and the users' scaled deposits and debts add up to each market's
//!   scaled totals;
//! - the state tree the crash left agrees with the flat state (the node
//!   recomputes its root from scratch when it opens and refuses to start
//!   otherwise), and every user's keys and every market's prove their
//!   values against the head's header and the one before it. The node
//!   keeps only [`STATE_HISTORY`] heights of its tree, so the kills also
//!   land on commits that prune: a pruned tree is as consistent as any;
//! - `getEvents` over the blocks committed since the last restart finds
//!   every acknowledged transaction's events (the event index is written
//!   behind the chain and caught up from the receipts when a node opens).
//!
//! `PARLEND_SOAK_CYCLES` sets the number of kills (default
//! [`CYCLES_DEFAULT`], the short version the normal suite runs); `make
//! soak` runs 100 or more. `PARLEND_SOAK_SEED` fixes the kill moments and
//! the load's choices (printed at the start, so a failure can be replayed).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parlend_contracts::dev::dev_genesis;
use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::{Address, Amount, AssetId, Hash, StateKey, Wad};
use parlend_rpc::types::{BlockParams, EventsParams, TxState, TxStatusView};
use parlend_rpc::{Client, ClientError};
use parlend_tests::{ChildNode, asset, dev_keypair, post_raw, tokens};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

/// Kills in the normal suite.
const CYCLES_DEFAULT: usize = 6;
/// The node's state tree window (`--state-history`): small, so most
/// commits prune.
const STATE_HISTORY: &str = "4";
/// Lending users (dev accounts 1..=6); the first half wait for each
/// commit, the second half submit and poll.
const USERS: u32 = 6;
/// The oracle (dev account 0) posts a price this often.
const PRICE_EVERY: Duration = Duration::from_millis(150);
/// Load runs this long at least before the kill, plus a random share of
/// [`KILL_SPREAD_MS`].
const KILL_AFTER_MIN_MS: u64 = 250;
const KILL_SPREAD_MS: u64 = 1_250;
/// A progress line every this many kills.
const PROGRESS_EVERY: usize = 10;
/// getReceipt calls per batch when checking every acknowledgement.
const RECEIPT_BATCH: usize = 100;
/// How long a submitted transaction is polled before it counts as lost
/// with its node (never acknowledged).
const POLL_MAX: Duration = Duration::from_secs(10);

/// A transaction the node acknowledged as included, and where.
#[derive(Debug, Clone)]
struct Acked {
    hash: Hash,
    height: u64,
    block_hash: Hash,
    index: u32,
    /// The instruction's type (`deposit`, `setPrice`, ...).
    kind: &'static str,
    /// Whether it succeeded (a failed one is included too, as failed).
    succeeded: bool,
    /// Events in its receipt.
    events: usize,
}

type AckLog = Arc<Mutex<Vec<Acked>>>;

fn cycles() -> usize {
    std::env::var("PARLEND_SOAK_CYCLES").ok().and_then(|text| text.parse().ok()).unwrap_or(CYCLES_DEFAULT)
}

fn seed() -> u64 {
    std::env::var("PARLEND_SOAK_SEED").ok().and_then(|text| text.parse().ok()).unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        u64::try_from(nanos.as_nanos() % u128::from(u64::MAX)).unwrap_or(7)
    })
}

/// Whether a client error means the node is gone (as opposed to an RPC
/// error such as a nonce already used, after which the load goes on).
fn node_gone(error: &ClientError) -> bool {
    error.code().is_none()
}

/// A user's next instruction: a cycle through a borrower's and a
/// supplier's life, with random amounts.
fn user_instruction(step: u64, user: u32, rng: &mut StdRng) -> Instruction {
    let (usdc, weth) = (asset("USDC"), asset("WETH"));
    match step % 7 {
        0 => Instruction::Deposit { asset: usdc, amount: tokens("USDC", rng.random_range(1_000..20_000)) },
        1 => Instruction::Deposit { asset: weth, amount: tokens("WETH", rng.random_range(1..4)) },
        2 => Instruction::Borrow { asset: usdc, amount: tokens("USDC", rng.random_range(100..3_000)) },
        3 => {
            let to = dev_keypair(1 + (user + rng.random_range(1..USERS)) % USERS).address();
            let symbol = ["USDC", "WETH"][rng.random_range(0..2usize)];
            let amount = Amount(tokens(symbol, 1).0 / 100 * rng.random_range(1..100u128));
            Instruction::Transfer { to, asset: asset(symbol), amount }
        }
        4 => Instruction::Repay { asset: usdc, amount: AmountOrAll::All, on_behalf_of: None },
        5 => Instruction::Withdraw { asset: weth, amount: AmountOrAll::Amount(tokens("WETH", 1)) },
        _ => Instruction::Withdraw {
            asset: usdc,
            amount: AmountOrAll::Amount(tokens("USDC", rng.random_range(1..5_000))),
        },
    }
}

/// The type of an instruction, as JSON names it.
fn kind(instruction: &Instruction) -> &'static str {
    match instruction {
        Instruction::Deposit { .. } => "deposit",
        Instruction::Withdraw { .. } => "withdraw",
        Instruction::Borrow { .. } => "borrow",
        Instruction::Repay { .. } => "repay",
        Instruction::Transfer { .. } => "transfer",
        Instruction::SetPrice { .. } => "setPrice",
        _ => "other",
    }
}

/// Records an included transaction's receipt as an acknowledgement.
fn acknowledge(acked: &AckLog, status: &TxStatusView, kind: &'static str) {
    let receipt = status.receipt.as_ref().expect("an included transaction has a receipt");
    acked.lock().unwrap().push(Acked {
        hash: status.hash,
        height: receipt.block_height,
        block_hash: receipt.block_hash,
        index: receipt.index,
        kind,
        succeeded: status.status == TxState::Committed,
        events: receipt.events.len(),
    });
}

/// Waits until a submitted transaction is included: `Ok(None)` if the node
/// forgets it or it stays pending past [`POLL_MAX`] (not acknowledged),
/// `Err` if the node is gone.
async fn poll_included(client: &Client, hash: Hash) -> Result<Option<TxStatusView>, ClientError> {
    let deadline = Instant::now() + POLL_MAX;
    while Instant::now() < deadline {
        let status = client.transaction_status(hash).await?;
        match status.status {
            TxState::Committed | TxState::Failed => return Ok(Some(status)),
            TxState::Unknown | TxState::Dropped => return Ok(None),
            TxState::Pending => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    Ok(None)
}

/// One user's load until the node dies.
async fn user_load(url: String, user: u32, seed: u64, acked: AckLog) {
    let Ok(client) = Client::new(&url) else { return };
    let key = dev_keypair(user);
    let wait = user <= USERS / 2;
    let mut rng = StdRng::seed_from_u64(seed ^ u64::from(user));
    for step in 0.. {
        let instruction = user_instruction(step, user, &mut rng);
        let kind = kind(&instruction);
        match client.submit(&key, vec![instruction], wait).await {
            Ok(status) if matches!(status.status, TxState::Committed | TxState::Failed) => {
                acknowledge(&acked, &status, kind);
            }
            Ok(status) if status.status == TxState::Pending => match poll_included(&client, status.hash).await {
                Ok(Some(status)) => acknowledge(&acked, &status, kind),
                Ok(None) => {}
                Err(error) if node_gone(&error) => return,
                Err(_) => {}
            },
            Ok(status) => panic!("a submission answered {status:?}"),
            Err(error) if node_gone(&error) => return,
            // Rejected (a nonce raced the node's own price refresh, a wait
            // timed out): not acknowledged; go on.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The oracle's load: WETH's price walks ±1% around $3,000, posted at the
/// node's clock.
async fn oracle_load(url: String, seed: u64, acked: AckLog) {
    let Ok(client) = Client::new(&url) else { return };
    let oracle = dev_keypair(0);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut price = 3_000 * Wad::SCALE;
    loop {
        let Ok(head) = client.head().await else { return };
        price = price / 100 * (99 + rng.random_range(0..3u128));
        price = price.clamp(2_500 * Wad::SCALE, 3_500 * Wad::SCALE);
        let post = Instruction::SetPrice { asset: asset("WETH"), price: Wad(price), timestamp: head.clock };
        match client.submit(&oracle, vec![post], true).await {
            Ok(status) if status.receipt.is_some() => acknowledge(&acked, &status, "setPrice"),
            Ok(_) => {}
            Err(error) if node_gone(&error) => return,
            Err(_) => {}
        }
        tokio::time::sleep(PRICE_EVERY).await;
    }
}

/// What the checks carry from one restart to the next.
#[derive(Default)]
struct Checked {
    /// Hash of every block checked, by height.
    blocks: BTreeMap<u64, Hash>,
    /// Where each committed transaction is: (height, index).
    placed: HashMap<Hash, (u64, u32)>,
    /// Each signer's next nonce, from the blocks.
    next_nonce: BTreeMap<Address, u64>,
}

impl Checked {
    fn height(&self) -> u64 {
        self.blocks.keys().next_back().copied().unwrap_or(0)
    }
}

/// The chain is the one checked before, extended; every new block's
/// transactions have each signer's next nonce.
async fn check_chain(client: &Client, checked: &mut Checked, cycle: usize) -> u64 {
    let head = client.head().await.expect("head").height;
    let known = checked.height();
    assert!(head >= known, "cycle {cycle}: the head went back from {known} to {head}");
    let block_at = |height: u64| BlockParams { height: Some(height), hash: None, full: true };
    if let Some((height, hash)) = checked.blocks.last_key_value() {
        let block = client.block(&block_at(*height)).await.expect("block").expect("a checked block exists");
        assert_eq!(&block.hash, hash, "cycle {cycle}: block {height} changed");
    }
    for height in known + 1..=head {
        let block = client.block(&block_at(height)).await.expect("block").expect("blocks up to the head exist");
        if let Some(parent) = checked.blocks.get(&(height - 1)) {
            assert_eq!(&block.header.parent_hash, parent, "cycle {cycle}: block {height}'s parent");
        }
        for (index, transaction) in block.full_transactions.expect("full block").iter().enumerate() {
            let next = checked.next_nonce.entry(transaction.signer).or_insert(0);
            assert_eq!(
                transaction.nonce, *next,
                "cycle {cycle}: block {height} holds nonce {} of {} where {} was due",
                transaction.nonce, transaction.signer, *next
            );
            *next += 1;
            checked.placed.insert(transaction.hash, (height, u32::try_from(index).unwrap()));
        }
        checked.blocks.insert(height, block.hash);
    }
    for (signer, next) in &checked.next_nonce {
        let account = client.account(*signer).await.expect("account");
        assert_eq!(account.nonce, *next, "cycle {cycle}: {signer}'s account nonce");
    }
    head
}

/// Every acknowledged transaction is in the chain where it was
/// acknowledged, and its receipt says so.
async fn check_acknowledged(url: &str, acked: &[Acked], checked: &Checked, cycle: usize) {
    for tx in acked {
        let place = checked.placed.get(&tx.hash);
        assert_eq!(place, Some(&(tx.height, tx.index)), "cycle {cycle}: {} was acknowledged, then lost", tx.hash);
        assert_eq!(checked.blocks.get(&tx.height), Some(&tx.block_hash), "cycle {cycle}: {}'s block", tx.hash);
    }
    for chunk in acked.chunks(RECEIPT_BATCH) {
        let calls: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(id, tx)| json!({"jsonrpc": "2.0", "id": id, "method": "getReceipt", "params": {"hash": tx.hash}}))
            .collect();
        let (status, answers) = post_raw(url, serde_json::Value::Array(calls).to_string()).await;
        assert_eq!(status, 200, "{answers}");
        for answer in answers.as_array().expect("a batch answer") {
            let tx = &chunk[usize::try_from(answer["id"].as_u64().expect("an id")).unwrap()];
            let receipt = &answer["result"];
            assert!(receipt.is_object(), "cycle {cycle}: {} has no receipt: {answer}", tx.hash);
            assert_eq!(receipt["blockHeight"], json!(tx.height), "cycle {cycle}: {answer}");
            assert_eq!(receipt["blockHash"], json!(tx.block_hash), "cycle {cycle}: {answer}");
            assert_eq!(receipt["index"], json!(tx.index), "cycle {cycle}: {answer}");
        }
    }
}

/// `getEvents` over `heights` finds every acknowledged transaction of those
/// blocks with exactly the events of its receipt.
async fn check_events(client: &Client, acked: &[Acked], heights: std::ops::RangeInclusive<u64>, cycle: usize) {
    if heights.is_empty() {
        return;
    }
    let mut found: HashMap<Hash, usize> = HashMap::new();
    let mut params = EventsParams {
        address: None,
        kind: None,
        from_height: *heights.start(),
        to_height: *heights.end(),
        limit: Some(1_000),
        cursor: None,
    };
    loop {
        let page = client.events(&params).await.expect("getEvents");
        for event in &page.events {
            *found.entry(event.tx_hash).or_default() += 1;
        }
        match page.next {
            Some(next) => params.cursor = Some(next),
            None => break,
        }
    }
    for tx in acked.iter().filter(|tx| heights.contains(&tx.height)) {
        let indexed = found.get(&tx.hash).copied().unwrap_or(0);
        assert_eq!(
            indexed, tx.events,
            "cycle {cycle}: {} at height {} has {} events indexed",
            tx.hash, tx.height, indexed
        );
    }
}

/// Wallets plus market cash equal the genesis supply of every asset, and
/// the users' scaled positions add up to each market's scaled totals.
async fn check_conservation(client: &Client, cycle: usize) {
    let genesis = dev_genesis();
    let mut expected: BTreeMap<AssetId, u128> = BTreeMap::new();
    for account in &genesis.accounts {
        for (asset, amount) in &account.balances {
            *expected.entry(*asset).or_default() += amount.0;
        }
    }
    let mut held: BTreeMap<AssetId, u128> = BTreeMap::new();
    let mut scaled: BTreeMap<AssetId, (u128, u128)> = BTreeMap::new();
    for account in &genesis.accounts {
        for balance in client.balances(account.address).await.expect("balances").balances {
            *held.entry(balance.asset).or_default() += balance.amount.0;
        }
        for entry in client.position(account.address).await.expect("position").assets {
            let sums = scaled.entry(entry.asset).or_default();
            sums.0 += entry.scaled_deposit.0;
            sums.1 += entry.scaled_debt.0;
        }
    }
    for market in client.markets().await.expect("markets") {
        *held.entry(market.asset).or_default() += market.cash.0;
        let (deposits, debts) = scaled.get(&market.asset).copied().unwrap_or_default();
        assert_eq!(
            (deposits, debts),
            (market.scaled_supply.0, market.scaled_debt.0),
            "cycle {cycle}: {}'s positions do not add up to its scaled totals",
            market.asset
        );
    }
    assert_eq!(held, expected, "cycle {cycle}: wallets and market cash differ from the genesis supply");
}

/// Runs the load on a fresh node process until it is killed.
async fn load_then_kill(node: ChildNode, seed: u64, kill_after: Duration, acked: &AckLog) -> u64 {
    let mut tasks: Vec<_> =
        (1..=USERS).map(|user| tokio::spawn(user_load(node.url.clone(), user, seed, acked.clone()))).collect();
    tasks.push(tokio::spawn(oracle_load(node.url.clone(), seed, acked.clone())));
    tokio::time::sleep(kill_after).await;
    let client = Client::new(&node.url).unwrap();
    let head = client.head().await.map(|head| head.height).unwrap_or(0);
    node.kill();
    for task in tasks {
        task.await.expect("a load task panicked");
    }
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_transactions_survive_sigkill_under_lending_load() {
    let (cycles, seed) = (cycles(), seed());
    eprintln!("crash soak: {cycles} kills, PARLEND_SOAK_SEED={seed}");
    let directory = tempfile::tempdir().unwrap();
    let acked: AckLog = Arc::default();
    let mut checked = Checked::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen_head = 0;
    let started = Instant::now();
    for cycle in 0..=cycles {
        let node = ChildNode::spawn(directory.path(), &["--block-time-ms", "20", "--state-history", STATE_HISTORY]);
        let client = Client::new(&node.url).unwrap();
        let known = checked.height();
        let head = check_chain(&client, &mut checked, cycle).await;
        assert!(head >= seen_head, "cycle {cycle}: head {head} is below {seen_head}, seen committed before the kill");
        let acknowledged = acked.lock().unwrap().clone();
        check_acknowledged(&node.url, &acknowledged, &checked, cycle).await;
        check_events(&client, &acknowledged, known + 1..=head, cycle).await;
        check_conservation(&client, cycle).await;
        check_proofs(&client, head, cycle).await;
        if cycle == cycles {
            continue_after_the_last_kill(&client, &checked).await;
            break;
        }
        if cycle % PROGRESS_EVERY == 0 {
            let acknowledged = acknowledged.len();
            eprintln!(
                "crash soak: cycle {cycle}/{cycles}, height {head}, {acknowledged} acknowledged, {:?}",
                started.elapsed()
            );
        }
        let kill_after = Duration::from_millis(KILL_AFTER_MIN_MS + rng.random_range(0..KILL_SPREAD_MS));
        seen_head = load_then_kill(node, rng.random(), kill_after, &acked).await;
    }
    let acked = acked.lock().unwrap();
    let signers = checked.next_nonce.len();
    let transactions: u64 = checked.next_nonce.values().sum();
    eprintln!(
        "crash soak: {cycles} kills in {:?}; {} transactions acknowledged, all found after every restart; \
         {transactions} committed by {signers} signers in {} blocks; 0 nonce or conservation violations",
        started.elapsed(),
        acked.len(),
        checked.height()
    );
    let mut mix: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for tx in acked.iter() {
        let counts = mix.entry(tx.kind).or_default();
        if tx.succeeded { counts.0 += 1 } else { counts.1 += 1 }
    }
    eprintln!("crash soak: acknowledged (succeeded, failed) by instruction: {mix:?}");
    assert!(acked.len() >= cycles * 5, "too little load to test anything: {} acknowledged", acked.len());
    for kind in ["deposit", "withdraw", "borrow", "repay", "transfer", "setPrice"] {
        assert!(mix.get(kind).is_some_and(|counts| counts.0 > 0), "no {kind} succeeded: {mix:?}");
    }
}

/// Each user's and market's keys prove their values at `head` and the
/// height before it, against those heights' headers.
async fn check_proofs(client: &Client, head: u64, cycle: usize) {
    let mut keys = vec![StateKey::Config];
    for user in 0..=USERS {
        let owner = dev_keypair(user).address();
        keys.extend([StateKey::Account { owner }, StateKey::Position { owner }]);
        keys.push(StateKey::Balance { owner, asset: asset("USDC") });
    }
    for symbol in ["USDC", "WETH"] {
        let asset = asset(symbol);
        keys.extend([StateKey::MarketTotals { asset }, StateKey::MarketIndex { asset }, StateKey::Price { asset }]);
    }
    for height in [head, head.saturating_sub(1)] {
        let header = client.block(&BlockParams { height: Some(height), ..Default::default() }).await;
        let header = header.unwrap().expect("a committed block").header;
        for key in &keys {
            let answer = client.proof(*key, Some(height)).await.unwrap();
            assert_eq!(answer.header, header, "cycle {cycle}: {key} at {height} answered with another header");
            if let Err(error) = answer.verify() {
                panic!("cycle {cycle}: the proof of {key} at {height} does not verify: {error}");
            }
        }
    }
}

/// After the last restart the chain continues from its last committed block.
async fn continue_after_the_last_kill(client: &Client, checked: &Checked) {
    let head = client.head().await.unwrap();
    assert_eq!(head.height, checked.height());
    let transfer = Instruction::Transfer { to: dev_keypair(9).address(), asset: asset("USDC"), amount: Amount(1) };
    let status = client.submit(&dev_keypair(8), vec![transfer], true).await.unwrap();
    let receipt = status.receipt.expect("a receipt");
    assert_eq!(receipt.block_height, head.height + 1);
    let block = client.block(&BlockParams { height: Some(receipt.block_height), ..Default::default() }).await;
    assert_eq!(block.unwrap().unwrap().header.parent_hash, head.hash);
}
