//! Consensus metrics of this validator, registered by the node beside its
//! own (`parlend_consensus_*`). The engine exports its own next to them
//! (`malachitebft_*`: height, round, the round each block was decided in,
//! vote rebroadcasts, value-sync requests); these are what only the
//! application sees: failed rounds, nil votes, proposal and sync sizes,
//! connected peers.
//!
//! | metric | type | what |
//! |--------|------|------|
//! | `parlend_consensus_round` | gauge | round of the height being decided |
//! | `parlend_consensus_rounds_failed` | counter | rounds entered above 0: each one follows a round that decided nothing |
//! | `parlend_consensus_nil_votes{vote}` | counter | this node's nil votes: `prevote` (no valid proposal before the propose timeout, or an invalid one), `precommit` (no quorum of prevotes for a block before the prevote timeout) |
//! | `parlend_consensus_proposal_bytes{source}` | histogram | bytes of each proposed block: `own` (proposed by this node), `peer` (assembled from another's stream) |
//! | `parlend_consensus_proposal_parts{source}` | histogram | stream messages per proposal (init, data parts, fin, end) |
//! | `parlend_consensus_sync_values{direction}` | counter | decided blocks through value sync: `served` to peers, `received` from them |
//! | `parlend_consensus_sync_bytes{direction}` | counter | their bytes |
//! | `parlend_consensus_peers` | gauge | connected consensus peers |
//! | `parlend_consensus_parts_refused{reason}` | counter | proposal stream messages not buffered (`streams::Refused`): `malformed`, `stale`, `ahead`, `publisher`, `not_proposer`, `oversized`, `crowded`, `repeated` |
//!
//! The engine tells the application when a round starts, never that a
//! timeout elapsed: its propose and prevote timeouts show as nil votes, its
//! precommit timeout as a failed round.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::streams::Refused;

type Labels = Vec<(&'static str, &'static str)>;

/// Where a proposal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This node proposed it.
    Own,
    /// Another validator's stream.
    Peer,
}

impl Source {
    fn labels(self) -> Labels {
        vec![("source", if self == Source::Own { "own" } else { "peer" })]
    }
}

/// Which way a synced block went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Served to a lagging peer.
    Served,
    /// Received from a peer while lagging.
    Received,
}

impl Direction {
    fn labels(self) -> Labels {
        vec![("direction", if self == Direction::Served { "served" } else { "received" })]
    }
}

/// This validator's consensus metrics (cheap to clone: every field is
/// shared).
#[derive(Debug, Clone)]
pub struct ConsensusMetrics {
    round: Gauge,
    rounds_failed: Counter,
    nil_votes: Family<Labels, Counter>,
    proposal_bytes: Family<Labels, Histogram>,
    proposal_parts: Family<Labels, Histogram>,
    sync_values: Family<Labels, Counter>,
    sync_bytes: Family<Labels, Counter>,
    peers: Gauge,
    parts_refused: Family<Labels, Counter>,
}

fn bytes_histogram() -> Histogram {
    // 1 KiB to 64 MiB (a block of 20,000 largest transactions is ~40 MB).
    Histogram::new(exponential_buckets(1024.0, 2.0, 17))
}

