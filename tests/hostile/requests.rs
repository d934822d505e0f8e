//! Hostile tests: client requests (issue 13, items 1, 4, 7 and 10).
//! Internal opcodes, events on nodes a watcher may not read, addauth
//! floods, and malformed bodies whose answers must be ZooKeeper's. Each
//! runs against Debian's ZooKeeper too (`CORRAL_TEST_SERVER=zookeeper`),
//! except where corral has a bound that ZooKeeper lacks.

use crate::common::{self, body, err, op, Raw, Server, ALL, W};
use std::time::Duration;

const DELETE_CONTAINER: i32 = 20;
const SASL: i32 = 102;

/// A server with `/secret` and `/secret/leaf` readable by alice alone,
/// and the open `/open`; the connection that made them (as alice).
fn protected_tree() -> (Server, Raw) {
    protected_tree_on(Server::start())
}

fn protected_tree_on(srv: Server) -> (Server, Raw) {
    let mut owner = Raw::connect(&srv.addr());
    let r = owner.call(op::AUTH, &body::auth("digest", b"alice:secret"));
    assert_eq!(r.err, 0);
    let alice = common::digest("alice:secret");
    let acl = [(ALL, "digest", alice.as_str())];
    for p in ["/secret", "/secret/leaf"] {
        let r = owner.call(op::CREATE, &body::create(p, b"s", &acl, 0));
        assert_eq!(r.err, 0, "create {p}");
    }
    owner.create("/open", b"o", 0);
    (srv, owner)
}

/// Item 1: an anonymous client's deleteContainer (opcode 20) with a raw
/// path deleted any childless node, ACL or not. ZooKeeper answers
/// BadArguments whatever the body, and keeps the node.
#[test]
fn delete_container_from_a_client_is_refused_and_deletes_nothing() {
    let (srv, mut owner) = protected_tree();
    let mut anon = Raw::connect(&srv.addr());
    for (what, b) in [
        ("raw path, protected", b"/secret/leaf".to_vec()),
        ("jute path, protected", body::path("/secret/leaf")),
        ("raw path, open", b"/open".to_vec()),
        ("empty", vec![]),
    ] {
        let r = anon.call(DELETE_CONTAINER, &b);
        assert_eq!(r.err, err::BAD_ARGUMENTS, "deleteContainer, {what}");
    }
    assert!(
        owner.exists("/secret/leaf", false).is_some(),
        "/secret/leaf deleted"
    );
    assert!(owner.exists("/open", false).is_some(), "/open deleted");
    // The owner cannot use it either: it is the container manager's alone.
    let r = owner.call(DELETE_CONTAINER, b"/secret/leaf");
    assert_eq!(r.err, err::BAD_ARGUMENTS);
    assert!(owner.exists("/secret/leaf", false).is_some());
}

