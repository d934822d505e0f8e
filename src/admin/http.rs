//! A small HTTP/1.x server on std threads: enough for the AdminServer and
//! `/metrics`, with the limits a public port needs.
//!
//! Why hand-written and not a crate: the two endpoints need GET, query
//! strings, and JSON error bodies for every failure, with a bounded header
//! size, deadlines and a cap on connections ([`Limits`]: an idle gap and a
//! whole-head deadline per request, a total write deadline per answer, and
//! a cap where a newcomer closes the connection waiting longest on its
//! client, so that idle or slow clients cannot lock the port out). Its
//! parser ([`parse_head`]) is pure and unit-tested; `tiny_http` would
//! add its own thread pool and HTML error pages we would have to work
//! around. Each response closes its connection (`Connection: close`).
//!
//! HTTPS ([`Https`]: `admin.forceHttps`, `admin.portUnification`) is
//! rustls driven on the connection's own thread, with the rustls
//! configuration `security::tls` builds; a unified port tells TLS from
//! plain HTTP by the first bytes (`security::tls::looks_like_tls`). The
//! handshake counts as part of reading the request: the same idle gap and
//! whole-head deadline bound it, and a connection in its handshake is one
//! of the connections the cap counts (and may close for a newcomer).

use shards::slots::{Admission, State};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Jetty's default request header limit.
pub const MAX_HEAD: usize = 8192;
/// `corral.admin.maxConnections`'s default: connections served at once.
pub const MAX_CONNS: usize = 32;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The query's `key=value` pairs, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Who asked (the console checks ACLs of scheme `ip` against it).
    pub peer: Option<SocketAddr>,
    /// The header fields, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// A POST's body (see [`Handler::admit_body`]); empty otherwise.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header field named `name` (lower case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn arg(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// TLS on an HTTP port.
#[derive(Clone)]
pub struct Https {
    pub config: Arc<rustls::ServerConfig>,
    /// `admin.forceHttps`: HTTPS only. Otherwise (`admin.portUnification`)
    /// plain HTTP too, told apart by the first bytes.
    pub only: bool,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https").field("only", &self.only).finish()
    }
}

/// A connection's bytes: plain, or TLS over the socket.
enum Conn {
    Plain {
        tcp: TcpStream,
        /// Bytes read to tell TLS from plain HTTP, read again first.
        head: Vec<u8>,
    },
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain { tcp, .. } => tcp,
            Conn::Tls(t) => &t.sock,
        }
    }

    /// Ends the answer: TLS's close_notify, then the socket's write side.
    fn finish(&mut self) {
        if let Conn::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain { tcp, head } if head.is_empty() => tcp.read(buf),
            Conn::Plain { head, .. } => {
                let n = head.len().min(buf.len());
                buf[..n].copy_from_slice(&head[..n]);
                head.drain(..n);
                Ok(n)
            }
            Conn::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain { tcp, .. } => tcp.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain { tcp, .. } => tcp.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}

/// Sets the socket's timeouts to what is left before `deadline`, and no
/// more than `idle`; `false` when nothing is left.
fn time_left(tcp: &TcpStream, deadline: Instant, idle: Duration) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    let wait = left.min(idle).max(Duration::from_millis(1));
    let _ = tcp.set_read_timeout(Some(wait));
    let _ = tcp.set_write_timeout(Some(wait));
    true
}

