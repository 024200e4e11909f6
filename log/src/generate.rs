//! A generated lending workload, written as a log: the input of long
//! replays (`parlend log generate`, the 100,000-transaction replay test).
//!
//! A fixed set of accounts (seeded keys, funded at genesis) each cycle
//! through supplying USDC, posting WETH collateral, borrowing USDC,
//! transferring, repaying, withdrawing; the oracle moves WETH and WBTC
//! prices every few blocks, and each block is 12 seconds after the last,
//! so interest accrues throughout. Every block is executed by the node's
//! [`App`] (on a [`StateOnlyStore`]) and written as soon as it is
//! committed, so generating a log of any length takes memory bounded by the
//! accounts, not by the log. The same seed gives the same log, byte for byte.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use parlend_contracts::genesis::{Genesis, GenesisAccount};
use parlend_contracts::state::{AssetInfo, LiquidationConfig};
use parlend_contracts::{AmountOrAll, Instruction, VerifiedTransaction};
use parlend_ledger::exec::{BlockContext, prepare_transaction};
use parlend_ledger::primitives::sha256_tagged;
use parlend_ledger::{Amount, AssetId, Keypair, Wad};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::format::{Compression, LogTrailer, LogWriter};
use crate::replay::StateOnlyStore;
use parlend_app::App;
use parlend_contracts::dev::{DEV_ASSETS, dev_emode_categories, dev_markets};

/// Chain id of generated workloads.
pub const WORKLOAD_CHAIN_ID: u64 = 7_357;
/// Genesis timestamp of generated workloads (2026-01-01T00:00:00Z).
pub const WORKLOAD_GENESIS_TIMESTAMP: u64 = 1_767_225_600;
/// Seconds between generated blocks.
pub const WORKLOAD_BLOCK_SECONDS: u64 = 12;
/// The oracle posts prices every this many blocks.
const PRICE_EVERY_BLOCKS: u64 = 10;
/// Steps of an account's cycle.
const CYCLE_STEPS: u8 = 7;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadConfig {
    /// Transactions in the log (price updates included).
    pub transactions: u64,
    /// Transactions per block; at most `accounts`, so a block never holds
    /// two transactions of one account.
    pub block_size: usize,
    /// Accounts taking part.
    pub accounts: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Executor threads (0: one per core).
    pub threads: usize,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig { transactions: 100_000, block_size: 500, accounts: 2_000, seed: 7, threads: 0 }
    }
}

fn asset(symbol: &'static str) -> AssetId {
    AssetId::from_static(symbol)
}

/// Whole tokens of a dev asset in base units.
fn whole(symbol: &str, tokens: u128) -> Amount {
    let decimals = DEV_ASSETS.iter().find(|(name, _)| *name == symbol).map_or(0, |(_, decimals)| *decimals);
    Amount(tokens * 10u128.pow(u32::from(decimals)))
}

/// The workload's keys: the oracle (and admin) first, then the accounts.
fn keys(seed: u64, count: usize) -> Vec<Keypair> {
    (0..=count)
        .map(|index| {
            let tag = sha256_tagged(b"parlend/workload-key", &[&seed.to_be_bytes(), &(index as u64).to_be_bytes()]);
            Keypair::from_seed(&tag.0)
        })
        .collect()
}

/// The workload's genesis: the dev markets, every account funded.
pub fn workload_genesis(keys: &[Keypair]) -> Genesis {
    let balances: BTreeMap<AssetId, Amount> = [
        (asset("USDC"), whole("USDC", 1_000_000)),
        (asset("WETH"), whole("WETH", 1_000)),
        (asset("WBTC"), whole("WBTC", 50)),
    ]
    .into_iter()
    .collect();
    Genesis {
        chain_id: WORKLOAD_CHAIN_ID,
        timestamp: WORKLOAD_GENESIS_TIMESTAMP,
        admin: keys[0].address(),
        oracle: keys[0].address(),
        minter: None,
        assets: DEV_ASSETS
            .iter()
            .map(|(symbol, decimals)| AssetInfo { id: asset(symbol), decimals: *decimals })
            .collect(),
        accounts: keys
            .iter()
            .map(|key| GenesisAccount { address: key.address(), balances: balances.clone() })
            .collect(),
        markets: dev_markets(),
        liquidation: LiquidationConfig::default(),
        emode_categories: dev_emode_categories(),
        validators: Vec::new(),
    }
}

