//! Deficits, isolation mode, e-mode, flash-loan flags and freezes, with
//! exact figures computed by hand from Aave 3.4's formulas (each test's
//! comments show the computation). Time does not move unless a test
//! advances it, so indices stay at 1.0 where the figures need it.

use parlend_ledger::{Amount, Bps, StateKey, Wad};

use super::*;
use crate::dev::DEV_STABLECOIN_EMODE;
use crate::emode::EModeCategory;
use crate::instruction::AmountOrAll;
use crate::limits::SECONDS_PER_YEAR;

const SUPPLIER: usize = 1;
const BORROWER: usize = 2;
const LIQUIDATOR: usize = 3;
const OTHER: usize = 4;

fn collateral(asset: AssetId, enabled: bool) -> Instruction {
    Instruction::SetCollateral { asset, enabled }
}

fn cover(amount: AmountOrAll, from_treasury: bool) -> Instruction {
    Instruction::CoverDeficit { asset: USDC, amount, from_treasury }
}

/// The measured case of issue 18: 10,000 USDC supplied, one borrower owing
/// 2,400 USDC against 1 WETH, another 7,000 USDC against 1 WBTC; WETH
/// falls to $1,000 and the first is liquidated.
fn measured_deficit() -> Chain {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 10_000))).unwrap();
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 1))).unwrap();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 2_400))).unwrap();
    chain.exec(OTHER, deposit(WBTC, tokens(WBTC, 1))).unwrap();
    chain.exec(OTHER, borrow(USDC, tokens(USDC, 7_000))).unwrap();
    chain.set_price(WETH, usd(1_000));
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, WETH, AmountOrAll::All)).unwrap();
    chain
}

#[test]
fn a_deficit_earns_nothing_the_measured_case() {
    let mut chain = measured_deficit();
    // The whole WETH deposit ($1,000) pays for 1,000 / 1.05 = 952.380953 USDC
    // (rounded up); 2,400 − 952.380953 = 1,447.619047 is bad debt, and the
    // fresh market has no treasury to cover any of it.
    let market = chain.market(USDC);
    assert_eq!((market.deficit, market.treasury), (Amount(1_447_619_047), Amount::ZERO));
    // Cash 10,000 − 2,400 − 7,000 + 952.380953 = 1,552.380953; debt 7,000.
    // Borrow rate from U = 7,000 / 8,552.380953 = 0.818485523326056170360586134
    // (down): 4% × U / 90% = 0.03637713437004694090491494 (up). Supply rate
    // from U_s = 7,000 / (8,552.380953 + 1,447.619047) = 0.7 exactly:
    // 0.03637713437004694090491494 × 0.7 × 0.9 = 0.022917594653129572770096412
    // (down). Before the fix it used U: 0.02679674207577312157424942.
    let index = chain.index(USDC);
    assert_eq!(index.borrow_rate.to_string(), "0.03637713437004694090491494");
    assert_eq!(index.liquidity_rate.to_string(), "0.022917594653129572770096412");

    chain.advance(SECONDS_PER_YEAR);
    chain.mine();
    // A year later: LI = 1.022917594653129572770096412 (linear), BI =
    // 1.037046805252949005640887012 (three-term compounding, up). Supply
    // 10,000 × LI = 10,229.175947 (up); debt 7,000 × BI = 7,259.327636
    // (down). The deficit is what it was, where before the fix suppliers'
    // interest on it took it to 1,456.258832; the treasury holds
    // 1,552.380953 + 7,259.327636 + 1,447.619047 − 10,229.175947 = 30.151689.
    let market = chain.market(USDC);
    assert_eq!(market.deficit, Amount(1_447_619_047));
    assert_eq!((market.total_supply, market.total_debt), (Amount(10_229_175_947), Amount(7_259_327_636)));
    assert_eq!(market.treasury, Amount(30_151_689));
    assert_eq!(chain.deposit_of(SUPPLIER, USDC), 10_229_175_946);
    assert_eq!(chain.debt_of(OTHER, USDC), 7_259_327_637);
}

