//! SASL between servers (`quorum.auth.enableSasl`, `learnerRequireSasl`,
//! `serverRequireSasl`, the `QuorumServer`/`QuorumLearner` JAAS sections,
//! DIGEST-MD5) in real ensembles on loopback: corral alone, and mixed
//! with ZooKeeper 3.8 both ways round (a ZooKeeper leader with corral
//! followers, a corral leader with a ZooKeeper follower), from one JAAS
//! file that both servers read.

mod common;

use common::ensemble::{Ensemble, Kind};
use common::Raw;
use std::time::{Duration, Instant};

/// The JAAS file: the servers' users, a learner with the right password,
/// and one with a wrong password (`BadLearner`).
const JAAS: &str = r#"
QuorumServer {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_peer="quorum-s3cret";
};
QuorumLearner {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="peer"
    password="quorum-s3cret";
};
BadLearner {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="peer"
    password="wrong";
};
"#;

/// An ensemble of `kinds` with quorum SASL on: every member requires
/// it of its peers and authenticates to them.
fn sasl_ensemble(kinds: &[Kind]) -> Ensemble {
    let e = Ensemble::new(kinds);
    let jaas = e.dir.path().join("jaas.conf");
    std::fs::write(&jaas, JAAS).unwrap();
    e.jvm(&format!(
        "-Djava.security.auth.login.config={}",
        jaas.display()
    ))
    .cfg("quorum.auth.enableSasl", "true")
    .cfg("quorum.auth.learnerRequireSasl", "true")
    .cfg("quorum.auth.serverRequireSasl", "true")
}

fn addr(e: &Ensemble, i: usize) -> String {
    format!("127.0.0.1:{}", e.members[i].client)
}

/// A write through each of `members` is read back on all of them.
fn replicates(e: &Ensemble, members: &[usize], tag: &str) {
    for &i in members {
        let mut c = Raw::connect(&addr(e, i));
        let r = c.create(&format!("/{tag}{i}"), format!("from {i}").as_bytes(), 0);
        assert_eq!(r.err, 0, "create through server {i}");
    }
    for &i in members {
        let mut c = Raw::connect(&addr(e, i));
        c.sync();
        for &j in members {
            let (data, _) = c
                .get_data(&format!("/{tag}{j}"), false)
                .unwrap_or_else(|err| panic!("/{tag}{j} on server {i}: error {err}"));
            assert_eq!(data.as_deref(), Some(format!("from {j}").as_bytes()));
        }
    }
}

