//! Transactions: format, canonical encoding, signing, ids and stateless checks.
//!
//! A transaction is `{chain_id, signer, nonce, access, instructions}` signed
//! by `signer` with ed25519. Its canonical encoding is borsh (specified field
//! by field in `docs/encoding.md`), so a client in any language can build and
//! sign one. The signature covers `"parlend/tx/v1" || 0x00 || borsh(tx)`; the
//! id is `SHA-256(borsh(signed tx))`, the hash of the exact bytes submitted.
//!
//! The instruction type is a parameter: the ledger moves, orders and hashes
//! instructions without knowing what they do (that is `parlend-contracts`).
//!
//! A transaction that fails a check here is *rejected*: it never enters the
//! mempool or a block. One that passes them may still *fail* when executed;
//! then it is included with a failed receipt (see [`crate::block::TxStatus`]).

use std::fmt::Debug;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::access::{AccessMode, AccessSet, StateKey};
use crate::crypto::{KeyCache, Keypair, Signature, SignatureError, verify_strict, verify_strict_cached};
use crate::limits::{INSTRUCTIONS_PER_TRANSACTION_MAX, TRANSACTION_BYTES_MAX};
use crate::primitives::{Address, Hash, sha256};

/// Domain tag of the bytes a signer signs.
pub const SIGNING_DOMAIN: &[u8] = b"parlend/tx/v1";

/// What an instruction type must provide to travel in a transaction.
pub trait Instruction: BorshSerialize + BorshDeserialize + Clone + Debug + PartialEq + Send + Sync + 'static {}

impl<T> Instruction for T where T: BorshSerialize + BorshDeserialize + Clone + Debug + PartialEq + Send + Sync + 'static {}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction<I> {
    /// The chain this transaction is for; part of the signed bytes.
    pub chain_id: u64,
    /// The signer's address (ed25519 public key).
    pub signer: Address,
    /// The signer's sequence number: exactly the account's current nonce.
    pub nonce: u64,
    /// Every key the transaction may touch.
    pub access: AccessSet,
    /// Executed in order, atomically: all take effect or none.
    pub instructions: Vec<I>,
}

impl<I: Instruction> Transaction<I> {
    /// The bytes the signer signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(SIGNING_DOMAIN);
        out.push(0);
        crate::encoding::encode_canonical_into(self, &mut out);
        out
    }

    /// Signs the transaction. The key must be the signer's.
    pub fn sign(self, key: &Keypair) -> SignedTransaction<I> {
        debug_assert_eq!(key.address(), self.signer, "signing with a key that is not the signer's");
        let signature = key.sign(&self.signing_bytes());
        SignedTransaction { transaction: self, signature }
    }
}

/// A transaction with its signature, as submitted and as stored in blocks.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction<I> {
    /// The transaction.
    pub transaction: Transaction<I>,
    /// The signer's signature over [`Transaction::signing_bytes`].
    pub signature: Signature,
}

