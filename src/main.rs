//! The `corral` binary: parse the command line and the config, then serve.

use clap::Parser;
use corral::config::{self, Config};
use corral::ops::{LogFormat, OpsSettings, Stop};
use corral::server::{self, Settings};
use corral::storage::snapshot::Compression;
use shards::coremap::CoreMap;
use std::process::ExitCode;

/// mimalloc in place of glibc's malloc: the sequencer allocates and frees
/// a few small buffers per txn (request bytes, tree nodes, replies), and
/// glibc's malloc/free were a fifth of its CPU in an ensemble's setData
/// profile (perf/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A ZooKeeper-compatible server.
#[derive(Parser, Debug)]
#[command(
    name = "corral",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// A ZooKeeper zoo.cfg (as QuorumPeerMain takes it).
    config_file: Option<std::path::PathBuf>,
    /// The same, as a flag.
    #[arg(long = "config", short = 'c')]
    config: Option<std::path::PathBuf>,
    /// A core-map file (see tuning/); default: chosen from the CPUs.
    #[arg(long)]
    core_map: Option<std::path::PathBuf>,
    /// Log format: text or json (one JSON object a line); default: the
    /// `corral.logFormat` property, else text. RUST_LOG filters (default info).
    #[arg(long, value_parser = parse_log_format)]
    log_format: Option<LogFormat>,
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    s.parse().map_err(|e: corral::ops::OpsError| e.to_string())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.init(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_thread_names(true)
            .init(),
    }
}

/// Operator tools, run instead of the server.
#[derive(clap::Subcommand, Debug)]
enum Tool {
    /// Keep the newest N snapshots and the logs they need (zkCleanup.sh).
    Purge {
        data_dir: std::path::PathBuf,
        data_log_dir: Option<std::path::PathBuf>,
        /// Snapshots to keep (at least 3).
        #[arg(short = 'n', long = "count", default_value_t = 3)]
        count: usize,
    },
    /// Print a txn log file (ZooKeeper's TxnLogToolkit); with -r, repair
    /// its bad checksums into `<file>.fixed`.
    LogDump {
        file: std::path::PathBuf,
        /// Recovery mode: recompute the checksum of broken entries, asking
        /// for each (Yes/No/Abort) unless -y, and write `<file>.fixed`.
        #[arg(short = 'r', long = "recover")]
        recover: bool,
        /// With -r: repair every checksum error without asking.
        #[arg(short = 'y', long = "yes", requires = "recover")]
        yes: bool,
        /// With -r: print every entry, not only the broken ones.
        #[arg(short = 'v', long = "verbose", requires = "recover")]
        verbose: bool,
        /// Chop mode: write `<file>.chopped<zxid>` with the records up to
        /// the zxid given by -z.
        #[arg(
            short = 'c',
            long = "chop",
            requires = "zxid",
            conflicts_with = "recover"
        )]
        chop: bool,
        /// With -c: the zxid to chop at (decimal, or hex with 0x).
        #[arg(short = 'z', long = "zxid", requires = "chop", value_parser = parse_zxid)]
        zxid: Option<i64>,
    },
    /// Print a snapshot file (ZooKeeper's SnapshotFormatter).
    SnapDump { file: std::path::PathBuf },
}

fn run_tool(tool: Tool) -> Result<(), String> {
    match tool {
        Tool::Purge {
            data_dir,
            data_log_dir,
            count,
        } => {
            if count < 3 {
                return Err(format!("-n {count}: at least 3 snapshots must be kept"));
            }
            let log_dir = data_log_dir.unwrap_or_else(|| data_dir.clone());
            let dirs =
                corral::storage::Dirs::open(&data_dir, &log_dir).map_err(|e| e.to_string())?;
            let p = corral::storage::purge(&dirs, count).map_err(|e| e.to_string())?;
            for f in p.snapshots.iter().chain(&p.logs) {
                println!("removed {}", f.display());
            }
            Ok(())
        }
        Tool::LogDump {
            file,
            recover: true,
            yes,
            verbose,
            ..
        } => recover_log(&file, yes, verbose),
        Tool::LogDump {
            file,
            zxid: Some(zxid),
            ..
        } => chop_log(&file, zxid),
        Tool::LogDump { file, .. } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let log = corral::storage::txnlog::read_log(&bytes)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            print!("{}", corral::ops::tools::format_log(&log));
            if !log.tail.is_clean() {
                let after = log.records.last().map_or(0, |r| r.txn.hdr.zxid);
                let b = corral::storage::txnlog::records_beyond(
                    &bytes,
                    log.valid_end as usize + 1,
                    after,
                );
                print!("{}", corral::ops::tools::format_beyond(&b));
            }
            Ok(())
        }
        Tool::SnapDump { file } => {
            let snap = corral::storage::snapshot::read_snapshot_file(&file)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            print!("{}", corral::ops::tools::format_snapshot(&snap));
            Ok(())
        }
    }
}

