//! Ensembles on loopback: corral quorum peers with each other and with
//! Debian's ZooKeeper 3.8.

mod common;

use common::ensemble::{same_on_both, Ensemble, Kind, Multi};
use common::{Connect, Raw};
use std::time::Duration;

/// The harness's baseline: three ZooKeeper 3.8 peers elect exactly one
/// leader, and the other two follow it.
#[test]
fn reference_ensemble_elects_one_leader() {
    let mut e = Ensemble::new(&[Kind::ZooKeeper, Kind::ZooKeeper, Kind::ZooKeeper]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(60),
        "one leader and two followers",
        |e| {
            let modes: Vec<Option<String>> = (0..3).map(|i| e.mode(i)).collect();
            modes
                .iter()
                .filter(|m| m.as_deref() == Some("leader"))
                .count()
                == 1
                && modes
                    .iter()
                    .filter(|m| m.as_deref() == Some("follower"))
                    .count()
                    == 2
        },
    );
}

fn modes(e: &Ensemble) -> Vec<Option<String>> {
    (0..e.members.len()).map(|i| e.mode(i)).collect()
}
/// Three corral peers elect a leader, serve clients on every server, and
/// a write through any of them is readable on all; a session moves
/// between servers with its ephemeral node.
#[test]
fn corral_ensemble_elects_serves_and_replicates() {
    let mut e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(
        Duration::from_secs(30),
        "one leader and two followers",
        |e| e.one_leader(&[0, 1, 2]).is_some(),
    );
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    assert_eq!(
        e.members[leader].sid,
        3,
        "fresh peers elect the highest sid: {:?}",
        modes(&e)
    );
    let addr = |i: usize| format!("127.0.0.1:{}", e.members[i].client);
    // Writes through each server.
    for i in 0..3 {
        let mut c = Raw::connect(&addr(i));
        let r = c.create(&format!("/via{i}"), format!("from {i}").as_bytes(), 0);
        assert_eq!(r.err, 0, "create through server {i}");
    }
    // Every server has every write (after a sync, as ZooKeeper promises).
    for i in 0..3 {
        let mut c = Raw::connect(&addr(i));
        c.sync();
        for j in 0..3 {
            let (data, _) = c
                .get_data(&format!("/via{j}"), false)
                .unwrap_or_else(|err| panic!("/via{j} on server {i}: error {err}"));
            assert_eq!(data.as_deref(), Some(format!("from {j}").as_bytes()));
        }
    }
    // A session moves from one follower to another with its ephemeral.
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let (mut a, connected) = Raw::connect_with(&addr(followers[0]), &Connect::default()).unwrap();
    assert_eq!(a.create("/eph", b"", 1).err, 0);
    let again = Connect {
        session: connected.session,
        passwd: connected.passwd.clone(),
        ..Connect::default()
    };
    let (mut b, moved) = Raw::connect_with(&addr(followers[1]), &again).unwrap();
    assert_eq!(moved.session, connected.session, "the session moved");
    let stat = b.exists("/eph", false).expect("the ephemeral lives on");
    assert_eq!(stat.ephemeral_owner, connected.session);
    // Closing it there deletes the ephemeral everywhere.
    b.close_session();
    let mut c = Raw::connect(&addr(leader));
    c.sync();
    assert!(c.exists("/eph", false).is_none());
}

/// One create through `addr` on a fresh session, without panicking: the
/// zxid it got, or why not.
fn try_create(addr: &str, path: &str, data: &[u8]) -> Result<i64, String> {
    let (mut raw, c) = Raw::connect_with(addr, &Connect::default()).map_err(|e| e.to_string())?;
    if c.session == 0 {
        return Err("session refused".into());
    }
    let mut p = common::W::new().int(1).int(common::op::CREATE).bytes();
    p.extend_from_slice(&common::body::create(path, data, common::OPEN, 0));
    common::write_frame(&mut raw.stream, &p).map_err(|e| e.to_string())?;
    let r = raw.recv().map_err(|e| e.to_string())?;
    match r.err {
        0 => Ok(r.zxid),
        e => Err(format!("error {e}")),
    }
}

