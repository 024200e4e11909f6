//! Human units, parsed exactly into the state machine's integers (no
//! floats): token amounts, US dollars, percentages, durations, and changes
//! to market and liquidation parameters written in those units.
//!
//! One grammar for every front end: the CLI's flags and scenario files
//! accept the same spellings and give the same values.
//!
//! | kind       | spellings                                  | value                         |
//! |------------|--------------------------------------------|-------------------------------|
//! | amount     | `1.5`, `1000`, `all` (where allowed)        | base units at the asset's decimals |
//! | US dollars | `2500.5`, `$2500.5`                          | WAD                           |
//! | US cents   | `10000000`, `$1500.25` (dollars, at most 2 decimals) | cents (debt ceilings) |
//! | percentage | `4%`, `4` (a bare number is percent), `0.05%`, `400bps` | basis points or RAY |
//! | duration   | `90` (seconds), `90s`, `15m`, `12h`, `30d`, `2w`, `1y`, `1d12h` | seconds (a year is 365 days) |
//!
//! A value finer than its unit can hold (`0.005%` as basis points, seven
//! decimals of a six-decimal token) is an error, never rounded.

use parlend_ledger::primitives::AmountParseError;
use parlend_ledger::{Amount, Bps, Ray, Wad};
use serde::Deserialize;

use crate::emode::EModeCategory;
use crate::instruction::AmountOrAll;
use crate::limits::ISOLATION_DEBT_DECIMALS;
use crate::market::MarketParams;
use crate::state::LiquidationConfig;

/// Decimals of a WAD (US dollars, health factors).
pub const WAD_DECIMALS: u8 = 18;
/// Fraction digits of a percent held by basis points (`80%` = 8000).
pub const BPS_PERCENT_DECIMALS: u8 = 2;
/// Fraction digits of a percent held by a RAY (`4%` = 0.04e27).
pub const RAY_PERCENT_DECIMALS: u8 = 25;

