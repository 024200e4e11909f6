//! Interest: utilization, the kinked rate curve, and index accrual.
//!
//! As in Aave v3, a market has two indices (both [`Ray`], starting at 1.0):
//! - the **liquidity index** grows *linearly* between updates at the
//!   liquidity (supply) rate: `LI' = LI × (1 + r_l × Δt / Y)`, rounded down;
//! - the **borrow index** *compounds* at the borrow rate, with Aave's
//!   three-term binomial approximation of `(1 + r/Y)^Δt`:
//!   `BI' = BI × (1 + r·n/Y + r²·n(n−1)/(2Y²) + r³·n(n−1)(n−2)/(6Y³))`,
//!   with `n = Δt` seconds and `Y` = [`SECONDS_PER_YEAR`], every term rounded up.
//!
//! A user's deposit is `scaled × LI` and debt `scaled × BI`, so accrual
//! touches one key per market, never a user's.
//!
//! Rates are per year and come from the utilization `U = debt / (cash + debt)`:
//! - `U <= optimal`: `borrow = base + slope1 × U / optimal`;
//! - `U > optimal`: `borrow = base + slope1 + slope2 × (U − optimal) / (1 − optimal)`;
//! - `liquidity = borrow × U_s × (1 − reserve_factor)`, where the supply
//!   utilization `U_s = debt / (cash + debt + deficit)` counts the recorded
//!   deficit (Aave 3.4 passes `reserve.deficit` as the rate strategy's
//!   `unbacked`). Suppliers' claims include the lost part, so spreading the
//!   borrowers' interest over it too means the deficit earns nothing: the
//!   suppliers' interest is at most `(1 − reserve_factor)` of what
//!   borrowers pay, and the market's equity never falls by accrual.
//!
//! Rounding favours the protocol: the borrow rate and index round up, the
//! utilization, liquidity rate and index round down.

use parlend_ledger::primitives::mul_div;
use parlend_ledger::{MathError, Ray, Rounding};
use serde::{Deserialize, Serialize};

use crate::limits::SECONDS_PER_YEAR;
use crate::market::{MarketIndex, MarketParams};

const YEAR: u128 = SECONDS_PER_YEAR as u128;

/// A market's yearly rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    /// What borrowers pay, per year.
    pub borrow_rate: Ray,
    /// What suppliers earn, per year.
    pub liquidity_rate: Ray,
}

/// `debt / (cash + debt)`, rounded down; zero for an empty market.
pub fn utilization(total_debt: u128, cash: u128) -> Result<Ray, MathError> {
    supply_utilization(total_debt, cash, 0)
}

/// `debt / (cash + debt + deficit)`, rounded down; zero for an empty market.
pub fn supply_utilization(total_debt: u128, cash: u128, deficit: u128) -> Result<Ray, MathError> {
    let denominator =
        cash.checked_add(total_debt).and_then(|sum| sum.checked_add(deficit)).ok_or(MathError::Overflow)?;
    if denominator == 0 {
        return Ok(Ray::ZERO);
    }
    Ray::from_ratio(total_debt, denominator, Rounding::Down)
}

/// The borrow rate at `utilization` on the market's kinked curve, rounded up.
pub fn borrow_rate(params: &MarketParams, utilization: Ray) -> Result<Ray, MathError> {
    let optimal = params.optimal_utilization;
    if utilization <= optimal {
        let slope = mul_div(params.slope1.0, utilization.0, optimal.0, Rounding::Up)?;
        return params.base_rate.checked_add(Ray(slope));
    }
    // Here optimal < utilization <= 1, so the range is positive.
    let excess = utilization.checked_sub(optimal)?;
    let range = Ray::ONE.checked_sub(optimal)?;
    let slope = mul_div(params.slope2.0, excess.0, range.0, Rounding::Up)?;
    params.base_rate.checked_add(params.slope1)?.checked_add(Ray(slope))
}

/// The liquidity rate: the borrow rate spread over all supply (the supply
/// utilization), less the reserve factor, rounded down.
pub fn liquidity_rate(borrow_rate: Ray, supply_utilization: Ray, params: &MarketParams) -> Result<Ray, MathError> {
    let gross = borrow_rate.mul(supply_utilization, Rounding::Down)?;
    let share = params.reserve_factor.complement()?;
    share.apply(gross.0, Rounding::Down).map(Ray)
}

/// Both rates of a market with this debt, cash and recorded deficit.
pub fn rates(params: &MarketParams, total_debt: u128, cash: u128, deficit: u128) -> Result<Rates, MathError> {
    let borrow_rate = borrow_rate(params, utilization(total_debt, cash)?)?;
    let liquidity_rate = liquidity_rate(borrow_rate, supply_utilization(total_debt, cash, deficit)?, params)?;
    Ok(Rates { borrow_rate, liquidity_rate })
}

/// `1 + rate × seconds / Y`, rounded down: the liquidity index's growth.
pub fn linear_interest(rate: Ray, seconds: u64) -> Result<Ray, MathError> {
    let growth = mul_div(rate.0, u128::from(seconds), YEAR, Rounding::Down)?;
    Ray::ONE.checked_add(Ray(growth))
}

