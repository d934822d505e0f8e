//! Four-letter words on the client port (`ruok`, `srvr`, `stat`, `mntr`, …).
//!
//! Owns recognising a command in the first four bytes of a connection, the
//! plain data the cores report for it, and the text of every answer in
//! ZooKeeper 3.8's format. Pure logic: no I/O, no clock, no sockets.
//!
//! Where an answer comes from ([`Cmd::scope`]):
//! - [`Scope::Local`] (`ruok`, `isro`, `conf`, `envi`, `dirs`): the shard that
//!   took the connection answers alone, from settings and OS facts.
//! - [`Scope::Sequencer`] (`gtmk`, `stmk`, `hash`): state only the sequencer
//!   holds.
//! - [`Scope::Shards`] (everything else): counters, connections and watches
//!   live on every shard, so the answer is a map-reduce through the
//!   sequencer. The asking shard sends `ToSeq::Gather`; the sequencer pushes
//!   `Item::Gather` to every shard; each answers `ToSeq::Gathered` with a
//!   [`ShardView`] (resetting its counters first for `crst`/`srst`); the
//!   sequencer formats with [`answer`] over the views plus its own tree and
//!   sessions ([`Facts`]) and returns `Item::FourLw` to the asking shard,
//!   which writes the text and closes.
//!
//! Format decisions (checked line by line against ZooKeeper 3.8.0):
//! - `srvr`/`stat` use ZooKeeper 3.4's shape, which client parsers expect:
//!   `Zookeeper version: 3.8.0-corral-…, built on MM/DD/YYYY HH:MM GMT` and
//!   an integer average in `Latency min/avg/max: 0/1/5` (3.8 prints
//!   `0/0.5/5` and `built on YYYY-MM-DD HH:MM UTC`, which the Go client's
//!   `FLWSrvr` regexes reject). Every other line is 3.8's.
//! - `mntr` keys and value types are 3.8's (`zk_avg_latency` is a Java
//!   double), in the order 3.8 prints them. See [`mntr`] for what is left out.
//! - Connections are listed oldest first (ZooKeeper's order is a hash set's);
//!   watches sorted by session and path (ZooKeeper: hash order).
//! - Times in `dump` are printed as `java.util.Date` does, in UTC.
//! - `wchs`/`wchc`/`wchp` show only data watches (exists/getData/persistent),
//!   exactly as ZooKeeper 3.8 does (it dumps only its data watch manager);
//!   `zk_watch_count` counts data plus child watches, as 3.8 does.
//! - `hash` prints nothing: corral keeps no digest log yet (ZooKeeper logs
//!   one every 128 zxids; until then it prints nothing either).

use crate::data::tree::Tree;
use crate::data::watch::ConnId;
use std::fmt::Write;
use std::net::SocketAddr;

/// The version corral reports (`srvr`, `stat`, `mntr`, `envi`): ZooKeeper's
/// 3.8.0 API level, corral's own version, and 3.4's `built on` form that
/// client parsers (the Go client, kazoo, Curator) understand.
pub const VERSION: &str = concat!(
    "3.8.0-corral-",
    env!("CARGO_PKG_VERSION"),
    ", built on 11/26/2026 00:00 GMT"
);

/// ZooKeeper's default text trace mask (`ZooTrace`): client request, server
/// packet, session and warning traces. `gtmk` prints it; `stmk` sets it.
pub const DEFAULT_TRACE_MASK: i64 = 0b1_0011_0010;

/// ZooKeeper's `zookeeper.nio.sessionlessCnxnTimeout` default: how long a
/// connection without a session lives, and the width of the connection
/// expiry buckets `dump` prints.
pub const SESSIONLESS_CNXN_TIMEOUT_MS: i64 = 10_000;

/// ZooKeeper's `ZK_NOT_SERVING`: the answer of a gated command (see
/// [`Cmd::needs_serving`]) while the server looks for a leader.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The server state of a quorum member that serves nobody (electing, or
/// syncing with a leader).
pub const LOOKING: &str = "looking";

/// A four-letter word (ZooKeeper 3.8 knows exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Ruok,
    Stat,
    Srvr,
    Conf,
    Cons,
    Crst,
    Dump,
    Envi,
    Gtmk,
    /// `stmk` and the trace mask that follows it (8 bytes, big-endian).
    Stmk(i64),
    Srst,
    Wchs,
    Wchc,
    Wchp,
    Mntr,
    Isro,
    Hash,
    Dirs,
}

/// Which cores an answer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The shard that took the connection.
    Local,
    /// The sequencer alone.
    Sequencer,
    /// Every shard, gathered through the sequencer.
    Shards,
}

impl Cmd {
    /// Every command, in ZooKeeper's `FourLetterCommands` order.
    pub const ALL: [Cmd; 18] = [
        Cmd::Ruok,
        Cmd::Stat,
        Cmd::Srvr,
        Cmd::Conf,
        Cmd::Cons,
        Cmd::Crst,
        Cmd::Dump,
        Cmd::Envi,
        Cmd::Gtmk,
        Cmd::Stmk(0),
        Cmd::Srst,
        Cmd::Wchs,
        Cmd::Wchc,
        Cmd::Wchp,
        Cmd::Mntr,
        Cmd::Isro,
        Cmd::Hash,
        Cmd::Dirs,
    ];

    /// The command the first four bytes of a connection name, if any
    /// (`stmk` comes with mask 0; the shard reads the real one).
    pub fn parse(word: &[u8; 4]) -> Option<Cmd> {
        Cmd::ALL.into_iter().find(|c| c.name().as_bytes() == word)
    }

    /// The four-letter word a new connection opens with, read from the
    /// bytes it has sent so far: `None` while fewer than four bytes have
    /// come, or when they name no command (a ZooKeeper frame follows).
    pub fn read_word(pending: &[u8]) -> Option<Cmd> {
        let word: &[u8; 4] = pending.get(..4)?.try_into().ok()?;
        Cmd::parse(word)
    }

    /// The mask of a `stmk` opening `pending` (the 8 big-endian bytes after
    /// the word), or `None` while they have not all come.
    pub fn stmk_mask(pending: &[u8]) -> Option<i64> {
        let mask: [u8; 8] = pending.get(4..12)?.try_into().ok()?;
        Some(i64::from_be_bytes(mask))
    }

