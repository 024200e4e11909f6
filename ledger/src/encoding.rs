//! The one canonical encoding: borsh, with validated newtypes.
//!
//! Everything signed, hashed or stored goes through [`encode_canonical`] (or
//! [`encode_canonical_into`]). Borsh writes into a `Vec` without I/O, so the
//! only way it can fail is a type whose own serializer refuses its value (a
//! bug, never user input): that is asserted with the type and the reason
//! rather than swallowed into empty bytes that would hash like any other.

use borsh::BorshSerialize;

/// The canonical bytes of `value`.
///
/// # Panics
/// If the type's serializer fails, which no parlend type does.
pub fn encode_canonical<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    encode_canonical_into(value, &mut out);
    out
}

/// The canonical bytes of `value`, written into one allocation of their
/// exact size (one more pass over the value, to measure it): for values of
/// megabytes, which growing the buffer by doubling copies and faults in anew.
pub fn encode_canonical_sized<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(borsh::object_length(value).unwrap_or(0));
    encode_canonical_into(value, &mut out);
    out
}

/// Appends the canonical bytes of `value` to `out`.
///
/// # Panics
/// If the type's serializer fails, which no parlend type does.
pub fn encode_canonical_into<T: BorshSerialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    if let Err(error) = value.serialize(out) {
        panic!("canonical encoding of {} failed: {error}", std::any::type_name::<T>());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuses;

    impl BorshSerialize for Refuses {
        fn serialize<W: std::io::Write>(&self, _: &mut W) -> std::io::Result<()> {
            Err(std::io::Error::other("refused"))
        }
    }

    #[test]
    fn encodes_like_borsh() {
        assert_eq!(encode_canonical(&(7u32, "ab")), borsh::to_vec(&(7u32, "ab")).unwrap());
        let mut out = vec![1];
        encode_canonical_into(&2u8, &mut out);
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    #[should_panic(expected = "canonical encoding of parlend_ledger::encoding::tests::Refuses failed: refused")]
    fn a_failing_serializer_is_asserted_with_the_reason() {
        encode_canonical(&Refuses);
    }
}
