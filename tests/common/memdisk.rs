//! One simulated member's disk, in memory, laid out as corral lays out its
//! dataDir: txn log files (`log.<first zxid>`, the real record format of
//! `corral::storage::txnlog`, written in the page cache and durable only once
//! synced), snapshots (written whole, then renamed: all or nothing), and
//! the two epoch files. It carries out what the log core and the epoch and
//! truncation helpers do for the driver, with their rules (a batch built on
//! a failed one is dropped; the log rolls when a snapshot falls due; a
//! truncation cuts the file holding the zxid and removes later files and
//! newer snapshots), and recovers as `storage::recover` does: the newest
//! snapshot, then the logs from the file holding its zxid on, a torn tail
//! of the last file cut, anything else stopping start-up.
//!
//! It can fail:
//! - lost fsyncs: a crash keeps only what was synced (or, as a page cache
//!   flushed in part, a random byte prefix of the rest: a torn write);
//! - ENOSPC: an append fails for a while (nothing of it lands);
//! - corrupt reads: a recovery or a log read for a DIFF reads a damaged
//!   record (the bytes on disk are fine; a later read may succeed).
//!
//! Operations complete later, on its own queue ([`MemDisk::pop_due`]): the
//! simulation turns each [`Done`] into the Replica's input. Included with
//! `#[path]`, with `rng.rs` and `simnet.rs` (for [`Sched`]).
#![allow(dead_code)]

use super::rng::SplitMix as Rng;
use super::simnet::Sched;
use bytes::{Bytes, BytesMut};
use corral::data::digest::TxnDigest;
use corral::data::tree::Tree;
use corral::data::txn::{Txn, TxnBody};
use corral::protocol::jute::op;
use corral::storage::txnlog;
use std::collections::VecDeque;
use std::sync::Arc;

/// How often each fault strikes (per mille), and the disk's speed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskParams {
    /// The longest fsync (ms, at least 1).
    pub fsync_max_ms: u64,
    /// Per mille of appends that find the disk full (it stays full for a
    /// while).
    pub enospc: u64,
    /// Per mille of crashes that keep a torn part of the unsynced bytes
    /// rather than none of them.
    pub torn: u64,
    /// Per mille of recoveries and log reads that read a damaged record.
    pub corrupt_read: u64,
    /// Txns between log rolls (the snapshot trigger, no random roll).
    pub snap_count: u64,
    /// Keep this many recent entries for the committed log at recovery.
    pub commit_log_count: usize,
    /// Snapshots are durable the moment they are asked for (never lost
    /// to a crash, never skipped): switches the snapshot-lag fault off.
    pub instant_snapshots: bool,
}

/// What a finished operation reports.
#[derive(Debug)]
pub enum Done {
    /// Every txn up to this zxid is durable.
    Durable(i64),
    /// The last append failed; nothing after the last `Durable` is.
    Failed(String),
    /// The log rolled: a snapshot is due.
    SnapshotDue,
    /// A snapshot at this zxid is on disk.
    Snapshotted(i64),
    /// An epoch file was written (or why not).
    EpochWritten {
        accepted: bool,
        epoch: i64,
        result: Result<(), String>,
    },
    /// The log was cut after `to` (and reloaded when asked).
    Truncated {
        to: i64,
        result: Result<Option<Recovered>, String>,
    },
    /// The epoch files were rewritten (or not).
    EpochsRewritten(bool),
}

/// A recovered state.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub tree: Tree,
    pub sessions: Vec<(i64, i32)>,
    pub accepted: i64,
    pub current: i64,
    /// The last replayed entries (zxid, marshalled entry), at most
    /// `commit_log_count`.
    pub tail: VecDeque<(i64, Bytes)>,
    pub replayed: usize,
    /// A torn tail was cut (bytes).
    pub torn_bytes: usize,
}

/// What the log holds from a zxid's file on (`storage::log_from`).
#[derive(Debug, Default, Clone)]
pub struct LogRange {
    pub first_zxid: Option<i64>,
    pub storage_size: u64,
    pub txns: Vec<(i64, Bytes)>,
}

