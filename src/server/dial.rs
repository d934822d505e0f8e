//! Dialing another server by its addresses: ZooKeeper's `multiAddress`.
//!
//! With `multiAddress.enabled=true` a `server.N` line may list several
//! `|`-separated addresses. Before dialing, the addresses that answer a
//! reachability probe are kept (`MultipleAddresses.getAllReachableAddressesOrAll`:
//! all of them when none answers, or when the check is off). An election
//! connection then tries them in turn; a learner dials them all at once
//! and keeps the first that connects (`Learner.connectToLeader`).
//!
//! This module owns no state: the election connections (`peers`) and a
//! learner's connection to its leader (`quorum_peer`) call it. DNS runs
//! on the blocking pool.

use glommio::net::TcpStream;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// `multiAddress.reachabilityCheckEnabled` and `...TimeoutMs`: `None`
/// when the check is off.
pub type ReachCheck = Option<Duration>;

/// Resolves `host:port` strings on the blocking pool, keeping the order;
/// one that resolves to nothing is left out.
pub(crate) async fn resolve(addrs: &[String]) -> Vec<(String, SocketAddr)> {
    let addrs = addrs.to_vec();
    glommio::executor()
        .spawn_blocking(move || {
            addrs
                .into_iter()
                .filter_map(|a| {
                    let sa = std::net::ToSocketAddrs::to_socket_addrs(&a)
                        .ok()
                        .and_then(|mut r| r.next())?;
                    Some((a, sa))
                })
                .collect()
        })
        .await
}

/// Java's `InetAddress.isReachable` as a process without raw sockets does
/// it: a TCP connection to the echo port (7) within `timeout`. A host that
/// accepts or refuses it answered, and is reachable.
pub(crate) async fn reachable(ip: IpAddr, timeout: Duration) -> bool {
    match TcpStream::connect_timeout(SocketAddr::new(ip, 7), timeout).await {
        Ok(_) => true,
        Err(e) => std::io::Error::from(e).kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// The addresses to dial, in the order listed: with the check and more
/// than one address, those that are [`reachable`] (probed at once), or
/// all of them when none is.
pub(crate) async fn candidates(
    addrs: Vec<(String, SocketAddr)>,
    check: ReachCheck,
) -> Vec<(String, SocketAddr)> {
    let Some(timeout) = check.filter(|_| addrs.len() > 1) else {
        return addrs;
    };
    let probes = addrs.iter().map(|(_, sa)| {
        let ip = sa.ip();
        glommio::spawn_local(async move { reachable(ip, timeout).await })
    });
    let probes: Vec<_> = probes.collect();
    let mut answered = Vec::with_capacity(addrs.len());
    for p in probes {
        answered.push(p.await);
    }
    let reachable: Vec<_> = addrs
        .iter()
        .zip(&answered)
        .filter(|(_, ok)| **ok)
        .map(|(a, _)| a.clone())
        .collect();
    if reachable.is_empty() {
        tracing::debug!(addrs = ?addrs, "no address answered the reachability check; dialing all");
        addrs
    } else {
        reachable
    }
}

/// Connects to each address in turn, `timeout` each; the first that
/// connects wins. Err: the last address's error.
pub(crate) async fn in_turn(
    addrs: &[(String, SocketAddr)],
    timeout: Duration,
) -> std::io::Result<(String, TcpStream)> {
    let mut last = std::io::Error::other("no address to dial");
    for (name, sa) in addrs {
        match TcpStream::connect_timeout(*sa, timeout).await {
            Ok(s) => return Ok((name.clone(), s)),
            Err(e) => {
                tracing::debug!(addr = %name, error = %e, "cannot connect; trying the next address");
                last = std::io::Error::other(format!("{name}: {e}"));
            }
        }
    }
    Err(last)
}

/// Connects to every address at once, `timeout` each; the first that
/// connects wins and the others are closed. Err: the last error.
pub(crate) async fn first_of(
    addrs: &[(String, SocketAddr)],
    timeout: Duration,
) -> std::io::Result<(String, TcpStream)> {
    if addrs.len() <= 1 {
        return in_turn(addrs, timeout).await;
    }
    let results = std::rc::Rc::new(shards::mailbox::Mailbox::new());
    for (name, sa) in addrs.iter().cloned() {
        let results = std::rc::Rc::downgrade(&results);
        glommio::spawn_local(async move {
            let r = TcpStream::connect_timeout(sa, timeout)
                .await
                .map_err(|e| std::io::Error::other(format!("{name}: {e}")));
            // A late winner finds no one waiting, and its stream closes.
            if let Some(results) = results.upgrade() {
                results.push(r.map(|s| (name, s)));
            }
        })
        .detach();
    }
    let mut last = std::io::Error::other("no address to dial");
    let mut heard = 0;
    while heard < addrs.len() {
        let Some(r) = results.pop() else {
            results.ready().await;
            continue;
        };
        heard += 1;
        match r {
            Ok(won) => return Ok(won),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T, F, Fut>(f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
    {
        glommio::LocalExecutorBuilder::default()
            .spawn(f)
            .expect("executor")
            .join()
            .expect("join")
    }

    #[test]
    fn a_refused_address_gives_way_to_the_next() {
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (live_at, dead_at) = (live.local_addr().unwrap(), dead.local_addr().unwrap());
        drop(dead);
        let addrs = vec![
            (dead_at.to_string(), dead_at),
            (live_at.to_string(), live_at),
        ];
        let a = addrs.clone();
        let (turn, first) = run(move || async move {
            let t = in_turn(&a, Duration::from_secs(2)).await.map(|(n, _)| n);
            let f = first_of(&a, Duration::from_secs(2)).await.map(|(n, _)| n);
            (t.ok(), f.ok())
        });
        assert_eq!(turn.as_deref(), Some(live_at.to_string().as_str()));
        assert_eq!(first.as_deref(), Some(live_at.to_string().as_str()));
        let only_dead = vec![addrs[0].clone()];
        let e = run(move || async move { in_turn(&only_dead, Duration::from_secs(2)).await.err() });
        assert!(e.is_some_and(|e| e.to_string().contains(&dead_at.to_string())));
    }

    #[test]
    fn loopback_answers_the_reachability_probe() {
        // Port 7 is closed here: a refusal is an answer, as for Java.
        let ok =
            run(|| async { reachable("127.0.0.1".parse().unwrap(), Duration::from_secs(1)).await });
        assert!(ok);
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let one = vec![("x".to_string(), a)];
        let kept =
            run(move || async move { candidates(one, Some(Duration::from_millis(1))).await });
        assert_eq!(kept.len(), 1);
    }
}
