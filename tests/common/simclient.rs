//! Simulated clients of a simulated ensemble, and the one shard per member
//! they talk through: each client holds a session (one connection at a
//! time, to its home member or, while that is down, another), and issues
//! one operation at a time on a few znodes `/k<i>`: create, setData (at
//! any version or at the version it last saw) and a linearizable read
//! (sync, then getData from the shard's version after the sync's reply).
//! Every operation is recorded in one history per znode (linearizability
//! is local, so each znode is checked alone, with `lin.rs`); an operation
//! without a certain answer (its connection closed, its member crashed, it
//! timed out, an unexpected error) stays in flight for good, and the client
//! goes on as a new thread.
//!
//! The shard side is what `server::shard` does with a connection, reduced
//! to what these clients use: `Accept` and `Connect` at once, requests
//! decoded by the shipped `request::decode`, replies routed by connection,
//! reads answered from the version published with (or pinned to) the
//! sync's reply, `Gone` when a connection closes. Included with `#[path]`,
//! with `rng.rs`, `simnet.rs` and `lin.rs`.
#![allow(dead_code)]

use super::lin::History;
use super::rng::SplitMix as Rng;
use super::simnet::Sched;
use bytes::{Bytes, BytesMut};
use corral::data::tree::Tree;
use corral::protocol::jute::{self, op, Jute, Reader};
use corral::protocol::request::{self, Request};
use corral::replica::msg::{ConnRef, Item, ToSeq};
use stateright::semantics::SequentialSpec;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// One znode as a sequential object: absent, or its value and version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Key(pub Option<(u64, i32)>);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KOp {
    Create(u64),
    /// setData at `expect` (-1: any version).
    Set {
        expect: i32,
        value: u64,
    },
    /// sync, then getData.
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KRet {
    Created,
    Exists,
    /// The version after the write.
    Written(i32),
    BadVersion,
    NoNode,
    Value(u64, i32),
}

impl SequentialSpec for Key {
    type Op = KOp;
    type Ret = KRet;

    fn invoke(&mut self, op: &KOp) -> KRet {
        match (*op, self.0) {
            (KOp::Create(_), Some(_)) => KRet::Exists,
            (KOp::Create(v), None) => {
                self.0 = Some((v, 0));
                KRet::Created
            }
            (KOp::Set { .. }, None) => KRet::NoNode,
            (KOp::Set { expect, value }, Some((_, ver))) => {
                if expect != -1 && expect != ver {
                    return KRet::BadVersion;
                }
                self.0 = Some((value, ver + 1));
                KRet::Written(ver + 1)
            }
            (KOp::Read, None) => KRet::NoNode,
            (KOp::Read, Some((v, ver))) => KRet::Value(v, ver),
        }
    }
}

/// The clients' knobs.
#[derive(Debug, Clone, Copy)]
pub struct ClientParams {
    pub clients: usize,
    pub keys: usize,
    /// The pause between two operations (ms, at most).
    pub think_max_ms: u64,
    /// A client gives up on an answer after this (ms).
    pub op_timeout_ms: u64,
    pub session_timeout_ms: i32,
    /// Clients stop issuing operations at this time.
    pub stop_at: u64,
    /// One more client, the admin, issues reconfigs (`reconfig`, op 16)
    /// instead: incremental role changes, removals and additions of the
    /// members, now and then a new member list, sometimes with `-v`.
    pub admin: bool,
}

#[derive(Debug, Clone)]
enum St {
    /// No connection; try again at the next wake.
    Down,
    /// Handshake sent on `conn`.
    Connecting {
        m: usize,
        conn: u64,
    },
    Idle {
        m: usize,
        conn: u64,
    },
    Busy {
        m: usize,
        conn: u64,
        xid: i32,
        key: usize,
        op: KOp,
        since: u64,
    },
}

