//! The glommio drivers: a thin shell of sockets, channels and timers around
//! the logic in `sequencer`, `request`, `watch` and `tree`.
//!
//! - `shard`: one executor per core of the core map's `shards`, each with
//!   its own SO_REUSEPORT listener, its connections and their watches.
//! - the sequencer executor runs [`crate::sequencer::Sequencer`] and
//!   publishes tree versions.

pub mod msg;
pub mod shard;

use crate::acl::AclPolicy;
use crate::sequencer::{SeqSettings, Sequencer};
use crate::tree::Tree;
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use msg::{Batch, ToSeq};
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
    pub global_outstanding_limit: usize,
    pub jute_max_buffer: usize,
    pub policy: AclPolicy,
    /// `zookeeper.enableEagerACLCheck`.
    pub eager_acl_check: bool,
    pub extended_types: bool,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: u32,
    /// Four-letter words allowed (`*` allows all).
    pub four_lw_whitelist: Vec<String>,
    /// Text lines `conf` prints.
    pub conf_lines: Vec<(String, String)>,
    pub data_dir: String,
    pub data_log_dir: String,
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
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const CHANNEL_DEPTH: usize = 16 * 1024;

/// Starts every executor and blocks until they stop.
pub fn run(settings: Settings) -> Result<(), ServerError> {
    // Bind once here so a port in use is reported before anything starts.
    let probe = std::net::TcpListener::bind(settings.client_addr).map_err(|source| {
        ServerError::Listen {
            addr: settings.client_addr,
            source,
        }
    })?;
    let addr = probe.local_addr().unwrap_or(settings.client_addr);
    drop(probe);
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
    let initial = Arc::new(Tree::new());
    let mut handles = Vec::new();
    let seq_settings = SeqSettings {
        shards: n,
        tick_ms: settings.tick_ms,
        min_session_timeout: settings.min_session_timeout,
        max_session_timeout: settings.max_session_timeout,
        max_client_cnxns: settings.max_client_cnxns,
        policy: settings.policy.clone(),
        extended_types: settings.extended_types,
        container_check_interval_ms: settings.container_check_interval_ms,
        container_max_per_minute: settings.container_max_per_minute,
        server_id: 0,
    };
    let seq_tree = Tree::clone(&initial);
    handles.push(shards::exec::spawn_pinned(
        "sequencer",
        settings.core_map.sequencer,
        move || run_sequencer(seq_settings, seq_tree, to_seq_rx, to_shard_tx),
    )?);
    for (i, (tx, rx)) in to_seq_tx.into_iter().zip(to_shard_rx).enumerate() {
        let s = settings.clone();
        let v = initial.clone();
        let cpu = settings.core_map.shards[i];
        handles.push(shards::exec::spawn_pinned(
            &format!("shard-{i}"),
            cpu,
            move || shard::run(i, s, v, tx, rx),
        )?);
    }
    tracing::info!(
        address = %addr,
        shards = n,
        sequencer_cpu = settings.core_map.sequencer,
        "corral is serving"
    );
    for h in handles {
        h.join().map_err(|e| ServerError::Join(e.to_string()))?;
    }
    Ok(())
}

async fn run_sequencer(
    settings: SeqSettings,
    tree: Tree,
    rx: Vec<SharedReceiver<ToSeq>>,
    tx: Vec<SharedSender<Batch>>,
) {
    let inbox: Rc<Mailbox<ToSeq>> = Rc::new(Mailbox::new());
    for r in rx {
        let inbox = inbox.clone();
        glommio::spawn_local(async move {
            let r = r.connect().await;
            while let Some(m) = r.recv().await {
                inbox.push(m);
            }
        })
        .detach();
    }
    let mut senders = Vec::new();
    for t in tx {
        senders.push(t.connect().await);
    }
    let mut seq = Sequencer::new(settings, tree, now_ms());
    loop {
        let wait = (seq.next_deadline() - now_ms()).clamp(1, 1000) as u64;
        futures_lite::future::or(inbox.ready(), async {
            glommio::timer::sleep(Duration::from_millis(wait)).await;
        })
        .await;
        let now = now_ms();
        while let Some(m) = inbox.pop() {
            seq.handle(m, now);
        }
        seq.tick(now);
        if let Some(per_shard) = seq.take() {
            let version = Arc::new(seq.tree().clone());
            for (items, s) in per_shard.into_iter().zip(&senders) {
                let batch = Batch {
                    version: version.clone(),
                    items,
                };
                if s.send(batch).await.is_err() {
                    tracing::error!("a shard stopped; the sequencer stops");
                    return;
                }
            }
        }
    }
}
