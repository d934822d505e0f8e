//! The audit log (`audit.enable`): which client writes ZooKeeper 3.8
//! audits and how it words them (`AuditHelper`, `ZKAuditProvider`,
//! `AuditEvent`, `Slf4jAuditLogger`). Pure: a write's request and its
//! reply frame in, audit lines out; the shard that owns the connection
//! formats them and writes them through `tracing` to the target
//! [`TARGET`] (never the sequencer, never the log core).
//!
//! A line is `key=value` pairs joined by tabs, in ZooKeeper's order
//! (`session`, `user`, `ip`, `operation`, `znode`, `znode_type`, `acl`; a
//! field without a value is left out), then `result=success|failure|invoked`.

use crate::data::prep::WriteOp;
use crate::protocol::jute::{self, op, Acl, Id, Jute, Reader};

/// The `tracing` target of every audit line.
pub const TARGET: &str = "corral::audit";

/// `AuditConstants`.
pub const OP_START: &str = "serverStart";
pub const OP_STOP: &str = "serverStop";
pub const OP_CREATE: &str = "create";
pub const OP_DELETE: &str = "delete";
pub const OP_SETDATA: &str = "setData";
pub const OP_SETACL: &str = "setAcl";
pub const OP_MULTI: &str = "multiOperation";
pub const OP_RECONFIG: &str = "reconfig";
pub const OP_DEL_EPHEMERAL: &str = "ephemeralZNodeDeletionOnSessionCloseOrExpire";

/// `AuditEvent.Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Invoked,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Invoked => "invoked",
        }
    }
}

/// One audit event (`AuditEvent`): `Slf4jAuditLogger` logs a failure at
/// ERROR and the others at INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub line: String,
    pub result: Outcome,
}

/// The fields of an event, each left out when `None`.
#[derive(Debug, Clone, Default)]
pub struct Fields<'a> {
    pub session: Option<&'a str>,
    pub user: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub znode: Option<&'a str>,
    pub znode_type: Option<&'a str>,
    pub acl: Option<&'a str>,
}

/// `AuditEvent.toString`: the fields in `ZKAuditProvider.createLogEvent`'s
/// order, then the result.
pub fn event(f: &Fields<'_>, result: Outcome) -> Event {
    let mut line = String::new();
    let pairs = [
        ("session", f.session),
        ("user", f.user),
        ("ip", f.ip),
        ("operation", f.operation),
        ("znode", f.znode),
        ("znode_type", f.znode_type),
        ("acl", f.acl),
    ];
    for (k, v) in pairs {
        if let Some(v) = v {
            if !line.is_empty() {
                line.push('\t');
            }
            line.push_str(k);
            line.push('=');
            line.push_str(v);
        }
    }
    if !line.is_empty() {
        line.push('\t');
    }
    line.push_str("result=");
    line.push_str(result.name());
    Event { line, result }
}

/// Writes an event to [`TARGET`]: a failure at ERROR, the rest at INFO.
pub fn emit(e: &Event) {
    if e.result == Outcome::Failure {
        tracing::error!(target: "corral::audit", "{}", e.line);
    } else {
        tracing::info!(target: "corral::audit", "{}", e.line);
    }
}

