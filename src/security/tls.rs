//! The rustls server configuration of one TLS endpoint, built from its
//! `ssl.*` settings (`config::tls`) and the stores they name; and its
//! reload when a store file changes (ZooKeeper's `FileChangeWatcher`).
//! Reads the store files; the callers run it off the sequencer.

use super::keystore::{self, StoreError, StoreType};
use crate::config::tls::{ClientAuth, Store, TlsSettings};
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Debian's bundle of the system's trusted CAs: the trust store when none
/// is set (Java falls back to its `cacerts` the same way).
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a TLS endpoint cannot be set up. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: cannot read {path}: {source}")]
    Read {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key}: {path}: {source}")]
    Store {
        key: String,
        path: PathBuf,
        source: StoreError,
    },
    #[error("{key}: {path}: {msg}")]
    Bad {
        key: String,
        path: PathBuf,
        msg: String,
    },
    #[error("{0}")]
    Config(String),
}

fn load(store: &Store) -> Result<(Vec<u8>, StoreType), TlsError> {
    let key = format!("{}.location", store.key);
    let ty = StoreType::of(store.ty.as_deref(), &store.path).map_err(|source| TlsError::Store {
        key: format!("{}.type", store.key),
        path: store.path.clone(),
        source,
    })?;
    let bytes = std::fs::read(&store.path).map_err(|source| TlsError::Read {
        key,
        path: store.path.clone(),
        source,
    })?;
    Ok((bytes, ty))
}

fn store_error(store: &Store, source: StoreError) -> TlsError {
    TlsError::Store {
        key: format!("{}.location", store.key),
        path: store.path.clone(),
        source,
    }
}

/// The certificates a trust store holds (the system's CAs when none is set).
fn roots(s: &TlsSettings) -> Result<RootCertStore, TlsError> {
    let certs: Vec<CertificateDer<'static>> = match &s.trust_store {
        Some(store) => {
            let (bytes, ty) = load(store)?;
            keystore::trusted(&bytes, ty, &store.password).map_err(|e| store_error(store, e))?
        }
        None => {
            let path = Path::new(SYSTEM_CAS);
            match std::fs::read(path) {
                Ok(bytes) => keystore::trusted(&bytes, StoreType::Pem, "").unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        }
    };
    let mut roots = RootCertStore::empty();
    for c in certs {
        // A certificate webpki cannot use as an anchor is skipped, as
        // Java's trust manager skips what it cannot parse.
        let _ = roots.add(c);
    }
    Ok(roots)
}

