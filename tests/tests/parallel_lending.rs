//! Parallel execution equals serial execution on random lending blocks.
//!
//! Random chains of blocks over the four dev markets: deposits, withdrawals,
//! borrows, repays (own and on behalf), collateral switches, transfers,
//! liquidations, flash loans (repaid, unrepaid, used), oracle updates and
//! refused oracle calls, market pauses and freezes, time jumps that make
//! prices stale, multi-instruction transactions, and access sets weakened so
//! that transactions fail with access violations. Few users, so their
//! transactions depend on each other and compete for the same cash.
//!
//! Every block runs on the serial executor and on the parallel executor at
//! 1, 2, 4 and 8 threads; receipts, changes, state root and block hash must
//! be identical. At least 1,000 blocks per run.
//!
//! The seed is printed; to replay a failure, run with the seed it names:
//! `PARLEND_PARALLEL_SEED=<seed> PARLEND_PARALLEL_BLOCKS=10 cargo test --test parallel_lending`.

use std::collections::BTreeMap;

use parlend_contracts::dev::dev_market_params;
use parlend_contracts::market::MarketParams;
use parlend_contracts::{AmountOrAll, Instruction, LendingVm, VerifiedTransaction};
use parlend_ledger::block::{receipts_root, transactions_root};
use parlend_ledger::exec::{BlockContext, BlockOutput, ParallelExecutor, execute_block_serial};
use parlend_ledger::state::{StateCommitment, Value};
use parlend_ledger::{Address, Amount, AssetId, Hash, Header, Keypair, StateKey, Wad};
use parlend_sim::workload::{
    Generator, WORKLOAD_CHAIN_ID, apply, asset, assets, genesis, keys, roomy, setup_positions, tokens, weaken,
};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

/// Blocks per chain: each chain starts from a fresh genesis.
const BLOCKS_PER_CHAIN: usize = 10;
/// Blocks per test run unless `PARLEND_PARALLEL_BLOCKS` says otherwise.
const BLOCKS_DEFAULT: usize = 1_000;
/// Users per chain (account 0 is admin and oracle).
const USERS: usize = 12;
/// Users 1..=LEVERAGED start near their borrowing limit.
const LEVERAGED: usize = 4;
/// Thread counts compared with the serial executor.
const THREADS: [usize; 4] = [1, 2, 4, 8];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|value| value.parse().ok())
}

/// A fresh seed per run, so runs cover new ground; printed for replay.
fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_secs().wrapping_mul(1_000_000_007) ^ u64::from(now.subsec_nanos())
}

