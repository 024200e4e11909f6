//! Proofs that a state key has a value, or none, under a state root.
//!
//! A proof is the `jmt` crate's sparse Merkle proof, travelling as its
//! borsh encoding (docs/encoding.md, "State proofs"): the leaf it ends at,
//! if any, and the sibling hashes from that leaf up to the root. Checking
//! one needs no node and no store: [`StateProof::verify`] recomputes the
//! root from the key, the claimed value and the siblings.

use jmt::RootHash;
use jmt::proof::SparseMerkleProof;

use super::commitment::{TreeHasher, key_hash};
use crate::access::StateKey;
use crate::encoding::encode_canonical;
use crate::primitives::Hash;

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The bytes are not a proof's canonical encoding.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof does not show the claimed value under the root.
    #[error("the proof does not verify: {0}")]
    Invalid(String),
}

/// A proof of one key's value (or absence) under a state root.
#[derive(Debug, Clone, PartialEq)]
pub struct StateProof(SparseMerkleProof<TreeHasher>);

impl StateProof {
    pub(crate) fn from_jmt(proof: SparseMerkleProof<TreeHasher>) -> StateProof {
        StateProof(proof)
    }

    /// The canonical (borsh) bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_canonical(&self.0)
    }

    /// Reads a proof from its canonical bytes; trailing bytes are refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<StateProof, ProofError> {
        borsh::from_slice(bytes).map(StateProof).map_err(|error| ProofError::Malformed(error.to_string()))
    }

    /// Checks that under `root`, `key` holds `value` (`None`: is absent).
    pub fn verify(&self, root: &Hash, key: &StateKey, value: Option<&[u8]>) -> Result<(), ProofError> {
        self.0.verify(RootHash(root.0), key_hash(key), value).map_err(|error| ProofError::Invalid(error.to_string()))
    }
}

