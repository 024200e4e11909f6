//! ed25519 keys and signatures with strict verification.
//!
//! Verification is `verify_strict` (RFC 8032 with the checks of
//! ed25519-dalek's strict mode): the public key must be a canonical, valid
//! point that is not of small order, `S` must be canonical (`S < L`), and `R`
//! must not be of small order. Each failure has its own error, so the RPC can
//! answer with a precise, stable code.
//!
//! The node's own checks go through [`verify_strict_cached`]: the same
//! verdict for every input, with each recent signer's key decompressed once
//! ([`KeyCache`]) and the final comparison made on points rather than
//! encodings (no field inversion). [`verify_strict`] is the library's check
//! itself, the reference the cached one is tested against.
//!
//! There is deliberately no batch verification: a batch equation is
//! cofactored and can accept a signature with a torsion component that the
//! strict single check rejects, so a batch fast path would change which
//! transactions are accepted. Verification is instead parallel across
//! transactions (see `exec::verify`).

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use ed25519_dalek::{SigningKey, VerifyingKey};
use hashlink::LruCache;
use parking_lot::Mutex;
use sha2::{Digest, Sha512};

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
    verify_with_key(&public_key(signer)?, message, signature)
}

/// [`verify_strict`]'s verdict, with `signer`'s decompressed key taken from
/// `keys` (and kept there), for about three quarters of the work: the key's
/// decompression is done once per signer, and the last step compares points
/// instead of encodings (see `check_equation`). A property test checks
/// the verdict against [`verify_strict`] on valid, altered and adversarial
/// signatures.
pub fn verify_strict_cached(
    keys: &KeyCache,
    signer: &Address,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let minus_a = keys.get(signer)?;
    let s = canonical_s(signature)?;
    check_equation(&minus_a, signer, message, signature, &s)
}

/// `signer` as a verifying key: a canonical encoding of a point that is not
/// of small order.
fn public_key(signer: &Address) -> Result<VerifyingKey, SignatureError> {
    if !is_canonical_y(signer.as_bytes()) {
        return Err(SignatureError::InvalidPublicKey);
    }
    let key = VerifyingKey::from_bytes(signer.as_bytes()).map_err(|_| SignatureError::InvalidPublicKey)?;
    if key.is_weak() {
        return Err(SignatureError::WeakPublicKey);
    }
    Ok(key)
}

/// The signature's `S`, if canonical (`S < L`).
fn canonical_s(signature: &Signature) -> Result<Scalar, SignatureError> {
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature.0[32..]);
    Option::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(SignatureError::NonCanonical)
}

/// The strict check of `signature` over `message` by a valid `key`: the
/// library's own.
fn verify_with_key(key: &VerifyingKey, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
    canonical_s(signature)?;
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &signature).map_err(|_| SignatureError::Invalid)
}

