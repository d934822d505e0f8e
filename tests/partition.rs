//! Partitions of a corral ensemble through a fault-injecting proxy
//! (tests/common/proxy.rs): a cut-off minority cannot commit, the
//! majority goes on, and the cut-off members catch up by DIFF, TRUNC or
//! SNAP once healed; no acknowledged write is lost and no unacknowledged
//! one shows up on one server only.

mod common;

use common::ensemble::{Ensemble, Kind};
use common::proxy::Cut;
use common::{body, op, write_frame, Connect, Raw, OPEN, W};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn corral3() -> Ensemble {
    Ensemble::new(&[Kind::Corral; 3])
        .cfg("maxSessionTimeout", "60000")
        .with_proxy()
}

fn addr(e: &Ensemble, i: usize) -> String {
    format!("127.0.0.1:{}", e.members[i].client)
}
/// What became of a write.
#[derive(Debug)]
enum Outcome {
    Acked,
    /// Certainly not applied: refused before it was sent, or an error
    /// reply.
    Failed(String),
    /// Sent, but no reply: it may or may not be applied.
    Unknown(String),
}

/// A session on member `i` made with `c` within `within`, and its id, or
/// why not.
fn session_with(
    e: &Ensemble,
    i: usize,
    c: &Connect,
    within: Duration,
) -> Result<(Raw, i64), String> {
    let (raw, c) = Raw::connect_within(&addr(e, i), c, within).map_err(|e| e.to_string())?;
    if c.session == 0 {
        return Err("session refused".into());
    }
    Ok((raw, c.session))
}

/// A session on member `i` with short timeouts, or why not.
fn session(e: &Ensemble, i: usize, within: Duration) -> Result<Raw, String> {
    session_with(e, i, &Connect::default(), within).map(|(raw, _)| raw)
}

/// A session on member `i` that expires `timeout_ms` after its server
/// is gone, and its id.
fn session_for(e: &Ensemble, i: usize, timeout_ms: i32) -> Result<(Raw, i64), String> {
    let c = Connect {
        timeout: timeout_ms,
        ..Connect::default()
    };
    session_with(e, i, &c, Duration::from_secs(3))
}

/// A create on `raw`, waiting at most its read timeout.
fn create_on(raw: &mut Raw, path: &str) -> Outcome {
    let mut p = W::new().int(1).int(op::CREATE).bytes();
    p.extend_from_slice(&body::create(path, path.as_bytes(), OPEN, 0));
    if let Err(e) = write_frame(&mut raw.stream, &p) {
        return Outcome::Failed(e.to_string());
    }
    match raw.recv() {
        Ok(r) if r.err == 0 => Outcome::Acked,
        Ok(r) => Outcome::Failed(format!("error {}", r.err)),
        Err(e) => Outcome::Unknown(e.to_string()),
    }
}

/// A create through member `i` on a fresh session.
fn create(e: &Ensemble, i: usize, path: &str, within: Duration) -> Outcome {
    match session(e, i, within) {
        // The session itself may be pending, but not the create.
        Err(why) => Outcome::Failed(why),
        Ok(mut raw) => {
            let o = create_on(&mut raw, path);
            if matches!(o, Outcome::Acked) {
                // No session left to expire later (an expiry is a write).
                let p = W::new().int(2).int(op::CLOSE_SESSION).bytes();
                if write_frame(&mut raw.stream, &p).is_ok() {
                    let _ = raw.recv();
                }
            }
            o
        }
    }
}

/// What the test knows of its writes.
#[derive(Default)]
struct Book {
    acked: Vec<String>,
    /// With why.
    failed: Vec<(String, String)>,
    unknown: Vec<(String, String)>,
}

impl Book {
    fn note(&mut self, path: &str, o: Outcome) -> bool {
        match o {
            Outcome::Acked => self.acked.push(path.into()),
            Outcome::Failed(why) => self.failed.push((path.into(), why)),
            Outcome::Unknown(why) => self.unknown.push((path.into(), why)),
        }
        self.acked.last().map(String::as_str) == Some(path)
    }

