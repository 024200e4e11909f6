//! The view a transaction executes against: it enforces the access set and
//! records what the parallel executor must validate.
//!
//! Rules, checked on every call:
//! - `get`/`fields` need the key declared `read` or `write`;
//! - `put`/`delete`/`set_fields` need `write`;
//! - `add`/`sub` need `write` or `delta` (on an aggregate);
//! - `peek` (observe one aggregate field exactly) needs any mode.
//!
//! Anything else is an access violation: the call returns
//! [`ViewError::AccessViolation`] and the executor fails the transaction with
//! `AccessViolation`, whatever the contract does with the error.
//!
//! On a `delta` key the view never reads the value for the contract. A
//! bounded operation (`sub` must not go below zero, `add` must not exceed a
//! cap) is evaluated against a base the executor supplies, and recorded as a
//! [`Predicate`]: "at the base this transaction sees, this operation held (or
//! not)". The serial executor supplies the exact base; the parallel one a
//! speculative base, then re-checks every predicate against the exact serial
//! value and re-executes the transaction if any outcome differs.

use crate::access::{AccessMode, AccessSet, StateKey};
use crate::block::{Event, TxStatus};
use crate::limits::{AGGREGATE_FIELDS_MAX, EVENTS_PER_TRANSACTION_MAX};
use crate::state::{Fields, SignedDelta, StoreError, Value, decode_fields, encode_fields};

/// Where a view reads from.
pub trait TxSource: Sync {
    /// The value of a `read`/`write` key at the transaction's position in
    /// the block (exact).
    fn read(&self, key: &StateKey) -> Result<Option<Value>, StoreError>;
    /// The value of a `delta` key against which bounded operations are
    /// evaluated: exact in the serial executor, speculative in the parallel one.
    fn delta_base(&self, key: &StateKey) -> Result<Option<Value>, StoreError>;

    /// [`TxSource::read`], with the key's position in the transaction's
    /// (sorted) access set when the view knows it: a source indexed like
    /// the access set can skip a search. The hint may be wrong (or absent);
    /// a source must check it.
    fn read_hinted(&self, key: &StateKey, _position: Option<usize>) -> Result<Option<Value>, StoreError> {
        self.read(key)
    }

    /// [`TxSource::delta_base`], with a position hint as in [`TxSource::read_hinted`].
    fn delta_base_hinted(&self, key: &StateKey, _position: Option<usize>) -> Result<Option<Value>, StoreError> {
        self.delta_base(key)
    }
}

/// Why a view operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The key is not declared, or not in a mode that allows the operation,
    /// or the operation does not fit the key's kind.
    #[error("access violation on {0}")]
    AccessViolation(StateKey),
    /// A bounded operation failed: a subtraction below zero or an addition
    /// past its cap (or past `u128::MAX`).
    #[error("bounded operation out of range on {key} field {field}")]
    OutOfBounds {
        /// The aggregate.
        key: StateKey,
        /// The field.
        field: u8,
    },
    /// An event over the ledger's bounds (too many in the transaction, too
    /// many accounts or too much data): the contracts' bug, never emitted.
    #[error("event out of bounds")]
    EventOutOfBounds,
    /// A stored value does not decode: the state is corrupt.
    #[error("corrupt value at {0}")]
    Corrupt(StateKey),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A bounded operation on a `delta` key, as recorded for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundedOp {
    /// Add `amount`, holding when the result is at most `cap`.
    Add {
        /// The amount added.
        amount: u128,
        /// The largest allowed result.
        cap: u128,
    },
    /// Subtract `amount`, holding when the field is at least `amount`.
    Sub {
        /// The amount subtracted.
        amount: u128,
    },
    /// Observe the field; holds when it equals `observed`.
    Peek {
        /// The value the transaction saw.
        observed: u128,
    },
}

/// One recorded bounded operation: what the transaction saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Predicate {
    /// The aggregate.
    pub key: StateKey,
    /// The field.
    pub field: u8,
    /// The transaction's own net change to the field before this operation.
    pub before: SignedDelta,
    /// The operation.
    pub op: BoundedOp,
    /// Whether it held when executed.
    pub held: bool,
}

impl Predicate {
    /// Whether the operation holds when the field's value at the start of
    /// the transaction is `base`. `None` when `base` is inconsistent with the
    /// transaction's earlier operations (an earlier predicate already differs).
    pub fn evaluate(&self, base: u128) -> Option<bool> {
        let value = self.before.apply(base).ok()?;
        Some(match self.op {
            BoundedOp::Add { amount, cap } => value.checked_add(amount).is_some_and(|sum| sum <= cap),
            BoundedOp::Sub { amount } => value >= amount,
            BoundedOp::Peek { observed } => value == observed,
        })
    }

