//! Hostile tests: disk (issue 13, item 5). A damaged txn log or snapshot
//! must never cost acknowledged writes without a word: a torn tail (a
//! partial last record, nothing valid after it) is cut with a log line
//! saying how much; a bad record with valid records after it, a bad
//! checksum, or a broken header on a log with data stops start-up, names
//! the file, the offset, the last good zxid and what lies beyond, and
//! changes nothing. `corral log-dump -r` repairs checksums as ZooKeeper's
//! TxnLogToolkit does; a broken snapshot is passed over only when the logs
//! cover the gap; an ensemble member with a corrupt log does not start.

use crate::common::ensemble::{Ensemble, Kind};
use crate::common::{self, Connect, Raw, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One record of a txn log, parsed here from the format (crc 8, length 4,
/// entry, 'B'), independent of corral's reader.
#[derive(Debug, Clone, Copy)]
struct Rec {
    start: usize,
    end: usize,
    zxid: i64,
}

fn records(b: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut pos = 16;
    while pos + 12 <= b.len() {
        let len = i32::from_be_bytes(b[pos + 8..pos + 12].try_into().unwrap());
        if len <= 0 {
            break;
        }
        let end = pos + 12 + len as usize + 1;
        assert!(end <= b.len() && b[end - 1] == b'B', "a whole log at {pos}");
        let zxid = i64::from_be_bytes(b[pos + 12 + 12..pos + 12 + 20].try_into().unwrap());
        out.push(Rec {
            start: pos,
            end,
            zxid,
        });
        pos = end;
    }
    out
}

/// `<prefix>.<hex zxid>` files of `data/version-2`, oldest first.
fn files(data: &Path, prefix: &str) -> Vec<(i64, PathBuf)> {
    let dir = data.join("version-2");
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let hex = name.strip_prefix(&format!("{prefix}."))?;
                    let z = i64::from_str_radix(hex.split('.').next()?, 16).ok()?;
                    Some((z, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A standalone server with `n` creates `/c001`.. acknowledged, then
/// killed (kill -9: nothing but the log holds them). The server, its
/// newest log, and that log's records.
fn server_with_creates(n: usize, opts: common::ServerOpts) -> (Server, PathBuf, Vec<Rec>) {
    let mut srv = opts.start();
    let mut raw = Raw::connect(&srv.addr());
    for i in 1..=n {
        raw.create(&format!("/c{i:03}"), b"x", 0).ok();
    }
    srv.kill9();
    let (_, log) = files(&srv.data_dir(), "log").pop().expect("a txn log");
    let recs = records(&std::fs::read(&log).unwrap());
    assert!(recs.len() > n, "{} records for {n} creates", recs.len());
    (srv, log, recs)
}

/// Runs corral on `srv`'s zoo.cfg (it must be stopped): `Some(status)`
/// when it exits by itself within 20 s, `None` when it serves instead (it
/// is then killed). Its output comes back too.
fn start_expecting_exit(srv: &Server) -> (Option<ExitStatus>, String) {
    let out = srv.dir.path().join("refused.log");
    let f = std::fs::File::create(&out).unwrap();
    let cfg = srv.dir.path().join("zoo.cfg");
    let mut cmd = if common::against_reference() {
        let mut c = Command::new("java");
        c.args([
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
        ]);
        c.arg(&cfg);
        c
    } else {
        let mut c = Command::new(common::corral_bin());
        c.arg(&cfg);
        c
    };
    cmd.current_dir(srv.dir.path())
        .env_remove("SERVER_JVMFLAGS")
        .env_remove("JVMFLAGS")
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f);
    common::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("spawn corral");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = || std::fs::read_to_string(&out).unwrap_or_default();
    // ZooKeeper serves once a session can be made.
    let serving = || {
        text().contains("corral is serving")
            || (common::against_reference()
                && Raw::connect_with(&srv.addr(), &Connect::default())
                    .is_ok_and(|(_, c)| c.session != 0))
    };
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() >= deadline || serving() {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, text())
}

/// Asserts that start-up was refused, and returns its output.
fn assert_refused(srv: &Server, what: &str) -> String {
    let (st, out) = start_expecting_exit(srv);
    match st {
        Some(st) => assert!(!st.success(), "{what}: exited with success:\n{out}"),
        None => panic!("{what}: corral started and served instead of refusing:\n{out}"),
    }
    out
}

fn children(srv: &Server) -> Vec<String> {
    let mut raw = Raw::connect(&srv.addr());
    raw.children("/", false)
        .unwrap()
        .into_iter()
        .filter(|c| c.starts_with('c'))
        .collect()
}

fn run_tool(args: &[&str]) -> (bool, String) {
    let out = Command::new(common::corral_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run corral");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn byte_flip_inside_record_21_refuses_start_and_changes_nothing() {
    let (srv, log, recs) = server_with_creates(200, Server::opts());
    let mut b = std::fs::read(&log).unwrap();
    let victim = recs[20]; // record 21
    let last_good = recs[19].zxid;
    let beyond = recs.len() - 21;
    b[(victim.start + 12 + victim.end) / 2] ^= 0x20;
    std::fs::write(&log, &b).unwrap();
    let out = assert_refused(&srv, "a flipped byte in record 21");
    if common::against_reference() {
        // ZooKeeper refuses too; the rest is corral's.
        assert!(out.contains("CRC check failed"), "{out}");
        return;
    }
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    for want in [
        name.clone(),
        format!("at byte {}", victim.start),
        format!("last good zxid is 0x{last_good:x}"),
        format!("{beyond} valid record(s) lie beyond"),
    ] {
        assert!(
            out.contains(&want),
            "the refusal does not say {want:?}:\n{out}"
        );
    }
    // log-dump says so too.
    let (_, dump) = run_tool(&["log-dump", &log.display().to_string()]);
    assert!(
        dump.contains(&format!("{beyond} valid record(s) lie beyond the damage")),
        "{dump}"
    );
    // Nothing was cut: same size (pre-allocation included), same bytes.
    assert_eq!(std::fs::read(&log).unwrap(), b, "{name} was changed");
    // The operator may choose to keep what precedes the damage
    // (TxnLogToolkit's chop mode), and then it starts with that.
    let file = log.display().to_string();
    let (ok, out) = run_tool(&["log-dump", "-c", "-z", &format!("0x{last_good:x}"), &file]);
    assert!(ok && out.contains("new log has 20 records"), "{out}");
    std::fs::rename(format!("{file}.chopped{last_good}"), &log).unwrap();
    let mut srv = srv;
    srv.restart();
    assert_eq!(children(&srv).len(), 19);
}

#[test]
fn bad_checksum_on_the_last_record_refuses_start() {
    // A whole record that fails its checksum is damage, not a torn write,
    // even with nothing after it (ZooKeeper: "CRC check failed").
    let (srv, log, recs) = server_with_creates(30, Server::opts());
    let mut b = std::fs::read(&log).unwrap();
    let last = *recs.last().unwrap();
    b[(last.start + 12 + last.end) / 2] ^= 0x01;
    std::fs::write(&log, &b).unwrap();
    let out = assert_refused(&srv, "a bad checksum on the last record");
    if common::against_reference() {
        assert!(out.contains("CRC check failed"), "{out}");
        return;
    }
    assert!(
        out.contains(&format!("at byte {}", last.start)) && out.contains("checksum"),
        "{out}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), b);
}

#[test]
fn bad_magic_on_the_last_log_refuses_start() {
    let (srv, log, recs) = server_with_creates(70, Server::opts());
    let mut b = std::fs::read(&log).unwrap();
    b[0] = b'X';
    std::fs::write(&log, &b).unwrap();
    let out = assert_refused(&srv, "a bad magic on the last log");
    if common::against_reference() {
        assert!(out.contains("invalid magic number"), "{out}");
        return;
    }
    assert!(
        out.contains("broken header")
            && out.contains(&format!("{} valid record(s) lie beyond", recs.len())),
        "{out}"
    );
    assert!(log.exists(), "the log was removed");
    assert_eq!(std::fs::read(&log).unwrap(), b);
}

#[test]
fn torn_tail_is_cut_with_a_log_line_and_the_server_starts() {
    if common::against_reference() {
        return;
    }
    let (mut srv, log, recs) = server_with_creates(40, Server::opts());
    let mut b = std::fs::read(&log).unwrap();
    let last = *recs.last().unwrap();
    // A write that reached the disk only in part: the rest of the record
    // is still the pre-allocated zeros.
    let cut = (last.start + 12 + last.end) / 2;
    b[cut..last.end].fill(0);
    std::fs::write(&log, &b).unwrap();
    srv.restart();
    let kids = children(&srv);
    assert_eq!(kids.len(), 39, "{kids:?}");
    assert!(!kids.contains(&"c040".to_string()));
    let text = srv.log_text();
    assert!(
        text.contains(&format!(
            "{} bytes cut at byte {}",
            b.len() - last.start,
            last.start
        )),
        "no log line saying what was cut:\n{}",
        srv.log_tail()
    );
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        last.start as u64,
        "the torn record was not cut"
    );
}

#[test]
fn log_dump_recover_repairs_a_flipped_checksum() {
    if common::against_reference() {
        return;
    }
    let (mut srv, log, recs) = server_with_creates(200, Server::opts());
    let mut b = std::fs::read(&log).unwrap();
    // The checksum's low byte of record 21: the entry is intact.
    b[recs[20].start + 7] ^= 0x5a;
    std::fs::write(&log, &b).unwrap();
    assert_refused(&srv, "a flipped checksum");
    let file = log.display().to_string();
    let (ok, out) = run_tool(&["log-dump", "-r", "-y", &file]);
    assert!(ok, "log-dump -r -y failed:\n{out}");
    assert!(
        out.contains("CRC FIXED - ")
            && out.contains(&format!("EOF reached after {} txns.", recs.len()))
            && out.contains("has been written with 1 fixed CRC error(s)"),
        "{out}"
    );
    let fixed = PathBuf::from(format!("{file}.fixed"));
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b,
        "the original is left alone"
    );
    // A second run does not overwrite the repaired file.
    let (ok, out) = run_tool(&["log-dump", "-r", "-y", &file]);
    assert!(!ok && out.contains("already exists"), "{out}");
    std::fs::rename(&fixed, &log).unwrap();
    srv.restart();
    assert_eq!(children(&srv).len(), 200);
}

/// A server with snapshots every few dozen txns and 200 creates; killed.
/// Its snapshots (at least three) and the zxid of the last create.
fn server_with_snapshots() -> (Server, Vec<(i64, PathBuf)>) {
    let mut srv = Server::opts()
        .cfg("snapCount", "40")
        .cfg("preAllocSize", "64")
        .start();
    let data = srv.data_dir();
    let mut raw = Raw::connect(&srv.addr());
    for i in 1..=200 {
        raw.create(&format!("/c{i:03}"), b"x", 0).ok();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while files(&data, "snapshot")
        .iter()
        .filter(|(z, _)| *z > 100)
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no snapshots after zxid 100");
        std::thread::sleep(Duration::from_millis(20));
    }
    srv.kill9();
    let snaps = files(&data, "snapshot");
    assert!(snaps.len() >= 3, "{snaps:?}");
    (srv, snaps)
}

fn break_snapshot(path: &Path) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x40;
    std::fs::write(path, &b).unwrap();
    b
}

#[test]
fn broken_newest_snapshot_falls_back_when_the_logs_cover_the_gap() {
    if common::against_reference() {
        return;
    }
    let (mut srv, snaps) = server_with_snapshots();
    let (z, newest) = snaps.last().unwrap().clone();
    break_snapshot(&newest);
    srv.restart();
    assert_eq!(children(&srv).len(), 200);
    let text = srv.log_text();
    assert!(
        text.contains(&format!(
            "snapshot 0x{z:x} does not read; fell back to the older snapshot"
        )),
        "no warning about the fallback:\n{}",
        srv.log_tail()
    );
}

#[test]
fn broken_newest_snapshot_without_logs_covering_refuses_start() {
    if common::against_reference() {
        return;
    }
    let (srv, snaps) = server_with_snapshots();
    let (z, newest) = snaps.last().unwrap().clone();
    let broken = break_snapshot(&newest);
    // The logs that hold the txns between the older snapshot and the
    // broken one are gone (purged, or lost with a disk).
    for (start, log) in files(&srv.data_dir(), "log") {
        if start <= z {
            std::fs::remove_file(log).unwrap();
        }
    }
    let out = assert_refused(&srv, "a broken snapshot the logs do not cover");
    assert!(
        out.contains("do not cover the gap") && out.contains(&format!("0x{z:x}")),
        "{out}"
    );
    assert_eq!(std::fs::read(&newest).unwrap(), broken);
    assert_eq!(
        files(&srv.data_dir(), "snapshot"),
        snaps,
        "snapshots changed"
    );
}

#[test]
fn ensemble_member_with_a_corrupt_log_does_not_start_and_resyncs_once_wiped() {
    if common::against_reference() {
        return;
    }
    let mut ens = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    ens.start_all();
    ens.wait_for(Duration::from_secs(30), "a leader", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    let leader = ens.one_leader(&[0, 1, 2]).unwrap();
    let addr = format!("127.0.0.1:{}", ens.members[leader].client);
    let mut raw = Raw::connect(&addr);
    for i in 1..=200 {
        raw.create(&format!("/c{i:03}"), b"x", 0).ok();
    }
    let f = (leader + 1) % 3;
    let has_c200 = |addr: &str| {
        Raw::connect_with(addr, &Connect::default())
            .is_ok_and(|(mut r, _)| r.exists("/c200", false).is_some())
    };
    // The follower has logged all 200 (a sync on it makes sure).
    let faddr = format!("127.0.0.1:{}", ens.members[f].client);
    ens.wait_for(Duration::from_secs(20), "the follower has /c200", |_| {
        has_c200(&faddr)
    });
    ens.kill9(f);
    let data = ens.member_dir(f).join("data");
    let (_, log) = files(&data, "log").pop().expect("a txn log");
    let mut b = std::fs::read(&log).unwrap();
    let recs = records(&b);
    assert!(recs.len() > 100, "{} records", recs.len());
    let victim = recs[recs.len() / 2];
    b[(victim.start + 12 + victim.end) / 2] ^= 0x20;
    std::fs::write(&log, &b).unwrap();
    let from = ens.log_text(f).len();
    ens.start(f);
    let st = ens.wait_exit(f, Duration::from_secs(20));
    let text = ens.log_text(f);
    let out = text.get(from..).unwrap_or_default();
    assert!(
        st.is_some_and(|s| !s.success()),
        "the member with a corrupt log did not refuse to start ({st:?}):\n{out}"
    );
    assert!(out.contains("is corrupt"), "{out}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b,
        "the member changed its log"
    );
    // The other two still serve every write.
    let kids = Raw::connect(&addr).children("/", false).unwrap();
    assert_eq!(kids.iter().filter(|c| c.starts_with('c')).count(), 200);
    // The documented way back: wipe its data; it syncs from the leader.
    ens.wipe(f);
    ens.start(f);
    ens.wait_for(Duration::from_secs(30), "the wiped member back", |e| {
        e.one_leader(&[0, 1, 2]).is_some() && has_c200(&faddr)
    });
}
