//! Proposal streams: a block cut into parts for the network, and parts put
//! back together. The engine neither orders nor assembles parts; they may
//! arrive out of order, from several neighbours, for future heights.
//!
//! Parts come from any peer, so what they can make this node buffer is
//! bounded ([`Refused`] says why a part is dropped): only the stream of the
//! round's proposer, published by the proposer itself (a validator's peer
//! id carries its key, and gossip authenticates the publisher), for heights
//! and rounds a little ahead at most, no larger than a block, and within a
//! share per publisher that counts its streams in progress and its whole
//! streams waiting for their height.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// The height, round and proposer a stream id names (see [`stream_id`]).
fn stream_origin(id: &StreamId) -> Option<(Height, Round, ValidatorAddress)> {
    let bytes = id.to_bytes();
    let bytes: &[u8; 48] = bytes.as_ref().try_into().ok()?;
    let height = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let round = i64::from_be_bytes(bytes[8..16].try_into().ok()?);
    let proposer: [u8; 32] = bytes[16..].try_into().ok()?;
    Some((Height(height), Round::from(round), ValidatorAddress(parlend_ledger::Address(proposer))))
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

/// Heights above the one being decided whose streams are taken (a
/// validator further behind catches up through value sync).
pub const HEIGHTS_AHEAD: u64 = 4;

/// Rounds above this node's current one (at its height; above round 0 at
/// the heights ahead) whose streams are taken.
pub const ROUNDS_AHEAD: i64 = 16;

/// Most streams one publisher has in progress.
pub const STREAMS_PER_PUBLISHER: usize = 8;

/// Most bytes one stream holds: the largest block's, and its messages'
/// overhead (128 bytes each).
pub const STREAM_BYTES_MAX: usize = crate::BLOCK_BYTES_MAX + PARTS_BYTES_SLACK;

/// Most bytes one publisher's streams hold, in progress or whole and
/// waiting for their height: two of the largest.
pub const PUBLISHER_BYTES_MAX: usize = 2 * STREAM_BYTES_MAX;

/// Bytes counted for a stream message besides its data (the stream id, its
/// sequence and the map entry), so that empty parts are not free.
const MESSAGE_OVERHEAD: usize = 128;

/// Why a stream message was not taken. Nothing a peer sends makes this
/// node buffer more than [`PUBLISHER_BYTES_MAX`] for it, and only the
/// expected proposer of a height and round can make it buffer anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Its stream id is not a height, round and proposer (or not those its
    /// first part names), or its sequence is past [`PARTS_MAX`].
    #[error("a stream id or sequence that no proposal has")]
    Malformed,
    /// Its height is decided.
    #[error("a decided height")]
    Stale,
    /// Its height or round is too far ahead ([`HEIGHTS_AHEAD`],
    /// [`ROUNDS_AHEAD`]).
    #[error("a height or round too far ahead")]
    Ahead,
    /// Its publisher is not the proposer its stream names (a validator's
    /// peer id carries its key, and a proposer publishes its own stream).
    #[error("a publisher other than the stream's proposer")]
    Publisher,
    /// The proposer it names is not the one of its height and round.
    #[error("a stream of a validator that does not propose that round")]
    NotProposer,
    /// Its stream would be larger than a block can be.
    #[error("a stream larger than a block")]
    Oversized,
    /// Its publisher holds as many streams or bytes as it may.
    #[error("a publisher over its share of streams or bytes")]
    Crowded,
    /// A stream of its height and round was already whole: the first one
    /// counts (a second, or a restream, is not executed again).
    #[error("a height and round whose stream is already whole")]
    Repeated,
}