    /// Whether the recorded outcome is the outcome at `base`.
    pub fn matches(&self, base: u128) -> bool {
        self.evaluate(base) == Some(self.held)
    }
}

/// What one transaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutput {
    /// The outcome.
    pub status: TxStatus,
    /// New values of `write` keys, sorted by key. Only the nonce on failure.
    pub writes: Vec<(StateKey, Option<Value>)>,
    /// Net changes to `delta` keys, sorted by key. Empty on failure.
    pub deltas: Vec<(StateKey, [SignedDelta; AGGREGATE_FIELDS_MAX])>,
    /// Bounded operations on `delta` keys, in execution order (kept on failure).
    pub predicates: Vec<Predicate>,
    /// Events emitted, in order. Empty on failure.
    pub events: Vec<Event>,
}

/// How a key was used, for [`TxView::recording`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    read: bool,
    written: bool,
    delta: bool,
}

struct DeltaEntry {
    key: StateKey,
    base: Fields,
    net: [SignedDelta; AGGREGATE_FIELDS_MAX],
}

/// The state as one transaction sees it.
pub struct TxView<'a> {
    /// `None` in recording mode: everything is allowed and usage is recorded.
    access: Option<&'a AccessSet>,
    source: &'a dyn TxSource,
    writes: Vec<(StateKey, Option<Value>)>,
    aggregates: Vec<(StateKey, Fields)>,
    deltas: Vec<DeltaEntry>,
    predicates: Vec<Predicate>,
    events: Vec<Event>,
    usage: Vec<(StateKey, Usage)>,
    violation: Option<StateKey>,
    fault: Option<ViewError>,
    /// Position in the access set of the key last allowed (a hint for the source).
    hint: Option<usize>,
}

