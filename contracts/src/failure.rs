//! Why an instruction fails: stable reason codes.
//!
//! A failed transaction is included with `TxStatus::Failed { instruction,
//! code }`. Codes are part of the protocol: they appear in receipts, block
//! hashes and client code, so a code is never reused or renumbered.

use parlend_ledger::exec::ViewError;
use parlend_ledger::primitives::MathError;

macro_rules! failures {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// The reason an instruction failed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Failure {
            $($(#[$doc])* $name = $code,)*
        }

        impl Failure {
            /// Every failure, in code order.
            pub const ALL: &'static [Failure] = &[$(Failure::$name,)*];

            /// The stable code.
            pub fn code(self) -> u16 {
                self as u16
            }

            /// The failure with this code.
            pub fn from_code(code: u16) -> Option<Failure> {
                match code {
                    $($code => Some(Failure::$name),)*
                    _ => None,
                }
            }

            /// The stable name (`InsufficientBalance`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Failure::$name => stringify!($name),)*
                }
            }
        }
    };
}

failures! {
    /// The signer may not perform this instruction (admin, oracle or minter only).
    Unauthorized = 1,
    /// The asset is not registered.
    UnknownAsset = 2,
    /// The amount is zero.
    ZeroAmount = 3,
    /// The wallet holds less than the amount.
    InsufficientBalance = 4,
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
    SupplyCapExceeded = 14,
    /// Debt would exceed the market's borrow cap.
    BorrowCapExceeded = 15,
    /// Borrowing is disabled on the market.
    BorrowingDisabled = 16,
    /// The market's cash is less than the amount.
    InsufficientLiquidity = 17,
    /// The deployment already has the largest number of markets.
    TooManyMarkets = 18,
    /// An asset with suppliers cannot become an isolated collateral (Aave
    /// checks the same when a debt ceiling is first set).
    MarketHasSuppliers = 19,
    /// A price must be positive and its timestamp not after the block's.
    InvalidPrice = 20,
    /// The asset has no price.
    PriceMissing = 21,
    /// The price is older than the market's staleness limit.
    PriceStale = 22,
    /// A price update older than the current one.
    PriceOutdated = 23,
    /// The user has no deposit of the asset.
    NoDeposit = 30,
    /// The user has no debt in the asset.
    NoDebt = 31,
    /// Collateral value times LTV would not cover the debt.
    InsufficientCollateral = 32,
    /// The health factor would fall below 1.
    HealthFactorTooLow = 33,
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
    DebtCeilingExceeded = 61,
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
            ViewError::OutOfBounds { .. } => Failure::MathOverflow,
            ViewError::Corrupt(_) | ViewError::Store(_) => Failure::CorruptState,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut codes: Vec<u16> = Failure::ALL.iter().map(|f| f.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Failure::ALL.len());
        for failure in Failure::ALL {
            assert_eq!(Failure::from_code(failure.code()), Some(*failure));
        }
        assert_eq!(Failure::from_code(0), None);
        assert_eq!(Failure::InsufficientBalance.code(), 4);
        assert_eq!(Failure::InsufficientBalance.name(), "InsufficientBalance");
    }
}
