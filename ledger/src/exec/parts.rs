//! A block executed in parts, as its transactions arrive.
//!
//! A producer with a block interval may execute what has arrived so far
//! while the interval runs, so that when the block is cut only the last
//! part is left to execute. The result is the block's, exactly: parts run
//! one after another, each on the state the parts before it left (serial
//! semantics between parts, any executor within a part), the prologue runs
//! with the first part only, the epilogue with the last, over every key
//! the block's transactions touched, and the changes are those of the whole
//! block against the state before it (a key a later part set back to its
//! value before the block is no change).
//!
//! ```text
//! state before ─ part 1: prologue, txs ─ part 2: txs ─ … ─ last part: txs, epilogue
//! ```
//!
//! Replay and every other node execute the block whole; the tests check
//! that both give the same receipts and changes byte for byte.

use std::collections::BTreeSet;
use std::sync::Mutex;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

use super::parallel::{ExecutionStats, ParallelExecutor};
use super::{BlockContext, BlockError, BlockOutput, Vm};
use crate::access::StateKey;
use crate::block::Receipt;
use crate::state::{Overlay, StateReader, StoreError, Value, WriteSet};
use crate::tx::{Transaction, VerifiedTransaction};

/// A block being executed part by part; [`BlockInParts::finish`] executes
/// the last part and gives the block's output.
#[derive(Debug)]
pub struct BlockInParts {
    context: BlockContext,
    /// Every key a part changed, with its latest value.
    changes: WriteSet,
    /// Keys changed by more than one part: one may have been set back.
    changed_again: BTreeSet<StateKey>,
    /// Every key a committed transaction wrote (the epilogue's input).
    touched: BTreeSet<StateKey>,
    receipts: Vec<Receipt>,
    stats: ExecutionStats,
    parts: usize,
    /// The values the parts read from the state before the block.
    read: RwLock<FxHashMap<StateKey, Option<Value>>>,
}

impl BlockInParts {
    /// A block with `context` and no part executed yet.
    pub fn new(context: BlockContext) -> BlockInParts {
        BlockInParts {
            context,
            changes: WriteSet::new(),
            changed_again: BTreeSet::new(),
            touched: BTreeSet::new(),
            receipts: Vec::new(),
            stats: ExecutionStats::default(),
            parts: 0,
            read: RwLock::default(),
        }
    }

    /// The block's context.
    pub fn context(&self) -> &BlockContext {
        &self.context
    }

    /// Transactions executed so far.
    pub fn transactions(&self) -> usize {
        self.receipts.len()
    }

    /// Executes `transactions` as the next part, on `base` (the state
    /// before the block) with the parts before it applied. On an error the
    /// block is as it was before the call (a `NonceMismatch` index is
    /// within `transactions`).
    pub fn execute<V: Vm>(
        &mut self,
        executor: &ParallelExecutor,
        vm: &V,
        base: &dyn StateReader,
        transactions: &[VerifiedTransaction<V::Instruction>],
    ) -> Result<(), BlockError> {
        let part = Part { vm, prologue: self.parts == 0, epilogue: None, touched: Mutex::default() };
        self.run(executor, &part, base, transactions)
    }

    /// Executes the last part (possibly empty) with the epilogue and gives
    /// the block's receipts, its changes against `base` (the state before
    /// the block) and what its parts cost, summed (`depth`: the longest of
    /// theirs; `serial_fallback`: whether any part with transactions ran on
    /// the serial executor); the block is then empty again. On an error
    /// the block is as it was (a `NonceMismatch` index is within
    /// `transactions`).
    pub fn finish<V: Vm>(
        &mut self,
        executor: &ParallelExecutor,
        vm: &V,
        base: &dyn StateReader,
        transactions: &[VerifiedTransaction<V::Instruction>],
    ) -> Result<(BlockOutput, ExecutionStats), BlockError> {
        let touched_before = std::mem::take(&mut self.touched);
        let part = Part { vm, prologue: self.parts == 0, epilogue: Some(&touched_before), touched: Mutex::default() };
        // A block of one part reads the base directly: nothing would read
        // the values it keeps.
        let result = self.execute_one(executor, &part, base, transactions, self.parts > 0);
        drop(part);
        self.touched = touched_before;
        let (output, stats, touched) = result?;
        // A key changed by an earlier part and again by this one may be
        // back at its value before the block: read those values first, so
        // that a failed read leaves the block as it was.
        let again = output.changes.keys().filter(|key| self.changes.contains_key(key));
        let candidates: BTreeSet<StateKey> = self.changed_again.iter().chain(again).copied().collect();
        let before = ReadOnce { base, read: &self.read };
        let values_before = candidates
            .into_iter()
            .map(|key| before.get(&key).map(|value| (key, value)))
            .collect::<Result<Vec<_>, _>>()?;
        self.merge(output, &stats, touched, transactions.len());
        for (key, value) in values_before {
            if self.changes.get(&key) == Some(&value) {
                self.changes.remove(&key);
            }
        }
        let fresh = BlockInParts::new(self.context);
        let done = std::mem::replace(self, fresh);
        Ok((BlockOutput { receipts: done.receipts, changes: done.changes }, done.stats))
    }

