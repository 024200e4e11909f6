//! End-to-end scenarios with exact expected figures. Time does not move
//! unless a test advances it, so indices stay at exactly 1.0 where a test
//! needs round numbers.

use parlend_ledger::{AccessMode, Amount, Bps, Ray, StateKey, Wad};

use super::*;
use crate::instruction::AmountOrAll;
use crate::interest::{self, rates};
use crate::limits::SECONDS_PER_YEAR;

const SUPPLIER: usize = 1;
const BORROWER: usize = 2;
const LIQUIDATOR: usize = 3;

/// A supplier with 1,000,000 USDC in the market and a borrower with 10 WETH
/// of collateral and `debt` USDC borrowed.
fn weth_borrower(debt_usdc: u128) -> Chain {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 1_000_000))).unwrap();
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 10))).unwrap();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, debt_usdc))).unwrap();
    chain
}

#[test]
fn health_factor_of_10000_usdc_at_80_percent_against_6000_of_weth() {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(WETH, tokens(WETH, 10))).unwrap();
    chain.exec(BORROWER, deposit(USDC, tokens(USDC, 10_000))).unwrap();
    chain.exec(BORROWER, borrow(WETH, tokens(WETH, 2))).unwrap();
    let health = chain.health(BORROWER).health.unwrap();
    assert_eq!(health.collateral_value, usd(10_000));
    assert_eq!(health.debt_value, usd(6_000));
    assert_eq!(health.health_factor.to_string(), "1.333333333333333333");
}

#[test]
fn epilogue_sets_rates_from_final_utilization() {
    let mut chain = Chain::new();
    // 100,000 supplied, 40,000 borrowed: U = 40%.
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 100_000))).unwrap();
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 100))).unwrap();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 40_000))).unwrap();
    let index = chain.index(USDC);
    let expected = rates(&market_params(USDC), tokens(USDC, 40_000), tokens(USDC, 60_000), 0).unwrap();
    assert_eq!((index.borrow_rate, index.liquidity_rate), (expected.borrow_rate, expected.liquidity_rate));
    // 4% × 0.4 / 0.9, rounded up; × 0.4 × 0.9, rounded down.
    assert_eq!(index.borrow_rate.to_string(), "0.017777777777777777777777778");
    assert_eq!(index.liquidity_rate.to_string(), "0.006399999999999999999999999");
    let summary = chain.market(USDC);
    assert_eq!(summary.utilization, ray_percent(40));
    assert_eq!(summary.total_debt, Amount(tokens(USDC, 40_000)));
}

#[test]
fn a_year_of_interest_compounds_debt_and_pays_suppliers_and_treasury() {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 100_000))).unwrap();
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 100))).unwrap();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 40_000))).unwrap();
    let index = chain.index(USDC);
    chain.advance(SECONDS_PER_YEAR);
    chain.mine();
    let year = chain.index(USDC);
    assert_eq!(year, interest::accrue(&index, chain.timestamp).unwrap(), "the prologue accrues exactly once");
    assert_eq!(year.liquidity_index.to_string(), "1.006399999999999999999999999");
    assert_eq!(year.borrow_index.to_string(), "1.017936738906651244139268992");
    // The borrower owes ceil(40,000 × BI); the supplier holds floor(100,000 × LI).
    assert_eq!(chain.debt_of(BORROWER, USDC), 40_717_469_557);
    assert_eq!(chain.deposit_of(SUPPLIER, USDC), 100_639_999_999);
    // Treasury: cash 60,000 + debt 40,717.469556 (rounded down) − supply 100,640 (rounded up).
    let summary = chain.market(USDC);
    assert_eq!((summary.total_debt, summary.total_supply), (Amount(40_717_469_556), Amount(100_640_000_000)));
    assert_eq!(summary.treasury, Amount(77_469_556));
    assert_eq!(summary.deficit, Amount::ZERO);
}

#[test]
fn liquidation_at_100_percent_close_factor() {
    let mut chain = weth_borrower(20_000);
    // WETH $3,000 → $2,200: HF = 22,000 × 0.83 / 20,000 = 0.913 <= 0.95: all the debt may go.
    chain.set_price(WETH, usd(2_200));
    assert_eq!(chain.health_factor(BORROWER).to_string(), "0.913");
    let usdc_before = chain.balance(LIQUIDATOR, USDC);
    let weth_before = chain.balance(LIQUIDATOR, WETH);
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::All)).unwrap();
    // 20,000 USDC / $2,200 × 1.05 = 9.545454545454545454 WETH seized (down); the
    // bonus part is 0.454545454545454546, 10% of it (up) is the protocol fee.
    let seized = 9_545_454_545_454_545_454u128;
    let fee = 45_454_545_454_545_455u128;
    assert_eq!(usdc_before - chain.balance(LIQUIDATOR, USDC), tokens(USDC, 20_000));
    assert_eq!(chain.balance(LIQUIDATOR, WETH) - weth_before, seized - fee);
    assert_eq!(seized - fee, 9_499_999_999_999_999_999);
    let position = chain.position(BORROWER);
    assert_eq!(position.entry(USDC), None, "debt fully repaid");
    assert_eq!(chain.deposit_of(BORROWER, WETH), tokens(WETH, 10) - seized);
    assert_eq!(chain.health_factor(BORROWER), Wad::MAX);
    // The fee stays in the market as treasury.
    assert_eq!(chain.market(WETH).treasury, Amount(fee));
}

