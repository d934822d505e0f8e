//! The live web console: one self-contained page at `/` (embedded, no
//! external assets) and the small read-only JSON endpoints it polls:
//!
//! - `GET /api/node?path=/a` — a node: children, data (text and hex), Stat,
//!   ACL (404 JSON when it does not exist), as a client with no
//!   authentication from the asker's address would get them (403 without
//!   READ; digests redacted without ADMIN);
//! - `GET /api/stats` — per shard connections, packets and read/write
//!   latency sums, the log's fsync timer, sessions with their watches
//!   (session ids as pseudonyms unless `corral.admin.showSessionIds`), the
//!   core map, the zxid and node count.
//!
//! The JSON is built by pure functions ([`node_json`], [`stats_json`]) from
//! the same gathered facts the AdminServer commands use.

use super::commands::SessionIds;
use super::http::{Request, Response};
use super::Link;
use crate::admin::counters;
use crate::data::acl::{self, perms, AclPolicy};
use crate::data::tree::Tree;
use crate::protocol::fourlw::{self, Cmd, Facts};
use crate::protocol::jute::Id;
use serde_json::{json, Value};

/// The page.
pub const PAGE: &str = include_str!("console.html");

/// Bytes of data the node endpoint shows.
const DATA_SHOWN: usize = 4096;

