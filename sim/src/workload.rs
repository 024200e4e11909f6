//! Transaction workloads: pre-signed blocks over an in-memory state, for the
//! benchmarks (`parlend bench exec`) and the parallel-equals-serial property
//! tests.
//!
//! A [`Generator`] holds a state and signs transactions the way a client
//! does: it simulates each one against the state to find its exact access
//! set, signs it, and applies the simulated effects, so the next transaction
//! of the same user is simulated against what the first one left.
//!
//! Workloads ([`WorkloadKind`]):
//! - `transfers`: transfers between disjoint pairs of accounts;
//! - `lending-mix`: deposits, borrows, repays and withdraws over the four
//!   markets, two transactions per user on average, users in random order;
//! - `hot-market`: the same operations, every one on the USDC market;
//! - `liquidation-storm`: one oracle update crashes WETH, then every other
//!   transaction liquidates a different borrower;
//! - `serial-chain`: every transaction from one account, so each depends on
//!   the one before.

use std::collections::BTreeMap;

use parlend_contracts::genesis::{Genesis, GenesisAccount};
use parlend_contracts::market::MarketParams;
use parlend_contracts::state::AssetInfo;
use parlend_contracts::{AmountOrAll, Instruction, LendingVm, SignedTransaction};
use parlend_ledger::exec::{AccountState, BlockContext, Plan, Prepared, prepare_transaction};
use parlend_ledger::primitives::sha256_tagged;
use parlend_ledger::state::{Value, WriteSet};
use parlend_ledger::{Access, AccessMode, AccessSet, Address, Amount, AssetId, Keypair, StateKey, TxStatus, Wad};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use serde::Serialize;

use parlend_contracts::dev::{DEV_ASSETS, dev_emode_categories, dev_markets};

/// The chain id of workload chains.
pub const WORKLOAD_CHAIN_ID: u64 = 9_999;
/// Timestamp of the workload genesis (the dev genesis's).
pub const WORKLOAD_GENESIS_TIMESTAMP: u64 = parlend_contracts::dev::DEV_GENESIS_TIMESTAMP;

/// A named workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Transfers between disjoint pairs of accounts.
    Transfers,
    /// Deposits, borrows, repays and withdraws over four markets and many users.
    LendingMix,
    /// Every transaction on the USDC market.
    HotMarket,
    /// A price drop, then many liquidations.
    LiquidationStorm,
    /// Every transaction from one account: each depends on the one before.
    SerialChain,
}

impl WorkloadKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Transfers => "transfers",
            WorkloadKind::LendingMix => "lending-mix",
            WorkloadKind::HotMarket => "hot-market",
            WorkloadKind::LiquidationStorm => "liquidation-storm",
            WorkloadKind::SerialChain => "serial-chain",
        }
    }
}

/// An asset id from a dev symbol.
pub fn asset(symbol: &'static str) -> AssetId {
    AssetId::from_static(symbol)
}

/// The dev assets, in the order of [`DEV_ASSETS`].
pub fn assets() -> Vec<AssetId> {
    DEV_ASSETS.iter().map(|(symbol, _)| AssetId::from_static(symbol)).collect()
}

/// `whole` tokens of a dev asset in base units (`whole` may be a fraction
/// given as `numerator / denominator`).
pub fn tokens(asset: AssetId, numerator: u128, denominator: u128) -> Amount {
    let decimals = DEV_ASSETS.iter().find(|(symbol, _)| AssetId::from_static(symbol) == asset).map_or(0, |(_, d)| *d);
    Amount(numerator * 10u128.pow(u32::from(decimals)) / denominator.max(1))
}

/// Keys, deterministic from the seed.
pub fn keys(seed: u64, count: usize) -> Vec<Keypair> {
    (0..count)
        .map(|index| {
            let tag = sha256_tagged(b"parlend/workload-key", &[&seed.to_be_bytes(), &(index as u64).to_be_bytes()]);
            Keypair::from_seed(&tag.0)
        })
        .collect()
}

