//! The parlend lending state machine: markets, positions, interest, oracle
//! prices, health, liquidation and flash loans, with Aave v3 / 3.3 semantics.
//!
//! Aave 3.4's deficit accounting, isolation mode, e-mode categories and
//! 3.1's freeze semantics included.
//!
//! Pure and deterministic: no I/O, no clock, no randomness, no floats, no
//! iteration over unordered maps. It sees the world only through the
//! ledger's [`parlend_ledger::exec::TxView`] (one transaction, its declared
//! keys), the block context (height, timestamp), and, in the block prologue
//! and epilogue, an [`parlend_ledger::state::Overlay`].
//!
//! # The one property the layout serves
//!
//! Two users acting on the same market never write the same key. A user's
//! deposits, debts and collateral flags live in their own `Position` key;
//! a market's totals (scaled supply, scaled debt, cash) are a ledger
//! aggregate changed only by commutative, bounded deltas (the recorded
//! deficit and the isolation debt too); indices and rates change only
//! between transactions; the treasury is derived from the totals rather
//! than stored ([`market`] explains why). So a block of deposits and
//! borrows in one market runs in parallel.
//!
//! # Good starting points
//!
//! - [`vm::LendingVm`]: the [`parlend_ledger::exec::Vm`] implementation and
//!   the instruction dispatch.
//! - [`instruction::Instruction`]: every instruction a transaction can carry.
//! - [`lending`]: deposit, withdraw, borrow, repay, collateral switches.
//! - [`liquidation`]: Aave 3.3's close factor, bonus, fee, dust and bad-debt rules.
//! - [`deficit`]: bad debt the treasury cannot cover, and `CoverDeficit`.
//! - [`isolation`] and [`emode`]: isolation mode (debt ceilings) and e-mode categories.
//! - [`market`] and [`interest`]: parameters, totals, the rate curve, accrual.
//! - [`health`] and [`oracle`]: values, prices and the health factor.
//! - [`block`]: the block prologue (accrual) and epilogue (rates).
//! - [`query`]: read-only views for the node (positions, markets, health).
//! - [`failure::Failure`]: stable reason codes of failed instructions, with
//!   the values that explain them.
//! - [`event::Event`]: what each successful instruction did (receipts).
//! - [`state`], [`position`]: typed values and their keys.
//! - [`genesis::Genesis`]: the initial state of a chain.
//! - [`limits`]: every bound of the state machine.

pub mod admin;
pub mod block;
pub mod deficit;
pub mod dev;
pub mod emode;
pub mod event;
pub mod failure;
pub mod flash;
pub mod genesis;
pub mod health;
pub mod instruction;
pub mod interest;
pub mod isolation;
pub mod lending;
pub mod limits;
pub mod liquidation;
pub mod market;
pub mod oracle;
pub mod position;
pub mod query;
pub mod state;
pub mod tokens;
pub mod units;
pub mod vm;

#[cfg(test)]
mod tests;

pub use event::Event;
pub use failure::Failure;
pub use instruction::{AmountOrAll, Instruction};
pub use vm::LendingVm;

/// A transaction carrying lending instructions.
pub type Transaction = parlend_ledger::Transaction<Instruction>;
/// A signed transaction carrying lending instructions.
pub type SignedTransaction = parlend_ledger::SignedTransaction<Instruction>;
/// A verified transaction carrying lending instructions.
pub type VerifiedTransaction = parlend_ledger::VerifiedTransaction<Instruction>;
/// A block of lending transactions.
pub type Block = parlend_ledger::Block<Instruction>;
