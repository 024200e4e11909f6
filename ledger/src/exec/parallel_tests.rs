//! Parallel == serial on random blocks of toy transactions, at every thread
//! count. The toy VM exercises what the executor must get right apart from
//! any lending rule: conflicting reads and writes, bounded deltas near their
//! bounds (so speculation is wrong and transactions re-execute), peeks,
//! failures, access violations and exact reads of aggregates. A block
//! executed in random parts ([`BlockInParts`]) equals it too.

use proptest::prelude::*;

use super::parallel::cores_to_pin;
use super::testing::{Op, ToyTransaction, ToyVm, note_value, toy_block, toy_key, toy_state};
use super::{BlockContext, BlockError, BlockInParts, ParallelExecutor, execute_block_serial};
use crate::access::{AccessMode, StateKey};
use crate::primitives::{Address, AssetId};

const OWNERS: u8 = 6;

fn balance(owner: u8) -> StateKey {
    StateKey::Balance { owner: Address([owner; 32]), asset: AssetId::from_static("USDC") }
}

fn note(owner: u8) -> StateKey {
    StateKey::Position { owner: Address([owner; 32]) }
}

fn any_mode() -> impl Strategy<Value = AccessMode> {
    prop_oneof![1 => Just(AccessMode::Read), 1 => Just(AccessMode::Write), 3 => Just(AccessMode::Delta)]
}

fn any_op() -> impl Strategy<Value = Op> {
    let owner = 0..OWNERS;
    prop_oneof![
        1 => Just(Op::Nop),
        1 => owner.clone().prop_map(|o| Op::Read(balance(o))),
        2 => (owner.clone(), 0u128..60).prop_map(|(o, a)| Op::Add(balance(o), a)),
        3 => (owner.clone(), 0u128..60).prop_map(|(o, a)| Op::Sub(balance(o), a)),
        1 => (owner.clone(), 0u128..60, 50u128..200).prop_map(|(o, a, cap)| Op::AddCapped(balance(o), a, cap)),
        1 => owner.clone().prop_map(|o| Op::Peek(balance(o))),
        1 => (owner.clone(), owner).prop_map(|(from, to)| Op::Copy(balance(from), note(to))),
        1 => Just(Op::Fail),
    ]
}

/// Declares what the ops need, in a random (sometimes insufficient) mode:
/// a wrong mode is an access violation, which must be reproduced too.
fn any_transaction() -> impl Strategy<Value = ToyTransaction> {
    (0u32..12, proptest::collection::vec(any_op(), 1..4), proptest::collection::vec(any_mode(), 8), any::<bool>())
        .prop_map(|(signer, ops, modes, exact)| {
            let mut declared = Vec::new();
            for (position, op) in ops.iter().enumerate() {
                let mode = modes[position % modes.len()];
                match op {
                    Op::Read(key) => declared.push((*key, if exact { AccessMode::Read } else { mode })),
                    Op::Add(key, _) | Op::Sub(key, _) | Op::AddCapped(key, _, _) | Op::Peek(key) => {
                        declared.push((*key, if exact { AccessMode::Delta } else { mode }))
                    }
                    Op::Copy(from, to) => {
                        declared.push((*from, if exact { AccessMode::Read } else { mode }));
                        declared.push((*to, AccessMode::Write));
                    }
                    Op::Nop | Op::Fail => {}
                }
            }
            (signer, ops, declared)
        })
}

