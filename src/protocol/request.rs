//! Client requests: decoding a packet into what it asks for, answering the
//! reads from a tree version, and encoding replies.
//!
//! Owns the mapping of opcodes to records (`ZooDefs.OpCode`), multi
//! framing, and the read side of `FinalRequestProcessor`. Pure logic: a read
//! takes the tree version and the shard's watch table, and returns the
//! reply's error code and body.

use crate::data::acl::{self, perms, AclPolicy};
use crate::data::prep::WriteOp;
use crate::data::tree::Tree;
use crate::data::watch::{ConnId, Mode, Table, Watches};
use crate::protocol::jute::{self, op, Code, Id, Jute, JuteError, JuteWrite, Reader};
use bytes::{Bytes, BytesMut};

/// A read sub-op of multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiReadOp {
    GetChildren(String),
    GetData(String),
}

/// What a client packet asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping,
    Auth(jute::AuthPacket),
    CloseSession,
    Write(WriteOp),
    Exists(jute::PathWatchRequest),
    GetData(jute::PathWatchRequest),
    GetAcl(String),
    GetChildren(jute::PathWatchRequest),
    GetChildren2(jute::PathWatchRequest),
    GetAllChildrenNumber(String),
    GetEphemerals(String),
    MultiRead(Vec<MultiReadOp>),
    Sync(String),
    SetWatches(jute::SetWatches2),
    CheckWatches(jute::WatchTypeRequest),
    RemoveWatches(jute::WatchTypeRequest),
    AddWatch(jute::AddWatchRequest),
    WhoAmI,
    /// A SASL token (`GetSASLRequest`), answered by the connection's SASL
    /// exchange.
    Sasl(Vec<u8>),
    /// An opcode ZooKeeper does not serve: answered Unimplemented, then closed.
    Unknown(i32),
    /// A body that does not decode, where ZooKeeper answers it with a
    /// marshalling error and no txn (in its turn, behind earlier requests);
    /// `end_marker`: the answer carries an empty multi response.
    Undecodable {
        end_marker: bool,
    },
    /// A write refused before the pipeline (`zookeeper.enableEagerACLCheck`):
    /// answered with this error and no txn, in its turn behind the
    /// connection's earlier requests.
    Refused(Code),
}

impl Request {
    /// The path a request names (the first one, for multi), for logs.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Write(w) => write_path(w),
            Request::Exists(r)
            | Request::GetData(r)
            | Request::GetChildren(r)
            | Request::GetChildren2(r) => Some(&r.path),
            Request::GetAcl(p)
            | Request::GetAllChildrenNumber(p)
            | Request::GetEphemerals(p)
            | Request::Sync(p) => Some(p),
            Request::MultiRead(ops) => ops.first().map(|o| match o {
                MultiReadOp::GetChildren(p) | MultiReadOp::GetData(p) => p.as_str(),
            }),
            Request::CheckWatches(r) | Request::RemoveWatches(r) => Some(&r.path),
            Request::AddWatch(r) => Some(&r.path),
            _ => None,
        }
    }
}

fn write_path(w: &WriteOp) -> Option<&str> {
    match w {
        WriteOp::Create { req, .. } => Some(&req.path),
        WriteOp::Delete(r) => Some(&r.path),
        WriteOp::SetData(r) => Some(&r.path),
        WriteOp::SetAcl(r) => Some(&r.path),
        WriteOp::Check(r) => Some(&r.path),
        WriteOp::Multi(ops) => ops.first().and_then(write_path),
        WriteOp::Reconfig(_) | WriteOp::Internal { .. } | WriteOp::Malformed { .. } => None,
    }
}

fn create_req(op: i32, r: &mut Reader<'_>) -> Result<WriteOp, JuteError> {
    let req = if op == op::CREATE_TTL {
        jute::CreateTtlRequest::read(r)?
    } else {
        let c = jute::CreateRequest::read(r)?;
        jute::CreateTtlRequest {
            path: c.path,
            data: c.data,
            acl: c.acl,
            flags: c.flags,
            ttl: -1,
        }
    };
    Ok(WriteOp::Create { op, req })
}