#[test]
fn liquidation_at_50_percent_close_factor() {
    let mut chain = weth_borrower(24_000);
    // $2,850: HF = 28,500 × 0.83 / 24,000 = 0.985625, above 0.95 and both
    // reserves above $2,000: at most 50% of the $24,000 debt.
    chain.set_price(WETH, usd(2_850));
    assert_eq!(chain.health_factor(BORROWER).to_string(), "0.985625");
    let before = chain.balance(LIQUIDATOR, USDC);
    let weth_before = chain.balance(LIQUIDATOR, WETH);
    // Asking for 20,000 repays 12,000.
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::Amount(Amount(tokens(USDC, 20_000))))).unwrap();
    assert_eq!(before - chain.balance(LIQUIDATOR, USDC), tokens(USDC, 12_000));
    // 12,000 / 2,850 = 4.210526315789473684 WETH, × 1.05 = 4.421052631578947368 seized.
    let seized = 4_421_052_631_578_947_368u128;
    let fee = 21_052_631_578_947_369u128;
    assert_eq!(chain.balance(LIQUIDATOR, WETH) - weth_before, seized - fee);
    assert_eq!(chain.debt_of(BORROWER, USDC), tokens(USDC, 12_000));
    assert_eq!(chain.deposit_of(BORROWER, WETH), tokens(WETH, 10) - seized);
    // Health improves: 5.578947368421052632 WETH × $2,850 × 0.83 / 12,000.
    assert_eq!(chain.health_factor(BORROWER).to_string(), "1.09975");
    assert_eq!(chain.market(WETH).treasury, Amount(fee));
}

#[test]
fn bad_debt_is_absorbed_by_the_treasury_then_becomes_deficit() {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 1_000_000))).unwrap();
    // A treasury of exactly 500 USDC: the 5 bps fee of a 1,000,000 USDC flash loan.
    let flash = vec![
        Instruction::FlashBorrow { asset: USDC, amount: Amount(tokens(USDC, 1_000_000)) },
        Instruction::FlashRepay { asset: USDC },
    ];
    chain.run(4, flash).unwrap();
    assert_eq!(chain.market(USDC).treasury, Amount(tokens(USDC, 500)));

    // Small bad debt: 1 WETH backing 2,000 USDC; WETH falls to $2,050.
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 1))).unwrap();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 2_000))).unwrap();
    // Large bad debt: 1 WBTC backing 43,000 USDC; WBTC falls to $40,000.
    chain.exec(5, deposit(WBTC, tokens(WBTC, 1))).unwrap();
    chain.exec(5, borrow(USDC, tokens(USDC, 43_000))).unwrap();
    chain.set_price(WETH, usd(2_050));
    chain.set_price(WBTC, usd(40_000));

    // The whole WETH deposit ($2,050) pays for 2,050 / 1.05 = 1,952.380953 USDC
    // (up); the remaining 47.619047 USDC is burned and taken from the treasury.
    let before = chain.balance(LIQUIDATOR, USDC);
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::All)).unwrap();
    assert_eq!(before - chain.balance(LIQUIDATOR, USDC), 1_952_380_953);
    assert_eq!(chain.position(BORROWER), Position::default(), "position closed");
    assert!(!chain.state.contains_key(&StateKey::Position { owner: Chain::address(BORROWER) }));
    let market = chain.market(USDC);
    assert_eq!((market.treasury, market.deficit), (Amount(452_380_953), Amount::ZERO));

    // 1 WBTC ($40,000) pays for 38,095.238096 USDC; 4,904.761904 is burned:
    // 452.380953 from the treasury, 4,452.380951 becomes deficit.
    chain.exec(LIQUIDATOR, liquidate(5, USDC, WBTC, AmountOrAll::All)).unwrap();
    assert_eq!(chain.position(5), Position::default());
    let market = chain.market(USDC);
    assert_eq!((market.treasury, market.deficit), (Amount::ZERO, Amount(4_452_380_951)));
    // Suppliers' claims are untouched; the deficit is visible.
    assert_eq!(chain.deposit_of(SUPPLIER, USDC), tokens(USDC, 1_000_000));
}

