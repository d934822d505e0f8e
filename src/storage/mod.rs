//! The dataDir and dataLogDir: recovery, snapshots and purge, laid out as
//! ZooKeeper 3.8 lays them out (`version-2/log.<zxid>`,
//! `version-2/snapshot.<zxid>`).
//!
//! Owns ZooKeeper's `FileTxnSnapLog.restore` (newest valid snapshot, then
//! the logs after it; a torn tail of the last log is cut, corruption stops
//! start-up with [`StorageError::Corrupt`], and a broken snapshot is passed
//! over only when the logs cover the gap), writing a
//! snapshot of a frozen tree version, and `PurgeTxnLog`. Plain blocking
//! file I/O: it runs at start-up, on the snapshot thread and in
//! `corral purge`, never on a shard or the sequencer. Formats live in
//! `txnlog` and `snapshot`.

pub(crate) mod filemap;
pub mod snapshot;
pub mod txnlog;
use crate::data::digest::ZxidDigest;
use crate::data::tree::Tree;
use crate::data::txn::TxnBody;
use crate::protocol::jute::op;
use crate::storage::snapshot::Compression;
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the data directories could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Bad { path: String, message: String },
    #[error("{0}")]
    Corrupt(Corruption),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The two `version-2` directories.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub snap: PathBuf,
    pub log: PathBuf,
}

impl Dirs {
    /// `dataDir/version-2` and `dataLogDir/version-2`, created if missing.
    pub fn open(data_dir: &Path, data_log_dir: &Path) -> Result<Dirs, StorageError> {
        let snap = data_dir.join("version-2");
        let log = data_log_dir.join("version-2");
        std::fs::create_dir_all(&snap).map_err(io(&snap))?;
        std::fs::create_dir_all(&log).map_err(io(&log))?;
        Ok(Dirs { snap, log })
    }
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    pub tree: Tree,
    /// Live sessions and their timeouts.
    pub sessions: Vec<(i64, i32)>,
    /// The snapshot it started from, if any.
    pub snapshot_zxid: Option<i64>,
    /// Txns replayed from the logs.
    pub replayed: usize,
    /// A torn tail cut off the last log: (file, bytes removed).
    pub truncated: Option<(PathBuf, u64)>,
    /// How long loading the snapshot took, and then replaying the logs
    /// (ZooKeeper's `startup_snap_load_time`, `startup_txns_load_time`).
    pub snap_load: std::time::Duration,
    pub txns_load: std::time::Duration,
    /// The last replayed txns (at most `commitLogCount`), each as a
    /// PROPOSAL carries it: the committed log a quorum peer starts with,
    /// as ZooKeeper's `loadDataBase` fills `committedLog`.
    pub replayed_tail: VecDeque<(i64, Bytes)>,
}

/// Appends to a deque kept to its last `max` items.
fn push_bounded<T>(q: &mut VecDeque<T>, max: usize, item: T) {
    if q.len() >= max {
        q.pop_front();
    }
    q.push_back(item);
}

/// Applies a txn to the session table as ZooKeeper's `processTxn` does.
fn track_sessions(sessions: &mut Vec<(i64, i32)>, client: i64, body: &TxnBody, op_code: i32) {
    match body {
        TxnBody::CreateSession(c) if op_code == op::CREATE_SESSION => {
            sessions.retain(|(s, _)| *s != client);
            sessions.push((client, c.time_out));
        }
        TxnBody::CloseSession(_) => sessions.retain(|(s, _)| *s != client),
        _ => {}
    }
}

/// Where a log is damaged in a way a crash cannot explain, said in plain
/// words for the operator: start-up stops here rather than drop txns.
#[derive(Debug)]
pub struct Corruption {
    pub path: PathBuf,
    /// Where the damage starts (the header's offset 0 for a broken header).
    pub offset: u64,
    /// What is wrong there.
    pub why: String,
    /// The last txn recovered before the damage.
    pub last_zxid: i64,
    /// Valid records found in this file past the damage.
    pub beyond: txnlog::Beyond,
    /// Log files after this one.
    pub later_logs: usize,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the txn log {} is corrupt at byte {} ({}); the last good zxid is 0x{:x}, and {} valid record(s) lie beyond the damage",
            self.path.display(),
            self.offset,
            self.why,
            self.last_zxid,
            self.beyond.records,
        )?;
        if let (Some(at), Some(z)) = (self.beyond.first_offset, self.beyond.last_zxid) {
            write!(f, " (from byte {at}, up to zxid 0x{z:x})")?;
        }
        if self.later_logs > 0 {
            write!(f, ", and {} later log file(s) follow", self.later_logs)?;
        }
        write!(
            f,
            ". corral refuses to start rather than drop them: nothing was changed. \
             Repair bad checksums with `corral log-dump -r`, or keep only what precedes \
             the damage with `corral log-dump -c -z 0x{:x}` (ZooKeeper's TxnLogToolkit; \
             see docs/operations.md), or, on an ensemble member, move the data \
             directory aside so that the member syncs from the leader",
            self.last_zxid
        )
    }
}

/// A file that recovery removes or cuts, once every check has passed (a
/// refused start leaves the data directories as they were).
enum Repair {
    /// A log that holds no txns: its header never reached the disk.
    Remove(PathBuf),
    /// A torn tail: the last log is cut to `at`.
    Cut { path: PathBuf, at: u64 },
}

