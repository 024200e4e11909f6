//! The block prologue and epilogue: interest accrual and rate updates.
//!
//! Both run serially with unrestricted access to the state, before and
//! after the block's transactions:
//! - the **prologue** accrues every market's indices from their last update
//!   to the block's timestamp, at the rates fixed at the end of the previous
//!   block that touched the market; within the block indices are constants;
//! - the **epilogue** recomputes the rates of every market whose totals or
//!   configuration the block changed, from its final utilization and
//!   recorded deficit.
//!
//! Neither can fail on user input. An accrual or rate that would overflow
//! `u128` (only after centuries at the maximum rate) leaves the index, or
//! the rates, as they were, rather than halting the chain.

use parlend_ledger::exec::BlockContext;
use parlend_ledger::state::{AggregateError, Overlay, StateReader};
use parlend_ledger::{AssetId, StateKey};

use crate::interest::{accrue, rates};
use crate::market::{MarketConfig, MarketIndex, MarketTotals, config_key, index_key, totals_key};
use crate::state::{GlobalConfig, StateError, encode, load};

/// The prologue: accrues every market to the block's timestamp.
pub fn accrue_markets(context: &BlockContext, state: &mut Overlay<'_>) -> Result<(), StateError> {
    let Some(config) = load::<GlobalConfig>(state as &dyn StateReader, &StateKey::Config)? else {
        return Ok(());
    };
    for asset in &config.markets {
        let key = index_key(*asset);
        let index: MarketIndex = load(state as &dyn StateReader, &key)?.ok_or(StateError::Corrupt(key))?;
        let accrued = accrue(&index, context.timestamp)
            .unwrap_or(MarketIndex { last_update: index.last_update.max(context.timestamp), ..index });
        if accrued != index {
            state.set(key, Some(encode(&accrued)));
        }
    }
    Ok(())
}

/// The epilogue: new rates for every market whose totals or configuration
/// are among `touched` (sorted, as the executor gives them).
pub fn update_rates(state: &mut Overlay<'_>, touched: &[StateKey]) -> Result<(), StateError> {
    let mut assets: Vec<AssetId> = touched
        .iter()
        .filter_map(|key| match key {
            StateKey::MarketTotals { asset } | StateKey::MarketConfig { asset } => Some(*asset),
            _ => None,
        })
        .collect();
    assets.sort_unstable();
    assets.dedup();
    for asset in assets {
        update_market_rates(state, asset)?;
    }
    Ok(())
}

fn update_market_rates(state: &mut Overlay<'_>, asset: AssetId) -> Result<(), StateError> {
    let Some(market) = load::<MarketConfig>(state as &dyn StateReader, &config_key(asset))? else {
        return Ok(());
    };
    let key = index_key(asset);
    let index: MarketIndex = load(state as &dyn StateReader, &key)?.ok_or(StateError::Corrupt(key))?;
    let fields = state.fields(&totals_key(asset)).map_err(|error| match error {
        AggregateError::Corrupt => StateError::Corrupt(totals_key(asset)),
        AggregateError::Store(error) => StateError::Store(error),
    })?;
    let totals = MarketTotals::from_fields(&fields);
    let new_rates = totals.total_debt(&index).and_then(|debt| rates(&market.params, debt, totals.cash, totals.deficit));
    let Ok(new_rates) = new_rates else {
        return Ok(());
    };
    let updated = MarketIndex { borrow_rate: new_rates.borrow_rate, liquidity_rate: new_rates.liquidity_rate, ..index };
    if updated != index {
        state.set(key, Some(encode(&updated)));
    }
    Ok(())
}
