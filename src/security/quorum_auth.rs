//! SASL between servers (`quorum.auth.*`), as ZooKeeper 3.8's
//! `SaslQuorumAuthLearner` and `SaslQuorumAuthServer` run it: the
//! set-up from the JAAS `QuorumLearner`/`QuorumServer` sections, the
//! `QuorumAuthPacket` codec, and both sides' exchanges. Pure logic: the
//! drivers (`server::quorum_auth`) move the packets and keep the time.
//!
//! - The connecting side (a learner to its leader, an election
//!   connection's initiator after its initial message) authenticates
//!   only with `quorum.auth.learnerRequireSasl=true`; otherwise it sends
//!   nothing.
//! - The accepting side looks at the next 8 bytes: the packet magic
//!   starts an exchange; anything else passes, unless
//!   `quorum.auth.serverRequireSasl=true`. A failed exchange is answered
//!   with an ERROR packet, and ends the link only with
//!   `serverRequireSasl`.
//! - A section with a `Krb5LoginModule` entry logs in with Kerberos
//!   (GSSAPI), as a Kerberos principal in the JAAS subject makes
//!   ZooKeeper's `SecurityUtils` choose GSSAPI; otherwise DIGEST-MD5.
//! - DIGEST-MD5 (protocol `zookeeper-quorum`, server
//!   `zk-quorum-sasl-md5`): the learner's `username`/`password`, the
//!   server's `user_<name>` options.
//! - GSSAPI: the learner's `keyTab`/`principal` initiate to the host-based
//!   service of `quorum.auth.kerberos.servicePrincipal` (default
//!   `zkquorum/localhost`; a host part `_HOST` becomes the peer's host from
//!   its `server.N` line); the server accepts with its own `keyTab` and
//!   `principal`. Initiator steps talk to the KDC: [`Learner::blocking`]
//!   tells the driver to run them off its executor.
//! - Either way the server authorizes a peer whose authorization id is its
//!   authentication id and, for a name `name/host@REALM`, whose host is
//!   one of the `server.N` lines' (`SaslQuorumServerCallbackHandler`).