/// kill -9 the leader of three corral peers: the two survivors elect a
/// new one, writes succeed again, and every acknowledged write is on every
/// server, the old leader too once it is back.
#[test]
fn corral_ensemble_fails_over_when_the_leader_is_killed() {
    let mut e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral]);
    e.start_all();
    e.wait_for(Duration::from_secs(30), "a leader", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    let addr = |e: &Ensemble, i: usize| format!("127.0.0.1:{}", e.members[i].client);
    let mut acked: Vec<String> = Vec::new();
    for round in 0..3 {
        let leader = e.one_leader(&[0, 1, 2]).expect("a leader");
        let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
        for k in 0..20 {
            let p = format!("/r{round}-{k}");
            try_create(&addr(&e, others[k % 2]), &p, b"v")
                .unwrap_or_else(|err| panic!("{p}: {err}"));
            acked.push(p);
        }
        e.kill9(leader);
        let killed = std::time::Instant::now();
        let mut first_ok = None;
        let mut n = 0;
        while first_ok.is_none() {
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "no write succeeded after the kill"
            );
            let p = format!("/after{round}-{n}");
            n += 1;
            if try_create(&addr(&e, others[n % 2]), &p, b"v").is_ok() {
                first_ok = Some(killed.elapsed());
                acked.push(p);
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        eprintln!("round {round}: kill to first write {:?}", first_ok.unwrap());
        e.start(leader);
        e.wait_for(
            Duration::from_secs(30),
            "the old leader back as a follower",
            |e| e.one_leader(&[0, 1, 2]).is_some(),
        );
    }
    for i in 0..3 {
        let mut c = Raw::connect(&addr(&e, i));
        c.sync();
        for p in &acked {
            assert!(
                c.exists(p, false).is_some(),
                "{p} missing on server {}",
                e.members[i].sid
            );
        }
    }
}

/// Writes through every server of a mixed ensemble, then checks that each
/// server has every write.
fn writes_reach_every_server(e: &Ensemble, tag: &str) {
    let addr = |i: usize| format!("127.0.0.1:{}", e.members[i].client);
    let n = e.members.len();
    for i in 0..n {
        let p = format!("/{tag}{i}");
        try_create(&addr(i), &p, format!("via {i}").as_bytes())
            .unwrap_or_else(|err| panic!("{p} through server {}: {err}", e.members[i].sid));
    }
    for i in 0..n {
        let mut c = Raw::connect(&addr(i));
        c.sync();
        for j in 0..n {
            let (data, _) = c
                .get_data(&format!("/{tag}{j}"), false)
                .unwrap_or_else(|err| {
                    panic!("/{tag}{j} on server {}: error {err}", e.members[i].sid)
                });
            assert_eq!(data.as_deref(), Some(format!("via {j}").as_bytes()));
        }
    }
}

/// One corral peer with two ZooKeeper 3.8 peers: ZooKeeper leads, corral
/// follows it; then the reverse, two ZooKeeper peers follow a corral leader.
#[test]
fn corral_and_zookeeper_share_an_ensemble_either_way() {
    // sid 3 (the highest), up before the others, wins a fresh election.
    for kinds in [
        [Kind::Corral, Kind::ZooKeeper, Kind::ZooKeeper],
        [Kind::ZooKeeper, Kind::ZooKeeper, Kind::Corral],
    ] {
        let mut e = Ensemble::new(&kinds);
        e.start_all_after(2);
        e.wait_for(
            Duration::from_secs(60),
            "one leader and two followers",
            |e| e.one_leader(&[0, 1, 2]).is_some(),
        );
        assert_eq!(
            e.one_leader(&[0, 1, 2]),
            Some(2),
            "{kinds:?}: {:?}",
            modes(&e)
        );
        writes_reach_every_server(&e, "mixed");
    }
}

/// `multiAddress.enabled=true`: every zoo.cfg lists, for each other
/// member, an address nobody listens on first and a live one second. The
/// members still elect, sync and replicate, and fail over when the leader
/// is killed, because a dial falls through to the next address (election
/// connections in turn, a learner's to its leader all at once). With one
/// address tried, as before, no member could reach another.
#[test]
fn servers_with_several_addresses_fall_through_to_one_that_answers() {
    let e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral])
        .with_multi_address(Multi::DeadFirst);
    serves_through_a_leader_failover(e, Duration::from_secs(30));
}

/// A mixed ensemble with two addresses a server: ZooKeeper 3.8 members
/// and corral members exchange the V2 initial message (every election
/// address) and sync over either address, before and after the leader
/// is killed.
#[test]
fn corral_and_zookeeper_share_an_ensemble_with_several_addresses_a_server() {
    let e = Ensemble::new(&[Kind::Corral, Kind::ZooKeeper, Kind::Corral])
        .with_multi_address(Multi::Both);
    serves_through_a_leader_failover(e, Duration::from_secs(60));
}

/// Starts the three members of `e`: they elect and replicate; with the
/// leader killed, the other two elect and replicate; the old leader comes
/// back as a follower and all three replicate. Each wait is `within`.
fn serves_through_a_leader_failover(mut e: Ensemble, within: Duration) {
    e.start_all();
    e.wait_for(within, "a leader and two followers", |e| {
        e.one_leader(&[0, 1, 2]).is_some() && e.in_mode(&[0, 1, 2], "follower").len() == 2
    });
    e.replicates(&[0, 1, 2], "multi");
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    e.kill9(leader);
    e.wait_for(within, "a new leader", |e| e.one_leader(&others).is_some());
    e.replicates(&others, "after");
    e.start(leader);
    e.wait_for(within, "the old leader following", |e| {
        e.one_leader(&[0, 1, 2]).is_some_and(|l| l != leader)
            && e.in_mode(&[leader], "follower") == vec![leader]
    });
    e.replicates(&[0, 1, 2], "back");
}

