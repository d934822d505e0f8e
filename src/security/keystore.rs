//! Key and trust stores as ZooKeeper's `X509Util` reads them: JKS, PKCS12
//! and PEM files, the type taken from `ssl.keyStore.type` /
//! `ssl.trustStore.type` or else from the file name. Pure: bytes in,
//! certificates and keys out (the caller reads the file).
//!
//! JKS is read here (the format is small and fixed: Sun's `KeyProtector`
//! with the store password, as ZooKeeper's key manager uses it); PKCS12 by
//! `p12-keystore`; PEM by rustls' PEM reader, an encrypted PKCS#8 key by
//! `pkcs8`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest, Sha1};
use std::path::Path;

/// A store's format (`KeyStoreFileType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Jks,
    Pkcs12,
    Pem,
}

/// Why a store could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("unknown store type {0:?} (corral reads JKS, PKCS12 and PEM)")]
    UnknownType(String),
    #[error("BCFKS stores need the Bouncy Castle FIPS provider; corral reads JKS, PKCS12 and PEM")]
    Bcfks,
    #[error("cannot tell the store type from the file name {0:?}: name it .jks, .p12 or .pem, or set its .type key")]
    NoType(String),
    #[error("not a {0:?} store: {1}")]
    Malformed(StoreType, String),
    #[error("wrong password, or the store is damaged (its integrity check fails)")]
    BadPassword,
    #[error("the store holds no private key with a certificate")]
    NoKey,
    #[error("the store holds no certificate")]
    NoCertificate,
    #[error("the private key is encrypted and no password is set")]
    NeedPassword,
}

impl StoreType {
    /// ZooKeeper's `KeyStoreFileType.fromPropertyValueOrFileName`: the
    /// `.type` key when set (any case), else the file's extension.
    pub fn of(setting: Option<&str>, path: &Path) -> Result<StoreType, StoreError> {
        if let Some(t) = setting.filter(|t| !t.is_empty()) {
            return match t.to_ascii_uppercase().as_str() {
                "JKS" => Ok(StoreType::Jks),
                "PKCS12" => Ok(StoreType::Pkcs12),
                "PEM" => Ok(StoreType::Pem),
                "BCFKS" => Err(StoreError::Bcfks),
                _ => Err(StoreError::UnknownType(t.to_string())),
            };
        }
        // Exactly these extensions, case and all, as ZooKeeper matches them.
        let name = path.to_string_lossy();
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
        match ext {
            "jks" => Ok(StoreType::Jks),
            "p12" => Ok(StoreType::Pkcs12),
            "pem" => Ok(StoreType::Pem),
            "bcfks" => Err(StoreError::Bcfks),
            _ => Err(StoreError::NoType(name.into_owned())),
        }
    }
}

/// A key store's content: the server's (or client's) certificate chain,
/// leaf first, and its private key.
#[derive(Debug)]
pub struct KeyPair {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// The certificates a store holds (leaf-first chains, then trusted
/// certificates), and its first private key.
struct Contents {
    certs: Vec<CertificateDer<'static>>,
    key: Option<(PrivateKeyDer<'static>, Vec<CertificateDer<'static>>)>,
}

fn read(bytes: &[u8], ty: StoreType, password: &str) -> Result<Contents, StoreError> {
    // Java 17's JKS and PKCS12 key stores each read the other's format:
    // the content decides between them.
    let ty = match ty {
        StoreType::Jks | StoreType::Pkcs12 if bytes.starts_with(&JKS_MAGIC) => StoreType::Jks,
        StoreType::Jks | StoreType::Pkcs12 => StoreType::Pkcs12,
        StoreType::Pem => StoreType::Pem,
    };
    match ty {
        StoreType::Jks => jks(bytes, password),
        StoreType::Pkcs12 => pkcs12(bytes, password),
        StoreType::Pem => pem(bytes, password),
    }
}

/// A key store: the first private key and its chain.
pub fn key_pair(bytes: &[u8], ty: StoreType, password: &str) -> Result<KeyPair, StoreError> {
    let c = read(bytes, ty, password)?;
    let (key, mut chain) = c.key.ok_or(StoreError::NoKey)?;
    if chain.is_empty() {
        // PEM: the certificates in the file are the key's chain.
        chain = c.certs;
    }
    if chain.is_empty() {
        return Err(StoreError::NoKey);
    }
    Ok(KeyPair { chain, key })
}

/// A trust store: every certificate in it (a key entry's chain included,
/// as Java's trust manager takes them).
pub fn trusted(
    bytes: &[u8],
    ty: StoreType,
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let c = read(bytes, ty, password)?;
    let mut certs = c.certs;
    if let Some((_, chain)) = c.key {
        for cert in chain {
            if !certs.contains(&cert) {
                certs.push(cert);
            }
        }
    }
    if certs.is_empty() {
        return Err(StoreError::NoCertificate);
    }
    Ok(certs)
}

fn pem(bytes: &[u8], password: &str) -> Result<Contents, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Malformed(StoreType::Pem, e.to_string());
    let mut certs = Vec::new();
    for c in CertificateDer::pem_slice_iter(bytes) {
        certs.push(c.map_err(|e| bad(&e))?);
    }
    let mut key = None;
    if let Some(der) = pem_block(bytes, "ENCRYPTED PRIVATE KEY") {
        let der = der.ok_or_else(|| bad(&"bad base64 in the encrypted key"))?;
        if password.is_empty() {
            return Err(StoreError::NeedPassword);
        }
        let info =
            pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| bad(&e))?;
        let plain = info
            .decrypt(password.as_bytes())
            .map_err(|_| StoreError::BadPassword)?;
        key = Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if key.is_none() {
        key = PrivateKeyDer::from_pem_slice(bytes).ok();
    }
    Ok(Contents {
        certs,
        key: key.map(|k| (k, Vec::new())),
    })
}

