//! The AdminServer's `snapshot` and `restore`, ZooKeeper 3.9's commands
//! offered to 3.8 operators (docs/admin.md, "Snapshot and restore").
//!
//! Owns: the two commands' rate limiters. It asks the sequencer, by
//! message only, for a consistent version (`ToSeq::Freeze`: the last
//! version every shard has, behind its `Arc`; serialized here, on the
//! AdminServer's connection thread, never on the sequencer's core) and to
//! install a restored one (`ToSeq::Restore`). Who may call them is
//! decided by [`super::auth`].

use super::auth::{self, RateLimiter, Refusal};
use super::http::{Request, Response};
use super::{commands, json, AdminError, Link};
use crate::replica::msg::{Frozen, ToSeq};
use crate::storage::snapshot;
use serde_json::{json, Map, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `corral.admin.restore.maxBytes`'s default: the largest snapshot a
/// `restore` reads.
pub const RESTORE_MAX_BYTES: usize = 256 << 20;

/// How long a restore may wait for a moment with no write in flight.
const RESTORE_WAIT: Duration = Duration::from_secs(10);

/// The commands' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSettings {
    /// `zookeeper.admin.snapshot.enabled` (default true).
    pub snapshot_enabled: bool,
    /// `zookeeper.admin.restore.enabled` (default true).
    pub restore_enabled: bool,
    /// `zookeeper.admin.rateLimiterIntervalInMS` (default 300000): one
    /// `restore` per this many milliseconds; one `snapshot` per this many
    /// microseconds (3.9 builds the snapshot's limiter in microseconds).
    pub rate_interval_ms: u64,
    /// `zookeeper.serializeLastProcessedZxid.enabled` (default true):
    /// without it 3.9 refuses both commands (500).
    pub serialize_last_processed_zxid: bool,
    /// `corral.admin.restore.maxBytes`.
    pub restore_max_bytes: usize,
}

impl Default for BackupSettings {
    fn default() -> BackupSettings {
        BackupSettings {
            snapshot_enabled: true,
            restore_enabled: true,
            rate_interval_ms: 300_000,
            serialize_last_processed_zxid: true,
            restore_max_bytes: RESTORE_MAX_BYTES,
        }
    }
}

/// The two commands and their limiters.
#[derive(Debug)]
pub struct Backup {
    settings: BackupSettings,
    start: Instant,
    snapshots: Mutex<RateLimiter>,
    restores: Mutex<RateLimiter>,
}

fn answer(status: u16, name: &str, error: Option<&str>, data: Map<String, Value>) -> Response {
    let mut v = commands::response(name, data);
    v["error"] = error.map_or(Value::Null, Value::from);
    Response::json(status, json::pretty(&v))
}

fn refused(name: &str, r: Refusal) -> Response {
    answer(r.status, name, Some(r.error), Map::new())
}

impl Backup {
    pub fn new(settings: BackupSettings) -> Backup {
        Backup {
            settings,
            start: Instant::now(),
            snapshots: Mutex::new(RateLimiter::new(settings.rate_interval_ms / 1000, 0)),
            restores: Mutex::new(RateLimiter::new(settings.rate_interval_ms, 0)),
        }
    }

    fn allow(&self, limiter: &Mutex<RateLimiter>) -> bool {
        let now = self.start.elapsed().as_millis() as u64;
        limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .allow(now)
    }

    /// What 3.9 checks before either command runs, in its order: a
    /// serving server, then the Authorization header against `/`'s ACL,
    /// then the enable key, then the rate. `name` is the name as asked.
    fn guard(
        &self,
        link: &Link,
        name: &str,
        primary: &'static str,
        req: &Request,
        enabled: bool,
        limiter: &Mutex<RateLimiter>,
    ) -> Result<Frozen, Response> {
        if !link.serving() {
            return Err(Response::json(
                200,
                json::pretty(&commands::not_serving(name)),
            ));
        }
        let frozen = link.freeze().map_err(|e| unavailable(name, &e))?;
        let root = frozen
            .tree
            .get("/")
            .map(|n| n.acl.clone())
            .unwrap_or_default();
        auth::decide(
            &link.fixed.policy,
            req.header("authorization"),
            req.peer,
            &root,
        )
        .map_err(|r| refused(name, r))?;
        if !enabled {
            tracing::warn!(command = primary, "AdminServer command is disabled");
            return Err(answer(503, primary, None, Map::new()));
        }
        if !self.settings.serialize_last_processed_zxid {
            tracing::warn!(
                command = primary,
                "the command requires zookeeper.serializeLastProcessedZxid.enabled=true"
            );
            return Err(answer(500, primary, None, Map::new()));
        }
        if !self.allow(limiter) {
            tracing::warn!(command = primary, "AdminServer command was rate limited");
            return Err(answer(429, primary, None, Map::new()));
        }
        Ok(frozen)
    }

