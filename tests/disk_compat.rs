//! On-disk compatibility with Apache ZooKeeper 3.8 (Debian's package).
//!
//! (a) The reference server writes a dataDir (small snapCount, so several
//!     snapshots and logs, with every compression method); corral's
//!     `snapshot`/`txnlog` modules read it, replay the logs onto each
//!     snapshot with `Tree::apply`, check every txn's digest and the
//!     snapshot digests with `digest`, and the result must equal the tree
//!     the server served (data, stats, ACLs, children).
//! (b) corral writes a snapshot and a log; ZooKeeper's own
//!     `SnapshotFormatter` and `TxnLogToolkit` must read them, and the
//!     reference server started on that dataDir must serve the same tree,
//!     report no digest mismatch, and write a snapshot of it that corral
//!     reads back identically.
//!
//! A missing java or ZooKeeper makes these tests fail, not skip. Servers are
//! killed on drop (and with the test thread) and listen on free loopback
//! ports.

mod common;

use bytes::{Bytes, BytesMut};
use common::{die_with_parent, free_port};
use corral::data::digest::{TxnDigest, ZxidDigest, DIGEST_VERSION};
use corral::data::tree::{child_path, tree_digest, Tree};
use corral::data::txn::{Txn, TxnBody};
use corral::protocol::jute::{
    op, Acl, AuthPacket, CheckVersionRequest, CheckVersionTxn, CloseSessionTxn, ConnectRequest,
    ConnectResponse, Create2Response, CreateContainerTxn, CreateRequest, CreateSessionTxn,
    CreateTtlRequest, CreateTtlTxn, CreateTxn, DeleteRequest, DeleteTxn, ErrorTxn, GetAclResponse,
    GetChildrenResponse, GetDataResponse, Id, Jute, JuteWrite, MultiHeader, PathRequest,
    PathWatchRequest, Reader, ReplyHeader, RequestHeader, SetAclRequest, SetAclTxn, SetDataRequest,
    SetDataTxn, Stat, TxnHeader,
};
use corral::storage::snapshot::{self, Compression};
use corral::storage::txnlog;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
const CLASSPATH: &str = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar";

// ------------------------------------------------------------ the server

fn java() -> Command {
    assert!(
        Path::new(ZK_JAR).exists(),
        "{ZK_JAR} missing: install Debian's zookeeper (scripts/setup.sh)"
    );
    let mut c = Command::new("java");
    c.args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]);
    c
}

/// The reference ZooKeeper on a data dir; killed when dropped.
struct RefServer {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl RefServer {
    fn start(dir: &Path, data_dir: &Path, props: &[(&str, &str)]) -> RefServer {
        let log = dir.join(format!("server-{}.log", std::process::id()));
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let cfg = dir.join("zoo.cfg");
            std::fs::write(
                &cfg,
                format!(
                    "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                     admin.enableServer=false\n4lw.commands.whitelist=*\nmaxSessionTimeout=120000\n",
                    data_dir.display()
                ),
            )
            .unwrap();
            let logf = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            let mut cmd = java();
            for (k, v) in props {
                cmd.arg(format!("-D{k}={v}"));
            }
            cmd.args([
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                CLASSPATH,
                "org.apache.zookeeper.server.ZooKeeperServerMain",
            ])
            .arg(&cfg)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
            die_with_parent(&mut cmd);
            let mut child = cmd.spawn().expect("spawn java (is a JRE installed?)");
            let mut s = RefServer {
                child: None,
                port,
                log: log.clone(),
            };
            match wait_ready(&mut child, port) {
                Ok(()) => {
                    s.child = Some(child);
                    return s;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = format!("{e}; log:\n{}", s.log_tail());
                }
            }
        }
        panic!("reference ZooKeeper did not start: {last}");
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A four-letter word's answer.
    fn four(&self, cmd: &str) -> String {
        let mut s = TcpStream::connect(self.addr()).unwrap();
        s.write_all(cmd.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Kills the server (like a crash: everything committed is on disk).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!("--- reference server log tail ---\n{}", self.log_tail());
        }
        self.kill();
    }
}

fn wait_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            return Err(format!("server exited with {st}"));
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            // ZooKeeper answers ruok before it serves; srvr says when it does.
            let _ = s.write_all(b"srvr");
            let mut out = String::new();
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read_to_string(&mut out);
            if out.starts_with("Zookeeper version") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("not ready after 60s".into())
}

