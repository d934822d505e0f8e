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
//! - DIGEST-MD5 only (protocol `zookeeper-quorum`, server
//!   `zk-quorum-sasl-md5`): the learner's `username`/`password`, the
//!   server's `user_<name>` options. The server authorizes a peer whose
//!   authorization id is its authentication id.

use super::digest_md5::{ClientStep, DigestError, DigestMd5Client, DigestMd5Server, Step};
use super::jaas::Jaas;
use super::sasl::{DIGEST_LOGIN_MODULE, KRB5_LOGIN_MODULE};
use std::collections::BTreeMap;

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
    #[error("{authcid} asked to act as {authzid}: not authorized")]
    NotAuthorized { authcid: String, authzid: String },
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

/// The set-up, from zoo.cfg and the JAAS file.
#[derive(Clone, PartialEq, Eq)]
pub struct QuorumSasl {
    /// `quorum.auth.learnerRequireSasl`: authenticate when connecting.
    pub learner_required: bool,
    /// `quorum.auth.serverRequireSasl`: refuse a peer that does not.
    pub server_required: bool,
    /// The learner section's `username` and `password`.
    pub learner: Option<(String, String)>,
    /// The server section's `user_<name>` options.
    pub users: BTreeMap<String, String>,
}

impl std::fmt::Debug for QuorumSasl {
    // No passwords in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumSasl")
            .field("learner_required", &self.learner_required)
            .field("server_required", &self.server_required)
            .field("learner", &self.learner.as_ref().map(|(u, _)| u))
            .field("users", &self.users.keys().collect::<Vec<_>>())
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
    #[error(
        "JAAS section '{0}' logs in with Kerberos: Kerberos between servers is not supported by corral yet (DIGEST-MD5 is)"
    )]
    Kerberos(String),
    #[error("JAAS section '{section}': unknown login module {class}")]
    UnknownModule { section: String, class: String },
    #[error(
        "JAAS section '{0}' has no username and password, which quorum.auth.learnerRequireSasl=true needs"
    )]
    NoLearnerCredentials(String),
}

impl QuorumSasl {
    /// The set-up from the `learner` and `server` sections of `jaas`.
    /// Both must be there, as ZooKeeper logs in with both at start.
    pub fn from_jaas(
        jaas: &Jaas,
        learner: &str,
        server: &str,
        learner_required: bool,
        server_required: bool,
    ) -> Result<QuorumSasl, QuorumSaslError> {
        let options = |section: &str| -> Result<BTreeMap<String, String>, QuorumSaslError> {
            let entries = jaas
                .section(section)
                .filter(|e| !e.is_empty())
                .ok_or_else(|| QuorumSaslError::NoSection(section.to_string()))?;
            let mut all = BTreeMap::new();
            for e in entries {
                match e.class.as_str() {
                    DIGEST_LOGIN_MODULE => {}
                    KRB5_LOGIN_MODULE => return Err(QuorumSaslError::Kerberos(section.into())),
                    other => {
                        return Err(QuorumSaslError::UnknownModule {
                            section: section.into(),
                            class: other.into(),
                        })
                    }
                }
                all.extend(e.options.clone());
            }
            Ok(all)
        };
        let l = options(learner)?;
        let s = options(server)?;
        let creds = match (l.get("username"), l.get("password")) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ if learner_required => {
                return Err(QuorumSaslError::NoLearnerCredentials(learner.into()))
            }
            _ => None,
        };
        let users = s
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
            .collect();
        Ok(QuorumSasl {
            learner_required,
            server_required,
            learner: creds,
            users,
        })
    }

    /// A connecting side's exchange, when it authenticates at all.
    pub fn learner(&self, cnonce: String) -> Option<Learner> {
        let (user, pw) = self.learner.as_ref().filter(|_| self.learner_required)?;
        Some(Learner(DigestMd5Client::new(
            PROTOCOL,
            SERVER_NAME,
            user,
            pw,
            cnonce,
        )))
    }

    /// An accepting side's exchange.
    pub fn server(&self, nonce: String) -> Server {
        Server {
            digest: DigestMd5Server::new(PROTOCOL, SERVER_NAME, nonce),
            tries: 0,
        }
    }
}

/// The connecting side's exchange.
#[derive(Debug)]
pub struct Learner(DigestMd5Client);

/// What the connecting side does next.
#[derive(Debug, PartialEq, Eq)]
pub enum LearnerStep {
    Send(Packet),
    Done,
}

impl Learner {
    /// The first packet: DIGEST-MD5 has no initial response.
    pub fn first(&self) -> Packet {
        Packet::new(Status::InProgress, Vec::new())
    }

    /// Takes the server's packet.
    pub fn on_packet(&mut self, p: Packet) -> Result<LearnerStep, AuthError> {
        let token = p.token.unwrap_or_default();
        match p.status {
            Status::Error => Err(AuthError::Refused),
            Status::InProgress => match self.0.step(&token)? {
                ClientStep::Respond(r) => Ok(LearnerStep::Send(Packet::new(Status::InProgress, r))),
                ClientStep::Done => Err(AuthError::Protocol(
                    "the server went on after the exchange was complete",
                )),
            },
            Status::Success => match self.0.step(&token)? {
                ClientStep::Done => Ok(LearnerStep::Done),
                ClientStep::Respond(_) => Err(AuthError::Protocol(
                    "attempting to send a response after completion",
                )),
            },
        }
    }
}

/// The accepting side's exchange.
#[derive(Debug)]
pub struct Server {
    digest: DigestMd5Server,
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
        match self.digest.step(&token, &|u| cfg.users.get(u).cloned()) {
            Err(e) => failed(e.into()),
            Ok(Step::Challenge(c)) => {
                self.tries += 1;
                if self.tries > MAX_RETRIES {
                    return ServerStep::Failed {
                        reply: Packet::new(Status::Error, c),
                        why: AuthError::TooManyRounds,
                    };
                }
                ServerStep::Send(Packet::new(Status::InProgress, c))
            }
            Ok(Step::Done {
                token,
                authcid,
                authzid,
            }) => {
                // SaslQuorumServerCallbackHandler: the ids must match
                // (a host check applies to Kerberos names only).
                if authcid != authzid {
                    return failed(AuthError::NotAuthorized { authcid, authzid });
                }
                ServerStep::Done {
                    reply: Packet::new(Status::Success, token),
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
        let mut l = learner.learner("cn".into()).unwrap();
        let mut s = server.server("n".into());
        let mut wire = l.first().encode();
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
        assert!(from(&j, false).unwrap().learner("c".into()).is_none());
        assert_eq!(
            from(&j, true),
            Err(QuorumSaslError::NoLearnerCredentials(
                "QuorumLearner".into()
            ))
        );
        let krb = "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k\" principal=\"zkquorum/localhost\"";
        assert_eq!(
            from(&both(digest, krb), false),
            Err(QuorumSaslError::Kerberos("QuorumLearner".into()))
        );
        assert!(matches!(
            from(&both("a.B required", digest), false),
            Err(QuorumSaslError::UnknownModule { .. })
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
