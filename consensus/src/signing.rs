//! Signing for the engine: parlend's own ed25519 keys and strict
//! verification (the same as for transactions), and preimages shared with
//! [`parlend_app::certificate`], so a precommit the engine collects is a
//! signature any client can check against the genesis validators.
//!
//! Every preimage is domain-separated: votes (`parlend/vote/v1`, defined in
//! the app), proposals, proposal parts and vote extensions each have their
//! own tag. The validator proof (binding a consensus key to a network
//! identity) signs exactly the engine's `ValidatorProof::signing_bytes`.

use std::cmp::Ordering;
use std::fmt;

use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app_channel::app::types::core::{
    NilOrVal, Round, SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_app_channel::{Signer, Verifier};
use malachitebft_signing::{Error, VerificationResult};
use parlend_app::certificate::{VoteKind, vote_preimage as app_vote_preimage};
use parlend_ledger::crypto::verify_strict;
use parlend_ledger::{Address, Keypair, Signature};

use crate::context::{BlockId, Ctx, Height, Proposal, ValidatorAddress, Vote};

/// The signing scheme: ed25519 with parlend's keys and strict verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519Scheme;

/// A validator's public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub Address);

/// A signature by a validator's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VoteSignature(pub Signature);

impl Ord for VoteSignature {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.0.cmp(&other.0.0)
    }
}

impl PartialOrd for VoteSignature {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A key or signature of the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes, found {found}")]
pub struct KeyLengthError {
    /// The length expected.
    pub expected: usize,
    /// The length found.
    pub found: usize,
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], KeyLengthError> {
    bytes.try_into().map_err(|_| KeyLengthError { expected: N, found: bytes.len() })
}

impl SigningScheme for Ed25519Scheme {
    type DecodingError = KeyLengthError;
    type Signature = VoteSignature;
    type PublicKey = PublicKey;
    type PrivateKey = Keypair;

    fn decode_signature(bytes: &[u8]) -> Result<VoteSignature, KeyLengthError> {
        fixed::<64>(bytes).map(|bytes| VoteSignature(Signature(bytes)))
    }

    fn encode_signature(signature: &VoteSignature) -> Vec<u8> {
        signature.0.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, KeyLengthError> {
        fixed::<32>(bytes).map(|bytes| PublicKey(Address(bytes)))
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.0.0.to_vec()
    }
}

/// Domain tag of proposal preimages.
const PROPOSAL_DOMAIN: &[u8] = b"parlend/proposal/v1";
/// Domain tag of proposal-part preimages.
const PARTS_DOMAIN: &[u8] = b"parlend/parts/v1";
/// Domain tag of vote-extension preimages.
const EXTENSION_DOMAIN: &[u8] = b"parlend/vote-extension/v1";

/// What a vote signs: the app's [`app_vote_preimage`].
pub fn vote_preimage(vote: &Vote) -> Vec<u8> {
    let kind = match vote.kind {
        VoteType::Prevote => VoteKind::Prevote,
        VoteType::Precommit => VoteKind::Precommit,
    };
    let value = match &vote.value {
        NilOrVal::Nil => None,
        NilOrVal::Val(id) => Some(&id.0),
    };
    app_vote_preimage(kind, vote.height.0, vote.round.as_i64(), value, &vote.validator.0)
}

fn tagged(domain: &[u8], height: Height, rounds: &[Round], id: &BlockId, signer: &ValidatorAddress) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(domain.len() + 96);
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(&height.0.to_be_bytes());
    for round in rounds {
        bytes.extend_from_slice(&round.as_i64().to_be_bytes());
    }
    bytes.extend_from_slice(&id.0.0);
    bytes.extend_from_slice(&signer.0.0);
    bytes
}

/// What a proposal signs: height, round, locked round, block id, proposer.
pub fn proposal_preimage(proposal: &Proposal) -> Vec<u8> {
    tagged(PROPOSAL_DOMAIN, proposal.height, &[proposal.round, proposal.pol_round], &proposal.value, &proposal.proposer)
}

/// What the last proposal part signs: the stream's height, round, block id
/// and proposer, so a relay cannot graft another block onto a stream.
pub fn parts_preimage(height: Height, round: Round, id: &BlockId, proposer: &ValidatorAddress) -> Vec<u8> {
    tagged(PARTS_DOMAIN, height, &[round], id, proposer)
}

fn extension_preimage(scope: &VoteExtensionScope<Ctx>, extension: &[u8]) -> Vec<u8> {
    let mut bytes = tagged(EXTENSION_DOMAIN, scope.height, &[scope.round], &scope.value_id, &scope.validator_address);
    bytes.extend_from_slice(extension);
    bytes
}

fn verified(public_key: &PublicKey, message: &[u8], signature: &VoteSignature) -> VerificationResult {
    VerificationResult::from_bool(verify_strict(&public_key.0, message, &signature.0).is_ok())
}

/// Checks signatures; every node has one.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyVerifier;

#[async_trait]
impl Verifier<Ctx> for KeyVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &VoteSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verified(public_key, &vote_preimage(vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &VoteSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verified(public_key, &proposal_preimage(proposal), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<Ctx>,
        extension: &Vec<u8>,
        signature: &VoteSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verified(public_key, &extension_preimage(scope, extension), signature))
    }

    async fn verify_validator_proof(&self, proof: &ValidatorProof<Ctx>) -> Result<VerificationResult, Error> {
        let public_key = proof
            .decoded_public_key()
            .map_err(|error| Error::from_source(format!("a validator proof's key: {error}")))?;
        Ok(verified(&public_key, &proof.preimage(), &proof.signature))
    }
}

/// Signs with a validator's key.
#[derive(Clone)]
pub struct KeySigner {
    key: Keypair,
}

impl fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySigner({})", self.key.address())
    }
}

impl KeySigner {
    /// A signer for `key`.
    pub fn new(key: Keypair) -> KeySigner {
        KeySigner { key }
    }

    /// The validator's address.
    pub fn address(&self) -> ValidatorAddress {
        ValidatorAddress(self.key.address())
    }

    /// Signs arbitrary bytes (the proposal parts' signature).
    pub fn sign_bytes(&self, message: &[u8]) -> VoteSignature {
        VoteSignature(self.key.sign(message))
    }
}

#[async_trait]
impl Signer<Ctx> for KeySigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<Ctx, Vote>, Error> {
        let signature = self.sign_bytes(&vote_preimage(&vote));
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedMessage<Ctx, Proposal>, Error> {
        let signature = self.sign_bytes(&proposal_preimage(&proposal));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<Ctx>,
        extension: Vec<u8>,
    ) -> Result<SignedMessage<Ctx, Vec<u8>>, Error> {
        let signature = self.sign_bytes(&extension_preimage(&scope, &extension));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(&self, public_key: Vec<u8>, peer_id: Vec<u8>) -> Result<ValidatorProof<Ctx>, Error> {
        let signature = self.sign_bytes(&ValidatorProof::<Ctx>::signing_bytes(&public_key, &peer_id));
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}
