//! Verified answers: a `proof: true` answer of `getPosition`, `getBalances`
//! or `getMarket` checked offline, trusting nothing but its header.
//!
//! Two checks, both needed: every attached proof verifies against the state
//! root of the header the answer carries (so the proven values are the
//! state at that height), and the answer's figures are exactly what the
//! same query computes from the proven values alone (so a node cannot
//! attach valid proofs to a false answer). A figure that depends on a key
//! without a proof is refused too. [`verify_answer`] is the one check: the
//! typed client's verified reads ([`crate::Client::verified_position`] and
//! the others) and `parlend verify-proof` both call it.
//!
//! Interest accrues between blocks: a position or market is shown at the
//! node's clock, which is no state key. The check recomputes the answer at
//! the time the answer states ([`Verified::time`]: the position's
//! `timestamp`, the market's `index.lastUpdate`) and refuses a time before
//! the header's; whether that time is acceptably recent is the caller's
//! judgement.

use std::collections::BTreeMap;
use std::sync::Mutex;

use parlend_contracts::query::{QueryError, market_summary, position_summary};
use parlend_ledger::block::Header;
use parlend_ledger::state::{ProofError, StateReader, StoreError, Value};
use parlend_ledger::{Hash, StateKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::types::{BalancesView, MarketView, PositionView, StateProofsView};

/// Why an answer does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The answer is not JSON of the expected shape.
    #[error("the answer is not understood: {0}")]
    Malformed(String),
    /// The answer carries no `proofs` (it was not asked with `proof: true`).
    #[error("the answer carries no proofs")]
    NoProofs,
    /// The header is at another height than the proofs.
    #[error("the header is at height {header}, the proofs at {proofs}")]
    HeaderHeight {
        /// The proofs' height.
        proofs: u64,
        /// The header's height.
        header: u64,
    },
    /// A key's proof does not show its claimed value under the header's
    /// state root.
    #[error("the proof of {key} does not verify: {error}")]
    Proof {
        /// The key.
        key: StateKey,
        /// Why.
        error: ProofError,
    },
    /// The answer is about another account or asset than the one asked.
    #[error("the answer is about {answer}, not {asked}")]
    Subject {
        /// What was asked.
        asked: String,
        /// What the answer is about.
        answer: String,
    },
    /// The answer is accrued to a time before its header's.
    #[error("the answer is at time {time}, before its header's timestamp {header}")]
    Time {
        /// The answer's time.
        time: u64,
        /// The header's timestamp.
        header: u64,
    },
    /// Computing the answer reads a key the answer carries no proof of.
    #[error("the answer depends on {0}, which carries no proof")]
    Unproven(StateKey),
    /// The proven values give no answer at all (a missing market, a value
    /// that does not decode).
    #[error("the proven state gives no answer: {0}")]
    NoAnswer(String),
    /// A figure differs from what the proven values give.
    #[error("{field}: the answer says {answer}, the proven state gives {proven}")]
    Figure {
        /// The figure's path in the answer's JSON (`assets[0].debt`).
        field: String,
        /// The answer's value, as JSON.
        answer: String,
        /// The value computed from the proven state, as JSON.
        proven: String,
    },
}

/// An answer whose proofs and figures were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T> {
    /// The answer, every figure of it recomputed from proven values.
    pub view: T,
    /// The height of the state it was computed from.
    pub height: u64,
    /// The header at `height`: the only thing trusted. Check it against the
    /// chain (its hash, a commit certificate) before relying on it.
    pub header: Header,
    /// The time the answer is accrued to, when it depends on one
    /// (positions, markets); at least the header's timestamp.
    pub time: Option<u64>,
    /// How many keys were proven.
    pub keys: usize,
}

impl<T> Verified<T> {
    /// The hash of the header the answer was checked against.
    pub fn block_hash(&self) -> Hash {
        self.header.hash()
    }
}