impl Refused {
    /// A stable name, for metrics.
    pub fn name(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::Stale => "stale",
            Refused::Ahead => "ahead",
            Refused::Publisher => "publisher",
            Refused::NotProposer => "not_proposer",
            Refused::Oversized => "oversized",
            Refused::Crowded => "crowded",
            Refused::Repeated => "repeated",
        }
    }

    /// Every reason, for metrics that start at 0.
    pub const ALL: [Refused; 8] = [
        Refused::Malformed,
        Refused::Stale,
        Refused::Ahead,
        Refused::Publisher,
        Refused::NotProposer,
        Refused::Oversized,
        Refused::Crowded,
        Refused::Repeated,
    ];
}

/// Where this node is: the height it decides and its round there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The height being decided.
    pub height: Height,
    /// The round of that height.
    pub round: Round,
}

#[derive(Default)]
struct Partial {
    messages: BTreeMap<u64, StreamMessage<ProposalPart>>,
    end: Option<u64>,
    bytes: usize,
}

/// What one publisher holds: streams in progress and bytes (with those of
/// its whole streams waiting for their height).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Share {
    streams: usize,
    bytes: usize,
}

/// Streams being assembled, by (publisher, stream id), and whole streams
/// of heights not started yet.
#[derive(Default)]
pub struct Streams {
    partial: HashMap<(PeerId, StreamId), Partial>,
    /// Whole streams by height and round (one each: only the round's
    /// proposer gets one in), with their publisher.
    waiting: BTreeMap<(Height, Round), (PeerId, Assembled)>,
    /// Heights and rounds whose stream was whole (given back or waiting).
    whole: BTreeSet<(Height, Round)>,
}

impl Streams {
    /// Adds a part published by `publisher` while this node is at
    /// `position`; `proposer` names the proposer of a height and round.
    /// Gives the stream once whole and well formed, if of the height being
    /// decided (a later height's waits for [`Streams::take`]).
    pub fn add(
        &mut self,
        publisher: PeerId,
        message: StreamMessage<ProposalPart>,
        position: Position,
        proposer: impl Fn(Height, Round) -> ValidatorAddress,
    ) -> Result<Option<Assembled>, Refused> {
        let (height, round, named) = stream_origin(&message.stream_id).ok_or(Refused::Malformed)?;
        admissible(position, height, round, message.sequence)?;
        if publisher_key(&publisher) != Some(named.0.0) {
            return Err(Refused::Publisher);
        }
        if proposer(height, round) != named {
            return Err(Refused::NotProposer);
        }
        if self.whole.contains(&(height, round)) {
            return Err(Refused::Repeated);
        }
        let key = (publisher, message.stream_id.clone());
        if self.partial.get(&key).is_some_and(|partial| partial.messages.contains_key(&message.sequence)) {
            // A copy of a part already here: nothing to add or count.
            return Ok(None);
        }
        let size = message_bytes(&message);
        let share = self.share(&publisher);
        let known = self.partial.contains_key(&key);
        if !known && (share.streams >= STREAMS_PER_PUBLISHER || self.partial.len() >= STREAMS_MAX) {
            return Err(Refused::Crowded);
        }
        if share.bytes + size > PUBLISHER_BYTES_MAX {
            return Err(Refused::Crowded);
        }
        if self.partial.get(&key).is_some_and(|partial| partial.bytes + size > STREAM_BYTES_MAX) {
            self.partial.remove(&key);
            return Err(Refused::Oversized);
        }
        let Some(whole) = self.insert(key, message, size) else { return Ok(None) };
        self.ready(publisher, whole, (height, round, named), position)
    }

    /// Puts `message` into its stream; the stream's messages once whole.
    fn insert(
        &mut self,
        key: (PeerId, StreamId),
        message: StreamMessage<ProposalPart>,
        size: usize,
    ) -> Option<BTreeMap<u64, StreamMessage<ProposalPart>>> {
        let partial = self.partial.entry(key.clone()).or_default();
        if message.is_fin() {
            partial.end = Some(message.sequence);
        }
        if let std::collections::btree_map::Entry::Vacant(entry) = partial.messages.entry(message.sequence) {
            entry.insert(message);
            partial.bytes += size;
        }
        let whole = matches!(partial.end, Some(end) if partial.messages.len() as u64 == end + 1);
        if !whole {
            return None;
        }
        self.partial.remove(&key).map(|partial| partial.messages)
    }