enum MultiSub {
    Write(WriteOp),
    Read(MultiReadOp),
}

fn multi_ops(r: &mut Reader<'_>) -> Result<Vec<MultiSub>, JuteError> {
    let mut ops = Vec::new();
    loop {
        let h = jute::MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        let known = matches!(
            h.op,
            op::CREATE
                | op::CREATE2
                | op::CREATE_CONTAINER
                | op::CREATE_TTL
                | op::DELETE
                | op::SET_DATA
                | op::CHECK
                | op::GET_CHILDREN
                | op::GET_DATA
        );
        if known && starts_with_null(r.rest()) {
            return Err(NULL_PATH);
        }
        let sub = match h.op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                // ZooKeeper rebuilds each create of a multi from its flags
                // (`Op.create`): a create2 answers as a create, a container
                // or TTL flag makes it one.
                match create_req(h.op, r)? {
                    WriteOp::Create { mut req, .. } => {
                        let op = match req.flags {
                            4 => op::CREATE_CONTAINER,
                            5 | 6 => op::CREATE_TTL,
                            _ => op::CREATE,
                        };
                        if op != op::CREATE_TTL {
                            // The TTL of a non-TTL mode is dropped, not refused.
                            req.ttl = -1;
                        }
                        MultiSub::Write(WriteOp::Create { op, req })
                    }
                    other => MultiSub::Write(other),
                }
            }
            op::DELETE => MultiSub::Write(WriteOp::Delete(Jute::read(r)?)),
            op::SET_DATA => MultiSub::Write(WriteOp::SetData(Jute::read(r)?)),
            op::CHECK => MultiSub::Write(WriteOp::Check(Jute::read(r)?)),
            op::GET_CHILDREN => MultiSub::Read(MultiReadOp::GetChildren(
                jute::PathWatchRequest::read(r)?.path,
            )),
            op::GET_DATA => {
                MultiSub::Read(MultiReadOp::GetData(jute::PathWatchRequest::read(r)?.path))
            }
            // Any other type makes the whole record unreadable, as in
            // ZooKeeper's MultiOperationRecord.
            _ => return Err(JuteError::BadLength(h.op)),
        };
        ops.push(sub);
    }
}

/// The error `decode` gives for a multiRead that reads whole but fails in
/// ZooKeeper after its (empty) response exists: one that holds a write, or
/// a sub-op with a null path.
pub const MULTI_FAILED: JuteError =
    JuteError::Refused("a multi that ZooKeeper fails as it serves it");

/// The error `decode` gives for a null path where ZooKeeper dereferences
/// it (a marshalling error in its answer).
const NULL_PATH: JuteError = JuteError::Refused("null path");

/// Whether a request body begins with a null string (length -1).
fn starts_with_null(body: &[u8]) -> bool {
    body.get(..4) == Some(&(-1i32).to_be_bytes()[..])
}

/// The opcodes whose null path ZooKeeper answers with MarshallingError
/// (it dereferences the path before any check); the others treat a null
/// path as their checks do an empty one. Read off the reference by
/// `tests/py/test_differential.py` (script `malformed`).
fn null_path_fails(opcode: i32) -> bool {
    matches!(
        opcode,
        op::DELETE
            | op::EXISTS
            | op::GET_DATA
            | op::GET_ACL
            | op::GET_CHILDREN
            | op::GET_CHILDREN2
            | op::GET_ALL_CHILDREN_NUMBER
    )
}

