//! What the engine knows that the driver is not told: the connected peers
//! (its network state, asked for every second) and this node's own votes
//! (its event stream), for `/health` and the metrics.

use std::sync::Arc;
use std::time::Duration;

use libp2p_identity::{PeerId, PublicKey};
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

/// The multihash code of a peer id that holds its key inline.
const IDENTITY_MULTIHASH: u64 = 0;

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
                validator: info
                    .consensus_public_key
                    .as_deref()
                    .and_then(validator_address)
                    .or_else(|| peer_key(peer_id)),
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

/// The ed25519 key a peer id carries inline (an identity multihash of the
/// key's protobuf encoding), as an address. A parlend node's network key is
/// its validator key, and the transport authenticates the peer id on every
/// connection, so this names a validator whose signed proof was lost: the
/// engine (0.8.2) sends the proof once per session and does not retry a
/// failed send (a restarted validator in CI listed one peer without a
/// proof for 90 s).
pub(crate) fn peer_key(peer_id: &PeerId) -> Option<Address> {
    let multihash = peer_id.as_ref();
    if multihash.code() != IDENTITY_MULTIHASH {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?.try_into_ed25519().ok()?;
    Some(Address(key.to_bytes()))
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

#[cfg(test)]
mod tests {
    use libp2p_identity::{Keypair as NetworkKeypair, PeerId};
    use parlend_ledger::Keypair;

    use super::peer_key;

    #[test]
    fn a_peer_id_names_the_validator_whose_key_it_carries() {
        for seed in [[1u8; 32], [9; 32], [200; 32]] {
            let network = NetworkKeypair::ed25519_from_bytes(seed).unwrap();
            let peer_id = network.public().to_peer_id();
            assert_eq!(peer_key(&peer_id), Some(Keypair::from_seed(&seed).address()));
        }
    }

    #[test]
    fn a_peer_id_without_an_ed25519_key_names_no_one() {
        // 32 bytes inline that are not a key's encoding.
        let inline = PeerId::from_bytes(&[&[0, 32][..], &[7; 32]].concat()).unwrap();
        assert_eq!(peer_key(&inline), None);
        // A key too long to inline is hashed (SHA-256): no key to read.
        let hashed = PeerId::from_bytes(&[&[0x12, 32][..], &[5; 32]].concat()).unwrap();
        assert_eq!(peer_key(&hashed), None);
    }
}
