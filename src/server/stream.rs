//! A connection's bytes: plain TCP, or TLS over it, either side of the
//! handshake (a client port's connections, and the links between servers
//! in both directions). The TLS state machine (rustls) is driven sans-IO
//! on the executor that owns the socket, so a handshake never blocks
//! another core and costs no thread hop.
//!
//! A TLS handshake that has not finished within its timeout
//! (`ssl.handshakeDetectionTimeoutMillis`) closes the connection; a
//! port-unified connection that sends nothing to tell its kind by is
//! closed ([`Silence::Close`], client ports) or taken as plain
//! ([`Silence::Plain`], quorum ports, as ZooKeeper's `UnifiedServerSocket`).
//!
//! `read` is cancel-safe (the connection races it against its outbox):
//! bytes taken off the socket are kept until rustls has consumed them, and
//! nothing is sent from inside it (what TLS wants to send waits for the
//! next `write_all`).

use crate::security::tls::looks_like_tls;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::pki_types::CertificateDer;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// The raw bytes read off the socket at a time, TLS records included.
const RAW: usize = 32 * 1024;
/// The plain text handed to rustls at a time when writing.
const WRITE_CHUNK: usize = 64 * 1024;

/// A connection's byte stream.
pub(crate) enum Stream {
    Plain {
        tcp: TcpStream,
        /// Bytes read while telling a port-unified connection's kind (or
        /// handed back), handed out before the socket is read again.
        head: Vec<u8>,
    },
    Tls(Box<Tls>),
}

pub(crate) struct Tls {
    tcp: TcpStream,
    conn: rustls::Connection,
    raw: Box<[u8]>,
    raw_at: usize,
    raw_end: usize,
    /// TLS records made and not yet sent.
    out: Vec<u8>,
    /// Plain text handed back ([`Stream::unread`]), read before more.
    head: Vec<u8>,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Stream {
    pub(crate) fn plain(tcp: TcpStream) -> Stream {
        Stream::Plain {
            tcp,
            head: Vec::new(),
        }
    }

    /// Reads what the peer sent: plain text, 0 at its end.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let head = self.head();
        if !head.is_empty() {
            let n = head.len().min(buf.len());
            buf[..n].copy_from_slice(&head[..n]);
            head.drain(..n);
            return Ok(n);
        }
        match self {
            Stream::Plain { tcp, .. } => tcp.read(buf).await,
            Stream::Tls(t) => t.read(buf).await,
        }
    }

    /// Puts plain text already read back in front of what the peer sends
    /// next (a look at the next bytes that found they were not for the
    /// looker).
    pub(crate) fn unread(&mut self, mut bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let head = self.head();
        bytes.extend_from_slice(head);
        *head = bytes;
    }

    fn head(&mut self) -> &mut Vec<u8> {
        match self {
            Stream::Plain { head, .. } => head,
            Stream::Tls(t) => &mut t.head,
        }
    }

    /// Sends all of `buf`.
    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain { tcp, .. } => tcp.write_all(buf).await,
            Stream::Tls(t) => t.write_all(buf).await,
        }
    }

    /// Ends the stream (TLS: with a close_notify), then closes the socket.
    pub(crate) async fn close(self) {
        match self {
            Stream::Plain { mut tcp, .. } => {
                let _ = tcp.close().await;
            }
            Stream::Tls(mut t) => {
                t.conn.send_close_notify();
                let _ = t.flush().await;
                let _ = t.tcp.close().await;
            }
        }
    }

    /// The peer's certificate, leaf first (TLS with a peer cert only).
    pub(crate) fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        match self {
            Stream::Plain { .. } => None,
            Stream::Tls(t) => t.conn.peer_certificates().and_then(|c| c.first()),
        }
    }
}

/// What a port-unified connection turned out to be.
pub(crate) enum Detected {
    /// A TLS handshake: its socket and the bytes already read off it.
    Tls(TcpStream, Vec<u8>),
    Plain(Stream),
}

/// What a port-unified port makes of a connection that sends nothing in
/// time to tell its kind by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Silence {
    Close,
    Plain,
}

/// Tells a connection on a port-unified port: TLS when its first bytes
/// are a TLS handshake, plain otherwise (a ZooKeeper request, a
/// four-letter word, a peer's first message). Waits at most `timeout`
/// for the first bytes.
pub(crate) async fn detect(
    mut tcp: TcpStream,
    timeout: Duration,
    silence: Silence,
) -> io::Result<Detected> {
    let mut head = vec![0u8; 8];
    let mut have = 0;
    let read = async {
        // Three bytes tell; fewer at the stream's end are plain.
        while have < 3 {
            let n = tcp.read(&mut head[have..]).await?;
            if n == 0 {
                break;
            }
            have += n;
        }
        Ok::<_, io::Error>(())
    };
    let r = within(timeout, read, "sent nothing to tell TLS from plain text").await;
    if let Err(e) = r {
        if silence == Silence::Close || e.kind() != io::ErrorKind::TimedOut {
            return Err(e);
        }
    }
    head.truncate(have);
    if looks_like_tls(&head) {
        Ok(Detected::Tls(tcp, head))
    } else {
        Ok(Detected::Plain(Stream::Plain { tcp, head }))
    }
}

