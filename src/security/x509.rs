//! The `x509` ACL id of a client certificate, as ZooKeeper's
//! `X509AuthenticationProvider` makes it: the subject's
//! `X500Principal.getName()`, RFC 2253 (last RDN first, `,` between RDNs,
//! `+` inside one, the RFC's keywords, other attributes as a dotted OID
//! and `#` with the hex of their DER value). Pure.

use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// RFC 2253's keywords (Java prints these; other types as dotted OIDs).
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The subject of a DER certificate in RFC 2253 form, or `None` when the
/// certificate cannot be parsed.
pub fn subject_rfc2253(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut rdns: Vec<String> = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let mut parts = Vec::new();
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let text = match (keyword(&oid), string_value(atv)) {
                (Some(k), Some(v)) => format!("{k}={}", escape(&v)),
                (k, _) => {
                    let name = k.map(str::to_string).unwrap_or(oid);
                    format!("{name}=#{}", hex(&atv.attr_value().to_der_vec().ok()?))
                }
            };
            parts.push(text);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// A directory string's text (Printable, UTF8, IA5, Teletex, BMP,
/// Universal); `None` for other value types.
fn string_value(atv: &x509_parser::x509::AttributeTypeAndValue) -> Option<String> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let v = atv.attr_value();
    let data = v.data;
    match v.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_string)
        }
        Tag::TeletexString => Some(data.iter().map(|&b| b as char).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// Java's `AVA.toRFC2253String` escaping: `,=+<>#;"\` anywhere, and a
/// leading or trailing space.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        if ",=+<>#;\"\\".contains(c) || (c == ' ' && (i == 0 || i + 1 == n)) {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        out.push(c);
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_java() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape(" x "), "\\ x\\ ");
        assert_eq!(escape("#1=2"), "\\#1\\=2");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn garbage_has_no_subject() {
        assert_eq!(subject_rfc2253(b""), None);
        assert_eq!(subject_rfc2253(&[0x30, 0x03, 1, 2, 3]), None);
    }
}