pub struct Client {
    pub id: usize,
    home: usize,
    st: St,
    session: i64,
    passwd: Bytes,
    xid: i32,
    /// The highest zxid seen (a member behind it refuses the handshake).
    last_zxid: i64,
    /// This client's thread in each key's history (a new one after an
    /// operation that stays in flight).
    threads: Vec<Option<usize>>,
    /// The version of each key this client last saw.
    seen: Vec<i32>,
    auth_sent: bool,
    k: u64,
    /// The token of the latest wake scheduled.
    token: u64,
    /// The admin (`ClientParams::admin`): its operations are reconfigs,
    /// outside the histories (its `St::Busy` names key 0 and `Read`).
    admin: bool,
}

/// What the clients did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientStats {
    pub ops: u64,
    pub ok: u64,
    pub indeterminate: u64,
    pub writes_ok: u64,
    pub reads_ok: u64,
    pub sessions: u64,
    pub expired: u64,
    pub refused: u64,
    pub timeouts: u64,
    /// When the last write was acknowledged.
    pub last_write_ok_at: u64,
    /// The admin's reconfigs: sent, and answered Ok.
    pub reconfigs: u64,
    pub reconfigs_ok: u64,
}

/// A connection's shard-side state.
struct Conn {
    client: usize,
    session: i64,
}

/// Every client, the shard of each member, and the histories.
pub struct Clients {
    pub p: ClientParams,
    pub clients: Vec<Client>,
    pub histories: Vec<History<Key>>,
    /// (member, conn) → its connection.
    conns: HashMap<(usize, u64), Conn>,
    next_conn: u64,
    members: usize,
    /// Members whose shard drains (a graceful stop).
    draining: Vec<bool>,
    /// Wakes: (client, token); only a client's latest wake counts.
    q: Sched<(usize, u64)>,
    pub stats: ClientStats,
    /// For each key: the highest version a write was acknowledged with.
    pub acked: Vec<i32>,
    /// A line per notable event, for the trace (when `tracing`).
    pub log: Vec<String>,
    pub tracing: bool,
}

fn ip_of(client: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (client >> 8) as u8, client as u8))
}

fn path_of(key: usize) -> String {
    format!("/k{key}")
}

/// What a member's shard must feed its Replica.
pub type ToMember = (usize, ToSeq);

impl Clients {
    pub fn new(p: ClientParams, members: usize, rng: &mut Rng) -> Clients {
        let mut q = Sched::default();
        let clients = (0..p.clients + usize::from(p.admin))
            .map(|id| {
                q.at(rng.range(1, 200), (id, 0));
                Client {
                    id,
                    home: id % members,
                    st: St::Down,
                    session: 0,
                    passwd: Bytes::from_static(&[0; 16]),
                    xid: 0,
                    last_zxid: 0,
                    threads: vec![None; p.keys],
                    seen: vec![-1; p.keys],
                    auth_sent: false,
                    k: 0,
                    token: 0,
                    admin: id == p.clients,
                }
            })
            .collect();
        Clients {
            p,
            clients,
            histories: (0..p.keys).map(|_| History::new()).collect(),
            conns: HashMap::new(),
            next_conn: 1,
            members,
            draining: vec![false; members],
            q,
            stats: ClientStats::default(),
            acked: vec![-1; p.keys],
            log: Vec::new(),
            tracing: false,
        }
    }

    pub fn next_time(&self) -> Option<u64> {
        self.q.next_time()
    }

    /// Wakes client `c` at `when`, instead of any wake scheduled before.
    fn wake_at(&mut self, c: usize, when: u64) {
        let cl = &mut self.clients[c];
        cl.token += 1;
        self.q.at(when, (c, cl.token));
    }

    fn from(conn: u64) -> ConnRef {
        ConnRef { shard: 0, conn }
    }

    fn thread(&mut self, c: usize, key: usize) -> usize {
        match self.clients[c].threads[key] {
            Some(t) => t,
            None => {
                let t = self.histories[key].thread();
                self.clients[c].threads[key] = Some(t);
                t
            }
        }
    }

    /// The operation in flight (if any) stays so; the client goes on as a
    /// new thread.
    fn abandon(&mut self, c: usize) {
        if let St::Busy { xid, .. } = self.clients[c].st {
            if self.tracing {
                self.log.push(format!("c{c} xid {xid} stays in flight"));
            }
            self.stats.indeterminate += 1;
            self.clients[c].threads.iter_mut().for_each(|t| *t = None);
        }
    }

