//! The state root: a fixed-shape hash tree over every key and value.
//!
//! ```text
//! entry(k, v)  = SHA-256("parlend/state-entry" || 0x00 || key(k) || v)
//! bucket(k)    = first two bytes of SHA-256("parlend/state-bucket" || 0x00 || key(k))
//! bucket_hash  = SHA-256(entry hashes of the bucket's keys, in key order), or 32 zero bytes if empty
//! mid[i]       = SHA-256(bucket_hash[256 i] || ... || bucket_hash[256 i + 255])
//! state_root   = SHA-256("parlend/state/v1" || 0x00 || mid[0] || ... || mid[255])
//! ```
//!
//! 65,536 buckets under 256 mid nodes. A block that writes `W` keys rehashes
//! `W` entries, at most `W` (small) buckets, at most `min(W, 256)` mids of 8 KiB
//! and the root: its cost follows the block, not the size of the state. The
//! entry hashes are kept in memory (about 80 bytes a key) and rebuilt from
//! the store when it opens, which then checks the root against its head.

use std::collections::BTreeMap;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::access::StateKey;
use crate::primitives::{Hash, sha256_tagged};
use crate::state::{Value, WriteSet};

const BUCKETS: usize = 1 << 16;
const BUCKETS_PER_MID: usize = 256;
const MIDS: usize = BUCKETS / BUCKETS_PER_MID;
/// Below this many writes, hashing in parallel costs more than it saves.
const PARALLEL_WRITES_MIN: usize = 512;

/// One written key: its bucket, the key, and its new entry hash (`None` if deleted).
type EntryChange = (usize, StateKey, Option<Hash>);

/// The state commitment: entry hashes by bucket, bucket hashes, mids, root.
#[derive(Clone)]
pub struct StateCommitment {
    buckets: Vec<BTreeMap<StateKey, Hash>>,
    bucket_hashes: Vec<Hash>,
    mid_hashes: Vec<Hash>,
    root: Hash,
}

/// The result of [`StateCommitment::prepare`]: the new root and everything
/// needed to move the commitment to it.
#[derive(Debug, Clone)]
pub struct CommitmentUpdate {
    root: Hash,
    buckets: Vec<(usize, BTreeMap<StateKey, Hash>, Hash)>,
    mids: Vec<(usize, Hash)>,
}

impl CommitmentUpdate {
    /// The state root after the writes.
    pub fn root(&self) -> Hash {
        self.root
    }
}

fn bucket_of(key: &StateKey) -> usize {
    let digest = sha256_tagged(b"parlend/state-bucket", &[&key.encode()]);
    usize::from(u16::from_be_bytes([digest.0[0], digest.0[1]]))
}

fn entry_hash(key: &StateKey, value: &[u8]) -> Hash {
    sha256_tagged(b"parlend/state-entry", &[&key.encode(), value])
}

fn hash_bucket(entries: &BTreeMap<StateKey, Hash>) -> Hash {
    if entries.is_empty() {
        return Hash::ZERO;
    }
    let mut hasher = Sha256::new();
    for hash in entries.values() {
        hasher.update(hash.0);
    }
    Hash(hasher.finalize().into())
}

fn hash_mid(bucket_hashes: &[Hash]) -> Hash {
    let mut hasher = Sha256::new();
    for hash in bucket_hashes {
        hasher.update(hash.0);
    }
    Hash(hasher.finalize().into())
}

fn hash_root(mid_hashes: &[Hash]) -> Hash {
    let mut bytes = Vec::with_capacity(MIDS * 32);
    for hash in mid_hashes {
        bytes.extend_from_slice(&hash.0);
    }
    sha256_tagged(b"parlend/state/v1", &[&bytes])
}

impl Default for StateCommitment {
    fn default() -> Self {
        StateCommitment::new()
    }
}

impl StateCommitment {
    /// The commitment of the empty state.
    pub fn new() -> StateCommitment {
        let bucket_hashes = vec![Hash::ZERO; BUCKETS];
        let empty_mid = hash_mid(&bucket_hashes[..BUCKETS_PER_MID]);
        let mid_hashes = vec![empty_mid; MIDS];
        let root = hash_root(&mid_hashes);
        StateCommitment { buckets: vec![BTreeMap::new(); BUCKETS], bucket_hashes, mid_hashes, root }
    }

