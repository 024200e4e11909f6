//! The engine's `Context`: what a height, a validator, a value, a proposal
//! and a vote are on a parlend chain.
//!
//! The value the validators agree on is a block's hash ([`BlockId`]); the
//! block itself travels beside the signed proposal as proposal parts, so the
//! engine's messages and its write-ahead log stay small whatever the block's
//! size.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app_channel::app::types::core::{
    self as core, LinearTimeouts, NilOrVal, Round, SignedExtension, ValidatorSet as _, VoteType, VotingPower,
};
use parlend_app::certificate::ValidatorSet as AppValidatorSet;
use parlend_ledger::{Address, Hash};

use crate::signing::{Ed25519Scheme, PublicKey, VoteSignature};

/// A block height.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl core::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator is named by its consensus key (an ed25519 public key, the
/// same form as a parlend account address).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct ValidatorAddress(pub Address);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Validator({})", self.0)
    }
}

impl core::Address for ValidatorAddress {}

/// The value decided at a height: the hash of the block's header.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Block({})", self.0)
    }
}

impl core::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// A validator and its voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    address: ValidatorAddress,
    public_key: PublicKey,
    power: VotingPower,
}

impl core::Validator<Ctx> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validators, in the order of [`AppValidatorSet`] (power descending,
/// then key ascending): the proposer rotation follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// The engine's view of the chain's validator set.
    pub fn from_app(set: &AppValidatorSet) -> ValidatorSet {
        let validators = set
            .validators()
            .iter()
            .map(|validator| Validator {
                address: ValidatorAddress(validator.public_key),
                public_key: PublicKey(validator.public_key),
                power: validator.power,
            })
            .collect();
        ValidatorSet { validators }
    }
}

impl core::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|validator| validator.power).fold(0, u64::saturating_add)
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators.iter().find(|validator| validator.address == *address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A proposal: the engine signs it through [`crate::signing::KeySigner`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// The height.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// The proposed block's id.
    pub value: BlockId,
    /// The round in which the value was locked (re-proposals), or nil.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: ValidatorAddress,
}

impl core::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockId {
        &self.value
    }

    fn take_value(self) -> BlockId {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A prevote or precommit. Equality ignores the (unused) extension: the
/// engine compares votes it re-derives after a restart with those in its
/// write-ahead log, and the signed preimage excludes the extension too.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub kind: VoteType,
    /// The height.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// The voter.
    pub validator: ValidatorAddress,
    /// A vote extension (parlend uses none).
    pub extension: Option<SignedExtension<Ctx>>,
}

impl PartialEq for Vote {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, self.height, self.round, &self.value, self.validator)
            == (other.kind, other.height, other.round, &other.value, other.validator)
    }
}

impl Eq for Vote {}

impl core::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.kind
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<Ctx>) -> Self {
        Vote { extension: Some(extension), ..self }
    }
}

/// One part of a streamed proposal: who proposes at which height and round,
/// then the block's bytes in chunks, then the proposer's signature over all
/// of it (see [`crate::signing::parts_preimage`]).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// The first part.
    Init {
        /// The height.
        height: Height,
        /// The round the block was first proposed in.
        round: Round,
        /// The proposer.
        proposer: ValidatorAddress,
    },
    /// A chunk of the block's canonical bytes.
    Data(Vec<u8>),
    /// The last part: the proposer's signature.
    Fin {
        /// Over the height, round, proposer and block id.
        signature: VoteSignature,
    },
}

impl core::ProposalPart<Ctx> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

/// parlend's context for the engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ctx;

impl core::Context for Ctx {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = Vec<u8>;
    type SigningScheme = Ed25519Scheme;

    /// Round-robin over the set's order, starting at height 1, round 0
    /// with the first validator.
    fn select_proposer<'a>(&self, validators: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        let count = validators.count().max(1) as u64;
        let round = u64::from(round.as_u32().unwrap_or(0));
        let index = height.0.saturating_sub(1).wrapping_add(round) % count;
        let index = usize::try_from(index).unwrap_or(0);
        // An empty set never reaches the engine: the node refuses to start.
        validators.get_by_index(index).or_else(|| validators.validators.first()).expect("a non-empty validator set")
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        proposer: ValidatorAddress,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer }
    }

    fn new_prevote(&self, height: Height, round: Round, value: NilOrVal<BlockId>, validator: ValidatorAddress) -> Vote {
        Vote { kind: VoteType::Prevote, height, round, value, validator, extension: None }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        validator: ValidatorAddress,
    ) -> Vote {
        Vote { kind: VoteType::Precommit, height, round, value, validator, extension: None }
    }
}