#[test]
fn cover_deficit_from_the_wallet_and_from_the_treasury() {
    let mut chain = measured_deficit();
    let deficit = 1_447_619_047u128;
    // Only the admin may draw on the treasury; a zero amount is refused.
    assert_eq!(chain.exec(OTHER, cover(some(1), true)), Err(Failure::Unauthorized));
    assert_eq!(chain.exec(OTHER, cover(some(0), false)), Err(Failure::ZeroAmount));
    // Anyone pays from the wallet: 447.619047 into cash, off the deficit.
    let (wallet, cash) = (chain.balance(OTHER, USDC), chain.totals(USDC).cash);
    chain.exec(OTHER, cover(some(447_619_047), false)).unwrap();
    assert_eq!(chain.balance(OTHER, USDC), wallet - 447_619_047);
    assert_eq!(chain.totals(USDC).cash, cash + 447_619_047);
    assert_eq!(chain.market(USDC).deficit, Amount(deficit - 447_619_047));
    // The supply rate follows: U_s = 7,000 / (2,000 + 7,000 + 1,000) = 0.7
    // still (cash rose as the deficit fell), while the borrow rate falls
    // with U = 7,000 / 9,000: 4% × 0.7777... / 0.9 = 0.034567901234567901234567902 (up).
    assert_eq!(chain.index(USDC).borrow_rate.to_string(), "0.034567901234567901234567902");
    // A year of interest builds a treasury of 7,000 × (BI − 1) − 10,000 × (LI − 1).
    chain.advance(SECONDS_PER_YEAR);
    chain.mine();
    let treasury = chain.market(USDC).treasury.0;
    assert!(treasury > 0 && treasury < tokens(USDC, 1_000), "{treasury}");
    // The treasury cannot pay the remaining 1,000 USDC of deficit ...
    assert_eq!(chain.exec(0, cover(AmountOrAll::All, true)), Err(Failure::InsufficientTreasury));
    // ... but can pay what it holds, and the admin's wallet the rest ("all"
    // takes at most the deficit: the admin holds a million).
    chain.exec(0, cover(some(treasury), true)).unwrap();
    let market = chain.market(USDC);
    assert_eq!((market.treasury, market.deficit), (Amount::ZERO, Amount(tokens(USDC, 1_000) - treasury)));
    let admin_wallet = chain.balance(0, USDC);
    chain.exec(0, cover(AmountOrAll::All, false)).unwrap();
    assert_eq!(chain.balance(0, USDC), admin_wallet - (tokens(USDC, 1_000) - treasury));
    assert_eq!(chain.market(USDC).deficit, Amount::ZERO);
    assert_eq!(chain.exec(OTHER, cover(some(1), false)), Err(Failure::NoDeficit));
}

#[test]
fn covering_a_deficit_observes_it_exactly() {
    // Two covers of the same deficit in one block: the second sees what the
    // first left (its `peek` is validated against the serial order).
    let mut chain = measured_deficit();
    let statuses =
        chain.block(&[(OTHER, vec![cover(some(1_000_000_000), false)]), (5, vec![cover(AmountOrAll::All, false)])]);
    assert!(statuses.iter().all(|status| status.is_success()), "{statuses:?}");
    assert_eq!(chain.market(USDC).deficit, Amount::ZERO);
    assert_eq!(default_funding(USDC) - chain.balance(5, USDC), 447_619_047);
}

/// A borrower isolated on 10,000 TBILL ($1, LTV 50%, threshold 60%) with a
/// supplier of USDC.
fn isolated_borrower() -> Chain {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 100_000))).unwrap();
    chain.exec(BORROWER, deposit(TBILL, tokens(TBILL, 10_000))).unwrap();
    // An isolated asset never turns on as collateral by itself.
    assert!(!chain.position(BORROWER).entry(TBILL).unwrap().collateral);
    chain.exec(BORROWER, collateral(TBILL, true)).unwrap();
    chain
}

