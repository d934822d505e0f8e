//! TLS between servers (`sslQuorum`, `portUnification`,
//! `sslQuorumReloadCertFiles`, the `ssl.quorum.*` keys) in real corral
//! ensembles on loopback, with stores made by `tests/tls/make-stores.sh`
//! (keytool and openssl, as an operator makes them for ZooKeeper).

mod common;

use common::ensemble::{Ensemble, Kind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The stores, made once for the whole binary.
fn stores() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("corral-qtls-stores-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/make-stores.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(&dir)
            .output()
            .expect("run make-stores.sh");
        assert!(
            out.status.success(),
            "make-stores.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// A 3-member corral ensemble with TLS between servers: member `i` uses
/// the key store `keys[i]`; every member trusts the test CA.
fn tls_ensemble(keys: [&str; 3]) -> Ensemble {
    let s = stores();
    let mut e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral])
        .cfg("sslQuorum", "true")
        .cfg(
            "ssl.quorum.trustStore.location",
            &s.join("truststore.jks").display().to_string(),
        )
        .cfg("ssl.quorum.trustStore.password", "storepw")
        .cfg("ssl.quorum.keyStore.password", "storepw");
    for (i, k) in keys.iter().enumerate() {
        e.member_cfg(
            i,
            "ssl.quorum.keyStore.location",
            &s.join(k).display().to_string(),
        );
    }
    e
}

/// A plain connection to a TLS-only peer port gets nothing back and is
/// closed.
fn refuses_plain(port: u16) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // An election initial message, in plain text (protocol -65536, sid 9).
    let mut m = Vec::new();
    m.extend_from_slice(&(-65536i64).to_be_bytes());
    m.extend_from_slice(&9i64.to_be_bytes());
    let a = b"127.0.0.1:1";
    m.extend_from_slice(&(a.len() as i32).to_be_bytes());
    m.extend_from_slice(a);
    let _ = s.write_all(&m);
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => {}
        // A TLS alert record (0x15) is a refusal too.
        Ok(_) if buf[0] == 0x15 => {}
        Ok(n) => panic!("a plain peer got {n} bytes back: {:?}", &buf[..n]),
    }
}

/// Three members with TLS between them (JKS, PKCS12, and a PEM
/// certificate with only CN=localhost and no SAN, as ZooKeeper's own
/// recipe makes them: its name is found by reverse DNS of 127.0.0.1)
/// elect a leader and replicate writes; their peer ports refuse plain
/// text.
#[test]
fn a_tls_quorum_elects_and_replicates() {
    let mut e = tls_ensemble(["server.jks", "server.p12", "peer-cn.pem"]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    assert_eq!(e.members[leader].sid, 3, "the highest sid leads");
    e.replicates(&[0, 1, 2], "tls");
    refuses_plain(e.members[0].election);
    refuses_plain(e.members[leader].quorum);
    // Still a quorum after that.
    e.replicates(&[0, 1, 2], "again");
}

/// A member whose certificate comes from a CA the others do not trust
/// never joins: the other two keep a quorum, and it never follows.
#[test]
fn a_member_with_an_untrusted_certificate_does_not_join() {
    let mut e = tls_ensemble(["server.p12", "server.jks", "peer-stranger.p12"]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "members 1 and 2 forming a quorum",
        |e| e.one_leader(&[0, 1]).is_some(),
    );
    e.replicates(&[0, 1], "two");
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let m = e.mode(2);
        assert!(
            !matches!(m.as_deref(), Some("follower") | Some("leader")),
            "the untrusted member serves as {m:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        e.one_leader(&[0, 1]).is_some(),
        "members 1 and 2 keep their quorum"
    );
    let logs = e.log_text(0) + &e.log_text(1);
    assert!(
        logs.contains("TLS failed"),
        "the refusals are logged:\n{logs}"
    );
}

/// A certificate that does not name the peer's address is refused; with
/// `ssl.quorum.hostnameVerification=false` the same certificate is taken
/// (its chain is still checked).
#[test]
fn a_certificate_naming_another_host_is_refused_unless_names_are_not_checked() {
    let mut e = tls_ensemble(["server.p12", "server.p12", "peer-wrongip.p12"]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "members 1 and 2 forming a quorum",
        |e| e.one_leader(&[0, 1]).is_some(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !matches!(e.mode(2).as_deref(), Some("follower") | Some("leader")),
        "the misnamed member joined"
    );
    drop(e);
    let mut e = tls_ensemble(["server.p12", "server.p12", "peer-wrongip.p12"])
        .cfg("ssl.quorum.hostnameVerification", "false");
    e.start_all();
    e.wait_for(Duration::from_secs(60), "all three in one quorum", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
}

/// Port unification: a member that still connects in plain text
/// (`portUnification=true`, no `sslQuorum`) and two that connect with TLS
/// form one ensemble, the step of a rolling upgrade to TLS.
#[test]
fn port_unification_lets_plain_and_tls_members_share_an_ensemble() {
    let mut e =
        tls_ensemble(["server.p12", "server.p12", "server.jks"]).cfg("portUnification", "true");
    e.member_cfg(0, "sslQuorum", "false");
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    e.replicates(&[0, 1, 2], "mixed");
    let log = e.log_text(0);
    assert!(!log.contains("TLS failed"), "member 1:\n{log}");
}

/// `sslQuorumReloadCertFiles`: a member started with an untrusted
/// certificate joins once its key store file is replaced by a good one,
/// without a restart.
#[test]
fn a_rotated_key_store_reaches_new_quorum_connections() {
    let mut e = tls_ensemble(["server.p12", "server.p12", "server.p12"])
        .cfg("sslQuorumReloadCertFiles", "true");
    let own = e.member_dir(2).join("rotating.p12");
    std::fs::create_dir_all(e.member_dir(2)).unwrap();
    std::fs::copy(stores().join("peer-stranger.p12"), &own).unwrap();
    e.member_cfg(
        2,
        "ssl.quorum.keyStore.location",
        &own.display().to_string(),
    );
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "members 1 and 2 forming a quorum",
        |e| e.one_leader(&[0, 1]).is_some(),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !matches!(e.mode(2).as_deref(), Some("follower") | Some("leader")),
        "the untrusted member joined"
    );
    // Replaced the way an operator does: a new file moved over the old.
    let tmp = e.member_dir(2).join("rotating.p12.new");
    std::fs::copy(stores().join("server.p12"), &tmp).unwrap();
    std::fs::rename(&tmp, &own).unwrap();
    e.wait_for(
        Duration::from_secs(60),
        "the member joining after the rotation",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    e.replicates(&[0, 1, 2], "rotated");
}
