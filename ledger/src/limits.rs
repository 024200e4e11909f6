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

/// Largest state value, in bytes. Positions are the largest values.
pub const STATE_VALUE_BYTES_MAX: usize = 16 * 1024;

/// Longest asset symbol, in bytes (`USDC`, `WETH`, `TBILL`).
pub const ASSET_SYMBOL_BYTES_MAX: usize = 8;

/// Largest encoded block (header plus transactions) the store accepts.
pub const BLOCK_BYTES_MAX: usize = TRANSACTIONS_PER_BLOCK_MAX * TRANSACTION_BYTES_MAX + 4096;

/// Most entries one failed-receipt message may carry, in bytes.
pub const RECEIPT_MESSAGE_BYTES_MAX: usize = 160;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_consistent() {
        // An access set at its limit must be expressible; the byte limit is the
        // one that binds, and it must still leave room for an instruction.
        assert!(ACCESS_KEYS_PER_TRANSACTION_MAX * 2 < TRANSACTION_BYTES_MAX);
        assert!(INSTRUCTIONS_PER_TRANSACTION_MAX <= u8::MAX as usize);
        assert!(TRANSACTIONS_PER_BLOCK_MAX <= u32::MAX as usize);
    }
}
