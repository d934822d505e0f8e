//! ZooKeeper 3.8 configuration: `zoo.cfg` and JVM system properties.
//!
//! This module owns everything between "the operator wrote a config" and "the
//! server has typed settings":
//!
//! * reading `zoo.cfg` with Java `Properties` syntax (`#`/`!` comments,
//!   `key=value`, `key: value`, `key value`, backslash line continuation and
//!   escapes) — [`load`] and [`parse_str`];
//! * the `-Dkey=value` flags of `SERVER_JVMFLAGS`/`JVMFLAGS` —
//!   [`parse_jvm_flags`];
//! * applying the keys exactly as ZooKeeper's `QuorumPeerConfig` does: the keys
//!   it knows become typed fields of [`Config`], every other key becomes the
//!   system property `zookeeper.<key>` (overriding a `-D` flag of the same name,
//!   as `System.setProperty` does), and the settings ZooKeeper reads from system
//!   properties (`zookeeper.skipACL`, `zookeeper.4lw.commands.whitelist`,
//!   `jute.maxbuffer`, `readonlymode.enabled`, ...) are resolved from the merged
//!   [`Config::properties`];
//! * the quorum: `server.N` lines, `dynamicConfigFile`, the `myid` file and the
//!   ensemble sanity checks ZooKeeper performs;
//! * validation: a malformed or contradictory value is a [`ConfigError`] that
//!   names the file, line and key; a setting that turns on what corral does
//!   not do is refused the same way, naming the key; one corral replaces
//!   with an equivalent (Java class plug-ins, observers that always log,
//!   ...) is accepted with one warning line saying what it does instead.
//!
//! Apart from [`load`] (which reads the config file, `<dataDir>/myid` and a
//! `dynamicConfigFile` if one is named) nothing here does I/O or logs; callers
//! print [`Loaded::warnings`] themselves.
//!
//! The files, by area:
//!
//! * `mod.rs`: the typed result ([`Config`], [`ServerSpec`], ...), the errors
//!   and the entry points;
//! * `properties`: Java `Properties` syntax; `jvm`: splitting JVM flags;
//! * `values`: numbers, ports and booleans with Java's semantics;
//! * `keys`: the table of known keys and properties;
//! * `parser`: applying zoo.cfg's keys in order, and the whole pipeline;
//! * `props`: the `-D` system properties and `corral.*` settings;
//! * `quorum`: `server.N` lines, `myid`, the ensemble checks.

mod jvm;
mod keys;
mod parser;
mod properties;
mod props;
mod quorum;
pub use quorum::parse_server_line;
pub mod sasl;
#[cfg(test)]
mod tests;
pub mod tls;
mod values;

use crate::protocol::fourlw::Cmd;
use jvm::shell_words;
use parser::{parse_with, Env, Parser};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// ZooKeeper's `ZooKeeperServer.DEFAULT_TICK_TIME` (3.8): the tick used when a
/// zoo.cfg has no `tickTime` line. (The sample config and
/// [`Config::builtin_defaults`] use 2000.)
pub const DEFAULT_TICK_TIME_MS: u32 = 3000;

/// ZooKeeper's `zookeeper.commitLogCount` default, and its floor: how many
/// committed txns are kept in memory for DIFF syncs.
pub const DEFAULT_COMMIT_LOG_COUNT: usize = 500;

/// ZooKeeper's `zookeeper.snapshotSizeFactor` default: the on-disk txn log
/// may serve a DIFF while it is under this fraction of the snapshot's size.
pub const DEFAULT_SNAPSHOT_SIZE_FACTOR: f64 = 0.33;

/// Every four-letter-word command ZooKeeper 3.8 knows (what `*` enables in
/// `4lw.commands.whitelist`): the names of [`Cmd::ALL`], the one list.
pub fn four_letter_words() -> impl Iterator<Item = &'static str> {
    Cmd::ALL.into_iter().map(Cmd::name)
}

/// ZooKeeper's default metrics provider class.
pub const DEFAULT_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";

const PROMETHEUS_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// `PurgeTxnLog` refuses to keep fewer snapshots than this.
const MIN_SNAP_RETAIN_COUNT: u32 = 3;

/// `EphemeralType.MAX_EXTENDED_SERVER_ID`.
const MAX_EXTENDED_SERVER_ID: u64 = 254;