    pub fn name(self) -> &'static str {
        match self {
            Cmd::Ruok => "ruok",
            Cmd::Stat => "stat",
            Cmd::Srvr => "srvr",
            Cmd::Conf => "conf",
            Cmd::Cons => "cons",
            Cmd::Crst => "crst",
            Cmd::Dump => "dump",
            Cmd::Envi => "envi",
            Cmd::Gtmk => "gtmk",
            Cmd::Stmk(_) => "stmk",
            Cmd::Srst => "srst",
            Cmd::Wchs => "wchs",
            Cmd::Wchc => "wchc",
            Cmd::Wchp => "wchp",
            Cmd::Mntr => "mntr",
            Cmd::Isro => "isro",
            Cmd::Hash => "hash",
            Cmd::Dirs => "dirs",
        }
    }

    pub fn scope(self) -> Scope {
        match self {
            Cmd::Ruok | Cmd::Isro | Cmd::Conf | Cmd::Envi | Cmd::Dirs => Scope::Local,
            Cmd::Gtmk | Cmd::Stmk(_) | Cmd::Hash => Scope::Sequencer,
            _ => Scope::Shards,
        }
    }

    /// Whether ZooKeeper 3.8 answers it only while serving
    /// (`AbstractFourLetterCommand.isZKServerRunning`): every word but
    /// `ruok`, `envi`, `gtmk` and `stmk`. While not serving, the others
    /// answer [`not_serving`].
    pub fn needs_serving(self) -> bool {
        !matches!(self, Cmd::Ruok | Cmd::Envi | Cmd::Gtmk | Cmd::Stmk(_))
    }

    /// Whether the shards must send their watch tables (big; only `wch*`).
    pub fn wants_watches(self) -> bool {
        matches!(self, Cmd::Wchs | Cmd::Wchc | Cmd::Wchp)
    }

    /// Whether the shards must send their connections.
    pub fn wants_conns(self) -> bool {
        !matches!(self, Cmd::Crst | Cmd::Srst) && !self.wants_watches()
    }
}

/// Whether `cmd` may run. `list` is the whitelist config.rs expanded: `*`
/// already replaced by every command, `srvr` always added (zkServer.sh
/// needs it) and `isro` added when `readonlymode.enabled=true`. A literal
/// `*` is still honoured for settings built by hand.
pub fn allowed(cmd: Cmd, list: &[String]) -> bool {
    list.iter().any(|w| w == "*" || w == cmd.name())
}

/// ZooKeeper's answer to a command that is not whitelisted.
pub fn refused(cmd: Cmd) -> String {
    format!(
        "{} is not executed because it is not in the whitelist.\n",
        cmd.name()
    )
}

/// ZooKeeper's answer to a gated word while not serving: `isro` prints
/// `null`, `hash` the message without a line end (`print`), the others
/// the message and a line end (`println`).
pub fn not_serving(cmd: Cmd) -> String {
    match cmd {
        Cmd::Isro => "null".to_string(),
        Cmd::Hash => NOT_SERVING.to_string(),
        _ => format!("{NOT_SERVING}\n"),
    }
}

/// Whether a request of type `op` goes through the sequencer (and, if it
/// changes anything, the log) rather than being answered by its shard.
pub fn is_write(op: i32) -> bool {
    use crate::protocol::jute::op;
    matches!(
        op,
        op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::DELETE_CONTAINER
            | op::SET_DATA
            | op::SET_ACL
            | op::CHECK
            | op::MULTI
            | op::RECONFIG
            | op::SYNC
            | op::CREATE_SESSION
            | op::CLOSE_SESSION
    )
}

/// ZooKeeper's name of a request type in `cons` (`lop=`), as its
/// `FinalRequestProcessor` records it.
pub fn op_name(op: i32) -> &'static str {
    use crate::protocol::jute::op;
    match op {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE | op::DELETE_CONTAINER => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::CHECK => "CHEC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::RECONFIG => "RECO",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::SET_WATCHES => "SETW",
        op::SET_WATCHES2 => "STW2",
        op::ADD_WATCH => "ADDW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        op::CREATE_SESSION => "SESS",
        op::CLOSE_SESSION => "CLOS",
        _ => "NA",
    }
}

// ---------------------------------------------------------------------------
// What the cores report
// ---------------------------------------------------------------------------

/// Request latencies in milliseconds (ZooKeeper's `AvgMinMaxCounter` for
/// the server, the fields of `ServerCnxn` for one connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    min: u64,
    pub max: u64,
    pub sum: u64,
    pub count: u64,
}

impl Latency {
    pub fn add(&mut self, ms: u64) {
        if self.count == 0 || ms < self.min {
            self.min = ms;
        }
        self.max = self.max.max(ms);
        self.sum += ms;
        self.count += 1;
    }

    pub fn merge(&mut self, o: &Latency) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 || o.min < self.min {
            self.min = o.min;
        }
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.count += o.count;
    }

    /// The smallest latency, 0 when there is none (as ZooKeeper prints it).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// The average, truncated (ZooKeeper 3.4's `srvr`, and `cons` in 3.8).
    pub fn avg_int(&self) -> u64 {
        self.sum.checked_div(self.count).unwrap_or(0)
    }

    /// The average rounded half-up to 4 decimals (3.8's `AvgMinMaxCounter`).
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let a = self.sum as f64 / self.count as f64;
        (a * 10_000.0).round() / 10_000.0
    }
}

/// The upper bounds, in microseconds, of corral's latency histograms
/// (`/metrics`): 100 µs to 5 s.
pub const HISTOGRAM_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// Counts of latencies per [`HISTOGRAM_US`] bucket (each counts the
/// values above the previous bound, up to its own; larger ones are only
/// in the total a [`Latency`] keeps beside it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram(pub [u64; HISTOGRAM_US.len()]);

impl Histogram {
    pub fn add(&mut self, us: u64) {
        if let Some(i) = Histogram::bucket(us) {
            self.0[i] += 1;
        }
    }

    /// The bucket `us` falls in; `None` past the last bound.
    pub fn bucket(us: u64) -> Option<usize> {
        HISTOGRAM_US.iter().position(|b| us <= *b)
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a += b;
        }
    }

    /// Cumulative counts per bound, as Prometheus's `_bucket{le=…}`.
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut total = 0;
        HISTOGRAM_US.iter().zip(self.0).map(move |(b, n)| {
            total += n;
            (*b, total)
        })
    }
}

/// Server-wide counters one shard keeps (ZooKeeper's `ServerStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub received: u64,
    pub sent: u64,
    pub latency: Latency,
    /// corral's own split of the same requests, in microseconds: reads
    /// (answered by the shard) and writes (through the sequencer and the
    /// log, [`is_write`]). `/metrics` shows them per shard.
    pub read_us: Latency,
    pub write_us: Latency,
    /// The same, bucketed.
    pub read_hist: Histogram,
    pub write_hist: Histogram,
    /// The request throttles' counters (ZooKeeper's `ServerMetrics` of
    /// the same names).
    pub throttle: ThrottleStats,
}

/// `ServerMetrics`' request-throttle counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleStats {
    /// Stalls of `zookeeper.request_throttle_stall_time` (one a
    /// connection holding requests, each time it waits).
    pub request_throttle_wait_count: u64,
    /// Requests served although stale.
    pub stale_requests: u64,
    /// Requests dropped as stale (their connection closed).
    pub stale_requests_dropped: u64,
    /// Large requests over `zookeeper.largeRequestMaxBytes`.
    pub large_requests_rejected: u64,
    /// Requests answered ZTHROTTLEDOP.
    pub throttled_ops: u64,
}

impl ThrottleStats {
    fn merge(&mut self, o: &ThrottleStats) {
        self.request_throttle_wait_count += o.request_throttle_wait_count;
        self.stale_requests += o.stale_requests;
        self.stale_requests_dropped += o.stale_requests_dropped;
        self.large_requests_rejected += o.large_requests_rejected;
        self.throttled_ops += o.throttled_ops;
    }
}