/// Aave's `calculateCompoundedInterest`: the first three terms of the
/// binomial expansion of `(1 + rate/Y)^seconds`, each rounded up. The
/// powers of the rate are kept in ray precision before dividing by powers of
/// `Y`, so the result is closer to the exact series than Aave's (which
/// truncates `rate²/Y²` first); it never undercharges.
pub fn compounded_interest(rate: Ray, seconds: u64) -> Result<Ray, MathError> {
    if seconds == 0 {
        return Ok(Ray::ONE);
    }
    let n = u128::from(seconds);
    let first = mul_div(rate.0, n, YEAR, Rounding::Up)?;
    // n(n-1) < 2^128 because n < 2^64.
    let pairs = n.checked_mul(n - 1).ok_or(MathError::Overflow)?;
    let rate_squared = rate.mul(rate, Rounding::Up)?;
    let second = mul_div(rate_squared.0, pairs, 2 * YEAR * YEAR, Rounding::Up)?;
    let rate_cubed = rate_squared.mul(rate, Rounding::Up)?;
    let third_partial = mul_div(rate_cubed.0, pairs, 2 * YEAR * YEAR, Rounding::Up)?;
    let third = mul_div(third_partial, n.saturating_sub(2), 3 * YEAR, Rounding::Up)?;
    Ray::ONE.checked_add(Ray(first))?.checked_add(Ray(second))?.checked_add(Ray(third))
}

/// The index accrued from its last update to `now` at its stored rates
/// (Aave's `getNormalizedIncome` / `getNormalizedDebt`, both at once).
/// Rates and the timestamp of the result are `now`'s; a `now` before the
/// last update accrues nothing.
pub fn accrue(index: &MarketIndex, now: u64) -> Result<MarketIndex, MathError> {
    let seconds = now.saturating_sub(index.last_update);
    if seconds == 0 {
        return Ok(*index);
    }
    let liquidity_growth = linear_interest(index.liquidity_rate, seconds)?;
    let borrow_growth = compounded_interest(index.borrow_rate, seconds)?;
    Ok(MarketIndex {
        liquidity_index: index.liquidity_index.mul(liquidity_growth, Rounding::Down)?,
        borrow_index: index.borrow_index.mul(borrow_growth, Rounding::Up)?,
        last_update: now,
        ..*index
    })
}

/// `(1 + rate/Y)^Y − 1`: the yearly yield of `rate` compounded every
/// second, as wallets show an APY. Rounded down; for display only.
pub fn annual_yield(rate: Ray) -> Result<Ray, MathError> {
    let per_second = Ray::ONE.checked_add(Ray(mul_div(rate.0, 1, YEAR, Rounding::Down)?))?;
    ray_pow(per_second, SECONDS_PER_YEAR)?.checked_sub(Ray::ONE)
}