// ------------------------------------------------------------ a raw client

struct Client {
    s: TcpStream,
    xid: i32,
    session: i64,
}

/// `CreateMode` flags.
mod mode {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: scheme.into(),
            id: id.into(),
        },
    }
}

fn open() -> Vec<Acl> {
    vec![acl(31, "world", "anyone")]
}

impl Client {
    fn connect(addr: &str) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        let mut c = Client {
            s,
            xid: 0,
            session: 0,
        };
        let mut b = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 60000,
            session_id: 0,
            passwd: Bytes::from(vec![0u8; 16]),
        }
        .encode();
        b.boolean(false);
        c.send(&b);
        let r = c.recv();
        let resp = ConnectResponse::decode(&r).unwrap();
        assert_ne!(resp.session_id, 0, "session refused");
        c.session = resp.session_id;
        c
    }

    fn send(&mut self, payload: &[u8]) {
        let mut f = (payload.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        self.s.write_all(&f).unwrap();
    }

    fn recv(&mut self) -> Vec<u8> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).unwrap();
        let mut b = vec![0u8; i32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut b).unwrap();
        b
    }

    /// One request; the reply's error code and body.
    fn call_xid(&mut self, xid: i32, op: i32, body: &[u8]) -> (i32, Vec<u8>) {
        let mut b = RequestHeader { xid, op }.encode();
        b.extend_from_slice(body);
        self.send(&b);
        loop {
            let r = self.recv();
            let mut rd = Reader::new(&r);
            let h = ReplyHeader::read(&mut rd).unwrap();
            if h.xid == -1 {
                continue; // a watch event
            }
            assert_eq!(h.xid, xid);
            let at = r.len() - rd.remaining();
            return (h.err, r[at..].to_vec());
        }
    }

    fn call(&mut self, op: i32, body: &[u8]) -> (i32, Vec<u8>) {
        self.xid += 1;
        self.call_xid(self.xid, op, body)
    }

    fn ok(&mut self, op: i32, body: &[u8]) -> Vec<u8> {
        let (err, b) = self.call(op, body);
        assert_eq!(err, 0, "op {op} failed");
        b
    }

    fn auth(&mut self, scheme: &str, auth: &str) {
        let b = AuthPacket {
            kind: 0,
            scheme: scheme.into(),
            auth: Bytes::from(auth.as_bytes().to_vec()),
        }
        .encode();
        assert_eq!(self.call_xid(-4, op::AUTH, &b).0, 0);
    }

    fn create(&mut self, path: &str, data: Option<&[u8]>, acl: Vec<Acl>, flags: i32) -> String {
        let req = CreateRequest {
            path: path.into(),
            data: data.map(|d| Bytes::from(d.to_vec())),
            acl,
            flags,
        };
        let opc = if flags == mode::CONTAINER {
            op::CREATE_CONTAINER
        } else {
            op::CREATE2
        };
        let b = self.ok(opc, &req.encode());
        Create2Response::decode(&b).unwrap().path
    }

    fn create_ttl(&mut self, path: &str, data: &[u8], flags: i32, ttl: i64) -> String {
        let req = CreateTtlRequest {
            path: path.into(),
            data: Some(Bytes::from(data.to_vec())),
            acl: open(),
            flags,
            ttl,
        };
        let b = self.ok(op::CREATE_TTL, &req.encode());
        Create2Response::decode(&b).unwrap().path
    }

    fn set_data(&mut self, path: &str, data: Option<&[u8]>, version: i32) {
        let req = SetDataRequest {
            path: path.into(),
            data: data.map(|d| Bytes::from(d.to_vec())),
            version,
        };
        self.ok(op::SET_DATA, &req.encode());
    }

    fn set_acl(&mut self, path: &str, acl: Vec<Acl>, version: i32) {
        let req = SetAclRequest {
            path: path.into(),
            acl,
            version,
        };
        self.ok(op::SET_ACL, &req.encode());
    }

    fn delete(&mut self, path: &str) {
        let req = DeleteRequest {
            path: path.into(),
            version: -1,
        };
        self.ok(op::DELETE, &req.encode());
    }

    fn exists(&mut self, path: &str) -> bool {
        let req = PathWatchRequest {
            path: path.into(),
            watch: false,
        };
        self.call(op::EXISTS, &req.encode()).0 == 0
    }

    /// A multi of (op, record) pairs; the reply's error code.
    fn multi(&mut self, ops: &[(i32, BytesMut)]) -> i32 {
        let mut b = BytesMut::new();
        for (o, rec) in ops {
            MultiHeader {
                op: *o,
                done: false,
                err: -1,
            }
            .write(&mut b);
            b.extend_from_slice(rec);
        }
        MultiHeader {
            op: -1,
            done: true,
            err: -1,
        }
        .write(&mut b);
        self.call(op::MULTI, &b).0
    }

    fn close(mut self) {
        self.call(op::CLOSE_SESSION, &[]);
    }

    /// The whole tree as served: path → (data, stat, ACL, children).
    fn dump(&mut self) -> BTreeMap<String, Served> {
        let mut out = BTreeMap::new();
        let mut todo = vec!["/".to_string()];
        while let Some(p) = todo.pop() {
            let pw = PathWatchRequest {
                path: p.clone(),
                watch: false,
            }
            .encode();
            let d = GetDataResponse::decode(&self.ok(op::GET_DATA, &pw)).unwrap();
            let a = GetAclResponse::decode(
                &self.ok(op::GET_ACL, &PathRequest { path: p.clone() }.encode()),
            )
            .unwrap();
            let c = GetChildrenResponse::decode(&self.ok(op::GET_CHILDREN, &pw)).unwrap();
            let children: BTreeSet<String> = c.children.into_iter().collect();
            for ch in &children {
                todo.push(child_path(&p, ch));
            }
            out.insert(
                p,
                Served {
                    data: d.data,
                    stat: d.stat,
                    acl: a.acl,
                    children,
                },
            );
        }
        out
    }
}

