//! One shard: an executor with its own listener, connections and watches.
//!
//! Reads are answered here from the shard's current tree version; writes go
//! to the sequencer, and their replies come back in batches with the next
//! version. A batch is applied in one synchronous step (switch version,
//! queue events, queue replies), so a connection always sends a batch's
//! watch events before any read answered from that batch's version.

use super::msg::{Batch, ConnRef, Item, ToSeq};
use super::Settings;
use crate::fourlw;
use crate::jute::{self, op, Code, Id, Jute, Reader};
use crate::request::{self, ReadCtx, Request};
use crate::sequencer::connect_frame;
use crate::tree::{EventType, Tree};
use crate::watch::{ConnId, Mode, Table, Watches};
use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::shared_channel::{ConnectedSender, SharedReceiver, SharedSender};
use glommio::net::{TcpListener, TcpStream};
use shards::frame::FrameBuf;
use shards::mailbox::Mailbox;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a connection is told by its shard.
#[derive(Debug)]
enum Out {
    Event {
        kind: EventType,
        path: Arc<str>,
    },
    Reply(Bytes),
    Connected {
        session: i64,
        timeout: i32,
        passwd: [u8; 16],
        ok: bool,
    },
    Close,
}

/// Counters of one shard, for the four-letter words.
#[derive(Debug, Default, Clone)]
pub struct ShardStats {
    pub received: u64,
    pub sent: u64,
    pub lat_min: u64,
    pub lat_max: u64,
    pub lat_sum: u64,
    pub lat_count: u64,
}

impl ShardStats {
    fn latency(&mut self, us: u64) {
        let ms = us / 1000;
        if self.lat_count == 0 || ms < self.lat_min {
            self.lat_min = ms;
        }
        self.lat_max = self.lat_max.max(ms);
        self.lat_sum += ms;
        self.lat_count += 1;
    }
}

/// A connection as the shard's other tasks see it.
struct ConnHandle {
    out: Mailbox<Out>,
    info: RefCell<ConnInfo>,
}

/// What `cons` shows about a connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub session: i64,
    pub timeout: i32,
    pub received: u64,
    pub sent: u64,
    pub outstanding: usize,
    pub last_zxid: i64,
}

struct Shard {
    id: usize,
    settings: Settings,
    version: RefCell<Arc<Tree>>,
    conns: RefCell<HashMap<ConnId, Rc<ConnHandle>>>,
    watches: RefCell<Watches>,
    touched: RefCell<HashSet<i64>>,
    next_conn: Cell<u64>,
    to_seq: ConnectedSender<ToSeq>,
    stats: RefCell<ShardStats>,
}

