//! The scheduler: turns a block's declared access sets into a dependency
//! graph, in one pass over the accesses.
//!
//! Every transaction writes its own output slot, and a transaction reads a
//! key from exactly one place: the output of the last transaction before it
//! that declared the key `write` (its *source*), or the state before the
//! block. So the only order that matters is read-after-write:
//!
//! - a `read` or `write` access depends on the key's source (a `write` may
//!   read before it writes);
//! - on an aggregate, it also depends on every `delta` access since the
//!   source, because their changes are part of the value it reads;
//! - a `delta` access depends on nothing: it never reads the value, and the
//!   bounded operations it records are validated in block order later.
//!
//! Write-after-read and write-after-write need no edge: a later writer fills
//! its own slot, and readers still read the slot they were pointed at. This
//! is what makes the graph sparse: transactions of different users on one
//! market share only `read` keys (config, index, price) and `delta` keys
//! (totals), so they have no edges between them at all.
//!
//! The pass is serial and bound by memory: each transaction's access set is
//! its own heap allocation, read once; before each run of 64 transactions,
//! a loop that does nothing else loads their sets into the cache. Most
//! accesses are to a few global keys (configuration, markets, prices); a
//! small direct-mapped cache of recently found key ids, filled on a key's
//! second sighting, finds them before the hash table does.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use crate::access::{Access, AccessMode, StateKey};
use crate::primitives::Address;
use crate::tx::{Instruction, VerifiedTransaction};

/// No transaction: the state before the block.
pub(crate) const NONE: u32 = u32::MAX;

/// One declared access, resolved against the block. Sixteen bytes: the key
/// itself is `Schedule::keys[key_id]`, so a block's accesses are a quarter
/// of the memory they would be with a copy of the key in each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResolvedAccess {
    /// The key's dense id in this block.
    pub key_id: u32,
    /// The declared mode.
    pub mode: AccessMode,
    /// Whether the key is an aggregate (so the key itself need not be read
    /// to know).
    pub aggregate: bool,
    /// The last transaction before this one that declared the key `write`.
    pub source: u32,
    /// For aggregates: the last `delta` event on the key since `source`
    /// (an index into [`Schedule::delta_events`]), or [`NONE`].
    pub last_delta: u32,
}

/// A `delta` access, linked to the previous one on the same key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeltaEvent {
    /// The transaction.
    pub transaction: u32,
    /// The previous event on the key since its last writer, or [`NONE`].
    pub previous: u32,
}

/// The dependency graph of a block.
pub(crate) struct Schedule {
    /// Keys by id.
    pub keys: Vec<StateKey>,
    /// The last transaction that declared each key `write`, or [`NONE`].
    pub last_writer: Vec<u32>,
    /// Accesses of every transaction, flat; each transaction's are sorted by key.
    pub accesses: Vec<ResolvedAccess>,
    /// Where each transaction's accesses start in `accesses` (one extra entry at the end).
    pub access_offsets: Vec<u32>,
    /// Every `delta` access, as linked lists per key.
    pub delta_events: Vec<DeltaEvent>,
    /// Successors of each transaction (CSR: `successor_offsets[i]..successor_offsets[i + 1]`).
    pub successors: Vec<u32>,
    /// Offsets into `successors`.
    pub successor_offsets: Vec<u32>,
    /// Number of dependencies of each transaction (with repeats, matching `successors`).
    pub dependency_counts: Vec<u32>,
    /// Length of the longest dependency chain (1 when nothing depends on anything).
    pub depth: u32,
}

impl Schedule {
    /// The accesses of transaction `index`.
    pub fn accesses_of(&self, index: usize) -> &[ResolvedAccess] {
        let start = self.access_offsets[index] as usize;
        let end = self.access_offsets[index + 1] as usize;
        &self.accesses[start..end]
    }

