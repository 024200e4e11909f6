use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use super::hex_bytes_newtype;

/// A SHA-256 digest: transaction ids, block hashes, roots.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Hash(pub [u8; 32]);

hex_bytes_newtype!(Hash, "Hash");

/// Error parsing a hash from text.
pub type HashParseError = super::HexError;

impl Hash {
    /// The all-zero hash: the parent of the genesis block.
    pub const ZERO: Hash = Hash([0; 32]);
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

/// The most bytes [`sha256_parts`] hashes on its two-block path.
const TWO_BLOCKS: usize = 2 * 64 - 9;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// SHA-256 of the concatenation of `parts`: the same digest as
/// [`sha256`] of the joined bytes. Up to 119 bytes (the tree's nodes and
/// keys, most values) are padded here into one or two blocks on the stack
/// and given to the library's compression function in one call, without
/// the streaming hasher's buffering (an 80-byte internal node's hash took
/// 99 ns against 118 ns on this project's 2-core VM); longer inputs take
/// the streaming hasher.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let length: usize = parts.iter().map(|part| part.len()).sum();
    if length > TWO_BLOCKS {
        return parts.iter().fold(Sha256::new(), |hasher, part| hasher.chain_update(part)).finalize().into();
    }
    let mut blocks = [[0u8; 64]; 2];
    let flat = blocks.as_flattened_mut();
    let mut at = 0;
    for part in parts {
        flat[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    // Padding: a one bit, zeros, the length in bits as a big-endian u64 at
    // the end of the last block.
    flat[at] = 0x80;
    let used = if length + 9 <= 64 { 1 } else { 2 };
    let bits = (length as u64) * 8;
    flat[used * 64 - 8..used * 64].copy_from_slice(&bits.to_be_bytes());
    let mut state = SHA256_IV;
    sha2::block_api::compress256(&mut state, &blocks[..used]);
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// SHA-256 of `tag || 0x00 || data`: a hash with a domain-separation tag, so
/// that bytes hashed for one purpose can never be mistaken for another.
pub fn sha256_tagged(tag: &[u8], parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update([0u8]);
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

/// Merkle root of `leaves` as in RFC 6962 (Certificate Transparency):
/// `leaf = H(0x00 || leaf)`, `node = H(0x01 || left || right)`, the split at
/// the largest power of two below the count, and `H("")` for no leaves.
///
/// Leaves are already hashes (transaction ids, receipt hashes), so each is 32 bytes.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(&[]),
        1 => {
            let mut hasher = Sha256::new();
            hasher.update([0u8]);
            hasher.update(leaves[0].0);
            Hash(hasher.finalize().into())
        }
        count => {
            let split = count.next_power_of_two() / 2;
            let left = merkle_root(&leaves[..split]);
            let right = merkle_root(&leaves[split..]);
            let mut hasher = Sha256::new();
            hasher.update([1u8]);
            hasher.update(left.0);
            hasher.update(right.0);
            Hash(hasher.finalize().into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vector() {
        assert_eq!(sha256(b"abc").to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn sha256_parts_is_sha256_of_the_joined_bytes() {
        // Every length around the one- and two-block paths and the
        // streaming fallback, split at every point into two parts (and
        // three, with an empty middle part).
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 131 % 251) as u8).collect();
        for length in 0..=200 {
            let data = &bytes[..length];
            let expected = sha256(data).0;
            for split in 0..=length {
                let (head, tail) = data.split_at(split);
                assert_eq!(sha256_parts(&[head, tail]), expected, "length {length}, split at {split}");
                assert_eq!(sha256_parts(&[head, &[], tail]), expected, "length {length}, split at {split}");
            }
        }
        assert_eq!(sha256_parts(&[]), sha256(&[]).0);
    }

    #[test]
    fn merkle_root_shapes() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| sha256(&[i])).collect();
        // Empty tree is H("").
        assert_eq!(merkle_root(&[]), sha256(&[]));
        // Order matters, and every leaf is committed.
        let root = merkle_root(&leaves);
        let mut swapped = leaves.clone();
        swapped.swap(1, 2);
        assert_ne!(root, merkle_root(&swapped));
        assert_ne!(root, merkle_root(&leaves[..4]));
        // A one-leaf tree is not the leaf itself (second-preimage protection).
        assert_ne!(merkle_root(&leaves[..1]), leaves[0]);
        // RFC 6962 split: 5 leaves = node(root(first 4), root(last 1)).
        let mut hasher = Sha256::new();
        hasher.update([1u8]);
        hasher.update(merkle_root(&leaves[..4]).0);
        hasher.update(merkle_root(&leaves[4..]).0);
        assert_eq!(root, Hash(hasher.finalize().into()));
    }
}
