//! Operator tools: `corral log-dump` (ZooKeeper's `TxnLogToolkit`, with
//! its recovery mode `-r` that recomputes bad checksums and its chop mode
//! `-c -z`) and
//! `corral snap-dump` (`SnapshotFormatter`), as pure logic over what
//! `txnlog` and `snapshot` read; `main` does the file and terminal I/O. `corral purge` lives in `storage`.

use crate::data::tree::Tree;
use crate::data::txn::{Txn, TxnBody};
use crate::ops::clock::civil_from_days;
use crate::protocol::jute::op;
use crate::storage::snapshot::Snapshot;
use crate::storage::txnlog::{LogFile, LogTail};
use std::fmt::Write;

/// ZooKeeper's `Request.op2String`.
pub fn op_name(code: i32) -> &'static str {
    match code {
        op::NOTIFICATION => "notification",
        op::CREATE => "create",
        op::CREATE2 => "create2",
        op::CREATE_TTL => "createTtl",
        op::CREATE_CONTAINER => "createContainer",
        op::DELETE => "delete",
        op::DELETE_CONTAINER => "deleteContainer",
        op::EXISTS => "exists",
        op::GET_DATA => "getData",
        op::CHECK => "check",
        op::MULTI => "multi",
        op::SET_DATA => "setData",
        op::SYNC => "sync:",
        op::GET_ACL => "getACL",
        op::SET_ACL => "setACL",
        op::GET_CHILDREN => "getChildren",
        op::GET_CHILDREN2 => "getChildren2",
        op::PING => "ping",
        op::CREATE_SESSION => "createSession",
        op::CLOSE_SESSION => "closeSession",
        op::ERROR => "error",
        op::RECONFIG => "reconfig",
        _ => "unknown",
    }
}

fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

fn data_str(d: &Option<bytes::Bytes>) -> String {
    match d {
        None => "null".into(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn body_str(b: &TxnBody) -> String {
    match b {
        TxnBody::Create(c) => format!(
            "{},#{},v{{{}}},{},{}",
            c.path,
            data_str(&c.data),
            acl_str(&c.acl),
            c.ephemeral,
            c.parent_cversion
        ),
        TxnBody::CreateContainer(c) => format!(
            "{},#{},v{{{}}},{}",
            c.path,
            data_str(&c.data),
            acl_str(&c.acl),
            c.parent_cversion
        ),
        TxnBody::CreateTtl(c) => format!(
            "{},#{},v{{{}}},{},{}",
            c.path,
            data_str(&c.data),
            acl_str(&c.acl),
            c.parent_cversion,
            c.ttl
        ),
        TxnBody::Delete(d) => d.path.clone(),
        TxnBody::SetData(s) => format!("{},#{},{}", s.path, data_str(&s.data), s.version),
        TxnBody::SetAcl(s) => format!("{},v{{{}}},{}", s.path, acl_str(&s.acl), s.version),
        TxnBody::Check(c) => format!("{},{}", c.path, c.version),
        TxnBody::CreateSession(c) => c.time_out.to_string(),
        TxnBody::CloseSession(c) => format!("v{{{}}}", c.paths_to_delete.join(",")),
        TxnBody::Error(e) => e.err.to_string(),
        TxnBody::Multi(subs) => subs
            .iter()
            .map(|(o, b)| format!("{}:{}", op_name(*o), body_str(b)))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

fn acl_str(acl: &[crate::protocol::jute::Acl]) -> String {
    acl.iter()
        .map(|a| format!("s{{{},{}:{}}}", a.perms, a.id.scheme, a.id.id))
        .collect::<Vec<_>>()
        .join(",")
}

/// One line per txn, as `TxnLogToolkit` prints them.
pub fn txn_line(t: &Txn) -> String {
    format!(
        "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {} {}",
        time(t.hdr.time),
        t.hdr.client_id,
        t.hdr.cxid,
        t.hdr.zxid,
        op_name(t.hdr.op),
        body_str(&t.body)
    )
}

/// The whole `log-dump` output for a log file.
pub fn format_log(log: &LogFile) -> String {
    let mut s = format!(
        "ZooKeeper Transactional Log File with dbid {} txnlog format version {}\n",
        log.header.dbid, log.header.version
    );
    for r in &log.records {
        let _ = writeln!(s, "{}", txn_line(&r.txn));
    }
    match &log.tail {
        LogTail::Eof | LogTail::Padding => {
            let _ = writeln!(s, "EOF reached after {} txns.", log.records.len());
        }
        LogTail::Torn(why) | LogTail::Corrupt(why) => {
            let _ = writeln!(
                s,
                "Stopped after {} txns at byte {}: {why}",
                log.records.len(),
                log.valid_end
            );
        }
    }
    s
}

/// What the operator answers when `log-dump -r` finds a bad checksum
/// (TxnLogToolkit's "Would you like to fix it (Yes/No/Abort) ?").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Abort,
}

/// Why `log-dump -r` stopped without writing a repaired file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    #[error("Invalid magic number for {0}")]
    BadMagic(String),
    #[error("Last transaction was partial.")]
    Partial,
    #[error("Unreasonable length {0} at byte {1}")]
    BadLength(i32, usize),
    #[error("Recovery aborted.")]
    Aborted,
    #[error(
        "the log cannot be read past byte {0}, but {1} valid record(s) lie beyond it; \
         no repaired file was written (it would drop them)"
    )]
    Beyond(usize, usize),
}

/// What `log-dump -r` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecovery {
    /// The repaired log (header and every record, checksums recomputed
    /// where the operator said yes), to be written to `<file>.fixed`.
    pub fixed_log: Vec<u8>,
    /// How many checksums were recomputed.
    pub crc_fixed: usize,
    /// How many records were read.
    pub txns: usize,
}

