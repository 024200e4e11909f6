//! Request parameters and results of every method, as JSON.
//!
//! Parameters are JSON objects (named fields, camelCase). Amounts are decimal
//! strings of base units, hashes and addresses lowercase hex. Parameter
//! structs reject unknown fields: a misspelt `wiat` is an error, never a
//! silently ignored option.

use parlend_contracts::query::QueryError;
use parlend_contracts::state::StateError;
use parlend_contracts::{Event, Failure, Instruction};
use parlend_ledger::block::Header;
use parlend_ledger::state::{ProofError, StateReader, decode_fields, verify_state_proof};
use parlend_ledger::{AccessSet, Address, Amount, AssetId, Hash, Signature, StateKey, Wad};
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
    /// Admitted, then dropped from the mempool without being committed: its
    /// nonce can no longer be used as it stands (`error` says why, with a
    /// stable code; a validator's mempool drops a transaction whose nonce a
    /// block from another validator used for another transaction). Sign it
    /// again with the account's next nonce.
    Dropped,
    /// Neither pending, committed nor recently dropped.
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
    /// Why it was dropped, when `dropped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
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
        /// The reason with the values that explain it (`{"reason":
        /// "PriceStale", "asset": "WETH", "age": 90000, "limit": 86400}`),
        /// when it has any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<Failure>,
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
    /// What its instructions did, one event each, in order (none on failure).
    pub events: Vec<Event>,
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
    /// The node's clock (seconds): the earliest timestamp of the next block,
    /// and the time queries accrue interest to. Ahead of the wall clock
    /// after `dev_increaseTime`.
    pub clock: u64,
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
    /// How this node executed the block, while it remembers (recent blocks
    /// it produced or executed since it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<BlockExecutionView>,
    /// The validators' commit certificate (chains run by validators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateView>,
}

/// Precommits of more than two thirds of the voting power for a block:
/// check them with the genesis validators (`parlend replay` does, and
/// `parlend verify-proof --genesis` for the header a proof is against).
/// The height and block hash are not repeated: they are those of the
/// header or block it accompanies, and the signatures are over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    /// The round the block was decided in.
    pub round: u32,
    /// Each signer and its precommit signature.
    pub signatures: Vec<CommitSignatureView>,
}

/// One validator's precommit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitSignatureView {
    /// The validator's key.
    pub validator: Address,
    /// Its signature (hex).
    pub signature: parlend_ledger::Signature,
}

/// The validator set and this node's consensus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorsView {
    /// The validators, in proposer order (power descending, then key).
    pub validators: Vec<ValidatorView>,
    /// Their total voting power.
    pub total_power: u64,
    /// This node's key, when it is a validator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_node: Option<Address>,
    /// The height consensus is deciding and its round (validators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusView>,
}

/// One validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorView {
    /// Its consensus key.
    pub public_key: Address,
    /// Its voting power.
    pub power: u64,
}

/// Where a validator's consensus is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusView {
    /// The height being decided.
    pub height: u64,
    /// Its round.
    pub round: i64,
    /// How many consensus peers are connected to this node.
    pub peer_count: u64,
    /// Those peers, by peer id.
    pub peers: Vec<ConsensusPeerView>,
}

/// A consensus peer connected to this validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusPeerView {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its consensus key: the one its signed proof names, or else the
    /// ed25519 key its peer id carries (a node's network key is its
    /// validator key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<Address>,
}

/// How a node executed one block: not part of the chain (another node may
/// run the same block differently), for monitoring and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockExecutionView {
    /// Whether the parallel executor ran it (not its serial fallback).
    pub parallel: bool,
    /// Length of the longest dependency chain (0 when run serially).
    pub depth: u32,
    /// Transactions re-executed by validation.
    pub reexecutions: u64,
    /// Building the dependency graph, microseconds.
    pub schedule_micros: u64,
    /// Executing the transactions, microseconds.
    pub execute_micros: u64,
    /// Computing the state root (the state tree's update), microseconds.
    #[serde(default)]
    pub root_micros: u64,
    /// Writing the block, microseconds.
    pub commit_micros: u64,
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