    /// `GET snapshot[?streaming=false]`: the last published version as a
    /// ZooKeeper 3.9 snapshot, streamed as `application/octet-stream` with
    /// the `last_zxid` and `snapshot_size` headers (with
    /// `streaming=false`, the headers and the JSON answer only).
    pub fn snapshot(&self, link: &Link, name: &str, req: &Request) -> Response {
        let f = match self.guard(
            link,
            name,
            "snapshot",
            req,
            self.settings.snapshot_enabled,
            &self.snapshots,
        ) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let bytes = snapshot::snapshot_to_vec_with_zxid(&f.tree, &f.sessions);
        // Boolean.parseBoolean.
        let streaming = req
            .arg("streaming")
            .is_none_or(|v| v.eq_ignore_ascii_case("true"));
        tracing::info!(
            zxid = format!("0x{:x}", f.tree.last_zxid),
            bytes = bytes.len(),
            streaming,
            "snapshot taken for the AdminServer"
        );
        let headers = vec![
            ("last_zxid", format!("0x{:x}", f.tree.last_zxid)),
            ("snapshot_size", bytes.len().to_string()),
        ];
        let mut r = if streaming {
            Response::new(200, "application/octet-stream", bytes)
        } else {
            answer(200, "snapshot", None, Map::new())
        };
        r.headers = headers;
        r
    }

    /// `POST restore`, before the body is read: the guard, and the bound
    /// on the body.
    pub fn admit_restore(&self, link: &Link, name: &str, req: &Request) -> Result<usize, Response> {
        let f = self.guard(
            link,
            name,
            "restore",
            req,
            self.settings.restore_enabled,
            &self.restores,
        )?;
        if !f.standalone {
            return Err(answer(
                503,
                "restore",
                Some(&crate::replica::msg::RestoreRefused::Ensemble.to_string()),
                Map::new(),
            ));
        }
        Ok(self.settings.restore_max_bytes)
    }

    /// `POST restore` with its body: the snapshot checked whole (every
    /// seal, the digest, every ACL) before anything live is touched, then
    /// installed by the sequencer.
    pub fn restore(&self, link: &Link, req: &Request) -> Response {
        let snap = match snapshot::read_restore(&req.body) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, bytes = req.body.len(), "restore refused");
                return answer(500, "restore", Some(&e.to_string()), Map::new());
            }
        };
        let until_ms = crate::ops::clock::now_ms() + RESTORE_WAIT.as_millis() as i64;
        let asked = link.ask(
            |reply| ToSeq::Restore {
                tree: Box::new(snap.tree),
                sessions: snap.sessions,
                until_ms,
                reply,
            },
            RESTORE_WAIT + Duration::from_secs(5),
        );
        match asked {
            Ok(Ok(zxid)) => {
                // Answer once every shard serves the restored version: a
                // round through the shards queues behind the version the
                // restore handed them (a client told "restored" then reads
                // the restored tree).
                if let Err(e) = link.gather(crate::protocol::fourlw::Cmd::Srvr) {
                    tracing::warn!(error = %e, "restored; the shards did not confirm in time");
                }
                let mut m = Map::new();
                m.insert("last_zxid".into(), zxid.into());
                answer(200, "restore", None, m)
            }
            Ok(Err(why)) => answer(503, "restore", Some(&why.to_string()), Map::new()),
            Err(e) => unavailable("restore", &e),
        }
    }
}

fn unavailable(name: &str, e: &AdminError) -> Response {
    Response::json(
        503,
        json::pretty(&json!({ "command": name, "error": e.to_string() })),
    )
}