    /// Drops `c`'s connection (the shard reports it gone, unless its
    /// member is down).
    fn disconnect(&mut self, c: usize, member_up: bool, out: &mut Vec<ToMember>) {
        self.abandon(c);
        let (m, conn) = match self.clients[c].st {
            St::Down => return,
            St::Connecting { m, conn } | St::Idle { m, conn } | St::Busy { m, conn, .. } => {
                (m, conn)
            }
        };
        self.clients[c].st = St::Down;
        if let Some(cn) = self.conns.remove(&(m, conn)) {
            if member_up {
                out.push((
                    m,
                    ToSeq::Gone {
                        from: Self::from(conn),
                        ip: ip_of(c),
                        session: cn.session,
                    },
                ));
            }
        }
    }

    /// Member `m` crashed: its connections are gone, their operations in
    /// flight for good.
    pub fn member_down(&mut self, m: usize, now: u64, rng: &mut Rng) {
        let mut out = Vec::new();
        for c in 0..self.clients.len() {
            let on = match self.clients[c].st {
                St::Connecting { m: x, .. } | St::Idle { m: x, .. } | St::Busy { m: x, .. } => {
                    x == m
                }
                St::Down => false,
            };
            if on {
                self.disconnect(c, false, &mut out);
                self.wake_at(c, now + rng.range(5, 100));
            }
        }
        self.conns.retain(|(x, _), _| *x != m);
        self.draining[m] = false;
    }

    /// Member `m`'s shard drains (`Item::Drain`): it takes no new
    /// connection (the simulation's `up` says so), closes each connection
    /// once what it sent is answered, then reports `Drained`.
    pub fn drain(&mut self, m: usize, now: u64, rng: &mut Rng) -> Vec<ToMember> {
        self.draining[m] = true;
        let mut out = Vec::new();
        self.drain_check(now, rng, &mut out);
        out
    }

    fn on(&self, c: usize) -> Option<usize> {
        match self.clients[c].st {
            St::Connecting { m, .. } | St::Idle { m, .. } | St::Busy { m, .. } => Some(m),
            St::Down => None,
        }
    }

    /// Closes the idle connections of draining members; `Drained` once a
    /// member has none waiting for an answer.
    fn drain_check(&mut self, now: u64, rng: &mut Rng, out: &mut Vec<ToMember>) {
        for m in 0..self.members {
            if !self.draining[m] {
                continue;
            }
            let mut waiting = false;
            for c in 0..self.clients.len() {
                if self.on(c) != Some(m) {
                    continue;
                }
                match self.clients[c].st {
                    St::Idle { .. } => {
                        self.disconnect(c, true, out);
                        self.wake_at(c, now + rng.range(5, 100));
                    }
                    _ => waiting = true,
                }
            }
            if !waiting {
                self.draining[m] = false;
                out.push((m, ToSeq::Drained { shard: 0 }));
            }
        }
    }

    /// The next client due to wake, and what its wake sends.
    /// `up(m)` says whether member `m` runs; `version(m)` is its shard's
    /// version.
    pub fn wake_due(
        &mut self,
        now: u64,
        rng: &mut Rng,
        up: &dyn Fn(usize) -> bool,
        version: &dyn Fn(usize) -> Option<Arc<Tree>>,
    ) -> Option<Vec<ToMember>> {
        let (c, token) = self.q.pop_due(now)?;
        let mut out = Vec::new();
        if token == self.clients[c].token {
            self.wake(c, now, rng, up, version, &mut out);
        }
        if self.draining.iter().any(|d| *d) {
            self.drain_check(now, rng, &mut out);
        }
        Some(out)
    }

