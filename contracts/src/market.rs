//! Markets: parameters, indices and totals, and the bounded operations on
//! the totals that keep users of one market from conflicting.
//!
//! # Totals are deltas
//!
//! `MarketTotals{asset}` is a ledger aggregate with five `u128` fields:
//! [`SCALED_SUPPLY_FIELD`], [`SCALED_DEBT_FIELD`], [`CASH_FIELD`],
//! [`DEFICIT_FIELD`] and [`ISOLATION_DEBT_FIELD`]. Transactions change it
//! only with `add`, `add_capped` and `sub`, never by reading it, so
//! simulation declares it `delta` and any number of users of one market run
//! in parallel; caps, cash and the isolation debt ceiling are bounded
//! operations the executor validates against the serial order. The rare
//! paths that need an exact figure (bad debt meeting the treasury, a
//! deficit being covered) observe fields with `peek`, which the parallel
//! executor validates the same way.
//!
//! # Treasury is derived, the deficit is recorded
//!
//! Aave stores `accruedToTreasury` per reserve. parlend does not: the
//! treasury follows from the totals and the indices.
//!
//! ```text
//! total_debt   = scaled_debt   × borrow_index     (rounded down)
//! total_supply = scaled_supply × liquidity_index  (rounded up)
//! equity       = cash + total_debt + deficit − total_supply
//! treasury     = max(equity, 0)      shortfall = max(−equity, 0)
//! ```
//!
//! The rounding is the protocol's conservative view of itself: it counts
//! its claims low and its obligations high. Everything that is not owed to
//! suppliers lands in the equity by construction: the reserve factor (the
//! borrow index outgrows the liquidity index), flash-loan fees and
//! liquidation protocol fees (cash in, no supply minted) and rounding dust.
//! Storing the treasury would force every transaction that changes it to
//! read-modify-write one key per market, serialising the whole market; the
//! derived form keeps every totals change a commutative delta.
//!
//! The **deficit** is recorded, as in Aave 3.4: bad debt burned from a
//! borrower whose collateral ran out, less what the treasury covered at
//! that moment ([`crate::deficit`]). It is a claim the market still counts
//! among its assets (suppliers' deposits are not cut), but it earns
//! nothing: the supply rate spreads the borrowers' interest over
//! `cash + debt + deficit` ([`crate::interest::rates`]), so suppliers'
//! claims grow only by what borrowers pay and the deficit stays what it
//! was until the treasury or a `CoverDeficit` pays it off. The shortfall is
//! what the books lack beyond the recorded deficit: rounding units at most.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::exec::{TxView, ViewError};
use parlend_ledger::state::Fields;
use parlend_ledger::{Amount, AssetId, Bps, MathError, Ray, Rounding, StateKey};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::interest::Rates;
use crate::limits::{BORROW_RATE_MAX, DEBT_CEILING_CENTS_MAX};
use crate::state::read;

/// Field of `MarketTotals` holding the suppliers' scaled deposits.
pub const SCALED_SUPPLY_FIELD: usize = 0;
/// Field of `MarketTotals` holding the borrowers' scaled debt.
pub const SCALED_DEBT_FIELD: usize = 1;
/// Field of `MarketTotals` holding the underlying tokens the market holds.
pub const CASH_FIELD: usize = 2;
/// Field of `MarketTotals` holding the recorded deficit, underlying units.
pub const DEFICIT_FIELD: usize = 3;
/// Field of `MarketTotals` holding the debt borrowed against this market's
/// asset in isolation mode, USD cents (Aave's `isolationModeTotalDebt`).
pub const ISOLATION_DEBT_FIELD: usize = 4;