struct LogFile {
    start: i64,
    bytes: Vec<u8>,
    synced: usize,
    /// Each record's zxid and end, as written (rising zxids).
    index: Vec<(i64, usize)>,
}

impl LogFile {
    /// Rebuilds the index from the bytes (after a cut).
    fn reindex(&mut self) {
        self.index.clear();
        if let Ok((_, mut r)) = txnlog::LogReader::new(&self.bytes) {
            while let Some(rec) = r.next_record() {
                self.index.push((rec.txn.hdr.zxid, rec.end as usize));
            }
        }
    }
}

struct Snap {
    zxid: i64,
    tree: Arc<Tree>,
    sessions: Vec<(i64, i32)>,
}

enum Op {
    Sync {
        /// The file's first zxid (files come and go: not an index).
        file: i64,
        len: usize,
        last: i64,
    },
    Fail(String),
    /// The batch that filled the log is synced: the next one opens a new
    /// file, and a snapshot is due (the log core rolls after the fsync).
    Roll,
    Snapshot(Snap),
    /// A snapshot that closes a gap (a learner's SNAP) is durable; the
    /// logs it covers go next.
    GapSnapshot(Snap),
    /// ... and they are gone: the log core goes on.
    GapRemove(i64),
    /// An instant snapshot's report.
    Snapshotted(i64),
    Epoch {
        accepted: bool,
        epoch: i64,
    },
    Truncate {
        to: i64,
        reload: bool,
    },
    Rewrite {
        accepted: i64,
        current: i64,
    },
}

/// Fault and work counts.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskStats {
    pub appends: u64,
    pub fsyncs: u64,
    pub enospc: u64,
    pub dropped_batches: u64,
    pub torn_crashes: u64,
    pub lost_bytes: u64,
    pub corrupt_reads: u64,
    pub snapshots: u64,
    pub skipped_snapshots: u64,
    pub truncations: u64,
    pub rolls: u64,
}

pub struct MemDisk {
    pub p: DiskParams,
    files: Vec<LogFile>,
    /// Whether appends go to a new file (after a roll or a truncation).
    roll: bool,
    snaps: Vec<Snap>,
    accepted: i64,
    current: i64,
    /// The zxid the next batch must start with (the log core's rule).
    next_zxid: Option<i64>,
    /// The disk is full until then.
    full_until: u64,
    /// Faults strike (ENOSPC, corrupt reads); off once the faults stop.
    pub faults: bool,
    /// A snapshot is being written.
    snapping: bool,
    /// A truncation cut the log while a snapshot was written: one past
    /// this zxid is removed as it lands (the log core waits for it, then
    /// the cut removes it).
    cancel_above: Option<i64>,
    /// A snapshot that closes a gap is being written: the log core takes
    /// nothing else until it is done (see [`MemDisk::gap_open`]).
    gap: bool,
    count: u64,
    sync_at: u64,
    q: Sched<Op>,
    pub stats: DiskStats,
}

impl MemDisk {
    pub fn new(p: DiskParams) -> MemDisk {
        MemDisk {
            p,
            files: Vec::new(),
            roll: true,
            snaps: Vec::new(),
            accepted: 0,
            current: 0,
            next_zxid: None,
            full_until: 0,
            faults: true,
            snapping: false,
            cancel_above: None,
            gap: false,
            count: 0,
            sync_at: 0,
            q: Sched::default(),
            stats: DiskStats::default(),
        }
    }

    pub fn next_time(&self) -> Option<u64> {
        self.q.next_time()
    }

    /// The epochs on disk (accepted, current).
    pub fn epochs(&self) -> (i64, i64) {
        (self.accepted, self.current)
    }

    fn fsync_delay(&mut self, rng: &mut Rng, now: u64) -> u64 {
        let when = (now + rng.range(1, self.p.fsync_max_ms.max(1))).max(self.sync_at);
        self.sync_at = when;
        when
    }

