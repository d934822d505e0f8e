//! Linearizability of one znode as a register on a corral ensemble under
//! crashes and partitions: clients on every member read (sync + getData),
//! write (setData at any version) and compare-and-set (setData at a
//! version) while a follower and then the leader are killed with -9 and
//! restarted, or cut off by a proxy between the peers and healed. The
//! history is checked against the znode's sequential spec (stateright's
//! `SequentialSpec`) by a Wing & Gong search with Lowe's memo of visited
//! (linearized prefix, state) pairs: stateright's own
//! `LinearizabilityTester` has no memo and took 85 s on some 500-op
//! histories, so it only cross-checks the small histories here. An
//! operation without an answer (timeout, lost connection) stays in flight:
//! it may or may not have taken effect.

mod common;
#[path = "common/lin.rs"]
mod lin;

use common::ensemble::{Ensemble, Kind};
use common::proxy::Cut;
use common::{body, err, op, write_frame, Connect, Raw, Reply, W};
use lin::History;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The znode: its data (a number) and its version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Znode {
    value: u64,
    version: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RegOp {
    /// sync, then getData.
    Read,
    /// setData at version -1.
    Write(u64),
    /// setData at an expected version.
    Cas { expect: i32, value: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RegRet {
    Read {
        value: u64,
        version: i32,
    },
    /// The version after the write.
    Written(i32),
    BadVersion,
}

impl SequentialSpec for Znode {
    type Op = RegOp;
    type Ret = RegRet;

    fn invoke(&mut self, op: &RegOp) -> RegRet {
        match *op {
            RegOp::Read => RegRet::Read {
                value: self.value,
                version: self.version,
            },
            RegOp::Write(v) => {
                self.value = v;
                self.version += 1;
                RegRet::Written(self.version)
            }
            RegOp::Cas { expect, value } if expect == self.version => {
                self.value = value;
                self.version += 1;
                RegRet::Written(self.version)
            }
            RegOp::Cas { .. } => RegRet::BadVersion,
        }
    }
}

const PATH: &str = "/register";

/// One request and its reply on `raw`, or why there is none.
fn request(raw: &mut Raw, opcode: i32, body: &[u8]) -> Result<Reply, String> {
    let xid = raw.next_xid();
    let mut p = W::new().int(xid).int(opcode).bytes();
    p.extend_from_slice(body);
    write_frame(&mut raw.stream, &p).map_err(|e| e.to_string())?;
    let r = raw.recv().map_err(|e| e.to_string())?;
    if r.xid != xid {
        return Err(format!("reply to xid {} for {xid}", r.xid));
    }
    Ok(r)
}

/// Runs `op`; `None` when it has no certain outcome.
fn run(raw: &mut Raw, op: &RegOp) -> Option<RegRet> {
    match *op {
        RegOp::Read => {
            let r = request(raw, op::SYNC, &body::path("/")).ok()?;
            if r.err != 0 {
                return None;
            }
            let r = request(raw, op::GET_DATA, &body::path_watch(PATH, false)).ok()?;
            if r.err != 0 {
                return None;
            }
            let mut b = r.r();
            let data = b.buf().unwrap_or_default();
            let stat = b.stat();
            let value = String::from_utf8(data).ok()?.parse().ok()?;
            Some(RegRet::Read {
                value,
                version: stat.version,
            })
        }
        RegOp::Write(value) | RegOp::Cas { value, .. } => {
            let expect = match *op {
                RegOp::Cas { expect, .. } => expect,
                _ => -1,
            };
            let b = body::set_data(PATH, value.to_string().as_bytes(), expect);
            let r = request(raw, op::SET_DATA, &b).ok()?;
            match r.err {
                0 => Some(RegRet::Written(r.r().stat().version)),
                err::BAD_VERSION => Some(RegRet::BadVersion),
                _ => None,
            }
        }
    }
}

/// What one client saw.
#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    indeterminate: usize,
    writes: usize,
}

/// A client: ops on a session with `home` (or, while it is down, the
/// next member), until `stop`. It is a new thread of the history after
/// each indeterminate op, which stays in flight.
fn client(
    id: usize,
    ports: Vec<u16>,
    home: usize,
    history: Arc<Mutex<History<Znode>>>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (id as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut thread = history.lock().unwrap().thread();
    let mut raw: Option<Raw> = None;
    let mut member = home;
    let mut seen_version = 0;
    let mut k = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let Some(r) = raw.as_mut() else {
            let a = format!("127.0.0.1:{}", ports[member]);
            match Raw::connect_within(&a, &Connect::default(), Duration::from_secs(2)) {
                Ok((r, c)) if c.session != 0 => raw = Some(r),
                _ => {
                    member = (member + 1) % ports.len();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            continue;
        };
        k += 1;
        let value = (id as u64) << 32 | k;
        let op = match next() % 3 {
            0 => RegOp::Read,
            1 => RegOp::Write(value),
            _ => RegOp::Cas {
                expect: seen_version,
                value,
            },
        };
        history.lock().unwrap().invoke(thread, op.clone());
        match run(r, &op) {
            Some(ret) => {
                history.lock().unwrap().ret(thread, ret.clone());
                tally.ok += 1;
                match ret {
                    RegRet::Read { version, .. } | RegRet::Written(version) => {
                        seen_version = version
                    }
                    RegRet::BadVersion => {}
                }
                if matches!(ret, RegRet::Written(_)) {
                    tally.writes += 1;
                }
            }
            None => {
                // In flight for good; go on as a new thread on a new
                // session, with the home member again.
                tally.indeterminate += 1;
                thread = history.lock().unwrap().thread();
                raw = None;
                member = home;
            }
        }
        // Pace the workload so that the history stays checkable.
        std::thread::sleep(Duration::from_millis(20));
    }
    tally
}
/// Both checkers on small histories: a stale read is caught, an op in
/// flight may or may not have taken effect, a CAS sees the version.
#[test]
fn the_checkers_agree_on_small_histories() {
    use RegOp::*;
    use RegRet::*;
    let read = |value, version| RegRet::Read { value, version };
    // (thread, op) invokes, (thread, ret) returns, in real-time order.
    #[allow(clippy::type_complexity)]
    let cases: Vec<(Vec<(usize, Result<RegOp, RegRet>)>, bool)> = vec![
        // A read after a write returned sees it.
        (
            vec![
                (0, Ok(Write(7))),
                (0, Err(Written(1))),
                (1, Ok(RegOp::Read)),
                (1, Err(read(0, 0))),
            ],
            false,
        ),
        // Concurrent with the write, either is fine.
        (
            vec![
                (0, Ok(Write(7))),
                (1, Ok(RegOp::Read)),
                (1, Err(read(0, 0))),
                (0, Err(Written(1))),
            ],
            true,
        ),
        // A write in flight that a read saw.
        (
            vec![
                (0, Ok(Write(7))),
                (1, Ok(RegOp::Read)),
                (1, Err(read(7, 1))),
            ],
            true,
        ),
        // A CAS at the current version succeeds; a second one at the same
        // version must fail.
        (
            vec![
                (
                    0,
                    Ok(Cas {
                        expect: 0,
                        value: 1,
                    }),
                ),
                (0, Err(Written(1))),
                (
                    1,
                    Ok(Cas {
                        expect: 0,
                        value: 2,
                    }),
                ),
                (1, Err(Written(1))),
            ],
            false,
        ),
        (
            vec![
                (
                    0,
                    Ok(Cas {
                        expect: 0,
                        value: 1,
                    }),
                ),
                (0, Err(Written(1))),
                (
                    1,
                    Ok(Cas {
                        expect: 0,
                        value: 2,
                    }),
                ),
                (1, Err(BadVersion)),
                (1, Ok(RegOp::Read)),
                (1, Err(read(1, 1))),
            ],
            true,
        ),
    ];
    for (events, linearizable) in cases {
        let mut ours = History::<Znode>::new();
        let mut theirs = LinearizabilityTester::<usize, Znode>::new(Znode::default());
        for _ in 0..2 {
            ours.thread();
        }
        for (t, ev) in &events {
            match ev {
                Ok(op) => {
                    ours.invoke(*t, op.clone());
                    theirs.on_invoke(*t, op.clone()).unwrap();
                }
                Err(ret) => {
                    ours.ret(*t, ret.clone());
                    theirs.on_return(*t, ret.clone()).unwrap();
                }
            }
        }
        assert_eq!(
            ours.linearize(&Znode::default()).is_some(),
            linearizable,
            "{events:?}"
        );
        assert_eq!(theirs.is_consistent(), linearizable, "{events:?}");
    }
}

/// Five clients over three corral peers, a follower and then the leader
/// killed -9 and restarted under them: the register history is
/// linearizable.
#[test]
fn corral_register_is_linearizable_under_crashes() {
    let e = Ensemble::new(&[Kind::Corral; 3]);
    register_is_linearizable_under(e, |e, progress| {
        let all = [0, 1, 2];
        for round in 0..2 {
            let leader = e.one_leader(&all).expect("a leader");
            let victim = if round == 0 { (leader + 1) % 3 } else { leader };
            e.kill9(victim);
            let rest: Vec<usize> = all.iter().copied().filter(|&i| i != victim).collect();
            e.wait_for(Duration::from_secs(20), "two serving", |e| {
                e.one_leader(&rest).is_some()
            });
            progress(e, "ops with one member down");
            e.start(victim);
            e.wait_for(Duration::from_secs(20), "three serving", |e| {
                e.one_leader(&all).is_some()
            });
        }
    });
}

/// The same under partitions (a proxy between the peers): a follower is
/// cut off and healed, then the leader is blackholed, the other two elect
/// and serve, and it is healed.
#[test]
fn corral_register_is_linearizable_under_partitions() {
    let e = Ensemble::new(&[Kind::Corral; 3]).with_proxy();
    register_is_linearizable_under(e, |e, progress| {
        let all = [0, 1, 2];
        for round in 0..2 {
            let leader = e.one_leader(&all).expect("a leader");
            let (victim, how) = if round == 0 {
                ((leader + 1) % 3, Cut::Refuse)
            } else {
                (leader, Cut::Blackhole)
            };
            e.proxy().cut(victim, how);
            let rest: Vec<usize> = all.iter().copied().filter(|&i| i != victim).collect();
            e.wait_for(
                Duration::from_secs(20),
                "the cut-off member out of the quorum",
                |e| !matches!(e.mode(victim).as_deref(), Some("leader" | "follower")),
            );
            e.wait_for(Duration::from_secs(20), "the majority serving", |e| {
                e.one_leader(&rest).is_some()
            });
            progress(e, "ops with one member cut off");
            progress(e, "more ops with one member cut off");
            e.proxy().heal(victim);
            e.wait_for(Duration::from_secs(30), "three serving", |e| {
                e.one_leader(&all).is_some()
            });
        }
    });
}

/// Starts `e`, runs five register clients over its members while
/// `faults` runs (it may call `progress` to wait for 30 more answered
/// ops), and checks the history for linearizability.
fn register_is_linearizable_under(
    mut e: Ensemble,
    faults: impl FnOnce(&mut Ensemble, &dyn Fn(&Ensemble, &str)),
) {
    e.start_all();
    let all = [0, 1, 2];
    e.wait_for(Duration::from_secs(30), "a leader", |e| {
        e.one_leader(&all).is_some()
    });
    let ports: Vec<u16> = e.members.iter().map(|m| m.client).collect();
    let mut c = Raw::connect(&format!("127.0.0.1:{}", ports[0]));
    assert_eq!(c.create(PATH, b"0", 0).err, 0);

    let history = Arc::new(Mutex::new(History::<Znode>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..5)
        .map(|id| {
            let (ports, history, stop) = (ports.clone(), history.clone(), stop.clone());
            std::thread::spawn(move || client(id, ports, id % 3, history, stop))
        })
        .collect();
    let t0 = Instant::now();
    let answered = {
        let history = history.clone();
        move || history.lock().unwrap().len()
    };
    let progress = |e: &Ensemble, what: &str| {
        let before = answered();
        e.wait_for(Duration::from_secs(20), what, |_| answered() >= before + 30);
        eprintln!("{what}: {} ops at {:?}", answered(), t0.elapsed());
    };
    e.wait_for(Duration::from_secs(10), "ops before the faults", |_| {
        answered() >= 50
    });
    faults(&mut e, &progress);
    progress(&e, "ops after the faults");
    stop.store(true, Ordering::SeqCst);
    let tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    eprintln!("clients: {tallies:?}");
    assert!(tallies.iter().all(|t| t.ok > 0), "every client got answers");
    assert!(tallies.iter().map(|t| t.writes).sum::<usize>() > 20);

    let h = history.lock().unwrap();
    let started = Instant::now();
    let order = h.linearize(&Znode::default());
    eprintln!("{} ops checked in {:?}", h.len(), started.elapsed());
    assert!(
        order.is_some(),
        "the history is not linearizable: {:#?}",
        h.threads
    );
    let order = order.unwrap();
    let writes = order
        .iter()
        .filter(|(_, r)| matches!(r, Some(RegRet::Written(_))))
        .count();
    assert!(writes > 20, "{writes} writes took effect");
}
