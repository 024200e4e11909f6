//! `parlend query proof` (a key's value and its proof, saved as the node
//! answered) and `parlend verify-proof FILE` (the offline check of a saved
//! answer against its header's state root, of a `proof: true` answer's
//! figures against the proven values and, with `--genesis`, of the header
//! against its commit certificate and the genesis validators: nothing else
//! is trusted, and what was not checked is said).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use parlend_app::App;
use parlend_app::certificate::{CertificateError, CommitCertificate, CommitSignature, ValidatorSet};
use parlend_contracts::genesis::Genesis;
use parlend_ledger::block::Header;
use parlend_ledger::{Hash, StateKey};
use parlend_rpc::Client;
use parlend_rpc::types::{BalancesView, CertificateView, MarketView, PositionView, ProofView, StateProofsView};
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
    /// The chain's genesis file (JSON, as `parlend testnet init` writes
    /// it): the header is then checked too, against its commit certificate
    /// and the genesis validators (or, at height 0, against the genesis).
    /// Without it the header is trusted as given, and the output says so.
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
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
/// state root of the header it carries, for a `proof: true` answer that
/// every figure is what the proven values give (the client's check,
/// [`parlend_rpc::verified::verify_answer`]) and, with `--genesis`, the
/// header ([`check_header`]); an error (exit status 1, nothing printed)
/// says why it does not verify, and a `not checked:` line what was not
/// checked.
pub fn verify(args: &VerifyProofArgs) -> anyhow::Result<()> {
    let genesis = args.genesis.as_deref().map(|file| super::log::load_genesis(Some(file))).transpose()?;
    let (report, header, certificate) = verify_proofs(&args.file)?;
    let check = check_header(&header, certificate.as_ref(), genesis.as_ref())
        .with_context(|| format!("the header of {} is not certified", args.file.display()))?;
    println!("{report}");
    println!("{}", check.describe(&header));
    Ok(())
}

/// Checks the proofs (and figures) of the file at `file`; gives what they
/// show, for people, the header they are against and its certificate, if
/// the file has one.
fn verify_proofs(file: &Path) -> anyhow::Result<(String, Header, Option<CertificateView>)> {
    let path = file.display();
    Ok(match read_saved(file)? {
        Saved::One(answer) => {
            let value = answer.verify().with_context(|| format!("{path} does not verify"))?;
            let report = format!(
                "verified: {} = {} at height {} (block {}, state root {})",
                answer.key,
                shown(&value),
                answer.height,
                answer.header.hash(),
                answer.header.state_root
            );
            (report, answer.header, answer.certificate)
        }
        Saved::Answer(kind, json) => {
            let checked = match kind {
                Answer::Position => Checked::of(verify_answer::<PositionView>(&json, None)),
                Answer::Balances => Checked::of(verify_answer::<BalancesView>(&json, None)),
                Answer::Market => Checked::of(verify_answer::<MarketView>(&json, None)),
            }
            .with_context(|| format!("{path} does not verify"))?;
            (checked.report(), checked.header, checked.certificate)
        }
        Saved::Many(proofs) => {
            let values = proofs.verify().with_context(|| format!("{path} does not verify"))?;
            let mut report = format!(
                "verified: {} keys at height {} (block {}, state root {}); the file holds no answer, so no figure was checked",
                values.len(),
                proofs.height,
                proofs.header.hash(),
                proofs.header.state_root
            );
            for (key, value) in values {
                report.push_str(&format!("\n  {key} = {}", shown(&value)));
            }
            (report, proofs.header, proofs.certificate)
        }
    })
}

/// What a verified answer says, whatever its kind.
struct Checked {
    method: &'static str,
    subject: String,
    header: Header,
    certificate: Option<CertificateView>,
    time: Option<u64>,
    keys: usize,
}

impl Checked {
    fn of<T: Recomputable>(verified: Result<Verified<T>, VerifyError>) -> Result<Checked, VerifyError> {
        let verified = verified?;
        Ok(Checked {
            method: T::METHOD,
            subject: verified.view.subject(),
            header: verified.header,
            certificate: verified.certificate,
            time: verified.time,
            keys: verified.keys,
        })
    }

    fn report(&self) -> String {
        let time = self.time.map(|time| format!(" at time {time}")).unwrap_or_default();
        format!(
            "verified: {} answer for {} at height {} (block {}, state root {}): {} keys proven, every figure is what they give{time}",
            self.method,
            self.subject,
            self.header.height,
            self.header.hash(),
            self.header.state_root,
            self.keys
        )
    }
}

