//! The TLS settings of one endpoint, as ZooKeeper's `X509Util` reads them
//! under one prefix: `zookeeper.ssl.` for the client port (zoo.cfg's
//! `ssl.*` keys become these properties), `zookeeper.ssl.quorum.` for the
//! quorum. Parsing only; `security::tls` builds the TLS stack from them.

use super::parser::Parser;
use super::ConfigError;
use std::path::PathBuf;
use std::time::Duration;

/// `ssl.clientAuth` (`X509Util.ClientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `none`: no client certificate is asked for.
    None,
    /// `want`: asked for; a client without one still connects.
    Want,
    /// `need` (the default): a client without a trusted one is refused.
    Need,
}

/// A TLS protocol version corral's stack speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tls12,
    Tls13,
}

/// A key or trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// The property prefix that named it (`zookeeper.ssl.keyStore`), for
    /// messages.
    pub key: String,
    pub path: PathBuf,
    pub password: String,
    /// `.type` when set: JKS, PKCS12, PEM (else from the file name).
    pub ty: Option<String>,
}

/// One endpoint's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The property prefix (`zookeeper.ssl.`).
    pub prefix: String,
    pub key_store: Store,
    pub trust_store: Option<Store>,
    /// `enabledProtocols`, else `protocol`.
    pub protocols: Vec<Protocol>,
    /// `ciphersuites` (Java names); `None`: the stack's defaults.
    pub cipher_suites: Option<Vec<String>>,
    pub client_auth: ClientAuth,
    /// `handshakeDetectionTimeoutMillis` (default 5000).
    pub handshake_timeout: Duration,
    /// `hostnameVerification` (default true). ZooKeeper checks names
    /// only on quorum links (a client port never checks its clients').
    pub hostname_verification: bool,
}

/// The links between servers' TLS (`sslQuorum`, `portUnification`, the
/// `ssl.quorum.*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumTls {
    pub settings: TlsSettings,
    /// `sslQuorum`: connect to peers with TLS (and accept only TLS unless
    /// `unified`).
    pub connect_tls: bool,
    /// `portUnification`: the quorum and election listeners take TLS and
    /// plain connections both.
    pub unified: bool,
    /// `sslQuorumReloadCertFiles`.
    pub reload: bool,
    /// `ssl.quorum.allowReverseDnsLookup` (ZooKeeper 3.8.6; default true
    /// for the quorum, and always so in 3.8.0): a peer address whose
    /// certificate does not name it is looked up by reverse DNS, and the
    /// name checked.
    pub reverse_dns: bool,
}

impl TlsSettings {
    /// The full property name of `name` under this endpoint's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn protocol(v: &str) -> Option<Vec<Protocol>> {
    match v.trim() {
        "TLSv1.2" => Some(vec![Protocol::Tls12]),
        "TLSv1.3" => Some(vec![Protocol::Tls13]),
        // "TLS" in Java: every version the JDK enables.
        "TLS" => Some(vec![Protocol::Tls13, Protocol::Tls12]),
        _ => None,
    }
}

