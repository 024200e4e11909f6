//! Oracle prices and valuation.
//!
//! A price is USD per *whole* token as a [`Wad`] (18 decimals, so $1 is
//! `1e18`), posted with the timestamp it was observed at. The value of an
//! amount of base units is `amount × price / 10^decimals`, a `Wad` of USD:
//! collateral values round down, debt values round up.
//!
//! A price older than the market's `price_staleness_seconds`, or no price
//! at all, blocks every action that relies on values: borrowing,
//! withdrawing with debt, turning collateral off and liquidating. Deposits
//! and repayments never read a price, so they are never blocked by one.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::exec::TxView;
use parlend_ledger::primitives::mul_div;
use parlend_ledger::{AssetId, MathError, Rounding, StateKey, Wad};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::market::MarketConfig;
use crate::state::{read, write};
use crate::vm::Context;

/// A posted price, stored under `Price{asset}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceEntry {
    /// USD per whole token, 18 decimals.
    pub price: Wad,
    /// When the price was observed, seconds since the Unix epoch.
    pub timestamp: u64,
}

impl PriceEntry {
    /// Seconds between the observation and `now` (zero if in the future).
    pub fn age(&self, now: u64) -> u64 {
        now.saturating_sub(self.timestamp)
    }

    /// Whether the price is older than `staleness_seconds` at `now`.
    pub fn is_stale(&self, now: u64, staleness_seconds: u64) -> bool {
        self.age(now) > staleness_seconds
    }
}

/// The key of an asset's price.
pub fn price_key(asset: AssetId) -> StateKey {
    StateKey::Price { asset }
}

/// One whole token in base units: `10^decimals`.
pub fn unit(decimals: u8) -> Result<u128, MathError> {
    10u128.checked_pow(u32::from(decimals)).ok_or(MathError::Overflow)
}

/// USD value of `amount` base units at `price`.
pub fn value(amount: u128, price: Wad, decimals: u8, rounding: Rounding) -> Result<Wad, MathError> {
    mul_div(amount, price.0, unit(decimals)?, rounding).map(Wad)
}

/// Base units worth `usd` at `price`.
pub fn amount_for_value(usd: Wad, price: Wad, decimals: u8, rounding: Rounding) -> Result<u128, MathError> {
    mul_div(usd.0, unit(decimals)?, price.0, rounding)
}

/// The market's price at `now`: `PriceMissing` when there is none,
/// `PriceStale` when it is older than the market allows.
pub fn read_fresh_price(view: &mut TxView<'_>, market: &MarketConfig, now: u64) -> Result<Wad, Failure> {
    let asset = market.asset;
    let entry: PriceEntry = read(view, &price_key(asset))?.ok_or(Failure::PriceMissing { asset })?;
    let limit = market.params.price_staleness_seconds;
    if entry.is_stale(now, limit) {
        return Err(Failure::PriceStale { asset, age: entry.age(now), limit });
    }
    Ok(entry.price)
}

/// `SetPrice`: the oracle posts a price for a registered asset. Positive,
/// not from the future (`InvalidPrice`), and not older than the stored one
/// (`PriceOutdated`; the same timestamp may be corrected).
pub fn set_price(
    view: &mut TxView<'_>,
    context: &Context<'_>,
    asset: AssetId,
    entry: PriceEntry,
) -> Result<(), Failure> {
    if context.signer != context.config.oracle {
        return Err(Failure::Unauthorized);
    }
    context.config.asset(&asset).ok_or(Failure::UnknownAsset)?;
    if entry.price == Wad::ZERO || entry.timestamp > context.now {
        return Err(Failure::InvalidPrice);
    }
    let stored: Option<PriceEntry> = read(view, &price_key(asset))?;
    if stored.is_some_and(|stored| entry.timestamp < stored.timestamp) {
        return Err(Failure::PriceOutdated);
    }
    write(view, price_key(asset), &entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_as_named() {
        // 1 base unit of a 6-decimal token at $1 is $0.000001.
        assert_eq!(value(1, Wad::ONE, 6, Rounding::Down), Ok(Wad(1_000_000_000_000)));
        // 1 wei at $3,000.5 = 3000.5e-18 USD: 3000 wad down, 3001 up.
        let price = Wad(3_000_500_000_000_000_000_000);
        assert_eq!(value(1, price, 18, Rounding::Down), Ok(Wad(3_000)));
        assert_eq!(value(1, price, 18, Rounding::Up), Ok(Wad(3_001)));
        // $60,000 buys exactly one 8-decimal WBTC.
        let btc = Wad(60_000 * Wad::SCALE);
        assert_eq!(amount_for_value(btc, btc, 8, Rounding::Down), Ok(100_000_000));
        assert_eq!(unit(39), Err(MathError::Overflow));
    }

    #[test]
    fn staleness_is_strictly_older_than_the_limit() {
        let entry = PriceEntry { price: Wad::ONE, timestamp: 100 };
        assert!(!entry.is_stale(160, 60));
        assert!(entry.is_stale(161, 60));
        assert_eq!(entry.age(50), 0);
    }
}
