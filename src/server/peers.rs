//! The election connections: ZooKeeper's `QuorumCnxManager` on glommio.
//!
//! One TCP connection per pair of peers on the election port. A connecting
//! peer first sends its initial message (protocol version, sid, election
//! address); after that each message is a 4-byte length and the payload.
//! When both peers connect at once, only a connection initiated by the
//! larger sid survives: a smaller sid that connects sends its initial
//! message and hangs up, and the larger one, on accepting a smaller sid,
//! hangs up and connects back.
//!
//! Each peer has its own one-message send queue (`SEND_CAPACITY` 1: a newer
//! notification replaces one not yet sent), so a slow or dead peer never
//! blocks the others. A fresh connection with nothing queued re-sends the
//! last message sent to that peer, as ZooKeeper's `SendWorker` does.
//!
//! With `sslQuorum` or `portUnification` a connection is wrapped in TLS
//! (`quorum_tls`) before its initial message, both ways. With
//! `quorum.auth.enableSasl` the initiator authenticates (`quorum_auth`)
//! after its initial message, before the tie-break, as ZooKeeper's does.
//!
//! This module owns the sockets and the queues; what the messages say is
//! `election`'s business. It runs on the zab core.

use super::dial;
use super::port_slots::{Place, PortSlots};
use super::quorum_auth;
use super::quorum_tls;
use super::stream::Stream;
use crate::quorum::election::wire::{self as ewire, InitialMessage, TieBreak};
use crate::quorum::Sid;
use glommio::net::{TcpListener, TcpStream};
use shards::frame::FrameBuf;
use shards::mailbox::Mailbox;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use ewire::PACKET_MAX_SIZE;

/// An incoming initial message's sid and length, `None` while incomplete.
fn parse_initial(b: &[u8]) -> Result<Option<(Sid, usize)>, String> {
    match InitialMessage::decode(b) {
        Ok((m, used)) => Ok(Some((m.sid, used))),
        Err(e) if e.is_incomplete() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// A glommio listener on a peer port, bound as ZooKeeper binds it
/// (`SO_REUSEADDR`: a restarted server binds over TIME_WAIT sockets).
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = shards::listen::peer_listener(addr, 1024)?;
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: the fd comes from a listening socket we own and give up.
    Ok(unsafe { TcpListener::from_raw_fd(l.into_raw_fd()) })
}

/// Where the election connections listen and whom they reach.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    pub me: Sid,
    /// The election addresses to listen on (several with `multiAddress`).
    pub listen: Vec<SocketAddr>,
    /// Every other member's election addresses, as `host:port`.
    pub peers: HashMap<Sid, Vec<String>>,
    /// `multiAddress.reachabilityCheck*`: which of a peer's several
    /// addresses are dialed.
    pub reach_check: dial::ReachCheck,
    /// `cnxTimeout`: how long a connect or an initial message may take.
    pub cnx_timeout: Duration,
    /// `zookeeper.quorumCnxnTimeoutMs`, when set: the read timeout of an
    /// election connection's handshake (its initial message and SASL
    /// exchange), as ZooKeeper's `QuorumCnxManager` sets it on its sockets.
    pub quorum_cnxn_timeout: Option<Duration>,
    /// `electionPortBindRetry`: binds tried before giving up (0 = forever).
    pub bind_retry: u32,
    /// `corral.quorum.maxConnections`: connections each quorum-facing
    /// port (this one, the quorum port, the observer master port) holds at
    /// once.
    pub max_connections: usize,
    /// `zookeeper.tcpKeepAlive`: SO_KEEPALIVE on election sockets.
    pub keep_alive: bool,
    /// This server's initial message, already encoded.
    pub initial: Vec<u8>,
}

impl PeerSettings {
    /// How long an accepted election connection may take to send its
    /// initial message: `zookeeper.quorumCnxnTimeoutMs` when set, else
    /// `cnxTimeout`.
    pub fn handshake_timeout(&self) -> Duration {
        self.quorum_cnxn_timeout.unwrap_or(self.cnx_timeout)
    }
}

