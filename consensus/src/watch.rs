//! What the engine knows that the driver is not told: the connected peers
//! (its network state, asked for every second) and this node's own votes
//! (its event stream), for `/health` and the metrics.

use std::sync::Arc;
use std::time::Duration;

use malachitebft_app_channel::NetworkRequest;
use malachitebft_app_channel::app::engine::util::events::{Event, RxEvent};
use malachitebft_app_channel::app::types::SignedConsensusMsg;
use malachitebft_app_channel::app::types::core::{NilOrVal, VoteType};
use parking_lot::Mutex;
use parlend_ledger::Address;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::context::Ctx;
use crate::metrics::ConsensusMetrics;
use crate::{ConsensusPeer, ConsensusStatus};

/// How often the peers are read.
const PEERS_EVERY: Duration = Duration::from_secs(1);

/// Keeps `status.peers` and the peers gauge up to date until the engine's
/// network stops answering.
pub(crate) async fn peers(
    requests: mpsc::Sender<NetworkRequest>,
    status: Arc<Mutex<ConsensusStatus>>,
    metrics: ConsensusMetrics,
) {
    let mut every = tokio::time::interval(PEERS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let dump = match NetworkRequest::dump_state(&requests).await {
            Ok(Some(dump)) => dump,
            // Not running yet, or busy: asked again next time.
            Ok(None) | Err(malachitebft_app_channel::ConsensusRequestError::Full) => continue,
            Err(_) => return,
        };
        let mut peers: Vec<ConsensusPeer> = dump
            .peers
            .iter()
            .map(|(peer_id, info)| ConsensusPeer {
                peer_id: peer_id.to_string(),
                validator: info.consensus_public_key.as_deref().and_then(validator_address),
            })
            .collect();
        peers.sort();
        metrics.peers(peers.len());
        status.lock().peers = peers;
    }
}

/// A validator's key as its proof carries it (the 32 key bytes).
fn validator_address(public_key: &[u8]) -> Option<Address> {
    Some(Address(public_key.try_into().ok()?))
}

/// Counts this node's nil votes until the engine stops.
pub(crate) async fn votes(mut events: RxEvent<Ctx>, metrics: ConsensusMetrics) {
    loop {
        match events.recv().await {
            Ok(Event::Published(SignedConsensusMsg::Vote(vote))) if vote.message.value == NilOrVal::Nil => {
                metrics.nil_vote(match vote.message.kind {
                    VoteType::Prevote => "prevote",
                    VoteType::Precommit => "precommit",
                });
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => tracing::debug!(missed, "consensus events missed by the vote counter"),
            Err(RecvError::Closed) => return,
        }
    }
}
