//! The known keys: what `QuorumPeerConfig` reads, the system properties
//! ZooKeeper 3.8 documents (honoured or refused by name), and the Java-only
//! settings corral accepts with a warning. Tables and lookups only.

use super::*;

/// Why corral refuses to start with a setting, if it does: the setting
/// turns on something corral does not do (yet), and serving without it
/// would be less safe than the operator asked for. `key` is the zoo.cfg
/// spelling (property name without `zookeeper.`).
pub(super) fn refused(key: &str, value: &str) -> Option<String> {
    let on = value.trim().eq_ignore_ascii_case("true");
    let k = key;
    let not_yet = |what: &str| {
        Some(format!(
            "{what} is not supported by corral yet; remove the key (or set it to false) to start"
        ))
    };
    match k {
        "security.auth_to_local" if value.trim() != "DEFAULT" => Some(format!(
            "{value:?}: corral has only the DEFAULT rule (a principal of the default realm maps to its first component)"
        )),
        "fips-mode" if on => not_yet("FIPS mode"),
        // QuorumPeer: the peer's host name, canonicalized by DNS, in the
        // Kerberos service principal a learner asks for.
        "kerberos.canonicalizeHostNames" if on => {
            not_yet("canonicalizing host names for Kerberos between servers")
        }
        "netty.server.earlyDropSecureConnectionHandshakes" if on => {
            not_yet("dropping TLS handshakes early")
        }
        // FileTxnSnapLog: with false, a server that finds no snapshot and
        // no `initialize` file votes with zxid -1 instead of starting an
        // empty database; corral always starts the empty database.
        "db.autocreate" if value.trim().eq_ignore_ascii_case("false") => Some(
            "false: a server that refuses to start from an empty database until an `initialize` file says so is not supported by corral yet; remove the key (or set it to true) to start"
                .to_string(),
        ),
        // ZooKeeperServer: with false, closeSession txns omit the session's
        // ephemerals, for servers older than 3.6; corral writes them.
        "closeSessionTxn.enabled" if value.trim().eq_ignore_ascii_case("false") => Some(
            "false: corral always writes the close-session txn with its ephemeral paths (servers older than ZooKeeper 3.6 cannot share an ensemble with it); remove the key (or set it to true) to start"
                .to_string(),
        ),
        // QuorumOracleMaj: with two voters, the survivor of a lost peer
        // leads alone while the oracle file says 1. Without it a two-server
        // ensemble needs both: accepted and ignored, the key would promise
        // an availability corral does not give.
        "oraclePath" => Some(
            "the quorum oracle (QuorumOracleMaj), which lets one server of a two-server ensemble serve alone, is not supported by corral yet; without it both servers are needed, so remove the key to start".to_string(),
        ),
        // EphemeralType: TTL nodes' ephemeralOwner in the 3.5.3 encoding.
        "emulate353TTLNodes" if on => not_yet("ZooKeeper 3.5.3's TTL node encoding"),
        "ssl.sslProvider" | "ssl.quorum.sslProvider"
            if !value.trim().is_empty() && !value.trim().eq_ignore_ascii_case("JDK") =>
        {
            Some(format!(
                "{value:?}: corral's TLS stack is rustls; leave the key unset or JDK"
            ))
        }
        _ if k == "authProvider" || k.starts_with("authProvider.") => {
            let class = value.trim();
            if class == super::tls::X509_PROVIDER
                || class == "org.apache.zookeeper.server.auth.DigestAuthenticationProvider"
                || class == "org.apache.zookeeper.server.auth.IPAuthenticationProvider"
                || class == super::sasl::SASL_PROVIDER
            {
                None
            } else {
                Some(format!(
                    "{class}: corral has no such authentication provider (it has the digest, ip, x509 and sasl ones)"
                ))
            }
        }
        _ => None,
    }
}

