//! Commit certificates: the proof that a validator set decided a block.
//!
//! A validator's vote is an ed25519 signature over [`vote_preimage`]; a
//! block is decided when validators holding more than two thirds of the
//! voting power precommit its hash in one round. The certificate keeps those
//! precommit signatures, and anyone with the validator set (the genesis)
//! checks it offline ([`CommitCertificate::verify`]): replay does, and so
//! can a client that trusts no node. The consensus engine signs exactly
//! these preimages, so its certificates verify here.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_contracts::genesis::GenesisValidator;
use parlend_ledger::crypto::verify_strict;
use parlend_ledger::{Address, Hash, Signature};

/// Domain tag of every vote preimage.
pub const VOTE_DOMAIN: &[u8] = b"parlend/vote/v1";

/// The kind of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteKind {
    /// First round of voting.
    Prevote,
    /// Second round: a quorum of these decides.
    Precommit,
}

/// The bytes a validator signs to vote `value` (or nil) at `height` and
/// `round`:
/// `"parlend/vote/v1" || 0x00 || kind (0 prevote, 1 precommit) || height
/// (u64 BE) || round (i64 BE) || 0x00 (nil) or 0x01 || block hash ||
/// validator public key`.
pub fn vote_preimage(kind: VoteKind, height: u64, round: i64, value: Option<&Hash>, validator: &Address) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(VOTE_DOMAIN.len() + 83);
    bytes.extend_from_slice(VOTE_DOMAIN);
    bytes.push(0);
    bytes.push(match kind {
        VoteKind::Prevote => 0,
        VoteKind::Precommit => 1,
    });
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&round.to_be_bytes());
    match value {
        None => bytes.push(0),
        Some(hash) => {
            bytes.push(1);
            bytes.extend_from_slice(&hash.0);
        }
    }
    bytes.extend_from_slice(&validator.0);
    bytes
}

/// A validator and its voting power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Validator {
    /// Its consensus key.
    pub public_key: Address,
    /// Its voting power.
    pub power: u64,
}

/// The validators of a chain, in the consensus engine's order: voting power
/// descending, then key ascending, each key once.
#[derive(Debug, Clone, PartialEq, Eq, Default, BorshSerialize, BorshDeserialize)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// The set of `validators` (a key named twice keeps its first entry).
    pub fn new(validators: impl IntoIterator<Item = Validator>) -> ValidatorSet {
        let mut unique: Vec<Validator> = Vec::new();
        for validator in validators {
            if !unique.iter().any(|kept| kept.public_key == validator.public_key) {
                unique.push(validator);
            }
        }
        unique.sort_by(|a, b| b.power.cmp(&a.power).then(a.public_key.cmp(&b.public_key)));
        ValidatorSet { validators: unique }
    }

    /// The set a genesis names.
    pub fn from_genesis(validators: &[GenesisValidator]) -> ValidatorSet {
        ValidatorSet::new(validators.iter().map(|v| Validator { public_key: v.public_key, power: v.power }))
    }

    /// The validators, in order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Whether there are none (a single-node chain).
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// The sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.validators.iter().map(|validator| validator.power).fold(0, u64::saturating_add)
    }

    /// A validator by key.
    pub fn get(&self, public_key: &Address) -> Option<&Validator> {
        self.validators.iter().find(|validator| validator.public_key == *public_key)
    }
}

/// One validator's precommit signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitSignature {
    /// The validator.
    pub validator: Address,
    /// Its signature over the precommit's [`vote_preimage`].
    pub signature: Signature,
}

/// Precommits of more than two thirds of the voting power for one block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitCertificate {
    /// The block's height.
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// The block's hash.
    pub block_hash: Hash,
    /// The precommits.
    pub signatures: Vec<CommitSignature>,
}

/// Why a certificate does not prove its block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// It certifies another block or height.
    #[error("the certificate is for block {certified} at height {certified_height}, not {block} at {height}")]
    WrongBlock {
        /// The block it certifies.
        certified: Hash,
        /// Its height.
        certified_height: u64,
        /// The block checked.
        block: Hash,
        /// Its height.
        height: u64,
    },
    /// A signer is not a validator.
    #[error("signer {0} is not a validator")]
    UnknownSigner(Address),
    /// A validator signed twice.
    #[error("validator {0} signed twice")]
    DuplicateSigner(Address),
    /// A signature does not verify.
    #[error("the signature of {0} does not verify")]
    BadSignature(Address),
    /// Not enough voting power signed.
    #[error("signers hold {signed} of {total} voting power; more than two thirds is needed")]
    NotEnoughPower {
        /// Power that signed.
        signed: u64,
        /// Total power.
        total: u64,
    },
}