    fn wake(
        &mut self,
        c: usize,
        now: u64,
        rng: &mut Rng,
        up: &dyn Fn(usize) -> bool,
        version: &dyn Fn(usize) -> Option<Arc<Tree>>,
        out: &mut Vec<ToMember>,
    ) {
        match self.clients[c].st.clone() {
            St::Down => {
                if now >= self.p.stop_at {
                    return;
                }
                // Home first, then any other member that runs.
                let home = self.clients[c].home;
                let m = if up(home) && rng.chance(700) {
                    home
                } else {
                    rng.below(self.members as u64) as usize
                };
                if !up(m) {
                    self.wake_at(c, now + rng.range(20, 200));
                    return;
                }
                let last = version(m).map_or(0, |v| v.last_zxid);
                let conn = self.next_conn;
                self.next_conn += 1;
                let from = Self::from(conn);
                out.push((m, ToSeq::Accept { from, ip: ip_of(c) }));
                self.conns.insert(
                    (m, conn),
                    Conn {
                        client: c,
                        session: 0,
                    },
                );
                if self.clients[c].last_zxid > last {
                    // The shard refuses a client that has seen more.
                    self.stats.refused += 1;
                    self.clients[c].st = St::Connecting { m, conn };
                    self.disconnect(c, true, out);
                    self.wake_at(c, now + rng.range(20, 200));
                    return;
                }
                if self.tracing {
                    let sess = self.clients[c].session;
                    self.log
                        .push(format!("c{c} connects to s{} (session {sess:#x})", m + 1));
                }
                let cl = &mut self.clients[c];
                cl.st = St::Connecting { m, conn };
                cl.auth_sent = false;
                out.push((
                    m,
                    ToSeq::Connect {
                        from,
                        session: cl.session,
                        passwd: cl.passwd.clone(),
                        timeout: self.p.session_timeout_ms,
                        read_only: false,
                    },
                ));
                self.wake_at(c, now + self.p.op_timeout_ms);
            }
            St::Connecting { .. } => {
                // No answer in time: drop the connection, try again.
                self.stats.timeouts += 1;
                self.disconnect(c, true, out);
                self.wake_at(c, now + rng.range(10, 100));
            }
            St::Busy { since, .. } => {
                if now >= since + self.p.op_timeout_ms {
                    self.stats.timeouts += 1;
                    self.disconnect(c, true, out);
                    self.wake_at(c, now + rng.range(10, 100));
                }
            }
            St::Idle { m, conn } => {
                if now >= self.p.stop_at {
                    return;
                }
                if self.clients[c].admin {
                    let tree = version(m);
                    self.issue_reconfig(c, m, conn, now, rng, tree.as_deref(), out);
                } else {
                    self.issue(c, m, conn, now, rng, out);
                }
            }
        }
    }

    fn issue(
        &mut self,
        c: usize,
        m: usize,
        conn: u64,
        now: u64,
        rng: &mut Rng,
        out: &mut Vec<ToMember>,
    ) {
        let key = rng.below(self.p.keys as u64) as usize;
        let cl = &mut self.clients[c];
        cl.k += 1;
        let value = ((c as u64 + 1) << 32) | cl.k;
        let op = match rng.below(10) {
            0 | 1 => KOp::Create(value),
            2..=3 => KOp::Set { expect: -1, value },
            4..=5 => KOp::Set {
                expect: cl.seen[key].max(0),
                value,
            },
            _ => KOp::Read,
        };
        cl.xid += 1;
        let xid = cl.xid;
        let session = cl.session;
        let from = Self::from(conn);
        let path = path_of(key);
        let msg = match op {
            KOp::Read => Some(ToSeq::Sync {
                from,
                xid,
                path: "/".into(),
            }),
            KOp::Create(v) => {
                let body = jute::CreateRequest {
                    path,
                    data: Some(Bytes::copy_from_slice(&v.to_be_bytes())),
                    acl: corral::data::tree::open_acl(),
                    flags: 0,
                }
                .encode()
                .freeze();
                self.write(c, session, xid, op::CREATE, body)
            }
            KOp::Set { expect, value } => {
                let body = jute::SetDataRequest {
                    path,
                    data: Some(Bytes::copy_from_slice(&value.to_be_bytes())),
                    version: expect,
                }
                .encode()
                .freeze();
                self.write(c, session, xid, op::SET_DATA, body)
            }
        };
        let Some(msg) = msg else { return };
        let t = self.thread(c, key);
        self.histories[key].invoke(t, op);
        if self.tracing {
            self.log
                .push(format!("c{c} -> s{} xid {xid} /k{key} {op:?}", m + 1));
        }
        self.stats.ops += 1;
        self.send_busy(c, (m, conn, xid), key, op, now, msg, out);
    }

