//! Why an instruction fails: stable reason codes.
//!
//! A failed transaction is included with `TxStatus::Failed { instruction,
//! code }`. Codes are part of the protocol: they appear in receipts, block
//! hashes and client code, so a code is never reused or renumbered. Some
//! reasons carry the values that explain them (the borrowing power and the
//! debt it had to cover, the stale price's asset and age, the cap and the
//! amount); the receipt records them as the failure's `detail`, the borsh
//! encoding of the values in declaration order ([`Failure::detail`]), so a
//! value is never removed or reordered either.

use parlend_ledger::exec::ViewError;
use parlend_ledger::primitives::MathError;
use parlend_ledger::{Amount, AssetId, Wad};
use serde::{Deserialize, Serialize};

macro_rules! failures {
    ($($(#[$doc:meta])* $name:ident $({ $($(#[$field_doc:meta])* $field:ident : $ty:ty),* $(,)? })? = $code:literal,)*) => {
        /// The reason an instruction failed, with the values that explain
        /// it where there are any.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(tag = "reason", rename_all_fields = "camelCase")]
        pub enum Failure {
            $($(#[$doc])* $name $({ $($(#[$field_doc])* $field: $ty),* })?,)*
        }

        impl Failure {
            /// Every reason, `(code, name)`, in code order.
            pub const REASONS: &'static [(u16, &'static str)] = &[$(($code, stringify!($name)),)*];

            /// The stable code.
            pub fn code(&self) -> u16 {
                match self {
                    $(Failure::$name { .. } => $code,)*
                }
            }

            /// The stable name (`InsufficientBalance`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Failure::$name { .. } => stringify!($name),)*
                }
            }

            /// The encoding of the explaining values (empty when there are
            /// none): a receipt's failure detail.
            pub fn detail(&self) -> Vec<u8> {
                match self {
                    $(Failure::$name $({ $($field),* })? => {
                        parlend_ledger::encode_canonical(&($($($field,)*)?))
                    })*
                }
            }

            /// The failure a receipt records as `code` and `detail`; `None`
            /// for an unknown code or a detail that does not decode.
            pub fn decode(code: u16, detail: &[u8]) -> Option<Failure> {
                match code {
                    $($code => {
                        let ($($($field,)*)?) = borsh::from_slice::<($($($ty,)*)?)>(detail).ok()?;
                        Some(Failure::$name $({ $($field),* })?)
                    })*
                    _ => None,
                }
            }
        }
    };
}

/// The stable name of the reason with this code.
pub fn reason_name(code: u16) -> Option<&'static str> {
    Failure::REASONS.iter().find(|(known, _)| *known == code).map(|(_, name)| *name)
}

/// Whether `name` is a reason's stable name.
pub fn is_reason_name(name: &str) -> bool {
    Failure::REASONS.iter().any(|(_, known)| *known == name)
}