impl CommitCertificate {
    /// Checks that the certificate proves block `block_hash` at `height`
    /// against `validators`: every signer a validator, once, every
    /// signature a valid precommit, more than two thirds of the power.
    pub fn verify(&self, validators: &ValidatorSet, height: u64, block_hash: &Hash) -> Result<(), CertificateError> {
        if self.height != height || self.block_hash != *block_hash {
            return Err(CertificateError::WrongBlock {
                certified: self.block_hash,
                certified_height: self.height,
                block: *block_hash,
                height,
            });
        }
        let mut seen: Vec<Address> = Vec::with_capacity(self.signatures.len());
        let mut signed = 0u64;
        for commit in &self.signatures {
            let validator =
                validators.get(&commit.validator).ok_or(CertificateError::UnknownSigner(commit.validator))?;
            if seen.contains(&commit.validator) {
                return Err(CertificateError::DuplicateSigner(commit.validator));
            }
            seen.push(commit.validator);
            let preimage = vote_preimage(
                VoteKind::Precommit,
                self.height,
                i64::from(self.round),
                Some(&self.block_hash),
                &commit.validator,
            );
            verify_strict(&commit.validator, &preimage, &commit.signature)
                .map_err(|_| CertificateError::BadSignature(commit.validator))?;
            signed = signed.saturating_add(validator.power);
        }
        let total = validators.total_power();
        // More than two thirds: 3 * signed > 2 * total, in 128 bits.
        if 3 * u128::from(signed) <= 2 * u128::from(total) {
            return Err(CertificateError::NotEnoughPower { signed, total });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use parlend_ledger::Keypair;

    use super::*;

    fn keys(count: u8) -> Vec<Keypair> {
        (1..=count).map(|seed| Keypair::from_seed(&[seed; 32])).collect()
    }

    fn set(keys: &[Keypair]) -> ValidatorSet {
        ValidatorSet::new(keys.iter().map(|key| Validator { public_key: key.address(), power: 10 }))
    }

    fn certificate(signers: &[Keypair], height: u64, round: u32, block: Hash) -> CommitCertificate {
        let signatures = signers
            .iter()
            .map(|key| {
                let preimage =
                    vote_preimage(VoteKind::Precommit, height, i64::from(round), Some(&block), &key.address());
                CommitSignature { validator: key.address(), signature: key.sign(&preimage) }
            })
            .collect();
        CommitCertificate { height, round, block_hash: block, signatures }
    }

    #[test]
    fn three_of_four_certify_and_two_do_not() {
        let keys = keys(4);
        let validators = set(&keys);
        let block = Hash([7; 32]);
        assert_eq!(certificate(&keys[..3], 5, 1, block).verify(&validators, 5, &block), Ok(()));
        assert_eq!(
            certificate(&keys[..2], 5, 1, block).verify(&validators, 5, &block),
            Err(CertificateError::NotEnoughPower { signed: 20, total: 40 })
        );
    }

    #[test]
    fn every_forgery_is_named() {
        let keys = keys(4);
        let validators = set(&keys);
        let block = Hash([7; 32]);
        let good = certificate(&keys[..3], 5, 1, block);
        assert!(matches!(good.verify(&validators, 6, &block), Err(CertificateError::WrongBlock { .. })));
        assert!(matches!(good.verify(&validators, 5, &Hash([8; 32])), Err(CertificateError::WrongBlock { .. })));
        let mut duplicate = good.clone();
        duplicate.signatures.push(duplicate.signatures[0]);
        assert_eq!(duplicate.verify(&validators, 5, &block), Err(CertificateError::DuplicateSigner(keys[0].address())));
        let stranger = Keypair::from_seed(&[99; 32]);
        let mut unknown = good.clone();
        unknown.signatures.push(certificate(std::slice::from_ref(&stranger), 5, 1, block).signatures[0]);
        assert_eq!(unknown.verify(&validators, 5, &block), Err(CertificateError::UnknownSigner(stranger.address())));
        let mut other_round = good.clone();
        other_round.round = 2;
        assert!(matches!(other_round.verify(&validators, 5, &block), Err(CertificateError::BadSignature(_))));
    }

    #[test]
    fn the_set_is_ordered_by_power_then_key() {
        let keys = keys(3);
        let set = ValidatorSet::new([
            Validator { public_key: keys[0].address(), power: 1 },
            Validator { public_key: keys[1].address(), power: 5 },
            Validator { public_key: keys[2].address(), power: 1 },
            Validator { public_key: keys[1].address(), power: 9 },
        ]);
        assert_eq!(set.validators().len(), 3);
        assert_eq!(set.validators()[0].public_key, keys[1].address());
        assert!(set.validators()[1].public_key < set.validators()[2].public_key);
        assert_eq!(set.total_power(), 7);
    }
}