    /// Runs one part on `base` with the earlier parts' changes over it,
    /// then adds its outcome to the block's.
    fn run<V: Vm>(
        &mut self,
        executor: &ParallelExecutor,
        part: &Part<'_, V>,
        base: &dyn StateReader,
        transactions: &[VerifiedTransaction<V::Instruction>],
    ) -> Result<(), BlockError> {
        let (output, stats, touched) = self.execute_one(executor, part, base, transactions, true)?;
        self.merge(output, &stats, touched, transactions.len());
        Ok(())
    }

    /// Executes one part on `base` (through the values kept from it, if
    /// `keep`) with the earlier parts' changes over it; gives its output,
    /// its cost and the keys it touched, changing nothing of the block.
    fn execute_one<V: Vm>(
        &mut self,
        executor: &ParallelExecutor,
        part: &Part<'_, V>,
        base: &dyn StateReader,
        transactions: &[VerifiedTransaction<V::Instruction>],
        keep: bool,
    ) -> Result<(BlockOutput, ExecutionStats, Vec<StateKey>), BlockError> {
        let kept = ReadOnce { base, read: &self.read };
        let before: &dyn StateReader = if keep { &kept } else { base };
        let state = Overlay::with_writes(before, std::mem::take(&mut self.changes));
        let result = executor.execute_block_with_stats(part, &state, &self.context, transactions);
        self.changes = state.into_writes();
        let (output, stats) = result?;
        let touched = part.touched.lock().map(|mut touched| std::mem::take(&mut *touched)).unwrap_or_default();
        Ok((output, stats, touched))
    }

    /// Adds a part's outcome to the block's.
    fn merge(&mut self, output: BlockOutput, stats: &ExecutionStats, touched: Vec<StateKey>, transactions: usize) {
        for (key, value) in output.changes {
            if self.changes.insert(key, value).is_some() {
                self.changed_again.insert(key);
            }
        }
        self.touched.extend(touched);
        self.receipts.extend(output.receipts);
        self.add_stats(stats, transactions);
        self.parts += 1;
    }

    fn add_stats(&mut self, part: &ExecutionStats, transactions: usize) {
        let total = &mut self.stats;
        total.schedule += part.schedule;
        total.reexecutions += part.reexecutions;
        total.prologue += part.prologue;
        total.execute += part.execute;
        total.commit += part.commit;
        total.finish += part.finish;
        total.depth = total.depth.max(part.depth);
        total.accesses += part.accesses;
        total.edges += part.edges;
        total.serial_fallback |= part.serial_fallback && transactions > 0;
    }
}

/// The state before the block as the parts read it: each key from the base
/// once for the whole block (later parts read much of what earlier ones
/// did, and a store read costs microseconds).
struct ReadOnce<'a> {
    base: &'a dyn StateReader,
    read: &'a RwLock<FxHashMap<StateKey, Option<Value>>>,
}

impl StateReader for ReadOnce<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        if let Some(value) = self.read.read().get(key) {
            return Ok(value.clone());
        }
        let value = self.base.get(key)?;
        self.read.write().insert(*key, value.clone());
        Ok(value)
    }
}

/// The VM of one part: the prologue only in the first, the epilogue only
/// in the last (over the keys every part touched); records the keys its
/// transactions touched.
struct Part<'a, V> {
    vm: &'a V,
    prologue: bool,
    /// In the last part: the keys the parts before it touched.
    epilogue: Option<&'a BTreeSet<StateKey>>,
    touched: Mutex<Vec<StateKey>>,
}

impl<V: Vm> Vm for Part<'_, V> {
    type Instruction = V::Instruction;

    fn begin_block(&self, context: &BlockContext, state: &mut Overlay<'_>) -> Result<(), StoreError> {
        if self.prologue { self.vm.begin_block(context, state) } else { Ok(()) }
    }

    fn execute(
        &self,
        context: &BlockContext,
        transaction: &Transaction<Self::Instruction>,
        view: &mut super::TxView<'_>,
    ) -> Result<(), super::TxFailure> {
        self.vm.execute(context, transaction, view)
    }

    fn end_block(
        &self,
        context: &BlockContext,
        state: &mut Overlay<'_>,
        touched: &[StateKey],
    ) -> Result<(), StoreError> {
        if let Ok(mut kept) = self.touched.lock() {
            kept.extend_from_slice(touched);
        }
        let Some(before) = self.epilogue else { return Ok(()) };
        let all: BTreeSet<StateKey> = before.iter().chain(touched).copied().collect();
        let all: Vec<StateKey> = all.into_iter().collect();
        self.vm.end_block(context, state, &all)
    }
}
