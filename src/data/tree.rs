//! The data tree: an immutable, versioned map of znodes.
//!
//! Owns the nodes, their stats, the ephemeral index and the container/TTL
//! sets, and the `apply` of a committed txn (ZooKeeper's
//! `DataTree.processTxn`). A `Tree` clones in O(1) and shares structure with
//! its ancestors (imbl), so the sequencer mutates its own copy and publishes
//! cheap immutable versions to the shards. It does no I/O and knows nothing
//! of sessions, watches or connections: `apply` returns the change events
//! instead of firing them.
//!
//! Layout, chosen for memory and restart time (perf/README.md): one
//! persistent B-tree of all nodes ordered by (depth, path) — so a node's
//! children are one contiguous run and no node keeps a children set — and
//! one allocation per node holding its fields, path and data. The tree
//! also keeps ZooKeeper's digest up to date as nodes change.

use crate::data::digest::{digest_of, AdHash, ZxidDigest, DIGEST_VERSION};
use crate::data::txn::{Txn, TxnBody};
use crate::protocol::jute::{op, Acl, Code, Id, Stat};
use bytes::Bytes;
use imbl::{GenericHashMap, OrdSet};
use ref_cast::RefCast;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::sync::Arc;
use triomphe::ThinArc;

/// imbl's persistent hash map with a fast, randomly seeded hasher
/// (foldhash), for the small indexes.
type HashMap<K, V> =
    GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// ZooKeeper paths in the tree's order: by depth (the number of `/`), then
/// bytewise. Under this order a node's children are one contiguous run, in
/// name order, so no node needs a children set of its own: a B-tree of all
/// nodes holds everything (imbl's HAMT cost 134 bytes a node, the children
/// sets 43 more). It is the byte order of the paths' keys ([`PathStr`]).
pub fn path_order(a: &str, b: &str) -> Ordering {
    Key::new(a, &[]).get().cmp(Key::new(b, &[]).get())
}

/// A node's key: its depth (the number of `/`, big-endian) and then its
/// path. Plain byte order over keys is [`path_order`] over paths, so a
/// lookup compares with `memcmp` and counts the slashes of its own path
/// once (counting them in every comparison was a third of a lookup).
#[derive(Debug, RefCast, PartialEq, Eq, PartialOrd, Ord)]
#[repr(transparent)]
struct PathStr([u8]);

/// The bytes of a depth prefix.
const DEPTH: usize = 4;

fn depth_of(path: &[u8]) -> [u8; DEPTH] {
    (path.iter().filter(|c| **c == b'/').count() as u32).to_be_bytes()
}

/// A node as the map holds it: equal and ordered by its key alone.
#[derive(Debug, Clone)]
struct Entry(Node);

impl Borrow<PathStr> for Entry {
    fn borrow(&self) -> &PathStr {
        PathStr::ref_cast(self.0.key_bytes())
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.0.key_bytes() == o.0.key_bytes()
    }
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.key_bytes().cmp(o.0.key_bytes())
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A key (depth, path) followed by `data`: what a node stores after its
/// header, or, without data, what a lookup compares. Built on the stack
/// when short.
enum Key {
    Short([u8; Key::SHORT], usize),
    Long(Vec<u8>),
}

impl Key {
    const SHORT: usize = 128;

    fn new(path: &str, data: &[u8]) -> Key {
        let p = path.as_bytes();
        let n = DEPTH + p.len() + data.len();
        let fill = |buf: &mut [u8]| {
            buf[..DEPTH].copy_from_slice(&depth_of(p));
            buf[DEPTH..DEPTH + p.len()].copy_from_slice(p);
            buf[DEPTH + p.len()..].copy_from_slice(data);
        };
        if n <= Key::SHORT {
            let mut b = [0u8; Key::SHORT];
            fill(&mut b[..n]);
            Key::Short(b, n)
        } else {
            let mut v = vec![0u8; n];
            fill(&mut v);
            Key::Long(v)
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Short(b, n) => &b[..*n],
            Key::Long(v) => v,
        }
    }

    fn get(&self) -> &PathStr {
        PathStr::ref_cast(self.bytes())
    }
}

/// The lookup key of `path`.
fn ps(path: &str) -> Key {
    Key::new(path, &[])
}

/// A path as the tree stores it (shared between versions).
pub type PathKey = Arc<str>;

/// `ephemeralOwner` of a container node.
pub const CONTAINER_OWNER: i64 = i64::MIN;
const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000u64 as i64;
const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
/// The largest TTL ZooKeeper accepts, in ms.
pub const TTL_MAX: i64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

/// What kind of node an `ephemeralOwner` says this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

impl NodeKind {
    pub fn of_owner(owner: i64) -> NodeKind {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if owner & EXTENDED_MASK == EXTENDED_MASK {
            NodeKind::Ttl(owner & TTL_MAX)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }

    /// The `ephemeralOwner` encoding of a TTL.
    pub fn ttl_owner(ttl: i64) -> i64 {
        EXTENDED_MASK | ttl
    }
}

/// A znode's fixed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHead {
    pub acl: Arc<Vec<Acl>>,
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    /// How many children the node has (the tree holds them).
    pub num_children: i32,
    /// The data's length, -1 for null data (set by [`Node::new`]).
    data_len: i32,
    /// The path's length in bytes (set by [`Node::new`]).
    path_len: u32,
}

impl NodeHead {
    /// Zeros everywhere, with `acl`.
    pub fn new(acl: Arc<Vec<Acl>>) -> NodeHead {
        NodeHead {
            acl,
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            num_children: 0,
            data_len: 0,
            path_len: 0,
        }
    }
}

/// One znode: its fixed fields, its path and its data in one shared,
/// immutable allocation (a thin `Arc` of a header and a byte slice). A
/// change makes a new one. One allocation a node, instead of a node, a
/// path and a data buffer, is most of what keeps 1M znodes small.
#[derive(Clone)]
pub struct Node(ThinArc<NodeHead, u8>);

impl std::ops::Deref for Node {
    type Target = NodeHead;
    fn deref(&self) -> &NodeHead {
        &self.0.header.header
    }
}

impl PartialEq for Node {
    fn eq(&self, o: &Node) -> bool {
        **self == **o && self.0.slice == o.0.slice
    }
}

impl Eq for Node {}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("path", &self.path())
            .field("head", &**self)
            .field("data", &self.data())
            .finish()
    }
}

