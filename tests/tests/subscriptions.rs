//! WebSocket subscriptions against a real in-process node: a deposit,
//! borrow, price drop and liquidation produce the expected notifications in
//! order on every subscription; a subscriber that stops reading is dropped
//! with a clear reason while blocks keep their pace; a client holds several
//! full blocks of notifications before reading them; the limits answer with
//! their codes.

use std::time::{Duration, Instant};

use parlend_contracts::dev::dev_genesis;
use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::{Amount, Wad};
use parlend_node::node::NodeConfig;
use parlend_rpc::client::{Subscription, WsClient};
use parlend_rpc::error as codes;
use parlend_rpc::types::{
    LiquidatableFilter, LiquidatableNoticeView, LiquidatableParams, MarketsNoticeView, NewHeadView, RiskState,
    TransactionNoticeView, TransactionsFilter,
};
use parlend_tests::{
    RawWs, TestNode, asset, call, dev_keypair, error_code, post_prices, signed_transfer, submit_ok, tokens, usd,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

async fn next<T: serde::de::DeserializeOwned>(subscription: &mut Subscription<T>) -> T {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("a notification in time")
        .expect("the subscription is open")
        .expect("a notification that parses")
}

/// Every notification up to and including the one for block `height`.
async fn until<T: serde::de::DeserializeOwned>(
    subscription: &mut Subscription<T>,
    height: u64,
    height_of: fn(&T) -> u64,
) -> Vec<T> {
    let mut seen = Vec::new();
    loop {
        let notice = next(subscription).await;
        let at = height_of(&notice);
        seen.push(notice);
        if at >= height {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_borrow_price_drop_and_liquidation_are_notified_in_order() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let (lender, borrower, liquidator) = (dev_keypair(2), dev_keypair(1), dev_keypair(3));
    let (usdc, weth) = (asset("USDC"), asset("WETH"));
    let ws = WsClient::connect(&node.url).await.expect("a WebSocket");
    let mut heads = ws.new_heads().await.unwrap();
    let mut all_transactions = ws.transactions(&TransactionsFilter::default()).await.unwrap();
    let mut borrower_transactions =
        ws.transactions(&TransactionsFilter { address: Some(borrower.address()) }).await.unwrap();
    let mut risk = ws.liquidatable(&LiquidatableFilter::default()).await.unwrap();
    let mut markets = ws.markets().await.unwrap();
    let start = client.head().await.unwrap().height;

    // The first liquidatable notification lists the sets' members: none.
    let snapshot = next(&mut risk).await;
    assert!(snapshot.snapshot && snapshot.changes.is_empty(), "{snapshot:?}");
    assert_eq!(snapshot.at_risk_below, Wad(1_050_000_000_000_000_000));

    post_prices(client, &[("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)]).await;
    submit_ok(client, &lender, vec![Instruction::Deposit { asset: usdc, amount: tokens("USDC", 500_000) }]).await;
    // HF = 30,000 × 0.83 / 24,000 = 1.0375: at risk.
    let borrowed = submit_ok(
        client,
        &borrower,
        vec![
            Instruction::Deposit { asset: weth, amount: tokens("WETH", 10) },
            Instruction::Borrow { asset: usdc, amount: tokens("USDC", 24_000) },
        ],
    )
    .await;
    let borrow_height = borrowed.receipt.unwrap().block_height;
    // WETH at $2,800: HF ≈ 0.968, liquidatable.
    post_prices(client, &[("USDC", 1), ("WETH", 2_800)]).await;
    let drop_height = client.head().await.unwrap().height;
    let liquidate = Instruction::Liquidate {
        borrower: borrower.address(),
        debt_asset: usdc,
        collateral_asset: weth,
        debt_to_cover: AmountOrAll::All,
        receive_deposit: false,
    };
    let liquidated = submit_ok(client, &liquidator, vec![liquidate]).await;
    let liquidation_height = liquidated.receipt.unwrap().block_height;
    assert_eq!(liquidation_height, drop_height + 1);

    // Heads: every block, in order, the liquidation counted in its block.
    let seen: Vec<NewHeadView> = until(&mut heads, liquidation_height, |head| head.header.height).await;
    let heights: Vec<u64> = seen.iter().map(|head| head.header.height).collect();
    assert_eq!(heights, (start + 1..=liquidation_height).collect::<Vec<_>>());
    for head in &seen {
        assert_eq!(head.transactions, 1, "{head:?}");
        assert_eq!(head.liquidations, u32::from(head.header.height == liquidation_height), "{head:?}");
        assert!(head.execution.is_some(), "{head:?}");
    }

    // Transactions: all five in commit order; the borrower's filter sees
    // its own and the liquidation that names it.
    let seen: Vec<TransactionNoticeView> =
        until(&mut all_transactions, liquidation_height, |notice| notice.receipt.block_height).await;
    let signers: Vec<_> = seen.iter().map(|notice| notice.signer).collect();
    let oracle = dev_keypair(0).address();
    assert_eq!(signers, [oracle, lender.address(), borrower.address(), oracle, liquidator.address()]);
    assert!(seen.iter().all(|notice| notice.receipt.outcome.is_success()));
    let mine: Vec<TransactionNoticeView> =
        until(&mut borrower_transactions, liquidation_height, |notice| notice.receipt.block_height).await;
    let kinds: Vec<_> = mine.iter().map(|notice| (notice.signer, notice.receipt.block_height)).collect();
    assert_eq!(kinds, [(borrower.address(), borrow_height), (liquidator.address(), liquidation_height)]);
    assert!(
        matches!(mine[1].instructions[0], Instruction::Liquidate { borrower: named, .. } if named == borrower.address())
    );

    // Liquidatable: enters the at-risk set with the borrow, becomes
    // liquidatable with the price drop, leaves with the liquidation.
    let seen: Vec<LiquidatableNoticeView> = until(&mut risk, liquidation_height, |notice| notice.height).await;
    let moves: Vec<(u64, RiskState, RiskState)> = seen
        .iter()
        .flat_map(|notice| {
            assert!(!notice.snapshot);
            notice.changes.iter().map(|change| {
                assert_eq!(change.owner, borrower.address());
                (notice.height, change.from, change.to)
            })
        })
        .collect();
    assert_eq!(
        moves[..2],
        [
            (borrow_height, RiskState::None, RiskState::AtRisk),
            (drop_height, RiskState::AtRisk, RiskState::Liquidatable)
        ]
    );
    assert_eq!(moves.len(), 3, "{moves:?}");
    let (height, from, to) = moves[2];
    assert_eq!((height, from), (liquidation_height, RiskState::Liquidatable));
    assert!(matches!(to, RiskState::Safe | RiskState::AtRisk), "{to:?}");
    let health = seen.last().unwrap().changes[0].health.expect("still in debt");
    assert!(health.health_factor > Wad::ONE, "{health:?}");

    // Markets: one notification per block; the price drop and the loan show.
    let seen: Vec<MarketsNoticeView> = until(&mut markets, liquidation_height, |notice| notice.height).await;
    assert_eq!(seen.len() as u64, liquidation_height - start);
    let at_drop = seen.iter().find(|notice| notice.height == drop_height).unwrap();
    let weth_price = at_drop.prices.iter().find(|entry| entry.asset == weth).and_then(|entry| entry.price).unwrap();
    assert_eq!(weth_price.price, usd(2_800));
    let usdc_market = at_drop.markets.iter().find(|market| market.asset == usdc).unwrap();
    assert!(usdc_market.total_debt >= tokens("USDC", 24_000));

    // getLiquidatable answers from the same index: the borrower is no
    // longer liquidatable, and only the positions near the band were evaluated.
    let listed = client.liquidatable(&LiquidatableParams::default()).await.unwrap();
    assert!(listed.liquidatable.is_empty(), "{listed:?}");
    assert_eq!(listed.scanned, 1);
    assert!(listed.evaluated <= 1);
    node.stop().await;
}

/// Blocks of `BATCH` transfers from dev accounts 1 to 8, pre-signed, with
/// consecutive nonces from `nonces`.
fn transfer_blocks(blocks: usize, nonces: &mut [u64; 8]) -> Vec<Vec<parlend_contracts::SignedTransaction>> {
    const BATCH: usize = 1_000;
    let to = dev_keypair(9).address();
    (0..blocks)
        .map(|_| {
            (0..BATCH)
                .map(|index| {
                    let signer = index % 8;
                    let nonce = nonces[signer];
                    nonces[signer] += 1;
                    signed_transfer(
                        &dev_keypair(u32::try_from(signer).expect("eight signers") + 1),
                        nonce,
                        to,
                        asset("USDC"),
                        Amount(1),
                    )
                })
                .collect()
        })
        .collect()
}

/// Sends each block's transactions and waits for their commits; the time taken.
async fn commit_blocks(client: &parlend_rpc::Client, blocks: &[Vec<parlend_contracts::SignedTransaction>]) -> Duration {
    let started = Instant::now();
    for block in blocks {
        let outcomes = client.send_many(block, true).await.expect("sending");
        assert!(
            outcomes.iter().all(|outcome| outcome.accepted.as_ref().is_some_and(|status| status.receipt.is_some()))
        );
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_dropped_while_blocks_keep_their_pace() {
    let mut config = NodeConfig::new(dev_genesis());
    config.rpc_limits.subscriber_buffer = 16;
    let node = TestNode::start(config).await;
    let client = &node.client;
    // Blocks of 1,000 transfers: their `transactions` notifications (about
    // half a KiB each) overflow what the kernel buffers on loopback (over a
    // MiB) within a few blocks.
    const BLOCKS: usize = 4;
    let mut nonces = [0u64; 8];
    let alone = commit_blocks(client, &transfer_blocks(BLOCKS, &mut nonces)).await;

    // A reader that keeps up, on its own connection.
    let ws = WsClient::connect(&node.url).await.unwrap();
    let mut heads = ws.new_heads().await.unwrap();
    let from = client.head().await.unwrap().height;
    let last = from + 3 * BLOCKS as u64;
    let reader = tokio::spawn(async move { until(&mut heads, last, |head| head.header.height).await });

    // A subscriber whose socket holds 4 KiB and which stops reading.
    let mut slow = RawWs::connect(&node.url, Some(4_096)).await.expect("a WebSocket");
    let subscribed = slow.call("subscribeTransactions", json!({})).await;
    let id = subscribed["result"].clone();
    assert!(!id.is_null(), "{subscribed}");
    let with_slow = commit_blocks(client, &transfer_blocks(3 * BLOCKS, &mut nonces)).await;
    // Blocks keep their pace (a generous margin for a loaded machine).
    let per_block = |time: Duration, blocks: usize| time / u32::try_from(blocks).unwrap();
    let (alone, with_slow) = (per_block(alone, BLOCKS), per_block(with_slow, 3 * BLOCKS));
    assert!(
        with_slow < alone * 3 + Duration::from_secs(1),
        "per block: {alone:?} alone, {with_slow:?} with a slow subscriber"
    );

    // The reader that kept up saw every block (the feed may still have been
    // publishing earlier ones when it subscribed).
    let seen = reader.await.unwrap();
    let heights: Vec<u64> = seen.iter().map(|head| head.header.height).filter(|height| *height > from).collect();
    assert_eq!(heights, (from + 1..=last).collect::<Vec<_>>());
    assert!(seen.iter().filter(|head| head.header.height > from).all(|head| head.transactions == 1_000));

    // The slow one's next notification waits for room past the limit...
    tokio::time::sleep(parlend_rpc::subscriptions::SUBSCRIBER_SEND_TIMEOUT + Duration::from_secs(1)).await;
    // ... so after what was buffered, it finds its closing error.
    let mut closed = None;
    let mut notifications = 0;
    while let Some(message) = slow.next_message(Duration::from_secs(10)).await {
        assert_eq!(message["params"]["subscription"], id, "{message}");
        if let Some(error) = message["params"].get("error") {
            closed = Some(error.clone());
            break;
        }
        notifications += 1;
    }
    let error = closed.unwrap_or_else(|| panic!("no closing error after {notifications} notifications"));
    eprintln!(
        "per block: {alone:?} alone, {with_slow:?} with a slow subscriber; it got {notifications} notifications, then {error}"
    );
    assert_eq!(error["code"].as_i64(), Some(i64::from(codes::SUBSCRIBER_TOO_SLOW)), "{error}");
    assert!(error["message"].as_str().unwrap().contains("too slow"), "{error}");
    assert!(notifications < 3 * BLOCKS * 1_000, "it was dropped, not served: {notifications}");
    // Nothing more arrives for it.
    assert!(slow.next_message(Duration::from_millis(500)).await.is_none());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_limits_answer_with_their_codes() {
    let mut config = NodeConfig::new(dev_genesis());
    config.rpc_limits.subscriptions_per_connection_max = 2;
    config.rpc_limits.subscriptions_max = 3;
    config.rpc_limits.websocket_connections_max = 2;
    let node = TestNode::start(config).await;
    let mut first = RawWs::connect(&node.url, None).await.unwrap();
    let mut second = RawWs::connect(&node.url, None).await.unwrap();
    // A third WebSocket is refused with HTTP 429.
    assert_eq!(RawWs::connect(&node.url, None).await.err(), Some(429));

    let one = first.call("subscribeNewHeads", json!({})).await;
    let two = first.call("subscribeMarkets", json!({})).await;
    assert!(one["result"].is_number() && two["result"].is_number(), "{one} {two}");
    let refused = first.call("subscribeTransactions", json!({})).await;
    assert_eq!(error_code(&refused), i64::from(codes::TOO_MANY_SUBSCRIPTIONS), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("connection"), "{refused}");

    let three = second.call("subscribeLiquidatable", json!({"atRiskBelow": "1100000000000000000"})).await;
    assert!(three["result"].is_number(), "{three}");
    let refused = second.call("subscribeNewHeads", json!({})).await;
    assert_eq!(error_code(&refused), i64::from(codes::TOO_MANY_SUBSCRIPTIONS), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("server"), "{refused}");

    // `unsubscribe` frees a place; an id not of this connection is not ended.
    let ended = second.call("unsubscribe", json!({"subscription": one["result"]})).await;
    assert_eq!(ended["result"], json!(false), "another connection's subscription: {ended}");
    let ended = first.call("unsubscribe", json!({"subscription": one["result"]})).await;
    assert_eq!(ended["result"], json!(true), "{ended}");
    let again = first.call("unsubscribe", json!({"subscription": one["result"]})).await;
    assert_eq!(again["result"], json!(false), "{again}");
    // The place is free once the subscription's task has ended.
    let mut resubscribed = json!(null);
    for _ in 0..100 {
        resubscribed = second.call("subscribeNewHeads", json!({})).await;
        if resubscribed["result"].is_number() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(resubscribed["result"].is_number(), "{resubscribed}");

    // Bad params are answered as such; subscriptions need a WebSocket.
    let ended = first.call("unsubscribe", json!({"subscription": two["result"]})).await;
    assert_eq!(ended["result"], json!(true));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let wide = first.call("subscribeLiquidatable", json!({"atRiskBelow": "2000000000000000000"})).await;
    assert_eq!(error_code(&wide), i64::from(codes::INVALID_PARAMS), "{wide}");
    let unknown = first.call("subscribeTransactions", json!({"adress": "00"})).await;
    assert_eq!(error_code(&unknown), i64::from(codes::INVALID_PARAMS), "{unknown}");
    let (status, body) = call(&node.url, "subscribeNewHeads", json!({})).await;
    assert_eq!((status, error_code(&body)), (200, i64::from(codes::WEBSOCKET_ONLY)), "{body}");
    // Other methods are served over HTTP, not on the WebSocket.
    let head = first.call("getHead", json!({})).await;
    assert_eq!(error_code(&head), i64::from(codes::METHOD_NOT_FOUND), "{head}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parlend_watch_prints_heads_and_liquidatable_changes_as_they_come() {
    let node = TestNode::in_memory().await;
    let binary = parlend_tests::parlend_binary();
    let watch = |args: &[&str]| {
        std::process::Command::new(&binary)
            .arg("watch")
            .args(args)
            .args(["--json", "--rpc", &node.url])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running parlend watch")
    };
    // Waits until the watcher says it has subscribed.
    let subscribed = |child: &mut std::process::Child| {
        use std::io::BufRead;
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let line = lines.next().expect("a line").expect("text");
        assert!(line.starts_with("subscribed"), "{line}");
    };
    let mut heads = watch(&["heads", "--count", "3"]);
    let mut risk = watch(&["liquidatable", "--count", "2"]);
    // Once both have subscribed: three blocks, the last one a borrow at risk.
    let (heads, risk) = tokio::task::spawn_blocking(move || {
        subscribed(&mut heads);
        subscribed(&mut risk);
        (heads, risk)
    })
    .await
    .unwrap();
    let client = &node.client;
    post_prices(client, &[("USDC", 1), ("WETH", 3_000)]).await;
    submit_ok(
        client,
        &dev_keypair(2),
        vec![Instruction::Deposit { asset: asset("USDC"), amount: tokens("USDC", 100_000) }],
    )
    .await;
    let borrow = vec![
        Instruction::Deposit { asset: asset("WETH"), amount: tokens("WETH", 10) },
        Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 24_000) },
    ];
    submit_ok(client, &dev_keypair(1), borrow).await;
    let lines = |child: std::process::Child| {
        let output = child.wait_with_output().expect("parlend watch ends after --count");
        assert!(output.status.success());
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect::<Vec<serde_json::Value>>()
    };
    let (heads, risk) = tokio::task::spawn_blocking(move || (lines(heads), lines(risk))).await.unwrap();
    let heights: Vec<u64> = heads.iter().map(|head| head["header"]["height"].as_u64().unwrap()).collect();
    assert_eq!(heights, [1, 2, 3]);
    assert_eq!(risk[0]["snapshot"], json!(true));
    assert_eq!(risk[1]["height"], json!(3));
    assert_eq!(risk[1]["changes"][0]["owner"], json!(dev_keypair(1).address().to_string()));
    assert_eq!(risk[1]["changes"][0]["to"], json!("atRisk"));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_several_blocks_of_transactions_before_reading_them() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let ws = WsClient::connect(&node.url).await.expect("a WebSocket");
    let mut transactions = ws.transactions(&TransactionsFilter::default()).await.unwrap();
    // Three blocks of 1,000 transfers commit while nobody reads: their
    // notifications wait in the client's buffer (jsonrpsee's default of
    // 1,024 per subscription closed it within the second block).
    const BLOCKS: usize = 3;
    const _: () = assert!(parlend_rpc::client::SUBSCRIPTION_BUFFER >= BLOCKS * 1_000);
    let blocks = transfer_blocks(BLOCKS, &mut [0; 8]);
    commit_blocks(client, &blocks).await;
    let expected: Vec<_> = blocks.iter().flatten().map(parlend_contracts::SignedTransaction::hash).collect();
    let mut seen = Vec::with_capacity(expected.len());
    while seen.len() < expected.len() {
        let notice: TransactionNoticeView = next(&mut transactions).await;
        seen.push(notice.receipt.tx_hash);
    }
    assert_eq!(seen, expected, "every transaction, in commit order");
    node.stop().await;
}
