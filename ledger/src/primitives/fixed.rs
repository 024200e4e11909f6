//! Fixed-point arithmetic with named rounding.
//!
//! Three scales, as in Aave v3:
//! - [`Wad`]: 1e18, for prices in base currency and the health factor.
//! - [`Ray`]: 1e27, for interest rates and indices.
//! - [`Bps`]: 1e4 (basis points), for market parameters (LTV, bonus, fees).
//!
//! Every division names its rounding ([`Rounding`]) and the caller picks the
//! direction that favours the protocol: debt rounds up, claims and collateral
//! value round down. Products are computed in 256 bits, so `a * b / c` never
//! overflows in the middle; only a result above `u128::MAX` is an error.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ruint::aliases::U256;

/// Direction of a rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Toward zero (floor, for non-negative numbers). Claims, collateral value.
    Down,
    /// Away from zero (ceiling). Debt.
    Up,
    /// To nearest, halves away from zero. Only where neither side gains, such
    /// as display; never for balances.
    HalfUp,
}

/// An arithmetic error. Checked arithmetic returns these instead of wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MathError {
    /// The result does not fit in 128 bits.
    #[error("arithmetic overflow")]
    Overflow,
    /// Division by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// A subtraction would go below zero.
    #[error("arithmetic underflow")]
    Underflow,
}

/// `a * b / denominator`, computed in 256 bits, rounded as asked.
pub fn mul_div(a: u128, b: u128, denominator: u128, rounding: Rounding) -> Result<u128, MathError> {
    if denominator == 0 {
        return Err(MathError::DivisionByZero);
    }
    // Fast path: the product fits in 128 bits (the common case for amounts).
    if let Some(product) = a.checked_mul(b) {
        let quotient = product / denominator;
        let remainder = product % denominator;
        return round_up_if(quotient, remainder, denominator, rounding);
    }
    let product = U256::from(a) * U256::from(b);
    let (quotient, remainder) = product.div_rem(U256::from(denominator));
    let quotient = u128::try_from(quotient).map_err(|_| MathError::Overflow)?;
    let remainder = u128::try_from(remainder).map_err(|_| MathError::Overflow)?;
    round_up_if(quotient, remainder, denominator, rounding)
}

/// `a * b / denominator` rounded down.
pub fn mul_div_floor(a: u128, b: u128, denominator: u128) -> Result<u128, MathError> {
    mul_div(a, b, denominator, Rounding::Down)
}

/// `a * b / denominator` rounded up.
pub fn mul_div_ceil(a: u128, b: u128, denominator: u128) -> Result<u128, MathError> {
    mul_div(a, b, denominator, Rounding::Up)
}

fn round_up_if(quotient: u128, remainder: u128, denominator: u128, rounding: Rounding) -> Result<u128, MathError> {
    let up = match rounding {
        Rounding::Down => false,
        Rounding::Up => remainder != 0,
        // remainder >= denominator / 2, without overflowing `remainder * 2`.
        Rounding::HalfUp => remainder >= denominator - remainder,
    };
    if up { quotient.checked_add(1).ok_or(MathError::Overflow) } else { Ok(quotient) }
}