/// The connection's stream: plain, or TLS once its handshake is done, all
/// of it before `deadline` and with no silence over `l.idle`. `None`: the
/// connection is closed (a failed or late handshake, plain text on an
/// HTTPS-only port, nothing sent on a unified one).
fn open(mut tcp: TcpStream, https: Option<&Https>, l: &Limits, deadline: Instant) -> Option<Conn> {
    let Some(h) = https else {
        return Some(Conn::Plain {
            tcp,
            head: Vec::new(),
        });
    };
    // Three bytes tell; fewer at the stream's end are plain.
    let mut head = [0u8; 3];
    let mut have = 0;
    while have < head.len() {
        if !time_left(&tcp, deadline, l.idle) {
            return None;
        }
        match tcp.read(&mut head[have..]) {
            Ok(0) => break,
            Ok(k) => have += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let head = &head[..have];
    if !h.only && !crate::security::tls::looks_like_tls(head) {
        return Some(Conn::Plain {
            tcp,
            head: head.to_vec(),
        });
    }
    let mut conn = rustls::ServerConnection::new(h.config.clone()).ok()?;
    let mut rd = head;
    while !rd.is_empty() {
        conn.read_tls(&mut rd).ok()?;
    }
    while conn.is_handshaking() {
        if !time_left(&tcp, deadline, l.idle) {
            return None;
        }
        if conn.wants_write() {
            conn.write_tls(&mut tcp).ok()?;
            continue;
        }
        match conn.read_tls(&mut tcp) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if let Err(e) = conn.process_new_packets() {
            // Send the alert rustls queued: the client learns why.
            let _ = conn.write_tls(&mut tcp);
            tracing::debug!(error = %e, "admin HTTPS handshake failed");
            return None;
        }
    }
    Some(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Header fields besides the ones every answer has.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body,
        }
    }

    pub fn json(status: u16, body: String) -> Response {
        Response::new(status, "application/json", body.into_bytes())
    }

    /// An HTTP error with a JSON body: `{"error" : "...", "status" : N}`.
    pub fn error(status: u16, message: &str) -> Response {
        let v = serde_json::json!({ "error": message, "status": status });
        Response::json(status, super::json::pretty(&v))
    }
}

/// Why a request head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("malformed request line")]
    BadRequestLine,
    #[error("unsupported HTTP version")]
    Version,
    #[error("malformed header")]
    BadHeader,
    #[error("bad percent-encoding")]
    BadEncoding,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Version => 505,
            _ => 400,
        }
    }
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding (`+` is a space in a query).
pub fn decode(s: &str, plus_is_space: bool) -> Result<String, HeadError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(unhex);
                let lo = b.get(i + 2).copied().and_then(unhex);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h * 16 + l),
                    _ => return Err(HeadError::BadEncoding),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HeadError::BadEncoding)
}

/// Parses a request head (everything before the blank line).
pub fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::BadRequestLine)?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or(HeadError::BadRequestLine)?;
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(HeadError::BadRequestLine);
    };
    if method.is_empty() || !method.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(HeadError::BadRequestLine);
    }
    if !target.starts_with('/') {
        return Err(HeadError::BadRequestLine);
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(if version.starts_with("HTTP/") {
            HeadError::Version
        } else {
            HeadError::BadRequestLine
        });
    }
    let mut headers = Vec::new();
    for h in lines {
        if h.is_empty() {
            continue;
        }
        match h.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(' ') => {
                headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
            _ => return Err(HeadError::BadHeader),
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut q = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        q.push((decode(k, true)?, decode(v, true)?));
    }
    Ok(Request {
        method: method.to_string(),
        path: decode(path, false)?,
        query: q,
        peer: None,
        headers,
        body: Vec::new(),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        401 => "Unauthorized",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Jetty's `SecureRequestCustomizer` header on an HTTPS answer, as
/// ZooKeeper sets it (a day, subdomains included).
const HSTS: &str = "Strict-Transport-Security: max-age=86400; includeSubDomains\r\n";

/// The bytes of `r` (no body for HEAD).
pub fn encode(r: &Response, head_only: bool) -> Vec<u8> {
    encode_for(r, head_only, false)
}

/// The bytes of `r`, with the HSTS header when it goes over HTTPS.
fn encode_for(r: &Response, head_only: bool, secure: bool) -> Vec<u8> {
    let extra: String = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}\
         Cache-Control: no-store\r\nConnection: close\r\nServer: corral\r\n{}\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if secure { HSTS } else { "" }
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&r.body);
    }
    out
}

/// What a request is answered with.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &Request) -> Response;

    /// A POST, before its body is read: the most bytes it may have, or the
    /// answer that refuses it unread (by default every POST, 405).
    fn admit_body(&self, req: &Request) -> Result<usize, Response> {
        Err(method_not_allowed(&req.method))
    }
}

fn method_not_allowed(m: &str) -> Response {
    Response::error(
        405,
        &format!("HTTP method {m} is not supported by this URL"),
    )
}

