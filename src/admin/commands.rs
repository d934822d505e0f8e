//! The AdminServer's commands: ZooKeeper 3.8's `Commands.java` table (names,
//! aliases, field names and JSON types) over corral's facts. Pure: the
//! facts come in ([`Facts`] gathered by the sequencer, [`Local`] read by the
//! AdminServer's thread), a JSON value goes out.

use crate::protocol::fourlw::{self, Cmd, ConnInfo, EnvFacts, Facts};
use serde_json::{json, Map, Value};

/// One command: its names (the primary first) and what it needs gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub names: &'static [&'static str],
    /// The four-letter word whose gathered facts it reads (`None`: it needs
    /// no sequencer or shard state).
    pub gather: Option<Cmd>,
}

impl Command {
    pub fn primary(&self) -> &'static str {
        self.names[0]
    }

    /// ZooKeeper's `CommandBase.isServerRequired`: every command but
    /// `environment`, `get_trace_mask`, `monitor`, `set_trace_mask`,
    /// `system_properties` and `zabstate` answers only while the server
    /// serves ([`not_serving`] otherwise).
    pub fn server_required(&self) -> bool {
        !matches!(
            self.primary(),
            "environment"
                | "get_trace_mask"
                | "monitor"
                | "set_trace_mask"
                | "system_properties"
                | "zabstate"
        )
    }
}

const fn c(names: &'static [&'static str], gather: Option<Cmd>) -> Command {
    Command { names, gather }
}

/// Every command ZooKeeper 3.8.0 registers, in its `Commands` order, and
/// 3.9's `restore` and `snapshot` (answered by `admin::backup`, not
/// [`render`]). The ensemble ones answer as a standalone ZooKeeper does.
pub const COMMANDS: [Command; 28] = [
    c(&["connection_stat_reset", "crst"], Some(Cmd::Crst)),
    c(&["configuration", "conf", "config"], None),
    c(&["connections", "cons"], Some(Cmd::Cons)),
    c(&["hash"], None),
    c(&["dirs"], None),
    c(&["dump"], Some(Cmd::Dump)),
    c(&["environment", "env", "envi"], None),
    c(&["get_trace_mask", "gtmk"], Some(Cmd::Gtmk)),
    c(&["initial_configuration", "icfg"], None),
    c(&["is_read_only", "isro"], None),
    c(&["last_snapshot", "lsnp"], None),
    c(&["leader", "lead"], None),
    c(&["monitor", "mntr"], Some(Cmd::Mntr)),
    c(&["observer_connection_stat_reset", "orst"], None),
    c(&["restore", "rest"], None),
    c(&["ruok"], None),
    // The mask comes from the request; see `gather_cmd`.
    c(&["set_trace_mask", "stmk"], Some(Cmd::Stmk(0))),
    c(&["snapshot", "snap"], None),
    c(&["server_stats", "srvr"], Some(Cmd::Srvr)),
    c(&["stats", "stat"], Some(Cmd::Stat)),
    c(&["stat_reset", "srst"], Some(Cmd::Srst)),
    c(&["observers", "obsr"], None),
    c(&["system_properties", "sysp"], None),
    c(&["voting_view"], None),
    c(&["watches", "wchc"], Some(Cmd::Wchc)),
    c(&["watches_by_path", "wchp"], Some(Cmd::Wchp)),
    c(&["watch_summary", "wchs"], Some(Cmd::Wchs)),
    c(&["zabstate"], None),
];

/// The command any of whose names is `name`.
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// The primary names, sorted (the `/commands` listing).
pub fn primary_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = COMMANDS.iter().map(Command::primary).collect();
    v.sort_unstable();
    v
}

