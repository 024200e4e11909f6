//! Health: what a position's collateral is worth against its debt.
//!
//! ```text
//! collateral value  = Σ deposit × price            over enabled collateral (rounded down)
//! borrowing power   = Σ value × LTV                                        (rounded down)
//! liquidation value = Σ value × liquidation threshold                      (rounded down)
//! debt value        = Σ debt × price                                       (rounded up)
//! health factor     = liquidation value / debt value                       (rounded down)
//! ```
//!
//! The health factor is "infinite" ([`Wad::MAX`]) without debt. A borrow
//! must leave `borrowing power >= debt value`; a withdrawal or a collateral
//! switch-off must leave `health factor >= 1`; below 1 a position can be
//! liquidated. A deposit counts only while its collateral flag is on and
//! its market's liquidation threshold is positive. LTV and threshold are
//! the market's, or its e-mode category's for a position in that category;
//! a frozen market's LTV counts as zero ([`crate::emode::collateral_risk`]).

use parlend_ledger::exec::TxView;
use parlend_ledger::{AssetId, MathError, Rounding, Wad};
use serde::{Deserialize, Serialize};

use crate::emode::{EModeCategory, collateral_risk};
use crate::failure::Failure;
use crate::market::{MarketConfig, MarketIndex, read_index, read_market};
use crate::oracle::{read_fresh_price, value};
use crate::position::{Position, PositionEntry, debt_balance, deposit_balance};

/// Below this health factor a position can be liquidated; a withdrawal or
/// collateral switch-off must not take a position with debt below it.
pub const HEALTH_FACTOR_THRESHOLD: Wad = Wad::ONE;

/// A market as a health computation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketView {
    /// Its configuration.
    pub config: MarketConfig,
    /// Its indices, accrued to the time of the computation.
    pub index: MarketIndex,
    /// Its price, when one is needed and known.
    pub price: Option<Wad>,
}

/// A position's values, USD with 18 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Σ value of enabled collateral.
    pub collateral_value: Wad,
    /// Σ collateral value × LTV: the most debt the position may take.
    pub borrowing_power: Wad,
    /// Σ collateral value × liquidation threshold: the numerator of the health factor.
    pub liquidation_value: Wad,
    /// Σ debt value.
    pub debt_value: Wad,
    /// `liquidation_value / debt_value`; [`Wad::MAX`] without debt.
    pub health_factor: Wad,
}

/// Whether an entry's value enters the health factor, so its price is needed.
pub fn needs_price(entry: &PositionEntry, market: &MarketConfig) -> bool {
    entry.scaled_debt > 0 || counts_as_collateral(entry, market)
}

/// Whether an entry's deposit counts as collateral.
pub fn counts_as_collateral(entry: &PositionEntry, market: &MarketConfig) -> bool {
    entry.is_collateral() && market.params.liquidation_threshold.0 > 0
}

/// Whether an entry takes part in health at all (its market must be read).
pub fn is_relevant(entry: &PositionEntry) -> bool {
    entry.scaled_debt > 0 || entry.is_collateral()
}

/// `liquidation_value / debt_value`, rounded down; [`Wad::MAX`] without
/// debt or when the ratio does not fit (as good as infinite).
pub fn health_factor(liquidation_value: Wad, debt_value: Wad) -> Wad {
    if debt_value == Wad::ZERO {
        return Wad::MAX;
    }
    liquidation_value.div(debt_value, Rounding::Down).unwrap_or(Wad::MAX)
}

/// The market of `asset` in `markets`.
pub fn market_of(markets: &[MarketView], asset: AssetId) -> Result<&MarketView, Failure> {
    markets.iter().find(|market| market.config.asset == asset).ok_or(Failure::CorruptState)
}

/// Collateral value (down) of an entry's deposit; zero when it does not count.
pub fn collateral_value(entry: &PositionEntry, market: &MarketView) -> Result<Wad, Failure> {
    if !counts_as_collateral(entry, &market.config) {
        return Ok(Wad::ZERO);
    }
    let price = market.price.ok_or(Failure::PriceMissing { asset: market.config.asset })?;
    let deposit = deposit_balance(entry.scaled_deposit, market.index.liquidity_index)?;
    Ok(value(deposit, price, market.config.decimals, Rounding::Down)?)
}

/// Debt value (up) of an entry.
pub fn debt_value(entry: &PositionEntry, market: &MarketView) -> Result<Wad, Failure> {
    if entry.scaled_debt == 0 {
        return Ok(Wad::ZERO);
    }
    let price = market.price.ok_or(Failure::PriceMissing { asset: market.config.asset })?;
    let debt = debt_balance(entry.scaled_debt, market.index.borrow_index)?;
    Ok(value(debt, price, market.config.decimals, Rounding::Up)?)
}

/// Evaluates a position in e-mode category `emode` (none: not in e-mode)
/// against its markets (which must include every relevant entry's market).
pub fn evaluate(position: &Position, markets: &[MarketView], emode: Option<&EModeCategory>) -> Result<Health, Failure> {
    let mut health = Health {
        collateral_value: Wad::ZERO,
        borrowing_power: Wad::ZERO,
        liquidation_value: Wad::ZERO,
        debt_value: Wad::ZERO,
        health_factor: Wad::MAX,
    };
    for entry in position.entries.iter().filter(|entry| is_relevant(entry)) {
        let market = market_of(markets, entry.asset)?;
        let risk = collateral_risk(&market.config.params, emode);
        let collateral = collateral_value(entry, market)?;
        health.collateral_value = health.collateral_value.checked_add(collateral)?;
        health.borrowing_power = add_share(health.borrowing_power, collateral, risk.ltv)?;
        health.liquidation_value = add_share(health.liquidation_value, collateral, risk.liquidation_threshold)?;
        health.debt_value = health.debt_value.checked_add(debt_value(entry, market)?)?;
    }
    health.health_factor = health_factor(health.liquidation_value, health.debt_value);
    Ok(health)
}

