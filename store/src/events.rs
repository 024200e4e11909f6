//! The event index: every receipt's events, found by height range, by
//! kind, by account, or by both, without reading a block.
//!
//! An event's position is `(height, transaction index, event index)`,
//! encoded big-endian so that positions sort. Each event is written under
//! four kinds of keys (by the RocksDB store's indexer right after the
//! block's own write, `indexer.rs`; by the memory store with the block):
//!
//! | key                                   | value                      |
//! |---------------------------------------|----------------------------|
//! | `e` position                          | borsh((tx hash, event))    |
//! | `k` kind(2) position                  | empty                      |
//! | `a` address(32) position              | empty (once per account)   |
//! | `b` address(32) kind(2) position      | empty (once per account)   |
//!
//! A query is one prefix scan over the key kind its filter names, from
//! the first position it asks for, so its work is bounded by the page it
//! returns (plus one entry to know whether there is more) whatever the
//! chain holds; the `e` entry of each hit is then read by key.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::block::{Event, Receipt};
use parlend_ledger::primitives::{Address, Hash};
use parlend_ledger::state::StoreError;
use serde::{Deserialize, Serialize};

use crate::{decode, encode};

/// Where an event is in the chain; positions sort in chain order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct EventPosition {
    /// Block height.
    pub height: u64,
    /// Index of the transaction in the block.
    pub tx_index: u32,
    /// Index of the event in the transaction's receipt.
    pub event_index: u16,
}

const POSITION_BYTES: usize = 14;

impl EventPosition {
    /// The first position of a block.
    pub fn block_start(height: u64) -> EventPosition {
        EventPosition { height, tx_index: 0, event_index: 0 }
    }

    fn encode(&self) -> [u8; POSITION_BYTES] {
        let mut bytes = [0; POSITION_BYTES];
        bytes[..8].copy_from_slice(&self.height.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.tx_index.to_be_bytes());
        bytes[12..].copy_from_slice(&self.event_index.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<EventPosition> {
        let bytes: &[u8; POSITION_BYTES] = bytes.get(bytes.len().checked_sub(POSITION_BYTES)?..)?.try_into().ok()?;
        Some(EventPosition {
            height: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            tx_index: u32::from_be_bytes(bytes[8..12].try_into().ok()?),
            event_index: u16::from_be_bytes(bytes[12..].try_into().ok()?),
        })
    }
}

/// Which events a query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventQuery {
    /// Only events concerning this account.
    pub address: Option<Address>,
    /// Only events of this kind.
    pub kind: Option<u16>,
    /// The first position to return (a block's start, or a page's `next`).
    pub from: EventPosition,
    /// The last block to look in (inclusive).
    pub to_height: u64,
    /// Most events to return.
    pub limit: usize,
}

/// An event with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEvent {
    /// Its position.
    pub position: EventPosition,
    /// The transaction that emitted it.
    pub tx_hash: Hash,
    /// The event.
    pub event: Event,
}

/// One page of a query's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventPage {
    /// The events, in chain order.
    pub events: Vec<IndexedEvent>,
    /// Where the next page starts, when the range holds more.
    pub next: Option<EventPosition>,
}

/// The `e` key of a position.
fn event_key(position: &EventPosition) -> Vec<u8> {
    event_key_raw(&position.encode())
}

/// The prefix a query scans (its filter's key kind), without the position.
fn query_prefix(query: &EventQuery) -> Vec<u8> {
    match (query.address, query.kind) {
        (None, None) => vec![b'e'],
        (None, Some(kind)) => [&[b'k'][..], &kind.to_be_bytes()].concat(),
        (Some(address), None) => [&[b'a'][..], &address.0].concat(),
        (Some(address), Some(kind)) => [&[b'b'][..], &address.0, &kind.to_be_bytes()].concat(),
    }
}

/// One index entry: key and value.
pub(crate) type IndexEntry = (Vec<u8>, Vec<u8>);

/// Every index entry of a block's receipts.
pub(crate) fn index_entries(height: u64, receipts: &[Receipt]) -> Result<Vec<IndexEntry>, StoreError> {
    let events = receipts.iter().flat_map(|receipt| &receipt.events);
    let mut entries = Vec::with_capacity(events.map(|event| 2 + 2 * event.accounts.len()).sum());
    for (tx_index, receipt) in receipts.iter().enumerate() {
        let tx_index =
            u32::try_from(tx_index).map_err(|_| StoreError::Inconsistent { height, reason: "over 2^32 receipts" })?;
        for (event_index, event) in receipt.events.iter().enumerate() {
            let event_index = u16::try_from(event_index)
                .map_err(|_| StoreError::Inconsistent { height, reason: "over 2^16 events in a receipt" })?;
            let position = EventPosition { height, tx_index, event_index }.encode();
            entries.push((event_key_raw(&position), encode(&(receipt.tx_hash, event))));
            entries.push(([&[b'k'][..], &event.kind.to_be_bytes(), &position].concat(), Vec::new()));
            let mut accounts = event.accounts.clone();
            accounts.sort_unstable();
            accounts.dedup();
            for address in accounts {
                entries.push(([&[b'a'][..], &address.0, &position].concat(), Vec::new()));
                entries.push(([&[b'b'][..], &address.0, &event.kind.to_be_bytes(), &position].concat(), Vec::new()));
            }
        }
    }
    Ok(entries)
}

fn event_key_raw(position: &[u8; POSITION_BYTES]) -> Vec<u8> {
    [&[b'e'][..], position].concat()
}

/// What a store gives the query: ordered keys from a start key, and
/// single reads.
pub(crate) trait IndexReader {
    /// Visits keys `>= start` in order, with their values, until `visit`
    /// returns `false`.
    fn scan_from(&self, start: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError>;
    /// The value of `key`.
    fn get_entry(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Answers `query` from an index: at most `query.limit` events, and where
/// the next page starts if the range holds more.
pub(crate) fn query_events(index: &dyn IndexReader, query: &EventQuery) -> Result<EventPage, StoreError> {
    let prefix = query_prefix(query);
    let start = [&prefix[..], &query.from.encode()].concat();
    let mut positions = Vec::new();
    let mut next = None;
    let mut corrupt = false;
    index.scan_from(&start, &mut |key, _| {
        if !key.starts_with(&prefix) || key.len() != prefix.len() + POSITION_BYTES {
            return false;
        }
        let Some(position) = EventPosition::decode(key) else {
            corrupt = true;
            return false;
        };
        if position.height > query.to_height {
            return false;
        }
        if positions.len() == query.limit {
            next = Some(position);
            return false;
        }
        positions.push(position);
        true
    })?;
    if corrupt {
        return Err(StoreError::Corrupt { what: "event index".to_string(), reason: "a key without a position".into() });
    }
    let mut events = Vec::with_capacity(positions.len());
    for position in positions {
        let bytes = index.get_entry(&event_key(&position))?.ok_or_else(|| StoreError::Corrupt {
            what: "event index".to_string(),
            reason: format!("no event at {position:?}"),
        })?;
        let (tx_hash, event): (Hash, Event) = decode(&bytes, "indexed event")?;
        events.push(IndexedEvent { position, tx_hash, event });
    }
    Ok(EventPage { events, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_sort_as_encoded_and_round_trip() {
        let a = EventPosition { height: 1, tx_index: 70_000, event_index: 3 };
        let b = EventPosition { height: 2, tx_index: 0, event_index: 0 };
        assert!(a < b && a.encode() < b.encode());
        assert_eq!(EventPosition::decode(&event_key(&a)), Some(a));
    }
}
