//! TLS on the links between servers (`sslQuorum`, `portUnification`,
//! `sslQuorumReloadCertFiles`), on the zab core: what the election
//! connections ([`super::peers`]) and the learner↔leader connections
//! ([`super::quorum_peer`]) do with a socket before their first message.
//!
//! - Accepting: with `portUnification` the first bytes tell TLS from plain
//!   (ZooKeeper's `UnifiedServerSocket`); otherwise, with `sslQuorum`,
//!   every connection must be TLS. The peer must present a certificate
//!   (`ssl.quorum.clientAuth`, default need) that the trust store vouches
//!   for and that names the address it came from (or, failing that, the
//!   name reverse DNS gives that address), as ZooKeeper's `ZKTrustManager`
//!   checks it.
//! - Connecting (with `sslQuorum`): a TLS client presenting this server's
//!   certificate; the peer's certificate must name the address connected
//!   to, or the host of its `server.N` line (or the reverse DNS name of
//!   an address written as one).
//!
//! Stores are read at start-up (by the caller) and, with
//! `sslQuorumReloadCertFiles`, again on glommio's blocking pool when a
//! store file changes; DNS runs on the blocking pool too.

use super::stream::{self, Detected, Silence, Stream};
use crate::config::tls::QuorumTls;
use crate::security::tls::{PeerTls, Reloading};
use glommio::net::TcpStream;
use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the store files are looked at with `sslQuorumReloadCertFiles`.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The links' TLS settings and the stores read at start-up.
#[derive(Debug, Clone)]
pub struct PeerTlsSettings {
    pub quorum: QuorumTls,
    pub built: Arc<PeerTls>,
}

/// The links' TLS on the zab core: the current stores, reloaded when
/// asked for.
pub(crate) struct LinkTls {
    q: QuorumTls,
    current: RefCell<Arc<PeerTls>>,
}

/// The zab core's TLS for its links, if any.
pub(crate) type Shared = Option<Rc<LinkTls>>;

impl LinkTls {
    /// Starts the links' TLS (and its reload task, with
    /// `sslQuorumReloadCertFiles`) on this executor.
    pub(crate) fn start(s: Option<PeerTlsSettings>) -> Shared {
        let s = s?;
        let t = Rc::new(LinkTls {
            q: s.quorum.clone(),
            current: RefCell::new(s.built.clone()),
        });
        if s.quorum.reload {
            let reloading = Arc::new(Mutex::new(Reloading::from_built(
                s.quorum.settings.clone(),
                s.built,
            )));
            let weak = Rc::downgrade(&t);
            glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(RELOAD_CHECK).await;
                    let r = reloading.clone();
                    let now = glommio::executor()
                        .spawn_blocking(move || {
                            let mut g = r.lock().unwrap_or_else(|p| p.into_inner());
                            g.check().then(|| g.current().clone())
                        })
                        .await;
                    let Some(t) = weak.upgrade() else { return };
                    if let Some(now) = now {
                        *t.current.borrow_mut() = now;
                    }
                }
            })
            .detach();
        }
        Some(t)
    }

    fn timeout(&self) -> Duration {
        self.q.settings.handshake_timeout
    }

    /// The names a peer's certificate may carry, or `None` when names
    /// are not checked: `ip`, then `host` when it is a name, else (when
    /// allowed) what reverse DNS says of `ip`.
    async fn names(&self, ip: IpAddr, host: Option<&str>) -> Option<Vec<String>> {
        if !self.q.settings.hostname_verification {
            return None;
        }
        let mut names = vec![ip.to_string()];
        match host.filter(|h| h.parse::<IpAddr>().is_err()) {
            Some(h) => names.push(h.to_string()),
            None if self.q.reverse_dns => {
                let lookup = glommio::executor().spawn_blocking(move || reverse_lookup(ip));
                let found = futures_lite::future::or(lookup, async {
                    glommio::timer::sleep(self.timeout()).await;
                    None
                })
                .await;
                names.extend(found);
            }
            None => {}
        }
        Some(names)
    }
}

/// Wraps a connection a peer made to one of our quorum or election
/// ports: TLS or plain, as the settings and (port unification) its first
/// bytes say.
pub(crate) async fn accepted(tls: &Shared, tcp: TcpStream) -> io::Result<Stream> {
    let Some(t) = tls else {
        return Ok(Stream::plain(tcp));
    };
    let (tcp, head) = if t.q.unified {
        match stream::detect(tcp, t.timeout(), Silence::Plain).await? {
            Detected::Plain(s) => return Ok(s),
            Detected::Tls(tcp, head) => (tcp, head),
        }
    } else {
        (tcp, Vec::new())
    };
    let ip = tcp.peer_addr()?.ip();
    let names = t.names(ip, None).await;
    let built = t.current.borrow().clone();
    let config = built
        .server_config(names)
        .map_err(|e| io::Error::other(e.to_string()))?;
    stream::accept(tcp, &config, &head, t.timeout()).await
}

/// Wraps a connection this server made to a peer at `host` (its
/// `server.N` host): TLS with `sslQuorum`, else plain.
pub(crate) async fn connected(tls: &Shared, tcp: TcpStream, host: &str) -> io::Result<Stream> {
    let Some(t) = tls.as_ref().filter(|t| t.q.connect_tls) else {
        return Ok(Stream::plain(tcp));
    };
    let ip = tcp.peer_addr()?.ip();
    let names = t.names(ip, Some(host)).await;
    let built = t.current.borrow().clone();
    let config = built
        .client_config(names)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let name = rustls::pki_types::ServerName::IpAddress(ip.into());
    stream::connect(tcp, &config, name, t.timeout()).await
}

/// The host of a `host:port` (`[v6]:port`) address.
pub(crate) fn host_of(addr: &str) -> &str {
    let host = match addr.rfind(':') {
        Some(i) if !addr[i + 1..].contains(']') => &addr[..i],
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The name reverse DNS gives `ip` (`getnameinfo` with `NI_NAMEREQD`),
/// as Java's `InetAddress.getHostName` finds it. Blocks: run it on the
/// blocking pool.
fn reverse_lookup(ip: IpAddr) -> Option<String> {
    let mut host = [0 as libc::c_char; 1025];
    let rc = match ip {
        IpAddr::V4(a) => {
            // SAFETY: a zeroed sockaddr_in is a valid value; the fields
            // set are plain integers.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            // SAFETY: `sa` and `host` outlive the call, with the lengths
            // given.
            unsafe {
                libc::getnameinfo(
                    &sa as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr.s6_addr = a.octets();
            // SAFETY: as above.
            unsafe {
                libc::getnameinfo(
                    &sa as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    name.to_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_an_address() {
        assert_eq!(host_of("127.0.0.1:2888"), "127.0.0.1");
        assert_eq!(host_of("zk1.example.com:3888"), "zk1.example.com");
        assert_eq!(host_of("[::1]:2888"), "::1");
        assert_eq!(host_of("zk1"), "zk1");
    }

    #[test]
    fn loopback_reverse_resolves_from_the_hosts_file() {
        // /etc/hosts names 127.0.0.1 on every Linux this runs on.
        assert!(reverse_lookup("127.0.0.1".parse().unwrap()).is_some());
    }
}