    /// The log core's `Append`: written now (page cache), durable when
    /// the fsync completes; or failed (ENOSPC), or dropped when built on a
    /// failed batch. Returns whether it was written.
    pub fn append(&mut self, rng: &mut Rng, now: u64, txns: &[(Txn, TxnDigest)]) -> bool {
        let Some((head, _)) = txns.first() else {
            return false;
        };
        let first = head.hdr.zxid;
        let epoch = |z: i64| z >> 32;
        if self
            .next_zxid
            .is_some_and(|n| first != n && epoch(first) <= epoch(n))
        {
            self.stats.dropped_batches += 1;
            return false;
        }
        self.stats.appends += 1;
        if self.faults && (now < self.full_until || rng.chance(self.p.enospc)) {
            if now >= self.full_until {
                self.full_until = now + rng.range(5, 300);
            }
            self.stats.enospc += 1;
            self.next_zxid = Some(first);
            let when = self.fsync_delay(rng, now);
            self.q.at(when, Op::Fail("No space left on device".into()));
            return false;
        }
        if self.roll || self.files.is_empty() {
            let mut b = BytesMut::new();
            txnlog::write_header(&mut b, 0);
            self.files.push(LogFile {
                start: first,
                bytes: b.to_vec(),
                synced: 0,
                index: Vec::new(),
            });
            self.roll = false;
        }
        let f = self.files.len() - 1;
        let mut buf = BytesMut::new();
        let mut last = first;
        let base = self.files[f].bytes.len();
        for (t, d) in txns {
            txnlog::write_record(&mut buf, t, Some(d));
            last = t.hdr.zxid;
            self.files[f].index.push((last, base + buf.len()));
        }
        self.files[f].bytes.extend_from_slice(&buf);
        self.next_zxid = Some(last + 1);
        let len = self.files[f].bytes.len();
        let when = self.fsync_delay(rng, now);
        let file = self.files[f].start;
        self.q.at(when, Op::Sync { file, len, last });
        self.count += txns.len() as u64;
        if self.count > self.p.snap_count.max(2) / 2 {
            self.count = 0;
            self.q.at(when, Op::Roll);
        }
        true
    }

    /// Whether a snapshot that closes a gap is being written: the log
    /// core holds every later message (appends, snapshots, truncations)
    /// until it is durable and the logs it covers are removed.
    pub fn gap_open(&self) -> bool {
        self.gap
    }

    /// A snapshot of this version, durable once written; skipped while
    /// another is being written, as the log core does ("too busy to
    /// snap"). One that `closes_gap` rolls the log, is never skipped, and
    /// removes the logs it covers once durable (`storage::
    /// remove_logs_covered_by`); a crash may fall between the two.
    pub fn snapshot(
        &mut self,
        rng: &mut Rng,
        now: u64,
        tree: Arc<Tree>,
        sessions: Vec<(i64, i32)>,
        closes_gap: bool,
    ) {
        let zxid = tree.last_zxid;
        if closes_gap {
            self.gap = true;
            self.roll = true;
            // As the log core: the snapshot is the next batch's base.
            self.next_zxid = None;
            let when = self.fsync_delay(rng, now) + rng.range(1, 20);
            self.sync_at = when;
            self.q.at(
                when,
                Op::GapSnapshot(Snap {
                    zxid,
                    tree,
                    sessions,
                }),
            );
            return;
        }
        if self.p.instant_snapshots {
            self.stats.snapshots += 1;
            self.snaps.push(Snap {
                zxid,
                tree,
                sessions,
            });
            self.snaps.sort_by_key(|s| s.zxid);
            self.q.at(now, Op::Snapshotted(zxid));
            return;
        }
        if self.snapping {
            self.stats.skipped_snapshots += 1;
            return;
        }
        self.snapping = true;
        let when = now + rng.range(1, 20);
        self.q.at(
            when,
            Op::Snapshot(Snap {
                zxid,
                tree,
                sessions,
            }),
        );
    }

    /// Writes an epoch file (with its fsync).
    pub fn persist_epoch(&mut self, rng: &mut Rng, now: u64, accepted: bool, epoch: i64) {
        let when = now + rng.range(1, self.p.fsync_max_ms.max(1));
        self.q.at(when, Op::Epoch { accepted, epoch });
    }

    /// Rewrites both epoch files.
    pub fn rewrite_epochs(&mut self, rng: &mut Rng, now: u64, accepted: i64, current: i64) {
        let when = now + rng.range(1, self.p.fsync_max_ms.max(1));
        self.q.at(when, Op::Rewrite { accepted, current });
    }

