//! Seeded, deterministic simulation of FastLeaderElection.
//!
//! 3 or 5 voters (sometimes with an observer) run [`Election`] over a
//! simulated network that drops, delays and reorders messages, partitions
//! servers and crashes and restarts them (a restarted server keeps its zxid
//! and epoch and starts a fresh election object, as a restarted JVM does).
//! A small stand-in for Zab moves servers after a decision: a leader that
//! gathers a quorum of followers within the init limit establishes a new
//! epoch (everyone in it takes the epoch and the leader's zxid, and the
//! leader keeps committing), and a leader without a quorum, or a follower
//! without a live leader, goes back to LOOKING after the sync limit.
//!
//! Checked on every decision:
//! * the vote names a voter, and the state matches it (LEADING iff itself);
//! * the decision rests on a quorum of voters; for a decision in the round
//!   (`recvset`) those votes are in the round and name the same leader;
//! * the chosen vote is the maximum, by (peer epoch, zxid, sid), of the
//!   initial votes of the quorum members whose LOOKING votes made the
//!   decision (each such member's initial vote is read off the message it
//!   sent), and every LOOKING notification a voter sends carries a vote at
//!   least as high as its own initial vote;
//! * (of the Zab stand-in) no two leaders establish the same epoch.
//!
//! After the faults stop (the network heals, drops stop, delivery is FIFO
//! per link, crashed servers restart) every server must, within the settle
//! window, agree on one established leader: the voters FOLLOWING it, the
//! observers OBSERVING it.
//!
//! `SIM_ELECTION_SEEDS` sets how many seeds run (default 2000 in release,
//! 300 in debug builds); `SIM_ELECTION_SEED` runs one seed with a trace.
//! A failure prints the seed and the trace of the run.

use bytes::Bytes;
use corral::quorum::election::{
    Action, Election, ElectionSettings, Notification, ServerState, Support,
};
use corral::quorum::{make_zxid, Quorum, Sid};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;

/// Zab stand-in timing: tick 2000 ms, initLimit 5, syncLimit 2.
const INIT_LIMIT_MS: u64 = 10_000;
const SYNC_LIMIT_MS: u64 = 4_000;
const ZAB_TICK_MS: u64 = 200;
/// After the faults stop, everyone must agree within this.
const SETTLE_MS: u64 = 300_000;

#[path = "common/rng.rs"]
mod rng;
use rng::SplitMix;

/// (peer epoch, zxid, sid): the order of `totalOrderPredicate`.
type Rank = (i64, i64, Sid);

struct Node {
    sid: Sid,
    voter: bool,
    alive: bool,
    incarnation: u64,
    election: Election,
    timer_at: Option<u64>,
    epoch: i64,
    zxid: i64,
    established: bool,
    role_since: u64,
    last_ok: u64,
    /// The last LOOKING notification from each voter, with the sender's
    /// initial vote when it sent it.
    shadow: BTreeMap<Sid, (Notification, Option<Rank>)>,
    /// The last FOLLOWING/LEADING notification from each voter since this
    /// server last started an election.
    settled: BTreeMap<Sid, Notification>,
}

enum Event {
    Deliver {
        from: Sid,
        to: Sid,
        to_incarnation: u64,
        msg: Notification,
        meta: Option<Rank>,
    },
    Timer {
        sid: Sid,
        incarnation: u64,
        at: u64,
    },
    Boot {
        sid: Sid,
    },
    Tick,
    Fault,
    Heal,
}

#[derive(Default, Debug, Clone, Copy)]
struct Stats {
    decisions: u64,
    joined: u64,
    max_rank_checks: u64,
    messages: u64,
    settle_ms: u64,
}

struct Sim {
    rng: SplitMix,
    now: u64,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Event>,
    nodes: Vec<Node>,
    quorum: Quorum,
    config: Bytes,
    group: Vec<u8>,
    faulty: bool,
    heal_at: u64,
    end: u64,
    drop_pct: u64,
    link_last: HashMap<(Sid, Sid), u64>,
    epochs: BTreeMap<i64, Sid>,
    converged_at: Option<u64>,
    stats: Stats,
    trace: Option<Vec<String>>,
}

macro_rules! trace {
    ($sim:expr, $($arg:tt)*) => {
        if let Some(t) = $sim.trace.as_mut() {
            let mut line = format!("{:>9} ", $sim.now);
            let _ = write!(line, $($arg)*);
            t.push(line);
        }
    };
}

