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