fn entry_line(entry: &[u8]) -> String {
    match crate::storage::txnlog::decode_entry(entry) {
        Ok((t, _)) => txn_line(&t),
        Err(e) => format!(
            "(an entry of {} bytes that does not decode: {e})",
            entry.len()
        ),
    }
}

/// ZooKeeper's `TxnLogToolkit` in recovery mode (`-r`), as pure logic:
/// reads the records of `buf` up to the end of the log (the end of the
/// file, or an empty entry: pre-allocation), and copies each one to the
/// repaired log; a record whose Adler32 does not match its entry is shown
/// ("CRC ERROR - ..."), and `ask` decides whether its checksum is
/// recomputed (`force`, TxnLogToolkit's `-y`, recomputes every one without
/// asking and shows "CRC FIXED - ..."). `verbose` (`-v`) shows every
/// record. A record without its end-of-record mark stops it ("Last
/// transaction was partial."), as it stops TxnLogToolkit. Lines go to `out`.
pub fn recover_log(
    name: &str,
    buf: &[u8],
    force: bool,
    verbose: bool,
    out: &mut String,
    mut ask: impl FnMut(&mut String) -> Answer,
) -> Result<LogRecovery, RecoverError> {
    use crate::protocol::jute::Jute;
    use crate::storage::txnlog::{adler32, FileHeader, EOR, TXNLOG_MAGIC};
    let header = buf
        .get(..FileHeader::LEN)
        .and_then(|h| FileHeader::decode(h).ok())
        .filter(|h| h.magic == TXNLOG_MAGIC)
        .ok_or_else(|| RecoverError::BadMagic(name.to_string()))?;
    let _ = writeln!(
        out,
        "ZooKeeper Transactional Log File with dbid {} txnlog format version {}",
        header.dbid, header.version
    );
    let mut fixed_log = buf[..FileHeader::LEN].to_vec();
    let mut pos = FileHeader::LEN;
    let mut crc_fixed = 0;
    let mut txns = 0;
    while let Some(frame) = buf.get(pos..pos + 12) {
        let mut crc = i64::from_be_bytes(frame[..8].try_into().unwrap_or_default());
        let len = i32::from_be_bytes(frame[8..12].try_into().unwrap_or_default());
        if len == 0 {
            // Pre-allocated space: the end of the log.
            break;
        }
        let n = usize::try_from(len).map_err(|_| RecoverError::BadLength(len, pos))?;
        let Some(entry) = buf.get(pos + 12..pos + 12 + n) else {
            break;
        };
        let actual = adler32(entry);
        if crc != actual {
            if force {
                crc = actual;
                crc_fixed += 1;
                let _ = writeln!(out, "CRC FIXED - {}", entry_line(entry));
            } else {
                let _ = writeln!(out, "CRC ERROR - {}", entry_line(entry));
                match ask(out) {
                    Answer::Yes => {
                        crc = actual;
                        crc_fixed += 1;
                    }
                    Answer::No => {}
                    Answer::Abort => return Err(RecoverError::Aborted),
                }
            }
        }
        if verbose {
            let _ = writeln!(out, "{}", entry_line(entry));
        }
        if buf.get(pos + 12 + n) != Some(&EOR) {
            return Err(RecoverError::Partial);
        }
        fixed_log.extend_from_slice(&crc.to_be_bytes());
        fixed_log.extend_from_slice(&frame[8..12]);
        fixed_log.extend_from_slice(entry);
        fixed_log.push(EOR);
        pos += 12 + n + 1;
        txns += 1;
    }
    // Where reading stopped is the end of the log only if nothing valid
    // lies past it: a repaired file must not drop records silently.
    let after = buf
        .get(..pos)
        .and_then(|b| crate::storage::txnlog::read_log(b).ok())
        .and_then(|l| l.records.last().map(|r| r.txn.hdr.zxid))
        .unwrap_or(0);
    let beyond = crate::storage::txnlog::records_beyond(buf, pos + 1, after);
    if beyond.records > 0 {
        return Err(RecoverError::Beyond(pos, beyond.records));
    }
    let _ = writeln!(out, "EOF reached after {txns} txns.");
    Ok(LogRecovery {
        fixed_log,
        crc_fixed,
        txns,
    })
}

