//! SASL between servers (`quorum.auth.enableSasl`, `learnerRequireSasl`,
//! `serverRequireSasl`, the `QuorumServer`/`QuorumLearner` JAAS sections,
//! DIGEST-MD5 and Kerberos) in real ensembles on loopback: corral alone,
//! and mixed with ZooKeeper 3.8 both ways round (a ZooKeeper leader with
//! corral followers, a corral leader with a ZooKeeper follower), from one
//! JAAS file that both servers read. The Kerberos tests start a KDC
//! (`tests/krb/kdc.sh`, Debian's krb5-kdc): without it they fail.

mod common;

use common::ensemble::{Ensemble, Kind};
use common::krb::Kdc;
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
    e.replicates(&[0, 1, 2], "sasl");
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
    e.replicates(&[0, 1], "two");
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
    e.replicates(&[0, 1, 2], "upgrade");
}

/// A ZooKeeper 3.8 leader (either ZooKeeper member, whose sids are the
/// larger; two of them, so that no quorum forms without one) authenticates a corral follower,
/// which it can follow only once authenticated; writes through every
/// member replicate.
#[test]
fn corral_follows_a_zookeeper_leader_over_sasl() {
    let mut e = sasl_ensemble(&[Kind::Corral, Kind::ZooKeeper, Kind::ZooKeeper]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(90),
        "ZooKeeper leading, corral following",
        // Either ZooKeeper member: which one depends on when each JVM
        // is up.
        |e| matches!(e.one_leader(&[0, 1, 2]), Some(1 | 2)),
    );
    e.replicates(&[0, 1, 2], "zkleads");
    let zk = e.log_text(e.one_leader(&[0, 1, 2]).unwrap());
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
        |e| matches!(e.one_leader(&[0, 1, 2]), Some(1 | 2)),
    );
    e.replicates(&[0, 1, 2], "corralleads");
    let log = e.log_text(e.one_leader(&[0, 1, 2]).unwrap());
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

    e.replicates(&[0, 1, 2], "after");
    let log = e.log_text(leader);
    assert!(log.contains("not trying to authenticate"), "{log}");
}

// ------------------------------------------------------------- Kerberos

/// An ensemble of `kinds` with quorum SASL by Kerberos, every member
/// requiring it: the servers accept as `zkquorum/localhost` (the default
/// `quorum.auth.kerberos.servicePrincipal`), learners log in as
/// `learner/127.0.0.1` (the host of every `server.N` line), and the
/// `OtherHostLearner` section as `learner/localhost`, a host no
/// `server.N` line names. The `ServiceAtHost` section accepts as
/// `zkquorum/127.0.0.1`. The client port accepts Kerberos too, as
/// `zookeeper/localhost` from another keytab: the quorum's acceptor
/// keytab is its own.
fn krb_ensemble(kdc: &Kdc, kinds: &[Kind]) -> Ensemble {
    let e = Ensemble::new(kinds);
    let jaas = e.dir.path().join("jaas.conf");
    let text = kdc.jaas_section("Server", "zookeeper/localhost")
        + &kdc.jaas_section("QuorumServer", "zkquorum/localhost")
        + &kdc.jaas_section("QuorumLearner", "learner/127.0.0.1")
        + &kdc.jaas_section("OtherHostLearner", "learner/localhost")
        + &kdc.jaas_section("ServiceAtHost", "zkquorum/127.0.0.1");
    std::fs::write(&jaas, text).unwrap();
    e.jvm(&format!(
        "-Djava.security.auth.login.config={}",
        jaas.display()
    ))
    .jvm(&format!(
        "-Djava.security.krb5.conf={}",
        kdc.conf().display()
    ))
    .cfg("quorum.auth.enableSasl", "true")
    .cfg("quorum.auth.learnerRequireSasl", "true")
    .cfg("quorum.auth.serverRequireSasl", "true")
}

const LEARNER: &str = "learner/127.0.0.1@EXAMPLE.COM";

