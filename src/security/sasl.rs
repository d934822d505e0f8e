//! SASL on the client port, as ZooKeeper's `ZooKeeperSaslServer` and
//! `SaslServerCallbackHandler` run it: the mechanism comes from the JAAS
//! `Server` section (`jaas`): DIGEST-MD5 with its `user_<name>` options,
//! or GSSAPI (Kerberos, RFC 4752) with the keytab and principal of a
//! `Krb5LoginModule`. Each connection runs its own exchange (`Session`),
//! and a finished exchange gives the connection a `sasl` ACL id built from
//! the authenticated name as ZooKeeper's `KerberosName` rules build it.
//!
//! [`ServerSasl::from_jaas`] reads nothing itself; the caller reads the
//! file and sets the Kerberos acceptor up at start-up. DIGEST sessions are
//! pure; GSSAPI ones call the system's GSS-API library (`gssapi`).

use super::digest_md5::{DigestError, DigestMd5Server, Step};
use super::gssapi::{Accepted, Acceptor, GssError, Initiated, Initiator};
use super::jaas::{Entry, Jaas};
use crate::data::acl::KerberosName;
use std::collections::BTreeMap;

/// ZooKeeper's DIGEST login module: users are `user_<name>` options.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
/// The JDK's Kerberos login module (GSSAPI).
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// A problem with the JAAS section, found at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslSetupError {
    #[error("JAAS section '{section}': {KRB5_LOGIN_MODULE} needs useKeyTab=true, keyTab and principal (corral reads no ticket cache)")]
    Kerberos { section: String },
    #[error("JAAS section '{section}': no login module {class} (corral has {DIGEST_LOGIN_MODULE} and {KRB5_LOGIN_MODULE})")]
    UnknownModule { section: String, class: String },
}

/// A `Krb5LoginModule` login: `useKeyTab=true` with `keyTab` and
/// `principal` (corral reads no ticket cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keytab {
    pub keytab: String,
    pub principal: String,
}

/// What a JAAS section logs in with, as ZooKeeper's `Login` makes the
/// subject: a Kerberos principal (the first `Krb5LoginModule` entry)
/// selects GSSAPI; otherwise the options of its `DigestLoginModule`
/// entries (`user_<name>`, `username`, `password`) are DIGEST-MD5's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionLogin {
    Digest(BTreeMap<String, String>),
    Kerberos(Keytab),
}

/// Reads the login of section `section`'s `entries`.
pub fn section_login(entries: &[&Entry], section: &str) -> Result<SectionLogin, SaslSetupError> {
    let mut options = BTreeMap::new();
    let mut kerberos = None;
    for e in entries {
        match e.class.as_str() {
            DIGEST_LOGIN_MODULE => {}
            KRB5_LOGIN_MODULE => {
                let opt = |k: &str| {
                    e.options
                        .get(k)
                        .map(String::as_str)
                        .filter(|v| !v.is_empty())
                };
                match (opt("useKeyTab"), opt("keyTab"), opt("principal")) {
                    (Some(u), Some(k), Some(p)) if u.eq_ignore_ascii_case("true") => {
                        kerberos.get_or_insert(Keytab {
                            keytab: k.to_string(),
                            principal: p.to_string(),
                        });
                    }
                    _ => {
                        return Err(SaslSetupError::Kerberos {
                            section: section.to_string(),
                        })
                    }
                }
            }
            other => {
                return Err(SaslSetupError::UnknownModule {
                    section: section.to_string(),
                    class: other.to_string(),
                })
            }
        }
        options.extend(e.options.clone());
    }
    Ok(match kerberos {
        Some(k) => SectionLogin::Kerberos(k),
        None => SectionLogin::Digest(options),
    })
}

/// How names become ACL ids (`SaslServerCallbackHandler.handleAuthorizeCallback`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    /// `zookeeper.kerberos.removeHostFromPrincipal`.
    pub remove_host: bool,
    /// `zookeeper.kerberos.removeRealmFromPrincipal`.
    pub remove_realm: bool,
    /// The Kerberos default realm (krb5.conf), for the `DEFAULT` rule.
    pub default_realm: Option<String>,
}