/// A market's parameters, set by `CreateMarket` and `UpdateMarket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarketParams {
    /// Loan to value: the share of a deposit's value that may be borrowed against.
    pub ltv: Bps,
    /// Above this share of the collateral value, debt can be liquidated.
    pub liquidation_threshold: Bps,
    /// What a liquidator receives per unit of debt repaid, in collateral
    /// value (10_500 is a 5% bonus, as in Aave).
    pub liquidation_bonus: Bps,
    /// Share of the liquidation bonus kept by the protocol.
    pub liquidation_protocol_fee: Bps,
    /// Share of borrowers' interest kept by the protocol.
    pub reserve_factor: Bps,
    /// Borrow rate at zero utilization, per year.
    pub base_rate: Ray,
    /// Borrow rate added between zero and optimal utilization.
    pub slope1: Ray,
    /// Borrow rate added between optimal and full utilization.
    pub slope2: Ray,
    /// The kink of the rate curve, in `(0, 1]`.
    pub optimal_utilization: Ray,
    /// Most underlying that suppliers may hold, base units; zero means no cap.
    pub supply_cap: Amount,
    /// Most underlying that borrowers may owe, base units; zero means no cap.
    pub borrow_cap: Amount,
    /// Fee on flash loans, of the amount borrowed.
    pub flash_loan_fee: Bps,
    /// A price older than this blocks borrows, withdrawals with debt,
    /// collateral switch-off and liquidations.
    pub price_staleness_seconds: u64,
    /// Whether the asset may be borrowed.
    pub borrowing_enabled: bool,
    /// Nothing moves: no deposit, withdrawal, borrow, repayment, liquidation
    /// or flash loan.
    pub paused: bool,
    /// No new deposits or borrows, and the asset's LTV counts as zero
    /// (Aave 3.1); repayments, withdrawals and liquidations go on.
    pub frozen: bool,
    /// Isolation mode: when positive, the asset is an isolated collateral.
    /// A position whose only collateral it is may borrow only assets
    /// borrowable in isolation, and all such positions together at most
    /// this much, USD cents (Aave's debt ceiling, 2 decimals). Zero: not
    /// isolated.
    pub debt_ceiling_cents: u64,
    /// Whether positions in isolation mode may borrow the asset (Aave's
    /// `borrowableInIsolation`, for stablecoins).
    pub borrowable_in_isolation: bool,
    /// Whether the asset may be flash-borrowed.
    pub flash_loan_enabled: bool,
    /// The e-mode category the asset belongs to (as collateral and as a
    /// borrow); zero for none.
    pub emode_category: u8,
}

/// Whether `threshold × bonus <= 100%`: a liquidation's seizure (the debt
/// repaid times the bonus) then never needs more than the collateral that
/// backs the debt at the threshold.
pub fn seizure_fits(threshold: Bps, bonus: Bps) -> bool {
    let one = u32::from(Bps::ONE.0);
    u32::from(threshold.0) * u32::from(bonus.0) <= one * one
}

impl MarketParams {
    /// Checks every range (`InvalidParameters`): `ltv <= threshold <= 100%`;
    /// `threshold × bonus <= 100%`, so that seizing a liquidation's
    /// collateral never needs more than the collateral backing the debt;
    /// `bonus >= 100%`; fees and reserve factor at most 100%;
    /// `0 < optimal <= 1`; the curve's top at most [`BORROW_RATE_MAX`];
    /// a positive staleness limit; a debt ceiling at most
    /// [`DEBT_CEILING_CENTS_MAX`]. Whether the e-mode category exists is
    /// the caller's check (it lives in the global configuration).
    pub fn validate(&self) -> Result<(), Failure> {
        let top = self.base_rate.checked_add(self.slope1).and_then(|sum| sum.checked_add(self.slope2));
        let checks = [
            self.ltv <= self.liquidation_threshold,
            self.liquidation_threshold <= Bps::ONE,
            self.liquidation_bonus >= Bps::ONE,
            seizure_fits(self.liquidation_threshold, self.liquidation_bonus),
            self.liquidation_protocol_fee <= Bps::ONE,
            self.reserve_factor <= Bps::ONE,
            self.flash_loan_fee <= Bps::ONE,
            self.optimal_utilization > Ray::ZERO && self.optimal_utilization <= Ray::ONE,
            top.is_ok_and(|top| top <= BORROW_RATE_MAX),
            self.price_staleness_seconds > 0,
            self.debt_ceiling_cents <= DEBT_CEILING_CENTS_MAX,
        ];
        if checks.iter().all(|ok| *ok) { Ok(()) } else { Err(Failure::InvalidParameters) }
    }