/// A problem starting the election connections.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    #[error("cannot listen on the election address {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The link to one peer: its send queue and its live connection, if any.
#[derive(Default)]
struct Link {
    queued: RefCell<Option<Rc<[u8]>>>,
    last: RefCell<Option<Rc<[u8]>>>,
    /// The live connection's wake-up. Each connection has its own: with
    /// one shared mailbox (one waiter), a replaced connection's pump could
    /// take the wake-up meant for the new one and leave a message unsent.
    wake: RefCell<Rc<Mailbox<()>>>,
    /// Bumped when a connection is installed; an older one stops.
    generation: Cell<u64>,
    up: Cell<bool>,
    connecting: Cell<bool>,
    /// The live connection's far end, for the reachability check.
    remote: Cell<Option<std::net::IpAddr>>,
    /// A reachability probe of the live connection is under way.
    probing: Cell<bool>,
}

struct Inner {
    s: PeerSettings,
    tls: quorum_tls::Shared,
    sasl: quorum_auth::Shared,
    links: RefCell<HashMap<Sid, Rc<Link>>>,
    /// Every other member's election addresses (from `s.peers`, replaced
    /// by a reconfig).
    addrs: RefCell<HashMap<Sid, Vec<String>>>,
    inbox: Mailbox<(Sid, Vec<u8>)>,
    /// The accepted connections, bounded (`port_slots`).
    slots: Rc<PortSlots>,
}

/// The election connections of this server.
#[derive(Clone)]
pub struct Peers(Rc<Inner>);

/// Marks a link down when its connection's future ends, or is dropped (a
/// connection displaced from the election port), and forgets the link of
/// a server id no config names.
struct LinkDown<'a> {
    peers: &'a Peers,
    sid: Sid,
    link: &'a Rc<Link>,
    generation: u64,
}

impl Drop for LinkDown<'_> {
    fn drop(&mut self) {
        if self.link.generation.get() != self.generation {
            return;
        }
        self.link.up.set(false);
        if !self.peers.known(self.sid) {
            self.peers.0.links.borrow_mut().remove(&self.sid);
        }
    }
}

