//! Flash loans: borrow a market's cash within one transaction.
//!
//! `FlashBorrow(asset, amount)` moves cash to the signer's wallet and opens
//! a loan; a later `FlashRepay(asset)` in the same transaction takes
//! `amount + fee` (`fee = amount × flash_loan_fee`, rounded up) from the
//! wallet back into cash. The fee raises the market's cash without minting
//! supply, so it accrues to the treasury. A loan still open when the
//! instructions run out fails the whole transaction, which then changes
//! nothing.
//!
//! Open loans live in [`FlashLoans`], created by each `LendingVm::execute`
//! call and dropped at its end: nothing about them is ever stored.

use parlend_ledger::exec::TxView;
use parlend_ledger::{Amount, AssetId, Rounding};

use crate::event::Event;
use crate::failure::Failure;
use crate::market::{add_cash, read_market, sub_cash};
use crate::tokens::{credit, debit};
use crate::vm::Context;

/// An open flash loan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashLoan {
    /// The asset.
    pub asset: AssetId,
    /// What was borrowed.
    pub amount: u128,
    /// The fee, fixed when borrowed.
    pub fee: u128,
    /// Index of the `FlashBorrow` instruction (named when unpaid).
    pub instruction: u16,
}

/// The open flash loans of one transaction (at most one per asset, and at
/// most one per instruction, so bounded by the instruction limit).
#[derive(Debug, Default)]
pub struct FlashLoans {
    open: Vec<FlashLoan>,
}

impl FlashLoans {
    /// The first loan still open, if any.
    pub fn outstanding(&self) -> Option<&FlashLoan> {
        self.open.first()
    }

    fn take(&mut self, asset: AssetId) -> Option<FlashLoan> {
        let position = self.open.iter().position(|loan| loan.asset == asset)?;
        Some(self.open.remove(position))
    }

    fn is_open(&self, asset: AssetId) -> bool {
        self.open.iter().any(|loan| loan.asset == asset)
    }
}

/// `FlashBorrow`: cash to the signer's wallet, from a market with flash
/// loans enabled (`FlashLoanDisabled`) and borrowing enabled
/// (`BorrowingDisabled`: a flash loan is a borrow); a second loan of the
/// same asset while one is open fails (`FlashLoanActive`). A frozen market
/// lends, as in Aave (a freeze stops new positions, not same-transaction
/// loans).
pub fn flash_borrow(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    loans: &mut FlashLoans,
    instruction: u16,
    asset: AssetId,
    amount: Amount,
) -> Result<(), Failure> {
    if amount.is_zero() {
        return Err(Failure::ZeroAmount);
    }
    let market = read_market(view, asset)?;
    market.ensure_not_paused()?;
    if !market.params.flash_loan_enabled {
        return Err(Failure::FlashLoanDisabled);
    }
    if !market.params.borrowing_enabled {
        return Err(Failure::BorrowingDisabled);
    }
    if loans.is_open(asset) {
        return Err(Failure::FlashLoanActive);
    }
    let fee = market.params.flash_loan_fee.apply(amount.0, Rounding::Up)?;
    amount.0.checked_add(fee).ok_or(Failure::MathOverflow)?;

    sub_cash(view, asset, amount.0)?;
    credit(view, context.signer, asset, amount)?;
    loans.open.push(FlashLoan { asset, amount: amount.0, fee, instruction });
    Ok(())
}

/// `FlashRepay`: closes the open loan of `asset` (`NoFlashLoan` without
/// one), taking amount and fee from the signer's wallet into cash.
pub fn flash_repay(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    loans: &mut FlashLoans,
    asset: AssetId,
) -> Result<Event, Failure> {
    let loan = loans.take(asset).ok_or(Failure::NoFlashLoan)?;
    let owed = loan.amount.checked_add(loan.fee).ok_or(Failure::MathOverflow)?;
    debit(view, context.signer, asset, Amount(owed))?;
    add_cash(view, asset, owed)?;
    Ok(Event::FlashLoan { account: context.signer, asset, amount: Amount(loan.amount), fee: Amount(loan.fee) })
}
