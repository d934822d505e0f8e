//! A seeded, deterministic simulation of leader election and Zab: 3 and 5
//! servers (and 3 with an observer) run `corral::election`'s
//! FastLeaderElection and `corral::zab`'s Leader and Learner machines over
//! a simulated network and disks, through delays, dropped connections,
//! partitions, crashes and restarts, with clients writing at random.
//!
//! Zab's links model TCP: within a connection nothing is reordered or
//! lost; a dropped link closes the connection (both ends told), and a
//! partition breaks it silently (each end finds out by its timeouts). A
//! learner dials its leader's quorum port again and again until it answers
//! or `initLimit` ticks pass, as the real driver does. A crash keeps only
//! what the disk made durable and the persisted epochs.
//!
//! Election notifications travel between every pair of servers as
//! datagrams: each with its own random delay (so they reorder), lost across
//! a partition or to a crash, and lost at random while the faults run; a
//! server's notifications to itself arrive at once. Each server owns an
//! [`Election`] (a new one at each restart) and drives it as
//! `server::quorum_peer` does: `look` with its last logged zxid and current
//! epoch when it starts, restarts, or leaves a Leader or Learner role;
//! `timeout` once `next_deadline` passes; on `Decided` it leads or learns;
//! and `update_election_vote` once established or in sync. The election's
//! timing is ZooKeeper's shape scaled down: finalizeWait (and
//! minNotificationInterval) 20 to 200 ms, and maxNotificationInterval 400
//! to 800 ms instead of 60 s, so that convergence fits the quiet period.
//! `SIM_ZAB_ORACLE=1` puts back the old oracle (among a reachable quorum
//! of LOOKING voters, the highest (currentEpoch, lastZxid, sid) leads at
//! once; a closure, [`Elector`]).
//!
//! Checked all along: a decided vote names a voter, an observer never
//! decides to lead, and a server decides only while LOOKING; at most one
//! established leader per epoch; a new leader holds every committed txn;
//! no two txns ever share a zxid; every server applies the committed chain
//! in order with nothing skipped; a commit was acked by a quorum (each ack
//! sent only once durable). After the faults stop (the network heals and
//! every server is up), within the quiet period (2 s plus 40 ticks, at
//! least 3.5 maxNotificationIntervals; the slowest of 30000 seeds took
//! about 3 s): every server follows
//! or observes one established leader of the latest epoch, in sync with
//! it, and writes commit. The one exception is ZooKeeper's own: a server
//! that accepted a later epoch than the leader's (from a would-be leader
//! that never got established) refuses that leader, as 3.8's
//! `registerWithLeader` does, and waits for the next election (counted as
//! `stranded`).
//!
//! `SIM_ZAB_SEEDS` sets how many seeds run (default 5000), and
//! `SIM_ZAB_SEED` runs one seed with its trace printed.

use bytes::Bytes;
use corral::election::{Action, Election, ElectionSettings, Notification, ServerState};
use corral::quorum::{QuorumMaj, Sid};
use corral::zab::leader::{Leader, LeaderAction, LeaderSettings, TxnLogRead, TxnLogSource};
use corral::zab::learner::{Learner, LearnerAction, LearnerKind, LearnerSettings};
use corral::zab::wire::{self, pkt, QuorumPacket};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::rc::Rc;

#[path = "common/rng.rs"]
mod rng;
use rng::SplitMix as Rng;

/// A txn: its zxid and the client's value.
type Txn = (i64, u64);

fn data_of(v: u64) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

fn value_of(d: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = d.len().min(8);
    a[..n].copy_from_slice(&d[..n]);
    u64::from_be_bytes(a)
}

const TXN_BYTES: u64 = 64;

/// One server's disk: a snapshot, a txn log (durable up to a point) and
/// the two epoch files.
#[derive(Debug, Default, Clone)]
struct Disk {
    base: Vec<Txn>,
    snap_zxid: i64,
    log: Vec<Txn>,
    durable: usize,
    accepted: i64,
    current: i64,
}

impl Disk {
    fn history(&self) -> Vec<Txn> {
        let mut h = self.base.clone();
        h.extend(
            self.log
                .iter()
                .copied()
                .filter(|(z, _)| *z > self.snap_zxid),
        );
        h
    }
    fn last_zxid(&self) -> i64 {
        self.log
            .last()
            .map(|(z, _)| *z)
            .unwrap_or(0)
            .max(self.snap_zxid)
    }
}

struct SimLog(Rc<RefCell<Disk>>);

impl TxnLogSource for SimLog {
    fn read_from(&self, _zxid: i64, _size_limit: i64) -> TxnLogRead {
        let d = self.0.borrow();
        TxnLogRead {
            first_zxid: d.log.first().map(|(z, _)| *z),
            storage_size: d.log.len() as u64 * TXN_BYTES,
            txns: d.log.iter().map(|(z, v)| (*z, data_of(*v))).collect(),
        }
    }
    fn snapshot_size(&self) -> u64 {
        let d = self.0.borrow();
        if d.snap_zxid == 0 && d.base.is_empty() {
            0
        } else {
            (d.base.len() as u64 + 1) * TXN_BYTES
        }
    }
}

/// What the election oracle sees of a LOOKING voter.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub sid: Sid,
    pub current_epoch: i64,
    pub last_zxid: i64,
}

/// Picks a leader among a reachable quorum of LOOKING voters.
pub type Elector = Box<dyn FnMut(&[Candidate]) -> Option<Sid>>;

/// The oracle: the highest (currentEpoch, lastZxid, sid), as
/// FastLeaderElection's `totalOrderPredicate` orders votes.
fn oracle_elector() -> Elector {
    Box::new(|c: &[Candidate]| {
        c.iter()
            .max_by_key(|c| (c.current_epoch, c.last_zxid, c.sid))
            .map(|c| c.sid)
    })
}

enum Role {
    Down,
    Looking,
    Leading(Box<Leader>),
    /// Following or observing `leader`: `conn` is `None` until the
    /// quorum port answers (tried again and again until `connect_by`, as
    /// the real driver's `leader_conn`).
    Learning {
        learner: Box<Learner>,
        leader: Sid,
        conn: Option<usize>,
        connect_by: u64,
        next_try: u64,
        expect_snap: bool,
    },
}

struct Server {
    sid: Sid,
    voter: bool,
    disk: Rc<RefCell<Disk>>,
    applied: Vec<Txn>,
    last_processed: i64,
    role: Role,
    /// Bumped at every role change and crash: stale events are dropped.
    rid: u64,
    fsync_at: u64,
    own_durable: i64,
    /// FastLeaderElection; a new one at each restart.
    election: Election,
    /// Bumped at each crash and restart: election messages in flight to
    /// an earlier incarnation are lost.
    boot: u64,
}

