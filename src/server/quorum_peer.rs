//! The quorum peer on the sequencer executor (ZooKeeper's `QuorumPeer`):
//! election, then leading or following, then election again.
//!
//! A thin shell. It owns the quorum-port sockets (a leader's learners, a
//! learner's leader) and feeds packets, durability and the time to the
//! state machines of [`crate::election`] and [`crate::zab`]; what they
//! return it carries out on the [`Sequencer`] (roles, forwarded requests,
//! commits, snapshots) and through the log core. The sequencer driver in
//! `server` calls it at fixed points of its loop and publishes versions
//! up to [`QuorumPeer::committed`].

use super::msg::ToLog;
use super::peers::{PeerSettings, Peers};
use crate::digest::TxnDigest;
use crate::election::{self, Action, Election, ElectionSettings, ServerState};
use crate::quorum::{QuorumMaj, Sid};
use crate::sequencer::{Forward, Role, Sequencer};
use crate::storage::{epochs, Dirs};
use crate::tree::Tree;
use crate::txn::Txn;
use crate::zab::leader::{Handle, Leader, LeaderAction, LeaderSettings, TxnLogRead, TxnLogSource};
use crate::zab::learner::{Learner, LearnerAction, LearnerKind, LearnerSettings};
use crate::zab::sync::DEFAULT_COMMIT_LOG_COUNT;
use crate::zab::wire::{self, pkt, ForwardedRequest, QuorumPacket};
use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use shards::mailbox::Mailbox;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// What the quorum peer needs to know.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    pub me: Sid,
    pub quorum: QuorumMaj,
    /// Whether this server is an observer.
    pub observer: bool,
    /// Every member's quorum address (`host:quorumPort`).
    pub quorum_addrs: HashMap<Sid, String>,
    /// Where this server's quorum port listens.
    pub quorum_listen: SocketAddr,
    pub peers: PeerSettings,
    pub election: ElectionSettings,
    /// The config bytes notifications carry (`QuorumVerifier.toString()`).
    pub config: Vec<u8>,
    /// The `server.N=` lines NEWLEADER carries.
    pub config_servers: String,
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub max_buffer: usize,
    /// `readonlymode.enabled`: serve reads while cut off from a quorum.
    pub read_only_mode: bool,
    /// `zookeeper.snapshotSizeFactor`: a leader serves a DIFF from its
    /// txn log while the log is under this fraction of its newest
    /// snapshot's size (negative: never; 0: always).
    pub snapshot_size_factor: f64,
}

/// What the sockets and timers of the quorum peer report.
pub enum QuorumInput {
    /// An election message.
    Election(Sid, Vec<u8>),
    /// A learner connected to this leader's quorum port.
    LearnerUp(Handle),
    /// A packet from a learner.
    FromLearner(Handle, QuorumPacket),
    /// A learner's connection closed.
    LearnerDown(Handle),
    /// The leader connection is up (generation).
    LeaderUp(u64),
    /// A packet from the leader (generation).
    FromLeader(u64, QuorumPacket),
    /// The snapshot that followed a SNAP (generation).
    Snapshot(u64, Vec<(i64, i32)>, Tree),
    /// The leader connection failed or closed (generation).
    LeaderDown(u64, String),
}

/// How often a server standing aside tries its quorum port (ms).
const PROBE_EVERY_MS: u64 = 1000;

/// The stop switch of a leader's quorum listener: stopping wakes it, so
/// that it lets go of the port at once.
#[derive(Default)]
pub struct Stop {
    stopped: Cell<bool>,
    wake: Mailbox<()>,
}

impl Stop {
    fn stop(&self) {
        self.stopped.set(true);
        self.wake.push(());
    }
}

/// One quorum-port connection's send side.
#[derive(Default)]
pub struct Link {
    out: Mailbox<Bytes>,
    closed: Cell<bool>,
}

impl Link {
    fn send(&self, b: Bytes) {
        if !self.closed.get() {
            self.out.push(b);
        }
    }
    fn close(&self) {
        self.closed.set(true);
        self.out.push(Bytes::new());
    }
}

enum State {
    Looking,
    Leading {
        leader: Box<Leader>,
        links: HashMap<Handle, Rc<Link>>,
    },
    Following {
        learner: Box<Learner>,
        link: Option<Rc<Link>>,
        generation: u64,
        leader: Sid,
        /// When following began (ms since start).
        since: u64,
        /// Whether the leader has sent anything on this connection.
        heard: bool,
    },
}

