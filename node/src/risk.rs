//! The liquidatable index: every position with debt, ordered by a lower
//! bound of its health factor, kept up to date block by block from what
//! each block changed — never by rescanning every position.
//!
//! A position's health factor `HF = Σ collateral × price × LT / Σ debt ×
//! price` changes only when
//! - the position changes (a block writes its `Position` key): it is
//!   re-evaluated;
//! - a price it counts changes (a block writes a `Price` key): every holder
//!   of that asset is re-evaluated (the index keeps holders per asset);
//! - parameters change (`Config` or a `MarketConfig`: thresholds, e-mode
//!   categories): rare admin blocks, after which the index is rebuilt;
//! - interest accrues: debt grows with the borrow indices, which can only
//!   lower HF (deposits grow too, which can only raise it). The index keeps
//!   `G`, the product over blocks of the largest borrow-index growth of any
//!   market in the block, so that between an evaluation at `s` and now `t`
//!   every debt grew at most `G(t)/G(s)`, and `HF(t) ≥ HF(s)·G(s)/G(t)`.
//!   Each position is ordered by `key = HF(s)·G(s)` (WAD): the positions
//!   whose HF may now be below a bound `B` are exactly those with `key <
//!   B·G(t)`, a range of the ordered set.
//!
//! Each block re-evaluates the touched positions, the holders of repriced
//! assets, and the range that may be below [`WATCH_BELOW_MAX`] (the
//! at-risk and liquidatable positions themselves, and any that interest may
//! have brought there). `getLiquidatable` evaluates the range below its
//! band at the node's clock (interest to the clock counted in `G`).
//! Roundings widen the ranges, never narrow them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use parlend_contracts::query::{self, QueryError};
use parlend_ledger::Rounding;
use parlend_ledger::primitives::mul_div;
use parlend_ledger::state::StateReader;
use parlend_ledger::{AccessMode, Address, AssetId, StateKey, Wad};
use parlend_rpc::types::{RiskMove, RiskPoint, RiskyPositionView, WATCH_BELOW_MAX};

/// What a block may have changed that can move health factors, from the
/// access sets its transactions declared (a transaction writes only keys it
/// declared for writing, so this covers every change, and perhaps more).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockDigest {
    /// Positions the block may have written.
    pub touched: Vec<Address>,
    /// Assets whose price it may have posted.
    pub repriced: Vec<AssetId>,
    /// Whether it may have changed the configuration or a market's parameters.
    pub parameters_changed: bool,
}

impl BlockDigest {
    /// The digest of a block.
    pub fn of(block: &parlend_contracts::Block) -> BlockDigest {
        let mut digest = BlockDigest::default();
        let mut touched = BTreeSet::new();
        let mut repriced = BTreeSet::new();
        let accesses = block.transactions.iter().flat_map(|transaction| transaction.transaction.access.entries());
        for access in accesses.filter(|access| access.mode != AccessMode::Read) {
            match access.key {
                StateKey::Position { owner } => {
                    touched.insert(owner);
                }
                StateKey::Price { asset } => {
                    repriced.insert(asset);
                }
                StateKey::Config | StateKey::MarketConfig { .. } => digest.parameters_changed = true,
                StateKey::Account { .. }
                | StateKey::Balance { .. }
                | StateKey::MarketIndex { .. }
                | StateKey::MarketTotals { .. } => {}
            }
        }
        digest.touched = touched.into_iter().collect();
        digest.repriced = repriced.into_iter().collect();
        digest
    }
}

/// One indexed position.
#[derive(Debug, Clone)]
struct Entry {
    /// `HF·G` at its last evaluation, WAD; `None` when a price it counts
    /// is missing (re-evaluated every block).
    key: Option<u128>,
    point: Option<RiskPoint>,
    assets: Vec<AssetId>,
}

/// The index (see the module docs).
#[derive(Debug)]
pub struct RiskIndex {
    /// The block it is at; `None` before it is built.
    height: Option<u64>,
    /// `G`, WAD.
    growth: u128,
    /// Each market's borrow index at `height`, RAY.
    borrow_indexes: BTreeMap<AssetId, u128>,
    entries: HashMap<Address, Entry>,
    order: BTreeSet<(u128, Address)>,
    unpriced: BTreeSet<Address>,
    holders: HashMap<AssetId, HashSet<Address>>,
}

