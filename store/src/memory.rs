//! An in-memory store. Same contract as [`super::RocksStore`], no durability.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use super::events::{IndexReader, index_entries, query_events};
use super::{BlockCommit, ChainHead, EventPage, EventQuery, Store, TxLocation, Undo, check_extends};
use parlend_ledger::access::StateKey;
use parlend_ledger::block::{Header, Receipt};
use parlend_ledger::primitives::Hash;
use parlend_ledger::state::{
    CommitmentUpdate, Retention, StateCommitment, StateProof, StateReader, StoreError, Value, WriteSet, key_hash,
    tree::TreeReader,
};

#[derive(Default)]
struct Inner {
    state: BTreeMap<StateKey, Value>,
    commitment: StateCommitment,
    headers: Vec<Header>,
    blocks: Vec<Vec<u8>>,
    receipts: Vec<Arc<Vec<Receipt>>>,
    undo: Vec<Undo>,
    tx_index: HashMap<Hash, TxLocation>,
    block_index: HashMap<Hash, u64>,
    certificates: HashMap<u64, Vec<u8>>,
    events: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl IndexReader for Inner {
    fn scan_from(&self, start: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        for (key, value) in self.events.range(start.to_vec()..) {
            if !visit(key, value) {
                break;
            }
        }
        Ok(())
    }

    fn get_entry(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.events.get(key).cloned())
    }
}

/// A store in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

impl MemoryStore {
    /// An empty store (before genesis).
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store whose state tree keeps the last `history` heights
    /// (`None`: every height).
    pub fn with_history(history: Option<u64>) -> MemoryStore {
        let commitment = StateCommitment::with_retention(Retention::from_history(history));
        MemoryStore { inner: RwLock::new(Inner { commitment, ..Inner::default() }) }
    }

    /// How many tree nodes and value entries the store holds.
    pub fn tree_stored(&self) -> (usize, usize) {
        self.inner.read().commitment.stored()
    }

    /// A copy of the whole state, sorted by key.
    pub fn state_snapshot(&self) -> BTreeMap<StateKey, Value> {
        self.inner.read().state.clone()
    }
}

impl StateReader for MemoryStore {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        Ok(self.inner.read().state.get(key).cloned())
    }
}

impl Store for MemoryStore {
    fn head(&self) -> Option<ChainHead> {
        let inner = self.inner.read();
        inner.headers.last().map(|header| ChainHead {
            height: header.height,
            hash: header.hash(),
            header: header.clone(),
        })
    }

    fn state_root(&self) -> Hash {
        self.inner.read().commitment.root()
    }

    fn prepare_root(&self, changes: &WriteSet) -> Result<CommitmentUpdate, StoreError> {
        self.inner.read().commitment.prepare(changes)
    }

    fn prove(&self, key: &StateKey, height: u64) -> Result<Option<(Option<Value>, StateProof)>, StoreError> {
        self.inner.read().commitment.prove(key, height)
    }

    fn get_at(&self, key: &StateKey, height: u64) -> Result<Option<Option<Value>>, StoreError> {
        self.inner.read().commitment.value_at(key, height)
    }

    fn pruned_below(&self) -> u64 {
        self.inner.read().commitment.pruned_below()
    }

    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let head = inner.headers.last().map(|h| ChainHead { height: h.height, hash: h.hash(), header: h.clone() });
        check_extends(head.as_ref(), &commit)?;
        let height = commit.header.height;
        let index = index_entries(height, &commit.receipts)?;
        // The tree first: it is the one step that can refuse, and nothing
        // has changed yet if it does.
        inner.commitment.apply(commit.commitment)?;
        let mut undo = Undo::with_capacity(commit.changes.len());
        for (key, value) in &commit.changes {
            let previous = match value {
                Some(value) => inner.state.insert(*key, value.clone()),
                None => inner.state.remove(key),
            };
            undo.push((*key, previous));
        }
        for (index, receipt) in commit.receipts.iter().enumerate() {
            let index =
                u32::try_from(index).map_err(|_| StoreError::Inconsistent { height, reason: "over 2^32 receipts" })?;
            inner.tx_index.insert(receipt.tx_hash, TxLocation { height, index });
        }
        inner.events.extend(index);
        inner.block_index.insert(commit.header.hash(), height);
        if let Some(certificate) = commit.certificate {
            inner.certificates.insert(height, certificate);
        }
        inner.headers.push(commit.header);
        inner.blocks.push(commit.block_bytes);
        inner.receipts.push(commit.receipts);
        inner.undo.push(undo);
        Ok(())
    }

    fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        Ok(usize::try_from(height).ok().and_then(|h| self.inner.read().headers.get(h).cloned()))
    }

    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(usize::try_from(height).ok().and_then(|h| self.inner.read().blocks.get(h).cloned()))
    }

    fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        Ok(usize::try_from(height)
            .ok()
            .and_then(|h| self.inner.read().receipts.get(h).map(|receipts| receipts.to_vec())))
    }

    fn events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        query_events(&*self.inner.read(), query)
    }

    fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.read().certificates.get(&height).cloned())
    }

    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        Ok(self.inner.read().tx_index.get(hash).copied())
    }

    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        Ok(self.inner.read().block_index.get(hash).copied())
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(StateKey, Value) -> bool) -> Result<(), StoreError> {
        // Copied out first, so `visit` runs without the lock held.
        let matching = super::matching(&self.inner.read().state, prefix);
        super::visit_all(matching, visit);
        Ok(())
    }

    fn revert_to(&self, height: u64) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let not_committed = || StoreError::CannotRevert { height, reason: "it is not committed".to_string() };
        let target = usize::try_from(height).map_err(|_| not_committed())?;
        if target >= inner.headers.len() {
            return Err(not_committed());
        }
        let expected = inner.headers[target].state_root;
        if inner.commitment.root_at(height)? != Some(expected) {
            return Err(StoreError::CannotRevert { height, reason: "its state tree is not kept".to_string() });
        }
        let mut restored = WriteSet::new();
        while inner.headers.len() > target + 1 {
            let undo = inner.undo.pop().unwrap_or_default();
            for (key, previous) in undo.into_iter().rev() {
                match &previous {
                    Some(value) => inner.state.insert(key, value.clone()),
                    None => inner.state.remove(&key),
                };
                restored.insert(key, previous);
            }
            if let Some(header) = inner.headers.pop() {
                inner.block_index.remove(&header.hash());
                inner.certificates.remove(&header.height);
            }
            inner.blocks.pop();
            let receipts = inner.receipts.pop().map(Arc::unwrap_or_clone).unwrap_or_default();
            let reverted = u64::try_from(inner.receipts.len()).map_err(|_| not_committed())?;
            for (key, _) in index_entries(reverted, &receipts)? {
                inner.events.remove(&key);
            }
            for receipt in receipts {
                inner.tx_index.remove(&receipt.tx_hash);
            }
        }
        check_restored(&inner.commitment, height, &restored)?;
        inner.commitment.revert_to(height)?;
        Ok(())
    }
}

/// Checks that the state the undo records restored is the state tree's at
/// `height`, key by key.
pub(crate) fn check_restored(tree: &impl TreeReader, height: u64, restored: &WriteSet) -> Result<(), StoreError> {
    for (key, value) in restored {
        let in_tree = tree.get_value_option(height, key_hash(key)).map_err(parlend_ledger::state::tree_error)?;
        if in_tree.as_deref() != value.as_deref() {
            return Err(StoreError::CannotRevert {
                height,
                reason: format!("the undo records do not restore {key} as its state tree holds it"),
            });
        }
    }
    Ok(())
}
