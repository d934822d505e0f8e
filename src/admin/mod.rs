//! The AdminServer (ZooKeeper's `JettyAdminServer`: `/commands/<name>` as
//! JSON), the live console (`/`, `/api/*`) on the same port, and the
//! Prometheus `/metrics` endpoint on its own port.
//!
//! Owns: its listeners and their std threads (one accept thread per port,
//! one short-lived thread per HTTP connection, see [`http`]). It shares
//! nothing mutable with the shards or the sequencer. It may touch:
//! - the sequencer, only by message: [`Link::gather`] sends
//!   `ToSeq::Gather` with an `Asker::Reply` channel and waits for the
//!   gathered facts (the same map-reduce over the shards the four-letter
//!   words use, so the 4lw text, the JSON and `/metrics` come from the same
//!   facts);
//! - the sequencer's role, through a `RoleCell` it only reads: commands
//!   ZooKeeper runs only while serving answer "not currently serving"
//!   otherwise;
//! - the read-only settings it was started with, the data directories
//!   (sizes, the newest snapshot's name and time), `/proc` (see
//!   [`facts`]), and the atomics of [`counters`].
//!
//! The formatting is pure and lives in [`commands`] (JSON per command),
//! [`json`] (Jackson's layout), [`metrics`] (Prometheus) and [`console`].

pub(crate) mod auth;
pub mod backup;
pub(crate) mod commands;
pub(crate) mod console;
pub(crate) mod counters;
pub(crate) mod facts;
pub mod http;
pub(crate) mod json;
pub(crate) mod metrics;

use crate::protocol::fourlw::{self, Cmd, Gathered};
use crate::replica::msg::{Asker, ToSeq};
use crate::replica::sequencer::RoleCell;
use http::{Handler, Request, Response};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The AdminServer's settings (`admin.*`).
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub addr: SocketAddr,
    /// `admin.commandURL`.
    pub command_url: String,
    /// HTTPS (`admin.forceHttps`, `admin.portUnification`), when on.
    pub https: Option<http::Https>,
    /// `snapshot` and `restore` (3.9's `admin.snapshot.*`, ...).
    pub backup: backup::BackupSettings,
}

/// What the AdminServer knows from the start: settings, not state.
#[derive(Debug, Clone, Default)]
pub struct Static {
    pub conf_lines: Vec<(String, String)>,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    /// The configuration text the server started from.
    pub initial_config: String,
    /// The system properties corral knows, sorted by name.
    pub properties: Vec<(String, String)>,
    /// Which core runs which role (`shard-0`, …, `sequencer`, `log`).
    pub core_map: Vec<(String, usize)>,
    /// `corral.admin.showSessionIds`: show session ids in the JSON.
    pub show_session_ids: bool,
    /// The ACL policy (`zookeeper.skipACL`): the console's node endpoint
    /// checks the node's ACL as the client port would.
    pub policy: crate::data::acl::AclPolicy,
}

/// Why gathered facts did not come.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    #[error("the server is not running")]
    Stopped,
    #[error("the server is too busy to answer")]
    Busy,
    #[error("the server did not answer in time")]
    Timeout,
}

/// How long a request waits for the sequencer and every shard.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

/// The AdminServer's way to the sequencer, and its settings.
#[derive(Debug, Clone)]
pub struct Link {
    to_seq: async_channel::Sender<ToSeq>,
    pub fixed: Arc<Static>,
    /// The sequencer's role: commands that need a serving server are
    /// gated on it.
    role: RoleCell,
    /// How session ids are shown (one pseudonym key per run).
    pub ids: commands::SessionIds,
}

impl Link {
    pub fn new(to_seq: async_channel::Sender<ToSeq>, fixed: Static, role: RoleCell) -> Link {
        Link {
            to_seq,
            ids: commands::SessionIds::new(fixed.show_session_ids),
            fixed: Arc::new(fixed),
            role,
        }
    }

    /// Whether the server serves clients now.
    pub fn serving(&self) -> bool {
        self.role.get().serving()
    }

    /// Sends the sequencer the message `msg` makes around a reply channel,
    /// and waits up to `wait` for the answer.
    pub fn ask<T>(
        &self,
        msg: impl FnOnce(std::sync::mpsc::SyncSender<T>) -> ToSeq,
        wait: Duration,
    ) -> Result<T, AdminError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.to_seq.try_send(msg(tx)).map_err(|e| match e {
            async_channel::TrySendError::Full(_) => AdminError::Busy,
            async_channel::TrySendError::Closed(_) => AdminError::Stopped,
        })?;
        match rx.recv_timeout(wait) {
            Ok(v) => Ok(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(AdminError::Timeout),
            Err(_) => Err(AdminError::Stopped),
        }
    }

