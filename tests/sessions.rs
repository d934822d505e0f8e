//! Sessions against the real binary: expiry, reconnect, refused
//! reconnects, closeSession, timeout negotiation and watch re-registration;
//! and sessions across an ensemble's loss of quorum.

mod common;

use common::ensemble::{Ensemble, Kind};
use common::{closed_by_peer, ev, Connect, Raw, Server, W};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

const EPHEMERAL: i32 = 1;
const EPHEMERAL_SEQUENTIAL: i32 = 3;

/// tickTime 200: sessions may time out after 400 ms (2 ticks) up to 4 s.
fn fast_server() -> Server {
    Server::opts()
        .cfg("tickTime", "200")
        .cfg("minSessionTimeout", "400")
        .start()
}

/// Waits for the next notification on `b` for up to `within`, pinging in
/// between so that `b`'s own session stays alive meanwhile.
fn wait_event(b: &mut Raw, within: Duration) -> Option<common::Event> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(e) = b.event(Duration::from_millis(100)) {
            return Some(e);
        }
        b.ping();
        if let Some(e) = b.events.pop_front() {
            return Some(e);
        }
    }
    None
}

fn refused(c: &common::Connected) {
    assert_eq!(
        (c.timeout, c.session, c.passwd.as_slice()),
        (0, 0, &[0u8; 16][..]),
        "a refused session is answered with timeout 0, session 0, zero password"
    );
}

#[test]
fn expiry_deletes_ephemerals_and_fires_watches() {
    let srv = fast_server();
    let mut a = Raw::connect_timeout(&srv.addr(), 400);
    assert_eq!(a.timeout, 400);
    a.create("/app", b"", 0);
    assert_eq!(a.create("/app/e", b"", EPHEMERAL).err, 0);
    let seq = a.create("/app/q-", b"", EPHEMERAL_SEQUENTIAL);
    let seq = seq.ok().string();
    assert_eq!(seq, "/app/q-0000000001");
    let last = Instant::now();

    let mut b = Raw::connect(&srv.addr());
    assert!(b.exists("/app/e", true).is_some());
    b.get_data(&seq, true).unwrap();
    b.children("/app", true).unwrap();

    // a sends nothing more: its session expires.
    let mut got = Vec::new();
    while got.len() < 3 {
        match wait_event(&mut b, Duration::from_secs(10)) {
            Some(e) => got.push(e),
            None => panic!("expiry did not fire the watches: {got:?}"),
        }
    }
    let waited = last.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "expired after {waited:?}, timeout is 400 ms"
    );
    got.sort_by(|x, y| x.path.cmp(&y.path).then(x.kind.cmp(&y.kind)));
    assert_eq!(
        got,
        [
            ev(common::ev::NODE_CHILDREN_CHANGED, "/app"),
            ev(common::ev::NODE_DELETED, "/app/e"),
            ev(common::ev::NODE_DELETED, &seq),
        ]
    );
    assert!(b.exists("/app/e", false).is_none());
    assert!(b.exists("/app", false).is_some());
    assert_eq!(b.children("/app", false).unwrap(), Vec::<String>::new());
    // The server drops the expired session's connection, and refuses it
    // on reconnect.
    assert!(closed_by_peer(&mut a.stream, Duration::from_secs(5)));
    let c = Connect {
        session: a.session,
        passwd: a.passwd.clone(),
        timeout: 400,
        ..Connect::default()
    };
    let (mut x, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    refused(&resp);
    assert!(closed_by_peer(&mut x.stream, Duration::from_secs(5)));
}

#[test]
fn pings_keep_a_session_alive() {
    let srv = fast_server();
    let mut a = Raw::connect_timeout(&srv.addr(), 400);
    assert_eq!(a.create("/alive", b"", EPHEMERAL).err, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        std::thread::sleep(Duration::from_millis(100));
        a.ping();
    }
    let mut b = Raw::connect(&srv.addr());
    let st = b
        .exists("/alive", false)
        .expect("session kept alive by pings");
    assert_eq!(st.ephemeral_owner, a.session);
    // Reads count as activity too.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1000) {
        std::thread::sleep(Duration::from_millis(100));
        assert!(a.exists("/alive", false).is_some());
    }
    assert!(b.exists("/alive", false).is_some());
}