    /// A whole stream's messages (its id naming `origin`): assembled, and
    /// given back if of the height being decided, else kept for its height
    /// (one per height and round; counted in its publisher's bytes).
    fn ready(
        &mut self,
        publisher: PeerId,
        messages: BTreeMap<u64, StreamMessage<ProposalPart>>,
        origin: (Height, Round, ValidatorAddress),
        position: Position,
    ) -> Result<Option<Assembled>, Refused> {
        let count = messages.len();
        let parts = messages.into_values().filter_map(|message| message.content.into_data()).collect();
        let Some(mut assembled) = assemble(parts) else { return Ok(None) };
        if (assembled.height, assembled.round, assembled.proposer) != origin {
            return Err(Refused::Malformed);
        }
        assembled.messages = count;
        let slot = (assembled.height, assembled.round);
        if self.whole.contains(&slot) {
            return Err(Refused::Repeated);
        }
        if assembled.height <= position.height {
            self.whole.insert(slot);
            return Ok(Some(assembled));
        }
        if self.share(&publisher).bytes + waiting_bytes(&assembled) > PUBLISHER_BYTES_MAX {
            return Err(Refused::Crowded);
        }
        self.whole.insert(slot);
        self.waiting.insert(slot, (publisher, assembled));
        Ok(None)
    }

    /// What `publisher` holds now, counted from its streams.
    fn share(&self, publisher: &PeerId) -> Share {
        let mut share = Share::default();
        for partial in self.partial.iter().filter(|((from, _), _)| from == publisher).map(|(_, partial)| partial) {
            share.streams += 1;
            share.bytes += partial.bytes;
        }
        let waiting = self.waiting.values().filter(|(from, _)| from == publisher);
        share.bytes += waiting.map(|(_, assembled)| waiting_bytes(assembled)).sum::<usize>();
        share
    }

    /// The whole streams that waited for `height`, now being decided.
    pub fn take(&mut self, height: Height) -> Vec<Assembled> {
        let later = self.waiting.split_off(&(Height(height.0.saturating_add(1)), Round::Nil));
        let earlier = std::mem::replace(&mut self.waiting, later);
        earlier.into_iter().filter(|((at, _), _)| *at == height).map(|(_, (_, assembled))| assembled).collect()
    }

    /// Forgets streams of heights up to `height`.
    pub fn prune(&mut self, height: Height) {
        self.partial.retain(|(_, id), _| stream_origin(id).is_none_or(|(at, _, _)| at > height));
        drop(self.take(height));
        self.whole.retain(|(at, _)| *at > height);
    }

    /// Bytes held for `publisher` (streams in progress and waiting).
    pub fn held_by(&self, publisher: &PeerId) -> usize {
        self.share(publisher).bytes
    }
}

/// What a stream's messages are counted for beyond their data.
#[allow(clippy::cast_possible_truncation)] // 1,025 fits any usize.
const PARTS_BYTES_SLACK: usize = (PARTS_MAX as usize + 1) * MESSAGE_OVERHEAD;

/// Whether a message of `height`, `round` and `sequence` may be buffered
/// at `position`.
fn admissible(position: Position, height: Height, round: Round, sequence: u64) -> Result<(), Refused> {
    if sequence > PARTS_MAX || round.as_i64() < 0 {
        return Err(Refused::Malformed);
    }
    if height < position.height {
        return Err(Refused::Stale);
    }
    let rounds_from = if height == position.height { position.round.as_i64().max(0) } else { 0 };
    if height.0 > position.height.0.saturating_add(HEIGHTS_AHEAD) || round.as_i64() > rounds_from + ROUNDS_AHEAD {
        return Err(Refused::Ahead);
    }
    Ok(())
}

/// Bytes a whole stream waiting for its height is counted for.
fn waiting_bytes(assembled: &Assembled) -> usize {
    assembled.bytes.len() + MESSAGE_OVERHEAD
}

