//! The quorum role logic of the [`super::Replica`] (ZooKeeper's
//! `QuorumPeer`): election, then leading or following, then election
//! again; the epoch persistence rules, standing aside, the TRUNC and epoch
//! holds, and the commit bookkeeping that the quorum gate reads
//! ([`Peer::committed`]).
//!
//! No I/O: it feeds packets, durability and the time to the state machines
//! of [`crate::quorum::election`] and [`crate::quorum::zab`], carries out what they return
//! on the [`Sequencer`] (roles, forwarded requests, commits, snapshots),
//! and returns the rest as [`Action`]s. A dependent action (an epoch write,
//! a TRUNC, binding the quorum port, the can-lead probe) holds every later
//! Zab input and action until its answer comes.

use super::{Action, EpochKind, Now, PeerInput, QuorumConfig, Reloaded};
use crate::data::digest::TxnDigest;
use crate::data::tree::Tree;
use crate::data::txn::Txn;
use crate::quorum::election::{self, Election, ServerState};
use crate::quorum::reconfig::{Membership, ReconfigView};
use crate::quorum::zab::leader::{
    DeferredTxnLog, Handle, Leader, LeaderAction, LeaderSettings, TxnLogRead,
};
use crate::quorum::zab::learner::{Learner, LearnerAction, LearnerKind, LearnerSettings};
use crate::quorum::zab::observer_master::{
    FollowerView, MasterAction, MasterSettings, ObserverMaster,
};
use crate::quorum::zab::wire::{self, pkt, ForwardedRequest};
use crate::quorum::Sid;
use crate::replica::sequencer::{Forward, Role, Sequencer};
use crate::storage::epochs::Epochs;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// How often a server standing aside asks whether it can lead (ms).
const PROBE_EVERY_MS: u64 = 1000;

enum State {
    Looking,
    Leading {
        leader: Box<Leader>,
        /// The learner connections the leader knows.
        links: BTreeSet<Handle>,
    },
    Following {
        learner: Box<Learner>,
        generation: u64,
        leader: Sid,
        /// When following began (monotonic ms).
        since: u64,
        /// Whether the leader has sent anything on this connection.
        heard: bool,
    },
}

/// A dependent action waiting for its answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    Epoch {
        kind: EpochKind,
        epoch: i64,
    },
    Truncate {
        to: i64,
    },
    Listen,
    /// `then_look`: the probe before an election (else the periodic one
    /// while standing aside).
    CanLead {
        then_look: bool,
    },
    /// A learner's snapshot after a SNAP or TRUNC sync (its log lacks what
    /// the snapshot holds): nothing is logged or acked until it is on disk,
    /// as ZooKeeper takes it synchronously (`zk.takeSnapshot(syncSnapshot)`).
    /// Asked again every `SNAPSHOT_RETRY_MS` (the log core skips one while
    /// another is written), given up after `initLimit` ticks.
    Snapshot {
        zxid: i64,
        since: u64,
        asked: u64,
    },
}

/// A follower's observer master (`observerMasterPort`) and its links.
struct MasterHost {
    om: Box<ObserverMaster>,
    /// The observers' connections.
    links: BTreeSet<Handle>,
    /// The observers' REVALIDATEs forwarded to the leader, in order
    /// (`pendingRevalidations`): session and observer.
    revals: VecDeque<(i64, Handle)>,
    /// A committed reconfig waiting for its activation: observers get it
    /// as INFORMANDACTIVATE, with the designated leader.
    reconfig: Option<(i64, Bytes)>,
}

/// How often a learner asks again for its sync snapshot (ms).
const SNAPSHOT_RETRY_MS: u64 = 200;

/// The machine actions left behind a dependent one.
enum Rest {
    None,
    Leader(VecDeque<LeaderAction>),
    Learner(VecDeque<LearnerAction>),
}

/// A Zab input held behind a dependent action.
enum Held {
    Peer(PeerInput),
    Durable(i64),
    Propose(Vec<(i64, Bytes)>),
    Forward(Vec<Forward>),
    LogFailed(i64),
    LogRead {
        to: Handle,
        size_limit: i64,
        read: TxnLogRead,
    },
}

/// The quorum side of a replica. See the module doc.
pub(super) struct Peer {
    s: QuorumConfig,
    election: Election,
    state: State,
    epochs: Epochs,
    /// Everything up to here is committed by a quorum: the sequencer's
    /// versions up to it may be published.
    committed: i64,
    /// Actions for the log core, in order (they follow the sequencer's own
    /// append of the same step).
    to_log: Vec<Action>,
    /// Every other action, in order.
    out: Vec<Action>,
    generation: u64,
    /// A learner's SNAP waits for its snapshot.
    awaiting_snapshot: bool,
    /// The zxid of the SNAP this learner synced by, while it follows that
    /// leader: a ZooKeeper leader's snapshot is fuzzy, and may hold txns
    /// past it whose commits follow.
    snapped_at: Option<i64>,
    /// A learner's logged proposals not yet committed, by zxid.
    uncommitted: BTreeMap<i64, Bytes>,
    /// The last committed txns (at most `commitLogCount`): the committed
    /// log a new leader starts with. While leading, the `Leader` keeps it.
    recent: VecDeque<(i64, Bytes)>,
    pending: Option<Pending>,
    rest: Rest,
    held: VecDeque<Held>,
    /// When this server last went LOOKING (monotonic ms).
    looking_since: u64,
    /// The quorum port is listened on (leading).
    listening: bool,
    /// This server cannot lead (quorum port, or epoch files): it stands
    /// aside in elections until it can.
    stand_aside: bool,
    /// An epoch file could not be written.
    epochs_unwritable: bool,
    /// When the can-lead probe last ran (monotonic ms).
    last_probe: u64,
    /// Leading could not start: go LOOKING at the next tick.
    relook: bool,
    /// With `relook`: a committed reconfig named this leader (and zxid):
    /// go to it without an election.
    handover: Option<(Sid, i64)>,
    /// The version of the config the election counts besides the active
    /// one (see [`Peer::set_last_seen`]), and one proven never committed.
    last_seen_version: Option<i64>,
    stale_config: Option<i64>,
    /// A TRUNC reloads the tree after a failed log write: go LOOKING once
    /// it is done.
    look_after_truncate: bool,
    /// The last version published to the shards.
    published: Arc<Tree>,
    /// The own log lacks the history at or below this zxid: it came with a
    /// leader's SNAP (see `LeaderSettings::log_floor`).
    log_floor: i64,
    /// A leader's committed tree short of its latest commits.
    snap_base: Arc<Tree>,
    /// A leader's commits past `snap_base`.
    unpublished_commits: VecDeque<(i64, Bytes)>,
    /// The sequencer's tree was replaced (a SNAP, a reload after TRUNC):
    /// the replica publishes it in place of what the shards have.
    replaced: Option<Arc<Tree>>,
    /// The active config with its version (`quorumVerifier`).
    membership: Membership,
    /// Leading: a proposed reconfig not yet committed.
    next_membership: Option<Membership>,
    /// Learning: the config NEWLEADER carried, activated at UPTODATE.
    leader_config: Option<Membership>,
    /// See [`Peer::take_flushed`].
    flushed: Option<(Arc<Tree>, Vec<Vec<crate::replica::msg::Item>>)>,
    /// Following in sync with `observerMasterPort`: the observers this
    /// follower serves.
    master: Option<MasterHost>,
    /// Following: whose each `sync` forwarded to the leader is, in order
    /// (`None`: this server's own, `Some`: an observer's); the leader
    /// answers them in that order (ZooKeeper's `pendingSyncs`).
    sync_owners: VecDeque<Option<Handle>>,
    /// An observer with `observerMasterPort`: which voter's master it
    /// tries next (ZooKeeper's `nextObserverMaster`).
    master_turn: usize,
}

impl Peer {
    /// The ensemble's gauges for `/metrics`: `None` while looking, or
    /// while leading before the leader is established.
    pub(super) fn quorum_facts(&self) -> Option<crate::protocol::fourlw::QuorumFacts> {
        use crate::protocol::fourlw::{LeaderFacts, QuorumFacts};
        let quorum_size = self.s.quorum.voters().count();
        match &self.state {
            State::Looking => None,
            State::Leading { leader, .. } if leader.is_established() => {
                let g = leader.gauges();
                Some(QuorumFacts {
                    quorum_size,
                    synced_observers: g.synced_observers,
                    leader: Some(LeaderFacts {
                        learners: g.learners,
                        synced_followers: g.synced_followers,
                        pending_syncs: g.pending_syncs,
                    }),
                })
            }
            State::Leading { .. } => None,
            State::Following { .. } => Some(QuorumFacts {
                quorum_size,
                synced_observers: self.master.as_ref().map_or(0, |m| m.om.active_observers()),
                leader: None,
            }),
        }
    }

