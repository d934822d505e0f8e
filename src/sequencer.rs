//! The sequencer: the single writer of the tree.
//!
//! Owns the tree being written, the zxid counter, the session tracker, the
//! map of which connection holds each session, and the container manager.
//! It takes shard messages and the time, preps and applies txns, and
//! produces, per shard, the ordered items (events, replies, handshakes,
//! closes) that go out with the next published tree version. Logic without
//! I/O: the glommio driver in `server` feeds it and sends what it returns.

use crate::acl::AclPolicy;
use crate::jute::{self, Code, Jute};
use crate::prep::{self, PrepCtx};
use crate::request;
use crate::server::msg::{ConnRef, Item, ToSeq};
use crate::session::{self, SessionTracker};
use crate::tree::{NodeKind, Tree};
use crate::txn::Txn;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::net::IpAddr;

/// The sequencer's settings.
#[derive(Debug, Clone)]
pub struct SeqSettings {
    pub shards: usize,
    pub tick_ms: i64,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    /// Per client IP; 0 is no limit.
    pub max_client_cnxns: u32,
    pub policy: AclPolicy,
    pub extended_types: bool,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: u32,
    pub server_id: i64,
}

/// The sequencer state.
pub struct Sequencer {
    s: SeqSettings,
    tree: Tree,
    sessions: SessionTracker,
    owners: HashMap<i64, ConnRef>,
    per_ip: HashMap<IpAddr, u32>,
    out: Vec<Vec<Item>>,
    dirty: bool,
    next_container_check: i64,
}

