//! Tests that drive the whole state machine through the ledger's real
//! pipeline: every transaction's access set comes from
//! `simulate_transaction`, and blocks run through `execute_block_serial`
//! (prologue, transactions under enforced access sets, epilogue).

mod exploits;
mod properties;
mod risk_tiers;
mod scenarios;

use std::collections::BTreeMap;

use parlend_ledger::exec::{BlockContext, execute_block_serial, simulate_transaction};
use parlend_ledger::state::{Value, WriteSet, decode_fields};
use parlend_ledger::{Address, Amount, AssetId, Keypair, Ray, StateKey, TxStatus, Wad};

use crate::failure::Failure;
use crate::genesis::{Genesis, GenesisAccount, GenesisMarket};
use crate::instruction::{AmountOrAll, Instruction};
use crate::market::{MarketIndex, MarketParams, MarketTotals};
use crate::position::Position;
use crate::query::{self, HealthReport, MarketSummary};
use crate::state::{AssetInfo, BALANCE_FIELD, GlobalConfig, balance_key, load};
use crate::{LendingVm, Transaction, VerifiedTransaction};

pub(crate) const CHAIN_ID: u64 = 7;
/// Genesis time of test chains.
pub(crate) const START: u64 = 1_700_000_000;
/// Funded accounts of the default test chain; account 0 is admin and oracle.
pub(crate) const ACCOUNTS: usize = 6;

pub(crate) const USDC: AssetId = AssetId::from_static("USDC");
pub(crate) const WETH: AssetId = AssetId::from_static("WETH");
pub(crate) const WBTC: AssetId = AssetId::from_static("WBTC");
pub(crate) const TBILL: AssetId = AssetId::from_static("TBILL");
pub(crate) const ASSETS: [AssetId; 4] = [TBILL, USDC, WBTC, WETH];

/// `x` percent as a ray.
pub(crate) fn ray_percent(x: u128) -> Ray {
    Ray(x * Ray::SCALE / 100)
}

/// Decimals of a test asset.
pub(crate) fn decimals(asset: AssetId) -> u8 {
    match asset.as_str() {
        "USDC" | "TBILL" => 6,
        "WBTC" => 8,
        _ => 18,
    }
}

/// `whole` tokens of `asset` in base units.
pub(crate) fn tokens(asset: AssetId, whole: u128) -> u128 {
    whole * 10u128.pow(u32::from(decimals(asset)))
}

/// `usd` dollars as a wad.
pub(crate) fn usd(usd: u128) -> Wad {
    Wad(usd * Wad::SCALE)
}

/// Realistic Aave-like test parameters: the dev markets' (their one source
/// is [`crate::dev::dev_market_params`]) without supply and borrow caps,
/// except a 10M-token supply cap on the T-bill.
pub(crate) fn market_params(asset: AssetId) -> MarketParams {
    let uncapped = MarketParams {
        supply_cap: Amount::ZERO,
        borrow_cap: Amount::ZERO,
        ..crate::dev::dev_market_params(asset.as_str())
    };
    if asset == TBILL { MarketParams { supply_cap: Amount(tokens(TBILL, 10_000_000)), ..uncapped } } else { uncapped }
}

/// Test prices: USDC $1, WETH $3,000, WBTC $60,000, TBILL $1.
pub(crate) fn initial_price(asset: AssetId) -> Wad {
    match asset.as_str() {
        "WETH" => usd(3_000),
        "WBTC" => usd(60_000),
        _ => usd(1),
    }
}

/// The `index`-th test key.
pub(crate) fn key(index: usize) -> Keypair {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(index as u64).to_le_bytes());
    Keypair::from_seed(&seed)
}

/// A genesis with the four test markets and `accounts` funded accounts.
pub(crate) fn genesis(accounts: usize, funding: &dyn Fn(AssetId) -> u128) -> Genesis {
    let admin = key(0).address();
    Genesis {
        chain_id: CHAIN_ID,
        timestamp: START,
        admin,
        oracle: admin,
        minter: None,
        assets: ASSETS.iter().map(|id| AssetInfo { id: *id, decimals: decimals(*id) }).collect(),
        accounts: (0..accounts)
            .map(|index| GenesisAccount {
                address: key(index).address(),
                balances: ASSETS
                    .iter()
                    .map(|asset| (*asset, Amount(funding(*asset))))
                    .filter(|(_, a)| a.0 > 0)
                    .collect(),
            })
            .collect(),
        markets: ASSETS
            .iter()
            .map(|asset| GenesisMarket { asset: *asset, params: market_params(*asset), price: initial_price(*asset) })
            .collect(),
        liquidation: Default::default(),
        emode_categories: crate::dev::dev_emode_categories(),
        validators: Vec::new(),
    }
}