impl ShardStats {
    /// `srst`: latency and packet counters back to zero.
    pub fn reset(&mut self) {
        *self = ShardStats::default();
    }

    pub fn merge(&mut self, o: &ShardStats) {
        self.received += o.received;
        self.sent += o.sent;
        self.latency.merge(&o.latency);
        self.read_us.merge(&o.read_us);
        self.write_us.merge(&o.write_us);
        self.read_hist.merge(&o.read_hist);
        self.write_hist.merge(&o.write_hist);
        self.throttle.merge(&o.throttle);
    }
}

/// One client connection, as `stat`, `cons` and `dump` show it (the fields
/// of ZooKeeper's `ServerCnxn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// The id on its shard (orders connections accepted in the same ms).
    pub conn: ConnId,
    pub peer: SocketAddr,
    /// Answering a four-letter word: ZooKeeper cancels such a socket's
    /// selection key, so it shows interest ops `0` instead of `1`.
    pub probe: bool,
    /// 0 until a session is attached.
    pub session: i64,
    pub timeout: i32,
    /// Wall-clock ms when the connection was accepted (`est=`).
    pub established_ms: i64,
    /// Wall-clock ms of the last bytes read (connection expiry in `dump`).
    pub last_active_ms: i64,
    pub received: u64,
    pub sent: u64,
    pub outstanding: usize,
    /// [`op_name`] of the last request answered.
    pub last_op: &'static str,
    /// -1 until a request with a non-negative xid is answered.
    pub last_cxid: i64,
    pub last_zxid: i64,
    /// Monotonic ms (since the server started) of the last answer.
    pub last_resp_ms: i64,
    pub last_latency: u64,
    pub latency: Latency,
}

impl ConnInfo {
    pub fn new(conn: ConnId, peer: SocketAddr, now_ms: i64) -> ConnInfo {
        ConnInfo {
            conn,
            peer,
            probe: false,
            session: 0,
            timeout: 0,
            established_ms: now_ms,
            last_active_ms: now_ms,
            received: 0,
            sent: 0,
            outstanding: 0,
            last_op: "NA",
            last_cxid: -1,
            last_zxid: -1,
            last_resp_ms: 0,
            last_latency: 0,
            latency: Latency::default(),
        }
    }

    /// A request was answered (ZooKeeper's `updateStatsForResponse`).
    pub fn responded(&mut self, op: i32, cxid: i32, zxid: i64, resp_ms: i64, latency_ms: u64) {
        if cxid >= 0 {
            self.last_cxid = cxid as i64;
        }
        self.last_zxid = zxid;
        self.last_op = op_name(op);
        self.last_resp_ms = resp_ms;
        self.last_latency = latency_ms;
        self.latency.add(latency_ms);
    }

    /// `crst` (ZooKeeper's `ServerCnxn.resetStats`).
    pub fn reset(&mut self) {
        self.received = 0;
        self.sent = 0;
        self.last_op = "NA";
        self.last_cxid = -1;
        self.last_zxid = -1;
        self.last_resp_ms = 0;
        self.last_latency = 0;
        self.latency = Latency::default();
    }
}

/// What one shard reports for a gathered command: a plain `Send` snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardView {
    pub shard: usize,
    pub stats: ShardStats,
    /// Every connection of the shard ([`Cmd::wants_conns`]), the asking one
    /// included, as in ZooKeeper.
    pub conns: Vec<ConnInfo>,
    /// The number of open connections (always filled).
    pub conn_count: usize,
    /// The sum of the connections' outstanding requests (always filled).
    pub outstanding: usize,
    /// Data plus child watches (ZooKeeper's `DataTree.getWatchCount`).
    pub watch_count: u64,
    /// Per watching connection: its session and the paths of its data
    /// watches ([`Cmd::wants_watches`] only).
    pub data_watches: Vec<(i64, Vec<String>)>,
    /// Connect requests the connection throttle refused (ZooKeeper's
    /// `connection_rejected`).
    pub connection_rejected: u64,
    /// The shard's throttle's BLUE drop chance, in millionths.
    pub connection_drop_millionths: u64,
}

/// Process facts the asking shard reads for `mntr` (-1 when unknown, as
/// ZooKeeper's `OSMXBean` reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsFacts {
    pub open_fds: i64,
    pub max_fds: i64,
}

impl Default for OsFacts {
    fn default() -> Self {
        OsFacts {
            open_fds: -1,
            max_fds: -1,
        }
    }
}

/// Everything the sequencer formats a gathered command from.
pub struct Facts<'a> {
    /// The sequencer's tree: the newest zxid and node counts.
    pub tree: &'a Tree,
    /// `standalone`, `leader`, `follower`, `observer`, …
    pub server_state: &'a str,
    pub global_sessions: usize,
    /// Local sessions (`localSessionsEnabled`) on this server.
    pub local_sessions: usize,
    /// Session expiry sets, oldest first (wall-clock ms → session ids);
    /// only `dump` reads them.
    pub session_sets: &'a [(i64, Vec<i64>)],
    pub uptime_ms: i64,
    pub trace_mask: i64,
    pub os: OsFacts,
    /// One view per shard.
    pub views: &'a [ShardView],
    /// The ensemble, while this server serves in one.
    pub quorum: Option<QuorumFacts>,
}

/// What `/metrics` shows of the ensemble while this server serves in one
/// (ZooKeeper's `QuorumZooKeeperServer` and `LeaderZooKeeperServer`
/// gauges, registered while they run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuorumFacts {
    /// Voting members (`quorum_size`).
    pub quorum_size: usize,
    /// Observers synced through this server (`synced_observers`): the
    /// leader's observers; 0 on a follower (no ObserverMaster).
    pub synced_observers: usize,
    /// The leader's own gauges, while leading.
    pub leader: Option<LeaderFacts>,
}

/// The leader's gauges, as ZooKeeper's `LeaderZooKeeperServer` names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderFacts {
    /// Learner connections past their INFO packet (`learners`).
    pub learners: usize,
    /// Voting followers that are synced and receive proposals
    /// (`synced_followers`).
    pub synced_followers: usize,
    /// Syncs waiting for their commit (`pending_syncs`).
    pub pending_syncs: usize,
}

/// [`Facts`] as one owned, `Send` value: what the sequencer hands a reader
/// on another thread (the AdminServer) instead of formatting text itself,
/// so that the four-letter words, the AdminServer's JSON and `/metrics`
/// all come from the same gathered facts ([`Gathered::facts`]).
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The sequencer's tree when it answered (cheap to clone: shared).
    pub tree: Tree,
    pub server_state: String,
    pub global_sessions: usize,
    pub local_sessions: usize,
    pub session_sets: Vec<(i64, Vec<i64>)>,
    pub uptime_ms: i64,
    pub trace_mask: i64,
    pub os: OsFacts,
    pub views: Vec<ShardView>,
    pub quorum: Option<QuorumFacts>,
}

