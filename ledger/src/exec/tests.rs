//! Executor tests with a toy VM: access enforcement, atomicity, nonces,
//! bounded deltas. The toy VM lives in `exec::testing` so the parallel
//! executor's tests use it too.

use super::testing::{Op, ToyVm, toy_block, toy_state};
use super::*;
use crate::access::{Access, AccessMode, AccessSet};
use crate::primitives::{Address, AssetId};
use crate::state::{Fields, decode_fields};

fn balance(owner: u8) -> StateKey {
    StateKey::Balance { owner: Address([owner; 32]), asset: AssetId::from_static("USDC") }
}

fn field0(output: &BlockOutput, base: &std::collections::BTreeMap<StateKey, Value>, key: &StateKey) -> u128 {
    let value = match output.changes.get(key) {
        Some(value) => value.clone(),
        None => base.get(key).cloned(),
    };
    let fields: Fields = decode_fields(value.as_deref()).unwrap();
    fields[0]
}

fn context() -> BlockContext {
    BlockContext { chain_id: 1, height: 1, timestamp: 100 }
}

#[test]
fn undeclared_access_fails_with_access_violation_and_changes_nothing_but_the_nonce() {
    let state = toy_state(&[(balance(1), 100)]);
    // Declares balance 1 as delta but reads it exactly.
    let block = toy_block(&[(0, vec![Op::Read(balance(1))], vec![(balance(1), AccessMode::Delta)])]);
    let output = execute_block_serial(&ToyVm, &state, &context(), &block).unwrap();
    assert_eq!(output.receipts[0].status, TxStatus::AccessViolation { key: balance(1) });
    // Writes a key it declared read.
    let block = toy_block(&[(0, vec![Op::Add(balance(1), 5)], vec![(balance(1), AccessMode::Read)])]);
    let output = execute_block_serial(&ToyVm, &state, &context(), &block).unwrap();
    assert_eq!(output.receipts[0].status, TxStatus::AccessViolation { key: balance(1) });
    assert_eq!(field0(&output, &state, &balance(1)), 100);
    // Touches a key it never declared.
    let block = toy_block(&[(0, vec![Op::Add(balance(2), 5)], vec![(balance(1), AccessMode::Delta)])]);
    let output = execute_block_serial(&ToyVm, &state, &context(), &block).unwrap();
    assert_eq!(output.receipts[0].status, TxStatus::AccessViolation { key: balance(2) });
    // Only the nonce changed.
    assert_eq!(output.changes.len(), 1);
    assert!(matches!(output.changes.keys().next(), Some(StateKey::Account { .. })));
}

#[test]
fn a_failed_transaction_is_atomic() {
    let state = toy_state(&[(balance(1), 100)]);
    let declared = vec![(balance(1), AccessMode::Delta), (balance(2), AccessMode::Delta)];
    // Credits 2, then over-debits 1: the credit must be rolled back.
    let block = toy_block(&[(0, vec![Op::Add(balance(2), 7), Op::Sub(balance(1), 101)], declared)]);
    let output = execute_block_serial(&ToyVm, &state, &context(), &block).unwrap();
    assert!(matches!(output.receipts[0].status, TxStatus::Failed { instruction: 1, .. }));
    assert_eq!(field0(&output, &state, &balance(2)), 0);
    assert_eq!(field0(&output, &state, &balance(1)), 100);
}

#[test]
fn bounded_deltas_follow_serial_order() {
    // Two transactions each take 60 of 100: the second must fail.
    let state = toy_state(&[(balance(1), 100)]);
    let declared = vec![(balance(1), AccessMode::Delta)];
    let block = toy_block(&[
        (0, vec![Op::Sub(balance(1), 60)], declared.clone()),
        (1, vec![Op::Sub(balance(1), 60)], declared),
    ]);
    let output = execute_block_serial(&ToyVm, &state, &context(), &block).unwrap();
    assert_eq!(output.receipts[0].status, TxStatus::Success);
    assert!(matches!(output.receipts[1].status, TxStatus::Failed { .. }));
    assert_eq!(field0(&output, &state, &balance(1)), 40);
}

#[test]
fn wrong_nonce_makes_the_block_invalid() {
    let state = toy_state(&[]);
    let mut block = toy_block(&[(0, vec![Op::Nop], vec![])]);
    let transaction = block.remove(0).into_signed();
    let mut inner = transaction.transaction.clone();
    inner.nonce = 3;
    let key = super::testing::toy_key(0);
    let bad = inner.sign(&key).verify(1).unwrap();
    let error = execute_block_serial(&ToyVm, &state, &context(), &[bad]).unwrap_err();
    assert_eq!(error, BlockError::NonceMismatch { index: 0, expected: 0, got: 3 });
}

#[test]
fn simulation_finds_the_exact_access_set() {
    let state = toy_state(&[(balance(1), 100)]);
    let key = super::testing::toy_key(0);
    let transaction = crate::tx::Transaction {
        chain_id: 1,
        signer: key.address(),
        nonce: 0,
        access: AccessSet::default(),
        instructions: vec![Op::Sub(balance(1), 10), Op::Add(balance(2), 10), Op::Read(balance(3))],
    };
    let simulation = simulate_transaction(&ToyVm, &state, &context(), &transaction).unwrap();
    assert_eq!(simulation.status, TxStatus::Success);
    let expected = vec![
        Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write },
        Access { key: balance(1), mode: AccessMode::Delta },
        Access { key: balance(2), mode: AccessMode::Delta },
        Access { key: balance(3), mode: AccessMode::Read },
    ];
    assert_eq!(simulation.accesses, crate::access::merge_accesses(expected));
    // Declaring exactly that set, the transaction succeeds with the same changes.
    let mut declared = transaction.clone();
    declared.access = AccessSet::new(simulation.accesses.clone()).unwrap();
    let verified = declared.sign(&key).verify(1).unwrap();
    let output = execute_block_serial(&ToyVm, &state, &context(), &[verified]).unwrap();
    assert_eq!(output.receipts[0].status, TxStatus::Success);
    assert_eq!(output.changes, simulation.changes);
}
