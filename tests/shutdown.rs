//! Graceful shutdown of the real `corral` binary: SIGTERM under a
//! pipelined write load exits 0 within bounds and loses no acknowledged
//! write; sessions reconnect after the restart; a second SIGTERM exits at
//! once; a shutdown that cannot finish exits non-zero after
//! `corral.shutdownTimeoutMs`.

mod common;

use common::{body, err, op, write_frame, Connect, Raw, Server, W};
use std::time::{Duration, Instant};

/// Sends one request frame; an error means the connection is gone.
fn send(raw: &mut Raw, xid: i32, opcode: i32, b: &[u8]) -> std::io::Result<()> {
    let mut p = W::new().int(xid).int(opcode).bytes();
    p.extend_from_slice(b);
    write_frame(&mut raw.stream, &p)
}

const SESSIONS: usize = 6;

/// Write `k` of session `s`: every fourth a setData of `/g/s<s>`, the
/// others a create of `/g/s<s>/n<k>`.
fn is_set(k: usize) -> bool {
    k % 4 == 3
}

fn data_of(s: usize, k: usize) -> Vec<u8> {
    format!("s{s}-w{k}-{}", "x".repeat(k % 50)).into_bytes()
}

/// What one session's pipelined writes came to.
#[derive(Debug, Default)]
struct Outcome {
    session: i64,
    passwd: Vec<u8>,
    sent: usize,
    acked: usize,
    error: Option<String>,
}

/// Runs writes of session `s` with up to `window` outstanding until the
/// server closes the connection.
fn run_load(addr: &str, s: usize, window: usize) -> Outcome {
    let mut o = Outcome::default();
    let (mut raw, c) = Raw::connect_with(addr, &Connect::default()).expect("connect");
    o.session = c.session;
    o.passwd = c.passwd.clone();
    let plan = 1_000_000;
    let mut can_send = true;
    loop {
        while can_send && o.sent - o.acked < window && o.sent < plan {
            let k = o.sent;
            let (opc, b) = if is_set(k) {
                (
                    op::SET_DATA,
                    body::set_data(&format!("/g/s{s}"), &data_of(s, k), -1),
                )
            } else {
                (
                    op::CREATE,
                    body::create(&format!("/g/s{s}/n{k}"), &data_of(s, k), common::OPEN, 0),
                )
            };
            if send(&mut raw, k as i32 + 1, opc, &b).is_err() {
                can_send = false;
                break;
            }
            o.sent += 1;
        }
        if o.sent == o.acked {
            break;
        }
        match raw.recv() {
            Ok(r) => {
                if r.xid != o.acked as i32 + 1 {
                    o.error = Some(format!("write {}: reply with xid {}", o.acked, r.xid));
                    break;
                }
                if r.err != err::OK {
                    o.error = Some(format!("write {} refused with {}", o.acked, r.err));
                    break;
                }
                o.acked += 1;
            }
            Err(_) => break,
        }
    }
    o
}

fn sets_in(n: usize) -> usize {
    (0..n).filter(|k| is_set(*k)).count()
}

