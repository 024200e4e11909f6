//! A toy VM for tests of the executors: a handful of operations on keys, so
//! executor behaviour can be tested apart from the lending rules.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};

use super::{BlockContext, TxFailure, TxView, ViewError, Vm};
use crate::access::{Access, AccessMode, AccessSet, StateKey};
use crate::block::Event;
use crate::crypto::Keypair;
use crate::primitives::sha256_tagged;
use crate::state::{Fields, Overlay, StoreError, Value, encode_fields};
use crate::tx::{Transaction, VerifiedTransaction};

/// A toy instruction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Op {
    /// Does nothing.
    Nop,
    /// Reads a key exactly.
    Read(StateKey),
    /// Adds to field 0 of an aggregate.
    Add(StateKey, u128),
    /// Subtracts from field 0; fails when short.
    Sub(StateKey, u128),
    /// Adds to field 0 with a cap; fails past it.
    AddCapped(StateKey, u128, u128),
    /// Observes field 0 exactly (and records it as written elsewhere).
    Peek(StateKey),
    /// Copies field 0 of one aggregate into a non-aggregate key as bytes.
    Copy(StateKey, StateKey),
    /// Fails.
    Fail,
}

/// The toy VM.
pub struct ToyVm;

impl Vm for ToyVm {
    type Instruction = Op;

    fn begin_block(&self, _context: &BlockContext, _state: &mut Overlay<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    fn execute(
        &self,
        _context: &BlockContext,
        transaction: &Transaction<Op>,
        view: &mut TxView<'_>,
    ) -> Result<(), TxFailure> {
        for (index, op) in transaction.instructions.iter().enumerate() {
            let instruction = u16::try_from(index).unwrap_or(u16::MAX);
            let fail = |_: ViewError| TxFailure { instruction, code: 1, detail: Vec::new() };
            match op {
                Op::Nop => {}
                Op::Read(key) => {
                    view.get(key).map_err(fail)?;
                }
                Op::Add(key, amount) => view.add(*key, 0, *amount).map_err(fail)?,
                Op::Sub(key, amount) => view.sub(*key, 0, *amount).map_err(fail)?,
                Op::AddCapped(key, amount, cap) => view.add_capped(*key, 0, *amount, *cap).map_err(fail)?,
                // What a transaction observes shows in its events, so the
                // executors' tests compare events read from speculative and
                // exact values too.
                Op::Peek(key) => {
                    let observed = view.peek(key, 0).map_err(fail)?;
                    view.emit(note_event(transaction.signer, observed)).map_err(fail)?;
                }
                Op::Copy(from, to) => {
                    let fields = view.fields(from).map_err(fail)?;
                    view.put(*to, note_value(fields[0])).map_err(fail)?;
                    view.emit(note_event(transaction.signer, fields[0])).map_err(fail)?;
                }
                Op::Fail => {
                    return Err(TxFailure { instruction, code: 2, detail: vec![2] });
                }
            }
        }
        Ok(())
    }

    fn end_block(
        &self,
        _context: &BlockContext,
        _state: &mut Overlay<'_>,
        _touched: &[StateKey],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The event `Op::Peek` and `Op::Copy` emit: the value seen.
pub fn note_event(signer: crate::Address, amount: u128) -> Event {
    Event { kind: 1, accounts: vec![signer], data: amount.to_le_bytes().to_vec() }
}

/// The `index`-th toy key.
pub fn toy_key(index: u32) -> Keypair {
    Keypair::from_seed(&sha256_tagged(b"toy", &[&index.to_be_bytes()]).0)
}

/// The value `Op::Copy` writes for `amount`: its little-endian bytes.
pub fn note_value(amount: u128) -> Value {
    Value::from(amount.to_le_bytes().to_vec())
}

/// A state with field 0 of these aggregates set.
pub fn toy_state(aggregates: &[(StateKey, u128)]) -> BTreeMap<StateKey, Value> {
    aggregates
        .iter()
        .filter_map(|(key, amount)| {
            let mut fields: Fields = [0; crate::limits::AGGREGATE_FIELDS_MAX];
            fields[0] = *amount;
            encode_fields(&fields).map(|value| (*key, value))
        })
        .collect()
}

/// One toy transaction: signer index, operations, declared accesses.
pub type ToyTransaction = (u32, Vec<Op>, Vec<(StateKey, AccessMode)>);

/// A block of toy transactions: `(signer index, ops, declared accesses)`.
/// Nonces count up per signer from zero.
pub fn toy_block(transactions: &[ToyTransaction]) -> Vec<VerifiedTransaction<Op>> {
    let mut nonces: BTreeMap<u32, u64> = BTreeMap::new();
    transactions
        .iter()
        .map(|(signer, ops, declared)| {
            let key = toy_key(*signer);
            let nonce = nonces.entry(*signer).or_insert(0);
            let mut accesses: Vec<Access> =
                declared.iter().map(|(key, mode)| Access { key: *key, mode: *mode }).collect();
            accesses.push(Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write });
            let transaction = Transaction {
                chain_id: 1,
                signer: key.address(),
                nonce: *nonce,
                access: AccessSet::from_unsorted(accesses).expect("valid toy access set"),
                instructions: ops.clone(),
            };
            *nonce += 1;
            transaction.sign(&key).verify(1).expect("toy transactions verify")
        })
        .collect()
}