/// What [`RiskIndex::query`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskQuery {
    /// Liquidatable now, worst first.
    pub liquidatable: Vec<RiskyPositionView>,
    /// In the band, not liquidatable now, worst first.
    pub at_risk: Vec<RiskyPositionView>,
    /// Positions evaluated to answer.
    pub evaluated: u64,
}

const WAD: u128 = 1_000_000_000_000_000_000;

impl Default for RiskIndex {
    fn default() -> Self {
        RiskIndex {
            height: None,
            growth: WAD,
            borrow_indexes: BTreeMap::new(),
            entries: HashMap::new(),
            order: BTreeSet::new(),
            unpriced: BTreeSet::new(),
            holders: HashMap::new(),
        }
    }
}

/// `a·b/WAD` rounded up, saturating.
fn scale_up(a: u128, b: u128) -> u128 {
    mul_div(a, b, WAD, Rounding::Up).unwrap_or(u128::MAX)
}

/// A position's health (none when a price it counts is missing) and the
/// assets it holds.
type Evaluation = (Option<RiskPoint>, Vec<AssetId>);

/// A position's health now and the assets it holds; `None` without debt.
fn evaluate(reader: &dyn StateReader, owner: Address, now: u64) -> Result<Option<Evaluation>, QueryError> {
    let position = query::position(reader, owner)?;
    if position.entries.iter().all(|entry| entry.scaled_debt == 0) {
        return Ok(None);
    }
    let assets = position.entries.iter().map(|entry| entry.asset).collect();
    let report = query::health(reader, owner, now)?;
    let point = report.health.map(|health| RiskPoint {
        health_factor: health.health_factor,
        collateral_value: health.collateral_value,
        debt_value: health.debt_value,
        prices_fresh: report.prices_fresh,
    });
    Ok(Some((point, assets)))
}

impl RiskIndex {
    /// An index not yet built.
    pub fn new() -> RiskIndex {
        RiskIndex::default()
    }

    /// The block it is at, once built.
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// Positions with debt it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every market's borrow index at `now`, RAY.
    fn borrow_indexes_at(reader: &dyn StateReader, now: u64) -> Result<BTreeMap<AssetId, u128>, QueryError> {
        let markets = query::config(reader)?.markets;
        markets
            .into_iter()
            .map(|asset| Ok((asset, query::normalized_index(reader, asset, now)?.borrow_index.0)))
            .collect()
    }

    /// `G` times the largest growth of a borrow index from the index's
    /// block to `indexes`.
    fn grown(&self, indexes: &BTreeMap<AssetId, u128>) -> u128 {
        indexes.iter().fold(self.growth, |growth, (asset, now)| match self.borrow_indexes.get(asset) {
            Some(before) if *before > 0 && now > before => {
                growth.max(mul_div(self.growth, *now, *before, Rounding::Up).unwrap_or(u128::MAX))
            }
            _ => growth,
        })
    }

