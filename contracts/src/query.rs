//! Read-only queries for the node and its RPC: markets, positions, health,
//! indices, prices.
//!
//! Pure functions of a state (any [`StateReader`]: the store, an overlay)
//! and a timestamp. Indices are accrued to that timestamp at the stored
//! rates, as Aave's `getNormalizedIncome` and `getNormalizedDebt` do, so a
//! position shows the interest it has earned or owes up to "now" even
//! between blocks. Queries never fail on a stale price: they use the latest
//! one and say whether it is fresh. Results serialize to JSON with amounts
//! and fixed-point numbers as decimal strings.

use parlend_ledger::primitives::mul_div;
use parlend_ledger::state::{StateReader, decode_fields};
use parlend_ledger::{Address, Amount, AssetId, MathError, Ray, Rounding, StateKey, Wad};
use serde::{Deserialize, Serialize};

use crate::emode::{EModeCategory, collateral_risk, position_category};
use crate::failure::Failure;
use crate::health::{
    HEALTH_FACTOR_THRESHOLD, Health, MarketView, collateral_value, counts_as_collateral, debt_value, evaluate,
    needs_price,
};
use crate::interest::{accrue, annual_yield, utilization};
use crate::isolation::isolated_collateral_in;
use crate::market::{MarketConfig, MarketIndex, MarketParams, MarketTotals, config_key, index_key, totals_key};
use crate::oracle::{PriceEntry, price_key, unit};
use crate::position::{Position, PositionEntry, debt_balance, deposit_balance, position_key};
use crate::state::{GlobalConfig, StateError, load};

/// Why a query has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// The asset has no market.
    #[error("no market for {0}")]
    UnknownMarket(AssetId),
    /// A figure does not fit in 128 bits.
    #[error("arithmetic overflow")]
    Overflow,
    /// A value could not be computed (a missing price, an overflow).
    #[error("cannot evaluate: {0}")]
    Evaluation(Failure),
}

impl From<MathError> for QueryError {
    fn from(_: MathError) -> QueryError {
        QueryError::Overflow
    }
}

impl From<Failure> for QueryError {
    fn from(failure: Failure) -> QueryError {
        QueryError::Evaluation(failure)
    }
}

/// A price as queries show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceView {
    /// USD per whole token, 18 decimals.
    pub price: Wad,
    /// When it was observed.
    pub timestamp: u64,
    /// Seconds since then.
    pub age_seconds: u64,
    /// Older than the market's limit: it would block borrows and liquidations.
    pub stale: bool,
}

/// A market, as `getMarket` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketSummary {
    /// The asset.
    pub asset: AssetId,
    /// Its decimals.
    pub decimals: u8,
    /// The parameters.
    pub params: MarketParams,
    /// Indices accrued to the query's time; rates as fixed by the last block.
    pub index: MarketIndex,
    /// Σ scaled deposits.
    pub scaled_supply: Amount,
    /// Σ scaled debt.
    pub scaled_debt: Amount,
    /// Suppliers' claims, underlying (rounded up).
    pub total_supply: Amount,
    /// Borrowers' debt, underlying (rounded down).
    pub total_debt: Amount,
    /// Underlying held by the market.
    pub cash: Amount,
    /// Protocol equity when positive (reserve factor, fees, dust).
    pub treasury: Amount,
    /// The recorded deficit: bad debt the treasury could not cover, not yet
    /// covered by `CoverDeficit`. It earns nothing.
    pub deficit: Amount,
    /// Debt borrowed against this asset in isolation mode, USD cents (its
    /// ceiling is `params.debtCeilingCents`; zero when not isolated).
    pub isolation_debt_cents: u64,
    /// The e-mode category the asset is in, with its parameters.
    pub emode: Option<EModeCategory>,
    /// `total_debt / (cash + total_debt)`.
    pub utilization: Ray,
    /// Supply rate per year, simple.
    pub supply_apr: Ray,
    /// Borrow rate per year, simple.
    pub borrow_apr: Ray,
    /// Supply rate per year compounded every second.
    pub supply_apy: Ray,
    /// Borrow rate per year compounded every second.
    pub borrow_apy: Ray,
    /// The oracle price, if any.
    pub price: Option<PriceView>,
}

