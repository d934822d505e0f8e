//! Every opcode corral serves, driven through the `zookeeper-client` crate
//! against the real binary (and, where the crate has no call for it or
//! hides the exact answer, through the raw client of `common`).

mod common;

use common::{body, err, ev, op, Raw, Server, OPEN};
use std::time::Duration;
use zk::{Acl, Acls, AddWatchMode, AuthId, Client, CreateMode, Error, EventType, Permission};
use zookeeper_client as zk;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(srv: &Server) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&srv.addr())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}; server log:\n{}", srv.log_tail()))
}

/// `addauth` through the crate, which sends it with an ordinary xid and
/// waits for a reply with that xid (ZooKeeper echoes the request's xid).
async fn auth(c: &Client, scheme: &str, data: &[u8]) {
    tokio::time::timeout(WAIT, c.auth(scheme, data))
        .await
        .expect("auth not answered with the request's xid")
        .unwrap();
}

fn persistent() -> zk::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

fn mode(m: CreateMode) -> zk::CreateOptions<'static> {
    m.with_acls(Acls::anyone_all())
}

async fn event(w: zk::OneshotWatcher) -> zk::WatchedEvent {
    tokio::time::timeout(WAIT, w.changed())
        .await
        .expect("no watch event")
}

async fn next(w: &mut zk::PersistentWatcher) -> (EventType, String) {
    let e = tokio::time::timeout(WAIT, w.changed())
        .await
        .expect("no watch event");
    (e.event_type, e.path)
}

async fn sorted_children(c: &Client, path: &str) -> Vec<String> {
    let mut v = c.list_children(path).await.unwrap();
    v.sort();
    v
}