/// The default funding: a million of the stables, 1,000 WETH, 50 WBTC.
pub(crate) fn default_funding(asset: AssetId) -> u128 {
    match asset.as_str() {
        "WETH" => tokens(WETH, 1_000),
        "WBTC" => tokens(WBTC, 50),
        other => tokens(AssetId::new(other).unwrap(), 1_000_000),
    }
}

/// A test chain: state in memory, blocks through the real pipeline.
pub(crate) struct Chain {
    pub state: BTreeMap<StateKey, Value>,
    pub height: u64,
    /// The timestamp of the next block.
    pub timestamp: u64,
    nonces: BTreeMap<Address, u64>,
}

/// A failed transaction: the failing instruction and its reason.
pub(crate) type Failed = (u16, Failure);

impl Chain {
    /// The default test chain.
    pub fn new() -> Chain {
        Chain::from_genesis(&genesis(ACCOUNTS, &default_funding))
    }

    pub fn from_genesis(genesis: &Genesis) -> Chain {
        Chain { state: genesis.state().unwrap(), height: 0, timestamp: genesis.timestamp, nonces: BTreeMap::new() }
    }

    pub fn address(index: usize) -> Address {
        key(index).address()
    }

    /// Moves the next block's timestamp forward.
    pub fn advance(&mut self, seconds: u64) {
        self.timestamp += seconds;
    }

    fn context(&self) -> BlockContext {
        BlockContext { chain_id: CHAIN_ID, height: self.height + 1, timestamp: self.timestamp }
    }

    /// Runs one block at the current timestamp. Each transaction's access set
    /// is simulated against the state its predecessors in the block leave.
    /// Returns each transaction's status and the state after it.
    pub fn block_states(
        &mut self,
        transactions: &[(usize, Vec<Instruction>)],
    ) -> Vec<(TxStatus, BTreeMap<StateKey, Value>)> {
        let context = self.context();
        let mut verified: Vec<VerifiedTransaction> = Vec::new();
        let mut results = Vec::new();
        let mut nonces = self.nonces.clone();
        let mut prefix_state = self.state.clone();
        for (signer, instructions) in transactions {
            let keypair = key(*signer);
            let nonce = nonces.entry(keypair.address()).or_insert(0);
            let mut transaction = Transaction {
                chain_id: CHAIN_ID,
                signer: keypair.address(),
                nonce: *nonce,
                access: Default::default(),
                instructions: instructions.clone(),
            };
            let simulation = simulate_transaction(&LendingVm, &prefix_state, &context, &transaction).unwrap();
            transaction.access = parlend_ledger::AccessSet::new(simulation.accesses).unwrap();
            *nonce += 1;
            verified.push(transaction.sign(&keypair).verify(CHAIN_ID).expect("test transactions verify"));
            let output = execute_block_serial(&LendingVm, &self.state, &context, &verified).unwrap();
            prefix_state = self.state.clone();
            apply(&mut prefix_state, output.changes);
            let status = output.receipts.last().unwrap().status.clone();
            assert_eq!(status.clone(), simulation.status, "simulation and execution agree");
            results.push((status, prefix_state.clone()));
        }
        if transactions.is_empty() {
            let output = execute_block_serial(&LendingVm, &self.state, &context, &[]).unwrap();
            apply(&mut prefix_state, output.changes);
        }
        self.state = prefix_state;
        self.nonces = nonces;
        self.height += 1;
        results
    }

    /// Runs one block; the statuses.
    pub fn block(&mut self, transactions: &[(usize, Vec<Instruction>)]) -> Vec<TxStatus> {
        self.block_states(transactions).into_iter().map(|(status, _)| status).collect()
    }

    /// Runs a one-transaction block.
    pub fn run(&mut self, signer: usize, instructions: Vec<Instruction>) -> Result<(), Failed> {
        let status = self.block(&[(signer, instructions)]).remove(0);
        outcome(&status)
    }

    /// Runs a one-instruction transaction in its own block.
    pub fn exec(&mut self, signer: usize, instruction: Instruction) -> Result<(), Failure> {
        self.run(signer, vec![instruction]).map_err(|(_, failure)| failure)
    }

    /// An empty block (accrues interest to the current timestamp).
    pub fn mine(&mut self) {
        self.block(&[]);
    }

    pub fn balance(&self, who: usize, asset: AssetId) -> u128 {
        balance_of(&self.state, Chain::address(who), asset)
    }

    pub fn position(&self, who: usize) -> Position {
        query::position(&self.state, Chain::address(who)).unwrap()
    }

    pub fn totals(&self, asset: AssetId) -> MarketTotals {
        query::market_totals(&self.state, asset).unwrap()
    }

    pub fn index(&self, asset: AssetId) -> MarketIndex {
        load(&self.state, &StateKey::MarketIndex { asset }).unwrap().unwrap()
    }

    pub fn market(&self, asset: AssetId) -> MarketSummary {
        query::market_summary(&self.state, asset, self.timestamp).unwrap()
    }

