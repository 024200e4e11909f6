//! The typed Rust client. The CLI uses it; so can any Rust program or test.
//!
//! [`Client::submit`] is the usual way to send: it simulates the
//! instructions to learn the exact access set and nonce, signs, and sends.
//! Nobody writes access sets by hand.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use parlend_contracts::{Instruction, SignedTransaction};
use parlend_ledger::exec::Plan;
use parlend_ledger::{Address, Amount, AssetId, Hash, Keypair, StateKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::methods;
use crate::types::{
    AccountView, AddressParams, AssetParams, BalancesView, BlockParams, BlockView, ClockView, CommittedTransactionView,
    EventsParams, EventsView, FaucetParams, HashParams, HeadView, IncreaseTimeParams, LiquidatableParams,
    LiquidatableView, MarketView, MineParams, MineView, PositionView, PriceEntryView, ProofParams, ProofView,
    ProvableAddressParams, ProvableAssetParams, ReceiptView, RevertParams, RevertView, SendOutcome,
    SendTransactionParams, SendTransactionsParams, SimulateParams, SimulationView, SnapshotView, TxStatusView,
};
use crate::types::{
    LiquidatableFilter, LiquidatableNoticeView, MarketsNoticeView, NewHeadView, NoParams, TransactionNoticeView,
    TransactionsFilter,
};
use crate::verified::{Recomputable, Verified, VerifyError, verify_answer};

/// How long a call may take, including `wait` for a commit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(150);

/// A client error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The node answered with a JSON-RPC error.
    #[error("{message} (code {code})")]
    Rpc {
        /// The stable code (see [`crate::error`]).
        code: i32,
        /// The node's message.
        message: String,
    },
    /// The node could not be reached, or the answer was not understood.
    #[error("transport: {0}")]
    Transport(String),
    /// A verified read's answer does not verify: a proof, or a figure that
    /// is not what the proven values give (the error names which).
    #[error("the answer does not verify: {0}")]
    Verification(#[from] VerifyError),
}

impl ClientError {
    /// The JSON-RPC error code, if the node answered with one.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            ClientError::Transport(_) | ClientError::Verification(_) => None,
        }
    }
}

impl From<jsonrpsee::core::ClientError> for ClientError {
    fn from(error: jsonrpsee::core::ClientError) -> ClientError {
        match error {
            jsonrpsee::core::ClientError::Call(object) => {
                ClientError::Rpc { code: object.code(), message: object.message().to_string() }
            }
            other => ClientError::Transport(other.to_string()),
        }
    }
}

/// Params serialized as one JSON object.
struct Object(Option<Box<RawValue>>);

impl ToRpcParams for Object {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        Ok(self.0)
    }
}

fn object<P: Serialize>(params: &P) -> Result<Object, ClientError> {
    serde_json::value::to_raw_value(params)
        .map(|raw| Object(Some(raw)))
        .map_err(|e| ClientError::Transport(e.to_string()))
}

/// `sendTransactions` parameters, JSON-encoded ahead of the call.
pub struct PreparedSend(Box<RawValue>);

impl PreparedSend {
    /// Encodes the parameters of a `sendTransactions` call.
    pub fn new(params: &SendTransactionsParams) -> Result<PreparedSend, ClientError> {
        serde_json::value::to_raw_value(params)
            .map(PreparedSend)
            .map_err(|error| ClientError::Transport(error.to_string()))
    }
}

/// A connection to a parlend node.
#[derive(Clone)]
pub struct Client {
    http: HttpClient,
}

impl Client {
    /// A client for the node at `url` (`http://127.0.0.1:8545`).
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let http = HttpClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .max_request_size(16 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .build(url)
            .map_err(|error| ClientError::Transport(error.to_string()))?;
        Ok(Client { http })
    }

    async fn call<P: Serialize, R: DeserializeOwned>(&self, method: &str, params: &P) -> Result<R, ClientError> {
        Ok(self.http.request(method, object(params)?).await?)
    }

    /// `getHead`.
    pub async fn head(&self) -> Result<HeadView, ClientError> {
        self.call(methods::GET_HEAD, &serde_json::json!({})).await
    }

    /// `getAccount`.
    pub async fn account(&self, address: Address) -> Result<AccountView, ClientError> {
        self.call(methods::GET_ACCOUNT, &AddressParams { address }).await
    }

