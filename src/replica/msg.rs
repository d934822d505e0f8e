//! The messages that cross cores: shard → sequencer and back.

use crate::data::prep::WriteOp;
use crate::data::tree::{Event, Tree};
use crate::data::watch::ConnId;
use crate::protocol::fourlw;
use crate::protocol::jute::Id;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::Arc;

/// Identifies one connection anywhere: its shard and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub shard: usize,
    pub conn: ConnId,
}

/// Who asked for gathered facts, and so where the answer goes.
#[derive(Debug, Clone)]
pub enum Asker {
    /// A four-letter word on a client connection: the text goes back to
    /// its shard as [`Item::FourLw`], in order with that shard's batches.
    Conn(ConnRef),
    /// The AdminServer (its own thread): the facts themselves, owned, on
    /// this reply channel; it formats them (JSON, Prometheus) itself. A
    /// full or closed channel drops the answer (the asker gave up).
    Reply(std::sync::mpsc::SyncSender<Box<fourlw::Gathered>>),
}

/// What a shard asks of the sequencer.
#[derive(Debug)]
pub enum ToSeq {
    /// A connection was accepted: the sequencer counts it for its client
    /// IP (`maxClientCnxns`, across every shard) and answers
    /// [`Item::Admitted`], or, past the limit, closes it at once
    /// ([`Item::Close`]) and ignores what it sends.
    /// Every accepted connection later reports [`ToSeq::Gone`].
    Accept { from: ConnRef, ip: IpAddr },
    /// A handshake: a new session (`session == 0`) or a reconnect.
    Connect {
        from: ConnRef,
        session: i64,
        passwd: Bytes,
        timeout: i32,
        /// The client accepts a read-only server (`canBeReadOnly`).
        read_only: bool,
    },
    /// A write request of an attached session.
    Write {
        from: ConnRef,
        session: i64,
        xid: i32,
        op: WriteOp,
        /// The request's bytes after its header, as the client sent them
        /// (a follower forwards them to the leader).
        body: Bytes,
        /// The connection's auth ids, sent with its first write and again
        /// only after they change (the sequencer keeps them until the
        /// connection is gone).
        auth: Option<Vec<Id>>,
        /// Reads of this connection wait between its previous write and
        /// this one: they must see the tree as it is before this write, so
        /// the previous write's reply is pinned to that version. Without
        /// reads in between, no version needs to be kept (each kept
        /// version makes the next write copy its tree path).
        reads_before: bool,
    },
    /// sync: answered by the sequencer, so the answer reaches the shard
    /// after every change committed before it (and its watch events).
    Sync {
        from: ConnRef,
        xid: i32,
        path: String,
    },
    /// closeSession.
    Close {
        from: ConnRef,
        session: i64,
        xid: i32,
    },
    /// Sessions that showed activity since the last touch.
    Touch(Vec<i64>),
    /// A connection went away (its session lives on until it expires).
    Gone {
        from: ConnRef,
        ip: IpAddr,
        session: i64,
    },
    /// A four-letter word asked by `from` that needs the sequencer (and,
    /// for [`fourlw::Scope::Shards`], every shard's view). `os` carries the
    /// process facts the asker read for `mntr`.
    Gather {
        from: Asker,
        cmd: fourlw::Cmd,
        os: fourlw::OsFacts,
    },
    /// A shard's answer to [`Item::Gather`].
    Gathered {
        ticket: u64,
        view: Box<fourlw::ShardView>,
    },
    /// The AdminServer's `snapshot`: the last version every shard has
    /// (nothing that is not yet durable or committed), with the sessions.
    Freeze(std::sync::mpsc::SyncSender<Frozen>),
    /// The AdminServer's `restore` (standalone only): replace the tree and
    /// the sessions with a snapshot's, once no write is in flight, unless
    /// `until_ms` (wall clock) has passed by then; the answer is the zxid
    /// the server then stands at.
    Restore {
        tree: Box<Tree>,
        sessions: Vec<(i64, i32)>,
        until_ms: i64,
        reply: std::sync::mpsc::SyncSender<Result<i64, RestoreRefused>>,
    },
    /// Shutdown: after [`Item::Drain`], this shard has closed its listener
    /// and every connection has had all it sent answered; it sends nothing
    /// more that needs an answer.
    Drained { shard: usize },
    /// This shard's count of requests read and not yet answered (sent
    /// when it moved by a step, [`crate::replica::throttle::Reporter`]):
    /// the sequencer sums them into the server-wide load.
    Load { shard: usize, outstanding: usize },
}