const SERVER_LINE_FORM: &str =
    "host:quorumPort:electionPort[:participant|observer][;[clientAddress:]clientPort]";

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Where a setting came from, for error and warning messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of a config file (1-based; a continued line reports its first line).
    Line { file: String, line: usize },
    /// A file as a whole: a required key is missing or a cross-key check failed.
    File { file: String },
    /// A `-D` flag from `SERVER_JVMFLAGS`/`JVMFLAGS`.
    JvmFlag,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { file, line } => write!(f, "{file} line {line}"),
            Location::File { file } => write!(f, "{file}"),
            Location::JvmFlag => write!(f, "JVM flags"),
        }
    }
}

fn describe(at: &Location, key: &str, problem: &str) -> String {
    match at {
        Location::JvmFlag => format!("JVM flag -D{key}: {problem}"),
        other => format!("{other}: {key}: {problem}"),
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// A value is malformed, out of range, missing or contradicts another one.
    /// Displays as e.g. `zoo.cfg line 3: tickTime: "abc" is not a number`.
    #[error("{}", describe(at, key, problem))]
    Invalid {
        at: Location,
        key: String,
        problem: String,
    },
}

impl ConfigError {
    fn invalid(at: Location, key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            at,
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// The offending line, when the error is tied to one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid {
                at: Location::Line { line, .. },
                ..
            } => Some(*line),
            _ => None,
        }
    }

    /// The offending key (as written in zoo.cfg, or the property name of a
    /// `-D` flag).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Read { .. } => None,
        }
    }
}

/// ZooKeeper's request throttles (`RequestThrottler`, `Request`,
/// `ZooKeeperServer`), as system properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttles {
    /// `zookeeper.request_throttle_max_requests` (default 0: off).
    pub max_requests: u32,
    /// `zookeeper.request_throttle_stall_time`, ms (default 100).
    pub stall_ms: u32,
    /// `zookeeper.request_throttle_drop_stale` (default true).
    pub drop_stale: bool,
    /// `zookeeper.request_stale_connection_check` (default true).
    pub stale_connection_check: bool,
    /// `zookeeper.request_stale_latency_check` (default false).
    pub stale_latency_check: bool,
    /// `zookeeper.throttled_op_wait_time`, ms (default 0: off).
    pub throttled_op_wait_ms: u32,
    /// `zookeeper.largeRequestMaxBytes` (default 100 MiB).
    pub large_request_max_bytes: u32,
    /// `zookeeper.largeRequestThreshold`; `None` (-1, the default): no
    /// request is large.
    pub large_request_threshold: Option<u32>,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            max_requests: 0,
            stall_ms: 100,
            drop_stale: true,
            stale_connection_check: true,
            stale_latency_check: false,
            throttled_op_wait_ms: 0,
            large_request_max_bytes: 100 * 1024 * 1024,
            large_request_threshold: None,
        }
    }
}

/// A parsed configuration plus the warnings (one line each) the caller should log.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Role of a server in the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerType {
    Participant,
    Observer,
}

impl PeerType {
    fn parse(s: &str) -> Option<PeerType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Some(PeerType::Participant),
            "observer" => Some(PeerType::Observer),
            _ => None,
        }
    }
}

impl fmt::Display for PeerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerType::Participant => "participant",
            PeerType::Observer => "observer",
        })
    }
}

/// `zookeeper.snapshot.compression.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotCompression {
    /// `""` (the default): plain snapshots with a checksum.
    None,
    /// `"gz"`.
    Gzip,
    /// `"snappy"`.
    Snappy,
}

impl SnapshotCompression {
    /// The property value, which is also ZooKeeper's snapshot file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotCompression::None => "",
            SnapshotCompression::Gzip => "gz",
            SnapshotCompression::Snappy => "snappy",
        }
    }
}

/// One quorum/election address pair of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumAddress {
    /// Host name or IP literal as written (IPv6 without brackets). Not resolved.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// The client address from the `;[clientAddress:]clientPort` part of a server line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress {
    /// Host as written; `0.0.0.0` when only a port was given. Not resolved.
    pub host: String,
    pub port: u16,
}

/// A `server.N=host:quorumPort:electionPort[:participant|observer][;[clientAddr:]clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    /// First (usually only) address.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    /// Further `|`-separated addresses (only with `multiAddress.enabled=true`).
    pub extra_addresses: Vec<QuorumAddress>,
    pub role: PeerType,
    pub client: Option<ClientAddress>,
}

impl ServerSpec {
    /// Every address, the first one first: (host, quorum port, election port).
    pub fn addresses(&self) -> impl Iterator<Item = (&str, u16, u16)> {
        std::iter::once((self.host.as_str(), self.quorum_port, self.election_port)).chain(
            self.extra_addresses
                .iter()
                .map(|a| (a.host.as_str(), a.quorum_port, a.election_port)),
        )
    }
}

