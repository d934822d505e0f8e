//! Leader election: ZooKeeper 3.8's FastLeaderElection as a plain state
//! machine. It takes notifications and the time (ms), and returns the
//! notifications to send and, once, the decision.
//!
//! Owns the logical clock, the vote this peer proposes, `recvset` (the
//! LOOKING votes of this round) and `outofelection` (what FOLLOWING and
//! LEADING peers report), and the `WorkerReceiver` rules for answering
//! peers while deciding and after. The wire format is in [`wire`]; the
//! election connections (`server::peers`) carry the bytes.
//!
//! Followed from the source: `totalOrderPredicate` (epoch, then zxid, then
//! sid; a non-voter never wins), the quorum of agreeing votes
//! (`QuorumMaj`), the `finalizeWait` re-check (a better vote within it
//! reopens the round; others are dropped, as the source drains them), the
//! notification back-off up to `maxNotificationInterval`, and joining an
//! established leader (`checkLeader`). Left out: dynamic reconfig (a
//! notification's config is not acted on) and the oracle of two-server
//! ensembles (`QuorumOracleMaj`).

pub mod wire;

use crate::quorum::{QuorumMaj, Sid};
use std::collections::BTreeMap;
pub use wire::{Notification, ServerState};

/// `finalizeWait`, `minNotificationInterval`, `maxNotificationInterval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionSettings {
    pub finalize_wait_ms: u64,
    pub min_notification_interval_ms: u64,
    pub max_notification_interval_ms: u64,
}

impl Default for ElectionSettings {
    /// ZooKeeper's defaults: 200 ms, 200 ms, 60 s.
    fn default() -> Self {
        ElectionSettings {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
        }
    }
}

/// A vote (ZooKeeper's `Vote`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    pub leader: Sid,
    pub zxid: i64,
    pub election_epoch: i64,
    pub peer_epoch: i64,
    pub state: ServerState,
    pub version: i32,
}

impl Vote {
    /// `Vote.equals`: LOOKING votes agree on everything; votes of settled
    /// peers on the leader (and its epoch, unless only one side predates
    /// the epoch field).
    fn agrees(&self, o: &Vote) -> bool {
        if self.state == ServerState::Looking || o.state == ServerState::Looking {
            self.leader == o.leader
                && self.zxid == o.zxid
                && self.election_epoch == o.election_epoch
                && self.peer_epoch == o.peer_epoch
        } else if (self.version > 0) ^ (o.version > 0) {
            self.leader == o.leader
        } else {
            self.leader == o.leader && self.peer_epoch == o.peer_epoch
        }
    }
}

/// What the driver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: Sid,
        msg: Notification,
    },
    /// The round ended: this peer leads, follows or observes `vote.leader`.
    Decided {
        state: ServerState,
        vote: Vote,
    },
}

/// The election state of one peer. See the module doc.
pub struct Election {
    me: Sid,
    quorum: QuorumMaj,
    config: Vec<u8>,
    s: ElectionSettings,
    state: ServerState,
    logical_clock: i64,
    /// (leader, zxid, peer epoch) this peer proposes.
    proposed: (Sid, i64, i64),
    /// `getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch`.
    init: (Sid, i64, i64),
    recvset: BTreeMap<Sid, Vote>,
    outofelection: BTreeMap<Sid, Vote>,
    /// The decided vote (`QuorumPeer.getCurrentVote`).
    current: Vote,
    not_timeout: u64,
    resend_at: Option<u64>,
    /// A quorum agrees: decide at this time unless a better vote comes.
    finalize_at: Option<u64>,
    out: Vec<Action>,
}

impl Election {
    pub fn new(me: Sid, quorum: QuorumMaj, config: Vec<u8>, s: ElectionSettings) -> Election {
        Election {
            me,
            quorum,
            config,
            s,
            state: ServerState::Looking,
            logical_clock: 0,
            proposed: (me, -1, -1),
            init: (me, -1, -1),
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            current: Vote {
                leader: me,
                zxid: -1,
                election_epoch: 0,
                peer_epoch: -1,
                state: ServerState::Looking,
                version: wire::NOTIFICATION_VERSION,
            },
            not_timeout: s.min_notification_interval_ms,
            resend_at: None,
            finalize_at: None,
            out: Vec::new(),
        }
    }

