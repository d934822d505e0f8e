//! Malformed and hostile input on the client port, sent with hand-written
//! big-endian framing (no corral code involved). After every case the
//! server must still take a fresh client, with the tree unchanged.

mod common;

use common::{body, closed_by_peer, err, op, write_frame, Connect, Raw, Server, Stat, OPEN, W};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const CLOSE_WAIT: Duration = Duration::from_secs(5);

type Tree = BTreeMap<String, (Option<Vec<u8>>, Stat)>;

/// A server with a small tree, and that tree as a fresh client sees it.
fn setup() -> (Server, Tree) {
    let srv = Server::start();
    let mut c = Raw::connect(&srv.addr());
    c.create("/base", b"b", 0).ok();
    c.create("/base/child", b"c", 0).ok();
    c.set_data("/base/child", b"cc", 0).unwrap();
    let tree = c.dump();
    assert_eq!(tree.len(), 6, "{tree:?}");
    c.close_session();
    (srv, tree)
}

/// A new client connects and sees exactly `tree`.
fn healthy(srv: &Server, tree: &Tree) {
    let mut c = Raw::connect(&srv.addr());
    assert_ne!(c.session, 0);
    c.ping();
    assert_eq!(&c.dump(), tree, "the tree changed");
    c.close_session();
}

fn tcp(srv: &Server) -> TcpStream {
    let s = TcpStream::connect(srv.addr()).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `bytes` on a fresh connection (before any handshake) and asserts
/// that the server closes it.
fn closes_before_handshake(srv: &Server, bytes: &[u8], what: &str) {
    let mut s = tcp(srv);
    s.write_all(bytes).unwrap();
    assert!(closed_by_peer(&mut s, CLOSE_WAIT), "not closed: {what}");
}

/// The same after a good handshake.
fn closes_after_handshake(srv: &Server, bytes: &[u8], what: &str) {
    let mut c = Raw::connect(&srv.addr());
    c.stream.write_all(bytes).unwrap();
    assert!(
        closed_by_peer(&mut c.stream, CLOSE_WAIT),
        "not closed: {what}"
    );
}

#[test]
fn bad_frame_lengths_close_the_connection() {
    let (srv, tree) = setup();
    for (len, what) in [
        (-1i32, "negative length"),
        (i32::MIN, "most negative length"),
        (0x10_0000, "jute.maxbuffer + 1"),
        (i32::MAX, "huge length"),
        (0, "empty frame"),
    ] {
        closes_before_handshake(&srv, &len.to_be_bytes(), what);
        closes_after_handshake(&srv, &len.to_be_bytes(), what);
        healthy(&srv, &tree);
    }
    // Frames too short for a request header.
    for n in [1usize, 3, 4, 7] {
        let mut f = (n as i32).to_be_bytes().to_vec();
        f.extend(std::iter::repeat_n(0u8, n));
        closes_after_handshake(&srv, &f, &format!("{n}-byte request"));
    }
    healthy(&srv, &tree);
}

#[test]
fn max_buffer_is_the_limit() {
    let srv = Server::start();
    let mut c = Raw::connect(&srv.addr());
    c.create("/big", b"", 0).ok();
    // A setData frame of exactly 0xfffff bytes is served.
    // header, path, data length, version
    let overhead = 8 + (4 + "/big".len()) + 4 + 4;
    let data = vec![0x5a; 0xf_ffff - overhead];
    let payload = W::new()
        .int(1)
        .int(op::SET_DATA)
        .raw(&body::set_data("/big", &data, -1))
        .bytes();
    assert_eq!(payload.len(), 0xf_ffff);
    write_frame(&mut c.stream, &payload).unwrap();
    let r = c.recv().unwrap();
    assert_eq!((r.xid, r.err), (1, 0));
    assert_eq!(r.r().stat().data_length, data.len() as i32);
    // One byte more: the length alone closes the connection.
    c.stream.write_all(&0x10_0000i32.to_be_bytes()).unwrap();
    assert!(closed_by_peer(&mut c.stream, CLOSE_WAIT));
    // A length within the limit waits for its body.
    let mut s = tcp(&srv);
    s.write_all(&0xf_ffffi32.to_be_bytes()).unwrap();
    assert!(!closed_by_peer(&mut s, Duration::from_millis(300)));
    let mut c = Raw::connect(&srv.addr());
    assert_eq!(
        c.get_data("/big", false).unwrap().0.unwrap().len(),
        data.len()
    );
}

#[test]
fn garbage_before_the_handshake_closes() {
    let (srv, tree) = setup();
    closes_before_handshake(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "http");
    closes_before_handshake(&srv, &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3], "random bytes");
    // Well-framed, but not a connect request.
    let mut short = 10i32.to_be_bytes().to_vec();
    short.extend([0u8; 10]);
    closes_before_handshake(&srv, &short, "short connect request");
    let req = W::new()
        .int(1)
        .int(op::GET_DATA)
        .raw(&body::path_watch("/", false))
        .bytes();
    let mut f = (req.len() as i32).to_be_bytes().to_vec();
    f.extend(&req);
    closes_before_handshake(&srv, &f, "a request instead of a connect");
    // A password length running past the frame.
    let bad = W::new()
        .int(0)
        .long(0)
        .int(30_000)
        .long(0)
        .int(1000)
        .raw(&[0; 16])
        .bytes();
    let mut f = (bad.len() as i32).to_be_bytes().to_vec();
    f.extend(&bad);
    closes_before_handshake(&srv, &f, "bad password length");
    // A client that has seen a newer zxid than the server is refused.
    let mut s = tcp(&srv);
    let c = Connect {
        last_zxid: 1 << 40,
        ..Connect::default()
    };
    write_frame(&mut s, &c.encode()).unwrap();
    assert!(closed_by_peer(&mut s, CLOSE_WAIT), "future zxid");
    // Half a frame, then the client goes away.
    let mut s = tcp(&srv);
    s.write_all(&[0, 0, 0, 44, 0, 0]).unwrap();
    drop(s);
    healthy(&srv, &tree);
}

