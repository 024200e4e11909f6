//! Typed state values and how they map onto ledger keys.
//!
//! Every value is stored borsh-encoded under one [`StateKey`]. Aggregates
//! (wallet balances, market totals) are stored as ledger aggregate fields so
//! that transactions can change them with commutative deltas.
//!
//! | key | value | written by |
//! |-----|-------|------------|
//! | `Config` | [`GlobalConfig`] | genesis, admin instructions (rare) |
//! | `Balance{owner, asset}` | aggregate, field [`BALANCE_FIELD`] | transfers, lending (deltas) |
//! | `Position{owner}` | [`crate::position::Position`] | the owner's lending, liquidations |
//! | `MarketConfig{asset}` | [`crate::market::MarketConfig`] | `CreateMarket`, `UpdateMarket` |
//! | `MarketIndex{asset}` | [`crate::market::MarketIndex`] | block prologue and epilogue, `CreateMarket` |
//! | `MarketTotals{asset}` | aggregate, see [`crate::market::MarketTotals`] | lending (deltas only) |
//! | `Price{asset}` | [`crate::oracle::PriceEntry`] | `SetPrice` |

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::exec::TxView;
use parlend_ledger::state::{StateReader, StoreError, Value};
use parlend_ledger::{Address, AssetId, Bps, StateKey, Wad};
use serde::{Deserialize, Serialize};

use crate::emode::EModeCategory;
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
    /// Assets with a market, sorted (at most [`crate::limits::MARKETS_MAX`]).
    pub markets: Vec<AssetId>,
    /// Global liquidation parameters.
    pub liquidation: LiquidationConfig,
    /// E-mode categories, sorted by id (at most
    /// [`crate::limits::EMODE_CATEGORIES_MAX`]).
    pub emode_categories: Vec<EModeCategory>,
}

/// Aave 3.3's global liquidation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiquidationConfig {
    /// Above this health factor (and for large enough positions) only
    /// [`LiquidationConfig::close_factor`] of the debt may be liquidated at
    /// once; at or below it, all of it (Aave's `CLOSE_FACTOR_HF_THRESHOLD`).
    pub close_factor_hf_threshold: Wad,
    /// The partial close factor applies only when both the collateral and
    /// the debt of the liquidated reserves are worth at least this much,
    /// USD (Aave's `MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD`).
    pub min_close_factor_base: Wad,
    /// A partial liquidation must leave at least this much debt and
    /// collateral, USD, in the liquidated reserves (Aave's `MIN_LEFTOVER_BASE`).
    pub min_leftover_base: Wad,
    /// Share of the total debt value a partial liquidation may cover
    /// (Aave's `DEFAULT_LIQUIDATION_CLOSE_FACTOR`).
    pub close_factor: Bps,
}

/// Aave 3.3: 0.95.
pub const CLOSE_FACTOR_HF_THRESHOLD_DEFAULT: Wad = Wad(950_000_000_000_000_000);
/// Aave 3.3: $2,000.
pub const MIN_CLOSE_FACTOR_BASE_DEFAULT: Wad = Wad(2_000 * Wad::SCALE);
/// Aave 3.3: $1,000.
pub const MIN_LEFTOVER_BASE_DEFAULT: Wad = Wad(1_000 * Wad::SCALE);
/// Aave 3.3: 50%.
pub const CLOSE_FACTOR_DEFAULT: Bps = Bps(5_000);

impl Default for LiquidationConfig {
    fn default() -> LiquidationConfig {
        LiquidationConfig {
            close_factor_hf_threshold: CLOSE_FACTOR_HF_THRESHOLD_DEFAULT,
            min_close_factor_base: MIN_CLOSE_FACTOR_BASE_DEFAULT,
            min_leftover_base: MIN_LEFTOVER_BASE_DEFAULT,
            close_factor: CLOSE_FACTOR_DEFAULT,
        }
    }
}

impl LiquidationConfig {
    /// Checks the ranges: the threshold is a health factor below one, the
    /// close factor a positive share.
    pub fn validate(&self) -> Result<(), Failure> {
        let threshold_ok = self.close_factor_hf_threshold <= Wad::ONE;
        let close_factor_ok = self.close_factor > Bps::ZERO && self.close_factor <= Bps::ONE;
        if threshold_ok && close_factor_ok { Ok(()) } else { Err(Failure::InvalidParameters) }
    }
}

impl GlobalConfig {
    /// The registered asset `id`.
    pub fn asset(&self, id: &AssetId) -> Option<&AssetInfo> {
        self.assets.binary_search_by(|info| info.id.cmp(id)).ok().map(|index| &self.assets[index])
    }

    /// Whether `asset` has a market.
    pub fn has_market(&self, asset: &AssetId) -> bool {
        self.markets.binary_search(asset).is_ok()
    }

    /// The e-mode category `id`.
    pub fn emode_category(&self, id: u8) -> Option<&EModeCategory> {
        self.emode_categories
            .binary_search_by_key(&id, |category| category.id)
            .ok()
            .map(|index| &self.emode_categories[index])
    }

    /// Whether `signer` may mint.
    pub fn may_mint(&self, signer: &Address) -> bool {
        *signer == self.admin || self.minter.as_ref() == Some(signer)
    }
}

/// Encodes a value for storage.
pub fn encode<T: BorshSerialize>(value: &T) -> Value {
    Value::from(parlend_ledger::encode_canonical(value))
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

/// Encodes and stores a value through a transaction view.
pub fn write<T: BorshSerialize>(view: &mut TxView<'_>, key: StateKey, value: &T) -> Result<(), Failure> {
    view.put(key, encode(value)).map_err(Failure::from)
}

/// Reads the global configuration.
pub fn read_config(view: &mut TxView<'_>) -> Result<GlobalConfig, Failure> {
    read(view, &StateKey::Config)?.ok_or(Failure::CorruptState)
}

/// Why state could not be read outside a transaction (block hooks, queries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not decode.
    #[error("corrupt value at {0}")]
    Corrupt(StateKey),
}

impl From<StateError> for StoreError {
    fn from(error: StateError) -> StoreError {
        match error {
            StateError::Store(error) => error,
            StateError::Corrupt(key) => StoreError::corrupt_key(&key, "does not decode"),
        }
    }
}

/// Reads and decodes a value from any state (a store, an overlay).
pub fn load<T: BorshDeserialize>(reader: &dyn StateReader, key: &StateKey) -> Result<Option<T>, StateError> {
    match reader.get(key)? {
        Some(bytes) => borsh::from_slice(&bytes).map(Some).map_err(|_| StateError::Corrupt(*key)),
        None => Ok(None),
    }
}

/// The key of a wallet balance.
pub fn balance_key(owner: Address, asset: AssetId) -> StateKey {
    StateKey::Balance { owner, asset }
}
