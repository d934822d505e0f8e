//! The leader's side of Zab: discovery, sync and broadcast, as a state
//! machine with no I/O.
//!
//! Owns what ZooKeeper 3.8 splits between `Leader` and its
//! `LearnerHandler`s: choosing the new epoch from a quorum's accepted
//! epochs (`getEpochToPropose`), collecting a quorum of ACKEPOCHs
//! (`waitForEpochAck`), syncing each learner ([`super::sync`]) and
//! collecting a quorum of NEWLEADER acks (`waitForNewLeaderAck`), then
//! proposing, counting acks (the leader's own durable log included) and
//! committing in order, INFORMing observers, pinging every half tick and
//! stepping down when a quorum is no longer in touch.
//!
//! The driver feeds it learner connections, decoded packets, its own log's
//! durability and the time in ms, and carries out the returned
//! [`LeaderAction`]s in order (persisting epochs before sending what
//! follows them). Learners are named by the driver's [`Handle`].

use super::sync::{
    plan_packets, plan_sync, txnlog_size_limit, txnlog_usable, SyncBounds, SyncInput, SyncPlan,
};
use super::wire::{self, pkt, ForwardedRequest, LearnerInfo, QuorumPacket, Touch, WireError};
use crate::quorum::reconfig::designated_leader;
use crate::quorum::{counter_of, epoch_of, make_zxid, Quorum, Sid};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The driver's name for one learner connection.
pub type Handle = u64;

/// Timing and sync knobs (`tickTime`, `initLimit`, `syncLimit`,
/// `zookeeper.commitLogCount`, `zookeeper.snapshotSizeFactor`,
/// `zookeeper.forceSnapshotSync`) and the quorum config NEWLEADER carries.
#[derive(Debug, Clone)]
pub struct LeaderSettings {
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub commit_log_count: usize,
    pub snapshot_size_factor: f64,
    pub force_snap_sync: bool,
    /// `zookeeper.leader.maxConcurrentSnapSyncs`/`DiffSyncs`.
    pub sync_bounds: SyncBounds,
    /// The `server.N=...` lines of the quorum config, each ending in `\n`
    /// (`QuorumVerifier.toString` without its `version=` line).
    pub config_servers: String,
    /// The config's version; 0 (a config file without one) makes NEWLEADER
    /// carry the new epoch's zxid as the version, as `Leader.lead` does.
    pub config_version: i64,
    /// The own txn log lacks history at or below this zxid (it came with
    /// a SNAP): a learner behind it gets a SNAP, never a DIFF or TRUNC
    /// read across the gap. `i64::MIN`: no gap.
    pub log_floor: i64,
    /// A newer config than the active one, in a reconfig txn this leader
    /// logged and nobody activated (its leader fell before committing
    /// it): `lastSeenQuorumVerifier`. NEWLEADER carries it, and needs a
    /// quorum of it as well as of the active config (`Leader.lead`'s
    /// `newLeaderProposal.addQuorumVerifier(lastSeenQV)`).
    pub last_seen: Option<LastSeen>,
}

/// See [`LeaderSettings::last_seen`].
#[derive(Debug, Clone)]
pub struct LastSeen {
    /// Its `server.N=` lines, each ending in `\n`.
    pub servers: String,
    pub version: i64,
    pub quorum: Quorum,
}

impl LeaderSettings {
    /// ZooKeeper's defaults for the given timing.
    pub fn new(tick_ms: u64, init_limit: u32, sync_limit: u32) -> LeaderSettings {
        LeaderSettings {
            tick_ms,
            init_limit,
            sync_limit,
            commit_log_count: super::sync::DEFAULT_COMMIT_LOG_COUNT,
            snapshot_size_factor: super::sync::DEFAULT_SNAPSHOT_SIZE_FACTOR,
            force_snap_sync: false,
            sync_bounds: SyncBounds::default(),
            log_floor: i64::MIN,
            config_servers: String::new(),
            config_version: 0,
            last_seen: None,
        }
    }

    fn init_ms(&self) -> u64 {
        self.tick_ms * self.init_limit as u64
    }

    fn sync_ms(&self) -> u64 {
        self.tick_ms * self.sync_limit as u64
    }
}

/// What the on-disk txn log holds from the file containing a zxid on
/// (`FileTxnSnapLog.readTxnLog(zxid, false)`), for DIFFs older than the
/// in-memory committed log.
#[derive(Debug, Clone, Default)]
pub struct TxnLogRead {
    /// The first txn's zxid; `None` when there is no log.
    pub first_zxid: Option<i64>,
    /// The size on disk of the log from that file on.
    pub storage_size: u64,
    /// The txns, ascending, with their PROPOSAL data.
    pub txns: Vec<(i64, Bytes)>,
}

/// The leader's read access to its own disk, used only while syncing a
/// learner that is behind the in-memory committed log.
pub trait TxnLogSource {
    /// The txn log from the file that holds `zxid` on; with `size_limit`
    /// over 0 and the log larger, its txns may be left out (the size
    /// alone makes the leader decline it).
    fn read_from(&self, zxid: i64, size_limit: i64) -> TxnLogRead;
    /// The size of the most recent snapshot (0 when there is none).
    fn snapshot_size(&self) -> u64;
    /// Whether the log is read by the driver instead: the leader asks with
    /// [`LeaderAction::ReadLog`] and that learner's sync waits for
    /// [`Leader::log_read`] (the other learners go on). `read_from` and
    /// `snapshot_size` are then never called.
    fn deferred(&self) -> bool {
        false
    }
}

/// A [`TxnLogSource`] read by the driver (see [`TxnLogSource::deferred`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeferredTxnLog;

impl TxnLogSource for DeferredTxnLog {
    fn read_from(&self, _: i64, _: i64) -> TxnLogRead {
        TxnLogRead::default()
    }
    fn snapshot_size(&self) -> u64 {
        0
    }
    fn deferred(&self) -> bool {
        true
    }
}

/// A [`TxnLogSource`] with nothing on disk: every learner older than the
/// committed log gets a snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTxnLog;

impl TxnLogSource for NoTxnLog {
    fn read_from(&self, _: i64, _: i64) -> TxnLogRead {
        TxnLogRead::default()
    }
    fn snapshot_size(&self) -> u64 {
        0
    }
}

/// Why the leader dropped one learner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearnerFault {
    #[error("first packet is {0}, not FOLLOWERINFO or OBSERVERINFO")]
    NotInfo(&'static str),
    #[error("learner protocol version {0:#x} predates Zab 1.0")]
    OldProtocol(i32),
    #[error("learner has a later activated config ({0:#x})")]
    ConfigAhead(i64),
    #[error("expected ACKEPOCH, got {0}")]
    NotAckEpoch(&'static str),
    #[error("expected the NEWLEADER ACK, got {0}")]
    NotNewLeaderAck(&'static str),
    #[error("follower is ahead of the leader: epoch {epoch}, zxid {zxid:#x}")]
    Ahead { epoch: i64, zxid: i64 },
    #[error("bad packet body: {0}")]
    Body(#[from] WireError),
    #[error("nothing read for {0} ms")]
    ReadTimeout(u64),
    #[error("a proposal went unacked for syncLimit")]
    SyncLimit,
    #[error("an observer acked {0:#x}: observers do not ack")]
    ObserverAck(i64),
    #[error("the observer ({observer:#x}) is ahead of this observer master ({master:#x})")]
    MasterBehind { observer: i64, master: i64 },
    #[error("{bound} {kind} syncs are in progress (leader.maxConcurrent{kind_key}Syncs): the observer comes back later")]
    SyncThrottled {
        kind: &'static str,
        kind_key: &'static str,
        bound: usize,
    },
}

impl LearnerFault {
    /// The fault of an observer's sync over its [`SyncBounds`] bound.
    pub(super) fn throttled(snap: bool, bound: usize) -> LearnerFault {
        let (kind, kind_key) = if snap {
            ("SNAP", "Snap")
        } else {
            ("DIFF", "Diff")
        };
        LearnerFault::SyncThrottled {
            kind,
            kind_key,
            bound,
        }
    }
}

/// The checks of a FOLLOWERINFO or OBSERVERINFO body that the leader and
/// an observer master share (`LearnerHandler.run`): the learner must not
/// have activated a later config than `config_version`, and must speak Zab
/// 1.0 (pre-3.4 learners know no LEADERINFO/ACKEPOCH). Gives the sid it
/// names, if its body has one.
pub(super) fn info_sid(p: &QuorumPacket, config_version: i64) -> Result<Option<Sid>, LearnerFault> {
    let (sid, version, config) = match &p.data {
        Some(d) => LearnerInfo::decode_lenient(d),
        None => (None, 0, None),
    };
    if let Some(c) = config.filter(|c| *c > config_version) {
        return Err(LearnerFault::ConfigAhead(c));
    }
    if version < wire::PROTOCOL_VERSION {
        return Err(LearnerFault::OldProtocol(version));
    }
    Ok(sid)
}

/// Why the leader stopped leading (and its server goes back to election).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepDownReason {
    #[error("timeout while waiting for epoch from quorum")]
    NoEpochQuorum,
    #[error("timeout while waiting for epoch to be acked by quorum")]
    NoEpochAckQuorum,
    #[error("timeout while waiting for NEWLEADER to be acked by quorum")]
    NoNewLeaderQuorum,
    #[error("not sufficient followers synced, only synced with sids: {0:?}")]
    LostQuorum(Vec<Sid>),
}

/// Why a proposal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("not an established leader")]
    NotLeading,
    #[error("proposal zxid {got:#x}, expected {expected:#x}")]
    OutOfOrder { expected: i64, got: i64 },
    #[error("zxid lower 32 bits have rolled over, forcing re-election")]
    Rollover,
}

/// What the driver does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaderAction {
    /// Write a packet to a learner.
    Send { to: Handle, pkt: QuorumPacket },
    /// Right after the SNAP packet before it, write the serialized tree and
    /// sessions as of the last `Commit`, then [`wire::SNAP_SIGNATURE`].
    SendSnapshot { to: Handle },
    /// Close a learner's connection; no `learner_gone` is needed after.
    Close { to: Handle, why: LearnerFault },
    /// Write `acceptedEpoch` durably before going on.
    PersistAcceptedEpoch(i64),
    /// Write `currentEpoch` durably before going on.
    PersistCurrentEpoch(i64),
    /// Append a proposal to the own txn log; report it with `own_durable`.
    Log { zxid: i64, data: Bytes },
    /// A quorum acked: apply the txn and answer its client.
    Commit { zxid: i64, data: Bytes },
    /// Leading in `epoch`: start serving and proposing.
    Established { epoch: i64 },
    /// A reconfig committed (after its `Commit`): the next config is
    /// active, led by `designated` (this leader unless it left the voters).
    Activate { zxid: i64, designated: Sid },
    /// A learner forwarded a client request (a `sync` one is answered by
    /// calling [`Leader::sync`] once it reaches the proposal stage).
    Request {
        from: Handle,
        sid: Sid,
        req: ForwardedRequest,
    },
    /// A learner's ping touched a session.
    Touch { sid: Sid, touch: Touch },
    /// A learner asks whether a session is valid; answer with
    /// [`Leader::revalidated`].
    Revalidate {
        from: Handle,
        session_id: i64,
        timeout: i32,
    },
    /// Stop leading: close every learner and go back to election.
    StepDown { why: StepDownReason },
    /// Only with a deferred [`TxnLogSource`]: read the txn log from the
    /// file holding `from` on, with the size limit
    /// `txnlog_size_limit(newest snapshot size, factor)`, and hand it to
    /// [`Leader::log_read`] for learner `to`.
    ReadLog { to: Handle, from: i64, factor: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a quorum of accepted epochs (`getEpochToPropose`).
    Discovery,
    /// Waiting for a quorum of ACKEPOCHs (`waitForEpochAck`).
    EpochAck,
    /// Waiting for a quorum of NEWLEADER acks (`waitForNewLeaderAck`).
    NewLeaderAck,
    /// Established.
    Broadcast,
    /// Stepped down.
    Stopped,
}

/// Where one learner's handler is (`LearnerHandler.run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitInfo,
    /// Blocked in `getEpochToPropose`.
    AwaitEpoch,
    /// LEADERINFO sent.
    AwaitAckEpoch,
    /// Blocked in `waitForEpochAck`.
    AwaitEpochQuorum,
    /// NEWLEADER sent, reading its ACK.
    AwaitNewLeaderAck,
    /// Blocked in `waitForNewLeaderAck`/`waitForStartup`.
    AwaitStartup,
    /// UPTODATE sent.
    Active,
}

