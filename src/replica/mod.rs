//! The replica: the sans-IO core of one corral server.
//!
//! Owns the [`Sequencer`] (and through it the session tracker), the
//! election and the Zab leader/learner machines, and every rule that
//! decides what is published and acknowledged: the durability gate
//! (standalone), the quorum gate (ensemble), holding batches while not
//! serving, rollback after a failed log write, the role transitions, and
//! the epoch persistence rules. It touches no clock, socket, file, channel
//! or executor: a driver feeds it [`Input`]s with the time ([`Now`]) and
//! carries out the [`Action`]s it returns, in order. An action whose result
//! later work depends on (see [`Action::is_dependent`]) is answered by a
//! matching input; the Replica holds the Zab work behind it until then.
//!
//! The API is described in `docs/wip/replica-api.md`.

pub mod msg;
mod peer;
pub mod sequencer;
pub mod session;
pub mod throttle;
pub use peer::committed_tree;
#[cfg(test)]
mod tests;

use crate::data::digest::TxnDigest;
use crate::data::tree::Tree;
use crate::data::txn::Txn;
use crate::quorum::election::ElectionSettings;
use crate::quorum::reconfig::Membership;
use crate::quorum::zab::leader::{Handle, TxnLogRead};
use crate::quorum::zab::wire::QuorumPacket;
use crate::quorum::{Quorum, Sid};
use crate::replica::msg::{ConnRef, Item, ToSeq};
use crate::replica::sequencer::Role;
use crate::replica::sequencer::{SeqSettings, Sequencer};
use crate::storage::epochs::Epochs;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// The time, as the driver reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// Wall clock, ms since the Unix epoch: session expiry, ctime/mtime.
    pub wall_ms: i64,
    /// Monotonic ms (any fixed origin): election and Zab timers.
    pub mono_ms: u64,
}

/// The quorum-side settings the Replica needs (no addresses: the driver
/// keeps those and resolves them).
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub me: Sid,
    pub quorum: Quorum,
    /// This server is an observer.
    pub observer: bool,
    pub election: ElectionSettings,
    /// The config bytes notifications carry (`QuorumVerifier.toString()`).
    pub config: Vec<u8>,
    /// The `server.N=` lines NEWLEADER carries.
    pub config_servers: String,
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit` (ticks): how long a learner keeps
    /// trying to connect to its leader; 0 = `init_limit`.
    pub connect_limit: u32,
    /// `readonlymode.enabled`.
    pub read_only_mode: bool,
    /// `zookeeper.snapshotSizeFactor`.
    pub snapshot_size_factor: f64,
    /// `reconfigEnabled`: committed reconfigs change the membership.
    pub reconfig_enabled: bool,
    /// `standaloneEnabled`: a reconfig keeps at least two voters.
    pub standalone_enabled: bool,
    /// `multiAddress.enabled`: a reconfig may give a server several
    /// addresses.
    pub multi_address: bool,
    /// `syncEnabled` (observers): with false, an observer logs nothing.
    pub sync_enabled: bool,
    /// `observerMasterPort`: followers serve observers there, and
    /// observers sync from the voters' (not from the leader).
    pub observer_master_port: Option<u16>,
    /// `zookeeper.commitLogCount`: committed txns kept for DIFF syncs.
    pub commit_log_count: usize,
    /// `zookeeper.leader.maxConcurrentSnapSyncs`/`DiffSyncs`: observers'
    /// syncs a leader or observer master runs at once.
    pub sync_bounds: crate::quorum::zab::sync::SyncBounds,
}

impl QuorumConfig {
    /// How long a learner may take to connect to its leader, in ms: as
    /// ZooKeeper's `Learner.connectToLeader`, `tickTime ×
    /// connectToLearnerMasterLimit` when that is positive, else
    /// `tickTime × initLimit`.
    pub fn leader_connect_ms(&self) -> u64 {
        let ticks = if self.connect_limit > 0 {
            self.connect_limit
        } else {
            self.init_limit
        };
        self.tick_ms * u64::from(ticks)
    }
}

