//! `parlend query proof` (a key's value and its proof, saved as the node
//! answered) and `parlend verify-proof FILE` (the offline check of a saved
//! answer against its header's state root, and of a `proof: true` answer's
//! figures against the proven values: nothing else is trusted).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parlend_ledger::StateKey;
use parlend_rpc::Client;
use parlend_rpc::types::{BalancesView, MarketView, PositionView, ProofView, StateProofsView};
use parlend_rpc::verified::{Recomputable, Verified, VerifyError, verify_answer};

/// A state key from the command line: JSON as in access sets
/// (`'{"position": {"owner": "…"}}'`), or a bare name such as `config`.
pub fn parse_key(text: &str) -> anyhow::Result<StateKey> {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_value(serde_json::Value::String(text.to_string())))
        .with_context(|| format!("{text} is not a state key (JSON as in access sets, e.g. '{{\"account\": {{\"owner\": \"…\"}}}}' or config)"))
}

/// `parlend query proof`: asks the node, prints the answer's JSON, and with
/// `out` saves it for `parlend verify-proof`.
pub async fn query(client: &Client, key: StateKey, height: Option<u64>, out: Option<&Path>) -> anyhow::Result<()> {
    let answer = client.proof(key, height).await?;
    let text = serde_json::to_string_pretty(&answer)?;
    if let Some(path) = out {
        std::fs::write(path, format!("{text}\n")).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("{text}");
    Ok(())
}

/// `parlend verify-proof` arguments.
#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// A saved answer: a `getProof` result (`parlend query proof --out`), or
    /// a `proof: true` answer of getPosition / getBalances / getMarket (or
    /// its `proofs` object).
    pub file: PathBuf,
}

/// What a saved file holds.
enum Saved {
    /// A `getProof` answer.
    One(Box<ProofView>),
    /// A `proof: true` answer of one of these methods, as JSON.
    Answer(Answer, serde_json::Value),
    /// Proofs alone (a `proofs` object, or an answer of no known kind).
    Many(StateProofsView),
}

/// The kinds of `proof: true` answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Position,
    Balances,
    Market,
}

impl Answer {
    /// The kind of answer `json` holds, from the fields only it has.
    fn of(json: &serde_json::Value) -> Option<Answer> {
        let has = |field: &str| json.get(field).is_some();
        if has("owner") && has("assets") {
            Some(Answer::Position)
        } else if has("address") && has("balances") {
            Some(Answer::Balances)
        } else if has("asset") && has("params") {
            Some(Answer::Market)
        } else {
            None
        }
    }
}

fn read_saved(path: &Path) -> anyhow::Result<Saved> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let json = json.get("result").cloned().unwrap_or(json);
    if let Ok(one) = serde_json::from_value::<ProofView>(json.clone()) {
        return Ok(Saved::One(Box::new(one)));
    }
    if let Some(kind) = Answer::of(&json).filter(|_| json.get("proofs").is_some()) {
        return Ok(Saved::Answer(kind, json));
    }
    let bundle = json.get("proofs").cloned().unwrap_or(json);
    match serde_json::from_value::<StateProofsView>(bundle) {
        Ok(many) => Ok(Saved::Many(many)),
        Err(error) => bail!("{} holds neither a getProof answer nor proofs: {error}", path.display()),
    }
}

fn shown(value: &Option<Vec<u8>>) -> String {
    value.as_ref().map_or_else(|| "absent".to_string(), hex::encode)
}

/// `parlend verify-proof`: checks every proof in the file against the
/// state root of the header it carries and, for a `proof: true` answer,
/// that every figure is what the proven values give (the client's check,
/// [`parlend_rpc::verified::verify_answer`]); an error (exit status 1) says
/// why it does not verify.
pub fn verify(args: &VerifyProofArgs) -> anyhow::Result<()> {
    let path = args.file.display();
    match read_saved(&args.file)? {
        Saved::One(answer) => {
            let value = answer.verify().with_context(|| format!("{path} does not verify"))?;
            println!(
                "verified: {} = {} at height {} (block {}, state root {})",
                answer.key,
                shown(&value),
                answer.height,
                answer.header.hash(),
                answer.header.state_root
            );
        }
        Saved::Answer(kind, json) => {
            let checked = match kind {
                Answer::Position => Checked::of(verify_answer::<PositionView>(&json, None)),
                Answer::Balances => Checked::of(verify_answer::<BalancesView>(&json, None)),
                Answer::Market => Checked::of(verify_answer::<MarketView>(&json, None)),
            }
            .with_context(|| format!("{path} does not verify"))?;
            let time = checked.time.map(|time| format!(" at time {time}")).unwrap_or_default();
            println!(
                "verified: {} answer for {} at height {} (block {}, state root {}): {} keys proven, every figure is what they give{time}",
                checked.method, checked.subject, checked.height, checked.block, checked.state_root, checked.keys
            );
        }
        Saved::Many(proofs) => {
            let values = proofs.verify().with_context(|| format!("{path} does not verify"))?;
            println!(
                "verified: {} keys at height {} (block {}, state root {}); the file holds no answer, so no figure was checked",
                values.len(),
                proofs.height,
                proofs.header.hash(),
                proofs.header.state_root
            );
            for (key, value) in values {
                println!("  {key} = {}", shown(&value));
            }
        }
    }
    Ok(())
}

/// What a verified answer says, whatever its kind.
struct Checked {
    method: &'static str,
    subject: String,
    height: u64,
    block: parlend_ledger::Hash,
    state_root: parlend_ledger::Hash,
    time: Option<u64>,
    keys: usize,
}

impl Checked {
    fn of<T: Recomputable>(verified: Result<Verified<T>, VerifyError>) -> Result<Checked, VerifyError> {
        let verified = verified?;
        Ok(Checked {
            method: T::METHOD,
            subject: verified.view.subject(),
            height: verified.height,
            block: verified.block_hash(),
            state_root: verified.header.state_root,
            time: verified.time,
            keys: verified.keys,
        })
    }
}
