//! Genesis: the initial state of a chain.

use std::collections::BTreeMap;

use parlend_ledger::state::{Value, encode_fields};
use parlend_ledger::{Address, Amount, AssetId, StateKey, Wad};
use serde::{Deserialize, Serialize};

use crate::emode::EModeCategory;
use crate::interest::rates;
use crate::limits::{DECIMALS_MAX, EMODE_CATEGORIES_MAX, MARKETS_MAX};
use crate::market::{MarketConfig, MarketIndex, MarketParams, config_key, index_key};
use crate::oracle::{PriceEntry, price_key};
use crate::state::{AssetInfo, BALANCE_FIELD, GlobalConfig, LiquidationConfig, balance_key, encode};

/// A market opened at genesis, with its first price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisMarket {
    /// The asset (registered in [`Genesis::assets`]).
    pub asset: AssetId,
    /// The market's parameters.
    pub params: MarketParams,
    /// USD per whole token, 18 decimals, posted at the genesis timestamp.
    pub price: Wad,
}

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account.
    pub address: Address,
    /// Wallet balances, base units.
    pub balances: BTreeMap<AssetId, Amount>,
}

/// A validator of the chain (validator mode; a single dev node has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisValidator {
    /// Its consensus key (an ed25519 public key, like an account address).
    pub public_key: Address,
    /// Its voting power.
    pub power: u64,
}

/// What a chain starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Genesis {
    /// The chain id, part of every signed transaction.
    pub chain_id: u64,
    /// Timestamp of block 0, seconds since the Unix epoch.
    pub timestamp: u64,
    /// The admin key.
    pub admin: Address,
    /// The oracle key.
    pub oracle: Address,
    /// The dev minter key (faucet), if any.
    pub minter: Option<Address>,
    /// Registered assets.
    pub assets: Vec<AssetInfo>,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Markets open from the start.
    #[serde(default)]
    pub markets: Vec<GenesisMarket>,
    /// Global liquidation parameters (Aave 3.3's when absent).
    #[serde(default)]
    pub liquidation: LiquidationConfig,
    /// E-mode categories (none when absent).
    #[serde(default)]
    pub emode_categories: Vec<EModeCategory>,
    /// The validator set, when the chain runs on several validators (none:
    /// a single node decides every block). Not part of the state: it is
    /// the consensus engine's, and blocks carry certificates against it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<GenesisValidator>,
}

/// Why a genesis is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// An asset is registered twice.
    #[error("asset {0} is registered twice")]
    DuplicateAsset(AssetId),
    /// A balance names an unregistered asset.
    #[error("account {account} holds unregistered asset {asset}")]
    UnknownAsset {
        /// The account.
        account: Address,
        /// The asset.
        asset: AssetId,
    },
    /// An account is listed twice.
    #[error("account {0} is listed twice")]
    DuplicateAccount(Address),
    /// Decimals above 30 cannot be priced without overflow.
    #[error("asset {0} has more than 30 decimals")]
    Decimals(AssetId),
    /// A market names an unregistered asset.
    #[error("market {0} is not a registered asset")]
    MarketAsset(AssetId),
    /// An asset has two markets.
    #[error("asset {0} has two markets")]
    DuplicateMarket(AssetId),
    /// More markets than the limit.
    #[error("more than {MARKETS_MAX} markets")]
    TooManyMarkets,
    /// A market's parameters are out of range.
    #[error("market {0} has invalid parameters")]
    MarketParams(AssetId),
    /// A market's price is zero.
    #[error("market {0} has a zero price")]
    ZeroPrice(AssetId),
    /// The liquidation parameters are out of range.
    #[error("invalid liquidation parameters")]
    Liquidation,
    /// An e-mode category is out of range, listed twice, or one too many.
    #[error("e-mode category {0} is invalid, listed twice or past the limit of {EMODE_CATEGORIES_MAX}")]
    EModeCategory(u8),
    /// A market names an e-mode category that does not exist.
    #[error("market {0} names an unknown e-mode category")]
    UnknownEModeCategory(AssetId),
}