/// The instruction of an account at step `step` of its cycle.
fn cycle_instruction(step: u8, rng: &mut StdRng, keys: &[Keypair]) -> Instruction {
    let usdc = asset("USDC");
    let weth = asset("WETH");
    match step % CYCLE_STEPS {
        0 => Instruction::Deposit { asset: usdc, amount: whole("USDC", rng.random_range(1_000..10_000)) },
        1 => Instruction::Deposit { asset: weth, amount: whole("WETH", rng.random_range(1..5)) },
        2 => Instruction::Borrow { asset: usdc, amount: whole("USDC", rng.random_range(100..1_500)) },
        3 => {
            let to = keys[rng.random_range(1..keys.len())].address();
            Instruction::Transfer { to, asset: usdc, amount: whole("USDC", rng.random_range(1..50)) }
        }
        4 => Instruction::Repay { asset: usdc, amount: AmountOrAll::All, on_behalf_of: None },
        5 => Instruction::Withdraw { asset: weth, amount: AmountOrAll::All },
        _ => {
            Instruction::Withdraw { asset: usdc, amount: AmountOrAll::Amount(whole("USDC", rng.random_range(1..500))) }
        }
    }
}

/// Generates the workload, writing each block to `out` as it commits;
/// `progress` is told the transactions written so far after each block.
pub fn generate<W: Write>(
    config: &WorkloadConfig,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<LogTrailer> {
    anyhow::ensure!(config.accounts > 0 && config.block_size > 0, "accounts and block size must be positive");
    anyhow::ensure!(config.block_size <= config.accounts, "a block may not hold two transactions of one account");
    let keys = keys(config.seed, config.accounts);
    let genesis = workload_genesis(&keys);
    let app = App::open(Arc::new(StateOnlyStore::new()), &genesis, config.threads)?;
    let genesis_hash = app.info().hash;
    let mut writer = LogWriter::new(out, &genesis, genesis_hash, Compression::Zstd)?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut steps = vec![0u8; keys.len()];
    let mut nonces = vec![0u64; keys.len()];
    let mut prices = [(asset("WETH"), 3_000 * Wad::SCALE), (asset("WBTC"), 60_000 * Wad::SCALE)];
    let mut next_account = 1;
    let mut written = 0u64;
    while written < config.transactions {
        let head = app.info();
        let height = head.height + 1;
        let timestamp = head.header.timestamp + WORKLOAD_BLOCK_SECONDS;
        let context = BlockContext { chain_id: WORKLOAD_CHAIN_ID, height, timestamp };
        let size = usize::try_from(config.transactions - written)
            .map_or(config.block_size, |left| left.min(config.block_size));
        let mut block: Vec<(usize, Vec<Instruction>)> = Vec::with_capacity(size);
        if height % PRICE_EVERY_BLOCKS == 0 {
            let updates = prices
                .iter_mut()
                .map(|(asset, price)| {
                    // A random walk of up to ±1% per update, in integers.
                    let step = *price / 100 * u128::from(rng.random_range(0..=200u32)) / 100;
                    *price = *price - *price / 100 + step;
                    Instruction::SetPrice { asset: *asset, price: Wad(*price), timestamp }
                })
                .collect();
            block.push((0, updates));
        }
        while block.len() < size {
            let account = next_account;
            next_account = if next_account == keys.len() - 1 { 1 } else { next_account + 1 };
            block.push((account, vec![cycle_instruction(steps[account], &mut rng, &keys)]));
            steps[account] = steps[account].wrapping_add(1);
        }
        let mut transactions = Vec::with_capacity(block.len());
        for (account, instructions) in block {
            let key = &keys[account];
            let prepared = prepare_transaction(app.vm(), &**app.store(), &context, key, nonces[account], instructions)?;
            nonces[account] += 1;
            let verified: VerifiedTransaction = prepared.transaction.verify(WORKLOAD_CHAIN_ID)?;
            transactions.push(verified);
        }
        let count = transactions.len() as u64;
        let proposal = app.prepare_proposal(transactions, timestamp);
        let finalized = app.finalize_block(proposal)?;
        let bytes = finalized.block.encode();
        let head = app.commit(finalized)?;
        writer.write_block(head.hash, head.height, &bytes, count)?;
        written += count;
        progress(written);
    }
    Ok(writer.finish()?)
}
