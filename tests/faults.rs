//! Durability fault tests against the real `corral` binary: kill -9 under
//! load, a torn log tail, a corrupt newest snapshot, a full disk, purge
//! retention, and the log-dump / snap-dump tools on the files produced.
//!
//! Every test drives corral through the wire protocol (the raw client of
//! `common`) and checks the recovered tree against what the clients were
//! told: an acknowledged write must survive, and what survives of one
//! session's pipelined writes must be a prefix of what it sent.

mod common;

use common::{body, err, op, write_frame, Raw, Server, Stat, W};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// ------------------------------------------------------------- helpers

/// xorshift64*, seeded from the clock (the seed is printed so a failure
/// can be replayed with `FAULTS_SEED`).
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: FAULTS_SEED={seed}");
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// A new session, or a panic that shows the server's log.
fn connect(srv: &Server) -> Raw {
    match Raw::connect_with(&srv.addr(), &common::Connect::default()) {
        Ok((raw, c)) if c.session != 0 => raw,
        Ok(_) => panic!("session refused; server log:\n{}", srv.log_tail()),
        Err(e) => panic!("handshake failed: {e}; server log:\n{}", srv.log_tail()),
    }
}

fn corral() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corral"))
}

/// Runs a `corral` tool; (success, stdout, stderr).
fn tool(args: &[&str]) -> (bool, String, String) {
    let out = corral().args(args).output().expect("run corral tool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Files named `<prefix>.<hex zxid>`, with their zxids.
type Files = Vec<(i64, PathBuf)>;

/// `<prefix>.<hex zxid>` files of a directory, oldest first.
fn zxid_files(dir: &Path, prefix: &str) -> Files {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return v;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('.');
        if parts.next() != Some(prefix) {
            continue;
        }
        if let Some(z) = parts.next().and_then(|h| i64::from_str_radix(h, 16).ok()) {
            v.push((z, e.path()));
        }
    }
    v.sort();
    v
}

fn snapshots(data: &Path) -> Vec<(i64, PathBuf)> {
    zxid_files(&data.join("version-2"), "snapshot")
}

fn logs(data: &Path) -> Vec<(i64, PathBuf)> {
    zxid_files(&data.join("version-2"), "log")
}

/// One record of a txn log, parsed here from the format (independently of
/// corral's reader).
#[derive(Debug, Clone)]
struct LogRec {
    start: u64,
    end: u64,
    zxid: i64,
    /// The path of a create or setData.
    path: Option<String>,
}

/// The records of a log file and where its real data ends (the padding of
/// zeros starts there).
fn parse_log(bytes: &[u8]) -> (Vec<LogRec>, u64) {
    assert!(bytes.len() >= 16, "log shorter than its header");
    assert_eq!(&bytes[..4], b"ZKLG", "not a txn log");
    let mut recs = Vec::new();
    let mut pos = 16usize;
    while pos + 13 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        if len <= 0 || pos + 13 + len as usize > bytes.len() {
            break;
        }
        let e = &bytes[pos + 12..pos + 12 + len as usize];
        if bytes[pos + 12 + len as usize] != b'B' {
            break;
        }
        let zxid = i64::from_be_bytes(e[12..20].try_into().unwrap());
        let opc = i32::from_be_bytes(e[28..32].try_into().unwrap());
        let path = if opc == op::CREATE || opc == op::SET_DATA {
            let n = i32::from_be_bytes(e[32..36].try_into().unwrap()) as usize;
            Some(String::from_utf8_lossy(&e[36..36 + n]).into_owned())
        } else {
            None
        };
        let end = pos + 13 + len as usize;
        recs.push(LogRec {
            start: pos as u64,
            end: end as u64,
            zxid,
            path,
        });
        pos = end;
    }
    (recs, pos as u64)
}

/// The txns of all the logs, in file order, have zxids that go up by one
/// (from the first log's first), and each log is named after its first.
fn assert_log_zxids_contiguous(data: &Path, ctx: &str) {
    let mut prev: Option<i64> = None;
    for (z, f) in logs(data) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(bytes.len() >= 16, "{ctx}: {} has no header", f.display());
        let (recs, _) = parse_log(&bytes);
        if let Some(r) = recs.first() {
            assert_eq!(r.zxid, z, "{ctx}: {} starts at 0x{:x}", f.display(), r.zxid);
        }
        for r in recs {
            if let Some(p) = prev {
                assert_eq!(
                    r.zxid,
                    p + 1,
                    "{ctx}: {}: zxid 0x{:x} ({:?}) follows 0x{p:x}",
                    f.display(),
                    r.zxid,
                    r.path
                );
            }
            prev = Some(r.zxid);
        }
    }
}

/// Sends one request frame; an error means the connection is gone.
fn send(raw: &mut Raw, xid: i32, opcode: i32, b: &[u8]) -> std::io::Result<()> {
    let mut p = W::new().int(xid).int(opcode).bytes();
    p.extend_from_slice(b);
    write_frame(&mut raw.stream, &p)
}

/// getData of many paths, pipelined.
/// A getData answer: the data and stat, or the error code.
type Got = Result<(Option<Vec<u8>>, Stat), i32>;

