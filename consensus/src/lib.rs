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
//!   implements it);
//! - [`metrics`]: failed rounds, nil votes, proposal and sync sizes, peers;
//! - `watch`: the connected peers (the engine's network state) and this
//!   node's nil votes (the engine's events), for `/health` and metrics.

pub mod codec;
pub mod context;
mod driver;
pub mod host;
pub mod metrics;
pub mod proposals;
pub mod signing;
pub mod streams;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, GossipSubConfig, NodeConfig, P2pConfig, PubSubMaxSizePerTopic, PubSubProtocol,
    TransportProtocol, ValuePayload, ValueSyncConfig,
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
use parlend_ledger::limits::{TRANSACTION_BYTES_MAX, TRANSACTIONS_PER_BLOCK_MAX};
use parlend_ledger::{Address, Keypair};

use crate::codec::WireCodec;
use crate::context::{Ctx, ValidatorSet};
use crate::host::Host;
use crate::metrics::ConsensusMetrics;
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsensusStatus {
    /// The height being decided.
    pub height: u64,
    /// Its current round.
    pub round: i64,
    /// The consensus peers connected to this node (the engine's network
    /// state, read every second), by peer id.
    pub peers: Vec<ConsensusPeer>,
}

/// A connected consensus peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConsensusPeer {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its consensus key: the one its signed proof names (validators sign
    /// their peer id when they connect), or else the ed25519 key its peer
    /// id carries (see `watch.rs`).
    pub validator: Option<Address>,
}

/// Largest canonical encoding of a block: every transaction at its
/// largest, plus the header and lengths (generously: a header is a few
/// hundred bytes).
pub const BLOCK_BYTES_MAX: usize = TRANSACTIONS_PER_BLOCK_MAX * TRANSACTION_BYTES_MAX + 64 * 1024;

/// Largest encoded proposal-part message (the engine's gossip limit for the
/// `proposal_parts` topic, enforced when publishing and receiving): a data
/// part of [`streams::PART_BYTES`] and its stream header fit with room.
pub const PART_MESSAGE_BYTES_MAX: u64 = 256 * 1024;

/// Largest value-sync response, and request-response message on the
/// network: one decided block of [`BLOCK_BYTES_MAX`] with its certificate
/// fits (the engine sends no value that does not, so a lagging validator
/// could never get past a larger block).
pub const SYNC_RESPONSE_BYTES_MAX: u64 = 48 * 1024 * 1024;

const _: () = {
    assert!(BLOCK_BYTES_MAX as u64 + 1024 * 1024 <= SYNC_RESPONSE_BYTES_MAX);
    assert!(streams::PART_BYTES as u64 + 1024 <= PART_MESSAGE_BYTES_MAX);
    assert!(BLOCK_BYTES_MAX as u64 <= streams::PARTS_MAX * streams::PART_BYTES as u64);
};

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
            pubsub_max_size_per_topic: PubSubMaxSizePerTopic {
                proposal_parts: Some(ByteSize::b(PART_MESSAGE_BYTES_MAX)),
                ..Default::default()
            },
            rpc_max_size: ByteSize::b(SYNC_RESPONSE_BYTES_MAX),
            discovery: DiscoveryConfig { max_connections_per_ip: CONNECTIONS_PER_IP_MAX, ..Default::default() },
            ..Default::default()
        },
        ..Default::default()
    };
    let value_sync = ValueSyncConfig {
        status_update_interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        max_response_size: ByteSize::b(SYNC_RESPONSE_BYTES_MAX),
        ..Default::default()
    };
    EngineConfig { moniker: format!("parlend-{}", config.key.address()), consensus, value_sync }
}

/// A running validator: the engine and the driver answering it.
pub struct RunningValidator {
    engine: EngineHandle,
    driver: tokio::task::JoinHandle<()>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
    status: Arc<Mutex<ConsensusStatus>>,
    metrics: ConsensusMetrics,
}

impl RunningValidator {
    /// Where consensus is.
    pub fn status(&self) -> ConsensusStatus {
        self.status.lock().clone()
    }

