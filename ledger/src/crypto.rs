//! ed25519 keys and signatures with strict verification.
//!
//! Verification is `verify_strict` (RFC 8032 with the checks of
//! ed25519-dalek's strict mode): the public key must be a canonical, valid
//! point that is not of small order, `S` must be canonical (`S < L`), and `R`
//! must not be of small order. Each failure has its own error, so the RPC can
//! answer with a precise, stable code.
//!
//! There is deliberately no batch verification: a batch equation is
//! cofactored and can accept a signature with a torsion component that the
//! strict single check rejects, so a batch fast path would change which
//! transactions are accepted. Verification is instead parallel across
//! transactions (see `exec::verify`).

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::Scalar;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::primitives::{Address, parse_hex_array};

/// An ed25519 signature (64 bytes: `R || S`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&const_hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..6]))
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        parse_hex_array(&text).map(Signature).map_err(serde::de::Error::custom)
    }
}

/// Why a signature does not verify. Each variant maps to its own RPC error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signer is not the encoding of a curve point.
    #[error("signer is not a valid ed25519 public key")]
    InvalidPublicKey,
    /// The signer is a point of small order (a weak key anyone can sign for).
    #[error("signer is a weak (small-order) ed25519 public key")]
    WeakPublicKey,
    /// `S` is not reduced modulo the group order (a malleated signature).
    #[error("signature is not canonical (S >= L)")]
    NonCanonical,
    /// The signature does not verify (wrong key, wrong message, small-order R).
    #[error("signature does not verify")]
    Invalid,
}

/// Whether a public key's `y` coordinate is canonical: below the field's
/// prime `p = 2^255 - 19`. ed25519-dalek decompresses `y >= p` by reducing
/// it, so one point would have two addresses (and the key would reach the
/// signature check and fail there, with the wrong error).
fn is_canonical_y(key: &[u8; 32]) -> bool {
    // y >= p exactly when its low 255 bits are 2^255 - 19 ..= 2^255 - 1: the
    // top byte (sign bit aside) is 0x7f, the middle bytes 0xff, the first
    // byte at least 0xed.
    let top_is_max = key[31] & 0x7f == 0x7f;
    let middle_is_max = key[1..31].iter().all(|&byte| byte == 0xff);
    !(top_is_max && middle_is_max && key[0] >= 0xed)
}

/// Verifies `signature` by `signer` over `message` with strict semantics.
pub fn verify_strict(signer: &Address, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
    if !is_canonical_y(signer.as_bytes()) {
        return Err(SignatureError::InvalidPublicKey);
    }
    let key = VerifyingKey::from_bytes(signer.as_bytes()).map_err(|_| SignatureError::InvalidPublicKey)?;
    if key.is_weak() {
        return Err(SignatureError::WeakPublicKey);
    }
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature.0[32..]);
    if bool::from(Scalar::from_canonical_bytes(s_bytes).is_none()) {
        return Err(SignatureError::NonCanonical);
    }
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature).map_err(|_| SignatureError::Invalid)
}

/// An ed25519 key pair. Its address is its public key.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// The key pair of a 32-byte secret seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair { signing: SigningKey::from_bytes(seed) }
    }

    /// A new key pair from the operating system's random source.
    pub fn generate() -> Result<Keypair, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Keypair::from_seed(&seed))
    }

    /// The secret seed. Handle with care.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The address (public key).
    pub fn address(&self) -> Address {
        Address(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        use ed25519_dalek::Signer;
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The group order L, little-endian.
    const ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    fn add_le(a: &[u8], b: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for index in 0..32 {
            let sum = u16::from(a[index]) + u16::from(b[index]) + carry;
            out[index] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        out
    }

    #[test]
    fn sign_and_verify() {
        let key = Keypair::from_seed(&[7; 32]);
        let signature = key.sign(b"hello");
        assert_eq!(verify_strict(&key.address(), b"hello", &signature), Ok(()));
        assert_eq!(verify_strict(&key.address(), b"hellO", &signature), Err(SignatureError::Invalid));
        let other = Keypair::from_seed(&[8; 32]);
        assert_eq!(verify_strict(&other.address(), b"hello", &signature), Err(SignatureError::Invalid));
    }

    #[test]
    fn rfc8032_test_vector_1() {
        let seed = parse_hex_array::<32>("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let key = Keypair::from_seed(&seed);
        assert_eq!(key.address().to_string(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let signature = key.sign(b"");
        assert_eq!(
            signature.to_string(),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        let key = Keypair::from_seed(&[9; 32]);
        let mut signature = key.sign(b"m");
        // S + L verifies under a lax check but is a malleated copy.
        let malleated = add_le(&signature.0[32..], &ORDER);
        signature.0[32..].copy_from_slice(&malleated);
        assert_eq!(verify_strict(&key.address(), b"m", &signature), Err(SignatureError::NonCanonical));
    }

    #[test]
    fn weak_and_invalid_keys_are_rejected() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let signature = Signature([0; 64]);
        assert_eq!(verify_strict(&Address(identity), b"m", &signature), Err(SignatureError::WeakPublicKey));
        // A point of order 2: y = -1.
        let minus_one =
            parse_hex_array::<32>("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap();
        assert_eq!(verify_strict(&Address(minus_one), b"m", &signature), Err(SignatureError::WeakPublicKey));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(verify_strict(&Address(off_curve), b"m", &signature), Err(SignatureError::InvalidPublicKey));
    }

    /// Every encoding with `y >= p` (19 values of `y`, two signs) is an
    /// invalid key, including those ed25519-dalek alone would decompress to
    /// a point that is not weak.
    #[test]
    fn non_canonical_y_is_an_invalid_key() {
        let signature = Keypair::from_seed(&[11; 32]).sign(b"m");
        let mut decompressed_strong = 0;
        for excess in 0u8..19 {
            for sign in [0u8, 0x80] {
                let mut key = [0xffu8; 32];
                key[0] = 0xed + excess;
                key[31] = 0x7f | sign;
                if VerifyingKey::from_bytes(&key).is_ok_and(|key| !key.is_weak()) {
                    decompressed_strong += 1;
                }
                assert_eq!(
                    verify_strict(&Address(key), b"m", &signature),
                    Err(SignatureError::InvalidPublicKey),
                    "y = p + {excess}, sign {sign}"
                );
            }
        }
        assert!(decompressed_strong > 0, "no y >= p decompresses: the check would never be reached");
        // p - 1 (y = -1, weak) is canonical: the bound is exact.
        let mut below = [0xffu8; 32];
        below[0] = 0xec;
        below[31] = 0x7f;
        assert!(is_canonical_y(&below));
    }

    #[test]
    fn small_order_r_is_rejected() {
        let key = Keypair::from_seed(&[10; 32]);
        let mut signature = key.sign(b"m");
        // Replace R by the identity point: a small-order R.
        signature.0[..32].copy_from_slice(&{
            let mut identity = [0u8; 32];
            identity[0] = 1;
            identity
        });
        assert_eq!(verify_strict(&key.address(), b"m", &signature), Err(SignatureError::Invalid));
    }
}