    /// The facts four-letter word `cmd` reads, gathered from the sequencer
    /// and (for most words) every shard; `crst`/`srst`/`stmk` act as they do.
    pub fn gather(&self, cmd: Cmd) -> Result<Gathered, AdminError> {
        let os = if cmd == Cmd::Mntr {
            facts::os()
        } else {
            fourlw::OsFacts::default()
        };
        let g = self.ask(
            |tx| ToSeq::Gather {
                from: Asker::Reply(tx),
                cmd,
                os,
            },
            GATHER_TIMEOUT,
        )?;
        Ok(*g)
    }

    /// The last version every shard has, with the sessions (`snapshot`).
    pub fn freeze(&self) -> Result<crate::replica::msg::Frozen, AdminError> {
        self.ask(ToSeq::Freeze, GATHER_TIMEOUT)
    }

    fn local<'a>(&'a self, primary: &str) -> commands::Local<'a> {
        let f = &self.fixed;
        let sizes = matches!(primary, "dirs" | "configuration" | "server_stats" | "stats");
        let (data_dir_size, log_dir_size) = if sizes {
            (
                facts::dir_size(&f.data_dir.join("version-2")),
                facts::dir_size(&f.data_log_dir.join("version-2")),
            )
        } else {
            (0, 0)
        };
        commands::Local {
            ids: self.ids.clone(),
            read_only: self.role.get() == crate::replica::sequencer::Role::ReadOnly,
            conf_lines: &f.conf_lines,
            data_dir_size,
            log_dir_size,
            env: if primary == "environment" {
                facts::env()
            } else {
                Default::default()
            },
            initial_config: &f.initial_config,
            properties: &f.properties,
            last_snapshot: if primary == "last_snapshot" {
                last_snapshot(&f.data_dir.join("version-2"))
            } else {
                None
            },
            fsync_over_threshold: counters::LOG.get().fsync_over_threshold,
        }
    }

    /// The JSON answer of AdminServer command `name` (any of its names).
    pub fn command(&self, name: &str, args: &[(String, String)]) -> (u16, serde_json::Value) {
        let Some(cmd) = commands::lookup(name) else {
            // ZooKeeper 3.8 answers an unknown command 200 with an error.
            return (200, commands::unknown(name));
        };
        if cmd.server_required() && !self.serving() {
            return (200, commands::not_serving(name));
        }
        let gather = match cmd.gather {
            Some(Cmd::Stmk(_)) => match commands::trace_mask_arg(args) {
                Ok(mask) => Some(Cmd::Stmk(mask)),
                Err(v) => return (200, v),
            },
            g => g,
        };
        let gathered = match gather.map(|c| self.gather(c)).transpose() {
            Ok(g) => g,
            Err(e) => {
                let mut m = serde_json::Map::new();
                m.insert("error".into(), e.to_string().into());
                return (503, commands::response(cmd.primary(), m));
            }
        };
        let facts = gathered.as_ref().map(Gathered::facts);
        if cmd.server_required() && facts.as_ref().is_some_and(|f| !f.serving()) {
            return (200, commands::not_serving(name));
        }
        let local = self.local(cmd.primary());
        (200, commands::render(cmd, facts.as_ref(), &local))
    }
}

/// The newest `snapshot.<zxid>` in `dir`: its zxid and mtime in seconds.
pub fn last_snapshot(dir: &Path) -> Option<(i64, i64)> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let zxid = i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
            let secs = e
                .metadata()
                .ok()?
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs() as i64;
            Some((zxid, secs))
        })
        .max()
}

/// The AdminServer's routes.
struct AdminHandler {
    link: Link,
    command_url: String,
    backup: backup::Backup,
}

impl AdminHandler {
    /// The command a request's path names (any of its names), as asked.
    fn command_name<'r>(&self, req: &'r Request) -> Option<&'r str> {
        let base = self.command_url.trim_end_matches('/');
        req.path
            .strip_prefix(base)
            .and_then(|p| p.strip_prefix('/'))
            .filter(|n| !n.is_empty())
    }
}

