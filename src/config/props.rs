//! System properties: the settings ZooKeeper reads from `-D` flags (and
//! from zoo.cfg keys it turns into `zookeeper.<key>` properties), resolved
//! from the merged [`Config::properties`] into typed fields, and the
//! `corral.*` settings.

use super::*;
use super::{parser::*, values::*};

impl Parser {
    /// The property that sets `corral.<name>`: the zoo.cfg key (which
    /// becomes `zookeeper.corral.<name>` and wins) or the `-D` flag.
    pub(super) fn corral_prop(&self, name: &str) -> String {
        let zk = format!("zookeeper.{name}");
        if self.props.contains_key(&zk) {
            zk
        } else {
            name.to_string()
        }
    }

    pub(super) fn prop(&self, name: &str) -> Option<&str> {
        self.props.get(name).map(String::as_str)
    }

    pub(super) fn prop_source(&self, name: &str) -> (Location, String) {
        self.sources
            .get(name)
            .cloned()
            .unwrap_or_else(|| (Location::JvmFlag, name.to_string()))
    }

    pub(super) fn prop_err(&self, name: &str, problem: String) -> ConfigError {
        let (at, key) = self.prop_source(name);
        ConfigError::invalid(at, key, problem)
    }

    pub(super) fn prop_warn(&mut self, name: &str, msg: &str) {
        let (at, key) = self.prop_source(name);
        self.warn(&at, &key, msg);
    }

