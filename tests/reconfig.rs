//! Dynamic reconfig on real processes (`reconfigEnabled=true`): an
//! ensemble of three grows to five under a write load, shrinks back to
//! three, then removes its leader; every acknowledged write is on every
//! member at the end. The same steps run on corral alone, on a mix of
//! corral and ZooKeeper 3.8 (reconfigs issued through members of both
//! kinds, led by either), and on ZooKeeper alone, which shows the steps
//! themselves are right.

mod common;

use common::ensemble::{same_on_both, Ensemble, Kind};
use common::{body, op, Connect, Raw, R, W};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `super:test`, as kazoo's harness configures it.
const SUPER_DIGEST: &str =
    "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
const NEW_CONFIG_NO_QUORUM: i32 = -13;

/// One writer: creates `/load-N` through each member in turn, moving on
/// (with a new session) after any error; the acknowledged paths are kept.
fn writer(addrs: Arc<Mutex<Vec<String>>>, acks: Arc<Mutex<Vec<String>>>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    let mut server = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let addr = {
            let a = addrs.lock().unwrap();
            server = (server + 1) % a.len();
            a[server].clone()
        };
        let Ok((mut c, _)) =
            Raw::connect_within(&addr, &Connect::default(), Duration::from_secs(3))
        else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        for _ in 0..50 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let path = format!("/load-{n:08}");
            n += 1;
            let xid = c.next_xid();
            c.send(xid, op::CREATE, &body::create(&path, b"x", common::OPEN, 0));
            match c.recv() {
                Ok(r) if r.err == 0 => acks.lock().unwrap().push(path),
                _ => break,
            }
        }
    }
}

/// A superuser session on member `i`.
fn super_client(e: &Ensemble, i: usize) -> Raw {
    let mut c = Raw::connect(&e.client_addr(i));
    c.send(-4, op::AUTH, &body::auth("digest", b"super:test"));
    let r = c.recv().expect("auth reply");
    assert_eq!(r.err, 0, "super auth");
    c
}

/// `reconfig` (null for `None`): the error, and the new config on success.
fn reconfig(c: &mut Raw, joining: Option<&str>, leaving: Option<&str>) -> (i32, String) {
    let s = |w: W, v: Option<&str>| match v {
        Some(v) => w.string(v),
        None => w.int(-1),
    };
    let b = s(s(W::new(), joining), leaving).int(-1).long(-1).bytes();
    let r = c.call(op::RECONFIG, &b);
    if r.err != 0 {
        return (r.err, String::new());
    }
    let data = R::new(&r.body).buf().unwrap_or_default();
    (0, String::from_utf8_lossy(&data).into_owned())
}

/// Retries a reconfig through member `i` while the new config has no
/// synced quorum (joining servers still syncing), up to 30 s. `expect`
/// says whether a config is the one asked for: after a connection loss
/// (a ZooKeeper 3.8 member may drop the asking client as it applies the
/// reconfig) the reconfig went through if some member shows it.
fn reconfig_when_synced(
    e: &Ensemble,
    i: usize,
    joining: Option<&str>,
    leaving: Option<&str>,
    expect: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A ZooKeeper member that refuses clients: ask another member.
        let via = if config_of(e, i).is_some() {
            i
        } else {
            serving(e, &(0..e.members.len()).collect::<Vec<_>>())[0]
        };
        let mut c = super_client(e, via);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reconfig(&mut c, joining, leaving)
        }));
        let (err, text) = match r {
            Ok(r) => r,
            Err(_) if e.members[via].kind == Kind::ZooKeeper => {
                println!(
                    "ZooKeeper member {} dropped the reconfig's client",
                    e.members[via].sid
                );
                let seen = (0..e.members.len()).find_map(|j| config_of(e, j).filter(|c| expect(c)));
                match seen {
                    Some(c) => return c,
                    None => continue,
                }
            }
            Err(_) => or_logs(e, "the reconfig's answer", || {
                reconfig(&mut c, joining, leaving)
            }),
        };
        if err == 0 {
            assert!(
                expect(&text),
                "the answer is not the config asked for: {text}"
            );
            return text;
        }
        assert!(
            err == NEW_CONFIG_NO_QUORUM && Instant::now() < deadline,
            "reconfig through member {} failed: error {err}",
            e.members[i].sid
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `f()`, or its panic with every member's log tail.
fn or_logs<T>(e: &Ensemble, what: &str, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            e.wait_for(Duration::ZERO, what, |_| false);
            unreachable!()
        }
    }
}

