//! `sendTransactions` batches being admitted, so that a block cut at its
//! deadline can wait a little for a batch about to land whole.
//!
//! Admission checks a batch [`crate::node::ADMISSION_CHUNK`] transactions
//! at a time and inserts each chunk as soon as it is checked. A cut that
//! falls while a 1,000-transaction batch is being checked (25-40 ms on 2
//! cores) splits it: its last chunks wait a whole interval for the next
//! block, so their submit-to-commit latency is the interval plus the
//! batch's checking time plus the block's commit. With a grace
//! ([`crate::node::NodeConfig::cut_grace`]), the producer asks which of the
//! batches in progress at the deadline should be done before the grace
//! ends ([`Admitting::due_by`]) and cuts when those are in, or when the
//! grace is over, whichever comes first. Batches that start after the
//! deadline are never waited for, so a cut is put off at most once and by
//! at most the grace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The batches being admitted.
#[derive(Debug, Default)]
pub struct Admitting {
    inner: Mutex<Batches>,
    /// Wall time per transaction of the last batch admitted, nanoseconds
    /// (0: none yet): the estimate for a batch with no chunk done.
    recent_nanos_per_transaction: AtomicU64,
    /// A cut waits for batches: admission wakes the producer as each ends.
    cut_waiting: AtomicBool,
}

#[derive(Debug, Default)]
struct Batches {
    next_id: u64,
    in_progress: HashMap<u64, Batch>,
}

#[derive(Debug, Clone, Copy)]
struct Batch {
    started: Instant,
    transactions: usize,
    done: usize,
}

impl Batch {
    /// When the batch should be done, at its own pace so far (or
    /// `nanos_per_transaction` before its first chunk); `None` when there
    /// is nothing to go by.
    fn due(&self, now: Instant, nanos_per_transaction: u64) -> Option<Instant> {
        let remaining = self.transactions.saturating_sub(self.done) as u64;
        let pace = if self.done > 0 {
            let elapsed = now.saturating_duration_since(self.started).as_nanos();
            u64::try_from(elapsed / self.done as u128).unwrap_or(u64::MAX)
        } else {
            nanos_per_transaction
        };
        if pace == 0 {
            return None;
        }
        Some(now + Duration::from_nanos(remaining.saturating_mul(pace)))
    }
}

/// One batch being admitted; it leaves [`Admitting`] when dropped.
pub struct BatchGuard<'a> {
    admitting: &'a Admitting,
    id: u64,
}

impl BatchGuard<'_> {
    /// `done` of the batch's transactions are in (checked and inserted).
    pub fn progress(&self, done: usize) {
        if let Some(batch) = self.admitting.inner.lock().in_progress.get_mut(&self.id) {
            batch.done = done;
        }
    }
}

impl Drop for BatchGuard<'_> {
    fn drop(&mut self) {
        let removed = self.admitting.inner.lock().in_progress.remove(&self.id);
        if let Some(batch) = removed.filter(|batch| batch.done > 0) {
            let nanos = batch.started.elapsed().as_nanos() / batch.done as u128;
            self.admitting
                .recent_nanos_per_transaction
                .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }
}

impl Admitting {
    /// A batch of `transactions` starts being admitted.
    pub fn begin(&self, transactions: usize) -> BatchGuard<'_> {
        let mut inner = self.inner.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.in_progress.insert(id, Batch { started: Instant::now(), transactions, done: 0 });
        BatchGuard { admitting: self, id }
    }

    /// The batches in progress that should be done by `by`, at their pace.
    pub fn due_by(&self, by: Instant) -> Vec<u64> {
        let now = Instant::now();
        let pace = self.recent_nanos_per_transaction.load(Ordering::Relaxed);
        let inner = self.inner.lock();
        inner
            .in_progress
            .iter()
            .filter(|(_, batch)| batch.due(now, pace).is_some_and(|due| due <= by))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether any of `batches` is still being admitted.
    pub fn any_in_progress(&self, batches: &[u64]) -> bool {
        let inner = self.inner.lock();
        batches.iter().any(|id| inner.in_progress.contains_key(id))
    }

    /// The producer puts a cut off for batches (`true`) or no longer does.
    pub fn set_cut_waiting(&self, waiting: bool) {
        self.cut_waiting.store(waiting, Ordering::SeqCst);
    }

    /// Whether a cut waits for batches being admitted.
    pub fn cut_waiting(&self) -> bool {
        self.cut_waiting.load(Ordering::SeqCst)
    }
}