    /// `Integer.getInteger`/`Long.getLong` (decode syntax) within bounds.
    pub(super) fn prop_decode(
        &self,
        name: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Option<i64>, ConfigError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) => decode_in(v, lo, hi)
                .map(Some)
                .map_err(|p| self.prop_err(name, p)),
        }
    }

    /// `Integer.parseInt`/`Long.parseLong` of a property within bounds.
    pub(super) fn prop_decimal(
        &self,
        name: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Option<i64>, ConfigError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) => decimal_in(v, lo, hi)
                .map(Some)
                .map_err(|p| self.prop_err(name, p)),
        }
    }

    /// `Boolean.getBoolean`/`Boolean.parseBoolean`: true iff "true" in any
    /// case. Other spellings are false in ZooKeeper too; we say so.
    pub(super) fn prop_java_bool(&mut self, name: &str) -> Option<bool> {
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
    pub(super) fn prop_yes_no(&mut self, name: &str, default_on: bool) -> Option<bool> {
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
    pub(super) fn resolve_properties(&mut self, cfg: &mut Config) -> Result<(), ConfigError> {
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
        self.resolve_throttles(&mut cfg.throttles)?;
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
            // FileTxnLog rolls to a new file once the current one is
            // over the limit; corral's log rolls when a snapshot falls
            // due, by count or by bytes logged since the last one.
            if n > 0 {
                self.prop_warn(
                    "zookeeper.txnLogSizeLimitInKb",
                    "corral starts a new txn log file only when a snapshot falls due \
                     (snapCount, or snapSizeLimitInKb bytes logged since the last snapshot); \
                     set snapSizeLimitInKb to bound a log file's size; ignored",
                );
            }
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
        // ZKDatabase: a value that is not a number is logged and the
        // default used.
        if let Some(v) = self.prop("zookeeper.snapshotSizeFactor") {
            match v.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => cfg.snapshot_size_factor = f,
                _ => {
                    let msg = format!(
                        "{v:?} is not a number; using the default {}, as ZooKeeper does",
                        cfg.snapshot_size_factor
                    );
                    self.prop_warn("zookeeper.snapshotSizeFactor", &msg);
                }
            }
        }
        // ZKDatabase: fewer than the default 500 is raised to 500, with a
        // warning.
        if let Some(n) = self.prop_decode("zookeeper.commitLogCount", INT_MIN, INT_MAX)? {
            let least = super::DEFAULT_COMMIT_LOG_COUNT;
            match usize::try_from(n) {
                Ok(n) if n >= least => cfg.commit_log_count = n,
                _ => self.prop_warn(
                    "zookeeper.commitLogCount",
                    &format!("{n} is less than the recommended {least}; using {least}, as ZooKeeper does"),
                ),
            }
        }
        // Learner: `Integer.getInteger`, in ms.
        if let Some(n) =
            self.prop_decode("zookeeper.leaderConnectDelayDuringRetryMs", 1, INT_MAX)?
        {
            cfg.leader_connect_delay_during_retry_ms = to_u64(n);
        }
        // LearnerMaster: `Integer.getInteger`; LearnerSyncThrottler throws
        // on 0 or less (its leader cannot start), so those stop the start.
        if let Some(n) = self.prop_decode("zookeeper.leader.maxConcurrentSnapSyncs", 1, INT_MAX)? {
            cfg.max_concurrent_snap_syncs = usize::try_from(n).unwrap_or(1);
        }
        if let Some(n) = self.prop_decode("zookeeper.leader.maxConcurrentDiffSyncs", 1, INT_MAX)? {
            cfg.max_concurrent_diff_syncs = usize::try_from(n).unwrap_or(1);
        }
        // FastLeaderElection: `Integer.getInteger`, in ms.
        if let Some(n) =
            self.prop_decode("zookeeper.fastleader.minNotificationInterval", 1, INT_MAX)?
        {
            cfg.fastleader_min_notification_interval_ms = to_u64(n);
        }
        if let Some(n) =
            self.prop_decode("zookeeper.fastleader.maxNotificationInterval", 1, INT_MAX)?
        {
            cfg.fastleader_max_notification_interval_ms = to_u64(n);
        }
        // FileTxnSnapLog: `Boolean.parseBoolean`, default true.
        if let Some(v) = self.prop("zookeeper.datadir.autocreate") {
            cfg.datadir_autocreate = v.trim().eq_ignore_ascii_case("true");
        }
        // NettyServerCnxnFactory: `Integer.getInteger`; 0 or less is no limit.
        if let Some(n) = self.prop_decode(
            "zookeeper.netty.server.outstandingHandshake.limit",
            INT_MIN,
            INT_MAX,
        )? {
            cfg.tls_handshake_limit = usize::try_from(n).ok().filter(|&n| n > 0);
        }
        if let Some(b) = self.prop_java_bool("zookeeper.snapshot.trust.empty") {
            cfg.snapshot_trust_empty = b;
        }
        // Boolean.getBoolean: only "true" (any case) is true.
        if let Some(b) = self.prop_java_bool("zookeeper.tcpKeepAlive") {
            cfg.tcp_keep_alive = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.clientTcpKeepAlive") {
            cfg.client_tcp_keep_alive = b;
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
            if !b {
                let set = self.prop_source("zookeeper.multiAddress.reachabilityCheckEnabled");
                self.reachability_set.push(set);
            }
            cfg.multi_address_reachability_check_enabled = b;
        }
        if let Some(n) = self.prop_decode(
            "zookeeper.multiAddress.reachabilityCheckTimeoutMs",
            0,
            INT_MAX,
        )? {
            if n != 1000 {
                let set = self.prop_source("zookeeper.multiAddress.reachabilityCheckTimeoutMs");
                self.reachability_set.push(set);
            }
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
        // BinaryInputArchive: `Integer.getInteger`, under 1024 raised to it.
        if let Some(n) = self.prop_decode("zookeeper.jute.maxbuffer.extrasize", INT_MIN, INT_MAX)? {
            cfg.jute_maxbuffer_extrasize = Some(to_u32(n.max(1024)));
        }
        if let Some(b) = self.prop_java_bool("zookeeper.enableEagerACLCheck") {
            cfg.enable_eager_acl_check = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.enforceQuota") {
            cfg.enforce_quota = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.audit.enable") {
            cfg.audit_enable = b;
        }
        self.resolve_connection_throttle(cfg)?;

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
        let key = self.corral_prop("corral.quorum.maxConnections");
        if let Some(n) = self.prop_decode(&key, 1, 65_536)? {
            cfg.quorum_max_connections = to_u32(n);
        }
        let key = self.corral_prop("corral.admin.showSessionIds");
        if let Some(b) = self.prop_java_bool(&key) {
            cfg.admin_show_session_ids = b;
        }
        // 3.9's snapshot and restore (docs/admin.md).
        if let Some(b) = self.prop_java_bool("zookeeper.admin.snapshot.enabled") {
            cfg.admin_snapshot_enabled = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.admin.restore.enabled") {
            cfg.admin_restore_enabled = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.serializeLastProcessedZxid.enabled") {
            cfg.serialize_last_processed_zxid = b;
        }
        if let Some(n) = self.prop_decode("zookeeper.admin.rateLimiterIntervalInMS", 0, INT_MAX)? {
            cfg.admin_rate_limiter_interval_ms = to_u64(n);
        }
        let key = self.corral_prop("corral.admin.restore.maxBytes");
        if let Some(n) = self.prop_decode(&key, 0, i64::MAX)? {
            cfg.admin_restore_max_bytes = to_u64(n);
        }
        if self.prop_java_bool("zookeeper.admin.needClientAuth") == Some(true) {
            return Err(self.prop_err(
                "zookeeper.admin.needClientAuth",
                "corral's AdminServer asks no client for a certificate (no x509 admin \
                 authentication); use the digest or ip scheme in the Authorization header"
                    .into(),
            ));
        }
        if self.prop_java_bool("zookeeper.IPAuthenticationProvider.usexforwardedfor") == Some(true)
        {
            return Err(self.prop_err(
                "zookeeper.IPAuthenticationProvider.usexforwardedfor",
                "corral takes an AdminServer client's ip id from its connection only, \
                 never from X-Forwarded-For (anyone can send that header)"
                    .into(),
            ));
        }

        cfg.four_lw_whitelist = self.four_letter_whitelist();
        Ok(())
    }

    /// `BlueThrottle`'s static initializer: the connection throttle's
    /// settings, its weights checked as ZooKeeper checks them (a weight
    /// out of bounds is warned about and replaced, as there). Values
    /// ZooKeeper would choke on (a fill time under 1 ms divides by zero;
    /// negative tokens shut every client out; a double that does not
    /// parse stops its start) are refused.
    fn resolve_connection_throttle(&mut self, cfg: &mut Config) -> Result<(), ConfigError> {
        const P: &str = "zookeeper.connection_throttle_";
        let key = |k: &str| format!("{P}{k}");
        let int = |p: &Self, k: &str, lo: i64, def: i64| -> Result<i64, ConfigError> {
            Ok(p.prop_decode(&key(k), lo, INT_MAX)?.unwrap_or(def))
        };
        let double = |p: &Self, k: &str, def: f64| -> Result<f64, ConfigError> {
            match p.prop(&key(k)) {
                None => Ok(def),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite())
                    .ok_or_else(|| p.prop_err(&key(k), format!("\"{v}\" is not a number"))),
            }
        };
        let tokens = int(self, "tokens", 0, 0)?;
        let fill_count = int(self, "fill_count", 0, 1)?;
        let fill_time = int(self, "fill_time", 1, 1)?;
        let freeze_time = int(self, "freeze_time", INT_MIN, -1)?;
        let drop_increase = double(self, "drop_increase", 0.02)?;
        let drop_decrease = double(self, "drop_decrease", 0.002)?;
        let decrease_ratio = double(self, "decrease_ratio", 0.0)?;
        let weight_enabled = self.prop_java_bool(&key("weight_enabled")).unwrap_or(false);
        let global = int(self, "global_session_weight", INT_MIN, 3)?;
        let local = int(self, "local_session_weight", INT_MIN, 1)?;
        let renew = int(self, "renew_session_weight", INT_MIN, 2)?;
        let global_weight = if global <= 0 {
            self.prop_warn(
                &key("global_session_weight"),
                &format!("{global} is not above 0; using 3, as ZooKeeper does"),
            );
            3
        } else if global < local {
            self.prop_warn(
                &key("global_session_weight"),
                &format!("{global} is less than the local session weight {local}; using {local}, as ZooKeeper does"),
            );
            local
        } else {
            global
        };
        let local_weight = if local <= 0 {
            self.prop_warn(
                &key("local_session_weight"),
                &format!("{local} is not above 0; using 1, as ZooKeeper does"),
            );
            1
        } else {
            local
        };
        let renew_weight = if renew <= 0 {
            self.prop_warn(
                &key("renew_session_weight"),
                &format!("{renew} is not above 0; using 2, as ZooKeeper does"),
            );
            2
        } else if renew < local {
            self.prop_warn(
                &key("renew_session_weight"),
                &format!("{renew} is less than the local session weight {local}; using {local}, as ZooKeeper does"),
            );
            local
        } else {
            renew
        };
        // The configured tokens are for global sessions.
        let times = if weight_enabled { global_weight } else { 1 };
        cfg.connection_throttle = crate::ops::throttle::ThrottleSettings {
            max_tokens: tokens.saturating_mul(times),
            fill_time,
            fill_count: fill_count.saturating_mul(times),
            freeze_time,
            drop_increase,
            drop_decrease,
            decrease_ratio,
            weight_enabled,
            global_weight,
            local_weight,
            renew_weight,
        };
        Ok(())
    }

    /// The request throttles, under the names ZooKeeper 3.8's code reads
    /// (a zoo.cfg key `k` is the property `zookeeper.k`). The admin
    /// guide's names for them (`requestThrottleLimit`, ...) are read by
    /// no ZooKeeper code: corral ignores them too, and says which name
    /// works.
    pub(super) fn resolve_throttles(&mut self, t: &mut Throttles) -> Result<(), ConfigError> {
        const MISNAMED: [(&str, &str); 7] = [
            (
                "zookeeper.requestThrottleLimit",
                "request_throttle_max_requests",
            ),
            (
                "zookeeper.requestThrottleStallTime",
                "request_throttle_stall_time",
            ),
            (
                "zookeeper.requestThrottleDropStale",
                "request_throttle_drop_stale",
            ),
            ("request_throttle_drop_stale", "request_throttle_drop_stale"),
            (
                "zookeeper.requestStaleLatencyCheck",
                "request_stale_latency_check",
            ),
            (
                "zookeeper.requestStaleConnectionCheck",
                "request_stale_connection_check",
            ),
            ("zookeeper.throttledOpWaitTime", "throttled_op_wait_time"),
        ];
        for (name, real) in MISNAMED {
            if self.prop(name).is_some() {
                self.prop_warn(
                    name,
                    &format!(
                        "ZooKeeper 3.8 reads this setting only as zookeeper.{real} \
                         (zoo.cfg key {real}, or -Dzookeeper.{real}); ignored, as ZooKeeper ignores it"
                    ),
                );
            }
        }
        if let Some(n) =
            self.prop_decode("zookeeper.request_throttle_max_requests", INT_MIN, INT_MAX)?
        {
            if n < 0 {
                self.prop_warn(
                    "zookeeper.request_throttle_max_requests",
                    &format!("{n} is negative; the throttle is off, as with 0 (ZooKeeper's only checks > 0)"),
                );
            }
            t.max_requests = to_u32(n);
        }
        if let Some(n) = self.prop_decode("zookeeper.request_throttle_stall_time", 0, INT_MAX)? {
            t.stall_ms = to_u32(n);
        }
        if let Some(b) = self.prop_java_bool("zookeeper.request_throttle_drop_stale") {
            t.drop_stale = b;
        }
        if let Some(b) = self.prop_java_bool("zookeeper.request_stale_connection_check") {
            t.stale_connection_check = b;
            if b {
                self.prop_warn(
                    "zookeeper.request_stale_connection_check",
                    "corral reads nothing from a connection while the request throttle holds its \
                     requests, so it sees the connection close only after serving them \
                     (as ZooKeeper does with false)",
                );
            }
        }
        if let Some(b) = self.prop_java_bool("zookeeper.request_stale_latency_check") {
            t.stale_latency_check = b;
        }
        if let Some(n) = self.prop_decode("zookeeper.throttled_op_wait_time", INT_MIN, INT_MAX)? {
            t.throttled_op_wait_ms = to_u32(n);
        }
        if self
            .prop_decode(
                "zookeeper.request_throttler.shutdownTimeout",
                INT_MIN,
                INT_MAX,
            )?
            .is_some()
        {
            self.prop_warn(
                "zookeeper.request_throttler.shutdownTimeout",
                "corral has no throttler queue to drain at shutdown: requests a throttle holds are \
                 served by the graceful shutdown, which corral.shutdownTimeoutMs bounds; ignored",
            );
        }
        // setLargeRequestMaxBytes: not positive keeps the default.
        if let Some(n) = self.prop_decode("zookeeper.largeRequestMaxBytes", INT_MIN, INT_MAX)? {
            if n <= 0 {
                self.prop_warn(
                    "zookeeper.largeRequestMaxBytes",
                    &format!("{n} is not positive; the default 104857600 stays, as in ZooKeeper"),
                );
            } else {
                t.large_request_max_bytes = to_u32(n);
            }
        }
        // setLargeRequestThreshold: 0 or below -1 is -1 (off).
        if let Some(n) = self.prop_decode("zookeeper.largeRequestThreshold", INT_MIN, INT_MAX)? {
            if n == 0 || n < -1 {
                self.prop_warn(
                    "zookeeper.largeRequestThreshold",
                    &format!("{n} is neither -1 nor positive; -1 (off), as ZooKeeper does"),
                );
            }
            t.large_request_threshold = (n > 0).then(|| to_u32(n));
        }
        Ok(())
    }

    /// `FourLetterCommands.isEnabled`'s whitelist construction.
    pub(super) fn four_letter_whitelist(&mut self) -> BTreeSet<String> {
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
}
