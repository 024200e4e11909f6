//! Liquidation, with Aave 3.3's rules.
//!
//! A position whose health factor is below 1 may be liquidated by anyone
//! but its owner: the liquidator repays part of one debt (from its wallet)
//! and receives collateral worth that debt plus the market's bonus, as
//! wallet tokens or as a deposit.
//!
//! 1. **Close factor.** All of the reserve's debt may be repaid, except
//!    when the health factor is above `close_factor_hf_threshold` (0.95) and
//!    both the liquidated collateral and debt reserves are worth at least
//!    `min_close_factor_base` ($2,000): then at most `close_factor` (50%)
//!    of the *total* debt value.
//! 2. **Collateral.** `debt value / collateral price × bonus`, capped at the
//!    borrower's deposit; when capped, the debt repaid shrinks to what the
//!    whole deposit pays for.
//! 3. **Protocol fee.** `(seized − seized / bonus) × protocol fee` of the
//!    seized collateral is burned from the borrower without being paid out,
//!    so it stays in the market as treasury.
//! 4. **No dust.** Unless the debt or the collateral reserve is taken whole,
//!    both must keep at least `min_leftover_base` ($1,000) of value.
//! 5. **Bad debt.** If the borrower has no collateral left but still owes,
//!    every remaining debt is burned: each market's treasury absorbs what
//!    it can and the rest is recorded as its deficit ([`crate::deficit`]).
//!
//! In e-mode, the threshold and the bonus of collateral in the borrower's
//! category are the category's ([`crate::emode`]). A borrower in isolation
//! mode releases the ceiling room of the debt repaid, not of bad debt
//! burned ([`crate::isolation`]).
//!
//! Rounding favours the protocol: the collateral for a debt rounds down,
//! the debt for a capped collateral rounds up, the fee rounds up.
//!
//! A partial liquidation raises the health factor only while it is at
//! least `bonus × threshold` of the seized collateral: below that (deep
//! underwater), taking collateral at a bonus removes more weighted
//! collateral than debt and the factor falls, in Aave as here. Full
//! liquidations, the 100% close factor below 0.95 and bad-debt burning are
//! how such positions get closed.

use parlend_ledger::exec::TxView;
use parlend_ledger::primitives::mul_div;
use parlend_ledger::{Address, Amount, AssetId, Bps, Rounding, Wad};
use serde::{Deserialize, Serialize};

use crate::deficit::record_bad_debt;
use crate::emode::{EModeCategory, collateral_risk, position_category};
use crate::event::{DeficitCreated, LiquidationEvent};
use crate::failure::Failure;
use crate::health::{
    HEALTH_FACTOR_THRESHOLD, Health, MarketView, counts_as_collateral, evaluate, load_markets, market_of,
};
use crate::instruction::AmountOrAll;
use crate::isolation::{Leftover, isolated_collateral_in, release};
use crate::lending::credit_deposit;
use crate::market::{MarketConfig, add_cash, add_supply_uncapped, read_market, sub_cash, sub_debt, sub_supply};
use crate::oracle::{amount_for_value, value};
use crate::position::{
    Position, PositionEntry, debt_balance, deposit_balance, read_position, scaled_debt_burned, scaled_deposit_burned,
    scaled_deposit_minted, write_position,
};
use crate::state::LiquidationConfig;
use crate::tokens::{credit, debit};
use crate::vm::Context;

/// A `Liquidate` instruction's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationRequest {
    /// The unhealthy borrower.
    pub borrower: Address,
    /// The debt repaid.
    pub debt_asset: AssetId,
    /// The collateral seized.
    pub collateral_asset: AssetId,
    /// Most debt to repay, or as much as allowed.
    pub debt_to_cover: AmountOrAll,
    /// Receive the collateral as a deposit rather than wallet tokens.
    pub receive_deposit: bool,
}

/// What one liquidation moves, base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidationPlan {
    /// Debt the liquidator repays.
    pub debt_repaid: u128,
    /// Scaled debt burned from the borrower.
    pub debt_scaled_burned: u128,
    /// Collateral taken from the borrower, protocol fee included.
    pub collateral_seized: u128,
    /// Scaled deposit burned from the borrower.
    pub collateral_scaled_burned: u128,
    /// The bonus part of the seizure: seized less `seized / bonus` (the
    /// debt's worth, rounded down).
    pub bonus: u128,
    /// The protocol's share of the bonus (stays in the market).
    pub protocol_fee: u128,
    /// Collateral the liquidator receives: seized less the protocol fee.
    pub liquidator_collateral: u128,
}

/// One side of a liquidation: the borrower's entry and its market.
#[derive(Debug, Clone, Copy)]
pub struct Reserve<'a> {
    /// The borrower's entry.
    pub entry: &'a PositionEntry,
    /// Its market, with a price.
    pub market: &'a MarketView,
}