#[derive(Debug, PartialEq)]
struct Served {
    data: Option<Bytes>,
    stat: Stat,
    acl: Vec<Acl>,
    children: BTreeSet<String>,
}

/// The tree as a client would see it.
fn served_view(t: &Tree) -> BTreeMap<String, Served> {
    t.nodes()
        .map(|(p, n)| {
            (
                p.to_string(),
                Served {
                    data: n.data().map(bytes::Bytes::copy_from_slice),
                    stat: n.stat(),
                    acl: (*n.acl).clone(),
                    children: t.children(p).unwrap_or_default().into_iter().collect(),
                },
            )
        })
        .collect()
}

fn assert_serves(t: &Tree, served: &BTreeMap<String, Served>, what: &str) {
    let mine = served_view(t);
    for (p, s) in served {
        assert_eq!(mine.get(p), Some(s), "{what}: node {p}");
    }
    let extra: Vec<&String> = mine.keys().filter(|p| !served.contains_key(*p)).collect();
    assert!(extra.is_empty(), "{what}: nodes not served: {extra:?}");
}

// ------------------------------------------------------------ replay

/// What replaying one snapshot's logs checked.
#[derive(Debug, Default)]
struct Restored {
    tree: Tree,
    sessions: BTreeMap<i64, i32>,
    /// Txn digests that matched the tree after the txn.
    digests_checked: usize,
    /// Whether the snapshot's own digest matched when its zxid was reached.
    snapshot_digest_matched: Option<bool>,
}