impl Gathered {
    /// The same facts, borrowed, as the text formatters take them.
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            tree: &self.tree,
            server_state: &self.server_state,
            global_sessions: self.global_sessions,
            local_sessions: self.local_sessions,
            session_sets: &self.session_sets,
            uptime_ms: self.uptime_ms,
            trace_mask: self.trace_mask,
            os: self.os,
            views: &self.views,
            quorum: self.quorum,
        }
    }
}

impl<'a> Facts<'a> {
    /// An owned copy (see [`Gathered`]).
    pub fn to_owned(&self) -> Gathered {
        Gathered {
            tree: self.tree.clone(),
            server_state: self.server_state.to_string(),
            global_sessions: self.global_sessions,
            local_sessions: self.local_sessions,
            session_sets: self.session_sets.to_vec(),
            uptime_ms: self.uptime_ms,
            trace_mask: self.trace_mask,
            os: self.os,
            views: self.views.to_vec(),
            quorum: self.quorum,
        }
    }
}

impl Facts<'_> {
    /// Whether the server served clients when the facts were gathered.
    pub fn serving(&self) -> bool {
        self.server_state != LOOKING
    }

    /// The server-wide counters, merged over the shards.
    pub fn stats(&self) -> ShardStats {
        let mut s = ShardStats::default();
        for v in self.views {
            s.merge(&v.stats);
        }
        s
    }

    pub fn conn_count(&self) -> usize {
        self.views.iter().map(|v| v.conn_count).sum()
    }

    pub fn outstanding(&self) -> usize {
        self.views.iter().map(|v| v.outstanding).sum()
    }

    /// Every connection, oldest first.
    pub fn conns(&self) -> Vec<(usize, &ConnInfo)> {
        let mut all: Vec<(usize, &ConnInfo)> = self
            .views
            .iter()
            .flat_map(|v| v.conns.iter().map(move |c| (v.shard, c)))
            .collect();
        all.sort_by_key(|(shard, c)| (c.established_ms, *shard, c.conn));
        all
    }

    /// Watching connections (session, paths), sorted by session.
    pub fn watchers(&self) -> Vec<&(i64, Vec<String>)> {
        let mut w: Vec<_> = self.views.iter().flat_map(|v| &v.data_watches).collect();
        w.sort();
        w
    }
}

/// Host and process facts `envi` prints (`None` prints `<NA>`, as ZooKeeper
/// does for a missing property). corral is no JVM: the `java.*` keys are
/// `<NA>`, and the `os.memory.*` figures describe the process and machine
/// (see [`envi`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFacts {
    pub host_name: Option<String>,
    pub tmp_dir: Option<String>,
    pub os_name: Option<String>,
    pub os_arch: Option<String>,
    pub os_version: Option<String>,
    pub user_name: Option<String>,
    pub user_home: Option<String>,
    pub user_dir: Option<String>,
    /// MemAvailable of the machine, in MB.
    pub mem_free_mb: Option<u64>,
    /// MemTotal of the machine (or the cgroup limit), in MB.
    pub mem_max_mb: Option<u64>,
    /// Resident memory of the process, in MB.
    pub mem_total_mb: Option<u64>,
}

/// What the shard-local commands read: settings and disk facts.
pub struct LocalFacts<'a> {
    /// The `conf` lines in order, from the settings; the values of
    /// `dataDirSize` and `dataLogSize` are filled in from the sizes below.
    pub conf_lines: &'a [(String, String)],
    /// Bytes under `<dataDir>/version-2` and `<dataLogDir>/version-2`.
    pub data_dir_size: u64,
    pub log_dir_size: u64,
    pub env: &'a EnvFacts,
    /// The server serves read-only clients only (`isro` answers `ro`).
    pub read_only: bool,
    /// A quorum member's active config: whether it observes in it
    /// (`peerType`), and its text (`membership:`).
    pub membership: Option<(bool, String)>,
}

// ---------------------------------------------------------------------------
// The answers
// ---------------------------------------------------------------------------

/// The text of a [`Scope::Local`] command (others answer "").
pub fn local(cmd: Cmd, f: &LocalFacts) -> String {
    match cmd {
        Cmd::Ruok => "imok".to_string(),
        Cmd::Isro if f.read_only => "ro".to_string(),
        Cmd::Isro => "rw".to_string(),
        Cmd::Conf => conf(f),
        Cmd::Envi => envi(f.env),
        Cmd::Dirs => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            f.data_dir_size, f.log_dir_size
        ),
        _ => String::new(),
    }
}

/// The text of a [`Scope::Shards`] or [`Scope::Sequencer`] command.
pub fn answer(cmd: Cmd, f: &Facts) -> String {
    if cmd.needs_serving() && !f.serving() {
        return not_serving(cmd);
    }
    match cmd {
        Cmd::Srvr => stat(f, false),
        Cmd::Stat => stat(f, true),
        Cmd::Cons => cons(f),
        Cmd::Mntr => mntr(f),
        Cmd::Dump => dump(f),
        Cmd::Wchs => wchs(f),
        Cmd::Wchc => wchc(f),
        Cmd::Wchp => wchp(f),
        Cmd::Crst => "Connection stats reset.\n".to_string(),
        Cmd::Srst => "Server stats reset.\n".to_string(),
        Cmd::Gtmk | Cmd::Stmk(_) => f.trace_mask.to_string(),
        // No digest log yet (ZooKeeper's is empty until zxid 128 too).
        Cmd::Hash => String::new(),
        Cmd::Ruok | Cmd::Isro | Cmd::Conf | Cmd::Envi | Cmd::Dirs => String::new(),
    }
}

/// ZooKeeper's `DataTree.getNodeCount`: its node map holds the root twice
/// (under `""` and `/`), so a fresh tree counts 5 where corral holds 4 nodes.
pub fn znode_count(t: &Tree) -> usize {
    t.node_count() + 1
}

fn conf(f: &LocalFacts) -> String {
    let mut s = String::new();
    for (k, v) in f.conf_lines {
        let v = match k.as_str() {
            "dataDirSize" => f.data_dir_size.to_string(),
            "dataLogDir" | "dataDir" => v.clone(),
            "dataLogSize" => f.log_dir_size.to_string(),
            // `LearnerType.ordinal()` in the active config.
            "peerType" => match &f.membership {
                Some((observer, _)) => u8::from(*observer).to_string(),
                None => v.clone(),
            },
            _ => v.clone(),
        };
        let _ = writeln!(s, "{k}={v}");
    }
    // QuorumZooKeeperServer.dumpConf: the active config, as its
    // `toString` prints it (no newline after the version).
    if let Some((_, text)) = &f.membership {
        s.push_str("membership: \n");
        s.push_str(text);
    }
    s
}