impl Peers {
    /// Binds the election port (retrying as `electionPortBindRetry` says,
    /// a second apart) and starts accepting peers.
    pub(crate) async fn start(
        s: PeerSettings,
        tls: quorum_tls::Shared,
        sasl: quorum_auth::Shared,
    ) -> Result<Peers, PeersError> {
        let mut tries = 0;
        let listeners = loop {
            match s
                .listen
                .iter()
                .map(|a| bind(*a).map_err(|e| (*a, e)))
                .collect()
            {
                Ok(l) => break l,
                Err((addr, e)) => {
                    tries += 1;
                    if s.bind_retry != 0 && tries >= s.bind_retry {
                        return Err(PeersError::Bind {
                            addr,
                            source: std::io::Error::other(e.to_string()),
                        });
                    }
                    tracing::warn!(addr = %addr, error = %e, "cannot bind the election port; retrying");
                    glommio::timer::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let peers = Peers(Rc::new(Inner {
            addrs: RefCell::new(s.peers.clone()),
            slots: PortSlots::new("election", s.max_connections),
            s,
            tls,
            sasl,
            links: RefCell::new(HashMap::new()),
            inbox: Mailbox::new(),
        }));
        let listeners: Vec<TcpListener> = listeners;
        for listener in listeners {
            let p = peers.clone();
            glommio::spawn_local(async move {
                loop {
                    match listener.accept().await {
                        Ok(stream) => {
                            let Some(place) = p.0.slots.admit(stream.peer_addr().ok()) else {
                                continue;
                            };
                            let p = p.clone();
                            glommio::spawn_local(async move {
                                place.run(p.accepted(stream, &place)).await;
                            })
                            .detach();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "election port accept failed");
                            glommio::timer::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            })
            .detach();
        }
        Ok(peers)
    }

    /// This server's id.
    pub fn me(&self) -> Sid {
        self.0.s.me
    }

    /// Queues `msg` for `to` (replacing one not yet sent) and connects if
    /// there is no connection. A message to oneself loops back. A server
    /// id no config names is answered only over its own live connection:
    /// a link kept for every id a stranger claims would grow without bound.
    pub fn send(&self, to: Sid, msg: Vec<u8>) {
        if to == self.0.s.me {
            self.0.inbox.push((to, msg));
            return;
        }
        let link = if self.known(to) {
            self.link(to)
        } else {
            let live = self.0.links.borrow().get(&to).cloned();
            match live {
                Some(l) => l,
                None => {
                    tracing::debug!(
                        sid = to,
                        "no connection to a server id no config names: message dropped"
                    );
                    return;
                }
            }
        };
        *link.queued.borrow_mut() = Some(msg.into());
        link.wake.borrow().push(());
        self.connect_one(to);
        self.check_still_reachable(to, &link);
    }

    /// With the reachability check and several addresses for `sid`: probes
    /// the live connection's far end, and drops the connection if it no
    /// longer answers, so that the next dial picks an address that does
    /// (`SendWorker.asyncValidateIfSocketIsStillReachable`).
    fn check_still_reachable(&self, sid: Sid, link: &Rc<Link>) {
        let Some(timeout) = self.0.s.reach_check else {
            return;
        };
        let several = self.0.addrs.borrow().get(&sid).is_some_and(|a| a.len() > 1);
        let Some(ip) = link.remote.get() else { return };
        if !several || !link.up.get() || link.probing.replace(true) {
            return;
        }
        let (p, link) = (self.clone(), link.clone());
        let generation = link.generation.get();
        glommio::spawn_local(async move {
            let ok = dial::reachable(ip, timeout).await;
            link.probing.set(false);
            if !ok && link.generation.get() == generation && link.up.get() {
                tracing::info!(sid, ip = %ip, "the election connection's address no longer answers; dropping it");
                link.generation.set(generation + 1);
                link.up.set(false);
                link.wake.borrow().push(());
                p.connect_one(sid);
            }
        })
        .detach();
    }

    /// A reconfig's members: later connections dial these addresses.
    pub fn set_addresses(&self, addrs: HashMap<Sid, Vec<String>>) {
        *self.0.addrs.borrow_mut() = addrs;
    }

    /// Whether a connection to `sid` is up.
    pub fn is_connected(&self, sid: Sid) -> bool {
        self.0.links.borrow().get(&sid).is_some_and(|l| l.up.get())
    }

    /// The next message received, with its sender.
    pub async fn recv(&self) -> (Sid, Vec<u8>) {
        loop {
            if let Some(m) = self.0.inbox.pop() {
                return m;
            }
            self.0.inbox.ready().await;
        }
    }

    /// A message already received, if any.
    pub fn try_recv(&self) -> Option<(Sid, Vec<u8>)> {
        self.0.inbox.pop()
    }

    /// ZooKeeper's `setSockOpts`: no Nagle, and keepalive with
    /// `tcpKeepAlive`.
    fn socket_options(&self, tcp: &TcpStream) {
        let _ = tcp.set_nodelay(true);
        if self.0.s.keep_alive {
            if let Err(e) = shards::listen::set_keepalive(tcp, true) {
                tracing::debug!(error = %e, "cannot set SO_KEEPALIVE (tcpKeepAlive)");
            }
        }
    }

    /// Whether a config names `sid` (else it is a joiner, or a stranger).
    fn known(&self, sid: Sid) -> bool {
        self.0.addrs.borrow().contains_key(&sid)
    }

    fn link(&self, sid: Sid) -> Rc<Link> {
        self.0.links.borrow_mut().entry(sid).or_default().clone()
    }

    /// Starts connecting to `sid` unless connected or connecting.
    fn connect_one(&self, sid: Sid) {
        let link = self.link(sid);
        if link.up.get() || link.connecting.get() {
            return;
        }
        let Some(addr) = self.0.addrs.borrow().get(&sid).cloned() else {
            tracing::warn!(sid, "no election address for this server id");
            return;
        };
        link.connecting.set(true);
        let p = self.clone();
        glommio::spawn_local(async move {
            let r = p.connect(sid, &addr).await;
            p.link(sid).connecting.set(false);
            if let Err(e) = r {
                tracing::debug!(sid, addr = ?addr, error = %e, "cannot reach the peer's election port");
            }
        })
        .detach();
    }

    async fn connect(&self, sid: Sid, addrs: &[String]) -> std::io::Result<()> {
        let resolved = dial::resolve(addrs).await;
        if resolved.is_empty() {
            return Err(std::io::Error::other(format!(
                "{addrs:?} resolves to nothing"
            )));
        }
        let dialed = dial::candidates(resolved, self.0.s.reach_check).await;
        let (addr, tcp) = dial::in_turn(&dialed, self.0.s.cnx_timeout).await?;
        let addr = addr.as_str();
        let remote = tcp.peer_addr().ok().map(|a| a.ip());
        self.socket_options(&tcp);
        let mut stream = quorum_tls::connected(&self.0.tls, tcp, quorum_tls::host_of(addr))
            .await
            .map_err(|e| {
                tracing::warn!(sid, addr = %addr, error = %e, "TLS with the peer's election port failed");
                e
            })?;
        stream.write_all(&self.0.s.initial).await?;
        if let Err(e) =
            quorum_auth::learn(&self.0.sasl, &mut stream, quorum_tls::host_of(addr)).await
        {
            tracing::warn!(sid, addr = %addr, error = %e, "SASL with the peer's election port failed");
            stream.close().await;
            return Err(e);
        }
        if !ewire::keep_connection(self.0.s.me, sid, true) {
            // The larger sid keeps only the connections it starts: it will
            // connect back.
            tracing::debug!(
                sid,
                "smaller server id: dropping the connection, the peer connects back"
            );
            stream.close().await;
            return Ok(());
        }
        let p = self.clone();
        glommio::spawn_local(async move {
            p.serve(sid, stream, FrameBuf::new(PACKET_MAX_SIZE), remote)
                .await
        })
        .detach();
        Ok(())
    }

    /// An accepted connection, in its `place` on the election port: it is
    /// held once its initial message names a server id a config names.
    async fn accepted(&self, tcp: TcpStream, place: &Place) {
        self.socket_options(&tcp);
        let from = tcp.peer_addr().ok();
        let mut stream = match quorum_tls::accepted(&self.0.tls, tcp).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(from = ?from, error = %e, "election connection refused: TLS failed");
                return;
            }
        };
        let mut fb = FrameBuf::new(PACKET_MAX_SIZE);
        let read = async {
            loop {
                match parse_initial(fb.pending()) {
                    Ok(Some((sid, used))) => return Ok((sid, used)),
                    Ok(None) => {}
                    Err(e) => return Err(std::io::Error::other(e)),
                }
                let spare = fb.spare(512);
                let n = stream.read(spare).await?;
                if n == 0 {
                    return Err(std::io::Error::other("closed before its initial message"));
                }
                fb.filled(n);
            }
        };
        let timeout = self.0.s.handshake_timeout();
        let got = futures_lite::future::or(read, async {
            glommio::timer::sleep(timeout).await;
            Err(std::io::Error::other(format!(
                "no initial message in {} ms",
                timeout.as_millis()
            )))
        })
        .await;
        let (sid, used) = match got {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "election connection dropped");
                return;
            }
        };
        fb.consume(used);
        if self.0.sasl.is_some() {
            // The exchange reads the stream itself: hand back what came
            // after the initial message.
            stream.unread(fb.pending().to_vec());
            fb = FrameBuf::new(PACKET_MAX_SIZE);
            if let Err(e) = quorum_auth::serve(&self.0.sasl, &mut stream).await {
                tracing::warn!(sid, error = %e, "election connection refused: SASL failed");
                stream.close().await;
                return;
            }
        }
        match ewire::tie_break(self.0.s.me, sid, false) {
            // A smaller id no config names has no address to dial back:
            // closed, and no link kept for it (ZooKeeper's `connectOne`
            // logs "Invalid server id" and gives up).
            TieBreak::CloseAndConnect if !self.known(sid) => {
                tracing::debug!(
                    sid,
                    "a smaller server id no config names: dropping the connection"
                );
                stream.close().await;
            }
            TieBreak::CloseAndConnect => {
                tracing::debug!(
                    sid,
                    "larger server id: dropping the connection and connecting back"
                );
                stream.close().await;
                let link = self.link(sid);
                link.generation.set(link.generation.get() + 1);
                link.up.set(false);
                // The old connection's pump sees the new generation and stops.
                link.wake.replace(Rc::new(Mailbox::new())).push(());
                self.connect_one(sid);
            }
            TieBreak::Close => {
                tracing::warn!(
                    sid,
                    "a connection request from a server with our own id: a configuration error, or a bug"
                );
                stream.close().await;
            }
            TieBreak::Keep => {
                if self.known(sid) && !place.hold() {
                    return;
                }
                self.serve(sid, stream, fb, from.map(|a| a.ip())).await
            }
        }
    }

    /// Makes `stream` the connection to `sid`, replacing any other, and
    /// serves it until it closes (or this future is dropped).
    async fn serve(
        &self,
        sid: Sid,
        stream: Stream,
        fb: FrameBuf,
        remote: Option<std::net::IpAddr>,
    ) {
        let link = self.link(sid);
        link.remote.set(remote);
        let generation = link.generation.get() + 1;
        link.generation.set(generation);
        link.up.set(true);
        // Stop the old connection's pump (it sees the new generation), and
        // give this one its own wake-up, already set for what is queued.
        let wake = Rc::new(Mailbox::new());
        wake.push(());
        link.wake.replace(wake.clone()).push(());
        tracing::debug!(sid, "election connection up");
        let _down = LinkDown {
            peers: self,
            sid,
            link: &link,
            generation,
        };
        if let Err(e) = self.pump(sid, &link, &wake, generation, stream, fb).await {
            tracing::debug!(sid, error = %e, "election connection closed");
        }
    }

    async fn pump(
        &self,
        sid: Sid,
        link: &Link,
        wake: &Mailbox<()>,
        generation: u64,
        mut stream: Stream,
        mut fb: FrameBuf,
    ) -> std::io::Result<()> {
        // Nothing newer queued: re-send the last message (it may have been
        // lost with the old connection; duplicates are harmless).
        if link.queued.borrow().is_none() {
            let last = link.last.borrow().clone();
            *link.queued.borrow_mut() = last;
        }
        let mut wbuf = Vec::new();
        let result = loop {
            if link.generation.get() != generation {
                break Ok(());
            }
            loop {
                match fb.next_frame() {
                    // ZooKeeper closes on a length of zero, as on a negative one.
                    Ok(Some([])) => return Err(std::io::Error::other("an empty election message")),
                    Ok(Some(body)) => self.0.inbox.push((sid, body.to_vec())),
                    Ok(None) => break,
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                }
            }
            let next = link.queued.borrow_mut().take();
            if let Some(m) = next {
                wbuf.clear();
                wbuf.extend_from_slice(&(m.len() as i32).to_be_bytes());
                wbuf.extend_from_slice(&m);
                *link.last.borrow_mut() = Some(m);
                if let Err(e) = stream.write_all(&wbuf).await {
                    break Err(e);
                }
                continue;
            }
            let spare = fb.spare(4096);
            let woke = futures_lite::future::or(
                async {
                    wake.ready().await;
                    while wake.pop().is_some() {}
                    None
                },
                async { Some(stream.read(spare).await) },
            )
            .await;
            match woke {
                None => {}
                Some(Ok(0)) => break Err(std::io::Error::other("closed by the peer")),
                Some(Ok(n)) => fb.filled(n),
                Some(Err(e)) => break Err(e),
            }
        };
        stream.close().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0)
    }