/// Balances at `starting`; some notes start as a copy of their owner's
/// balance: copying it again writes the value the key already has, which is
/// no change.
fn starting_state(starting: &[u128]) -> std::collections::BTreeMap<StateKey, crate::state::Value> {
    let aggregates: Vec<(StateKey, u128)> =
        (0u8..).zip(starting).map(|(owner, amount)| (balance(owner), *amount)).collect();
    let mut state = toy_state(&aggregates);
    for (owner, amount) in (0u8..).zip(starting).step_by(2) {
        state.insert(note(owner), note_value(*amount));
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn parallel_equals_serial(
        transactions in proptest::collection::vec(any_transaction(), 16..80),
        starting in proptest::collection::vec(0u128..150, OWNERS as usize),
    ) {
        let state = starting_state(&starting);
        // Declared accesses are merged per key, so a key used in two modes is `write`.
        let block = toy_block(&transactions);
        let context = BlockContext { chain_id: 1, height: 1, timestamp: 10 };
        let serial = execute_block_serial(&ToyVm, &state, &context, &block).unwrap();
        for threads in [1, 2, 4, 8] {
            let executor = ParallelExecutor::new(threads).unwrap();
            let parallel = executor.execute_block(&ToyVm, &state, &context, &block).unwrap();
            prop_assert_eq!(&parallel.receipts, &serial.receipts, "receipts differ at {} threads", threads);
            prop_assert_eq!(&parallel.changes, &serial.changes, "state differs at {} threads", threads);
        }
    }

    #[test]
    fn a_block_in_parts_equals_the_whole_block(
        transactions in proptest::collection::vec(any_transaction(), 0..80),
        starting in proptest::collection::vec(0u128..150, OWNERS as usize),
        cuts in proptest::collection::vec(0usize..80, 0..5),
        threads in 1usize..4,
    ) {
        let state = starting_state(&starting);
        let block = toy_block(&transactions);
        let context = BlockContext { chain_id: 1, height: 1, timestamp: 10 };
        let serial = execute_block_serial(&ToyVm, &state, &context, &block).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(block.len())).collect();
        cuts.sort_unstable();
        let executor = ParallelExecutor::new(threads).unwrap();
        let mut parts = BlockInParts::new(context);
        let mut start = 0;
        for cut in cuts {
            parts.execute(&executor, &ToyVm, &state, &block[start..cut]).unwrap();
            start = cut;
        }
        let (whole, _) = parts.finish(&executor, &ToyVm, &state, &block[start..]).unwrap();
        prop_assert_eq!(&whole.receipts, &serial.receipts);
        prop_assert_eq!(&whole.changes, &serial.changes);
    }
}

#[test]
fn a_part_that_fails_leaves_the_block_as_it_was() {
    let transactions: Vec<ToyTransaction> = (0..40u32)
        .map(|index| {
            (
                index % 6,
                vec![Op::Add(balance(0), 1), Op::Sub(balance(1), 2)],
                vec![(balance(0), AccessMode::Delta), (balance(1), AccessMode::Delta)],
            )
        })
        .collect();
    let state = toy_state(&[(balance(1), 50)]);
    let block = toy_block(&transactions);
    let context = BlockContext { chain_id: 1, height: 1, timestamp: 10 };
    let serial = execute_block_serial(&ToyVm, &state, &context, &block).unwrap();
    // A transaction of signer 0 with a nonce from the future.
    let mut future = block[0].clone().into_signed().transaction;
    future.nonce = 99;
    let future = future.sign(&toy_key(0)).verify(1).unwrap();
    let executor = ParallelExecutor::new(2).unwrap();
    let mut parts = BlockInParts::new(context);
    parts.execute(&executor, &ToyVm, &state, &block[..20]).unwrap();
    let bad: Vec<_> = block[20..30].iter().cloned().chain([future.clone()]).collect();
    let error = parts.execute(&executor, &ToyVm, &state, &bad).unwrap_err();
    assert!(matches!(error, BlockError::NonceMismatch { index: 10, got: 99, .. }), "{error:?}");
    assert_eq!(parts.transactions(), 20);
    let error = parts.finish(&executor, &ToyVm, &state, &[future]).unwrap_err();
    assert!(matches!(error, BlockError::NonceMismatch { index: 0, got: 99, .. }), "{error:?}");
    assert_eq!(parts.transactions(), 20);
    parts.execute(&executor, &ToyVm, &state, &block[20..30]).unwrap();
    let (whole, _) = parts.finish(&executor, &ToyVm, &state, &block[30..]).unwrap();
    assert_eq!(whole, serial);
}