use super::digest_md5::{ClientStep, DigestError, DigestMd5Client, DigestMd5Server, Step};
use super::gssapi::{Acceptor, Initiator};
use super::jaas::Jaas;
pub use super::sasl::Keytab;
use super::sasl::{
    section_login, GssStep, GssapiClient, GssapiServer, SaslError, SaslSetupError, SectionLogin,
};
use std::collections::{BTreeMap, BTreeSet};

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`, Java's `-0xa0dbcafecafe1234L`
/// (the negation of a negative hex literal).
pub const MAGIC: i64 = 0x5F24_3501_3501_EDCC;
/// `QuorumAuth.QUORUM_SERVER_PROTOCOL_NAME`.
pub const PROTOCOL: &str = "zookeeper-quorum";
/// `QuorumAuth.QUORUM_SERVER_SASL_DIGEST`: the server name and realm.
pub const SERVER_NAME: &str = "zk-quorum-sasl-md5";
/// The server's challenges before it gives up (`MAX_RETRIES`).
pub const MAX_RETRIES: u32 = 5;
/// The JAAS sections' default names.
pub const LEARNER_SECTION: &str = "QuorumLearner";
pub const SERVER_SECTION: &str = "QuorumServer";
/// `QuorumAuth.QUORUM_KERBEROS_SERVICE_PRINCIPAL_DEFAULT_VALUE`.
pub const DEFAULT_SERVICE_PRINCIPAL: &str = "zkquorum/localhost";
/// `SecurityUtils.QUORUM_HOSTNAME_PATTERN`.
pub const HOST_PATTERN: &str = "_HOST";

/// A packet's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Success,
    /// Also what an unknown status reads as (`Status.getStatus`).
    Error,
}

impl Status {
    fn code(self) -> i32 {
        match self {
            Status::InProgress => 0,
            Status::Success => 1,
            Status::Error => -1,
        }
    }

    fn from_code(c: i32) -> Status {
        match c {
            0 => Status::InProgress,
            1 => Status::Success,
            _ => Status::Error,
        }
    }
}

/// `QuorumAuthPacket { long magic; int status; buffer token }`, with no
/// length prefix of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub status: Status,
    /// `None` is jute's null buffer (length -1).
    pub token: Option<Vec<u8>>,
}

/// Why an exchange failed; the message is the log line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("not a quorum authentication packet (wrong magic number)")]
    NotAuth,
    #[error("authentication token of {len} bytes (at most {max}, jute.maxbuffer)")]
    TooLong { len: usize, max: usize },
    #[error("authentication token length {0}")]
    BadLength(i32),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("the peer refused the authentication")]
    Refused,
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error(transparent)]
    Gssapi(#[from] SaslError),
    #[error("{authcid} asked to act as {authzid}: not authorized")]
    NotAuthorized { authcid: String, authzid: String },
    #[error("{authzid}: host {host} is not one of the server.N lines' hosts: not authorized")]
    HostNotAuthorized { authzid: String, host: String },
    #[error("no answer after {MAX_RETRIES} challenges")]
    TooManyRounds,
}

impl Packet {
    pub fn new(status: Status, token: Vec<u8>) -> Packet {
        Packet {
            status,
            token: Some(token),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let t = self.token.as_deref();
        let mut b = Vec::with_capacity(16 + t.map_or(0, <[u8]>::len));
        b.extend_from_slice(&MAGIC.to_be_bytes());
        b.extend_from_slice(&self.status.code().to_be_bytes());
        match t {
            Some(t) => {
                let len = i32::try_from(t.len()).unwrap_or(i32::MAX);
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(t);
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        b
    }

    /// A whole packet at the start of `b` and the bytes it took, or
    /// `None` while more are needed. A token longer than `max` is an
    /// error before it is read.
    pub fn decode(b: &[u8], max: usize) -> Result<Option<(Packet, usize)>, AuthError> {
        if is_auth(b) == Some(false) {
            return Err(AuthError::NotAuth);
        }
        let Some(head) = b.get(..16) else {
            return Ok(None);
        };
        let int = |i: usize| i32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let status = Status::from_code(int(8));
        let len = int(12);
        let token_len = match len {
            -1 => {
                return Ok(Some((
                    Packet {
                        status,
                        token: None,
                    },
                    16,
                )))
            }
            n if n < 0 => return Err(AuthError::BadLength(n)),
            n => n as usize,
        };
        if token_len > max {
            return Err(AuthError::TooLong {
                len: token_len,
                max,
            });
        }
        let Some(token) = b.get(16..16 + token_len) else {
            return Ok(None);
        };
        Ok(Some((Packet::new(status, token.to_vec()), 16 + token_len)))
    }
}

/// Whether bytes a peer sent start with the packet magic: `None` while
/// fewer than 8 have come and those match (`QuorumAuth.nextPacketIsAuth`).
pub fn is_auth(b: &[u8]) -> Option<bool> {
    let magic = MAGIC.to_be_bytes();
    let n = b.len().min(8);
    if b[..n] != magic[..n] {
        Some(false)
    } else if n == 8 {
        Some(true)
    } else {
        None
    }
}

/// How the connecting side logs in.
#[derive(Clone, PartialEq, Eq)]
pub enum LearnerLogin {
    Digest { username: String, password: String },
    Kerberos(Keytab),
}

impl std::fmt::Debug for LearnerLogin {
    // No passwords in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LearnerLogin::Digest { username, .. } => f
                .debug_struct("Digest")
                .field("username", username)
                .finish_non_exhaustive(),
            LearnerLogin::Kerberos(k) => f.debug_tuple("Kerberos").field(k).finish(),
        }
    }
}

/// How the accepting side checks peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLogin {
    /// The `user_<name>` options.
    Digest {
        users: BTreeMap<String, String>,
    },
    Kerberos(Keytab),
}

/// The set-up, from zoo.cfg and the JAAS file.
#[derive(Clone, PartialEq, Eq)]
pub struct QuorumSasl {
    /// `quorum.auth.learnerRequireSasl`: authenticate when connecting.
    pub learner_required: bool,
    /// `quorum.auth.serverRequireSasl`: refuse a peer that does not.
    pub server_required: bool,
    /// The learner section's login (`None`: DIGEST-MD5 without a
    /// username and password, allowed while the learner need not
    /// authenticate).
    pub learner: Option<LearnerLogin>,
    /// The server section's login.
    pub server: ServerLogin,
    /// `quorum.auth.kerberos.servicePrincipal`: whom a Kerberos learner
    /// asks for.
    pub service_principal: String,
    /// The hosts of the `server.N` lines, as written: a Kerberos name
    /// `name/host@REALM` must have one of them (`authzHosts`).
    pub authz_hosts: BTreeSet<String>,
}

impl std::fmt::Debug for QuorumSasl {
    // No passwords in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = match &self.server {
            ServerLogin::Digest { users } => {
                format!("digest {:?}", users.keys().collect::<Vec<_>>())
            }
            ServerLogin::Kerberos(k) => format!("kerberos {}", k.principal),
        };
        f.debug_struct("QuorumSasl")
            .field("learner_required", &self.learner_required)
            .field("server_required", &self.server_required)
            .field("learner", &self.learner)
            .field("server", &server)
            .field("service_principal", &self.service_principal)
            .field("authz_hosts", &self.authz_hosts)
            .finish()
    }
}

/// Why the set-up cannot be used; each names the section.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuorumSaslError {
    #[error(
        "SASL-authentication failed because the specified JAAS configuration section '{0}' could not be found"
    )]
    NoSection(String),
    #[error(transparent)]
    Setup(#[from] SaslSetupError),
    #[error(
        "JAAS section '{0}' has no username and password, which quorum.auth.learnerRequireSasl=true needs"
    )]
    NoLearnerCredentials(String),
}

fn login(jaas: &Jaas, section: &str) -> Result<SectionLogin, QuorumSaslError> {
    let entries = jaas
        .section(section)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| QuorumSaslError::NoSection(section.to_string()))?;
    Ok(section_login(&entries, section)?)
}

impl QuorumSasl {
    /// The set-up from the `learner` and `server` sections of `jaas`.
    /// Both must be there, as ZooKeeper logs in with both at start. The
    /// service principal is the default and no host is authorized yet:
    /// the caller sets both from zoo.cfg.
    pub fn from_jaas(
        jaas: &Jaas,
        learner: &str,
        server: &str,
        learner_required: bool,
        server_required: bool,
    ) -> Result<QuorumSasl, QuorumSaslError> {
        let l = login(jaas, learner)?;
        let s = login(jaas, server)?;
        let learner_login = match l {
            SectionLogin::Kerberos(k) => Some(LearnerLogin::Kerberos(k)),
            SectionLogin::Digest(l) => match (l.get("username"), l.get("password")) {
                (Some(u), Some(p)) => Some(LearnerLogin::Digest {
                    username: u.clone(),
                    password: p.clone(),
                }),
                _ if learner_required => {
                    return Err(QuorumSaslError::NoLearnerCredentials(learner.into()))
                }
                _ => None,
            },
        };
        let server_login = match s {
            SectionLogin::Kerberos(k) => ServerLogin::Kerberos(k),
            SectionLogin::Digest(s) => ServerLogin::Digest {
                users: s
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
                    .collect(),
            },
        };
        Ok(QuorumSasl {
            learner_required,
            server_required,
            learner: learner_login,
            server: server_login,
            service_principal: DEFAULT_SERVICE_PRINCIPAL.to_string(),
            authz_hosts: BTreeSet::new(),
        })
    }

    /// A connecting side's exchange with the peer at `host` (as its
    /// `server.N` line names it), when it authenticates at all.
    pub fn learner(&self, cnonce: String, host: &str) -> Option<Learner> {
        let login = self.learner.as_ref().filter(|_| self.learner_required)?;
        Some(match login {
            LearnerLogin::Digest { username, password } => Learner::Digest(DigestMd5Client::new(
                PROTOCOL,
                SERVER_NAME,
                username,
                password,
                cnonce,
            )),
            LearnerLogin::Kerberos(k) => {
                let target = host_based_service(&server_principal(&self.service_principal, host));
                Learner::Gssapi(GssapiClient::new(Initiator::new(
                    &k.keytab,
                    &k.principal,
                    &target,
                )))
            }
        })
    }

    /// An accepting side's exchange.
    pub fn server(&self, nonce: String) -> Server {
        let mech = match &self.server {
            ServerLogin::Digest { .. } => {
                ServerMech::Digest(DigestMd5Server::new(PROTOCOL, SERVER_NAME, nonce))
            }
            ServerLogin::Kerberos(k) => ServerMech::Gssapi(GssapiServer::new(
                Acceptor::with_keytab(&k.principal, &k.keytab),
            )),
        };
        Server { mech, tries: 0 }
    }

    fn password(&self, user: &str) -> Option<String> {
        match &self.server {
            ServerLogin::Digest { users } => users.get(user).cloned(),
            ServerLogin::Kerberos(_) => None,
        }
    }
}

/// `SecurityUtils.getServerPrincipal`: a principal `name/_HOST` (two
/// parts split at `/`, the second exactly `_HOST`, so no realm) gets the
/// peer's host, lower-cased; any other stays as it is.
pub fn server_principal(config: &str, host: &str) -> String {
    match config.split('/').collect::<Vec<_>>()[..] {
        [name, HOST_PATTERN] => format!("{name}/{}", host.to_lowercase()),
        _ => config.to_string(),
    }
}

/// The GSS host-based service name (`service@host`) of a principal
/// `service/host[@REALM]`, as the JDK's `GssKrb5Client` builds it from
/// ZooKeeper's `KerberosName` service and host: the realm is not part of
/// it (the library finds the host's). A principal without a host names
/// the bare service.
pub fn host_based_service(principal: &str) -> String {
    let name = principal.split('@').next().unwrap_or(principal);
    match name.split_once('/') {
        Some((service, host)) => format!("{service}@{host}"),
        None => name.to_string(),
    }
}

/// `SaslQuorumServerCallbackHandler.handleAuthorizeCallback`: the ids must
/// match and, when the name splits at `/` and `@` into three parts, the
/// middle one (the host) must be one of `hosts`.
pub fn authorize(authcid: &str, authzid: &str, hosts: &BTreeSet<String>) -> Result<(), AuthError> {
    if authcid != authzid {
        return Err(AuthError::NotAuthorized {
            authcid: authcid.into(),
            authzid: authzid.into(),
        });
    }
    // Java's `split("[/@]")`: trailing empty parts dropped.
    let mut parts: Vec<&str> = authzid.split(['/', '@']).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    if let [_, host, _] = parts[..] {
        if !hosts.contains(host) {
            return Err(AuthError::HostNotAuthorized {
                authzid: authzid.into(),
                host: host.into(),
            });
        }
    }
    Ok(())
}

/// The connecting side's exchange.
#[derive(Debug)]
pub enum Learner {
    Digest(DigestMd5Client),
    Gssapi(GssapiClient),
}

/// What the connecting side does next.
#[derive(Debug, PartialEq, Eq)]
pub enum LearnerStep {
    Send(Packet),
    Done,
}

impl Learner {
    /// Whether its steps may block (on the KDC): GSSAPI's do.
    pub fn blocking(&self) -> bool {
        matches!(self, Learner::Gssapi(_))
    }

    /// The first packet: DIGEST-MD5 has no initial response, GSSAPI has.
    pub fn first(&mut self) -> Result<Packet, AuthError> {
        let token = match self {
            Learner::Digest(_) => Vec::new(),
            Learner::Gssapi(g) => g.first()?,
        };
        Ok(Packet::new(Status::InProgress, token))
    }

    /// Takes the server's packet.
    pub fn on_packet(&mut self, p: Packet) -> Result<LearnerStep, AuthError> {
        let token = p.token.unwrap_or_default();
        match self {
            Learner::Digest(d) => match p.status {
                Status::Error => Err(AuthError::Refused),
                Status::InProgress => match d.step(&token)? {
                    ClientStep::Respond(r) => {
                        Ok(LearnerStep::Send(Packet::new(Status::InProgress, r)))
                    }
                    ClientStep::Done => Err(AuthError::Protocol(
                        "the server went on after the exchange was complete",
                    )),
                },
                Status::Success => match d.step(&token)? {
                    ClientStep::Done => Ok(LearnerStep::Done),
                    ClientStep::Respond(_) => Err(AuthError::Protocol(
                        "attempting to send a response after completion",
                    )),
                },
            },
            // The JDK's client is complete once it has sent its
            // security-layer answer: the server's next status decides.
            Learner::Gssapi(g) => match (p.status, g.complete()) {
                (Status::Error, _) => Err(AuthError::Refused),
                (Status::Success, true) => Ok(LearnerStep::Done),
                (Status::Success, false) => Err(AuthError::Protocol(
                    "the server reported success before the exchange was complete",
                )),
                (Status::InProgress, true) => Err(AuthError::Protocol(
                    "the server went on after the exchange was complete",
                )),
                (Status::InProgress, false) => Ok(LearnerStep::Send(Packet::new(
                    Status::InProgress,
                    g.step(&token)?,
                ))),
            },
        }
    }
}

#[derive(Debug)]
enum ServerMech {
    Digest(DigestMd5Server),
    Gssapi(GssapiServer),
}

/// The accepting side's exchange.
#[derive(Debug)]
pub struct Server {
    mech: ServerMech,
    tries: u32,
}

/// What the accepting side does next.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this and wait for the next packet.
    Send(Packet),
    /// Authenticated as `user`: send the SUCCESS packet.
    Done { reply: Packet, user: String },
    /// Failed: send the ERROR packet.
    Failed { reply: Packet, why: AuthError },
}

impl Server {
    /// Takes the learner's packet (its status is not looked at, as in
    /// ZooKeeper).
    pub fn on_packet(&mut self, cfg: &QuorumSasl, p: Packet) -> ServerStep {
        let token = p.token.unwrap_or_default();
        let failed = |why: AuthError| ServerStep::Failed {
            reply: Packet::new(Status::Error, Vec::new()),
            why,
        };
        // The challenge, or the last token (`None`: a null one, as the
        // JDK's GSSAPI server ends) with the ids.
        let step = match &mut self.mech {
            ServerMech::Digest(d) => match d.step(&token, &|u| cfg.password(u)) {
                Err(e) => return failed(e.into()),
                Ok(Step::Challenge(c)) => Err(c),
                Ok(Step::Done {
                    token,
                    authcid,
                    authzid,
                }) => Ok((Some(token), authcid, authzid)),
            },
            ServerMech::Gssapi(g) => match g.step(&token) {
                Err(e) => return failed(e.into()),
                Ok(GssStep::Send(c)) => Err(c),
                Ok(GssStep::Done { authcid, authzid }) => Ok((None, authcid, authzid)),
            },
        };
        match step {
            Err(challenge) => {
                self.tries += 1;
                if self.tries > MAX_RETRIES {
                    return ServerStep::Failed {
                        reply: Packet::new(Status::Error, challenge),
                        why: AuthError::TooManyRounds,
                    };
                }
                ServerStep::Send(Packet::new(Status::InProgress, challenge))
            }
            Ok((token, authcid, authzid)) => {
                if let Err(why) = authorize(&authcid, &authzid, &cfg.authz_hosts) {
                    return failed(why);
                }
                ServerStep::Done {
                    reply: Packet {
                        status: Status::Success,
                        token,
                    },
                    user: authcid,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::jaas;

    fn cfg(learner_pw: &str) -> QuorumSasl {
        let text = format!(
            r#"QuorumServer {{
                org.apache.zookeeper.server.auth.DigestLoginModule required
                user_peer="s3cret";
            }};
            QuorumLearner {{
                org.apache.zookeeper.server.auth.DigestLoginModule required
                username="peer" password="{learner_pw}";
            }};"#
        );
        let j = jaas::parse(&text, &BTreeMap::new()).unwrap();
        QuorumSasl::from_jaas(&j, LEARNER_SECTION, SERVER_SECTION, true, true).unwrap()
    }

    /// Runs both sides against each other through the codec.
    fn exchange(
        learner: &QuorumSasl,
        server: &QuorumSasl,
    ) -> (Result<(), AuthError>, Option<String>) {
        let mut l = learner.learner("cn".into(), "h").unwrap();
        assert!(!l.blocking());
        let mut s = server.server("n".into());
        let mut wire = l.first().unwrap().encode();
        loop {
            let (p, used) = Packet::decode(&wire, 1 << 20).unwrap().unwrap();
            assert_eq!(used, wire.len());
            let (reply, user, why) = match s.on_packet(server, p) {
                ServerStep::Send(r) => (r, None, None),
                ServerStep::Done { reply, user } => (reply, Some(user), None),
                ServerStep::Failed { reply, why } => (reply, None, Some(why)),
            };
            let (p, _) = Packet::decode(&reply.encode(), 1 << 20).unwrap().unwrap();
            match l.on_packet(p) {
                Ok(LearnerStep::Send(next)) => wire = next.encode(),
                Ok(LearnerStep::Done) => return (Ok(()), user),
                Err(e) => {
                    if let Some(why) = why {
                        return (Err(why), None);
                    }
                    return (Err(e), user);
                }
            }
        }
    }

    #[test]
    fn a_learner_with_the_password_authenticates() {
        let c = cfg("s3cret");
        assert_eq!(exchange(&c, &c), (Ok(()), Some("peer".into())));
    }

    #[test]
    fn a_wrong_password_is_refused_on_both_sides() {
        let (r, user) = exchange(&cfg("wrong"), &cfg("s3cret"));
        assert!(
            matches!(r, Err(AuthError::Digest(DigestError::Mismatch(_)))),
            "{r:?}"
        );
        assert_eq!(user, None);
    }

    #[test]
    fn the_packet_codec_matches_zookeepers_bytes() {
        let p = Packet::new(Status::InProgress, Vec::new());
        assert_eq!(
            p.encode(),
            [0x5F, 0x24, 0x35, 0x01, 0x35, 0x01, 0xED, 0xCC, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let null = Packet {
            status: Status::Success,
            token: None,
        };
        let b = null.encode();
        assert_eq!(Packet::decode(&b, 10), Ok(Some((null, 16))));
        // Bytes trickling in: undecided until whole.
        let full = Packet::new(Status::Error, b"abc".to_vec()).encode();
        for n in 0..full.len() {
            assert_eq!(Packet::decode(&full[..n], 10), Ok(None), "{n}");
        }
        // An unknown status reads as ERROR.
        let mut odd = full.clone();
        odd[11] = 7;
        assert_eq!(
            Packet::decode(&odd, 10).unwrap().unwrap().0.status,
            Status::Error
        );
        // Hostile lengths and a wrong magic.
        let mut long = full.clone();
        long[12..16].copy_from_slice(&1_000_000i32.to_be_bytes());
        assert!(matches!(
            Packet::decode(&long, 10),
            Err(AuthError::TooLong { .. })
        ));
        long[12..16].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(Packet::decode(&long, 10), Err(AuthError::BadLength(-2)));
        assert_eq!(
            Packet::decode(&[0, 0, 0, 0, 0, 0, 0, 1], 10),
            Err(AuthError::NotAuth)
        );
        assert_eq!(is_auth(&[0x5F, 0x24]), None);
        assert_eq!(is_auth(&[0x5F, 0x25]), Some(false));
        assert_eq!(is_auth(&full), Some(true));
    }

    #[test]
    fn the_sections_are_checked() {
        let parse = |t: &str| jaas::parse(t, &BTreeMap::new()).unwrap();
        let both = |server: &str, learner: &str| {
            parse(&format!(
                "QuorumServer {{ {server}; }}; QuorumLearner {{ {learner}; }};"
            ))
        };
        let digest = "org.apache.zookeeper.server.auth.DigestLoginModule required";
        let from = |j: &Jaas, required: bool| {
            QuorumSasl::from_jaas(j, LEARNER_SECTION, SERVER_SECTION, required, false)
        };
        assert_eq!(
            from(&parse(&format!("QuorumServer {{ {digest}; }};")), false),
            Err(QuorumSaslError::NoSection("QuorumLearner".into()))
        );
        // No credentials: fine unless the learner must authenticate.
        let j = both(digest, digest);
        assert!(from(&j, false).is_ok());
        assert!(from(&j, false).unwrap().learner("c".into(), "h").is_none());
        assert_eq!(
            from(&j, true),
            Err(QuorumSaslError::NoLearnerCredentials(
                "QuorumLearner".into()
            ))
        );
        // Kerberos: a keytab and a principal, on either side; a learner
        // that must authenticate initiates (its steps block).
        let krb = |p: &str| {
            format!("com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k/{p}\" principal=\"{p}/localhost@EXAMPLE.COM\"")
        };
        let q = from(&both(&krb("zkquorum"), &krb("learner")), true).unwrap();
        let keytab = |p: &str| Keytab {
            keytab: format!("/k/{p}"),
            principal: format!("{p}/localhost@EXAMPLE.COM"),
        };
        assert_eq!(q.learner, Some(LearnerLogin::Kerberos(keytab("learner"))));
        assert_eq!(q.server, ServerLogin::Kerberos(keytab("zkquorum")));
        assert_eq!(q.service_principal, "zkquorum/localhost");
        assert!(q.learner("c".into(), "h").unwrap().blocking());
        // Kerberos wins over DIGEST in one section, as a principal in the
        // JAAS subject makes ZooKeeper choose GSSAPI.
        let mixed = both(
            &format!("{digest} user_a=\"b\"; {}", krb("zkquorum")),
            digest,
        );
        assert_eq!(
            from(&mixed, false).unwrap().server,
            ServerLogin::Kerberos(keytab("zkquorum"))
        );
        // Without a keytab login: refused, naming the section.
        for bad in [
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\"",
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal=\"p\"",
            "com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true keyTab=\"/k\" principal=\"p\"",
            "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=false keyTab=\"/k\" principal=\"p\"",
        ] {
            assert_eq!(
                from(&both(digest, bad), false),
                Err(QuorumSaslError::Setup(SaslSetupError::Kerberos { section: "QuorumLearner".into() })),
                "{bad}"
            );
            assert_eq!(
                from(&both(bad, digest), false),
                Err(QuorumSaslError::Setup(SaslSetupError::Kerberos { section: "QuorumServer".into() })),
                "{bad}"
            );
        }
        let e = QuorumSaslError::Setup(SaslSetupError::Kerberos {
            section: "QuorumLearner".into(),
        })
        .to_string();
        assert!(
            e.contains("'QuorumLearner'") && e.contains("useKeyTab=true"),
            "{e}"
        );
        assert!(matches!(
            from(&both("a.B required", digest), false),
            Err(QuorumSaslError::Setup(SaslSetupError::UnknownModule { .. }))
        ));
    }

    #[test]
    fn the_host_pattern_becomes_the_peers_host_as_zookeeper_substitutes_it() {
        assert_eq!(
            server_principal("zkquorum/_HOST", "ZK1.Example.com"),
            "zkquorum/zk1.example.com"
        );
        // Only a whole host part without a realm is the pattern.
        for same in [
            "zkquorum/localhost",
            "zkquorum/_HOST@EXAMPLE.COM",
            "zkquorum/_host",
            "zkquorum",
            "a/_HOST/b",
        ] {
            assert_eq!(server_principal(same, "h"), same);
        }
        assert_eq!(
            host_based_service("zkquorum/localhost"),
            "zkquorum@localhost"
        );
        assert_eq!(
            host_based_service("zkquorum/h.example.com@EXAMPLE.COM"),
            "zkquorum@h.example.com"
        );
        assert_eq!(host_based_service("zkquorum@EXAMPLE.COM"), "zkquorum");
        // The learner asks for the service at the peer's host.
        let mut c = cfg("s3cret");
        c.learner = Some(LearnerLogin::Kerberos(Keytab {
            keytab: "/k".into(),
            principal: "learner/h1@EXAMPLE.COM".into(),
        }));
        c.service_principal = "zkquorum/_HOST".into();
        let l = format!("{:?}", c.learner("c".into(), "Peer2").unwrap());
        assert!(l.contains("zkquorum@peer2"), "{l}");
    }

    #[test]
    fn only_a_peer_acting_as_itself_from_a_listed_host_is_authorized() {
        let hosts: BTreeSet<String> = ["zk1.example.com", "127.0.0.1"].map(String::from).into();
        let ok = |a: &str| authorize(a, a, &hosts);
        assert_eq!(ok("learner/zk1.example.com@EXAMPLE.COM"), Ok(()));
        assert_eq!(ok("learner/127.0.0.1@EXAMPLE.COM"), Ok(()));
        // Not three parts: no host to check.
        assert_eq!(ok("peer"), Ok(()));
        assert_eq!(ok("learner@EXAMPLE.COM"), Ok(()));
        assert_eq!(ok("learner/elsewhere"), Ok(()));
        // Java's split drops trailing empty parts.
        assert_eq!(ok("learner/elsewhere@"), Ok(()));
        assert_eq!(
            ok("learner/zk9.example.com@EXAMPLE.COM"),
            Err(AuthError::HostNotAuthorized {
                authzid: "learner/zk9.example.com@EXAMPLE.COM".into(),
                host: "zk9.example.com".into()
            })
        );
        // The host is compared as written.
        assert!(ok("learner/ZK1.example.com@EXAMPLE.COM").is_err());
        assert!(ok("a/zk9.example.com/c").is_err());
        assert!(matches!(
            authorize(
                "learner/zk1.example.com@EXAMPLE.COM",
                "other@EXAMPLE.COM",
                &hosts
            ),
            Err(AuthError::NotAuthorized { .. })
        ));
    }

    #[test]
    fn a_gssapi_learner_follows_the_servers_statuses() {
        let mut c = cfg("s3cret");
        c.learner = Some(LearnerLogin::Kerberos(Keytab {
            keytab: "/nonexistent".into(),
            principal: "learner/h@EXAMPLE.COM".into(),
        }));
        let mut l = c.learner("c".into(), "h").unwrap();
        // A refusal ends it before any GSS-API call; SUCCESS before the
        // exchange is complete is a protocol error.
        assert_eq!(
            l.on_packet(Packet::new(Status::Error, Vec::new())),
            Err(AuthError::Refused)
        );
        assert!(matches!(
            l.on_packet(Packet::new(Status::Success, Vec::new())),
            Err(AuthError::Protocol(_))
        ));
    }

    #[test]
    fn garbage_from_a_learner_fails_the_exchange() {
        let c = cfg("s3cret");
        let mut s = c.server("n".into());
        // Every packet an empty token: the first gets a challenge, the
        // next fail the digest step.
        assert!(matches!(
            s.on_packet(&c, Packet::new(Status::InProgress, Vec::new())),
            ServerStep::Send(_)
        ));
        assert!(matches!(
            s.on_packet(&c, Packet::new(Status::InProgress, b"garbage\xff".to_vec())),
            ServerStep::Failed { .. }
        ));
    }

    proptest::proptest! {
        #[test]
        fn decoding_any_bytes_never_panics_and_round_trips(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            prefix in proptest::prelude::any::<bool>(),
        ) {
            let mut b = if prefix { MAGIC.to_be_bytes().to_vec() } else { Vec::new() };
            b.extend_from_slice(&bytes);
            if let Ok(Some((p, n))) = Packet::decode(&b, 32) {
                proptest::prop_assert!(n <= b.len());
                // Statuses other than 0, 1 and -1 read as ERROR.
                if matches!(i32::from_be_bytes([b[8], b[9], b[10], b[11]]), -1..=1) {
                    proptest::prop_assert_eq!(&p.encode()[..], &b[..n]);
                }
            }
        }
    }
}
