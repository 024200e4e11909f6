//! Blocks, headers and receipts.
//!
//! A block hash commits to everything a replay must reproduce:
//!
//! ```text
//! block_hash        = SHA-256("parlend/block/v1" || 0x00 || borsh(header))
//! transactions_root = merkle_root(transaction ids)             (RFC 6962)
//! receipts_root     = merkle_root(SHA-256(borsh(receipt)) ...)  (RFC 6962)
//! state_root        = the state commitment after the block (see `state`)
//! ```

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::access::StateKey;
use crate::encoding::{encode_canonical, encode_canonical_sized};
use crate::primitives::{Address, Hash, merkle_root, sha256, sha256_tagged};
use crate::tx::{Instruction, SignedTransaction};

/// Domain tag of block hashes.
pub const BLOCK_DOMAIN: &[u8] = b"parlend/block/v1";

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// The chain.
    pub chain_id: u64,
    /// Height: 0 for genesis, then parent + 1.
    pub height: u64,
    /// Hash of the parent block ([`Hash::ZERO`] for genesis).
    pub parent_hash: Hash,
    /// Seconds since the Unix epoch, chosen by the producer; never decreases.
    /// Execution reads time only from here.
    pub timestamp: u64,
    /// Number of transactions.
    pub transaction_count: u32,
    /// Merkle root of the transaction ids.
    pub transactions_root: Hash,
    /// Commitment to the whole state after this block.
    pub state_root: Hash,
    /// Merkle root of the receipt hashes.
    pub receipts_root: Hash,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        sha256_tagged(BLOCK_DOMAIN, &[&encode_canonical(self)])
    }
}

/// A block: a header and its transactions, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block<I> {
    /// The header.
    pub header: Header,
    /// The transactions.
    pub transactions: Vec<SignedTransaction<I>>,
}

impl<I: Instruction> Block<I> {
    /// The block hash (the header's).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The canonical bytes (a block of thousands of transactions is
    /// megabytes: encoded into one buffer of its exact size).
    pub fn encode(&self) -> Vec<u8> {
        encode_canonical_sized(self)
    }
}

/// Merkle root of transaction ids.
pub fn transactions_root(ids: &[Hash]) -> Hash {
    merkle_root(ids)
}

/// Merkle root of receipts.
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    let leaves: Vec<Hash> = receipts.iter().map(Receipt::hash).collect();
    merkle_root(&leaves)
}

/// What executing a transaction did.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum TxStatus {
    /// Every instruction succeeded; all changes were applied.
    Success,
    /// The transaction touched a key outside its access set, or wrote a key
    /// declared read-only. Nothing but the nonce changed.
    AccessViolation {
        /// The first key used outside the declaration.
        key: StateKey,
    },
    /// An instruction failed. Nothing but the nonce changed.
    Failed {
        /// Index of the failing instruction.
        instruction: u16,
        /// Reason code, defined by the contracts (stable across versions).
        code: u16,
        /// The values that explain the failure, encoded by the contracts
        /// (empty when the reason has none; at most
        /// [`FAILURE_DETAIL_BYTES_MAX`](crate::limits::FAILURE_DETAIL_BYTES_MAX) bytes).
        #[serde(with = "hex_bytes")]
        detail: Vec<u8>,
    },
}

impl TxStatus {
    /// Whether the transaction succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, TxStatus::Success)
    }
}

/// Something an instruction did, as its transaction's receipt records it.
///
/// Typed by the contracts (`kind` names the type, `data` is its encoding);
/// the ledger only carries it, bounds it and indexes it by kind and by the
/// accounts it concerns.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The event type, defined by the contracts (stable across versions).
    pub kind: u16,
    /// The accounts it concerns (at most
    /// [`EVENT_ACCOUNTS_MAX`](crate::limits::EVENT_ACCOUNTS_MAX)), for the event index.
    pub accounts: Vec<Address>,
    /// The typed event, encoded by the contracts (at most
    /// [`EVENT_DATA_BYTES_MAX`](crate::limits::EVENT_DATA_BYTES_MAX) bytes).
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

impl Event {
    /// Whether the event fits the ledger's bounds.
    pub fn within_limits(&self) -> bool {
        self.accounts.len() <= crate::limits::EVENT_ACCOUNTS_MAX
            && self.data.len() <= crate::limits::EVENT_DATA_BYTES_MAX
    }
}

/// The receipt of one included transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The transaction id.
    pub tx_hash: Hash,
    /// The outcome.
    pub status: TxStatus,
    /// What its instructions did, in execution order: one event per
    /// instruction on success, none on failure.
    pub events: Vec<Event>,
}

impl Receipt {
    /// SHA-256 of the canonical encoding: the leaf of the receipts root.
    pub fn hash(&self) -> Hash {
        sha256(&encode_canonical(self))
    }
}

/// Byte strings as lower-case hex in JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        hex::decode(text.as_ref()).map_err(serde::de::Error::custom)
    }
}
