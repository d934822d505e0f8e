//! The glommio drivers: a thin shell of sockets, channels and timers around
//! the logic in `sequencer`, `request`, `watch` and `tree`.
//!
//! - `shard`: one executor per core of the core map's `shards`, each with
//!   its own SO_REUSEPORT listener, its connections and their watches.
//! - the sequencer executor runs [`crate::sequencer::Sequencer`], hands
//!   each batch's txns to the log core, and publishes a tree version (with
//!   its replies and events) once the log says it is durable.
//! - `log`: the log core (group commit, snapshots, purge).

pub mod counters;
pub mod facts;
pub mod log;
pub mod msg;
pub mod peers;
pub mod quorum_peer;
pub mod shard;

use crate::acl::AclPolicy;
use crate::sequencer::{SeqSettings, Sequencer};
use crate::storage::{self, Dirs};
use crate::tree::Tree;
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use msg::{Batch, ConnRef, FromLog, Item, ToLog, ToSeq};
use shards::coremap::CoreMap;
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
    pub global_outstanding_limit: usize,
    pub jute_max_buffer: usize,
    /// `zookeeper.nio.sessionlessCnxnTimeout` (ms).
    pub sessionless_timeout_ms: u64,
    pub policy: AclPolicy,
    /// `zookeeper.enableEagerACLCheck`.
    pub eager_acl_check: bool,
    pub extended_types: bool,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: u32,
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
    /// The configuration text the server started from (`initial_configuration`).
    pub initial_config: String,
    /// The system properties (`system_properties`), sorted by name.
    pub properties: Vec<(String, String)>,
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

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

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
    let rec = storage::recover(&dirs, settings.snapshot_trust_empty)?;
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
    let orphans = orphan_owners(&rec.tree, &sessions, settings.min_session_timeout);
    if !orphans.is_empty() {
        tracing::warn!(
            sessions = orphans.len(),
            "restoring sessions that own ephemerals"
        );
        sessions.extend(orphans);
    }
    let quorum = match &settings.quorum {
        None => None,
        Some(q) => Some(QuorumBoot {
            settings: q.clone(),
            epochs: crate::storage::epochs::load(&dirs, rec.tree.last_zxid)?,
            dirs: dirs.clone(),
            committed_log: rec.replayed_tail,
        }),
    };
    let initial = Arc::new(rec.tree);
    let (to_log_tx, to_log_rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
    let (from_log_tx, from_log_rx) = shared_channel::new_bounded(CHANNEL_DEPTH);
    let mut handles = Vec::new();
    let log_settings = settings.log.clone();
    let ops = settings.ops.clone();
    handles.push(shards::exec::spawn_pinned(
        "log",
        settings.core_map.log,
        move || {
            monitored(
                "log",
                &ops,
                log::run(log_settings, dirs, to_log_rx, from_log_tx),
            )
        },
    )?);
    // A quorum member serves nobody until it has a leader.
    let role = crate::sequencer::RoleCell::new(if settings.quorum.is_some() {
        crate::sequencer::Role::NotServing
    } else {
        crate::sequencer::Role::Standalone
    });
    let seq_settings = SeqSettings {
        shards: n,
        tick_ms: settings.tick_ms,
        min_session_timeout: settings.min_session_timeout,
        max_session_timeout: settings.max_session_timeout,
        max_client_cnxns: settings.max_client_cnxns,
        max_cnxns: settings.max_cnxns,
        policy: settings.policy.clone(),
        extended_types: settings.extended_types,
        container_check_interval_ms: settings.container_check_interval_ms,
        container_max_per_minute: settings.container_max_per_minute,
        // Standalone ZooKeeper makes session ids with tracker id 1; a
        // quorum peer with its myid.
        server_id: settings.quorum.as_ref().map_or(1, |q| q.me),
        role: role.clone(),
    };
    // The AdminServer's way in: a channel it can send on from a plain
    // thread (glommio wakes the sequencer's task from there).
    let (admin_tx, admin_rx) = async_channel::bounded::<ToSeq>(256);
    let seq_tree = Tree::clone(&initial);
    let (ops, stop) = (settings.ops.clone(), settings.stop.clone());
    handles.push(shards::exec::spawn_pinned(
        "sequencer",
        settings.core_map.sequencer,
        move || {
            let seq = run_sequencer(
                seq_settings,
                seq_tree,
                sessions,
                to_seq_rx,
                to_shard_tx,
                to_log_tx,
                from_log_rx,
                stop,
                admin_rx,
                quorum,
            );
            monitored("sequencer", &ops, seq)
        },
    )?);
    for (i, (tx, rx)) in to_seq_tx.into_iter().zip(to_shard_rx).enumerate() {
        let s = settings.clone();
        let v = initial.clone();
        let cpu = settings.core_map.shards[i];
        let role = role.clone();
        let name = format!("shard-{i}");
        handles.push(shards::exec::spawn_pinned(&name.clone(), cpu, move || {
            let ops = s.ops.clone();
            monitored(&name, &ops, shard::run(i, s, v, tx, rx, role))
        })?);
    }
    crate::admin::start(
        settings.admin.clone(),
        settings.metrics_addr,
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
    for h in handles {
        h.join().map_err(|e| ServerError::Join(e.to_string()))?;
    }
    tracing::info!("corral has shut down");
    Ok(())
}

/// `role` with the stall monitor of its executor `name` running beside it
/// (see [`crate::stall`]). `corral.test.stallMs` makes the sequencer hold
/// its executor once, soon after start, so tests can see a stall.
fn monitored(
    name: &str,
    ops: &crate::ops::OpsSettings,
    role: impl std::future::Future<Output = ()>,
) -> impl std::future::Future<Output = ()> {
    let hb = crate::stall::Heartbeat::new(ops.stall_threshold_ms);
    let name = name.to_string();
    let hold = Duration::from_millis(ops.test_stall_ms);
    async move {
        if !hold.is_zero() && name == "sequencer" {
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
            glommio::spawn_local(crate::stall::monitor(name, hb)).detach();
        }
        role.await
    }
}

/// Sessions that own ephemerals in `tree` but are not in `live`, with
/// `timeout`.
fn orphan_owners(tree: &Tree, live: &[(i64, i32)], timeout: i32) -> Vec<(i64, i32)> {
    let live: std::collections::HashSet<i64> = live.iter().map(|(s, _)| *s).collect();
    tree.ephemerals_by_session()
        .into_iter()
        .filter(|(s, _)| !live.contains(s))
        .map(|(s, _)| (s, timeout))
        .collect()
}

/// What wakes the sequencer.
pub enum Input {
    Shard(ToSeq),
    Log(FromLog),
    /// A graceful shutdown was asked for.
    Stop,
    /// The quorum peer's sockets.
    Quorum(quorum_peer::QuorumInput),
    /// A learner's connection to this leader: its send side.
    LearnerLink(crate::zab::leader::Handle, Rc<quorum_peer::Link>),
}

/// What a quorum peer starts with.
pub struct QuorumBoot {
    pub settings: quorum_peer::QuorumSettings,
    pub dirs: Dirs,
    pub epochs: crate::storage::epochs::Epochs,
    /// The last txns replayed at start-up (the initial committed log).
    pub committed_log: std::collections::VecDeque<(i64, bytes::Bytes)>,
}

/// A batch applied by the sequencer, waiting for its txns to be durable.
struct Unpublished {
    zxid: i64,
    version: Arc<Tree>,
    items: Vec<Vec<Item>>,
}

/// Sends a durable batch to every shard, each its own items with the
/// version; false if a shard has stopped.
async fn publish(
    u: Unpublished,
    senders: &[glommio::channels::shared_channel::ConnectedSender<Batch>],
) -> bool {
    for (items, s) in u.items.into_iter().zip(senders) {
        let batch = Batch {
            version: u.version.clone(),
            items,
        };
        if s.send(batch).await.is_err() {
            tracing::error!("a shard stopped; the sequencer stops");
            return false;
        }
    }
    true
}

#[allow(clippy::too_many_arguments)]
async fn run_sequencer(
    settings: SeqSettings,
    tree: Tree,
    sessions: Vec<(i64, i32)>,
    rx: Vec<SharedReceiver<ToSeq>>,
    tx: Vec<SharedSender<Batch>>,
    to_log: SharedSender<ToLog>,
    from_log: SharedReceiver<FromLog>,
    stop: crate::ops::Stop,
    admin: async_channel::Receiver<ToSeq>,
    quorum: Option<QuorumBoot>,
) {
    let inbox: Rc<Mailbox<Input>> = Rc::new(Mailbox::new());
    {
        // The signal reaches the executors only through this flag.
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            while !stop.requested() {
                glommio::timer::sleep(Duration::from_millis(20)).await;
            }
            inbox.push(Input::Stop);
        })
        .detach();
    }
    for r in rx {
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
        glommio::spawn_local(async move {
            while let Ok(m) = admin.recv().await {
                inbox.push(Input::Shard(m));
            }
        })
        .detach();
    }
    {
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            let r = from_log.connect().await;
            while let Some(m) = r.recv().await {
                inbox.push(Input::Log(m));
            }
        })
        .detach();
    }
    let to_log = to_log.connect().await;
    let mut senders = Vec::new();
    for t in tx {
        senders.push(t.connect().await);
    }
    let min_session_timeout = settings.min_session_timeout;
    let mut seq = Sequencer::new(settings, tree, now_ms());
    seq.restore_sessions(&sessions, now_ms());
    // The last version every shard has: durable, and what a snapshot takes.
    let mut published = Arc::new(seq.tree().clone());
    let mut durable = published.last_zxid;
    let mut qp = match quorum {
        None => None,
        Some(b) => {
            seq.set_role(crate::sequencer::Role::NotServing, 0);
            match quorum_peer::QuorumPeer::start(
                b.settings,
                b.dirs,
                b.epochs,
                b.committed_log,
                published.clone(),
                inbox.clone(),
            )
            .await
            {
                Ok(q) => Some(q),
                Err(e) => {
                    // ZooKeeper's Listener exits with
                    // UNABLE_TO_BIND_QUORUM_PORT: a server that cannot take
                    // part in elections must not linger half alive.
                    tracing::error!("{e}; exiting");
                    std::process::exit(UNABLE_TO_BIND_QUORUM_PORT);
                }
            }
        }
    };
    let mut waiting: std::collections::VecDeque<Unpublished> = Default::default();
    // A clean snapshot after loading, as ZooKeeper takes one.
    let _ = to_log
        .send(ToLog::Snapshot {
            tree: published.clone(),
            sessions: seq.sessions(),
        })
        .await;
    let mut snapshot_due = false;
    // Shutdown: asked, and how many shards have drained since.
    let mut stopping = false;
    let mut stop_asked = false;
    let mut drained = 0;
    let shard_count = senders.len();
    loop {
        let wait = if stopping {
            50
        } else {
            let w = (seq.next_deadline().saturating_sub(now_ms())).clamp(1, 1000) as u64;
            qp.as_ref().map_or(w, |q| w.min(q.next_wait_ms()))
        };
        futures_lite::future::or(inbox.ready(), async {
            glommio::timer::sleep(Duration::from_millis(wait)).await;
        })
        .await;
        let now = now_ms();
        let mut failed = false;
        let mut queued = 0u64;
        while let Some(m) = inbox.pop() {
            queued += 1;
            match m {
                Input::Stop => stop_asked = true,
                Input::Shard(ToSeq::Drained { shard }) => {
                    tracing::debug!(shard, "shard drained");
                    drained += 1;
                }
                Input::Shard(m) => seq.handle(m, now),
                Input::Log(FromLog::Durable(z)) => {
                    durable = durable.max(z);
                    if let Some(q) = qp.as_mut() {
                        q.durable(z, &mut seq);
                    }
                }
                Input::Quorum(m) => {
                    if let Some(q) = qp.as_mut() {
                        q.input(m, &mut seq);
                    }
                }
                Input::LearnerLink(h, l) => {
                    if let Some(q) = qp.as_mut() {
                        q.learner_link(h, l);
                    }
                }
                Input::Log(FromLog::Failed(_)) => failed = true,
                Input::Log(FromLog::SnapshotDue) => snapshot_due = true,
                Input::Log(FromLog::Snapshotted(_)) => {}
                Input::Log(FromLog::Truncated(to, r)) => {
                    if let Some(q) = qp.as_mut() {
                        q.truncated(to, r, &mut seq);
                    }
                }
            }
        }
        counters::SEQ_QUEUE.store(queued, std::sync::atomic::Ordering::Relaxed);
        if failed {
            // Nothing after the last durable zxid may be acknowledged. The
            // batches the log made durable before the failure stay (their
            // txns are in the log, so they are published). The rest,
            // and what this wake-up applied on top of them, are dropped:
            // their connections are closed (their clients see a connection
            // loss, not an answer), and the sequencer goes back to the
            // durable tree, so the log core's next batch starts right
            // after the durable zxid (it drops batches queued behind the
            // failed one).
            let keep = waiting.iter().take_while(|u| u.zxid <= durable).count();
            let base = match keep {
                0 => published.clone(),
                n => waiting[n - 1].version.clone(),
            };
            let mut dropped: Vec<Vec<Vec<Item>>> = waiting.drain(keep..).map(|u| u.items).collect();
            dropped.extend(seq.take());
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
            seq.reset_to(Tree::clone(&base));
            seq.fence(close.iter().map(|&(shard, conn)| ConnRef { shard, conn }));
            durable = base.last_zxid;
            // A dropped closeSession (or expiry) took its session out of
            // the tracker while the durable tree keeps its ephemerals:
            // track it again, so that it expires (or its client comes
            // back) and they go.
            let orphans = orphan_owners(&base, &seq.sessions(), min_session_timeout);
            if !orphans.is_empty() {
                tracing::warn!(
                    sessions = orphans.len(),
                    "a dropped close left sessions with ephemerals; tracking them again"
                );
                seq.restore_sessions(&orphans, now);
            }
            // The durable batches go out first, so that a connection with
            // a durable reply gets it before it is closed.
            while let Some(u) = waiting.pop_front() {
                published = u.version.clone();
                if !publish(u, &senders).await {
                    return;
                }
            }
            for (shard, conn) in close {
                let batch = Batch {
                    version: published.clone(),
                    items: vec![Item::Close { conn }],
                };
                if let Some(s) = senders.get(shard) {
                    let _ = s.send(batch).await;
                }
            }
            // A quorum peer whose log failed leaves its role, as
            // ZooKeeper's does when its SyncRequestProcessor dies: a
            // leader must not hand out the failed zxids again to txns its
            // learners may already hold, a learner must not ack.
            if let Some(q) = qp.as_mut() {
                q.log_failed(durable, &mut seq);
            }
        }
        // No expiries or container deletions while shutting down: the
        // sessions outlive the restart.
        if !stopping {
            seq.tick(now);
        }
        if let Some(q) = qp.as_mut() {
            q.tick(&mut seq);
            q.forward(&mut seq);
        }
        if let Some(items) = seq.take() {
            let txns = seq.take_logged();
            let version = Arc::new(seq.tree().clone());
            if let Some(q) = qp.as_mut() {
                q.propose(&txns, &mut seq);
            }
            if !txns.is_empty() && to_log.send(ToLog::Append(txns)).await.is_err() {
                tracing::error!("the log core stopped; the sequencer stops");
                return;
            }
            if seq.role() == crate::sequencer::Role::NotServing {
                // Between leaders the tree may hold logged txns no quorum
                // has committed: what goes out now (connections closed)
                // goes with the version the shards already have.
                waiting.push_back(Unpublished {
                    zxid: published.last_zxid,
                    version: published.clone(),
                    items,
                });
            } else {
                waiting.push_back(Unpublished {
                    zxid: version.last_zxid,
                    version,
                    items,
                });
            }
        }
        // A learner's proposals and snapshots.
        for m in qp.as_mut().map(|q| q.take_log()).unwrap_or_default() {
            if to_log.send(m).await.is_err() {
                tracing::error!("the log core stopped; the sequencer stops");
                return;
            }
        }
        // Alone, a batch goes out once durable; in an ensemble, once a
        // quorum has it. Between roles, what no quorum had is dropped
        // (its connections are closed).
        let gate = qp.as_ref().map_or(durable, |q| q.committed());
        if seq.role() == crate::sequencer::Role::NotServing {
            waiting.retain(|u| u.zxid <= gate);
        }
        while waiting.front().is_some_and(|u| u.zxid <= gate) {
            let Some(u) = waiting.pop_front() else { break };
            published = u.version.clone();
            if let Some(q) = qp.as_mut() {
                q.set_published(&published);
            }
            if !publish(u, &senders).await {
                return;
            }
        }
        if stop_asked && !stopping {
            stopping = true;
            tracing::info!(
                pending = waiting.len(),
                "draining: shards stop accepting; accepted requests are answered"
            );
            for s in &senders {
                let batch = Batch {
                    version: published.clone(),
                    items: vec![Item::Drain],
                };
                let _ = s.send(batch).await;
            }
        }
        if stopping && drained >= shard_count && waiting.is_empty() {
            // Every shard has had all it sent answered, and every txn is
            // durable. Returning drops the channels: the log core flushes
            // and stops, and the shards stop.
            tracing::info!(
                zxid = format!("0x{:x}", published.last_zxid),
                "every accepted write is durable and answered"
            );
            return;
        }
        if snapshot_due && !stopping {
            snapshot_due = false;
            let _ = to_log
                .send(ToLog::Snapshot {
                    tree: published.clone(),
                    sessions: seq.sessions(),
                })
                .await;
        }
    }
}