/// The zxid of the next write, found by making one.
async fn probe_zxid(c: &Client) -> i64 {
    c.set_data("/", b"", None).await.unwrap().mzxid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_every_mode_with_exact_stats() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let sid = c.session_id().0;

    let (p, seq) = c.create("/p", b"v", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1);
    assert_eq!((p.mzxid, p.pzxid), (p.czxid, p.czxid));
    assert_eq!(p.ctime, p.mtime);
    assert!(
        p.ctime > 1_600_000_000_000,
        "ctime is wall-clock ms: {}",
        p.ctime
    );
    assert_eq!(
        (p.version, p.cversion, p.aversion, p.ephemeral_owner),
        (0, 0, 0, 0)
    );
    assert_eq!((p.data_length, p.num_children), (1, 0));
    let (data, got) = c.get_data("/p").await.unwrap();
    assert_eq!((data.as_slice(), &got), (&b"v"[..], &p));

    // Sequence numbers are the parent's cversion, ten digits.
    let (s0, q0) = c
        .create("/p/s-", b"", &mode(CreateMode::PersistentSequential))
        .await
        .unwrap();
    assert_eq!((q0.into_i64(), q0.to_string()), (0, "0000000000".into()));
    assert_eq!(s0.czxid, p.czxid + 1, "one zxid per write");
    let (_, q1) = c
        .create("/p/s-", b"", &mode(CreateMode::PersistentSequential))
        .await
        .unwrap();
    assert_eq!(q1.into_i64(), 1);
    let (e, _) = c
        .create("/p/e", b"eph", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!((e.ephemeral_owner, e.data_length), (sid, 3));
    let (es, q3) = c
        .create("/p/es-", b"", &mode(CreateMode::EphemeralSequential))
        .await
        .unwrap();
    assert_eq!((q3.into_i64(), es.ephemeral_owner), (3, sid));
    let (ct, _) = c
        .create("/ct", b"", &mode(CreateMode::Container))
        .await
        .unwrap();
    // Containers and TTL nodes show ephemeralOwner 0 to clients.
    assert_eq!(ct.ephemeral_owner, 0);
    assert_eq!(ct.czxid, es.czxid + 1);

    assert_eq!(
        sorted_children(&c, "/p").await,
        ["e", "es-0000000003", "s-0000000000", "s-0000000001"]
    );
    let (_, ps) = c.get_data("/p").await.unwrap();
    assert_eq!((ps.cversion, ps.num_children), (4, 4));
    assert_eq!((ps.pzxid, ps.mzxid, ps.version), (es.czxid, p.czxid, 0));

    // Failures: each still takes a zxid, as in ZooKeeper.
    assert_eq!(
        c.create("/p", b"", &persistent()).await.unwrap_err(),
        Error::NodeExists
    );
    assert_eq!(
        c.create("/nope/x", b"", &persistent()).await.unwrap_err(),
        Error::NoNode
    );
    assert_eq!(
        c.create("/p/e/x", b"", &persistent()).await.unwrap_err(),
        Error::NoChildrenForEphemerals
    );
    assert_eq!(probe_zxid(&c).await, ct.czxid + 4);
    let (_, after) = c.get_data("/p").await.unwrap();
    assert_eq!(after, ps, "failed creates changed the parent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create2_stat_is_the_stored_stat() {
    let srv = Server::start();
    let c = connect(&srv).await;
    for (path, m) in [
        ("/a", CreateMode::Persistent),
        ("/b", CreateMode::Ephemeral),
        ("/c", CreateMode::Container),
    ] {
        let (st, _) = c.create(path, b"xyz", &mode(m)).await.unwrap();
        assert_eq!(c.check_stat(path).await.unwrap(), Some(st));
        let (data, st2) = c.get_data(path).await.unwrap();
        assert_eq!((data, st2), (b"xyz".to_vec(), st));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_is_deleted_once_emptied() {
    let srv = Server::opts()
        .jvm("-Dznode.container.checkIntervalMs=200")
        .start();
    let c = connect(&srv).await;
    c.create("/box", b"", &mode(CreateMode::Container))
        .await
        .unwrap();
    c.create("/never", b"", &mode(CreateMode::Container))
        .await
        .unwrap();
    c.create("/box/item", b"", &persistent()).await.unwrap();
    // Several check intervals: a container with a child stays.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(c.check_stat("/box").await.unwrap().is_some());
    let (_, w) = c.check_and_watch_stat("/box").await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    let e = event(w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/box")
    );
    assert!(c.check_stat("/box").await.unwrap().is_none());
    // Never had a child: kept (maxNeverUsedIntervalMs is 0 by default).
    assert!(c.check_stat("/never").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_refused_without_extended_types() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let ttl = persistent().with_ttl(Duration::from_secs(5));
    assert_eq!(
        c.create("/t", b"", &ttl).await.unwrap_err(),
        Error::Unimplemented
    );
    let seq_ttl = mode(CreateMode::PersistentSequential).with_ttl(Duration::from_secs(5));
    assert_eq!(
        c.create("/t-", b"", &seq_ttl).await.unwrap_err(),
        Error::Unimplemented
    );
    assert!(c.check_stat("/t").await.unwrap().is_none());
    assert_eq!(sorted_children(&c, "/").await, ["zookeeper"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_nodes_expire_when_enabled() {
    let srv = Server::opts()
        .jvm("-Dzookeeper.extendedTypesEnabled=true -Dznode.container.checkIntervalMs=100")
        .start();
    let c = connect(&srv).await;
    let ttl = |ms| persistent().with_ttl(Duration::from_millis(ms));
    let (t, _) = c.create("/t", b"x", &ttl(300)).await.unwrap();
    assert_eq!(t.ephemeral_owner, 0, "TTL nodes show ephemeralOwner 0");
    c.create("/dir", b"", &persistent()).await.unwrap();
    let seq_ttl = mode(CreateMode::PersistentSequential).with_ttl(Duration::from_millis(300));
    let (_, q) = c.create("/dir/s-", b"", &seq_ttl).await.unwrap();
    assert_eq!(q.into_i64(), 0);
    let (_, _) = c.create("/kept", b"", &ttl(300)).await.unwrap();
    c.create("/kept/child", b"", &persistent()).await.unwrap();
    let (long, _) = c.create("/long", b"", &ttl(60_000)).await.unwrap();
    assert_eq!((long.ephemeral_owner, long.version), (0, 0));

    let (_, w) = c.check_and_watch_stat("/t").await.unwrap();
    let e = event(w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/t")
    );
    wait_gone(&c, "/dir/s-0000000000").await;
    // A TTL node with children, and one whose TTL has not run out, stay.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(c.check_stat("/kept").await.unwrap().is_some());
    assert!(c.check_stat("/long").await.unwrap().is_some());
}

async fn wait_gone(c: &Client, path: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while c.check_stat(path).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "{path} still there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_checks_versions_and_children() {
    let srv = Server::start();
    let c = connect(&srv).await;
    c.create("/d", b"", &persistent()).await.unwrap();
    let (k, _) = c.create("/d/k", b"", &persistent()).await.unwrap();
    let k1 = c.set_data("/d/k", b"1", None).await.unwrap();
    assert_eq!(k1.version, 1);
    assert_eq!(
        c.delete("/d/k", Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    assert_eq!(c.delete("/d", None).await.unwrap_err(), Error::NotEmpty);
    let (_, before) = c.get_children("/d").await.unwrap();
    assert_eq!(
        (before.cversion, before.num_children, before.pzxid),
        (1, 1, k.czxid)
    );
    c.delete("/d/k", Some(1)).await.unwrap();
    let del_zxid = probe_zxid(&c).await - 1;
    let (children, after) = c.get_children("/d").await.unwrap();
    assert!(children.is_empty());
    assert_eq!(after.num_children, 0);
    assert_eq!(after.pzxid, del_zxid, "delete moves the parent's pzxid");
    // Clients see cversion as 2 x creates - children: a delete counts.
    assert_eq!(after.cversion, 2);
    assert_eq!(after.mzxid, before.mzxid);
    assert_eq!(c.delete("/d/k", None).await.unwrap_err(), Error::NoNode);
    assert_eq!(
        c.delete("/d", Some(3)).await.unwrap_err(),
        Error::BadVersion
    );
    c.delete("/d", Some(0)).await.unwrap();
    assert!(c.check_stat("/d").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_data_checks_versions() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let (s0, _) = c.create("/s", b"a", &persistent()).await.unwrap();
    let s1 = c.set_data("/s", b"bb", None).await.unwrap();
    assert_eq!((s1.version, s1.data_length), (1, 2));
    assert_eq!(
        (s1.czxid, s1.ctime, s1.pzxid),
        (s0.czxid, s0.ctime, s0.pzxid)
    );
    assert_eq!(s1.mzxid, s0.czxid + 1);
    assert!(s1.mtime >= s0.mtime);
    assert_eq!(
        c.set_data("/s", b"x", Some(0)).await.unwrap_err(),
        Error::BadVersion
    );
    let s2 = c.set_data("/s", b"", Some(1)).await.unwrap();
    assert_eq!((s2.version, s2.data_length), (2, 0));
    assert_eq!(s2.mzxid, s1.mzxid + 2, "the failed setData took a zxid");
    assert_eq!(c.get_data("/s").await.unwrap(), (vec![], s2));
    assert_eq!(
        c.set_data("/missing", b"x", None).await.unwrap_err(),
        Error::NoNode
    );
    let big = vec![7u8; 512 * 1024];
    let s3 = c.set_data("/s", &big, Some(2)).await.unwrap();
    assert_eq!(s3.data_length, big.len() as i32);
    assert_eq!(c.get_data("/s").await.unwrap().0, big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_get_data_and_children() {
    let srv = Server::start();
    let c = connect(&srv).await;
    assert!(c.check_stat("/k").await.unwrap().is_none());
    assert_eq!(c.get_data("/k").await.unwrap_err(), Error::NoNode);
    assert_eq!(c.list_children("/k").await.unwrap_err(), Error::NoNode);
    assert_eq!(c.get_children("/k").await.unwrap_err(), Error::NoNode);
    c.create("/k", b"", &persistent()).await.unwrap();
    for n in ["b", "a", "c"] {
        c.create(&format!("/k/{n}"), n.as_bytes(), &persistent())
            .await
            .unwrap();
    }
    assert_eq!(sorted_children(&c, "/k").await, ["a", "b", "c"]);
    let (mut names, st) = c.get_children("/k").await.unwrap();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!((st.num_children, st.cversion), (3, 3));
    assert_eq!(c.check_stat("/k").await.unwrap(), Some(st));
    assert_eq!(c.get_data("/k/b").await.unwrap().0, b"b");
    assert!(sorted_children(&c, "/k/a").await.is_empty());
    let mut root = sorted_children(&c, "/").await;
    root.sort();
    assert_eq!(root, ["k", "zookeeper"]);
    assert_eq!(sorted_children(&c, "/zookeeper").await, ["config", "quota"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_digest_world_ip() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let id = common::digest("user:pw");
    let digest_all = [Acl::new(Permission::ALL, AuthId::new("digest", &id))];
    c.create(
        "/sec",
        b"secret",
        &CreateMode::Persistent.with_acls(Acls::new(&digest_all)),
    )
    .await
    .unwrap();
    assert_eq!(c.get_data("/sec").await.unwrap_err(), Error::NoAuth);
    assert_eq!(
        c.set_data("/sec", b"x", None).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(c.list_children("/sec").await.unwrap_err(), Error::NoAuth);
    assert_eq!(c.get_acl("/sec").await.unwrap_err(), Error::NoAuth);
    assert_eq!(
        c.create("/sec/x", b"", &persistent()).await.unwrap_err(),
        Error::NoAuth
    );
    // exists needs no permission.
    assert!(c.check_stat("/sec").await.unwrap().is_some());

    let u = connect(&srv).await;
    auth(&u, "digest", b"user:pw").await;
    assert_eq!(u.get_data("/sec").await.unwrap().0, b"secret");
    let (acl, st) = u.get_acl("/sec").await.unwrap();
    assert_eq!(acl, digest_all);
    assert_eq!(st.aversion, 0);
    let mut who: Vec<(String, String)> = u
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|a| (a.scheme().to_string(), a.user().to_string()))
        .collect();
    who.sort();
    assert_eq!(
        who,
        [
            ("digest".to_string(), "user".to_string()),
            ("ip".to_string(), "127.0.0.1".to_string())
        ]
    );
    let who: Vec<_> = c.list_auth_users().await.unwrap();
    assert_eq!(who, [zk::AuthUser::new("ip", "127.0.0.1")]);

    // setACL with versions.
    let read_only = [Acl::new(Permission::READ, AuthId::anyone())];
    assert_eq!(
        u.set_acl("/sec", &read_only, Some(3)).await.unwrap_err(),
        Error::BadVersion
    );
    let st = u.set_acl("/sec", &read_only, Some(0)).await.unwrap();
    assert_eq!((st.aversion, st.version), (1, 0));
    c.sync("/").await.unwrap(); // c reads what u wrote
    assert_eq!(c.get_data("/sec").await.unwrap().0, b"secret");
    assert_eq!(
        c.set_data("/sec", b"x", None).await.unwrap_err(),
        Error::NoAuth
    );
    assert_eq!(c.get_acl("/sec").await.unwrap(), (read_only.to_vec(), st));
    assert_eq!(
        c.set_acl("/sec", &digest_all, None).await.unwrap_err(),
        Error::NoAuth
    );

    // creator_all: expands to the session's digest ids; refused without one.
    assert_eq!(
        c.create(
            "/mine",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all())
        )
        .await
        .unwrap_err(),
        Error::InvalidAcl
    );
    u.create(
        "/mine",
        b"",
        &CreateMode::Persistent.with_acls(Acls::creator_all()),
    )
    .await
    .unwrap();
    assert_eq!(u.get_acl("/mine").await.unwrap().0, digest_all);

    // ip: the client's address matches 127.0.0.1 and 127.0.0.0/8, not 10/8.
    for (expr, ok) in [
        ("127.0.0.1", true),
        ("127.0.0.0/8", true),
        ("10.0.0.0/8", false),
    ] {
        let acl = [Acl::new(Permission::READ, AuthId::new("ip", expr))];
        let path = format!("/ip-{}", expr.replace('/', "_"));
        c.create(
            &path,
            b"i",
            &CreateMode::Persistent.with_acls(Acls::new(&acl)),
        )
        .await
        .unwrap();
        let got = c.get_data(&path).await.map(|(d, _)| d);
        if ok {
            assert_eq!(got.unwrap(), b"i", "{expr}");
        } else {
            assert_eq!(got.unwrap_err(), Error::NoAuth, "{expr}");
        }
    }

    // Invalid ACLs.
    for (scheme, id) in [
        ("digest", "nocolon"),
        ("ip", "300.1.1.1"),
        ("ip", "10.0.0.0/40"),
        ("bogus", "x"),
        ("world", "someone"),
        ("super", "x"),
    ] {
        let acl = [Acl::new(Permission::ALL, AuthId::new(scheme, id))];
        assert_eq!(
            c.create(
                "/bad",
                b"",
                &CreateMode::Persistent.with_acls(Acls::new(&acl))
            )
            .await
            .unwrap_err(),
            Error::InvalidAcl,
            "{scheme}:{id}"
        );
        assert_eq!(
            c.set_acl("/mine", &acl, None).await.unwrap_err(),
            Error::InvalidAcl,
            "{scheme}:{id}"
        );
    }
    assert!(c.check_stat("/bad").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_acl_hides_digests_without_admin() {
    let srv = Server::start();
    let id = common::digest("user:pw");
    let u = connect(&srv).await;
    auth(&u, "digest", b"user:pw").await;
    let acl = [Acl::new(Permission::READ, AuthId::new("digest", &id))];
    u.create(
        "/r",
        b"",
        &CreateMode::Persistent.with_acls(Acls::new(&acl)),
    )
    .await
    .unwrap();
    // READ without ADMIN: the digest is shown as user:x.
    let (got, _) = u.get_acl("/r").await.unwrap();
    assert_eq!(
        got,
        [Acl::new(Permission::READ, AuthId::new("digest", "user:x"))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_check() {
    let srv = Server::start();
    let c = connect(&srv).await;
    c.sync("/").await.unwrap();
    c.sync("/does/not/exist").await.unwrap();
    c.create("/v", b"", &persistent()).await.unwrap();
    c.set_data("/v", b"1", None).await.unwrap();

    let mut w = c.new_check_writer("/v", Some(1)).unwrap();
    w.add_set_data("/v", b"2", Some(1)).unwrap();
    let r = w.commit().await.unwrap();
    assert_eq!(r.len(), 1);

    let mut w = c.new_check_writer("/v", Some(1)).unwrap();
    w.add_set_data("/v", b"3", None).unwrap();
    assert_eq!(
        w.commit().await.unwrap_err(),
        zk::CheckWriteError::CheckFailed {
            source: Error::BadVersion
        }
    );
    let mut w = c.new_check_writer("/nope", None).unwrap();
    w.add_create("/v2", b"", &persistent()).unwrap();
    assert_eq!(
        w.commit().await.unwrap_err(),
        zk::CheckWriteError::CheckFailed {
            source: Error::NoNode
        }
    );
    assert!(c.check_stat("/v2").await.unwrap().is_none());
    let (data, st) = c.get_data("/v").await.unwrap();
    assert_eq!((data.as_slice(), st.version), (&b"2"[..], 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_success_results() {
    let srv = Server::start();
    let c = connect(&srv).await;
    c.create("/gone", b"", &persistent()).await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_create("/m", b"m", &persistent()).unwrap();
    w.add_create("/m/s-", b"", &mode(CreateMode::PersistentSequential))
        .unwrap();
    w.add_set_data("/m", b"mm", Some(0)).unwrap();
    w.add_check_version("/m", 1).unwrap();
    w.add_delete("/gone", Some(0)).unwrap();
    let r = w.commit().await.unwrap();
    assert_eq!(r.len(), 5);
    // create2 inside a multi is answered as a plain create (path only),
    // as ZooKeeper 3.8 does (ZOOKEEPER-4026): the crate shows no stat.
    let zk::MultiWriteResult::Create { path, stat } = &r[0] else {
        panic!("{r:?}")
    };
    assert_eq!((path.as_str(), stat.czxid), ("/m", -1));
    let zk::MultiWriteResult::Create { path, .. } = &r[1] else {
        panic!("{r:?}")
    };
    assert_eq!(path, "/m/s-0000000000");
    let (_, m) = c.get_data("/m").await.unwrap();
    let (_, s) = c.get_data("/m/s-0000000000").await.unwrap();
    assert_eq!(s.czxid, m.czxid, "one zxid for the whole multi");
    let zk::MultiWriteResult::SetData { stat } = &r[2] else {
        panic!("{r:?}")
    };
    assert_eq!(
        (stat.version, stat.data_length, stat.mzxid),
        (1, 2, m.czxid)
    );
    assert_eq!(stat, &m);
    assert_eq!(r[3], zk::MultiWriteResult::Check);
    assert_eq!(r[4], zk::MultiWriteResult::Delete);
    assert!(c.check_stat("/gone").await.unwrap().is_none());
    let (_, st) = c.get_data("/m").await.unwrap();
    assert_eq!((st.num_children, st.cversion, st.pzxid), (1, 1, m.czxid));
    // An empty multi succeeds.
    assert!(c.new_multi_writer().commit().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_failure_is_all_or_nothing() {
    let srv = Server::start();
    let c = connect(&srv).await;
    c.create("/x", b"", &persistent()).await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_create("/n1", b"", &persistent()).unwrap();
    w.add_create("/x", b"", &persistent()).unwrap();
    w.add_set_data("/x", b"", None).unwrap();
    assert_eq!(
        w.commit().await.unwrap_err(),
        zk::MultiWriteError::OperationFailed {
            index: 1,
            source: Error::NodeExists
        }
    );
    assert!(c.check_stat("/n1").await.unwrap().is_none());
    assert_eq!(c.get_data("/x").await.unwrap().1.version, 0);

    // The exact per-op results, on the wire.
    let mut raw = Raw::connect(&srv.addr());
    let r = raw.call(
        op::MULTI,
        &body::multi(&[
            (op::CREATE, body::create("/n1", b"", OPEN, 0)),
            (op::SET_DATA, body::set_data("/x", b"", 7)),
            (op::DELETE, body::path_version("/x", -1)),
        ]),
    );
    assert_eq!(r.err, 0, "a failed multi answers Ok with error results");
    let mut rd = r.r();
    for want in [0, err::BAD_VERSION, err::RUNTIME_INCONSISTENCY] {
        assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::ERROR, false, want));
        assert_eq!(rd.int(), want);
    }
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (-1, true, -1));
    assert_eq!(rd.remaining(), 0);
    assert!(raw.exists("/n1", false).is_none());
    assert!(raw.exists("/x", false).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_create_results_on_the_wire() {
    let srv = Server::start();
    let mut raw = Raw::connect(&srv.addr());
    let r = raw.call(
        op::MULTI,
        &body::multi(&[
            (op::CREATE, body::create("/a", b"1", OPEN, 0)),
            (op::CREATE2, body::create("/b", b"22", OPEN, 0)),
            (op::CREATE_CONTAINER, body::create("/c", b"", OPEN, 4)),
            (op::SET_DATA, body::set_data("/a", b"x", 0)),
            (op::CHECK, body::path_version("/b", 0)),
            (op::DELETE, body::path_version("/b", 0)),
        ]),
    );
    let mut rd = r.ok();
    // create: the path only.
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::CREATE, false, 0));
    assert_eq!(rd.string(), "/a");
    // create2: ZooKeeper 3.8 reads it as a plain create (ZOOKEEPER-4026),
    // so the answer is the path only.
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::CREATE, false, 0));
    assert_eq!(rd.string(), "/b");
    // createContainer: answered as create2, path and stat (Java clients
    // reject type 19 in a MultiResponse); the stat shows owner 0.
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::CREATE2, false, 0));
    assert_eq!(rd.string(), "/c");
    let c = rd.stat();
    assert_eq!((c.czxid, c.ephemeral_owner, c.num_children), (r.zxid, 0, 0));
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::SET_DATA, false, 0));
    assert_eq!(rd.stat().version, 1);
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::CHECK, false, 0));
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::DELETE, false, 0));
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (-1, true, -1));
    assert_eq!(rd.remaining(), 0);
}

#[test]
fn multi_ttl_create_answers_as_create2() {
    let srv = Server::opts()
        .jvm("-Dzookeeper.extendedTypesEnabled=true")
        .start();
    let mut raw = Raw::connect(&srv.addr());
    let r = raw.call(
        op::MULTI,
        &body::multi(&[
            (op::CREATE_TTL, body::create_ttl("/t", b"", OPEN, 5, 60_000)),
            (
                op::CREATE_TTL,
                body::create_ttl("/s-", b"", OPEN, 6, 60_000),
            ),
        ]),
    );
    let mut rd = r.ok();
    for path in ["/t", "/s-0000000001"] {
        assert_eq!((rd.int(), rd.boolean(), rd.int()), (op::CREATE2, false, 0));
        assert_eq!(rd.string(), path);
        let st = rd.stat();
        assert_eq!((st.czxid, st.ephemeral_owner), (r.zxid, 0));
    }
    assert_eq!((rd.int(), rd.boolean(), rd.int()), (-1, true, -1));
    // A TTL out of range fails the multi with BadArguments.
    let r = raw.call(
        op::MULTI,
        &body::multi(&[(op::CREATE_TTL, body::create_ttl("/u", b"", OPEN, 5, 0))]),
    );
    let mut rd = r.ok();
    assert_eq!(
        (rd.int(), rd.boolean(), rd.int()),
        (op::ERROR, false, err::BAD_ARGUMENTS)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_read_per_op_results() {
    let srv = Server::start();
    let c = connect(&srv).await;
    c.create("/r", b"rd", &persistent()).await.unwrap();
    c.create("/r/x", b"", &persistent()).await.unwrap();
    let id = common::digest("user:pw");
    let locked = [Acl::new(Permission::ALL, AuthId::new("digest", &id))];
    c.create(
        "/locked",
        b"",
        &CreateMode::Persistent.with_acls(Acls::new(&locked)),
    )
    .await
    .unwrap();
    let mut m = c.new_multi_reader();
    m.add_get_data("/r").unwrap();
    m.add_get_children("/r").unwrap();
    m.add_get_data("/missing").unwrap();
    m.add_get_children("/locked").unwrap();
    let r = m.commit().await.unwrap();
    assert_eq!(r.len(), 4);
    let (_, rstat) = c.get_data("/r").await.unwrap();
    match &r[0] {
        zk::MultiReadResult::Data { data, stat } => {
            assert_eq!((data.as_slice(), stat), (&b"rd"[..], &rstat))
        }
        other => panic!("{other:?}"),
    }
    match &r[1] {
        zk::MultiReadResult::Children { children } => assert_eq!(children, &["x"]),
        other => panic!("{other:?}"),
    }
    match &r[2] {
        zk::MultiReadResult::Error { err } => assert_eq!(err, &Error::NoNode),
        other => panic!("{other:?}"),
    }
    match &r[3] {
        zk::MultiReadResult::Error { err } => assert_eq!(err, &Error::NoAuth),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_and_descendant_counts() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let other = connect(&srv).await;
    c.create("/app", b"", &persistent()).await.unwrap();
    c.create("/app/e1", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    c.create("/app/e2-", b"", &mode(CreateMode::EphemeralSequential))
        .await
        .unwrap();
    c.create("/top", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();
    c.create("/app/p", b"", &persistent()).await.unwrap();
    c.create("/app/p/q", b"", &persistent()).await.unwrap();
    other
        .create("/app/theirs", b"", &mode(CreateMode::Ephemeral))
        .await
        .unwrap();

    let mut all = c.list_ephemerals("/").await.unwrap();
    all.sort();
    assert_eq!(all, ["/app/e1", "/app/e2-0000000001", "/top"]);
    let mut app = c.list_ephemerals("/app").await.unwrap();
    app.sort();
    assert_eq!(app, ["/app/e1", "/app/e2-0000000001"]);
    // A prefix of names, not only of paths.
    assert_eq!(
        c.list_ephemerals("/app/e2").await.unwrap(),
        ["/app/e2-0000000001"]
    );
    assert_eq!(c.list_ephemerals("/t").await.unwrap(), ["/top"]);
    assert!(c.list_ephemerals("/nothing").await.unwrap().is_empty());
    assert_eq!(other.list_ephemerals("/").await.unwrap(), ["/app/theirs"]);

    assert_eq!(c.count_descendants_number("/app").await.unwrap(), 5);
    assert_eq!(c.count_descendants_number("/app/p").await.unwrap(), 1);
    assert_eq!(c.count_descendants_number("/app/p/q").await.unwrap(), 0);
    // "/" counts /zookeeper, /zookeeper/quota and /zookeeper/config too.
    assert_eq!(c.count_descendants_number("/").await.unwrap(), 3 + 7);
    assert_eq!(
        c.count_descendants_number("/nope").await.unwrap_err(),
        Error::NoNode
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watches() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let w2 = connect(&srv).await;
    c.create("/w", b"", &persistent()).await.unwrap();

    let (_, _, data_w) = c.get_and_watch_data("/w").await.unwrap();
    let (_, exist_w) = c.check_and_watch_stat("/w").await.unwrap();
    let (_, child_w) = c.list_and_watch_children("/w").await.unwrap();
    let (none, created_w) = c.check_and_watch_stat("/w/new").await.unwrap();
    assert!(none.is_none());

    w2.set_data("/w", b"1", None).await.unwrap();
    let e = event(data_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/w")
    );
    let e = event(exist_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/w")
    );

    w2.create("/w/new", b"", &persistent()).await.unwrap();
    let e = event(created_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/w/new")
    );
    let e = event(child_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );

    // Deleting a node fires its data and child watches as NodeDeleted.
    let (_, _, data_w) = c.get_and_watch_data("/w/new").await.unwrap();
    let (_, _, child_w) = c.get_and_watch_children("/w/new").await.unwrap();
    let (_, parent_w) = c.list_and_watch_children("/w").await.unwrap();
    w2.delete("/w/new", None).await.unwrap();
    let e = event(data_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/w/new")
    );
    let e = event(child_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/w/new")
    );
    let e = event(parent_w).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watches_fire_once_on_the_wire() {
    let srv = Server::start();
    let mut a = Raw::connect(&srv.addr());
    let mut b = Raw::connect(&srv.addr());
    a.create("/o", b"", 0).ok();
    a.get_data("/o", true).unwrap();
    a.get_data("/o", true).unwrap(); // registering twice still fires once
    a.children("/o", true).unwrap();
    assert!(a.exists("/o/c", true).is_none());
    b.set_data("/o", b"1", -1).unwrap();
    b.set_data("/o", b"2", -1).unwrap();
    b.create("/o/c", b"", 0).ok();
    b.create("/o/d", b"", 0).ok();
    a.sync(); // every event of the writes above is in
    let got: Vec<_> = a.events.drain(..).collect();
    assert_eq!(
        got,
        [
            ev(common::ev::NODE_DATA_CHANGED, "/o"),
            ev(common::ev::NODE_CREATED, "/o/c"),
            ev(common::ev::NODE_CHILDREN_CHANGED, "/o"),
        ]
    );
    // A session's own write: the event comes before the write's reply.
    a.get_data("/o", true).unwrap();
    let xid = a.next_xid();
    a.send(xid, op::SET_DATA, &body::set_data("/o", b"3", -1));
    let r = a.recv().unwrap();
    assert_eq!((r.xid, r.err), (xid, 0));
    assert_eq!(
        a.events.drain(..).collect::<Vec<_>>(),
        [ev(common::ev::NODE_DATA_CHANGED, "/o")]
    );
    a.no_events();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watch() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let w = connect(&srv).await;
    let mut pw = c.watch("/pw", AddWatchMode::Persistent).await.unwrap();
    w.create("/pw", b"", &persistent()).await.unwrap();
    w.set_data("/pw", b"1", None).await.unwrap();
    w.set_data("/pw", b"2", None).await.unwrap();
    w.create("/pw/c", b"", &persistent()).await.unwrap();
    w.set_data("/pw/c", b"x", None).await.unwrap(); // not watched
    w.delete("/pw/c", None).await.unwrap();
    w.delete("/pw", None).await.unwrap();
    w.create("/pw", b"", &persistent()).await.unwrap();
    let want = [
        (EventType::NodeCreated, "/pw"),
        (EventType::NodeDataChanged, "/pw"),
        (EventType::NodeDataChanged, "/pw"),
        (EventType::NodeChildrenChanged, "/pw"),
        (EventType::NodeChildrenChanged, "/pw"),
        (EventType::NodeDeleted, "/pw"),
        (EventType::NodeCreated, "/pw"),
    ];
    for (kind, path) in want {
        assert_eq!(next(&mut pw).await, (kind, path.to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let w = connect(&srv).await;
    let mut rw = c
        .watch("/r", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    w.create("/r", b"", &persistent()).await.unwrap();
    w.create("/r/a", b"", &persistent()).await.unwrap();
    w.create("/r/a/b", b"", &persistent()).await.unwrap();
    w.set_data("/r/a/b", b"x", None).await.unwrap();
    w.create("/other", b"", &persistent()).await.unwrap(); // outside
    w.delete("/r/a/b", None).await.unwrap();
    w.set_data("/r", b"y", None).await.unwrap();
    let want = [
        (EventType::NodeCreated, "/r"),
        (EventType::NodeCreated, "/r/a"),
        (EventType::NodeCreated, "/r/a/b"),
        (EventType::NodeDataChanged, "/r/a/b"),
        (EventType::NodeDeleted, "/r/a/b"),
        (EventType::NodeDataChanged, "/r"),
    ];
    for (kind, path) in want {
        assert_eq!(next(&mut rw).await, (kind, path.to_string()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_remove_watches() {
    let srv = Server::start();
    let mut a = Raw::connect(&srv.addr());
    let mut b = Raw::connect(&srv.addr());
    a.create("/cw", b"", 0).ok();
    let check = |a: &mut Raw, path: &str, kind: i32| {
        a.call(op::CHECK_WATCHES, &body::path_int(path, kind)).err
    };
    let remove = |a: &mut Raw, path: &str, kind: i32| {
        a.call(op::REMOVE_WATCHES, &body::path_int(path, kind)).err
    };
    // WatcherType: Children 1, Data 2, Any 3.
    for kind in [1, 2, 3] {
        assert_eq!(check(&mut a, "/cw", kind), err::NO_WATCHER);
        assert_eq!(remove(&mut a, "/cw", kind), err::NO_WATCHER);
    }
    a.get_data("/cw", true).unwrap();
    assert_eq!(check(&mut a, "/cw", 2), 0);
    assert_eq!(check(&mut a, "/cw", 3), 0);
    assert_eq!(check(&mut a, "/cw", 1), err::NO_WATCHER);
    assert_eq!(remove(&mut a, "/cw", 1), err::NO_WATCHER);
    assert_eq!(remove(&mut a, "/cw", 2), 0);
    assert_eq!(remove(&mut a, "/cw", 2), err::NO_WATCHER);
    assert_eq!(check(&mut a, "/cw", 3), err::NO_WATCHER);
    b.set_data("/cw", b"x", -1).unwrap();
    a.no_events();

    // A child watch, removed with Any.
    a.children("/cw", true).unwrap();
    assert_eq!(check(&mut a, "/cw", 1), 0);
    assert_eq!(remove(&mut a, "/cw", 3), 0);
    b.create("/cw/k", b"", 0).ok();
    a.no_events();

    // An exists watch on a missing node is a data watch.
    assert!(a.exists("/cw/none", true).is_none());
    assert_eq!(check(&mut a, "/cw/none", 2), 0);
    assert_eq!(check(&mut a, "/cw/none", 1), err::NO_WATCHER);
    b.create("/cw/none", b"", 0).ok();
    assert_eq!(
        a.event(Duration::from_secs(5)),
        Some(ev(common::ev::NODE_CREATED, "/cw/none"))
    );
    assert_eq!(check(&mut a, "/cw/none", 2), err::NO_WATCHER);

    // A persistent watch shows up in both tables and goes with Any.
    let r = a.call(op::ADD_WATCH, &body::path_int("/cw", 0));
    assert_eq!(r.err, 0);
    assert_eq!(check(&mut a, "/cw", 1), 0);
    assert_eq!(check(&mut a, "/cw", 2), 0);
    assert_eq!(remove(&mut a, "/cw", 3), 0);
    b.set_data("/cw", b"y", -1).unwrap();
    a.no_events();
    assert_eq!(check(&mut a, "/cw", 3), err::NO_WATCHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_whoami() {
    let srv = Server::start();
    let c = connect(&srv).await;
    assert_eq!(
        c.list_auth_users().await.unwrap(),
        [zk::AuthUser::new("ip", "127.0.0.1")]
    );
    auth(&c, "digest", b"alice:secret").await;
    auth(&c, "digest", b"alice:secret").await; // no duplicate
    auth(&c, "digest", b"bob:pw").await;
    let mut who: Vec<(String, String)> = c
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|a| (a.scheme().to_string(), a.user().to_string()))
        .collect();
    who.sort();
    let want: Vec<(String, String)> = [("digest", "alice"), ("digest", "bob"), ("ip", "127.0.0.1")]
        .iter()
        .map(|(s, u)| (s.to_string(), u.to_string()))
        .collect();
    assert_eq!(who, want);

    // An unknown scheme: AuthFailed, then the server closes the connection.
    let mut raw = Raw::connect(&srv.addr());
    raw.send(-4, op::AUTH, &body::auth("bogus", b"x"));
    let r = raw.recv().unwrap();
    assert_eq!((r.xid, r.err), (-4, err::AUTH_FAILED));
    assert!(common::closed_by_peer(&mut raw.stream, WAIT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_is_disabled() {
    let srv = Server::start();
    let c = connect(&srv).await;
    let update = zk::EnsembleUpdate::New {
        ensemble: ["server.1=127.0.0.1:2888:3888;2181"].iter().copied(),
    };
    assert_eq!(
        c.update_ensemble(update, None).await.unwrap_err(),
        Error::ReconfigDisabled
    );
    let (_, st) = c.get_config().await.unwrap();
    assert_eq!(st.version, 0);
}

/// `clientTcpKeepAlive=true` sets SO_KEEPALIVE on the server's side of a
/// client connection, as ZooKeeper's `NIOServerCnxn` does; without it,
/// none.
#[test]
fn client_tcp_keep_alive_turns_keepalive_on_for_client_sockets() {
    for (on, server) in [
        (
            true,
            Server::opts().cfg("clientTcpKeepAlive", "true").start(),
        ),
        (false, Server::opts().start()),
    ] {
        // A session: the server has accepted the connection (and set its
        // options) once it answers.
        let client = Raw::connect(&server.addr());
        let mine = client.stream.local_addr().expect("local address").port();
        // Reply bytes not yet acked show the retransmit timer (1) for a
        // moment.
        let mut timer = None;
        for _ in 0..100 {
            timer = common::tcp_timer(server.port, mine);
            if timer != Some(1) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let want = if on { 2 } else { 0 };
        assert_eq!(
            timer,
            Some(want),
            "the server's socket's timer with clientTcpKeepAlive={on}"
        );
        drop(client);
    }
}