/// Decodes the body of a request with opcode `op`.
///
/// A body that does not decode is a marshalling error for writes (they
/// still take a zxid) and for reads; `Err` is returned only for packets
/// whose fault ZooKeeper answers by closing the connection.
pub fn decode(opcode: i32, body: &[u8]) -> Result<Request, JuteError> {
    let r = &mut Reader::new(body);
    if null_path_fails(opcode) && starts_with_null(body) {
        return Ok(match opcode {
            op::DELETE => Request::Write(WriteOp::Malformed { op: opcode }),
            _ => return Err(NULL_PATH),
        });
    }
    Ok(match opcode {
        op::PING => Request::Ping,
        op::AUTH => Request::Auth(Jute::read(r)?),
        op::CLOSE_SESSION => Request::CloseSession,
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            Request::Write(create_req(opcode, r).unwrap_or(WriteOp::Malformed { op: opcode }))
        }
        op::DELETE => Request::Write(
            Jute::read(r)
                .map(WriteOp::Delete)
                .unwrap_or(WriteOp::Malformed { op: opcode }),
        ),
        op::SET_DATA => Request::Write(
            Jute::read(r)
                .map(WriteOp::SetData)
                .unwrap_or(WriteOp::Malformed { op: opcode }),
        ),
        op::SET_ACL => Request::Write(
            Jute::read(r)
                .map(WriteOp::SetAcl)
                .unwrap_or(WriteOp::Malformed { op: opcode }),
        ),
        op::CHECK => Request::Write(
            Jute::read(r)
                .map(WriteOp::Check)
                .unwrap_or(WriteOp::Malformed { op: opcode }),
        ),
        op::MULTI => {
            let ops = match multi_ops(r) {
                // A null path in a sub-op: ZooKeeper logs an error txn
                // (and answers with an empty multi response, where corral
                // answers with no body: tests/py/test_differential.py,
                // KNOWN_DIFFERENCES).
                Err(e) if e == NULL_PATH => {
                    return Ok(Request::Write(WriteOp::Malformed { op: opcode }))
                }
                Ok(ops) if ops.iter().all(|o| matches!(o, MultiSub::Write(_))) => ops
                    .into_iter()
                    .filter_map(|o| match o {
                        MultiSub::Write(w) => Some(w),
                        MultiSub::Read(_) => None,
                    })
                    .collect(),
                _ => return Ok(Request::Write(WriteOp::Malformed { op: opcode })),
            };
            Request::Write(WriteOp::Multi(ops))
        }
        op::MULTI_READ => {
            let ops = multi_ops(r).map_err(|e| if e == NULL_PATH { MULTI_FAILED } else { e })?;
            let mut reads = Vec::with_capacity(ops.len());
            for o in ops {
                match o {
                    MultiSub::Read(x) => reads.push(x),
                    MultiSub::Write(_) => return Err(MULTI_FAILED),
                }
            }
            Request::MultiRead(reads)
        }
        // A reconfig body that does not decode fails before ZooKeeper gives
        // it a zxid: a marshalling error with no txn.
        op::RECONFIG => Request::Write(WriteOp::Reconfig(jute::ReconfigRequest::read(r)?)),
        // Internal types are never served from a client: deleteContainer is
        // the container manager's (it skips the ACL check), createSession
        // the handshake's. ZooKeeper answers them with an error txn:
        // BadArguments and MarshallingError.
        op::DELETE_CONTAINER => Request::Write(WriteOp::Internal {
            op: opcode,
            err: Code::BadArguments,
        }),
        op::CREATE_SESSION => Request::Write(WriteOp::Malformed { op: opcode }),
        // GetSASLRequest: a token that does not decode (or is null) makes
        // ZooKeeper close the connection.
        op::SASL => match r.buffer()? {
            Some(token) => Request::Sasl(token.to_vec()),
            None => return Err(JuteError::Refused("null SASL token")),
        },
        op::EXISTS => Request::Exists(Jute::read(r)?),
        op::GET_DATA => Request::GetData(Jute::read(r)?),
        op::GET_ACL => Request::GetAcl(jute::PathRequest::read(r)?.path),
        op::GET_CHILDREN => Request::GetChildren(Jute::read(r)?),
        op::GET_CHILDREN2 => Request::GetChildren2(Jute::read(r)?),
        op::GET_ALL_CHILDREN_NUMBER => {
            Request::GetAllChildrenNumber(jute::PathRequest::read(r)?.path)
        }
        op::GET_EPHEMERALS => Request::GetEphemerals(jute::PathRequest::read(r)?.path),
        op::SYNC => Request::Sync(jute::PathRequest::read(r)?.path),
        // A null path list fails in ZooKeeper (it walks each list): a
        // marshalling error; a negative count other than -1 is empty.
        op::SET_WATCHES | op::SET_WATCHES2 => {
            let relative_zxid = r.long()?;
            let mut list = || -> Result<Vec<String>, JuteError> {
                if starts_with_null(r.rest()) {
                    return Err(NULL_PATH);
                }
                Vec::<String>::read(r)
            };
            let (data_watches, exist_watches, child_watches) = (list()?, list()?, list()?);
            let (persistent_watches, persistent_recursive_watches) = if opcode == op::SET_WATCHES2 {
                (list()?, list()?)
            } else {
                (vec![], vec![])
            };
            Request::SetWatches(jute::SetWatches2 {
                relative_zxid,
                data_watches,
                exist_watches,
                child_watches,
                persistent_watches,
                persistent_recursive_watches,
            })
        }
        op::CHECK_WATCHES => Request::CheckWatches(Jute::read(r)?),
        op::REMOVE_WATCHES => Request::RemoveWatches(Jute::read(r)?),
        op::ADD_WATCH => Request::AddWatch(Jute::read(r)?),
        op::WHO_AM_I => Request::WhoAmI,
        other => Request::Unknown(other),
    })
}

