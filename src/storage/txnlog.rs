//! ZooKeeper's transaction log format (`FileTxnLog`), byte for byte.
//!
//! A log file `log.<zxid of its first txn, lowercase hex>` starts with a
//! `FileHeader` ("ZKLG", version 2, dbid). Each record is then
//!
//! ```text
//! long   Adler32 of the entry bytes
//! int    length of the entry, then the entry: TxnHeader, txn body,
//!        and (when digests are on, as by default in 3.8) a TxnDigest
//! byte   'B' (0x42), the end-of-record mark
//! ```
//!
//! Files are pre-allocated with zeros in `preAllocSize` steps
//! ([`padded_size`]), so a reader stops at the first record whose length is
//! 0: that is the end of the log. A record cut short by a crash, or one that
//! fails its checksum, ends the readable log too; [`LogReader`] says which,
//! and where the last good record ended so the caller can truncate there.
//! [`records_beyond`] finds the valid records past a damaged spot, which
//! is how recovery tells a torn tail (nothing valid after it) from
//! corruption.
//!
//! Also here: file names, and which log files to replay after a snapshot
//! (`FileTxnLog.getLogFiles`). Pure logic over byte buffers; the only I/O is
//! [`list_files`], which reads a directory listing.

use crate::data::digest::TxnDigest;
use crate::data::txn::{Txn, TxnBody};
use crate::protocol::jute::{op, Jute, JuteError, JuteWrite, Reader, TxnHeader};
use bytes::{BufMut, Bytes, BytesMut};
use std::path::{Path, PathBuf};

/// `"ZKLG"` as a big-endian int.
pub const TXNLOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
/// The log format version.
pub const VERSION: i32 = 2;
/// Log file names are `log.<hex zxid>`.
pub const LOG_FILE_PREFIX: &str = "log";
/// The end-of-record mark.
pub const EOR: u8 = b'B';
/// ZooKeeper's default `preAllocSize`: 64 MiB (`zookeeper.preAllocSize` is in KiB).
pub const DEFAULT_PREALLOC_SIZE: u64 = 64 * 1024 * 1024;

/// The header of a log or snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub magic: i32,
    pub version: i32,
    pub dbid: i64,
}

impl FileHeader {
    /// Its encoded length.
    pub const LEN: usize = 16;

    /// A txn log header (ZooKeeper writes dbid 0).
    pub fn txnlog(dbid: i64) -> FileHeader {
        FileHeader {
            magic: TXNLOG_MAGIC,
            version: VERSION,
            dbid,
        }
    }
}

impl Jute for FileHeader {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        Ok(FileHeader {
            magic: r.int()?,
            version: r.int()?,
            dbid: r.long()?,
        })
    }
    fn write(&self, w: &mut BytesMut) {
        w.int(self.magic);
        w.int(self.version);
        w.long(self.dbid);
    }
}

/// Why a log could not be opened at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("file too short for a header ({0} bytes)")]
    ShortHeader(usize),
    #[error("bad magic {0:#x} (not a ZooKeeper txn log)")]
    BadMagic(i32),
}

/// Adler32 as `java.util.zip.Adler32.getValue()` returns it.
pub fn adler32(bytes: &[u8]) -> i64 {
    adler2::adler32_slice(bytes) as i64
}

/// The entry bytes of one txn (`Util.marshallTxnEntry`): header, body, and
/// the digest if given.
pub fn marshall_entry(txn: &Txn, digest: Option<&TxnDigest>) -> Bytes {
    let mut b = BytesMut::new();
    encode_entry(&mut b, txn, digest);
    b.freeze()
}

fn encode_entry(out: &mut BytesMut, txn: &Txn, digest: Option<&TxnDigest>) {
    txn.hdr.write(out);
    txn.body.encode(out);
    if let Some(d) = digest {
        d.write(out);
    }
}

/// Appends a file header.
pub fn write_header(out: &mut BytesMut, dbid: i64) {
    FileHeader::txnlog(dbid).write(out);
}

