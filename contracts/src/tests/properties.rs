//! Property tests: random sequences of every instruction by several
//! accounts over all four markets, with price moves and time jumps, run
//! through the real pipeline (simulated access sets, the serial executor).
//! After every transaction the invariants below are checked against the
//! state before it.
//!
//! Cases: [`DEFAULT_CASES`] by default (so `cargo test --workspace` stays
//! quick); set `PROPTEST_CASES` for more. Each case is 20 to 60 steps; a
//! step is a block of one to three transactions, a price move, or a time
//! jump. Amounts are drawn as fractions of what the state makes relevant
//! (a wallet, a deposit, the borrowing power, a debt) so that most
//! transactions do something, plus raw tiny amounts and "all".

use std::cell::RefCell;

use num_bigint::BigUint;
use parlend_ledger::{Amount, Bps, Ray, StateKey, TxStatus, Wad};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;
use crate::instruction::AmountOrAll;
use crate::market::CASH_FIELD;
use crate::position::{debt_balance, deposit_balance};
use crate::state::decode;

/// A registered asset without a market at genesis: `CreateMarket` opens it mid-run.
const GOLD: AssetId = AssetId::from_static("GOLD");
/// Every asset the generator uses: the four markets, then GOLD.
const ALL: [AssetId; 5] = [TBILL, USDC, WBTC, WETH, GOLD];

/// Most base units the conservative totals may show the books short by:
/// one for the supply rounded up, one for the debt rounded down.
const SHORTFALL_MAX: u128 = 2;

/// Property-test cases unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 64;
/// Accounts 1..=USERS act; account 0 is admin, oracle and minter.
const USERS: usize = 5;
const ADMIN: usize = 0;

#[derive(Debug, Clone, Copy)]
enum Size {
    /// Per mille of the relevant quantity (at least one base unit).
    Fraction(u16),
    /// Base units.
    Raw(u128),
    /// Everything.
    All,
}

#[derive(Debug, Clone, Copy)]
enum AdminChange {
    Pause(bool),
    Freeze(bool),
    SupplyCap(u16),
    BorrowCap(u16),
    ReserveFactor(u16),
    Slope1(u16),
    /// A debt ceiling in whole dollars (0: not isolated).
    DebtCeiling(u32),
    BorrowableInIsolation(bool),
    FlashLoans(bool),
    EModeCategory(u8),
}

/// A change to the global configuration, by the admin or (refused) by a user.
#[derive(Debug, Clone, Copy)]
enum ConfigOp {
    Liquidation {
        close_factor: u16,
        threshold_per_mille: u16,
        min_close_factor_usd: u16,
        min_leftover_usd: u16,
    },
    Minter(Option<usize>),
    /// Rotates the oracle (or admin) key to account 0 again: the driver needs it there.
    Oracle,
    Admin,
}

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        asset: usize,
        size: Size,
    },
    Withdraw {
        asset: usize,
        size: Size,
    },
    Borrow {
        asset: usize,
        size: Size,
    },
    Repay {
        asset: usize,
        size: Size,
        on_behalf_of: Option<usize>,
    },
    SetCollateral {
        asset: usize,
        enabled: bool,
    },
    Liquidate {
        borrower: usize,
        debt: usize,
        collateral: usize,
        size: Size,
        receive_deposit: bool,
    },
    Flash {
        asset: usize,
        size: Size,
        repay: bool,
        use_funds: bool,
    },
    Transfer {
        to: usize,
        asset: usize,
        size: Size,
    },
    DepositWithdraw {
        asset: usize,
        size: Size,
    },
    BorrowRepay {
        asset: usize,
        size: Size,
    },
    Mint {
        to: usize,
        asset: usize,
        size: Size,
    },
    Admin {
        asset: usize,
        change: AdminChange,
    },
    CreateMarket {
        asset: usize,
    },
    Config {
        change: ConfigOp,
        by_admin: bool,
    },
    /// Enters (or leaves, 0) an e-mode category; 2 exists only once defined.
    SetEMode {
        category: u8,
    },
    /// The admin defines category 2 (LTV, threshold and bonus in bps).
    DefineCategory {
        ltv: u16,
        threshold: u16,
        bonus: u16,
        by_admin: bool,
    },
    CoverDeficit {
        asset: usize,
        size: Size,
        from_treasury: bool,
    },
}

#[derive(Debug, Clone)]
enum Step {
    Block(Vec<(usize, Op)>),
    /// Seconds forward, then an empty block; optionally the oracle re-posts every price.
    Advance(u64, bool),
    /// Sets an asset's price to `per_mille / 1000` of its initial price.
    Price(usize, u32),
}

/// Borrows lean towards the borrowing power, so price moves make positions liquidatable.
fn borrow_size() -> impl Strategy<Value = Size> {
    prop_oneof![3 => (800u16..=1000).prop_map(Size::Fraction), 2 => size()]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![4 => (1u16..=1000).prop_map(Size::Fraction), 1 => (1u128..=10_000).prop_map(Size::Raw), 1 => Just(Size::All)]
}

fn asset() -> impl Strategy<Value = usize> {
    0..ALL.len()
}

