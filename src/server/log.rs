//! The log core: appends txns to the txn log with one write and one
//! fdatasync per batch (group commit), through glommio's io_uring files;
//! writes snapshots of frozen tree versions on a helper thread; runs the
//! purge timer.
//!
//! Every txn that arrives while an fdatasync is in flight joins the next
//! batch, so batches grow with load and there is no timer delay at low
//! load. It answers the sequencer with the zxid that is durable.

use crate::replica::msg::{FromLog, ToLog};
use crate::storage::snapshot::Compression;
use crate::storage::txnlog::{self, FilePadding};
use crate::storage::{self, Dirs};
use bytes::BytesMut;
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use glommio::io::BufferedFile;
use shards::mailbox::Mailbox;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The log core's settings (zoo.cfg keys in brackets).
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// [forceSync]
    pub force_sync: bool,
    /// [preAllocSize], in bytes.
    pub prealloc: u64,
    /// [fsync.warningthresholdms]
    pub fsync_warn_ms: u64,
    /// [snapCount]
    pub snap_count: u64,
    /// [snapSizeLimitInKb], in bytes; 0 is off.
    pub snap_size_limit: u64,
    /// [snapshot.compression.method]
    pub compression: Compression,
    /// [autopurge.snapRetainCount]
    pub retain: usize,
    /// [autopurge.purgeInterval], in hours; 0 is off.
    pub purge_interval_hours: u64,
    /// [zookeeper.digest.enabled]: each record carries the tree's digest
    /// after its txn, as ZooKeeper 3.8 writes it.
    pub digest: bool,
}

/// ZooKeeper's snapshot trigger, with its random roll so that servers of
/// one ensemble do not all snapshot at once.
#[derive(Debug)]
pub struct SnapTrigger {
    count: u64,
    size: u64,
    roll_count: u64,
    roll_size: u64,
    snap_count: u64,
    size_limit: u64,
    seed: u64,
}

impl SnapTrigger {
    pub fn new(snap_count: u64, size_limit: u64, seed: u64) -> SnapTrigger {
        let mut t = SnapTrigger {
            count: 0,
            size: 0,
            roll_count: 0,
            roll_size: 0,
            snap_count: snap_count.max(2),
            size_limit,
            seed: seed | 1,
        };
        t.reroll();
        t
    }

    fn rand(&mut self, bound: u64) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        if bound == 0 {
            0
        } else {
            self.seed % bound
        }
    }

    fn reroll(&mut self) {
        self.roll_count = self.rand(self.snap_count / 2);
        self.roll_size = self.rand(self.size_limit / 2);
    }

    /// Counts appended txns and bytes; true when a snapshot is due (then
    /// the counters restart with a new roll).
    pub fn add(&mut self, txns: u64, bytes: u64) -> bool {
        self.count += txns;
        self.size += bytes;
        let due = self.count > self.snap_count / 2 + self.roll_count
            || (self.size_limit > 0 && self.size > self.size_limit / 2 + self.roll_size);
        if due {
            self.count = 0;
            self.size = 0;
            self.reroll();
        }
        due
    }
}

/// A frozen tree version and the sessions, to snapshot.
type Version = (std::sync::Arc<crate::data::tree::Tree>, Vec<(i64, i32)>);

struct LogFile {
    file: BufferedFile,
    pos: u64,
    padding: FilePadding,
}

async fn open_log(dirs: &Dirs, first_zxid: i64, prealloc: u64) -> std::io::Result<LogFile> {
    let path = dirs.log.join(txnlog::log_file_name(first_zxid));
    let file = BufferedFile::create(&path).await?;
    let mut hdr = BytesMut::new();
    txnlog::write_header(&mut hdr, 0);
    let mut lf = LogFile {
        file,
        pos: 0,
        padding: FilePadding::new(prealloc),
    };
    write_all(&mut lf, hdr.to_vec()).await?;
    Ok(lf)
}

async fn write_all(lf: &mut LogFile, buf: Vec<u8>) -> std::io::Result<()> {
    if let Some(size) = lf.padding.pad(lf.pos + buf.len() as u64) {
        // ZooKeeper extends the file with zeros in preAllocSize steps.
        if lf.file.pre_allocate(size, false).await.is_err() {
            lf.file.write_at(vec![0], size - 1).await?;
        }
    }
    let mut off = 0;
    while off < buf.len() {
        let n = lf
            .file
            .write_at(buf[off..].to_vec(), lf.pos + off as u64)
            .await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "wrote nothing",
            ));
        }
        off += n;
    }
    lf.pos += buf.len() as u64;
    Ok(())
}