#[test]
fn handshake_with_and_without_the_read_only_byte() {
    let srv = Server::start();
    let with = Connect::default();
    let (_, a) = Raw::connect_with(&srv.addr(), &with).unwrap();
    assert_eq!((a.len, a.read_only), (37, Some(false)));
    let without = Connect {
        read_only: None,
        ..Connect::default()
    };
    let (mut c, b) = Raw::connect_with(&srv.addr(), &without).unwrap();
    assert_eq!((b.len, b.read_only), (36, None));
    assert_eq!(
        (b.protocol_version, b.timeout, b.passwd.len()),
        (0, 30_000, 16)
    );
    assert_ne!(b.session, 0);
    assert_ne!(b.session, a.session);
    c.ping();
    // Asking for read-only on a standalone server gets a normal session.
    let ro = Connect {
        read_only: Some(true),
        ..Connect::default()
    };
    let (mut r, resp) = Raw::connect_with(&srv.addr(), &ro).unwrap();
    assert_eq!((resp.len, resp.read_only), (37, Some(false)));
    assert_eq!(r.create("/rw", b"", 0).err, 0);
    // Bytes after the readOnly flag are ignored.
    let mut payload = Connect::default().encode();
    payload.extend(b"trailing");
    let mut s = tcp(&srv);
    write_frame(&mut s, &payload).unwrap();
    let f = common::read_frame(&mut s).unwrap();
    assert_eq!(common::parse_connected(&f).len, 37);
}

#[test]
fn truncated_bodies_are_marshalling_errors() {
    let (srv, tree) = setup();
    let mut c = Raw::connect(&srv.addr());
    let truncated_path = W::new().int(10).raw(b"/ab").bytes();
    for (opcode, b) in [
        (op::GET_DATA, truncated_path.clone()),
        (op::EXISTS, W::new().string("/base").bytes()), // no watch flag
        (op::GET_CHILDREN, vec![]),
        (op::GET_CHILDREN2, vec![0]),
        (op::GET_ACL, vec![0, 0]),
        (op::SYNC, vec![]),
        (op::CHECK_WATCHES, W::new().string("/").bytes()),
        (op::REMOVE_WATCHES, W::new().string("/").bytes()),
        (op::ADD_WATCH, W::new().string("/").bytes()),
        (op::GET_EPHEMERALS, vec![0, 0, 0, 9]),
        (op::GET_ALL_CHILDREN_NUMBER, vec![]),
        (op::MULTI_READ, vec![0, 0]),
        (op::CREATE, truncated_path.clone()),
        (op::CREATE2, W::new().string("/x").buf(b"").bytes()),
        (op::DELETE, W::new().string("/base").bytes()),
        (op::SET_DATA, W::new().string("/base").bytes()),
        (op::SET_ACL, W::new().string("/base").int(5).bytes()),
        (op::MULTI, vec![0, 0]),
        (
            op::MULTI,
            W::new()
                .int(op::CREATE)
                .boolean(false)
                .int(-1)
                .string("/m")
                .bytes(),
        ),
    ] {
        let r = c.call(opcode, &b);
        assert_eq!(r.err, err::MARSHALLING, "op {opcode}");
        assert!(r.body.is_empty(), "op {opcode}: {:?}", r.body);
    }
    // The connection stays usable, and trailing bytes after a whole body
    // are ignored.
    let b = W::new().string("/base").boolean(false).raw(b"junk").bytes();
    let r = c.call(op::GET_DATA, &b);
    assert_eq!(r.err, 0);
    assert_eq!(r.r().buf(), Some(b"b".to_vec()));
    // A read inside a multi, or a write inside a multiRead.
    let r = c.call(
        op::MULTI,
        &body::multi(&[(op::GET_DATA, body::path_watch("/base", false))]),
    );
    assert_eq!(r.err, err::MARSHALLING);
    healthy(&srv, &tree);
}