impl Reserve<'_> {
    fn price(&self) -> Result<Wad, Failure> {
        self.market.price.ok_or(Failure::PriceMissing { asset: self.market.config.asset })
    }

    fn decimals(&self) -> u8 {
        self.market.config.decimals
    }
}

/// `Liquidate`.
pub fn liquidate(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    request: &LiquidationRequest,
) -> Result<LiquidationEvent, Failure> {
    if request.borrower == context.signer {
        return Err(Failure::SelfLiquidation);
    }
    if request.debt_to_cover == AmountOrAll::Amount(Amount::ZERO) {
        return Err(Failure::ZeroAmount);
    }
    read_market(view, request.debt_asset)?.ensure_not_paused()?;
    let collateral_market = read_market(view, request.collateral_asset)?;
    collateral_market.ensure_not_paused()?;
    let mut position = read_position(view, request.borrower)?;
    let emode = position_category(context.config, position.emode_category)?;
    let markets = load_markets(view, &position, context.now)?;
    let health = evaluate(&position, &markets, emode.as_ref())?;
    if health.health_factor >= HEALTH_FACTOR_THRESHOLD {
        return Err(Failure::HealthyPosition);
    }
    let isolated = isolated_collateral_in(&position, &markets)?;
    let plan = plan_for(&position, &markets, &health, emode.as_ref(), &context.config.liquidation, request)?;

    apply_to_borrower(&mut position, request, &plan)?;
    let bad_debt = burn_bad_debt(&mut position, &markets)?;
    let leftover = if bad_debt.is_empty() { Leftover::Release } else { Leftover::Keep };
    let debt_market = market_of(&markets, request.debt_asset)?.config;
    release(view, &mut position, isolated.as_ref(), &debt_market, plan.debt_repaid, leftover)?;
    let receiver = if request.receive_deposit {
        Some(receive_as_deposit(view, context.signer, &collateral_market, &markets, plan.liquidator_collateral)?)
    } else {
        None
    };

    debit(view, context.signer, request.debt_asset, Amount(plan.debt_repaid))?;
    sub_debt(view, request.debt_asset, plan.debt_scaled_burned)?;
    add_cash(view, request.debt_asset, plan.debt_repaid)?;
    let mut deficit = Vec::new();
    for burned in bad_debt {
        let created = record_bad_debt(view, burned.asset, &market_of(&markets, burned.asset)?.index, burned.debt)?;
        sub_debt(view, burned.asset, burned.scaled)?;
        if created > 0 {
            deficit.push(DeficitCreated { asset: burned.asset, amount: Amount(created) });
        }
    }
    sub_supply(view, request.collateral_asset, plan.collateral_scaled_burned)?;
    match receiver {
        Some((liquidator_position, minted)) => {
            add_supply_uncapped(view, request.collateral_asset, minted)?;
            write_position(view, context.signer, liquidator_position)?;
        }
        None => {
            sub_cash(view, request.collateral_asset, plan.liquidator_collateral)?;
            credit(view, context.signer, request.collateral_asset, Amount(plan.liquidator_collateral))?;
        }
    }
    let event = liquidation_event(context, request, &plan, &position, deficit);
    write_position(view, request.borrower, position)?;
    Ok(event)
}

/// The event of a liquidation: the plan's amounts and the borrower's
/// balances afterwards.
fn liquidation_event(
    context: &Context<'_>,
    request: &LiquidationRequest,
    plan: &LiquidationPlan,
    position: &Position,
    deficit: Vec<DeficitCreated>,
) -> LiquidationEvent {
    LiquidationEvent {
        liquidator: context.signer,
        borrower: request.borrower,
        debt_asset: request.debt_asset,
        collateral_asset: request.collateral_asset,
        debt_repaid: Amount(plan.debt_repaid),
        collateral_seized: Amount(plan.collateral_seized),
        bonus: Amount(plan.bonus),
        protocol_fee: Amount(plan.protocol_fee),
        liquidator_collateral: Amount(plan.liquidator_collateral),
        received_as_deposit: request.receive_deposit,
        borrower_scaled_debt: Amount(position.entry(request.debt_asset).map_or(0, |entry| entry.scaled_debt)),
        borrower_scaled_deposit: Amount(
            position.entry(request.collateral_asset).map_or(0, |entry| entry.scaled_deposit),
        ),
        deficit,
    }
}

