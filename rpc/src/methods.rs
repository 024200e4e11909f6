//! Method names. Fixed: users and tools depend on them.

/// Submit one signed transaction.
pub const SEND_TRANSACTION: &str = "sendTransaction";
/// Submit several signed transactions.
pub const SEND_TRANSACTIONS: &str = "sendTransactions";
/// Validators: transactions another validator admitted (not relayed again).
pub const RELAY_TRANSACTIONS: &str = "relayTransactions";
/// Run a transaction without committing it.
pub const SIMULATE_TRANSACTION: &str = "simulateTransaction";
/// A transaction by id.
pub const GET_TRANSACTION: &str = "getTransaction";
/// A receipt by transaction id.
pub const GET_RECEIPT: &str = "getReceipt";
/// Where a transaction is.
pub const GET_TRANSACTION_STATUS: &str = "getTransactionStatus";
/// A block by height or hash.
pub const GET_BLOCK: &str = "getBlock";
/// The head.
pub const GET_HEAD: &str = "getHead";
/// An account's nonces.
pub const GET_ACCOUNT: &str = "getAccount";
/// An account's wallet balances.
pub const GET_BALANCES: &str = "getBalances";
/// A user's lending position.
pub const GET_POSITION: &str = "getPosition";
/// One market.
pub const GET_MARKET: &str = "getMarket";
/// Every market.
pub const GET_MARKETS: &str = "getMarkets";
/// One oracle price.
pub const GET_PRICE: &str = "getPrice";
/// Every oracle price.
pub const GET_PRICES: &str = "getPrices";
/// A state key's value at a height, with its proof against the header.
pub const GET_PROOF: &str = "getProof";
/// The chain's validators and where consensus is.
pub const GET_VALIDATORS: &str = "getValidators";
/// Positions that can be liquidated, and those at risk.
pub const GET_LIQUIDATABLE: &str = "getLiquidatable";
/// Events of a range of blocks, by account and kind, a page at a time.
pub const GET_EVENTS: &str = "getEvents";
/// Dev: mint tokens to an account.
pub const DEV_FAUCET: &str = "dev_faucet";
/// Dev: produce blocks now.
pub const DEV_MINE: &str = "dev_mine";
/// Dev: move the node's clock forward.
pub const DEV_INCREASE_TIME: &str = "dev_increaseTime";
/// Dev: set the node's clock to a time (never back).
pub const DEV_SET_TIME: &str = "dev_setTime";
/// Dev: remember the current state.
pub const DEV_SNAPSHOT: &str = "dev_snapshot";
/// Dev: go back to a remembered state.
pub const DEV_REVERT: &str = "dev_revert";

/// WebSocket: a notification per committed block (header, transaction
/// count, how the block was executed).
pub const SUBSCRIBE_NEW_HEADS: &str = "subscribeNewHeads";
/// WebSocket: a notification per committed transaction, with its receipt.
pub const SUBSCRIBE_TRANSACTIONS: &str = "subscribeTransactions";
/// WebSocket: positions entering and leaving the at-risk and liquidatable sets.
pub const SUBSCRIBE_LIQUIDATABLE: &str = "subscribeLiquidatable";
/// WebSocket: every market and price after each block.
pub const SUBSCRIBE_MARKETS: &str = "subscribeMarkets";
/// WebSocket: ends a subscription of any kind.
pub const UNSUBSCRIBE: &str = "unsubscribe";

/// The subscriptions: (subscribe method, notification method, its own
/// unsubscribe method). [`UNSUBSCRIBE`] ends any of them.
pub const SUBSCRIPTIONS: &[(&str, &str, &str)] = &[
    (SUBSCRIBE_NEW_HEADS, "newHeads", "unsubscribeNewHeads"),
    (SUBSCRIBE_TRANSACTIONS, "transactions", "unsubscribeTransactions"),
    (SUBSCRIBE_LIQUIDATABLE, "liquidatable", "unsubscribeLiquidatable"),
    (SUBSCRIBE_MARKETS, "markets", "unsubscribeMarkets"),
];

/// Every method the server registers, in documentation order.
pub const ALL: &[&str] = &[
    SEND_TRANSACTION,
    SEND_TRANSACTIONS,
    RELAY_TRANSACTIONS,
    SIMULATE_TRANSACTION,
    GET_TRANSACTION,
    GET_RECEIPT,
    GET_TRANSACTION_STATUS,
    GET_BLOCK,
    GET_HEAD,
    GET_ACCOUNT,
    GET_BALANCES,
    GET_POSITION,
    GET_MARKET,
    GET_MARKETS,
    GET_PRICE,
    GET_PRICES,
    GET_PROOF,
    GET_LIQUIDATABLE,
    GET_EVENTS,
    GET_VALIDATORS,
    DEV_FAUCET,
    DEV_MINE,
    DEV_INCREASE_TIME,
    DEV_SET_TIME,
    DEV_SNAPSHOT,
    DEV_REVERT,
    SUBSCRIBE_NEW_HEADS,
    SUBSCRIBE_TRANSACTIONS,
    SUBSCRIBE_LIQUIDATABLE,
    SUBSCRIBE_MARKETS,
    UNSUBSCRIBE,
];

/// Whether `method` is served only on a WebSocket connection.
pub fn is_websocket_only(method: &str) -> bool {
    method == UNSUBSCRIBE || SUBSCRIPTIONS.iter().any(|(subscribe, _, _)| *subscribe == method)
}

/// Whether `method` is served only by dev nodes.
pub fn is_dev_only(method: &str) -> bool {
    method.starts_with("dev_")
}

/// Methods that only read a few keys and answer in microseconds. The server
/// runs single calls of these in their own concurrency lane, so a flood of
/// submissions never keeps `getHead` from answering.
pub const LIGHT: &[&str] = &[GET_HEAD, GET_ACCOUNT, GET_BALANCES, GET_TRANSACTION_STATUS, GET_RECEIPT, GET_PRICE];
