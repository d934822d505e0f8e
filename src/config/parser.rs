//! The parser: applies the zoo.cfg entries in file order as
//! `QuorumPeerConfig.parseProperties` does (typed fields, or the system
//! property `zookeeper.<key>`), then the static checks, then hands over to
//! the `-D` property resolution (`props`) and the quorum (`quorum`).
//! [`parse_with`] is the whole pipeline, with file reads passed in.

use super::*;
use super::{keys::*, properties::*, values::*};

/// The warning for a non-default `multiAddress.reachabilityCheck*`.
/// The Prometheus provider's worker settings: ZooKeeper queues summary
/// updates for worker threads; corral computes `/metrics` when scraped.
pub(super) const METRICS_WORKERS_UNUSED: &str =
    "sizes ZooKeeper's queue of Prometheus summary updates; corral computes /metrics when it is scraped and has no such queue; ignored";
/// A `metricsProvider.` key ZooKeeper's Prometheus provider does not read.
pub(super) const METRICS_KEY_UNKNOWN: &str =
    "not a setting of ZooKeeper's PrometheusMetricsProvider (httpHost, httpPort, exportJvmInfo, numWorkerThreads, maxQueueSize, workerShutdownTimeoutMs); ignored";
pub(super) const REACHABILITY_UNUSED: &str =
    "checks which of a server's several addresses is reachable, which needs multiAddress.enabled=true; \
     without it ZooKeeper checks nothing either; ignored";

pub(super) struct Env<'a> {
    pub(super) read: &'a dyn Fn(&Path) -> io::Result<String>,
    pub(super) look_for_myid: bool,
}

/// Values from the static file that `QuorumPeerConfig` post-processes.
#[derive(Default)]
pub(super) struct FileState {
    pub(super) data_dir: Option<PathBuf>,
    pub(super) client_port: Option<(u16, Location)>,
    pub(super) client_port_address: Option<(IpAddr, Location)>,
    pub(super) secure_client_port_address: Option<(IpAddr, Location)>,
    pub(super) min_session_timeout: Option<(i64, Location)>,
    pub(super) max_session_timeout: Option<(i64, Location)>,
    pub(super) tick_time: Option<u32>,
    pub(super) snap_retain_count: Option<(i64, Location)>,
    pub(super) peer_type: Option<Location>,
    pub(super) sync_enabled: Option<bool>,
    pub(super) multi_address_enabled: Option<bool>,
    pub(super) multi_address_check_enabled: Option<bool>,
    pub(super) multi_address_check_timeout: Option<u32>,
    pub(super) sasl_enabled: Option<Location>,
    pub(super) sasl_learner_context: Option<String>,
    pub(super) sasl_server_context: Option<String>,
    pub(super) sasl_service_principal: Option<String>,
    pub(super) sasl_server_required: Option<Location>,
    pub(super) sasl_learner_required: Option<Location>,
    pub(super) quorum_lines: Vec<RawEntry>,
}

pub(super) struct Parser {
    pub(super) file: String,
    pub(super) warnings: Vec<String>,
    pub(super) props: BTreeMap<String, String>,
    /// For each property: where it was set and the key as the user wrote it.
    pub(super) sources: BTreeMap<String, (Location, String)>,
    /// `multiAddress.reachabilityCheck*` set away from the default: a
    /// warning unless `multiAddress.enabled` turns out true.
    pub(super) reachability_set: Vec<(Location, String)>,
}

impl Parser {
    pub(super) fn new(file: &str, jvm_flags: &BTreeMap<String, String>) -> Parser {
        Parser {
            file: file.to_string(),
            warnings: Vec::new(),
            reachability_set: Vec::new(),
            props: jvm_flags.clone(),
            sources: jvm_flags
                .keys()
                .map(|k| (k.clone(), (Location::JvmFlag, k.clone())))
                .collect(),
        }
    }

    pub(super) fn line(&self, line: usize) -> Location {
        Location::Line {
            file: self.file.clone(),
            line,
        }
    }

    pub(super) fn whole_file(&self) -> Location {
        Location::File {
            file: self.file.clone(),
        }
    }

