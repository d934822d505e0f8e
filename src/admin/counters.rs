//! Process-wide counters that cores other than the shards keep, for the
//! AdminServer and `/metrics` to read: plain relaxed atomics, written by
//! their one owner and read by anyone, never reset (Prometheus counters).
//!
//! Who writes what:
//! - the log core: [`LOG`] (`batch`, `fsync`, `snapshot`);
//! - the sequencer: [`SEQ_QUEUE`] (messages drained in its last wake-up);
//! - `server::run`, once, after recovery: [`STARTUP`];
//! - the stall monitor keeps its own count ([`crate::ops::stall::STALLS`]);
//!   [`values`] reads it from there, and prep its count of writes refused
//!   over a hard quota.
//!
//! Per-shard counters are not here: they live in each shard and are
//! gathered by message (see `crate::protocol::fourlw`), as the 4lw words read them.

use crate::protocol::fourlw::{Histogram, HISTOGRAM_US};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Times in microseconds: count, sum, max (a Prometheus summary's
/// `_count`/`_sum`, plus the max ZooKeeper's `AvgMinMaxCounter` shows).
#[derive(Debug, Default)]
pub struct Timer {
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
    /// Per [`HISTOGRAM_US`] bucket.
    buckets: [AtomicU64; HISTOGRAM_US.len()],
}

/// A [`Timer`]'s values at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerValues {
    pub count: u64,
    pub sum_us: u64,
    pub max_us: u64,
    pub histogram: Histogram,
}

impl Timer {
    pub const fn new() -> Timer {
        Timer {
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; HISTOGRAM_US.len()],
        }
    }

    pub fn add(&self, us: u64) {
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
        if let Some(i) = Histogram::bucket(us) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
    }

    pub fn get(&self) -> TimerValues {
        TimerValues {
            count: self.count.load(Relaxed),
            sum_us: self.sum_us.load(Relaxed),
            max_us: self.max_us.load(Relaxed),
            histogram: Histogram(std::array::from_fn(|i| self.buckets[i].load(Relaxed))),
        }
    }
}

/// What the log core reports.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Batches written (one write and at most one fdatasync each).
    pub batches: AtomicU64,
    /// Txns in those batches (their sum / `batches` is the mean batch size).
    pub txns: AtomicU64,
    /// The largest batch, in txns.
    pub max_batch: AtomicU64,
    /// fdatasync times (ZooKeeper's `fsynctime`).
    pub fsync: Timer,
    /// fsyncs over `fsync.warningthresholdms` (ZooKeeper's
    /// `fsync_threshold_exceed_count`).
    pub fsync_over_threshold: AtomicU64,
    /// Snapshot write times (ZooKeeper's `snapshottime`).
    pub snapshot: Timer,
}

impl LogCounters {
    pub const fn new() -> LogCounters {
        LogCounters {
            batches: AtomicU64::new(0),
            txns: AtomicU64::new(0),
            max_batch: AtomicU64::new(0),
            fsync: Timer::new(),
            fsync_over_threshold: AtomicU64::new(0),
            snapshot: Timer::new(),
        }
    }

    pub fn batch(&self, txns: u64) {
        self.batches.fetch_add(1, Relaxed);
        self.txns.fetch_add(txns, Relaxed);
        self.max_batch.fetch_max(txns, Relaxed);
    }

    pub fn fsync(&self, us: u64, over_threshold: bool) {
        self.fsync.add(us);
        if over_threshold {
            self.fsync_over_threshold.fetch_add(1, Relaxed);
        }
    }

    pub fn get(&self) -> LogValues {
        LogValues {
            batches: self.batches.load(Relaxed),
            txns: self.txns.load(Relaxed),
            max_batch: self.max_batch.load(Relaxed),
            fsync: self.fsync.get(),
            fsync_over_threshold: self.fsync_over_threshold.load(Relaxed),
            snapshot: self.snapshot.get(),
        }
    }
}