/// Reads a POST's body of `len` bytes: no silence over `l.idle`, all of it
/// within `l.idle` of the head's end however steadily it trickles in (a
/// slow body holds a connection as long as one answer's write may).
fn read_body(s: &mut Conn, l: &Limits, len: usize, read: Vec<u8>) -> Result<Vec<u8>, Response> {
    let deadline = Instant::now() + l.idle;
    let mut body = read;
    if body.len() > len {
        return Err(Response::error(400, "more bytes than Content-Length"));
    }
    body.reserve(len.min(1 << 20));
    let mut chunk = vec![0u8; 64 * 1024];
    while body.len() < len {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Response::error(408, "Request Timeout"));
        }
        let _ = s
            .tcp()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))));
        let want = (len - body.len()).min(chunk.len());
        match s.read(&mut chunk[..want]) {
            Ok(0) => return Err(Response::error(400, "the body ended early")),
            Ok(k) => body.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Response::error(408, "Request Timeout"))
            }
            Err(_) => return Err(Response::error(400, "the body ended early")),
        }
    }
    Ok(body)
}

/// The body length a POST declares: `Content-Length`, required (no
/// chunked bodies).
fn content_length(req: &Request) -> Result<usize, Response> {
    if req.header("transfer-encoding").is_some() {
        return Err(Response::error(411, "a Content-Length body is required"));
    }
    match req.header("content-length").map(str::parse::<usize>) {
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(Response::error(400, "bad Content-Length")),
        None => Err(Response::error(411, "Length Required")),
    }
}

/// The bounds of one HTTP port: what a few slow or idle clients may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `admin.idleTimeout`: the longest silence while a request is read,
    /// and the longest a response may take to write.
    pub idle: Duration,
    /// `corral.admin.requestTimeoutMs`: the whole request head must come
    /// within this, however steadily it trickles in.
    pub request: Duration,
    /// `corral.admin.maxConnections`: connections served at once.
    pub max_conns: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            idle: Duration::from_secs(30),
            request: Duration::from_secs(10),
            max_conns: MAX_CONNS,
        }
    }
}

/// Reads one request head: no silence over `idle`, all of it before
/// `deadline` (`request` after the connection came). `Err` is the
/// response to give; `Ok(None)`: close quietly. With the head come the
/// bytes read after it (the start of a body).
#[allow(clippy::type_complexity)]
fn read_head(
    s: &mut Conn,
    l: &Limits,
    deadline: Instant,
) -> Result<Option<(Vec<u8>, Vec<u8>)>, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok(Some((buf, rest)));
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::error(431, "Request Header Fields Too Large"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Response::error(408, "Request Timeout"))
            };
        }
        let wait = left.min(l.idle).max(Duration::from_millis(1));
        let _ = s.tcp().set_read_timeout(Some(wait));
        match s.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Silent for `idle`: Jetty closes an idle connection.
                if Instant::now() < deadline {
                    return if buf.is_empty() {
                        Ok(None)
                    } else {
                        Err(Response::error(408, "Request Timeout"))
                    };
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(None),
        }
    }
}

/// Writes `bytes` within `within` in all, whatever pace the reader keeps.
fn write_within(s: &mut Conn, bytes: &[u8], within: Duration) {
    let deadline = Instant::now() + within;
    let mut at = 0;
    while at < bytes.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let _ = s.tcp().set_write_timeout(Some(left));
        match s.write(&bytes[at..]) {
            Ok(0) => return,
            Ok(k) => at += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
    // TLS: records still buffered.
    let left = deadline.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        let _ = s.tcp().set_write_timeout(Some(left));
        let _ = s.flush();
    }
}

/// Every live connection of one port (`shards::slots`: at the bound a
/// newcomer closes the connection waiting longest on its client), with
/// a handle to shut each socket down from the accept thread.
struct Slots(std::sync::Mutex<shards::slots::Slots<Option<TcpStream>>>);