/// The `/zookeeper/config` member `i` holds, after a sync, asked again on
/// a connection loss for up to 20 s. A corral member must answer; a
/// ZooKeeper 3.8 member that still refuses clients then (after a reconfig
/// it sometimes closes every new connection for a long while: seen in
/// ZooKeeper-only ensembles too) is reported and skipped (`None`).
fn config_of(e: &Ensemble, i: usize) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config_of_now(e, i)));
        match r {
            Ok(c) => return Some(c),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(_) if e.members[i].kind == Kind::ZooKeeper => {
                println!(
                    "ZooKeeper member {} refuses clients after the reconfig; skipped",
                    e.members[i].sid
                );
                return None;
            }
            Err(_) => {
                return Some(or_logs(e, &format!("member {}'s config", i + 1), || {
                    config_of_now(e, i)
                }))
            }
        }
    }
}

/// The members of `among` that take a client (see [`config_of`]): every
/// corral member, and the ZooKeeper members that do not refuse clients.
fn serving(e: &Ensemble, among: &[usize]) -> Vec<usize> {
    among
        .iter()
        .copied()
        .filter(|i| config_of(e, *i).is_some())
        .collect()
}

fn config_of_now(e: &Ensemble, i: usize) -> String {
    let mut c = Raw::connect(&e.client_addr(i));
    c.sync();
    let (data, _) = c.get_data("/zookeeper/config", false).expect("config node");
    String::from_utf8_lossy(&data.unwrap_or_default()).into_owned()
}

fn sids(config: &str) -> BTreeSet<i64> {
    config
        .lines()
        .filter_map(|l| l.strip_prefix("server.")?.split('=').next()?.parse().ok())
        .collect()
}

