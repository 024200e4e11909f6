//! Human-readable numbers for the CLI: whole tokens, dollars, percentages,
//! and the parsing of the same from arguments. Integers only.

use parlend_ledger::{Amount, Ray, Wad};

/// A fixed-point decimal rounded half-up to `digits` fraction digits at
/// most, trailing zeros dropped (`"1.03755"` at 4: `"1.0376"`).
pub fn rounded(decimal: &str, digits: usize) -> String {
    let Some((whole, fraction)) = decimal.split_once('.') else { return decimal.to_string() };
    if fraction.len() <= digits {
        return trimmed(whole, fraction);
    }
    let up = fraction.as_bytes()[digits] >= b'5';
    let kept = format!("{whole}{}", &fraction[..digits]);
    let Ok(mut value) = kept.parse::<u128>() else { return decimal.to_string() };
    if up {
        value = value.saturating_add(1);
    }
    let text = format!("{value:0>width$}", width = digits + 1);
    let (whole, fraction) = text.split_at(text.len() - digits);
    trimmed(whole, fraction)
}

/// A fixed-point decimal cut (rounded down) to `digits` fraction digits:
/// for figures that must not round up (a health factor of 0.99996 is
/// liquidatable, and must not show as 1).
pub fn truncated(decimal: &str, digits: usize) -> String {
    match decimal.split_once('.') {
        Some((whole, fraction)) => trimmed(whole, &fraction[..fraction.len().min(digits)]),
        None => decimal.to_string(),
    }
}

fn trimmed(whole: &str, fraction: &str) -> String {
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() { whole.to_string() } else { format!("{whole}.{fraction}") }
}

/// Whole tokens of `amount` base units (all digits).
pub fn tokens(amount: Amount, decimals: u8) -> String {
    amount.to_decimal_string(decimals)
}

/// US dollars of a WAD value, to the cent, rounded half-up (`"$30000.00"`).
pub fn usd(value: Wad) -> String {
    let unit = Wad::SCALE / 100;
    let cents = value.0 / unit + u128::from(value.0 % unit >= unit / 2);
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// US dollars of a count of cents (debt ceilings: `"$1500.25"`).
pub fn cents(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// A health factor: 4 digits, rounded down (never up to 1), `∞` without debt.
pub fn health_factor(value: Wad) -> String {
    if value == Wad::MAX { "∞ (no debt)".to_string() } else { truncated(&value.to_decimal_string(), 4) }
}

/// A rate as a percentage, rounded half-up to two decimals (`"4.25%"`); a
/// rate that is not zero but below 0.005% keeps its first significant
/// digits (`"0.0042%"`) rather than reading as zero.
pub fn percent(rate: Ray) -> String {
    // Millionths of a percent.
    let unit = Ray::SCALE / 100_000_000;
    let micro = rate.0 / unit + u128::from(rate.0 % unit >= unit / 2);
    let text = format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000);
    if rate.0 > 0 && micro < 5_000 {
        let shown = rounded(&text, 6);
        return if shown == "0" { "<0.000001%".to_string() } else { format!("{shown}%") };
    }
    let hundredths = rounded(&text, 2);
    let (whole, fraction) = hundredths.split_once('.').unwrap_or((&hundredths, ""));
    format!("{whole}.{fraction:0<2}%")
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
        assert_eq!(truncated("0.99996", 4), "0.9999");
        assert_eq!(rounded("1.03755", 4), "1.0376");
        assert_eq!(rounded("1.03754", 4), "1.0375");
        assert_eq!(rounded("9.99995", 4), "10");
        assert_eq!(rounded("0.00004", 4), "0");
        assert_eq!(rounded("12", 4), "12");
        assert_eq!(usd(Wad(Wad::SCALE / 1000 * 5)), "$0.01", "half a cent rounds up");
        assert_eq!(usd(Wad(Wad::SCALE / 1000 * 4)), "$0.00");
        assert_eq!(percent(Ray(Ray::SCALE / 1_000_000 * 42)), "0.0042%", "small but not zero");
        assert_eq!(percent(Ray(Ray::SCALE / 10_000 * 4 + Ray::SCALE / 100_000 * 5)), "0.05%", "0.045% rounds up");
        assert_eq!(percent(Ray(0)), "0.00%");
        assert_eq!(percent(Ray(Ray::SCALE)), "100.00%");
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