/// A genesis with the dev markets, `accounts[0]` as admin and oracle, and
/// every account funded with every dev asset: 10M USDC, 10M TBILL, 10k
/// WETH, 500 WBTC.
pub fn genesis(accounts: &[Keypair]) -> Genesis {
    let admin = accounts.first().map(Keypair::address).unwrap_or(Address([0; 32]));
    let balances: BTreeMap<AssetId, Amount> = [
        (asset("USDC"), tokens(asset("USDC"), 10_000_000, 1)),
        (asset("TBILL"), tokens(asset("TBILL"), 10_000_000, 1)),
        (asset("WETH"), tokens(asset("WETH"), 10_000, 1)),
        (asset("WBTC"), tokens(asset("WBTC"), 500, 1)),
    ]
    .into_iter()
    .collect();
    let mut markets = dev_markets();
    for market in &mut markets {
        market.params = roomy(market.asset, market.params);
    }
    Genesis {
        chain_id: WORKLOAD_CHAIN_ID,
        timestamp: WORKLOAD_GENESIS_TIMESTAMP,
        admin,
        oracle: admin,
        minter: None,
        assets: DEV_ASSETS
            .iter()
            .map(|(symbol, decimals)| AssetInfo { id: AssetId::from_static(symbol), decimals: *decimals })
            .collect(),
        accounts: accounts
            .iter()
            .map(|key| GenesisAccount { address: key.address(), balances: balances.clone() })
            .collect(),
        markets,
        liquidation: Default::default(),
        emode_categories: dev_emode_categories(),
        validators: Vec::new(),
    }
}

/// `params` with caps of a trillion whole tokens: room for a benchmark's
/// many users, while every deposit and borrow still checks a cap.
pub fn roomy(asset: AssetId, mut params: MarketParams) -> MarketParams {
    params.supply_cap = tokens(asset, 1_000_000_000_000, 1);
    if params.borrowing_enabled {
        params.borrow_cap = tokens(asset, 1_000_000_000_000, 1);
    }
    params
}

/// Signs transactions as a client would, against a state it keeps current.
pub struct Generator {
    /// The state transactions are simulated against.
    pub state: BTreeMap<StateKey, Value>,
    /// The block context of the simulations.
    pub context: BlockContext,
}

/// A signed transaction and what simulation said it would do.
pub struct Generated {
    /// The transaction.
    pub signed: SignedTransaction,
    /// Its simulated outcome.
    pub status: TxStatus,
}

impl Generator {
    /// A generator over `state`, simulating in `context`.
    pub fn new(state: BTreeMap<StateKey, Value>, context: BlockContext) -> Generator {
        Generator { state, context }
    }

    /// The next nonce of `address`.
    pub fn nonce(&self, address: Address) -> u64 {
        let value = self.state.get(&StateKey::Account { owner: address });
        AccountState::decode(value.map(|value| &value[..])).map_or(0, |account| account.nonce)
    }

    /// Simulates, signs (with the exact access set, passed through `adjust`)
    /// and applies one transaction.
    pub fn transaction_with(
        &mut self,
        key: &Keypair,
        instructions: Vec<Instruction>,
        adjust: impl FnOnce(Vec<Access>) -> Vec<Access>,
    ) -> anyhow::Result<Generated> {
        let nonce = self.nonce(key.address());
        let Prepared { transaction: exact, simulation } =
            prepare_transaction(&LendingVm, &self.state, &self.context, key, nonce, instructions)?;
        let access = AccessSet::from_unsorted(adjust(simulation.accesses))?;
        // Simulation finds the weakest sufficient access set, so one that was
        // adjusted lacks something the transaction uses: it will fail with
        // an access violation (on a key the executor names), nonce consumed.
        let (signed, status) = if access == exact.transaction.access {
            (exact, simulation.status)
        } else {
            let plan = Plan { chain_id: self.context.chain_id, nonce, access };
            (plan.sign(key, exact.transaction.instructions), TxStatus::AccessViolation { key: StateKey::Config })
        };
        if status.is_success() {
            apply(&mut self.state, &simulation.changes);
        } else {
            let account = StateKey::Account { owner: key.address() };
            if let Some(Some(value)) = simulation.changes.get(&account) {
                self.state.insert(account, value.clone());
            }
        }
        Ok(Generated { signed, status })
    }