fn grow_shrink_and_remove_the_leader(kinds: [Kind; 5]) {
    let mut e = Ensemble::new(&kinds)
        .cfg("reconfigEnabled", "true")
        .jvm(SUPER_DIGEST);
    for i in 0..3 {
        e.set_view(i, &[0, 1, 2]);
    }
    // A joining server lists the ensemble and itself.
    e.set_view(3, &[0, 1, 2, 3]);
    e.set_view(4, &[0, 1, 2, 4]);
    for i in 0..3 {
        e.start(i);
    }
    e.wait_for(Duration::from_secs(60), "a leader of three", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    e.replicates(&[0, 1, 2], "three");

    let addrs = Arc::new(Mutex::new(
        (0..3).map(|i| e.client_addr(i)).collect::<Vec<_>>(),
    ));
    let acks = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (a, k, s) = (addrs.clone(), acks.clone(), stop.clone());
        std::thread::spawn(move || writer(a, k, s))
    };

    // Grow: 4 and 5 start, follow as non-voting participants, and join
    // through member 1 (sid 2).
    e.start(3);
    e.start(4);
    e.wait_for(
        Duration::from_secs(60),
        "the joining servers to follow",
        |e| e.in_mode(&[3, 4], "follower").len() == 2,
    );
    let joining = format!(
        "server.4={},server.5={}",
        e.server_line(3),
        e.server_line(4)
    );
    let five = BTreeSet::from([1, 2, 3, 4, 5]);
    reconfig_when_synced(&e, 1, Some(&joining), None, |c| sids(c) == five);
    for i in 0..5 {
        if let Some(c) = config_of(&e, i) {
            assert_eq!(sids(&c), five, "member {}", i + 1);
        }
    }
    addrs
        .lock()
        .unwrap()
        .extend([e.client_addr(3), e.client_addr(4)]);
    e.replicates(&serving(&e, &[0, 1, 2, 3, 4]), "five");

    // Shrink back, through member 4 (sid 5, which leaves).
    let three = BTreeSet::from([1, 2, 3]);
    reconfig_when_synced(&e, 4, None, Some("4,5"), |c| sids(c) == three);
    addrs.lock().unwrap().truncate(3);
    for i in 0..3 {
        if let Some(c) = config_of(&e, i) {
            assert_eq!(sids(&c), three, "member {}", i + 1);
        }
    }
    e.replicates(&serving(&e, &[0, 1, 2]), "shrunk");

    // Remove the leader, through a follower.
    let leader = e.one_leader(&[0, 1, 2]).expect("one leader of the three");
    let via = (leader + 1) % 3;
    let sid = e.members[leader].sid.to_string();
    let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let two: BTreeSet<i64> = rest.iter().map(|i| e.members[*i].sid).collect();
    reconfig_when_synced(&e, via, None, Some(&sid), |c| sids(c) == two);
    e.wait_for(Duration::from_secs(60), "a new leader of the two", |e| {
        e.in_mode(&rest, "leader").len() == 1
    });
    e.replicates(&serving(&e, &rest), "two");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();

    // Every acknowledged write is on every member still in the config,
    // and on the ones that left (they go on as non-voting participants).
    let acked = acks.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} writes acknowledged", acked.len());
    for i in serving(&e, &rest) {
        let mut c = Raw::connect(&e.client_addr(i));
        c.sync();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|p| c.exists(p, false).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "member {} ({:?}) lacks {} of {} acknowledged writes, first {:?}",
            e.members[i].sid,
            e.members[i].kind,
            missing.len(),
            acked.len(),
            missing.first()
        );
    }
    println!(
        "{kinds:?}: {} writes acknowledged, all on every member",
        acked.len()
    );
}

#[test]
fn corral_grows_shrinks_and_removes_its_leader_under_load() {
    grow_shrink_and_remove_the_leader([Kind::Corral; 5]);
}

#[test]
fn a_mixed_ensemble_grows_shrinks_and_removes_its_leader_under_load() {
    use Kind::{Corral as C, ZooKeeper as Z};
    grow_shrink_and_remove_the_leader([C, Z, C, Z, C]);
}

/// The other mix: a ZooKeeper leader (sid 3) commits the reconfigs for
/// corral followers and joiners, until it removes itself.
#[test]
fn a_mixed_ensemble_led_by_zookeeper_grows_shrinks_and_removes_its_leader() {
    use Kind::{Corral as C, ZooKeeper as Z};
    grow_shrink_and_remove_the_leader([Z, C, Z, C, Z]);
}

#[test]
fn zookeeper_grows_shrinks_and_removes_its_leader_under_load() {
    grow_shrink_and_remove_the_leader([Kind::ZooKeeper; 5]);
}