/// Mostly the borrowable markets; TBILL (index 0, borrowing disabled) and GOLD rarely.
fn borrowable_asset() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 6 => 1..ASSETS.len(), 1 => Just(ASSETS.len())]
}

fn config_op() -> impl Strategy<Value = ConfigOp> {
    prop_oneof![
        3 => (1u16..=10_000, 0u16..=1000, 0u16..=5000, 0u16..=2000).prop_map(|(close_factor, threshold_per_mille, min_close_factor_usd, min_leftover_usd)| {
            ConfigOp::Liquidation { close_factor, threshold_per_mille, min_close_factor_usd, min_leftover_usd }
        }),
        1 => proptest::option::of(user()).prop_map(ConfigOp::Minter),
        1 => Just(ConfigOp::Oracle),
        1 => Just(ConfigOp::Admin),
    ]
}

fn user() -> impl Strategy<Value = usize> {
    1..=USERS
}

fn admin_change() -> impl Strategy<Value = AdminChange> {
    prop_oneof![
        any::<bool>().prop_map(AdminChange::Pause),
        any::<bool>().prop_map(AdminChange::Freeze),
        (0u16..=1000).prop_map(AdminChange::SupplyCap),
        (0u16..=1000).prop_map(AdminChange::BorrowCap),
        (0u16..=5000).prop_map(AdminChange::ReserveFactor),
        (0u16..=5000).prop_map(AdminChange::Slope1),
        prop_oneof![Just(0u32), 1u32..=2_000_000].prop_map(AdminChange::DebtCeiling),
        any::<bool>().prop_map(AdminChange::BorrowableInIsolation),
        any::<bool>().prop_map(AdminChange::FlashLoans),
        (0u8..=3).prop_map(AdminChange::EModeCategory),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (asset(), size()).prop_map(|(asset, size)| Op::Deposit { asset, size }),
        2 => (asset(), size()).prop_map(|(asset, size)| Op::Withdraw { asset, size }),
        6 => (borrowable_asset(), borrow_size()).prop_map(|(asset, size)| Op::Borrow { asset, size }),
        2 => (asset(), size(), proptest::option::of(user()))
            .prop_map(|(asset, size, on_behalf_of)| Op::Repay { asset, size, on_behalf_of }),
        1 => (asset(), any::<bool>()).prop_map(|(asset, enabled)| Op::SetCollateral { asset, enabled }),
        6 => (user(), 0..8usize, 0..8usize, size(), any::<bool>()).prop_map(
            |(borrower, debt, collateral, size, receive_deposit)| Op::Liquidate { borrower, debt, collateral, size, receive_deposit }
        ),
        1 => (asset(), size(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(asset, size, repay, use_funds)| Op::Flash { asset, size, repay, use_funds }),
        1 => (user(), asset(), size()).prop_map(|(to, asset, size)| Op::Transfer { to, asset, size }),
        1 => (asset(), size()).prop_map(|(asset, size)| Op::DepositWithdraw { asset, size }),
        1 => (asset(), size()).prop_map(|(asset, size)| Op::BorrowRepay { asset, size }),
        1 => (user(), asset(), size()).prop_map(|(to, asset, size)| Op::Mint { to, asset, size }),
        1 => (asset(), admin_change()).prop_map(|(asset, change)| Op::Admin { asset, change }),
        1 => asset().prop_map(|asset| Op::CreateMarket { asset }),
        1 => (config_op(), prop::bool::weighted(0.7)).prop_map(|(change, by_admin)| Op::Config { change, by_admin }),
        2 => (0u8..=2).prop_map(|category| Op::SetEMode { category }),
        1 => (5_000u16..=9_800, 0u16..=400, 10_001u16..=10_600, prop::bool::weighted(0.8)).prop_map(
            |(ltv, extra, bonus, by_admin)| Op::DefineCategory { ltv, threshold: ltv + extra, bonus, by_admin }
        ),
        2 => (asset(), size(), any::<bool>())
            .prop_map(|(asset, size, from_treasury)| Op::CoverDeficit { asset, size, from_treasury }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => prop::collection::vec((user(), op()), 1..=3).prop_map(Step::Block),
        1 => (1u64..=172_800, prop::bool::weighted(0.7)).prop_map(|(seconds, refresh)| Step::Advance(seconds, refresh)),
        3 => (asset(), 300u32..=1400).prop_map(|(asset, per_mille)| Step::Price(asset, per_mille)),
    ]
}

/// What the checks need to know about a transaction besides the states.
#[derive(Debug, Clone, Copy)]
enum Check {
    Plain,
    Mint { asset: AssetId, amount: u128 },
    DepositWithdraw { asset: AssetId },
    BorrowRepay { asset: AssetId },
    Flash { asset: AssetId, fee: u128 },
    Liquidation { borrower: usize, collateral: AssetId },
    Cover { asset: AssetId },
}

/// How often the interesting paths ran, over all cases.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    transactions: u64,
    succeeded: u64,
    liquidations: u64,
    bad_debt: u64,
    spiral_liquidations: u64,
    /// Liquidations where the health factor was checked not to fall.
    improving_liquidations: u64,
    flash_loans: u64,
    borrows: u64,
    covers: u64,
    isolated_borrows: u64,
    emode_positions: u64,
}

/// A case's chain and what has been minted.
struct Run {
    chain: Chain,
    minted: BTreeMap<AssetId, u128>,
    prices: BTreeMap<AssetId, Wad>,
    stats: Stats,
}

fn fraction(total: u128, per_mille: u16) -> u128 {
    (total / 1000).saturating_mul(u128::from(per_mille)).max(total.min(1)).max(1)
}

impl Run {
    /// A chain where users 1 to 3 hold one collateral asset each (WETH, WBTC,
    /// TBILL) and user 4 supplies every market, so markets have cash and
    /// borrowers concentrated collateral from the start.
    fn new() -> Result<Run, TestCaseError> {
        let mut genesis = genesis(ACCOUNTS, &default_funding);
        genesis.assets.push(AssetInfo { id: GOLD, decimals: decimals(GOLD) });
        let chain = Chain::from_genesis(&genesis);
        let mut minted: BTreeMap<AssetId, u128> =
            ASSETS.iter().map(|asset| (*asset, default_funding(*asset) * ACCOUNTS as u128)).collect();
        minted.insert(GOLD, 0);
        let prices = ALL.iter().map(|asset| (*asset, initial_price(*asset))).collect();
        let mut run = Run { chain, minted, prices, stats: Stats::default() };
        let deposit = |asset: AssetId| Instruction::Deposit { asset, amount: Amount(default_funding(asset) / 5) };
        let setup: Vec<(usize, Vec<Instruction>)> = vec![
            (1, vec![deposit(WETH)]),
            (2, vec![deposit(WBTC)]),
            (3, vec![deposit(TBILL), Instruction::SetCollateral { asset: TBILL, enabled: true }]),
            (4, ASSETS.iter().map(|asset| deposit(*asset)).collect()),
        ];
        let checks = vec![(1, Check::Plain); setup.len()];
        run.run_block(&setup, &checks, true)?;
        run.seed_deficit()?;
        Ok(run)
    }

    /// User 5 borrows 2,400 USDC against 1 WETH, WETH falls to $1,000 and
    /// user 4 liquidates: every case starts with a USDC deficit to cover
    /// (bad debt is otherwise rare), then WETH is back at its price.
    fn seed_deficit(&mut self) -> Result<(), TestCaseError> {
        let borrow = vec![
            Instruction::Deposit { asset: WETH, amount: Amount(tokens(WETH, 1)) },
            Instruction::Borrow { asset: USDC, amount: Amount(tokens(USDC, 2_400)) },
        ];
        self.run_block(&[(5, borrow)], &[(5, Check::Plain)], true)?;
        self.step(&Step::Price(ALL.iter().position(|asset| *asset == WETH).unwrap(), 333))?;
        let liquidate = self.resolve_liquidation(4, 5, 0, 0, Size::All, false);
        self.run_block(&[(4, liquidate.1)], &[(4, liquidate.2)], true)?;
        prop_assert!(deficit(&self.chain.state, USDC) > 0, "a deficit to cover");
        self.step(&Step::Price(ALL.iter().position(|asset| *asset == WETH).unwrap(), 1000))
    }

    fn amount(&self, size: Size, relevant: u128) -> AmountOrAll {
        match size {
            Size::Fraction(per_mille) => AmountOrAll::Amount(Amount(fraction(relevant, per_mille))),
            Size::Raw(units) => AmountOrAll::Amount(Amount(units)),
            Size::All => AmountOrAll::All,
        }
    }

    /// An amount that must be a number: "all" means all of `relevant`.
    fn number(&self, size: Size, relevant: u128) -> Amount {
        match self.amount(size, relevant) {
            AmountOrAll::Amount(amount) => amount,
            AmountOrAll::All => Amount(relevant.max(1)),
        }
    }

    /// How much of `asset` the user could still borrow, base units.
    fn borrowable(&self, user: usize, asset: AssetId) -> u128 {
        let Some(health) = self.chain.health(user).health else { return 0 };
        let room = health.borrowing_power.0.saturating_sub(health.debt_value.0);
        crate::oracle::amount_for_value(Wad(room), self.prices[&asset], decimals(asset), parlend_ledger::Rounding::Down)
            .unwrap_or(0)
    }

    /// The instructions for one transaction, sized against the current state.
    fn resolve(&self, signer: usize, op: &Op) -> (usize, Vec<Instruction>, Check) {
        let chain = &self.chain;
        let wallet = |asset: AssetId| chain.balance(signer, asset);
        match *op {
            Op::Deposit { asset, size } => {
                let asset = ALL[asset];
                let amount = self.number(size, wallet(asset));
                (signer, vec![Instruction::Deposit { asset, amount }], Check::Plain)
            }
            Op::Withdraw { asset, size } => {
                let asset = ALL[asset];
                let amount = self.amount(size, chain.deposit_of(signer, asset));
                (signer, vec![Instruction::Withdraw { asset, amount }], Check::Plain)
            }
            Op::Borrow { asset, size } => {
                let asset = ALL[asset];
                let amount = self.number(size, self.borrowable(signer, asset));
                (signer, vec![Instruction::Borrow { asset, amount }], Check::Plain)
            }
            Op::Repay { asset, size, on_behalf_of } => {
                let asset = ALL[asset];
                let borrower = on_behalf_of.unwrap_or(signer);
                let amount = self.amount(size, chain.debt_of(borrower, asset));
                let on_behalf_of = on_behalf_of.map(Chain::address);
                (signer, vec![Instruction::Repay { asset, amount, on_behalf_of }], Check::Plain)
            }
            Op::SetCollateral { asset, enabled } => {
                (signer, vec![Instruction::SetCollateral { asset: ALL[asset], enabled }], Check::Plain)
            }
            Op::Liquidate { borrower, debt, collateral, size, receive_deposit } => {
                self.resolve_liquidation(signer, borrower, debt, collateral, size, receive_deposit)
            }
            Op::Flash { asset, size, repay, use_funds } => {
                self.resolve_flash(signer, ALL[asset], size, repay, use_funds)
            }
            Op::Transfer { to, asset, size } => {
                let asset = ALL[asset];
                let amount = self.number(size, wallet(asset));
                (signer, vec![Instruction::Transfer { to: Chain::address(to), asset, amount }], Check::Plain)
            }
            Op::DepositWithdraw { asset, size } => {
                let asset = ALL[asset];
                let amount = self.number(size, wallet(asset));
                let instructions = vec![
                    Instruction::Deposit { asset, amount },
                    Instruction::Withdraw { asset, amount: AmountOrAll::All },
                ];
                (signer, instructions, Check::DepositWithdraw { asset })
            }
            Op::BorrowRepay { asset, size } => {
                let asset = ALL[asset];
                let amount = self.number(size, self.borrowable(signer, asset));
                let repay = Instruction::Repay { asset, amount: AmountOrAll::All, on_behalf_of: None };
                (signer, vec![Instruction::Borrow { asset, amount }, repay], Check::BorrowRepay { asset })
            }
            Op::Mint { to, asset, size } => {
                let asset = ALL[asset];
                let amount = self.number(size, tokens(asset, 1_000));
                let mint = Instruction::Mint { to: Chain::address(to), asset, amount };
                (ADMIN, vec![mint], Check::Mint { asset, amount: amount.0 })
            }
            Op::Admin { asset, change } => (ADMIN, vec![self.admin_update(ALL[asset], change)], Check::Plain),
            Op::CreateMarket { asset } => {
                // Listing a market and posting its first price go together.
                let asset = ALL[asset];
                let create = Instruction::CreateMarket { asset, params: market_params(USDC) };
                (ADMIN, vec![create, self.post(asset)], Check::Plain)
            }
            Op::Config { change, by_admin } => {
                let signer = if by_admin { ADMIN } else { signer };
                (signer, vec![config_instruction(change)], Check::Plain)
            }
            Op::SetEMode { category } => (signer, vec![Instruction::SetEMode { category }], Check::Plain),
            Op::DefineCategory { ltv, threshold, bonus, by_admin } => {
                let signer = if by_admin { ADMIN } else { signer };
                (signer, vec![define_category(ltv, threshold, bonus)], Check::Plain)
            }
            Op::CoverDeficit { asset, size, from_treasury } => self.resolve_cover(signer, asset, size, from_treasury),
        }
    }

    /// A cover of a market's deficit; the payer goes for a market with a
    /// deficit when there is one; every other treasury cover is the admin's.
    fn resolve_cover(
        &self,
        signer: usize,
        asset: usize,
        size: Size,
        from_treasury: bool,
    ) -> (usize, Vec<Instruction>, Check) {
        let state = &self.chain.state;
        let with_deficit: Vec<AssetId> = ASSETS
            .iter()
            .copied()
            .filter(|asset| query::market_totals(state, *asset).is_ok_and(|totals| totals.deficit > 0))
            .collect();
        let asset = if with_deficit.is_empty() { ALL[asset] } else { with_deficit[asset % with_deficit.len()] };
        let deficit = query::market_totals(state, asset).map_or(0, |totals| totals.deficit);
        let amount = self.amount(size, deficit);
        let signer = if from_treasury && signer.is_multiple_of(2) { ADMIN } else { signer };
        (signer, vec![Instruction::CoverDeficit { asset, amount, from_treasury }], Check::Cover { asset })
    }

    fn resolve_liquidation(
        &self,
        signer: usize,
        borrower: usize,
        debt: usize,
        collateral: usize,
        size: Size,
        receive_deposit: bool,
    ) -> (usize, Vec<Instruction>, Check) {
        // A liquidator goes for unhealthy positions when there are any.
        let unhealthy: Vec<usize> = (1..=USERS)
            .filter(|user| {
                *user != signer && self.chain.health(*user).health.is_some_and(|h| h.health_factor < Wad::ONE)
            })
            .collect();
        let borrower = if unhealthy.is_empty() { borrower } else { unhealthy[borrower % unhealthy.len()] };
        let position = self.chain.position(borrower);
        let pick = |wanted: &dyn Fn(&crate::position::PositionEntry) -> bool, selector: usize| {
            let assets: Vec<AssetId> = position.entries.iter().filter(|e| wanted(e)).map(|e| e.asset).collect();
            if assets.is_empty() || selector >= 6 { ALL[selector % ALL.len()] } else { assets[selector % assets.len()] }
        };
        let debt_asset = pick(&|entry| entry.scaled_debt > 0, debt);
        let collateral_asset = pick(&|entry| entry.is_collateral(), collateral);
        let debt_to_cover = self.amount(size, self.chain.debt_of(borrower, debt_asset));
        let instruction = Instruction::Liquidate {
            borrower: Chain::address(borrower),
            debt_asset,
            collateral_asset,
            debt_to_cover,
            receive_deposit,
        };
        (signer, vec![instruction], Check::Liquidation { borrower, collateral: collateral_asset })
    }

    fn resolve_flash(
        &self,
        signer: usize,
        asset: AssetId,
        size: Size,
        repay: bool,
        use_funds: bool,
    ) -> (usize, Vec<Instruction>, Check) {
        let amount = self.number(size, self.chain.totals(asset).cash);
        let mut instructions = vec![Instruction::FlashBorrow { asset, amount }];
        if use_funds {
            instructions.push(Instruction::Deposit { asset, amount });
            instructions.push(Instruction::Withdraw { asset, amount: AmountOrAll::Amount(amount) });
        }
        if repay {
            instructions.push(Instruction::FlashRepay { asset });
        }
        let fee_bps =
            query::market_config(&self.chain.state, asset).map_or(Bps(0), |market| market.params.flash_loan_fee);
        let fee = fee_bps.apply(amount.0, parlend_ledger::Rounding::Up).unwrap();
        let check = if use_funds { Check::Plain } else { Check::Flash { asset, fee } };
        (signer, instructions, check)
    }

    fn admin_update(&self, asset: AssetId, change: AdminChange) -> Instruction {
        let Ok(market) = query::market_config(&self.chain.state, asset) else {
            // No market yet: the update is refused (UnknownMarket).
            return Instruction::UpdateMarket { asset, params: market_params(USDC) };
        };
        let mut params = market.params;
        match change {
            AdminChange::Pause(paused) => params.paused = paused,
            AdminChange::Freeze(frozen) => params.frozen = frozen,
            AdminChange::SupplyCap(per_mille) => {
                params.supply_cap = Amount(tokens(asset, 10_000) * u128::from(per_mille))
            }
            AdminChange::BorrowCap(per_mille) => {
                params.borrow_cap = Amount(tokens(asset, 10_000) * u128::from(per_mille))
            }
            AdminChange::ReserveFactor(bps) => params.reserve_factor = Bps(bps),
            AdminChange::Slope1(bps) => params.slope1 = Bps(bps).to_ray(),
            AdminChange::DebtCeiling(dollars) => params.debt_ceiling_cents = u64::from(dollars) * 100,
            AdminChange::BorrowableInIsolation(flag) => params.borrowable_in_isolation = flag,
            AdminChange::FlashLoans(flag) => params.flash_loan_enabled = flag,
            AdminChange::EModeCategory(category) => params.emode_category = category,
        }
        Instruction::UpdateMarket { asset, params }
    }

    /// Runs one step and checks every invariant after every transaction.
    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Block(specs) => {
                let resolved: Vec<(usize, Vec<Instruction>, Check)> =
                    specs.iter().map(|(signer, op)| self.resolve(*signer, op)).collect();
                let transactions: Vec<(usize, Vec<Instruction>)> =
                    resolved.iter().map(|(signer, instructions, _)| (*signer, instructions.clone())).collect();
                self.run_block(&transactions, &resolved.iter().map(|(s, _, c)| (*s, *c)).collect::<Vec<_>>(), true)
            }
            Step::Advance(seconds, refresh) => {
                self.chain.advance(*seconds);
                let before = self.chain.state.clone();
                self.chain.mine();
                check_indices(&before, &self.chain.state)?;
                check_books(&self.chain.state, &self.minted)?;
                if *refresh {
                    let posts: Vec<(usize, Vec<Instruction>)> =
                        ALL.iter().map(|asset| (ADMIN, vec![self.post(*asset)])).collect();
                    let checks = vec![(ADMIN, Check::Plain); posts.len()];
                    self.run_block(&posts, &checks, false)?;
                }
                Ok(())
            }
            Step::Price(asset, per_mille) => {
                let asset = ALL[*asset];
                let price = Wad(initial_price(asset).0 / 1000 * u128::from(*per_mille));
                self.prices.insert(asset, price);
                self.run_block(&[(ADMIN, vec![self.post(asset)])], &[(ADMIN, Check::Plain)], false)
            }
        }
    }

    fn post(&self, asset: AssetId) -> Instruction {
        Instruction::SetPrice { asset, price: self.prices[&asset], timestamp: self.chain.timestamp }
    }

    fn run_block(
        &mut self,
        transactions: &[(usize, Vec<Instruction>)],
        checks: &[(usize, Check)],
        health_holds: bool,
    ) -> Result<(), TestCaseError> {
        let mut before = self.chain.state.clone();
        let now = self.chain.timestamp;
        let results = self.chain.block_states(transactions);
        for ((status, after), (signer, check)) in results.iter().zip(checks) {
            self.stats.transactions += 1;
            if status.is_success() {
                self.stats.succeeded += 1;
                if let Check::Mint { asset, amount } = check {
                    *self.minted.get_mut(asset).unwrap() += amount;
                }
            }
            check_transaction(&before, after, status, *signer, check, now, health_holds, &mut self.stats)?;
            check_books(after, &self.minted)?;
            before = after.clone();
        }
        Ok(())
    }
}