failures! {
    /// The signer may not perform this instruction (admin, oracle or minter only).
    Unauthorized = 1,
    /// The asset is not registered.
    UnknownAsset = 2,
    /// The amount is zero.
    ZeroAmount = 3,
    /// The wallet holds less than the amount.
    InsufficientBalance {
        /// The asset.
        asset: AssetId,
        /// The amount asked for, base units.
        amount: Amount,
    } = 4,
    /// An amount or value overflowed.
    MathOverflow = 5,
    /// The instruction's parameters are out of range.
    InvalidParameters = 6,
    /// The transaction used state outside its access set (the receipt says
    /// `AccessViolation`; the code is only seen inside the contracts).
    AccessViolation = 7,
    /// Stored state does not decode (never the user's fault).
    CorruptState = 8,
    /// The amount is too small to mint or burn a single scaled unit (it
    /// would be a gift to the protocol or a free claim).
    AmountTooSmall = 9,
    /// The asset already has a market.
    MarketExists = 10,
    /// The asset has no market.
    UnknownMarket = 11,
    /// The market is paused: nothing moves.
    MarketPaused = 12,
    /// The market is frozen: no new deposits or borrows.
    MarketFrozen = 13,
    /// Deposits would exceed the market's supply cap.
    SupplyCapExceeded {
        /// The cap, base units.
        cap: Amount,
        /// The deposit, base units.
        amount: Amount,
    } = 14,
    /// Debt would exceed the market's borrow cap.
    BorrowCapExceeded {
        /// The cap, base units.
        cap: Amount,
        /// The borrow, base units.
        amount: Amount,
    } = 15,
    /// Borrowing is disabled on the market.
    BorrowingDisabled = 16,
    /// The market's cash is less than the amount.
    InsufficientLiquidity {
        /// The asset.
        asset: AssetId,
        /// The amount asked for, base units.
        amount: Amount,
    } = 17,
    /// The deployment already has the largest number of markets.
    TooManyMarkets = 18,
    /// An asset with suppliers cannot become an isolated collateral (Aave
    /// checks the same when a debt ceiling is first set).
    MarketHasSuppliers = 19,
    /// A price must be positive and its timestamp not after the block's.
    InvalidPrice = 20,
    /// The asset has no price.
    PriceMissing {
        /// The asset.
        asset: AssetId,
    } = 21,
    /// The price is older than the market's staleness limit.
    PriceStale {
        /// The asset.
        asset: AssetId,
        /// Seconds since the price was observed.
        age: u64,
        /// The market's limit, seconds.
        limit: u64,
    } = 22,
    /// A price update older than the current one.
    PriceOutdated = 23,
    /// The user has no deposit of the asset.
    NoDeposit = 30,
    /// The user has no debt in the asset.
    NoDebt = 31,
    /// Collateral value times LTV would not cover the debt.
    InsufficientCollateral {
        /// The borrowing power (collateral value × LTV), USD.
        available: Wad,
        /// The debt value it had to cover, USD.
        needed: Wad,
    } = 32,
    /// The health factor would fall below 1.
    HealthFactorTooLow {
        /// The health factor it would have.
        health_factor: Wad,
    } = 33,
    /// The asset cannot be used as collateral (LTV or threshold zero).
    NotCollateral = 34,
    /// The position already holds the largest number of assets.
    PositionFull = 35,
    /// The position is healthy (HF >= 1): it cannot be liquidated.
    HealthyPosition = 40,
    /// A liquidator may not liquidate itself.
    SelfLiquidation = 41,
    /// The borrower has no collateral of the asset enabled.
    NoCollateral = 42,
    /// A position would be left with dust below the minimum.
    DustPosition = 43,
    /// A flash loan was not repaid with its fee by the end of the transaction.
    FlashLoanNotRepaid = 50,
    /// A flash repay without a matching flash borrow.
    NoFlashLoan = 51,
    /// A second flash loan of one asset before the first is repaid.
    FlashLoanActive = 52,
    /// Flash loans are disabled on the market.
    FlashLoanDisabled = 53,
    /// A position in isolation mode may borrow only assets borrowable in isolation.
    NotBorrowableInIsolation = 60,
    /// The borrow would take the isolated collateral's debt past its ceiling.
    DebtCeilingExceeded {
        /// The isolated collateral.
        collateral: AssetId,
        /// Its debt ceiling, USD cents.
        ceiling_cents: u64,
        /// The borrow's addition to the isolation debt, USD cents.
        amount_cents: u128,
    } = 61,
    /// An isolated collateral cannot be enabled beside other collateral, nor
    /// other collateral beside an isolated one.
    IsolatedCollateralConflict = 62,
    /// A position in e-mode may borrow only its category's assets, and may
    /// enter a category only if it owes nothing outside it.
    NotBorrowableInEMode = 63,
    /// The e-mode category does not exist.
    UnknownEModeCategory = 64,
    /// The deployment already has the largest number of e-mode categories.
    TooManyEModeCategories = 65,
    /// The market has no recorded deficit to cover.
    NoDeficit = 70,
    /// The market's treasury holds less than the deficit to cover.
    InsufficientTreasury = 71,
}

impl From<MathError> for Failure {
    fn from(_: MathError) -> Failure {
        Failure::MathOverflow
    }
}