    /// Its metrics, for the node to register.
    pub fn metrics(&self) -> &ConsensusMetrics {
        &self.metrics
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
        self.watchers.iter().for_each(tokio::task::JoinHandle::abort);
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
    let metrics = ConsensusMetrics::new();
    let watchers = vec![
        tokio::spawn(watch::peers(channels.net_requests.clone(), status.clone(), metrics.clone())),
        tokio::spawn(watch::votes(channels.events.subscribe(), metrics.clone())),
    ];
    let validators = ValidatorSet::from_app(validators);
    let driver = driver::Driver::new(
        host,
        signer,
        validators,
        driver::Settings { timeouts: config.timeouts, min_block_time: config.min_block_time },
        proposals,
        status.clone(),
        metrics.clone(),
    );
    let driver = tokio::spawn(driver.run(channels));
    Ok(RunningValidator { engine, driver, watchers, status, metrics })
}

#[cfg(test)]
mod tests {
    use malachitebft_app_channel::app::streaming::StreamMessage;
    use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
    use malachitebft_app_channel::app::types::core::{ExtendedCommitCertificate, ExtendedCommitSignature, Round};
    use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Response};
    use malachitebft_sync::ValueResponse;
    use parlend_app::App;
    use parlend_contracts::dev::{DEV_ACCOUNTS, dev_genesis, dev_keypair};
    use parlend_contracts::{Block, Instruction, VerifiedTransaction};
    use parlend_ledger::exec::{BlockContext, Plan, prepare_transaction};
    use parlend_ledger::{Amount, AssetId, Signature, TxStatus};
    use parlend_store::MemoryStore;

    use super::*;
    use crate::context::{BlockId, Height, ProposalPart, ValidatorAddress};
    use crate::signing::{KeySigner, VoteSignature};
    use crate::streams::tests::peer_of;
    use crate::streams::{PARTS_MAX, Position, Streams, split};

    /// A block of [`TRANSACTIONS_PER_BLOCK_MAX`] transfers signed by the
    /// dev accounts (each with its exact access set, from a simulation),
    /// executed by the application: every one succeeds.
    fn largest_block_of_transfers() -> Block {
        let app = App::open(Arc::new(MemoryStore::new()), &dev_genesis(), 2).unwrap();
        let head = app.info();
        let timestamp = head.header.timestamp + 1;
        let context = BlockContext { chain_id: app.chain_id(), height: head.height + 1, timestamp };
        let keys: Vec<Keypair> = (0..DEV_ACCOUNTS).map(dev_keypair).collect();
        let transfer = |index: usize, amount: u128| Instruction::Transfer {
            to: keys[(index + 1) % keys.len()].address(),
            asset: AssetId::from_static("USDC"),
            amount: Amount(amount),
        };
        let plans: Vec<Plan> = (0..keys.len())
            .map(|index| {
                let prepared =
                    prepare_transaction(app.vm(), &**app.store(), &context, &keys[index], 0, vec![transfer(index, 1)])
                        .unwrap();
                let transaction = prepared.transaction.transaction;
                Plan { chain_id: transaction.chain_id, nonce: 0, access: transaction.access }
            })
            .collect();
        let transactions: Vec<VerifiedTransaction> = (0..TRANSACTIONS_PER_BLOCK_MAX)
            .map(|number| {
                let index = number % keys.len();
                let plan = Plan { nonce: (number / keys.len()) as u64, ..plans[index].clone() };
                let amount = 1 + (number as u128 % 1_000_000);
                plan.sign(&keys[index], vec![transfer(index, amount)]).verify(context.chain_id).unwrap()
            })
            .collect();
        let finalized = app.finalize_block(app.prepare_proposal(transactions, timestamp)).unwrap();
        assert_eq!(finalized.block.transactions.len(), TRANSACTIONS_PER_BLOCK_MAX);
        assert!(finalized.receipts.iter().all(|receipt| receipt.status == TxStatus::Success));
        finalized.block
    }