/// `corral log-dump -r`: TxnLogToolkit's recovery mode. The repaired log
/// goes to `<file>.fixed` (never over the original: the operator moves it
/// into place, as with ZooKeeper).
fn recover_log(file: &std::path::Path, yes: bool, verbose: bool) -> Result<(), String> {
    use std::io::{BufRead, Write};
    let shown = file.display().to_string();
    let fixed = std::path::PathBuf::from(format!("{shown}.fixed"));
    if fixed.exists() {
        return Err(format!(
            "Recovery file {} already exists or not writable",
            fixed.display()
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{shown}: {e}"))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let mut out = String::new();
    let mut stdin = std::io::stdin().lock();
    let r = corral::ops::tools::recover_log(&name, &bytes, yes, verbose, &mut out, |out| {
        use corral::ops::tools::Answer;
        print!("{out}");
        out.clear();
        loop {
            print!("Would you like to fix it (Yes/No/Abort) ? ");
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => return Answer::Abort,
                Ok(_) => {}
            }
            match line
                .trim_start()
                .chars()
                .next()
                .map(|c| c.to_ascii_uppercase())
            {
                Some('Y') => return Answer::Yes,
                Some('N') => return Answer::No,
                Some('A') => return Answer::Abort,
                _ => {}
            }
        }
    });
    print!("{out}");
    let r = r.map_err(|e| e.to_string())?;
    write_new_file(&fixed, &r.fixed_log)?;
    println!(
        "Recovery file {} has been written with {} fixed CRC error(s)",
        fixed.display(),
        r.crc_fixed
    );
    Ok(())
}

/// Writes `bytes` to a file that must not exist yet (a repair never
/// overwrites), and syncs it.
fn write_new_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

/// A zxid as Java's `Long.decode` reads it: decimal, or hex after 0x.
fn parse_zxid(s: &str) -> Result<i64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s}: {e}"))
}

