//! The tree digest: ZooKeeper's `DigestCalculator` and `NodeHashMapImpl`.
//!
//! ZooKeeper (digest version 2) hashes each znode with CRC32 over its path,
//! its data and 60 bytes of stat (czxid, mzxid, pzxid, ctime, mtime as
//! longs, version, cversion, aversion as ints, ephemeralOwner as a long, all
//! big-endian). The root is hashed under the path `""`, and nodes under
//! `/zookeeper/` (not `/zookeeper` itself) count as 0. The tree digest is the
//! wrapping 64-bit sum of every node's digest (`AdHash`), so it can be kept
//! incrementally: subtract a node's digest before a change, add it after.
//! The digest of the tree after a txn is what ZooKeeper appends to that txn
//! in the log (`TxnDigest`) and what it writes after a snapshot
//! (`ZxidDigest`). Pure logic, no I/O. It knows nothing of the tree: the
//! tree (`data::tree`) feeds it nodes (`node_digest`, `tree_digest`).

use crate::protocol::jute::{Jute, JuteError, JuteWrite, Reader};
use bytes::BytesMut;

/// The digest version ZooKeeper 3.8 computes (`DigestCalculator.DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;

/// Nodes under this prefix are left out of the digest.
const ZOOKEEPER_SUBTREE: &str = "/zookeeper/";

/// The digest of one node, given its fields.
#[allow(clippy::too_many_arguments)]
pub fn digest_of(
    path: &str,
    data: Option<&[u8]>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    ephemeral_owner: i64,
) -> u64 {
    if path.starts_with(ZOOKEEPER_SUBTREE) {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut h = crc32fast::Hasher::new();
    h.update(path.as_bytes());
    if let Some(d) = data {
        h.update(d);
    }
    let mut b = [0u8; 60];
    b[0..8].copy_from_slice(&czxid.to_be_bytes());
    b[8..16].copy_from_slice(&mzxid.to_be_bytes());
    b[16..24].copy_from_slice(&pzxid.to_be_bytes());
    b[24..32].copy_from_slice(&ctime.to_be_bytes());
    b[32..40].copy_from_slice(&mtime.to_be_bytes());
    b[40..44].copy_from_slice(&version.to_be_bytes());
    b[44..48].copy_from_slice(&cversion.to_be_bytes());
    b[48..52].copy_from_slice(&aversion.to_be_bytes());
    b[52..60].copy_from_slice(&ephemeral_owner.to_be_bytes());
    h.update(&b);
    h.finalize() as u64
}

/// ZooKeeper's `AdHash`: a digest kept up to date as nodes change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdHash(pub u64);

impl AdHash {
    pub fn add(&mut self, digest: u64) {
        self.0 = self.0.wrapping_add(digest);
    }
    pub fn remove(&mut self, digest: u64) {
        self.0 = self.0.wrapping_sub(digest);
    }
    /// The value as ZooKeeper writes it (a Java long).
    pub fn value(&self) -> i64 {
        self.0 as i64
    }
}

/// The digest ZooKeeper appends to a logged txn (`TxnDigest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxnDigest {
    pub version: i32,
    pub tree_digest: i64,
}

impl Jute for TxnDigest {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        Ok(TxnDigest {
            version: r.int()?,
            tree_digest: r.long()?,
        })
    }
    fn write(&self, w: &mut BytesMut) {
        w.int(self.version);
        w.long(self.tree_digest);
    }
}

/// The digest section after a snapshot (`DataTree.ZxidDigest`): the tree's
/// digest as of `zxid`. A zero `zxid` means "no digest".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub digest_version: i32,
    pub digest: i64,
}

