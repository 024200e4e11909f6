//! The dev chain: deterministic keys, assets, balances and market
//! parameters, like anvil's. The one source of the dev markets' parameters
//! (the node's dev genesis, the generated logs and the contracts' own tests
//! use them).

use std::collections::BTreeMap;

use crate::emode::EModeCategory;
use crate::genesis::{Genesis, GenesisAccount, GenesisMarket};
use crate::market::MarketParams;
use crate::state::{AssetInfo, LiquidationConfig};
use parlend_ledger::primitives::sha256_tagged;
use parlend_ledger::{Amount, AssetId, Bps, Keypair, Ray, Wad};

/// The dev chain id.
pub const DEV_CHAIN_ID: u64 = 31_337;

/// Number of prefunded dev accounts.
pub const DEV_ACCOUNTS: u32 = 10;

/// The dev assets: symbol and decimals.
pub const DEV_ASSETS: [(&str, u8); 4] = [("USDC", 6), ("WETH", 18), ("WBTC", 8), ("TBILL", 6)];

/// Whole tokens each dev account starts with, per dev asset.
const DEV_FUNDING: [(&str, u128); 4] = [("USDC", 1_000_000), ("WETH", 1_000), ("WBTC", 50), ("TBILL", 1_000_000)];

/// Dev price staleness limit: one day, so a dev chain keeps working for a
/// day without an oracle bot (production markets use minutes).
pub const DEV_PRICE_STALENESS_SECONDS: u64 = 86_400;