    /// Cuts the log after `to` (later, with what is queued before it).
    pub fn truncate(&mut self, rng: &mut Rng, now: u64, to: i64, reload: bool) {
        let when = self.fsync_delay(rng, now);
        self.q.at(when, Op::Truncate { to, reload });
    }

    /// The next finished operation due at or before `now`.
    pub fn pop_due(&mut self, rng: &mut Rng, now: u64) -> Option<Done> {
        loop {
            let op = self.q.pop_due(now)?;
            match op {
                Op::Sync { file, len, last } => {
                    if let Some(f) = self.files.iter_mut().rev().find(|f| f.start == file) {
                        if f.bytes.len() >= len {
                            f.synced = f.synced.max(len);
                            self.stats.fsyncs += 1;
                            return Some(Done::Durable(last));
                        }
                    }
                }
                Op::Roll => {
                    self.roll = true;
                    self.stats.rolls += 1;
                    return Some(Done::SnapshotDue);
                }
                Op::Fail(why) => return Some(Done::Failed(why)),
                Op::Snapshot(s) => {
                    self.snapping = false;
                    if std::mem::take(&mut self.cancel_above).is_some_and(|to| s.zxid > to) {
                        continue;
                    }
                    let zxid = s.zxid;
                    self.stats.snapshots += 1;
                    self.snaps.push(s);
                    self.snaps.sort_by_key(|s| s.zxid);
                    return Some(Done::Snapshotted(zxid));
                }
                Op::GapSnapshot(s) => {
                    let zxid = s.zxid;
                    self.stats.snapshots += 1;
                    self.snaps.push(s);
                    self.snaps.sort_by_key(|s| s.zxid);
                    let when = now + rng.below(3);
                    self.q.at(when, Op::GapRemove(zxid));
                }
                Op::GapRemove(zxid) => {
                    self.remove_covered(zxid);
                    self.gap = false;
                    return Some(Done::Snapshotted(zxid));
                }
                Op::Epoch { accepted, epoch } => {
                    if accepted {
                        self.accepted = epoch;
                    } else {
                        self.current = epoch;
                    }
                    return Some(Done::EpochWritten {
                        accepted,
                        epoch,
                        result: Ok(()),
                    });
                }
                Op::Snapshotted(zxid) => return Some(Done::Snapshotted(zxid)),
                Op::Rewrite { accepted, current } => {
                    self.accepted = accepted;
                    self.current = current;
                    return Some(Done::EpochsRewritten(true));
                }
                Op::Truncate { to, reload } => {
                    self.stats.truncations += 1;
                    self.cut_after(to);
                    let result = if reload {
                        self.recover(rng, false).map(Some)
                    } else {
                        Ok(None)
                    };
                    return Some(Done::Truncated { to, result });
                }
            }
        }
    }

    /// `storage::truncate_log`: the file holding `to` is cut right after
    /// it (and synced), later files and newer snapshots are removed.
    fn cut_after(&mut self, to: i64) {
        while self.files.last().is_some_and(|f| f.start > to) {
            self.files.pop();
        }
        if let Some(f) = self.files.last_mut() {
            let mut end = None;
            let mut valid = txnlog::FileHeader::LEN;
            if let Ok((_, mut r)) = txnlog::LogReader::new(&f.bytes) {
                while let Some(rec) = r.next_record() {
                    if rec.txn.hdr.zxid > to {
                        break;
                    }
                    end = Some(rec.end as usize);
                }
                valid = r.valid_end() as usize;
            }
            let end = end.unwrap_or(valid.min(f.bytes.len()));
            f.bytes.truncate(end);
            f.synced = end;
            f.reindex();
        }
        self.snaps.retain(|s| s.zxid <= to);
        if self.snapping {
            self.cancel_above = Some(to);
        }
        self.roll = true;
        self.next_zxid = None;
        // Appends in flight were written before the cut: their fsyncs
        // report nothing past it (`Sync` checks the length).
    }