/// Runs the log core until the sequencer goes away.
pub async fn run(s: LogSettings, dirs: Dirs, rx: SharedReceiver<ToLog>, tx: SharedSender<FromLog>) {
    let inbox: Rc<Mailbox<ToLog>> = Rc::new(Mailbox::new());
    {
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            let rx = rx.connect().await;
            while let Some(m) = rx.recv().await {
                inbox.push(m);
            }
            inbox.close();
        })
        .detach();
    }
    let tx = Rc::new(tx.connect().await);
    if s.purge_interval_hours > 0 {
        let dirs = dirs.clone();
        let retain = s.retain;
        let every = Duration::from_secs(s.purge_interval_hours * 3600);
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(every).await;
                let dirs = dirs.clone();
                let _ = std::thread::Builder::new()
                    .name("purge".into())
                    .spawn(move || match storage::purge(&dirs, retain) {
                        Ok(p) => tracing::info!(
                            snapshots = p.snapshots.len(),
                            logs = p.logs.len(),
                            "purge done"
                        ),
                        Err(e) => tracing::error!(error = %e, "purge failed"),
                    });
            }
        })
        .detach();
    }
    let mut current: Option<LogFile> = None;
    let seed = super::now_ms() as u64 ^ std::process::id() as u64;
    let mut trigger = SnapTrigger::new(s.snap_count, s.snap_size_limit, seed);
    let mut failed = false;
    // The zxid the next batch must start with. After a failed write the
    // sequencer goes back to the last durable zxid and starts again from
    // the failed batch's first zxid: batches it built on the failed one,
    // already queued here, are stale and must never reach the log (their
    // zxids are about to be given to other txns).
    let mut next_zxid: Option<i64> = None;
    // Whether a snapshot thread is running.
    let snapping = Rc::new(std::cell::Cell::new(false));
    // A snapshot that closes a gap in the log (a learner's SNAP), taken
    // once what came before it is written.
    let mut gap: Option<Version> = None;
    // That snapshot failed: nothing is appended (it would follow the gap)
    // until the sequencer cuts the log back.
    let mut refusing = false;
    loop {
        if let Some((tree, sessions)) = gap.take() {
            let r = close_gap(&s, &dirs, &mut current, &snapping, tree, sessions).await;
            let sent = match r {
                Ok(zxid) => tx.send(FromLog::Snapshotted(zxid)).await.is_ok(),
                Err(e) => {
                    refusing = true;
                    report_failure(&tx, &mut failed, e).await;
                    true
                }
            };
            if !sent {
                finish(current.take(), &snapping).await;
                return;
            }
        }
        inbox.ready().await;
        if inbox.is_closed() && inbox.is_empty() {
            // The sequencer is gone (a graceful shutdown): everything it
            // sent is written.
            finish(current.take(), &snapping).await;
            return;
        }
        let mut buf = BytesMut::new();
        let mut first = None;
        let mut last = None;
        let mut count = 0u64;
        let mut snapshots = Vec::new();
        while let Some(m) = inbox.pop() {
            match m {
                ToLog::Append(txns) => {
                    let Some((head, _)) = txns.first() else {
                        continue;
                    };
                    if refusing {
                        tracing::debug!(
                            zxid = head.hdr.zxid,
                            "dropping a batch past a gap no snapshot holds"
                        );
                        continue;
                    }
                    // A new epoch starts its own count (a leader's first
                    // txn, or a learner's first proposal, of an epoch).
                    let epoch = crate::quorum::epoch_of;
                    if next_zxid
                        .is_some_and(|n| head.hdr.zxid != n && epoch(head.hdr.zxid) <= epoch(n))
                    {
                        tracing::debug!(
                            zxid = head.hdr.zxid,
                            txns = txns.len(),
                            "dropping a batch built on a failed one"
                        );
                        continue;
                    }
                    for (t, d) in &txns {
                        first.get_or_insert(t.hdr.zxid);
                        last = Some(t.hdr.zxid);
                        txnlog::write_record(&mut buf, t, s.digest.then_some(d));
                        count += 1;
                    }
                    next_zxid = last.map(|l| l + 1);
                }
                ToLog::Snapshot {
                    tree,
                    sessions,
                    closes_gap: false,
                } => snapshots.push((tree, sessions)),
                ToLog::Snapshot {
                    tree,
                    sessions,
                    closes_gap: true,
                } => {
                    // What came before it is written first; what comes
                    // after it waits in the inbox until it is durable.
                    // The snapshot is the new base: the next batch follows
                    // it, not the log's old end (a learner SNAPped within
                    // its log's epoch, an observer by its observer master
                    // say, had every later txn dropped as "built on a
                    // failed one", and lost them at its next restart: the
                    // replica simulation's observer master seed 5505).
                    next_zxid = None;
                    gap = Some((tree, sessions));
                    break;
                }
                ToLog::Truncate { to, reload } => {
                    refusing = false;
                    // Only between leaders: nothing is being appended.
                    if !buf.is_empty() {
                        tracing::warn!("a truncation with appends in flight; they go first");
                    }
                    if let Some(lf) = current.take() {
                        let _ = lf.file.close().await;
                    }
                    // A snapshot being written may be of a version past
                    // `to`: it lands first, and the cut removes it.
                    snapshot_idle(&snapping).await;
                    let r = storage::truncate_log(&dirs, to).map_err(|e| e.to_string());
                    match &r {
                        Ok(()) => tracing::info!(zxid = format!("0x{to:x}"), "txn log truncated"),
                        Err(e) => tracing::error!(error = %e, "cannot truncate the txn log"),
                    }
                    next_zxid = None;
                    // The tree held more than the log keeps: reload it
                    // here, off the sequencer.
                    let r = match r {
                        Ok(()) if reload => match storage::recover(&dirs, true) {
                            Ok(rec) => Ok(Some(Box::new(crate::replica::Reloaded {
                                tree: rec.tree,
                                sessions: rec.sessions,
                            }))),
                            Err(e) => Err(format!("cannot reload after TRUNC: {e}")),
                        },
                        Ok(()) => Ok(None),
                        Err(e) => Err(e),
                    };
                    if tx.send(FromLog::Truncated(to, r)).await.is_err() {
                        return;
                    }
                }
            }
        }
        for (tree, sessions) in snapshots {
            // One snapshot at a time, as ZooKeeper's SyncRequestProcessor:
            // under load a new one can fall due before the last is
            // written, and piling up threads (each holding a version of
            // the tree) helps no one. The log has rolled all the same.
            if snapping.get() {
                tracing::warn!(
                    zxid = format!("0x{:x}", tree.last_zxid),
                    "too busy to snap, skipping"
                );
                continue;
            }
            snapping.set(true);
            let done = snapping.clone();
            let dirs = dirs.clone();
            let compression = s.compression;
            let tx2 = tx.clone();
            glommio::spawn_local(async move {
                let r = write_snapshot(dirs, compression, tree, sessions, false).await;
                done.set(false);
                match r {
                    Ok(zxid) => {
                        let _ = tx2.send(FromLog::Snapshotted(zxid)).await;
                    }
                    Err(e) => tracing::error!(error = %e, "snapshot failed"),
                }
            })
            .detach();
        }
        let (Some(first), Some(last)) = (first, last) else {
            continue;
        };
        if current.is_none() {
            match open_log(&dirs, first, s.prealloc).await {
                Ok(f) => current = Some(f),
                Err(e) => {
                    // No log file without its header: remove what the
                    // failed create left (the retry uses the same name).
                    let _ = std::fs::remove_file(dirs.log.join(txnlog::log_file_name(first)));
                    next_zxid = Some(first);
                    report_failure(&tx, &mut failed, format!("cannot create a txn log: {e}")).await;
                    continue;
                }
            }
        }
        let Some(lf) = current.as_mut() else { continue };
        let before = lf.pos;
        let bytes = buf.len() as u64;
        let mut result = write_all(lf, buf.to_vec()).await;
        if result.is_ok() && s.force_sync {
            let t0 = Instant::now();
            result = lf.file.fdatasync().await.map_err(std::io::Error::from);
            let took = t0.elapsed();
            let ms = took.as_millis() as u64;
            crate::admin::counters::LOG.fsync(took.as_micros() as u64, ms > s.fsync_warn_ms);
            if ms > s.fsync_warn_ms {
                tracing::warn!(
                    ms,
                    "fsync-ing the write ahead log took longer than fsync.warningthresholdms"
                );
            }
        }
        match result {
            Ok(()) => {
                crate::admin::counters::LOG.batch(count);
                if failed {
                    tracing::info!("the txn log is writable again");
                    failed = false;
                }
                if tx.send(FromLog::Durable(last)).await.is_err() {
                    finish(current.take(), &snapping).await;
                    return;
                }
                if trigger.add(count, bytes) {
                    // Roll: the next batch opens a new log, and the sequencer
                    // sends the version to snapshot.
                    current = None;
                    let _ = tx.send(FromLog::SnapshotDue).await;
                }
            }
            Err(e) => {
                // Cut back what this batch may have left, so the log ends on
                // a whole record; the sequencer drops the batch.
                let _ = lf.file.truncate(before).await;
                lf.pos = before;
                next_zxid = Some(first);
                report_failure(&tx, &mut failed, format!("txn log write failed: {e}")).await;
            }
        }
    }
}