impl Handler for AdminHandler {
    fn admit_body(&self, req: &Request) -> Result<usize, Response> {
        match self.command_name(req) {
            Some(name)
                if commands::lookup(name).map(commands::Command::primary) == Some("restore") =>
            {
                self.backup.admit_restore(&self.link, name, req)
            }
            _ => Err(Response::error(
                405,
                "HTTP method POST is not supported by this URL",
            )),
        }
    }

    fn handle(&self, req: &Request) -> Response {
        if let Some(name) = self.command_name(req) {
            match (
                commands::lookup(name).map(commands::Command::primary),
                req.method.as_str(),
            ) {
                (Some("restore"), "POST") => return self.backup.restore(&self.link, req),
                (Some("snapshot"), "GET" | "HEAD") => {
                    return self.backup.snapshot(&self.link, name, req)
                }
                (Some("restore"), _) | (Some("snapshot"), _) => {
                    let m = if req.method == "POST" { "POST" } else { "GET" };
                    return Response::error(
                        405,
                        &format!("HTTP method {m} is not supported by this URL"),
                    );
                }
                _ => {}
            }
        }
        let base = self.command_url.trim_end_matches('/');
        let path = req.path.as_str();
        if path == base || path.strip_prefix(base) == Some("/") {
            // Jetty's CommandServlet lists links to every command.
            let mut body = String::new();
            for c in commands::primary_names() {
                body.push_str(&format!("<a href=\"{base}/{c}\">{c}</a>\n<br/>\n"));
            }
            return Response::new(200, "text/html;charset=utf-8", body.into_bytes());
        }
        if let Some(name) = path.strip_prefix(base).and_then(|p| p.strip_prefix('/')) {
            let (status, v) = self.link.command(name, &req.query);
            return Response::json(status, json::pretty(&v));
        }
        console::route(&self.link, req).unwrap_or_else(|| Response::error(404, "Not Found"))
    }
}

/// `/metrics`.
struct MetricsHandler {
    link: Link,
    /// `metricsProvider.exportJvmInfo`: read and show the process figures.
    process: bool,
}

impl Handler for MetricsHandler {
    fn handle(&self, req: &Request) -> Response {
        if req.path != "/metrics" {
            return Response::error(404, "Not Found");
        }
        match self.link.gather(Cmd::Mntr) {
            Ok(g) => Response::new(
                200,
                metrics::CONTENT_TYPE,
                metrics::render(
                    &g.facts(),
                    &counters::values(),
                    self.process.then(facts::process).as_ref(),
                )
                .into_bytes(),
            ),
            Err(e) => Response::error(503, &e.to_string()),
        }
    }
}

/// Starts the AdminServer and/or the metrics endpoint. A port that cannot
/// be bound is logged and skipped (ZooKeeper logs a failed AdminServer
/// and serves clients all the same).
pub fn start(
    admin: Option<AdminSettings>,
    metrics_addr: Option<SocketAddr>,
    metrics_process: bool,
    limits: http::Limits,
    link: Link,
) {
    if let Some(a) = admin {
        if !a.addr.ip().is_loopback() {
            tracing::warn!(
                address = %a.addr,
                "the AdminServer listens beyond loopback: anyone who reaches it reads the \
                 server's configuration, connections and world-readable nodes \
                 (see docs/security.md)"
            );
        }
        let h = Arc::new(AdminHandler {
            link: link.clone(),
            command_url: a.command_url.clone(),
            backup: backup::Backup::new(a.backup),
        });
        let scheme = match &a.https {
            None => "http",
            Some(h) if h.only => "https",
            Some(_) => "http+https",
        };
        match http::serve("admin", a.addr, limits, a.https.clone(), h) {
            Ok(bound) => tracing::info!(
                address = %bound,
                command_url = %a.command_url,
                scheme,
                "started AdminServer"
            ),
            Err(e) => tracing::error!(
                address = %a.addr,
                error = %e,
                "problem starting AdminServer; serving clients without it"
            ),
        }
    }
    if let Some(addr) = metrics_addr {
        let h = Arc::new(MetricsHandler {
            link,
            process: metrics_process,
        });
        match http::serve("metrics", addr, limits, None, h) {
            Ok(bound) => tracing::info!(address = %bound, "started /metrics HTTP endpoint"),
            Err(e) => tracing::error!(address = %addr, error = %e, "cannot start /metrics server"),
        }
    }
}