/// Loads `snap` and replays the logs after it as ZooKeeper's
/// `FileTxnSnapLog.restore` does, checking digests: the snapshot's own
/// where its zxid is reached, and every txn's after that. ZooKeeper's
/// snapshots are fuzzy (taken while txns apply), so with `fuzzy` the
/// snapshot digest, and txn digests up to the first txn after it, are only
/// recorded, not required.
fn restore(dir: &Path, snap: &Path, fuzzy: bool) -> Restored {
    let what = snap.display().to_string();
    let mut s = snapshot::read_snapshot_file(snap).unwrap_or_else(|e| panic!("{what}: {e}"));
    let snap_zxid = s.tree.last_zxid;
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let logs: Vec<(String, txnlog::LogFile)> = txnlog::logs_to_replay(&names, snap_zxid)
        .into_iter()
        .map(|(_, name)| {
            let log = txnlog::read_log(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
            (name, log)
        })
        .collect();
    // Nodes given a new ACL list while the snapshot was written.
    assert!(fuzzy || s.unresolved_acls.is_empty(), "{what}");
    let left = s.resolve_acls(
        logs.iter()
            .flat_map(|(_, l)| l.records.iter().map(|r| &r.txn)),
    );
    assert!(left.is_empty(), "{what}: unresolved ACLs {left:?}");
    let mut out = Restored {
        tree: s.tree,
        sessions: s.sessions.iter().copied().collect(),
        ..Default::default()
    };
    // The zxid from which every txn digest must match.
    let mut strict_after = snap_zxid;
    let mut pending = s.zxid_digest.clone();
    if let Some(d) = &pending {
        assert_eq!(d.digest_version, DIGEST_VERSION);
        assert!(d.zxid >= snap_zxid, "{what}: digest zxid {:#x}", d.zxid);
        if fuzzy {
            strict_after = d.zxid + 1;
        }
    }
    let check_pending =
        |pending: &mut Option<ZxidDigest>, tree: &Tree, z: i64, out: &mut Option<bool>| {
            if let Some(d) = pending.as_ref().filter(|d| d.zxid == z) {
                let ok = d.digest == tree_digest(tree);
                assert!(ok || fuzzy, "{what}: snapshot digest at {z:#x}");
                *out = Some(ok);
                *pending = None;
            }
        };
    check_pending(
        &mut pending,
        &out.tree,
        snap_zxid,
        &mut out.snapshot_digest_matched,
    );
    for (name, log) in logs {
        assert_eq!(log.header, txnlog::FileHeader::txnlog(0), "{name}");
        assert!(log.tail.is_clean(), "{name}: {:?}", log.tail);
        for r in log.records {
            let z = r.txn.hdr.zxid;
            if z <= snap_zxid {
                continue;
            }
            match &r.txn.body {
                TxnBody::CreateSession(c) => {
                    out.sessions.insert(r.txn.hdr.client_id, c.time_out);
                }
                TxnBody::CloseSession(_) => {
                    out.sessions.remove(&r.txn.hdr.client_id);
                }
                _ => {}
            }
            // `Tree::apply` follows ZooKeeper's replay rules for txns a
            // fuzzy snapshot already partly holds.
            out.tree.apply(&r.txn, &mut Vec::new());
            check_pending(&mut pending, &out.tree, z, &mut out.snapshot_digest_matched);
            let Some(d) = r.digest else { continue };
            assert_eq!(d.version, DIGEST_VERSION);
            let ok = d.tree_digest == tree_digest(&out.tree);
            if z > strict_after {
                assert!(ok, "{name}: digest after txn {z:#x} {:?}", r.txn);
            }
            out.digests_checked += ok as usize;
        }
    }
    assert!(
        pending.is_none(),
        "{what}: snapshot digest zxid never reached"
    );
    out
}

// ------------------------------------------------------------ (a)

/// Drives the reference server through every kind of write; returns the
/// served tree and the session that is still open.
fn drive_reference(zk: &RefServer) -> (BTreeMap<String, Served>, i64) {
    let pace = || std::thread::sleep(Duration::from_millis(15));
    let mut a = Client::connect(&zk.addr());
    let mut b = Client::connect(&zk.addr());
    a.auth("digest", "alice:secret");
    a.create("/app", Some(b"v0"), open(), mode::PERSISTENT);
    pace();
    for i in 0..3 {
        a.create(
            "/app/seq-",
            Some(format!("s{i}").as_bytes()),
            open(),
            mode::PERSISTENT_SEQUENTIAL,
        );
        pace();
    }
    a.create("/app/eph", Some(b"mine"), open(), mode::EPHEMERAL);
    b.create("/app/beph-", Some(b"b"), open(), mode::EPHEMERAL_SEQUENTIAL);
    b.create("/app/beph-", None, open(), mode::EPHEMERAL_SEQUENTIAL);
    b.create("/bonly", Some(b""), open(), mode::EPHEMERAL);
    pace();
    // "auth" becomes the digest identity; a mix of schemes; null data.
    a.create(
        "/secret",
        Some(b"s"),
        vec![acl(31, "auth", "")],
        mode::PERSISTENT,
    );
    a.create(
        "/ipnode",
        None,
        vec![acl(31, "ip", "127.0.0.1"), acl(1, "world", "anyone")],
        mode::PERSISTENT,
    );
    pace();
    a.create("/box", Some(b"c"), open(), mode::CONTAINER);
    a.create("/box/item", Some(b"i"), open(), mode::PERSISTENT);
    a.create_ttl("/ttl", b"t", mode::PERSISTENT_WITH_TTL, 3_600_000);
    a.create_ttl(
        "/ttlseq-",
        b"t",
        mode::PERSISTENT_SEQUENTIAL_WITH_TTL,
        3_600_000,
    );
    pace();
    for v in 0..3 {
        a.set_data("/app", Some(format!("v{}", v + 1).as_bytes()), v);
        pace();
    }
    a.set_data("/app", None, -1);
    a.set_acl(
        "/app",
        vec![acl(31, "world", "anyone"), acl(16, "digest", "bob:x")],
        -1,
    );
    a.delete("/app/seq-0000000001");
    pace();
    // A multi that commits, and one that fails (logged as an error multi).
    let mk = |p: &str| {
        CreateRequest {
            path: p.into(),
            data: Some(Bytes::from_static(b"m")),
            acl: open(),
            flags: 0,
        }
        .encode()
    };
    let ok = a.multi(&[
        (op::CREATE, mk("/m")),
        (op::CREATE, mk("/m/x")),
        (
            op::SET_DATA,
            SetDataRequest {
                path: "/m".into(),
                data: Some(Bytes::from_static(b"mm")),
                version: 0,
            }
            .encode(),
        ),
        (
            op::CHECK,
            CheckVersionRequest {
                path: "/m".into(),
                version: 1,
            }
            .encode(),
        ),
        (
            op::DELETE,
            DeleteRequest {
                path: "/m/x".into(),
                version: -1,
            }
            .encode(),
        ),
    ]);
    assert_eq!(ok, 0);
    pace();
    a.multi(&[
        (op::CREATE, mk("/m2")),
        (
            op::CHECK,
            CheckVersionRequest {
                path: "/app".into(),
                version: 999,
            }
            .encode(),
        ),
    ]);
    pace();
    // A failed single write is logged as an error txn.
    assert_eq!(a.call(op::CREATE2, &mk("/app").freeze()).0, -110);
    pace();
    // A container emptied: the server deletes it (deleteContainer txn).
    a.create("/box2", None, open(), mode::CONTAINER);
    a.create("/box2/only", None, open(), mode::PERSISTENT);
    a.delete("/box2/only");
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.exists("/box2") {
        assert!(Instant::now() < deadline, "container /box2 never reaped");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Session b goes away with its ephemerals.
    b.close();
    pace();
    for i in 0..24 {
        let p = a.create(
            "/many-",
            Some(&[i as u8; 33]),
            open(),
            mode::PERSISTENT_SEQUENTIAL,
        );
        if i % 3 == 0 {
            a.set_data(&p, Some(b"changed"), 0);
        }
        if i % 4 == 0 {
            a.delete(&p);
        }
        pace();
    }
    // Let the snapshot thread finish before reading the served tree.
    std::thread::sleep(Duration::from_millis(300));
    let served = a.dump();
    // Dropping the connection leaves the session open until the kill.
    (served, a.session)
}

fn reference_data_dir(compression: Compression) {
    let tmp = tempfile::Builder::new()
        .prefix("corral-disk-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    let method = match compression {
        Compression::None => "",
        Compression::Gzip => "gz",
        Compression::Snappy => "snappy",
    };
    let mut zk = RefServer::start(
        tmp.path(),
        &data,
        &[
            ("zookeeper.snapCount", "8"),
            ("zookeeper.preAllocSize", "64"),
            ("zookeeper.extendedTypesEnabled", "true"),
            ("zookeeper.skipACL", "yes"),
            ("znode.container.checkIntervalMs", "100"),
            ("zookeeper.snapshot.compression.method", method),
        ],
    );
    let (served, session) = drive_reference(&zk);
    let mntr = zk.four("mntr");
    assert!(mntr.contains("zk_digest_mismatches_count\t0"), "{mntr}");
    zk.kill();

    let dir = data.join("version-2");
    let snaps = txnlog::list_files(&dir, snapshot::SNAPSHOT_FILE_PREFIX).unwrap();
    let logs = txnlog::list_files(&dir, txnlog::LOG_FILE_PREFIX).unwrap();
    assert!(snaps.len() >= 3, "want several snapshots: {snaps:?}");
    assert!(logs.len() >= 3, "want several logs: {logs:?}");
    for (_, p) in &logs {
        // Pre-allocated and padded with zeros.
        let log = txnlog::read_log(&std::fs::read(p).unwrap()).unwrap();
        assert_eq!(log.tail, txnlog::LogTail::Padding, "{}", p.display());
        assert!(!log.records.is_empty());
        let first = log.records[0].txn.hdr.zxid;
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            txnlog::log_file_name(first)
        );
    }
    let mut digests_checked = 0;
    let mut snapshot_digests = vec![];
    for (z, p) in &snaps {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(Compression::of_file_name(name), compression);
        assert_eq!(name, snapshot::snapshot_file_name(*z, compression));
        assert!(snapshot::is_valid_snapshot_file(p), "{name}");
        // The snapshot taken at start-up, before any client, is not fuzzy:
        // every txn digest from there on must match.
        let r = restore(&dir, p, *z != 0);
        assert_serves(&r.tree, &served, name);
        assert_eq!(
            r.sessions.keys().copied().collect::<Vec<_>>(),
            [session],
            "{name}"
        );
        digests_checked += r.digests_checked;
        snapshot_digests.extend(r.snapshot_digest_matched);
    }
    assert!(
        digests_checked > 100,
        "only {digests_checked} txn digests matched"
    );
    // A fuzzy snapshot's digest can disagree with its own contents (a txn
    // was half applied when ZooKeeper wrote it), but not all of them.
    assert!(
        snapshot_digests.iter().any(|m| *m),
        "snapshot digests: {snapshot_digests:?}"
    );

    // A torn last record is reported where the good ones end.
    let (_, last) = logs.last().unwrap();
    let bytes = std::fs::read(last).unwrap();
    let full = txnlog::read_log(&bytes).unwrap();
    let end = full.valid_end as usize;
    let cut = txnlog::read_log(&bytes[..end - 3]).unwrap();
    let n = full.records.len();
    assert_eq!(cut.records.len(), n - 1);
    let prev_end = if n >= 2 { full.records[n - 2].end } else { 16 };
    assert_eq!(cut.valid_end, prev_end);
    assert!(matches!(cut.tail, txnlog::LogTail::Torn(_)));
}

#[test]
fn reference_data_dir_reads_back() {
    reference_data_dir(Compression::None);
}

#[test]
fn reference_gzip_snapshots_read_back() {
    reference_data_dir(Compression::Gzip);
}

#[test]
fn reference_snappy_snapshots_read_back() {
    reference_data_dir(Compression::Snappy);
}

// ------------------------------------------------------------ (b)

const S1: i64 = 0x100_0000_0001;
const S2: i64 = 0x100_0000_0002;

fn hdr(client: i64, zxid: i64, op: i32) -> TxnHeader {
    TxnHeader {
        client_id: client,
        cxid: zxid as i32,
        zxid,
        time: 1_700_000_000_000 + zxid * 1000,
        op,
    }
}

fn create_txn(
    path: &str,
    data: Option<&[u8]>,
    acl: Vec<Acl>,
    ephemeral: bool,
    pcv: i32,
) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.into(),
        data: data.map(|d| Bytes::from(d.to_vec())),
        acl,
        ephemeral,
        parent_cversion: pcv,
    })
}