/// Appends one record for `txn`: the Adler32 of its entry
/// ([`marshall_entry`]'s bytes), the entry's length, the entry, and 'B'.
/// The entry is encoded in place; the checksum and the length are filled
/// in after it.
pub fn write_record(out: &mut BytesMut, txn: &Txn, digest: Option<&TxnDigest>) {
    let start = out.len();
    out.put_bytes(0, 12);
    encode_entry(out, txn, digest);
    let entry = &out[start + 12..];
    let (sum, len) = (adler32(entry), entry.len() as i32);
    out[start..start + 8].copy_from_slice(&sum.to_be_bytes());
    out[start + 8..start + 12].copy_from_slice(&len.to_be_bytes());
    out.put_u8(EOR);
}

/// Decodes entry bytes into the txn and its optional digest, as
/// `SerializeUtils.deserializeTxn` does (the digest is whatever follows the
/// body; fewer than 12 bytes there mean none).
pub fn decode_entry(entry: &[u8]) -> Result<(Txn, Option<TxnDigest>), JuteError> {
    let mut r = Reader::new(entry);
    let hdr = TxnHeader::read(&mut r)?;
    let body_at = entry.len() - r.remaining();
    let (body, rest) = match TxnBody::decode(hdr.op, &mut r) {
        Ok(body) => (body, r.remaining()),
        // With `zookeeper.closeSessionTxn.enabled=false` a closeSession has
        // no body, but may still carry a digest.
        Err(_) if hdr.op == op::CLOSE_SESSION && entry.len() - body_at == 12 => {
            (TxnBody::CloseSession(Default::default()), 12)
        }
        Err(e) => return Err(e),
    };
    let digest = if rest >= 12 {
        let at = entry.len() - rest;
        Some(TxnDigest::read(&mut Reader::new(&entry[at..]))?)
    } else {
        None
    };
    Ok((Txn { hdr, body }, digest))
}

/// One record read from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Where the record starts in the file.
    pub offset: u64,
    /// Where it ends (one past its 'B').
    pub end: u64,
    pub txn: Txn,
    pub digest: Option<TxnDigest>,
}

/// Why reading a log stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTail {
    /// The file ends right after the last record.
    Eof,
    /// Only zeros follow the last record: pre-allocation padding.
    Padding,
    /// The next record is incomplete: the file ends inside it, or it has
    /// no 'B' mark (a write cut short). ZooKeeper treats this as the end.
    Torn(String),
    /// The next record is whole but fails its checksum or does not decode.
    Corrupt(String),
}

impl LogTail {
    /// Whether the log ended as ZooKeeper leaves it after a clean write.
    pub fn is_clean(&self) -> bool {
        matches!(self, LogTail::Eof | LogTail::Padding)
    }
}

/// Reads the records of one log file held in memory.
#[derive(Debug)]
pub struct LogReader<'a> {
    buf: &'a [u8],
    pos: usize,
    tail: Option<LogTail>,
    skip_through: i64,
    last_skipped: Option<i64>,
}

impl<'a> LogReader<'a> {
    /// Checks the header and positions the reader at the first record.
    pub fn new(buf: &'a [u8]) -> Result<(FileHeader, LogReader<'a>), LogError> {
        if buf.len() < FileHeader::LEN {
            return Err(LogError::ShortHeader(buf.len()));
        }
        let hdr = FileHeader::decode(&buf[..FileHeader::LEN]).expect("16 bytes");
        if hdr.magic != TXNLOG_MAGIC {
            return Err(LogError::BadMagic(hdr.magic));
        }
        Ok((
            hdr,
            LogReader {
                buf,
                pos: FileHeader::LEN,
                tail: None,
                skip_through: i64::MIN,
                last_skipped: None,
            },
        ))
    }

    /// The end of the last good record (the header's end before any):
    /// where to truncate a log whose tail is torn or corrupt.
    pub fn valid_end(&self) -> u64 {
        self.pos as u64
    }

    /// Why reading stopped, once `next_record` has returned `None`.
    pub fn tail(&self) -> Option<&LogTail> {
        self.tail.as_ref()
    }

    fn stop<T>(&mut self, t: LogTail) -> Option<T> {
        self.tail = Some(t);
        None
    }

