//! ZooKeeper's snapshot format (`FileSnap`, `SnapStream`), byte for byte.
//!
//! A snapshot `snapshot.<zxid hex>[.gz|.snappy]` is, before compression:
//!
//! ```text
//! FileHeader       "ZKSN", version 2, dbid -1
//! int count, then count × (long session id, int timeout)
//! ACL cache        int n, then n × (long index, vector<ACL>)
//! nodes            depth first, parents before children:
//!                  ustring path ("" for the root), buffer data,
//!                  long ACL index (-1 = OPEN_ACL_UNSAFE), StatPersisted
//! ustring "/"      end of the nodes
//! long, ustring "/"  seal: Adler32 of every byte before it
//! ZxidDigest       long zxid, int version (2), long digest
//! long, ustring "/"  seal again, over everything before it
//! ```
//!
//! ZooKeeper 3.8 writes the digest section when `zookeeper.digest.enabled`
//! (the default); 3.9 adds `long lastProcessedZxid` and a third seal, which
//! this reader accepts. `zookeeper.snapshot.compression.method` picks the
//! stream: none, `gz` (a gzip stream, `java.util.zip.GZIPOutputStream`) or
//! `snappy` (snappy-java's `SnappyOutputStream` stream: an 8-byte magic
//! `\x82SNAPPY\0`, two big-endian ints version 1 and compatible version 1,
//! then blocks of int length + raw snappy data; this is not the
//! snappy "framing format"). The checksum always covers the uncompressed
//! bytes. Reading is over a byte slice, writing to any `io::Write`.

use crate::data::digest::ZxidDigest;
use crate::data::tree::tree_digest;
use crate::data::tree::{Node, NodeHead, Tree};
use crate::data::txn::{Txn, TxnBody};
use crate::protocol::jute::{Acl, Jute, JuteError, JuteWrite, Reader};
use crate::storage::txnlog::{zxid_from_name, FileHeader};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// `"ZKSN"` as a big-endian int.
pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
/// The snapshot format version.
pub const VERSION: i32 = 2;
/// The dbid ZooKeeper writes in snapshots.
pub const DBID: i64 = -1;
/// Snapshot file names are `snapshot.<hex zxid>[.gz|.snappy]`.
pub const SNAPSHOT_FILE_PREFIX: &str = "snapshot";
/// snappy-java's stream magic.
pub const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The ACL index that means `OPEN_ACL_UNSAFE` without a cache entry.
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;
const SNAPPY_BLOCK: usize = 32 * 1024;
const FLUSH_AT: usize = 64 * 1024;

/// `zookeeper.snapshot.compression.method` (`SnapStream.StreamMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
}

impl Compression {
    /// The property's value as ZooKeeper reads it: `gz` or `snappy`, any
    /// case; anything else means none.
    pub fn from_property(v: &str) -> Compression {
        if v.eq_ignore_ascii_case("gz") {
            Compression::Gzip
        } else if v.eq_ignore_ascii_case("snappy") {
            Compression::Snappy
        } else {
            Compression::None
        }
    }

    /// The stream a snapshot file is in, from its name's last `.` part.
    pub fn of_file_name(name: &str) -> Compression {
        match name.rsplit_once('.') {
            Some((_, ext)) => Compression::from_property(ext),
            None => Compression::None,
        }
    }

    /// The file-name suffix: "", ".gz" or ".snappy".
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Snappy => ".snappy",
        }
    }
}

/// `snapshot.<zxid in lowercase hex><extension>` (`Util.makeSnapshotName`).
pub fn snapshot_file_name(zxid: i64, compression: Compression) -> String {
    format!("{SNAPSHOT_FILE_PREFIX}.{zxid:x}{}", compression.extension())
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    #[error("snapshot truncated or malformed: {0}")]
    Jute(#[from] JuteError),
    #[error("bad magic {0:#x} (not a ZooKeeper snapshot)")]
    BadMagic(i32),
    #[error("CRC corruption: sealed {sealed:#x}, computed {computed:#x}")]
    Checksum { sealed: i64, computed: i64 },
    #[error("cannot decompress: {0}")]
    Decompress(String),
    #[error("invalid data tree: {0}")]
    BadTree(String),
    #[error("not a snapshot file name: {0}")]
    BadName(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A snapshot, read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub header: FileHeader,
    /// Sessions with their timeouts, in file order.
    pub sessions: Vec<(i64, i32)>,
    /// The tree; its `last_zxid` is the snapshot's zxid (from the name).
    pub tree: Tree,
    /// The digest section, if the snapshot has one with a non-zero zxid.
    pub zxid_digest: Option<ZxidDigest>,
    /// The last-processed-zxid section that ZooKeeper 3.9 adds.
    pub last_processed_zxid: Option<i64>,
    /// Nodes (path, ACL index) whose ACL index is not in the snapshot's ACL
    /// cache: ZooKeeper wrote the cache, then a txn gave the node a new
    /// list before the node itself was written. They carry an empty ACL
    /// (no access) until [`Snapshot::resolve_acls`] fixes them from the log.
    pub unresolved_acls: Vec<(String, i64)>,
    /// Bytes after the last section read (a torn section, or garbage).
    pub trailing: usize,
}

impl Snapshot {
    /// Gives each node of `unresolved_acls` the ACL list of the first txn
    /// after the snapshot that creates it or sets its ACL (top level or in
    /// a multi); later txns are replayed as usual. Call before replaying
    /// the log. Leaves the aversion alone; returns the paths that no txn
    /// resolved (they keep the empty ACL).
    pub fn resolve_acls<'t>(&mut self, txns: impl IntoIterator<Item = &'t Txn>) -> Vec<String> {
        if self.unresolved_acls.is_empty() {
            return Vec::new();
        }
        let mut want: HashMap<String, Option<Vec<Acl>>> = self
            .unresolved_acls
            .iter()
            .map(|(p, _)| (p.clone(), None))
            .collect();
        fn visit(b: &TxnBody, want: &mut HashMap<String, Option<Vec<Acl>>>) {
            let found = match b {
                TxnBody::Create(c) => Some((&c.path, &c.acl)),
                TxnBody::CreateContainer(c) => Some((&c.path, &c.acl)),
                TxnBody::CreateTtl(c) => Some((&c.path, &c.acl)),
                TxnBody::SetAcl(c) => Some((&c.path, &c.acl)),
                TxnBody::Multi(subs) => {
                    if subs
                        .iter()
                        .all(|(o, _)| *o != crate::protocol::jute::op::ERROR)
                    {
                        for (_, s) in subs {
                            visit(s, want);
                        }
                    }
                    None
                }
                _ => None,
            };
            if let Some((p, acl)) = found {
                if let Some(slot @ None) = want.get_mut(p.as_str()) {
                    *slot = Some(acl.clone());
                }
            }
        }
        let snap_zxid = self.tree.last_zxid;
        for t in txns {
            if t.hdr.zxid > snap_zxid && t.hdr.op != crate::protocol::jute::op::ERROR {
                visit(&t.body, &mut want);
            }
        }
        let mut left = Vec::new();
        for (path, _) in std::mem::take(&mut self.unresolved_acls) {
            let acl = want.get(&path).cloned().flatten();
            match (acl, self.tree.get(&path)) {
                (Some(acl), Some(n)) => {
                    // A SetAclTxn with the node's own aversion changes only
                    // the list.
                    let fix = Txn {
                        hdr: crate::protocol::jute::TxnHeader {
                            client_id: 0,
                            cxid: 0,
                            zxid: snap_zxid,
                            time: 0,
                            op: crate::protocol::jute::op::SET_ACL,
                        },
                        body: TxnBody::SetAcl(crate::protocol::jute::SetAclTxn {
                            path: path.clone(),
                            acl,
                            version: n.aversion,
                        }),
                    };
                    self.tree.apply(&fix, &mut Vec::new());
                }
                _ => left.push(path),
            }
        }
        left
    }

    /// Whether the tree's digest equals the stored one, where the stored one
    /// is for this very zxid (ZooKeeper's snapshots are fuzzy: the digest
    /// may be for a later zxid, reached by replaying the log).
    pub fn digest_matches(&self) -> Option<bool> {
        match &self.zxid_digest {
            Some(d)
                if d.zxid == self.tree.last_zxid
                    && d.digest_version == crate::data::digest::DIGEST_VERSION =>
            {
                Some(d.digest == tree_digest(&self.tree))
            }
            _ => None,
        }
    }
}

/// Decompresses a snapshot file's bytes into the jute stream.
pub fn decompress(
    bytes: &[u8],
    compression: Compression,
) -> Result<std::borrow::Cow<'_, [u8]>, SnapError> {
    match compression {
        Compression::None => Ok(std::borrow::Cow::Borrowed(bytes)),
        Compression::Gzip => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| SnapError::Decompress(format!("gzip: {e}")))?;
            Ok(std::borrow::Cow::Owned(out))
        }
        Compression::Snappy => snappy_java_decode(bytes).map(std::borrow::Cow::Owned),
    }
}