/// Checks one transaction's effects.
#[allow(clippy::too_many_arguments)]
fn check_transaction(
    before: &BTreeMap<StateKey, Value>,
    after: &BTreeMap<StateKey, Value>,
    status: &TxStatus,
    signer: usize,
    check: &Check,
    now: u64,
    health_holds: bool,
    stats: &mut Stats,
) -> Result<(), TestCaseError> {
    prop_assert!(!matches!(status, TxStatus::AccessViolation { .. }), "simulated access sets are exact: {status:?}");
    check_indices(before, after)?;
    if !status.is_success() {
        prop_assert_eq!(
            without_accounts(before),
            without_accounts(after),
            "a failed transaction changes nothing but the nonce"
        );
        return Ok(());
    }
    if health_holds {
        check_health_kept(before, after, now)?;
    }
    let owner = Chain::address(signer);
    let (was, is) = (query::position(before, owner).unwrap(), query::position(after, owner).unwrap());
    stats.isolated_borrows += u64::from(is.isolation_debt > was.isolation_debt);
    stats.emode_positions += u64::from(is.emode_category != 0);
    match *check {
        Check::DepositWithdraw { asset } => {
            // Deposit then withdraw-all never returns more than the prior claim.
            let claim = deposit_of(before, owner, asset);
            prop_assert!(balance_of(after, owner, asset) <= balance_of(before, owner, asset) + claim);
            prop_assert!(deposit_of(after, owner, asset) == 0);
        }
        Check::BorrowRepay { asset } => {
            // Borrow then repay-all never costs less than the prior debt.
            stats.borrows += 1;
            let debt = debt_of(before, owner, asset);
            prop_assert!(balance_of(after, owner, asset) + debt <= balance_of(before, owner, asset));
            prop_assert!(debt_of(after, owner, asset) == 0);
        }
        Check::Flash { asset, fee } => {
            stats.flash_loans += 1;
            prop_assert_eq!(cash(after, asset), cash(before, asset) + fee);
            prop_assert_eq!(balance_of(after, owner, asset) + fee, balance_of(before, owner, asset));
        }
        Check::Liquidation { borrower, collateral } => {
            check_liquidation(before, after, borrower, collateral, now, stats)?
        }
        Check::Cover { asset } => {
            // A cover lowers the deficit by what the payer (or the treasury) paid.
            stats.covers += 1;
            let (was, is) = (deficit(before, asset), deficit(after, asset));
            prop_assert!(is < was, "a cover lowers the deficit");
            let paid = balance_of(before, owner, asset) - balance_of(after, owner, asset);
            prop_assert!(paid == was - is || paid == 0, "paid {paid} for {}", was - is);
        }
        Check::Plain | Check::Mint { .. } => {}
    }
    if !matches!(check, Check::Liquidation { .. } | Check::Cover { .. }) {
        for asset in ALL {
            prop_assert_eq!(deficit(before, asset), deficit(after, asset), "only bad debt and covers move a deficit");
        }
    }
    Ok(())
}

