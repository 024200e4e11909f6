//! parlend validators: several nodes agree on every block through the
//! Malachite BFT engine (Tendermint).
//!
//! The engine (`arc-malachitebft-app-channel`) does the consensus: rounds,
//! votes, timeouts, its write-ahead log, the peer-to-peer network and value
//! sync for lagging nodes. This crate is parlend's side of it:
//!
//! - [`context`]: what a height, validator, value (a block's hash), proposal
//!   and vote are;
//! - [`signing`]: parlend's ed25519 keys sign votes over the same preimage
//!   that [`parlend_app::certificate`] checks, so every stored commit
//!   certificate verifies offline against the genesis validators;
//! - [`codec`]: borsh for every message on the wire and in the log;
//! - [`streams`]: a block cut into proposal parts and put back together;
//! - [`driver`](crate::start): the answers to the engine (propose, validate
//!   by re-executing, commit with the certificate, serve and take synced
//!   blocks);
//! - [`host::Host`]: what the driver needs from the node (`parlend-node`
//!   implements it).

pub mod codec;
pub mod context;
mod driver;
pub mod host;
pub mod proposals;
pub mod signing;
pub mod streams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, GossipSubConfig, NodeConfig, P2pConfig, PubSubProtocol, TransportProtocol,
    ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::types::Keypair as NetworkKeypair;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::{
    ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, RequestContext, Signer, SyncContext, WalContext,
    start_engine,
};
use parking_lot::Mutex;
use parlend_app::certificate::ValidatorSet as AppValidatorSet;
use parlend_ledger::Keypair;

use crate::codec::WireCodec;
use crate::context::{Ctx, ValidatorSet};
use crate::host::Host;
use crate::proposals::ProposalDir;
use crate::signing::{KeySigner, KeyVerifier};

/// How one validator runs.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// Its consensus key (also its network identity).
    pub key: Keypair,
    /// Where the engine's write-ahead log and saved proposals live.
    pub home: PathBuf,
    /// The peer-to-peer listen address (TCP).
    pub listen: SocketAddr,
    /// The other validators' peer-to-peer addresses.
    pub peers: Vec<SocketAddr>,
    /// The engine's round timeouts.
    pub timeouts: LinearTimeouts,
    /// The least time between blocks (empty blocks are produced at this
    /// pace when nothing waits).
    pub min_block_time: Duration,
}

/// Round timeouts for validators on one machine or a LAN: a proposal is
/// awaited 3 s in round 0, longer in later rounds.
pub fn default_timeouts() -> LinearTimeouts {
    LinearTimeouts {
        propose: Duration::from_secs(3),
        propose_delta: Duration::from_millis(500),
        prevote: Duration::from_secs(1),
        prevote_delta: Duration::from_millis(500),
        precommit: Duration::from_secs(1),
        precommit_delta: Duration::from_millis(500),
        rebroadcast: Duration::from_secs(5),
        max_timeout: Duration::from_secs(30),
    }
}

/// Where consensus is, for `/health` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsensusStatus {
    /// The height being decided.
    pub height: u64,
    /// Its current round.
    pub round: i64,
}

/// Why a validator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    /// The genesis names no validators.
    #[error("the genesis names no validators")]
    NoValidators,
    /// This node's key is not one of them.
    #[error("key {0} is not a validator of this chain")]
    NotAValidator(parlend_ledger::Address),
    /// The home directory cannot be used.
    #[error("cannot use {path}: {source}")]
    Home {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The engine failed to start.
    #[error("the consensus engine cannot start: {0}")]
    Engine(String),
}

/// The engine's settings, as its `NodeConfig` trait wants them.
#[derive(Debug, Clone)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// Most connections from one IP: validators on one machine all share
/// 127.0.0.1, and restarts leave stale connections for a while.
const CONNECTIONS_PER_IP_MAX: usize = 64;

