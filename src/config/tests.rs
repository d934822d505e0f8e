//! The config tests: zoo.cfg and `-D` parsing, the known keys, the quorum
//! checks, and the sample configs in `conf/`.

use super::*;
use super::{keys::*, parser::*, values::*};

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
    with_files_flags(text, files, &no_flags())
}

fn with_files_flags(
    text: &str,
    files: &[(&str, &str)],
    jvm: &BTreeMap<String, String>,
) -> Result<Loaded, ConfigError> {
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
        jvm,
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

const ENSEMBLE: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/zk\nclientPort=2181\n\
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
    assert!(
        l.warnings[0].starts_with("JVM flag -Dzookeeper.ssl.keyStore.location: has no effect"),
        "{:?}",
        l.warnings
    );
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
    let c = ok(
        "dataDir=/d\nclientPort=1\ntickTime=100\nminSessionTimeout=-1\nmaxSessionTimeout=9000\n",
    )
    .config;
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
fn documented_property_key_is_stored_and_named_when_ignored() {
    let l = ok(&format!("{BASE}maxResponseCacheSize=10\nflushDelay=5\n"));
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("maxResponseCacheSize") && l.warnings[0].ends_with("ignored"));
    assert!(l.warnings[1].contains("flushDelay") && l.warnings[1].ends_with("ignored"));
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
    assert_eq!(c.quorum_max_connections, 256);
    assert!(!c.admin_show_session_ids);
    let c = ok(&format!(
        "{BASE}admin.serverAddress=0.0.0.0
corral.admin.requestTimeoutMs=500
             corral.admin.maxConnections=4
corral.admin.showSessionIds=true
corral.quorum.maxConnections=12
"
    ))
    .config;
    assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(c.admin_request_timeout_ms, 500);
    assert_eq!(c.admin_max_connections, 4);
    assert_eq!(c.quorum_max_connections, 12);
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
        "corral.quorum.maxConnections=0",
        "corral.quorum.maxConnections=many",
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
fn snapshot_and_restore_keys_of_3_9() {
    let c = ok(BASE).config;
    assert!(c.admin_snapshot_enabled && c.admin_restore_enabled);
    assert!(c.serialize_last_processed_zxid);
    assert_eq!(c.admin_rate_limiter_interval_ms, 300_000);
    assert_eq!(c.admin_restore_max_bytes, 256 << 20);
    let l = ok(&format!(
        "{BASE}admin.snapshot.enabled=false\nadmin.restore.enabled=false\n\
         admin.rateLimiterIntervalInMS=0\nserializeLastProcessedZxid.enabled=false\n\
         corral.admin.restore.maxBytes=1000\nadmin.needClientAuth=false\n"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config;
    assert!(!c.admin_snapshot_enabled && !c.admin_restore_enabled);
    assert!(!c.serialize_last_processed_zxid);
    assert_eq!(c.admin_rate_limiter_interval_ms, 0);
    assert_eq!(c.admin_restore_max_bytes, 1000);
    let jvm = flags(&[("zookeeper.admin.restore.enabled", "false")]);
    assert!(!ok_with(BASE, &jvm).config.admin_restore_enabled);
    for (bad, key) in [
        ("admin.needClientAuth=true", "admin.needClientAuth"),
        (
            "IPAuthenticationProvider.usexforwardedfor=true",
            "IPAuthenticationProvider.usexforwardedfor",
        ),
        (
            "admin.rateLimiterIntervalInMS=-1",
            "admin.rateLimiterIntervalInMS",
        ),
        (
            "corral.admin.restore.maxBytes=big",
            "corral.admin.restore.maxBytes",
        ),
    ] {
        let e = err(&format!("{BASE}{bad}\n")).to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn typed_settings_resolve_from_zoo_cfg_keys() {
    let text = format!(
            "{BASE}skipACL=yes\nextendedTypesEnabled=true\nenableEagerACLCheck=true\n\
             DigestAuthenticationProvider.superDigest=super:xyz\nforceSync=no\npreAllocSize=1024\n\
             snapSizeLimitInKb=-1\ntxnLogSizeLimitInKb=2048\nfsync.warningthresholdms=50\n\
             globalOutstandingLimit=5\nmaxCnxns=100\nsnapshot.compression.method=gz\nleaderServes=yes\n\
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
    assert!(c.leader_serves);
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
fn quorum_keys_at_their_defaults_are_silent() {
    // Every key of this family written out with ZooKeeper's default.
    let text = format!(
        "{ENSEMBLE}localSessionsEnabled=false\nlocalSessionsUpgradingEnabled=false\n\
         observerMasterPort=0\nconnectToLearnerMasterLimit=0\nleaderServes=yes\nsyncEnabled=true\n\
         multiAddress.enabled=false\nmultiAddress.reachabilityCheckEnabled=true\n\
         multiAddress.reachabilityCheckTimeoutMs=1000\nquorumCnxnTimeoutMs=-1\n\
         txnLogSizeLimitInKb=-1\nemulate353TTLNodes=false\n"
    );
    let jvm = flags(&[
        ("znode.container.maxNeverUsedIntervalMs", "0"),
        ("readonlymode.enabled", "false"),
        ("zookeeper.observer.syncEnabled", "true"),
    ]);
    let l = ok_with(&text, &jvm);
    assert!(l.warnings.is_empty(), "{:#?}", l.warnings);
    let c = &l.config;
    assert!(!c.local_sessions_enabled && c.leader_serves && c.sync_enabled);
    assert_eq!(c.quorum_cnxn_timeout_ms, None);
    assert_eq!(c.txn_log_size_limit_in_kb, None);
}

#[test]
fn honoured_quorum_keys_are_typed_without_warnings() {
    let text = format!("{ENSEMBLE}connectToLearnerMasterLimit=3\nquorumCnxnTimeoutMs=700\n");
    let jvm = flags(&[
        ("znode.container.maxNeverUsedIntervalMs", "60000"),
        // Boolean.getBoolean, as QuorumPeer reads it: any case.
        ("readonlymode.enabled", "TRUE"),
    ]);
    let l = ok_with(&text, &jvm);
    assert!(l.warnings.is_empty(), "{:#?}", l.warnings);
    let c = &l.config;
    assert_eq!(c.connect_to_learner_master_limit, 3);
    assert_eq!(c.quorum_cnxn_timeout_ms, Some(700));
    assert_eq!(c.container_max_never_used_interval_ms, 60_000);
    assert!(c.readonly_mode_enabled);
}

#[test]
fn local_sessions_are_honoured_in_an_ensemble() {
    for upgrading in [true, false] {
        let l = ok(&format!(
            "{ENSEMBLE}localSessionsEnabled=true\nlocalSessionsUpgradingEnabled={upgrading}\n"
        ));
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert!(l.config.local_sessions_enabled);
        assert_eq!(l.config.local_sessions_upgrading_enabled, upgrading);
    }
    // A standalone ZooKeeper has no local sessions either: nothing to say.
    let l = ok(&format!("{BASE}localSessionsEnabled=true\n"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // Upgrading alone does nothing in ZooKeeper.
    let l = ok(&format!("{ENSEMBLE}localSessionsUpgradingEnabled=true\n"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn settings_corral_does_safer_warn_with_what_it_does() {
    // Observers without a txn log: honoured, no warning.
    let l = ok(&format!("{BASE}syncEnabled=false\n"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // FileTxnLog's roll by size: corral rolls at snapshots.
    let l = ok(&format!("{BASE}txnLogSizeLimitInKb=2048\n"));
    assert!(has_warning(
        &l,
        "zoo.cfg line 3: txnLogSizeLimitInKb: corral starts a new txn log file only when a snapshot falls due"
    ));
    let l = ok(&format!("{BASE}txnLogSizeLimitInKb=0\n"));
    assert!(l.warnings.is_empty(), "0 disables it: {:?}", l.warnings);
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
        ("metricsProvider.maxQueueSize=big", 3, "not a number"),
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
}

// --- keys that turn on what corral does not do: refused by name -------------

#[test]
fn settings_corral_cannot_honour_are_refused_by_name() {
    for (line, key) in [
        // TLS between servers is served; what it cannot do is refused.
        ("sslQuorum=true", "ssl.quorum.keyStore.location"),
        ("portUnification=true", "ssl.quorum.keyStore.location"),
        (
            "sslQuorum=true\nssl.quorum.keyStore.location=/k.p12\nssl.quorum.crl=true",
            "ssl.quorum.crl",
        ),
        (
            "sslQuorum=true\nssl.quorum.keyStore.location=/k.p12\nssl.quorum.ocsp=true",
            "ssl.quorum.ocsp",
        ),
        (
            "sslQuorum=true\nssl.quorum.keyStore.location=/k.p12\nssl.quorum.clientAuth=maybe",
            "ssl.quorum.clientAuth",
        ),
        (
            "sslQuorum=true\nssl.quorum.keyStore.location=/k.p12\n\
             ssl.quorum.context.supplier.class=com.example.Ctx",
            "ssl.quorum.context.supplier.class",
        ),
        ("ssl.quorum.sslProvider=OPENSSL", "ssl.quorum.sslProvider"),
        // QuorumPeerConfig's consistency checks.
        (
            "quorum.auth.serverRequireSasl=true",
            "quorum.auth.serverRequireSasl",
        ),
        (
            "quorum.auth.learnerRequireSasl=true",
            "quorum.auth.learnerRequireSasl",
        ),
        (
            "quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true",
            "quorum.auth.serverRequireSasl",
        ),
        (
            "security.auth_to_local=RULE:[1:$1]",
            "security.auth_to_local",
        ),
        (
            "kerberos.canonicalizeHostNames=true",
            "kerberos.canonicalizeHostNames",
        ),
        // Enforcing a scheme no provider serves (AuthenticationHelper).
        (
            "enforce.auth.enabled=true\nenforce.auth.schemes=sasl",
            "enforce.auth.schemes",
        ),
        ("enforce.auth.enabled=true", "enforce.auth.enabled"),
        // HTTPS on the AdminServer needs both ssl.quorum.* stores.
        ("admin.forceHttps=true", "ssl.quorum.keyStore.location"),
        (
            "admin.portUnification=true\nssl.quorum.keyStore.location=/k.p12",
            "ssl.quorum.trustStore.location",
        ),
        ("authProvider.2=com.example.Custom", "authProvider.2"),
        ("ssl.sslProvider=OPENSSL", "ssl.sslProvider"),
        (
            "ssl.crl=true\nsecureClientPort=2281\nssl.keyStore.location=/k.p12",
            "ssl.crl",
        ),
        (
            "ssl.ocsp=true\nsecureClientPort=2281\nssl.keyStore.location=/k.p12",
            "ssl.ocsp",
        ),
        ("secureClientPort=2281", "ssl.keyStore.location"),
        (
            "secureClientPort=2281\nssl.keyStore.location=/k.p12\nssl.clientAuth=maybe",
            "ssl.clientAuth",
        ),
        (
            "secureClientPort=2281\nssl.keyStore.location=/k.p12\nssl.protocol=SSLv3",
            "ssl.protocol",
        ),
        (
            "secureClientPort=2281\nssl.keyStore.location=/k.p12\nssl.authProvider=ldap",
            "ssl.authProvider",
        ),
        // Settings that turn on what corral does not do.
        ("emulate353TTLNodes=true", "emulate353TTLNodes"),
    ] {
        let e = err(&format!("{BASE}{line}\n"));
        assert!(
            e.to_string().contains(key),
            "{line}: the error names {key}: {e}"
        );
    }
    let name = "zookeeper.emulate353TTLNodes";
    let e = parse_str(BASE, "zoo.cfg", &flags(&[(name, "true")])).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("JVM flag -D{name}: ")),
        "{e}"
    );
    assert!(e.to_string().contains("not supported by corral"), "{e}");
    // A group line in a dynamic config file is read as in zoo.cfg.
    let dynamic = "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\ngroup.1=1:2:3\nweight.3=0\n";
    let l = with_files(
        &format!("{BASE}initLimit=5\nsyncLimit=2\ndynamicConfigFile=/dyn.cfg\n"),
        &[("/dyn.cfg", dynamic), ("/var/lib/zk/myid", "1")],
    )
    .unwrap();
    assert_eq!(l.config.quorum_groups, vec![(1, vec![1, 2, 3])]);
    assert_eq!(l.config.quorum_weights, BTreeMap::from([(3, 0)]));
    // Hierarchical quorums: read as QuorumHierarchical reads them, and
    // refused where it would fail or corral would count differently.
    let three = "initLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n";
    let l = ok(&format!(
        "{BASE}{three}group.1=1:2\ngroup.2=3\nweight.1=2\n"
    ));
    assert_eq!(l.config.quorum_groups, vec![(1, vec![1, 2]), (2, vec![3])]);
    assert_eq!(l.config.quorum_weights, BTreeMap::from([(1, 2)]));
    for (extra, names, says) in [
        ("weight.1=2", "group.N", "server 1 is not in a group"),
        ("group.1=1:2", "group.N", "server 3 is not in a group"),
        ("group.1=1:2:3\ngroup.2=3", "group.2", "in multiple groups"),
        (
            "group.1=1:2:3:4",
            "group.N",
            "server 4 is in a group but is not a participant",
        ),
        ("group.1=1:x:3", "group.1", "\"x\" is not a server id"),
        ("group.1=1:2:3\nweight.1=-1", "weight.1", "is not a weight"),
        (
            "group.1=1:2:3\ngroupies=1",
            "groupies",
            "is not group.N or weight.N",
        ),
    ] {
        let e = err(&format!("{BASE}{three}{extra}\n"));
        let text = e.to_string();
        assert!(
            text.contains(names) && text.contains(says),
            "{extra}: {text}"
        );
    }
    // Off is off: no refusal.
    let l = ok(&format!(
        "{BASE}sslQuorum=false\nquorum.auth.enableSasl=false\n"
    ));
    assert_eq!(l.config.client_tls, None);
    // As a JVM flag too.
    let e = parse_str(
        BASE,
        "zoo.cfg",
        &flags(&[("zookeeper.security.auth_to_local", "RULE:x")]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("zookeeper.security.auth_to_local"),
        "{e}"
    );
}

#[test]
fn sasl_is_read_from_the_jaas_file_and_zoo_cfg_as_zookeeper_reads_it() {
    const JAAS: &str = "Server {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n \
                        user_bob=\"b\" user_super=\"s\";\n};\n\
                        Other { com.sun.security.auth.module.Krb5LoginModule required; };\n";
    let jvm = flags(&[(crate::config::sasl::JAAS_FLAG, "/jaas.conf")]);
    let files = [("/jaas.conf", JAAS)];
    let l = with_files_flags(
        &format!(
            "{BASE}authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
             superUser=bob\nsuperUser.2=carol\nsessionRequireClientSASLAuth=true\n\
             enforce.auth.schemes=ip\nletAnySaslUserDoX=anyone\nallowSaslFailedClients=true\n"
        ),
        &files,
        &jvm,
    )
    .unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let s = &l.config.sasl;
    assert!(s.provider && s.allow_failed);
    assert_eq!(s.server.as_ref().map(|s| s.user_count()), Some(2));
    assert_eq!(s.super_users, vec!["bob".to_string(), "carol".to_string()]);
    assert_eq!(s.let_any_do_x.as_deref(), Some("anyone"));
    // sessionRequireClientSASLAuth wins over enforce.auth.*.
    assert_eq!(s.enforce_schemes, vec!["sasl".to_string()]);
    assert!(s.sasl_required());

    // enforce.auth.* on its own, trimmed; ip is always there.
    let l = with_files_flags(
        &format!("{BASE}enforce.auth.enabled=true\nenforce.auth.schemes= ip , digest\n"),
        &files,
        &jvm,
    )
    .unwrap();
    assert_eq!(l.config.sasl.enforce_schemes, vec!["ip", "digest"]);
    assert!(!l.config.sasl.sasl_required());
    assert!(!l.config.sasl.provider);

    // Another section: Kerberos is refused by name; a missing one warns
    // and leaves SASL off; a missing file stops the start.
    let e =
        with_files_flags(&format!("{BASE}sasl.serverconfig=Other\n"), &files, &jvm).unwrap_err();
    assert!(e.to_string().contains("Krb5LoginModule"), "{e}");
    let l = with_files_flags(&format!("{BASE}sasl.serverconfig=Nope\n"), &files, &jvm).unwrap();
    assert_eq!(l.config.sasl.server, None);
    assert!(has_warning(&l, "no section \"Nope\""), "{:?}", l.warnings);
    let e = with_files_flags(BASE, &[], &jvm).unwrap_err();
    assert!(
        e.to_string().contains("java.security.auth.login.config"),
        "{e}"
    );
    let e = with_files_flags(BASE, &[("/jaas.conf", "Server {")], &jvm).unwrap_err();
    assert!(e.to_string().contains("/jaas.conf: line 1"), "{e}");
    // A section name without a JAAS file.
    let e = err(&format!("{BASE}sasl.serverconfig=Server\n"));
    assert_eq!(e.key(), Some("sasl.serverconfig"));
}

#[test]
fn quorum_sasl_is_read_from_zoo_cfg_and_the_jaas_file_as_zookeeper_reads_it() {
    const JAAS: &str = "QuorumServer {\n org.apache.zookeeper.server.auth.DigestLoginModule required\n \
                        user_peer=\"p\" user_other=\"o\";\n};\n\
                        QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required \
                        username=\"peer\" password=\"p\"; };\n\
                        Mine { org.apache.zookeeper.server.auth.DigestLoginModule required \
                        username=\"other\" password=\"o\"; };\n\
                        Krb { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true \
                        keyTab=\"/k\" principal=\"zkquorum/localhost\"; };\n\
                        NoKeytab { com.sun.security.auth.module.Krb5LoginModule required \
                        useTicketCache=true principal=\"learner/zk1\"; };\n";
    let jvm = flags(&[(crate::config::sasl::JAAS_FLAG, "/jaas.conf")]);
    let files = [("/jaas.conf", JAAS), ("/zk/myid", "1")];
    let on = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
              quorum.auth.serverRequireSasl=true\n";
    let l = with_files_flags(&format!("{ENSEMBLE}{on}"), &files, &jvm).unwrap();
    let q = l.config.quorum_sasl.as_ref().expect("quorum SASL on");
    assert!(q.learner_required && q.server_required);
    use crate::security::quorum_auth::{Keytab, LearnerLogin, ServerLogin};
    assert_eq!(
        q.learner,
        Some(LearnerLogin::Digest {
            username: "peer".into(),
            password: "p".into()
        })
    );
    assert!(matches!(&q.server, ServerLogin::Digest { users } if users.len() == 2));
    // The hosts of the server.N lines are the authorized ones; the
    // service principal is ZooKeeper's default.
    assert_eq!(
        q.authz_hosts.iter().map(String::as_str).collect::<Vec<_>>(),
        ["zk1", "zk2", "zk3"]
    );
    assert_eq!(q.service_principal, "zkquorum/localhost");
    // Another learner section, by quorum.auth.learner.saslLoginContext.
    let l = with_files_flags(
        &format!("{ENSEMBLE}{on}quorum.auth.learner.saslLoginContext=Mine\n"),
        &files,
        &jvm,
    )
    .unwrap();
    let q = l.config.quorum_sasl.unwrap();
    assert!(
        matches!(&q.learner, Some(LearnerLogin::Digest { username, .. }) if username == "other"),
        "{q:?}"
    );
    assert!(!format!("{q:?}").contains("\"o\""), "no passwords: {q:?}");
    // Kerberos on both sides, with the service principal from zoo.cfg.
    let l = with_files_flags(
        &format!(
            "{ENSEMBLE}{on}quorum.auth.learner.saslLoginContext=Krb\n\
             quorum.auth.server.saslLoginContext=Krb\n\
             quorum.auth.kerberos.servicePrincipal=zkquorum/_HOST\n"
        ),
        &files,
        &jvm,
    )
    .unwrap();
    let q = l.config.quorum_sasl.unwrap();
    let k = Keytab {
        keytab: "/k".into(),
        principal: "zkquorum/localhost".into(),
    };
    assert_eq!(q.learner, Some(LearnerLogin::Kerberos(k.clone())));
    assert_eq!(q.server, ServerLogin::Kerberos(k));
    assert_eq!(q.service_principal, "zkquorum/_HOST");
    // Enabled alone: on, requiring nothing.
    let l = with_files_flags(
        &format!("{ENSEMBLE}quorum.auth.enableSasl=true\n"),
        &files,
        &jvm,
    )
    .unwrap();
    let q = l.config.quorum_sasl.unwrap();
    assert!(!q.learner_required && !q.server_required);
    // Start-up failures name the key and the section.
    for (extra, jvm, want) in [
        ("", no_flags(), "no JAAS file"),
        (
            "quorum.auth.server.saslLoginContext=Nope\n",
            jvm.clone(),
            "'Nope' could not be found",
        ),
        (
            "quorum.auth.learner.saslLoginContext=NoKeytab\n",
            jvm.clone(),
            "'NoKeytab': com.sun.security.auth.module.Krb5LoginModule needs useKeyTab=true, keyTab and principal",
        ),
    ] {
        let e = with_files_flags(&format!("{ENSEMBLE}{on}{extra}"), &files, &jvm).unwrap_err();
        assert_eq!(e.key(), Some("quorum.auth.enableSasl"), "{e}");
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
    // A standalone server has no links: a warning, nothing on.
    let l = with_files_flags(
        &format!("{BASE}quorum.auth.enableSasl=true\n"),
        &files,
        &jvm,
    )
    .unwrap();
    assert_eq!(l.config.quorum_sasl, None);
    assert!(has_warning(&l, "standalone"), "{:?}", l.warnings);
}

#[test]
fn quorum_tls_settings_are_read_as_zookeeper_reads_them() {
    use crate::config::tls::{ClientAuth, Protocol};
    let l = ok(&format!(
        "{BASE}sslQuorum=true\nportUnification=true\nsslQuorumReloadCertFiles=true\n\
         ssl.quorum.keyStore.location=/s/q.jks\nssl.quorum.keyStore.password=qpw\n\
         ssl.quorum.trustStore.location=/s/t.p12\nssl.quorum.trustStore.password=tpw\n\
         ssl.quorum.hostnameVerification=false\nssl.quorum.enabledProtocols=TLSv1.3\n\
         ssl.quorum.handshakeDetectionTimeoutMillis=900\n\
         ssl.keyStore.location=/s/client-side.p12\n"
    ));
    // The client ports' keys have no effect here: said once.
    assert_eq!(l.warnings.len(), 1, "{:#?}", l.warnings);
    let q = l.config.quorum_tls.as_ref().unwrap();
    assert!(q.connect_tls && q.unified && q.reload && q.reverse_dns);
    let t = &q.settings;
    assert_eq!(t.prefix, "zookeeper.ssl.quorum.");
    assert_eq!(t.key_store.path, std::path::Path::new("/s/q.jks"));
    assert_eq!(t.key_store.password, "qpw");
    assert_eq!(t.trust_store.as_ref().unwrap().password, "tpw");
    assert!(!t.hostname_verification);
    assert_eq!(t.protocols, vec![Protocol::Tls13]);
    assert_eq!(t.handshake_timeout.as_millis(), 900);
    // ZooKeeper's defaults: clientAuth need, names checked, TLSv1.2.
    let l = ok(&format!(
        "{BASE}portUnification=true\nssl.quorum.keyStore.location=/s/q.pem\n"
    ));
    let q = l.config.quorum_tls.as_ref().unwrap();
    assert!(!q.connect_tls && q.unified && !q.reload);
    assert_eq!(q.settings.client_auth, ClientAuth::Need);
    assert!(q.settings.hostname_verification);
    assert_eq!(q.settings.protocols, vec![Protocol::Tls12]);
    assert_eq!(l.config.client_tls, None);
    // Off: nothing built.
    let l = ok(&format!("{BASE}sslQuorum=false\n"));
    assert_eq!(l.config.quorum_tls, None);
}

#[test]
fn client_tls_settings_are_read_as_zookeeper_reads_them() {
    use crate::config::tls::{ClientAuth, Protocol};
    let l = ok(&format!(
        "{BASE}secureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n\
         ssl.keyStore.location=/s/key.p12\nssl.keyStore.password=kpw\n\
         ssl.trustStore.location=/s/trust.jks\nssl.trustStore.type=JKS\n\
         ssl.clientAuth=Want\nssl.enabledProtocols=TLSv1.3,TLSv1.2\n\
         ssl.ciphersuites=TLS_AES_128_GCM_SHA256\nssl.handshakeDetectionTimeoutMillis=700\n\
         X509AuthenticationProvider.superUser=CN=admin\nclient.certReload=true\n"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(c.secure_client_port, Some(2281));
    assert_eq!(c.secure_client_port_address.to_string(), "127.0.0.1");
    assert!(c.client_cert_reload);
    assert_eq!(c.x509_super_user.as_deref(), Some("CN=admin"));
    let t = c.client_tls.as_ref().unwrap();
    assert_eq!(t.key_store.path, std::path::Path::new("/s/key.p12"));
    assert_eq!(t.key_store.password, "kpw");
    let ts = t.trust_store.as_ref().unwrap();
    assert_eq!((ts.password.as_str(), ts.ty.as_deref()), ("", Some("JKS")));
    assert_eq!(t.client_auth, ClientAuth::Want);
    assert_eq!(t.protocols, vec![Protocol::Tls13, Protocol::Tls12]);
    assert_eq!(
        t.cipher_suites,
        Some(vec!["TLS_AES_128_GCM_SHA256".to_string()])
    );
    assert_eq!(t.handshake_timeout.as_millis(), 700);
    // ZooKeeper's defaults: TLSv1.2 only, clientAuth need.
    let l = ok(&format!(
        "{BASE}client.portUnification=true\nssl.keyStore.location=/s/key.pem\n"
    ));
    let t = l.config.client_tls.as_ref().unwrap();
    assert_eq!(t.protocols, vec![Protocol::Tls12]);
    assert_eq!(t.client_auth, ClientAuth::Need);
    assert_eq!(t.trust_store, None);
    assert_eq!(l.config.secure_client_port, None);
}

#[test]
fn admin_https_reads_the_quorum_stores_as_jetty_admin_server_does() {
    use crate::config::tls::{AdminHttps, ClientAuth, Protocol};
    let stores = "ssl.quorum.keyStore.location=/s/q.p12\nssl.quorum.keyStore.password=kpw\n\
                  ssl.quorum.trustStore.location=/s/t.jks\nssl.quorum.trustStore.type=JKS\n";
    // forceHttps wins over portUnification.
    let l = ok(&format!(
        "{BASE}admin.forceHttps=true\nadmin.portUnification=true\n{stores}"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let a = l.config.admin_tls.as_ref().unwrap();
    assert_eq!(a.mode, AdminHttps::Only);
    assert_eq!(a.settings.key_store.path, std::path::Path::new("/s/q.p12"));
    assert_eq!(a.settings.key_store.password, "kpw");
    let t = a.settings.trust_store.as_ref().unwrap();
    assert_eq!((t.password.as_str(), t.ty.as_deref()), ("", Some("JKS")));
    // Jetty's defaults, not the ssl.quorum.* protocol keys: TLS 1.3 and
    // 1.2, no client certificate.
    assert_eq!(a.settings.protocols, vec![Protocol::Tls13, Protocol::Tls12]);
    assert_eq!(a.settings.client_auth, ClientAuth::None);
    assert_eq!(l.config.client_tls, None);
    let l = ok(&format!("{BASE}admin.portUnification=TRUE\n{stores}"));
    assert_eq!(l.config.admin_tls.unwrap().mode, AdminHttps::Unified);
    // As JVM flags too.
    let l = ok_with(
        &format!("{BASE}{stores}"),
        &flags(&[("zookeeper.admin.forceHttps", "true")]),
    );
    assert_eq!(l.config.admin_tls.unwrap().mode, AdminHttps::Only);
    // Off, or no AdminServer: nothing read, and the stores are said to
    // have no effect.
    for off in [
        "admin.forceHttps=false\n",
        "admin.forceHttps=true\nadmin.enableServer=false\n",
    ] {
        let l = ok(&format!("{BASE}{off}{stores}"));
        assert_eq!(l.config.admin_tls, None, "{off}");
        assert!(
            has_warning(
                &l,
                "has no effect without sslQuorum or portUnification (or the AdminServer's HTTPS"
            ),
            "{off}: {:?}",
            l.warnings
        );
    }
}

// --- warnings for Java-only settings ----------------------------------------

#[test]
fn metrics_provider_keys_are_honoured_or_warned_about() {
    let l = ok(&format!(
        "{BASE}metricsProvider.className={PROMETHEUS_METRICS_PROVIDER}\n"
    ));
    assert!(l.config.metrics_export_jvm_info, "default true");
    assert!(l.warnings.is_empty(), "{:#?}", l.warnings);
    let l = ok(&format!(
        "{BASE}metricsProvider.exportJvmInfo=FALSE\nmetricsProvider.numWorkerThreads=4\n\
         metricsProvider.maxQueueSize=10\nmetricsProvider.workerShutdownTimeoutMs=5\n\
         metricsProvider.exportJvmInf=true\n"
    ));
    assert!(!l.config.metrics_export_jvm_info);
    assert_eq!(l.warnings.len(), 4, "{:#?}", l.warnings);
    for (line, key) in [
        (4, "numWorkerThreads"),
        (5, "maxQueueSize"),
        (6, "workerShutdownTimeoutMs"),
    ] {
        assert!(
            has_warning(
                &l,
                &format!("zoo.cfg line {line}: metricsProvider.{key}: sizes ZooKeeper's queue")
            ),
            "{key}: {:#?}",
            l.warnings
        );
    }
    assert!(has_warning(
        &l,
        "zoo.cfg line 7: metricsProvider.exportJvmInf: not a setting of ZooKeeper's PrometheusMetricsProvider"
    ));
    // Java's Boolean.parseBoolean: anything but "true" is false.
    let l = ok(&format!("{BASE}metricsProvider.exportJvmInfo=yes\n"));
    assert!(!l.config.metrics_export_jvm_info);
}

#[test]
fn java_only_settings_warn_once_each() {
    let text = format!(
        "{BASE}serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.keyStore.location=/k\nssl.keyStore.password=pw\nssl.quorum.keyStore.location=/q\n\
             admin.serverPort=9999\nmetricsProvider.className={PROMETHEUS_METRICS_PROVIDER}\n\
             metricsProvider.httpPort=7001\nsecureClientPort=2281\nsasl.clientconfig=Client\n"
    );
    let l = ok(&text);
    // admin.* and metricsProvider.* are served (no warning).
    assert_eq!(l.warnings.len(), 3, "{:#?}", l.warnings);
    assert!(l.warnings[0]
        .starts_with("zoo.cfg line 3: serverCnxnFactory: selects a Java implementation class"));
    assert!(has_warning(
        &l,
        "zoo.cfg line 6: ssl.quorum.keyStore.location: has no effect without sslQuorum or portUnification"
    ));
    assert!(has_warning(
        &l,
        "zoo.cfg line 11: sasl.clientconfig: a client's SASL setting"
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
    assert_eq!(c.client_tls.as_ref().unwrap().key_store.password, "pw");
}

#[test]
fn java_only_jvm_flags_warn() {
    let jvm = flags(&[
        ("zookeeper.sasl.client", "true"),
        ("zookeeper.ssl.quorum.keyStore.location", "/q"),
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
        "JVM flag -Dzookeeper.sasl.client: a client's SASL setting"
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
            "security.auth_to_local" => "DEFAULT",
            "quorum.auth.serverRequireSasl"
            | "quorum.auth.learnerRequireSasl"
            | "quorum.auth.enableSasl"
            | "sslQuorum"
            | "portUnification"
            | "sessionRequireClientSASLAuth"
            | "enforce.auth.enabled"
            | "fips-mode"
            | "netty.server.earlyDropSecureConnectionHandshakes"
            | "sslQuorumReloadCertFiles"
            | "client.portUnification" => "false",
            // Their defaults: any other value is refused (see
            // settings_corral_cannot_honour_are_refused_by_name).
            "reconfigEnabled" => "false",
            "closeSessionTxn.enabled" => "true",
            "observerMasterPort" => "0",
            "clientPortListenBacklog" | "tickTime" | "cnxTimeout" => "100",
            k if k.contains("Enabled")
                || k.contains("enable")
                || matches!(
                    k,
                    "quorumListenOnAllIPs"
                        | "jvm.pause.monitor"
                        | "syncEnabled"
                        | "standaloneEnabled"
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
    text.push_str("ssl.keyStore.location=/k.p12\n");
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
fn multi_address_servers_need_the_switch() {
    // QuorumPeerConfig: several `|`-separated addresses a server only with
    // multiAddress.enabled=true, as in ZooKeeper.
    let text = format!("{BASE}multiAddress.enabled=true\nserver.1=a:1:2|b:3:4\nserver.2=c:1:2\nserver.3=d:1:2\ninitLimit=5\nsyncLimit=2\n");
    let c = ok(&text).config;
    assert!(c.multi_address_enabled);
    let a: Vec<_> = c.servers[0].addresses().collect();
    assert_eq!(a, vec![("a", 1, 2), ("b", 3, 4)]);
    // The JVM flag turns it on too.
    let jvm = flags(&[("zookeeper.multiAddress.enabled", "true")]);
    let l = parse_str(&format!("{BASE}server.1=a:1:2|b:3:4\n"), "zoo.cfg", &jvm).unwrap();
    assert_eq!(l.config.servers[0].extra_addresses.len(), 1);
    let e = err(&format!("{BASE}server.1=a:1:2|b:3:4\n"));
    assert!(
        e.to_string().contains("needs multiAddress.enabled=true"),
        "{e}"
    );
    // Off, and one address a server: as ZooKeeper.
    let c = ok(&format!(
        "{BASE}multiAddress.enabled=false\nserver.1=a:1:2\n"
    ))
    .config;
    assert!(c.servers[0].extra_addresses.is_empty());
    // The reachability check has nothing to check without the switch...
    let l = ok(&format!(
        "{BASE}multiAddress.reachabilityCheckEnabled=false\n"
    ));
    assert!(has_warning(
        &l,
        "zoo.cfg line 3: multiAddress.reachabilityCheckEnabled: checks which of a server's several addresses"
    ));
    let l = ok_with(
        BASE,
        &flags(&[("zookeeper.multiAddress.reachabilityCheckTimeoutMs", "500")]),
    );
    assert!(has_warning(
        &l,
        "JVM flag -Dzookeeper.multiAddress.reachabilityCheckTimeoutMs: checks which"
    ));
    // ...and is honoured with it, whichever comes first.
    let l = ok(&format!(
        "{BASE}multiAddress.reachabilityCheckEnabled=false\nmultiAddress.reachabilityCheckTimeoutMs=300\nmultiAddress.enabled=true\n"
    ));
    assert!(
        !l.warnings.iter().any(|w| w.contains("reachability")),
        "{:?}",
        l.warnings
    );
    assert!(!l.config.multi_address_reachability_check_enabled);
    assert_eq!(l.config.multi_address_reachability_check_timeout_ms, 300);
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
    assert!(
        e.to_string().starts_with(
            "zoo.cfg line 10: extendedTypesEnabled: is true, so the server id must be at most 254"
        ),
        "{e}"
    );
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
        e.to_string()
            .starts_with("zoo.cfg line 7: server.1: must be in the separate dynamic config file"),
        "{e}"
    );
    let e = with_files(text, &[("/conf/zoo.cfg.dynamic.100000000", "version=1\n")]).unwrap_err();
    assert_eq!(e.line(), Some(1));
    let e = with_files(text, &[("/conf/zoo.cfg.dynamic.100000000", "tickTime=1\n")]).unwrap_err();
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

// --- docs/configuration.md: every key's treatment, walked ------------------

const CONFIGURATION_MD: &str = include_str!("../../docs/configuration.md");

/// A JAAS file with every section the table's rows name (DIGEST-MD5).
const TABLE_JAAS: &str = "\
Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_bob=\"b\"; };\n\
Other { org.apache.zookeeper.server.auth.DigestLoginModule required user_eve=\"e\"; };\n\
QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_zk=\"z\"; };\n\
QuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"zk\" password=\"z\"; };\n\
QS2 { org.apache.zookeeper.server.auth.DigestLoginModule required user_zk2=\"y\"; };\n\
QL2 { org.apache.zookeeper.server.auth.DigestLoginModule required username=\"zk2\" password=\"y\"; };\n";

const TABLE_BASE: &str =
    "tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
    server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n";

struct TableRow {
    key: String,
    treatment: String,
    /// `None`: checked by the tests of the named file.
    value: Option<String>,
    see: Option<String>,
    /// Extra zoo.cfg lines, and `-D` flags (`name=value`).
    lines: Vec<String>,
    flags: Vec<(String, String)>,
}

fn code_spans(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn table_rows() -> Vec<TableRow> {
    let mut rows = Vec::new();
    for line in CONFIGURATION_MD.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(
            cells.len() >= 3,
            "a table row needs key, treatment, checked with: {line}"
        );
        let key = code_spans(cells[0]).remove(0);
        let check = cells[2];
        let spans = code_spans(check);
        let mut row = TableRow {
            key,
            treatment: cells[1].to_string(),
            value: None,
            see: None,
            lines: Vec::new(),
            flags: Vec::new(),
        };
        if check.starts_with("see ") {
            row.see = spans.first().cloned();
        } else {
            let mut spans = spans.into_iter();
            row.value = spans.next();
            for s in spans {
                match s.strip_prefix("-D") {
                    Some(flag) => {
                        let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
                        row.flags.push((k.to_string(), v.to_string()));
                    }
                    None => row.lines.push(s),
                }
            }
        }
        rows.push(row);
    }
    rows
}

/// The key as corral's messages name it.
fn short_key(key: &str) -> &str {
    key.trim_start_matches("-D")
        .trim_start_matches("zookeeper.")
}

fn parse_row(row: &TableRow, with_key: bool) -> Result<Loaded, ConfigError> {
    // A base line for the row's key, or for a key its lines set, gives way.
    let own = |l: &str| {
        let k = l.split('=').next().unwrap_or_default();
        k == row.key || row.lines.iter().any(|x| x.split('=').next() == Some(k))
    };
    let mut text: String = TABLE_BASE
        .lines()
        .filter(|l| !own(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut jvm: BTreeMap<String, String> = row.flags.iter().cloned().collect();
    for l in &row.lines {
        text.push_str(l);
        text.push('\n');
    }
    if with_key {
        let value = row.value.clone().unwrap_or_default();
        match row.key.strip_prefix("-D") {
            Some(flag) => {
                jvm.insert(flag.to_string(), value);
            }
            None => text.push_str(&format!("{}={value}\n", row.key)),
        }
    }
    let files = [
        ("/j.jaas", TABLE_JAAS),
        ("/x.pw", "secret\n"),
        ("/tmp/zk/myid", "1\n"),
        ("/tmp/other/myid", "1\n"),
    ];
    with_files_flags(&text, &files, &jvm)
}

#[test]
fn configuration_md_every_key_behaves_as_its_row_says() {
    let rows = table_rows();
    assert!(rows.len() > 250, "only {} rows", rows.len());
    let settings = |l: &Loaded| {
        let mut c = l.config.clone();
        let ops = crate::ops::OpsSettings::from_properties(&c.properties).ok();
        c.properties.clear();
        (c, ops)
    };
    let mut wrong = Vec::new();
    for row in &rows {
        let short = short_key(&row.key);
        let names = |s: &str| s.contains(short);
        if let Some(file) = &row.see {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) if text.contains(short) => {}
                Ok(_) => wrong.push(format!("{}: {file} does not name it", row.key)),
                Err(e) => wrong.push(format!("{}: {file}: {e}", row.key)),
            }
            continue;
        }
        let got = parse_row(row, true);
        let verdict = match (row.treatment.as_str(), &got) {
            ("refused", Err(e)) if names(&e.to_string()) => None,
            ("refused", Err(e)) => Some(format!("refused, but the error does not name it: {e}")),
            ("refused", Ok(_)) => Some("should be refused, but corral starts".to_string()),
            (_, Err(e)) => Some(format!("should start, but: {e}")),
            ("warned" | "accepted", Ok(l)) => (!l.warnings.iter().any(|w| names(w)))
                .then(|| format!("no warning names it ({:?})", l.warnings)),
            ("honoured", Ok(l)) => {
                if let Some(w) = l.warnings.iter().find(|w| names(w)) {
                    Some(format!("honoured, but warned: {w}"))
                } else {
                    match parse_row(row, false) {
                        Ok(base) if settings(&base) == settings(l) => {
                            Some("honoured, but the settings do not change".to_string())
                        }
                        _ => None,
                    }
                }
            }
            (t, _) => Some(format!("{t:?} is not a treatment")),
        };
        if let Some(v) = verdict {
            wrong.push(format!("{} = {:?}: {v}", row.key, row.value));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows of docs/configuration.md are not true:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn configuration_md_lists_every_key_the_parser_knows() {
    let rows = table_rows();
    let listed: BTreeSet<&str> = rows.iter().map(|r| short_key(&r.key)).collect();
    let known = QPC_KEYS
        .iter()
        .chain(PROPERTY_KEYS.iter())
        .chain(JVM_ONLY_PROPERTIES.iter())
        .chain(crate::ops::CORRAL_KEYS.iter());
    let missing: Vec<&&str> = known.filter(|k| !listed.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md: {missing:?}"
    );
}

#[test]
fn audit_keys() {
    let base = "dataDir=/tmp/z\nclientPort=2181\n";
    let l = ok(&format!("{base}audit.enable=true\n"));
    assert!(l.config.audit_enable);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert!(!ok(base).config.audit_enable);
    let l = ok(&format!(
        "{base}audit.enable=true\naudit.impl.class=org.apache.zookeeper.audit.Slf4jAuditLogger\n"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let l = ok(&format!(
        "{base}audit.impl.class=org.apache.zookeeper.audit.Log4jAuditLogger\n"
    ));
    assert!(
        has_warning(&l, "audit.impl.class") && has_warning(&l, "corral::audit"),
        "{:?}",
        l.warnings
    );
}

#[test]
fn connection_throttle_keys_as_zookeeper_spells_them() {
    let base = "dataDir=/tmp/z\nclientPort=2181\n";
    let l = ok(&format!(
        "{base}connection_throttle_tokens=100\nconnection_throttle_fill_time=10\n\
         connection_throttle_fill_count=5\nconnection_throttle_freeze_time=50\n\
         connection_throttle_drop_increase=0.1\nconnection_throttle_drop_decrease=0.01\n\
         connection_throttle_decrease_ratio=0.5\n"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let t = &l.config.connection_throttle;
    assert_eq!(
        (t.max_tokens, t.fill_time, t.fill_count, t.freeze_time),
        (100, 10, 5, 50)
    );
    assert_eq!(
        (t.drop_increase, t.drop_decrease, t.decrease_ratio),
        (0.1, 0.01, 0.5)
    );
    // Weighed: the tokens and the fill count are for global sessions.
    let jvm = flags(&[
        ("zookeeper.connection_throttle_tokens", "10"),
        ("zookeeper.connection_throttle_weight_enabled", "true"),
        ("zookeeper.connection_throttle_global_session_weight", "4"),
    ]);
    let t = ok_with(base, &jvm).config.connection_throttle;
    assert_eq!((t.max_tokens, t.fill_count, t.global_weight), (40, 4, 4));
    // Weights out of bounds: replaced as ZooKeeper replaces them, warned.
    let l = ok(&format!(
        "{base}connection_throttle_global_session_weight=0\n\
         connection_throttle_renew_session_weight=1\nconnection_throttle_local_session_weight=2\n"
    ));
    let t = &l.config.connection_throttle;
    assert_eq!((t.global_weight, t.local_weight, t.renew_weight), (3, 2, 2));
    assert!(
        has_warning(&l, "connection_throttle_global_session_weight")
            && has_warning(&l, "connection_throttle_renew_session_weight"),
        "{:?}",
        l.warnings
    );
    // The admin guide's names: ZooKeeper reads none of them; warned, ignored.
    let l = ok(&format!("{base}connectionMaxTokens=5\n"));
    assert!(
        has_warning(&l, "connectionMaxTokens") && has_warning(&l, "connection_throttle_tokens"),
        "{:?}",
        l.warnings
    );
    assert_eq!(l.config.connection_throttle.max_tokens, 0);
    // Values ZooKeeper would choke on are refused, naming the key.
    for bad in [
        "connection_throttle_fill_time=0",
        "connection_throttle_tokens=-1",
        "connection_throttle_drop_increase=lots",
    ] {
        let e = err(&format!("{base}{bad}\n")).to_string();
        let key = bad.split('=').next().unwrap_or_default();
        assert!(e.contains(key), "{bad}: {e}");
    }
}

#[test]
fn request_throttle_keys_under_the_names_zookeeper_reads() {
    let t = ok(BASE).config.throttles;
    assert_eq!(t, Throttles::default());
    assert_eq!((t.max_requests, t.stall_ms, t.drop_stale), (0, 100, true));
    assert_eq!(t.large_request_max_bytes, 100 * 1024 * 1024);
    assert_eq!(t.large_request_threshold, None);
    // zoo.cfg keys become zookeeper.<key>: the underscore names work.
    let l = ok(&format!(
        "{BASE}request_throttle_max_requests=7\nrequest_throttle_stall_time=9\n\
         request_throttle_drop_stale=false\nrequest_stale_latency_check=true\n\
         throttled_op_wait_time=11\nlargeRequestThreshold=2048\nlargeRequestMaxBytes=4096\n"
    ));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let t = l.config.throttles;
    assert_eq!(t.max_requests, 7);
    assert_eq!(t.stall_ms, 9);
    assert!(!t.drop_stale);
    assert!(t.stale_latency_check);
    assert!(t.stale_connection_check);
    assert_eq!(t.throttled_op_wait_ms, 11);
    assert_eq!(t.large_request_threshold, Some(2048));
    assert_eq!(t.large_request_max_bytes, 4096);
    // And as -D flags.
    let jvm = flags(&[("zookeeper.request_throttle_max_requests", "3")]);
    assert_eq!(ok_with(BASE, &jvm).config.throttles.max_requests, 3);
}

#[test]
fn request_throttle_keys_zookeeper_ignores_are_warned_about() {
    // The admin guide's names: no ZooKeeper code reads them.
    let l = ok(&format!(
        "{BASE}requestThrottleLimit=5\nthrottledOpWaitTime=5\nrequest_throttler.shutdownTimeout=5\n"
    ));
    assert_eq!(l.config.throttles, Throttles::default());
    assert!(has_warning(&l, "requestThrottleLimit: ZooKeeper 3.8 reads this setting only as zookeeper.request_throttle_max_requests"));
    assert!(has_warning(&l, "throttledOpWaitTime: ZooKeeper 3.8 reads this setting only as zookeeper.throttled_op_wait_time"));
    assert!(has_warning(
        &l,
        "request_throttler.shutdownTimeout: corral has no throttler queue"
    ));
    // setLargeRequestThreshold / setLargeRequestMaxBytes' corrections.
    let l = ok(&format!(
        "{BASE}largeRequestThreshold=0\nlargeRequestMaxBytes=-1\n"
    ));
    assert_eq!(l.config.throttles, Throttles::default());
    assert!(has_warning(
        &l,
        "largeRequestThreshold: 0 is neither -1 nor positive"
    ));
    assert!(has_warning(&l, "largeRequestMaxBytes: -1 is not positive"));
    let l = ok(&format!("{BASE}request_stale_connection_check=true\n"));
    assert!(has_warning(
        &l,
        "request_stale_connection_check: corral reads nothing"
    ));
}

#[test]
fn commit_log_count_below_zookeepers_floor_is_raised_to_it() {
    let l = ok(&format!("{BASE}commitLogCount=100\n"));
    assert_eq!(l.config.commit_log_count, 500);
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("commitLogCount") && w.contains("using 500")),
        "{:?}",
        l.warnings
    );
    let l = ok(&format!("{BASE}commitLogCount=2000\n"));
    assert_eq!(l.config.commit_log_count, 2000);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn oracle_path_is_refused_by_name() {
    let e = err(&format!("{BASE}oraclePath=/tmp/oracle\n")).to_string();
    assert!(e.contains("oraclePath") && e.contains("two-server"), "{e}");
}

#[test]
fn quorum_packets_may_hold_jute_maxbuffer_plus_its_extra_size() {
    // BinaryInputArchive: the extra size defaults to jute.maxbuffer, and
    // is at least 1024.
    let c = ok(BASE).config;
    assert_eq!(c.quorum_max_buffer(), 2 * 0xfffff);
    let c = ok(&format!("{BASE}jute.maxbuffer.extrasize=4096\n")).config;
    assert_eq!(c.quorum_max_buffer(), 0xfffff + 4096);
    let c = ok(&format!("{BASE}jute.maxbuffer.extrasize=10\n")).config;
    assert_eq!(c.quorum_max_buffer(), 0xfffff + 1024);
}

#[test]
fn sync_bounds_must_be_positive_as_zookeepers_throttler_requires() {
    let c = ok(&format!(
        "{BASE}leader.maxConcurrentSnapSyncs=3\nleader.maxConcurrentDiffSyncs=4\n"
    ))
    .config;
    assert_eq!(
        (c.max_concurrent_snap_syncs, c.max_concurrent_diff_syncs),
        (3, 4)
    );
    for bad in [
        "leader.maxConcurrentSnapSyncs=0",
        "leader.maxConcurrentDiffSyncs=-1",
    ] {
        let e = err(&format!("{BASE}{bad}\n")).to_string();
        let key = bad.split('=').next().unwrap_or_default();
        assert!(e.contains(key), "{bad}: {e}");
    }
}
