//! The rustls configurations of the TLS endpoints, built from their
//! settings (`config::tls`) and the stores they name: the client ports'
//! server configuration (`ssl.*`), and both sides of the links between
//! servers (`ssl.quorum.*`, [`PeerTls`], with ZooKeeper's host name check
//! on the peer's certificate); and their reload when a store file changes
//! (ZooKeeper's `FileChangeWatcher`). Reads the store files; the callers
//! run it off the sequencer.

use super::keystore::{self, StoreError, StoreType};
use super::peername;
use crate::config::tls::{ClientAuth, Store, TlsSettings};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion,
};
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

/// The crypto provider with `s`'s cipher suites, and its protocol
/// versions.
fn provider_and_versions(
    s: &TlsSettings,
) -> Result<(Arc<CryptoProvider>, Vec<&'static SupportedProtocolVersion>), TlsError> {
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
    let versions: Vec<&'static SupportedProtocolVersion> = s
        .protocols
        .iter()
        .map(|p| match p {
            crate::config::tls::Protocol::Tls12 => &rustls::version::TLS12,
            crate::config::tls::Protocol::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    Ok((Arc::new(provider), versions))
}

fn versions_error(s: &TlsSettings, e: rustls::Error) -> TlsError {
    TlsError::Config(format!(
        "{}/{}: {e}",
        s.key("enabledProtocols"),
        s.key("ciphersuites")
    ))
}

/// The verifier of client certificates against `s`'s trust store, for
/// `clientAuth` want or need (`None` for none).
fn client_verifier(
    s: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    if s.client_auth == ClientAuth::None {
        return Ok(None);
    }
    let roots = Arc::new(roots(s)?);
    let v = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    let v = if s.client_auth == ClientAuth::Want {
        v.allow_unauthenticated()
    } else {
        v
    };
    let v = v.build().map_err(|e| no_roots(s, e))?;
    Ok(Some(v))
}

fn no_roots(s: &TlsSettings, e: impl std::fmt::Display) -> TlsError {
    match &s.trust_store {
        Some(t) => TlsError::Bad {
            key: format!("{}.location", t.key),
            path: t.path.clone(),
            msg: format!("no usable trusted certificate: {e}"),
        },
        None => TlsError::Config(format!(
            "{}: no trust store is set and the system's CAs ({SYSTEM_CAS}) cannot be used: {e}",
            s.key("trustStore.location")
        )),
    }
}

/// `s`'s key store: its key and certificate chain, checked to fit.
fn certified_key(
    s: &TlsSettings,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let (bytes, ty) = load(&s.key_store)?;
    let pair = keystore::key_pair(&bytes, ty, &s.key_store.password)
        .map_err(|e| store_error(&s.key_store, e))?;
    let key =
        CertifiedKey::from_der(pair.chain, pair.key, provider).map_err(|e| TlsError::Bad {
            key: format!("{}.location", s.key_store.key),
            path: s.key_store.path.clone(),
            msg: format!("the key does not fit its certificate or is not supported: {e}"),
        })?;
    Ok(Arc::new(key))
}

/// The server configuration for `s`: its key pair, its client-auth rule
/// against its trust store, its protocols and cipher suites.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let (provider, versions) = provider_and_versions(s)?;
    let key = certified_key(s, &provider)?;
    let verifier = client_verifier(s, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| versions_error(s, e))?;
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    };
    let mut config = builder.with_cert_resolver(Arc::new(OneKey(key)));
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
/// not TLS. The client, peer and admin ports all tell by it.
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04
}

/// The one key pair of an endpoint, whatever the peer hints.
#[derive(Debug)]
struct OneKey(Arc<CertifiedKey>);