/// `LearnerHandler.SyncLimitCheck`: the oldest proposal sent and not yet
/// acked, and the one after it.
#[derive(Debug, Clone, Copy, Default)]
struct SyncLimitCheck {
    started: bool,
    current: Option<(i64, u64)>,
    next: Option<(i64, u64)>,
}

impl SyncLimitCheck {
    fn update_proposal(&mut self, zxid: i64, now: u64) {
        if !self.started {
            return;
        }
        if self.current.is_none() {
            self.current = Some((zxid, now));
        } else {
            self.next = Some((zxid, now));
        }
    }

    fn update_ack(&mut self, zxid: i64) {
        if self.current.is_some_and(|(z, _)| z == zxid) {
            self.current = self.next.take();
        } else if self.next.is_some_and(|(z, _)| z == zxid) {
            self.next = None;
        }
    }

    fn check(&self, now: u64, sync_ms: u64) -> bool {
        match self.current {
            None => true,
            Some((_, t)) => now.saturating_sub(t) < sync_ms,
        }
    }
}

#[derive(Debug, Clone)]
struct Peer {
    sid: Option<Sid>,
    observer: bool,
    stage: Stage,
    /// The socket read deadline; `None` while the handler is blocked.
    read_deadline: Option<u64>,
    /// `tickOfNextAckDeadline`.
    tick_deadline: u64,
    sync_check: SyncLimitCheck,
    /// The last zxid its ACKEPOCH reported.
    peer_zxid: i64,
    /// Added to `forwardingFollowers`/`observingLearners`.
    forwarding: bool,
    /// `sendingThreadStarted`: pings go out.
    pinging: bool,
    /// A deferred txn log read is on its way for this learner's sync.
    reading: bool,
    /// The deferred read (size limit, what it read), once in.
    disk_read: Option<(i64, TxnLogRead)>,
    /// Its sync is a SNAP (for [`SyncBounds`], while it awaits
    /// NEWLEADER's ACK).
    snap_sync: bool,
}

/// [`Leader::gauges`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderGauges {
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub pending_syncs: usize,
}

#[derive(Debug, Clone)]
struct Proposal {
    data: Bytes,
    acks: BTreeSet<Sid>,
    /// A proposal made while a reconfig is outstanding needs a quorum of
    /// the config it was made under and of the next one
    /// (`Proposal.qvAcksetPairs`) until the reconfig commits; from then
    /// on (`None`) the leader's quorum, the new config's. ZooKeeper keeps
    /// both for it; see [`Leader::try_commit`].
    under: Option<(Quorum, Quorum)>,
}

/// The leader's state machine. See the module doc.
pub struct Leader {
    me: Sid,
    quorum: Quorum,
    settings: LeaderSettings,
    disk: Box<dyn TxnLogSource>,
    phase: Phase,
    phase_deadline: u64,
    accepted_epoch: i64,
    /// `leaderStateSummary`: our current epoch and last zxid at the start.
    summary: (i64, i64),
    /// The epoch being proposed (`Leader.epoch`).
    epoch: i64,
    connecting: BTreeSet<Sid>,
    electing: BTreeSet<Sid>,
    newleader_acks: BTreeSet<Sid>,
    /// `getDataTreeLastProcessedZxid`.
    last_processed: i64,
    committed_log: VecDeque<(i64, Bytes)>,
    outstanding: BTreeMap<i64, Proposal>,
    last_proposed: i64,
    last_committed: i64,
    own_durable: i64,
    pending_syncs: BTreeMap<i64, Vec<Handle>>,
    peers: BTreeMap<Handle, Peer>,
    /// A proposed reconfig not yet committed: its zxid and next quorum
    /// (`lastSeenQuorumVerifier` past the active one).
    next: Option<(i64, Quorum)>,
    follower_counter: Sid,
    tick: u64,
    tick_skip: bool,
    next_half_tick: u64,
    out: Vec<LeaderAction>,
}

