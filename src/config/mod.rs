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
//!   names the file, line and key; a setting corral does not implement (TLS,
//!   SASL, Java class plug-ins, ...) is accepted with one warning line.
//!
//! Apart from [`load`] (which reads the config file, `<dataDir>/myid` and a
//! `dynamicConfigFile` if one is named) nothing here does I/O or logs; callers
//! print [`Loaded::warnings`] themselves.

use crate::protocol::fourlw::Cmd;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// ZooKeeper's `ZooKeeperServer.DEFAULT_TICK_TIME` (3.8): the tick used when a
/// zoo.cfg has no `tickTime` line. (The sample config and
/// [`Config::builtin_defaults`] use 2000.)
pub const DEFAULT_TICK_TIME_MS: u32 = 3000;

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
    /// `secureClientPort` (TLS; parsed, not served by corral).
    pub secure_client_port: Option<u16>,
    /// `observerMasterPort`.
    pub observer_master_port: Option<u16>,
    /// `clientPortListenBacklog`; `None` = OS default.
    pub client_port_listen_backlog: Option<u32>,
    /// `maxClientCnxns`: connections per client IP; 0 = unlimited. Default 60.
    pub max_client_cnxns: u32,
    /// `zookeeper.maxCnxns`: total connections; 0 = unlimited (default).
    pub max_cnxns: u32,
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
    /// `zookeeper.digest.enabled` (default true).
    pub digest_enabled: bool,
    /// `server.N` lines (from zoo.cfg or `dynamicConfigFile`), sorted by id.
    pub servers: Vec<ServerSpec>,
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
    /// `zookeeper.enableEagerACLCheck` (default false).
    pub enable_eager_acl_check: bool,
    /// `zookeeper.enforceQuota` (default false).
    pub enforce_quota: bool,
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
    /// `corral.admin.showSessionIds`: whether the AdminServer's JSON shows
    /// session ids (default false: a session id is half a session's
    /// credentials, see docs/admin.md).
    pub admin_show_session_ids: bool,
    /// `metricsProvider.className` (default [`DEFAULT_METRICS_PROVIDER`]).
    pub metrics_provider_class_name: String,
    /// `metricsProvider.httpHost` (Prometheus exporter; default 0.0.0.0).
    pub metrics_http_host: IpAddr,
    /// `metricsProvider.httpPort` (Prometheus exporter; default 7000).
    pub metrics_http_port: u16,
    /// All system properties: the `-D` flags, overlaid with `zookeeper.<key>`
    /// for every zoo.cfg key `QuorumPeerConfig` does not handle itself.
    pub properties: BTreeMap<String, String>,
}

impl Config {
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
        observer_master_port: None,
        client_port_listen_backlog: None,
        max_client_cnxns: 60,
        max_cnxns: 0,
        sessionless_cnxn_timeout_ms: 10_000,
        min_session_timeout: 2 * DEFAULT_TICK_TIME_MS,
        max_session_timeout: 20 * DEFAULT_TICK_TIME_MS,
        local_sessions_enabled: false,
        local_sessions_upgrading_enabled: false,
        global_outstanding_limit: 1000,
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
        digest_enabled: true,
        servers: Vec::new(),
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
        enable_eager_acl_check: false,
        enforce_quota: false,
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
        admin_show_session_ids: false,
        metrics_provider_class_name: DEFAULT_METRICS_PROVIDER.to_string(),
        metrics_http_host: any,
        metrics_http_port: 7000,
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
    p.warn_java_only_flags();
    p.resolve_properties(&mut cfg)?;
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

// ---------------------------------------------------------------------------
// Shell-like word splitting for JVM flags
// ---------------------------------------------------------------------------

fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => cur.push('\\'),
                        },
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

// ---------------------------------------------------------------------------
// Java Properties syntax
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct RawEntry {
    key: String,
    value: String,
    line: usize,
}

fn is_prop_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits into natural lines (`\n`, `\r\n` or `\r`) with 1-based numbers.
fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut line) = (0, 0, 1);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' => {
                out.push((line, &text[start..i]));
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                start = i;
                line += 1;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push((line, &text[start..]));
    }
    out
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// `java.util.Properties.load` followed by `QuorumPeerConfig`'s trimming of
/// keys and values. Entries come back in file order, duplicates included.
fn parse_java_properties(text: &str, file: &str) -> Result<Vec<RawEntry>, ConfigError> {
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, raw) = lines[i];
        i += 1;
        let first = raw.trim_start_matches(is_prop_ws);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            let Some(&(_, next)) = lines.get(i) else {
                break;
            };
            i += 1;
            logical.push_str(next.trim_start_matches(is_prop_ws));
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let at = || Location::Line {
            file: file.to_string(),
            line: line_no,
        };
        let key = unescape(raw_key).map_err(|p| ConfigError::invalid(at(), raw_key, p))?;
        let key = java_trim(&key).to_string();
        let value = unescape(raw_value).map_err(|p| ConfigError::invalid(at(), &key, p))?;
        out.push(RawEntry {
            value: java_trim(&value).to_string(),
            key,
            line: line_no,
        });
    }
    Ok(out)
}

/// The key ends at the first unescaped `=`, `:` or whitespace; then
/// whitespace, at most one `=`/`:`, and whitespace are skipped.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_sep = false;
    let mut escaped = false;
    for (idx, c) in line.char_indices() {
        if !escaped && (c == '=' || c == ':') {
            key_end = idx;
            value_start = idx + 1;
            has_sep = true;
            break;
        }
        if !escaped && is_prop_ws(c) {
            key_end = idx;
            value_start = idx + c.len_utf8();
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut rest = &line[value_start..];
    loop {
        rest = rest.trim_start_matches(is_prop_ws);
        match rest.chars().next() {
            Some(c @ ('=' | ':')) if !has_sep => {
                has_sep = true;
                rest = &rest[c.len_utf8()..];
            }
            _ => break,
        }
    }
    (&line[..key_end], rest)
}

/// Java properties escapes: `\t \n \r \f`, `\uXXXX` (UTF-16, surrogate pairs
/// combined), and `\x` → `x` for anything else.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut pending_high: Option<u16> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_surrogate(&mut out, &mut pending_high);
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {}
            Some('u') => {
                let mut unit: u16 = 0;
                for _ in 0..4 {
                    let d = chars
                        .next()
                        .and_then(|h| h.to_digit(16))
                        .ok_or_else(|| "malformed \\uXXXX escape".to_string())?;
                    unit = unit * 16 + d as u16;
                }
                match (pending_high.take(), unit) {
                    (Some(hi), 0xDC00..=0xDFFF) => {
                        let cp =
                            0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                        out.push(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
                    }
                    (prev, _) => {
                        if prev.is_some() {
                            out.push(char::REPLACEMENT_CHARACTER);
                        }
                        if (0xD800..=0xDBFF).contains(&unit) {
                            pending_high = Some(unit);
                        } else {
                            out.push(
                                char::from_u32(u32::from(unit))
                                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                            );
                        }
                    }
                }
            }
            Some(e) => {
                flush_surrogate(&mut out, &mut pending_high);
                out.push(match e {
                    't' => '\t',
                    'n' => '\n',
                    'r' => '\r',
                    'f' => '\x0c',
                    other => other,
                });
            }
        }
    }
    flush_surrogate(&mut out, &mut pending_high);
    Ok(out)
}

fn flush_surrogate(out: &mut String, pending: &mut Option<u16>) {
    if pending.take().is_some() {
        out.push(char::REPLACEMENT_CHARACTER);
    }
}

/// `String.trim()`: strips every char ≤ U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

// ---------------------------------------------------------------------------
// Number parsing with Java semantics
// ---------------------------------------------------------------------------

enum NumError {
    NotANumber,
    OutOfRange,
}

/// `Integer.parseInt`/`Long.parseLong`: optional sign, decimal digits.
fn java_decimal(s: &str) -> Result<i64, NumError> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumError::NotANumber);
    }
    t.parse::<i64>().map_err(|_| NumError::OutOfRange)
}

/// `Integer.decode` (used by `Integer.getInteger`/`Long.getLong`): also
/// accepts `0x`/`0X`/`#` hex and leading-zero octal.
fn java_decode(s: &str) -> Result<i64, NumError> {
    let t = s.trim();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, digits) = if let Some(r) = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))
        .or_else(|| rest.strip_prefix('#'))
    {
        (16, r)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(NumError::NotANumber);
    }
    let magnitude = i64::from_str_radix(digits, radix).map_err(|_| NumError::OutOfRange)?;
    Ok(if neg { -magnitude } else { magnitude })
}

fn check_range(parsed: Result<i64, NumError>, raw: &str, lo: i64, hi: i64) -> Result<i64, String> {
    match parsed {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(_) | Err(NumError::OutOfRange) => Err(format!(
            "{} is out of range (allowed: {lo} to {hi})",
            raw.trim()
        )),
        Err(NumError::NotANumber) => Err(format!("\"{raw}\" is not a number")),
    }
}

fn decimal_in(raw: &str, lo: i64, hi: i64) -> Result<i64, String> {
    check_range(java_decimal(raw), raw, lo, hi)
}

fn decode_in(raw: &str, lo: i64, hi: i64) -> Result<i64, String> {
    check_range(java_decode(raw), raw, lo, hi)
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;

fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n.max(0)).unwrap_or(0)
}

fn port(raw: &str) -> Result<u16, String> {
    match java_decimal(raw) {
        Ok(n) => u16::try_from(n)
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("{} is not a valid port (1 to 65535)", raw.trim())),
        Err(_) => Err(format!("\"{raw}\" is not a port number")),
    }
}

/// `QuorumPeerConfig.parseBoolean`: `true`/`false`, any case.
fn strict_bool(raw: &str) -> Result<bool, String> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("\"{raw}\" is not true or false"))
    }
}

/// An IP literal (optionally in brackets) or `localhost`. Host names are not
/// resolved here: that would be I/O.
fn ip_addr(raw: &str) -> Result<IpAddr, String> {
    let t = raw.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    if inner.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    inner.parse::<IpAddr>().map_err(|_| {
        format!(
            "\"{raw}\" is not an IP address (corral does not resolve host names here; \
             use e.g. 0.0.0.0 or 127.0.0.1)"
        )
    })
}

// ---------------------------------------------------------------------------
// Key classification
// ---------------------------------------------------------------------------

/// Why corral ignores a setting ZooKeeper implements in Java, if it does.
/// `key` is the zoo.cfg spelling (property name without `zookeeper.`).
fn java_only(key: &str, value: &str) -> Option<&'static str> {
    const TLS: &str = "TLS is not supported by corral; ignored";
    const SASL: &str = "SASL/Kerberos authentication is not supported by corral; ignored";
    let k = key;
    let any = |names: &[&str]| names.contains(&k);
    if any(&[
        "secureClientPort",
        "secureClientPortAddress",
        "sslQuorum",
        "sslQuorumReloadCertFiles",
        "portUnification",
        "client.portUnification",
        "client.certReload",
        "X509AuthenticationProvider.superUser",
        "netty.server.earlyDropSecureConnectionHandshakes",
        "netty.server.outstandingHandshake.limit",
        "outstandingHandshake.limit",
        "fips-mode",
    ]) || k.starts_with("ssl.")
    {
        return Some(TLS);
    }
    if any(&[
        "quorum.cnxn.threads.size",
        "sessionRequireClientSASLAuth",
        "superUser",
        "allowSaslFailedClients",
    ]) || k.starts_with("quorum.auth.")
        || k.starts_with("kerberos.")
        || k.starts_with("sasl.")
        || k.starts_with("superUser.")
    {
        return Some(SASL);
    }
    if k == "authProvider" || k.starts_with("authProvider.") {
        return Some("Java authentication provider classes are not supported by corral; ignored");
    }
    if any(&["serverCnxnFactory", "watchManagerName", "audit.impl.class"]) {
        return Some("selects a Java implementation class; corral has its own; ignored");
    }
    if k == "advancedFlowControlEnabled" {
        return Some("Netty-specific; ignored by corral");
    }
    if k.starts_with("jvm.pause.") {
        return Some(
            "JVM pause monitoring does not apply to corral (its stall monitor is set with corral.stallThresholdMs); ignored",
        );
    }
    if k == "admin.portUnification" || k == "admin.forceHttps" {
        return Some("TLS on the AdminServer is not supported by corral; it serves plain HTTP");
    }
    if k == "metricsProvider.className"
        && value != DEFAULT_METRICS_PROVIDER
        && value != PROMETHEUS_METRICS_PROVIDER
    {
        return Some("unknown metrics provider class; corral serves no metrics endpoint for it");
    }
    if k == "oraclePath" {
        return Some("the quorum oracle (QuorumOracleMaj) is not supported by corral; ignored");
    }
    if k.starts_with("group.") || k.starts_with("weight.") {
        return Some("hierarchical quorums are not supported by corral; majority quorums are used");
    }
    if k == "DigestAuthenticationProvider.digestAlg"
        && !(value.eq_ignore_ascii_case("SHA1") || value.eq_ignore_ascii_case("SHA-1"))
    {
        return Some("corral computes digest ACLs with SHA1 only; ignored");
    }
    None
}