/// One asset of a position, as `getPosition` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionAssetView {
    /// The asset.
    pub asset: AssetId,
    /// Its decimals.
    pub decimals: u8,
    /// Deposit, scaled.
    pub scaled_deposit: Amount,
    /// Deposit with interest to the query's time (rounded down).
    pub deposit: Amount,
    /// Debt, scaled.
    pub scaled_debt: Amount,
    /// Debt with interest to the query's time (rounded up).
    pub debt: Amount,
    /// Whether the deposit is enabled as collateral.
    pub collateral: bool,
    /// The oracle price, if any.
    pub price: Option<PriceView>,
    /// USD value of the deposit, if priced.
    pub deposit_value: Option<Wad>,
    /// USD value of the debt, if priced.
    pub debt_value: Option<Wad>,
    /// The price of this asset at which the health factor would reach 1,
    /// other prices unchanged; none when its price cannot make the
    /// position liquidatable.
    pub liquidation_price: Option<Wad>,
}

/// A position, as `getPosition` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionSummary {
    /// The owner.
    pub owner: Address,
    /// The time the figures are for.
    pub timestamp: u64,
    /// One entry per asset.
    pub assets: Vec<PositionAssetView>,
    /// Values and health factor; none when a price that counts is missing.
    pub health: Option<Health>,
    /// Borrowing power left: `max(borrowing power − debt value, 0)`.
    pub available_to_borrow: Option<Wad>,
    /// Whether every price that counts is within its market's limit (else
    /// borrows, withdrawals with debt and liquidations are blocked).
    pub prices_fresh: bool,
    /// The e-mode category the user is in; zero for none.
    pub emode_category: u8,
    /// Isolation mode, when the position's only collateral is isolated.
    pub isolation: Option<IsolationView>,
}

/// A position's isolation mode, as `getPosition` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolationView {
    /// The isolated collateral.
    pub collateral: AssetId,
    /// Its debt ceiling, USD cents.
    pub debt_ceiling_cents: u64,
    /// Debt all isolated positions owe against it, USD cents.
    pub isolation_debt_cents: u64,
    /// What this position counts against the ceiling, USD cents.
    pub position_debt_cents: u64,
}

/// A position's health, for scanning (`getLiquidatable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// Values and health factor; none when a price that counts is missing.
    pub health: Option<Health>,
    /// Whether every price that counts is fresh: a liquidation needs it.
    pub prices_fresh: bool,
}

impl HealthReport {
    /// Whether the position can be liquidated now (HF below 1, prices fresh).
    pub fn is_liquidatable(&self) -> bool {
        self.prices_fresh && self.health.is_some_and(|health| health.health_factor < HEALTH_FACTOR_THRESHOLD)
    }
}

/// The global configuration.
pub fn config(reader: &dyn StateReader) -> Result<GlobalConfig, QueryError> {
    load(reader, &StateKey::Config)?.ok_or(QueryError::State(StateError::Corrupt(StateKey::Config)))
}

/// A market's configuration.
pub fn market_config(reader: &dyn StateReader, asset: AssetId) -> Result<MarketConfig, QueryError> {
    load(reader, &config_key(asset))?.ok_or(QueryError::UnknownMarket(asset))
}

/// A market's index accrued to `now` (Aave's normalized income and debt).
pub fn normalized_index(reader: &dyn StateReader, asset: AssetId, now: u64) -> Result<MarketIndex, QueryError> {
    let index: MarketIndex = load(reader, &index_key(asset))?.ok_or(QueryError::UnknownMarket(asset))?;
    Ok(accrue(&index, now)?)
}

/// A market's totals.
pub fn market_totals(reader: &dyn StateReader, asset: AssetId) -> Result<MarketTotals, QueryError> {
    let key = totals_key(asset);
    let value = reader.get(&key).map_err(StateError::from)?;
    let fields = decode_fields(value.as_deref()).map_err(|_| StateError::Corrupt(key))?;
    Ok(MarketTotals::from_fields(&fields))
}

/// An asset's price with its age; staleness by its market's limit (never
/// stale without a market).
pub fn price(reader: &dyn StateReader, asset: AssetId, now: u64) -> Result<Option<PriceView>, QueryError> {
    let Some(entry) = load::<PriceEntry>(reader, &price_key(asset))? else {
        return Ok(None);
    };
    let limit =
        load::<MarketConfig>(reader, &config_key(asset))?.map_or(u64::MAX, |m| m.params.price_staleness_seconds);
    Ok(Some(PriceView {
        price: entry.price,
        timestamp: entry.timestamp,
        age_seconds: entry.age(now),
        stale: entry.is_stale(now, limit),
    }))
}

/// An asset's price, as `getPrices` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetPrice {
    /// The asset.
    pub asset: AssetId,
    /// Its price, if one was ever posted.
    pub price: Option<PriceView>,
}