#[test]
fn borrowing_the_last_cash_twice_gives_the_serial_result() {
    // Cash 100; 40 transactions from different users each take 60, plus
    // deposits of 50 interleaved: in serial order some succeed and some
    // fail, depending on exactly what came before. Every transaction
    // speculates against the same base (100), so many predicates are wrong
    // and must be re-executed.
    let cash = balance(0);
    let mut transactions = Vec::new();
    for index in 0..40u32 {
        let op = if index % 3 == 2 { Op::Add(cash, 50) } else { Op::Sub(cash, 60) };
        transactions.push((index, vec![op], vec![(cash, AccessMode::Delta)]));
    }
    let state = toy_state(&[(cash, 100)]);
    let block = toy_block(&transactions);
    let context = BlockContext { chain_id: 1, height: 1, timestamp: 10 };
    let serial = execute_block_serial(&ToyVm, &state, &context, &block).unwrap();
    let failures = serial.receipts.iter().filter(|receipt| !receipt.status.is_success()).count();
    assert!(failures > 5 && failures < 30, "the block should mix successes and failures: {failures} failed");
    let executor = ParallelExecutor::new(4).unwrap();
    let (parallel, stats) = executor.execute_block_with_stats(&ToyVm, &state, &context, &block).unwrap();
    assert!(!stats.serial_fallback);
    assert!(stats.reexecutions > 0, "speculation against a stale base must have been corrected");
    assert_eq!(parallel, serial);
}

#[test]
fn an_undeclared_access_is_caught_in_parallel_too() {
    let mut transactions = Vec::new();
    for index in 0..32u32 {
        // Every fourth transaction touches a balance it did not declare.
        let target = if index % 4 == 0 { balance(5) } else { balance(1) };
        transactions.push((index, vec![Op::Add(target, 1)], vec![(balance(1), AccessMode::Delta)]));
    }
    let state = toy_state(&[]);
    let block = toy_block(&transactions);
    let context = BlockContext { chain_id: 1, height: 1, timestamp: 10 };
    let serial = execute_block_serial(&ToyVm, &state, &context, &block).unwrap();
    let parallel = ParallelExecutor::new(4).unwrap().execute_block(&ToyVm, &state, &context, &block).unwrap();
    assert_eq!(parallel, serial);
    let violations = parallel
        .receipts
        .iter()
        .filter(|receipt| receipt.status == crate::block::TxStatus::AccessViolation { key: balance(5) })
        .count();
    assert_eq!(violations, 8);
}

#[test]
fn a_write_that_restores_the_value_before_the_block_is_no_change() {
    // note(0) starts as a copy of balance(0). Transaction 0 copies it again
    // (the same value); transaction 1 overwrites it with balance(1) and
    // transaction 2 restores balance(0)'s: both notes end as they began.
    let mut state = toy_state(&[(balance(0), 5), (balance(1), 7)]);
    state.insert(note(0), note_value(5));
    state.insert(note(1), note_value(5));
    let mut transactions = vec![
        (0, vec![Op::Copy(balance(0), note(1))], vec![(balance(0), AccessMode::Read), (note(1), AccessMode::Write)]),
        (1, vec![Op::Copy(balance(1), note(0))], vec![(balance(1), AccessMode::Read), (note(0), AccessMode::Write)]),
        (2, vec![Op::Copy(balance(0), note(0))], vec![(balance(0), AccessMode::Read), (note(0), AccessMode::Write)]),
    ];
    transactions.extend((3..32u32).map(|signer| (signer, vec![Op::Nop], vec![])));
    let block = toy_block(&transactions);
    let context = BlockContext { chain_id: 1, height: 1, timestamp: 10 };
    let serial = execute_block_serial(&ToyVm, &state, &context, &block).unwrap();
    assert!(!serial.changes.contains_key(&note(0)) && !serial.changes.contains_key(&note(1)));
    let executor = ParallelExecutor::new(2).unwrap();
    let (parallel, stats) = executor.execute_block_with_stats(&ToyVm, &state, &context, &block).unwrap();
    assert!(!stats.serial_fallback);
    assert_eq!(parallel, serial);
}

#[test]
fn pool_threads_are_pinned_to_distinct_cores_only_with_one_thread_per_core() {
    let cores = |count: usize| (0..count).map(|id| core_affinity::CoreId { id }).collect::<Vec<_>>();
    assert!(cores_to_pin(1, cores(1)).is_empty(), "one thread has nothing to spread");
    assert!(cores_to_pin(3, cores(2)).is_empty(), "threads that share cores are left to the operating system");
    assert!(cores_to_pin(2, cores(16)).is_empty(), "a pool smaller than the machine is not pinned");
    let pinned: Vec<usize> = cores_to_pin(4, cores(4)).iter().map(|core| core.id).collect();
    assert_eq!(pinned, [0, 1, 2, 3], "one thread on each core");
}