    pub(super) fn new(
        s: QuorumConfig,
        epochs: Epochs,
        committed_log: VecDeque<(i64, Bytes)>,
        published: Arc<Tree>,
        now: Now,
    ) -> Peer {
        let election = Election::new(s.me, s.quorum.clone(), s.config.clone(), s.election);
        let membership = Membership::parse(&String::from_utf8_lossy(&s.config))
            .unwrap_or_else(|_| Membership::new(Vec::new(), None, 0));
        Peer {
            s,
            election,
            state: State::Looking,
            epochs,
            committed: published.last_zxid,
            to_log: Vec::new(),
            out: Vec::new(),
            generation: 0,
            awaiting_snapshot: false,
            snapped_at: None,
            uncommitted: Default::default(),
            recent: committed_log,
            pending: None,
            rest: Rest::None,
            held: Default::default(),
            looking_since: now.mono_ms,
            listening: false,
            stand_aside: false,
            epochs_unwritable: false,
            last_probe: now.mono_ms,
            relook: false,
            last_seen_version: None,
            stale_config: None,
            handover: None,
            look_after_truncate: false,
            log_floor: i64::MIN,
            snap_base: published.clone(),
            published,
            unpublished_commits: Default::default(),
            replaced: None,
            membership,
            next_membership: None,
            leader_config: None,
            flushed: None,
            master: None,
            sync_owners: VecDeque::new(),
            master_turn: 0,
        }
    }

    /// The first election.
    pub(super) fn start(&mut self, seq: &mut Sequencer, now: Now) {
        tracing::info!("LOOKING");
        self.probe(true, seq, now);
    }

    /// The highest zxid a quorum has committed.
    pub(super) fn committed(&self) -> i64 {
        self.committed
    }

    /// The epochs as written.
    pub(super) fn epochs(&self) -> Epochs {
        self.epochs
    }

    /// Socket and timer actions, in order.
    pub(super) fn take_out(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// Log-core actions, in order.
    pub(super) fn take_log(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.to_log)
    }

    /// The version the shards now have.
    pub(super) fn set_published(&mut self, v: &Arc<Tree>) {
        self.published = v.clone();
        if v.last_zxid > self.snap_base.last_zxid {
            self.snap_base = v.clone();
        }
        let base = self.snap_base.last_zxid;
        while self
            .unpublished_commits
            .front()
            .is_some_and(|(z, _)| *z <= base)
        {
            self.unpublished_commits.pop_front();
        }
    }

    /// The zxids of the committed log kept between leaderships (tests).
    #[cfg(test)]
    pub(super) fn committed_log_zxids(&self) -> Vec<i64> {
        self.recent.iter().map(|(z, _)| *z).collect()
    }

    /// The tree that replaced the sequencer's since the last call, if any:
    /// the replica publishes it (see [`Peer::tree_replaced`]).
    pub(super) fn take_replaced(&mut self) -> Option<Arc<Tree>> {
        self.replaced.take()
    }

    /// What a learner applied from its leader's commits and had not
    /// published when it went LOOKING (a reconfig's answer, say), with
    /// its version: committed, so published before anything else.
    pub(super) fn take_flushed(
        &mut self,
    ) -> Option<(Arc<Tree>, Vec<Vec<crate::replica::msg::Item>>)> {
        let f = self.flushed.take()?;
        // Committed when it was applied; `stop_serving` lowered the gate.
        self.committed = self.committed.max(f.0.last_zxid);
        Some(f)
    }

    /// The sequencer's tree was replaced (a SNAP, or a reload after a
    /// TRUNC or a failed write): the version the shards had is no longer
    /// this member's history. A reload may even go back below it, past
    /// txns the cut took out of the log (seed 16344: a member that logged
    /// 0x100000015 as leader, reloaded at 0x100000014 by a TRUNC, kept
    /// the 0x100000015 tree as its published version; leaving the leader,
    /// `stop_serving` raised `committed` to it, the next batch published
    /// it, `set_published` made it the SNAP base, and as the next leader it
    /// sent that tree under a SNAP of 0x100000014). The replaced tree is
    /// what is published from now on, and what a SNAP builds on.
    fn tree_replaced(&mut self, seq: &Sequencer) {
        let v = Arc::new(seq.tree().clone());
        self.published = v.clone();
        self.snap_base = v.clone();
        self.unpublished_commits.clear();
        self.replaced = Some(v);
    }

    /// When [`Peer::tick`] next has work (ms from `now`).
    pub(super) fn next_wait_ms(&self, now: Now) -> u64 {
        if self.relook {
            return 1;
        }
        let e = self
            .election
            .next_deadline()
            .map(|d| d.saturating_sub(now.mono_ms))
            .unwrap_or(1000);
        let tick = (self.s.tick_ms / 2).max(1);
        e.min(tick).clamp(1, 1000)
    }

    // ---- entries (held while a dependent action is unanswered) ----

    /// Timers: the election's back-off, the Zab machines' ticks, the
    /// can-lead probe while standing aside, read-only mode.
    pub(super) fn tick(&mut self, seq: &mut Sequencer, now: Now) {
        if let Some(Pending::Snapshot { zxid, since, asked }) = self.pending {
            let ms = now.mono_ms;
            if ms.saturating_sub(since) >= self.s.tick_ms * self.s.init_limit as u64 {
                tracing::error!(
                    zxid = format!("0x{zxid:x}"),
                    "the sync snapshot was never written; leaving the leader"
                );
                self.pending = None;
                self.look(seq, now);
                self.resume(seq, now);
            } else if ms.saturating_sub(asked) >= SNAPSHOT_RETRY_MS {
                self.pending = Some(Pending::Snapshot {
                    zxid,
                    since,
                    asked: ms,
                });
                self.to_log.push(Action::Snapshot {
                    tree: Arc::new(seq.tree().clone()),
                    sessions: seq.sessions(),
                    closes_gap: false,
                });
            }
            return;
        }
        if self.pending.is_some() {
            return;
        }
        if std::mem::take(&mut self.relook) {
            match self.handover.take() {
                Some((leader, zxid)) => self.hand_over(leader, zxid, seq, now),
                None => self.look(seq, now),
            }
            if self.pending.is_some() {
                return;
            }
        }
        let ms = now.mono_ms;
        if self.stand_aside
            && self.election.is_running()
            && ms.saturating_sub(self.last_probe) >= PROBE_EVERY_MS
        {
            self.probe(false, seq, now);
            if self.pending.is_some() {
                return;
            }
        }
        // Read-only mode: LOOKING for max(2 s, tickTime) (ZooKeeper's
        // roZkMgr) serves reads; a decision ends it.
        let looking = matches!(self.state, State::Looking);
        if self.s.read_only_mode
            && looking
            && seq.role() == Role::NotServing
            && ms.saturating_sub(self.looking_since) >= self.s.tick_ms.max(2000)
        {
            tracing::info!("no quorum: serving reads in read-only mode");
            seq.set_role(Role::ReadOnly, 0, now.wall_ms);
        }
        if !looking && seq.role() == Role::ReadOnly {
            seq.set_role(Role::NotServing, 0, now.wall_ms);
        }
        let a = self.election.timeout(ms);
        self.election_actions(a, seq, now);
        match &mut self.state {
            State::Leading { leader, .. } => {
                let a = leader.tick(ms);
                self.leader_actions(a.into(), seq, now);
            }
            State::Following { learner, .. } => {
                let a = learner.tick(ms);
                self.learner_actions(a.into(), seq, now);
                if let Some(m) = &mut self.master {
                    let a = m.om.tick(ms);
                    self.master_actions(a, seq, now);
                }
            }
            State::Looking => {}
        }
    }

    /// One event of the peer sockets.
    pub(super) fn input(&mut self, p: PeerInput, seq: &mut Sequencer, now: Now) {
        if self.pending.is_some() {
            self.held.push_back(Held::Peer(p));
        } else {
            self.do_input(p, seq, now);
        }
    }

    /// The own txn log is durable up to `zxid`.
    pub(super) fn durable(&mut self, zxid: i64, seq: &mut Sequencer, now: Now) {
        if self.pending.is_some() {
            self.held.push_back(Held::Durable(zxid));
        } else {
            self.do_durable(zxid, seq, now);
        }
    }

    /// A leader's new txns: proposed to the learners (the replica logs
    /// them itself).
    pub(super) fn propose(&mut self, txns: &[(Txn, TxnDigest)], seq: &mut Sequencer, now: Now) {
        if !matches!(self.state, State::Leading { .. }) || txns.is_empty() {
            return;
        }
        let txns: Vec<(i64, Bytes)> = txns
            .iter()
            .map(|(t, d)| {
                (
                    t.hdr.zxid,
                    crate::storage::txnlog::marshall_entry(t, Some(d)),
                )
            })
            .collect();
        if self.pending.is_some() {
            self.held.push_back(Held::Propose(txns));
        } else {
            self.do_propose(txns, seq, now);
        }
    }

