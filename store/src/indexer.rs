//! The RocksDB store's receipt indexes, written behind the chain: the event
//! index (`events.rs`) and the transaction index (id to height and place).
//!
//! They were seven entries per transfer, most of a block's write batch.
//! They are derived from the block's receipts (each names its transaction's
//! id), which the block's own atomic write stores, so they need not delay
//! the block: after the block is durable and the head has moved, its
//! receipts go to the indexer thread, which writes their entries and the
//! height the indexes have reached (`meta` key `events_next`: the next
//! height to index; the name predates the transaction index joining) in
//! one batch of its own.
//!
//! - Reads wait for the indexes to reach the head they answer for
//!   ([`Indexer::wait_for`]), so a client never sees a committed block
//!   without its events or its transactions' locations.
//! - The index's batches skip the write-ahead log: nothing in them is lost
//!   for good (the receipts are), and they were a third of its bytes
//!   (72.6 of 227.4 MB over a 200,000-transaction lending run), which
//!   every block's fsync then had to write. They reach the disk with
//!   the next memtable flush, which the store makes atomic across column
//!   families (`atomic_flush`), so the entries and `events_next` persist
//!   together; with fsync on, a block is durable before its receipts reach
//!   the indexer, so the index never persists ahead of the chain. A clean
//!   close flushes them ([`RocksStore`](super::RocksStore) closes the
//!   database after the indexer has written what was queued).
//! - A crash loses the index's writes since the last flush: on open, the
//!   heights from `events_next` to the head are indexed again from their
//!   receipts ([`catch_up`]). Entries are keyed by position, so writing a
//!   height twice writes the same entries.
//! - A store written before the index moved here has no `events_next`: its
//!   blocks were indexed in their own batch, so its index is at the head.
//!   The open that finds no `events_next` records one through the
//!   write-ahead log before the indexer starts, so that after a crash a
//!   missing key never reads as an index at the head.
//! - Commits send heights in order under the store's writer lock; the channel
//!   is bounded, so an index that falls behind slows commits rather than
//!   holding every block's receipts in memory.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use parlend_ledger::block::Receipt;
use parlend_ledger::state::StoreError;
use rocksdb::{DB, WriteBatch, WriteOptions};

use super::TxLocation;
use super::events::index_entries;

/// The `meta` key of the next height the index has to write.
pub(crate) const EVENTS_NEXT_KEY: &[u8] = b"events_next";
/// How long a read waits for the indexes to reach its head.
pub(crate) const INDEX_WAIT: Duration = Duration::from_secs(10);
/// Blocks the indexer may fall behind before commits wait for it.
const QUEUE: usize = 16;

/// Where the indexes are.
#[derive(Debug)]
struct Progress {
    /// The next height to index: every height below it is indexed.
    next: u64,
    /// The write that failed, if one did: the indexes stop there.
    failed: Option<String>,
}

/// The indexer thread and what it has written.
pub(crate) struct Indexer {
    progress: Arc<(Mutex<Progress>, Condvar)>,
    blocks: Option<SyncSender<(u64, Arc<Vec<Receipt>>)>>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Starts the indexer for a store whose index has reached `next`.
    pub(crate) fn start(db: Arc<DB>, next: u64) -> Result<Indexer, StoreError> {
        let progress = Arc::new((Mutex::new(Progress { next, failed: None }), Condvar::new()));
        let (blocks, queue) = sync_channel(QUEUE);
        let shared = progress.clone();
        let thread = std::thread::Builder::new()
            .name("parlend-index".to_string())
            .spawn(move || run(&db, &queue, &shared))
            .map_err(|error| StoreError::Io(format!("starting the indexer: {error}")))?;
        Ok(Indexer { progress, blocks: Some(blocks), thread: Some(thread) })
    }