/// Dev genesis prices, USD per whole token.
const DEV_PRICES_USD: [(&str, u128); 4] = [("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)];

/// `numerator / 1000` as a ray (rates and utilizations in tenths of a percent).
const fn per_mille(numerator: u128) -> Ray {
    Ray(numerator * (Ray::SCALE / 1_000))
}

/// The dev chain's stablecoin e-mode category.
pub const DEV_STABLECOIN_EMODE: u8 = 1;

/// Debt ceiling of the dev T-bill market: $10,000,000 (in cents).
pub const DEV_TBILL_DEBT_CEILING_CENTS: u64 = 10_000_000 * 100;

/// The dev e-mode categories: stablecoins (USDC) at Aave's stablecoin
/// e-mode figures: LTV 93%, liquidation threshold 95%, bonus 1%.
pub fn dev_emode_categories() -> Vec<EModeCategory> {
    vec![EModeCategory {
        id: DEV_STABLECOIN_EMODE,
        ltv: Bps(9_300),
        liquidation_threshold: Bps(9_500),
        liquidation_bonus: Bps(10_100),
    }]
}

/// Aave-like parameters of the dev markets: stablecoins at 90% optimal
/// utilization (USDC borrowable in isolation and in the stablecoin e-mode
/// category), volatile assets at 45% (WBTC) and 80% (WETH), and a
/// tokenized T-bill as lower-LTV, isolated collateral (a $10M debt
/// ceiling) with a supply cap, no borrowing and no flash loans. Any other
/// symbol gets USDC's rates and risk parameters without its e-mode
/// category or isolation flag (a template for new markets).
pub fn dev_market_params(symbol: &str) -> MarketParams {
    let template = MarketParams {
        ltv: Bps(7_700),
        liquidation_threshold: Bps(8_000),
        liquidation_bonus: Bps(10_450),
        liquidation_protocol_fee: Bps(1_000),
        reserve_factor: Bps(1_000),
        base_rate: Ray::ZERO,
        slope1: per_mille(40),
        slope2: per_mille(600),
        optimal_utilization: per_mille(900),
        supply_cap: Amount(2_000_000_000 * 1_000_000),
        borrow_cap: Amount(1_800_000_000 * 1_000_000),
        flash_loan_fee: Bps(5),
        price_staleness_seconds: DEV_PRICE_STALENESS_SECONDS,
        borrowing_enabled: true,
        paused: false,
        frozen: false,
        debt_ceiling_cents: 0,
        borrowable_in_isolation: false,
        flash_loan_enabled: true,
        emode_category: 0,
    };
    match symbol {
        "USDC" => MarketParams { borrowable_in_isolation: true, emode_category: DEV_STABLECOIN_EMODE, ..template },
        "WETH" => MarketParams {
            ltv: Bps(8_000),
            liquidation_threshold: Bps(8_300),
            liquidation_bonus: Bps(10_500),
            reserve_factor: Bps(1_500),
            slope1: per_mille(27),
            slope2: per_mille(800),
            optimal_utilization: per_mille(800),
            supply_cap: Amount(2_000_000 * 10u128.pow(18)),
            borrow_cap: Amount(1_800_000 * 10u128.pow(18)),
            ..template
        },
        "WBTC" => MarketParams {
            ltv: Bps(7_300),
            liquidation_threshold: Bps(7_800),
            liquidation_bonus: Bps(10_500),
            reserve_factor: Bps(2_000),
            slope1: per_mille(40),
            slope2: per_mille(3_000),
            optimal_utilization: per_mille(450),
            supply_cap: Amount(40_000 * 10u128.pow(8)),
            borrow_cap: Amount(30_000 * 10u128.pow(8)),
            ..template
        },
        "TBILL" => MarketParams {
            ltv: Bps(5_000),
            liquidation_threshold: Bps(6_000),
            liquidation_bonus: Bps(10_500),
            supply_cap: Amount(50_000_000 * 1_000_000),
            borrow_cap: Amount::ZERO,
            borrowing_enabled: false,
            debt_ceiling_cents: DEV_TBILL_DEBT_CEILING_CENTS,
            flash_loan_enabled: false,
            ..template
        },
        _ => template,
    }
}

/// A name that is not one of the dev markets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a dev market (USDC, WETH, WBTC, TBILL)")]
pub struct NotADevMarket(pub String);

/// The parameters of the dev market `symbol` (a starting point for a new
/// market: `like = "USDC"`, `--like USDC`).
pub fn dev_params(symbol: &str) -> Result<MarketParams, NotADevMarket> {
    if DEV_ASSETS.iter().any(|(dev, _)| *dev == symbol) {
        Ok(dev_market_params(symbol))
    } else {
        Err(NotADevMarket(symbol.to_string()))
    }
}

/// The dev markets: one per dev asset, priced at the genesis timestamp.
pub fn dev_markets() -> Vec<GenesisMarket> {
    DEV_PRICES_USD
        .iter()
        .map(|(symbol, price)| GenesisMarket {
            asset: AssetId::from_static(symbol),
            params: dev_market_params(symbol),
            price: Wad(price * Wad::SCALE),
        })
        .collect()
}

/// The `index`-th dev key. Deterministic and public: never hold value with it.
pub fn dev_keypair(index: u32) -> Keypair {
    let seed = sha256_tagged(b"parlend/dev-account", &[&index.to_be_bytes()]);
    Keypair::from_seed(&seed.0)
}

/// The dev minter key, used by `dev_faucet`.
pub fn dev_minter() -> Keypair {
    let seed = sha256_tagged(b"parlend/dev-minter", &[]);
    Keypair::from_seed(&seed.0)
}

/// Timestamp of the dev genesis block: 2026-01-01T00:00:00Z. Fixed, so the
/// dev genesis (and its block hash) is the same on every machine and start.
pub const DEV_GENESIS_TIMESTAMP: u64 = 1_767_225_600;

/// The dev genesis: dev account 0 is admin and oracle.
pub fn dev_genesis() -> Genesis {
    let timestamp = DEV_GENESIS_TIMESTAMP;
    let admin = dev_keypair(0).address();
    let assets: Vec<AssetInfo> = DEV_ASSETS
        .iter()
        .map(|(symbol, decimals)| AssetInfo { id: AssetId::from_static(symbol), decimals: *decimals })
        .collect();
    let balances: BTreeMap<AssetId, Amount> = DEV_FUNDING
        .iter()
        .map(|(symbol, whole)| {
            let decimals = DEV_ASSETS.iter().find(|(s, _)| s == symbol).map_or(0, |(_, d)| *d);
            (AssetId::from_static(symbol), Amount(whole * 10u128.pow(u32::from(decimals))))
        })
        .collect();
    let accounts = (0..DEV_ACCOUNTS)
        .map(|index| GenesisAccount { address: dev_keypair(index).address(), balances: balances.clone() })
        .collect();
    Genesis {
        chain_id: DEV_CHAIN_ID,
        timestamp,
        admin,
        oracle: admin,
        minter: Some(dev_minter().address()),
        assets,
        accounts,
        markets: dev_markets(),
        liquidation: LiquidationConfig::default(),
        emode_categories: dev_emode_categories(),
        validators: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_are_deterministic_and_distinct() {
        assert_eq!(dev_keypair(3).address(), dev_keypair(3).address());
        let mut addresses: Vec<_> = (0..DEV_ACCOUNTS).map(|i| dev_keypair(i).address()).collect();
        addresses.push(dev_minter().address());
        addresses.sort();
        addresses.dedup();
        assert_eq!(addresses.len(), DEV_ACCOUNTS as usize + 1);
        let genesis = dev_genesis();
        assert_eq!(genesis.accounts.len(), 10);
        let state = genesis.state().unwrap();
        assert!(state.len() > 40);
    }

    #[test]
    fn dev_markets_are_valid_and_priced() {
        let markets = dev_markets();
        assert_eq!(markets.len(), DEV_ASSETS.len());
        for market in &markets {
            assert_eq!(market.params.validate(), Ok(()), "{}", market.asset);
            assert!(market.price > Wad::ZERO);
        }
        let state = dev_genesis().state().unwrap();
        for (symbol, _) in DEV_ASSETS {
            let asset = AssetId::from_static(symbol);
            assert!(state.contains_key(&parlend_ledger::StateKey::MarketConfig { asset }));
            assert!(state.contains_key(&parlend_ledger::StateKey::Price { asset }));
        }
    }
}