/// Keys that change nothing in corral, and why (`java_only`).
const IGNORED: &[(&[&str], &str)] = &[
    (
        &["maxResponseCacheSize", "maxGetChildrenResponseCacheSize"],
        "sizes ZooKeeper's cache of serialized read replies; corral answers reads from an immutable tree version and keeps no such cache; ignored",
    ),
    (
        &["watcherCleanThreadsNum", "watcherCleanThreshold", "watcherCleanIntervalInSeconds", "maxInProcessingDeadWatchers", "bitHashCacheSize"],
        "tunes WatchManagerOptimized's dead-watcher cleaner; corral drops a closed connection's watches at once, on its shard; ignored",
    ),
    (
        &["flushDelay", "maxWriteQueuePollTime", "maxBatchSize"],
        "tunes ZooKeeper's batching of flushes; corral's log core group-commits whatever is ready (one write and one fdatasync a batch); ignored",
    ),
    (
        &["learner.closeSocketAsync", "leader.closeSocketAsync", "learner.asyncSending", "forward_learner_requests_to_commit_processor_disabled", "follower.skipLearnerRequestToNextProcessor"],
        "chooses how ZooKeeper's Java threads hand quorum work over; corral's Zab core never blocks on a socket; ignored",
    ),
    (
        &["jmx.log4j.disable", "jmx.log4j.mbean"],
        "a JVM/JMX setting; corral has no JVM; ignored",
    ),
    (
        &["admin.httpVersion"],
        "Jetty's HTTP version; corral's AdminServer speaks HTTP/1.1; ignored",
    ),
    (
        &["leader.ackLoggingFrequency"],
        "how often ZooKeeper logs acks; corral logs quorum traffic at debug level; ignored",
    ),
    (
        &["maxTimeToWaitForEpoch", "leader.maxTimeToWaitForEpoch"],
        "bounds how long ZooKeeper's leader waits for its followers' epochs; corral's leader waits initLimit ticks, as ZooKeeper does when the key is unset; ignored",
    ),
    (
        &["observer.reconnectDelayMs", "observer.election.DelayMs"],
        "delays an observer's reconnection or its search for a new leader; corral's observer does both at once; ignored",
    ),
    (
        &["forceSnapshotSync", "testingonly.initialZxid", "controllerPort"],
        "a ZooKeeper test hook; corral has no such hook; ignored",
    ),
    (
        &["ensembleAuthName"],
        "names the ensemble for EnsembleAuthenticationProvider, which corral does not have; ignored",
    ),
    (
        &["observerMaster.sizeLimit"],
        "sizes the observer master's cache of commits; corral's observer master keeps none (it syncs an observer from the follower's committed log, or by SNAP); ignored",
    ),
    (
        &["client.secure", "clientCnxnSocket", "disableAutoWatchReset", "request.timeout", "requireKerberosConfig", "kinit", "server.principal", "server.realm"],
        "a client's setting; a server does not read it; ignored",
    ),
    (
        &["version", "configuration", "outstandingHandshake.limit"],
        "not a setting ZooKeeper 3.8's server reads (the TLS handshake bound is netty.server.outstandingHandshake.limit); ignored",
    ),
    (
        &["corral.experimental.ensemble"],
        "retired: every corral build runs ensembles; ignored",
    ),
];

