//! Leader election: ZooKeeper 3.8's FastLeaderElection as a state machine
//! without I/O.
//!
//! [`Election`] owns what `FastLeaderElection` and the election half of
//! `QuorumPeer` own: the logical clock (election round), the current
//! proposal, `recvset` and `outofelection`, the notification back-off and
//! the finalize wait, the peer's [`ServerState`] and its current vote. It
//! takes inputs — [`Election::look`] (start `lookForLeader`),
//! [`Election::receive`] (a notification arrived: `WorkerReceiver` and then
//! one step of the `lookForLeader` loop), [`Election::timeout`] (the loop's
//! poll timed out) — with the time passed in as milliseconds, and returns
//! [`Action`]s: notifications to send and, once, the decision. The caller
//! arms a timer for [`Election::next_deadline`]. [`wire`] has the bytes.
//!
//! Behaviour follows the 3.8 source:
//! * A vote beats another by peer epoch, then zxid, then sid
//!   (`totalOrderPredicate`); a server of weight 0 never beats another.
//! * Notifications go to every voter, this peer included: a message to
//!   oneself is looped back internally, as `QuorumCnxManager.toSend` does.
//!   An observer sends to the voters only, proposes nobody (`Long.MIN_VALUE`
//!   as leader, zxid and epoch) and ends up `Observing`.
//! * A notification from a non-voter is answered at once with the current
//!   vote and never counted; one naming a non-voter as leader is ignored.
//! * A LOOKING peer answers a LOOKING sender whose round is behind with its
//!   proposal; a peer that is not LOOKING answers a LOOKING sender with the
//!   vote it decided.
//! * Once the votes of a quorum in this round equal the proposal, the peer
//!   waits `finalize_wait_ms` for a better vote; each worse notification that
//!   arrives meanwhile is dropped and restarts the wait, a better one resumes
//!   the election (and so does one from a later round: see "Added").
//! * FOLLOWING/LEADING notifications decide at once when a quorum in this
//!   round, or a quorum of everyone seen following (`outofelection`), agrees
//!   on a leader that itself said LEADING (`checkLeader`).
//! * Without notifications the peer re-sends its vote after the poll
//!   timeout, which doubles from `min_notification_interval_ms` up to
//!   `max_notification_interval_ms`.
//!
//! * Dynamic reconfig: the replica parses the config a notification
//!   carries and, while LOOKING, activates a newer one
//!   ([`Election::set_config`], then [`Election::look`] again). A config
//!   the peer logged and has not activated (`lastSeenQuorumVerifier`,
//!   [`Election::set_last_seen`]) is counted too: its voters are notified
//!   and heard, and a decision needs a quorum of both (`termPredicate`).
//!   A server in no config is a non-voting participant: it proposes
//!   nobody and decides FOLLOWING; a config that leaves it out keeps its
//!   learner type (`updateLearnerType`).
//!
//! Simplified, on purpose:
//! * No `QuorumOracleMaj`.
//! * When no message went out since the last timeout ZooKeeper reconnects
//!   instead of re-sending (`haveDelivered`); here the vote is always re-sent
//!   and the transport decides what to do with it.
//! * The leader's `reportLookingSid` (a metric) is not reported.
//! * Notifications that arrive while LOOKING but before [`Election::look`]
//!   are kept up to 1024 (ZooKeeper's queue is unbounded).
//!
//! Added: a LOOKING notification from a later round ends the finalize wait
//! like a better vote does (the peer joins that round). ZooKeeper drops it
//! when its vote is worse, and restarts the wait: a peer whose quorum
//! formed in a round the others have left (they followed it, could not
//! connect since it was still waiting, and looked again) then waits on,
//! deaf to the later rounds, as long as their notifications keep coming
//! within `finalize_wait_ms` of each other; in the replica simulation
//! (seed 22300, 5 voters) no leader was established for 2.5 s after the
//! faults ended.
//!
//! Added: a LOOKING voter answers a LOOKING notification of its own round
//! whose vote is worse than its proposal with its proposal, as ZooKeeper
//! answers a sender a round behind. ZooKeeper answers it only when its own
//! poll times out, and every notification received restarts that poll:
//! with the back-off of every peer at its maximum, the peers that lack the
//! best vote keep the one that holds it from ever timing out, and no
//! decision comes for many intervals (the replica simulation's reconfig
//! seeds 944 and 9577, with two and three voters). The answer goes to that
//! sender only, once per worse notification; the sender then takes the
//! better vote up.
//!
//! Added: a voter that cannot lead (its quorum port cannot be bound, or
//! its epoch files cannot be written) can
//! [`Election::set_stand_aside`]. It then proposes nobody it could win
//! for (itself with `Long.MIN_VALUE` zxid and epoch, a vote no peer ever
//! adopts) and adopts the first vote for another server that is at least
//! as recent as its own history (peer epoch, then zxid), so that another
//! member leads instead of this one winning, failing and winning again.
//! It never adopts a less recent server: that one would truncate what it
//! may have acknowledged. A voter whose epoch files cannot be written
//! adopts no vote at all: it could not acknowledge an epoch as a
//! follower, and its support let two others each count it towards a
//! quorum in turn, neither establishing its epoch (hostile test
//! `a_leader_that_cannot_persist_the_epoch_lets_another_lead`, seen
//! flaky under load). ZooKeeper has no such mode; its peers elect the
//! same way whichever one stands aside.

