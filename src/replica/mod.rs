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

mod peer;
#[cfg(test)]
mod tests;

use crate::digest::TxnDigest;
use crate::election::ElectionSettings;
use crate::quorum::{QuorumMaj, Sid};
use crate::sequencer::{SeqSettings, Sequencer};
use crate::server::msg::{Item, ToSeq};
use crate::storage::epochs::Epochs;
use crate::tree::Tree;
use crate::txn::Txn;
use crate::zab::leader::{Handle, TxnLogRead};
use crate::zab::wire::QuorumPacket;
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
    pub quorum: QuorumMaj,
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
    /// `readonlymode.enabled`.
    pub read_only_mode: bool,
    /// `zookeeper.snapshotSizeFactor`.
    pub snapshot_size_factor: f64,
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

/// A tree and sessions loaded from disk (after a TRUNC).
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub tree: Tree,
    pub sessions: Vec<(i64, i32)>,
}

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
    ConnectLeader {
        generation: u64,
        sid: Sid,
        delay_ms: u64,
        limit_ms: u64,
    },
    /// Close the leader connection of this generation.
    CloseLeader { generation: u64 },
    /// Dependent: bind the quorum port and accept learners; answer
    /// [`Input::Listening`].
    Listen,
    /// Stop accepting learners (let go of the quorum port).
    StopListening,
    /// Dependent: can this server lead? Rewrite the epoch files with these
    /// values first when given (off the executor), then probe the quorum
    /// port; answer [`Input::CanLead`].
    ProbeCanLead { rewrite_epochs: Option<Epochs> },
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

/// The replica. See the module doc.
pub struct Replica {
    seq: Sequencer,
    out: Vec<Action>,
    #[allow(dead_code)]
    peer: Option<peer::Peer>,
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
        let mut seq = Sequencer::new(settings, tree, now.wall_ms);
        seq.restore_sessions(&sessions, now.wall_ms);
        let _ = quorum;
        Replica {
            seq,
            out: Vec::new(),
            peer: None,
        }
    }

    /// One input. Cheap: the work happens in [`Replica::step`].
    pub fn feed(&mut self, input: Input, now: Now) {
        let _ = (input, now);
    }

    /// Runs the rules over what was fed since the last step and returns
    /// the actions, in order.
    pub fn step(&mut self, now: Now) -> Vec<Action> {
        let _ = now;
        std::mem::take(&mut self.out)
    }

    /// How long the driver may wait for input before the next
    /// [`Input::Tick`] (ms).
    pub fn next_wake_ms(&self, now: Now) -> u64 {
        let _ = now;
        1000
    }

    /// The sequencer (read-only: facts, tests).
    pub fn sequencer(&self) -> &Sequencer {
        &self.seq
    }

    /// The highest zxid published to the shards.
    pub fn published_zxid(&self) -> i64 {
        self.seq.tree().last_zxid
    }

    /// Whether a graceful stop has completed.
    pub fn stopped(&self) -> bool {
        false
    }
}
