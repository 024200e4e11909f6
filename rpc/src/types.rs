//! Request parameters and results of every method, as JSON.
//!
//! Parameters are JSON objects (named fields, camelCase). Amounts are decimal
//! strings of base units, hashes and addresses lowercase hex. Parameter
//! structs reject unknown fields: a misspelt `wiat` is an error, never a
//! silently ignored option.

use parlend_contracts::Instruction;
use parlend_ledger::block::Header;
use parlend_ledger::{AccessSet, Address, Amount, AssetId, Hash, Signature, StateKey};
use serde::{Deserialize, Serialize};

/// `sendTransaction` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendTransactionParams {
    /// The signed transaction's canonical bytes, hex.
    pub transaction: String,
    /// Wait until the transaction is committed and return its receipt.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait, in milliseconds (default 30 000, at most 120 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `sendTransactions` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendTransactionsParams {
    /// Signed transactions, hex, submitted in order.
    pub transactions: Vec<String>,
    /// Wait until every accepted transaction is committed.
    #[serde(default)]
    pub wait: bool,
    /// How long to wait, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// Where a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TxState {
    /// In the mempool.
    Pending,
    /// Committed, and it succeeded.
    Committed,
    /// Committed, and it failed (reverted; its nonce was consumed).
    Failed,
    /// Neither pending nor committed.
    Unknown,
}

/// A transaction's status, with its receipt once committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxStatusView {
    /// The transaction id.
    pub hash: Hash,
    /// Where it is.
    pub status: TxState,
    /// The receipt, when committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
}

/// One result of `sendTransactions`: a status, or why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendOutcome {
    /// The status, when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<TxStatusView>,
    /// The error, when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
}

/// A JSON-RPC error, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    /// The stable code.
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

/// The outcome recorded in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum OutcomeView {
    /// Every instruction succeeded.
    Success,
    /// An instruction failed; nothing but the nonce changed.
    Failed {
        /// The stable reason name (`InsufficientBalance`).
        reason: String,
        /// The stable reason code.
        code: u16,
        /// Index of the failing instruction.
        instruction: u16,
    },
    /// A key outside the access set was touched; nothing but the nonce changed.
    AccessViolation {
        /// The key.
        key: StateKey,
    },
}

impl OutcomeView {
    /// Whether the transaction succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, OutcomeView::Success)
    }
}

/// A receipt and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptView {
    /// The transaction id.
    pub tx_hash: Hash,
    /// The block's height.
    pub block_height: u64,
    /// The block's hash.
    pub block_hash: Hash,
    /// Index in the block.
    pub index: u32,
    /// The outcome.
    pub outcome: OutcomeView,
}

/// A `{"hash": ...}` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashParams {
    /// A transaction id.
    pub hash: Hash,
}

/// An `{"address": ...}` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressParams {
    /// An account.
    pub address: Address,
}

/// `getBlock` parameters: a height, a hash, or neither for the head.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockParams {
    /// The block's height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The block's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hash>,
    /// Include whole transactions, not only their ids.
    #[serde(default)]
    pub full: bool,
}

/// The head of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadView {
    /// The chain id.
    pub chain_id: u64,
    /// The head's height.
    pub height: u64,
    /// The head's hash.
    pub hash: Hash,
    /// The head's timestamp (seconds).
    pub timestamp: u64,
    /// The state root after the head.
    pub state_root: Hash,
    /// Transactions waiting in the mempool.
    pub pending_transactions: u64,
}

/// A transaction, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    /// The id.
    pub hash: Hash,
    /// The chain.
    pub chain_id: u64,
    /// The signer.
    pub signer: Address,
    /// The nonce.
    pub nonce: u64,
    /// The declared access set.
    pub access: AccessSet,
    /// The instructions.
    pub instructions: Vec<Instruction>,
    /// The signature.
    pub signature: Signature,
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    /// The block hash.
    pub hash: Hash,
    /// The header.
    pub header: Header,
    /// Transaction ids, in order.
    pub transactions: Vec<Hash>,
    /// Whole transactions, when asked for with `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_transactions: Option<Vec<TransactionView>>,
}

/// A transaction with where it was committed (`getTransaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommittedTransactionView {
    /// The transaction.
    pub transaction: TransactionView,
    /// Its status (pending transactions have no receipt yet).
    pub status: TxState,
    /// The receipt, when committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// The address.
    pub address: Address,
    /// The next nonce after the committed state.
    pub nonce: u64,
    /// The next nonce after the pending transactions: use it for the next one.
    pub pending_nonce: u64,
}

/// One wallet balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    /// The asset.
    pub asset: AssetId,
    /// Its decimals.
    pub decimals: u8,
    /// Base units.
    pub amount: Amount,
    /// Whole tokens, for people (`"1.5"`).
    pub formatted: String,
}

/// Wallet balances of an account, one per registered asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalancesView {
    /// The address.
    pub address: Address,
    /// Balances, by asset.
    pub balances: Vec<BalanceView>,
}

/// `simulateTransaction` parameters: an unsigned transaction without its
/// access set (the simulation finds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulateParams {
    /// The signer.
    pub signer: Address,
    /// The nonce (default: the signer's pending nonce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// The instructions.
    pub instructions: Vec<Instruction>,
}

/// One key changed by a simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChangeView {
    /// The key.
    pub key: StateKey,
    /// Its value before, hex (`null` if absent).
    pub before: Option<String>,
    /// Its value after, hex (`null` if deleted).
    pub after: Option<String>,
}

/// What a transaction would do, without committing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulationView {
    /// The outcome against the current state.
    pub outcome: OutcomeView,
    /// The exact access set to declare.
    pub access: AccessSet,
    /// The nonce the transaction should use.
    pub nonce: u64,
    /// The chain id to sign for.
    pub chain_id: u64,
    /// State changes (empty if it fails).
    pub changes: Vec<StateChangeView>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// `"ok"` once serving.
    pub status: String,
    /// The head's height.
    pub height: u64,
}