impl Leader {
    /// A leader elected with its persisted epochs, its last zxid (the
    /// tree's, after loading snapshot and log) and the tail of its log as
    /// the committed log (`ZKDatabase.committedLog`, at most
    /// `commit_log_count` txns, ascending). Call [`Leader::start`] next.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: Sid,
        quorum: Quorum,
        accepted_epoch: i64,
        current_epoch: i64,
        last_zxid: i64,
        committed_log: Vec<(i64, Bytes)>,
        disk: Box<dyn TxnLogSource>,
        settings: LeaderSettings,
    ) -> Leader {
        let mut committed_log: VecDeque<(i64, Bytes)> = committed_log.into();
        while committed_log.len() > settings.commit_log_count.max(1) {
            committed_log.pop_front();
        }
        Leader {
            me,
            quorum,
            settings,
            disk,
            phase: Phase::Discovery,
            phase_deadline: 0,
            accepted_epoch,
            summary: (current_epoch, last_zxid),
            epoch: -1,
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            last_processed: last_zxid,
            committed_log,
            outstanding: BTreeMap::new(),
            last_proposed: last_zxid,
            last_committed: -1,
            own_durable: last_zxid,
            pending_syncs: BTreeMap::new(),
            peers: BTreeMap::new(),
            next: None,
            follower_counter: -1,
            tick: 0,
            tick_skip: true,
            next_half_tick: 0,
            out: Vec::new(),
        }
    }

    /// Starts leading at `now`: the leader's own bid for the epoch
    /// (`getEpochToPropose(self, acceptedEpoch)`).
    pub fn start(&mut self, now: u64) -> Vec<LeaderAction> {
        self.phase_deadline = now + self.settings.init_ms();
        let (me, accepted) = (self.me, self.accepted_epoch);
        self.bid_epoch(me, accepted, now);
        self.take()
    }

    /// The committed log (ascending), as the leadership ends: what a
    /// later leader starts from, as ZooKeeper's `committedLog` outlives
    /// the leadership. The proposals still outstanding follow it: the
    /// tree holds them, and a later DIFF from this log must not skip
    /// them (ZooKeeper's `fastForwardDataBase` adds every logged txn to
    /// its `committedLog` as the leadership ends).
    pub fn into_committed_log(self) -> VecDeque<(i64, Bytes)> {
        let mut log = self.committed_log;
        let last = log.back().map_or(i64::MIN, |(z, _)| *z);
        for (zxid, p) in self.outstanding.range(last.saturating_add(1)..) {
            log.push_back((*zxid, p.data.clone()));
        }
        while log.len() > self.settings.commit_log_count.max(1) {
            log.pop_front();
        }
        log
    }

    /// The epoch being led, once chosen.
    pub fn epoch(&self) -> Option<i64> {
        (self.epoch >= 0 && self.phase != Phase::Discovery).then_some(self.epoch)
    }

    /// Whether the leader is established (broadcasting).
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// Whether the leader has stepped down.
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// The zxid the next proposal must carry.
    pub fn next_zxid(&self) -> i64 {
        self.last_proposed + 1
    }

    /// The last zxid proposed (what PINGs carry).
    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }

    /// The last zxid committed.
    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    /// The sids of learners whose handlers are past the INFO packet.
    pub fn learners(&self) -> Vec<Sid> {
        self.peers.values().filter_map(|p| p.sid).collect()
    }

    /// ZooKeeper's leader gauges: learners past INFO, synced voting
    /// followers and synced observers (those receiving proposals), and the
    /// syncs waiting for a commit (`pendingSyncs.size()`).
    pub fn gauges(&self) -> LeaderGauges {
        let synced = |observer: bool| {
            self.peers
                .values()
                .filter(|p| p.forwarding && p.observer == observer)
                .count()
        };
        LeaderGauges {
            learners: self.peers.values().filter(|p| p.sid.is_some()).count(),
            synced_followers: synced(false),
            synced_observers: synced(true),
            pending_syncs: self.pending_syncs.len(),
        }
    }

    /// A learner connected to the quorum port.
    pub fn learner_connected(&mut self, h: Handle, now: u64) -> Vec<LeaderAction> {
        if self.phase != Phase::Stopped {
            let tick_deadline =
                self.tick + self.settings.init_limit as u64 + self.settings.sync_limit as u64;
            self.peers.insert(
                h,
                Peer {
                    sid: None,
                    observer: false,
                    stage: Stage::AwaitInfo,
                    read_deadline: Some(now + self.settings.init_ms()),
                    tick_deadline,
                    sync_check: SyncLimitCheck::default(),
                    peer_zxid: -1,
                    forwarding: false,
                    pinging: false,
                    reading: false,
                    disk_read: None,
                    snap_sync: false,
                },
            );
        }
        self.take()
    }

    /// A learner's connection closed (idempotent).
    pub fn learner_gone(&mut self, h: Handle) -> Vec<LeaderAction> {
        self.peers.remove(&h);
        for hs in self.pending_syncs.values_mut() {
            hs.retain(|x| *x != h);
        }
        self.take()
    }

    /// A packet from a learner.
    pub fn packet(&mut self, h: Handle, p: QuorumPacket, now: u64) -> Vec<LeaderAction> {
        if self.phase == Phase::Stopped {
            return self.take();
        }
        let Some(peer) = self.peers.get_mut(&h) else {
            return self.take();
        };
        if peer.read_deadline.is_some() {
            let limit = if matches!(peer.stage, Stage::Active) {
                self.settings.sync_ms()
            } else {
                self.settings.init_ms()
            };
            peer.read_deadline = Some(now + limit);
        }
        if let Err(why) = self.on_packet(h, p, now) {
            self.close(h, why);
        }
        self.take()
    }

    /// The own txn log is durable up to `zxid`: the leader's ack.
    pub fn own_durable(&mut self, zxid: i64) -> Vec<LeaderAction> {
        if zxid > self.own_durable {
            self.own_durable = zxid;
            if self.phase == Phase::Broadcast {
                let me = self.me;
                let todo: Vec<i64> = self.outstanding.range(..=zxid).map(|(z, _)| *z).collect();
                for z in todo {
                    self.process_ack(me, z);
                }
            }
        }
        self.take()
    }

    /// Proposes a txn whose data (TxnHeader, txn, digest) carries
    /// `zxid`, which must be [`Leader::next_zxid`]. A zxid whose counter is
    /// 0xffffffff is refused with [`ProposeError::Rollover`] and the leader
    /// stops, as `Leader.propose` shuts down: the driver closes every
    /// learner and goes back to election, so a new epoch starts afresh.
    pub fn propose(
        &mut self,
        zxid: i64,
        data: Bytes,
        now: u64,
    ) -> Result<Vec<LeaderAction>, ProposeError> {
        if self.phase != Phase::Broadcast {
            return Err(ProposeError::NotLeading);
        }
        if zxid != self.next_zxid() {
            return Err(ProposeError::OutOfOrder {
                expected: self.next_zxid(),
                got: zxid,
            });
        }
        if counter_of(zxid) == 0xffff_ffff {
            self.phase = Phase::Stopped;
            self.peers.clear();
            return Err(ProposeError::Rollover);
        }
        self.last_proposed = zxid;
        self.outstanding.insert(
            zxid,
            Proposal {
                data: data.clone(),
                acks: BTreeSet::new(),
                under: self
                    .next
                    .as_ref()
                    .map(|(_, q)| (self.quorum.clone(), q.clone())),
            },
        );
        let p = QuorumPacket::with_data(pkt::PROPOSAL, zxid, data.clone());
        let to: Vec<Handle> = self
            .peers
            .iter()
            .filter(|(_, p)| p.forwarding && !p.observer)
            .map(|(h, _)| *h)
            .collect();
        for h in to {
            if let Some(peer) = self.peers.get_mut(&h) {
                peer.sync_check.update_proposal(zxid, now);
            }
            self.send(h, p.clone());
        }
        self.out.push(LeaderAction::Log { zxid, data });
        if self.own_durable >= zxid {
            let me = self.me;
            self.process_ack(me, zxid);
        }
        Ok(self.take())
    }

    /// The next proposal (at `zxid`) is a reconfig to `next`: it and every
    /// proposal after it need a quorum of both configs until it commits
    /// (`Leader.propose` with `lastSeenQuorumVerifier`).
    pub fn set_next_config(&mut self, zxid: i64, next: Quorum) {
        self.next = Some((zxid, next));
    }

    /// The config text NEWLEADER carries from now on (the `server.N`
    /// lines and the version), after a reconfig.
    pub fn set_config(&mut self, servers: String, version: i64) {
        self.settings.config_servers = servers;
        self.settings.config_version = version;
        if self
            .settings
            .last_seen
            .as_ref()
            .is_some_and(|l| l.version <= version)
        {
            self.settings.last_seen = None;
        }
    }

    /// The quorum that commits from now on (a config activated outside a
    /// commit: one found in the log at election).
    pub fn set_quorum(&mut self, quorum: Quorum) {
        self.quorum = quorum;
    }

    /// The voters in touch (`Leader.isQuorumSynced`): the leader and its
    /// synced followers, by sid. A follower that the active config makes
    /// an observer is not counted, where ZooKeeper counts it: it came with
    /// an older config, and leaves at UPTODATE, when NEWLEADER's config
    /// changes its role. Counted, it let a reconfig that promotes it pass
    /// this check; once it left, that config's quorum was out of reach,
    /// nothing committed again, and the ensemble stopped for good (the
    /// replica simulation's reconfig seed 10832).
    /// A follower the active config leaves out is counted, as in
    /// ZooKeeper: that is how a joining server is added.
    pub fn synced_followers(&self) -> BTreeSet<Sid> {
        let mut s: BTreeSet<Sid> = self
            .peers
            .values()
            .filter(|p| p.forwarding && !p.observer && self.tick <= p.tick_deadline)
            .filter_map(|p| p.sid)
            .filter(|sid| !self.quorum.is_observer(*sid))
            .collect();
        s.insert(self.me);
        s
    }

    /// A learner's `sync` request reached the proposal stage
    /// (`Leader.processSync`): SYNC goes back once `after`, the last zxid
    /// handed out when it arrived, has committed, and before any later
    /// commit. `after` counts the txns the sequencer has prepped and not
    /// yet proposed (they go out at the end of the step): a write the
    /// learner forwarded just before its sync is one, and one it forwarded
    /// just after is not. A ZooKeeper 3.8 follower matches each COMMIT and
    /// SYNC against the oldest of its own requests; one out of that order
    /// is taken for another server's, its request then never completes,
    /// and no later local write is answered either.
    pub fn sync(&mut self, h: Handle, after: i64) -> Vec<LeaderAction> {
        if after <= self.last_committed {
            self.send(h, QuorumPacket::new(pkt::SYNC, 0));
        } else {
            self.pending_syncs.entry(after).or_default().push(h);
        }
        self.take()
    }

    /// The answer to a [`LeaderAction::ReadLog`] for learner `h`: the size
    /// limit used and what the log held (the default when it could not be
    /// read). That learner's sync goes on.
    pub fn log_read(
        &mut self,
        h: Handle,
        size_limit: i64,
        read: TxnLogRead,
        now: u64,
    ) -> Vec<LeaderAction> {
        if let Some(p) = self.peers.get_mut(&h) {
            if p.reading {
                p.reading = false;
                p.disk_read = Some((size_limit, read));
                if matches!(self.phase, Phase::NewLeaderAck | Phase::Broadcast) {
                    self.sync_learner(h, now);
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    /// The answer to a learner's REVALIDATE.
    pub fn revalidated(&mut self, h: Handle, session_id: i64, valid: bool) -> Vec<LeaderAction> {
        self.send(h, wire::revalidate_reply(session_id, valid));
        self.take()
    }

    /// Time passes: phase timeouts, read timeouts, and in broadcast the
    /// half-tick loop (pings, the synced-quorum check every tick).
    pub fn tick(&mut self, now: u64) -> Vec<LeaderAction> {
        match self.phase {
            Phase::Stopped => return self.take(),
            Phase::Broadcast => {
                let half = (self.settings.tick_ms / 2).max(1);
                while now >= self.next_half_tick && self.phase == Phase::Broadcast {
                    self.half_tick(self.next_half_tick);
                    self.next_half_tick += half;
                }
            }
            phase if now >= self.phase_deadline => {
                let why = match phase {
                    Phase::Discovery => StepDownReason::NoEpochQuorum,
                    Phase::EpochAck => StepDownReason::NoEpochAckQuorum,
                    _ => StepDownReason::NoNewLeaderQuorum,
                };
                self.step_down(why);
                return self.take();
            }
            _ => {}
        }
        let late: Vec<(Handle, u64)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.read_deadline.is_some_and(|d| now >= d))
            .map(|(h, p)| {
                let limit = if p.stage == Stage::Active {
                    self.settings.sync_ms()
                } else {
                    self.settings.init_ms()
                };
                (*h, limit)
            })
            .collect();
        for (h, limit) in late {
            self.close(h, LearnerFault::ReadTimeout(limit));
        }
        self.take()
    }

    fn take(&mut self) -> Vec<LeaderAction> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, to: Handle, pkt: QuorumPacket) {
        self.out.push(LeaderAction::Send { to, pkt });
    }

    fn close(&mut self, h: Handle, why: LearnerFault) {
        if self.peers.remove(&h).is_some() {
            self.out.push(LeaderAction::Close { to: h, why });
        }
    }

    fn step_down(&mut self, why: StepDownReason) {
        if self.phase != Phase::Stopped {
            self.phase = Phase::Stopped;
            self.peers.clear();
            self.out.push(LeaderAction::StepDown { why });
        }
    }

    fn newleader_zxid(&self) -> i64 {
        make_zxid(self.epoch, 0)
    }

    fn config_bytes(&self) -> Bytes {
        if let Some(l) = &self.settings.last_seen {
            return Bytes::from(format!("{}version={:x}", l.servers, l.version));
        }
        let version = if self.settings.config_version == 0 {
            self.newleader_zxid()
        } else {
            self.settings.config_version
        };
        Bytes::from(format!(
            "{}version={:x}",
            self.settings.config_servers, version
        ))
    }

    fn on_packet(&mut self, h: Handle, p: QuorumPacket, now: u64) -> Result<(), LearnerFault> {
        let Some(stage) = self.peers.get(&h).map(|x| x.stage) else {
            return Ok(());
        };
        match stage {
            Stage::AwaitInfo => self.on_info(h, p, now),
            Stage::AwaitAckEpoch => {
                if p.typ != pkt::ACKEPOCH {
                    return Err(LearnerFault::NotAckEpoch(pkt::name(p.typ)));
                }
                let epoch = wire::body_int("ACKEPOCH", p.data.as_deref())? as i64;
                self.on_ack_epoch(h, epoch, p.zxid, now)
            }
            Stage::AwaitNewLeaderAck => {
                if p.typ != pkt::ACK {
                    return Err(LearnerFault::NotNewLeaderAck(pkt::name(p.typ)));
                }
                self.on_newleader_ack(h, p.zxid, now);
                Ok(())
            }
            // Blocked in a wait: the packets sit in the socket until the
            // handler reads again, by when the leader is established. The
            // learner sends only ACKs then, of txns the leader has
            // committed already, which processAck ignores.
            Stage::AwaitEpoch | Stage::AwaitEpochQuorum => Ok(()),
            Stage::AwaitStartup | Stage::Active => self.on_broadcast_packet(h, p),
        }
    }

    fn on_info(&mut self, h: Handle, p: QuorumPacket, now: u64) -> Result<(), LearnerFault> {
        if p.typ != pkt::FOLLOWERINFO && p.typ != pkt::OBSERVERINFO {
            return Err(LearnerFault::NotInfo(pkt::name(p.typ)));
        }
        let sid = info_sid(&p, self.settings.config_version)?.unwrap_or_else(|| {
            let s = self.follower_counter;
            self.follower_counter -= 1;
            s
        });
        if let Some(peer) = self.peers.get_mut(&h) {
            peer.sid = Some(sid);
            peer.observer = p.typ == pkt::OBSERVERINFO;
            peer.stage = Stage::AwaitEpoch;
            peer.read_deadline = None;
        }
        self.bid_epoch(sid, epoch_of(p.zxid), now);
        Ok(())
    }

    /// `getEpochToPropose(sid, lastAcceptedEpoch)`.
    fn bid_epoch(&mut self, sid: Sid, last_accepted: i64, now: u64) {
        if self.phase != Phase::Discovery {
            // The epoch is chosen: LEADERINFO right away.
            self.send_leader_info(now);
            return;
        }
        if last_accepted >= self.epoch {
            self.epoch = last_accepted + 1;
        }
        if self.quorum.is_voter(sid) {
            self.connecting.insert(sid);
        }
        if self.connecting.contains(&self.me) && self.quorum.contains_quorum(&self.connecting) {
            self.accepted_epoch = self.epoch;
            self.last_proposed = self.newleader_zxid();
            self.out
                .push(LeaderAction::PersistAcceptedEpoch(self.epoch));
            self.phase = Phase::EpochAck;
            self.phase_deadline = now + self.settings.init_ms();
            self.send_leader_info(now);
            // The leader's own `waitForEpochAck(self, leaderStateSummary)`.
            let (me, summary) = (self.me, self.summary);
            self.epoch_ack(me, summary.0, summary.1, now);
        }
    }

    fn send_leader_info(&mut self, now: u64) {
        let info = wire::leader_info(self.newleader_zxid());
        let waiting: Vec<Handle> = self
            .peers
            .iter()
            .filter(|(_, p)| p.stage == Stage::AwaitEpoch)
            .map(|(h, _)| *h)
            .collect();
        for h in waiting {
            if let Some(p) = self.peers.get_mut(&h) {
                p.stage = Stage::AwaitAckEpoch;
                p.read_deadline = Some(now + self.settings.init_ms());
            }
            self.send(h, info.clone());
        }
    }

    fn on_ack_epoch(
        &mut self,
        h: Handle,
        epoch: i64,
        zxid: i64,
        now: u64,
    ) -> Result<(), LearnerFault> {
        let Some(sid) = self.peers.get(&h).and_then(|p| p.sid) else {
            return Ok(());
        };
        if let Some(p) = self.peers.get_mut(&h) {
            p.stage = Stage::AwaitEpochQuorum;
            p.read_deadline = None;
            p.peer_zxid = zxid;
        }
        // A handler past `waitForEpochAck` once the election is finished
        // is not checked again.
        if self.phase == Phase::EpochAck {
            let (cur, last) = self.summary;
            if epoch != -1 && (epoch > cur || (epoch == cur && zxid > last)) {
                return Err(LearnerFault::Ahead { epoch, zxid });
            }
            self.epoch_ack(sid, epoch, zxid, now);
        }
        if matches!(self.phase, Phase::NewLeaderAck | Phase::Broadcast) {
            self.sync_learner(h, now);
        }
        Ok(())
    }

    /// `waitForEpochAck(sid, StateSummary(epoch, zxid))`.
    fn epoch_ack(&mut self, sid: Sid, epoch: i64, zxid: i64, now: u64) {
        if epoch != -1 && zxid != -1 && self.quorum.is_voter(sid) {
            self.electing.insert(sid);
        }
        if self.electing.contains(&self.me) && self.quorum.contains_quorum(&self.electing) {
            self.phase = Phase::NewLeaderAck;
            self.phase_deadline = now + self.settings.init_ms();
            self.out.push(LeaderAction::PersistCurrentEpoch(self.epoch));
            let waiting: Vec<Handle> = self
                .peers
                .iter()
                .filter(|(_, p)| p.stage == Stage::AwaitEpochQuorum)
                .map(|(h, _)| *h)
                .collect();
            for h in waiting {
                self.sync_learner(h, now);
            }
            // The leader's own `waitForNewLeaderAck(self, zxid)`.
            let (me, nz) = (self.me, self.newleader_zxid());
            self.newleader_ack(me, nz, now);
        }
    }

    /// `syncFollower` + `startForwarding` + NEWLEADER for one learner
    /// whose ACKEPOCH is in.
    fn sync_learner(&mut self, h: Handle, now: u64) {
        let Some(peer) = self.peers.get(&h) else {
            return;
        };
        if peer.stage != Stage::AwaitEpochQuorum {
            return;
        }
        if peer.reading {
            return;
        }
        let (peer_zxid, observer) = (peer.peer_zxid, peer.observer);
        let committed: Vec<i64> = self.committed_log.iter().map(|(z, _)| *z).collect();
        let factor = self.settings.snapshot_size_factor;
        let mut from_disk: Vec<(i64, Bytes)> = Vec::new();
        let disk = &self.disk;
        let deferred = disk.deferred();
        let mut cached = self.peers.get_mut(&h).and_then(|p| p.disk_read.take());
        let mut ask: Option<i64> = None;
        let decision = plan_sync(
            SyncInput {
                peer_last_zxid: peer_zxid,
                last_processed_zxid: self.last_processed,
                committed: &committed,
                force_snap: self.settings.force_snap_sync
                    || (peer_zxid < self.settings.log_floor && peer_zxid != self.last_processed),
                txnlog_sync_enabled: factor >= 0.0,
            },
            |start| {
                let (limit, read) = if deferred {
                    match cached.take() {
                        Some(c) => c,
                        None => {
                            ask = Some(start);
                            return None;
                        }
                    }
                } else {
                    let limit = txnlog_size_limit(disk.snapshot_size(), factor);
                    (limit, disk.read_from(start, limit))
                };
                if !txnlog_usable(start, read.first_zxid, read.storage_size, limit) {
                    return None;
                }
                let zxids = read.txns.iter().map(|(z, _)| *z).collect();
                from_disk = read.txns;
                Some(zxids)
            },
        );
        if let Some(from) = ask {
            // The plan needs the on-disk log: this learner's sync waits
            // for it (the plan is made again with it, from the state then).
            if let Some(p) = self.peers.get_mut(&h) {
                p.reading = true;
            }
            self.out.push(LeaderAction::ReadLog {
                to: h,
                from,
                factor,
            });
            return;
        }
        let pkts = plan_packets(&decision.plan, self.last_processed, |z| {
            self.committed_log
                .binary_search_by_key(&z, |(x, _)| *x)
                .ok()
                .map(|i| self.committed_log[i].1.clone())
                .or_else(|| {
                    from_disk
                        .binary_search_by_key(&z, |(x, _)| *x)
                        .ok()
                        .map(|i| from_disk[i].1.clone())
                })
                .unwrap_or_default()
        });
        let snap = decision.plan == SyncPlan::Snap;
        let running = self
            .peers
            .values()
            .filter(|p| p.stage == Stage::AwaitNewLeaderAck && p.snap_sync == snap)
            .count();
        if let Err(bound) = self.settings.sync_bounds.admit(snap, observer, running) {
            self.close(h, LearnerFault::throttled(snap, bound));
            return;
        }
        if let Some(p) = self.peers.get_mut(&h) {
            p.snap_sync = snap;
        }
        let mut pkts = pkts.into_iter();
        if snap {
            if let Some(p) = pkts.next() {
                self.send(h, p);
            }
            self.out.push(LeaderAction::SendSnapshot { to: h });
        }
        for p in pkts {
            self.send(h, p);
        }
        // Its acks of what is re-sent below are from before this sync:
        // a TRUNC (or a SNAP) may take those txns out of its log, so they
        // count again only once it has logged them again (seed 3712 of
        // the replica simulation: a commit counted an ack the TRUNC took
        // back).
        if let Some(sid) = self.peers.get(&h).and_then(|p| p.sid) {
            for (_, p) in self.outstanding.range_mut(decision.forward_from + 1..) {
                p.acks.remove(&sid);
            }
        }
        // `startForwarding`: proposals still outstanding past where the
        // learner will be (participants only), then join the broadcast.
        if !observer && self.last_proposed > decision.forward_from {
            let todo: Vec<(i64, Bytes)> = self
                .outstanding
                .range(decision.forward_from + 1..)
                .map(|(z, p)| (*z, p.data.clone()))
                .collect();
            for (z, d) in todo {
                self.send(h, QuorumPacket::with_data(pkt::PROPOSAL, z, d));
            }
        }
        let nl =
            QuorumPacket::with_data(pkt::NEWLEADER, self.newleader_zxid(), self.config_bytes());
        self.send(h, nl);
        if let Some(p) = self.peers.get_mut(&h) {
            p.forwarding = true;
            p.pinging = true;
            p.stage = Stage::AwaitNewLeaderAck;
            p.read_deadline = Some(now + self.settings.init_ms());
        }
    }

    fn on_newleader_ack(&mut self, h: Handle, zxid: i64, now: u64) {
        let Some(peer) = self.peers.get_mut(&h) else {
            return;
        };
        peer.stage = Stage::AwaitStartup;
        peer.read_deadline = None;
        peer.sync_check.started = true;
        let sid = peer.sid.unwrap_or(0);
        self.newleader_ack(sid, zxid, now);
        // Established already (or just now, which sent it UPTODATE).
        let waiting = self
            .peers
            .get(&h)
            .is_some_and(|p| p.stage == Stage::AwaitStartup);
        if self.phase == Phase::Broadcast && waiting {
            self.uptodate(h, now);
        }
    }

    /// `waitForNewLeaderAck(sid, zxid)`.
    fn newleader_ack(&mut self, sid: Sid, zxid: i64, now: u64) {
        if self.phase != Phase::NewLeaderAck || zxid != self.newleader_zxid() {
            // Already formed, or an ACK from another epoch (which ZooKeeper
            // logs and lets through to UPTODATE without counting).
            return;
        }
        self.newleader_acks.insert(sid);
        let last_seen = self.settings.last_seen.as_ref();
        if self.quorum.contains_quorum(&self.newleader_acks)
            && last_seen.is_none_or(|l| l.quorum.contains_quorum(&self.newleader_acks))
        {
            self.establish(now);
        }
    }

    /// `startZkServer` and the broadcast loop's start.
    fn establish(&mut self, now: u64) {
        self.phase = Phase::Broadcast;
        let z = self.newleader_zxid();
        self.last_committed = z;
        self.last_processed = z;
        self.tick = 0;
        self.tick_skip = true;
        self.next_half_tick = now + (self.settings.tick_ms / 2).max(1);
        self.out
            .push(LeaderAction::Established { epoch: self.epoch });
        let waiting: Vec<Handle> = self
            .peers
            .iter()
            .filter(|(_, p)| p.stage == Stage::AwaitStartup)
            .map(|(h, _)| *h)
            .collect();
        for h in waiting {
            self.uptodate(h, now);
        }
    }

    fn uptodate(&mut self, h: Handle, now: u64) {
        if let Some(p) = self.peers.get_mut(&h) {
            p.stage = Stage::Active;
            p.read_deadline = Some(now + self.settings.sync_ms());
        }
        self.send(h, QuorumPacket::new(pkt::UPTODATE, -1));
    }

    fn on_broadcast_packet(&mut self, h: Handle, p: QuorumPacket) -> Result<(), LearnerFault> {
        let tick_deadline = self.tick + self.settings.sync_limit as u64;
        let Some(peer) = self.peers.get_mut(&h) else {
            return Ok(());
        };
        if peer.stage == Stage::Active {
            peer.tick_deadline = tick_deadline;
        }
        let sid = peer.sid.unwrap_or(0);
        match p.typ {
            pkt::ACK => {
                peer.sync_check.update_ack(p.zxid);
                self.process_ack(sid, p.zxid);
            }
            pkt::PING => {
                for touch in wire::decode_touches(p.data.as_deref())? {
                    self.out.push(LeaderAction::Touch { sid, touch });
                }
            }
            pkt::REVALIDATE => {
                let (session_id, timeout) = wire::decode_revalidate_request(p.data.as_deref())?;
                self.out.push(LeaderAction::Revalidate {
                    from: h,
                    session_id,
                    timeout,
                });
            }
            pkt::REQUEST => {
                let req = ForwardedRequest::from_packet(&p)?;
                self.out.push(LeaderAction::Request { from: h, sid, req });
            }
            // "unexpected quorum packet": logged and ignored.
            _ => {}
        }
        Ok(())
    }

    /// `Leader.processAck`.
    fn process_ack(&mut self, sid: Sid, zxid: i64) {
        if self.phase != Phase::Broadcast || counter_of(zxid) == 0 {
            // The ACK of NEWLEADER or UPTODATE.
            return;
        }
        if self.outstanding.is_empty() || self.last_committed >= zxid {
            return;
        }
        let Some(p) = self.outstanding.get_mut(&zxid) else {
            // "Trying to commit future proposal".
            return;
        };
        p.acks.insert(sid);
        let mut z = zxid;
        // Commit in order; a later proposal that already has its quorum
        // follows the one that completes.
        while self.try_commit(z) {
            z += 1;
        }
    }

    /// `Leader.tryToCommit`.
    fn try_commit(&mut self, zxid: i64) -> bool {
        if self.outstanding.contains_key(&(zxid - 1)) {
            return false;
        }
        let Some(p) = self.outstanding.get(&zxid) else {
            return false;
        };
        let quorums = match &p.under {
            Some((old, new)) => old.contains_quorum(&p.acks) && new.contains_quorum(&p.acks),
            None => self.quorum.contains_quorum(&p.acks),
        };
        if !quorums {
            return false;
        }
        let Some(p) = self.outstanding.remove(&zxid) else {
            return false;
        };
        self.last_committed = zxid;
        self.last_processed = zxid;
        let mut activate = None;
        let (commit, inform) = match self.next.take() {
            Some((z, next)) if z == zxid => {
                // `tryToCommit` of a reconfig: the next config is active
                // from here on, and every learner is told who leads it.
                let designated = designated_leader(self.me, &next, &p.acks);
                self.quorum = next;
                // The proposals made while it was pending need the new
                // config's quorum alone from now on. ZooKeeper keeps the
                // old one's for them too; but the old voters that the
                // reconfig made observers (or removed) leave to re-sync,
                // their acks of those proposals go (they are truncated),
                // and the leader's commits then stop for good (the
                // reconfig simulation, seeds 4438 and 46049). It is safe:
                // every later leader holds the committed reconfig and is
                // elected and established with a quorum of the new config
                // (counted as the last seen config until it is active),
                // which holds these proposals.
                for o in self.outstanding.values_mut() {
                    o.under = None;
                }
                activate = Some(designated);
                (
                    QuorumPacket::with_data(
                        pkt::COMMITANDACTIVATE,
                        zxid,
                        wire::designated_leader_body(designated, &[]),
                    ),
                    QuorumPacket::with_data(
                        pkt::INFORMANDACTIVATE,
                        zxid,
                        wire::designated_leader_body(designated, &p.data),
                    ),
                )
            }
            other => {
                self.next = other;
                (
                    QuorumPacket::new(pkt::COMMIT, zxid),
                    QuorumPacket::with_data(pkt::INFORM, zxid, p.data.clone()),
                )
            }
        };
        let to: Vec<(Handle, bool)> = self
            .peers
            .iter()
            .filter(|(_, x)| x.forwarding)
            .map(|(h, x)| (*h, x.observer))
            .collect();
        for (h, observer) in to {
            self.send(
                h,
                if observer {
                    inform.clone()
                } else {
                    commit.clone()
                },
            );
        }
        self.out.push(LeaderAction::Commit {
            zxid,
            data: p.data.clone(),
        });
        if let Some(designated) = activate {
            self.out.push(LeaderAction::Activate { zxid, designated });
        }
        // `ZKDatabase.addCommittedProposal`.
        if self.committed_log.len() > self.settings.commit_log_count {
            self.committed_log.pop_front();
        }
        self.committed_log.push_back((zxid, p.data));
        while let Some(e) = self.pending_syncs.first_entry() {
            if *e.key() > zxid {
                break;
            }
            for h in e.remove() {
                self.send(h, QuorumPacket::new(pkt::SYNC, 0));
            }
        }
        true
    }

    /// One pass of `lead()`'s loop, every half tick.
    fn half_tick(&mut self, now: u64) {
        if !self.tick_skip {
            self.tick += 1;
            let mut synced: BTreeSet<Sid> = BTreeSet::from([self.me]);
            synced.extend(
                self.peers
                    .values()
                    .filter(|p| self.tick <= p.tick_deadline)
                    .filter_map(|p| p.sid),
            );
            // With a reconfig pending (proposed, or logged by the fallen
            // leader), its config's quorum must be in touch too: `lead`'s
            // `syncedAckSet` with `lastSeenQuorumVerifier`.
            let next = self.next.as_ref().map(|(_, q)| q);
            let last_seen = self.settings.last_seen.as_ref().map(|l| &l.quorum);
            let in_touch = [Some(&self.quorum), next, last_seen]
                .into_iter()
                .flatten()
                .all(|q| q.contains_quorum(&synced));
            if !in_touch {
                let sids = synced.into_iter().filter(|s| self.quorum.is_voter(*s));
                self.step_down(StepDownReason::LostQuorum(sids.collect()));
                return;
            }
        }
        self.tick_skip = !self.tick_skip;
        let ping = QuorumPacket::new(pkt::PING, self.last_proposed);
        let sync_ms = self.settings.sync_ms();
        let hs: Vec<(Handle, bool)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.pinging)
            .map(|(h, p)| (*h, p.sync_check.check(now, sync_ms)))
            .collect();
        for (h, ok) in hs {
            if ok {
                self.send(h, ping.clone());
            } else {
                self.close(h, LearnerFault::SyncLimit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LeaderSettings {
        let mut s = LeaderSettings::new(100, 10, 5);
        s.config_servers = "server.1=a:2888:3888:participant\n".into();
        s
    }

    fn leader(voters: &[Sid], accepted: i64, current: i64, last: i64) -> Leader {
        Leader::new(
            1,
            Quorum::new(voters.iter().copied(), []),
            accepted,
            current,
            last,
            Vec::new(),
            Box::new(NoTxnLog),
            settings(),
        )
    }

    fn info(typ: i32, sid: Sid, accepted: i64) -> QuorumPacket {
        let li = LearnerInfo {
            serverid: sid,
            protocol_version: wire::PROTOCOL_VERSION,
            config_version: 0,
        };
        QuorumPacket::with_data(typ, make_zxid(accepted, 0), li.encode())
    }

    fn sent(acts: &[LeaderAction], to: Handle) -> Vec<QuorumPacket> {
        acts.iter()
            .filter_map(|a| match a {
                LeaderAction::Send { to: t, pkt } if *t == to => Some(pkt.clone()),
                _ => None,
            })
            .collect()
    }

    fn types(p: &[QuorumPacket]) -> Vec<&'static str> {
        p.iter().map(|p| pkt::name(p.typ)).collect()
    }

    /// Leader 1 of {1,2,3} with follower 2 on handle 7 through to
    /// established; returns the actions of the last step.
    fn establish(l: &mut Leader, peer_zxid: i64) -> Vec<LeaderAction> {
        assert!(l.start(0).is_empty());
        l.learner_connected(7, 0);
        let a = l.packet(7, info(pkt::FOLLOWERINFO, 2, 3), 1);
        assert_eq!(a[0], LeaderAction::PersistAcceptedEpoch(4));
        assert_eq!(sent(&a, 7), vec![wire::leader_info(make_zxid(4, 0))]);
        let a = l.packet(7, wire::ack_epoch(peer_zxid, 3), 2);
        assert_eq!(a[0], LeaderAction::PersistCurrentEpoch(4));
        let a2 = l.packet(7, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 3);
        assert!(a2.contains(&LeaderAction::Established { epoch: 4 }));
        assert_eq!(types(&sent(&a2, 7)), vec!["UPTODATE"]);
        a
    }

    #[test]
    fn discovery_sync_and_broadcast() {
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        let a = establish(&mut l, make_zxid(3, 5));
        // In sync: an empty DIFF of the peer's zxid, then NEWLEADER with
        // the config, its version the new epoch's zxid.
        let p = sent(&a, 7);
        assert_eq!(types(&p), vec!["DIFF", "NEWLEADER"]);
        assert_eq!(p[0].zxid, make_zxid(3, 5));
        assert_eq!(
            p[1].data.as_deref(),
            Some(&b"server.1=a:2888:3888:participant\nversion=400000000"[..])
        );
        assert!(l.is_established());
        assert_eq!(l.next_zxid(), make_zxid(4, 1));

        // Broadcast: PROPOSAL out, own log, commit on the first quorum.
        let z = make_zxid(4, 1);
        let a = l.propose(z, Bytes::from_static(b"t1"), 10).unwrap();
        assert_eq!(
            sent(&a, 7),
            vec![QuorumPacket::with_data(pkt::PROPOSAL, z, &b"t1"[..])]
        );
        assert!(a.contains(&LeaderAction::Log {
            zxid: z,
            data: Bytes::from_static(b"t1")
        }));
        // The follower's ACK alone is no quorum of three.
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z), 11);
        assert!(a.is_empty());
        let a = l.own_durable(z);
        assert_eq!(sent(&a, 7), vec![QuorumPacket::new(pkt::COMMIT, z)]);
        assert!(a.contains(&LeaderAction::Commit {
            zxid: z,
            data: Bytes::from_static(b"t1")
        }));
        assert_eq!(l.last_committed(), z);
        // Out of order proposals are refused.
        assert!(matches!(
            l.propose(make_zxid(4, 3), Bytes::new(), 12),
            Err(ProposeError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn a_follower_the_active_config_makes_an_observer_is_not_a_synced_voter() {
        // Reconfig seed 10832: 4, an observer of the active config, came
        // as a follower with an older config; counted, it let a reconfig
        // that made it a voter pass the synced-quorum check.
        let mut l = Leader::new(
            1,
            Quorum::new([1, 2, 3], [4]),
            3,
            3,
            make_zxid(3, 5),
            Vec::new(),
            Box::new(NoTxnLog),
            settings(),
        );
        establish(&mut l, make_zxid(3, 5));
        l.learner_connected(8, 4);
        l.packet(8, info(pkt::FOLLOWERINFO, 4, 3), 5);
        let a = l.packet(8, wire::ack_epoch(make_zxid(3, 5), 3), 6);
        assert_eq!(types(&sent(&a, 8)).last(), Some(&"NEWLEADER"));
        assert!(l.peers.values().any(|p| p.sid == Some(4) && p.forwarding));
        assert_eq!(l.synced_followers(), BTreeSet::from([1, 2]));
        // A joining server, in no config yet, counts (how one is added).
        l.learner_connected(9, 7);
        l.packet(9, info(pkt::FOLLOWERINFO, 5, 3), 8);
        l.packet(9, wire::ack_epoch(make_zxid(3, 5), 3), 9);
        assert_eq!(l.synced_followers(), BTreeSet::from([1, 2, 5]));
    }

    #[test]
    fn observers_syncs_over_the_sync_bounds_are_dropped_participants_never() {
        // leader.maxConcurrentSnapSyncs=1: a SNAP to one observer is in
        // progress until its NEWLEADER ACK; a second observer's SNAP is
        // refused meanwhile, a participant's runs.
        let mut st = settings();
        st.sync_bounds = SyncBounds { snap: 1, diff: 1 };
        let mut l = Leader::new(
            1,
            Quorum::new([1, 2, 3], [4, 6]),
            3,
            3,
            make_zxid(3, 5),
            Vec::new(),
            Box::new(NoTxnLog),
            st,
        );
        establish(&mut l, make_zxid(3, 5));
        let sync = |l: &mut Leader, h: Handle, typ: i32, sid: Sid| {
            l.learner_connected(h, 4);
            l.packet(h, info(typ, sid, 3), 5);
            l.packet(h, wire::ack_epoch(0, 3), 6)
        };
        let a = sync(&mut l, 8, pkt::OBSERVERINFO, 4);
        assert!(a.contains(&LeaderAction::SendSnapshot { to: 8 }), "{a:?}");
        let a = sync(&mut l, 9, pkt::OBSERVERINFO, 6);
        assert!(!a.contains(&LeaderAction::SendSnapshot { to: 9 }));
        assert!(
            a.iter().any(|a| matches!(
                a,
                LeaderAction::Close {
                    to: 9,
                    why: LearnerFault::SyncThrottled { bound: 1, .. }
                }
            )),
            "{a:?}"
        );
        let a = sync(&mut l, 10, pkt::FOLLOWERINFO, 3);
        assert!(
            a.contains(&LeaderAction::SendSnapshot { to: 10 }),
            "a participant always syncs"
        );
        // The first observer's sync ends at its NEWLEADER ACK (with the
        // participant's it still counts two): still refused. Once the
        // participant is in too, an observer syncs again.
        l.packet(8, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 7);
        let a = sync(&mut l, 11, pkt::OBSERVERINFO, 6);
        assert!(!a.contains(&LeaderAction::SendSnapshot { to: 11 }), "{a:?}");
        l.packet(10, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 8);
        let a = sync(&mut l, 12, pkt::OBSERVERINFO, 6);
        assert!(a.contains(&LeaderAction::SendSnapshot { to: 12 }), "{a:?}");
    }

    #[test]
    fn commits_go_in_order() {
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        let (z1, z2) = (make_zxid(4, 1), make_zxid(4, 2));
        l.propose(z1, Bytes::new(), 10).unwrap();
        l.propose(z2, Bytes::new(), 10).unwrap();
        // z2 has a quorum before z1: nothing commits until z1 does.
        l.own_durable(z2);
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z2), 11);
        assert!(!a.iter().any(|a| matches!(a, LeaderAction::Commit { .. })));
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z1), 12);
        let commits: Vec<i64> = a
            .iter()
            .filter_map(|a| match a {
                LeaderAction::Commit { zxid, .. } => Some(*zxid),
                _ => None,
            })
            .collect();
        assert_eq!(commits, vec![z1, z2]);
    }

    #[test]
    fn a_reconfig_commits_with_both_quorums_and_activates_the_new_one() {
        // Leader 1 with follower 2 (handle 7); a reconfig to {1, 2, 4, 5}.
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        let (z1, z2) = (make_zxid(4, 1), make_zxid(4, 2));
        l.set_next_config(z1, Quorum::new([1, 2, 4, 5], []));
        l.propose(z1, Bytes::from_static(b"reconfig"), 10).unwrap();
        l.propose(z2, Bytes::new(), 10).unwrap();
        l.own_durable(z2);
        // 1 and 2 are a quorum of the old config, not of the new one.
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z1), 11);
        assert!(!a.iter().any(|a| matches!(a, LeaderAction::Commit { .. })));
        l.learner_connected(8, 11);
        l.peers.get_mut(&8).unwrap().sid = Some(4);
        l.peers.get_mut(&8).unwrap().stage = Stage::Active;
        l.peers.get_mut(&8).unwrap().forwarding = true;
        let a = l.packet(8, QuorumPacket::new(pkt::ACK, z1), 12);
        let pos = |f: &dyn Fn(&LeaderAction) -> bool| a.iter().position(f);
        let commit =
            pos(&|a| matches!(a, LeaderAction::Commit { zxid, .. } if *zxid == z1)).unwrap();
        let activate = pos(&|a| {
            *a == LeaderAction::Activate {
                zxid: z1,
                designated: 1,
            }
        })
        .unwrap();
        assert!(commit < activate, "{a:?}");
        // Followers are told COMMITANDACTIVATE with the designated leader.
        let to7 = sent(&a, 7);
        assert_eq!(types(&to7), vec!["COMMITANDACTIVATE"]);
        assert_eq!(
            wire::decode_designated_leader(to7[0].data.as_ref())
                .unwrap()
                .0,
            1
        );
        // z2 was proposed under both configs: 1, 2 and 4 are a quorum of
        // {1, 2, 4, 5} (the active one now) as well.
        let a = l.packet(8, QuorumPacket::new(pkt::ACK, z2), 13);
        assert!(a.iter().all(|a| !matches!(a, LeaderAction::Commit { .. })));
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z2), 14);
        assert!(a
            .iter()
            .any(|a| matches!(a, LeaderAction::Commit { zxid, .. } if *zxid == z2)));
        // From now on the new config's quorum decides alone.
        assert!(l.quorum.is_voter(5) && !l.quorum.is_voter(3));
    }

    #[test]
    fn a_proposal_made_under_two_configs_needs_the_new_quorum_once_the_reconfig_commits() {
        // z2, proposed while the reconfig z1 to {1, 2, 4} was pending,
        // needs both quorums until z1 commits, then the new one's alone
        // (see `try_commit`).
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        l.learner_connected(8, 10);
        let p8 = l.peers.get_mut(&8).unwrap();
        p8.sid = Some(4);
        p8.stage = Stage::Active;
        p8.forwarding = true;
        let (z1, z2) = (make_zxid(4, 1), make_zxid(4, 2));
        l.set_next_config(z1, Quorum::new([1, 2, 4], []));
        l.propose(z1, Bytes::from_static(b"reconfig"), 10).unwrap();
        l.propose(z2, Bytes::new(), 10).unwrap();
        l.own_durable(z2);
        let commits = |a: &[LeaderAction]| -> Vec<i64> {
            a.iter()
                .filter_map(|a| match a {
                    LeaderAction::Commit { zxid, .. } => Some(*zxid),
                    _ => None,
                })
                .collect()
        };
        // z2 acked by 1 and 4, z1 by 1 alone: {1, 4} is a quorum of
        // {1, 2, 4}, not of {1, 2, 3}, so neither commits.
        let a = l.packet(8, QuorumPacket::new(pkt::ACK, z2), 11);
        assert!(commits(&a).is_empty());
        let a = l.packet(8, QuorumPacket::new(pkt::ACK, z1), 11);
        assert!(commits(&a).is_empty());
        // 2 acks z1: both quorums; z1 commits, and z2 with the new
        // config's quorum {1, 4}.
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z1), 12);
        assert_eq!(commits(&a), vec![z1, z2]);
        assert!(l.quorum.is_voter(4));
        // A proposal after the commit needs the new config's alone.
        let z3 = make_zxid(4, 3);
        l.propose(z3, Bytes::new(), 14).unwrap();
        l.own_durable(z3);
        let a = l.packet(8, QuorumPacket::new(pkt::ACK, z3), 15);
        assert_eq!(commits(&a), vec![z3]);
    }

    #[test]
    fn newleader_carries_a_logged_reconfig_and_needs_both_quorums() {
        // Found by the reconfig simulation: a leader elected with a
        // reconfig in its log (its leader fell before committing it) sent
        // NEWLEADER with its active config, so a learner synced by SNAP
        // never took the new one; and it was established by the old
        // config's quorum alone.
        let mut s = settings();
        s.last_seen = Some(LastSeen {
            servers: "server.1=a:2888:3888:participant\nserver.4=d:2888:3888:participant\nserver.5=e:2888:3888:participant\n".into(),
            version: make_zxid(3, 5),
            quorum: Quorum::new([1, 4, 5], []),
        });
        let mut l = Leader::new(
            1,
            Quorum::new([1, 2, 3], []),
            3,
            3,
            make_zxid(3, 5),
            Vec::new(),
            Box::new(NoTxnLog),
            s,
        );
        l.start(0);
        for (h, sid) in [(7, 2), (8, 4)] {
            l.learner_connected(h, 0);
            l.packet(h, info(pkt::FOLLOWERINFO, sid, 3), 1);
        }
        let a = l.packet(7, wire::ack_epoch(make_zxid(3, 5), 3), 2);
        let nl = sent(&a, 7)
            .into_iter()
            .find(|p| p.typ == pkt::NEWLEADER)
            .unwrap();
        assert!(nl
            .data
            .as_deref()
            .unwrap()
            .ends_with(b"server.5=e:2888:3888:participant\nversion=300000005"));
        l.packet(8, wire::ack_epoch(make_zxid(3, 5), 3), 2);
        // 1 and 2: a quorum of {1, 2, 3}, not of {1, 4, 5}.
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 3);
        assert!(!a
            .iter()
            .any(|a| matches!(a, LeaderAction::Established { .. })));
        let a = l.packet(8, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 4);
        assert!(a.contains(&LeaderAction::Established { epoch: 4 }));
        // Once active, NEWLEADER carries the active config.
        l.set_config("server.1=a:2888:3888:participant\n".into(), make_zxid(3, 5));
        assert!(l.settings.last_seen.is_none());
    }

    #[test]
    fn new_epoch_is_one_past_the_highest_accepted_of_a_quorum() {
        let mut l = leader(&[1, 2, 3, 4, 5], 2, 2, make_zxid(2, 1));
        l.start(0);
        l.learner_connected(1, 0);
        l.learner_connected(2, 0);
        // An observer's (non-voter's) epoch still raises the bid.
        assert!(l.packet(1, info(pkt::FOLLOWERINFO, 2, 6), 1).is_empty());
        let a = l.packet(2, info(pkt::FOLLOWERINFO, 3, 1), 1);
        assert_eq!(a[0], LeaderAction::PersistAcceptedEpoch(7));
        assert_eq!(sent(&a, 1), vec![wire::leader_info(make_zxid(7, 0))]);
        assert_eq!(sent(&a, 2), vec![wire::leader_info(make_zxid(7, 0))]);
        // A learner after the choice gets LEADERINFO at once.
        l.learner_connected(3, 2);
        let a = l.packet(3, info(pkt::OBSERVERINFO, 9, 0), 2);
        assert_eq!(sent(&a, 3), vec![wire::leader_info(make_zxid(7, 0))]);
    }

    #[test]
    fn a_follower_ahead_of_the_leader_is_refused_and_minus_one_does_not_count() {
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        l.start(0);
        l.learner_connected(7, 0);
        l.learner_connected(8, 0);
        l.packet(7, info(pkt::FOLLOWERINFO, 2, 3), 1);
        l.packet(8, info(pkt::FOLLOWERINFO, 3, 3), 1);
        let a = l.packet(7, wire::ack_epoch(make_zxid(3, 6), 3), 2);
        assert!(matches!(
            &a[..],
            [LeaderAction::Close {
                to: 7,
                why: LearnerFault::Ahead { .. }
            }]
        ));
        // -1: already accepted this epoch elsewhere; not an ack.
        let a = l.packet(8, wire::ack_epoch(make_zxid(3, 1), -1), 2);
        assert!(a.is_empty());
        assert!(!l.is_established());
        // initLimit ticks after the epoch was chosen (t=1), it gives up.
        assert!(l.tick(1000).is_empty());
        let a = l.tick(1001);
        assert_eq!(
            a,
            vec![LeaderAction::StepDown {
                why: StepDownReason::NoEpochAckQuorum
            }]
        );
        assert!(l.is_stopped());
        assert!(l.packet(8, QuorumPacket::new(pkt::ACK, 0), 1002).is_empty());
    }

    #[test]
    fn no_quorum_in_discovery_steps_down_after_init_limit() {
        let mut l = leader(&[1, 2, 3], 0, 0, 0);
        l.start(0);
        assert!(l.tick(999).is_empty());
        assert_eq!(
            l.tick(1000),
            vec![LeaderAction::StepDown {
                why: StepDownReason::NoEpochQuorum
            }]
        );
    }

    #[test]
    fn first_packet_must_be_info_and_old_protocols_are_refused() {
        let mut l = leader(&[1, 2, 3], 0, 0, 0);
        l.start(0);
        l.learner_connected(1, 0);
        let a = l.packet(1, QuorumPacket::new(pkt::ACK, 0), 1);
        assert!(matches!(
            &a[..],
            [LeaderAction::Close {
                to: 1,
                why: LearnerFault::NotInfo("ACK")
            }]
        ));
        l.learner_connected(2, 0);
        let old = QuorumPacket::with_data(pkt::FOLLOWERINFO, 0, 2i64.to_be_bytes().to_vec());
        let a = l.packet(2, old, 1);
        assert!(matches!(
            &a[..],
            [LeaderAction::Close {
                why: LearnerFault::OldProtocol(0),
                ..
            }]
        ));
    }

    #[test]
    fn pings_every_half_tick_and_steps_down_without_a_synced_quorum() {
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        // Established at t=3: half ticks at 53, 103, ...
        let a = l.tick(53);
        assert_eq!(
            sent(&a, 7),
            vec![QuorumPacket::new(pkt::PING, make_zxid(4, 0))]
        );
        // The follower answers each ping; it stays synced.
        let mut t = 53;
        while t < 2000 {
            t += 50;
            let a = l.tick(t);
            assert!(!a.iter().any(|a| matches!(a, LeaderAction::StepDown { .. })));
            l.packet(
                7,
                wire::ping_reply(&QuorumPacket::new(pkt::PING, 0), &[]),
                t,
            );
        }
        // Silence: past syncLimit ticks (and the read timeout) it goes.
        let mut gone = false;
        while t < 4000 && !gone {
            t += 50;
            gone = l.tick(t).iter().any(|a| {
                matches!(a, LeaderAction::StepDown { why: StepDownReason::LostQuorum(s) } if s == &vec![1])
            });
        }
        assert!(gone, "stepped down");
    }

    #[test]
    fn a_pending_reconfig_needs_its_quorum_in_touch() {
        // Found by the reconfig simulation: the only other voter of a
        // pending reconfig's config went LOOKING; the leader, synced with
        // a quorum of the active config, stayed and the reconfig (and
        // every proposal after it) never committed. ZooKeeper's leader
        // steps down (`syncedAckSet` with the last seen config).
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        l.set_next_config(make_zxid(4, 1), Quorum::new([1, 3], []));
        l.propose(make_zxid(4, 1), Bytes::from_static(b"reconfig"), 10)
            .unwrap();
        l.packet(7, QuorumPacket::new(pkt::ACK, make_zxid(4, 1)), 11);
        // Follower 2 (handle 7) acked it and answers every ping; 3 is
        // not there.
        let mut t = 3;
        let mut gone = false;
        while t < 4000 && !gone {
            t += 50;
            gone = l
                .tick(t)
                .iter()
                .any(|a| matches!(a, LeaderAction::StepDown { .. }));
            l.packet(
                7,
                wire::ping_reply(&QuorumPacket::new(pkt::PING, 0), &[]),
                t,
            );
        }
        assert!(gone, "stepped down");
    }

    #[test]
    fn a_proposal_unacked_for_sync_limit_closes_the_follower() {
        let mut l = leader(&[1, 2, 3, 4, 5], 3, 3, make_zxid(3, 5));
        l.start(0);
        for (h, sid) in [(7, 2), (8, 3)] {
            l.learner_connected(h, 0);
            l.packet(h, info(pkt::FOLLOWERINFO, sid, 3), 1);
        }
        for h in [7, 8] {
            l.packet(h, wire::ack_epoch(make_zxid(3, 5), 3), 2);
        }
        for h in [7, 8] {
            l.packet(h, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 3);
        }
        assert!(l.is_established());
        l.propose(make_zxid(4, 1), Bytes::new(), 10).unwrap();
        // Follower 8 acks; 7 keeps pinging but never acks.
        l.packet(8, QuorumPacket::new(pkt::ACK, make_zxid(4, 1)), 12);
        let mut closed = None;
        let mut t = 10;
        while t < 700 && closed.is_none() {
            t += 50;
            for h in [7, 8] {
                l.packet(
                    h,
                    wire::ping_reply(&QuorumPacket::new(pkt::PING, 0), &[]),
                    t,
                );
            }
            closed = l.tick(t).into_iter().find_map(|a| match a {
                LeaderAction::Close { to, why } => Some((to, why, t)),
                _ => None,
            });
        }
        let (to, why, at) = closed.expect("closed");
        assert_eq!((to, why), (7, LearnerFault::SyncLimit));
        assert!(at >= 510, "not before syncLimit: {at}");
    }

    #[test]
    fn zxid_rollover_forces_a_new_election() {
        let mut l = leader(&[1], 3, 3, make_zxid(3, 5));
        let a = l.start(0);
        assert!(a.contains(&LeaderAction::Established { epoch: 4 }));
        // Run the counter up to the edge.
        l.last_proposed = make_zxid(4, 0xffff_fffe);
        l.own_durable = make_zxid(4, 0xffff_fffe);
        assert_eq!(
            l.propose(make_zxid(4, 0xffff_ffff), Bytes::new(), 1),
            Err(ProposeError::Rollover)
        );
        assert!(l.is_stopped());
    }

    #[test]
    fn sync_requests_wait_for_what_is_outstanding() {
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        let last = make_zxid(3, 5);
        assert_eq!(
            sent(&l.sync(7, last), 7),
            vec![QuorumPacket::new(pkt::SYNC, 0)]
        );
        let z = make_zxid(4, 1);
        l.propose(z, Bytes::new(), 10).unwrap();
        assert!(l.sync(7, z).is_empty());
        l.own_durable(z);
        let a = l.packet(7, QuorumPacket::new(pkt::ACK, z), 11);
        assert_eq!(types(&sent(&a, 7)), vec!["COMMIT", "SYNC"]);
        // A sync after a txn prepped and not yet proposed waits for it,
        // and goes before the commit of the txn after it.
        let (z2, z3) = (make_zxid(4, 2), make_zxid(4, 3));
        assert!(l.sync(7, z2).is_empty());
        for z in [z2, z3] {
            l.propose(z, Bytes::new(), 12).unwrap();
            l.own_durable(z);
        }
        let mut p = sent(&l.packet(7, QuorumPacket::new(pkt::ACK, z2), 13), 7);
        p.extend(sent(&l.packet(7, QuorumPacket::new(pkt::ACK, z3), 13), 7));
        assert_eq!(types(&p), vec!["COMMIT", "SYNC", "COMMIT"]);
        assert_eq!((p[0].zxid, p[2].zxid), (z2, z3));
    }

    #[test]
    fn learner_requests_pings_and_revalidations_become_actions() {
        let mut l = leader(&[1, 2, 3], 3, 3, make_zxid(3, 5));
        establish(&mut l, make_zxid(3, 5));
        let req = ForwardedRequest {
            session_id: 5,
            cxid: 1,
            op: 1,
            request: Bytes::from_static(b"r"),
            authinfo: None,
        };
        let a = l.packet(7, req.to_packet(), 10);
        assert_eq!(
            a,
            vec![LeaderAction::Request {
                from: 7,
                sid: 2,
                req
            }]
        );
        let touch = Touch {
            session_id: 5,
            timeout: 30,
        };
        let a = l.packet(
            7,
            wire::ping_reply(&QuorumPacket::new(pkt::PING, 0), &[touch]),
            10,
        );
        assert_eq!(a, vec![LeaderAction::Touch { sid: 2, touch }]);
        let a = l.packet(7, wire::revalidate_request(5, 30), 10);
        assert_eq!(
            a,
            vec![LeaderAction::Revalidate {
                from: 7,
                session_id: 5,
                timeout: 30
            }]
        );
        let a = l.revalidated(7, 5, true);
        assert_eq!(sent(&a, 7), vec![wire::revalidate_reply(5, true)]);
        // A torn ping body closes the learner.
        let bad = QuorumPacket::with_data(pkt::PING, 0, vec![0u8; 5]);
        assert!(matches!(
            &l.packet(7, bad, 11)[..],
            [LeaderAction::Close { to: 7, .. }]
        ));
    }

    #[test]
    fn a_learner_behind_the_committed_log_gets_txns_then_outstanding_proposals() {
        let committed: Vec<(i64, Bytes)> = (1..=4)
            .map(|c| (make_zxid(3, c), Bytes::from(vec![c as u8])))
            .collect();
        let mut l = Leader::new(
            1,
            Quorum::new([1, 2, 3], []),
            3,
            3,
            make_zxid(3, 4),
            committed,
            Box::new(NoTxnLog),
            settings(),
        );
        establish(&mut l, make_zxid(3, 4));
        let z = make_zxid(4, 1);
        l.propose(z, Bytes::from_static(b"p"), 10).unwrap();
        // A second follower at (3,2) joins while (4,1) is outstanding.
        l.learner_connected(9, 11);
        l.packet(9, info(pkt::FOLLOWERINFO, 3, 4), 11);
        let a = l.packet(9, wire::ack_epoch(make_zxid(3, 2), 4), 12);
        let p = sent(&a, 9);
        assert_eq!(
            types(&p),
            vec![
                "DIFF",
                "PROPOSAL",
                "COMMIT",
                "PROPOSAL",
                "COMMIT",
                "PROPOSAL",
                "NEWLEADER"
            ]
        );
        assert_eq!(p[0].zxid, make_zxid(3, 4));
        assert_eq!(p[1].zxid, make_zxid(3, 3));
        assert_eq!(p[1].data.as_deref(), Some(&[3u8][..]));
        assert_eq!(p[5].zxid, z);
        // Once it acks NEWLEADER it is up to date straight away.
        let a = l.packet(9, QuorumPacket::new(pkt::ACK, make_zxid(4, 0)), 13);
        assert_eq!(types(&sent(&a, 9)), vec!["UPTODATE"]);
    }
}