#[test]
fn partial_liquidation_deep_underwater_lowers_health_as_in_aave() {
    // Below bonus × threshold (1.05 × 0.83 = 0.8715) a partial liquidation
    // removes more weighted collateral than debt: the factor falls. Aave 3.3
    // behaves the same; a full liquidation closes the position.
    let mut chain = weth_borrower(24_000);
    chain.set_price(WETH, usd(2_400));
    let before = chain.health_factor(BORROWER);
    assert_eq!(before.to_string(), "0.83");
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::Amount(Amount(tokens(USDC, 10_000))))).unwrap();
    let after = chain.health_factor(BORROWER);
    assert!(after < before, "{after} < {before}");
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::All)).unwrap();
    assert_eq!(chain.health_factor(BORROWER), Wad::MAX);
}

#[test]
fn bad_debt_burns_with_a_non_collateral_deposit_left() {
    // Found by the property test: the borrower also holds a deposit with its
    // collateral flag off, whose market the health check never reads.
    let mut chain = weth_borrower(20_000);
    chain.exec(BORROWER, deposit(TBILL, tokens(TBILL, 100))).unwrap();
    chain.exec(BORROWER, Instruction::SetCollateral { asset: TBILL, enabled: false }).unwrap();
    chain.set_price(WETH, usd(1_500));
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::All)).unwrap();
    let position = chain.position(BORROWER);
    assert_eq!(position.entries.len(), 1, "only the TBILL deposit is left: {position:?}");
    assert_eq!(position.entries[0].asset, TBILL);
    assert!(chain.market(USDC).deficit > Amount::ZERO);
}

#[test]
fn liquidator_can_receive_collateral_as_a_deposit() {
    let mut chain = weth_borrower(20_000);
    chain.set_price(WETH, usd(2_200));
    let request = Instruction::Liquidate {
        borrower: Chain::address(BORROWER),
        debt_asset: USDC,
        collateral_asset: WETH,
        debt_to_cover: AmountOrAll::All,
        receive_deposit: true,
    };
    let cash_before = chain.totals(WETH).cash;
    chain.exec(LIQUIDATOR, request).unwrap();
    let entry = *chain.position(LIQUIDATOR).entry(WETH).unwrap();
    assert_eq!(entry.scaled_deposit, 9_499_999_999_999_999_999);
    assert!(entry.collateral, "a first deposit is collateral");
    assert_eq!(chain.totals(WETH).cash, cash_before, "no tokens leave the market");
    assert_eq!(chain.market(WETH).treasury, Amount(45_454_545_454_545_455));
}

#[test]
fn users_of_one_market_do_not_conflict() {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 100_000))).unwrap();
    for user in [2, 3] {
        chain.exec(user, deposit(WETH, tokens(WETH, 10))).unwrap();
    }
    let context = parlend_ledger::exec::BlockContext { chain_id: CHAIN_ID, height: 9, timestamp: chain.timestamp };
    let accesses = |user: usize, instruction: Instruction| {
        let transaction = Transaction {
            chain_id: CHAIN_ID,
            signer: Chain::address(user),
            nonce: 0,
            access: Default::default(),
            instructions: vec![instruction],
        };
        let simulation =
            parlend_ledger::exec::simulate_transaction(&LendingVm, &chain.state, &context, &transaction).unwrap();
        assert!(simulation.status.is_success());
        simulation.accesses
    };
    for instruction in [deposit(USDC, tokens(USDC, 10)), borrow(USDC, tokens(USDC, 10))] {
        let first = accesses(2, instruction.clone());
        let second = accesses(3, instruction);
        let totals = StateKey::MarketTotals { asset: USDC };
        assert!(first.iter().any(|access| access.key == totals && access.mode == AccessMode::Delta));
        for a in &first {
            for b in second.iter().filter(|b| b.key == a.key) {
                assert!(!a.mode.conflicts_with(b.mode), "{} is {:?} and {:?}", a.key, a.mode, b.mode);
            }
        }
    }
}

#[test]
fn admin_instructions_check_the_signer_and_rotate_keys() {
    let mut chain = Chain::new();
    let params = market_params(USDC);
    let new_admin = Chain::address(5);
    for instruction in [
        Instruction::UpdateMarket { asset: USDC, params },
        Instruction::SetOracle { oracle: new_admin },
        Instruction::SetAdmin { admin: new_admin },
        Instruction::SetMinter { minter: None },
        Instruction::SetPrice { asset: USDC, price: Wad::ONE, timestamp: chain.timestamp },
        Instruction::SetLiquidationConfig { config: Default::default() },
    ] {
        assert_eq!(chain.exec(1, instruction), Err(Failure::Unauthorized));
    }
    chain.exec(0, Instruction::SetAdmin { admin: new_admin }).unwrap();
    assert_eq!(chain.exec(0, Instruction::UpdateMarket { asset: USDC, params }), Err(Failure::Unauthorized));
    chain.exec(5, Instruction::UpdateMarket { asset: USDC, params }).unwrap();
    chain.exec(5, Instruction::SetOracle { oracle: new_admin }).unwrap();
    assert_eq!(chain.config().oracle, new_admin);
    let invalid = MarketParams { ltv: Bps(9_000), ..params };
    assert_eq!(
        chain.exec(5, Instruction::UpdateMarket { asset: USDC, params: invalid }),
        Err(Failure::InvalidParameters)
    );
    let bad = crate::state::LiquidationConfig { close_factor: Bps(0), ..Default::default() };
    assert_eq!(chain.exec(5, Instruction::SetLiquidationConfig { config: bad }), Err(Failure::InvalidParameters));
}