struct Conn {
    leader: Sid,
    learner: Sid,
    leader_rid: u64,
    learner_rid: u64,
    open: bool,
    broken: bool,
    last: [u64; 2],
}

enum Msg {
    Pkt(Bytes),
    Snap(Vec<Txn>),
}

enum Ev {
    Deliver {
        conn: usize,
        to_leader: bool,
        msg: Msg,
    },
    Closed {
        conn: usize,
        to_leader: bool,
    },
    Durable {
        sid: Sid,
        rid: u64,
        zxid: i64,
    },
    /// An election notification (its bytes), datagram-like.
    Vote {
        from: Sid,
        to: Sid,
        boot: u64,
        bytes: Vec<u8>,
    },
    Tick,
}

struct Params {
    tick_ms: u64,
    init_limit: u32,
    sync_limit: u32,
    commit_log_count: usize,
    snapshot_size_factor: f64,
    force_snap: bool,
    max_delay: u64,
    fault_ms: u64,
    quiet_ms: u64,
    fault_rate: u64,
    write_rate: u64,
    /// Election messages: per-mille lost while faults run, and the
    /// longest delay (each message its own, so they reorder).
    vote_loss: u64,
    vote_max_delay: u64,
    election: ElectionSettings,
}

/// What happened, summed over seeds, to show the faults were exercised.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    established: u64,
    commits: u64,
    diffs: u64,
    truncs: u64,
    snaps: u64,
    crashes: u64,
    partitions: u64,
    drops: u64,
    step_downs: u64,
    lost_leaders: u64,
    decisions: u64,
    votes_lost: u64,
    /// The longest any seed took, after the faults stopped, to converge.
    slowest_convergence_ms: u64,
    /// Servers left out at the end (see [`Sim::stranded`]).
    stranded: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.established += o.established;
        self.commits += o.commits;
        self.diffs += o.diffs;
        self.truncs += o.truncs;
        self.snaps += o.snaps;
        self.crashes += o.crashes;
        self.partitions += o.partitions;
        self.drops += o.drops;
        self.step_downs += o.step_downs;
        self.lost_leaders += o.lost_leaders;
        self.decisions += o.decisions;
        self.votes_lost += o.votes_lost;
        self.slowest_convergence_ms = self.slowest_convergence_ms.max(o.slowest_convergence_ms);
        self.stranded += o.stranded;
    }
}

struct Sim {
    rng: Rng,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slab: Vec<Option<Ev>>,
    free: Vec<usize>,
    servers: Vec<Server>,
    quorum: QuorumMaj,
    conns: Vec<Conn>,
    cut: Vec<Vec<bool>>,
    p: Params,
    /// `None`: the real FastLeaderElection ([`Election`]).
    elector: Option<Elector>,
    next_value: u64,
    // What the invariants are checked against.
    committed: Vec<Txn>,
    values: HashMap<i64, u64>,
    leaders: BTreeMap<i64, Sid>,
    acks: HashMap<(Sid, u64, i64), BTreeSet<Sid>>,
    quiet_commits: usize,
    /// When, after the faults stopped, every server first followed (or
    /// observed) one established leader.
    converged_at: Option<u64>,
    stats: Stats,
    trace: Option<VecDeque<String>>,
}

type Res = Result<(), String>;

macro_rules! check {
    ($c:expr, $($f:tt)*) => {
        if !$c {
            return Err(format!($($f)*));
        }
    };
}

impl Sim {
    fn new(seed: u64, voters: usize, observers: usize, oracle: bool, trace: bool) -> Sim {
        let mut rng = Rng(seed);
        let tick_ms = 20 * rng.range(1, 3);
        // finalizeWait (minNotificationInterval defaults to it, as in
        // ZooKeeper), and a maxNotificationInterval far below the 60 s
        // default so that the quiet period bounds convergence.
        let finalize_wait_ms = rng.range(20, 200);
        let election = ElectionSettings {
            finalize_wait_ms,
            min_notification_interval_ms: finalize_wait_ms,
            max_notification_interval_ms: rng.range(400, 800),
        };
        let p = Params {
            tick_ms,
            init_limit: rng.range(5, 10) as u32,
            sync_limit: rng.range(2, 5) as u32,
            commit_log_count: rng.range(3, 40) as usize,
            snapshot_size_factor: [0.33, -1.0, 1.0, 0.0][rng.below(4) as usize],
            force_snap: rng.chance(50),
            max_delay: rng.range(2, tick_ms / 2),
            fault_ms: 2500,
            quiet_ms: 2000 + 40 * tick_ms,
            fault_rate: rng.range(5, 40),
            write_rate: rng.range(100, 600),
            vote_loss: rng.range(0, 200),
            vote_max_delay: rng.range(2, 3 * tick_ms),
            election,
        };
        let n = voters + observers;
        let sids: Vec<Sid> = (1..=n as Sid).collect();
        let quorum = QuorumMaj::new(
            sids[..voters].iter().copied(),
            sids[voters..].iter().copied(),
        );
        let servers = sids
            .iter()
            .map(|&sid| Server {
                sid,
                voter: quorum.is_voter(sid),
                disk: Rc::new(RefCell::new(Disk::default())),
                applied: Vec::new(),
                last_processed: 0,
                role: Role::Looking,
                rid: 0,
                fsync_at: 0,
                own_durable: 0,
                election: Election::new(sid, quorum.clone(), Vec::new(), p.election),
                boot: 0,
            })
            .collect();
        let mut sim = Sim {
            rng,
            now: 0,
            seq: 0,
            events: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            servers,
            quorum,
            conns: Vec::new(),
            cut: vec![vec![false; n]; n],
            p,
            elector: oracle.then(oracle_elector),
            next_value: 1,
            committed: Vec::new(),
            values: HashMap::new(),
            leaders: BTreeMap::new(),
            acks: HashMap::new(),
            quiet_commits: 0,
            converged_at: None,
            stats: Stats::default(),
            trace: trace.then(VecDeque::new),
        };
        sim.at(0, Ev::Tick);
        sim
    }

    fn t(&mut self, f: impl FnOnce() -> String) {
        if let Some(tr) = &mut self.trace {
            if tr.len() >= 20_000 {
                tr.pop_front();
            }
            tr.push_back(format!("{:>6} {}", self.now, f()));
        }
    }

