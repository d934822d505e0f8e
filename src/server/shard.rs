//! One shard: an executor with its own listener, connections and watches.
//!
//! Reads are answered here from the shard's current tree version; writes go
//! to the sequencer, and their replies come back in batches with the next
//! version. A batch is applied in one synchronous step (switch version,
//! queue events, queue replies), so a connection always sends a batch's
//! watch events before any read answered from that batch's version.
//!
//! What a connection may cost is bounded (DESIGN.md, "Hostile input has
//! bounds"): it is counted at accept by the sequencer, for its IP
//! (`maxClientCnxns`) and in all (`zookeeper.maxCnxns`), and reads no
//! frame longer than its buffer at rest until it is counted; without a
//! session it is closed after `zookeeper.nio.sessionlessCnxnTimeout`
//! without a read; a multiRead's reply never grows past `jute.maxbuffer`
//! (+1 KiB) while built; once `corral.maxQueuedReplyBytes` of replies wait to be written,
//! it answers and reads nothing more until they are sent; its frame buffer
//! shrinks back after a large frame.
//!
//! The request throttles (`replica/throttle.rs` decides; this file
//! carries out): the shard reports its outstanding count to the sequencer,
//! which tells every shard when the whole server is over
//! `globalOutstandingLimit` (stop reading) or the RequestThrottler's limit
//! (hold the requests read, in the connection's frame buffer, stalling
//! `zookeeper.request_throttle_stall_time` at a time); a large request
//! counts against this shard's share of `zookeeper.largeRequestMaxBytes`
//! until answered, and one that does not fit closes its connection.

use super::stream::{self, Stream};
use crate::data::acl::{self, perms};
use crate::data::tree::{EventType, Tree};
use crate::data::watch::{ConnId, Mode, Table, Watches};
use crate::ops::throttle::BlueThrottle;
use crate::protocol::audit;
use crate::protocol::fourlw::{self, Cmd, ConnInfo, Scope, ShardStats, ShardView};
use crate::protocol::jute::{self, op, Code, Id, Jute, Reader};
use crate::protocol::request::{self, ReadCtx, Request};
use crate::replica::msg::{Batch, ConnRef, Item, ToSeq};
use crate::replica::sequencer::connect_frame;
use crate::replica::throttle::{Gate, LargeBudget, Level, Reporter};
use crate::{admin::facts, server::Settings};
use crate::{FastMap as HashMap, FastSet as HashSet};
use bytes::{Bytes, BytesMut};
use futures_lite::AsyncWriteExt;
use glommio::channels::shared_channel::{ConnectedSender, SharedReceiver, SharedSender};
use glommio::net::{TcpListener, TcpStream};
use shards::frame::FrameBuf;
use shards::mailbox::Mailbox;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Capacity of a connection's write buffer kept between rounds; a larger
/// one (a burst of replies) is freed once written.
const WBUF_KEEP: usize = 256 * 1024;
/// How often a shard looks for changed store files (`client.certReload`).
const CERT_RELOAD_CHECK: Duration = Duration::from_secs(1);

/// What a client port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// `secureClientPort`.
    Tls,
    /// `client.portUnification`: told by the first bytes.
    Unified,
}

/// What a connection is told by its shard.
#[derive(Debug)]
enum Out {
    Event {
        kind: EventType,
        path: Arc<str>,
        /// The node's ACL: only a connection that may READ it is told.
        acl: Arc<Vec<jute::Acl>>,
    },
    /// A reply, and the version that reads queued behind it must see.
    Reply(Bytes, Option<Arc<Tree>>),
    Connected {
        session: i64,
        timeout: i32,
        passwd: [u8; 16],
        ok: bool,
        read_only: bool,
    },
    Close,
    /// Counted for its IP: frames of any length may be read now.
    Admitted,
    /// A four-letter word's answer: write it, then close.
    FourLw(String),
    /// Shutdown: stop reading; close once everything pending is answered.
    Drain,
}

/// A connection as the shard's other tasks see it.
struct ConnHandle {
    out: Mailbox<Out>,
    info: RefCell<ConnInfo>,
    /// Shutdown: close now, whatever is pending (a client that does not
    /// read its answers must not hold the shutdown up).
    kill: Mailbox<()>,
}

struct Shard {
    id: usize,
    settings: Settings,
    /// The client ports' TLS configuration (reloaded in place).
    tls: Option<RefCell<crate::security::tls::Reloading>>,
    /// TLS handshakes in progress on this shard.
    handshakes: Cell<usize>,
    version: RefCell<Arc<Tree>>,
    conns: RefCell<HashMap<ConnId, Rc<ConnHandle>>>,
    watches: RefCell<Watches>,
    touched: RefCell<HashSet<i64>>,
    next_conn: Cell<u64>,
    to_seq: ConnectedSender<ToSeq>,
    /// Requests read but not yet answered, over all connections.
    outstanding: Cell<usize>,
    /// Connections waiting for a throttle to ease (the outstanding count
    /// to drop, or the sequencer's [`Level`] to change).
    throttled_wakers: RefCell<Vec<std::task::Waker>>,
    /// The whole server's load, as the sequencer last told it.
    level: Cell<Level>,
    /// When `outstanding` is told to the sequencer.
    reporter: RefCell<Reporter>,
    /// Wakes the task that tells it.
    report_wake: Mailbox<()>,
    /// This shard's share of `zookeeper.largeRequestMaxBytes`.
    large: RefCell<LargeBudget>,
    stats: RefCell<ShardStats>,
    /// Shutdown: set by [`Item::Drain`]; wakes the accept loop.
    draining: Cell<bool>,
    drain_wake: Mailbox<()>,
    /// The slow-request warnings' rate limit.
    slow_warn: RefCell<crate::ops::WarnLimit>,
    /// The sequencer's role: the four-letter words this shard answers
    /// alone are gated on it, as ZooKeeper gates them on serving.
    role: crate::replica::sequencer::RoleCell,
    /// This shard's share of the connection throttle, and the connect
    /// requests it refused.
    throttle: RefCell<BlueThrottle>,
    rejected: Cell<u64>,
}