/// The first PEM block labelled `label`: `None` when there is none,
/// `Some(None)` when its base64 is bad.
fn pem_block(bytes: &[u8], label: &str) -> Option<Option<Vec<u8>>> {
    use base64::Engine;
    let text = std::str::from_utf8(bytes).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let from = text.find(&begin)? + begin.len();
    let to = from + text[from..].find(&end)?;
    let body: String = text[from..to].split_whitespace().collect();
    Some(base64::engine::general_purpose::STANDARD.decode(body).ok())
}

fn pkcs12(bytes: &[u8], password: &str) -> Result<Contents, StoreError> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let ks =
        KeyStore::from_pkcs12(bytes, password, Pkcs12ImportPolicy::Relaxed).map_err(
            |e| match e {
                p12_keystore::error::Error::MacError(_) => StoreError::BadPassword,
                e => StoreError::Malformed(StoreType::Pkcs12, e.to_string()),
            },
        )?;
    let mut certs = Vec::new();
    let mut key = None;
    for (_, entry) in ks.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(kc) if key.is_none() => {
                let chain: Vec<_> = kc
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect();
                let k = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(kc.key().as_der().to_vec()));
                key = Some((k, chain));
            }
            KeyStoreEntry::Certificate(c) => certs.push(CertificateDer::from(c.as_der().to_vec())),
            _ => {}
        }
    }
    Ok(Contents { certs, key })
}

const JKS_MAGIC: [u8; 4] = [0xfe, 0xed, 0xfe, 0xed];

/// Java's `JavaKeyStore` (magic 0xFEEDFEED, versions 1 and 2).
fn jks(bytes: &[u8], password: &str) -> Result<Contents, StoreError> {
    let bad = |what: &str| StoreError::Malformed(StoreType::Jks, what.to_string());
    if bytes.len() < 20 {
        return Err(bad("too short"));
    }
    let (body, mac) = bytes.split_at(bytes.len() - 20);
    // UTF-16BE, as Java's char[] password.
    let pw: Vec<u8> = password
        .encode_utf16()
        .flat_map(|c| c.to_be_bytes())
        .collect();
    let mut r = Reader(body);
    let magic = r.u32().ok_or_else(|| bad("no header"))?;
    if magic == 0xCECE_CECE {
        return Err(bad("a JCEKS store; convert it to PKCS12 or JKS"));
    }
    if magic != 0xFEED_FEED {
        return Err(bad("bad magic number"));
    }
    let mut h = Sha1::new();
    h.update(&pw);
    h.update(b"Mighty Aphrodite");
    h.update(body);
    if h.finalize().as_slice() != mac {
        return Err(StoreError::BadPassword);
    }
    let version = r.u32().ok_or_else(|| bad("no version"))?;
    if version != 1 && version != 2 {
        return Err(bad("unknown version"));
    }
    let count = r.u32().ok_or_else(|| bad("no entry count"))?;
    let mut certs = Vec::new();
    let mut key = None;
    let cert = |r: &mut Reader| -> Option<CertificateDer<'static>> {
        if version == 2 {
            r.utf()?; // "X.509"
        }
        let n = r.u32()? as usize;
        Some(CertificateDer::from(r.take(n)?.to_vec()))
    };
    for _ in 0..count {
        let tag = r.u32().ok_or_else(|| bad("truncated entry"))?;
        r.utf().ok_or_else(|| bad("truncated alias"))?;
        r.take(8).ok_or_else(|| bad("truncated date"))?;
        match tag {
            1 => {
                let n = r.u32().ok_or_else(|| bad("truncated key"))? as usize;
                let protected = r.take(n).ok_or_else(|| bad("truncated key"))?;
                let chain_len = r.u32().ok_or_else(|| bad("truncated chain"))?;
                let mut chain = Vec::new();
                for _ in 0..chain_len {
                    chain.push(cert(&mut r).ok_or_else(|| bad("truncated certificate"))?);
                }
                if key.is_none() {
                    let k = unprotect(protected, &pw).ok_or(StoreError::BadPassword)?;
                    key = Some((PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k)), chain));
                }
            }
            2 => certs.push(cert(&mut r).ok_or_else(|| bad("truncated certificate"))?),
            _ => return Err(bad("unknown entry type")),
        }
    }
    Ok(Contents { certs, key })
}