/// A reply body, ready to encode after the header.
pub type Body = Option<BytesMut>;

fn body<T: Jute>(v: &T) -> Body {
    Some(v.encode())
}

/// Everything a shard-side read needs.
pub struct ReadCtx<'a> {
    pub tree: &'a Tree,
    pub policy: &'a AclPolicy,
    pub auth: &'a [Id],
    pub session: i64,
    pub conn: ConnId,
    pub watches: &'a mut Watches,
    /// The largest reply payload (header and body, without the length
    /// prefix) this read may build: [`max_reply`] of `jute.maxbuffer`.
    /// See [`REPLY_TOO_LARGE`].
    pub max_reply: usize,
}

/// The largest reply payload for `jute.maxbuffer` = `max_buffer`: the
/// largest packet ZooKeeper's clients accept, plus 1 KiB so that a node
/// whose data came in a request within `jute.maxbuffer` can always be read
/// back (its reply adds a header and a stat to the data: at most 88 bytes
/// more than the request's own overhead).
pub fn max_reply(max_buffer: usize) -> usize {
    max_buffer.saturating_add(1024)
}

/// The answer to a multiRead whose reply would exceed
/// [`ReadCtx::max_reply`]: the request fails with this code and no body.
/// ZooKeeper 3.8 builds such a reply whole (a 380 KB multiRead can ask for
/// gigabytes; its Java client then drops the connection with "Packet len
/// is out of range"); corral stops building it as soon as it would grow
/// past the bound. Single reads (getData, getChildren, ...) are answered
/// whole, as in ZooKeeper: their size is bounded by what the tree holds,
/// not by the request, and clients that raise their own `jute.maxbuffer`
/// read large child lists that way.
pub const REPLY_TOO_LARGE: Code = Code::MarshallingError;

/// Bytes of the reply header (xid, zxid, err) in the payload.
const REPLY_HEADER: usize = 16;
/// Bytes of an encoded `Stat`.
const STAT_LEN: usize = 68;
/// Bytes of a multi sub-result header (type, done, err).
const MULTI_HEADER: usize = 9;