/// The txns corral writes: (client, op, body), zxids 1, 2, …
fn corral_history() -> Vec<(i64, i32, TxnBody)> {
    let digest_acl = vec![
        acl(31, "digest", "alice:2y5VfBKY2ZV2pA3+iA6L0Kls/Ps="),
        acl(1, "ip", "10.0.0.0/8"),
    ];
    vec![
        (
            S1,
            op::CREATE_SESSION,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 90000 }),
        ),
        (
            S1,
            op::CREATE,
            create_txn("/app", Some(b"hello"), open(), false, 2),
        ),
        (
            S1,
            op::CREATE,
            create_txn("/app/eph", Some(b"e"), open(), true, 1),
        ),
        (
            S1,
            op::CREATE2,
            create_txn("/app/seq0000000001", None, open(), false, 2),
        ),
        (
            S1,
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/box".into(),
                data: Some(Bytes::from_static(b"c")),
                acl: open(),
                parent_cversion: 3,
            }),
        ),
        (
            S1,
            op::CREATE,
            create_txn("/box/a", Some(b""), digest_acl.clone(), false, 1),
        ),
        (
            S1,
            op::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/ttl".into(),
                data: Some(Bytes::from(vec![7u8; 5000])),
                acl: digest_acl.clone(),
                parent_cversion: 4,
                ttl: 3_600_000,
            }),
        ),
        (
            S1,
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: "/app".into(),
                data: Some(Bytes::from_static(b"v2")),
                version: 1,
            }),
        ),
        (
            S1,
            op::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/app".into(),
                acl: vec![acl(1, "world", "anyone"), acl(31, "digest", "bob:abc")],
                version: 1,
            }),
        ),
        (S1, op::CREATE, create_txn("/deep", None, open(), false, 5)),
        (
            S1,
            op::CREATE,
            create_txn("/deep/a", None, open(), false, 1),
        ),
        (
            S1,
            op::CREATE,
            create_txn("/deep/a/b", Some(b"leaf"), open(), false, 1),
        ),
        // -- the snapshot is taken here (zxid 12); the log follows.
        (
            S2,
            op::CREATE_SESSION,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 20000 }),
        ),
        (
            S2,
            op::CREATE,
            create_txn("/app/teph", Some(b"t"), open(), true, 3),
        ),
        (
            S1,
            op::MULTI,
            TxnBody::Multi(vec![
                (op::CREATE, create_txn("/m", Some(b"m"), open(), false, 6)),
                (
                    op::SET_DATA,
                    TxnBody::SetData(SetDataTxn {
                        path: "/m".into(),
                        data: Some(Bytes::from_static(b"mm")),
                        version: 1,
                    }),
                ),
                (
                    op::CHECK,
                    TxnBody::Check(CheckVersionTxn {
                        path: "/m".into(),
                        version: 1,
                    }),
                ),
            ]),
        ),
        (S1, op::ERROR, TxnBody::Error(ErrorTxn { err: -110 })),
        (
            S1,
            op::DELETE,
            TxnBody::Delete(DeleteTxn {
                path: "/box/a".into(),
            }),
        ),
        (
            S2,
            op::CLOSE_SESSION,
            TxnBody::CloseSession(CloseSessionTxn {
                paths_to_delete: vec!["/app/teph".into()],
            }),
        ),
        (
            S1,
            op::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: "/app".into(),
                data: None,
                version: 2,
            }),
        ),
        (
            S1,
            op::MULTI,
            TxnBody::Multi(vec![
                (op::CREATE, create_txn("/nope", None, open(), false, 7)),
                (op::ERROR, TxnBody::Error(ErrorTxn { err: -103 })),
            ]),
        ),
        (
            S1,
            op::CREATE,
            create_txn("/deep/a/c", Some(b"c"), open(), false, 2),
        ),
    ]
}