impl Parser {
    /// A store under `prefix` (`zookeeper.ssl.keyStore`): `None` when its
    /// location is not set. The password comes from `.password`, or from
    /// the file `.passwordPath` names (its content, as ZooKeeper's
    /// `SecretUtils.readSecret` reads it).
    fn tls_store(
        &self,
        prefix: &str,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<Option<Store>, ConfigError> {
        let Some(location) = self
            .prop(&format!("{prefix}.location"))
            .filter(|l| !l.is_empty())
        else {
            return Ok(None);
        };
        let password = match (
            self.prop(&format!("{prefix}.password")),
            self.prop(&format!("{prefix}.passwordPath")),
        ) {
            (Some(p), _) => p.to_string(),
            (None, Some(path)) if !path.is_empty() => {
                let name = format!("{prefix}.passwordPath");
                let text = read(std::path::Path::new(path))
                    .map_err(|e| self.prop_err(&name, format!("cannot read {path}: {e}")))?;
                text.trim_end_matches(['\r', '\n']).to_string()
            }
            _ => String::new(),
        };
        Ok(Some(Store {
            key: prefix.to_string(),
            path: PathBuf::from(location),
            password,
            ty: self
                .prop(&format!("{prefix}.type"))
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        }))
    }

    /// The settings under `prefix` (`zookeeper.ssl.`), for an endpoint
    /// that is on: its key store must be set.
    pub(super) fn tls_settings(
        &mut self,
        prefix: &str,
        why_on: &str,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<TlsSettings, ConfigError> {
        let k = |n: &str| format!("{prefix}{n}");
        let key_store = self.tls_store(&k("keyStore"), read)?.ok_or_else(|| {
            let key = k("keyStore.location");
            let key = key.trim_start_matches("zookeeper.");
            ConfigError::Invalid {
                at: super::Location::File {
                    file: self.file.clone(),
                },
                problem: format!("{why_on} needs a key store; set {key}"),
                key: key.to_string(),
            }
        })?;
        let trust_store = self.tls_store(&k("trustStore"), read)?;
        let protocols = match self.prop(&k("enabledProtocols")) {
            Some(list) if !list.trim().is_empty() => {
                let mut out = Vec::new();
                for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match protocol(p) {
                        Some(v) => out.extend(v),
                        None => {
                            return Err(self.prop_err(
                                &k("enabledProtocols"),
                                format!("{p:?} is not a protocol corral speaks (TLSv1.2, TLSv1.3)"),
                            ))
                        }
                    }
                }
                out.dedup();
                out
            }
            _ => match self.prop(&k("protocol")) {
                Some(p) => protocol(p).ok_or_else(|| {
                    self.prop_err(
                        &k("protocol"),
                        format!("{p:?} is not a protocol corral speaks (TLSv1.2, TLSv1.3, TLS)"),
                    )
                })?,
                // ZooKeeper 3.8: `protocol` defaults to TLSv1.2, and the
                // enabled protocols to that one.
                None => vec![Protocol::Tls12],
            },
        };
        let cipher_suites = self
            .prop(&k("ciphersuites"))
            .filter(|c| !c.trim().is_empty())
            .map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            });
        let client_auth = match self
            .prop(&k("clientAuth"))
            .map(|v| v.trim().to_ascii_uppercase())
        {
            None => ClientAuth::Need,
            Some(v) => match v.as_str() {
                "" | "NEED" => ClientAuth::Need,
                "WANT" => ClientAuth::Want,
                "NONE" => ClientAuth::None,
                _ => {
                    return Err(self.prop_err(
                        &k("clientAuth"),
                        format!("{v:?} is not one of none, want, need"),
                    ))
                }
            },
        };
        let handshake_ms = self
            .prop_decimal(&k("handshakeDetectionTimeoutMillis"), 1, i32::MAX as i64)?
            .unwrap_or(5000);
        for name in ["crl", "ocsp"] {
            if self.prop_java_bool(&k(name)) == Some(true) {
                return Err(self.prop_err(
                    &k(name),
                    "revocation checking (CRL distribution points, OCSP) is not supported by corral; \
                     remove the key or set it to false"
                        .into(),
                ));
            }
        }
        if let Some(v) = self.prop(&k("context.supplier.class")) {
            if !v.is_empty() {
                return Err(self.prop_err(
                    &k("context.supplier.class"),
                    "names a Java SSLContext supplier class; corral builds its own TLS context from the keystore keys"
                        .into(),
                ));
            }
        }
        let hostname_verification = self
            .prop_java_bool(&k("hostnameVerification"))
            .unwrap_or(true);
        Ok(TlsSettings {
            hostname_verification,
            prefix: prefix.to_string(),
            key_store,
            trust_store,
            protocols,
            cipher_suites,
            client_auth,
            handshake_timeout: Duration::from_millis(handshake_ms as u64),
        })
    }
}