impl Slots {
    fn new(max: usize) -> Slots {
        Slots(std::sync::Mutex::new(shards::slots::Slots::new(max)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, shards::slots::Slots<Option<TcpStream>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes room for a new connection (shutting down the one it
    /// displaces). `None`: every connection is busy being answered.
    fn admit(&self, stream: Option<TcpStream>) -> Option<u64> {
        match self.lock().admit(stream) {
            Admission::Admitted { id, displaced } => {
                if let Some(Some(st)) = displaced {
                    let _ = st.shutdown(std::net::Shutdown::Both);
                }
                Some(id)
            }
            Admission::Refused => None,
        }
    }

    /// The connection waits on its client, or is being answered. `false`:
    /// it was displaced.
    fn set(&self, id: u64, state: State) -> bool {
        self.lock().set(id, state)
    }

    fn leave(&self, id: u64) {
        self.lock().leave(id)
    }
}

fn serve_conn(
    tcp: TcpStream,
    l: &Limits,
    https: Option<&Https>,
    h: &dyn Handler,
    slots: &Slots,
    id: u64,
) {
    let deadline = Instant::now() + l.request;
    let Some(mut s) = open(tcp, https, l, deadline) else {
        return;
    };
    let secure = matches!(s, Conn::Tls(_));
    let (resp, head_only) = match read_head(&mut s, l, deadline) {
        Ok(None) => return,
        Err(r) => (r, false),
        Ok(Some((head, rest))) => match parse_head(&head) {
            Err(e) => (Response::error(e.status(), &e.to_string()), false),
            Ok(mut req) => match req.method.as_str() {
                "GET" | "HEAD" => {
                    if !slots.set(id, State::Held) {
                        return;
                    }
                    req.peer = s.tcp().peer_addr().ok();
                    let r = h.handle(&req);
                    if !slots.set(id, State::Waiting) {
                        return;
                    }
                    (r, req.method == "HEAD")
                }
                "POST" => {
                    req.peer = s.tcp().peer_addr().ok();
                    if !slots.set(id, State::Held) {
                        return;
                    }
                    let admitted = content_length(&req).and_then(|len| {
                        let limit = h.admit_body(&req)?;
                        if len > limit {
                            return Err(Response::error(
                                413,
                                &format!("the body is {len} bytes; at most {limit} are read"),
                            ));
                        }
                        Ok(len)
                    });
                    if !slots.set(id, State::Waiting) {
                        return;
                    }
                    let r = match admitted.and_then(|len| read_body(&mut s, l, len, rest)) {
                        Ok(body) => {
                            req.body = body;
                            if !slots.set(id, State::Held) {
                                return;
                            }
                            let r = h.handle(&req);
                            if !slots.set(id, State::Waiting) {
                                return;
                            }
                            r
                        }
                        Err(r) => r,
                    };
                    (r, false)
                }
                // Jetty answers TRACE 403 (ZooKeeper constrains it).
                "TRACE" => (Response::error(403, "Forbidden"), false),
                m => (method_not_allowed(m), false),
            },
        },
    };
    write_within(&mut s, &encode_for(&resp, head_only, secure), l.idle);
    s.finish();
    // Let the client read the answer before the socket goes (a reset
    // could discard it when unread request bytes remain).
    let mut tcp = s.tcp();
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let until = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 1024];
    while Instant::now() < until && matches!(tcp.read(&mut sink), Ok(k) if k > 0) {}
}

/// Binds `addr` and serves it on a thread named `name`, one more thread
/// per connection, at most `limits.max_conns` of them (see
/// [`Slots::admit`]: a newcomer closes the connection that has waited
/// longest on its client; `503` only when every one is being answered).
/// With `https`, connections speak TLS (or either, see [`Https::only`]).
/// Returns the bound address.
pub fn serve(
    name: &str,
    addr: SocketAddr,
    limits: Limits,
    https: Option<Https>,
    handler: Arc<dyn Handler>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let max = limits.max_conns.max(1);
    let slots = Arc::new(Slots::new(max));
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let Some(id) = slots.admit(s.try_clone().ok()) else {
                    tracing::warn!(
                        port = %thread_name,
                        max,
                        "HTTP connection refused: every connection is being answered"
                    );
                    // Over HTTPS, plain text would be garbage: just close.
                    if https.is_none() {
                        let r = Response::error(503, "too many connections");
                        let _ = s.set_nonblocking(true);
                        let _ = s.write(&encode(&r, false));
                    }
                    continue;
                };
                let h = handler.clone();
                let sl = slots.clone();
                let tls = https.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("{thread_name}-conn"))
                    .spawn(move || {
                        serve_conn(s, &limits, tls.as_ref(), &*h, &sl, id);
                        sl.leave(id);
                    });
                if spawned.is_err() {
                    slots.leave(id);
                    tracing::warn!("cannot start a thread for an HTTP connection");
                }
            }
        })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        let r = parse_head(b"GET /commands/stmk?traceMask=12&x=a%20b+c HTTP/1.1\r\nHost: h\r\n")
            .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/commands/stmk");
        assert_eq!(r.arg("traceMask"), Some("12"));
        assert_eq!(r.arg("x"), Some("a b c"));
        assert_eq!(
            parse_head(b"GET /api/node?path=%2Fa%2Fb HTTP/1.0")
                .unwrap()
                .arg("path"),
            Some("/a/b")
        );
        assert_eq!(parse_head(b"garbage"), Err(HeadError::BadRequestLine));
        assert_eq!(
            parse_head(b"GET nopath HTTP/1.1"),
            Err(HeadError::BadRequestLine)
        );
        assert_eq!(parse_head(b"GET / HTTP/2.0"), Err(HeadError::Version));
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nbad header"),
            Err(HeadError::BadHeader)
        );
        assert_eq!(
            parse_head(b"GET /%zz HTTP/1.1"),
            Err(HeadError::BadEncoding)
        );
        assert_eq!(parse_head(&[0xff, 0xfe]), Err(HeadError::BadRequestLine));
    }

    #[test]
    fn headers_and_the_declared_body_length() {
        let r = parse_head(
            b"POST /commands/restore HTTP/1.1\r\nAuthorization:  digest ops:secret \r\n\
              Content-Length: 12\r\n",
        )
        .unwrap();
        assert_eq!(r.header("authorization"), Some("digest ops:secret"));
        assert_eq!(content_length(&r), Ok(12));
        let none = parse_head(b"POST / HTTP/1.1").unwrap();
        assert_eq!(content_length(&none).unwrap_err().status, 411);
        let chunked =
            parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3")
                .unwrap();
        assert_eq!(content_length(&chunked).unwrap_err().status, 411);
        let bad = parse_head(b"POST / HTTP/1.1\r\nContent-Length: -1").unwrap();
        assert_eq!(content_length(&bad).unwrap_err().status, 400);
        let mut with = Response::new(200, "application/octet-stream", vec![1, 2]);
        with.headers.push(("last_zxid", "0x1f".into()));
        let text = encode(&with, false);
        assert!(text.windows(17).any(|w| w == b"last_zxid: 0x1f\r\n"));
    }

    #[test]
    fn a_newcomer_closes_the_connection_waiting_longest() {
        // A real socket for the first: the displaced one is shut down.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (served, _) = l.accept().unwrap();
        let slots = Slots::new(2);
        let one = slots.admit(Some(served)).unwrap();
        let two = slots.admit(None).unwrap();
        // Full: the first waited longest on its client and goes.
        let three = slots.admit(None).unwrap();
        assert!(!slots.set(one, State::Held), "the first was displaced");
        let mut b = [0u8; 1];
        assert_eq!(client.read(&mut b).unwrap(), 0, "its socket was shut down");
        slots.leave(one);
        // Both left are being answered: nobody to close, 503.
        assert!(slots.set(two, State::Held) && slots.set(three, State::Held));
        assert_eq!(slots.admit(None), None);
        // One answered and writing: it may go for a newcomer.
        assert!(slots.set(two, State::Waiting));
        let five = slots.admit(None).unwrap();
        assert!(!slots.set(two, State::Held));
        assert!(slots.set(three, State::Waiting) && slots.set(five, State::Held));
    }

    #[test]
    fn encodes_responses() {
        let r = Response::error(404, "Not Found");
        let text = String::from_utf8(encode(&r, false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"));
        assert!(text.ends_with("{\n  \"error\" : \"Not Found\",\n  \"status\" : 404\n}"));
        let head = String::from_utf8(encode(&r, true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
    }
}