/// The quorum peer. See the module doc.
pub struct QuorumPeer {
    s: QuorumSettings,
    dirs: Dirs,
    peers: Peers,
    election: Election,
    state: State,
    epochs: epochs::Epochs,
    inbox: Rc<Mailbox<super::Input>>,
    /// Everything up to here is committed by a quorum: the sequencer's
    /// versions up to it may be published.
    committed: i64,
    /// Messages for the log core, in order.
    to_log: Vec<ToLog>,
    next_handle: Rc<Cell<Handle>>,
    generation: u64,
    /// A learner's SNAP waits for its snapshot before later packets.
    awaiting_snapshot: bool,
    /// A learner's logged proposals not yet committed, by zxid.
    uncommitted: std::collections::BTreeMap<i64, Bytes>,
    /// The last committed txns (at most `commitLogCount`), in zxid order:
    /// the committed log a new leader starts with, as ZooKeeper's
    /// `ZKDatabase.committedLog` outlives an election. While this server
    /// leads, the `Leader` keeps it, and hands it back on leaving.
    recent: std::collections::VecDeque<(i64, Bytes)>,
    /// A learner's TRUNC in progress: the leader's packets wait here.
    truncating: Option<i64>,
    held: std::collections::VecDeque<QuorumPacket>,
    started: std::time::Instant,
    /// When this server last went LOOKING (ms since start).
    looking_since: u64,
    /// The leader's quorum listener's stop switch.
    listener_stop: Option<Rc<Stop>>,
    /// This server cannot lead (it cannot bind its quorum port, or write
    /// its epoch files): it stands aside in elections (see
    /// [`Election::set_stand_aside`]) until it can.
    stand_aside: bool,
    /// An epoch file could not be written: this server can neither lead
    /// nor follow until it can.
    epochs_unwritable: bool,
    /// When the quorum port was last tried while standing aside (ms).
    last_probe: u64,
    /// Leaving a role failed before the sequencer was at hand: go
    /// LOOKING at the next tick.
    relook: bool,
    /// The last version published to the shards: what a server that stops
    /// leading or following goes back to.
    published: Arc<Tree>,
    /// A leader's committed tree short of its latest commits: the newer
    /// of the last published version and the history it led with.
    snap_base: Arc<Tree>,
    /// A leader's commits past `snap_base`: a SNAP's snapshot is the base
    /// with these applied, exactly at the last commit.
    unpublished_commits: std::collections::VecDeque<(i64, Bytes)>,
}