    /// `n` creates through `via` (round robin), each retried on a new
    /// path until acknowledged (as during an election).
    fn writes(&mut self, e: &Ensemble, via: &[usize], tag: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut k = 0;
        let mut done = 0;
        while done < n {
            assert!(Instant::now() < deadline, "{tag}: no write got through");
            let p = format!("/{tag}-{k}");
            let o = create(e, via[k % via.len()], &p, Duration::from_secs(5));
            k += 1;
            if self.note(&p, o) {
                done += 1;
            } else {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The children of `/` on member `i`, after a sync.
fn children(e: &Ensemble, i: usize) -> BTreeSet<String> {
    let mut c = Raw::connect(&addr(e, i));
    c.sync();
    let r = c.call(op::GET_CHILDREN, &body::path_watch("/", false));
    r.ok().strings().into_iter().collect()
}

/// Three corral peers behind the proxy go through four partitions:
///
/// 1. A follower is cut off: the other two commit, a write through it is
///    not acknowledged; healed, it catches up by DIFF.
/// 2. The leader is blackholed: a write through it is not acknowledged;
///    the other two elect a new leader and commit; healed, the old leader
///    follows and, behind the new epoch, gets a SNAP.
/// 3. The new leader is blackholed, a write through it is logged there
///    but never committed, and it crashes; the other two elect, then one
///    of them crashes; restarted and healed, the old leader has a txn the
///    survivor never saw, follows it (its epoch is newer) and gets a TRUNC.
///
/// At the end every acknowledged write is on every server, nothing that
/// failed is anywhere, and every server has the same nodes.
#[test]
fn corral_ensemble_survives_partitions() {
    let mut e = corral3();
    e.start_all();
    let all = [0, 1, 2];
    e.wait_for(Duration::from_secs(30), "a leader", |e| {
        e.one_leader(&all).is_some()
    });
    let mut book = Book::default();
    for i in all {
        book.writes(&e, &[i], &format!("start{i}"), 3);
    }

    // 1. A follower is cut off.
    let leader = e.one_leader(&all).unwrap();
    let f = (leader + 1) % 3;
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != f).collect();
    let mark = e.log_text(f).len();
    e.proxy().cut(f, Cut::Refuse);
    book.writes(&e, &rest, "majority", 10);
    let o = create(&e, f, "/through-cut-follower", Duration::from_secs(3));
    assert!(!matches!(o, Outcome::Acked), "a cut-off follower committed");
    book.note("/through-cut-follower", o);
    e.proxy().heal(f);
    e.wait_for(Duration::from_secs(20), "the follower back", |e| {
        e.one_leader(&all) == Some(leader)
    });
    e.synced_by(f, mark, "DIFF");
    let have = children(&e, f);
    for p in &book.acked {
        assert!(have.contains(&p[1..]), "{p} missing on the healed follower");
    }

    // 2. The leader is blackholed.
    let old = leader;
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != old).collect();
    // Short-lived: it expires before the next partition.
    let (mut on_old, short_session) = session_for(&e, old, 2_000).expect("a session on the leader");
    let mark = e.log_text(old).len();
    e.proxy().cut(old, Cut::Blackhole);
    on_old
        .stream
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    let o = create_on(&mut on_old, "/through-cut-leader");
    assert!(!matches!(o, Outcome::Acked), "a cut-off leader committed");
    book.note("/through-cut-leader", o);
    e.wait_for(Duration::from_secs(20), "a new leader of two", |e| {
        e.one_leader(&rest).is_some()
    });
    let leader = e.one_leader(&rest).unwrap();
    book.writes(&e, &rest, "new-epoch", 10);
    e.wait_for(
        Duration::from_secs(20),
        "the old leader stepping down",
        |e| e.mode(old).as_deref() != Some("leader"),
    );
    e.proxy().heal(old);
    e.wait_for(Duration::from_secs(20), "the old leader following", |e| {
        e.one_leader(&all) == Some(leader)
    });
    e.synced_by(old, mark, "SNAP");

    // 3. The leader is blackholed, logs a write that no one else gets, and
    // crashes; the other two elect (no writes), then the follower of them
    // crashes too. The crashed leader comes back with a txn the survivor
    // never saw, the survivor wins the election on its newer epoch, and
    // the comeback needs the TRUNC. (Its session must not expire meanwhile:
    // that would be a write, and a write makes this a SNAP.)
    let old = leader;
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != old).collect();
    // The short session of step 2 must have expired (a committed write)
    // first: expired later, by the cut-off leader, it would be a second
    // uncommitted txn, and by the next leader, a write of the new epoch.
    let short = format!("0x{short_session:x}");
    e.wait_for(Duration::from_secs(20), "step 2's session expiring", |e| {
        !e.four_letter(old, "dump").contains(&short)
    });
    let (mut on_old, _) = session_for(&e, old, 60_000).expect("a session on the leader");
    e.proxy().cut(old, Cut::Blackhole);
    on_old
        .stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let o = create_on(&mut on_old, "/logged-then-crashed");
    assert!(!matches!(o, Outcome::Acked), "a cut-off leader committed");
    book.note("/logged-then-crashed", o);
    e.kill9(old);
    e.wait_for(Duration::from_secs(20), "a new leader of two", |e| {
        e.one_leader(&rest).is_some()
    });
    let survivor = e.one_leader(&rest).unwrap();
    let other = rest.iter().copied().find(|&i| i != survivor).unwrap();
    e.kill9(other);
    e.wait_for(Duration::from_secs(20), "the survivor stepping down", |e| {
        e.mode(survivor).as_deref() != Some("leader")
    });
    let mark = e.log_text(old).len();
    e.proxy().heal(old);
    e.start(old);
    e.wait_for(
        Duration::from_secs(20),
        "the crashed leader following",
        |e| e.one_leader(&[old, survivor]) == Some(survivor),
    );
    e.synced_by(old, mark, "TRUNC");
    e.start(other);
    e.wait_for(Duration::from_secs(20), "all three back", |e| {
        e.one_leader(&all) == Some(survivor)
    });
    book.writes(&e, &all, "end", 6);

    // Every acknowledged write everywhere, nothing failed anywhere, and the
    // same nodes on every server.
    let views: Vec<BTreeSet<String>> = all.iter().map(|&i| children(&e, i)).collect();
    for (i, have) in views.iter().enumerate() {
        let sid = e.members[i].sid;
        for p in &book.acked {
            assert!(have.contains(&p[1..]), "acknowledged {p} missing on {sid}");
        }
        for (p, _) in &book.failed {
            assert!(!have.contains(&p[1..]), "failed {p} present on {sid}");
        }
        assert_eq!(have, &views[0], "server {sid} differs from server 1");
    }
    eprintln!(
        "acked {}, failed {:?}, unknown {:?}",
        book.acked.len(),
        book.failed,
        book.unknown
    );
}

/// Read-only mode (`readonlymode.enabled`): a follower cut off from the
/// quorum serves reads of what it has to clients that allow a read-only
/// server (ConnectedReadOnly), answers writes with NotReadOnly, refuses
/// other clients; once the quorum is back, its read-only clients are
/// closed and reconnect read-write.
#[test]
fn a_cut_off_server_serves_reads_in_read_only_mode() {
    let mut e = corral3().jvm("-Dreadonlymode.enabled=true");
    e.start_all();
    e.wait_for(Duration::from_secs(30), "a leader", |e| {
        e.one_leader(&[0, 1, 2]).is_some()
    });
    let leader = e.one_leader(&[0, 1, 2]).unwrap();
    let f = (0..3).find(|&i| i != leader).unwrap();
    let mut w = Raw::connect(&addr(&e, leader));
    assert_eq!(w.create("/before", b"seen", 0).err, 0);
    let mut r = Raw::connect(&addr(&e, f));
    r.sync();
    assert!(r.exists("/before", false).is_some());
    drop(r);
    e.proxy().cut(f, Cut::Refuse);
    let ro = Connect {
        read_only: Some(true),
        ..Connect::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut c = loop {
        assert!(
            Instant::now() < deadline,
            "no read-only session on the cut-off server"
        );
        if let Ok((raw, c)) = Raw::connect_within(&addr(&e, f), &ro, Duration::from_secs(2)) {
            if c.session != 0 && c.read_only == Some(true) {
                break raw;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(e.mode(f).as_deref(), Some("read-only"));
    let (data, _) = c
        .get_data("/before", false)
        .expect("a read in read-only mode");
    assert_eq!(data.as_deref(), Some(&b"seen"[..]));
    assert_eq!(c.create("/during", b"", 0).err, -119, "NotReadOnly");
    // A client that does not allow read-only is refused.
    let refused = Raw::connect_within(&addr(&e, f), &Connect::default(), Duration::from_secs(2));
    assert!(
        refused.map_or(true, |(_, c)| c.session == 0),
        "a read-write client got a session from a read-only server"
    );
    // The quorum is back: the read-only connection closes; a new one is
    // read-write.
    e.proxy().heal(f);
    e.wait_for(Duration::from_secs(30), "the follower back", |e| {
        e.mode(f).as_deref() == Some("follower")
    });
    assert!(
        common::closed_by_peer(&mut c.stream, Duration::from_secs(10)),
        "the read-only connection is closed when the server rejoins"
    );
    let mut rw = Raw::connect(&addr(&e, f));
    assert_eq!(rw.create("/after", b"", 0).err, 0);
}
