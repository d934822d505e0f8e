//! SASL on the client port and authentication enforcement, read as
//! ZooKeeper 3.8 reads them: the JAAS file from
//! `-Djava.security.auth.login.config`, its section
//! `zookeeper.sasl.serverconfig` (default `Server`), the `sasl` scheme from
//! `authProvider.N=...SASLAuthenticationProvider`, super users
//! (`superUser`, `superUser.*`), and `sessionRequireClientSASLAuth` /
//! `enforce.auth.enabled` + `enforce.auth.schemes`
//! (`AuthenticationHelper`); and SASL between servers
//! (`quorum.auth.*` with the `QuorumLearner`/`QuorumServer` sections).

use super::parser::Parser;
use super::ConfigError;
use crate::security::jaas;
use crate::security::quorum_auth::{self, QuorumSasl};
use crate::security::sasl::{Naming, ServerSasl};

/// `SASLAuthenticationProvider`: registering it makes the `sasl` scheme.
pub const SASL_PROVIDER: &str = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
/// The JVM flag naming the JAAS file.
pub const JAAS_FLAG: &str = "java.security.auth.login.config";

/// What the client port does about SASL and required authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslConfig {
    /// The SASL server (from the JAAS section); `None`: SASL packets are
    /// answered with an empty token, as ZooKeeper does without one.
    pub server: Option<ServerSasl>,
    /// The `sasl` ACL scheme exists (`SASLAuthenticationProvider`).
    pub provider: bool,
    /// `zookeeper.superUser` and `zookeeper.superUser.*`: SASL ids that are
    /// also `super`.
    pub super_users: Vec<String>,
    /// `zookeeper.letAnySaslUserDoX`: a `sasl` ACL id every SASL user
    /// matches.
    pub let_any_do_x: Option<String>,
    /// `zookeeper.allowSaslFailedClients`: a failed exchange keeps the
    /// connection (unless SASL is required).
    pub allow_failed: bool,
    /// The schemes one of which a connection must hold before any request
    /// but auth and SASL (empty: not enforced).
    pub enforce_schemes: Vec<String>,
}

impl SaslConfig {
    /// Whether SASL is required (`isSaslAuthRequired`).
    pub fn sasl_required(&self) -> bool {
        self.enforce_schemes.iter().any(|s| s == "sasl")
    }
}

impl Parser {
    pub(super) fn resolve_sasl(
        &mut self,
        cfg: &mut super::Config,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), ConfigError> {
        let mut s = SaslConfig {
            provider: self
                .props
                .iter()
                .any(|(k, v)| k.starts_with("zookeeper.authProvider") && v.trim() == SASL_PROVIDER),
            ..SaslConfig::default()
        };
        // isSaslSuperUser: `zookeeper.superUser` or `zookeeper.superUser.<x>`.
        s.super_users = self
            .props
            .iter()
            .filter(|(k, _)| *k == "zookeeper.superUser" || k.starts_with("zookeeper.superUser."))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        s.let_any_do_x = self.prop("zookeeper.letAnySaslUserDoX").map(str::to_string);
        s.allow_failed = self
            .prop_java_bool("zookeeper.allowSaslFailedClients")
            .unwrap_or(false);
        s.server = self.sasl_server(read)?;

        // AuthenticationHelper: sessionRequireClientSASLAuth overrides the
        // enforce.auth.* pair.
        let (enforce, key) = if self
            .prop_java_bool("zookeeper.sessionRequireClientSASLAuth")
            .unwrap_or(false)
        {
            (
                vec!["sasl".to_string()],
                "zookeeper.sessionRequireClientSASLAuth",
            )
        } else if self
            .prop_java_bool("zookeeper.enforce.auth.enabled")
            .unwrap_or(false)
        {
            let schemes: Vec<String> = self
                .prop("zookeeper.enforce.auth.schemes")
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default();
            if schemes.is_empty() {
                return Err(self.prop_err(
                    "zookeeper.enforce.auth.enabled",
                    "is true, so enforce.auth.schemes must name the schemes a client needs".into(),
                ));
            }
            (schemes, "zookeeper.enforce.auth.schemes")
        } else {
            (Vec::new(), "")
        };
        for scheme in &enforce {
            let known = match scheme.as_str() {
                "digest" => cfg.digest_auth_enabled,
                "ip" => true,
                "x509" => cfg.client_tls.is_some(),
                "sasl" => s.provider,
                _ => false,
            };
            if !known {
                return Err(self.prop_err(
                    key,
                    format!(
                        "authentication scheme {scheme:?} is not available (corral has digest, ip, x509 with a TLS port, sasl with authProvider.N={SASL_PROVIDER})"
                    ),
                ));
            }
        }
        s.enforce_schemes = enforce;
        cfg.sasl = s;
        Ok(())
    }

