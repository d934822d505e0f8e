//! Watches registered by the connections of one shard
//! (ZooKeeper's `WatchManager`, one for data and one for children).
//!
//! Owns, per path, which connection watches it and in which mode. Pure
//! logic: `trigger` returns the connections to notify; the shard sends.

use crate::data::tree::EventType;
use std::collections::{BTreeSet, HashMap};

/// A connection id, unique within a shard.
pub type ConnId = u64;

/// How a watch behaves (`WatcherMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Standard,
    Persistent,
    PersistentRecursive,
}

/// Which table a watch lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Data,
    Child,
}

#[derive(Debug, Default)]
struct Manager {
    by_path: HashMap<String, HashMap<ConnId, Mode>>,
    by_conn: HashMap<ConnId, BTreeSet<String>>,
    recursive: usize,
}

impl Manager {
    fn add(&mut self, path: &str, conn: ConnId, mode: Mode) {
        let e = self.by_path.entry(path.to_string()).or_default();
        if let Some(old) = e.insert(conn, mode) {
            if old == Mode::PersistentRecursive {
                self.recursive -= 1;
            }
        }
        if mode == Mode::PersistentRecursive {
            self.recursive += 1;
        }
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_string());
    }

    fn remove(&mut self, path: &str, conn: ConnId) -> bool {
        let Some(e) = self.by_path.get_mut(path) else {
            return false;
        };
        let Some(mode) = e.remove(&conn) else {
            return false;
        };
        if mode == Mode::PersistentRecursive {
            self.recursive -= 1;
        }
        if e.is_empty() {
            self.by_path.remove(path);
        }
        // ZooKeeper keeps a connection's (now empty) entry until the
        // connection closes, and `wchs` counts it: so do we.
        if let Some(p) = self.by_conn.get_mut(&conn) {
            p.remove(path);
        }
        true
    }

    fn contains(&self, path: &str, conn: ConnId) -> bool {
        self.by_path
            .get(path)
            .is_some_and(|e| e.contains_key(&conn))
    }

    fn trigger(&mut self, path: &str, kind: EventType, out: &mut BTreeSet<ConnId>) {
        let mut fired: Vec<ConnId> = Vec::new();
        if let Some(e) = self.by_path.get(path) {
            for (&conn, &mode) in e {
                if mode == Mode::PersistentRecursive && kind == EventType::NodeChildrenChanged {
                    continue;
                }
                out.insert(conn);
                if mode == Mode::Standard {
                    fired.push(conn);
                }
            }
        }
        for conn in fired {
            self.remove(path, conn);
        }
        if self.recursive > 0 && kind != EventType::NodeChildrenChanged {
            let mut p = path;
            while p != "/" {
                p = crate::data::tree::parent_path(p);
                if let Some(e) = self.by_path.get(p) {
                    for (&conn, &mode) in e {
                        if mode == Mode::PersistentRecursive {
                            out.insert(conn);
                        }
                    }
                }
            }
        }
    }

    fn drop_conn(&mut self, conn: ConnId) {
        if let Some(paths) = self.by_conn.remove(&conn) {
            for p in paths {
                if let Some(e) = self.by_path.get_mut(&p) {
                    if e.remove(&conn) == Some(Mode::PersistentRecursive) {
                        self.recursive -= 1;
                    }
                    if e.is_empty() {
                        self.by_path.remove(&p);
                    }
                }
            }
        }
    }

    fn count(&self) -> usize {
        self.by_path.values().map(|e| e.len()).sum()
    }
}

/// The data and child watch tables of one shard.
#[derive(Debug, Default)]
pub struct Watches {
    data: Manager,
    child: Manager,
}