impl Genesis {
    /// The initial state.
    pub fn state(&self) -> Result<BTreeMap<StateKey, Value>, GenesisError> {
        let mut assets = self.assets.clone();
        assets.sort_by_key(|info| info.id);
        if let Some(pair) = assets.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(GenesisError::DuplicateAsset(pair[0].id));
        }
        if let Some(info) = assets.iter().find(|info| info.decimals > DECIMALS_MAX) {
            return Err(GenesisError::Decimals(info.id));
        }
        self.liquidation.validate().map_err(|_| GenesisError::Liquidation)?;
        let mut config = GlobalConfig {
            admin: self.admin,
            oracle: self.oracle,
            minter: self.minter,
            assets,
            markets: Vec::new(),
            liquidation: self.liquidation,
            emode_categories: self.emode_categories()?,
        };
        let mut state = BTreeMap::new();
        self.market_state(&mut config, &mut state)?;
        for account in &self.accounts {
            for (asset, amount) in &account.balances {
                if config.asset(asset).is_none() {
                    return Err(GenesisError::UnknownAsset { account: account.address, asset: *asset });
                }
                let mut fields = [0u128; parlend_ledger::limits::AGGREGATE_FIELDS_MAX];
                fields[BALANCE_FIELD] = amount.0;
                let key = balance_key(account.address, *asset);
                if state.contains_key(&key) {
                    return Err(GenesisError::DuplicateAccount(account.address));
                }
                if let Some(value) = encode_fields(&fields) {
                    state.insert(key, value);
                }
            }
        }
        state.insert(StateKey::Config, encode(&config));
        Ok(state)
    }

    /// The e-mode categories, checked and sorted by id.
    fn emode_categories(&self) -> Result<Vec<EModeCategory>, GenesisError> {
        let mut categories = self.emode_categories.clone();
        categories.sort_by_key(|category| category.id);
        for (position, category) in categories.iter().enumerate() {
            let duplicate = position > 0 && categories[position - 1].id == category.id;
            if category.validate().is_err() || duplicate || position >= EMODE_CATEGORIES_MAX {
                return Err(GenesisError::EModeCategory(category.id));
            }
        }
        Ok(categories)
    }

    /// Adds each market's configuration, index and price, and lists it in `config`.
    fn market_state(
        &self,
        config: &mut GlobalConfig,
        state: &mut BTreeMap<StateKey, Value>,
    ) -> Result<(), GenesisError> {
        if self.markets.len() > MARKETS_MAX {
            return Err(GenesisError::TooManyMarkets);
        }
        for market in &self.markets {
            let asset = market.asset;
            let info = config.asset(&asset).ok_or(GenesisError::MarketAsset(asset))?;
            let decimals = info.decimals;
            let slot = match config.markets.binary_search(&asset) {
                Ok(_) => return Err(GenesisError::DuplicateMarket(asset)),
                Err(slot) => slot,
            };
            market.params.validate().map_err(|_| GenesisError::MarketParams(asset))?;
            let category = market.params.emode_category;
            if category != 0 && config.emode_category(category).is_none() {
                return Err(GenesisError::UnknownEModeCategory(asset));
            }
            if market.price == Wad::ZERO {
                return Err(GenesisError::ZeroPrice(asset));
            }
            let initial_rates = rates(&market.params, 0, 0, 0).map_err(|_| GenesisError::MarketParams(asset))?;
            config.markets.insert(slot, asset);
            state.insert(config_key(asset), encode(&MarketConfig { asset, decimals, params: market.params }));
            state.insert(index_key(asset), encode(&MarketIndex::initial(initial_rates, self.timestamp)));
            state.insert(price_key(asset), encode(&PriceEntry { price: market.price, timestamp: self.timestamp }));
        }
        Ok(())
    }
}