    /// A learner's forwards from the sequencer go to the leader.
    pub(super) fn forward(&mut self, seq: &mut Sequencer, now: Now) {
        let fw = seq.take_forwards();
        if fw.is_empty() {
            return;
        }
        if self.pending.is_some() {
            self.held.push_back(Held::Forward(fw));
        } else {
            self.do_forward(fw, seq, now);
        }
    }

    /// The own txn log failed a write; it is durable up to `durable`.
    pub(super) fn log_failed(&mut self, durable: i64, seq: &mut Sequencer, now: Now) {
        if self.pending.is_some() {
            self.held.push_back(Held::LogFailed(durable));
        } else {
            self.do_log_failed(durable, seq, now);
        }
    }

    /// The answer to a `ReadLog`.
    pub(super) fn log_read(
        &mut self,
        to: Handle,
        size_limit: i64,
        read: TxnLogRead,
        seq: &mut Sequencer,
        now: Now,
    ) {
        if self.pending.is_some() {
            self.held.push_back(Held::LogRead {
                to,
                size_limit,
                read,
            });
        } else {
            self.do_log_read(to, size_limit, read, seq, now);
        }
    }

    // ---- the answers to dependent actions ----

    pub(super) fn epoch_persisted(
        &mut self,
        kind: EpochKind,
        epoch: i64,
        result: Result<(), String>,
        seq: &mut Sequencer,
        now: Now,
    ) {
        if self.pending != Some(Pending::Epoch { kind, epoch }) {
            tracing::warn!(?kind, epoch, "an epoch write nobody waits for");
            return;
        }
        self.pending = None;
        match result {
            Ok(()) => match kind {
                EpochKind::Current => self.epochs.current = epoch,
                EpochKind::Accepted => self.epochs.accepted = epoch,
            },
            Err(err) => {
                // Fatal to the role, as in ZooKeeper (`setAcceptedEpoch`/
                // `setCurrentEpoch` throw and the peer goes LOOKING): nothing
                // after the write runs, so the epoch is never acknowledged,
                // and the epoch kept stays the one on disk.
                tracing::error!(
                    epoch,
                    error = %err,
                    "cannot persist {}; leaving the role without acknowledging the epoch, standing aside in elections until it can be written",
                    match kind {
                        EpochKind::Current => crate::storage::epochs::CURRENT,
                        EpochKind::Accepted => crate::storage::epochs::ACCEPTED,
                    }
                );
                self.epochs_unwritable = true;
                self.look(seq, now);
            }
        }
        self.resume(seq, now);
    }

    /// A snapshot at `zxid` is on disk: a learner's sync goes on.
    pub(super) fn snapshotted(&mut self, zxid: i64, seq: &mut Sequencer, now: Now) {
        if let Some(Pending::Snapshot { zxid: want, .. }) = self.pending {
            if zxid >= want {
                self.pending = None;
                self.resume(seq, now);
            }
        }
    }

    /// The log core cut the log after `to` (a TRUNC), and reloaded the
    /// tree when it held more.
    pub(super) fn truncated(
        &mut self,
        to: i64,
        result: Result<Option<Box<Reloaded>>, String>,
        seq: &mut Sequencer,
        now: Now,
    ) {
        if self.pending != Some(Pending::Truncate { to }) {
            return;
        }
        self.pending = None;
        let relook = std::mem::take(&mut self.look_after_truncate);
        match result {
            Err(e) => {
                tracing::error!(error = %e, "TRUNC failed; leaving the leader");
                self.look(seq, now);
            }
            Ok(r) => {
                let mut short = false;
                if let Some(r) = r {
                    tracing::info!(
                        zxid = format!("0x{:x}", r.tree.last_zxid),
                        "reloaded after TRUNC"
                    );
                    let r = *r;
                    // The log did not reach `to` (the history past the
                    // tree came by a snapshot the cut removed): the tree
                    // is not the one the leader's sync builds on.
                    short = r.tree.last_zxid < to;
                    seq.install_tree(r.tree, &r.sessions, now.wall_ms);
                    self.tree_replaced(seq);
                }
                self.committed = seq.tree().last_zxid;
                if short && !relook {
                    tracing::error!(
                        to = format!("0x{to:x}"),
                        zxid = format!("0x{:x}", seq.tree().last_zxid),
                        "the log held less than the TRUNC point; leaving the leader to sync again"
                    );
                    self.look(seq, now);
                    self.resume(seq, now);
                    return;
                }
                // After a failed log write: the election, with the tree
                // the log holds.
                if relook {
                    self.look(seq, now);
                }
            }
        }
        self.resume(seq, now);
    }

    /// The quorum port is bound (or why not): lead, or stand aside.
    pub(super) fn listening(&mut self, r: Result<(), String>, seq: &mut Sequencer, now: Now) {
        if self.pending != Some(Pending::Listen) {
            return;
        }
        self.pending = None;
        match r {
            Err(e) => {
                // ZooKeeper's Leader binds its quorum port first and gives
                // up leading when it cannot. Here the server then stands
                // aside in the next election, rather than win it again.
                tracing::warn!(
                    error = %e,
                    "cannot bind the quorum port: not leading; standing aside so that another member leads"
                );
                self.stand_aside = true;
                let _ = self
                    .election
                    .set_stand_aside(true, !self.epochs_unwritable, now.mono_ms);
                self.relook = true;
            }
            Ok(()) => {
                self.listening = true;
                self.start_leading(seq, now);
            }
        }
        self.resume(seq, now);
    }

    /// Whether this server can lead: its epoch files could be rewritten
    /// (when asked) and its quorum port bound.
    pub(super) fn can_lead(&mut self, free: bool, seq: &mut Sequencer, now: Now) {
        let Some(Pending::CanLead { then_look }) = self.pending else {
            return;
        };
        self.pending = None;
        self.can_lead_is(free, then_look, seq, now);
        self.resume(seq, now);
    }

    // ---- internals ----

    /// Runs what waited behind an answered dependent action, until the
    /// next one.
    fn resume(&mut self, seq: &mut Sequencer, now: Now) {
        if self.pending.is_some() {
            return;
        }
        match std::mem::replace(&mut self.rest, Rest::None) {
            Rest::None => {}
            Rest::Leader(q) => self.leader_actions(q, seq, now),
            Rest::Learner(q) => self.learner_actions(q, seq, now),
        }
        while self.pending.is_none() {
            let Some(h) = self.held.pop_front() else {
                break;
            };
            match h {
                Held::Peer(p) => self.do_input(p, seq, now),
                Held::Durable(z) => self.do_durable(z, seq, now),
                Held::Propose(t) => self.do_propose(t, seq, now),
                Held::Forward(f) => self.do_forward(f, seq, now),
                Held::LogFailed(d) => self.do_log_failed(d, seq, now),
                Held::LogRead {
                    to,
                    size_limit,
                    read,
                } => self.do_log_read(to, size_limit, read, seq, now),
            }
        }
    }

    /// Asks whether this server can lead (`then_look`: before an
    /// election, which starts once the answer is in).
    fn probe(&mut self, then_look: bool, seq: &mut Sequencer, now: Now) {
        self.last_probe = now.mono_ms;
        if self.s.observer && !self.epochs_unwritable {
            // An observer never leads: nothing to probe.
            self.can_lead_is(true, then_look, seq, now);
            return;
        }
        self.out.push(Action::ProbeCanLead {
            rewrite_epochs: self.epochs_unwritable.then_some(self.epochs),
        });
        self.pending = Some(Pending::CanLead { then_look });
    }

    fn can_lead_is(&mut self, free: bool, then_look: bool, seq: &mut Sequencer, now: Now) {
        let ms = now.mono_ms;
        if free && self.epochs_unwritable {
            tracing::info!("the epoch files can be written again");
            self.epochs_unwritable = false;
        }
        if then_look {
            // Before an election: a server that cannot lead stands aside,
            // so that it does not win an election it cannot serve.
            if !free && !self.stand_aside {
                tracing::warn!(
                    epochs_unwritable = self.epochs_unwritable,
                    "this server cannot lead: standing aside in this election so that another member leads"
                );
            }
            self.stand_aside = !free;
            let _ = self
                .election
                .set_stand_aside(!free, !self.epochs_unwritable, ms);
            self.set_last_seen(seq);
            let a = self
                .election
                .look(seq.tree().last_zxid, self.epochs.current, ms);
            self.election_actions(a, seq, now);
        } else if free && self.stand_aside && self.election.is_running() {
            tracing::info!("this server can lead again: no longer standing aside");
            self.stand_aside = false;
            let a = self.election.set_stand_aside(false, true, ms);
            self.election_actions(a, seq, now);
        }
    }