/// How session ids appear in the JSON (`corral.admin.showSessionIds`).
///
/// A session id is half of a session's credentials: ZooKeeper derives the
/// session password from the id alone (`session::password`), so whoever
/// reads an id can take the session over. By default an id is shown as a
/// pseudonym instead: `~` and 16 hex digits of a keyed hash whose key is
/// drawn at random when the server starts. The same session has the same
/// pseudonym in every answer of one run, so answers can still be joined
/// (a session's watches, its ephemerals, its connection).
#[derive(Debug, Clone, Default)]
pub struct SessionIds {
    /// Show the ids themselves.
    pub show: bool,
    key: std::collections::hash_map::RandomState,
}

impl SessionIds {
    pub fn new(show: bool) -> SessionIds {
        SessionIds {
            show,
            key: Default::default(),
        }
    }

    /// The pseudonym of `id`.
    pub fn pseudonym(&self, id: i64) -> String {
        use std::hash::BuildHasher;
        format!("~{:016x}", self.key.hash_one(id))
    }

    /// `id` as a JSON value: the number (ZooKeeper's type), or its
    /// pseudonym.
    pub fn json(&self, id: i64) -> Value {
        if self.show {
            Value::from(id)
        } else {
            Value::String(self.pseudonym(id))
        }
    }

    /// `id` as a JSON object key: the decimal id ZooKeeper prints, or its
    /// pseudonym.
    pub fn key(&self, id: i64) -> String {
        if self.show {
            id.to_string()
        } else {
            self.pseudonym(id)
        }
    }

    /// `id` as the console shows it: `0x…`, or its pseudonym.
    pub fn hex(&self, id: i64) -> String {
        if self.show {
            format!("0x{id:x}")
        } else {
            self.pseudonym(id)
        }
    }
}

/// What the AdminServer's thread reads itself: settings, disk and process.
#[derive(Debug, Clone, Default)]
pub struct Local<'a> {
    /// How session ids are shown.
    pub ids: SessionIds,
    /// The server serves read-only clients only (`is_read_only`).
    pub read_only: bool,
    /// The `conf` lines (camelCase keys, as the 4lw prints them).
    pub conf_lines: &'a [(String, String)],
    pub data_dir_size: u64,
    pub log_dir_size: u64,
    pub env: EnvFacts,
    /// The configuration the server started from, as text.
    pub initial_config: &'a str,
    /// The system properties corral knows (the `-D` flags and the
    /// `zookeeper.*` ones from zoo.cfg), sorted by name.
    pub properties: &'a [(String, String)],
    /// The newest snapshot on disk: its zxid and its mtime in seconds.
    pub last_snapshot: Option<(i64, i64)>,
    /// fsyncs over `fsync.warningthresholdms`.
    pub fsync_over_threshold: u64,
}

/// The mask `set_trace_mask` asks for, or its error response.
pub fn trace_mask_arg(kwargs: &[(String, String)]) -> Result<i64, Value> {
    let arg = kwargs
        .iter()
        .find(|(k, _)| k == "traceMask")
        .map(|(_, v)| v);
    let err = |e: String| {
        let mut m = Map::new();
        m.insert("error".into(), Value::String(e));
        response("set_trace_mask", m)
    };
    match arg {
        None => Err(err("setTraceMask requires long traceMask argument".into())),
        Some(v) => v.parse::<i64>().map_err(|_| {
            err(format!(
                "setTraceMask requires long traceMask argument, got {v}"
            ))
        }),
    }
}

/// What a secret's value shows as.
pub const HIDDEN: &str = "<hidden>";

/// Whether a setting's value is a credential the AdminServer must not show
/// (`system_properties`, `initial_configuration`): the super digest
/// (a password's SHA1, open to offline guessing) and any password.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("superdigest") || k.contains("secret")
}

