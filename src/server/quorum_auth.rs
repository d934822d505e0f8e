//! SASL on the links between servers (`quorum.auth.*`), on the zab core:
//! runs [`crate::security::quorum_auth`]'s exchanges on a link's stream
//! (plain or TLS), bounded in time and in bytes. The election connections
//! ([`super::peers`]) authenticate after the initial message, the
//! learner↔leader connections ([`super::quorum_peer`]) before their
//! first packet, as ZooKeeper's `QuorumCnxManager` and `Learner` do.
//! A Kerberos learner's steps (GSS-API initiator calls, which may talk to
//! the KDC) run on the executor's blocking pool; an acceptor's read only
//! local files (the keytab, the replay cache) and run in place.

use super::stream::{self, Stream};
use crate::security::quorum_auth::{
    is_auth, AuthError, Learner, LearnerStep, Packet, QuorumSasl, ServerStep,
};
use crate::security::sasl;
use std::io;
use std::rc::Rc;
use std::time::Duration;

/// The links' SASL set-up and bounds.
pub(crate) struct LinkSasl {
    cfg: QuorumSasl,
    /// The largest token taken (`jute.maxbuffer`).
    max: usize,
    /// How long an exchange may take.
    timeout: Duration,
}

/// The zab core's SASL for its links, if on.
pub(crate) type Shared = Option<Rc<LinkSasl>>;

/// Starts the links' SASL, when `cfg` turns it on.
pub(crate) fn start(cfg: Option<QuorumSasl>, max: usize, timeout: Duration) -> Shared {
    Some(Rc::new(LinkSasl {
        cfg: cfg?,
        max,
        timeout,
    }))
}

fn failed(e: AuthError) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, e)
}

fn no_nonce() -> io::Error {
    io::Error::other("no random bytes for a SASL nonce")
}

/// Reads one packet into `buf` (which may hold the start of it); what
/// follows it stays in `buf`.
async fn read_packet(stream: &mut Stream, buf: &mut Vec<u8>, max: usize) -> io::Result<Packet> {
    loop {
        if let Some((p, used)) = Packet::decode(buf, max).map_err(failed)? {
            buf.drain(..used);
            return Ok(p);
        }
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed during the SASL exchange",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Runs `f` on the learner: on the blocking pool when its steps may
/// block, else in place. The learner comes back with the result. (An
/// exchange that times out during a blocking step leaves that step to
/// finish on the pool; its learner is then never freed, a small leak per
/// such timeout.)
async fn run_step<T: Send + 'static>(
    mut l: Learner,
    f: impl FnOnce(&mut Learner) -> T + Send + 'static,
) -> (Learner, T) {
    if !l.blocking() {
        let r = f(&mut l);
        return (l, r);
    }
    glommio::executor()
        .spawn_blocking(move || {
            let r = f(&mut l);
            (l, r)
        })
        .await
}

/// The connecting side: authenticates to the peer at `host` (as its
/// `server.N` line names it) when `quorum.auth.learnerRequireSasl` says
/// so, else does nothing. An error means the link must not be used.
pub(crate) async fn learn(sasl: &Shared, stream: &mut Stream, host: &str) -> io::Result<()> {
    let Some(s) = sasl else { return Ok(()) };
    let Some(l) = s.cfg.learner(sasl::nonce().ok_or_else(no_nonce)?, host) else {
        return Ok(());
    };
    let mut buf = Vec::new();
    stream::within(
        s.timeout,
        async {
            let (mut l, first) = run_step(l, Learner::first).await;
            stream.write_all(&first.map_err(failed)?.encode()).await?;
            loop {
                let p = read_packet(stream, &mut buf, s.max).await?;
                let (back, step) = run_step(l, move |l| l.on_packet(p)).await;
                l = back;
                match step.map_err(failed)? {
                    LearnerStep::Send(next) => stream.write_all(&next.encode()).await?,
                    LearnerStep::Done => return Ok(()),
                }
            }
        },
        "did not finish the SASL exchange",
    )
    .await?;
    tracing::info!(peer = %host, "authenticated to the peer with SASL");
    // What the peer sent after its last packet is the link's.
    stream.unread(buf);
    Ok(())
}

/// The accepting side: looks at the next 8 bytes. A peer that does not
/// authenticate passes unless `quorum.auth.serverRequireSasl`; one that
/// does must succeed, or (without `serverRequireSasl`) passes with a
/// warning, as in ZooKeeper. An error means the link must be closed.
pub(crate) async fn serve(sasl: &Shared, stream: &mut Stream) -> io::Result<()> {
    let Some(s) = sasl else { return Ok(()) };
    let mut buf = Vec::new();
    let r = stream::within(
        s.timeout,
        exchange(s, stream, &mut buf),
        "did not finish the SASL exchange",
    )
    .await;
    // Whatever the outcome, bytes that were not the exchange's are the
    // link's.
    stream.unread(buf);
    match r {
        Ok(user) => {
            match user {
                Some(u) => tracing::info!(user = %u, "a peer authenticated with SASL"),
                None if s.cfg.server_required => {
                    return Err(failed(AuthError::Protocol(
                        "the peer is not trying to authenticate, and quorum.auth.serverRequireSasl=true",
                    )))
                }
                None => {}
            }
            Ok(())
        }
        Err(e) if s.cfg.server_required => Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "a peer failed SASL; keeping the link as quorum.auth.serverRequireSasl=false");
            Ok(())
        }
    }
}

/// Runs the accepting side's exchange: the user, or `None` when the
/// peer sent no authentication packet.
async fn exchange(
    s: &LinkSasl,
    stream: &mut Stream,
    buf: &mut Vec<u8>,
) -> io::Result<Option<String>> {
    loop {
        match is_auth(buf) {
            Some(false) => return Ok(None),
            Some(true) => break,
            None => {}
        }
        let mut chunk = [0u8; 64];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed before its first packet",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut server = s.cfg.server(sasl::nonce().ok_or_else(no_nonce)?);
    loop {
        let p = read_packet(stream, buf, s.max).await?;
        match server.on_packet(&s.cfg, p) {
            ServerStep::Send(reply) => stream.write_all(&reply.encode()).await?,
            ServerStep::Done { reply, user } => {
                stream.write_all(&reply.encode()).await?;
                return Ok(Some(user));
            }
            ServerStep::Failed { reply, why } => {
                stream.write_all(&reply.encode()).await?;
                return Err(failed(why));
            }
        }
    }
}
