//! Parallel execution equals serial execution on random lending blocks.
//!
//! Random chains of blocks over the four dev markets: deposits, withdrawals,
//! borrows, repays (own and on behalf), collateral switches, transfers,
//! liquidations, flash loans (repaid, unrepaid, used), oracle updates and
//! refused oracle calls, market pauses and freezes, flash-loan switches,
//! debt ceilings and e-mode memberships, e-mode categories, users entering
//! and leaving e-mode, deficit covers (from wallets and the treasury), time
//! jumps that make prices stale, multi-instruction transactions, and access
//! sets weakened so that transactions fail with access violations. Few
//! users, so their transactions depend on each other and compete for the
//! same cash, the same isolation ceiling and the same deficit.
//!
//! Every block runs on the serial executor and on the parallel executor at
//! 1, 2, 4 and 8 threads, and in random parts (some empty) as a producer
//! with an interval runs it ([`BlockInParts`]); receipts, changes, state
//! root and block hash must be identical. At least 1,000 blocks per run.
//!
//! The seed is printed; to replay a failure, run with the seed it names:
//! `PARLEND_PARALLEL_SEED=<seed> PARLEND_PARALLEL_BLOCKS=10 cargo test --test parallel_lending`.

use std::collections::BTreeMap;

use parlend_contracts::dev::{DEV_STABLECOIN_EMODE, dev_market_params};
use parlend_contracts::emode::EModeCategory;
use parlend_contracts::market::MarketParams;
use parlend_contracts::{AmountOrAll, Instruction, LendingVm, VerifiedTransaction};
use parlend_ledger::block::{receipts_root, transactions_root};
use parlend_ledger::exec::{BlockContext, BlockInParts, BlockOutput, ParallelExecutor, execute_block_serial};
use parlend_ledger::state::{StateCommitment, Value};
use parlend_ledger::{Address, Amount, AssetId, Bps, Hash, Header, Keypair, StateKey, Wad};
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
/// The next ISOLATED users borrow USDC in isolation mode against TBILL.
const ISOLATED: usize = 2;
/// The next EMODE users borrow USDC against USDC in the stablecoin e-mode.
const EMODE: usize = 2;
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
    assert!(totals.covers_succeeded > 0 && totals.emode_switches_succeeded > 0, "too narrow: {totals:?}");
    assert!(totals.reexecutions > 0, "no re-execution: {totals:?}");
    assert!(totals.events >= totals.succeeded, "too few events: {totals:?}");
    // With more than one thread, most blocks must take the parallel path.
    assert!(totals.parallel_blocks * 2 >= totals.blocks * (THREADS.len() - 1), "too few parallel blocks: {totals:?}");
    // Most blocks must also run in more than one part.
    assert!(totals.multi_part_blocks * 2 >= totals.blocks, "too few blocks in parts: {totals:?}");
}

#[derive(Debug, Default)]
struct Totals {
    blocks: usize,
    transactions: usize,
    events: usize,
    succeeded: usize,
    failed: usize,
    violations: usize,
    liquidations: usize,
    liquidations_succeeded: usize,
    covers_succeeded: usize,
    emode_switches_succeeded: usize,
    flash_loans: usize,
    flash_loans_succeeded: usize,
    reexecutions: usize,
    parallel_blocks: usize,
    multi_part_blocks: usize,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.blocks += other.blocks;
        self.transactions += other.transactions;
        self.events += other.events;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.violations += other.violations;
        self.liquidations += other.liquidations;
        self.flash_loans += other.flash_loans;
        self.liquidations_succeeded += other.liquidations_succeeded;
        self.covers_succeeded += other.covers_succeeded;
        self.emode_switches_succeeded += other.emode_switches_succeeded;
        self.flash_loans_succeeded += other.flash_loans_succeeded;
        self.reexecutions += other.reexecutions;
        self.parallel_blocks += other.parallel_blocks;
        self.multi_part_blocks += other.multi_part_blocks;
    }
}

/// What a transaction does, for the totals.
#[derive(Debug, Clone, Copy)]
struct Kind {
    liquidates: bool,
    flash: bool,
    covers: bool,
    switches_emode: bool,
}