    /// `getBalances`.
    pub async fn balances(&self, address: Address) -> Result<BalancesView, ClientError> {
        self.call(methods::GET_BALANCES, &AddressParams { address }).await
    }

    /// `getProof`: a state key's value at `height` (the head by default),
    /// its proof and the header it is against; check it with
    /// [`ProofView::verify`].
    pub async fn proof(&self, key: StateKey, height: Option<u64>) -> Result<ProofView, ClientError> {
        self.call(methods::GET_PROOF, &ProofParams { key, height }).await
    }

    /// `getBlock`.
    pub async fn block(&self, params: &BlockParams) -> Result<Option<BlockView>, ClientError> {
        self.call(methods::GET_BLOCK, params).await
    }

    /// `getTransaction`.
    pub async fn transaction(&self, hash: Hash) -> Result<Option<CommittedTransactionView>, ClientError> {
        self.call(methods::GET_TRANSACTION, &HashParams { hash }).await
    }

    /// `getReceipt`.
    pub async fn receipt(&self, hash: Hash) -> Result<Option<ReceiptView>, ClientError> {
        self.call(methods::GET_RECEIPT, &HashParams { hash }).await
    }

    /// `getEvents`: one page.
    pub async fn events(&self, params: &EventsParams) -> Result<EventsView, ClientError> {
        self.call(methods::GET_EVENTS, params).await
    }

    /// `getTransactionStatus`.
    pub async fn transaction_status(&self, hash: Hash) -> Result<TxStatusView, ClientError> {
        self.call(methods::GET_TRANSACTION_STATUS, &HashParams { hash }).await
    }

    /// `simulateTransaction`.
    pub async fn simulate(&self, params: &SimulateParams) -> Result<SimulationView, ClientError> {
        self.call(methods::SIMULATE_TRANSACTION, params).await
    }

    /// `sendTransaction` of a signed transaction.
    pub async fn send(&self, transaction: &SignedTransaction, wait: bool) -> Result<TxStatusView, ClientError> {
        self.send_raw(&transaction.encode(), wait).await
    }

    /// `sendTransaction` of raw bytes (any bytes: for tests of bad input).
    pub async fn send_raw(&self, bytes: &[u8], wait: bool) -> Result<TxStatusView, ClientError> {
        let params = SendTransactionParams { transaction: hex::encode(bytes), wait, timeout_ms: None };
        self.call(methods::SEND_TRANSACTION, &params).await
    }

    /// `sendTransactions`.
    pub async fn send_many(
        &self,
        transactions: &[SignedTransaction],
        wait: bool,
    ) -> Result<Vec<SendOutcome>, ClientError> {
        self.send_many_hex(transactions.iter().map(|tx| hex::encode(tx.encode())).collect(), wait).await
    }

    /// `sendTransactions` of transactions already hex-encoded.
    pub async fn send_many_hex(&self, transactions: Vec<String>, wait: bool) -> Result<Vec<SendOutcome>, ClientError> {
        let params = SendTransactionsParams { transactions, wait, timeout_ms: None };
        self.call(methods::SEND_TRANSACTIONS, &params).await
    }

    /// `sendTransactions` with parameters encoded beforehand by
    /// [`PreparedSend::new`] (a load generator encodes its requests before
    /// it starts the clock).
    pub async fn send_prepared(&self, prepared: PreparedSend) -> Result<Vec<SendOutcome>, ClientError> {
        Ok(self.http.request(methods::SEND_TRANSACTIONS, Object(Some(prepared.0))).await?)
    }

    /// `relayTransactions` (canonical bytes): what validators send each other.
    pub async fn relay(&self, transactions: &[Vec<u8>]) -> Result<Vec<SendOutcome>, ClientError> {
        let transactions = transactions.iter().map(hex::encode).collect();
        let params = SendTransactionsParams { transactions, wait: false, timeout_ms: None };
        self.call(methods::RELAY_TRANSACTIONS, &params).await
    }

    /// `getValidators`.
    pub async fn validators(&self) -> Result<crate::types::ValidatorsView, ClientError> {
        self.call(methods::GET_VALIDATORS, &serde_json::json!({})).await
    }