/// Decodes a snappy-java `SnappyOutputStream` stream (as
/// `SnappyInputStream` does, including concatenated streams; input without
/// the magic is taken as one raw snappy block).
pub fn snappy_java_decode(bytes: &[u8]) -> Result<Vec<u8>, SnapError> {
    let err = |m: String| SnapError::Decompress(format!("snappy: {m}"));
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.len() < 16 || bytes[..8] != SNAPPY_MAGIC {
        snappy_block_len(bytes)?;
        return snap::raw::Decoder::new()
            .decompress_vec(bytes)
            .map_err(|e| err(e.to_string()));
    }
    let magic_head = i32::from_be_bytes(SNAPPY_MAGIC[..4].try_into().unwrap());
    let mut out = Vec::new();
    let mut dec = snap::raw::Decoder::new();
    let mut pos = 16;
    while bytes.len() - pos >= 4 {
        let n = i32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap());
        pos += 4;
        if n == magic_head {
            // A concatenated stream: skip the rest of its header.
            if bytes.len() - pos < 12 {
                return Err(err("truncated stream header".into()));
            }
            pos += 12;
            continue;
        }
        if n < 0 || bytes.len() - pos < n as usize {
            return Err(err(format!(
                "chunk of {n} bytes, {} left",
                bytes.len() - pos
            )));
        }
        let chunk = &bytes[pos..pos + n as usize];
        pos += n as usize;
        let len = snappy_block_len(chunk)?;
        let at = out.len();
        out.resize(at + len, 0);
        dec.decompress(chunk, &mut out[at..])
            .map_err(|e| err(e.to_string()))?;
    }
    Ok(out)
}

/// The most bytes one byte of a snappy block can stand for: a 3-byte copy
/// element makes at most 64 bytes, and no element does better.
const SNAPPY_MAX_RATIO: usize = 22;

/// The length a raw snappy block says it decompresses to, refused when no
/// block of its size could make that much: the length drives an
/// allocation, and a damaged or hostile header must not (found by
/// fuzz/src/bin/snapshot.rs: 64 KiB of input asked for 184 MB).
fn snappy_block_len(block: &[u8]) -> Result<usize, SnapError> {
    let len = snap::raw::decompress_len(block)
        .map_err(|e| SnapError::Decompress(format!("snappy: {e}")))?;
    if len > block.len().saturating_mul(SNAPPY_MAX_RATIO) {
        return Err(SnapError::Decompress(format!(
            "snappy: a block of {} bytes claims {len} bytes decompressed",
            block.len()
        )));
    }
    Ok(len)
}

/// Encodes `data` as snappy-java's `SnappyOutputStream` does.
pub fn snappy_java_encode(data: &[u8]) -> Vec<u8> {
    let mut w = SnappyJavaWriter::new(Vec::new()).expect("Vec write");
    w.write_all(data).expect("Vec write");
    w.finish().expect("Vec write")
}

/// A writer producing snappy-java's stream format.
pub struct SnappyJavaWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    enc: snap::raw::Encoder,
    out: Vec<u8>,
}

impl<W: Write> SnappyJavaWriter<W> {
    /// Writes the stream header.
    pub fn new(mut inner: W) -> std::io::Result<Self> {
        inner.write_all(&SNAPPY_MAGIC)?;
        inner.write_all(&1i32.to_be_bytes())?; // version
        inner.write_all(&1i32.to_be_bytes())?; // minimum compatible version
        Ok(SnappyJavaWriter {
            inner,
            pending: Vec::with_capacity(SNAPPY_BLOCK),
            enc: snap::raw::Encoder::new(),
            out: Vec::new(),
        })
    }