    /// The access of transaction `index` to `key`, if declared.
    pub fn access(&self, index: usize, key: &StateKey) -> Option<&ResolvedAccess> {
        let accesses = self.accesses_of(index);
        accesses.binary_search_by(|access| self.key(access).cmp(key)).ok().map(|position| &accesses[position])
    }

    /// The key of `access`.
    pub fn key(&self, access: &ResolvedAccess) -> &StateKey {
        &self.keys[access.key_id as usize]
    }

    /// The successors of transaction `index`.
    pub fn successors_of(&self, index: usize) -> &[u32] {
        let start = self.successor_offsets[index] as usize;
        let end = self.successor_offsets[index + 1] as usize;
        &self.successors[start..end]
    }

    /// Whether the block, on average, can run at least `ratio` transactions
    /// at once: transactions per level of the longest chain.
    pub fn parallelism_at_least(&self, ratio: u32) -> bool {
        self.dependency_counts.len() as u64 >= u64::from(ratio) * u64::from(self.depth.max(1))
    }
}

/// Whether one signer sends more than `1 / ratio` of the block. Its
/// transactions form a chain (each one writes the signer's account), so the
/// block's parallelism is below `ratio` whatever the rest does. The
/// Misra-Gries frequent-items pass (Boyer-Moore's majority vote when `ratio`
/// is 2) keeps `ratio - 1` candidates, the only signers that can send that
/// much; a second pass counts them. No hashing: on a block like this it
/// costs a few percent of the serial execution it leads to.
pub(crate) fn one_signer_dominates<I: Instruction>(transactions: &[VerifiedTransaction<I>], ratio: u32) -> bool {
    let ratio = ratio.max(1) as usize;
    let limit = transactions.len() / ratio;
    let mut candidates: Vec<(Address, usize)> = Vec::with_capacity(ratio);
    for transaction in transactions {
        let signer = transaction.transaction().signer;
        if let Some(candidate) = candidates.iter_mut().find(|(candidate, _)| *candidate == signer) {
            candidate.1 += 1;
        } else if candidates.len() + 1 < ratio {
            candidates.push((signer, 1));
        } else {
            candidates.iter_mut().for_each(|candidate| candidate.1 -= 1);
            candidates.retain(|candidate| candidate.1 > 0);
        }
    }
    candidates.iter().any(|(candidate, _)| {
        transactions.iter().filter(|transaction| transaction.transaction().signer == *candidate).count() > limit
    })
}

/// Slots of the scheduler's cache of recent keys, and the mask that picks
/// one from a hash.
const RECENT_KEYS: usize = 256;
const RECENT_KEYS_MASK: u64 = RECENT_KEYS as u64 - 1;

/// Transactions whose access sets are loaded ahead of the pass at a time.
const TOUCH_AHEAD: usize = 64;

#[derive(Clone, Copy)]
struct KeyState {
    last_writer: u32,
    last_delta: u32,
}

fn index_u32(index: usize) -> u32 {
    u32::try_from(index).expect("block sizes are bounded by TRANSACTIONS_PER_BLOCK_MAX")
}

/// Memory the scheduler keeps from one block to the next: a block's graph
/// is megabytes of short-lived buffers, and allocating them afresh costs
/// page faults and rehashing on every block.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Key ids, found by the key's hash and compared through `keys`: 4
    /// bytes a slot instead of a whole key, so the table of a 5,000-
    /// transaction block stays in the core's cache.
    ids: HashTable<u32>,
    states: Vec<KeyState>,
    edges: Vec<(u32, u32)>,
    depths: Vec<u32>,
    cursor: Vec<u32>,
    /// Recently found keys' ids, by hash ([`RECENT_KEYS`] slots).
    recent: Vec<(u64, u32)>,
    /// The last block's schedule, its buffers to be reused.
    recycled: Option<Schedule>,
}

impl Scratch {
    /// Hands a finished schedule back for its buffers.
    pub fn recycle(&mut self, schedule: Schedule) {
        self.recycled = Some(schedule);
    }
}