/// What a reply body may still take, or [`REPLY_TOO_LARGE`] (logged, with
/// the request and the bound) when `need` bytes more would not fit.
fn within(ctx: &ReadCtx<'_>, what: &str, used: usize, need: usize) -> Result<(), Code> {
    let total = REPLY_HEADER.saturating_add(used).saturating_add(need);
    if total > ctx.max_reply {
        tracing::warn!(
            session = format!("0x{:x}", ctx.session),
            request = what,
            reply_bytes_at_least = total,
            limit = ctx.max_reply,
            "reply would exceed jute.maxbuffer (+1 KiB); answering MarshallingError (-5) instead"
        );
        return Err(REPLY_TOO_LARGE);
    }
    Ok(())
}

/// The names of `path`'s children, if their encoded list (a count, then
/// each as a length and bytes) fits in `budget` bytes; stops at the first
/// name past it, before collecting more.
fn children_within(tree: &Tree, path: &str, budget: usize) -> Result<Vec<String>, usize> {
    let mut size = 4usize;
    let mut names = Vec::new();
    for c in tree.child_paths(path) {
        let name = name_of(c);
        size = size.saturating_add(4 + name.len());
        if size > budget {
            return Err(size);
        }
        names.push(name.to_string());
    }
    Ok(names)
}

fn name_of(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

fn node_checked<'t>(
    ctx: &ReadCtx<'t>,
    path: &str,
    perm: i32,
) -> Result<&'t crate::data::tree::Node, Code> {
    let n = ctx.tree.get(path).ok_or(Code::NoNode)?;
    acl::check(ctx.policy, &n.acl, perm, ctx.auth)?;
    Ok(n)
}

/// getData's answer; in a multiRead (`room`: the body bytes used so far
/// and the bytes that go with it), only if it fits in the reply.
fn get_data(
    ctx: &mut ReadCtx<'_>,
    path: &str,
    watch: bool,
    room: Option<(usize, usize)>,
) -> Result<jute::GetDataResponse, Code> {
    let n = node_checked(ctx, path, perms::READ)?;
    if let Some((used, extra)) = room {
        let len = n.data().map_or(0, <[u8]>::len);
        within(ctx, "multiRead", used, extra + 4 + len + STAT_LEN)?;
    }
    if watch {
        ctx.watches.add(Table::Data, path, ctx.conn, Mode::Standard);
    }
    Ok(jute::GetDataResponse {
        data: n.data().map(Bytes::copy_from_slice),
        stat: n.stat(),
    })
}

/// getChildren's answer; in a multiRead (`room` as for [`get_data`]),
/// only if the names fit in the reply, found out before they are copied.
fn get_children(
    ctx: &mut ReadCtx<'_>,
    path: &str,
    watch: bool,
    room: Option<(usize, usize)>,
) -> Result<(Vec<String>, jute::Stat), Code> {
    let n = node_checked(ctx, path, perms::READ)?;
    let names = match room {
        None => ctx.tree.children(path).unwrap_or_default(),
        Some((used, extra)) => {
            let budget = ctx.max_reply.saturating_sub(REPLY_HEADER + used + extra);
            match children_within(ctx.tree, path, budget) {
                Ok(names) => names,
                Err(size) => {
                    within(ctx, "multiRead", used + extra, size)?;
                    Vec::new()
                }
            }
        }
    };
    if watch {
        ctx.watches
            .add(Table::Child, path, ctx.conn, Mode::Standard);
    }
    Ok((names, n.stat()))
}

fn watch_table(kind: i32) -> Option<Vec<Table>> {
    // WatcherType: Children(1), Data(2), Any(3).
    match kind {
        1 => Some(vec![Table::Child]),
        2 => Some(vec![Table::Data]),
        3 => Some(vec![Table::Child, Table::Data]),
        _ => None,
    }
}