/// `envi`: ZooKeeper's `Environment.list` keys, in its order.
fn envi(e: &EnvFacts) -> String {
    let mut s = String::from("Environment:\n");
    for (k, v) in envi_values(e) {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

/// The `envi` keys and values (the AdminServer's `environment` too).
pub fn envi_values(e: &EnvFacts) -> Vec<(&'static str, String)> {
    fn na(v: &Option<String>) -> String {
        v.as_deref().unwrap_or("<NA>").to_string()
    }
    fn mb(v: Option<u64>) -> String {
        v.map_or("<NA>".to_string(), |m| format!("{m}MB"))
    }
    vec![
        ("zookeeper.version", VERSION.to_string()),
        ("host.name", na(&e.host_name)),
        ("java.version", "<NA>".into()),
        ("java.vendor", "<NA>".into()),
        ("java.home", "<NA>".into()),
        ("java.class.path", "<NA>".into()),
        ("java.library.path", "<NA>".into()),
        ("java.io.tmpdir", na(&e.tmp_dir)),
        ("java.compiler", "<NA>".into()),
        ("os.name", na(&e.os_name)),
        ("os.arch", na(&e.os_arch)),
        ("os.version", na(&e.os_version)),
        ("user.name", na(&e.user_name)),
        ("user.home", na(&e.user_home)),
        ("user.dir", na(&e.user_dir)),
        ("os.memory.free", mb(e.mem_free_mb)),
        ("os.memory.max", mb(e.mem_max_mb)),
        ("os.memory.total", mb(e.mem_total_mb)),
    ]
}

/// One connection as `ServerCnxn.dumpConnectionInfo` prints it.
fn conn_line(s: &mut String, c: &ConnInfo, brief: bool) {
    let _ = write!(
        s,
        " {}[{}](queued={},recved={},sent={}",
        java_addr(&c.peer),
        if c.probe { 0 } else { 1 },
        c.outstanding,
        c.received,
        c.sent
    );
    if !brief && c.session != 0 {
        let _ = write!(
            s,
            ",sid=0x{:x},lop={},est={},to={}",
            c.session, c.last_op, c.established_ms, c.timeout
        );
        if c.last_cxid >= 0 {
            let _ = write!(s, ",lcxid=0x{:x}", c.last_cxid);
        }
        let _ = write!(
            s,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            c.last_zxid,
            c.last_resp_ms,
            c.last_latency,
            c.latency.min(),
            c.latency.avg_int(),
            c.latency.max
        );
    }
    s.push_str(")\n");
}

/// `srvr` and `stat` (ZooKeeper's `StatCommand`, 3.4's version and latency
/// forms; see the module docs).
fn stat(f: &Facts, with_clients: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Zookeeper version: {VERSION}");
    if with_clients {
        s.push_str("Clients:\n");
        for (_, c) in f.conns() {
            conn_line(&mut s, c, true);
        }
        s.push('\n');
    }
    let st = f.stats();
    let _ = writeln!(
        s,
        "Latency min/avg/max: {}/{}/{}",
        st.latency.min(),
        st.latency.avg_int(),
        st.latency.max
    );
    let _ = writeln!(s, "Received: {}", st.received);
    let _ = writeln!(s, "Sent: {}", st.sent);
    let _ = writeln!(s, "Connections: {}", f.conn_count());
    let _ = writeln!(s, "Outstanding: {}", f.outstanding());
    let _ = writeln!(s, "Zxid: 0x{:x}", f.tree.last_zxid);
    let _ = writeln!(s, "Mode: {}", f.server_state);
    let _ = writeln!(s, "Node count: {}", znode_count(f.tree));
    s
}

fn cons(f: &Facts) -> String {
    let mut s = String::new();
    for (_, c) in f.conns() {
        conn_line(&mut s, c, false);
    }
    s.push('\n');
    s
}

/// `mntr`: the gauges of ZooKeeper 3.8 that corral computes honestly, in
/// the order 3.8 prints them, with 3.8's value types.
///
/// Left out, because corral has nothing honest to report for them yet:
/// - `zk_last/min/max_client_response_size`: response sizes are not
///   tracked per reply;
/// - `zk_non_mtls_remote_conn_count`, `zk_non_mtls_local_conn_count`,
///   `zk_outstanding_tls_handshake`, `zk_auth_failed_count`: no TLS
///   listener (ZooKeeper counts these only on its Netty/TLS path);
/// - `zk_quota_*` gauge sets: quotas are not enforced or counted;
/// - every counter and summary of ZooKeeper's metrics provider
///   (`zk_bytes_received_count`, `zk_fsynctime`, `zk_readlatency`,
///   `zk_p99_*`, the commit-processor and learner metrics, …): they
///   describe ZooKeeper's request-processor pipeline and JVM, which corral
///   does not have;
/// - of the ensemble keys, those beyond `zk_quorum_size`,
///   `zk_synced_observers`, and the leader's `zk_learners`,
///   `zk_synced_followers` and `zk_pending_syncs` (`zk_followers`,
///   `zk_peer_state`, the proposal sizes, …).
pub fn mntr(f: &Facts) -> String {
    let mut s = String::new();
    for (k, v) in mntr_values(f) {
        let _ = writeln!(s, "zk_{k}\t{v}");
    }
    s
}

/// One `mntr` value, typed as ZooKeeper's (the AdminServer's `monitor`
/// prints these types in JSON, `/metrics` as Prometheus samples).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    /// A Java double (printed with [`java_double`]).
    Double(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => f.write_str(&java_double(*d)),
        }
    }
}

/// The `mntr` keys (without `zk_`) and values, in ZooKeeper 3.8's order:
/// the one list that `mntr`, the AdminServer's `monitor` and `/metrics`
/// print.
pub fn mntr_values(f: &Facts) -> Vec<(&'static str, Value)> {
    let st = f.stats();
    let watches: u64 = f.views.iter().map(|v| v.watch_count).sum();
    let i = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut v = vec![
        ("version", Value::Str(VERSION.to_string())),
        ("server_state", Value::Str(f.server_state.to_string())),
        ("ephemerals_count", i(f.tree.ephemeral_count() as u64)),
        ("num_alive_connections", i(f.conn_count() as u64)),
        ("avg_latency", Value::Double(st.latency.avg())),
        ("outstanding_requests", i(f.outstanding() as u64)),
        ("znode_count", i(znode_count(f.tree) as u64)),
        ("global_sessions", i(f.global_sessions as u64)),
        ("packets_sent", i(st.sent)),
        ("packets_received", i(st.received)),
        ("watch_count", i(watches)),
        ("min_latency", i(st.latency.min())),
        ("max_file_descriptor_count", Value::Int(f.os.max_fds)),
        ("approximate_data_size", i(f.tree.approximate_data_size())),
        ("open_file_descriptor_count", Value::Int(f.os.open_fds)),
        ("local_sessions", i(f.local_sessions as u64)),
        ("uptime", Value::Int(f.uptime_ms)),
        ("max_latency", i(st.latency.max)),
        // ZooKeeper's connection throttle gauge and counter: corral's
        // shards each throttle their share, so the chance is their mean.
        (
            "connection_drop_probability",
            Value::Double(
                f.views
                    .iter()
                    .map(|v| v.connection_drop_millionths as f64 / 1e6)
                    .sum::<f64>()
                    / f.views.len().max(1) as f64,
            ),
        ),
        (
            "connection_rejected",
            i(f.views.iter().map(|v| v.connection_rejected).sum()),
        ),
        // ServerMetrics' request throttle counters (reset by srst here).
        (
            "request_throttle_wait_count",
            i(st.throttle.request_throttle_wait_count),
        ),
        ("stale_requests", i(st.throttle.stale_requests)),
        (
            "stale_requests_dropped",
            i(st.throttle.stale_requests_dropped),
        ),
        (
            "large_requests_rejected",
            i(st.throttle.large_requests_rejected),
        ),
        ("throttled_ops", i(st.throttle.throttled_ops)),
    ];
    // The ensemble's gauges, while serving in one (ZooKeeper registers them
    // while its quorum servers run, and `mntr` dumps every gauge).
    if let Some(q) = f.quorum {
        v.push(("quorum_size", i(q.quorum_size as u64)));
        v.push(("synced_observers", i(q.synced_observers as u64)));
        if let Some(l) = q.leader {
            v.push(("learners", i(l.learners as u64)));
            v.push(("synced_followers", i(l.synced_followers as u64)));
            v.push(("pending_syncs", i(l.pending_syncs as u64)));
        }
    }
    v
}