/// Documented zoo.cfg keys that ZooKeeper reads only from a system property
/// *without* the `zookeeper.` prefix, so a zoo.cfg line has no effect.
const JVM_ONLY_PROPERTIES: [&str; 5] = [
    "jute.maxbuffer",
    "readonlymode.enabled",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
    "znode.container.maxNeverUsedIntervalMs",
];

/// Keys `QuorumPeerConfig.parseProperties` handles itself (they do not become
/// system properties). `server.`/`group`/`weight` and `metricsProvider.` are
/// matched by prefix elsewhere. (The match in `apply_entry` is authoritative;
/// this list lets the tests check that every one of them is accepted.)
#[cfg(test)]
const QPC_KEYS: [&str; 43] = [
    "dataDir",
    "dataLogDir",
    "clientPort",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "clientPortAddress",
    "secureClientPort",
    "secureClientPortAddress",
    "observerMasterPort",
    "clientPortListenBacklog",
    "tickTime",
    "maxClientCnxns",
    "minSessionTimeout",
    "maxSessionTimeout",
    "initLimit",
    "syncLimit",
    "connectToLearnerMasterLimit",
    "electionAlg",
    "quorumListenOnAllIPs",
    "peerType",
    "syncEnabled",
    "dynamicConfigFile",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
    "standaloneEnabled",
    "reconfigEnabled",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "quorum.auth.enableSasl",
    "quorum.auth.serverRequireSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.learner.saslLoginContext",
    "quorum.auth.server.saslLoginContext",
    "quorum.auth.kerberos.servicePrincipal",
    "quorum.cnxn.threads.size",
    "jvm.pause.info-threshold.ms",
    "jvm.pause.warn-threshold.ms",
    "jvm.pause.sleep.time.ms",
    "jvm.pause.monitor",
    "multiAddress.enabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    "multiAddress.reachabilityCheckEnabled",
];

/// Documented (zookeeperAdmin.md, 3.8) keys that become `zookeeper.<key>`
/// system properties, plus `zookeeper.`-documented properties written without
/// the prefix (which also work from zoo.cfg).
const PROPERTY_KEYS: [&str; 97] = [
    "globalOutstandingLimit",
    // Read by ZKDatabase (a leader's DIFF from its txn log); not in the
    // admin guide, but a 3.8 property all the same.
    "snapshotSizeFactor",
    "preAllocSize",
    "snapCount",
    "commitLogCount",
    "snapSizeLimitInKb",
    "txnLogSizeLimitInKb",
    "maxCnxns",
    "fsync.warningthresholdms",
    "maxResponseCacheSize",
    "maxGetChildrenResponseCacheSize",
    "extendedTypesEnabled",
    "emulate353TTLNodes",
    "watchManagerName",
    "watcherCleanThreadsNum",
    "watcherCleanThreshold",
    "watcherCleanIntervalInSeconds",
    "maxInProcessingDeadWatchers",
    "bitHashCacheSize",
    "fastleader.minNotificationInterval",
    "fastleader.maxNotificationInterval",
    "connectionMaxTokens",
    "connectionTokenFillTime",
    "connectionTokenFillCount",
    "connectionFreezeTime",
    "connectionDropIncrease",
    "connectionDropDecrease",
    "connectionDecreaseRatio",
    "connection_throttle_weight_enabled",
    "connection_throttle_global_session_weight",
    "connection_throttle_local_session_weight",
    "connection_throttle_renew_session_weight",
    "serverCnxnFactory",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "enforceQuota",
    "requestThrottleLimit",
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    "requestStaleLatencyCheck",
    "requestStaleConnectionCheck",
    "request_throttler.shutdownTimeout",
    "advancedFlowControlEnabled",
    "enableEagerACLCheck",
    "maxConcurrentSnapSyncs",
    "maxConcurrentDiffSyncs",
    "digest.enabled",
    "snapshot.compression.method",
    "snapshot.trust.empty",
    "audit.enable",
    "audit.impl.class",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "outstandingHandshake.limit",
    "netty.server.outstandingHandshake.limit",
    "netty.server.earlyDropSecureConnectionHandshakes",
    "throttledOpWaitTime",
    "learner.closeSocketAsync",
    "leader.closeSocketAsync",
    "learner.asyncSending",
    "forward_learner_requests_to_commit_processor_disabled",
    "maxTimeToWaitForEpoch",
    "leaderServes",
    "cnxTimeout",
    "quorumCnxnTimeoutMs",
    "4lw.commands.whitelist",
    "tcpKeepAlive",
    "clientTcpKeepAlive",
    "electionPortBindRetry",
    "observer.reconnectDelayMs",
    "observer.election.DelayMs",
    "observer.syncEnabled",
    "DigestAuthenticationProvider.enabled",
    "DigestAuthenticationProvider.superDigest",
    "DigestAuthenticationProvider.digestAlg",
    "X509AuthenticationProvider.superUser",
    "superUser",
    "ensembleAuthName",
    "sessionRequireClientSASLAuth",
    "enforce.auth.enabled",
    "enforce.auth.schemes",
    "client.certReload",
    "client.portUnification",
    "fips-mode",
    "follower.skipLearnerRequestToNextProcessor",
    "jute.maxbuffer.extrasize",
    "skipACL",
    "forceSync",
    "nio.numSelectorThreads",
    "nio.numWorkerThreads",
    "nio.sessionlessCnxnTimeout",
    "commitProcessor.numWorkerThreads",
    "commitProcessor.maxReadBatchSize",
    "commitProcessor.maxCommitBatchSize",
    "messageTracker.BufferSize",
    "messageTracker.Enabled",
];

/// Documented prefixes of property keys.
const PROPERTY_PREFIXES: [&str; 6] = [
    "ssl.",
    "authProvider.",
    "kerberos.",
    "admin.",
    "superUser.",
    "corral.",
];

fn is_documented_property_key(key: &str) -> bool {
    PROPERTY_KEYS.contains(&key)
        || key == "authProvider"
        || PROPERTY_PREFIXES.iter().any(|p| key.starts_with(p))
        || matches!(key, "datadir.autocreate" | "db.autocreate")
}

fn is_quorum_key(key: &str) -> bool {
    key.starts_with("server.") || key.starts_with("group") || key.starts_with("weight")
}

// ---------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------

struct Env<'a> {
    read: &'a dyn Fn(&Path) -> io::Result<String>,
    look_for_myid: bool,
}

/// Values from the static file that `QuorumPeerConfig` post-processes.
#[derive(Default)]
struct FileState {
    data_dir: Option<PathBuf>,
    client_port: Option<(u16, Location)>,
    client_port_address: Option<(IpAddr, Location)>,
    secure_client_port_address: Option<Location>,
    min_session_timeout: Option<(i64, Location)>,
    max_session_timeout: Option<(i64, Location)>,
    tick_time: Option<u32>,
    snap_retain_count: Option<(i64, Location)>,
    peer_type: Option<Location>,
    sync_enabled: Option<bool>,
    multi_address_enabled: Option<bool>,
    multi_address_check_enabled: Option<bool>,
    multi_address_check_timeout: Option<u32>,
    sasl_enabled: bool,
    sasl_server_required: Option<Location>,
    sasl_learner_required: Option<Location>,
    quorum_lines: Vec<RawEntry>,
}

struct Parser {
    file: String,
    warnings: Vec<String>,
    props: BTreeMap<String, String>,
    /// For each property: where it was set and the key as the user wrote it.
    sources: BTreeMap<String, (Location, String)>,
}

impl Parser {
    fn new(file: &str, jvm_flags: &BTreeMap<String, String>) -> Parser {
        Parser {
            file: file.to_string(),
            warnings: Vec::new(),
            props: jvm_flags.clone(),
            sources: jvm_flags
                .keys()
                .map(|k| (k.clone(), (Location::JvmFlag, k.clone())))
                .collect(),
        }
    }

    fn line(&self, line: usize) -> Location {
        Location::Line {
            file: self.file.clone(),
            line,
        }
    }

    fn whole_file(&self) -> Location {
        Location::File {
            file: self.file.clone(),
        }
    }

