//! Scenario files, TOML and JSON: parsing either fails with an error or
//! yields a scenario; the human units its steps and expectations hold
//! (amounts, percentages, durations, ranges) parse exactly or fail cleanly.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use parlend_sim::scenario::Scenario;
use parlend_sim::scenario::units::{Expected, bps, decimal, duration, percent};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Scenario::parse(text, None);
    let _ = Scenario::parse(text, Some(Path::new("fuzz.json")));
    let _ = Expected::parse(text, &|amount: &str| decimal(amount, 18));
    let _ = percent(text, 25);
    let _ = bps(text);
    let _ = duration(text);
});