    /// `storage::remove_logs_covered_by`: the files before the newest one
    /// starting at or below `zxid`, and that one when it holds nothing
    /// past `zxid`.
    fn remove_covered(&mut self, zxid: i64) {
        let Some(last) = self.files.iter().rposition(|f| f.start <= zxid) else {
            return;
        };
        let past = self.files[last].index.iter().any(|&(z, _)| z > zxid);
        let n = if past { last } else { last + 1 };
        self.files.drain(..n);
    }

    /// The log core's last fsync on the way out: everything written is
    /// durable.
    pub fn flush(&mut self) {
        for f in &mut self.files {
            f.synced = f.bytes.len();
        }
    }

    /// A crash: each file keeps what was synced and, unless the fsyncs
    /// were lost outright, a random byte prefix of the rest (torn); the
    /// operations in flight never finish.
    pub fn crash(&mut self, rng: &mut Rng) {
        let torn = rng.chance(self.p.torn);
        if torn {
            self.stats.torn_crashes += 1;
        }
        for f in &mut self.files {
            let unsynced = f.bytes.len() - f.synced;
            let keep = if torn && unsynced > 0 {
                f.synced + rng.below(unsynced as u64 + 1) as usize
            } else {
                f.synced
            };
            self.stats.lost_bytes += (f.bytes.len() - keep) as u64;
            if keep < f.bytes.len() {
                f.bytes.truncate(keep);
                f.index.retain(|&(_, end)| end <= keep);
            }
            f.synced = keep;
        }
        // A log file whose header never reached the disk holds nothing.
        self.files
            .retain(|f| f.bytes.len() >= txnlog::FileHeader::LEN);
        self.q = Sched::default();
        self.snapping = false;
        self.cancel_above = None;
        self.gap = false;
        self.roll = true;
        self.next_zxid = None;
        self.full_until = 0;
        self.sync_at = 0;
        self.count = 0;
    }

    /// `storage::recover`; `Err` when start-up must stop (a damaged
    /// record that is not a torn tail, or a read that came back corrupt).
    pub fn recover(&mut self, rng: &mut Rng, faults: bool) -> Result<Recovered, String> {
        let (mut tree, mut sessions, snap_zxid) = match self.snaps.last() {
            Some(s) => {
                let mut t = (*s.tree).clone();
                t.last_zxid = s.zxid;
                (t, s.sessions.clone(), Some(s.zxid))
            }
            None => (Tree::new(), Vec::new(), None),
        };
        let snap_zxid = snap_zxid.unwrap_or(0);
        // The newest file starting at or before the snapshot, and later.
        let from = self
            .files
            .iter()
            .rposition(|f| f.start <= snap_zxid)
            .unwrap_or(0);
        let corrupt = faults && self.faults && rng.chance(self.p.corrupt_read);
        let mut tail = VecDeque::new();
        let mut replayed = 0;
        let mut torn_bytes = 0;
        let n = self.files.len();
        let mut scratch = Vec::new();
        for (i, f) in self.files.iter_mut().enumerate().skip(from) {
            let mut bytes = f.bytes.clone();
            let mut damaged_at = None;
            if corrupt && bytes.len() > txnlog::FileHeader::LEN + 20 {
                // Damage one byte of a record (not its tail: a flipped
                // checksum or body byte).
                let at = txnlog::FileHeader::LEN + 12 + rng.below(8) as usize;
                bytes[at] ^= 0x5a;
                damaged_at = Some(at);
                self.stats.corrupt_reads += 1;
            }
            let (_, mut r) = txnlog::LogReader::new(&bytes)
                .map_err(|e| format!("log.{:x}: broken header: {e}", f.start))?;
            while let Some(rec) = r.next_record() {
                if rec.txn.hdr.zxid <= tree.last_zxid {
                    continue;
                }
                track_sessions(&mut sessions, &rec.txn);
                tree.apply(&rec.txn, &mut scratch);
                scratch.clear();
                replayed += 1;
                if tail.len() == self.p.commit_log_count.max(1) {
                    tail.pop_front();
                }
                tail.push_back((
                    rec.txn.hdr.zxid,
                    txnlog::marshall_entry(&rec.txn, rec.digest.as_ref()),
                ));
            }
            let t = r.tail().cloned().unwrap_or(txnlog::LogTail::Eof);
            if !t.is_clean() {
                let torn = matches!(t, txnlog::LogTail::Torn(_));
                if !torn || i + 1 < n {
                    return Err(format!(
                        "log.{:x}: damaged at {}: {t:?}",
                        f.start,
                        r.valid_end()
                    ));
                }
                // A torn tail of the last log: cut it, as recovery does,
                // at the end of what it read whole. A damaged read cuts
                // too when the damage lies in the torn record (its length
                // field is whole, so the read sees the same torn tail):
                // `storage::recover` cuts what its read shows, and the
                // disk before the damage is what it read. (Left in place,
                // the torn record stayed when a later log followed it, and
                // no start-up read that log again: seed 48080.)
                let end = r.valid_end() as usize;
                if damaged_at.is_none_or(|d| d >= end) {
                    torn_bytes = f.bytes.len() - end;
                    f.bytes.truncate(end);
                    f.synced = f.synced.min(end);
                    f.index.retain(|&(_, e)| e <= end);
                }
            }
        }
        if !tail.is_empty() && replayed == 0 {
            tail.clear();
        }
        // `storage::recover`: a snapshot whose own txn no log holds came
        // from a leader's SNAP; the logs it covers go.
        let logged = |z: i64| {
            self.files
                .iter()
                .any(|f| f.index.binary_search_by_key(&z, |&(x, _)| x).is_ok())
        };
        if snap_zxid > 0 && !logged(snap_zxid) {
            self.remove_covered(snap_zxid);
        }
        Ok(Recovered {
            tree,
            sessions,
            accepted: self.accepted,
            current: self.current,
            tail,
            replayed,
            torn_bytes,
        })
    }

