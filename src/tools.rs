//! Operator tools: `corral log-dump` (ZooKeeper's `TxnLogToolkit`) and
//! `corral snap-dump` (`SnapshotFormatter`), as pure formatting of what
//! `txnlog` and `snapshot` read. `corral purge` lives in `storage`.

use crate::jute::op;
use crate::snapshot::Snapshot;
use crate::tree::Tree;
use crate::txn::{Txn, TxnBody};
use crate::txnlog::{LogFile, LogTail};
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

/// Days since 1970-01-01 as (year, month 1-12, day 1-31), by Howard
/// Hinnant's `civil_from_days`; shared by every date corral prints.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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

fn acl_str(acl: &[crate::jute::Acl]) -> String {
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

    #[test]
    fn dates_are_civil() {
        assert_eq!(time(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(time(1_795_714_007_661), "2026-11-26 17:26:47.661 UTC");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
    }
}