    fn emit(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.out
            .resize(snap::raw::max_compress_len(self.pending.len()), 0);
        let n = self
            .enc
            .compress(&self.pending, &mut self.out)
            .map_err(std::io::Error::other)?;
        self.inner.write_all(&(n as i32).to_be_bytes())?;
        self.inner.write_all(&self.out[..n])?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last block and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.emit()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SnappyJavaWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(SNAPPY_BLOCK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == SNAPPY_BLOCK {
            self.emit()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

enum Stream<W: Write> {
    Plain(W),
    Gzip(Box<flate2::write::GzEncoder<W>>),
    Snappy(Box<SnappyJavaWriter<W>>),
}

impl<W: Write> Stream<W> {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(w) => w.write_all(b),
            Stream::Gzip(w) => w.write_all(b),
            Stream::Snappy(w) => w.write_all(b),
        }
    }
    fn finish(self) -> std::io::Result<W> {
        match self {
            Stream::Plain(mut w) => {
                w.flush()?;
                Ok(w)
            }
            Stream::Gzip(w) => w.finish(),
            Stream::Snappy(w) => w.finish(),
        }
    }
}

/// The uncompressed stream with its running Adler32 (`CheckedOutputStream`).
struct Checked<W: Write> {
    stream: Stream<W>,
    adler: adler2::Adler32,
    buf: BytesMut,
}

impl<W: Write> Checked<W> {
    fn flush_buf(&mut self) -> std::io::Result<()> {
        self.adler.write_slice(&self.buf);
        self.stream.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
    fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }
    /// `SnapStream.sealStream`: the checksum so far, then "/".
    fn seal(&mut self) -> std::io::Result<()> {
        self.flush_buf()?;
        self.buf.long(self.adler.checksum() as i64);
        self.buf.ustring("/");
        Ok(())
    }
}

fn write_acl_list(w: &mut BytesMut, acl: &[Acl]) {
    w.int(acl.len() as i32);
    for a in acl {
        a.write(w);
    }
}

/// ACL lists by cache index (1, 2, … in first-seen order). Lists are
/// shared between nodes through their Arc, so the pointer is looked up
/// before the value.
#[derive(Default)]
struct AclIndex {
    by_ptr: HashMap<*const Vec<Acl>, i64>,
    by_value: HashMap<Bytes, i64>,
    lists: Vec<Arc<Vec<Acl>>>,
}

impl AclIndex {
    fn index_of(&mut self, acl: &Arc<Vec<Acl>>) -> i64 {
        let ptr = Arc::as_ptr(acl);
        if let Some(i) = self.by_ptr.get(&ptr) {
            return *i;
        }
        let mut key = BytesMut::new();
        write_acl_list(&mut key, acl);
        let lists = &mut self.lists;
        let i = *self.by_value.entry(key.freeze()).or_insert_with(|| {
            lists.push(acl.clone());
            lists.len() as i64
        });
        self.by_ptr.insert(ptr, i);
        i
    }
}

/// Where a snapshot body goes: a buffer, flushed now and then.
trait Sink {
    fn buf(&mut self) -> &mut BytesMut;
    fn maybe_flush(&mut self) -> std::io::Result<()>;
}

impl<W: Write> Sink for Checked<W> {
    fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
    fn maybe_flush(&mut self) -> std::io::Result<()> {
        Checked::maybe_flush(self)
    }
}

impl Sink for BytesMut {
    fn buf(&mut self) -> &mut BytesMut {
        self
    }
    fn maybe_flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The body every snapshot shares (`SerializeUtils.serializeSnapshot`):
/// sessions, the ACL cache, the nodes, then the "/" end marker.
fn write_body(w: &mut impl Sink, tree: &Tree, sessions: &[(i64, i32)]) -> std::io::Result<()> {
    w.buf().int(sessions.len() as i32);
    for (id, timeout) in sessions {
        w.buf().long(*id);
        w.buf().int(*timeout);
        w.maybe_flush()?;
    }
    // The ACL cache: one index per distinct list.
    let mut index = AclIndex::default();
    for (_, n) in tree.nodes() {
        index.index_of(&n.acl);
    }
    w.buf().int(index.lists.len() as i32);
    for (i, l) in index.lists.iter().enumerate() {
        w.buf().long(i as i64 + 1);
        write_acl_list(w.buf(), l);
        w.maybe_flush()?;
    }
    // Pass 2: the nodes, in the tree's order: by depth, so every parent
    // comes before its children as ZooKeeper's reader needs (ZooKeeper
    // itself writes depth first), and a restart's sort finds them sorted.
    for (p, n) in tree.nodes() {
        w.buf().ustring(if p == "/" { "" } else { p });
        w.buf().buffer(n.data());
        w.buf().long(index.index_of(&n.acl));
        w.buf().long(n.czxid);
        w.buf().long(n.mzxid);
        w.buf().long(n.ctime);
        w.buf().long(n.mtime);
        w.buf().int(n.version);
        w.buf().int(n.cversion);
        w.buf().int(n.aversion);
        w.buf().long(n.ephemeral_owner);
        w.buf().long(n.pzxid);
        w.maybe_flush()?;
    }
    w.buf().ustring("/");
    Ok(())
}

/// The snapshot a Zab leader streams after SNAP (`ZKDatabase.serializeSnapshot`):
/// the body alone, with no file header, seal or digest. The caller writes
/// the signature after it.
pub fn write_sync_snapshot(out: &mut BytesMut, tree: &Tree, sessions: &[(i64, i32)]) {
    // Writing to memory cannot fail.
    let _ = write_body(out, tree, sessions);
}

/// Writes `tree` and `sessions` as a snapshot (`FileSnap.serialize`) and
/// returns the writer. `zxid_digest` is the digest section (ZooKeeper writes
/// one unless `zookeeper.digest.enabled=false`; see [`ZxidDigest::of`]).
/// Distinct ACL lists get cache indexes 1, 2, … in depth-first order.
pub fn write_snapshot<W: Write>(
    out: W,
    tree: &Tree,
    sessions: &[(i64, i32)],
    compression: Compression,
    zxid_digest: Option<&ZxidDigest>,
) -> std::io::Result<W> {
    write_snapshot_sections(out, tree, sessions, compression, zxid_digest, false)
}

/// ZooKeeper 3.9's snapshot as its AdminServer `snapshot` command streams
/// it (`serializeLastProcessedZxid.enabled`, 3.9's default): uncompressed,
/// with the digest section and then the last-processed-zxid section, each
/// sealed. ZooKeeper 3.8 reads it too (it stops after the digest), and the
/// zxid section is what a `restore` takes the snapshot's zxid from (a
/// stream has no file name).
pub fn snapshot_to_vec_with_zxid(tree: &Tree, sessions: &[(i64, i32)]) -> Vec<u8> {
    let d = ZxidDigest::of(tree);
    write_snapshot_sections(
        Vec::new(),
        tree,
        sessions,
        Compression::None,
        Some(&d),
        true,
    )
    .expect("Vec write")
}

fn write_snapshot_sections<W: Write>(
    out: W,
    tree: &Tree,
    sessions: &[(i64, i32)],
    compression: Compression,
    zxid_digest: Option<&ZxidDigest>,
    last_processed_zxid: bool,
) -> std::io::Result<W> {
    let stream = match compression {
        Compression::None => Stream::Plain(out),
        Compression::Gzip => Stream::Gzip(Box::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::default(),
        ))),
        Compression::Snappy => Stream::Snappy(Box::new(SnappyJavaWriter::new(out)?)),
    };
    let mut w = Checked {
        stream,
        adler: adler2::Adler32::new(),
        buf: BytesMut::with_capacity(FLUSH_AT * 2),
    };
    FileHeader {
        magic: SNAP_MAGIC,
        version: VERSION,
        dbid: DBID,
    }
    .write(&mut w.buf);
    write_body(&mut w, tree, sessions)?;
    w.seal()?;
    if let Some(d) = zxid_digest {
        d.write(&mut w.buf);
        w.seal()?;
    }
    if last_processed_zxid {
        w.buf.long(tree.last_zxid);
        w.seal()?;
    }
    w.flush_buf()?;
    w.stream.finish()
}

/// A whole snapshot in memory, with the digest of `tree` as of its
/// `last_zxid` (what a corral snapshot, consistent at one zxid, carries).
pub fn snapshot_to_vec(tree: &Tree, sessions: &[(i64, i32)], compression: Compression) -> Vec<u8> {
    let d = ZxidDigest::of(tree);
    write_snapshot(Vec::new(), tree, sessions, compression, Some(&d)).expect("Vec write")
}

/// The seal check (`SnapStream.checkSealIntegrity`).
fn check_seal(
    r: &mut Reader<'_>,
    data: &[u8],
    adler: &mut adler2::Adler32,
    done: &mut usize,
) -> Result<(), SnapError> {
    let pos = data.len() - r.remaining();
    adler.write_slice(&data[*done..pos]);
    *done = pos;
    let computed = adler.checksum() as i64;
    let sealed = r.long()?;
    r.ustring()?;
    if sealed != computed {
        return Err(SnapError::Checksum { sealed, computed });
    }
    Ok(())
}

/// The body every snapshot shares: sessions, the ACL cache and the nodes
/// up to the "/" end marker. `total` is the length of the buffer `r` reads
/// (for error offsets). Returns the sessions, the tree at `snap_zxid`, and
/// the nodes whose ACL index the cache lacked.
#[allow(clippy::type_complexity)]
fn read_body(
    r: &mut Reader<'_>,
    total: usize,
    snap_zxid: i64,
) -> Result<(Vec<(i64, i32)>, Tree, Vec<(String, i64)>), SnapError> {
    let count = r.int()?;
    if count > 0 && count as usize > r.remaining() / 12 {
        return Err(JuteError::Short {
            at: total - r.remaining(),
            needed: count as usize * 12 - r.remaining(),
        }
        .into());
    }
    let mut sessions = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count.max(0) {
        let id = r.long()?;
        let to = r.int()?;
        sessions.push((id, to));
    }
    // The ACL cache.
    let n = r.int()?;
    let mut acls: HashMap<i64, Arc<Vec<Acl>>> = HashMap::new();
    for _ in 0..n.max(0) {
        let idx = r.long()?;
        let Some(len) = r.vec_len()? else {
            return Err(SnapError::BadTree(format!("ACL {idx}: missing acls")));
        };
        let mut list = Vec::with_capacity(len);
        for _ in 0..len {
            list.push(Acl::read(r)?);
        }
        acls.insert(idx, Arc::new(list));
    }
    let open = Arc::new(crate::data::tree::open_acl());
    let no_access: Arc<Vec<Acl>> = Arc::new(Vec::new());
    let mut unresolved: Vec<(String, i64)> = Vec::new();
    // The nodes.
    let mut nodes: Vec<Node> = Vec::new();
    loop {
        let Some(path) = r.ustr()? else {
            return Err(SnapError::BadTree("null path".into()));
        };
        if path == "/" {
            break;
        }
        let key: &str = if path.is_empty() {
            "/"
        } else if path.starts_with('/') {
            &path
        } else {
            return Err(SnapError::BadTree(format!("path {path:?} is not absolute")));
        };
        let data_buf = r.buffer()?;
        let acl_idx = r.long()?;
        let acl = if acl_idx == OPEN_UNSAFE_ACL_ID {
            open.clone()
        } else if let Some(a) = acls.get(&acl_idx) {
            a.clone()
        } else {
            // ZooKeeper writes the ACL cache before the nodes, and its
            // snapshots are fuzzy: a node created (or re-ACLed) meanwhile
            // refers to a list the cache did not yet hold. It is fixed by
            // the log's txn for that node (`Snapshot::resolve_acls`).
            unresolved.push((key.to_string(), acl_idx));
            no_access.clone()
        };
        let mut h = NodeHead::new(acl);
        h.czxid = r.long()?;
        h.mzxid = r.long()?;
        h.ctime = r.long()?;
        h.mtime = r.long()?;
        h.version = r.int()?;
        h.cversion = r.int()?;
        h.aversion = r.int()?;
        h.ephemeral_owner = r.long()?;
        h.pzxid = r.long()?;
        nodes.push(Node::new(key, h, data_buf));
    }
    // ZooKeeper checks each node's parent as it reads the node, before
    // the seal.
    let tree = Tree::from_nodes(nodes, snap_zxid).map_err(SnapError::BadTree)?;
    Ok((sessions, tree, unresolved))
}

/// The snapshot a Zab leader streams after SNAP: sessions and the tree
/// (its last zxid `zxid`), with no header, seal or digest. `Ok(None)` when
/// `buf` does not hold all of it yet; otherwise also how many bytes it took.
#[allow(clippy::type_complexity)]
pub fn read_sync_snapshot(
    buf: &[u8],
    zxid: i64,
) -> Result<Option<(Vec<(i64, i32)>, Tree, usize)>, SnapError> {
    let mut r = Reader::new(buf);
    match read_body(&mut r, buf.len(), zxid) {
        Ok((sessions, tree, _)) => Ok(Some((sessions, tree, buf.len() - r.remaining()))),
        Err(SnapError::Jute(JuteError::Short { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a snapshot's bytes (as stored, compressed or not) taken at
/// `snap_zxid` (the zxid in its name).
pub fn read_snapshot(
    bytes: &[u8],
    compression: Compression,
    snap_zxid: i64,
) -> Result<Snapshot, SnapError> {
    let data = decompress(bytes, compression)?;
    let data: &[u8] = &data;
    let mut r = Reader::new(data);
    let header = FileHeader::read(&mut r)?;
    if header.magic != SNAP_MAGIC {
        return Err(SnapError::BadMagic(header.magic));
    }
    let (sessions, tree, unresolved) = read_body(&mut r, data.len(), snap_zxid)?;
    let mut adler = adler2::Adler32::new();
    let mut done = 0;
    check_seal(&mut r, data, &mut adler, &mut done)?;
    // The digest section: absent in snapshots from before it existed.
    let mut zxid_digest = None;
    let mut last_processed_zxid = None;
    if r.remaining() > 0 {
        let d = ZxidDigest::read(&mut r)?;
        check_seal(&mut r, data, &mut adler, &mut done)?;
        if d.zxid > 0 {
            zxid_digest = Some(d);
        }
        if r.remaining() >= 8 {
            last_processed_zxid = Some(r.long()?);
            check_seal(&mut r, data, &mut adler, &mut done)?;
        }
    }
    Ok(Snapshot {
        header,
        sessions,
        tree,
        zxid_digest,
        last_processed_zxid,
        unresolved_acls: unresolved,
        trailing: r.remaining(),
    })
}

/// Why a snapshot sent to be restored is refused.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Snap(#[from] SnapError),
    #[error("the snapshot has no last-processed-zxid or digest section to take its zxid from")]
    NoZxid,
    #[error("the snapshot's digest does not match its tree")]
    Digest,
    #[error("{0} nodes name ACL lists the snapshot lacks (a fuzzy snapshot needs its log)")]
    UnresolvedAcls(usize),
    #[error("{0} bytes after the snapshot's last section (torn or not a snapshot)")]
    Trailing(usize),
}

/// Reads a snapshot streamed to the AdminServer's `restore` (ZooKeeper's
/// `ZKDatabase.deserializeSnapshot` of an uncompressed stream): every
/// seal checked, its zxid from the last-processed-zxid section (3.9) or
/// else the digest section (3.8), the digest checked when there is one,
/// and every node's ACL list present. Nothing half-read comes out.
pub fn read_restore(bytes: &[u8]) -> Result<Snapshot, RestoreError> {
    let mut s = read_snapshot(bytes, Compression::None, 0)?;
    if s.trailing > 0 {
        return Err(RestoreError::Trailing(s.trailing));
    }
    let zxid = s
        .last_processed_zxid
        .or(s.zxid_digest.as_ref().map(|d| d.zxid))
        .ok_or(RestoreError::NoZxid)?;
    s.tree.last_zxid = zxid;
    if s.digest_matches() == Some(false) {
        return Err(RestoreError::Digest);
    }
    if !s.unresolved_acls.is_empty() {
        return Err(RestoreError::UnresolvedAcls(s.unresolved_acls.len()));
    }
    Ok(s)
}

/// Reads a snapshot file; the stream and zxid come from its name.
pub fn read_snapshot_file(path: &Path) -> Result<Snapshot, SnapError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let zxid = zxid_from_name(name, SNAPSHOT_FILE_PREFIX)
        .ok_or_else(|| SnapError::BadName(name.into()))?;
    let bytes = crate::storage::filemap::map(path)?;
    read_snapshot(&bytes, Compression::of_file_name(name), zxid)
}

/// ZooKeeper's quick validity check (`SnapStream.isValidSnapshot`), over a
/// file's name, length, first 8 bytes and last 5 bytes: an uncompressed
/// snapshot must be at least 10 bytes and end with the seal's "/"; a
/// compressed one must start with its stream's magic.
pub fn is_valid_snapshot_parts(name: &str, len: u64, head: &[u8], tail: &[u8]) -> bool {
    if zxid_from_name(name, SNAPSHOT_FILE_PREFIX).is_none() {
        return false;
    }
    match Compression::of_file_name(name) {
        Compression::Gzip => head.len() >= 2 && head[..2] == [0x1f, 0x8b],
        Compression::Snappy => head.len() >= 8 && head[..8] == SNAPPY_MAGIC,
        Compression::None => len >= 10 && tail == [0, 0, 0, 1, b'/'],
    }
}

/// [`is_valid_snapshot_parts`] over a whole file in memory.
pub fn is_valid_snapshot(name: &str, contents: &[u8]) -> bool {
    let n = contents.len();
    is_valid_snapshot_parts(
        name,
        n as u64,
        &contents[..n.min(8)],
        &contents[n.saturating_sub(5)..],
    )
}

/// [`is_valid_snapshot_parts`] on a file, reading only its ends.
pub fn is_valid_snapshot_file(path: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let check = || -> std::io::Result<bool> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        let mut head = vec![0u8; len.min(8) as usize];
        f.read_exact(&mut head)?;
        let mut tail = vec![0u8; len.min(5) as usize];
        f.seek(SeekFrom::Start(len - tail.len() as u64))?;
        f.read_exact(&mut tail)?;
        Ok(is_valid_snapshot_parts(name, len, &head, &tail))
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::txn::{Txn, TxnBody};
    use crate::protocol::jute::{
        op, CreateContainerTxn, CreateTtlTxn, CreateTxn, Id, SetAclTxn, TxnHeader,
    };

    fn digest_acl(user: &str, perms: i32) -> Vec<Acl> {
        vec![Acl {
            perms,
            id: Id {
                scheme: "digest".into(),
                id: format!("{user}:hash"),
            },
        }]
    }

    fn apply(t: &mut Tree, zxid: i64, client: i64, op: i32, body: TxnBody) {
        let txn = Txn {
            hdr: TxnHeader {
                client_id: client,
                cxid: 1,
                zxid,
                time: 1_700_000_000_000 + zxid,
                op,
            },
            body,
        };
        let r = t.apply(&txn, &mut Vec::new());
        assert_eq!(r.err, 0, "{txn:?}");
    }

    fn create(path: &str, data: Option<&[u8]>, acl: Vec<Acl>, ephemeral: bool) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: data.map(Bytes::copy_from_slice),
            acl,
            ephemeral,
            parent_cversion: -1,
        })
    }

    /// A tree with every kind of node, shared and distinct ACLs, null and
    /// empty data.
    #[test]
    fn a_sync_snapshot_round_trips_and_a_short_one_waits() {
        let tree = sample_tree();
        let sessions = vec![(0x1234, 30000), (0x99, 4000)];
        let mut out = BytesMut::new();
        write_sync_snapshot(&mut out, &tree, &sessions);
        out.extend_from_slice(b"after");
        let (s2, t2, used) = read_sync_snapshot(&out, tree.last_zxid).unwrap().unwrap();
        assert_eq!(used, out.len() - 5, "stops at the end marker");
        assert_eq!(s2, sessions);
        assert_eq!(t2.node_count(), tree.node_count());
        for (p, n) in tree.nodes() {
            let m = t2.get(p).unwrap();
            assert_eq!(
                (m.data(), m.czxid, m.mzxid, m.version),
                (n.data(), n.czxid, n.mzxid, n.version)
            );
        }
        for cut in [0, 3, 10, used / 2, used - 1] {
            assert!(
                read_sync_snapshot(&out[..cut], 1).unwrap().is_none(),
                "cut at {cut}"
            );
        }
    }

    pub(crate) fn sample_tree() -> Tree {
        let mut t = Tree::new();
        let open = crate::data::tree::open_acl();
        let mut z = 0;
        let mut next = || {
            z += 1;
            z
        };
        apply(
            &mut t,
            next(),
            5,
            op::CREATE,
            create("/app", Some(b"hello"), open.clone(), false),
        );
        apply(
            &mut t,
            next(),
            5,
            op::CREATE,
            create("/app/null", None, open.clone(), false),
        );
        apply(
            &mut t,
            next(),
            5,
            op::CREATE,
            create("/app/empty", Some(b""), digest_acl("bob", 31), false),
        );
        apply(
            &mut t,
            next(),
            5,
            op::CREATE,
            create("/app/bob2", Some(b"x"), digest_acl("bob", 31), false),
        );
        apply(
            &mut t,
            next(),
            7,
            op::CREATE,
            create("/app/eph", Some(b"e"), open.clone(), true),
        );
        apply(
            &mut t,
            next(),
            5,
            op::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/box".into(),
                data: Some(Bytes::from_static(b"c")),
                acl: open.clone(),
                parent_cversion: -1,
            }),
        );
        apply(
            &mut t,
            next(),
            5,
            op::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/ttl".into(),
                data: Some(Bytes::from(vec![0u8; 100_000])),
                acl: digest_acl("amy", 1),
                parent_cversion: -1,
                ttl: 5000,
            }),
        );
        apply(
            &mut t,
            next(),
            5,
            op::CREATE,
            create("/box/seq0000000000", Some(b"s"), open.clone(), false),
        );
        apply(
            &mut t,
            next(),
            5,
            op::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/app".into(),
                acl: crate::data::tree::read_acl(),
                version: 1,
            }),
        );
        for i in 0..50 {
            apply(
                &mut t,
                next(),
                5,
                op::CREATE,
                create(
                    &format!("/many{i:03}"),
                    Some(&[i as u8; 40]),
                    open.clone(),
                    false,
                ),
            );
        }
        t
    }

    pub(crate) fn assert_same_tree(a: &Tree, b: &Tree) {
        assert_eq!(a.node_count(), b.node_count());
        for (p, n) in a.nodes() {
            assert_eq!(Some(n), b.get(p), "node {p}");
        }
        assert_eq!(a.ephemerals_by_session(), b.ephemerals_by_session());
        assert_eq!(
            a.containers().collect::<Vec<_>>(),
            b.containers().collect::<Vec<_>>()
        );
        assert_eq!(a.ttls().collect::<Vec<_>>(), b.ttls().collect::<Vec<_>>());
        assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    }

    const SESSIONS: [(i64, i32); 2] = [(5, 30000), (7, 4000)];

    #[test]
    fn round_trip_every_compression() {
        let t = sample_tree();
        for c in [Compression::None, Compression::Gzip, Compression::Snappy] {
            let bytes = snapshot_to_vec(&t, &SESSIONS, c);
            let name = snapshot_file_name(t.last_zxid, c);
            assert!(is_valid_snapshot(&name, &bytes), "{c:?}");
            let s = read_snapshot(&bytes, c, t.last_zxid).unwrap();
            assert_eq!(
                s.header,
                FileHeader {
                    magic: SNAP_MAGIC,
                    version: 2,
                    dbid: -1
                }
            );
            assert_eq!(s.sessions, SESSIONS);
            assert_same_tree(&t, &s.tree);
            assert_eq!(s.tree.last_zxid, t.last_zxid);
            assert_eq!(s.zxid_digest, Some(ZxidDigest::of(&t)));
            assert_eq!(s.digest_matches(), Some(true));
            assert_eq!(s.last_processed_zxid, None);
            // Same uncompressed stream whatever the compression.
            assert_eq!(
                &*decompress(&bytes, c).unwrap(),
                &snapshot_to_vec(&t, &SESSIONS, Compression::None)[..]
            );
        }
    }

    #[test]
    fn layout_of_a_fresh_tree() {
        let t = Tree::new();
        let b = write_snapshot(Vec::new(), &t, &[], Compression::None, None).unwrap();
        let mut r = Reader::new(&b);
        assert_eq!(&b[..16], b"ZKSN\0\0\0\x02\xff\xff\xff\xff\xff\xff\xff\xff");
        r.long().unwrap();
        r.long().unwrap();
        assert_eq!(r.int().unwrap(), 0); // sessions
        assert_eq!(r.int().unwrap(), 2); // ACL lists: open, read-only
        assert_eq!(r.long().unwrap(), 1);
        assert_eq!(
            <Vec<Acl>>::read(&mut r).unwrap(),
            crate::data::tree::open_acl()
        );
        assert_eq!(r.long().unwrap(), 2);
        assert_eq!(
            <Vec<Acl>>::read(&mut r).unwrap(),
            crate::data::tree::read_acl()
        );
        let mut paths = vec![];
        loop {
            let p = r.ustring().unwrap().unwrap();
            if p == "/" {
                break;
            }
            r.buffer().unwrap();
            let acl = r.long().unwrap();
            // StatPersisted: 4 longs, 3 ints, 2 longs.
            for _ in 0..4 {
                r.long().unwrap();
            }
            for _ in 0..3 {
                r.int().unwrap();
            }
            r.long().unwrap();
            r.long().unwrap();
            paths.push((p, acl));
        }
        assert_eq!(
            paths,
            [
                ("".to_string(), 1),
                ("/zookeeper".to_string(), 1),
                ("/zookeeper/config".to_string(), 2),
                ("/zookeeper/quota".to_string(), 1)
            ]
        );
        let sealed = r.long().unwrap();
        let at = b.len() - r.remaining() - 8;
        assert_eq!(sealed, adler2::adler32_slice(&b[..at]) as i64);
        assert_eq!(r.ustring().unwrap().unwrap(), "/");
        assert_eq!(r.remaining(), 0);
        // Without a digest section it still reads, as an older snapshot.
        let s = read_snapshot(&b, Compression::None, 0).unwrap();
        assert_eq!(s.zxid_digest, None);
        assert_same_tree(&t, &s.tree);
    }

    #[test]
    fn truncated_snapshots_are_detected() {
        let t = sample_tree();
        let b = snapshot_to_vec(&t, &SESSIONS, Compression::None);
        let full = read_snapshot(&b, Compression::None, 1).unwrap();
        assert!(full.zxid_digest.is_some());
        let name = "snapshot.1";
        // The end of the first seal: a prefix that ends there is a whole
        // snapshot without the digest section (an older ZooKeeper's).
        let first_seal_end = b.len() - (20 + 13);
        for cut in (0..b.len()).step_by(7).chain(b.len() - 40..b.len()) {
            let p = &b[..cut];
            let valid = is_valid_snapshot(name, p);
            let read = read_snapshot(p, Compression::None, 1);
            if cut == first_seal_end {
                assert!(valid && read.is_ok(), "cut {cut}");
                assert_eq!(read.unwrap().zxid_digest, None);
            } else {
                assert!(read.is_err(), "cut {cut} reads");
            }
        }
        for c in [Compression::Gzip, Compression::Snappy] {
            let b = snapshot_to_vec(&t, &SESSIONS, c);
            for cut in [b.len() / 2, b.len() - 1] {
                assert!(read_snapshot(&b[..cut], c, 1).is_err(), "{c:?} cut {cut}");
            }
        }
        assert!(!is_valid_snapshot(name, b"ZKSN"));
        assert!(!is_valid_snapshot("snapshot.zz", &b));
        assert!(!is_valid_snapshot("log.1", &b));
    }

    #[test]
    fn corruption_fails_the_seal() {
        let t = sample_tree();
        let b = snapshot_to_vec(&t, &SESSIONS, Compression::None);
        // Flip one byte of node data (the 100 kB of zeros of /ttl).
        let at = b
            .windows(64)
            .position(|w| w.iter().all(|x| *x == 0))
            .unwrap()
            + 32;
        let mut v = b.clone();
        v[at] = 1;
        assert!(matches!(
            read_snapshot(&v, Compression::None, 1),
            Err(SnapError::Checksum { .. })
        ));
        // Flip one byte of the digest section: the second seal fails.
        let mut v = b.clone();
        let n = v.len();
        v[n - 20] ^= 1;
        assert!(matches!(
            read_snapshot(&v, Compression::None, 1),
            Err(SnapError::Checksum { .. })
        ));
        // Bad magic.
        let mut v = b;
        v[0] = b'X';
        assert!(matches!(
            read_snapshot(&v, Compression::None, 1),
            Err(SnapError::BadMagic(_))
        ));
    }

    #[test]
    fn bad_trees_are_rejected() {
        // A node whose parent is missing.
        let mut w = BytesMut::new();
        FileHeader {
            magic: SNAP_MAGIC,
            version: 2,
            dbid: -1,
        }
        .write(&mut w);
        w.int(0);
        w.int(0);
        let node = |w: &mut BytesMut, p: &str, acl: i64| {
            w.ustring(p);
            w.buffer(None);
            w.long(acl);
            for _ in 0..4 {
                w.long(0);
            }
            for _ in 0..3 {
                w.int(0);
            }
            w.long(0);
            w.long(0);
        };
        let mut a = w.clone();
        node(&mut a, "", -1);
        node(&mut a, "/x/y", -1);
        a.ustring("/");
        assert!(matches!(
            read_snapshot(&a, Compression::None, 0),
            Err(SnapError::BadTree(_))
        ));
        // An ACL index missing from the cache (a fuzzy ZooKeeper snapshot):
        // read with no access, then resolved from the log.
        let mut a = w.clone();
        node(&mut a, "", -1);
        node(&mut a, "/x", 3);
        a.ustring("/");
        let sum = adler2::adler32_slice(&a) as i64;
        a.long(sum);
        a.ustring("/");
        let mut s = read_snapshot(&a, Compression::None, 0).unwrap();
        assert_eq!(s.unresolved_acls, [("/x".to_string(), 3)]);
        assert!(s.tree.get("/x").unwrap().acl.is_empty());
        let acl = digest_acl("carl", 3);
        let fix = Txn {
            hdr: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid: 1,
                time: 5,
                op: op::CREATE,
            },
            body: create("/x", None, acl.clone(), false),
        };
        assert!(s.resolve_acls([&fix]).is_empty());
        let n = s.tree.get("/x").unwrap();
        assert_eq!((&*n.acl, n.aversion, s.tree.last_zxid), (&acl, 0, 0));
        assert!(s.unresolved_acls.is_empty());
        // -1 resolves to OPEN_ACL_UNSAFE.
        let mut a = w;
        node(&mut a, "", -1);
        a.ustring("/");
        let sum = adler2::adler32_slice(&a) as i64;
        a.long(sum);
        a.ustring("/");
        let s = read_snapshot(&a, Compression::None, 0).unwrap();
        assert_eq!(*s.tree.get("/").unwrap().acl, crate::data::tree::open_acl());
        assert_eq!(s.tree.get("/").unwrap().data(), None);
    }

    #[test]
    fn a_streamed_snapshot_restores_and_a_damaged_one_is_refused() {
        let t = sample_tree();
        let b = snapshot_to_vec_with_zxid(&t, &SESSIONS);
        let s = read_restore(&b).unwrap();
        assert_eq!(s.last_processed_zxid, Some(t.last_zxid));
        assert_eq!(s.tree.last_zxid, t.last_zxid);
        assert_eq!(s.sessions, SESSIONS);
        assert_eq!(tree_digest(&s.tree), tree_digest(&t));
        // 3.8's file (no zxid section): the digest section's zxid.
        let old = snapshot_to_vec(&t, &SESSIONS, Compression::None);
        assert_eq!(read_restore(&old).unwrap().tree.last_zxid, t.last_zxid);
        // Every truncation and every flipped byte is refused, but the cut
        // that leaves exactly 3.8's file (whole, sealed).
        assert_eq!(&b[..old.len()], &old[..]);
        for cut in 0..b.len() {
            if cut != old.len() {
                assert!(read_restore(&b[..cut]).is_err(), "cut at {cut}");
            }
        }
        assert!(matches!(
            read_restore(&[&b[..], b"x"].concat()),
            Err(RestoreError::Trailing(1))
        ));
        // A flipped byte is refused, or (in a seal's "/" marker, which
        // ZooKeeper reads and ignores) changes nothing that is restored.
        for at in 0..b.len() {
            let mut bad = b.clone();
            bad[at] ^= 0x40;
            if let Ok(s) = read_restore(&bad) {
                assert_eq!(
                    (tree_digest(&s.tree), s.tree.last_zxid, &s.sessions[..]),
                    (tree_digest(&t), t.last_zxid, &SESSIONS[..]),
                    "byte {at} flipped"
                );
            }
        }
    }

    #[test]
    fn lastprocessed_zxid_section_of_3_9() {
        let t = sample_tree();
        let mut b = snapshot_to_vec(&t, &SESSIONS, Compression::None);
        b.extend_from_slice(&t.last_zxid.to_be_bytes());
        let sum = adler2::adler32_slice(&b) as i64;
        b.extend_from_slice(&sum.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 1, b'/']);
        let s = read_snapshot(&b, Compression::None, t.last_zxid).unwrap();
        assert_eq!(s.last_processed_zxid, Some(t.last_zxid));
    }

    #[test]
    fn snappy_java_stream() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let enc = snappy_java_encode(&data);
        assert_eq!(&enc[..16], b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01");
        // Blocks of 32 KiB, as snappy-java writes them.
        let first = i32::from_be_bytes(enc[16..20].try_into().unwrap()) as usize;
        assert_eq!(
            snap::raw::decompress_len(&enc[20..20 + first]).unwrap(),
            32 * 1024
        );
        assert_eq!(snappy_java_decode(&enc).unwrap(), data);
        // Concatenated streams, and a raw block without the header.
        let mut two = enc.clone();
        two.extend_from_slice(&snappy_java_encode(b"tail"));
        let mut want = data.clone();
        want.extend_from_slice(b"tail");
        assert_eq!(snappy_java_decode(&two).unwrap(), want);
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"raw bytes")
            .unwrap();
        assert_eq!(snappy_java_decode(&raw).unwrap(), b"raw bytes");
        assert!(snappy_java_decode(&enc[..enc.len() - 3]).is_err());
    }

    /// A snappy block whose header claims far more than any block of its
    /// size can make is refused before anything is allocated for it (the
    /// fuzzer's find: 64 KiB asking for 184 MB). Data as compressible as
    /// snappy allows still decodes.
    #[test]
    fn snappy_lengths_that_no_block_can_make_are_refused() {
        let mut claim = Vec::new();
        let mut n: u32 = 184_549_375;
        while n >= 0x80 {
            claim.push((n as u8) | 0x80);
            n >>= 7;
        }
        claim.push(n as u8);
        claim.extend_from_slice(&[0u8; 40]);
        let e = snappy_java_decode(&claim).unwrap_err().to_string();
        assert!(e.contains("claims 184549375 bytes"), "{e}");
        let mut stream = snappy_java_encode(b"");
        stream.extend_from_slice(&(claim.len() as i32).to_be_bytes());
        stream.extend_from_slice(&claim);
        let e = snappy_java_decode(&stream).unwrap_err().to_string();
        assert!(e.contains("claims 184549375 bytes"), "{e}");
        let zeros = vec![0u8; 1 << 20];
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert!(
            raw.len() * 20 < zeros.len(),
            "as compressible as snappy gets"
        );
        assert_eq!(snappy_java_decode(&raw).unwrap(), zeros);
        assert_eq!(
            snappy_java_decode(&snappy_java_encode(&zeros)).unwrap(),
            zeros
        );
    }

    #[test]
    fn names() {
        assert_eq!(snapshot_file_name(0x2a, Compression::None), "snapshot.2a");
        assert_eq!(
            snapshot_file_name(0x2a, Compression::Gzip),
            "snapshot.2a.gz"
        );
        assert_eq!(
            snapshot_file_name(0x2a, Compression::Snappy),
            "snapshot.2a.snappy"
        );
        assert_eq!(
            Compression::of_file_name("snapshot.2a.SNAPPY"),
            Compression::Snappy
        );
        assert_eq!(Compression::of_file_name("snapshot.2a"), Compression::None);
        assert_eq!(Compression::from_property("GZ"), Compression::Gzip);
        assert_eq!(Compression::from_property("lz4"), Compression::None);
    }
}
