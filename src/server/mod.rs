//! The glommio drivers: a thin shell of sockets, channels and timers around
//! the logic in `sequencer`, `request`, `watch` and `tree`.
//!
//! - `shard`: one executor per core of the core map's `shards`, each with
//!   its own SO_REUSEPORT listener, its connections and their watches.
//! - the sequencer executor feeds the [`crate::replica::Replica`] (which
//!   decides what is logged, published and acknowledged) and carries out
//!   its actions: txns to the log core, tree versions (with their replies
//!   and events) to the shards, and, in an ensemble, socket commands to
//!   the zab core.
//! - `quorum_peer`: the zab core (an ensemble member's quorum sockets);
//!   `peers` its election connections, `port_slots` the bound on what each
//!   peer port holds.
//! - `log`: the log core (group commit, snapshots, purge).

mod dial;
pub mod log;
pub mod peers;
mod port_slots;
mod quorum_auth;
pub mod quorum_peer;
pub mod quorum_tls;
pub mod shard;
mod stream;

use crate::data::acl::AclPolicy;
use crate::data::tree::Tree;
use crate::replica::msg::{Batch, FromLog, Item, ToLog, ToSeq};
use crate::replica::sequencer::SeqSettings;
use crate::replica::{Action, Input, Now, QuorumStart, Replica};
use crate::storage::{self, Dirs};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use shards::coremap::CoreMap;
use shards::exec::Role;
use shards::mailbox::Mailbox;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Everything the running server needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_addr: SocketAddr,
    pub core_map: CoreMap,
    pub tick_ms: i64,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    pub max_client_cnxns: u32,
    /// `zookeeper.maxCnxns`: all client connections; 0 is no limit.
    pub max_cnxns: u32,
    /// `zookeeper.clientTcpKeepAlive`: SO_KEEPALIVE on client sockets.
    pub client_tcp_keep_alive: bool,
    /// `globalOutstandingLimit`: server-wide, over every shard (the
    /// sequencer sums the shards' counts and tells them when to stop
    /// reading).
    pub global_outstanding_limit: usize,
    /// The RequestThrottler (`zookeeper.request_throttle_*`,
    /// `zookeeper.throttled_op_wait_time`).
    pub request_throttle: crate::replica::throttle::RequestThrottle,
    /// `zookeeper.largeRequestMaxBytes` (over every shard; each shard
    /// holds an equal share).
    pub large_request_max_bytes: u64,
    /// `zookeeper.largeRequestThreshold`; `None`: no request is large.
    pub large_request_threshold: Option<u64>,
    pub jute_max_buffer: usize,
    /// `zookeeper.nio.sessionlessCnxnTimeout` (ms).
    pub sessionless_timeout_ms: u64,
    pub policy: AclPolicy,
    /// `zookeeper.enableEagerACLCheck`.
    pub eager_acl_check: bool,
    pub extended_types: bool,
    /// `zookeeper.enforceQuota`: hard quota limits fail writes.
    pub enforce_quota: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `leaderServes`: with false, the leader takes no client connections.
    pub leader_serves: bool,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs` (0 = never).
    pub container_max_never_used_interval_ms: i64,
    /// Four-letter words allowed (`*` allows all).
    pub four_lw_whitelist: Vec<String>,
    /// The lines the `conf` four-letter word prints, in order (ZooKeeper's
    /// `dumpConf`); the values of `dataDirSize` and `dataLogSize` are
    /// measured when asked.
    pub conf_lines: Vec<(String, String)>,
    pub data_dir: String,
    pub data_log_dir: String,
    /// The log core's settings.
    pub log: log::LogSettings,
    /// `snapshot.trust.empty`.
    pub snapshot_trust_empty: bool,
    /// The `corral.*` operational settings (stall monitor, slow requests).
    pub ops: crate::ops::OpsSettings,
    /// In an ensemble: the quorum peer's settings (`None` standalone).
    pub quorum: Option<quorum_peer::QuorumSettings>,
    /// Set (by the signal thread) to shut down gracefully.
    pub stop: crate::ops::Stop,
    /// The AdminServer (`admin.enableServer`, default on).
    pub admin: Option<crate::admin::AdminSettings>,
    /// The bounds of the AdminServer's and `/metrics`' HTTP connections.
    pub http_limits: crate::admin::http::Limits,
    /// `corral.admin.showSessionIds`.
    pub admin_show_session_ids: bool,
    /// Where `/metrics` listens, when `metricsProvider.className` is
    /// ZooKeeper's PrometheusMetricsProvider.
    pub metrics_addr: Option<SocketAddr>,
    /// `metricsProvider.exportJvmInfo`: whether `/metrics` shows the
    /// process and executor figures.
    pub metrics_process: bool,
    /// The configuration text the server started from (`initial_configuration`).
    pub initial_config: String,
    /// The system properties (`system_properties`), sorted by name.
    pub properties: Vec<(String, String)>,
    /// TLS on the client ports, when `secureClientPort` or
    /// `client.portUnification` is set.
    pub client_tls: Option<ClientTls>,
    /// SASL on the client port and required authentication.
    pub sasl: crate::config::sasl::SaslConfig,
    /// `audit.enable`: the shards write the audit log
    /// ([`crate::protocol::audit`]).
    pub audit: bool,
    /// `zookeeper.connection_throttle_*`: the server's budget, which each
    /// shard takes its share of ([`crate::ops::throttle`]).
    pub connection_throttle: crate::ops::throttle::ThrottleSettings,
    /// `localSessionsEnabled`: in an ensemble, new sessions are local, and
    /// a new session costs the connection throttle's local weight.
    pub local_sessions: bool,
    /// `localSessionsUpgradingEnabled`: a local session that creates an
    /// ephemeral node becomes global.
    pub local_sessions_upgrading: bool,
}

/// The client ports' TLS.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The `ssl.*` settings (each shard rebuilds from them on a reload).
    pub settings: crate::config::tls::TlsSettings,
    /// Built at start-up: a bad store stops the server there.
    pub config: Arc<rustls::ServerConfig>,
    /// `secureClientPort`: a port that speaks TLS only.
    pub secure_addr: Option<SocketAddr>,
    /// `client.portUnification`: the plain port takes TLS too.
    pub unified: bool,
    /// `client.certReload`.
    pub reload: bool,
    /// `netty.server.outstandingHandshake.limit`: handshakes in progress
    /// at once, for the whole server (`None`: no limit).
    pub handshake_limit: Option<usize>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Spawn(#[from] shards::exec::SpawnError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("an executor stopped unexpectedly: {0}")]
    Join(String),
    #[error("cannot load the data directory: {0}")]
    Storage(#[from] storage::StorageError),
}

static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Monotonic ms since the server started (ZooKeeper's
/// `Time.currentElapsedTime`, as `cons` prints `lresp`).
pub(crate) fn elapsed_ms(at: std::time::Instant) -> i64 {
    at.saturating_duration_since(*EPOCH.get_or_init(std::time::Instant::now))
        .as_millis() as i64
}

pub(crate) use crate::ops::clock::now_ms;

const CHANNEL_DEPTH: usize = 16 * 1024;

/// ZooKeeper's `ExitCode.UNABLE_TO_BIND_QUORUM_PORT`: the election port
/// could not be bound within `electionPortBindRetry` tries.
pub const UNABLE_TO_BIND_QUORUM_PORT: i32 = 14;

/// Starts every executor and blocks until they stop.
pub fn run(settings: Settings) -> Result<(), ServerError> {
    elapsed_ms(std::time::Instant::now());
    // Bind once here so a port in use is reported before anything starts.
    // A server killed a moment ago can hold its listeners for some ms
    // while io_uring tears down: retry briefly before giving up.
    let mut tries = 0;
    let addr = loop {
        match shards::listen::probe(settings.client_addr) {
            Ok(a) => break a,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(ServerError::Listen {
                    addr: settings.client_addr,
                    source,
                })
            }
        }
    };
    let settings = Settings {
        client_addr: addr,
        ..settings
    };

    let n = settings.core_map.shards.len();
    let mut to_seq_rx: Vec<SharedReceiver<ToSeq>> = Vec::new();
    let mut to_seq_tx: Vec<SharedSender<ToSeq>> = Vec::new();
    let mut to_shard_rx: Vec<SharedReceiver<Batch>> = Vec::new();
    let mut to_shard_tx: Vec<SharedSender<Batch>> = Vec::new();
    for _ in 0..n {
        let (tx, rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
        to_seq_tx.push(tx);
        to_seq_rx.push(rx);
        let (tx, rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
        to_shard_tx.push(tx);
        to_shard_rx.push(rx);
    }
    // Recovery (ZooKeeper's loadDataBase) happens before anything serves.
    let t0 = std::time::Instant::now();
    let dirs = Dirs::open(
        std::path::Path::new(&settings.data_dir),
        std::path::Path::new(&settings.data_log_dir),
    )?;
    let tail = settings
        .quorum
        .as_ref()
        .map_or(crate::quorum::zab::sync::DEFAULT_COMMIT_LOG_COUNT, |q| {
            q.commit_log_count
        });
    let rec = storage::recover_keeping(&dirs, settings.snapshot_trust_empty, tail)?;
    crate::admin::counters::STARTUP.set(
        t0.elapsed(),
        rec.snap_load,
        rec.txns_load,
        rec.replayed as u64,
    );
    tracing::info!(
        zxid = format!("0x{:x}", rec.tree.last_zxid),
        nodes = rec.tree.node_count(),
        sessions = rec.sessions.len(),
        replayed = rec.replayed,
        ms = t0.elapsed().as_millis() as u64,
        "data loaded"
    );
    let mut sessions = rec.sessions;
    // Every owner of ephemerals is a live session, so that it expires and
    // they go: a snapshot's session list can miss one whose closeSession
    // never became durable (it is taken from the sessions the sequencer
    // tracks, which may be ahead of the snapshot's tree).
    let orphans = crate::replica::orphan_owners(&rec.tree, &sessions, settings.min_session_timeout);
    if !orphans.is_empty() {
        tracing::warn!(
            sessions = orphans.len(),
            "restoring sessions that own ephemerals"
        );
        sessions.extend(orphans);
    }
    // An ensemble member's quorum sockets run on the zab core: commands in,
    // events out, one channel each way.
    let mut zab_side = None;
    let quorum = match &settings.quorum {
        None => None,
        Some(q) => {
            let (to_zab_tx, to_zab_rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
            let (from_zab_tx, from_zab_rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
            zab_side = Some((q.clone(), to_zab_rx, from_zab_tx));
            Some(QuorumBoot {
                settings: q.clone(),
                epochs: crate::storage::epochs::load(&dirs, rec.tree.last_zxid)?,
                dirs: dirs.clone(),
                committed_log: rec.replayed_tail,
                to_zab: to_zab_tx,
                from_zab: from_zab_rx,
            })
        }
    };
    let config_node = settings
        .quorum
        .as_ref()
        .map(|q| bytes::Bytes::from(q.config.clone()));
    let mut tree = rec.tree;
    if let Some(text) = &config_node {
        crate::quorum::reconfig::put_config_node(
            &mut tree,
            text,
            settings.reconfig_enabled,
            crate::ops::clock::now_ms(),
        );
    }
    let initial = Arc::new(tree);
    let (to_log_tx, to_log_rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
    let (from_log_tx, from_log_rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
    let mut roles = Vec::new();
    let log_settings = settings.log.clone();
    roles.push(Role::new("log", settings.core_map.log, move || {
        log::run(log_settings, dirs, to_log_rx, from_log_tx)
    }));
    if let Some((q, rx, tx)) = zab_side {
        roles.push(Role::new("zab", settings.core_map.zab_cpu(), move || {
            quorum_peer::run(q, rx, tx)
        }));
    }
    // A quorum member serves nobody until it has a leader.
    let role = crate::replica::sequencer::RoleCell::new(if settings.quorum.is_some() {
        crate::replica::sequencer::Role::NotServing
    } else {
        crate::replica::sequencer::Role::Standalone
    })
    .with_leader_serves(settings.leader_serves);
    let seq_settings = SeqSettings {
        shards: n,
        tick_ms: settings.tick_ms,
        min_session_timeout: settings.min_session_timeout,
        max_session_timeout: settings.max_session_timeout,
        max_client_cnxns: settings.max_client_cnxns,
        max_cnxns: settings.max_cnxns,
        policy: settings.policy.clone(),
        extended_types: settings.extended_types,
        enforce_quota: settings.enforce_quota,
        container_check_interval_ms: settings.container_check_interval_ms,
        container_max_per_minute: settings.container_max_per_minute,
        container_max_never_used_interval_ms: settings.container_max_never_used_interval_ms,
        // Standalone ZooKeeper makes session ids with tracker id 1; a
        // quorum peer with its myid.
        server_id: settings.quorum.as_ref().map_or(1, |q| q.me),
        role: role.clone(),
        config_node,
        reconfig_enabled: settings.reconfig_enabled,
        local_sessions: settings
            .local_sessions
            .then_some(settings.local_sessions_upgrading),
    };
    // The AdminServer's way in: a channel it can send on from a plain
    // thread (glommio wakes the sequencer's task from there).
    let (admin_tx, admin_rx) = async_channel::bounded::<ToSeq>(256);
    let seq_tree = Tree::clone(&initial);
    let stop = settings.stop.clone();
    let load_limits = (
        settings.global_outstanding_limit,
        settings.request_throttle.max_requests,
    );
    let audit = settings.audit;
    roles.push(Role::new(
        "sequencer",
        settings.core_map.sequencer,
        move || {
            run_sequencer(SeqBoot {
                settings: seq_settings,
                tree: seq_tree,
                sessions,
                from_shards: to_seq_rx,
                to_shards: to_shard_tx,
                to_log: to_log_tx,
                from_log: from_log_rx,
                stop,
                audit,
                admin: admin_rx,
                quorum,
                load_limits,
            })
        },
    ));
    for (i, (tx, rx)) in to_seq_tx.into_iter().zip(to_shard_rx).enumerate() {
        let s = settings.clone();
        let v = initial.clone();
        let role = role.clone();
        roles.push(Role::new(
            format!("shard-{i}"),
            settings.core_map.shards[i],
            move || shard::run(i, s, v, tx, rx, role),
        ));
    }
    let ops = settings.ops.clone();
    let handles = shards::exec::spawn_roles(
        roles,
        settings.core_map.executors,
        move |name, roles, work| Box::pin(monitored(&name, &roles, &ops, work)),
    )?;
    crate::admin::start(
        settings.admin.clone(),
        settings.metrics_addr,
        settings.metrics_process,
        settings.http_limits,
        crate::admin::Link::new(
            admin_tx,
            crate::admin::Static {
                conf_lines: settings.conf_lines.clone(),
                data_dir: settings.data_dir.clone().into(),
                data_log_dir: settings.data_log_dir.clone().into(),
                initial_config: settings.initial_config.clone(),
                properties: settings.properties.clone(),
                core_map: settings
                    .core_map
                    .shards
                    .iter()
                    .enumerate()
                    .map(|(i, cpu)| (format!("shard-{i}"), *cpu))
                    .chain([
                        ("sequencer".to_string(), settings.core_map.sequencer),
                        ("log".to_string(), settings.core_map.log),
                    ])
                    .chain(
                        settings
                            .quorum
                            .is_some()
                            .then(|| ("zab".to_string(), settings.core_map.zab_cpu())),
                    )
                    .collect(),
                show_session_ids: settings.admin_show_session_ids,
                policy: settings.policy.clone(),
            },
            role,
        ),
    );
    tracing::info!(
        address = %addr,
        shards = n,
        sequencer_cpu = settings.core_map.sequencer,
        "corral is serving"
    );
    if settings.audit {
        use crate::protocol::audit;
        audit::emit(&audit::server_event(
            audit::OP_START,
            audit::Outcome::Success,
        ));
    }
    for h in handles {
        h.join().map_err(|e| ServerError::Join(e.to_string()))?;
    }
    if settings.audit {
        use crate::protocol::audit;
        audit::emit(&audit::server_event(
            audit::OP_STOP,
            audit::Outcome::Invoked,
        ));
    }
    tracing::info!("corral has shut down");
    Ok(())
}

/// `work` with the stall monitor of its executor `name` (which runs
/// `roles`) beside it (see [`crate::ops::stall`]). `corral.test.stallMs`
/// makes the executor that runs the sequencer hold once, soon after start,
/// so tests can see a stall.
fn monitored(
    name: &str,
    roles: &[String],
    ops: &crate::ops::OpsSettings,
    work: impl std::future::Future<Output = ()>,
) -> impl std::future::Future<Output = ()> {
    let holds_sequencer = roles.iter().any(|r| r == "sequencer");
    let roles = roles.join(",");
    let hb = crate::ops::stall::Heartbeat::new(ops.stall_threshold_ms);
    let name = name.to_string();
    let hold = Duration::from_millis(ops.test_stall_ms);
    async move {
        if !hold.is_zero() && holds_sequencer {
            glommio::spawn_local(async move {
                glommio::timer::sleep(Duration::from_millis(300)).await;
                tracing::warn!(
                    ms = hold.as_millis() as u64,
                    "corral.test.stallMs: holding the sequencer"
                );
                std::thread::sleep(hold);
            })
            .detach();
        }
        if let Some(hb) = hb {
            glommio::spawn_local(crate::ops::stall::monitor(name, roles, hb)).detach();
        }
        work.await
    }
}

/// What a quorum peer starts with.
pub struct QuorumBoot {
    pub settings: quorum_peer::QuorumSettings,
    pub dirs: Dirs,
    pub epochs: crate::storage::epochs::Epochs,
    /// The last txns replayed at start-up (the initial committed log).
    pub committed_log: std::collections::VecDeque<(i64, bytes::Bytes)>,
    /// Commands to the zab core.
    pub to_zab: SharedSender<quorum_peer::ToZab>,
    /// The zab core's socket events.
    pub from_zab: SharedReceiver<crate::replica::PeerInput>,
}

/// What the sequencer executor runs with.
struct SeqBoot {
    settings: SeqSettings,
    tree: Tree,
    sessions: Vec<(i64, i32)>,
    /// Each shard's messages.
    from_shards: Vec<SharedReceiver<ToSeq>>,
    /// Each shard's batches.
    to_shards: Vec<SharedSender<Batch>>,
    to_log: SharedSender<ToLog>,
    from_log: SharedReceiver<FromLog>,
    stop: crate::ops::Stop,
    /// `audit.enable`: the ephemerals a closed session loses are audited.
    audit: bool,
    /// The AdminServer's way in.
    admin: async_channel::Receiver<ToSeq>,
    quorum: Option<QuorumBoot>,
    /// `globalOutstandingLimit` and `zookeeper.request_throttle_max_requests`.
    load_limits: (usize, usize),
}

/// The time as the replica takes it.
struct Clock(std::time::Instant);

impl Clock {
    fn now(&self) -> Now {
        Now {
            wall_ms: now_ms(),
            mono_ms: self.0.elapsed().as_millis() as u64,
        }
    }
}

/// The sequencer executor: gathers inputs from its mailbox, feeds the
/// [`Replica`], and carries its actions out (batches to the shards, the
/// log core, the quorum sockets). It decides nothing.
async fn run_sequencer(b: SeqBoot) {
    let inbox: Rc<Mailbox<Input>> = Rc::new(Mailbox::new());
    {
        // The signal reaches the executors only through this flag.
        let inbox = inbox.clone();
        let stop = b.stop;
        glommio::spawn_local(async move {
            while !stop.requested() {
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
            inbox.push(Input::Stop);
        })
        .detach();
    }
    for r in b.from_shards {
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            let r = r.connect().await;
            while let Some(m) = r.recv().await {
                inbox.push(Input::Shard(m));
            }
        })
        .detach();
    }
    {
        let inbox = inbox.clone();
        let admin = b.admin;
        glommio::spawn_local(async move {
            while let Ok(m) = admin.recv().await {
                inbox.push(Input::Shard(m));
            }
        })
        .detach();
    }
    {
        let inbox = inbox.clone();
        let from_log = b.from_log;
        glommio::spawn_local(async move {
            let r = from_log.connect().await;
            while let Some(m) = r.recv().await {
                inbox.push(match m {
                    FromLog::Durable(z) => Input::Durable(z),
                    FromLog::Failed(why) => Input::LogFailed(why),
                    FromLog::SnapshotDue => Input::SnapshotDue,
                    FromLog::Snapshotted(z) => Input::Snapshotted(z),
                    FromLog::Truncated(to, result) => Input::Truncated { to, result },
                });
            }
        })
        .detach();
    }
    let to_log = b.to_log.connect().await;
    let mut senders = Vec::new();
    for t in b.to_shards {
        senders.push(t.connect().await);
    }
    let clock = Clock(std::time::Instant::now());
    let (mut link, quorum) = match b.quorum {
        None => (None, None),
        Some(q) => {
            let start = QuorumStart {
                config: q.settings.replica(),
                epochs: q.epochs,
                committed_log: q.committed_log,
            };
            {
                let inbox = inbox.clone();
                let from_zab = q.from_zab;
                glommio::spawn_local(async move {
                    let r = from_zab.connect().await;
                    while let Some(e) = r.recv().await {
                        inbox.push(Input::Peer(e));
                    }
                })
                .detach();
            }
            let to_zab = q.to_zab.connect().await;
            let link = quorum_peer::QuorumLink::new(&q.settings, q.dirs, inbox.clone(), to_zab);
            (Some(link), Some(start))
        }
    };
    let mut replica = Replica::new(b.settings, b.tree, b.sessions, quorum, clock.now());
    replica.set_load_limits(b.load_limits.0, b.load_limits.1);
    let mut now = clock.now();
    // audit.enable: closed sessions' ephemerals, audited once the version
    // that lacks them is published (the log core is not held up).
    let mut closed = crate::protocol::audit::ClosedSessions::default();
    loop {
        for a in replica.step(now) {
            match a {
                Action::Publish { version, items } => {
                    if b.audit {
                        for e in closed.published(&version) {
                            crate::protocol::audit::emit(&e);
                        }
                    }
                    // Closes, the drain and the load go out even to a
                    // stopping shard.
                    let must = items
                        .iter()
                        .flatten()
                        .any(|it| !matches!(it, Item::Close { .. } | Item::Drain | Item::Load(_)));
                    for (items, s) in items.into_iter().zip(&senders) {
                        let batch = Batch {
                            version: version.clone(),
                            items,
                        };
                        if s.send(batch).await.is_err() && must {
                            tracing::error!("a shard stopped; the sequencer stops");
                            return;
                        }
                    }
                }
                Action::Append(txns) => {
                    if b.audit {
                        closed.appended(txns.iter().map(|(t, _)| t));
                    }
                    if to_log.send(ToLog::Append(txns)).await.is_err() {
                        tracing::error!("the log core stopped; the sequencer stops");
                        return;
                    }
                }
                Action::Snapshot {
                    tree,
                    sessions,
                    closes_gap,
                } => {
                    let _ = to_log
                        .send(ToLog::Snapshot {
                            tree,
                            sessions,
                            closes_gap,
                        })
                        .await;
                }
                Action::Truncate { to, reload } => {
                    if to_log.send(ToLog::Truncate { to, reload }).await.is_err() {
                        tracing::error!("the log core stopped; the sequencer stops");
                        return;
                    }
                }
                // Returning drops the channels: the log core flushes and
                // stops, and the shards stop.
                Action::Stop => {
                    if let Some(q) = link.as_mut() {
                        let _ = q.flush().await;
                    }
                    return;
                }
                other => match link.as_mut() {
                    Some(q) => match q.act(other).await {
                        Ok(None) => {}
                        Ok(Some(a)) => {
                            tracing::error!(action = ?a, "an action no driver carries out")
                        }
                        Err(()) => {
                            tracing::error!("the zab core stopped; the sequencer stops");
                            return;
                        }
                    },
                    None => tracing::error!(action = ?other, "a quorum action standalone"),
                },
            }
        }
        if let Some(q) = link.as_mut() {
            if q.flush().await.is_err() {
                tracing::error!("the zab core stopped; the sequencer stops");
                return;
            }
        }
        let wait = replica.next_wake_ms(clock.now());
        futures_lite::future::or(inbox.ready(), async {
            glommio::timer::sleep(Duration::from_millis(wait)).await;
        })
        .await;
        now = clock.now();
        let mut queued = 0u64;
        while let Some(m) = inbox.pop() {
            queued += 1;
            replica.feed(m, now);
        }
        crate::admin::counters::SEQ_QUEUE.store(queued, std::sync::atomic::Ordering::Relaxed);
    }
}
