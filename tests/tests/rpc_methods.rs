//! One test per RPC method: its happy path against a real in-process node.
//! Every documented error code of every method is provoked in `rpc_docs.rs`.

use parlend_contracts::Instruction;
use parlend_contracts::dev::dev_genesis;
use parlend_ledger::{AccessMode, Amount, Hash, Keypair, StateKey, Wad};
use parlend_node::node::NodeConfig;
use parlend_rpc::Client;
use parlend_rpc::types::{BlockParams, LiquidatableParams, OutcomeView, SimulateParams, TxState};
use parlend_tests::{TestNode, asset, call, dev_keypair, post_prices, post_raw, signed_transfer, submit_ok, tokens};
use serde_json::{Value, json};

/// Fresh prices (USDC $1, WETH $3,000) and 100,000 USDC deposited by
/// `lender`: a market to borrow from.
async fn lending_market(client: &Client, lender: &Keypair) {
    post_prices(client, &[("USDC", 1), ("WETH", 3_000)]).await;
    let deposit = Instruction::Deposit { asset: asset("USDC"), amount: tokens("USDC", 100_000) };
    submit_ok(client, lender, vec![deposit]).await;
}

fn transfer(to: &Keypair, whole: u128) -> Instruction {
    Instruction::Transfer { to: to.address(), asset: asset("USDC"), amount: tokens("USDC", whole) }
}

async fn manual_node() -> TestNode {
    let mut config = NodeConfig::new(dev_genesis());
    config.manual_mining = true;
    TestNode::start(config).await
}