    fn do_input(&mut self, q: PeerInput, seq: &mut Sequencer, now: Now) {
        let ms = now.mono_ms;
        match q {
            PeerInput::Election(from, bytes) => {
                match election::wire::Notification::decode(&bytes) {
                    Ok(n) => {
                        self.newer_config_from(from, &n, seq, now);
                        let a = self.election.receive(from, n, ms);
                        self.election_actions(a, seq, now);
                    }
                    Err(e) => tracing::warn!(from, error = %e, "a bad election message; ignored"),
                }
            }
            PeerInput::LearnerUp(h) => {
                if let State::Leading { leader, links } = &mut self.state {
                    links.insert(h);
                    let a = leader.learner_connected(h, ms);
                    self.leader_actions(a.into(), seq, now);
                } else if let Some(m) = &mut self.master {
                    m.links.insert(h);
                    let a = m.om.connected(h, ms);
                    self.master_actions(a, seq, now);
                } else {
                    self.out.push(Action::CloseLearner { to: h });
                }
            }
            PeerInput::FromLearner(h, p) => {
                if let State::Leading { leader, .. } = &mut self.state {
                    let a = leader.packet(h, p, ms);
                    self.leader_actions(a.into(), seq, now);
                } else if let Some(m) = &mut self.master {
                    let view = FollowerView {
                        last_processed: seq.tree().last_zxid,
                        committed: &self.recent,
                    };
                    let a = m.om.packet(h, p, view, ms);
                    self.master_actions(a, seq, now);
                }
            }
            PeerInput::LearnerDown(h) => {
                if let State::Leading { leader, links } = &mut self.state {
                    links.remove(&h);
                    let a = leader.learner_gone(h);
                    self.leader_actions(a.into(), seq, now);
                } else if let Some(m) = &mut self.master {
                    m.links.remove(&h);
                    m.revals.retain(|(_, x)| *x != h);
                    let a = m.om.gone(h);
                    self.master_actions(a, seq, now);
                }
            }
            PeerInput::LeaderUp(g) => {
                if let State::Following {
                    learner,
                    generation,
                    ..
                } = &mut self.state
                {
                    if *generation == g {
                        let a = learner.connected(ms);
                        self.learner_actions(a.into(), seq, now);
                    }
                }
            }
            PeerInput::FromLeader(g, p) => {
                if let State::Following {
                    learner,
                    generation,
                    heard,
                    ..
                } = &mut self.state
                {
                    if *generation == g {
                        *heard = true;
                        if matches!(p.typ, pkt::DIFF | pkt::TRUNC | pkt::SNAP) {
                            tracing::info!(
                                mode = pkt::name(p.typ),
                                zxid = format!("0x{:x}", p.zxid),
                                "syncing with the leader"
                            );
                        }
                        let a = learner.packet(p, ms);
                        self.learner_actions(a.into(), seq, now);
                    }
                }
            }
            PeerInput::Snapshot(g, sessions, tree) => {
                if matches!(&self.state, State::Following { generation, .. } if *generation == g)
                    && self.awaiting_snapshot
                {
                    self.awaiting_snapshot = false;
                    tracing::info!(
                        zxid = format!("0x{:x}", tree.last_zxid),
                        nodes = tree.node_count(),
                        "snapshot from the leader installed"
                    );
                    let before = seq.tree().last_zxid;
                    let to = tree.last_zxid;
                    self.log_floor = self.log_floor.max(to);
                    self.committed = to;
                    seq.install_tree(tree, &sessions, now.wall_ms);
                    self.tree_replaced(seq);
                    if before > to {
                        // The own log holds txns past the snapshot (an old
                        // epoch's, never committed): recovery would replay
                        // them on top of it. Cut them before anything else
                        // reaches the log (the snapshot at NEWLEADER, the
                        // proposals).
                        tracing::info!(
                            log = format!("0x{before:x}"),
                            snapshot = format!("0x{to:x}"),
                            "cutting the own log back to the leader's snapshot"
                        );
                        self.to_log.push(Action::Truncate { to, reload: false });
                        self.pending = Some(Pending::Truncate { to });
                    }
                    // The own log stops short of the snapshot: until a
                    // snapshot holds the gap, nothing may be logged past
                    // it (a restart would replay across the gap), and the
                    // logs before it go once it is durable.
                    self.to_log.push(Action::Snapshot {
                        tree: Arc::new(seq.tree().clone()),
                        sessions: seq.sessions(),
                        closes_gap: true,
                    });
                }
            }
            PeerInput::LeaderDown(g, why) => {
                let State::Following {
                    generation,
                    leader,
                    since,
                    heard,
                    ..
                } = &self.state
                else {
                    return;
                };
                if *generation != g {
                    return;
                }
                // The leader may not listen yet (it decided a moment after
                // us, or a proxy in between took the connection): within
                // initLimit (or connectToLearnerMasterLimit), and before
                // it said anything, try it again.
                let limit = self.s.leader_connect_ms();
                if !*heard && ms.saturating_sub(*since) < limit {
                    tracing::debug!(
                        why,
                        leader,
                        "the leader's quorum port is not up yet; retrying"
                    );
                    let leader = *leader;
                    self.follow(leader, seq.tree().last_zxid, true, now);
                } else {
                    tracing::warn!(why, "lost the leader");
                    self.look(seq, now);
                }
            }
        }
    }

    fn do_durable(&mut self, zxid: i64, seq: &mut Sequencer, now: Now) {
        match &mut self.state {
            State::Leading { leader, .. } => {
                let a = leader.own_durable(zxid);
                self.leader_actions(a.into(), seq, now);
            }
            State::Following { learner, .. } => {
                let a = learner.durable(zxid);
                self.learner_actions(a.into(), seq, now);
            }
            State::Looking => {}
        }
    }

    fn do_propose(&mut self, txns: Vec<(i64, Bytes)>, seq: &mut Sequencer, now: Now) {
        for (zxid, data) in txns {
            let State::Leading { leader, .. } = &mut self.state else {
                return;
            };
            if let Some(m) = reconfig_of(&data) {
                leader.set_next_config(zxid, m.quorum());
                self.next_membership = Some(m);
            }
            match leader.propose(zxid, data, now.mono_ms) {
                Ok(a) => self.leader_actions(a.into(), seq, now),
                Err(e) => {
                    tracing::error!(error = %e, zxid = format!("0x{zxid:x}"), "cannot propose; leaving leadership");
                    self.look(seq, now);
                    return;
                }
            }
            if self.pending.is_some() {
                // Unreachable in practice (proposing never persists an
                // epoch); kept in order all the same.
                return;
            }
        }
    }

    fn do_forward(&mut self, fw: Vec<Forward>, seq: &mut Sequencer, now: Now) {
        let State::Following { learner, .. } = &mut self.state else {
            return;
        };
        let mut actions = Vec::new();
        for f in fw {
            actions.extend(match f {
                Forward::Request {
                    session,
                    cxid,
                    op,
                    body,
                    auth,
                } => {
                    if op == crate::protocol::jute::op::SYNC {
                        self.sync_owners.push_back(None);
                    }
                    learner.forward(&ForwardedRequest {
                        session_id: session,
                        cxid,
                        op,
                        request: body,
                        authinfo: Some(auth),
                    })
                }
                Forward::Revalidate { session, timeout } => learner.revalidate(session, timeout),
            });
        }
        self.learner_actions(actions.into(), seq, now);
    }

    /// A leader or learner leaves its role (ZooKeeper's server stops and
    /// its peer goes back to LOOKING); what was not logged is forgotten,
    /// what was logged is kept (it may be committed). The log is cut at
    /// its durable end (dropping what the failed write left, and telling
    /// the log core where the next batch starts: a learner that rejoins
    /// its leader continues from a SNAP or DIFF, not from the failed
    /// zxid); with `reload` the tree held txns the log does not, and is
    /// reloaded from it. The election waits for both: its vote must not
    /// claim what the log lacks.
    fn do_log_failed(&mut self, durable: i64, seq: &mut Sequencer, now: Now) {
        let reload = seq.tree().last_zxid > durable;
        tracing::error!(
            durable = format!("0x{durable:x}"),
            reload,
            "the txn log failed: leaving the role"
        );
        self.uncommitted.retain(|z, _| *z <= durable);
        self.leave();
        self.stop_serving(seq, now);
        if reload {
            self.uncommitted.clear();
        }
        // The committed log a next leadership starts from ends where the
        // log does, reload or not: the replica may already have put the
        // tree back at the durable version (`Replica::rollback`), while
        // `recent` still holds what the cut takes out of the log (a
        // leader's outstanding proposals, from `into_committed_log`; a
        // learner's, applied going LOOKING). Kept, they went out in a
        // later DIFF as committed history (seed 22560: a leader whose log
        // failed after proposing 0x300000002 and 0x300000003 led again
        // at 0x500000004 and sent both to a learner at 0x200000006).
        self.recent.retain(|(z, _)| *z <= durable);
        self.to_log.push(Action::Truncate {
            to: durable,
            reload,
        });
        self.pending = Some(Pending::Truncate { to: durable });
        self.look_after_truncate = true;
    }

