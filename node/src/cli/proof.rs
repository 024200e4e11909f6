//! `parlend query proof` (a key's value and its proof, saved as the node
//! answered) and `parlend verify-proof FILE` (the offline check of a saved
//! answer against its header's state root: nothing else is trusted).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parlend_ledger::StateKey;
use parlend_rpc::Client;
use parlend_rpc::types::{ProofView, StateProofsView};

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
    One(Box<ProofView>),
    Many(StateProofsView),
}

fn read_saved(path: &Path) -> anyhow::Result<Saved> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let json = json.get("result").cloned().unwrap_or(json);
    if let Ok(one) = serde_json::from_value::<ProofView>(json.clone()) {
        return Ok(Saved::One(Box::new(one)));
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
/// state root of the header it carries; an error (exit status 1) says why
/// it does not verify.
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
        Saved::Many(proofs) => {
            if proofs.header.height != proofs.height {
                bail!(
                    "{path} does not verify: its header is at height {}, its proofs at {}",
                    proofs.header.height,
                    proofs.height
                );
            }
            let values = proofs.verify().with_context(|| format!("{path} does not verify"))?;
            println!(
                "verified: {} keys at height {} (block {}, state root {})",
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