    /// Server `me` listening on `listen`, knowing `peers`; 2 s to connect,
    /// no initial message of its own.
    fn settings(me: Sid, listen: &str, peers: HashMap<Sid, Vec<String>>) -> PeerSettings {
        PeerSettings {
            me,
            listen: vec![listen.parse().unwrap()],
            peers,
            reach_check: None,
            cnx_timeout: Duration::from_secs(2),
            quorum_cnxn_timeout: None,
            bind_retry: 3,
            max_connections: 16,
            keep_alive: false,
            initial: Vec::new(),
        }
    }

    #[test]
    fn quorum_cnxn_timeout_bounds_the_initial_message_when_set() {
        let mut s = PeerSettings {
            cnx_timeout: Duration::from_millis(5000),
            ..settings(1, "127.0.0.1:0", HashMap::new())
        };
        assert_eq!(s.handshake_timeout(), Duration::from_millis(5000));
        s.quorum_cnxn_timeout = Some(Duration::from_millis(700));
        assert_eq!(s.handshake_timeout(), Duration::from_millis(700));
    }

    #[test]
    fn two_peers_keep_one_connection_and_exchange_messages_both_ways() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
                let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
                let mk = |me: Sid| PeerSettings {
                    initial: InitialMessage {
                        protocol: ewire::Protocol::V1,
                        sid: me,
                        addresses: vec![ewire::ElectionAddress {
                            host: "127.0.0.1".into(),
                            port: ports[me as usize],
                        }],
                    }
                    .encode(),
                    ..settings(
                        me,
                        &addr(me as usize),
                        (0..3)
                            .filter(|&i| i != me as usize)
                            .map(|i| (i as Sid, vec![addr(i)]))
                            .collect(),
                    )
                };
                let mut p = Vec::new();
                for me in 0..3 {
                    p.push(Peers::start(mk(me), None, None).await.unwrap());
                }
                // The smaller sid speaks first: its connection is dropped,
                // the larger connects back, and the message still arrives.
                p[0].send(2, b"zero to two".to_vec());
                p[2].send(1, b"two to one".to_vec());
                p[1].send(1, b"loopback".to_vec());
                let got = [p[2].recv().await, p[1].recv().await, p[1].recv().await];
                let mut got: Vec<(Sid, String)> = got
                    .into_iter()
                    .map(|(s, m)| (s, String::from_utf8(m).unwrap()))
                    .collect();
                got.sort();
                assert_eq!(
                    got,
                    vec![
                        (0, "zero to two".to_string()),
                        (1, "loopback".to_string()),
                        (2, "two to one".to_string())
                    ]
                );
                assert!(p[0].is_connected(2) && p[2].is_connected(0));
                // A newer message replaces an unsent one; the reply comes
                // back over the same connection.
                p[2].send(0, b"reply".to_vec());
                assert_eq!(p[0].recv().await, (2, b"reply".to_vec()));
            })
            .unwrap();
        ex.join().unwrap();
    }

    #[test]
    fn strangers_claiming_unknown_server_ids_leave_no_link_behind() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let port = free_port();
                let addr = format!("127.0.0.1:{port}");
                let s = settings(
                    5,
                    &addr,
                    HashMap::from([(6, vec!["127.0.0.1:1".to_string()])]),
                );
                let p = Peers::start(s, None, None).await.unwrap();
                // The old protocol's initial message is the sid alone: ids
                // below ours (which would be dialed back) and above it.
                for sid in [-7i64, 1, 9, 1000] {
                    let mut c = TcpStream::connect(addr.as_str()).await.unwrap();
                    futures_lite::AsyncWriteExt::write_all(&mut c, &sid.to_be_bytes())
                        .await
                        .unwrap();
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                    drop(c);
                }
                glommio::timer::sleep(Duration::from_millis(100)).await;
                let left: Vec<Sid> = p.0.links.borrow().keys().copied().collect();
                assert!(left.is_empty(), "links left for {left:?}");
                // A message to an unknown id makes none either.
                p.send(1000, b"x".to_vec());
                assert!(p.0.links.borrow().is_empty());
            })
            .unwrap();
        ex.join().unwrap();
    }
}