    /// Positions whose health may now be below `bound` under growth `growth`.
    fn below(&self, bound: Wad, growth: u128) -> impl Iterator<Item = Address> + '_ {
        let threshold = scale_up(bound.0, growth).saturating_add(1);
        self.order.range(..(threshold, Address([0; 32]))).map(|(_, owner)| *owner).chain(self.unpriced.iter().copied())
    }

    fn remove(&mut self, owner: Address) -> Option<Entry> {
        let entry = self.entries.remove(&owner)?;
        match entry.key {
            Some(key) => {
                self.order.remove(&(key, owner));
            }
            None => {
                self.unpriced.remove(&owner);
            }
        }
        for asset in &entry.assets {
            if let Some(holders) = self.holders.get_mut(asset) {
                holders.remove(&owner);
            }
        }
        Some(entry)
    }

    fn insert(&mut self, owner: Address, point: Option<RiskPoint>, assets: Vec<AssetId>) {
        // Rounded down (a saturated key is below the true one): the bound
        // it gives is never above the health factor.
        let key =
            point.map(|point| mul_div(point.health_factor.0, self.growth, WAD, Rounding::Down).unwrap_or(u128::MAX));
        match key {
            Some(key) => self.order.insert((key, owner)),
            None => self.unpriced.insert(owner),
        };
        for asset in &assets {
            self.holders.entry(*asset).or_default().insert(owner);
        }
        self.entries.insert(owner, Entry { key, point, assets });
    }

    /// Re-evaluates `owner` at `now`; its move.
    fn refresh(&mut self, reader: &dyn StateReader, owner: Address, now: u64) -> Result<RiskMove, QueryError> {
        let before = self.remove(owner).and_then(|entry| entry.point);
        let after = match evaluate(reader, owner, now)? {
            Some((point, assets)) => {
                self.insert(owner, point, assets);
                point
            }
            None => None,
        };
        Ok(RiskMove { owner, before, after })
    }

    /// The owners of the positions the index holds (those with debt at
    /// its height).
    pub fn owners(&self) -> impl Iterator<Item = Address> + '_ {
        self.entries.keys().copied()
    }

    /// Builds the index from every position in the state at block
    /// `height` (its timestamp `now`); the moves of positions whose health
    /// was or is below [`WATCH_BELOW_MAX`].
    pub fn rebuild(
        &mut self,
        reader: &dyn StateReader,
        owners: &[Address],
        height: u64,
        now: u64,
    ) -> Result<Vec<RiskMove>, QueryError> {
        let before: HashMap<Address, Option<RiskPoint>> =
            self.entries.iter().map(|(owner, entry)| (*owner, entry.point)).collect();
        *self = RiskIndex::default();
        self.borrow_indexes = Self::borrow_indexes_at(reader, now)?;
        for owner in owners {
            if let Some((point, assets)) = evaluate(reader, *owner, now)? {
                self.insert(*owner, point, assets);
            }
        }
        self.height = Some(height);
        let mut moved: BTreeSet<Address> = before.keys().copied().collect();
        moved.extend(self.entries.keys().copied());
        let moves = moved
            .into_iter()
            .map(|owner| RiskMove {
                owner,
                before: before.get(&owner).copied().flatten(),
                after: self.entries.get(&owner).and_then(|entry| entry.point),
            })
            .filter(watched)
            .collect();
        Ok(moves)
    }

    /// Brings the index to block `height` (timestamp `now`), which changed
    /// what `digest` says; the moves of re-evaluated positions whose health
    /// was or is below [`WATCH_BELOW_MAX`]. A block that changed parameters
    /// needs [`RiskIndex::rebuild`] instead.
    pub fn apply(
        &mut self,
        reader: &dyn StateReader,
        digest: &BlockDigest,
        height: u64,
        now: u64,
    ) -> Result<Vec<RiskMove>, QueryError> {
        let indexes = Self::borrow_indexes_at(reader, now)?;
        self.growth = self.grown(&indexes);
        self.borrow_indexes = indexes;
        let mut due: BTreeSet<Address> = digest.touched.iter().copied().collect();
        for asset in &digest.repriced {
            due.extend(self.holders.get(asset).into_iter().flatten().copied());
        }
        due.extend(self.below(WATCH_BELOW_MAX, self.growth));
        let mut moves = Vec::new();
        for owner in due {
            let moved = self.refresh(reader, owner, now)?;
            if watched(&moved) {
                moves.push(moved);
            }
        }
        self.height = Some(height);
        Ok(moves)
    }

    /// The positions whose last evaluated health is below `bound`, worst first.
    pub fn members(&self, bound: Wad) -> Vec<(Address, RiskPoint)> {
        // Only the range whose key may be below the bound: a position's
        // last evaluated health is at least its key over `G`.
        let mut members: Vec<(Address, RiskPoint)> = self
            .below(bound, self.growth)
            .filter_map(|owner| self.entries.get(&owner).and_then(|entry| entry.point).map(|point| (owner, point)))
            .filter(|(_, point)| point.health_factor < bound)
            .collect();
        members.sort_by_key(|(owner, point)| (point.health_factor, *owner));
        members
    }

    /// `getLiquidatable`: the positions liquidatable at `now` and those in
    /// the band below `at_risk_below`, worst first, at most `limit` each.
    /// Evaluates candidates in the order of their lower bounds, only while
    /// one may still belong to a list: below the band, and (once a list is
    /// full) strictly below its worst entry. So a wide band costs about
    /// `limit` evaluations, not one per position.
    pub fn query(
        &self,
        reader: &dyn StateReader,
        now: u64,
        at_risk_below: Wad,
        limit: usize,
    ) -> Result<RiskQuery, QueryError> {
        let growth = self.grown(&Self::borrow_indexes_at(reader, now)?);
        let bound = at_risk_below.max(Wad::ONE);
        let threshold = scale_up(bound.0, growth).saturating_add(1);
        let mut liquidatable = Worst::new(limit);
        let mut at_risk = Worst::new(limit);
        let mut evaluated = 0u64;
        let unpriced = self.unpriced.iter().map(|owner| (None, *owner));
        let ordered = self.order.range(..(threshold, Address([0; 32]))).map(|(key, owner)| (Some(*key), *owner));
        for (key, owner) in unpriced.chain(ordered) {
            if let Some(key) = key {
                // A lower bound of this and every later candidate's health.
                let floor = Wad(mul_div(key, WAD, growth, Rounding::Down).unwrap_or(u128::MAX));
                let liquidatable_done = floor >= Wad::ONE || liquidatable.excludes(floor);
                if liquidatable_done && at_risk.excludes(floor) {
                    break;
                }
            }
            let report = query::health(reader, owner, now)?;
            evaluated += 1;
            let Some(health) = report.health.filter(|health| health.debt_value > Wad::ZERO) else { continue };
            let view = RiskyPositionView {
                owner,
                health_factor: health.health_factor,
                collateral_value: health.collateral_value,
                debt_value: health.debt_value,
                prices_fresh: report.prices_fresh,
            };
            if report.is_liquidatable() {
                liquidatable.offer(view);
            } else if health.health_factor < at_risk_below {
                at_risk.offer(view);
            }
        }
        Ok(RiskQuery { liquidatable: liquidatable.sorted(), at_risk: at_risk.sorted(), evaluated })
    }
}