    /// Queues a committed block's receipts (in height order). The block is
    /// durable whatever happens here: if the indexer has stopped, queries
    /// report it, and the next open indexes the block from its receipts.
    pub(crate) fn index(&self, height: u64, receipts: Arc<Vec<Receipt>>) {
        let sent = self.blocks.as_ref().is_some_and(|blocks| blocks.send((height, receipts)).is_ok());
        if !sent {
            let (lock, changed) = &*self.progress;
            lock.lock().failed.get_or_insert_with(|| "the indexer thread stopped".to_string());
            changed.notify_all();
        }
    }

    /// Waits until every height up to `height` is indexed (at most
    /// [`INDEX_WAIT`]).
    pub(crate) fn wait_for(&self, height: u64) -> Result<(), StoreError> {
        let deadline = Instant::now() + INDEX_WAIT;
        let (lock, changed) = &*self.progress;
        let mut progress = lock.lock();
        while progress.next <= height {
            if let Some(failed) = &progress.failed {
                return Err(StoreError::Io(format!(
                    "the receipt indexes stopped at height {}: {failed}",
                    progress.next
                )));
            }
            if changed.wait_until(&mut progress, deadline).timed_out() {
                return Err(StoreError::Io(format!(
                    "the receipt indexes are at height {} of {height}; retry",
                    progress.next.saturating_sub(1)
                )));
            }
        }
        Ok(())
    }

    /// After a revert to `height` (with the indexer idle): the index ends
    /// there.
    pub(crate) fn reverted_to(&self, height: u64) {
        self.progress.0.lock().next = height + 1;
    }
}

impl Drop for Indexer {
    /// Writes what is queued, then stops: the database closes with the
    /// store.
    fn drop(&mut self) {
        drop(self.blocks.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: &DB, queue: &Receiver<(u64, Arc<Vec<Receipt>>)>, progress: &(Mutex<Progress>, Condvar)) {
    for (height, receipts) in queue {
        let written = write_index(db, height, &receipts);
        let mut state = progress.0.lock();
        match written {
            Ok(()) => state.next = height + 1,
            Err(error) => {
                tracing::error!(height, %error, "writing the receipt indexes failed; event queries and transaction lookups fail until restart");
                state.failed = Some(error.to_string());
            }
        }
        progress.1.notify_all();
    }
}

/// Writes one height's index entries and moves `events_next` past it, in
/// one batch, without the write-ahead log (see the module's documentation).
pub(crate) fn write_index(db: &DB, height: u64, receipts: &[Receipt]) -> Result<(), StoreError> {
    let family = |name| super::rocks::family(db, name);
    let mut batch = WriteBatch::default();
    let mut entries = index_entries(height, receipts)?;
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let events = family(super::rocks::CF_EVENTS)?;
    for (key, value) in entries {
        batch.put_cf(events, key, value);
    }
    let mut locations = Vec::with_capacity(receipts.len());
    for (index, receipt) in receipts.iter().enumerate() {
        let index =
            u32::try_from(index).map_err(|_| StoreError::Inconsistent { height, reason: "over 2^32 receipts" })?;
        locations.push((receipt.tx_hash.0, super::encode(&TxLocation { height, index })));
    }
    locations.sort_unstable_by_key(|location| location.0);
    let transactions = family(super::rocks::CF_TX_INDEX)?;
    for (key, value) in locations {
        batch.put_cf(transactions, key, value);
    }
    batch.put_cf(family(super::rocks::CF_META)?, EVENTS_NEXT_KEY, (height + 1).to_be_bytes());
    let mut options = WriteOptions::default();
    options.disable_wal(true);
    db.write_opt(batch, &options).map_err(|error| StoreError::Io(error.to_string()))
}

/// Indexes the heights from `next` to `head` from their stored receipts
/// (`receipts` reads them); returns the next height to index.
pub(crate) fn catch_up(
    db: &DB,
    next: u64,
    head: Option<u64>,
    receipts: impl Fn(u64) -> Result<Option<Vec<Receipt>>, StoreError>,
) -> Result<u64, StoreError> {
    let Some(head) = head else { return Ok(next) };
    for height in next..=head {
        write_index(db, height, &receipts(height)?.unwrap_or_default())?;
    }
    Ok(next.max(head + 1))
}