#[test]
fn isolation_mode_counts_borrows_against_the_ceiling_in_cents() {
    let mut chain = isolated_borrower();
    // Only assets borrowable in isolation: WETH is not, USDC is.
    chain.exec(OTHER, deposit(WETH, tokens(WETH, 10))).unwrap();
    assert_eq!(chain.exec(BORROWER, borrow(WETH, tokens(WETH, 1) / 100)), Err(Failure::NotBorrowableInIsolation));
    // 1,234.567891 USDC counts as 1,234.567891 / 10^(6−2) = 123,456 cents (down).
    chain.exec(BORROWER, borrow(USDC, 1_234_567_891)).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 123_456);
    assert_eq!(chain.position(BORROWER).isolation_debt, 123_456);
    let summary = query::position_summary(&chain.state, Chain::address(BORROWER), chain.timestamp).unwrap();
    let isolation = summary.isolation.unwrap();
    assert_eq!((isolation.collateral, isolation.debt_ceiling_cents), (TBILL, 1_000_000_000));
    assert_eq!((isolation.isolation_debt_cents, isolation.position_debt_cents), (123_456, 123_456));
    // A second isolated borrower shares the ceiling: lower it to $1,500
    // (150,000 cents); 265.44 USDC is 26,544 cents, exactly the room left.
    update_market(&mut chain, TBILL, |params| params.debt_ceiling_cents = 150_000).unwrap();
    chain.exec(5, deposit(TBILL, tokens(TBILL, 1_000))).unwrap();
    chain.exec(5, collateral(TBILL, true)).unwrap();
    assert_eq!(named(chain.exec(5, borrow(USDC, 265_450_000))), Err("DebtCeilingExceeded"));
    chain.exec(5, borrow(USDC, 265_440_000)).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 150_000);
    assert_eq!(named(chain.exec(BORROWER, borrow(USDC, tokens(USDC, 1) / 100))), Err("DebtCeilingExceeded"));
    // Repaying 234.567891 releases 23,456 cents (Aave: total − repaid / 10^4).
    chain.exec(BORROWER, repay(USDC, some(234_567_891))).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 150_000 - 23_456);
    assert_eq!(chain.position(BORROWER).isolation_debt, 100_000);
    // A year later the debt has interest; repaying all releases the record
    // (Aave floors the total at zero: the same for this borrower).
    chain.advance(SECONDS_PER_YEAR);
    chain.mine();
    chain.set_price(TBILL, usd(1));
    chain.set_price(USDC, usd(1));
    assert!(chain.debt_of(BORROWER, USDC) > tokens(USDC, 1_000));
    chain.exec(BORROWER, repay(USDC, AmountOrAll::All)).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 26_544);
    assert_eq!(chain.position(BORROWER).isolation_debt, 0);
}

#[test]
fn isolated_collateral_stands_alone() {
    let mut chain = isolated_borrower();
    // Isolated: no other collateral may be enabled, and a new deposit is
    // not enabled by itself.
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 1))).unwrap();
    assert!(!chain.position(BORROWER).entry(WETH).unwrap().collateral);
    assert_eq!(chain.exec(BORROWER, collateral(WETH, true)), Err(Failure::IsolatedCollateralConflict));
    // With other collateral, an isolated asset cannot join it.
    chain.exec(OTHER, deposit(WETH, tokens(WETH, 1))).unwrap();
    chain.exec(OTHER, deposit(TBILL, tokens(TBILL, 100))).unwrap();
    assert_eq!(chain.exec(OTHER, collateral(TBILL, true)), Err(Failure::IsolatedCollateralConflict));
    // Switching the isolated collateral off ends isolation: WETH may then go on.
    chain.exec(BORROWER, collateral(TBILL, false)).unwrap();
    chain.exec(BORROWER, collateral(WETH, true)).unwrap();
    // An asset with suppliers cannot become isolated (Aave's `_checkNoSuppliers`).
    assert_eq!(
        update_market(&mut chain, WETH, |params| params.debt_ceiling_cents = 100),
        Err(Failure::MarketHasSuppliers)
    );
}

