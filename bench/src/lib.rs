//! corral's request path without I/O, for the criterion microbenches
//! (`benches/micro.rs`) and the callgrind driver (`src/reqpath.rs`).
//!
//! Everything here goes through corral's public library API only (jute,
//! request, prep, tree, txnlog), the same calls a shard and the sequencer
//! make, minus sockets, channels and files:
//!
//! - a getData: decode the request header and body, answer it from a tree
//!   version (`request::serve_read`), frame the reply;
//! - a setData: decode, prep into a txn, apply it to the tree, serialise it
//!   into the txn log's record format (Adler32, length, entry, 'B'), frame
//!   the reply.

use bytes::{BufMut, Bytes, BytesMut};
use corral::data::acl::AclPolicy;
use corral::data::prep::{self, PrepCtx, WriteOp};
use corral::data::tree::Tree;
use corral::data::txn::Txn;
use corral::data::watch::Watches;
use corral::protocol::jute::{self, op, Jute, Reader};
use corral::protocol::request::{self, ReadCtx, Request};
use corral::storage::txnlog;

/// The session id the driver's requests carry.
pub const SESSION: i64 = 0x1000_0000_0000_0001;

/// The path of key `i`, as `zkbench` names its keys.
pub fn key(i: usize) -> String {
    format!("/bench/k{i:07}")
}

/// A request packet as a shard sees it after the length prefix:
/// `RequestHeader` then the body.
pub fn packet(xid: i32, opcode: i32, body: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(8 + body.len());
    b.put_i32(xid);
    b.put_i32(opcode);
    b.extend_from_slice(body);
    b
}

/// A getData packet for `path` (no watch).
pub fn get_data_packet(xid: i32, path: &str) -> BytesMut {
    let body = jute::PathWatchRequest {
        path: path.to_string(),
        watch: false,
    }
    .encode();
    packet(xid, op::GET_DATA, &body)
}

/// A setData packet for `path` (any version).
pub fn set_data_packet(xid: i32, path: &str, value: &[u8]) -> BytesMut {
    let body = jute::SetDataRequest {
        path: path.to_string(),
        data: Some(Bytes::copy_from_slice(value)),
        version: -1,
    }
    .encode();
    packet(xid, op::SET_DATA, &body)
}

/// A create packet for a persistent node with the open ACL.
pub fn create_packet(xid: i32, path: &str, value: &[u8]) -> BytesMut {
    let body = jute::CreateRequest {
        path: path.to_string(),
        data: Some(Bytes::copy_from_slice(value)),
        acl: corral::data::tree::open_acl(),
        flags: 0,
    }
    .encode();
    packet(xid, op::CREATE, &body)
}

/// The sequencer's side of a write, without the channels: prep and apply
/// against its own tree, log records into memory.
pub struct Writer {
    pub tree: Tree,
    pub policy: AclPolicy,
    /// The txn log bytes written so far (cleared by the caller).
    pub log: BytesMut,
    pub time: i64,
}

impl Writer {
    pub fn new(tree: Tree) -> Writer {
        Writer {
            tree,
            policy: AclPolicy::default(),
            log: BytesMut::with_capacity(1 << 20),
            time: 1_700_000_000_000,
        }
    }

    /// Preps and applies one decoded write; returns the txn.
    pub fn prep_apply(&mut self, cxid: i32, w: &WriteOp) -> (Txn, i32) {
        let ctx = PrepCtx {
            policy: &self.policy,
            extended_types: false,
            enforce_quota: false,
            session: SESSION,
            auth: &[],
            reconfig: Err(corral::protocol::jute::Code::ReconfigDisabled),
        };
        let zxid = self.tree.last_zxid + 1;
        let txn = prep::prep(&ctx, &self.tree, cxid, zxid, self.time, w);
        let mut events = Vec::new();
        let r = self.tree.apply(&txn, &mut events);
        (txn, r.err)
    }

