//! Expected values of scenario files: exact values and `min..max` ranges,
//! in the human units of [`parlend_contracts::units`].

use parlend_ledger::Amount;

/// The parsers every front end shares (amounts, dollars, percentages,
/// durations); scenario files use exactly the CLI's spellings.
pub use parlend_contracts::units::{RAY_PERCENT_DECIMALS, WAD_DECIMALS, decimal, duration, percent};

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
    fn expected_values_and_ranges() {
        let tokens = |text: &str| decimal(text, 6).map_err(|error| error.to_string());
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
