//! The parlend transaction log: the committed chain as a file, and the proof
//! that it reproduces.
//!
//! A log is self-contained (genesis, then every block with the hash the node
//! committed); replaying it drives the application's phases for a block from
//! elsewhere (`process_proposal`, `finalize_block`) and checks every hash.
//!
//! # Good starting points
//!
//! - [`format`](mod@format): the file format (docs/log-format.md), a streaming reader and
//!   writer, [`format::export_store`].
//! - [`replay`]: [`replay::Replayer`], replay from a file or a store, import
//!   into a store, and the state-only store that keeps replay's memory
//!   bounded by the state.
//! - [`generate`]: a seeded lending workload written as a log (long replays).

pub mod format;
pub mod generate;
pub mod replay;