pub mod wire;

pub use wire::{Notification, ServerState};

use crate::quorum::{Quorum, Sid};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};

/// Timing of an election, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionSettings {
    /// How long to wait for a better vote once a quorum agrees
    /// (`FastLeaderElection.finalizeWait`, 200).
    pub finalize_wait_ms: u64,
    /// First poll timeout (`zookeeper.fastleader.minNotificationInterval`,
    /// 200).
    pub min_notification_interval_ms: u64,
    /// Longest poll timeout (`zookeeper.fastleader.maxNotificationInterval`,
    /// 60000).
    pub max_notification_interval_ms: u64,
}

impl Default for ElectionSettings {
    fn default() -> Self {
        ElectionSettings {
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
        }
    }
}

/// A vote (ZooKeeper's `Vote`): who should lead, with that server's last
/// zxid and epoch, in which round, and the voter's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The proposed or followed leader.
    pub leader: Sid,
    pub zxid: i64,
    /// The round (logical clock) the vote was cast in.
    pub election_epoch: i64,
    pub peer_epoch: i64,
    pub state: ServerState,
    /// The notification format version the vote came in; matters only for
    /// [`Vote::agrees_with`].
    pub version: i32,
}

impl Vote {
    /// A vote as ZooKeeper's four-argument constructor makes it (LOOKING,
    /// version 0).
    pub fn looking(leader: Sid, zxid: i64, election_epoch: i64, peer_epoch: i64) -> Vote {
        Vote {
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            state: ServerState::Looking,
            version: 0,
        }
    }

    /// ZooKeeper's `Vote.equals`: if either vote is LOOKING, leader, zxid,
    /// round and peer epoch must match; otherwise the leader, and the peer
    /// epoch too unless exactly one of the votes has version 0.
    pub fn agrees_with(&self, other: &Vote) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.leader == other.leader
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else if (self.version > 0) ^ (other.version > 0) {
            self.leader == other.leader
        } else {
            self.leader == other.leader && self.peer_epoch == other.peer_epoch
        }
    }
}

/// Why an election ended: whose agreeing votes made the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Votes of this round (`recvset`), this peer's own among them if it
    /// votes.
    Round(Vec<Sid>),
    /// Votes of servers already following or leading (`outofelection`):
    /// this peer joined an established leader.
    Established(Vec<Sid>),
    /// No election: a committed reconfig named the leader
    /// (`QuorumPeer.updateVote` and `updateServerState`).
    Designated,
}