    fn do_log_read(
        &mut self,
        to: Handle,
        size_limit: i64,
        read: TxnLogRead,
        seq: &mut Sequencer,
        now: Now,
    ) {
        if let State::Leading { leader, .. } = &mut self.state {
            tracing::info!(
                from = ?read.first_zxid,
                size = read.storage_size,
                size_limit,
                txns = read.txns.len(),
                "read the txn log for a learner older than the committed log"
            );
            let a = leader.log_read(to, size_limit, read, now.mono_ms);
            self.leader_actions(a.into(), seq, now);
        }
    }

    /// Leaves the role: closes the leader's or learners' connections and
    /// the quorum port. Returns whether it was leading.
    fn leave(&mut self) -> bool {
        let was_leading = matches!(self.state, State::Leading { .. });
        match std::mem::replace(&mut self.state, State::Looking) {
            State::Leading { leader, links } => {
                for to in links {
                    self.out.push(Action::CloseLearner { to });
                }
                // The leader kept the committed log while it led.
                self.recent = leader.into_committed_log();
            }
            State::Following { generation, .. } => {
                self.out.push(Action::CloseLeader { generation });
            }
            State::Looking => {}
        }
        self.stop_master();
        if std::mem::take(&mut self.listening) {
            self.out.push(Action::StopListening);
        }
        self.rest = Rest::None;
        self.awaiting_snapshot = false;
        self.snapped_at = None;
        was_leading
    }

    /// A follower in sync with `observerMasterPort` serves observers from
    /// now on (`Follower.followLeader` starts its ObserverMaster).
    fn start_master(&mut self, epoch: i64, seq: &Sequencer, now: Now) {
        if self.s.observer
            || self.s.observer_master_port.is_none()
            || self.master.is_some()
            || !matches!(self.state, State::Following { .. })
        {
            return;
        }
        let settings = MasterSettings {
            tick_ms: self.s.tick_ms,
            init_limit: self.s.init_limit,
            sync_limit: self.s.sync_limit,
            config: Bytes::from(self.membership.text()),
            config_version: self.membership.version,
            sync_bounds: self.s.sync_bounds,
        };
        let om = ObserverMaster::new(settings, epoch, seq.tree().last_zxid, now.mono_ms);
        self.master = Some(MasterHost {
            om: Box::new(om),
            links: BTreeSet::new(),
            revals: VecDeque::new(),
            reconfig: None,
        });
        self.out.push(Action::ListenObservers);
    }

    /// Carries out the observer master's actions.
    fn master_actions(&mut self, queue: Vec<MasterAction>, seq: &mut Sequencer, now: Now) {
        for a in queue {
            let Some(m) = &mut self.master else {
                return;
            };
            match a {
                MasterAction::Send { to, pkt } => {
                    if m.links.contains(&to) {
                        self.out.push(Action::ToLearner { to, pkt });
                    }
                }
                MasterAction::SendSnapshot { to } => {
                    // A follower's tree holds only what was committed.
                    if m.links.contains(&to) {
                        self.out.push(Action::SendSnapshot {
                            to,
                            base: Arc::new(seq.tree().clone()),
                            commits: Vec::new(),
                            sessions: seq.sessions(),
                        });
                    }
                }
                MasterAction::Close { to } => {
                    if m.links.remove(&to) {
                        self.out.push(Action::CloseLearner { to });
                    }
                }
                MasterAction::Request { from, req } => {
                    if req.op == crate::protocol::jute::op::SYNC {
                        self.sync_owners.push_back(Some(from));
                    }
                    if let State::Following { learner, .. } = &mut self.state {
                        let a = learner.forward(&req);
                        self.learner_actions(a.into(), seq, now);
                    }
                }
                MasterAction::Revalidate {
                    from,
                    session_id,
                    timeout,
                } => {
                    m.revals.push_back((session_id, from));
                    if let State::Following { learner, .. } = &mut self.state {
                        let a = learner.revalidate(session_id, timeout);
                        self.learner_actions(a.into(), seq, now);
                    }
                }
                MasterAction::Touch(t) => seq.touch_from_observer(t.session_id),
            }
        }
    }

    /// A follower leaves its leader: its observers go (they look for
    /// another master), and so does the observer master port.
    fn stop_master(&mut self) {
        self.sync_owners.clear();
        if let Some(mut m) = self.master.take() {
            m.om.stop();
            for to in m.links {
                self.out.push(Action::CloseLearner { to });
            }
            self.out.push(Action::StopListening);
        }
    }

    /// The sequencer stops serving; what it applied since its last
    /// publication is not for clients (no quorum committed it yet).
    fn stop_serving(&mut self, seq: &mut Sequencer, now: Now) {
        let _ = seq.take();
        self.committed = self.published.last_zxid;
        self.unpublished_commits.clear();
        seq.set_role(Role::NotServing, 0, now.wall_ms);
    }

    /// After a committed reconfig named `leader`: leaves the role as
    /// [`Peer::look`] does, then leads, follows or observes `leader`
    /// without an election (its vote is `Vote(leader, zxid)`).
    fn hand_over(&mut self, leader: Sid, zxid: i64, seq: &mut Sequencer, now: Now) {
        self.leave_role(seq, now);
        tracing::info!(leader, "handing over to the reconfig's designated leader");
        let a = self.election.designate(leader, zxid);
        self.election_actions(a, seq, now);
    }

    /// Back to LOOKING: the sequencer stops serving and forgets what was
    /// not committed; the election starts again (after the can-lead probe).
    fn look(&mut self, seq: &mut Sequencer, now: Now) {
        let was_leading = self.leave_role(seq, now);
        tracing::info!("LOOKING");
        let ms = now.mono_ms;
        self.looking_since = ms;
        // A leader held its quorum port until now: it may lead again.
        if was_leading && !self.epochs_unwritable {
            self.stand_aside = false;
            let _ = self.election.set_stand_aside(false, true, ms);
            self.set_last_seen(seq);
            let a = self
                .election
                .look(seq.tree().last_zxid, self.epochs.current, ms);
            self.election_actions(a, seq, now);
        } else {
            self.probe(true, seq, now);
        }
    }

    /// Leaves the role (see [`Peer::look`]); returns whether it was
    /// leading.
    fn leave_role(&mut self, seq: &mut Sequencer, now: Now) -> bool {
        // A learner's sequencer applies only what its leader committed:
        // the answers waiting for this step's end go out first.
        if matches!(self.state, State::Following { .. })
            && seq.tree().last_zxid <= self.committed
            && self.flushed.is_none()
        {
            if let Some(items) = seq.take() {
                self.flushed = Some((Arc::new(seq.tree().clone()), items));
            }
        }
        let was_leading = self.leave();
        // The election must see the whole logged history, as ZooKeeper
        // reloads its database from disk here: a txn a quorum logged may
        // have been committed and acknowledged. A leader's tree has every
        // txn it proposed; a learner applies what it logged and never
        // saw committed. None of it is published until a leader commits
        // it (or TRUNC takes it back).
        for (zxid, data) in std::mem::take(&mut self.uncommitted) {
            match crate::storage::txnlog::decode_entry(&data) {
                Ok((t, _)) if t.hdr.zxid > seq.tree().last_zxid => {
                    seq.apply_committed(&t, now.wall_ms);
                    self.remember(zxid, data);
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "a logged txn does not decode"),
            }
        }
        self.stop_serving(seq, now);
        was_leading
    }

    fn election_actions(&mut self, actions: Vec<election::Action>, seq: &mut Sequencer, now: Now) {
        for a in actions {
            match a {
                election::Action::Send { to, msg } => self.out.push(Action::SendElection {
                    to,
                    msg: msg.encode(),
                }),
                election::Action::Decided { state, vote, .. } => {
                    tracing::info!(
                        leader = vote.leader,
                        zxid = format!("0x{:x}", vote.zxid),
                        peer_epoch = vote.peer_epoch,
                        "{}",
                        match state {
                            ServerState::Leading => "LEADING",
                            ServerState::Following => "FOLLOWING",
                            ServerState::Observing => "OBSERVING",
                            ServerState::Looking => "LOOKING",
                        }
                    );
                    match state {
                        ServerState::Leading => {
                            // The quorum port first (see `listening`).
                            self.out.push(Action::Listen);
                            self.pending = Some(Pending::Listen);
                        }
                        ServerState::Following | ServerState::Observing => {
                            self.follow(vote.leader, seq.tree().last_zxid, false, now)
                        }
                        ServerState::Looking => {}
                    }
                }
            }
        }
    }