/// Seconds per unit of a duration, largest first.
const DURATION_UNITS: [(char, u64); 6] =
    [('y', 365 * 86_400), ('w', 7 * 86_400), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Why a human value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a decimal number with at most `decimals` fraction digits (the
    /// reason names the text).
    #[error("{reason}")]
    Decimal {
        /// The input.
        text: String,
        /// Fraction digits allowed.
        decimals: u8,
        /// What is wrong.
        reason: AmountParseError,
    },
    /// Not a percentage.
    #[error("{text:?} is not a percentage (write 4%, 0.05% or 400bps): {reason}")]
    Percent {
        /// The input.
        text: String,
        /// What is wrong.
        reason: Box<UnitError>,
    },
    /// Not a duration.
    #[error("{text:?} is not a duration (use e.g. 90, 90s, 15m, 12h, 30d, 2w, 1y, 1d12h)")]
    Duration {
        /// The input.
        text: String,
    },
    /// A value over what its field holds.
    #[error("{text:?} is out of range for {what}")]
    OutOfRange {
        /// The input.
        text: String,
        /// The field's kind.
        what: &'static str,
    },
    /// A value that must be positive.
    #[error("{text:?}: {what} must be positive")]
    NotPositive {
        /// The input.
        text: String,
        /// The field's kind.
        what: &'static str,
    },
}

/// Front ends that report errors as text (scenario files) use `?` on units.
impl From<UnitError> for String {
    fn from(error: UnitError) -> String {
        error.to_string()
    }
}

/// A decimal with `decimals` fraction digits as an integer, exactly
/// (`"1.5"` at 6 decimals is 1_500_000).
pub fn decimal(text: &str, decimals: u8) -> Result<u128, UnitError> {
    let trimmed = text.trim();
    Amount::from_decimal_str(trimmed, decimals).map(|amount| amount.0).map_err(|reason| UnitError::Decimal {
        text: text.to_string(),
        decimals,
        reason,
    })
}

/// Whole tokens of an asset with `decimals`, in base units.
pub fn amount(text: &str, decimals: u8) -> Result<Amount, UnitError> {
    decimal(text, decimals).map(Amount)
}

/// Whole tokens, or `all`.
pub fn amount_or_all(text: &str, decimals: u8) -> Result<AmountOrAll, UnitError> {
    if text.trim() == "all" { Ok(AmountOrAll::All) } else { amount(text, decimals).map(AmountOrAll::Amount) }
}

/// US dollars (`"2500.5"`, `"$2500.5"`) as a WAD.
pub fn usd(text: &str) -> Result<Wad, UnitError> {
    let trimmed = text.trim();
    decimal(trimmed.strip_prefix('$').unwrap_or(trimmed), WAD_DECIMALS).map(Wad)
}

/// An oracle price: US dollars per whole token, positive.
pub fn price(text: &str) -> Result<Wad, UnitError> {
    let price = usd(text)?;
    if price == Wad::ZERO {
        return Err(UnitError::NotPositive { text: text.to_string(), what: "a price" });
    }
    Ok(price)
}

/// US dollars (`"1500.25"`, `"$1500.25"`) as cents, the unit of debt
/// ceilings; a fraction of a cent is an error.
pub fn usd_cents(text: &str) -> Result<u64, UnitError> {
    let trimmed = text.trim();
    let cents = decimal(trimmed.strip_prefix('$').unwrap_or(trimmed), ISOLATION_DEBT_DECIMALS)?;
    u64::try_from(cents).map_err(|_| UnitError::OutOfRange { text: text.to_string(), what: "US cents" })
}

/// An e-mode category from its id and three percentages (LTV, liquidation
/// threshold, liquidation bonus of the debt repaid: `"101%"`).
pub fn emode_category(id: u8, ltv: &str, threshold: &str, bonus: &str) -> Result<EModeCategory, UnitError> {
    Ok(EModeCategory { id, ltv: bps(ltv)?, liquidation_threshold: bps(threshold)?, liquidation_bonus: bps(bonus)? })
}

/// A plain decimal as a WAD (a health factor: `"0.95"`).
pub fn wad(text: &str) -> Result<Wad, UnitError> {
    decimal(text, WAD_DECIMALS).map(Wad)
}

/// A percentage with `decimals` fraction digits of a percent: `"4%"`,
/// `"4"` (a bare number is percent), `"400bps"`.
pub fn percent(text: &str, decimals: u8) -> Result<u128, UnitError> {
    let trimmed = text.trim();
    let wrap = |reason: UnitError| UnitError::Percent { text: text.to_string(), reason: Box::new(reason) };
    if let Some(bps) = trimmed.strip_suffix("bps") {
        // Basis points are hundredths of a percent.
        let bps_decimals = decimals
            .checked_sub(BPS_PERCENT_DECIMALS)
            .ok_or_else(|| UnitError::OutOfRange { text: text.to_string(), what: "a percentage this coarse" })?;
        return decimal(bps, bps_decimals).map_err(wrap);
    }
    let number = trimmed.strip_suffix('%').unwrap_or(trimmed).trim_end();
    decimal(number, decimals).map_err(wrap)
}

/// A percentage as basis points (`"80%"` = 8000).
pub fn bps(text: &str) -> Result<Bps, UnitError> {
    let value = percent(text, BPS_PERCENT_DECIMALS)?;
    u16::try_from(value).map(Bps).map_err(|_| UnitError::OutOfRange { text: text.to_string(), what: "basis points" })
}

/// A percentage (a rate per year, a utilization) as a RAY (`"4%"` = 0.04e27).
pub fn rate(text: &str) -> Result<Ray, UnitError> {
    percent(text, RAY_PERCENT_DECIMALS).map(Ray)
}

/// A duration in seconds: `"90"`, `"90s"`, `"15m"`, `"1d12h"`, `"1y"`.
pub fn duration(text: &str) -> Result<u64, UnitError> {
    let invalid = || UnitError::Duration { text: text.to_string() };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        return trimmed.parse().map_err(|_| invalid());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for character in trimmed.chars() {
        if character.is_ascii_digit() {
            number.push(character);
            continue;
        }
        let unit = DURATION_UNITS.iter().find(|(name, _)| *name == character).ok_or_else(invalid)?.1;
        let count: u64 = number.parse().map_err(|_| invalid())?;
        total = count.checked_mul(unit).and_then(|seconds| total.checked_add(seconds)).ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// Changes to a market's parameters in human units; `None` keeps a value.
/// The CLI's `tx market` flags and a scenario's `create_market` /
/// `update_market` both become one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketChanges {
    /// Loan to value, a percentage.
    #[serde(default)]
    pub ltv: Option<String>,
    /// Liquidation threshold, a percentage.
    #[serde(default)]
    pub liquidation_threshold: Option<String>,
    /// Liquidation bonus, a percentage of the debt repaid (`"105%"`).
    #[serde(default)]
    pub liquidation_bonus: Option<String>,
    /// Protocol share of the bonus, a percentage.
    #[serde(default)]
    pub liquidation_protocol_fee: Option<String>,
    /// Reserve factor, a percentage.
    #[serde(default)]
    pub reserve_factor: Option<String>,
    /// Borrow rate at zero utilization, a percentage per year.
    #[serde(default)]
    pub base_rate: Option<String>,
    /// Rate slope below the kink, a percentage per year.
    #[serde(default)]
    pub slope1: Option<String>,
    /// Rate slope above the kink, a percentage per year.
    #[serde(default)]
    pub slope2: Option<String>,
    /// The kink, a percentage.
    #[serde(default)]
    pub optimal_utilization: Option<String>,
    /// Supply cap, whole tokens (`"0"`: none).
    #[serde(default)]
    pub supply_cap: Option<String>,
    /// Borrow cap, whole tokens (`"0"`: none).
    #[serde(default)]
    pub borrow_cap: Option<String>,
    /// Flash-loan fee, a percentage.
    #[serde(default)]
    pub flash_loan_fee: Option<String>,
    /// Price staleness limit, a duration.
    #[serde(default)]
    pub price_staleness: Option<String>,
    /// Whether the asset may be borrowed.
    #[serde(default)]
    pub borrowing_enabled: Option<bool>,
    /// Nothing moves.
    #[serde(default)]
    pub paused: Option<bool>,
    /// No new deposits or borrows.
    #[serde(default)]
    pub frozen: Option<bool>,
    /// Isolation mode's debt ceiling, US dollars (`"0"`: not isolated).
    #[serde(default)]
    pub debt_ceiling: Option<String>,
    /// Whether positions in isolation mode may borrow the asset.
    #[serde(default)]
    pub borrowable_in_isolation: Option<bool>,
    /// Whether the asset may be flash-borrowed.
    #[serde(default)]
    pub flash_loan_enabled: Option<bool>,
    /// The e-mode category the asset is in (0: none).
    #[serde(default)]
    pub emode_category: Option<u8>,
}

impl MarketChanges {
    /// `params` with these changes; caps are whole tokens of an asset with
    /// `decimals`.
    pub fn apply(&self, mut params: MarketParams, decimals: u8) -> Result<MarketParams, UnitError> {
        let bps_fields = [
            (&self.ltv, &mut params.ltv),
            (&self.liquidation_threshold, &mut params.liquidation_threshold),
            (&self.liquidation_bonus, &mut params.liquidation_bonus),
            (&self.liquidation_protocol_fee, &mut params.liquidation_protocol_fee),
            (&self.reserve_factor, &mut params.reserve_factor),
            (&self.flash_loan_fee, &mut params.flash_loan_fee),
        ];
        for (text, field) in bps_fields {
            set(text, field, bps)?;
        }
        let rate_fields = [
            (&self.base_rate, &mut params.base_rate),
            (&self.slope1, &mut params.slope1),
            (&self.slope2, &mut params.slope2),
            (&self.optimal_utilization, &mut params.optimal_utilization),
        ];
        for (text, field) in rate_fields {
            set(text, field, rate)?;
        }
        for (text, field) in [(&self.supply_cap, &mut params.supply_cap), (&self.borrow_cap, &mut params.borrow_cap)] {
            set(text, field, |text| amount(text, decimals))?;
        }
        set(&self.price_staleness, &mut params.price_staleness_seconds, duration)?;
        set(&self.debt_ceiling, &mut params.debt_ceiling_cents, usd_cents)?;
        if let Some(category) = self.emode_category {
            params.emode_category = category;
        }
        let flags = [
            (self.borrowing_enabled, &mut params.borrowing_enabled),
            (self.paused, &mut params.paused),
            (self.frozen, &mut params.frozen),
            (self.borrowable_in_isolation, &mut params.borrowable_in_isolation),
            (self.flash_loan_enabled, &mut params.flash_loan_enabled),
        ];
        for (value, field) in flags {
            if let Some(value) = value {
                *field = value;
            }
        }
        Ok(params)
    }
}

/// Changes to the global liquidation parameters in human units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidationChanges {
    /// Health factor at or below which a whole position may be liquidated (`"0.95"`).
    #[serde(default)]
    pub close_factor_hf_threshold: Option<String>,
    /// US dollars both legs must be worth for the partial close factor.
    #[serde(default)]
    pub min_close_factor_base: Option<String>,
    /// US dollars a partial liquidation must leave in debt and collateral.
    #[serde(default)]
    pub min_leftover_base: Option<String>,
    /// Share of the debt a partial liquidation may cover (`"50%"`).
    #[serde(default)]
    pub close_factor: Option<String>,
}

impl LiquidationChanges {
    /// `config` with these changes.
    pub fn apply(&self, mut config: LiquidationConfig) -> Result<LiquidationConfig, UnitError> {
        set(&self.close_factor_hf_threshold, &mut config.close_factor_hf_threshold, wad)?;
        set(&self.min_close_factor_base, &mut config.min_close_factor_base, usd)?;
        set(&self.min_leftover_base, &mut config.min_leftover_base, usd)?;
        set(&self.close_factor, &mut config.close_factor, bps)?;
        Ok(config)
    }
}

/// Parses `text`, when given, into `field`.
fn set<T>(text: &Option<String>, field: &mut T, parse: impl Fn(&str) -> Result<T, UnitError>) -> Result<(), UnitError> {
    if let Some(text) = text {
        *field = parse(text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90"), Ok(90));
        assert_eq!(duration("90s"), Ok(90));
        assert_eq!(duration("1d12h"), Ok(129_600));
        assert_eq!(duration("1y"), Ok(31_536_000));
        assert_eq!(duration("2d"), Ok(172_800));
        assert_eq!(duration("2w"), Ok(14 * 86_400));
        for bad in ["", "d", "y", "1x", "1d2", "3 weeks", "99999999999999999999y", "-1s"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn percentages_are_exact_in_every_spelling() {
        assert_eq!(bps("80%"), Ok(Bps(8_000)));
        assert_eq!(bps("80"), Ok(Bps(8_000)));
        assert_eq!(bps("8000bps"), Ok(Bps(8_000)));
        assert_eq!(bps("104.5%"), Ok(Bps(10_450)));
        assert_eq!(bps("0.05%"), Ok(Bps(5)));
        assert!(bps("0.005%").is_err(), "finer than a basis point");
        assert!(bps("0.5bps").is_err(), "finer than a basis point");
        assert!(bps("700%").is_err(), "over u16");
        assert_eq!(rate("4%"), Ok(Ray(4 * 10u128.pow(25))));
        assert_eq!(rate("400bps"), rate("4%"));
        assert_eq!(rate("0.5bps"), Ok(Ray(5 * 10u128.pow(22))));
        assert!(rate("four").is_err());
    }

    #[test]
    fn amounts_and_dollars() {
        assert_eq!(amount("1.5", 6), Ok(Amount(1_500_000)));
        assert!(amount("1.0000001", 6).is_err());
        assert_eq!(amount_or_all("all", 6), Ok(AmountOrAll::All));
        assert_eq!(usd("$2500.5"), usd("2500.5"));
        assert_eq!(usd("2500.5"), Ok(Wad(2_500_500_000_000_000_000_000)));
        assert!(matches!(price("0"), Err(UnitError::NotPositive { .. })));
        assert_eq!(wad("0.95"), Ok(Wad(950_000_000_000_000_000)));
    }

    #[test]
    fn market_changes_keep_what_they_do_not_name() {
        let base = crate::dev::dev_market_params("USDC");
        let changes = MarketChanges {
            ltv: Some("70%".into()),
            slope1: Some("5%".into()),
            supply_cap: Some("1000".into()),
            price_staleness: Some("1h".into()),
            frozen: Some(true),
            ..MarketChanges::default()
        };
        let changed = changes.apply(base, 6).unwrap();
        assert_eq!(changed.ltv, Bps(7_000));
        assert_eq!(changed.slope1, Ray(5 * 10u128.pow(25)));
        assert_eq!(changed.supply_cap, Amount(1_000_000_000));
        assert_eq!(changed.price_staleness_seconds, 3_600);
        assert!(changed.frozen);
        assert_eq!(changed.liquidation_bonus, base.liquidation_bonus);
        let isolation = MarketChanges {
            debt_ceiling: Some("$1500.25".into()),
            borrowable_in_isolation: Some(false),
            flash_loan_enabled: Some(false),
            emode_category: Some(0),
            ..MarketChanges::default()
        };
        let changed = isolation.apply(base, 6).unwrap();
        assert_eq!(changed.debt_ceiling_cents, 150_025);
        assert!(!changed.borrowable_in_isolation && !changed.flash_loan_enabled);
        assert_eq!(changed.emode_category, 0);
        assert!(usd_cents("0.001").is_err(), "finer than a cent");
        let category = emode_category(1, "93%", "95%", "101%").unwrap();
        assert_eq!(
            (category.ltv, category.liquidation_threshold, category.liquidation_bonus),
            (Bps(9_300), Bps(9_500), Bps(10_100))
        );
        assert_eq!(MarketChanges::default().apply(base, 6), Ok(base));
    }
}
