//! Scenario files, TOML and JSON: parsing either fails with an error or
//! yields a scenario; the human units its steps and expectations hold
//! (amounts, prices, percentages, durations, ranges) parse exactly or fail
//! cleanly.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use parlend_contracts::units::{amount_or_all, bps, decimal, duration, percent, price, usd_cents};
use parlend_sim::scenario::Scenario;
use parlend_sim::scenario::units::Expected;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Scenario::parse(text, None);
    let _ = Scenario::parse(text, Some(Path::new("fuzz.json")));
    let _ = Expected::parse(text, &|amount: &str| decimal(amount, 18).map_err(|error| error.to_string()));
    let _ = percent(text, 25);
    let _ = bps(text);
    let _ = duration(text);
    let _ = price(text);
    let _ = usd_cents(text);
    let _ = amount_or_all(text, 6);
});
