//! The sequencer: the single writer of the tree.
//!
//! Owns the tree being written, the zxid counter, the session tracker, the
//! map of which connection holds each session, and the container manager.
//! It takes shard messages and the time, preps and applies txns, and
//! produces, per shard, the ordered items (events, replies, handshakes,
//! closes) that go out with the next published tree version. Logic without
//! I/O: the glommio driver in `server` feeds it and sends what it returns.

use crate::data::acl::AclPolicy;
use crate::data::digest::TxnDigest;
use crate::data::prep::{self, PrepCtx, WriteOp};
use crate::data::tree::{NodeKind, Tree};
use crate::data::txn::{Txn, TxnBody};
use crate::protocol::fourlw::{self, Cmd, OsFacts, Scope, ShardView};
use crate::protocol::jute::{self, Code, Jute};
use crate::protocol::request;
use crate::quorum::reconfig::{self, ReconfigView};
use crate::replica::msg::{Asker, ConnRef, Item, ToSeq};
use crate::replica::session::{self, SessionTracker};
use crate::{FastMap as HashMap, FastSet as HashSet};
use bytes::{Bytes, BytesMut};
use std::net::IpAddr;

/// The sequencer's settings.
#[derive(Debug, Clone)]
pub struct SeqSettings {
    pub shards: usize,
    pub tick_ms: i64,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    /// Per client IP; 0 is no limit.
    pub max_client_cnxns: u32,
    /// `zookeeper.maxCnxns`: all client connections; 0 is no limit.
    pub max_cnxns: u32,
    pub policy: AclPolicy,
    pub extended_types: bool,
    /// `zookeeper.enforceQuota`: hard quota limits fail writes.
    pub enforce_quota: bool,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs`: a container that never
    /// had a child (cversion 0) is deleted once its mtime is older than
    /// this; 0 = never.
    pub container_max_never_used_interval_ms: i64,
    pub server_id: i64,
    /// Where the sequencer publishes its role, for the shards and the
    /// AdminServer (which gate their answers on it).
    pub role: RoleCell,
    /// A quorum member's config text (`QuorumVerifier.toString()`), put
    /// in `/zookeeper/config` after every tree a leader sends, as
    /// ZooKeeper does while reconfig is off (the driver puts it in the
    /// tree it starts from); `None` standalone.
    pub config_node: Option<Bytes>,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `localSessionsEnabled` in an ensemble: `Some(upgrading)`, with
    /// `localSessionsUpgradingEnabled`; `None` off (and standalone, which
    /// ignores both keys as ZooKeeper does).
    pub local_sessions: Option<bool>,
}

/// The sequencer state.
pub struct Sequencer {
    s: SeqSettings,
    /// Local sessions (`localSessionsEnabled`): known to this server
    /// alone, never logged; their ids come from `sessions`' counter. A
    /// role change drops them, as ZooKeeper's new server does.
    local: SessionTracker,
    /// The ensemble as the replica last saw it (set before each gather
    /// message; `None` standalone).
    pub(super) quorum: Option<fourlw::QuorumFacts>,
    /// Leading: what a reconfig is checked against.
    reconfig: Option<ReconfigView>,
    /// The version of the config in `s.config_node`.
    config_version: i64,
    tree: Tree,
    sessions: SessionTracker,
    owners: HashMap<i64, ConnRef>,
    /// Open connections by client IP, counted at accept.
    per_ip: HashMap<IpAddr, u32>,
    /// Open connections counted at accept, over every IP.
    cnxns: u32,
    /// Connections refused at accept (over `maxClientCnxns`), until gone:
    /// closed, not counted, and nothing they send is served.
    refused: HashSet<ConnRef>,
    /// The refusals' warning rate limit.
    refuse_warn: crate::ops::WarnLimit,
    out: Vec<Vec<Item>>,
    /// Where each connection's last reply of the current batch sits.
    last_reply: HashMap<ConnRef, usize>,
    /// Txns applied since the last `take_logged`, each with the tree's
    /// digest after it, for the log core.
    logged: Vec<(Txn, TxnDigest)>,
    dirty: bool,
    next_container_check: i64,
    /// Four-letter words waiting for every shard's view, by ticket.
    gathers: HashMap<u64, Gathering>,
    next_ticket: u64,
    /// ZooKeeper's text trace mask (`gtmk`/`stmk`); corral keeps it only
    /// to answer those words.
    trace_mask: i64,
    started: i64,
    /// This server's part in the ensemble.
    role: Role,
    /// A leader's first zxid of its epoch; 0 when not leading.
    epoch_start: i64,
    /// Follower: what goes to the leader, in order.
    forwards: Vec<Forward>,
    /// Follower: forwarded requests waiting for their txn's commit.
    waiting: HashMap<(i64, i32), Waiter>,
    /// Follower: forwarded `sync`s, answered in order when the leader's
    /// SYNC comes back.
    syncs: std::collections::VecDeque<(ConnRef, i32, String)>,
    /// Follower: sessions touched since the last ping.
    touched: Vec<i64>,
    /// Connections closed because the log failed under their writes:
    /// what they sent after those writes is dropped unanswered until the
    /// shard reports them gone, so a session's writes are never applied
    /// with a hole in them. (One whose handshake was dropped never
    /// reports: its entry stays, which is harmless, as ids are not reused.)
    fenced: HashSet<ConnRef>,
    /// Each connection's auth ids, as its shard last sent them.
    auths: HashMap<ConnRef, Vec<jute::Id>>,
}

/// How this server takes part: alone, or its role in the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No ensemble: every write is prepped and applied here.
    Standalone,
    /// Between leaders (electing, or syncing with one): no client is
    /// served; connections are closed, as ZooKeeper closes them.
    NotServing,
    /// The leader: preps every write, its own and the learners'.
    Leader,
    /// A follower: forwards writes and session changes to the leader and
    /// applies what the leader commits.
    Learner,
    /// An observer: a learner that does not vote.
    Observer,
    /// Cut off from the quorum with `readonlymode.enabled`: clients that
    /// allow it read the last committed version; writes get NotReadOnly.
    ReadOnly,
}

impl Role {
    /// The server state the four-letter words and `mntr` report.
    pub fn name(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::NotServing => fourlw::LOOKING,
            Role::Leader => "leader",
            Role::Learner => "follower",
            Role::Observer => "observer",
            Role::ReadOnly => "read-only",
        }
    }

    /// ZooKeeper's `ZooKeeperServer.isRunning()`: whether clients are
    /// served. The four-letter words and AdminServer commands that
    /// ZooKeeper gates on it answer [`crate::protocol::fourlw::NOT_SERVING`] otherwise.
    pub fn serving(self) -> bool {
        self != Role::NotServing
    }

    const ALL: [Role; 6] = [
        Role::Standalone,
        Role::NotServing,
        Role::Leader,
        Role::Learner,
        Role::Observer,
        Role::ReadOnly,
    ];
}

/// The sequencer's role, readable from other threads (the shards answer
/// some four-letter words alone; the AdminServer runs on its own threads).
/// Only the sequencer writes it ([`Sequencer::set_role`]).
#[derive(Debug, Clone)]
pub struct RoleCell {
    role: std::sync::Arc<std::sync::atomic::AtomicU8>,
    /// `leaderServes` (fixed at start): with false, a leader takes no
    /// client connections, as ZooKeeper's leader with
    /// `zookeeper.leaderServes=no` has no server behind its client port.
    leader_serves: bool,
}

impl Default for RoleCell {
    fn default() -> RoleCell {
        RoleCell {
            role: std::sync::Arc::default(),
            leader_serves: true,
        }
    }
}

impl RoleCell {
    pub fn new(role: Role) -> RoleCell {
        let c = RoleCell::default();
        c.set(role);
        c
    }

    /// The same cell, with `leaderServes` as given.
    pub fn with_leader_serves(self, serves: bool) -> RoleCell {
        RoleCell {
            leader_serves: serves,
            ..self
        }
    }

    /// Whether the client port serves now: handshakes are answered, and
    /// the four-letter words gated on serving answer in full. False
    /// between leaders, and on a leader with `leaderServes=no` (whose
    /// AdminServer still answers, as ZooKeeper's does).
    pub fn clients_served(&self) -> bool {
        let role = self.get();
        role.serving() && (role != Role::Leader || self.leader_serves)
    }

    /// `leaderServes` as configured.
    pub fn leader_serves(&self) -> bool {
        self.leader_serves
    }

    pub fn set(&self, role: Role) {
        let i = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
        self.role.store(
            u8::try_from(i).unwrap_or(0),
            std::sync::atomic::Ordering::Release,
        );
    }

    pub fn get(&self) -> Role {
        let i = self.role.load(std::sync::atomic::Ordering::Acquire);
        Role::ALL
            .get(usize::from(i))
            .copied()
            .unwrap_or(Role::Standalone)
    }
}

/// What a learner sends its leader.
#[derive(Debug, Clone, PartialEq)]
pub enum Forward {
    /// A request (`Learner.request`): the session, cxid, op code and the
    /// request bytes. createSession carries the timeout; closeSession
    /// nothing.
    Request {
        session: i64,
        cxid: i32,
        op: i32,
        body: Bytes,
        auth: Vec<jute::Id>,
    },
    /// Is this session (reconnecting here) valid (REVALIDATE)?
    Revalidate { session: i64, timeout: i32 },
}

/// A learner's client request waiting for the leader's txn.
#[derive(Debug, Clone)]
enum Waiter {
    Write {
        from: ConnRef,
        op: i32,
        reads_before: bool,
    },
    Connect {
        from: ConnRef,
        timeout: i32,
    },
    Close {
        from: ConnRef,
    },
    Revalidate {
        from: ConnRef,
        passwd: Bytes,
        timeout: i32,
    },
}

/// What a write from a session asks of the local sessions.
enum LocalWrite {
    /// A global session (or local sessions are off).
    Global,
    /// A local session's write that needs no global session.
    Local,
    /// A local session's ephemeral create, with upgrading on: the session
    /// becomes global (with this timeout) before the write.
    Upgrade(i32),
    /// Answered with EphemeralOnLocalSession.
    Refused,
}

/// A gathered four-letter word in flight.
struct Gathering {
    from: Asker,
    cmd: Cmd,
    os: OsFacts,
    views: Vec<ShardView>,
}

impl Sequencer {
    pub fn new(s: SeqSettings, tree: Tree, now: i64) -> Sequencer {
        let first = session::initial_session_id(s.server_id, now);
        let out = (0..s.shards).map(|_| Vec::new()).collect();
        Sequencer {
            quorum: None,
            reconfig: None,
            config_version: s
                .config_node
                .as_ref()
                .and_then(|t| reconfig::Membership::parse(&String::from_utf8_lossy(t)).ok())
                .map_or(0, |m| m.version),
            sessions: SessionTracker::new(s.tick_ms, first),
            local: SessionTracker::new(s.tick_ms, first),
            next_container_check: now + s.container_check_interval_ms,
            s,
            tree,
            owners: HashMap::default(),
            per_ip: HashMap::default(),
            cnxns: 0,
            refused: HashSet::default(),
            refuse_warn: crate::ops::WarnLimit::default(),
            out,
            last_reply: HashMap::default(),
            logged: Vec::new(),
            dirty: false,
            gathers: HashMap::default(),
            next_ticket: 1,
            trace_mask: fourlw::DEFAULT_TRACE_MASK,
            started: now,
            role: Role::Standalone,
            epoch_start: 0,
            forwards: Vec::new(),
            waiting: HashMap::default(),
            syncs: Default::default(),
            touched: Vec::new(),
            fenced: HashSet::default(),
            auths: HashMap::default(),
        }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Tracks sessions recovered from disk; they expire after their timeout
    /// unless their clients come back.
    pub fn restore_sessions(&mut self, sessions: &[(i64, i32)], now: i64) {
        for &(id, timeout) in sessions {
            self.sessions.add(id, timeout, now);
        }
    }

    /// Live sessions and their timeouts (for snapshots).
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.all()
    }

    /// Txns applied since the last call, in zxid order: what the log core
    /// must make durable before their replies go out.
    pub fn take_logged(&mut self) -> Vec<(Txn, TxnDigest)> {
        std::mem::take(&mut self.logged)
    }

    /// Goes back to the last durable version after the log failed: what was
    /// applied after it is forgotten (its replies were never sent).
    pub fn reset_to(&mut self, durable: Tree) {
        self.tree = durable;
        self.drop_queued();
    }

    /// Forgets what was queued for the log and the shards (the tree stays):
    /// a failed log write when the tree holds only durable txns.
    pub fn drop_queued(&mut self) {
        self.logged.clear();
        self.last_reply.clear();
        for q in &mut self.out {
            q.clear();
        }
    }

    /// After a failed log write: `conns` are being closed, and whatever
    /// they sent that is still on its way here is dropped (see `fenced`).
    pub fn fence(&mut self, conns: impl IntoIterator<Item = ConnRef>) {
        self.fenced.extend(conns);
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn next_zxid(&self) -> i64 {
        (self.tree.last_zxid + 1).max(self.epoch_start)
    }

    /// Applies a txn, queues its events to every shard, and queues it for
    /// the log with the tree's digest after it.
    fn apply(&mut self, txn: Txn) -> crate::data::tree::ApplyResult {
        // The zxids handed out only increase: a repeated or older one would
        // stand for two different txns in the logs of the ensemble.
        assert!(
            txn.hdr.zxid > self.tree.last_zxid,
            "zxid 0x{:x} handed out at or below the tree's 0x{:x}",
            txn.hdr.zxid,
            self.tree.last_zxid
        );
        let r = self.apply_only(&txn);
        let digest = TxnDigest {
            version: crate::data::digest::DIGEST_VERSION,
            tree_digest: self.tree.digest(),
        };
        self.logged.push((txn, digest));
        r
    }

    fn reply(&mut self, to: ConnRef, xid: i32, zxid: i64, err: i32, body: Option<&[u8]>) {
        let mut f = BytesMut::new();
        request::frame(&mut f, xid, zxid, err, body);
        self.push_reply(to, f.freeze());
    }

    fn push_reply(&mut self, to: ConnRef, frame: Bytes) {
        if let Some(q) = self.out.get_mut(to.shard) {
            self.last_reply.insert(to, q.len());
            q.push(Item::Reply {
                conn: to.conn,
                frame,
                version: None,
            });
        }
    }

    /// Before a connection's next request changes the tree: pins its
    /// previous reply of this batch (if any) to the tree as it is now.
    fn seal_previous_reply(&mut self, from: ConnRef) {
        let Some(&idx) = self.last_reply.get(&from) else {
            return;
        };
        let now = &self.tree;
        if let Some(Item::Reply { version, .. }) =
            self.out.get_mut(from.shard).and_then(|q| q.get_mut(idx))
        {
            if version.is_none() {
                *version = Some(std::sync::Arc::new(now.clone()));
            }
        }
    }

    fn close_conn(&mut self, to: ConnRef) {
        if let Some(q) = self.out.get_mut(to.shard) {
            q.push(Item::Close { conn: to.conn });
        }
    }

    /// A new connection from `ip`: counted, or, past `maxClientCnxns`,
    /// closed at once (ZooKeeper's `NIOServerCnxnFactory.doAccept`).
    fn accept(&mut self, from: ConnRef, ip: IpAddr, now: i64) {
        let total = self.s.max_cnxns;
        if total != 0 && self.cnxns >= total {
            if let Some(suppressed) = self.refuse_warn.allow(now, 1000) {
                tracing::warn!(
                    %ip,
                    max = total,
                    suppressed,
                    "Error accepting new connection: Too many connections max allowed is {total}"
                );
            }
            self.refused.insert(from);
            self.close_conn(from);
            return;
        }
        let count = self.per_ip.entry(ip).or_insert(0);
        let max = self.s.max_client_cnxns;
        if max != 0 && *count >= max {
            if let Some(suppressed) = self.refuse_warn.allow(now, 1000) {
                tracing::warn!(
                    %ip,
                    max,
                    suppressed,
                    "Error accepting new connection: Too many connections from {ip} - max is {max}"
                );
            }
            self.refused.insert(from);
            self.close_conn(from);
            return;
        }
        *count += 1;
        self.cnxns += 1;
        if let Some(q) = self.out.get_mut(from.shard) {
            q.push(Item::Admitted { conn: from.conn });
        }
    }

    fn clamp_timeout(&self, t: i32) -> i32 {
        t.max(self.s.min_session_timeout)
            .min(self.s.max_session_timeout)
    }

    /// Handles one message from a shard.
    pub fn handle(&mut self, mut msg: ToSeq, now: i64) {
        if let ToSeq::Write {
            from,
            auth: auth @ Some(_),
            ..
        } = &mut msg
        {
            self.auths.insert(*from, auth.take().unwrap_or_default());
        }
        match &msg {
            // Counted in every role, as ZooKeeper counts at accept.
            ToSeq::Accept { from, ip } => {
                self.accept(*from, *ip, now);
                return;
            }
            ToSeq::Write { from, .. } | ToSeq::Sync { from, .. } | ToSeq::Close { from, .. }
                if self.fenced.contains(from) =>
            {
                return;
            }
            ToSeq::Connect { from, .. }
            | ToSeq::Write { from, .. }
            | ToSeq::Sync { from, .. }
            | ToSeq::Close { from, .. }
            | ToSeq::Gather {
                from: Asker::Conn(from),
                ..
            } if self.refused.contains(from) => {
                return;
            }
            ToSeq::Gone { from, ip, .. } => {
                self.fenced.remove(from);
                self.auths.remove(from);
                if !self.refused.remove(from) {
                    self.cnxns = self.cnxns.saturating_sub(1);
                    if let Some(n) = self.per_ip.get_mut(ip) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            self.per_ip.remove(ip);
                        }
                    }
                }
            }
            _ => {}
        }
        let msg = match self.role {
            Role::Leader if !self.s.role.leader_serves() => match self.refuse(msg) {
                Some(m) => m,
                None => return,
            },
            Role::Standalone | Role::Leader => msg,
            Role::ReadOnly => match self.read_only(msg, now) {
                Some(m) => m,
                None => return,
            },
            Role::NotServing => match self.refuse(msg) {
                Some(m) => m,
                None => return,
            },
            Role::Learner | Role::Observer => match self.forward(msg, now) {
                Some(m) => m,
                None => return,
            },
        };
        match msg {
            ToSeq::Connect {
                from,
                session,
                passwd,
                timeout,
                ..
            } => self.connect(from, session, passwd, timeout, now),
            ToSeq::Write {
                from,
                session,
                xid,
                op: w,
                reads_before,
                ..
            } => {
                match self.local_write(from, session, xid, &w, now) {
                    LocalWrite::Refused => return,
                    LocalWrite::Upgrade(timeout) => {
                        self.sessions.add(session, timeout, now);
                        let txn = prep::create_session(session, timeout, self.next_zxid(), now);
                        self.apply(txn);
                    }
                    LocalWrite::Local | LocalWrite::Global => {}
                }
                if !self.sessions.is_live(session) && !self.local.is_live(session) {
                    self.reply(
                        from,
                        xid,
                        self.tree.last_zxid,
                        Code::SessionExpired.as_i32(),
                        None,
                    );
                    return;
                }
                self.sessions.touch_current(session, now);
                if reads_before {
                    self.seal_previous_reply(from);
                }
                let auth = self.auths.get(&from).map_or(&[][..], Vec::as_slice);
                let txn = self.prep(session, auth, xid, &w, now);
                let zxid = txn.hdr.zxid;
                let r = self.apply(txn);
                let (err, body) = request::write_reply(w.op(), &r);
                if w.op() == jute::op::CHECK && err == 0 {
                    // ZooKeeper sends nothing for a successful check outside
                    // a multi; the empty frame only releases the pipeline.
                    self.push_reply(from, Bytes::new());
                    return;
                }
                self.reply(from, xid, zxid, err, body.as_deref());
            }
            ToSeq::Sync { from, xid, path } => {
                let body = jute::PathResponse { path }.encode();
                self.reply(from, xid, self.tree.last_zxid, 0, Some(&body));
            }
            ToSeq::Close { from, session, xid } => {
                if self.close_local(from, session, xid) {
                    return;
                }
                self.seal_previous_reply(from);
                // The asking connection is closed after its reply, not
                // before it as another owner would be.
                if self.owners.get(&session) == Some(&from) {
                    self.owners.remove(&session);
                }
                if self.sessions.is_live(session) {
                    self.close_session(session, xid, now);
                }
                self.reply(from, xid, self.tree.last_zxid, 0, None);
                self.close_conn(from);
            }
            ToSeq::Touch(ids) => {
                for id in self.touch_local(ids, now) {
                    self.sessions.touch_current(id, now);
                }
            }
            ToSeq::Gather { from, cmd, os } => self.gather(from, cmd, os, now),
            ToSeq::Gathered { ticket, view } => self.gathered(ticket, *view, now),
            ToSeq::Gone { from, session, .. } => {
                if self.owners.get(&session) == Some(&from) {
                    self.owners.remove(&session);
                }
            }
            ToSeq::Accept { .. } => {}
            // Counted by the driver (shutdown); nothing to sequence.
            ToSeq::Drained { .. } => {}
            // Summed by the Replica (the throttles).
            ToSeq::Load { .. } => {}
            // The Replica answers these (`Replica::input`).
            ToSeq::Freeze(_) | ToSeq::Restore { .. } => {}
        }
    }

    /// A four-letter word: answer it from the sequencer's state, or first
    /// ask every shard for its view.
    fn gather(&mut self, from: Asker, cmd: Cmd, os: OsFacts, now: i64) {
        // Not serving: a gated word answers ZK_NOT_SERVING at once, and
        // no shard resets its counters for `crst`/`srst`.
        // (The AdminServer gates its commands itself: its `monitor` answers
        // in full, with the state `looking`.)
        let gated =
            matches!(from, Asker::Conn(_)) && cmd.needs_serving() && !self.s.role.clients_served();
        if cmd.scope() != Scope::Shards || gated {
            if let Cmd::Stmk(mask) = cmd {
                self.trace_mask = mask;
            }
            self.answer_four_lw(from, cmd, os, &[], now);
            return;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        for q in &mut self.out {
            q.push(Item::Gather { ticket, cmd });
        }
        self.gathers.insert(
            ticket,
            Gathering {
                from,
                cmd,
                os,
                views: Vec::with_capacity(self.out.len()),
            },
        );
    }

    /// One shard's view; the answer goes out once every shard sent one.
    fn gathered(&mut self, ticket: u64, view: ShardView, now: i64) {
        let Some(g) = self.gathers.get_mut(&ticket) else {
            return;
        };
        g.views.push(view);
        if g.views.len() < self.out.len() {
            return;
        }
        if let Some(mut g) = self.gathers.remove(&ticket) {
            g.views.sort_by_key(|v| v.shard);
            self.answer_four_lw(g.from, g.cmd, g.os, &g.views, now);
        }
    }

    fn answer_four_lw(
        &mut self,
        from: Asker,
        cmd: Cmd,
        os: OsFacts,
        views: &[ShardView],
        now: i64,
    ) {
        let sets = if cmd == Cmd::Dump {
            self.sessions.expiry_sets()
        } else {
            Vec::new()
        };
        let facts = fourlw::Facts {
            tree: &self.tree,
            server_state: self.role.name(),
            global_sessions: self.sessions.len(),
            local_sessions: self.local.len(),
            session_sets: &sets,
            uptime_ms: now - self.started,
            trace_mask: self.trace_mask,
            quorum: self.quorum.filter(|_| self.role.serving()),
            os,
            views,
        };
        match from {
            Asker::Conn(from) => {
                // A leader with leaderServes=no is served, but not on
                // its client port.
                let text = if cmd.needs_serving() && !self.s.role.clients_served() {
                    fourlw::not_serving(cmd)
                } else {
                    fourlw::answer(cmd, &facts)
                };
                if let Some(q) = self.out.get_mut(from.shard) {
                    q.push(Item::FourLw {
                        conn: from.conn,
                        text,
                    });
                }
            }
            Asker::Reply(tx) => {
                if tx.try_send(Box::new(facts.to_owned())).is_err() {
                    tracing::debug!("a gathered answer found no one waiting");
                }
            }
        }
    }

    fn connect(&mut self, from: ConnRef, session: i64, passwd: Bytes, timeout: i32, now: i64) {
        let timeout = self.clamp_timeout(timeout);
        if self.connect_local(from, session, &passwd, timeout, now) {
            return;
        }
        let (ok, id) = if session == 0 {
            let id = self.sessions.next_session_id();
            self.sessions.add(id, timeout, now);
            let txn = prep::create_session(id, timeout, self.next_zxid(), now);
            self.apply(txn);
            (true, id)
        } else {
            // Any attempt to reattach closes the session's current
            // connection first, whatever the password (as ZooKeeper does).
            if let Some(old) = self.owners.remove(&session) {
                if old != from {
                    self.close_conn(old);
                }
            }
            let ok = passwd.as_ref() == session::password(session)
                && self.sessions.touch(session, timeout, now);
            (ok, session)
        };
        if ok {
            self.owners.insert(id, from);
        }
        self.connected(from, id, timeout, ok);
    }

    fn close_session(&mut self, session: i64, cxid: i32, now: i64) {
        self.sessions.set_closing(session);
        let txn = prep::close_session(&self.tree, session, cxid, self.next_zxid(), now);
        self.apply(txn);
        self.sessions.remove(session);
        if let Some(owner) = self.owners.remove(&session) {
            self.close_conn(owner);
        }
    }

    /// Whether new sessions here are local: `localSessionsEnabled` in an
    /// ensemble role.
    fn locals_on(&self) -> bool {
        self.s.local_sessions.is_some()
            && matches!(self.role, Role::Leader | Role::Learner | Role::Observer)
    }

    /// A handshake that makes or resumes a local session, answered here
    /// at once (no txn): true if it was one. A new session is local when
    /// local sessions are on; a returning one, when this server holds it
    /// as local (`LearnerZooKeeperServer.revalidateSession`).
    fn connect_local(
        &mut self,
        from: ConnRef,
        session: i64,
        passwd: &[u8],
        timeout: i32,
        now: i64,
    ) -> bool {
        if session == 0 {
            if !self.locals_on() {
                return false;
            }
            let id = self.sessions.next_session_id();
            self.local.add(id, timeout, now);
            self.owners.insert(id, from);
            self.connected(from, id, timeout, true);
            return true;
        }
        if !self.local.is_live(session) {
            return false;
        }
        if let Some(old) = self.owners.remove(&session) {
            if old != from {
                self.close_conn(old);
            }
        }
        let ok = passwd == session::password(session) && self.local.touch(session, timeout, now);
        if ok {
            self.owners.insert(session, from);
        }
        self.connected(from, session, timeout, ok);
        true
    }

    /// A write from `session`: whether it is a local session's, and what
    /// that takes (`ZooKeeperServer.checkUpgradeSession`): an ephemeral
    /// create (create or create2, alone or in a multi) needs a global
    /// session, made by upgrading or refused with EphemeralOnLocalSession.
    fn local_write(
        &mut self,
        from: ConnRef,
        session: i64,
        xid: i32,
        w: &WriteOp,
        now: i64,
    ) -> LocalWrite {
        let Some(timeout) = self.local.timeout_of(session) else {
            return LocalWrite::Global;
        };
        if !w.creates_ephemeral() {
            self.local.touch_current(session, now);
            return LocalWrite::Local;
        }
        if self.s.local_sessions != Some(true) {
            let z = self.tree.last_zxid;
            self.reply(from, xid, z, Code::EphemeralOnLocalSession.as_i32(), None);
            return LocalWrite::Refused;
        }
        tracing::debug!(
            session = format!("0x{session:x}"),
            "upgrading a local session for an ephemeral node"
        );
        self.local.remove(session);
        LocalWrite::Upgrade(timeout)
    }

    /// Closes a local session (no txn): true if `session` was one.
    fn close_local(&mut self, from: ConnRef, session: i64, xid: i32) -> bool {
        if !self.local.is_live(session) {
            return false;
        }
        self.seal_previous_reply(from);
        self.local.remove(session);
        self.owners.remove(&session);
        let z = self.tree.last_zxid;
        self.reply(from, xid, z, 0, None);
        self.close_conn(from);
        true
    }

    /// Touches each of `ids`: local ones here; the rest are returned.
    fn touch_local(&mut self, ids: Vec<i64>, now: i64) -> Vec<i64> {
        if self.local.is_empty() {
            return ids;
        }
        ids.into_iter()
            .filter(|&id| !self.local.touch_current(id, now))
            .collect()
    }

    /// Expires local sessions: their connections close, nothing is logged.
    fn expire_local(&mut self, now: i64) {
        for id in self.local.expired(now) {
            tracing::info!(session = format!("0x{id:x}"), "local session expired");
            self.local.remove(id);
            if let Some(owner) = self.owners.remove(&id) {
                self.close_conn(owner);
            }
        }
    }

    /// Expires sessions and runs the container manager when due.
    pub fn tick(&mut self, now: i64) {
        // Every server expires its own local sessions.
        self.expire_local(now);
        // Only a leader (or a server alone) expires sessions and deletes
        // containers; a learner hears of it through the leader's txns.
        if !matches!(self.role, Role::Standalone | Role::Leader) {
            return;
        }
        for id in self.sessions.expired(now) {
            tracing::info!(session = format!("0x{id:x}"), "session expired");
            self.close_session(id, 0, now);
        }
        if now >= self.next_container_check {
            self.next_container_check = now + self.s.container_check_interval_ms.max(1);
            self.check_containers(now);
        }
    }

    fn check_containers(&mut self, now: i64) {
        let mut candidates: Vec<String> = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                // As ZooKeeper's ContainerManager: an empty container
                // that had children goes; one that never had any (a
                // fresh one, kept from a check just after its create)
                // goes once older than maxNeverUsedIntervalMs, if set.
                let never_used_max = self.s.container_max_never_used_interval_ms;
                if n.num_children == 0
                    && (n.cversion > 0 || (never_used_max != 0 && now - n.mtime > never_used_max))
                {
                    candidates.push(p.to_string());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.get(p) {
                if let NodeKind::Ttl(ttl) = n.kind() {
                    if n.num_children == 0 && ttl != 0 && now - n.mtime > ttl {
                        candidates.push(p.to_string());
                    }
                }
            }
        }
        let limit = self.s.container_max_per_minute.max(1) as usize;
        for p in candidates.into_iter().take(limit) {
            if let Some(txn) = prep::delete_container(&self.tree, &p, self.next_zxid(), now) {
                self.apply(txn);
            }
        }
    }

    /// When `tick` next has work, in ms.
    pub fn next_deadline(&self) -> i64 {
        let local = self.local.next_expiry().unwrap_or(i64::MAX);
        if !matches!(self.role, Role::Standalone | Role::Leader) {
            return local;
        }
        let c = self.next_container_check;
        self.sessions
            .next_expiry()
            .map_or(c, |e| e.min(c))
            .min(local)
    }

    /// Takes the per-shard items produced since the last call, if anything
    /// changed.
    pub fn take(&mut self) -> Option<Vec<Vec<Item>>> {
        if !self.dirty && self.out.iter().all(|q| q.is_empty()) {
            return None;
        }
        self.dirty = false;
        self.last_reply.clear();
        let n = self.out.len();
        Some(std::mem::replace(
            &mut self.out,
            (0..n).map(|_| Vec::new()).collect(),
        ))
    }
}

/// The ensemble roles: what a leader does with its learners' requests,
/// and how a learner forwards its clients' and applies the leader's
/// commits. Logic only; the quorum driver carries the packets.
impl Sequencer {
    /// This server's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Takes a new role at `now`. A leader's first zxid is
    /// `make_zxid(epoch, 1)`. Leaving a role closes every client
    /// connection it had (their sessions live on; their clients
    /// reconnect, here or elsewhere). Taking the lead gives every session
    /// a full timeout from `now`, as ZooKeeper's new leader does (it
    /// builds its session tracker when it starts leading): however long
    /// the ensemble was without a leader, a client has its whole timeout
    /// to find the new one.
    pub fn set_role(&mut self, role: Role, epoch: i64, now: i64) {
        if role != self.role {
            tracing::info!(from = ?self.role, to = ?role, epoch, "role");
        }
        if role == Role::Leader && self.role != Role::Leader {
            self.sessions.restart_expiry(now);
            // No session is due the moment the lead is taken.
            assert!(
                self.sessions.next_expiry().is_none_or(|t| t > now),
                "a session expires as the lead is taken"
            );
        }
        self.epoch_start = if role == Role::Leader {
            crate::quorum::make_zxid(epoch, 1)
        } else {
            0
        };
        if role != self.role {
            // ZooKeeper's next server starts with no local session.
            for (id, _) in self.local.all() {
                self.local.remove(id);
            }
        }
        if role != self.role && self.role != Role::Standalone {
            let owners: Vec<ConnRef> = self.owners.drain().map(|(_, c)| c).collect();
            for c in owners {
                self.close_conn(c);
            }
            let waiting: Vec<Waiter> = self.waiting.drain().map(|(_, w)| w).collect();
            for w in waiting {
                let (Waiter::Write { from, .. }
                | Waiter::Connect { from, .. }
                | Waiter::Close { from }
                | Waiter::Revalidate { from, .. }) = w;
                self.close_conn(from);
            }
            for (from, _, _) in std::mem::take(&mut self.syncs) {
                self.close_conn(from);
            }
            self.forwards.clear();
            self.touched.clear();
        }
        self.role = role;
        self.s.role.set(role);
    }

    /// `initConfigInZKDatabase` after a reconfig: `/zookeeper/config`
    /// holds the active config, now and in every tree installed later.
    pub fn set_config_node(&mut self, text: &[u8], version: i64, now: i64) {
        self.keep_config_node(text, version);
        self.tree.set_config_node(text, version, now);
        self.dirty = true;
    }

    /// The tree already holds the active config (a committed reconfig
    /// txn put it there): trees installed later get it too.
    pub fn keep_config_node(&mut self, text: &[u8], version: i64) {
        self.s.config_node = Some(Bytes::copy_from_slice(text));
        self.config_version = version;
    }

    /// Replaces the tree (a learner's SNAP, or a reload after TRUNC). Its
    /// `/zookeeper/config` gets the active config, unless (with
    /// `reconfigEnabled`) it holds a newer one: a reconfig its history
    /// logged and no commit activated yet, which the election and the
    /// next leader still count as the last seen config.
    pub fn install_tree(&mut self, mut tree: Tree, sessions: &[(i64, i32)], now: i64) {
        let logged = tree
            .get(crate::data::tree::CONFIG)
            .and_then(|n| n.data())
            .and_then(|d| reconfig::Membership::parse(&String::from_utf8_lossy(d)).ok())
            .map(|m| m.version);
        let newer_logged =
            self.s.reconfig_enabled && logged.is_some_and(|v| v > self.config_version);
        if let Some(text) = self.s.config_node.as_ref().filter(|_| !newer_logged) {
            tree.set_config_node(text, self.config_version, now);
        }
        self.reset_to(tree);
        self.sessions = SessionTracker::new(
            self.s.tick_ms,
            session::initial_session_id(self.s.server_id, now),
        );
        self.restore_sessions(sessions, now);
        self.dirty = true;
    }

    /// Read-only: sessions are local and only for clients that allow a
    /// read-only server; what would write gets NotReadOnly (ZooKeeper's
    /// `ReadOnlyRequestProcessor`). Reads never come here.
    fn read_only(&mut self, msg: ToSeq, now: i64) -> Option<ToSeq> {
        match msg {
            ToSeq::Connect {
                from,
                session,
                passwd,
                timeout,
                read_only,
                ..
            } => {
                if !read_only {
                    // "Refusing session request for not-read-only client".
                    self.close_conn(from);
                    return None;
                }
                let timeout = self.clamp_timeout(timeout);
                let (ok, id) = if session == 0 {
                    let id = self.sessions.next_session_id();
                    self.sessions.add(id, timeout, now);
                    (true, id)
                } else {
                    let ok = passwd.as_ref() == session::password(session);
                    if ok {
                        self.sessions.add(session, timeout, now);
                    }
                    (ok, session)
                };
                if ok {
                    if let Some(old) = self.owners.insert(id, from) {
                        if old != from {
                            self.close_conn(old);
                        }
                    }
                }
                self.connected(from, id, timeout, ok);
                None
            }
            ToSeq::Write { from, xid, .. } | ToSeq::Sync { from, xid, .. } => {
                let z = self.tree.last_zxid;
                self.reply(from, xid, z, Code::NotReadOnly.as_i32(), None);
                None
            }
            ToSeq::Close { from, session, xid } => {
                self.sessions.remove(session);
                self.owners.remove(&session);
                let z = self.tree.last_zxid;
                self.reply(from, xid, z, 0, None);
                self.close_conn(from);
                None
            }
            ToSeq::Touch(_) => None,
            other => Some(other),
        }
    }

    /// Not serving: a handshake or request gets its connection closed.
    fn refuse(&mut self, msg: ToSeq) -> Option<ToSeq> {
        match msg {
            ToSeq::Connect { from, .. }
            | ToSeq::Write { from, .. }
            | ToSeq::Sync { from, .. }
            | ToSeq::Close { from, .. } => {
                self.close_conn(from);
                None
            }
            ToSeq::Touch(_) => None,
            other => Some(other),
        }
    }

    /// A learner's client traffic: writes, session changes and syncs go to
    /// the leader; the rest is handled here as usual.
    fn forward(&mut self, msg: ToSeq, now: i64) -> Option<ToSeq> {
        match msg {
            ToSeq::Connect {
                from,
                session,
                passwd,
                timeout,
                ..
            } => {
                let timeout = self.clamp_timeout(timeout);
                if self.connect_local(from, session, &passwd, timeout, now) {
                    return None;
                }
                if session == 0 {
                    let id = self.sessions.next_session_id();
                    self.waiting
                        .insert((id, 0), Waiter::Connect { from, timeout });
                    self.forwards.push(Forward::Request {
                        session: id,
                        cxid: 0,
                        op: jute::op::CREATE_SESSION,
                        body: Bytes::copy_from_slice(&timeout.to_be_bytes()),
                        auth: Vec::new(),
                    });
                } else {
                    if let Some(old) = self.owners.remove(&session) {
                        if old != from {
                            self.close_conn(old);
                        }
                    }
                    self.waiting.insert(
                        (session, i32::MIN),
                        Waiter::Revalidate {
                            from,
                            passwd,
                            timeout,
                        },
                    );
                    self.forwards.push(Forward::Revalidate { session, timeout });
                }
                None
            }
            ToSeq::Write {
                from,
                session,
                xid,
                op,
                body,
                reads_before,
                ..
            } => {
                match self.local_write(from, session, xid, &op, now) {
                    LocalWrite::Refused => return None,
                    // The leader takes another server's local session's
                    // writes (`LeaderSessionTracker.checkSession`).
                    LocalWrite::Local => {}
                    LocalWrite::Upgrade(timeout) => {
                        // `makeUpgradeRequest`: createSession for the same
                        // id goes first; its commit makes it global here.
                        self.forwards.push(Forward::Request {
                            session,
                            cxid: 0,
                            op: jute::op::CREATE_SESSION,
                            body: Bytes::copy_from_slice(&timeout.to_be_bytes()),
                            auth: Vec::new(),
                        });
                        self.touched.push(session);
                    }
                    LocalWrite::Global => self.touched.push(session),
                }
                let auth = self.auths.get(&from).cloned().unwrap_or_default();
                self.waiting.insert(
                    (session, xid),
                    Waiter::Write {
                        from,
                        op: op.op(),
                        reads_before,
                    },
                );
                self.forwards.push(Forward::Request {
                    session,
                    cxid: xid,
                    op: op.op(),
                    body,
                    auth,
                });
                None
            }
            ToSeq::Close { from, session, xid } => {
                if self.close_local(from, session, xid) {
                    return None;
                }
                self.waiting.insert((session, xid), Waiter::Close { from });
                self.forwards.push(Forward::Request {
                    session,
                    cxid: xid,
                    op: jute::op::CLOSE_SESSION,
                    body: Bytes::new(),
                    auth: Vec::new(),
                });
                None
            }
            ToSeq::Sync { from, xid, path } => {
                let body = jute::PathResponse { path: path.clone() }.encode();
                self.syncs.push_back((from, xid, path));
                self.forwards.push(Forward::Request {
                    session: 0,
                    cxid: xid,
                    op: jute::op::SYNC,
                    body: body.freeze(),
                    auth: Vec::new(),
                });
                None
            }
            ToSeq::Touch(ids) => {
                let global = self.touch_local(ids, now);
                self.touched.extend(global);
                None
            }
            other => Some(other),
        }
    }

    /// Learner: what to send the leader since the last call.
    pub fn take_forwards(&mut self) -> Vec<Forward> {
        std::mem::take(&mut self.forwards)
    }

    /// Follower: a session that an observer syncing from this server
    /// touched (its ping to the observer master): the next ping reports
    /// it to the leader.
    pub fn touch_from_observer(&mut self, session: i64) {
        self.touched.push(session);
    }

    /// Learner: the sessions to report in the next ping, with timeouts.
    pub fn take_touched(&mut self) -> Vec<(i64, i32)> {
        let mut ids = std::mem::take(&mut self.touched);
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|id| (id, self.sessions.timeout_of(id).unwrap_or(0)))
            .collect()
    }

    /// Learner: a txn the leader committed: apply it, and answer the
    /// client of this server that asked for it.
    pub fn apply_committed(&mut self, txn: &Txn, now: i64) {
        let id = txn.hdr.client_id;
        let key = (id, txn.hdr.cxid);
        let waiter = match &txn.body {
            TxnBody::CreateSession(_) => self.waiting.remove(&(id, 0)),
            _ => self.waiting.remove(&key),
        };
        if let Some(
            Waiter::Write {
                from,
                reads_before: true,
                ..
            }
            | Waiter::Close { from },
        ) = &waiter
        {
            self.seal_previous_reply(*from);
        }
        let r = self.apply_only(txn);
        let zxid = txn.hdr.zxid;
        match (&txn.body, waiter) {
            (TxnBody::CreateSession(c), w) => {
                self.sessions.add(id, c.time_out, now);
                if let Some(Waiter::Connect { from, timeout }) = w {
                    self.owners.insert(id, from);
                    self.connected(from, id, timeout, true);
                }
            }
            (TxnBody::CloseSession(_), w) => {
                self.sessions.remove(id);
                if let Some(Waiter::Close { from }) = w {
                    self.reply(from, key.1, zxid, 0, None);
                    self.close_conn(from);
                }
                // Expired by the leader, or closed elsewhere.
                if let Some(owner) = self.owners.remove(&id) {
                    self.close_conn(owner);
                }
            }
            (_, Some(Waiter::Write { from, op, .. })) => {
                let mut r = r;
                if op == jute::op::RECONFIG {
                    // A learner answers with its active config, which it
                    // read back from the txn's text (`configFromString`):
                    // the servers in id order, not in the leader's.
                    r.data = r
                        .data
                        .as_deref()
                        .and_then(|d| reconfig::Membership::parse(&String::from_utf8_lossy(d)).ok())
                        .map(|m| Bytes::from(m.text()));
                }
                let (err, body) = request::write_reply(op, &r);
                if op == jute::op::CHECK && err == 0 {
                    self.push_reply(from, Bytes::new());
                } else {
                    self.reply(from, key.1, zxid, err, body.as_deref());
                }
            }
            (_, _) => {}
        }
    }

    /// Learner: the leader's SYNC came back: the oldest `sync` answers.
    pub fn sync_done(&mut self) {
        if let Some((from, xid, path)) = self.syncs.pop_front() {
            let body = jute::PathResponse { path }.encode();
            self.reply(from, xid, self.tree.last_zxid, 0, Some(&body));
        }
    }

    /// Learner: the leader's answer to a reconnecting session.
    pub fn revalidated(&mut self, session: i64, valid: bool, now: i64) {
        let Some(Waiter::Revalidate {
            from,
            passwd,
            timeout,
        }) = self.waiting.remove(&(session, i32::MIN))
        else {
            return;
        };
        let ok = valid && passwd.as_ref() == session::password(session);
        if ok {
            self.sessions.add(session, timeout, now);
            self.owners.insert(session, from);
        }
        self.connected(from, session, timeout, ok);
    }

    fn connected(&mut self, from: ConnRef, id: i64, timeout: i32, ok: bool) {
        if let Some(q) = self.out.get_mut(from.shard) {
            q.push(Item::Connected {
                conn: from.conn,
                session: if ok { id } else { 0 },
                timeout: if ok { timeout } else { 0 },
                passwd: if ok { session::password(id) } else { [0; 16] },
                ok,
                read_only: self.role == Role::ReadOnly,
            });
        }
        self.dirty = true;
    }

    /// Leader: a request a learner forwarded (`sync` aside, which the
    /// quorum driver answers). Its txn is applied and logged like a local
    /// one; the learner answers the client when it commits.
    pub fn handle_forwarded(
        &mut self,
        session: i64,
        cxid: i32,
        op: i32,
        body: &[u8],
        auth: Vec<jute::Id>,
        now: i64,
    ) {
        match op {
            jute::op::CREATE_SESSION => {
                let Some(t) = body.get(..4) else {
                    tracing::warn!(
                        session = format!("0x{session:x}"),
                        "a forwarded createSession without its timeout"
                    );
                    return;
                };
                let timeout = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
                self.sessions.add(session, timeout, now);
                let txn = prep::create_session(session, timeout, self.next_zxid(), now);
                self.apply(txn);
            }
            jute::op::CLOSE_SESSION => {
                self.sessions.set_closing(session);
                let txn = prep::close_session(&self.tree, session, cxid, self.next_zxid(), now);
                self.apply(txn);
                self.sessions.remove(session);
                if let Some(owner) = self.owners.remove(&session) {
                    self.close_conn(owner);
                }
            }
            _ => {
                let w = match request::decode(op, body) {
                    Ok(request::Request::Write(w)) => w,
                    _ => {
                        tracing::warn!(op, "a forwarded request that is not a write; dropped");
                        return;
                    }
                };
                // Another server's local session is not known here, and
                // is taken on trust (`LeaderSessionTracker.checkSession`);
                // one of this server's ids is not.
                let foreign_local =
                    self.s.local_sessions.is_some() && session >> 56 != self.s.server_id;
                let txn = if self.sessions.is_live(session) {
                    self.sessions.touch_current(session, now);
                    self.prep(session, &auth, cxid, &w, now)
                } else if foreign_local && !w.creates_ephemeral() {
                    self.prep(session, &auth, cxid, &w, now)
                } else {
                    // An ephemeral needs a global session
                    // (`checkGlobalSession`): a ZooKeeper learner forwards
                    // a local session's ephemeral create that it refused,
                    // and answers its client with EphemeralOnLocalSession.
                    prep::error_txn(session, cxid, self.next_zxid(), now, Code::SessionExpired)
                };
                self.apply(txn);
            }
        }
    }

    /// Preps a client's write into the txn with the next zxid.
    fn prep(&self, session: i64, auth: &[jute::Id], xid: i32, w: &WriteOp, now: i64) -> Txn {
        let zxid = self.next_zxid();
        let reconfig = match w {
            WriteOp::Reconfig(req) => self.next_config(req, zxid),
            _ => Err(Code::ReconfigDisabled),
        };
        let ctx = PrepCtx {
            policy: &self.s.policy,
            extended_types: self.s.extended_types,
            enforce_quota: self.s.enforce_quota,
            session,
            auth,
            reconfig: reconfig.as_deref().map_err(|c| *c),
        };
        prep::prep(&ctx, &self.tree, xid, zxid, now, w)
    }

    /// A reconfig's new config text: off with `reconfigEnabled=false`
    /// (ReconfigDisabled), only on a leader (Unimplemented elsewhere, as a
    /// standalone ZooKeeper answers), then the membership rules.
    fn next_config(&self, req: &jute::ReconfigRequest, zxid: i64) -> Result<String, Code> {
        if !self.s.reconfig_enabled {
            return Err(Code::ReconfigDisabled);
        }
        let Some(view) = self.reconfig.as_ref().filter(|_| self.role == Role::Leader) else {
            return Err(Code::Unimplemented);
        };
        reconfig::next_membership(req, view, zxid).map(|m| m.text())
    }

    /// Leader: what a reconfig is checked against (the replica keeps it
    /// current: configs, synced followers); `None` when not leading.
    pub fn set_reconfig_view(&mut self, view: Option<ReconfigView>) {
        self.reconfig = view;
    }

    /// Leader: a learner's ping touched these sessions.
    pub fn touch_sessions(&mut self, ids: impl IntoIterator<Item = i64>, now: i64) {
        for id in ids {
            self.sessions.touch_current(id, now);
        }
    }

    /// Leader: whether a session reconnecting at a learner is valid (and
    /// touch it if so).
    pub fn revalidate(&mut self, session: i64, timeout: i32, now: i64) -> bool {
        self.sessions.is_live(session) && self.sessions.touch(session, timeout, now)
    }

    /// Applies a txn and queues its events to every shard (a learner's
    /// commits: it logged them as proposals).
    fn apply_only(&mut self, txn: &Txn) -> crate::data::tree::ApplyResult {
        let mut events = Vec::new();
        let r = self.tree.apply(txn, &mut events);
        for ev in events {
            for q in &mut self.out {
                q.push(Item::Event(ev.clone()));
            }
        }
        self.dirty = true;
        r
    }
}

/// Encodes the handshake answer (no reply header, as ZooKeeper sends it).
pub fn connect_frame(timeout: i32, session: i64, passwd: &[u8], read_only: Option<bool>) -> Bytes {
    let body = jute::ConnectResponse {
        protocol_version: 0,
        time_out: timeout,
        session_id: session,
        passwd: Bytes::copy_from_slice(passwd),
    }
    .encode();
    let mut f = BytesMut::new();
    let len = body.len() + read_only.map_or(0, |_| 1);
    jute::JuteWrite::int(&mut f, len as i32);
    f.extend_from_slice(&body);
    if let Some(ro) = read_only {
        jute::JuteWrite::boolean(&mut f, ro);
    }
    f.freeze()
}

#[cfg(test)]
mod four_lw_tests {
    use super::*;

    fn seq(shards: usize) -> Sequencer {
        seq_with(shards, 0, None)
    }

    /// A sequencer with this server id and `local_sessions` setting.
    fn seq_with(shards: usize, server_id: i64, local_sessions: Option<bool>) -> Sequencer {
        let s = SeqSettings {
            shards,
            tick_ms: 2000,
            min_session_timeout: 4000,
            max_session_timeout: 40000,
            max_client_cnxns: 0,
            max_cnxns: 0,
            policy: AclPolicy::default(),
            extended_types: false,
            enforce_quota: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_interval_ms: 0,
            server_id,
            role: RoleCell::default(),
            config_node: None,
            reconfig_enabled: false,
            local_sessions,
        };
        Sequencer::new(s, Tree::new(), 1_000)
    }

    /// Containers at `/used` (had a child: cversion 1), `/old` (never
    /// used, mtime 1000) and `/young` (never used, mtime 8000), with
    /// `znode.container.maxNeverUsedIntervalMs` = `never_used`; the
    /// container check runs at 10000. What is left.
    fn containers_left(never_used: i64) -> Vec<String> {
        use crate::data::tree::{open_acl, shared_acl, Node, NodeHead, CONTAINER_OWNER};
        let acl = shared_acl(&open_acl());
        let node = |path: &str, cversion: i32, mtime: i64| {
            let mut h = NodeHead::new(acl.clone());
            h.ephemeral_owner = CONTAINER_OWNER;
            h.cversion = cversion;
            h.mtime = mtime;
            Node::new(path, h, Some(&[]))
        };
        let nodes = vec![
            Node::new("/", NodeHead::new(acl.clone()), Some(&[])),
            node("/used", 1, 1000),
            node("/old", 0, 1000),
            node("/young", 0, 8000),
        ];
        let mut s = seq(1).s;
        s.container_check_interval_ms = 1000;
        s.container_max_never_used_interval_ms = never_used;
        let mut q = Sequencer::new(s, Tree::from_nodes(nodes, 0).unwrap(), 1000);
        q.tick(10_000);
        let mut left: Vec<String> = q.tree().containers().map(|p| p.to_string()).collect();
        left.sort();
        left
    }

    #[test]
    fn never_used_containers_go_after_max_never_used_interval() {
        assert_eq!(
            containers_left(0),
            ["/old", "/young"],
            "0: a container that never had a child stays"
        );
        assert_eq!(
            containers_left(5000),
            ["/young"],
            "9000 ms old goes, 2000 ms old stays"
        );
    }

    /// Carries a learner's forwards to the leader, and the leader's txns
    /// back as commits; returns the txns.
    fn relay(learner: &mut Sequencer, leader: &mut Sequencer, now: i64) -> Vec<Txn> {
        for f in learner.take_forwards() {
            match f {
                Forward::Request {
                    session,
                    cxid,
                    op,
                    body,
                    auth,
                } => leader.handle_forwarded(session, cxid, op, &body, auth, now),
                Forward::Revalidate { session, timeout } => {
                    let ok = leader.revalidate(session, timeout, now);
                    learner.revalidated(session, ok, now);
                }
            }
        }
        let txns: Vec<Txn> = leader.take_logged().into_iter().map(|(t, _)| t).collect();
        for t in &txns {
            learner.apply_committed(t, now);
        }
        txns
    }

    #[test]
    fn a_learner_forwards_and_answers_from_the_leaders_commits() {
        let mut leader = seq(1);
        leader.set_role(Role::Leader, 3, 1_000);
        let mut learner = seq(1);
        learner.set_role(Role::Learner, 3, 1_000);
        let c = ConnRef { shard: 0, conn: 7 };
        learner.handle(connect(c, false), 2_000);
        assert!(
            learner.take().is_none(),
            "no answer before the leader commits"
        );
        let txns = relay(&mut learner, &mut leader, 2_000);
        assert_eq!(txns.len(), 1);
        assert_eq!(
            txns[0].hdr.zxid,
            crate::quorum::make_zxid(3, 1),
            "the epoch's first zxid"
        );
        let items = learner.take().unwrap();
        let session = match &items[0][..] {
            [Item::Connected {
                conn: 7,
                session,
                timeout: 10_000,
                ok: true,
                ..
            }] => *session,
            other => panic!("{other:?}"),
        };
        assert_eq!(txns[0].hdr.client_id, session);
        // A write, and one that fails: both answered with the leader's verdict.
        let mk = |xid: i32, path: &str| {
            let req = jute::SetDataRequest {
                path: path.into(),
                data: Some(Bytes::from_static(b"v")),
                version: -1,
            };
            ToSeq::Write {
                from: c,
                session,
                xid,
                body: req.encode().freeze(),
                op: prep::WriteOp::SetData(req),
                auth: Some(Vec::new()),
                reads_before: true,
            }
        };
        learner.handle(mk(1, "/"), 2_100);
        learner.handle(mk(2, "/missing"), 2_100);
        let txns = relay(&mut learner, &mut leader, 2_100);
        assert_eq!(txns.len(), 2);
        let items = learner.take().unwrap();
        let replies: Vec<(i32, i64, i32)> = items[0]
            .iter()
            .filter_map(|i| match i {
                Item::Reply { frame, .. } => {
                    let mut r = jute::Reader::new(&frame[4..]);
                    let h = jute::ReplyHeader::read(&mut r).unwrap();
                    Some((h.xid, h.zxid, h.err))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            replies,
            vec![
                (1, txns[0].hdr.zxid, 0),
                (2, txns[1].hdr.zxid, Code::NoNode.as_i32())
            ]
        );
        assert_eq!(learner.tree().get("/").unwrap().data(), Some(&b"v"[..]));
        assert_eq!(learner.tree().digest(), leader.tree().digest());
        // A reconnect elsewhere is checked with the leader.
        let d = ConnRef { shard: 0, conn: 8 };
        learner.handle(
            ToSeq::Connect {
                from: d,
                session,
                passwd: Bytes::copy_from_slice(&session::password(session)),
                timeout: 10_000,
                read_only: false,
            },
            2_200,
        );
        relay(&mut learner, &mut leader, 2_200);
        let items = learner.take().unwrap();
        assert!(
            items[0]
                .iter()
                .any(|i| matches!(i, Item::Close { conn: 7 })),
            "the old connection closes"
        );
        assert!(items[0].iter().any(|i| matches!(
            i,
            Item::Connected {
                conn: 8,
                ok: true,
                ..
            }
        )));
        // Not serving: a new handshake is refused.
        learner.set_role(Role::NotServing, 0, 2_300);
        let _ = learner.take();
        learner.handle(
            ToSeq::Connect {
                from: ConnRef { shard: 0, conn: 9 },
                session: 0,
                passwd: Bytes::new(),
                timeout: 10_000,
                read_only: false,
            },
            2_300,
        );
        let items = learner.take().unwrap();
        assert!(items[0]
            .iter()
            .any(|i| matches!(i, Item::Close { conn: 9 })));
    }

    /// A create of `path` (flags 1: ephemeral) by `session` on `from`.
    fn create(from: ConnRef, session: i64, xid: i32, path: &str, flags: i32) -> ToSeq {
        let req = jute::CreateRequest {
            path: path.into(),
            data: Some(Bytes::from_static(b"v")),
            acl: crate::data::tree::open_acl(),
            flags,
        };
        ToSeq::Write {
            from,
            session,
            xid,
            body: req.encode().freeze(),
            op: prep::WriteOp::Create {
                op: jute::op::CREATE,
                req: jute::CreateTtlRequest {
                    path: req.path.clone(),
                    data: req.data.clone(),
                    acl: req.acl.clone(),
                    flags,
                    ttl: -1,
                },
            },
            auth: Some(Vec::new()),
            reads_before: false,
        }
    }

    /// A leader (server 1) and its learner (server 2) of epoch 3, with
    /// local sessions on, upgrading as given.
    fn leader_and_learner(upgrading: bool) -> (Sequencer, Sequencer) {
        let mut leader = seq_with(1, 1, Some(upgrading));
        leader.set_role(Role::Leader, 3, 1_000);
        let mut learner = seq_with(1, 2, Some(upgrading));
        learner.set_role(Role::Learner, 3, 1_000);
        (leader, learner)
    }

    /// The (session, ok) of the handshake answered in `items`.
    fn answered(items: &[Item]) -> (i64, bool) {
        items
            .iter()
            .find_map(|i| match i {
                Item::Connected { session, ok, .. } => Some((*session, *ok)),
                _ => None,
            })
            .expect("a handshake answer")
    }

    /// Each reply's (xid, err) in `items`.
    fn replies(items: &[Item]) -> Vec<(i32, i32)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Reply { frame, .. } if frame.len() > 4 => {
                    let h = jute::ReplyHeader::read(&mut jute::Reader::new(&frame[4..])).ok()?;
                    Some((h.xid, h.err))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_installed_tree_keeps_a_newer_logged_config() {
        // A reload after TRUNC or a SNAP whose history holds a reconfig no
        // commit activated: with reconfigEnabled its config stays in
        // `/zookeeper/config` (the last seen config); without, or when
        // older, the active one is put there.
        let active = b"server.1=10.0.0.1:2888:3888:participant;2181\nversion=100000000";
        let logged = b"server.1=10.0.0.1:2888:3888:participant;2181\nserver.2=10.0.0.2:2888:3888:participant;2181\nversion=500000002";
        for (enabled, tree_text, kept) in [
            (true, &logged[..], true),
            (false, &logged[..], false),
            (true, &active[..], true),
        ] {
            let mut s = seq(1);
            s.s.reconfig_enabled = enabled;
            s.keep_config_node(active, 0x1_0000_0000);
            let mut t = Tree::new();
            t.set_config_node(tree_text, 7, 1_000);
            s.install_tree(t, &[], 2_000);
            let now = s
                .tree()
                .get(crate::data::tree::CONFIG)
                .unwrap()
                .data()
                .unwrap()
                .to_vec();
            let expect: &[u8] = if kept { tree_text } else { active };
            assert_eq!(now, expect, "reconfigEnabled={enabled}");
        }
    }

    #[test]
    fn local_sessions_live_on_their_server_alone() {
        // localSessionsEnabled without upgrading: a learner (server 2)
        // answers a new session at once and logs nothing; the leader
        // (server 1) takes its persistent writes, an ephemeral is
        // refused, another server does not know the session, and the
        // learner closes and expires it on its own.
        let (mut leader, mut learner) = leader_and_learner(false);
        let c = ConnRef { shard: 0, conn: 7 };
        learner.handle(connect(c, false), 2_000);
        assert!(
            learner.take_forwards().is_empty(),
            "nothing goes to the leader"
        );
        let session = match &learner.take().unwrap()[0][..] {
            [Item::Connected {
                conn: 7,
                session,
                ok: true,
                ..
            }] => *session,
            other => panic!("{other:?}"),
        };
        assert_eq!(session >> 56, 2, "the learner's own id");
        // A persistent node: forwarded, and taken by the leader.
        learner.handle(create(c, session, 1, "/p", 0), 2_100);
        let txns = relay(&mut learner, &mut leader, 2_100);
        assert_eq!(txns.len(), 1);
        assert_eq!(txns[0].hdr.client_id, session);
        assert_eq!(replies(&learner.take().unwrap()[0]), vec![(1, 0)]);
        assert!(leader.tree().get("/p").is_some());
        // An ephemeral: refused here, nothing forwarded.
        learner.handle(create(c, session, 2, "/e", 1), 2_200);
        assert!(learner.take_forwards().is_empty());
        assert_eq!(
            replies(&learner.take().unwrap()[0]),
            vec![(2, Code::EphemeralOnLocalSession.as_i32())]
        );
        // A ZooKeeper learner forwards such a create after refusing it;
        // the leader logs it as an error (`checkGlobalSession`).
        let ToSeq::Write { body, .. } = create(c, session, 2, "/e", 1) else {
            unreachable!()
        };
        leader.handle_forwarded(session, 2, jute::op::CREATE, &body, Vec::new(), 2_200);
        let logged = leader.take_logged();
        assert!(
            matches!(&logged[..], [(t, _)] if matches!(&t.body, TxnBody::Error(e) if e.err == Code::SessionExpired.as_i32())),
            "{logged:?}"
        );
        assert!(leader.tree().get("/e").is_none());
        // Its touches stay here: no ping carries it.
        learner.handle(ToSeq::Touch(vec![session]), 2_300);
        assert!(learner.take_touched().is_empty());
        // The leader does not know it; the learner does.
        let moved = || ToSeq::Connect {
            from: ConnRef { shard: 0, conn: 8 },
            session,
            passwd: Bytes::copy_from_slice(&session::password(session)),
            timeout: 10_000,
            read_only: false,
        };
        leader.handle(moved(), 2_400);
        assert!(!answered(&leader.take().unwrap()[0]).1);
        learner.handle(moved(), 2_400);
        assert!(learner.take_forwards().is_empty());
        let items = learner.take().unwrap();
        assert!(items[0]
            .iter()
            .any(|i| matches!(i, Item::Close { conn: 7 })));
        assert!(items[0].iter().any(|i| matches!(
            i,
            Item::Connected {
                conn: 8,
                ok: true,
                ..
            }
        )));
        // Closed here, without a txn.
        let d = ConnRef { shard: 0, conn: 8 };
        learner.handle(
            ToSeq::Close {
                from: d,
                session,
                xid: 3,
            },
            2_500,
        );
        assert!(learner.take_forwards().is_empty());
        assert!(!learner.local.is_live(session));
        // A second one expires here: its connection closes.
        let e = ConnRef { shard: 0, conn: 9 };
        learner.handle(connect(e, false), 3_000);
        let _ = learner.take();
        assert!(learner.next_deadline() <= 3_000 + 10_000 + 2_000);
        learner.tick(16_000);
        let items = learner.take().unwrap();
        assert!(items[0]
            .iter()
            .any(|i| matches!(i, Item::Close { conn: 9 })));
        assert!(learner.take_forwards().is_empty());
        // The leader's own local sessions refuse ephemerals too.
        let f = ConnRef { shard: 0, conn: 10 };
        leader.handle(connect(f, false), 3_000);
        assert!(leader.take_logged().is_empty(), "no createSession txn");
        let mine = answered(&leader.take().unwrap()[0]).0;
        leader.handle(create(f, mine, 1, "/e", 1), 3_100);
        assert_eq!(
            replies(&leader.take().unwrap()[0]),
            vec![(1, Code::EphemeralOnLocalSession.as_i32())]
        );
        // A role change drops local sessions, as a new ZooKeeper server.
        learner.handle(connect(e, false), 4_000);
        let _ = learner.take();
        learner.set_role(Role::NotServing, 0, 4_100);
        assert!(learner.local.is_empty());
    }

    #[test]
    fn an_ephemeral_upgrades_a_local_session_when_upgrading_is_on() {
        let (mut leader, mut learner) = leader_and_learner(true);
        let c = ConnRef { shard: 0, conn: 7 };
        learner.handle(connect(c, false), 2_000);
        let session = answered(&learner.take().unwrap()[0]).0;
        learner.handle(create(c, session, 1, "/e", 1), 2_100);
        let txns = relay(&mut learner, &mut leader, 2_100);
        let kinds: Vec<bool> = txns
            .iter()
            .map(|t| matches!(t.body, TxnBody::CreateSession(_)))
            .collect();
        assert_eq!(kinds, vec![true, false], "createSession first");
        assert!(txns.iter().all(|t| t.hdr.client_id == session));
        assert_eq!(replies(&learner.take().unwrap()[0]), vec![(1, 0)]);
        let node = leader.tree().get("/e").expect("the ephemeral");
        assert_eq!(node.stat().ephemeral_owner, session);
        assert!(leader.sessions.is_live(session), "global on the leader");
        assert!(!learner.local.is_live(session) && learner.sessions.is_live(session));
        learner.handle(ToSeq::Touch(vec![session]), 2_200);
        assert_eq!(learner.take_touched(), vec![(session, 10_000)]);
        // On the leader: the createSession is logged before the write.
        let f = ConnRef { shard: 0, conn: 8 };
        leader.handle(connect(f, false), 3_000);
        let mine = answered(&leader.take().unwrap()[0]).0;
        leader.handle(create(f, mine, 1, "/mine", 3), 3_100);
        let logged: Vec<Txn> = leader.take_logged().into_iter().map(|(t, _)| t).collect();
        assert_eq!(logged.len(), 2);
        assert!(matches!(logged[0].body, TxnBody::CreateSession(_)));
        assert_eq!(replies(&leader.take().unwrap()[0]), vec![(1, 0)]);
    }

    #[test]
    fn a_leader_with_leader_serves_no_takes_no_client() {
        let conn = |conn| ConnRef { shard: 0, conn };
        for serves in [true, false] {
            let mut s = seq(1);
            s.s.role = RoleCell::default().with_leader_serves(serves);
            s.set_role(Role::Leader, 2, 1_000);
            assert_eq!(s.s.role.clients_served(), serves);
            s.handle(connect(conn(1), false), 2_000);
            let items = s.take().unwrap();
            let closed = items[0]
                .iter()
                .any(|i| matches!(i, Item::Close { conn: 1 }));
            let connected = items[0].iter().any(|i| {
                matches!(
                    i,
                    Item::Connected {
                        conn: 1,
                        ok: true,
                        ..
                    }
                )
            });
            assert_eq!((closed, connected), (!serves, serves), "{:?}", items[0]);
            // A gated four-letter word asked on the client port answers
            // "not currently serving" without asking the shards.
            s.handle(
                ToSeq::Gather {
                    from: Asker::Conn(conn(2)),
                    cmd: Cmd::Srvr,
                    os: OsFacts::default(),
                },
                2_000,
            );
            let text = format!("{:?}", s.take());
            assert_eq!(text.contains("not currently serving"), !serves, "{text}");
        }
        // Any other role is as before.
        let s = RoleCell::new(Role::Learner).with_leader_serves(false);
        assert!(s.clients_served());
    }

    #[test]
    fn read_only_takes_only_read_only_clients_and_refuses_writes() {
        let mut s = seq(1);
        s.set_role(Role::ReadOnly, 0, 1_000);
        let conn = |conn| ConnRef { shard: 0, conn };
        s.handle(connect(conn(1), false), 2_000);
        s.handle(connect(conn(2), true), 2_000);
        let items = s.take().unwrap();
        assert!(
            matches!(items[0][0], Item::Close { conn: 1 }),
            "{:?}",
            items[0]
        );
        let session = match &items[0][1] {
            Item::Connected {
                conn: 2,
                session,
                ok: true,
                read_only: true,
                ..
            } => *session,
            other => panic!("{other:?}"),
        };
        let req = jute::SetDataRequest {
            path: "/".into(),
            data: None,
            version: -1,
        };
        s.handle(
            ToSeq::Write {
                from: ConnRef { shard: 0, conn: 2 },
                session,
                xid: 5,
                body: req.encode().freeze(),
                op: prep::WriteOp::SetData(req),
                auth: Some(Vec::new()),
                reads_before: true,
            },
            2_100,
        );
        let items = s.take().unwrap();
        let Item::Reply { frame, .. } = &items[0][0] else {
            panic!("{:?}", items[0]);
        };
        let h = jute::ReplyHeader::read(&mut jute::Reader::new(&frame[4..])).unwrap();
        assert_eq!((h.xid, h.err), (5, Code::NotReadOnly.as_i32()));
        assert!(s.take_logged().is_empty(), "nothing is written");
    }

    /// A handshake for a new session (10 s) from 127.0.0.1.
    fn connect(from: ConnRef, read_only: bool) -> ToSeq {
        ToSeq::Connect {
            from,
            session: 0,
            passwd: Bytes::new(),
            timeout: 10_000,
            read_only,
        }
    }

    /// A new session on `from` (at t = 2 s); its createSession txn is
    /// taken off the log queue.
    fn new_session(s: &mut Sequencer, from: ConnRef) -> i64 {
        s.handle(connect(from, false), 2_000);
        s.take_logged();
        match &s.take().unwrap()[0][0] {
            Item::Connected { session, .. } => *session,
            other => panic!("{other:?}"),
        }
    }

    /// Takes the lead at `now` (epoch 4).
    fn lead(s: &mut Sequencer, now: i64) {
        s.set_role(Role::Leader, 4, now);
    }

    #[test]
    fn a_new_leader_gives_every_session_a_full_timeout() {
        // A follower that takes the lead, and a leader that is elected
        // again, each after longer than the session timeout without a
        // leader: as ZooKeeper's new leader builds its session tracker at
        // start, every session expires a full timeout (rounded up to the
        // tick) after the lead is taken, not at its old deadline.
        for before in [Role::Learner, Role::Leader] {
            let mut leader = seq(1);
            leader.set_role(Role::Leader, 3, 1_000);
            let from = ConnRef { shard: 0, conn: 3 };
            let session = new_session(&mut leader, from);
            let mut s = if before == Role::Leader {
                leader
            } else {
                let mut learner = seq(1);
                learner.set_role(Role::Learner, 3, 1_000);
                let txn =
                    prep::create_session(session, 10_000, crate::quorum::make_zxid(3, 1), 2_000);
                learner.apply_committed(&txn, 2_000);
                learner
            };
            assert!(s.sessions.is_live(session));
            s.set_role(Role::NotServing, 0, 14_000);
            let _ = s.take();
            // The old deadline (12 s) is long past.
            lead(&mut s, 20_001);
            s.tick(20_001);
            assert!(
                s.take_logged().is_empty(),
                "{before:?}: expired at the lead"
            );
            assert!(s.sessions.is_live(session), "{before:?}");
            // 20 001 + 10 000, rounded up to the 2 s tick.
            assert_eq!(s.next_deadline(), 32_000, "{before:?}");
            s.tick(31_999);
            assert!(s.sessions.is_live(session), "{before:?}");
            s.tick(32_000);
            let closed: Vec<i64> = s
                .take_logged()
                .iter()
                .map(|(t, _)| t.hdr.client_id)
                .collect();
            assert_eq!(
                closed,
                vec![session],
                "{before:?}: expires after its timeout"
            );
            assert!(!s.sessions.is_live(session));
        }
    }

    #[test]
    fn close_session_answers_before_it_closes_the_connection() {
        let mut s = seq(1);
        let from = ConnRef { shard: 0, conn: 3 };
        let session = new_session(&mut s, from);
        s.handle(
            ToSeq::Close {
                from,
                session,
                xid: 4,
            },
            2_001,
        );
        let items = s.take().unwrap();
        // The shard stops at a connection's first close: the reply must
        // come before it.
        let kinds: Vec<&str> = items[0]
            .iter()
            .filter_map(|i| match i {
                Item::Reply { conn: 3, .. } => Some("reply"),
                Item::Close { conn: 3 } => Some("close"),
                _ => None,
            })
            .collect();
        assert_eq!(kinds.first(), Some(&"reply"), "{kinds:?}");
        assert!(kinds.contains(&"close"), "{kinds:?}");
    }

    #[test]
    fn connections_are_counted_per_ip_at_accept_across_shards() {
        let mut s = seq(2);
        s.s.max_client_cnxns = 2;
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let c = |shard, conn| ConnRef { shard, conn };
        let closed = |s: &mut Sequencer| -> Vec<(usize, u64)> {
            let mut v = Vec::new();
            for (shard, items) in s.take().unwrap_or_default().into_iter().enumerate() {
                for it in items {
                    if let Item::Close { conn } = it {
                        v.push((shard, conn));
                    }
                }
            }
            v
        };
        s.handle(ToSeq::Accept { from: c(0, 1), ip }, 1_000);
        s.handle(ToSeq::Accept { from: c(1, 1), ip }, 1_000);
        s.handle(
            ToSeq::Accept {
                from: c(0, 2),
                ip: other,
            },
            1_000,
        );
        assert!(closed(&mut s).is_empty());
        // The third from one IP, on either shard, is closed at once.
        s.handle(ToSeq::Accept { from: c(1, 2), ip }, 1_001);
        assert_eq!(closed(&mut s), vec![(1, 2)]);
        // What it sends is not served: no session for it.
        s.handle(connect(c(1, 2), false), 1_002);
        assert!(s.take().is_none(), "a refused connection got an answer");
        // The others are told they are counted.
        s.handle(
            ToSeq::Accept {
                from: c(1, 3),
                ip: other,
            },
            1_002,
        );
        let items = s.take().unwrap();
        assert!(matches!(items[1][..], [Item::Admitted { conn: 3 }]));
        // Its going frees nothing; a counted one's going frees a place.
        let gone = |from| ToSeq::Gone {
            from,
            ip,
            session: 0,
        };
        s.handle(gone(c(1, 2)), 1_003);
        s.handle(ToSeq::Accept { from: c(0, 3), ip }, 1_004);
        assert_eq!(closed(&mut s), vec![(0, 3)]);
        s.handle(gone(c(0, 3)), 1_005);
        s.handle(gone(c(0, 1)), 1_005);
        s.handle(ToSeq::Accept { from: c(0, 4), ip }, 1_006);
        assert!(closed(&mut s).is_empty());
        s.handle(connect(c(0, 4), false), 1_007);
        assert!(s.take().is_some_and(|items| items[0]
            .iter()
            .any(|i| matches!(i, Item::Connected { ok: true, .. }))));
        // zookeeper.maxCnxns counts every IP: 4 are open now.
        s.s.max_cnxns = 5;
        let third: IpAddr = "127.0.0.3".parse().unwrap();
        s.handle(
            ToSeq::Accept {
                from: c(0, 5),
                ip: third,
            },
            1_008,
        );
        assert!(closed(&mut s).is_empty());
        s.handle(
            ToSeq::Accept {
                from: c(1, 5),
                ip: third,
            },
            1_008,
        );
        assert_eq!(closed(&mut s), vec![(1, 5)]);
    }

    #[test]
    fn a_fenced_connection_is_not_served_until_it_is_gone() {
        let mut s = seq(1);
        let from = ConnRef { shard: 0, conn: 7 };
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let session = new_session(&mut s, from);
        let create = |xid| {
            let req = jute::CreateTtlRequest {
                path: format!("/n{xid}"),
                data: Some(Bytes::new()),
                acl: crate::data::tree::open_acl(),
                flags: 0,
                ttl: -1,
            };
            ToSeq::Write {
                from,
                session,
                xid,
                body: Bytes::new(),
                op: prep::WriteOp::Create {
                    op: jute::op::CREATE,
                    req,
                },
                auth: Some(Vec::new()),
                reads_before: false,
            }
        };
        s.handle(create(1), 2_001);
        assert_eq!(s.take_logged().len(), 1);
        s.take();
        // The log failed under that write: the connection is closed, and
        // what it sent after it must not be applied.
        s.reset_to(Tree::new());
        s.fence([from]);
        s.handle(create(2), 2_002);
        s.handle(
            ToSeq::Sync {
                from,
                xid: 3,
                path: "/".into(),
            },
            2_002,
        );
        assert!(s.take_logged().is_empty(), "a write behind a dropped one");
        assert!(s.take().is_none(), "an answer to a fenced connection");
        // Once the shard reports it gone, the id is served again.
        s.handle(ToSeq::Gone { from, ip, session }, 2_003);
        s.handle(create(4), 2_004);
        assert_eq!(s.take_logged().len(), 1);
    }

    fn view(shard: usize, received: u64) -> Box<ShardView> {
        Box::new(ShardView {
            shard,
            stats: fourlw::ShardStats {
                received,
                ..Default::default()
            },
            conn_count: 1,
            ..Default::default()
        })
    }

    fn four_lw(items: &[Item]) -> Vec<(u64, String)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::FourLw { conn, text } => Some((*conn, text.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gathers_every_shard_then_answers_the_asker() {
        let mut s = seq(2);
        let from = ConnRef { shard: 1, conn: 7 };
        s.handle(
            ToSeq::Gather {
                from: Asker::Conn(from),
                cmd: Cmd::Srvr,
                os: OsFacts::default(),
            },
            2_000,
        );
        let out = s.take().expect("gather items");
        let tickets: Vec<Vec<u64>> = out
            .iter()
            .map(|q| {
                q.iter()
                    .filter_map(|i| match i {
                        Item::Gather {
                            ticket,
                            cmd: Cmd::Srvr,
                        } => Some(*ticket),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(tickets, vec![vec![1], vec![1]], "one ticket to every shard");
        s.handle(
            ToSeq::Gathered {
                ticket: 1,
                view: view(1, 5),
            },
            2_000,
        );
        assert!(s.take().is_none(), "no answer before every shard reported");
        // A stale or unknown ticket is ignored.
        s.handle(
            ToSeq::Gathered {
                ticket: 9,
                view: view(0, 1),
            },
            2_000,
        );
        s.handle(
            ToSeq::Gathered {
                ticket: 1,
                view: view(0, 4),
            },
            2_000,
        );
        let out = s.take().expect("the answer");
        assert!(four_lw(&out[0]).is_empty());
        let answers = four_lw(&out[1]);
        assert_eq!(answers.len(), 1);
        assert_eq!(answers[0].0, 7);
        assert!(answers[0].1.contains("\nReceived: 9\n"), "{}", answers[0].1);
        assert!(answers[0].1.contains("\nConnections: 2\n"));
        assert!(
            answers[0].1.contains("\nNode count: 5\n"),
            "ZooKeeper counts the root twice"
        );
    }

    #[test]
    fn a_reply_asker_gets_the_facts_themselves() {
        let mut s = seq(2);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        s.handle(
            ToSeq::Gather {
                from: Asker::Reply(tx),
                cmd: Cmd::Mntr,
                os: OsFacts::default(),
            },
            2_000,
        );
        let out = s.take().expect("gather items");
        assert!(out.iter().all(|q| q.len() == 1));
        assert!(rx.try_recv().is_err(), "no answer before every shard");
        for shard in [1, 0] {
            s.handle(
                ToSeq::Gathered {
                    ticket: 1,
                    view: view(shard, 4),
                },
                2_100,
            );
        }
        let g = rx.try_recv().expect("the gathered facts");
        assert_eq!(g.views.len(), 2);
        assert_eq!(g.views[0].shard, 0);
        assert_eq!(g.server_state, "standalone");
        // The same facts give the 4lw text.
        assert!(crate::protocol::fourlw::answer(Cmd::Mntr, &g.facts())
            .contains("zk_packets_received\t8\n"));
        // Nothing goes to the shards for it.
        assert!(s.take().is_none_or(|o| o.iter().all(|q| q.is_empty())));
    }

    #[test]
    fn trace_mask_words_need_no_shards() {
        let mut s = seq(2);
        let from = ConnRef { shard: 0, conn: 3 };
        let ask = |s: &mut Sequencer, cmd| {
            s.handle(
                ToSeq::Gather {
                    from: Asker::Conn(from),
                    cmd,
                    os: OsFacts::default(),
                },
                2_000,
            );
            let out = s.take().expect("an answer");
            assert!(out[1].is_empty());
            four_lw(&out[0])[0].1.clone()
        };
        assert_eq!(ask(&mut s, Cmd::Gtmk), "306");
        assert_eq!(ask(&mut s, Cmd::Stmk(5)), "5");
        assert_eq!(ask(&mut s, Cmd::Gtmk), "5");
        assert_eq!(ask(&mut s, Cmd::Hash), "");
    }
}
