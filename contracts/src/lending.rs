//! Lending: deposit, withdraw, borrow, repay and collateral switches.
//!
//! Every handler follows one shape: check the inputs and the market, read
//! what it needs, compute the new position in memory and check health
//! against it, and only then change state. The state changes are bounded
//! operations on aggregates (the wallet, the market totals) that either
//! apply whole or fail with a domain reason, and the position write; a
//! failure anywhere discards the whole transaction.
//!
//! Rounding (see [`crate::position`]): a deposit mints `floor(a / LI)`
//! scaled, a withdrawal burns `ceil(a / LI)`, a borrow mints
//! `ceil(a / BI)`, a repayment burns `floor(a / BI)`. An amount that would
//! mint or burn nothing fails (`AmountTooSmall`) rather than be a gift.

use parlend_ledger::exec::TxView;
use parlend_ledger::{Address, Amount, AssetId, Bps, Ray};

use crate::emode::{collateral_risk, in_category, position_category};
use crate::event::Event;
use crate::failure::Failure;
use crate::health::{load_markets, require_borrowing_power, require_healthy};
use crate::instruction::AmountOrAll;
use crate::isolation::{
    Leftover, check_borrowable, check_collateral_allowed, enables_automatically, isolated_collateral,
    isolated_collateral_in, record_borrow, release,
};
use crate::market::{
    MarketConfig, MarketIndex, add_cash, add_debt, add_supply, read_index, read_market, sub_cash, sub_debt, sub_supply,
};
use crate::position::{
    Position, debt_balance, deposit_balance, read_position, scaled_debt_burned, scaled_debt_minted,
    scaled_deposit_burned, scaled_deposit_minted, write_position,
};
use crate::tokens::{credit, debit};
use crate::vm::Context;

/// `Deposit`: wallet tokens into the market, as a scaled deposit. The first
/// deposit of an asset turns it on as collateral when its LTV is positive.
pub fn deposit(view: &mut TxView<'_>, context: &Context<'_>, asset: AssetId, amount: Amount) -> Result<Event, Failure> {
    if amount.is_zero() {
        return Err(Failure::ZeroAmount);
    }
    let market = read_market(view, asset)?;
    market.ensure_open()?;
    let index = read_index(view, asset)?;
    let scaled = scaled_deposit_minted(amount.0, index.liquidity_index)?;
    if scaled == 0 {
        return Err(Failure::AmountTooSmall);
    }
    let mut position = read_position(view, context.signer)?;
    credit_deposit(view, &mut position, &market, scaled)?;
    let (scaled_deposit, collateral) =
        position.entry(asset).map_or((scaled, false), |entry| (entry.scaled_deposit, entry.collateral));

    debit(view, context.signer, asset, amount)?;
    add_supply(view, &market, &index, amount, scaled)?;
    add_cash(view, asset, amount.0)?;
    write_position(view, context.signer, position)?;
    Ok(Event::Deposit {
        account: context.signer,
        asset,
        amount,
        scaled_minted: Amount(scaled),
        scaled_deposit: Amount(scaled_deposit),
        collateral,
    })
}

/// Adds `scaled` to a position's deposit; a deposit that starts from zero
/// is enabled as collateral when Aave would enable it automatically
/// ([`enables_automatically`]: not an isolated asset, not beside an
/// isolated collateral, not without LTV).
pub fn credit_deposit(
    view: &mut TxView<'_>,
    position: &mut Position,
    market: &MarketConfig,
    scaled: u128,
) -> Result<(), Failure> {
    let first = position.entry(market.asset).is_none_or(|entry| entry.scaled_deposit == 0);
    let enable = first && enables_automatically(view, position, market)?;
    let entry = position.entry_or_insert(market.asset)?;
    if first {
        entry.collateral = enable;
    }
    entry.scaled_deposit = entry.scaled_deposit.checked_add(scaled).ok_or(Failure::MathOverflow)?;
    Ok(())
}