/// What a quorum member starts with.
#[derive(Debug, Clone)]
pub struct QuorumStart {
    pub config: QuorumConfig,
    /// The epochs on disk.
    pub epochs: Epochs,
    /// The last txns replayed at start-up (the initial committed log).
    pub committed_log: VecDeque<(i64, Bytes)>,
}

/// Which epoch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochKind {
    /// `acceptedEpoch`.
    Accepted,
    /// `currentEpoch`.
    Current,
}

pub use msg::Reloaded;

/// What the peer sockets report.
#[derive(Debug)]
pub enum PeerInput {
    /// An election message (undecoded) from a member.
    Election(Sid, Vec<u8>),
    /// A learner connected to this leader's quorum port.
    LearnerUp(Handle),
    /// A packet from a learner.
    FromLearner(Handle, QuorumPacket),
    /// A learner's connection closed.
    LearnerDown(Handle),
    /// The leader connection of this generation is up.
    LeaderUp(u64),
    /// A packet from the leader (generation).
    FromLeader(u64, QuorumPacket),
    /// The snapshot that followed a SNAP, parsed (generation).
    Snapshot(u64, Vec<(i64, i32)>, Tree),
    /// The leader connection failed or closed (generation, why).
    LeaderDown(u64, String),
}

/// What wakes the Replica.
#[derive(Debug)]
pub enum Input {
    /// A shard's (or the AdminServer's) message, `Drained` included.
    Shard(ToSeq),
    /// The own txn log is durable up to this zxid.
    Durable(i64),
    /// The last append failed; nothing after the last `Durable` is durable.
    LogFailed(String),
    /// The log rolled: a snapshot is due.
    SnapshotDue,
    /// A snapshot at this zxid is on disk (informational).
    Snapshotted(i64),
    /// Only the time has passed.
    Tick,
    /// A peer socket event.
    Peer(PeerInput),
    /// Graceful shutdown asked.
    Stop,
    // The answers to dependent actions:
    /// [`Action::PersistEpoch`] done (or why not).
    EpochPersisted {
        kind: EpochKind,
        epoch: i64,
        result: Result<(), String>,
    },
    /// [`Action::Truncate`] done: with the reloaded data when `reload` was
    /// asked; or why it failed.
    Truncated {
        to: i64,
        result: Result<Option<Box<Reloaded>>, String>,
    },
    /// [`Action::ReadLog`] done for learner `to`: `size_limit` is the
    /// limit the driver computed from the newest snapshot's size and the
    /// factor, `read` what the log holds (default when unreadable).
    LogRead {
        to: Handle,
        size_limit: i64,
        read: TxnLogRead,
    },
    /// [`Action::Listen`] done (or why the quorum port cannot be bound).
    Listening(Result<(), String>),
    /// [`Action::ProbeCanLead`] done: whether the epoch files could be
    /// rewritten (when asked) and the quorum port bound.
    CanLead(bool),
}