fn parts_histogram() -> Histogram {
    // 1 to 2,048 messages (a stream has at most `streams::PARTS_MAX`).
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn observed(value: usize) -> f64 {
    u32::try_from(value).map_or(f64::from(u32::MAX), f64::from)
}

fn count(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

impl ConsensusMetrics {
    /// Fresh metrics, registered nowhere yet; every labelled series is
    /// there from the start, at 0.
    pub fn new() -> ConsensusMetrics {
        let metrics = ConsensusMetrics {
            round: Gauge::default(),
            rounds_failed: Counter::default(),
            nil_votes: Family::default(),
            proposal_bytes: Family::new_with_constructor(bytes_histogram),
            proposal_parts: Family::new_with_constructor(parts_histogram),
            sync_values: Family::default(),
            sync_bytes: Family::default(),
            peers: Gauge::default(),
            parts_refused: Family::default(),
        };
        for refused in Refused::ALL {
            let _ = metrics.parts_refused.get_or_create(&vec![("reason", refused.name())]);
        }
        for vote in ["prevote", "precommit"] {
            let _ = metrics.nil_votes.get_or_create(&vec![("vote", vote)]);
        }
        for source in [Source::Own, Source::Peer] {
            let _ = metrics.proposal_bytes.get_or_create(&source.labels());
            let _ = metrics.proposal_parts.get_or_create(&source.labels());
        }
        for direction in [Direction::Served, Direction::Received] {
            let _ = metrics.sync_values.get_or_create(&direction.labels());
            let _ = metrics.sync_bytes.get_or_create(&direction.labels());
        }
        metrics
    }

    /// Registers every metric under `consensus_` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("consensus");
        registry.register("round", "Round of the height being decided", self.round.clone());
        registry.register(
            "rounds_failed",
            "Rounds entered above 0 (each follows a failed round)",
            self.rounds_failed.clone(),
        );
        registry.register("nil_votes", "This node's nil votes, by vote", self.nil_votes.clone());
        registry.register("proposal_bytes", "Bytes of each proposed block, by source", self.proposal_bytes.clone());
        registry.register("proposal_parts", "Stream messages per proposal, by source", self.proposal_parts.clone());
        registry.register("sync_values", "Decided blocks through value sync, by direction", self.sync_values.clone());
        registry.register(
            "sync_bytes",
            "Bytes of decided blocks through value sync, by direction",
            self.sync_bytes.clone(),
        );
        registry.register("peers", "Connected consensus peers", self.peers.clone());
        registry.register(
            "parts_refused",
            "Proposal stream messages not buffered, by reason",
            self.parts_refused.clone(),
        );
    }

    /// A round started.
    pub(crate) fn round_started(&self, round: i64) {
        self.round.set(round);
        if round > 0 {
            self.rounds_failed.inc();
        }
    }

    /// This node voted nil (`vote`: `prevote` or `precommit`).
    pub(crate) fn nil_vote(&self, vote: &'static str) {
        self.nil_votes.get_or_create(&vec![("vote", vote)]).inc();
    }

    /// A proposal of `bytes` in `parts` stream messages.
    pub(crate) fn proposal(&self, source: Source, bytes: usize, parts: usize) {
        let labels = source.labels();
        self.proposal_bytes.get_or_create(&labels).observe(observed(bytes));
        self.proposal_parts.get_or_create(&labels).observe(observed(parts));
    }

    /// `values` decided blocks of `bytes` in all went through value sync.
    pub(crate) fn synced(&self, direction: Direction, values: usize, bytes: usize) {
        let labels = direction.labels();
        self.sync_values.get_or_create(&labels).inc_by(count(values));
        self.sync_bytes.get_or_create(&labels).inc_by(count(bytes));
    }

    /// A proposal stream message was not buffered.
    pub(crate) fn part_refused(&self, refused: Refused) {
        self.parts_refused.get_or_create(&vec![("reason", refused.name())]).inc();
    }

    /// The connected peers, counted.
    pub(crate) fn peers(&self, peers: usize) {
        self.peers.set(gauge_value(count(peers)));
    }
}

impl Default for ConsensusMetrics {
    fn default() -> Self {
        ConsensusMetrics::new()
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn failed_rounds_nil_votes_proposals_and_sync_are_counted() {
        let metrics = ConsensusMetrics::new();
        let mut registry = Registry::with_prefix("parlend");
        metrics.register(&mut registry);
        for round in [0, 0, 1, 2] {
            metrics.round_started(round);
        }
        metrics.nil_vote("prevote");
        metrics.proposal(Source::Own, 3_000, 4);
        metrics.proposal(Source::Peer, 300_000, 6);
        metrics.synced(Direction::Served, 2, 5_000);
        metrics.synced(Direction::Received, 1, 700);
        metrics.peers(3);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for expected in [
            "parlend_consensus_round 2",
            "parlend_consensus_rounds_failed_total 2",
            "parlend_consensus_nil_votes_total{vote=\"prevote\"} 1",
            "parlend_consensus_nil_votes_total{vote=\"precommit\"} 0",
            "parlend_consensus_proposal_bytes_sum{source=\"own\"} 3000.0",
            "parlend_consensus_proposal_parts_sum{source=\"peer\"} 6.0",
            "parlend_consensus_sync_values_total{direction=\"served\"} 2",
            "parlend_consensus_sync_bytes_total{direction=\"received\"} 700",
            "parlend_consensus_peers 3",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