/// Finds both reserves of the request in the borrower's position
/// (`NoCollateral`, `NoDebt`) and plans the liquidation.
fn plan_for(
    position: &Position,
    markets: &[MarketView],
    health: &Health,
    emode: Option<&EModeCategory>,
    config: &LiquidationConfig,
    request: &LiquidationRequest,
) -> Result<LiquidationPlan, Failure> {
    let collateral_entry =
        position.entry(request.collateral_asset).filter(|entry| entry.is_collateral()).ok_or(Failure::NoCollateral)?;
    let collateral_market = market_of(markets, request.collateral_asset)?;
    if !counts_as_collateral(collateral_entry, &collateral_market.config) {
        return Err(Failure::NoCollateral);
    }
    let debt_entry = position.entry(request.debt_asset).filter(|entry| entry.scaled_debt > 0).ok_or(Failure::NoDebt)?;
    let debt = Reserve { entry: debt_entry, market: market_of(markets, request.debt_asset)? };
    let collateral = Reserve { entry: collateral_entry, market: collateral_market };
    let bonus = collateral_risk(&collateral_market.config.params, emode).liquidation_bonus;
    plan(config, health, debt, collateral, bonus, request.debt_to_cover)
}

/// Computes a liquidation: how much debt is repaid and how much collateral
/// is seized at `bonus`, with every rule of the module docs.
pub fn plan(
    config: &LiquidationConfig,
    health: &Health,
    debt: Reserve<'_>,
    collateral: Reserve<'_>,
    bonus: Bps,
    requested: AmountOrAll,
) -> Result<LiquidationPlan, Failure> {
    let reserve_debt = debt_balance(debt.entry.scaled_debt, debt.market.index.borrow_index)?;
    let collateral_balance = deposit_balance(collateral.entry.scaled_deposit, collateral.market.index.liquidity_index)?;
    let max_debt = max_liquidatable_debt(config, health, reserve_debt, debt, collateral_balance, collateral)?;
    let wanted = match requested {
        AmountOrAll::All => max_debt,
        AmountOrAll::Amount(amount) => amount.0.min(max_debt),
    };
    let (debt_repaid, collateral_seized) = collateral_for_debt(wanted, debt, collateral_balance, collateral, bonus)?;
    if debt_repaid == 0 || collateral_seized == 0 {
        return Err(Failure::AmountTooSmall);
    }
    // debt_repaid <= wanted <= reserve_debt, and the seizure is capped at the balance.
    let leftover_debt = reserve_debt.checked_sub(debt_repaid).ok_or(Failure::MathOverflow)?;
    let leftover_collateral = collateral_balance.checked_sub(collateral_seized).ok_or(Failure::MathOverflow)?;
    if leftover_debt > 0 && leftover_collateral > 0 {
        let debt_left = value(leftover_debt, debt.price()?, debt.decimals(), Rounding::Down)?;
        let collateral_left = value(leftover_collateral, collateral.price()?, collateral.decimals(), Rounding::Down)?;
        if debt_left < config.min_leftover_base || collateral_left < config.min_leftover_base {
            return Err(Failure::DustPosition);
        }
    }
    let debt_scaled_burned = if leftover_debt == 0 {
        debt.entry.scaled_debt
    } else {
        scaled_debt_burned(debt_repaid, debt.market.index.borrow_index)?.min(debt.entry.scaled_debt)
    };
    if debt_scaled_burned == 0 {
        return Err(Failure::AmountTooSmall);
    }
    let collateral_scaled_burned = if leftover_collateral == 0 {
        collateral.entry.scaled_deposit
    } else {
        scaled_deposit_burned(collateral_seized, collateral.market.index.liquidity_index)?
            .min(collateral.entry.scaled_deposit)
    };
    let bonus_part = bonus_part(collateral_seized, bonus)?;
    let protocol_fee =
        protocol_fee(collateral_seized, bonus, collateral.market.config.params.liquidation_protocol_fee)?;
    // The fee is at most the bonus part, which is at most the seizure.
    let liquidator_collateral = collateral_seized.checked_sub(protocol_fee).ok_or(Failure::MathOverflow)?;
    Ok(LiquidationPlan {
        debt_repaid,
        debt_scaled_burned,
        collateral_seized,
        collateral_scaled_burned,
        bonus: bonus_part,
        protocol_fee,
        liquidator_collateral,
    })
}

/// The most of the reserve's debt one liquidation may repay (rule 1).
fn max_liquidatable_debt(
    config: &LiquidationConfig,
    health: &Health,
    reserve_debt: u128,
    debt: Reserve<'_>,
    collateral_balance: u128,
    collateral: Reserve<'_>,
) -> Result<u128, Failure> {
    let reserve_debt_value = value(reserve_debt, debt.price()?, debt.decimals(), Rounding::Up)?;
    let reserve_collateral_value =
        value(collateral_balance, collateral.price()?, collateral.decimals(), Rounding::Down)?;
    let large =
        reserve_debt_value >= config.min_close_factor_base && reserve_collateral_value >= config.min_close_factor_base;
    if !large || health.health_factor <= config.close_factor_hf_threshold {
        return Ok(reserve_debt);
    }
    let allowed_value = Wad(config.close_factor.apply(health.debt_value.0, Rounding::Down)?);
    if reserve_debt_value <= allowed_value {
        return Ok(reserve_debt);
    }
    Ok(amount_for_value(allowed_value, debt.price()?, debt.decimals(), Rounding::Down)?)
}

