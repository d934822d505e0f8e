//! Failover on real processes: kill -9 the leader of a 3- and a 5-server
//! ensemble under a pipelined write load, 20 times in a row; writes must
//! succeed again through the survivors, and every acknowledged write must
//! be on every corral server afterwards. The same runs on ZooKeeper 3.8 in
//! the same test, and the kill-to-first-write times of both are printed (they
//! are measurements, not assertions: see bench/RESULTS.md). ZooKeeper's own
//! lost writes are printed, not asserted: see `kill_the_leader_repeatedly`.

mod common;

use common::ensemble::{Ensemble, Kind};
use common::{body, op, write_frame, Connect, Raw, OPEN, W};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn kills() -> usize {
    std::env::var("FAILOVER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

const WRITERS: usize = 4;
const OUTSTANDING: usize = 8;
/// What the writers saw: acknowledged paths, and for each when its
/// request went out and when its answer came.
#[derive(Default)]
struct Acks {
    paths: Vec<String>,
    times: Vec<(Instant, Instant)>,
}

/// One writer: a session with up to OUTSTANDING creates in flight; on any
/// error it moves to the next server with a new session. Returns when
/// `stop` is set.
fn writer(w: usize, addrs: Vec<String>, acks: Arc<Mutex<Acks>>, stop: Arc<AtomicBool>) {
    let mut next = 0u64;
    let mut server = w;
    while !stop.load(Ordering::Relaxed) {
        let addr = &addrs[server % addrs.len()];
        server += 1;
        let Ok((mut raw, c)) = Raw::connect_with(addr, &Connect::default()) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        if c.session == 0 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let _ = raw.stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut inflight: HashMap<i32, (String, Instant)> = HashMap::new();
        let mut xid = 0;
        'session: while !stop.load(Ordering::Relaxed) {
            while inflight.len() < OUTSTANDING {
                xid += 1;
                next += 1;
                let path = format!("/load/w{w}-{next}");
                let mut p = W::new().int(xid).int(op::CREATE).bytes();
                p.extend_from_slice(&body::create(&path, b"x", OPEN, 0));
                if write_frame(&mut raw.stream, &p).is_err() {
                    break 'session;
                }
                inflight.insert(xid, (path, Instant::now()));
            }
            match raw.recv() {
                Ok(r) => {
                    let Some((path, sent)) = inflight.remove(&r.xid) else {
                        break 'session;
                    };
                    if r.err == 0 {
                        let mut a = acks.lock().unwrap();
                        a.paths.push(path);
                        a.times.push((sent, Instant::now()));
                    }
                }
                Err(_) => break 'session,
            }
        }
    }
}

/// Runs the kills; returns the kill-to-first-acknowledged-write times.
fn kill_the_leader_repeatedly(kind: Kind, n: usize) -> Vec<Duration> {
    let mut e = Ensemble::new(&vec![kind; n]);
    let all: Vec<usize> = (0..n).collect();
    e.start_all();
    e.wait_for(Duration::from_secs(60), "a leader", |e| {
        e.one_leader(&all).is_some()
    });
    let addrs: Vec<String> = e
        .members
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.client))
        .collect();
    let leader = e.one_leader(&all).unwrap();
    Raw::connect(&addrs[leader]).create("/load", b"", 0);
    let acks = Arc::new(Mutex::new(Acks::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (addrs, acks, stop) = (addrs.clone(), acks.clone(), stop.clone());
            std::thread::spawn(move || writer(w, addrs, acks, stop))
        })
        .collect();
    let mut took = Vec::new();
    for round in 0..kills() {
        let leader = e.one_leader(&all).expect("a leader");
        let _ = round;
        // Load is flowing before the kill.
        let before = acks.lock().unwrap().paths.len();
        let t = Instant::now();
        while acks.lock().unwrap().paths.len() < before + 50 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "round {round}: no load before the kill"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        e.kill9(leader);
        let killed = Instant::now();
        let first = loop {
            let a = acks.lock().unwrap();
            // The first answer to a request sent after the kill.
            if let Some(t) = a
                .times
                .iter()
                .rev()
                .take_while(|(_, acked)| *acked > killed)
                .filter(|(sent, _)| *sent > killed)
                .map(|(_, acked)| *acked)
                .min()
            {
                break t;
            }
            drop(a);
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "round {round}: no write after the kill"
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        took.push(first - killed);
        eprintln!("{kind:?} {n}: round {round}: {:?}", first - killed);
        e.start(leader);
        e.wait_for(Duration::from_secs(60), "the old leader back", |e| {
            e.one_leader(&all).is_some()
        });
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let acked: BTreeSet<String> = acks.lock().unwrap().paths.iter().cloned().collect();
    assert!(
        acked.len() > kills() * 50,
        "the load ran: {} writes",
        acked.len()
    );
    let missing_on = |addr: &str| -> Vec<String> {
        let mut c = Raw::connect(addr);
        c.sync();
        let children: BTreeSet<String> = c
            .children("/load", false)
            .expect("/load")
            .into_iter()
            .map(|c| format!("/load/{c}"))
            .collect();
        acked.difference(&children).cloned().collect()
    };
    for (i, addr) in addrs.iter().enumerate() {
        let sid = e.members[i].sid;
        let mut missing = missing_on(addr);
        match kind {
            // corral: after a sync, every acknowledged write is there.
            Kind::Corral => assert!(
                missing.is_empty(),
                "{kind:?} server {sid}: {} acknowledged writes missing, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            ),
            // ZooKeeper 3.8 is the reference for the timings only. Debian's
            // 3.8 has known lost-txn bugs in a restarted follower's DIFF
            // sync (ZOOKEEPER-4785, -4643, -4646, fixed in 3.8.4), which
            // this test hits now and then: give the server time to catch
            // up, then report what it still lacks instead of failing.
            Kind::ZooKeeper => {
                let t = Instant::now();
                while !missing.is_empty() && t.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(500));
                    missing = missing_on(addr);
                }
                if !missing.is_empty() {
                    eprintln!(
                        "ZooKeeper 3.8 server {sid} LOST {} of {} acknowledged writes, e.g. {:?}",
                        missing.len(),
                        acked.len(),
                        &missing[..missing.len().min(5)]
                    );
                }
            }
        }
    }
    took
}

fn summary(t: &mut [Duration]) -> String {
    t.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        ms(t[t.len() / 2]),
        ms(t[t.len() * 9 / 10]),
        ms(t[t.len() - 1])
    )
}

#[test]
fn kill_the_leader_under_load_twenty_times() {
    for n in [3, 5] {
        let mut corral = kill_the_leader_repeatedly(Kind::Corral, n);
        let mut zk = kill_the_leader_repeatedly(Kind::ZooKeeper, n);
        eprintln!(
            "{n} servers, kill -9 leader to first acknowledged write, {} kills: \
             corral {} | ZooKeeper 3.8 {}",
            kills(),
            summary(&mut corral),
            summary(&mut zk)
        );
    }
}