/// The `X509AuthenticationProvider` class, the one `authProvider.N` value
/// of the TLS family corral honours.
pub const X509_PROVIDER: &str = "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

impl Parser {
    /// The client ports' TLS: on with `secureClientPort` or
    /// `client.portUnification`; then the `zookeeper.ssl.*` settings, the
    /// x509 provider (ZooKeeper's `configureSSLAuth`) and its super user.
    pub(super) fn resolve_client_tls(
        &mut self,
        cfg: &mut super::Config,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), ConfigError> {
        cfg.client_port_unification = self
            .prop_java_bool("zookeeper.client.portUnification")
            .unwrap_or(false);
        cfg.client_cert_reload = self
            .prop_java_bool("zookeeper.client.certReload")
            .unwrap_or(false);
        let why_on = match (cfg.secure_client_port, cfg.client_port_unification) {
            (Some(_), _) => "secureClientPort",
            (None, true) => "client.portUnification",
            (None, false) => {
                // ZooKeeper reads them only for a TLS port: say so.
                let idle: Option<String> = self
                    .props
                    .keys()
                    .find(|k| {
                        k.starts_with("zookeeper.ssl.") && !k.starts_with("zookeeper.ssl.quorum.")
                    })
                    .cloned();
                if let Some(k) = idle {
                    self.prop_warn(
                        &k,
                        "has no effect without secureClientPort or client.portUnification",
                    );
                }
                return Ok(());
            }
        };
        let scheme = self
            .prop("zookeeper.ssl.authProvider")
            .filter(|s| !s.is_empty())
            .unwrap_or("x509")
            .to_string();
        let provider = format!("zookeeper.authProvider.{scheme}");
        match self.prop(&provider) {
            None if scheme == "x509" => {}
            Some(X509_PROVIDER) => {}
            Some(other) => {
                let other = other.to_string();
                return Err(self.prop_err(
                    &provider,
                    format!(
                        "{other} is not an authentication provider corral has for TLS clients (it has {X509_PROVIDER})"
                    ),
                ));
            }
            None => {
                return Err(self.prop_err(
                    "zookeeper.ssl.authProvider",
                    format!("{scheme:?}: no authProvider.{scheme} is configured (corral has x509)"),
                ))
            }
        }
        cfg.client_tls = Some(self.tls_settings("zookeeper.ssl.", why_on, read)?);
        cfg.x509_super_user = self
            .prop("zookeeper.X509AuthenticationProvider.superUser")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(())
    }
}

impl Parser {
    /// The links between servers' TLS: on with `sslQuorum` (connect with
    /// TLS) or `portUnification` (listeners take TLS too); then the
    /// `zookeeper.ssl.quorum.*` settings.
    pub(super) fn resolve_quorum_tls(
        &mut self,
        cfg: &mut super::Config,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), ConfigError> {
        let why_on = match (cfg.ssl_quorum, cfg.port_unification) {
            (true, _) => "sslQuorum",
            (false, true) => "portUnification",
            (false, false) => {
                // The AdminServer's HTTPS reads the stores too.
                let admin = cfg.admin_tls.is_some();
                let idle: Option<String> = self
                    .props
                    .keys()
                    .find(|k| {
                        k.strip_prefix("zookeeper.").is_some_and(|z| {
                            z.starts_with("ssl.quorum.") && !(admin && admin_https_reads(z))
                        })
                    })
                    .cloned();
                if let Some(k) = idle {
                    let msg = if admin {
                        "has no effect without sslQuorum or portUnification"
                    } else {
                        "has no effect without sslQuorum or portUnification (or the AdminServer's HTTPS: admin.forceHttps, admin.portUnification)"
                    };
                    self.prop_warn(&k, msg);
                }
                return Ok(());
            }
        };
        let settings = self.tls_settings("zookeeper.ssl.quorum.", why_on, read)?;
        let reverse_dns = self
            .prop_java_bool("zookeeper.ssl.quorum.allowReverseDnsLookup")
            .unwrap_or(true);
        cfg.quorum_tls = Some(QuorumTls {
            settings,
            connect_tls: cfg.ssl_quorum,
            unified: cfg.port_unification,
            reload: cfg.ssl_quorum_reload,
            reverse_dns,
        });
        Ok(())
    }
}