/// A learner synced by SNAP: its log stops short of the snapshot. The log
/// rolls (what follows goes to a new file), the snapshot is written (after
/// any other being written), and the logs it covers are removed, so that
/// neither a restart nor a DIFF read crosses the gap. The caller holds
/// every later message until this returns: the snapshot's zxid, or why it
/// could not be written.
async fn close_gap(
    s: &LogSettings,
    dirs: &Dirs,
    current: &mut Option<LogFile>,
    snapping: &std::cell::Cell<bool>,
    tree: std::sync::Arc<crate::data::tree::Tree>,
    sessions: Vec<(i64, i32)>,
) -> Result<i64, String> {
    if let Some(lf) = current.take() {
        let _ = lf.file.close().await;
    }
    snapshot_idle(snapping).await;
    write_snapshot(dirs.clone(), s.compression, tree, sessions, true).await
}

/// Writes a snapshot of `tree` on a plain thread (serialising a big tree
/// takes a while; neither reads nor writes wait for it), and, when it
/// closes a gap, removes the logs it covers. Its zxid, or why not.
async fn write_snapshot(
    dirs: Dirs,
    compression: Compression,
    tree: std::sync::Arc<crate::data::tree::Tree>,
    sessions: Vec<(i64, i32)>,
    closes_gap: bool,
) -> Result<i64, String> {
    let zxid = tree.last_zxid;
    let (r, took) = on_thread("snapshot", move || {
        let t0 = Instant::now();
        let r =
            storage::write_snapshot(&dirs.snap, &tree, &sessions, compression).and_then(|path| {
                let removed = if closes_gap {
                    storage::remove_logs_covered_by(&dirs, zxid)?.len()
                } else {
                    0
                };
                Ok((path, removed))
            });
        (r, t0.elapsed())
    })
    .await?;
    let (path, removed) = r.map_err(|e| format!("the snapshot at 0x{zxid:x} failed: {e}"))?;
    crate::admin::counters::LOG
        .snapshot
        .add(took.as_micros() as u64);
    tracing::info!(
        file = %path.display(),
        ms = took.as_millis() as u64,
        removed_logs = removed,
        closes_gap,
        "snapshot written"
    );
    Ok(zxid)
}