/// Why `log-dump -c` wrote no chopped file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChopError {
    #[error("Invalid magic number in txn log file {0}")]
    BadMagic(String),
    #[error("This log does not contain zxid {0:x}")]
    NoZxid(i64),
}

/// ZooKeeper's `TxnLogToolkit -c -z <zxid>` (`LogChopper`): the log's
/// header and its records up to and including `zxid`, which it must hold.
/// Unlike LogChopper, the record after `zxid` need not be readable: this
/// is how an operator keeps what precedes damage that `-r` cannot repair.
pub fn chop_log(name: &str, buf: &[u8], zxid: i64, out: &mut String) -> Result<Vec<u8>, ChopError> {
    let (header, reader) = crate::storage::txnlog::LogReader::new(buf)
        .map_err(|_| ChopError::BadMagic(name.to_string()))?;
    let _ = writeln!(
        out,
        "ZooKeeper Transactional Log File with dbid {} txnlog format version {}",
        header.dbid, header.version
    );
    let mut chopped = buf[..crate::storage::txnlog::FileHeader::LEN].to_vec();
    let (mut count, mut found) = (0, false);
    for r in reader {
        if r.txn.hdr.zxid > zxid {
            break;
        }
        found |= r.txn.hdr.zxid == zxid;
        chopped.extend_from_slice(&buf[r.offset as usize..r.end as usize]);
        count += 1;
    }
    if !found {
        return Err(ChopError::NoZxid(zxid));
    }
    let _ = writeln!(out, "Chopping at {zxid:x} new log has {count} records");
    Ok(chopped)
}

/// What `log-dump` adds after a damaged record: the valid records past
/// it (a torn tail has none; corruption has some, and start-up refuses).
pub fn format_beyond(b: &crate::storage::txnlog::Beyond) -> String {
    match (b.first_offset, b.last_zxid) {
        (Some(at), Some(z)) => format!(
            "{} valid record(s) lie beyond the damage, from byte {at} up to zxid 0x{z:x}: the log is corrupt, not torn.\n",
            b.records
        ),
        _ => "No valid record lies beyond: a torn tail, which start-up cuts if the record is partial.\n"
            .to_string(),
    }
}

fn node_lines(s: &mut String, tree: &Tree, path: &str) {
    let Some(n) = tree.get(path) else { return };
    let st = n.stat();
    let _ = writeln!(s, "{path}");
    let _ = writeln!(s, "  cZxid = 0x{:014x}", st.czxid);
    let _ = writeln!(s, "  ctime = {}", time(st.ctime));
    let _ = writeln!(s, "  mZxid = 0x{:014x}", st.mzxid);
    let _ = writeln!(s, "  mtime = {}", time(st.mtime));
    let _ = writeln!(s, "  pZxid = 0x{:014x}", st.pzxid);
    let _ = writeln!(s, "  cversion = {}", st.cversion);
    let _ = writeln!(s, "  dataVersion = {}", st.version);
    let _ = writeln!(s, "  aclVersion = {}", st.aversion);
    let _ = writeln!(s, "  ephemeralOwner = 0x{:014x}", n.ephemeral_owner);
    let _ = writeln!(s, "  dataLength = {}", st.data_length);
    s.push_str("----\n");
    for c in tree.child_paths(path) {
        node_lines(s, tree, c);
    }
}

