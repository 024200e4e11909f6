//! Proposal streams: a block cut into parts for the network, and parts put
//! back together. The engine neither orders nor assembles parts; they may
//! arrive out of order, from several neighbours, for future heights.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_app_channel::app::types::core::Round;

use crate::context::{BlockId, Height, ProposalPart, ValidatorAddress};
use crate::signing::{KeySigner, VoteSignature, parts_preimage};

/// Bytes of a block per data part (well under the network's 4 MiB message
/// limit, small enough to interleave with votes).
pub const PART_BYTES: usize = 128 * 1024;

/// Most parts in one stream (a block is at most a few MiB): a peer cannot
/// make this node buffer without bound.
pub const PARTS_MAX: u64 = 1_024;

/// Most streams being assembled at once.
pub const STREAMS_MAX: usize = 256;

/// The messages of one proposal stream, in order.
pub type Stream = Vec<StreamMessage<ProposalPart>>;

/// A whole stream: a proposed block's bytes and who claims to propose it.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The height.
    pub height: Height,
    /// The round.
    pub round: Round,
    /// The claimed proposer (the signature is checked by the caller, once
    /// the block's id is known).
    pub proposer: ValidatorAddress,
    /// The block's canonical bytes.
    pub bytes: Vec<u8>,
    /// The proposer's signature over [`parts_preimage`].
    pub signature: VoteSignature,
    /// How many stream messages carried it.
    pub messages: usize,
}

/// The stream's id: height, round and proposer, so stale streams can be
/// dropped by height.
pub fn stream_id(height: Height, round: Round, proposer: &ValidatorAddress) -> StreamId {
    let mut bytes = Vec::with_capacity(8 + 8 + 32);
    bytes.extend_from_slice(&height.0.to_be_bytes());
    bytes.extend_from_slice(&round.as_i64().to_be_bytes());
    bytes.extend_from_slice(&proposer.0.0);
    StreamId::new(Bytes::from(bytes))
}

fn stream_height(id: &StreamId) -> Option<Height> {
    let bytes = id.to_bytes();
    let prefix: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(Height(u64::from_be_bytes(prefix)))
}

/// Cuts a block into its stream: `Init`, data parts, `Fin` with the
/// proposer's signature, then the stream's end.
pub fn split(signer: &KeySigner, height: Height, round: Round, id: &BlockId, bytes: &[u8]) -> Stream {
    let proposer = signer.address();
    let mut parts = vec![ProposalPart::Init { height, round, proposer }];
    parts.extend(bytes.chunks(PART_BYTES).map(|chunk| ProposalPart::Data(chunk.to_vec())));
    parts.push(ProposalPart::Fin { signature: signer.sign_bytes(&parts_preimage(height, round, id, &proposer)) });
    let stream = stream_id(height, round, &proposer);
    let mut messages: Vec<StreamMessage<ProposalPart>> = (0u64..)
        .zip(parts)
        .map(|(sequence, part)| StreamMessage::new(stream.clone(), sequence, StreamContent::Data(part)))
        .collect();
    let end = messages.len() as u64;
    messages.push(StreamMessage::new(stream, end, StreamContent::Fin));
    messages
}

#[derive(Default)]
struct Partial {
    messages: BTreeMap<u64, StreamMessage<ProposalPart>>,
    end: Option<u64>,
}

/// Streams being assembled, by (publisher, stream id).
#[derive(Default)]
pub struct Streams {
    partial: HashMap<(PeerId, StreamId), Partial>,
}

impl Streams {
    /// Adds a part; returns the stream once whole and well formed. Parts
    /// of heights below `current` are dropped.
    pub fn add(
        &mut self,
        publisher: PeerId,
        message: StreamMessage<ProposalPart>,
        current: Height,
    ) -> Option<Assembled> {
        let height = stream_height(&message.stream_id)?;
        if height < current || message.sequence > PARTS_MAX {
            return None;
        }
        let key = (publisher, message.stream_id.clone());
        if !self.partial.contains_key(&key) && self.partial.len() >= STREAMS_MAX {
            tracing::warn!(%height, "too many proposal streams in progress; a part is dropped");
            return None;
        }
        let partial = self.partial.entry(key.clone()).or_default();
        if message.is_fin() {
            partial.end = Some(message.sequence);
        }
        partial.messages.entry(message.sequence).or_insert(message);
        let whole = matches!(partial.end, Some(end) if partial.messages.len() as u64 == end + 1);
        if !whole {
            return None;
        }
        let partial = self.partial.remove(&key)?;
        let messages = partial.messages.len();
        let mut assembled =
            assemble(partial.messages.into_values().filter_map(|message| message.content.into_data()).collect())?;
        assembled.messages = messages;
        Some(assembled)
    }

    /// Forgets streams of heights up to `height`.
    pub fn prune(&mut self, height: Height) {
        self.partial.retain(|(_, id), _| stream_height(id).is_none_or(|at| at > height));
    }
}

/// `Init`, data parts, `Fin`, in that order, or nothing.
fn assemble(parts: Vec<ProposalPart>) -> Option<Assembled> {
    let mut parts = parts.into_iter();
    let Some(ProposalPart::Init { height, round, proposer }) = parts.next() else { return None };
    let mut bytes = Vec::new();
    for part in parts {
        match part {
            ProposalPart::Data(chunk) => bytes.extend_from_slice(&chunk),
            ProposalPart::Fin { signature } => {
                return Some(Assembled { height, round, proposer, bytes, signature, messages: 0 });
            }
            ProposalPart::Init { .. } => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use parlend_ledger::{Hash, Keypair};

    use super::*;

    #[test]
    fn a_stream_reassembles_in_any_order_and_stale_heights_are_dropped() {
        let signer = KeySigner::new(Keypair::from_seed(&[1; 32]));
        let bytes: Vec<u8> = (0..PART_BYTES * 2 + 17).map(|index| u8::try_from(index % 251).unwrap_or(0)).collect();
        let id = BlockId(Hash([5; 32]));
        let mut messages = split(&signer, Height(3), Round::new(1), &id, &bytes);
        assert_eq!(messages.len(), 6, "init, 3 data parts, fin, end");
        messages.reverse();
        let network_key = malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes([7; 32]).unwrap();
        let peer = PeerId::from_bytes(&network_key.public().to_peer_id().to_bytes()).unwrap();
        let mut streams = Streams::default();
        let mut whole = None;
        for message in messages.clone() {
            whole = streams.add(peer, message, Height(3));
        }
        let whole = whole.expect("the stream completes");
        assert_eq!((whole.height, whole.round, whole.proposer), (Height(3), Round::new(1), signer.address()));
        assert_eq!(whole.bytes, bytes);
        let preimage = parts_preimage(Height(3), Round::new(1), &id, &signer.address());
        assert_eq!(whole.signature, signer.sign_bytes(&preimage));
        assert!(messages.into_iter().all(|message| streams.add(peer, message, Height(4)).is_none()));
    }
}