impl Node {
    /// A node at `path` with these fields and data.
    pub fn new(path: &str, mut head: NodeHead, data: Option<&[u8]>) -> Node {
        head.path_len = path.len() as u32;
        head.data_len = data.map_or(-1, |d| d.len() as i32);
        let bytes = Key::new(path, data.unwrap_or_default());
        Node(ThinArc::from_header_and_slice(head, bytes.bytes()))
    }

    fn empty(path: &str, acl: Arc<Vec<Acl>>) -> Node {
        Node::new(path, NodeHead::new(acl), Some(&[]))
    }

    fn path_bytes(&self) -> &[u8] {
        &self.0.slice[DEPTH..DEPTH + self.path_len as usize]
    }

    /// The node's key in the tree: its depth, then its path.
    fn key_bytes(&self) -> &[u8] {
        &self.0.slice[..DEPTH + self.path_len as usize]
    }

    /// The node's path.
    pub fn path(&self) -> &str {
        // Always UTF-8: `new` copied it from a `str`.
        std::str::from_utf8(self.path_bytes()).unwrap_or_default()
    }

    /// The data; `None` for null data.
    pub fn data(&self) -> Option<&[u8]> {
        (self.0.header.header.data_len >= 0)
            .then(|| &self.0.slice[DEPTH + self.path_len as usize..])
    }

    /// ZooKeeper's digest of this node ([`node_digest`]).
    pub fn digest(&self) -> u64 {
        node_digest(self.path(), self)
    }

    /// A copy with the fixed fields changed by `f`.
    pub fn with(&self, f: impl FnOnce(&mut NodeHead)) -> Node {
        let mut h = NodeHead::clone(self);
        f(&mut h);
        Node::new(self.path(), h, self.data())
    }

    /// A copy with new data and the fixed fields changed by `f`.
    pub fn with_data(&self, data: Option<&[u8]>, f: impl FnOnce(&mut NodeHead)) -> Node {
        let mut h = NodeHead::clone(self);
        f(&mut h);
        Node::new(self.path(), h, data)
    }

    pub fn data_len(&self) -> i32 {
        self.data_len.max(0)
    }

    /// The client-visible Stat (ZooKeeper's `DataNode.copyStat`): the
    /// stored cversion counts creates, the client sees changes
    /// (`2 * cversion - numChildren`), and only true ephemerals show an owner.
    pub fn stat(&self) -> Stat {
        let num_children = self.num_children;
        let owner = match self.kind() {
            NodeKind::Ephemeral(s) => s,
            _ => 0,
        };
        Stat {
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(num_children),
            ephemeral_owner: owner,
            num_children,
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            aversion: self.aversion,
            data_length: self.data_len(),
            pzxid: self.pzxid,
        }
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::of_owner(self.ephemeral_owner)
    }
}

/// A change that watches may care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// A change event produced by `apply`, in txn order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub path: PathKey,
    pub kind: EventType,
    /// The ACL of the node at `path` as the change left it (a deleted
    /// node's last ACL): a watcher is told only if it may READ the node
    /// (ZooKeeper 3.8.4's fix for CVE-2024-23944).
    pub acl: Arc<Vec<Acl>>,
}

/// What applying one txn (or one sub-txn of a multi) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    pub op: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    /// A reconfig's new config (its reply carries it).
    pub data: Option<Bytes>,
    pub multi: Vec<ApplyResult>,
}

impl ApplyResult {
    fn new(op: i32) -> ApplyResult {
        ApplyResult {
            op,
            err: 0,
            path: String::new(),
            stat: None,
            data: None,
            multi: Vec::new(),
        }
    }
}

/// ACL `world:anyone` with all permissions.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: crate::data::acl::perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

/// One shared copy of the open ACL, which most nodes carry (ZooKeeper
/// shares ACL lists through its ACL cache for the same reason: memory).
static OPEN_ACL: std::sync::LazyLock<Arc<Vec<Acl>>> =
    std::sync::LazyLock::new(|| Arc::new(open_acl()));

/// The ACL list to store on a node: the shared one where it is the open ACL.
pub fn shared_acl(acl: &[Acl]) -> Arc<Vec<Acl>> {
    if acl == OPEN_ACL.as_slice() {
        OPEN_ACL.clone()
    } else {
        Arc::new(acl.to_vec())
    }
}