#[test]
fn create_market_opens_a_registered_asset_at_index_one() {
    let gold = AssetId::from_static("GOLD");
    let mut genesis = genesis(ACCOUNTS, &default_funding);
    genesis.assets.push(AssetInfo { id: gold, decimals: 6 });
    let mut chain = Chain::from_genesis(&genesis);
    let params = market_params(USDC);
    assert_eq!(chain.exec(0, Instruction::CreateMarket { asset: USDC, params }), Err(Failure::MarketExists));
    let unknown = AssetId::from_static("NOPE");
    assert_eq!(chain.exec(0, Instruction::CreateMarket { asset: unknown, params }), Err(Failure::UnknownAsset));
    chain.exec(0, Instruction::CreateMarket { asset: gold, params }).unwrap();
    assert!(chain.config().markets.contains(&gold));
    let index = chain.index(gold);
    assert_eq!((index.liquidity_index, index.borrow_index), (Ray::ONE, Ray::ONE));
    // No price yet: deposits work, borrowing against it does not.
    chain
        .exec(0, Instruction::Mint { to: Chain::address(1), asset: gold, amount: Amount(tokens(USDC, 1_000)) })
        .unwrap();
    chain.exec(1, deposit(gold, tokens(USDC, 1_000))).unwrap();
    assert_eq!(named(chain.exec(1, borrow(USDC, tokens(USDC, 1)))), Err("PriceMissing"));
}

#[test]
fn genesis_rejects_invalid_markets() {
    use crate::genesis::GenesisError;
    let mut bad = genesis(1, &default_funding);
    bad.markets[0].price = Wad::ZERO;
    assert_eq!(bad.state(), Err(GenesisError::ZeroPrice(TBILL)));
    let mut bad = genesis(1, &default_funding);
    bad.markets.push(bad.markets[0].clone());
    assert_eq!(bad.state(), Err(GenesisError::DuplicateMarket(TBILL)));
    let mut bad = genesis(1, &default_funding);
    bad.markets[1].params.ltv = Bps(9_999);
    assert_eq!(bad.state(), Err(GenesisError::MarketParams(USDC)));
    let mut bad = genesis(1, &default_funding);
    bad.markets[0].asset = AssetId::from_static("NOPE");
    assert_eq!(bad.state(), Err(GenesisError::MarketAsset(AssetId::from_static("NOPE"))));
}

#[test]
fn queries_show_position_values_and_liquidation_prices() {
    let chain = weth_borrower(20_000);
    let summary = query::position_summary(&chain.state, Chain::address(BORROWER), chain.timestamp).unwrap();
    let health = summary.health.unwrap();
    assert_eq!(health.collateral_value, usd(30_000));
    assert_eq!(health.borrowing_power, usd(24_000));
    assert_eq!(summary.available_to_borrow, Some(usd(4_000)));
    assert!(summary.prices_fresh);
    let weth = summary.assets.iter().find(|asset| asset.asset == WETH).unwrap();
    // HF = 1 when 10 WETH × p × 0.83 = 20,000: p = 2,409.638554216867469880 (up).
    assert_eq!(weth.liquidation_price.unwrap().to_string(), "2409.63855421686746988");
    assert_eq!(weth.deposit, Amount(tokens(WETH, 10)));
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["assets"][0]["asset"], "USDC");
    assert_eq!(json["health"]["debtValue"], "20000000000000000000000");
    let market = query::market_summary(&chain.state, USDC, chain.timestamp).unwrap();
    assert_eq!(market.utilization, ray_percent(2));
    assert!(market.borrow_apy > market.borrow_apr && market.supply_apr > Ray::ZERO);
    assert_eq!(query::markets(&chain.state, chain.timestamp).unwrap().len(), 4);
    let prices = query::prices(&chain.state, chain.timestamp).unwrap();
    assert_eq!(prices.len(), 4);
    assert!(prices.iter().all(|entry| entry.price.is_some_and(|price| !price.stale && price.age_seconds == 0)));
    assert!(!query::health(&chain.state, Chain::address(BORROWER), chain.timestamp).unwrap().is_liquidatable());
}