/// [`LogCounters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogValues {
    pub batches: u64,
    pub txns: u64,
    pub max_batch: u64,
    pub fsync: TimerValues,
    pub fsync_over_threshold: u64,
    pub snapshot: TimerValues,
}

pub static LOG: LogCounters = LogCounters::new();

/// Messages the sequencer drained in its last wake-up (a gauge of its
/// input queue).
pub static SEQ_QUEUE: AtomicU64 = AtomicU64::new(0);

/// What recovery at start took (ZooKeeper's `dbinittime` and
/// `startup_*` summaries, one observation each): set once by `server::run`.
#[derive(Debug, Default)]
pub struct StartupCounters {
    /// Whether [`StartupCounters::set`] has run.
    done: AtomicU64,
    db_init_us: AtomicU64,
    snap_load_us: AtomicU64,
    txns_load_us: AtomicU64,
    txns_loaded: AtomicU64,
}

/// [`StartupCounters`] once set (times in microseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupValues {
    pub db_init_us: u64,
    pub snap_load_us: u64,
    pub txns_load_us: u64,
    pub txns_loaded: u64,
}

impl StartupCounters {
    pub const fn new() -> StartupCounters {
        StartupCounters {
            done: AtomicU64::new(0),
            db_init_us: AtomicU64::new(0),
            snap_load_us: AtomicU64::new(0),
            txns_load_us: AtomicU64::new(0),
            txns_loaded: AtomicU64::new(0),
        }
    }

    pub fn set(
        &self,
        db_init: std::time::Duration,
        snap_load: std::time::Duration,
        txns_load: std::time::Duration,
        txns_loaded: u64,
    ) {
        let us = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.db_init_us.store(us(db_init), Relaxed);
        self.snap_load_us.store(us(snap_load), Relaxed);
        self.txns_load_us.store(us(txns_load), Relaxed);
        self.txns_loaded.store(txns_loaded, Relaxed);
        self.done.store(1, Relaxed);
    }

    /// `None` until recovery has finished.
    pub fn get(&self) -> Option<StartupValues> {
        (self.done.load(Relaxed) == 1).then(|| StartupValues {
            db_init_us: self.db_init_us.load(Relaxed),
            snap_load_us: self.snap_load_us.load(Relaxed),
            txns_load_us: self.txns_load_us.load(Relaxed),
            txns_loaded: self.txns_loaded.load(Relaxed),
        })
    }
}

pub static STARTUP: StartupCounters = StartupCounters::new();

/// Everything here at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub log: LogValues,
    pub seq_queue: u64,
    pub stalls: u64,
    /// Recovery at start, once done.
    pub startup: Option<StartupValues>,
    /// Writes refused over a hard quota, by namespace (kept by prep).
    pub quota_exceeded: Vec<(String, u64)>,
}

pub fn values() -> Values {
    Values {
        log: LOG.get(),
        seq_queue: SEQ_QUEUE.load(Relaxed),
        stalls: crate::ops::stall::stall_count(),
        startup: STARTUP.get(),
        quota_exceeded: crate::data::prep::quota_exceeded_counts(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_and_batches_add_up() {
        let t = Timer::new();
        t.add(5);
        t.add(3);
        t.add(300);
        t.add(9_000_000);
        let mut h = Histogram::default();
        h.0[0] = 2; // <= 100 us
        h.0[2] = 1; // <= 500 us; 9 s is past the last bucket
        assert_eq!(
            t.get(),
            TimerValues {
                count: 4,
                sum_us: 9_000_308,
                max_us: 9_000_000,
                histogram: h,
            }
        );
        let l = LogCounters::new();
        l.batch(3);
        l.batch(7);
        l.fsync(100, false);
        l.fsync(2000, true);
        let v = l.get();
        assert_eq!((v.batches, v.txns, v.max_batch), (2, 10, 7));
        assert_eq!((v.fsync.count, v.fsync_over_threshold), (2, 1));
    }
}
