//! Every limit of the ledger, in one place.
//!
//! A limit is a named constant so that tests can be written against it and so
//! that a reader can see, in one screen, every bound the node enforces.

/// Largest canonical encoding of a signed transaction, in bytes.
///
/// Solana caps a transaction at 1232 bytes; parlend allows a little more so
/// that a borrow touching every market of a four-market deployment still fits
/// with room to spare.
pub const TRANSACTION_BYTES_MAX: usize = 2048;

/// Most instructions in one transaction (executed atomically).
pub const INSTRUCTIONS_PER_TRANSACTION_MAX: usize = 16;

/// Most entries in one access set.
pub const ACCESS_KEYS_PER_TRANSACTION_MAX: usize = 64;

/// Most transactions in one block.
pub const TRANSACTIONS_PER_BLOCK_MAX: usize = 20_000;

/// Most `u128` fields in one aggregate (delta-capable) value.
pub const AGGREGATE_FIELDS_MAX: usize = 8;

/// Longest asset symbol, in bytes (`USDC`, `WETH`, `TBILL`).
pub const ASSET_SYMBOL_BYTES_MAX: usize = 8;

/// Most events one transaction emits (its contracts emit one per instruction).
pub const EVENTS_PER_TRANSACTION_MAX: usize = INSTRUCTIONS_PER_TRANSACTION_MAX;

/// Most accounts one event is indexed under.
pub const EVENT_ACCOUNTS_MAX: usize = 4;

/// Largest encoding of one event's data, in bytes.
pub const EVENT_DATA_BYTES_MAX: usize = 512;

/// Largest encoding of a failure's explaining values, in bytes.
pub const FAILURE_DETAIL_BYTES_MAX: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    // The limits must fit the encodings that carry them.
    const _: () = {
        assert!(INSTRUCTIONS_PER_TRANSACTION_MAX <= u16::MAX as usize);
        assert!(TRANSACTIONS_PER_BLOCK_MAX <= u32::MAX as usize);
        assert!(AGGREGATE_FIELDS_MAX <= u8::MAX as usize);
    };
}