    /// One client write packet, end to end: decode, prep, apply, append
    /// its log record, frame the reply into `out`.
    pub fn write_packet(&mut self, packet: &[u8], out: &mut BytesMut) {
        let mut r = Reader::new(packet);
        let hdr = jute::RequestHeader::read(&mut r).expect("request header");
        let body = &packet[packet.len() - r.remaining()..];
        let Ok(Request::Write(w)) = request::decode(hdr.op, body) else {
            panic!("not a write: op {}", hdr.op);
        };
        let ctx = PrepCtx {
            policy: &self.policy,
            extended_types: false,
            enforce_quota: false,
            session: SESSION,
            auth: &[],
            reconfig: Err(corral::protocol::jute::Code::ReconfigDisabled),
        };
        let zxid = self.tree.last_zxid + 1;
        let txn = prep::prep(&ctx, &self.tree, hdr.xid, zxid, self.time, &w);
        let mut events = Vec::new();
        let res = self.tree.apply(&txn, &mut events);
        txnlog::write_record(&mut self.log, &txn, None);
        let (err, reply) = request::write_reply(hdr.op, &res);
        request::frame(out, hdr.xid, zxid, err, reply.as_deref());
    }
}

/// Builds a tree of `/bench` plus `n` keys (`key(i)`) holding `value`,
/// through prep + apply of create txns, as a server filling it would.
pub fn build_tree(n: usize, value: &[u8]) -> Tree {
    let mut w = Writer::new(Tree::new());
    let mk = |path: String| WriteOp::Create {
        op: op::CREATE,
        req: jute::CreateTtlRequest {
            path,
            data: Some(Bytes::copy_from_slice(value)),
            acl: corral::data::tree::open_acl(),
            flags: 0,
            ttl: -1,
        },
    };
    let (_, err) = w.prep_apply(0, &mk("/bench".into()));
    assert_eq!(err, 0, "create /bench");
    for i in 0..n {
        let (_, err) = w.prep_apply(i as i32, &mk(key(i)));
        assert_eq!(err, 0, "create {}", key(i));
    }
    w.tree
}

/// A shard's side of a read, without the connection: the tree version it
/// answers from and its watch table.
#[derive(Default)]
pub struct ReadSide {
    pub policy: AclPolicy,
    pub watches: Watches,
}

impl ReadSide {
    /// One client read packet, end to end: decode, serve from `tree`,
    /// frame the reply into `out`.
    pub fn read_packet(&mut self, tree: &Tree, packet: &[u8], out: &mut BytesMut) {
        let mut r = Reader::new(packet);
        let hdr = jute::RequestHeader::read(&mut r).expect("request header");
        let body = &packet[packet.len() - r.remaining()..];
        let req = request::decode(hdr.op, body).expect("decodes");
        let mut ctx = ReadCtx {
            tree,
            policy: &self.policy,
            auth: &[],
            session: SESSION,
            conn: 1,
            watches: &mut self.watches,
            max_reply: request::max_reply(0xfffff),
        };
        match request::serve_read(&mut ctx, &req) {
            Ok(body) => request::frame(out, hdr.xid, tree.last_zxid, 0, body.as_deref()),
            Err(code) => request::frame(out, hdr.xid, tree.last_zxid, code.as_i32(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_write_paths_answer_ok() {
        let tree = build_tree(10, b"v");
        assert_eq!(tree.node_count(), 4 + 1 + 10);
        let mut rs = ReadSide::default();
        let mut out = BytesMut::new();
        rs.read_packet(&tree, &get_data_packet(7, &key(3)), &mut out);
        // length, xid, zxid, err
        let h = jute::ReplyHeader::decode(&out[4..]).unwrap();
        assert_eq!((h.xid, h.err), (7, 0));
        let d = jute::GetDataResponse::decode(&out[20..]).unwrap();
        assert_eq!(d.data.as_deref(), Some(&b"v"[..]));

        let mut w = Writer::new(tree);
        out.clear();
        w.write_packet(&set_data_packet(8, &key(3), b"new"), &mut out);
        let h = jute::ReplyHeader::decode(&out[4..]).unwrap();
        assert_eq!((h.xid, h.err), (8, 0));
        let log = txnlog::read_log(&{
            let mut f = BytesMut::new();
            txnlog::write_header(&mut f, 0);
            f.extend_from_slice(&w.log);
            f
        })
        .unwrap();
        assert_eq!(log.records.len(), 1);
        out.clear();
        rs.read_packet(&w.tree, &get_data_packet(9, &key(3)), &mut out);
        let d = jute::GetDataResponse::decode(&out[20..]).unwrap();
        assert_eq!(d.data.as_deref(), Some(&b"new"[..]));
    }
}