    /// Adds a committed (or, going LOOKING, logged) txn to `recent`.
    fn remember(&mut self, zxid: i64, data: Bytes) {
        if self.recent.back().is_some_and(|(z, _)| *z >= zxid) {
            return;
        }
        if self.recent.len() >= self.s.commit_log_count.max(1) {
            self.recent.pop_front();
        }
        self.recent.push_back((zxid, data));
    }

    fn start_leading(&mut self, seq: &mut Sequencer, now: Now) {
        let last_zxid = seq.tree().last_zxid;
        // Its whole history is what it leads with: a SNAP sends it.
        self.snap_base = Arc::new(seq.tree().clone());
        self.unpublished_commits.clear();
        let mut ls = LeaderSettings::new(self.s.tick_ms, self.s.init_limit, self.s.sync_limit);
        ls.commit_log_count = self.s.commit_log_count;
        ls.sync_bounds = self.s.sync_bounds;
        ls.config_servers = self.s.config_servers.clone();
        // NEWLEADER carries the active config's version, and a learner
        // with a later one is refused (`LearnerHandler`'s check).
        ls.config_version = self.membership.version;
        if self.s.reconfig_enabled {
            ls.last_seen = config_in(seq.tree())
                .filter(|m| m.version > self.membership.version)
                .map(|m| crate::quorum::zab::leader::LastSeen {
                    servers: m.servers_text(),
                    version: m.version,
                    quorum: m.quorum(),
                });
        }
        ls.snapshot_size_factor = self.s.snapshot_size_factor;
        ls.log_floor = self.log_floor;
        // The committed log must end at the leader's last zxid: one that
        // ends before it (a former leader's own uncommitted proposals are
        // in its tree, not in `recent`) would TRUNC learners that hold
        // them. Without it, older learners get the txn log or a SNAP.
        let committed = if self.recent.back().map(|(z, _)| *z) == Some(last_zxid) {
            self.recent.iter().cloned().collect()
        } else {
            Vec::new()
        };
        let mut leader = Leader::new(
            self.s.me,
            self.s.quorum.clone(),
            self.epochs.accepted,
            self.epochs.current,
            last_zxid,
            committed,
            Box::new(DeferredTxnLog),
            ls,
        );
        let a = leader.start(now.mono_ms);
        self.state = State::Leading {
            leader: Box::new(leader),
            links: BTreeSet::new(),
        };
        self.leader_actions(a.into(), seq, now);
    }

    fn follow(&mut self, leader: Sid, last_zxid: i64, retry: bool, now: Now) {
        let kind = if self.s.observer {
            LearnerKind::Observer
        } else {
            LearnerKind::Follower
        };
        let learner = Learner::new(
            self.s.me,
            kind,
            self.epochs.accepted,
            self.epochs.current,
            last_zxid,
            LearnerSettings::new(self.s.tick_ms, self.s.init_limit, self.s.sync_limit),
        );
        self.generation += 1;
        let g = self.generation;
        let since = match &self.state {
            // A retry keeps the first attempt's clock.
            State::Following {
                leader: l, since, ..
            } if *l == leader => *since,
            _ => now.mono_ms,
        };
        if let State::Following { generation, .. } = &self.state {
            self.out.push(Action::CloseLeader {
                generation: *generation,
            });
        }
        self.stop_master();
        // An observer with observerMasterPort syncs from the voters' observer
        // masters in turn (the leader's is never open), each attempt the
        // next one: QuorumPeer.findLearnerMaster. ZooKeeper shuffles the
        // list; here each observer starts at its own place in it.
        let (dial, master_port) = match self.s.observer_master_port {
            Some(port) if self.s.observer => {
                let voters: Vec<Sid> = self.s.quorum.voters().collect();
                if voters.is_empty() {
                    (leader, None)
                } else {
                    let at = (self.master_turn + self.s.me.unsigned_abs() as usize) % voters.len();
                    self.master_turn = self.master_turn.wrapping_add(1);
                    (voters[at], Some(port))
                }
            }
            _ => (leader, None),
        };
        if master_port.is_some() {
            tracing::info!(leader, master = dial, "observing through a learner master");
        }
        self.state = State::Following {
            learner: Box::new(learner),
            generation: g,
            leader,
            since,
            heard: false,
        };
        self.out.push(Action::ConnectLeader {
            generation: g,
            sid: dial,
            delay_ms: if retry { 100 } else { 0 },
            limit_ms: self.s.leader_connect_ms(),
            master_port,
        });
    }

    /// `QuorumPeer.processReconfig`: `m` is the active config (a no-op
    /// with `reconfigEnabled=false`, as in ZooKeeper). Writes it to
    /// `/zookeeper/config` and (through the driver) the dynamic config
    /// file; the election counts its voters from now on. A change between
    /// observer and participant, or a leader other than the designated
    /// one, ends the role: back to LOOKING once this step's commits are
    /// published. A server the config leaves out goes on as a non-voting
    /// participant, as ZooKeeper's does.
    /// `write_node`: `/zookeeper/config` gets the text; a committed
    /// reconfig txn has put its own there already (which lists the servers
    /// in the leader's order), and keeps it.
    fn activate(
        &mut self,
        m: Membership,
        designated: Option<Sid>,
        write_node: bool,
        seq: &mut Sequencer,
        now: Now,
    ) {
        if !self.s.reconfig_enabled || m.version < self.membership.version {
            return;
        }
        let me = self.s.me;
        let q = m.quorum();
        tracing::info!(version = format!("{:x}", m.version), voters = ?q.voters().collect::<Vec<_>>(), observers = ?q.observers().collect::<Vec<_>>(), "config active");
        // `updateLearnerType`: an observer of the new config observes, a
        // voter participates; a server in no config keeps its type (a
        // participant left out follows on without a vote).
        let was_observer = self.s.observer;
        if q.is_voter(me) {
            self.s.observer = false;
        } else if q.is_observer(me) {
            self.s.observer = true;
        }
        self.s.quorum = q.clone();
        self.s.config = m.text().into_bytes();
        self.s.config_servers = m.servers_text();
        self.election.set_config(q.clone(), self.s.config.clone());
        self.last_seen_version = None;
        match seq
            .tree()
            .get(crate::data::tree::CONFIG)
            .and_then(|n| n.data())
        {
            Some(t) if !write_node => {
                let t = t.to_vec();
                seq.keep_config_node(&t, m.version);
            }
            _ => seq.set_config_node(m.text().as_bytes(), m.version, now.wall_ms),
        }
        if let State::Leading { leader, .. } = &mut self.state {
            leader.set_config(m.servers_text(), m.version);
            leader.set_quorum(self.s.quorum.clone());
        }
        if let Some(h) = &mut self.master {
            h.om.set_config(Bytes::from(m.text()), m.version);
        }
        self.out.push(Action::Reconfigured {
            membership: m.clone(),
        });
        self.membership = m;
        // Without a designated leader (a config taken at establishment,
        // from NEWLEADER, or from a notification), `processReconfig`'s
        // test: the leader is no voter of the new config.
        let leader_changed = match (&self.state, designated) {
            (State::Leading { .. }, Some(d)) => d != me,
            (State::Following { leader, .. }, Some(d)) => d != *leader,
            (State::Leading { .. }, None) => !q.is_voter(me),
            (State::Following { leader, .. }, None) => !q.is_voter(*leader),
            _ => false,
        };
        if was_observer != self.s.observer || leader_changed {
            // At the next tick: what this step committed (the reconfig
            // itself, and its answer) is published first. With a
            // designated leader (COMMITANDACTIVATE), straight to it, as
            // ZooKeeper's `updateServerState` does; else an election.
            tracing::info!(
                leader_changed,
                ?designated,
                "the new config changes this server's role"
            );
            self.relook = true;
            self.handover = designated.map(|d| (d, seq.tree().last_zxid));
        }
    }