impl ResolvesServerCert for OneKey {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl ResolvesClientCert for OneKey {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// The TLS of the links between servers (`ssl.quorum.*`): both sides of
/// a handshake, each connection's configuration made for the peer at its
/// other end, so that the peer's certificate is checked against the
/// trust store and then against the peer's names (`security::peername`),
/// as ZooKeeper's `ZKTrustManager` checks it on quorum links.
pub struct PeerTls {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static SupportedProtocolVersion>,
    roots: Arc<RootCertStore>,
    /// `None`: `clientAuth=none`.
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("prefix", &self.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl PeerTls {
    /// Reads `s`'s stores; an error names the key.
    pub fn load(s: &TlsSettings) -> Result<PeerTls, TlsError> {
        let (provider, versions) = provider_and_versions(s)?;
        let key = certified_key(s, &provider)?;
        let roots = roots(s)?;
        if roots.is_empty() {
            return Err(no_roots(s, "the store holds no certificate webpki can use"));
        }
        let client_verifier = client_verifier(s, &provider)?;
        // The versions and suites fit together: checked once here.
        ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| versions_error(s, e))?;
        Ok(PeerTls {
            settings: s.clone(),
            provider,
            versions,
            roots: Arc::new(roots),
            client_verifier,
            key,
        })
    }

    /// The configuration for accepting a peer that connected from where
    /// `hosts` name (`None`: no name check, `ssl.quorum.hostnameVerification=false`).
    pub fn server_config(&self, hosts: Option<Vec<String>>) -> Result<Arc<ServerConfig>, TlsError> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| versions_error(&self.settings, e))?;
        let builder = match &self.client_verifier {
            None => builder.with_no_client_auth(),
            Some(inner) => builder.with_client_cert_verifier(Arc::new(PeerClientVerifier {
                inner: inner.clone(),
                hosts,
            })),
        };
        let mut config = builder.with_cert_resolver(Arc::new(OneKey(self.key.clone())));
        config.ignore_client_order = false;
        Ok(Arc::new(config))
    }

    /// The configuration for connecting to a peer at the host `hosts`
    /// name (`None`: no name check).
    pub fn client_config(&self, hosts: Option<Vec<String>>) -> Result<Arc<ClientConfig>, TlsError> {
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| versions_error(&self.settings, e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PeerServerVerifier {
                roots: self.roots.clone(),
                provider: self.provider.clone(),
                hosts,
            }))
            .with_client_cert_resolver(Arc::new(OneKey(self.key.clone())));
        Ok(Arc::new(config))
    }
}

/// A peer certificate's names against the hosts it should name.
fn check_names(
    hosts: &Option<Vec<String>>,
    cert: &CertificateDer<'_>,
) -> Result<(), rustls::Error> {
    let Some(hosts) = hosts else {
        return Ok(());
    };
    let names = peername::cert_names(cert).and_then(|n| {
        peername::verify_any(hosts, &n)?;
        Ok(n)
    });
    match names {
        Ok(_) => Ok(()),
        Err(e) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(e)),
        ))),
    }
}

/// A quorum server's certificate: the chain against the trust store (as
/// webpki checks a server's), then the host names.
#[derive(Debug)]
struct PeerServerVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    hosts: Option<Vec<String>>,
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        check_names(&self.hosts, end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A quorum client's certificate: webpki's check against the trust
/// store, then the host names.
#[derive(Debug)]
struct PeerClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    hosts: Option<Vec<String>>,
}

impl ClientCertVerifier for PeerClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_names(&self.hosts, end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A suite's Java (IANA) name: rustls calls TLS 1.3's `TLS13_*`.
fn java_name(cs: &rustls::SupportedCipherSuite) -> Option<String> {
    let n = cs.suite().as_str()?;
    Some(match n.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => n.to_string(),
    })
}

/// What a store change rebuilds: a TLS configuration made from its
/// settings.
pub trait Reloadable: Sized {
    fn build(s: &TlsSettings) -> Result<Self, TlsError>;
}

impl Reloadable for Arc<ServerConfig> {
    fn build(s: &TlsSettings) -> Result<Self, TlsError> {
        server_config(s)
    }
}

impl Reloadable for Arc<PeerTls> {
    fn build(s: &TlsSettings) -> Result<Self, TlsError> {
        PeerTls::load(s).map(Arc::new)
    }
}

/// A TLS configuration that follows its store files: `check` rebuilds
/// it when a file's modification time changed (a rebuild that fails keeps
/// the last good one, and says why).
pub struct Reloading<T: Reloadable = Arc<ServerConfig>> {
    settings: TlsSettings,
    current: T,
    stamps: Vec<Option<SystemTime>>,
}

impl<T: Reloadable> Reloading<T> {
    pub fn new(settings: TlsSettings) -> Result<Reloading<T>, TlsError> {
        let current = T::build(&settings)?;
        let stamps = stamps(&settings);
        Ok(Reloading {
            settings,
            current,
            stamps,
        })
    }

    /// From a configuration already built (at start-up) from `settings`.
    pub fn from_built(settings: TlsSettings, current: T) -> Reloading<T> {
        let stamps = stamps(&settings);
        Reloading {
            settings,
            current,
            stamps,
        }
    }

    pub fn current(&self) -> &T {
        &self.current
    }

    /// Rebuilds the configuration when a store file changed; true when a
    /// new one is in place. Reads files: run it where blocking is allowed.
    pub fn check(&mut self) -> bool {
        let now = stamps(&self.settings);
        if now == self.stamps {
            return false;
        }
        self.stamps = now;
        match T::build(&self.settings) {
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