/// Debt repaid and collateral seized for `wanted` debt (rule 2).
fn collateral_for_debt(
    wanted: u128,
    debt: Reserve<'_>,
    collateral_balance: u128,
    collateral: Reserve<'_>,
    bonus: Bps,
) -> Result<(u128, u128), Failure> {
    let debt_value = value(wanted, debt.price()?, debt.decimals(), Rounding::Down)?;
    let base = amount_for_value(debt_value, collateral.price()?, collateral.decimals(), Rounding::Down)?;
    let with_bonus = bonus.apply(base, Rounding::Down)?;
    if with_bonus <= collateral_balance {
        return Ok((wanted, with_bonus));
    }
    // The deposit runs out: all of it pays for `value / bonus` of debt, rounded up.
    let seized_value = value(collateral_balance, collateral.price()?, collateral.decimals(), Rounding::Up)?;
    let needed_value = Wad(mul_div(seized_value.0, Bps::SCALE, u128::from(bonus.0), Rounding::Up)?);
    let needed = amount_for_value(needed_value, debt.price()?, debt.decimals(), Rounding::Up)?;
    Ok((needed.min(wanted), collateral_balance))
}

/// The protocol's share `fee` of the bonus in `seized` at `bonus` (rule 3), rounded up.
pub fn protocol_fee(seized: u128, bonus: Bps, fee: Bps) -> Result<u128, Failure> {
    Ok(fee.apply(bonus_part(seized, bonus)?, Rounding::Up)?)
}

/// The bonus part of `seized` at `bonus`: seized less `seized / bonus`
/// (rounded down, so the part rounds up).
pub fn bonus_part(seized: u128, bonus: Bps) -> Result<u128, Failure> {
    let base = mul_div(seized, Bps::SCALE, u128::from(bonus.0), Rounding::Down)?;
    Ok(seized.saturating_sub(base))
}

/// Takes the plan's debt and collateral out of the borrower's position.
fn apply_to_borrower(
    position: &mut Position,
    request: &LiquidationRequest,
    plan: &LiquidationPlan,
) -> Result<(), Failure> {
    let debt = position.entry_mut(request.debt_asset).ok_or(Failure::NoDebt)?;
    debt.scaled_debt = debt.scaled_debt.checked_sub(plan.debt_scaled_burned).ok_or(Failure::CorruptState)?;
    let collateral = position.entry_mut(request.collateral_asset).ok_or(Failure::NoCollateral)?;
    collateral.scaled_deposit =
        collateral.scaled_deposit.checked_sub(plan.collateral_scaled_burned).ok_or(Failure::CorruptState)?;
    position.normalize();
    Ok(())
}

/// One debt burned as bad debt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BadDebt {
    asset: AssetId,
    /// Scaled debt burned from the totals.
    scaled: u128,
    /// What the borrower owed, underlying (rounded up, as its debt shows):
    /// the loss recorded (Aave 3.4 records the borrower's debt balance).
    debt: u128,
}

/// Rule 5: when no collateral is left, zeroes every remaining debt and
/// returns what to burn from the markets' totals.
fn burn_bad_debt(position: &mut Position, markets: &[MarketView]) -> Result<Vec<BadDebt>, Failure> {
    // Only flagged entries can count, and only they (and debts) were loaded.
    for entry in position.collateral_entries() {
        if counts_as_collateral(entry, &market_of(markets, entry.asset)?.config) {
            return Ok(Vec::new());
        }
    }
    let mut burned = Vec::new();
    for entry in position.entries.iter_mut().filter(|entry| entry.scaled_debt > 0) {
        let index = market_of(markets, entry.asset)?.index;
        let debt = debt_balance(entry.scaled_debt, index.borrow_index)?;
        burned.push(BadDebt { asset: entry.asset, scaled: entry.scaled_debt, debt });
        entry.scaled_debt = 0;
    }
    position.normalize();
    Ok(burned)
}

/// The liquidator's position with the collateral added as a deposit, and
/// the scaled amount minted (rounded down).
fn receive_as_deposit(
    view: &mut TxView<'_>,
    liquidator: Address,
    market: &MarketConfig,
    markets: &[MarketView],
    amount: u128,
) -> Result<(Position, u128), Failure> {
    let index = market_of(markets, market.asset)?.index;
    let minted = scaled_deposit_minted(amount, index.liquidity_index)?;
    let mut position = read_position(view, liquidator)?;
    if minted > 0 {
        credit_deposit(view, &mut position, market, minted)?;
    }
    Ok((position, minted))
}
