use std::cmp::Ordering;

use borsh::{BorshDeserialize, BorshSerialize};

use super::hex_bytes_newtype;

/// An account address: the signer's ed25519 public key (32 bytes).
///
/// Shown as 64 lowercase hex digits everywhere (CLI, RPC, logs). Parsing
/// accepts an optional `0x` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 32]);

impl Ord for Address {
    /// The order of the bytes, compared as two big-endian 128-bit words:
    /// inlined integer comparisons instead of a call to `memcmp`. State keys
    /// start with an address and are compared millions of times a block.
    fn cmp(&self, other: &Address) -> Ordering {
        self.words().cmp(&other.words())
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Address) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

hex_bytes_newtype!(Address, "Address");

impl Address {
    /// The all-zero address. It is not a valid ed25519 key, so nobody can sign for it.
    pub const ZERO: Address = Address([0; 32]);

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn words(&self) -> (u128, u128) {
        let (mut high, mut low) = ([0u8; 16], [0u8; 16]);
        high.copy_from_slice(&self.0[..16]);
        low.copy_from_slice(&self.0[16..]);
        (u128::from_be_bytes(high), u128::from_be_bytes(low))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn order_is_byte_order(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), shared in 0usize..32) {
            prop_assert_eq!(Address(a).cmp(&Address(b)), a.cmp(&b));
            // Equal up to a point, the harder case.
            let mut c = a;
            c[shared..].copy_from_slice(&b[shared..]);
            prop_assert_eq!(Address(a).cmp(&Address(c)), a.cmp(&c));
            prop_assert_eq!(Address(c).partial_cmp(&Address(a)), Some(c.cmp(&a)));
        }
    }

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
