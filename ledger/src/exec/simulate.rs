//! Simulation: run one transaction against a state without committing it,
//! and derive the exact access set it needs.

use super::{AccountState, BlockContext, BlockError, TxOutput, TxView, ViewError, Vm};
use crate::access::{Access, AccessMode, StateKey, merge_accesses};
use crate::block::{Event, TxStatus};
use crate::exec::serial::{Exact, apply_output};
use crate::state::{Overlay, StateReader, WriteSet};
use crate::tx::Transaction;

/// What a simulated transaction would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// The outcome against the state given.
    pub status: TxStatus,
    /// Every key the transaction used, with the weakest sufficient mode,
    /// sorted (not yet checked against the access-set limit).
    pub accesses: Vec<Access>,
    /// The state changes it would make (its nonce included).
    pub changes: WriteSet,
    /// The value of each changed key before the transaction.
    pub before: WriteSet,
    /// The events it would emit (none if it fails).
    pub events: Vec<Event>,
}

/// Simulates `transaction` as the only transaction of the block described
/// by `context`, on top of `base`: the prologue runs first, as it would.
/// The transaction's access set and nonce are ignored (it runs in recording
/// mode): the result says which ones it needs.
pub fn simulate_transaction<V: Vm>(
    vm: &V,
    base: &dyn StateReader,
    context: &BlockContext,
    transaction: &Transaction<V::Instruction>,
) -> Result<Simulation, BlockError> {
    let mut overlay = Overlay::new(base);
    vm.begin_block(context, &mut overlay)?;
    let account_key = StateKey::Account { owner: transaction.signer };
    let account_value = overlay.get(&account_key)?;
    let account = AccountState::decode(account_value.as_deref()).ok_or(BlockError::Corrupt(account_key))?;

    let source = Exact(&overlay);
    let mut view = TxView::recording(&source);
    let result = vm.execute(context, transaction, &mut view);
    match view.fault() {
        Some(ViewError::Corrupt(key)) => return Err(BlockError::Corrupt(*key)),
        Some(ViewError::Store(error)) => return Err(BlockError::Store(error.clone())),
        _ => {}
    }
    let status = match result {
        Ok(()) => TxStatus::Success,
        Err(failure) => failure.into_status(),
    };
    let mut accesses = view.recorded_accesses();
    accesses.push(Access { key: account_key, mode: AccessMode::Write });
    let mut output: TxOutput = view.finish(status.clone());
    let next = AccountState { nonce: account.nonce.saturating_add(1) };
    output.writes.retain(|(key, _)| *key != account_key);
    output.writes.push((account_key, Some(next.encode())));
    output.writes.sort_unstable_by_key(|(key, _)| *key);

    let mut after = Overlay::new(&overlay);
    apply_output(&mut after, &output)?;
    let changes = after.into_changes()?;
    let mut before = WriteSet::new();
    for key in changes.keys() {
        before.insert(*key, overlay.get(key)?);
    }
    let accesses = merge_accesses(accesses);
    Ok(Simulation { status, accesses, changes, before, events: output.events })
}
