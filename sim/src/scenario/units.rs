//! Human units of scenario files, parsed exactly into integers (no floats):
//! tokens, USD, percentages, durations, and `min..max` ranges.

use parlend_ledger::Amount;

/// Decimals of a USD value or health factor (WAD).
pub const WAD_DECIMALS: u8 = 18;
/// Decimals of a percentage stored as basis points (`80%` = 8000).
pub const BPS_PERCENT_DECIMALS: u8 = 2;
/// Decimals of a percentage stored as a RAY (`4%` = 0.04e27).
pub const RAY_PERCENT_DECIMALS: u8 = 25;

/// A decimal with `decimals` fractional digits as an integer, exactly
/// (`"1.5"` at 6 decimals is 1_500_000); more digits than that is an error.
pub fn decimal(text: &str, decimals: u8) -> Result<u128, String> {
    Amount::from_decimal_str(text.trim(), decimals).map(|amount| amount.0).map_err(|error| error.to_string())
}

/// A percentage (`"80%"`, the sign optional) with `decimals` fractional
/// digits of a percent.
pub fn percent(text: &str, decimals: u8) -> Result<u128, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text).trim();
    decimal(number, decimals).map_err(|error| format!("{text:?} is not a percentage: {error}"))
}

/// A percentage as basis points.
pub fn bps(text: &str) -> Result<u16, String> {
    let value = percent(text, BPS_PERCENT_DECIMALS)?;
    u16::try_from(value).map_err(|_| format!("{text:?} is out of range"))
}

/// Seconds per unit of a duration.
const DURATION_UNITS: [(char, u64); 6] =
    [('y', 365 * 86_400), ('w', 7 * 86_400), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// A duration (`"30d"`, `"1y"`, `"1d12h"`, `"90s"`, or plain seconds `"90"`), in seconds.
pub fn duration(text: &str) -> Result<u64, String> {
    let invalid = || format!("{text:?} is not a duration (use e.g. 90s, 15m, 12h, 30d, 2w, 1y)");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
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

/// An expected value: exact, or an inclusive range with either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Smallest accepted value.
    pub min: Option<u128>,
    /// Largest accepted value.
    pub max: Option<u128>,
}

impl Expected {
    /// Parses `"5"`, `"1.2..1.3"`, `"..5"` or `"5.."` with `parse` for each end.
    pub fn parse(text: &str, parse: &dyn Fn(&str) -> Result<u128, String>) -> Result<Expected, String> {
        match text.split_once("..") {
            None => {
                let value = parse(text)?;
                Ok(Expected { min: Some(value), max: Some(value) })
            }
            Some((low, high)) => {
                let end = |part: &str| if part.trim().is_empty() { Ok(None) } else { parse(part).map(Some) };
                let expected = Expected { min: end(low)?, max: end(high)? };
                if let (Some(min), Some(max)) = (expected.min, expected.max)
                    && min > max
                {
                    return Err(format!("range {text:?} is empty"));
                }
                Ok(expected)
            }
        }
    }

    /// Whether `value` is accepted.
    pub fn accepts(&self, value: u128) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }
}

/// Formats an integer with `decimals` fractional digits.
pub fn format_decimal(value: u128, decimals: u8) -> String {
    Amount(value).to_decimal_string(decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90"), Ok(90));
        assert_eq!(duration("90s"), Ok(90));
        assert_eq!(duration("1d12h"), Ok(129_600));
        assert_eq!(duration("1y"), Ok(365 * 86_400));
        assert_eq!(duration("2w"), Ok(14 * 86_400));
        for bad in ["", "d", "1x", "1d2", "3 weeks", "99999999999999999999y"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn percentages_are_exact() {
        assert_eq!(bps("80%"), Ok(8_000));
        assert_eq!(bps("104.5%"), Ok(10_450));
        assert_eq!(bps("0.05"), Ok(5));
        assert!(bps("0.005%").is_err(), "finer than a basis point");
        assert!(bps("700%").is_err(), "over u16");
        assert_eq!(percent("4%", RAY_PERCENT_DECIMALS), Ok(4 * 10u128.pow(25)));
    }

    #[test]
    fn expected_values_and_ranges() {
        let tokens = |text: &str| decimal(text, 6);
        let exact = Expected::parse("1.5", &tokens).unwrap();
        assert!(exact.accepts(1_500_000) && !exact.accepts(1_500_001));
        let range = Expected::parse("1..2", &tokens).unwrap();
        assert!(range.accepts(1_000_000) && range.accepts(2_000_000) && !range.accepts(2_000_001));
        let open = Expected::parse("..2", &tokens).unwrap();
        assert!(open.accepts(0) && !open.accepts(2_000_001));
        assert!(Expected::parse("5..", &tokens).unwrap().accepts(u128::MAX));
        assert!(Expected::parse("2..1", &tokens).is_err());
        assert!(Expected::parse("1.0000001", &tokens).is_err());
        assert_eq!(format_decimal(1_500_000, 6), "1.5");
    }
}
