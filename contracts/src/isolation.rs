//! Isolation mode, with Aave 3.x's rules.
//!
//! A market with a positive `debt_ceiling_cents` is an **isolated
//! collateral** (new or real-world assets such as a tokenized T-bill). A
//! position whose only enabled collateral is such an asset is **in
//! isolation mode** (Aave's `getIsolationModeState`):
//!
//! - it may borrow only assets flagged `borrowable_in_isolation`
//!   (`NotBorrowableInIsolation`), and all isolated positions together at
//!   most the collateral's ceiling (`DebtCeilingExceeded`), counted in USD
//!   cents as Aave counts them: `amount / 10^(decimals − 2)`, rounded down,
//!   the borrowed stablecoin taken at $1;
//! - it cannot enable another collateral, and an isolated asset cannot be
//!   enabled beside other collateral (`IsolatedCollateralConflict`);
//! - an isolated asset never turns on as collateral by itself on a first
//!   deposit (Aave enables it only for a privileged supplier): the user
//!   enables it with `SetCollateral`.
//!
//! # The isolation debt is an aggregate
//!
//! The total lives in the isolated market's `MarketTotals`
//! ([`crate::market::ISOLATION_DEBT_FIELD`]) and changes only by bounded
//! deltas: a borrow adds within the ceiling (`add_capped`), so borrowers
//! against one isolated asset do not conflict. Aave lowers the total on a
//! repayment by the amount repaid, stopping at zero; a delta cannot stop at
//! a value it does not read, so each position records what it added
//! (`Position::isolation_debt`) and releases at most that: a repayment
//! releases `min(repaid cents, recorded)`, and a position left without debt
//! releases the rest. The total is thus never below the sum of the
//! records. With one borrower the figures are Aave's; with several, one
//! borrower's interest payments cannot release another's room, as Aave's
//! shared floor lets them.
//!
//! As in Aave 3.4, bad debt burned in a liquidation is not released: the
//! ceiling keeps counting a loss against the asset that caused it (the
//! admin may raise the ceiling). The part a liquidator repays is.
//!
//! When the admin turns isolation off (ceiling to zero) the total is reset
//! (Aave's `resetIsolationModeTotalDebt`) and positions drop their records
//! the next time they borrow or repay; turning it on requires a market
//! without suppliers (Aave's `_checkNoSuppliers`), so no position can be
//! isolated with a stale record.

use parlend_ledger::exec::TxView;

use crate::emode::collateral_risk;
use crate::failure::Failure;
use crate::health::{MarketView, market_of};
use crate::limits::ISOLATION_DEBT_DECIMALS;
use crate::market::{MarketConfig, add_isolation_debt, read_market, sub_isolation_debt};
use crate::oracle::unit;
use crate::position::Position;

/// The isolated collateral of a position in isolation mode, reading its
/// market: the position's only collateral, when that market is isolated.
pub fn isolated_collateral(view: &mut TxView<'_>, position: &Position) -> Result<Option<MarketConfig>, Failure> {
    let Some(asset) = only_collateral(position) else {
        return Ok(None);
    };
    let market = read_market(view, asset)?;
    Ok(market.params.is_isolated().then_some(market))
}

/// [`isolated_collateral`] from markets already loaded (they must include
/// the collateral's).
pub fn isolated_collateral_in(position: &Position, markets: &[MarketView]) -> Result<Option<MarketConfig>, Failure> {
    let Some(asset) = only_collateral(position) else {
        return Ok(None);
    };
    let market = market_of(markets, asset)?.config;
    Ok(market.params.is_isolated().then_some(market))
}

/// The position's collateral asset when it has exactly one.
fn only_collateral(position: &Position) -> Option<parlend_ledger::AssetId> {
    let mut collateral = position.collateral_entries();
    match (collateral.next(), collateral.next()) {
        (Some(only), None) => Some(only.asset),
        _ => None,
    }
}

/// USD cents that `amount` of an asset with `decimals` counts as against a
/// debt ceiling, rounded down (Aave's `convertToIsolatedDebtUnits`).
pub fn isolation_cents(amount: u128, decimals: u8) -> Result<u128, Failure> {
    if decimals >= ISOLATION_DEBT_DECIMALS {
        return Ok(amount / unit(decimals - ISOLATION_DEBT_DECIMALS)?);
    }
    amount.checked_mul(unit(ISOLATION_DEBT_DECIMALS - decimals)?).ok_or(Failure::MathOverflow)
}

