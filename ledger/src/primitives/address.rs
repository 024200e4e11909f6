use borsh::{BorshDeserialize, BorshSerialize};

use super::hex_bytes_newtype;

/// An account address: the signer's ed25519 public key (32 bytes).
///
/// Shown as 64 lowercase hex digits everywhere (CLI, RPC, logs). Parsing
/// accepts an optional `0x` prefix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 32]);

hex_bytes_newtype!(Address, "Address");

impl Address {
    /// The all-zero address. It is not a valid ed25519 key, so nobody can sign for it.
    pub const ZERO: Address = Address([0; 32]);

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_prefix() {
        let address = Address([0xab; 32]);
        let text = address.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Address>().unwrap(), address);
        assert_eq!(format!("0x{text}").parse::<Address>().unwrap(), address);
        assert!("abc".parse::<Address>().is_err());
        assert!("zz".repeat(32).parse::<Address>().is_err());
    }
}