#[test]
fn isolated_liquidations_release_the_repaid_part_not_the_bad_debt() {
    let mut chain = isolated_borrower();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 5_000))).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 500_000);
    // TBILL at $0.80: HF = 8,000 × 60% / 5,000 = 0.96, above 0.95 with both
    // reserves above $2,000: at most 50% of the debt, 2,500 USDC, which
    // seizes 2,500 / 0.8 × 1.05 = 3,281.25 TBILL and releases 250,000 cents.
    chain.set_price(TBILL, Wad(800_000_000_000_000_000));
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, TBILL, AmountOrAll::All)).unwrap();
    assert_eq!(chain.debt_of(BORROWER, USDC), tokens(USDC, 2_500));
    assert_eq!(chain.deposit_of(BORROWER, TBILL), 6_718_750_000);
    assert_eq!(chain.totals(TBILL).isolation_debt, 250_000);
    // TBILL at $0.30: the remaining 6,718.75 TBILL ($2,015.625) pays for
    // 2,015.625 / 1.05 = 1,919.642858 USDC (up), releasing 191,964 cents;
    // the other 580.357142 USDC is bad debt: a deficit (no treasury yet),
    // and 58,036 cents stay counted against the ceiling, as in Aave 3.4.
    chain.set_price(TBILL, Wad(300_000_000_000_000_000));
    let before = chain.balance(LIQUIDATOR, USDC);
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, TBILL, AmountOrAll::All)).unwrap();
    assert_eq!(before - chain.balance(LIQUIDATOR, USDC), 1_919_642_858);
    assert_eq!(chain.market(USDC).deficit, Amount(580_357_142));
    assert_eq!(chain.totals(TBILL).isolation_debt, 58_036);
    assert!(!chain.state.contains_key(&StateKey::Position { owner: Chain::address(BORROWER) }));
}

#[test]
fn turning_isolation_off_resets_the_total() {
    let mut chain = isolated_borrower();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 1_000))).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 100_000);
    // Aave's `resetIsolationModeTotalDebt`: the ceiling to zero clears it.
    update_market(&mut chain, TBILL, |params| params.debt_ceiling_cents = 0).unwrap();
    assert_eq!(chain.totals(TBILL).isolation_debt, 0);
    // The borrower is no longer isolated: its stale record goes on the next
    // repayment, without touching the (reset) total.
    chain.exec(BORROWER, repay(USDC, some(tokens(USDC, 10)))).unwrap();
    assert_eq!(chain.position(BORROWER).isolation_debt, 0);
    assert_eq!(chain.totals(TBILL).isolation_debt, 0);
    // TBILL has suppliers now: it cannot be isolated again.
    assert_eq!(
        update_market(&mut chain, TBILL, |params| params.debt_ceiling_cents = 1),
        Err(Failure::MarketHasSuppliers)
    );
}

/// A position with 10,000 USDC of collateral in the stablecoin e-mode.
fn emode_position() -> Chain {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 100_000))).unwrap();
    chain.exec(BORROWER, deposit(USDC, tokens(USDC, 10_000))).unwrap();
    chain.exec(BORROWER, Instruction::SetEMode { category: DEV_STABLECOIN_EMODE }).unwrap();
    chain
}

#[test]
fn emode_raises_ltv_and_threshold_within_the_category() {
    let mut chain = emode_position();
    // Category LTV 93%: $9,300 of borrowing power, where USDC's own 77% gives $7,700.
    let health = chain.health(BORROWER).health.unwrap();
    assert_eq!((health.borrowing_power, health.liquidation_value), (usd(9_300), usd(9_500)));
    // The failure says by how much: $9,300.000001 of debt against $9,300.
    let needed = Wad(9_300_000_001 * 1_000_000_000_000);
    let refused = Failure::InsufficientCollateral { available: usd(9_300), needed };
    assert_eq!(chain.exec(BORROWER, borrow(USDC, 9_300_000_001)), Err(refused));
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 9_300))).unwrap();
    // HF = 10,000 × 95% / 9,300 = 1.021505376344086021 (down).
    assert_eq!(chain.health_factor(BORROWER).to_string(), "1.021505376344086021");
    // Borrows outside the category are refused; leaving would drop the
    // health factor to 10,000 × 80% / 9,300 < 1.
    chain.exec(OTHER, deposit(WETH, tokens(WETH, 10))).unwrap();
    assert_eq!(chain.exec(BORROWER, borrow(WETH, 1_000)), Err(Failure::NotBorrowableInEMode));
    assert_eq!(named(chain.exec(BORROWER, Instruction::SetEMode { category: 0 })), Err("HealthFactorTooLow"));
    // Collateral outside the category keeps its own parameters: 1 WETH adds
    // $3,000 × 80% of borrowing power and × 83% of liquidation value.
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 1))).unwrap();
    let health = chain.health(BORROWER).health.unwrap();
    assert_eq!((health.borrowing_power, health.liquidation_value), (usd(11_700), usd(11_990)));
    let summary = query::position_summary(&chain.state, Chain::address(BORROWER), chain.timestamp).unwrap();
    assert_eq!(summary.emode_category, DEV_STABLECOIN_EMODE);
}