/// Bytes a message is counted for: its data and [`MESSAGE_OVERHEAD`].
fn message_bytes(message: &StreamMessage<ProposalPart>) -> usize {
    let data = match &message.content {
        StreamContent::Data(ProposalPart::Data(chunk)) => chunk.len(),
        _ => 0,
    };
    data + MESSAGE_OVERHEAD
}

/// The key a publisher's peer id carries.
fn publisher_key(publisher: &PeerId) -> Option<[u8; 32]> {
    let peer = libp2p_identity::PeerId::from_bytes(&publisher.to_bytes()).ok()?;
    crate::watch::peer_key(&peer).map(|address| address.0)
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
pub(crate) mod tests {
    use parlend_ledger::{Hash, Keypair};

    use super::*;

    /// The peer id of the validator with `address` (its network key is its
    /// validator key).
    pub(crate) fn peer_of(address: &ValidatorAddress) -> PeerId {
        let key = libp2p_identity::ed25519::PublicKey::try_from_bytes(&address.0.0).unwrap();
        let peer = libp2p_identity::PublicKey::from(key).to_peer_id();
        PeerId::from_bytes(&peer.to_bytes()).unwrap()
    }

    fn signer(seed: u8) -> KeySigner {
        KeySigner::new(Keypair::from_seed(&[seed; 32]))
    }

    fn at(height: u64, round: u32) -> Position {
        Position { height: Height(height), round: Round::new(round) }
    }

    /// A stream of `bytes` by `signer` at (`height`, `round`).
    fn stream(signer: &KeySigner, height: u64, round: u32, bytes: &[u8]) -> Stream {
        split(signer, Height(height), Round::new(round), &BlockId(Hash([5; 32])), bytes)
    }

    /// Adds `messages` from `signer`'s peer with `signer` proposing every
    /// round: the last answer.
    fn add_all(
        streams: &mut Streams,
        signer: &KeySigner,
        messages: Stream,
        position: Position,
    ) -> Result<Option<Assembled>, Refused> {
        let peer = peer_of(&signer.address());
        let mut last = None;
        for message in messages {
            last = streams.add(peer, message, position, |_, _| signer.address())?;
        }
        Ok(last)
    }

    #[test]
    fn a_stream_reassembles_in_any_order_and_stale_heights_are_dropped() {
        let signer = signer(1);
        let bytes: Vec<u8> = (0..PART_BYTES * 2 + 17).map(|index| u8::try_from(index % 251).unwrap_or(0)).collect();
        let id = BlockId(Hash([5; 32]));
        let mut messages = split(&signer, Height(3), Round::new(1), &id, &bytes);
        assert_eq!(messages.len(), 6, "init, 3 data parts, fin, end");
        messages.reverse();
        let mut streams = Streams::default();
        // A copy of a part adds nothing.
        let peer = peer_of(&signer.address());
        streams.add(peer, messages[2].clone(), at(3, 0), |_, _| signer.address()).unwrap();
        let held = streams.held_by(&peer);
        streams.add(peer, messages[2].clone(), at(3, 0), |_, _| signer.address()).unwrap();
        assert_eq!(streams.held_by(&peer), held);
        let whole = add_all(&mut streams, &signer, messages.clone(), at(3, 0)).unwrap();
        let whole = whole.expect("the stream completes");
        assert_eq!((whole.height, whole.round, whole.proposer), (Height(3), Round::new(1), signer.address()));
        assert_eq!(whole.bytes, bytes);
        let preimage = parts_preimage(Height(3), Round::new(1), &id, &signer.address());
        assert_eq!(whole.signature, signer.sign_bytes(&preimage));
        assert_eq!(streams.held_by(&peer_of(&signer.address())), 0, "nothing is held once it is whole");
        let peer = peer_of(&signer.address());
        for message in messages {
            assert_eq!(streams.add(peer, message, at(4, 0), |_, _| signer.address()).err(), Some(Refused::Stale));
        }
    }

    #[test]
    fn only_the_rounds_proposer_publishing_its_own_stream_is_buffered() {
        let (proposer, other) = (signer(1), signer(2));
        let messages = stream(&proposer, 3, 0, b"block");
        let mut streams = Streams::default();
        // Relayed under another publisher's name.
        let first = messages[0].clone();
        let refused = streams.add(peer_of(&other.address()), first.clone(), at(3, 0), |_, _| proposer.address());
        assert_eq!(refused.err(), Some(Refused::Publisher));
        // A peer id that carries no key.
        let anonymous = PeerId::from_bytes(&[&[0, 32][..], &[7; 32]].concat()).unwrap();
        let refused = streams.add(anonymous, first.clone(), at(3, 0), |_, _| proposer.address());
        assert_eq!(refused.err(), Some(Refused::Publisher));
        // Its own stream, in a round another validator proposes.
        let refused = streams.add(peer_of(&proposer.address()), first, at(3, 0), |_, _| other.address());
        assert_eq!(refused.err(), Some(Refused::NotProposer));
        assert_eq!(streams.held_by(&peer_of(&proposer.address())), 0);
        assert!(add_all(&mut streams, &proposer, messages, at(3, 0)).unwrap().is_some());
    }

    #[test]
    fn streams_too_far_ahead_or_malformed_are_refused() {
        let signer = signer(1);
        let mut streams = Streams::default();
        let ahead = stream(&signer, 3 + HEIGHTS_AHEAD + 1, 0, b"block");
        assert_eq!(add_all(&mut streams, &signer, ahead, at(3, 0)).err(), Some(Refused::Ahead));
        let rounds = stream(&signer, 3, 2 + u32::try_from(ROUNDS_AHEAD).unwrap() + 1, b"block");
        assert_eq!(add_all(&mut streams, &signer, rounds.clone(), at(3, 2)).err(), Some(Refused::Ahead));
        assert!(
            add_all(&mut streams, &signer, rounds, at(3, 3)).unwrap().is_some(),
            "in the window once round 3 starts"
        );
        let mut bad_id = stream(&signer, 3, 0, b"block")[0].clone();
        bad_id.stream_id = StreamId::new(Bytes::from_static(b"short"));
        assert_eq!(add_all(&mut streams, &signer, vec![bad_id], at(3, 0)).err(), Some(Refused::Malformed));
        // A stream whose first part names another round than its id.
        let mut mismatched = stream(&signer, 3, 1, b"block");
        mismatched[0] = stream(&signer, 3, 0, b"block")[0].clone();
        mismatched[0].stream_id = mismatched[1].stream_id.clone();
        assert_eq!(add_all(&mut streams, &signer, mismatched, at(3, 0)).err(), Some(Refused::Malformed));
        let mut far = stream(&signer, 3, 0, b"block")[0].clone();
        far.sequence = PARTS_MAX + 1;
        assert_eq!(add_all(&mut streams, &signer, vec![far], at(3, 0)).err(), Some(Refused::Malformed));
    }

    #[test]
    fn a_publisher_cannot_make_this_node_hold_more_than_its_share() {
        let signer = signer(1);
        let peer = peer_of(&signer.address());
        let mut streams = Streams::default();
        // Streams never finished, one per round: the ninth is refused.
        let share = u32::try_from(STREAMS_PER_PUBLISHER).unwrap();
        for round in 0..share {
            let first = stream(&signer, 3, round, b"block")[0].clone();
            assert!(streams.add(peer, first, at(3, 0), |_, _| signer.address()).unwrap().is_none());
        }
        let ninth = stream(&signer, 3, share, b"block")[0].clone();
        assert_eq!(streams.add(peer, ninth.clone(), at(3, 0), |_, _| signer.address()).err(), Some(Refused::Crowded));
        // Another validator's stream is still taken.
        let other = self::signer(2);
        assert!(add_all(&mut streams, &other, stream(&other, 3, 0, b"x"), at(3, 0)).unwrap().is_some());
        // Once their height is decided, the publisher's share is free again.
        streams.prune(Height(3));
        assert_eq!(streams.held_by(&peer), 0);
        let next = stream(&signer, 4, 0, b"block");
        assert!(add_all(&mut streams, &signer, next, at(4, 0)).unwrap().is_some());
    }

    #[test]
    fn a_second_stream_of_a_height_and_round_is_refused_until_the_height_is_decided() {
        let signer = signer(1);
        let mut streams = Streams::default();
        assert!(add_all(&mut streams, &signer, stream(&signer, 3, 0, b"first"), at(3, 0)).unwrap().is_some());
        let second = add_all(&mut streams, &signer, stream(&signer, 3, 0, b"other"), at(3, 0));
        assert_eq!(second.err(), Some(Refused::Repeated), "an equivocating proposer's second block");
        assert!(add_all(&mut streams, &signer, stream(&signer, 3, 1, b"next round"), at(3, 1)).unwrap().is_some());
        streams.prune(Height(3));
        assert!(streams.whole.is_empty(), "forgotten with their height");
    }

    #[test]
    fn a_stream_larger_than_a_block_is_dropped() {
        let signer = signer(1);
        let peer = peer_of(&signer.address());
        let mut streams = Streams::default();
        let chunk = vec![0u8; PART_BYTES];
        let id = stream_id(Height(3), Round::new(0), &signer.address());
        let mut refused = None;
        for sequence in 1..=PARTS_MAX {
            let part = StreamContent::Data(ProposalPart::Data(chunk.clone()));
            let message = StreamMessage::new(id.clone(), sequence, part);
            if let Err(reason) = streams.add(peer, message, at(3, 0), |_, _| signer.address()) {
                refused = Some((sequence, reason));
                break;
            }
        }
        let (sequence, reason) = refused.expect("refused before PARTS_MAX parts");
        assert_eq!(reason, Refused::Oversized);
        assert!(usize::try_from(sequence).unwrap() * PART_BYTES > crate::BLOCK_BYTES_MAX, "refused at part {sequence}");
        assert_eq!(streams.held_by(&peer), 0, "the stream is dropped");
        // A stream as full as it may be: a copy of one of its parts keeps it.
        let mut streams = Streams::default();
        let part =
            |sequence| StreamMessage::new(id.clone(), sequence, StreamContent::Data(ProposalPart::Data(chunk.clone())));
        for sequence in 1..sequence {
            streams.add(peer, part(sequence), at(3, 0), |_, _| signer.address()).unwrap();
        }
        let held = streams.held_by(&peer);
        assert!(matches!(streams.add(peer, part(1), at(3, 0), |_, _| signer.address()), Ok(None)));
        assert_eq!(streams.held_by(&peer), held, "the copy is not counted, the stream not dropped");
    }

    #[test]
    fn whole_streams_of_later_heights_wait_for_theirs_once_per_round() {
        let signer = signer(1);
        let peer = peer_of(&signer.address());
        let mut streams = Streams::default();
        assert!(add_all(&mut streams, &signer, stream(&signer, 5, 0, b"first"), at(3, 0)).unwrap().is_none());
        let again = add_all(&mut streams, &signer, stream(&signer, 5, 0, b"again"), at(3, 0));
        assert_eq!(again.err(), Some(Refused::Repeated));
        assert!(add_all(&mut streams, &signer, stream(&signer, 4, 1, b"four"), at(3, 0)).unwrap().is_none());
        assert!(streams.held_by(&peer) > 0);
        let four: Vec<Vec<u8>> = streams.take(Height(4)).into_iter().map(|whole| whole.bytes).collect();
        assert_eq!(four, vec![b"four".to_vec()]);
        let five: Vec<Vec<u8>> = streams.take(Height(5)).into_iter().map(|whole| whole.bytes).collect();
        assert_eq!(five, vec![b"first".to_vec()], "one stream per height and round, the first");
        assert_eq!(streams.held_by(&peer), 0);
    }

    /// One step of a peer's traffic: who publishes, which stream (height
    /// and round), which message; or the node moving on.
    #[derive(Debug, Clone)]
    enum Step {
        Part {
            publisher: u8,
            height: u64,
            round: u32,
            sequence: u64,
            kind: u8,
            data: usize,
        },
        /// A proposer's whole stream, rotated by `turn`, without its
        /// message `missing` (none when past its end).
        Stream {
            publisher: u8,
            height: u64,
            round: u32,
            data: usize,
            turn: usize,
            missing: usize,
        },
        Decide(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            10 => (0u8..3, 3u64..10, 0u32..3, 0u64..5, 0u8..4, 0usize..400).prop_map(
                |(publisher, height, round, sequence, kind, data)| Step::Part {
                    publisher, height, round, sequence, kind, data,
                }
            ),
            4 => (0u8..3, 3u64..10, 0u32..3, 0usize..300_000, 0usize..8, 0usize..12).prop_map(
                |(publisher, height, round, data, turn, missing)| Step::Stream {
                    publisher, height, round, data, turn, missing,
                }
            ),
            1 => (3u64..10).prop_map(Step::Decide),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any traffic from three validators (each proposing every round
        /// here), parts in any order, repeated, of unfinished or malformed
        /// streams, with heights decided in between: what each holds stays
        /// within its share, and nothing is held once every height is
        /// decided.
        #[test]
        fn what_a_publisher_holds_stays_within_its_share(steps in proptest::collection::vec(step(), 1..300)) {
            let signers: Vec<KeySigner> = (1..=3).map(signer).collect();
            let mut streams = Streams::default();
            let mut position = at(3, 0);
            for step in steps {
                match step {
                    Step::Part { publisher, height, round, sequence, kind, data } => {
                        let signer = &signers[usize::from(publisher)];
                        let id = stream_id(Height(height), Round::new(round), &signer.address());
                        let content = match kind {
                            0 => StreamContent::Data(ProposalPart::Init {
                                height: Height(height),
                                round: Round::new(round),
                                proposer: signer.address(),
                            }),
                            1 => StreamContent::Data(ProposalPart::Data(vec![7; data])),
                            2 => StreamContent::Data(ProposalPart::Fin {
                                signature: signer.sign_bytes(b"any"),
                            }),
                            _ => StreamContent::Fin,
                        };
                        let message = StreamMessage::new(id, sequence, content);
                        let peer = peer_of(&signer.address());
                        let _ = streams.add(peer, message, position, |_, _| signer.address());
                    }
                    Step::Stream { publisher, height, round, data, turn, missing } => {
                        let signer = &signers[usize::from(publisher)];
                        let mut messages = stream(signer, height, round, &vec![1; data]);
                        if missing < messages.len() {
                            messages.remove(missing);
                        }
                        let turn = turn % messages.len();
                        messages.rotate_left(turn);
                        let peer = peer_of(&signer.address());
                        for message in messages {
                            let _ = streams.add(peer, message, position, |_, _| signer.address());
                        }
                    }
                    Step::Decide(height) => {
                        if height >= position.height.0 {
                            streams.prune(Height(height));
                            position = at(height + 1, 0);
                            drop(streams.take(position.height));
                        }
                    }
                }
                for signer in &signers {
                    let share = streams.share(&peer_of(&signer.address()));
                    prop_assert!(share.streams <= STREAMS_PER_PUBLISHER && share.bytes <= PUBLISHER_BYTES_MAX);
                }
                prop_assert!(streams.waiting.values().all(|(_, whole)| whole.height > position.height));
            }
            streams.prune(Height(u64::MAX - 1));
            prop_assert!(streams.partial.is_empty() && streams.waiting.is_empty());
            prop_assert!(streams.whole.is_empty());
        }
    }
}