/// No transaction (prices and time aside) turns a healthy account unhealthy.
fn check_health_kept(
    before: &BTreeMap<StateKey, Value>,
    after: &BTreeMap<StateKey, Value>,
    now: u64,
) -> Result<(), TestCaseError> {
    for user in 0..=USERS {
        let owner = Chain::address(user);
        let was = query::health(before, owner, now).unwrap().health.unwrap();
        let is = query::health(after, owner, now).unwrap().health.unwrap();
        if was.health_factor >= Wad::ONE {
            prop_assert!(
                is.health_factor >= Wad::ONE,
                "user {user} was {} and is {}",
                was.health_factor,
                is.health_factor
            );
        }
    }
    Ok(())
}

/// A liquidation never lowers the borrower's health factor unless the
/// position is closed (no debt left) or was below `bonus × threshold`,
/// where Aave's rules make a partial liquidation lower it (see
/// `liquidation`). Rounding may cost the borrower a few base units: one
/// cent of slack on each side.
fn check_liquidation(
    before: &BTreeMap<StateKey, Value>,
    after: &BTreeMap<StateKey, Value>,
    borrower: usize,
    collateral: AssetId,
    now: u64,
    stats: &mut Stats,
) -> Result<(), TestCaseError> {
    stats.liquidations += 1;
    let owner = Chain::address(borrower);
    let was = query::health(before, owner, now).unwrap().health.unwrap();
    let is = query::health(after, owner, now).unwrap().health.unwrap();
    prop_assert!(was.health_factor < Wad::ONE, "only unhealthy positions are liquidated");
    if is.debt_value == Wad::ZERO {
        if query::position(after, owner).unwrap().entries.iter().all(|entry| !entry.is_collateral()) {
            stats.bad_debt += u64::from(query::position(before, owner).unwrap().has_debt());
        }
        return Ok(());
    }
    let params = query::market_config(before, collateral).unwrap().params;
    let config = query::config(before).unwrap();
    let emode =
        crate::emode::position_category(&config, query::position(before, owner).unwrap().emode_category).unwrap();
    let risk = crate::emode::collateral_risk(&params, emode.as_ref());
    let big = |value: Wad| BigUint::from(value.0);
    let spiral_bound =
        BigUint::from(risk.liquidation_bonus.0) * BigUint::from(risk.liquidation_threshold.0) * big(was.debt_value);
    if big(was.liquidation_value) * BigUint::from(100_000_000u32) < spiral_bound {
        stats.spiral_liquidations += 1;
        return Ok(());
    }
    let cent = BigUint::from(Wad::SCALE / 100);
    let left = (big(is.liquidation_value) + &cent) * big(was.debt_value);
    let right = big(was.liquidation_value) * (big(is.debt_value).max(cent.clone()) - &cent);
    prop_assert!(left >= right, "health fell from {} to {}", was.health_factor, is.health_factor);
    stats.improving_liquidations += 1;
    Ok(())
}

