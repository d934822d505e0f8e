//! Hostile tests: the AdminServer and the four-letter words (issue 13,
//! items 3, 8 and 12). What an unauthenticated HTTP client may see, what a
//! few slow HTTP clients may hold, and what a server that is not serving
//! answers.

use crate::common::ensemble::{Ensemble, Kind};
use crate::common::{self, body, free_port, op, Raw, Server, ALL};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// One HTTP GET: the status and the body ("" and 0 when nothing came).
fn get(port: u16, target: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Waits until `f` holds (up to 20 s).
fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

// ------------------------------------------------------------- item 12

/// A member of a 3-server ensemble started alone never finds a leader:
/// every word and command ZooKeeper gates on serving says so, and none
/// prints a `Mode:` a health check would take for ready.
#[test]
fn a_member_without_a_leader_says_it_is_not_serving() {
    // Against ZooKeeper (`CORRAL_TEST_SERVER=zookeeper`) the words are
    // checked alike; Debian's ZooKeeper has no Jetty for the AdminServer.
    let reference = common::against_reference();
    let kind = if reference {
        Kind::ZooKeeper
    } else {
        Kind::Corral
    };
    let admin = free_port();
    let mut e = Ensemble::new(&[kind, kind, kind])
        .cfg("admin.enableServer", "true")
        .cfg("admin.serverAddress", "127.0.0.1")
        .cfg("admin.serverPort", &admin.to_string());
    e.start(0);
    wait("the lone member to answer ruok", || {
        e.four_letter(0, "ruok") == "imok"
    });
    for w in [
        "srvr", "stat", "mntr", "cons", "conf", "dump", "wchs", "wchc", "wchp", "crst", "srst",
        "dirs",
    ] {
        assert_eq!(e.four_letter(0, w), format!("{NOT_SERVING}\n"), "{w}");
    }
    assert_eq!(e.four_letter(0, "hash"), NOT_SERVING);
    assert_eq!(e.four_letter(0, "isro"), "null");
    assert!(e.mode(0).is_none(), "no Mode: while looking");
    // Not gated in ZooKeeper 3.8.
    assert_eq!(e.four_letter(0, "ruok"), "imok");
    assert!(e.four_letter(0, "envi").starts_with("Environment:\n"));
    assert!(e.four_letter(0, "gtmk").trim().parse::<i64>().is_ok());
    if reference {
        return;
    }
    wait("the AdminServer", || get(admin, "/commands/ruok").0 == 200);

    for name in [
        "srvr",
        "server_stats",
        "stats",
        "connections",
        "dump",
        "ruok",
        "configuration",
        "dirs",
        "watches",
        "watch_summary",
        "is_read_only",
        "stat_reset",
        // 3.9's snapshot: the serving check comes before authentication.
        "snapshot",
    ] {
        let (status, body) = get(admin, &format!("/commands/{name}"));
        assert_eq!(status, 200, "{name}: {body}");
        let v = json(&body);
        assert_eq!(v["error"], NOT_SERVING, "{name}: {body}");
        assert_eq!(v["command"], name, "{name}: {body}");
        assert!(v.get("server_stats").is_none(), "{name}: {body}");
    }
    for name in ["environment", "get_trace_mask", "system_properties"] {
        let (status, body) = get(admin, &format!("/commands/{name}"));
        assert_eq!(status, 200, "{name}: {body}");
        assert!(json(&body)["error"].is_null(), "{name}: {body}");
    }
    let (_, body) = get(admin, "/commands/monitor");
    assert_eq!(json(&body)["server_state"], "looking", "{body}");
}

// -------------------------------------------------------------- item 8

/// A corral with its AdminServer on a port of its own, and `keys`.
fn with_admin(keys: &[(&str, &str)]) -> (Server, u16) {
    let port = free_port();
    let mut o = Server::opts()
        .cfg("admin.enableServer", "true")
        .cfg("admin.serverAddress", "127.0.0.1")
        .cfg("admin.serverPort", &port.to_string());
    for (k, v) in keys {
        o = o.cfg(k, v);
    }
    let srv = o.start();
    wait("the AdminServer", || get(port, "/commands/ruok").0 == 200);
    // The port is this server's, not another test process's that took it
    // first (then this server would have logged that it could not bind).
    let (_, conf) = get(port, "/commands/configuration");
    assert_eq!(
        json(&conf)["client_port"],
        srv.port,
        "the admin port {port} belongs to another server; log:\n{}",
        srv.log_tail()
    );
    (srv, port)
}

/// A connection that sent half a request head and then nothing.
fn half_sent(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(b"GET /commands/ruok HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    s
}

/// 40 idle, half-sent requests (ZooKeeper's default `admin.idleTimeout`
/// is 30 s) must not lock real requests out.
#[test]
fn idle_half_sent_requests_do_not_lock_the_admin_port_out() {
    let (_srv, port) = with_admin(&[]);
    let _idle: Vec<TcpStream> = (0..40).map(|_| half_sent(port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let (status, body) = get(port, "/commands/ruok");
        assert_eq!(status, 200, "{body}");
        assert!(json(&body)["error"].is_null(), "{body}");
    }
}

/// `corral.admin.maxConnections`: at the bound, the connection that has
/// waited longest on its client is closed for the newcomer.
#[test]
fn at_max_connections_the_oldest_waiting_connection_goes() {
    let (_srv, port) = with_admin(&[("corral.admin.maxConnections", "4")]);
    let mut idle: Vec<TcpStream> = (0..4).map(|_| half_sent(port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = get(port, "/commands/ruok");
    assert_eq!(status, 200, "{body}");
    assert!(
        common::closed_by_peer(&mut idle[0], Duration::from_secs(2)),
        "the oldest half-sent connection was not closed"
    );
}

/// `corral.admin.requestTimeoutMs`: a head trickled in a byte at a time
/// (never idle long enough for `admin.idleTimeout`) is cut off with 408.
#[test]
fn a_trickled_request_head_is_cut_off_at_the_request_timeout() {
    let (_srv, port) = with_admin(&[("corral.admin.requestTimeoutMs", "1000")]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let started = Instant::now();
    let mut answer = Vec::new();
    for b in b"GET /commands/ruok HTTP/1.1\r\nX-Slow: ".iter().cycle() {
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
        if s.write_all(&[*b]).is_err() {
            break;
        }
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => answer.extend_from_slice(&buf[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?} after {took:?}");
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
}

// -------------------------------------------------------------- item 3

/// Creates `path` with `data` and `acl`, as a client with no auth.
fn create(c: &mut Raw, path: &str, data: &[u8], acl: &[(i32, &str, &str)]) {
    let r = c.call(op::CREATE, &body::create(path, data, acl, 0));
    assert_eq!(r.err, 0, "create {path}");
}

/// The console's node endpoint answers as ZooKeeper would answer a client
/// with no authentication from the same address: no READ, nothing shown;
/// digests hidden as getACL hides them.
#[test]
fn the_console_obeys_node_acls_and_hides_digests() {
    let (srv, port) = with_admin(&[]);
    let alice = common::digest("alice:pw");
    let hash = alice.split_once(':').expect("user:hash").1.to_string();
    let mut c = Raw::connect(&srv.addr());
    create(
        &mut c,
        "/secret",
        b"s3cret-data",
        &[(ALL, "digest", &alice)],
    );
    create(
        &mut c,
        "/open",
        b"public-data",
        &[(1, "world", "anyone"), (ALL, "digest", &alice)],
    );
    create(&mut c, "/mine", b"by-ip", &[(1, "ip", "127.0.0.1")]);
    create(&mut c, "/theirs", b"other-ip", &[(1, "ip", "10.9.9.9")]);

    for path in ["/secret", "/theirs"] {
        let (status, body) = get(port, &format!("/api/node?path={path}"));
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("data"), "{path}: {body}");
        assert!(!body.contains(&hash), "{path}: {body}");
    }
    let (status, body) = get(port, "/api/node?path=/open");
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["data_text"], "public-data");
    assert!(!body.contains(&hash), "a digest shown: {body}");
    let ids: Vec<String> = v["acl"]
        .as_array()
        .expect("acl")
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["scheme"].as_str().unwrap(),
                a["id"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ids, ["world:anyone", "digest:alice:x"]);
    let (status, body) = get(port, "/api/node?path=/mine");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["data_text"], "by-ip");
    // The page shows nothing more than the endpoint does.
    let (_, page) = get(port, "/");
    assert!(!page.contains("s3cret"));
}

/// A session id is half a session's credentials (the password derives
/// from it): the AdminServer's JSON shows none by default, and shows them
/// with `corral.admin.showSessionIds=true`.
#[test]
fn admin_json_shows_no_session_ids_unless_asked() {
    for show in [false, true] {
        let (srv, port) = with_admin(&[("corral.admin.showSessionIds", &show.to_string())]);
        let mut c = Raw::connect(&srv.addr());
        create(&mut c, "/w", b"", &[(ALL, "world", "anyone")]);
        let r = c.call(
            op::CREATE,
            &body::create("/eph", b"", &[(ALL, "world", "anyone")], 1),
        );
        assert_eq!(r.err, 0);
        c.exists("/w", true);
        let sid = c.session;
        let dec = sid.to_string();
        let hex = format!("{sid:x}");
        let mut all = String::new();
        for target in [
            "/commands/connections",
            "/commands/dump",
            "/commands/watches",
            "/commands/watches_by_path",
            "/commands/stats",
            "/commands/monitor",
            "/api/stats",
        ] {
            let (status, body) = get(port, target);
            assert_eq!(status, 200, "{target}: {body}");
            if !show {
                assert!(
                    !body.contains(&dec) && !body.to_lowercase().contains(&hex),
                    "{target} shows session {sid:#x}: {body}"
                );
            }
            all.push_str(&body);
        }
        if show {
            assert!(all.contains(&dec), "no session id shown when asked: {all}");
        } else {
            // Still joinable: the same pseudonym in cons, dump and wchc.
            let (_, cons) = get(port, "/commands/connections");
            let label = json(&cons)["connections"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find_map(|c| c["session_id"].as_str().map(str::to_string))
                })
                .expect("a pseudonym");
            let (_, dump) = get(port, "/commands/dump");
            let (_, wchc) = get(port, "/commands/watches");
            assert!(dump.contains(&label) && wchc.contains(&label), "{label}");
        }
    }
}

/// The super digest (a password's SHA1, open to offline guessing) is not
/// shown by `system_properties` or `initial_configuration`.
#[test]
fn admin_commands_do_not_show_the_super_digest() {
    let secret = common::digest("super:letmein");
    let hash = secret.split_once(':').expect("user:hash").1.to_string();
    let (_srv, port) = with_admin(&[("DigestAuthenticationProvider.superDigest", &secret)]);
    for target in [
        "/commands/system_properties",
        "/commands/initial_configuration",
        "/commands/configuration",
        "/commands/environment",
    ] {
        let (status, body) = get(port, target);
        assert_eq!(status, 200, "{target}: {body}");
        assert!(
            !body.contains(&hash),
            "{target} shows the super digest: {body}"
        );
    }
}