impl BalancesView {
    /// `address`'s balances as `reader` holds them, one per registered
    /// asset in the configuration's order: what `getBalances` answers, and
    /// what a client recomputes from proven values to check an answer.
    pub fn read(reader: &dyn StateReader, address: Address) -> Result<BalancesView, QueryError> {
        let config = parlend_contracts::query::config(reader)?;
        let mut balances = Vec::with_capacity(config.assets.len());
        for asset in &config.assets {
            let key = parlend_contracts::state::balance_key(address, asset.id);
            let value = reader.get(&key).map_err(StateError::from)?;
            let fields = decode_fields(value.as_deref()).map_err(|_| StateError::Corrupt(key))?;
            let amount = Amount(fields[parlend_contracts::state::BALANCE_FIELD]);
            balances.push(BalanceView {
                asset: asset.id,
                decimals: asset.decimals,
                amount,
                formatted: amount.to_decimal_string(asset.decimals),
            });
        }
        Ok(BalancesView { address, balances })
    }
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
    /// The events it would emit (none if it fails).
    pub events: Vec<Event>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// `"ok"` once serving.
    pub status: String,
    /// The head's height.
    pub height: u64,
    /// Validators: the height consensus is deciding, its round and the
    /// connected consensus peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusView>,
}

/// `getBalances` / `getPosition` parameters: an account, and whether to
/// attach proofs of every state key the answer was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvableAddressParams {
    /// An account.
    pub address: Address,
    /// Attach `proofs` (default false).
    #[serde(default)]
    pub proof: bool,
}

/// `getMarket` parameters: an asset, and whether to attach proofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvableAssetParams {
    /// The asset (`"USDC"`).
    pub asset: AssetId,
    /// Attach `proofs` (default false).
    #[serde(default)]
    pub proof: bool,
}

/// An answer with, when asked for (`proof: true`), the proofs of the state
/// keys it was computed from: the answer's fields, then `proofs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proven<T> {
    /// The answer.
    #[serde(flatten)]
    pub view: T,
    /// The proofs, present only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proofs: Option<StateProofsView>,
}

/// One proven key: its value (hex, `null` when absent) and proof (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvenEntryView {
    /// The state key.
    pub key: StateKey,
    /// Its value's bytes, hex; `null` when the key is absent.
    pub value: Option<String>,
    /// The proof's canonical bytes, hex (docs/encoding.md, "State proofs").
    pub proof: String,
}

/// Proofs of several keys at one height, against that height's header:
/// every value an answer was computed from, so a client can recompute the
/// answer from proven state alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateProofsView {
    /// The height the values are read at.
    pub height: u64,
    /// The header at `height`; every proof is against its `stateRoot`.
    pub header: Header,
    /// Each key read, in key order.
    pub entries: Vec<ProvenEntryView>,
    /// The validators' commit certificate of `header` (chains run by
    /// validators): with the genesis, it shows the header was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateView>,
}

/// A key and its proven value (`None`: proven absent).
pub type ProvenValue = (StateKey, Option<Vec<u8>>);

impl StateProofsView {
    /// Checks every entry against the header's state root (and that the
    /// header is at the proofs' height); gives each key's proven value. The
    /// error names the key whose proof fails.
    pub fn verify(&self) -> Result<Vec<ProvenValue>, crate::verified::VerifyError> {
        use crate::verified::VerifyError;
        if self.header.height != self.height {
            return Err(VerifyError::HeaderHeight { proofs: self.height, header: self.header.height });
        }
        self.entries
            .iter()
            .map(|entry| {
                let single = ProofView {
                    key: entry.key,
                    height: self.height,
                    value: entry.value.clone(),
                    proof: entry.proof.clone(),
                    header: self.header.clone(),
                    certificate: None,
                };
                single
                    .verify()
                    .map(|value| (entry.key, value))
                    .map_err(|error| VerifyError::Proof { key: entry.key, error })
            })
            .collect()
    }
}

/// An `{"asset": ...}` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetParams {
    /// The asset (`"USDC"`).
    pub asset: AssetId,
}

/// `getPosition` result: deposits and debts with interest to the node's
/// clock, collateral flags, values, borrowing power, health factor and
/// liquidation prices.
pub type PositionView = parlend_contracts::query::PositionSummary;

/// `getMarket` result (and each entry of `getMarkets`).
pub type MarketView = parlend_contracts::query::MarketSummary;

/// `getPrice` result (and each entry of `getPrices`).
pub type PriceEntryView = parlend_contracts::query::AssetPrice;