/// What the driver must do, in order.
#[derive(Debug)]
pub enum Action {
    /// Send each shard its items (index = shard) with this version.
    Publish {
        version: Arc<Tree>,
        items: Vec<Vec<Item>>,
    },
    /// Append txns to the own log (`ToLog::Append`).
    Append(Vec<(Txn, TxnDigest)>),
    /// Write this version as a snapshot (`ToLog::Snapshot`), ordered with
    /// the appends; not awaited.
    Snapshot {
        tree: Arc<Tree>,
        sessions: Vec<(i64, i32)>,
        /// The own log stops short of this version (it came with a
        /// leader's SNAP): the log rolls, nothing after this action is
        /// written before the snapshot is durable, and then the logs it
        /// covers are removed (`storage::remove_logs_covered_by`), so that
        /// no restart replays, and no DIFF reads, across the gap. A
        /// snapshot that cannot be written fails the log (`LogFailed`).
        closes_gap: bool,
    },
    /// Dependent: write an epoch file (fsync, off the executor); answer
    /// [`Input::EpochPersisted`].
    PersistEpoch { kind: EpochKind, epoch: i64 },
    /// Dependent: cut the own log after `to` (log core); when `reload`,
    /// recover the tree from disk afterwards; answer [`Input::Truncated`].
    Truncate { to: i64, reload: bool },
    /// Dependent (for learner `to`'s sync only): read the txn log from the
    /// file holding `from` on, with the limit `txnlog_size_limit(newest
    /// snapshot size, factor)`; answer [`Input::LogRead`].
    ReadLog { to: Handle, from: i64, factor: f64 },
    /// Serialize this snapshot (`write_sync_snapshot` + signature, off the
    /// executor) and send it to learner `to`, in order with the packets
    /// queued for it before and after.
    SendSnapshot {
        to: Handle,
        base: Arc<Tree>,
        /// Committed txns past `base` (marshalled entries) to apply first.
        commits: Vec<(i64, Bytes)>,
        sessions: Vec<(i64, i32)>,
    },
    /// Send an election message (encoded) to a member.
    SendElection { to: Sid, msg: Vec<u8> },
    /// Send a packet to a learner's connection.
    ToLearner { to: Handle, pkt: QuorumPacket },
    /// Close a learner's connection.
    CloseLearner { to: Handle },
    /// Send a packet on the leader connection of this generation.
    ToLeader { generation: u64, pkt: QuorumPacket },
    /// Connect to leader `sid` (resolving its address off the executor,
    /// retrying within `limit_ms`, after `delay_ms`) as `generation`;
    /// report [`PeerInput::LeaderUp`] / `FromLeader` / `Snapshot` /
    /// `LeaderDown` with it. A new generation replaces the old one.
    /// With `master_port`, an observer dials member `sid`'s observer
    /// master: its quorum host at that port (`observerMasterPort`).
    ConnectLeader {
        generation: u64,
        sid: Sid,
        delay_ms: u64,
        limit_ms: u64,
        master_port: Option<u16>,
    },
    /// Close the leader connection of this generation.
    CloseLeader { generation: u64 },
    /// Dependent: bind the quorum port and accept learners; answer
    /// [`Input::Listening`].
    Listen,
    /// Stop accepting learners (let go of the quorum port, or of a
    /// follower's observer master port).
    StopListening,
    /// A follower in sync serves observers (`observerMasterPort`): bind
    /// the observer master port and accept observers as learners
    /// (`PeerInput::LearnerUp`...). Not awaited: a port that cannot be
    /// bound is logged, and the follower goes on without it.
    ListenObservers,
    /// Dependent: can this server lead? Rewrite the epoch files with these
    /// values first when given (off the executor), then probe the quorum
    /// port; answer [`Input::CanLead`].
    ProbeCanLead { rewrite_epochs: Option<Epochs> },
    /// A reconfig made this config active (or an established leader
    /// gave a config file's version 0 one): write it as the dynamic
    /// config file `<zoo.cfg>.dynamic.<version hex>` and point zoo.cfg at
    /// it (off the sequencer's executor), and dial its members' new
    /// addresses. Not awaited: a restart before it is written reads the
    /// previous config, as ZooKeeper's would.
    Reconfigured { membership: Membership },
    /// Everything is answered and durable: stop.
    Stop,
}

impl Action {
    /// Whether the Replica waits for an answering input.
    pub fn is_dependent(&self) -> bool {
        matches!(
            self,
            Action::PersistEpoch { .. }
                | Action::Truncate { .. }
                | Action::ReadLog { .. }
                | Action::Listen
                | Action::ProbeCanLead { .. }
        )
    }
}

/// A batch applied by the sequencer, waiting for its gate.
struct Unpublished {
    zxid: i64,
    version: Arc<Tree>,
    items: Vec<Vec<Item>>,
}

/// The replica. See the module doc.
pub struct Replica {
    seq: Sequencer,
    peer: Option<peer::Peer>,
    inbox: VecDeque<Input>,
    out: Vec<Action>,
    /// The last version every shard has: what a snapshot takes.
    published: Arc<Tree>,
    /// The own log is durable up to here.
    durable: i64,
    /// Applied batches waiting for the gate (durable alone, committed in
    /// an ensemble), in zxid order.
    waiting: VecDeque<Unpublished>,
    started: bool,
    snapshot_due: bool,
    /// Shutdown: asked, draining, and how many shards have drained since.
    stop_asked: bool,
    stopping: bool,
    drained: usize,
    stopped: bool,
    shards: usize,
    min_session_timeout: i32,
    /// The shards' outstanding requests, summed (the throttles).
    load: throttle::GlobalLoad,
    /// An AdminServer `restore` waiting for a moment with no write in
    /// flight.
    restore: Option<PendingRestore>,
}