    fn test_config() -> ValidatorConfig {
        ValidatorConfig {
            key: Keypair::from_seed(&[1; 32]),
            home: PathBuf::from("unused"),
            listen: "127.0.0.1:1".parse().unwrap(),
            peers: Vec::new(),
            timeouts: default_timeouts(),
            min_block_time: Duration::from_millis(100),
        }
    }

    /// Every message of `bytes`' stream, encoded as the network sends it,
    /// is within `limit`; a peer decoding them in reverse order assembles
    /// the same bytes.
    fn stream_within(signer: &KeySigner, bytes: &[u8], limit: u64) -> (Vec<u8>, usize) {
        let id = BlockId(parlend_ledger::Hash([7; 32]));
        let stream = split(signer, Height(1), Round::new(0), &id, bytes);
        assert!(stream.last().is_some_and(|last| last.sequence <= PARTS_MAX), "{} messages", stream.len());
        let peer = peer_of(&signer.address());
        let mut streams = Streams::default();
        let mut whole = None;
        let position = Position { height: Height(1), round: Round::new(0) };
        for message in stream.iter().rev() {
            let encoded = WireCodec.encode(message).unwrap();
            assert!(encoded.len() as u64 <= limit, "a {}-byte part message over the {limit}-byte limit", encoded.len());
            let decoded: StreamMessage<ProposalPart> = WireCodec.decode(encoded).unwrap();
            whole = whole.or(streams.add(peer, decoded, position, |_, _| signer.address()).unwrap());
        }
        (whole.expect("the stream completes").bytes, stream.len())
    }

    /// One decided value of `bytes` with a certificate of `signers`
    /// signatures, as a value-sync response: its encoded size.
    fn sync_response_bytes(bytes: Vec<u8>, signers: usize) -> u64 {
        let signatures = (0..signers)
            .map(|index| {
                let validator = ValidatorAddress(Address([u8::try_from(index % 256).unwrap(); 32]));
                ExtendedCommitSignature::new(validator, VoteSignature(Signature([1; 64])), None)
            })
            .collect();
        let certificate = ExtendedCommitCertificate {
            height: Height(1),
            round: Round::new(0),
            value_id: BlockId(parlend_ledger::Hash([7; 32])),
            commit_signatures: signatures,
        };
        let value = RawDecidedValue::new(bytes.into(), certificate);
        let response = Response::ValueResponse(ValueResponse::new(Height(1), vec![value]));
        WireCodec.encoded_len(&response).unwrap() as u64
    }

    #[test]
    fn a_block_of_20000_transactions_streams_and_syncs_within_the_engines_limits() {
        let started = std::time::Instant::now();
        let block = largest_block_of_transfers();
        let built = started.elapsed();
        let bytes = block.encode();
        // The limits are the ones the engine is started with.
        let config = engine_config(&test_config());
        let p2p = &config.consensus.p2p;
        let part_limit = p2p.pubsub_max_size_per_topic.proposal_parts.expect("a limit for proposal parts").as_u64();
        assert!(part_limit < p2p.pubsub_max_size.as_u64(), "the engine refuses a topic limit above the global one");
        let sync_limit = config.value_sync.max_response_size.as_u64().min(p2p.rpc_max_size.as_u64());

        let signer = KeySigner::new(Keypair::from_seed(&[1; 32]));
        let (assembled, messages) = stream_within(&signer, &bytes, part_limit);
        let decoded: Block = borsh::from_slice(&assembled).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(decoded.hash(), block.hash());
        let synced = sync_response_bytes(bytes.clone(), 100);
        assert!(synced <= sync_limit, "a {synced}-byte sync response over the {sync_limit}-byte limit");
        println!(
            "{} transactions: {} bytes, {messages} stream messages, sync response {synced} bytes (built in {built:?})",
            block.transactions.len(),
            bytes.len()
        );

        // A block of the largest transactions, as many as a block holds.
        let largest = vec![0xa5; BLOCK_BYTES_MAX];
        assert_eq!(stream_within(&signer, &largest, part_limit).0, largest);
        let synced = sync_response_bytes(largest, 100);
        assert!(synced <= sync_limit, "a {synced}-byte sync response over the {sync_limit}-byte limit");
    }
}
