//! The parlend RPC: a JSON-RPC 2.0 server over HTTP, its types, and a typed client.
//!
//! # Good starting points
//!
//! - [`methods`]: the fixed method names.
//! - [`types`]: every method's params and result, as JSON.
//! - [`error`]: stable error codes.
//! - [`server`]: the axum router with jsonrpsee mounted on `POST /`, the
//!   WebSocket subscriptions and the dashboard on `GET /`.
//! - [`api::NodeApi`]: what the server needs from a node.
//! - [`subscriptions`]: the WebSocket subscriptions and their limits.
//! - [`client::Client`]: the typed client used by the CLI and tests;
//!   [`client::WsClient`] subscribes; its verified reads check a
//!   `proof: true` answer's proofs and figures with [`verified`].

pub mod api;
pub mod client;
mod dashboard;
pub mod envelope;
pub mod error;
pub mod methods;
pub mod server;
pub mod subscriptions;
mod transport;
pub mod types;
pub mod verified;

pub use api::NodeApi;
pub use client::{Client, ClientError};
pub use error::ApiError;
pub use server::{RunningServer, ServerLimits, serve};
