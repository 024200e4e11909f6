//! Block execution: the VM interface, the serial reference executor and
//! (in `parallel`) the parallel executor.
//!
//! # Semantics (normative)
//!
//! A block executes in three phases:
//! 1. **Prologue** ([`Vm::begin_block`]), serial: e.g. accrue interest to the
//!    block's timestamp. Within the block, what it writes is constant.
//! 2. **Transactions**, in block order, each with serial semantics: it sees
//!    every earlier transaction's effects. Each transaction runs atomically
//!    against a [`TxView`] that enforces its access set; the executor checks
//!    and bumps the signer's nonce, whatever the outcome.
//! 3. **Epilogue** ([`Vm::end_block`]), serial: e.g. recompute rates from the
//!    final utilization of the markets the transactions touched.
//!
//! The serial executor below *is* the definition. Every other executor must
//! produce byte-identical receipts and writes for every block.
//!
//! # Phases of a transaction
//!
//! [`run_transaction`] is the one place a transaction runs, in every executor:
//! nonce check, contract execution against the view, then the outcome
//! (access violations override whatever the contract returned).
//!
//! # Executors
//!
//! - [`execute_block_serial`]: the reference.
//! - [`ParallelExecutor`]: the same result on all cores; its module docs
//!   describe the scheduler, speculation and in-order commit.
//! - [`BlockInParts`]: a block executed part by part as its transactions
//!   arrive (on either executor within a part), with the whole block's result.
//! - [`verify_transactions`]: signature checks as a parallel stage of their own.

pub mod parallel;
#[cfg(test)]
mod parallel_tests;
mod parts;
mod prepare;
mod schedule;
mod serial;
mod simulate;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod verify;
mod view;

use borsh::{BorshDeserialize, BorshSerialize};

pub use parallel::{ExecutionStats, ParallelExecutor};
pub use parts::BlockInParts;
pub use prepare::{Plan, PrepareError, Prepared, prepare_transaction};
pub use serial::execute_block_serial;
pub use simulate::{Simulation, simulate_transaction};
pub use verify::{verify_encoded, verify_known, verify_transactions};
pub use view::{BoundedOp, Predicate, TxOutput, TxSource, TxView, ViewError};

use crate::access::StateKey;
use crate::block::{Receipt, TxStatus};
use crate::state::{Overlay, StoreError, Value, WriteSet};
use crate::tx::{Instruction, Transaction, VerifiedTransaction};

/// What execution knows about the block: nothing else (no clock, no randomness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    /// The chain.
    pub chain_id: u64,
    /// The block's height.
    pub height: u64,
    /// The block's timestamp, in seconds since the Unix epoch.
    pub timestamp: u64,
}

/// A failed instruction, as the contracts report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFailure {
    /// Index of the failing instruction.
    pub instruction: u16,
    /// The contracts' reason code.
    pub code: u16,
    /// The values that explain it, encoded by the contracts (empty for none).
    pub detail: Vec<u8>,
}

impl TxFailure {
    /// The receipt status. A detail over
    /// [`FAILURE_DETAIL_BYTES_MAX`](crate::limits::FAILURE_DETAIL_BYTES_MAX)
    /// is dropped (the code still says why).
    pub fn into_status(self) -> TxStatus {
        let detail =
            if self.detail.len() <= crate::limits::FAILURE_DETAIL_BYTES_MAX { self.detail } else { Vec::new() };
        TxStatus::Failed { instruction: self.instruction, code: self.code, detail }
    }
}

/// The state machine a ledger executes: pure and deterministic.
///
/// `execute` must be a function of its inputs (the context, the transaction
/// and what it reads through the view) and nothing else: no I/O, no clock, no
/// randomness, no iteration over unordered maps.
pub trait Vm: Send + Sync {
    /// The instruction type of its transactions.
    type Instruction: Instruction;

    /// The block prologue, serial, with unrestricted access to the state.
    fn begin_block(&self, context: &BlockContext, state: &mut Overlay<'_>) -> Result<(), StoreError>;

    /// Executes one transaction's instructions, atomically: on `Err`, the
    /// executor discards every change the transaction made.
    fn execute(
        &self,
        context: &BlockContext,
        transaction: &Transaction<Self::Instruction>,
        view: &mut TxView<'_>,
    ) -> Result<(), TxFailure>;

    /// The block epilogue, serial. `touched` lists, sorted, every key the
    /// block's transactions changed.
    fn end_block(
        &self,
        context: &BlockContext,
        state: &mut Overlay<'_>,
        touched: &[StateKey],
    ) -> Result<(), StoreError>;
}

/// Why a block cannot be executed. A valid block never fails; these mean the
/// block is invalid (a producer bug or a forged block) or the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A transaction's nonce is not its signer's next nonce.
    #[error("transaction {index} has nonce {got}, expected {expected}")]
    NonceMismatch {
        /// Index in the block.
        index: usize,
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// A stored value does not decode.
    #[error("corrupt state at {0}")]
    Corrupt(StateKey),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What executing a block produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutput {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Every key whose value differs from the state before the block.
    pub changes: WriteSet,
}

/// The ledger's record of an account: its next nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize)]
pub struct AccountState {
    /// The next nonce the account may use.
    pub nonce: u64,
}

impl AccountState {
    /// Decodes a stored account (absent is nonce 0).
    pub fn decode(value: Option<&[u8]>) -> Option<AccountState> {
        match value {
            None => Some(AccountState::default()),
            Some(bytes) => borsh::from_slice(bytes).ok(),
        }
    }

    /// The stored form.
    pub fn encode(&self) -> Value {
        Value::from(crate::encoding::encode_canonical(self))
    }
}

/// Runs one transaction: nonce check, contract, outcome. Shared by every
/// executor so that they differ only in where reads come from.
pub fn run_transaction<V: Vm>(
    vm: &V,
    context: &BlockContext,
    index: usize,
    transaction: &VerifiedTransaction<V::Instruction>,
    source: &dyn TxSource,
) -> Result<TxOutput, BlockError> {
    let tx = transaction.transaction();
    let account_key = StateKey::Account { owner: tx.signer };
    // The verified transaction declares its account `write`, so this read is allowed.
    let account_value = source.read(&account_key)?;
    let account = AccountState::decode(account_value.as_deref()).ok_or(BlockError::Corrupt(account_key))?;
    if account.nonce != tx.nonce {
        return Err(BlockError::NonceMismatch { index, expected: account.nonce, got: tx.nonce });
    }

    let mut view = TxView::new(&tx.access, source);
    let result = vm.execute(context, tx, &mut view);
    match view.fault() {
        Some(ViewError::Corrupt(key)) => return Err(BlockError::Corrupt(*key)),
        Some(ViewError::Store(error)) => return Err(BlockError::Store(error.clone())),
        _ => {}
    }
    let status = match (view.violation(), result) {
        (Some(key), _) => TxStatus::AccessViolation { key },
        (None, Err(failure)) => failure.into_status(),
        (None, Ok(())) => TxStatus::Success,
    };
    let mut output = view.finish(status);
    let next = AccountState { nonce: account.nonce.saturating_add(1) };
    // The account key is never written by contracts (they have no reason
    // to), but if one did, the ledger's nonce wins.
    match output.writes.binary_search_by_key(&account_key, |(key, _)| *key) {
        Ok(position) => output.writes[position].1 = Some(next.encode()),
        Err(position) => output.writes.insert(position, (account_key, Some(next.encode()))),
    }
    Ok(output)
}
