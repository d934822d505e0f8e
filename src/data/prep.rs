//! Prep: turning a client's write request into a txn
//! (ZooKeeper's `PrepRequestProcessor`).
//!
//! Validates paths, versions, ACLs and node kinds against the current tree,
//! in ZooKeeper's order, and produces the txn to log and apply. A request
//! that fails becomes an error txn: it still takes a zxid, as in ZooKeeper.
//! Pure logic: reads the tree, never changes it.

use crate::data::acl::{self, perms, AclPolicy};
use crate::data::tree::{self, NodeKind, Tree, TTL_MAX};
use crate::data::txn::{Txn, TxnBody};
use crate::protocol::jute::{self, op, Code, Id, TxnHeader};

/// A decoded write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// create, create2, createContainer, createTTL (`ttl` -1 unless TTL).
    Create {
        op: i32,
        req: jute::CreateTtlRequest,
    },
    Delete(jute::DeleteRequest),
    SetData(jute::SetDataRequest),
    SetAcl(jute::SetAclRequest),
    Check(jute::CheckVersionRequest),
    Multi(Vec<WriteOp>),
    Reconfig(jute::ReconfigRequest),
    /// An internal opcode sent by a client: refused with `err` in an error
    /// txn, whatever its body.
    Internal {
        op: i32,
        err: Code,
    },
    /// A request that could not be decoded: a marshalling error txn.
    Malformed {
        op: i32,
    },
}

impl WriteOp {
    /// Whether it creates an ephemeral node with create or create2, alone
    /// or in a multi: what a local session cannot do
    /// (`ZooKeeperServer.checkUpgradeSession`; createTTL and
    /// createContainer never make one).
    pub fn creates_ephemeral(&self) -> bool {
        match self {
            WriteOp::Create { op: o, req } => {
                (*o == op::CREATE || *o == op::CREATE2) && matches!(req.flags, 1 | 3)
            }
            WriteOp::Multi(ops) => ops.iter().any(WriteOp::creates_ephemeral),
            _ => false,
        }
    }

    pub fn op(&self) -> i32 {
        match self {
            WriteOp::Create { op, .. } => *op,
            WriteOp::Delete(_) => op::DELETE,
            WriteOp::SetData(_) => op::SET_DATA,
            WriteOp::SetAcl(_) => op::SET_ACL,
            WriteOp::Check(_) => op::CHECK,
            WriteOp::Multi(_) => op::MULTI,
            WriteOp::Reconfig(_) => op::RECONFIG,
            WriteOp::Internal { op, .. } => *op,
            WriteOp::Malformed { op } => *op,
        }
    }
}

/// What prep needs besides the request.
#[derive(Debug, Clone)]
pub struct PrepCtx<'a> {
    pub policy: &'a AclPolicy,
    /// `zookeeper.extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types: bool,
    pub session: i64,
    pub auth: &'a [Id],
    /// `zookeeper.enforceQuota`: hard quota limits fail writes.
    pub enforce_quota: bool,
    /// A reconfig's new config text, or the error its checks gave (the
    /// replica checks the membership rules, `quorum::reconfig`, which
    /// need the quorum's state); unused for other writes.
    pub reconfig: Result<&'a str, Code>,
}
/// `checkQuota` for a write that adds `count` nodes and `bytes` bytes at
/// `path`: QuotaExceeded over a hard limit; over a soft one, a log line
/// (at most one a second, as ZooKeeper's rate-limited logger).
fn check_quota(
    ctx: &PrepCtx<'_>,
    t: &Tree,
    path: &str,
    bytes: i64,
    count: i64,
) -> Result<(), Code> {
    if !ctx.enforce_quota {
        return Ok(());
    }
    let msg = match t.check_quota(path, bytes, count) {
        tree::QuotaCheck::Within => return Ok(()),
        tree::QuotaCheck::Soft(msg) => msg,
        tree::QuotaCheck::Hard { msg, .. } => {
            rate_limited_warn(&msg);
            count_quota_exceeded(path);
            return Err(Code::QuotaExceeded);
        }
    };
    rate_limited_warn(&msg);
    Ok(())
}