impl Kind {
    fn of(instructions: &[Instruction]) -> Kind {
        let any = |wanted: fn(&Instruction) -> bool| instructions.iter().any(wanted);
        Kind {
            liquidates: any(|i| matches!(i, Instruction::Liquidate { .. })),
            flash: any(|i| matches!(i, Instruction::FlashBorrow { .. })),
            covers: any(|i| matches!(i, Instruction::CoverDeficit { .. })),
            switches_emode: any(|i| matches!(i, Instruction::SetEMode { .. })),
        }
    }
}

impl Totals {
    fn succeeded_as(&mut self, kind: Kind) {
        self.liquidations_succeeded += usize::from(kind.liquidates);
        self.flash_loans_succeeded += usize::from(kind.flash);
        self.covers_succeeded += usize::from(kind.covers);
        self.emode_switches_succeeded += usize::from(kind.switches_emode);
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
        commitment: StateCommitment::from_entries(state.clone()).expect("genesis tree"),
        state,
        parent: Hash::ZERO,
        height: 0,
        timestamp: genesis.timestamp,
        prices,
    };
    let mut totals = Totals::default();
    // Block 1: every user opens a position (through the executors as well);
    // the first LEVERAGED users borrow close to their limit, so that price
    // moves make them liquidatable; the next ones are isolated on TBILL or
    // in e-mode. Borrowers come last, when the others' deposits are there.
    let isolated = LEVERAGED + 1..=LEVERAGED + ISOLATED;
    let emode = LEVERAGED + ISOLATED + 1..=LEVERAGED + ISOLATED + EMODE;
    let setup: Vec<(usize, Vec<Instruction>)> = (LEVERAGED + ISOLATED + EMODE + 1..=USERS)
        .map(|user| (user, setup_positions()))
        .chain(emode.map(|user| (user, emode_position())))
        .chain(isolated.map(|user| (user, isolated_position())))
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
            let kind = Kind::of(&instructions);
            totals.liquidations += usize::from(kind.liquidates);
            totals.flash_loans += usize::from(kind.flash);
            kinds.push(kind);
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
        let executor = &executors[usize::try_from(self.height).unwrap_or(0) % executors.len()];
        let (in_parts, parts) = self.in_parts(executor, &context, &block);
        assert_eq!(in_parts.receipts, serial.receipts, "receipts differ at height {} in {parts} parts", self.height);
        assert_eq!(in_parts.changes, serial.changes, "changes differ at height {} in {parts} parts", self.height);
        totals.multi_part_blocks += usize::from(parts > 1);