/// Item 4 (CVE-2024-23944): an anonymous persistent recursive watch on `/`
/// was told NodeCreated and NodeDataChanged for paths under a node that
/// denies it READ. Standard and child watches, and setWatches2, too.
#[test]
fn watches_tell_only_what_the_watcher_may_read() {
    let (srv, mut owner) = protected_tree();
    let mut anon = Raw::connect(&srv.addr());
    // addWatch("/", PERSISTENT_RECURSIVE), an exists watch on a protected
    // node, and a child watch it may register on the open node.
    let r = anon.call(op::ADD_WATCH, &body::path_int("/", 1));
    assert_eq!(r.err, 0);
    assert!(anon.exists("/secret/leaf", true).is_some());
    anon.sync();
    anon.events.clear();

    let alice = common::digest("alice:secret");
    let acl = [(ALL, "digest", alice.as_str())];
    let r = owner.call(
        op::CREATE,
        &body::create("/secret/new-user-bob", b"", &acl, 0),
    );
    assert_eq!(r.err, 0);
    owner.set_data("/secret/leaf", b"changed", -1).unwrap();
    assert_eq!(owner.delete("/secret/new-user-bob", -1), 0);
    // A change the anonymous client may see, as the marker that every
    // event before it has been delivered.
    owner.set_data("/open", b"o2", -1).unwrap();
    let mut seen = Vec::new();
    while let Some(e) = anon.event(Duration::from_secs(5)) {
        let last = e.path == "/open";
        seen.push((e.kind, e.path));
        if last {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![(3, "/open".to_string())],
        "events leaked to a client without READ"
    );

    // setWatches2 after a reconnect re-registers the recursive watch: what
    // it sees from then on is checked too. (Missed changes of the paths a
    // client names itself are told READ or not, in ZooKeeper too: exists()
    // shows the same stat without a check.)
    let mut late = Raw::connect(&srv.addr());
    let zero = W::new().int(0).bytes();
    let sw = W::new()
        .long(owner.last_zxid)
        .raw(&zero)
        .raw(&zero)
        .raw(&zero)
        .raw(&zero)
        .strings(&["/"])
        .bytes();
    let r = late.call(op::SET_WATCHES2, &sw);
    assert_eq!(r.err, 0);
    owner.set_data("/secret/leaf", b"again", -1).unwrap();
    owner.set_data("/open", b"o3", -1).unwrap();
    let e = late.event(Duration::from_secs(5)).map(|e| (e.kind, e.path));
    assert_eq!(
        e,
        Some((3, "/open".to_string())),
        "a re-registered recursive watch was told of a protected change"
    );
}

/// Item 7: each addauth re-sorted every auth id the connection held, so
/// 8,000 pipelined addauths stalled the shard for seconds. A connection
/// now holds at most `corral.maxAuthIdsPerConnection` ids: past it the
/// addauth fails with AuthFailed and the connection closes, while other
/// clients are served. (ZooKeeper has no such bound.)
#[test]
fn addauth_flood_is_bounded() {
    if common::against_reference() {
        return;
    }
    let srv = Server::opts()
        .jvm("-Dcorral.maxAuthIdsPerConnection=16")
        .start();
    let mut flood = Raw::connect(&srv.addr());
    let n = 8_000;
    let mut frames = Vec::new();
    for i in 0..n {
        let mut p = W::new().int(i + 1).int(op::AUTH).bytes();
        p.extend_from_slice(&body::auth("digest", format!("u{i}:p").as_bytes()));
        frames.extend_from_slice(&(p.len() as i32).to_be_bytes());
        frames.extend_from_slice(&p);
    }
    use std::io::Write;
    // The server may close before all is sent.
    let _ = flood.stream.write_all(&frames);
    let mut ok = 0;
    let mut failed = None;
    while let Ok(r) = flood.recv() {
        if r.err == 0 {
            ok += 1;
        } else {
            failed = Some(r.err);
            break;
        }
    }
    // 15 digest ids besides the connection's ip id.
    assert_eq!(ok, 15, "addauths accepted");
    assert_eq!(failed, Some(err::AUTH_FAILED));
    assert!(
        common::closed_by_peer(&mut flood.stream, Duration::from_secs(5)),
        "the flooding connection stays open"
    );
    let mut other = Raw::connect(&srv.addr());
    other.ping();
    assert!(srv.log_text().contains("corral.maxAuthIdsPerConnection"));
}

/// With `zookeeper.enableEagerACLCheck`, a refused write was answered the
/// moment it was read, ahead of the connection's earlier writes still in
/// the pipeline: the client saw its replies out of xid order (ZooKeeper's
/// Java client then drops the connection). It is answered in its turn.
#[test]
fn eager_acl_refusals_are_answered_in_pipeline_order() {
    let srv = Server::opts()
        .jvm("-Dzookeeper.enableEagerACLCheck=true")
        .start();
    let (_srv, _owner) = protected_tree_on(srv);
    let mut anon = Raw::connect(&_srv.addr());
    let steps: Vec<(i32, Vec<u8>, i32)> = vec![
        (
            op::CREATE,
            body::create("/open/a", b"", common::OPEN, 0),
            err::OK,
        ),
        (
            op::CREATE,
            body::create("/secret/x", b"", common::OPEN, 0),
            err::NO_AUTH,
        ),
        (
            op::CREATE,
            body::create("/open/b", b"", common::OPEN, 0),
            err::OK,
        ),
        (
            op::SET_DATA,
            body::set_data("/secret", b"x", -1),
            err::NO_AUTH,
        ),
        (
            op::DELETE,
            body::path_version("/secret/leaf", -1),
            err::NO_AUTH,
        ),
    ];
    let mut frames = Vec::new();
    for (i, (opcode, b, _)) in steps.iter().enumerate() {
        let mut p = W::new().int(i as i32 + 1).int(*opcode).bytes();
        p.extend_from_slice(b);
        frames.extend_from_slice(&(p.len() as i32).to_be_bytes());
        frames.extend_from_slice(&p);
    }
    use std::io::Write;
    anon.stream.write_all(&frames).expect("send the pipeline");
    for (i, (_, _, want)) in steps.iter().enumerate() {
        let r = anon.recv().expect("a reply");
        assert_eq!(r.xid, i as i32 + 1, "reply {i} out of order");
        assert_eq!(r.err, *want, "reply to xid {}", i + 1);
    }
    assert!(anon.exists("/open/b", false).is_some());
}

/// Item 10: answers that differed from ZooKeeper's.
#[test]
fn malformed_bodies_are_answered_as_zookeeper_answers_them() {
    let (srv, mut owner) = protected_tree();
    let mut c = Raw::connect(&srv.addr());
    // reconfig with an empty body: MarshallingError, not ReconfigDisabled.
    assert_eq!(c.call(op::RECONFIG, &[]).err, err::MARSHALLING);
    // getData, exists, getChildren with a null path: MarshallingError,
    // not the root.
    let null_path = W::new().int(-1).boolean(false).bytes();
    for opcode in [
        op::GET_DATA,
        op::EXISTS,
        op::GET_CHILDREN,
        op::GET_CHILDREN2,
    ] {
        let r = c.call(opcode, &null_path);
        assert_eq!(r.err, err::MARSHALLING, "op {opcode} with a null path");
    }
    // An ACL list with count -5 is an empty list: InvalidACL.
    let neg_acl = W::new().string("/x").buf(b"").int(-5).int(0).bytes();
    assert_eq!(c.call(op::CREATE, &neg_acl).err, err::INVALID_ACL);
    let neg_set_acl = W::new().string("/open").int(-5).int(-1).bytes();
    assert_eq!(c.call(op::SET_ACL, &neg_set_acl).err, err::INVALID_ACL);
    assert!(owner.exists("/x", false).is_none());
    // A SASL packet with a bad body closes the connection.
    c.send(9, SASL, &[0, 0]);
    assert!(
        common::closed_by_peer(&mut c.stream, Duration::from_secs(5)),
        "a bad SASL body did not close the connection"
    );
}