/// `base^exponent` by squaring, every product rounded down.
fn ray_pow(base: Ray, exponent: u64) -> Result<Ray, MathError> {
    let mut result = Ray::ONE;
    let mut square = base;
    let mut remaining = exponent;
    while remaining > 0 {
        if remaining & 1 == 1 {
            result = result.mul(square, Rounding::Down)?;
        }
        remaining >>= 1;
        if remaining > 0 {
            square = square.mul(square, Rounding::Down)?;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use num_bigint::BigUint;
    use parlend_ledger::Bps;

    use super::*;

    /// `x` percent as a ray.
    fn percent(x: u128) -> Ray {
        Ray(x * Ray::SCALE / 100)
    }

    /// The acceptance curve: optimal 80%, base 0, slopes 4% and 60%, reserve factor 10%.
    fn curve() -> MarketParams {
        MarketParams {
            base_rate: Ray::ZERO,
            slope1: percent(4),
            slope2: percent(60),
            optimal_utilization: percent(80),
            reserve_factor: Bps(1_000),
            ..crate::market::tests::params()
        }
    }

    #[test]
    fn rate_curve_at_40_80_and_90_percent() {
        // (utilization, borrow rate, liquidity rate), all exact:
        // 40%: 4% × 0.4/0.8 = 2%;         2% × 0.4 × 0.9 = 0.72%
        // 80%: 4%;                         4% × 0.8 × 0.9 = 2.88%
        // 90%: 4% + 60% × 0.1/0.2 = 34%;  34% × 0.9 × 0.9 = 27.54%
        let cases = [(40, "0.02", "0.0072"), (80, "0.04", "0.0288"), (90, "0.34", "0.2754")];
        for (u, borrow, liquidity) in cases {
            let rates = rates(&curve(), u, 100 - u, 0).unwrap();
            assert_eq!(rates.borrow_rate.to_string(), borrow, "borrow rate at {u}%");
            assert_eq!(rates.liquidity_rate.to_string(), liquidity, "liquidity rate at {u}%");
        }
        // Empty and fully borrowed markets.
        assert_eq!(rates(&curve(), 0, 0, 0).unwrap().borrow_rate, Ray::ZERO);
        assert_eq!(rates(&curve(), 5, 0, 0).unwrap().borrow_rate.to_string(), "0.64");
    }

    #[test]
    fn a_deficit_lowers_the_supply_rate_not_the_borrow_rate() {
        // Debt 40, cash 40, deficit 20: U = 50% sets the borrow rate,
        // 4% × 0.5/0.8 = 2.5%; U_s = 40 / 100 = 40% spreads it over all
        // claims: 2.5% × 0.4 × 0.9 = 0.9% (instead of 1.125% at U).
        let rates = rates(&curve(), 40, 40, 20).unwrap();
        assert_eq!(rates.borrow_rate.to_string(), "0.025");
        assert_eq!(rates.liquidity_rate.to_string(), "0.009");
        assert_eq!(supply_utilization(0, 0, 5).unwrap(), Ray::ZERO);
    }

    #[test]
    fn utilization_rounds_down() {
        assert_eq!(utilization(1, 2).unwrap().0, Ray::SCALE / 3);
        assert_eq!(utilization(0, 0).unwrap(), Ray::ZERO);
        assert_eq!(utilization(u128::MAX, 1), Err(MathError::Overflow));
    }

    /// Exact `ceil(RAY × (1 + r n/Y + r² n(n−1)/(2Y²) + r³ n(n−1)(n−2)/(6Y³)))`.
    fn exact_compounded(rate: Ray, n: u128) -> BigUint {
        let ray = BigUint::from(Ray::SCALE);
        let r = BigUint::from(rate.0);
        let y = BigUint::from(YEAR);
        let n_big = BigUint::from(n);
        let m1 = BigUint::from(n - 1);
        let m2 = BigUint::from(n.saturating_sub(2));
        // Common denominator 6 Y³ RAY².
        let denominator = BigUint::from(6u8) * &y * &y * &y * &ray * &ray;
        let numerator = &ray * &denominator
            + &r * &n_big * BigUint::from(6u8) * &y * &y * &ray * &ray
            + &r * &r * &n_big * &m1 * BigUint::from(3u8) * &y * &ray
            + &r * &r * &r * &n_big * &m1 * &m2;
        (numerator + &denominator - BigUint::from(1u8)) / &denominator
    }

    #[test]
    fn indices_after_one_year() {
        // Liquidity index at 7.2%: exactly 1.072 (linear).
        let rate = Ray(72 * Ray::SCALE / 1_000);
        let index = MarketIndex::initial(Rates { borrow_rate: percent(10), liquidity_rate: rate }, 0);
        let year_later = accrue(&index, SECONDS_PER_YEAR).unwrap();
        assert_eq!(year_later.liquidity_index.to_string(), "1.072");
        // Borrow index at 10%: 1 + 0.1 + 0.01 (Y−1)/(2Y) + 0.001 (Y−1)(Y−2)/(6Y²).
        assert_eq!(year_later.borrow_index.to_string(), "1.105166666492262811091131745");
        // Within two units of the exact series, never below it.
        let exact = exact_compounded(percent(10), YEAR);
        let ours = BigUint::from(year_later.borrow_index.0);
        assert!(ours >= exact && ours - &exact <= BigUint::from(2u8), "exact {exact}");
        assert_eq!(year_later.last_update, SECONDS_PER_YEAR);
        // A second accrual at the same time changes nothing.
        assert_eq!(accrue(&year_later, SECONDS_PER_YEAR).unwrap(), year_later);
    }

    #[test]
    fn compounding_matches_the_exact_series_for_short_and_long_spans() {
        for (rate, seconds) in [(percent(5), 1u64), (percent(5), 2), (percent(34), 12), (percent(1000), 86_400 * 400)] {
            let ours = BigUint::from(compounded_interest(rate, seconds).unwrap().0);
            let exact = exact_compounded(rate, u128::from(seconds));
            assert!(ours >= exact && ours - &exact <= BigUint::from(3u8), "{rate} over {seconds}s");
        }
        assert_eq!(compounded_interest(percent(50), 0).unwrap(), Ray::ONE);
    }

    #[test]
    fn accrual_never_panics_on_extreme_inputs() {
        let index = MarketIndex {
            liquidity_index: Ray(u128::MAX / 2),
            borrow_index: Ray(u128::MAX / 2),
            liquidity_rate: crate::limits::BORROW_RATE_MAX,
            borrow_rate: crate::limits::BORROW_RATE_MAX,
            last_update: 0,
        };
        assert!(accrue(&index, u64::MAX).is_err());
        assert!(compounded_interest(Ray(u128::MAX), u64::MAX).is_err());
    }

    #[test]
    fn annual_yield_compounds_per_second() {
        // e^0.1 − 1 = 0.105170918...: per-second compounding is within 1e-8 of it.
        let apy = annual_yield(percent(10)).unwrap();
        assert!(apy.0 > 105_170_900_000_000_000_000_000_000 && apy.0 < 105_170_920_000_000_000_000_000_000, "{apy}");
        assert_eq!(annual_yield(Ray::ZERO).unwrap(), Ray::ZERO);
    }
}
