//! Checking a step's expectations against the chain, and describing every
//! difference in words a reader can act on.

use parlend_contracts::Failure;
use parlend_contracts::failure::{is_reason_name, reason_name};
use parlend_contracts::limits::ISOLATION_DEBT_DECIMALS;
use parlend_contracts::query::{self, PositionSummary};
use parlend_contracts::state::{BALANCE_FIELD, balance_key};
use parlend_ledger::block::TxStatus;
use parlend_ledger::exec::AccountState;
use parlend_ledger::state::{StateReader, decode_fields};
use parlend_ledger::{StateKey, Wad};

use super::build::Names;
use super::format::{ExpectSpec, MarketExpect, PerAsset};
use super::units::{Expected, RAY_PERCENT_DECIMALS, WAD_DECIMALS, decimal, format_decimal, percent};

/// One expectation that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What was checked (`debt of bob in USDC`).
    pub what: String,
    /// What the scenario expects, as written.
    pub expected: String,
    /// What the chain has.
    pub actual: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: expected {}, got {}", self.what, self.expected, self.actual)
    }
}

/// A receipt's outcome in scenario words.
pub fn outcome_name(status: &TxStatus) -> String {
    match status {
        TxStatus::Success => "success".to_string(),
        TxStatus::AccessViolation { key } => format!("failure AccessViolation ({key})"),
        TxStatus::Failed { instruction, code, detail } => match Failure::decode(*code, detail) {
            Some(failure) => format!("failure {failure} (instruction {instruction})"),
            None => format!("failure {} (instruction {instruction})", reason_name(*code).unwrap_or("Unknown")),
        },
    }
}

/// Checks the outcome of a step's transaction against `expect.fail`.
pub fn check_outcome(expect: &ExpectSpec, status: &TxStatus) -> Option<Difference> {
    let matches = match (&expect.fail, status) {
        (None, TxStatus::Success) => true,
        (Some(reason), TxStatus::AccessViolation { .. }) => reason == "AccessViolation",
        (Some(reason), TxStatus::Failed { code, .. }) => reason_name(*code) == Some(reason.as_str()),
        _ => false,
    };
    let expected = match &expect.fail {
        None => "success".to_string(),
        Some(reason) => format!("failure {reason}"),
    };
    (!matches).then(|| Difference { what: "outcome".to_string(), expected, actual: outcome_name(status) })
}

/// Checks a failure name is one that exists, so a typo is not a silent mismatch.
pub fn validate_failure_name(name: &str) -> Result<(), String> {
    if name == "AccessViolation" || is_reason_name(name) {
        return Ok(());
    }
    let known: Vec<&str> = Failure::REASONS.iter().map(|(_, name)| *name).collect();
    Err(format!("unknown failure {name:?}; known: {}", known.join(", ")))
}

/// What the state checks read.
pub struct Checker<'a> {
    /// The committed state.
    pub state: &'a dyn StateReader,
    /// The time of the queries (interest accrues to it).
    pub now: u64,
    /// The scenario's names.
    pub names: &'a Names,
}

