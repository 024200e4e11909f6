//! A state reader that proves what it reads: each key's value comes from
//! the state tree at one height with its proof, so an answer computed
//! through it and the proofs it collected are of the same state.

use std::collections::BTreeMap;

use parking_lot::Mutex;
use parlend_ledger::StateKey;
use parlend_ledger::state::{StateProof, StateReader, StoreError, Value};
use parlend_rpc::types::ProvenEntryView;
use parlend_store::Store;

/// Why the keys read could not all be proven.
#[derive(Debug)]
pub(crate) enum ProvingError {
    /// The height's state tree is no longer kept.
    Pruned,
    /// The store failed.
    Store(StoreError),
}

/// Reads `store`'s state at `height` through the state tree, keeping each
/// key's proof.
pub(crate) struct ProvingReader<'a> {
    store: &'a dyn Store,
    height: u64,
    proven: Mutex<BTreeMap<StateKey, (Option<Value>, StateProof)>>,
    failure: Mutex<Option<ProvingError>>,
}

impl<'a> ProvingReader<'a> {
    /// A reader of the state at `height`.
    pub(crate) fn new(store: &'a dyn Store, height: u64) -> ProvingReader<'a> {
        ProvingReader { store, height, proven: Mutex::new(BTreeMap::new()), failure: Mutex::new(None) }
    }

    /// Every key read, in key order, with its value and proof; or why a read
    /// failed.
    pub(crate) fn into_entries(self) -> Result<Vec<ProvenEntryView>, ProvingError> {
        if let Some(failure) = self.failure.into_inner() {
            return Err(failure);
        }
        Ok(self
            .proven
            .into_inner()
            .into_iter()
            .map(|(key, (value, proof))| ProvenEntryView {
                key,
                value: value.map(hex::encode),
                proof: hex::encode(proof.to_bytes()),
            })
            .collect())
    }
}

impl StateReader for ProvingReader<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        if let Some((value, _)) = self.proven.lock().get(key) {
            return Ok(value.clone());
        }
        match self.store.prove(key, self.height) {
            Ok(Some((value, proof))) => {
                self.proven.lock().insert(*key, (value.clone(), proof));
                Ok(value)
            }
            Ok(None) => {
                *self.failure.lock() = Some(ProvingError::Pruned);
                Err(StoreError::Io(format!("the state at height {} is no longer kept", self.height)))
            }
            Err(error) => {
                *self.failure.lock() = Some(ProvingError::Store(error.clone()));
                Err(error)
            }
        }
    }
}