#[test]
fn parallel_equals_serial_on_random_lending_blocks() {
    let base_seed = env_u64("PARLEND_PARALLEL_SEED").unwrap_or_else(clock_seed);
    let blocks =
        env_u64("PARLEND_PARALLEL_BLOCKS").and_then(|blocks| usize::try_from(blocks).ok()).unwrap_or(BLOCKS_DEFAULT);
    eprintln!("parallel_lending: base seed {base_seed}, {blocks} blocks");
    let executors: Vec<ParallelExecutor> =
        THREADS.iter().map(|&threads| ParallelExecutor::new(threads).expect("executor")).collect();
    let mut totals = Totals::default();
    for chain in 0..blocks.div_ceil(BLOCKS_PER_CHAIN) {
        let seed = base_seed.wrapping_add(chain as u64);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_chain(seed, &executors)));
        match result {
            Ok(chain_totals) => totals.add(&chain_totals),
            Err(panic) => {
                eprintln!(
                    "parallel_lending: chain seed {seed} failed; replay with \
                     PARLEND_PARALLEL_SEED={seed} PARLEND_PARALLEL_BLOCKS={BLOCKS_PER_CHAIN}"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    eprintln!("parallel_lending: {totals:?}");
    assert!(totals.blocks >= blocks);
    // The generator must produce what it claims, or the comparison proves little.
    assert!(totals.succeeded * 3 >= totals.transactions, "too few successes: {totals:?}");
    assert!(totals.failed > 0 && totals.violations > 0, "no failures: {totals:?}");
    assert!(totals.liquidations_succeeded > 0 && totals.flash_loans_succeeded > 0, "too narrow: {totals:?}");
    assert!(totals.reexecutions > 0, "no re-execution: {totals:?}");
    // With more than one thread, most blocks must take the parallel path.
    assert!(totals.parallel_blocks * 2 >= totals.blocks * (THREADS.len() - 1), "too few parallel blocks: {totals:?}");
}

#[derive(Debug, Default)]
struct Totals {
    blocks: usize,
    transactions: usize,
    succeeded: usize,
    failed: usize,
    violations: usize,
    liquidations: usize,
    liquidations_succeeded: usize,
    flash_loans: usize,
    flash_loans_succeeded: usize,
    reexecutions: usize,
    parallel_blocks: usize,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.blocks += other.blocks;
        self.transactions += other.transactions;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.violations += other.violations;
        self.liquidations += other.liquidations;
        self.flash_loans += other.flash_loans;
        self.liquidations_succeeded += other.liquidations_succeeded;
        self.flash_loans_succeeded += other.flash_loans_succeeded;
        self.reexecutions += other.reexecutions;
        self.parallel_blocks += other.parallel_blocks;
    }
}

struct Chain {
    rng: StdRng,
    accounts: Vec<Keypair>,
    state: BTreeMap<StateKey, Value>,
    commitment: StateCommitment,
    parent: Hash,
    height: u64,
    timestamp: u64,
    prices: BTreeMap<AssetId, u128>,
}

fn run_chain(seed: u64, executors: &[ParallelExecutor]) -> Totals {
    let accounts = keys(seed, USERS + 1);
    let genesis = genesis(&accounts);
    let state = genesis.state().expect("genesis state");
    let prices = genesis.markets.iter().map(|market| (market.asset, market.price.0)).collect();
    let mut chain = Chain {
        rng: StdRng::seed_from_u64(seed),
        accounts,
        commitment: StateCommitment::from_entries(state.clone()),
        state,
        parent: Hash::ZERO,
        height: 0,
        timestamp: genesis.timestamp,
        prices,
    };
    let mut totals = Totals::default();
    // Block 1: every user opens a position (through the executors as well);
    // the first LEVERAGED users borrow close to their limit, so that price
    // moves make them liquidatable.
    // They come last, when the others' deposits are there to borrow.
    let setup: Vec<(usize, Vec<Instruction>)> = (LEVERAGED + 1..=USERS)
        .map(|user| (user, setup_positions()))
        .chain((1..=LEVERAGED).map(|user| (user, leveraged_position())))
        .collect();
    chain.block(executors, &mut totals, |_| setup);
    for _ in 1..BLOCKS_PER_CHAIN {
        chain.block(executors, &mut totals, random_block);
    }
    totals
}

impl Chain {
    /// Builds a block from `plan`'s instructions, runs it everywhere and compares.
    fn block(
        &mut self,
        executors: &[ParallelExecutor],
        totals: &mut Totals,
        plan: impl FnOnce(&mut Planner<'_>) -> Vec<(usize, Vec<Instruction>)>,
    ) {
        self.height += 1;
        self.timestamp += match self.rng.random_range(0..20u8) {
            0 => 86_400 * 30,
            1..=2 => 86_400,
            _ => 12,
        };
        let context = BlockContext { chain_id: WORKLOAD_CHAIN_ID, height: self.height, timestamp: self.timestamp };
        let addresses: Vec<Address> = self.accounts.iter().map(Keypair::address).collect();
        let mut planner =
            Planner { rng: &mut self.rng, prices: &mut self.prices, addresses: &addresses, timestamp: self.timestamp };
        let planned = plan(&mut planner);
        let mut generator = Generator::new(self.state.clone(), context);
        let mut block: Vec<VerifiedTransaction> = Vec::with_capacity(planned.len());
        let mut kinds = Vec::with_capacity(planned.len());
        for (signer, instructions) in planned {
            let liquidates = instructions.iter().any(|i| matches!(i, Instruction::Liquidate { .. }));
            let flash = instructions.iter().any(|i| matches!(i, Instruction::FlashBorrow { .. }));
            totals.liquidations += usize::from(liquidates);
            totals.flash_loans += usize::from(flash);
            kinds.push((liquidates, flash));
            let weakened = self.rng.random_range(0..20u8) == 0;
            let mut rng = StdRng::seed_from_u64(self.rng.random());
            let generated = generator
                .transaction_with(&self.accounts[signer], instructions, |accesses| {
                    if weakened { weaken(accesses, &mut rng) } else { accesses }
                })
                .expect("simulation");
            block.push(generated.signed.verify(WORKLOAD_CHAIN_ID).expect("signed transactions verify"));
        }

        let serial = execute_block_serial(&LendingVm, &self.state, &context, &block).expect("serial execution");
        let serial_header = self.header(&context, &block, &serial);
        for executor in executors {
            let (parallel, stats) = executor
                .execute_block_with_stats(&LendingVm, &self.state, &context, &block)
                .expect("parallel execution");
            let threads = executor.threads();
            assert_eq!(
                parallel.receipts, serial.receipts,
                "receipts differ at height {} ({threads} threads)",
                self.height
            );
            assert_eq!(
                parallel.changes, serial.changes,
                "changes differ at height {} ({threads} threads)",
                self.height
            );
            let header = self.header(&context, &block, &parallel);
            assert_eq!(header.hash(), serial_header.hash(), "block hash differs at height {}", self.height);
            totals.reexecutions += stats.reexecutions;
            if threads > 1 && !stats.serial_fallback {
                totals.parallel_blocks += 1;
            }
        }

        totals.blocks += 1;
        totals.transactions += block.len();
        for (receipt, (liquidates, flash)) in serial.receipts.iter().zip(kinds) {
            if receipt.status.is_success() {
                totals.liquidations_succeeded += usize::from(liquidates);
                totals.flash_loans_succeeded += usize::from(flash);
            }
            match receipt.status {
                parlend_ledger::TxStatus::Success => totals.succeeded += 1,
                parlend_ledger::TxStatus::Failed { .. } => totals.failed += 1,
                parlend_ledger::TxStatus::AccessViolation { .. } => totals.violations += 1,
            }
        }
        let update = self.commitment.prepare(&serial.changes);
        self.commitment.apply(update);
        apply(&mut self.state, &serial.changes);
        self.parent = serial_header.hash();
    }

    fn header(&self, context: &BlockContext, block: &[VerifiedTransaction], output: &BlockOutput) -> Header {
        let ids: Vec<Hash> = block.iter().map(VerifiedTransaction::hash).collect();
        Header {
            chain_id: context.chain_id,
            height: context.height,
            parent_hash: self.parent,
            timestamp: context.timestamp,
            transaction_count: u32::try_from(block.len()).expect("bounded block"),
            transactions_root: transactions_root(&ids),
            state_root: self.commitment.prepare(&output.changes).root(),
            receipts_root: receipts_root(&output.receipts),
        }
    }
}

/// 5 WETH ($15,000) against $11,500 of USDC: HF 1.08, liquidatable after
/// a WETH drop of 8%.
fn leveraged_position() -> Vec<Instruction> {
    let (usdc, weth) = (asset("USDC"), asset("WETH"));
    vec![
        Instruction::Deposit { asset: weth, amount: tokens(weth, 5, 1) },
        Instruction::Borrow { asset: usdc, amount: tokens(usdc, 11_500, 1) },
    ]
}

/// What a block plan draws from.
struct Planner<'a> {
    rng: &'a mut StdRng,
    prices: &'a mut BTreeMap<AssetId, u128>,
    /// Account 0 (admin and oracle), then the users.
    addresses: &'a [Address],
    timestamp: u64,
}

/// A random block: 16 to 80 transactions of every kind.
fn random_block(plan: &mut Planner<'_>) -> Vec<(usize, Vec<Instruction>)> {
    let count = plan.rng.random_range(16..=80);
    (0..count)
        .map(|_| {
            let signer = plan.rng.random_range(1..=USERS);
            match plan.rng.random_range(0..100u8) {
                0..=4 => (0, vec![plan.price_move()]),
                5 => (signer, vec![plan.price_move()]),
                6 => (0, vec![market_switch(plan.rng)]),
                7 => (signer, vec![market_switch(plan.rng)]),
                8..=17 => (signer, vec![plan.liquidation()]),
                18..=25 => (signer, flash_loan(plan.rng)),
                26..=35 => (signer, (0..plan.rng.random_range(2..=3)).map(|_| plan.lending()).collect()),
                36..=40 => {
                    let asset = random_asset(plan.rng);
                    (signer, vec![Instruction::SetCollateral { asset, enabled: plan.rng.random_bool(0.5) }])
                }
                41..=45 => {
                    let asset = random_asset(plan.rng);
                    let to = plan.someone();
                    (signer, vec![Instruction::Transfer { to, asset, amount: size(plan.rng, asset) }])
                }
                _ => (signer, vec![plan.lending()]),
            }
        })
        .collect()
}

impl Planner<'_> {
    /// A user, or now and then an address nobody uses.
    fn someone(&mut self) -> Address {
        if self.rng.random_range(0..10u8) == 0 {
            Address(self.rng.random())
        } else {
            self.addresses[self.rng.random_range(1..self.addresses.len())]
        }
    }

    fn lending(&mut self) -> Instruction {
        let asset = random_asset(self.rng);
        match self.rng.random_range(0..5u8) {
            0 => Instruction::Deposit { asset, amount: size(self.rng, asset) },
            1 => Instruction::Withdraw { asset, amount: amount_or_all(self.rng, asset) },
            2 => Instruction::Borrow { asset, amount: size(self.rng, asset) },
            3 => Instruction::Repay { asset, amount: amount_or_all(self.rng, asset), on_behalf_of: None },
            _ => {
                let someone = self.someone();
                Instruction::Repay { asset, amount: amount_or_all(self.rng, asset), on_behalf_of: Some(someone) }
            }
        }
    }

    fn liquidation(&mut self) -> Instruction {
        if self.rng.random_bool(0.7) {
            // A leveraged user's usual liquidation.
            let borrower = self.addresses[self.rng.random_range(1..=LEVERAGED)];
            let debt_to_cover = amount_or_all(self.rng, asset("USDC"));
            let receive_deposit = self.rng.random_bool(0.5);
            return Instruction::Liquidate {
                borrower,
                debt_asset: asset("USDC"),
                collateral_asset: asset("WETH"),
                debt_to_cover,
                receive_deposit,
            };
        }
        let debt_asset = [asset("USDC"), asset("WETH"), asset("WBTC")][self.rng.random_range(0..3)];
        let collateral_asset = random_asset(self.rng);
        Instruction::Liquidate {
            borrower: self.someone(),
            debt_asset,
            collateral_asset,
            debt_to_cover: amount_or_all(self.rng, debt_asset),
            receive_deposit: self.rng.random_bool(0.5),
        }
    }

    /// The oracle moves one price by -40% to +40%, observed now or a little earlier.
    fn price_move(&mut self) -> Instruction {
        let asset = random_asset(self.rng);
        let price = self.prices.entry(asset).or_insert(Wad::SCALE);
        let percent = self.rng.random_range(60..=140u128);
        *price = (*price * percent / 100).max(1);
        let timestamp = self.timestamp - self.rng.random_range(0..30);
        Instruction::SetPrice { asset, price: Wad(*price), timestamp }
    }
}