    /// `FastLeaderElection`'s receiver: while LOOKING, a notification
    /// carrying a newer config makes it active (`processReconfig` without
    /// a leader) and starts the round again among its voters, so a member
    /// that missed reconfigs finds the ensemble it belongs to now.
    fn newer_config_from(
        &mut self,
        from: Sid,
        n: &election::wire::Notification,
        seq: &mut Sequencer,
        now: Now,
    ) {
        if !self.s.reconfig_enabled || !matches!(self.state, State::Looking) {
            return;
        }
        let theirs = n
            .config
            .as_deref()
            .and_then(|c| Membership::parse(&String::from_utf8_lossy(c)).ok());
        // A reconfig logged here and never activated, whose epoch an
        // established leader has passed with an older config, was never
        // committed (that leader would hold and have activated it): the
        // election stops counting its quorum, or a member whose log holds
        // it could never join (ZooKeeper keeps such a stale
        // lastSeenQuorumVerifier until a restart).
        let established = matches!(
            n.server_state(),
            Some(ServerState::Leading | ServerState::Following)
        );
        if let Some(v) = self.last_seen_version {
            let older = theirs.as_ref().map_or(0, |m| m.version) < v;
            if established && older && n.peer_epoch > v >> 32 {
                tracing::info!(
                    from,
                    version = format!("{v:x}"),
                    "a logged reconfig an established leader of a later epoch lacks: never committed"
                );
                self.stale_config = Some(v);
                self.last_seen_version = None;
                self.election.set_last_seen(None);
            }
        }
        let Some(m) = theirs.filter(|m| m.version > self.membership.version) else {
            return;
        };
        tracing::info!(
            from,
            version = format!("{:x}", m.version),
            "a newer config in an election notification; restarting the election"
        );
        self.activate(m, None, true, seq, now);
        if self.election.is_running() && self.pending.is_none() {
            self.set_last_seen(seq);
            // A new FastLeaderElection (`shuttingDownLE`): round 1 again,
            // as the new config's members count (reconfig seed 16698).
            self.election.restart_rounds();
            let a = self
                .election
                .look(seq.tree().last_zxid, self.epochs.current, now.mono_ms);
            self.election_actions(a, seq, now);
        }
    }

    /// The election counts the quorum of a config its logged history holds
    /// and no commit activated yet, as ZooKeeper's does with
    /// `lastSeenQuorumVerifier`.
    fn set_last_seen(&mut self, seq: &Sequencer) {
        let next = config_in(seq.tree()).filter(|m| {
            self.s.reconfig_enabled
                && m.version > self.membership.version
                && Some(m.version) != self.stale_config
        });
        self.last_seen_version = next.as_ref().map(|m| m.version);
        self.election.set_last_seen(next.map(|m| m.quorum()));
    }

    /// Leading: tells the sequencer what a reconfig is checked against.
    pub(super) fn refresh_view(&self, seq: &mut Sequencer) {
        let view = match &self.state {
            State::Leading { leader, .. } if leader.is_established() => Some(ReconfigView {
                active_version: self.membership.version,
                last_seen: self
                    .next_membership
                    .clone()
                    .unwrap_or_else(|| self.membership.clone()),
                synced: leader.synced_followers(),
                standalone_enabled: self.s.standalone_enabled,
                multi_address: self.s.multi_address,
            }),
            _ => None,
        };
        seq.set_reconfig_view(view);
    }

    /// Asks for an epoch write and holds what follows.
    fn persist(&mut self, kind: EpochKind, epoch: i64) {
        self.out.push(Action::PersistEpoch { kind, epoch });
        self.pending = Some(Pending::Epoch { kind, epoch });
    }

    fn leader_actions(&mut self, mut queue: VecDeque<LeaderAction>, seq: &mut Sequencer, now: Now) {
        while let Some(a) = queue.pop_front() {
            let State::Leading { links, .. } = &mut self.state else {
                return;
            };
            match a {
                LeaderAction::Send { to, pkt } => {
                    if links.contains(&to) {
                        self.out.push(Action::ToLearner { to, pkt });
                    }
                }
                LeaderAction::SendSnapshot { to } => {
                    if links.contains(&to) {
                        self.out.push(Action::SendSnapshot {
                            to,
                            base: self.snap_base.clone(),
                            commits: self.unpublished_commits.iter().cloned().collect(),
                            sessions: seq.sessions(),
                        });
                    }
                }
                LeaderAction::Close { to, why } => {
                    tracing::warn!(handle = to, why = %why, "dropping a learner");
                    if links.remove(&to) {
                        self.out.push(Action::CloseLearner { to });
                    }
                }
                LeaderAction::PersistAcceptedEpoch(e) => {
                    self.persist(EpochKind::Accepted, e);
                    self.rest = Rest::Leader(queue);
                    return;
                }
                LeaderAction::PersistCurrentEpoch(e) => {
                    self.persist(EpochKind::Current, e);
                    self.rest = Rest::Leader(queue);
                    return;
                }
                LeaderAction::ReadLog { to, from, factor } => {
                    self.out.push(Action::ReadLog { to, from, factor });
                }
                // The replica logs its own txns.
                LeaderAction::Log { .. } => {}
                LeaderAction::Commit { zxid, data } => {
                    // Commits come in zxid order: one out of order would
                    // put a SNAP's tree out of step with its zxid.
                    assert!(
                        self.unpublished_commits
                            .back()
                            .is_none_or(|(z, _)| *z < zxid),
                        "a leader commit out of zxid order: 0x{zxid:x}"
                    );
                    self.committed = self.committed.max(zxid);
                    self.unpublished_commits.push_back((zxid, data));
                }
                LeaderAction::Established { epoch } => {
                    tracing::info!(epoch, "leading: established");
                    self.election.update_election_vote(epoch);
                    self.committed = self.committed.max(seq.tree().last_zxid);
                    seq.set_role(Role::Leader, epoch, now.wall_ms);
                    // A reconfig this leader logged and nobody activated
                    // (its leader fell before it committed) is committed
                    // with the new epoch: it is active now.
                    if let Some(m) =
                        config_in(seq.tree()).filter(|m| m.version > self.membership.version)
                    {
                        self.activate(m, None, false, seq, now);
                    }
                    // ZOOKEEPER-1783: a config file's version 0 becomes the
                    // NEWLEADER zxid once a quorum has followed it.
                    if self.membership.version == 0 {
                        let mut m = self.membership.clone();
                        m.version = crate::quorum::make_zxid(epoch, 0);
                        self.activate(m, None, true, seq, now);
                    }
                }
                LeaderAction::Activate { zxid, designated } => {
                    let m = self
                        .next_membership
                        .take()
                        .filter(|m| m.version == zxid)
                        .or_else(|| config_in(seq.tree()));
                    if let Some(m) = m {
                        self.activate(m, Some(designated), false, seq, now);
                    }
                }
                LeaderAction::Request { from, req, .. } => {
                    if req.op == crate::protocol::jute::op::SYNC {
                        // After what this learner forwarded before it: the
                        // sequencer has prepped those txns (the step
                        // proposes them at its end), so its last zxid.
                        if let State::Leading { leader, .. } = &mut self.state {
                            queue.extend(leader.sync(from, seq.tree().last_zxid));
                        }
                    } else {
                        if req.op == crate::protocol::jute::op::RECONFIG {
                            self.refresh_view(seq);
                        }
                        seq.handle_forwarded(
                            req.session_id,
                            req.cxid,
                            req.op,
                            &req.request,
                            req.authinfo.unwrap_or_default(),
                            now.wall_ms,
                        );
                    }
                }
                LeaderAction::Touch { touch, .. } => {
                    seq.touch_sessions([touch.session_id], now.wall_ms)
                }
                LeaderAction::Revalidate {
                    from,
                    session_id,
                    timeout,
                } => {
                    let ok = seq.revalidate(session_id, timeout, now.wall_ms);
                    if let State::Leading { leader, .. } = &mut self.state {
                        queue.extend(leader.revalidated(from, session_id, ok));
                    }
                }
                LeaderAction::StepDown { why } => {
                    tracing::warn!(?why, "leader stepping down");
                    self.look(seq, now);
                    return;
                }
            }
        }
    }

    /// A commit at or below the tree's last zxid that the tree already
    /// holds: the txn the tree ends with, or one past the zxid of the SNAP
    /// it came by (a fuzzy snapshot). Anything else below the tree is a
    /// bug, and stops the server.
    fn fuzzy_snap_holds(&self, zxid: i64, seq: &Sequencer) -> bool {
        let last = seq.tree().last_zxid;
        zxid == last || (zxid < last && self.snapped_at.is_some_and(|s| zxid > s))
    }