/// See [`ToSeq::Restore`].
struct PendingRestore {
    tree: Box<Tree>,
    sessions: Vec<(i64, i32)>,
    until_ms: i64,
    reply: std::sync::mpsc::SyncSender<Result<i64, msg::RestoreRefused>>,
}

impl Replica {
    /// A replica over the recovered `tree` and `sessions`; `quorum` for an
    /// ensemble member. Its first actions (a snapshot after loading, the
    /// first election) come from the first [`Replica::step`].
    pub fn new(
        settings: SeqSettings,
        tree: Tree,
        sessions: Vec<(i64, i32)>,
        quorum: Option<QuorumStart>,
        now: Now,
    ) -> Replica {
        let shards = settings.shards;
        let min_session_timeout = settings.min_session_timeout;
        let mut seq = Sequencer::new(settings, tree, now.wall_ms);
        seq.restore_sessions(&sessions, now.wall_ms);
        let published = Arc::new(seq.tree().clone());
        let peer = quorum.map(|q| {
            // A quorum member serves nobody until it has a leader.
            seq.set_role(Role::NotServing, 0, now.wall_ms);
            peer::Peer::new(q.config, q.epochs, q.committed_log, published.clone(), now)
        });
        Replica {
            seq,
            peer,
            inbox: VecDeque::new(),
            out: Vec::new(),
            durable: published.last_zxid,
            published,
            waiting: VecDeque::new(),
            started: false,
            snapshot_due: false,
            stop_asked: false,
            stopping: false,
            drained: 0,
            stopped: false,
            shards,
            min_session_timeout,
            load: throttle::GlobalLoad::new(shards, usize::MAX, 0),
            restore: None,
        }
    }

    /// The server-wide limits on outstanding requests
    /// (`globalOutstandingLimit`, and the RequestThrottler's
    /// `zookeeper.request_throttle_max_requests`, 0 for none); without
    /// this call, none.
    pub fn set_load_limits(&mut self, global_outstanding_limit: usize, max_requests: usize) {
        self.load = throttle::GlobalLoad::new(self.shards, global_outstanding_limit, max_requests);
    }

    /// One input. Cheap: the work happens in [`Replica::step`].
    pub fn feed(&mut self, input: Input, _now: Now) {
        self.inbox.push_back(input);
    }