/// The user who runs the server (`Login.SYSTEM_USER`: Java's `user.name`,
/// the name of the effective uid; `<NA>` when it has none).
pub fn server_user() -> String {
    // SAFETY: getpwuid returns a pointer to static storage or null; the
    // name is copied out at once, on the thread that asked (start-up).
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return "<NA>".to_string();
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// `serverStart` (success, or failure when the server could not start)
/// and `serverStop` (invoked): user and operation only.
pub fn server_event(operation: &str, result: Outcome) -> Event {
    let user = server_user();
    event(
        &Fields {
            user: Some(&user),
            operation: Some(operation),
            ..Fields::default()
        },
        result,
    )
}

/// An ephemeral node deleted as its session closed or expired (`DataTree
/// .deleteNodes`): the server's user, the session, no ip.
pub fn ephemeral_deleted(path: &str, session: i64, deleted: bool) -> Event {
    let user = server_user();
    let session = session_hex(session);
    event(
        &Fields {
            session: Some(&session),
            user: Some(&user),
            operation: Some(OP_DEL_EPHEMERAL),
            znode: Some(path),
            ..Fields::default()
        },
        if deleted {
            Outcome::Success
        } else {
            Outcome::Failure
        },
    )
}

/// The ephemerals of closed sessions waiting to be audited: noted from
/// the txns the sequencer appends, audited when a published version no
/// longer has them (a close lost to a failed write, whose nodes are
/// still there, is never audited).
#[derive(Debug, Default)]
pub struct ClosedSessions {
    pending: std::collections::VecDeque<(i64, i64, Vec<String>)>,
}

impl ClosedSessions {
    /// Notes the closeSession txns among `txns`.
    pub fn appended<'a>(&mut self, txns: impl Iterator<Item = &'a crate::data::txn::Txn>) {
        for t in txns {
            if let crate::data::txn::TxnBody::CloseSession(c) = &t.body {
                if !c.paths_to_delete.is_empty() {
                    self.pending.push_back((
                        t.hdr.zxid,
                        t.hdr.client_id,
                        c.paths_to_delete.clone(),
                    ));
                }
            }
        }
    }

    /// The events of the closes `version` includes.
    pub fn published(&mut self, version: &crate::data::tree::Tree) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some((zxid, session, _)) = self.pending.front() {
            if *zxid > version.last_zxid {
                break;
            }
            let session = *session;
            let Some((_, _, paths)) = self.pending.pop_front() else {
                break;
            };
            let still = |p: &str| version.get(p).is_some_and(|n| n.ephemeral_owner == session);
            if paths.iter().all(|p| still(p)) {
                continue;
            }
            out.extend(
                paths
                    .iter()
                    .map(|p| ephemeral_deleted(p, session, !still(p))),
            );
        }
        out
    }
}

/// `ServerCnxn.getSessionIdHex`.
pub fn session_hex(session: i64) -> String {
    format!("0x{session:x}")
}

/// Java's `String.hashCode` (over UTF-16 code units).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The order in which ZooKeeper lists a connection's ids: they live in a
/// set backed by a `ConcurrentHashMap`, whose iteration goes by bucket
/// (the jute `Id.hashCode`, spread, masked by the table size: 16 until
/// the 12th id, doubling at three quarters full), then by insertion
/// within a bucket. Exact for the usual handful of ids; past a resize
/// Java may reorder a bucket's tail, which this does not model.
fn java_set_order(auth: &[Id]) -> Vec<&Id> {
    let mut n = 16usize;
    while auth.len() * 4 >= n * 3 {
        n *= 2;
    }
    let bucket = |id: &Id| {
        let h = 17i32
            .wrapping_mul(37)
            .wrapping_add(java_string_hash(&id.scheme))
            .wrapping_mul(37)
            .wrapping_add(java_string_hash(&id.id));
        let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
        spread as usize & (n - 1)
    };
    let mut v: Vec<&Id> = auth.iter().collect();
    v.sort_by_key(|id| bucket(id));
    v
}