    /// Records whose zxid is at or below `zxid` are checked (framing and
    /// checksum) but not decoded, nor returned: recovery has them from the
    /// snapshot already.
    pub fn skip_through(mut self, zxid: i64) -> Self {
        self.skip_through = zxid;
        self
    }

    /// The zxid of the last record passed over by [`LogReader::skip_through`].
    pub fn last_skipped(&self) -> Option<i64> {
        self.last_skipped
    }

    /// The next good record, or `None` at the end (see [`LogReader::tail`]).
    pub fn next_record(&mut self) -> Option<LogRecord> {
        loop {
            match self.next_entry()? {
                Entry::Skipped => continue,
                Entry::Record(r) => return Some(r),
            }
        }
    }

    fn next_entry(&mut self) -> Option<Entry> {
        if self.tail.is_some() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return self.stop(LogTail::Eof);
        }
        if rest.iter().all(|b| *b == 0) {
            return self.stop(LogTail::Padding);
        }
        if rest.len() < 12 {
            return self.stop(LogTail::Torn(format!(
                "{} bytes left, a record needs at least 13",
                rest.len()
            )));
        }
        let crc = i64::from_be_bytes(rest[0..8].try_into().unwrap());
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap());
        if len == 0 {
            return self.stop(LogTail::Torn(format!(
                "checksum {crc:#x} with an empty entry"
            )));
        }
        if len < 0 {
            return self.stop(LogTail::Corrupt(format!("negative entry length {len}")));
        }
        let len = len as usize;
        if rest.len() < 12 + len + 1 {
            return self.stop(LogTail::Torn(format!(
                "entry of {len} bytes, {} left",
                rest.len() - 12
            )));
        }
        let entry = &rest[12..12 + len];
        if rest[12 + len] != EOR {
            return self.stop(LogTail::Torn(format!(
                "end-of-record mark is {:#x}, not 'B'",
                rest[12 + len]
            )));
        }
        let actual = adler32(entry);
        if actual != crc {
            return self.stop(LogTail::Corrupt(format!(
                "checksum {crc:#x} != computed {actual:#x}"
            )));
        }
        // The TxnHeader opens the entry: clientId (8), cxid (4), zxid (8).
        if let Some(z) = entry.get(12..20) {
            let zxid = i64::from_be_bytes(z.try_into().unwrap_or_default());
            if zxid <= self.skip_through {
                self.pos += 12 + len + 1;
                self.last_skipped = Some(zxid);
                return Some(Entry::Skipped);
            }
        }
        match decode_entry(entry) {
            Ok((txn, digest)) => {
                let offset = self.pos as u64;
                self.pos += 12 + len + 1;
                Some(Entry::Record(LogRecord {
                    offset,
                    end: self.pos as u64,
                    txn,
                    digest,
                }))
            }
            Err(e) => self.stop(LogTail::Corrupt(format!("entry does not decode: {e}"))),
        }
    }
}

enum Entry {
    Skipped,
    Record(LogRecord),
}

impl Iterator for LogReader<'_> {
    type Item = LogRecord;
    fn next(&mut self) -> Option<LogRecord> {
        self.next_record()
    }
}

/// The smallest entry: a `TxnHeader` (clientId, cxid, zxid, time, type).
const MIN_ENTRY: usize = 32;

/// A whole record at `at` that passes every check a reader makes (the
/// checksum's high half is zero and its low half is not, a length that
/// fits, the 'B' mark, the Adler32, an entry that decodes) and whose zxid
/// is above `after`: its zxid and where it ends.
pub fn plausible_record(buf: &[u8], at: usize, after: i64) -> Option<(i64, usize)> {
    let rest = buf.get(at..)?;
    let crc = i64::from_be_bytes(rest.get(0..8)?.try_into().ok()?);
    // Adler32 of a non-empty entry is never 0 and never above 32 bits.
    if crc <= 0 || crc > i64::from(u32::MAX) {
        return None;
    }
    let len = i32::from_be_bytes(rest.get(8..12)?.try_into().ok()?);
    let len = usize::try_from(len).ok().filter(|l| *l >= MIN_ENTRY)?;
    if *rest.get(12 + len)? != EOR {
        return None;
    }
    let entry = &rest[12..12 + len];
    let zxid = i64::from_be_bytes(entry[12..20].try_into().ok()?);
    if zxid <= after || adler32(entry) != crc {
        return None;
    }
    decode_entry(entry).ok()?;
    Some((zxid, at + 12 + len + 1))
}