    fn at(&mut self, when: u64, ev: Ev) {
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i] = Some(ev);
                i
            }
            None => {
                self.slab.push(Some(ev));
                self.slab.len() - 1
            }
        };
        self.seq += 1;
        self.events.push(Reverse((when, self.seq, i)));
    }

    fn idx(&self, sid: Sid) -> usize {
        (sid - 1) as usize
    }

    fn reachable(&self, a: Sid, b: Sid) -> bool {
        let (a, b) = (self.idx(a), self.idx(b));
        self.servers[a].is_up() && self.servers[b].is_up() && !self.cut[a][b]
    }

    fn run(&mut self) -> Res {
        let end = self.p.fault_ms + self.p.quiet_ms;
        for i in 0..self.servers.len() {
            self.start_looking(self.servers[i].sid)?;
        }
        while let Some(Reverse((when, _, i))) = self.events.pop() {
            if when > end {
                break;
            }
            self.now = when;
            let Some(ev) = self.slab[i].take() else {
                continue;
            };
            self.free.push(i);
            match ev {
                Ev::Tick => {
                    self.tick()?;
                    let next = self.now + 10;
                    self.at(next, Ev::Tick);
                }
                Ev::Deliver {
                    conn,
                    to_leader,
                    msg,
                } => self.deliver(conn, to_leader, msg)?,
                Ev::Closed { conn, to_leader } => self.closed(conn, to_leader)?,
                Ev::Durable { sid, rid, zxid } => self.durable(sid, rid, zxid)?,
                Ev::Vote {
                    from,
                    to,
                    boot,
                    bytes,
                } => self.deliver_vote(from, to, boot, bytes)?,
            }
        }
        self.final_checks()
    }

    // ---- time, faults, election, clients ----

    fn tick(&mut self) -> Res {
        let now = self.now;
        for i in 0..self.servers.len() {
            let sid = self.servers[i].sid;
            match &mut self.servers[i].role {
                Role::Leading(l) => {
                    let acts = l.tick(now);
                    self.leader_actions(sid, acts)?;
                }
                Role::Learning {
                    conn: None,
                    next_try,
                    ..
                } if now >= *next_try => self.try_connect(sid)?,
                Role::Learning { conn: None, .. } => {}
                Role::Learning { learner, .. } => {
                    let acts = learner.tick(now);
                    self.learner_actions(sid, acts)?;
                }
                _ => {}
            }
            if self.elector.is_none() && self.servers[i].is_up() {
                let e = &mut self.servers[i].election;
                if e.next_deadline().is_some_and(|d| d <= now) {
                    let acts = e.timeout(now);
                    self.election_actions(sid, acts)?;
                }
            }
        }
        let quiet = now >= self.p.fault_ms;
        if quiet {
            self.heal_all()?;
            if self.converged_at.is_none() && self.converged() {
                self.converged_at = Some(now);
            }
        } else if self.rng.chance(self.p.fault_rate * 10) {
            self.fault()?;
        }
        if self.elector.is_some() {
            self.elect()?;
        }
        if self.rng.chance(self.p.write_rate) {
            self.write()?;
        }
        Ok(())
    }

    fn heal_all(&mut self) -> Res {
        for row in &mut self.cut {
            row.iter_mut().for_each(|c| *c = false);
        }
        for i in 0..self.servers.len() {
            if !self.servers[i].is_up() {
                self.restart(self.servers[i].sid)?;
            }
        }
        Ok(())
    }

    fn fault(&mut self) -> Res {
        let n = self.servers.len() as u64;
        let sid = self.rng.range(1, n) as Sid;
        match self.rng.below(10) {
            0 | 1 => {
                if self.servers[self.idx(sid)].is_up() {
                    let clean = self.rng.chance(500);
                    self.t(|| format!("CRASH s{sid} clean={clean}"));
                    self.stats.crashes += 1;
                    self.crash(sid, clean)?;
                } else {
                    self.t(|| format!("RESTART s{sid}"));
                    self.restart(sid)?;
                }
            }
            2 => {
                self.t(|| format!("RESTART s{sid}"));
                if !self.servers[self.idx(sid)].is_up() {
                    self.restart(sid)?;
                }
            }
            3 | 4 => {
                // Partition: cut one side from the rest.
                let side: Vec<bool> = (0..n).map(|_| self.rng.chance(400)).collect();
                self.t(|| format!("PARTITION {side:?}"));
                self.stats.partitions += 1;
                for a in 0..n as usize {
                    for b in 0..n as usize {
                        if side[a] != side[b] {
                            self.cut[a][b] = true;
                        }
                    }
                }
                self.break_cut_conns();
            }
            5 | 6 => {
                self.t(|| "HEAL".into());
                for row in &mut self.cut {
                    row.iter_mut().for_each(|c| *c = false);
                }
            }
            _ => {
                // Drop one open connection: both ends are told.
                let open: Vec<usize> = (0..self.conns.len())
                    .filter(|&c| self.conns[c].open && !self.conns[c].broken)
                    .collect();
                if !open.is_empty() {
                    let c = open[self.rng.below(open.len() as u64) as usize];
                    self.t(|| format!("DROP conn{c}"));
                    self.stats.drops += 1;
                    self.close_conn(c, true, true);
                }
            }
        }
        Ok(())
    }

    fn break_cut_conns(&mut self) {
        for c in 0..self.conns.len() {
            let (a, b) = (self.conns[c].leader, self.conns[c].learner);
            if self.conns[c].open && self.cut[self.idx(a)][self.idx(b)] {
                self.conns[c].broken = true;
            }
        }
    }

    fn crash(&mut self, sid: Sid, clean: bool) -> Res {
        self.drop_role(sid, clean);
        let i = self.idx(sid);
        let s = &mut self.servers[i];
        s.role = Role::Down;
        s.boot += 1;
        s.applied.clear();
        let mut d = s.disk.borrow_mut();
        let keep = d.durable;
        d.log.truncate(keep);
        Ok(())
    }

    fn restart(&mut self, sid: Sid) -> Res {
        let i = self.idx(sid);
        let s = &mut self.servers[i];
        s.rid += 1;
        s.boot += 1;
        s.role = Role::Looking;
        s.election = Election::new(sid, self.quorum.clone(), Vec::new(), self.p.election);
        let d = s.disk.borrow();
        s.applied = d.history();
        s.last_processed = d.last_zxid();
        drop(d);
        self.start_looking(sid)
    }

    /// Ends a server's role: its connections close (the other ends told
    /// when `notify`), its log is flushed, and its tree is reloaded from
    /// disk (ZooKeeper's `fastForwardDataBase`).
    fn drop_role(&mut self, sid: Sid, notify: bool) {
        let i = self.idx(sid);
        let rid = self.servers[i].rid;
        for c in 0..self.conns.len() {
            let cn = &self.conns[c];
            if !cn.open {
                continue;
            }
            if cn.leader == sid && cn.leader_rid == rid {
                self.close_conn(c, false, notify);
            } else if cn.learner == sid && cn.learner_rid == rid {
                self.close_conn(c, notify, false);
            }
        }
        let s = &mut self.servers[i];
        s.rid += 1;
        s.role = Role::Looking;
        let mut d = s.disk.borrow_mut();
        d.durable = d.log.len();
        s.applied = d.history();
        s.last_processed = d.last_zxid();
    }

    fn become_looking(&mut self, sid: Sid) -> Res {
        self.drop_role(sid, true);
        self.start_looking(sid)
    }

    /// LOOKING: a new election round with the last logged zxid and the
    /// current epoch, as the real driver's `look`.
    fn start_looking(&mut self, sid: Sid) -> Res {
        if self.elector.is_some() {
            return Ok(());
        }
        let i = self.idx(sid);
        let s = &mut self.servers[i];
        let (zxid, epoch) = (s.last_processed, s.disk.borrow().current);
        let acts = s.election.look(zxid, epoch, self.now);
        self.t(|| format!("s{sid} LOOKING zxid {zxid:#x} epoch {epoch}"));
        self.election_actions(sid, acts)
    }

    fn election_actions(&mut self, sid: Sid, acts: Vec<Action>) -> Res {
        let i = self.idx(sid);
        for a in acts {
            match a {
                Action::Send { to, msg } => self.send_vote(sid, to, msg),
                Action::Decided { state, vote, .. } => {
                    self.t(|| {
                        format!(
                            "s{sid} DECIDED {state:?} s{} (zxid {:#x}, round {}, peer epoch {})",
                            vote.leader, vote.zxid, vote.election_epoch, vote.peer_epoch
                        )
                    });
                    self.stats.decisions += 1;
                    check!(
                        self.quorum.is_voter(vote.leader),
                        "s{sid} decided on s{}, not a voter",
                        vote.leader
                    );
                    let voter = self.servers[i].voter;
                    check!(
                        voter || state != ServerState::Leading,
                        "observer s{sid} decided to lead"
                    );
                    let expect = if vote.leader == sid {
                        ServerState::Leading
                    } else if voter {
                        ServerState::Following
                    } else {
                        ServerState::Observing
                    };
                    check!(
                        state == expect,
                        "s{sid} decided {state:?} for leader s{}",
                        vote.leader
                    );
                    check!(
                        matches!(self.servers[i].role, Role::Looking),
                        "s{sid} decided while not LOOKING"
                    );
                    if state == ServerState::Leading {
                        self.lead(sid)?;
                    } else {
                        self.follow(sid, vote.leader)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn elect(&mut self) -> Res {
        let n = self.servers.len();
        let mut order: Vec<usize> = (0..n).collect();
        for k in (1..n).rev() {
            let j = self.rng.below(k as u64 + 1) as usize;
            order.swap(k, j);
        }
        for i in order {
            if !matches!(self.servers[i].role, Role::Looking) {
                continue;
            }
            let sid = self.servers[i].sid;
            // Join a leader that is there (as FLE would, hearing from it).
            let leading: Vec<Sid> = self
                .servers
                .iter()
                .filter(|s| matches!(&s.role, Role::Leading(l) if !l.is_stopped()))
                .map(|s| s.sid)
                .filter(|&l| self.reachable(sid, l))
                .collect();
            if !leading.is_empty() && (!self.servers[i].voter || self.rng.chance(700)) {
                let l = leading[self.rng.below(leading.len() as u64) as usize];
                self.follow(sid, l)?;
                continue;
            }
            if !self.servers[i].voter {
                continue;
            }
            let group: Vec<Candidate> = self
                .servers
                .iter()
                .filter(|s| s.voter && matches!(s.role, Role::Looking))
                .filter(|s| s.sid == sid || self.reachable(sid, s.sid))
                .map(|s| Candidate {
                    sid: s.sid,
                    current_epoch: s.disk.borrow().current,
                    last_zxid: s.last_processed,
                })
                .collect();
            let sids: Vec<Sid> = group.iter().map(|c| c.sid).collect();
            if !self.quorum.contains_quorum(&sids) {
                continue;
            }
            let Some(l) = self.elector.as_mut().and_then(|e| e(&group)) else {
                continue;
            };
            self.t(|| format!("ELECT s{l} among {sids:?}"));
            self.lead(l)?;
            for s in sids {
                if s != l {
                    self.follow(s, l)?;
                }
            }
        }
        Ok(())
    }

    fn lead(&mut self, sid: Sid) -> Res {
        let i = self.idx(sid);
        let p = &self.p;
        let mut settings = LeaderSettings::new(p.tick_ms, p.init_limit, p.sync_limit);
        settings.commit_log_count = p.commit_log_count;
        settings.snapshot_size_factor = p.snapshot_size_factor;
        settings.force_snap_sync = p.force_snap;
        settings.config_servers = "server.1=a:1:2:participant\n".into();
        let s = &mut self.servers[i];
        s.rid += 1;
        s.own_durable = s.last_processed;
        let d = s.disk.borrow();
        let replayed: Vec<&Txn> = d.log.iter().filter(|(z, _)| *z > d.snap_zxid).collect();
        let tail: Vec<(i64, Bytes)> = replayed[replayed.len().saturating_sub(p.commit_log_count)..]
            .iter()
            .map(|(z, v)| (*z, data_of(*v)))
            .collect();
        let mut leader = Leader::new(
            sid,
            self.quorum.clone(),
            d.accepted,
            d.current,
            s.last_processed,
            tail,
            Box::new(SimLog(s.disk.clone())),
            settings,
        );
        drop(d);
        let acts = leader.start(self.now);
        s.role = Role::Leading(Box::new(leader));
        self.leader_actions(sid, acts)
    }

    fn follow(&mut self, sid: Sid, leader: Sid) -> Res {
        let i = self.idx(sid);
        let p = &self.p;
        let connect_by = self.now + p.tick_ms * p.init_limit as u64;
        let kind = if self.servers[i].voter {
            LearnerKind::Follower
        } else {
            LearnerKind::Observer
        };
        let s = &mut self.servers[i];
        s.rid += 1;
        let d = s.disk.borrow();
        let learner = Learner::new(
            sid,
            kind,
            d.accepted,
            d.current,
            s.last_processed,
            LearnerSettings::new(p.tick_ms, p.init_limit, p.sync_limit),
        );
        drop(d);
        let now = self.now;
        self.t(|| format!("s{sid} FOLLOWS s{leader}"));
        self.servers[i].role = Role::Learning {
            learner: Box::new(learner),
            leader,
            conn: None,
            connect_by,
            next_try: now,
            expect_snap: false,
        };
        self.try_connect(sid)
    }

    /// A learner dials its leader's quorum port: it answers while that
    /// server leads and is reachable; the learner gives up (LOOKING
    /// again) after `initLimit` ticks.
    fn try_connect(&mut self, sid: Sid) -> Res {
        let i = self.idx(sid);
        let now = self.now;
        let Role::Learning {
            leader,
            conn: None,
            connect_by,
            ..
        } = &self.servers[i].role
        else {
            return Ok(());
        };
        let (leader, connect_by) = (*leader, *connect_by);
        let li = self.idx(leader);
        let listening = matches!(&self.servers[li].role, Role::Leading(l) if !l.is_stopped());
        if !listening || !self.reachable(sid, leader) {
            if now >= connect_by {
                self.t(|| format!("s{sid} cannot connect to s{leader}"));
                self.stats.lost_leaders += 1;
                return self.become_looking(sid);
            }
            // The driver retries every 100 ms; the sim's ticks are 20 to
            // 60 ms, so it retries sooner, at random (no lockstep with the
            // leader's initLimit).
            let retry = now + self.rng.range(10, 50);
            if let Role::Learning { next_try, .. } = &mut self.servers[i].role {
                *next_try = retry;
            }
            return Ok(());
        }
        let conn = self.conns.len();
        self.conns.push(Conn {
            leader,
            learner: sid,
            leader_rid: self.servers[li].rid,
            learner_rid: self.servers[i].rid,
            open: true,
            broken: false,
            last: [0, 0],
        });
        self.t(|| format!("s{sid} CONNECTS to s{leader} conn{conn}"));
        let Role::Learning {
            learner, conn: c, ..
        } = &mut self.servers[i].role
        else {
            return Ok(());
        };
        *c = Some(conn);
        let acts = learner.connected(now);
        if let Role::Leading(l) = &mut self.servers[li].role {
            let la = l.learner_connected(conn as u64, now);
            self.leader_actions(leader, la)?;
        }
        self.learner_actions(sid, acts)
    }

    fn write(&mut self) -> Res {
        let leaders: Vec<Sid> = self
            .servers
            .iter()
            .filter(|s| matches!(&s.role, Role::Leading(l) if l.is_established()))
            .map(|s| s.sid)
            .collect();
        if leaders.is_empty() {
            return Ok(());
        }
        let sid = leaders[self.rng.below(leaders.len() as u64) as usize];
        let v = self.next_value;
        self.next_value += 1;
        let now = self.now;
        let i = self.idx(sid);
        let Role::Leading(l) = &mut self.servers[i].role else {
            return Ok(());
        };
        let z = l.next_zxid();
        let acts = l
            .propose(z, data_of(v), now)
            .map_err(|e| format!("propose failed: {e}"))?;
        self.t(|| format!("s{sid} PROPOSE {z:#x}={v}"));
        self.leader_actions(sid, acts)
    }

    // ---- network ----

    /// An election notification: to itself at once and never lost (as
    /// `QuorumCnxManager` queues it); to another server after its own
    /// random delay (so they reorder), lost across a partition, to a
    /// crash, and at random while the faults run.
    fn send_vote(&mut self, from: Sid, to: Sid, msg: Notification) {
        let bytes = msg.encode();
        let boot = self.servers[self.idx(to)].boot;
        let when = if from == to {
            self.now
        } else {
            if !self.reachable(from, to) {
                return;
            }
            if self.now < self.p.fault_ms && self.rng.chance(self.p.vote_loss) {
                self.stats.votes_lost += 1;
                return;
            }
            self.now + self.rng.range(1, self.p.vote_max_delay)
        };
        self.at(
            when,
            Ev::Vote {
                from,
                to,
                boot,
                bytes,
            },
        );
    }

    fn deliver_vote(&mut self, from: Sid, to: Sid, boot: u64, bytes: Vec<u8>) -> Res {
        let i = self.idx(to);
        if !self.servers[i].is_up() || self.servers[i].boot != boot {
            return Ok(());
        }
        if from != to && self.cut[self.idx(from)][i] {
            return Ok(());
        }
        let n = Notification::decode(&bytes).map_err(|e| format!("a bad notification: {e}"))?;
        check!(
            n.encode() == bytes,
            "a notification does not re-encode to its bytes"
        );
        let acts = self.servers[i].election.receive(from, n, self.now);
        self.election_actions(to, acts)
    }

    fn send(&mut self, conn: usize, to_leader: bool, msg: Msg) {
        let c = &self.conns[conn];
        if !c.open || c.broken {
            return;
        }
        let dir = to_leader as usize;
        let when = (self.now + self.rng.range(1, self.p.max_delay)).max(self.conns[conn].last[dir]);
        self.conns[conn].last[dir] = when;
        self.at(
            when,
            Ev::Deliver {
                conn,
                to_leader,
                msg,
            },
        );
    }

    fn close_conn(&mut self, conn: usize, tell_leader: bool, tell_learner: bool) {
        let c = &mut self.conns[conn];
        if !c.open {
            return;
        }
        c.open = false;
        let broken = c.broken;
        let last = c.last;
        if !broken {
            // After what is in flight, as TCP's FIN.
            if tell_leader {
                let when = (self.now + 1).max(last[1]);
                self.at(
                    when,
                    Ev::Closed {
                        conn,
                        to_leader: true,
                    },
                );
            }
            if tell_learner {
                let when = (self.now + 1).max(last[0]);
                self.at(
                    when,
                    Ev::Closed {
                        conn,
                        to_leader: false,
                    },
                );
            }
        }
    }

    fn deliver(&mut self, conn: usize, to_leader: bool, msg: Msg) -> Res {
        if self.conns[conn].broken {
            return Ok(());
        }
        let (lsid, learner_sid) = (self.conns[conn].leader, self.conns[conn].learner);
        let now = self.now;
        if to_leader {
            let li = self.idx(lsid);
            if self.servers[li].rid != self.conns[conn].leader_rid {
                return Ok(());
            }
            let Msg::Pkt(b) = msg else {
                return Err("snapshot sent to a leader".into());
            };
            let p = decode_all(&b)?;
            if p.typ == pkt::ACK {
                let rid = self.servers[li].rid;
                self.acks
                    .entry((lsid, rid, p.zxid))
                    .or_default()
                    .insert(learner_sid);
            }
            if let Role::Leading(l) = &mut self.servers[li].role {
                let acts = l.packet(conn as u64, p, now);
                self.leader_actions(lsid, acts)?;
            }
        } else {
            let i = self.idx(learner_sid);
            if self.servers[i].rid != self.conns[conn].learner_rid {
                return Ok(());
            }
            let Role::Learning {
                learner,
                conn: c,
                expect_snap,
                ..
            } = &mut self.servers[i].role
            else {
                return Ok(());
            };
            if *c != Some(conn) {
                return Ok(());
            }
            match msg {
                Msg::Snap(txns) => {
                    check!(*expect_snap, "s{learner_sid}: unexpected snapshot");
                    *expect_snap = false;
                    for &(z, v) in &txns {
                        self.see(z, v)?;
                    }
                    self.t(|| format!("s{learner_sid} <- snapshot of {} txns", txns.len()));
                    self.servers[i].applied = txns;
                }
                Msg::Pkt(b) => {
                    check!(!*expect_snap, "s{learner_sid}: packet where snapshot due");
                    let p = decode_all(&b)?;
                    let line = (self.trace.is_some() && p.typ != pkt::PING)
                        .then(|| format!("s{learner_sid} <- {} {:#x}", pkt::name(p.typ), p.zxid));
                    let acts = learner.packet(p, now);
                    if let Some(line) = line {
                        self.t(|| line);
                    }
                    self.learner_actions(learner_sid, acts)?;
                }
            }
        }
        Ok(())
    }

    fn closed(&mut self, conn: usize, to_leader: bool) -> Res {
        let c = &self.conns[conn];
        let (lsid, learner_sid) = (c.leader, c.learner);
        if to_leader {
            let li = self.idx(lsid);
            if self.servers[li].rid == c.leader_rid {
                if let Role::Leading(l) = &mut self.servers[li].role {
                    let acts = l.learner_gone(conn as u64);
                    self.leader_actions(lsid, acts)?;
                }
            }
        } else {
            let i = self.idx(learner_sid);
            if self.servers[i].rid == c.learner_rid {
                self.t(|| format!("s{learner_sid} connection to leader closed"));
                self.become_looking(learner_sid)?;
            }
        }
        Ok(())
    }

    // ---- disks ----

    fn log(&mut self, sid: Sid, zxid: i64, v: u64) -> Res {
        self.see(zxid, v)?;
        let i = self.idx(sid);
        let s = &mut self.servers[i];
        {
            let mut d = s.disk.borrow_mut();
            let last = d.last_zxid();
            check!(
                zxid > last,
                "s{sid} logs {zxid:#x} after {last:#x}: out of order"
            );
            d.log.push((zxid, v));
        }
        let when = (self.now + self.rng.range(1, 8)).max(self.servers[i].fsync_at);
        self.servers[i].fsync_at = when;
        let rid = self.servers[i].rid;
        self.at(when, Ev::Durable { sid, rid, zxid });
        Ok(())
    }

    fn durable(&mut self, sid: Sid, rid: u64, zxid: i64) -> Res {
        let i = self.idx(sid);
        if self.servers[i].rid != rid || !self.servers[i].is_up() {
            return Ok(());
        }
        {
            let mut d = self.servers[i].disk.borrow_mut();
            let n = d.log.iter().take_while(|(z, _)| *z <= zxid).count();
            d.durable = d.durable.max(n);
        }
        let s = &mut self.servers[i];
        match &mut s.role {
            Role::Leading(l) => {
                s.own_durable = s.own_durable.max(zxid);
                let acts = l.own_durable(zxid);
                self.leader_actions(sid, acts)
            }
            Role::Learning { learner, .. } => {
                let acts = learner.durable(zxid);
                self.learner_actions(sid, acts)
            }
            _ => Ok(()),
        }
    }

    // ---- the machines' actions ----

    fn leader_actions(&mut self, sid: Sid, acts: Vec<LeaderAction>) -> Res {
        let i = self.idx(sid);
        for a in acts {
            match a {
                LeaderAction::Send { to, pkt } => {
                    match pkt.typ {
                        pkt::DIFF => self.stats.diffs += 1,
                        pkt::TRUNC => self.stats.truncs += 1,
                        pkt::SNAP => self.stats.snaps += 1,
                        _ => {}
                    }
                    if pkt.typ != pkt::PING {
                        self.t(|| {
                            format!("s{sid} -> conn{to} {} {:#x}", pkt::name(pkt.typ), pkt.zxid)
                        });
                    }
                    self.send(to as usize, false, Msg::Pkt(pkt.encode().freeze()));
                }
                LeaderAction::SendSnapshot { to } => {
                    let snap = self.servers[i].applied.clone();
                    self.send(to as usize, false, Msg::Snap(snap));
                }
                LeaderAction::Close { to, why } => {
                    self.t(|| format!("s{sid} closes conn{to}: {why}"));
                    self.close_conn(to as usize, false, true);
                }
                LeaderAction::PersistAcceptedEpoch(e) => self.persist(sid, Some(e), None)?,
                LeaderAction::PersistCurrentEpoch(e) => self.persist(sid, None, Some(e))?,
                LeaderAction::Log { zxid, data } => self.log(sid, zxid, value_of(&data))?,
                LeaderAction::Commit { zxid, data } => {
                    self.leader_commit(sid, zxid, value_of(&data))?
                }
                LeaderAction::Established { epoch } => {
                    self.servers[i].election.update_election_vote(epoch);
                    self.established(sid, epoch)?
                }
                LeaderAction::StepDown { why } => {
                    self.t(|| format!("s{sid} STEPS DOWN: {why}"));
                    self.stats.step_downs += 1;
                    return self.become_looking(sid);
                }
                // SimLog is read in place, never deferred.
                LeaderAction::ReadLog { .. } => {}
                LeaderAction::Request { .. }
                | LeaderAction::Touch { .. }
                | LeaderAction::Revalidate { .. } => {}
            }
        }
        Ok(())
    }

    fn learner_actions(&mut self, sid: Sid, acts: Vec<LearnerAction>) -> Res {
        let i = self.idx(sid);
        for a in acts {
            let Role::Learning { conn, .. } = &self.servers[i].role else {
                return Ok(());
            };
            let Some(conn) = *conn else {
                return Err(format!("s{sid}: learner acts before it connects"));
            };
            match a {
                LearnerAction::Send(p) => {
                    if p.typ == pkt::ACK && p.zxid & 0xffff_ffff != 0 {
                        let d = self.servers[i].disk.borrow();
                        let ok = d.log[..d.durable].iter().any(|(z, _)| *z == p.zxid);
                        check!(ok, "s{sid} acks {:#x} before it is durable", p.zxid);
                    }
                    if p.typ != pkt::PING {
                        self.t(|| format!("s{sid} -> {} {:#x}", pkt::name(p.typ), p.zxid));
                    }
                    self.send(conn, true, Msg::Pkt(p.encode().freeze()));
                }
                LearnerAction::ReplyPing { ping } => {
                    let p = wire::ping_reply(&ping, &[]);
                    self.send(conn, true, Msg::Pkt(p.encode().freeze()));
                }
                LearnerAction::PersistAcceptedEpoch(e) => self.persist(sid, Some(e), None)?,
                LearnerAction::PersistCurrentEpoch(e) => self.persist(sid, None, Some(e))?,
                LearnerAction::LoadSnapshot { zxid } => {
                    if let Role::Learning { expect_snap, .. } = &mut self.servers[i].role {
                        *expect_snap = true;
                    }
                    self.servers[i].last_processed = zxid;
                }
                LearnerAction::Truncate { to } => {
                    let s = &mut self.servers[i];
                    let mut d = s.disk.borrow_mut();
                    d.log.retain(|(z, _)| *z <= to);
                    d.base.retain(|(z, _)| *z <= to);
                    d.snap_zxid = d.snap_zxid.min(to);
                    d.durable = d.durable.min(d.log.len());
                    s.applied = d.history();
                    s.last_processed = to;
                }
                LearnerAction::ApplyUnlogged { zxid, data } => {
                    self.apply(sid, zxid, value_of(&data))?
                }
                LearnerAction::TakeSnapshot => {
                    let s = &mut self.servers[i];
                    let mut d = s.disk.borrow_mut();
                    d.base = s.applied.clone();
                    d.snap_zxid = s.last_processed;
                    d.log.clear();
                    d.durable = 0;
                }
                LearnerAction::Log { zxid, data } => self.log(sid, zxid, value_of(&data))?,
                LearnerAction::Commit { zxid, data } => self.apply(sid, zxid, value_of(&data))?,
                LearnerAction::Established { epoch } => {
                    self.t(|| format!("s{sid} UPTODATE in epoch {epoch}"));
                    self.servers[i].election.update_election_vote(epoch);
                }
                LearnerAction::LostLeader { why } => {
                    self.t(|| format!("s{sid} LOST LEADER: {why}"));
                    self.stats.lost_leaders += 1;
                    return self.become_looking(sid);
                }
                LearnerAction::LeaderConfig(_)
                | LearnerAction::Revalidated { .. }
                | LearnerAction::SyncDone => {}
            }
        }
        Ok(())
    }

    fn persist(&mut self, sid: Sid, accepted: Option<i64>, current: Option<i64>) -> Res {
        let i = self.idx(sid);
        let mut d = self.servers[i].disk.borrow_mut();
        if let Some(e) = accepted {
            check!(
                e >= d.accepted,
                "s{sid} accepted epoch goes back: {} -> {e}",
                d.accepted
            );
            d.accepted = e;
        }
        if let Some(e) = current {
            check!(
                e >= d.current,
                "s{sid} current epoch goes back: {} -> {e}",
                d.current
            );
            check!(
                e <= d.accepted,
                "s{sid} current epoch {e} past accepted {}",
                d.accepted
            );
            d.current = e;
        }
        Ok(())
    }

    // ---- invariants ----

    /// No two txns share a zxid, anywhere, ever.
    fn see(&mut self, zxid: i64, v: u64) -> Res {
        let old = *self.values.entry(zxid).or_insert(v);
        check!(old == v, "two txns at zxid {zxid:#x}: {old} and {v}");
        Ok(())
    }

    fn committed_index(&self, zxid: i64) -> Option<usize> {
        self.committed.binary_search_by_key(&zxid, |(z, _)| *z).ok()
    }

    fn established(&mut self, sid: Sid, epoch: i64) -> Res {
        self.t(|| format!("s{sid} ESTABLISHED epoch {epoch}"));
        self.stats.established += 1;
        if let Some(other) = self.leaders.insert(epoch, sid) {
            check!(
                other == sid,
                "two leaders of epoch {epoch}: s{other} and s{sid}"
            );
        }
        let i = self.idx(sid);
        let applied = &self.servers[i].applied;
        let n = self.committed.len();
        check!(
            applied.len() >= n && applied[..n] == self.committed[..],
            "new leader s{sid} of epoch {epoch} lacks committed txns: has {} of {n}, last committed {:#x}",
            applied.iter().zip(&self.committed).take_while(|(a, b)| a == b).count(),
            self.committed.last().map(|t| t.0).unwrap_or(0)
        );
        // Its whole history is committed now (a quorum acked NEWLEADER).
        let extra: Vec<Txn> = applied[n..].to_vec();
        self.committed.extend(extra);
        Ok(())
    }

    fn leader_commit(&mut self, sid: Sid, zxid: i64, v: u64) -> Res {
        self.see(zxid, v)?;
        let i = self.idx(sid);
        let rid = self.servers[i].rid;
        let mut ackers = self.acks.remove(&(sid, rid, zxid)).unwrap_or_default();
        if self.servers[i].own_durable >= zxid {
            ackers.insert(sid);
        }
        check!(
            self.quorum.contains_quorum(&ackers),
            "s{sid} commits {zxid:#x} acked only by {ackers:?}"
        );
        self.t(|| format!("s{sid} COMMIT {zxid:#x}={v} acked by {ackers:?}"));
        self.stats.commits += 1;
        if self.now >= self.p.fault_ms {
            self.quiet_commits += 1;
        }
        match self.committed_index(zxid) {
            Some(k) => check!(
                self.committed[k].1 == v,
                "commit {zxid:#x} changes its value"
            ),
            None => {
                let last = self.committed.last().map(|t| t.0).unwrap_or(0);
                let mine = self.servers[i].applied.last().map(|t| t.0).unwrap_or(0);
                check!(
                    zxid > last && mine == last,
                    "s{sid} commits {zxid:#x} off the chain: chain ends {last:#x}, its tree {mine:#x}"
                );
                self.committed.push((zxid, v));
            }
        }
        self.servers[i].applied.push((zxid, v));
        self.servers[i].last_processed = zxid;
        Ok(())
    }

    /// A learner applies a txn: it must be committed, and the next one in
    /// the chain after what its tree has.
    fn apply(&mut self, sid: Sid, zxid: i64, v: u64) -> Res {
        self.see(zxid, v)?;
        let i = self.idx(sid);
        let Some(k) = self.committed_index(zxid) else {
            return Err(format!("s{sid} applies {zxid:#x}, which is not committed"));
        };
        let prev = if k == 0 { 0 } else { self.committed[k - 1].0 };
        let mine = self.servers[i].applied.last().map(|t| t.0).unwrap_or(0);
        check!(
            mine == prev,
            "s{sid} applies {zxid:#x} on a tree at {mine:#x}; the chain has {prev:#x} before it"
        );
        self.servers[i].applied.push((zxid, v));
        self.servers[i].last_processed = zxid;
        Ok(())
    }

    fn final_checks(&mut self) -> Res {
        // Every disk holds a prefix of the committed chain, then only txns
        // that were never committed.
        for s in &self.servers {
            let h = s.disk.borrow().history();
            let k = h
                .iter()
                .zip(&self.committed)
                .take_while(|(a, b)| a == b)
                .count();
            for t in &h[k..] {
                check!(
                    self.committed_index(t.0).is_none(),
                    "s{} has committed {:#x} after a gap at {k}: disk {:x?} .. committed {:x?} (snapshot at {:#x})",
                    s.sid,
                    t.0,
                    &h[k.saturating_sub(2)..(k + 3).min(h.len())],
                    &self.committed[k.saturating_sub(2)..(k + 3).min(self.committed.len())],
                    s.disk.borrow().snap_zxid
                );
            }
        }
        // Liveness once the faults stop.
        let epoch = self.leaders.keys().next_back().copied();
        let leader = self.servers.iter().find(
            |s| matches!(&s.role, Role::Leading(l) if l.is_established() && l.epoch() == epoch),
        );
        check!(
            leader.is_some(),
            "no leader established at the end (last epoch {epoch:?})"
        );
        let roles: Vec<String> = self.servers.iter().map(Server::role_name).collect();
        check!(
            self.converged_at.is_some() && self.converged(),
            "the servers did not converge on one established leader in {} ms after the faults: {roles:?}",
            self.p.quiet_ms
        );
        let took = self.converged_at.unwrap_or(0) - self.p.fault_ms;
        self.stats.slowest_convergence_ms = took;
        self.stats.stranded = self.stranded();
        check!(
            self.quiet_commits > 0 || self.p.write_rate == 0,
            "nothing committed after the faults stopped"
        );
        Ok(())
    }

    /// Every server follows (or observes) one established leader of the
    /// latest epoch, in sync with it; the leader and its synced voters
    /// are a quorum. The one exception is ZooKeeper's own: a server that
    /// accepted a later epoch (from a would-be leader that never got
    /// established) refuses this leader's LEADERINFO ("Epoch of leader is
    /// lower") and waits for the next election; see [`Sim::stranded`].
    fn converged(&self) -> bool {
        let Some((leader, epoch)) = self.established_leader() else {
            return false;
        };
        let mut synced = vec![leader];
        for s in &self.servers {
            match &s.role {
                _ if s.sid == leader => {}
                Role::Learning {
                    learner,
                    leader: l,
                    conn: Some(_),
                    ..
                } if *l == leader && learner.is_established() => synced.push(s.sid),
                _ if s.disk.borrow().accepted > epoch => {}
                _ => return false,
            }
        }
        self.quorum.contains_quorum(&synced)
    }

    /// The established leader of the latest epoch, and the epoch.
    fn established_leader(&self) -> Option<(Sid, i64)> {
        let epoch = self.leaders.keys().next_back().copied()?;
        self.servers
            .iter()
            .find(|s| matches!(&s.role, Role::Leading(l) if l.is_established() && l.epoch() == Some(epoch)))
            .map(|s| (s.sid, epoch))
    }

    /// Servers that cannot follow the established leader: they accepted a
    /// later epoch than its. ZooKeeper 3.8's learner refuses such a leader
    /// too (`registerWithLeader`), so they stay out until the next
    /// election.
    fn stranded(&self) -> u64 {
        let Some((_, epoch)) = self.established_leader() else {
            return 0;
        };
        self.servers
            .iter()
            .filter(|s| s.disk.borrow().accepted > epoch)
            .count() as u64
    }
}

impl Server {
    fn is_up(&self) -> bool {
        !matches!(self.role, Role::Down)
    }

    fn role_name(&self) -> String {
        match &self.role {
            Role::Down => format!("s{} down", self.sid),
            Role::Looking => format!("s{} looking", self.sid),
            Role::Leading(l) => format!(
                "s{} leading epoch {:?} established {}",
                self.sid,
                l.epoch(),
                l.is_established()
            ),
            Role::Learning {
                learner,
                leader,
                conn,
                ..
            } => format!(
                "s{} learning from s{leader} conn {conn:?} established {}",
                self.sid,
                learner.is_established()
            ),
        }
    }
}

fn decode_all(b: &[u8]) -> Result<QuorumPacket, String> {
    match wire::decode(b) {
        Ok(Some((p, n))) if n == b.len() => {
            if p.encode()[..] != b[..] {
                return Err("packet does not re-encode to its bytes".into());
            }
            Ok(p)
        }
        other => Err(format!("packet does not decode: {other:?}")),
    }
}

fn shape(seed: u64) -> (usize, usize) {
    match seed % 3 {
        0 => (3, 0),
        1 => (5, 0),
        _ => (3, 1),
    }
}

fn run_seed(seed: u64, trace: bool) -> (Res, Option<VecDeque<String>>, Stats) {
    let (v, o) = shape(seed);
    // `SIM_ZAB_ORACLE=1`: the election oracle instead of the real one.
    let oracle = std::env::var_os("SIM_ZAB_ORACLE").is_some_and(|v| v == "1");
    let mut sim = Sim::new(seed, v, o, oracle, trace);
    let r = sim.run();
    (r, sim.trace.take(), sim.stats)
}

#[test]
fn zab_survives_faults() {
    if let Ok(one) = std::env::var("SIM_ZAB_SEED") {
        let seed: u64 = one.parse().expect("SIM_ZAB_SEED is a number");
        let (r, tr, stats) = run_seed(seed, true);
        for l in tr.unwrap_or_default() {
            println!("{l}");
        }
        println!("{stats:?}");
        r.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        return;
    }
    let seeds: u64 = std::env::var("SIM_ZAB_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let start = std::time::Instant::now();
    // Seeds are independent: spread them over the cores, each thread
    // taking every k-th seed; the lowest failing seed is reported.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8) as u64;
    let results: Vec<(Stats, Option<(u64, String)>)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                sc.spawn(move || {
                    let mut total = Stats::default();
                    let mut seed = t;
                    while seed < seeds {
                        let (r, _, stats) = run_seed(seed, false);
                        total.add(&stats);
                        if let Err(e) = r {
                            return (total, Some((seed, e)));
                        }
                        seed += threads;
                    }
                    (total, None)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("sim thread"))
            .collect()
    });
    let mut total = Stats::default();
    for (s, _) in &results {
        total.add(s);
    }
    if let Some((seed, e)) = results
        .into_iter()
        .filter_map(|(_, f)| f)
        .min_by_key(|f| f.0)
    {
        let (_, tr, _) = run_seed(seed, true);
        let tr = tr.unwrap_or_default();
        for l in tr.iter().skip(tr.len().saturating_sub(80)) {
            eprintln!("{l}");
        }
        panic!(
            "seed {seed} ({:?}): {e}\nrerun: SIM_ZAB_SEED={seed}",
            shape(seed)
        );
    }
    eprintln!("{seeds} seeds in {:?}: {total:?}", start.elapsed());
}
