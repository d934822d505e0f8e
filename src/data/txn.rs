//! Transactions: what the sequencer decides (prep) and the tree applies.
//!
//! A `Txn` is a `TxnHeader` plus a typed body that mirrors ZooKeeper's txn
//! records, so it serialises to the exact bytes ZooKeeper logs
//! (`encode_body`/`decode_body`). Owns nothing else.

use crate::protocol::jute::{self, op, Jute, JuteError, Reader, TxnHeader};
use bytes::{Bytes, BytesMut};

/// The body of a txn, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    Create(jute::CreateTxn),
    CreateContainer(jute::CreateContainerTxn),
    CreateTtl(jute::CreateTtlTxn),
    Delete(jute::DeleteTxn),
    SetData(jute::SetDataTxn),
    SetAcl(jute::SetAclTxn),
    Check(jute::CheckVersionTxn),
    CreateSession(jute::CreateSessionTxn),
    CloseSession(jute::CloseSessionTxn),
    Error(jute::ErrorTxn),
    /// Sub-txns with their op codes (`op::ERROR` for failed ones).
    Multi(Vec<(i32, TxnBody)>),
}

/// A whole txn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub hdr: TxnHeader,
    pub body: TxnBody,
}

impl TxnBody {
    /// The path the txn acts on, if it has one.
    pub fn path(&self) -> Option<&str> {
        match self {
            TxnBody::Create(c) => Some(&c.path),
            TxnBody::CreateContainer(c) => Some(&c.path),
            TxnBody::CreateTtl(c) => Some(&c.path),
            TxnBody::Delete(d) => Some(&d.path),
            TxnBody::SetData(s) => Some(&s.path),
            TxnBody::SetAcl(s) => Some(&s.path),
            TxnBody::Check(c) => Some(&c.path),
            _ => None,
        }
    }

    /// Serialises the body as ZooKeeper does.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            TxnBody::Create(t) => t.write(out),
            TxnBody::CreateContainer(t) => t.write(out),
            TxnBody::CreateTtl(t) => t.write(out),
            TxnBody::Delete(t) => t.write(out),
            TxnBody::SetData(t) => t.write(out),
            TxnBody::SetAcl(t) => t.write(out),
            TxnBody::Check(t) => t.write(out),
            TxnBody::CreateSession(t) => t.write(out),
            TxnBody::CloseSession(t) => t.write(out),
            TxnBody::Error(t) => t.write(out),
            TxnBody::Multi(subs) => {
                let txns = subs
                    .iter()
                    .map(|(op, b)| {
                        let mut d = BytesMut::new();
                        b.encode(&mut d);
                        jute::Txn {
                            op: *op,
                            data: d.freeze(),
                        }
                    })
                    .collect();
                jute::MultiTxn { txns }.write(out)
            }
        }
    }

    /// Parses a body of type `op`.
    pub fn decode(op: i32, r: &mut Reader<'_>) -> Result<TxnBody, JuteError> {
        Ok(match op {
            op::CREATE | op::CREATE2 => {
                let path = String::read(r)?;
                let data = Option::<Bytes>::read(r)?;
                let acl = Vec::read(r)?;
                let ephemeral = bool::read(r)?;
                // Logs from before parentCVersion existed carry CreateTxnV0
                // (no trailing int); ZooKeeper reads those with -1.
                let parent_cversion = if op == op::CREATE && r.remaining() < 4 {
                    -1
                } else {
                    r.int()?
                };
                TxnBody::Create(jute::CreateTxn {
                    path,
                    data,
                    acl,
                    ephemeral,
                    parent_cversion,
                })
            }
            op::CREATE_CONTAINER => TxnBody::CreateContainer(Jute::read(r)?),
            op::CREATE_TTL => TxnBody::CreateTtl(Jute::read(r)?),
            op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete(Jute::read(r)?),
            // A reconfig is logged as a SetDataTxn on /zookeeper/config.
            op::SET_DATA | op::RECONFIG => TxnBody::SetData(Jute::read(r)?),
            op::SET_ACL => TxnBody::SetAcl(Jute::read(r)?),
            op::CHECK => TxnBody::Check(Jute::read(r)?),
            op::CREATE_SESSION => TxnBody::CreateSession(Jute::read(r)?),
            op::CLOSE_SESSION => {
                // Older logs carry no body for closeSession.
                if r.remaining() == 0 {
                    TxnBody::CloseSession(Default::default())
                } else {
                    TxnBody::CloseSession(Jute::read(r)?)
                }
            }
            op::MULTI => {
                let m = jute::MultiTxn::read(r)?;
                let mut subs = Vec::with_capacity(m.txns.len());
                for t in m.txns {
                    let body = TxnBody::decode(t.op, &mut Reader::new(&t.data))?;
                    subs.push((t.op, body));
                }
                TxnBody::Multi(subs)
            }
            _ => TxnBody::Error(Jute::read(r)?),
        })
    }
}

impl Txn {
    /// Header then body, as one record.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.hdr.write(&mut b);
        self.body.encode(&mut b);
        b.freeze()
    }

    pub fn decode(buf: &[u8]) -> Result<Txn, JuteError> {
        let mut r = Reader::new(buf);
        let hdr = TxnHeader::read(&mut r)?;
        let body = TxnBody::decode(hdr.op, &mut r)?;
        Ok(Txn { hdr, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jute::{
        op, CheckVersionTxn, CloseSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, SetDataTxn, TxnHeader,
    };

    #[test]
    fn txns_round_trip() {
        let hdr = |op| TxnHeader {
            client_id: 7,
            cxid: 3,
            zxid: 0x100000001,
            time: 42,
            op,
        };
        let cases = vec![
            Txn {
                hdr: hdr(op::CREATE),
                body: TxnBody::Create(CreateTxn {
                    path: "/a".into(),
                    data: Some(Bytes::from_static(b"x")),
                    acl: crate::data::tree::open_acl(),
                    ephemeral: true,
                    parent_cversion: 1,
                }),
            },
            Txn {
                hdr: hdr(op::DELETE),
                body: TxnBody::Delete(DeleteTxn { path: "/a".into() }),
            },
            Txn {
                hdr: hdr(op::CLOSE_SESSION),
                body: TxnBody::CloseSession(CloseSessionTxn {
                    paths_to_delete: vec!["/e".into()],
                }),
            },
            Txn {
                hdr: hdr(op::ERROR),
                body: TxnBody::Error(ErrorTxn { err: -101 }),
            },
            Txn {
                hdr: hdr(op::MULTI),
                body: TxnBody::Multi(vec![
                    (
                        op::CREATE,
                        TxnBody::Create(CreateTxn {
                            path: "/m".into(),
                            data: None,
                            acl: vec![],
                            ephemeral: false,
                            parent_cversion: 2,
                        }),
                    ),
                    (
                        op::SET_DATA,
                        TxnBody::SetData(SetDataTxn {
                            path: "/m".into(),
                            data: None,
                            version: 1,
                        }),
                    ),
                    (
                        op::CHECK,
                        TxnBody::Check(CheckVersionTxn {
                            path: "/m".into(),
                            version: 1,
                        }),
                    ),
                ]),
            },
        ];
        for t in cases {
            assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
        }
    }
}
