//! Every limit of the lending state machine, in one place.
//!
//! The ledger's own bounds (transaction size, access-set size, instruction
//! count) live in `parlend_ledger::limits`; the ones here follow from them
//! or from the arithmetic, and each says why it has the value it has.

use parlend_ledger::Ray;

/// Most markets a deployment may have.
///
/// The block prologue accrues interest on every market, so this bounds the
/// serial work done before every block.
pub const MARKETS_MAX: usize = 32;

/// Most distinct assets one position may hold (deposits and debts together).
///
/// A liquidation reads three keys per asset of the borrower's position
/// (config, index, price) and, when it burns bad debt, a totals key per debt
/// asset. Each declared key costs up to 42 bytes of the 2048-byte
/// transaction, so eight assets (about 38 keys, 1.6 KiB) is the most that
/// keeps every liquidation signable.
pub const POSITION_ASSETS_MAX: usize = 8;

/// Most decimals an asset may have: `10^30` base units must fit in `u128`
/// alongside a price, or values cannot be computed.
pub const DECIMALS_MAX: u8 = 30;

/// Highest borrow rate a rate curve may reach: 1000% a year (Aave v3.2's
/// `MAX_BORROW_RATE`). Keeps compounded interest far from overflow.
pub const BORROW_RATE_MAX: Ray = Ray(10 * Ray::SCALE);

/// Seconds in a (365-day) year: rates are per year, accrual is per second.
pub const SECONDS_PER_YEAR: u64 = 365 * 24 * 60 * 60;

/// Highest debt ceiling of an isolated collateral, USD cents: Aave's
/// `MAX_VALID_DEBT_CEILING` (a 40-bit field, $10,995,116,277.75). Keeps
/// every isolation debt total within `u64`.
pub const DEBT_CEILING_CENTS_MAX: u64 = (1 << 40) - 1;

/// Decimals of isolation debt and debt ceilings: cents (Aave's
/// `DEBT_CEILING_DECIMALS`).
pub const ISOLATION_DEBT_DECIMALS: u8 = 2;

/// Most e-mode categories a deployment may define. Categories live in the
/// global configuration, which every instruction reads, so this bounds
/// that read.
pub const EMODE_CATEGORIES_MAX: usize = 16;