/// Three corral members that require Kerberos of each other elect and
/// replicate; every member authenticated the learner principal.
#[test]
fn a_kerberos_quorum_elects_and_replicates() {
    let kdc = Kdc::start();
    let mut e = krb_ensemble(&kdc, &[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    e.replicates(&[0, 1, 2], "krb");
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    for i in 0..3 {
        let log = e.log_text(i);
        assert!(
            log.contains("quorum SASL GSSAPI (Kerberos) initiator ready")
                // The client port's and the quorum's.
                && log.matches("GSSAPI (Kerberos) acceptor ready").count() == 2,
            "member {} checked its keytabs at start:\n{log}",
            i + 1
        );
        assert!(!log.contains("SASL failed"), "{log}");
        assert!(log.contains("authenticated to the peer with SASL"), "{log}");
    }
    let log = e.log_text(leader);
    assert!(
        log.lines()
            .any(|l| l.contains("a peer authenticated with SASL") && l.contains(LEARNER)),
        "the leader authenticated its learners as {LEARNER}:\n{log}"
    );
}

/// `quorum.auth.kerberos.servicePrincipal=zkquorum/_HOST`: each learner
/// asks for the service at its peer's host from the `server.N` lines
/// (`zkquorum/127.0.0.1` here).
#[test]
fn a_kerberos_service_principal_with_host_pattern_names_each_peer() {
    let kdc = Kdc::start();
    let mut e = krb_ensemble(&kdc, &[Kind::Corral, Kind::Corral, Kind::Corral])
        .cfg("quorum.auth.kerberos.servicePrincipal", "zkquorum/_HOST")
        .cfg("quorum.auth.server.saslLoginContext", "ServiceAtHost");
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    e.replicates(&[0, 1, 2], "krbhost");
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    let log = e.log_text(leader);
    assert!(log.contains("a peer authenticated with SASL"), "{log}");
    assert!(!log.contains("SASL failed"), "{log}");
}

/// A learner whose principal names a host that no `server.N` line has
/// is refused (`authzHosts`); the others keep their quorum.
#[test]
fn a_kerberos_learner_from_an_unlisted_host_does_not_join() {
    let kdc = Kdc::start();
    let mut e = krb_ensemble(&kdc, &[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.member_cfg(
        2,
        "quorum.auth.learner.saslLoginContext",
        "OtherHostLearner",
    );
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "members 1 and 2 forming a quorum",
        |e| e.one_leader(&[0, 1]).is_some(),
    );
    e.replicates(&[0, 1], "krbtwo");
    stays_out(&e, 2, Duration::from_secs(8));
    let logs = e.log_text(0) + &e.log_text(1);
    assert!(
        logs.contains("host localhost is not one of the server.N lines' hosts"),
        "the refusals are logged:\n{logs}"
    );
}

/// A corral member whose learner keytab lacks its principal stops at
/// start, naming the section.
#[test]
fn a_kerberos_learner_without_its_key_stops_at_start() {
    let kdc = Kdc::start();
    let e = Ensemble::new(&[Kind::Corral, Kind::Corral]);
    let jaas = e.dir.path().join("jaas.conf");
    let text = kdc.jaas_section("QuorumServer", "zkquorum/localhost")
        + &kdc
            .jaas_section("QuorumLearner", "learner/127.0.0.1")
            .replace("learner_127.0.0.1.keytab", "bob.keytab");
    std::fs::write(&jaas, text).unwrap();
    let mut e = e
        .jvm(&format!(
            "-Djava.security.auth.login.config={}",
            jaas.display()
        ))
        .jvm(&format!(
            "-Djava.security.krb5.conf={}",
            kdc.conf().display()
        ))
        .cfg("quorum.auth.enableSasl", "true")
        .cfg("quorum.auth.learnerRequireSasl", "true");
    e.start(0);
    let st = e
        .wait_exit(0, Duration::from_secs(20))
        .expect("corral stops at start");
    assert!(!st.success());
    let log = e.log_text(0);
    assert!(
        log.contains("quorum SASL learner section, Kerberos"),
        "{log}"
    );
}

/// A ZooKeeper 3.8 leader authenticates a corral follower by Kerberos
/// (and corral authenticates the ZooKeeper members' election
/// connections); writes replicate.
#[test]
fn corral_follows_a_zookeeper_leader_over_kerberos() {
    let kdc = Kdc::start();
    let mut e = krb_ensemble(&kdc, &[Kind::Corral, Kind::ZooKeeper, Kind::ZooKeeper]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(90),
        "ZooKeeper leading, corral following",
        // Either ZooKeeper member: which one depends on when each JVM
        // is up.
        |e| matches!(e.one_leader(&[0, 1, 2]), Some(1 | 2)),
    );
    e.replicates(&[0, 1, 2], "krbzk");
    let zk = e.log_text(e.one_leader(&[0, 1, 2]).unwrap());
    assert!(
        zk.contains(&format!(
            "authenticationID={LEARNER};  authorizationID={LEARNER}"
        )),
        "ZooKeeper authenticated corral's learner principal:\n{zk}"
    );
    let corral = e.log_text(0);
    assert!(
        corral
            .lines()
            .any(|l| l.contains("a peer authenticated with SASL") && l.contains(LEARNER)),
        "{corral}"
    );
    assert!(!corral.contains("SASL failed"), "{corral}");
}

/// A corral leader authenticates a ZooKeeper 3.8 follower by Kerberos.
#[test]
fn zookeeper_follows_a_corral_leader_over_kerberos() {
    let kdc = Kdc::start();
    let mut e = krb_ensemble(&kdc, &[Kind::ZooKeeper, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(90),
        "corral leading, ZooKeeper following",
        |e| matches!(e.one_leader(&[0, 1, 2]), Some(1 | 2)),
    );
    e.replicates(&[0, 1, 2], "krbcorral");
    let log = e.log_text(e.one_leader(&[0, 1, 2]).unwrap());
    assert!(
        log.lines()
            .any(|l| l.contains("a peer authenticated with SASL") && l.contains(LEARNER)),
        "{log}"
    );
    let zk = e.log_text(0);
    assert!(
        zk.contains("Successfully completed the authentication using SASL"),
        "ZooKeeper authenticated to corral:\n{zk}"
    );
}