    pub(super) fn warn(&mut self, at: &Location, key: &str, msg: &str) {
        let text = describe(at, key, msg);
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    /// Drops earlier occurrences of repeated keys (Java `Properties`: last one
    /// wins), warning once per overridden line.
    pub(super) fn dedupe(&mut self, entries: Vec<RawEntry>) -> Vec<RawEntry> {
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

    pub(super) fn warn_java_only_flags(&mut self) -> Result<(), ConfigError> {
        for (name, value) in &self.props {
            let refusal = name
                .strip_prefix("zookeeper.")
                .and_then(|k| refused(k, value));
            if let Some(problem) = refusal {
                return Err(ConfigError::invalid(
                    Location::JvmFlag,
                    name.clone(),
                    problem,
                ));
            }
        }
        let flagged: Vec<(String, &'static str)> = self
            .props
            .iter()
            .filter_map(|(name, value)| {
                let reason = java_only(name.strip_prefix("zookeeper.")?, value);
                reason.map(|r| (name.clone(), r))
            })
            .collect();
        for (name, reason) in flagged {
            self.warn(&Location::JvmFlag, &name, reason);
        }
        Ok(())
    }

    /// One zoo.cfg entry, mirroring the if/else chain of `parseProperties`.
    pub(super) fn apply_entry(
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

        if let Some(problem) = refused(key, v) {
            return Err(bad(problem));
        }
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
            "secureClientPortAddress" => {
                st.secure_client_port_address = Some((ip_addr(v).map_err(bad)?, at.clone()));
            }
            "observerMasterPort" => {
                let n = decimal_in(v, INT_MIN, 65535).map_err(bad)?;
                // QuorumPeer: a positive port makes every follower serve
                // observers there, and observers sync from the voters' at
                // this port; 0 or less turns it off.
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
            "syncEnabled" => {
                st.sync_enabled = Some(strict_bool(v).map_err(bad)?);
            }
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
            "localSessionsEnabled" => {
                cfg.local_sessions_enabled = strict_bool(v).map_err(bad)?;
            }
            "localSessionsUpgradingEnabled" => {
                cfg.local_sessions_upgrading_enabled = strict_bool(v).map_err(bad)?;
            }
            "sslQuorum" => cfg.ssl_quorum = strict_bool(v).map_err(bad)?,
            "portUnification" => cfg.port_unification = strict_bool(v).map_err(bad)?,
            "sslQuorumReloadCertFiles" => cfg.ssl_quorum_reload = strict_bool(v).map_err(bad)?,
            "jvm.pause.monitor" => {
                strict_bool(v).map_err(bad)?;
            }
            "quorum.auth.enableSasl" => {
                st.sasl_enabled = strict_bool(v).map_err(bad)?.then(|| at.clone());
            }
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
            "quorum.auth.learner.saslLoginContext" => st.sasl_learner_context = Some(v.into()),
            "quorum.auth.server.saslLoginContext" => st.sasl_server_context = Some(v.into()),
            "quorum.auth.kerberos.servicePrincipal" => {
                st.sasl_service_principal = Some(v.into());
            }
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
            "metricsProvider.exportJvmInfo" => {
                // Java's Boolean.parseBoolean: "true" in any case, else false.
                cfg.metrics_export_jvm_info = v.eq_ignore_ascii_case("true");
            }
            "metricsProvider.numWorkerThreads" | "metricsProvider.maxQueueSize" => {
                decimal_in(v, INT_MIN, INT_MAX).map_err(bad)?;
                self.warn(&at, key, METRICS_WORKERS_UNUSED);
            }
            "metricsProvider.workerShutdownTimeoutMs" => {
                decimal_in(v, i64::MIN, i64::MAX).map_err(bad)?;
                self.warn(&at, key, METRICS_WORKERS_UNUSED);
            }
            k if k.starts_with("metricsProvider.") => self.warn(&at, key, METRICS_KEY_UNKNOWN),
            "multiAddress.enabled" => st.multi_address_enabled = Some(strict_bool(v).map_err(bad)?),
            "multiAddress.reachabilityCheckTimeoutMs" => {
                let t = to_u32(decimal_in(v, 0, INT_MAX).map_err(bad)?);
                if t != 1000 {
                    self.reachability_set.push((at.clone(), key.to_string()));
                }
                st.multi_address_check_timeout = Some(t);
            }
            "multiAddress.reachabilityCheckEnabled" => {
                let b = strict_bool(v).map_err(bad)?;
                if !b {
                    self.reachability_set.push((at.clone(), key.to_string()));
                }
                st.multi_address_check_enabled = Some(b);
            }
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
    pub(super) fn set_file_property(&mut self, key: &str, value: &str, at: Location) {
        let name = format!("zookeeper.{key}");
        self.props.insert(name.clone(), value.to_string());
        self.sources.insert(name, (at, key.to_string()));
    }

    /// Post-processing of `parseProperties` after the key loop.
    pub(super) fn finish_static(
        &mut self,
        cfg: &mut Config,
        st: &FileState,
    ) -> Result<(), ConfigError> {
        if let Some(at) = &st.sasl_server_required {
            if st.sasl_enabled.is_none() {
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
            if st.sasl_enabled.is_none() {
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
        match (&cfg.secure_client_port, &st.secure_client_port_address) {
            (None, Some((_, at))) => {
                return Err(ConfigError::invalid(
                    at.clone(),
                    "secureClientPortAddress",
                    "is set but secureClientPort is not",
                ));
            }
            (Some(_), Some((a, _))) => cfg.secure_client_port_address = *a,
            _ => {}
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
}

pub(super) fn read_myid(cfg: &Config, env: &Env<'_>) -> Result<Option<u64>, ConfigError> {
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

pub(super) fn parse_with(
    text: &str,
    file: &str,
    jvm_flags: &BTreeMap<String, String>,
    env: &Env<'_>,
) -> Result<Loaded, ConfigError> {
    let mut p = Parser::new(file, jvm_flags);
    p.warn_java_only_flags()?;
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
    p.resolve_client_tls(&mut cfg, env.read)?;
    p.resolve_sasl(&mut cfg, env.read)?;
    p.resolve_admin_tls(&mut cfg, env.read)?;
    p.resolve_quorum_tls(&mut cfg, env.read)?;
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
    if !cfg.multi_address_enabled {
        for (at, key) in std::mem::take(&mut p.reachability_set) {
            p.warn(&at, &key, REACHABILITY_UNUSED);
        }
    }

    match cfg.dynamic_config_file.clone() {
        Some(path) => {
            cfg.config_version = path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(|e| i64::from_str_radix(e, 16).ok())
                .unwrap_or(0);
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
    p.resolve_quorum_sasl(&mut cfg, &st, env.read)?;

    cfg.properties = p.props;
    Ok(Loaded {
        config: cfg,
        warnings: p.warnings,
    })
}