    /// Whether the asset is an isolated collateral (a positive debt ceiling).
    pub fn is_isolated(&self) -> bool {
        self.debt_ceiling_cents > 0
    }
}

/// A market's configuration, stored under `MarketConfig{asset}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketConfig {
    /// The market's asset.
    pub asset: AssetId,
    /// Decimals of the asset, fixed at creation.
    pub decimals: u8,
    /// The parameters.
    pub params: MarketParams,
}

impl MarketConfig {
    /// Fails with `MarketPaused` when nothing may move.
    pub fn ensure_not_paused(&self) -> Result<(), Failure> {
        if self.params.paused { Err(Failure::MarketPaused) } else { Ok(()) }
    }

    /// Fails unless new deposits and borrows are allowed.
    pub fn ensure_open(&self) -> Result<(), Failure> {
        self.ensure_not_paused()?;
        if self.params.frozen { Err(Failure::MarketFrozen) } else { Ok(()) }
    }
}

/// A market's indices and rates, stored under `MarketIndex{asset}`.
///
/// Written only by the block prologue (accrual), the epilogue (rates) and
/// `CreateMarket`: within a block every transaction sees the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketIndex {
    /// Underlying per scaled deposit.
    pub liquidity_index: Ray,
    /// Underlying per scaled debt.
    pub borrow_index: Ray,
    /// Supply rate per year, fixed at the end of the last block that touched the market.
    pub liquidity_rate: Ray,
    /// Borrow rate per year, fixed likewise.
    pub borrow_rate: Ray,
    /// When the indices were last accrued, seconds.
    pub last_update: u64,
}

impl MarketIndex {
    /// A new market's index: both indices 1.0.
    pub fn initial(rates: Rates, now: u64) -> MarketIndex {
        MarketIndex {
            liquidity_index: Ray::ONE,
            borrow_index: Ray::ONE,
            liquidity_rate: rates.liquidity_rate,
            borrow_rate: rates.borrow_rate,
            last_update: now,
        }
    }
}

/// A market's totals, decoded from its aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketTotals {
    /// Σ scaled deposits.
    pub scaled_supply: u128,
    /// Σ scaled debt.
    pub scaled_debt: u128,
    /// Underlying held by the market.
    pub cash: u128,
    /// The recorded deficit, underlying.
    pub deficit: u128,
    /// Debt borrowed against this asset in isolation mode, USD cents.
    pub isolation_debt: u128,
}

/// The protocol's own balance sheet in one market, in underlying units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceSheet {
    /// What suppliers may claim (rounded up).
    pub total_supply: Amount,
    /// What borrowers owe (rounded down).
    pub total_debt: Amount,
    /// Underlying held.
    pub cash: Amount,
    /// Equity when positive: reserve-factor interest, fees, dust.
    pub treasury: Amount,
    /// The recorded deficit: bad debt the treasury could not cover and no
    /// `CoverDeficit` has paid yet.
    pub deficit: Amount,
    /// Negative equity beyond the recorded deficit (rounding units at most).
    pub shortfall: Amount,
}

impl MarketTotals {
    /// Decodes the aggregate's fields.
    pub fn from_fields(fields: &Fields) -> MarketTotals {
        MarketTotals {
            scaled_supply: fields[SCALED_SUPPLY_FIELD],
            scaled_debt: fields[SCALED_DEBT_FIELD],
            cash: fields[CASH_FIELD],
            deficit: fields[DEFICIT_FIELD],
            isolation_debt: fields[ISOLATION_DEBT_FIELD],
        }
    }

    /// Underlying owed by borrowers, rounded down (the conservative view).
    pub fn total_debt(&self, index: &MarketIndex) -> Result<u128, MathError> {
        index.borrow_index.mul_int(self.scaled_debt, Rounding::Down)
    }

