//! Whether a peer's certificate names the host it was reached at (or
//! reached us from), as ZooKeeper's `ZKHostnameVerifier` decides on quorum
//! links: an IP host must equal an IP subject alternative name; a DNS host
//! must match a DNS subject alternative name (one `*` wildcard, which
//! matches within one label); the subject's CN is used only when the
//! certificate has no subject alternative name at all (ZooKeeper's own
//! recipe makes quorum certificates with `-dname "cn=$(hostname -f)"` and
//! no SAN). Pure: the names come in, the verdict goes out.

use std::net::IpAddr;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The names a certificate offers for a host check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    /// DNS subject alternative names.
    pub dns: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
    /// Whether the certificate has any subject alternative name (of any
    /// type): then the CN is never looked at.
    pub any_san: bool,
    /// The most specific CN of the subject.
    pub cn: Option<String>,
}

/// Why a certificate does not name a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the certificate cannot be parsed")]
    Unparsable,
    #[error(
        "the certificate for <{host}> matches none of its subject alternative names {names:?}"
    )]
    NoSanMatch { host: String, names: Vec<String> },
    #[error("the certificate for <{host}> has no subject alternative names and its CN {cn:?} does not match")]
    NoCnMatch { host: String, cn: String },
    #[error("the certificate for <{host}> has neither a common name nor alternative names")]
    NoNames { host: String },
}

/// The names of a DER certificate.
pub fn cert_names(der: &[u8]) -> Result<CertNames, NameError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| NameError::Unparsable)?;
    let mut out = CertNames::default();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            out.any_san = true;
            match n {
                GeneralName::DNSName(d) => out.dns.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        out.ips.push(IpAddr::from(a));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        out.ips.push(IpAddr::from(a));
                    }
                }
                _ => {}
            }
        }
    }
    // Java takes the first CN of the RFC 2253 form: the last in DER order.
    out.cn = cert
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .last()
        .map(str::to_string);
    Ok(out)
}

/// `host` without IPv6 brackets, as an address when it is one.
fn as_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// RFC 2818 matching, strict: one `*`, matching no dot.
fn matches_identity(host: &str, identity: &str) -> bool {
    match identity.find('*') {
        Some(at) => {
            let (prefix, suffix) = (&identity[..at], &identity[at + 1..]);
            if host.len() < prefix.len() + suffix.len()
                || !host.starts_with(prefix)
                || !host.ends_with(suffix)
            {
                return false;
            }
            !host[prefix.len()..host.len() - suffix.len()].contains('.')
        }
        None => host.eq_ignore_ascii_case(identity),
    }
}

/// A CN or host: an IPv6 address in its one canonical form, else as is.
fn normalise(s: &str) -> String {
    match as_ip(s) {
        Some(IpAddr::V6(a)) => a.to_string(),
        _ => s.to_string(),
    }
}

/// Whether `names` name `host` (an IP address or a DNS name), by
/// ZooKeeper's rules (see the module doc).
pub fn verify(host: &str, names: &CertNames) -> Result<(), NameError> {
    let host_l = host.to_ascii_lowercase();
    if names.any_san {
        let ok = match as_ip(&host_l) {
            Some(ip) => names.ips.contains(&ip),
            None => names
                .dns
                .iter()
                .any(|d| matches_identity(&host_l, &d.to_ascii_lowercase())),
        };
        if ok {
            return Ok(());
        }
        return Err(NameError::NoSanMatch {
            host: host.to_string(),
            names: names
                .dns
                .iter()
                .cloned()
                .chain(names.ips.iter().map(|i| i.to_string()))
                .collect(),
        });
    }
    let Some(cn) = &names.cn else {
        return Err(NameError::NoNames {
            host: host.to_string(),
        });
    };
    if matches_identity(&normalise(&host_l), &normalise(&cn.to_ascii_lowercase())) {
        Ok(())
    } else {
        Err(NameError::NoCnMatch {
            host: host.to_string(),
            cn: cn.clone(),
        })
    }
}

/// Whether `names` name any of `hosts`, tried in order (ZooKeeper's trust
/// manager tries the peer's address, then its host name). The error is
/// the last host's.
pub fn verify_any(hosts: &[String], names: &CertNames) -> Result<(), NameError> {
    let mut last = NameError::NoNames {
        host: String::new(),
    };
    for h in hosts {
        match verify(h, names) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn san(dns: &[&str], ips: &[&str]) -> CertNames {
        CertNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            any_san: true,
            cn: Some("ignored.example".into()),
        }
    }

    fn cn(cn: &str) -> CertNames {
        CertNames {
            cn: Some(cn.into()),
            ..CertNames::default()
        }
    }

    #[test]
    fn an_ip_host_needs_an_equal_ip_san() {
        let n = san(&["localhost"], &["127.0.0.1", "::1"]);
        assert!(verify("127.0.0.1", &n).is_ok());
        assert!(verify("0:0:0:0:0:0:0:1", &n).is_ok());
        assert!(verify("[::1]", &n).is_ok());
        assert!(matches!(
            verify("127.0.0.2", &n),
            Err(NameError::NoSanMatch { .. })
        ));
        // A DNS SAN spelling the address is not an IP SAN.
        assert!(verify("10.0.0.1", &san(&["10.0.0.1"], &[])).is_err());
    }

    #[test]
    fn a_dns_host_matches_dns_sans_with_one_label_wildcards() {
        let n = san(&["zk1.example.com", "*.corral.test"], &["127.0.0.1"]);
        assert!(verify("ZK1.example.com", &n).is_ok());
        assert!(verify("a.corral.test", &n).is_ok());
        assert!(verify("a.b.corral.test", &n).is_err());
        assert!(verify("corral.test", &n).is_err());
        assert!(verify("zk2.example.com", &n).is_err());
        assert!(verify("p-*.x", &san(&["p-*.x"], &[])).is_ok());
        assert!(verify("p-1.x", &san(&["p-*.x"], &[])).is_ok());
        assert!(verify("q-1.x", &san(&["p-*.x"], &[])).is_err());
    }

    #[test]
    fn the_cn_counts_only_without_any_san() {
        assert!(verify("localhost", &cn("localhost")).is_ok());
        assert!(verify("LocalHost", &cn("localHOST")).is_ok());
        assert!(verify("127.0.0.1", &cn("127.0.0.1")).is_ok());
        assert!(matches!(
            verify("127.0.0.1", &cn("localhost")),
            Err(NameError::NoCnMatch { .. })
        ));
        // With a SAN (even of another kind), the CN is not used.
        let mut n = san(&[], &["10.1.1.1"]);
        n.cn = Some("localhost".into());
        assert!(verify("localhost", &n).is_err());
        assert!(matches!(
            verify("x", &CertNames::default()),
            Err(NameError::NoNames { .. })
        ));
        assert!(verify("::1", &cn("0:0:0:0:0:0:0:1")).is_ok());
    }

    #[test]
    fn any_of_the_hosts_will_do_in_order() {
        let n = cn("localhost");
        assert!(verify_any(&["127.0.0.1".into(), "localhost".into()], &n).is_ok());
        assert!(verify_any(&["127.0.0.1".into()], &n).is_err());
        assert!(verify_any(&[], &n).is_err());
    }
}
