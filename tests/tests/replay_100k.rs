//! The 100,000-transaction lending replay (issue 6, acceptance 3). It takes
//! about a minute in a debug build, so it is run on request:
//!
//! ```sh
//! cargo test --workspace --test replay_100k -- --ignored --nocapture
//! ```
//!
//! or from the command line with a release build, which is where its
//! throughput means something:
//!
//! ```sh
//! parlend log generate --out lending.plog --transactions 100000
//! parlend replay lending.plog
//! ```
//!
//! The always-on `replay_long` test checks the same bound on 30,000.

use std::sync::Arc;

use parlend_log::format::LogReader;
use parlend_log::generate::{WorkloadConfig, generate};
use parlend_log::replay::{ReplayOptions, StateOnlyStore, replay_log};

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

#[test]
#[ignore = "a minute in a debug build; run with --ignored (see the module docs)"]
fn replay_of_100000_lending_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lending.plog");
    let config = WorkloadConfig::default();
    assert_eq!(config.transactions, 100_000);
    let trailer = generate(&config, std::fs::File::create(&path).unwrap(), &mut |_| {}).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let mut samples = Vec::new();
    let log = LogReader::open_file(&path).unwrap();
    let summary = replay_log(log, Arc::new(StateOnlyStore::new()), &ReplayOptions::default(), &mut |_| {
        samples.extend(resident_bytes())
    })
    .unwrap();
    assert_eq!((summary.transactions, summary.head.hash), (100_000, trailer.head_hash));
    println!(
        "100,000 transactions ({} blocks, log {} KiB) replayed in {:.2} s: {} transactions/s on {} threads",
        summary.blocks,
        size >> 10,
        summary.elapsed.as_secs_f64(),
        summary.transactions_per_second(),
        summary.threads
    );
    if let (Some(early), Some(peak)) = (samples.get(samples.len() / 10), samples.iter().max()) {
        println!("resident memory: {} MiB at 10%, peak {} MiB", early >> 20, peak >> 20);
        assert!(peak - early <= 16 << 20, "replay memory grew by {} KiB", (peak - early) >> 10);
    }
}