fn ms(started: std::time::Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

impl QuorumPeer {
    /// Starts the election connections and the first election.
    pub async fn start(
        s: QuorumSettings,
        dirs: Dirs,
        epochs: epochs::Epochs,
        committed_log: std::collections::VecDeque<(i64, Bytes)>,
        published: Arc<Tree>,
        inbox: Rc<Mailbox<super::Input>>,
    ) -> Result<QuorumPeer, super::peers::PeersError> {
        let last_zxid = published.last_zxid;
        let peers = Peers::start(s.peers.clone()).await?;
        {
            let peers = peers.clone();
            let inbox = inbox.clone();
            glommio::spawn_local(async move {
                loop {
                    let (from, m) = peers.recv().await;
                    inbox.push(super::Input::Quorum(QuorumInput::Election(from, m)));
                }
            })
            .detach();
        }
        let election = Election::new(s.me, s.quorum.clone(), s.config.clone(), s.election);
        let mut p = QuorumPeer {
            s,
            dirs,
            peers,
            election,
            state: State::Looking,
            epochs,
            inbox,
            committed: last_zxid,
            to_log: Vec::new(),
            next_handle: Rc::new(Cell::new(1)),
            generation: 0,
            awaiting_snapshot: false,
            truncating: None,
            uncommitted: Default::default(),
            recent: committed_log,
            held: Default::default(),
            started: std::time::Instant::now(),
            looking_since: 0,
            listener_stop: None,
            stand_aside: false,
            epochs_unwritable: false,
            last_probe: 0,
            relook: false,
            snap_base: published.clone(),
            published,
            unpublished_commits: Default::default(),
        };
        tracing::info!("LOOKING");
        p.check_quorum_port();
        let a = p.election.look(last_zxid, epochs.current, ms(p.started));
        let base = p.published.clone();
        p.election_actions(a, &base);
        Ok(p)
    }

    /// The highest zxid a quorum has committed.
    pub fn committed(&self) -> i64 {
        self.committed
    }

    /// The version the shards now have.
    pub fn set_published(&mut self, v: &Arc<Tree>) {
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

    /// The tree exactly at the last commit: the published version and the
    /// commits since.
    fn committed_tree(&self) -> Tree {
        let mut t = Tree::clone(&self.snap_base);
        for (z, data) in &self.unpublished_commits {
            if *z <= t.last_zxid {
                continue;
            }
            match crate::txnlog::decode_entry(data) {
                Ok((txn, _)) => {
                    t.apply(&txn, &mut Vec::new());
                }
                Err(e) => tracing::error!(error = %e, "a committed txn does not decode"),
            }
        }
        t
    }

    /// What the log core must do, in order.
    pub fn take_log(&mut self) -> Vec<ToLog> {
        std::mem::take(&mut self.to_log)
    }

    /// When [`QuorumPeer::tick`] next has work (ms since start).
    pub fn next_wait_ms(&self) -> u64 {
        let now = ms(self.started);
        let e = self
            .election
            .next_deadline()
            .map(|d| d.saturating_sub(now))
            .unwrap_or(1000);
        let tick = (self.s.tick_ms / 2).max(1);
        if self.relook {
            return 1;
        }
        e.min(tick).clamp(1, 1000)
    }

    /// Timers: the election's back-off, and the Zab machines' ticks.
    pub fn tick(&mut self, seq: &mut Sequencer) {
        if std::mem::take(&mut self.relook) {
            self.look(seq);
        }
        let now = ms(self.started);
        // Standing aside: once a second, see whether the quorum port is
        // free again; if so, put this server's own vote forward.
        if self.stand_aside
            && self.election.is_running()
            && now.saturating_sub(self.last_probe) >= PROBE_EVERY_MS
        {
            self.last_probe = now;
            if self.can_lead() {
                tracing::info!(addr = %self.s.quorum_listen, "this server can lead again: no longer standing aside");
                self.stand_aside = false;
                let a = self.election.set_stand_aside(false, now);
                self.election_actions(a, seq.tree());
            }
        }
        // Read-only mode: LOOKING for max(2 s, tickTime) (ZooKeeper's
        // roZkMgr) serves reads; a decision ends it.
        let looking = matches!(self.state, State::Looking);
        if self.s.read_only_mode
            && looking
            && seq.role() == Role::NotServing
            && now.saturating_sub(self.looking_since) >= self.s.tick_ms.max(2000)
        {
            tracing::info!("no quorum: serving reads in read-only mode");
            seq.set_role(Role::ReadOnly, 0);
        }
        if !looking && seq.role() == Role::ReadOnly {
            seq.set_role(Role::NotServing, 0);
        }
        let a = self.election.timeout(now);
        self.election_actions(a, seq.tree());
        match &mut self.state {
            State::Leading { leader, .. } => {
                let a = leader.tick(now);
                self.leader_actions(a, seq);
            }
            State::Following { learner, .. } => {
                let a = learner.tick(now);
                self.learner_actions(a, seq);
            }
            State::Looking => {}
        }
    }

    /// One input from the sockets.
    pub fn input(&mut self, q: QuorumInput, seq: &mut Sequencer) {
        let now = ms(self.started);
        match q {
            QuorumInput::Election(from, bytes) => {
                match election::wire::Notification::decode(&bytes) {
                    Ok(n) => {
                        let a = self.election.receive(from, n, now);
                        self.election_actions(a, seq.tree());
                    }
                    Err(e) => tracing::warn!(from, error = %e, "a bad election message; ignored"),
                }
            }
            QuorumInput::LearnerUp(h) => {
                if let State::Leading { leader, .. } = &mut self.state {
                    let a = leader.learner_connected(h, now);
                    self.leader_actions(a, seq);
                }
            }
            QuorumInput::FromLearner(h, p) => {
                if let State::Leading { leader, .. } = &mut self.state {
                    let a = leader.packet(h, p, now);
                    self.leader_actions(a, seq);
                }
            }
            QuorumInput::LearnerDown(h) => {
                if let State::Leading { leader, links } = &mut self.state {
                    links.remove(&h);
                    let a = leader.learner_gone(h);
                    self.leader_actions(a, seq);
                }
            }
            QuorumInput::LeaderUp(g) => {
                if let State::Following {
                    learner,
                    generation,
                    ..
                } = &mut self.state
                {
                    if *generation == g {
                        let a = learner.connected(now);
                        self.learner_actions(a, seq);
                    }
                }
            }
            QuorumInput::FromLeader(g, p) => {
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
                        if self.truncating.is_some() {
                            self.held.push_back(p);
                        } else {
                            let a = learner.packet(p, now);
                            self.learner_actions(a, seq);
                        }
                    }
                }
            }
            QuorumInput::Snapshot(g, sessions, tree) => {
                if matches!(&self.state, State::Following { generation, .. } if *generation == g)
                    && self.awaiting_snapshot
                {
                    self.awaiting_snapshot = false;
                    tracing::info!(
                        zxid = format!("0x{:x}", tree.last_zxid),
                        nodes = tree.node_count(),
                        "snapshot from the leader installed"
                    );
                    self.committed = tree.last_zxid;
                    seq.install_tree(tree, &sessions, super::now_ms());
                }
            }
            QuorumInput::LeaderDown(g, why) => {
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
                // initLimit, and before it said anything, try it again.
                let limit = self.s.tick_ms * self.s.init_limit as u64;
                if !*heard && now.saturating_sub(*since) < limit {
                    tracing::debug!(
                        why,
                        leader,
                        "the leader's quorum port is not up yet; retrying"
                    );
                    let leader = *leader;
                    self.follow(leader, seq.tree().last_zxid, true);
                } else {
                    tracing::warn!(why, "lost the leader");
                    self.look(seq);
                }
            }
        }
    }

    /// The log core cut the log after `to` (a TRUNC): reload the tree if
    /// it holds more, then go on with the leader's packets.
    pub fn truncated(&mut self, to: i64, r: Result<(), String>, seq: &mut Sequencer) {
        if self.truncating != Some(to) {
            return;
        }
        self.truncating = None;
        if let Err(e) = r {
            tracing::error!(error = %e, "TRUNC failed; leaving the leader");
            self.held.clear();
            self.look(seq);
            return;
        }
        if seq.tree().last_zxid > to {
            match crate::storage::recover(&self.dirs, true) {
                Ok(rec) => {
                    tracing::info!(
                        zxid = format!("0x{:x}", rec.tree.last_zxid),
                        "reloaded after TRUNC"
                    );
                    seq.install_tree(rec.tree, &rec.sessions, super::now_ms());
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reload after TRUNC; leaving the leader");
                    self.held.clear();
                    self.look(seq);
                    return;
                }
            }
        }
        self.committed = seq.tree().last_zxid;
        let now = ms(self.started);
        while self.truncating.is_none() {
            let Some(p) = self.held.pop_front() else {
                break;
            };
            let State::Following { learner, .. } = &mut self.state else {
                self.held.clear();
                return;
            };
            let a = learner.packet(p, now);
            self.learner_actions(a, seq);
        }
    }

    /// The own txn log failed a write; it is durable up to `durable`. A
    /// leader or learner leaves its role (ZooKeeper's server stops and
    /// its peer goes back to LOOKING); what was not logged is forgotten.
    pub fn log_failed(&mut self, durable: i64, seq: &mut Sequencer) {
        if matches!(self.state, State::Looking) {
            return;
        }
        tracing::error!(
            durable = format!("0x{durable:x}"),
            "the txn log failed: leaving the role"
        );
        self.uncommitted.retain(|z, _| *z <= durable);
        self.look(seq);
    }

    /// The own txn log is durable up to `zxid`.
    pub fn durable(&mut self, zxid: i64, seq: &mut Sequencer) {
        match &mut self.state {
            State::Leading { leader, .. } => {
                let a = leader.own_durable(zxid);
                self.leader_actions(a, seq);
            }
            State::Following { learner, .. } => {
                let a = learner.durable(zxid);
                self.learner_actions(a, seq);
            }
            State::Looking => {}
        }
    }

    /// A leader's new txns: proposed to the learners (the sequencer logs
    /// them itself).
    pub fn propose(&mut self, txns: &[(Txn, TxnDigest)], seq: &mut Sequencer) {
        let now = ms(self.started);
        for (t, d) in txns {
            let State::Leading { leader, .. } = &mut self.state else {
                return;
            };
            let data = crate::txnlog::marshall_entry(t, Some(d));
            match leader.propose(t.hdr.zxid, data, now) {
                Ok(a) => self.leader_actions(a, seq),
                Err(e) => {
                    tracing::error!(error = %e, zxid = format!("0x{:x}", t.hdr.zxid), "cannot propose; leaving leadership");
                    self.look(seq);
                    return;
                }
            }
        }
    }

    /// A learner's forwards from the sequencer go to the leader.
    pub fn forward(&mut self, seq: &mut Sequencer) {
        let fw = seq.take_forwards();
        if fw.is_empty() {
            return;
        }
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
                } => learner.forward(&ForwardedRequest {
                    session_id: session,
                    cxid,
                    op,
                    request: body,
                    authinfo: Some(auth),
                }),
                Forward::Revalidate { session, timeout } => learner.revalidate(session, timeout),
            });
        }
        self.learner_actions(actions, seq);
    }

    /// Writes an epoch file. A failure is fatal to the role, as in
    /// ZooKeeper (`setAcceptedEpoch`/`setCurrentEpoch` throw, and the peer
    /// goes back to LOOKING): the caller leaves leading or following
    /// before anything acknowledges the epoch, and the epoch kept in
    /// memory stays the one on disk.
    fn persist(&mut self, name: &str, e: i64) -> Result<(), crate::storage::StorageError> {
        epochs::write(&self.dirs, name, e)?;
        if name == epochs::CURRENT {
            self.epochs.current = e;
        } else {
            self.epochs.accepted = e;
        }
        Ok(())
    }

    /// Carries out a `Persist*Epoch` action; on failure goes LOOKING and
    /// says so (`false`: the actions after it must not run).
    fn persist_or_look(&mut self, name: &str, e: i64, seq: &mut Sequencer) -> bool {
        match self.persist(name, e) {
            Ok(()) => true,
            Err(err) => {
                tracing::error!(
                    epoch = e,
                    error = %err,
                    "cannot persist {name}; leaving the role without acknowledging the epoch, standing aside in elections until it can be written"
                );
                self.epochs_unwritable = true;
                self.look(seq);
                false
            }
        }
    }

    /// Back to LOOKING: the sequencer stops serving and forgets what was
    /// not committed; the election starts again.
    fn look(&mut self, seq: &mut Sequencer) {
        let was_leading = matches!(self.state, State::Leading { .. });
        match std::mem::replace(&mut self.state, State::Looking) {
            State::Leading { leader, links } => {
                for l in links.values() {
                    l.close();
                }
                // The leader kept the committed log while it led.
                self.recent = leader.into_committed_log();
            }
            State::Following { link, .. } => {
                if let Some(l) = link {
                    l.close();
                }
            }
            State::Looking => {}
        }
        if let Some(stop) = self.listener_stop.take() {
            stop.stop();
        }
        self.awaiting_snapshot = false;
        // The election must see the whole logged history, as ZooKeeper
        // reloads its database from disk here: a txn a quorum logged may
        // have been committed and acknowledged. A leader's tree has every
        // txn it proposed; a learner applies what it logged and never
        // saw committed. None of it is published until a leader commits
        // it (or TRUNC takes it back).
        for (zxid, data) in std::mem::take(&mut self.uncommitted) {
            match crate::txnlog::decode_entry(&data) {
                Ok((t, _)) if t.hdr.zxid > seq.tree().last_zxid => {
                    seq.apply_committed(&t, super::now_ms());
                    self.remember(zxid, data);
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "a logged txn does not decode"),
            }
        }
        // Their events and answers are not for clients: no quorum
        // committed them yet.
        let _ = seq.take();
        self.committed = self.published.last_zxid;
        self.unpublished_commits.clear();
        seq.set_role(Role::NotServing, 0);
        tracing::info!("LOOKING");
        let now = ms(self.started);
        self.looking_since = now;
        // A leader held its quorum port until now: it may lead again.
        if was_leading && !self.epochs_unwritable {
            self.stand_aside = false;
            self.election.set_stand_aside(false, now);
        } else {
            self.check_quorum_port();
        }
        let a = self
            .election
            .look(seq.tree().last_zxid, self.epochs.current, now);
        self.election_actions(a, seq.tree());
    }

    fn election_actions(&mut self, actions: Vec<Action>, tree: &Tree) {
        for a in actions {
            match a {
                Action::Send { to, msg } => self.peers.send(to, msg.encode()),
                Action::Decided { state, vote, .. } => {
                    tracing::info!(
                        leader = vote.leader,
                        zxid = format!("0x{:x}", vote.zxid),
                        peer_epoch = vote.peer_epoch,
                        ms = ms(self.started),
                        "{}",
                        match state {
                            ServerState::Leading => "LEADING",
                            ServerState::Following => "FOLLOWING",
                            ServerState::Observing => "OBSERVING",
                            ServerState::Looking => "LOOKING",
                        }
                    );
                    match state {
                        ServerState::Leading => self.lead(tree),
                        ServerState::Following | ServerState::Observing => {
                            self.follow(vote.leader, tree.last_zxid, false)
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
        if self.recent.len() >= DEFAULT_COMMIT_LOG_COUNT {
            self.recent.pop_front();
        }
        self.recent.push_back((zxid, data));
    }

    /// Before an election: a server that cannot lead (see
    /// [`QuorumPeer::can_lead`]) stands aside, so that it does not win an
    /// election it cannot serve.
    fn check_quorum_port(&mut self) {
        let now = ms(self.started);
        self.last_probe = now;
        let free = self.can_lead();
        if !free && !self.stand_aside {
            tracing::warn!(
                addr = %self.s.quorum_listen,
                epochs_unwritable = self.epochs_unwritable,
                "this server cannot lead: standing aside in this election so that another member leads"
            );
        }
        self.stand_aside = !free;
        self.election.set_stand_aside(!free, now);
    }

    /// Whether this server could lead now: its epoch files can be
    /// written (after a failure, they are written again with the values
    /// they hold) and its quorum port bound.
    fn can_lead(&mut self) -> bool {
        if self.epochs_unwritable {
            let (a, c) = (self.epochs.accepted, self.epochs.current);
            let r = epochs::write(&self.dirs, epochs::ACCEPTED, a)
                .and_then(|_| epochs::write(&self.dirs, epochs::CURRENT, c));
            match r {
                Ok(()) => {
                    tracing::info!("the epoch files can be written again");
                    self.epochs_unwritable = false;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "epoch files still not writable");
                    return false;
                }
            }
        }
        self.quorum_port_free()
    }

    /// Whether the quorum port can be bound now (bound and let go, never
    /// listened on). An observer never leads: for it, always.
    fn quorum_port_free(&self) -> bool {
        if self.s.observer {
            return true;
        }
        match shards::listen::probe(self.s.quorum_listen) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(addr = %self.s.quorum_listen, error = %e, "quorum port probe");
                false
            }
        }
    }

    fn lead(&mut self, tree: &Tree) {
        // ZooKeeper's Leader binds its quorum port first and gives up
        // leading when it cannot. Here the server then stands aside in
        // the next election, rather than win it again.
        let listener = match super::peers::bind(self.s.quorum_listen) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(
                    addr = %self.s.quorum_listen,
                    error = %e,
                    "cannot bind the quorum port: not leading; standing aside so that another member leads"
                );
                self.stand_aside = true;
                self.election.set_stand_aside(true, ms(self.started));
                self.relook = true;
                return;
            }
        };
        let last_zxid = tree.last_zxid;
        // Its whole history is what it leads with: a SNAP sends it.
        self.snap_base = Arc::new(tree.clone());
        self.unpublished_commits.clear();
        let mut ls = LeaderSettings::new(self.s.tick_ms, self.s.init_limit, self.s.sync_limit);
        ls.config_servers = self.s.config_servers.clone();
        ls.snapshot_size_factor = self.s.snapshot_size_factor;
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
            Box::new(DiskLog(self.dirs.clone())),
            ls,
        );
        let stop = Rc::new(Stop::default());
        self.listener_stop = Some(stop.clone());
        self.spawn_listener(listener, stop);
        let a = leader.start(ms(self.started));
        self.state = State::Leading {
            leader: Box::new(leader),
            links: HashMap::new(),
        };
        // Actions before any learner: epochs to persist at most.
        self.pending_leader_actions(a);
    }

    fn pending_leader_actions(&mut self, a: Vec<LeaderAction>) {
        for x in a {
            let r = match x {
                LeaderAction::PersistAcceptedEpoch(e) => self.persist(epochs::ACCEPTED, e),
                LeaderAction::PersistCurrentEpoch(e) => self.persist(epochs::CURRENT, e),
                other => {
                    tracing::debug!(?other, "leader action before any learner");
                    Ok(())
                }
            };
            if let Err(err) = r {
                // The sequencer is not at hand here: LOOKING at the next
                // tick, and nothing after the failed write is done.
                tracing::error!(error = %err, "cannot persist an epoch; leaving leadership, standing aside in elections until it can be written");
                self.epochs_unwritable = true;
                self.relook = true;
                return;
            }
        }
    }

    fn follow(&mut self, leader: Sid, last_zxid: i64, retry: bool) {
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
        let link = Rc::new(Link::default());
        let since = match &self.state {
            // A retry keeps the first attempt's clock.
            State::Following {
                leader: l, since, ..
            } if *l == leader => *since,
            _ => ms(self.started),
        };
        self.state = State::Following {
            learner: Box::new(learner),
            link: Some(link.clone()),
            generation: g,
            leader,
            since,
            heard: false,
        };
        let Some(addr) = self.s.quorum_addrs.get(&leader).cloned() else {
            tracing::error!(leader, "no quorum address for the leader");
            return;
        };
        let inbox = self.inbox.clone();
        let max = self.s.max_buffer;
        let limit = Duration::from_millis(self.s.tick_ms * self.s.init_limit as u64);
        glommio::spawn_local(async move {
            if retry {
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
            let why = leader_conn(&addr, g, link.clone(), inbox.clone(), max, limit).await;
            link.closed.set(true);
            inbox.push(super::Input::Quorum(QuorumInput::LeaderDown(g, why)));
        })
        .detach();
    }

    fn spawn_listener(&self, listener: TcpListener, stop: Rc<Stop>) {
        let inbox = self.inbox.clone();
        let next = self.next_handle.clone();
        let max = self.s.max_buffer;
        glommio::spawn_local(async move {
            while !stop.stopped.get() {
                let accepted =
                    futures_lite::future::or(async { Some(listener.accept().await) }, async {
                        stop.wake.ready().await;
                        None
                    })
                    .await;
                let Some(r) = accepted else { break };
                let stream = match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "quorum port accept failed");
                        continue;
                    }
                };
                if stop.stopped.get() {
                    break;
                }
                let h = next.get();
                next.set(h + 1);
                let link = Rc::new(Link::default());
                inbox.push(super::Input::LearnerLink(h, link.clone()));
                inbox.push(super::Input::Quorum(QuorumInput::LearnerUp(h)));
                let inbox = inbox.clone();
                glommio::spawn_local(async move {
                    let why = pump(
                        stream,
                        link.clone(),
                        max,
                        |p| {
                            inbox.push(super::Input::Quorum(QuorumInput::FromLearner(h, p)));
                            None
                        },
                        |_| {},
                    )
                    .await;
                    tracing::debug!(handle = h, why, "learner connection closed");
                    link.closed.set(true);
                    inbox.push(super::Input::Quorum(QuorumInput::LearnerDown(h)));
                })
                .detach();
            }
        })
        .detach();
    }

    /// The send side of a new learner connection.
    pub fn learner_link(&mut self, h: Handle, link: Rc<Link>) {
        if let State::Leading { links, .. } = &mut self.state {
            links.insert(h, link);
        } else {
            link.close();
        }
    }

    fn leader_actions(&mut self, actions: Vec<LeaderAction>, seq: &mut Sequencer) {
        let mut queue: std::collections::VecDeque<LeaderAction> = actions.into();
        while let Some(a) = queue.pop_front() {
            let State::Leading { links, .. } = &self.state else {
                return;
            };
            let link_to = |to: &Handle| links.get(to).cloned();
            match a {
                LeaderAction::Send { to, pkt } => {
                    if let Some(l) = link_to(&to) {
                        l.send(pkt.encode().freeze());
                    }
                }
                LeaderAction::SendSnapshot { to } => {
                    if let Some(l) = link_to(&to) {
                        let mut b = BytesMut::new();
                        let tree = self.committed_tree();
                        crate::snapshot::write_sync_snapshot(&mut b, &tree, &seq.sessions());
                        wire::write_snap_signature(&mut b);
                        l.send(b.freeze());
                    }
                }
                LeaderAction::Close { to, why } => {
                    tracing::warn!(handle = to, why = %why, "dropping a learner");
                    if let State::Leading { links, .. } = &mut self.state {
                        if let Some(l) = links.remove(&to) {
                            l.close();
                        }
                    }
                }
                LeaderAction::PersistAcceptedEpoch(e) => {
                    if !self.persist_or_look(epochs::ACCEPTED, e, seq) {
                        return;
                    }
                }
                LeaderAction::PersistCurrentEpoch(e) => {
                    if !self.persist_or_look(epochs::CURRENT, e, seq) {
                        return;
                    }
                }
                // The sequencer logs its own txns.
                LeaderAction::Log { .. } | LeaderAction::ReadLog { .. } => {}
                LeaderAction::Commit { zxid, data } => {
                    self.committed = self.committed.max(zxid);
                    self.unpublished_commits.push_back((zxid, data));
                }
                LeaderAction::Established { epoch } => {
                    tracing::info!(epoch, "leading: established");
                    self.election.update_election_vote(epoch);
                    self.committed = self.committed.max(seq.tree().last_zxid);
                    seq.set_role(Role::Leader, epoch);
                }
                LeaderAction::Request { from, req, .. } => {
                    if req.op == crate::jute::op::SYNC {
                        if let State::Leading { leader, .. } = &mut self.state {
                            queue.extend(leader.sync(from));
                        }
                    } else {
                        seq.handle_forwarded(
                            req.session_id,
                            req.cxid,
                            req.op,
                            &req.request,
                            req.authinfo.unwrap_or_default(),
                            super::now_ms(),
                        );
                    }
                }
                LeaderAction::Touch { touch, .. } => {
                    seq.touch_sessions([touch.session_id], super::now_ms())
                }
                LeaderAction::Revalidate {
                    from,
                    session_id,
                    timeout,
                } => {
                    let ok = seq.revalidate(session_id, timeout, super::now_ms());
                    if let State::Leading { leader, .. } = &mut self.state {
                        queue.extend(leader.revalidated(from, session_id, ok));
                    }
                }
                LeaderAction::StepDown { why } => {
                    tracing::warn!(?why, "leader stepping down");
                    self.look(seq);
                    return;
                }
            }
        }
    }

    fn learner_actions(&mut self, actions: Vec<LearnerAction>, seq: &mut Sequencer) {
        let mut queue: std::collections::VecDeque<LearnerAction> = actions.into();
        while let Some(a) = queue.pop_front() {
            let State::Following { link, .. } = &self.state else {
                return;
            };
            let link = link.clone();
            match a {
                LearnerAction::Send(p) => {
                    if let Some(l) = link {
                        l.send(p.encode().freeze());
                    }
                }
                LearnerAction::PersistAcceptedEpoch(e) => {
                    if !self.persist_or_look(epochs::ACCEPTED, e, seq) {
                        return;
                    }
                }
                LearnerAction::PersistCurrentEpoch(e) => {
                    if !self.persist_or_look(epochs::CURRENT, e, seq) {
                        return;
                    }
                }
                LearnerAction::LoadSnapshot { .. } => {
                    self.awaiting_snapshot = true;
                    self.recent.clear();
                }
                LearnerAction::Truncate { to } => {
                    while self.recent.back().is_some_and(|(z, _)| *z > to) {
                        self.recent.pop_back();
                    }
                    // The log core cuts the log; packets wait until it has.
                    self.truncating = Some(to);
                    self.to_log.push(ToLog::Truncate(to));
                }
                LearnerAction::ApplyUnlogged { zxid, data }
                | LearnerAction::Commit { zxid, data } => {
                    self.uncommitted.remove(&zxid);
                    match crate::txnlog::decode_entry(&data) {
                        Ok((t, _)) => {
                            seq.apply_committed(&t, super::now_ms());
                            self.committed = self.committed.max(t.hdr.zxid);
                            self.remember(zxid, data);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "a txn from the leader does not decode; leaving it");
                            self.look(seq);
                            return;
                        }
                    }
                }
                LearnerAction::TakeSnapshot => self.to_log.push(ToLog::Snapshot {
                    tree: Arc::new(seq.tree().clone()),
                    sessions: seq.sessions(),
                }),
                LearnerAction::Log { data, zxid } => match crate::txnlog::decode_entry(&data) {
                    Ok((t, d)) => {
                        self.uncommitted.insert(zxid, data.clone());
                        let d = d.unwrap_or(TxnDigest {
                            version: crate::digest::DIGEST_VERSION,
                            tree_digest: 0,
                        });
                        self.to_log.push(ToLog::Append(vec![(t, d)]));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a proposal does not decode; leaving the leader");
                        self.look(seq);
                        return;
                    }
                },
                LearnerAction::LeaderConfig(_) => {}
                LearnerAction::Established { epoch } => {
                    tracing::info!(epoch, "following: in sync");
                    self.election.update_election_vote(epoch);
                    self.committed = self.committed.max(seq.tree().last_zxid);
                    let role = if self.s.observer {
                        Role::Observer
                    } else {
                        Role::Learner
                    };
                    seq.set_role(role, epoch);
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
                    if let Some(l) = link {
                        l.send(wire::ping_reply(&ping, &touches).encode().freeze());
                    }
                }
                LearnerAction::Revalidated { session_id, valid } => {
                    seq.revalidated(session_id, valid, super::now_ms())
                }
                LearnerAction::SyncDone => seq.sync_done(),
                LearnerAction::LostLeader { why } => {
                    tracing::warn!(why = %why, "lost the leader");
                    self.look(seq);
                    return;
                }
            }
        }
    }
}