/// Answers a read; `Err` is the reply's error code.
pub fn serve_read(ctx: &mut ReadCtx<'_>, req: &Request) -> Result<Body, Code> {
    match req {
        Request::Exists(r) => {
            if r.path.contains('\0') {
                return Err(Code::BadArguments);
            }
            if r.watch {
                ctx.watches
                    .add(Table::Data, &r.path, ctx.conn, Mode::Standard);
            }
            let n = ctx.tree.get(&r.path).ok_or(Code::NoNode)?;
            Ok(body(&jute::StatResponse { stat: n.stat() }))
        }
        Request::GetData(r) => get_data(ctx, &r.path, r.watch, None).map(|x| body(&x)),
        Request::GetAcl(path) => {
            let n = node_checked(ctx, path, perms::READ | perms::ADMIN)?;
            let acl = if acl::check(ctx.policy, &n.acl, perms::ADMIN, ctx.auth).is_ok() {
                n.acl.as_ref().clone()
            } else {
                acl::redact(&n.acl)
            };
            Ok(body(&jute::GetAclResponse {
                acl,
                stat: n.stat(),
            }))
        }
        Request::GetChildren(r) => get_children(ctx, &r.path, r.watch, None)
            .map(|(children, _)| body(&jute::GetChildrenResponse { children })),
        Request::GetChildren2(r) => get_children(ctx, &r.path, r.watch, None)
            .map(|(children, stat)| body(&jute::GetChildren2Response { children, stat })),
        Request::GetAllChildrenNumber(path) => {
            node_checked(ctx, path, perms::READ)?;
            let total_number = ctx.tree.all_children_number(path) as i32;
            Ok(body(&jute::GetAllChildrenNumberResponse { total_number }))
        }
        Request::GetEphemerals(prefix) => {
            let all = ctx.tree.ephemerals_of(ctx.session);
            let p = prefix.trim();
            let ephemerals = if p.is_empty() || p == "/" {
                all
            } else {
                all.into_iter()
                    .filter(|e| e.starts_with(prefix.as_str()))
                    .collect()
            };
            Ok(body(&jute::GetChildrenResponse {
                children: ephemerals,
            }))
        }
        Request::MultiRead(ops) => {
            // Each sub-result is checked against the bound before it is
            // built: the whole answer never grows past `max_reply`.
            let mut out = BytesMut::new();
            // The end marker goes last, whatever came before.
            let end = MULTI_HEADER;
            for o in ops {
                let used = out.len();
                let (kind, res) = match o {
                    MultiReadOp::GetChildren(p) => (
                        op::GET_CHILDREN,
                        get_children(ctx, p, false, Some((used, MULTI_HEADER + end)))
                            .map(|(children, _)| jute::GetChildrenResponse { children }.encode()),
                    ),
                    MultiReadOp::GetData(p) => (
                        op::GET_DATA,
                        get_data(ctx, p, false, Some((used, MULTI_HEADER + end)))
                            .map(|x| x.encode()),
                    ),
                };
                let res = match res {
                    Err(c) if c == REPLY_TOO_LARGE => return Err(c),
                    Err(c) => {
                        within(ctx, "multiRead", used, MULTI_HEADER + 4 + end)?;
                        Err(c)
                    }
                    ok => ok,
                };
                match res {
                    Ok(b) => {
                        jute::MultiHeader {
                            op: kind,
                            done: false,
                            err: 0,
                        }
                        .write(&mut out);
                        out.extend_from_slice(&b);
                    }
                    Err(code) => {
                        let err = code.as_i32();
                        jute::MultiHeader {
                            op: op::ERROR,
                            done: false,
                            err,
                        }
                        .write(&mut out);
                        jute::ErrorResponse { err }.write(&mut out);
                    }
                }
            }
            jute::MultiHeader {
                op: -1,
                done: true,
                err: -1,
            }
            .write(&mut out);
            Ok(Some(out))
        }
        Request::CheckWatches(r) | Request::RemoveWatches(r) => {
            let remove = matches!(req, Request::RemoveWatches(_));
            let tables = watch_table(r.kind).ok_or(Code::MarshallingError)?;
            let mut found = false;
            for t in tables {
                if remove {
                    found |= ctx.watches.remove(t, &r.path, ctx.conn);
                } else {
                    found |= ctx.watches.contains(t, &r.path, ctx.conn);
                }
            }
            if found {
                Ok(None)
            } else {
                Err(Code::NoWatcher)
            }
        }
        Request::AddWatch(r) => {
            match r.mode {
                0 => ctx.watches.add_persistent(&r.path, ctx.conn, false),
                1 => ctx.watches.add_persistent(&r.path, ctx.conn, true),
                _ => return Err(Code::MarshallingError),
            }
            Ok(body(&jute::ErrorResponse { err: 0 }))
        }
        Request::WhoAmI => {
            let client_info = ctx
                .auth
                .iter()
                .map(|id| jute::ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: acl::user_name(id),
                })
                .collect();
            Ok(body(&jute::WhoAmIResponse { client_info }))
        }
        _ => Err(Code::Unimplemented),
    }
}

