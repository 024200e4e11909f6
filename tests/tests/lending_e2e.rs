//! Lending against a real in-process node over HTTP: deposit, borrow, an
//! oracle price drop, the position in `getLiquidatable`, a liquidation by
//! another account, and the position leaving the list.

use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::{Amount, Wad};
use parlend_rpc::types::LiquidatableParams;
use parlend_tests::{TestNode, asset, dev_keypair, post_prices, submit_ok, tokens};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_made_unhealthy_by_a_price_drop_is_listed_liquidated_and_delisted() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let (lender, borrower, liquidator) = (dev_keypair(2), dev_keypair(1), dev_keypair(3));
    let (usdc, weth) = (asset("USDC"), asset("WETH"));
    post_prices(client, &[("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)]).await;

    // A lender supplies USDC; the borrower deposits 10 WETH ($30,000) and
    // borrows 24,000 USDC: at WETH's 80% LTV, the most it may.
    submit_ok(client, &lender, vec![Instruction::Deposit { asset: usdc, amount: tokens("USDC", 500_000) }]).await;
    submit_ok(
        client,
        &borrower,
        vec![
            Instruction::Deposit { asset: weth, amount: tokens("WETH", 10) },
            Instruction::Borrow { asset: usdc, amount: tokens("USDC", 24_000) },
        ],
    )
    .await;
    let position = client.position(borrower.address()).await.unwrap();
    let health = position.health.expect("priced");
    // HF = 30,000 × 0.83 / 24,000 = 1.0375 (interest of a second or two is below the shown digits' tolerance).
    assert!(health.health_factor > Wad(1_037_000_000_000_000_000), "{health:?}");
    assert!(health.health_factor <= Wad(1_037_500_000_000_000_000), "{health:?}");
    let listed = client.liquidatable(&LiquidatableParams::default()).await.unwrap();
    assert!(listed.liquidatable.is_empty(), "{listed:?}");
    assert!(listed.at_risk.iter().any(|view| view.owner == borrower.address()), "HF 1.0375 is in the 1.05 band");

    // The market shows the loan.
    let market = client.market(usdc).await.unwrap();
    assert!(market.total_debt >= tokens("USDC", 24_000));
    assert!(market.utilization.0 > 0);
    assert!(market.borrow_apr.0 > 0);

    // WETH falls to $2,800: HF = 28,000 × 0.83 / 24,000 ≈ 0.968.
    post_prices(client, &[("USDC", 1), ("WETH", 2_800)]).await;
    let listed = client.liquidatable(&LiquidatableParams::default()).await.unwrap();
    let entry = listed.liquidatable.iter().find(|view| view.owner == borrower.address()).expect("listed");
    assert!(entry.health_factor < Wad::ONE && entry.health_factor > Wad(960_000_000_000_000_000), "{entry:?}");
    assert!(entry.prices_fresh);
    assert!(listed.at_risk.iter().all(|view| view.owner != borrower.address()));

    // Self-liquidation is refused; another account liquidates as much as
    // allowed: 50% of the debt (HF above 0.95, a large position).
    let liquidate = Instruction::Liquidate {
        borrower: borrower.address(),
        debt_asset: usdc,
        collateral_asset: weth,
        debt_to_cover: AmountOrAll::All,
        receive_deposit: false,
    };
    let refused = client.submit(&borrower, vec![liquidate.clone()], true).await.unwrap();
    assert_eq!(refused.status, parlend_rpc::types::TxState::Failed, "{refused:?}");
    let weth_before = wallet(client, liquidator.address(), "WETH").await;
    submit_ok(client, &liquidator, vec![liquidate]).await;
    let seized = wallet(client, liquidator.address(), "WETH").await.0 - weth_before.0;
    // 12,000 USDC × 1.05 / $2,800 = 4.5 WETH seized, of which the protocol
    // keeps 10% of the bonus part (0.0214 WETH): the liquidator gets ≈ 4.4786.
    assert!(seized > 4_470 * tokens("WETH", 1).0 / 1_000 && seized < 4_500 * tokens("WETH", 1).0 / 1_000, "{seized}");

    let position = client.position(borrower.address()).await.unwrap();
    let usdc_entry = position.assets.iter().find(|entry| entry.asset == usdc).unwrap();
    assert!(usdc_entry.debt.0 > tokens("USDC", 11_999).0 && usdc_entry.debt.0 < tokens("USDC", 12_001).0);
    assert!(position.health.unwrap().health_factor > Wad::ONE);
    let listed = client.liquidatable(&LiquidatableParams::default()).await.unwrap();
    assert!(listed.liquidatable.iter().all(|view| view.owner != borrower.address()), "{listed:?}");
    node.stop().await;
}

async fn wallet(client: &parlend_rpc::Client, address: parlend_ledger::Address, symbol: &str) -> Amount {
    let balances = client.balances(address).await.unwrap();
    balances.balances.iter().find(|balance| balance.asset == asset(symbol)).unwrap().amount
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_node_reposts_stale_genesis_prices_so_borrowing_works_at_once() {
    // The dev genesis is dated 2026-01-01: by now its prices are stale.
    let mut config = parlend_node::node::NodeConfig::new(parlend_contracts::dev::dev_genesis());
    config.refresh_dev_prices = true;
    let node = TestNode::start(config).await;
    let client = &node.client;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client.head().await.unwrap().height < 1 {
        assert!(std::time::Instant::now() < deadline, "the price refresh was never committed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let prices = client.prices().await.unwrap();
    assert_eq!(prices.len(), 4);
    for entry in &prices {
        let price = entry.price.expect("every dev asset is priced");
        assert!(!price.stale, "{entry:?}");
    }
    // Same value as at genesis: the refresh moves the date, not the price.
    let weth = prices.iter().find(|entry| entry.asset == asset("WETH")).unwrap();
    assert_eq!(weth.price.unwrap().price, Wad(3_000 * Wad::SCALE));
    let (lender, borrower) = (dev_keypair(2), dev_keypair(1));
    submit_ok(client, &lender, vec![Instruction::Deposit { asset: asset("USDC"), amount: tokens("USDC", 10_000) }])
        .await;
    submit_ok(
        client,
        &borrower,
        vec![
            Instruction::Deposit { asset: asset("WETH"), amount: tokens("WETH", 1) },
            Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 1_000) },
        ],
    )
    .await;
    node.stop().await;
}
