//! The parlend ledger: primitives, transactions, blocks and their execution.
//!
//! Everything here is independent of what transactions *do*: the lending
//! state machine lives in `parlend-contracts` and plugs in through the
//! [`exec::Vm`] trait. This crate depends on nothing else of parlend.
//!
//! # Good starting points
//!
//! - [`tx`]: the transaction format, canonical encoding, signatures, and the
//!   line between *rejected* (never included) and *failed* (included, reverted).
//! - [`access`]: state keys and access sets, the input of the scheduler.
//! - [`exec`]: the [`exec::Vm`] interface, the per-transaction view that
//!   enforces access sets, and the serial reference executor.
//! - [`state`]: values, aggregates (delta-capable fields) and the state root.
//! - [`encoding`]: the one canonical encoding everything signed, hashed or
//!   stored goes through.
//!
//! Stores (in memory, RocksDB) live in `parlend-store`: nothing here does I/O.
//! - [`limits`]: every bound, in one place.
//!
//! # Invariants
//!
//! - No floats, no clock, no randomness in anything executed or hashed.
//! - Every type that is hashed or signed has exactly one encoding, and
//!   decoding rejects any other.
//! - Nothing here does I/O: state is read through [`state::StateReader`].

pub mod access;
pub mod block;
pub mod crypto;
pub mod encoding;
pub mod exec;
pub mod limits;
pub mod primitives;
pub mod state;
pub mod tx;

pub use access::{Access, AccessMode, AccessSet, StateKey};
pub use block::{Block, Event, Header, Receipt, TxStatus};
pub use crypto::{Keypair, Signature, SignatureError};
pub use encoding::{encode_canonical, encode_canonical_into, encode_canonical_sized};
pub use primitives::{Address, Amount, AssetId, Bps, Hash, MathError, Ray, Rounding, Wad};
pub use tx::{RejectReason, SignedTransaction, Transaction, VerifiedTransaction};