/// Why corral ignores a setting ZooKeeper implements in Java, if it does.
/// `key` is the zoo.cfg spelling (property name without `zookeeper.`).
pub(super) fn java_only(key: &str, value: &str) -> Option<&'static str> {
    let k = key;
    let any = |names: &[&str]| names.contains(&k);
    if k == "quorum.cnxn.threads.size" {
        return Some(
            "sizes ZooKeeper's pool of threads for quorum SASL handshakes; corral runs each handshake in its connection's own task; ignored",
        );
    }
    if k.starts_with("kerberos.")
        && !any(&[
            "kerberos.removeHostFromPrincipal",
            "kerberos.removeRealmFromPrincipal",
            "kerberos.canonicalizeHostNames",
        ])
    {
        return Some("not a Kerberos setting ZooKeeper 3.8 reads; ignored");
    }
    if k.starts_with("sasl.") && k != "sasl.serverconfig" {
        return Some("a client's SASL setting; a server does not read it; ignored");
    }
    if k == "audit.impl.class" {
        return match value.trim() {
            "org.apache.zookeeper.audit.Slf4jAuditLogger" => None,
            _ => Some(
                "selects a Java audit logger class; corral writes the audit log as ZooKeeper's default Slf4jAuditLogger does, through its own log (target corral::audit); ignored",
            ),
        };
    }
    // The admin guide's names of the connection throttle's settings:
    // BlueThrottle reads none of them (it reads connection_throttle_*).
    macro_rules! guide_name {
        ($real:literal) => {
            Some(concat!(
                "the admin guide's name; ZooKeeper 3.8 reads ",
                $real,
                " instead, and so does corral; ignored"
            ))
        };
    }
    match k {
        "connectionMaxTokens" => return guide_name!("connection_throttle_tokens"),
        "connectionTokenFillTime" => return guide_name!("connection_throttle_fill_time"),
        "connectionTokenFillCount" => return guide_name!("connection_throttle_fill_count"),
        "connectionFreezeTime" => return guide_name!("connection_throttle_freeze_time"),
        "connectionDropIncrease" => return guide_name!("connection_throttle_drop_increase"),
        "connectionDropDecrease" => return guide_name!("connection_throttle_drop_decrease"),
        "connectionDecreaseRatio" => return guide_name!("connection_throttle_decrease_ratio"),
        "maxConcurrentSnapSyncs" => return guide_name!("leader.maxConcurrentSnapSyncs"),
        "maxConcurrentDiffSyncs" => return guide_name!("leader.maxConcurrentDiffSyncs"),
        _ => {}
    }
    if any(&["serverCnxnFactory", "watchManagerName"]) {
        return Some("selects a Java implementation class; corral has its own; ignored");
    }
    if any(&[
        "advancedFlowControlEnabled",
        "netty.advancedFlowControl.enabled",
    ]) {
        return Some("Netty-specific; ignored by corral");
    }
    if k.starts_with("nio.") && k != "nio.sessionlessCnxnTimeout"
        || k.starts_with("commitProcessor.")
        || k == "intBufferStartingSizeBytes"
    {
        return Some(
            "sizes a Java thread pool, queue or buffer; corral runs one executor a core (its core map); ignored",
        );
    }
    if k.starts_with("messageTracker.") {
        return Some(
            "ZooKeeper's record of recent quorum messages, for debugging; corral logs them at debug level (RUST_LOG=corral=debug); ignored",
        );
    }
    if k.starts_with("pathStats.") {
        return Some(
            "ZooKeeper's per-path request statistics; corral does not collect them; ignored",
        );
    }
    for (keys, why) in IGNORED {
        if keys.contains(&k) {
            return Some(why);
        }
    }
    if k.starts_with("jvm.pause.") {
        return Some(
            "JVM pause monitoring does not apply to corral (its stall monitor is set with corral.stallThresholdMs); ignored",
        );
    }
    if k == "metricsProvider.className"
        && value != DEFAULT_METRICS_PROVIDER
        && value != PROMETHEUS_METRICS_PROVIDER
    {
        return Some("unknown metrics provider class; corral serves no metrics endpoint for it");
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
pub(super) const JVM_ONLY_PROPERTIES: [&str; 5] = [
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
pub(super) const QPC_KEYS: [&str; 43] = [
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
pub(super) const PROPERTY_KEYS: &[&str] = &[
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
    "connection_throttle_tokens",
    "connection_throttle_fill_time",
    "connection_throttle_fill_count",
    "connection_throttle_freeze_time",
    "connection_throttle_drop_increase",
    "connection_throttle_drop_decrease",
    "connection_throttle_decrease_ratio",
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
    // The names the RequestThrottler, Request and ZooKeeperServer read
    // (the admin guide's names above are read by none of them).
    "request_throttle_max_requests",
    "request_throttle_stall_time",
    "request_throttle_drop_stale",
    "request_stale_connection_check",
    "request_stale_latency_check",
    "throttled_op_wait_time",
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
    // 3.9 keys read with the AdminServer's `snapshot`/`restore` (docs/admin.md).
    "serializeLastProcessedZxid.enabled",
    "IPAuthenticationProvider.usexforwardedfor",
    // SASL on the client port (ZooKeeperServer, SaslServerCallbackHandler,
    // SASLAuthenticationProvider, KerberosName); not in the admin guide.
    "allowSaslFailedClients",
    "letAnySaslUserDoX",
    "SASLAuthenticationProvider.superPassword",
    "security.auth_to_local",
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
    // Read by ZooKeeper 3.8's server (or its client, from the same JVM's
    // properties) but not in the admin guide; each has a treatment in
    // docs/configuration.md.
    "closeSessionTxn.enabled",
    "commitProcessor.shutdownTimeout",
    "intBufferStartingSizeBytes",
    "jmx.log4j.disable",
    "jmx.log4j.mbean",
    "leader.ackLoggingFrequency",
    "leader.maxConcurrentSnapSyncs",
    "leader.maxConcurrentDiffSyncs",
    "leader.maxTimeToWaitForEpoch",
    "leaderConnectDelayDuringRetryMs",
    "netty.advancedFlowControl.enabled",
    "nio.directBufferBytes",
    "nio.shutdownTimeout",
    "observerMaster.sizeLimit",
    "pathStats.enabled",
    "pathStats.delay",
    "pathStats.initialDelay",
    "pathStats.maxDepth",
    "pathStats.sampleRate",
    "pathStats.slotCapacity",
    "pathStats.slotDuration",
    "pathStats.topPathMax",
    "forceSnapshotSync",
    "testingonly.initialZxid",
    "controllerPort",
    "client.secure",
    "clientCnxnSocket",
    "disableAutoWatchReset",
    "request.timeout",
    "requireKerberosConfig",
    "kinit",
    "version",
    "configuration",
];

/// Documented prefixes of property keys.
pub(super) const PROPERTY_PREFIXES: [&str; 7] = [
    "ssl.",
    "sasl.",
    "authProvider.",
    "kerberos.",
    "admin.",
    "superUser.",
    "corral.",
];

pub(super) fn is_documented_property_key(key: &str) -> bool {
    PROPERTY_KEYS.contains(&key)
        || key == "authProvider"
        || PROPERTY_PREFIXES.iter().any(|p| key.starts_with(p))
        || matches!(key, "datadir.autocreate" | "db.autocreate")
}

pub(super) fn is_quorum_key(key: &str) -> bool {
    key.starts_with("server.") || key.starts_with("group") || key.starts_with("weight")
}