    /// Simulates, signs and applies one transaction with its exact access set.
    pub fn transaction(&mut self, key: &Keypair, instructions: Vec<Instruction>) -> anyhow::Result<Generated> {
        self.transaction_with(key, instructions, |accesses| accesses)
    }
}

/// Applies a write set to a state.
pub fn apply(state: &mut BTreeMap<StateKey, Value>, changes: &WriteSet) {
    for (key, value) in changes {
        match value {
            Some(value) => state.insert(*key, value.clone()),
            None => state.remove(key),
        };
    }
}

/// A built workload: the state before the first measured transaction and
/// the measured transactions, in block order.
pub struct Workload {
    /// The state the measured transactions start from (after any setup).
    pub state: BTreeMap<StateKey, Value>,
    /// The measured transactions.
    pub transactions: Vec<SignedTransaction>,
    /// The context the transactions were simulated in (block 1).
    pub context: BlockContext,
}

/// Builds `count` transactions of `kind`, deterministically from `seed`.
pub fn build(kind: WorkloadKind, count: usize, seed: u64) -> anyhow::Result<Workload> {
    let context = BlockContext { chain_id: WORKLOAD_CHAIN_ID, height: 1, timestamp: WORKLOAD_GENESIS_TIMESTAMP + 12 };
    let mut rng = StdRng::seed_from_u64(seed);
    let users = match kind {
        WorkloadKind::Transfers => 2 * count,
        WorkloadKind::LendingMix | WorkloadKind::HotMarket => (count / 2).max(16),
        WorkloadKind::LiquidationStorm => 2 * count,
        WorkloadKind::SerialChain => 64,
    };
    // Account 0 is admin and oracle; users are 1..=users.
    let accounts = keys(seed, users + 1);
    let mut generator = Generator::new(genesis(&accounts).state()?, context);
    let (state, transactions) = match kind {
        WorkloadKind::Transfers => (genesis(&accounts).state()?, transfers(&mut generator, &accounts[1..], &mut rng)?),
        WorkloadKind::SerialChain => {
            (genesis(&accounts).state()?, serial_chain(&mut generator, &accounts[1..], &mut rng, count)?)
        }
        WorkloadKind::LendingMix => lending(&mut generator, &accounts[1..], &mut rng, count, &assets())?,
        WorkloadKind::HotMarket => lending(&mut generator, &accounts[1..], &mut rng, count, &[asset("USDC")])?,
        WorkloadKind::LiquidationStorm => liquidation_storm(&mut generator, &accounts, &mut rng, count)?,
    };
    Ok(Workload { state, transactions, context })
}

/// Transfers between disjoint pairs of `users` (the first half sends).
fn transfers(generator: &mut Generator, users: &[Keypair], rng: &mut StdRng) -> anyhow::Result<Vec<SignedTransaction>> {
    let (senders, receivers) = users.split_at(users.len() / 2);
    let mut transactions = Vec::with_capacity(senders.len());
    for (sender, receiver) in senders.iter().zip(receivers) {
        let amount = Amount(rng.random_range(1..1_000_000));
        let instruction = Instruction::Transfer { to: receiver.address(), asset: asset("USDC"), amount };
        transactions.push(generator.transaction(sender, vec![instruction])?.signed);
    }
    Ok(transactions)
}