#[test]
fn sigterm_under_load_exits_0_keeps_acknowledged_writes_and_sessions() {
    let mut srv = Server::start();
    let addr = srv.addr();
    {
        let mut raw = Raw::connect(&addr);
        raw.create("/g", b"", 0);
        for s in 0..SESSIONS {
            raw.create(&format!("/g/s{s}"), b"init", 0);
        }
        raw.close_session();
    }
    // A session with an ephemeral, idle through the shutdown.
    let (mut keeper, kc) = Raw::connect_with(&addr, &Connect::default()).expect("connect");
    let r = keeper.create("/eph", b"mine", 1 /* ephemeral */);
    assert_eq!(r.err, err::OK, "create /eph");

    let (outcomes, took, status) = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..SESSIONS)
            .map(|s| {
                let addr = addr.clone();
                sc.spawn(move || run_load(&addr, s, 32))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        let t0 = Instant::now();
        srv.signal("TERM");
        let status = srv.wait_exit(Duration::from_secs(20));
        let took = t0.elapsed();
        let outcomes: Vec<Outcome> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        (outcomes, took, status)
    });
    let log = srv.log_text();
    let status = status.unwrap_or_else(|| panic!("still running 20 s after SIGTERM; log:\n{log}"));
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert!(
        log.contains("every accepted write is durable and answered"),
        "log:\n{log}"
    );
    eprintln!(
        "shutdown took {took:?}; acked/sent {:?}",
        outcomes
            .iter()
            .map(|o| (o.acked, o.sent))
            .collect::<Vec<_>>()
    );
    for (s, o) in outcomes.iter().enumerate() {
        assert!(o.error.is_none(), "session {s}: {:?}", o.error);
        assert!(o.acked > 50, "session {s}: only {} writes acked", o.acked);
    }
    // The keeper's connection was closed by the shutdown, not its session.
    assert!(common::closed_by_peer(
        &mut keeper.stream,
        Duration::from_secs(2)
    ));
    drop(keeper);

    srv.restart();
    let addr = srv.addr();
    let mut raw = Raw::connect(&addr);
    for (s, o) in outcomes.iter().enumerate() {
        let kids = raw
            .children(&format!("/g/s{s}"), false)
            .unwrap_or_else(|e| panic!("getChildren /g/s{s}: {e}"));
        let kids: std::collections::BTreeSet<String> = kids.into_iter().collect();
        // What survives is a prefix of what was sent, at least what was
        // acknowledged.
        for k in (0..o.sent).filter(|k| !is_set(*k)) {
            let name = format!("n{k}");
            if k < o.acked {
                assert!(
                    kids.contains(&name),
                    "session {s}: acked /g/s{s}/{name} lost"
                );
                let (d, st) = raw
                    .get_data(&format!("/g/s{s}/{name}"), false)
                    .unwrap_or_else(|e| panic!("get /g/s{s}/{name}: {e}"));
                assert_eq!(d.as_deref(), Some(&data_of(s, k)[..]), "/g/s{s}/{name}");
                assert_eq!(st.version, 0);
            }
        }
        let created: Vec<usize> = kids
            .iter()
            .map(|n| n[1..].parse::<usize>().expect("child name"))
            .collect();
        let max = created.iter().copied().max().unwrap_or(0);
        assert!(max < o.sent.max(1), "session {s}: n{max} was never sent");
        let expect_n = (0..=max).filter(|k| !is_set(*k)).count();
        assert_eq!(created.len(), expect_n, "session {s}: a gap in its creates");
        let (d, st) = raw.get_data(&format!("/g/s{s}"), false).unwrap();
        let v = st.version as usize;
        assert!(
            v >= sets_in(o.acked) && v <= sets_in(o.sent),
            "session {s}: version {v}, acked sets {}, sent sets {}",
            sets_in(o.acked),
            sets_in(o.sent)
        );
        if v > 0 {
            let k = (0..o.sent).filter(|k| is_set(*k)).nth(v - 1).unwrap();
            assert_eq!(d.as_deref(), Some(&data_of(s, k)[..]), "/g/s{s} data");
        }
    }
    // Sessions survive: the keeper and a load session reconnect with their
    // id and password and keep their ephemerals.
    for (who, session, passwd) in [
        ("keeper", kc.session, kc.passwd.clone()),
        (
            "load session 0",
            outcomes[0].session,
            outcomes[0].passwd.clone(),
        ),
    ] {
        let c = Connect {
            session,
            passwd,
            ..Connect::default()
        };
        let (mut again, got) = Raw::connect_with(&addr, &c).expect("reconnect");
        assert_eq!(got.session, session, "{who}: a different session");
        assert!(
            got.timeout > 0,
            "{who}: the session did not survive the restart"
        );
        let st = again.exists("/eph", false).expect("/eph is gone");
        assert_eq!(st.ephemeral_owner, kc.session);
        again.ping();
    }
    raw.close_session();
}

