//! A load-generator connection: plain TCP, or TLS driven sans-IO by a
//! rustls client (aws-lc-rs, as the server side) over the same tokio
//! socket. `Conn::write_all` and `Conn::read_buf` are all `zkbench` needs.

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A client configuration that trusts the CA certificates in `ca` (PEM)
/// and, when `cert_key` is given, presents that certificate chain (PEM)
/// and PKCS#8 key (PEM), as a server with `ssl.clientAuth=need` asks.
pub fn client_config(ca: &Path, cert_key: Option<(&Path, &Path)>) -> Res<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in
        CertificateDer::pem_file_iter(ca).map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?
    {
        roots
            .add(c.map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?)
            .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let cfg = match cert_key {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
            b.with_client_auth_cert(chain, key)?
        }
        None => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// One connection to the server.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<Tls>),
}

/// A TLS connection: the socket, the rustls state, and the raw bytes read
/// from the socket that rustls has not taken yet.
pub struct Tls {
    tcp: TcpStream,
    tls: ClientConnection,
    raw: Vec<u8>,
    pos: usize,
    len: usize,
    out: Vec<u8>,
}

impl Conn {
    /// Connects to `addr` (`host:port`), with a TLS handshake when `tls`
    /// is given; the server's name is the host part (an IP or a name).
    pub async fn connect(addr: &str, tls: Option<&Arc<ClientConfig>>) -> Res<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let Some(cfg) = tls else {
            return Ok(Conn::Plain(tcp));
        };
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())?;
        let mut t = Tls {
            tcp,
            tls: ClientConnection::new(cfg.clone(), name)?,
            raw: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
            out: Vec::with_capacity(64 * 1024),
        };
        t.handshake().await?;
        Ok(Conn::Tls(Box::new(t)))
    }

    /// The negotiated protocol and cipher suite, e.g.
    /// `TLSv1_2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`; None for plain.
    pub fn tls_summary(&self) -> Option<String> {
        let Conn::Tls(t) = self else { return None };
        let v = t.tls.protocol_version()?;
        let s = t.tls.negotiated_cipher_suite()?;
        Some(format!("{v:?} {:?}", s.suite()))
    }

    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(data).await,
            Conn::Tls(t) => {
                // rustls buffers a bounded amount of plaintext; write what
                // it takes, send it, repeat.
                while !data.is_empty() {
                    let n = t.tls.writer().write(data)?;
                    data = &data[n..];
                    t.flush().await?;
                    if n == 0 && !data.is_empty() && !t.tls.wants_write() {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads some bytes into `dst`; 0 at the end of the stream.
    pub async fn read_buf(&mut self, dst: &mut BytesMut) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read_buf(dst).await,
            Conn::Tls(t) => t.read_buf(dst).await,
        }
    }
}

impl Tls {
    async fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.out.clear();
            self.tls.write_tls(&mut self.out)?;
            self.tcp.write_all(&self.out).await?;
        }
        Ok(())
    }

    /// Hands rustls the next raw bytes, reading the socket when none are
    /// left; false at the end of the stream.
    async fn feed(&mut self) -> io::Result<bool> {
        if self.pos == self.len {
            let n = self.tcp.read(&mut self.raw).await?;
            if n == 0 {
                return Ok(false);
            }
            self.pos = 0;
            self.len = n;
        }
        let mut rd = &self.raw[self.pos..self.len];
        let n = self.tls.read_tls(&mut rd)?;
        self.pos += n;
        self.tls
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // Alerts, key updates, handshake messages.
        self.flush().await?;
        Ok(true)
    }

    async fn handshake(&mut self) -> Res<()> {
        self.flush().await?;
        while self.tls.is_handshaking() {
            if !self.feed().await? {
                return Err("connection closed during the TLS handshake".into());
            }
        }
        self.flush().await?;
        Ok(())
    }

    async fn read_buf(&mut self, dst: &mut BytesMut) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.tls.reader().read(&mut tmp) {
                Ok(n) => {
                    dst.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.feed().await? {
                return Ok(0);
            }
        }
    }
}