/// `AuthUtil.getUsers`: the user of each id, in ZooKeeper's order
/// ([`java_set_order`]), joined by commas; `None` when there is none. A
/// digest id's user is the part before the first `:`; `super` has no
/// authentication provider, so no user; other schemes' users are their
/// ids.
pub fn users(auth: &[Id]) -> Option<String> {
    let names: Vec<&str> = java_set_order(auth)
        .into_iter()
        .filter_map(|id| match id.scheme.as_str() {
            "super" => None,
            "digest" => id.id.split(':').next(),
            _ => Some(id.id.as_str()),
        })
        .filter(|n| !n.trim().is_empty())
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

/// `ZKUtil.aclToString`: `scheme:id:perms` of each entry, with nothing
/// between the entries (as ZooKeeper writes them).
pub fn acl_string(acl: &[Acl]) -> String {
    let mut s = String::new();
    for a in acl {
        s.push_str(&a.id.scheme);
        s.push(':');
        s.push_str(&a.id.id);
        s.push(':');
        for (bit, c) in [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')] {
            if a.perms & bit != 0 {
                s.push(c);
            }
        }
    }
    s
}

/// `CreateMode.fromFlag(flags).toString().toLowerCase()`; `None` for a flag
/// that is no mode (ZooKeeper's audit then fails and logs no line).
pub fn create_mode(flags: i32) -> Option<&'static str> {
    Some(match flags {
        0 => "persistent",
        1 => "ephemeral",
        2 => "persistent_sequential",
        3 => "ephemeral_sequential",
        4 => "container",
        5 => "persistent_with_ttl",
        6 => "persistent_sequential_with_ttl",
        _ => return None,
    })
}

/// Who sent a write: its connection's session, ids and address.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub session: i64,
    pub auth: &'a [Id],
    pub ip: &'a str,
}

/// What one audited operation says.
struct Line<'a> {
    operation: &'static str,
    znode: Option<&'a str>,
    znode_type: Option<&'static str>,
    acl: Option<String>,
    result: Outcome,
}

/// The audit events of a client write answered with `err` and reply
/// `body` (`AuditHelper.addAuditLog`): none for an operation ZooKeeper does
/// not audit (check, sync, a single createTTL, a malformed request).
pub fn write_events(who: Who<'_>, w: &WriteOp, err: i32, body: &[u8]) -> Vec<Event> {
    let ok = err == 0;
    let result = if ok {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let mut lines: Vec<Line<'_>> = Vec::new();
    // The created path (with its sequence number) of a successful create.
    let created = if ok && matches!(w, WriteOp::Create { .. }) {
        Reader::new(body).ustring().ok().flatten()
    } else {
        None
    };
    match w {
        WriteOp::Create { op: o, req } if *o != op::CREATE_TTL => {
            let Some(mode) = create_mode(req.flags) else {
                return Vec::new();
            };
            lines.push(Line {
                operation: OP_CREATE,
                znode: Some(created.as_deref().unwrap_or(&req.path)),
                znode_type: Some(mode),
                acl: None,
                result,
            });
        }
        WriteOp::Delete(r) => lines.push(Line {
            operation: OP_DELETE,
            znode: Some(&r.path),
            znode_type: None,
            acl: None,
            result,
        }),
        WriteOp::SetData(r) => lines.push(Line {
            operation: OP_SETDATA,
            znode: Some(&r.path),
            znode_type: None,
            acl: None,
            result,
        }),
        WriteOp::SetAcl(r) => lines.push(Line {
            operation: OP_SETACL,
            znode: Some(&r.path),
            znode_type: None,
            acl: Some(acl_string(&r.acl)),
            result,
        }),
        // A reconfig's txn is the new /zookeeper/config; a failed one has
        // no txn, so no path.
        WriteOp::Reconfig(_) => lines.push(Line {
            operation: OP_RECONFIG,
            znode: ok.then_some("/zookeeper/config"),
            znode_type: None,
            acl: None,
            result,
        }),
        WriteOp::Multi(ops) => return multi_events(who, ops, err, body),
        _ => {}
    }
    lines.iter().map(|l| line_event(who, l)).collect()
}

fn line_event(who: Who<'_>, l: &Line<'_>) -> Event {
    let session = session_hex(who.session);
    let user = users(who.auth);
    event(
        &Fields {
            session: Some(&session),
            user: user.as_deref(),
            ip: Some(who.ip),
            operation: Some(l.operation),
            znode: l.znode,
            znode_type: l.znode_type,
            acl: l.acl.as_deref(),
        },
        l.result,
    )
}

/// One sub-result of a multi reply: its type and, for a create, the path.
fn multi_results(body: &[u8]) -> Option<Vec<(i32, Option<String>)>> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    loop {
        let h = jute::MultiHeader::read(&mut r).ok()?;
        if h.done {
            return Some(out);
        }
        let path = match h.op {
            op::CREATE => Some(r.ustring().ok()??),
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                let p = r.ustring().ok()??;
                jute::Stat::read(&mut r).ok()?;
                Some(p)
            }
            op::SET_DATA => {
                jute::Stat::read(&mut r).ok()?;
                None
            }
            op::ERROR => {
                r.int().ok()?;
                None
            }
            _ => None,
        };
        out.push((h.op, path));
    }
}