    /// The commitment of a whole state.
    pub fn from_entries(entries: impl IntoIterator<Item = (StateKey, Value)>) -> StateCommitment {
        let writes: WriteSet = entries.into_iter().map(|(key, value)| (key, Some(value))).collect();
        let mut commitment = StateCommitment::new();
        let update = commitment.prepare(&writes);
        commitment.apply(update);
        commitment
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Computes the root after `writes` without changing the commitment.
    pub fn prepare(&self, writes: &WriteSet) -> CommitmentUpdate {
        let hashed = |(key, value): (&StateKey, &Option<Value>)| {
            (bucket_of(key), *key, value.as_ref().map(|value| entry_hash(key, value)))
        };
        let mut changes: Vec<(usize, StateKey, Option<Hash>)> = if writes.len() >= PARALLEL_WRITES_MIN {
            writes.par_iter().map(hashed).collect()
        } else {
            writes.iter().map(hashed).collect()
        };
        changes.sort_unstable_by_key(|(bucket, key, _)| (*bucket, *key));

        let mut groups: Vec<(usize, &[EntryChange])> = Vec::new();
        let mut rest = &changes[..];
        while let Some(&(bucket, _, _)) = rest.first() {
            let end = rest.iter().position(|(b, _, _)| *b != bucket).unwrap_or(rest.len());
            groups.push((bucket, &rest[..end]));
            rest = &rest[end..];
        }
        let rebuild = |&(bucket, group): &(usize, &[EntryChange])| {
            let mut entries = self.buckets[bucket].clone();
            for (_, key, hash) in group {
                match hash {
                    Some(hash) => entries.insert(*key, *hash),
                    None => entries.remove(key),
                };
            }
            let hash = hash_bucket(&entries);
            (bucket, entries, hash)
        };
        let buckets: Vec<(usize, BTreeMap<StateKey, Hash>, Hash)> = if groups.len() >= PARALLEL_WRITES_MIN {
            groups.par_iter().map(rebuild).collect()
        } else {
            groups.iter().map(rebuild).collect()
        };

        let mut touched_mids: Vec<usize> = buckets.iter().map(|(bucket, _, _)| bucket / BUCKETS_PER_MID).collect();
        touched_mids.dedup();
        let new_bucket_hash: BTreeMap<usize, Hash> = buckets.iter().map(|(bucket, _, hash)| (*bucket, *hash)).collect();
        let rehash_mid = |&mid: &usize| {
            let start = mid * BUCKETS_PER_MID;
            let mut hashes = self.bucket_hashes[start..start + BUCKETS_PER_MID].to_vec();
            for (bucket, hash) in new_bucket_hash.range(start..start + BUCKETS_PER_MID) {
                hashes[bucket - start] = *hash;
            }
            (mid, hash_mid(&hashes))
        };
        let mids: Vec<(usize, Hash)> = if touched_mids.len() >= 16 {
            touched_mids.par_iter().map(rehash_mid).collect()
        } else {
            touched_mids.iter().map(rehash_mid).collect()
        };

        let mut mid_hashes = self.mid_hashes.clone();
        for (mid, hash) in &mids {
            mid_hashes[*mid] = *hash;
        }
        CommitmentUpdate { root: hash_root(&mid_hashes), buckets, mids }
    }

    /// Moves the commitment to a prepared update. The update must have been
    /// prepared from this commitment as it is now.
    pub fn apply(&mut self, update: CommitmentUpdate) {
        for (bucket, entries, hash) in update.buckets {
            self.buckets[bucket] = entries;
            self.bucket_hashes[bucket] = hash;
        }
        for (mid, hash) in update.mids {
            self.mid_hashes[mid] = hash;
        }
        self.root = update.root;
    }

    /// Number of keys committed.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(BTreeMap::len).sum()
    }

    /// Whether the state is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::primitives::Address;

    fn key(index: u8) -> StateKey {
        StateKey::Account { owner: Address([index; 32]) }
    }

    #[test]
    fn root_depends_on_every_entry_and_not_on_history() {
        let empty = StateCommitment::new().root();
        let one = StateCommitment::from_entries([(key(1), Value::from_static(b"a"))]);
        assert_ne!(one.root(), empty);
        // Writing then deleting a key returns to the empty root.
        let mut commitment = one.clone();
        let update = commitment.prepare(&WriteSet::from([(key(1), None)]));
        commitment.apply(update);
        assert_eq!(commitment.root(), empty);
        // Value changes change the root.
        let other = StateCommitment::from_entries([(key(1), Value::from_static(b"b"))]);
        assert_ne!(other.root(), one.root());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn incremental_equals_rebuilt(
            first in proptest::collection::btree_map(any::<u8>(), any::<Vec<u8>>(), 0..64),
            second in proptest::collection::btree_map(any::<u8>(), proptest::option::of(any::<Vec<u8>>()), 0..64),
        ) {
            let mut commitment = StateCommitment::from_entries(first.iter().map(|(k, v)| (key(*k), Value::from(v.clone()))));
            let writes: WriteSet = second.iter().map(|(k, v)| (key(*k), v.clone().map(Value::from))).collect();
            let update = commitment.prepare(&writes);
            commitment.apply(update);

            let mut state = first.clone();
            for (k, v) in &second {
                match v {
                    Some(v) => { state.insert(*k, v.clone()); }
                    None => { state.remove(k); }
                }
            }
            let rebuilt = StateCommitment::from_entries(state.iter().map(|(k, v)| (key(*k), Value::from(v.clone()))));
            prop_assert_eq!(commitment.root(), rebuilt.root());
            prop_assert_eq!(commitment.len(), state.len());
        }
    }
}
