//! Deficits: bad debt a liquidation leaves, with Aave 3.4's accounting.
//!
//! When a liquidation takes a borrower's last collateral and debt remains,
//! that debt is burned ([`crate::liquidation`]). The market's treasury
//! (its positive equity, [`crate::market`]) covers the loss first; what it
//! cannot cover is recorded as the market's **deficit**. A deficit earns
//! nothing (the supply rate counts it, [`crate::interest`]), so it stays
//! exactly as large until it is eliminated by `CoverDeficit`:
//!
//! - **from the treasury** (admin only): the treasury's equity pays it off,
//!   at most what the treasury holds (`InsufficientTreasury`);
//! - **paying in the asset** (anyone, the admin too): the signer's wallet
//!   tokens go into the market's cash and the deficit shrinks by as much.
//!
//! Either way at most the recorded deficit is taken (`NoDeficit` when there
//! is none), like a repayment takes at most the debt. Both paths and the
//! treasury's cover read exact totals with `peek` (rare paths: the parallel
//! executor re-executes such a transaction if the market changed before it
//! in the block).

use parlend_ledger::exec::TxView;
use parlend_ledger::{Amount, AssetId};

use crate::event::Event;
use crate::failure::Failure;
use crate::instruction::AmountOrAll;
use crate::market::{
    DEFICIT_FIELD, MarketIndex, add_cash, add_deficit, observe_totals, read_index, read_market, sub_deficit, totals_key,
};
use crate::tokens::debit;
use crate::vm::Context;

/// Records a loss of `loss` underlying in market `asset` (bad debt about
/// to be burned): the treasury covers what it can, the rest becomes
/// deficit. Returns the amount recorded as deficit.
pub fn record_bad_debt(
    view: &mut TxView<'_>,
    asset: AssetId,
    index: &MarketIndex,
    loss: u128,
) -> Result<u128, Failure> {
    let treasury = observe_totals(view, asset)?.balance_sheet(index)?.treasury.0;
    let uncovered = loss.saturating_sub(treasury);
    if uncovered > 0 {
        add_deficit(view, asset, uncovered)?;
    }
    Ok(uncovered)
}

/// A `CoverDeficit` instruction's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoverRequest {
    /// The market.
    pub asset: AssetId,
    /// How much of the deficit to cover (at most all of it).
    pub amount: AmountOrAll,
    /// Pay from the market's treasury (admin only) rather than the wallet.
    pub from_treasury: bool,
}

/// `CoverDeficit`.
pub fn cover_deficit(view: &mut TxView<'_>, context: &Context<'_>, request: &CoverRequest) -> Result<Event, Failure> {
    if request.amount == AmountOrAll::Amount(Amount::ZERO) {
        return Err(Failure::ZeroAmount);
    }
    if request.from_treasury && context.signer != context.config.admin {
        return Err(Failure::Unauthorized);
    }
    let asset = request.asset;
    read_market(view, asset)?.ensure_not_paused()?;
    let deficit = view.peek(&totals_key(asset), DEFICIT_FIELD)?;
    if deficit == 0 {
        return Err(Failure::NoDeficit);
    }
    let covered = match request.amount {
        AmountOrAll::All => deficit,
        AmountOrAll::Amount(amount) => amount.0.min(deficit),
    };
    if request.from_treasury {
        let index = read_index(view, asset)?;
        let treasury = observe_totals(view, asset)?.balance_sheet(&index)?.treasury.0;
        if covered > treasury {
            return Err(Failure::InsufficientTreasury);
        }
    } else {
        debit(view, context.signer, asset, Amount(covered))?;
        add_cash(view, asset, covered)?;
    }
    sub_deficit(view, asset, covered)?;
    Ok(Event::DeficitCovered {
        payer: context.signer,
        asset,
        amount: Amount(covered),
        from_treasury: request.from_treasury,
    })
}
