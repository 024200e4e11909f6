//! Positions: one user's deposits, debts and collateral flags, in one key.
//!
//! Amounts are *scaled*: a deposit of `a` underlying at liquidity index `LI`
//! is stored as `a / LI`, so interest accrues without touching the position.
//! The conversions below name their rounding, always in the protocol's
//! favour: a user is credited down and charged up.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::exec::TxView;
use parlend_ledger::{Address, AssetId, MathError, Ray, Rounding, StateKey};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::limits::POSITION_ASSETS_MAX;
use crate::state::{read, write};

/// One asset of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionEntry {
    /// The asset.
    pub asset: AssetId,
    /// Deposit, scaled by the liquidity index.
    pub scaled_deposit: u128,
    /// Debt, scaled by the borrow index.
    pub scaled_debt: u128,
    /// Whether the deposit counts as collateral.
    pub collateral: bool,
}

impl PositionEntry {
    fn new(asset: AssetId) -> PositionEntry {
        PositionEntry { asset, scaled_deposit: 0, scaled_debt: 0, collateral: false }
    }

    /// Whether the entry holds nothing.
    pub fn is_empty(&self) -> bool {
        self.scaled_deposit == 0 && self.scaled_debt == 0
    }

    /// Whether the deposit is enabled as collateral and not empty.
    pub fn is_collateral(&self) -> bool {
        self.collateral && self.scaled_deposit > 0
    }
}

/// A user's position, stored under `Position{owner}`; absent when empty
/// (no entries and no e-mode category).
///
/// Invariants (checked on every read and write): entries sorted by asset
/// and unique; none empty; a collateral flag only on a deposit; at most
/// [`POSITION_ASSETS_MAX`] entries; isolation debt only with debt.
#[derive(Debug, Clone, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// One entry per asset, sorted.
    pub entries: Vec<PositionEntry>,
    /// The e-mode category the user opted into; zero for none.
    pub emode_category: u8,
    /// USD cents this position added to its isolated collateral's isolation
    /// debt and has not yet released ([`crate::isolation`]).
    pub isolation_debt: u128,
}

impl Position {
    /// The entry of `asset`, if any.
    pub fn entry(&self, asset: AssetId) -> Option<&PositionEntry> {
        self.entries.iter().find(|entry| entry.asset == asset)
    }

    /// The entry of `asset`, mutable, if any.
    pub fn entry_mut(&mut self, asset: AssetId) -> Option<&mut PositionEntry> {
        self.entries.iter_mut().find(|entry| entry.asset == asset)
    }

    /// The entry of `asset`, inserted in order if missing (`PositionFull`
    /// past [`POSITION_ASSETS_MAX`]).
    pub fn entry_or_insert(&mut self, asset: AssetId) -> Result<&mut PositionEntry, Failure> {
        let slot = match self.entries.binary_search_by(|entry| entry.asset.cmp(&asset)) {
            Ok(slot) => slot,
            Err(slot) => {
                if self.entries.len() >= POSITION_ASSETS_MAX {
                    return Err(Failure::PositionFull);
                }
                self.entries.insert(slot, PositionEntry::new(asset));
                slot
            }
        };
        Ok(&mut self.entries[slot])
    }

    /// Whether the user owes anything.
    pub fn has_debt(&self) -> bool {
        self.entries.iter().any(|entry| entry.scaled_debt > 0)
    }

    /// Drops empty entries and collateral flags on empty deposits.
    pub fn normalize(&mut self) {
        for entry in &mut self.entries {
            entry.collateral &= entry.scaled_deposit > 0;
        }
        self.entries.retain(|entry| !entry.is_empty());
    }

    /// The entries enabled as collateral (with a deposit).
    pub fn collateral_entries(&self) -> impl Iterator<Item = &PositionEntry> {
        self.entries.iter().filter(|entry| entry.is_collateral())
    }

    /// Whether the key can be deleted: nothing in it.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.emode_category == 0 && self.isolation_debt == 0
    }

    /// Whether every invariant holds.
    pub fn is_valid(&self) -> bool {
        let sorted = self.entries.windows(2).all(|pair| pair[0].asset < pair[1].asset);
        let entries_ok =
            self.entries.iter().all(|entry| !entry.is_empty() && (!entry.collateral || entry.scaled_deposit > 0));
        let isolation_ok = self.isolation_debt == 0 || self.has_debt();
        sorted && entries_ok && isolation_ok && self.entries.len() <= POSITION_ASSETS_MAX
    }
}