/// A zoo.cfg text with the values of secret keys replaced by [`HIDDEN`].
pub fn hide_secret_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let end = &line[body.len()..];
        match body.split_once(['=', ':']) {
            Some((k, _)) if !body.trim_start().starts_with('#') && is_secret_key(k.trim()) => {
                out.push_str(k);
                out.push('=');
                out.push_str(HIDDEN);
                out.push_str(end);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// ZooKeeper's answer (`Commands.runCommand`) to a command that needs a
/// serving server while there is none: `command` is the name as asked.
pub fn not_serving(name: &str) -> Value {
    json!({ "command": name, "error": fourlw::NOT_SERVING })
}

/// ZooKeeper's answer to a name no command has.
pub fn unknown(name: &str) -> Value {
    json!({ "command": name, "error": format!("Unknown command: {name}") })
}

/// ZooKeeper's `CommandResponse.toMap`: the data, then `command` and
/// `error` (an `error` the command put in its data keeps its place).
pub fn response(primary: &str, data: Map<String, Value>) -> Value {
    let mut m = data;
    m.entry("command")
        .or_insert_with(|| Value::String(primary.to_string()));
    m.entry("error").or_insert(Value::Null);
    Value::Object(m)
}

fn n(v: u64) -> Value {
    Value::from(i64::try_from(v).unwrap_or(i64::MAX))
}

fn java_double(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A socket address as Jackson writes an `InetSocketAddress`.
fn socket_addr(a: &std::net::SocketAddr) -> String {
    match a {
        std::net::SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        std::net::SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{}:{}", v4, v6.port()),
            None => format!("[{}]:{}", v6.ip(), v6.port()),
        },
    }
}

/// `ServerCnxn.getConnectionInfo(brief)`.
pub fn conn_info(c: &ConnInfo, brief: bool, ids: &SessionIds) -> Value {
    let mut m = Map::new();
    m.insert("remote_socket_address".into(), socket_addr(&c.peer).into());
    m.insert(
        "interest_ops".into(),
        Value::from(if c.probe { 0 } else { 1 }),
    );
    m.insert("outstanding_requests".into(), n(c.outstanding as u64));
    m.insert("packets_received".into(), n(c.received));
    m.insert("packets_sent".into(), n(c.sent));
    if !brief {
        m.insert("session_id".into(), ids.json(c.session));
        m.insert("last_operation".into(), c.last_op.into());
        m.insert("established".into(), Value::from(c.established_ms));
        m.insert("session_timeout".into(), Value::from(c.timeout));
        m.insert("last_cxid".into(), Value::from(c.last_cxid));
        m.insert("last_zxid".into(), Value::from(c.last_zxid));
        m.insert("last_response_time".into(), Value::from(c.last_resp_ms));
        m.insert("last_latency".into(), n(c.last_latency));
        m.insert("min_latency".into(), n(c.latency.min()));
        m.insert("avg_latency".into(), n(c.latency.avg_int()));
        m.insert("max_latency".into(), n(c.latency.max));
    }
    Value::Object(m)
}

fn conns(f: &Facts, brief: bool, ids: &SessionIds) -> Value {
    Value::Array(
        f.conns()
            .iter()
            .map(|(_, c)| conn_info(c, brief, ids))
            .collect(),
    )
}

/// A `mntr` value with its JSON type.
pub fn mntr_json(v: &fourlw::Value) -> Value {
    match v {
        fourlw::Value::Str(s) => Value::String(s.clone()),
        fourlw::Value::Int(i) => Value::from(*i),
        fourlw::Value::Double(d) => java_double(*d),
    }
}

/// `ZooKeeperServer.serverStats()` as Jackson writes the bean.
fn server_stats(f: &Facts, l: &Local) -> Value {
    let st = f.stats();
    let mut m = Map::new();
    m.insert("packets_sent".into(), n(st.sent));
    m.insert("packets_received".into(), n(st.received));
    m.insert(
        "fsync_threshold_exceed_count".into(),
        n(l.fsync_over_threshold),
    );
    m.insert("client_response_stats".into(), client_response());
    m.insert("data_dir_size".into(), n(l.data_dir_size));
    m.insert("log_dir_size".into(), n(l.log_dir_size));
    m.insert("provider_null".into(), false.into());
    m.insert("server_state".into(), f.server_state.into());
    m.insert("last_processed_zxid".into(), Value::from(f.tree.last_zxid));
    m.insert("outstanding_requests".into(), n(f.outstanding() as u64));
    m.insert("avg_latency".into(), java_double(st.latency.avg()));
    m.insert("max_latency".into(), n(st.latency.max));
    m.insert("min_latency".into(), n(st.latency.min()));
    m.insert(
        "num_alive_client_connections".into(),
        n(f.conn_count() as u64),
    );
    m.insert("uptime".into(), Value::from(f.uptime_ms));
    m.insert("auth_failed_count".into(), 0.into());
    m.insert("non_mtlsremote_conn_count".into(), 0.into());
    m.insert("non_mtlslocal_conn_count".into(), 0.into());
    Value::Object(m)
}

/// Response sizes are not tracked per reply: -1, ZooKeeper's "none yet".
fn client_response() -> Value {
    json!({ "last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1 })
}

/// `dumpConf` keys in ZooKeeperServerConf's snake case; the sizes and the
/// secure port are not part of `toMap`.
fn configuration(l: &Local) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in l.conf_lines {
        let key = match k.as_str() {
            "clientPort" => "client_port",
            "dataDir" => "data_dir",
            "dataLogDir" => "data_log_dir",
            "tickTime" => "tick_time",
            "maxClientCnxns" => "max_client_cnxns",
            "minSessionTimeout" => "min_session_timeout",
            "maxSessionTimeout" => "max_session_timeout",
            "serverId" => "server_id",
            "clientPortListenBacklog" => "client_port_listen_backlog",
            _ => continue,
        };
        let value = match key {
            "data_dir" | "data_log_dir" => Value::String(v.clone()),
            _ => v
                .parse::<i64>()
                .map_or(Value::String(v.clone()), Value::from),
        };
        m.insert(key.into(), value);
    }
    m
}

/// The answer of `cmd` (named by `primary`), from the gathered facts when
/// it has `gather` (else `f` is unused and may be `None`).
pub fn render(cmd: &Command, f: Option<&Facts>, l: &Local) -> Value {
    let primary = cmd.primary();
    let mut m = Map::new();
    let need = |f: Option<&Facts>| f.is_some();
    match (primary, f) {
        ("configuration", _) => m = configuration(l),
        ("connections", Some(f)) => {
            m.insert("connections".into(), conns(f, false, &l.ids));
            m.insert("secure_connections".into(), json!([]));
        }
        ("hash", _) => {
            // No digest log yet (see fourlw's `hash`).
            m.insert("digests".into(), json!([]));
        }
        ("dirs", _) => {
            m.insert("datadir_size".into(), n(l.data_dir_size));
            m.insert("logdir_size".into(), n(l.log_dir_size));
        }
        ("dump", Some(f)) => {
            let mut exp = Map::new();
            for (at, ids) in f.session_sets {
                let shown: Vec<Value> = ids.iter().map(|id| l.ids.json(*id)).collect();
                exp.insert(at.to_string(), Value::Array(shown));
            }
            let mut eph = Map::new();
            for (id, paths) in f.tree.ephemerals_by_session() {
                eph.insert(l.ids.key(id), json!(paths));
            }
            m.insert("expiry_time_to_session_ids".into(), Value::Object(exp));
            m.insert("session_id_to_ephemeral_paths".into(), Value::Object(eph));
        }
        ("environment", _) => {
            for (k, v) in fourlw::envi_values(&l.env) {
                m.insert(k.into(), v.into());
            }
        }
        ("get_trace_mask", Some(f)) | ("set_trace_mask", Some(f)) => {
            m.insert("tracemask".into(), Value::from(f.trace_mask));
        }
        ("initial_configuration", _) => {
            m.insert(
                "initial_configuration".into(),
                hide_secret_lines(l.initial_config).into(),
            );
        }
        ("is_read_only", _) => {
            m.insert("read_only".into(), l.read_only.into());
        }
        ("last_snapshot", _) => {
            let (zxid, ts) = l.last_snapshot.unwrap_or((-1, -1));
            m.insert("zxid".into(), format!("{zxid:x}").into());
            m.insert("timestamp".into(), ts.into());
        }
        ("leader", _) => {
            m.insert("error".into(), "server is not initialized".into());
        }
        ("monitor", Some(f)) => {
            for (k, v) in fourlw::mntr_values(f) {
                m.insert(k.into(), mntr_json(&v));
            }
        }
        ("server_stats", Some(f)) | ("stats", Some(f)) => {
            m.insert("version".into(), fourlw::VERSION.into());
            m.insert("read_only".into(), false.into());
            m.insert("server_stats".into(), server_stats(f, l));
            m.insert("client_response".into(), client_response());
            m.insert("node_count".into(), n(fourlw::znode_count(f.tree) as u64));
            if primary == "stats" {
                m.insert("connections".into(), conns(f, true, &l.ids));
                m.insert("secure_connections".into(), json!([]));
            }
        }
        ("observers", f) => {
            // The leader's observers, or a follower's through its
            // observer master; the per-observer list is not kept.
            let synced = f.and_then(|f| f.quorum).map_or(0, |q| q.synced_observers);
            m.insert("synced_observers".into(), (synced as u64).into());
            m.insert("observers".into(), json!([]));
        }
        ("system_properties", _) => {
            for (k, v) in l.properties {
                let v = if is_secret_key(k) { HIDDEN } else { v };
                m.insert(k.clone(), v.into());
            }
        }
        ("voting_view", _) => {
            m.insert("current_config".into(), json!({}));
        }
        ("watches", Some(f)) => {
            let mut w = Map::new();
            for (session, paths) in f.watchers() {
                w.insert(l.ids.key(*session), json!(paths));
            }
            m.insert("session_id_to_watched_paths".into(), Value::Object(w));
        }
        ("watches_by_path", Some(f)) => {
            let mut by: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
            for (session, paths) in f.watchers() {
                for p in paths {
                    by.entry(p).or_default().push(*session);
                }
            }
            let mut w = Map::new();
            for (p, ids) in by {
                let shown: Vec<Value> = ids.iter().map(|id| l.ids.json(*id)).collect();
                w.insert(p.into(), Value::Array(shown));
            }
            m.insert("path_to_session_ids".into(), Value::Object(w));
        }
        ("watch_summary", Some(f)) => {
            let w = f.watchers();
            let paths: std::collections::BTreeSet<&String> =
                w.iter().flat_map(|(_, p)| p).collect();
            let total: usize = w.iter().map(|(_, p)| p.len()).sum();
            m.insert("num_connections".into(), n(w.len() as u64));
            m.insert("num_paths".into(), n(paths.len() as u64));
            m.insert("num_total_watches".into(), n(total as u64));
        }
        ("zabstate", _) => {
            m.insert("voting".into(), false.into());
            m.insert("zabstate".into(), "".into());
        }
        // ruok, crst, srst, orst: nothing but `command` and `error`.
        (_, f) => {
            if cmd.gather.is_some() && !need(f) {
                m.insert("error".into(), fourlw::NOT_SERVING.into());
            }
        }
    }
    response(primary, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tree::Tree;
    use crate::protocol::fourlw::{ShardView, DEFAULT_TRACE_MASK};

    fn facts<'a>(tree: &'a Tree, views: &'a [ShardView]) -> Facts<'a> {
        Facts {
            tree,
            server_state: "standalone",
            global_sessions: 0,
            local_sessions: 0,
            session_sets: &[],
            uptime_ms: 10,
            trace_mask: DEFAULT_TRACE_MASK,
            os: Default::default(),
            views,
            quorum: None,
        }
    }

    #[test]
    fn names_and_aliases_are_zookeepers() {
        assert_eq!(lookup("srvr").map(Command::primary), Some("server_stats"));
        assert_eq!(lookup("stat").map(Command::primary), Some("stats"));
        assert_eq!(
            lookup("config").map(Command::primary),
            Some("configuration")
        );
        assert_eq!(lookup("lsnp").map(Command::primary), Some("last_snapshot"));
        assert!(lookup("nope").is_none());
        let names = primary_names();
        assert_eq!(names.len(), 28);
        assert_eq!(names[0], "configuration");
        // Every four-letter word has an AdminServer command.
        for w in Cmd::ALL {
            assert!(lookup(w.name()).is_some(), "{}", w.name());
        }
    }

    #[test]
    fn response_keeps_zookeepers_key_order() {
        let tree = Tree::new();
        let f = facts(&tree, &[]);
        let l = Local::default();
        let ruok = render(lookup("ruok").unwrap(), None, &l);
        assert_eq!(
            crate::admin::json::pretty(&ruok),
            "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}"
        );
        let lead = render(lookup("lead").unwrap(), None, &l);
        let keys: Vec<&String> = lead.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["error", "command"]);
        let mntr = render(lookup("mntr").unwrap(), Some(&f), &l);
        assert_eq!(mntr["znode_count"], 5);
        assert!(mntr["avg_latency"].is_f64());
        assert_eq!(mntr["command"], "monitor");
        let srvr = render(lookup("srvr").unwrap(), Some(&f), &l);
        assert_eq!(srvr["server_stats"]["server_state"], "standalone");
        assert_eq!(srvr["node_count"], 5);
        assert!(srvr.get("connections").is_none());
        let stat = render(lookup("stat").unwrap(), Some(&f), &l);
        assert!(stat["connections"].is_array());
        assert_eq!(unknown("x")["error"], "Unknown command: x");
        let e = trace_mask_arg(&[("traceMask".into(), "z".into())]).unwrap_err();
        assert_eq!(
            e["error"],
            "setTraceMask requires long traceMask argument, got z"
        );
        assert_eq!(
            trace_mask_arg(&[("traceMask".into(), "12".into())]).unwrap(),
            12
        );
    }

    #[test]
    fn secrets_are_hidden() {
        let text = "dataDir=/d\nDigestAuthenticationProvider.superDigest=super:abc=\n\
                    # superDigest=keep comments\nssl.keyStore.password: pw\n";
        assert_eq!(
            hide_secret_lines(text),
            "dataDir=/d\nDigestAuthenticationProvider.superDigest=<hidden>\n\
             # superDigest=keep comments\nssl.keyStore.password=<hidden>\n"
        );
        let props = vec![
            (
                "zookeeper.DigestAuthenticationProvider.superDigest".to_string(),
                "super:abc=".to_string(),
            ),
            ("zookeeper.tickTime".to_string(), "2000".to_string()),
        ];
        let l = Local {
            properties: &props,
            initial_config: text,
            ..Default::default()
        };
        let v = render(lookup("sysp").unwrap(), None, &l);
        assert_eq!(
            v["zookeeper.DigestAuthenticationProvider.superDigest"],
            HIDDEN
        );
        assert_eq!(v["zookeeper.tickTime"], "2000");
        let v = render(lookup("icfg").unwrap(), None, &l);
        assert!(!v["initial_configuration"]
            .as_str()
            .unwrap()
            .contains("abc="));
    }

    #[test]
    fn configuration_is_snake_case_and_typed() {
        let lines: Vec<(String, String)> = [
            ("clientPort", "2181"),
            ("secureClientPort", "-1"),
            ("dataDir", "/d/version-2"),
            ("dataDirSize", ""),
            ("serverId", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let l = Local {
            conf_lines: &lines,
            ..Default::default()
        };
        let v = render(lookup("conf").unwrap(), None, &l);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["client_port", "data_dir", "server_id", "command", "error"]
        );
        assert_eq!(v["client_port"], 2181);
    }
}
