//! Admin instructions: markets, keys and global parameters.
//!
//! Every one checks the signer first (`Unauthorized`). They write `Config`
//! or a market's configuration, keys every transaction reads, so they
//! serialise a block; they are rare by design.

use parlend_ledger::exec::TxView;
use parlend_ledger::{Address, AssetId, StateKey};

use crate::failure::Failure;
use crate::interest::rates;
use crate::limits::MARKETS_MAX;
use crate::market::{
    ISOLATION_DEBT_FIELD, MarketConfig, MarketIndex, MarketParams, SCALED_SUPPLY_FIELD, config_key, index_key,
    read_market, totals_key,
};
use crate::state::{GlobalConfig, LiquidationConfig, write};
use crate::vm::Context;

fn require_admin(context: &Context<'_>) -> Result<(), Failure> {
    if context.signer == context.config.admin { Ok(()) } else { Err(Failure::Unauthorized) }
}

/// `CreateMarket`: opens a market for a registered asset, with both
/// indices at 1.0 and the rates of an empty market.
pub fn create_market(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    asset: AssetId,
    params: MarketParams,
) -> Result<(), Failure> {
    require_admin(context)?;
    let info = context.config.asset(&asset).ok_or(Failure::UnknownAsset)?;
    if context.config.has_market(&asset) {
        return Err(Failure::MarketExists);
    }
    if context.config.markets.len() >= MARKETS_MAX {
        return Err(Failure::TooManyMarkets);
    }
    validate_params(context, &params)?;
    let market = MarketConfig { asset, decimals: info.decimals, params };
    let index = MarketIndex::initial(rates(&params, 0, 0, 0)?, context.now);
    let mut config = context.config.clone();
    let slot = config.markets.binary_search(&asset).unwrap_or_else(|slot| slot);
    config.markets.insert(slot, asset);

    write(view, config_key(asset), &market)?;
    write(view, index_key(asset), &index)?;
    write(view, StateKey::Config, &config)
}

/// Checks a market's parameters: their ranges (`InvalidParameters`) and
/// their e-mode category (`UnknownEModeCategory`).
fn validate_params(context: &Context<'_>, params: &MarketParams) -> Result<(), Failure> {
    params.validate()?;
    let category = params.emode_category;
    if category != 0 && context.config.emode_category(category).is_none() {
        return Err(Failure::UnknownEModeCategory);
    }
    Ok(())
}

/// `UpdateMarket`: replaces a market's parameters. Rates follow from the
/// end of the block (the epilogue sees the configuration touched).
///
/// Isolation changes as in Aave's `setDebtCeiling`: an asset becomes an
/// isolated collateral only while nobody supplies it
/// (`MarketHasSuppliers`), and the isolation debt starts from zero when
/// isolation is turned on or off.
pub fn update_market(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    asset: AssetId,
    params: MarketParams,
) -> Result<(), Failure> {
    require_admin(context)?;
    let market = read_market(view, asset)?;
    validate_params(context, &params)?;
    if market.params.is_isolated() != params.is_isolated() {
        let key = totals_key(asset);
        let mut fields = view.fields(&key)?;
        if params.is_isolated() && fields[SCALED_SUPPLY_FIELD] > 0 {
            return Err(Failure::MarketHasSuppliers);
        }
        if fields[ISOLATION_DEBT_FIELD] > 0 {
            fields[ISOLATION_DEBT_FIELD] = 0;
            view.set_fields(key, fields)?;
        }
    }
    write(view, config_key(asset), &MarketConfig { params, ..market })
}

/// `SetOracle`, `SetAdmin`, `SetMinter`, `SetLiquidationConfig`: one change
/// to the global configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigChange {
    /// A new oracle key.
    Oracle(Address),
    /// A new admin key.
    Admin(Address),
    /// A new minter key, or none.
    Minter(Option<Address>),
    /// New liquidation parameters.
    Liquidation(LiquidationConfig),
}

/// Applies a [`ConfigChange`].
pub fn change_config(view: &mut TxView<'_>, context: &Context<'_>, change: ConfigChange) -> Result<(), Failure> {
    require_admin(context)?;
    let mut config: GlobalConfig = context.config.clone();
    match change {
        ConfigChange::Oracle(oracle) => config.oracle = oracle,
        ConfigChange::Admin(admin) => config.admin = admin,
        ConfigChange::Minter(minter) => config.minter = minter,
        ConfigChange::Liquidation(liquidation) => {
            liquidation.validate()?;
            config.liquidation = liquidation;
        }
    }
    write(view, StateKey::Config, &config)
}
