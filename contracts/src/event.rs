//! Events: what each successful instruction did, in its transaction's receipt.
//!
//! Every successful instruction emits exactly one [`Event`]; a failed
//! transaction emits none. The receipt carries it as the ledger's
//! [`parlend_ledger::Event`]: `kind` is the variant's number (its borsh tag,
//! [`Event::KINDS`]), `accounts` the accounts it concerns (the event index
//! finds it under each) and `data` its borsh encoding. Variants are only
//! ever appended, and a variant's fields never change: kinds and encodings
//! are part of the receipts root.
//!
//! Amounts are base units; scaled balances are the position's balance
//! after the instruction, in the market's scaled units (multiply by the
//! index for underlying).

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::{Address, Amount, AssetId, Wad};
use serde::{Deserialize, Serialize};

use crate::emode::EModeCategory;
use crate::market::MarketParams;
use crate::state::LiquidationConfig;

/// New deficit a liquidation recorded in one market: bad debt the market's
/// treasury could not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeficitCreated {
    /// The debt's market.
    pub asset: AssetId,
    /// The deficit added, base units.
    pub amount: Amount,
}

/// What one liquidation moved, base units.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidationEvent {
    /// Who repaid.
    pub liquidator: Address,
    /// The liquidated position.
    pub borrower: Address,
    /// The debt repaid.
    pub debt_asset: AssetId,
    /// The collateral seized.
    pub collateral_asset: AssetId,
    /// Debt the liquidator repaid.
    pub debt_repaid: Amount,
    /// Collateral taken from the borrower, protocol fee included.
    pub collateral_seized: Amount,
    /// The bonus part of the seizure: seized less the debt's worth.
    pub bonus: Amount,
    /// The protocol's share of the bonus (stays in the market as treasury).
    pub protocol_fee: Amount,
    /// Collateral the liquidator received: seized less the protocol fee.
    pub liquidator_collateral: Amount,
    /// Whether it was received as a deposit rather than wallet tokens.
    pub received_as_deposit: bool,
    /// The borrower's scaled debt in the debt asset afterwards.
    pub borrower_scaled_debt: Amount,
    /// The borrower's scaled deposit of the collateral afterwards.
    pub borrower_scaled_deposit: Amount,
    /// Deficit recorded when no collateral was left (bad debt), per market.
    pub deficit: Vec<DeficitCreated>,
}

/// What a successful instruction did.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase")]
pub enum Event {
    /// `Transfer`.
    Transfer {
        /// The payer (the signer).
        from: Address,
        /// The payee.
        to: Address,
        /// The asset.
        asset: AssetId,
        /// The amount.
        amount: Amount,
    },
    /// `Mint`.
    Mint {
        /// The admin or minter.
        minter: Address,
        /// The recipient.
        to: Address,
        /// The asset.
        asset: AssetId,
        /// The amount.
        amount: Amount,
    },
    /// `Deposit`.
    Deposit {
        /// The depositor.
        account: Address,
        /// The asset.
        asset: AssetId,
        /// Underlying deposited.
        amount: Amount,
        /// Scaled deposit minted (rounded down).
        scaled_minted: Amount,
        /// The position's scaled deposit afterwards.
        scaled_deposit: Amount,
        /// Whether the deposit counts as collateral afterwards.
        collateral: bool,
    },
    /// `Withdraw`.
    Withdraw {
        /// The depositor.
        account: Address,
        /// The asset.
        asset: AssetId,
        /// Underlying paid out.
        amount: Amount,
        /// Scaled deposit burned (rounded up).
        scaled_burned: Amount,
        /// The position's scaled deposit afterwards.
        scaled_deposit: Amount,
    },
    /// `Borrow`.
    Borrow {
        /// The borrower.
        account: Address,
        /// The asset.
        asset: AssetId,
        /// Underlying borrowed.
        amount: Amount,
        /// Scaled debt minted (rounded up).
        scaled_minted: Amount,
        /// The position's scaled debt afterwards.
        scaled_debt: Amount,
    },
    /// `Repay`.
    Repay {
        /// Who paid (the signer).
        payer: Address,
        /// Whose debt.
        borrower: Address,
        /// The asset.
        asset: AssetId,
        /// Underlying paid.
        amount: Amount,
        /// Scaled debt burned.
        scaled_burned: Amount,
        /// The borrower's scaled debt afterwards.
        scaled_debt: Amount,
    },
    /// `SetCollateral`.
    CollateralSet {
        /// The depositor.
        account: Address,
        /// The asset.
        asset: AssetId,
        /// Whether it counts as collateral now.
        enabled: bool,
    },
    /// `Liquidate`.
    Liquidation(LiquidationEvent),
    /// `FlashBorrow`: a loan opened, repaid later in the transaction.
    FlashBorrow {
        /// The borrower.
        account: Address,
        /// The asset.
        asset: AssetId,
        /// The amount lent.
        amount: Amount,
    },
    /// `FlashRepay`: a flash loan closed with its fee.
    FlashLoan {
        /// The borrower.
        account: Address,
        /// The asset.
        asset: AssetId,
        /// The amount lent.
        amount: Amount,
        /// The fee paid into the market.
        fee: Amount,
    },
    /// `SetPrice`.
    PriceSet {
        /// The asset.
        asset: AssetId,
        /// USD per whole token.
        price: Wad,
        /// When the oracle observed it.
        timestamp: u64,
    },
    /// `CreateMarket`.
    MarketCreated {
        /// The asset.
        asset: AssetId,
        /// Its parameters.
        params: MarketParams,
    },
    /// `UpdateMarket`.
    MarketUpdated {
        /// The asset.
        asset: AssetId,
        /// Its new parameters.
        params: MarketParams,
    },
    /// `SetOracle`.
    OracleSet {
        /// The new oracle.
        oracle: Address,
    },
    /// `SetAdmin`.
    AdminSet {
        /// The new admin.
        admin: Address,
    },
    /// `SetMinter`.
    MinterSet {
        /// The new minter (none: only the admin mints).
        minter: Option<Address>,
    },
    /// `SetLiquidationConfig`.
    LiquidationConfigSet {
        /// The new configuration.
        config: LiquidationConfig,
    },
    /// `SetEModeCategory`.
    EModeCategorySet {
        /// The category.
        category: EModeCategory,
    },
    /// `SetEMode`.
    EModeSet {
        /// The position.
        account: Address,
        /// Its category now (0: none).
        category: u8,
    },
    /// `CoverDeficit`.
    DeficitCovered {
        /// Who covered it (the signer).
        payer: Address,
        /// The market.
        asset: AssetId,
        /// Deficit covered.
        amount: Amount,
        /// Paid from the market's treasury rather than the wallet.
        from_treasury: bool,
    },
}