/// Loads the access sets of `transactions` into the core's cache, in a loop
/// that does nothing else. Each access set is its own heap allocation, cold
/// when the block is scheduled. Measured on 5,000-transaction blocks:
/// liquidation-storm 304 -> 267 ns/tx, lending-mix 258 -> 226 ns/tx; loading
/// the whole block before the pass gave 270-282 ns/tx (liquidation-storm;
/// its sets no longer fit the core's cache when the pass reaches them). The
/// likely reason it pays: a loop of loads alone keeps many cache misses in
/// flight, while the pass, which hashes and looks up every access, keeps
/// few; a scheduled block warm in the cache costs 176 ns/tx.
fn touch_access_sets<I: Instruction>(transactions: &[VerifiedTransaction<I>]) {
    let mut modes = 0u8;
    for transaction in transactions {
        for entry in transaction.transaction().access.entries() {
            modes ^= entry.mode as u8;
        }
    }
    std::hint::black_box(modes);
}

/// Builds the dependency graph of `transactions`.
#[cfg(test)]
pub(crate) fn schedule<I: Instruction>(transactions: &[VerifiedTransaction<I>]) -> Schedule {
    schedule_with(transactions, &mut Scratch::default())
}

/// Builds the dependency graph of `transactions`, reusing `scratch`'s memory.
pub(crate) fn schedule_with<I: Instruction>(
    transactions: &[VerifiedTransaction<I>],
    scratch: &mut Scratch,
) -> Schedule {
    let mut schedule = Schedule::emptied(scratch.recycled.take());
    scratch.clear();
    let total_accesses: usize = transactions.iter().map(|tx| tx.transaction().access.len()).sum();
    schedule.accesses.reserve(total_accesses);
    schedule.access_offsets.reserve(transactions.len() + 1);
    for (index, transaction) in transactions.iter().enumerate() {
        if index % TOUCH_AHEAD == 0 {
            touch_access_sets(&transactions[index..transactions.len().min(index + TOUCH_AHEAD)]);
        }
        schedule.access_offsets.push(index_u32(schedule.accesses.len()));
        let mut depth = 1u32;
        for entry in transaction.transaction().access.entries() {
            let id = scratch.key_id(&mut schedule.keys, entry.key);
            let resolved = scratch.resolve(&mut schedule.delta_events, id, *entry, index_u32(index), &mut depth);
            schedule.accesses.push(resolved);
        }
        scratch.depths.push(depth);
    }
    schedule.access_offsets.push(index_u32(schedule.accesses.len()));
    schedule.last_writer.extend(scratch.states.iter().map(|state| state.last_writer));
    schedule.fill_successors(&scratch.edges, &mut scratch.cursor);
    schedule.depth = scratch.depths.iter().copied().max().unwrap_or(0);
    schedule
}

impl Schedule {
    /// `recycled`'s buffers emptied (or new ones), for the next block.
    fn emptied(recycled: Option<Schedule>) -> Schedule {
        let mut schedule = recycled.unwrap_or_else(|| Schedule {
            keys: Vec::new(),
            last_writer: Vec::new(),
            accesses: Vec::new(),
            access_offsets: Vec::new(),
            delta_events: Vec::new(),
            successors: Vec::new(),
            successor_offsets: Vec::new(),
            dependency_counts: Vec::new(),
            depth: 0,
        });
        for buffer in [&mut schedule.last_writer, &mut schedule.access_offsets, &mut schedule.successors] {
            buffer.clear();
        }
        schedule.successor_offsets.clear();
        schedule.keys.clear();
        schedule.accesses.clear();
        schedule.delta_events.clear();
        schedule.dependency_counts.clear();
        schedule.depth = 0;
        schedule
    }

