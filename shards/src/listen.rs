//! Listening sockets: the client port's, one per shard on the same
//! address, and the peer ports' (election and quorum), one per server.
//!
//! Every shard binds its own socket with `SO_REUSEPORT`, so the kernel
//! spreads new connections across shards; `SO_REUSEADDR` lets a restarted
//! server bind while old connections sit in TIME_WAIT. A peer port gets
//! `SO_REUSEADDR` alone, as Java's `ServerSocket` binds on Linux: a second
//! process can never share it.

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

/// A listening socket for a peer port (election or quorum): TIME_WAIT
/// sockets left by an earlier run do not keep it from binding; a live
/// listener or connection that holds the port without `SO_REUSEADDR` does.
pub fn peer_listener(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    let s = socket(addr)?;
    s.bind(&SockAddr::from(addr))?;
    s.listen(backlog)?;
    Ok(s.into())
}

/// Turns TCP keepalive on or off on a connected socket (`SO_KEEPALIVE`,
/// with the kernel's timings), as Java's `Socket.setKeepAlive` does.
pub fn set_keepalive(sock: &impl std::os::fd::AsRawFd, on: bool) -> std::io::Result<()> {
    // SAFETY: the fd is open for as long as `sock` is borrowed, and the
    // borrowed socket is only used for this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(sock.as_raw_fd()) };
    socket2::SockRef::from(&fd).set_keepalive(on)
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

    #[test]
    fn a_peer_port_binds_over_time_wait_but_never_twice() {
        let l = peer_listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = l.local_addr().unwrap();
        assert!(
            peer_listener(addr, 16).is_err(),
            "one listener per peer port"
        );
        // The server side closes first: its socket waits in TIME_WAIT.
        let c = std::net::TcpStream::connect(addr).unwrap();
        let (a, _) = l.accept().unwrap();
        drop(a);
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(c);
        drop(l);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(peer_listener(addr, 16).is_ok());
    }
}