/// Runs shard `id` until the process stops.
pub async fn run(
    id: usize,
    settings: Settings,
    version: Arc<Tree>,
    to_seq: SharedSender<ToSeq>,
    from_seq: SharedReceiver<Batch>,
    role: crate::replica::sequencer::RoleCell,
) {
    let listen = |addr: SocketAddr| match shards::listen::shard_listener(addr, 1024) {
        Ok(l) => {
            use std::os::fd::{FromRawFd, IntoRawFd};
            // SAFETY: the fd comes from a listening socket we own and give up.
            unsafe { TcpListener::from_raw_fd(l.into_raw_fd()) }
        }
        Err(e) => {
            tracing::error!(shard = id, error = %e, "cannot listen on {addr}");
            std::process::exit(1);
        }
    };
    let listener = listen(settings.client_addr);
    let secure_listener = settings
        .client_tls
        .as_ref()
        .and_then(|t| t.secure_addr)
        .map(listen);
    let tls = settings.client_tls.as_ref().map(|t| {
        RefCell::new(crate::security::tls::Reloading::from_built(
            t.settings.clone(),
            t.config.clone(),
        ))
    });
    let throttle = BlueThrottle::new(
        settings
            .connection_throttle
            .share(id, settings.core_map.shards.len()),
        super::elapsed_ms(Instant::now()),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let shards = settings.core_map.shards.len().max(1);
    let reporter = Reporter::new(
        shards,
        match settings.request_throttle.max_requests {
            0 => settings.global_outstanding_limit,
            m => m.min(settings.global_outstanding_limit),
        },
    );
    // Each shard holds an equal share of the server's budget.
    let large = LargeBudget::new(
        settings.large_request_max_bytes / shards as u64,
        settings.large_request_threshold,
    );
    let shard = Rc::new(Shard {
        id,
        throttle: RefCell::new(throttle),
        rejected: Cell::new(0),
        role,
        tls,
        handshakes: Cell::new(0),
        settings,
        version: RefCell::new(version),
        conns: RefCell::new(HashMap::default()),
        watches: RefCell::new(Watches::default()),
        touched: RefCell::new(HashSet::default()),
        next_conn: Cell::new(1),
        to_seq: to_seq.connect().await,
        outstanding: Cell::new(0),
        throttled_wakers: RefCell::new(Vec::new()),
        level: Cell::new(Level::default()),
        reporter: RefCell::new(reporter),
        report_wake: Mailbox::new(),
        large: RefCell::new(large),
        stats: RefCell::new(ShardStats::default()),
        draining: Cell::new(false),
        drain_wake: Mailbox::new(),
        slow_warn: RefCell::new(crate::ops::WarnLimit::default()),
    });
    let from_seq = from_seq.connect().await;
    {
        // Tells the sequencer this shard's outstanding count, a step at
        // a time (the sum is the server-wide load).
        let shard = shard.clone();
        glommio::spawn_local(async move {
            loop {
                shard.report_wake.ready().await;
                while shard.report_wake.pop().is_some() {}
                loop {
                    let now = shard.outstanding.get();
                    if !shard.reporter.borrow_mut().due(now) {
                        break;
                    }
                    let msg = ToSeq::Load {
                        shard: shard.id,
                        outstanding: now,
                    };
                    if shard.to_seq.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        })
        .detach();
    }
    let batches = {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            while let Some(batch) = from_seq.recv().await {
                for msg in shard.apply_batch(batch) {
                    // Sent from its own task so the batch loop never waits
                    // on the sequencer (which may be waiting on us).
                    let shard = shard.clone();
                    glommio::spawn_local(async move {
                        let _ = shard.to_seq.send(msg).await;
                    })
                    .detach();
                }
            }
        })
    };
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
    if shard.settings.client_tls.as_ref().is_some_and(|t| t.reload) {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(CERT_RELOAD_CHECK).await;
                if let Some(t) = &shard.tls {
                    t.borrow_mut().check();
                }
            }
        })
        .detach();
    }
    let plain_kind = if shard
        .settings
        .client_tls
        .as_ref()
        .is_some_and(|t| t.unified)
    {
        Kind::Unified
    } else {
        Kind::Plain
    };
    loop {
        let plain = async { (listener.accept().await, plain_kind) };
        let next = async {
            match &secure_listener {
                Some(sl) => {
                    futures_lite::future::or(plain, async { (sl.accept().await, Kind::Tls) }).await
                }
                None => plain.await,
            }
        };
        let accepted = futures_lite::future::or(async { Some(next.await) }, async {
            shard.drain_wake.ready().await;
            None
        })
        .await;
        let Some((accepted, kind)) = accepted else {
            break;
        };
        match accepted {
            Ok(stream) => {
                let shard = shard.clone();
                glommio::spawn_local(async move {
                    let peer = match stream.peer_addr() {
                        Ok(p) => p,
                        Err(_) => return,
                    };
                    let _ = stream.set_nodelay(true);
                    if shard.settings.client_tcp_keep_alive {
                        if let Err(e) = shards::listen::set_keepalive(&stream, true) {
                            tracing::debug!(error = %e, "cannot set SO_KEEPALIVE (clientTcpKeepAlive)");
                        }
                    }
                    Conn::serve(shard, stream, peer, kind).await;
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!(shard = id, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // Shutdown: no new connections; each open one closes once all it sent
    // is answered (see `Conn::pump`). One that has not after half the
    // shutdown timeout (its client does not read, say) is closed then: the
    // writes it sent are still made durable, its client sees a connection
    // loss, as with any server that goes away.
    drop(listener);
    drop(secure_listener);
    let t0 = Instant::now();
    let deadline = shard.settings.ops.shutdown_timeout / 2;
    let mut told = 0;
    let mut killed = false;
    while !shard.conns.borrow().is_empty() {
        let n = shard.conns.borrow().len();
        if told == 0 || t0.elapsed() > Duration::from_secs(told) {
            tracing::info!(
                shard = id,
                connections = n,
                "waiting for connections to drain"
            );
            told += 1;
        }
        if !killed && t0.elapsed() >= deadline {
            killed = true;
            tracing::warn!(
                shard = id,
                connections = n,
                "closing connections that did not drain in {} ms",
                deadline.as_millis()
            );
            for c in shard.conns.borrow().values() {
                c.kill.push(());
            }
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    tracing::debug!(shard = id, ms = t0.elapsed().as_millis() as u64, "drained");
    if shard
        .to_seq
        .send(ToSeq::Drained { shard: id })
        .await
        .is_ok()
    {
        // Until the sequencer is done (and drops its channel).
        batches.await;
    }
}

/// One TLS handshake in progress on a shard (counted until dropped, a
/// cancelled handshake included).
struct HandshakeSlot<'a>(&'a Cell<usize>);

impl Drop for HandshakeSlot<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl Shard {
    /// A new connection's stream: plain, or TLS once its handshake is done
    /// (within `ssl.handshakeDetectionTimeoutMillis`, and while fewer than
    /// this shard's share of `netty.server.outstandingHandshake.limit` are
    /// in progress).
    async fn open(&self, mut tcp: TcpStream, kind: Kind) -> std::io::Result<Stream> {
        let (Some(tls), Some(ct)) = (&self.tls, &self.settings.client_tls) else {
            return Ok(Stream::plain(tcp));
        };
        if kind == Kind::Plain {
            return Ok(Stream::plain(tcp));
        }
        if let Some(limit) = ct.handshake_limit {
            let share = (limit / self.settings.core_map.shards.len().max(1)).max(1);
            if self.handshakes.get() >= share {
                let _ = tcp.close().await;
                return Err(std::io::Error::other(
                    "too many TLS handshakes in progress (netty.server.outstandingHandshake.limit)",
                ));
            }
        }
        self.handshakes.set(self.handshakes.get() + 1);
        let _slot = HandshakeSlot(&self.handshakes);
        let config = tls.borrow().current().clone();
        let timeout = ct.settings.handshake_timeout;
        let s = if kind == Kind::Tls {
            stream::accept(tcp, &config, &[], timeout).await?
        } else {
            stream::unified(tcp, &config, timeout).await?
        };
        // X509AuthenticationProvider checks a client's certificate against
        // its trust store: with none, a certificate authenticates no one.
        if s.peer_certificate().is_some() && ct.settings.trust_store.is_none() {
            s.close().await;
            return Err(std::io::Error::other(format!(
                "a client certificate, but no {} to authenticate it with",
                ct.settings.key("trustStore.location")
            )));
        }
        Ok(s)
    }

    /// Over `globalOutstandingLimit` (ZooKeeper's `shouldThrottle`:
    /// `limit < inProcess`): the whole server as the sequencer last
    /// summed it, or this shard alone.
    fn throttled(&self) -> bool {
        self.level.get().stop_reading
            || self.outstanding.get() > self.settings.global_outstanding_limit
    }

    /// At the RequestThrottler's limit: the whole server, or this shard
    /// alone.
    fn stalled(&self) -> bool {
        let max = self.settings.request_throttle.max_requests;
        max > 0 && (self.level.get().stall || self.outstanding.get() >= max)
    }

    fn wake_throttled(&self) {
        for w in self.throttled_wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }

    fn add_outstanding(&self, delta: isize) {
        let (was, was_stalled) = (self.throttled(), self.stalled());
        let n = (self.outstanding.get() as isize + delta).max(0) as usize;
        self.outstanding.set(n);
        if (was && !self.throttled()) || (was_stalled && !self.stalled()) {
            self.wake_throttled();
        }
        if self.reporter.borrow().would_report(n) {
            self.report_wake.push(());
        }
    }

    /// The sequencer's new [`Level`].
    fn set_level(&self, level: Level) {
        let was = self.level.replace(level);
        if (was.stop_reading && !level.stop_reading) || (was.stall && !level.stall) {
            self.wake_throttled();
        }
    }

    /// Waits until the shard is under its outstanding limit.
    async fn unthrottled(&self) {
        self.eased(Shard::throttled).await
    }

    /// Waits until `busy` no longer holds (woken when a throttle eases).
    async fn eased(&self, busy: fn(&Shard) -> bool) {
        std::future::poll_fn(|cx| {
            if busy(self) {
                self.throttled_wakers.borrow_mut().push(cx.waker().clone());
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await
    }

    /// Applies a batch; returns the answers it owes the sequencer.
    fn apply_batch(&self, batch: Batch) -> Vec<ToSeq> {
        let mut answers = Vec::new();
        let batch_version = batch.version.clone();
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
                    let max = self.settings.ops.max_queued_events;
                    for c in targets {
                        let Some(h) = conns.get(&c) else { continue };
                        // A client that does not read while its watches
                        // fire would queue events without end: past the
                        // bound it is disconnected (its session lives on;
                        // a reconnect's setWatches tells what it missed).
                        if h.out.len() >= max {
                            if h.kill.is_empty() {
                                tracing::warn!(
                                    peer = %h.info.borrow().peer,
                                    max,
                                    "watch events past corral.maxQueuedEvents for a client that does not read: closing the connection"
                                );
                                h.kill.push(());
                            }
                            continue;
                        }
                        h.out.push(Out::Event {
                            kind: ev.kind,
                            path: ev.path.clone(),
                            acl: ev.acl.clone(),
                        });
                    }
                }
                Item::Reply {
                    conn,
                    frame,
                    version,
                } => {
                    // Reads queued behind this reply see this batch's version
                    // (or the reply's own), even if later batches arrive
                    // before the connection gets to them.
                    let v = version.unwrap_or_else(|| batch_version.clone());
                    push(conn, Out::Reply(frame, Some(v)))
                }
                Item::Connected {
                    conn,
                    session,
                    timeout,
                    passwd,
                    ok,
                    read_only,
                } => push(
                    conn,
                    Out::Connected {
                        session,
                        timeout,
                        passwd,
                        ok,
                        read_only,
                    },
                ),
                Item::Close { conn } => push(conn, Out::Close),
                Item::Admitted { conn } => push(conn, Out::Admitted),
                Item::Gather { ticket, cmd } => answers.push(ToSeq::Gathered {
                    ticket,
                    view: Box::new(self.view(cmd)),
                }),
                Item::FourLw { conn, text } => push(conn, Out::FourLw(text)),
                Item::Load(level) => self.set_level(level),
                Item::Drain => {
                    self.draining.set(true);
                    self.drain_wake.push(());
                    for c in conns.values() {
                        c.out.push(Out::Drain);
                    }
                }
            }
        }
        answers
    }

    /// This shard's part of a gathered four-letter word, after the reset
    /// `crst`/`srst` ask for.
    fn view(&self, cmd: Cmd) -> ShardView {
        let conns = self.conns.borrow();
        match cmd {
            Cmd::Crst => conns.values().for_each(|c| c.info.borrow_mut().reset()),
            Cmd::Srst => self.stats.borrow_mut().reset(),
            _ => {}
        }
        let watches = self.watches.borrow();
        let mut v = ShardView {
            shard: self.id,
            stats: self.stats.borrow().clone(),
            conn_count: conns.len(),
            outstanding: conns.values().map(|c| c.info.borrow().outstanding).sum(),
            watch_count: watches.count() as u64,
            connection_rejected: self.rejected.get(),
            connection_drop_millionths: (self.throttle.borrow().drop_chance() * 1e6) as u64,
            ..ShardView::default()
        };
        if cmd.wants_conns() {
            v.conns = conns.values().map(|c| c.info.borrow().clone()).collect();
        }
        if cmd.wants_watches() {
            v.data_watches = watches
                .data_by_conn()
                .into_iter()
                .map(|(c, paths)| {
                    let session = conns.get(&c).map_or(0, |h| h.info.borrow().session);
                    (session, paths)
                })
                .collect();
        }
        v
    }
}

enum State {
    Handshake,
    Connecting {
        read_only: Option<bool>,
        at: Instant,
    },
    Active,
    /// A four-letter word went to the sequencer; reading stops (as in
    /// ZooKeeper, so a half-closed `nc` still gets its answer).
    FourLw,
}

enum Pending {
    Write {
        xid: i32,
        op: i32,
        at: Instant,
        /// The request body (shared with the frame), decoded again only
        /// to name its path in a slow-request warning.
        body: Bytes,
        /// Its bytes counted against the large-request budget (0: small).
        large: u64,
    },
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
    /// No session, and nothing read for the sessionless timeout.
    Expired,
}

struct Conn {
    /// This connection's share of the shard's outstanding count.
    counted_pending: usize,
    /// The version the reads queued behind the last reply must see.
    read_version: Option<Arc<Tree>>,
    shard: Rc<Shard>,
    id: ConnId,
    handle: Rc<ConnHandle>,
    peer: SocketAddr,
    state: State,
    session: i64,
    auth: Vec<Id>,
    /// Whether the sequencer has `auth` as it is now.
    auth_sent: bool,
    /// The SASL exchange, from the connection's first SASL packet.
    sasl: Option<crate::security::sasl::Session>,
    pending: VecDeque<Pending>,
    wbuf: BytesMut,
    closing: bool,
    /// Counted for its IP by the sequencer ([`Out::Admitted`]). Until
    /// then, a frame longer than the buffer at rest is not read (so a
    /// connection refused at accept costs no more than that).
    admitted: bool,
    /// When the last socket read completed: the arrival time of the
    /// requests it brought (one clock read a read, not one a request).
    read_at: Instant,
    /// The answer time of this round of `pump`, read once on first use.
    answered_at: Cell<Option<Instant>>,
    /// Since when the whole frames read have been held by the
    /// RequestThrottler (`None`: none held).
    held_since: Option<Instant>,
    /// This round of `pump` may still pass one request through the
    /// RequestThrottler while the connection has nothing outstanding.
    free_pass: bool,
}

impl Conn {
    async fn serve(shard: Rc<Shard>, tcp: TcpStream, peer: SocketAddr, kind: Kind) {
        let id = shard.next_conn.get();
        shard.next_conn.set(id + 1);
        let handle = Rc::new(ConnHandle {
            out: Mailbox::new(),
            info: RefCell::new(ConnInfo::new(id, peer, super::now_ms())),
            kill: Mailbox::new(),
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
            auth_sent: false,
            sasl: None,
            pending: VecDeque::new(),
            wbuf: BytesMut::new(),
            closing: false,
            admitted: false,
            read_version: None,
            counted_pending: 0,
            read_at: Instant::now(),
            answered_at: Cell::new(None),
            held_since: None,
            free_pass: false,
        };
        // Counted for its IP across every shard (`maxClientCnxns`); past
        // the limit the sequencer closes it at once.
        let accept = ToSeq::Accept {
            from: c.me(),
            ip: peer.ip(),
        };
        if shard.to_seq.send(accept).await.is_err() {
            c.closing = true;
        }
        let mut fb = FrameBuf::new(shard.settings.jute_max_buffer);
        let kill = c.handle.clone();
        async fn killed<T>(h: &ConnHandle) -> std::io::Result<T> {
            h.kill.ready().await;
            Err(std::io::Error::other("closed by the shutdown"))
        }
        let opened = futures_lite::future::or(shard.open(tcp, kind), killed(&kill)).await;
        let mut stream = None;
        let result = match opened {
            Ok(s) => {
                c.add_x509_ids(&s);
                let s = stream.insert(s);
                futures_lite::future::or(c.pump(s, &mut fb), killed(&kill)).await
            }
            Err(e) => {
                tracing::info!(peer = %peer, error = %e, "TLS connection refused");
                Err(e)
            }
        };
        // Its large requests in flight are done with.
        let large: u64 = c
            .pending
            .iter()
            .map(|p| match p {
                Pending::Write { large, .. } => *large,
                Pending::Read { .. } => 0,
            })
            .sum();
        shard.large.borrow_mut().release(large);
        c.pending.clear();
        c.sync_outstanding();
        if let Err(e) = result {
            tracing::debug!(peer = %peer, error = %e, "connection closed");
        }
        if let Some(s) = stream {
            s.close().await;
        }
        shard.conns.borrow_mut().remove(&id);
        shard.watches.borrow_mut().drop_conn(id);
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

    /// The `x509` id of a TLS client's certificate (and `super` for the
    /// configured super user), as `X509AuthenticationProvider` adds them.
    fn add_x509_ids(&mut self, s: &Stream) {
        let Some(dn) = s
            .peer_certificate()
            .and_then(|c| crate::security::x509::subject_rfc2253(c))
        else {
            return;
        };
        let is_super = self.shard.settings.policy.x509_super_user.as_deref() == Some(dn.as_str());
        self.auth.push(Id {
            scheme: "x509".into(),
            id: dn.clone(),
        });
        if is_super {
            self.auth.push(Id {
                scheme: "super".into(),
                id: dn,
            });
        }
    }

    async fn pump(&mut self, stream: &mut Stream, fb: &mut FrameBuf) -> std::io::Result<()> {
        loop {
            self.answered_at.set(None);
            self.free_pass = true;
            // 0. Reads queued behind a write whose reply came in an earlier
            // round that stopped at the bound on queued reply bytes.
            self.serve_queued_reads();
            // 1. What the shard queued for us, in order, up to a close:
            // nothing queued behind a close may reach the client (after a
            // failed log write, a later write's reply would leave a hole
            // where the dropped writes' replies were).
            while !self.closing && !self.queue_full() {
                let Some(o) = self.handle.out.pop() else {
                    break;
                };
                self.on_out(o);
            }
            // 2. Whole frames already read (none while the answers queued
            // for this connection are at their bound: they are sent first,
            // and the client must read them before more is read from it).
            // (The RequestThrottler may hold them in the buffer.)
            if !self.closing && !self.queue_full() {
                self.process_frames(fb).await?;
                if !fb.has_frame() {
                    self.held_since = None;
                }
            }
            // Shutdown: once everything this connection sent is answered,
            // it closes (the session lives on, as across any reconnect).
            if self.shard.draining.get()
                && self.pending.is_empty()
                && !matches!(self.state, State::Connecting { .. } | State::FourLw)
            {
                self.closing = true;
            }
            // 3. Send. The buffer holds at most the bound plus one reply
            // (itself at most jute.maxbuffer); a much larger one, left by
            // a burst, is given back once sent.
            if !self.wbuf.is_empty() {
                stream.write_all(&self.wbuf).await?;
                self.wbuf.clear();
                if self.wbuf.capacity() > WBUF_KEEP {
                    self.wbuf = BytesMut::new();
                }
            }
            fb.release();
            if self.closing {
                return Ok(());
            }
            // Work left over from a round that stopped at the bound: do it
            // before waiting for anything.
            let holding = self.holding(fb);
            if self.queue_left(fb) && !holding {
                continue;
            }
            // 4. Wait for input or output. Past the shard's share of
            // globalOutstandingLimit, stop reading (as ZooKeeper throttles
            // every connection) until replies bring the count down.
            self.sync_outstanding();
            let can_read = !self.shard.throttled()
                && !holding
                && !self.shard.draining.get()
                && !matches!(self.state, State::Connecting { .. } | State::FourLw)
                && (self.admitted || fb.fits_at_rest());
            // (No room is made for a frame that is not to be read yet.)
            let spare = fb.spare(if can_read { 4096 } else { 0 });
            let out = &self.handle.out;
            // A connection without a session lives until it has read
            // nothing for `zookeeper.nio.sessionlessCnxnTimeout` (as
            // ZooKeeper's connection expiry queue, touched on each read).
            let expiry = async {
                match self.state {
                    State::Active => std::future::pending::<()>().await,
                    _ => {
                        let limit =
                            Duration::from_millis(self.shard.settings.sessionless_timeout_ms);
                        let left = limit.saturating_sub(self.read_at.elapsed());
                        glommio::timer::sleep(left).await;
                    }
                }
                Wake::Expired
            };
            let wake = if can_read {
                futures_lite::future::or(
                    futures_lite::future::or(
                        async {
                            out.ready().await;
                            Wake::Out
                        },
                        async { Wake::Read(stream.read(spare).await) },
                    ),
                    expiry,
                )
                .await
            } else if holding {
                // The RequestThrottler's stall: until the load eases, or
                // the stall time is up (then the gate looks again).
                let shard = &self.shard;
                let stall = Duration::from_millis(shard.settings.request_throttle.stall_ms);
                shard
                    .stats
                    .borrow_mut()
                    .throttle
                    .request_throttle_wait_count += 1;
                futures_lite::future::or(
                    async {
                        futures_lite::future::or(
                            out.ready(),
                            futures_lite::future::or(
                                shard.eased(Shard::stalled),
                                glommio::timer::sleep(stall),
                            ),
                        )
                        .await;
                        Wake::Out
                    },
                    expiry,
                )
                .await
            } else if self.shard.throttled() {
                let shard = &self.shard;
                futures_lite::future::or(
                    async {
                        futures_lite::future::or(out.ready(), shard.unthrottled()).await;
                        Wake::Out
                    },
                    expiry,
                )
                .await
            } else {
                futures_lite::future::or(
                    async {
                        out.ready().await;
                        Wake::Out
                    },
                    expiry,
                )
                .await
            };
            match wake {
                Wake::Out => {}
                Wake::Expired => {
                    tracing::info!(
                        peer = %self.peer,
                        ms = self.shard.settings.sessionless_timeout_ms,
                        "closing a connection without a session: nothing read for zookeeper.nio.sessionlessCnxnTimeout"
                    );
                    return Ok(());
                }
                Wake::Read(Ok(0)) => return Ok(()),
                Wake::Read(Ok(n)) => {
                    fb.filled(n);
                    self.read_at = Instant::now();
                    self.handle.info.borrow_mut().last_active_ms = super::now_ms();
                }
                Wake::Read(Err(e)) => return Err(e),
            }
        }
    }

    /// The RequestThrottler's gate for the whole frames this connection
    /// has read (ZooKeeper's throttler loop, [`crate::replica::throttle`]).
    /// Only a session's requests wait; none do in a shutdown (they are
    /// served while it drains).
    fn gate(&mut self, fb: &FrameBuf) -> Gate {
        let rt = self.shard.settings.request_throttle;
        if rt.max_requests == 0
            || !matches!(self.state, State::Active)
            || self.shard.draining.get()
            || !fb.has_frame()
        {
            return Gate::Go;
        }
        // The shard's count includes what this connection sent so far.
        self.sync_outstanding();
        let since = *self.held_since.get_or_insert_with(Instant::now);
        let waited = since.elapsed().as_millis() as u64;
        let timeout = u64::try_from(self.handle.info.borrow().timeout).unwrap_or(0);
        let mut gate = rt.gate(self.shard.stalled(), waited, timeout, false);
        // A connection with nothing outstanding passes one request a
        // round (as ZooKeeper's connection layer lets each connection
        // send one): a client waiting on its answers is never starved by
        // pipelining floods.
        if gate == Gate::Stall && self.free_pass && self.pending.is_empty() {
            self.free_pass = false;
            gate = Gate::Go;
        }
        match gate {
            Gate::Go if rt.is_stale(waited, timeout, false) => {
                self.shard.stats.borrow_mut().throttle.stale_requests += 1;
            }
            // ZooKeeper touches a session as it reads its requests: held
            // ones keep it alive here too.
            Gate::Stall => {
                self.shard.touched.borrow_mut().insert(self.session);
            }
            _ => {}
        }
        gate
    }

    /// Whether the RequestThrottler holds this connection's frames now.
    fn holding(&self, fb: &FrameBuf) -> bool {
        self.held_since.is_some()
            && fb.has_frame()
            && matches!(self.state, State::Active)
            && !self.shard.draining.get()
            && self.shard.stalled()
    }

    /// How long the frame being served waited in the RequestThrottler.
    fn held_ms(&self) -> u64 {
        self.held_since
            .map_or(0, |t| t.elapsed().as_millis() as u64)
    }

    /// Brings the shard's count of outstanding requests up to date with
    /// this connection's pipeline.
    fn sync_outstanding(&mut self) {
        let now = self.pending.len();
        if now != self.counted_pending {
            self.shard
                .add_outstanding(now as isize - self.counted_pending as isize);
            self.counted_pending = now;
        }
    }

    fn me(&self) -> ConnRef {
        ConnRef {
            shard: self.shard.id,
            conn: self.id,
        }
    }

    /// Counts one packet sent, for the shard and the connection.
    fn count_sent(&self) {
        self.shard.stats.borrow_mut().sent += 1;
        self.handle.info.borrow_mut().sent += 1;
    }

    /// Records an answered request in the latency and `cons` counters
    /// (ZooKeeper's `FinalRequestProcessor.updateStats`).
    fn record(&self, opcode: i32, xid: i32, zxid: i64, at: Instant) -> u64 {
        let now = match self.answered_at.get() {
            Some(t) => t,
            None => {
                let t = Instant::now();
                self.answered_at.set(Some(t));
                t
            }
        };
        let took = now.saturating_duration_since(at);
        let ms = took.as_millis() as u64;
        {
            let mut st = self.shard.stats.borrow_mut();
            st.latency.add(ms);
            let us = took.as_micros() as u64;
            if fourlw::is_write(opcode) {
                st.write_us.add(us);
                st.write_hist.add(us);
            } else {
                st.read_us.add(us);
                st.read_hist.add(us);
            }
        }
        self.handle
            .info
            .borrow_mut()
            .responded(opcode, xid, zxid, super::elapsed_ms(now), ms);
        ms
    }

    /// A request answered `ms` after it was read, past
    /// `corral.requestWarnThresholdMs`, is logged once at warn with its
    /// session, opcode and path (at most one line a second per shard; the
    /// next line counts the ones left out).
    fn warn_if_slow(&self, ms: u64, opcode: i32, path: impl FnOnce() -> Option<String>) {
        let threshold = self.shard.settings.ops.request_warn_ms;
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = super::elapsed_ms(Instant::now());
        let allowed = self.shard.slow_warn.borrow_mut().allow(now, 1000);
        if let Some(suppressed) = allowed {
            tracing::warn!(
                session = format!("0x{:x}", self.session),
                opcode = crate::ops::tools::op_name(opcode),
                path = path().as_deref().unwrap_or(""),
                ms,
                threshold_ms = threshold,
                suppressed,
                peer = %self.peer,
                "slow request: answered {ms} ms after it was read"
            );
        }
    }

    fn on_out(&mut self, o: Out) {
        match o {
            Out::Event {
                kind,
                path,
                acl: node_acl,
            } => {
                // The watch is used up either way, as in ZooKeeper; the
                // event reaches only a client that may READ the node.
                let policy = &self.shard.settings.policy;
                let readable = acl::check(policy, &node_acl, perms::READ, &self.auth).is_ok();
                if readable && matches!(self.state, State::Active) {
                    request::notification(&mut self.wbuf, kind as i32, 3, &path);
                    self.count_sent();
                }
            }
            Out::Reply(frame, version) => {
                self.read_version = version;
                // The zxid of a reply frame: after the length and the xid.
                let zxid = frame
                    .get(8..16)
                    .map(|b| i64::from_be_bytes(b.try_into().unwrap_or_default()));
                if !frame.is_empty() {
                    self.wbuf.extend_from_slice(&frame);
                    self.count_sent();
                }
                if let Some(Pending::Write { xid, .. }) = self.pending.front() {
                    // A connection's answers keep the order of its requests:
                    // the reply is for the oldest one waiting (a reply
                    // out of order would answer one request with another's
                    // result).
                    if let Some(got) = frame.get(4..8) {
                        let got = i32::from_be_bytes([got[0], got[1], got[2], got[3]]);
                        assert_eq!(got, *xid, "a reply out of order on connection {}", self.id);
                    }
                    if let Some(Pending::Write {
                        xid,
                        op,
                        at,
                        body,
                        large,
                    }) = self.pending.pop_front()
                    {
                        self.shard.large.borrow_mut().release(large);
                        if self.shard.settings.audit {
                            if let Ok(Request::Write(w)) = request::decode(op, &body) {
                                let err = frame
                                    .get(16..20)
                                    .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                                self.audit(&w, err, frame.get(20..).unwrap_or_default());
                            }
                        }
                        let zxid = zxid.unwrap_or_else(|| self.shard.version.borrow().last_zxid);
                        let ms = self.record(op, xid, zxid, at);
                        self.warn_if_slow(ms, op, || {
                            request::decode(op, &body)
                                .ok()
                                .and_then(|r| r.path().map(str::to_string))
                        });
                    }
                }
                self.serve_queued_reads();
            }
            Out::Connected {
                session,
                timeout,
                passwd,
                ok,
                read_only: server_read_only,
            } => {
                let (read_only, at) = match self.state {
                    State::Connecting { read_only, at } => (read_only, at),
                    _ => (None, Instant::now()),
                };
                self.wbuf.extend_from_slice(&connect_frame(
                    timeout,
                    session,
                    &passwd,
                    read_only.map(|_| server_read_only),
                ));
                self.count_sent();
                if ok {
                    self.state = State::Active;
                    self.session = session;
                    {
                        let mut i = self.handle.info.borrow_mut();
                        i.session = session;
                        i.timeout = timeout;
                    }
                    let zxid = self.shard.version.borrow().last_zxid;
                    self.record(op::CREATE_SESSION, 0, zxid, at);
                } else {
                    self.closing = true;
                }
            }
            Out::Close => self.closing = true,
            Out::Admitted => self.admitted = true,
            Out::Drain => {}
            Out::FourLw(text) => {
                self.wbuf.extend_from_slice(text.as_bytes());
                self.count_sent();
                self.closing = true;
            }
        }
    }

    /// Answers the reads at the front of the pipeline (those no write
    /// precedes any more), until the queued reply bytes reach their bound;
    /// the rest wait for the next round of `pump`, after the send.
    fn serve_queued_reads(&mut self) {
        while let Some(Pending::Read { .. }) = self.pending.front() {
            if self.queue_full() {
                return;
            }
            if let Some(Pending::Read { xid, op, req, at }) = self.pending.pop_front() {
                self.answer_read(xid, op, &req, at);
            }
        }
        // Later reads, queued or not, use the shard's version again.
        self.read_version = None;
        self.handle.info.borrow_mut().outstanding = self.pending.len();
    }

    /// Whether the replies queued for this connection have reached
    /// `corral.maxQueuedReplyBytes`: no more requests are read or answered
    /// until they are sent.
    fn queue_full(&self) -> bool {
        self.wbuf.len() >= self.shard.settings.ops.max_queued_reply_bytes
    }

    /// Whether a round that stopped at the bound left work: reads at the
    /// front of the pipeline, or whole frames already read.
    fn queue_left(&self, fb: &FrameBuf) -> bool {
        matches!(self.pending.front(), Some(Pending::Read { .. }))
            || (matches!(self.state, State::Handshake | State::Active) && fb.has_frame())
    }

    async fn process_frames(&mut self, fb: &mut FrameBuf) -> std::io::Result<()> {
        if matches!(self.state, State::Handshake) {
            if let Some(cmd) = Cmd::read_word(fb.pending()) {
                self.four_letter(cmd, fb).await;
                return Ok(());
            }
        }
        loop {
            if matches!(self.state, State::Connecting { .. } | State::FourLw)
                || self.closing
                || self.queue_full()
            {
                return Ok(());
            }
            // The RequestThrottler's gate, a request at a time: hold the
            // rest in the buffer, or drop them as stale with the connection.
            if matches!(self.state, State::Active) && fb.has_frame() {
                match self.gate(fb) {
                    Gate::Go => {}
                    Gate::Stall => return Ok(()),
                    Gate::DropStale => {
                        self.shard
                            .stats
                            .borrow_mut()
                            .throttle
                            .stale_requests_dropped += fb.frame_count() as u64;
                        tracing::info!(
                            peer = %self.peer,
                            "closing connection: its requests went stale while the request throttle held them"
                        );
                        self.closing = true;
                        return Ok(());
                    }
                }
            }
            let frame = match fb.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::info!(peer = %self.peer, error = %e, "closing connection: bad frame");
                    self.closing = true;
                    return Ok(());
                }
            };
            self.count_received();
            // `checkRequestSizeWhenMessageReceived`: a large request that
            // does not fit the budget closes the connection.
            let large = match self.shard.large.borrow_mut().admit(frame.len() as u64) {
                Ok(n) => n,
                Err(e) => {
                    self.shard
                        .stats
                        .borrow_mut()
                        .throttle
                        .large_requests_rejected += 1;
                    tracing::info!(peer = %self.peer, error = %e, "closing connection: zookeeper.largeRequestMaxBytes");
                    self.closing = true;
                    return Ok(());
                }
            };
            let mut large = large;
            match self.state {
                State::Handshake => self.handshake(frame).await,
                State::Active => self.request(frame, &mut large).await,
                State::Connecting { .. } | State::FourLw => {}
            }
            // A request not waiting for the sequencer is done with.
            self.shard.large.borrow_mut().release(large);
        }
    }

    /// A four-letter word opened the connection: answer it here, or ask
    /// the sequencer (and through it every shard) and stop reading until
    /// the answer comes back as [`Out::FourLw`].
    async fn four_letter(&mut self, cmd: Cmd, fb: &FrameBuf) {
        let settings = &self.shard.settings;
        if fourlw::allowed(cmd, &settings.four_lw_whitelist) {
            // `stmk` carries its mask in the next 8 bytes; wait for them.
            let cmd = match cmd {
                Cmd::Stmk(_) => match Cmd::stmk_mask(fb.pending()) {
                    Some(mask) => Cmd::Stmk(mask),
                    None => return,
                },
                c => c,
            };
            tracing::info!(peer = %self.peer, shard = self.shard.id, "processing {} command", cmd.name());
            self.count_received();
            match cmd.scope() {
                Scope::Local if cmd.needs_serving() && !self.shard.role.clients_served() => {
                    self.on_out(Out::FourLw(fourlw::not_serving(cmd)));
                }
                Scope::Local => {
                    let data = Path::new(&settings.data_dir).join("version-2");
                    let log = Path::new(&settings.data_log_dir).join("version-2");
                    let env = if cmd == Cmd::Envi {
                        facts::env()
                    } else {
                        fourlw::EnvFacts::default()
                    };
                    let (data_dir_size, log_dir_size) = if matches!(cmd, Cmd::Conf | Cmd::Dirs) {
                        (facts::dir_size(&data), facts::dir_size(&log))
                    } else {
                        (0, 0)
                    };
                    let text = fourlw::local(
                        cmd,
                        &fourlw::LocalFacts {
                            conf_lines: &settings.conf_lines,
                            data_dir_size,
                            log_dir_size,
                            env: &env,
                            read_only: self.shard.role.get()
                                == crate::replica::sequencer::Role::ReadOnly,
                            membership: (cmd == Cmd::Conf)
                                .then(|| membership(&self.shard.version.borrow(), settings))
                                .flatten(),
                        },
                    );
                    self.on_out(Out::FourLw(text));
                }
                Scope::Sequencer | Scope::Shards => {
                    self.handle.info.borrow_mut().probe = true;
                    self.state = State::FourLw;
                    let os = if cmd == Cmd::Mntr {
                        facts::os()
                    } else {
                        fourlw::OsFacts::default()
                    };
                    let msg = ToSeq::Gather {
                        from: crate::replica::msg::Asker::Conn(self.me()),
                        cmd,
                        os,
                    };
                    if self.shard.to_seq.send(msg).await.is_err() {
                        self.closing = true;
                    }
                }
            }
        } else {
            tracing::debug!(peer = %self.peer, "{} is not executed because it is not in the whitelist", cmd.name());
            self.count_received();
            self.on_out(Out::FourLw(fourlw::refused(cmd)));
        }
    }

    /// Counts one packet received, for the shard and the connection.
    fn count_received(&self) {
        self.shard.stats.borrow_mut().received += 1;
        self.handle.info.borrow_mut().received += 1;
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
        // ZooKeeper's connection throttle (`processConnectRequest`): a
        // refused connect gets no answer, its connection is closed.
        let s = &self.shard.settings;
        let need = s.connection_throttle.need(req.session_id, s.local_sessions);
        let now = super::elapsed_ms(Instant::now());
        if !self.shard.throttle.borrow_mut().check(need, now) {
            self.shard.rejected.set(self.shard.rejected.get() + 1);
            tracing::debug!(
                peer = %self.peer,
                session = format!("0x{:x}", req.session_id),
                "connection throttled: closing it"
            );
            self.closing = true;
            return;
        }
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
        self.state = State::Connecting {
            read_only,
            at: Instant::now(),
        };
        let msg = ToSeq::Connect {
            from: self.me(),
            session: req.session_id,
            passwd: req.passwd,
            timeout: req.time_out,
            read_only: read_only == Some(true),
        };
        if self.shard.to_seq.send(msg).await.is_err() {
            self.closing = true;
        }
    }

    async fn request(&mut self, frame: &[u8], large: &mut u64) {
        let at = self.read_at;
        let mut r = Reader::new(frame);
        let Ok(hdr) = jute::RequestHeader::read(&mut r) else {
            self.closing = true;
            return;
        };
        // `shouldThrottleOp`: held past `zookeeper.throttled_op_wait_time`,
        // it is answered ZTHROTTLEDOP in its turn, not served (auth and
        // SASL packets never pass ZooKeeper's throttler).
        if hdr.op != op::AUTH
            && hdr.op != op::SASL
            && self
                .shard
                .settings
                .request_throttle
                .throttled_op(hdr.op, self.held_ms())
        {
            self.shard.stats.borrow_mut().throttle.throttled_ops += 1;
            self.answer_in_turn(hdr.xid, hdr.op, Request::Refused(Code::Throttled), at);
            return;
        }
        self.shard.touched.borrow_mut().insert(self.session);
        if hdr.op != op::AUTH && hdr.op != op::SASL && !self.authenticated_enough() {
            // AuthenticationHelper.enforceAuthentication: pings included.
            tracing::warn!(
                peer = %self.peer,
                required = ?self.shard.settings.sasl.enforce_schemes,
                "client holds no id of a required authentication scheme: closing the session"
            );
            let code = Code::SessionClosedRequireSaslAuth.as_i32();
            self.reply(hdr.xid, 0, code, None);
            self.closing = true;
            return;
        }
        let body = &frame[frame.len() - r.remaining()..];
        // Requests that go to the sequencer keep their bytes (a follower
        // forwards them; a slow-request warning names their path); reads
        // are answered from the frame in place.
        let body_bytes = || Bytes::copy_from_slice(body);
        let req = match request::decode(hdr.op, body) {
            Ok(req) => req,
            // A bad auth or SASL packet closes the connection, as in
            // ZooKeeper.
            Err(_) if hdr.op == op::AUTH || hdr.op == op::SASL => {
                self.closing = true;
                return;
            }
            Err(e) => Request::Undecodable {
                end_marker: e == request::MULTI_FAILED,
            },
        };
        match req {
            // ZooKeeper answers auth with the request's own xid (Java
            // clients send -4; others, such as the Rust client, do not).
            Request::Auth(a) => {
                match crate::data::acl::authenticate(
                    &self.shard.settings.policy,
                    &a.scheme,
                    &a.auth,
                ) {
                    Ok(ids) => {
                        if self.add_auth_ids(hdr.xid, ids) {
                            self.reply(hdr.xid, 0, 0, None);
                        }
                    }
                    Err(code) => {
                        self.reply(hdr.xid, 0, code.as_i32(), None);
                        self.closing = true;
                    }
                }
            }
            Request::Sasl(token) => self.sasl_step(hdr.xid, &token),
            Request::Write(w) => {
                if self.shard.settings.eager_acl_check {
                    let version = self.shard.version.borrow().clone();
                    let policy = &self.shard.settings.policy;
                    if let Err(code) =
                        crate::data::prep::eager_acl_check(policy, &version, &self.auth, &w)
                    {
                        // Not audited: ZooKeeper answers these before its
                        // audit (`authWriteRequest`).
                        // In its turn: a reply ahead of an earlier write
                        // on this connection would break the client's xid
                        // order (ZooKeeper's client drops the connection).
                        self.answer_in_turn(hdr.xid, hdr.op, Request::Refused(code), at);
                        return;
                    }
                }
                // Reads wait in `pending` only behind a write.
                let reads_before = matches!(self.pending.back(), Some(Pending::Read { .. }));
                let body = body_bytes();
                self.pending.push_back(Pending::Write {
                    xid: hdr.xid,
                    op: hdr.op,
                    at,
                    body: body.clone(),
                    large: std::mem::take(large),
                });
                let msg = ToSeq::Write {
                    from: self.me(),
                    session: self.session,
                    xid: hdr.xid,
                    op: w,
                    body,
                    auth: (!self.auth_sent).then(|| self.auth.clone()),
                    reads_before,
                };
                self.auth_sent = true;
                if self.shard.to_seq.send(msg).await.is_err() {
                    self.closing = true;
                }
            }
            Request::Sync(path) => {
                self.pending.push_back(Pending::Write {
                    xid: hdr.xid,
                    op: hdr.op,
                    at,
                    body: body_bytes(),
                    large: std::mem::take(large),
                });
                let msg = ToSeq::Sync {
                    from: self.me(),
                    xid: hdr.xid,
                    path,
                };
                if self.shard.to_seq.send(msg).await.is_err() {
                    self.closing = true;
                }
            }
            Request::CloseSession => {
                self.pending.push_back(Pending::Write {
                    xid: hdr.xid,
                    op: hdr.op,
                    at,
                    body: body_bytes(),
                    large: std::mem::take(large),
                });
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
                self.reply(hdr.xid, -1, Code::Unimplemented.as_i32(), None);
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

    /// The audit lines of a write answered with `err` and reply `body`
    /// (`audit.enable`), formatted here, on the connection's shard.
    fn audit(&self, w: &crate::data::prep::WriteOp, err: i32, body: &[u8]) {
        let ip = self.peer.ip().to_string();
        let who = audit::Who {
            session: self.session,
            auth: &self.auth,
            ip: &ip,
        };
        for e in audit::write_events(who, w, err, body) {
            audit::emit(&e);
        }
    }

    fn reply(&mut self, xid: i32, zxid: i64, err: i32, body: Option<&[u8]>) {
        request::frame(&mut self.wbuf, xid, zxid, err, body);
        self.count_sent();
    }

    /// Answers a refused request in its turn: at once, or behind the
    /// writes this connection still waits for (a reply ahead of an
    /// earlier write would break the client's xid order).
    fn answer_in_turn(&mut self, xid: i32, op: i32, req: Request, at: Instant) {
        if self.pending.is_empty() {
            self.answer_read(xid, op, &req, at);
        } else {
            self.pending.push_back(Pending::Read { xid, op, req, at });
            self.handle.info.borrow_mut().outstanding = self.pending.len();
        }
    }

    fn answer_read(&mut self, xid: i32, opcode: i32, req: &Request, at: Instant) {
        let version = match &self.read_version {
            Some(v) => v.clone(),
            None => self.shard.version.borrow().clone(),
        };
        let zxid = version.last_zxid;
        match req {
            Request::Ping => self.reply(jute::xid::PING, zxid, 0, None),
            Request::SetWatches(w) => {
                self.set_watches(&version, w);
                self.reply(xid, zxid, 0, None);
            }
            Request::Refused(code) => self.reply(xid, 0, code.as_i32(), None),
            Request::Undecodable { end_marker } => {
                let end = end_marker.then(|| {
                    jute::MultiHeader {
                        op: -1,
                        done: true,
                        err: -1,
                    }
                    .encode()
                });
                let code = Code::MarshallingError.as_i32();
                self.reply(xid, zxid, code, end.as_deref());
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
                        max_reply: request::max_reply(self.shard.settings.jute_max_buffer),
                    };
                    request::serve_read(&mut ctx, req)
                };
                match result {
                    Ok(body) => self.reply(xid, zxid, 0, body.as_deref()),
                    Err(code) => self.reply(xid, zxid, code.as_i32(), None),
                }
            }
        }
        let ms = self.record(opcode, xid, zxid, at);
        self.warn_if_slow(ms, opcode, || req.path().map(str::to_string));
    }

    /// Whether the connection may send requests other than auth and SASL:
    /// it holds an id of an enforced scheme, or nothing is enforced.
    fn authenticated_enough(&self) -> bool {
        let schemes = &self.shard.settings.sasl.enforce_schemes;
        schemes.is_empty() || self.auth.iter().any(|id| schemes.contains(&id.scheme))
    }

    /// Adds auth ids, up to `corral.maxAuthIdsPerConnection`; false (and
    /// the connection is closing, answered AuthFailed) past it.
    fn add_auth_ids(&mut self, xid: i32, ids: Vec<Id>) -> bool {
        let max = self.shard.settings.ops.max_auth_ids;
        for id in ids {
            if !self.auth.contains(&id) && self.auth.len() >= max {
                tracing::warn!(
                    peer = %self.peer,
                    max,
                    "auth ids past corral.maxAuthIdsPerConnection: closing the connection"
                );
                self.reply(xid, 0, Code::AuthFailed.as_i32(), None);
                self.closing = true;
                return false;
            }
            crate::data::acl::add_auth_id(&mut self.auth, id);
        }
        self.auth_sent = false;
        true
    }

    /// One SASL packet (`ZooKeeperServer.processSasl`): answered at once,
    /// outside the request pipeline, with zxid 0, as ZooKeeper answers it.
    fn sasl_step(&mut self, xid: i32, token: &[u8]) {
        use crate::security::sasl::Outcome;
        let settings = &self.shard.settings.sasl;
        let null_token = (-1i32).to_be_bytes();
        let Some(server) = &settings.server else {
            // ZooKeeper without a SASL server answers OK and a null token.
            self.reply(xid, 0, 0, Some(&null_token));
            return;
        };
        if self.sasl.is_none() {
            let Some(nonce) = crate::security::sasl::nonce() else {
                tracing::error!(peer = %self.peer, "no random bytes for a SASL nonce: closing the connection");
                self.reply(xid, 0, Code::AuthFailed.as_i32(), Some(&null_token));
                self.closing = true;
                return;
            };
            self.sasl = Some(server.session(nonce));
        }
        let Some(session) = self.sasl.as_mut() else {
            return;
        };
        let framed = |t: &[u8]| {
            let mut b = Vec::with_capacity(4 + t.len());
            b.extend_from_slice(&(t.len() as i32).to_be_bytes());
            b.extend_from_slice(t);
            b
        };
        match session.step(server, token) {
            Ok(Outcome::Continue(t)) => self.reply(xid, 0, 0, Some(&framed(&t))),
            Ok(Outcome::Authenticated { token, id }) => {
                tracing::info!(peer = %self.peer, id = %id, "SASL authenticated");
                let mut ids = vec![Id {
                    scheme: "sasl".into(),
                    id: id.clone(),
                }];
                if settings.super_users.contains(&id) {
                    tracing::info!(peer = %self.peer, id = %id, "SASL id is a super user");
                    ids.push(Id {
                        scheme: "super".into(),
                        id: String::new(),
                    });
                }
                if self.add_auth_ids(xid, ids) {
                    let body = match &token {
                        Some(t) => framed(t),
                        None => null_token.to_vec(),
                    };
                    self.reply(xid, 0, 0, Some(&body));
                }
            }
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "client failed to SASL authenticate");
                if settings.allow_failed && !settings.sasl_required() {
                    // allowSaslFailedClients: kept, with a null token.
                    self.reply(xid, 0, 0, Some(&null_token));
                    return;
                }
                let code = if settings.sasl_required() {
                    Code::SessionClosedRequireSaslAuth
                } else {
                    Code::AuthFailed
                };
                self.reply(xid, 0, code.as_i32(), Some(&null_token));
                self.closing = true;
            }
        }
    }

    /// Re-registers watches after a reconnect, firing what was missed
    /// (ZooKeeper's `DataTree.setWatches`).
    fn set_watches(&mut self, t: &Tree, w: &jute::SetWatches2) {
        let rel = w.relative_zxid;
        let mut fire: Vec<(EventType, String)> = Vec::new();
        // Missed changes are told for the paths the client names, READ or
        // not, as ZooKeeper does: exists() shows the same stat without a
        // check. What a re-registered persistent watch sees later is
        // checked when it fires (`Out::Event`).
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
            self.count_sent();
        }
    }
}

/// A quorum member's active config as `conf` prints it (whether it
/// observes, and the config's text), from the `/zookeeper/config` of the
/// version this shard serves; `None` standalone.
fn membership(v: &Tree, settings: &Settings) -> Option<(bool, String)> {
    let me = settings.quorum.as_ref()?.me;
    let text = v.get(crate::data::tree::CONFIG)?.data()?;
    let m = crate::quorum::reconfig::Membership::parse(&String::from_utf8_lossy(text)).ok()?;
    Some((m.quorum().is_observer(me), m.text()))
}