impl Sequencer {
    pub fn new(s: SeqSettings, tree: Tree, now: i64) -> Sequencer {
        let first = session::initial_session_id(s.server_id, now);
        let out = (0..s.shards).map(|_| Vec::new()).collect();
        Sequencer {
            sessions: SessionTracker::new(s.tick_ms, first),
            next_container_check: now + s.container_check_interval_ms,
            s,
            tree,
            owners: HashMap::new(),
            per_ip: HashMap::new(),
            out,
            dirty: false,
        }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn next_zxid(&self) -> i64 {
        self.tree.last_zxid + 1
    }

    /// Applies a txn and queues its events to every shard.
    fn apply(&mut self, txn: &Txn) -> crate::tree::ApplyResult {
        let mut events = Vec::new();
        let r = self.tree.apply(txn, &mut events);
        for ev in events {
            for q in &mut self.out {
                q.push(Item::Event(ev.clone()));
            }
        }
        self.dirty = true;
        r
    }

    fn reply(&mut self, to: ConnRef, xid: i32, zxid: i64, err: i32, body: Option<&[u8]>) {
        let mut f = BytesMut::new();
        request::frame(&mut f, xid, zxid, err, body);
        if let Some(q) = self.out.get_mut(to.shard) {
            q.push(Item::Reply {
                conn: to.conn,
                frame: f.freeze(),
            });
        }
    }

    fn close_conn(&mut self, to: ConnRef) {
        if let Some(q) = self.out.get_mut(to.shard) {
            q.push(Item::Close { conn: to.conn });
        }
    }

    fn clamp_timeout(&self, t: i32) -> i32 {
        t.max(self.s.min_session_timeout)
            .min(self.s.max_session_timeout)
    }

    /// Handles one message from a shard.
    pub fn handle(&mut self, msg: ToSeq, now: i64) {
        match msg {
            ToSeq::Connect {
                from,
                ip,
                session,
                passwd,
                timeout,
            } => self.connect(from, ip, session, passwd, timeout, now),
            ToSeq::Write {
                from,
                session,
                xid,
                op: w,
                auth,
            } => {
                if !self.sessions.is_live(session) {
                    self.reply(
                        from,
                        xid,
                        self.tree.last_zxid,
                        Code::SessionExpired.as_i32(),
                        None,
                    );
                    return;
                }
                self.sessions.touch_current(session, now);
                let ctx = PrepCtx {
                    policy: &self.s.policy,
                    extended_types: self.s.extended_types,
                    session,
                    auth: &auth,
                };
                let txn = prep::prep(&ctx, &self.tree, xid, self.next_zxid(), now, &w);
                let r = self.apply(&txn);
                let (err, body) = request::write_reply(w.op(), &r);
                self.reply(from, xid, txn.hdr.zxid, err, body.as_deref());
            }
            ToSeq::Close { from, session, xid } => {
                if self.sessions.is_live(session) {
                    self.close_session(session, xid, now);
                }
                self.reply(from, xid, self.tree.last_zxid, 0, None);
                self.close_conn(from);
            }
            ToSeq::Touch(ids) => {
                for id in ids {
                    self.sessions.touch_current(id, now);
                }
            }
            ToSeq::Gone { from, ip, session } => {
                if self.owners.get(&session) == Some(&from) {
                    self.owners.remove(&session);
                }
                if let Some(n) = self.per_ip.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.per_ip.remove(&ip);
                    }
                }
            }
        }
    }

    fn connect(
        &mut self,
        from: ConnRef,
        ip: IpAddr,
        session: i64,
        passwd: Bytes,
        timeout: i32,
        now: i64,
    ) {
        let count = self.per_ip.entry(ip).or_insert(0);
        if self.s.max_client_cnxns != 0 && *count >= self.s.max_client_cnxns {
            tracing::warn!(%ip, max = self.s.max_client_cnxns, "too many connections from one address");
            self.close_conn(from);
            return;
        }
        *count += 1;
        let timeout = self.clamp_timeout(timeout);
        let (ok, id) = if session == 0 {
            let id = self.sessions.next_session_id();
            self.sessions.add(id, timeout, now);
            let txn = prep::create_session(id, timeout, self.next_zxid(), now);
            self.apply(&txn);
            (true, id)
        } else {
            let ok = passwd.as_ref() == session::password(session)
                && self.sessions.touch(session, timeout, now);
            (ok, session)
        };
        if ok {
            if let Some(old) = self.owners.insert(id, from) {
                if old != from {
                    self.close_conn(old);
                }
            }
        }
        if let Some(q) = self.out.get_mut(from.shard) {
            q.push(Item::Connected {
                conn: from.conn,
                session: if ok { id } else { 0 },
                timeout: if ok { timeout } else { 0 },
                passwd: if ok { session::password(id) } else { [0; 16] },
                ok,
            });
        }
        self.dirty = true;
    }

    fn close_session(&mut self, session: i64, cxid: i32, now: i64) {
        self.sessions.set_closing(session);
        let txn = prep::close_session(&self.tree, session, cxid, self.next_zxid(), now);
        self.apply(&txn);
        self.sessions.remove(session);
        if let Some(owner) = self.owners.remove(&session) {
            self.close_conn(owner);
        }
    }

    /// Expires sessions and runs the container manager when due.
    pub fn tick(&mut self, now: i64) {
        for id in self.sessions.expired(now) {
            tracing::info!(session = format!("0x{id:x}"), "session expired");
            self.close_session(id, 0, now);
        }
        if now >= self.next_container_check {
            self.next_container_check = now + self.s.container_check_interval_ms.max(1);
            self.check_containers(now);
        }
    }

    fn check_containers(&mut self, now: i64) {
        let mut candidates: Vec<String> = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.children.is_empty() && n.cversion > 0 {
                    candidates.push(p.to_string());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.get(p) {
                if let NodeKind::Ttl(ttl) = n.kind() {
                    if n.children.is_empty() && ttl != 0 && now - n.mtime > ttl {
                        candidates.push(p.to_string());
                    }
                }
            }
        }
        let limit = self.s.container_max_per_minute.max(1) as usize;
        for p in candidates.into_iter().take(limit) {
            if let Some(txn) = prep::delete_container(&self.tree, &p, self.next_zxid(), now) {
                self.apply(&txn);
            }
        }
    }

    /// When `tick` next has work, in ms.
    pub fn next_deadline(&self) -> i64 {
        let c = self.next_container_check;
        self.sessions.next_expiry().map_or(c, |e| e.min(c))
    }

    /// Takes the per-shard items produced since the last call, if anything
    /// changed.
    pub fn take(&mut self) -> Option<Vec<Vec<Item>>> {
        if !self.dirty && self.out.iter().all(|q| q.is_empty()) {
            return None;
        }
        self.dirty = false;
        let n = self.out.len();
        Some(std::mem::replace(
            &mut self.out,
            (0..n).map(|_| Vec::new()).collect(),
        ))
    }
}

/// Encodes the handshake answer (no reply header, as ZooKeeper sends it).
pub fn connect_frame(timeout: i32, session: i64, passwd: &[u8], read_only: Option<bool>) -> Bytes {
    let body = jute::ConnectResponse {
        protocol_version: 0,
        time_out: timeout,
        session_id: session,
        passwd: Bytes::copy_from_slice(passwd),
    }
    .encode();
    let mut f = BytesMut::new();
    let len = body.len() + read_only.map_or(0, |_| 1);
    jute::JuteWrite::int(&mut f, len as i32);
    f.extend_from_slice(&body);
    if let Some(ro) = read_only {
        jute::JuteWrite::boolean(&mut f, ro);
    }
    f.freeze()
}