/// Runs `work` on a plain thread and waits for it without blocking the
/// executor.
async fn on_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))?;
    while !handle.is_finished() {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    handle
        .join()
        .map_err(|_| format!("the {name} thread panicked"))
}

/// Waits until no snapshot is being written.
async fn snapshot_idle(snapping: &std::cell::Cell<bool>) {
    while snapping.get() {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// On the way out: waits for a snapshot being written (a half-written one
/// would only be skipped at the next start, but it is a waste), then syncs
/// and closes the current log (it matters with `forceSync=no`).
async fn finish(current: Option<LogFile>, snapping: &std::cell::Cell<bool>) {
    let t0 = Instant::now();
    snapshot_idle(snapping).await;
    if let Some(lf) = current {
        if let Err(e) = lf.file.fdatasync().await {
            tracing::error!(error = %e, "the last fsync of the txn log failed");
        }
        let _ = lf.file.close().await;
    }
    tracing::info!(
        ms = t0.elapsed().as_millis() as u64,
        "txn log flushed and closed"
    );
}

async fn report_failure(
    tx: &glommio::channels::shared_channel::ConnectedSender<FromLog>,
    failed: &mut bool,
    msg: String,
) {
    if !*failed {
        tracing::error!("{msg}; writes are not acknowledged until the log is writable again");
    }
    *failed = true;
    let _ = tx.send(FromLog::Failed(msg)).await;
}