    /// This peer's state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The decided vote (or the initial one before any decision).
    pub fn current_vote(&self) -> Vote {
        self.current
    }

    /// The logical clock (the election round).
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// When [`Election::timeout`] next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.resend_at, self.finalize_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `QuorumPeer.updateElectionVote` (ZOOKEEPER-1732): once a leader is
    /// established, or a learner is in sync with it, the decided vote
    /// takes the new epoch as its peer epoch, so that every member
    /// reports the same vote to a peer that joins later. Without it, a
    /// peer that decided from replies of an earlier round reports an older
    /// peer epoch than the rest, and a latecomer can never count a quorum
    /// agreeing on the leader.
    pub fn update_peer_epoch(&mut self, epoch: i64) {
        self.current.peer_epoch = epoch;
    }

    /// Starts a round (`lookForLeader`): a new logical clock, a vote for
    /// itself, and notifications to every voter.
    pub fn look(&mut self, last_logged_zxid: i64, current_epoch: i64, now: u64) -> Vec<Action> {
        let voter = self.quorum.is_voter(self.me);
        self.state = ServerState::Looking;
        self.logical_clock += 1;
        self.init = if voter {
            (self.me, last_logged_zxid, current_epoch)
        } else {
            (i64::MIN, i64::MIN, i64::MIN)
        };
        self.proposed = self.init;
        self.current = self.proposal_vote();
        self.recvset.clear();
        self.outofelection.clear();
        self.finalize_at = None;
        self.not_timeout = self.s.min_notification_interval_ms;
        self.resend_at = Some(now + self.not_timeout);
        self.send_notifications();
        self.take()
    }

    /// The time passed: decide after `finalizeWait`, or send the vote
    /// again (backing off) when nothing arrived.
    pub fn timeout(&mut self, now: u64) -> Vec<Action> {
        if self.state != ServerState::Looking {
            return self.take();
        }
        if self.finalize_at.is_some_and(|t| now >= t) {
            let (leader, zxid, peer_epoch) = self.proposed;
            let clock = self.logical_clock;
            self.decide(leader, zxid, clock, peer_epoch, wire::NOTIFICATION_VERSION);
            return self.take();
        }
        if self.resend_at.is_some_and(|t| now >= t) {
            self.send_notifications();
            self.not_timeout = (self.not_timeout * 2).min(self.s.max_notification_interval_ms);
            self.resend_at = Some(now + self.not_timeout);
        }
        self.take()
    }

    /// A notification from `from`.
    pub fn receive(&mut self, from: Sid, n: Notification, now: u64) -> Vec<Action> {
        // WorkerReceiver: a non-voter (an observer) is told our vote.
        if !self.quorum.is_voter(from) {
            let v = self.reply_vote();
            self.send(from, v);
            return self.take();
        }
        if self.state != ServerState::Looking {
            // Settled: a LOOKING peer learns whom we follow or lead.
            if n.state == ServerState::Looking {
                let v = self.reply_vote();
                self.send(from, v);
            }
            return self.take();
        }
        let behind = n.state == ServerState::Looking && n.election_epoch < self.logical_clock;
        self.step(from, &n, now);
        // A LOOKING peer a round behind gets our proposal back.
        if behind && self.state == ServerState::Looking {
            let v = self.proposal_vote();
            self.send(from, v);
        }
        self.take()
    }