    fn learner_actions(
        &mut self,
        mut queue: VecDeque<LearnerAction>,
        seq: &mut Sequencer,
        now: Now,
    ) {
        while let Some(a) = queue.pop_front() {
            let State::Following { generation, .. } = &self.state else {
                return;
            };
            let generation = *generation;
            match a {
                LearnerAction::Send(pkt) => self.out.push(Action::ToLeader { generation, pkt }),
                LearnerAction::PersistAcceptedEpoch(e) => {
                    self.persist(EpochKind::Accepted, e);
                    self.rest = Rest::Learner(queue);
                    return;
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    self.persist(EpochKind::Current, e);
                    self.rest = Rest::Learner(queue);
                    return;
                }
                LearnerAction::LoadSnapshot { zxid } => {
                    self.awaiting_snapshot = true;
                    self.snapped_at = Some(zxid);
                    self.recent.clear();
                }
                LearnerAction::Truncate { to } => {
                    while self.recent.back().is_some_and(|(z, _)| *z > to) {
                        self.recent.pop_back();
                    }
                    // What the cut removes from the log is gone: a later
                    // LOOKING must not apply it again.
                    self.uncommitted.retain(|z, _| *z <= to);
                    // The log core cuts the log (and reloads the tree if it
                    // holds more); the leader's packets wait until it has.
                    self.to_log.push(Action::Truncate {
                        to,
                        reload: seq.tree().last_zxid > to,
                    });
                    self.pending = Some(Pending::Truncate { to });
                    self.rest = Rest::Learner(queue);
                    return;
                }
                LearnerAction::ApplyUnlogged { zxid, data }
                | LearnerAction::Commit { zxid, data } => {
                    self.uncommitted.remove(&zxid);
                    match crate::storage::txnlog::decode_entry(&data) {
                        Ok((t, _)) if self.fuzzy_snap_holds(t.hdr.zxid, seq) => {
                            // A txn the synced tree holds already: a
                            // ZooKeeper leader serializes its tree while it
                            // goes on proposing, so the snapshot can hold
                            // txns past the SNAP's zxid whose proposals and
                            // commits follow it; its learners apply them
                            // again harmlessly, this one skips them.
                            tracing::warn!(
                                zxid = format!("0x{zxid:x}"),
                                "a commit the synced tree already holds; skipped"
                            );
                            self.committed = self.committed.max(t.hdr.zxid);
                        }
                        Ok((t, _)) => {
                            // Commits apply in zxid order: applying one
                            // again, or one older than the tree, would
                            // silently change it.
                            assert!(
                                t.hdr.zxid > seq.tree().last_zxid,
                                "a commit below the tree: 0x{:x} < 0x{:x}",
                                t.hdr.zxid,
                                seq.tree().last_zxid
                            );
                            seq.apply_committed(&t, now.wall_ms);
                            self.committed = self.committed.max(t.hdr.zxid);
                            if let Some(m) = &mut self.master {
                                // Observers get it too; a reconfig waits
                                // for its activation (INFORMANDACTIVATE).
                                if reconfig_of(&data).is_some() {
                                    m.reconfig = Some((zxid, data.clone()));
                                } else {
                                    let a = m.om.committed(zxid, data.clone());
                                    self.master_actions(a, seq, now);
                                }
                            }
                            self.remember(zxid, data);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "a txn from the leader does not decode; leaving it");
                            self.look(seq, now);
                            return;
                        }
                    }
                }
                LearnerAction::TakeSnapshot => {
                    self.to_log.push(Action::Snapshot {
                        tree: Arc::new(seq.tree().clone()),
                        sessions: seq.sessions(),
                        closes_gap: false,
                    });
                    self.pending = Some(Pending::Snapshot {
                        zxid: seq.tree().last_zxid,
                        since: now.mono_ms,
                        asked: now.mono_ms,
                    });
                    self.rest = Rest::Learner(queue);
                    return;
                }
                LearnerAction::Log { zxid, .. } if self.s.observer && !self.s.sync_enabled => {
                    // `syncEnabled=false`: an observer without its
                    // SyncRequestProcessor keeps the txn in memory only
                    // (it is applied at its INFORM); after a restart it
                    // syncs from its last snapshot.
                    if let State::Following { learner, .. } = &mut self.state {
                        queue.extend(learner.durable(zxid));
                    }
                }
                LearnerAction::Log { data, zxid } => {
                    match crate::storage::txnlog::decode_entry(&data) {
                        Ok((t, d)) => {
                            self.uncommitted.insert(zxid, data.clone());
                            let d = d.unwrap_or(TxnDigest {
                                version: crate::data::digest::DIGEST_VERSION,
                                tree_digest: 0,
                            });
                            self.to_log.push(Action::Append(vec![(t, d)]));
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "a proposal does not decode; leaving the leader");
                            self.look(seq, now);
                            return;
                        }
                    }
                }
                LearnerAction::LeaderConfig(text) => {
                    match Membership::parse(&String::from_utf8_lossy(&text)) {
                        Ok(m) if m.version > self.membership.version => {
                            self.leader_config = Some(m)
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "the leader's config does not parse"),
                    }
                }
                LearnerAction::Established { epoch } => {
                    tracing::info!(epoch, "following: in sync");
                    self.election.update_election_vote(epoch);
                    self.committed = self.committed.max(seq.tree().last_zxid);
                    let role = if self.s.observer {
                        Role::Observer
                    } else {
                        Role::Learner
                    };
                    seq.set_role(role, epoch, now.wall_ms);
                    // `syncWithLeader` at UPTODATE: the config NEWLEADER
                    // carried becomes active (or one the sync brought in a
                    // committed reconfig txn, if newer).
                    let synced = config_in(seq.tree());
                    let newest = match (self.leader_config.take(), synced) {
                        (Some(a), Some(b)) if b.version > a.version => Some(b),
                        (a, b) => a.or(b).filter(|m| m.version > self.membership.version),
                    };
                    if let Some(m) = newest {
                        self.activate(m, None, true, seq, now);
                    }
                    self.start_master(epoch, seq, now);
                }
                LearnerAction::Activate { zxid, designated } => {
                    if let Some(m) = &mut self.master {
                        if let Some((z, data)) = m.reconfig.take() {
                            let a = if z == zxid {
                                m.om.activated(zxid, designated, &data)
                            } else {
                                m.om.committed(z, data)
                            };
                            self.master_actions(a, seq, now);
                        }
                    }
                    match config_in(seq.tree()) {
                        Some(m) if m.version == zxid => {
                            self.activate(m, Some(designated), false, seq, now);
                        }
                        _ => tracing::warn!(
                            zxid = format!("0x{zxid:x}"),
                            "a reconfig to activate that the tree does not hold"
                        ),
                    }
                }
                LearnerAction::ReplyPing { ping } => {
                    let touches: Vec<wire::Touch> = seq
                        .take_touched()
                        .into_iter()
                        .map(|(session_id, timeout)| wire::Touch {
                            session_id,
                            timeout,
                        })
                        .collect();
                    self.out.push(Action::ToLeader {
                        generation,
                        pkt: wire::ping_reply(&ping, &touches),
                    });
                }
                LearnerAction::Revalidated { session_id, valid } => {
                    // An observer's, when it heads the observers' queue
                    // (`revalidateLearnerSession`); else this server's.
                    let observer = self.master.as_mut().and_then(|m| {
                        m.revals
                            .front()
                            .is_some_and(|(s, _)| *s == session_id)
                            .then(|| m.revals.pop_front())
                            .flatten()
                    });
                    match (observer, self.master.as_mut()) {
                        (Some((_, h)), Some(m)) => {
                            let a = m.om.revalidated(h, session_id, valid);
                            if valid {
                                seq.touch_from_observer(session_id);
                            }
                            self.master_actions(a, seq, now);
                        }
                        _ => seq.revalidated(session_id, valid, now.wall_ms),
                    }
                }
                LearnerAction::SyncDone => match self.sync_owners.pop_front() {
                    Some(Some(h)) => {
                        if let Some(m) = &mut self.master {
                            let a = m.om.synced(h);
                            self.master_actions(a, seq, now);
                        }
                    }
                    _ => seq.sync_done(),
                },
                LearnerAction::LostLeader { why } => {
                    tracing::warn!(why = %why, "lost the leader");
                    self.look(seq, now);
                    return;
                }
            }
        }
    }
}

/// The new config a proposal carries, when it is a reconfig.
fn reconfig_of(data: &[u8]) -> Option<Membership> {
    // TxnHeader: clientId, cxid, zxid, time, then the type.
    let typ = data.get(28..32)?;
    if i32::from_be_bytes(typ.try_into().ok()?) != crate::protocol::jute::op::RECONFIG {
        return None;
    }
    match crate::storage::txnlog::decode_entry(data) {
        Ok((
            Txn {
                body: crate::data::txn::TxnBody::SetData(s),
                ..
            },
            _,
        )) => Membership::parse(&String::from_utf8_lossy(s.data.as_deref()?)).ok(),
        _ => None,
    }
}

/// The config `/zookeeper/config` holds.
fn config_in(t: &Tree) -> Option<Membership> {
    let n = t.get(crate::data::tree::CONFIG)?;
    Membership::parse(&String::from_utf8_lossy(n.data()?)).ok()
}

/// The tree a SNAP sends: `base` with `commits` past it applied (pure CPU
/// work; the driver runs it off its executor).
pub fn committed_tree(base: &Tree, commits: &[(i64, Bytes)]) -> Tree {
    let mut t = Tree::clone(base);
    for (z, data) in commits {
        if *z <= t.last_zxid {
            continue;
        }
        match crate::storage::txnlog::decode_entry(data) {
            Ok((txn, _)) => {
                t.apply(&txn, &mut Vec::new());
            }
            Err(e) => tracing::error!(error = %e, "a committed txn does not decode"),
        }
    }
    t
}