impl Naming {
    /// The `sasl` id of a client that proved `authcid` and asked to act as
    /// `authzid`; `None` when the name is malformed (ZooKeeper then fails
    /// the exchange with an exception).
    pub fn authorized_id(&self, authcid: &str, authzid: &str) -> Option<String> {
        let k = KerberosName::parse(authcid)?;
        // No rule applies: ZooKeeper logs it and keeps the authzid.
        let Some(mut name) = k.short_name(self.default_realm.as_deref()) else {
            return Some(authzid.to_string());
        };
        if let (false, Some(h)) = (self.remove_host, &k.host) {
            name.push('/');
            name.push_str(h);
        }
        if let (false, Some(r)) = (self.remove_realm, &k.realm) {
            name.push('@');
            name.push_str(r);
        }
        Some(name)
    }
}

/// The mechanism a JAAS section selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// DIGEST-MD5: the users and passwords of `user_<name>` options.
    Digest { users: BTreeMap<String, String> },
    /// GSSAPI: the acceptor's keytab and principal.
    Kerberos { keytab: String, principal: String },
}

/// The server's SASL set-up, from the JAAS section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSasl {
    pub mechanism: Mechanism,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the password
    /// of the user `super`, when the section names that user.
    pub super_password: Option<String>,
    pub naming: Naming,
}

impl ServerSasl {
    /// Builds the set-up from section `section` of `jaas`; `Ok(None)` when
    /// the file has no such section (ZooKeeper then runs without SASL). A
    /// `Krb5LoginModule` entry selects GSSAPI, as a Kerberos principal in
    /// the login subject does in ZooKeeper.
    pub fn from_jaas(
        jaas: &Jaas,
        section: &str,
        super_password: Option<String>,
        naming: Naming,
    ) -> Result<Option<ServerSasl>, SaslSetupError> {
        let Some(entries) = jaas.section(section) else {
            return Ok(None);
        };
        let mechanism = match section_login(&entries, section)? {
            SectionLogin::Kerberos(k) => Mechanism::Kerberos {
                keytab: k.keytab,
                principal: k.principal,
            },
            SectionLogin::Digest(options) => Mechanism::Digest {
                users: options
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v)))
                    .collect(),
            },
        };
        Ok(Some(ServerSasl {
            mechanism,
            super_password,
            naming,
        }))
    }

    /// The users the section names (DIGEST-MD5).
    pub fn user_count(&self) -> usize {
        match &self.mechanism {
            Mechanism::Digest { users } => users.len(),
            Mechanism::Kerberos { .. } => 0,
        }
    }

    /// A user's password (`handlePasswordCallback`): only users the section
    /// names have one; `super`'s may come from the system property.
    fn password(&self, user: &str) -> Option<String> {
        let Mechanism::Digest { users } = &self.mechanism else {
            return None;
        };
        let pw = users.get(user)?;
        match (&self.super_password, user) {
            (Some(p), "super") => Some(p.clone()),
            _ => Some(pw.clone()),
        }
    }

    /// A new connection's exchange; `nonce` is fresh random text.
    pub fn session(&self, nonce: String) -> Session {
        Session(match &self.mechanism {
            Mechanism::Digest { .. } => Mech::Digest(DigestMd5Server::zookeeper(nonce)),
            Mechanism::Kerberos { principal, .. } => {
                Mech::Gssapi(GssapiServer::new(Acceptor::new(principal)))
            }
        })
    }
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("GSSAPI: {0}")]
    Gss(#[from] GssError),
    #[error("GSSAPI: {0}")]
    Gssapi(&'static str),
    #[error("malformed name {0:?}")]
    BadName(String),
}

/// What a connection's step gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send the token; the exchange goes on.
    Continue(Vec<u8>),
    /// Send the token (`None`: a null one); the connection is now
    /// `sasl:<id>`.
    Authenticated { token: Option<Vec<u8>>, id: String },
}

/// Where a GSSAPI exchange is (the JDK's `GssKrb5Server` stages).
#[derive(Debug)]
enum GssStage {
    /// Establishing the security context.
    Context,
    /// Established with the server's last token sent: the client answers
    /// with an empty token.
    Established {
        peer: String,
    },
    /// The security-layer offer sent: the client answers with its choice.
    Layers {
        peer: String,
    },
    Finished,
}