fn rank_of(n: &Notification) -> Rank {
    (n.peer_epoch, n.zxid, n.leader)
}

impl Sim {
    fn new(seed: u64, trace: bool) -> Sim {
        let mut rng = SplitMix(seed);
        let voters: i64 = if rng.percent(50) { 3 } else { 5 };
        let observers: i64 = if rng.percent(30) { 1 } else { 0 };
        let quorum = Quorum::new(1..=voters, voters + 1..=voters + observers);
        let config = Bytes::from(format!("sim voters={voters} observers={observers}"));
        let settings = ElectionSettings::default();
        let mut nodes = Vec::new();
        // Servers start with different histories, as a past ensemble
        // leaves them: a quorum reached epoch `base`, a minority may lag one
        // epoch behind, and zxids differ within an epoch.
        let base = rng.range(0, 3) as i64;
        for sid in 1..=voters + observers {
            let lagging = base > 0 && sid <= voters / 2 && rng.percent(50);
            let epoch = if lagging { base - 1 } else { base };
            let zxid = make_zxid(epoch, rng.range(0, 3) as i64);
            nodes.push(Node {
                sid,
                voter: quorum.is_voter(sid),
                alive: true,
                incarnation: 0,
                election: Election::new(sid, quorum.clone(), config.clone(), settings),
                timer_at: None,
                epoch,
                zxid,
                established: false,
                role_since: 0,
                last_ok: 0,
                shadow: BTreeMap::new(),
                settled: BTreeMap::new(),
            });
        }
        let n = nodes.len();
        let heal_at = rng.range(2_000, 60_000);
        let drop_pct = rng.range(0, 30);
        let mut sim = Sim {
            rng,
            now: 0,
            seq: 0,
            heap: BinaryHeap::new(),
            events: HashMap::new(),
            nodes,
            quorum,
            config,
            group: vec![0; n],
            faulty: true,
            heal_at,
            end: heal_at + SETTLE_MS,
            drop_pct,
            link_last: HashMap::new(),
            epochs: BTreeMap::new(),
            converged_at: None,
            stats: Stats::default(),
            trace: trace.then(Vec::new),
        };
        trace!(
            sim,
            "seed {seed}: {voters} voters, {observers} observers, faults until {heal_at}, drop {drop_pct}%"
        );
        sim.schedule(0, Event::Tick);
        let first_fault = sim.rng.range(0, 2_000);
        sim.schedule(first_fault, Event::Fault);
        sim.schedule(heal_at, Event::Heal);
        for i in 0..n {
            // Servers boot at slightly different times.
            let at = sim.rng.range(0, 500);
            let sid = sim.nodes[i].sid;
            sim.schedule(at, Event::Boot { sid });
        }
        sim
    }

    fn node(&mut self, sid: Sid) -> &mut Node {
        &mut self.nodes[(sid - 1) as usize]
    }

