//! `expect.events`: a step's receipt's events, in order, each its kind and
//! any of its fields in scenario units.
//!
//! Fields are named as in the event's JSON, in snake case
//! (`debt_repaid`). Amounts are whole tokens of the event's asset (`amount`,
//! `fee`), of the debt asset (`debt_repaid`) or of the collateral asset
//! (the liquidation's other amounts); scaled balances are integers;
//! accounts are scenario names; `deficit` is a table of whole tokens per
//! asset (`{}` for none). Each value is exact or a range, as elsewhere.

use std::collections::BTreeMap;

use parlend_contracts::Event;
use serde_json::Value;

use super::build::Names;
use super::expect::{Difference, compare};
use super::format::{EventExpect, FieldExpect};

/// Checks `expected` against a receipt's events (already typed); an `Err`
/// is a mistake in the scenario.
pub fn check_events(
    expected: &[EventExpect],
    events: &[parlend_ledger::Event],
    names: &Names,
    out: &mut Vec<Difference>,
) -> Result<(), String> {
    let typed: Vec<Event> = events
        .iter()
        .map(|record| {
            Event::from_record(record).ok_or_else(|| format!("event of kind {} does not decode", record.kind))
        })
        .collect::<Result<_, _>>()?;
    if typed.len() != expected.len() {
        let kinds: Vec<String> = typed.iter().map(kind_of).collect();
        out.push(Difference {
            what: "events".to_string(),
            expected: format!("{} events", expected.len()),
            actual: format!("{} ({})", typed.len(), kinds.join(", ")),
        });
        return Ok(());
    }
    for (index, (expect, event)) in expected.iter().zip(&typed).enumerate() {
        check_event(index, expect, event, names, out)?;
    }
    Ok(())
}

fn kind_of(event: &Event) -> String {
    serde_json::to_value(event).ok().and_then(|json| json["kind"].as_str().map(str::to_string)).unwrap_or_default()
}

fn check_event(
    index: usize,
    expect: &EventExpect,
    event: &Event,
    names: &Names,
    out: &mut Vec<Difference>,
) -> Result<(), String> {
    if Event::kind_of(&expect.kind).is_none() {
        let kinds: Vec<&str> = Event::KINDS.iter().map(|(_, name)| *name).collect();
        return Err(format!("unknown event kind {:?}; known: {}", expect.kind, kinds.join(", ")));
    }
    let actual_kind = kind_of(event);
    if actual_kind != expect.kind {
        out.push(Difference { what: format!("event {index}"), expected: expect.kind.clone(), actual: actual_kind });
        return Ok(());
    }
    let mut json = serde_json::to_value(event).map_err(|error| error.to_string())?;
    let fields = json.as_object_mut().ok_or("an event is not an object")?;
    let fields: BTreeMap<String, Value> = fields.iter().map(|(key, value)| (snake_case(key), value.clone())).collect();
    for (name, want) in &expect.fields {
        let label = format!("event {index} ({}) {name}", expect.kind);
        let value =
            fields.get(name).ok_or_else(|| format!("{label}: a {} event has no field {name:?}", expect.kind))?;
        check_field(&label, name, want, value, &fields, names, out)?;
    }
    Ok(())
}

fn check_field(
    label: &str,
    name: &str,
    want: &FieldExpect,
    value: &Value,
    fields: &BTreeMap<String, Value>,
    names: &Names,
    out: &mut Vec<Difference>,
) -> Result<(), String> {
    match (want, value) {
        (FieldExpect::Flag(expected), Value::Bool(actual)) => {
            if expected != actual {
                out.push(Difference {
                    what: label.to_string(),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
            Ok(())
        }
        (FieldExpect::PerAsset(expected), Value::Array(entries)) => {
            check_per_asset(label, expected, entries, names, out)
        }
        (FieldExpect::Text(text), Value::String(actual)) => {
            if let Some(asset_field) = amount_asset_field(name) {
                let symbol = fields
                    .get(asset_field)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{label}: no {asset_field}"))?;
                let (_, decimals) = names.asset(symbol)?;
                return compare(label, text, integer(label, actual)?, decimals, out);
            }
            if name.contains("scaled") {
                return compare(label, text, integer(label, actual)?, 0, out);
            }
            let expected = match actual.len() {
                64 => names.address(text)?.to_string(),
                _ => text.clone(),
            };
            if &expected != actual {
                out.push(Difference { what: label.to_string(), expected: text.clone(), actual: actual.clone() });
            }
            Ok(())
        }
        (FieldExpect::Text(text), Value::Number(actual)) => {
            let actual = actual.as_u64().ok_or_else(|| format!("{label}: not an integer"))?;
            compare(label, text, u128::from(actual), 0, out)
        }
        _ => Err(format!("{label}: the expectation does not fit the field ({value})")),
    }
}

/// The field naming the asset an amount field is in.
fn amount_asset_field(name: &str) -> Option<&'static str> {
    match name {
        "amount" | "fee" => Some("asset"),
        "debt_repaid" => Some("debt_asset"),
        "collateral_seized" | "bonus" | "protocol_fee" | "liquidator_collateral" => Some("collateral_asset"),
        _ => None,
    }
}

fn check_per_asset(
    label: &str,
    expected: &BTreeMap<String, String>,
    entries: &[Value],
    names: &Names,
    out: &mut Vec<Difference>,
) -> Result<(), String> {
    let mut actual = BTreeMap::new();
    for entry in entries {
        let symbol = entry["asset"].as_str().ok_or_else(|| format!("{label}: an entry has no asset"))?;
        let amount = entry["amount"].as_str().ok_or_else(|| format!("{label}: an entry has no amount"))?;
        actual.insert(symbol.to_string(), integer(label, amount)?);
    }
    if actual.keys().ne(expected.keys()) {
        let shown = |keys: Vec<&String>| keys.into_iter().cloned().collect::<Vec<_>>().join(", ");
        out.push(Difference {
            what: format!("{label} assets"),
            expected: format!("[{}]", shown(expected.keys().collect())),
            actual: format!("[{}]", shown(actual.keys().collect())),
        });
        return Ok(());
    }
    for (symbol, text) in expected {
        let (_, decimals) = names.asset(symbol)?;
        compare(&format!("{label} in {symbol}"), text, actual[symbol], decimals, out)?;
    }
    Ok(())
}

fn integer(label: &str, text: &str) -> Result<u128, String> {
    text.parse().map_err(|_| format!("{label}: {text:?} is not an integer"))
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for character in name.chars() {
        if character.is_ascii_uppercase() {
            out.push('_');
            out.push(character.to_ascii_lowercase());
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn json_names_become_scenario_names() {
        assert_eq!(snake_case("debtRepaid"), "debt_repaid");
        assert_eq!(snake_case("kind"), "kind");
    }
}