#[test]
fn reconnect_within_timeout_keeps_the_session() {
    let srv = Server::start();
    let mut a = Raw::connect_timeout(&srv.addr(), 10_000);
    assert_eq!(a.create("/r", b"", EPHEMERAL).err, 0);
    let (id, passwd, zxid) = (a.session, a.passwd.clone(), a.last_zxid);
    assert_eq!(passwd.len(), 16);

    // Reconnect while the old connection is still open: the server closes
    // the old one.
    let c = Connect {
        session: id,
        passwd: passwd.clone(),
        timeout: 12_000,
        last_zxid: zxid,
        ..Connect::default()
    };
    let (mut b, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    assert_eq!(
        (resp.session, resp.timeout, &resp.passwd, resp.len),
        (id, 12_000, &passwd, 37)
    );
    assert!(closed_by_peer(&mut a.stream, Duration::from_secs(5)));
    let st = b.exists("/r", false).unwrap();
    assert_eq!(st.ephemeral_owner, id);
    assert_eq!(b.create("/r2", b"", EPHEMERAL).err, 0);
    assert_eq!(b.exists("/r2", false).unwrap().ephemeral_owner, id);

    // Drop the connection without closing the session, come back again.
    drop(b);
    let (mut c2, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    assert_eq!(resp.session, id);
    assert!(c2.exists("/r", false).is_some());
    let r = c2.call(common::op::GET_EPHEMERALS, &common::body::path("/"));
    let mut eph = r.ok().strings();
    eph.sort();
    assert_eq!(eph, ["/r", "/r2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_with_the_crates_session_info() {
    let srv = Server::start();
    let c1 = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_detached()
        .connect(&srv.addr())
        .await
        .unwrap();
    let opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c1.create("/mine", b"", &opts).await.unwrap();
    let id = c1.session_id();
    let info = c1.into_session();
    let c2 = zk::Client::connector()
        .with_session(info)
        .connect(&srv.addr())
        .await
        .unwrap();
    assert_eq!(c2.session_id(), id);
    let st = c2.check_stat("/mine").await.unwrap().unwrap();
    assert_eq!(st.ephemeral_owner, id.0);
    assert_eq!(c2.list_ephemerals("/").await.unwrap(), ["/mine"]);
}

#[test]
fn wrong_password_or_unknown_session_is_refused() {
    let srv = Server::start();
    let mut a = Raw::connect_timeout(&srv.addr(), 10_000);
    assert_eq!(a.create("/w", b"", EPHEMERAL).err, 0);
    let (id, passwd) = (a.session, a.passwd.clone());
    for (session, pw) in [
        (id, vec![1u8; 16]),
        (id, vec![]),
        (0x1234_5678, vec![0u8; 16]),
    ] {
        let c = Connect {
            session,
            passwd: pw,
            timeout: 10_000,
            ..Connect::default()
        };
        let (mut x, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
        refused(&resp);
        assert_eq!(resp.len, 37);
        assert!(closed_by_peer(&mut x.stream, Duration::from_secs(5)));
    }
    // The session itself lives on: its ephemeral stays and the right
    // password still gets it back.
    let mut b = Raw::connect(&srv.addr());
    assert_eq!(b.exists("/w", false).unwrap().ephemeral_owner, id);
    let c = Connect {
        session: id,
        passwd,
        timeout: 10_000,
        ..Connect::default()
    };
    let (_, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    assert_eq!((resp.session, resp.timeout), (id, 10_000));
}

#[test]
fn close_session_deletes_ephemerals_at_once() {
    let srv = Server::start();
    let mut a = Raw::connect(&srv.addr());
    assert_eq!(a.create("/c1", b"", EPHEMERAL).err, 0);
    assert_eq!(a.create("/c2", b"", EPHEMERAL).err, 0);
    let mut b = Raw::connect(&srv.addr());
    assert!(b.exists("/c1", true).is_some());
    b.children("/", true).unwrap();
    let before = b.last_zxid;

    let r = a.close_session();
    assert_eq!((r.err, r.body.len()), (0, 0));
    assert_eq!(r.zxid, before + 1, "closeSession is one txn");
    assert!(closed_by_peer(&mut a.stream, Duration::from_secs(5)));
    // Gone for everyone once the close is answered.
    b.sync();
    assert!(b.exists("/c1", false).is_none());
    assert!(b.exists("/c2", false).is_none());
    assert_eq!(b.children("/", false).unwrap(), ["zookeeper"]);
    let mut got: Vec<_> = b.events.drain(..).collect();
    got.sort_by(|x, y| x.path.cmp(&y.path));
    assert_eq!(
        got,
        [
            ev(common::ev::NODE_CHILDREN_CHANGED, "/"),
            ev(common::ev::NODE_DELETED, "/c1")
        ]
    );
    // A closed session cannot be resumed.
    let c = Connect {
        session: a.session,
        passwd: a.passwd.clone(),
        ..Connect::default()
    };
    let (_, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    refused(&resp);
}

#[test]
fn requested_timeouts_are_clamped() {
    // Defaults: 2 x and 20 x tickTime.
    let srv = Server::start();
    for (asked, got) in [
        (1, 4_000),
        (-5, 4_000),
        (3_999, 4_000),
        (4_000, 4_000),
        (10_000, 10_000),
        (40_000, 40_000),
        (100_000, 40_000),
    ] {
        let a = Raw::connect_timeout(&srv.addr(), asked);
        assert_eq!(a.timeout, got, "asked {asked}");
    }
    // Explicit bounds.
    let srv = Server::opts()
        .cfg("minSessionTimeout", "5000")
        .cfg("maxSessionTimeout", "8000")
        .start();
    for (asked, got) in [(1_000, 5_000), (6_000, 6_000), (9_000, 8_000)] {
        let a = Raw::connect_timeout(&srv.addr(), asked);
        assert_eq!(a.timeout, got, "asked {asked}");
    }
    // A reconnect negotiates again.
    let a = Raw::connect_timeout(&srv.addr(), 6_000);
    let c = Connect {
        session: a.session,
        passwd: a.passwd.clone(),
        timeout: 100_000,
        ..Connect::default()
    };
    let (_, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    assert_eq!((resp.session, resp.timeout), (a.session, 8_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crate_sees_the_negotiated_timeout() {
    let srv = Server::start();
    let c = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(1000))
        .connect(&srv.addr())
        .await
        .unwrap();
    assert_eq!(c.session_timeout(), Duration::from_secs(4));
}

#[test]
fn set_watches_after_reconnect_fires_what_was_missed() {
    let srv = Server::start();
    let mut a = Raw::connect_timeout(&srv.addr(), 10_000);
    a.create("/sw", b"x", 0);
    a.create("/gone", b"", 0);
    let seen = a.last_zxid;
    let (id, passwd) = (a.session, a.passwd.clone());
    drop(a);

    let mut other = Raw::connect(&srv.addr());
    other.set_data("/sw", b"y", -1).unwrap();
    assert_eq!(other.delete("/gone", -1), 0);
    other.create("/new", b"", 0);

    let c = Connect {
        session: id,
        passwd,
        timeout: 10_000,
        last_zxid: seen,
        ..Connect::default()
    };
    let (mut a, resp) = Raw::connect_with(&srv.addr(), &c).unwrap();
    assert_eq!(resp.session, id);
    let body = W::new()
        .long(seen)
        .strings(&["/sw", "/gone"])
        .strings(&["/new", "/later"])
        .strings(&["/"])
        .bytes();
    a.send(-8, common::op::SET_WATCHES, &body);
    let r = a.recv().unwrap();
    assert_eq!((r.xid, r.err, r.body.len()), (-8, 0, 0));
    let got: Vec<_> = a.events.drain(..).collect();
    assert_eq!(
        got,
        [
            ev(common::ev::NODE_DATA_CHANGED, "/sw"),
            ev(common::ev::NODE_DELETED, "/gone"),
            ev(common::ev::NODE_CREATED, "/new"),
            ev(common::ev::NODE_CHILDREN_CHANGED, "/"),
        ]
    );
    // /later was registered and fires when it appears; the fired ones are
    // gone.
    other.create("/later", b"", 0);
    other.set_data("/sw", b"z", -1).unwrap();
    assert_eq!(
        a.event(Duration::from_secs(5)),
        Some(ev(common::ev::NODE_CREATED, "/later"))
    );
    a.no_events();

    // setWatches2 re-adds persistent watches too.
    let body = W::new()
        .long(other.last_zxid)
        .strings(&[])
        .strings(&[])
        .strings(&[])
        .strings(&["/p"])
        .strings(&["/rec"])
        .bytes();
    a.send(-8, common::op::SET_WATCHES2, &body);
    let r = a.recv().unwrap();
    assert_eq!((r.xid, r.err), (-8, 0));
    other.create("/p", b"", 0);
    other.create("/p/c", b"", 0);
    other.create("/rec", b"", 0);
    other.create("/rec/deep", b"", 0);
    a.sync();
    let got: Vec<_> = a.events.drain(..).collect();
    assert_eq!(
        got,
        [
            ev(common::ev::NODE_CREATED, "/p"),
            ev(common::ev::NODE_CHILDREN_CHANGED, "/p"),
            ev(common::ev::NODE_CREATED, "/rec"),
            ev(common::ev::NODE_CREATED, "/rec/deep"),
        ]
    );
}

/// The Go client's NoQuorum test: a 3-server ensemble without a quorum
/// for 6 s, longer than a 4 s session's timeout, keeps the session and its
/// ephemeral once the quorum is back: the leader gives every session a
/// full timeout from when it takes the lead, as ZooKeeper's does. (The
/// leader that survives is elected again, with the session's old deadline
/// long past.)
#[test]
fn a_session_outlives_a_loss_of_quorum_longer_than_its_timeout() {
    let all = [0, 1, 2];
    let mut e = Ensemble::new(&[Kind::Corral; 3]);
    e.start_all();
    e.wait_for(Duration::from_secs(30), "a leader", |e| {
        e.one_leader(&all).is_some()
    });
    let leader = e.one_leader(&all).unwrap();
    let addr = |e: &Ensemble, i: usize| format!("127.0.0.1:{}", e.members[i].client);
    let mut a = Raw::connect_timeout(&addr(&e, leader), 4_000);
    assert_eq!(a.create("/eph", b"", EPHEMERAL).err, 0);
    let c = Connect {
        session: a.session,
        passwd: a.passwd.clone(),
        timeout: 4_000,
        last_zxid: a.last_zxid,
        ..Connect::default()
    };
    // The other two go: no quorum for 6 s.
    let others: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let gone = Instant::now();
    for &i in &others {
        e.kill9(i);
    }
    e.wait_for(Duration::from_secs(10), "the leader to step down", |e| {
        e.mode(leader).as_deref() != Some("leader")
    });
    std::thread::sleep(Duration::from_secs(6).saturating_sub(gone.elapsed()));
    drop(a);
    for &i in &others {
        e.start(i);
    }
    e.wait_for(Duration::from_secs(30), "a leader again", |e| {
        e.one_leader(&all).is_some()
    });
    let back = gone.elapsed();
    assert!(back > Duration::from_secs(6), "no quorum for {back:?}");
    // Its client comes back at once, well within its timeout.
    let now = e.one_leader(&all).unwrap();
    let (mut b, resp) = Raw::connect_with(&addr(&e, now), &c).expect("handshake");
    assert_eq!(
        resp.session, c.session,
        "the session expired while there was no quorum ({back:?}); leader {}",
        e.members[now].sid
    );
    let st = b.exists("/eph", false).expect("the ephemeral is there");
    assert_eq!(st.ephemeral_owner, c.session);
    // Every server has it.
    for i in all {
        let mut r = Raw::connect(&addr(&e, i));
        r.sync();
        assert!(r.exists("/eph", false).is_some(), "member {i}");
    }
}