/// What is known of the header a file's proofs are against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCheck {
    /// Its commit certificate proves it against the genesis validators.
    Certified {
        /// Validators whose precommits it holds.
        signers: usize,
        /// Validators the genesis names.
        validators: usize,
        /// Their voting power.
        signed: u64,
        /// All the validators' voting power.
        total: u64,
        /// The round it was decided in.
        round: u32,
    },
    /// It is the genesis's own block 0.
    Genesis,
    /// Nothing checked it; the reason.
    Unchecked(&'static str),
}

impl HeaderCheck {
    /// One line for people: `certified: ...` or `not checked: ...`.
    pub fn describe(&self, header: &Header) -> String {
        let (block, height) = (header.hash(), header.height);
        match self {
            HeaderCheck::Certified { signers, validators, signed, total, round } => format!(
                "certified: block {block} at height {height} was decided by {signers} of the genesis's {validators} validators ({signed} of {total} voting power, round {round})"
            ),
            HeaderCheck::Genesis => format!("certified: block {block} is the genesis's block 0"),
            HeaderCheck::Unchecked(why) => {
                format!("not checked: the header (block {block} at height {height}) is trusted as given: {why}")
            }
        }
    }
}

/// Why a header is not certified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The header is of another chain than the genesis.
    #[error("the header is of chain {header}, the genesis of chain {genesis}")]
    WrongChain {
        /// The header's chain.
        header: u64,
        /// The genesis's chain.
        genesis: u64,
    },
    /// A header at height 0 that is not the genesis's block 0.
    #[error("the header at height 0 is block {header}, but the genesis's block 0 is {genesis}")]
    NotGenesis {
        /// The header's hash.
        header: Hash,
        /// The genesis block's hash.
        genesis: Hash,
    },
    /// The genesis cannot build its block 0.
    #[error("the genesis is invalid: {0}")]
    BadGenesis(String),
    /// The chain has validators, and the file no certificate.
    #[error(
        "the genesis names validators but the file carries no commit certificate of block {block} at height {height}: the header cannot be checked"
    )]
    NoCertificate {
        /// The header's hash.
        block: Hash,
        /// Its height.
        height: u64,
    },
    /// A certificate, but no validators to check it with.
    #[error("the file carries a commit certificate but the genesis names no validators (is it this chain's genesis?)")]
    NoValidators,
    /// The certificate does not prove the header.
    #[error("the commit certificate does not certify block {block} at height {height}: {error}")]
    Certificate {
        /// The header's hash.
        block: Hash,
        /// Its height.
        height: u64,
        /// Why, as [`CommitCertificate::verify`] says (boxed: it is large).
        error: Box<CertificateError>,
    },
}

/// Checks `header` with `genesis`: of the genesis's chain, and either the
/// genesis's block 0 or decided by its validators (`certificate`, checked
/// by [`CommitCertificate::verify`], replay's check: valid precommit
/// signatures of genesis validators, each once, holding more than two
/// thirds of the voting power, for exactly this header's hash and height).
/// Without a genesis, or on a single-node chain (no validators), nothing
/// checks the header: [`HeaderCheck::Unchecked`] says so.
pub fn check_header(
    header: &Header,
    certificate: Option<&CertificateView>,
    genesis: Option<&Genesis>,
) -> Result<HeaderCheck, HeaderError> {
    let Some(genesis) = genesis else {
        return Ok(HeaderCheck::Unchecked(match certificate {
            Some(_) => "the file carries its commit certificate, give --genesis FILE to check it",
            None => "the file carries no commit certificate, and no --genesis was given",
        }));
    };
    if header.chain_id != genesis.chain_id {
        return Err(HeaderError::WrongChain { header: header.chain_id, genesis: genesis.chain_id });
    }
    let block = header.hash();
    if header.height == 0 {
        let expected = App::genesis_commit(genesis).map_err(|error| HeaderError::BadGenesis(error.to_string()))?;
        let expected = expected.header.hash();
        return if block == expected {
            Ok(HeaderCheck::Genesis)
        } else {
            Err(HeaderError::NotGenesis { header: block, genesis: expected })
        };
    }
    let validators = ValidatorSet::from_genesis(&genesis.validators);
    let view = match (certificate, validators.is_empty()) {
        (None, true) => {
            return Ok(HeaderCheck::Unchecked(
                "the genesis names no validators (a single-node chain), so no certificate can prove it",
            ));
        }
        (Some(_), true) => return Err(HeaderError::NoValidators),
        (None, false) => return Err(HeaderError::NoCertificate { block, height: header.height }),
        (Some(view), false) => view,
    };
    let certificate = commit_certificate(view, header);
    certificate.verify(&validators, header.height, &block).map_err(|error| HeaderError::Certificate {
        block,
        height: header.height,
        error: Box::new(error),
    })?;
    let signed = certificate
        .signatures
        .iter()
        .filter_map(|commit| validators.get(&commit.validator))
        .fold(0u64, |sum, validator| sum.saturating_add(validator.power));
    Ok(HeaderCheck::Certified {
        signers: certificate.signatures.len(),
        validators: validators.validators().len(),
        signed,
        total: validators.total_power(),
        round: certificate.round,
    })
}