/// Why a transaction is rejected (never included in a block).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The encoding is longer than [`TRANSACTION_BYTES_MAX`].
    #[error("transaction is {size} bytes, more than the limit of {TRANSACTION_BYTES_MAX}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
    },
    /// The bytes are not a canonical encoding of a transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// No instructions, or more than [`INSTRUCTIONS_PER_TRANSACTION_MAX`].
    #[error("transaction has {0} instructions; 1 to {INSTRUCTIONS_PER_TRANSACTION_MAX} are allowed")]
    InstructionCount(usize),
    /// Signed for another chain.
    #[error("transaction is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This node's chain id.
        expected: u64,
        /// The transaction's chain id.
        got: u64,
    },
    /// The access set does not declare the signer's account as written (the
    /// nonce must be incremented).
    #[error("access set must declare the signer's account (its nonce) in write mode")]
    NonceNotDeclared,
    /// The signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The nonce was already used.
    #[error("nonce {got} is stale; the account's next nonce is {expected}")]
    NonceTooLow {
        /// The next usable nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce skips ahead of the account's next nonce.
    #[error("nonce {got} is ahead of the account's next nonce {expected}; nonces are strictly sequential")]
    NonceTooHigh {
        /// The next usable nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The same transaction is already pending or committed.
    #[error("transaction {0} is already known")]
    AlreadyKnown(Hash),
    /// The mempool is at capacity; retry later.
    #[error("mempool is full ({capacity} transactions); retry later")]
    MempoolFull {
        /// The mempool's capacity.
        capacity: usize,
    },
    /// The signer has too many pending transactions.
    #[error("signer has {pending} pending transactions, the per-signer limit")]
    SignerQueueFull {
        /// The signer's pending count (the limit).
        pending: usize,
    },
}

impl<I: Instruction> SignedTransaction<I> {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        crate::encoding::encode_canonical_into(self, &mut out);
        out
    }

    /// The transaction id: SHA-256 of the canonical bytes.
    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }

    /// Decodes canonical bytes. Rejects oversized input before decoding,
    /// trailing bytes, and anything that is not the unique encoding.
    pub fn decode(bytes: &[u8]) -> Result<SignedTransaction<I>, RejectReason> {
        if bytes.len() > TRANSACTION_BYTES_MAX {
            return Err(RejectReason::TooLarge { size: bytes.len() });
        }
        let signed: SignedTransaction<I> =
            borsh::from_slice(bytes).map_err(|error| RejectReason::Malformed(error.to_string()))?;
        // Borsh is canonical for our types (fixed-width integers, strict bools
        // and tags, validated newtypes); check it anyway, cheaply, so that an
        // instruction type with two encodings of one value is caught here
        // instead of forking transaction ids.
        if signed.encode() != bytes {
            return Err(RejectReason::Malformed("not the canonical encoding".to_string()));
        }
        Ok(signed)
    }

    /// Every check that needs no state: shape, chain and signature. Returns
    /// the transaction with its id, proof that it passed.
    pub fn verify(self, chain_id: u64) -> Result<VerifiedTransaction<I>, RejectReason> {
        let bytes = self.encode();
        VerifiedTransaction::check(self, &bytes, chain_id, None)
    }

    /// [`SignedTransaction::verify`] with the signer's key from `keys`: the
    /// same verdict, less work for a signer seen recently.
    pub fn verify_cached(self, chain_id: u64, keys: &KeyCache) -> Result<VerifiedTransaction<I>, RejectReason> {
        let bytes = self.encode();
        VerifiedTransaction::check(self, &bytes, chain_id, Some(keys))
    }
}

/// A transaction that passed every stateless check, including its signature.
///
/// Only [`VerifiedTransaction::from_bytes`] and [`SignedTransaction::verify`]
/// build one, so holding one proves the checks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransaction<I> {
    signed: SignedTransaction<I>,
    hash: Hash,
    size: usize,
}

impl<I: Instruction> VerifiedTransaction<I> {
    /// Decodes and verifies submitted bytes.
    pub fn from_bytes(bytes: &[u8], chain_id: u64) -> Result<VerifiedTransaction<I>, RejectReason> {
        let signed = SignedTransaction::decode(bytes)?;
        VerifiedTransaction::check(signed, bytes, chain_id, None)
    }

    /// [`VerifiedTransaction::from_bytes`] with signers' keys from `keys`:
    /// the same verdict, less work for a signer seen recently.
    pub fn from_bytes_cached(
        bytes: &[u8],
        chain_id: u64,
        keys: &KeyCache,
    ) -> Result<VerifiedTransaction<I>, RejectReason> {
        let signed = SignedTransaction::decode(bytes)?;
        VerifiedTransaction::check(signed, bytes, chain_id, Some(keys))
    }

    /// Every stateless check of `signed`, whose canonical encoding is
    /// `bytes`; the signer's key from `keys` when given.
    pub(crate) fn check(
        signed: SignedTransaction<I>,
        bytes: &[u8],
        chain_id: u64,
        keys: Option<&KeyCache>,
    ) -> Result<VerifiedTransaction<I>, RejectReason> {
        if bytes.len() > TRANSACTION_BYTES_MAX {
            return Err(RejectReason::TooLarge { size: bytes.len() });
        }
        let transaction = &signed.transaction;
        let count = transaction.instructions.len();
        if count == 0 || count > INSTRUCTIONS_PER_TRANSACTION_MAX {
            return Err(RejectReason::InstructionCount(count));
        }
        if transaction.chain_id != chain_id {
            return Err(RejectReason::WrongChain { expected: chain_id, got: transaction.chain_id });
        }
        let account = StateKey::Account { owner: transaction.signer };
        if transaction.access.mode_of(&account) != Some(AccessMode::Write) {
            return Err(RejectReason::NonceNotDeclared);
        }
        let message = transaction.signing_bytes();
        match keys {
            Some(keys) => verify_strict_cached(keys, &transaction.signer, &message, &signed.signature)?,
            None => verify_strict(&transaction.signer, &message, &signed.signature)?,
        }
        Ok(VerifiedTransaction { hash: sha256(bytes), size: bytes.len(), signed })
    }

