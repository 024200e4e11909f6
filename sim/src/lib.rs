//! parlend simulated chains: human-written lending scenarios, pre-signed
//! workloads, and the executor benchmark harness.
//!
//! Everything here is deterministic: clocks, keys and random choices are
//! inputs (scenario text, seeds), so a scenario or workload produces the same
//! blocks, byte for byte, on every run.
//!
//! # Good starting points
//!
//! - [`scenario`]: scenario files (docs/scenarios.md) run on an application
//!   with an in-memory store and a scenario-controlled clock, with per-step
//!   expectations and golden logs.
//! - [`workload`]: pre-signed workloads (transfers, lending-mix, hot-market,
//!   liquidation-storm, serial-chain), built the way a client builds
//!   transactions.
//! - [`bench`](mod@bench): `parlend bench exec`, the serial baseline and the parallel
//!   executor on the same blocks.

pub mod bench;
pub mod scenario;
pub mod workload;
