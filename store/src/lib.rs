//! parlend stores: where committed blocks, receipts and state live.
//!
//! A [`Store`] commits one block at a time, atomically: state changes, the
//! block, its header, receipts, an undo record and the new head, all or
//! nothing ([`BlockCommit`]). The transaction index and the event index
//! (`events.rs`) are derived from the receipts: written with the block, or
//! right after it by the RocksDB store's indexer (`indexer.rs`); a read
//! always sees them for every committed block. Two implementations:
//! [`MemoryStore`] for tests and benchmarks, and [`RocksStore`] (column
//! families, one write batch per block, fsync per block by default), which
//! recovers its head on open and checks the state root against it. Both
//! keep the versioned state tree (version = height) beside the flat state
//! and prove any key's value at any height they keep: the last
//! [`DEFAULT_STATE_HISTORY`] heights by default, older versions' nodes and
//! values pruned in each block's commit, or every height (archive).

mod events;
mod indexer;
mod memory;
mod rocks;

use std::collections::BTreeMap;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::encode_canonical as encode;
use serde::{Deserialize, Serialize};

pub use events::{EventPage, EventPosition, EventQuery, IndexedEvent};
pub use memory::MemoryStore;
pub use rocks::{DEFAULT_STATE_HISTORY, RocksStore, RocksStoreOptions};

use parlend_ledger::access::StateKey;
use parlend_ledger::block::{Header, Receipt};
use parlend_ledger::primitives::Hash;
use parlend_ledger::state::{CommitmentUpdate, StateProof, StateReader, StoreError, Value, WriteSet};

/// The last committed block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// Its header.
    pub header: Header,
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Index in the block.
    pub index: u32,
}

/// Everything one block commits, written atomically.
#[derive(Debug, Clone)]
pub struct BlockCommit {
    /// The header (its hash is the block hash).
    pub header: Header,
    /// The canonical encoding of the whole block.
    pub block_bytes: Vec<u8>,
    /// Receipts, in block order (shared: the node keeps them for queries,
    /// the indexer writes the indexes from them behind the block's write).
    pub receipts: Arc<Vec<Receipt>>,
    /// State changes.
    pub changes: WriteSet,
    /// The state commitment moved by `changes`; its root is `header.state_root`.
    pub commitment: CommitmentUpdate,
    /// The block's commit certificate (opaque bytes, validator mode), written
    /// in the same batch as the block.
    pub certificate: Option<Vec<u8>>,
}

/// The undo record of one block: the previous value of every changed key.
pub(crate) type Undo = Vec<(StateKey, Option<Value>)>;

/// A place blocks are committed to and state is read from.
pub trait Store: StateReader {
    /// The last committed block, or `None` before genesis.
    fn head(&self) -> Option<ChainHead>;

    /// The root of the current state.
    fn state_root(&self) -> Hash;

    /// The state root after `changes` (the state tree at the head's height
    /// plus one), and the update that moves the store's tree there; changes
    /// nothing.
    fn prepare_root(&self, changes: &WriteSet) -> Result<CommitmentUpdate, StoreError>;

    /// The value of `key` at `height` and its proof against that height's
    /// state root; `None` when the store does not hold that height's tree
    /// (above the head, or not kept).
    fn prove(&self, key: &StateKey, height: u64) -> Result<Option<(Option<Value>, StateProof)>, StoreError>;

    /// The value of `key` as the block at `height` left it (`Some(None)`:
    /// absent), read from the state tree's versioned values, not the flat
    /// state; `None` when the store does not hold that height (above the
    /// head, pruned, or a store that keeps no history).
    fn get_at(&self, key: &StateKey, height: u64) -> Result<Option<Option<Value>>, StoreError> {
        let _ = (key, height);
        Ok(None)
    }

    /// Heights below this one have their state tree pruned: their keys
    /// cannot be proven any more (0: nothing is pruned).
    fn pruned_below(&self) -> u64 {
        0
    }

    /// Commits a block atomically. Its height must be the head's plus one
    /// (or 0 for genesis), its parent the head, and its state root the
    /// prepared one.
    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError>;

    /// The header at `height`.
    fn header(&self, height: u64) -> Result<Option<Header>, StoreError>;

    /// The encoded block at `height`.
    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The receipts of the block at `height`.
    fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError>;

    /// The height of the block with this hash.
    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StoreError>;

    /// Where a committed transaction is.
    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError>;

    /// The commit certificate stored with the block at `height`, if any
    /// (stores that keep none answer `None`).
    fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = height;
        Ok(None)
    }

    /// The events of `query` from the event index: at most `query.limit`,
    /// in chain order, and where the next page starts when there are more.
    /// The work is bounded by the page, not by the blocks in the range.
    fn events(&self, query: &EventQuery) -> Result<EventPage, StoreError>;

    /// Visits, in key order, every key whose encoding starts with `prefix`,
    /// until `visit` returns `false`.
    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(StateKey, Value) -> bool) -> Result<(), StoreError>;

    /// Rolls state and chain back to `height` using the undo records (dev
    /// mode's snapshots). Blocks above `height` are deleted.
    fn revert_to(&self, height: u64) -> Result<(), StoreError>;
}

/// Checks that `commit` extends `head`: every store runs this before it
/// writes anything.
pub fn check_extends(head: Option<&ChainHead>, commit: &BlockCommit) -> Result<(), StoreError> {
    let header = &commit.header;
    let (expected_height, expected_parent) = match head {
        Some(head) => (head.height + 1, head.hash),
        None => (0, Hash::ZERO),
    };
    if header.height != expected_height || header.parent_hash != expected_parent {
        return Err(StoreError::DoesNotExtend {
            height: header.height,
            parent: header.parent_hash,
            expected_height,
            expected_parent,
        });
    }
    let inconsistent = |reason| Err(StoreError::Inconsistent { height: header.height, reason });
    if header.state_root != commit.commitment.root() {
        return inconsistent("its state root is not the prepared commitment's root");
    }
    if commit.commitment.version() != header.height {
        return inconsistent("its state tree update is for another height");
    }
    if commit.receipts.len() != header.transaction_count as usize {
        return inconsistent("its receipt count is not the header's transaction count");
    }
    Ok(())
}

/// `Store::scan` over an in-memory map: the entries under `prefix` (their
/// encoded key starts with it) are copied out by `matching`, so the caller
/// can release its lock before `visit_all` runs the visitor.
pub fn matching(state: &BTreeMap<StateKey, Value>, prefix: &[u8]) -> Vec<(StateKey, Value)> {
    state.iter().filter(|(key, _)| key.encode().starts_with(prefix)).map(|(key, value)| (*key, value.clone())).collect()
}

/// Hands `entries` to `visit` in order until it returns `false`.
pub fn visit_all(entries: Vec<(StateKey, Value)>, visit: &mut dyn FnMut(StateKey, Value) -> bool) {
    for (key, value) in entries {
        if !visit(key, value) {
            break;
        }
    }
}

/// Decodes a stored value, naming what failed.
pub(crate) fn decode<T: BorshDeserialize>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    borsh::from_slice(bytes).map_err(|error| StoreError::Corrupt { what: what.to_string(), reason: error.to_string() })
}

#[cfg(test)]
pub(crate) mod tests;