fn engine_config(config: &ValidatorConfig) -> EngineConfig {
    let address =
        |socket: &SocketAddr| TransportProtocol::Tcp.multiaddr(&socket.ip().to_string(), usize::from(socket.port()));
    let consensus = ConsensusConfig {
        value_payload: ValuePayload::ProposalAndParts,
        queue_capacity: 100,
        p2p: P2pConfig {
            listen_addr: address(&config.listen),
            persistent_peers: config.peers.iter().map(address).collect(),
            protocol: PubSubProtocol::GossipSub(GossipSubConfig::default()),
            discovery: DiscoveryConfig { max_connections_per_ip: CONNECTIONS_PER_IP_MAX, ..Default::default() },
            ..Default::default()
        },
        ..Default::default()
    };
    let value_sync = ValueSyncConfig {
        status_update_interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    EngineConfig { moniker: format!("parlend-{}", config.key.address()), consensus, value_sync }
}

/// A running validator: the engine and the driver answering it.
pub struct RunningValidator {
    engine: EngineHandle,
    driver: tokio::task::JoinHandle<()>,
    status: Arc<Mutex<ConsensusStatus>>,
}

impl RunningValidator {
    /// Where consensus is.
    pub fn status(&self) -> ConsensusStatus {
        *self.status.lock()
    }

    /// A handle on the status, for the node to read at any time.
    pub fn status_handle(&self) -> Arc<Mutex<ConsensusStatus>> {
        self.status.clone()
    }

    /// Whether the engine or the driver has stopped (the node should exit).
    pub fn is_finished(&self) -> bool {
        self.engine.handle.is_finished() || self.driver.is_finished()
    }

    /// Stops the engine (network, log, consensus, sync) and the driver.
    pub async fn stop(self) {
        let reason = Some("shutdown".to_string());
        let wait = Some(Duration::from_secs(5));
        self.engine.actor.get_cell().stop_children_and_wait(reason.clone(), wait).await;
        let _ = self.engine.actor.stop_and_wait(reason, wait).await;
        self.driver.abort();
        self.engine.handle.abort();
    }
}

/// The engine's metrics (every validator started in this process, labelled
/// by moniker), in the OpenMetrics text format.
pub fn engine_metrics() -> String {
    let mut text = String::new();
    malachitebft_app_channel::app::metrics::export(&mut text);
    text
}

/// Starts the engine for `host` (the node) as one of `validators`.
pub async fn start(
    host: Arc<dyn Host>,
    validators: &AppValidatorSet,
    config: ValidatorConfig,
) -> Result<RunningValidator, ValidatorError> {
    if validators.is_empty() {
        return Err(ValidatorError::NoValidators);
    }
    let address = config.key.address();
    if validators.get(&address).is_none() {
        return Err(ValidatorError::NotAValidator(address));
    }
    let home = |source| ValidatorError::Home { path: config.home.clone(), source };
    let proposals = ProposalDir::open(&config.home.join("proposals")).map_err(home)?;
    let engine_error = |error: &dyn std::fmt::Display| ValidatorError::Engine(error.to_string());
    let signer = KeySigner::new(config.key.clone());
    let network_key = NetworkKeypair::ed25519_from_bytes(config.key.seed()).map_err(|e| engine_error(&e))?;
    let peer_id = network_key.public().to_peer_id();
    let proof =
        signer.sign_validator_proof(address.0.to_vec(), peer_id.to_bytes()).await.map_err(|e| engine_error(&e))?;
    let proof_bytes = WireCodec.encode(&proof).map_err(|e| engine_error(&e))?;
    let engine_config = engine_config(&config);
    let identity = NetworkIdentity::new_validator(
        engine_config.moniker.clone(),
        network_key,
        signer.address().to_string(),
        proof_bytes,
    );
    let (channels, engine) = start_engine(
        Ctx,
        engine_config,
        WalContext::new(config.home.join("wal").join("consensus.wal"), WireCodec),
        NetworkContext::new(identity, WireCodec),
        ConsensusContext::new_validator(signer.address(), Box::new(KeyVerifier), Box::new(signer.clone())),
        SyncContext::new(WireCodec),
        RequestContext::new(100),
    )
    .await
    .map_err(|e| engine_error(&e))?;
    let status = Arc::new(Mutex::new(ConsensusStatus::default()));
    let validators = ValidatorSet::from_app(validators);
    let driver = driver::Driver::new(
        host,
        signer,
        validators,
        config.timeouts,
        config.min_block_time,
        proposals,
        status.clone(),
    );
    let driver = tokio::spawn(driver.run(channels));
    Ok(RunningValidator { engine, driver, status })
}