    /// `getPosition`.
    pub async fn position(&self, address: Address) -> Result<PositionView, ClientError> {
        self.call(methods::GET_POSITION, &AddressParams { address }).await
    }

    /// `getMarket`.
    pub async fn market(&self, asset: AssetId) -> Result<MarketView, ClientError> {
        self.call(methods::GET_MARKET, &AssetParams { asset }).await
    }

    /// `getMarkets`.
    pub async fn markets(&self) -> Result<Vec<MarketView>, ClientError> {
        self.call(methods::GET_MARKETS, &serde_json::json!({})).await
    }

    /// `getPrice`.
    pub async fn price(&self, asset: AssetId) -> Result<PriceEntryView, ClientError> {
        self.call(methods::GET_PRICE, &AssetParams { asset }).await
    }

    /// `getPrices`.
    pub async fn prices(&self) -> Result<Vec<PriceEntryView>, ClientError> {
        self.call(methods::GET_PRICES, &serde_json::json!({})).await
    }

    /// `getPosition` with `proof: true`, verified: every proof checks
    /// against the state root of the header the answer carries, and every
    /// figure is what the proven values give at the answer's time
    /// ([`verify_answer`]). A [`ClientError::Verification`] names the key
    /// or figure that fails. Only the header is trusted: compare
    /// [`Verified::header`] with the chain you follow.
    pub async fn verified_position(&self, address: Address) -> Result<Verified<PositionView>, ClientError> {
        self.verified(methods::GET_POSITION, &ProvableAddressParams { address, proof: true }, &address.to_string())
            .await
    }

    /// `getBalances` with `proof: true`, verified like
    /// [`Client::verified_position`].
    pub async fn verified_balances(&self, address: Address) -> Result<Verified<BalancesView>, ClientError> {
        self.verified(methods::GET_BALANCES, &ProvableAddressParams { address, proof: true }, &address.to_string())
            .await
    }

    /// `getMarket` with `proof: true`, verified like
    /// [`Client::verified_position`].
    pub async fn verified_market(&self, asset: AssetId) -> Result<Verified<MarketView>, ClientError> {
        self.verified(methods::GET_MARKET, &ProvableAssetParams { asset, proof: true }, &asset.to_string()).await
    }

    async fn verified<P: Serialize, T: Recomputable>(
        &self,
        method: &str,
        params: &P,
        asked: &str,
    ) -> Result<Verified<T>, ClientError> {
        let answer: serde_json::Value = self.call(method, params).await?;
        Ok(verify_answer(&answer, Some(asked))?)
    }

    /// `getLiquidatable`.
    pub async fn liquidatable(&self, params: &LiquidatableParams) -> Result<LiquidatableView, ClientError> {
        self.call(methods::GET_LIQUIDATABLE, params).await
    }

    /// `dev_faucet`: mints `amount` base units of `asset` to `address` and
    /// returns once the mint is committed.
    pub async fn faucet(&self, address: Address, asset: AssetId, amount: Amount) -> Result<TxStatusView, ClientError> {
        self.call(methods::DEV_FAUCET, &FaucetParams { address, asset, amount }).await
    }

    /// `dev_mine`.
    pub async fn mine(&self, blocks: u32) -> Result<MineView, ClientError> {
        self.call(methods::DEV_MINE, &MineParams { blocks: Some(blocks) }).await
    }

    /// `dev_increaseTime`.
    pub async fn increase_time(&self, seconds: u64) -> Result<ClockView, ClientError> {
        self.call(methods::DEV_INCREASE_TIME, &IncreaseTimeParams { seconds }).await
    }

    /// `dev_setTime`.
    pub async fn set_time(&self, timestamp: u64) -> Result<ClockView, ClientError> {
        self.call(methods::DEV_SET_TIME, &crate::types::SetTimeParams { timestamp }).await
    }

    /// `dev_snapshot`.
    pub async fn snapshot(&self) -> Result<SnapshotView, ClientError> {
        self.call(methods::DEV_SNAPSHOT, &serde_json::json!({})).await
    }

    /// `dev_revert`.
    pub async fn revert(&self, id: u64) -> Result<RevertView, ClientError> {
        self.call(methods::DEV_REVERT, &RevertParams { id }).await
    }

