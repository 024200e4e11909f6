//! The node's configuration file (TOML), read by `parlend run --config FILE`.
//!
//! Every setting of `parlend run`'s flags has a key here, except `--reset`
//! (a file that wipes the chain at every start would be a trap) and
//! `--config` itself. Precedence: a flag, then its environment variable
//! (`PARLEND_*`), then the file, then the default. Unknown keys are errors,
//! so a misspelt setting never silently falls back to its default.
//!
//! ```toml
//! dev = true
//! data_dir = "/var/lib/parlend"
//! rpc_addr = "127.0.0.1:8545"
//! block_time_ms = 200
//! threads = 0
//! fsync = true
//! state_history = 1000      # or: archive = true
//! block_transactions_max = 5000
//! manual_mining = false
//! keep_stale_prices = false
//!
//! [mempool]
//! capacity = 50000
//! per_signer = 1000
//!
//! [rpc]
//! body_bytes_max = 1048576
//! response_bytes_max = 16777216
//! batch_calls_max = 100
//! connections_max = 1024
//! connections_per_ip_max = 512
//! requests_in_flight_max = 256
//! light_requests_in_flight_max = 64
//! body_reads_in_flight_max = 128
//! header_read_timeout_ms = 10000
//! body_read_timeout_ms = 10000
//! request_timeout_ms = 60000
//! wait_max_ms = 50000
//! websocket_connections_max = 128
//! subscriptions_per_connection_max = 16
//! subscriptions_max = 1024
//! subscriber_buffer = 256
//! feed_capacity = 64
//!
//! # Validator mode (`parlend testnet init` writes this section)
//! [validator]
//! key_file = "/path/validator.key.json"
//! home = "/path/consensus"
//! p2p_addr = "127.0.0.1:26000"
//! peers = ["127.0.0.1:26001", "127.0.0.1:26002"]
//! relay_rpc = ["127.0.0.1:26101", "127.0.0.1:26102"]
//! propose_timeout_ms = 3000
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The file's contents; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Dev mode.
    pub dev: Option<bool>,
    /// A genesis file (JSON) instead of the dev genesis.
    pub genesis: Option<PathBuf>,
    /// Where the chain is stored.
    pub data_dir: Option<PathBuf>,
    /// Keep the chain in memory only.
    pub in_memory: Option<bool>,
    /// RPC listen address.
    pub rpc_addr: Option<SocketAddr>,
    /// Milliseconds between blocks.
    pub block_time_ms: Option<u64>,
    /// Threads executing blocks.
    pub threads: Option<usize>,
    /// fsync every block.
    pub fsync: Option<bool>,
    /// How many heights' state trees to keep (proofs reach that far back).
    pub state_history: Option<u64>,
    /// Keep every height's state tree (an archive node).
    pub archive: Option<bool>,
    /// Most transactions per block.
    pub block_transactions_max: Option<usize>,
    /// Produce blocks only on `dev_mine`.
    pub manual_mining: Option<bool>,
    /// Whether a block being built executes its first part before the cut.
    pub execute_ahead: Option<crate::producer::ExecuteAhead>,
    /// How long a cut may wait for batches being admitted, milliseconds.
    pub cut_grace_ms: Option<u64>,
    /// Dev mode: leave stale oracle prices stale at start.
    pub keep_stale_prices: Option<bool>,
    /// Mempool bounds.
    #[serde(default)]
    pub mempool: MempoolSection,
    /// RPC limits.
    #[serde(default)]
    pub rpc: RpcSection,
    /// Validator mode.
    pub validator: Option<ValidatorSection>,
}

/// `[validator]`: run as one of the genesis's validators.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSection {
    /// The validator's key (a `parlend keygen` key file).
    pub key_file: PathBuf,
    /// Where the consensus engine keeps its write-ahead log and proposals.
    pub home: PathBuf,
    /// Peer-to-peer listen address.
    pub p2p_addr: SocketAddr,
    /// The other validators' peer-to-peer addresses.
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
    /// The other validators' RPC addresses (submitted transactions are
    /// relayed there).
    #[serde(default)]
    pub relay_rpc: Vec<SocketAddr>,
    /// How long round 0 waits for a proposal, milliseconds (default 3000).
    pub propose_timeout_ms: Option<u64>,
}

/// `[mempool]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Most pending transactions.
    pub capacity: Option<usize>,
    /// Most pending transactions per signer.
    pub per_signer: Option<usize>,
}

/// `[rpc]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// Largest request body, bytes.
    pub body_bytes_max: Option<u32>,
    /// Largest response body, bytes.
    pub response_bytes_max: Option<u32>,
    /// Most calls per batch.
    pub batch_calls_max: Option<u32>,
    /// Most open connections.
    pub connections_max: Option<u32>,
    /// Most open connections from one IP address.
    pub connections_per_ip_max: Option<u32>,
    /// Most request bodies being read at once.
    pub body_reads_in_flight_max: Option<u32>,
    /// Longest wait for a request's headers (and idle time), milliseconds.
    pub header_read_timeout_ms: Option<u64>,
    /// Longest time to receive a request's body, milliseconds.
    pub body_read_timeout_ms: Option<u64>,
    /// Most requests in flight before shedding.
    pub requests_in_flight_max: Option<u32>,
    /// Most light reads in flight before shedding.
    pub light_requests_in_flight_max: Option<u32>,
    /// Request timeout, milliseconds.
    pub request_timeout_ms: Option<u64>,
    /// Longest `wait` for a commit, milliseconds.
    pub wait_max_ms: Option<u64>,
    /// Most open WebSocket connections.
    pub websocket_connections_max: Option<u32>,
    /// Most subscriptions on one WebSocket connection.
    pub subscriptions_per_connection_max: Option<u32>,
    /// Most subscriptions on the server.
    pub subscriptions_max: Option<u32>,
    /// Messages waiting to be written on one WebSocket connection.
    pub subscriber_buffer: Option<u32>,
    /// Blocks a subscriber may fall behind before it is dropped.
    pub feed_capacity: Option<usize>,
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        FileConfig::parse(&text).with_context(|| format!("{} is not a valid parlend config", path.display()))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        Ok(toml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_and_unknown_keys_are_refused() {
        let example: String = include_str!("config.rs")
            .lines()
            .skip_while(|line| !line.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|line| !line.starts_with("//! ```"))
            .map(|line| format!("{}\n", line.trim_start_matches("//!").trim_start()))
            .collect();
        let config = FileConfig::parse(&example).unwrap();
        assert_eq!(config.dev, Some(true));
        assert_eq!(config.mempool.capacity, Some(50_000));
        assert_eq!(config.rpc.requests_in_flight_max, Some(256));
        assert_eq!(config.rpc.wait_max_ms, Some(50_000));
        assert_eq!(config.validator.unwrap().peers.len(), 2);
        assert!(FileConfig::parse("blok_time_ms = 5").is_err());
        assert!(FileConfig::parse("[rpc]\nbatch_max = 5").is_err());
        assert!(FileConfig::parse("block_time_ms = \"fast\"").is_err());
        assert_eq!(FileConfig::parse("").unwrap(), FileConfig::default());
    }
}