const SNAP_AT: i64 = 12;

fn run_java(args: &[&str]) -> (bool, String) {
    let out = java()
        .args(["-cp", CLASSPATH])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run java");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn corral_files_load_in_reference() {
    let tmp = tempfile::Builder::new()
        .prefix("corral-disk-")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    let dir = data.join("version-2");
    std::fs::create_dir_all(&dir).unwrap();

    let mut tree = Tree::new();
    let mut log = BytesMut::new();
    txnlog::write_header(&mut log, 0);
    let mut snap_tree = None;
    let mut logged = vec![];
    for (i, (client, opc, body)) in corral_history().into_iter().enumerate() {
        let zxid = i as i64 + 1;
        let txn = Txn {
            hdr: hdr(client, zxid, opc),
            body,
        };
        let r = tree.apply(&txn, &mut Vec::new());
        if opc != op::ERROR && opc != op::MULTI {
            assert_eq!(r.err, 0, "{txn:?}");
        }
        if zxid > SNAP_AT {
            // The digest the server logs: the tree's running one, which
            // must be ZooKeeper's (the reference counts mismatches below).
            assert_eq!(tree.digest(), tree_digest(&tree), "{txn:?}");
            let d = TxnDigest {
                version: DIGEST_VERSION,
                tree_digest: tree.digest(),
            };
            txnlog::write_record(&mut log, &txn, Some(&d));
            logged.push(txn);
        }
        if zxid == SNAP_AT {
            snap_tree = Some(tree.clone());
        }
    }
    let snap_tree = snap_tree.unwrap();
    let last_zxid = tree.last_zxid;
    // Pre-allocated like ZooKeeper's (64 KiB here).
    log.resize(txnlog::padded_size(log.len() as u64, 0, 65536) as usize, 0);
    let log_path = dir.join(txnlog::log_file_name(SNAP_AT + 1));
    std::fs::write(&log_path, &log).unwrap();
    let sessions = [(S1, 90000)];
    let snap_name = snapshot::snapshot_file_name(SNAP_AT, Compression::None);
    let snap_path = dir.join(&snap_name);
    std::fs::write(
        &snap_path,
        snapshot::snapshot_to_vec(&snap_tree, &sessions, Compression::None),
    )
    .unwrap();

    // SnapshotFormatter reads every stream corral writes.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    for c in [Compression::None, Compression::Gzip, Compression::Snappy] {
        let p = other.join(snapshot::snapshot_file_name(SNAP_AT, c));
        std::fs::write(&p, snapshot::snapshot_to_vec(&snap_tree, &sessions, c)).unwrap();
        let (ok, out) = run_java(&[
            "org.apache.zookeeper.server.SnapshotFormatter",
            "-d",
            p.to_str().unwrap(),
        ]);
        assert!(ok, "SnapshotFormatter {c:?}:\n{out}");
        // ZooKeeper counts the root twice ("" and "/").
        assert!(
            out.contains(&format!(
                "ZNode Details (count={}):",
                snap_tree.node_count() + 1
            )),
            "{out}"
        );
        for (path, _) in snap_tree.nodes() {
            assert!(
                out.contains(&format!("\n{path}\n")),
                "{path} missing:\n{out}"
            );
        }
        assert!(
            out.contains("/deep/a/b\n  cZxid = 0x0000000000000c\n"),
            "{out}"
        );
        assert!(out.contains(&format!("{:#016x}, 90000, 1", S1)), "{out}");
        assert!(out.contains(&format!("Last zxid: 0x{SNAP_AT:x}")), "{out}");
    }

    // TxnLogToolkit reads the log: every txn, no CRC error.
    let (ok, out) = run_java(&[
        "org.apache.zookeeper.server.persistence.TxnLogToolkit",
        log_path.to_str().unwrap(),
    ]);
    assert!(ok, "TxnLogToolkit:\n{out}");
    assert!(
        out.contains("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"),
        "{out}"
    );
    assert!(!out.contains("CRC ERROR"), "{out}");
    assert!(
        out.contains(&format!("EOF reached after {} txns.", logged.len())),
        "{out}"
    );
    for t in &logged {
        let name = match t.hdr.op {
            op::CREATE_SESSION => "createSession",
            op::CLOSE_SESSION => "closeSession",
            op::CREATE => "create",
            op::DELETE => "delete",
            op::SET_DATA => "setData",
            op::MULTI => "multi",
            op::ERROR => "error",
            o => panic!("op {o}"),
        };
        assert!(
            out.contains(&format!(
                "session 0x{:x} cxid 0x{:x} zxid 0x{:x} {name}",
                t.hdr.client_id, t.hdr.cxid, t.hdr.zxid
            )),
            "zxid {:#x}:\n{out}",
            t.hdr.zxid
        );
    }
    assert!(out.contains("/app/teph,t,"), "{out}");

    // The reference server recovers the same tree from corral's files.
    let mut zk = RefServer::start(
        tmp.path(),
        &data,
        &[
            ("zookeeper.extendedTypesEnabled", "true"),
            ("zookeeper.skipACL", "yes"),
        ],
    );
    let mut c = Client::connect(&zk.addr());
    let served = c.dump();
    assert_serves(&tree, &served, "reference on corral's dataDir");
    let mntr = zk.four("mntr");
    assert!(mntr.contains("zk_digest_mismatches_count\t0"), "{mntr}");
    c.close();
    std::thread::sleep(Duration::from_millis(300));
    zk.kill();

    // On start it wrote a snapshot of what it loaded: corral reads it back
    // to the same tree and digest.
    let theirs = dir.join(snapshot::snapshot_file_name(last_zxid, Compression::None));
    let s = snapshot::read_snapshot_file(&theirs).unwrap();
    assert_eq!(s.zxid_digest, Some(ZxidDigest::of(&tree)));
    assert_eq!(s.digest_matches(), Some(true));
    assert_eq!(s.sessions, [(S1, 90000)]);
    assert_serves(&s.tree, &served, "reference's own snapshot");
}
