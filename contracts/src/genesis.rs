//! Genesis: the initial state of a chain.

use std::collections::BTreeMap;

use parlend_ledger::state::{Value, encode_fields};
use parlend_ledger::{Address, Amount, AssetId, StateKey};
use serde::{Deserialize, Serialize};

use crate::state::{AssetInfo, BALANCE_FIELD, GlobalConfig, balance_key, encode};

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account.
    pub address: Address,
    /// Wallet balances, base units.
    pub balances: BTreeMap<AssetId, Amount>,
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
}

impl Genesis {
    /// The initial state.
    pub fn state(&self) -> Result<BTreeMap<StateKey, Value>, GenesisError> {
        let mut assets = self.assets.clone();
        assets.sort_by_key(|info| info.id);
        if let Some(pair) = assets.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(GenesisError::DuplicateAsset(pair[0].id));
        }
        if let Some(info) = assets.iter().find(|info| info.decimals > 30) {
            return Err(GenesisError::Decimals(info.id));
        }
        let config = GlobalConfig { admin: self.admin, oracle: self.oracle, minter: self.minter, assets };
        let mut state = BTreeMap::new();
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
}