/// `count` transfers, all from the first user.
fn serial_chain(
    generator: &mut Generator,
    users: &[Keypair],
    rng: &mut StdRng,
    count: usize,
) -> anyhow::Result<Vec<SignedTransaction>> {
    let mut transactions = Vec::with_capacity(count);
    for _ in 0..count {
        let to = users[rng.random_range(1..users.len())].address();
        let instruction = Instruction::Transfer { to, asset: asset("USDC"), amount: Amount(1) };
        transactions.push(generator.transaction(&users[0], vec![instruction])?.signed);
    }
    Ok(transactions)
}

/// Every user gets a position (untimed setup, part of the state), then
/// `count` random lending operations on `markets`.
fn lending(
    generator: &mut Generator,
    users: &[Keypair],
    rng: &mut StdRng,
    count: usize,
    markets: &[AssetId],
) -> anyhow::Result<(BTreeMap<StateKey, Value>, Vec<SignedTransaction>)> {
    for user in users {
        generator.transaction(user, setup_positions())?;
    }
    let state = generator.state.clone();
    let mut transactions = Vec::with_capacity(count);
    for _ in 0..count {
        let user = &users[rng.random_range(0..users.len())];
        let instruction = lending_operation(rng, markets);
        transactions.push(generator.transaction(user, vec![instruction])?.signed);
    }
    Ok((state, transactions))
}

/// Borrowers at LTV 80% on WETH, liquidators with USDC (untimed setup);
/// then one oracle update crashes WETH and every other transaction
/// liquidates a different borrower.
fn liquidation_storm(
    generator: &mut Generator,
    accounts: &[Keypair],
    rng: &mut StdRng,
    count: usize,
) -> anyhow::Result<(BTreeMap<StateKey, Value>, Vec<SignedTransaction>)> {
    let (borrowers, liquidators) = accounts[1..].split_at(count);
    let (weth, usdc) = (asset("WETH"), asset("USDC"));
    // Liquidity: the liquidators supply USDC.
    for liquidator in liquidators {
        let deposit = Instruction::Deposit { asset: usdc, amount: tokens(usdc, 10_000, 1) };
        generator.transaction(liquidator, vec![deposit])?;
    }
    // Each borrower: 1 WETH ($3,000) of collateral, $2,350 of USDC debt (LTV 80%).
    for borrower in borrowers {
        let instructions = vec![
            Instruction::Deposit { asset: weth, amount: tokens(weth, 1, 1) },
            Instruction::Borrow { asset: usdc, amount: tokens(usdc, 2_350, 1) },
        ];
        generator.transaction(borrower, instructions)?;
    }
    let state = generator.state.clone();
    // WETH falls to $2,600: every borrower's HF is 2,600 × 0.83 / 2,350 ≈ 0.92.
    let timestamp = generator.context.timestamp;
    let crash = Instruction::SetPrice { asset: weth, price: Wad(2_600 * Wad::SCALE), timestamp };
    let mut transactions = vec![generator.transaction(&accounts[0], vec![crash])?.signed];
    for (borrower, liquidator) in borrowers.iter().zip(liquidators).skip(1) {
        let liquidate = Instruction::Liquidate {
            borrower: borrower.address(),
            debt_asset: usdc,
            collateral_asset: weth,
            debt_to_cover: AmountOrAll::Amount(tokens(usdc, rng.random_range(200..1_200), 1)),
            receive_deposit: rng.random_bool(0.5),
        };
        transactions.push(generator.transaction(liquidator, vec![liquidate])?.signed);
    }
    Ok((state, transactions))
}

/// A workload for a node reached over RPC (`parlend bench rpc`): a genesis
/// that funds every signer, setup transactions (untimed: lending positions),
/// and the measured transactions, each signer's in nonce order.
pub struct RpcWorkload {
    /// The chain's genesis, dated `timestamp` so its prices are fresh.
    pub genesis: Genesis,
    /// Transactions to commit before measuring.
    pub setup: Vec<SignedTransaction>,
    /// The measured transactions.
    pub transactions: Vec<SignedTransaction>,
}