/// An answer that can be recomputed from the state keys it was read from.
pub trait Recomputable: Serialize + DeserializeOwned + Sized {
    /// The method that answers it.
    const METHOD: &'static str;
    /// The account or asset it is about, as text.
    fn subject(&self) -> String;
    /// The time it is accrued to, if it depends on one.
    fn time(&self) -> Option<u64>;
    /// The same answer computed from `state` alone.
    fn recompute(&self, state: &dyn StateReader) -> Result<Self, QueryError>;
}

impl Recomputable for PositionView {
    const METHOD: &'static str = crate::methods::GET_POSITION;
    fn subject(&self) -> String {
        self.owner.to_string()
    }
    fn time(&self) -> Option<u64> {
        Some(self.timestamp)
    }
    fn recompute(&self, state: &dyn StateReader) -> Result<Self, QueryError> {
        position_summary(state, self.owner, self.timestamp)
    }
}

impl Recomputable for MarketView {
    const METHOD: &'static str = crate::methods::GET_MARKET;
    fn subject(&self) -> String {
        self.asset.to_string()
    }
    /// The index is accrued to the query's time, so its `lastUpdate` is it.
    fn time(&self) -> Option<u64> {
        Some(self.index.last_update)
    }
    fn recompute(&self, state: &dyn StateReader) -> Result<Self, QueryError> {
        market_summary(state, self.asset, self.index.last_update)
    }
}

impl Recomputable for BalancesView {
    const METHOD: &'static str = crate::methods::GET_BALANCES;
    fn subject(&self) -> String {
        self.address.to_string()
    }
    fn time(&self) -> Option<u64> {
        None
    }
    fn recompute(&self, state: &dyn StateReader) -> Result<Self, QueryError> {
        BalancesView::read(state, self.address)
    }
}

/// Checks a `proof: true` answer (the JSON `result`, answer fields and
/// `proofs`): every proof against the carried header's state root, the time
/// not before the header's, every figure equal to what the proven values
/// give, and, when `asked` is given, that the answer is about it (an
/// address or asset as text).
pub fn verify_answer<T: Recomputable>(answer: &Json, asked: Option<&str>) -> Result<Verified<T>, VerifyError> {
    let (view, proofs) = split::<T>(answer)?;
    if let Some(asked) = asked
        && view.subject() != asked
    {
        return Err(VerifyError::Subject { asked: asked.to_string(), answer: view.subject() });
    }
    let values = proofs.verify()?;
    let keys = values.len();
    if let Some(time) = view.time()
        && time < proofs.header.timestamp
    {
        return Err(VerifyError::Time { time, header: proofs.header.timestamp });
    }
    let state = ProvenState::new(values);
    let recomputed = view.recompute(&state);
    if let Some(key) = state.unproven() {
        return Err(VerifyError::Unproven(key));
    }
    let recomputed = recomputed.map_err(|error| VerifyError::NoAnswer(error.to_string()))?;
    let (said, proven) = (to_json(&view)?, to_json(&recomputed)?);
    if let Some((field, answer, proven)) = first_difference(&said, &proven, String::new()) {
        return Err(VerifyError::Figure { field, answer, proven });
    }
    let time = view.time();
    Ok(Verified { view, height: proofs.height, header: proofs.header, time, keys })
}

/// The answer's fields and its `proofs`.
fn split<T: Recomputable>(answer: &Json) -> Result<(T, StateProofsView), VerifyError> {
    let mut fields = answer.as_object().cloned().ok_or_else(|| VerifyError::Malformed("not a JSON object".into()))?;
    let proofs = fields.remove("proofs").filter(|proofs| !proofs.is_null()).ok_or(VerifyError::NoProofs)?;
    let proofs: StateProofsView =
        serde_json::from_value(proofs).map_err(|error| VerifyError::Malformed(format!("proofs: {error}")))?;
    let view = serde_json::from_value(Json::Object(fields))
        .map_err(|error| VerifyError::Malformed(format!("not a {} answer: {error}", T::METHOD)))?;
    Ok((view, proofs))
}

