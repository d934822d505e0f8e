//! A small HTTP/1.x server on std threads: enough for the AdminServer and
//! `/metrics`, with the limits a public port needs.
//!
//! Why hand-written and not a crate: the two endpoints need GET, query
//! strings, and JSON error bodies for every failure, with a bounded header
//! size, an idle timeout and a cap on connections. That is ~200 lines
//! whose parser ([`parse_head`]) is pure and unit-tested; `tiny_http` would
//! add its own thread pool and HTML error pages we would have to work
//! around. Each response closes its connection (`Connection: close`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Jetty's default request header limit.
pub const MAX_HEAD: usize = 8192;
/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNS: usize = 32;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The query's `key=value` pairs, percent-decoded, in order.
    pub query: Vec<(String, String)>,
}

impl Request {
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
        }
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
    for h in lines {
        if h.is_empty() {
            continue;
        }
        match h.split_once(':') {
            Some((name, _)) if !name.is_empty() && !name.contains(' ') => {}
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
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The bytes of `r` (no body for HEAD).
pub fn encode(r: &Response, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\nServer: corral\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
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
}

/// Reads one request head within `idle`; `Err` is the response to give.
fn read_head(s: &mut TcpStream, idle: Duration) -> Result<Option<Vec<u8>>, Response> {
    let deadline = Instant::now() + idle;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(Some(buf));
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
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(None),
        }
    }
}

fn serve_conn(mut s: TcpStream, idle: Duration, h: &dyn Handler) {
    let _ = s.set_write_timeout(Some(idle.max(Duration::from_millis(100))));
    let (resp, head_only) = match read_head(&mut s, idle) {
        Ok(None) => return,
        Err(r) => (r, false),
        Ok(Some(head)) => match parse_head(&head) {
            Err(e) => (Response::error(e.status(), &e.to_string()), false),
            Ok(req) => match req.method.as_str() {
                "GET" | "HEAD" => (h.handle(&req), req.method == "HEAD"),
                // Jetty answers TRACE 403 (ZooKeeper constrains it).
                "TRACE" => (Response::error(403, "Forbidden"), false),
                m => (
                    Response::error(
                        405,
                        &format!("HTTP method {m} is not supported by this URL"),
                    ),
                    false,
                ),
            },
        },
    };
    let _ = s.write_all(&encode(&resp, head_only));
    let _ = s.flush();
    let _ = s.shutdown(std::net::Shutdown::Write);
    // Let the client read the answer before the socket goes (a reset
    // could discard it when unread request bytes remain).
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 1024];
    while matches!(s.read(&mut sink), Ok(k) if k > 0) {}
}

/// Binds `addr` and serves it on a thread named `name` (one more thread
/// per connection, at most [`MAX_CONNS`]). Returns the bound address.
pub fn serve(
    name: &str,
    addr: SocketAddr,
    idle: Duration,
    handler: Arc<dyn Handler>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let live = Arc::new(AtomicUsize::new(0));
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                if live.load(Ordering::Relaxed) >= MAX_CONNS {
                    let r = Response::error(503, "too many connections");
                    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                    let _ = s.write_all(&encode(&r, false));
                    continue;
                }
                live.fetch_add(1, Ordering::Relaxed);
                let h = handler.clone();
                let l2 = live.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("{thread_name}-conn"))
                    .spawn(move || {
                        serve_conn(s, idle, &*h);
                        l2.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    live.fetch_sub(1, Ordering::Relaxed);
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
    fn encodes_responses() {
        let r = Response::error(404, "Not Found");
        let text = String::from_utf8(encode(&r, false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"));
        assert!(text.ends_with("{\n  \"error\" : \"Not Found\",\n  \"status\" : 404\n}"));
        let head = String::from_utf8(encode(&r, true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
    }
}