/// Typed ZooKeeper 3.8 settings. Field docs name the zoo.cfg key or system
/// property each comes from and ZooKeeper's default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `tickTime` (ms). Default 3000 in a zoo.cfg without the key (ZooKeeper's
    /// `DEFAULT_TICK_TIME`), 2000 in [`Config::builtin_defaults`].
    pub tick_time: u32,
    /// `initLimit` (ticks). 0 = unset, which is an error in a distributed setup.
    pub init_limit: u32,
    /// `syncLimit` (ticks). 0 = unset, which is an error in a distributed setup.
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit` (ticks); 0 = use `initLimit`.
    pub connect_to_learner_master_limit: u32,
    /// `dataDir`: snapshots, `myid`, and the txn log unless `dataLogDir` is set.
    pub data_dir: PathBuf,
    /// `dataLogDir`; `None` = same as `data_dir` (see [`Config::txn_log_dir`]).
    pub data_log_dir: Option<PathBuf>,
    /// `clientPort` (or the client port of this server's `server.N` line).
    /// 0 = let the OS pick (ZooKeeper would treat 0 as "no client port").
    pub client_port: u16,
    /// `clientPortAddress`; 0.0.0.0 when a zoo.cfg does not set it.
    pub client_port_address: IpAddr,
    /// `secureClientPort`: the TLS client port (`None`: off).
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`; 0.0.0.0 when not set.
    pub secure_client_port_address: IpAddr,
    /// `client.portUnification`: the plain client port takes TLS too.
    pub client_port_unification: bool,
    /// The client ports' TLS settings (`ssl.*`), when a TLS port is on.
    pub client_tls: Option<tls::TlsSettings>,
    /// `client.certReload`: new TLS connections follow a changed store.
    pub client_cert_reload: bool,
    /// `sslQuorum`: this server connects to its peers with TLS.
    pub ssl_quorum: bool,
    /// `portUnification`: the quorum and election ports take TLS and
    /// plain connections both.
    pub port_unification: bool,
    /// `sslQuorumReloadCertFiles`: new quorum connections follow a
    /// changed `ssl.quorum.*` store.
    pub ssl_quorum_reload: bool,
    /// The links between servers' TLS (`ssl.quorum.*`), when `sslQuorum`
    /// or `portUnification` is on.
    pub quorum_tls: Option<tls::QuorumTls>,
    /// `X509AuthenticationProvider.superUser`: the x509 id that is super.
    pub x509_super_user: Option<String>,
    /// SASL on the client port and authentication enforcement.
    pub sasl: sasl::SaslConfig,
    /// SASL between servers (`quorum.auth.enableSasl`), in an ensemble.
    pub quorum_sasl: Option<crate::security::quorum_auth::QuorumSasl>,
    /// The AdminServer's HTTPS (`admin.forceHttps`, `admin.portUnification`
    /// with the `ssl.quorum.*` stores), when on.
    pub admin_tls: Option<tls::AdminTls>,
    /// `observerMasterPort`.
    pub observer_master_port: Option<u16>,
    /// `clientPortListenBacklog`; `None` = OS default.
    pub client_port_listen_backlog: Option<u32>,
    /// `maxClientCnxns`: connections per client IP; 0 = unlimited. Default 60.
    pub max_client_cnxns: u32,
    /// `zookeeper.maxCnxns`: total connections; 0 = unlimited (default).
    pub max_cnxns: u32,
    /// `zookeeper.clientTcpKeepAlive`: SO_KEEPALIVE on client sockets
    /// (default false).
    pub client_tcp_keep_alive: bool,
    /// `zookeeper.tcpKeepAlive`: SO_KEEPALIVE on election sockets
    /// (default false).
    pub tcp_keep_alive: bool,
    /// `zookeeper.nio.sessionlessCnxnTimeout` (ms): a connection without a
    /// session that reads nothing for this long is closed. Default 10000.
    pub sessionless_cnxn_timeout_ms: u32,
    /// `minSessionTimeout` (ms); default 2 × tickTime.
    pub min_session_timeout: u32,
    /// `maxSessionTimeout` (ms); default 20 × tickTime.
    pub max_session_timeout: u32,
    /// `localSessionsEnabled` (default false).
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled` (default false).
    pub local_sessions_upgrading_enabled: bool,
    /// `zookeeper.globalOutstandingLimit` (default 1000).
    pub global_outstanding_limit: u32,
    /// The RequestThrottler and the large-request budget.
    pub throttles: Throttles,
    /// `zookeeper.snapCount` (default 100000; values below 2 become 2, as in ZooKeeper).
    pub snap_count: u32,
    /// `zookeeper.snapSizeLimitInKb` (default 4194304 = 4 GB); `None` when set ≤ 0 (disabled).
    pub snap_size_limit_in_kb: Option<u64>,
    /// `zookeeper.txnLogSizeLimitInKb`; `None` (default) = disabled.
    pub txn_log_size_limit_in_kb: Option<u64>,
    /// `zookeeper.preAllocSize`, in KB (default 65536 = 64 MB).
    pub pre_alloc_size_kb: u64,
    /// `zookeeper.forceSync`: anything but `no` means true (default).
    pub force_sync: bool,
    /// `zookeeper.fsync.warningthresholdms`, else `fsync.warningthresholdms` (default 1000).
    pub fsync_warning_threshold_ms: u64,
    /// `autopurge.snapRetainCount` (default 3; values below 3 become 3).
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 (default) disables auto purge.
    pub autopurge_purge_interval: u32,
    /// `zookeeper.snapshot.compression.method` (default none).
    pub snapshot_compression_method: SnapshotCompression,
    /// `zookeeper.snapshot.trust.empty` (default false).
    pub snapshot_trust_empty: bool,
    /// `zookeeper.snapshotSizeFactor` (default 0.33): a leader sends a
    /// learner a SNAP instead of a DIFF once the txns it would send weigh
    /// more than this share of the last snapshot. A negative value always
    /// sends a SNAP past the committed log, as ZooKeeper does.
    pub snapshot_size_factor: f64,
    /// `zookeeper.commitLogCount`: committed txns kept in memory for DIFF
    /// syncs (default and least 500, as ZooKeeper's `ZKDatabase`).
    pub commit_log_count: usize,
    /// `zookeeper.leaderConnectDelayDuringRetryMs` (ms, default 100): a
    /// learner's pause between tries to connect to its leader.
    pub leader_connect_delay_during_retry_ms: u64,
    /// `zookeeper.leader.maxConcurrentSnapSyncs` (default 10): observers'
    /// SNAP syncs a leader or observer master runs at once.
    pub max_concurrent_snap_syncs: usize,
    /// `zookeeper.leader.maxConcurrentDiffSyncs` (default 100): the same
    /// for every other sync.
    pub max_concurrent_diff_syncs: usize,
    /// `zookeeper.fastleader.minNotificationInterval` (ms, default 200):
    /// an election's first wait for notifications.
    pub fastleader_min_notification_interval_ms: u64,
    /// `zookeeper.fastleader.maxNotificationInterval` (ms, default 60000):
    /// the longest, as the waits double.
    pub fastleader_max_notification_interval_ms: u64,
    /// `zookeeper.datadir.autocreate` (default true): create a missing
    /// `dataDir/version-2` and `dataLogDir/version-2`. With false a missing
    /// one stops the start, naming the key.
    pub datadir_autocreate: bool,
    /// `zookeeper.netty.server.outstandingHandshake.limit`: TLS handshakes
    /// one client port may have in flight (none when unset or 0 or less).
    pub tls_handshake_limit: Option<usize>,
    /// `zookeeper.digest.enabled` (default true).
    pub digest_enabled: bool,
    /// `server.N` lines (from zoo.cfg or `dynamicConfigFile`), sorted by id.
    pub servers: Vec<ServerSpec>,
    /// `group.N=a:b:c` lines: a hierarchical quorum (ZooKeeper's
    /// `QuorumHierarchical`) when not empty; by group id.
    pub quorum_groups: Vec<(u64, Vec<u64>)>,
    /// `weight.N` lines (a grouped server without one weighs 1).
    pub quorum_weights: BTreeMap<u64, u64>,
    /// Contents of `<dataDir>/myid`, when [`load`] found one.
    pub server_id: Option<u64>,
    /// `peerType` (default participant; the `server.N` line wins when they disagree).
    pub peer_type: PeerType,
    /// `syncEnabled`, overridden by `zookeeper.observer.syncEnabled` (default true).
    pub sync_enabled: bool,
    /// `standaloneEnabled` (default true).
    pub standalone_enabled: bool,
    /// `reconfigEnabled` (default false).
    pub reconfig_enabled: bool,
    /// `quorumListenOnAllIPs` (default false).
    pub quorum_listen_on_all_ips: bool,
    /// `zookeeper.electionPortBindRetry` (default 3; 0 = retry forever).
    pub election_port_bind_retry: u32,
    /// `zookeeper.cnxTimeout` (ms, default 5000).
    pub cnx_timeout_ms: u32,
    /// `zookeeper.quorumCnxnTimeoutMs`; `None` (default) = syncLimit × tickTime.
    pub quorum_cnxn_timeout_ms: Option<u32>,
    /// `zookeeper.leaderServes`: anything but `no` means true (default).
    pub leader_serves: bool,
    /// `multiAddress.enabled` (or `zookeeper.multiAddress.enabled`; default false).
    pub multi_address_enabled: bool,
    /// `multiAddress.reachabilityCheckEnabled` (default true).
    pub multi_address_reachability_check_enabled: bool,
    /// `multiAddress.reachabilityCheckTimeoutMs` (default 1000).
    pub multi_address_reachability_check_timeout_ms: u32,
    /// `dynamicConfigFile`.
    pub dynamic_config_file: Option<PathBuf>,
    /// The quorum config's version: the hex after the last `.` of the
    /// dynamic config file's name (`zoo.cfg.dynamic.100000000`), as
    /// `QuorumPeerConfig.getVersionFromFilename`; 0 without one.
    pub config_version: i64,
    /// Enabled four-letter words: `zookeeper.4lw.commands.whitelist` (zoo.cfg
    /// `4lw.commands.whitelist`; `*` = all), plus `srvr` always and `isro` when
    /// `readonlymode.enabled=true`. Default: just `srvr`.
    pub four_lw_whitelist: BTreeSet<String>,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<String>,
    /// `zookeeper.DigestAuthenticationProvider.enabled` (default true).
    pub digest_auth_enabled: bool,
    /// `zookeeper.extendedTypesEnabled` (TTL nodes; default false).
    pub extended_types_enabled: bool,
    /// `zookeeper.emulate353TTLNodes` (default false).
    pub emulate_353_ttl_nodes: bool,
    /// `readonlymode.enabled` (JVM property only; default false).
    pub readonly_mode_enabled: bool,
    /// `znode.container.checkIntervalMs` (JVM property only; default 60000).
    pub container_check_interval_ms: u32,
    /// `znode.container.maxPerMinute` (JVM property only; default 10000).
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs` (JVM property only; default 0 = never).
    pub container_max_never_used_interval_ms: u64,
    /// `zookeeper.skipACL`: true only for exactly `yes`, as in ZooKeeper.
    pub skip_acl: bool,
    /// `jute.maxbuffer` (JVM property only; default 0xfffff).
    pub jute_maxbuffer: u32,
    /// `zookeeper.jute.maxbuffer.extrasize`: what a quorum packet's buffer
    /// may hold past `jute.maxbuffer` (`None`: `jute.maxbuffer` again,
    /// ZooKeeper's default; at least 1024).
    pub jute_maxbuffer_extrasize: Option<u32>,
    /// `zookeeper.enableEagerACLCheck` (default false).
    pub enable_eager_acl_check: bool,
    /// `zookeeper.enforceQuota` (default false).
    pub enforce_quota: bool,
    /// `zookeeper.audit.enable` (default false).
    pub audit_enable: bool,
    /// `zookeeper.connection_throttle_*` (`BlueThrottle`), weights applied.
    pub connection_throttle: crate::ops::throttle::ThrottleSettings,
    /// `zookeeper.admin.enableServer`: anything but `false` means true (default).
    pub admin_enable_server: bool,
    /// `zookeeper.admin.serverAddress` (default 127.0.0.1; ZooKeeper: 0.0.0.0).
    pub admin_server_address: IpAddr,
    /// `zookeeper.admin.serverPort` (default 8080).
    pub admin_server_port: u16,
    /// `zookeeper.admin.idleTimeout` (ms, default 30000).
    pub admin_idle_timeout_ms: u32,
    /// `zookeeper.admin.commandURL` (default `/commands`).
    pub admin_command_url: String,
    /// `corral.admin.requestTimeoutMs`: the whole request head must
    /// arrive within this (default 10000; the AdminServer and `/metrics`).
    pub admin_request_timeout_ms: u32,
    /// `corral.admin.maxConnections`: HTTP connections served at once on
    /// each of the AdminServer and `/metrics` ports (default 32).
    pub admin_max_connections: u32,
    /// `corral.quorum.maxConnections`: connections each quorum-facing
    /// port (election, quorum, observer master) holds at once (default
    /// 256); see `server::port_slots`.
    pub quorum_max_connections: u32,
    /// `corral.admin.showSessionIds`: whether the AdminServer's JSON shows
    /// session ids (default false: a session id is half a session's
    /// credentials, see docs/admin.md).
    pub admin_show_session_ids: bool,
    /// `zookeeper.admin.snapshot.enabled` (3.9; default true).
    pub admin_snapshot_enabled: bool,
    /// `zookeeper.admin.restore.enabled` (3.9; default true).
    pub admin_restore_enabled: bool,
    /// `zookeeper.admin.rateLimiterIntervalInMS` (3.9; default 300000).
    pub admin_rate_limiter_interval_ms: u64,
    /// `zookeeper.serializeLastProcessedZxid.enabled` (3.9; default true):
    /// `false` makes `snapshot` and `restore` answer 500, as in 3.9.
    pub serialize_last_processed_zxid: bool,
    /// `corral.admin.restore.maxBytes`: the largest `restore` body read
    /// (default 256 MiB).
    pub admin_restore_max_bytes: u64,
    /// `metricsProvider.className` (default [`DEFAULT_METRICS_PROVIDER`]).
    pub metrics_provider_class_name: String,
    /// `metricsProvider.httpHost` (Prometheus exporter; default 0.0.0.0).
    pub metrics_http_host: IpAddr,
    /// `metricsProvider.httpPort` (Prometheus exporter; default 7000).
    pub metrics_http_port: u16,
    /// `metricsProvider.exportJvmInfo` (default true): whether `/metrics`
    /// shows the process figures (ZooKeeper's `DefaultExports`).
    pub metrics_export_jvm_info: bool,
    /// All system properties: the `-D` flags, overlaid with `zookeeper.<key>`
    /// for every zoo.cfg key `QuorumPeerConfig` does not handle itself.
    pub properties: BTreeMap<String, String>,
}