/// A learner's connection to its leader: connects (retrying within
/// `initLimit`), then pumps. Returns why it ended.
async fn leader_conn(
    addr: &str,
    g: u64,
    link: Rc<Link>,
    inbox: Rc<Mailbox<super::Input>>,
    max: usize,
    limit: Duration,
) -> String {
    let deadline = std::time::Instant::now() + limit;
    let stream = loop {
        if link.closed.get() {
            return "closed before connecting".into();
        }
        let resolved = std::net::ToSocketAddrs::to_socket_addrs(addr)
            .ok()
            .and_then(|mut a| a.next());
        if let Some(sa) = resolved {
            match TcpStream::connect_timeout(sa, Duration::from_secs(1)).await {
                Ok(s) => break s,
                Err(e) => {
                    if std::time::Instant::now() >= deadline {
                        return format!("cannot connect to the leader at {addr}: {e}");
                    }
                }
            }
        } else if std::time::Instant::now() >= deadline {
            return format!("cannot resolve the leader's address {addr}");
        }
        glommio::timer::sleep(Duration::from_millis(100)).await;
    };
    inbox.push(super::Input::Quorum(QuorumInput::LeaderUp(g)));
    let snap_wait = Rc::new(Cell::new(false));
    let sw = snap_wait.clone();
    let inbox2 = inbox.clone();
    pump(
        stream,
        link,
        max,
        move |p| {
            if p.typ == pkt::SNAP {
                sw.set(true);
            }
            let zxid = p.zxid;
            inbox.push(super::Input::Quorum(QuorumInput::FromLeader(g, p)));
            sw.get().then_some(zxid)
        },
        move |(sessions, tree)| {
            snap_wait.set(false);
            inbox2.push(super::Input::Quorum(QuorumInput::Snapshot(
                g, sessions, tree,
            )));
        },
    )
    .await
}