/// The server configuration for `s`: its key pair, its client-auth rule
/// against its trust store, its protocols and cipher suites.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let (bytes, ty) = load(&s.key_store)?;
    let pair = keystore::key_pair(&bytes, ty, &s.key_store.password)
        .map_err(|e| store_error(&s.key_store, e))?;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(names) = &s.cipher_suites {
        let mut kept = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            let found = provider
                .cipher_suites
                .iter()
                .find(|cs| java_name(cs).as_deref() == Some(name.as_str()));
            match found {
                Some(cs) => kept.push(*cs),
                None => unknown.push(name.clone()),
            }
        }
        if !unknown.is_empty() {
            tracing::warn!(
                "{}: cipher suites corral's TLS stack lacks, left out: {}",
                s.key("ciphersuites"),
                unknown.join(",")
            );
        }
        if kept.is_empty() {
            return Err(TlsError::Config(format!(
                "{}: none of the cipher suites is supported (corral has: {})",
                s.key("ciphersuites"),
                provider
                    .cipher_suites
                    .iter()
                    .filter_map(java_name)
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        provider.cipher_suites = kept;
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = s
        .protocols
        .iter()
        .map(|p| match p {
            crate::config::tls::Protocol::Tls12 => &rustls::version::TLS12,
            crate::config::tls::Protocol::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            TlsError::Config(format!(
                "{}/{}: {e}",
                s.key("enabledProtocols"),
                s.key("ciphersuites")
            ))
        })?;
    let builder = match s.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let roots = Arc::new(roots(s)?);
            let v = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let v = if auth == ClientAuth::Want {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v.build().map_err(|e| match &s.trust_store {
                Some(t) => TlsError::Bad {
                    key: format!("{}.location", t.key),
                    path: t.path.clone(),
                    msg: format!("no usable trusted certificate: {e}"),
                },
                None => TlsError::Config(format!(
                    "{}: no trust store is set and the system's CAs ({SYSTEM_CAS}) cannot be used: {e}",
                    s.key("trustStore.location")
                )),
            })?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut config = builder
        .with_single_cert(pair.chain, pair.key)
        .map_err(|e| TlsError::Bad {
            key: format!("{}.location", s.key_store.key),
            path: s.key_store.path.clone(),
            msg: format!("the key does not fit its certificate or is not supported: {e}"),
        })?;
    config.ignore_client_order = false;
    Ok(Arc::new(config))
}

/// The AdminServer's HTTPS configuration (`config::tls::AdminTls`): as
/// [`server_config`], and its trust store must load too, as Jetty loads it
/// although it asks no client for a certificate.
pub fn admin_server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    roots(s)?;
    server_config(s)
}

/// Whether the first bytes of a connection start a TLS record (a
/// handshake record of TLS 1.0 or later: the test Netty's `SslHandler`
/// makes for ZooKeeper's port unification). Fewer than three bytes are
/// not TLS. The client ports and the AdminServer both tell by it.
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

/// A suite's Java (IANA) name: rustls calls TLS 1.3's `TLS13_*`.
fn java_name(cs: &rustls::SupportedCipherSuite) -> Option<String> {
    let n = cs.suite().as_str()?;
    Some(match n.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => n.to_string(),
    })
}

/// A server configuration that follows its store files: `check` rebuilds
/// it when a file's modification time changed (a rebuild that fails keeps
/// the last good one, and says why).
pub struct Reloading {
    settings: TlsSettings,
    current: Arc<ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
}

impl Reloading {
    pub fn new(settings: TlsSettings) -> Result<Reloading, TlsError> {
        let current = server_config(&settings)?;
        let stamps = stamps(&settings);
        Ok(Reloading {
            settings,
            current,
            stamps,
        })
    }

    /// From a configuration already built (at start-up) from `settings`.
    pub fn from_built(settings: TlsSettings, current: Arc<ServerConfig>) -> Reloading {
        let stamps = stamps(&settings);
        Reloading {
            settings,
            current,
            stamps,
        }
    }

    pub fn current(&self) -> &Arc<ServerConfig> {
        &self.current
    }

    /// Rebuilds the configuration when a store file changed; true when a
    /// new one is in place.
    pub fn check(&mut self) -> bool {
        let now = stamps(&self.settings);
        if now == self.stamps {
            return false;
        }
        self.stamps = now;
        match server_config(&self.settings) {
            Ok(c) => {
                tracing::info!(
                    "{}: a store file changed; new TLS connections use the reloaded certificates",
                    self.settings.key("keyStore")
                );
                self.current = c;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "a store file changed but cannot be used; the last certificates stay in use");
                false
            }
        }
    }
}

fn stamps(s: &TlsSettings) -> Vec<Option<SystemTime>> {
    std::iter::once(&s.key_store)
        .chain(s.trust_store.as_ref())
        .map(|st| std::fs::metadata(&st.path).and_then(|m| m.modified()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_hello_is_told_from_a_request_or_a_word() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_tls(b"ruok"));
        assert!(!looks_like_tls(b"GET / HTTP/1.1"));
        // A ZooKeeper ConnectRequest starts with its length.
        assert!(!looks_like_tls(&[0, 0, 0, 44, 0]));
        assert!(!looks_like_tls(&[0x16, 0x03]));
    }
}