#[test]
fn unknown_opcodes_are_unimplemented_then_closed() {
    let (srv, tree) = setup();
    for opcode in [0, 10, 50, 99, 108, 1000, -1, -2000] {
        let mut c = Raw::connect(&srv.addr());
        let r = c.call(opcode, &body::path("/"));
        assert_eq!(
            (r.err, r.body.len()),
            (err::UNIMPLEMENTED, 0),
            "op {opcode}"
        );
        assert!(closed_by_peer(&mut c.stream, CLOSE_WAIT), "op {opcode}");
    }
    healthy(&srv, &tree);
}

#[test]
fn bad_paths() {
    let (srv, tree) = setup();
    let mut c = Raw::connect(&srv.addr());
    // Writes validate the path.
    for p in ["", "a", "//a", "/a\u{0}b", "/base/"] {
        assert_eq!(c.create(p, b"", 0).err, err::BAD_ARGUMENTS, "create {p:?}");
    }
    for p in [
        "", "a", "//a", "/base/", "/a/./b", "/a/../b", "/.", "/a\u{1}",
    ] {
        assert_eq!(
            c.set_data(p, b"", -1).unwrap_err(),
            err::BAD_ARGUMENTS,
            "setData {p:?}"
        );
        let r = c.call(op::SET_ACL, &body::set_acl(p, OPEN, -1));
        assert_eq!(r.err, err::BAD_ARGUMENTS, "setACL {p:?}");
    }
    for p in ["", "a", "/a\u{0}b"] {
        assert_eq!(c.delete(p, -1), err::BAD_ARGUMENTS, "delete {p:?}");
    }
    // Paths whose parent does not exist fail on the parent first.
    for p in ["/a/./b", "/a/../b", "/base/./x", "base/x", "/base//x"] {
        assert_eq!(c.create(p, b"", 0).err, err::NO_NODE, "create {p:?}");
    }
    // The special nodes cannot be deleted.
    for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(c.delete(p, -1), err::BAD_ARGUMENTS, "delete {p:?}");
    }
    // A bad path inside a multi fails the multi.
    let r = c.call(
        op::MULTI,
        &body::multi(&[
            (op::CREATE, body::create("/ok", b"", OPEN, 0)),
            (op::CHECK, body::path_version("bad", -1)),
        ]),
    );
    let mut rd = r.ok();
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::ERROR, false, 0));
    assert_eq!(rd.int(), 0);
    assert_eq!(
        (rd.int(), rd.boolean(), rd.int()),
        (op::ERROR, false, err::BAD_ARGUMENTS)
    );
    // Reads do not validate: a bad path is just not there (NUL aside).
    for p in ["a", "//a", "/base/", "/a/../b"] {
        assert_eq!(c.get_data(p, false).unwrap_err(), err::NO_NODE, "{p:?}");
        assert!(c.exists(p, false).is_none(), "{p:?}");
    }
    let r = c.call(op::EXISTS, &body::path_watch("/a\u{0}b", false));
    assert_eq!(r.err, err::BAD_ARGUMENTS);
    healthy(&srv, &tree);
    // A sequential create may end in '/': the number is the last segment.
    let r = c.create("/base/", b"", 2);
    assert_eq!(r.ok().string(), "/base/0000000001");
}

#[test]
fn empty_path_reads_the_root() {
    // ZooKeeper's tree also keeps the root under "".
    let (srv, _) = setup();
    let mut c = Raw::connect(&srv.addr());
    let root = c.get_data("/", false).unwrap();
    assert_eq!(c.get_data("", false).unwrap(), root);
    assert_eq!(c.exists("", false), Some(root.1));
    assert_eq!(c.children("", false).unwrap(), ["base", "zookeeper"]);
}