    /// The successors of every transaction in CSR form (count, prefix-sum,
    /// fill) from the `(from, to)` edges.
    fn fill_successors(&mut self, edges: &[(u32, u32)], cursor: &mut Vec<u32>) {
        let count = self.access_offsets.len() - 1;
        self.successor_offsets.resize(count + 1, 0);
        self.dependency_counts.resize(count, 0);
        for &(from, to) in edges {
            self.successor_offsets[from as usize + 1] += 1;
            self.dependency_counts[to as usize] += 1;
        }
        for index in 0..count {
            self.successor_offsets[index + 1] += self.successor_offsets[index];
        }
        cursor.clear();
        cursor.extend_from_slice(&self.successor_offsets[..count]);
        self.successors.resize(edges.len(), 0);
        for &(from, to) in edges {
            self.successors[cursor[from as usize] as usize] = to;
            cursor[from as usize] += 1;
        }
    }
}

impl Scratch {
    /// Empties the per-block state, keeping its memory.
    fn clear(&mut self) {
        self.recent.clear();
        self.recent.resize(RECENT_KEYS, (0, NONE));
        self.ids.clear();
        self.states.clear();
        self.edges.clear();
        self.depths.clear();
    }

    /// The id of `key`, added to `keys` the first time it is seen.
    #[inline(always)]
    fn key_id(&mut self, keys: &mut Vec<StateKey>, key: StateKey) -> u32 {
        let hash = FxBuildHasher.hash_one(key);
        // Most accesses are to a few keys (configuration, markets, prices):
        // a small direct-mapped cache finds them first.
        let recent = &mut self.recent[usize::try_from(hash & RECENT_KEYS_MASK).unwrap_or_default()];
        let cached = (recent.0 == hash && recent.1 != NONE && keys[recent.1 as usize] == key).then_some(recent.1);
        match cached.or_else(|| self.ids.find(hash, |&id| keys[id as usize] == key).copied()) {
            Some(id) => {
                // Seen before: worth caching (a key seen once is usually an
                // account's, and would evict a market's).
                *recent = (hash, id);
                id
            }
            None => {
                let id = index_u32(keys.len());
                keys.push(key);
                self.states.push(KeyState { last_writer: NONE, last_delta: NONE });
                self.ids.insert_unique(hash, id, |&id| FxBuildHasher.hash_one(keys[id as usize]));
                id
            }
        }
    }