/// A consistent version for the AdminServer's `snapshot`.
#[derive(Debug)]
pub struct Frozen {
    pub tree: Arc<Tree>,
    pub sessions: Vec<(i64, i32)>,
    /// No ensemble: `restore` is possible.
    pub standalone: bool,
}

/// Why the sequencer did not restore a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreRefused {
    #[error(
        "restore replaces one server's database; in an ensemble that server would \
         diverge from the others (corral restores standalone servers only)"
    )]
    Ensemble,
    #[error("the server is shutting down")]
    Stopping,
    #[error("another restore is in progress")]
    InProgress,
    #[error("writes kept coming: no moment without one in flight before the deadline")]
    Busy,
}

/// One item of a batch, in the order the sequencer produced them.
#[derive(Debug, Clone)]
pub enum Item {
    /// A change, for the shard's watches.
    Event(Event),
    /// A whole reply frame for a connection of this shard.
    Reply {
        conn: ConnId,
        frame: Bytes,
        /// The tree right after this request, when the same connection has
        /// a later write in the batch: reads queued behind this reply must
        /// see this state, not the batch's last one (which would show them
        /// their own session's later writes). `None`: the batch's version.
        version: Option<Arc<Tree>>,
    },
    /// The answer to a handshake.
    Connected {
        conn: ConnId,
        session: i64,
        timeout: i32,
        passwd: [u8; 16],
        ok: bool,
        /// This server is read-only (`ConnectedReadOnly` for the client).
        read_only: bool,
    },
    /// Close this connection (session expired, closed, or moved).
    Close { conn: ConnId },
    /// This connection is counted for its IP (the answer to
    /// [`ToSeq::Accept`] under `maxClientCnxns`): until it comes, the
    /// shard reads no frame that would grow the connection's buffer.
    Admitted { conn: ConnId },
    /// Report this shard's view for four-letter word `cmd` (resetting its
    /// counters first for `crst`/`srst`) as `ToSeq::Gathered { ticket }`.
    Gather { ticket: u64, cmd: fourlw::Cmd },
    /// The answer to a four-letter word: write it, then close.
    FourLw { conn: ConnId, text: String },
    /// Shutdown: stop accepting connections and reading requests; close
    /// each connection once its pending requests are answered; then send
    /// [`ToSeq::Drained`].
    Drain,
    /// The server-wide load crossed a throttle's limit (or fell back under
    /// it): stop or resume reading, hold or serve the requests read.
    Load(crate::replica::throttle::Level),
}

/// What the sequencer sends each shard after a batch.
#[derive(Debug)]
pub struct Batch {
    pub version: Arc<Tree>,
    pub items: Vec<Item>,
}

/// What the sequencer asks of the log core.
#[derive(Debug)]
pub enum ToLog {
    /// Txns to make durable, in zxid order, each with the tree's digest
    /// after it (ZooKeeper's `TxnDigest`).
    Append(Vec<(crate::data::txn::Txn, crate::data::digest::TxnDigest)>),
    /// A frozen version to write as a snapshot, with the sessions.
    Snapshot {
        tree: Arc<Tree>,
        sessions: Vec<(i64, i32)>,
        /// See `Action::Snapshot`.
        closes_gap: bool,
    },
    /// A learner's TRUNC: keep the txns up to `to`, drop the rest; then,
    /// when `reload`, recover the tree and sessions from disk.
    Truncate { to: i64, reload: bool },
}

/// What the log core tells the sequencer.
#[derive(Debug)]
pub enum FromLog {
    /// Every txn up to this zxid is durable.
    Durable(i64),
    /// The last batch was not written; nothing after the last `Durable` is.
    Failed(String),
    /// The log rolled; send a version to snapshot.
    SnapshotDue,
    /// A snapshot at this zxid is on disk.
    Snapshotted(i64),
    /// The log was truncated after this zxid, with what was reloaded
    /// when asked (or why it could not be).
    Truncated(i64, Result<Option<Box<Reloaded>>, String>),
}

/// A tree and sessions loaded from disk (after a TRUNC).
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub tree: Tree,
    pub sessions: Vec<(i64, i32)>,
}
