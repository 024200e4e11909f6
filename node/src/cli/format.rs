//! Human-readable numbers for the CLI: whole tokens, dollars, percentages,
//! and the parsing of the same from arguments. Integers only.

use parlend_ledger::{Amount, Ray, Wad};

/// A fixed-point number with `digits` fraction digits at most, truncated
/// (`"1.0375"`).
pub fn truncated(decimal: &str, digits: usize) -> String {
    match decimal.split_once('.') {
        Some((whole, fraction)) => {
            let fraction: String = fraction.chars().take(digits).collect();
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() { whole.to_string() } else { format!("{whole}.{fraction}") }
        }
        None => decimal.to_string(),
    }
}

/// Whole tokens of `amount` base units (all digits).
pub fn tokens(amount: Amount, decimals: u8) -> String {
    amount.to_decimal_string(decimals)
}

/// US dollars of a WAD value, to the cent (`"$30000.00"`).
pub fn usd(value: Wad) -> String {
    let cents = value.0 / (Wad::SCALE / 100);
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// US dollars of a count of cents (debt ceilings: `"$1500.25"`).
pub fn cents(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// A health factor: 4 digits, `∞` without debt.
pub fn health_factor(value: Wad) -> String {
    if value == Wad::MAX { "∞ (no debt)".to_string() } else { truncated(&value.to_decimal_string(), 4) }
}

/// A per-year rate as a percentage with two decimals (`"4.25%"`).
pub fn percent(rate: Ray) -> String {
    let hundredths = rate.0 / (Ray::SCALE / 10_000);
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

/// Seconds as a duration for people (`"2d 3h"`, `"90s"`).
pub fn duration(seconds: u64) -> String {
    let text = humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string();
    if text.is_empty() { "0s".to_string() } else { text }
}

/// Unix seconds as a UTC date next to the number
/// (`"2026-01-01T00:00:00Z (1767225600)"`).
pub fn timestamp(seconds: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    format!("{} ({seconds})", humantime::format_rfc3339_seconds(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(truncated("1.037512", 4), "1.0375");
        assert_eq!(truncated("1.00001", 4), "1");
        assert_eq!(usd(Wad(30_000 * Wad::SCALE + Wad::SCALE / 2)), "$30000.50");
        assert_eq!(health_factor(Wad::MAX), "∞ (no debt)");
        assert_eq!(cents(150_025), "$1500.25");
        assert_eq!(percent(Ray(Ray::SCALE / 25)), "4.00%");
        assert_eq!(percent(Ray(425 * (Ray::SCALE / 10_000))), "4.25%");
        assert_eq!(duration(172_800), "2days");
        assert_eq!(duration(0), "0s");
        assert_eq!(timestamp(1_767_225_600), "2026-01-01T00:00:00Z (1767225600)");
    }
}
