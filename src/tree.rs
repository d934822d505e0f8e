//! The data tree: an immutable, versioned map of znodes.
//!
//! Owns the nodes, their stats, the ephemeral index and the container/TTL
//! sets, and the `apply` of a committed txn (ZooKeeper's
//! `DataTree.processTxn`). A `Tree` clones in O(1) and shares structure with
//! its ancestors (imbl), so the sequencer mutates its own copy and publishes
//! cheap immutable versions to the shards. It does no I/O and knows nothing
//! of sessions, watches or connections: `apply` returns the change events
//! instead of firing them.

use crate::jute::{Acl, Code, Id, Stat};
use crate::txn::{Txn, TxnBody};
use bytes::Bytes;
use imbl::{GenericHashMap, OrdMap, OrdSet};
use ref_cast::RefCast;
use std::borrow::Borrow;
use std::cmp::Ordering;

/// imbl's persistent hash map with a fast, randomly seeded hasher
/// (foldhash), for the small indexes.
type HashMap<K, V> =
    GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// ZooKeeper paths in the tree's order: by depth (the number of `/`), then
/// bytewise. Under this order a node's children are one contiguous run, in
/// name order, so no node needs a children set of its own: a B-tree of all
/// nodes holds everything (imbl's HAMT cost 134 bytes a node, the children
/// sets 43 more). The depths only differ after the common prefix, so only
/// the suffixes are counted.
pub fn path_order(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let common = common_prefix(a, b);
    let (a, b) = (&a[common..], &b[common..]);
    let depth = |s: &[u8]| s.iter().filter(|c| **c == b'/').count();
    depth(a)
        .cmp(&depth(b))
        .then_with(|| match (a.first(), b.first()) {
            (Some(x), Some(y)) => x.cmp(y),
            _ => a.len().cmp(&b.len()),
        })
}

/// The length of the common prefix of `a` and `b`, eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().unwrap_or_default());
        let y = u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// A borrowed path under [`path_order`], for lookups in the node map.
#[derive(Debug, RefCast, PartialEq, Eq)]
#[repr(transparent)]
struct PathStr(str);

impl Ord for PathStr {
    fn cmp(&self, o: &Self) -> Ordering {
        path_order(&self.0, &o.0)
    }
}