/// Checks a proof given as bytes: `key` holds `value` (`None`: is absent)
/// under `root`. What an offline verifier calls.
pub fn verify_state_proof(root: &Hash, key: &StateKey, value: Option<&[u8]>, proof: &[u8]) -> Result<(), ProofError> {
    StateProof::from_bytes(proof)?.verify(root, key, value)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::primitives::{Address, AssetId};
    use crate::state::{StateCommitment, Value, WriteSet};

    fn asset(symbol: &str) -> AssetId {
        symbol.parse().unwrap()
    }

    /// One key of every kind, and a state holding all but the last account.
    fn keys() -> Vec<StateKey> {
        let owner = Address([7; 32]);
        vec![
            StateKey::Config,
            StateKey::Account { owner },
            StateKey::Balance { owner, asset: asset("USDC") },
            StateKey::Position { owner },
            StateKey::MarketConfig { asset: asset("WETH") },
            StateKey::MarketIndex { asset: asset("WETH") },
            StateKey::MarketTotals { asset: asset("WETH") },
            StateKey::Price { asset: asset("WETH") },
        ]
    }

    fn chain() -> (StateCommitment, Vec<Hash>) {
        let mut commitment = StateCommitment::new();
        let mut roots = Vec::new();
        for height in 0..3u8 {
            let mut writes: WriteSet =
                keys().into_iter().map(|key| (key, Some(Value::from(vec![height; 40])))).collect();
            for index in 0..200u8 {
                let owner = Address([index; 32]);
                writes.insert(StateKey::Account { owner }, Some(Value::from(vec![index, height])));
            }
            commitment.apply(commitment.prepare(&writes).unwrap()).unwrap();
            roots.push(commitment.root());
        }
        (commitment, roots)
    }

    #[test]
    fn every_kind_of_key_proves_its_value_and_tampering_is_refused() {
        let (commitment, roots) = chain();
        for key in keys() {
            let (value, proof) = commitment.prove(&key, 2).unwrap().unwrap();
            let value = value.unwrap();
            let bytes = proof.to_bytes();
            verify_state_proof(&roots[2], &key, Some(&value), &bytes).unwrap();
            // Another value.
            let mut changed = value.to_vec();
            changed[0] ^= 1;
            assert!(verify_state_proof(&roots[2], &key, Some(&changed), &bytes).is_err());
            // Absent, when it is present.
            assert!(verify_state_proof(&roots[2], &key, None, &bytes).is_err());
            // Another height's root.
            assert!(verify_state_proof(&roots[1], &key, Some(&value), &bytes).is_err());
            // Any changed byte of the proof.
            for index in 0..bytes.len() {
                let mut tampered = bytes.clone();
                tampered[index] ^= 0x01;
                assert!(
                    verify_state_proof(&roots[2], &key, Some(&value), &tampered).is_err(),
                    "{key}: flipping byte {index} of {} still verifies",
                    bytes.len()
                );
            }
            // The older height's value against the older root.
            let (old, old_proof) = commitment.prove(&key, 1).unwrap().unwrap();
            old_proof.verify(&roots[1], &key, old.as_deref()).unwrap();
            assert!(old_proof.verify(&roots[2], &key, old.as_deref()).is_err());
        }
    }

    #[test]
    fn absent_keys_prove_their_absence_and_cannot_be_claimed_present() {
        let (commitment, roots) = chain();
        for index in 200..=255u8 {
            let key = StateKey::Account { owner: Address([index; 32]) };
            let (value, proof) = commitment.prove(&key, 2).unwrap().unwrap();
            assert_eq!(value, None);
            proof.verify(&roots[2], &key, None).unwrap();
            assert!(proof.verify(&roots[2], &key, Some(&[index, 2])).is_err());
            assert!(proof.verify(&roots[2], &key, Some(&[])).is_err());
        }
        // A present key's proof does not prove another key's absence.
        let (_, proof) = commitment.prove(&StateKey::Config, 2).unwrap().unwrap();
        assert!(proof.verify(&roots[2], &StateKey::Account { owner: Address([250; 32]) }, None).is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        let root = Hash([1; 32]);
        let key = StateKey::Config;
        assert!(matches!(verify_state_proof(&root, &key, None, &[]), Err(ProofError::Malformed(_))));
        let (commitment, _) = chain();
        let (_, proof) = commitment.prove(&key, 2).unwrap().unwrap();
        let mut long = proof.to_bytes();
        long.push(0);
        assert!(matches!(verify_state_proof(&root, &key, None, &long), Err(ProofError::Malformed(_))));
    }

    /// docs/encoding.md's definitions, written from the page alone.
    mod from_the_docs {
        use sha2::{Digest, Sha256};

        const PLACEHOLDER: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

        fn sha(parts: &[&[u8]]) -> [u8; 32] {
            let mut hasher = Sha256::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().into()
        }

        fn bit(hash: &[u8; 32], index: usize) -> bool {
            hash[index / 8] & (0x80 >> (index % 8)) != 0
        }

        /// `hash(subtree)` over `(key_hash, value_hash)` pairs sorted by key
        /// hash, all sharing their first `depth` bits.
        pub fn subtree(leaves: &[([u8; 32], [u8; 32])], depth: usize) -> [u8; 32] {
            match leaves {
                [] => PLACEHOLDER,
                [(key, value)] => sha(&[b"JMT::LeafNode", key, value]),
                _ => {
                    let split = leaves.iter().position(|(key, _)| bit(key, depth)).unwrap_or(leaves.len());
                    let (left, right) = leaves.split_at(split);
                    sha(&[b"JMT::IntrnalNode", &subtree(left, depth + 1), &subtree(right, depth + 1)])
                }
            }
        }

        fn take<'a>(bytes: &mut &'a [u8], count: usize) -> Option<&'a [u8]> {
            let (head, tail) = bytes.split_at_checked(count)?;
            *bytes = tail;
            Some(head)
        }

        fn hash32(bytes: &mut &[u8]) -> Option<[u8; 32]> {
            take(bytes, 32)?.try_into().ok()
        }

        /// The check of "State proofs", step by step.
        pub fn verify(root: [u8; 32], key: &[u8], value: Option<&[u8]>, mut proof: &[u8]) -> Option<bool> {
            let key_hash = sha(&[key]);
            let leaf = match take(&mut proof, 1)?[0] {
                0 => None,
                1 => Some((hash32(&mut proof)?, hash32(&mut proof)?)),
                _ => return None,
            };
            let count = u32::from_le_bytes(take(&mut proof, 4)?.try_into().ok()?) as usize;
            if count > 256 {
                return None;
            }
            let mut siblings = Vec::with_capacity(count);
            for _ in 0..count {
                siblings.push(match take(&mut proof, 1)?[0] {
                    0 => PLACEHOLDER,
                    1 => sha(&[b"JMT::IntrnalNode", &hash32(&mut proof)?, &hash32(&mut proof)?]),
                    2 => sha(&[b"JMT::LeafNode", &hash32(&mut proof)?, &hash32(&mut proof)?]),
                    _ => return None,
                });
            }
            if !proof.is_empty() {
                return None;
            }
            let shape = match (value, leaf) {
                (Some(value), Some((leaf_key, leaf_value))) => leaf_key == key_hash && leaf_value == sha(&[value]),
                (Some(_), None) => false,
                (None, None) => true,
                (None, Some((leaf_key, _))) => {
                    leaf_key != key_hash && (0..count).all(|index| bit(&leaf_key, index) == bit(&key_hash, index))
                }
            };
            let mut hash =
                leaf.map_or(PLACEHOLDER, |(leaf_key, leaf_value)| sha(&[b"JMT::LeafNode", &leaf_key, &leaf_value]));
            for (index, sibling) in siblings.iter().enumerate() {
                hash = if bit(&key_hash, count - 1 - index) {
                    sha(&[b"JMT::IntrnalNode", sibling, &hash])
                } else {
                    sha(&[b"JMT::IntrnalNode", &hash, sibling])
                };
            }
            Some(shape && hash == root)
        }
    }

    #[test]
    fn the_documented_root_and_check_agree_with_the_tree() {
        let (commitment, roots) = chain();
        // The root, from the documented definition over the latest state.
        let mut leaves: Vec<([u8; 32], [u8; 32])> = Vec::new();
        let mut state: Vec<(StateKey, Vec<u8>)> = Vec::new();
        for index in 0..=255u8 {
            let key = StateKey::Account { owner: Address([index; 32]) };
            state.push((key, vec![]));
        }
        state.extend(keys().into_iter().map(|key| (key, vec![])));
        for (key, value) in &mut state {
            if let (Some(stored), _) = commitment.prove(key, 2).unwrap().unwrap() {
                *value = stored.to_vec();
                leaves.push((key_hash(key).0, Sha256::digest(&stored).into()));
            }
        }
        leaves.sort();
        leaves.dedup();
        assert_eq!(from_the_docs::subtree(&leaves, 0), roots[2].0);
        assert_eq!(from_the_docs::subtree(&[], 0), crate::state::EMPTY_ROOT.0);
        // Every proof, inclusion and exclusion, checks the documented way,
        // and a tampered one does not.
        for (key, _) in &state {
            let (value, proof) = commitment.prove(key, 2).unwrap().unwrap();
            let bytes = proof.to_bytes();
            assert_eq!(from_the_docs::verify(roots[2].0, &key.encode(), value.as_deref(), &bytes), Some(true));
            assert_ne!(from_the_docs::verify(roots[1].0, &key.encode(), value.as_deref(), &bytes), Some(true));
            let mut tampered = bytes.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_ne!(from_the_docs::verify(roots[2].0, &key.encode(), value.as_deref(), &tampered), Some(true));
        }
    }
}