    /// Underlying owed to suppliers, rounded up (the conservative view).
    pub fn total_supply(&self, index: &MarketIndex) -> Result<u128, MathError> {
        index.liquidity_index.mul_int(self.scaled_supply, Rounding::Up)
    }

    /// Supply, debt, cash, the recorded deficit, and the derived treasury
    /// and shortfall: `cash + debt + deficit + shortfall = supply + treasury`.
    pub fn balance_sheet(&self, index: &MarketIndex) -> Result<BalanceSheet, MathError> {
        let total_supply = self.total_supply(index)?;
        let total_debt = self.total_debt(index)?;
        let assets = self
            .cash
            .checked_add(total_debt)
            .and_then(|sum| sum.checked_add(self.deficit))
            .ok_or(MathError::Overflow)?;
        Ok(BalanceSheet {
            total_supply: Amount(total_supply),
            total_debt: Amount(total_debt),
            cash: Amount(self.cash),
            treasury: Amount(assets.saturating_sub(total_supply)),
            deficit: Amount(self.deficit),
            shortfall: Amount(total_supply.saturating_sub(assets)),
        })
    }
}

/// The key of a market's configuration.
pub fn config_key(asset: AssetId) -> StateKey {
    StateKey::MarketConfig { asset }
}

/// The key of a market's index.
pub fn index_key(asset: AssetId) -> StateKey {
    StateKey::MarketIndex { asset }
}

/// The key of a market's totals.
pub fn totals_key(asset: AssetId) -> StateKey {
    StateKey::MarketTotals { asset }
}

/// Reads a market's configuration (`UnknownMarket` when there is none).
pub fn read_market(view: &mut TxView<'_>, asset: AssetId) -> Result<MarketConfig, Failure> {
    read(view, &config_key(asset))?.ok_or(Failure::UnknownMarket)
}

/// Reads a market's index; every market has one.
pub fn read_index(view: &mut TxView<'_>, asset: AssetId) -> Result<MarketIndex, Failure> {
    read(view, &index_key(asset))?.ok_or(Failure::CorruptState)
}

/// Maps a bounded operation's failure to its domain reason.
fn bounded(result: Result<(), ViewError>, out_of_bounds: Failure) -> Result<(), Failure> {
    result.map_err(|error| match error {
        ViewError::OutOfBounds { .. } => out_of_bounds,
        other => Failure::from(other),
    })
}

/// A cap in underlying units as a cap on a scaled field, rounded down;
/// `None` when uncapped.
fn scaled_cap(cap: Amount, index: Ray) -> Result<Option<u128>, Failure> {
    if cap.is_zero() {
        return Ok(None);
    }
    Ok(Some(index.div_int(cap.0, Rounding::Down)?))
}

/// Adds scaled deposits, within the supply cap (`SupplyCapExceeded`, with
/// the cap and `amount`, the deposit in underlying units).
pub fn add_supply(
    view: &mut TxView<'_>,
    config: &MarketConfig,
    index: &MarketIndex,
    amount: Amount,
    scaled: u128,
) -> Result<(), Failure> {
    let cap = config.params.supply_cap;
    let scaled_cap = scaled_cap(cap, index.liquidity_index)?;
    let over_cap = Failure::SupplyCapExceeded { cap, amount };
    add_within(view, config.asset, SCALED_SUPPLY_FIELD, scaled, scaled_cap, over_cap)
}

/// Adds `scaled` to a totals field, within a scaled cap if there is one
/// (`over_cap` past it).
fn add_within(
    view: &mut TxView<'_>,
    asset: AssetId,
    field: usize,
    scaled: u128,
    cap: Option<u128>,
    over_cap: Failure,
) -> Result<(), Failure> {
    let key = totals_key(asset);
    match cap {
        Some(cap) => bounded(view.add_capped(key, field, scaled, cap), over_cap),
        None => bounded(view.add(key, field, scaled), Failure::MathOverflow),
    }
}