impl Config {
    /// The longest buffer a quorum packet may carry, as ZooKeeper's
    /// `BinaryInputArchive` allows it: `jute.maxbuffer` plus
    /// `zookeeper.jute.maxbuffer.extrasize` (by default `jute.maxbuffer`
    /// again, at least 1024), at most `i32::MAX`.
    pub fn quorum_max_buffer(&self) -> usize {
        let extra = self
            .jute_maxbuffer_extrasize
            .unwrap_or(self.jute_maxbuffer)
            .max(1024);
        (u64::from(self.jute_maxbuffer) + u64::from(extra)).min(i32::MAX as u64) as usize
    }

    /// Settings used when corral runs without a config file: a standalone
    /// server on 127.0.0.1:2181 with data in `./data`, tickTime 2000,
    /// initLimit 10 and syncLimit 5 (ZooKeeper's `zoo_sample.cfg`), no
    /// properties. Use [`load_builtin`] to apply `-D` flags on top.
    pub fn builtin_defaults() -> Config {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut c = zk_defaults();
        c.tick_time = 2000;
        c.init_limit = 10;
        c.sync_limit = 5;
        c.min_session_timeout = 2 * 2000;
        c.max_session_timeout = 20 * 2000;
        c.data_dir = PathBuf::from("./data");
        c.client_port = 2181;
        c.client_port_address = loopback;
        c.admin_server_address = loopback;
        c.metrics_http_host = loopback;
        c
    }

