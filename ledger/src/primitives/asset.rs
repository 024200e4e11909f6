use std::fmt;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::limits::ASSET_SYMBOL_BYTES_MAX;

/// An asset id: its symbol, 1 to 8 characters from `A`–`Z` and `0`–`9`
/// (`USDC`, `WETH`, `WBTC`, `TBILL`).
///
/// Stored as 8 bytes, left-aligned and zero-padded, so it is `Copy`, cheap to
/// compare, and has exactly one encoding: decoding rejects anything else.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize)]
pub struct AssetId([u8; ASSET_SYMBOL_BYTES_MAX]);

impl Ord for AssetId {
    /// The order of the bytes, compared as one big-endian word.
    fn cmp(&self, other: &AssetId) -> std::cmp::Ordering {
        u64::from_be_bytes(self.0).cmp(&u64::from_be_bytes(other.0))
    }
}

impl PartialOrd for AssetId {
    fn partial_cmp(&self, other: &AssetId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not an asset symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetIdError {
    /// Empty, or longer than 8 characters.
    #[error("asset symbol must be 1 to {ASSET_SYMBOL_BYTES_MAX} characters")]
    Length,
    /// A character outside `A`–`Z`, `0`–`9`.
    #[error("asset symbol may only contain A-Z and 0-9")]
    Character,
}

impl AssetId {
    /// Builds an asset id from a symbol, exactly as written: `A`–`Z` and
    /// `0`–`9` only, so `usdc` is refused (JSON, scenario files and genesis
    /// files name assets this way). For a person's typing, see
    /// [`AssetId::from_typed`].
    pub fn new(symbol: &str) -> Result<AssetId, AssetIdError> {
        let bytes = symbol.as_bytes();
        if bytes.is_empty() || bytes.len() > ASSET_SYMBOL_BYTES_MAX {
            return Err(AssetIdError::Length);
        }
        let mut out = [0u8; ASSET_SYMBOL_BYTES_MAX];
        for (slot, &byte) in out.iter_mut().zip(bytes) {
            if !(byte.is_ascii_uppercase() || byte.is_ascii_digit()) {
                return Err(AssetIdError::Character);
            }
            *slot = byte;
        }
        Ok(AssetId(out))
    }

    /// Builds an asset id from what a person typed (a command-line flag):
    /// lowercase letters are upper-cased first, so `usdc` names `USDC`.
    pub fn from_typed(symbol: &str) -> Result<AssetId, AssetIdError> {
        AssetId::new(&symbol.to_ascii_uppercase())
    }

    /// Builds an asset id at compile time; panics on an invalid symbol, so it
    /// is meant for constants only.
    pub const fn from_static(symbol: &str) -> AssetId {
        let bytes = symbol.as_bytes();
        assert!(!bytes.is_empty() && bytes.len() <= ASSET_SYMBOL_BYTES_MAX);
        let mut out = [0u8; ASSET_SYMBOL_BYTES_MAX];
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            assert!(byte.is_ascii_uppercase() || byte.is_ascii_digit());
            out[index] = byte;
            index += 1;
        }
        AssetId(out)
    }

    /// The stored bytes: the symbol, zero-padded.
    pub fn as_bytes(&self) -> &[u8; ASSET_SYMBOL_BYTES_MAX] {
        &self.0
    }

    /// The symbol as a string slice.
    pub fn as_str(&self) -> &str {
        let length = self.0.iter().position(|&b| b == 0).unwrap_or(ASSET_SYMBOL_BYTES_MAX);
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0[..length]).unwrap_or("?")
    }

    /// Whether raw bytes are the canonical form of a symbol.
    fn is_canonical(bytes: &[u8; ASSET_SYMBOL_BYTES_MAX]) -> bool {
        let length = bytes.iter().position(|&b| b == 0).unwrap_or(ASSET_SYMBOL_BYTES_MAX);
        length > 0
            && bytes[..length].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && bytes[length..].iter().all(|&b| b == 0)
    }
}

impl BorshDeserialize for AssetId {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let bytes = <[u8; ASSET_SYMBOL_BYTES_MAX]>::deserialize_reader(reader)?;
        if !AssetId::is_canonical(&bytes) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "non-canonical asset symbol"));
        }
        Ok(AssetId(bytes))
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parsing is for what a person typed (the CLI's flags), so it accepts
/// lowercase: see [`AssetId::from_typed`]. Deserializing is strict.
impl std::str::FromStr for AssetId {
    type Err = AssetIdError;
    fn from_str(symbol: &str) -> Result<Self, Self::Err> {
        AssetId::from_typed(symbol)
    }
}

impl serde::Serialize for AssetId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AssetId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        AssetId::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        assert_eq!(AssetId::new("usdc"), Err(AssetIdError::Character));
        assert_eq!(AssetId::new("Usdc"), Err(AssetIdError::Character));
        assert_eq!(AssetId::from_typed("usdc").unwrap(), AssetId::from_static("USDC"));
        assert_eq!("wEth".parse::<AssetId>().unwrap(), AssetId::from_static("WETH"));
        assert!(serde_json::from_str::<AssetId>("\"usdc\"").is_err());
        assert_eq!(serde_json::from_str::<AssetId>("\"USDC\"").unwrap(), AssetId::from_static("USDC"));
        assert_eq!(AssetId::new("TBILL").unwrap().to_string(), "TBILL");
        assert_eq!(AssetId::new(""), Err(AssetIdError::Length));
        assert_eq!(AssetId::new("ABCDEFGHI"), Err(AssetIdError::Length));
        assert_eq!(AssetId::new("US-D"), Err(AssetIdError::Character));
    }

    #[test]
    fn order_is_byte_order() {
        let symbols = ["A", "A1", "AB", "B", "TBILL", "USDC", "WBTC", "WETH", "ZZZZZZZZ"];
        for a in symbols {
            for b in symbols {
                let (x, y) = (AssetId::from_static(a), AssetId::from_static(b));
                assert_eq!(x.cmp(&y), x.as_bytes().cmp(y.as_bytes()), "{a} {b}");
                assert_eq!(x.cmp(&y), a.cmp(b), "{a} {b}");
            }
        }
    }

    #[test]
    fn decoding_rejects_non_canonical_bytes() {
        let good = borsh::to_vec(&AssetId::from_static("WETH")).unwrap();
        assert_eq!(borsh::from_slice::<AssetId>(&good).unwrap(), AssetId::from_static("WETH"));
        for bad in [[0u8; 8], *b"WE\0TH\0\0\0", *b"weth\0\0\0\0", *b"WETH\0\0\0X"] {
            assert!(borsh::from_slice::<AssetId>(&bad).is_err(), "{bad:?}");
        }
    }
}