/// Indices never decrease.
fn check_indices(before: &BTreeMap<StateKey, Value>, after: &BTreeMap<StateKey, Value>) -> Result<(), TestCaseError> {
    for asset in ALL {
        let Some(was) = index_of(before, asset) else { continue };
        let is = index_of(after, asset).unwrap();
        prop_assert!(is.liquidity_index >= was.liquidity_index && is.borrow_index >= was.borrow_index);
        prop_assert!(is.liquidity_index >= Ray::ONE && is.borrow_index >= Ray::ONE);
    }
    Ok(())
}

/// Conservation, the totals against the positions, and the balance sheet.
fn check_books(state: &BTreeMap<StateKey, Value>, minted: &BTreeMap<AssetId, u128>) -> Result<(), TestCaseError> {
    let positions: Vec<Position> = state
        .iter()
        .filter(|(key, _)| matches!(key, StateKey::Position { .. }))
        .map(|(_, value)| decode::<Position>(value).unwrap())
        .collect();
    for position in &positions {
        prop_assert!(position.is_valid() && !position.is_empty(), "{position:?}");
    }
    check_isolation(state, &positions)?;
    for asset in ALL {
        // Every token is in a wallet or in the market's cash.
        let wallets: u128 = state
            .iter()
            .filter(|(key, _)| matches!(key, StateKey::Balance { asset: a, .. } if *a == asset))
            .map(|(_, value)| decode_fields(Some(value)).unwrap()[BALANCE_FIELD])
            .sum();
        prop_assert_eq!(wallets + cash(state, asset), minted[&asset], "conservation of {}", asset);
        // The totals are the sum of the positions.
        let entries = positions.iter().filter_map(|position| position.entry(asset));
        let (supply, debt) = entries.fold((0u128, 0u128), |(s, d), e| (s + e.scaled_deposit, d + e.scaled_debt));
        let totals = query::market_totals(state, asset).unwrap();
        prop_assert_eq!((supply, debt), (totals.scaled_supply, totals.scaled_debt));
        // The protocol's view is conservative: it owes at least what users can
        // claim and is owed at most what users owe.
        let Some(index) = index_of(state, asset) else {
            prop_assert_eq!((supply, debt, cash(state, asset)), (0, 0, 0), "no market, no books");
            continue;
        };
        let sheet = totals.balance_sheet(&index).unwrap();
        let claims: u128 = positions
            .iter()
            .filter_map(|p| p.entry(asset))
            .map(|e| deposit_balance(e.scaled_deposit, index.liquidity_index).unwrap())
            .sum();
        let owed: u128 = positions
            .iter()
            .filter_map(|p| p.entry(asset))
            .map(|e| debt_balance(e.scaled_debt, index.borrow_index).unwrap())
            .sum();
        prop_assert!(claims <= sheet.total_supply.0 && owed >= sheet.total_debt.0);
        // The books never lack more than the recorded deficit: equity,
        // counting the deficit as owed to the market, is negative only by
        // the rounding of the two totals (supply up, debt down).
        prop_assert!(sheet.shortfall.0 <= SHORTFALL_MAX, "shortfall in {}: {:?}", asset, sheet);
        prop_assert_eq!(
            sheet.cash.0 + sheet.total_debt.0 + sheet.deficit.0 + sheet.shortfall.0,
            sheet.total_supply.0 + sheet.treasury.0
        );
    }
    Ok(())
}