/// The key of a user's position.
pub fn position_key(owner: Address) -> StateKey {
    StateKey::Position { owner }
}

/// Reads a position (empty when absent; `CorruptState` if an invariant fails).
pub fn read_position(view: &mut TxView<'_>, owner: Address) -> Result<Position, Failure> {
    let position: Position = read(view, &position_key(owner))?.unwrap_or_default();
    if position.is_valid() { Ok(position) } else { Err(Failure::CorruptState) }
}

/// Normalizes and stores a position; deletes the key when it is empty.
pub fn write_position(view: &mut TxView<'_>, owner: Address, mut position: Position) -> Result<(), Failure> {
    position.normalize();
    if !position.is_valid() {
        return Err(Failure::CorruptState);
    }
    if position.is_empty() {
        return view.delete(position_key(owner)).map_err(Failure::from);
    }
    write(view, position_key(owner), &position)
}

/// Underlying a scaled deposit is worth: `floor(scaled × LI)`.
pub fn deposit_balance(scaled: u128, liquidity_index: Ray) -> Result<u128, MathError> {
    liquidity_index.mul_int(scaled, Rounding::Down)
}

/// Underlying a scaled debt is worth: `ceil(scaled × BI)`.
pub fn debt_balance(scaled: u128, borrow_index: Ray) -> Result<u128, MathError> {
    borrow_index.mul_int(scaled, Rounding::Up)
}

/// Scaled units a deposit of `amount` mints: `floor(amount / LI)`.
pub fn scaled_deposit_minted(amount: u128, liquidity_index: Ray) -> Result<u128, MathError> {
    liquidity_index.div_int(amount, Rounding::Down)
}

/// Scaled units a withdrawal of `amount` burns: `ceil(amount / LI)`.
pub fn scaled_deposit_burned(amount: u128, liquidity_index: Ray) -> Result<u128, MathError> {
    liquidity_index.div_int(amount, Rounding::Up)
}

/// Scaled units a borrow of `amount` mints: `ceil(amount / BI)`.
pub fn scaled_debt_minted(amount: u128, borrow_index: Ray) -> Result<u128, MathError> {
    borrow_index.div_int(amount, Rounding::Up)
}

/// Scaled units a repayment of `amount` burns: `floor(amount / BI)`.
pub fn scaled_debt_burned(amount: u128, borrow_index: Ray) -> Result<u128, MathError> {
    borrow_index.div_int(amount, Rounding::Down)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(symbol: &str) -> AssetId {
        AssetId::new(symbol).unwrap()
    }

    #[test]
    fn entries_stay_sorted_bounded_and_normalized() {
        let mut position = Position::default();
        for symbol in ["WETH", "USDC", "WBTC"] {
            position.entry_or_insert(asset(symbol)).unwrap().scaled_deposit = 1;
        }
        let order: Vec<&str> = position.entries.iter().map(|e| e.asset.as_str()).collect();
        assert_eq!(order, ["USDC", "WBTC", "WETH"]);
        for index in 0..5 {
            position.entry_or_insert(asset(&format!("A{index}"))).unwrap().scaled_debt = 1;
        }
        assert_eq!(position.entries.len(), POSITION_ASSETS_MAX);
        assert_eq!(position.entry_or_insert(asset("ZZZ")).map(|_| ()), Err(Failure::PositionFull));
        // An existing entry is still reachable when full.
        assert!(position.entry_or_insert(asset("USDC")).is_ok());
        let usdc = position.entry_mut(asset("USDC")).unwrap();
        usdc.collateral = true;
        usdc.scaled_deposit = 0;
        position.normalize();
        assert!(position.entry(asset("USDC")).is_none());
        assert!(position.is_valid());
    }

    #[test]
    fn conversions_round_for_the_protocol() {
        let index = Ray(Ray::SCALE * 3 / 2); // 1.5
        assert_eq!(deposit_balance(3, index), Ok(4)); // 4.5 down
        assert_eq!(debt_balance(3, index), Ok(5)); // 4.5 up
        assert_eq!(scaled_deposit_minted(4, index), Ok(2)); // 2.67 down
        assert_eq!(scaled_deposit_burned(4, index), Ok(3)); // 2.67 up
        assert_eq!(scaled_debt_minted(4, index), Ok(3));
        assert_eq!(scaled_debt_burned(4, index), Ok(2));
        assert_eq!(scaled_deposit_minted(1, index), Ok(0));
    }
}