#[test]
fn invalid_utf8_in_paths() {
    let (srv, tree) = setup();
    let mut c = Raw::connect(&srv.addr());
    // ZooKeeper decodes strings leniently (U+FFFD), then the path check
    // refuses the replacement character for writes.
    for bad in [&b"/u\xc3"[..], b"/u\xff\xfeok", b"/base/\x80"] {
        let create = W::new().buf(bad).buf(b"").acl(OPEN).int(0).bytes();
        assert_eq!(c.call(op::CREATE, &create).err, err::BAD_ARGUMENTS);
        let set = W::new().buf(bad).buf(b"x").int(-1).bytes();
        assert_eq!(c.call(op::SET_DATA, &set).err, err::BAD_ARGUMENTS);
        let get = W::new().buf(bad).boolean(false).bytes();
        assert_eq!(c.call(op::GET_DATA, &get).err, err::NO_NODE);
    }
    healthy(&srv, &tree);
    // Valid UTF-8 beyond ASCII is fine.
    let r = c.create("/é", b"", 0);
    assert_eq!(r.ok().string(), "/é");
    assert_eq!(c.children("/", false).unwrap(), ["base", "zookeeper", "é"]);
}

#[test]
fn invalid_acls() {
    let (srv, tree) = setup();
    let mut c = Raw::connect(&srv.addr());
    let bad: &[&[(i32, &str, &str)]] = &[
        &[],
        &[(31, "digest", "nocolon")],
        &[(31, "digest", "a:b:c")],
        &[(31, "ip", "300.1.1.1")],
        &[(31, "ip", "10.0.0.0/40")],
        &[(31, "ip", "10.1")],
        &[(31, "ip", "fe80::1")], // 3.8.0 reads IPv4 only
        &[(31, "ip", "1.2.3.4/8/9")],
        &[(31, "bogus", "x")],
        &[(31, "world", "someone")],
        &[(31, "super", "x")],
        &[(31, "auth", "")], // no digest identity on this session
        &[(31, "world", "anyone"), (31, "ip", "nope")],
    ];
    for acl in bad {
        let r = c.call(op::CREATE, &body::create("/acl", b"", acl, 0));
        assert_eq!(r.err, err::INVALID_ACL, "create {acl:?}");
        let r = c.call(op::SET_ACL, &body::set_acl("/base", acl, -1));
        assert_eq!(r.err, err::INVALID_ACL, "setACL {acl:?}");
        // Inside a multi too.
        let r = c.call(
            op::MULTI,
            &body::multi(&[(op::CREATE, body::create("/acl", b"", acl, 0))]),
        );
        let mut rd = r.ok();
        assert_eq!(
            (rd.int(), rd.boolean(), rd.int()),
            (op::ERROR, false, err::INVALID_ACL)
        );
    }
    healthy(&srv, &tree);
    // Odd but valid: no permissions at all, and duplicates.
    let r = c.call(
        op::CREATE,
        &body::create("/none", b"", &[(0, "world", "anyone")], 0),
    );
    assert_eq!(r.err, 0);
    assert_eq!(c.get_data("/none", false).unwrap_err(), err::NO_AUTH);
    let dup = [(31, "world", "anyone"), (31, "world", "anyone")];
    let r = c.call(op::CREATE, &body::create("/dup", b"", &dup, 0));
    assert_eq!(r.err, 0);
    let r = c.call(op::GET_ACL, &body::path("/dup"));
    assert_eq!(
        r.ok().acl(),
        [(31, "world".to_string(), "anyone".to_string())]
    );
}

#[test]
fn bad_auth_packets() {
    let (srv, tree) = setup();
    // Unknown scheme, and world (not an auth provider): AuthFailed, closed.
    for scheme in ["bogus", "world"] {
        let mut c = Raw::connect(&srv.addr());
        c.send(-4, op::AUTH, &body::auth(scheme, b"x"));
        let r = c.recv().unwrap();
        assert_eq!((r.xid, r.err), (-4, err::AUTH_FAILED), "{scheme}");
        assert!(closed_by_peer(&mut c.stream, CLOSE_WAIT), "{scheme}");
    }
    // A truncated auth packet closes the connection.
    let mut c = Raw::connect(&srv.addr());
    c.send(-4, op::AUTH, &[0, 0, 0, 0, 0, 0, 0, 16, b'a', b'b']);
    assert!(closed_by_peer(&mut c.stream, CLOSE_WAIT));
    // addauth ip: accepted whatever the data (the id is the client's own
    // address, which the connection already has).
    let mut c = Raw::connect(&srv.addr());
    let who = c.call(op::WHO_AM_I, &[]).body;
    c.send(-4, op::AUTH, &body::auth("ip", b"10.9.9.9"));
    let r = c.recv().unwrap();
    assert_eq!((r.xid, r.err), (-4, 0));
    assert_eq!(c.call(op::WHO_AM_I, &[]).body, who);
    assert_eq!(
        who,
        W::new().int(1).string("ip").string("127.0.0.1").bytes()
    );
    // The reply to auth carries the request's xid.
    let mut c = Raw::connect(&srv.addr());
    c.send(77, op::AUTH, &body::auth("digest", b"u:p"));
    let r = c.recv().unwrap();
    assert_eq!((r.xid, r.err, r.zxid), (77, 0, 0));
    healthy(&srv, &tree);
}