/// The index of the market of a withdrawal or repayment of `amount`, which
/// must not be zero (`ZeroAmount`), on a market that is not paused.
fn unpaused_index(view: &mut TxView<'_>, asset: AssetId, amount: AmountOrAll) -> Result<MarketIndex, Failure> {
    if amount == AmountOrAll::Amount(Amount::ZERO) {
        return Err(Failure::ZeroAmount);
    }
    read_market(view, asset)?.ensure_not_paused()?;
    read_index(view, asset)
}

/// `Withdraw`: a deposit back to the wallet. Allowed on frozen markets. With
/// debt, the position must stay at health factor 1 or above.
pub fn withdraw(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    asset: AssetId,
    amount: AmountOrAll,
) -> Result<Event, Failure> {
    let index = unpaused_index(view, asset, amount)?;
    let mut position = read_position(view, context.signer)?;
    let entry = position.entry_mut(asset).filter(|entry| entry.scaled_deposit > 0).ok_or(Failure::NoDeposit)?;
    let (burned, paid) = match amount {
        AmountOrAll::All => (entry.scaled_deposit, deposit_balance(entry.scaled_deposit, index.liquidity_index)?),
        AmountOrAll::Amount(amount) => (scaled_deposit_burned(amount.0, index.liquidity_index)?, amount.0),
    };
    let scaled_deposit =
        entry.scaled_deposit.checked_sub(burned).ok_or(Failure::InsufficientBalance { asset, amount: Amount(paid) })?;
    entry.scaled_deposit = scaled_deposit;
    position.normalize();
    let emode = position_category(context.config, position.emode_category)?;
    require_healthy(view, &position, emode.as_ref(), context.now)?;

    sub_cash(view, asset, paid)?;
    sub_supply(view, asset, burned)?;
    credit(view, context.signer, asset, Amount(paid))?;
    write_position(view, context.signer, position)?;
    Ok(Event::Withdraw {
        account: context.signer,
        asset,
        amount: Amount(paid),
        scaled_burned: Amount(burned),
        scaled_deposit: Amount(scaled_deposit),
    })
}

/// `Borrow`: new debt to the wallet. The market must be open with
/// borrowing enabled (and in the position's e-mode category, if any), the
/// position's borrowing power must cover its debt afterwards (prices
/// fresh), and a position in isolation mode may borrow only assets
/// borrowable in isolation, within the ceiling.
pub fn borrow(view: &mut TxView<'_>, context: &Context<'_>, asset: AssetId, amount: Amount) -> Result<Event, Failure> {
    if amount.is_zero() {
        return Err(Failure::ZeroAmount);
    }
    let market = read_market(view, asset)?;
    market.ensure_open()?;
    if !market.params.borrowing_enabled {
        return Err(Failure::BorrowingDisabled);
    }
    let mut position = read_position(view, context.signer)?;
    let emode = position_category(context.config, position.emode_category)?;
    if emode.is_some() && !in_category(&market.params, emode.as_ref()) {
        return Err(Failure::NotBorrowableInEMode);
    }
    let index = read_index(view, asset)?;
    let scaled = scaled_debt_minted(amount.0, index.borrow_index)?;
    let entry = position.entry_or_insert(asset)?;
    entry.scaled_debt = entry.scaled_debt.checked_add(scaled).ok_or(Failure::MathOverflow)?;
    let scaled_debt = entry.scaled_debt;
    let markets = load_markets(view, &position, context.now)?;
    require_borrowing_power(&markets, &position, emode.as_ref())?;
    let isolated = isolated_collateral_in(&position, &markets)?;
    check_borrowable(isolated.as_ref(), &market)?;

    record_borrow(view, &mut position, isolated.as_ref(), &market, amount.0)?;
    add_debt(view, &market, &index, amount, scaled)?;
    sub_cash(view, asset, amount.0)?;
    credit(view, context.signer, asset, amount)?;
    write_position(view, context.signer, position)?;
    Ok(Event::Borrow {
        account: context.signer,
        asset,
        amount,
        scaled_minted: Amount(scaled),
        scaled_debt: Amount(scaled_debt),
    })
}