    /// One notification through `lookForLeader`.
    fn step(&mut self, from: Sid, n: &Notification, now: u64) {
        if !self.quorum.is_voter(n.leader) {
            tracing::warn!(leader = n.leader, from, "ignoring a vote for a non-member");
            return;
        }
        if self.finalize_at.is_some() {
            // The finalizeWait drain: only a better vote reopens the round.
            if self.better(n.leader, n.zxid, n.peer_epoch) {
                self.finalize_at = None;
            } else {
                return;
            }
        }
        match n.state {
            ServerState::Looking => {
                if self.init.1 == -1 || n.zxid == -1 {
                    return;
                }
                if n.election_epoch > self.logical_clock {
                    self.logical_clock = n.election_epoch;
                    self.recvset.clear();
                    let (i, z, e) = self.init;
                    self.proposed =
                        if total_order(&self.quorum, n.leader, n.zxid, n.peer_epoch, i, z, e) {
                            (n.leader, n.zxid, n.peer_epoch)
                        } else {
                            self.init
                        };
                    self.send_notifications();
                } else if n.election_epoch < self.logical_clock {
                    return;
                } else if self.better(n.leader, n.zxid, n.peer_epoch) {
                    self.proposed = (n.leader, n.zxid, n.peer_epoch);
                    self.send_notifications();
                }
                self.recvset.insert(
                    from,
                    Vote {
                        leader: n.leader,
                        zxid: n.zxid,
                        election_epoch: n.election_epoch,
                        peer_epoch: n.peer_epoch,
                        state: ServerState::Looking,
                        version: 0,
                    },
                );
                let mine = self.proposal_vote();
                if self.has_quorum(&self.recvset, &mine) {
                    self.finalize_at = Some(now + self.s.finalize_wait_ms);
                }
            }
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => {
                let v = Vote {
                    leader: n.leader,
                    zxid: n.zxid,
                    election_epoch: n.election_epoch,
                    peer_epoch: n.peer_epoch,
                    state: n.state,
                    version: n.version,
                };
                if n.election_epoch == self.logical_clock {
                    self.recvset.insert(from, v);
                    if self.has_quorum(&self.recvset, &v)
                        && self.check_leader(&self.recvset, n.leader, n.election_epoch)
                    {
                        self.decide(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.version);
                        return;
                    }
                }
                self.outofelection.insert(from, v);
                if self.has_quorum(&self.outofelection, &v)
                    && self.check_leader(&self.outofelection, n.leader, n.election_epoch)
                {
                    self.logical_clock = n.election_epoch;
                    self.decide(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.version);
                }
            }
        }
    }

    fn better(&self, leader: Sid, zxid: i64, epoch: i64) -> bool {
        let (l, z, e) = self.proposed;
        total_order(&self.quorum, leader, zxid, epoch, l, z, e)
    }

    fn has_quorum(&self, votes: &BTreeMap<Sid, Vote>, v: &Vote) -> bool {
        let acks: Vec<Sid> = votes
            .iter()
            .filter(|(_, o)| v.agrees(o))
            .map(|(s, _)| *s)
            .collect();
        self.quorum.contains_quorum(&acks)
    }