/// Most blocks one `getEvents` call may span.
pub const EVENTS_BLOCK_RANGE_MAX: u64 = 100_000;

/// Default number of events `getEvents` returns per page.
pub const EVENTS_LIMIT_DEFAULT: u32 = 100;

/// Most events `getEvents` returns per page.
pub const EVENTS_LIMIT_MAX: u32 = 1_000;

/// `getEvents` parameters: events of blocks `fromHeight..=toHeight`
/// (at most [`EVENTS_BLOCK_RANGE_MAX`] blocks), optionally only those of
/// one account and/or one kind, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventsParams {
    /// Only events concerning this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Only events of this kind (`"Liquidation"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The first block.
    pub from_height: u64,
    /// The last block (inclusive).
    pub to_height: u64,
    /// Most events to return (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Where to continue: the `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<EventCursor>,
}

/// Where an event is: block, transaction and event index. Also a
/// `getEvents` page's continuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventCursor {
    /// Block height.
    pub height: u64,
    /// Index of the transaction in the block.
    pub tx_index: u32,
    /// Index of the event in the receipt.
    pub event_index: u16,
}

/// One event found by `getEvents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Where it is.
    pub position: EventCursor,
    /// The transaction that emitted it.
    pub tx_hash: Hash,
    /// The event.
    pub event: Event,
}

/// `getEvents` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsView {
    /// The events, in chain order.
    pub events: Vec<EventView>,
    /// Pass as `cursor` (same filters and range) for the next page; absent
    /// when the range has no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<EventCursor>,
}

/// Default upper bound of the at-risk band of `getLiquidatable`: 1.05.
pub const AT_RISK_BELOW_DEFAULT: Wad = Wad(1_050_000_000_000_000_000);

/// Default number of positions `getLiquidatable` returns per list.
pub const LIQUIDATABLE_LIMIT_DEFAULT: u32 = 100;

/// Most positions `getLiquidatable` returns per list.
pub const LIQUIDATABLE_LIMIT_MAX: u32 = 1_000;

/// `getLiquidatable` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiquidatableParams {
    /// Upper bound (exclusive) of the at-risk band, WAD (default 1.05e18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_risk_below: Option<Wad>,
    /// Most positions per list (default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One position found by `getLiquidatable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskyPositionView {
    /// The borrower.
    pub owner: Address,
    /// Its health factor, WAD.
    pub health_factor: Wad,
    /// Σ collateral value, USD WAD.
    pub collateral_value: Wad,
    /// Σ debt value, USD WAD.
    pub debt_value: Wad,
    /// Whether every price that counts is fresh (a liquidation needs it).
    pub prices_fresh: bool,
}

/// `getLiquidatable` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidatableView {
    /// The time the health factors are for (the node's clock).
    pub timestamp: u64,
    /// Upper bound of the at-risk band used.
    pub at_risk_below: Wad,
    /// Positions that can be liquidated now (HF < 1, prices fresh), worst first.
    pub liquidatable: Vec<RiskyPositionView>,
    /// Positions in the at-risk band (HF < `atRiskBelow`) that cannot be
    /// liquidated now (HF ≥ 1, or a price is stale), worst first.
    pub at_risk: Vec<RiskyPositionView>,
    /// Positions with debt the node's liquidatable index covers.
    pub scanned: u64,
    /// Positions evaluated to answer: only those the index could not rule
    /// out of the band (see docs/rpc.md), not every position.
    pub evaluated: u64,
}

/// `dev_faucet` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaucetParams {
    /// The recipient.
    pub address: Address,
    /// The asset.
    pub asset: AssetId,
    /// Base units.
    pub amount: Amount,
}

/// Most blocks one `dev_mine` call produces.
pub const MINE_BLOCKS_MAX: u32 = 1_000;

/// `dev_mine` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MineParams {
    /// How many blocks (default 1, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<u32>,
}

/// `dev_mine` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MineView {
    /// Blocks produced.
    pub blocks: u32,
    /// The head's height afterwards.
    pub height: u64,
}

/// Most seconds one `dev_increaseTime` call may add (100 years).
pub const INCREASE_TIME_SECONDS_MAX: u64 = 100 * 366 * 86_400;

/// `dev_increaseTime` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncreaseTimeParams {
    /// Seconds to add to the node's clock.
    pub seconds: u64,
}