/// Member `i` neither leads nor follows for `for_`.
fn stays_out(e: &Ensemble, i: usize, for_: Duration) {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        let m = e.mode(i);
        assert!(
            !matches!(m.as_deref(), Some("follower") | Some("leader")),
            "member {} serves as {m:?}",
            i + 1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Three corral members that require SASL of each other elect and
/// replicate, each link authenticated.
#[test]
fn a_sasl_quorum_elects_and_replicates() {
    let mut e = sasl_ensemble(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    replicates(&e, &[0, 1, 2], "sasl");
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    let log = e.log_text(leader);
    assert!(
        log.contains("a peer authenticated with SASL"),
        "the leader authenticated its peers:\n{log}"
    );
    assert!(!log.contains("SASL failed"), "{log}");
}

/// A member whose password is wrong never joins; the others keep their
/// quorum and log the refusals.
#[test]
fn a_member_with_a_wrong_password_does_not_join() {
    let mut e = sasl_ensemble(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.member_cfg(2, "quorum.auth.learner.saslLoginContext", "BadLearner");
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "members 1 and 2 forming a quorum",
        |e| e.one_leader(&[0, 1]).is_some(),
    );
    replicates(&e, &[0, 1], "two");
    stays_out(&e, 2, Duration::from_secs(8));
    assert!(
        e.one_leader(&[0, 1]).is_some(),
        "members 1 and 2 keep their quorum"
    );
    let logs = e.log_text(0) + &e.log_text(1);
    assert!(
        logs.contains("wrong password"),
        "the refusals are logged:\n{logs}"
    );
}

/// The step of a rolling upgrade to SASL: members that authenticate but
/// do not yet require it let in a member that does not authenticate.
#[test]
fn without_server_require_sasl_a_member_that_does_not_authenticate_joins() {
    let e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    let jaas = e.dir.path().join("jaas.conf");
    std::fs::write(&jaas, JAAS).unwrap();
    let mut e = e
        .jvm(&format!(
            "-Djava.security.auth.login.config={}",
            jaas.display()
        ))
        .cfg("quorum.auth.enableSasl", "true");
    e.member_cfg(1, "quorum.auth.learnerRequireSasl", "true");
    e.member_cfg(2, "quorum.auth.learnerRequireSasl", "true");
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    replicates(&e, &[0, 1, 2], "upgrade");
}

/// A ZooKeeper 3.8 leader (the highest sid; two ZooKeeper members, so
/// that no quorum forms without one) authenticates a corral follower,
/// which it can follow only once authenticated; writes through every
/// member replicate.
#[test]
fn corral_follows_a_zookeeper_leader_over_sasl() {
    let mut e = sasl_ensemble(&[Kind::Corral, Kind::ZooKeeper, Kind::ZooKeeper]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(90),
        "ZooKeeper leading, corral following",
        |e| e.one_leader(&[0, 1, 2]) == Some(2),
    );
    replicates(&e, &[0, 1, 2], "zkleads");
    let zk = e.log_text(2);
    assert!(
        zk.contains("Successfully completed the authentication using SASL"),
        "ZooKeeper authenticated its peers:\n{zk}"
    );
    // The ZooKeeper members (larger sids) keep the election connections
    // they open to corral: corral authenticated them.
    let corral = e.log_text(0);
    assert!(
        corral.contains("a peer authenticated with SASL"),
        "{corral}"
    );
    assert!(!corral.contains("SASL failed"), "{corral}");
}

/// A corral leader authenticates a ZooKeeper 3.8 follower; a ZooKeeper
/// member with a wrong password is kept out.
#[test]
fn zookeeper_follows_a_corral_leader_over_sasl() {
    let mut e = sasl_ensemble(&[Kind::ZooKeeper, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(90),
        "corral leading, ZooKeeper following",
        |e| e.one_leader(&[0, 1, 2]) == Some(2),
    );
    replicates(&e, &[0, 1, 2], "corralleads");
    let log = e.log_text(2);
    assert!(log.contains("a peer authenticated with SASL"), "{log}");
    drop(e);

    let mut e = sasl_ensemble(&[Kind::ZooKeeper, Kind::Corral, Kind::Corral]);
    e.member_cfg(0, "quorum.auth.learner.saslLoginContext", "BadLearner");
    e.start_all();
    e.wait_for(
        Duration::from_secs(90),
        "the corral members forming a quorum",
        |e| e.one_leader(&[1, 2]).is_some(),
    );
    stays_out(&e, 0, Duration::from_secs(8));
    let logs = e.log_text(1) + &e.log_text(2);
    assert!(logs.contains("wrong password"), "{logs}");
}

/// What a stranger on the leader's quorum port gets with
/// `serverRequireSasl`: a huge token length, a garbage response, and a
/// FOLLOWERINFO without authentication each end the connection (the
/// garbage after an ERROR packet), and the ensemble serves on.
#[test]
fn a_stranger_on_the_quorum_port_gets_nowhere() {
    use std::io::{Read, Write};
    let mut e = sasl_ensemble(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    let port = e.members[leader].quorum;
    let magic: [u8; 8] = [0x5F, 0x24, 0x35, 0x01, 0x35, 0x01, 0xED, 0xCC];
    let packet = |status: i32, token: &[u8]| {
        let mut b = magic.to_vec();
        b.extend_from_slice(&status.to_be_bytes());
        b.extend_from_slice(&(token.len() as i32).to_be_bytes());
        b.extend_from_slice(token);
        b
    };
    let connect = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Reads until the server closes; what it sent.
    let until_closed = |s: &mut std::net::TcpStream| {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("the server kept the connection open ({e}); got {got:?}"),
            }
        }
    };

    // A token length of 1 GB: closed without an answer.
    let mut s = connect();
    let mut huge = magic.to_vec();
    huge.extend_from_slice(&0i32.to_be_bytes());
    huge.extend_from_slice(&1_000_000_000i32.to_be_bytes());
    s.write_all(&huge).unwrap();
    assert_eq!(until_closed(&mut s), Vec::<u8>::new());

    // A challenge, then garbage: an ERROR packet, then closed.
    let mut s = connect();
    s.write_all(&packet(0, b"")).unwrap();
    let mut head = [0u8; 16];
    s.read_exact(&mut head).unwrap();
    assert_eq!(
        &head[..12],
        &[&magic[..], &0i32.to_be_bytes()[..]].concat()[..]
    );
    let len = i32::from_be_bytes(head[12..16].try_into().unwrap()) as usize;
    let mut challenge = vec![0u8; len];
    s.read_exact(&mut challenge).unwrap();
    assert!(
        String::from_utf8_lossy(&challenge).contains("zk-quorum-sasl-md5"),
        "{challenge:?}"
    );
    s.write_all(&packet(0, b"username=\"peer\",garbage"))
        .unwrap();
    let rest = until_closed(&mut s);
    assert_eq!(rest, packet(-1, b""), "an ERROR packet with an empty token");

    // A FOLLOWERINFO (type 11) with no authentication first: closed.
    let mut s = connect();
    let mut info = Vec::new();
    info.extend_from_slice(&11i32.to_be_bytes());
    info.extend_from_slice(&0i64.to_be_bytes());
    info.extend_from_slice(&(-1i32).to_be_bytes());
    info.extend_from_slice(&(-1i32).to_be_bytes());
    s.write_all(&info).unwrap();
    assert_eq!(until_closed(&mut s), Vec::<u8>::new());

    replicates(&e, &[0, 1, 2], "after");
    let log = e.log_text(leader);
    assert!(log.contains("not trying to authenticate"), "{log}");
}
