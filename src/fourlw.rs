//! Four-letter words on the client port (`ruok`, `srvr`, `stat`, …).
//!
//! Owns recognising a command in the first four bytes of a connection and
//! formatting its answer from a [`ServerView`], in ZooKeeper's text format.
//! Pure logic: the shard gathers the view, sends the text and closes.

use crate::server::shard::{ConnInfo, ShardStats};
use crate::server::Settings;
use crate::tree::Tree;
use crate::watch::ConnId;
use std::fmt::Write;
use std::sync::Arc;

/// The version string corral reports, in ZooKeeper's shape.
pub const VERSION: &str = "3.8.0-corral-0.1.0, built on 11/26/2026 00:00 GMT";

/// Every four-letter word ZooKeeper 3.8 knows.
pub const COMMANDS: &[&str] = &[
    "ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "gtmk", "stmk", "srst", "wchs",
    "wchc", "wchp", "mntr", "isro", "hash", "dirs",
];

/// What a four-letter word may look at.
pub struct ServerView {
    pub tree: Arc<Tree>,
    pub stats: ShardStats,
    pub conns: Vec<ConnInfo>,
    pub watch_count: usize,
    pub watched_paths: usize,
    pub watches_by_conn: Vec<(ConnId, Vec<String>)>,
    pub watches_by_path: Vec<(String, Vec<ConnId>)>,
    pub settings: Settings,
    pub shard: usize,
}

/// The command the first four bytes of a connection name, if any.
pub fn command(word: &[u8; 4]) -> Option<&'static str> {
    COMMANDS.iter().copied().find(|c| c.as_bytes() == word)
}

fn allowed(cmd: &str, list: &[String]) -> bool {
    // ZooKeeper always allows `srvr`... only when listed; `*` allows all.
    list.iter().any(|w| w == "*" || w == cmd)
}

/// The text a command answers.
pub fn answer(cmd: &str, v: &ServerView) -> String {
    if !allowed(cmd, &v.settings.four_lw_whitelist) {
        return format!("{cmd} is not executed because it is not in the whitelist.\n");
    }
    match cmd {
        "ruok" => "imok".to_string(),
        "isro" => "rw".to_string(),
        "srvr" => stat(v, false),
        "stat" => stat(v, true),
        _ => format!("{cmd} is not yet supported by corral.\n"),
    }
}

fn stat(v: &ServerView, with_clients: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Zookeeper version: {VERSION}");
    if with_clients {
        s.push_str("Clients:\n");
        for c in &v.conns {
            let _ = writeln!(
                s,
                " /{}:{}[1](queued={},recved={},sent={})",
                c.peer.ip(),
                c.peer.port(),
                c.outstanding,
                c.received,
                c.sent
            );
        }
        s.push('\n');
    }
    let st = &v.stats;
    let avg = st.lat_sum.checked_div(st.lat_count).unwrap_or(0);
    let _ = writeln!(
        s,
        "Latency min/avg/max: {}/{}/{}",
        st.lat_min, avg, st.lat_max
    );
    let _ = writeln!(s, "Received: {}", st.received);
    let _ = writeln!(s, "Sent: {}", st.sent);
    let _ = writeln!(s, "Connections: {}", v.conns.len());
    let outstanding: usize = v.conns.iter().map(|c| c.outstanding).sum();
    let _ = writeln!(s, "Outstanding: {outstanding}");
    let _ = writeln!(s, "Zxid: 0x{:x}", v.tree.last_zxid);
    let _ = writeln!(s, "Mode: standalone");
    let _ = writeln!(s, "Node count: {}", v.tree.node_count());
    s
}