    /// What the log holds from the file holding `zxid` on
    /// (`storage::log_from`), with `size_limit` as a DIFF's limit; a
    /// corrupt read gives nothing (the driver answers a default).
    pub fn read_log(&mut self, rng: &mut Rng, zxid: i64, size_limit: i64) -> LogRange {
        let from = self
            .files
            .iter()
            .rposition(|f| f.start <= zxid)
            .unwrap_or(0);
        let mut out = LogRange::default();
        for f in self.files.iter().skip(from) {
            out.storage_size += f.bytes.len() as u64;
        }
        if size_limit > 0 && out.storage_size > size_limit as u64 {
            return out;
        }
        if self.faults && rng.chance(self.p.corrupt_read) {
            self.stats.corrupt_reads += 1;
            return LogRange::default();
        }
        for f in self.files.iter().skip(from) {
            let Ok((_, mut r)) = txnlog::LogReader::new(&f.bytes) else {
                continue;
            };
            while let Some(rec) = r.next_record() {
                out.first_zxid.get_or_insert(rec.txn.hdr.zxid);
                out.txns.push((
                    rec.txn.hdr.zxid,
                    txnlog::marshall_entry(&rec.txn, rec.digest.as_ref()),
                ));
            }
        }
        out
    }

    /// The newest snapshot's size on disk, roughly (for the DIFF limit).
    pub fn newest_snapshot_size(&self) -> u64 {
        self.snaps.last().map_or(0, |s| {
            s.tree
                .nodes()
                .map(|(p, n)| 60 + p.len() as u64 + n.data().map_or(0, |d| d.len() as u64))
                .sum()
        })
    }

    /// Whether the txn at `zxid` is in the log and synced.
    pub fn is_durable(&self, zxid: i64) -> bool {
        self.files.iter().rev().any(|f| {
            f.start <= zxid
                && f.index
                    .binary_search_by_key(&zxid, |&(z, _)| z)
                    .is_ok_and(|i| f.index[i].1 <= f.synced)
        })
    }
}

/// The session table as `processTxn` changes it (`storage`'s own rule).
fn track_sessions(sessions: &mut Vec<(i64, i32)>, t: &Txn) {
    let client = t.hdr.client_id;
    match &t.body {
        TxnBody::CreateSession(c) if t.hdr.op == op::CREATE_SESSION => {
            sessions.retain(|(s, _)| *s != client);
            sessions.push((client, c.time_out));
        }
        TxnBody::CloseSession(_) => sessions.retain(|(s, _)| *s != client),
        _ => {}
    }
}