/// The certificate `view` claims for `header`: its signatures are checked
/// over this header's height and hash, so a certificate of any other block
/// fails on its first signature.
fn commit_certificate(view: &CertificateView, header: &Header) -> CommitCertificate {
    CommitCertificate {
        height: header.height,
        round: view.round,
        block_hash: header.hash(),
        signatures: view
            .signatures
            .iter()
            .map(|commit| CommitSignature { validator: commit.validator, signature: commit.signature })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use parlend_app::certificate::{VoteKind, vote_preimage};
    use parlend_contracts::dev::dev_genesis;
    use parlend_contracts::genesis::GenesisValidator;
    use parlend_ledger::Keypair;
    use parlend_rpc::types::CommitSignatureView;

    use super::*;

    /// A genesis whose validators have the given powers, and their keys.
    fn chain(powers: &[u64]) -> (Genesis, Vec<Keypair>) {
        let count = u8::try_from(powers.len()).expect("a few validators");
        let keys: Vec<Keypair> = (1..=count).map(|seed| Keypair::from_seed(&[seed; 32])).collect();
        let mut genesis = dev_genesis();
        genesis.validators = keys
            .iter()
            .zip(powers)
            .map(|(key, power)| GenesisValidator { public_key: key.address(), power: *power })
            .collect();
        (genesis, keys)
    }

    fn header(genesis: &Genesis, height: u64, state: u8) -> Header {
        Header {
            chain_id: genesis.chain_id,
            height,
            parent_hash: Hash::ZERO,
            timestamp: genesis.timestamp + height,
            transaction_count: 0,
            transactions_root: Hash::ZERO,
            state_root: Hash([state; 32]),
            receipts_root: Hash::ZERO,
        }
    }

    /// Precommits of `signers` for `header` in `round`, as a node serves them.
    fn certificate(signers: &[Keypair], header: &Header, round: u32) -> CertificateView {
        let block = header.hash();
        let signatures = signers
            .iter()
            .map(|key| {
                let preimage =
                    vote_preimage(VoteKind::Precommit, header.height, i64::from(round), Some(&block), &key.address());
                CommitSignatureView { validator: key.address(), signature: key.sign(&preimage) }
            })
            .collect();
        CertificateView { round, signatures }
    }

    /// Why the certificate does not prove the header (panics on any other error).
    fn reason(error: HeaderError) -> CertificateError {
        match error {
            HeaderError::Certificate { error, .. } => *error,
            other => panic!("not a certificate's failure: {other}"),
        }
    }

    #[test]
    fn a_header_decided_by_more_than_two_thirds_is_certified() {
        let (genesis, keys) = chain(&[10, 10, 10, 10]);
        let header = header(&genesis, 7, 1);
        let three = certificate(&keys[..3], &header, 2);
        let check = check_header(&header, Some(&three), Some(&genesis)).unwrap();
        assert_eq!(check, HeaderCheck::Certified { signers: 3, validators: 4, signed: 30, total: 40, round: 2 });
        assert!(check.describe(&header).starts_with("certified: block "), "{}", check.describe(&header));
    }

    #[test]
    fn a_forged_signature_is_refused() {
        let (genesis, keys) = chain(&[10, 10, 10, 10]);
        let header = header(&genesis, 7, 1);
        let mut forged = certificate(&keys[..3], &header, 0);
        let mut bytes = forged.signatures[1].signature.0;
        bytes[5] ^= 1;
        forged.signatures[1].signature = parlend_ledger::Signature(bytes);
        let error = check_header(&header, Some(&forged), Some(&genesis)).unwrap_err();
        let signer = keys[1].address();
        assert!(
            error.to_string().contains(&format!("does not certify block {} at height 7", header.hash())),
            "{error}"
        );
        assert_eq!(reason(error), CertificateError::BadSignature(signer));
        // A stranger's valid signature is no validator's.
        let stranger = Keypair::from_seed(&[99; 32]);
        let mut strangers = certificate(&keys[..3], &header, 0);
        strangers.signatures[0] = certificate(std::slice::from_ref(&stranger), &header, 0).signatures[0].clone();
        let error = check_header(&header, Some(&strangers), Some(&genesis)).unwrap_err();
        assert_eq!(reason(error), CertificateError::UnknownSigner(stranger.address()));
    }

    #[test]
    fn a_certificate_of_another_header_is_refused() {
        let (genesis, keys) = chain(&[10, 10, 10, 10]);
        let header = header(&genesis, 7, 1);
        for other in [self::header(&genesis, 7, 2), self::header(&genesis, 6, 1)] {
            let theirs = certificate(&keys, &other, 0);
            let error = check_header(&header, Some(&theirs), Some(&genesis)).unwrap_err();
            assert!(matches!(reason(error), CertificateError::BadSignature(_)));
        }
        // Nor does a header of another chain pass with its own certificate.
        let mut foreign = header.clone();
        foreign.chain_id += 1;
        let error = check_header(&foreign, Some(&certificate(&keys, &foreign, 0)), Some(&genesis)).unwrap_err();
        assert!(matches!(error, HeaderError::WrongChain { .. }), "{error}");
    }

    #[test]
    fn two_thirds_of_the_power_or_less_is_refused() {
        // 60 of 90 is exactly two thirds: not more.
        let (genesis, keys) = chain(&[30, 30, 20, 10]);
        let header = header(&genesis, 3, 1);
        let error = check_header(&header, Some(&certificate(&keys[..2], &header, 0)), Some(&genesis)).unwrap_err();
        assert!(error.to_string().contains("more than two thirds"), "{error}");
        assert_eq!(reason(error), CertificateError::NotEnoughPower { signed: 60, total: 90 });
        let enough = certificate(&keys[..3], &header, 0);
        assert!(matches!(check_header(&header, Some(&enough), Some(&genesis)), Ok(HeaderCheck::Certified { .. })));
        // A signer counted twice is refused, not counted twice.
        let mut twice = certificate(&keys[..2], &header, 0);
        twice.signatures.push(twice.signatures[0].clone());
        let error = check_header(&header, Some(&twice), Some(&genesis)).unwrap_err();
        assert_eq!(reason(error), CertificateError::DuplicateSigner(keys[0].address()));
    }

    #[test]
    fn what_cannot_be_checked_is_said_or_refused() {
        let (genesis, keys) = chain(&[10, 10, 10, 10]);
        let header = header(&genesis, 7, 1);
        let good = certificate(&keys, &header, 0);
        let unchecked = check_header(&header, Some(&good), None).unwrap();
        assert!(matches!(unchecked, HeaderCheck::Unchecked(_)));
        assert!(unchecked.describe(&header).starts_with("not checked: "), "{}", unchecked.describe(&header));
        assert!(matches!(check_header(&header, None, None), Ok(HeaderCheck::Unchecked(_))));
        assert_eq!(
            check_header(&header, None, Some(&genesis)),
            Err(HeaderError::NoCertificate { block: header.hash(), height: 7 })
        );
        let single = dev_genesis();
        assert!(matches!(check_header(&header, None, Some(&single)), Ok(HeaderCheck::Unchecked(_))));
        assert_eq!(check_header(&header, Some(&good), Some(&single)), Err(HeaderError::NoValidators));
    }

    #[test]
    fn block_zero_is_checked_against_the_genesis() {
        let (genesis, _) = chain(&[10]);
        let block_zero = App::genesis_commit(&genesis).unwrap().header;
        assert_eq!(check_header(&block_zero, None, Some(&genesis)), Ok(HeaderCheck::Genesis));
        let mut other = block_zero.clone();
        other.state_root = Hash([3; 32]);
        assert!(matches!(check_header(&other, None, Some(&genesis)), Err(HeaderError::NotGenesis { .. })));
    }
}