    /// The JAAS `Server` section, as `ServerCnxnFactory.configureSaslLogin`
    /// reads it.
    fn sasl_server(
        &mut self,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<Option<ServerSasl>, ConfigError> {
        let section = self
            .prop("zookeeper.sasl.serverconfig")
            .unwrap_or("Server")
            .to_string();
        let Some(path) = self.prop(JAAS_FLAG).map(str::to_string) else {
            if self.props.contains_key("zookeeper.sasl.serverconfig") {
                // ZooKeeper: "No JAAS configuration section named ...
                // But zookeeper.sasl.serverconfig was set."
                return Err(self.prop_err(
                    "zookeeper.sasl.serverconfig",
                    format!(
                        "names section {section:?}, but no JAAS file is given (-D{JAAS_FLAG}=...)"
                    ),
                ));
            }
            return Ok(None);
        };
        let parsed = self.read_jaas(&path, read)?;
        let naming = Naming {
            remove_host: self.prop("zookeeper.kerberos.removeHostFromPrincipal") == Some("true"),
            remove_realm: self.prop("zookeeper.kerberos.removeRealmFromPrincipal") == Some("true"),
            default_realm: self.default_realm(read),
        };
        let super_password = self
            .prop("zookeeper.SASLAuthenticationProvider.superPassword")
            .map(str::to_string);
        let server = ServerSasl::from_jaas(&parsed, &section, super_password, naming)
            .map_err(|e| self.prop_err(JAAS_FLAG, format!("{path}: {e}")))?;
        if server.is_none() {
            // ZooKeeper runs without SASL then, without a word; say it.
            self.prop_warn(
                JAAS_FLAG,
                &format!("{path} has no section {section:?}: SASL is off on the client port"),
            );
        }
        Ok(server)
    }

    /// The JAAS file at `path`, read and parsed.
    fn read_jaas(
        &self,
        path: &str,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<jaas::Jaas, ConfigError> {
        let text = read(std::path::Path::new(path))
            .map_err(|e| self.prop_err(JAAS_FLAG, format!("cannot read {path}: {e}")))?;
        jaas::parse(&text, &self.props)
            .map_err(|e| self.prop_err(JAAS_FLAG, format!("{path}: {e}")))
    }

    /// SASL between servers (`quorum.auth.enableSasl`), as `QuorumPeer`
    /// sets it up: both JAAS sections must be there. A standalone server
    /// has no quorum links: the keys are told to have no effect.
    pub(super) fn resolve_quorum_sasl(
        &mut self,
        cfg: &mut super::Config,
        st: &super::parser::FileState,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), ConfigError> {
        let Some(at) = st.sasl_enabled.clone() else {
            return Ok(());
        };
        const KEY: &str = "quorum.auth.enableSasl";
        if !cfg.is_distributed() {
            self.warn(
                &at,
                KEY,
                "has no effect on a standalone server (no links between servers)",
            );
            return Ok(());
        }
        let learner = st
            .sasl_learner_context
            .as_deref()
            .unwrap_or(quorum_auth::LEARNER_SECTION);
        let server = st
            .sasl_server_context
            .as_deref()
            .unwrap_or(quorum_auth::SERVER_SECTION);
        let Some(path) = self.prop(JAAS_FLAG).map(str::to_string) else {
            return Err(ConfigError::invalid(
                at,
                KEY,
                format!(
                    "needs the JAAS sections {learner:?} and {server:?}, but no JAAS file is given (-D{JAAS_FLAG}=... in SERVER_JVMFLAGS)"
                ),
            ));
        };
        let parsed = self.read_jaas(&path, read)?;
        let q = QuorumSasl::from_jaas(
            &parsed,
            learner,
            server,
            st.sasl_learner_required.is_some(),
            st.sasl_server_required.is_some(),
        )
        .map_err(|e| ConfigError::invalid(at, KEY, format!("{path}: {e}")))?;
        let mut q = q;
        if let Some(p) = &st.sasl_service_principal {
            q.service_principal = p.clone();
        }
        // QuorumPeer.initialize: the hosts of the members at start, as
        // written (each QuorumServer keeps the host of its last address).
        q.authz_hosts = cfg
            .servers
            .iter()
            .map(|s| {
                s.extra_addresses
                    .last()
                    .map_or(&s.host, |a| &a.host)
                    .clone()
            })
            .collect();
        cfg.quorum_sasl = Some(q);
        Ok(())
    }

    /// The Kerberos default realm, as Java finds it:
    /// `java.security.krb5.realm`, else `default_realm` in the
    /// `[libdefaults]` of `java.security.krb5.conf` or `/etc/krb5.conf`.
    fn default_realm(
        &self,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Option<String> {
        if let Some(r) = self.prop("java.security.krb5.realm") {
            return Some(r.to_string());
        }
        let conf = self
            .prop("java.security.krb5.conf")
            .unwrap_or("/etc/krb5.conf");
        let text = read(std::path::Path::new(conf)).ok()?;
        let mut in_libdefaults = false;
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_libdefaults = l == "[libdefaults]";
            } else if in_libdefaults {
                if let Some((k, v)) = l.split_once('=') {
                    if k.trim() == "default_realm" {
                        return Some(v.trim().to_string());
                    }
                }
            }
        }
        None
    }
}