impl Checker<'_> {
    /// Every state expectation of `expect`; an `Err` is a mistake in the
    /// scenario (an unknown name, a malformed number), not a difference.
    pub fn check(&self, expect: &ExpectSpec) -> Result<Vec<Difference>, String> {
        let mut differences = Vec::new();
        self.per_asset(&expect.balance, "balance", &mut differences, &|owner, asset| {
            let value = self.state.get(&balance_key(owner, asset)).map_err(|error| error.to_string())?;
            let fields = decode_fields(value.as_deref()).map_err(|_| "corrupt balance".to_string())?;
            Ok(fields[BALANCE_FIELD])
        })?;
        self.per_asset(&expect.deposit, "deposit", &mut differences, &|owner, asset| {
            Ok(self
                .position(owner)?
                .assets
                .iter()
                .find(|entry| entry.asset == asset)
                .map_or(0, |entry| entry.deposit.0))
        })?;
        self.per_asset(&expect.debt, "debt", &mut differences, &|owner, asset| {
            Ok(self.position(owner)?.assets.iter().find(|entry| entry.asset == asset).map_or(0, |entry| entry.debt.0))
        })?;
        for (account, assets) in &expect.collateral {
            let position = self.position(self.names.address(account)?)?;
            for (symbol, expected) in assets {
                let (asset, _) = self.names.asset(symbol)?;
                let actual = position.assets.iter().find(|entry| entry.asset == asset).is_some_and(|e| e.collateral);
                if actual != *expected {
                    differences.push(Difference {
                        what: format!("collateral flag of {account} in {symbol}"),
                        expected: expected.to_string(),
                        actual: actual.to_string(),
                    });
                }
            }
        }
        self.health_values(expect, &mut differences)?;
        for (symbol, market) in &expect.market {
            self.market(symbol, market, &mut differences)?;
        }
        for (account, expected) in &expect.nonce {
            let key = StateKey::Account { owner: self.names.address(account)? };
            let value = self.state.get(&key).map_err(|error| error.to_string())?;
            let actual = AccountState::decode(value.as_deref()).map_or(0, |account| account.nonce);
            if actual != *expected {
                differences.push(Difference {
                    what: format!("nonce of {account}"),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        Ok(differences)
    }

    fn position(&self, owner: parlend_ledger::Address) -> Result<PositionSummary, String> {
        query::position_summary(self.state, owner, self.now).map_err(|error| error.to_string())
    }

    fn per_asset(
        &self,
        expected: &PerAsset<String>,
        what: &str,
        differences: &mut Vec<Difference>,
        actual: &dyn Fn(parlend_ledger::Address, parlend_ledger::AssetId) -> Result<u128, String>,
    ) -> Result<(), String> {
        for (account, assets) in expected {
            let owner = self.names.address(account)?;
            for (symbol, text) in assets {
                let (asset, decimals) = self.names.asset(symbol)?;
                let value = actual(owner, asset)?;
                let label = format!("{what} of {account} in {symbol}");
                compare(&label, text, value, decimals, differences)?;
            }
        }
        Ok(())
    }

    fn health_values(&self, expect: &ExpectSpec, differences: &mut Vec<Difference>) -> Result<(), String> {
        type Field = fn(&parlend_contracts::health::Health) -> Wad;
        let fields: [(&str, &std::collections::BTreeMap<String, String>, Field); 4] = [
            ("health factor", &expect.health, |health| health.health_factor),
            ("collateral value (USD)", &expect.collateral_value, |health| health.collateral_value),
            ("debt value (USD)", &expect.debt_value, |health| health.debt_value),
            ("borrowing power (USD)", &expect.borrowing_power, |health| health.borrowing_power),
        ];
        for (what, expected, field) in fields {
            for (account, text) in expected {
                let position = self.position(self.names.address(account)?)?;
                let label = format!("{what} of {account}");
                match position.health {
                    Some(health) => compare(&label, text, field(&health).0, WAD_DECIMALS, differences)?,
                    None => differences.push(Difference {
                        what: label,
                        expected: text.clone(),
                        actual: "unknown (a price is missing)".to_string(),
                    }),
                }
            }
        }
        for (account, expected) in &expect.emode {
            let actual = self.position(self.names.address(account)?)?.emode_category;
            if actual != *expected {
                differences.push(Difference {
                    what: format!("e-mode category of {account}"),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        for (account, expected) in &expect.isolated {
            let isolation = self.position(self.names.address(account)?)?.isolation;
            let actual = isolation.map_or_else(|| "none".to_string(), |isolation| isolation.collateral.to_string());
            if actual != *expected {
                differences.push(Difference {
                    what: format!("isolated collateral of {account}"),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        for (account, expected) in &expect.liquidatable {
            let report =
                query::health(self.state, self.names.address(account)?, self.now).map_err(|e| e.to_string())?;
            if report.is_liquidatable() != *expected {
                differences.push(Difference {
                    what: format!("liquidatable {account}"),
                    expected: expected.to_string(),
                    actual: report.is_liquidatable().to_string(),
                });
            }
        }
        Ok(())
    }

    fn market(&self, symbol: &str, expect: &MarketExpect, differences: &mut Vec<Difference>) -> Result<(), String> {
        let (asset, decimals) = self.names.asset(symbol)?;
        let summary = query::market_summary(self.state, asset, self.now).map_err(|error| error.to_string())?;
        let tokens = [
            ("total supply", &expect.total_supply, summary.total_supply.0),
            ("total debt", &expect.total_debt, summary.total_debt.0),
            ("cash", &expect.cash, summary.cash.0),
            ("treasury", &expect.treasury, summary.treasury.0),
            ("deficit", &expect.deficit, summary.deficit.0),
        ];
        for (what, text, value) in tokens {
            if let Some(text) = text {
                compare(&format!("{symbol} market {what}"), text, value, decimals, differences)?;
            }
        }
        let percentages = [
            ("utilization", &expect.utilization, summary.utilization.0),
            ("borrow APR", &expect.borrow_apr, summary.borrow_apr.0),
            ("supply APR", &expect.supply_apr, summary.supply_apr.0),
        ];
        for (what, text, value) in percentages {
            if let Some(text) = text {
                let label = format!("{symbol} market {what} (%)");
                compare_with(
                    &label,
                    text,
                    value,
                    RAY_PERCENT_DECIMALS,
                    &|part| Ok(percent(part, RAY_PERCENT_DECIMALS)?),
                    differences,
                )?;
            }
        }
        if let Some(text) = &expect.isolation_debt {
            let cents = u128::from(summary.isolation_debt_cents);
            compare(
                &format!("{symbol} market isolation debt (USD)"),
                text,
                cents,
                ISOLATION_DEBT_DECIMALS,
                differences,
            )?;
        }
        if let Some(text) = &expect.price {
            let price = summary.price.map_or(0, |view| view.price.0);
            compare(&format!("{symbol} price (USD)"), text, price, WAD_DECIMALS, differences)?;
        }
        let flags =
            [("paused", expect.paused, summary.params.paused), ("frozen", expect.frozen, summary.params.frozen)];
        for (what, expected, actual) in flags {
            if let Some(expected) = expected.filter(|expected| *expected != actual) {
                differences.push(Difference {
                    what: format!("{symbol} market {what}"),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Compares `value` (with `decimals`) against `text`: a number, a range,
/// or `infinite` (the largest value: a health factor without debt).
pub(crate) fn compare(
    label: &str,
    text: &str,
    value: u128,
    decimals: u8,
    out: &mut Vec<Difference>,
) -> Result<(), String> {
    compare_with(label, text, value, decimals, &|part| Ok(decimal(part, decimals)?), out)
}

fn compare_with(
    label: &str,
    text: &str,
    value: u128,
    decimals: u8,
    parse: &dyn Fn(&str) -> Result<u128, String>,
    out: &mut Vec<Difference>,
) -> Result<(), String> {
    let parse_or_infinite = |part: &str| if part.trim() == "infinite" { Ok(u128::MAX) } else { parse(part) };
    let expected = Expected::parse(text, &parse_or_infinite).map_err(|error| format!("{label}: {error}"))?;
    if expected.accepts(value) {
        return Ok(());
    }
    let shown = |value: u128| if value == u128::MAX { "infinite".to_string() } else { format_decimal(value, decimals) };
    let mut actual = shown(value);
    if let (Some(min), Some(max)) = (expected.min, expected.max)
        && min == max
        && min != u128::MAX
        && value != u128::MAX
    {
        let (sign, gap) = if value > min { ('+', value - min) } else { ('-', min - value) };
        actual.push_str(&format!(" (off by {sign}{})", format_decimal(gap, decimals)));
    }
    out.push(Difference { what: label.to_string(), expected: text.to_string(), actual });
    Ok(())
}