/// The node's clock (`dev_increaseTime` result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockView {
    /// Seconds added to the wall clock so far.
    pub offset_seconds: u64,
    /// The node's time now: the earliest timestamp of the next block.
    pub clock: u64,
    /// Stale dev oracle prices re-posted at their last value after the
    /// move (committed before the answer, unless the node mines manually).
    #[serde(default)]
    pub prices_refreshed: u32,
}

/// `dev_setTime` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetTimeParams {
    /// The node's new time, seconds since the Unix epoch: not before the
    /// node's clock (it never goes back).
    pub timestamp: u64,
}

/// `dev_snapshot` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotView {
    /// The snapshot's id, for `dev_revert`.
    pub id: u64,
    /// The head's height it saved.
    pub height: u64,
}

/// `dev_revert` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevertParams {
    /// A snapshot id from `dev_snapshot`.
    pub id: u64,
}

/// `dev_revert` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevertView {
    /// The snapshot reverted to.
    pub id: u64,
    /// The head's height afterwards.
    pub height: u64,
    /// Pending transactions dropped from the mempool.
    pub dropped_transactions: u64,
}

/// `getProof` parameters: a state key (as in access sets) and the height
/// whose state to prove (default: the head).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProofParams {
    /// The state key.
    pub key: StateKey,
    /// The height (default: the head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

/// `getProof` result: a key's value (or its absence) at a height, the
/// proof, and the header whose state root it is checked against. Saved to
/// a file, it is checked offline with [`ProofView::verify`] (`parlend
/// verify-proof`): nothing in it needs to be trusted but the header, and
/// on a chain run by validators the header's commit certificate, checked
/// with the genesis validators, takes that trust away too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofView {
    /// The state key.
    pub key: StateKey,
    /// The height of the state.
    pub height: u64,
    /// The value's bytes, hex; `null` when the key is absent.
    pub value: Option<String>,
    /// The proof's canonical bytes, hex (docs/encoding.md, "State proofs").
    pub proof: String,
    /// The header at `height`; the proof is against its `stateRoot`.
    pub header: Header,
    /// The validators' commit certificate of `header` (chains run by
    /// validators): with the genesis, it shows the header was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateView>,
}

impl ProofView {
    /// Checks the answer against its header's state root: the value (or
    /// absence) is what the state at that height holds. Gives the value.
    pub fn verify(&self) -> Result<Option<Vec<u8>>, ProofError> {
        if self.header.height != self.height {
            return Err(ProofError::Invalid(format!(
                "the header is at height {}, the answer at {}",
                self.header.height, self.height
            )));
        }
        let hex_field = |name: &str, text: &str| {
            hex::decode(text).map_err(|error| ProofError::Malformed(format!("{name} is not hex: {error}")))
        };
        let value = self.value.as_deref().map(|text| hex_field("value", text)).transpose()?;
        let proof = hex_field("proof", &self.proof)?;
        verify_state_proof(&self.header.state_root, &self.key, value.as_deref(), &proof)?;
        Ok(value)
    }
}

/// Most an `atRiskBelow` of `subscribeLiquidatable` may be: 1.25. The
/// node re-evaluates, every block, the positions that might be below it.
pub const WATCH_BELOW_MAX: Wad = Wad(1_250_000_000_000_000_000);

/// `subscribeNewHeads` and `subscribeMarkets` parameters: none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// `subscribeTransactions` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransactionsFilter {
    /// Only transactions this account signed or that name it (a transfer's
    /// recipient, a liquidated borrower, ...); every transaction if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// `subscribeLiquidatable` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiquidatableFilter {
    /// Upper bound (exclusive) of the at-risk band, WAD (default 1.05e18,
    /// at most [`WATCH_BELOW_MAX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_risk_below: Option<Wad>,
}

/// `unsubscribe` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnsubscribeParams {
    /// The id a `subscribe...` call answered with.
    pub subscription: serde_json::Value,
}

/// A `subscribeNewHeads` notification: one per committed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewHeadView {
    /// The block hash.
    pub hash: Hash,
    /// The header.
    pub header: Header,
    /// Transactions in the block.
    pub transactions: u32,
    /// Of which failed.
    pub failed: u32,
    /// Of which liquidations (transactions with a `liquidate` instruction that succeeded).
    pub liquidations: u32,
    /// How this node executed the block (parallel path, depth,
    /// re-executions, phase times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<BlockExecutionView>,
}

