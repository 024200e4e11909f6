//! The mempool: admitted transactions waiting for a block, and what
//! admission needs to answer from memory.
//!
//! - Per-signer nonce order: a signer's next transaction must carry exactly
//!   the next nonce (its committed nonce plus its pending count); gaps are
//!   rejected. Committed nonces are kept here, refreshed at every commit
//!   from the block's account changes, so admission reads the store only
//!   for a signer it has not seen recently (bounded: [`SIGNERS_MAX`]).
//! - Dedup by id, against pending transactions and a bounded record of
//!   recently committed ones ([`RECENT_COMMITTED_MAX`]); an older duplicate
//!   carries a nonce below its signer's and is refused for that.
//! - Bounded: a total capacity and a per-signer limit, each with its own
//!   error, so a flood is answered "full" instead of growing memory.
//! - First come, first served across signers, which keeps each signer's
//!   transactions in nonce order.
//! - A block in progress takes transactions *in flight*: they stay known
//!   (pending, counted in their signer's nonce) but are not taken again,
//!   until their block commits ([`Mempool::committed`]) or is abandoned
//!   ([`Mempool::release`]). A validator's proposals at one height are
//!   alternatives: each new round's starts over ([`Mempool::release_all`]),
//!   so a block always takes a signer's transactions from its committed
//!   nonce on.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use parlend_contracts::VerifiedTransaction;
use parlend_ledger::{Address, Hash, RejectReason};

/// Most signers whose committed nonce is remembered while they have
/// nothing pending; beyond it idle ones are forgotten (and read from the
/// store again when they return).
pub const SIGNERS_MAX: usize = 1_000_000;

/// Most recently committed transaction ids remembered for dedup.
pub const RECENT_COMMITTED_MAX: usize = 200_000;

/// Most dropped transaction ids remembered with the reason (for
/// `getTransactionStatus`); the oldest are forgotten first.
pub const DROPPED_MAX: usize = 100_000;

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

struct Entry {
    /// Position in arrival order.
    sequence: u64,
    transaction: VerifiedTransaction,
    /// Taken by a block in progress.
    in_flight: bool,
}

#[derive(Default)]
struct Signer {
    /// The nonce in the committed state.
    committed: u64,
    /// Pending transactions (in flight ones first), in nonce order.
    queue: VecDeque<Hash>,
}

/// Pending transactions.
pub struct Mempool {
    limits: MempoolLimits,
    /// Arrival order of the transactions not in flight: sequence to id.
    ready: BTreeMap<u64, Hash>,
    by_hash: HashMap<Hash, Entry>,
    signers: HashMap<Address, Signer>,
    next_sequence: u64,
    /// Recently committed ids, and the blocks' id lists in commit order.
    recent: HashSet<Hash>,
    recent_blocks: VecDeque<Vec<Hash>>,
    /// Transactions dropped without being committed, why, and their order.
    dropped: HashMap<Hash, RejectReason>,
    dropped_order: VecDeque<Hash>,
}