/// The first offset at or after `from` where [`plausible_record`] finds a
/// record with a zxid above `after`. Runs of zeros (pre-allocation) are
/// skipped at memory speed: a record's checksum has a non-zero low half.
pub fn find_record(buf: &[u8], from: usize, after: i64) -> Option<(usize, i64, usize)> {
    let mut o = from;
    while o + 12 + MIN_ENTRY < buf.len() {
        if buf[o + 4..o + 8] == [0; 4] {
            // The next candidate needs a non-zero byte in its o+4..o+8.
            let q = o + 8 + buf[o + 8..].iter().position(|b| *b != 0)?;
            o = (q - 7).max(o + 1);
            continue;
        }
        if let Some((zxid, end)) = plausible_record(buf, o, after) {
            return Some((o, zxid, end));
        }
        o += 1;
    }
    None
}

/// The valid records found past a damaged spot of a log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Beyond {
    /// How many.
    pub records: usize,
    /// Where the first one starts.
    pub first_offset: Option<u64>,
    /// The zxid of the last one.
    pub last_zxid: Option<i64>,
}

/// Counts the valid records that lie at or after `from` (records must
/// carry rising zxids, all above `after`): past a damaged record, what a
/// cut there would throw away. Each byte is looked at by the scan at most
/// once; whole records are followed from one to the next, and the scan
/// resumes past any further damage.
pub fn records_beyond(buf: &[u8], from: usize, after: i64) -> Beyond {
    let mut out = Beyond::default();
    let mut from = from;
    let mut after = after;
    while let Some((at, zxid, end)) = find_record(buf, from, after) {
        out.first_offset.get_or_insert(at as u64);
        out.records += 1;
        after = zxid;
        let mut pos = end;
        while let Some((z, e)) = plausible_record(buf, pos, after) {
            out.records += 1;
            after = z;
            pos = e;
        }
        out.last_zxid = Some(after);
        from = pos + 1;
    }
    out
}

/// A whole log file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub header: FileHeader,
    pub records: Vec<LogRecord>,
    pub tail: LogTail,
    /// End of the last good record: truncate here if `tail` is not clean.
    pub valid_end: u64,
}

/// Reads every good record of a log file.
pub fn read_log(buf: &[u8]) -> Result<LogFile, LogError> {
    let (header, mut r) = LogReader::new(buf)?;
    let records: Vec<LogRecord> = r.by_ref().collect();
    Ok(LogFile {
        header,
        records,
        tail: r.tail.clone().unwrap_or(LogTail::Eof),
        valid_end: r.valid_end(),
    })
}

/// ZooKeeper's `FilePadding.calculateFileSizeWithPadding`: the size the
/// file should be extended to before writing at `position`, given its
/// current (padded) size. Returns `file_size` when no growth is due.
pub fn padded_size(position: u64, file_size: u64, prealloc: u64) -> u64 {
    if prealloc > 0 && position + 4096 >= file_size {
        if position > file_size {
            let s = position + prealloc;
            s - s % prealloc
        } else {
            file_size + prealloc
        }
    } else {
        file_size
    }
}

/// ZooKeeper's `FilePadding`: tracks a log file's pre-allocated size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePadding {
    pub prealloc: u64,
    pub current_size: u64,
}

impl FilePadding {
    pub fn new(prealloc: u64) -> FilePadding {
        FilePadding {
            prealloc,
            current_size: 0,
        }
    }

    /// Before appending at `position`: `Some(new size)` when the file must
    /// be extended (with zeros) to that size first.
    pub fn pad(&mut self, position: u64) -> Option<u64> {
        let n = padded_size(position, self.current_size, self.prealloc);
        if n != self.current_size {
            self.current_size = n;
            Some(n)
        } else {
            None
        }
    }
}

/// `log.<zxid in lowercase hex>` (`Util.makeLogName`).
pub fn log_file_name(zxid: i64) -> String {
    format!("{LOG_FILE_PREFIX}.{zxid:x}")
}