#[derive(Debug)]
enum Mech {
    Digest(DigestMd5Server),
    Gssapi(GssapiServer),
}

/// One connection's exchange.
#[derive(Debug)]
pub struct Session(Mech);

/// RFC 4752's security-layer bit for "no security layer", the only one
/// ZooKeeper's server offers (quality of protection `auth`).
const NO_SECURITY_LAYER: u8 = 1;
/// The largest message the server takes (the JDK's default, 65536).
const MAX_BUF: [u8; 3] = [0x01, 0x00, 0x00];

impl Session {
    pub fn step(&mut self, server: &ServerSasl, token: &[u8]) -> Result<Outcome, SaslError> {
        let (authcid, authzid, token) = match &mut self.0 {
            Mech::Digest(d) => match d.step(token, &|u| server.password(u))? {
                Step::Challenge(c) => return Ok(Outcome::Continue(c)),
                Step::Done {
                    token,
                    authcid,
                    authzid,
                } => (authcid, authzid, Some(token)),
            },
            Mech::Gssapi(g) => match g.step(token)? {
                GssStep::Send(t) => return Ok(Outcome::Continue(t)),
                GssStep::Done { authcid, authzid } => (authcid, authzid, None),
            },
        };
        let id = server
            .naming
            .authorized_id(&authcid, &authzid)
            .ok_or(SaslError::BadName(authcid))?;
        Ok(Outcome::Authenticated { token, id })
    }
}

/// What a GSSAPI server step gives.
#[derive(Debug, PartialEq, Eq)]
pub enum GssStep {
    /// Send this token; the client answers.
    Send(Vec<u8>),
    /// Complete (nothing more to send): the client proved `authcid` (its
    /// principal, with the realm) and asks to act as `authzid`.
    Done { authcid: String, authzid: String },
}

/// The server side of a GSSAPI exchange, as the JDK's `GssKrb5Server`
/// runs it (quality of protection `auth` only).
#[derive(Debug)]
pub struct GssapiServer {
    acceptor: Acceptor,
    stage: GssStage,
}

impl GssapiServer {
    pub fn new(acceptor: Acceptor) -> GssapiServer {
        GssapiServer {
            acceptor,
            stage: GssStage::Context,
        }
    }

    /// One step, as `GssKrb5Server.evaluateResponse` takes it.
    pub fn step(&mut self, token: &[u8]) -> Result<GssStep, SaslError> {
        let a = &mut self.acceptor;
        let offer = |a: &mut Acceptor| {
            let mut m = vec![NO_SECURITY_LAYER];
            m.extend_from_slice(&MAX_BUF);
            a.wrap(&m)
        };
        match std::mem::replace(&mut self.stage, GssStage::Finished) {
            GssStage::Context => match a.step(token)? {
                Accepted::Continue(t) => {
                    self.stage = GssStage::Context;
                    Ok(GssStep::Send(t))
                }
                Accepted::Done { token, peer } if token.is_empty() => {
                    let t = offer(a)?;
                    self.stage = GssStage::Layers { peer };
                    Ok(GssStep::Send(t))
                }
                Accepted::Done { token, peer } => {
                    self.stage = GssStage::Established { peer };
                    Ok(GssStep::Send(token))
                }
            },
            GssStage::Established { peer } => {
                if !token.is_empty() {
                    return Err(SaslError::Gssapi(
                        "final handshake step should return empty",
                    ));
                }
                let t = offer(a)?;
                self.stage = GssStage::Layers { peer };
                Ok(GssStep::Send(t))
            }
            GssStage::Layers { peer } => {
                let m = a.unwrap(token)?;
                let (layers, authzid) = layers_answer(&m)?;
                if layers & NO_SECURITY_LAYER == 0 {
                    return Err(SaslError::Gssapi(
                        "the client selected an unsupported protection",
                    ));
                }
                let authzid = authzid.unwrap_or_else(|| peer.clone());
                Ok(GssStep::Done {
                    authcid: peer,
                    authzid,
                })
            }
            GssStage::Finished => Err(SaslError::Gssapi("authentication already completed")),
        }
    }
}