/// A connection on a port-unified client port: TLS with `config`, or
/// plain (see [`detect`]); silence closes it.
pub(crate) async fn unified(
    tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    timeout: Duration,
) -> io::Result<Stream> {
    match detect(tcp, timeout, Silence::Close).await? {
        Detected::Tls(tcp, head) => accept(tcp, config, &head, timeout).await,
        Detected::Plain(s) => Ok(s),
    }
}

/// The server side of a TLS handshake on `tcp` (`head`: bytes already
/// read off it), bounded by `timeout`.
pub(crate) async fn accept(
    tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    head: &[u8],
    timeout: Duration,
) -> io::Result<Stream> {
    let conn = rustls::ServerConnection::new(config.clone()).map_err(tls_error)?;
    handshake(tcp, conn.into(), head, timeout).await
}

/// The client side of a TLS handshake on `tcp` with the server at
/// `name` (what the configuration's verifier checks the server against),
/// bounded by `timeout`.
pub(crate) async fn connect(
    tcp: TcpStream,
    config: &Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    timeout: Duration,
) -> io::Result<Stream> {
    let conn = rustls::ClientConnection::new(config.clone(), name).map_err(tls_error)?;
    handshake(tcp, conn.into(), &[], timeout).await
}

async fn handshake(
    tcp: TcpStream,
    conn: rustls::Connection,
    head: &[u8],
    timeout: Duration,
) -> io::Result<Stream> {
    let mut raw = vec![0u8; RAW.max(head.len())].into_boxed_slice();
    raw[..head.len()].copy_from_slice(head);
    let mut t = Box::new(Tls {
        tcp,
        conn,
        raw,
        raw_at: 0,
        raw_end: head.len(),
        out: Vec::new(),
        head: Vec::new(),
    });
    let r = within(timeout, t.handshake(), "did not finish the TLS handshake").await;
    if let Err(e) = r {
        // An alert rustls queued (a bad certificate, say) tells the peer why.
        let _ = futures_lite::future::or(t.flush(), async {
            glommio::timer::sleep(Duration::from_millis(100)).await;
            Ok(())
        })
        .await;
        let _ = t.tcp.close().await;
        return Err(e);
    }
    Ok(Stream::Tls(t))
}

/// `f`, or a TimedOut error saying "`what` in N ms" once `timeout` has
/// passed.
pub(crate) async fn within<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
    what: &str,
) -> io::Result<T> {
    futures_lite::future::or(f, async {
        glommio::timer::sleep(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} in {} ms", timeout.as_millis()),
        ))
    })
    .await
}

impl Tls {
    async fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.flush().await?;
            if !self.conn.is_handshaking() {
                break;
            }
            if !self.feed().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed during the TLS handshake",
                ));
            }
        }
        // Session tickets and the like.
        self.flush().await
    }

    /// Gives rustls more raw bytes (reading the socket when none are
    /// kept) and processes them; false at the socket's end.
    async fn feed(&mut self) -> io::Result<bool> {
        if self.raw_at == self.raw_end {
            let n = self.tcp.read(&mut self.raw).await?;
            if n == 0 {
                return Ok(false);
            }
            self.raw_at = 0;
            self.raw_end = n;
        }
        let mut rd = &self.raw[self.raw_at..self.raw_end];
        let used = self.conn.read_tls(&mut rd)?;
        self.raw_at += used;
        if let Err(e) = self.conn.process_new_packets() {
            // The alert it queued is made now, and sent by the caller.
            self.seal()?;
            return Err(tls_error(e));
        }
        self.seal()?;
        Ok(true)
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.feed().await? {
                return Ok(0);
            }
        }
    }

    /// Moves the records rustls made into `out`.
    fn seal(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.out)?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.seal()?;
        if !self.out.is_empty() {
            self.tcp.write_all(&self.out).await?;
            self.out.clear();
            if self.out.capacity() > 2 * WRITE_CHUNK {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self
                .conn
                .writer()
                .write(&buf[..buf.len().min(WRITE_CHUNK)])?;
            buf = &buf[n..];
            self.flush().await?;
        }
        self.flush().await
    }
}