    /// Builds a signed transaction for `instructions`: simulates them to
    /// learn the exact access set, the nonce and the chain id, then signs.
    pub async fn prepare(
        &self,
        key: &Keypair,
        instructions: Vec<Instruction>,
    ) -> Result<SignedTransaction, ClientError> {
        let params = SimulateParams { signer: key.address(), nonce: None, instructions };
        let simulation = self.simulate(&params).await?;
        let plan = Plan { chain_id: simulation.chain_id, nonce: simulation.nonce, access: simulation.access };
        Ok(plan.sign(key, params.instructions))
    }

    /// Prepares, signs and sends `instructions`; with `wait`, returns once
    /// committed, with the receipt. A transaction that will fail is still
    /// sent: its failure is recorded in its receipt.
    pub async fn submit(
        &self,
        key: &Keypair,
        instructions: Vec<Instruction>,
        wait: bool,
    ) -> Result<TxStatusView, ClientError> {
        let transaction = self.prepare(key, instructions).await?;
        self.send(&transaction, wait).await
    }
}

/// A subscription's notifications, as they come (`next().await`); `None`
/// once it ended (unsubscribed, dropped as too slow, or the connection
/// closed).
pub use jsonrpsee::core::client::{Subscription, SubscriptionCloseReason};

/// Notifications one subscription holds until its reader takes them: four
/// full blocks of `transactions` notifications at the node's default block
/// size (5,000). A subscription whose buffer fills is closed by the client
/// ([`Subscription::close_reason`]: `Lagged`); jsonrpsee's default, 1,024,
/// is less than one block, so an unfiltered `subscribeTransactions` was
/// closed within its first large block however fast its reader.
pub const SUBSCRIPTION_BUFFER: usize = 20_000;

/// A WebSocket connection to a parlend node, for its subscriptions.
pub struct WsClient {
    ws: jsonrpsee_ws_client::WsClient,
}

impl WsClient {
    /// Connects to the node at `url` (`ws://127.0.0.1:8545`; an `http://`
    /// address is taken to mean the same host and port).
    pub async fn connect(url: &str) -> Result<WsClient, ClientError> {
        let url = websocket_url(url);
        let ws = jsonrpsee_ws_client::WsClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .max_buffer_capacity_per_subscription(SUBSCRIPTION_BUFFER)
            .build(&url)
            .await
            .map_err(|error| ClientError::Transport(format!("{url}: {error}")))?;
        Ok(WsClient { ws })
    }

    async fn subscribe<P: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<Subscription<T>, ClientError> {
        use jsonrpsee::core::client::SubscriptionClientT;
        let unsubscribe = methods::SUBSCRIPTIONS
            .iter()
            .find(|(subscribe, _, _)| *subscribe == method)
            .map(|(_, _, unsubscribe)| *unsubscribe)
            .ok_or_else(|| ClientError::Transport(format!("{method} is not a subscription")))?;
        Ok(self.ws.subscribe(method, object(params)?, unsubscribe).await?)
    }

    /// `subscribeNewHeads`.
    pub async fn new_heads(&self) -> Result<Subscription<NewHeadView>, ClientError> {
        self.subscribe(methods::SUBSCRIBE_NEW_HEADS, &NoParams {}).await
    }

    /// `subscribeTransactions`.
    pub async fn transactions(
        &self,
        filter: &TransactionsFilter,
    ) -> Result<Subscription<TransactionNoticeView>, ClientError> {
        self.subscribe(methods::SUBSCRIBE_TRANSACTIONS, filter).await
    }

    /// `subscribeLiquidatable`.
    pub async fn liquidatable(
        &self,
        filter: &LiquidatableFilter,
    ) -> Result<Subscription<LiquidatableNoticeView>, ClientError> {
        self.subscribe(methods::SUBSCRIBE_LIQUIDATABLE, filter).await
    }

    /// `subscribeMarkets`.
    pub async fn markets(&self) -> Result<Subscription<MarketsNoticeView>, ClientError> {
        self.subscribe(methods::SUBSCRIBE_MARKETS, &NoParams {}).await
    }

    /// Whether the connection is still open.
    pub fn is_connected(&self) -> bool {
        self.ws.is_connected()
    }
}

/// `ws://` for `http://` (and `wss://` for `https://`); other text as is.
pub fn websocket_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        url.to_string()
    }
}