/// The console's routes (`/`, `/api/*`); `None` for any other path.
pub fn route(link: &Link, req: &Request) -> Option<Response> {
    match req.path.as_str() {
        "/" | "/index.html" => Some(Response::new(
            200,
            "text/html;charset=utf-8",
            PAGE.as_bytes().to_vec(),
        )),
        "/api/node" => {
            let path = req.arg("path").unwrap_or("/");
            let who = anonymous(req.peer);
            // `gtmk` needs only the sequencer: the cheapest way to the tree.
            Some(match link.gather(Cmd::Gtmk) {
                Ok(g) => match node_json(&g.tree, path, &link.fixed.policy, &who) {
                    Ok(v) => Response::json(200, super::json::pretty(&v)),
                    Err(NodeError::NoNode) => Response::error(404, &format!("no node {path}")),
                    Err(NodeError::NoAuth) => {
                        Response::error(403, &format!("not authorized to read {path}"))
                    }
                },
                Err(e) => Response::error(503, &e.to_string()),
            })
        }
        "/api/stats" => {
            let r = link
                .gather(Cmd::Cons)
                .and_then(|cons| Ok((cons, link.gather(Cmd::Wchc)?)));
            Some(match r {
                Ok((cons, watches)) => {
                    let v = stats_json(
                        &cons.facts(),
                        &watches.facts(),
                        &counters::values(),
                        &link.fixed.core_map,
                        crate::ops::clock::now_ms(),
                        &link.ids,
                    );
                    Response::json(200, super::json::pretty(&v))
                }
                Err(e) => Response::error(503, &e.to_string()),
            })
        }
        _ => None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The identity of an HTTP client: a client of the client port with no
/// authentication from the same address (ZooKeeper's `ip` scheme; `world`
/// needs none).
pub fn anonymous(peer: Option<std::net::SocketAddr>) -> Vec<Id> {
    peer.map(|p| {
        let ip = match p.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        Id {
            scheme: "ip".into(),
            id: ip.to_string(),
        }
    })
    .into_iter()
    .collect()
}

/// Why the console shows no node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("no such node")]
    NoNode,
    #[error("not authorized")]
    NoAuth,
}

/// A node as the console shows it to a client with identity `who`: what
/// getData, getChildren and getACL would give that client. Without READ
/// (ZooKeeper's check, under `policy`) nothing of the node is shown; the
/// ACL's digest hashes are hidden (`user:x`) unless `who` has ADMIN, as
/// getACL hides them.
pub fn node_json(
    tree: &Tree,
    path: &str,
    policy: &AclPolicy,
    who: &[Id],
) -> Result<Value, NodeError> {
    let node = tree.get(path).ok_or(NodeError::NoNode)?;
    acl::check(policy, &node.acl, perms::READ, who).map_err(|_| NodeError::NoAuth)?;
    let st = node.stat();
    let data = node.data().unwrap_or(&[]);
    let shown = &data[..data.len().min(DATA_SHOWN)];
    let acl_shown = if acl::check(policy, &node.acl, perms::ADMIN, who).is_ok() {
        node.acl.as_ref().clone()
    } else {
        acl::redact(&node.acl)
    };
    let acl: Vec<Value> = acl_shown
        .iter()
        .map(|a| json!({ "perms": a.perms, "scheme": a.id.scheme, "id": a.id.id }))
        .collect();
    Ok(json!({
        "path": path,
        "children": tree.children(path).unwrap_or_default(),
        "data_length": data.len(),
        "data_text": String::from_utf8_lossy(shown),
        "data_hex": hex(shown),
        "truncated": data.len() > DATA_SHOWN,
        "stat": {
            "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
            "ctime": st.ctime, "mtime": st.mtime,
            "version": st.version, "cversion": st.cversion, "aversion": st.aversion,
            "ephemeralOwner": st.ephemeral_owner, "dataLength": st.data_length,
            "numChildren": st.num_children,
        },
        "acl": acl,
    }))
}

/// What `/api/stats` answers: `cons` gathered with connections, `watches`
/// with watch tables.
pub fn stats_json(
    cons: &Facts,
    watches: &Facts,
    c: &counters::Values,
    core_map: &[(String, usize)],
    now_ms: i64,
    ids: &SessionIds,
) -> Value {
    let shards: Vec<Value> = cons
        .views
        .iter()
        .map(|v| {
            json!({
                "shard": v.shard,
                "connections": v.conn_count,
                "received": v.stats.received,
                "sent": v.stats.sent,
                "reads": v.stats.read_us.count,
                "read_us": v.stats.read_us.sum,
                "writes": v.stats.write_us.count,
                "write_us": v.stats.write_us.sum,
            })
        })
        .collect();
    let watched: std::collections::HashMap<i64, &Vec<String>> = watches
        .watchers()
        .into_iter()
        .map(|(s, p)| (*s, p))
        .collect();
    let sessions: Vec<Value> = cons
        .conns()
        .into_iter()
        .filter(|(_, ci)| ci.session != 0)
        .map(|(shard, ci)| {
            json!({
                "session": ids.hex(ci.session),
                "shard": shard,
                "peer": super::commands::conn_info(ci, true, ids)["remote_socket_address"],
                "timeout": ci.timeout,
                "last_op": ci.last_op,
                "watches": watched.get(&ci.session).map_or(&[][..], |p| &p[..]),
            })
        })
        .collect();
    let cores: Vec<Value> = core_map
        .iter()
        .map(|(role, cpu)| json!({ "role": role, "cpu": cpu }))
        .collect();
    json!({
        "time_ms": now_ms,
        "zxid": format!("0x{:x}", cons.tree.last_zxid),
        "znode_count": fourlw::znode_count(cons.tree),
        "shards": shards,
        "fsync": { "count": c.log.fsync.count, "sum_us": c.log.fsync.sum_us, "max_us": c.log.fsync.max_us },
        "log": { "batches": c.log.batches, "txns": c.log.txns },
        "sessions": sessions,
        "cores": cores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::fourlw::{ConnInfo, ShardView, DEFAULT_TRACE_MASK};

    #[test]
    fn node_and_stats() {
        let tree = Tree::new();
        let policy = AclPolicy::default();
        let who = anonymous(Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(who[0].id, "127.0.0.1");
        let v = node_json(&tree, "/zookeeper", &policy, &who).expect("a node");
        assert_eq!(v["children"], json!(["config", "quota"]));
        assert_eq!(v["acl"][0]["scheme"], "world");
        assert_eq!(
            node_json(&tree, "/missing", &policy, &who),
            Err(NodeError::NoNode)
        );
        let mut ci = ConnInfo::new(1, "127.0.0.1:5".parse().unwrap(), 0);
        ci.session = 0x10;
        let views = vec![ShardView {
            shard: 0,
            conn_count: 1,
            conns: vec![ci],
            data_watches: vec![(0x10, vec!["/a".into()])],
            ..Default::default()
        }];
        let f = Facts {
            tree: &tree,
            server_state: "standalone",
            global_sessions: 1,
            local_sessions: 0,
            session_sets: &[],
            uptime_ms: 0,
            trace_mask: DEFAULT_TRACE_MASK,
            os: Default::default(),
            views: &views,
            quorum: None,
        };
        let shown = SessionIds::new(true);
        let s = stats_json(&f, &f, &Default::default(), &[("log".into(), 1)], 7, &shown);
        assert_eq!(s["sessions"][0]["session"], "0x10");
        let hidden = SessionIds::new(false);
        let h = stats_json(&f, &f, &Default::default(), &[], 7, &hidden);
        let label = h["sessions"][0]["session"].as_str().unwrap().to_string();
        assert!(label.starts_with('~') && label.len() == 17, "{label}");
        assert_eq!(label, hidden.pseudonym(0x10), "stable within a run");
        assert_ne!(hidden.pseudonym(0x10), hidden.pseudonym(0x11));
        assert_eq!(s["sessions"][0]["watches"], json!(["/a"]));
        assert_eq!(s["shards"][0]["connections"], 1);
        assert_eq!(s["cores"][0]["role"], "log");
        assert!(PAGE.contains("id=\"tree\""));
    }
}