    /// Runs the rules over what was fed since the last step (and the
    /// timers) and returns the actions, in order.
    pub fn step(&mut self, now: Now) -> Vec<Action> {
        if self.stopped {
            self.inbox.clear();
            return std::mem::take(&mut self.out);
        }
        if !self.started {
            self.started = true;
            if let Some(p) = self.peer.as_mut() {
                p.start(&mut self.seq, now);
                self.out.extend(p.take_out());
            }
            // A clean snapshot after loading, as ZooKeeper takes one.
            self.out.push(Action::Snapshot {
                tree: self.published.clone(),
                sessions: self.seq.sessions(),
                closes_gap: false,
            });
        }
        let mut failed = false;
        while let Some(m) = self.inbox.pop_front() {
            self.input(m, now, &mut failed);
        }
        if failed {
            self.rollback(now);
        }
        // No expiries or container deletions while shutting down: the
        // sessions outlive the restart.
        if !self.stopping {
            self.seq.tick(now.wall_ms);
        }
        if let Some(p) = self.peer.as_mut() {
            p.tick(&mut self.seq, now);
            p.forward(&mut self.seq, now);
        }
        self.after_peer();
        if let Some(items) = self.seq.take() {
            let txns = self.seq.take_logged();
            if let Some(p) = self.peer.as_mut() {
                p.propose(&txns, &mut self.seq, now);
                self.out.extend(p.take_out());
            }
            if !txns.is_empty() {
                self.out.push(Action::Append(txns));
            }
            if self.seq.role() == Role::NotServing {
                // Between leaders the tree may hold logged txns no quorum
                // has committed: what goes out now (connections closed)
                // goes with the version the shards already have.
                self.waiting.push_back(Unpublished {
                    zxid: self.published.last_zxid,
                    version: self.published.clone(),
                    items,
                });
            } else {
                let version = Arc::new(self.seq.tree().clone());
                self.waiting.push_back(Unpublished {
                    zxid: version.last_zxid,
                    version,
                    items,
                });
            }
        }
        // A learner's proposals, snapshots and truncations.
        if let Some(p) = self.peer.as_mut() {
            self.out.extend(p.take_log());
        }
        // Alone, a batch goes out once durable; in an ensemble, once a
        // quorum has it. Between roles, what no quorum had is dropped
        // (its connections are closed).
        let gate = self.gate();
        if self.seq.role() == Role::NotServing {
            self.waiting.retain(|u| u.zxid <= gate);
        }
        while self.waiting.front().is_some_and(|u| u.zxid <= gate) {
            let Some(u) = self.waiting.pop_front() else {
                break;
            };
            self.publish(u, gate);
        }
        if let Some(r) = self.restore.take() {
            if self.stop_asked {
                let _ = r.reply.try_send(Err(msg::RestoreRefused::Stopping));
            } else if now.wall_ms > r.until_ms {
                let _ = r.reply.try_send(Err(msg::RestoreRefused::Busy));
            } else if self.waiting.is_empty() {
                self.restore_now(r, now);
            } else {
                self.restore = Some(r);
            }
        }
        if self.stop_asked && !self.stopping {
            self.stopping = true;
            tracing::info!(
                pending = self.waiting.len(),
                "draining: shards stop accepting; accepted requests are answered"
            );
            self.out.push(Action::Publish {
                version: self.published.clone(),
                items: vec![vec![Item::Drain]; self.shards],
            });
        }
        if self.stopping && self.drained >= self.shards && self.waiting.is_empty() {
            // Every shard has had all it sent answered, and every txn is
            // durable.
            tracing::info!(
                zxid = format!("0x{:x}", self.published.last_zxid),
                "every accepted write is durable and answered"
            );
            self.out.push(Action::Stop);
            self.stopped = true;
            return std::mem::take(&mut self.out);
        }
        if self.snapshot_due && !self.stopping {
            self.snapshot_due = false;
            self.out.push(Action::Snapshot {
                tree: self.published.clone(),
                sessions: self.seq.sessions(),
                closes_gap: false,
            });
        }
        std::mem::take(&mut self.out)
    }