/// Encodes a whole reply frame: length, header, body.
pub fn frame(out: &mut BytesMut, xid: i32, zxid: i64, err: i32, body: Option<&[u8]>) {
    let len = 16 + body.map_or(0, |b| b.len());
    out.reserve(4 + len);
    out.int(len as i32);
    out.int(xid);
    out.long(zxid);
    out.int(err);
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
}

/// A watch notification frame.
pub fn notification(out: &mut BytesMut, kind: i32, state: i32, path: &str) {
    let ev = jute::WatcherEvent {
        kind,
        state,
        path: path.to_string(),
    }
    .encode();
    frame(out, jute::xid::NOTIFICATION, -1, 0, Some(&ev));
}

/// The reply body of a write, from what `apply` produced.
pub fn write_reply(op: i32, r: &crate::data::tree::ApplyResult) -> (i32, Option<Bytes>) {
    if op == op::MULTI {
        if r.multi.is_empty() && r.err != 0 {
            return (r.err, None);
        }
        let mut out = BytesMut::new();
        for s in &r.multi {
            let err = if s.op == op::ERROR { s.err } else { 0 };
            // ZooKeeper's OpResult.CreateResult with a stat is always typed
            // create2: a container or TTL create answers as one (a Java
            // client rejects type 19 or 21 in a MultiResponse).
            let header_op = match s.op {
                op::CREATE_TTL | op::CREATE_CONTAINER => op::CREATE2,
                other => other,
            };
            jute::MultiHeader {
                op: header_op,
                done: false,
                err,
            }
            .write(&mut out);
            match s.op {
                op::CREATE => jute::PathResponse {
                    path: s.path.clone(),
                }
                .write(&mut out),
                op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => jute::Create2Response {
                    path: s.path.clone(),
                    stat: s.stat.clone().unwrap_or_default(),
                }
                .write(&mut out),
                op::SET_DATA => jute::StatResponse {
                    stat: s.stat.clone().unwrap_or_default(),
                }
                .write(&mut out),
                op::ERROR => jute::ErrorResponse { err: s.err }.write(&mut out),
                _ => {}
            }
        }
        jute::MultiHeader {
            op: -1,
            done: true,
            err: -1,
        }
        .write(&mut out);
        return (0, Some(out.freeze()));
    }
    if r.err != 0 {
        return (r.err, None);
    }
    let b = match op {
        op::CREATE => Some(
            jute::PathResponse {
                path: r.path.clone(),
            }
            .encode(),
        ),
        op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => Some(
            jute::Create2Response {
                path: r.path.clone(),
                stat: r.stat.clone().unwrap_or_default(),
            }
            .encode(),
        ),
        op::SET_DATA | op::SET_ACL => r
            .stat
            .clone()
            .map(|stat| jute::StatResponse { stat }.encode()),
        // The new config and its node's stat (FinalRequestProcessor).
        op::RECONFIG => r.stat.clone().map(|stat| {
            jute::GetDataResponse {
                data: r.data.clone(),
                stat,
            }
            .encode()
        }),
        _ => None,
    };
    (0, b.map(|b| b.freeze()))
}