#[test]
fn entering_emode_needs_every_borrow_in_the_category() {
    let mut chain = Chain::new();
    chain.exec(OTHER, deposit(WETH, tokens(WETH, 10))).unwrap();
    chain.exec(BORROWER, deposit(USDC, tokens(USDC, 10_000))).unwrap();
    chain.exec(BORROWER, borrow(WETH, tokens(WETH, 1))).unwrap();
    assert_eq!(chain.exec(BORROWER, Instruction::SetEMode { category: 1 }), Err(Failure::NotBorrowableInEMode));
    assert_eq!(chain.exec(BORROWER, Instruction::SetEMode { category: 9 }), Err(Failure::UnknownEModeCategory));
    chain.exec(BORROWER, repay(WETH, AmountOrAll::All)).unwrap();
    chain.exec(BORROWER, Instruction::SetEMode { category: 1 }).unwrap();
    assert_eq!(chain.position(BORROWER).emode_category, 1);
    // An empty position keeps its category; leaving with nothing deletes the key.
    chain.exec(BORROWER, Instruction::Withdraw { asset: USDC, amount: AmountOrAll::All }).unwrap();
    assert!(chain.state.contains_key(&StateKey::Position { owner: Chain::address(BORROWER) }));
    chain.exec(BORROWER, Instruction::SetEMode { category: 0 }).unwrap();
    assert!(!chain.state.contains_key(&StateKey::Position { owner: Chain::address(BORROWER) }));
}

#[test]
fn emode_liquidation_pays_the_category_bonus() {
    let mut chain = emode_position();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 9_300))).unwrap();
    // The admin lowers the category to LTV and threshold 90%: HF = 10,000 ×
    // 90% / 9,300 = 0.967741935483870967, above 0.95, so 50% of the debt
    // (4,650 USDC) may be repaid. The bonus is the category's 1% (USDC's
    // own is 4.5%): 4,650 × 1.01 = 4,696.5 USDC seized, of which the
    // protocol keeps 10% of the 46.5 bonus: 4.65; the liquidator gets 4,691.85.
    let category =
        EModeCategory { id: 1, ltv: Bps(9_000), liquidation_threshold: Bps(9_000), liquidation_bonus: Bps(10_100) };
    chain.exec(0, Instruction::SetEModeCategory { category }).unwrap();
    assert_eq!(chain.health_factor(BORROWER).to_string(), "0.967741935483870967");
    let before = chain.balance(LIQUIDATOR, USDC);
    chain.exec(LIQUIDATOR, liquidate(BORROWER, USDC, USDC, AmountOrAll::All)).unwrap();
    assert_eq!(chain.balance(LIQUIDATOR, USDC) - before, 4_691_850_000 - 4_650_000_000);
    assert_eq!(chain.debt_of(BORROWER, USDC), tokens(USDC, 4_650));
    assert_eq!(chain.deposit_of(BORROWER, USDC), tokens(USDC, 10_000) - 4_696_500_000);
    assert_eq!(chain.market(USDC).treasury, Amount(4_650_000));
}

#[test]
fn emode_categories_are_admin_only_validated_and_bounded() {
    let mut chain = Chain::new();
    let category =
        EModeCategory { id: 2, ltv: Bps(9_000), liquidation_threshold: Bps(9_300), liquidation_bonus: Bps(10_200) };
    assert_eq!(chain.exec(1, Instruction::SetEModeCategory { category }), Err(Failure::Unauthorized));
    let invalid = EModeCategory { ltv: Bps(9_400), ..category };
    assert_eq!(chain.exec(0, Instruction::SetEModeCategory { category: invalid }), Err(Failure::InvalidParameters));
    chain.exec(0, Instruction::SetEModeCategory { category }).unwrap();
    assert_eq!(chain.config().emode_category(2), Some(&category));
    // A market may only join an existing category.
    assert_eq!(update_market(&mut chain, WETH, |params| params.emode_category = 3), Err(Failure::UnknownEModeCategory));
    update_market(&mut chain, WETH, |params| params.emode_category = 2).unwrap();
    assert_eq!(chain.market(WETH).emode, Some(category));
    for id in 3..=u8::try_from(crate::limits::EMODE_CATEGORIES_MAX).unwrap() {
        chain.exec(0, Instruction::SetEModeCategory { category: EModeCategory { id, ..category } }).unwrap();
    }
    let one_more = EModeCategory { id: 200, ..category };
    assert_eq!(
        chain.exec(0, Instruction::SetEModeCategory { category: one_more }),
        Err(Failure::TooManyEModeCategories)
    );
}

