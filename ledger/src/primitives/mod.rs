//! Primitive types: addresses, assets, amounts, hashes and fixed-point numbers.
//!
//! Every type here has exactly one binary encoding (borsh, see
//! `docs/encoding.md`) and exactly one text form (lowercase hex for bytes,
//! decimal strings for amounts), used everywhere: CLI, RPC and logs.

mod address;
mod amount;
mod asset;
pub mod fixed;
mod hash;

pub use address::Address;
pub use amount::{Amount, AmountParseError};
pub use asset::{AssetId, AssetIdError};
pub use fixed::{Bps, MathError, Ray, Rounding, Wad, mul_div};
pub use hash::{Hash, HashParseError, merkle_root, sha256, sha256_parts, sha256_tagged};

/// Error parsing a hex string into a fixed-size byte array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string is not `2 * N` hex digits (an optional `0x` prefix is allowed).
    #[error("expected {expected} hex digits, got {got}")]
    Length {
        /// Hex digits expected.
        expected: usize,
        /// Hex digits found.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("invalid hex digit")]
    Digit,
}

/// Parses `2 * N` hex digits (optionally prefixed with `0x`) into `N` bytes.
pub fn parse_hex_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 2 * N {
        return Err(HexError::Length { expected: 2 * N, got: digits.len() });
    }
    let mut out = [0u8; N];
    const_hex::decode_to_slice(digits, &mut out).map_err(|_| HexError::Digit)?;
    Ok(out)
}

/// Implements `Display`, `Debug`, `FromStr` and string serde for a 32-byte newtype.
macro_rules! hex_bytes_newtype {
    ($name:ident, $label:literal) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&const_hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($label, "({})"), hex::encode(&self.0[..6]))
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::primitives::HexError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $crate::primitives::parse_hex_array(text).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use hex_bytes_newtype;