/// ZooKeeper's `loadDataBase`: newest valid snapshot, then the logs.
///
/// `trust_empty` is `snapshot.trust.empty`: without it, logs with no
/// snapshot are refused, as ZooKeeper refuses them.
///
/// Damage is told apart from a crash. A torn tail (the last log's last
/// record is partial and nothing valid follows it) is cut, with a warning
/// saying how much. A bad record with valid records after it, a damaged
/// record that is whole (its checksum fails), or a broken header on a log
/// that holds data stops recovery with [`StorageError::Corrupt`]. A
/// snapshot that does not read is passed over for an older one only when
/// the logs hold every txn from that older snapshot to the broken one.
pub fn recover(dirs: &Dirs, trust_empty: bool) -> Result<Recovered, StorageError> {
    recover_keeping(
        dirs,
        trust_empty,
        crate::quorum::zab::sync::DEFAULT_COMMIT_LOG_COUNT,
    )
}

/// [`recover`], keeping the last `tail` replayed txns
/// ([`Recovered::replayed_tail`]: `zookeeper.commitLogCount`).
pub fn recover_keeping(
    dirs: &Dirs,
    trust_empty: bool,
    tail: usize,
) -> Result<Recovered, StorageError> {
    let started = std::time::Instant::now();
    remove_snapshot_temps(&dirs.snap);
    let snaps =
        txnlog::list_files(&dirs.snap, snapshot::SNAPSHOT_FILE_PREFIX).map_err(io(&dirs.snap))?;
    let mut base: Option<snapshot::Snapshot> = None;
    let mut base_zxid = None;
    // Snapshots newer than the one loaded that could not be read.
    let mut broken: Vec<(i64, PathBuf, String)> = Vec::new();
    for (zxid, path) in snaps.iter().rev().take(100) {
        if !snapshot::is_valid_snapshot_file(path) {
            tracing::warn!(file = %path.display(), "skipping an invalid snapshot");
            broken.push((
                *zxid,
                path.clone(),
                "it fails the quick validity check".into(),
            ));
            continue;
        }
        match snapshot::read_snapshot_file(path) {
            Ok(s) => {
                tracing::info!(file = %path.display(), "loading snapshot");
                base = Some(s);
                base_zxid = Some(*zxid);
                break;
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "skipping an unreadable snapshot");
                broken.push((*zxid, path.clone(), e.to_string()));
            }
        }
    }
    if base.is_none() {
        if let Some((_, path, why)) = broken.first() {
            return Err(StorageError::Bad {
                path: dirs.snap.display().to_string(),
                message: format!(
                    "not able to find a valid snapshot: the newest, {}, does not read ({why}), \
                     and no older one does; nothing was changed",
                    path.display()
                ),
            });
        }
    }
    let snap_load = started.elapsed();
    let logs = txnlog::list_files(&dirs.log, txnlog::LOG_FILE_PREFIX).map_err(io(&dirs.log))?;
    if base.is_none() && !logs.is_empty() && !trust_empty {
        return Err(StorageError::Bad {
            path: dirs.snap.display().to_string(),
            message: "no snapshot found, but there are log entries; something is broken \
                      (set snapshot.trust.empty=true to start from the logs alone)"
                .into(),
        });
    }
    // A ZooKeeper snapshot is fuzzy: a node may name an ACL its ACL table
    // does not yet hold. The log's txn for that node supplies it.
    if let Some(snap) = base.as_mut().filter(|s| !s.unresolved_acls.is_empty()) {
        let snap_zxid = base_zxid.unwrap_or(0);
        let names: Vec<String> = txnlog::list_files(&dirs.log, txnlog::LOG_FILE_PREFIX)
            .map_err(io(&dirs.log))?
            .iter()
            .filter_map(|(_, p)| p.file_name().and_then(|n| n.to_str()).map(String::from))
            .collect();
        let mut txns = Vec::new();
        for (_, name) in txnlog::logs_to_replay(&names, snap_zxid) {
            let path = dirs.log.join(&name);
            if let Ok(bytes) = std::fs::read(&path) {
                if let Ok(log) = txnlog::read_log(&bytes) {
                    txns.extend(log.records.into_iter().map(|r| r.txn));
                }
            }
        }
        let left = snap.resolve_acls(txns.iter());
        for p in left {
            tracing::warn!(path = %p, "a snapshot node's ACL was not found in the logs; it keeps no access");
        }
    }
    let (mut tree, mut sessions) = match base {
        Some(s) => (s.tree, s.sessions),
        None => (Tree::new(), Vec::new()),
    };
    let snap_zxid = base_zxid.unwrap_or(0);
    if base_zxid.is_some() {
        tree.last_zxid = snap_zxid;
    }
    let names: Vec<String> = logs
        .iter()
        .filter_map(|(_, p)| p.file_name().and_then(|n| n.to_str()).map(String::from))
        .collect();
    let to_replay = txnlog::logs_to_replay(&names, snap_zxid);
    let mut replayed = 0;
    let mut repairs = Vec::new();
    let mut replayed_tail = VecDeque::new();
    let last_index = to_replay.len().saturating_sub(1);
    // Whether the logs hold the snapshot's own txn (see `log_gap` below).
    let mut snapshot_zxid_logged = false;
    for (i, (_, name)) in to_replay.iter().enumerate() {
        let path = dirs.log.join(name);
        let bytes = crate::storage::filemap::map(&path).map_err(io(&path))?;
        let later_logs = last_index - i;
        let mut reader = match txnlog::LogReader::new(&bytes) {
            Ok((_, r)) => r.skip_through(tree.last_zxid),
            Err(e) => {
                let body = bytes.get(txnlog::FileHeader::LEN..).unwrap_or_default();
                if body.iter().all(|b| *b == 0) {
                    // A log whose header never reached the disk (a crash,
                    // or a full disk, right after it was created) holds no
                    // txns.
                    tracing::warn!(file = %path.display(), error = %e, "removing a log without a header (it holds no txns)");
                    repairs.push(Repair::Remove(path.clone()));
                    continue;
                }
                return Err(StorageError::Corrupt(Corruption {
                    why: format!("broken header: {e}"),
                    offset: 0,
                    last_zxid: tree.last_zxid,
                    beyond: txnlog::records_beyond(&bytes, txnlog::FileHeader::LEN, tree.last_zxid),
                    later_logs,
                    path,
                }));
            }
        };
        // One record at a time: decoded, applied and dropped.
        let mut scratch = Vec::new();
        // Where this file's last replayed entries lie: copied once the
        // file is done, not one copy per replayed record.
        let mut spans: VecDeque<(i64, std::ops::Range<usize>)> = VecDeque::new();
        while let Some(rec) = reader.next_record() {
            if rec.txn.hdr.zxid <= tree.last_zxid {
                continue;
            }
            track_sessions(
                &mut sessions,
                rec.txn.hdr.client_id,
                &rec.txn.body,
                rec.txn.hdr.op,
            );
            tree.apply(&rec.txn, &mut scratch);
            scratch.clear();
            replayed += 1;
            // The record is crc (8 bytes), length (4), the entry, 'B'.
            push_bounded(
                &mut spans,
                tail,
                (
                    rec.txn.hdr.zxid,
                    rec.offset as usize + 12..rec.end as usize - 1,
                ),
            );
        }
        for (zxid, span) in spans {
            if let Some(entry) = bytes.get(span) {
                push_bounded(
                    &mut replayed_tail,
                    tail,
                    (zxid, Bytes::copy_from_slice(entry)),
                );
            }
        }
        if reader.last_skipped() == Some(snap_zxid) {
            snapshot_zxid_logged = true;
        }
        let tail = reader.tail().cloned().unwrap_or(txnlog::LogTail::Eof);
        let valid_end = reader.valid_end();
        if !tail.is_clean() {
            let beyond = txnlog::records_beyond(&bytes, valid_end as usize + 1, tree.last_zxid);
            let (torn, why) = match tail {
                txnlog::LogTail::Torn(w) => (true, format!("a partial record: {w}")),
                txnlog::LogTail::Corrupt(w) => (false, format!("a bad record: {w}")),
                txnlog::LogTail::Eof | txnlog::LogTail::Padding => (true, String::new()),
            };
            if !torn || beyond.records > 0 || later_logs > 0 {
                return Err(StorageError::Corrupt(Corruption {
                    path,
                    offset: valid_end,
                    why,
                    last_zxid: tree.last_zxid,
                    beyond,
                    later_logs,
                }));
            }
            repairs.push(Repair::Cut {
                path: path.clone(),
                at: valid_end,
            });
        }
    }
    // A broken snapshot is passed over only when the logs replayed from
    // the older one reach past it: no txn is lost between them.
    if let Some((newest_broken, path, why)) = broken.first() {
        let first_log = to_replay.first().map(|(z, _)| *z);
        let covered =
            first_log.is_some_and(|z| z <= snap_zxid + 1) && tree.last_zxid >= *newest_broken;
        if !covered {
            return Err(StorageError::Bad {
                path: path.display().to_string(),
                message: format!(
                    "this snapshot does not read ({why}), and the logs do not cover the gap \
                     from the older snapshot at 0x{snap_zxid:x} to 0x{newest_broken:x} \
                     (they hold txns {} to 0x{:x}); corral refuses to start rather than lose \
                     those txns: nothing was changed",
                    first_log.map_or("none".into(), |z| format!(
                        "from the log starting at 0x{z:x}"
                    )),
                    tree.last_zxid
                ),
            });
        }
        for (z, p, why) in &broken {
            tracing::warn!(
                file = %p.display(),
                error = %why,
                fallback = format!("0x{snap_zxid:x}"),
                "snapshot 0x{z:x} does not read; fell back to the older snapshot, and the logs cover every txn up to 0x{:x}",
                tree.last_zxid
            );
        }
    }
    let mut truncated = None;
    for r in repairs {
        match r {
            Repair::Remove(path) => std::fs::remove_file(&path).map_err(io(&path))?,
            Repair::Cut { path, at } => {
                let len = std::fs::metadata(&path).map_err(io(&path))?.len();
                let cut = len.saturating_sub(at);
                tracing::warn!(
                    file = %path.display(),
                    at,
                    bytes = cut,
                    last_zxid = format!("0x{:x}", tree.last_zxid),
                    "cutting a torn tail off the last log: a partial last record with nothing valid after it; {cut} bytes cut at byte {at}"
                );
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                f.set_len(at).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
                truncated = Some((path, cut));
            }
        }
    }
    // A snapshot whose own txn the logs lack came from a leader's SNAP:
    // the logs before it stop short of it, a gap that a DIFF read from
    // them would cross. The log core removes those logs once the
    // snapshot is durable; a crash in between leaves them, and they go
    // here.
    if base_zxid.is_some_and(|z| z > 0) && !snapshot_zxid_logged {
        let removed = remove_logs_covered_by(dirs, snap_zxid)?;
        if !removed.is_empty() {
            tracing::warn!(
                snapshot = format!("0x{snap_zxid:x}"),
                logs = removed.len(),
                "the logs stop short of the snapshot (it came from a leader's SNAP): removed the logs it covers"
            );
        }
    }
    Ok(Recovered {
        tree,
        sessions,
        snapshot_zxid: base_zxid,
        replayed,
        truncated,
        snap_load,
        txns_load: started.elapsed().saturating_sub(snap_load),
        replayed_tail,
    })
}