    fn input(&mut self, m: Input, now: Now, failed: &mut bool) {
        let seq = &mut self.seq;
        match m {
            Input::Stop => self.stop_asked = true,
            Input::Shard(ToSeq::Drained { shard }) => {
                tracing::debug!(shard, "shard drained");
                self.drained += 1;
            }
            Input::Shard(ToSeq::Load { shard, outstanding }) => {
                if let Some(level) = self.load.report(shard, outstanding) {
                    tracing::debug!(
                        total = self.load.total(),
                        ?level,
                        "the server's load crossed a throttle"
                    );
                    self.out.push(Action::Publish {
                        version: self.published.clone(),
                        items: vec![vec![Item::Load(level)]; self.shards],
                    });
                }
            }
            Input::Shard(ToSeq::Freeze(reply)) => {
                let _ = reply.try_send(msg::Frozen {
                    tree: self.published.clone(),
                    sessions: seq.sessions(),
                    standalone: self.peer.is_none(),
                });
            }
            Input::Shard(ToSeq::Restore {
                tree,
                sessions,
                until_ms,
                reply,
            }) => {
                let refused = if self.peer.is_some() {
                    Some(msg::RestoreRefused::Ensemble)
                } else if self.stop_asked {
                    Some(msg::RestoreRefused::Stopping)
                } else if self.restore.is_some() {
                    Some(msg::RestoreRefused::InProgress)
                } else {
                    None
                };
                match refused {
                    Some(why) => {
                        let _ = reply.try_send(Err(why));
                    }
                    None => {
                        self.restore = Some(PendingRestore {
                            tree,
                            sessions,
                            until_ms,
                            reply,
                        })
                    }
                }
            }
            Input::Shard(m) => {
                if matches!(m, ToSeq::Gather { .. } | ToSeq::Gathered { .. }) {
                    seq.quorum = self.peer.as_ref().and_then(|p| p.quorum_facts());
                }
                if matches!(
                    &m,
                    ToSeq::Write {
                        op: crate::data::prep::WriteOp::Reconfig(_),
                        ..
                    }
                ) {
                    if let Some(p) = self.peer.as_ref() {
                        p.refresh_view(seq);
                    }
                }
                seq.handle(m, now.wall_ms)
            }
            Input::Durable(z) => {
                self.durable = self.durable.max(z);
                if let Some(p) = self.peer.as_mut() {
                    p.durable(z, seq, now);
                }
            }
            Input::LogFailed(why) => {
                tracing::debug!(why, "the log failed");
                *failed = true;
            }
            Input::SnapshotDue => self.snapshot_due = true,
            // What a snapshot holds is on disk: a rollback goes back no
            // further (a learner's SNAP jumps its tree past its log).
            Input::Snapshotted(z) => {
                self.durable = self.durable.max(z);
                if let Some(p) = self.peer.as_mut() {
                    p.snapshotted(z, seq, now);
                }
            }
            Input::Tick => {}
            Input::Peer(e) => {
                if let Some(p) = self.peer.as_mut() {
                    p.input(e, seq, now);
                }
            }
            Input::EpochPersisted {
                kind,
                epoch,
                result,
            } => {
                if let Some(p) = self.peer.as_mut() {
                    p.epoch_persisted(kind, epoch, result, seq, now);
                }
            }
            Input::Truncated { to, result } => {
                // The log (and every snapshot) now ends at `to` at most.
                if result.is_ok() {
                    self.durable = self.durable.min(to);
                }
                if let Some(p) = self.peer.as_mut() {
                    p.truncated(to, result, seq, now);
                }
            }
            Input::LogRead {
                to,
                size_limit,
                read,
            } => {
                if let Some(p) = self.peer.as_mut() {
                    p.log_read(to, size_limit, read, seq, now);
                }
            }
            Input::Listening(r) => {
                if let Some(p) = self.peer.as_mut() {
                    p.listening(r, seq, now);
                }
            }
            Input::CanLead(free) => {
                if let Some(p) = self.peer.as_mut() {
                    p.can_lead(free, seq, now);
                }
            }
        }
        self.after_peer();
    }

    /// What the peer did in an input or a tick: its actions, a learner's
    /// committed work to publish before it left its leader, a replaced
    /// tree.
    fn after_peer(&mut self) {
        let Some(p) = self.peer.as_mut() else {
            return;
        };
        if let Some((version, items)) = p.take_flushed() {
            let zxid = version.last_zxid;
            self.publish(
                Unpublished {
                    zxid,
                    version,
                    items,
                },
                zxid,
            );
        }
        let Some(p) = self.peer.as_mut() else {
            return;
        };
        self.out.extend(p.take_out());
        if let Some(v) = p.take_replaced() {
            self.tree_replaced(v);
        }
    }

    /// The peer replaced the sequencer's tree (a SNAP, a reload after a
    /// TRUNC): the shards get it at once, with what waited to go out with
    /// the version they had, and snapshots take it. (The version the shards
    /// had may hold txns the reload took back: served read-only, written
    /// as a snapshot, or sent as a SNAP, it would spread them.)
    fn tree_replaced(&mut self, v: Arc<Tree>) {
        let old = std::mem::replace(&mut self.published, v.clone());
        for u in &mut self.waiting {
            if Arc::ptr_eq(&u.version, &old) {
                u.zxid = v.last_zxid;
                u.version = v.clone();
            }
        }
        self.out.push(Action::Publish {
            version: v,
            items: vec![Vec::new(); self.shards],
        });
    }