/// Each isolated market's isolation debt covers what the positions isolated
/// on it recorded (it may hold more: bad debt stays counted).
fn check_isolation(state: &BTreeMap<StateKey, Value>, positions: &[Position]) -> Result<(), TestCaseError> {
    for asset in ALL {
        let Ok(market) = query::market_config(state, asset) else { continue };
        if !market.params.is_isolated() {
            continue;
        }
        let recorded: u128 = positions
            .iter()
            .filter(|position| {
                let mut collateral = position.collateral_entries();
                matches!((collateral.next(), collateral.next()), (Some(only), None) if only.asset == asset)
            })
            .map(|position| position.isolation_debt)
            .sum();
        let total = query::market_totals(state, asset).unwrap().isolation_debt;
        prop_assert!(total >= recorded, "isolation debt of {asset}: {total} < {recorded} recorded");
        prop_assert!(total <= u128::from(crate::limits::DEBT_CEILING_CENTS_MAX));
    }
    Ok(())
}

/// Defines e-mode category 2 (values in bps; out of range ones are refused).
fn define_category(ltv: u16, threshold: u16, bonus: u16) -> Instruction {
    let category = crate::emode::EModeCategory {
        id: 2,
        ltv: Bps(ltv),
        liquidation_threshold: Bps(threshold),
        liquidation_bonus: Bps(bonus),
    };
    Instruction::SetEModeCategory { category }
}