/// Whether a first deposit of `market` turns on as collateral by itself
/// (Aave's `validateAutomaticUseAsCollateral`): never for an isolated
/// asset or one that lends nothing (LTV zero, frozen); otherwise when the
/// position has no collateral yet or is not in isolation mode.
pub fn enables_automatically(
    view: &mut TxView<'_>,
    position: &Position,
    market: &MarketConfig,
) -> Result<bool, Failure> {
    if market.params.is_isolated() || collateral_risk(&market.params, None).ltv.0 == 0 {
        return Ok(false);
    }
    if position.collateral_entries().next().is_none() {
        return Ok(true);
    }
    Ok(isolated_collateral(view, position)?.is_none())
}

/// Whether `market` may be enabled as collateral beside the position's
/// other collateral (Aave's `validateUseAsCollateral`), the LTV aside:
/// alone, always; beside others, only when neither it nor the position is
/// isolated (`IsolatedCollateralConflict`).
pub fn check_collateral_allowed(
    view: &mut TxView<'_>,
    position: &Position,
    market: &MarketConfig,
) -> Result<(), Failure> {
    if position.collateral_entries().all(|entry| entry.asset == market.asset) {
        return Ok(());
    }
    if market.params.is_isolated() || isolated_collateral(view, position)?.is_some() {
        return Err(Failure::IsolatedCollateralConflict);
    }
    Ok(())
}

/// A borrow of `borrowed` by a position isolated on `collateral` must be of
/// an asset borrowable in isolation (`NotBorrowableInIsolation`).
pub fn check_borrowable(collateral: Option<&MarketConfig>, borrowed: &MarketConfig) -> Result<(), Failure> {
    match collateral {
        Some(_) if !borrowed.params.borrowable_in_isolation => Err(Failure::NotBorrowableInIsolation),
        _ => Ok(()),
    }
}

/// Counts a borrow of `amount` of `borrowed` against the ceiling of the
/// position's isolated `collateral` (`DebtCeilingExceeded` past it) and in
/// the position's record. Outside isolation mode, drops a stale record.
pub fn record_borrow(
    view: &mut TxView<'_>,
    position: &mut Position,
    collateral: Option<&MarketConfig>,
    borrowed: &MarketConfig,
    amount: u128,
) -> Result<(), Failure> {
    let Some(collateral) = collateral else {
        position.isolation_debt = 0;
        return Ok(());
    };
    let cents = isolation_cents(amount, borrowed.decimals)?;
    add_isolation_debt(view, collateral, cents)?;
    position.isolation_debt = position.isolation_debt.checked_add(cents).ok_or(Failure::MathOverflow)?;
    Ok(())
}

/// What becomes of a position's remaining record once it has no debt left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// Released: the debt was repaid.
    Release,
    /// Kept in the total, dropped from the record: the debt was burned as
    /// bad debt (Aave 3.4 does not discount it from the ceiling).
    Keep,
}

/// Releases the ceiling room of a repayment of `amount` of `repaid` (its
/// cents, at most the record), and the whole record when the position has
/// no debt left and `leftover` says so. Call with the position after the
/// repayment and the isolated collateral before it. Outside isolation
/// mode, drops a stale record.
pub fn release(
    view: &mut TxView<'_>,
    position: &mut Position,
    collateral: Option<&MarketConfig>,
    repaid: &MarketConfig,
    amount: u128,
    leftover: Leftover,
) -> Result<(), Failure> {
    let Some(collateral) = collateral else {
        position.isolation_debt = 0;
        return Ok(());
    };
    let mut released = isolation_cents(amount, repaid.decimals)?.min(position.isolation_debt);
    if !position.has_debt() && leftover == Leftover::Release {
        released = position.isolation_debt;
    }
    if released > 0 {
        sub_isolation_debt(view, collateral.asset, released)?;
    }
    position.isolation_debt -= released;
    if !position.has_debt() {
        position.isolation_debt = 0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_down_as_aave_counts_them() {
        // 1,234.567891 USDC is 123,456 cents; 0.009999 USDC is none.
        assert_eq!(isolation_cents(1_234_567_891, 6), Ok(123_456));
        assert_eq!(isolation_cents(9_999, 6), Ok(0));
        // 1.5 of an 18-decimal stable: 150 cents; a 1-decimal token scales up.
        assert_eq!(isolation_cents(1_500_000_000_000_000_000, 18), Ok(150));
        assert_eq!(isolation_cents(15, 1), Ok(150));
        assert_eq!(isolation_cents(u128::MAX, 0), Err(Failure::MathOverflow));
    }
}
