//! Typed state values and how they map onto ledger keys.
//!
//! Every value is stored borsh-encoded under one [`StateKey`]. Aggregates
//! (wallet balances, market totals) are stored as ledger aggregate fields so
//! that transactions can change them with commutative deltas.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::exec::TxView;
use parlend_ledger::state::Value;
use parlend_ledger::{Address, AssetId, StateKey};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// Field of a `Balance` aggregate holding the wallet balance.
pub const BALANCE_FIELD: usize = 0;

/// A registered asset.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct AssetInfo {
    /// Its id (symbol).
    pub id: AssetId,
    /// Decimals of one whole token (USDC 6, WETH 18, WBTC 8).
    pub decimals: u8,
}

/// Global configuration, stored under [`StateKey::Config`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalConfig {
    /// May create and update markets, mint, rotate keys.
    pub admin: Address,
    /// May post prices.
    pub oracle: Address,
    /// May mint (the dev faucet); `None` outside dev chains.
    pub minter: Option<Address>,
    /// Registered assets, sorted by id.
    pub assets: Vec<AssetInfo>,
}

impl GlobalConfig {
    /// The registered asset `id`.
    pub fn asset(&self, id: &AssetId) -> Option<&AssetInfo> {
        self.assets.binary_search_by(|info| info.id.cmp(id)).ok().map(|index| &self.assets[index])
    }

    /// Whether `signer` may mint.
    pub fn may_mint(&self, signer: &Address) -> bool {
        *signer == self.admin || self.minter.as_ref() == Some(signer)
    }
}

/// Encodes a value for storage.
pub fn encode<T: BorshSerialize>(value: &T) -> Value {
    Value::from(borsh::to_vec(value).unwrap_or_default())
}

/// Decodes a stored value; a value that does not decode is corrupt state.
pub fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, Failure> {
    borsh::from_slice(bytes).map_err(|_| Failure::CorruptState)
}

/// Reads and decodes a value through a transaction view.
pub fn read<T: BorshDeserialize>(view: &mut TxView<'_>, key: &StateKey) -> Result<Option<T>, Failure> {
    match view.get(key)? {
        Some(bytes) => decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Reads the global configuration.
pub fn read_config(view: &mut TxView<'_>) -> Result<GlobalConfig, Failure> {
    read(view, &StateKey::Config)?.ok_or(Failure::CorruptState)
}

/// The key of a wallet balance.
pub fn balance_key(owner: Address, asset: AssetId) -> StateKey {
    StateKey::Balance { owner, asset }
}