/// `AuditHelper.logMultiOperation`: each create, delete and setData of a
/// multi that succeeded, in order (a create's type is looked up by its
/// created path among the request's create paths, so a sequential one
/// has none, as in ZooKeeper); one `multiOperation` failure for a multi
/// that failed.
fn multi_events(who: Who<'_>, ops: &[WriteOp], err: i32, body: &[u8]) -> Vec<Event> {
    let failure = Line {
        operation: OP_MULTI,
        znode: None,
        znode_type: None,
        acl: None,
        result: Outcome::Failure,
    };
    let results = match (err, multi_results(body)) {
        (0, Some(r)) => r,
        _ => return vec![line_event(who, &failure)],
    };
    if results.iter().any(|(t, _)| *t == op::ERROR) || results.len() != ops.len() {
        return vec![line_event(who, &failure)];
    }
    let mode_of = |path: &str| {
        ops.iter().find_map(|o| match o {
            WriteOp::Create { op: c, req } if *c != op::CREATE_TTL && req.path == path => {
                create_mode(req.flags)
            }
            _ => None,
        })
    };
    let mut out = Vec::new();
    for (o, (_, created)) in ops.iter().zip(&results) {
        let l = match o {
            WriteOp::Create { req, .. } => {
                let path = created.as_deref().unwrap_or(&req.path);
                Line {
                    operation: OP_CREATE,
                    znode: Some(path),
                    znode_type: mode_of(path),
                    acl: None,
                    result: Outcome::Success,
                }
            }
            WriteOp::Delete(r) => Line {
                operation: OP_DELETE,
                znode: Some(&r.path),
                znode_type: None,
                acl: None,
                result: Outcome::Success,
            },
            WriteOp::SetData(r) => Line {
                operation: OP_SETDATA,
                znode: Some(&r.path),
                znode_type: None,
                acl: None,
                result: Outcome::Success,
            },
            _ => continue,
        };
        out.push(line_event(who, &l));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jute::{CreateTtlRequest, DeleteRequest, SetAclRequest, SetDataRequest};
    use bytes::BytesMut;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    fn create(path: &str, flags: i32) -> WriteOp {
        WriteOp::Create {
            op: op::CREATE,
            req: CreateTtlRequest {
                path: path.into(),
                flags,
                ttl: -1,
                ..Default::default()
            },
        }
    }

    fn path_body(p: &str) -> Vec<u8> {
        let mut b = BytesMut::new();
        jute::PathResponse { path: p.into() }.write(&mut b);
        b.to_vec()
    }

    #[test]
    fn users_in_zookeepers_set_order() {
        // As ZooKeeper 3.8 wrote them for kazoo's digest alice:secret.
        let auth = [
            id("ip", "127.0.0.1"),
            id("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="),
        ];
        assert_eq!(users(&auth).as_deref(), Some("alice,127.0.0.1"));
        assert_eq!(java_string_hash("digest"), -1331913276);
        assert_eq!(users(&[]), None);
        assert_eq!(users(&[id("super", "")]), None);
    }

    #[test]
    fn fields_in_zookeepers_order_tab_separated() {
        let auth = [
            id("ip", "127.0.0.1"),
            id("digest", "alice:XyZ="),
            id("super", ""),
        ];
        let who = Who {
            session: 0x1000a2b3c4d0000,
            auth: &auth,
            ip: "127.0.0.1",
        };
        let e = write_events(who, &create("/a", 1), 0, &path_body("/a"));
        assert_eq!(
            e,
            vec![Event {
                line: "session=0x1000a2b3c4d0000\tuser=alice,127.0.0.1\tip=127.0.0.1\toperation=create\tznode=/a\tznode_type=ephemeral\tresult=success".into(),
                result: Outcome::Success,
            }]
        );
    }

    #[test]
    fn failures_name_the_requested_path() {
        let auth = [id("ip", "10.0.0.1")];
        let who = Who {
            session: 5,
            auth: &auth,
            ip: "10.0.0.1",
        };
        let e = write_events(who, &create("/s-", 2), -110, &[]);
        assert_eq!(e[0].line, "session=0x5\tuser=10.0.0.1\tip=10.0.0.1\toperation=create\tznode=/s-\tznode_type=persistent_sequential\tresult=failure");
        assert_eq!(e[0].result, Outcome::Failure);
        let acl = vec![
            Acl {
                perms: 31,
                id: id("digest", "alice:h="),
            },
            Acl {
                perms: 1,
                id: id("world", "anyone"),
            },
        ];
        let set = WriteOp::SetAcl(SetAclRequest {
            path: "/x".into(),
            acl,
            version: -1,
        });
        let e = write_events(who, &set, -102, &[]);
        assert_eq!(e[0].line, "session=0x5\tuser=10.0.0.1\tip=10.0.0.1\toperation=setAcl\tznode=/x\tacl=digest:alice:h=:cdrwaworld:anyone:r\tresult=failure");
        let del = WriteOp::Delete(DeleteRequest {
            path: "/d".into(),
            version: 3,
        });
        assert_eq!(
            write_events(who, &del, 0, &[])[0].line,
            "session=0x5\tuser=10.0.0.1\tip=10.0.0.1\toperation=delete\tznode=/d\tresult=success"
        );
    }

    #[test]
    fn not_audited_ops() {
        let who = Who {
            session: 1,
            auth: &[],
            ip: "1.2.3.4",
        };
        let ttl = WriteOp::Create {
            op: op::CREATE_TTL,
            req: CreateTtlRequest {
                path: "/t".into(),
                flags: 5,
                ttl: 10,
                ..Default::default()
            },
        };
        assert!(write_events(who, &ttl, 0, &path_body("/t")).is_empty());
        let check = WriteOp::Check(jute::CheckVersionRequest {
            path: "/c".into(),
            version: 1,
        });
        assert!(write_events(who, &check, 0, &[]).is_empty());
        // No user: the field is left out.
        let e = write_events(who, &create("/n", 0), 0, &path_body("/n"));
        assert_eq!(
            e[0].line,
            "session=0x1\tip=1.2.3.4\toperation=create\tznode=/n\tznode_type=persistent\tresult=success"
        );
    }

    fn multi_body(results: &[(i32, &str)]) -> Vec<u8> {
        let mut b = BytesMut::new();
        for (t, p) in results {
            jute::MultiHeader {
                op: *t,
                done: false,
                err: if *t == op::ERROR { -101 } else { 0 },
            }
            .write(&mut b);
            match *t {
                op::CREATE => jute::PathResponse { path: (*p).into() }.write(&mut b),
                op::SET_DATA => jute::Stat::default().write(&mut b),
                op::ERROR => jute::ErrorResponse { err: -101 }.write(&mut b),
                _ => {}
            }
        }
        jute::MultiHeader {
            op: -1,
            done: true,
            err: -1,
        }
        .write(&mut b);
        b.to_vec()
    }

    #[test]
    fn multi_logs_each_op_or_one_failure() {
        let auth = [id("ip", "127.0.0.1"), id("digest", "bob:h")];
        let who = Who {
            session: 0xab,
            auth: &auth,
            ip: "127.0.0.1",
        };
        let ops = vec![
            create("/m", 0),
            create("/q-", 2),
            WriteOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: None,
                version: -1,
            }),
            WriteOp::Check(jute::CheckVersionRequest {
                path: "/m".into(),
                version: 1,
            }),
            WriteOp::Delete(DeleteRequest {
                path: "/m".into(),
                version: -1,
            }),
        ];
        let body = multi_body(&[
            (op::CREATE, "/m"),
            (op::CREATE, "/q-0000000001"),
            (op::SET_DATA, ""),
            (op::CHECK, ""),
            (op::DELETE, ""),
        ]);
        let lines: Vec<String> = write_events(who, &WriteOp::Multi(ops.clone()), 0, &body)
            .into_iter()
            .map(|e| e.line)
            .collect();
        let p = "session=0xab\tuser=127.0.0.1,bob\tip=127.0.0.1";
        assert_eq!(
            lines,
            vec![
                format!("{p}\toperation=create\tznode=/m\tznode_type=persistent\tresult=success"),
                format!("{p}\toperation=create\tznode=/q-0000000001\tresult=success"),
                format!("{p}\toperation=setData\tznode=/m\tresult=success"),
                format!("{p}\toperation=delete\tznode=/m\tresult=success"),
            ]
        );
        let failed = multi_body(&[
            (op::ERROR, ""),
            (op::ERROR, ""),
            (op::ERROR, ""),
            (op::ERROR, ""),
            (op::ERROR, ""),
        ]);
        let e = write_events(who, &WriteOp::Multi(ops), 0, &failed);
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].line,
            format!("{p}\toperation=multiOperation\tresult=failure")
        );
    }

    #[test]
    fn closed_sessions_wait_for_the_version_without_their_nodes() {
        use crate::data::txn::{Txn, TxnBody};
        let close = |zxid: i64, session: i64, paths: &[&str]| Txn {
            hdr: jute::TxnHeader {
                client_id: session,
                cxid: 0,
                zxid,
                time: 0,
                op: op::CLOSE_SESSION,
            },
            body: TxnBody::CloseSession(jute::CloseSessionTxn {
                paths_to_delete: paths.iter().map(|p| p.to_string()).collect(),
            }),
        };
        let mut c = ClosedSessions::default();
        let txns = [close(5, 0x10, &["/e1", "/e2"]), close(6, 0x11, &[])];
        c.appended(txns.iter());
        let mut v = crate::data::tree::Tree::new();
        v.last_zxid = 4;
        assert!(c.published(&v).is_empty(), "not published yet");
        v.last_zxid = 6;
        let lines: Vec<String> = c.published(&v).into_iter().map(|e| e.line).collect();
        let u = server_user();
        assert_eq!(
            lines,
            ["/e1", "/e2"].map(|p| format!(
                "session=0x10\tuser={u}\toperation=ephemeralZNodeDeletionOnSessionCloseOrExpire\tznode={p}\tresult=success"
            ))
        );
        assert!(c.published(&v).is_empty(), "each once");
    }

    #[test]
    fn server_and_ephemeral_events() {
        let u = server_user();
        assert_eq!(
            server_event(OP_START, Outcome::Success).line,
            format!("user={u}\toperation=serverStart\tresult=success")
        );
        assert_eq!(
            server_event(OP_STOP, Outcome::Invoked).line,
            format!("user={u}\toperation=serverStop\tresult=invoked")
        );
        assert_eq!(
            ephemeral_deleted("/e", 0x10, true).line,
            format!("session=0x10\tuser={u}\toperation=ephemeralZNodeDeletionOnSessionCloseOrExpire\tznode=/e\tresult=success")
        );
    }
}
