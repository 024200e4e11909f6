//! Instructions: what a transaction asks the lending state machine to do.
//!
//! The enum's borsh encoding is part of the transaction format: a variant's
//! tag is its position, so variants are only ever appended. In JSON an
//! instruction is an object tagged by `type` (`{"type": "deposit", "asset":
//! "USDC", "amount": "1000000"}`), fields in camelCase, amounts as decimal
//! strings of base units.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::{Address, Amount, AssetId, Wad};
use serde::{Deserialize, Serialize};

use crate::emode::EModeCategory;
use crate::market::MarketParams;
use crate::state::LiquidationConfig;

/// An amount, or everything there is (a whole deposit or debt).
///
/// Borsh: tag `0` then a `u128`, or tag `1`. JSON: a decimal string of base
/// units, or the string `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AmountOrAll {
    /// This many base units.
    Amount(Amount),
    /// Everything.
    All,
}

impl fmt::Display for AmountOrAll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountOrAll::Amount(amount) => write!(f, "{amount}"),
            AmountOrAll::All => f.write_str("all"),
        }
    }
}

impl std::str::FromStr for AmountOrAll {
    type Err = parlend_ledger::primitives::AmountParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "all" { Ok(AmountOrAll::All) } else { text.parse().map(AmountOrAll::Amount) }
    }
}