async fn usdc_of(node: &TestNode, key: &Keypair) -> Amount {
    let balances = node.client.balances(key.address()).await.unwrap();
    balances.balances.iter().find(|balance| balance.asset == asset("USDC")).unwrap().amount
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_transaction_returns_pending_or_the_committed_receipt() {
    let node = TestNode::in_memory().await;
    let (alice, bob) = (dev_keypair(1), dev_keypair(2));
    let signed = signed_transfer(&alice, 0, bob.address(), asset("USDC"), tokens("USDC", 1));
    let pending = node.client.send(&signed, false).await.unwrap();
    assert_eq!(pending.status, TxState::Pending);
    assert!(pending.receipt.is_none());
    let waited = node.client.submit(&alice, vec![transfer(&bob, 2)], true).await.unwrap();
    assert_eq!(waited.status, TxState::Committed);
    assert_eq!(waited.receipt.unwrap().outcome, OutcomeView::Success);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_transactions_accepts_each_or_says_why_not() {
    let node = TestNode::in_memory().await;
    let (alice, bob) = (dev_keypair(1), dev_keypair(2));
    let first = signed_transfer(&alice, 0, bob.address(), asset("USDC"), tokens("USDC", 1));
    let second = signed_transfer(&alice, 1, bob.address(), asset("USDC"), tokens("USDC", 1));
    let skipping = signed_transfer(&alice, 7, bob.address(), asset("USDC"), tokens("USDC", 1));
    let outcomes = node.client.send_many(&[first, second, skipping], true).await.unwrap();
    assert_eq!(outcomes.len(), 3);
    for outcome in &outcomes[..2] {
        assert_eq!(outcome.accepted.as_ref().unwrap().status, TxState::Committed, "{outcome:?}");
    }
    assert_eq!(outcomes[2].error.as_ref().unwrap().code, parlend_rpc::error::NONCE_TOO_HIGH);
    assert_eq!(node.client.account(alice.address()).await.unwrap().nonce, 2);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_transaction_gives_the_exact_access_set_and_changes_without_committing() {
    let node = TestNode::in_memory().await;
    let (alice, bob) = (dev_keypair(1), dev_keypair(2));
    let params = SimulateParams { signer: alice.address(), nonce: None, instructions: vec![transfer(&bob, 3)] };
    let simulation = node.client.simulate(&params).await.unwrap();
    assert_eq!(simulation.outcome, OutcomeView::Success);
    assert_eq!(simulation.nonce, 0);
    assert_eq!(simulation.chain_id, parlend_tests::DEV_CHAIN_ID);
    let account = StateKey::Account { owner: alice.address() };
    assert_eq!(simulation.access.mode_of(&account), Some(AccessMode::Write));
    let bob_balance = StateKey::Balance { owner: bob.address(), asset: asset("USDC") };
    assert!(simulation.changes.iter().any(|change| change.key == bob_balance));
    assert_eq!(node.client.head().await.unwrap().height, 0, "nothing committed");
    // A failing transaction simulates as failed, with no changes but the nonce.
    let too_much = SimulateParams { instructions: vec![transfer(&bob, 10_000_000)], ..params };
    let failed = node.client.simulate(&too_much).await.unwrap();
    assert!(matches!(failed.outcome, OutcomeView::Failed { ref reason, .. } if reason == "InsufficientBalance"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_transaction_shows_pending_then_committed() {
    let node = manual_node().await;
    let signed = signed_transfer(&dev_keypair(1), 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    let hash = node.client.send(&signed, false).await.unwrap().hash;
    let pending = node.client.transaction(hash).await.unwrap().expect("pending");
    assert_eq!(pending.status, TxState::Pending);
    assert_eq!(pending.transaction.signer, dev_keypair(1).address());
    node.client.mine(1).await.unwrap();
    let committed = node.client.transaction(hash).await.unwrap().expect("committed");
    assert_eq!(committed.status, TxState::Committed);
    assert_eq!(committed.transaction.instructions, signed.transaction.instructions);
    assert_eq!(committed.receipt.unwrap().block_height, 1);
    assert!(node.client.transaction(Hash([7; 32])).await.unwrap().is_none());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_receipt_points_at_the_block() {
    let node = TestNode::in_memory().await;
    let status = submit_ok(&node.client, &dev_keypair(1), vec![transfer(&dev_keypair(2), 1)]).await;
    let receipt = node.client.receipt(status.hash).await.unwrap().expect("receipt");
    assert_eq!(receipt.tx_hash, status.hash);
    assert_eq!(receipt.block_height, 1);
    assert_eq!(receipt.index, 0);
    let block = node.client.block(&BlockParams { height: Some(1), ..BlockParams::default() }).await.unwrap();
    assert_eq!(block.unwrap().hash, receipt.block_hash);
    assert!(node.client.receipt(Hash([7; 32])).await.unwrap().is_none());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_transaction_status_covers_every_state() {
    let node = manual_node().await;
    let (alice, bob) = (dev_keypair(1), dev_keypair(2));
    let ok = signed_transfer(&alice, 0, bob.address(), asset("USDC"), tokens("USDC", 1));
    let too_much = signed_transfer(&alice, 1, bob.address(), asset("USDC"), tokens("USDC", 10_000_000));
    node.client.send(&ok, false).await.unwrap();
    node.client.send(&too_much, false).await.unwrap();
    let ok = ok.hash();
    assert_eq!(node.client.transaction_status(ok).await.unwrap().status, TxState::Pending);
    node.client.mine(1).await.unwrap();
    assert_eq!(node.client.transaction_status(ok).await.unwrap().status, TxState::Committed);
    assert_eq!(node.client.transaction_status(too_much.hash()).await.unwrap().status, TxState::Failed);
    assert_eq!(node.client.transaction_status(Hash([9; 32])).await.unwrap().status, TxState::Unknown);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_block_by_height_hash_or_head_with_full_transactions() {
    let node = TestNode::in_memory().await;
    let status = submit_ok(&node.client, &dev_keypair(1), vec![transfer(&dev_keypair(2), 1)]).await;
    let head = node.client.block(&BlockParams::default()).await.unwrap().unwrap();
    assert_eq!(head.header.height, 1);
    assert_eq!(head.transactions, vec![status.hash]);
    assert!(head.full_transactions.is_none());
    let full = BlockParams { hash: Some(head.hash), full: true, ..BlockParams::default() };
    let full = node.client.block(&full).await.unwrap().unwrap();
    assert_eq!(full.full_transactions.unwrap()[0].hash, status.hash);
    let genesis = node.client.block(&BlockParams { height: Some(0), ..BlockParams::default() }).await.unwrap();
    assert_eq!(genesis.unwrap().header.parent_hash, Hash::ZERO);
    assert!(node.client.block(&BlockParams { height: Some(99), ..BlockParams::default() }).await.unwrap().is_none());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_head_reports_height_pending_and_clock() {
    let node = manual_node().await;
    let head = node.client.head().await.unwrap();
    assert_eq!((head.height, head.pending_transactions), (0, 0));
    assert!(head.clock >= head.timestamp);
    let signed = signed_transfer(&dev_keypair(1), 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    node.client.send(&signed, false).await.unwrap();
    assert_eq!(node.client.head().await.unwrap().pending_transactions, 1);
    node.client.mine(1).await.unwrap();
    let head = node.client.head().await.unwrap();
    assert_eq!((head.height, head.pending_transactions), (1, 0));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_account_has_committed_and_pending_nonces() {
    let node = manual_node().await;
    let alice = dev_keypair(1);
    let signed = signed_transfer(&alice, 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    node.client.send(&signed, false).await.unwrap();
    let account = node.client.account(alice.address()).await.unwrap();
    assert_eq!((account.nonce, account.pending_nonce), (0, 1));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_balances_lists_every_asset_with_decimals() {
    let node = TestNode::in_memory().await;
    let balances = node.client.balances(dev_keypair(4).address()).await.unwrap();
    let symbols: Vec<String> = balances.balances.iter().map(|balance| balance.asset.to_string()).collect();
    assert_eq!(symbols.len(), 4, "{symbols:?}");
    let usdc = balances.balances.iter().find(|balance| balance.asset == asset("USDC")).unwrap();
    assert_eq!((usdc.decimals, usdc.amount, usdc.formatted.as_str()), (6, tokens("USDC", 1_000_000), "1000000"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_position_shows_deposits_debts_interest_and_health() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let borrower = dev_keypair(1);
    assert!(client.position(borrower.address()).await.unwrap().assets.is_empty());
    lending_market(client, &dev_keypair(2)).await;
    let borrow = vec![
        Instruction::Deposit { asset: asset("WETH"), amount: tokens("WETH", 10) },
        Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 6_000) },
    ];
    submit_ok(client, &borrower, borrow).await;
    let position = client.position(borrower.address()).await.unwrap();
    let weth = position.assets.iter().find(|entry| entry.asset == asset("WETH")).unwrap();
    assert!(weth.collateral && weth.deposit == tokens("WETH", 10));
    assert_eq!(weth.deposit_value, Some(Wad(30_000 * Wad::SCALE)));
    assert!(weth.liquidation_price.is_some());
    let health = position.health.unwrap();
    // 30,000 × 0.83 / 6,000 = 4.15 (a second of interest may shave the last digits).
    assert!(health.health_factor.0 / 10u128.pow(16) >= 414, "{health:?}");
    assert_eq!(health.borrowing_power, Wad(24_000 * Wad::SCALE));
    assert!(position.prices_fresh);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_market_and_get_markets_show_totals_rates_and_parameters() {
    let node = TestNode::in_memory().await;
    submit_ok(
        &node.client,
        &dev_keypair(2),
        vec![Instruction::Deposit { asset: asset("USDC"), amount: tokens("USDC", 1_000) }],
    )
    .await;
    let market = node.client.market(asset("USDC")).await.unwrap();
    assert_eq!(market.decimals, 6);
    assert_eq!(market.total_supply, tokens("USDC", 1_000));
    assert_eq!(market.cash, tokens("USDC", 1_000));
    assert_eq!(market.deficit, Amount::ZERO);
    assert_eq!(market.params.ltv.0, 7_700);
    assert!(market.price.is_some());
    let markets = node.client.markets().await.unwrap();
    assert_eq!(markets.len(), 4);
    // The two answers are read at their own second: a price's age may
    // differ by the seconds between them (nothing else accrues: no debt).
    let without_age = |summary: &parlend_rpc::types::MarketView| {
        let mut summary = summary.clone();
        summary.price.iter_mut().for_each(|price| (price.age_seconds, price.stale) = (0, false));
        summary
    };
    assert!(markets.iter().any(|summary| without_age(summary) == without_age(&market)));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_price_and_get_prices_show_age_and_staleness() {
    let node = TestNode::in_memory().await;
    // The dev genesis prices date from the genesis.
    let genesis_price = node.client.price(asset("WETH")).await.unwrap().price.unwrap();
    assert_eq!(genesis_price.price, Wad(3_000 * Wad::SCALE));
    post_prices(&node.client, &[("WETH", 2_500)]).await;
    let price = node.client.price(asset("WETH")).await.unwrap().price.unwrap();
    assert_eq!(price.price, Wad(2_500 * Wad::SCALE));
    assert!(!price.stale);
    assert!(price.age_seconds < 60);
    let prices = node.client.prices().await.unwrap();
    assert_eq!(prices.len(), 4);
    assert!(prices.iter().all(|entry| entry.price.is_some()));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_liquidatable_honours_the_band_and_the_limit() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    lending_market(client, &dev_keypair(9)).await;
    // Two borrowers at HF 1.0375 and 1.245.
    for (index, borrowed) in [(1, 24_000), (2, 20_000)] {
        let instructions = vec![
            Instruction::Deposit { asset: asset("WETH"), amount: tokens("WETH", 10) },
            Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", borrowed) },
        ];
        submit_ok(client, &dev_keypair(index), instructions).await;
    }
    let default = client.liquidatable(&LiquidatableParams::default()).await.unwrap();
    assert_eq!(default.scanned, 2);
    assert_eq!(default.at_risk.len(), 1, "only HF 1.0375 is below 1.05");
    let wide = LiquidatableParams { at_risk_below: Some(Wad(2 * Wad::SCALE)), limit: Some(1) };
    let wide = client.liquidatable(&wide).await.unwrap();
    assert_eq!(wide.at_risk.len(), 1, "limited to one");
    assert_eq!(wide.at_risk[0].owner, dev_keypair(1).address(), "worst first");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_faucet_mints_to_a_new_account() {
    let node = TestNode::in_memory().await;
    let fresh = Keypair::from_seed(&[5; 32]);
    let status = node.client.faucet(fresh.address(), asset("USDC"), tokens("USDC", 250)).await.unwrap();
    assert_eq!(status.status, TxState::Committed);
    assert_eq!(usdc_of(&node, &fresh).await, tokens("USDC", 250));
    // Several at once each take the minter's next nonce.
    let calls = (0..4).map(|_| {
        let (client, address) = (node.client.clone(), fresh.address());
        async move { client.faucet(address, asset("USDC"), tokens("USDC", 1)).await }
    });
    for result in futures_join(calls).await {
        assert_eq!(result.unwrap().status, TxState::Committed);
    }
    assert_eq!(usdc_of(&node, &fresh).await, tokens("USDC", 254));
    node.stop().await;
}

async fn futures_join<F: std::future::Future + Send + 'static>(calls: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mine_produces_blocks_and_commits_pending_transactions() {
    let node = manual_node().await;
    let signed = signed_transfer(&dev_keypair(1), 0, dev_keypair(2).address(), asset("USDC"), tokens("USDC", 1));
    node.client.send(&signed, false).await.unwrap();
    let mined = node.client.mine(3).await.unwrap();
    assert_eq!((mined.blocks, mined.height), (3, 3));
    let first = node.client.block(&BlockParams { height: Some(1), ..BlockParams::default() }).await.unwrap().unwrap();
    assert_eq!(first.transactions, vec![signed.hash()]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_increase_time_moves_the_clock_and_interest_accrues() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    lending_market(client, &dev_keypair(2)).await;
    let borrow = vec![
        Instruction::Deposit { asset: asset("WETH"), amount: tokens("WETH", 10) },
        Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 10_000) },
    ];
    submit_ok(client, &dev_keypair(1), borrow).await;
    let before = client.head().await.unwrap();
    let year = 365 * 86_400;
    let clock = client.increase_time(year).await.unwrap();
    assert_eq!(clock.offset_seconds, year);
    assert!(clock.clock >= before.clock + year);
    let debt = client.position(dev_keypair(1).address()).await.unwrap().assets[0].debt;
    // At 10% utilization USDC's curve gives 4% × 10/90 ≈ 0.444% a year.
    assert!(debt.0 > tokens("USDC", 10_044).0 && debt.0 < tokens("USDC", 10_046).0, "a year of interest: {debt}");
    let mined = client.mine(1).await.unwrap();
    let block = client.block(&BlockParams { height: Some(mined.height), ..BlockParams::default() }).await.unwrap();
    assert!(block.unwrap().header.timestamp >= clock.clock);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_snapshot_and_revert_restore_state_height_and_clock() {
    let node = TestNode::in_memory().await;
    let (alice, bob) = (dev_keypair(1), dev_keypair(2));
    submit_ok(&node.client, &alice, vec![transfer(&bob, 5)]).await;
    let snapshot = node.client.snapshot().await.unwrap();
    let head = node.client.head().await.unwrap();
    assert_eq!(snapshot.height, head.height);
    let later = node.client.snapshot().await.unwrap();
    submit_ok(&node.client, &alice, vec![transfer(&bob, 7)]).await;
    node.client.increase_time(1_000).await.unwrap();
    node.client.mine(2).await.unwrap();
    let reverted = node.client.revert(snapshot.id).await.unwrap();
    assert_eq!(reverted.height, head.height);
    let after = node.client.head().await.unwrap();
    assert_eq!((after.height, after.hash, after.state_root), (head.height, head.hash, head.state_root));
    assert_eq!(usdc_of(&node, &bob).await, tokens("USDC", 1_000_005));
    assert_eq!(node.client.account(alice.address()).await.unwrap().nonce, 1);
    assert!(node.client.head().await.unwrap().clock < head.clock + 1_000, "the clock offset is restored");
    // The snapshot and later ones are used up.
    for id in [snapshot.id, later.id] {
        let error = node.client.revert(id).await.unwrap_err();
        assert_eq!(error.code(), Some(parlend_rpc::error::NOT_FOUND));
    }
    // The chain goes on from there.
    submit_ok(&node.client, &alice, vec![transfer(&bob, 1)]).await;
    assert_eq!(node.client.head().await.unwrap().height, head.height + 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_every_call_in_one_array() {
    let node = TestNode::in_memory().await;
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "getHead"},
        {"jsonrpc": "2.0", "id": 2, "method": "getMarket", "params": {"asset": "WETH"}},
        {"jsonrpc": "2.0", "id": 3, "method": "getMarket", "params": {"asset": "GOLD"}},
        {"jsonrpc": "2.0", "id": 4, "method": "noSuchMethod"},
    ]);
    let (status, body) = post_raw(&node.url, batch.to_string()).await;
    assert_eq!(status, 200);
    let answers = body.as_array().expect("an array");
    assert_eq!(answers.len(), 4);
    let by_id = |id: i64| answers.iter().find(|answer| answer["id"] == json!(id)).unwrap();
    assert_eq!(by_id(1)["result"]["height"], json!(0));
    assert_eq!(by_id(2)["result"]["asset"], json!("WETH"));
    assert_eq!(by_id(3)["error"]["code"], json!(parlend_rpc::error::NOT_FOUND));
    assert_eq!(by_id(4)["error"]["code"], json!(-32601));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_blocks_transactions_and_phases() {
    let node = TestNode::in_memory().await;
    submit_ok(&node.client, &dev_keypair(1), vec![transfer(&dev_keypair(2), 1)]).await;
    let failed = node.client.submit(&dev_keypair(1), vec![transfer(&dev_keypair(2), 10_000_000)], true).await.unwrap();
    assert_eq!(failed.status, TxState::Failed);
    let url = format!("{}/metrics", node.url);
    let text = tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    })
    .await
    .unwrap();
    for expected in [
        "parlend_blocks_total 2",
        "parlend_head_height 2",
        "parlend_transactions_total{status=\"success\"} 1",
        "parlend_transactions_total{status=\"failed\"} 1",
        "parlend_mempool_transactions 0",
        "parlend_block_phase_seconds_count{phase=\"sigverify\"} 2",
        "parlend_block_phase_seconds_count{phase=\"schedule\"} 2",
        "parlend_block_phase_seconds_count{phase=\"execute\"} 2",
        "parlend_block_phase_seconds_count{phase=\"commit\"} 2",
        "parlend_block_cut_to_commit_seconds_count 2",
        "parlend_block_parallelism 1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let (_, health) = call(&node.url, "getHead", Value::Null).await;
    assert_eq!(health["result"]["height"], json!(2), "null params are accepted");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_carry_typed_events_and_failures_their_values() {
    let node = TestNode::in_memory().await;
    let (alice, bob) = (dev_keypair(1), dev_keypair(2));
    let status = node.client.submit(&alice, vec![transfer(&bob, 3), transfer(&bob, 4)], true).await.unwrap();
    let receipt = status.receipt.unwrap();
    let amounts: Vec<Amount> = receipt
        .events
        .iter()
        .map(|event| match event {
            parlend_contracts::Event::Transfer { from, to, amount, .. } => {
                assert_eq!((*from, *to), (alice.address(), bob.address()));
                *amount
            }
            other => panic!("expected transfers, got {other:?}"),
        })
        .collect();
    assert_eq!(amounts, vec![tokens("USDC", 3), tokens("USDC", 4)]);
    assert_eq!(node.client.receipt(status.hash).await.unwrap().unwrap().events, receipt.events);
    // A borrow without collateral fails with what it needed and had.
    post_prices(&node.client, &[("USDC", 1)]).await;
    let borrow = Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 5) };
    let failed = node.client.submit(&dev_keypair(3), vec![borrow], true).await.unwrap();
    let receipt = failed.receipt.unwrap();
    assert!(receipt.events.is_empty(), "a failed transaction emits nothing");
    match receipt.outcome {
        OutcomeView::Failed {
            detail: Some(parlend_contracts::Failure::InsufficientCollateral { available, needed }),
            ..
        } => {
            assert_eq!((available, needed), (Wad::ZERO, parlend_tests::usd(5)));
        }
        other => panic!("expected InsufficientCollateral with values, got {other:?}"),
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_events_pages_through_a_long_chain_with_bounded_responses() {
    use parlend_rpc::types::EventsParams;
    let node = TestNode::in_memory().await;
    let (alice, bob, carol) = (dev_keypair(1), dev_keypair(2), dev_keypair(3));
    // 40 blocks: alice pays bob, carol pays alice, one transaction each.
    for round in 0..20 {
        submit_ok(&node.client, &alice, vec![transfer(&bob, round + 1)]).await;
        submit_ok(&node.client, &carol, vec![transfer(&alice, 1)]).await;
    }
    let head = node.client.head().await.unwrap().height;
    assert!(head >= 40, "one block per waited transaction: {head}");
    let mut params = EventsParams {
        address: Some(bob.address()),
        kind: Some("Transfer".to_string()),
        from_height: 0,
        to_height: head,
        limit: Some(3),
        cursor: None,
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = node.client.events(&params).await.unwrap();
        assert!(page.events.len() <= 3, "a page is bounded by its limit");
        pages += 1;
        seen.extend(page.events);
        match page.next {
            Some(next) => params.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 7, "20 events, 3 a page");
    let paid: Vec<Amount> = seen
        .iter()
        .map(|found| match &found.event {
            parlend_contracts::Event::Transfer { to, amount, .. } if *to == bob.address() => *amount,
            other => panic!("only bob's transfers: {other:?}"),
        })
        .collect();
    assert_eq!(paid, (1..=20).map(|whole| tokens("USDC", whole)).collect::<Vec<_>>(), "in chain order, once each");
    // Every event of alice's: her 20 payments and carol's 20 to her.
    let all = EventsParams { address: Some(alice.address()), limit: Some(1_000), cursor: None, kind: None, ..params };
    assert_eq!(node.client.events(&all).await.unwrap().events.len(), 40);
    // A range is bounded, and so is a page.
    let too_wide = EventsParams { from_height: 0, to_height: 100_000, ..all.clone() };
    let error = node.client.events(&too_wide).await.unwrap_err();
    assert_eq!(error.code(), Some(parlend_rpc::error::INVALID_PARAMS), "{error}");
    let too_long = EventsParams { limit: Some(1_001), ..all.clone() };
    assert_eq!(node.client.events(&too_long).await.unwrap_err().code(), Some(parlend_rpc::error::INVALID_PARAMS));
    let unknown = EventsParams { kind: Some("Teleport".to_string()), ..all };
    assert_eq!(node.client.events(&unknown).await.unwrap_err().code(), Some(parlend_rpc::error::INVALID_PARAMS));
    node.stop().await;
}