fn config_instruction(change: ConfigOp) -> Instruction {
    match change {
        ConfigOp::Liquidation { close_factor, threshold_per_mille, min_close_factor_usd, min_leftover_usd } => {
            let config = crate::state::LiquidationConfig {
                close_factor_hf_threshold: Wad(Wad::SCALE / 1000 * u128::from(threshold_per_mille)),
                min_close_factor_base: usd(u128::from(min_close_factor_usd)),
                min_leftover_base: usd(u128::from(min_leftover_usd)),
                close_factor: Bps(close_factor),
            };
            Instruction::SetLiquidationConfig { config }
        }
        ConfigOp::Minter(minter) => Instruction::SetMinter { minter: minter.map(Chain::address) },
        ConfigOp::Oracle => Instruction::SetOracle { oracle: Chain::address(ADMIN) },
        ConfigOp::Admin => Instruction::SetAdmin { admin: Chain::address(ADMIN) },
    }
}

fn without_accounts(state: &BTreeMap<StateKey, Value>) -> Vec<(&StateKey, &Value)> {
    state.iter().filter(|(key, _)| !matches!(key, StateKey::Account { .. })).collect()
}

fn index_of(state: &BTreeMap<StateKey, Value>, asset: AssetId) -> Option<MarketIndex> {
    load(state, &StateKey::MarketIndex { asset }).unwrap()
}