    pub fn health(&self, who: usize) -> HealthReport {
        query::health(&self.state, Chain::address(who), self.timestamp).unwrap()
    }

    pub fn health_factor(&self, who: usize) -> Wad {
        self.health(who).health.unwrap().health_factor
    }

    pub fn config(&self) -> GlobalConfig {
        query::config(&self.state).unwrap()
    }

    /// The user's deposit of `asset`, underlying, at the current indices.
    pub fn deposit_of(&self, who: usize, asset: AssetId) -> u128 {
        let scaled = self.position(who).entry(asset).map_or(0, |entry| entry.scaled_deposit);
        let index: Option<MarketIndex> = load(&self.state, &StateKey::MarketIndex { asset }).unwrap();
        index.map_or(0, |index| crate::position::deposit_balance(scaled, index.liquidity_index).unwrap())
    }

    /// The user's debt in `asset`, underlying, at the current indices.
    pub fn debt_of(&self, who: usize, asset: AssetId) -> u128 {
        let scaled = self.position(who).entry(asset).map_or(0, |entry| entry.scaled_debt);
        let index: Option<MarketIndex> = load(&self.state, &StateKey::MarketIndex { asset }).unwrap();
        index.map_or(0, |index| crate::position::debt_balance(scaled, index.borrow_index).unwrap())
    }

    /// Posts a price at the current timestamp (as the oracle, account 0).
    pub fn set_price(&mut self, asset: AssetId, price: Wad) {
        let timestamp = self.timestamp;
        self.exec(0, Instruction::SetPrice { asset, price, timestamp }).unwrap();
    }
}

/// `Deposit` of `amount` base units.
pub(crate) fn deposit(asset: AssetId, amount: u128) -> Instruction {
    Instruction::Deposit { asset, amount: Amount(amount) }
}

/// `Withdraw`.
pub(crate) fn withdraw(asset: AssetId, amount: AmountOrAll) -> Instruction {
    Instruction::Withdraw { asset, amount }
}

/// `Borrow` of `amount` base units.
pub(crate) fn borrow(asset: AssetId, amount: u128) -> Instruction {
    Instruction::Borrow { asset, amount: Amount(amount) }
}

/// `Repay` of the signer's own debt.
pub(crate) fn repay(asset: AssetId, amount: AmountOrAll) -> Instruction {
    Instruction::Repay { asset, amount, on_behalf_of: None }
}

/// An amount that is not "all".
pub(crate) fn some(amount: u128) -> AmountOrAll {
    AmountOrAll::Amount(Amount(amount))
}

/// `Liquidate` of test account `borrower`, collateral paid out to the wallet.
pub(crate) fn liquidate(borrower: usize, debt: AssetId, collateral: AssetId, cover: AmountOrAll) -> Instruction {
    Instruction::Liquidate {
        borrower: Chain::address(borrower),
        debt_asset: debt,
        collateral_asset: collateral,
        debt_to_cover: cover,
        receive_deposit: false,
    }
}

/// Changes a market's parameters as the admin (account 0); the outcome.
pub(crate) fn update_market(
    chain: &mut Chain,
    asset: AssetId,
    change: impl FnOnce(&mut MarketParams),
) -> Result<(), Failure> {
    let mut params = query::market_config(&chain.state, asset).unwrap().params;
    change(&mut params);
    chain.exec(0, Instruction::UpdateMarket { asset, params })
}

/// A result with the failure's name alone, for assertions on the reason
/// (the values are checked where they are the point).
pub(crate) fn named<T>(result: Result<T, Failure>) -> Result<T, &'static str> {
    result.map_err(|failure| failure.name())
}

/// [`named`] for results that say which instruction failed.
pub(crate) fn named_at<T>(result: Result<T, Failed>) -> Result<T, (u16, &'static str)> {
    result.map_err(|(instruction, failure)| (instruction, failure.name()))
}

/// A receipt status as a result.
pub(crate) fn outcome(status: &TxStatus) -> Result<(), Failed> {
    match status {
        TxStatus::Success => Ok(()),
        TxStatus::Failed { instruction, code, detail } => {
            Err((*instruction, Failure::decode(*code, detail).expect("the contracts' failures decode")))
        }
        TxStatus::AccessViolation { key } => panic!("access violation on {key}"),
    }
}

pub(crate) fn apply(state: &mut BTreeMap<StateKey, Value>, changes: WriteSet) {
    for (key, value) in changes {
        match value {
            Some(value) => state.insert(key, value),
            None => state.remove(&key),
        };
    }
}

pub(crate) fn balance_of(state: &BTreeMap<StateKey, Value>, owner: Address, asset: AssetId) -> u128 {
    let value = state.get(&balance_key(owner, asset));
    decode_fields(value.map(|v| &v[..])).unwrap()[BALANCE_FIELD]
}