/// The zxid in a file name `<prefix>.<hex>[.<anything>]`
/// (`Util.getZxidFromName`); `None` where ZooKeeper would say -1.
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    // Java's split drops trailing empty parts.
    let parts: Vec<&str> = name.split('.').collect();
    let n = parts
        .iter()
        .rposition(|p| !p.is_empty())
        .map_or(0, |i| i + 1);
    if n < 2 || parts[0] != prefix {
        return None;
    }
    i64::from_str_radix(parts[1], 16).ok().filter(|z| *z != -1)
}

/// Names with `prefix` and a zxid, sorted by zxid (`Util.sortDataDir`).
pub fn sort_by_zxid<S: AsRef<str>>(
    names: &[S],
    prefix: &str,
    ascending: bool,
) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = names
        .iter()
        .filter_map(|n| zxid_from_name(n.as_ref(), prefix).map(|z| (z, n.as_ref().to_string())))
        .collect();
    v.sort_by_key(|(z, _)| *z);
    if !ascending {
        v.reverse();
    }
    v
}

/// The log files to read to recover from a snapshot at `snapshot_zxid`,
/// oldest first (`FileTxnLog.getLogFiles`): the newest log that starts at
/// or before the snapshot zxid (it may hold txns after it), and every log
/// after it. Other names are ignored.
pub fn logs_to_replay<S: AsRef<str>>(names: &[S], snapshot_zxid: i64) -> Vec<(i64, String)> {
    let logs = sort_by_zxid(names, LOG_FILE_PREFIX, true);
    let mut log_zxid = 0;
    for (z, _) in &logs {
        if *z > snapshot_zxid {
            break;
        }
        if *z > log_zxid {
            log_zxid = *z;
        }
    }
    logs.into_iter().filter(|(z, _)| *z >= log_zxid).collect()
}