macro_rules! fixed_point {
    ($(#[$meta:meta])* $name:ident, $scale:expr, $decimals:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
        pub struct $name(pub u128);

        impl $name {
            /// The scale: the raw value of one.
            pub const SCALE: u128 = $scale;
            /// Decimal digits of the scale.
            pub const DECIMALS: u8 = $decimals;
            /// Zero.
            pub const ZERO: $name = $name(0);
            /// One.
            pub const ONE: $name = $name($scale);
            /// The largest value.
            pub const MAX: $name = $name(u128::MAX);

            /// `numerator / denominator` as a fixed-point number.
            pub fn from_ratio(numerator: u128, denominator: u128, rounding: Rounding) -> Result<$name, MathError> {
                mul_div(numerator, Self::SCALE, denominator, rounding).map($name)
            }

            /// A whole number as a fixed-point number.
            pub fn from_integer(integer: u128) -> Result<$name, MathError> {
                integer.checked_mul(Self::SCALE).map($name).ok_or(MathError::Overflow)
            }

            /// `self * other`.
            pub fn mul(self, other: $name, rounding: Rounding) -> Result<$name, MathError> {
                mul_div(self.0, other.0, Self::SCALE, rounding).map($name)
            }

            /// `self / other`.
            pub fn div(self, other: $name, rounding: Rounding) -> Result<$name, MathError> {
                mul_div(self.0, Self::SCALE, other.0, rounding).map($name)
            }

            /// `integer * self`: scales an integer (an amount) by this factor.
            pub fn mul_int(self, integer: u128, rounding: Rounding) -> Result<u128, MathError> {
                mul_div(integer, self.0, Self::SCALE, rounding)
            }

            /// `integer / self`: divides an integer (an amount) by this factor.
            pub fn div_int(self, integer: u128, rounding: Rounding) -> Result<u128, MathError> {
                mul_div(integer, Self::SCALE, self.0, rounding)
            }

            /// `self + other`.
            pub fn checked_add(self, other: $name) -> Result<$name, MathError> {
                self.0.checked_add(other.0).map($name).ok_or(MathError::Overflow)
            }

            /// `self - other`.
            pub fn checked_sub(self, other: $name) -> Result<$name, MathError> {
                self.0.checked_sub(other.0).map($name).ok_or(MathError::Underflow)
            }

            /// The value as a decimal string with every digit (`"1.333333333333333333"`).
            pub fn to_decimal_string(self) -> String {
                let whole = self.0 / Self::SCALE;
                let fraction = self.0 % Self::SCALE;
                if fraction == 0 {
                    return whole.to_string();
                }
                let digits = format!("{fraction:0width$}", width = usize::from(Self::DECIMALS));
                format!("{whole}.{}", digits.trim_end_matches('0'))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_decimal_string())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_decimal_string())
            }
        }

        /// In JSON: the raw integer as a decimal string, so no precision is lost.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(serde::de::Error::custom("expected a decimal integer string"));
                }
                text.parse::<u128>().map($name).map_err(serde::de::Error::custom)
            }
        }
    };
}

fixed_point!(
    /// A number with 18 decimals (1e18 = 1.0): prices and the health factor.
    Wad, 1_000_000_000_000_000_000, 18
);

fixed_point!(
    /// A number with 27 decimals (1e27 = 1.0): interest rates and indices.
    Ray, 1_000_000_000_000_000_000_000_000_000, 27
);

impl Ray {
    /// Converts to a [`Wad`], dropping 9 digits with the given rounding.
    pub fn to_wad(self, rounding: Rounding) -> Result<Wad, MathError> {
        mul_div(self.0, 1, 1_000_000_000, rounding).map(Wad)
    }
}

impl Wad {
    /// Converts to a [`Ray`] (exact).
    pub fn to_ray(self) -> Result<Ray, MathError> {
        self.0.checked_mul(1_000_000_000).map(Ray).ok_or(MathError::Overflow)
    }
}

/// Basis points: 1 bps = 0.01%, 10_000 bps = 100%. Market parameters.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    BorshSerialize,
    BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Bps(pub u16);

impl Bps {
    /// 100%.
    pub const ONE: Bps = Bps(10_000);
    /// 0%.
    pub const ZERO: Bps = Bps(0);
    /// The scale as an integer.
    pub const SCALE: u128 = 10_000;

    /// `amount * self / 10_000`.
    pub fn apply(self, amount: u128, rounding: Rounding) -> Result<u128, MathError> {
        mul_div(amount, u128::from(self.0), Self::SCALE, rounding)
    }

    /// `10_000 - self`, or an error above 100%.
    pub fn complement(self) -> Result<Bps, MathError> {
        Self::ONE.0.checked_sub(self.0).map(Bps).ok_or(MathError::Underflow)
    }

    /// The value as a [`Ray`] (exact).
    pub fn to_ray(self) -> Ray {
        Ray(u128::from(self.0) * (Ray::SCALE / Self::SCALE))
    }

    /// The value as a [`Wad`] (exact).
    pub fn to_wad(self) -> Wad {
        Wad(u128::from(self.0) * (Wad::SCALE / Self::SCALE))
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bps({self})")
    }
}

#[cfg(test)]
mod tests {
    use num_bigint::BigUint;
    use proptest::prelude::*;

    use super::*;