/// How the AdminServer speaks HTTPS (ZooKeeper's `JettyAdminServer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminHttps {
    /// `admin.forceHttps`: HTTPS only (it wins over `admin.portUnification`).
    Only,
    /// `admin.portUnification`: HTTP and HTTPS on the one port.
    Unified,
}

/// The AdminServer's HTTPS: the `ssl.quorum.*` key and trust stores, as
/// `JettyAdminServer` reads them; the rest is Jetty's default, not the
/// `ssl.quorum.*` keys: TLS 1.3 and 1.2, the stack's cipher suites, no
/// client certificate asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    pub mode: AdminHttps,
    pub settings: TlsSettings,
}

/// The prefix of the stores the AdminServer's HTTPS reads.
const ADMIN_PREFIX: &str = "zookeeper.ssl.quorum.";

/// Whether the AdminServer's HTTPS reads `key` (the zoo.cfg spelling): the
/// `ssl.quorum.*` key and trust store keys.
pub(super) fn admin_https_reads(key: &str) -> bool {
    ["keyStore.", "trustStore."].iter().any(|s| {
        key.strip_prefix("ssl.quorum.")
            .is_some_and(|rest| rest.starts_with(s))
    })
}

impl Parser {
    /// The AdminServer's HTTPS: on with `admin.forceHttps` or
    /// `admin.portUnification` while the AdminServer is on; then both
    /// `ssl.quorum.*` stores must be set (Jetty loads both, and ZooKeeper
    /// serves no AdminServer when either fails). Run after
    /// `resolve_properties` (it reads `admin.enableServer`) and before
    /// `resolve_quorum_tls` (which warns about store keys nothing reads).
    pub(super) fn resolve_admin_tls(
        &mut self,
        cfg: &mut super::Config,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), ConfigError> {
        let force = self
            .prop_java_bool("zookeeper.admin.forceHttps")
            .unwrap_or(false);
        let unified = self
            .prop_java_bool("zookeeper.admin.portUnification")
            .unwrap_or(false);
        let mode = match (force, unified) {
            (true, _) => Some((AdminHttps::Only, "admin.forceHttps")),
            (false, true) => Some((AdminHttps::Unified, "admin.portUnification")),
            (false, false) => None,
        };
        let Some((mode, why_on)) = mode.filter(|_| cfg.admin_enable_server) else {
            // Unread store keys are told by `resolve_quorum_tls`.
            return Ok(());
        };
        let mut stores = Vec::new();
        for name in ["keyStore", "trustStore"] {
            let prefix = format!("{ADMIN_PREFIX}{name}");
            let store = self.tls_store(&prefix, read)?.ok_or_else(|| {
                let key = format!("ssl.quorum.{name}.location");
                ConfigError::Invalid {
                    at: super::Location::File {
                        file: self.file.clone(),
                    },
                    problem: format!("{why_on} needs the AdminServer's {name}; set {key}"),
                    key,
                }
            })?;
            stores.push(store);
        }
        let (Some(trust_store), Some(key_store)) = (stores.pop(), stores.pop()) else {
            return Ok(());
        };
        cfg.admin_tls = Some(AdminTls {
            mode,
            settings: TlsSettings {
                prefix: ADMIN_PREFIX.to_string(),
                key_store,
                trust_store: Some(trust_store),
                protocols: vec![Protocol::Tls13, Protocol::Tls12],
                cipher_suites: None,
                client_auth: ClientAuth::None,
                // Jetty checks no client names.
                hostname_verification: false,
                // The AdminServer bounds the handshake with the rest of
                // the request (`corral.admin.requestTimeoutMs`).
                handshake_timeout: Duration::from_millis(u64::from(cfg.admin_request_timeout_ms)),
            },
        });
        Ok(())
    }
}