/// The client's security-layer answer (RFC 4752 §3.1): its layer, and the
/// authorization id that follows the 4-byte head, if any.
fn layers_answer(m: &[u8]) -> Result<(u8, Option<String>), SaslError> {
    if m.len() < 4 {
        return Err(SaslError::Gssapi("the security-layer answer is too short"));
    }
    let authzid = (m.len() > 4).then(|| String::from_utf8_lossy(&m[4..]).into_owned());
    Ok((m[0], authzid))
}

/// The client's security-layer answer to `offer` (the unwrapped 4 bytes
/// from the server): no security layer, so a receive buffer of 0 (RFC 4752
/// §3.1), then the authorization id, as the JDK's `GssKrb5Client` sends
/// them.
fn layers_reply(offer: &[u8], authzid: &str) -> Result<Vec<u8>, SaslError> {
    if offer.len() != 4 {
        return Err(SaslError::Gssapi(
            "the server's security-layer offer is not 4 bytes",
        ));
    }
    if offer[0] & NO_SECURITY_LAYER == 0 {
        return Err(SaslError::Gssapi(
            "the server does not offer to go without a security layer",
        ));
    }
    let mut m = vec![NO_SECURITY_LAYER, 0, 0, 0];
    m.extend_from_slice(authzid.as_bytes());
    Ok(m)
}

/// Where a GSSAPI client is (the JDK's `GssKrb5Client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStage {
    /// Establishing the security context.
    Context,
    /// Established: the next token is the server's security-layer offer.
    Layers,
    /// The answer sent: complete.
    Complete,
}

/// The client side of a GSSAPI exchange, as the JDK's `GssKrb5Client`
/// runs it: it has an initial response (the context's first token); once
/// the context is established it answers the server's wrapped offer with
/// "no security layer" and, as the authorization id, its own principal
/// (what the JDK's callers in ZooKeeper pass). Unlike the JDK with no
/// security layer, it asks for mutual authentication (one more round:
/// the server's reply token, answered with an empty one). Every step may
/// block on the KDC (the first does): run them on a blocking pool.
#[derive(Debug)]
pub struct GssapiClient {
    initiator: Initiator,
    stage: ClientStage,
}

impl GssapiClient {
    pub fn new(initiator: Initiator) -> GssapiClient {
        GssapiClient {
            initiator,
            stage: ClientStage::Context,
        }
    }

    /// The initial response.
    pub fn first(&mut self) -> Result<Vec<u8>, SaslError> {
        self.context(&[])
    }

    fn context(&mut self, token: &[u8]) -> Result<Vec<u8>, SaslError> {
        match self.initiator.step(token)? {
            Initiated::Continue(t) => Ok(t),
            Initiated::Done(t) => {
                self.stage = ClientStage::Layers;
                // The JDK sends an empty token when the context has
                // nothing more to say.
                Ok(t)
            }
        }
    }

    /// Answers a server token (`evaluateChallenge`).
    pub fn step(&mut self, token: &[u8]) -> Result<Vec<u8>, SaslError> {
        match self.stage {
            ClientStage::Context => self.context(token),
            // The JDK answers an empty token with an empty one.
            ClientStage::Layers if token.is_empty() => Ok(Vec::new()),
            ClientStage::Layers => {
                let offer = self.initiator.unwrap(token)?;
                let me = self.initiator.source()?;
                let reply = layers_reply(&offer, &me)?;
                let wrapped = self.initiator.wrap(&reply)?;
                self.stage = ClientStage::Complete;
                Ok(wrapped)
            }
            ClientStage::Complete => Err(SaslError::Gssapi("authentication already completed")),
        }
    }

    /// Whether the exchange is complete (`isComplete`).
    pub fn complete(&self) -> bool {
        self.stage == ClientStage::Complete
    }
}

