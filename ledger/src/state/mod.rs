//! State: keys map to byte values; aggregates; overlays; the state root
//! (a Jellyfish Merkle tree) and proofs against it.
//!
//! The ledger stores values as opaque bytes: their meaning belongs to the
//! contracts. The exception is an *aggregate* key ([`StateKey::is_aggregate`]):
//! its value is a vector of `u128` fields that the ledger itself can add to
//! and subtract from, which is what lets transactions touching one market
//! total run in parallel (see `exec`).

mod aggregate;
mod commitment;
mod proof;
mod tree_node;
mod tree_update;

use std::collections::BTreeMap;

pub use aggregate::{AggregateError, Fields, SignedDelta, decode_fields, encode_fields};
pub use commitment::{
    CommitmentUpdate, EMPTY_ROOT, Retention, StateCommitment, StateTree, TreeHasher, key_hash, oldest_kept,
    prepare_update, prepare_update_by_library, prepare_update_on, prove_at, root_at, state_root_of, superseded_below,
    tree_error, value_hash,
};
/// Where a key sits in the tree (see [`key_hash`]).
pub use jmt::KeyHash;
/// The tree library's storage types, for stores that keep its nodes.
pub use jmt::storage as tree;
pub use proof::{ProofError, StateProof, verify_state_proof};
pub use tree_node::{ChildArray, ChildKind, ChildSlot, Children, NodeAt, TreeLeaf, TreeNode, TreeNodes, TreePath};
pub use tree_update::tree_threads;

use crate::access::StateKey;
use crate::primitives::Hash;

/// A state value: immutable bytes, cheap to clone.
pub type Value = bytes::Bytes;

/// A set of writes: the new value of each key, `None` for deleted. Sorted by
/// key, so iterating it is deterministic.
pub type WriteSet = BTreeMap<StateKey, Option<Value>>;

/// A failure of the storage underneath. Never the result of user input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The storage itself failed (I/O, the database engine).
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// A stored item could not be decoded.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What was being read (a state key, "head", "block index", ...).
        what: String,
        /// Why it does not decode.
        reason: String,
    },
    /// A block the chain has committed is not in the store.
    #[error("block {height} is missing from the store")]
    MissingBlock {
        /// Its height.
        height: u64,
    },
    /// A commit does not extend the head.
    #[error(
        "block {height} (parent {parent}) does not extend the head (next height {expected_height}, parent {expected_parent})"
    )]
    DoesNotExtend {
        /// The block's height.
        height: u64,
        /// The block's parent hash.
        parent: Hash,
        /// The height that would extend the head.
        expected_height: u64,
        /// The head's hash.
        expected_parent: Hash,
    },
    /// A commit whose header disagrees with what it carries.
    #[error("block {height} is inconsistent: {reason}")]
    Inconsistent {
        /// The block's height.
        height: u64,
        /// What disagrees.
        reason: &'static str,
    },
    /// The stored state does not hash to the root it should have.
    #[error("state root {found} does not match {expected} at height {height}: the store is corrupt")]
    RootMismatch {
        /// The height whose root was checked.
        height: u64,
        /// The root the header holds.
        expected: Hash,
        /// The root of the stored state.
        found: Hash,
    },
    /// A revert that cannot be done.
    #[error("cannot revert to height {height}: {reason}")]
    CannotRevert {
        /// The height asked for.
        height: u64,
        /// Why not.
        reason: String,
    },
    /// An executor stopped before it produced its result.
    #[error("the executor stopped: {0}")]
    Interrupted(&'static str),
    /// The state at a height the store does not hold (pruned, or above the
    /// head).
    #[error("the state at height {height} is not kept")]
    NotKept {
        /// The height asked for.
        height: u64,
    },
}

impl StoreError {
    /// A value under `key` that does not decode.
    pub fn corrupt_key(key: &StateKey, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt { what: format!("value at {key}"), reason: reason.to_string() }
    }
}

/// Read access to a state.
pub trait StateReader: Send + Sync {
    /// The value of `key`, or `None` when absent.
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError>;
}

impl<T: StateReader + ?Sized> StateReader for &T {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        (**self).get(key)
    }
}

impl<T: StateReader + ?Sized> StateReader for std::sync::Arc<T> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        (**self).get(key)
    }
}

/// A state in memory: a sorted map. Used for tests, benchmarks and genesis.
impl StateReader for BTreeMap<StateKey, Value> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        Ok(BTreeMap::get(self, key).cloned())
    }
}

/// Pending writes layered over a base state.
pub struct Overlay<'a> {
    base: &'a dyn StateReader,
    writes: WriteSet,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a dyn StateReader) -> Overlay<'a> {
        Overlay { base, writes: WriteSet::new() }
    }

    /// The current value of `key`: the overlay's if written, else the base's.
    pub fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        match self.writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.base.get(key),
        }
    }

    /// An overlay over `base` holding `writes` already.
    pub fn with_writes(base: &'a dyn StateReader, writes: WriteSet) -> Overlay<'a> {
        Overlay { base, writes }
    }

    /// Gives back the writes as they are, including any that leave a key as
    /// it is in the base.
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    /// Sets `key` (or deletes it with `None`).
    pub fn set(&mut self, key: StateKey, value: Option<Value>) {
        self.writes.insert(key, value);
    }

    /// The fields of an aggregate key.
    pub fn fields(&self, key: &StateKey) -> Result<Fields, AggregateError> {
        let value = self.get(key).map_err(AggregateError::Store)?;
        decode_fields(value.as_deref())
    }

    /// The writes so far.
    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }

    /// The base state.
    pub fn base(&self) -> &'a dyn StateReader {
        self.base
    }

    /// Gives back the writes, dropping every one that leaves its key as it is
    /// in the base: two executions that reach the same state report the same
    /// write set, whatever they wrote along the way.
    pub fn into_changes(self) -> Result<WriteSet, StoreError> {
        let mut changes = WriteSet::new();
        for (key, value) in self.writes {
            if self.base.get(&key)? != value {
                changes.insert(key, value);
            }
        }
        Ok(changes)
    }
}

impl StateReader for Overlay<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        Overlay::get(self, key)
    }
}