    /// Address the plaintext client listener binds.
    pub fn client_address(&self) -> SocketAddr {
        SocketAddr::new(self.client_port_address, self.client_port)
    }

    /// Where transaction logs go: `dataLogDir`, else `dataDir`.
    pub fn txn_log_dir(&self) -> &Path {
        self.data_log_dir.as_deref().unwrap_or(&self.data_dir)
    }

    /// ZooKeeper's `isDistributed()`: run as an ensemble member rather than
    /// standalone (more than one participant, or `standaloneEnabled=false`
    /// with a server list).
    pub fn is_distributed(&self) -> bool {
        !self.servers.is_empty() && (!self.standalone_enabled || self.voting_members().count() > 1)
    }

    /// Participants of the ensemble.
    pub fn voting_members(&self) -> impl Iterator<Item = &ServerSpec> {
        self.servers
            .iter()
            .filter(|s| s.role == PeerType::Participant)
    }

    /// Observers of the ensemble.
    pub fn observers(&self) -> impl Iterator<Item = &ServerSpec> {
        self.servers.iter().filter(|s| s.role == PeerType::Observer)
    }

    /// This server's `server.N` line, if `myid` is known and listed.
    pub fn my_server(&self) -> Option<&ServerSpec> {
        let id = self.server_id?;
        self.servers.iter().find(|s| s.id == id)
    }