impl Event {
    /// Every kind, `(number, name)`, in number order: the number is the
    /// variant's borsh tag.
    pub const KINDS: &'static [(u16, &'static str)] = &[
        (0, "Transfer"),
        (1, "Mint"),
        (2, "Deposit"),
        (3, "Withdraw"),
        (4, "Borrow"),
        (5, "Repay"),
        (6, "CollateralSet"),
        (7, "Liquidation"),
        (8, "FlashBorrow"),
        (9, "FlashLoan"),
        (10, "PriceSet"),
        (11, "MarketCreated"),
        (12, "MarketUpdated"),
        (13, "OracleSet"),
        (14, "AdminSet"),
        (15, "MinterSet"),
        (16, "LiquidationConfigSet"),
        (17, "EModeCategorySet"),
        (18, "EModeSet"),
        (19, "DeficitCovered"),
    ];

    /// The number of the kind named `name`.
    pub fn kind_of(name: &str) -> Option<u16> {
        Event::KINDS.iter().find(|(_, known)| *known == name).map(|(kind, _)| *kind)
    }

    /// The name of kind `kind`.
    pub fn kind_name(kind: u16) -> Option<&'static str> {
        Event::KINDS.get(usize::from(kind)).map(|(_, name)| *name)
    }

    /// The accounts the event concerns (the index finds it under each).
    pub fn accounts(&self) -> Vec<Address> {
        match self {
            Event::Transfer { from, to, .. } => vec![*from, *to],
            Event::Mint { minter, to, .. } => vec![*minter, *to],
            Event::Repay { payer, borrower, .. } => vec![*payer, *borrower],
            Event::Liquidation(liquidation) => vec![liquidation.liquidator, liquidation.borrower],
            Event::Deposit { account, .. }
            | Event::Withdraw { account, .. }
            | Event::Borrow { account, .. }
            | Event::CollateralSet { account, .. }
            | Event::FlashBorrow { account, .. }
            | Event::FlashLoan { account, .. }
            | Event::EModeSet { account, .. } => vec![*account],
            Event::DeficitCovered { payer, .. } => vec![*payer],
            Event::OracleSet { oracle } => vec![*oracle],
            Event::AdminSet { admin } => vec![*admin],
            Event::MinterSet { minter } => minter.iter().copied().collect(),
            Event::PriceSet { .. }
            | Event::MarketCreated { .. }
            | Event::MarketUpdated { .. }
            | Event::LiquidationConfigSet { .. }
            | Event::EModeCategorySet { .. } => Vec::new(),
        }
    }

    /// The receipt's form.
    pub fn to_record(&self) -> parlend_ledger::Event {
        let data = parlend_ledger::encode_canonical(self);
        let mut accounts = self.accounts();
        accounts.dedup();
        parlend_ledger::Event { kind: u16::from(data[0]), accounts, data }
    }

    /// The typed event of a receipt's record; `None` when it does not
    /// decode or its kind is not its tag.
    pub fn from_record(record: &parlend_ledger::Event) -> Option<Event> {
        let event: Event = borsh::from_slice(&record.data).ok()?;
        (u16::from(record.data[0]) == record.kind).then_some(event)
    }
}