#[test]
fn sasl_without_a_provider_answers_a_null_token() {
    let srv = Server::start();
    let mut c = Raw::connect(&srv.addr());
    let r = c.call(102, &W::new().buf(b"token").bytes());
    assert_eq!(r.err, 0);
    assert_eq!(r.r().buf(), None);
    c.ping();
}

/// Pipelines `n` requests on a new session (setData, getData, exists,
/// sequential create in turn, on `node`) and checks every answer: in xid
/// order, and each read sees exactly the session's earlier writes.
fn flood(addr: &str, node: &str, n: i32) {
    let mut c = Raw::connect(addr);
    c.create(node, b"", 0).ok();
    let none = format!("{node}/none");
    let prefix = format!("{node}/s-");
    let mut out = Vec::new();
    for i in 1..=n {
        let (opcode, b) = match i % 4 {
            0 => (op::SET_DATA, body::set_data(node, &i.to_be_bytes(), -1)),
            1 => (op::GET_DATA, body::path_watch(node, false)),
            2 => (op::EXISTS, body::path_watch(&none, false)),
            _ => (op::CREATE, body::create(&prefix, b"", OPEN, 2)),
        };
        let p = W::new().int(i).int(opcode).raw(&b).bytes();
        out.extend((p.len() as i32).to_be_bytes());
        out.extend(p);
    }
    // Write from another thread: the replies must be read meanwhile.
    let mut w = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&out).unwrap());
    let mut version = 0;
    let mut seq = 0;
    let mut last_zxid = 0;
    for i in 1..=n {
        let r = c.recv().unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(r.xid, i, "replies out of order");
        assert!(r.zxid >= last_zxid, "zxid went back at {i}");
        last_zxid = r.zxid;
        let mut rd = r.r();
        match i % 4 {
            0 => {
                assert_eq!(r.err, 0);
                version += 1;
                assert_eq!(rd.stat().version, version);
            }
            1 => {
                assert_eq!(r.err, 0);
                // A read sees the session's earlier writes, not its later
                // ones.
                let data = rd.buf().unwrap();
                let st = rd.stat();
                assert_eq!(st.version, version, "getData xid {i}");
                if version > 0 {
                    assert_eq!(data, (i - 1).to_be_bytes());
                }
            }
            2 => assert_eq!(r.err, err::NO_NODE),
            _ => {
                assert_eq!(r.err, 0);
                assert_eq!(rd.string(), format!("{prefix}{seq:010}"));
                seq += 1;
            }
        }
    }
    writer.join().unwrap();
    assert!(c.events.is_empty());
    let r = c.call(op::GET_ALL_CHILDREN_NUMBER, &body::path(node));
    assert_eq!(r.ok().int(), n / 4);
}

#[test]
fn flood_of_pipelined_requests_is_answered_in_order() {
    let srv = Server::start();
    flood(&srv.addr(), "/flood", 10_000);
    // Several sessions at once, so that their writes share batches.
    let addr = srv.addr();
    let floods: Vec<_> = (0..4)
        .map(|k| {
            let addr = addr.clone();
            std::thread::spawn(move || flood(&addr, &format!("/f{k}"), 4_000))
        })
        .collect();
    for f in floods {
        f.join().unwrap();
    }
}

#[test]
fn abrupt_disconnects_leave_the_server_serving() {
    let (srv, tree) = setup();
    // Many connections that vanish mid-request.
    for i in 0..50 {
        let mut c = Raw::connect(&srv.addr());
        let p = W::new()
            .int(1)
            .int(op::GET_DATA)
            .raw(&body::path_watch("/base", true))
            .bytes();
        let mut f = (p.len() as i32).to_be_bytes().to_vec();
        f.extend(&p);
        let cut = f.len() * (i % 3) / 3;
        c.stream.write_all(&f[..cut.max(1)]).unwrap();
        drop(c);
    }
    let mut s = tcp(&srv);
    s.write_all(b"ruok").unwrap();
    let mut ans = String::new();
    s.read_to_string(&mut ans).unwrap();
    assert_eq!(ans, "imok");
    healthy(&srv, &tree);
}