/// Writes refused over a hard quota, by top-level namespace (ZooKeeper's
/// `quota_exceeded_error_per_namespace` counter set): process-wide, for
/// `/metrics`; written on the sequencer, rarely.
static QUOTA_EXCEEDED: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn count_quota_exceeded(path: &str) {
    let ns = path.split('/').nth(1).unwrap_or_default().to_string();
    let mut m = QUOTA_EXCEEDED.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(ns).or_default() += 1;
}

/// The writes refused over a hard quota so far, by namespace.
pub fn quota_exceeded_counts() -> Vec<(String, u64)> {
    let m = QUOTA_EXCEEDED.lock().unwrap_or_else(|p| p.into_inner());
    m.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

fn rate_limited_warn(msg: &str) {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let due = LAST.with(|l| match l.get() {
        Some(t) if now.duration_since(t) < std::time::Duration::from_secs(1) => false,
        _ => {
            l.set(Some(now));
            true
        }
    });
    if due {
        tracing::warn!("{msg}");
    }
}

fn is_special(path: &str) -> bool {
    matches!(path, "/" | tree::ZOOKEEPER | tree::QUOTA | tree::CONFIG)
}

/// The parent of `path` for create/delete: `lastSlash` and NUL rules only.
fn parent_for(path: &str) -> Result<&str, Code> {
    match path.rfind('/') {
        None => Err(Code::BadArguments),
        Some(_) if path.contains('\0') => Err(Code::BadArguments),
        Some(0) => Ok("/"),
        Some(i) => Ok(&path[..i]),
    }
}

fn node<'t>(t: &'t Tree, path: &str) -> Result<&'t tree::Node, Code> {
    t.get(path).ok_or(Code::NoNode)
}