impl Watches {
    fn table(&mut self, t: Table) -> &mut Manager {
        match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    pub fn add(&mut self, t: Table, path: &str, conn: ConnId, mode: Mode) {
        self.table(t).add(path, conn, mode);
    }

    /// `addWatch`: persistent watches go in both tables.
    pub fn add_persistent(&mut self, path: &str, conn: ConnId, recursive: bool) {
        let mode = if recursive {
            Mode::PersistentRecursive
        } else {
            Mode::Persistent
        };
        self.data.add(path, conn, mode);
        self.child.add(path, conn, mode);
    }

    pub fn remove(&mut self, t: Table, path: &str, conn: ConnId) -> bool {
        self.table(t).remove(path, conn)
    }

    pub fn contains(&self, t: Table, path: &str, conn: ConnId) -> bool {
        match t {
            Table::Data => self.data.contains(path, conn),
            Table::Child => self.child.contains(path, conn),
        }
    }

    /// The connections to notify of `kind` at `path`, each once
    /// (ZooKeeper's DataTree triggers, with its suppression for deletes).
    pub fn trigger(&mut self, path: &str, kind: EventType) -> BTreeSet<ConnId> {
        let mut out = BTreeSet::new();
        match kind {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.trigger(path, kind, &mut out)
            }
            EventType::NodeDeleted => {
                self.data.trigger(path, kind, &mut out);
                self.child.trigger(path, kind, &mut out);
            }
            EventType::NodeChildrenChanged => self.child.trigger(path, kind, &mut out),
        }
        out
    }

    /// Forgets every watch of a closed connection.
    pub fn drop_conn(&mut self, conn: ConnId) {
        self.data.drop_conn(conn);
        self.child.drop_conn(conn);
    }

    /// Total watches (data + child), as `wchs` counts them.
    pub fn count(&self) -> usize {
        self.data.count() + self.child.count()
    }

    pub fn paths(&self) -> usize {
        let mut p: BTreeSet<&String> = self.data.by_path.keys().collect();
        p.extend(self.child.by_path.keys());
        p.len()
    }

    /// Paths watched by each connection (for `wchc`).
    pub fn by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut m: HashMap<ConnId, BTreeSet<String>> = HashMap::new();
        for mgr in [&self.data, &self.child] {
            for (c, ps) in &mgr.by_conn {
                m.entry(*c).or_default().extend(ps.iter().cloned());
            }
        }
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(c, p)| (c, p.into_iter().collect()))
            .collect();
        v.sort();
        v
    }

    /// Paths of the data table watched by each connection: what ZooKeeper
    /// 3.8's `wchs`, `wchc` and `wchp` show (they dump only its data watch
    /// manager, so child watches never appear there).
    pub fn data_by_conn(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut v: Vec<_> = self
            .data
            .by_conn
            .iter()
            .map(|(c, p)| (*c, p.iter().cloned().collect()))
            .collect();
        v.sort();
        v
    }

    /// Connections watching each path (for `wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut m: HashMap<String, BTreeSet<ConnId>> = HashMap::new();
        for mgr in [&self.data, &self.child] {
            for (p, cs) in &mgr.by_path {
                m.entry(p.clone()).or_default().extend(cs.keys());
            }
        }
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(p, c)| (p, c.into_iter().collect()))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    #[test]
    fn standard_watches_fire_once() {
        let mut w = Watches::default();
        w.add(Table::Data, "/a", 1, Mode::Standard);
        w.add(Table::Child, "/a", 1, Mode::Standard);
        assert_eq!(w.trigger("/a", NodeDataChanged), [1].into());
        assert!(w.trigger("/a", NodeDataChanged).is_empty());
        // delete fires the child watch too, but once per connection.
        w.add(Table::Data, "/a", 1, Mode::Standard);
        assert_eq!(w.trigger("/a", NodeDeleted), [1].into());
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = Watches::default();
        w.add_persistent("/a", 1, false);
        w.add_persistent("/", 2, true);
        assert_eq!(w.trigger("/a", NodeDataChanged), [1, 2].into());
        assert_eq!(w.trigger("/a", NodeDataChanged), [1, 2].into());
        assert_eq!(w.trigger("/a", NodeChildrenChanged), [1].into());
        assert_eq!(w.trigger("/a/b/c", NodeCreated), [2].into());
        w.drop_conn(2);
        assert!(w.trigger("/a/b/c", NodeCreated).is_empty());
        assert!(w.remove(Table::Data, "/a", 1));
        assert!(!w.remove(Table::Data, "/a", 1));
        assert!(w.contains(Table::Child, "/a", 1));
        w.add(Table::Child, "/c", 3, Mode::Standard);
        w.add(Table::Data, "/d", 3, Mode::Standard);
        assert_eq!(
            w.data_by_conn(),
            vec![(1, vec![]), (3, vec!["/d".to_string()])],
            "the data table only; conn 1 stays listed with no path, as in ZooKeeper"
        );
    }
}