/// Every registered asset's price at `now`, in asset order.
pub fn prices(reader: &dyn StateReader, now: u64) -> Result<Vec<AssetPrice>, QueryError> {
    let assets = config(reader)?.assets;
    assets.iter().map(|info| Ok(AssetPrice { asset: info.id, price: price(reader, info.id, now)? })).collect()
}

/// One market at `now`.
pub fn market_summary(reader: &dyn StateReader, asset: AssetId, now: u64) -> Result<MarketSummary, QueryError> {
    let market = market_config(reader, asset)?;
    let index = normalized_index(reader, asset, now)?;
    let totals = market_totals(reader, asset)?;
    let sheet = totals.balance_sheet(&index)?;
    let emode = match market.params.emode_category {
        0 => None,
        id => config(reader)?.emode_category(id).copied(),
    };
    Ok(MarketSummary {
        asset,
        decimals: market.decimals,
        params: market.params,
        index,
        scaled_supply: Amount(totals.scaled_supply),
        scaled_debt: Amount(totals.scaled_debt),
        total_supply: sheet.total_supply,
        total_debt: sheet.total_debt,
        cash: sheet.cash,
        treasury: sheet.treasury,
        deficit: sheet.deficit,
        isolation_debt_cents: cents(totals.isolation_debt)?,
        emode,
        utilization: utilization(sheet.total_debt.0, totals.cash)?,
        supply_apr: index.liquidity_rate,
        borrow_apr: index.borrow_rate,
        supply_apy: annual_yield(index.liquidity_rate)?,
        borrow_apy: annual_yield(index.borrow_rate)?,
        price: price(reader, asset, now)?,
    })
}

/// USD cents as queries show them (`u64`: ceilings are at most
/// [`crate::limits::DEBT_CEILING_CENTS_MAX`]).
fn cents(value: u128) -> Result<u64, QueryError> {
    u64::try_from(value).map_err(|_| QueryError::Overflow)
}

/// Every market at `now`, in asset order.
pub fn markets(reader: &dyn StateReader, now: u64) -> Result<Vec<MarketSummary>, QueryError> {
    config(reader)?.markets.iter().map(|asset| market_summary(reader, *asset, now)).collect()
}

/// A user's position (empty when absent).
pub fn position(reader: &dyn StateReader, owner: Address) -> Result<Position, QueryError> {
    Ok(load(reader, &position_key(owner))?.unwrap_or_default())
}

/// The markets of every entry, accrued to `now`, with their latest prices.
fn market_views(
    reader: &dyn StateReader,
    position: &Position,
    now: u64,
) -> Result<Vec<(MarketView, Option<PriceView>)>, QueryError> {
    position
        .entries
        .iter()
        .map(|entry| {
            let config = market_config(reader, entry.asset)?;
            let index = normalized_index(reader, entry.asset, now)?;
            let price = price(reader, entry.asset, now)?;
            Ok((MarketView { config, index, price: price.map(|view| view.price) }, price))
        })
        .collect()
}

/// Whether every price that counts for `position` is present and fresh.
fn prices_fresh(position: &Position, views: &[(MarketView, Option<PriceView>)]) -> bool {
    position
        .entries
        .iter()
        .zip(views)
        .all(|(entry, (market, price))| !needs_price(entry, &market.config) || price.is_some_and(|price| !price.stale))
}

/// The e-mode category of a position.
fn emode_of(reader: &dyn StateReader, position: &Position) -> Result<Option<EModeCategory>, QueryError> {
    Ok(position_category(&config(reader)?, position.emode_category)?)
}

/// A position's health at `now`, for scanning positions.
pub fn health(reader: &dyn StateReader, owner: Address, now: u64) -> Result<HealthReport, QueryError> {
    let position = position(reader, owner)?;
    let views = market_views(reader, &position, now)?;
    let markets: Vec<MarketView> = views.iter().map(|(market, _)| *market).collect();
    let emode = emode_of(reader, &position)?;
    let health = evaluate(&position, &markets, emode.as_ref()).ok();
    Ok(HealthReport { health, prices_fresh: prices_fresh(&position, &views) })
}

/// The position's isolation mode, if it is in it.
fn isolation_view(
    reader: &dyn StateReader,
    position: &Position,
    markets: &[MarketView],
) -> Result<Option<IsolationView>, QueryError> {
    let Some(collateral) = isolated_collateral_in(position, markets)? else {
        return Ok(None);
    };
    Ok(Some(IsolationView {
        collateral: collateral.asset,
        debt_ceiling_cents: collateral.params.debt_ceiling_cents,
        isolation_debt_cents: cents(market_totals(reader, collateral.asset)?.isolation_debt)?,
        position_debt_cents: cents(position.isolation_debt)?,
    }))
}

