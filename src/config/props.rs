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
            if !b {
                self.prop_warn(
                    "zookeeper.multiAddress.reachabilityCheckEnabled",
                    REACHABILITY_UNUSED,
                );
            }
            cfg.multi_address_reachability_check_enabled = b;
        }
        if let Some(n) = self.prop_decode(
            "zookeeper.multiAddress.reachabilityCheckTimeoutMs",
            0,
            INT_MAX,
        )? {
            if n != 1000 {
                self.prop_warn(
                    "zookeeper.multiAddress.reachabilityCheckTimeoutMs",
                    REACHABILITY_UNUSED,
                );
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