/// The signature string that ends a SNAP's snapshot, as jute writes it.
const SIGNATURE: [u8; 14] = *b"\0\0\0\x0aBenWasHere";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads packets off `stream` (and, after a packet for which `on_packet`
/// returns a zxid, the snapshot and signature a SNAP brings) and writes
/// what `link` queues. Returns why it stopped.
async fn pump(
    mut stream: TcpStream,
    link: Rc<Link>,
    max: usize,
    mut on_packet: impl FnMut(QuorumPacket) -> Option<i64>,
    mut on_snapshot: impl FnMut((Vec<(i64, i32)>, Tree)),
) -> String {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut start = 0usize;
    let mut snapshot_at: Option<i64> = None;
    // How far the buffer was searched for the snapshot's signature.
    let mut scanned = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut wbuf: Vec<u8> = Vec::new();
    loop {
        // Whole packets (and a snapshot) already read.
        loop {
            if let Some(z) = snapshot_at {
                // Parse only once the signature that ends the snapshot may
                // be there: parsing a big tree on every read would hold
                // the core for seconds.
                let from = scanned.max(start);
                let Some(at) = find(&buf[from..], &SIGNATURE) else {
                    scanned = buf.len().saturating_sub(SIGNATURE.len());
                    break;
                };
                scanned = from + at + 1;
                match crate::snapshot::read_sync_snapshot(&buf[start..], z) {
                    Ok(Some((sessions, tree, used))) => {
                        match wire::decode_snap_signature(&buf[start + used..]) {
                            Ok(Some(sig)) => {
                                start += used + sig;
                                snapshot_at = None;
                                on_snapshot((sessions, tree));
                            }
                            Ok(None) => break,
                            Err(e) => return format!("bad snapshot signature: {e}"),
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return format!("bad snapshot from the leader: {e}"),
                }
                continue;
            }
            match wire::decode_with_limit(&buf[start..], max) {
                Ok(Some((p, used))) => {
                    start += used;
                    snapshot_at = on_packet(p);
                    scanned = start;
                }
                Ok(None) => break,
                Err(e) => return format!("bad packet: {e}"),
            }
        }
        if start > 0 && start == buf.len() {
            buf.clear();
            start = 0;
            scanned = 0;
        } else if start > 1 << 20 {
            buf.drain(..start);
            scanned = scanned.saturating_sub(start);
            start = 0;
        }
        // Queued output.
        wbuf.clear();
        let mut close = false;
        while let Some(b) = link.out.pop() {
            if b.is_empty() && link.closed.get() {
                close = true;
                break;
            }
            wbuf.extend_from_slice(&b);
        }
        if !wbuf.is_empty() {
            if let Err(e) = stream.write_all(&wbuf).await {
                return format!("write failed: {e}");
            }
        }
        if close {
            let _ = stream.close().await;
            return "closed".into();
        }
        let out = &link.out;
        let got = futures_lite::future::or(
            async {
                out.ready().await;
                None
            },
            async { Some(stream.read(&mut chunk).await) },
        )
        .await;
        match got {
            None => {}
            Some(Ok(0)) => return "closed by the peer".into(),
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Some(Err(e)) => return format!("read failed: {e}"),
        }
    }
}

/// The leader's txn log on disk, read while syncing a learner older than
/// the committed log (`ZKDatabase.getProposalsFromTxnLog`). It runs on the
/// sequencer's core, as a `LearnerHandler` thread reads it in ZooKeeper;
/// the size limit keeps it to a fraction of a snapshot's size.
struct DiskLog(Dirs);

impl TxnLogSource for DiskLog {
    fn read_from(&self, zxid: i64, size_limit: i64) -> TxnLogRead {
        match crate::storage::log_from(&self.0, zxid, size_limit) {
            Ok(l) => {
                tracing::info!(
                    from = format!("0x{zxid:x}"),
                    size = l.storage_size,
                    size_limit,
                    txns = l.txns.len(),
                    "read the txn log for a learner older than the committed log"
                );
                TxnLogRead {
                    first_zxid: l.first_zxid,
                    storage_size: l.storage_size,
                    txns: l.txns,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the txn log for a DIFF; sending a snapshot");
                TxnLogRead::default()
            }
        }
    }

    fn snapshot_size(&self) -> u64 {
        crate::storage::newest_snapshot_size(&self.0)
    }
}