/// Builds `count` transactions of `kind` (`transfers` or `lending-mix`)
/// spread over `signers` accounts, deterministically from `seed`, for a
/// chain whose genesis is at `timestamp`.
pub fn rpc_workload(
    kind: WorkloadKind,
    count: usize,
    signers: usize,
    seed: u64,
    timestamp: u64,
) -> anyhow::Result<RpcWorkload> {
    anyhow::ensure!(signers >= 2, "a workload needs at least two signers");
    let accounts = keys(seed, signers + 1);
    let users = &accounts[1..];
    let mut genesis = genesis(&accounts);
    genesis.timestamp = timestamp;
    let context = BlockContext { chain_id: WORKLOAD_CHAIN_ID, height: 1, timestamp };
    let mut generator = Generator::new(genesis.state()?, context);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut setup = Vec::new();
    let mut transactions = Vec::with_capacity(count);
    match kind {
        WorkloadKind::Transfers => {
            for _ in 0..count {
                let (from, to) = (rng.random_range(0..users.len()), rng.random_range(0..users.len() - 1));
                let to = users[if to >= from { to + 1 } else { to }].address();
                let amount = Amount(rng.random_range(1..1_000_000));
                let instruction = Instruction::Transfer { to, asset: asset("USDC"), amount };
                transactions.push(generator.transaction(&users[from], vec![instruction])?.signed);
            }
        }
        WorkloadKind::LendingMix => {
            for user in users {
                setup.push(generator.transaction(user, setup_positions())?.signed);
            }
            let markets = assets();
            for _ in 0..count {
                let user = &users[rng.random_range(0..users.len())];
                let instruction = lending_operation(&mut rng, &markets);
                transactions.push(generator.transaction(user, vec![instruction])?.signed);
            }
        }
        other => anyhow::bail!("{} is not an RPC workload (use transfers or lending-mix)", other.name()),
    }
    Ok(RpcWorkload { genesis, setup, transactions })
}

/// Every lending user's starting position: deposits in all four markets and
/// some debt in USDC and WETH ($36k of collateral, $6.5k of debt).
pub fn setup_positions() -> Vec<Instruction> {
    let (usdc, weth, wbtc, tbill) = (asset("USDC"), asset("WETH"), asset("WBTC"), asset("TBILL"));
    vec![
        Instruction::Deposit { asset: usdc, amount: tokens(usdc, 10_000, 1) },
        Instruction::Deposit { asset: weth, amount: tokens(weth, 5, 1) },
        Instruction::Deposit { asset: wbtc, amount: tokens(wbtc, 1, 10) },
        Instruction::Deposit { asset: tbill, amount: tokens(tbill, 5_000, 1) },
        Instruction::Borrow { asset: usdc, amount: tokens(usdc, 5_000, 1) },
        Instruction::Borrow { asset: weth, amount: tokens(weth, 1, 2) },
    ]
}

/// One random deposit, withdraw, borrow or repay on one of `markets`, sized
/// so that it normally succeeds against a [`setup_positions`] position.
pub fn lending_operation(rng: &mut impl Rng, markets: &[AssetId]) -> Instruction {
    let asset = markets[rng.random_range(0..markets.len())];
    // A small amount: 1 to 100 dollars' worth of USDC/TBILL, 0.001 to 0.1 WETH or WBTC.
    let units = rng.random_range(1..=100u128);
    let amount = match asset.as_str() {
        "WETH" => tokens(asset, units, 1_000),
        "WBTC" => tokens(asset, units, 100_000),
        _ => tokens(asset, units, 1),
    };
    let borrowable = asset != AssetId::from_static("TBILL");
    match rng.random_range(0..4u8) {
        0 => Instruction::Deposit { asset, amount },
        1 => Instruction::Withdraw { asset, amount: AmountOrAll::Amount(amount) },
        2 if borrowable => Instruction::Borrow { asset, amount },
        3 if borrowable => Instruction::Repay { asset, amount: AmountOrAll::Amount(amount), on_behalf_of: None },
        _ => Instruction::Deposit { asset, amount },
    }
}