impl Mempool {
    /// An empty mempool.
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            limits,
            ready: BTreeMap::new(),
            by_hash: HashMap::new(),
            signers: HashMap::new(),
            next_sequence: 0,
            recent: HashSet::new(),
            recent_blocks: VecDeque::new(),
            dropped: HashMap::new(),
            dropped_order: VecDeque::new(),
        }
    }

    /// Number of pending transactions, in flight included.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Pending transactions no block has taken yet.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Whether `hash` is pending (in flight included).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Whether `hash` was committed recently (see [`RECENT_COMMITTED_MAX`]).
    pub fn recently_committed(&self, hash: &Hash) -> bool {
        self.recent.contains(hash)
    }

    /// Why `hash` was dropped without being committed, if it was recently
    /// (see [`DROPPED_MAX`]).
    pub fn dropped(&self, hash: &Hash) -> Option<&RejectReason> {
        self.dropped.get(hash)
    }

    /// A pending transaction.
    pub fn get(&self, hash: &Hash) -> Option<&VerifiedTransaction> {
        self.by_hash.get(hash).map(|entry| &entry.transaction)
    }

    /// The nonce `signer` must use next, if its committed nonce is known
    /// here; `None` means: read it from the store and [`Mempool::learn`] it.
    pub fn next_nonce(&self, signer: &Address) -> Option<u64> {
        self.signers.get(signer).map(|state| state.committed + state.queue.len() as u64)
    }

    /// Records `signer`'s committed nonce, read from the store by a caller
    /// that holds the mempool (so no commit can slip in between).
    pub fn learn(&mut self, signer: Address, committed: u64) {
        if self.signers.len() >= SIGNERS_MAX {
            self.signers.retain(|_, state| !state.queue.is_empty());
        }
        self.signers.entry(signer).or_insert(Signer { committed, queue: VecDeque::new() });
    }

    /// Admits a verified transaction whose signer's committed nonce is
    /// known ([`Mempool::learn`]).
    pub fn insert(&mut self, transaction: VerifiedTransaction) -> Result<(), RejectReason> {
        let hash = transaction.hash();
        if self.by_hash.contains_key(&hash) || self.recent.contains(&hash) {
            return Err(RejectReason::AlreadyKnown(hash));
        }
        let signer = transaction.transaction().signer;
        let nonce = transaction.transaction().nonce;
        let expected = self.next_nonce(&signer).expect("the caller learned the signer's committed nonce");
        if nonce < expected {
            return Err(RejectReason::NonceTooLow { expected, got: nonce });
        }
        if nonce > expected {
            return Err(RejectReason::NonceTooHigh { expected, got: nonce });
        }
        let state = self.signers.get_mut(&signer).expect("known signer");
        if state.queue.len() >= self.limits.per_signer {
            return Err(RejectReason::SignerQueueFull { pending: state.queue.len() });
        }
        if self.by_hash.len() >= self.limits.capacity {
            return Err(RejectReason::MempoolFull { capacity: self.limits.capacity });
        }
        state.queue.push_back(hash);
        self.dropped.remove(&hash);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.ready.insert(sequence, hash);
        self.by_hash.insert(hash, Entry { sequence, transaction, in_flight: false });
        Ok(())
    }

    /// Takes up to `count` ready transactions in arrival order for a block:
    /// they are in flight until [`Mempool::committed`] or [`Mempool::release`].
    pub fn take(&mut self, count: usize) -> Vec<VerifiedTransaction> {
        let mut taken = Vec::with_capacity(count.min(self.ready.len()));
        while taken.len() < count {
            let Some((_, hash)) = self.ready.pop_first() else { break };
            if let Some(entry) = self.by_hash.get_mut(&hash) {
                entry.in_flight = true;
                taken.push(entry.transaction.clone());
            }
        }
        taken
    }

    /// Puts in-flight transactions back in line (their block was abandoned).
    pub fn release(&mut self, hashes: &[Hash]) {
        for hash in hashes {
            if let Some(entry) = self.by_hash.get_mut(hash)
                && entry.in_flight
            {
                entry.in_flight = false;
                self.ready.insert(entry.sequence, *hash);
            }
        }
    }

    /// Puts every in-flight transaction back in line, in arrival order: a
    /// validator proposing again at a height whose earlier rounds it
    /// proposed for (blocks that may still be decided, or abandoned) builds
    /// the new block as an alternative to them, from each signer's committed
    /// nonce, not after them.
    pub fn release_all(&mut self) {
        for (hash, entry) in &mut self.by_hash {
            if entry.in_flight {
                entry.in_flight = false;
                self.ready.insert(entry.sequence, *hash);
            }
        }
    }

    /// A block committed: its transactions leave, their ids are remembered,
    /// and every signer whose account it changed gets its new committed
    /// nonce (`nonces`); pending transactions a foreign block made stale
    /// (nonce below the committed one) are dropped, with the reason kept
    /// ([`Mempool::dropped`]). Returns how many were dropped.
    pub fn committed(&mut self, hashes: &[Hash], nonces: &[(Address, u64)]) -> usize {
        self.remove(hashes);
        let mut dropped = 0;
        for (signer, committed) in nonces {
            if let Some(state) = self.signers.get_mut(signer) {
                state.committed = *committed;
            }
            dropped += self.drop_stale(signer);
        }
        self.recent.extend(hashes.iter().copied());
        self.recent_blocks.push_back(hashes.to_vec());
        while self.recent.len() > RECENT_COMMITTED_MAX {
            let Some(oldest) = self.recent_blocks.pop_front() else { break };
            for hash in oldest {
                self.recent.remove(&hash);
            }
        }
        dropped
    }

    /// Drops `signer`'s pending transactions whose nonce is below its
    /// committed nonce (only a foreign block can cause that: it used the
    /// nonce for another transaction); returns how many.
    fn drop_stale(&mut self, signer: &Address) -> usize {
        let Some(state) = self.signers.get(signer) else { return 0 };
        let committed = state.committed;
        // The queue is in nonce order: the stale ones come first.
        let stale: Vec<(Hash, u64)> = state
            .queue
            .iter()
            .filter_map(|hash| Some((*hash, self.by_hash.get(hash)?.transaction.transaction().nonce)))
            .take_while(|(_, nonce)| *nonce < committed)
            .collect();
        for (hash, nonce) in &stale {
            self.record_dropped(*hash, RejectReason::NonceTooLow { expected: committed, got: *nonce });
        }
        self.remove(&stale.iter().map(|(hash, _)| *hash).collect::<Vec<_>>());
        stale.len()
    }

    /// Remembers why a transaction left without being committed.
    fn record_dropped(&mut self, hash: Hash, reason: RejectReason) {
        if self.dropped.insert(hash, reason).is_none() {
            self.dropped_order.push_back(hash);
        }
        while self.dropped_order.len() > DROPPED_MAX {
            let Some(oldest) = self.dropped_order.pop_front() else { break };
            self.dropped.remove(&oldest);
        }
    }

    /// Removes transactions (committed ones, or ones evicted).
    fn remove(&mut self, hashes: &[Hash]) {
        for hash in hashes {
            let Some(entry) = self.by_hash.remove(hash) else {
                continue;
            };
            // In-flight ones left the line when a block took them.
            if !entry.in_flight {
                self.ready.remove(&entry.sequence);
            }
            let signer = entry.transaction.transaction().signer;
            if let Some(state) = self.signers.get_mut(&signer) {
                // A committed transaction is its signer's first pending one
                // (a queue is in nonce order); only evictions search.
                if state.queue.front() == Some(hash) {
                    state.queue.pop_front();
                } else {
                    state.queue.retain(|pending| pending != hash);
                }
            }
        }
    }

    /// Removes every pending transaction of `signer` (after one of them
    /// turned out invalid, the rest cannot be valid either), each recorded
    /// as dropped for its nonce against `expected` (the account's next
    /// nonce in the state the block ran on), and forgets its committed
    /// nonce, to be read again. Returns how many were removed.
    pub fn evict_signer(&mut self, signer: &Address, expected: u64) -> usize {
        let hashes: Vec<Hash> =
            self.signers.get(signer).map(|state| state.queue.iter().copied().collect()).unwrap_or_default();
        for hash in &hashes {
            let Some(got) = self.by_hash.get(hash).map(|entry| entry.transaction.transaction().nonce) else { continue };
            let reason = if got < expected {
                RejectReason::NonceTooLow { expected, got }
            } else {
                RejectReason::NonceTooHigh { expected, got }
            };
            self.record_dropped(*hash, reason);
        }
        self.remove(&hashes);
        self.signers.remove(signer);
        hashes.len()
    }

    /// Removes everything, committed nonces and recent ids included (the
    /// chain was reverted).
    pub fn clear(&mut self) {
        self.ready.clear();
        self.by_hash.clear();
        self.signers.clear();
        self.recent.clear();
        self.recent_blocks.clear();
        self.dropped.clear();
        self.dropped_order.clear();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use parlend_contracts::{Instruction, SignedTransaction, Transaction};
    use parlend_ledger::{Access, AccessMode, AccessSet, Amount, AssetId, Keypair, StateKey};

    use super::*;

    /// `instruction` signed by `key` at `nonce` on chain 1, declaring the
    /// signer's account (for the node's unit tests).
    pub(crate) fn signed(key: &Keypair, nonce: u64, instruction: Instruction) -> SignedTransaction {
        let access =
            AccessSet::new(vec![Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write }]);
        Transaction {
            chain_id: 1,
            signer: key.address(),
            nonce,
            access: access.unwrap(),
            instructions: vec![instruction],
        }
        .sign(key)
    }

    fn transaction(key: &Keypair, nonce: u64) -> VerifiedTransaction {
        let transfer =
            Instruction::Transfer { to: key.address(), asset: AssetId::from_static("USDC"), amount: Amount(1) };
        signed(key, nonce, transfer).verify(1).unwrap()
    }

    /// A pool holding `key`'s transactions with nonces `0..count`.
    fn pool_of(key: &Keypair, count: u64) -> Mempool {
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.learn(key.address(), 0);
        for nonce in 0..count {
            pool.insert(transaction(key, nonce)).unwrap();
        }
        pool
    }

    #[test]
    fn nonces_must_be_sequential() {
        let key = Keypair::from_seed(&[1; 32]);
        let mut pool = Mempool::new(MempoolLimits::default());
        assert_eq!(pool.next_nonce(&key.address()), None, "unknown until learned");
        pool.learn(key.address(), 5);
        assert_eq!(pool.insert(transaction(&key, 4)), Err(RejectReason::NonceTooLow { expected: 5, got: 4 }));
        assert_eq!(pool.insert(transaction(&key, 6)), Err(RejectReason::NonceTooHigh { expected: 5, got: 6 }));
        pool.insert(transaction(&key, 5)).unwrap();
        pool.insert(transaction(&key, 6)).unwrap();
        let duplicate = transaction(&key, 6);
        assert_eq!(pool.insert(duplicate.clone()), Err(RejectReason::AlreadyKnown(duplicate.hash())));
        assert_eq!(pool.next_nonce(&key.address()), Some(7));
        let taken = pool.take(10);
        assert_eq!(taken.iter().map(|tx| tx.transaction().nonce).collect::<Vec<_>>(), vec![5, 6]);
        pool.committed(&[taken[0].hash()], &[(key.address(), 6)]);
        assert_eq!(pool.next_nonce(&key.address()), Some(7));
        assert_eq!(pool.insert(taken[0].clone()), Err(RejectReason::AlreadyKnown(taken[0].hash())));
    }

    #[test]
    fn in_flight_transactions_are_taken_once_and_can_be_released() {
        let key = Keypair::from_seed(&[3; 32]);
        let mut pool = pool_of(&key, 4);
        let first = pool.take(2);
        assert_eq!(pool.ready_len(), 2);
        assert_eq!(pool.len(), 4, "in flight is still pending");
        assert!(pool.contains(&first[0].hash()));
        let second = pool.take(10);
        assert_eq!(second.iter().map(|tx| tx.transaction().nonce).collect::<Vec<_>>(), vec![2, 3]);
        pool.release(&second.iter().map(VerifiedTransaction::hash).collect::<Vec<_>>());
        assert_eq!(pool.take(10).len(), 2, "released ones come back");
        assert_eq!(pool.next_nonce(&key.address()), Some(4));
    }

    #[test]
    fn release_all_puts_every_block_in_flight_back_in_arrival_order() {
        let (a, b) = (Keypair::from_seed(&[5; 32]), Keypair::from_seed(&[6; 32]));
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.learn(a.address(), 0);
        pool.learn(b.address(), 3);
        for nonce in 0..3 {
            pool.insert(transaction(&a, nonce)).unwrap();
            pool.insert(transaction(&b, nonce + 3)).unwrap();
        }
        let order = |taken: &[VerifiedTransaction]| {
            taken.iter().map(|tx| (tx.transaction().signer == a.address(), tx.transaction().nonce)).collect::<Vec<_>>()
        };
        let everything = order(&pool.take(2));
        // Two proposals at one height: the second took what the first left.
        assert_eq!(order(&pool.take(2)), vec![(true, 1), (false, 4)]);
        pool.release_all();
        assert_eq!(pool.ready_len(), 6);
        let again = pool.take(10);
        assert_eq!(order(&again[..2]), everything);
        assert_eq!(
            order(&again).iter().filter(|(is_a, _)| *is_a).map(|(_, nonce)| *nonce).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(pool.next_nonce(&a.address()), Some(3));
        assert_eq!(pool.next_nonce(&b.address()), Some(6));
    }

    #[test]
    fn a_foreign_block_makes_pending_nonces_stale() {
        let key = Keypair::from_seed(&[4; 32]);
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.learn(key.address(), 0);
        pool.insert(transaction(&key, 0)).unwrap();
        pool.insert(transaction(&key, 1)).unwrap();
        let (first, second) = (transaction(&key, 0), transaction(&key, 1));
        // Another validator's block used nonces 0 and 1 with other transactions.
        assert_eq!(pool.committed(&[], &[(key.address(), 2)]), 2);
        assert!(pool.is_empty());
        assert_eq!(pool.next_nonce(&key.address()), Some(2));
        assert_eq!(pool.dropped(&first.hash()), Some(&RejectReason::NonceTooLow { expected: 2, got: 0 }));
        assert_eq!(pool.dropped(&second.hash()), Some(&RejectReason::NonceTooLow { expected: 2, got: 1 }));
    }

    #[test]
    fn a_foreign_block_drops_only_the_stale_nonces_in_flight_or_in_line() {
        let key = Keypair::from_seed(&[7; 32]);
        let mut pool = pool_of(&key, 4);
        assert_eq!(pool.take(1).len(), 1, "nonce 0 in flight, the others in line");
        assert_eq!(pool.committed(&[], &[(key.address(), 2)]), 2);
        assert_eq!((pool.len(), pool.ready_len()), (2, 2));
        let taken = pool.take(10);
        assert_eq!(taken.iter().map(|tx| tx.transaction().nonce).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(pool.next_nonce(&key.address()), Some(4));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = MempoolLimits { capacity: 3, per_signer: 2 };
        let mut pool = Mempool::new(limits);
        let a = Keypair::from_seed(&[1; 32]);
        let b = Keypair::from_seed(&[2; 32]);
        pool.learn(a.address(), 0);
        pool.learn(b.address(), 0);
        pool.insert(transaction(&a, 0)).unwrap();
        pool.insert(transaction(&a, 1)).unwrap();
        assert_eq!(pool.insert(transaction(&a, 2)), Err(RejectReason::SignerQueueFull { pending: 2 }));
        pool.insert(transaction(&b, 0)).unwrap();
        assert_eq!(pool.insert(transaction(&b, 1)), Err(RejectReason::MempoolFull { capacity: 3 }));
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.evict_signer(&a.address(), 1), 2);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.next_nonce(&a.address()), None, "forgotten, to be read again");
        let evicted = transaction(&a, 0).hash();
        assert_eq!(pool.dropped(&evicted), Some(&RejectReason::NonceTooLow { expected: 1, got: 0 }));
        assert_eq!(pool.dropped(&transaction(&a, 1).hash()), Some(&RejectReason::NonceTooHigh { expected: 1, got: 1 }));
        // Sent again (with the account's nonce read afresh), it is pending, not dropped.
        pool.learn(a.address(), 0);
        pool.insert(transaction(&a, 0)).unwrap();
        assert_eq!(pool.dropped(&evicted), None);
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut pool = Mempool::new(MempoolLimits::default());
        let id = |n: u32| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            Hash(bytes)
        };
        let blocks = u32::try_from(RECENT_COMMITTED_MAX / 100).unwrap() + 10;
        for block in 0..blocks {
            let hashes: Vec<Hash> = (0..100).map(|index| id(block * 100 + index)).collect();
            pool.committed(&hashes, &[]);
        }
        assert!(pool.recent.len() <= RECENT_COMMITTED_MAX);
        assert!(!pool.recently_committed(&id(0)), "the oldest are forgotten");
        assert!(pool.recently_committed(&id(blocks * 100 - 1)), "the newest are remembered");
    }
}