    /// The transaction.
    pub fn transaction(&self) -> &Transaction<I> {
        &self.signed.transaction
    }

    /// The signed transaction.
    pub fn signed(&self) -> &SignedTransaction<I> {
        &self.signed
    }

    /// Gives back the signed transaction.
    pub fn into_signed(self) -> SignedTransaction<I> {
        self.signed
    }

    /// The id.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The encoded size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::access::{Access, AccessMode, StateKey};
    use crate::primitives::AssetId;

    /// A stand-in instruction type: the ledger does not care what they mean.
    #[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    enum Op {
        Nop,
        Pay { to: Address, amount: u128 },
        Note(Vec<u8>),
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Nop),
            (any::<[u8; 32]>(), any::<u128>()).prop_map(|(to, amount)| Op::Pay { to: Address(to), amount }),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Note),
        ]
    }

    fn any_transaction() -> impl Strategy<Value = (Keypair, Transaction<Op>)> {
        (
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<[u8; 32]>(), 0..6),
            proptest::collection::vec(any_op(), 1..=INSTRUCTIONS_PER_TRANSACTION_MAX),
        )
            .prop_map(|(seed, chain_id, nonce, others, instructions)| {
                let key = Keypair::from_seed(&seed);
                let mut accesses =
                    vec![Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write }];
                for other in others {
                    let asset = AssetId::from_static("USDC");
                    accesses.push(Access {
                        key: StateKey::Balance { owner: Address(other), asset },
                        mode: AccessMode::Delta,
                    });
                    accesses.push(Access { key: StateKey::Position { owner: Address(other) }, mode: AccessMode::Read });
                }
                let access = AccessSet::from_unsorted(accesses).unwrap();
                (key.clone(), Transaction { chain_id, signer: key.address(), nonce, access, instructions })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn encoding_round_trips((key, transaction) in any_transaction()) {
            let chain_id = transaction.chain_id;
            let signed = transaction.sign(&key);
            let bytes = signed.encode();
            prop_assume!(bytes.len() <= TRANSACTION_BYTES_MAX);
            let decoded = SignedTransaction::<Op>::decode(&bytes).unwrap();
            prop_assert_eq!(&decoded, &signed);
            prop_assert_eq!(decoded.encode(), bytes.clone());
            let verified = VerifiedTransaction::<Op>::from_bytes(&bytes, chain_id).unwrap();
            prop_assert_eq!(verified.hash(), sha256(&bytes));
            prop_assert_eq!(verified.hash(), signed.hash());
        }

        #[test]
        fn any_mutated_byte_is_rejected((key, transaction) in any_transaction(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let chain_id = transaction.chain_id;
            let mut bytes = transaction.sign(&key).encode();
            prop_assume!(bytes.len() <= TRANSACTION_BYTES_MAX);
            let index = position.index(bytes.len());
            bytes[index] ^= flip;
            prop_assert!(VerifiedTransaction::<Op>::from_bytes(&bytes, chain_id).is_err(), "byte {} mutated and accepted", index);
        }
    }

    #[test]
    fn signing_bytes_are_domain_separated() {
        let key = Keypair::from_seed(&[3; 32]);
        let access =
            AccessSet::new(vec![Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write }])
                .unwrap();
        let transaction =
            Transaction { chain_id: 1, signer: key.address(), nonce: 0, access, instructions: vec![Op::Nop] };
        let bytes = transaction.signing_bytes();
        assert!(bytes.starts_with(b"parlend/tx/v1\0"));
        assert_eq!(&bytes[SIGNING_DOMAIN.len() + 1..], borsh::to_vec(&transaction).unwrap().as_slice());
    }

    #[test]
    fn oversized_input_is_rejected_before_decoding() {
        let bytes = vec![0u8; TRANSACTION_BYTES_MAX + 1];
        assert_eq!(
            SignedTransaction::<Op>::decode(&bytes),
            Err(RejectReason::TooLarge { size: TRANSACTION_BYTES_MAX + 1 })
        );
    }
}