/// `dump`: session expiry sets, ephemerals, connection expiry sets.
fn dump(f: &Facts) -> String {
    let mut s = String::from("SessionTracker dump:\n");
    let _ = writeln!(
        s,
        "Session Sets ({})/({}):",
        f.session_sets.len(),
        f.global_sessions
    );
    for (at, ids) in f.session_sets {
        let _ = writeln!(s, "{} expire at {}:", ids.len(), java_date(*at));
        for id in ids {
            let _ = writeln!(s, "\t0x{id:x}");
        }
    }
    s.push_str("ephemeral nodes dump:\n");
    let eph = f.tree.ephemerals_by_session();
    let _ = writeln!(s, "Sessions with Ephemerals ({}):", eph.len());
    for (id, paths) in &eph {
        let _ = writeln!(s, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    s.push_str("Connections dump:\n");
    // ZooKeeper's NIO factory keeps connections in an expiry queue with
    // buckets `sessionlessCnxnTimeout` wide, touched on every read.
    let mut sets: std::collections::BTreeMap<i64, Vec<&ConnInfo>> = Default::default();
    let conns = f.conns();
    for (_, c) in &conns {
        let timeout = if c.session != 0 && c.timeout > 0 {
            c.timeout as i64
        } else {
            SESSIONLESS_CNXN_TIMEOUT_MS
        };
        let at = ((c.last_active_ms + timeout) / SESSIONLESS_CNXN_TIMEOUT_MS + 1)
            * SESSIONLESS_CNXN_TIMEOUT_MS;
        sets.entry(at).or_default().push(c);
    }
    let _ = writeln!(s, "Connections Sets ({})/({}):", sets.len(), conns.len());
    for (at, cs) in &sets {
        let _ = writeln!(s, "{} expire at {}:", cs.len(), java_date(*at));
        for c in cs {
            let _ = writeln!(
                s,
                "\tip: {} sessionId: 0x{:x}",
                java_addr(&c.peer),
                c.session
            );
        }
    }
    s
}

fn wchs(f: &Facts) -> String {
    let w = f.watchers();
    let paths: std::collections::BTreeSet<&String> = w.iter().flat_map(|(_, p)| p).collect();
    let total: usize = w.iter().map(|(_, p)| p.len()).sum();
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        w.len(),
        paths.len(),
        total
    )
}

fn wchc(f: &Facts) -> String {
    let mut s = String::new();
    for (session, paths) in f.watchers() {
        let _ = writeln!(s, "0x{session:x}");
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    s.push('\n');
    s
}

fn wchp(f: &Facts) -> String {
    let mut by_path: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
    for (session, paths) in f.watchers() {
        for p in paths {
            by_path.entry(p).or_default().push(*session);
        }
    }
    let mut s = String::new();
    for (p, sessions) in by_path {
        let _ = writeln!(s, "{p}");
        for id in sessions {
            let _ = writeln!(s, "\t0x{id:x}");
        }
    }
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------
// Java's text forms
// ---------------------------------------------------------------------------

/// A socket address as Java 17's `InetSocketAddress.toString` prints a
/// resolved address without a host name: `/1.2.3.4:5`, `/[0:0:0:0:0:0:0:1]:5`.
pub fn java_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("/{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("/{}:{}", v4, v6.port()),
            None => {
                let segs: Vec<String> = v6
                    .ip()
                    .segments()
                    .iter()
                    .map(|x| format!("{x:x}"))
                    .collect();
                format!("/[{}]:{}", segs.join(":"), v6.port())
            }
        },
    }
}

/// A double as Java's `Double.toString` prints it (`0.0`, `6.125`, `1.0E7`).
pub fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        if m.contains('.') {
            format!("{m}E{e}")
        } else {
            format!("{m}.0E{e}")
        }
    }
}