/// ACL `world:anyone` with read permission only.
pub fn read_acl() -> Vec<Acl> {
    vec![Acl {
        perms: crate::data::acl::perms::READ,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

/// One immutable version of the whole tree.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: OrdSet<Entry>,
    ephemerals: HashMap<i64, OrdSet<PathKey>>,
    containers: OrdSet<PathKey>,
    ttls: OrdSet<PathKey>,
    /// The zxid of the last txn applied.
    pub last_zxid: i64,
    data_size: u64,
    /// ZooKeeper's tree digest, kept up to date as nodes change.
    digest: AdHash,
    /// Whether `/zookeeper/quota` has children, so that a write looks for
    /// a quota above its path only when there may be one.
    quotas: bool,
}

/// The special paths ZooKeeper creates and protects.
pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

impl Tree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`.
    pub fn new() -> Tree {
        let open = Arc::new(open_acl());
        let root = Node::empty("/", open.clone()).with(|h| h.num_children = 1);
        let zk = Node::empty(ZOOKEEPER, open.clone()).with(|h| h.num_children = 2);
        let quota = Node::empty(QUOTA, open);
        // ZooKeeper sets this ACL with version -1, which lands in aversion.
        let config = Node::empty(CONFIG, Arc::new(read_acl())).with(|h| h.aversion = -1);
        let mut nodes = OrdSet::new();
        for n in [root, zk, quota, config] {
            nodes.insert(Entry(n));
        }
        let mut t = Tree {
            nodes,
            ephemerals: HashMap::default(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            last_zxid: 0,
            data_size: 0,
            digest: AdHash::default(),
            quotas: false,
        };
        t.data_size = t.nodes.iter().map(|e| java_len(e.0.path())).sum();
        t.digest = AdHash(
            t.nodes
                .iter()
                .fold(0u64, |a, e| a.wrapping_add(e.0.digest())),
        );
        t
    }

    /// The node at `path`; ZooKeeper also keeps the root under "".
    pub fn get(&self, path: &str) -> Option<&Node> {
        let path = if path.is_empty() { "/" } else { path };
        self.nodes.get(ps(path).get()).map(|e| &e.0)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// ZooKeeper's `approximateDataSize`: path lengths plus data lengths.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// The ephemeral paths a session owns.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    /// Sessions owning ephemerals, with their paths (for `dump`).
    pub fn ephemerals_by_session(&self) -> Vec<(i64, Vec<String>)> {
        let mut v: Vec<_> = self
            .ephemerals
            .iter()
            .map(|(s, p)| (*s, p.iter().map(|x| x.to_string()).collect()))
            .collect();
        v.sort();
        v
    }

    pub fn containers(&self) -> impl Iterator<Item = &PathKey> {
        self.containers.iter()
    }

    pub fn ttls(&self) -> impl Iterator<Item = &PathKey> {
        self.ttls.iter()
    }

    /// Every node with its path, in [`path_order`].
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|e| (e.0.path(), &e.0))
    }

    /// The full paths of `path`'s children, in name order: the run of
    /// keys one level deeper that start with `path/`.
    pub fn child_paths<'t>(&'t self, path: &str) -> impl Iterator<Item = &'t str> + 't {
        let prefix: String = if path == "/" || path.is_empty() {
            "/".into()
        } else {
            format!("{path}/")
        };
        let key = ps(&prefix);
        let start = if prefix == "/" {
            std::ops::Bound::Excluded(key.get())
        } else {
            std::ops::Bound::Included(key.get())
        };
        self.nodes
            .range::<_, PathStr>((start, std::ops::Bound::Unbounded))
            .map(|e| e.0.path())
            .take_while(move |k| {
                k.strip_prefix(prefix.as_str())
                    .is_some_and(|name| !name.contains('/'))
            })
    }

    /// Builds a tree from whole nodes, as a snapshot lists them. Each
    /// node's `num_children` is recounted from the paths (what is passed in
    /// is ignored); the ephemeral, container and TTL indexes come from
    /// `ephemeral_owner`. Fails with the first path whose parent is
    /// missing, or without `/`.
    ///
    /// This is most of a restart's work, so it builds in bulk: the nodes
    /// sorted once into the map's order, the parents found by a search in
    /// that order, then the map filled in order.
    pub fn from_nodes(
        nodes: impl IntoIterator<Item = Node>,
        last_zxid: i64,
    ) -> Result<Tree, String> {
        let mut all: Vec<Node> = nodes.into_iter().collect();
        all.sort_unstable_by(|a, b| a.key_bytes().cmp(b.key_bytes()));
        all.dedup_by(|b, a| a.path_bytes() == b.path_bytes());
        if all.first().is_none_or(|n| n.path() != "/") {
            return Err("no root node".into());
        }
        // Parents are one level up: a binary search in the sorted nodes,
        // skipped while siblings follow each other.
        let mut counts = vec![0i32; all.len()];
        let mut last: Option<usize> = None;
        for i in 1..all.len() {
            let parent = parent_of(all[i].path());
            let pi = match last {
                Some(pi) if all[pi].path() == parent => pi,
                _ => {
                    let key = ps(parent);
                    match all.binary_search_by(|n| PathStr::ref_cast(n.key_bytes()).cmp(key.get()))
                    {
                        Ok(pi) => pi,
                        Err(_) => {
                            return Err(format!(
                                "unable to find parent {parent} of path {}",
                                all[i].path()
                            ))
                        }
                    }
                }
            };
            last = Some(pi);
            counts[pi] += 1;
        }
        let mut t = Tree {
            nodes: OrdSet::new(),
            ephemerals: HashMap::default(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            last_zxid,
            data_size: 0,
            digest: AdHash::default(),
            quotas: false,
        };
        for (n, count) in all.iter_mut().zip(counts) {
            if n.num_children != count {
                *n = n.with(|h| h.num_children = count);
            }
        }
        for n in &all {
            t.index(n);
            t.data_size += java_len(n.path()) + n.data_len() as u64;
            t.digest.add(n.digest());
        }
        // The B-tree splits a full leaf in two halves, so nodes inserted in
        // order leave every leaf half full (a leaf's 16 slots cost the same
        // filled or not: 20 bytes a node instead of 10). Every other node
        // first, then the ones between: each half-full leaf takes exactly
        // the nodes between its own and fills up without a split.
        for n in all.iter().step_by(2).chain(all.iter().skip(1).step_by(2)) {
            t.nodes.insert(Entry(n.clone()));
        }
        t.quotas = t.get(QUOTA).is_some_and(|q| q.num_children > 0);
        Ok(t)
    }

    /// Adds a node to the ephemeral, container or TTL index its owner
    /// says it belongs to.
    fn index(&mut self, n: &Node) {
        let key = || PathKey::from(n.path());
        match n.kind() {
            NodeKind::Container => {
                self.containers.insert(key());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(key());
            }
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(key());
            }
            NodeKind::Persistent => {}
        }
    }

    /// Children names of `path`, sorted.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.get(path)?;
        Some(
            self.child_paths(path)
                .map(|c| name_of(c).to_string())
                .collect(),
        )
    }

    /// Number of descendants of `path` (ZooKeeper's getAllChildrenNumber).
    pub fn all_children_number(&self, path: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            for c in self.child_paths(&p) {
                count += 1;
                stack.push(c.to_string());
            }
        }
        count
    }

    /// Applies one committed txn. Errors inside are reported in the result
    /// (as ZooKeeper does), never as a panic.
    pub fn apply(&mut self, txn: &Txn, events: &mut Vec<Event>) -> ApplyResult {
        let r = self.apply_body(txn.hdr.op, &txn.body, txn, events);
        if txn.hdr.zxid > self.last_zxid {
            self.last_zxid = txn.hdr.zxid;
        }
        r
    }

    fn apply_body(
        &mut self,
        op: i32,
        body: &TxnBody,
        txn: &Txn,
        events: &mut Vec<Event>,
    ) -> ApplyResult {
        let zxid = txn.hdr.zxid;
        let time = txn.hdr.time;
        let mut r = ApplyResult::new(op);
        let outcome = match body {
            TxnBody::Create(c) => {
                let owner = if c.ephemeral { txn.hdr.client_id } else { 0 };
                self.create(
                    &c.path,
                    &c.data,
                    &c.acl,
                    owner,
                    c.parent_cversion,
                    zxid,
                    time,
                    events,
                )
            }
            TxnBody::CreateContainer(c) => self.create(
                &c.path,
                &c.data,
                &c.acl,
                CONTAINER_OWNER,
                c.parent_cversion,
                zxid,
                time,
                events,
            ),
            TxnBody::CreateTtl(c) => self.create(
                &c.path,
                &c.data,
                &c.acl,
                NodeKind::ttl_owner(c.ttl),
                c.parent_cversion,
                zxid,
                time,
                events,
            ),
            TxnBody::Delete(d) => {
                r.path = d.path.clone();
                self.delete(&d.path, zxid, events).map(|_| None)
            }
            TxnBody::SetData(s) => {
                r.path = s.path.clone();
                if txn.hdr.op == op::RECONFIG {
                    r.data = s.data.clone();
                }
                self.set_data(&s.path, &s.data, s.version, zxid, time, events)
                    .map(Some)
            }
            TxnBody::SetAcl(s) => {
                r.path = s.path.clone();
                self.set_acl(&s.path, &s.acl, s.version).map(Some)
            }
            TxnBody::Check(c) => {
                r.path = c.path.clone();
                Ok(None)
            }
            TxnBody::CreateSession(_) => Ok(None),
            TxnBody::CloseSession(c) => {
                // ZooKeeper's `killSession`: the txn's paths, then whatever
                // else the session still owns. They agree in a single-writer
                // tree; over a fuzzy snapshot a listed path may be gone
                // already, and its delete still raises the parent's pzxid.
                for p in &c.paths_to_delete {
                    let _ = self.delete(p, zxid, events);
                }
                for p in self.ephemerals_of(txn.hdr.client_id) {
                    let _ = self.delete(&p, zxid, events);
                }
                Ok(None)
            }
            TxnBody::Error(e) => {
                r.err = e.err;
                Ok(None)
            }
            TxnBody::Multi(subs) => {
                let failed = subs
                    .iter()
                    .any(|(op, _)| *op == crate::protocol::jute::op::ERROR);
                for (sub_op, sub) in subs {
                    let sr = if failed {
                        // A failed multi applies nothing: every sub-txn is an error.
                        let mut e = ApplyResult::new(crate::protocol::jute::op::ERROR);
                        if let TxnBody::Error(x) = sub {
                            e.err = x.err;
                        }
                        e
                    } else {
                        self.apply_body(*sub_op, sub, txn, events)
                    };
                    if sr.err != 0 && r.err == 0 {
                        r.err = sr.err;
                    }
                    r.multi.push(sr);
                }
                Ok(None)
            }
        };
        match outcome {
            Ok(Some(stat)) => r.stat = Some(stat),
            Ok(None) => {}
            Err(code) => r.err = code.as_i32(),
        }
        // `DataTree.processTxn`: a create (opcode 1 only) that meets its node
        // while replaying over a fuzzy snapshot still moves the parent on.
        if let (crate::protocol::jute::op::CREATE, TxnBody::Create(c)) = (op, body) {
            if r.err == Code::NodeExists.as_i32() {
                self.adjust_parent_cversion(&c.path, c.parent_cversion, zxid);
            }
        }
        if let TxnBody::Create(_) | TxnBody::CreateContainer(_) | TxnBody::CreateTtl(_) = body {
            if r.err == 0 {
                r.path = body.path().unwrap_or_default().to_string();
                r.stat = self.get(&r.path).map(|n| n.stat());
            }
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        path: &str,
        data: &Option<Bytes>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<Event>,
    ) -> Result<Option<Stat>, Code> {
        let parent_path = parent_of(path);
        if self.nodes.contains(ps(path).get()) {
            return Err(Code::NodeExists);
        }
        let parent = self
            .update(parent_path, |h| {
                raise_cversion(h, parent_cversion, zxid);
                h.num_children += 1;
            })
            .ok_or(Code::NoNode)?;
        let mut head = NodeHead::new(shared_acl(acl));
        let node_acl = head.acl.clone();
        head.czxid = zxid;
        head.mzxid = zxid;
        head.pzxid = zxid;
        head.ctime = time;
        head.mtime = time;
        head.ephemeral_owner = owner;
        let node = Node::new(path, head, data.as_deref());
        let len = node.data_len() as i64;
        self.data_size += java_len(path) + len as u64;
        self.index(&node);
        self.put(node);
        if let Some(target) = parent_path.strip_prefix(QUOTA) {
            if name_of(path) == STAT_NODE {
                self.recount_quota(target);
            }
        }
        self.quota_add(path, 1, len);
        events.push(Event {
            path: Arc::from(path),
            kind: EventType::NodeCreated,
            acl: node_acl,
        });
        events.push(Event {
            path: Arc::from(parent_path),
            kind: EventType::NodeChildrenChanged,
            acl: parent.acl.clone(),
        });
        Ok(None)
    }

    /// Replaces the node at `path` with a copy whose fixed fields `f`
    /// changed; returns it, or `None` when there is no such node.
    fn update(&mut self, path: &str, f: impl FnOnce(&mut NodeHead)) -> Option<Node> {
        let n = self.nodes.get(ps(path).get())?.0.with(f);
        self.put(n.clone());
        Some(n)
    }

    /// `ZKDatabase.initConfigInZKDatabase`: `/zookeeper/config` holds a
    /// quorum member's config text, set as ZooKeeper's `DataTree.setData`
    /// sets it: version -1, mzxid the config's version (`version`), mtime
    /// `now`. Outside the digest, as all of `/zookeeper/`.
    pub fn set_config_node(&mut self, text: &[u8], version: i64, now: i64) {
        let n = match self.nodes.get(ps(CONFIG).get()) {
            Some(e) => e.0.with_data(Some(text), |h| {
                h.version = -1;
                h.mzxid = version;
                h.mtime = now;
            }),
            None => return,
        };
        self.put(n);
    }

    /// Stores `n`, replacing the node at its path, and keeps the digest.
    fn put(&mut self, n: Node) {
        if n.path_bytes() == QUOTA.as_bytes() {
            self.quotas = n.num_children > 0;
        }
        self.digest.add(n.digest());
        if let Some(Entry(old)) = self.nodes.insert(Entry(n)) {
            self.digest.remove(old.digest());
        }
    }

    /// ZooKeeper's tree digest (`DataTree.getTreeDigest`) of this version.
    pub fn digest(&self) -> i64 {
        self.digest.value()
    }

    /// ZooKeeper's `deleteNode`: the parent loses the child and its pzxid
    /// rises even when the child is already gone (a fuzzy snapshot's
    /// replay), then the child must exist.
    fn delete(&mut self, path: &str, zxid: i64, events: &mut Vec<Event>) -> Result<(), Code> {
        let parent_path = parent_of(path);
        let exists = self.nodes.contains(ps(path).get());
        let parent = self
            .update(parent_path, |h| {
                if exists {
                    h.num_children -= 1;
                }
                if zxid > h.pzxid {
                    h.pzxid = zxid;
                }
            })
            .ok_or(Code::NoNode)?;
        let Some(Entry(node)) = self.nodes.remove(ps(path).get()) else {
            return Err(Code::NoNode);
        };
        if path == QUOTA {
            self.quotas = false;
        }
        self.digest.remove(node.digest());
        self.quota_add(path, -1, -(node.data_len() as i64));
        self.data_size = self
            .data_size
            .saturating_sub(java_len(path) + node.data_len() as u64);
        match node.kind() {
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Persistent => {}
        }
        events.push(Event {
            path: Arc::from(path),
            kind: EventType::NodeDeleted,
            acl: node.acl.clone(),
        });
        events.push(Event {
            path: Arc::from(parent_path),
            kind: EventType::NodeChildrenChanged,
            acl: parent.acl.clone(),
        });
        Ok(())
    }

    /// ZooKeeper's `setCversionPzxid`, for a create that finds its node
    /// already there while replaying over a fuzzy snapshot.
    fn adjust_parent_cversion(&mut self, path: &str, parent_cversion: i32, zxid: i64) {
        self.update(parent_of(path), |h| {
            raise_cversion(h, parent_cversion, zxid)
        });
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &Option<Bytes>,
        version: i32,
        zxid: i64,
        time: i64,
        events: &mut Vec<Event>,
    ) -> Result<Stat, Code> {
        let Some(Entry(old)) = self.nodes.get(ps(path).get()) else {
            return Err(Code::NoNode);
        };
        let node = old.with_data(data.as_deref(), |h| {
            h.version = version;
            h.mzxid = zxid;
            h.mtime = time;
        });
        let old_len = old.data_len() as i64;
        let new_len = node.data_len() as i64;
        let stat = node.stat();
        let acl = node.acl.clone();
        self.put(node);
        self.data_size = (self.data_size + new_len as u64).saturating_sub(old_len as u64);
        self.quota_add(path, 0, new_len - old_len);
        events.push(Event {
            path: Arc::from(path),
            kind: EventType::NodeDataChanged,
            acl,
        });
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, Code> {
        self.update(path, |h| {
            h.acl = shared_acl(acl);
            h.aversion = version;
        })
        .map(|n| n.stat())
        .ok_or(Code::NoNode)
    }
}

/// A create's change to its parent (`DataTree.createNode` and
/// `setCversionPzxid`): the txn's parent cversion, or one more than now
/// for -1, wins when it is higher, and then sets pzxid.
fn raise_cversion(parent: &mut NodeHead, parent_cversion: i32, zxid: i64) {
    let cv = if parent_cversion == -1 {
        parent.cversion + 1
    } else {
        parent_cversion
    };
    if cv > parent.cversion {
        parent.cversion = cv;
        parent.pzxid = zxid;
    }
}

/// The node under `/zookeeper/quota/<path>` that sets a quota.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The node under `/zookeeper/quota/<path>` where the server keeps counts.
pub const STAT_NODE: &str = "zookeeper_stats";

/// `count=N,bytes=M` (and any other keys, kept) as ZooKeeper's StatsTrack.
fn stats_update(data: Option<&[u8]>, count: i64, bytes: i64, set: bool) -> Bytes {
    let text = data
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default();
    let mut c = 0i64;
    let mut b = 0i64;
    let mut rest: Vec<String> = Vec::new();
    for kv in text.split([',', ';']).filter(|x| !x.is_empty()) {
        match kv.split_once('=') {
            Some(("count", v)) => c = v.trim().parse().unwrap_or(0),
            Some(("bytes", v)) => b = v.trim().parse().unwrap_or(0),
            _ => rest.push(kv.to_string()),
        }
    }
    if set {
        (c, b) = (count, bytes);
    } else {
        c += count;
        b += bytes;
    }
    let mut out = format!("count={c},bytes={b}");
    for r in rest {
        out.push(',');
        out.push_str(&r);
    }
    Bytes::from(out)
}

/// One value of a `StatsTrack` text (`count=N,bytes=M,countHardLimit=..`,
/// pairs split at `,` or `;`, a pair's value the text between its first
/// and second `=`, as Java's `split("=")` gives it: ZooKeeper 3.8 writes
/// `bytes=-1=;...`): -1 when absent or not a number.
fn stats_value(data: Option<&[u8]>, key: &str) -> i64 {
    let text = String::from_utf8_lossy(data.unwrap_or_default());
    text.split([',', ';'])
        .filter_map(|kv| {
            let mut parts = kv.split('=');
            Some((parts.next()?, parts.next()?))
        })
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// What a write's quota check found (`ZooKeeperServer.checkQuota`,
/// with `zookeeper.enforceQuota`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaCheck {
    Within,
    /// Over a soft limit (`count`, `bytes`): logged, the write goes on.
    Soft(String),
    /// Over a hard limit (`countHardLimit`, `byteHardLimit`): the write
    /// fails with QuotaExceeded. The quota's path and the log line.
    Hard {
        prefix: String,
        msg: String,
    },
}

/// The quota gauges ZooKeeper 3.8 exports per top-level namespace
/// (`QuotaMetricsUtils`): limits (a hard limit over a soft one) summed
/// over the `zookeeper_limits` leaves, usage over the `zookeeper_stats`
/// leaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaGauges {
    pub count_limit: i64,
    pub bytes_limit: i64,
    pub count_usage: i64,
    pub bytes_usage: i64,
}

impl Tree {
    /// [`QuotaGauges`] by namespace, from the leaves under
    /// `/zookeeper/quota`. Walks only that subtree.
    pub fn quota_gauges(&self) -> std::collections::BTreeMap<String, QuotaGauges> {
        let mut out: std::collections::BTreeMap<String, QuotaGauges> = Default::default();
        let mut stack = vec![QUOTA.to_string()];
        while let Some(p) = stack.pop() {
            let Some(n) = self.get(&p) else { continue };
            let children: Vec<String> = self.child_paths(&p).map(|c| c.to_string()).collect();
            if !children.is_empty() {
                stack.extend(children);
                continue;
            }
            let limits = p.ends_with(&format!("/{LIMIT_NODE}"));
            let stats = p.ends_with(&format!("/{STAT_NODE}"));
            let Some(ns) = p[QUOTA.len()..]
                .split('/')
                .nth(1)
                .filter(|_| limits || stats)
            else {
                continue;
            };
            if n.data().is_none() {
                continue;
            }
            let v = |k: &str| stats_value(n.data(), k);
            let g = out.entry(ns.to_string()).or_default();
            if limits {
                let hard_or = |hard: i64, soft: i64| if hard > -1 { hard } else { soft };
                g.count_limit += hard_or(v("countHardLimit"), v("count"));
                g.bytes_limit += hard_or(v("byteHardLimit"), v("bytes"));
            } else {
                g.count_usage += v("count");
                g.bytes_usage += v("bytes");
            }
        }
        out
    }
}

impl Tree {
    /// Checks a write that adds `count_diff` nodes and `bytes_diff` bytes
    /// under `path` against the deepest quota above it, as ZooKeeper 3.8
    /// does: a hard limit wins over a soft one of the same kind.
    pub fn check_quota(&self, path: &str, bytes_diff: i64, count_diff: i64) -> QuotaCheck {
        let Some(prefix) = self.quota_prefix(path) else {
            return QuotaCheck::Within;
        };
        let Some(limits) = self.get(&format!("{QUOTA}{prefix}/{LIMIT_NODE}")) else {
            return QuotaCheck::Within;
        };
        let lim = |k: &str| stats_value(limits.data(), k);
        let kinds = [
            (count_diff, "count", "countHardLimit", "CountLimit"),
            (bytes_diff, "bytes", "byteHardLimit", "ByteLimit"),
        ];
        let Some(stats) = self.get(&format!("{QUOTA}{prefix}/{STAT_NODE}")) else {
            return QuotaCheck::Within;
        };
        let mut soft = None;
        for (diff, key, hard_key, name) in kinds {
            if diff == 0 || (lim(key) <= -1 && lim(hard_key) <= -1) {
                continue;
            }
            let now = stats_value(stats.data(), key) + diff;
            let hard = lim(hard_key) > -1;
            let limit = if hard { lim(hard_key) } else { lim(key) };
            if now > limit {
                let msg = format!(
                    "Quota exceeded: {prefix} [current {key}={now}, {}{name}={limit}]",
                    if hard { "hard" } else { "soft" }
                );
                if hard {
                    return QuotaCheck::Hard { prefix, msg };
                }
                soft = Some(msg);
            }
        }
        soft.map_or(QuotaCheck::Within, QuotaCheck::Soft)
    }
}

impl Tree {
    /// The deepest path at or above `path` that has a quota
    /// (`DataTree.getMaxPrefixWithQuota`).
    fn quota_prefix(&self, path: &str) -> Option<String> {
        if !self.quotas || path.starts_with(QUOTA) {
            return None;
        }
        let mut p = path;
        while p != "/" && !p.is_empty() {
            if self
                .nodes
                .contains(ps(&format!("{QUOTA}{p}/{LIMIT_NODE}")).get())
            {
                return Some(p.to_string());
            }
            p = parent_of(p);
        }
        None
    }

    /// Replaces the stats node's data without touching its Stat, as
    /// ZooKeeper does.
    fn set_stats(&mut self, target: &str, count: i64, bytes: i64, set: bool) {
        let stat_path = format!("{QUOTA}{target}/{STAT_NODE}");
        if let Some(Entry(n)) = self.nodes.get(ps(&stat_path).get()) {
            let data = stats_update(n.data(), count, bytes, set);
            let n = n.with_data(Some(&data), |_| {});
            self.put(n);
        }
    }

    fn quota_add(&mut self, path: &str, count: i64, bytes: i64) {
        if let Some(target) = self.quota_prefix(path) {
            self.set_stats(&target, count, bytes, false);
        }
    }

    /// Counts the subtree at `target` into its stats node
    /// (`DataTree.updateQuotaForPath`).
    fn recount_quota(&mut self, target: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![target.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.get(&p) {
                count += 1;
                bytes += n.data_len() as i64;
                stack.extend(self.child_paths(&p).map(|c| c.to_string()));
            }
        }
        self.set_stats(target, count, bytes, true);
    }
}

/// A path's length as Java's `String.length()` counts it (UTF-16 units),
/// which is what ZooKeeper's approximate data size adds up.
fn java_len(path: &str) -> u64 {
    path.encode_utf16().count() as u64
}

/// `parent` + "/" + `name`, without doubling the root's slash.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The parent path of `path` ("/" for top-level nodes).
pub fn parent_path(path: &str) -> &str {
    parent_of(path)
}

/// The digest of `node` at `path` (`"/"` and `""` both name the root).
pub fn node_digest(path: &str, node: &Node) -> u64 {
    digest_of(
        path,
        node.data(),
        node.czxid,
        node.mzxid,
        node.pzxid,
        node.ctime,
        node.mtime,
        node.version,
        node.cversion,
        node.aversion,
        node.ephemeral_owner,
    )
}

/// The whole tree's digest, as `DataTree.getTreeDigest()` reports it.
pub fn tree_digest(tree: &Tree) -> i64 {
    tree.nodes()
        .fold(0u64, |acc, (p, n)| acc.wrapping_add(node_digest(p, n))) as i64
}

impl ZxidDigest {
    /// The digest of `tree` as of its `last_zxid`.
    pub fn of(tree: &Tree) -> ZxidDigest {
        ZxidDigest {
            zxid: tree.last_zxid,
            digest_version: DIGEST_VERSION,
            digest: tree.digest(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_values_read_as_zookeepers_stats_track() {
        let v = |d: &str, k| stats_value(Some(d.as_bytes()), k);
        let limits = "count=-1,bytes=10=;byteHardLimit=20;countHardLimit=3";
        assert_eq!(v(limits, "bytes"), 10);
        assert_eq!(v(limits, "byteHardLimit"), 20);
        assert_eq!(v(limits, "countHardLimit"), 3);
        assert_eq!(v(limits, "count"), -1);
        assert_eq!(v("count=,bytes=x", "count"), -1);
        assert_eq!(v("count=,bytes=x", "bytes"), -1);
        assert_eq!(v("garbage", "count"), -1);
        assert_eq!(stats_value(None, "count"), -1);
    }
    use crate::protocol::jute::{op, CreateTxn, DeleteTxn, TxnHeader};

    fn txn(zxid: i64, op: i32, body: TxnBody) -> Txn {
        Txn {
            hdr: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time: 5,
                op,
            },
            body,
        }
    }

    fn create(zxid: i64, path: &str, parent_cversion: i32) -> Txn {
        txn(
            zxid,
            op::CREATE,
            TxnBody::Create(CreateTxn {
                path: path.into(),
                data: None,
                acl: open_acl(),
                ephemeral: false,
                parent_cversion,
            }),
        )
    }

    #[test]
    fn long_paths_and_data_are_stored_and_found() {
        let mut t = Tree::new();
        let ev = &mut Vec::new();
        let parent = format!("/{}", "p".repeat(300));
        let child = format!("{parent}/{}", "c".repeat(300));
        t.apply(&create(1, &parent, 0), ev);
        t.apply(&create(2, &child, 1), ev);
        let n = t.get(&child).unwrap();
        assert_eq!(n.path(), child);
        assert_eq!(n.data(), None);
        assert_eq!(t.child_paths(&parent).collect::<Vec<_>>(), [child.as_str()]);
        let big = vec![7u8; 1000];
        let n = Node::new(&child, NodeHead::new(Arc::new(open_acl())), Some(&big));
        assert_eq!((n.path(), n.data()), (child.as_str(), Some(&big[..])));
    }

    #[test]
    fn replay_over_a_fuzzy_snapshot_follows_zookeeper() {
        let mut t = Tree::new();
        let ev = &mut Vec::new();
        assert_eq!(t.apply(&create(1, "/a", -1), ev).err, 0);
        assert_eq!(t.apply(&create(2, "/a/b", -1), ev).err, 0);
        assert_eq!(t.get("/a").unwrap().cversion, 1);
        // The create meets its node: the parent's cversion and pzxid move.
        let r = t.apply(&create(7, "/a/b", 4), ev);
        assert_eq!(r.err, Code::NodeExists.as_i32());
        let a = t.get("/a").unwrap();
        assert_eq!((a.cversion, a.pzxid), (4, 7));
        // ...but never back.
        t.apply(&create(8, "/a/b", 2), ev);
        assert_eq!(t.get("/a").unwrap().cversion, 4);
        // A delete of a node already gone still raises the parent's pzxid.
        let del =
            |z: i64, p: &str| txn(z, op::DELETE, TxnBody::Delete(DeleteTxn { path: p.into() }));
        let r = t.apply(&del(9, "/a/zz"), ev);
        assert_eq!(r.err, Code::NoNode.as_i32());
        assert_eq!(t.get("/a").unwrap().pzxid, 9);
        assert_eq!(t.apply(&del(10, "/a/b"), ev).err, 0);
        let a = t.get("/a").unwrap();
        assert_eq!((a.pzxid, a.stat().num_children), (10, 0));
        // A closeSession deletes the paths it lists, gone or not.
        let close = txn(
            11,
            op::CLOSE_SESSION,
            TxnBody::CloseSession(crate::protocol::jute::CloseSessionTxn {
                paths_to_delete: vec!["/a/gone".into()],
            }),
        );
        t.apply(&close, ev);
        assert_eq!(t.get("/a").unwrap().pzxid, 11);
        assert_eq!(t.digest(), tree_digest(&t));
    }

    proptest::proptest! {
        #[test]
        fn path_order_is_depth_then_bytes(a in "(/[ab]{0,2}){1,4}", b in "(/[ab]{0,2}){1,4}") {
            let key = |p: &str| (p.matches('/').count(), p.as_bytes().to_vec());
            proptest::prop_assert_eq!(path_order(&a, &b), key(&a).cmp(&key(&b)));
        }

        // Keys past the stack buffer (`Key::SHORT`) order the same way.
        #[test]
        fn long_path_order_is_depth_then_bytes(a in "(/[ab]{0,90}){1,5}", b in "(/[ab]{0,90}){1,5}") {
            let key = |p: &str| (p.matches('/').count(), p.as_bytes().to_vec());
            proptest::prop_assert_eq!(path_order(&a, &b), key(&a).cmp(&key(&b)));
        }
    }

    #[test]
    fn bulk_build_matches_incremental_creates() {
        let mut t = Tree::new();
        let ev = &mut Vec::new();
        let paths = ["/b", "/a", "/a/y", "/a/x", "/b/k", "/a/x/1", "/c"];
        for (i, p) in paths.iter().enumerate() {
            assert_eq!(t.apply(&create(i as i64 + 1, p, -1), ev).err, 0);
        }
        let rebuilt = Tree::from_nodes(t.nodes().map(|(_, n)| n.clone()), t.last_zxid).unwrap();
        assert_eq!(rebuilt.node_count(), t.node_count());
        assert_eq!(rebuilt.digest(), t.digest());
        assert_eq!(t.digest(), tree_digest(&t));
        for (p, n) in t.nodes() {
            assert_eq!(rebuilt.get(p).unwrap().stat(), n.stat(), "{p}");
            assert_eq!(rebuilt.children(p), t.children(p), "{p}");
        }
        assert_eq!(t.children("/a").unwrap(), ["x", "y"]);
        assert_eq!(t.children("/").unwrap(), ["a", "b", "c", "zookeeper"]);
        let orphan = vec![
            Node::empty("/", OPEN_ACL.clone()),
            Node::empty("/q/r", OPEN_ACL.clone()),
        ];
        assert_eq!(
            Tree::from_nodes(orphan, 0).err().unwrap(),
            "unable to find parent /q of path /q/r"
        );
    }
}
