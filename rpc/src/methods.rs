//! Method names. Fixed: users and tools depend on them.

/// Submit one signed transaction.
pub const SEND_TRANSACTION: &str = "sendTransaction";
/// Submit several signed transactions.
pub const SEND_TRANSACTIONS: &str = "sendTransactions";
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