/// The verification equation of `verify_strict`, `R == [S]B - [k]A` with
/// `k = SHA-512(R || A || M) mod L`, for a valid key (`minus_a` is `-A`, the
/// point of `signer`) and a canonical `s`.
///
/// The library decompresses `R` (rejecting one of small order), then
/// compares the encoding of `[S]B - [k]A` with `R`'s bytes, which costs a
/// field inversion. This compares the points in projective coordinates
/// instead, after checking that `R`'s bytes are the canonical encoding of
/// the point they decompress to, so that the two comparisons agree:
/// - `y` must be below `p` (a `y >= p` never equals an encoding the library
///   computes, so it never verifies there);
/// - the sign bit then always matches `x`'s parity, except when `x = 0` with
///   the sign bit set, which decompresses to `y = ±1`: the identity or the
///   point of order 2, both of small order, rejected before.
fn check_equation(
    minus_a: &EdwardsPoint,
    signer: &Address,
    message: &[u8],
    signature: &Signature,
    s: &Scalar,
) -> Result<(), SignatureError> {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature.0[..32]);
    if !is_canonical_y(&r_bytes) {
        return Err(SignatureError::Invalid);
    }
    let r = CompressedEdwardsY(r_bytes).decompress().ok_or(SignatureError::Invalid)?;
    if r.is_small_order() {
        return Err(SignatureError::Invalid);
    }
    let k =
        Scalar::from_hash(Sha512::new().chain_update(r_bytes).chain_update(signer.as_bytes()).chain_update(message));
    if EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, minus_a, s) == r {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// The shards of a [`KeyCache`]: threads checking signatures at once rarely
/// wait for one another.
const KEY_CACHE_SHARDS: usize = 16;

/// Decompressed verifying keys of recent signers (negated, as the
/// verification equation takes them), bounded (least recently used out
/// first). Only valid keys are kept: an invalid or weak signer is checked
/// again each time, with the same error.
pub struct KeyCache {
    shards: Vec<Mutex<LruCache<Address, EdwardsPoint>>>,
}

impl KeyCache {
    /// A cache of at most about `capacity` keys (at least one per shard).
    pub fn new(capacity: usize) -> KeyCache {
        let per_shard = capacity.div_ceil(KEY_CACHE_SHARDS).max(1);
        KeyCache { shards: (0..KEY_CACHE_SHARDS).map(|_| Mutex::new(LruCache::new(per_shard))).collect() }
    }

    /// `-A` for `signer`'s point `A`, from the cache or decompressed, checked
    /// and kept.
    fn get(&self, signer: &Address) -> Result<EdwardsPoint, SignatureError> {
        let shard = &self.shards[usize::from(signer.as_bytes()[0]) % KEY_CACHE_SHARDS];
        if let Some(minus_a) = shard.lock().get(signer) {
            return Ok(*minus_a);
        }
        let minus_a = -public_key(signer)?.to_edwards();
        shard.lock().insert(*signer, minus_a);
        Ok(minus_a)
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache").field("keys", &self.len()).finish()
    }
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
    use proptest::prelude::*;

    use super::*;

    /// The verdict of `verify_strict`, checked to be the cached check's
    /// too, on a miss and then on a hit of one cache.
    fn checked(signer: &Address, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let verdict = verify_strict(signer, message, signature);
        let keys = KeyCache::new(4);
        assert_eq!(verify_strict_cached(&keys, signer, message, signature), verdict, "on a miss");
        assert_eq!(verify_strict_cached(&keys, signer, message, signature), verdict, "on a hit");
        assert_eq!(
            keys.len(),
            usize::from(
                verdict != Err(SignatureError::InvalidPublicKey) && verdict != Err(SignatureError::WeakPublicKey)
            )
        );
        verdict
    }

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
        assert_eq!(checked(&key.address(), b"hello", &signature), Ok(()));
        assert_eq!(checked(&key.address(), b"hellO", &signature), Err(SignatureError::Invalid));
        let other = Keypair::from_seed(&[8; 32]);
        assert_eq!(checked(&other.address(), b"hello", &signature), Err(SignatureError::Invalid));
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
        assert_eq!(checked(&key.address(), b"m", &signature), Err(SignatureError::NonCanonical));
    }

    #[test]
    fn weak_and_invalid_keys_are_rejected() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let signature = Signature([0; 64]);
        assert_eq!(checked(&Address(identity), b"m", &signature), Err(SignatureError::WeakPublicKey));
        // A point of order 2: y = -1.
        let minus_one =
            parse_hex_array::<32>("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap();
        assert_eq!(checked(&Address(minus_one), b"m", &signature), Err(SignatureError::WeakPublicKey));
        // y = 2 is not on the curve.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(checked(&Address(off_curve), b"m", &signature), Err(SignatureError::InvalidPublicKey));
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
                    checked(&Address(key), b"m", &signature),
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
        assert_eq!(checked(&key.address(), b"m", &signature), Err(SignatureError::Invalid));
    }

    #[test]
    fn the_key_cache_is_bounded_and_keeps_verifying() {
        let keys = KeyCache::new(32);
        let signers: Vec<Keypair> = (0..200u8).map(|seed| Keypair::from_seed(&[seed; 32])).collect();
        for round in 0..2 {
            for key in &signers {
                let signature = key.sign(&[round]);
                assert_eq!(verify_strict_cached(&keys, &key.address(), &[round], &signature), Ok(()));
                assert_eq!(
                    verify_strict_cached(&keys, &key.address(), &[round + 1], &signature),
                    Err(SignatureError::Invalid)
                );
                assert!(keys.len() <= 32, "{} keys", keys.len());
            }
        }
        assert!(!keys.is_empty());
    }

    /// A signature made by hand with secret scalar `a` and nonce point
    /// `[r]B + torsion`: `(A, R || S)` with `S = r + k a`, `k = H(R || A || M)`.
    fn by_hand(a: Scalar, r: Scalar, torsion: EdwardsPoint, message: &[u8]) -> (Address, Signature) {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        let public = (B * a).compress().to_bytes();
        let big_r = (B * r + torsion).compress().to_bytes();
        let k = Scalar::from_hash(Sha512::new().chain_update(big_r).chain_update(public).chain_update(message));
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice((r + k * a).as_bytes());
        (Address(public), Signature(signature))
    }

    /// Signatures whose `R` has a torsion component satisfy the cofactored
    /// equation but not the strict one: both checks reject every one, and
    /// accept the same signature without it.
    #[test]
    fn r_with_a_torsion_component_is_rejected_by_both_checks() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        for (index, torsion) in EIGHT_TORSION.iter().enumerate() {
            let (a, r) = (Scalar::from(1_000_003u64 * (index as u64 + 1)), Scalar::from(77_777u64 + index as u64));
            let (signer, signature) = by_hand(a, r, *torsion, b"torsion");
            let expected = if index == 0 { Ok(()) } else { Err(SignatureError::Invalid) };
            assert_eq!(checked(&signer, b"torsion", &signature), expected, "torsion point {index}");
        }
        // R the identity and S = k a: the equation holds, but R has small order.
        let (signer, signature) = by_hand(Scalar::from(5u64), Scalar::ZERO, EIGHT_TORSION[0], b"identity");
        assert_eq!(signature.0[..32], curve25519_dalek::edwards::EdwardsPoint::default().compress().to_bytes());
        assert_eq!(checked(&signer, b"identity", &signature), Err(SignatureError::Invalid));
    }

    /// Every small-order `R`, in its canonical encoding and in the
    /// non-canonical ones (`y + p` where it fits, the sign bit set on
    /// `x = 0`), and non-canonical encodings of other points: rejected by
    /// both checks alike.
    #[test]
    fn small_order_and_non_canonical_r_are_rejected_by_both_checks() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let key = Keypair::from_seed(&[12; 32]);
        let valid = key.sign(b"r");
        let mut encodings: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(|point| point.compress().to_bytes()).collect();
        for y in 0u8..19 {
            // y + p, both signs: p = 2^255 - 19, so y + p = 2^255 - 19 + y.
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xed + y;
            bytes[31] = 0x7f;
            encodings.push(bytes);
            bytes[31] = 0xff;
            encodings.push(bytes);
        }
        for canonical in EIGHT_TORSION.iter().map(|point| point.compress().to_bytes()) {
            let mut flipped = canonical;
            flipped[31] ^= 0x80;
            encodings.push(flipped);
        }
        for encoding in encodings {
            let mut signature = valid;
            signature.0[..32].copy_from_slice(&encoding);
            assert_eq!(checked(&key.address(), b"r", &signature), Err(SignatureError::Invalid), "{encoding:?}");
        }
    }

    proptest! {
        /// Random keys, messages and signatures, some of them altered: the
        /// cached check's verdict is `verify_strict`'s, every time.
        #[test]
        fn the_cached_check_is_the_strict_check(
            seeds in proptest::collection::vec(0u8..6, 1..40),
            flips in proptest::collection::vec((0usize..96, any::<u8>()), 0..3),
            raw_signer in any::<[u8; 32]>(),
        ) {
            let keys = KeyCache::new(2);
            for (index, seed) in (0u8..).zip(&seeds) {
                let pair = Keypair::from_seed(&[*seed; 32]);
                let message = [*seed, index];
                let mut signature = pair.sign(&message);
                let mut signer = pair.address();
                if index % 5 == 4 {
                    signer = Address(raw_signer);
                }
                for (at, byte) in &flips {
                    if index % 2 == 1 {
                        match at {
                            0..64 => signature.0[*at] ^= byte,
                            _ => signer.0[at - 64] ^= byte,
                        }
                    }
                }
                prop_assert_eq!(
                    verify_strict_cached(&keys, &signer, &message, &signature),
                    verify_strict(&signer, &message, &signature)
                );
            }
        }
    }
}