fn to_json<T: Serialize>(view: &T) -> Result<Json, VerifyError> {
    serde_json::to_value(view).map_err(|error| VerifyError::Malformed(error.to_string()))
}

/// The first place where `said` and `proven` differ: its path and both
/// values. Fields either side lacks count as differences too.
fn first_difference(said: &Json, proven: &Json, path: String) -> Option<(String, String, String)> {
    let at = |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
    match (said, proven) {
        (Json::Object(said), Json::Object(proven)) => {
            let mut names: Vec<&String> = said.keys().chain(proven.keys()).collect();
            names.sort();
            names.dedup();
            names.into_iter().find_map(|name| match (said.get(name), proven.get(name)) {
                (Some(a), Some(b)) => first_difference(a, b, at(name)),
                (a, b) => Some((at(name), shown(a), shown(b))),
            })
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().find_map(|(index, (a, b))| first_difference(a, b, format!("{path}[{index}]")))
        }
        (a, b) if a == b => None,
        (a, b) => Some((if path.is_empty() { "the answer".into() } else { path }, a.to_string(), b.to_string())),
    }
}

fn shown(value: Option<&Json>) -> String {
    value.map_or_else(|| "nothing".to_string(), Json::to_string)
}

/// A state holding only proven values: reading any other key fails, and
/// the first such key is remembered.
struct ProvenState {
    values: BTreeMap<StateKey, Option<Value>>,
    unproven: Mutex<Option<StateKey>>,
}

impl ProvenState {
    fn new(values: Vec<(StateKey, Option<Vec<u8>>)>) -> ProvenState {
        let values = values.into_iter().map(|(key, value)| (key, value.map(Value::from))).collect();
        ProvenState { values, unproven: Mutex::new(None) }
    }

    fn unproven(&self) -> Option<StateKey> {
        *self.unproven.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl StateReader for ProvenState {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        if let Some(value) = self.values.get(key) {
            return Ok(value.clone());
        }
        self.unproven.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(*key);
        Err(StoreError::Io(format!("{key} carries no proof")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let said = json!({"a": 1, "b": [{"c": "2"}, {"c": "3"}], "d": null});
        assert_eq!(first_difference(&said, &said.clone(), String::new()), None);
        let proven = json!({"a": 1, "b": [{"c": "2"}, {"c": "4"}], "d": null});
        assert_eq!(
            first_difference(&said, &proven, String::new()),
            Some(("b[1].c".to_string(), "\"3\"".to_string(), "\"4\"".to_string()))
        );
        let shorter = json!({"a": 1, "b": [{"c": "2"}], "d": null});
        assert_eq!(first_difference(&said, &shorter, String::new()).map(|(field, ..)| field), Some("b".to_string()));
        let extra = json!({"a": 1, "b": [{"c": "2"}, {"c": "3"}], "d": null, "e": 5});
        assert_eq!(
            first_difference(&said, &extra, String::new()),
            Some(("e".to_string(), "nothing".to_string(), "5".to_string()))
        );
    }

    #[test]
    fn an_answer_without_proofs_or_of_another_shape_is_refused() {
        let position = json!({"owner": "00"});
        assert_eq!(verify_answer::<PositionView>(&position, None), Err(VerifyError::NoProofs));
        assert!(matches!(verify_answer::<PositionView>(&json!([1]), None), Err(VerifyError::Malformed(_))));
        let proofs = json!({"height": 1, "header": null, "entries": []});
        assert!(matches!(
            verify_answer::<PositionView>(&json!({"owner": "00", "proofs": proofs}), None),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn a_read_of_an_unproven_key_is_remembered() {
        let state = ProvenState::new(vec![(StateKey::Config, None)]);
        assert_eq!(state.get(&StateKey::Config), Ok(None));
        let other = StateKey::Price { asset: "USDC".parse().unwrap() };
        assert!(state.get(&other).is_err());
        assert!(state.get(&StateKey::Position { owner: parlend_ledger::Address([1; 32]) }).is_err());
        assert_eq!(state.unproven(), Some(other));
    }
}