impl Support {
    /// The servers whose votes agreed.
    pub fn sids(&self) -> &[Sid] {
        match self {
            Support::Round(s) | Support::Established(s) => s,
            Support::Designated => &[],
        }
    }
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` to server `to` (framed, on the election connection).
    Send { to: Sid, msg: Notification },
    /// The election is over: this peer is now `state` (Leading, Following or
    /// Observing) behind `vote`. No more timeouts until the next
    /// [`Election::look`].
    Decided {
        state: ServerState,
        vote: Vote,
        support: Support,
    },
}

/// Notifications kept while LOOKING before [`Election::look`] runs.
const MAX_QUEUED: usize = 1024;

/// One peer's FastLeaderElection. See the module doc.
#[derive(Debug, Clone)]
pub struct Election {
    me: Sid,
    quorum: Quorum,
    /// `lastSeenQuorumVerifier` when newer than `quorum`: a config in a
    /// logged reconfig txn not yet active. Its voters are notified and
    /// heard too, and a decision needs a quorum of it as well
    /// (`termPredicate`, `getCurrentAndNextConfigVoters`).
    last_seen: Option<Quorum>,
    config: Bytes,
    settings: ElectionSettings,
    /// Learner type PARTICIPANT, else OBSERVER. A server in no config is
    /// a (non-voting) participant, as in ZooKeeper: it follows, and its
    /// notifications say FOLLOWING, not OBSERVING.
    participant: bool,
    /// A voter that must not lead: see [`Election::set_stand_aside`].
    stand_aside: bool,
    /// Standing aside, it may follow (adopt another's vote); a voter that
    /// cannot write its epoch files could not acknowledge a leader's
    /// epoch either, and adopts nothing.
    aside_follows: bool,
    state: ServerState,
    /// `QuorumPeer.currentVote`.
    current_vote: Vote,
    started: bool,
    logical_clock: i64,
    proposed_leader: Sid,
    proposed_zxid: i64,
    proposed_epoch: i64,
    last_logged_zxid: i64,
    current_epoch: i64,
    /// Whether `lookForLeader` is running.
    running: bool,
    recvset: BTreeMap<Sid, Vote>,
    outofelection: BTreeMap<Sid, Vote>,
    not_timeout: u64,
    deadline: Option<u64>,
    /// In the finalize wait, with the votes that made the quorum.
    finalizing: Option<Vec<Sid>>,
    /// `recvqueue`: notifications for `lookForLeader`.
    recvqueue: VecDeque<(Sid, ServerState, Notification)>,
    /// Messages to self, on their way back in.
    loopback: VecDeque<Notification>,
}

impl Election {
    /// The election of server `me` among `quorum`. `config` is the text of
    /// `QuorumVerifier.toString()` (see [`wire::quorum_config_string`]), sent
    /// in every notification. The peer starts LOOKING; call
    /// [`Election::look`] to start.
    pub fn new(
        me: Sid,
        quorum: Quorum,
        config: impl Into<Bytes>,
        settings: ElectionSettings,
    ) -> Election {
        let participant = !quorum.is_observer(me);
        let config = config.into();
        Election {
            me,
            quorum,
            last_seen: None,
            config,
            settings,
            participant,
            stand_aside: false,
            aside_follows: true,
            state: ServerState::Looking,
            current_vote: Vote::looking(me, -1, -1, -1),
            started: false,
            logical_clock: 0,
            proposed_leader: -1,
            proposed_zxid: -1,
            proposed_epoch: 0,
            last_logged_zxid: -1,
            current_epoch: -1,
            running: false,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            not_timeout: settings.min_notification_interval_ms,
            deadline: None,
            finalizing: None,
            recvqueue: VecDeque::new(),
            loopback: VecDeque::new(),
        }
    }

    /// A reconfig made another config active (`QuorumPeer.setQuorumVerifier`):
    /// later rounds count its voters and notifications carry its text.
    pub fn set_config(&mut self, quorum: Quorum, config: impl Into<Bytes>) {
        // `updateLearnerType`: a server the new config leaves out keeps
        // its learner type.
        if quorum.is_voter(self.me) {
            self.participant = true;
        } else if quorum.is_observer(self.me) {
            self.participant = false;
        }
        self.quorum = quorum;
        self.config = config.into();
        self.last_seen = None;
    }

    /// The config of a logged reconfig txn not yet active (`None` when
    /// there is none): see `last_seen`. Set before [`Election::look`].
    pub fn set_last_seen(&mut self, q: Option<Quorum>) {
        self.last_seen = q;
    }

    /// A new FastLeaderElection (`QuorumPeer` makes one after a reconfig
    /// while LOOKING, `shuttingDownLE`): its rounds count from 1 again.
    pub fn restart_rounds(&mut self) {
        self.logical_clock = 0;
    }

    /// Starts an election round (`lookForLeader`) with this peer's last
    /// logged zxid and current (accepted) epoch: the state becomes LOOKING,
    /// the logical clock advances, and the initial vote goes to every voter.
    /// Notifications that arrived while LOOKING before this call are then
    /// processed.
    pub fn look(&mut self, last_logged_zxid: i64, current_epoch: i64, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        if !self.started {
            // QuorumPeer.startLeaderElection.
            self.started = true;
            self.current_vote = Vote::looking(self.me, last_logged_zxid, -1, current_epoch);
        }
        self.last_logged_zxid = last_logged_zxid;
        self.current_epoch = current_epoch;
        self.state = ServerState::Looking;
        self.running = true;
        self.recvset.clear();
        self.outofelection.clear();
        self.finalizing = None;
        self.not_timeout = self.settings.min_notification_interval_ms;
        self.logical_clock += 1;
        let (l, z, e) = self.init_vote();
        self.update_proposal(l, z, e);
        tracing::info!(
            me = self.me,
            round = self.logical_clock,
            zxid = format_args!("{:#x}", self.proposed_zxid),
            "new election"
        );
        self.send_notifications(&mut actions);
        self.deadline = Some(now_ms + self.not_timeout);
        self.pump(now_ms, &mut actions);
        actions
    }

    /// A notification from server `from` arrived.
    pub fn receive(&mut self, from: Sid, msg: Notification, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        self.worker_receive(from, msg, &mut actions);
        self.pump(now_ms, &mut actions);
        actions
    }

    /// Time passed. Does nothing before [`Election::next_deadline`].
    pub fn timeout(&mut self, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        match self.deadline {
            Some(d) if self.running && now_ms >= d => {}
            _ => return actions,
        }
        if let Some(support) = self.finalizing.take() {
            // No better vote within finalizeWait: done.
            let vote = Vote::looking(
                self.proposed_leader,
                self.proposed_zxid,
                self.logical_clock,
                self.proposed_epoch,
            );
            self.decide(vote, Support::Round(support), &mut actions);
        } else {
            tracing::debug!(
                me = self.me,
                after_ms = self.not_timeout,
                "notification time out"
            );
            self.send_notifications(&mut actions);
            self.not_timeout = self
                .not_timeout
                .saturating_mul(2)
                .min(self.settings.max_notification_interval_ms);
            self.deadline = Some(now_ms + self.not_timeout);
        }
        self.pump(now_ms, &mut actions);
        actions
    }

    /// A voter that cannot lead stands aside (`true`) from the next
    /// [`Election::look`] on: it proposes no one it could win for, never
    /// adopts a vote for itself, and, if it `can_follow`, adopts a vote
    /// for another server only if that server's peer epoch and zxid are
    /// at least its own. One that cannot follow either (its epoch files
    /// cannot be written, so it could not acknowledge an epoch) adopts no
    /// vote at all: its support would let two other voters each form a
    /// "quorum" with it in turn, neither able to establish its epoch. Ending
    /// it (`false`) during an election still abstaining puts forward its
    /// own vote again, at once.
    pub fn set_stand_aside(&mut self, on: bool, can_follow: bool, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let was = self.stand_aside;
        self.stand_aside = on;
        self.aside_follows = can_follow;
        if was && !on && self.running && self.proposed() == self.abstention() {
            let (l, z, e) = self.init_vote();
            self.update_proposal(l, z, e);
            self.send_notifications(&mut actions);
            self.deadline = Some(now_ms + self.not_timeout);
            self.pump(now_ms, &mut actions);
        }
        actions
    }

    /// Whether this voter stands aside (see [`Election::set_stand_aside`]).
    pub fn stands_aside(&self) -> bool {
        self.stand_aside
    }

    /// When to call [`Election::timeout`] next, if at all.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.running {
            self.deadline
        } else {
            None
        }
    }

    /// The vote this peer stands by (`QuorumPeer.getCurrentVote`): the last
    /// decision (its `state` is the role taken); before the first decision
    /// the peer's own vote from its first [`Election::look`]
    /// (`startLeaderElection`), and `(me, -1, -1, -1)` before that.
    pub fn current_vote(&self) -> Vote {
        self.current_vote
    }

    /// The current proposal of a running election, in this round.
    pub fn proposal(&self) -> Vote {
        Vote::looking(
            self.proposed_leader,
            self.proposed_zxid,
            self.logical_clock,
            self.proposed_epoch,
        )
    }

    /// This peer's state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// This peer's id.
    pub fn me(&self) -> Sid {
        self.me
    }

    /// The logical clock (current or last election round).
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// Whether an election is running (between [`Election::look`] and the
    /// decision).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The votes of this round received so far (`recvset`).
    pub fn round_votes(&self) -> impl Iterator<Item = (Sid, &Vote)> + '_ {
        self.recvset.iter().map(|(s, v)| (*s, v))
    }

    /// Sets the peer's state as Zab moves it. Leaving LOOKING stops a
    /// running election; setting LOOKING alone starts none (call
    /// [`Election::look`]), but notifications are then kept for it.
    pub fn set_state(&mut self, state: ServerState) {
        self.state = state;
        if state != ServerState::Looking {
            self.running = false;
            self.finalizing = None;
            self.deadline = None;
            self.recvqueue.clear();
        }
    }

    /// A committed reconfig's designated leader (`updateVote` then
    /// `updateServerState`): no election; the current vote is
    /// `Vote(leader, zxid)` (round and epoch -1, as ZooKeeper's
    /// two-argument `Vote`), and this peer leads, follows or observes it.
    pub fn designate(&mut self, leader: Sid, zxid: i64) -> Vec<Action> {
        let mut actions = Vec::new();
        let vote = Vote {
            leader,
            zxid,
            election_epoch: -1,
            peer_epoch: -1,
            state: ServerState::Looking,
            version: 0,
        };
        self.decide(vote, Support::Designated, &mut actions);
        actions
    }

    /// `QuorumPeer.updateElectionVote`: Zab settled on a new epoch; the
    /// current vote carries it from now on.
    pub fn update_election_vote(&mut self, new_epoch: i64) {
        self.current_vote.peer_epoch = new_epoch;
    }

    // -- internals ---------------------------------------------------------

    fn valid_voter(&self, sid: Sid) -> bool {
        self.quorum.is_voter(sid) || self.last_seen.as_ref().is_some_and(|q| q.is_voter(sid))
    }

    /// `termPredicate`'s `hasAllQuorums`: a quorum of the active config
    /// and of the last seen one.
    fn has_all_quorums(&self, agree: &[Sid]) -> bool {
        self.quorum.contains_quorum(agree)
            && self
                .last_seen
                .as_ref()
                .is_none_or(|q| q.contains_quorum(agree))
    }

    /// `getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch`.
    fn init_vote(&self) -> (Sid, i64, i64) {
        let id = if self.quorum.is_voter(self.me) {
            self.me
        } else {
            Sid::MIN
        };
        if self.participant && self.stand_aside {
            self.abstention()
        } else if self.participant {
            (id, self.last_logged_zxid, self.current_epoch)
        } else {
            (id, i64::MIN, i64::MIN)
        }
    }

    /// The vote of a voter standing aside: itself, below every real vote.
    fn abstention(&self) -> (Sid, i64, i64) {
        (self.me, i64::MIN, i64::MIN)
    }

    /// Whether `new` beats `cur` for this peer: [`Election::total_order`],
    /// but a voter standing aside never takes a vote for itself, and
    /// leaves its abstention only for a server at least as recent as its
    /// own history.
    fn beats(&self, new: (Sid, i64, i64), cur: (Sid, i64, i64)) -> bool {
        if self.stand_aside && self.participant {
            if new.0 == self.me {
                return false;
            }
            if cur == self.abstention() {
                if !self.aside_follows {
                    return false;
                }
                return (new.2, new.1) >= (self.current_epoch, self.last_logged_zxid);
            }
        }
        self.total_order(new, cur)
    }

    fn update_proposal(&mut self, leader: Sid, zxid: i64, epoch: i64) {
        self.proposed_leader = leader;
        self.proposed_zxid = zxid;
        self.proposed_epoch = epoch;
    }

    /// `totalOrderPredicate`: whether (new_id, new_zxid, new_epoch) beats
    /// the current one. A server of weight 0 (`weight.N=0` in a
    /// hierarchical quorum) never does.
    fn total_order(&self, new: (Sid, i64, i64), cur: (Sid, i64, i64)) -> bool {
        let (new_id, new_zxid, new_epoch) = new;
        let (cur_id, cur_zxid, cur_epoch) = cur;
        if self.quorum.weight(new_id) == 0 {
            return false;
        }
        new_epoch > cur_epoch
            || (new_epoch == cur_epoch
                && (new_zxid > cur_zxid || (new_zxid == cur_zxid && new_id > cur_id)))
    }

    fn proposed(&self) -> (Sid, i64, i64) {
        (
            self.proposed_leader,
            self.proposed_zxid,
            self.proposed_epoch,
        )
    }

    fn send(&mut self, to: Sid, msg: Notification, actions: &mut Vec<Action>) {
        if to == self.me {
            self.loopback.push_back(msg);
        } else {
            actions.push(Action::Send { to, msg });
        }
    }

    /// `sendNotifications`: the proposal, LOOKING, to every voter.
    fn send_notifications(&mut self, actions: &mut Vec<Action>) {
        let mut voters: Vec<Sid> = self.quorum.voters().collect();
        if let Some(q) = &self.last_seen {
            voters.extend(q.voters().filter(|s| !self.quorum.is_voter(*s)));
        }
        for sid in voters {
            let msg = Notification::new(
                ServerState::Looking,
                self.proposed_leader,
                self.proposed_zxid,
                self.logical_clock,
                self.proposed_epoch,
                self.config.clone(),
            );
            self.send(sid, msg, actions);
        }
    }

    /// `WorkerReceiver.run` for one message.
    fn worker_receive(&mut self, from: Sid, n: Notification, actions: &mut Vec<Action>) {
        if !self.valid_voter(from) {
            // A non-voter (an observer) gets the current vote right away,
            // with our logical clock as the round.
            self.send_current_vote(from, self.logical_clock, actions);
            return;
        }
        let Some(ack_state) = n.server_state() else {
            tracing::debug!(
                me = self.me,
                from,
                state = n.state,
                "unknown state, skipped"
            );
            return;
        };
        tracing::debug!(
            me = self.me,
            my_state = ?self.state,
            from,
            state = ?ack_state,
            leader = n.leader,
            round = n.election_epoch,
            peer_epoch = n.peer_epoch,
            zxid = format_args!("{:#x}", n.zxid),
            "notification"
        );
        if self.state == ServerState::Looking {
            let theirs = (n.leader, n.zxid, n.peer_epoch);
            let behind = n.election_epoch < self.logical_clock
                || (n.election_epoch == self.logical_clock
                    && self.running
                    && self.quorum.is_voter(self.me)
                    && self.total_order(self.proposed(), theirs));
            if ack_state == ServerState::Looking && behind {
                // The sender is a round behind: tell it ours. So too when
                // it proposes a worse vote in our round, a deliberate
                // difference from ZooKeeper (which answers that only at
                // its own next timeout, and every notification received
                // restarts the wait): peers whose timers equal ours could
                // otherwise keep the best vote unheard for many intervals
                // (docs/sim-findings.md, reconfig seeds 944 and 9577).
                let msg = Notification::new(
                    ServerState::Looking,
                    self.proposed_leader,
                    self.proposed_zxid,
                    self.logical_clock,
                    self.proposed_epoch,
                    self.config.clone(),
                );
                self.send(from, msg, actions);
            }
            if !self.running && self.recvqueue.len() >= MAX_QUEUED {
                self.recvqueue.pop_front();
            }
            self.recvqueue.push_back((from, ack_state, n));
        } else if ack_state == ServerState::Looking {
            // Not looking ourselves: tell a looking peer whom we follow,
            // with the round that decided it.
            self.send_current_vote(from, self.current_vote.election_epoch, actions);
        }
    }

    /// Sends `to` our state and current vote, as of `round` (the two
    /// replies of `WorkerReceiver` differ only in the round).
    fn send_current_vote(&mut self, to: Sid, round: i64, actions: &mut Vec<Action>) {
        let cv = self.current_vote;
        let msg = Notification::new(
            self.state,
            cv.leader,
            cv.zxid,
            round,
            cv.peer_epoch,
            self.config.clone(),
        );
        self.send(to, msg, actions);
    }

    /// Processes looped-back messages and queued notifications until none
    /// is left.
    fn pump(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        loop {
            if let Some(n) = self.loopback.pop_front() {
                self.worker_receive(self.me, n, actions);
            } else if self.running {
                let Some((from, state, n)) = self.recvqueue.pop_front() else {
                    return;
                };
                self.step(from, state, n, now_ms, actions);
            } else {
                return;
            }
        }
    }

    /// One iteration of the `lookForLeader` loop with notification `n`.
    fn step(
        &mut self,
        from: Sid,
        n_state: ServerState,
        n: Notification,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        let nvote = (n.leader, n.zxid, n.peer_epoch);
        if self.finalizing.is_some() {
            // A LOOKING peer in a later round restarted the election: the
            // quorum this round found has moved on (not in ZooKeeper, which
            // drops it unless its vote is better; see the module doc).
            let later = n_state == ServerState::Looking && n.election_epoch > self.logical_clock;
            if later || self.beats(nvote, self.proposed()) {
                // A better vote, or a later round: back to the main loop
                // with it.
                self.finalizing = None;
            } else {
                // Dropped; wait finalizeWait again.
                self.deadline = Some(now_ms + self.settings.finalize_wait_ms);
                return;
            }
        }
        // The next poll starts after this notification.
        self.deadline = Some(now_ms + self.not_timeout);
        if !(self.valid_voter(from) && self.valid_voter(n.leader)) {
            tracing::warn!(
                me = self.me,
                from,
                leader = n.leader,
                "ignoring notification from or for a non-voter"
            );
            return;
        }
        match n_state {
            ServerState::Looking => {
                if (self.participant && self.last_logged_zxid == -1) || n.zxid == -1 {
                    tracing::debug!(me = self.me, from, "ignoring notification: zxid -1");
                    return;
                }
                if n.election_epoch > self.logical_clock {
                    self.logical_clock = n.election_epoch;
                    self.recvset.clear();
                    let init = self.init_vote();
                    let (l, z, e) = if self.beats(nvote, init) { nvote } else { init };
                    self.update_proposal(l, z, e);
                    self.send_notifications(actions);
                } else if n.election_epoch < self.logical_clock {
                    return;
                } else if self.beats(nvote, self.proposed()) {
                    self.update_proposal(n.leader, n.zxid, n.peer_epoch);
                    self.send_notifications(actions);
                }
                self.recvset.insert(
                    from,
                    Vote::looking(n.leader, n.zxid, n.election_epoch, n.peer_epoch),
                );
                let mine = self.proposal();
                let agree = agreeing(&self.recvset, &mine);
                if self.has_all_quorums(&agree) {
                    self.finalizing = Some(agree);
                    self.deadline = Some(now_ms + self.settings.finalize_wait_ms);
                }
            }
            ServerState::Observing => {
                tracing::debug!(me = self.me, from, "notification from an observer");
            }
            ServerState::Following | ServerState::Leading => {
                // receivedLeadingNotification adds only QuorumOracleMaj's
                // oracle to receivedFollowingNotification.
                self.received_following(from, n_state, &n, actions);
            }
        }
    }

    /// `receivedFollowingNotification`.
    fn received_following(
        &mut self,
        from: Sid,
        n_state: ServerState,
        n: &Notification,
        actions: &mut Vec<Action>,
    ) {
        let theirs = Vote {
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state: n_state,
            version: n.version,
        };
        let end = Vote::looking(n.leader, n.zxid, n.election_epoch, n.peer_epoch);
        if n.election_epoch == self.logical_clock {
            // Stored without the version, as ZooKeeper does.
            self.recvset.insert(
                from,
                Vote {
                    version: 0,
                    ..theirs
                },
            );
            let agree = agreeing(&self.recvset, &theirs);
            if self.has_all_quorums(&agree)
                && self.check_leader(&self.recvset, n.leader, n.election_epoch)
            {
                self.decide(end, Support::Round(agree), actions);
                return;
            }
        }
        // Before joining an established ensemble, a quorum must follow the
        // same leader (outofelection also holds this round's votes).
        self.outofelection.insert(from, theirs);
        let agree = agreeing(&self.outofelection, &theirs);
        if self.has_all_quorums(&agree)
            && self.check_leader(&self.outofelection, n.leader, n.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            self.decide(end, Support::Established(agree), actions);
        }
    }

    /// `checkLeader`: another leader must itself have said LEADING; this
    /// peer may lead only in its own round.
    fn check_leader(&self, votes: &BTreeMap<Sid, Vote>, leader: Sid, election_epoch: i64) -> bool {
        if leader != self.me {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    /// `setPeerState` + `leaveInstance`.
    fn decide(&mut self, vote: Vote, support: Support, actions: &mut Vec<Action>) {
        let state = if vote.leader == self.me {
            ServerState::Leading
        } else if self.participant {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        tracing::info!(
            me = self.me,
            ?state,
            leader = vote.leader,
            round = vote.election_epoch,
            peer_epoch = vote.peer_epoch,
            zxid = format_args!("{:#x}", vote.zxid),
            ?support,
            "election decided"
        );
        self.state = state;
        self.current_vote = Vote { state, ..vote };
        self.running = false;
        self.finalizing = None;
        self.deadline = None;
        self.recvqueue.clear();
        actions.push(Action::Decided {
            state,
            vote: self.current_vote,
            support,
        });
    }
}

/// The sids whose votes agree with `vote` (`getVoteTracker`).
fn agreeing(votes: &BTreeMap<Sid, Vote>, vote: &Vote) -> Vec<Sid> {
    votes
        .iter()
        .filter(|(_, v)| vote.agrees_with(v))
        .map(|(s, _)| *s)
        .collect()
}

#[cfg(test)]
mod tests;