/// Member 4 (index 3) of three participants and an observer is promoted
/// to a participant, then made an observer again; returns what `srvr`
/// says of it and what the config lists after each step.
fn promote_and_demote(kind: Kind) -> Vec<(String, String)> {
    let mut e = Ensemble::new(&[kind; 4])
        .cfg("reconfigEnabled", "true")
        .jvm(SUPER_DIGEST);
    e.members[3].observer = true;
    e.start_all();
    e.wait_for(Duration::from_secs(60), "a leader and an observer", |e| {
        e.one_leader(&[0, 1, 2]).is_some() && e.mode(3).as_deref() == Some("observer")
    });
    e.replicates(&serving(&e, &[0, 1, 2, 3]), "start");
    let line = |e: &Ensemble, role: &str| {
        let m = &e.members[3];
        format!(
            "server.4=127.0.0.1:{}:{}:{role};127.0.0.1:{}",
            m.quorum, m.election, m.client
        )
    };
    let role_of = |c: &str| {
        c.lines()
            .find(|l| l.starts_with("server.4="))
            .map_or("absent".to_string(), |l| {
                l.split(';')
                    .next()
                    .unwrap_or("")
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
    };
    let mut seen = Vec::new();
    for role in ["participant", "observer"] {
        let want = line(&e, role);
        reconfig_when_synced(&e, 0, Some(&want), None, |c| c.contains(&want));
        let mode = if role == "participant" {
            "follower"
        } else {
            "observer"
        };
        e.wait_for(
            Duration::from_secs(60),
            &format!("member 4 to be a {mode}"),
            |e| e.mode(3).as_deref() == Some(mode),
        );
        let config = config_of(&e, 3).unwrap_or_default();
        e.replicates(&serving(&e, &[0, 1, 2, 3]), role);
        seen.push((e.mode(3).unwrap_or_default(), role_of(&config)));
    }
    seen
}

#[test]
fn an_observer_is_promoted_to_participant_and_back_as_on_zookeeper() {
    let mine = same_on_both(promote_and_demote);
    assert_eq!(
        mine,
        vec![
            ("follower".to_string(), "participant".to_string()),
            ("observer".to_string(), "observer".to_string())
        ]
    );
}

/// Member 3 is down while the ensemble grows to five and then drops
/// members 1 and 2 (voters {3, 4, 5}). It comes back with its first
/// zoo.cfg ({1, 2, 3}): the non-voting 1 and 2 answer its election with
/// the newer config, which it takes, and it joins the new voters. Returns
/// its mode and the sids of its config.
fn a_member_that_missed_two_reconfigs(kind: Kind) -> (String, BTreeSet<i64>) {
    let mut e = Ensemble::new(&[kind; 5])
        .cfg("reconfigEnabled", "true")
        .jvm(SUPER_DIGEST);
    for i in 0..3 {
        e.set_view(i, &[0, 1, 2]);
    }
    // The joiners list the members that are up (a quorum of their view
    // must answer them) and themselves.
    e.set_view(3, &[0, 1, 3]);
    e.set_view(4, &[0, 1, 4]);
    for i in 0..3 {
        e.start(i);
    }
    e.wait_for(Duration::from_secs(60), "a leader of three", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    e.replicates(&[0, 1, 2], "three");
    e.kill9(2);
    e.wait_for(Duration::from_secs(60), "a leader of the two left", |e| {
        e.one_leader(&[0, 1]).is_some()
    });
    e.start(3);
    e.start(4);
    e.wait_for(
        Duration::from_secs(60),
        "the joining servers to follow",
        |e| e.in_mode(&[3, 4], "follower").len() == 2 || e.in_mode(&[3, 4], "leader").len() == 1,
    );
    let joining = format!(
        "server.4={},server.5={}",
        e.server_line(3),
        e.server_line(4)
    );
    let five = BTreeSet::from([1, 2, 3, 4, 5]);
    let via = serving(&e, &[0, 1])[0];
    reconfig_when_synced(&e, via, Some(&joining), None, |c| sids(c) == five);
    let later = BTreeSet::from([3, 4, 5]);
    let via = serving(&e, &[3, 4])[0];
    reconfig_when_synced(&e, via, None, Some("1,2"), |c| sids(c) == later);
    e.replicates(&serving(&e, &[3, 4]), "later");
    e.start(2);
    e.wait_for(Duration::from_secs(60), "member 3 to rejoin", |e| {
        matches!(e.mode(2).as_deref(), Some("follower") | Some("leader"))
    });
    e.replicates(&serving(&e, &[2, 3, 4]), "back");
    let mode = e.mode(2).unwrap_or_default();
    let config = config_of(&e, 2).map(|c| sids(&c)).unwrap_or_default();
    (
        if mode == "leader" {
            "follower".into()
        } else {
            mode
        },
        config,
    )
}

#[test]
fn a_member_that_missed_reconfigs_learns_the_config_from_the_election_as_on_zookeeper() {
    let mine = same_on_both(a_member_that_missed_two_reconfigs);
    assert_eq!(mine, ("follower".to_string(), BTreeSet::from([3, 4, 5])));
}