    /// `checkLeader`: the leader must have said it leads, or be us in
    /// this very round.
    fn check_leader(&self, votes: &BTreeMap<Sid, Vote>, leader: Sid, election_epoch: i64) -> bool {
        if leader != self.me {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    fn decide(
        &mut self,
        leader: Sid,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
        version: i32,
    ) {
        self.state = if leader == self.me {
            ServerState::Leading
        } else if self.quorum.is_voter(self.me) {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.current = Vote {
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            state: self.state,
            version,
        };
        self.finalize_at = None;
        self.resend_at = None;
        self.out.push(Action::Decided {
            state: self.state,
            vote: self.current,
        });
    }

    fn proposal_vote(&self) -> Vote {
        let (leader, zxid, peer_epoch) = self.proposed;
        Vote {
            leader,
            zxid,
            election_epoch: self.logical_clock,
            peer_epoch,
            state: ServerState::Looking,
            version: wire::NOTIFICATION_VERSION,
        }
    }

    /// What `WorkerReceiver` answers with: the current vote and state.
    fn reply_vote(&self) -> Vote {
        if self.state == ServerState::Looking {
            self.proposal_vote()
        } else {
            Vote {
                state: self.state,
                ..self.current
            }
        }
    }

    fn send(&mut self, to: Sid, v: Vote) {
        self.out.push(Action::Send {
            to,
            msg: Notification {
                state: v.state,
                leader: v.leader,
                zxid: v.zxid,
                election_epoch: v.election_epoch,
                peer_epoch: v.peer_epoch,
                version: wire::NOTIFICATION_VERSION,
                config: self.config.clone(),
            },
        });
    }

    /// `sendNotifications`: our proposal to every voter (ourselves too).
    fn send_notifications(&mut self) {
        let v = self.proposal_vote();
        let voters: Vec<Sid> = self.quorum.voters().collect();
        for sid in voters {
            self.send(sid, v);
        }
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }
}

/// `totalOrderPredicate`: is the new vote better? A higher epoch, then a
/// higher zxid, then a higher sid; a non-voter never wins.
pub fn total_order(
    q: &QuorumMaj,
    new_id: Sid,
    new_zxid: i64,
    new_epoch: i64,
    cur_id: Sid,
    cur_zxid: i64,
    cur_epoch: i64,
) -> bool {
    if !q.is_voter(new_id) {
        return false;
    }
    (new_epoch, new_zxid, new_id) > (cur_epoch, cur_zxid, cur_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers every message at once (loopback included) until quiet,
    /// then lets timers run; returns each peer's decision.
    fn run(
        peers: &mut BTreeMap<Sid, Election>,
        mut inflight: Vec<(Sid, Sid, Notification)>,
    ) -> BTreeMap<Sid, Vote> {
        let mut decided = BTreeMap::new();
        let mut now = 0;
        for _ in 0..200 {
            while let Some((from, to, n)) = inflight.pop() {
                if let Some(p) = peers.get_mut(&to) {
                    for a in p.receive(from, n, now) {
                        match a {
                            Action::Send { to: t, msg } => inflight.insert(0, (to, t, msg)),
                            Action::Decided { vote, .. } => {
                                decided.insert(to, vote);
                            }
                        }
                    }
                }
            }
            now += 100;
            for (&sid, p) in peers.iter_mut() {
                for a in p.timeout(now) {
                    match a {
                        Action::Send { to, msg } => inflight.push((sid, to, msg)),
                        Action::Decided { vote, .. } => {
                            decided.insert(sid, vote);
                        }
                    }
                }
            }
        }
        decided
    }

    type InFlight = Vec<(Sid, Sid, Notification)>;

    fn start(zxids: &[(Sid, i64, i64)], q: &QuorumMaj) -> (BTreeMap<Sid, Election>, InFlight) {
        let mut peers = BTreeMap::new();
        let mut inflight = Vec::new();
        for &(sid, zxid, epoch) in zxids {
            let mut e = Election::new(sid, q.clone(), Vec::new(), ElectionSettings::default());
            for a in e.look(zxid, epoch, 0) {
                if let Action::Send { to, msg } = a {
                    inflight.push((sid, to, msg));
                }
            }
            peers.insert(sid, e);
        }
        (peers, inflight)
    }

    #[test]
    fn the_highest_epoch_then_zxid_then_sid_leads() {
        let q = QuorumMaj::new([1, 2, 3], []);
        let (mut p, f) = start(&[(1, 9, 1), (2, 5, 1), (3, 5, 1)], &q);
        let d = run(&mut p, f);
        assert_eq!(d.len(), 3);
        assert!(d.values().all(|v| v.leader == 1), "{d:?}");
        assert_eq!(p[&1].state(), ServerState::Leading);
        assert_eq!(p[&2].state(), ServerState::Following);
        let (mut p, f) = start(&[(1, 5, 1), (2, 5, 1), (3, 5, 1)], &q);
        assert!(run(&mut p, f).values().all(|v| v.leader == 3));
        let (mut p, f) = start(&[(1, 1, 2), (2, 9, 1), (3, 9, 1)], &q);
        assert!(
            run(&mut p, f).values().all(|v| v.leader == 1),
            "a newer epoch wins"
        );
    }

    #[test]
    fn a_latecomer_joins_the_established_leader() {
        let q = QuorumMaj::new([1, 2, 3], []);
        let (mut p, f) = start(&[(1, 5, 1), (2, 5, 1)], &q);
        let d = run(&mut p, f);
        assert!(d.values().all(|v| v.leader == 2));
        // Server 3, with a higher zxid, comes late: it cannot take over; it
        // follows the leader the others report.
        let mut late = Election::new(3, q.clone(), Vec::new(), ElectionSettings::default());
        let mut f = Vec::new();
        for a in late.look(99, 1, 0) {
            if let Action::Send { to, msg } = a {
                f.push((3, to, msg));
            }
        }
        p.insert(3, late);
        let d = run(&mut p, f);
        assert_eq!(d.get(&3).map(|v| v.leader), Some(2), "{d:?}");
        assert_eq!(p[&3].state(), ServerState::Following);
    }

    #[test]
    fn an_observer_follows_without_being_voted_for() {
        let q = QuorumMaj::new([1, 2, 3], [4]);
        let (mut p, f) = start(&[(1, 5, 1), (2, 5, 1), (3, 5, 1), (4, 50, 9)], &q);
        let d = run(&mut p, f);
        assert!(d.values().all(|v| v.leader == 3), "{d:?}");
        assert_eq!(p[&4].state(), ServerState::Observing);
    }

    /// Found by `tests/sim_zab.rs` (seed 4051, 5 voters, without
    /// `update_peer_epoch`): the leader and a follower decided in one round
    /// on peer epoch 2, another follower had joined from replies of an
    /// earlier round that said peer epoch 1; all three were in sync in
    /// epoch 3. The servers restarting after them counted only {leader,
    /// one follower} agreeing on (leader, peer epoch), never a quorum, and
    /// stayed LOOKING for good.
    #[test]
    fn a_latecomer_joins_when_the_members_report_one_peer_epoch() {
        let q = QuorumMaj::new([1, 2, 3, 4, 5], []);
        let settled = |sid: Sid, state: ServerState, peer_epoch: i64| {
            let mut e = Election::new(sid, q.clone(), Vec::new(), ElectionSettings::default());
            let _ = e.look(0x1_0000_0001, 1, 0);
            e.decide(5, 0x1_0000_0001, 3, peer_epoch, wire::NOTIFICATION_VERSION);
            assert_eq!(e.state(), state);
            e
        };
        // The leader and s1 decided in round 3 on peer epoch 2; s3 joined
        // from older replies that said peer epoch 1. All are now in epoch 3.
        let mut members = vec![
            (5, settled(5, ServerState::Leading, 2)),
            (1, settled(1, ServerState::Following, 2)),
            (3, settled(3, ServerState::Following, 1)),
        ];
        let late = |members: &mut Vec<(Sid, Election)>| {
            let mut me = Election::new(2, q.clone(), Vec::new(), ElectionSettings::default());
            let hello: Vec<Notification> = me
                .look(0x3_0000_0001, 3, 0)
                .into_iter()
                .filter_map(|a| match a {
                    Action::Send { to: 5, msg } => Some(msg),
                    _ => None,
                })
                .collect();
            let mut decided = None;
            for (sid, e) in members.iter_mut() {
                for a in e.receive(2, hello[0].clone(), 10) {
                    if let Action::Send { msg, .. } = a {
                        for b in me.receive(*sid, msg, 20) {
                            if let Action::Decided { vote, .. } = b {
                                decided = Some(vote);
                            }
                        }
                    }
                }
            }
            decided
        };
        assert_eq!(late(&mut members), None, "one vote disagrees: no quorum");
        for (_, e) in members.iter_mut() {
            e.update_peer_epoch(3);
        }
        let v = late(&mut members).expect("the latecomer joins");
        assert_eq!((v.leader, v.peer_epoch), (5, 3));
    }

    #[test]
    fn a_better_vote_within_finalize_wait_reopens_the_round() {
        let q = QuorumMaj::new([1, 2, 3], []);
        let mut e = Election::new(1, q, Vec::new(), ElectionSettings::default());
        let _ = e.look(5, 1, 0);
        let n = |leader: Sid, zxid| Notification {
            state: ServerState::Looking,
            leader,
            zxid,
            election_epoch: 1,
            peer_epoch: 1,
            version: 2,
            config: Vec::new(),
        };
        let _ = e.receive(1, n(1, 5), 10);
        let _ = e.receive(2, n(1, 5), 10);
        assert_eq!(e.finalize_at, Some(210), "a quorum agrees: finalizing");
        // Server 3 has more: within finalizeWait, the round goes on.
        let a = e.receive(3, n(3, 9), 100);
        assert!(a
            .iter()
            .any(|a| matches!(a, Action::Send { msg, .. } if msg.leader == 3)));
        let a = e.timeout(250);
        assert!(
            !a.iter().any(|a| matches!(a, Action::Decided { .. })),
            "{a:?}"
        );
        assert_eq!(e.state(), ServerState::Looking);
    }
}