/// Wall-clock ms as `java.util.Date.toString` prints it in UTC:
/// `Thu Nov 26 16:40:25 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (year, month, day) = crate::ops::clock::civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[(days + 4).rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV6};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn conn(id: ConnId, port: u16, session: i64, est: i64) -> ConnInfo {
        let mut c = ConnInfo::new(id, addr(port), est);
        c.session = session;
        c.timeout = if session != 0 { 30_000 } else { 0 };
        c
    }

    /// The opening reader a shard uses (and fuzz/src/bin/fourlw.rs).
    #[test]
    fn opening_words_and_the_stmk_mask() {
        assert_eq!(Cmd::read_word(b"ruok"), Some(Cmd::Ruok));
        assert_eq!(Cmd::read_word(b"mntr\r\n"), Some(Cmd::Mntr));
        assert_eq!(Cmd::read_word(b"ruo"), None, "not all there yet");
        assert_eq!(Cmd::read_word(b"\0\0\0\x2d\0"), None, "a frame");
        assert_eq!(Cmd::read_word(b"RUOK"), None);
        assert_eq!(Cmd::read_word(b"stmk"), Some(Cmd::Stmk(0)));
        let mut stmk = b"stmk".to_vec();
        stmk.extend_from_slice(&306i64.to_be_bytes());
        assert_eq!(Cmd::stmk_mask(&stmk[..11]), None, "mask not all there");
        assert_eq!(Cmd::stmk_mask(&stmk), Some(306));
    }

    /// Two shards: shard 0 holds a client with one watch and the probe
    /// asking; shard 1 holds a client with two watches.
    fn two_shards() -> Vec<ShardView> {
        let mut a = conn(1, 41948, 0x0100_0013_4f2b_0000, 1_000);
        a.received = 5;
        a.sent = 5;
        a.responded(crate::protocol::jute::op::GET_DATA, 4, 4, 1_278_866, 1);
        let mut probe = conn(2, 41980, 0, 3_000);
        probe.probe = true;
        probe.received = 1;
        let mut b = conn(1, 41954, 0x0100_0013_4f2b_0001, 2_000);
        b.received = 3;
        b.sent = 3;
        let mut s0 = ShardStats {
            received: 6,
            sent: 5,
            ..Default::default()
        };
        s0.latency.add(0);
        s0.latency.add(35);
        let mut s1 = ShardStats {
            received: 3,
            sent: 3,
            ..Default::default()
        };
        s1.latency.add(1);
        s1.latency.add(13);
        vec![
            ShardView {
                shard: 0,
                stats: s0,
                conns: vec![a.clone(), probe],
                conn_count: 2,
                outstanding: 0,
                watch_count: 1,
                data_watches: vec![(a.session, vec!["/fw".into()])],
                connection_rejected: 2,
                connection_drop_millionths: 100_000,
            },
            ShardView {
                shard: 1,
                stats: s1,
                conns: vec![b.clone()],
                conn_count: 1,
                outstanding: 0,
                watch_count: 3,
                data_watches: vec![(b.session, vec!["/fw".into(), "/nothere".into()])],
                connection_rejected: 3,
                connection_drop_millionths: 300_000,
            },
        ]
    }

    fn facts<'a>(tree: &'a Tree, views: &'a [ShardView], sets: &'a [(i64, Vec<i64>)]) -> Facts<'a> {
        Facts {
            tree,
            server_state: "standalone",
            global_sessions: 2,
            local_sessions: 0,
            session_sets: sets,
            uptime_ms: 13_820,
            trace_mask: DEFAULT_TRACE_MASK,
            os: OsFacts {
                open_fds: 42,
                max_fds: 20_000,
            },
            views,
            quorum: None,
        }
    }

    #[test]
    fn gated_words_answer_not_serving_while_looking() {
        let tree = Tree::new();
        let mut f = facts(&tree, &[], &[]);
        f.server_state = LOOKING;
        for cmd in Cmd::ALL {
            let text = answer(cmd, &f);
            match cmd {
                Cmd::Gtmk | Cmd::Stmk(_) => assert_eq!(text, DEFAULT_TRACE_MASK.to_string()),
                // Answered by the shard (`local`), never gated there.
                Cmd::Ruok | Cmd::Envi => assert_eq!(text, ""),
                Cmd::Isro => assert_eq!(text, "null"),
                Cmd::Hash => assert_eq!(text, NOT_SERVING),
                _ => assert_eq!(text, format!("{NOT_SERVING}\n"), "{}", cmd.name()),
            }
        }
        f.server_state = "follower";
        assert!(answer(Cmd::Srvr, &f).contains("Mode: follower\n"));
    }

    #[test]
    fn words_parse_and_scope() {
        assert_eq!(Cmd::parse(b"ruok"), Some(Cmd::Ruok));
        assert_eq!(Cmd::parse(b"stmk"), Some(Cmd::Stmk(0)));
        assert_eq!(Cmd::parse(b"RUOK"), None);
        assert_eq!(Cmd::parse(&[0, 0, 0, 44]), None);
        for c in Cmd::ALL {
            assert_eq!(Cmd::parse(c.name().as_bytes().try_into().unwrap()), Some(c));
        }
        assert_eq!(Cmd::Srvr.scope(), Scope::Shards);
        assert_eq!(Cmd::Gtmk.scope(), Scope::Sequencer);
        assert_eq!(Cmd::Envi.scope(), Scope::Local);
        assert_eq!(DEFAULT_TRACE_MASK, 306);
    }

    #[test]
    fn whitelist_refusal_is_zookeepers_text() {
        let list = vec!["ruok".to_string(), "srvr".to_string()];
        assert!(allowed(Cmd::Ruok, &list) && allowed(Cmd::Srvr, &list));
        assert!(!allowed(Cmd::Stat, &list));
        assert!(allowed(Cmd::Stat, &["*".to_string()]));
        assert_eq!(
            refused(Cmd::Stat),
            "stat is not executed because it is not in the whitelist.\n"
        );
    }

    #[test]
    fn srvr_and_stat_merge_shards() {
        let tree = Tree::new();
        let views = two_shards();
        let f = facts(&tree, &views, &[]);
        let want_tail = "Latency min/avg/max: 0/12/35\n\
                         Received: 9\n\
                         Sent: 8\n\
                         Connections: 3\n\
                         Outstanding: 0\n\
                         Zxid: 0x0\n\
                         Mode: standalone\n\
                         Node count: 5\n";
        assert_eq!(
            answer(Cmd::Srvr, &f),
            format!("Zookeeper version: {VERSION}\n{want_tail}")
        );
        assert_eq!(
            answer(Cmd::Stat, &f),
            format!(
                "Zookeeper version: {VERSION}\nClients:\n\
                 \x20/127.0.0.1:41948[1](queued=0,recved=5,sent=5)\n\
                 \x20/127.0.0.1:41954[1](queued=0,recved=3,sent=3)\n\
                 \x20/127.0.0.1:41980[0](queued=0,recved=1,sent=0)\n\n{want_tail}"
            )
        );
        assert!(VERSION.starts_with("3.8.0-corral-"));
        assert!(VERSION.ends_with(", built on 11/26/2026 00:00 GMT"));
    }

    #[test]
    fn cons_prints_session_details() {
        let tree = Tree::new();
        let views = two_shards();
        let f = facts(&tree, &views, &[]);
        assert_eq!(
            answer(Cmd::Cons, &f),
            " /127.0.0.1:41948[1](queued=0,recved=5,sent=5,sid=0x10000134f2b0000,lop=GETD,\
             est=1000,to=30000,lcxid=0x4,lzxid=0x4,lresp=1278866,llat=1,minlat=1,avglat=1,maxlat=1)\n\
             \x20/127.0.0.1:41954[1](queued=0,recved=3,sent=3,sid=0x10000134f2b0001,lop=NA,\
             est=2000,to=30000,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)\n\
             \x20/127.0.0.1:41980[0](queued=0,recved=1,sent=0)\n\n"
        );
    }

    #[test]
    fn crst_resets_a_connection() {
        let mut c = conn(1, 1, 5, 0);
        c.received = 3;
        c.responded(crate::protocol::jute::op::PING, -2, 7, 10, 3);
        assert_eq!((c.last_op, c.last_cxid, c.last_zxid), ("PING", -1, 7));
        c.reset();
        assert_eq!(c, conn(1, 1, 5, 0));
    }

    #[test]
    fn mntr_keys_and_types() {
        let tree = Tree::new();
        let views = two_shards();
        let f = facts(&tree, &views, &[]);
        let text = answer(Cmd::Mntr, &f);
        let lines: Vec<(&str, &str)> = text
            .lines()
            .map(|l| l.split_once('\t').expect("key<TAB>value"))
            .collect();
        let keys: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "zk_version",
                "zk_server_state",
                "zk_ephemerals_count",
                "zk_num_alive_connections",
                "zk_avg_latency",
                "zk_outstanding_requests",
                "zk_znode_count",
                "zk_global_sessions",
                "zk_packets_sent",
                "zk_packets_received",
                "zk_watch_count",
                "zk_min_latency",
                "zk_max_file_descriptor_count",
                "zk_approximate_data_size",
                "zk_open_file_descriptor_count",
                "zk_local_sessions",
                "zk_uptime",
                "zk_max_latency",
                "zk_connection_drop_probability",
                "zk_connection_rejected",
                "zk_request_throttle_wait_count",
                "zk_stale_requests",
                "zk_stale_requests_dropped",
                "zk_large_requests_rejected",
                "zk_throttled_ops",
            ]
        );
        let get = |k: &str| lines.iter().find(|(x, _)| *x == k).unwrap().1;
        assert_eq!(get("zk_version"), VERSION);
        assert_eq!(get("zk_avg_latency"), "12.25");
        assert_eq!(get("zk_num_alive_connections"), "3");
        assert_eq!(get("zk_watch_count"), "4");
        assert_eq!(get("zk_packets_received"), "9");
        assert_eq!(get("zk_approximate_data_size"), "44");
        assert_eq!(get("zk_open_file_descriptor_count"), "42");
        assert!(text.contains("zk_max_latency\t35\n"));
        // The shards' throttles: their mean drop chance, their refusals.
        assert_eq!(get("zk_connection_drop_probability"), "0.2");
        assert_eq!(get("zk_connection_rejected"), "5");
        assert_eq!(get("zk_max_latency"), "35");
        assert_eq!(get("zk_throttled_ops"), "0");
    }

    #[test]
    fn watch_dumps() {
        let tree = Tree::new();
        let views = two_shards();
        let f = facts(&tree, &views, &[]);
        assert_eq!(
            answer(Cmd::Wchs, &f),
            "2 connections watching 2 paths\nTotal watches:3\n"
        );
        assert_eq!(
            answer(Cmd::Wchc, &f),
            "0x10000134f2b0000\n\t/fw\n0x10000134f2b0001\n\t/fw\n\t/nothere\n\n"
        );
        assert_eq!(
            answer(Cmd::Wchp, &f),
            "/fw\n\t0x10000134f2b0000\n\t0x10000134f2b0001\n/nothere\n\t0x10000134f2b0001\n\n"
        );
        let none = facts(&tree, &[], &[]);
        assert_eq!(
            answer(Cmd::Wchs, &none),
            "0 connections watching 0 paths\nTotal watches:0\n"
        );
        assert_eq!(answer(Cmd::Wchc, &none), "\n");
    }

    #[test]
    fn dump_lists_sessions_ephemerals_and_connections() {
        let tree = Tree::new();
        let mut views = two_shards();
        views[0].conns[0].last_active_ms = 1_795_711_195_000;
        views[0].conns[1].last_active_ms = 1_795_711_195_000;
        views[1].conns[0].last_active_ms = 1_795_711_195_000;
        let sets = vec![(
            1_795_711_225_000,
            vec![0x0100_0013_4f2b_0000, 0x0100_0013_4f2b_0001],
        )];
        let f = facts(&tree, &views, &sets);
        assert_eq!(
            answer(Cmd::Dump, &f),
            "SessionTracker dump:\n\
             Session Sets (1)/(2):\n\
             2 expire at Thu Nov 26 16:40:25 UTC 2026:\n\
             \t0x10000134f2b0000\n\
             \t0x10000134f2b0001\n\
             ephemeral nodes dump:\n\
             Sessions with Ephemerals (0):\n\
             Connections dump:\n\
             Connections Sets (2)/(3):\n\
             1 expire at Thu Nov 26 16:40:10 UTC 2026:\n\
             \tip: /127.0.0.1:41980 sessionId: 0x0\n\
             2 expire at Thu Nov 26 16:40:30 UTC 2026:\n\
             \tip: /127.0.0.1:41948 sessionId: 0x10000134f2b0000\n\
             \tip: /127.0.0.1:41954 sessionId: 0x10000134f2b0001\n"
        );
    }

    #[test]
    fn sequencer_only_words() {
        let tree = Tree::new();
        let mut f = facts(&tree, &[], &[]);
        assert_eq!(answer(Cmd::Gtmk, &f), "306");
        f.trace_mask = 5;
        assert_eq!(answer(Cmd::Stmk(5), &f), "5");
        assert_eq!(answer(Cmd::Hash, &f), "");
        assert_eq!(answer(Cmd::Crst, &f), "Connection stats reset.\n");
        assert_eq!(answer(Cmd::Srst, &f), "Server stats reset.\n");
    }

    #[test]
    fn local_words() {
        let lines: Vec<(String, String)> = [
            ("clientPort", "2181"),
            ("dataDir", "/d/version-2"),
            ("dataDirSize", ""),
            ("dataLogSize", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = EnvFacts {
            host_name: Some("h".into()),
            mem_free_mb: Some(10),
            ..Default::default()
        };
        let f = LocalFacts {
            conf_lines: &lines,
            data_dir_size: 7,
            log_dir_size: 9,
            env: &env,
            read_only: false,
            membership: None,
        };
        assert_eq!(local(Cmd::Ruok, &f), "imok");
        assert_eq!(local(Cmd::Isro, &f), "rw");
        assert_eq!(
            local(Cmd::Conf, &f),
            "clientPort=2181\ndataDir=/d/version-2\ndataDirSize=7\ndataLogSize=9\n"
        );
        assert_eq!(local(Cmd::Dirs, &f), "datadir_size: 7\nlogdir_size: 9\n");
        // A quorum member: peerType from the active config, then it.
        let quorum_lines = [("peerType".to_string(), "0".to_string())];
        let q = LocalFacts {
            conf_lines: &quorum_lines,
            membership: Some((true, "server.1=a:1:2:observer\nversion=5".into())),
            ..f
        };
        assert_eq!(
            local(Cmd::Conf, &q),
            "peerType=1\nmembership: \nserver.1=a:1:2:observer\nversion=5"
        );
        let envi = local(Cmd::Envi, &f);
        let keys: Vec<&str> = envi
            .lines()
            .skip(1)
            .map(|l| l.split_once('=').unwrap().0)
            .collect();
        assert_eq!(keys.len(), 18);
        assert!(envi.starts_with(&format!(
            "Environment:\nzookeeper.version={VERSION}\nhost.name=h\n"
        )));
        assert!(envi.contains("\njava.version=<NA>\n"));
        assert!(envi.ends_with("os.memory.free=10MB\nos.memory.max=<NA>\nos.memory.total=<NA>\n"));
    }

    #[test]
    fn java_forms() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(6.125), "6.125");
        assert_eq!(java_double(72.6667), "72.6667");
        assert_eq!(java_double(12.0), "12.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(12_345_678.0), "1.2345678E7");
        let l = Latency {
            min: 71,
            max: 75,
            sum: 218,
            count: 3,
        };
        assert_eq!(java_double(l.avg()), "72.6667");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(1_795_711_225_000), "Thu Nov 26 16:40:25 UTC 2026");
        assert_eq!(java_addr(&addr(5)), "/127.0.0.1:5");
        let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 0));
        assert_eq!(java_addr(&v6), "/[0:0:0:0:0:0:0:1]:9");
        let mapped = SocketAddr::V6(SocketAddrV6::new(
            Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped(),
            9,
            0,
            0,
        ));
        assert_eq!(java_addr(&mapped), "/10.0.0.1:9");
    }

    use std::net::Ipv4Addr;
}
