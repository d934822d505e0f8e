//! Hostile tests: peers. A member whose peer ports are held (TIME_WAIT
//! sockets of its last run, a foreign listener) and a member whose epoch
//! files cannot be written: the ensemble must still elect a leader within
//! seconds, and no member may acknowledge an epoch it did not persist.

use crate::common;
use common::ensemble::{Ensemble, Kind};
use std::time::{Duration, Instant};

fn kind() -> Kind {
    if common::against_reference() {
        Kind::ZooKeeper
    } else {
        Kind::Corral
    }
}

fn started(n: usize) -> Ensemble {
    let mut e = Ensemble::new(&vec![kind(); n]);
    e.start_all();
    let all: Vec<usize> = (0..n).collect();
    e.wait_for(Duration::from_secs(60), "a first leader", |e| {
        e.one_leader(&all).is_some()
    });
    e
}

/// The TIME_WAIT sockets on loopback whose local port is `port`.
fn time_wait_on(port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-Htan", "state", "time-wait"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let me = format!("127.0.0.1:{port} ");
    out.lines().filter(|l| l.contains(&me)).count()
}

/// Waits until a TIME_WAIT socket holds `port`.
fn await_time_wait(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while time_wait_on(port) == 0 {
        assert!(
            Instant::now() < deadline,
            "the {what} ({port}) never went to TIME_WAIT"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Leaves a TIME_WAIT socket on `port` as a server that used the port
/// before leaves it: it accepted a connection and closed first. Its
/// socket had SO_REUSEADDR, as Java's (ZooKeeper's) and this build's
/// listeners have.
fn leave_time_wait(port: u16) {
    use std::io::Read;
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (a, _) = l.accept().expect("accept");
    drop(a);
    let mut b = [0u8; 1];
    let _ = c.read(&mut b);
    drop(c);
    drop(l);
    await_time_wait(port, "port");
}

/// Members start on ports that TIME_WAIT sockets still hold, left as a
/// ZooKeeper on the same ports, or an earlier run, leaves them (the server
/// closed first), and later restart after a kill -9 while their peers are
/// connected (the kernel closes the killed side first). Every time a leader
/// must be there within seconds, as ZooKeeper elects one (about 2.5 s).
/// Sid 1 holds accepted election connections (a larger sid's connection is
/// the one kept); the leader holds its learners' quorum connections.
#[test]
fn members_restarted_over_time_wait_ports_elect_a_leader_within_seconds() {
    let mut e = Ensemble::new(&[kind(); 3]);
    let all = [0, 1, 2];
    for m in [0, 2] {
        leave_time_wait(e.members[m].election);
        leave_time_wait(e.members[m].quorum);
    }
    e.start_all();
    e.wait_for(
        Duration::from_secs(10),
        "a leader on ports in TIME_WAIT",
        |e| e.one_leader(&all).is_some(),
    );
    let el = e.members[0].election;
    e.kill9(0);
    await_time_wait(el, "election port of sid 1");
    // It comes back at once, its election port still in TIME_WAIT.
    e.start(0);
    e.wait_for(Duration::from_secs(10), "a leader with sid 1 back", |e| {
        e.one_leader(&all).is_some()
    });
    // Now every member at once: the leader first, then the others.
    let leader = e.one_leader(&all).expect("a leader");
    let (q, el) = (e.members[leader].quorum, e.members[leader].election);
    e.kill9(leader);
    if !common::against_reference() {
        // ZooKeeper's learners may close first; corral's leader does.
        await_time_wait(q, "leader's quorum port");
    }
    for i in all {
        e.kill9(i);
    }
    assert!(time_wait_on(el) + time_wait_on(e.members[0].election) > 0);
    let t0 = Instant::now();
    e.start_all();
    e.wait_for(
        Duration::from_secs(10),
        "a leader after restarting all",
        |e| e.one_leader(&all).is_some(),
    );
    eprintln!("leader after {:?}", t0.elapsed());
}

/// The member that would win every election (highest sid, same history)
/// cannot bind its quorum port: a foreign listener holds it. Another member
/// must lead within seconds, instead of that one winning, failing to bind,
/// stepping down and winning again.
#[test]
fn a_member_that_cannot_bind_its_quorum_port_lets_another_lead() {
    let mut e = Ensemble::new(&[kind(); 3]);
    let blocked = 2; // sid 3
    let hold = std::net::TcpListener::bind(("127.0.0.1", e.members[blocked].quorum))
        .expect("hold the quorum port");
    e.start_all();
    let all = [0, 1, 2];
    e.wait_for(Duration::from_secs(10), "a leader other than sid 3", |e| {
        e.one_leader(&all).is_some_and(|l| l != blocked)
    });
    // It stays that way.
    std::thread::sleep(Duration::from_secs(2));
    let l = e.one_leader(&all);
    assert!(l.is_some_and(|l| l != blocked), "the leader changed: {l:?}");
    // With the port free and the leader gone, sid 3 may lead again.
    drop(hold);
    let leader = l.unwrap();
    e.kill9(leader);
    let others: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    e.wait_for(
        Duration::from_secs(15),
        "a leader among the other two",
        |e| e.one_leader(&others).is_some(),
    );
}

/// A member whose election port a foreign listener holds cannot take part
/// in elections: like ZooKeeper (`electionPortBindRetry` tries, then exit
/// code 14, UNABLE_TO_BIND_QUORUM_PORT) it exits, rather than linger with
/// its client port open and no election.
#[test]
fn a_member_that_cannot_bind_its_election_port_exits() {
    let mut e = Ensemble::new(&[kind(); 3]);
    let _hold = std::net::TcpListener::bind(("127.0.0.1", e.members[0].election))
        .expect("hold the election port");
    e.start_all();
    let others = [1, 2];
    e.wait_for(Duration::from_secs(30), "a leader among 2 and 3", |e| {
        e.one_leader(&others).is_some()
    });
    let status = e.wait_exit(0, Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(14),
        "member 1 must exit with code 14\n{}",
        e.log_text(0)
    );
}

/// A follower whose `acceptedEpoch` cannot be written (a directory stands
/// where the file goes) must not acknowledge a new epoch: ZooKeeper's
/// `setAcceptedEpoch` throws and the peer goes back to LOOKING. It never
/// follows until the file can be written; then it joins.
#[test]
fn a_follower_that_cannot_persist_the_epoch_does_not_follow() {
    let mut e = started(3);
    let all = [0, 1, 2];
    let leader = e.one_leader(&all).expect("a leader");
    let broken = (leader + 1) % 3;
    let other = 3 - leader - broken;
    let accepted = e.member_dir(broken).join("data/version-2/acceptedEpoch");
    assert!(accepted.is_file(), "{} is missing", accepted.display());
    std::fs::remove_file(&accepted).unwrap();
    std::fs::create_dir(&accepted).unwrap();
    std::fs::write(accepted.join("in-the-way"), b"x").unwrap();
    // The leader goes: the next epoch needs both followers, and the
    // broken one fails to write it.
    e.kill9(leader);
    e.wait_for(
        Duration::from_secs(30),
        "a failed acceptedEpoch write",
        |e| {
            e.log_text(broken).lines().any(|l| {
                l.contains("acceptedEpoch")
                    && ["ERROR", "WARN", "Exception"].iter().any(|w| l.contains(w))
            })
        },
    );
    e.start(leader);
    let pair = [leader, other];
    e.wait_for(
        Duration::from_secs(30),
        "a leader without the broken member",
        |e| e.one_leader(&pair).is_some(),
    );
    // For a while: the broken member never follows.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let mode = e.mode(broken);
        assert!(
            mode.as_deref() != Some("follower") && mode.as_deref() != Some("leader"),
            "the member that cannot write acceptedEpoch serves as {mode:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = e.log_text(broken);
    assert!(
        text.contains("acceptedEpoch"),
        "its log does not say why:\n{}",
        &text[text.len().saturating_sub(3000)..]
    );
    // Repaired, it joins.
    std::fs::remove_dir_all(&accepted).unwrap();
    e.wait_for(
        Duration::from_secs(20),
        "the repaired member following",
        |e| e.one_leader(&all).is_some(),
    );
}

/// The leader's `acceptedEpoch` becomes unwritable; both followers go and
/// come back. The old leader would win the next election again (same
/// history, highest sid), fail to write the new epoch, and win again:
/// instead it must not lead with an epoch it did not persist, and the two
/// others must elect one of them within seconds.
#[test]
fn a_leader_that_cannot_persist_the_epoch_lets_another_lead() {
    let mut e = started(3);
    let all = [0, 1, 2];
    let leader = e.one_leader(&all).expect("a leader");
    let pair: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let accepted = e.member_dir(leader).join("data/version-2/acceptedEpoch");
    std::fs::remove_file(&accepted).unwrap();
    std::fs::create_dir(&accepted).unwrap();
    std::fs::write(accepted.join("in-the-way"), b"x").unwrap();
    for &i in &pair {
        e.kill9(i);
    }
    // The leader loses its quorum and goes LOOKING.
    e.wait_for(Duration::from_secs(30), "the leader stepping down", |e| {
        e.log_text(leader)
            .lines()
            .filter(|l| l.contains("LOOKING"))
            .count()
            >= 2
            && e.mode(leader).as_deref() != Some("leader")
    });
    for &i in &pair {
        e.start(i);
    }
    e.wait_for(
        Duration::from_secs(15),
        "a leader other than the one that cannot write its epoch",
        |e| e.one_leader(&pair).is_some(),
    );
    let mode = e.mode(leader);
    assert!(
        mode.as_deref() != Some("leader") && mode.as_deref() != Some("follower"),
        "the member that cannot write acceptedEpoch serves as {mode:?}"
    );
    // Repaired, it joins.
    std::fs::remove_dir_all(&accepted).unwrap();
    e.wait_for(
        Duration::from_secs(20),
        "the repaired member following",
        |e| e.one_leader(&all).is_some(),
    );
}