/// A `subscribeTransactions` notification: one committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionNoticeView {
    /// The signer.
    pub signer: Address,
    /// Its nonce.
    pub nonce: u64,
    /// The instructions.
    pub instructions: Vec<Instruction>,
    /// The receipt.
    pub receipt: ReceiptView,
}

/// Where a position is, for `subscribeLiquidatable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskState {
    /// No debt (or a price that counts is missing).
    None,
    /// Health factor at or above the band.
    Safe,
    /// In the at-risk band but not liquidatable now (HF ≥ 1, or a price is stale).
    AtRisk,
    /// Liquidatable now: HF < 1 and every price that counts fresh.
    Liquidatable,
}

/// A position's health as the node's liquidatable index last evaluated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskPoint {
    /// Health factor, WAD.
    pub health_factor: Wad,
    /// Σ collateral value, USD WAD.
    pub collateral_value: Wad,
    /// Σ debt value, USD WAD.
    pub debt_value: Wad,
    /// Whether every price that counts is fresh.
    pub prices_fresh: bool,
}

impl RiskPoint {
    /// Where this health puts a position, for a band ending at `at_risk_below`.
    pub fn state(point: Option<&RiskPoint>, at_risk_below: Wad) -> RiskState {
        match point {
            None => RiskState::None,
            Some(point) if point.prices_fresh && point.health_factor < Wad::ONE => RiskState::Liquidatable,
            Some(point) if point.health_factor < at_risk_below => RiskState::AtRisk,
            Some(_) => RiskState::Safe,
        }
    }
}

/// A position the index re-evaluated in a block, before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskMove {
    /// The borrower.
    pub owner: Address,
    /// Its health before the block (none: no debt).
    pub before: Option<RiskPoint>,
    /// Its health after (none: no debt).
    pub after: Option<RiskPoint>,
}

/// One position entering or leaving the at-risk or liquidatable set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskChangeView {
    /// The borrower.
    pub owner: Address,
    /// Where it was.
    pub from: RiskState,
    /// Where it is.
    pub to: RiskState,
    /// Its health now (none: no debt any more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<RiskPoint>,
}

/// A `subscribeLiquidatable` notification: the positions that entered or
/// left the at-risk and liquidatable sets in one block (the first
/// notification, `snapshot`, lists every member at subscription time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidatableNoticeView {
    /// The block the changes are for.
    pub height: u64,
    /// Whether this is the first notification: the sets' members.
    pub snapshot: bool,
    /// The band used.
    pub at_risk_below: Wad,
    /// The changes, worst health first.
    pub changes: Vec<RiskChangeView>,
}

/// A `subscribeMarkets` notification: every market and price after a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketsNoticeView {
    /// The block.
    pub height: u64,
    /// Its timestamp (the figures are for it).
    pub timestamp: u64,
    /// Every market.
    pub markets: Vec<MarketView>,
    /// Every registered asset's price.
    pub prices: Vec<PriceEntryView>,
}

/// One committed transaction in a [`BlockFeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedTransaction {
    /// What `subscribeTransactions` sends.
    pub notice: TransactionNoticeView,
    /// Every account it names (signer first), for the address filter.
    pub addresses: Vec<Address>,
}

/// What the node publishes after each committed block for
/// `subscribeTransactions` and `subscribeMarkets` (shared by every
/// subscriber).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFeed {
    /// The head.
    pub head: NewHeadView,
    /// Its transactions with their receipts, in block order.
    pub transactions: Vec<FeedTransaction>,
    /// Markets and prices after the block.
    pub markets: MarketsNoticeView,
}

/// What the node publishes once the liquidatable index has reached a
/// committed block, for `subscribeLiquidatable` (shared by every
/// subscriber).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskFeed {
    /// The block's height.
    pub height: u64,
    /// Positions re-evaluated by the liquidatable index whose health was
    /// or is below [`WATCH_BELOW_MAX`].
    pub risk: Vec<RiskMove>,
}

/// The liquidatable index's members below a band: `(height, positions)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskSnapshot {
    /// The block the index is at.
    pub height: u64,
    /// Positions whose last evaluated health is below the band, worst first.
    pub members: Vec<(Address, RiskPoint)>,
}