/// `localSessionsEnabled=true`, without and with upgrading, on three
/// corral peers and on three ZooKeeper 3.8 peers, compared step by step.
/// Without upgrading, a session lives on the server it was made on: it
/// writes persistent nodes through the leader, is refused an ephemeral
/// (EphemeralOnLocalSession, -120) there and on the leader, resumes on its
/// own server but not on another, and is gone once closed. With upgrading,
/// an ephemeral create makes it global: another server sees the node owned
/// by it, the session resumes there, and closing it deletes the node.
/// Mixed ensembles give the same answers: a local session on a ZooKeeper
/// follower of a corral leader, and on a corral follower of a ZooKeeper
/// leader.
#[test]
fn local_sessions_behave_as_in_zookeeper() {
    let run = |kinds: [Kind; 3]| -> Vec<String> {
        let mut seen = Vec::new();
        for upgrading in [false, true] {
            let mut e = Ensemble::new(&kinds)
                .cfg("localSessionsEnabled", "true")
                .cfg("localSessionsUpgradingEnabled", &upgrading.to_string());
            e.start_all();
            e.wait_for(Duration::from_secs(60), "a leader and two followers", |e| {
                e.one_leader(&[0, 1, 2]).is_some() && e.in_mode(&[0, 1, 2], "follower").len() == 2
            });
            let leader = e.one_leader(&[0, 1, 2]).unwrap();
            // The session's server first: member 0 unless it leads.
            let f: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
            let (mut a, first) =
                Raw::connect_with(&e.client_addr(f[0]), &Connect::default()).unwrap();
            let again = Connect {
                session: first.session,
                passwd: first.passwd.clone(),
                ..Connect::default()
            };
            let resumes = |i: usize| {
                let (_, c) = Raw::connect_with(&e.client_addr(i), &again).unwrap();
                if c.session == first.session {
                    "resumes"
                } else {
                    "expired"
                }
            };
            let tag = format!("upgrading={upgrading}");
            seen.push(format!(
                "{tag}: persistent: {}",
                a.create("/p", b"v", 0).err
            ));
            seen.push(format!("{tag}: ephemeral: {}", a.create("/e", b"v", 1).err));
            let mut b = Raw::connect(&e.client_addr(f[1]));
            b.sync();
            seen.push(format!(
                "{tag}: /p elsewhere: {:?}; /e owned by it: {:?}",
                b.exists("/p", false).is_some(),
                b.exists("/e", false)
                    .map(|s| s.ephemeral_owner == first.session)
            ));
            seen.push(format!("{tag}: on another server: {}", resumes(f[1])));
            seen.push(format!("{tag}: on its own server: {}", resumes(f[0])));
            let (mut c, _) = Raw::connect_with(&e.client_addr(f[0]), &again).unwrap();
            c.close_session();
            seen.push(format!("{tag}: after close: {}", resumes(f[0])));
            b.sync();
            seen.push(format!(
                "{tag}: /e after close: {:?}",
                b.exists("/e", false).is_some()
            ));
            let (mut l, _) =
                Raw::connect_with(&e.client_addr(leader), &Connect::default()).unwrap();
            seen.push(format!(
                "{tag}: ephemeral on the leader: {}",
                l.create("/l", b"v", 1).err
            ));
            // Its server expires a local session left without a client.
            if !upgrading {
                let short = Connect {
                    timeout: 1_000,
                    ..Connect::default()
                };
                let (gone, c) = Raw::connect_with(&e.client_addr(f[0]), &short).unwrap();
                drop(gone);
                std::thread::sleep(Duration::from_millis(3_000));
                let back = Connect {
                    session: c.session,
                    passwd: c.passwd.clone(),
                    ..short
                };
                let (_, r) = Raw::connect_with(&e.client_addr(f[0]), &back).unwrap();
                seen.push(format!(
                    "{tag}: left for 3 s: {}",
                    if r.session == c.session {
                        "resumes"
                    } else {
                        "expired"
                    }
                ));
            }
        }
        seen
    };
    let corral = same_on_both(|k| run([k; 3]));
    assert!(
        corral.contains(&"upgrading=false: left for 3 s: expired".to_string()),
        "{corral:?}"
    );
    // sid 3 leads a fresh ensemble; the session is made on member 0.
    use Kind::{Corral, ZooKeeper};
    for kinds in [[ZooKeeper, Corral, Corral], [Corral, Corral, ZooKeeper]] {
        assert_eq!(run(kinds), corral, "{kinds:?}");
    }
    assert!(
        corral.contains(&"upgrading=false: ephemeral: -120".to_string()),
        "{corral:?}"
    );
    assert!(
        corral.contains(&"upgrading=true: ephemeral: 0".to_string()),
        "{corral:?}"
    );
}