fn random_asset(rng: &mut impl Rng) -> AssetId {
    let assets = assets();
    assets[rng.random_range(0..assets.len())]
}

/// An amount of `asset`: usually small, sometimes large, rarely absurd.
fn size(rng: &mut impl Rng, asset: AssetId) -> Amount {
    match rng.random_range(0..20u8) {
        0 => Amount(rng.random_range(0..3)),
        1 => Amount(u128::MAX - rng.random_range(0..3)),
        2..=4 => tokens(asset, rng.random_range(1_000..100_000), 1),
        _ => {
            let units = rng.random_range(1..=2_000u128);
            match asset.as_str() {
                "WETH" => tokens(asset, units, 1_000),
                "WBTC" => tokens(asset, units, 20_000),
                _ => tokens(asset, units, 1),
            }
        }
    }
}

fn amount_or_all(rng: &mut impl Rng, asset: AssetId) -> AmountOrAll {
    if rng.random_range(0..6u8) == 0 { AmountOrAll::All } else { AmountOrAll::Amount(size(rng, asset)) }
}

fn flash_loan(rng: &mut impl Rng) -> Vec<Instruction> {
    let asset = random_asset(rng);
    let amount = size(rng, asset);
    let borrow = Instruction::FlashBorrow { asset, amount };
    let repay = Instruction::FlashRepay { asset };
    match rng.random_range(0..4u8) {
        0 => vec![borrow],
        1 => vec![borrow, Instruction::Deposit { asset, amount }, repay],
        _ => vec![borrow, repay],
    }
}

/// The admin (or, refused, a user) pauses, freezes or reopens a market.
fn market_switch(rng: &mut impl Rng) -> Instruction {
    let asset = random_asset(rng);
    let mut params: MarketParams = roomy(asset, dev_market_params(asset.as_str()));
    match rng.random_range(0..4u8) {
        0 => params.paused = true,
        1 => params.frozen = true,
        _ => {}
    }
    Instruction::UpdateMarket { asset, params }
}