/// The files in `dir` named `<prefix>.<hex zxid>…`, oldest first.
pub fn list_files(dir: &Path, prefix: &str) -> std::io::Result<Vec<(i64, PathBuf)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if let Some(name) = e.file_name().to_str() {
            if let Some(z) = zxid_from_name(name, prefix) {
                v.push((z, e.path()));
            }
        }
    }
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jute::{
        CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, SetDataTxn,
    };
    use proptest::prelude::*;

    fn hdr(zxid: i64, op: i32) -> TxnHeader {
        TxnHeader {
            client_id: 0x1000_0000_0000_0001,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
            op,
        }
    }

    fn sample(zxid: i64) -> Txn {
        match zxid % 5 {
            0 => Txn {
                hdr: hdr(zxid, op::CREATE),
                body: TxnBody::Create(CreateTxn {
                    path: format!("/n{zxid}"),
                    data: Some(Bytes::from(vec![zxid as u8; (zxid % 7) as usize])),
                    acl: crate::data::tree::open_acl(),
                    ephemeral: false,
                    parent_cversion: zxid as i32,
                }),
            },
            1 => Txn {
                hdr: hdr(zxid, op::SET_DATA),
                body: TxnBody::SetData(SetDataTxn {
                    path: "/x".into(),
                    data: None,
                    version: 3,
                }),
            },
            2 => Txn {
                hdr: hdr(zxid, op::CREATE_SESSION),
                body: TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
            },
            3 => Txn {
                hdr: hdr(zxid, op::CLOSE_SESSION),
                body: TxnBody::CloseSession(CloseSessionTxn {
                    paths_to_delete: vec!["/e".into()],
                }),
            },
            _ => Txn {
                hdr: hdr(zxid, op::DELETE),
                body: TxnBody::Delete(DeleteTxn {
                    path: format!("/n{}", zxid - 4),
                }),
            },
        }
    }

    #[test]
    fn skipping_checks_but_does_not_return_old_records() {
        let mut out = BytesMut::new();
        write_header(&mut out, 0);
        for z in 1..=20 {
            write_record(&mut out, &sample(z), None);
        }
        let (_, r) = LogReader::new(&out).unwrap();
        let zxids: Vec<i64> = r.skip_through(12).map(|r| r.txn.hdr.zxid).collect();
        assert_eq!(zxids, (13..=20).collect::<Vec<_>>());
        // A bad checksum among the skipped records still stops the log.
        let mut bad = out.to_vec();
        let second = FileHeader::LEN + 12 + 1 + marshall_entry(&sample(1), None).len();
        bad[second] ^= 0xff;
        let (_, mut r) = LogReader::new(&bad).unwrap();
        r = r.skip_through(12);
        assert_eq!(r.next_record(), None);
        assert!(matches!(r.tail(), Some(LogTail::Corrupt(_))));
        assert_eq!(r.valid_end(), second as u64);
    }

    fn digest(zxid: i64) -> Option<TxnDigest> {
        (zxid % 2 == 0).then_some(TxnDigest {
            version: 2,
            tree_digest: zxid * 1_000_003,
        })
    }

    fn log_of(zxids: std::ops::Range<i64>) -> (BytesMut, Vec<u64>) {
        let mut b = BytesMut::new();
        write_header(&mut b, 0);
        let mut ends = vec![];
        for z in zxids {
            write_record(&mut b, &sample(z), digest(z).as_ref());
            ends.push(b.len() as u64);
        }
        (b, ends)
    }

    #[test]
    fn records_beyond_damage_are_found_and_counted() {
        let (b, ends) = log_of(1..41);
        // A flipped byte inside record 21: 19 whole records follow it.
        let mut v = b.to_vec();
        v[ends[19] as usize + 20] ^= 0x04;
        let f = read_log(&v).unwrap();
        assert_eq!((f.records.len(), f.valid_end), (20, ends[19]));
        let beyond = records_beyond(&v, f.valid_end as usize + 1, 20);
        assert_eq!(beyond.records, 19);
        assert_eq!(beyond.first_offset, Some(ends[20]));
        assert_eq!(beyond.last_zxid, Some(40));
        // Two damaged records: the scan resumes past the second.
        v[ends[29] as usize + 3] ^= 0x01;
        assert_eq!(records_beyond(&v, f.valid_end as usize + 1, 20).records, 18);
        // Records at or below the last good zxid do not count.
        assert_eq!(records_beyond(&v, 16, 40).records, 0);
        // A torn last record, then pre-allocated zeros: nothing beyond.
        let mut t = b[..ends[39] as usize - 5].to_vec();
        t.resize(t.len() + (1 << 20), 0);
        let f = read_log(&t).unwrap();
        assert!(matches!(f.tail, LogTail::Torn(_)));
        assert_eq!(
            records_beyond(&t, f.valid_end as usize + 1, 39),
            Beyond::default()
        );
        // Garbage never passes for a record.
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(records_beyond(&junk, 0, 0).records, 0);
    }

    #[test]
    fn header_bytes() {
        let mut b = BytesMut::new();
        write_header(&mut b, 0);
        assert_eq!(&b[..], b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0");
    }

    #[test]
    fn round_trip_with_and_without_digest() {
        let (b, ends) = log_of(1..40);
        let f = read_log(&b).unwrap();
        assert_eq!(f.tail, LogTail::Eof);
        assert_eq!(f.valid_end, b.len() as u64);
        assert_eq!(f.records.len(), 39);
        for (i, r) in f.records.iter().enumerate() {
            let z = i as i64 + 1;
            assert_eq!(r.txn, sample(z));
            assert_eq!(r.digest, digest(z));
            assert_eq!(r.end, ends[i]);
        }
    }

    #[test]
    fn record_layout_is_zookeepers() {
        let t = sample(2);
        let mut b = BytesMut::new();
        write_record(&mut b, &t, None);
        let entry = t.encode();
        assert_eq!(
            &b[0..8],
            &(adler2::adler32_slice(&entry) as i64).to_be_bytes()
        );
        assert_eq!(&b[8..12], &(entry.len() as i32).to_be_bytes());
        assert_eq!(&b[12..12 + entry.len()], &entry[..]);
        assert_eq!(b[b.len() - 1], b'B');
        // Adler32 of "Wikipedia" is the textbook 0x11E60398.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn zero_padding_ends_cleanly() {
        let (mut b, _) = log_of(1..6);
        let end = b.len() as u64;
        b.extend_from_slice(&vec![0u8; 4096]);
        let f = read_log(&b).unwrap();
        assert_eq!(f.tail, LogTail::Padding);
        assert_eq!(f.records.len(), 5);
        assert_eq!(f.valid_end, end);
        // An empty log (header then padding) has no records.
        let mut e = BytesMut::new();
        write_header(&mut e, 0);
        e.extend_from_slice(&[0u8; 100]);
        let f = read_log(&e).unwrap();
        assert!(f.records.is_empty() && f.tail == LogTail::Padding && f.valid_end == 16);
    }

    #[test]
    fn torn_tail_at_every_offset() {
        let (b, ends) = log_of(1..5);
        let last_good = ends[ends.len() - 2];
        for cut in last_good as usize + 1..b.len() {
            // Cut short, and cut short then zero-filled as pre-allocation
            // leaves a torn write.
            for padded in [false, true] {
                let mut v = b[..cut].to_vec();
                if padded {
                    v.resize(b.len() + 64, 0);
                }
                let f = read_log(&v).unwrap();
                assert_eq!(f.records.len(), 3, "cut {cut} padded {padded}");
                assert_eq!(f.valid_end, last_good, "cut {cut} padded {padded}");
                // The checksum's top 4 bytes are always 0 (Adler32 is 32
                // bits written as a long): a cut inside them leaves only
                // zeros, which is padding, and truncating changes nothing.
                let zeros = v[last_good as usize..].iter().all(|b| *b == 0);
                assert_eq!(
                    f.tail.is_clean(),
                    zeros,
                    "cut {cut} padded {padded}: {:?}",
                    f.tail
                );
            }
        }
        let f = read_log(&b).unwrap();
        assert_eq!((f.records.len(), f.tail), (4, LogTail::Eof));
    }

    #[test]
    fn corrupt_checksum_and_marker() {
        let (b, ends) = log_of(1..5);
        let start = ends[1] as usize; // third record
                                      // Flip a byte inside the entry: checksum mismatch.
        let mut v = b.to_vec();
        v[start + 20] ^= 0x55;
        let f = read_log(&v).unwrap();
        assert_eq!(f.records.len(), 2);
        assert_eq!(f.valid_end, ends[1]);
        assert!(matches!(f.tail, LogTail::Corrupt(_)), "{:?}", f.tail);
        // Flip the checksum itself.
        let mut v = b.to_vec();
        v[start + 7] ^= 1;
        let f = read_log(&v).unwrap();
        assert!(matches!(f.tail, LogTail::Corrupt(_)) && f.valid_end == ends[1]);
        // Wrong end-of-record mark.
        let mut v = b.to_vec();
        v[ends[2] as usize - 1] = b'C';
        let f = read_log(&v).unwrap();
        assert!(matches!(f.tail, LogTail::Torn(_)) && f.valid_end == ends[1]);
        // Negative length.
        let mut v = b.to_vec();
        v[start + 8..start + 12].copy_from_slice(&(-2i32).to_be_bytes());
        let f = read_log(&v).unwrap();
        assert!(matches!(f.tail, LogTail::Corrupt(_)) && f.valid_end == ends[1]);
    }

    #[test]
    fn bad_headers() {
        assert_eq!(read_log(b"ZKLG").unwrap_err(), LogError::ShortHeader(4));
        let mut b = BytesMut::new();
        FileHeader {
            magic: i32::from_be_bytes(*b"ZKSN"),
            version: 2,
            dbid: 0,
        }
        .write(&mut b);
        assert!(matches!(read_log(&b), Err(LogError::BadMagic(_))));
    }

    #[test]
    fn close_session_without_body_but_with_digest() {
        let mut e = BytesMut::new();
        hdr(9, op::CLOSE_SESSION).write(&mut e);
        TxnDigest {
            version: 2,
            tree_digest: 0x7777_0000_1111,
        }
        .write(&mut e);
        let (t, d) = decode_entry(&e).unwrap();
        assert_eq!(t.body, TxnBody::CloseSession(Default::default()));
        assert_eq!(d.unwrap().tree_digest, 0x7777_0000_1111);
        // And with a body and a digest.
        let t = sample(3);
        let dg = TxnDigest {
            version: 2,
            tree_digest: 5,
        };
        assert_eq!(
            decode_entry(&marshall_entry(&t, Some(&dg))).unwrap(),
            (t, Some(dg))
        );
    }

    #[test]
    fn create_v0_and_reconfig() {
        // CreateTxnV0: no parentCVersion; ZooKeeper reads it as -1.
        let mut e = BytesMut::new();
        hdr(4, op::CREATE).write(&mut e);
        e.ustring("/v0");
        e.buffer(Some(b"d"));
        e.int(0);
        e.boolean(false);
        let (t, d) = decode_entry(&e).unwrap();
        assert!(d.is_none());
        match t.body {
            TxnBody::Create(c) => assert_eq!((c.path.as_str(), c.parent_cversion), ("/v0", -1)),
            b => panic!("{b:?}"),
        }
        let t = Txn {
            hdr: hdr(5, op::RECONFIG),
            body: TxnBody::SetData(SetDataTxn {
                path: "/zookeeper/config".into(),
                data: Some(Bytes::from_static(b"server.1=...")),
                version: -1,
            }),
        };
        assert_eq!(decode_entry(&t.encode()).unwrap().0, t);
        let t = Txn {
            hdr: hdr(6, op::ERROR),
            body: TxnBody::Error(ErrorTxn { err: -110 }),
        };
        assert_eq!(decode_entry(&t.encode()).unwrap().0, t);
    }

    #[test]
    fn padding_policy() {
        let p = DEFAULT_PREALLOC_SIZE;
        // A fresh file: header written, size 0 -> grows to one prealloc.
        let mut fp = FilePadding::new(p);
        fp.current_size = 16;
        assert_eq!(fp.pad(16), Some(16 + p));
        assert_eq!(fp.pad(1000), None);
        // Within 4 KiB of the end: grow by another step.
        assert_eq!(fp.pad(16 + p - 4096), Some(16 + 2 * p));
        // Past the end: round up to a multiple of the step.
        assert_eq!(padded_size(3 * p + 5, p, p), 4 * p);
        // Disabled.
        assert_eq!(padded_size(10, 0, 0), 0);
    }

    #[test]
    fn names_and_replay_choice() {
        assert_eq!(log_file_name(0x1_0000_002a), "log.10000002a");
        assert_eq!(zxid_from_name("log.10000002a", "log"), Some(0x1_0000_002a));
        assert_eq!(zxid_from_name("snapshot.1f.snappy", "snapshot"), Some(0x1f));
        assert_eq!(zxid_from_name("snapshot.1f", "log"), None);
        assert_eq!(zxid_from_name("log.xyz", "log"), None);
        assert_eq!(zxid_from_name("log.", "log"), None);
        assert_eq!(zxid_from_name("log", "log"), None);
        let names = [
            "log.1",
            "log.50",
            "snapshot.40",
            "log.20",
            "log.90",
            "junk",
            "log.zz",
        ];
        let pick = |z| {
            logs_to_replay(&names, z)
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
        };
        // The log before the snapshot zxid is included: it may hold txns
        // past the snapshot.
        assert_eq!(pick(0x40), ["log.20", "log.50", "log.90"]);
        assert_eq!(pick(0x50), ["log.50", "log.90"]);
        assert_eq!(pick(0), ["log.1", "log.20", "log.50", "log.90"]);
        assert_eq!(pick(0x1000), ["log.90"]);
        let sorted = sort_by_zxid(&names, "log", false);
        assert_eq!(sorted[0].1, "log.90");
        assert_eq!(sorted.len(), 4);
    }

    proptest! {
        #[test]
        fn arbitrary_tails_never_panic(n in 0usize..6, junk in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (mut b, _) = log_of(1..(n as i64 + 1));
            let good = b.len() as u64;
            b.extend_from_slice(&junk);
            let f = read_log(&b).unwrap();
            // Everything before the junk is read; the junk is never taken
            // for more than one extra record.
            prop_assert!(f.records.len() >= n);
            prop_assert!(f.valid_end >= good);
            prop_assert_eq!(f.records.len() == n, f.valid_end == good);
        }
    }
}