    /// The wide-integer reference: arbitrary precision, rounding written out.
    fn reference(a: u128, b: u128, d: u128, rounding: Rounding) -> Option<u128> {
        let product = BigUint::from(a) * BigUint::from(b);
        let d = BigUint::from(d);
        let quotient = &product / &d;
        let remainder = &product % &d;
        let zero = BigUint::from(0u8);
        let up = match rounding {
            Rounding::Down => false,
            Rounding::Up => remainder != zero,
            Rounding::HalfUp => remainder * 2u8 >= d,
        };
        let result = if up { quotient + 1u8 } else { quotient };
        u128::try_from(result).ok()
    }

    fn any_rounding() -> impl Strategy<Value = Rounding> {
        prop_oneof![Just(Rounding::Down), Just(Rounding::Up), Just(Rounding::HalfUp)]
    }

    /// Operands spread over every magnitude, not only near `u128::MAX`.
    fn operand() -> impl Strategy<Value = u128> {
        prop_oneof![any::<u128>(), (0u32..128).prop_flat_map(|bits| 0..=(u128::MAX >> bits)), 0u128..1000]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn mul_div_matches_wide_reference(a in operand(), b in operand(), d in operand(), rounding in any_rounding()) {
            let expected = if d == 0 { None } else { reference(a, b, d, rounding) };
            let actual = mul_div(a, b, d, rounding);
            match expected {
                Some(value) => prop_assert_eq!(actual, Ok(value)),
                None if d == 0 => prop_assert_eq!(actual, Err(MathError::DivisionByZero)),
                None => prop_assert_eq!(actual, Err(MathError::Overflow)),
            }
        }

        #[test]
        fn rounding_directions_bracket_the_exact_value(a in operand(), b in operand(), d in 1u128..) {
            if let (Ok(down), Ok(up)) = (mul_div(a, b, d, Rounding::Down), mul_div(a, b, d, Rounding::Up)) {
                let exact = BigUint::from(a) * BigUint::from(b);
                // down * d <= a * b <= up * d, and they differ by at most one.
                prop_assert!(BigUint::from(down) * BigUint::from(d) <= exact);
                prop_assert!(BigUint::from(up) * BigUint::from(d) >= exact);
                prop_assert!(up - down <= 1);
                let half = mul_div(a, b, d, Rounding::HalfUp).unwrap();
                prop_assert!(half == down || half == up);
            }
        }

        #[test]
        fn ray_and_wad_ops_round_in_the_named_direction(x in 0u128..u128::MAX / 4, y in 1u128..u128::MAX / 4) {
            for rounding in [Rounding::Down, Rounding::Up] {
                prop_assert_eq!(Ray(x).mul(Ray(y), rounding).ok().map(|r| r.0), reference(x, y, Ray::SCALE, rounding));
                prop_assert_eq!(Wad(x).div(Wad(y), rounding).ok().map(|r| r.0), reference(x, Wad::SCALE, y, rounding));
                prop_assert_eq!(Ray(y).mul_int(x, rounding).ok(), reference(x, y, Ray::SCALE, rounding));
                prop_assert_eq!(Ray(y).div_int(x, rounding).ok(), reference(x, Ray::SCALE, y, rounding));
                prop_assert_eq!(Bps(7_500).apply(x, rounding).ok(), reference(x, 7_500, 10_000, rounding));
            }
        }
    }

    #[test]
    fn named_examples() {
        // 10_000 * 0.8 / 6_000 = 1.3333...: down truncates, up bumps the last digit.
        let ratio_down = Wad::from_ratio(8_000, 6_000, Rounding::Down).unwrap();
        let ratio_up = Wad::from_ratio(8_000, 6_000, Rounding::Up).unwrap();
        assert_eq!(ratio_down.to_string(), "1.333333333333333333");
        assert_eq!(ratio_up.to_string(), "1.333333333333333334");
        assert_eq!(mul_div(5, 1, 2, Rounding::HalfUp), Ok(3));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX, Rounding::Down), Ok(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 1, Rounding::Down), Err(MathError::Overflow));
        assert_eq!(mul_div(1, 1, 0, Rounding::Down), Err(MathError::DivisionByZero));
        assert_eq!(
            Ray(1_500_000_000_000_000_000_000_000_001).to_wad(Rounding::Up).unwrap().0,
            1_500_000_000_000_000_001
        );
        assert_eq!(Bps(8_000).complement(), Ok(Bps(2_000)));
        assert_eq!(Bps(10_500).complement(), Err(MathError::Underflow));
        assert_eq!(Bps(8_050).to_string(), "80.50%");
    }
}