    /// Records transaction `index`'s access to key `id`: the edges it needs
    /// (from the key's last writer and the deltas since), its depth, and
    /// the key's new last writer or delta.
    #[inline(always)]
    fn resolve(
        &mut self,
        delta_events: &mut Vec<DeltaEvent>,
        id: u32,
        entry: Access,
        index: u32,
        depth: &mut u32,
    ) -> ResolvedAccess {
        let state = &mut self.states[id as usize];
        let resolved = ResolvedAccess {
            key_id: id,
            mode: entry.mode,
            aggregate: entry.key.is_aggregate(),
            source: state.last_writer,
            last_delta: state.last_delta,
        };
        let (edges, depths) = (&mut self.edges, &self.depths);
        let mut depend_on = |from: u32| {
            edges.push((from, index));
            *depth = (*depth).max(depths[from as usize] + 1);
        };
        match entry.mode {
            AccessMode::Read | AccessMode::Write => {
                if state.last_writer != NONE {
                    depend_on(state.last_writer);
                }
                let mut event = state.last_delta;
                while event != NONE {
                    let DeltaEvent { transaction, previous } = delta_events[event as usize];
                    depend_on(transaction);
                    event = previous;
                }
                if entry.mode == AccessMode::Write {
                    state.last_writer = index;
                    state.last_delta = NONE;
                }
            }
            AccessMode::Delta => {
                delta_events.push(DeltaEvent { transaction: index, previous: state.last_delta });
                state.last_delta = index_u32(delta_events.len() - 1);
            }
        }
        resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::testing::{Op, ToyTransaction, toy_block};
    use crate::primitives::{Address, AssetId};

    fn balance(owner: u8) -> StateKey {
        StateKey::Balance { owner: Address([owner; 32]), asset: AssetId::from_static("USDC") }
    }

    fn position(owner: u8) -> StateKey {
        StateKey::Position { owner: Address([owner; 32]) }
    }

    #[test]
    fn deltas_on_one_key_do_not_depend_on_each_other() {
        let block = toy_block(&[
            (0, vec![Op::Nop], vec![(balance(9), AccessMode::Delta)]),
            (1, vec![Op::Nop], vec![(balance(9), AccessMode::Delta)]),
            (2, vec![Op::Nop], vec![(balance(9), AccessMode::Delta)]),
        ]);
        let schedule = schedule(&block);
        assert_eq!(schedule.depth, 1);
        assert!(schedule.dependency_counts.iter().all(|&count| count == 0));
    }

    #[test]
    fn reads_depend_on_the_last_writer_and_later_deltas() {
        let block = toy_block(&[
            (0, vec![Op::Nop], vec![(balance(9), AccessMode::Write)]),
            (1, vec![Op::Nop], vec![(balance(9), AccessMode::Delta)]),
            (2, vec![Op::Nop], vec![(balance(9), AccessMode::Delta)]),
            (3, vec![Op::Nop], vec![(balance(9), AccessMode::Read)]),
            (4, vec![Op::Nop], vec![(balance(9), AccessMode::Write)]),
        ]);
        let schedule = schedule(&block);
        // The reader depends on the writer and both deltas.
        assert_eq!(schedule.dependency_counts[3], 3);
        // The second writer also reads: the same three, not the reader.
        assert_eq!(schedule.dependency_counts[4], 3);
        assert_eq!(schedule.access(4, &balance(9)).unwrap().source, 0);
        assert_eq!(std::mem::size_of::<ResolvedAccess>(), 16);
        assert_eq!(schedule.last_writer[schedule.access(0, &balance(9)).unwrap().key_id as usize], 4);
        // Deltas do not wait for the writer, so the longest chain is writer → reader.
        assert_eq!(schedule.depth, 2);
    }

    #[test]
    fn a_dominant_signer_is_found_before_scheduling() {
        let chain: Vec<ToyTransaction> =
            (0..10).map(|index| (if index < 6 { 0 } else { index }, vec![Op::Nop], vec![])).collect();
        assert!(one_signer_dominates(&toy_block(&chain), 2));
        let spread: Vec<ToyTransaction> =
            (0..10).map(|index| (if index < 5 { 0 } else { index }, vec![Op::Nop], vec![])).collect();
        assert!(!one_signer_dominates(&toy_block(&spread), 2));
    }

    proptest::proptest! {
        #[test]
        fn the_dominance_check_matches_counting(
            signers in proptest::collection::vec(0u32..4, 0..40),
            ratio in 1u32..5,
        ) {
            let block: Vec<ToyTransaction> = signers.iter().map(|&signer| (signer, vec![Op::Nop], vec![])).collect();
            let block = toy_block(&block);
            let mut counts = std::collections::HashMap::new();
            for transaction in &block {
                *counts.entry(transaction.transaction().signer).or_insert(0usize) += 1;
            }
            let expected = counts.values().any(|&count| count > block.len() / ratio as usize);
            proptest::prop_assert_eq!(one_signer_dominates(&block, ratio), expected);
        }
    }

    #[test]
    fn one_signer_is_a_chain() {
        let block = toy_block(&[
            (0, vec![Op::Nop], vec![(position(1), AccessMode::Read)]),
            (0, vec![Op::Nop], vec![(position(2), AccessMode::Read)]),
            (0, vec![Op::Nop], vec![(position(3), AccessMode::Read)]),
        ]);
        let schedule = schedule(&block);
        assert_eq!(schedule.depth, 3);
        assert_eq!(schedule.successors_of(0), &[1]);
        assert_eq!(schedule.successors_of(1), &[2]);
    }
}