impl<'a> TxView<'a> {
    /// A view enforcing `access`.
    pub fn new(access: &'a AccessSet, source: &'a dyn TxSource) -> TxView<'a> {
        TxView::with_access(Some(access), source)
    }

    /// A permissive view that records which keys are used and how, to derive
    /// an access set (simulation). Its source must be exact.
    pub fn recording(source: &'a dyn TxSource) -> TxView<'a> {
        TxView::with_access(None, source)
    }

    fn with_access(access: Option<&'a AccessSet>, source: &'a dyn TxSource) -> TxView<'a> {
        TxView {
            access,
            source,
            writes: Vec::new(),
            aggregates: Vec::new(),
            deltas: Vec::new(),
            predicates: Vec::new(),
            events: Vec::new(),
            usage: Vec::new(),
            violation: None,
            fault: None,
            hint: None,
        }
    }

    /// Reads a key declared `read` or `write`.
    pub fn get(&mut self, key: &StateKey) -> Result<Option<Value>, ViewError> {
        self.allow(key, &[AccessMode::Read, AccessMode::Write], Usage { read: true, written: false, delta: false })?;
        if key.is_aggregate() {
            return Ok(encode_fields(&self.current_fields(key)?));
        }
        if let Some((_, value)) = self.writes.iter().find(|(k, _)| k == key) {
            return Ok(value.clone());
        }
        self.source.read_hinted(key, self.hint).map_err(|error| self.record_fault(ViewError::Store(error)))
    }

    /// Replaces the value of a non-aggregate key declared `write`.
    pub fn put(&mut self, key: StateKey, value: Value) -> Result<(), ViewError> {
        self.store(key, Some(value))
    }

    /// Deletes a non-aggregate key declared `write`.
    pub fn delete(&mut self, key: StateKey) -> Result<(), ViewError> {
        self.store(key, None)
    }

    fn store(&mut self, key: StateKey, value: Option<Value>) -> Result<(), ViewError> {
        self.allow(&key, &[AccessMode::Write], Usage { read: false, written: true, delta: false })?;
        if key.is_aggregate() {
            return Err(self.record_violation(key));
        }
        match self.writes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.writes.push((key, value)),
        }
        Ok(())
    }

    /// Reads every field of an aggregate declared `read` or `write`.
    pub fn fields(&mut self, key: &StateKey) -> Result<Fields, ViewError> {
        self.allow(key, &[AccessMode::Read, AccessMode::Write], Usage { read: true, written: false, delta: false })?;
        if !key.is_aggregate() {
            return Err(self.record_violation(*key));
        }
        self.current_fields(key)
    }

    /// Replaces every field of an aggregate declared `write`.
    pub fn set_fields(&mut self, key: StateKey, fields: Fields) -> Result<(), ViewError> {
        self.allow(&key, &[AccessMode::Write], Usage { read: false, written: true, delta: false })?;
        if !key.is_aggregate() {
            return Err(self.record_violation(key));
        }
        self.put_fields(key, fields);
        Ok(())
    }

    /// Adds `amount` to a field, failing with `OutOfBounds` (and changing
    /// nothing) if the result would exceed `cap`.
    pub fn add_capped(&mut self, key: StateKey, field: usize, amount: u128, cap: u128) -> Result<(), ViewError> {
        self.bounded(key, field, BoundedOp::Add { amount, cap })
    }

    /// Adds `amount` to a field (`OutOfBounds` past `u128::MAX`).
    pub fn add(&mut self, key: StateKey, field: usize, amount: u128) -> Result<(), ViewError> {
        self.bounded(key, field, BoundedOp::Add { amount, cap: u128::MAX })
    }

    /// Subtracts `amount` from a field, failing with `OutOfBounds` (and
    /// changing nothing) if the field holds less.
    pub fn sub(&mut self, key: StateKey, field: usize, amount: u128) -> Result<(), ViewError> {
        self.bounded(key, field, BoundedOp::Sub { amount })
    }

    /// The exact current value of one aggregate field. On a `delta` key the
    /// observation is recorded, and the parallel executor re-executes the
    /// transaction if the serial value differs, so use it only on rare paths.
    pub fn peek(&mut self, key: &StateKey, field: usize) -> Result<u128, ViewError> {
        let usage = Usage { read: false, written: false, delta: true };
        let all = [AccessMode::Read, AccessMode::Write, AccessMode::Delta];
        let mode = self.allow(key, &all, usage)?;
        let (field_index, field) = self.field_index(key, field)?;
        if mode == Some(AccessMode::Delta) {
            let entry = self.delta_entry(key)?;
            let before = entry.net[field_index];
            let observed = before.apply(entry.base[field_index]).unwrap_or(0);
            let op = BoundedOp::Peek { observed };
            self.predicates.push(Predicate { key: *key, field, before, op, held: true });
            return Ok(observed);
        }
        Ok(self.current_fields(key)?[field_index])
    }

    fn bounded(&mut self, key: StateKey, field: usize, op: BoundedOp) -> Result<(), ViewError> {
        let usage = Usage { read: false, written: false, delta: true };
        let mode = self.allow(&key, &[AccessMode::Write, AccessMode::Delta], usage)?;
        let (index, field) = self.field_index(&key, field)?;
        let out_of_bounds = ViewError::OutOfBounds { key, field };
        if mode == Some(AccessMode::Delta) {
            let entry = self.delta_entry(&key)?;
            let before = entry.net[index];
            let held = Predicate { key, field, before, op, held: true }.evaluate(entry.base[index]) == Some(true);
            let after = match (held, op) {
                (true, BoundedOp::Add { amount, .. }) => before.plus(amount).ok(),
                (true, BoundedOp::Sub { amount }) => before.minus(amount).ok(),
                _ => None,
            };
            if let Some(after) = after {
                entry.net[index] = after;
            }
            let held = after.is_some();
            self.predicates.push(Predicate { key, field, before, op, held });
            return if held { Ok(()) } else { Err(out_of_bounds) };
        }
        let mut fields = self.current_fields(&key)?;
        let next = match op {
            BoundedOp::Add { amount, cap } => fields[index].checked_add(amount).filter(|sum| *sum <= cap),
            BoundedOp::Sub { amount } => fields[index].checked_sub(amount),
            BoundedOp::Peek { .. } => Some(fields[index]),
        };
        let Some(next) = next else {
            return Err(out_of_bounds);
        };
        fields[index] = next;
        self.put_fields(key, fields);
        Ok(())
    }

    /// Checks `field` against the key's kind; returns it as an index and as
    /// the `u8` recorded in predicates.
    fn field_index(&mut self, key: &StateKey, field: usize) -> Result<(usize, u8), ViewError> {
        match u8::try_from(field) {
            Ok(small) if key.is_aggregate() && field < AGGREGATE_FIELDS_MAX => Ok((field, small)),
            _ => Err(self.record_violation(*key)),
        }
    }

    /// The declared mode, after checking the operation is allowed. `None` in
    /// recording mode.
    fn allow(&mut self, key: &StateKey, modes: &[AccessMode], usage: Usage) -> Result<Option<AccessMode>, ViewError> {
        let Some(access) = self.access else {
            match self.usage.iter_mut().find(|(k, _)| k == key) {
                Some((_, seen)) => {
                    seen.read |= usage.read;
                    seen.written |= usage.written;
                    seen.delta |= usage.delta;
                }
                None => self.usage.push((*key, usage)),
            }
            return Ok(None);
        };
        match access.position_of(key) {
            Some(position) if modes.contains(&access.entries()[position].mode) => {
                self.hint = Some(position);
                Ok(Some(access.entries()[position].mode))
            }
            _ => Err(self.record_violation(*key)),
        }
    }

    fn record_violation(&mut self, key: StateKey) -> ViewError {
        self.violation.get_or_insert(key);
        ViewError::AccessViolation(key)
    }

    fn record_fault(&mut self, error: ViewError) -> ViewError {
        self.fault.get_or_insert_with(|| error.clone());
        error
    }

    /// Exact fields of an aggregate in `write` (or recording) mode.
    fn current_fields(&mut self, key: &StateKey) -> Result<Fields, ViewError> {
        if let Some((_, fields)) = self.aggregates.iter().find(|(k, _)| k == key) {
            return Ok(*fields);
        }
        let value =
            self.source.read_hinted(key, self.hint).map_err(|error| self.record_fault(ViewError::Store(error)))?;
        decode_fields(value.as_deref()).map_err(|_| self.record_fault(ViewError::Corrupt(*key)))
    }

    fn put_fields(&mut self, key: StateKey, fields: Fields) {
        match self.aggregates.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = fields,
            None => self.aggregates.push((key, fields)),
        }
    }

    fn delta_entry(&mut self, key: &StateKey) -> Result<&mut DeltaEntry, ViewError> {
        if let Some(position) = self.deltas.iter().position(|entry| entry.key == *key) {
            return Ok(&mut self.deltas[position]);
        }
        let value = self
            .source
            .delta_base_hinted(key, self.hint)
            .map_err(|error| self.record_fault(ViewError::Store(error)))?;
        let base = decode_fields(value.as_deref()).map_err(|_| self.record_fault(ViewError::Corrupt(*key)))?;
        self.deltas.push(DeltaEntry { key: *key, base, net: [SignedDelta::ZERO; AGGREGATE_FIELDS_MAX] });
        Ok(self.deltas.last_mut().expect("just pushed"))
    }

    /// Records an event. It is kept only if the transaction succeeds;
    /// `EventOutOfBounds` (and nothing recorded) past the ledger's bounds.
    pub fn emit(&mut self, event: Event) -> Result<(), ViewError> {
        if self.events.len() >= EVENTS_PER_TRANSACTION_MAX || !event.within_limits() {
            return Err(ViewError::EventOutOfBounds);
        }
        self.events.push(event);
        Ok(())
    }

    /// The first access violation, if any.
    pub fn violation(&self) -> Option<StateKey> {
        self.violation
    }

    /// The first storage fault (a store error or a corrupt value), if any.
    pub fn fault(&self) -> Option<&ViewError> {
        self.fault.as_ref()
    }

    /// In recording mode: the access set the transaction needs, derived from
    /// what it used. A key only added to or subtracted from (and observed with
    /// `peek`) is `delta`; read only, `read`; anything else, `write`.
    pub fn recorded_accesses(&self) -> Vec<crate::access::Access> {
        self.usage
            .iter()
            .map(|(key, usage)| {
                let mode = match (usage.read, usage.written, usage.delta) {
                    (_, true, _) | (true, _, true) => AccessMode::Write,
                    (true, false, false) => AccessMode::Read,
                    (false, false, true) if key.is_aggregate() => AccessMode::Delta,
                    _ => AccessMode::Write,
                };
                crate::access::Access { key: *key, mode }
            })
            .collect()
    }

    /// Finishes the transaction: on success every change is kept; otherwise
    /// only the predicates (the parallel executor validates failures too).
    pub fn finish(self, status: TxStatus) -> TxOutput {
        if !status.is_success() {
            let predicates = self.predicates;
            return TxOutput { status, writes: Vec::new(), deltas: Vec::new(), predicates, events: Vec::new() };
        }
        let mut writes = self.writes;
        writes.extend(self.aggregates.into_iter().map(|(key, fields)| (key, encode_fields(&fields))));
        writes.sort_unstable_by_key(|(key, _)| *key);
        let mut deltas: Vec<(StateKey, [SignedDelta; AGGREGATE_FIELDS_MAX])> = self
            .deltas
            .into_iter()
            .filter(|entry| entry.net.iter().any(|delta| !delta.is_zero()))
            .map(|entry| (entry.key, entry.net))
            .collect();
        deltas.sort_unstable_by_key(|(key, _)| *key);
        TxOutput { status, writes, deltas, predicates: self.predicates, events: self.events }
    }
}