impl Serialize for AmountOrAll {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AmountOrAll {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as Deserialize>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "type", deny_unknown_fields)]
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
    /// Opens a market for a registered asset. Admin only.
    CreateMarket {
        /// The asset.
        asset: AssetId,
        /// Its parameters.
        params: MarketParams,
    },
    /// Replaces a market's parameters (risk, rates, caps, fees, pause,
    /// freeze). Admin only. New rates apply from the end of the block.
    UpdateMarket {
        /// The asset.
        asset: AssetId,
        /// The new parameters.
        params: MarketParams,
    },
    /// Posts a price. Oracle only.
    SetPrice {
        /// The asset.
        asset: AssetId,
        /// USD per whole token, 18 decimals.
        price: Wad,
        /// When it was observed (at most the block's timestamp).
        timestamp: u64,
    },
    /// Replaces the oracle key. Admin only.
    SetOracle {
        /// The new oracle.
        oracle: Address,
    },
    /// Hands the admin role to another key. Admin only.
    SetAdmin {
        /// The new admin.
        admin: Address,
    },
    /// Replaces (or removes) the dev minter key. Admin only.
    SetMinter {
        /// The new minter, or none.
        minter: Option<Address>,
    },
    /// Replaces the global liquidation parameters. Admin only.
    SetLiquidationConfig {
        /// The new parameters.
        config: LiquidationConfig,
    },
    /// Supplies wallet tokens to a market.
    Deposit {
        /// The asset.
        asset: AssetId,
        /// Base units.
        amount: Amount,
    },
    /// Takes a deposit back to the wallet.
    Withdraw {
        /// The asset.
        asset: AssetId,
        /// Base units, or the whole deposit.
        amount: AmountOrAll,
    },
    /// Borrows against collateral, to the wallet.
    Borrow {
        /// The asset.
        asset: AssetId,
        /// Base units.
        amount: Amount,
    },
    /// Repays debt from the signer's wallet.
    Repay {
        /// The asset.
        asset: AssetId,
        /// Base units (at most the debt is taken), or the whole debt.
        amount: AmountOrAll,
        /// Whose debt; the signer's when absent.
        on_behalf_of: Option<Address>,
    },
    /// Turns a deposit's use as collateral on or off.
    SetCollateral {
        /// The asset.
        asset: AssetId,
        /// On or off.
        enabled: bool,
    },
    /// Repays part of an unhealthy borrower's debt and seizes its collateral
    /// with a bonus.
    Liquidate {
        /// The unhealthy borrower.
        borrower: Address,
        /// The debt repaid.
        debt_asset: AssetId,
        /// The collateral seized.
        collateral_asset: AssetId,
        /// Most debt to repay, or as much as allowed.
        debt_to_cover: AmountOrAll,
        /// Receive the collateral as a deposit rather than wallet tokens.
        receive_deposit: bool,
    },
    /// Borrows a market's cash for the rest of the transaction.
    FlashBorrow {
        /// The asset.
        asset: AssetId,
        /// Base units.
        amount: Amount,
    },
    /// Repays the transaction's flash loan of `asset` with its fee.
    FlashRepay {
        /// The asset.
        asset: AssetId,
    },
    /// Creates or replaces an e-mode category. Admin only.
    SetEModeCategory {
        /// The category (its id says which).
        category: EModeCategory,
    },
    /// Enters an e-mode category, or leaves e-mode with category 0.
    SetEMode {
        /// The category id; 0 for none.
        category: u8,
    },
    /// Eliminates (part of) a market's recorded deficit: paid from the
    /// signer's wallet, or from the market's treasury (admin only).
    CoverDeficit {
        /// The market.
        asset: AssetId,
        /// Base units (at most the deficit is covered), or the whole deficit.
        amount: AmountOrAll,
        /// Pay from the market's treasury instead of the wallet.
        from_treasury: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_or_all_in_json_and_borsh() {
        let all: AmountOrAll = serde_json::from_str("\"all\"").unwrap();
        assert_eq!(all, AmountOrAll::All);
        let some: AmountOrAll = serde_json::from_str("\"15\"").unwrap();
        assert_eq!(some, AmountOrAll::Amount(Amount(15)));
        assert_eq!(serde_json::to_string(&some).unwrap(), "\"15\"");
        assert!(serde_json::from_str::<AmountOrAll>("15").is_err());
        assert!(serde_json::from_str::<AmountOrAll>("\"ALL\"").is_err());
        assert_eq!(borsh::to_vec(&AmountOrAll::All).unwrap(), vec![1]);
        assert_eq!(borsh::to_vec(&some).unwrap()[0], 0);
    }

    #[test]
    fn instruction_json_is_tagged_camel_case() {
        let usdc = AssetId::new("USDC").unwrap();
        let repay = Instruction::Repay { asset: usdc, amount: AmountOrAll::All, on_behalf_of: None };
        let json = serde_json::to_value(&repay).unwrap();
        assert_eq!(json, serde_json::json!({"type": "repay", "asset": "USDC", "amount": "all", "onBehalfOf": null}));
        let liquidate: Instruction = serde_json::from_value(serde_json::json!({
            "type": "liquidate", "borrower": "00".repeat(32), "debtAsset": "USDC", "collateralAsset": "WETH",
            "debtToCover": "100", "receiveDeposit": false
        }))
        .unwrap();
        assert!(matches!(liquidate, Instruction::Liquidate { debt_to_cover: AmountOrAll::Amount(Amount(100)), .. }));
        // Tags are positions: Transfer 0, Mint 1, ..., FlashRepay 16, ..., CoverDeficit 19.
        assert_eq!(borsh::to_vec(&Instruction::FlashRepay { asset: usdc }).unwrap()[0], 16);
        assert_eq!(borsh::to_vec(&Instruction::SetEMode { category: 1 }).unwrap()[0], 18);
        let cover = Instruction::CoverDeficit { asset: usdc, amount: AmountOrAll::All, from_treasury: false };
        assert_eq!(borsh::to_vec(&cover).unwrap()[0], 19);
        let json = serde_json::to_value(&cover).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "coverDeficit", "asset": "USDC", "amount": "all", "fromTreasury": false})
        );
        let emode: Instruction =
            serde_json::from_value(serde_json::json!({"type": "setEMode", "category": 1})).unwrap();
        assert_eq!(emode, Instruction::SetEMode { category: 1 });
        assert_eq!(borsh::to_vec(&Instruction::Deposit { asset: usdc, amount: Amount(1) }).unwrap()[0], 9);
    }
}