fn get_many(srv: &Server, paths: &[String]) -> Vec<Got> {
    let mut raw = connect(srv);
    let mut out = Vec::with_capacity(paths.len());
    let mut sent = 0usize;
    while out.len() < paths.len() {
        while sent < paths.len() && sent - out.len() < 256 {
            send(
                &mut raw,
                sent as i32 + 1,
                op::GET_DATA,
                &body::path_watch(&paths[sent], false),
            )
            .expect("send getData");
            sent += 1;
        }
        let r = raw.recv().expect("getData reply");
        assert_eq!(r.xid as usize, out.len() + 1, "reply out of order");
        out.push(if r.err == 0 {
            let mut rd = r.r();
            Ok((rd.buf(), rd.stat()))
        } else {
            Err(r.err)
        });
    }
    raw.close_session();
    out
}

/// A write of a load plan.
#[derive(Debug, Clone)]
enum Wr {
    Create {
        path: String,
        data: Vec<u8>,
    },
    Set {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
}

/// What happened to one session's pipelined writes.
#[derive(Debug, Default)]
struct Outcome {
    /// Writes answered Ok: always a prefix of the plan.
    acked: usize,
    /// Writes sent (some may have reached the log without an answer).
    sent: usize,
    /// A reply out of order, or no reply at all while connected.
    error: Option<String>,
    /// The error code of a write that was refused (not Ok).
    refused: Option<(usize, i32)>,
    /// Whether the connection ended (closed or reset) before the plan did.
    closed: bool,
}

/// Runs `plan` on a new session with up to `window` writes outstanding,
/// until it is done or the connection goes away.
fn run_load(addr: &str, plan: &[Wr], window: usize) -> Outcome {
    let mut o = Outcome::default();
    let Ok((mut raw, c)) = Raw::connect_with(addr, &common::Connect::default()) else {
        o.closed = true;
        return o;
    };
    if c.session == 0 {
        o.closed = true;
        return o;
    }
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut can_send = true;
    while o.acked < plan.len() {
        while can_send && o.sent < plan.len() && o.sent - o.acked < window {
            let (opc, b) = match &plan[o.sent] {
                Wr::Create { path, data } => {
                    (op::CREATE, body::create(path, data, common::OPEN, 0))
                }
                Wr::Set {
                    path,
                    data,
                    version,
                } => (op::SET_DATA, body::set_data(path, data, *version)),
            };
            if send(&mut raw, o.sent as i32 + 1, opc, &b).is_err() {
                can_send = false;
                break;
            }
            o.sent += 1;
        }
        if o.sent == o.acked {
            o.closed = true;
            break;
        }
        match raw.recv() {
            Ok(r) => {
                if r.xid != o.acked as i32 + 1 {
                    o.error = Some(format!("write {}: reply with xid {}", o.acked, r.xid));
                    break;
                }
                if r.err != err::OK {
                    o.refused = Some((o.acked, r.err));
                    break;
                }
                o.acked += 1;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                o.error = Some(format!(
                    "no answer to write {} in 20 s, connection still open",
                    o.acked
                ));
                break;
            }
            Err(_) => {
                o.closed = true;
                break;
            }
        }
    }
    o
}

fn data_of(tag: &str, k: usize) -> Vec<u8> {
    let mut d = format!("{tag}|").into_bytes();
    let n = 16 + (k * 37) % 90;
    d.extend((0..n).map(|i| b'a' + ((i + k) % 26) as u8));
    d
}

/// The children of `path` (sorted), panicking on an error.
fn kids(raw: &mut Raw, path: &str) -> Vec<String> {
    raw.children(path, false)
        .unwrap_or_else(|e| panic!("getChildren {path}: error {e}"))
}

/// Asserts that every `(path, data)` is present with that data, version 0
/// (created, never set).
fn assert_created(srv: &Server, expect: &BTreeMap<String, Vec<u8>>, ctx: &str) {
    let paths: Vec<String> = expect.keys().cloned().collect();
    for (p, got) in paths.iter().zip(get_many(srv, &paths)) {
        match got {
            Ok((d, st)) => {
                assert_eq!(
                    d.as_deref(),
                    Some(&expect[p][..]),
                    "{ctx}: {p} has the wrong data"
                );
                assert_eq!(st.version, 0, "{ctx}: {p} version");
            }
            Err(e) => panic!("{ctx}: acknowledged {p} is missing after restart (error {e})"),
        }
    }
}

// --------------------------------------------------- 1. kill -9 under load

const SESSIONS: usize = 4;

/// One session's view of its own part of the tree: `/f/s<i>` (set by its
/// setData writes) and the children its creates made.
#[derive(Debug, Clone, Default)]
struct SessModel {
    names: BTreeSet<String>,
    /// The data version of `/f/s<i>` = setData writes applied.
    sets: i32,
    last_set: Vec<u8>,
}

fn plan_for(s: usize, cycle: usize, m: &SessModel, len: usize) -> Vec<Wr> {
    let mut v = Vec::with_capacity(len);
    let mut sets = m.sets;
    for k in 0..len {
        if k % 6 == 0 {
            v.push(Wr::Create {
                path: format!("/f/s{s}/c{cycle}k{k}"),
                data: data_of(&format!("s{s}c{cycle}k{k}"), k),
            });
        } else {
            v.push(Wr::Set {
                path: format!("/f/s{s}"),
                data: format!("set:s{s}c{cycle}k{k}").into_bytes(),
                version: sets,
            });
            sets += 1;
        }
    }
    v
}

/// Checks one session's recovered state against its model and this
/// cycle's plan and outcome; returns the updated model.
fn check_session(
    raw: &mut Raw,
    s: usize,
    cycle: usize,
    m: &SessModel,
    plan: &[Wr],
    o: &Outcome,
) -> SessModel {
    let ctx = format!("cycle {cycle} session {s}");
    let node = format!("/f/s{s}");
    let (data, st) = raw
        .get_data(&node, false)
        .unwrap_or_else(|e| panic!("{ctx}: {node}: error {e}"));
    let data = data.unwrap_or_default();
    let present: BTreeSet<String> = kids(raw, &node).into_iter().collect();
    let lost: Vec<&String> = m.names.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "{ctx}: earlier acknowledged nodes lost: {lost:?}"
    );
    let index_of = |p: &str| {
        plan.iter()
            .position(|w| matches!(w, Wr::Create { path, .. } if path == p))
    };
    let mut top: Option<usize> = None;
    for n in present.difference(&m.names) {
        let full = format!("{node}/{n}");
        let k = index_of(&full).unwrap_or_else(|| panic!("{ctx}: unexpected node {full}"));
        top = top.max(Some(k));
    }
    let set_k = if data == m.last_set {
        None
    } else {
        let k = plan
            .iter()
            .position(|w| matches!(w, Wr::Set { data: d, .. } if *d == data))
            .unwrap_or_else(|| {
                panic!(
                    "{ctx}: {node} holds {:?}, written by no one",
                    String::from_utf8_lossy(&data)
                )
            });
        top = top.max(Some(k));
        Some(k)
    };
    let applied = top.map_or(0, |t| t + 1);
    assert!(
        applied >= o.acked,
        "{ctx}: {} writes were acknowledged but only {applied} survived (write {applied}: {:?})",
        o.acked,
        plan.get(applied)
    );
    assert!(
        applied <= o.sent,
        "{ctx}: {applied} writes applied, {} sent",
        o.sent
    );
    let mut next = m.clone();
    let mut last_set = None;
    for (k, w) in plan[..applied].iter().enumerate() {
        match w {
            Wr::Create { path, .. } => {
                let name = path.rsplit('/').next().unwrap().to_string();
                assert!(
                    present.contains(&name),
                    "{ctx}: write {k} ({path}) is missing but a later write of the session survived"
                );
                next.names.insert(name);
            }
            Wr::Set { data, .. } => {
                next.sets += 1;
                next.last_set = data.clone();
                last_set = Some(k);
            }
        }
    }
    assert_eq!(
        last_set, set_k,
        "{ctx}: {node}'s data is not from the last setData of the surviving prefix"
    );
    assert_eq!(st.version, next.sets, "{ctx}: {node} data version");
    next
}

