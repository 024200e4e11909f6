//! Long replays: a generated lending log of many blocks replays with memory
//! bounded by the chain's state, not by the length of the log.
//!
//! This file holds one test per binary run on purpose: it samples the
//! process's resident memory, which other tests running beside it in the
//! same process would disturb.

use std::sync::Arc;

use parlend_log::format::LogReader;
use parlend_log::generate::{WorkloadConfig, generate};
use parlend_log::replay::{ReplayOptions, ReplaySummary, StateOnlyStore, replay_log};
use parlend_store::{MemoryStore, Store};

/// Resident memory of this process, bytes (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Replays `path` into `store`, sampling resident memory after every block.
pub fn replay_sampled(path: &std::path::Path, store: Arc<dyn Store>) -> (ReplaySummary, Vec<u64>) {
    let mut samples = Vec::new();
    let log = LogReader::open_file(path).unwrap();
    let options = ReplayOptions { threads: 2, halt_at_height: None };
    let summary = replay_log(log, store, &options, &mut |_| samples.extend(resident_bytes())).unwrap();
    (summary, samples)
}

/// Growth of resident memory from a fifth of the way through (the allocator
/// and the thread pool warmed up) to the peak.
fn growth(samples: &[u64]) -> u64 {
    let early = samples[samples.len() / 5];
    samples.iter().copied().max().unwrap_or(early).saturating_sub(early)
}

#[test]
fn a_long_lending_log_replays_in_memory_bounded_by_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lending.plog");
    let config = WorkloadConfig { transactions: 60_000, block_size: 500, accounts: 2_000, seed: 11, threads: 2 };
    let trailer = generate(&config, std::fs::File::create(&path).unwrap(), &mut |_| {}).unwrap();
    assert_eq!((trailer.blocks, trailer.transactions), (120, 60_000));

    let store = Arc::new(StateOnlyStore::new());
    let (summary, samples) = replay_sampled(&path, store.clone());
    assert_eq!(summary.head.hash, trailer.head_hash);
    assert_eq!(summary.transactions, 60_000);
    assert_eq!(summary.failed_transactions, 0, "the workload is made of transactions that succeed");
    println!(
        "replayed {} transactions in {:.2} s: {} transactions/s (debug build, 2 threads)",
        summary.transactions,
        summary.elapsed.as_secs_f64(),
        summary.transactions_per_second()
    );
    // What the replay keeps is the state: a bounded number of entries per
    // account (account, wallet balances, position) and per market.
    assert!(store.state_entries() <= 6 * (config.accounts + 1) + 64, "{} state entries", store.state_entries());
    if samples.is_empty() {
        return; // no /proc: the structural bound above is all we can check
    }
    let bounded = growth(&samples);
    // The control: a store that keeps every block, receipt and index (as a
    // serving node must) grows with the log, by ~50 MiB here (the log is long
    // enough that allocator noise cannot hide that growth), so the
    // bound below would catch a replay that held on to the log.
    let (_, kept) = replay_sampled(&path, Arc::new(MemoryStore::new()));
    let growing = growth(&kept);
    println!("resident memory growth: state-only store {} KiB, keeping store {} KiB", bounded >> 10, growing >> 10);
    assert!(bounded <= 12 << 20, "the replay grew by {} KiB over the log", bounded >> 10);
    assert!(growing >= 4 * bounded + (16 << 20), "the control grew by only {} KiB", growing >> 10);
}
