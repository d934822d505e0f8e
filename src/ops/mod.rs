//! Running corral in production: graceful shutdown on SIGTERM/SIGINT, the
//! operational settings (`corral.*` system properties), and the slow
//! request warning's rate limit.
//!
//! The signal is caught on a plain thread (signal-hook) and reaches the
//! executors only through [`Stop`], a flag that the sequencer polls; the
//! sequencer then tells the shards through its ordinary channel. See
//! `docs/operations.md` for the whole sequence.

pub(crate) mod clock;
pub(crate) mod stall;
pub mod throttle;
pub mod tools;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A request to stop, set by the signal thread and read by the sequencer.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Asks the server to shut down gracefully.
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The log format (`--log-format`, `corral.logFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<LogFormat, OpsError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(OpsError::Invalid {
                key: "corral.logFormat".into(),
                value: other.into(),
                why: "must be text or json".into(),
            }),
        }
    }
}

/// A `corral.*` property with a bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpsError {
    #[error("{key}={value}: {why}")]
    Invalid {
        key: String,
        value: String,
        why: String,
    },
}

/// Every `corral.*` setting (zoo.cfg key or `-D` flag); `docs/operations.md`,
/// `docs/admin.md` and `docs/security.md` say what each does.
pub const CORRAL_KEYS: &[&str] = &[
    "corral.stallThresholdMs",
    "corral.requestWarnThresholdMs",
    "corral.shutdownTimeoutMs",
    "corral.logFormat",
    "corral.test.stallMs",
    "corral.maxAuthIdsPerConnection",
    "corral.maxQueuedReplyBytes",
    "corral.maxQueuedEvents",
    "corral.admin.requestTimeoutMs",
    "corral.admin.maxConnections",
    "corral.admin.showSessionIds",
    "corral.admin.restore.maxBytes",
    "corral.quorum.maxConnections",
    // Retired: ensembles once needed it; `true` is what every build does now.
    "corral.experimental.ensemble",
];

/// The operational settings, from system properties (`-Dcorral.x=` in
/// `SERVER_JVMFLAGS`/`JVMFLAGS`, or `corral.x=` in zoo.cfg).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsSettings {
    /// `corral.stallThresholdMs`: an executor held this long is reported
    /// (0: no stall monitor). Default 100.
    pub stall_threshold_ms: u64,
    /// `corral.requestWarnThresholdMs`: a request answered this long after
    /// it was read is logged at warn (0 or negative: off). Default 1000.
    pub request_warn_ms: u64,
    /// `corral.shutdownTimeoutMs`: how long a graceful shutdown may take
    /// before the process exits non-zero. Default 10000.
    pub shutdown_timeout: Duration,
    /// `corral.logFormat`: text (default) or json.
    pub log_format: LogFormat,
    /// `corral.test.stallMs` (tests only): the sequencer holds its
    /// executor this long, once, soon after start. Default 0 (never).
    pub test_stall_ms: u64,
    /// `corral.maxAuthIdsPerConnection`: the auth ids one connection may
    /// hold (its `ip` id included); an addauth past it fails with
    /// AuthFailed and closes the connection. Every ACL check walks them.
    /// Default 64.
    pub max_auth_ids: usize,
    /// `corral.maxQueuedReplyBytes`: once this many reply bytes wait to be
    /// written to a connection, its shard stops reading and answering its
    /// requests until they are sent (the client reads them). Default
    /// 1 MiB; at least 1.
    pub max_queued_reply_bytes: usize,
    /// `corral.maxQueuedEvents`: the messages (watch events, and the
    /// replies behind them) that may wait for a connection whose client
    /// does not read; a watch event past it closes the connection instead.
    /// Default 100,000.
    pub max_queued_events: usize,
}

/// `corral.maxQueuedReplyBytes`' default.
pub const DEFAULT_MAX_QUEUED_REPLY_BYTES: usize = 1 << 20;

impl Default for OpsSettings {
    fn default() -> OpsSettings {
        OpsSettings {
            stall_threshold_ms: crate::ops::stall::DEFAULT_THRESHOLD_MS,
            request_warn_ms: 1000,
            shutdown_timeout: Duration::from_secs(10),
            log_format: LogFormat::Text,
            test_stall_ms: 0,
            max_auth_ids: 64,
            max_queued_reply_bytes: DEFAULT_MAX_QUEUED_REPLY_BYTES,
            max_queued_events: 100_000,
        }
    }
}

impl OpsSettings {
    /// Reads the `corral.*` properties: a `-D` flag `corral.x`, or the
    /// zoo.cfg key `corral.x` (which becomes `zookeeper.corral.x`, and
    /// wins, as a zoo.cfg key does in ZooKeeper).
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<OpsSettings, OpsError> {
        fn get<'a>(props: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
            props
                .get(&format!("zookeeper.{k}"))
                .or_else(|| props.get(k))
                .map(|v| v.trim())
        }
        let int = |k: &str| -> Result<Option<i64>, OpsError> {
            match get(props, k) {
                None => Ok(None),
                Some(v) => v.parse::<i64>().map(Some).map_err(|_| OpsError::Invalid {
                    key: k.into(),
                    value: v.into(),
                    why: "not an integer".into(),
                }),
            }
        };
        // A `corral.*` key is corral's own: one it does not know is a typo
        // that would be ignored, so it stops start-up with its name.
        for k in props.keys() {
            let k = k.strip_prefix("zookeeper.").unwrap_or(k);
            if k.starts_with("corral.") && !CORRAL_KEYS.contains(&k) {
                return Err(OpsError::Invalid {
                    key: k.into(),
                    value: get(props, k).unwrap_or_default().into(),
                    why: format!(
                        "not a corral setting; the corral settings are {}",
                        CORRAL_KEYS.join(", ")
                    ),
                });
            }
        }
        if let Some(v) = get(props, "corral.experimental.ensemble") {
            if v != "true" {
                return Err(OpsError::Invalid {
                    key: "corral.experimental.ensemble".into(),
                    value: v.into(),
                    why: "retired: ensembles are always on; remove the key".into(),
                });
            }
        }
        let mut s = OpsSettings::default();
        if let Some(v) = int("corral.stallThresholdMs")? {
            s.stall_threshold_ms = v.max(0) as u64;
        }
        if let Some(v) = int("corral.requestWarnThresholdMs")? {
            s.request_warn_ms = v.max(0) as u64;
        }
        if let Some(v) = int("corral.shutdownTimeoutMs")? {
            if v <= 0 {
                return Err(OpsError::Invalid {
                    key: "corral.shutdownTimeoutMs".into(),
                    value: v.to_string(),
                    why: "must be positive".into(),
                });
            }
            s.shutdown_timeout = Duration::from_millis(v as u64);
        }
        if let Some(v) = int("corral.test.stallMs")? {
            s.test_stall_ms = v.max(0) as u64;
        }
        // A bound of at least 1.
        let positive = |k: &str| -> Result<Option<usize>, OpsError> {
            match int(k)? {
                Some(v) if v < 1 => Err(OpsError::Invalid {
                    key: k.into(),
                    value: v.to_string(),
                    why: "must be at least 1".into(),
                }),
                v => Ok(v.map(|v| usize::try_from(v).unwrap_or(usize::MAX))),
            }
        };
        if let Some(v) = positive("corral.maxAuthIdsPerConnection")? {
            s.max_auth_ids = v;
        }
        if let Some(v) = positive("corral.maxQueuedReplyBytes")? {
            s.max_queued_reply_bytes = v;
        }
        if let Some(v) = positive("corral.maxQueuedEvents")? {
            s.max_queued_events = v;
        }
        if let Some(v) = get(props, "corral.logFormat") {
            s.log_format = v.parse()?;
        }
        Ok(s)
    }
}

/// What a SIGTERM/SIGINT means, given how many came before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// The first: shut down gracefully, within the timeout.
    Drain,
    /// A second one: exit at once.
    ExitNow,
}

pub fn on_signal(seen_before: usize) -> SignalAction {
    if seen_before == 0 {
        SignalAction::Drain
    } else {
        SignalAction::ExitNow
    }
}

/// The exit status after a second signal: 128 + the signal, as a shell
/// reports a process killed by it.
pub fn exit_code_for(signal: i32) -> i32 {
    128 + signal
}

/// The exit status when a graceful shutdown does not finish in time.
pub const EXIT_SHUTDOWN_TIMEOUT: i32 = 1;

fn signal_name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// Catches SIGTERM and SIGINT on a thread of their own. The first asks the
/// server to stop through `stop` and starts a watchdog that exits the
/// process with [`EXIT_SHUTDOWN_TIMEOUT`] if it still runs after `timeout`;
/// a second exits at once.
pub fn install_signal_handlers(stop: Stop, timeout: Duration) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for (seen, sig) in signals.forever().enumerate() {
                match on_signal(seen) {
                    SignalAction::Drain => {
                        tracing::info!(
                            signal = signal_name(sig),
                            timeout_ms = timeout.as_millis() as u64,
                            "shutting down: no new connections; the writes already read are \
                             made durable and answered"
                        );
                        stop.request();
                        let _ = std::thread::Builder::new()
                            .name("shutdown-watchdog".into())
                            .spawn(move || {
                                std::thread::sleep(timeout);
                                tracing::error!(
                                    timeout_ms = timeout.as_millis() as u64,
                                    "graceful shutdown did not finish in time; exiting now"
                                );
                                eprintln!(
                                    "corral: graceful shutdown did not finish in {} ms; exiting",
                                    timeout.as_millis()
                                );
                                std::process::exit(EXIT_SHUTDOWN_TIMEOUT);
                            });
                    }
                    SignalAction::ExitNow => {
                        tracing::warn!(
                            signal = signal_name(sig),
                            "second signal during shutdown: exiting now"
                        );
                        eprintln!(
                            "corral: second {} during shutdown; exiting now",
                            signal_name(sig)
                        );
                        std::process::exit(exit_code_for(sig));
                    }
                }
            }
        })?;
    Ok(())
}

/// At most one slow-request warning per interval on a shard, with the
/// number of slow requests left unlogged since the last one.
#[derive(Debug, Default)]
pub struct WarnLimit {
    last_ms: Option<i64>,
    suppressed: u64,
}

impl WarnLimit {
    /// Call on each slow request at monotonic `now_ms`: `Some(suppressed)`
    /// if this one is to be logged.
    pub fn allow(&mut self, now_ms: i64, every_ms: i64) -> Option<u64> {
        match self.last_ms {
            Some(t) if now_ms - t < every_ms => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_ms = Some(now_ms);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_properties() {
        assert_eq!(
            OpsSettings::from_properties(&props(&[])).unwrap(),
            OpsSettings::default()
        );
    }

    #[test]
    fn flags_and_zoo_cfg_keys_are_read_and_zoo_cfg_wins() {
        let s = OpsSettings::from_properties(&props(&[
            ("corral.stallThresholdMs", "250"),
            ("corral.requestWarnThresholdMs", "-1"),
            ("corral.shutdownTimeoutMs", "3000"),
            ("corral.logFormat", "JSON"),
            ("zookeeper.corral.stallThresholdMs", "40"),
            ("corral.maxQueuedReplyBytes", "65536"),
        ]))
        .unwrap();
        assert_eq!(s.stall_threshold_ms, 40);
        assert_eq!(s.max_queued_reply_bytes, 65536);
        assert_eq!(s.request_warn_ms, 0);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let e = OpsSettings::from_properties(&props(&[("corral.stallThresholdMs", "fast")]))
            .unwrap_err();
        assert!(
            e.to_string().contains("corral.stallThresholdMs=fast"),
            "{e}"
        );
        assert!(
            OpsSettings::from_properties(&props(&[("corral.shutdownTimeoutMs", "0")])).is_err()
        );
        assert!(OpsSettings::from_properties(&props(&[("corral.logFormat", "xml")])).is_err());
        // A misspelt corral key is refused by name, from zoo.cfg or -D.
        for k in ["corral.maxQueuedEventz", "zookeeper.corral.maxQueuedEventz"] {
            let e = OpsSettings::from_properties(&props(&[(k, "5")]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("corral.maxQueuedEventz") && e.contains("not a corral setting"),
                "{e}"
            );
        }
        for bad in ["0", "-1", "1MB"] {
            let e = OpsSettings::from_properties(&props(&[("corral.maxQueuedReplyBytes", bad)]))
                .unwrap_err();
            assert!(e.to_string().contains("corral.maxQueuedReplyBytes"), "{e}");
        }
    }

    #[test]
    fn a_second_signal_exits_at_once() {
        assert_eq!(on_signal(0), SignalAction::Drain);
        assert_eq!(on_signal(1), SignalAction::ExitNow);
        assert_eq!(on_signal(5), SignalAction::ExitNow);
        assert_eq!(exit_code_for(15), 143);
    }

    #[test]
    fn stop_is_seen_by_clones() {
        let s = Stop::new();
        let t = s.clone();
        assert!(!t.requested());
        s.request();
        assert!(t.requested());
    }

    #[test]
    fn warn_limit_logs_one_per_interval_and_counts_the_rest() {
        let mut w = WarnLimit::default();
        assert_eq!(w.allow(0, 1000), Some(0));
        assert_eq!(w.allow(10, 1000), None);
        assert_eq!(w.allow(999, 1000), None);
        assert_eq!(w.allow(1000, 1000), Some(2));
        assert_eq!(w.allow(5000, 1000), Some(0));
    }
}
