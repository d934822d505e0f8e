//! SASL on the client port, as ZooKeeper's `ZooKeeperSaslServer` and
//! `SaslServerCallbackHandler` run it: the mechanism and users come from
//! the JAAS `Server` section (`jaas`), each connection runs its own
//! exchange (`Session`), and a finished exchange gives the connection a
//! `sasl` ACL id built from the authenticated name as ZooKeeper's
//! `KerberosName` rules build it.
//!
//! [`ServerSasl::from_jaas`] reads nothing itself; the caller reads the
//! file at start-up. Sessions are pure: the shard passes tokens in.

use super::digest_md5::{DigestError, DigestMd5Server, Step};
use super::jaas::Jaas;
use crate::data::acl::KerberosName;
use std::collections::BTreeMap;

/// ZooKeeper's DIGEST login module: users are `user_<name>` options.
pub const DIGEST_LOGIN_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";
/// The JDK's Kerberos login module (GSSAPI).
pub const KRB5_LOGIN_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// A problem with the JAAS section, found at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslSetupError {
    #[error("section {section:?} uses {KRB5_LOGIN_MODULE} (Kerberos, GSSAPI), which corral does not support yet")]
    Kerberos { section: String },
    #[error("section {section:?}: no login module {class} (corral has {DIGEST_LOGIN_MODULE})")]
    UnknownModule { section: String, class: String },
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

/// The server's SASL set-up: DIGEST-MD5 users from the JAAS section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSasl {
    users: BTreeMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the password
    /// of the user `super`, when the section names that user.
    pub super_password: Option<String>,
    pub naming: Naming,
}

impl ServerSasl {
    /// Builds the set-up from section `section` of `jaas`; `Ok(None)` when
    /// the file has no such section (ZooKeeper then runs without SASL).
    pub fn from_jaas(
        jaas: &Jaas,
        section: &str,
        super_password: Option<String>,
        naming: Naming,
    ) -> Result<Option<ServerSasl>, SaslSetupError> {
        let Some(entries) = jaas.section(section) else {
            return Ok(None);
        };
        let mut users = BTreeMap::new();
        for e in entries {
            match e.class.as_str() {
                DIGEST_LOGIN_MODULE => {}
                KRB5_LOGIN_MODULE => {
                    return Err(SaslSetupError::Kerberos {
                        section: section.to_string(),
                    })
                }
                other => {
                    return Err(SaslSetupError::UnknownModule {
                        section: section.to_string(),
                        class: other.to_string(),
                    })
                }
            }
            for (k, v) in &e.options {
                if let Some(user) = k.strip_prefix("user_") {
                    users.insert(user.to_string(), v.clone());
                }
            }
        }
        Ok(Some(ServerSasl {
            users,
            super_password,
            naming,
        }))
    }

    /// The users the section names.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// A user's password (`handlePasswordCallback`): only users the section
    /// names have one; `super`'s may come from the system property.
    fn password(&self, user: &str) -> Option<String> {
        let pw = self.users.get(user)?;
        match (&self.super_password, user) {
            (Some(p), "super") => Some(p.clone()),
            _ => Some(pw.clone()),
        }
    }

    /// A new connection's exchange; `nonce` is fresh random text.
    pub fn session(&self, nonce: String) -> Session {
        Session {
            mech: DigestMd5Server::zookeeper(nonce),
        }
    }
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("malformed name {0:?}")]
    BadName(String),
}

/// What a connection's step gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send the token; the exchange goes on.
    Continue(Vec<u8>),
    /// Send the token; the connection is now `sasl:<id>`.
    Authenticated { token: Vec<u8>, id: String },
}

/// One connection's exchange.
#[derive(Debug)]
pub struct Session {
    mech: DigestMd5Server,
}

impl Session {
    pub fn step(&mut self, server: &ServerSasl, token: &[u8]) -> Result<Outcome, SaslError> {
        match self.mech.step(token, &|u| server.password(u))? {
            Step::Challenge(c) => Ok(Outcome::Continue(c)),
            Step::Done {
                token,
                authcid,
                authzid,
            } => {
                let id = server
                    .naming
                    .authorized_id(&authcid, &authzid)
                    .ok_or(SaslError::BadName(authcid))?;
                Ok(Outcome::Authenticated { token, id })
            }
        }
    }
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
    fn the_section_gives_the_users_and_refuses_other_modules() {
        let props = BTreeMap::new();
        let j = jaas::parse(
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required \
             user_bob=\"b\" user_super=\"s\" other=\"x\"; };\n\
             K { com.sun.security.auth.module.Krb5LoginModule required; };\n\
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
        assert!(matches!(
            ServerSasl::from_jaas(&j, "P", None, Naming::default()),
            Err(SaslSetupError::UnknownModule { .. })
        ));
    }
}
