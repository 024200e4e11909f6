//! The mempool: admitted transactions waiting for a block.
//!
//! - Per-signer nonce order: a signer's next transaction must carry exactly
//!   the next nonce (committed nonce plus pending count); gaps are rejected.
//! - Dedup by id.
//! - Bounded: a total capacity and a per-signer limit, each with its own
//!   error, so a flood is answered "full" instead of growing memory.
//! - First come, first served across signers, which keeps each signer's
//!   transactions in nonce order.

use std::collections::{BTreeMap, HashMap, VecDeque};

use parlend_contracts::VerifiedTransaction;
use parlend_ledger::{Address, Hash, RejectReason};

/// Mempool bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    /// Most transactions in total.
    pub capacity: usize,
    /// Most pending transactions per signer.
    pub per_signer: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits { capacity: 50_000, per_signer: 1_000 }
    }
}

/// Pending transactions.
pub struct Mempool {
    limits: MempoolLimits,
    /// Arrival order: sequence number to id.
    order: BTreeMap<u64, Hash>,
    by_hash: HashMap<Hash, (u64, VerifiedTransaction)>,
    by_signer: HashMap<Address, VecDeque<Hash>>,
    next_sequence: u64,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool { limits, order: BTreeMap::new(), by_hash: HashMap::new(), by_signer: HashMap::new(), next_sequence: 0 }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// A pending transaction.
    pub fn get(&self, hash: &Hash) -> Option<&VerifiedTransaction> {
        self.by_hash.get(hash).map(|(_, tx)| tx)
    }

    /// The nonce `signer` must use next, given its committed nonce.
    pub fn next_nonce(&self, signer: &Address, committed_nonce: u64) -> u64 {
        let pending = self.by_signer.get(signer).map_or(0, VecDeque::len) as u64;
        committed_nonce + pending
    }

    /// Admits a verified transaction. `committed_nonce` is the signer's
    /// nonce in the committed state; the caller holds the mempool while it
    /// reads it, so no commit can slip in between.
    pub fn insert(&mut self, transaction: VerifiedTransaction, committed_nonce: u64) -> Result<(), RejectReason> {
        let hash = transaction.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(RejectReason::AlreadyKnown(hash));
        }
        let signer = transaction.transaction().signer;
        let nonce = transaction.transaction().nonce;
        let expected = self.next_nonce(&signer, committed_nonce);
        if nonce < expected {
            return Err(RejectReason::NonceTooLow { expected, got: nonce });
        }
        if nonce > expected {
            return Err(RejectReason::NonceTooHigh { expected, got: nonce });
        }
        let pending = self.by_signer.get(&signer).map_or(0, VecDeque::len);
        if pending >= self.limits.per_signer {
            return Err(RejectReason::SignerQueueFull { pending });
        }
        if self.by_hash.len() >= self.limits.capacity {
            return Err(RejectReason::MempoolFull { capacity: self.limits.capacity });
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.order.insert(sequence, hash);
        self.by_signer.entry(signer).or_default().push_back(hash);
        self.by_hash.insert(hash, (sequence, transaction));
        Ok(())
    }

    /// Up to `count` transactions in arrival order (they stay pending until
    /// [`Mempool::remove`]).
    pub fn take(&self, count: usize) -> Vec<VerifiedTransaction> {
        self.order.values().take(count).filter_map(|hash| self.by_hash.get(hash)).map(|(_, tx)| tx.clone()).collect()
    }

    /// Removes transactions (committed ones, or ones evicted).
    pub fn remove(&mut self, hashes: &[Hash]) {
        for hash in hashes {
            let Some((sequence, transaction)) = self.by_hash.remove(hash) else {
                continue;
            };
            self.order.remove(&sequence);
            let signer = transaction.transaction().signer;
            if let Some(queue) = self.by_signer.get_mut(&signer) {
                queue.retain(|pending| pending != hash);
                if queue.is_empty() {
                    self.by_signer.remove(&signer);
                }
            }
        }
    }

    /// Removes every pending transaction of `signer` (after one of them
    /// turned out invalid, the rest cannot be valid either).
    pub fn evict_signer(&mut self, signer: &Address) {
        let hashes: Vec<Hash> =
            self.by_signer.get(signer).map(|queue| queue.iter().copied().collect()).unwrap_or_default();
        self.remove(&hashes);
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.order.clear();
        self.by_hash.clear();
        self.by_signer.clear();
    }
}

#[cfg(test)]
mod tests {
    use parlend_contracts::{Instruction, Transaction};
    use parlend_ledger::{Access, AccessMode, AccessSet, Amount, AssetId, Keypair, StateKey};

    use super::*;

    fn transaction(key: &Keypair, nonce: u64) -> VerifiedTransaction {
        let access =
            AccessSet::new(vec![Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write }]);
        Transaction {
            chain_id: 1,
            signer: key.address(),
            nonce,
            access: access.unwrap(),
            instructions: vec![Instruction::Transfer {
                to: key.address(),
                asset: AssetId::from_static("USDC"),
                amount: Amount(1),
            }],
        }
        .sign(key)
        .verify(1)
        .unwrap()
    }

    #[test]
    fn nonces_must_be_sequential() {
        let key = Keypair::from_seed(&[1; 32]);
        let mut pool = Mempool::new(MempoolLimits::default());
        assert_eq!(pool.insert(transaction(&key, 4), 5), Err(RejectReason::NonceTooLow { expected: 5, got: 4 }));
        assert_eq!(pool.insert(transaction(&key, 6), 5), Err(RejectReason::NonceTooHigh { expected: 5, got: 6 }));
        pool.insert(transaction(&key, 5), 5).unwrap();
        pool.insert(transaction(&key, 6), 5).unwrap();
        let duplicate = transaction(&key, 6);
        assert_eq!(pool.insert(duplicate.clone(), 5), Err(RejectReason::AlreadyKnown(duplicate.hash())));
        assert_eq!(pool.next_nonce(&key.address(), 5), 7);
        let taken = pool.take(10);
        assert_eq!(taken.iter().map(|tx| tx.transaction().nonce).collect::<Vec<_>>(), vec![5, 6]);
        pool.remove(&[taken[0].hash()]);
        assert_eq!(pool.next_nonce(&key.address(), 6), 7);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = MempoolLimits { capacity: 3, per_signer: 2 };
        let mut pool = Mempool::new(limits);
        let a = Keypair::from_seed(&[1; 32]);
        let b = Keypair::from_seed(&[2; 32]);
        pool.insert(transaction(&a, 0), 0).unwrap();
        pool.insert(transaction(&a, 1), 0).unwrap();
        assert_eq!(pool.insert(transaction(&a, 2), 0), Err(RejectReason::SignerQueueFull { pending: 2 }));
        pool.insert(transaction(&b, 0), 0).unwrap();
        assert_eq!(pool.insert(transaction(&b, 1), 0), Err(RejectReason::MempoolFull { capacity: 3 }));
        assert_eq!(pool.len(), 3);
        pool.evict_signer(&a.address());
        assert_eq!(pool.len(), 1);
    }
}
