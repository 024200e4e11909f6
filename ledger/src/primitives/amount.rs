use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};

/// An amount of an asset in base units (`1 USDC = 1_000_000` at 6 decimals).
///
/// Never a float. Arithmetic is checked: an overflow is an error the caller
/// must handle, never a wrap. In JSON an amount is a decimal string of base
/// units (`"1500000"`), because JSON numbers lose precision past 2^53.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Amount(pub u128);

/// Why a decimal string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountParseError {
    /// Not a decimal number (`12`, `1.5`, `0.000001`).
    #[error("not a decimal number: {0:?}")]
    Syntax(String),
    /// More fractional digits than the asset has decimals.
    #[error("{text:?} has more than {decimals} decimal places")]
    Precision {
        /// The input.
        text: String,
        /// The asset's decimals.
        decimals: u8,
    },
    /// Larger than `u128::MAX` base units.
    #[error("{0:?} is too large")]
    Overflow(String),
}

impl Amount {
    /// Zero base units.
    pub const ZERO: Amount = Amount(0);
    /// The largest amount.
    pub const MAX: Amount = Amount(u128::MAX);

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` when `other > self`.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Whether the amount is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses whole tokens written as a decimal (`"1.5"`) into base units for
    /// an asset with `decimals` decimals. Exact: more fractional digits than
    /// the asset has is an error, never a silent rounding.
    pub fn from_decimal_str(text: &str, decimals: u8) -> Result<Amount, AmountParseError> {
        let syntax = || AmountParseError::Syntax(text.to_string());
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
            return Err(syntax());
        }
        if text.ends_with('.') {
            return Err(syntax());
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > usize::from(decimals) {
            return Err(AmountParseError::Precision { text: text.to_string(), decimals });
        }
        let overflow = || AmountParseError::Overflow(text.to_string());
        let scale = 10u128.checked_pow(u32::from(decimals)).ok_or_else(overflow)?;
        let whole_units = if whole.is_empty() { 0 } else { whole.parse::<u128>().map_err(|_| overflow())? };
        let mut fraction_units =
            if fraction.is_empty() { 0 } else { fraction.parse::<u128>().map_err(|_| overflow())? };
        for _ in fraction.len()..usize::from(decimals) {
            fraction_units = fraction_units.checked_mul(10).ok_or_else(overflow)?;
        }
        whole_units
            .checked_mul(scale)
            .and_then(|units| units.checked_add(fraction_units))
            .map(Amount)
            .ok_or_else(overflow)
    }

    /// Formats base units as whole tokens (`1500000` at 6 decimals is `"1.5"`).
    pub fn to_decimal_string(self, decimals: u8) -> String {
        let Some(scale) = 10u128.checked_pow(u32::from(decimals)) else {
            return self.0.to_string();
        };
        let whole = self.0 / scale;
        let fraction = self.0 % scale;
        if fraction == 0 {
            return whole.to_string();
        }
        let digits = format!("{fraction:0width$}", width = usize::from(decimals));
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl From<u128> for Amount {
    fn from(units: u128) -> Amount {
        Amount(units)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for Amount {
    type Err = AmountParseError;
    /// Parses base units (`"1500000"`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountParseError::Syntax(text.to_string()));
        }
        text.parse::<u128>().map(Amount).map_err(|_| AmountParseError::Overflow(text.to_string()))
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parsing_is_exact() {
        assert_eq!(Amount::from_decimal_str("1.5", 6), Ok(Amount(1_500_000)));
        assert_eq!(Amount::from_decimal_str("0.000001", 6), Ok(Amount(1)));
        assert_eq!(Amount::from_decimal_str(".5", 6), Ok(Amount(500_000)));
        assert_eq!(Amount::from_decimal_str("2.50000000", 6), Ok(Amount(2_500_000)));
        assert_eq!(Amount::from_decimal_str("7", 0), Ok(Amount(7)));
        assert!(matches!(Amount::from_decimal_str("0.0000001", 6), Err(AmountParseError::Precision { .. })));
        for bad in ["", ".", "1.", "-1", "1e6", "1.2.3", " 1", "0x10"] {
            assert!(matches!(Amount::from_decimal_str(bad, 6), Err(AmountParseError::Syntax(_))), "{bad}");
        }
        let max = u128::MAX.to_string();
        assert!(matches!(Amount::from_decimal_str(&max, 1), Err(AmountParseError::Overflow(_))));
        assert_eq!(Amount::from_decimal_str(&max, 0), Ok(Amount::MAX));
    }

    #[test]
    fn decimal_formatting() {
        assert_eq!(Amount(1_500_000).to_decimal_string(6), "1.5");
        assert_eq!(Amount(1).to_decimal_string(18), "0.000000000000000001");
        assert_eq!(Amount(3_000_000).to_decimal_string(6), "3");
        assert_eq!(Amount(0).to_decimal_string(8), "0");
    }

    #[test]
    fn json_is_a_decimal_string() {
        assert_eq!(serde_json::to_string(&Amount(u128::MAX)).unwrap(), format!("\"{}\"", u128::MAX));
        assert_eq!(serde_json::from_str::<Amount>("\"15\"").unwrap(), Amount(15));
        assert!(serde_json::from_str::<Amount>("15").is_err());
        assert!("12a".parse::<Amount>().is_err());
        assert!("".parse::<Amount>().is_err());
        assert!("340282366920938463463374607431768211456".parse::<Amount>().is_err());
    }
}