/// Runs shard `id` until the process stops.
pub async fn run(
    id: usize,
    settings: Settings,
    version: Arc<Tree>,
    to_seq: SharedSender<ToSeq>,
    from_seq: SharedReceiver<Batch>,
) {
    let listener = match TcpListener::bind(settings.client_addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(shard = id, error = %e, "cannot listen on {}", settings.client_addr);
            std::process::exit(1);
        }
    };
    let shard = Rc::new(Shard {
        id,
        settings,
        version: RefCell::new(version),
        conns: RefCell::new(HashMap::new()),
        watches: RefCell::new(Watches::default()),
        touched: RefCell::new(HashSet::new()),
        next_conn: Cell::new(1),
        to_seq: to_seq.connect().await,
        stats: RefCell::new(ShardStats::default()),
    });
    let from_seq = from_seq.connect().await;
    {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            while let Some(batch) = from_seq.recv().await {
                shard.apply_batch(batch);
            }
        })
        .detach();
    }
    {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(Duration::from_millis(100)).await;
                let ids: Vec<i64> = shard.touched.borrow_mut().drain().collect();
                if !ids.is_empty() && shard.to_seq.send(ToSeq::Touch(ids)).await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                glommio::spawn_local(async move {
                    let peer = match stream.peer_addr() {
                        Ok(p) => p,
                        Err(_) => return,
                    };
                    let _ = stream.set_nodelay(true);
                    Conn::serve(shard, stream, peer).await;
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!(shard = id, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl Shard {
    fn apply_batch(&self, batch: Batch) {
        *self.version.borrow_mut() = batch.version;
        let conns = self.conns.borrow();
        let push = |conn: ConnId, o: Out| {
            if let Some(c) = conns.get(&conn) {
                c.out.push(o);
            }
        };
        for item in batch.items {
            match item {
                Item::Event(ev) => {
                    let targets = self.watches.borrow_mut().trigger(&ev.path, ev.kind);
                    for c in targets {
                        push(
                            c,
                            Out::Event {
                                kind: ev.kind,
                                path: ev.path.clone(),
                            },
                        );
                    }
                }
                Item::Reply { conn, frame } => push(conn, Out::Reply(frame)),
                Item::Connected {
                    conn,
                    session,
                    timeout,
                    passwd,
                    ok,
                } => push(
                    conn,
                    Out::Connected {
                        session,
                        timeout,
                        passwd,
                        ok,
                    },
                ),
                Item::Close { conn } => push(conn, Out::Close),
            }
        }
    }

    fn snapshot(&self) -> fourlw::ServerView {
        let v = self.version.borrow().clone();
        let conns: Vec<ConnInfo> = self
            .conns
            .borrow()
            .values()
            .map(|c| c.info.borrow().clone())
            .collect();
        let w = self.watches.borrow();
        fourlw::ServerView {
            tree: v,
            stats: self.stats.borrow().clone(),
            conns,
            watch_count: w.count(),
            watched_paths: w.paths(),
            watches_by_conn: w.by_conn(),
            watches_by_path: w.by_path(),
            settings: self.settings.clone(),
            shard: self.id,
        }
    }
}

enum State {
    Handshake,
    Connecting { read_only: Option<bool> },
    Active,
}

enum Pending {
    Write,
    Read {
        xid: i32,
        op: i32,
        req: Request,
        at: Instant,
    },
}

enum Wake {
    Out,
    Read(std::io::Result<usize>),
}

struct Conn {
    shard: Rc<Shard>,
    id: ConnId,
    handle: Rc<ConnHandle>,
    peer: SocketAddr,
    state: State,
    session: i64,
    auth: Vec<Id>,
    pending: VecDeque<Pending>,
    wbuf: BytesMut,
    closing: bool,
    counted: bool,
}

impl Conn {
    async fn serve(shard: Rc<Shard>, mut stream: TcpStream, peer: SocketAddr) {
        let id = shard.next_conn.get();
        shard.next_conn.set(id + 1);
        let handle = Rc::new(ConnHandle {
            out: Mailbox::new(),
            info: RefCell::new(ConnInfo {
                peer,
                session: 0,
                timeout: 0,
                received: 0,
                sent: 0,
                outstanding: 0,
                last_zxid: 0,
            }),
        });
        shard.conns.borrow_mut().insert(id, handle.clone());
        let mut c = Conn {
            shard: shard.clone(),
            id,
            handle,
            peer,
            state: State::Handshake,
            session: 0,
            auth: vec![Id {
                scheme: "ip".into(),
                id: peer.ip().to_string(),
            }],
            pending: VecDeque::new(),
            wbuf: BytesMut::new(),
            closing: false,
            counted: false,
        };
        let mut fb = FrameBuf::new(shard.settings.jute_max_buffer);
        let result = c.pump(&mut stream, &mut fb).await;
        if let Err(e) = result {
            tracing::debug!(peer = %peer, error = %e, "connection closed");
        }
        let _ = stream.close().await;
        shard.conns.borrow_mut().remove(&id);
        shard.watches.borrow_mut().drop_conn(id);
        if c.counted {
            let _ = shard
                .to_seq
                .send(ToSeq::Gone {
                    from: ConnRef {
                        shard: shard.id,
                        conn: id,
                    },
                    ip: peer.ip(),
                    session: c.session,
                })
                .await;
        }
    }

    async fn pump(&mut self, stream: &mut TcpStream, fb: &mut FrameBuf) -> std::io::Result<()> {
        loop {
            // 1. What the shard queued for us, in order.
            while let Some(o) = self.handle.out.pop() {
                self.on_out(o);
            }
            // 2. Whole frames already read.
            if !self.closing {
                self.process_frames(fb).await?;
            }
            // 3. Send.
            if !self.wbuf.is_empty() {
                let n = self.wbuf.len();
                stream.write_all(&self.wbuf).await?;
                self.wbuf.clear();
                let mut i = self.handle.info.borrow_mut();
                i.sent += 1;
                let _ = n;
            }
            if self.closing {
                return Ok(());
            }
            // 4. Wait for input or output.
            let limit = self.shard.settings.global_outstanding_limit.max(1);
            let can_read =
                self.pending.len() < limit && !matches!(self.state, State::Connecting { .. });
            let spare = fb.spare(4096);
            let out = &self.handle.out;
            let wake = if can_read {
                futures_lite::future::or(
                    async {
                        out.ready().await;
                        Wake::Out
                    },
                    async { Wake::Read(stream.read(spare).await) },
                )
                .await
            } else {
                out.ready().await;
                Wake::Out
            };
            match wake {
                Wake::Out => {}
                Wake::Read(Ok(0)) => return Ok(()),
                Wake::Read(Ok(n)) => fb.filled(n),
                Wake::Read(Err(e)) => return Err(e),
            }
        }
    }

    fn me(&self) -> ConnRef {
        ConnRef {
            shard: self.shard.id,
            conn: self.id,
        }
    }

    fn on_out(&mut self, o: Out) {
        match o {
            Out::Event { kind, path } => {
                if matches!(self.state, State::Active) {
                    request::notification(&mut self.wbuf, kind as i32, 3, &path);
                    self.shard.stats.borrow_mut().sent += 1;
                }
            }
            Out::Reply(frame) => {
                self.wbuf.extend_from_slice(&frame);
                self.shard.stats.borrow_mut().sent += 1;
                if let Some(Pending::Write) = self.pending.front() {
                    self.pending.pop_front();
                }
                self.serve_queued_reads();
            }
            Out::Connected {
                session,
                timeout,
                passwd,
                ok,
            } => {
                self.counted = true;
                let read_only = match self.state {
                    State::Connecting { read_only } => read_only,
                    _ => None,
                };
                self.wbuf.extend_from_slice(&connect_frame(
                    timeout,
                    session,
                    &passwd,
                    read_only.map(|_| false),
                ));
                if ok {
                    self.state = State::Active;
                    self.session = session;
                    let mut i = self.handle.info.borrow_mut();
                    i.session = session;
                    i.timeout = timeout;
                } else {
                    self.closing = true;
                }
            }
            Out::Close => self.closing = true,
        }
    }

    fn serve_queued_reads(&mut self) {
        while let Some(Pending::Read { .. }) = self.pending.front() {
            if let Some(Pending::Read { xid, op, req, at }) = self.pending.pop_front() {
                self.answer_read(xid, op, &req, at);
            }
        }
        self.handle.info.borrow_mut().outstanding = self.pending.len();
    }

    async fn process_frames(&mut self, fb: &mut FrameBuf) -> std::io::Result<()> {
        if matches!(self.state, State::Handshake) {
            if let Some(word) = fb.peek4() {
                if let Some(cmd) = fourlw::command(&word) {
                    let text = fourlw::answer(cmd, &self.shard.snapshot());
                    self.wbuf.extend_from_slice(text.as_bytes());
                    self.closing = true;
                    return Ok(());
                }
            }
        }
        loop {
            if matches!(self.state, State::Connecting { .. }) || self.closing {
                return Ok(());
            }
            let frame = match fb.next_frame() {
                Ok(Some(f)) => Bytes::copy_from_slice(f),
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::info!(peer = %self.peer, error = %e, "closing connection: bad frame");
                    self.closing = true;
                    return Ok(());
                }
            };
            self.shard.stats.borrow_mut().received += 1;
            self.handle.info.borrow_mut().received += 1;
            match self.state {
                State::Handshake => self.handshake(&frame).await,
                State::Active => self.request(&frame).await,
                State::Connecting { .. } => {}
            }
        }
    }

    async fn handshake(&mut self, frame: &[u8]) {
        let mut r = Reader::new(frame);
        let req = match jute::ConnectRequest::read(&mut r) {
            Ok(req) => req,
            Err(e) => {
                tracing::info!(peer = %self.peer, error = %e, "closing connection: bad handshake");
                self.closing = true;
                return;
            }
        };
        let read_only = if r.remaining() > 0 {
            r.boolean().ok()
        } else {
            None
        };
        let last = self.shard.version.borrow().last_zxid;
        if req.last_zxid_seen > last {
            tracing::info!(
                peer = %self.peer,
                "refusing session request: client has seen zxid 0x{:x}, ours is 0x{:x}",
                req.last_zxid_seen, last
            );
            self.closing = true;
            return;
        }
        self.state = State::Connecting { read_only };
        let msg = ToSeq::Connect {
            from: self.me(),
            ip: self.peer.ip(),
            session: req.session_id,
            passwd: req.passwd,
            timeout: req.time_out,
        };
        if self.shard.to_seq.send(msg).await.is_err() {
            self.closing = true;
        }
    }

    async fn request(&mut self, frame: &[u8]) {
        let at = Instant::now();
        let mut r = Reader::new(frame);
        let Ok(hdr) = jute::RequestHeader::read(&mut r) else {
            self.closing = true;
            return;
        };
        self.shard.touched.borrow_mut().insert(self.session);
        let body = &frame[frame.len() - r.remaining()..];
        let req = match request::decode(hdr.op, body) {
            Ok(req) => req,
            Err(_) if hdr.op == op::AUTH => {
                self.closing = true;
                return;
            }
            Err(_) => {
                let zxid = self.shard.version.borrow().last_zxid;
                self.reply(hdr.xid, zxid, Code::MarshallingError.as_i32(), None);
                return;
            }
        };
        match req {
            Request::Auth(a) => {
                match crate::acl::authenticate(&self.shard.settings.policy, &a.scheme, &a.auth) {
                    Ok(ids) => {
                        for id in ids {
                            if !self.auth.contains(&id) {
                                self.auth.push(id);
                            }
                        }
                        self.reply(jute::xid::AUTH, 0, 0, None);
                    }
                    Err(code) => {
                        self.reply(jute::xid::AUTH, 0, code.as_i32(), None);
                        self.closing = true;
                    }
                }
            }
            Request::Write(w) => {
                if self.shard.settings.eager_acl_check {
                    let version = self.shard.version.borrow().clone();
                    let policy = &self.shard.settings.policy;
                    if let Err(code) = crate::prep::eager_acl_check(policy, &version, &self.auth, &w) {
                        self.reply(hdr.xid, 0, code.as_i32(), None);
                        return;
                    }
                }
                self.pending.push_back(Pending::Write);
                let msg = ToSeq::Write {
                    from: self.me(),
                    session: self.session,
                    xid: hdr.xid,
                    op: w,
                    auth: self.auth.clone(),
                };
                if self.shard.to_seq.send(msg).await.is_err() {
                    self.closing = true;
                }
            }
            Request::CloseSession => {
                self.pending.push_back(Pending::Write);
                let msg = ToSeq::Close {
                    from: self.me(),
                    session: self.session,
                    xid: hdr.xid,
                };
                if self.shard.to_seq.send(msg).await.is_err() {
                    self.closing = true;
                }
            }
            Request::Unknown(code) => {
                tracing::warn!(peer = %self.peer, op = code, "unknown request type");
                let zxid = self.shard.version.borrow().last_zxid;
                self.reply(hdr.xid, zxid, Code::Unimplemented.as_i32(), None);
                self.closing = true;
            }
            req => {
                if self.pending.is_empty() {
                    self.answer_read(hdr.xid, hdr.op, &req, at);
                } else {
                    self.pending.push_back(Pending::Read {
                        xid: hdr.xid,
                        op: hdr.op,
                        req,
                        at,
                    });
                }
            }
        }
        self.handle.info.borrow_mut().outstanding = self.pending.len();
    }

    fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: Option<&[u8]>) {
        request::frame(&mut self.wbuf, xid, zxid, err, body);
        self.shard.stats.borrow_mut().sent += 1;
    }

    fn answer_read(&mut self, xid: i32, opcode: i32, req: &Request, at: Instant) {
        let version = self.shard.version.borrow().clone();
        let zxid = version.last_zxid;
        self.handle.info.borrow_mut().last_zxid = zxid;
        match req {
            Request::Ping => self.reply(jute::xid::PING, zxid, 0, None),
            Request::SetWatches(w) => {
                self.set_watches(&version, w);
                self.reply(xid, zxid, 0, None);
            }
            _ => {
                let result = {
                    let mut watches = self.shard.watches.borrow_mut();
                    let mut ctx = ReadCtx {
                        tree: &version,
                        policy: &self.shard.settings.policy,
                        auth: &self.auth,
                        session: self.session,
                        conn: self.id,
                        watches: &mut watches,
                    };
                    request::serve_read(&mut ctx, req)
                };
                match result {
                    Ok(body) => self.reply(xid, zxid, 0, body.as_deref()),
                    Err(code) => self.reply(xid, zxid, code.as_i32(), None),
                }
            }
        }
        let _ = opcode;
        self.shard
            .stats
            .borrow_mut()
            .latency(at.elapsed().as_micros() as u64);
    }

    /// Re-registers watches after a reconnect, firing what was missed
    /// (ZooKeeper's `DataTree.setWatches`).
    fn set_watches(&mut self, t: &Tree, w: &jute::SetWatches2) {
        let rel = w.relative_zxid;
        let mut fire: Vec<(EventType, String)> = Vec::new();
        {
            let mut watches = self.shard.watches.borrow_mut();
            for p in &w.data_watches {
                match t.get(p) {
                    None => fire.push((EventType::NodeDeleted, p.clone())),
                    Some(n) if n.mzxid > rel => fire.push((EventType::NodeDataChanged, p.clone())),
                    Some(_) => watches.add(Table::Data, p, self.id, Mode::Standard),
                }
            }
            for p in &w.exist_watches {
                match t.get(p) {
                    Some(_) => fire.push((EventType::NodeCreated, p.clone())),
                    None => watches.add(Table::Data, p, self.id, Mode::Standard),
                }
            }
            for p in &w.child_watches {
                match t.get(p) {
                    None => fire.push((EventType::NodeDeleted, p.clone())),
                    Some(n) if n.pzxid > rel => {
                        fire.push((EventType::NodeChildrenChanged, p.clone()))
                    }
                    Some(_) => watches.add(Table::Child, p, self.id, Mode::Standard),
                }
            }
            for p in &w.persistent_watches {
                watches.add_persistent(p, self.id, false);
            }
            for p in &w.persistent_recursive_watches {
                watches.add_persistent(p, self.id, true);
            }
        }
        for (kind, path) in fire {
            request::notification(&mut self.wbuf, kind as i32, 3, &path);
        }
    }
}