#[cfg(test)]
mod tests {
    use parlend_ledger::limits::{EVENT_ACCOUNTS_MAX, EVENT_DATA_BYTES_MAX};

    use super::*;
    use crate::dev;

    fn examples() -> Vec<Event> {
        let (a, b) = (Address([1; 32]), Address([2; 32]));
        let asset = AssetId::new("WETH").unwrap();
        let amount = Amount(u128::MAX);
        let params = dev::dev_market_params("WETH");
        let liquidation = LiquidationEvent {
            liquidator: a,
            borrower: b,
            debt_asset: asset,
            collateral_asset: asset,
            debt_repaid: amount,
            collateral_seized: amount,
            bonus: amount,
            protocol_fee: amount,
            liquidator_collateral: amount,
            received_as_deposit: true,
            borrower_scaled_debt: amount,
            borrower_scaled_deposit: amount,
            deficit: vec![DeficitCreated { asset, amount }; crate::limits::POSITION_ASSETS_MAX],
        };
        vec![
            Event::Transfer { from: a, to: b, asset, amount },
            Event::Mint { minter: a, to: b, asset, amount },
            Event::Deposit {
                account: a,
                asset,
                amount,
                scaled_minted: amount,
                scaled_deposit: amount,
                collateral: true,
            },
            Event::Withdraw { account: a, asset, amount, scaled_burned: amount, scaled_deposit: amount },
            Event::Borrow { account: a, asset, amount, scaled_minted: amount, scaled_debt: amount },
            Event::Repay { payer: a, borrower: b, asset, amount, scaled_burned: amount, scaled_debt: amount },
            Event::CollateralSet { account: a, asset, enabled: true },
            Event::Liquidation(liquidation),
            Event::FlashBorrow { account: a, asset, amount },
            Event::FlashLoan { account: a, asset, amount, fee: amount },
            Event::PriceSet { asset, price: Wad(u128::MAX), timestamp: u64::MAX },
            Event::MarketCreated { asset, params },
            Event::MarketUpdated { asset, params },
            Event::OracleSet { oracle: a },
            Event::AdminSet { admin: a },
            Event::MinterSet { minter: Some(a) },
            Event::LiquidationConfigSet { config: LiquidationConfig::default() },
            Event::EModeCategorySet { category: dev::dev_emode_categories()[0] },
            Event::EModeSet { account: a, category: 1 },
            Event::DeficitCovered { payer: a, asset, amount, from_treasury: false },
        ]
    }

    #[test]
    fn kinds_are_tags_and_names_and_records_round_trip() {
        let examples = examples();
        assert_eq!(examples.len(), Event::KINDS.len());
        for (event, (kind, name)) in examples.iter().zip(Event::KINDS) {
            let record = event.to_record();
            assert_eq!(record.kind, *kind);
            let json = serde_json::to_value(event).unwrap();
            assert_eq!(json["kind"], *name, "{json}");
            assert_eq!(Event::kind_name(*kind), Some(*name));
            assert_eq!(Event::kind_of(name), Some(*kind));
            assert_eq!(Event::from_record(&record).as_ref(), Some(event));
        }
    }

    #[test]
    fn the_largest_events_fit_the_ledger_bounds() {
        for event in examples() {
            let record = event.to_record();
            assert!(record.within_limits(), "{event:?}: {} bytes", record.data.len());
            assert!(record.accounts.len() <= EVENT_ACCOUNTS_MAX);
            assert!(record.data.len() <= EVENT_DATA_BYTES_MAX);
        }
    }

    #[test]
    fn a_record_whose_kind_is_not_its_tag_does_not_decode() {
        let mut record = Event::OracleSet { oracle: Address([1; 32]) }.to_record();
        record.kind += 1;
        assert_eq!(Event::from_record(&record), None);
    }
}