    fn schedule(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn linked(&self, a: Sid, b: Sid) -> bool {
        self.group[(a - 1) as usize] == self.group[(b - 1) as usize]
    }

    fn up(&self, sid: Sid) -> bool {
        self.nodes[(sid - 1) as usize].alive
    }

    fn run(&mut self) -> Result<Stats, String> {
        while let Some(Reverse((at, seq))) = self.heap.pop() {
            if at > self.end {
                break;
            }
            self.now = at;
            let Some(ev) = self.events.remove(&seq) else {
                continue;
            };
            self.event(ev)?;
        }
        self.now = self.end;
        self.check_converged()
            .map_err(|e| format!("no agreement {SETTLE_MS} ms after the faults stopped: {e}"))?;
        let settled = self.converged_at.unwrap_or(self.end);
        self.stats.settle_ms = settled.saturating_sub(self.heal_at);
        Ok(self.stats)
    }

    fn event(&mut self, ev: Event) -> Result<(), String> {
        match ev {
            Event::Deliver {
                from,
                to,
                to_incarnation,
                msg,
                meta,
            } => {
                let n = &self.nodes[(to - 1) as usize];
                if !n.alive || n.incarnation != to_incarnation || !self.linked(from, to) {
                    return Ok(());
                }
                trace!(
                    self,
                    "{from}->{to} {:?} leader={} zxid={:#x} round={} epoch={}",
                    msg.server_state(),
                    msg.leader,
                    msg.zxid,
                    msg.election_epoch,
                    msg.peer_epoch
                );
                if self.quorum.is_voter(from) {
                    match msg.server_state() {
                        Some(ServerState::Looking) => {
                            self.node(to).shadow.insert(from, (msg.clone(), meta));
                        }
                        Some(ServerState::Following | ServerState::Leading) => {
                            self.node(to).settled.insert(from, msg.clone());
                        }
                        _ => {}
                    }
                }
                let now = self.now;
                let actions = self.node(to).election.receive(from, msg, now);
                self.apply(to, actions)?;
            }
            Event::Timer {
                sid,
                incarnation,
                at,
            } => {
                let n = self.node(sid);
                if !n.alive || n.incarnation != incarnation {
                    return Ok(());
                }
                if n.election.next_deadline() != Some(at) {
                    return Ok(());
                }
                n.timer_at = None;
                let now = self.now;
                let actions = self.node(sid).election.timeout(now);
                self.apply(sid, actions)?;
            }
            Event::Boot { sid } => self.boot(sid)?,
            Event::Tick => {
                self.zab_tick()?;
                if !self.faulty && self.converged_at.is_none() && self.check_converged().is_ok() {
                    self.converged_at = Some(self.now);
                }
                self.schedule(self.now + ZAB_TICK_MS, Event::Tick);
            }
            Event::Fault => {
                if !self.faulty {
                    return Ok(());
                }
                self.fault()?;
                let next = self.now + self.rng.range(100, 4_000);
                self.schedule(next, Event::Fault);
            }
            Event::Heal => {
                trace!(self, "HEAL: faults stop");
                self.faulty = false;
                self.group.iter_mut().for_each(|g| *g = 0);
                for i in 0..self.nodes.len() {
                    if !self.nodes[i].alive {
                        let sid = self.nodes[i].sid;
                        self.restart(sid)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn boot(&mut self, sid: Sid) -> Result<(), String> {
        let now = self.now;
        let n = self.node(sid);
        if !n.alive || n.election.is_running() || n.election.state() != ServerState::Looking {
            return Ok(());
        }
        let (zxid, epoch) = (n.zxid, n.epoch);
        let actions = n.election.look(zxid, epoch, now);
        trace!(self, "{sid} boots, zxid={zxid:#x} epoch={epoch}");
        self.apply(sid, actions)
    }

    fn fault(&mut self) -> Result<(), String> {
        let n = self.nodes.len() as u64;
        match self.rng.below(100) {
            0..=29 => {
                let sid = self.rng.range(1, n) as Sid;
                if self.up(sid) {
                    trace!(self, "CRASH {sid}");
                    let node = self.node(sid);
                    node.alive = false;
                    node.timer_at = None;
                }
            }
            30..=54 => {
                let sid = self.rng.range(1, n) as Sid;
                if !self.up(sid) {
                    self.restart(sid)?;
                }
            }
            55..=79 => {
                let groups = self.rng.range(2, 3);
                for i in 0..self.group.len() {
                    self.group[i] = self.rng.below(groups) as u8;
                }
                trace!(self, "PARTITION {:?}", self.group);
            }
            _ => {
                self.group.iter_mut().for_each(|g| *g = 0);
                trace!(self, "PARTITION healed");
            }
        }
        Ok(())
    }

    fn restart(&mut self, sid: Sid) -> Result<(), String> {
        let now = self.now;
        let quorum = self.quorum.clone();
        let config = self.config.clone();
        let node = self.node(sid);
        node.alive = true;
        node.incarnation += 1;
        node.established = false;
        node.timer_at = None;
        node.shadow.clear();
        node.settled.clear();
        node.election = Election::new(sid, quorum, config, ElectionSettings::default());
        let (zxid, epoch) = (node.zxid, node.epoch);
        let actions = node.election.look(zxid, epoch, now);
        trace!(self, "RESTART {sid}, zxid={zxid:#x} epoch={epoch}");
        self.apply(sid, actions)
    }

    fn back_to_looking(&mut self, sid: Sid, why: &str) -> Result<(), String> {
        let now = self.now;
        let node = self.node(sid);
        node.established = false;
        node.settled.clear();
        let (zxid, epoch) = (node.zxid, node.epoch);
        let actions = node.election.look(zxid, epoch, now);
        trace!(
            self,
            "{sid} LOOKING again ({why}), zxid={zxid:#x} epoch={epoch}"
        );
        self.apply(sid, actions)
    }

    /// Carries out what an election returned, checking it.
    fn apply(&mut self, sid: Sid, actions: Vec<Action>) -> Result<(), String> {
        for a in actions {
            match a {
                Action::Send { to, msg } => self.send(sid, to, msg)?,
                Action::Decided {
                    state,
                    vote,
                    support,
                } => self.decided(sid, state, vote, support)?,
            }
        }
        let n = self.node(sid);
        let next = n.election.next_deadline();
        if next.is_some() && next != n.timer_at {
            n.timer_at = next;
            let incarnation = n.incarnation;
            if let Some(at) = next {
                self.schedule(
                    at,
                    Event::Timer {
                        sid,
                        incarnation,
                        at,
                    },
                );
            }
        }
        Ok(())
    }

    fn send(&mut self, from: Sid, to: Sid, msg: Notification) -> Result<(), String> {
        self.stats.messages += 1;
        let node = &self.nodes[(from - 1) as usize];
        let mut meta = None;
        if !node.voter && msg.server_state() == Some(ServerState::Looking) && msg.leader == from {
            return Err(format!("observer {from} proposed itself"));
        }
        if node.voter && node.election.is_running() {
            let init: Rank = (node.epoch, node.zxid, node.sid);
            meta = Some(init);
            if msg.server_state() == Some(ServerState::Looking)
                && self.quorum.is_voter(to)
                && rank_of(&msg) < init
            {
                return Err(format!(
                    "{from} sent {to} a LOOKING vote {:?} below its own initial vote {init:?}",
                    rank_of(&msg)
                ));
            }
        }
        let to_incarnation = self.nodes[(to - 1) as usize].incarnation;
        let at = if self.faulty {
            if !self.linked(from, to) || self.rng.percent(self.drop_pct) {
                return Ok(());
            }
            self.now + self.rng.range(1, 400)
        } else {
            let last = self.link_last.get(&(from, to)).copied().unwrap_or(0);
            (self.now + self.rng.range(1, 20)).max(last)
        };
        self.link_last.insert((from, to), at);
        self.schedule(
            at,
            Event::Deliver {
                from,
                to,
                to_incarnation,
                msg,
                meta,
            },
        );
        Ok(())
    }

    fn decided(
        &mut self,
        sid: Sid,
        state: ServerState,
        vote: corral::quorum::election::Vote,
        support: Support,
    ) -> Result<(), String> {
        self.stats.decisions += 1;
        trace!(
            self,
            "{sid} DECIDES {state:?} leader={} zxid={:#x} round={} epoch={} {support:?}",
            vote.leader,
            vote.zxid,
            vote.election_epoch,
            vote.peer_epoch
        );
        if !self.quorum.is_voter(vote.leader) {
            return Err(format!("{sid} decided on non-voter {}", vote.leader));
        }
        let node = &self.nodes[(sid - 1) as usize];
        let expected = if vote.leader == sid {
            ServerState::Leading
        } else if node.voter {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        if state != expected || node.election.state() != state {
            return Err(format!(
                "{sid} decided {state:?} for leader {}",
                vote.leader
            ));
        }
        if !self.quorum.contains_quorum(support.sids()) {
            return Err(format!("{sid} decided without a quorum: {support:?}"));
        }
        if let Support::Round(sids) = &support {
            let round: BTreeMap<Sid, corral::quorum::election::Vote> =
                node.election.round_votes().map(|(s, v)| (s, *v)).collect();
            let mut checks = 0;
            for b in sids {
                let Some(v) = round.get(b) else {
                    return Err(format!("{sid}: supporter {b} has no vote in the round"));
                };
                if v.leader != vote.leader || v.election_epoch != vote.election_epoch {
                    return Err(format!(
                        "{sid}: supporter {b} voted {v:?}, decided {vote:?}"
                    ));
                }
                if !node.voter {
                    continue;
                }
                let decided: Rank = (vote.peer_epoch, vote.zxid, vote.leader);
                let same = |n: &Notification| {
                    rank_of(n) == decided && n.election_epoch == vote.election_epoch
                };
                let init = if *b == sid {
                    (v.state == ServerState::Looking && (v.peer_epoch, v.zxid, v.leader) == decided)
                        .then_some((node.epoch, node.zxid, sid))
                } else {
                    match node.shadow.get(b) {
                        Some((m, Some(init))) if same(m) => Some(*init),
                        _ => None,
                    }
                };
                if let Some(init) = init {
                    checks += 1;
                    if decided < init {
                        return Err(format!(
                            "{sid} decided {decided:?} but supporter {b} started from {init:?}"
                        ));
                    }
                }
            }
            self.stats.max_rank_checks += checks;
        }
        if let Support::Established(sids) = &support {
            self.stats.joined += 1;
            // Each supporter told this server it follows (or is) the
            // leader, and the leader said it leads.
            for b in sids {
                match node.settled.get(b) {
                    Some(m) if m.leader == vote.leader => {}
                    other => {
                        return Err(format!(
                            "{sid} joined {} on {b}'s word, but {b} said {other:?}",
                            vote.leader
                        ))
                    }
                }
            }
            let leader_said = node
                .settled
                .get(&vote.leader)
                .and_then(|m| m.server_state());
            if vote.leader != sid && leader_said != Some(ServerState::Leading) {
                return Err(format!(
                    "{sid} joined {} without it saying it leads",
                    vote.leader
                ));
            }
        }
        let now = self.now;
        let node = self.node(sid);
        node.role_since = now;
        node.last_ok = now;
        node.established = false;
        Ok(())
    }

    /// The Zab stand-in, once per tick.
    fn zab_tick(&mut self) -> Result<(), String> {
        let now = self.now;
        let sids: Vec<Sid> = self.nodes.iter().map(|n| n.sid).collect();
        for sid in sids {
            let node = &self.nodes[(sid - 1) as usize];
            if !node.alive {
                continue;
            }
            match node.election.state() {
                ServerState::Looking => {}
                ServerState::Leading => {
                    let support: Vec<Sid> = self.followers_of(sid);
                    let has_quorum = self.quorum.contains_quorum(&support);
                    let node = &self.nodes[(sid - 1) as usize];
                    if !node.established {
                        if has_quorum {
                            self.establish(sid, &support)?;
                        } else if now - node.role_since > INIT_LIMIT_MS {
                            self.back_to_looking(sid, "no quorum of followers")?;
                        }
                    } else if has_quorum {
                        self.node(sid).last_ok = now;
                        if self.rng.percent(20) {
                            // Commit a txn on the leader and the quorum.
                            let zxid = self.node(sid).zxid + 1;
                            for f in support {
                                self.node(f).zxid = zxid;
                            }
                        }
                    } else if now - node.last_ok > SYNC_LIMIT_MS {
                        self.back_to_looking(sid, "lost the quorum")?;
                    }
                }
                ServerState::Following | ServerState::Observing => {
                    let leader = node.election.current_vote().leader;
                    let l = &self.nodes[(leader - 1) as usize];
                    let healthy = l.alive
                        && self.linked(sid, leader)
                        && l.election.state() == ServerState::Leading
                        && l.election.current_vote().leader == leader;
                    if healthy && l.established {
                        if node.epoch > l.epoch {
                            self.back_to_looking(sid, "leader epoch behind ours")?;
                            continue;
                        }
                        let (epoch, zxid) = (l.epoch, l.zxid);
                        let n = self.node(sid);
                        if n.epoch != epoch {
                            n.election.update_election_vote(epoch);
                        }
                        n.epoch = epoch;
                        n.zxid = zxid;
                        n.last_ok = now;
                    } else if healthy {
                        if now - node.role_since > INIT_LIMIT_MS {
                            self.back_to_looking(sid, "leader never established")?;
                        }
                    } else if now - node.last_ok > SYNC_LIMIT_MS {
                        self.back_to_looking(sid, "no leader")?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The leader and the live, reachable voters following it.
    fn followers_of(&self, leader: Sid) -> Vec<Sid> {
        self.nodes
            .iter()
            .filter(|n| {
                n.sid == leader
                    || (n.alive
                        && n.voter
                        && self.linked(n.sid, leader)
                        && n.election.state() == ServerState::Following
                        && n.election.current_vote().leader == leader)
            })
            .map(|n| n.sid)
            .collect()
    }

    fn establish(&mut self, leader: Sid, support: &[Sid]) -> Result<(), String> {
        let epoch = support
            .iter()
            .map(|s| self.nodes[(*s - 1) as usize].epoch)
            .max()
            .unwrap_or(0)
            + 1;
        if let Some(other) = self.epochs.insert(epoch, leader) {
            return Err(format!(
                "epoch {epoch} established by both {other} and {leader}"
            ));
        }
        let zxid = make_zxid(epoch, 0);
        trace!(self, "{leader} ESTABLISHES epoch {epoch} with {support:?}");
        let now = self.now;
        for s in support {
            let n = self.node(*s);
            n.epoch = epoch;
            n.zxid = zxid;
            n.last_ok = now;
            n.election.update_election_vote(epoch);
        }
        self.node(leader).established = true;
        Ok(())
    }

    /// Everyone alive behind one established leader.
    fn check_converged(&self) -> Result<(), String> {
        let leaders: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.alive && n.election.state() == ServerState::Leading)
            .collect();
        let [l] = leaders.as_slice() else {
            return Err(format!("{} leaders: {:?}", leaders.len(), self.describe()));
        };
        if !l.established {
            return Err(format!(
                "leader {} not established: {:?}",
                l.sid,
                self.describe()
            ));
        }
        for n in &self.nodes {
            let want = if n.sid == l.sid {
                ServerState::Leading
            } else if n.voter {
                ServerState::Following
            } else {
                ServerState::Observing
            };
            if !n.alive || n.election.state() != want || n.election.current_vote().leader != l.sid {
                return Err(format!(
                    "server {} is not behind {}: {:?}",
                    n.sid,
                    l.sid,
                    self.describe()
                ));
            }
        }
        Ok(())
    }

    fn describe(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "{}:{}{:?}->{} e{} z{:#x} lc{}",
                    n.sid,
                    if n.alive { "" } else { "DEAD " },
                    n.election.state(),
                    n.election.current_vote().leader,
                    n.epoch,
                    n.zxid,
                    n.election.logical_clock()
                )
            })
            .collect()
    }
}

fn run_seed(seed: u64, trace: bool) -> (Result<Stats, String>, Vec<String>) {
    let mut sim = Sim::new(seed, trace);
    let r = sim.run();
    (r, sim.trace.take().unwrap_or_default())
}

fn fail(seed: u64, err: &str) -> ! {
    let (_, trace) = run_seed(seed, true);
    let skip = trace.len().saturating_sub(400);
    for line in &trace[skip..] {
        eprintln!("{line}");
    }
    panic!("seed {seed}: {err}\n(rerun with SIM_ELECTION_SEED={seed})");
}

#[test]
fn fast_leader_election_survives_faults() {
    if let Some(seed) = std::env::var("SIM_ELECTION_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        let (r, trace) = run_seed(seed, true);
        for line in &trace {
            eprintln!("{line}");
        }
        match r {
            Ok(stats) => eprintln!("seed {seed}: ok {stats:?}"),
            Err(e) => panic!("seed {seed}: {e}"),
        }
        return;
    }
    let default = if cfg!(debug_assertions) { 300 } else { 2000 };
    let seeds = std::env::var("SIM_ELECTION_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(default);
    let mut total = Stats::default();
    for seed in 0..seeds {
        match run_seed(seed, false).0 {
            Ok(s) => {
                if std::env::var_os("SIM_ELECTION_VERBOSE").is_some() {
                    eprintln!("seed {seed}: {s:?}");
                }
                total.decisions += s.decisions;
                total.joined += s.joined;
                total.max_rank_checks += s.max_rank_checks;
                total.messages += s.messages;
                total.settle_ms = total.settle_ms.max(s.settle_ms);
            }
            Err(e) => fail(seed, &e),
        }
    }
    eprintln!(
        "{seeds} seeds: {} decisions ({} joining an established leader), {} max-vote checks, \
         {} messages, slowest agreement {} ms after healing",
        total.decisions, total.joined, total.max_rank_checks, total.messages, total.settle_ms
    );
    assert!(total.decisions > seeds, "the runs decided too little");
    assert!(total.max_rank_checks > 0, "the max-vote check never ran");
    assert!(total.joined > 0, "nobody ever joined an established leader");
}
