//! Client-port listeners: one per shard on the same address.
//!
//! Every shard binds its own socket with `SO_REUSEPORT`, so the kernel
//! spreads new connections across shards; `SO_REUSEADDR` lets a restarted
//! server bind while old connections sit in TIME_WAIT.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::SocketAddr;

fn socket(addr: SocketAddr) -> std::io::Result<Socket> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    Ok(s)
}

/// Checks that nothing else listens on `addr` (a live listener makes the
/// bind fail even where SO_REUSEPORT would let a second one in), and
/// returns the address actually bound (port 0 becomes a real port).
///
/// It binds but never listens: a probe that listened would take the
/// connections that arrive in its moment, and reset them when it closes.
pub fn probe(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let s = socket(addr)?;
    s.bind(&SockAddr::from(addr))?;
    let local = s.local_addr()?.as_socket().unwrap_or(addr);
    Ok(local)
}

/// A listening socket for one shard, sharing `addr` with the others.
pub fn shard_listener(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    let s = socket(addr)?;
    s.set_reuse_port(true)?;
    s.bind(&SockAddr::from(addr))?;
    s.listen(backlog)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_a_port_but_a_probe_sees_it_taken() {
        let a = shard_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = a.local_addr().unwrap();
        let b = shard_listener(addr, 16).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        assert!(probe(addr).is_err(), "a live listener must be reported");
        drop((a, b));
        assert_eq!(probe(addr).unwrap(), addr);
    }
}