    /// Sends `msg` and waits for its answer (or the op timeout).
    #[allow(clippy::too_many_arguments)]
    fn send_busy(
        &mut self,
        c: usize,
        (m, conn, xid): (usize, u64, i32),
        key: usize,
        op: KOp,
        now: u64,
        msg: ToSeq,
        out: &mut Vec<ToMember>,
    ) {
        self.clients[c].st = St::Busy {
            m,
            conn,
            xid,
            key,
            op,
            since: now,
        };
        out.push((m, msg));
        self.wake_at(c, now + self.p.op_timeout_ms);
    }

    /// The admin's next reconfig, chosen against the config in member
    /// `m`'s version: a member's role flipped, a member removed or added
    /// (incremental), or now and then a new member list; sometimes `-v`
    /// with the version it read.
    #[allow(clippy::too_many_arguments)]
    fn issue_reconfig(
        &mut self,
        c: usize,
        m: usize,
        conn: u64,
        now: u64,
        rng: &mut Rng,
        tree: Option<&Tree>,
        out: &mut Vec<ToMember>,
    ) {
        use corral::quorum::reconfig::Membership;
        let current = tree
            .and_then(|t| t.get(corral::data::tree::CONFIG))
            .and_then(|n| Membership::parse(&String::from_utf8_lossy(n.data()?)).ok());
        let Some(current) = current else {
            self.wake_at(c, now + rng.range(50, 200));
            return;
        };
        let q = current.quorum();
        let n = self.members as i64;
        let sid = rng.range(1, n as u64) as i64;
        let mut req = jute::ReconfigRequest {
            joining_servers: String::new(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: if rng.percent(20) { current.version } else { -1 },
        };
        if rng.percent(10) {
            // A new member list: every member, each a voter or not (a
            // list without enough voters is refused).
            let mut lines = Vec::new();
            for s in 1..=n {
                if rng.percent(85) {
                    lines.push(server_line(s, rng.percent(70)));
                }
            }
            req.new_members = lines.join(",");
        } else if q.is_voter(sid) || q.is_observer(sid) {
            if rng.percent(50) {
                req.leaving_servers = sid.to_string();
            } else {
                req.joining_servers = server_line(sid, !q.is_voter(sid));
            }
        } else {
            req.joining_servers = server_line(sid, rng.percent(70));
        }
        let body = req.encode().freeze();
        self.clients[c].xid += 1;
        let (session, xid) = (self.clients[c].session, self.clients[c].xid);
        let Some(msg) = self.write(c, session, xid, op::RECONFIG, body) else {
            return;
        };
        if self.tracing {
            self.log
                .push(format!("c{c} (admin) -> s{} xid {xid} {req:?}", m + 1));
        }
        self.stats.reconfigs += 1;
        self.send_busy(c, (m, conn, xid), 0, KOp::Read, now, msg, out);
    }

    /// The admin's answer: counted, and the next reconfig after a pause.
    fn admin_reply(&mut self, c: usize, m: usize, conn: u64, now: u64, rng: &mut Rng, err: i32) {
        use corral::protocol::jute::Code;
        if err == Code::Ok.as_i32() {
            self.stats.reconfigs_ok += 1;
        }
        if self.tracing {
            self.log
                .push(format!("c{c} (admin) <- s{} reconfig error {err}", m + 1));
        }
        self.clients[c].st = St::Idle { m, conn };
        self.wake_at(c, now + rng.range(50, 400));
    }

    fn write(
        &mut self,
        c: usize,
        session: i64,
        xid: i32,
        opcode: i32,
        body: Bytes,
    ) -> Option<ToSeq> {
        let conn = match self.clients[c].st {
            St::Idle { conn, .. } => conn,
            _ => return None,
        };
        let Ok(Request::Write(w)) = request::decode(opcode, &body) else {
            panic!("the sim's own request does not decode as a write");
        };
        let cl = &mut self.clients[c];
        let auth = (!cl.auth_sent).then(|| {
            vec![jute::Id {
                scheme: "ip".into(),
                id: ip_of(c).to_string(),
            }]
        });
        cl.auth_sent = true;
        Some(ToSeq::Write {
            from: Self::from(conn),
            session,
            xid,
            op: w,
            body,
            auth,
            reads_before: false,
        })
    }

    /// A batch published by member `m` for its shard: replies go to their
    /// connections; a read after a sync reads the version it came with.
    pub fn deliver(
        &mut self,
        m: usize,
        now: u64,
        rng: &mut Rng,
        version: &Arc<Tree>,
        items: Vec<Item>,
    ) -> Vec<ToMember> {
        let mut out = Vec::new();
        for item in items {
            match item {
                Item::Connected {
                    conn,
                    session,
                    timeout: _,
                    passwd,
                    ok,
                    read_only: _,
                } => {
                    let Some(cn) = self.conns.get_mut(&(m, conn)) else {
                        continue;
                    };
                    let c = cn.client;
                    if !matches!(self.clients[c].st, St::Connecting { conn: x, .. } if x == conn) {
                        continue;
                    }
                    if self.tracing {
                        self.log.push(format!(
                            "c{c} connected to s{} ok={ok} session {session:#x}",
                            m + 1
                        ));
                    }
                    if !ok {
                        // Expired: a new session next time.
                        self.stats.expired += 1;
                        self.clients[c].session = 0;
                        self.disconnect(c, true, &mut out);
                        self.wake_at(c, now + rng.range(5, 50));
                        continue;
                    }
                    cn.session = session;
                    let cl = &mut self.clients[c];
                    if cl.session != session {
                        self.stats.sessions += 1;
                        cl.xid = 0;
                    }
                    cl.session = session;
                    cl.passwd = Bytes::copy_from_slice(&passwd);
                    cl.st = St::Idle { m, conn };
                    self.wake_at(c, now + rng.range(0, self.p.think_max_ms));
                }
                Item::Reply {
                    conn,
                    frame,
                    version: pinned,
                } => {
                    let Some(cn) = self.conns.get(&(m, conn)) else {
                        continue;
                    };
                    let c = cn.client;
                    let v = pinned.unwrap_or_else(|| version.clone());
                    self.reply(c, m, conn, now, rng, &frame, &v);
                }
                Item::Close { conn } => {
                    let Some(cn) = self.conns.get(&(m, conn)) else {
                        continue;
                    };
                    let c = cn.client;
                    if self.tracing {
                        self.log.push(format!("c{c} closed by s{}", m + 1));
                    }
                    self.disconnect(c, true, &mut out);
                    self.wake_at(c, now + rng.range(5, 100));
                }
                _ => {}
            }
        }
        if self.draining[m] {
            self.drain_check(now, rng, &mut out);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        c: usize,
        m: usize,
        conn: u64,
        now: u64,
        rng: &mut Rng,
        frame: &[u8],
        version: &Arc<Tree>,
    ) {
        let mut r = Reader::new(frame);
        let (Ok(_len), Ok(hdr)) = (r.int(), jute::ReplyHeader::read(&mut r)) else {
            panic!("a reply frame that does not decode");
        };
        if hdr.xid < 0 {
            return; // a notification or a ping
        }
        let St::Busy { xid, key, op, .. } = self.clients[c].st.clone() else {
            return;
        };
        if hdr.xid != xid {
            return;
        }
        if self.clients[c].admin {
            return self.admin_reply(c, m, conn, now, rng, hdr.err);
        }
        let cl = &mut self.clients[c];
        if hdr.zxid > 0 {
            cl.last_zxid = cl.last_zxid.max(hdr.zxid);
        }
        use corral::protocol::jute::Code;
        let ok = Code::Ok.as_i32();
        let ret = match op {
            KOp::Read => {
                if hdr.err != ok {
                    None
                } else {
                    cl.last_zxid = cl.last_zxid.max(version.last_zxid);
                    Some(match version.get(&path_of(key)) {
                        None => KRet::NoNode,
                        Some(n) => {
                            let d = n.data().unwrap_or_default();
                            let mut a = [0u8; 8];
                            a[..d.len().min(8)].copy_from_slice(&d[..d.len().min(8)]);
                            KRet::Value(u64::from_be_bytes(a), n.stat().version)
                        }
                    })
                }
            }
            KOp::Create(_) => match hdr.err {
                e if e == ok => Some(KRet::Created),
                e if e == Code::NodeExists.as_i32() => Some(KRet::Exists),
                _ => None,
            },
            KOp::Set { .. } => match hdr.err {
                e if e == ok => jute::Stat::read(&mut r)
                    .ok()
                    .map(|s| KRet::Written(s.version)),
                e if e == Code::BadVersion.as_i32() => Some(KRet::BadVersion),
                e if e == Code::NoNode.as_i32() => Some(KRet::NoNode),
                _ => None,
            },
        };
        let Some(ret) = ret else {
            // An error that says nothing certain: in flight for good.
            self.log
                .push(format!("{now} c{c} {op:?} on /k{key}: error {}", hdr.err));
            self.abandon(c);
            self.clients[c].st = St::Idle { m, conn };
            self.wake_at(c, now + rng.range(0, self.p.think_max_ms));
            return;
        };
        match ret {
            KRet::Written(v) | KRet::Value(_, v) => self.clients[c].seen[key] = v,
            KRet::Created => self.clients[c].seen[key] = 0,
            _ => {}
        }
        match ret {
            KRet::Written(v) => {
                self.stats.writes_ok += 1;
                self.stats.last_write_ok_at = now;
                self.acked[key] = self.acked[key].max(v);
            }
            KRet::Created => {
                self.stats.writes_ok += 1;
                self.stats.last_write_ok_at = now;
                self.acked[key] = self.acked[key].max(0);
            }
            KRet::Value(..) | KRet::NoNode if op == KOp::Read => self.stats.reads_ok += 1,
            _ => {}
        }
        self.stats.ok += 1;
        if self.tracing {
            self.log.push(format!(
                "c{c} <- s{} xid {xid} /k{key} {ret:?} (zxid {:#x}, read at {:#x})",
                m + 1,
                hdr.zxid,
                version.last_zxid
            ));
        }
        let t = self.thread(c, key);
        self.histories[key].ret(t, ret);
        self.clients[c].st = St::Idle { m, conn };
        self.wake_at(c, now + rng.range(0, self.p.think_max_ms));
    }

    /// Checks every key's history; the first key that is not
    /// linearizable, with its history.
    pub fn check(&self) -> Result<(), String> {
        for (k, h) in self.histories.iter().enumerate() {
            if h.linearize(&Key::default()).is_none() {
                let mut s = format!("the history of /k{k} is not linearizable:\n");
                for (t, ops) in h.threads.iter().enumerate() {
                    for e in ops {
                        s.push_str(&format!("  thread {t}: {e:?}\n"));
                    }
                }
                return Err(s);
            }
        }
        Ok(())
    }

    /// Whether every client is idle or stopped (for the quiet check).
    pub fn any_busy(&self) -> bool {
        self.clients.iter().any(|c| matches!(c.st, St::Busy { .. }))
    }
}

/// Member `sid`'s line in the simulation's configs: its own host (no
/// port clash), a client port, a voter or an observer.
pub fn server_line(sid: i64, voter: bool) -> String {
    let role = if voter { "participant" } else { "observer" };
    format!("server.{sid}=10.0.0.{sid}:2888:3888:{role};2181")
}

/// Writes `v` as a frame body (for tests of this file).
pub fn encode<T: Jute>(v: &T) -> BytesMut {
    v.encode()
}