/// Sun's `KeyProtector`: the `EncryptedPrivateKeyInfo`'s data is a 20-byte
/// salt, the key XORed with a SHA-1 keystream (each block SHA-1 of the
/// password and the block before, starting from the salt), and SHA-1 of
/// the password and the plain key. The PKCS#8 key, or `None` when the
/// check fails.
fn unprotect(epki: &[u8], pw: &[u8]) -> Option<Vec<u8>> {
    // SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING }
    let (tag, seq, _) = tlv(epki)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, alg, rest) = tlv(seq)?;
    let (otag, oid, _) = tlv(alg)?;
    // 1.3.6.1.4.1.42.2.17.1.1
    const SUN_JKS: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01];
    if tag != 0x30 || otag != 0x06 || oid != SUN_JKS {
        return None;
    }
    let (tag, data, _) = tlv(rest)?;
    if tag != 0x04 || data.len() < 40 {
        return None;
    }
    let (salt, rest) = data.split_at(20);
    let (enc, check) = rest.split_at(rest.len() - 20);
    let mut plain = Vec::with_capacity(enc.len());
    let mut block: [u8; 20] = salt.try_into().ok()?;
    for chunk in enc.chunks(20) {
        let mut h = Sha1::new();
        h.update(pw);
        h.update(block);
        block = h.finalize().into();
        plain.extend(chunk.iter().zip(block.iter()).map(|(a, b)| a ^ b));
    }
    let mut h = Sha1::new();
    h.update(pw);
    h.update(&plain);
    (h.finalize().as_slice() == check).then_some(plain)
}

/// One DER TLV: (tag, content, what follows).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&len0, mut rest) = rest.split_first()?;
    let len = if len0 < 0x80 {
        len0 as usize
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let l = rest[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        rest = &rest[n..];
        l
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Big-endian reads off a byte slice, `None` past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// Java's `writeUTF`: a u16 length and modified UTF-8 (skipped).
    fn utf(&mut self) -> Option<&'a [u8]> {
        let n = u16::from_be_bytes(self.take(2)?.try_into().ok()?) as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_comes_from_the_key_or_the_file_name() {
        let p = Path::new("/x/keystore.JKS");
        assert!(matches!(StoreType::of(None, p), Err(StoreError::NoType(_))));
        let p = Path::new("/x/keystore.jks");
        assert_eq!(StoreType::of(None, p), Ok(StoreType::Jks));
        assert_eq!(StoreType::of(Some("pkcs12"), p), Ok(StoreType::Pkcs12));
        assert_eq!(
            StoreType::of(None, Path::new("a.p12")),
            Ok(StoreType::Pkcs12)
        );
        assert!(matches!(
            StoreType::of(None, Path::new("a.pfx")),
            Err(StoreError::NoType(_))
        ));
        assert_eq!(StoreType::of(None, Path::new("a.pem")), Ok(StoreType::Pem));
        assert_eq!(
            StoreType::of(None, Path::new("a.bcfks")),
            Err(StoreError::Bcfks)
        );
        assert!(matches!(
            StoreType::of(None, Path::new("a.store")),
            Err(StoreError::NoType(_))
        ));
        assert!(matches!(
            StoreType::of(Some("JCEKS"), p),
            Err(StoreError::UnknownType(_))
        ));
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        for ty in [StoreType::Jks, StoreType::Pkcs12, StoreType::Pem] {
            for bytes in [&b""[..], b"\xfe\xed\xfe\xed", &[0u8; 64], b"-----BEGIN"] {
                assert!(key_pair(bytes, ty, "pw").is_err(), "{ty:?} {bytes:?}");
            }
        }
    }

    #[test]
    fn der_lengths_are_bounded() {
        assert_eq!(
            tlv(&[0x04, 0x02, 1, 2, 3]),
            Some((4, &[1u8, 2][..], &[3u8][..]))
        );
        assert_eq!(tlv(&[0x04, 0x81, 0x01, 9]), Some((4, &[9u8][..], &[][..])));
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv(&[0x04, 0x05, 1]), None);
    }
}