/// The `limit` positions with the lowest health factors offered so far.
struct Worst {
    limit: usize,
    heap: std::collections::BinaryHeap<Ranked>,
}

/// A position ranked by (health factor, owner).
struct Ranked(RiskyPositionView);

impl Ranked {
    fn rank(&self) -> (Wad, Address) {
        (self.0.health_factor, self.0.owner)
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl Worst {
    fn new(limit: usize) -> Worst {
        Worst { limit, heap: std::collections::BinaryHeap::new() }
    }

    fn offer(&mut self, view: RiskyPositionView) {
        self.heap.push(Ranked(view));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    /// Whether no position with health at least `floor` can enter: full,
    /// and its worst entry strictly below `floor` (ties are evaluated).
    fn excludes(&self, floor: Wad) -> bool {
        self.heap.len() >= self.limit && self.heap.peek().is_some_and(|worst| worst.0.health_factor < floor)
    }

    fn sorted(self) -> Vec<RiskyPositionView> {
        self.heap.into_sorted_vec().into_iter().map(|ranked| ranked.0).collect()
    }
}

/// Whether a move matters to some subscriber: its health was or is below
/// [`WATCH_BELOW_MAX`], or it appeared or disappeared there.
fn watched(moved: &RiskMove) -> bool {
    let low = |point: &Option<RiskPoint>| point.is_some_and(|point| point.health_factor < WATCH_BELOW_MAX);
    (low(&moved.before) || low(&moved.after)) && moved.before != moved.after
}

/// A synthetic state for the index's bench and tests.
#[derive(Debug, Clone)]
pub struct SyntheticState {
    /// The state.
    pub state: BTreeMap<StateKey, parlend_ledger::state::Value>,
    /// Its time (the dev genesis's, when its prices are fresh).
    pub now: u64,
    /// The borrowers.
    pub owners: Vec<Address>,
}

/// A dev-genesis state with `count` borrowers: each deposits WETH or WBTC
/// as collateral and owes USDC, at health factors spread over 0.9 to 4 (one
/// in fifty below 1.25).
pub fn synthetic_state(count: usize, seed: u64) -> Result<SyntheticState, String> {
    use parlend_contracts::position::{Position, PositionEntry};
    use rand::{RngExt, SeedableRng};
    let genesis = parlend_contracts::dev::dev_genesis();
    let mut state = genesis.state().map_err(|error| error.to_string())?;
    let mut random = rand::rngs::StdRng::seed_from_u64(seed);
    let symbol = |text: &str| AssetId::new(text).map_err(|error| error.to_string());
    let (usdc, weth, wbtc) = (symbol("USDC")?, symbol("WETH")?, symbol("WBTC")?);
    let mut owners = Vec::with_capacity(count);
    for index in 0..count {
        let mut bytes = [0x5a; 32];
        bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
        let owner = Address(bytes);
        // HF in thousandths: 2% in [0.9, 1.25), the rest in [1.25, 4).
        let milli: u128 = if random.random_range(0..50) == 0 {
            random.random_range(900..1_250)
        } else {
            random.random_range(1_250..4_000)
        };
        // Collateral × LT in USD: 10 WETH × $3,000 × 0.83, or 1 WBTC × $60,000 × 0.78.
        let (collateral, scaled_deposit, weighted_usd) =
            if index % 2 == 0 { (weth, 10 * WAD, 24_900u128) } else { (wbtc, 100_000_000, 46_800) };
        // USDC has 6 decimals; the borrow index is 1 at genesis.
        let scaled_debt = weighted_usd * 1_000_000 * 1_000 / milli;
        let mut entries = vec![
            PositionEntry { asset: collateral, scaled_deposit, scaled_debt: 0, collateral: true },
            PositionEntry { asset: usdc, scaled_deposit: 0, scaled_debt, collateral: false },
        ];
        entries.sort_by_key(|entry| entry.asset);
        let position = Position { entries, emode_category: 0, isolation_debt: 0 };
        let value = borsh::to_vec(&position).map_err(|error| error.to_string())?;
        state.insert(StateKey::Position { owner }, value.into());
        owners.push(owner);
    }
    Ok(SyntheticState { state, now: genesis.timestamp, owners })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use parlend_contracts::market::MarketIndex;
    use parlend_contracts::oracle::PriceEntry;
    use parlend_ledger::Ray;
    use parlend_ledger::state::Value;

    use super::*;

    /// What a scan of every position answers (the definition).
    fn scan(state: &BTreeMap<StateKey, Value>, owners: &[Address], now: u64, band: Wad) -> RiskQuery {
        let mut found = RiskQuery { liquidatable: Vec::new(), at_risk: Vec::new(), evaluated: owners.len() as u64 };
        for owner in owners {
            let report = query::health(state, *owner, now).unwrap();
            let Some(health) = report.health.filter(|health| health.debt_value > Wad::ZERO) else { continue };
            let view = RiskyPositionView {
                owner: *owner,
                health_factor: health.health_factor,
                collateral_value: health.collateral_value,
                debt_value: health.debt_value,
                prices_fresh: report.prices_fresh,
            };
            if report.is_liquidatable() {
                found.liquidatable.push(view);
            } else if health.health_factor < band {
                found.at_risk.push(view);
            }
        }
        for list in [&mut found.liquidatable, &mut found.at_risk] {
            list.sort_by_key(|view| (view.health_factor, view.owner));
        }
        found
    }

    fn assert_same(index: &RiskIndex, state: &BTreeMap<StateKey, Value>, owners: &[Address], now: u64) {
        for band in [Wad::ONE, AT_RISK_BELOW, Wad(1_200_000_000_000_000_000), Wad(2 * WAD), Wad(1_000 * WAD)] {
            let answer = index.query(state, now, band, usize::MAX).unwrap();
            let expected = scan(state, owners, now, band);
            assert_eq!(answer.liquidatable, expected.liquidatable, "band {band:?}");
            assert_eq!(answer.at_risk, expected.at_risk, "band {band:?}");
            // With a limit: the first entries of each list, for no more
            // evaluations.
            let limited = index.query(state, now, band, 25).unwrap();
            assert_eq!(
                limited.liquidatable,
                expected.liquidatable[..expected.liquidatable.len().min(25)],
                "band {band:?}"
            );
            assert_eq!(limited.at_risk, expected.at_risk[..expected.at_risk.len().min(25)], "band {band:?}");
            assert!(limited.evaluated <= answer.evaluated);
        }
    }

    const AT_RISK_BELOW: Wad = Wad(1_050_000_000_000_000_000);

    fn put<T: borsh::BorshSerialize>(state: &mut BTreeMap<StateKey, Value>, key: StateKey, value: &T) {
        state.insert(key, borsh::to_vec(value).unwrap().into());
    }

    #[test]
    fn the_index_answers_as_a_scan_of_every_position_through_prices_interest_and_writes() {
        let SyntheticState { mut state, now, owners } = synthetic_state(3_000, 11).unwrap();
        let mut index = RiskIndex::new();
        index.rebuild(&state, &owners, 1, now).unwrap();
        assert_eq!(index.len(), owners.len());
        assert_same(&index, &state, &owners, now);
        // The 25 lowest health factors of any band: the liquidatable ones
        // (all below the first at-risk entry) and about 25 more evaluated.
        let lowest = index.query(&state, now, Wad(1_000 * WAD), 25).unwrap();
        let liquidatable = scan(&state, &owners, now, Wad::ONE).liquidatable.len() as u64;
        assert_eq!(lowest.at_risk.len(), 25);
        assert!(lowest.evaluated <= liquidatable + 30, "{} evaluated, {liquidatable} liquidatable", lowest.evaluated);

        // WETH falls 10%: its holders are re-evaluated.
        let weth = AssetId::new("WETH").unwrap();
        let price = PriceEntry { price: Wad(2_700 * WAD), timestamp: now };
        put(&mut state, StateKey::Price { asset: weth }, &price);
        let digest = BlockDigest { repriced: vec![weth], ..BlockDigest::default() };
        let moves = index.apply(&state, &digest, 2, now).unwrap();
        assert!(moves.iter().any(|moved| moved.after.is_some_and(|point| point.health_factor < Wad::ONE)));
        assert_same(&index, &state, &owners, now);

        // USDC debt accrues 40% a year; a year passes with no block
        // touching anyone: the query counts the interest to its time.
        let usdc = AssetId::new("USDC").unwrap();
        let key = StateKey::MarketIndex { asset: usdc };
        let mut market: MarketIndex = borsh::from_slice(&state[&key]).unwrap();
        market.borrow_rate = Ray(400_000_000_000_000_000_000_000_000);
        put(&mut state, key, &market);
        let later = now + 365 * 86_400;
        // Prices are stale a year later: post them again at that time.
        for (symbol, usd) in [("USDC", 1), ("WETH", 2_700), ("WBTC", 60_000)] {
            let entry = PriceEntry { price: Wad(usd * WAD), timestamp: later };
            put(&mut state, StateKey::Price { asset: AssetId::new(symbol).unwrap() }, &entry);
        }
        assert_same(&index, &state, &owners, later);
        // A block at that time with the prices posted brings the index there.
        let repriced = ["USDC", "WETH", "WBTC"].map(|symbol| AssetId::new(symbol).unwrap()).to_vec();
        index.apply(&state, &BlockDigest { repriced, ..BlockDigest::default() }, 3, later).unwrap();
        assert_same(&index, &state, &owners, later);

        // Ten borrowers repay everything: touched, they leave the index.
        for owner in &owners[..10] {
            let mut position = query::position(&state, *owner).unwrap();
            position.entries.retain(|entry| entry.scaled_debt == 0);
            put(&mut state, StateKey::Position { owner: *owner }, &position);
        }
        let digest = BlockDigest { touched: owners[..10].to_vec(), ..BlockDigest::default() };
        index.apply(&state, &digest, 4, later).unwrap();
        assert_eq!(index.len(), owners.len() - 10);
        assert_same(&index, &state, &owners, later);
        let members = index.members(AT_RISK_BELOW);
        let expected = scan(&state, &owners, later, AT_RISK_BELOW);
        assert_eq!(members.len(), expected.liquidatable.len() + expected.at_risk.len());
    }
}