/// An observer serves reads and forwards writes, and does not vote: with
/// two of the three participants gone there is no quorum, and a write
/// through the observer is not acknowledged.
#[test]
fn an_observer_serves_forwards_and_does_not_vote() {
    let mut e = Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral, Kind::Corral]);
    e.members[3].observer = true;
    e.start_all();
    e.wait_for(
        Duration::from_secs(30),
        "a leader, two followers, an observer",
        |e| e.one_leader(&[0, 1, 2]).is_some() && e.mode(3).as_deref() == Some("observer"),
    );
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    assert_eq!(
        e.members[leader].sid, 3,
        "the observer (sid 4) is never elected"
    );
    let obs = format!("127.0.0.1:{}", e.members[3].client);
    try_create(&obs, "/through-observer", b"o").expect("a write through the observer");
    let mut c = Raw::connect(&format!("127.0.0.1:{}", e.members[0].client));
    c.sync();
    let (data, _) = c.get_data("/through-observer", false).expect("replicated");
    assert_eq!(data.as_deref(), Some(&b"o"[..]));
    let mut r = Raw::connect(&obs);
    r.sync();
    assert!(
        r.exists("/through-observer", false).is_some(),
        "the observer reads it"
    );
    // Two participants gone: the observer cannot make a quorum.
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    e.kill9(followers[0]);
    e.kill9(followers[1]);
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        assert!(
            try_create(&obs, "/no-quorum", b"").is_err(),
            "a write was acknowledged without a quorum"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A learner older than a leader's committed log is synced from the
/// leader's txn log on disk (`getProposalsFromTxnLog`), not by a SNAP:
/// a follower misses 300 writes (600 txns with their sessions), the
/// leader restarts (its committed log is then the last 500 txns it
/// replayed) and leads again, and the follower's sync is a DIFF that
/// brings every write. `snapshotSizeFactor=0` lifts the size limit (the
/// preallocated 64 MB log file is far over a third of this small tree's
/// snapshot, so ZooKeeper's default would pick a SNAP too).
#[test]
fn a_restarted_leader_diffs_a_lagging_follower_from_its_txn_log() {
    const MISSED: usize = 300;
    let mut e =
        Ensemble::new(&[Kind::Corral, Kind::Corral, Kind::Corral]).cfg("snapshotSizeFactor", "0");
    e.start_all();
    e.wait_for(Duration::from_secs(30), "sid 3 leading", |e| {
        e.one_leader(&[0, 1, 2]) == Some(2)
    });
    // The follower must hold a txn of the leader's first log file: a log
    // that starts after the learner's zxid cannot serve it ("we cannot
    // guarantee that this is strictly the starting txn"), a SNAP then.
    let leader = format!("127.0.0.1:{}", e.members[2].client);
    try_create(&leader, "/seen", b"s").expect("a write through the leader");
    let mut f = Raw::connect(&format!("127.0.0.1:{}", e.members[0].client));
    f.sync();
    assert!(f.exists("/seen", false).is_some(), "/seen on the follower");
    drop(f);
    e.kill9(0);
    for n in 0..MISSED {
        try_create(&leader, &format!("/missed{n}"), b"m").expect("a write through the leader");
    }
    e.kill9(2);
    let leader_mark = e.log_text(2).len();
    e.start(2);
    e.wait_for(Duration::from_secs(30), "sid 3 leading again", |e| {
        e.one_leader(&[1, 2]) == Some(2)
    });
    let mark = e.log_text(0).len();
    e.start(0);
    e.wait_for(Duration::from_secs(30), "sid 1 following", |e| {
        e.one_leader(&[0, 1, 2]) == Some(2)
    });
    e.synced_by(0, mark, "DIFF");
    assert!(
        e.log_text(2)[leader_mark..]
            .contains("read the txn log for a learner older than the committed log"),
        "the leader did not read its txn log"
    );
    let mut c = Raw::connect(&format!("127.0.0.1:{}", e.members[0].client));
    c.sync();
    for n in 0..MISSED {
        assert!(
            c.exists(&format!("/missed{n}"), false).is_some(),
            "/missed{n} on the follower"
        );
    }
}

/// `leaderServes=no`, on three corral peers and on three ZooKeeper 3.8
/// peers: the leader closes a client's handshake unanswered and answers
/// `srvr` "not currently serving" while `ruok` still says imok; the
/// followers serve, a write through one is read through the other; and
/// after the leader is killed the new leader stops serving too. What each
/// kind does is compared.
#[test]
fn leader_serves_no_leaves_the_clients_to_the_followers() {
    let run = |kind: Kind| -> Vec<String> {
        let mut e = Ensemble::new(&[kind; 3]).cfg("leaderServes", "no");
        e.start_all();
        let mut seen = Vec::new();
        let mut killed = None;
        for round in 0..2 {
            let alive: Vec<usize> = (0..3).filter(|&i| Some(i) != killed).collect();
            // All but one alive member follow, and a write goes through
            // each of them (so none is a follower of a leader that is
            // gone, still saying so): the one left leads.
            let mut leader = None;
            let mut attempt = 0;
            let path = format!("/through-follower-{round}");
            e.wait_for(Duration::from_secs(60), "all but one following", |e| {
                let followers = e.in_mode(&alive, "follower");
                leader = (0..3).find(|i| Some(*i) != killed && !followers.contains(i));
                attempt += 1;
                followers.len() == alive.len() - 1
                    && followers.iter().all(|&f| {
                        try_create(
                            &e.client_addr(f),
                            &format!("/probe-{round}-{attempt}-{f}"),
                            b"",
                        )
                        .is_ok()
                    })
            });
            let leader = leader.expect("a leader");
            let followers: Vec<usize> = alive.iter().copied().filter(|&i| i != leader).collect();
            let srvr = e.four_letter(leader, "srvr");
            seen.push(format!("round {round}: leader srvr: {}", srvr.trim()));
            seen.push(format!(
                "round {round}: leader ruok: {}",
                e.four_letter(leader, "ruok")
            ));
            let handshake = Raw::connect_within(
                &e.client_addr(leader),
                &Connect::default(),
                Duration::from_secs(5),
            );
            seen.push(format!(
                "round {round}: handshake with the leader: {}",
                match handshake {
                    Ok((_, c)) if c.session != 0 => "a session",
                    Ok(_) => "refused",
                    Err(_) => "connection closed",
                }
            ));
            seen.push(format!(
                "round {round}: create through a follower: {}",
                try_create(&e.client_addr(followers[0]), &path, b"f")
                    .map(|_| "ok".to_string())
                    .unwrap_or_else(|e| e)
            ));
            let mut c = Raw::connect(&e.client_addr(*followers.last().unwrap()));
            c.sync();
            seen.push(format!(
                "round {round}: read through the other: {:?}",
                c.get_data(&path, false).map(|(d, _)| d)
            ));
            if round == 0 {
                e.kill9(leader);
                killed = Some(leader);
            }
        }
        seen
    };
    let corral = same_on_both(run);
    assert!(corral[0].contains("not currently serving"), "{corral:?}");
    assert!(corral[2].ends_with("connection closed"), "{corral:?}");
    assert!(corral[3].ends_with(": ok"), "{corral:?}");
}

/// A hierarchical quorum (`group.1=1:2:3`, `weight.3=0`), on three corral
/// peers and on three ZooKeeper 3.8 peers: server 3 weighs nothing, so it
/// never leads and 1 and 2 are both needed. With the leader killed, the
/// other two (a majority of servers, but half the group's weight) take no
/// write; once it is back, writes go through again. What each kind does
/// is compared.
#[test]
fn a_hierarchical_quorum_counts_weights_not_servers() {
    let run = |kind: Kind| -> Vec<String> {
        let mut e = Ensemble::new(&[kind; 3])
            .cfg("group.1", "1:2:3")
            .cfg("weight.3", "0");
        e.start_all();
        let all = [0, 1, 2];
        let mut seen = Vec::new();
        e.wait_for(Duration::from_secs(60), "a leader", |e| {
            e.one_leader(&all).is_some()
        });
        let leader = e.one_leader(&all).unwrap();
        seen.push(format!("server 3 leads: {}", leader == 2));
        seen.push(format!(
            "write through server 3: {:?}",
            try_create(&e.client_addr(2), "/h1", b"").map(|_| ())
        ));
        e.kill9(leader);
        let t = std::time::Instant::now();
        let mut acked = 0;
        while t.elapsed() < Duration::from_secs(4) {
            if try_create(&e.client_addr(2), "/no-quorum", b"").is_ok() {
                acked += 1;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        seen.push(format!("writes acknowledged without the leader: {acked}"));
        e.wait_for(Duration::from_secs(20), "server 3 to stop serving", |e| {
            e.mode(2).is_none()
        });
        e.start(leader);
        e.wait_for(Duration::from_secs(60), "a leader again", |e| {
            e.one_leader(&all).is_some()
        });
        seen.push(format!("server 3 leads: {}", e.one_leader(&all) == Some(2)));
        // The leader's return makes a quorum again: a write goes through
        // within the wait (or the wait fails the test).
        let mut attempt = 0;
        e.wait_for(
            Duration::from_secs(20),
            "a write with the leader back",
            |e| {
                attempt += 1;
                try_create(&e.client_addr(2), &format!("/h2-{attempt}"), b"").is_ok()
            },
        );
        seen
    };
    let corral = same_on_both(run);
    assert_eq!(corral[0], "server 3 leads: false");
    assert_eq!(corral[1], "write through server 3: Ok(())");
    assert_eq!(corral[2], "writes acknowledged without the leader: 0");
    assert_eq!(corral[3], "server 3 leads: false");
}

/// `/zookeeper/config` on every member of a corral and of a ZooKeeper 3.8
/// ensemble (with a hierarchical quorum, so the group and weight lines
/// show too): the quorum config text, version -1, mzxid 0, as
/// `initConfigInZKDatabase` writes it; ports are replaced by names before
/// the two kinds are compared.
#[test]
fn the_config_node_holds_the_quorum_config_as_in_zookeeper() {
    let run = |kind: Kind| -> Vec<String> {
        let mut e = Ensemble::new(&[kind; 3])
            .cfg("group.1", "1:2:3")
            .cfg("weight.3", "2");
        e.start_all();
        e.wait_for(Duration::from_secs(60), "a leader", |e| {
            e.one_leader(&[0, 1, 2]).is_some()
        });
        let mut seen = Vec::new();
        for i in 0..3 {
            let mut c = Raw::connect(&e.client_addr(i));
            c.sync();
            let (data, stat) = c.get_data("/zookeeper/config", false).expect("config node");
            let mut text = String::from_utf8(data.unwrap_or_default()).expect("utf-8");
            for (j, m) in e.members.iter().enumerate() {
                for (name, port) in [
                    ("client", m.client),
                    ("quorum", m.quorum),
                    ("election", m.election),
                ] {
                    text = text.replace(&format!(":{port}"), &format!(":<{name}{j}>"));
                }
            }
            seen.push(format!(
                "member {i}: {text:?} version {} mzxid {} aversion {}",
                stat.version, stat.mzxid, stat.aversion
            ));
        }
        seen
    };
    let corral = same_on_both(run);
    assert!(
        corral[0].contains("group.1=1:2:3\\nweight.1=1\\nweight.2=1\\nweight.3=2\\nversion=0"),
        "{corral:?}"
    );
}

/// `syncEnabled=false` on an observer, on corral and on ZooKeeper 3.8: the
/// observer serves every write, logs none of them (no txn log file in its
/// dataDir), and after a kill -9 it comes back with all of them (synced
/// from the leader). What each kind does is compared.
#[test]
fn an_observer_without_sync_logs_nothing_and_resyncs_after_a_restart() {
    same_on_both(|kind| {
        let mut e = Ensemble::new(&[kind; 4]);
        e.members[3].observer = true;
        e.member_cfg(3, "syncEnabled", "false");
        e.start_all();
        e.wait_for(Duration::from_secs(60), "a leader and an observer", |e| {
            e.one_leader(&[0, 1, 2]).is_some() && e.mode(3).as_deref() == Some("observer")
        });
        let obs = e.client_addr(3);
        for i in 0..20 {
            try_create(&obs, &format!("/nosync-{i}"), b"x").expect("a write through the observer");
        }
        try_create(&e.client_addr(0), "/nosync-last", b"x").expect("a write");
        let mut r = Raw::connect(&obs);
        r.sync();
        let served = r.exists("/nosync-last", false).is_some();
        let logs = |e: &Ensemble| {
            std::fs::read_dir(e.member_dir(3).join("data/version-2"))
                .map(|d| {
                    d.filter_map(|f| f.ok())
                        .filter(|f| f.file_name().to_string_lossy().starts_with("log."))
                        .count()
                })
                .unwrap_or(0)
        };
        let logs_before = logs(&e);
        e.kill9(3);
        e.start(3);
        e.wait_for(Duration::from_secs(60), "the observer back", |e| {
            e.mode(3).as_deref() == Some("observer")
        });
        let mut r = Raw::connect(&obs);
        r.sync();
        let all_back = (0..20).all(|i| r.exists(&format!("/nosync-{i}"), false).is_some())
            && r.exists("/nosync-last", false).is_some();
        vec![
            format!("served: {served}"),
            format!("txn log files: {logs_before}"),
            format!("all back after a restart: {all_back}"),
        ]
    });
}

fn mntr(e: &Ensemble, i: usize, key: &str) -> Option<String> {
    e.four_letter(i, "mntr").lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k == key).then(|| v.to_string())
    })
}