/// Adds scaled deposits without a cap check: collateral moving from a
/// liquidated borrower to its liquidator (the total only shrinks).
pub fn add_supply_uncapped(view: &mut TxView<'_>, asset: AssetId, scaled: u128) -> Result<(), Failure> {
    bounded(view.add(totals_key(asset), SCALED_SUPPLY_FIELD, scaled), Failure::MathOverflow)
}

/// Removes scaled deposits. The user's scaled balance is part of the total,
/// so running out means the books disagree (`CorruptState`).
pub fn sub_supply(view: &mut TxView<'_>, asset: AssetId, scaled: u128) -> Result<(), Failure> {
    bounded(view.sub(totals_key(asset), SCALED_SUPPLY_FIELD, scaled), Failure::CorruptState)
}

/// Adds scaled debt, within the borrow cap (`BorrowCapExceeded`, with the
/// cap and `amount`, the borrow in underlying units).
pub fn add_debt(
    view: &mut TxView<'_>,
    config: &MarketConfig,
    index: &MarketIndex,
    amount: Amount,
    scaled: u128,
) -> Result<(), Failure> {
    let cap = config.params.borrow_cap;
    let scaled_cap = scaled_cap(cap, index.borrow_index)?;
    let over_cap = Failure::BorrowCapExceeded { cap, amount };
    add_within(view, config.asset, SCALED_DEBT_FIELD, scaled, scaled_cap, over_cap)
}

/// Removes scaled debt (`CorruptState` if the total holds less).
pub fn sub_debt(view: &mut TxView<'_>, asset: AssetId, scaled: u128) -> Result<(), Failure> {
    bounded(view.sub(totals_key(asset), SCALED_DEBT_FIELD, scaled), Failure::CorruptState)
}

/// Adds underlying to the market's cash.
pub fn add_cash(view: &mut TxView<'_>, asset: AssetId, amount: u128) -> Result<(), Failure> {
    bounded(view.add(totals_key(asset), CASH_FIELD, amount), Failure::MathOverflow)
}

/// Takes underlying out of the market's cash (`InsufficientLiquidity`).
pub fn sub_cash(view: &mut TxView<'_>, asset: AssetId, amount: u128) -> Result<(), Failure> {
    let short = Failure::InsufficientLiquidity { asset, amount: Amount(amount) };
    bounded(view.sub(totals_key(asset), CASH_FIELD, amount), short)
}

/// Records `amount` of new deficit.
pub fn add_deficit(view: &mut TxView<'_>, asset: AssetId, amount: u128) -> Result<(), Failure> {
    bounded(view.add(totals_key(asset), DEFICIT_FIELD, amount), Failure::MathOverflow)
}

/// Removes `amount` of covered deficit (`CorruptState` if the recorded
/// deficit is smaller: callers cap the amount at what they observed).
pub fn sub_deficit(view: &mut TxView<'_>, asset: AssetId, amount: u128) -> Result<(), Failure> {
    bounded(view.sub(totals_key(asset), DEFICIT_FIELD, amount), Failure::CorruptState)
}

/// Adds `cents` to the isolation debt of the isolated collateral
/// `collateral`, within its ceiling (`DebtCeilingExceeded`).
pub fn add_isolation_debt(view: &mut TxView<'_>, collateral: &MarketConfig, cents: u128) -> Result<(), Failure> {
    let ceiling_cents = collateral.params.debt_ceiling_cents;
    let key = totals_key(collateral.asset);
    let over = Failure::DebtCeilingExceeded { collateral: collateral.asset, ceiling_cents, amount_cents: cents };
    bounded(view.add_capped(key, ISOLATION_DEBT_FIELD, cents, u128::from(ceiling_cents)), over)
}

/// Removes `cents` from the isolation debt of `collateral`. A position
/// releases at most what it added, so running out means the books
/// disagree (`CorruptState`).
pub fn sub_isolation_debt(view: &mut TxView<'_>, collateral: AssetId, cents: u128) -> Result<(), Failure> {
    bounded(view.sub(totals_key(collateral), ISOLATION_DEBT_FIELD, cents), Failure::CorruptState)
}