impl PartialOrd for PathStr {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A node map key: the shared path, ordered by [`path_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key(PathKey);

impl Borrow<PathStr> for Key {
    fn borrow(&self) -> &PathStr {
        PathStr::ref_cast(&self.0)
    }
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        path_order(&self.0, &o.0)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

fn ps(path: &str) -> &PathStr {
    PathStr::ref_cast(path)
}
use std::sync::Arc;

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

/// One znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub data: Option<Bytes>,
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
}

impl Node {
    fn empty(acl: Arc<Vec<Acl>>) -> Node {
        Node {
            data: Some(Bytes::new()),
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
        }
    }

    pub fn data_len(&self) -> i32 {
        self.data.as_ref().map_or(0, |d| d.len() as i32)
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
}

/// What applying one txn (or one sub-txn of a multi) produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    pub op: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<ApplyResult>,
}

impl ApplyResult {
    fn new(op: i32) -> ApplyResult {
        ApplyResult {
            op,
            err: 0,
            path: String::new(),
            stat: None,
            multi: Vec::new(),
        }
    }
}

/// ACL `world:anyone` with all permissions.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: crate::acl::perms::ALL,
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
        perms: crate::acl::perms::READ,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

/// One immutable version of the whole tree.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: OrdMap<Key, Arc<Node>>,
    ephemerals: HashMap<i64, OrdSet<PathKey>>,
    containers: OrdSet<PathKey>,
    ttls: OrdSet<PathKey>,
    /// The zxid of the last txn applied.
    pub last_zxid: i64,
    data_size: u64,
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
        let mut root = Node::empty(open.clone());
        root.num_children = 1;
        let mut zk = Node::empty(open.clone());
        zk.num_children = 2;
        let quota = Node::empty(open);
        // ZooKeeper sets this ACL with version -1, which lands in aversion.
        let mut config = Node::empty(Arc::new(read_acl()));
        config.aversion = -1;
        let mut nodes = OrdMap::new();
        nodes.insert(Key(Arc::from("/")), Arc::new(root));
        nodes.insert(Key(Arc::from(ZOOKEEPER)), Arc::new(zk));
        nodes.insert(Key(Arc::from(QUOTA)), Arc::new(quota));
        nodes.insert(Key(Arc::from(CONFIG)), Arc::new(config));
        let mut t = Tree {
            nodes,
            ephemerals: HashMap::default(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            last_zxid: 0,
            data_size: 0,
        };
        t.data_size = t.nodes.keys().map(|k| java_len(&k.0)).sum();
        t
    }

    /// The node at `path`; ZooKeeper also keeps the root under "".
    pub fn get(&self, path: &str) -> Option<&Arc<Node>> {
        if path.is_empty() {
            return self.nodes.get(ps("/"));
        }
        self.nodes.get(ps(path))
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
    pub fn nodes(&self) -> impl Iterator<Item = (&PathKey, &Arc<Node>)> {
        self.nodes.iter().map(|(k, n)| (&k.0, n))
    }

    /// The full paths of `path`'s children, in name order: the run of
    /// keys one level deeper that start with `path/`.
    pub fn child_paths<'t>(&'t self, path: &str) -> impl Iterator<Item = &'t PathKey> + 't {
        let prefix: String = if path == "/" || path.is_empty() {
            "/".into()
        } else {
            format!("{path}/")
        };
        let start = if prefix == "/" {
            std::ops::Bound::Excluded(ps("/"))
        } else {
            std::ops::Bound::Included(ps(&prefix))
        };
        self.nodes
            .range::<_, PathStr>((start, std::ops::Bound::Unbounded))
            .map(|(k, _)| &k.0)
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
        nodes: impl IntoIterator<Item = (PathKey, Node)>,
        last_zxid: i64,
    ) -> Result<Tree, String> {
        let mut all: Vec<(PathKey, Node)> = nodes.into_iter().collect();
        all.sort_unstable_by(|a, b| path_order(&a.0, &b.0));
        all.dedup_by(|b, a| a.0 == b.0);
        if all.first().is_none_or(|(p, _)| &**p != "/") {
            return Err("no root node".into());
        }
        for (_, n) in all.iter_mut() {
            n.num_children = 0;
        }
        // Parents are one level up: a binary search in the sorted nodes,
        // skipped while siblings follow each other.
        let mut last: Option<(PathKey, usize)> = None;
        for i in 1..all.len() {
            let child = all[i].0.clone();
            let parent = parent_of(&child);
            let pi = match &last {
                Some((p, pi)) if &**p == parent => *pi,
                _ => match all.binary_search_by(|(p, _)| path_order(p, parent)) {
                    Ok(pi) => {
                        last = Some((all[pi].0.clone(), pi));
                        pi
                    }
                    Err(_) => {
                        return Err(format!("unable to find parent {parent} of path {child}"))
                    }
                },
            };
            all[pi].1.num_children += 1;
        }
        let mut t = Tree {
            nodes: OrdMap::new(),
            ephemerals: HashMap::default(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            last_zxid,
            data_size: 0,
        };
        for (p, n) in all {
            match n.kind() {
                NodeKind::Container => {
                    t.containers.insert(p.clone());
                }
                NodeKind::Ttl(_) => {
                    t.ttls.insert(p.clone());
                }
                NodeKind::Ephemeral(s) => {
                    t.ephemerals.entry(s).or_default().insert(p.clone());
                }
                NodeKind::Persistent => {}
            }
            t.data_size += java_len(&p) + n.data_len() as u64;
            t.nodes.insert(Key(p), Arc::new(n));
        }
        Ok(t)
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
            TxnBody::CloseSession(_) => {
                // Delete what the session owns now; the txn's list is what
                // prep saw, and the two agree in a single-writer tree.
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
                let failed = subs.iter().any(|(op, _)| *op == crate::jute::op::ERROR);
                for (sub_op, sub) in subs {
                    let sr = if failed {
                        // A failed multi applies nothing: every sub-txn is an error.
                        let mut e = ApplyResult::new(crate::jute::op::ERROR);
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
        if let (crate::jute::op::CREATE, TxnBody::Create(c)) = (op, body) {
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
        if self.nodes.contains_key(ps(path)) {
            return Err(Code::NodeExists);
        }
        let Some(parent) = self.nodes.get_mut(ps(parent_path)) else {
            return Err(Code::NoNode);
        };
        let key: PathKey = Arc::from(path);
        let parent = Arc::make_mut(parent);
        raise_cversion(parent, parent_cversion, zxid);
        parent.num_children += 1;
        let parent_key: PathKey = Arc::from(parent_path);
        let node = Node {
            data: data.clone(),
            acl: shared_acl(acl),
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            num_children: 0,
        };
        self.data_size += java_len(path) + node.data_len() as u64;
        match NodeKind::of_owner(owner) {
            NodeKind::Container => {
                self.containers.insert(key.clone());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(key.clone());
            }
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(key.clone());
            }
            NodeKind::Persistent => {}
        }
        let len = node.data_len() as i64;
        self.nodes.insert(Key(key.clone()), Arc::new(node));
        if let Some(target) = parent_path.strip_prefix(QUOTA) {
            if name_of(path) == STAT_NODE {
                self.recount_quota(target);
            }
        }
        self.quota_add(path, 1, len);
        events.push(Event {
            path: key,
            kind: EventType::NodeCreated,
        });
        events.push(Event {
            path: parent_key,
            kind: EventType::NodeChildrenChanged,
        });
        Ok(None)
    }

    /// ZooKeeper's `deleteNode`: the parent loses the child and its pzxid
    /// rises even when the child is already gone (a fuzzy snapshot's
    /// replay), then the child must exist.
    fn delete(&mut self, path: &str, zxid: i64, events: &mut Vec<Event>) -> Result<(), Code> {
        let parent_path = parent_of(path);
        let exists = self.nodes.contains_key(ps(path));
        let Some(parent) = self.nodes.get_mut(ps(parent_path)) else {
            return Err(Code::NoNode);
        };
        let parent = Arc::make_mut(parent);
        if exists {
            parent.num_children -= 1;
        }
        if zxid > parent.pzxid {
            parent.pzxid = zxid;
        }
        let Some((Key(key), node)) = self.nodes.remove_with_key(ps(path)) else {
            return Err(Code::NoNode);
        };
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
            path: key,
            kind: EventType::NodeDeleted,
        });
        events.push(Event {
            path: Arc::from(parent_path),
            kind: EventType::NodeChildrenChanged,
        });
        Ok(())
    }

    /// ZooKeeper's `setCversionPzxid`, for a create that finds its node
    /// already there while replaying over a fuzzy snapshot.
    fn adjust_parent_cversion(&mut self, path: &str, parent_cversion: i32, zxid: i64) {
        if let Some(parent) = self.nodes.get_mut(ps(parent_of(path))) {
            raise_cversion(Arc::make_mut(parent), parent_cversion, zxid);
        }
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
        let Some(node) = self.nodes.get_mut(ps(path)) else {
            return Err(Code::NoNode);
        };
        let node = Arc::make_mut(node);
        let old_len = node.data_len() as i64;
        let new_len = data.as_ref().map_or(0, |d| d.len() as i64);
        node.data = data.clone();
        node.version = version;
        node.mzxid = zxid;
        node.mtime = time;
        let stat = node.stat();
        self.data_size = (self.data_size + new_len as u64).saturating_sub(old_len as u64);
        self.quota_add(path, 0, new_len - old_len);
        events.push(Event {
            path: Arc::from(path),
            kind: EventType::NodeDataChanged,
        });
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, Code> {
        let Some(node) = self.nodes.get_mut(ps(path)) else {
            return Err(Code::NoNode);
        };
        let node = Arc::make_mut(node);
        node.acl = shared_acl(acl);
        node.aversion = version;
        Ok(node.stat())
    }
}

/// A create's change to its parent (`DataTree.createNode` and
/// `setCversionPzxid`): the txn's parent cversion, or one more than now
/// for -1, wins when it is higher, and then sets pzxid.
fn raise_cversion(parent: &mut Node, parent_cversion: i32, zxid: i64) {
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
fn stats_update(data: Option<&Bytes>, count: i64, bytes: i64, set: bool) -> Bytes {
    let text = data
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default();
    let mut c = 0i64;
    let mut b = 0i64;
    let mut rest: Vec<String> = Vec::new();
    for kv in text.split(',').filter(|x| !x.is_empty()) {
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

impl Tree {
    /// The deepest path at or above `path` that has a quota
    /// (`DataTree.getMaxPrefixWithQuota`).
    fn quota_prefix(&self, path: &str) -> Option<String> {
        let any = self
            .nodes
            .get(ps(QUOTA))
            .is_some_and(|q| q.num_children > 0);
        if !any || path.starts_with(QUOTA) {
            return None;
        }
        let mut p = path;
        while p != "/" && !p.is_empty() {
            if self
                .nodes
                .contains_key(ps(&format!("{QUOTA}{p}/{LIMIT_NODE}")))
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
        if let Some(n) = self.nodes.get_mut(ps(&stat_path)) {
            let n = Arc::make_mut(n);
            n.data = Some(stats_update(n.data.as_ref(), count, bytes, set));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::{op, CreateTxn, DeleteTxn, TxnHeader};

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
    }

    proptest::proptest! {
        #[test]
        fn path_order_is_depth_then_bytes(a in "(/[ab]{0,2}){1,4}", b in "(/[ab]{0,2}){1,4}") {
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
        let rebuilt = Tree::from_nodes(
            t.nodes().map(|(p, n)| (p.clone(), Node::clone(n))),
            t.last_zxid,
        )
        .unwrap();
        assert_eq!(rebuilt.node_count(), t.node_count());
        for (p, n) in t.nodes() {
            assert_eq!(rebuilt.get(p).unwrap().stat(), n.stat(), "{p}");
            assert_eq!(rebuilt.children(p), t.children(p), "{p}");
        }
        assert_eq!(t.children("/a").unwrap(), ["x", "y"]);
        assert_eq!(t.children("/").unwrap(), ["a", "b", "c", "zookeeper"]);
        let orphan = vec![
            (PathKey::from("/"), Node::empty(OPEN_ACL.clone())),
            (PathKey::from("/q/r"), Node::empty(OPEN_ACL.clone())),
        ];
        assert_eq!(
            Tree::from_nodes(orphan, 0).err().unwrap(),
            "unable to find parent /q of path /q/r"
        );
    }
}