/// The members among `among` that report `n` synced observers.
fn serving_observers(e: &Ensemble, among: &[usize], n: usize) -> Vec<usize> {
    let n = n.to_string();
    among
        .iter()
        .copied()
        .filter(|&i| mntr(e, i, "zk_synced_observers").as_deref() == Some(n.as_str()))
        .collect()
}

/// `observerMasterPort`: an observer syncs from a follower's observer
/// master, never from the leader; its writes and syncs go through that
/// follower; when the follower dies, it moves to the other one.
#[test]
fn an_observer_syncs_from_a_follower_with_observer_master_port() {
    let port = common::free_port().to_string();
    let mut e = Ensemble::new(&[Kind::Corral; 4])
        .with_own_hosts()
        .cfg("observerMasterPort", &port);
    e.members[3].observer = true;
    e.start_all();
    let voters = [0, 1, 2];
    e.wait_for(
        Duration::from_secs(60),
        "the observer in sync through a follower",
        |e| e.mode(3).as_deref() == Some("observer") && serving_observers(e, &voters, 1).len() == 1,
    );
    let leader = e.one_leader(&voters).expect("a leader");
    assert_ne!(
        serving_observers(&e, &voters, 1),
        vec![leader],
        "the leader serves no observer"
    );
    assert_eq!(
        mntr(&e, leader, "zk_synced_observers").as_deref(),
        Some("0")
    );
    e.replicates(&[0, 1, 2, 3], "om");
    // Its sessions live on through the follower's pings: an ephemeral
    // node of a 2 s session, kept alive by pings for 5 s, is still there.
    let mut s = Raw::connect_timeout(&e.client_addr(3), 2000);
    assert_eq!(s.create("/om-eph", b"", 1).err, 0);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(500));
        s.ping();
    }
    let mut l = Raw::connect(&e.client_addr(leader));
    l.sync();
    assert!(
        l.exists("/om-eph", false).is_some(),
        "the observer's session expired on the leader"
    );
    // Behind by more than the committed log: a SNAP from the follower.
    e.kill9(3);
    for n in 0..600 {
        assert_eq!(l.create(&format!("/om-far{n}"), b"x", 0).err, 0);
    }
    let mark = e.log_text(3).len();
    e.start(3);
    e.wait_for(
        Duration::from_secs(60),
        "the observer back in sync through a follower",
        |e| e.mode(3).as_deref() == Some("observer") && serving_observers(e, &voters, 1).len() == 1,
    );
    e.synced_by(3, mark, "SNAP");
    let mut o = Raw::connect(&e.client_addr(3));
    o.sync();
    assert!(o.exists("/om-far599", false).is_some());
    let master = serving_observers(&e, &voters, 1)[0];
    e.kill9(master);
    let other = 3 - leader - master;
    e.wait_for(
        Duration::from_secs(60),
        "the observer in sync through the other follower",
        |e| {
            e.mode(3).as_deref() == Some("observer")
                && serving_observers(e, &[other], 1) == vec![other]
        },
    );
    e.replicates(&[leader, other, 3], "om2");
    // A new leader: the follower of the two left serves the observer
    // (its master port is bound again when it follows anew).
    e.start(master);
    e.wait_for(Duration::from_secs(60), "the old master following", |e| {
        e.mode(master).as_deref() == Some("follower")
    });
    e.kill9(leader);
    let left = [master, other];
    e.wait_for(
        Duration::from_secs(60),
        "a new leader, and the observer in sync through its follower",
        |e| {
            e.one_leader(&left).is_some()
                && e.mode(3).as_deref() == Some("observer")
                && serving_observers(e, &left, 1).len() == 1
        },
    );
    let new_leader = e.one_leader(&left).expect("a leader");
    assert_eq!(
        serving_observers(&e, &left, 1),
        vec![master + other - new_leader]
    );
    e.replicates(&[master, other, 3], "om3");
}