    /// ZooKeeper 3.9's `restoreFromSnapshot` on a standalone server, with
    /// nothing in flight: the snapshot's tree and sessions replace the
    /// database (a fresh session tracker), and the shards get the new
    /// version at once, with no change events. Unlike ZooKeeper, which
    /// keeps the restored database in memory only until its next snapshot,
    /// the restore is written at once as a snapshot that closes the log:
    /// the tree stands at the higher of its own zxid and the server's (so
    /// the snapshot is the newest and covers every logged txn), no later
    /// txn is logged before that snapshot is durable, and the logs it
    /// covers then go, so a restart recovers the restored tree.
    fn restore_now(&mut self, r: PendingRestore, now: Now) {
        let mut tree = *r.tree;
        let was = self.seq.tree().last_zxid;
        tree.last_zxid = tree.last_zxid.max(was);
        let zxid = tree.last_zxid;
        tracing::warn!(
            before = format!("0x{was:x}"),
            zxid = format!("0x{zxid:x}"),
            nodes = tree.node_count(),
            sessions = r.sessions.len(),
            "restoring the database from a snapshot (AdminServer restore)"
        );
        self.seq.install_tree(tree, &r.sessions, now.wall_ms);
        self.durable = self.durable.max(zxid);
        self.tree_replaced(Arc::new(self.seq.tree().clone()));
        self.out.push(Action::Snapshot {
            tree: self.published.clone(),
            sessions: self.seq.sessions(),
            closes_gap: true,
        });
        let _ = r.reply.try_send(Ok(zxid));
    }

    /// What may be published: durable alone, committed in an ensemble.
    fn gate(&self) -> i64 {
        self.peer.as_ref().map_or(self.durable, |p| p.committed())
    }

    fn publish(&mut self, u: Unpublished, gate: i64) {
        // Nothing goes out past the gate: it would acknowledge what may yet
        // be lost. (Versions may go back: a TRUNC takes back what a
        // restarted member had logged but no quorum committed.)
        assert!(
            u.version.last_zxid <= gate,
            "publishing 0x{:x} past the gate 0x{gate:x}",
            u.version.last_zxid
        );
        self.published = u.version.clone();
        if let Some(p) = self.peer.as_mut() {
            p.set_published(&self.published);
        }
        self.out.push(Action::Publish {
            version: u.version,
            items: u.items,
        });
    }