/// A DIGEST-MD5 nonce (or cnonce): 30 random bytes in base64, as the JDK makes it,
/// from the TLS provider's CSPRNG.
pub fn nonce() -> Option<String> {
    use base64::Engine;
    let mut b = [0u8; 30];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut b)
        .ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::jaas;

    #[test]
    fn names_become_ids_as_zookeeper_builds_them() {
        let n = |host, realm| Naming {
            remove_host: host,
            remove_realm: realm,
            default_realm: Some("EXAMPLE.COM".into()),
        };
        let id = |n: &Naming, a: &str| n.authorized_id(a, a);
        assert_eq!(id(&n(false, false), "bob").as_deref(), Some("bob"));
        assert_eq!(
            id(&n(false, false), "bob@EXAMPLE.COM").as_deref(),
            Some("bob@EXAMPLE.COM")
        );
        assert_eq!(
            id(&n(false, true), "bob@EXAMPLE.COM").as_deref(),
            Some("bob")
        );
        assert_eq!(
            id(&n(false, false), "zk/host1@EXAMPLE.COM").as_deref(),
            Some("zk/host1@EXAMPLE.COM")
        );
        assert_eq!(
            id(&n(true, true), "zk/host1@EXAMPLE.COM").as_deref(),
            Some("zk")
        );
        // Another realm: no rule applies, the authzid stays.
        assert_eq!(
            n(true, true).authorized_id("bob@OTHER", "alice").as_deref(),
            Some("alice")
        );
        // A plain name with a slash is a service name.
        assert_eq!(id(&n(true, true), "a/b").as_deref(), Some("a/b"));
        assert_eq!(id(&n(false, false), "a@b@c"), None);
        assert_eq!(KerberosName::parse("a/b/c@R"), None);
    }

    #[test]
    fn the_security_layer_answer_is_the_jdk_clients() {
        // The server offers no security layer with a 65536-byte buffer;
        // the client takes it (so its own buffer is 0) and names itself
        // as the authorization id.
        let offer = [NO_SECURITY_LAYER, 0x01, 0x00, 0x00];
        let reply = layers_reply(&offer, "learner/h@EXAMPLE.COM").unwrap();
        assert_eq!(&reply[..4], &[0x01, 0x00, 0x00, 0x00]);
        assert_eq!(&reply[4..], b"learner/h@EXAMPLE.COM");
        // What the server side reads back from it.
        assert_eq!(
            layers_answer(&reply),
            Ok((0x01, Some("learner/h@EXAMPLE.COM".to_string())))
        );
        assert_eq!(layers_answer(&reply[..4]), Ok((0x01, None)));
        assert!(layers_answer(&reply[..3]).is_err());
        // An offer of integrity or privacy only, or of the wrong size.
        assert!(layers_reply(&[0x06, 0x01, 0x00, 0x00], "a").is_err());
        assert!(layers_reply(&[0x01, 0x01, 0x00], "a").is_err());
        assert!(layers_reply(&[0x07, 0x01, 0x00, 0x00, 0x00], "a").is_err());
    }

    #[test]
    fn the_section_gives_the_users_and_refuses_other_modules() {
        let props = BTreeMap::new();
        let j = jaas::parse(
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required \
             user_bob=\"b\" user_super=\"s\" other=\"x\"; };\n\
             K { com.sun.security.auth.module.Krb5LoginModule required; };\n\
             G { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true \
             keyTab=\"/k.keytab\" principal=\"zookeeper/h@R\"; };\n\
             P { org.example.Plain required; };",
            &props,
        )
        .unwrap();
        let s = ServerSasl::from_jaas(&j, "Server", Some("sp".into()), Naming::default())
            .unwrap()
            .unwrap();
        assert_eq!(s.user_count(), 2);
        assert_eq!(s.password("bob").as_deref(), Some("b"));
        assert_eq!(s.password("super").as_deref(), Some("sp"));
        assert_eq!(s.password("other"), None);
        assert_eq!(
            ServerSasl::from_jaas(&j, "Missing", None, Naming::default()),
            Ok(None)
        );
        assert!(matches!(
            ServerSasl::from_jaas(&j, "K", None, Naming::default()),
            Err(SaslSetupError::Kerberos { .. })
        ));
        assert_eq!(
            ServerSasl::from_jaas(&j, "G", None, Naming::default())
                .unwrap()
                .unwrap()
                .mechanism,
            Mechanism::Kerberos {
                keytab: "/k.keytab".into(),
                principal: "zookeeper/h@R".into()
            }
        );
        assert!(matches!(
            ServerSasl::from_jaas(&j, "P", None, Naming::default()),
            Err(SaslSetupError::UnknownModule { .. })
        ));
    }
}