/// The exact current totals of a market, observed field by field with
/// `peek`: the parallel executor re-executes the transaction if a
/// transaction before it in the block changed them. For rare paths only.
pub fn observe_totals(view: &mut TxView<'_>, asset: AssetId) -> Result<MarketTotals, Failure> {
    let key = totals_key(asset);
    let mut fields = Fields::default();
    for field in [SCALED_SUPPLY_FIELD, SCALED_DEBT_FIELD, CASH_FIELD, DEFICIT_FIELD] {
        fields[field] = view.peek(&key, field)?;
    }
    Ok(MarketTotals::from_fields(&fields))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Valid, USDC-like parameters: the dev USDC market's, uncapped.
    pub(crate) fn params() -> MarketParams {
        MarketParams { supply_cap: Amount::ZERO, borrow_cap: Amount::ZERO, ..crate::dev::dev_market_params("USDC") }
    }

    #[test]
    fn parameter_validation() {
        assert_eq!(params().validate(), Ok(()));
        let invalid = [
            MarketParams { ltv: Bps(8_001), ..params() },
            MarketParams { liquidation_threshold: Bps(10_001), ltv: Bps(0), ..params() },
            MarketParams { liquidation_bonus: Bps(9_999), ..params() },
            // 80% × 126% > 100%: the bonus could not be paid from the collateral.
            MarketParams { liquidation_bonus: Bps(12_600), ..params() },
            MarketParams { liquidation_protocol_fee: Bps(10_001), ..params() },
            MarketParams { reserve_factor: Bps(10_001), ..params() },
            MarketParams { flash_loan_fee: Bps(10_001), ..params() },
            MarketParams { optimal_utilization: Ray::ZERO, ..params() },
            MarketParams { optimal_utilization: Ray(Ray::SCALE + 1), ..params() },
            MarketParams { slope2: Ray(10 * Ray::SCALE), ..params() },
            MarketParams { base_rate: Ray(u128::MAX), ..params() },
            MarketParams { price_staleness_seconds: 0, ..params() },
        ];
        for (case, params) in invalid.iter().enumerate() {
            assert_eq!(params.validate(), Err(Failure::InvalidParameters), "case {case}");
        }
        // The boundaries themselves are valid.
        let edge =
            MarketParams { ltv: Bps(8_000), liquidation_bonus: Bps(12_500), optimal_utilization: Ray::ONE, ..params() };
        assert_eq!(edge.validate(), Ok(()));
    }

    #[test]
    fn treasury_and_shortfall_are_the_sign_of_equity_with_the_deficit_an_asset() {
        let index = MarketIndex {
            liquidity_index: Ray(Ray::SCALE * 11 / 10),
            borrow_index: Ray(Ray::SCALE * 12 / 10),
            liquidity_rate: Ray::ZERO,
            borrow_rate: Ray::ZERO,
            last_update: 0,
        };
        // Supply 100 × 1.1 = 110; debt 50 × 1.2 = 60; cash 55: equity +5.
        let totals = MarketTotals { scaled_supply: 100, scaled_debt: 50, cash: 55, ..MarketTotals::default() };
        let sheet = totals.balance_sheet(&index).unwrap();
        assert_eq!(
            (sheet.total_supply, sheet.total_debt, sheet.treasury, sheet.deficit, sheet.shortfall),
            (Amount(110), Amount(60), Amount(5), Amount(0), Amount(0))
        );
        // Burn 10 scaled debt (12 underlying) with nothing recorded: equity −7.
        let totals = MarketTotals { scaled_debt: 40, ..totals };
        let sheet = totals.balance_sheet(&index).unwrap();
        assert_eq!((sheet.treasury, sheet.deficit, sheet.shortfall), (Amount(0), Amount(0), Amount(7)));
        // The same with the loss recorded as deficit, less 5 of treasury cover:
        // the recorded 7 is an asset, equity is back to zero.
        let totals = MarketTotals { deficit: 7, ..totals };
        let sheet = totals.balance_sheet(&index).unwrap();
        assert_eq!((sheet.treasury, sheet.deficit, sheet.shortfall), (Amount(0), Amount(7), Amount(0)));
    }
}
