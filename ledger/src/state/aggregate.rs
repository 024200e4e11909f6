//! Aggregate values: a fixed vector of `u128` fields.
//!
//! Encoding: each field as 16 bytes little-endian, in order, with trailing
//! zero fields dropped; all fields zero is the absent value. So each vector
//! has exactly one encoding, and a zero balance takes no space.

use crate::limits::AGGREGATE_FIELDS_MAX;
use crate::primitives::MathError;
use crate::state::{StoreError, Value};

/// The fields of an aggregate; absent fields are zero.
pub type Fields = [u128; AGGREGATE_FIELDS_MAX];

/// A stored aggregate that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    /// Not a canonical aggregate encoding.
    #[error("corrupt aggregate value")]
    Corrupt,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Decodes aggregate fields (`None` is all zero).
pub fn decode_fields(value: Option<&[u8]>) -> Result<Fields, AggregateError> {
    let mut fields = [0u128; AGGREGATE_FIELDS_MAX];
    let Some(bytes) = value else {
        return Ok(fields);
    };
    let count = bytes.len() / 16;
    if bytes.len() % 16 != 0 || count == 0 || count > AGGREGATE_FIELDS_MAX {
        return Err(AggregateError::Corrupt);
    }
    for (field, chunk) in fields.iter_mut().zip(bytes.chunks_exact(16)) {
        let mut raw = [0u8; 16];
        raw.copy_from_slice(chunk);
        *field = u128::from_le_bytes(raw);
    }
    if fields[count - 1] == 0 {
        return Err(AggregateError::Corrupt);
    }
    Ok(fields)
}

/// Encodes aggregate fields; all zero encodes as absent (`None`).
pub fn encode_fields(fields: &Fields) -> Option<Value> {
    let count = fields.iter().rposition(|&field| field != 0)? + 1;
    let mut out = Vec::with_capacity(count * 16);
    for field in &fields[..count] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    Some(Value::from(out))
}

/// A signed change to one field, with a magnitude up to `u128::MAX`.
///
/// A transaction's net change to a field always lies in
/// `(-2^128, 2^128)`: each step keeps the field within `[0, u128::MAX]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct SignedDelta {
    /// Whether the change is a decrease.
    pub negative: bool,
    /// Its size.
    pub magnitude: u128,
}

impl SignedDelta {
    /// No change.
    pub const ZERO: SignedDelta = SignedDelta { negative: false, magnitude: 0 };

    /// `value + self`, or an error outside `[0, u128::MAX]`.
    pub fn apply(self, value: u128) -> Result<u128, MathError> {
        if self.negative {
            value.checked_sub(self.magnitude).ok_or(MathError::Underflow)
        } else {
            value.checked_add(self.magnitude).ok_or(MathError::Overflow)
        }
    }

    /// `self + amount`.
    pub fn plus(self, amount: u128) -> Result<SignedDelta, MathError> {
        if !self.negative {
            return self.magnitude.checked_add(amount).map(SignedDelta::positive).ok_or(MathError::Overflow);
        }
        Ok(if amount >= self.magnitude {
            SignedDelta::positive(amount - self.magnitude)
        } else {
            SignedDelta { negative: true, magnitude: self.magnitude - amount }
        })
    }

    /// `self - amount`.
    pub fn minus(self, amount: u128) -> Result<SignedDelta, MathError> {
        if self.negative {
            return self
                .magnitude
                .checked_add(amount)
                .map(|magnitude| SignedDelta { negative: true, magnitude })
                .ok_or(MathError::Overflow);
        }
        Ok(if self.magnitude >= amount {
            SignedDelta::positive(self.magnitude - amount)
        } else {
            SignedDelta { negative: true, magnitude: amount - self.magnitude }
        })
    }

    /// `self + other`.
    pub fn combine(self, other: SignedDelta) -> Result<SignedDelta, MathError> {
        if other.negative { self.minus(other.magnitude) } else { self.plus(other.magnitude) }
    }

    fn positive(magnitude: u128) -> SignedDelta {
        SignedDelta { negative: false, magnitude }
    }

    /// Whether this is no change.
    pub fn is_zero(self) -> bool {
        self.magnitude == 0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn encoding_is_canonical() {
        assert_eq!(encode_fields(&[0; AGGREGATE_FIELDS_MAX]), None);
        let mut fields = [0u128; AGGREGATE_FIELDS_MAX];
        fields[1] = 5;
        let bytes = encode_fields(&fields).unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!(decode_fields(Some(&bytes)), Ok(fields));
        // A trailing zero field, a ragged length or too many fields are corrupt.
        assert_eq!(decode_fields(Some(&[0u8; 16])), Err(AggregateError::Corrupt));
        assert_eq!(decode_fields(Some(&[1u8; 17])), Err(AggregateError::Corrupt));
        assert_eq!(decode_fields(Some(&[1u8; 16 * 9])), Err(AggregateError::Corrupt));
        assert_eq!(decode_fields(Some(&[])), Err(AggregateError::Corrupt));
    }

    proptest! {
        #[test]
        fn signed_delta_matches_i256_arithmetic(start in any::<u128>(), steps in proptest::collection::vec((any::<bool>(), any::<u128>()), 0..8)) {
            // Walk a value through steps that stay in range; the net delta
            // applied to the start must land on the same value.
            let mut value = start;
            let mut net = SignedDelta::ZERO;
            for (add, amount) in steps {
                if add {
                    let Some(next) = value.checked_add(amount) else { continue };
                    value = next;
                    net = net.plus(amount).unwrap();
                } else {
                    let Some(next) = value.checked_sub(amount) else { continue };
                    value = next;
                    net = net.minus(amount).unwrap();
                }
            }
            prop_assert_eq!(net.apply(start), Ok(value));
        }
    }
}