/// `corral log-dump -c -z <zxid>`: TxnLogToolkit's chop mode, into
/// `<file>.chopped<zxid>`.
fn chop_log(file: &std::path::Path, zxid: i64) -> Result<(), String> {
    let shown = file.display().to_string();
    let target = std::path::PathBuf::from(format!("{shown}.chopped{zxid}"));
    let bytes = std::fs::read(file).map_err(|e| format!("{shown}: {e}"))?;
    let mut out = String::new();
    let r = corral::ops::tools::chop_log(&shown, &bytes, zxid, &mut out);
    print!("{out}");
    let chopped = r.map_err(|e| e.to_string())?;
    write_new_file(&target, &chopped)
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let result = match cli.tool.take() {
        Some(tool) => {
            init_logging(cli.log_format.unwrap_or_default());
            run_tool(tool)
        }
        None => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("corral: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let core_map = match &cli.core_map {
        Some(p) => CoreMap::load(p, cpus).map_err(|e| e.to_string())?,
        None => CoreMap::detect(),
    };
    let mut flags = String::new();
    for var in ["SERVER_JVMFLAGS", "JVMFLAGS"] {
        if let Ok(v) = std::env::var(var) {
            flags.push(' ');
            flags.push_str(&v);
        }
    }
    let jvm = config::parse_jvm_flags(&flags);
    let path = cli.config_file.or(cli.config);
    let loaded = match &path {
        Some(path) => config::load(path, &jvm),
        None => config::load_builtin(&jvm),
    }
    .map_err(|e| e.to_string())?;
    let ops = OpsSettings::from_properties(&loaded.config.properties).map_err(|e| e.to_string())?;
    init_logging(cli.log_format.unwrap_or(ops.log_format));
    // ZooKeeper's `initial_configuration`: the file as it was read.
    let initial_config = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let c = loaded.config;
    kerberos_acceptor(&c)?;
    let quorum = if c.is_distributed() {
        // QuorumPeerConfig.backupOldConfig: with reconfig on and the
        // members still in zoo.cfg, a copy is kept as zoo.cfg.bak before
        // the first reconfig rewrites it.
        if let (true, None, Some(p)) = (c.reconfig_enabled, &c.dynamic_config_file, &path) {
            let bak = std::path::PathBuf::from(format!("{}.bak", p.display()));
            let tmp = std::path::PathBuf::from(format!("{}.bak.tmp", p.display()));
            std::fs::copy(p, &tmp)
                .and_then(|_| std::fs::rename(&tmp, &bak))
                .map_err(|e| format!("cannot back up {} to {}: {e}", p.display(), bak.display()))?;
        }
        Some(quorum_settings(&c, path.as_deref())?)
    } else {
        None
    };
    if !c.datadir_autocreate {
        // FileTxnSnapLog: the version-2 directories must already be there.
        for dir in [&c.data_dir, c.data_log_dir.as_ref().unwrap_or(&c.data_dir)] {
            let v2 = dir.join("version-2");
            if !v2.is_dir() {
                return Err(format!(
                    "Missing data directory {}, automatic data directory creation is disabled \
                     (zookeeper.datadir.autocreate is false). Please create this directory manually.",
                    v2.display()
                ));
            }
        }
    }
    std::fs::create_dir_all(&c.data_dir)
        .map_err(|e| format!("cannot create dataDir {}: {e}", c.data_dir.display()))?;
    let stop = Stop::new();
    corral::ops::install_signal_handlers(stop.clone(), ops.shutdown_timeout)
        .map_err(|e| format!("cannot install the SIGTERM/SIGINT handlers: {e}"))?;
    let settings = Settings {
        ops,
        stop,
        quorum,
        initial_config,
        client_tls: client_tls(&c)?,
        ..settings_from(&c, core_map)
    };
    let settings = Settings {
        admin: admin_https(&c, settings.admin.clone())?,
        ..settings
    };
    let audit = settings.audit;
    server::run(settings).map_err(|e| {
        if audit {
            use corral::protocol::audit;
            audit::emit(&audit::server_event(
                audit::OP_START,
                audit::Outcome::Failure,
            ));
        }
        e.to_string()
    })
}

/// What the `conf` four-letter word prints for a standalone server, in
/// ZooKeeper's `dumpConf` order. The sizes are measured when asked.
fn conf_lines(c: &Config) -> Vec<(String, String)> {
    let snap_dir = |d: &std::path::Path| {
        std::path::absolute(d)
            .unwrap_or_else(|_| d.to_path_buf())
            .join("version-2")
            .display()
            .to_string()
    };
    let lines = [
        ("clientPort", c.client_port.to_string()),
        (
            "secureClientPort",
            c.secure_client_port.map_or(-1, i64::from).to_string(),
        ),
        ("dataDir", snap_dir(&c.data_dir)),
        ("dataDirSize", String::new()),
        ("dataLogDir", snap_dir(c.txn_log_dir())),
        ("dataLogSize", String::new()),
        ("tickTime", c.tick_time.to_string()),
        ("maxClientCnxns", c.max_client_cnxns.to_string()),
        ("minSessionTimeout", c.min_session_timeout.to_string()),
        ("maxSessionTimeout", c.max_session_timeout.to_string()),
        (
            "clientPortListenBacklog",
            c.client_port_listen_backlog
                .map_or(-1, i64::from)
                .to_string(),
        ),
        // A standalone ZooKeeperServer reports server id 0.
        (
            "serverId",
            match (c.is_distributed(), c.server_id) {
                (true, Some(id)) => id.to_string(),
                _ => "0".to_string(),
            },
        ),
    ];
    let mut lines: Vec<(String, String)> =
        lines.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    // QuorumZooKeeperServer.dumpConf adds the quorum's lines; the shard
    // adds `membership:` and the active config.
    if let Some(me) = c.my_server().filter(|_| c.is_distributed()) {
        let observer = me.role == corral::config::PeerType::Observer;
        lines.extend([
            ("initLimit".to_string(), c.init_limit.to_string()),
            ("syncLimit".to_string(), c.sync_limit.to_string()),
            ("electionAlg".to_string(), "3".to_string()),
            ("electionPort".to_string(), me.election_port.to_string()),
            ("quorumPort".to_string(), me.quorum_port.to_string()),
            ("peerType".to_string(), u8::from(observer).to_string()),
        ]);
    }
    lines
}

/// The server's settings from the config; `ops` and `stop` are defaults
/// that `run` replaces.
/// The quorum peer's settings from a distributed config (QuorumPeerConfig).
fn quorum_settings(
    c: &Config,
    config_file: Option<&std::path::Path>,
) -> Result<corral::server::quorum_peer::QuorumSettings, String> {
    use corral::quorum::election;
    use corral::quorum::{Quorum, Sid};
    let me = c
        .my_server()
        .ok_or("this server's myid is not one of the server.N lines")?;
    let sid = me.id as Sid;
    let resolve = |host: &str, port: u16| -> Result<std::net::SocketAddr, String> {
        use std::net::ToSocketAddrs;
        (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host}:{port} resolves to nothing"))
    };
    // Every address of this server's line is listened on (several with
    // multiAddress), each port once on all interfaces with
    // quorumListenOnAllIPs.
    let listen =
        |port_of: fn((&str, u16, u16)) -> u16| -> Result<Vec<std::net::SocketAddr>, String> {
            let mut out: Vec<std::net::SocketAddr> = Vec::new();
            for a in me.addresses() {
                let sa = if c.quorum_listen_on_all_ips {
                    std::net::SocketAddr::from(([0, 0, 0, 0], port_of(a)))
                } else {
                    resolve(a.0, port_of(a))?
                };
                if !out.contains(&sa) {
                    out.push(sa);
                }
            }
            Ok(out)
        };
    // A follower's observer master port: on each of its quorum hosts (all
    // interfaces with quorumListenOnAllIPs), as ObserverMaster.start.
    let listen_at = |port: u16| {
        listen(|_| 0).map(|v| {
            v.into_iter()
                .map(|mut a| {
                    a.set_port(port);
                    a
                })
                .collect::<Vec<_>>()
        })
    };
    let reach_check =
        (c.multi_address_enabled && c.multi_address_reachability_check_enabled).then(|| {
            std::time::Duration::from_millis(u64::from(
                c.multi_address_reachability_check_timeout_ms,
            ))
        });
    let mut quorum = Quorum::from_servers(&c.servers);
    if !c.quorum_groups.is_empty() {
        let weights = c
            .quorum_weights
            .iter()
            .map(|(k, v)| (*k as Sid, *v))
            .collect();
        let groups: Vec<(u64, Vec<Sid>)> = c
            .quorum_groups
            .iter()
            .map(|(g, m)| (*g, m.iter().map(|s| *s as Sid).collect()))
            .collect();
        quorum = quorum.with_hierarchy(corral::quorum::Hierarchy::new(&groups, &weights));
    }
    let config =
        election::wire::quorum_config_string(&c.servers, quorum.hierarchy(), c.config_version);
    // NEWLEADER's config: the same text without its version line.
    let config_servers = config
        .lines()
        .filter(|l| !l.starts_with("version="))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(corral::server::quorum_peer::QuorumSettings {
        me: sid,
        quorum,
        observer: me.role == corral::config::PeerType::Observer,
        quorum_addrs: corral::quorum::reconfig::quorum_addrs(&c.servers),
        quorum_listen: listen(|(_, q, _)| q)?,
        reach_check,
        multi_address: c.multi_address_enabled,
        peers: corral::server::peers::PeerSettings {
            me: sid,
            listen: listen(|(_, _, e)| e)?,
            peers: corral::quorum::reconfig::election_addrs(&c.servers, sid),
            reach_check,
            cnx_timeout: std::time::Duration::from_millis(c.cnx_timeout_ms as u64),
            quorum_cnxn_timeout: c
                .quorum_cnxn_timeout_ms
                .map(|ms| std::time::Duration::from_millis(u64::from(ms))),
            bind_retry: c.election_port_bind_retry,
            max_connections: c.quorum_max_connections as usize,
            keep_alive: c.tcp_keep_alive,
            // ZooKeeper sends V2, with every address, only with
            // multiAddress on: older servers read V1 alone (ZOOKEEPER-3720).
            initial: election::wire::InitialMessage {
                protocol: if c.multi_address_enabled {
                    election::wire::Protocol::V2
                } else {
                    election::wire::Protocol::V1
                },
                sid,
                addresses: me
                    .addresses()
                    .map(|(host, _, port)| election::wire::ElectionAddress {
                        host: host.to_string(),
                        port,
                    })
                    .collect(),
            }
            .encode(),
        },
        election: election::ElectionSettings {
            min_notification_interval_ms: c.fastleader_min_notification_interval_ms,
            max_notification_interval_ms: c.fastleader_max_notification_interval_ms,
            ..election::ElectionSettings::default()
        },
        config: config.into_bytes(),
        config_servers,
        tick_ms: c.tick_time as u64,
        init_limit: c.init_limit,
        sync_limit: c.sync_limit,
        connect_limit: c.connect_to_learner_master_limit,
        max_buffer: c.quorum_max_buffer(),
        commit_log_count: c.commit_log_count,
        leader_connect_retry_ms: c.leader_connect_delay_during_retry_ms,
        sync_bounds: corral::quorum::zab::sync::SyncBounds {
            snap: c.max_concurrent_snap_syncs,
            diff: c.max_concurrent_diff_syncs,
        },
        // Only the JVM flag, as in ZooKeeper (`-Dreadonlymode.enabled=true`
        // in SERVER_JVMFLAGS, read with Boolean.getBoolean: "true" in any
        // case); the config warns about it in zoo.cfg.
        read_only_mode: c.readonly_mode_enabled,
        snapshot_size_factor: c.snapshot_size_factor,
        reconfig_enabled: c.reconfig_enabled,
        standalone_enabled: c.standalone_enabled,
        sync_enabled: c.sync_enabled,
        observer_master_port: c.observer_master_port,
        observer_master_listen: match c.observer_master_port {
            Some(port) => listen_at(port)?,
            None => Vec::new(),
        },
        config_file: config_file.map(std::path::Path::to_path_buf),
        tls: quorum_tls(c)?,
        sasl: c.quorum_sasl.clone(),
    })
}

/// The links between servers' TLS: the `ssl.quorum.*` stores are read
/// and checked here, so that a bad one stops the start with its key named.
fn quorum_tls(c: &Config) -> Result<Option<corral::server::quorum_tls::PeerTlsSettings>, String> {
    let Some(q) = c.quorum_tls.clone() else {
        return Ok(None);
    };
    let built = corral::security::tls::PeerTls::load(&q.settings).map_err(|e| e.to_string())?;
    Ok(Some(corral::server::quorum_tls::PeerTlsSettings {
        quorum: q,
        built: std::sync::Arc::new(built),
    }))
}

fn settings_from(c: &Config, core_map: CoreMap) -> Settings {
    let mut whitelist: Vec<String> = c.four_lw_whitelist.iter().cloned().collect();
    whitelist.sort();
    Settings {
        client_addr: c.client_address(),
        core_map,
        tick_ms: c.tick_time as i64,
        min_session_timeout: c.min_session_timeout as i32,
        max_session_timeout: c.max_session_timeout as i32,
        max_client_cnxns: c.max_client_cnxns,
        max_cnxns: c.max_cnxns,
        client_tcp_keep_alive: c.client_tcp_keep_alive,
        global_outstanding_limit: c.global_outstanding_limit as usize,
        request_throttle: corral::replica::throttle::RequestThrottle {
            max_requests: c.throttles.max_requests as usize,
            stall_ms: u64::from(c.throttles.stall_ms),
            drop_stale: c.throttles.drop_stale,
            stale_connection_check: c.throttles.stale_connection_check,
            stale_latency_check: c.throttles.stale_latency_check,
            throttled_op_wait_ms: u64::from(c.throttles.throttled_op_wait_ms),
        },
        large_request_max_bytes: u64::from(c.throttles.large_request_max_bytes),
        large_request_threshold: c.throttles.large_request_threshold.map(u64::from),
        jute_max_buffer: c.jute_maxbuffer as usize,
        sessionless_timeout_ms: c.sessionless_cnxn_timeout_ms as u64,
        policy: corral::data::acl::AclPolicy {
            skip: c.skip_acl,
            super_digest: c.super_digest.clone(),
            x509: c.client_tls.is_some(),
            x509_super_user: c.x509_super_user.clone(),
            sasl: c.sasl.provider,
            let_any_sasl_user_do_x: c.sasl.let_any_do_x.clone(),
            digest_disabled: !c.digest_auth_enabled,
        },
        eager_acl_check: c.enable_eager_acl_check,
        extended_types: c.extended_types_enabled,
        enforce_quota: c.enforce_quota,
        leader_serves: c.leader_serves,
        reconfig_enabled: c.reconfig_enabled,
        audit: c.audit_enable,
        connection_throttle: c.connection_throttle.clone(),
        local_sessions: c.local_sessions_enabled,
        local_sessions_upgrading: c.local_sessions_upgrading_enabled,
        container_check_interval_ms: c.container_check_interval_ms as i64,
        container_max_per_minute: c.container_max_per_minute,
        container_max_never_used_interval_ms: i64::try_from(c.container_max_never_used_interval_ms)
            .unwrap_or(i64::MAX),
        four_lw_whitelist: whitelist,
        conf_lines: conf_lines(c),
        data_dir: c.data_dir.display().to_string(),
        data_log_dir: c.txn_log_dir().display().to_string(),
        log: corral::server::log::LogSettings {
            force_sync: c.force_sync,
            prealloc: c.pre_alloc_size_kb * 1024,
            fsync_warn_ms: c.fsync_warning_threshold_ms,
            snap_count: c.snap_count as u64,
            snap_size_limit: c.snap_size_limit_in_kb.unwrap_or(0) * 1024,
            compression: match c.snapshot_compression_method {
                config::SnapshotCompression::None => Compression::None,
                config::SnapshotCompression::Gzip => Compression::Gzip,
                config::SnapshotCompression::Snappy => Compression::Snappy,
            },
            retain: c.autopurge_snap_retain_count as usize,
            purge_interval_hours: c.autopurge_purge_interval as u64,
            digest: c.digest_enabled,
        },
        snapshot_trust_empty: c.snapshot_trust_empty,
        ops: OpsSettings::default(),
        stop: Stop::new(),
        quorum: None,
        admin: c.admin_enable_server.then(|| corral::admin::AdminSettings {
            addr: std::net::SocketAddr::new(c.admin_server_address, c.admin_server_port),
            command_url: c.admin_command_url.clone(),
            https: None,
            backup: corral::admin::backup::BackupSettings {
                snapshot_enabled: c.admin_snapshot_enabled,
                restore_enabled: c.admin_restore_enabled,
                rate_interval_ms: c.admin_rate_limiter_interval_ms,
                serialize_last_processed_zxid: c.serialize_last_processed_zxid,
                restore_max_bytes: usize::try_from(c.admin_restore_max_bytes).unwrap_or(usize::MAX),
            },
        }),
        http_limits: corral::admin::http::Limits {
            // Jetty: 0 is no idle timeout; the request deadline still holds.
            idle: std::time::Duration::from_millis(u64::from(if c.admin_idle_timeout_ms == 0 {
                c.admin_request_timeout_ms
            } else {
                c.admin_idle_timeout_ms
            })),
            request: std::time::Duration::from_millis(u64::from(c.admin_request_timeout_ms)),
            max_conns: c.admin_max_connections as usize,
        },
        admin_show_session_ids: c.admin_show_session_ids,
        metrics_addr: c
            .metrics_prometheus_enabled()
            .then(|| std::net::SocketAddr::new(c.metrics_http_host, c.metrics_http_port)),
        metrics_process: c.metrics_export_jvm_info,
        initial_config: String::new(),
        properties: c
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        client_tls: None,
        sasl: c.sasl.clone(),
    }
}

/// JAAS `Krb5LoginModule` sections: points the GSS-API library at the
/// Kerberos configuration (`-Djava.security.krb5.conf`, as `KRB5_CONFIG`)
/// and checks every keytab, so that a bad one stops the start: the client
/// port's acceptor (the process-wide acceptor keytab), and between
/// servers the `QuorumServer` acceptor (a keytab of its own, so it may
/// differ from the client port's) and the `QuorumLearner` initiator (which
/// asks the KDC for a ticket, as the JDK's login does at start). Runs
/// before any other thread exists.
fn kerberos_acceptor(c: &Config) -> Result<(), String> {
    use corral::security::quorum_auth::{LearnerLogin, ServerLogin};
    use corral::security::sasl::Mechanism;
    let client = match c.sasl.server.as_ref().map(|s| &s.mechanism) {
        Some(Mechanism::Kerberos { keytab, principal }) => Some((keytab, principal)),
        _ => None,
    };
    let q = c.quorum_sasl.as_ref();
    let quorum_server = match q.map(|q| &q.server) {
        Some(ServerLogin::Kerberos(k)) => Some(k),
        _ => None,
    };
    let quorum_learner = match q.and_then(|q| q.learner.as_ref()) {
        Some(LearnerLogin::Kerberos(k)) => Some(k),
        _ => None,
    };
    if client.is_none() && quorum_server.is_none() && quorum_learner.is_none() {
        return Ok(());
    }
    if let Some(conf) = c.property("java.security.krb5.conf") {
        std::env::set_var("KRB5_CONFIG", conf);
    }
    const JAAS: &str = "java.security.auth.login.config";
    if let Some((keytab, principal)) = client {
        corral::security::gssapi::set_up_acceptor(keytab, principal)
            .map_err(|e| format!("{JAAS}: Kerberos (Krb5LoginModule): {e}"))?;
        tracing::info!(principal = %principal, keytab = %keytab, "SASL GSSAPI (Kerberos) acceptor ready");
    }
    if let Some(k) = quorum_server {
        corral::security::gssapi::check_acceptor_keytab(&k.keytab, &k.principal).map_err(|e| {
            format!("{JAAS}: quorum SASL server section, Kerberos (Krb5LoginModule): {e}")
        })?;
        tracing::info!(principal = %k.principal, keytab = %k.keytab, "quorum SASL GSSAPI (Kerberos) acceptor ready");
    }
    if let Some(k) = quorum_learner {
        corral::security::gssapi::check_initiator_keytab(&k.keytab, &k.principal).map_err(|e| {
            format!("{JAAS}: quorum SASL learner section, Kerberos (Krb5LoginModule): {e}")
        })?;
        tracing::info!(principal = %k.principal, keytab = %k.keytab, "quorum SASL GSSAPI (Kerberos) initiator ready");
    }
    Ok(())
}

/// The AdminServer's HTTPS, when `admin.forceHttps` or
/// `admin.portUnification` is on: the `ssl.quorum.*` stores are read and
/// checked here, so that a bad one stops the start with its key named.
fn admin_https(
    c: &Config,
    admin: Option<corral::admin::AdminSettings>,
) -> Result<Option<corral::admin::AdminSettings>, String> {
    let (Some(a), Some(t)) = (admin.clone(), &c.admin_tls) else {
        return Ok(admin);
    };
    let config = corral::security::tls::admin_server_config(&t.settings)
        .map_err(|e| format!("the AdminServer's HTTPS: {e}"))?;
    Ok(Some(corral::admin::AdminSettings {
        https: Some(corral::admin::http::Https {
            config,
            only: t.mode == config::tls::AdminHttps::Only,
        }),
        ..a
    }))
}

/// The client ports' TLS: the stores are read and checked here, so that a
/// bad one stops the start with its key named.
fn client_tls(c: &Config) -> Result<Option<server::ClientTls>, String> {
    let Some(settings) = c.client_tls.clone() else {
        return Ok(None);
    };
    let config = corral::security::tls::server_config(&settings).map_err(|e| e.to_string())?;
    Ok(Some(server::ClientTls {
        settings,
        config,
        secure_addr: c
            .secure_client_port
            .map(|p| std::net::SocketAddr::new(c.secure_client_port_address, p)),
        unified: c.client_port_unification,
        reload: c.client_cert_reload,
        handshake_limit: c.tls_handshake_limit,
    }))
}
