//! Instructions: what a transaction asks the lending state machine to do.
//!
//! The enum's borsh encoding is part of the transaction format: a variant's
//! tag is its position, so variants are only ever appended.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::{Address, Amount, AssetId};
use serde::{Deserialize, Serialize};

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", deny_unknown_fields)]
pub enum Instruction {
    /// Moves wallet tokens from the signer to `to`.
    Transfer {
        /// The recipient.
        to: Address,
        /// The asset.
        asset: AssetId,
        /// Base units.
        amount: Amount,
    },
    /// Creates tokens in `to`'s wallet. Admin or the dev minter only.
    Mint {
        /// The recipient.
        to: Address,
        /// The asset.
        asset: AssetId,
        /// Base units.
        amount: Amount,
    },
}