    /// Whether a four-letter word may be executed.
    pub fn is_four_letter_word_enabled(&self, cmd: &str) -> bool {
        self.four_lw_whitelist.contains(cmd)
    }

    /// Whether `metricsProvider.className` selects the Prometheus exporter
    /// (which would listen on `metrics_http_host:metrics_http_port`).
    pub fn metrics_prometheus_enabled(&self) -> bool {
        self.metrics_provider_class_name == PROMETHEUS_METRICS_PROVIDER
    }

    /// A system property (JVM `-D` flag or `zookeeper.<key>` from zoo.cfg).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// ZooKeeper's defaults for a zoo.cfg (data_dir is a placeholder: a file must set it).
fn zk_defaults() -> Config {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    Config {
        tick_time: DEFAULT_TICK_TIME_MS,
        init_limit: 0,
        sync_limit: 0,
        connect_to_learner_master_limit: 0,
        data_dir: PathBuf::new(),
        data_log_dir: None,
        client_port: 2181,
        client_port_address: any,
        secure_client_port: None,
        secure_client_port_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        client_port_unification: false,
        client_tls: None,
        client_cert_reload: false,
        ssl_quorum: false,
        port_unification: false,
        ssl_quorum_reload: false,
        quorum_tls: None,
        quorum_sasl: None,
        x509_super_user: None,
        sasl: sasl::SaslConfig::default(),
        admin_tls: None,
        observer_master_port: None,
        client_port_listen_backlog: None,
        max_client_cnxns: 60,
        max_cnxns: 0,
        client_tcp_keep_alive: false,
        tcp_keep_alive: false,
        sessionless_cnxn_timeout_ms: 10_000,
        min_session_timeout: 2 * DEFAULT_TICK_TIME_MS,
        max_session_timeout: 20 * DEFAULT_TICK_TIME_MS,
        local_sessions_enabled: false,
        local_sessions_upgrading_enabled: false,
        global_outstanding_limit: 1000,
        throttles: Throttles::default(),
        snap_count: 100_000,
        snap_size_limit_in_kb: Some(4_194_304),
        txn_log_size_limit_in_kb: None,
        pre_alloc_size_kb: 65_536,
        force_sync: true,
        fsync_warning_threshold_ms: 1000,
        autopurge_snap_retain_count: MIN_SNAP_RETAIN_COUNT,
        autopurge_purge_interval: 0,
        snapshot_compression_method: SnapshotCompression::None,
        snapshot_trust_empty: false,
        snapshot_size_factor: DEFAULT_SNAPSHOT_SIZE_FACTOR,
        commit_log_count: DEFAULT_COMMIT_LOG_COUNT,
        leader_connect_delay_during_retry_ms: 100,
        max_concurrent_snap_syncs: 10,
        max_concurrent_diff_syncs: 100,
        fastleader_min_notification_interval_ms: 200,
        fastleader_max_notification_interval_ms: 60_000,
        datadir_autocreate: true,
        tls_handshake_limit: None,
        digest_enabled: true,
        servers: Vec::new(),
        quorum_groups: Vec::new(),
        quorum_weights: BTreeMap::new(),
        server_id: None,
        peer_type: PeerType::Participant,
        sync_enabled: true,
        standalone_enabled: true,
        reconfig_enabled: false,
        quorum_listen_on_all_ips: false,
        election_port_bind_retry: 3,
        cnx_timeout_ms: 5000,
        quorum_cnxn_timeout_ms: None,
        leader_serves: true,
        multi_address_enabled: false,
        multi_address_reachability_check_enabled: true,
        multi_address_reachability_check_timeout_ms: 1000,
        dynamic_config_file: None,
        config_version: 0,
        four_lw_whitelist: BTreeSet::from(["srvr".to_string()]),
        super_digest: None,
        digest_auth_enabled: true,
        extended_types_enabled: false,
        emulate_353_ttl_nodes: false,
        readonly_mode_enabled: false,
        container_check_interval_ms: 60_000,
        container_max_per_minute: 10_000,
        container_max_never_used_interval_ms: 0,
        skip_acl: false,
        jute_maxbuffer: 0xfffff,
        jute_maxbuffer_extrasize: None,
        enable_eager_acl_check: false,
        enforce_quota: false,
        audit_enable: false,
        connection_throttle: crate::ops::throttle::ThrottleSettings::default(),
        admin_enable_server: true,
        // ZooKeeper's default is 0.0.0.0; corral's console shows more than
        // ZooKeeper's AdminServer, so it listens on loopback unless told
        // otherwise (docs/admin.md, "What the console shows").
        admin_server_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        admin_server_port: 8080,
        admin_idle_timeout_ms: 30_000,
        admin_command_url: "/commands".to_string(),
        admin_request_timeout_ms: 10_000,
        admin_max_connections: 32,
        quorum_max_connections: 256,
        admin_show_session_ids: false,
        admin_snapshot_enabled: true,
        admin_restore_enabled: true,
        admin_rate_limiter_interval_ms: 300_000,
        serialize_last_processed_zxid: true,
        admin_restore_max_bytes: 256 << 20,
        metrics_provider_class_name: DEFAULT_METRICS_PROVIDER.to_string(),
        metrics_http_host: any,
        metrics_http_port: 7000,
        metrics_export_jvm_info: true,
        properties: BTreeMap::new(),
    }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// Extracts the system properties from a `SERVER_JVMFLAGS`/`JVMFLAGS` string:
/// `-Dkey=value` → (key, value), `-Dkey` → (key, ""). Words are split like a
/// POSIX shell would (single quotes, double quotes with `\"` escapes, backslash
/// escapes), so `-Dzookeeper.superUser="a b"` works. Other JVM options are
/// ignored; for a repeated key the last flag wins, as in the JVM.
pub fn parse_jvm_flags(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for word in shell_words(s) {
        let Some(body) = word.strip_prefix("-D") else {
            continue;
        };
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k, v),
            None => (body, ""),
        };
        if !key.is_empty() {
            out.insert(key.to_string(), value.to_string());
        }
    }
    out
}

