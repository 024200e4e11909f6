//! The dev chain: deterministic keys, assets and balances, like anvil's.

use std::collections::BTreeMap;

use parlend_contracts::genesis::{Genesis, GenesisAccount};
use parlend_contracts::state::AssetInfo;
use parlend_ledger::primitives::sha256_tagged;
use parlend_ledger::{Amount, AssetId, Keypair};

/// The dev chain id.
pub const DEV_CHAIN_ID: u64 = 31_337;

/// Number of prefunded dev accounts.
pub const DEV_ACCOUNTS: u32 = 10;

/// The dev assets: symbol and decimals.
pub const DEV_ASSETS: [(&str, u8); 4] = [("USDC", 6), ("WETH", 18), ("WBTC", 8), ("TBILL", 6)];

/// Whole tokens each dev account starts with, per dev asset.
const DEV_FUNDING: [(&str, u128); 4] = [("USDC", 1_000_000), ("WETH", 1_000), ("WBTC", 50), ("TBILL", 1_000_000)];

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
}