/// `Repay`: debt paid from the signer's wallet, for itself or another
/// borrower. Never blocked by prices or a freeze; at most the debt is
/// taken. A borrower in isolation mode releases ceiling room.
pub fn repay(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    asset: AssetId,
    amount: AmountOrAll,
    on_behalf_of: Option<Address>,
) -> Result<Event, Failure> {
    if amount == AmountOrAll::Amount(Amount::ZERO) {
        return Err(Failure::ZeroAmount);
    }
    let market = read_market(view, asset)?;
    market.ensure_not_paused()?;
    let index = read_index(view, asset)?;
    let borrower = on_behalf_of.unwrap_or(context.signer);
    let mut position = read_position(view, borrower)?;
    let entry = position.entry_mut(asset).filter(|entry| entry.scaled_debt > 0).ok_or(Failure::NoDebt)?;
    let (burned, paid) = repayment(entry.scaled_debt, index.borrow_index, amount)?;
    entry.scaled_debt = entry.scaled_debt.checked_sub(burned).ok_or(Failure::CorruptState)?;
    let scaled_debt = entry.scaled_debt;
    // Only a position that added to a ceiling has anything to release.
    if position.isolation_debt > 0 {
        let isolated = isolated_collateral(view, &position)?;
        release(view, &mut position, isolated.as_ref(), &market, paid, Leftover::Release)?;
    }

    debit(view, context.signer, asset, Amount(paid))?;
    sub_debt(view, asset, burned)?;
    add_cash(view, asset, paid)?;
    write_position(view, borrower, position)?;
    Ok(Event::Repay {
        payer: context.signer,
        borrower,
        asset,
        amount: Amount(paid),
        scaled_burned: Amount(burned),
        scaled_debt: Amount(scaled_debt),
    })
}

/// Scaled debt burned and underlying paid to repay `amount` of a debt of
/// `scaled` units: everything (charging `ceil(scaled × BI)`) when the amount
/// reaches the debt, else `floor(amount / BI)` (`AmountTooSmall` at zero).
pub fn repayment(scaled: u128, borrow_index: Ray, amount: AmountOrAll) -> Result<(u128, u128), Failure> {
    let debt = debt_balance(scaled, borrow_index)?;
    match amount {
        AmountOrAll::Amount(amount) if amount.0 < debt => {
            let burned = scaled_debt_burned(amount.0, borrow_index)?;
            if burned == 0 {
                return Err(Failure::AmountTooSmall);
            }
            Ok((burned.min(scaled), amount.0))
        }
        _ => Ok((scaled, debt)),
    }
}

/// `SetCollateral`: turns a deposit's use as collateral on (LTV must be
/// positive and the market not frozen, `NotCollateral`; isolation rules,
/// `IsolatedCollateralConflict`) or off (health factor 1 or above
/// afterwards, with fresh prices).
pub fn set_collateral(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    asset: AssetId,
    enabled: bool,
) -> Result<(), Failure> {
    let market = read_market(view, asset)?;
    market.ensure_not_paused()?;
    let mut position = read_position(view, context.signer)?;
    let entry = position.entry_mut(asset).filter(|entry| entry.scaled_deposit > 0).ok_or(Failure::NoDeposit)?;
    if entry.collateral == enabled {
        return Ok(());
    }
    if enabled {
        if collateral_risk(&market.params, None).ltv == Bps::ZERO {
            return Err(Failure::NotCollateral);
        }
        check_collateral_allowed(view, &position, &market)?;
    }
    let entry = position.entry_mut(asset).ok_or(Failure::NoDeposit)?;
    entry.collateral = enabled;
    if !enabled {
        let emode = position_category(context.config, position.emode_category)?;
        require_healthy(view, &position, emode.as_ref(), context.now)?;
    }
    write_position(view, context.signer, position)
}