/// Reads and parses a zoo.cfg as ZooKeeper 3.8 would, with `jvm_flags` (see
/// [`parse_jvm_flags`]) as the initial system properties. Also reads
/// `<dataDir>/myid` when it exists and `dynamicConfigFile` when one is named;
/// a distributed configuration without a `myid` file is an error, as in
/// ZooKeeper. Relative paths are relative to the current directory.
pub fn load(path: &Path, jvm_flags: &BTreeMap<String, String>) -> Result<Loaded, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = decode_text(bytes);
    let origin = path.display().to_string();
    tracing::debug!(file = %origin, "reading ZooKeeper configuration");
    let read = |p: &Path| std::fs::read(p).map(decode_text);
    parse_with(
        &text,
        &origin,
        jvm_flags,
        &Env {
            read: &read,
            look_for_myid: true,
        },
    )
}

/// Parses zoo.cfg text without touching the file system: `origin_name` is the
/// file name used in messages, no `myid` file is looked for (so
/// [`Config::server_id`] is `None` and a distributed config is not rejected for
/// lacking one), and a `dynamicConfigFile` cannot be read (error).
pub fn parse_str(
    text: &str,
    origin_name: &str,
    jvm_flags: &BTreeMap<String, String>,
) -> Result<Loaded, ConfigError> {
    let read = |p: &Path| -> io::Result<String> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} was not read (parse_str does no I/O)", p.display()),
        ))
    };
    parse_with(
        text,
        origin_name,
        jvm_flags,
        &Env {
            read: &read,
            look_for_myid: false,
        },
    )
}

/// [`Config::builtin_defaults`] with `jvm_flags` applied: what corral runs
/// with when no config file is given. Warns about Java-only flags like
/// [`load`] does.
pub fn load_builtin(jvm_flags: &BTreeMap<String, String>) -> Result<Loaded, ConfigError> {
    let mut p = Parser::new("(built-in defaults)", jvm_flags);
    let mut cfg = Config::builtin_defaults();
    p.warn_java_only_flags()?;
    p.resolve_properties(&mut cfg)?;
    let read = |p: &Path| std::fs::read(p).map(decode_text);
    p.resolve_client_tls(&mut cfg, &read)?;
    p.resolve_sasl(&mut cfg, &read)?;
    p.resolve_admin_tls(&mut cfg, &read)?;
    cfg.properties = p.props;
    Ok(Loaded {
        config: cfg,
        warnings: p.warnings,
    })
}

/// Java reads properties files as ISO-8859-1; we take UTF-8 when the bytes
/// are valid UTF-8 (so non-ASCII paths survive) and fall back to Latin-1.
fn decode_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}
