//! The parlend node: CLI, configuration, genesis, mempool, block producer
//! and the wiring of ledger, contracts and RPC.
//!
//! # Good starting points
//!
//! - [`app::App`]: the core, as consensus-engine phases (check, prepare,
//!   process, finalize, commit, info).
//! - [`node::Node`]: the running node (producer thread, mempool, RPC face).
//! - [`mempool::Mempool`]: bounded, nonce-ordered pending transactions.
//! - [`genesis`]: the dev chain's deterministic keys and balances.
//! - [`log`]: the transaction log file (export, import, streaming reader).
//! - [`replay`]: re-execute a chain from genesis and check every block's hashes.
//! - [`scenario`]: human-written lending scenarios with per-step expectations.
//! - [`workload`]: pre-signed benchmark and property-test workloads.
//! - [`loggen`]: a generated lending workload written as a log (long replays).
//! - [`cli`]: the `parlend` command line.

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod genesis;
pub mod log;
pub mod loggen;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod replay;
pub mod scenario;
pub mod workload;