    fn warn(&mut self, at: &Location, key: &str, msg: &str) {
        let text = describe(at, key, msg);
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    /// Drops earlier occurrences of repeated keys (Java `Properties`: last one
    /// wins), warning once per overridden line.
    fn dedupe(&mut self, entries: Vec<RawEntry>) -> Vec<RawEntry> {
        let mut last: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &entries {
            last.insert(&e.key, e.line);
        }
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for e in &entries {
            match last.get(e.key.as_str()) {
                Some(&l) if l != e.line => dropped.push((e.line, e.key.clone(), l)),
                _ => kept.push(e.clone()),
            }
        }
        for (line, key, winner) in dropped {
            let at = self.line(line);
            self.warn(
                &at,
                &key,
                &format!("set again on line {winner}; the later value is used"),
            );
        }
        kept
    }

    fn warn_java_only_flags(&mut self) {
        let flagged: Vec<(String, &'static str)> = self
            .props
            .iter()
            .filter_map(|(name, value)| {
                let reason = if name == "java.security.auth.login.config" {
                    Some("SASL/Kerberos authentication is not supported by corral; ignored")
                } else {
                    java_only(name.strip_prefix("zookeeper.")?, value)
                };
                reason.map(|r| (name.clone(), r))
            })
            .collect();
        for (name, reason) in flagged {
            self.warn(&Location::JvmFlag, &name, reason);
        }
    }

    /// One zoo.cfg entry, mirroring the if/else chain of `parseProperties`.
    fn apply_entry(
        &mut self,
        cfg: &mut Config,
        st: &mut FileState,
        e: &RawEntry,
        has_dynamic_file: bool,
    ) -> Result<(), ConfigError> {
        let at = self.line(e.line);
        let key = e.key.as_str();
        let v = e.value.as_str();
        let bad = |p: String| ConfigError::invalid(at.clone(), key, p);

        if let Some(reason) = java_only(key, v) {
            self.warn(&at, key, reason);
        }

        match key {
            "dataDir" | "dataLogDir" => {
                if v.is_empty() {
                    return Err(bad("is empty; it must name a directory".into()));
                }
                if key == "dataDir" {
                    st.data_dir = Some(PathBuf::from(v));
                } else {
                    cfg.data_log_dir = Some(PathBuf::from(v));
                }
            }
            "clientPort" => {
                let n = decimal_in(v, 0, 65535).map_err(bad)?;
                let p = u16::try_from(n).unwrap_or(0);
                if p == 0 {
                    self.warn(
                        &at,
                        key,
                        "0: corral lets the OS pick a port (ZooKeeper would open no client port)",
                    );
                }
                st.client_port = Some((p, at.clone()));
            }
            "clientPortAddress" => {
                st.client_port_address = Some((ip_addr(v).map_err(bad)?, at.clone()));
            }
            "secureClientPort" => {
                let n = decimal_in(v, 0, 65535).map_err(bad)?;
                cfg.secure_client_port = u16::try_from(n).ok().filter(|&p| p != 0);
            }
            "secureClientPortAddress" => st.secure_client_port_address = Some(at.clone()),
            "observerMasterPort" => {
                let n = decimal_in(v, INT_MIN, 65535).map_err(bad)?;
                cfg.observer_master_port = u16::try_from(n).ok().filter(|&p| p != 0);
            }
            "clientPortListenBacklog" => {
                let n = decimal_in(v, INT_MIN, INT_MAX).map_err(bad)?;
                cfg.client_port_listen_backlog = match n {
                    -1 => None,
                    n if n > 0 => Some(to_u32(n)),
                    _ => return Err(bad(format!("{n} is not allowed; use a positive number"))),
                };
            }
            "tickTime" => {
                let n = decimal_in(v, INT_MIN, INT_MAX).map_err(bad)?;
                if n <= 0 {
                    return Err(bad(format!("{n} is not allowed; it must be positive")));
                }
                st.tick_time = Some(to_u32(n));
            }
            "maxClientCnxns" => {
                cfg.max_client_cnxns = to_u32(decimal_in(v, 0, INT_MAX).map_err(bad)?)
            }
            "minSessionTimeout" => {
                st.min_session_timeout =
                    Some((decimal_in(v, -1, INT_MAX).map_err(bad)?, at.clone()));
            }
            "maxSessionTimeout" => {
                st.max_session_timeout =
                    Some((decimal_in(v, -1, INT_MAX).map_err(bad)?, at.clone()));
            }
            "initLimit" => cfg.init_limit = to_u32(decimal_in(v, 0, INT_MAX).map_err(bad)?),
            "syncLimit" => cfg.sync_limit = to_u32(decimal_in(v, 0, INT_MAX).map_err(bad)?),
            "connectToLearnerMasterLimit" => {
                cfg.connect_to_learner_master_limit =
                    to_u32(decimal_in(v, 0, INT_MAX).map_err(bad)?);
            }
            "electionAlg" => {
                if decimal_in(v, INT_MIN, INT_MAX).map_err(bad)? != 3 {
                    return Err(bad(format!(
                        "{v} is not supported; only 3 (fast leader election) exists since ZooKeeper 3.6"
                    )));
                }
            }
            "quorumListenOnAllIPs" => cfg.quorum_listen_on_all_ips = strict_bool(v).map_err(bad)?,
            "peerType" => {
                cfg.peer_type = PeerType::parse(v).ok_or_else(|| {
                    bad(format!(
                        "\"{v}\" is not a peer type (participant or observer)"
                    ))
                })?;
                st.peer_type = Some(at.clone());
            }
            "syncEnabled" => st.sync_enabled = Some(strict_bool(v).map_err(bad)?),
            "dynamicConfigFile" => {
                if v.is_empty() {
                    return Err(bad("is empty; it must name a file".into()));
                }
                cfg.dynamic_config_file = Some(PathBuf::from(v));
            }
            "autopurge.snapRetainCount" => {
                st.snap_retain_count =
                    Some((decimal_in(v, INT_MIN, INT_MAX).map_err(bad)?, at.clone()));
            }
            "autopurge.purgeInterval" => {
                // ZooKeeper treats every value <= 0 as "disabled".
                cfg.autopurge_purge_interval =
                    to_u32(decimal_in(v, INT_MIN, INT_MAX).map_err(bad)?);
            }
            "standaloneEnabled" => cfg.standalone_enabled = strict_bool(v).map_err(bad)?,
            "reconfigEnabled" => cfg.reconfig_enabled = strict_bool(v).map_err(bad)?,
            "localSessionsEnabled" => cfg.local_sessions_enabled = strict_bool(v).map_err(bad)?,
            "localSessionsUpgradingEnabled" => {
                cfg.local_sessions_upgrading_enabled = strict_bool(v).map_err(bad)?;
            }
            "sslQuorum" | "portUnification" | "sslQuorumReloadCertFiles" | "jvm.pause.monitor" => {
                strict_bool(v).map_err(bad)?;
            }
            "quorum.auth.enableSasl" => st.sasl_enabled = strict_bool(v).map_err(bad)?,
            "quorum.auth.serverRequireSasl" => {
                if strict_bool(v).map_err(bad)? {
                    st.sasl_server_required = Some(at.clone());
                }
            }
            "quorum.auth.learnerRequireSasl" => {
                if strict_bool(v).map_err(bad)? {
                    st.sasl_learner_required = Some(at.clone());
                }
            }
            "quorum.auth.learner.saslLoginContext"
            | "quorum.auth.server.saslLoginContext"
            | "quorum.auth.kerberos.servicePrincipal" => {}
            "quorum.cnxn.threads.size" => {
                decimal_in(v, INT_MIN, INT_MAX).map_err(bad)?;
            }
            "jvm.pause.info-threshold.ms"
            | "jvm.pause.warn-threshold.ms"
            | "jvm.pause.sleep.time.ms" => {
                decimal_in(v, i64::MIN, i64::MAX).map_err(bad)?;
            }
            "metricsProvider.className" => cfg.metrics_provider_class_name = v.to_string(),
            "metricsProvider.httpHost" => cfg.metrics_http_host = ip_addr(v).map_err(bad)?,
            "metricsProvider.httpPort" => cfg.metrics_http_port = port(v).map_err(bad)?,
            k if k.starts_with("metricsProvider.") => {}
            "multiAddress.enabled" => st.multi_address_enabled = Some(strict_bool(v).map_err(bad)?),
            "multiAddress.reachabilityCheckTimeoutMs" => {
                st.multi_address_check_timeout =
                    Some(to_u32(decimal_in(v, 0, INT_MAX).map_err(bad)?));
            }
            "multiAddress.reachabilityCheckEnabled" => {
                st.multi_address_check_enabled = Some(strict_bool(v).map_err(bad)?);
            }
            "oraclePath" => {}
            k if is_quorum_key(k) => {
                if has_dynamic_file {
                    return Err(bad(
                        "must be in the separate dynamic config file, because dynamicConfigFile is set"
                            .into(),
                    ));
                }
                st.quorum_lines.push(e.clone());
                // ZooKeeper also lets these fall through to System.setProperty.
                self.set_file_property(key, v, at);
            }
            _ => {
                if JVM_ONLY_PROPERTIES.contains(&key) || key.starts_with("zookeeper.") {
                    self.warn(
                        &at,
                        key,
                        &format!(
                            "has no effect in zoo.cfg: ZooKeeper reads it only as the JVM flag -D{key} \
                             (this line sets zookeeper.{key})"
                        ),
                    );
                } else if !is_documented_property_key(key) {
                    self.warn(
                        &at,
                        key,
                        &format!(
                            "not a ZooKeeper 3.8 setting; kept as system property zookeeper.{key}"
                        ),
                    );
                }
                self.set_file_property(key, v, at);
            }
        }
        Ok(())
    }

    /// `System.setProperty("zookeeper." + key, value)`: overrides a -D flag.
    fn set_file_property(&mut self, key: &str, value: &str, at: Location) {
        let name = format!("zookeeper.{key}");
        self.props.insert(name.clone(), value.to_string());
        self.sources.insert(name, (at, key.to_string()));
    }

    /// Post-processing of `parseProperties` after the key loop.
    fn finish_static(&mut self, cfg: &mut Config, st: &FileState) -> Result<(), ConfigError> {
        if let Some(at) = &st.sasl_server_required {
            if !st.sasl_enabled {
                return Err(ConfigError::invalid(
                    at.clone(),
                    "quorum.auth.serverRequireSasl",
                    "cannot be true while quorum.auth.enableSasl is false",
                ));
            }
            if st.sasl_learner_required.is_none() {
                return Err(ConfigError::invalid(
                    at.clone(),
                    "quorum.auth.serverRequireSasl",
                    "cannot be true while quorum.auth.learnerRequireSasl is false",
                ));
            }
        }
        if let Some(at) = &st.sasl_learner_required {
            if !st.sasl_enabled {
                return Err(ConfigError::invalid(
                    at.clone(),
                    "quorum.auth.learnerRequireSasl",
                    "cannot be true while quorum.auth.enableSasl is false",
                ));
            }
        }

        if let Some((n, at)) = &st.snap_retain_count {
            if *n < i64::from(MIN_SNAP_RETAIN_COUNT) {
                self.warn(
                    at,
                    "autopurge.snapRetainCount",
                    &format!("{n} is below the minimum; using {MIN_SNAP_RETAIN_COUNT}"),
                );
                cfg.autopurge_snap_retain_count = MIN_SNAP_RETAIN_COUNT;
            } else {
                cfg.autopurge_snap_retain_count = to_u32(*n);
            }
        }

        cfg.data_dir = st.data_dir.clone().ok_or_else(|| {
            ConfigError::invalid(self.whole_file(), "dataDir", "is not set; it is required")
        })?;

        match (&st.client_port, &st.client_port_address) {
            (None, Some((_, at))) => {
                return Err(ConfigError::invalid(
                    at.clone(),
                    "clientPortAddress",
                    "is set but clientPort is not",
                ));
            }
            (Some((p, _)), addr) => {
                cfg.client_port = *p;
                cfg.client_port_address = addr
                    .as_ref()
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |(a, _)| *a);
            }
            (None, None) => {}
        }
        if cfg.secure_client_port.is_none() {
            if let Some(at) = &st.secure_client_port_address {
                return Err(ConfigError::invalid(
                    at.clone(),
                    "secureClientPortAddress",
                    "is set but secureClientPort is not",
                ));
            }
        }

        if let Some(t) = st.tick_time {
            cfg.tick_time = t;
        }
        let tick = u64::from(cfg.tick_time);
        let session = |set: &Option<(i64, Location)>, factor: u64| -> u32 {
            match set {
                Some((n, _)) if *n >= 0 => to_u32(*n),
                _ => u32::try_from(tick * factor).unwrap_or(u32::MAX),
            }
        };
        cfg.min_session_timeout = session(&st.min_session_timeout, 2);
        cfg.max_session_timeout = session(&st.max_session_timeout, 20);
        if cfg.min_session_timeout > cfg.max_session_timeout {
            let (at, key) = match (&st.min_session_timeout, &st.max_session_timeout) {
                (Some((_, at)), _) => (at.clone(), "minSessionTimeout"),
                (None, Some((_, at))) => (at.clone(), "maxSessionTimeout"),
                (None, None) => (self.whole_file(), "minSessionTimeout"),
            };
            return Err(ConfigError::invalid(
                at,
                key,
                format!(
                    "minSessionTimeout ({}) must not be larger than maxSessionTimeout ({})",
                    cfg.min_session_timeout, cfg.max_session_timeout
                ),
            ));
        }
        Ok(())
    }

    // --- properties --------------------------------------------------------

    /// The property that sets `corral.<name>`: the zoo.cfg key (which
    /// becomes `zookeeper.corral.<name>` and wins) or the `-D` flag.
    fn corral_prop(&self, name: &str) -> String {
        let zk = format!("zookeeper.{name}");
        if self.props.contains_key(&zk) {
            zk
        } else {
            name.to_string()
        }
    }

    fn prop(&self, name: &str) -> Option<&str> {
        self.props.get(name).map(String::as_str)
    }

    fn prop_source(&self, name: &str) -> (Location, String) {
        self.sources
            .get(name)
            .cloned()
            .unwrap_or_else(|| (Location::JvmFlag, name.to_string()))
    }

    fn prop_err(&self, name: &str, problem: String) -> ConfigError {
        let (at, key) = self.prop_source(name);
        ConfigError::invalid(at, key, problem)
    }

    fn prop_warn(&mut self, name: &str, msg: &str) {
        let (at, key) = self.prop_source(name);
        self.warn(&at, &key, msg);
    }

    /// `Integer.getInteger`/`Long.getLong` (decode syntax) within bounds.
    fn prop_decode(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ConfigError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) => decode_in(v, lo, hi)
                .map(Some)
                .map_err(|p| self.prop_err(name, p)),
        }
    }

    /// `Integer.parseInt`/`Long.parseLong` of a property within bounds.
    fn prop_decimal(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ConfigError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) => decimal_in(v, lo, hi)
                .map(Some)
                .map_err(|p| self.prop_err(name, p)),
        }
    }

    /// `Boolean.getBoolean`/`Boolean.parseBoolean`: true iff "true" in any
    /// case. Other spellings are false in ZooKeeper too; we say so.
    fn prop_java_bool(&mut self, name: &str) -> Option<bool> {
        let v = self.prop(name)?.to_string();
        let t = v.trim();
        if t.eq_ignore_ascii_case("true") {
            Some(true)
        } else {
            if !t.eq_ignore_ascii_case("false") {
                self.prop_warn(
                    name,
                    &format!("\"{v}\" is not \"true\"; treated as false, as ZooKeeper does"),
                );
            }
            Some(false)
        }
    }

    /// ZooKeeper's `yes`/`no` style properties: `default_on` tells which exact
    /// string flips the default (`no` for default-true, `yes` for default-false).
    fn prop_yes_no(&mut self, name: &str, default_on: bool) -> Option<bool> {
        let v = self.prop(name)?.to_string();
        let on = if default_on { v != "no" } else { v == "yes" };
        if v != "yes" && v != "no" {
            self.prop_warn(
                name,
                &format!(
                    "\"{v}\" is neither \"yes\" nor \"no\"; ZooKeeper treats it as {}, and so does corral",
                    if on { "yes" } else { "no" }
                ),
            );
        }
        Some(on)
    }

    /// Resolves every typed setting ZooKeeper reads from system properties.
    fn resolve_properties(&mut self, cfg: &mut Config) -> Result<(), ConfigError> {
        if let Some(n) = self.prop_decode("zookeeper.snapCount", INT_MIN, INT_MAX)? {
            if n < 2 {
                self.prop_warn(
                    "zookeeper.snapCount",
                    &format!("{n} is below 2; using 2, as ZooKeeper does"),
                );
            }
            cfg.snap_count = to_u32(n.max(2));
        }
        if let Some(n) = self.prop_decode("zookeeper.globalOutstandingLimit", 0, INT_MAX)? {
            cfg.global_outstanding_limit = to_u32(n);
        }
        if let Some(n) = self.prop_decode(
            "zookeeper.snapSizeLimitInKb",
            i64::MIN / 1024,
            i64::MAX / 1024,
        )? {
            cfg.snap_size_limit_in_kb = (n > 0).then(|| to_u64(n));
        }
        if let Some(n) = self.prop_decode(
            "zookeeper.txnLogSizeLimitInKb",
            i64::MIN / 1024,
            i64::MAX / 1024,
        )? {
            cfg.txn_log_size_limit_in_kb = (n > 0).then(|| to_u64(n));
        }
        if let Some(n) = self.prop_decimal("zookeeper.preAllocSize", 0, i64::MAX / 1024)? {
            cfg.pre_alloc_size_kb = to_u64(n);
        }
        if let Some(b) = self.prop_yes_no("zookeeper.forceSync", true) {
            cfg.force_sync = b;
        }
        let fsync = if self.prop("zookeeper.fsync.warningthresholdms").is_some() {
            "zookeeper.fsync.warningthresholdms"
        } else {
            "fsync.warningthresholdms"
        };
        if let Some(n) = self.prop_decode(fsync, 0, i64::MAX)? {
            cfg.fsync_warning_threshold_ms = to_u64(n);
        }
        if let Some(n) = self.prop_decode("zookeeper.maxCnxns", INT_MIN, INT_MAX)? {
            if n < 0 {
                self.prop_warn(
                    "zookeeper.maxCnxns",
                    &format!("{n} is negative; using 0 (no limit), as ZooKeeper does"),
                );
            }
            cfg.max_cnxns = to_u32(n);
        }
        // `Integer.getInteger`; ZooKeeper's expiry queue divides by it, so
        // 0 or less cannot work there either: refused.
        if let Some(n) = self.prop_decode("zookeeper.nio.sessionlessCnxnTimeout", 1, INT_MAX)? {
            cfg.sessionless_cnxn_timeout_ms = to_u32(n);
        }
        if let Some(v) = self.prop("zookeeper.snapshot.compression.method") {
            cfg.snapshot_compression_method = match v.trim().to_ascii_lowercase().as_str() {
                "" => SnapshotCompression::None,
                "gz" => SnapshotCompression::Gzip,
                "snappy" => SnapshotCompression::Snappy,
                _ => {
                    return Err(self.prop_err(
                        "zookeeper.snapshot.compression.method",
                        format!("\"{v}\" is not a compression method (\"\", \"gz\" or \"snappy\")"),
                    ))
                }
            };
        }
        if let Some(b) = self.prop_java_bool("zookeeper.snapshot.trust.empty") {
            cfg.snapshot_trust_empty = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.digest.enabled") {
            cfg.digest_enabled = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.observer.syncEnabled") {
            cfg.sync_enabled = b;
        }
        if let Some(n) = self.prop_decode("zookeeper.electionPortBindRetry", INT_MIN, INT_MAX)? {
            if n < 0 {
                self.prop_warn(
                    "zookeeper.electionPortBindRetry",
                    &format!("{n} is negative; using the default 3, as ZooKeeper does"),
                );
            } else {
                cfg.election_port_bind_retry = to_u32(n);
            }
        }
        if let Some(n) = self.prop_decimal("zookeeper.cnxTimeout", 1, INT_MAX)? {
            cfg.cnx_timeout_ms = to_u32(n);
        }
        if let Some(n) = self.prop_decode("zookeeper.quorumCnxnTimeoutMs", INT_MIN, INT_MAX)? {
            cfg.quorum_cnxn_timeout_ms = (n > 0).then(|| to_u32(n));
        }
        if let Some(b) = self.prop_yes_no("zookeeper.leaderServes", true) {
            cfg.leader_serves = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.multiAddress.enabled") {
            cfg.multi_address_enabled = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.multiAddress.reachabilityCheckEnabled") {
            cfg.multi_address_reachability_check_enabled = b;
        }
        if let Some(n) = self.prop_decode(
            "zookeeper.multiAddress.reachabilityCheckTimeoutMs",
            0,
            INT_MAX,
        )? {
            cfg.multi_address_reachability_check_timeout_ms = to_u32(n);
        }

        // Security and data-model switches.
        if let Some(v) = self.prop("zookeeper.DigestAuthenticationProvider.superDigest") {
            let v = v.to_string();
            if !v.starts_with("super:") {
                self.prop_warn(
                    "zookeeper.DigestAuthenticationProvider.superDigest",
                    "does not start with \"super:\"; no client will match it",
                );
            }
            cfg.super_digest = Some(v);
        }
        if let Some(b) = self.prop_java_bool("zookeeper.DigestAuthenticationProvider.enabled") {
            cfg.digest_auth_enabled = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.extendedTypesEnabled") {
            cfg.extended_types_enabled = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.emulate353TTLNodes") {
            cfg.emulate_353_ttl_nodes = b;
        }
        if let Some(b) = self.prop_java_bool("readonlymode.enabled") {
            cfg.readonly_mode_enabled = b;
        }
        if let Some(n) = self.prop_decode("znode.container.checkIntervalMs", 1, INT_MAX)? {
            cfg.container_check_interval_ms = to_u32(n);
        }
        if let Some(n) = self.prop_decode("znode.container.maxPerMinute", 1, INT_MAX)? {
            cfg.container_max_per_minute = to_u32(n);
        }
        if let Some(n) = self.prop_decode("znode.container.maxNeverUsedIntervalMs", 0, i64::MAX)? {
            cfg.container_max_never_used_interval_ms = to_u64(n);
        }
        if let Some(b) = self.prop_yes_no("zookeeper.skipACL", false) {
            cfg.skip_acl = b;
        }
        if let Some(n) = self.prop_decode("jute.maxbuffer", 1, INT_MAX)? {
            cfg.jute_maxbuffer = to_u32(n);
        }
        if let Some(b) = self.prop_java_bool("zookeeper.enableEagerACLCheck") {
            cfg.enable_eager_acl_check = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.enforceQuota") {
            cfg.enforce_quota = b;
        }

        // AdminServer.
        if let Some(v) = self.prop("zookeeper.admin.enableServer") {
            cfg.admin_enable_server = v != "false";
        }
        if let Some(v) = self.prop("zookeeper.admin.serverAddress") {
            cfg.admin_server_address =
                ip_addr(v).map_err(|p| self.prop_err("zookeeper.admin.serverAddress", p))?;
        }
        if let Some(n) = self.prop_decode("zookeeper.admin.serverPort", 1, 65535)? {
            cfg.admin_server_port = u16::try_from(n).unwrap_or(8080);
        }
        if let Some(n) = self.prop_decode("zookeeper.admin.idleTimeout", 0, INT_MAX)? {
            cfg.admin_idle_timeout_ms = to_u32(n);
        }
        if let Some(v) = self.prop("zookeeper.admin.commandURL") {
            cfg.admin_command_url = v.to_string();
        }
        let key = self.corral_prop("corral.admin.requestTimeoutMs");
        if let Some(n) = self.prop_decode(&key, 1, INT_MAX)? {
            cfg.admin_request_timeout_ms = to_u32(n);
        }
        let key = self.corral_prop("corral.admin.maxConnections");
        if let Some(n) = self.prop_decode(&key, 1, 65_536)? {
            cfg.admin_max_connections = to_u32(n);
        }
        let key = self.corral_prop("corral.admin.showSessionIds");
        if let Some(b) = self.prop_java_bool(&key) {
            cfg.admin_show_session_ids = b;
        }

        cfg.four_lw_whitelist = self.four_letter_whitelist();
        Ok(())
    }

    /// `FourLetterCommands.isEnabled`'s whitelist construction.
    fn four_letter_whitelist(&mut self) -> BTreeSet<String> {
        const NAME: &str = "zookeeper.4lw.commands.whitelist";
        let mut set = BTreeSet::new();
        let mut unknown = Vec::new();
        if let Some(list) = self.prop(NAME) {
            for cmd in list.split(',').map(str::trim) {
                if cmd == "*" {
                    set.extend(four_letter_words().map(str::to_string));
                    break;
                }
                if cmd.is_empty() {
                    continue;
                }
                if four_letter_words().any(|w| w == cmd) {
                    set.insert(cmd.to_string());
                } else {
                    unknown.push(cmd.to_string());
                }
            }
        }
        for cmd in unknown {
            self.prop_warn(
                NAME,
                &format!("\"{cmd}\" is not a four-letter word command; ignored"),
            );
        }
        if self.prop("readonlymode.enabled") == Some("true") {
            set.insert("isro".to_string());
        }
        set.insert("srvr".to_string());
        set
    }

    // --- quorum --------------------------------------------------------------

    /// Reads `dynamicConfigFile` (keys: `server.N`, `group.N`, `weight.N`).
    fn dynamic_lines(
        &mut self,
        path: &Path,
        env: &Env<'_>,
    ) -> Result<(String, Vec<RawEntry>), ConfigError> {
        let text = (env.read)(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        let entries = parse_java_properties(&text, &name)?;
        for e in &entries {
            let at = Location::Line {
                file: name.clone(),
                line: e.line,
            };
            if e.key == "version" {
                return Err(ConfigError::invalid(
                    at,
                    "version",
                    "must not be inside a dynamic config file (it comes from the file name)",
                ));
            }
            if !is_quorum_key(&e.key) {
                return Err(ConfigError::invalid(
                    at,
                    &e.key,
                    "is not allowed in a dynamic config file (only server.N, group.N and weight.N)",
                ));
            }
            if let Some(reason) = java_only(&e.key, &e.value) {
                self.warn(&at, &e.key, reason);
            }
        }
        Ok((name, entries))
    }

    /// `parseDynamicConfig`: builds the server list and checks the ensemble.
    fn build_quorum(
        &mut self,
        cfg: &mut Config,
        file: &str,
        lines: &[RawEntry],
    ) -> Result<(), ConfigError> {
        let mut servers: BTreeMap<u64, (ServerSpec, usize)> = BTreeMap::new();
        for e in lines.iter().filter(|e| e.key.starts_with("server.")) {
            let at = Location::Line {
                file: file.to_string(),
                line: e.line,
            };
            let spec = parse_server_line(&e.key, &e.value, cfg.multi_address_enabled)
                .map_err(|p| ConfigError::invalid(at.clone(), &e.key, p))?;
            if let Some((_, first)) = servers.get(&spec.id) {
                return Err(ConfigError::invalid(
                    at,
                    &e.key,
                    format!("server id {} is already defined on line {first}", spec.id),
                ));
            }
            servers.insert(spec.id, (spec, e.line));
        }
        cfg.servers = servers.into_values().map(|(s, _)| s).collect();

        let at = Location::File {
            file: file.to_string(),
        };
        let voting = cfg.voting_members().count();
        let observers = cfg.observers().count();
        if voting == 0 {
            if !cfg.standalone_enabled {
                return Err(ConfigError::invalid(
                    at,
                    "standaloneEnabled",
                    "is false, so at least one participant server.N line is needed",
                ));
            }
            if observers > 0 {
                return Err(ConfigError::invalid(
                    at,
                    "server.N",
                    "observers without participants are not a valid configuration",
                ));
            }
        } else if voting == 1 && cfg.standalone_enabled {
            if observers > 0 {
                return Err(ConfigError::invalid(
                    at,
                    "server.N",
                    "observers without a quorum (only one participant) are not a valid configuration",
                ));
            }
            self.warn(
                &at,
                "server.N",
                "only one server is listed; it runs standalone, as ZooKeeper does (set standaloneEnabled=false for a one-member ensemble)",
            );
        } else if voting <= 2 {
            self.warn(
                &at,
                "server.N",
                "no server failure will be tolerated; you need at least 3 servers",
            );
        } else if voting.is_multiple_of(2) {
            self.warn(
                &at,
                "server.N",
                "non-optimal configuration; consider an odd number of servers",
            );
        }
        Ok(())
    }

    /// `setupClientPort`, `setupPeerType` and `checkValidity`.
    fn finish_quorum(
        &mut self,
        cfg: &mut Config,
        st: &FileState,
        env: &Env<'_>,
    ) -> Result<(), ConfigError> {
        let mut client_from_server = false;
        if let Some(spec) = cfg.my_server().cloned() {
            let at = self.whole_file();
            if let Some(client) = &spec.client {
                let key = format!("server.{}", spec.id);
                let ip =
                    ip_addr(&client.host).map_err(|p| ConfigError::invalid(at.clone(), &key, p))?;
                let from_line = SocketAddr::new(ip, client.port);
                if st.client_port.is_some() {
                    let stat = cfg.client_address();
                    let conflict = if stat.ip().is_unspecified() {
                        stat.port() != from_line.port()
                    } else {
                        stat != from_line
                    };
                    if conflict {
                        return Err(ConfigError::invalid(
                            at,
                            key,
                            format!(
                                "client address {from_line} differs from clientPortAddress/clientPort {stat} for this server (myid {})",
                                spec.id
                            ),
                        ));
                    }
                }
                cfg.client_port_address = ip;
                cfg.client_port = client.port;
                client_from_server = true;
            }
            if spec.role != cfg.peer_type {
                let at = st.peer_type.clone().unwrap_or_else(|| self.whole_file());
                self.warn(
                    &at,
                    "peerType",
                    &format!(
                        "{} does not match server.{} ({}); using the server line, as ZooKeeper does",
                        cfg.peer_type, spec.id, spec.role
                    ),
                );
                cfg.peer_type = spec.role;
            }
        }
        if st.client_port.is_none() && !client_from_server {
            let at = self.whole_file();
            self.warn(
                &at,
                "clientPort",
                "is not set; corral listens on 0.0.0.0:2181 (ZooKeeper would open no plaintext client port)",
            );
        }

        if cfg.is_distributed() {
            let at = self.whole_file();
            if cfg.init_limit == 0 {
                return Err(ConfigError::invalid(
                    at,
                    "initLimit",
                    "is not set; an ensemble needs it",
                ));
            }
            if cfg.sync_limit == 0 {
                return Err(ConfigError::invalid(
                    at,
                    "syncLimit",
                    "is not set; an ensemble needs it",
                ));
            }
            if env.look_for_myid {
                match cfg.server_id {
                    None => {
                        return Err(ConfigError::invalid(
                            Location::File {
                                file: cfg.data_dir.join("myid").display().to_string(),
                            },
                            "myid",
                            "file is missing; every ensemble member needs one in dataDir",
                        ))
                    }
                    Some(id) if cfg.my_server().is_none() => {
                        return Err(ConfigError::invalid(
                            at,
                            format!("server.{id}"),
                            format!("is missing, but myid says this server is {id}"),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(id) = cfg.server_id {
            if cfg.extended_types_enabled && id > MAX_EXTENDED_SERVER_ID {
                let (at, key) = self.prop_source("zookeeper.extendedTypesEnabled");
                return Err(ConfigError::invalid(
                    at,
                    key,
                    format!("is true, so the server id must be at most {MAX_EXTENDED_SERVER_ID}, but myid is {id}"),
                ));
            }
        }
        Ok(())
    }
}

fn read_myid(cfg: &Config, env: &Env<'_>) -> Result<Option<u64>, ConfigError> {
    let path = cfg.data_dir.join("myid");
    let text = match (env.read)(&path) {
        Ok(t) => t,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
            ) =>
        {
            return Ok(None)
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let first = text.lines().next().unwrap_or("").trim();
    first.parse::<u64>().map(Some).map_err(|_| {
        ConfigError::invalid(
            Location::Line {
                file: path.display().to_string(),
                line: 1,
            },
            "myid",
            format!("\"{first}\" is not a server id (a non-negative number)"),
        )
    })
}

fn parse_with(
    text: &str,
    file: &str,
    jvm_flags: &BTreeMap<String, String>,
    env: &Env<'_>,
) -> Result<Loaded, ConfigError> {
    let mut p = Parser::new(file, jvm_flags);
    p.warn_java_only_flags();
    let entries = parse_java_properties(text, file)?;
    let entries = p.dedupe(entries);
    let has_dynamic_file = entries.iter().any(|e| e.key == "dynamicConfigFile");

    let mut cfg = zk_defaults();
    let mut st = FileState::default();
    for e in &entries {
        p.apply_entry(&mut cfg, &mut st, e, has_dynamic_file)?;
    }
    p.finish_static(&mut cfg, &st)?;
    if let Some(b) = st.sync_enabled {
        cfg.sync_enabled = b;
    }
    p.resolve_properties(&mut cfg)?;
    // The multiAddress.* keys are QuorumPeerConfig fields: a zoo.cfg line wins
    // over the -D flag that only seeds their default.
    if let Some(b) = st.multi_address_enabled {
        cfg.multi_address_enabled = b;
    }
    if let Some(b) = st.multi_address_check_enabled {
        cfg.multi_address_reachability_check_enabled = b;
    }
    if let Some(t) = st.multi_address_check_timeout {
        cfg.multi_address_reachability_check_timeout_ms = t;
    }

    match cfg.dynamic_config_file.clone() {
        Some(path) => {
            let (name, lines) = p.dynamic_lines(&path, env)?;
            p.build_quorum(&mut cfg, &name, &lines)?;
        }
        None => {
            let lines = std::mem::take(&mut st.quorum_lines);
            let name = p.file.clone();
            p.build_quorum(&mut cfg, &name, &lines)?;
        }
    }
    if env.look_for_myid {
        cfg.server_id = read_myid(&cfg, env)?;
    }
    p.finish_quorum(&mut cfg, &st, env)?;

    cfg.properties = p.props;
    Ok(Loaded {
        config: cfg,
        warnings: p.warnings,
    })
}

// ---------------------------------------------------------------------------
// server.N lines
// ---------------------------------------------------------------------------

/// Java `String.split`: trailing empty pieces are dropped.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(sep).collect();
    while v.len() > 1 && v.last() == Some(&"") {
        v.pop();
    }
    v
}

/// `ConfigUtils.getHostAndPort`: `[v6addr]:a:b` or `host:a:b`.
fn host_and_ports(s: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = s.strip_prefix('[') else {
        return Ok(java_split(s, ':'));
    };
    let close = rest
        .find(']')
        .ok_or_else(|| format!("\"{s}\" starts with '[' but has no matching ']'"))?;
    let host = &rest[..close];
    let after = &rest[close + 1..];
    if after.is_empty() {
        return Ok(vec![host]);
    }
    let ports = after
        .strip_prefix(':')
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("\"{s}\" has no port after ']:'"))?;
    let mut parts = vec![host];
    parts.extend(java_split(ports, ':'));
    Ok(parts)
}

fn parse_server_line(
    key: &str,
    value: &str,
    multi_address_enabled: bool,
) -> Result<ServerSpec, String> {
    let id_text = key.strip_prefix("server.").unwrap_or(key);
    let id = id_text.parse::<u64>().map_err(|_| {
        format!("\"{id_text}\" is not a server id (server.N needs a non-negative number N)")
    })?;
    let form = || format!("\"{value}\" is not of the form {SERVER_LINE_FORM}");

    let server_client = java_split(value, ';');
    if server_client.len() > 2 {
        return Err(form());
    }
    let client = match server_client.get(1) {
        Some(c) => {
            let parts = host_and_ports(c.trim())?;
            let (host, port_text) = match parts.as_slice() {
                [p] => ("0.0.0.0", *p),
                [h, p] => (*h, *p),
                _ => return Err(form()),
            };
            Some(ClientAddress {
                host: host.trim().to_string(),
                port: port(port_text).map_err(|p| format!("client port: {p}"))?,
            })
        }
        None => None,
    };

    let addresses: Vec<&str> = server_client[0].split('|').collect();
    if addresses.len() > 1 && !multi_address_enabled {
        return Err("lists several addresses, but the multiple address feature is disabled (set multiAddress.enabled=true)".into());
    }
    let mut role: Option<PeerType> = None;
    let mut parsed = Vec::new();
    for addr in addresses {
        let parts = host_and_ports(addr.trim())?;
        if !(3..=4).contains(&parts.len()) {
            return Err(form());
        }
        let host = parts[0].trim();
        if host.is_empty() {
            return Err(format!("{}: the host is missing", form()));
        }
        let quorum_port = port(parts[1]).map_err(|p| format!("quorum port: {p}"))?;
        let election_port = port(parts[2]).map_err(|p| format!("election port: {p}"))?;
        if quorum_port == election_port {
            return Err(format!(
                "quorum port and election port must be different (both are {quorum_port})"
            ));
        }
        if let Some(t) = parts.get(3) {
            let r = PeerType::parse(t).ok_or_else(|| {
                format!(
                    "\"{}\" is not a peer type (participant or observer)",
                    t.trim()
                )
            })?;
            if role.is_some_and(|prev| prev != r) {
                return Err("all addresses of one server must have the same role".into());
            }
            role = Some(r);
        }
        parsed.push(QuorumAddress {
            host: host.to_string(),
            quorum_port,
            election_port,
        });
    }
    let mut parsed = parsed.into_iter();
    let first = parsed.next().ok_or_else(form)?;
    Ok(ServerSpec {
        id,
        host: first.host,
        quorum_port: first.quorum_port,
        election_port: first.election_port,
        extra_addresses: parsed.collect(),
        role: role.unwrap_or(PeerType::Participant),
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_flags() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ok(text: &str) -> Loaded {
        ok_with(text, &no_flags())
    }

    fn ok_with(text: &str, jvm: &BTreeMap<String, String>) -> Loaded {
        match parse_str(text, "zoo.cfg", jvm) {
            Ok(l) => l,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(text: &str) -> ConfigError {
        err_with(text, &no_flags())
    }

    fn err_with(text: &str, jvm: &BTreeMap<String, String>) -> ConfigError {
        match parse_str(text, "zoo.cfg", jvm) {
            Ok(l) => panic!("expected an error, got {:?}", l.config),
            Err(e) => e,
        }
    }

    /// Parses as `load` would, with an in-memory file system.
    fn with_files(text: &str, files: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let map: BTreeMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect();
        let read = move |p: &Path| {
            map.get(p)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        parse_with(
            text,
            "zoo.cfg",
            &no_flags(),
            &Env {
                read: &read,
                look_for_myid: true,
            },
        )
    }

    fn has_warning(l: &Loaded, needle: &str) -> bool {
        l.warnings.iter().any(|w| w.contains(needle))
    }

    const BASE: &str = "dataDir=/var/lib/zk\nclientPort=2181\n";

    const ENSEMBLE: &str =
        "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/zk\nclientPort=2181\n\
        server.1=zk1:2888:3888\nserver.2=zk2:2888:3888\nserver.3=zk3:2888:3888\n";

    // --- JVM flags -----------------------------------------------------------

    #[test]
    fn jvm_flags_extracts_d_options_only() {
        let f = parse_jvm_flags(
            "-Xmx1g -server -Dzookeeper.skipACL=yes -Dreadonlymode.enabled -Dfoo=a=b -Dx=1 -Dx=2 -D -XX:+UseG1GC",
        );
        assert_eq!(f.len(), 4);
        assert_eq!(f["zookeeper.skipACL"], "yes");
        assert_eq!(f["readonlymode.enabled"], "");
        assert_eq!(f["foo"], "a=b");
        assert_eq!(f["x"], "2", "a repeated -D flag: the last one wins");
    }

    #[test]
    fn jvm_flags_handle_shell_quoting() {
        let f = parse_jvm_flags(
            r#"-Dzookeeper.superUser="super user" '-Dname=it''s' -Dp=a\ b "-Dq=x\"y" -Dr='  spaced  '"#,
        );
        assert_eq!(f["zookeeper.superUser"], "super user");
        assert_eq!(f["name"], "its");
        assert_eq!(f["p"], "a b");
        assert_eq!(f["q"], "x\"y");
        assert_eq!(f["r"], "  spaced  ");
    }

    #[test]
    fn jvm_flags_empty_or_without_d() {
        assert!(parse_jvm_flags("").is_empty());
        assert!(parse_jvm_flags("   -server   -Xss1m ").is_empty());
        assert!(
            parse_jvm_flags("-D=value").is_empty(),
            "no key, no property"
        );
    }

    // --- defaults --------------------------------------------------------------

    #[test]
    fn builtin_defaults_are_standalone_loopback() {
        let c = Config::builtin_defaults();
        assert_eq!(
            c.client_address(),
            "127.0.0.1:2181".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.txn_log_dir(), Path::new("./data"));
        assert_eq!((c.tick_time, c.init_limit, c.sync_limit), (2000, 10, 5));
        assert_eq!(
            (c.min_session_timeout, c.max_session_timeout),
            (4000, 40000)
        );
        assert!(c.servers.is_empty() && !c.is_distributed());
        assert!(c.properties.is_empty());
        assert_eq!(c.four_lw_whitelist, BTreeSet::from(["srvr".to_string()]));
        assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn load_builtin_applies_jvm_flags() {
        let l = load_builtin(&flags(&[
            ("zookeeper.skipACL", "yes"),
            ("zookeeper.4lw.commands.whitelist", "ruok"),
            ("zookeeper.ssl.keyStore.location", "/k"),
        ]))
        .unwrap();
        assert!(l.config.skip_acl);
        assert!(l.config.is_four_letter_word_enabled("ruok"));
        assert_eq!(l.config.client_address().port(), 2181);
        assert_eq!(l.warnings.len(), 1);
        assert!(l.warnings[0].starts_with("JVM flag -Dzookeeper.ssl.keyStore.location: TLS"));
    }

    #[test]
    fn minimal_file_gets_zookeeper_defaults() {
        let l = ok(BASE);
        let c = &l.config;
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(c.tick_time, 3000, "ZooKeeperServer.DEFAULT_TICK_TIME");
        assert_eq!(
            (c.min_session_timeout, c.max_session_timeout),
            (6000, 60000)
        );
        assert_eq!(
            c.client_address(),
            "0.0.0.0:2181".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zk"));
        assert_eq!(c.data_log_dir, None);
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.max_cnxns, 0);
        assert_eq!(c.sessionless_cnxn_timeout_ms, 10_000);
        assert_eq!(c.global_outstanding_limit, 1000);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.snap_size_limit_in_kb, Some(4_194_304));
        assert_eq!(c.txn_log_size_limit_in_kb, None);
        assert_eq!(c.pre_alloc_size_kb, 65_536);
        assert!(c.force_sync);
        assert_eq!(c.fsync_warning_threshold_ms, 1000);
        assert_eq!(
            (c.autopurge_snap_retain_count, c.autopurge_purge_interval),
            (3, 0)
        );
        assert!(c.sync_enabled && c.standalone_enabled && !c.reconfig_enabled);
        assert!(!c.quorum_listen_on_all_ips);
        assert_eq!(c.election_port_bind_retry, 3);
        assert_eq!(c.cnx_timeout_ms, 5000);
        assert_eq!(c.four_lw_whitelist.len(), 1);
        assert!(c.is_four_letter_word_enabled("srvr") && !c.is_four_letter_word_enabled("ruok"));
        assert_eq!(c.super_digest, None);
        assert!(!c.skip_acl && !c.extended_types_enabled && !c.readonly_mode_enabled);
        assert!(!c.enable_eager_acl_check && c.digest_enabled && c.digest_auth_enabled);
        assert_eq!(
            (c.container_check_interval_ms, c.container_max_per_minute),
            (60_000, 10_000)
        );
        assert_eq!(c.jute_maxbuffer, 0xfffff);
        assert_eq!(c.snapshot_compression_method, SnapshotCompression::None);
        assert!(c.admin_enable_server);
        assert_eq!(c.admin_server_port, 8080);
        assert_eq!(c.metrics_http_port, 7000);
        assert!(!c.metrics_prometheus_enabled());
        assert!(
            c.properties.is_empty(),
            "known keys are not system properties"
        );
        assert_eq!(c.server_id, None);
    }

    #[test]
    fn session_timeouts_follow_tick_time_unless_set() {
        let c = ok("dataDir=/d\nclientPort=1\ntickTime=100\n").config;
        assert_eq!((c.min_session_timeout, c.max_session_timeout), (200, 2000));
        let c = ok("dataDir=/d\nclientPort=1\ntickTime=100\nminSessionTimeout=-1\nmaxSessionTimeout=9000\n").config;
        assert_eq!((c.min_session_timeout, c.max_session_timeout), (200, 9000));
    }

    #[test]
    fn data_log_dir_and_client_address() {
        let c = ok("dataDir=/d\ndataLogDir=/l\nclientPort=2200\nclientPortAddress=::1\n").config;
        assert_eq!(c.txn_log_dir(), Path::new("/l"));
        assert_eq!(
            c.client_address(),
            "[::1]:2200".parse::<SocketAddr>().unwrap()
        );
        let c = ok("dataDir=/d\nclientPort=2200\nclientPortAddress=localhost\n").config;
        assert_eq!(c.client_port_address, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn client_port_zero_and_missing() {
        let l = ok("dataDir=/d\nclientPort=0\n");
        assert_eq!(l.config.client_port, 0);
        assert!(has_warning(
            &l,
            "zoo.cfg line 2: clientPort: 0: corral lets the OS pick"
        ));
        let l = ok("dataDir=/d\n");
        assert_eq!(l.config.client_port, 2181);
        assert!(has_warning(&l, "zoo.cfg: clientPort: is not set"));
    }

    // --- properties syntax ------------------------------------------------------

    #[test]
    fn java_properties_syntax() {
        let text = "# comment\n\
                    ! also a comment\n\
                    \n   \t\n\
                    dataDir : /d\n\
                    clientPort 2181\n\
                    tickTime   =   2500   \n\
                    initLimit=\\\n     1\\\n   0\n\
                    a\\=b=c\\:d\n\
                    \\u0041key=\\u00e9\\t!\n\
                    emptyValue\n\
                    spaced\\ key = v\n";
        let l = ok(text);
        let c = &l.config;
        assert_eq!(c.data_dir, PathBuf::from("/d"));
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.tick_time, 2500);
        assert_eq!(
            c.init_limit, 10,
            "continuation lines are joined, leading blanks dropped"
        );
        assert_eq!(c.property("zookeeper.a=b"), Some("c:d"));
        assert_eq!(c.property("zookeeper.Akey"), Some("é\t!"));
        assert_eq!(c.property("zookeeper.emptyValue"), Some(""));
        assert_eq!(c.property("zookeeper.spaced key"), Some("v"));
    }

    #[test]
    fn escapes_comments_and_blank_values() {
        let c = ok("dataDir=/d\nclientPort=1\nx=\\u00e9\\t!\ny\n  #z=1\nw=a#b\n").config;
        assert_eq!(c.property("zookeeper.x"), Some("é\t!"));
        assert_eq!(c.property("zookeeper.y"), Some(""));
        assert_eq!(
            c.property("zookeeper.z"),
            None,
            "indented # starts a comment"
        );
        assert_eq!(
            c.property("zookeeper.w"),
            Some("a#b"),
            "# inside a value is not a comment"
        );
    }

    #[test]
    fn crlf_and_continuation_keep_line_numbers() {
        let e = err("dataDir=/d\r\nclientPort=1\r\ninitLimit=\\\r\n  5\r\ntickTime=abc\r\n");
        assert_eq!(e.line(), Some(5));
        let e = err("dataDir=/d\ntickTime=\\\n  ab\\\n  c\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg line 2: tickTime: \"abc\" is not a number"
        );
    }

    #[test]
    fn malformed_unicode_escape_is_an_error() {
        let e = err("dataDir=/d\nfoo=\\u12G4\n");
        assert_eq!(e.line(), Some(2));
        assert!(e.to_string().contains("malformed \\uXXXX escape"), "{e}");
    }

    #[test]
    fn duplicate_key_last_wins_with_warning() {
        let l = ok("dataDir=/d\nclientPort=1\ntickTime=1000\ntickTime=1500\n");
        assert_eq!(l.config.tick_time, 1500);
        assert!(has_warning(
            &l,
            "zoo.cfg line 3: tickTime: set again on line 4"
        ));
    }

    #[test]
    fn latin1_fallback_decoding() {
        assert_eq!(decode_text(b"a=\xe9".to_vec()), "a=é");
        assert_eq!(decode_text("a=é".as_bytes().to_vec()), "a=é");
    }

    #[test]
    fn java_number_semantics() {
        assert!(matches!(java_decode("0x10"), Ok(16)));
        assert!(matches!(java_decode("#10"), Ok(16)));
        assert!(matches!(java_decode("010"), Ok(8)));
        assert!(matches!(java_decode("-5"), Ok(-5)));
        assert!(matches!(java_decode("0"), Ok(0)));
        assert!(matches!(java_decode("08"), Err(NumError::NotANumber)));
        assert!(matches!(java_decimal("0x10"), Err(NumError::NotANumber)));
        assert!(matches!(java_decimal("+7"), Ok(7)));
        assert!(matches!(
            java_decimal("99999999999999999999"),
            Err(NumError::OutOfRange)
        ));
    }

    // --- unknown keys and system properties --------------------------------------

    #[test]
    fn unknown_key_becomes_zookeeper_property_with_warning() {
        let l = ok(&format!("{BASE}tickTme=2000\n"));
        assert_eq!(l.config.property("zookeeper.tickTme"), Some("2000"));
        assert_eq!(l.config.tick_time, 3000);
        assert_eq!(
            l.warnings,
            vec!["zoo.cfg line 3: tickTme: not a ZooKeeper 3.8 setting; kept as system property zookeeper.tickTme"]
        );
    }

    #[test]
    fn documented_property_key_is_stored_silently() {
        let l = ok(&format!("{BASE}maxResponseCacheSize=10\nflushDelay=5\n"));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(
            l.config.property("zookeeper.maxResponseCacheSize"),
            Some("10")
        );
        assert_eq!(l.config.property("zookeeper.flushDelay"), Some("5"));
    }

    #[test]
    fn zoo_cfg_key_overrides_jvm_flag_for_same_property() {
        let jvm = flags(&[
            ("zookeeper.snapCount", "5"),
            ("zookeeper.globalOutstandingLimit", "9"),
        ]);
        let c = ok_with(&format!("{BASE}snapCount=7\n"), &jvm).config;
        assert_eq!(
            c.snap_count, 7,
            "System.setProperty from zoo.cfg wins over -D"
        );
        assert_eq!(c.property("zookeeper.snapCount"), Some("7"));
        assert_eq!(c.global_outstanding_limit, 9, "-D alone applies");
        assert_eq!(c.property("zookeeper.globalOutstandingLimit"), Some("9"));
    }

    #[test]
    fn jvm_flag_for_a_quorum_peer_config_key_has_no_effect() {
        let c = ok_with(BASE, &flags(&[("zookeeper.tickTime", "1")])).config;
        assert_eq!(
            c.tick_time, 3000,
            "QuorumPeerConfig never reads tickTime from properties"
        );
        assert_eq!(c.property("zookeeper.tickTime"), Some("1"));
    }

    #[test]
    fn jvm_only_property_in_zoo_cfg_has_no_effect() {
        let l = ok(&format!("{BASE}jute.maxbuffer=4194304\nreadonlymode.enabled=true\nzookeeper.nio.numWorkerThreads=4\n"));
        assert_eq!(l.config.jute_maxbuffer, 0xfffff);
        assert!(!l.config.readonly_mode_enabled);
        assert_eq!(
            l.config.property("zookeeper.jute.maxbuffer"),
            Some("4194304")
        );
        assert_eq!(
            l.config
                .property("zookeeper.zookeeper.nio.numWorkerThreads"),
            Some("4")
        );
        assert!(has_warning(
            &l,
            "zoo.cfg line 3: jute.maxbuffer: has no effect in zoo.cfg"
        ));
        assert!(has_warning(
            &l,
            "zoo.cfg line 4: readonlymode.enabled: has no effect"
        ));
        assert!(has_warning(
            &l,
            "zoo.cfg line 5: zookeeper.nio.numWorkerThreads: has no effect"
        ));
    }

    #[test]
    fn typed_settings_resolve_from_jvm_properties() {
        let jvm = flags(&[
            ("jute.maxbuffer", "0x400000"),
            ("readonlymode.enabled", "true"),
            ("znode.container.checkIntervalMs", "1000"),
            ("znode.container.maxPerMinute", "50"),
            ("zookeeper.extendedTypesEnabled", "TRUE"),
            ("zookeeper.enableEagerACLCheck", "true"),
            (
                "zookeeper.DigestAuthenticationProvider.superDigest",
                "super:abc=",
            ),
            ("zookeeper.digest.enabled", "false"),
            ("zookeeper.snapshot.compression.method", "snappy"),
            ("zookeeper.electionPortBindRetry", "0"),
            ("zookeeper.cnxTimeout", "7000"),
            ("zookeeper.admin.serverPort", "9090"),
            ("zookeeper.admin.enableServer", "false"),
        ]);
        let c = ok_with(BASE, &jvm).config;
        assert_eq!(c.jute_maxbuffer, 0x400000, "Integer.getInteger accepts hex");
        assert!(c.readonly_mode_enabled);
        assert!(
            c.is_four_letter_word_enabled("isro"),
            "read-only mode whitelists isro"
        );
        assert_eq!(
            (c.container_check_interval_ms, c.container_max_per_minute),
            (1000, 50)
        );
        assert!(c.extended_types_enabled && c.enable_eager_acl_check);
        assert_eq!(c.super_digest.as_deref(), Some("super:abc="));
        assert!(!c.digest_enabled);
        assert_eq!(c.snapshot_compression_method, SnapshotCompression::Snappy);
        assert_eq!(c.election_port_bind_retry, 0);
        assert_eq!(c.cnx_timeout_ms, 7000);
        assert_eq!(c.admin_server_port, 9090);
        assert!(!c.admin_enable_server);
    }

    #[test]
    fn sessionless_timeout_must_be_positive() {
        for bad in ["0", "-5", "soon"] {
            let e = err(&format!("{BASE}nio.sessionlessCnxnTimeout={bad}\n")).to_string();
            assert!(e.contains("nio.sessionlessCnxnTimeout"), "{e}");
        }
    }

    #[test]
    fn admin_defaults_are_safe_and_its_bounds_have_keys() {
        let c = ok(BASE).config;
        assert!(c.admin_enable_server);
        assert_eq!(
            c.admin_server_address,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "loopback unless admin.serverAddress says otherwise"
        );
        assert_eq!(c.admin_idle_timeout_ms, 30_000);
        assert_eq!(c.admin_request_timeout_ms, 10_000);
        assert_eq!(c.admin_max_connections, 32);
        assert!(!c.admin_show_session_ids);
        let c = ok(&format!(
            "{BASE}admin.serverAddress=0.0.0.0
corral.admin.requestTimeoutMs=500
             corral.admin.maxConnections=4
corral.admin.showSessionIds=true
"
        ))
        .config;
        assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(c.admin_request_timeout_ms, 500);
        assert_eq!(c.admin_max_connections, 4);
        assert!(c.admin_show_session_ids);
        // -D flags, and the zoo.cfg key wins over the flag.
        let jvm = flags(&[
            ("corral.admin.maxConnections", "7"),
            ("corral.admin.requestTimeoutMs", "900"),
        ]);
        let c = ok_with(
            &format!(
                "{BASE}corral.admin.maxConnections=5
"
            ),
            &jvm,
        )
        .config;
        assert_eq!(c.admin_max_connections, 5);
        assert_eq!(c.admin_request_timeout_ms, 900);
        for bad in [
            "corral.admin.maxConnections=0",
            "corral.admin.requestTimeoutMs=0",
            "corral.admin.requestTimeoutMs=soon",
        ] {
            let e = err(&format!(
                "{BASE}{bad}
"
            ))
            .to_string();
            let key = bad.split('=').next().unwrap();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn typed_settings_resolve_from_zoo_cfg_keys() {
        let text = format!(
            "{BASE}skipACL=yes\nextendedTypesEnabled=true\nenableEagerACLCheck=true\n\
             DigestAuthenticationProvider.superDigest=super:xyz\nforceSync=no\npreAllocSize=1024\n\
             snapSizeLimitInKb=-1\ntxnLogSizeLimitInKb=2048\nfsync.warningthresholdms=50\n\
             globalOutstandingLimit=5\nmaxCnxns=100\nsnapshot.compression.method=gz\nleaderServes=no\n\
             nio.sessionlessCnxnTimeout=1500\n"
        );
        let c = ok(&text).config;
        assert_eq!(c.sessionless_cnxn_timeout_ms, 1500);
        assert!(c.skip_acl && c.extended_types_enabled && c.enable_eager_acl_check);
        assert_eq!(c.super_digest.as_deref(), Some("super:xyz"));
        assert!(!c.force_sync);
        assert_eq!(c.pre_alloc_size_kb, 1024);
        assert_eq!(
            c.snap_size_limit_in_kb, None,
            "non-positive disables the limit"
        );
        assert_eq!(c.txn_log_size_limit_in_kb, Some(2048));
        assert_eq!(c.fsync_warning_threshold_ms, 50);
        assert_eq!(c.global_outstanding_limit, 5);
        assert_eq!(c.max_cnxns, 100);
        assert_eq!(c.snapshot_compression_method, SnapshotCompression::Gzip);
        assert!(!c.leader_serves);
        assert_eq!(c.property("zookeeper.skipACL"), Some("yes"));
    }

    #[test]
    fn skip_acl_only_for_exactly_yes() {
        let l = ok(&format!("{BASE}skipACL=true\n"));
        assert!(!l.config.skip_acl, "ZooKeeper compares with \"yes\"");
        assert!(has_warning(
            &l,
            "zoo.cfg line 3: skipACL: \"true\" is neither \"yes\" nor \"no\""
        ));
        assert!(
            ok_with(BASE, &flags(&[("zookeeper.skipACL", "yes")]))
                .config
                .skip_acl
        );
        assert!(
            !ok_with(BASE, &flags(&[("zookeeper.skipACL", "no")]))
                .config
                .skip_acl
        );
    }

    #[test]
    fn fsync_threshold_prefers_prefixed_property() {
        let jvm = flags(&[
            ("fsync.warningthresholdms", "10"),
            ("zookeeper.fsync.warningthresholdms", "20"),
        ]);
        assert_eq!(ok_with(BASE, &jvm).config.fsync_warning_threshold_ms, 20);
        let jvm = flags(&[("fsync.warningthresholdms", "10")]);
        assert_eq!(ok_with(BASE, &jvm).config.fsync_warning_threshold_ms, 10);
    }

    #[test]
    fn sync_enabled_property_overrides_zoo_cfg() {
        assert!(
            !ok(&format!("{BASE}syncEnabled=false\n"))
                .config
                .sync_enabled
        );
        let jvm = flags(&[("zookeeper.observer.syncEnabled", "true")]);
        assert!(
            ok_with(&format!("{BASE}syncEnabled=false\n"), &jvm)
                .config
                .sync_enabled
        );
    }

    #[test]
    fn clamped_values_warn() {
        let l = ok(&format!(
            "{BASE}autopurge.snapRetainCount=1\nautopurge.purgeInterval=24\nsnapCount=1\n"
        ));
        assert_eq!(l.config.autopurge_snap_retain_count, 3);
        assert_eq!(l.config.autopurge_purge_interval, 24);
        assert_eq!(l.config.snap_count, 2);
        assert!(has_warning(
            &l,
            "zoo.cfg line 3: autopurge.snapRetainCount: 1 is below the minimum; using 3"
        ));
        assert!(has_warning(&l, "zoo.cfg line 5: snapCount: 1 is below 2"));
        assert_eq!(
            ok(&format!("{BASE}autopurge.snapRetainCount=10\n"))
                .config
                .autopurge_snap_retain_count,
            10
        );
    }

    // --- four-letter words ----------------------------------------------------

    #[test]
    fn four_letter_whitelist_parsing() {
        let c = ok(&format!(
            "{BASE}4lw.commands.whitelist=stat, ruok,, conf ,\n"
        ))
        .config;
        let want: BTreeSet<String> = ["conf", "ruok", "srvr", "stat"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(c.four_lw_whitelist, want, "srvr is always enabled");
        assert_eq!(
            c.property("zookeeper.4lw.commands.whitelist"),
            Some("stat, ruok,, conf ,")
        );

        let c = ok(&format!("{BASE}4lw.commands.whitelist=*\n")).config;
        assert_eq!(c.four_lw_whitelist.len(), Cmd::ALL.len());
        assert!(c.is_four_letter_word_enabled("mntr") && c.is_four_letter_word_enabled("hash"));

        let c = ok_with(
            BASE,
            &flags(&[("zookeeper.4lw.commands.whitelist", "mntr")]),
        )
        .config;
        assert!(c.is_four_letter_word_enabled("mntr") && !c.is_four_letter_word_enabled("isro"));
    }

    #[test]
    fn four_letter_whitelist_unknown_command_warns() {
        let l = ok(&format!("{BASE}4lw.commands.whitelist=ruok,bogus\n"));
        assert!(l.config.is_four_letter_word_enabled("ruok"));
        assert!(!l.config.is_four_letter_word_enabled("bogus"));
        assert!(has_warning(
            &l,
            "zoo.cfg line 3: 4lw.commands.whitelist: \"bogus\" is not a four-letter word"
        ));
    }

    // --- errors -----------------------------------------------------------------

    #[test]
    fn error_messages_name_file_line_and_key() {
        let e = err("dataDir=/d\nclientPort=2181\ntickTime=abc\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg line 3: tickTime: \"abc\" is not a number"
        );
        assert_eq!((e.line(), e.key()), (Some(3), Some("tickTime")));

        let e = err("dataDir=/d\nclientPort=70000\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg line 2: clientPort: 70000 is out of range (allowed: 0 to 65535)"
        );

        let e = err("clientPort=2181\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg: dataDir: is not set; it is required"
        );

        let e = err_with(BASE, &flags(&[("zookeeper.snapCount", "lots")]));
        assert_eq!(
            e.to_string(),
            "JVM flag -Dzookeeper.snapCount: \"lots\" is not a number"
        );
    }

    #[test]
    fn invalid_values_are_errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("tickTime=0", 3, "must be positive"),
            ("tickTime=-5", 3, "must be positive"),
            ("tickTime=99999999999", 3, "out of range"),
            ("maxClientCnxns=-1", 3, "out of range"),
            ("standaloneEnabled=yes", 3, "\"yes\" is not true or false"),
            ("electionAlg=1", 3, "only 3"),
            ("peerType=leader", 3, "not a peer type"),
            ("clientPortAddress=zk.example.com", 3, "not an IP address"),
            (
                "snapshot.compression.method=zip",
                3,
                "not a compression method",
            ),
            ("jvm.pause.monitor=maybe", 3, "not true or false"),
            ("metricsProvider.httpPort=0", 3, "not a valid port"),
            ("dataLogDir=", 3, "is empty"),
            ("clientPortListenBacklog=0", 3, "positive"),
            ("preAllocSize=64M", 3, "not a number"),
        ];
        for (line, n, needle) in cases {
            let e = err(&format!("{BASE}{line}\n"));
            assert_eq!(e.line(), Some(*n), "{line}: {e}");
            assert!(e.to_string().contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn contradictory_values_are_errors() {
        let e = err(&format!("{BASE}tickTime=2000\nminSessionTimeout=50000\n"));
        assert_eq!(
            e.to_string(),
            "zoo.cfg line 4: minSessionTimeout: minSessionTimeout (50000) must not be larger than maxSessionTimeout (40000)"
        );
        let e = err(&format!("{BASE}maxSessionTimeout=100\n"));
        assert_eq!(e.line(), Some(3));
        assert_eq!(e.key(), Some("maxSessionTimeout"));

        let e = err("dataDir=/d\nclientPortAddress=127.0.0.1\n");
        assert_eq!(
            e.to_string(),
            "zoo.cfg line 2: clientPortAddress: is set but clientPort is not"
        );

        let e = err(&format!("{BASE}secureClientPortAddress=0.0.0.0\n"));
        assert_eq!(e.key(), Some("secureClientPortAddress"));

        let e = err(&format!("{BASE}quorum.auth.serverRequireSasl=true\n"));
        assert!(
            e.to_string().contains("quorum.auth.enableSasl is false"),
            "{e}"
        );
        let e = err(&format!(
            "{BASE}quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n"
        ));
        assert!(e.to_string().contains("learnerRequireSasl is false"), "{e}");
    }

    // --- warnings for Java-only settings ----------------------------------------

    #[test]
    fn java_only_settings_warn_once_each() {
        let text = format!(
            "{BASE}serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.keyStore.location=/k\nssl.keyStore.password=pw\nauthProvider.1=org.X\n\
             admin.serverPort=9999\nmetricsProvider.className={PROMETHEUS_METRICS_PROVIDER}\n\
             metricsProvider.httpPort=7001\nsecureClientPort=2281\nkerberos.removeHostFromPrincipal=true\n"
        );
        let l = ok(&text);
        // admin.* and metricsProvider.* are served (no warning).
        assert_eq!(l.warnings.len(), 6, "{:#?}", l.warnings);
        assert!(l.warnings[0]
            .starts_with("zoo.cfg line 3: serverCnxnFactory: selects a Java implementation class"));
        assert!(has_warning(
            &l,
            "zoo.cfg line 4: ssl.keyStore.location: TLS is not supported"
        ));
        assert!(has_warning(
            &l,
            "zoo.cfg line 6: authProvider.1: Java authentication provider"
        ));
        assert!(has_warning(&l, "zoo.cfg line 10: secureClientPort: TLS"));
        assert!(has_warning(
            &l,
            "zoo.cfg line 11: kerberos.removeHostFromPrincipal: SASL"
        ));
        let c = &l.config;
        assert_eq!(c.secure_client_port, Some(2281));
        assert_eq!(c.admin_server_port, 9999);
        assert!(c.metrics_prometheus_enabled());
        assert_eq!(c.metrics_http_port, 7001);
        assert_eq!(
            c.property("zookeeper.metricsProvider.httpPort"),
            None,
            "handled by QuorumPeerConfig"
        );
        assert_eq!(c.property("zookeeper.ssl.keyStore.location"), Some("/k"));
    }

    #[test]
    fn java_only_jvm_flags_warn() {
        let jvm = flags(&[
            ("java.security.auth.login.config", "/jaas.conf"),
            ("zookeeper.authProvider.sasl", "org.X"),
            ("zookeeper.log.dir", "/logs"),
            (
                "zookeeper.DigestAuthenticationProvider.digestAlg",
                "SHA-256",
            ),
        ]);
        let l = ok_with(BASE, &jvm);
        assert_eq!(l.warnings.len(), 3, "{:#?}", l.warnings);
        assert!(has_warning(
            &l,
            "JVM flag -Djava.security.auth.login.config: SASL"
        ));
        assert!(has_warning(&l, "JVM flag -Dzookeeper.DigestAuthenticationProvider.digestAlg: corral computes digest ACLs with SHA1 only"));
        let l = ok_with(
            BASE,
            &flags(&[("zookeeper.DigestAuthenticationProvider.digestAlg", "SHA1")]),
        );
        assert!(l.warnings.is_empty());
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let value_for = |k: &str| -> &str {
            match k {
                "dataDir" | "dataLogDir" => "/d",
                "clientPortAddress" | "secureClientPortAddress" => "127.0.0.1",
                "electionAlg" => "3",
                "peerType" => "participant",
                "snapshot.compression.method" => "gz",
                "4lw.commands.whitelist" => "ruok",
                "DigestAuthenticationProvider.superDigest" => "super:x",
                "DigestAuthenticationProvider.digestAlg" => "SHA1",
                "quorum.auth.serverRequireSasl" | "quorum.auth.learnerRequireSasl" => "false",
                "clientPortListenBacklog" | "tickTime" | "cnxTimeout" => "100",
                k if k.contains("Enabled")
                    || k.contains("enable")
                    || k.starts_with("ssl")
                    || matches!(
                        k,
                        "sslQuorum"
                            | "portUnification"
                            | "quorumListenOnAllIPs"
                            | "jvm.pause.monitor"
                            | "syncEnabled"
                            | "standaloneEnabled"
                            | "reconfigEnabled"
                    ) =>
                {
                    "true"
                }
                "skipACL" | "forceSync" | "leaderServes" => "yes",
                _ => "10",
            }
        };
        let mut text = String::new();
        for k in QPC_KEYS.iter().chain(PROPERTY_KEYS.iter()) {
            if *k == "dynamicConfigFile" {
                continue;
            }
            text.push_str(&format!("{k}={}\n", value_for(k)));
        }
        text.push_str("metricsProvider.exportJvmInfo=true\nadmin.commandURL=/c\nserver.1=h:1:2\n");
        let l = ok(&text);
        let unknown: Vec<_> = l
            .warnings
            .iter()
            .filter(|w| w.contains("not a ZooKeeper 3.8 setting"))
            .collect();
        assert!(unknown.is_empty(), "{unknown:#?}");
    }

    // --- server lines -------------------------------------------------------------

    #[test]
    fn ensemble_server_lines() {
        let text = format!(
            "{ENSEMBLE}server.4=zk4:2888:3888:observer\nserver.5=[fe80::1]:2888:3888:participant;[::1]:2182\nserver.6=zk6:2888:3888;2183\n"
        );
        let l = ok(&text);
        let c = &l.config;
        assert_eq!(c.servers.len(), 6);
        assert!(c.is_distributed());
        assert_eq!(c.voting_members().count(), 5);
        assert_eq!(c.observers().map(|s| s.id).collect::<Vec<_>>(), vec![4]);
        let s1 = &c.servers[0];
        assert_eq!(
            (s1.id, s1.host.as_str(), s1.quorum_port, s1.election_port),
            (1, "zk1", 2888, 3888)
        );
        assert_eq!(s1.role, PeerType::Participant);
        assert_eq!(s1.client, None);
        let s5 = &c.servers[4];
        assert_eq!(s5.host, "fe80::1");
        assert_eq!(
            s5.client,
            Some(ClientAddress {
                host: "::1".into(),
                port: 2182
            })
        );
        let s6 = &c.servers[5];
        assert_eq!(
            s6.client,
            Some(ClientAddress {
                host: "0.0.0.0".into(),
                port: 2183
            })
        );
        // QuorumPeerConfig lets server.N fall through to System.setProperty too.
        assert_eq!(
            c.property("zookeeper.server.4"),
            Some("zk4:2888:3888:observer")
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn bad_server_lines() {
        let cases: &[(&str, &str)] = &[
            (
                "server.1=zk1:2888",
                "is not of the form host:quorumPort:electionPort",
            ),
            ("server.1=zk1:2888:3888:observer:x", "is not of the form"),
            ("server.1=zk1:2888:3888;a:b:c", "is not of the form"),
            ("server.1=zk1:2888:3888;1;2", "is not of the form"),
            ("server.1=zk1:2888:2888", "must be different"),
            (
                "server.1=zk1:x:3888",
                "quorum port: \"x\" is not a port number",
            ),
            (
                "server.1=zk1:2888:99999",
                "election port: 99999 is not a valid port",
            ),
            (
                "server.1=zk1:2888:3888:leader",
                "\"leader\" is not a peer type",
            ),
            ("server.one=zk1:2888:3888", "\"one\" is not a server id"),
            ("server.1=:2888:3888", "the host is missing"),
            ("server.1=[::1:2888:3888", "no matching ']'"),
            ("server.1=a:1:2|b:1:2", "multiAddress.enabled=true"),
        ];
        for (line, needle) in cases {
            let e = err(&format!("{BASE}{line}\n"));
            assert_eq!(e.line(), Some(3), "{line}: {e}");
            assert!(
                e.to_string().starts_with("zoo.cfg line 3: server."),
                "{line}: {e}"
            );
            assert!(e.to_string().contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn duplicate_server_id_is_an_error() {
        let e = err(&format!("{BASE}server.1=a:1:2\nserver.01=b:1:2\n"));
        assert!(
            e.to_string()
                .contains("server id 1 is already defined on line"),
            "{e}"
        );
    }

    #[test]
    fn multi_address_servers() {
        let text = format!("{BASE}multiAddress.enabled=true\nserver.1=a:1:2|b:3:4\nserver.2=c:1:2\nserver.3=d:1:2\ninitLimit=5\nsyncLimit=2\n");
        let c = ok(&text).config;
        assert_eq!(
            c.servers[0].extra_addresses,
            vec![QuorumAddress {
                host: "b".into(),
                quorum_port: 3,
                election_port: 4
            }]
        );
        let jvm = flags(&[("zookeeper.multiAddress.enabled", "true")]);
        let c = ok_with(&format!("{BASE}server.1=a:1:2|b:3:4\n"), &jvm).config;
        assert_eq!(c.servers[0].extra_addresses.len(), 1);
        let e = err(&format!(
            "{BASE}multiAddress.enabled=true\nserver.1=a:1:2:observer|b:3:4:participant\n"
        ));
        assert!(e.to_string().contains("same role"), "{e}");
    }

    #[test]
    fn ensemble_size_checks() {
        let l = ok(&format!("{BASE}server.1=a:1:2\n"));
        assert!(
            !l.config.is_distributed(),
            "a single server runs standalone"
        );
        assert!(has_warning(&l, "only one server is listed"));

        let c = ok(&format!(
            "{BASE}standaloneEnabled=false\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\n"
        ))
        .config;
        assert!(c.is_distributed());

        let l = ok(&format!(
            "{BASE}initLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n"
        ));
        assert!(has_warning(&l, "no server failure will be tolerated"));
        let l = ok(&format!("{ENSEMBLE}server.4=d:1:2\n"));
        assert!(has_warning(&l, "consider an odd number"));

        let e = err(&format!("{BASE}server.1=a:1:2:observer\n"));
        assert!(
            e.to_string().contains("observers without participants"),
            "{e}"
        );
        let e = err(&format!("{BASE}server.1=a:1:2\nserver.2=b:1:2:observer\n"));
        assert!(e.to_string().contains("observers without a quorum"), "{e}");
        let e = err(&format!("{BASE}standaloneEnabled=false\n"));
        assert_eq!(e.key(), Some("standaloneEnabled"));
        let e = err(&format!(
            "{BASE}server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n"
        ));
        assert_eq!(
            e.to_string(),
            "zoo.cfg: initLimit: is not set; an ensemble needs it"
        );
    }

    // --- myid, dynamic files, load ---------------------------------------------

    #[test]
    fn distributed_needs_myid_when_loading() {
        let e = with_files(ENSEMBLE, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/zk/myid: myid: file is missing; every ensemble member needs one in dataDir"
        );
        let l = with_files(ENSEMBLE, &[("/zk/myid", "2\n")]).unwrap();
        assert_eq!(l.config.server_id, Some(2));
        assert_eq!(l.config.my_server().map(|s| s.host.as_str()), Some("zk2"));
        let e = with_files(ENSEMBLE, &[("/zk/myid", "7")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "zoo.cfg: server.7: is missing, but myid says this server is 7"
        );
        let e = with_files(ENSEMBLE, &[("/zk/myid", "two")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/zk/myid line 1: myid: \"two\" is not a server id (a non-negative number)"
        );
    }

    #[test]
    fn client_port_can_come_from_own_server_line() {
        let text = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/zk\n\
                    server.1=zk1:2888:3888;127.0.0.1:2191\nserver.2=zk2:2888:3888;2192\nserver.3=zk3:2888:3888;2193\n";
        let l = with_files(text, &[("/zk/myid", "1")]).unwrap();
        assert_eq!(
            l.config.client_address(),
            "127.0.0.1:2191".parse::<SocketAddr>().unwrap()
        );
        assert!(!has_warning(&l, "clientPort"), "{:?}", l.warnings);
        let e = with_files(&format!("clientPort=2000\n{text}"), &[("/zk/myid", "2")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("differs from clientPortAddress/clientPort"),
            "{e}"
        );
        let ok = with_files(&format!("clientPort=2192\n{text}"), &[("/zk/myid", "2")]).unwrap();
        assert_eq!(ok.config.client_port, 2192);
    }

    #[test]
    fn peer_type_follows_server_line() {
        let text = format!("{ENSEMBLE}server.4=zk4:2888:3888:observer\npeerType=participant\n");
        let l = with_files(&text, &[("/zk/myid", "4")]).unwrap();
        assert_eq!(l.config.peer_type, PeerType::Observer);
        assert!(has_warning(
            &l,
            "peerType: participant does not match server.4 (observer)"
        ));
    }

    #[test]
    fn extended_types_limit_server_ids() {
        let mut text = format!("{ENSEMBLE}server.300=zk300:2888:3888\nextendedTypesEnabled=true\n");
        let e = with_files(&text, &[("/zk/myid", "300")]).unwrap_err();
        assert!(e.to_string().starts_with("zoo.cfg line 10: extendedTypesEnabled: is true, so the server id must be at most 254"), "{e}");
        text = text.replace("extendedTypesEnabled=true", "");
        assert!(with_files(&text, &[("/zk/myid", "300")]).is_ok());
    }

    #[test]
    fn dynamic_config_file() {
        let text = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/zk\nclientPort=2181\ndynamicConfigFile=/conf/zoo.cfg.dynamic.100000000\n";
        let dynamic = "server.1=zk1:2888:3888;2181\nserver.2=zk2:2888:3888;2181\nserver.3=zk3:2888:3888:observer;2181\n";
        let l = with_files(
            text,
            &[
                ("/conf/zoo.cfg.dynamic.100000000", dynamic),
                ("/zk/myid", "1"),
            ],
        )
        .unwrap();
        assert_eq!(l.config.servers.len(), 3);
        assert_eq!(
            l.config.dynamic_config_file,
            Some(PathBuf::from("/conf/zoo.cfg.dynamic.100000000"))
        );
        assert_eq!(
            l.config.property("zookeeper.server.1"),
            None,
            "dynamic lines are not system properties"
        );

        let e = with_files(&format!("{text}server.1=zk1:1:2\n"), &[]).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "zoo.cfg line 7: server.1: must be in the separate dynamic config file"
            ),
            "{e}"
        );
        let e =
            with_files(text, &[("/conf/zoo.cfg.dynamic.100000000", "version=1\n")]).unwrap_err();
        assert_eq!(e.line(), Some(1));
        let e =
            with_files(text, &[("/conf/zoo.cfg.dynamic.100000000", "tickTime=1\n")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("is not allowed in a dynamic config file"),
            "{e}"
        );
        assert!(matches!(err(text), ConfigError::Read { .. }));
    }

    #[test]
    fn load_reads_file_and_myid() {
        let dir = std::env::temp_dir().join(format!("corral-config-test-{}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(
            &cfg_path,
            format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort=2181\n\
                 server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n",
                data.display()
            ),
        )
        .unwrap();
        std::fs::write(data.join("myid"), "3\n").unwrap();
        let l = load(&cfg_path, &no_flags()).unwrap();
        assert_eq!(l.config.server_id, Some(3));
        assert_eq!(l.config.my_server().map(|s| s.quorum_port), Some(2890));

        std::fs::write(&cfg_path, "dataDir=/d\nclientPort=2181\ntickTime=abc\n").unwrap();
        let e = load(&cfg_path, &no_flags()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{} line 3: tickTime: \"abc\" is not a number",
                cfg_path.display()
            )
        );

        let missing = dir.join("nope.cfg");
        let e = load(&missing, &no_flags()).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }));
        assert!(e
            .to_string()
            .starts_with(&format!("cannot read {}", missing.display())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // --- shipped sample configs ---------------------------------------------------

    #[test]
    fn sample_configs_parse() {
        let l = ok(include_str!("../../conf/zoo_sample.cfg"));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.config.tick_time, 2000);
        assert_eq!(l.config.client_port, 2181);
        assert!(!l.config.is_distributed());

        let l = ok(include_str!("../../conf/zoo_ensemble3.cfg"));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.config.voting_members().count(), 3);
        assert!(l.config.is_distributed());

        let l = ok(include_str!("../../conf/zoo_observer.cfg"));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.config.voting_members().count(), 3);
        assert_eq!(l.config.observers().count(), 1);
        assert_eq!(l.config.peer_type, PeerType::Observer);
    }
}