/// The whole `snap-dump` output for a snapshot.
pub fn format_snapshot(snap: &Snapshot) -> String {
    let mut s = format!("ZNode Details (count={}):\n----\n", snap.tree.node_count());
    node_lines(&mut s, &snap.tree, "/");
    let _ = writeln!(s, "Session Details (sid, timeout, ephemeralCount):");
    for (sid, timeout) in &snap.sessions {
        let _ = writeln!(
            s,
            "0x{sid:x}, {timeout}, {}",
            snap.tree.ephemerals_of(*sid).len()
        );
    }
    let _ = writeln!(s, "----\nLast zxid: 0x{:x}", snap.tree.last_zxid);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(n: i64) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        crate::storage::txnlog::write_header(&mut b, 0);
        for z in 1..=n {
            let t = Txn {
                hdr: crate::protocol::jute::TxnHeader {
                    client_id: 1,
                    cxid: z as i32,
                    zxid: z,
                    time: 0,
                    op: op::DELETE,
                },
                body: TxnBody::Delete(crate::protocol::jute::DeleteTxn {
                    path: format!("/n{z}"),
                }),
            };
            crate::storage::txnlog::write_record(&mut b, &t, None);
        }
        b.to_vec()
    }

    #[test]
    fn recovery_recomputes_bad_checksums_as_asked() {
        let good = log_of(5);
        let rec = |n: usize| 16 + n * (12 + 32 + 4 + 3 + 1);
        let mut bad = good.clone();
        bad[rec(1) + 7] ^= 0x10; // record 2's checksum
        bad[rec(3) + 7] ^= 0x10; // record 4's checksum
        bad.extend_from_slice(&[0; 64]);
        let mut out = String::new();
        let r = recover_log("log.1", &bad, true, false, &mut out, |_| Answer::No).unwrap();
        assert_eq!((r.crc_fixed, r.txns), (2, 5));
        assert_eq!(r.fixed_log, good, "{out}");
        assert_eq!(out.matches("CRC FIXED - ").count(), 2, "{out}");
        assert!(out.ends_with("EOF reached after 5 txns.\n"), "{out}");
        // Asked: yes to the first, no to the second.
        let mut answers = [Answer::Yes, Answer::No].into_iter();
        let mut out = String::new();
        let r = recover_log("log.1", &bad, false, true, &mut out, |_| {
            answers.next().unwrap()
        })
        .unwrap();
        assert_eq!(r.crc_fixed, 1);
        assert_eq!(r.fixed_log[..rec(3)], good[..rec(3)]);
        assert_ne!(r.fixed_log, good);
        assert_eq!(out.matches("CRC ERROR - ").count(), 2, "{out}");
        assert_eq!(out.matches("zxid 0x").count(), 7, "verbose: {out}");
        let mut out = String::new();
        let e = recover_log("log.1", &bad, false, false, &mut out, |_| Answer::Abort);
        assert_eq!(e, Err(RecoverError::Aborted));
        // A partial last record and a bad header stop it.
        let mut torn = good.clone();
        torn.pop();
        torn.push(0);
        let e = recover_log("log.1", &torn, true, false, &mut out, |_| Answer::Yes);
        assert_eq!(e, Err(RecoverError::Partial));
        // A length that runs past the file, with valid records after it:
        // no repaired file, rather than one that drops them.
        let mut long = good.clone();
        long[rec(2) + 8..rec(2) + 12].copy_from_slice(&100_000i32.to_be_bytes());
        let e = recover_log("log.1", &long, true, false, &mut out, |_| Answer::Yes);
        assert_eq!(e, Err(RecoverError::Beyond(rec(2), 2)));
        let e = recover_log("log.1", b"ZKSN and more", true, false, &mut out, |_| {
            Answer::Yes
        });
        assert_eq!(e, Err(RecoverError::BadMagic("log.1".into())));
    }

    #[test]
    fn chop_keeps_the_records_up_to_a_zxid_it_holds() {
        let good = log_of(5);
        let rec = |n: usize| 16 + n * 52;
        let mut bad = good.clone();
        bad[rec(3) + 20] ^= 1; // record 4 is damaged
        let mut out = String::new();
        let c = chop_log("log.1", &bad, 3, &mut out).unwrap();
        assert_eq!(c, good[..rec(3)]);
        assert!(out.contains("Chopping at 3 new log has 3 records"), "{out}");
        assert_eq!(
            chop_log("log.1", &bad, 4, &mut out),
            Err(ChopError::NoZxid(4))
        );
        assert_eq!(chop_log("log.1", &good, 5, &mut out).unwrap(), good);
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(time(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(time(1_795_714_007_661), "2026-11-26 17:26:47.661 UTC");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
    }
}