impl From<ViewError> for Failure {
    /// Bounded operations are mapped by the caller, who knows what ran out
    /// (`InsufficientBalance`, `InsufficientLiquidity`, a cap); this is the
    /// fallback. Violations and faults are overridden by the executor anyway.
    fn from(error: ViewError) -> Failure {
        match error {
            ViewError::AccessViolation(_) => Failure::AccessViolation,
            ViewError::OutOfBounds { .. } | ViewError::EventOutOfBounds => Failure::MathOverflow,
            ViewError::Corrupt(_) | ViewError::Store(_) => Failure::CorruptState,
        }
    }
}

impl std::fmt::Display for Failure {
    /// The name, then the explaining values in base units (clients show
    /// them in human units: `parlend` does).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::InsufficientBalance { asset, amount } | Failure::InsufficientLiquidity { asset, amount } => {
                write!(f, "{} ({amount} {asset} base units asked)", self.name())
            }
            Failure::SupplyCapExceeded { cap, amount } | Failure::BorrowCapExceeded { cap, amount } => {
                write!(f, "{} (amount {amount}, cap {cap} base units)", self.name())
            }
            Failure::PriceMissing { asset } => write!(f, "PriceMissing ({asset})"),
            Failure::PriceStale { asset, age, limit } => {
                write!(f, "PriceStale ({asset} price is {age}s old, limit {limit}s)")
            }
            Failure::InsufficientCollateral { available, needed } => {
                write!(f, "InsufficientCollateral (borrowing power {available} wad-USD, debt {needed} wad-USD)")
            }
            Failure::HealthFactorTooLow { health_factor } => {
                write!(f, "HealthFactorTooLow (health factor {health_factor} wad)")
            }
            Failure::DebtCeilingExceeded { collateral, ceiling_cents, amount_cents } => {
                write!(
                    f,
                    "DebtCeilingExceeded ({collateral} ceiling {ceiling_cents} cents, borrow {amount_cents} cents)"
                )
            }
            _ => f.write_str(self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Failure> {
        let asset = AssetId::new("WETH").unwrap();
        vec![
            Failure::ZeroAmount,
            Failure::InsufficientBalance { asset, amount: Amount(7) },
            Failure::PriceStale { asset, age: 172_800, limit: 86_400 },
            Failure::InsufficientCollateral { available: Wad(5), needed: Wad(9) },
            Failure::DebtCeilingExceeded { collateral: asset, ceiling_cents: 10, amount_cents: 11 },
        ]
    }

    #[test]
    fn codes_are_unique_and_details_round_trip() {
        let mut codes: Vec<u16> = Failure::REASONS.iter().map(|(code, _)| *code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Failure::REASONS.len());
        for failure in examples() {
            assert_eq!(Failure::decode(failure.code(), &failure.detail()), Some(failure));
            assert_eq!(reason_name(failure.code()), Some(failure.name()));
        }
        assert_eq!(Failure::ZeroAmount.detail(), Vec::<u8>::new());
        assert_eq!(Failure::decode(0, &[]), None);
        // A detail that does not match the reason's values does not decode.
        assert_eq!(Failure::decode(22, &[1, 2]), None);
        assert_eq!(Failure::ZeroAmount.code(), 3);
        assert_eq!(Failure::InsufficientBalance { asset: AssetId::new("USDC").unwrap(), amount: Amount(1) }.code(), 4);
        assert!(is_reason_name("InsufficientBalance"));
    }

    #[test]
    fn details_fit_the_ledger_bound() {
        for failure in examples() {
            assert!(failure.detail().len() <= parlend_ledger::limits::FAILURE_DETAIL_BYTES_MAX);
        }
    }

    #[test]
    fn json_names_the_reason_and_its_values() {
        let json = serde_json::to_value(Failure::PriceStale { asset: AssetId::new("WETH").unwrap(), age: 5, limit: 3 })
            .unwrap();
        assert_eq!(json, serde_json::json!({"reason": "PriceStale", "asset": "WETH", "age": 5, "limit": 3}));
    }
}