/// Removes the temp files of snapshots that a crash interrupted
/// ([`write_snapshot`]'s `.snapshot.<zxid>.tmp`): nothing reads them, and
/// they hold space.
fn remove_snapshot_temps(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&format!(".{}.", snapshot::SNAPSHOT_FILE_PREFIX))
            && name.ends_with(".tmp")
        {
            tracing::info!(file = %e.path().display(), "removing an unfinished snapshot");
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `snapshot.<zxid>` of a frozen tree, durably (temp file, fsync,
/// rename, fsync of the directory). Returns its path.
pub fn write_snapshot(
    dir: &Path,
    tree: &Tree,
    sessions: &[(i64, i32)],
    compression: Compression,
) -> Result<PathBuf, StorageError> {
    let name = snapshot::snapshot_file_name(tree.last_zxid, compression);
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let r = write_snapshot_to(dir, &tmp, &path, tree, sessions, compression);
    if r.is_err() {
        // A half-written snapshot must not keep the space (on a full disk
        // it is what keeps the disk full).
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn write_snapshot_to(
    dir: &Path,
    tmp: &Path,
    path: &Path,
    tree: &Tree,
    sessions: &[(i64, i32)],
    compression: Compression,
) -> Result<PathBuf, StorageError> {
    let file = std::fs::File::create(tmp).map_err(io(tmp))?;
    let digest = ZxidDigest::of(tree);
    let w = snapshot::write_snapshot(
        std::io::BufWriter::new(file),
        tree,
        sessions,
        compression,
        Some(&digest),
    )
    .map_err(io(tmp))?;
    let file = w.into_inner().map_err(|e| io(tmp)(e.into_error()))?;
    file.sync_all().map_err(io(tmp))?;
    drop(file);
    std::fs::rename(tmp, path).map_err(io(path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path.to_path_buf())
}

/// What a purge removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub snapshots: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

/// ZooKeeper's `PurgeTxnLog.purge`: keep the newest `retain` snapshots, the
/// logs they need (including the log that precedes the oldest kept
/// snapshot), and remove the rest.
pub fn purge(dirs: &Dirs, retain: usize) -> Result<Purged, StorageError> {
    let retain = retain.max(3);
    let snaps =
        txnlog::list_files(&dirs.snap, snapshot::SNAPSHOT_FILE_PREFIX).map_err(io(&dirs.snap))?;
    let valid: Vec<&(i64, PathBuf)> = snaps
        .iter()
        .filter(|(_, p)| snapshot::is_valid_snapshot_file(p))
        .collect();
    if valid.len() <= retain {
        return Ok(Purged::default());
    }
    let kept = &valid[valid.len() - retain..];
    let oldest_kept = kept[0].0;
    let logs = txnlog::list_files(&dirs.log, txnlog::LOG_FILE_PREFIX).map_err(io(&dirs.log))?;
    // The newest log at or before the oldest kept snapshot stays: it may
    // hold txns past that snapshot's zxid.
    let keep_log_from = logs
        .iter()
        .filter(|(z, _)| *z <= oldest_kept)
        .map(|(z, _)| *z)
        .max()
        .unwrap_or(oldest_kept);
    let mut out = Purged::default();
    for (z, p) in &snaps {
        if *z < oldest_kept {
            std::fs::remove_file(p).map_err(io(p))?;
            out.snapshots.push(p.clone());
        }
    }
    for (z, p) in &logs {
        if *z < keep_log_from {
            std::fs::remove_file(p).map_err(io(p))?;
            out.logs.push(p.clone());
        }
    }
    Ok(out)
}

/// Removes the log files whose every txn is at or below `zxid` (a durable
/// snapshot at `zxid` holds them): the files before the newest one that
/// starts at or below it, and that one too when it holds nothing past
/// `zxid`. A learner synced by SNAP does this once the snapshot is
/// durable, so that no log read for a DIFF crosses the gap between its
/// old log and the snapshot. Returns the removed paths.
pub fn remove_logs_covered_by(dirs: &Dirs, zxid: i64) -> Result<Vec<PathBuf>, StorageError> {
    let logs = txnlog::list_files(&dirs.log, txnlog::LOG_FILE_PREFIX).map_err(io(&dirs.log))?;
    let Some(last) = logs.iter().rposition(|(z, _)| *z <= zxid) else {
        return Ok(Vec::new());
    };
    let mut doomed: Vec<PathBuf> = logs[..last].iter().map(|(_, p)| p.clone()).collect();
    let (_, newest) = &logs[last];
    let bytes = std::fs::read(newest).map_err(io(newest))?;
    let past = match txnlog::LogReader::new(&bytes) {
        Ok((_, mut r)) => r.any(|rec| rec.txn.hdr.zxid > zxid),
        // Unreadable: kept, for recovery to judge.
        Err(_) => true,
    };
    if !past {
        doomed.push(newest.clone());
    }
    for p in &doomed {
        std::fs::remove_file(p).map_err(io(p))?;
    }
    if !doomed.is_empty() {
        if let Ok(d) = std::fs::File::open(&dirs.log) {
            d.sync_all().map_err(io(&dirs.log))?;
        }
    }
    Ok(doomed)
}

/// Opens `log.<first_zxid>` with its header written and synced; used by
/// tests and tools that write logs without the log core.
pub fn write_log_file(dir: &Path, txns: &[crate::data::txn::Txn]) -> Result<PathBuf, StorageError> {
    let first = txns.first().map_or(0, |t| t.hdr.zxid);
    let path = dir.join(txnlog::log_file_name(first));
    let mut buf = bytes::BytesMut::new();
    txnlog::write_header(&mut buf, 0);
    for t in txns {
        txnlog::write_record(&mut buf, t, None);
    }
    let mut f = std::fs::File::create(&path).map_err(io(&path))?;
    f.write_all(&buf).map_err(io(&path))?;
    f.sync_all().map_err(io(&path))?;
    Ok(path)
}

/// What the txn log holds from the file containing `zxid` on, as
/// `FileTxnSnapLog.readTxnLog(zxid, false)` iterates it: that file is the
/// newest log starting at or before `zxid` (or the oldest, when every log
/// starts after it), and every later one.
#[derive(Debug, Default)]
pub struct LogFrom {
    /// The first txn's zxid; `None` when there is no txn at all.
    pub first_zxid: Option<i64>,
    /// The size of those files on disk (preallocation included, as
    /// `FileTxnIterator.getStorageSize`).
    pub storage_size: u64,
    /// Each txn's zxid and its marshalled entry (a PROPOSAL's data),
    /// ascending; empty when `storage_size` is over `size_limit`.
    pub txns: Vec<(i64, bytes::Bytes)>,
}

/// Reads the txn log from the file that holds `zxid` on, for a leader's
/// DIFF. With `size_limit > 0` and the files larger than that, only the
/// size is reported (ZooKeeper then declines the txn log, and reading it
/// would be wasted). A torn or preallocated tail ends a file.
pub fn log_from(dirs: &Dirs, zxid: i64, size_limit: i64) -> Result<LogFrom, StorageError> {
    let files = txnlog::list_files(&dirs.log, txnlog::LOG_FILE_PREFIX).map_err(io(&dirs.log))?;
    let start = files.iter().rposition(|(z, _)| *z <= zxid).unwrap_or(0);
    let files = files.get(start..).unwrap_or_default();
    let mut out = LogFrom::default();
    for (_, path) in files {
        out.storage_size += std::fs::metadata(path).map_err(io(path))?.len();
    }
    if size_limit > 0 && out.storage_size > size_limit as u64 {
        return Ok(out);
    }
    for (_, path) in files {
        let buf = std::fs::read(path).map_err(io(path))?;
        let (_, mut reader) = txnlog::LogReader::new(&buf).map_err(|e| StorageError::Bad {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        while let Some(r) = reader.next_record() {
            out.first_zxid.get_or_insert(r.txn.hdr.zxid);
            out.txns.push((
                r.txn.hdr.zxid,
                txnlog::marshall_entry(&r.txn, r.digest.as_ref()),
            ));
        }
    }
    Ok(out)
}

/// The size of the newest snapshot file in `dirs` (0 when there is none),
/// for `calculateTxnLogSizeLimit`.
pub fn newest_snapshot_size(dirs: &Dirs) -> u64 {
    txnlog::list_files(&dirs.snap, snapshot::SNAPSHOT_FILE_PREFIX)
        .ok()
        .and_then(|v| v.last().and_then(|(_, p)| std::fs::metadata(p).ok()))
        .map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::txn::Txn;
    use crate::protocol::jute::{CreateTxn, TxnHeader};

    #[test]
    fn truncation_keeps_the_log_up_to_a_zxid_and_drops_what_follows() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(d.path(), d.path()).unwrap();
        let first: Vec<Txn> = (1..=5).map(|z| create(z, &format!("/a{z}"))).collect();
        let second: Vec<Txn> = (6..=8).map(|z| create(z, &format!("/a{z}"))).collect();
        let f1 = write_log_file(&dirs.log, &first).unwrap();
        let f2 = write_log_file(&dirs.log, &second).unwrap();
        let newer = dirs.snap.join(crate::storage::snapshot::snapshot_file_name(
            7,
            Compression::None,
        ));
        std::fs::write(&newer, b"x").unwrap();
        truncate_log(&dirs, 3).unwrap();
        assert!(!f2.exists() && !newer.exists());
        let kept = txnlog::read_log(&std::fs::read(&f1).unwrap()).unwrap();
        let zxids: Vec<i64> = kept.records.iter().map(|r| r.txn.hdr.zxid).collect();
        assert_eq!(zxids, vec![1, 2, 3]);
        assert!(kept.tail.is_clean(), "the file ends on a whole record");
    }

    /// A follower's TRUNC at run time cuts the log it recovered from (and
    /// mapped); recovering again maps the shorter file and replays only
    /// what is left. scripts/sanitize.sh runs this under AddressSanitizer.
    #[test]
    fn recovery_after_a_run_time_truncation_maps_only_what_is_left() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(d.path(), d.path()).unwrap();
        let txns: Vec<Txn> = (1..=8).map(|z| create(z, &format!("/a{z}"))).collect();
        let f = write_log_file(&dirs.log, &txns).unwrap();
        let before = recover(&dirs, true).unwrap();
        assert_eq!(before.tree.last_zxid, 8);
        let long = std::fs::metadata(&f).unwrap().len();
        truncate_log(&dirs, 3).unwrap();
        assert!(std::fs::metadata(&f).unwrap().len() < long);
        let after = recover(&dirs, true).unwrap();
        assert_eq!(after.tree.last_zxid, 3);
        assert!(after.tree.get("/a3").is_some() && after.tree.get("/a4").is_none());
        assert_eq!(
            after.truncated, None,
            "nothing torn: the cut ends on a record"
        );
        // And the old tree is still whole: it never pointed into the mapping.
        assert!(before.tree.get("/a8").is_some());
    }

    #[test]
    fn log_from_reads_from_the_file_holding_the_zxid() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(d.path(), d.path()).unwrap();
        assert!(
            log_from(&dirs, 3, 0).unwrap().first_zxid.is_none(),
            "no log"
        );
        let first: Vec<Txn> = (1..=5).map(|z| create(z, &format!("/a{z}"))).collect();
        let second: Vec<Txn> = (6..=8).map(|z| create(z, &format!("/a{z}"))).collect();
        let f1 = write_log_file(&dirs.log, &first).unwrap();
        let f2 = write_log_file(&dirs.log, &second).unwrap();
        let size = |p: &PathBuf| std::fs::metadata(p).unwrap().len();

        // zxid 3 is in the first file: both files, from its first txn.
        let l = log_from(&dirs, 3, 0).unwrap();
        assert_eq!(l.first_zxid, Some(1));
        assert_eq!(l.storage_size, size(&f1) + size(&f2));
        let zxids: Vec<i64> = l.txns.iter().map(|(z, _)| *z).collect();
        assert_eq!(zxids, (1..=8).collect::<Vec<_>>());
        // Each entry is the txn as a PROPOSAL carries it.
        let (t, _) = txnlog::decode_entry(&l.txns[6].1).unwrap();
        assert_eq!(t, second[1]);

        // zxid 7 is in the second file only.
        let l = log_from(&dirs, 7, 0).unwrap();
        assert_eq!((l.first_zxid, l.storage_size), (Some(6), size(&f2)));
        assert_eq!(l.txns.len(), 3);

        // Over the size limit: the size, no txns.
        let l = log_from(&dirs, 3, 10).unwrap();
        assert_eq!(l.storage_size, size(&f1) + size(&f2));
        assert!(l.txns.is_empty() && l.first_zxid.is_none());

        // Every file starts after the zxid: the oldest, whose first txn
        // is then past it (ZooKeeper declines such a log).
        std::fs::remove_file(&f1).unwrap();
        assert_eq!(log_from(&dirs, 3, 0).unwrap().first_zxid, Some(6));

        assert_eq!(newest_snapshot_size(&dirs), 0);
        std::fs::write(
            dirs.snap.join(crate::storage::snapshot::snapshot_file_name(
                7,
                Compression::None,
            )),
            b"twelve bytes",
        )
        .unwrap();
        assert_eq!(newest_snapshot_size(&dirs), 12);
    }

    #[test]
    fn recovery_keeps_the_replayed_tail_as_proposal_data() {
        let d = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(d.path(), d.path()).unwrap();
        let txns: Vec<Txn> = (1..=3).map(|z| create(z, &format!("/t{z}"))).collect();
        write_log_file(&dirs.log, &txns).unwrap();
        let r = recover(&dirs, true).unwrap();
        let zxids: Vec<i64> = r.replayed_tail.iter().map(|(z, _)| *z).collect();
        assert_eq!(zxids, vec![1, 2, 3]);
        for ((_, data), t) in r.replayed_tail.iter().zip(&txns) {
            assert_eq!(&txnlog::decode_entry(data).unwrap().0, t);
            assert_eq!(data, &txnlog::marshall_entry(t, None));
        }
        // Over two files and past the bound: the last `commitLogCount`.
        let n = crate::quorum::zab::sync::DEFAULT_COMMIT_LOG_COUNT as i64;
        let more: Vec<Txn> = (4..=n + 100)
            .map(|z| create(z, &format!("/t{z}")))
            .collect();
        write_log_file(&dirs.log, &more).unwrap();
        let r = recover(&dirs, true).unwrap();
        let zxids: Vec<i64> = r.replayed_tail.iter().map(|(z, _)| *z).collect();
        assert_eq!(zxids, (101..=n + 100).collect::<Vec<_>>());
        let (t, _) = txnlog::decode_entry(&r.replayed_tail[0].1).unwrap();
        assert_eq!(t, more[97]);
        // A larger `commitLogCount` keeps more of them.
        let r = recover_keeping(&dirs, true, 550).unwrap();
        let zxids: Vec<i64> = r.replayed_tail.iter().map(|(z, _)| *z).collect();
        assert_eq!(zxids, (51..=n + 100).collect::<Vec<_>>());
    }

    fn create(zxid: i64, path: &str) -> Txn {
        Txn {
            hdr: TxnHeader {
                client_id: 1,
                cxid: zxid as i32,
                zxid,
                time: 1_700_000_000_000,
                op: op::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: path.into(),
                data: Some(bytes::Bytes::from_static(b"x")),
                acl: crate::data::tree::open_acl(),
                ephemeral: false,
                parent_cversion: zxid as i32,
            }),
        }
    }

    #[test]
    fn corruption_is_refused_untouched_and_a_torn_tail_is_cut() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(tmp.path(), tmp.path()).unwrap();
        let txns: Vec<Txn> = (1..=30).map(|z| create(z, &format!("/a{z}"))).collect();
        let path = write_log_file(&dirs.log, &txns).unwrap();
        let good = std::fs::read(&path).unwrap();
        let ends: Vec<u64> = txnlog::read_log(&good)
            .unwrap()
            .records
            .iter()
            .map(|r| r.end)
            .collect();
        // A flipped byte in record 11 (the 'B' mark: a partial-looking
        // record) with 19 valid ones after it.
        let mut bad = good.clone();
        bad[ends[10] as usize - 1] = b'C';
        bad.resize(bad.len() + 4096, 0);
        std::fs::write(&path, &bad).unwrap();
        let Err(StorageError::Corrupt(c)) = recover(&dirs, true) else {
            panic!("corruption was not refused");
        };
        assert_eq!((c.offset, c.last_zxid, c.beyond.records), (ends[9], 10, 19));
        assert_eq!(std::fs::read(&path).unwrap(), bad, "the log was changed");
        // The same damage on the last record: a torn tail, cut.
        let mut torn = good.clone();
        torn[ends[29] as usize - 1] = 0;
        torn.resize(torn.len() + 4096, 0);
        std::fs::write(&path, &torn).unwrap();
        let r = recover(&dirs, true).unwrap();
        assert_eq!(r.tree.last_zxid, 29);
        assert_eq!(
            r.truncated.map(|(_, n)| n),
            Some(torn.len() as u64 - ends[28])
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[28]);
        // A broken header on a log with data: refused; on a log of zeros
        // (a header that never reached the disk): removed.
        let mut hdr = good.clone();
        hdr[1] = b'X';
        std::fs::write(&path, &hdr).unwrap();
        let Err(StorageError::Corrupt(c)) = recover(&dirs, true) else {
            panic!("a broken header was not refused");
        };
        assert_eq!((c.offset, c.beyond.records), (0, 30));
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        assert_eq!(recover(&dirs, true).unwrap().tree.last_zxid, 0);
        assert!(!path.exists());
    }

    #[test]
    fn a_broken_snapshot_is_passed_over_only_when_the_logs_cover_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(tmp.path(), tmp.path()).unwrap();
        let mut tree = Tree::new();
        let mut scratch = Vec::new();
        let txns: Vec<Txn> = (1..=20).map(|z| create(z, &format!("/a{z}"))).collect();
        for t in &txns[..5] {
            tree.apply(t, &mut scratch);
        }
        write_snapshot(&dirs.snap, &tree, &[], Compression::None).unwrap();
        for t in &txns[5..15] {
            tree.apply(t, &mut scratch);
        }
        let newest = write_snapshot(&dirs.snap, &tree, &[], Compression::None).unwrap();
        let mut b = std::fs::read(&newest).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x10;
        std::fs::write(&newest, &b).unwrap();
        // Logs from zxid 6 on: the gap 6..=15 is covered.
        let log = write_log_file(&dirs.log, &txns[5..]).unwrap();
        let r = recover(&dirs, false).unwrap();
        assert_eq!((r.snapshot_zxid, r.tree.last_zxid), (Some(5), 20));
        // Logs from zxid 8 on: 6 and 7 are lost; refused.
        std::fs::remove_file(&log).unwrap();
        write_log_file(&dirs.log, &txns[7..]).unwrap();
        let e = recover(&dirs, false).unwrap_err().to_string();
        assert!(e.contains("do not cover the gap"), "{e}");
        // Logs that stop short of the broken snapshot: refused.
        for (_, p) in txnlog::list_files(&dirs.log, "log").unwrap() {
            std::fs::remove_file(p).unwrap();
        }
        write_log_file(&dirs.log, &txns[5..12]).unwrap();
        assert!(recover(&dirs, false).is_err());
        assert_eq!(std::fs::read(&newest).unwrap(), b);
    }

    /// A learner synced by SNAP holds a snapshot its old logs stop short
    /// of. Recovery (after a crash between the snapshot and the log core's
    /// removal) removes the logs the snapshot covers, so that no DIFF is
    /// read across the gap; a log that holds txns past the snapshot stays.
    #[test]
    fn a_snapshot_past_its_logs_removes_the_logs_it_covers() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(tmp.path(), tmp.path()).unwrap();
        let txns: Vec<Txn> = (1..=10).map(|z| create(z, &format!("/a{z}"))).collect();
        let old = write_log_file(&dirs.log, &txns[..3]).unwrap();
        let mut tree = Tree::new();
        let mut scratch = Vec::new();
        for t in &txns[..6] {
            tree.apply(t, &mut scratch);
        }
        write_snapshot(&dirs.snap, &tree, &[], Compression::None).unwrap();
        let new = write_log_file(&dirs.log, &txns[6..]).unwrap();
        let r = recover(&dirs, false).unwrap();
        assert_eq!((r.snapshot_zxid, r.tree.last_zxid), (Some(6), 10));
        assert!(!old.exists(), "the log before the gap is gone");
        assert!(new.exists());
        assert!(log_from(&dirs, 2, 0).unwrap().first_zxid == Some(7));
        // A snapshot whose own txn is logged leaves the logs alone.
        let again = recover(&dirs, false).unwrap();
        assert_eq!(again.tree.last_zxid, 10);
        assert!(new.exists());
        // A log running past the zxid stays; the ones before it go.
        let a = write_log_file(&dirs.log, &txns[..2]).unwrap();
        assert_eq!(remove_logs_covered_by(&dirs, 8).unwrap(), vec![a]);
        assert!(new.exists());
        assert_eq!(remove_logs_covered_by(&dirs, 10).unwrap(), vec![new]);
    }

    #[test]
    fn recovery_drops_headerless_logs_and_unfinished_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs::open(tmp.path(), tmp.path()).unwrap();
        write_log_file(&dirs.log, &[create(1, "/a"), create(2, "/b")]).unwrap();
        // A log whose header never got written (a full disk), between two
        // good ones: it holds no txns.
        std::fs::write(dirs.log.join("log.3"), b"ZKL").unwrap();
        write_log_file(&dirs.log, &[create(4, "/d"), create(5, "/e")]).unwrap();
        let unfinished = dirs.snap.join(".snapshot.5.tmp");
        std::fs::write(&unfinished, b"half a snapshot").unwrap();
        let r = recover(&dirs, true).unwrap();
        for p in ["/a", "/b", "/d", "/e"] {
            assert!(r.tree.get(p).is_some(), "{p} not recovered");
        }
        assert_eq!(r.tree.last_zxid, 5);
        assert!(!dirs.log.join("log.3").exists());
        assert!(!unfinished.exists());
        // A log with a header but garbage inside, not the last, still
        // stops recovery: that is damage, not an interrupted create.
        std::fs::write(
            dirs.log.join("log.3"),
            [b"ZKLG".as_slice(), &[0; 12], &[7; 40]].concat(),
        )
        .unwrap();
        assert!(recover(&dirs, true).is_err());
    }
}