/// Across the wire with ZooKeeper 3.8: a ZooKeeper observer syncs from a
/// corral follower's observer master, and a corral observer from a
/// ZooKeeper follower's. Each voter serves observers on a port of its
/// own, and each observer is given the port of the follower it must use.
#[test]
fn observers_sync_from_followers_of_the_other_kind() {
    use Kind::{Corral as C, ZooKeeper as Z};
    let mut e = Ensemble::new(&[C, Z, C, Z, Z, C]).with_own_hosts();
    e.members[4].observer = true;
    e.members[5].observer = true;
    let voters = [0, 1, 2, 3];
    let ports: Vec<String> = voters
        .iter()
        .map(|_| common::free_port().to_string())
        .collect();
    for &i in &voters {
        e.member_cfg(i, "observerMasterPort", &ports[i]);
    }
    for i in voters {
        e.start(i);
    }
    e.wait_for(
        Duration::from_secs(60),
        "a leader and three followers",
        |e| e.one_leader(&voters).is_some() && e.in_mode(&voters, "follower").len() == 3,
    );
    let followers = e.in_mode(&voters, "follower");
    let of_kind = |k: Kind| {
        *followers
            .iter()
            .find(|&&i| e.members[i].kind == k)
            .expect("a follower of each kind")
    };
    let (corral_master, zk_master) = (of_kind(C), of_kind(Z));
    e.member_cfg(4, "observerMasterPort", &ports[corral_master]);
    e.member_cfg(5, "observerMasterPort", &ports[zk_master]);
    e.start(4);
    e.start(5);
    e.wait_for(
        Duration::from_secs(90),
        "each observer in sync through a follower of the other kind",
        |e| {
            e.in_mode(&[4, 5], "observer").len() == 2
                && serving_observers(e, &[corral_master, zk_master], 1).len() == 2
        },
    );
    let leader = e.one_leader(&voters).expect("a leader");
    assert_eq!(
        mntr(&e, leader, "zk_synced_observers").as_deref(),
        Some("0")
    );
    e.replicates(&[0, 1, 2, 3, 4, 5], "omx");
}