fn check_version(current: i32, expected: i32) -> Result<i32, Code> {
    if expected != -1 && expected != current {
        return Err(Code::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn valid_path(path: &str) -> Result<(), Code> {
    if crate::protocol::path::valid(path) {
        Ok(())
    } else {
        Err(Code::BadArguments)
    }
}

/// Preps one (sub-)request against `t`; the txn body and its op type.
fn prep_one(ctx: &PrepCtx<'_>, t: &Tree, w: &WriteOp) -> Result<(i32, TxnBody), Code> {
    match w {
        WriteOp::Create { op: opc, req } => {
            let flags = req.flags;
            if !(0..=6).contains(&flags) {
                return Err(Code::BadArguments);
            }
            let is_ttl = flags == 5 || flags == 6;
            let sequential = matches!(flags, 2 | 3 | 6);
            let ephemeral = matches!(flags, 1 | 3);
            if is_ttl && !ctx.extended_types {
                return Err(Code::Unimplemented);
            }
            if is_ttl {
                if req.ttl <= 0 || req.ttl > TTL_MAX {
                    return Err(Code::BadArguments);
                }
            } else if req.ttl >= 0 {
                return Err(Code::BadArguments);
            }
            let parent_path = parent_for(&req.path)?;
            let acl = acl::fixup(ctx.policy, &req.acl, ctx.auth)?;
            let parent = node(t, parent_path)?;
            acl::check(ctx.policy, &parent.acl, perms::CREATE, ctx.auth)?;
            let mut path = req.path.clone();
            if sequential {
                path.push_str(&format!("{:010}", parent.cversion));
            }
            valid_path(&path)?;
            if t.get(&path).is_some() {
                return Err(Code::NodeExists);
            }
            if let NodeKind::Ephemeral(_) = parent.kind() {
                return Err(Code::NoChildrenForEphemerals);
            }
            let parent_cversion = parent.cversion.wrapping_add(1);
            let len = req.data.as_ref().map_or(0, |d| d.len() as i64);
            check_quota(ctx, t, &path, len, 1)?;
            let data = req.data.clone();
            let body = match *opc {
                op::CREATE_CONTAINER => TxnBody::CreateContainer(jute::CreateContainerTxn {
                    path,
                    data,
                    acl,
                    parent_cversion,
                }),
                op::CREATE_TTL => TxnBody::CreateTtl(jute::CreateTtlTxn {
                    path,
                    data,
                    acl,
                    parent_cversion,
                    ttl: req.ttl,
                }),
                _ => TxnBody::Create(jute::CreateTxn {
                    path,
                    data,
                    acl,
                    ephemeral,
                    parent_cversion,
                }),
            };
            Ok((*opc, body))
        }
        WriteOp::Delete(req) => {
            let path = &req.path;
            let parent_path = parent_for(path)?;
            if is_special(path) {
                return Err(Code::BadArguments);
            }
            let parent = node(t, parent_path)?;
            acl::check(ctx.policy, &parent.acl, perms::DELETE, ctx.auth)?;
            let n = node(t, path)?;
            check_version(n.version, req.version)?;
            if n.num_children > 0 {
                return Err(Code::NotEmpty);
            }
            Ok((
                op::DELETE,
                TxnBody::Delete(jute::DeleteTxn { path: path.clone() }),
            ))
        }
        WriteOp::SetData(req) => {
            valid_path(&req.path)?;
            let n = node(t, &req.path)?;
            acl::check(ctx.policy, &n.acl, perms::WRITE, ctx.auth)?;
            let len = req.data.as_ref().map_or(0, |d| d.len() as i64);
            check_quota(ctx, t, &req.path, len - n.data_len() as i64, 0)?;
            let version = check_version(n.version, req.version)?;
            Ok((
                op::SET_DATA,
                TxnBody::SetData(jute::SetDataTxn {
                    path: req.path.clone(),
                    data: req.data.clone(),
                    version,
                }),
            ))
        }
        WriteOp::SetAcl(req) => {
            valid_path(&req.path)?;
            let acl = acl::fixup(ctx.policy, &req.acl, ctx.auth)?;
            let n = node(t, &req.path)?;
            acl::check(ctx.policy, &n.acl, perms::ADMIN, ctx.auth)?;
            let version = check_version(n.aversion, req.version)?;
            Ok((
                op::SET_ACL,
                TxnBody::SetAcl(jute::SetAclTxn {
                    path: req.path.clone(),
                    acl,
                    version,
                }),
            ))
        }
        WriteOp::Check(req) => {
            valid_path(&req.path)?;
            let n = node(t, &req.path)?;
            acl::check(ctx.policy, &n.acl, perms::READ, ctx.auth)?;
            let version = check_version(n.version, req.version)?;
            Ok((
                op::CHECK,
                TxnBody::Check(jute::CheckVersionTxn {
                    path: req.path.clone(),
                    version,
                }),
            ))
        }
        WriteOp::Reconfig(_) => Err(Code::MarshallingError),
        WriteOp::Internal { err, .. } => Err(*err),
        WriteOp::Malformed { .. } => Err(Code::MarshallingError),
        WriteOp::Multi(_) => Err(Code::MarshallingError),
    }
}

/// Preps a client write into the txn with `zxid`.
pub fn prep(ctx: &PrepCtx<'_>, t: &Tree, cxid: i32, zxid: i64, time: i64, w: &WriteOp) -> Txn {
    let mut hdr = TxnHeader {
        client_id: ctx.session,
        cxid,
        zxid,
        time,
        op: w.op(),
    };
    let body = match w {
        WriteOp::Multi(ops) => {
            // Later ops see the effect of earlier ones: apply them to a
            // scratch copy of the tree (O(1) to clone).
            let mut scratch = t.clone();
            let mut subs: Vec<(i32, TxnBody)> = Vec::with_capacity(ops.len());
            let mut failed = false;
            for sub in ops {
                if failed {
                    subs.push((op::ERROR, error(Code::RuntimeInconsistency)));
                    continue;
                }
                match prep_one(ctx, &scratch, sub) {
                    Ok((sub_op, body)) => {
                        let one = Txn {
                            hdr: TxnHeader {
                                op: sub_op,
                                ..hdr.clone()
                            },
                            body,
                        };
                        scratch.apply(&one, &mut Vec::new());
                        subs.push((sub_op, one.body));
                    }
                    Err(code) => {
                        failed = true;
                        subs.push((op::ERROR, error(code)));
                    }
                }
            }
            if failed {
                // ZooKeeper rolls back: earlier ops report Ok (0) and later
                // ones RuntimeInconsistency, all as error sub-txns.
                let fail_at = subs.iter().position(|(o, _)| *o == op::ERROR).unwrap_or(0);
                for (i, s) in subs.iter_mut().enumerate() {
                    if i < fail_at {
                        *s = (op::ERROR, error(Code::Ok));
                    }
                }
            }
            TxnBody::Multi(subs)
        }
        WriteOp::Reconfig(_) => match prep_reconfig(ctx, t) {
            Ok(body) => body,
            Err(code) => {
                hdr.op = op::ERROR;
                error(code)
            }
        },
        _ => match prep_one(ctx, t, w) {
            Ok((_, body)) => body,
            Err(code) => {
                hdr.op = op::ERROR;
                error(code)
            }
        },
    };
    Txn { hdr, body }
}

/// A reconfig (`pRequest2Txn`'s case, in its order): the feature, the
/// role and the next membership's checks (done by the caller, in
/// `ctx.reconfig`), then WRITE on `/zookeeper/config` (only a superuser
/// or `skipACL` has it). The txn is a SetData of the new config text with
/// version -1.
fn prep_reconfig(ctx: &PrepCtx<'_>, t: &Tree) -> Result<TxnBody, Code> {
    let next = ctx.reconfig?;
    let n = node(t, tree::CONFIG)?;
    acl::check(ctx.policy, &n.acl, perms::WRITE, ctx.auth)?;
    Ok(TxnBody::SetData(jute::SetDataTxn {
        path: tree::CONFIG.to_string(),
        data: Some(bytes::Bytes::copy_from_slice(next.as_bytes())),
        version: -1,
    }))
}

/// A txn that only carries an error (a request that fails before prep,
/// such as one from an expired session).
pub fn error_txn(session: i64, cxid: i32, zxid: i64, time: i64, code: Code) -> Txn {
    Txn {
        hdr: TxnHeader {
            client_id: session,
            cxid,
            zxid,
            time,
            op: op::ERROR,
        },
        body: error(code),
    }
}

fn error(code: Code) -> TxnBody {
    TxnBody::Error(jute::ErrorTxn { err: code.as_i32() })
}

/// `zookeeper.enableEagerACLCheck`: the ACL check a server makes before a
/// write is proposed (`ZooKeeperServer.authWriteRequest`). Only NoAuth and
/// InvalidACL stop the request; a missing node or bad path is left for prep.
pub fn eager_acl_check(policy: &AclPolicy, t: &Tree, auth: &[Id], w: &WriteOp) -> Result<(), Code> {
    let (path, perm, acl) = match w {
        WriteOp::Create {
            op: op::CREATE | op::CREATE2,
            req,
        } => (parent_for(&req.path).ok(), perms::CREATE, Some(&req.acl)),
        WriteOp::Delete(r) => (parent_for(&r.path).ok(), perms::DELETE, None),
        WriteOp::SetData(r) => (Some(r.path.as_str()), perms::WRITE, None),
        WriteOp::SetAcl(r) => (Some(r.path.as_str()), perms::ADMIN, Some(&r.acl)),
        _ => (None, perms::ALL, None),
    };
    if let Some(acl) = acl {
        acl::fixup(policy, acl, auth)?;
    }
    if let Some(n) = path.and_then(|p| t.get(p)) {
        acl::check(policy, &n.acl, perm, auth)?;
    }
    Ok(())
}

/// The txn that opens a session.
pub fn create_session(session: i64, timeout: i32, zxid: i64, time: i64) -> Txn {
    Txn {
        hdr: TxnHeader {
            client_id: session,
            cxid: 0,
            zxid,
            time,
            op: op::CREATE_SESSION,
        },
        body: TxnBody::CreateSession(jute::CreateSessionTxn { time_out: timeout }),
    }
}

/// The txn that closes a session and deletes its ephemerals.
pub fn close_session(t: &Tree, session: i64, cxid: i32, zxid: i64, time: i64) -> Txn {
    Txn {
        hdr: TxnHeader {
            client_id: session,
            cxid,
            zxid,
            time,
            op: op::CLOSE_SESSION,
        },
        body: TxnBody::CloseSession(jute::CloseSessionTxn {
            paths_to_delete: t.ephemerals_of(session),
        }),
    }
}

/// The txn the container manager submits to delete an empty container or
/// an expired TTL node (`deleteContainer`).
pub fn delete_container(t: &Tree, path: &str, zxid: i64, time: i64) -> Option<Txn> {
    let n = t.get(path)?;
    if n.num_children > 0 || n.kind() == NodeKind::Persistent {
        return None;
    }
    Some(Txn {
        hdr: TxnHeader {
            client_id: 0,
            cxid: 0,
            zxid,
            time,
            op: op::DELETE_CONTAINER,
        },
        body: TxnBody::Delete(jute::DeleteTxn {
            path: path.to_string(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jute::{CreateTtlRequest, DeleteRequest, SetDataRequest};
    use bytes::Bytes;

    fn ctx(policy: &AclPolicy) -> PrepCtx<'_> {
        PrepCtx {
            policy,
            extended_types: false,
            enforce_quota: false,
            session: 0x55,
            auth: &[],
            reconfig: Err(Code::ReconfigDisabled),
        }
    }

    fn create(path: &str, flags: i32) -> WriteOp {
        WriteOp::Create {
            op: op::CREATE,
            req: CreateTtlRequest {
                path: path.into(),
                data: Some(Bytes::from_static(b"d")),
                acl: tree::open_acl(),
                flags,
                ttl: -1,
            },
        }
    }

    fn run(t: &mut Tree, zxid: i64, w: &WriteOp) -> crate::data::tree::ApplyResult {
        let p = AclPolicy::default();
        let txn = prep(&ctx(&p), t, 1, zxid, 1000, w);
        t.apply(&txn, &mut Vec::new())
    }

    #[test]
    fn hard_quota_limits_fail_writes_when_enforced() {
        let p = AclPolicy::default();
        let enforcing = PrepCtx {
            enforce_quota: true,
            ..ctx(&p)
        };
        let mut t = Tree::new();
        let mut zxid = 0;
        let mut go = |t: &mut Tree, c: &PrepCtx<'_>, w: &WriteOp| {
            zxid += 1;
            let txn = prep(c, t, 1, zxid, 1000, w);
            t.apply(&txn, &mut Vec::new()).err
        };
        let with = |path: &str, data: &'static [u8]| WriteOp::Create {
            op: op::CREATE,
            req: CreateTtlRequest {
                path: path.into(),
                data: Some(Bytes::from_static(data)),
                acl: tree::open_acl(),
                flags: 0,
                ttl: -1,
            },
        };
        let set = |path: &str, data: &'static [u8]| {
            WriteOp::SetData(SetDataRequest {
                path: path.into(),
                data: Some(Bytes::from_static(data)),
                version: -1,
            })
        };
        // /a holds 3 nodes (itself, b, c) under countHardLimit=3 and
        // byteHardLimit=10 (3 bytes so far); /s only a soft count limit.
        for w in [
            create("/a", 0),
            create("/a/b", 0),
            create("/s", 0),
            create("/zookeeper/quota/a", 0),
            create("/zookeeper/quota/s", 0),
            with(
                "/zookeeper/quota/a/zookeeper_limits",
                b"count=-1,bytes=-1;countHardLimit=3,byteHardLimit=10",
            ),
            with("/zookeeper/quota/a/zookeeper_stats", b"count=0,bytes=0"),
            with("/zookeeper/quota/s/zookeeper_limits", b"count=1,bytes=-1"),
            with("/zookeeper/quota/s/zookeeper_stats", b"count=0,bytes=0"),
            create("/a/c", 0),
        ] {
            assert_eq!(go(&mut t, &enforcing, &w), 0, "{w:?}");
        }
        let quota = Code::QuotaExceeded.as_i32();
        assert_eq!(go(&mut t, &enforcing, &create("/a/d", 0)), quota);
        assert_eq!(go(&mut t, &enforcing, &create("/a/b/deep", 0)), quota);
        // Bytes: 3 held; growing /a/b by 7 reaches 10, by 8 passes it.
        assert_eq!(go(&mut t, &enforcing, &set("/a/b", b"12345678")), 0);
        assert_eq!(go(&mut t, &enforcing, &set("/a/b", b"123456789")), quota);
        // Shrinking is always fine; a failed write changed nothing.
        assert_eq!(go(&mut t, &enforcing, &set("/a/b", b"")), 0);
        assert!(t.get("/a/d").is_none());
        // A multi whose second create passes the limit fails whole: its
        // ops count against the quota in order (ZooKeeper checks each
        // against the tree before the multi, and would let both in).
        let del = WriteOp::Delete(DeleteRequest {
            path: "/a/c".into(),
            version: -1,
        });
        assert_eq!(go(&mut t, &enforcing, &del), 0);
        let m = WriteOp::Multi(vec![create("/a/e", 0), create("/a/f", 0)]);
        assert_eq!(go(&mut t, &enforcing, &m), quota);
        assert!(t.get("/a/e").is_none());
        assert_eq!(go(&mut t, &enforcing, &create("/a/e", 0)), 0);
        // Soft limits and paths without a quota never fail.
        assert_eq!(go(&mut t, &enforcing, &create("/s/x", 0)), 0);
        assert_eq!(go(&mut t, &enforcing, &create("/s/y", 0)), 0);
        assert_eq!(go(&mut t, &enforcing, &create("/free", 0)), 0);
        // Without zookeeper.enforceQuota nothing is enforced.
        assert_eq!(go(&mut t, &ctx(&p), &create("/a/d", 0)), 0);
    }

    #[test]
    fn create_stats_and_sequence_names() {
        let mut t = Tree::new();
        let r = run(&mut t, 1, &create("/a", 0));
        assert_eq!((r.err, r.path.as_str()), (0, "/a"));
        let r = run(&mut t, 2, &create("/a/s-", 2));
        assert_eq!(r.path, "/a/s-0000000000");
        let r = run(&mut t, 3, &create("/a/s-", 2));
        assert_eq!(r.path, "/a/s-0000000001");
        let a = t.get("/a").unwrap().stat();
        assert_eq!((a.cversion, a.pzxid, a.num_children, a.czxid), (2, 3, 2, 1));
        assert_eq!(
            t.get("/a").unwrap().cversion,
            2,
            "stored cversion counts creates"
        );
        // Errors still consume the zxid and change nothing.
        let r = run(&mut t, 4, &create("/a", 0));
        assert_eq!(r.err, Code::NodeExists.as_i32());
        assert_eq!(t.last_zxid, 4);
        assert_eq!(
            run(&mut t, 5, &create("/x/y", 0)).err,
            Code::NoNode.as_i32()
        );
        assert_eq!(
            run(&mut t, 6, &create("/a/", 0)).err,
            Code::BadArguments.as_i32()
        );
        assert_eq!(run(&mut t, 7, &create("/a/e", 1)).err, 0);
        assert_eq!(
            run(&mut t, 8, &create("/a/e/c", 0)).err,
            Code::NoChildrenForEphemerals.as_i32()
        );
        assert_eq!(
            run(&mut t, 9, &create("/t", 5)).err,
            Code::Unimplemented.as_i32()
        );
        assert_eq!(
            run(&mut t, 10, &create("/f", 9)).err,
            Code::BadArguments.as_i32()
        );
        assert_eq!(t.ephemerals_of(0x55), vec!["/a/e".to_string()]);
    }

    #[test]
    fn delete_and_set_rules() {
        let mut t = Tree::new();
        run(&mut t, 1, &create("/a", 0));
        run(&mut t, 2, &create("/a/b", 0));
        let del = |p: &str, v| {
            WriteOp::Delete(DeleteRequest {
                path: p.into(),
                version: v,
            })
        };
        assert_eq!(run(&mut t, 3, &del("/a", -1)).err, Code::NotEmpty.as_i32());
        assert_eq!(
            run(&mut t, 4, &del("/a/b", 3)).err,
            Code::BadVersion.as_i32()
        );
        assert_eq!(
            run(&mut t, 5, &del("/zookeeper", -1)).err,
            Code::BadArguments.as_i32()
        );
        assert_eq!(run(&mut t, 6, &del("/a/b", 0)).err, 0);
        let a = t.get("/a").unwrap().stat();
        assert_eq!(
            (a.cversion, a.pzxid),
            (2, 6),
            "a delete shows as a child change"
        );
        assert_eq!(
            t.get("/a").unwrap().cversion,
            1,
            "and keeps the stored cversion"
        );
        let set = WriteOp::SetData(SetDataRequest {
            path: "/a".into(),
            data: None,
            version: 0,
        });
        let r = run(&mut t, 7, &set);
        assert_eq!(r.stat.unwrap().version, 1);
        assert_eq!(run(&mut t, 8, &set).err, Code::BadVersion.as_i32());
    }

    #[test]
    fn multi_is_all_or_nothing() {
        let mut t = Tree::new();
        let ok = WriteOp::Multi(vec![create("/m", 0), create("/m/c", 0)]);
        let r = run(&mut t, 1, &ok);
        assert_eq!(r.err, 0);
        assert_eq!(r.multi.len(), 2);
        assert!(t.get("/m/c").is_some());
        let bad = WriteOp::Multi(vec![create("/n", 0), create("/m", 0), create("/o", 0)]);
        let r = run(&mut t, 2, &bad);
        assert_eq!(r.err, Code::NodeExists.as_i32());
        let errs: Vec<i32> = r.multi.iter().map(|s| s.err).collect();
        assert_eq!(errs, vec![0, -110, -2]);
        assert!(t.get("/n").is_none());
    }
}

#[cfg(test)]
mod model_tests {
    //! The tree, through prep and apply, against a plain map as the model.
    use super::*;
    use crate::protocol::jute::{CreateTtlRequest, DeleteRequest, SetDataRequest};
    use bytes::Bytes;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Create(usize, u8, bool),
        Delete(usize, i32),
        Set(usize, u8, i32),
    }

    // A small path space so that ops collide: /a, /b, /a/a, /a/b, /b/a, ...
    const PATHS: [&str; 7] = ["/a", "/b", "/a/a", "/a/b", "/b/a", "/a/a/a", "/b/a/b"];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..PATHS.len(), any::<u8>(), any::<bool>()).prop_map(|(p, d, s)| Op::Create(p, d, s)),
            (0..PATHS.len(), -1..3i32).prop_map(|(p, v)| Op::Delete(p, v)),
            (0..PATHS.len(), any::<u8>(), -1..3i32).prop_map(|(p, d, v)| Op::Set(p, d, v)),
        ]
    }

    #[derive(Debug, Clone, PartialEq)]
    struct M {
        data: Vec<u8>,
        version: i32,
        czxid: i64,
        mzxid: i64,
        creates: i32,
    }

    fn parent(p: &str) -> &str {
        match p.rfind('/') {
            Some(0) => "/",
            Some(i) => &p[..i],
            None => "/",
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn tree_matches_a_simple_model(ops in proptest::collection::vec(op(), 1..60)) {
            let policy = AclPolicy::default();
            let ctx = PrepCtx { policy: &policy, extended_types: false, session: 7, auth: &[], enforce_quota: false, reconfig: Err(Code::ReconfigDisabled) };
            let mut t = Tree::new();
            let mut model: BTreeMap<String, M> = BTreeMap::new();
            let mut seq_next: BTreeMap<String, i32> = BTreeMap::new();
            for (i, o) in ops.iter().enumerate() {
                let zxid = i as i64 + 1;
                let (w, expect): (WriteOp, Result<(), Code>) = match o {
                    Op::Create(p, d, seq) => {
                        let path = PATHS[*p].to_string();
                        let par = parent(&path).to_string();
                        let par_ok = par == "/" || model.contains_key(&par);
                        let name = if *seq {
                            format!("{path}{:010}", seq_next.get(&par).copied().unwrap_or(0))
                        } else {
                            path.clone()
                        };
                        let e = if !par_ok { Err(Code::NoNode) }
                            else if model.contains_key(&name) { Err(Code::NodeExists) }
                            else { Ok(()) };
                        if e.is_ok() {
                            model.insert(name, M { data: vec![*d], version: 0, czxid: zxid, mzxid: zxid, creates: 0 });
                            *seq_next.entry(par.clone()).or_insert(0) += 1;
                            if let Some(pm) = model.get_mut(&par) { pm.creates += 1; }
                        }
                        let req = CreateTtlRequest { path, data: Some(Bytes::from(vec![*d])), acl: crate::data::tree::open_acl(), flags: if *seq { 2 } else { 0 }, ttl: -1 };
                        (WriteOp::Create { op: op::CREATE, req }, e)
                    }
                    Op::Delete(p, v) => {
                        let path = PATHS[*p].to_string();
                        let par = parent(&path).to_string();
                        let has_children = model.keys().any(|k| k.starts_with(&format!("{path}/")));
                        let e = if par != "/" && !model.contains_key(&par) { Err(Code::NoNode) }
                            else { match model.get(&path) {
                                None => Err(Code::NoNode),
                                Some(m) if *v != -1 && *v != m.version => Err(Code::BadVersion),
                                Some(_) if has_children => Err(Code::NotEmpty),
                                Some(_) => Ok(()),
                            } };
                        if e.is_ok() {
                            model.remove(&path);
                            // A node made again starts a new cversion.
                            seq_next.remove(&path);
                        }
                        (WriteOp::Delete(DeleteRequest { path, version: *v }), e)
                    }
                    Op::Set(p, d, v) => {
                        let path = PATHS[*p].to_string();
                        let e = match model.get_mut(&path) {
                            None => Err(Code::NoNode),
                            Some(m) if *v != -1 && *v != m.version => Err(Code::BadVersion),
                            Some(m) => { m.version += 1; m.data = vec![*d]; m.mzxid = zxid; Ok(()) }
                        };
                        (WriteOp::SetData(SetDataRequest { path, data: Some(Bytes::from(vec![*d])), version: *v }), e)
                    }
                };
                let txn = prep(&ctx, &t, 1, zxid, 0, &w);
                let r = t.apply(&txn, &mut Vec::new());
                let got = if r.err == 0 { Ok(()) } else { Err(r.err) };
                prop_assert_eq!(got, expect.map_err(|c| c.as_i32()), "op {} {:?}", i, o);
                prop_assert_eq!(t.last_zxid, zxid);
                // The whole tree agrees with the model after every op.
                for (path, m) in &model {
                    let n = t.get(path);
                    prop_assert!(n.is_some(), "{} missing", path);
                    let n = n.unwrap();
                    let st = n.stat();
                    prop_assert_eq!(n.data(), Some(m.data.as_slice()));
                    prop_assert_eq!((st.version, st.czxid, st.mzxid), (m.version, m.czxid, m.mzxid));
                    let kids: Vec<String> = model.keys()
                        .filter(|k| parent(k) == path.as_str() && *k != path)
                        .map(|k| k[path.len() + 1..].to_string()).collect();
                    prop_assert_eq!(t.children(path).unwrap(), kids);
                    prop_assert_eq!(st.cversion, 2 * m.creates - st.num_children);
                }
                prop_assert_eq!(t.node_count(), model.len() + 4);
                // The digest kept as nodes change is the whole tree's.
                prop_assert_eq!(t.digest(), crate::data::tree::tree_digest(&t));
            }
        }
    }
}