/// ZooKeeper's `FileTxnLog.truncate`, for a learner the leader sends
/// TRUNC: the log keeps its txns up to `zxid` (the file holding it is cut
/// right after it, later files are removed), and snapshots newer than
/// `zxid` are removed so a reload cannot pick them.
pub fn truncate_log(dirs: &Dirs, zxid: i64) -> Result<(), StorageError> {
    let logs = txnlog::list_files(&dirs.log, txnlog::LOG_FILE_PREFIX).map_err(io(&dirs.log))?;
    for (start, path) in logs.iter().rev() {
        if *start > zxid {
            std::fs::remove_file(path).map_err(io(path))?;
            continue;
        }
        let bytes = std::fs::read(path).map_err(io(path))?;
        let (_, mut r) = txnlog::LogReader::new(&bytes).map_err(|e| StorageError::Bad {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut end = None;
        while let Some(rec) = r.next_record() {
            if rec.txn.hdr.zxid > zxid {
                break;
            }
            end = Some(rec.end);
        }
        let end = end.unwrap_or(r.valid_end().min(bytes.len() as u64));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io(path))?;
        f.set_len(end)
            .and_then(|_| f.sync_all())
            .map_err(io(path))?;
        break;
    }
    let snaps =
        txnlog::list_files(&dirs.snap, snapshot::SNAPSHOT_FILE_PREFIX).map_err(io(&dirs.snap))?;
    for (z, path) in snaps {
        if z > zxid {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// `currentEpoch` and `acceptedEpoch`, files in `dataDir/version-2` that a
/// quorum peer keeps (ZooKeeper's `QuorumPeer` rules).
pub mod epochs {
    use super::{io, Dirs, StorageError};
    use std::io::Write;
    use std::path::Path;

    pub const CURRENT: &str = "currentEpoch";
    pub const ACCEPTED: &str = "acceptedEpoch";

    /// The epochs a quorum peer starts with.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Epochs {
        pub current: i64,
        pub accepted: i64,
    }

    fn read(path: &Path) -> Result<Option<i64>, StorageError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        let line = text.lines().next().unwrap_or("");
        line.trim_end_matches('\r')
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StorageError::Bad {
                path: path.display().to_string(),
                message: format!("found {line:?} where an epoch number belongs"),
            })
    }

    /// Writes `value` as ZooKeeper's `writeLongToFile` does: the decimal
    /// number alone, through a fsynced `.tmp` file renamed into place.
    pub fn write(dirs: &Dirs, name: &str, value: i64) -> Result<(), StorageError> {
        let path = dirs.snap.join(name);
        let tmp = dirs.snap.join(format!("{name}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(value.to_string().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        // The rename is durable once the directory is: a failure here is
        // a failed write like any other (the caller must not ack it).
        std::fs::File::open(&dirs.snap)
            .and_then(|d| d.sync_all())
            .map_err(io(&dirs.snap))?;
        Ok(())
    }

    /// ZooKeeper's `loadDataBase` epoch rules: a missing file starts at the
    /// epoch of the last zxid (and is written); a current epoch older than
    /// the last zxid's is taken from `currentEpoch.tmp` when one was left
    /// mid-write, else it is an error; so is an accepted epoch below the
    /// current one.
    pub fn load(dirs: &Dirs, last_zxid: i64) -> Result<Epochs, StorageError> {
        let of_zxid = crate::quorum::epoch_of(last_zxid);
        let cur_path = dirs.snap.join(CURRENT);
        let mut current = match read(&cur_path)? {
            Some(e) => e,
            None => {
                tracing::info!(
                    epoch = of_zxid,
                    "{CURRENT} not found; creating it with the epoch of the last zxid"
                );
                write(dirs, CURRENT, of_zxid)?;
                of_zxid
            }
        };
        if of_zxid > current {
            let tmp = dirs.snap.join(format!("{CURRENT}.tmp"));
            match read(&tmp)? {
                Some(e) => {
                    tracing::info!(epoch = e, "{CURRENT}.tmp found; setting the current epoch");
                    write(dirs, CURRENT, e)?;
                    current = e;
                }
                None => {
                    return Err(StorageError::Bad {
                        path: cur_path.display().to_string(),
                        message: format!(
                        "the current epoch {current} is older than the last zxid 0x{last_zxid:x}"
                    ),
                    })
                }
            }
        }
        let acc_path = dirs.snap.join(ACCEPTED);
        let accepted = match read(&acc_path)? {
            Some(e) => e,
            None => {
                tracing::info!(
                    epoch = of_zxid,
                    "{ACCEPTED} not found; creating it with the epoch of the last zxid"
                );
                write(dirs, ACCEPTED, of_zxid)?;
                of_zxid
            }
        };
        if accepted < current {
            return Err(StorageError::Bad {
                path: acc_path.display().to_string(),
                message: format!(
                    "the accepted epoch {accepted} is less than the current epoch {current}"
                ),
            });
        }
        Ok(Epochs { current, accepted })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn missing_files_start_at_the_zxid_epoch_and_bad_ones_are_refused() {
            let d = tempfile::tempdir().unwrap();
            let dirs = Dirs::open(d.path(), d.path()).unwrap();
            let z = crate::quorum::make_zxid(3, 9);
            assert_eq!(
                load(&dirs, z).unwrap(),
                Epochs {
                    current: 3,
                    accepted: 3
                }
            );
            assert_eq!(
                std::fs::read_to_string(dirs.snap.join(CURRENT)).unwrap(),
                "3"
            );
            write(&dirs, ACCEPTED, 5).unwrap();
            assert_eq!(load(&dirs, z).unwrap().accepted, 5);
            // A current epoch behind the data: only a left-over .tmp saves it.
            write(&dirs, CURRENT, 2).unwrap();
            assert!(load(&dirs, z).is_err());
            std::fs::write(dirs.snap.join("currentEpoch.tmp"), "4").unwrap();
            assert_eq!(load(&dirs, z).unwrap().current, 4);
            write(&dirs, ACCEPTED, 1).unwrap();
            let e = load(&dirs, z).unwrap_err().to_string();
            assert!(e.contains("less than the current epoch"), "{e}");
            std::fs::write(dirs.snap.join(ACCEPTED), "x7").unwrap();
            assert!(load(&dirs, z).unwrap_err().to_string().contains("x7"));
        }
    }
}