fn deficit(state: &BTreeMap<StateKey, Value>, asset: AssetId) -> u128 {
    query::market_totals(state, asset).unwrap().deficit
}

fn cash(state: &BTreeMap<StateKey, Value>, asset: AssetId) -> u128 {
    let value = state.get(&StateKey::MarketTotals { asset });
    decode_fields(value.map(|v| &v[..])).unwrap()[CASH_FIELD]
}

fn deposit_of(state: &BTreeMap<StateKey, Value>, owner: Address, asset: AssetId) -> u128 {
    let scaled = query::position(state, owner).unwrap().entry(asset).map_or(0, |e| e.scaled_deposit);
    index_of(state, asset).map_or(0, |index| deposit_balance(scaled, index.liquidity_index).unwrap())
}

fn debt_of(state: &BTreeMap<StateKey, Value>, owner: Address, asset: AssetId) -> u128 {
    let scaled = query::position(state, owner).unwrap().entry(asset).map_or(0, |e| e.scaled_debt);
    index_of(state, asset).map_or(0, |index| debt_balance(scaled, index.borrow_index).unwrap())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|text| text.parse().ok()).unwrap_or(DEFAULT_CASES)
}

#[test]
fn random_sequences_keep_every_invariant() {
    let config = Config { cases: cases(), max_shrink_iters: 256, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let totals = RefCell::new(Stats::default());
    let strategy = prop::collection::vec(step(), 20..=60);
    let result = runner.run(&strategy, |steps| {
        let mut run = Run::new()?;
        for step in &steps {
            run.step(step)?;
        }
        let mut totals = totals.borrow_mut();
        totals.transactions += run.stats.transactions;
        totals.succeeded += run.stats.succeeded;
        totals.liquidations += run.stats.liquidations;
        totals.bad_debt += run.stats.bad_debt;
        totals.spiral_liquidations += run.stats.spiral_liquidations;
        totals.improving_liquidations += run.stats.improving_liquidations;
        totals.flash_loans += run.stats.flash_loans;
        totals.borrows += run.stats.borrows;
        totals.covers += run.stats.covers;
        totals.isolated_borrows += run.stats.isolated_borrows;
        totals.emode_positions += run.stats.emode_positions;
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let totals = totals.into_inner();
    println!("property run: {totals:?}");
    // The generator must reach the interesting paths, or the test proves little.
    assert!(totals.succeeded * 3 >= totals.transactions, "{totals:?}");
    assert!(totals.liquidations > 0 && totals.improving_liquidations > 0, "{totals:?}");
    assert!(totals.flash_loans > 0 && totals.borrows > 0, "{totals:?}");
    assert!(totals.covers > 0 && totals.isolated_borrows > 0 && totals.emode_positions > 0, "{totals:?}");
}