/// A client that sends getData requests for a big node and never reads:
/// its connection can never drain (the server's writes to it block).
fn stuck_client(srv: &Server) -> Raw {
    let mut raw = Raw::connect(&srv.addr());
    let big = vec![b'b'; 1_000_000];
    assert_eq!(raw.create("/big", &big, 0).err, err::OK);
    // 120 MB of answers: far more than loopback's socket buffers hold
    // (tcp_rmem can grow to 32 MB, tcp_wmem to 4 MB), so it never drains.
    for x in 0..120 {
        send(
            &mut raw,
            1000 + x,
            op::GET_DATA,
            &body::path_watch("/big", false),
        )
        .unwrap();
    }
    // Let the server fill the socket and block.
    std::thread::sleep(Duration::from_millis(300));
    raw
}

/// A client that pipelines reads and never reads the answers cannot
/// drain: its connection is closed at half the shutdown timeout, and the
/// server still exits 0 with its writes durable.
#[test]
fn a_client_that_does_not_read_does_not_hold_up_the_shutdown() {
    let mut srv = Server::opts()
        .jvm("-Dcorral.shutdownTimeoutMs=2000")
        .start();
    let _stuck = stuck_client(&srv);
    let t0 = Instant::now();
    srv.signal("TERM");
    let status = srv.wait_exit(Duration::from_secs(10));
    let took = t0.elapsed();
    let log = srv.log_text();
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{log}"));
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "exited after {took:?}; the stuck connection is closed at 1 s, the shutdown times out at 2 s; log:\n{log}"
    );
    assert!(log.contains("did not drain"), "log:\n{log}");
    srv.restart();
    let mut raw = Raw::connect(&srv.addr());
    assert_eq!(
        raw.exists("/big", false).map(|s| s.data_length),
        Some(1_000_000)
    );
}

/// A shutdown that cannot finish (here the sequencer's executor is held
/// by the `corral.test.stallMs` hook) ends at `corral.shutdownTimeoutMs`
/// with a non-zero status and a message.
#[test]
fn a_shutdown_that_cannot_finish_exits_nonzero_after_the_timeout() {
    let mut srv = Server::opts()
        .jvm("-Dcorral.shutdownTimeoutMs=1000 -Dcorral.test.stallMs=8000")
        .start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.log_text().contains("holding the sequencer") {
        assert!(Instant::now() < deadline, "the hook did not run");
        std::thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    srv.signal("TERM");
    let status = srv.wait_exit(Duration::from_secs(10));
    let took = t0.elapsed();
    let log = srv.log_text();
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{log}"));
    assert_eq!(status.code(), Some(1), "exit status {status}; log:\n{log}");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(4),
        "exited after {took:?}, timeout 1 s"
    );
    assert!(log.contains("did not finish"), "log:\n{log}");
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let mut srv = Server::start();
    let _stuck = stuck_client(&srv);
    srv.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        srv.alive(),
        "the first SIGTERM must wait for the stuck connection"
    );
    let t0 = Instant::now();
    srv.signal("TERM");
    let status = srv.wait_exit(Duration::from_secs(5));
    let took = t0.elapsed();
    let log = srv.log_text();
    let status =
        status.unwrap_or_else(|| panic!("still running after a second SIGTERM; log:\n{log}"));
    assert_eq!(
        status.code(),
        Some(143),
        "exit status {status}; log:\n{log}"
    );
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after the second SIGTERM"
    );
    assert!(log.contains("second"), "log:\n{log}");
}

#[test]
fn sigint_shuts_down_like_sigterm() {
    let mut srv = Server::start();
    let mut raw = Raw::connect(&srv.addr());
    assert_eq!(raw.create("/x", b"1", 0).err, err::OK);
    srv.signal("INT");
    let status = srv.wait_exit(Duration::from_secs(10));
    let log = srv.log_text();
    let status = status.unwrap_or_else(|| panic!("still running after SIGINT; log:\n{log}"));
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("SIGINT"), "log:\n{log}");
    assert!(log.contains("corral has shut down"), "log:\n{log}");
}