#[test]
fn kill9_under_load_keeps_every_acknowledged_write() {
    let mut rng = Rng::new("kill9");
    let t0 = Instant::now();
    let mut srv = Server::opts()
        .cfg("snapCount", "200")
        .cfg("preAllocSize", "64")
        .start();
    let data_dir = srv.data_dir();
    let mut models = vec![SessModel::default(); SESSIONS];
    {
        let mut raw = connect(&srv);
        raw.create("/f", b"", 0).ok();
        for (s, m) in models.iter_mut().enumerate() {
            raw.create(&format!("/f/s{s}"), b"init", 0).ok();
            m.last_set = b"init".to_vec();
        }
        raw.close_session();
    }
    // Every created node with its data, for the full check at the end of
    // each cycle.
    let mut all: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let cycles = 24;
    let mut mid_load = 0;
    let mut total_acked = 0;
    let mut purged = 0;
    for cycle in 0..cycles {
        let addr = srv.addr();
        // More than the kill usually leaves time for.
        let per = rng.range(1500, 3000) as usize;
        let plans: Vec<Vec<Wr>> = (0..SESSIONS)
            .map(|s| plan_for(s, cycle, &models[s], per))
            .collect();
        let delay = Duration::from_millis(rng.range(10, 200));
        let purge_now = cycle % 5 == 4;
        let outcomes: Vec<Outcome> = std::thread::scope(|sc| {
            let hs: Vec<_> = plans
                .iter()
                .map(|p| {
                    let addr = addr.clone();
                    sc.spawn(move || run_load(&addr, p, 32))
                })
                .collect();
            if purge_now {
                // As autopurge would: purge while the server writes.
                std::thread::sleep(delay / 2);
                let d = data_dir.display().to_string();
                let (ok, _, e) = tool(&["purge", &d, "-n", "3"]);
                assert!(ok, "purge under load failed: {e}");
                purged += 1;
                std::thread::sleep(delay / 2);
            } else {
                std::thread::sleep(delay);
            }
            srv.kill9();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (s, o) in outcomes.iter().enumerate() {
            assert!(
                o.error.is_none(),
                "cycle {cycle} session {s}: {:?}",
                o.error
            );
            assert!(
                o.refused.is_none(),
                "cycle {cycle} session {s}: write refused {:?}",
                o.refused
            );
        }
        if outcomes.iter().any(|o| o.acked < plans[0].len()) {
            mid_load += 1;
        }
        total_acked += outcomes.iter().map(|o| o.acked).sum::<usize>();
        eprintln!(
            "cycle {cycle}: killed after {delay:?}, acked/sent/planned {:?}",
            outcomes
                .iter()
                .map(|o| (o.acked, o.sent, per))
                .collect::<Vec<_>>()
        );
        srv.restart();
        let mut raw = connect(&srv);
        for s in 0..SESSIONS {
            let next = check_session(&mut raw, s, cycle, &models[s], &plans[s], &outcomes[s]);
            for n in next.names.difference(&models[s].names) {
                let p = format!("/f/s{s}/{n}");
                let d = plans[s]
                    .iter()
                    .find_map(|w| match w {
                        Wr::Create { path, data } if *path == p => Some(data.clone()),
                        _ => None,
                    })
                    .unwrap();
                all.insert(p, d);
            }
            models[s] = next;
        }
        raw.close_session();
        assert_created(&srv, &all, &format!("cycle {cycle}"));
    }
    assert_log_zxids_contiguous(&data_dir, "after the kills");
    let snaps = snapshots(&data_dir).len();
    let nlogs = logs(&data_dir).len();
    eprintln!(
        "kill9: {cycles} cycles, {mid_load} killed mid-load, {total_acked} writes acknowledged, \
         {} nodes, {snaps} snapshots and {nlogs} logs left, {purged} purges, {:?}",
        all.len(),
        t0.elapsed()
    );
    assert!(
        mid_load >= cycles / 2,
        "only {mid_load} of {cycles} kills hit the load"
    );
    assert!(total_acked > 1000, "only {total_acked} writes acknowledged");
    assert!(
        snaps >= 3,
        "snapCount=200 should have left snapshots, found {snaps}"
    );
}

/// Creates of `/<dir>/<prefix>n<k>` for k in 0..n, each with its own data.
fn creates(dir: &str, prefix: &str, n: usize, size: usize) -> Vec<Wr> {
    (0..n)
        .map(|k| {
            let mut data = data_of(&format!("{prefix}n{k}"), k);
            data.resize(size.max(data.len()), b'0' + (k % 10) as u8);
            Wr::Create {
                path: format!("{dir}/{prefix}n{k}"),
                data,
            }
        })
        .collect()
}

fn record(expect: &mut BTreeMap<String, Vec<u8>>, writes: &[Wr]) {
    for w in writes {
        if let Wr::Create { path, data } = w {
            expect.insert(path.clone(), data.clone());
        }
    }
}

/// Runs `plan` and asserts that every write was acknowledged.
fn load_all(srv: &Server, plan: &[Wr], window: usize) {
    let o = run_load(&srv.addr(), plan, window);
    assert!(
        o.acked == plan.len() && o.error.is_none() && o.refused.is_none(),
        "load stopped early: {o:?}; server log:\n{}",
        srv.log_tail()
    );
}

/// The children of `dir` are exactly the last components of `expect`'s
/// keys under it, and every one has its data.
fn assert_tree(srv: &Server, dir: &str, expect: &BTreeMap<String, Vec<u8>>, ctx: &str) {
    let mut raw = connect(srv);
    let got: BTreeSet<String> = kids(&mut raw, dir).into_iter().collect();
    raw.close_session();
    let want: BTreeSet<String> = expect
        .keys()
        .filter_map(|p| p.strip_prefix(&format!("{dir}/")).map(String::from))
        .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{ctx}: children of {dir}: missing {missing:?}, unexpected {extra:?}"
    );
    assert_created(srv, expect, ctx);
}

/// Waits until a snapshot newer than `than` exists; its zxid.
fn wait_snapshot_after(data: &Path, than: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((z, _)) = snapshots(data).last() {
            if *z > than {
                return *z;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot after 0x{than:x} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------- 2. torn tail

#[test]
fn torn_log_tail_recovers_to_the_last_whole_record() {
    let mut rng = Rng::new("torn");
    let mut srv = Server::opts().cfg("preAllocSize", "64").start();
    let data_dir = srv.data_dir();
    {
        let mut raw = connect(&srv);
        raw.create("/t", b"", 0).ok();
        raw.close_session();
    }
    let mut expect: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for it in 0..8 {
        let ctx = format!("iteration {it}");
        let plan = creates("/t", &format!("i{it}"), 60, 0);
        load_all(&srv, &plan, 8);
        let planned: BTreeMap<String, Vec<u8>> = {
            let mut m = BTreeMap::new();
            record(&mut m, &plan);
            m
        };
        srv.kill9();
        let (_, last) = logs(&data_dir).pop().expect("a txn log");
        let bytes = std::fs::read(&last).unwrap();
        let (recs, end) = parse_log(&bytes);
        assert!(
            bytes[end as usize..].iter().all(|b| *b == 0),
            "{ctx}: {} has non-zero bytes after its last record",
            last.display()
        );
        let logged: Vec<&String> = recs.iter().filter_map(|r| r.path.as_ref()).collect();
        for p in planned.keys() {
            assert!(
                logged.contains(&p),
                "{ctx}: acknowledged {p} is not in the newest log"
            );
        }
        // Cut inside one of the last records: shorten the file, or (as a
        // write that reached only part of the pre-allocated file) zero the
        // bytes from the cut to the end of the data.
        let from = recs.len().saturating_sub(6);
        let victim = recs[rng.range(from as u64, recs.len() as u64) as usize].clone();
        let idx = recs.iter().position(|r| r.start == victim.start).unwrap();
        let cut = rng.range(victim.start + 1, victim.end);
        let zero_fill = it % 2 == 1;
        if zero_fill {
            let mut b = bytes.clone();
            b[cut as usize..end as usize].fill(0);
            std::fs::write(&last, &b).unwrap();
        } else {
            let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
            f.set_len(cut).unwrap();
        }
        // Adler32 fills only the low half of the 8-byte checksum: a cut in
        // the high half leaves zeros, which read as padding (a clean end).
        let clean = bytes[victim.start as usize..cut as usize]
            .iter()
            .all(|b| *b == 0);
        let (ok, out, e) = tool(&["log-dump", &last.display().to_string()]);
        assert!(ok, "{ctx}: log-dump failed: {e}");
        let want = if clean {
            format!("EOF reached after {idx} txns.")
        } else {
            format!("Stopped after {idx} txns at byte {}", victim.start)
        };
        assert!(
            out.contains(&want),
            "{ctx}: log-dump says\n{out}\nnot {want:?}"
        );
        srv.restart();
        for r in &recs[..idx] {
            if let Some(p) = &r.path {
                if let Some(d) = planned.get(p) {
                    expect.insert(p.clone(), d.clone());
                }
            }
        }
        // Everything before the cut is back, nothing from or after it.
        assert_tree(&srv, "/t", &expect, &ctx);
        if !clean {
            let len = std::fs::metadata(&last).unwrap().len();
            assert_eq!(len, victim.start, "{ctx}: the torn tail was not cut off");
        }
        eprintln!(
            "torn {ctx}: cut record {idx} of {} at +{} ({}), {} nodes",
            recs.len(),
            cut - victim.start,
            if zero_fill { "zeroed" } else { "truncated" },
            expect.len()
        );
    }
    // And it keeps working on top of what it recovered.
    let plan = creates("/t", "final", 20, 0);
    load_all(&srv, &plan, 8);
    record(&mut expect, &plan);
    srv.kill9();
    srv.restart();
    assert_tree(&srv, "/t", &expect, "after the last restart");
}

// --------------------------------------------------- 3. corrupt snapshot

#[test]
fn corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    let mut rng = Rng::new("snapshot");
    let mut srv = Server::opts()
        .cfg("snapCount", "100")
        .cfg("preAllocSize", "64")
        .start();
    let data_dir = srv.data_dir();
    {
        let mut raw = connect(&srv);
        raw.create("/s", b"", 0).ok();
        raw.close_session();
    }
    let mut expect: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for round in 0..4 {
        let ctx = format!("round {round}");
        // (snapshot.0, taken at the first start, may still be on its way.)
        let newest_before = snapshots(&data_dir).last().map_or(0, |(z, _)| *z);
        let plan = creates("/s", &format!("r{round}"), 250, 0);
        load_all(&srv, &plan, 16);
        record(&mut expect, &plan);
        wait_snapshot_after(&data_dir, newest_before);
        srv.kill9();
        let snaps = snapshots(&data_dir);
        assert!(snaps.len() >= 2, "{ctx}: only {} snapshots", snaps.len());
        let (z, newest) = snaps.last().unwrap().clone();
        let mut b = std::fs::read(&newest).unwrap();
        let how = match round {
            0 => {
                // Flip bytes in the middle: the quick check (length, the
                // trailing "/") still passes, the checksum does not.
                for _ in 0..8 {
                    let at = rng.range(b.len() as u64 / 10, b.len() as u64 * 9 / 10) as usize;
                    b[at] ^= 1 << rng.range(0, 8);
                }
                "flipped bytes"
            }
            1 => {
                b.truncate(rng.range(1, b.len() as u64 - 1) as usize);
                "truncated"
            }
            2 => {
                b[..4].copy_from_slice(b"XXXX");
                "bad magic"
            }
            _ => {
                // The two newest are both bad.
                let (_, second) = &snaps[snaps.len() - 2];
                let mut c = std::fs::read(second).unwrap();
                let at = c.len() / 2;
                c[at] ^= 0x5a;
                std::fs::write(second, &c).unwrap();
                b.truncate(b.len() / 2);
                "two newest corrupted"
            }
        };
        std::fs::write(&newest, &b).unwrap();
        let (ok, _, _) = tool(&["snap-dump", &newest.display().to_string()]);
        assert!(!ok, "{ctx}: snap-dump read the corrupted snapshot");
        srv.restart();
        assert_tree(&srv, "/s", &expect, &ctx);
        eprintln!(
            "snapshot {ctx}: snapshot.{z:x} {how} of {} snapshots, {} nodes back",
            snaps.len(),
            expect.len()
        );
    }
}

// ------------------------------------------------------------ 4. full disk

/// A small tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("corral-tmpfs-")
            .tempdir()
            .unwrap();
        let path = dir.path().to_path_buf();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs failed (this test needs root and permission to mount): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { path, _dir: dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

#[test]
fn full_disk_fails_writes_cleanly_and_recovers() {
    let mut failed_closes = 0;
    for round in 0..3 {
        failed_closes += full_disk_round(round);
    }
    assert!(
        failed_closes > 0,
        "no closeSession ever met the full disk: the dropped-close path went untested"
    );
}

/// One fill / free / crash round; returns how many closeSessions failed on
/// the full disk.
fn full_disk_round(round: usize) -> usize {
    let fs = Tmpfs::mount("16m");
    let data = fs.path.join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Space to give back later: enough for the snapshot corral takes of
    // the whole tree when it restarts.
    let filler = fs.path.join("filler");
    std::fs::write(&filler, vec![0xa5u8; 9 << 20]).unwrap();
    let mut srv = Server::opts()
        .cfg("dataDir", &data.display().to_string())
        .cfg("preAllocSize", "64")
        // Snapshots fail on the full disk too in round 0; later rounds
        // fill it with the log alone.
        .cfg("snapCount", if round == 0 { "400" } else { "100000" })
        .cfg("tickTime", "200")
        .cfg("maxSessionTimeout", "60000")
        .start();
    let mut reader = connect(&srv);
    reader.create("/d", b"", 0).ok();
    // Short sessions with an ephemeral each, to be closed while the disk
    // is full.
    let mut ephs: Vec<Raw> = (0..4)
        .map(|i| {
            let mut e = Raw::connect_timeout(&srv.addr(), 3000);
            e.create(&format!("/d/eph{i}"), b"e", 1).ok();
            e
        })
        .collect();
    let mut acked: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut planned: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut failed_in_a_row = 0;
    let mut attempts = 0;
    let mut refusals = 0;
    while failed_in_a_row < 3 {
        assert!(attempts < 200, "the disk never filled up");
        // Three sessions at once, so that batches queue up behind the
        // one that meets the full disk.
        let plans: Vec<Vec<Wr>> = (0..3)
            .map(|w| creates("/d", &format!("a{attempts}w{w}"), 24, 4096))
            .collect();
        let outcomes: Vec<Outcome> = std::thread::scope(|sc| {
            let hs: Vec<_> = plans
                .iter()
                .map(|p| {
                    let addr = srv.addr();
                    sc.spawn(move || run_load(&addr, p, 8))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut failed = false;
        for (plan, o) in plans.iter().zip(&outcomes) {
            assert!(
                o.error.is_none(),
                "attempt {attempts}: {:?}; server log:\n{}",
                o.error,
                srv.log_tail()
            );
            if o.refused.is_some() {
                refusals += 1;
            }
            record(&mut planned, plan);
            record(&mut acked, &plan[..o.acked]);
            failed |= o.acked < plan.len();
        }
        if failed {
            failed_in_a_row += 1;
        } else {
            failed_in_a_row = 0;
        }
        attempts += 1;
    }
    // Squeeze the last bytes out with writes as small as a closeSession
    // (setData of "/d" to nothing: the same record size), take every page
    // a failed write gave back (a failed write frees what it had), and
    // squeeze again: now the closes below are sure to fail.
    squeeze(&srv);
    let filler2 = fs.path.join("filler2");
    take_all_space(&filler2);
    squeeze(&srv);
    // A closeSession that cannot be logged must leave the session alive
    // (to expire later), not gone with its ephemeral left behind.
    let mut close_failed = 0;
    for mut e in ephs.drain(..) {
        let failed = send(&mut e, 1, op::CLOSE_SESSION, &[]).is_err()
            || match e.recv() {
                Ok(r) => {
                    assert_eq!(r.xid, 1);
                    r.err != err::OK
                }
                Err(_) => true,
            };
        close_failed += failed as usize;
    }
    let free = free_bytes(&fs.path);
    eprintln!(
        "full disk round {round}: {} writes acknowledged in {attempts} attempts ({refusals} \
         refused with an error), {free} bytes free, {close_failed} of 4 closeSessions failed",
        acked.len()
    );
    // Reads keep working on a session opened before the disk filled.
    let present: BTreeSet<String> = kids(&mut reader, "/d").into_iter().collect();
    for p in acked.keys() {
        let name = p.strip_prefix("/d/").unwrap();
        assert!(
            present.contains(name),
            "acknowledged {p} not visible while the disk is full"
        );
    }
    for p in [acked.keys().next().unwrap(), acked.keys().last().unwrap()] {
        let (d, _) = reader
            .get_data(p, false)
            .expect("read while the disk is full");
        assert_eq!(d.as_deref(), Some(&acked[p][..]), "{p} read while full");
    }
    assert_eq!(srv.four_letter("ruok"), "imok");
    // Give space back: writes work again (the first may still meet the
    // full disk while the space is being freed; a few tries).
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&filler2).unwrap();
    let mut ok_after = false;
    for t in 0..10 {
        let plan = creates("/d", &format!("after{t}"), 16, 512);
        record(&mut planned, &plan);
        let o = run_load(&srv.addr(), &plan, 4);
        assert!(o.error.is_none(), "after freeing space: {:?}", o.error);
        record(&mut acked, &plan[..o.acked]);
        if o.acked == plan.len() {
            ok_after = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ok_after,
        "writes still fail after freeing space; server log:\n{}",
        srv.log_tail()
    );
    let (d, _) = reader.get_data("/d", false).expect("reader still works");
    assert_eq!(d.as_deref(), Some(&b""[..]));
    // The sessions whose close could not be logged expire (3 s), and
    // their ephemerals go with them.
    let t = Instant::now();
    for i in 0..4 {
        let p = format!("/d/eph{i}");
        assert!(
            common::eventually(Duration::from_secs(10), || reader
                .exists(&p, false)
                .is_none()),
            "{p}, of a session closed while the disk was full, is still there after 10 s \
             ({close_failed} closes failed); server log:\n{}",
            srv.log_tail()
        );
    }
    eprintln!(
        "full disk round {round}: ephemerals gone after {:?}",
        t.elapsed()
    );
    drop(reader);
    // Crash, and recover from what is on the (formerly full) disk.
    srv.kill9();
    // Failed batches left nothing behind, and nothing built on them was
    // logged: the zxids run on without a gap or a repeat.
    assert_log_zxids_contiguous(&data, "after the full disk");
    let last_zxid = logs(&data)
        .iter()
        .flat_map(|(_, f)| parse_log(&std::fs::read(f).unwrap()).0)
        .map(|r| r.zxid)
        .max()
        .unwrap();
    srv.restart();
    assert_created(&srv, &acked, "after restart");
    // Nothing visible that was not written as planned (no torn data).
    let mut raw = connect(&srv);
    let present: Vec<String> = kids(&mut raw, "/d")
        .into_iter()
        .map(|n| format!("/d/{n}"))
        .collect();
    let got = get_many(&srv, &present);
    for (p, g) in present.iter().zip(got) {
        let want = planned
            .get(p)
            .unwrap_or_else(|| panic!("{p} was never written"));
        let (d, _) = g.unwrap_or_else(|e| panic!("{p}: error {e}"));
        assert_eq!(d.as_deref(), Some(&want[..]), "{p} is corrupted");
    }
    // And it still writes.
    let plan = creates("/d", "end", 8, 0);
    load_all(&srv, &plan, 4);
    raw.close_session();
    // Once the snapshot taken at start-up is written, no unfinished
    // snapshot is left holding space.
    wait_snapshot_after(&data, last_zxid - 1);
    let temps: Vec<String> = std::fs::read_dir(data.join("version-2"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "unfinished snapshots left: {temps:?}");
    drop(srv);
    close_failed
}

/// Small writes, one at a time, until three sessions in a row cannot
/// make a single one.
fn squeeze(srv: &Server) {
    let plan: Vec<Wr> = (0..5000)
        .map(|_| Wr::Set {
            path: "/d".into(),
            data: Vec::new(),
            version: -1,
        })
        .collect();
    let mut failed = 0;
    for t in 0..50 {
        if failed >= 3 {
            return;
        }
        let o = run_load(&srv.addr(), &plan, 1);
        assert!(o.error.is_none(), "small writes {t}: {:?}", o.error);
        if o.acked == 0 {
            failed += 1;
        } else {
            failed = 0;
        }
    }
    panic!("small writes kept succeeding on a full disk");
}

/// Appends to `path` until the file system is full.
fn take_all_space(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    while f.write_all(&[0x5a; 4096]).is_ok() {}
    while f.write_all(&[0x5a]).is_ok() {}
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- 5. purge

/// What ZooKeeper's `PurgeTxnLog` keeps with `-n n`: the newest n valid
/// snapshots (and every snapshot newer than the oldest of them), the
/// newest log at or before that snapshot's zxid, and every later log.
fn zk_retention(
    snaps: &[(i64, PathBuf)],
    logs: &[(i64, PathBuf)],
    valid: impl Fn(&Path) -> bool,
    n: usize,
) -> (Files, Files) {
    let valid: Vec<i64> = snaps
        .iter()
        .filter(|(_, p)| valid(p))
        .map(|(z, _)| *z)
        .collect();
    if valid.len() <= n {
        return (snaps.to_vec(), logs.to_vec());
    }
    let least = valid[valid.len() - n];
    let log_from = logs
        .iter()
        .map(|(z, _)| *z)
        .filter(|z| *z <= least)
        .max()
        .unwrap_or(least);
    (
        snaps.iter().filter(|(z, _)| *z >= least).cloned().collect(),
        logs.iter()
            .filter(|(z, _)| *z >= log_from)
            .cloned()
            .collect(),
    )
}

fn purge_and_check(data_dir: &Path, valid: impl Fn(&Path) -> bool, ctx: &str) {
    let d = data_dir.display().to_string();
    let (snaps, logs_before) = (snapshots(data_dir), logs(data_dir));
    // Fewer than 3 is refused, and removes nothing.
    let (ok, _, _) = tool(&["purge", &d, "-n", "2"]);
    assert!(!ok, "{ctx}: purge -n 2 was accepted");
    assert_eq!(
        snapshots(data_dir),
        snaps,
        "{ctx}: purge -n 2 removed snapshots"
    );
    let (want_snaps, want_logs) = zk_retention(&snaps, &logs_before, valid, 3);
    assert!(
        want_snaps.len() < snaps.len() && want_logs.len() < logs_before.len(),
        "{ctx}: nothing to purge ({} snapshots, {} logs)",
        snaps.len(),
        logs_before.len()
    );
    let (ok, out, e) = tool(&["purge", &d, "-n", "3"]);
    assert!(ok, "{ctx}: purge failed: {e}");
    assert_eq!(snapshots(data_dir), want_snaps, "{ctx}: snapshots kept");
    assert_eq!(logs(data_dir), want_logs, "{ctx}: logs kept");
    for (_, p) in snaps.iter().chain(&logs_before) {
        if p.exists() {
            continue;
        }
        assert!(
            out.contains(&p.display().to_string()),
            "{ctx}: purge removed {} without saying so:\n{out}",
            p.display()
        );
    }
    eprintln!(
        "purge {ctx}: {} -> {} snapshots, {} -> {} logs",
        snaps.len(),
        want_snaps.len(),
        logs_before.len(),
        want_logs.len()
    );
}

#[test]
fn purge_keeps_what_zookeeper_keeps() {
    let mut srv = Server::opts()
        .cfg("snapCount", "40")
        .cfg("preAllocSize", "64")
        .start();
    let data_dir = srv.data_dir();
    {
        let mut raw = connect(&srv);
        raw.create("/p", b"", 0).ok();
        raw.close_session();
    }
    let mut expect: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for round in 0..3 {
        let plan = creates("/p", &format!("r{round}"), 120, 0);
        load_all(&srv, &plan, 4);
        record(&mut expect, &plan);
    }
    let newest = wait_snapshot_after(&data_dir, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while snapshots(&data_dir).len() < 6 {
        assert!(Instant::now() < deadline, "fewer than 6 snapshots");
        std::thread::sleep(Duration::from_millis(20));
    }
    srv.kill9();
    assert!(newest > 0);
    purge_and_check(&data_dir, |_| true, "first purge");
    srv.restart();
    assert_tree(&srv, "/p", &expect, "after the first purge");

    // Again, with the newest snapshot invalid: it is not one of the 3, it
    // stays (it is newer than the oldest kept), and recovery skips it.
    for round in 3..5 {
        let plan = creates("/p", &format!("r{round}"), 120, 0);
        load_all(&srv, &plan, 4);
        record(&mut expect, &plan);
    }
    srv.kill9();
    let (_, newest) = snapshots(&data_dir).pop().unwrap();
    let b = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &b[..b.len() / 2]).unwrap();
    let bad = newest.clone();
    purge_and_check(&data_dir, move |p| p != bad, "second purge");
    assert!(newest.exists(), "the invalid newest snapshot was removed");
    srv.restart();
    assert_tree(&srv, "/p", &expect, "after the second purge");
}

// ---------------------------------------------------- 6. log-dump, snap-dump

#[test]
fn log_dump_and_snap_dump_print_the_paths() {
    let mut srv = Server::opts()
        .cfg("snapCount", "60")
        .cfg("preAllocSize", "64")
        .start();
    let data_dir = srv.data_dir();
    {
        let mut raw = connect(&srv);
        raw.create("/dump", b"", 0).ok();
        raw.close_session();
    }
    let mut plan = creates("/dump", "", 150, 0);
    for v in 0..20 {
        plan.push(Wr::Set {
            path: "/dump/n0".into(),
            data: format!("v{v}").into_bytes(),
            version: v,
        });
    }
    load_all(&srv, &plan, 8);
    let mut expect = BTreeMap::new();
    record(&mut expect, &plan);
    srv.kill9();
    let mut all = String::new();
    let mut last_zxid = 0;
    let logs_now = logs(&data_dir);
    assert!(
        logs_now.len() >= 2,
        "snapCount=60 should have rolled the log"
    );
    for (_, f) in &logs_now {
        let (ok, out, e) = tool(&["log-dump", &f.display().to_string()]);
        assert!(ok, "log-dump {}: {e}", f.display());
        let (recs, _) = parse_log(&std::fs::read(f).unwrap());
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"),
            "{}",
            f.display()
        );
        let txns = lines.filter(|l| l.contains(" zxid 0x")).count();
        assert_eq!(txns, recs.len(), "{}: txn lines", f.display());
        assert!(
            out.contains(&format!("EOF reached after {} txns.", recs.len())),
            "{}:\n{out}",
            f.display()
        );
        for r in &recs {
            assert!(
                out.contains(&format!(" zxid 0x{:x} ", r.zxid)),
                "{}: zxid 0x{:x} not printed",
                f.display(),
                r.zxid
            );
            last_zxid = last_zxid.max(r.zxid);
        }
        all.push_str(&out);
    }
    for p in expect.keys() {
        assert!(
            all.contains(&format!(" create {p},#")),
            "log-dump never shows create {p}"
        );
    }
    for v in 0..20 {
        assert!(
            all.contains(&format!(" setData /dump/n0,#v{v},{}", v + 1)),
            "log-dump never shows setData v{v}"
        );
    }
    // The snapshot written at start-up holds everything.
    srv.restart();
    let z = wait_snapshot_after(&data_dir, last_zxid - 1);
    let (_, snap) = snapshots(&data_dir).pop().unwrap();
    let (ok, out, e) = tool(&["snap-dump", &snap.display().to_string()]);
    assert!(ok, "snap-dump {}: {e}", snap.display());
    assert!(out.starts_with("ZNode Details (count="), "{out}");
    let lines: BTreeSet<&str> = out.lines().collect();
    for p in expect
        .keys()
        .map(String::as_str)
        .chain(["/", "/dump", "/zookeeper"])
    {
        assert!(lines.contains(p), "snap-dump does not list {p}");
    }
    assert!(
        out.contains(&format!("Last zxid: 0x{z:x}")),
        "snap-dump's last zxid is not 0x{z:x}"
    );
    let count: usize = out["ZNode Details (count=".len()..]
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= expect.len() + 2, "count={count}");
    // n0's stat: 20 setData writes.
    let n0 = out.split("\n/dump/n0\n").nth(1).expect("/dump/n0 block");
    assert!(n0.contains("  dataVersion = 20\n"), "/dump/n0:\n{n0}");
}
