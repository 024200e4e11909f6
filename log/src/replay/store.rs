//! A store that keeps the state and the head, and nothing of the past.
//!
//! Replay verifies each block and then needs only the state to execute the
//! next one, so keeping blocks, receipts and indexes (as [`MemoryStore`]
//! does) would make its memory grow with the log. This store's memory is
//! the state and its commitment: bounded by the number of accounts and
//! markets, independent of how many blocks went by.
//!
//! [`MemoryStore`]: parlend_store::MemoryStore

use std::collections::BTreeMap;

use parking_lot::RwLock;
use parlend_ledger::block::{Header, Receipt};
use parlend_ledger::state::{
    CommitmentUpdate, Retention, StateCommitment, StateProof, StateReader, StoreError, Value, WriteSet,
};
use parlend_ledger::{Hash, StateKey};
use parlend_store::{BlockCommit, ChainHead, Store, TxLocation};

struct Inner {
    state: BTreeMap<StateKey, Value>,
    commitment: StateCommitment,
    genesis: Option<Header>,
    head: Option<ChainHead>,
}

/// A pruned in-memory store: current state, block 0's header and the head.
/// Blocks, receipts, transaction locations and undo records are dropped on
/// commit; asking for them answers `None`, as a pruned node does. The
/// state tree keeps only its latest version.
pub struct StateOnlyStore {
    inner: RwLock<Inner>,
}

impl StateOnlyStore {
    /// An empty store (before genesis).
    pub fn new() -> StateOnlyStore {
        StateOnlyStore {
            inner: RwLock::new(Inner {
                state: BTreeMap::new(),
                commitment: StateCommitment::with_retention(Retention::Latest),
                genesis: None,
                head: None,
            }),
        }
    }

    /// Number of state entries: what this store's memory grows with.
    pub fn state_entries(&self) -> usize {
        self.inner.read().state.len()
    }
}

impl Default for StateOnlyStore {
    fn default() -> Self {
        StateOnlyStore::new()
    }
}

impl StateReader for StateOnlyStore {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        Ok(self.inner.read().state.get(key).cloned())
    }
}

impl Store for StateOnlyStore {
    fn head(&self) -> Option<ChainHead> {
        self.inner.read().head.clone()
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

    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        parlend_store::check_extends(inner.head.as_ref(), &commit)?;
        inner.commitment.apply(commit.commitment)?;
        for (key, value) in commit.changes {
            match value {
                Some(value) => inner.state.insert(key, value),
                None => inner.state.remove(&key),
            };
        }
        if commit.header.height == 0 {
            inner.genesis = Some(commit.header.clone());
        }
        inner.head =
            Some(ChainHead { height: commit.header.height, hash: commit.header.hash(), header: commit.header });
        Ok(())
    }

    fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        let inner = self.inner.read();
        if height == 0 {
            return Ok(inner.genesis.clone());
        }
        Ok(inner.head.as_ref().filter(|head| head.height == height).map(|head| head.header.clone()))
    }

    fn block_bytes(&self, _height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }

    fn receipts(&self, _height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        Ok(None)
    }

    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        let inner = self.inner.read();
        let genesis = inner.genesis.as_ref().filter(|header| header.hash() == *hash).map(|_| 0);
        Ok(genesis.or_else(|| inner.head.as_ref().filter(|head| head.hash == *hash).map(|head| head.height)))
    }

    fn tx_location(&self, _hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        Ok(None)
    }

    /// It keeps no receipts, so no events either.
    fn events(&self, _query: &parlend_store::EventQuery) -> Result<parlend_store::EventPage, StoreError> {
        Ok(parlend_store::EventPage::default())
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(StateKey, Value) -> bool) -> Result<(), StoreError> {
        // Copied out first, so `visit` runs without the lock held.
        let matching = parlend_store::matching(&self.inner.read().state, prefix);
        parlend_store::visit_all(matching, visit);
        Ok(())
    }

    fn revert_to(&self, height: u64) -> Result<(), StoreError> {
        Err(StoreError::CannotRevert { height, reason: "a state-only store keeps no undo records".to_string() })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use parlend_app::App;
    use parlend_contracts::dev::dev_genesis;

    #[test]
    fn keeps_state_and_head_only_and_refuses_blocks_that_do_not_extend_it() {
        let store = Arc::new(StateOnlyStore::new());
        let app = App::open(store.clone(), &dev_genesis(), 1).unwrap();
        let genesis = app.info();
        let entries = store.state_entries();
        assert!(entries > 40);
        let proposal = app.prepare_proposal(Vec::new(), genesis.header.timestamp + 1);
        let finalized = app.finalize_block(proposal).unwrap();
        let stale = finalized.clone();
        let head = app.commit(finalized).unwrap();
        assert_eq!(store.header(0).unwrap().map(|header| header.hash()), Some(genesis.hash));
        assert_eq!(store.header(1).unwrap().map(|header| header.hash()), Some(head.hash));
        assert_eq!(store.block_height(&head.hash).unwrap(), Some(1));
        assert_eq!(store.block_bytes(1).unwrap(), None);
        assert_eq!(store.state_root(), head.header.state_root);
        // Proofs at the head only: the tree keeps no older version.
        let key = parlend_ledger::StateKey::Config;
        let (value, proof) = store.prove(&key, 1).unwrap().unwrap();
        proof.verify(&head.header.state_root, &key, value.as_deref()).unwrap();
        assert!(store.prove(&key, 0).unwrap().is_none());
        // The same block again does not extend the head.
        assert!(app.commit(stale).is_err());
        assert!(store.revert_to(0).is_err());
    }
}