/// Opens `n` connections to `addr` that each send `hello(k)` (or nothing)
/// and then stay silent.
fn idle_connections(
    addr: &str,
    n: usize,
    hello: impl Fn(usize) -> Vec<u8>,
) -> Vec<std::net::TcpStream> {
    use std::io::Write;
    (0..n)
        .map(|k| {
            // A member just started may not listen yet.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let mut s = loop {
                match std::net::TcpStream::connect(addr) {
                    Ok(s) => break s,
                    Err(e) if std::time::Instant::now() < deadline => {
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("connect to {addr}: {e}"),
                }
            };
            s.write_all(&hello(k)).expect("write");
            // Let the server take each in turn: the oldest goes first.
            std::thread::sleep(Duration::from_millis(50));
            s
        })
        .collect()
}

/// `corral.quorum.maxConnections` bounds what strangers can hold open on
/// the election and quorum ports: silent sockets, and sockets that claim a
/// server id no config names, are closed oldest first as newcomers come
/// (long before `cnxTimeout`, which is 60 s here), and a member restarted
/// into the flood still gets back in (it displaces them).
#[test]
fn a_flood_on_the_quorum_ports_is_bounded_and_keeps_no_member_out() {
    let max = 4;
    let mut e = Ensemble::new(&[Kind::Corral; 3])
        .cfg("corral.quorum.maxConnections", &max.to_string())
        .cfg("cnxTimeout", "60000");
    e.start_all_after(2);
    e.wait_for(Duration::from_secs(60), "a leader", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    let leader = e.one_leader(&[0, 1, 2]).expect("a leader");
    assert_eq!(leader, 2);
    // Sid 1's election port holds the connections of sids 2 and 3 (the
    // larger sid's survive); two places are left for strangers. Silent
    // sockets first, then ones that claim unknown sids (the old protocol's
    // initial message: the sid alone).
    let election = format!("127.0.0.1:{}", e.members[0].election);
    let mut flood = idle_connections(&election, 6, |_| Vec::new());
    flood.extend(idle_connections(&election, 6, |k| {
        (1000 + k as i64).to_be_bytes().to_vec()
    }));
    let gone = flood
        .iter_mut()
        .map(|s| common::closed_by_peer(s, Duration::from_secs(10)))
        .filter(|closed| *closed)
        .count();
    assert!(
        gone >= flood.len() - (max - 2),
        "only {gone} of {} strangers on the election port were closed",
        flood.len()
    );
    assert!(
        !common::closed_by_peer(flood.last_mut().expect("one"), Duration::from_millis(100)),
        "the newest stranger keeps its place until the next comes"
    );
    // The leader's quorum port: two followers and two places.
    let quorum = format!("127.0.0.1:{}", e.members[leader].quorum);
    let mut learners = idle_connections(&quorum, 12, |_| Vec::new());
    let gone = learners
        .iter_mut()
        .map(|s| common::closed_by_peer(s, Duration::from_secs(10)))
        .filter(|closed| *closed)
        .count();
    assert!(
        gone >= learners.len() - (max - 2),
        "only {gone} of 12 strangers on the quorum port were closed"
    );
    // With both ports full of strangers, a restarted follower gets back
    // in: its connections displace theirs.
    let flood_election = idle_connections(&election, max, |_| Vec::new());
    let flood_quorum = idle_connections(&quorum, max, |_| Vec::new());
    e.kill9(0);
    e.start(0);
    let flood_election2 = idle_connections(&election, max, |_| Vec::new());
    e.wait_for(Duration::from_secs(60), "sid 1 following again", |e| {
        e.mode(0).as_deref() == Some("follower")
    });
    e.replicates(&[0, 1, 2], "flood");
    drop((
        flood,
        learners,
        flood_election,
        flood_quorum,
        flood_election2,
    ));
}

/// `tcpKeepAlive=true` sets SO_KEEPALIVE on the election connections, as
/// ZooKeeper's `QuorumCnxManager` does: every election socket between the
/// members has the kernel's keepalive timer.
#[test]
fn tcp_keep_alive_turns_keepalive_on_for_election_sockets() {
    let mut e = Ensemble::new(&[Kind::Corral; 3]).cfg("tcpKeepAlive", "true");
    e.start_all_after(2);
    e.wait_for(Duration::from_secs(60), "a leader", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    let election: Vec<u16> = e.members.iter().map(|m| m.election).collect();
    // Each pair of members keeps one connection: the accepting side's
    // socket has the election port as its local port.
    let text = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let sockets: Vec<(u16, u16)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = |s: &str| u16::from_str_radix(s.rsplit(':').next()?, 16).ok();
            // 01: ESTABLISHED.
            (f.get(3) == Some(&"01")).then_some((port(f[1])?, port(f[2])?))
        })
        .filter(|(local, _)| election.contains(local))
        .collect();
    assert!(
        sockets.len() >= 3,
        "three election connections accepted: {sockets:?}"
    );
    // A message in flight shows the retransmit timer (1) for a moment.
    let keepalive = |local: u16, remote: u16| {
        (0..100).any(|_| {
            let t = common::tcp_timer(local, remote);
            std::thread::sleep(Duration::from_millis(20));
            t == Some(2)
        })
    };
    for (local, remote) in sockets {
        assert!(
            keepalive(local, remote),
            "the election socket {local} <- {remote} has no keepalive timer"
        );
        // And the dialing side's socket.
        assert!(
            keepalive(remote, local),
            "the election socket {remote} -> {local} has no keepalive timer"
        );
    }
}
