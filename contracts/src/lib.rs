//! The parlend lending state machine.
//!
//! Pure and deterministic: no I/O, no clock, no randomness, no floats, no
//! iteration over unordered maps. It sees the world only through the
//! ledger's [`parlend_ledger::exec::TxView`] (one transaction, its declared
//! keys) and the block context (height, timestamp).
//!
//! # Good starting points
//!
//! - [`vm::LendingVm`]: the [`parlend_ledger::exec::Vm`] implementation.
//! - [`instruction::Instruction`]: every instruction a transaction can carry.
//! - [`failure::Failure`]: stable reason codes of failed instructions.
//! - [`state`]: typed values and their keys.
//! - [`genesis::Genesis`]: the initial state of a chain.

pub mod failure;
pub mod genesis;
pub mod instruction;
pub mod state;
pub mod tokens;
pub mod vm;

pub use failure::Failure;
pub use instruction::Instruction;
pub use vm::LendingVm;

/// A transaction carrying lending instructions.
pub type Transaction = parlend_ledger::Transaction<Instruction>;
/// A signed transaction carrying lending instructions.
pub type SignedTransaction = parlend_ledger::SignedTransaction<Instruction>;
/// A verified transaction carrying lending instructions.
pub type VerifiedTransaction = parlend_ledger::VerifiedTransaction<Instruction>;
/// A block of lending transactions.
pub type Block = parlend_ledger::Block<Instruction>;
