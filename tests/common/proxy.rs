//! A fault-injecting TCP proxy on loopback, for partitions between
//! ensemble members.
//!
//! Each directed link `from → to` (member indices) gets its own listening
//! port that forwards to `to`'s real port, so every connection the proxy
//! carries knows both of its ends. A link is open, refusing (existing
//! connections closed, new ones accepted and closed at once) or a
//! blackhole (existing connections stay open but every byte is dropped;
//! new ones are accepted and go nowhere; on heal they are closed, having
//! lost data, as TCP would after a long partition). Plain std threads.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Open,
    /// Close what is open, and close new connections at once.
    Refuse,
    /// Drop every byte, in both directions, without closing anything.
    Blackhole,
}

/// One proxied connection: the accepted side and, unless it was
/// blackholed from the start, the side to the target.
struct Conn {
    link: (usize, usize),
    client: TcpStream,
    target: Option<TcpStream>,
    /// Bytes are dropped; the connection closes on heal.
    black: Arc<AtomicBool>,
    gone: Arc<AtomicBool>,
}

impl Conn {
    fn close(&self) {
        self.gone.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        if let Some(t) = &self.target {
            let _ = t.shutdown(Shutdown::Both);
        }
    }
}

#[derive(Default)]
struct Inner {
    links: Mutex<HashMap<(usize, usize), Cut>>,
    conns: Mutex<Vec<Conn>>,
    ports: Mutex<Vec<u16>>,
    stop: AtomicBool,
}

impl Inner {
    fn state(&self, link: (usize, usize)) -> Cut {
        *self.links.lock().unwrap().get(&link).unwrap_or(&Cut::Open)
    }
}

/// The proxy. Dropping it stops every listener and closes every
/// connection.
#[derive(Default)]
pub struct Proxy {
    inner: Arc<Inner>,
}

impl Proxy {
    pub fn new() -> Proxy {
        Proxy::default()
    }

    /// A new loopback port for the link `from → to` that forwards to
    /// `127.0.0.1:target`.
    pub fn listen(&self, from: usize, to: usize, target: u16) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("proxy listen");
        let port = l.local_addr().unwrap().port();
        self.inner.ports.lock().unwrap().push(port);
        self.inner
            .links
            .lock()
            .unwrap()
            .entry((from, to))
            .or_insert(Cut::Open);
        let inner = self.inner.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                if inner.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = s else { continue };
                accept(&inner, (from, to), client, target);
            }
        });
        port
    }

    /// Sets every link to and from `member`.
    pub fn cut(&self, member: usize, how: Cut) {
        let keys: Vec<(usize, usize)> = (self.inner.links.lock().unwrap().keys())
            .filter(|&&(a, b)| a == member || b == member)
            .copied()
            .collect();
        for k in keys {
            self.set(k, how);
        }
    }

    /// Opens every link to and from `member`.
    pub fn heal(&self, member: usize) {
        self.cut(member, Cut::Open);
    }

    /// Sets one directed link (the connections `from` opens to `to`).
    pub fn set(&self, link: (usize, usize), how: Cut) {
        self.inner.links.lock().unwrap().insert(link, how);
        let mut conns = self.inner.conns.lock().unwrap();
        conns.retain(|c| !c.gone.load(Ordering::SeqCst));
        for c in conns.iter().filter(|c| c.link == link) {
            match how {
                Cut::Refuse => c.close(),
                Cut::Blackhole => c.black.store(true, Ordering::SeqCst),
                Cut::Open => {
                    if c.black.load(Ordering::SeqCst) {
                        c.close();
                    }
                }
            }
        }
    }
}

fn accept(inner: &Arc<Inner>, link: (usize, usize), client: TcpStream, target: u16) {
    let how = inner.state(link);
    if how == Cut::Refuse {
        return; // dropped: closed at once
    }
    let black = Arc::new(AtomicBool::new(how == Cut::Blackhole));
    let gone = Arc::new(AtomicBool::new(false));
    let target = if how == Cut::Open {
        match TcpStream::connect(("127.0.0.1", target)) {
            Ok(t) => Some(t),
            Err(_) => return, // the member is down: refused
        }
    } else {
        None
    };
    let _ = client.set_nodelay(true);
    if let Some(t) = &target {
        let _ = t.set_nodelay(true);
    }
    let conn = Conn {
        link,
        client: client.try_clone().unwrap(),
        target: target.as_ref().map(|t| t.try_clone().unwrap()),
        black: black.clone(),
        gone: gone.clone(),
    };
    // A cut may have come between reading the state and registering.
    {
        let mut conns = inner.conns.lock().unwrap();
        match inner.state(link) {
            Cut::Refuse => conn.close(),
            Cut::Blackhole => conn.black.store(true, Ordering::SeqCst),
            Cut::Open => {}
        }
        conns.push(conn);
    }
    match target {
        Some(t) => {
            let (c2, t2) = (client.try_clone().unwrap(), t.try_clone().unwrap());
            let (b2, g2) = (black.clone(), gone.clone());
            std::thread::spawn(move || pipe(client, t, black, gone));
            std::thread::spawn(move || pipe(t2, c2, b2, g2));
        }
        None => {
            // Nowhere to go: read and drop until closed.
            std::thread::spawn(move || {
                let mut c = client;
                let mut buf = [0u8; 16 * 1024];
                while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
                gone.store(true, Ordering::SeqCst);
            });
        }
    }
}

/// Copies `from` to `to` until either closes; drops bytes while `black`.
/// A close behind a blackhole does not get through: the other end learns
/// of it when the link heals.
fn pipe(mut from: TcpStream, mut to: TcpStream, black: Arc<AtomicBool>, gone: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if black.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    if black.load(Ordering::SeqCst) && !gone.load(Ordering::SeqCst) {
        return;
    }
    gone.store(true, Ordering::SeqCst);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        for p in self.inner.ports.lock().unwrap().iter() {
            // Wakes the accept loop, which sees `stop`.
            let _ = TcpStream::connect(("127.0.0.1", *p));
        }
        for c in self.inner.conns.lock().unwrap().iter() {
            c.close();
        }
    }
}
