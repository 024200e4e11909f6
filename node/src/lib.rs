//! The parlend node: the running node (mempool, block producer, metrics,
//! configuration) and the `parlend` command line.
//!
//! The application's phases live in `parlend-app`, the log and replay in
//! `parlend-log`, scenarios, workloads and the executor benchmark in
//! `parlend-sim`; this crate wires them to a store and the RPC.
//!
//! # Good starting points
//!
//! - [`node::Node`]: the running node (producer thread, mempool, RPC face).
//! - [`mempool::Mempool`]: bounded, nonce-ordered pending transactions.
//! - [`risk::RiskIndex`]: the liquidatable index, kept up to date per block.
//! - [`feed`]: what the node publishes per block for the subscriptions.
//! - [`cli`]: the `parlend` command line.

pub mod admitting;
pub mod bench_rpc;
pub mod cli;
pub mod config;
pub mod events;
pub mod feed;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod producer;
mod proving;
pub mod relay;
pub mod risk;
pub mod validator;