/// A cut put off, at its deadline, for the batches being admitted then
/// that should be in before the grace ends.
#[derive(Debug)]
pub struct Deferred {
    /// When the cut was due.
    pub deadline: Instant,
    /// When it is made whatever is still being admitted.
    pub until: Instant,
    /// The batches it waits for.
    batches: Vec<u64>,
}

impl Deferred {
    /// A cut due at `deadline` that may wait `grace` for batches.
    pub fn new(admitting: &Admitting, deadline: Instant, grace: Duration) -> Deferred {
        let until = deadline + grace;
        Deferred { deadline, until, batches: admitting.due_by(until) }
    }

    /// Whether it found batches to wait for.
    pub fn waited_for_any(&self) -> bool {
        !self.batches.is_empty()
    }

    /// Whether the cut still waits at `now`: the grace lasts and one of
    /// its batches is still being admitted.
    pub fn waits(&self, admitting: &Admitting, now: Instant) -> bool {
        now < self.until && admitting.any_in_progress(&self.batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_due_at_its_own_pace_and_leaves_when_dropped() {
        let admitting = Admitting::default();
        let batch = admitting.begin(1_000);
        let far = Instant::now() + Duration::from_secs(3_600);
        assert!(admitting.due_by(far).is_empty(), "no pace known before its first chunk");
        std::thread::sleep(Duration::from_millis(10));
        batch.progress(500);
        let ids = admitting.due_by(far);
        assert_eq!(ids.len(), 1);
        assert!(admitting.due_by(Instant::now()).is_empty(), "half of it is still to check");
        assert!(admitting.any_in_progress(&ids));
        drop(batch);
        assert!(!admitting.any_in_progress(&ids));
    }

    #[test]
    fn a_new_batch_is_estimated_at_the_last_batchs_pace() {
        let admitting = Admitting::default();
        let first = admitting.begin(10);
        std::thread::sleep(Duration::from_millis(10));
        first.progress(10);
        drop(first);
        let second = admitting.begin(10);
        // About 1 ms a transaction: 10 ms to go.
        assert_eq!(admitting.due_by(Instant::now() + Duration::from_secs(1)).len(), 1);
        assert!(admitting.due_by(Instant::now() + Duration::from_millis(5)).is_empty());
        drop(second);
    }

    /// A batch of `transactions` with `done` of them in after 2 ms.
    fn paced(admitting: &Admitting, transactions: usize, done: usize) -> BatchGuard<'_> {
        let batch = admitting.begin(transactions);
        std::thread::sleep(Duration::from_millis(2));
        batch.progress(done);
        batch
    }

    #[test]
    fn a_cut_waits_for_due_batches_only_while_they_last_and_the_grace_lasts() {
        let admitting = Admitting::default();
        let batch = paced(&admitting, 1_000, 999);
        let now = Instant::now();
        let deferred = Deferred::new(&admitting, now, Duration::from_secs(60));
        assert!(deferred.waits(&admitting, now));
        assert!(!deferred.waits(&admitting, now + Duration::from_secs(60)), "the grace is over");
        let later = admitting.begin(1);
        drop(batch);
        assert!(!deferred.waits(&admitting, Instant::now()), "a batch begun after the deadline is not waited for");
        drop(later);
    }

    #[test]
    fn a_cut_does_not_wait_for_a_batch_due_after_the_grace() {
        let admitting = Admitting::default();
        let _batch = paced(&admitting, 1_000_000, 1);
        let deferred = Deferred::new(&admitting, Instant::now(), Duration::from_millis(1));
        assert!(!deferred.waits(&admitting, Instant::now()));
    }
}