/// A position at `now`: every asset with interest, values, and totals.
pub fn position_summary(reader: &dyn StateReader, owner: Address, now: u64) -> Result<PositionSummary, QueryError> {
    let position = position(reader, owner)?;
    let views = market_views(reader, &position, now)?;
    let markets: Vec<MarketView> = views.iter().map(|(market, _)| *market).collect();
    let emode = emode_of(reader, &position)?;
    let health = evaluate(&position, &markets, emode.as_ref()).ok();
    let mut assets = Vec::with_capacity(position.entries.len());
    for (entry, (market, price)) in position.entries.iter().zip(&views) {
        assets.push(asset_view(entry, market, *price, health.as_ref(), emode.as_ref())?);
    }
    let available_to_borrow = health.map(|health| Wad(health.borrowing_power.0.saturating_sub(health.debt_value.0)));
    Ok(PositionSummary {
        owner,
        timestamp: now,
        assets,
        health,
        available_to_borrow,
        prices_fresh: prices_fresh(&position, &views),
        emode_category: position.emode_category,
        isolation: isolation_view(reader, &position, &markets)?,
    })
}

fn asset_view(
    entry: &PositionEntry,
    market: &MarketView,
    price: Option<PriceView>,
    health: Option<&Health>,
    emode: Option<&EModeCategory>,
) -> Result<PositionAssetView, QueryError> {
    let deposit = deposit_balance(entry.scaled_deposit, market.index.liquidity_index)?;
    let debt = debt_balance(entry.scaled_debt, market.index.borrow_index)?;
    let priced = |amount: u128, rounding| -> Result<Option<Wad>, QueryError> {
        match market.price {
            Some(price) => Ok(Some(crate::oracle::value(amount, price, market.config.decimals, rounding)?)),
            None => Ok(None),
        }
    };
    let liquidation_price = match health {
        Some(health) if market.price.is_some() => liquidation_price(entry, market, health, emode)?,
        _ => None,
    };
    Ok(PositionAssetView {
        asset: entry.asset,
        decimals: market.config.decimals,
        scaled_deposit: Amount(entry.scaled_deposit),
        deposit: Amount(deposit),
        scaled_debt: Amount(entry.scaled_debt),
        debt: Amount(debt),
        collateral: entry.collateral,
        price,
        deposit_value: priced(deposit, Rounding::Down)?,
        debt_value: priced(debt, Rounding::Up)?,
        liquidation_price,
    })
}

/// The price of `entry`'s asset at which the health factor reaches 1, the
/// other prices held: solves
/// `N_other + a × p × LT / unit = D_other + d × p / unit` for `p`, where `a`
/// is the collateral counted and `d` the debt in this asset. Rounded up
/// (warn early). None when falling prices of this asset cannot make the
/// position liquidatable, or it has no debt. `LT` is the e-mode category's
/// for collateral in the position's category.
pub fn liquidation_price(
    entry: &PositionEntry,
    market: &MarketView,
    health: &Health,
    emode: Option<&EModeCategory>,
) -> Result<Option<Wad>, QueryError> {
    if health.debt_value == Wad::ZERO || !counts_as_collateral(entry, &market.config) {
        return Ok(None);
    }
    let threshold = collateral_risk(&market.config.params, emode).liquidation_threshold;
    let own_collateral = threshold.apply(collateral_value(entry, market)?.0, Rounding::Down)?;
    let other_collateral = health.liquidation_value.0.saturating_sub(own_collateral);
    let other_debt = health.debt_value.0.saturating_sub(debt_value(entry, market)?.0);
    let Some(shortfall) = other_debt.checked_sub(other_collateral).filter(|gap| *gap > 0) else {
        return Ok(None);
    };
    // Per unit of price, in base units × bps: a × LT − d × 10_000.
    let deposit = deposit_balance(entry.scaled_deposit, market.index.liquidity_index)?;
    let debt = debt_balance(entry.scaled_debt, market.index.borrow_index)?;
    let weighted_deposit = deposit.checked_mul(u128::from(threshold.0)).ok_or(MathError::Overflow)?;
    let weighted_debt = debt.checked_mul(parlend_ledger::Bps::SCALE).ok_or(MathError::Overflow)?;
    let Some(slope) = weighted_deposit.checked_sub(weighted_debt).filter(|slope| *slope > 0) else {
        return Ok(None);
    };
    let scaled_shortfall = mul_div(shortfall, parlend_ledger::Bps::SCALE, 1, Rounding::Up)?;
    Ok(Some(Wad(mul_div(scaled_shortfall, unit(market.config.decimals)?, slope, Rounding::Up)?)))
}
