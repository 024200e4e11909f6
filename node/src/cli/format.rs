//! Human-readable numbers for the CLI: whole tokens, dollars, percentages,
//! and the parsing of the same from arguments. Integers only.

use anyhow::{Context, bail};
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

/// A health factor: 4 digits, `∞` without debt.
pub fn health_factor(value: Wad) -> String {
    if value == Wad::MAX { "∞ (no debt)".to_string() } else { truncated(&value.to_decimal_string(), 4) }
}

/// A per-year rate as a percentage with two decimals (`"4.25%"`).
pub fn percent(rate: Ray) -> String {
    let hundredths = rate.0 / (Ray::SCALE / 10_000);
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

/// Parses a decimal (`"2500.5"`) into a number with `decimals` fraction digits.
pub fn parse_decimal(text: &str, decimals: u8) -> anyhow::Result<u128> {
    Amount::from_decimal_str(text, decimals)
        .map(|amount| amount.0)
        .with_context(|| format!("{text:?} is not a decimal number with at most {decimals} fraction digits"))
}

/// Parses a USD price (`"2500.5"`) into a WAD.
pub fn parse_usd(text: &str) -> anyhow::Result<Wad> {
    let text = text.strip_prefix('$').unwrap_or(text);
    let price = Wad(parse_decimal(text, 18)?);
    if price == Wad::ZERO {
        bail!("a price must be positive");
    }
    Ok(price)
}

/// Parses a fraction (`"0.04"` for 4%) into a RAY.
pub fn parse_rate(text: &str) -> anyhow::Result<Ray> {
    parse_decimal(text, 27).map(Ray)
}

/// Parses a duration in seconds, with an optional unit: `90`, `90s`, `15m`,
/// `12h`, `30d`, `1y` (365 days).
pub fn parse_duration_seconds(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => text.split_at(split),
        None => (text, "s"),
    };
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration (90, 15m, 12h, 30d, 1y)"))?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h, d or y")),
    };
    number.checked_mul(unit_seconds).ok_or_else(|| format!("{text:?} is too long"))
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
        assert_eq!(percent(Ray(Ray::SCALE / 25)), "4.00%");
        assert_eq!(percent(Ray(425 * (Ray::SCALE / 10_000))), "4.25%");
        assert_eq!(parse_usd("$2500.5").unwrap(), Wad(2_500_500_000_000_000_000_000));
        assert!(parse_usd("0").is_err());
        assert_eq!(parse_rate("0.04").unwrap(), Ray(Ray::SCALE / 25));
        assert_eq!(parse_duration_seconds("1y"), Ok(31_536_000));
        assert_eq!(parse_duration_seconds("90"), Ok(90));
        assert_eq!(parse_duration_seconds("2d"), Ok(172_800));
        assert!(parse_duration_seconds("1w").is_err());
        assert!(parse_duration_seconds("y").is_err());
    }
}