        totals.blocks += 1;
        totals.transactions += block.len();
        for ((receipt, kind), transaction) in serial.receipts.iter().zip(kinds).zip(&block) {
            // One event per instruction on success, none on failure: the
            // receipts compared above carry every transaction's events.
            let instructions = transaction.transaction().instructions.len();
            let expected_events = if receipt.status.is_success() { instructions } else { 0 };
            assert_eq!(receipt.events.len(), expected_events, "events of {:?}", receipt.status);
            totals.events += receipt.events.len();
            if receipt.status.is_success() {
                totals.succeeded_as(kind);
            }
            match receipt.status {
                parlend_ledger::TxStatus::Success => totals.succeeded += 1,
                parlend_ledger::TxStatus::Failed { .. } => totals.failed += 1,
                parlend_ledger::TxStatus::AccessViolation { .. } => totals.violations += 1,
            }
        }
        let update = self.commitment.prepare(&serial.changes).expect("tree update");
        self.commitment.apply(update).expect("next version");
        apply(&mut self.state, &serial.changes);
        self.parent = serial_header.hash();
    }

    /// The block executed in 1 to 4 random parts (some may be empty), as a
    /// producer with an interval executes what arrives while it runs; and
    /// how many parts.
    fn in_parts(
        &mut self,
        executor: &ParallelExecutor,
        context: &BlockContext,
        block: &[VerifiedTransaction],
    ) -> (BlockOutput, usize) {
        let mut cuts: Vec<usize> =
            (0..self.rng.random_range(0..4)).map(|_| self.rng.random_range(0..=block.len())).collect();
        cuts.sort_unstable();
        let mut building = BlockInParts::new(*context);
        let mut start = 0;
        for &cut in &cuts {
            building.execute(executor, &LendingVm, &self.state, &block[start..cut]).expect("a part");
            start = cut;
        }
        let (output, _) = building.finish(executor, &LendingVm, &self.state, &block[start..]).expect("the last part");
        (output, cuts.len() + 1)
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
            state_root: self.commitment.prepare(&output.changes).expect("tree update").root(),
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

/// 20,000 TBILL ($20,000, LTV 50%) as the only collateral, 9,000 USDC
/// borrowed in isolation mode: HF 1.33, liquidatable after a TBILL drop of 25%.
fn isolated_position() -> Vec<Instruction> {
    let (usdc, tbill) = (asset("USDC"), asset("TBILL"));
    vec![
        Instruction::Deposit { asset: tbill, amount: tokens(tbill, 20_000, 1) },
        Instruction::SetCollateral { asset: tbill, enabled: true },
        Instruction::Borrow { asset: usdc, amount: tokens(usdc, 9_000, 1) },
    ]
}

/// 300,000 USDC in the stablecoin e-mode (LTV 93%, threshold 95%), 270,000
/// borrowed: HF 1.0556, and 30,000 USDC of liquidity for the others.
fn emode_position() -> Vec<Instruction> {
    let usdc = asset("USDC");
    vec![
        Instruction::Deposit { asset: usdc, amount: tokens(usdc, 300_000, 1) },
        Instruction::SetEMode { category: DEV_STABLECOIN_EMODE },
        Instruction::Borrow { asset: usdc, amount: tokens(usdc, 270_000, 1) },
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
                46..=49 => {
                    // Mostly the category that exists from genesis; now and then one that may not.
                    let category = [0, 1, 1, 0, 1, 2][plan.rng.random_range(0..6)];
                    (signer, vec![Instruction::SetEMode { category }])
                }
                50..=51 => {
                    let from_treasury = plan.rng.random_bool(0.3);
                    let by = if from_treasury && plan.rng.random_bool(0.8) { 0 } else { signer };
                    (by, vec![plan.cover(from_treasury)])
                }
                52 => (0, vec![emode_category(plan.rng)]),
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

    /// Covers some or all of a market's deficit (USDC, the one borrowers
    /// most often leave one in, half the time).
    fn cover(&mut self, from_treasury: bool) -> Instruction {
        let asset = if self.rng.random_bool(0.5) { asset("USDC") } else { random_asset(self.rng) };
        Instruction::CoverDeficit { asset, amount: amount_or_all(self.rng, asset), from_treasury }
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

/// The admin (or, refused, a user) pauses, freezes or reopens a market,
/// switches its flash loans, isolation or e-mode membership, or sets a debt
/// ceiling small enough for isolated borrowers to compete for.
fn market_switch(rng: &mut impl Rng) -> Instruction {
    let asset = random_asset(rng);
    let mut params: MarketParams = roomy(asset, dev_market_params(asset.as_str()));
    match rng.random_range(0..9u8) {
        0 => params.paused = true,
        1 => params.frozen = true,
        2 => params.flash_loan_enabled = !params.flash_loan_enabled,
        3 => params.debt_ceiling_cents = rng.random_range(0..=4_000_000u64),
        4 => params.borrowable_in_isolation = !params.borrowable_in_isolation,
        5 => params.emode_category = rng.random_range(0..=2),
        _ => {}
    }
    Instruction::UpdateMarket { asset, params }
}

/// The admin redefines the stablecoin category (or defines category 2),
/// sometimes low enough to make e-mode positions liquidatable.
fn emode_category(rng: &mut impl Rng) -> Instruction {
    let ltv = rng.random_range(8_500..=9_500u16);
    let category = EModeCategory {
        id: rng.random_range(1..=2),
        ltv: Bps(ltv),
        liquidation_threshold: Bps(ltv + rng.random_range(0..=300)),
        liquidation_bonus: Bps(rng.random_range(10_050..=10_300)),
    };
    Instruction::SetEModeCategory { category }
}