/// Changes one access of a set (not the signer's account): drops it, or
/// weakens its mode. The transaction then fails with an access violation
/// if it needs what was taken away.
pub fn weaken(mut accesses: Vec<Access>, rng: &mut impl Rng) -> Vec<Access> {
    let candidates: Vec<usize> = accesses
        .iter()
        .enumerate()
        .filter(|(_, access)| !matches!(access.key, StateKey::Account { .. }))
        .map(|(index, _)| index)
        .collect();
    if candidates.is_empty() {
        return accesses;
    }
    let index = candidates[rng.random_range(0..candidates.len())];
    let aggregate = accesses[index].key.is_aggregate();
    match (accesses[index].mode, rng.random_range(0..3u8)) {
        (AccessMode::Write, 1) => accesses[index].mode = AccessMode::Read,
        (AccessMode::Write, 2) if aggregate => accesses[index].mode = AccessMode::Delta,
        (AccessMode::Delta, 1 | 2) => accesses[index].mode = AccessMode::Read,
        (AccessMode::Read, 1 | 2) if aggregate => accesses[index].mode = AccessMode::Delta,
        _ => {
            accesses.remove(index);
        }
    }
    accesses
}

#[cfg(test)]
mod tests {
    use parlend_contracts::query::{market_summary, position_summary};

    use super::*;

    /// A node that answers with proofs can make up its whole state (a
    /// header of its own, values proven under its root), and a client
    /// recomputes the answer from those values (`parlend_rpc::verified`).
    /// So the queries it recomputes must refuse or answer any values: here
    /// the markets, prices, configuration and positions of a lending state
    /// with a few bytes of one to three values changed at a time (single
    /// bytes, whole 16-byte fields set to all ones or zeros), at times up
    /// to 300 years on, never panic (overflow checks on in tests).
    #[test]
    fn queries_over_a_made_up_state_refuse_or_answer_never_panic() {
        let workload = build(WorkloadKind::LendingMix, 64, 3).unwrap();
        let state = workload.state;
        let owners: Vec<Address> = state
            .keys()
            .filter_map(|key| if let StateKey::Position { owner } = key { Some(*owner) } else { None })
            .take(4)
            .collect();
        let read = |key: &StateKey| match key {
            StateKey::Position { owner } => owners.contains(owner),
            StateKey::Account { .. } | StateKey::Balance { .. } => false,
            _ => true,
        };
        let keys: Vec<StateKey> = state.keys().filter(|key| read(key)).copied().collect();
        assert!(owners.len() == 4 && keys.len() > 12, "{} owners, {} keys", owners.len(), keys.len());
        let mut rng = StdRng::seed_from_u64(11);
        for round in 0..3_000 {
            let mut made_up = state.clone();
            for _ in 0..rng.random_range(1..4) {
                let key = &keys[rng.random_range(0..keys.len())];
                let mut value = made_up[key].to_vec();
                let at = rng.random_range(0..value.len());
                match rng.random_range(0..4) {
                    0 => value[at] = rng.random(),
                    1 => value[at] = 0,
                    fill => {
                        let start = at / 16 * 16;
                        let end = (start + 16).min(value.len());
                        value[start..end].fill(if fill == 2 { 0xff } else { 0 });
                    }
                }
                made_up.insert(*key, Value::from(value));
            }
            let later = rng.random_range(0..10_000_000u64) * if rng.random_bool(0.1) { 1_000 } else { 1 };
            let now = workload.context.timestamp + later;
            let _ = position_summary(&made_up, owners[round % owners.len()], now);
            let _ = market_summary(&made_up, assets()[round % 4], now);
        }
    }
}