#[test]
fn flash_loans_need_their_flag_and_borrowing() {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(TBILL, tokens(TBILL, 1_000))).unwrap();
    chain.exec(SUPPLIER, deposit(WETH, tokens(WETH, 1))).unwrap();
    let flash = |asset: AssetId, amount: u128| {
        vec![Instruction::FlashBorrow { asset, amount: Amount(amount) }, Instruction::FlashRepay { asset }]
    };
    // The dev T-bill has flash loans off ...
    assert_eq!(chain.run(OTHER, flash(TBILL, 1_000)), Err((0, Failure::FlashLoanDisabled)));
    // ... and with the flag on, borrowing is still disabled.
    update_market(&mut chain, TBILL, |params| params.flash_loan_enabled = true).unwrap();
    assert_eq!(chain.run(OTHER, flash(TBILL, 1_000)), Err((0, Failure::BorrowingDisabled)));
    chain.run(OTHER, flash(WETH, 1_000)).unwrap();
    update_market(&mut chain, WETH, |params| params.borrowing_enabled = false).unwrap();
    assert_eq!(chain.run(OTHER, flash(WETH, 1_000)), Err((0, Failure::BorrowingDisabled)));
}

#[test]
fn a_frozen_collateral_lends_nothing_but_still_protects() {
    let mut chain = Chain::new();
    chain.exec(SUPPLIER, deposit(USDC, tokens(USDC, 100_000))).unwrap();
    chain.exec(BORROWER, deposit(WETH, tokens(WETH, 1))).unwrap();
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 1_000))).unwrap();
    update_market(&mut chain, WETH, |params| params.frozen = true).unwrap();
    // Borrowing power 0 (Aave 3.1: a frozen reserve's LTV is 0); the health
    // factor still counts the threshold: 3,000 × 83% / 1,000 = 2.49.
    let health = chain.health(BORROWER).health.unwrap();
    assert_eq!((health.borrowing_power, health.liquidation_value), (Wad::ZERO, usd(2_490)));
    assert_eq!(health.health_factor.to_string(), "2.49");
    assert_eq!(named(chain.exec(BORROWER, borrow(USDC, 1))), Err("InsufficientCollateral"));
    // No new deposits, no enabling as collateral; withdrawals that keep HF >= 1 go on.
    assert_eq!(chain.exec(BORROWER, deposit(WETH, 1)), Err(Failure::MarketFrozen));
    chain.exec(BORROWER, Instruction::Withdraw { asset: WETH, amount: some(tokens(WETH, 1) / 2) }).unwrap();
    chain.exec(OTHER, deposit(USDC, tokens(USDC, 10))).unwrap();
    update_market(&mut chain, WETH, |params| params.frozen = false).unwrap();
    chain.exec(OTHER, deposit(WETH, 1_000)).unwrap();
    chain.exec(OTHER, collateral(WETH, false)).unwrap();
    update_market(&mut chain, WETH, |params| params.frozen = true).unwrap();
    assert_eq!(chain.exec(OTHER, collateral(WETH, true)), Err(Failure::NotCollateral));
    // Unfrozen, the LTV is back: 0.5 WETH × $3,000 × 80% = $1,200 of power.
    update_market(&mut chain, WETH, |params| params.frozen = false).unwrap();
    assert_eq!(chain.health(BORROWER).health.unwrap().borrowing_power, usd(1_200));
    chain.exec(BORROWER, borrow(USDC, tokens(USDC, 200))).unwrap();
}
