//! The zab core: an ensemble member's quorum sockets on their own
//! executor (the core map's `zab` role; by default on the log core's CPU).
//! It owns the election connections ([`Peers`]), the leader's quorum
//! listener and its learner links, and a learner's connection to its
//! leader (with its DNS lookups), and builds and parses SNAP snapshots.
//!
//! With `sslQuorum` or `portUnification` its connections are wrapped in
//! TLS ([`super::quorum_tls`]) before their first packet, both ways; with
//! `quorum.auth.enableSasl` they authenticate ([`super::quorum_auth`])
//! before it too.
//!
//! It decides nothing: the sequencer sends it the socket actions of the
//! [`crate::replica::Replica`] as [`ToZab`] commands, and it sends back the
//! socket events as [`PeerInput`]s, one channel each way, in order. The
//! sequencer side ([`QuorumLink`]) carries out the rest of the quorum
//! actions: it binds the quorum port itself (and hands the listener over),
//! probes it, and writes the epoch files and reads the txn log on glommio's
//! blocking pool.

use super::peers::{PeerSettings, Peers};
use super::port_slots::PortSlots;
use super::quorum_auth;
use super::quorum_tls::{self, LinkTls, PeerTlsSettings};
use super::stream::Stream;
use crate::data::tree::Tree;
use crate::quorum::election::ElectionSettings;
use crate::quorum::zab::leader::{Handle, TxnLogRead};
use crate::quorum::zab::wire::{self, pkt, QuorumPacket};
use crate::quorum::{Quorum, Sid};
use crate::replica::{Action, EpochKind, Input, PeerInput, QuorumConfig};
use crate::storage::{epochs, Dirs};
use bytes::{Bytes, BytesMut};
use glommio::channels::shared_channel::{ConnectedSender, SharedReceiver, SharedSender};
use glommio::net::TcpListener;
use shards::mailbox::Mailbox;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// What the quorum peer needs to know.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    pub me: Sid,
    pub quorum: Quorum,
    /// Whether this server is an observer.
    pub observer: bool,
    /// Every member's quorum addresses (`host:quorumPort`; several with
    /// `multiAddress`).
    pub quorum_addrs: HashMap<Sid, Vec<String>>,
    /// Where this server's quorum port listens (each of its addresses).
    pub quorum_listen: Vec<SocketAddr>,
    /// `multiAddress.reachabilityCheck*`: which of the leader's several
    /// addresses a learner dials.
    pub reach_check: super::dial::ReachCheck,
    /// `multiAddress.enabled`.
    pub multi_address: bool,
    pub peers: PeerSettings,
    pub election: ElectionSettings,
    /// The config bytes notifications carry (`QuorumVerifier.toString()`).
    pub config: Vec<u8>,
    /// The `server.N=` lines NEWLEADER carries.
    pub config_servers: String,
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit` (ticks; 0 = `init_limit`).
    pub connect_limit: u32,
    /// The longest buffer a quorum packet may carry (`jute.maxbuffer` +
    /// `zookeeper.jute.maxbuffer.extrasize`, `Config::quorum_max_buffer`).
    pub max_buffer: usize,
    /// `zookeeper.commitLogCount`: committed txns kept in memory for DIFF
    /// syncs (at least 500, as ZooKeeper's `ZKDatabase` enforces).
    pub commit_log_count: usize,
    /// `zookeeper.leaderConnectDelayDuringRetryMs` (default 100): a
    /// learner's pause between tries to connect to its leader.
    pub leader_connect_retry_ms: u64,
    /// `zookeeper.leader.maxConcurrentSnapSyncs`/`DiffSyncs`.
    pub sync_bounds: crate::quorum::zab::sync::SyncBounds,
    /// `readonlymode.enabled`: serve reads while cut off from a quorum.
    pub read_only_mode: bool,
    /// `zookeeper.snapshotSizeFactor`: a leader serves a DIFF from its
    /// txn log while the log is under this fraction of its newest
    /// snapshot's size (negative: never; 0: always).
    pub snapshot_size_factor: f64,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `standaloneEnabled`.
    pub standalone_enabled: bool,
    /// `syncEnabled` (`zookeeper.observer.syncEnabled`): observers log.
    pub sync_enabled: bool,
    /// `observerMasterPort`, and where a follower listens on it (its
    /// quorum addresses' hosts, or all interfaces with
    /// `quorumListenOnAllIPs`).
    pub observer_master_port: Option<u16>,
    pub observer_master_listen: Vec<SocketAddr>,
    /// The zoo.cfg this server started from: a reconfig writes the
    /// dynamic config file beside it and points it there (`None`: the
    /// built-in defaults, nothing to write).
    pub config_file: Option<std::path::PathBuf>,
    /// TLS on the links (`sslQuorum`, `portUnification`), when on.
    pub tls: Option<PeerTlsSettings>,
    /// SASL on the links (`quorum.auth.enableSasl`), when on.
    pub sasl: Option<crate::security::quorum_auth::QuorumSasl>,
}

impl QuorumSettings {
    /// What the replica needs of them (no addresses).
    pub fn replica(&self) -> QuorumConfig {
        QuorumConfig {
            me: self.me,
            quorum: self.quorum.clone(),
            observer: self.observer,
            election: self.election,
            config: self.config.clone(),
            config_servers: self.config_servers.clone(),
            tick_ms: self.tick_ms,
            init_limit: self.init_limit,
            sync_limit: self.sync_limit,
            connect_limit: self.connect_limit,
            read_only_mode: self.read_only_mode,
            snapshot_size_factor: self.snapshot_size_factor,
            reconfig_enabled: self.reconfig_enabled,
            standalone_enabled: self.standalone_enabled,
            multi_address: self.multi_address,
            sync_enabled: self.sync_enabled,
            observer_master_port: self.observer_master_port,
            commit_log_count: self.commit_log_count,
            sync_bounds: self.sync_bounds,
        }
    }
}

/// `QuorumPeer.setQuorumVerifier(qv, true)`: writes
/// `<zoo.cfg>.dynamic.<version hex>` and points zoo.cfg at it, each
/// written to a temporary file, fsynced and renamed over
/// (`AtomicFileWritingIdiom`).
fn write_dynamic_config(
    cfg: &std::path::Path,
    m: &crate::quorum::reconfig::Membership,
    me: Sid,
) -> std::io::Result<()> {
    use crate::quorum::reconfig::edit_static_config;
    let dynamic = std::path::PathBuf::from(format!("{}.dynamic.{:x}", cfg.display(), m.version));
    atomic_write(&dynamic, m.dynamic_file_text().as_bytes())?;
    let dynamic = std::fs::canonicalize(&dynamic)?;
    let text = std::fs::read_to_string(cfg)?;
    let erase_client = m.server(me).is_some_and(|s| s.client.is_some());
    let edited = edit_static_config(&text, &dynamic.display().to_string(), erase_client);
    atomic_write(cfg, edited.as_bytes())?;
    tracing::info!(file = %dynamic.display(), "dynamic config written");
    Ok(())
}

/// Writes `path.tmp`, fsyncs it, renames it over `path` and fsyncs the
/// directory.
fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = std::path::PathBuf::from(format!("{}.tmp", path.display()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

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

/// Bytes being made off the executor (a SNAP's snapshot).
type Later = Pin<Box<dyn Future<Output = Bytes>>>;

/// What a connection writes, in order.
enum Out {
    Now(Bytes),
    /// Written once ready; what is queued after it waits.
    Later(Later),
}

/// One quorum-port connection's send side.
#[derive(Default)]
pub struct Link {
    out: Mailbox<Out>,
    closed: Cell<bool>,
}

impl Link {
    fn send(&self, b: Bytes) {
        if !self.closed.get() {
            self.out.push(Out::Now(b));
        }
    }
    fn send_later(&self, f: Later) {
        if !self.closed.get() {
            self.out.push(Out::Later(f));
        }
    }
    fn close(&self) {
        self.closed.set(true);
        self.out.push(Out::Now(Bytes::new()));
    }
}

/// A command for the zab core.
pub enum ToZab {
    /// The socket actions of one step of the replica, in order (one
    /// message a step: each message can cost the zab core a wake-up).
    Acts(Vec<Action>),
    /// Accept learners on this quorum port (bound by the sequencer).
    Listen(Vec<std::net::TcpListener>),
    /// A reconfig's members: their quorum and election addresses.
    Members {
        quorum: HashMap<Sid, Vec<String>>,
        election: HashMap<Sid, Vec<String>>,
    },
}

/// Runs the zab core until the sequencer goes away. An election port that
/// cannot be bound ends the process with
/// [`super::UNABLE_TO_BIND_QUORUM_PORT`], as ZooKeeper's Listener does.
pub async fn run(s: QuorumSettings, cmds: SharedReceiver<ToZab>, events: SharedSender<PeerInput>) {
    let tls = LinkTls::start(s.tls.clone());
    // An exchange is bounded as ZooKeeper's learner socket is (initLimit).
    let sasl = quorum_auth::start(
        s.sasl.clone(),
        s.max_buffer,
        Duration::from_millis(s.tick_ms * u64::from(s.init_limit)),
    );
    // With zookeeper.quorumCnxnTimeoutMs, an election connection's SASL
    // exchange is bounded by it, as ZooKeeper's election sockets' reads are.
    let election_sasl = match s.peers.quorum_cnxn_timeout {
        Some(t) => quorum_auth::start(s.sasl.clone(), s.max_buffer, t),
        None => sasl.clone(),
    };
    let peers = match Peers::start(s.peers.clone(), tls.clone(), election_sasl).await {
        Ok(p) => p,
        Err(e) => {
            // A server that cannot take part in elections must not linger
            // half alive.
            tracing::error!("{e}; exiting");
            std::process::exit(super::UNABLE_TO_BIND_QUORUM_PORT);
        }
    };
    let inbox: Rc<Mailbox<PeerInput>> = Rc::new(Mailbox::new());
    {
        let peers = peers.clone();
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            loop {
                let (from, m) = peers.recv().await;
                inbox.push(PeerInput::Election(from, m));
            }
        })
        .detach();
    }
    {
        // The events go out in the order they happened.
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            let tx = events.connect().await;
            loop {
                inbox.ready().await;
                while let Some(e) = inbox.pop() {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            }
        })
        .detach();
    }
    let max_connections = s.peers.max_connections;
    let mut io = QuorumIo {
        s,
        tls,
        sasl,
        peers,
        inbox,
        links: Default::default(),
        next_handle: Rc::new(Cell::new(1)),
        learner_slots: PortSlots::new("quorum", max_connections),
        observer_slots: PortSlots::new("observer master", max_connections),
        listener_stop: Vec::new(),
        leader: None,
    };
    let cmds = cmds.connect().await;
    while let Some(c) = cmds.recv().await {
        match c {
            ToZab::Acts(acts) => {
                for a in acts {
                    if let Some(a) = io.act(a) {
                        tracing::error!(action = ?a, "not an action for the zab core");
                    }
                }
            }
            ToZab::Listen(l) => io.listen(l),
            ToZab::Members { quorum, election } => {
                io.s.quorum_addrs = quorum;
                io.peers.set_addresses(election);
            }
        }
    }
}

/// The sequencer's side of the quorum: forwards the socket actions to the
/// zab core, and carries out the others (the quorum port, epoch files, the
/// txn log read for a DIFF), answering on the sequencer's mailbox.
pub struct QuorumLink {
    me: Sid,
    /// zoo.cfg, which a reconfig points at its new dynamic config file.
    config_file: Option<std::path::PathBuf>,
    observer: bool,
    quorum_listen: Vec<SocketAddr>,
    dirs: Dirs,
    inbox: Rc<Mailbox<Input>>,
    to_zab: ConnectedSender<ToZab>,
    /// Socket actions not yet sent to the zab core ([`QuorumLink::flush`]).
    batch: Vec<Action>,
}

impl QuorumLink {
    pub fn new(
        s: &QuorumSettings,
        dirs: Dirs,
        inbox: Rc<Mailbox<Input>>,
        to_zab: ConnectedSender<ToZab>,
    ) -> QuorumLink {
        QuorumLink {
            me: s.me,
            config_file: s.config_file.clone(),
            observer: s.observer,
            quorum_listen: s.quorum_listen.clone(),
            dirs,
            inbox,
            to_zab,
            batch: Vec::new(),
        }
    }

    /// Sends the socket actions gathered so far to the zab core, as one
    /// message. Err: the zab core has stopped.
    pub async fn flush(&mut self) -> Result<(), ()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let acts = std::mem::take(&mut self.batch);
        self.to_zab.send(ToZab::Acts(acts)).await.map_err(|_| ())
    }

    /// Carries out one of the replica's quorum actions (the socket ones
    /// are gathered until [`QuorumLink::flush`], or until an action
    /// carried out here); hands back any other. Err: the zab core has
    /// stopped.
    pub async fn act(&mut self, a: Action) -> Result<Option<Action>, ()> {
        let socket = matches!(
            a,
            Action::SendElection { .. }
                | Action::ToLearner { .. }
                | Action::CloseLearner { .. }
                | Action::SendSnapshot { .. }
                | Action::ToLeader { .. }
                | Action::CloseLeader { .. }
                | Action::ConnectLeader { .. }
                | Action::StopListening
                | Action::ListenObservers
        );
        if socket {
            self.batch.push(a);
            return Ok(None);
        }
        self.flush().await?;
        match a {
            Action::Listen => {
                let bound: Result<Vec<_>, String> = self
                    .quorum_listen
                    .iter()
                    .map(|a| {
                        shards::listen::peer_listener(*a, 1024).map_err(|e| format!("{a}: {e}"))
                    })
                    .collect();
                let r = match bound {
                    Ok(l) => {
                        if self.to_zab.send(ToZab::Listen(l)).await.is_err() {
                            return Err(());
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                };
                self.inbox.push(Input::Listening(r));
            }
            Action::PersistEpoch { kind, epoch } => {
                let dirs = self.dirs.clone();
                let inbox = self.inbox.clone();
                glommio::spawn_local(async move {
                    let result = glommio::executor()
                        .spawn_blocking(move || {
                            epochs::write(&dirs, epoch_file(kind), epoch).map_err(|e| e.to_string())
                        })
                        .await;
                    inbox.push(Input::EpochPersisted {
                        kind,
                        epoch,
                        result,
                    });
                })
                .detach();
            }
            Action::ReadLog { to, from, factor } => {
                let dirs = self.dirs.clone();
                let inbox = self.inbox.clone();
                glommio::spawn_local(async move {
                    let (size_limit, read) = glommio::executor()
                        .spawn_blocking(move || read_log(&dirs, from, factor))
                        .await;
                    inbox.push(Input::LogRead {
                        to,
                        size_limit,
                        read,
                    });
                })
                .detach();
            }
            Action::Reconfigured { membership } => {
                let me = self.me;
                // As the replica: a server left out keeps its type.
                let q = membership.quorum();
                if q.is_voter(me) || q.is_observer(me) {
                    self.observer = q.is_observer(me);
                }
                let members = ToZab::Members {
                    quorum: membership.quorum_addrs(),
                    election: membership.election_addrs(me),
                };
                if self.to_zab.send(members).await.is_err() {
                    return Err(());
                }
                if let Some(cfg) = self.config_file.clone() {
                    glommio::spawn_local(async move {
                        let r = glommio::executor()
                            .spawn_blocking(move || write_dynamic_config(&cfg, &membership, me))
                            .await;
                        if let Err(e) = r {
                            tracing::error!(error = %e, "cannot write the dynamic config file; a restart reads the previous config");
                        }
                    })
                    .detach();
                }
            }
            Action::ProbeCanLead { rewrite_epochs } => match rewrite_epochs {
                None => self.inbox.push(Input::CanLead(
                    self.observer || ports_free(&self.quorum_listen),
                )),
                Some(e) => {
                    let dirs = self.dirs.clone();
                    let inbox = self.inbox.clone();
                    let (observer, addr) = (self.observer, self.quorum_listen.clone());
                    glommio::spawn_local(async move {
                        // After a failure, the epoch files are written
                        // again with the values they hold.
                        let r = glommio::executor()
                            .spawn_blocking(move || {
                                epochs::write(&dirs, epochs::ACCEPTED, e.accepted)
                                    .and_then(|_| epochs::write(&dirs, epochs::CURRENT, e.current))
                                    .map_err(|e| e.to_string())
                            })
                            .await;
                        let free = match r {
                            Ok(()) => observer || ports_free(&addr),
                            Err(e) => {
                                tracing::debug!(error = %e, "epoch files still not writable");
                                false
                            }
                        };
                        inbox.push(Input::CanLead(free));
                    })
                    .detach();
                }
            },
            other => return Ok(Some(other)),
        }
        Ok(None)
    }
}

/// The quorum sockets, on the zab core. See the module doc.
struct QuorumIo {
    s: QuorumSettings,
    tls: quorum_tls::Shared,
    sasl: quorum_auth::Shared,
    peers: Peers,
    inbox: Rc<Mailbox<PeerInput>>,
    /// The leader's learner connections.
    links: Rc<RefCell<HashMap<Handle, Rc<Link>>>>,
    next_handle: Rc<Cell<Handle>>,
    /// The connections of the quorum port (as leader) and of the observer
    /// master port (as follower), each bounded on its own.
    learner_slots: Rc<PortSlots>,
    observer_slots: Rc<PortSlots>,
    /// The leader's quorum listeners' stop switches (one a listener: a
    /// switch wakes one waiter).
    listener_stop: Vec<Rc<Stop>>,
    /// A learner's leader connection and its generation.
    leader: Option<(u64, Rc<Link>)>,
}

impl QuorumIo {
    /// Carries out one socket action; hands back any other.
    fn act(&mut self, a: Action) -> Option<Action> {
        match a {
            Action::SendElection { to, msg } => self.peers.send(to, msg),
            Action::ToLearner { to, pkt } => {
                if let Some(l) = self.links.borrow().get(&to) {
                    l.send(pkt.encode().freeze());
                }
            }
            Action::CloseLearner { to } => {
                if let Some(l) = self.links.borrow_mut().remove(&to) {
                    l.close();
                }
            }
            Action::SendSnapshot {
                to,
                base,
                commits,
                sessions,
            } => {
                if let Some(l) = self.links.borrow().get(&to) {
                    let built = glommio::executor().spawn_blocking(move || {
                        let tree = crate::replica::committed_tree(&base, &commits);
                        let mut b = BytesMut::new();
                        crate::storage::snapshot::write_sync_snapshot(&mut b, &tree, &sessions);
                        wire::write_snap_signature(&mut b);
                        b.freeze()
                    });
                    l.send_later(Box::pin(built));
                }
            }
            Action::ToLeader { generation, pkt } => {
                if let Some((g, l)) = &self.leader {
                    if *g == generation {
                        l.send(pkt.encode().freeze());
                    }
                }
            }
            Action::CloseLeader { generation } => {
                if self.leader.as_ref().is_some_and(|(g, _)| *g == generation) {
                    if let Some((_, l)) = self.leader.take() {
                        l.close();
                    }
                }
            }
            Action::ConnectLeader {
                generation,
                sid,
                delay_ms,
                limit_ms,
                master_port,
            } => self.connect_leader(generation, sid, delay_ms, limit_ms, master_port),
            Action::StopListening => {
                for stop in self.listener_stop.drain(..) {
                    stop.stop();
                }
                for (_, l) in self.links.borrow_mut().drain() {
                    l.close();
                }
            }
            Action::ListenObservers => self.listen_observers(),
            other => return Some(other),
        }
        None
    }

    /// A follower's observer master port, on each of its addresses, until
    /// `StopListening`. The port may still be held for a moment by the
    /// listener of a leadership just left (it lets go on its own
    /// executor turn): the bind is tried again every 200 ms for 5 s.
    fn listen_observers(&mut self) {
        for addr in self.s.observer_master_listen.clone() {
            let stop = Rc::new(Stop::default());
            self.listener_stop.push(stop.clone());
            let accept = self.acceptor(&self.observer_slots);
            glommio::spawn_local(async move {
                let mut tries = 0;
                let listener = loop {
                    if stop.stopped.get() {
                        return;
                    }
                    match shards::listen::peer_listener(addr, 1024) {
                        Ok(l) => break l,
                        Err(e) if tries < 25 => {
                            tracing::debug!(%addr, error = %e, "observer master port busy; trying again");
                            tries += 1;
                            glommio::timer::sleep(Duration::from_millis(200)).await;
                        }
                        // ZooKeeper's follower leaves its leader here; this
                        // one goes on following, and its observers sync
                        // from another.
                        Err(e) => {
                            tracing::error!(%addr, error = %e, "cannot bind the observer master port; observers cannot sync from this follower");
                            return;
                        }
                    }
                };
                if stop.stopped.get() {
                    return;
                }
                tracing::info!(%addr, "serving observers (observerMasterPort)");
                use std::os::fd::{FromRawFd, IntoRawFd};
                // SAFETY: the fd comes from a listening socket we own and give up.
                let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
                accept.run(listener, stop).await;
            })
            .detach();
        }
    }

    /// Accepts learners on each of `ls` until `StopListening`.
    fn listen(&mut self, ls: Vec<std::net::TcpListener>) {
        use std::os::fd::{FromRawFd, IntoRawFd};
        for old in self.listener_stop.drain(..) {
            old.stop();
        }
        for l in ls {
            // SAFETY: the fd comes from a listening socket we own and give up.
            let listener = unsafe { TcpListener::from_raw_fd(l.into_raw_fd()) };
            let stop = Rc::new(Stop::default());
            self.listener_stop.push(stop.clone());
            self.spawn_listener(listener, stop);
        }
    }

    fn connect_leader(
        &mut self,
        g: u64,
        leader: Sid,
        delay_ms: u64,
        limit_ms: u64,
        master_port: Option<u16>,
    ) {
        if let Some((_, old)) = self.leader.take() {
            old.close();
        }
        let Some(mut addrs) = self.s.quorum_addrs.get(&leader).cloned() else {
            tracing::error!(leader, "no quorum address for the leader");
            return;
        };
        if let Some(port) = master_port {
            // An observer master: the member's quorum hosts at the
            // observer's own observerMasterPort (QuorumPeer.updateObserverMasterList).
            addrs = addrs
                .iter()
                .map(|a| crate::quorum::reconfig::with_port(a, port))
                .collect();
        }
        let link = Rc::new(Link::default());
        self.leader = Some((g, link.clone()));
        let inbox = self.inbox.clone();
        let max = self.s.max_buffer;
        let limit = Duration::from_millis(limit_ms);
        let sec = (self.tls.clone(), self.sasl.clone());
        let check = self.s.reach_check;
        let retry = Duration::from_millis(self.s.leader_connect_retry_ms);
        glommio::spawn_local(async move {
            if delay_ms > 0 {
                glommio::timer::sleep(Duration::from_millis(delay_ms)).await;
            }
            let to = LeaderAt {
                addrs,
                check,
                retry,
            };
            let why = leader_conn(&to, &sec, g, link.clone(), inbox.clone(), max, limit).await;
            link.closed.set(true);
            inbox.push(PeerInput::LeaderDown(g, why));
        })
        .detach();
    }

    fn spawn_listener(&self, listener: TcpListener, stop: Rc<Stop>) {
        glommio::spawn_local(self.acceptor(&self.learner_slots).run(listener, stop)).detach();
    }

    fn acceptor(&self, slots: &Rc<PortSlots>) -> Acceptor {
        Acceptor {
            inbox: self.inbox.clone(),
            next: self.next_handle.clone(),
            links: self.links.clone(),
            max: self.s.max_buffer,
            tls: self.tls.clone(),
            sasl: self.sasl.clone(),
            slots: slots.clone(),
        }
    }
}

/// What a listener needs to take learners in (the leader's quorum port, a
/// follower's observer master port): each accepted connection gets TLS
/// and SASL as configured, a handle, and its packets go to the replica.
#[derive(Clone)]
struct Acceptor {
    inbox: Rc<Mailbox<PeerInput>>,
    next: Rc<Cell<Handle>>,
    links: Rc<RefCell<HashMap<Handle, Rc<Link>>>>,
    max: usize,
    tls: quorum_tls::Shared,
    sasl: quorum_auth::Shared,
    /// The port's connections, bounded (`port_slots`).
    slots: Rc<PortSlots>,
}

impl Acceptor {
    /// Accepts until `stop`.
    async fn run(self, listener: TcpListener, stop: Rc<Stop>) {
        while !stop.stopped.get() {
            let accepted =
                futures_lite::future::or(async { Some(listener.accept().await) }, async {
                    stop.wake.ready().await;
                    None
                })
                .await;
            let Some(r) = accepted else { break };
            let tcp = match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "quorum port accept failed");
                    continue;
                }
            };
            if stop.stopped.get() {
                break;
            }
            let from = tcp.peer_addr().ok();
            let Some(place) = self.slots.admit(from) else {
                continue;
            };
            let Acceptor {
                inbox,
                next,
                links,
                max,
                tls,
                sasl,
                ..
            } = self.clone();
            let stop = stop.clone();
            // The handshake runs in the connection's own task: a slow
            // peer holds up no other.
            glommio::spawn_local(async move {
                let _ = tcp.set_nodelay(true);
                let handshake = async {
                    let mut stream = match quorum_tls::accepted(&tls, tcp).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(from = ?from, error = %e, "learner connection refused: TLS failed");
                            return None;
                        }
                    };
                    if let Err(e) = quorum_auth::serve(&sasl, &mut stream).await {
                        tracing::warn!(from = ?from, error = %e, "learner connection refused: SASL failed");
                        stream.close().await;
                        return None;
                    }
                    Some(stream)
                };
                // Displaced (None) or refused (Some(None)): the socket is
                // gone with the future.
                let Some(Some(stream)) = place.run(handshake).await else {
                    return;
                };
                if stop.stopped.get() {
                    stream.close().await;
                    return;
                }
                let h = next.get();
                next.set(h + 1);
                let link = Rc::new(Link::default());
                links.borrow_mut().insert(h, link.clone());
                inbox.push(PeerInput::LearnerUp(h));
                // Held once the replica answers it (it took its
                // FOLLOWERINFO or OBSERVERINFO); until then a newcomer may
                // displace it.
                let mut held = false;
                let served = place.run(pump(
                    stream,
                    link.clone(),
                    max,
                    |p| {
                        inbox.push(PeerInput::FromLearner(h, p));
                        None
                    },
                    |_| {},
                    || held = held || place.hold(),
                ));
                let why = served.await.unwrap_or_else(|| {
                    format!("displaced by a newer connection ({})", super::port_slots::KEY)
                });
                tracing::debug!(handle = h, why, "learner connection closed");
                link.closed.set(true);
                links.borrow_mut().remove(&h);
                inbox.push(PeerInput::LearnerDown(h));
            })
            .detach();
        }
    }
}

fn epoch_file(kind: EpochKind) -> &'static str {
    match kind {
        EpochKind::Accepted => epochs::ACCEPTED,
        EpochKind::Current => epochs::CURRENT,
    }
}

fn ports_free(addrs: &[SocketAddr]) -> bool {
    addrs.iter().all(|addr| match shards::listen::probe(*addr) {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(addr = %addr, error = %e, "quorum port probe");
            false
        }
    })
}

/// The leader's txn log on disk from the file holding `zxid` on, under the
/// size limit the newest snapshot's size and `factor` make
/// (`ZKDatabase.getProposalsFromTxnLog`); on the blocking pool.
fn read_log(dirs: &Dirs, zxid: i64, factor: f64) -> (i64, TxnLogRead) {
    let limit = crate::quorum::zab::sync::txnlog_size_limit(
        crate::storage::newest_snapshot_size(dirs),
        factor,
    );
    match crate::storage::log_from(dirs, zxid, limit) {
        Ok(l) => (
            limit,
            TxnLogRead {
                first_zxid: l.first_zxid,
                storage_size: l.storage_size,
                txns: l.txns,
            },
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the txn log for a DIFF; sending a snapshot");
            (limit, TxnLogRead::default())
        }
    }
}

/// A learner's connection to its leader: connects (retrying within
/// `initLimit`), then pumps. Returns why it ended.
/// Where a learner's leader is: its quorum addresses, and which of them
/// to dial.
struct LeaderAt {
    addrs: Vec<String>,
    check: super::dial::ReachCheck,
    /// `zookeeper.leaderConnectDelayDuringRetryMs`: the pause between
    /// tries.
    retry: Duration,
}

async fn leader_conn(
    to: &LeaderAt,
    (tls, sasl): &(quorum_tls::Shared, quorum_auth::Shared),
    g: u64,
    link: Rc<Link>,
    inbox: Rc<Mailbox<PeerInput>>,
    max: usize,
    limit: Duration,
) -> String {
    use super::dial;
    let deadline = std::time::Instant::now() + limit;
    // A refused handshake is logged once a connection attempt, not once a retry.
    let mut tls_warned = false;
    let (addr, stream) = loop {
        if link.closed.get() {
            return "closed before connecting".into();
        }
        let resolved = dial::resolve(&to.addrs).await;
        if !resolved.is_empty() {
            let dialed = dial::candidates(resolved, to.check).await;
            let connected = match dial::first_of(&dialed, Duration::from_secs(1)).await {
                Ok((addr, tcp)) => {
                    let _ = tcp.set_nodelay(true);
                    quorum_tls::connected(tls, tcp, quorum_tls::host_of(&addr))
                        .await
                        .map(|s| (addr.clone(), s))
                        .map_err(|e| {
                            if !std::mem::replace(&mut tls_warned, true) {
                                tracing::warn!(addr, error = %e, "TLS with the leader failed; retrying");
                            }
                            e.to_string()
                        })
                }
                Err(e) => Err(e.to_string()),
            };
            match connected {
                Ok(s) => break s,
                Err(e) => {
                    if std::time::Instant::now() >= deadline {
                        return format!(
                            "cannot connect to the leader at {}: {e}",
                            to.addrs.join("|")
                        );
                    }
                }
            }
        } else if std::time::Instant::now() >= deadline {
            return format!("cannot resolve the leader's address {}", to.addrs.join("|"));
        }
        glommio::timer::sleep(to.retry).await;
    };
    let addr = addr.as_str();
    let mut stream = stream;
    // A refused authentication is not retried: the learner looks for a
    // leader again, as ZooKeeper's does.
    if let Err(e) = quorum_auth::learn(sasl, &mut stream, quorum_tls::host_of(addr)).await {
        tracing::warn!(addr, error = %e, "SASL with the leader failed");
        stream.close().await;
        return format!("SASL with the leader at {addr} failed: {e}");
    }
    inbox.push(PeerInput::LeaderUp(g));
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
            inbox.push(PeerInput::FromLeader(g, p));
            sw.get().then_some(zxid)
        },
        move |(sessions, tree)| {
            snap_wait.set(false);
            inbox2.push(PeerInput::Snapshot(g, sessions, tree));
        },
        || {},
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
/// what `link` queues (calling `on_sent` after each write). Returns why it
/// stopped.
async fn pump(
    mut stream: Stream,
    link: Rc<Link>,
    max: usize,
    mut on_packet: impl FnMut(QuorumPacket) -> Option<i64>,
    mut on_snapshot: impl FnMut((Vec<(i64, i32)>, Tree)),
    mut on_sent: impl FnMut(),
) -> String {
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
                // Parsing a big tree takes a while: off the executor.
                let data = buf[start..].to_vec();
                let parsed = glommio::executor()
                    .spawn_blocking(move || {
                        crate::storage::snapshot::read_sync_snapshot(&data, z)
                            .map_err(|e| e.to_string())
                    })
                    .await;
                match parsed {
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
        while let Some(o) = link.out.pop() {
            match o {
                Out::Now(b) => {
                    if b.is_empty() && link.closed.get() {
                        close = true;
                        break;
                    }
                    wbuf.extend_from_slice(&b);
                }
                Out::Later(f) => {
                    if !wbuf.is_empty() {
                        if let Err(e) = stream.write_all(&wbuf).await {
                            return format!("write failed: {e}");
                        }
                        wbuf.clear();
                    }
                    let b = f.await;
                    wbuf.extend_from_slice(&b);
                }
            }
        }
        if !wbuf.is_empty() {
            if let Err(e) = stream.write_all(&wbuf).await {
                return format!("write failed: {e}");
            }
            on_sent();
        }
        if close {
            stream.close().await;
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