/// `sum + value × share`, the product rounded down.
fn add_share(sum: Wad, value: Wad, share: parlend_ledger::Bps) -> Result<Wad, MathError> {
    sum.checked_add(Wad(share.apply(value.0, Rounding::Down)?))
}

/// Reads the markets a position's health depends on, with fresh prices
/// (`PriceMissing`, `PriceStale`) for every entry whose value counts.
pub fn load_markets(view: &mut TxView<'_>, position: &Position, now: u64) -> Result<Vec<MarketView>, Failure> {
    let mut markets = Vec::with_capacity(position.entries.len());
    for entry in position.entries.iter().filter(|entry| is_relevant(entry)) {
        let config = read_market(view, entry.asset)?;
        let index = read_index(view, entry.asset)?;
        let price = if needs_price(entry, &config) { Some(read_fresh_price(view, &config, now)?) } else { None };
        markets.push(MarketView { config, index, price });
    }
    Ok(markets)
}

/// Fails with `HealthFactorTooLow` when a position (in e-mode category
/// `emode`) with debt has a health factor below 1. Without debt nothing is
/// read (no price can block it).
pub fn require_healthy(
    view: &mut TxView<'_>,
    position: &Position,
    emode: Option<&EModeCategory>,
    now: u64,
) -> Result<(), Failure> {
    if !position.has_debt() {
        return Ok(());
    }
    let markets = load_markets(view, position, now)?;
    let health = evaluate(position, &markets, emode)?;
    if health.health_factor < HEALTH_FACTOR_THRESHOLD {
        return Err(Failure::HealthFactorTooLow { health_factor: health.health_factor });
    }
    Ok(())
}

/// Fails with `InsufficientCollateral` unless the borrowing power covers
/// the debt of a position in e-mode category `emode`.
pub fn require_borrowing_power(
    markets: &[MarketView],
    position: &Position,
    emode: Option<&EModeCategory>,
) -> Result<(), Failure> {
    let health = evaluate(position, markets, emode)?;
    if health.borrowing_power < health.debt_value {
        return Err(Failure::InsufficientCollateral { available: health.borrowing_power, needed: health.debt_value });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use parlend_ledger::{Bps, Ray};

    use super::*;
    use crate::market::tests::params;
    use crate::market::{MarketIndex, MarketParams};

    fn market(symbol: &str, decimals: u8, threshold: u16, price: u128) -> MarketView {
        let params =
            MarketParams { ltv: Bps(threshold.saturating_sub(500)), liquidation_threshold: Bps(threshold), ..params() };
        MarketView {
            config: MarketConfig { asset: AssetId::new(symbol).unwrap(), decimals, params },
            index: MarketIndex::initial(
                crate::interest::Rates { borrow_rate: Ray::ZERO, liquidity_rate: Ray::ZERO },
                0,
            ),
            price: Some(Wad(price * Wad::SCALE)),
        }
    }

    fn entry(symbol: &str, deposit: u128, debt: u128) -> PositionEntry {
        PositionEntry {
            asset: AssetId::new(symbol).unwrap(),
            scaled_deposit: deposit,
            scaled_debt: debt,
            collateral: deposit > 0,
        }
    }

    #[test]
    fn health_factor_of_10000_at_80_percent_against_6000() {
        // $10,000 of USDC collateral at an 80% threshold, $6,000 of WETH debt (2 WETH at $3,000).
        let markets = [market("USDC", 6, 8_000, 1), market("WETH", 18, 8_300, 3_000)];
        let position = Position {
            entries: vec![entry("USDC", 10_000_000_000, 0), entry("WETH", 0, 2 * 10u128.pow(18))],
            ..Default::default()
        };
        let health = evaluate(&position, &markets, None).unwrap();
        assert_eq!(health.collateral_value.to_string(), "10000");
        assert_eq!(health.liquidation_value.to_string(), "8000");
        assert_eq!(health.borrowing_power.to_string(), "7500");
        assert_eq!(health.debt_value.to_string(), "6000");
        assert_eq!(health.health_factor.to_string(), "1.333333333333333333");
    }

    #[test]
    fn no_debt_is_infinite_and_disabled_collateral_does_not_count() {
        let markets = [market("USDC", 6, 8_000, 1)];
        let mut position = Position { entries: vec![entry("USDC", 5_000_000, 0)], ..Default::default() };
        assert_eq!(evaluate(&position, &markets, None).unwrap().health_factor, Wad::MAX);
        position.entries[0].collateral = false;
        assert_eq!(evaluate(&position, &markets, None).unwrap().collateral_value, Wad::ZERO);
    }

    #[test]
    fn a_missing_price_is_reported() {
        let mut usdc = market("USDC", 6, 8_000, 1);
        usdc.price = None;
        let position = Position { entries: vec![entry("USDC", 0, 5)], ..Default::default() };
        assert_eq!(evaluate(&position, &[usdc], None), Err(Failure::PriceMissing { asset: usdc.config.asset }));
        assert_eq!(health_factor(Wad(u128::MAX), Wad(1)), Wad::MAX);
    }
}