    /// After a failed log write: nothing after the last durable zxid may
    /// be acknowledged. The batches the log made durable before the
    /// failure stay (their txns are in the log, so they are published;
    /// in an ensemble only as far as a quorum committed them). The rest,
    /// and what this step applied on top of them, are dropped: their
    /// connections are closed (their clients see a connection loss, not
    /// an answer), and the sequencer goes back to the durable tree, so the
    /// log core's next batch starts right after the durable zxid (it drops
    /// batches queued behind the failed one).
    ///
    /// A quorum member keeps everything its log holds (ZooKeeper reloads
    /// its database from disk when it leaves a role): a learner's logged
    /// proposals and a leader's logged txns may already be committed by a
    /// quorum, so forgetting them could lose acknowledged writes. Its tree
    /// goes back only as far as the log: to the version at the durable
    /// zxid when the replica still has it, else it is reloaded from disk.
    fn rollback(&mut self, now: Now) {
        let durable = self.durable;
        let keep = self
            .waiting
            .iter()
            .take_while(|u| u.zxid <= durable)
            .count();
        // The tree the sequencer continues from (None: reload from disk).
        let base = if self.peer.is_none() {
            Some(match keep {
                0 => self.published.clone(),
                n => self.waiting[n - 1].version.clone(),
            })
        } else if self.seq.tree().last_zxid <= durable {
            // Every txn the tree holds is in the log.
            None
        } else {
            // Else nothing the replica holds is exactly the log: the peer
            // reloads the tree from it.
            self.waiting
                .iter()
                .map(|u| &u.version)
                .chain(std::iter::once(&self.published))
                .find(|v| v.last_zxid == durable)
                .cloned()
        };
        let gate = self.gate().min(durable);
        let publish = self
            .waiting
            .iter()
            .take(keep)
            .take_while(|u| u.zxid <= gate)
            .count();
        let mut dropped: Vec<Vec<Vec<Item>>> =
            self.waiting.drain(publish..).map(|u| u.items).collect();
        dropped.extend(self.seq.take());
        let mut close: Vec<(usize, u64)> = Vec::new();
        for batch in &dropped {
            for (shard, items) in batch.iter().enumerate() {
                for it in items {
                    match it {
                        Item::Reply { conn, .. }
                        | Item::Connected { conn, .. }
                        | Item::Close { conn }
                        | Item::FourLw { conn, .. } => close.push((shard, *conn)),
                        _ => {}
                    }
                }
            }
        }
        match &base {
            Some(base) => {
                self.seq.reset_to(Tree::clone(base));
                self.durable = base.last_zxid;
            }
            // The tree is the log (or is reloaded from it below): only
            // what the sequencer queued is dropped.
            None => self.seq.drop_queued(),
        }
        self.seq
            .fence(close.iter().map(|&(shard, conn)| ConnRef { shard, conn }));
        // A dropped closeSession (or expiry) took its session out of the
        // tracker while the durable tree keeps its ephemerals: track it
        // again, so that it expires (or its client comes back) and they go.
        let orphans = orphan_owners(
            self.seq.tree(),
            &self.seq.sessions(),
            self.min_session_timeout,
        );
        if !orphans.is_empty() {
            tracing::warn!(
                sessions = orphans.len(),
                "a dropped close left sessions with ephemerals; tracking them again"
            );
            self.seq.restore_sessions(&orphans, now.wall_ms);
        }
        // The durable batches go out first, so that a connection with a
        // durable reply gets it before it is closed.
        while let Some(u) = self.waiting.pop_front() {
            self.publish(u, gate);
        }
        if !close.is_empty() {
            let mut items: Vec<Vec<Item>> = vec![Vec::new(); self.shards];
            for (shard, conn) in close {
                if let Some(q) = items.get_mut(shard) {
                    q.push(Item::Close { conn });
                }
            }
            self.out.push(Action::Publish {
                version: self.published.clone(),
                items,
            });
        }
        // A quorum peer whose log failed leaves its role, as ZooKeeper's
        // does when its SyncRequestProcessor dies: a leader must not hand
        // out the failed zxids again to txns its learners may already
        // hold, a learner must not ack.
        if let Some(p) = self.peer.as_mut() {
            p.log_failed(self.durable, &mut self.seq, now);
            self.out.extend(p.take_out());
        }
    }

    /// How long the driver may wait for input before the next
    /// [`Input::Tick`] (ms, at least 1).
    pub fn next_wake_ms(&self, now: Now) -> u64 {
        if self.stopping {
            return 50;
        }
        let w = (self.seq.next_deadline().saturating_sub(now.wall_ms)).clamp(1, 1000) as u64;
        self.peer.as_ref().map_or(w, |p| w.min(p.next_wait_ms(now)))
    }

    /// The sequencer (read-only: facts, tests).
    pub fn sequencer(&self) -> &Sequencer {
        &self.seq
    }

    /// The last version published to the shards.
    pub fn published(&self) -> &Arc<Tree> {
        &self.published
    }

    /// The epochs as written (an ensemble member).
    pub fn epochs(&self) -> Option<Epochs> {
        self.peer.as_ref().map(|p| p.epochs())
    }

    /// The zxids of the committed log a next leadership would start from
    /// (tests).
    #[cfg(test)]
    pub(crate) fn committed_log_zxids(&self) -> Vec<i64> {
        self.peer
            .as_ref()
            .map_or_else(Vec::new, |p| p.committed_log_zxids())
    }

    /// Whether a graceful stop has completed ([`Action::Stop`] returned).
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

/// Sessions that own ephemerals in `tree` but are not in `live`, with
/// `timeout`.
pub fn orphan_owners(tree: &Tree, live: &[(i64, i32)], timeout: i32) -> Vec<(i64, i32)> {
    let live: std::collections::HashSet<i64> = live.iter().map(|(s, _)| *s).collect();
    tree.ephemerals_by_session()
        .into_iter()
        .filter(|(s, _)| !live.contains(s))
        .map(|(s, _)| (s, timeout))
        .collect()
}