impl Jute for ZxidDigest {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        let zxid = r.long()?;
        let digest_version = r.int()?;
        // Version 1 wrote the digest as a hex string.
        let digest = if digest_version < 2 {
            match r.ustring()? {
                Some(s) => u64::from_str_radix(&s, 16).map_err(|_| JuteError::Utf8)? as i64,
                None => 0,
            }
        } else {
            r.long()?
        };
        Ok(ZxidDigest {
            zxid,
            digest_version,
            digest,
        })
    }
    fn write(&self, w: &mut BytesMut) {
        w.long(self.zxid);
        w.int(self.digest_version);
        if self.digest_version < 2 {
            w.ustring(&format!("{:x}", self.digest as u64));
        } else {
            w.long(self.digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tree::{node_digest, tree_digest, Tree};
    use crate::data::txn::{Txn, TxnBody};
    use crate::protocol::jute::{op, CreateTxn, DeleteTxn, SetDataTxn, TxnHeader};
    use bytes::Bytes;

    fn txn(zxid: i64, body: TxnBody) -> Txn {
        let op = match &body {
            TxnBody::Create(_) => op::CREATE,
            TxnBody::Delete(_) => op::DELETE,
            TxnBody::SetData(_) => op::SET_DATA,
            _ => unreachable!(),
        };
        Txn {
            hdr: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time: 1000 + zxid,
                op,
            },
            body,
        }
    }

    #[test]
    fn fresh_tree_digest_is_root_and_zookeeper_only() {
        let t = Tree::new();
        let root = digest_of("", Some(b""), 0, 0, 0, 0, 0, 0, 0, 0, 0);
        let zk = digest_of("/zookeeper", Some(b""), 0, 0, 0, 0, 0, 0, 0, 0, 0);
        assert_eq!(tree_digest(&t), root.wrapping_add(zk) as i64);
        assert_eq!(
            digest_of("/zookeeper/quota", None, 1, 2, 3, 4, 5, 6, 7, 8, 9),
            0
        );
        assert_eq!(
            digest_of("/", None, 1, 2, 3, 4, 5, 6, 7, 8, 9),
            digest_of("", None, 1, 2, 3, 4, 5, 6, 7, 8, 9)
        );
        // Null and empty data hash alike, as in ZooKeeper.
        assert_eq!(
            digest_of("/a", None, 1, 2, 3, 4, 5, 6, 7, 8, 9),
            digest_of("/a", Some(b""), 1, 2, 3, 4, 5, 6, 7, 8, 9)
        );
    }

    #[test]
    fn known_crc_layout() {
        // CRC32 over "/a" ++ "x" ++ 60 stat bytes, checked against a direct
        // computation of the same bytes.
        let mut bytes = b"/ax".to_vec();
        for v in [1i64, 2, 3, 4, 5] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        for v in [6i32, 7, 8] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.extend_from_slice(&9i64.to_be_bytes());
        assert_eq!(
            digest_of("/a", Some(b"x"), 1, 2, 3, 4, 5, 6, 7, 8, 9),
            crc32fast::hash(&bytes) as u64
        );
    }

    #[test]
    fn incremental_matches_full_recompute() {
        let mut t = Tree::new();
        let mut h = AdHash(tree_digest(&t) as u64);
        let steps = vec![
            txn(
                1,
                TxnBody::Create(CreateTxn {
                    path: "/a".into(),
                    data: Some(Bytes::from_static(b"v")),
                    acl: crate::data::tree::open_acl(),
                    ephemeral: false,
                    parent_cversion: 1,
                }),
            ),
            txn(
                2,
                TxnBody::SetData(SetDataTxn {
                    path: "/a".into(),
                    data: None,
                    version: 1,
                }),
            ),
            txn(3, TxnBody::Delete(DeleteTxn { path: "/a".into() })),
        ];
        for s in steps {
            let old = t.clone();
            t.apply(&s, &mut Vec::new());
            // What NodeHashMapImpl does: remove a changed node's old digest,
            // add its new one.
            for (p, n) in old.nodes() {
                if t.get(p).is_none_or(|m| m != n) {
                    h.remove(node_digest(p, n));
                }
            }
            for (p, n) in t.nodes() {
                if old.get(p).is_none_or(|m| m != n) {
                    h.add(node_digest(p, n));
                }
            }
            assert_eq!(h.value(), tree_digest(&t));
        }
    }

    #[test]
    fn records_round_trip() {
        let d = TxnDigest {
            version: 2,
            tree_digest: -5,
        };
        assert_eq!(TxnDigest::decode(&d.encode()).unwrap(), d);
        assert_eq!(d.encode().len(), 12);
        let z = ZxidDigest {
            zxid: 7,
            digest_version: 2,
            digest: 1 << 40,
        };
        assert_eq!(ZxidDigest::decode(&z.encode()).unwrap(), z);
        let v1 = ZxidDigest {
            zxid: 7,
            digest_version: 1,
            digest: 0xabc,
        };
        assert_eq!(ZxidDigest::decode(&v1.encode()).unwrap(), v1);
    }
}
