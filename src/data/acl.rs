//! Access control: the `world`, `auth`, `digest`, `ip`, `x509`, `sasl`
//! and `super` schemes.
//!
//! Owns the permission check (`ZooKeeperServer.checkACL`), the validation
//! and expansion of ACLs a client sets (`fixupACL`), and authentication of
//! `addauth` packets (`DigestAuthenticationProvider`). Pure logic.

use crate::protocol::jute::{Acl, Code, Id};
use base64::Engine;
use sha1::{Digest, Sha1};

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// What the ACL checks need to know about the server's settings.
#[derive(Debug, Clone, Default)]
pub struct AclPolicy {
    /// `zookeeper.skipACL`.
    pub skip: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<digest>`).
    pub super_digest: Option<String>,
    /// The `x509` scheme exists (a TLS client port is configured).
    pub x509: bool,
    /// `zookeeper.X509AuthenticationProvider.superUser`.
    pub x509_super_user: Option<String>,
    /// The `sasl` scheme exists (`SASLAuthenticationProvider` is configured).
    pub sasl: bool,
    /// `zookeeper.letAnySaslUserDoX`: a `sasl` ACL id any SASL user matches.
    pub let_any_sasl_user_do_x: Option<String>,
    /// `zookeeper.DigestAuthenticationProvider.enabled=false`: no `digest`
    /// scheme.
    pub digest_disabled: bool,
}

/// `user:base64(sha1("user:password"))`, as ZooKeeper computes it.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let digest = Sha1::digest(id_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Java's `Integer.parseInt` for the decimal strings an ip ACL holds: an
/// optional sign, then ASCII digits.
fn java_parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if s.starts_with('-') { -v } else { v };
    (i32::MIN as i64..=i32::MAX as i64)
        .contains(&v)
        .then_some(v)
}

fn ip_bytes(s: &str) -> Option<Vec<u8>> {
    // ZooKeeper 3.8's IPAuthenticationProvider reads dotted IPv4 only
    // (`v4addr2Bytes`; its v6 parser is a TODO): four parts, each an
    // Integer.parseInt in 0..=255. An IPv6 ACL is invalid and an IPv6
    // client matches nothing.
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            java_parse_int(p)
                .filter(|v| (0..=255).contains(v))
                .map(|v| v as u8)
        })
        .collect()
}

fn mask(addr: &mut [u8], bits: usize) {
    let start = bits / 8;
    let start_mask = ((1u16 << (8 - (bits % 8))) - 1) as u8;
    let start_mask = !start_mask;
    for (i, b) in addr.iter_mut().enumerate() {
        if i == start {
            *b &= start_mask;
        } else if i > start {
            *b = 0;
        }
    }
}

fn ip_prefix_bits(expr: &str, len: usize) -> Option<usize> {
    match expr.split_once('/') {
        None => Some(len * 8),
        Some((_, bits)) => {
            let bits: i64 = bits.parse().ok()?;
            (0..=(len as i64 * 8))
                .contains(&bits)
                .then_some(bits as usize)
        }
    }
}

/// Whether `client` matches the `ip` ACL expression `a.b.c.d[/bits]`.
pub fn ip_matches(client: &str, expr: &str) -> bool {
    let addr_part = expr.split('/').next().unwrap_or("");
    let Some(mut acl) = ip_bytes(addr_part) else {
        return false;
    };
    let Some(bits) = ip_prefix_bits(expr, acl.len()) else {
        return false;
    };
    let Some(mut remote) = ip_bytes(client) else {
        return false;
    };
    if remote.len() != acl.len() {
        return false;
    }
    mask(&mut acl, bits);
    mask(&mut remote, bits);
    acl == remote
}

fn ip_valid(expr: &str) -> bool {
    let addr_part = expr.split('/').next().unwrap_or("");
    match ip_bytes(addr_part) {
        Some(a) => ip_prefix_bits(expr, a.len()).is_some(),
        None => false,
    }
}

/// Java's `String.split(":")` drops trailing empty parts; ZooKeeper's digest
/// check relies on that: `user:` is invalid, `user:x:y` too.
fn digest_valid(id: &str) -> bool {
    let mut parts: Vec<&str> = id.split(':').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len() == 2
}

/// Whether a provider for `scheme` is registered (`ProviderRegistry`):
/// `x509` only where a TLS client port is configured, `sasl` only where
/// its provider is.
fn provider_known(policy: &AclPolicy, scheme: &str) -> bool {
    match scheme {
        "digest" => !policy.digest_disabled,
        "ip" => true,
        "x509" => policy.x509,
        "sasl" => policy.sasl,
        _ => false,
    }
}

/// Whether a scheme's ids are authenticated ones (`isAuthenticated`):
/// the ids an `auth` ACL expands to.
fn authenticated(policy: &AclPolicy, scheme: &str) -> bool {
    match scheme {
        "digest" => !policy.digest_disabled,
        "x509" => policy.x509,
        "sasl" => policy.sasl,
        _ => false,
    }
}

fn matches(policy: &AclPolicy, scheme: &str, auth_id: &str, acl_id: &str) -> bool {
    match scheme {
        "digest" => auth_id == acl_id,
        "ip" => ip_matches(auth_id, acl_id),
        // X509AuthenticationProvider.matches: the super user matches any.
        "x509" => auth_id == acl_id || policy.x509_super_user.as_deref() == Some(auth_id),
        // SASLAuthenticationProvider.matches: a user named super matches
        // any; so does every user an id of letAnySaslUserDoX.
        "sasl" => {
            auth_id == "super"
                || auth_id == acl_id
                || policy.let_any_sasl_user_do_x.as_deref() == Some(acl_id)
        }
        _ => false,
    }
}

/// Whether `dn` parses as an X.500 name (`new X500Principal(dn)`): RDNs
/// split by unescaped commas, each `type=value` with a type.
fn dn_valid(dn: &str) -> bool {
    let mut parts = Vec::new();
    let (mut cur, mut esc) = (String::new(), false);
    for c in dn.chars() {
        match (esc, c) {
            (true, _) => {
                esc = false;
                cur.push(c);
            }
            (false, '\\') => esc = true,
            (false, ',') | (false, ';') | (false, '+') => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    !esc && parts.iter().all(|p| {
        p.split_once('=')
            .is_some_and(|(t, _)| !t.trim().is_empty() && !t.trim().contains(' '))
    })
}

/// A Kerberos principal's parts (`KerberosName`): `service[/host]@REALM`,
/// or a plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosName {
    pub service: String,
    pub host: Option<String>,
    pub realm: Option<String>,
}

impl KerberosName {
    /// Parses as Java's `KerberosName(String)`: `([^/@]*)(/([^/@]*))?@([^/@]*)`,
    /// else a name without `@` is a plain service name; else it is
    /// malformed.
    pub fn parse(name: &str) -> Option<KerberosName> {
        let plain = |s: &str| !s.contains(['/', '@']);
        if let Some((left, realm)) = name.split_once('@') {
            if !plain(realm) {
                return None;
            }
            let (service, host) = match left.split_once('/') {
                Some((s, h)) => (s, Some(h)),
                None => (left, None),
            };
            if !plain(service) || !host.is_none_or(plain) {
                return None;
            }
            return Some(KerberosName {
                service: service.to_string(),
                host: host.map(str::to_string),
                realm: Some(realm.to_string()),
            });
        }
        Some(KerberosName {
            service: name.to_string(),
            host: None,
            realm: None,
        })
    }

    /// `getShortName` under the `DEFAULT` rule: a plain name is itself; a
    /// principal of the default realm is its service (first component);
    /// any other has no short name.
    pub fn short_name(&self, default_realm: Option<&str>) -> Option<String> {
        match &self.realm {
            None if self.host.is_none() => Some(self.service.clone()),
            Some(r) if Some(r.as_str()) == default_realm => Some(self.service.clone()),
            _ => None,
        }
    }
}

/// Checks that `auth` grants `perm` on a node with `acl`.
pub fn check(policy: &AclPolicy, acl: &[Acl], perm: i32, auth: &[Id]) -> Result<(), Code> {
    if policy.skip || acl.is_empty() {
        return Ok(());
    }
    if auth.iter().any(|a| a.scheme == "super") {
        return Ok(());
    }
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        if provider_known(policy, &a.id.scheme)
            && auth
                .iter()
                .any(|x| x.scheme == a.id.scheme && matches(policy, &a.id.scheme, &x.id, &a.id.id))
        {
            return Ok(());
        }
    }
    Err(Code::NoAuth)
}

/// Validates and expands the ACL a client sets (ZooKeeper's `fixupACL`).
pub fn fixup(policy: &AclPolicy, acls: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, Code> {
    if acls.is_empty() {
        return Err(Code::InvalidAcl);
    }
    let mut unique: Vec<&Acl> = Vec::with_capacity(acls.len());
    for a in acls {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        let id = &a.id;
        if id.scheme == "world" && id.id == "anyone" {
            out.push(a.clone());
        } else if id.scheme == "auth" {
            let mut any = false;
            for cid in auth {
                // Only providers that authenticate (digest, x509) expand `auth`.
                if authenticated(policy, &cid.scheme) {
                    any = true;
                    out.push(Acl {
                        perms: a.perms,
                        id: cid.clone(),
                    });
                }
            }
            if !any {
                return Err(Code::InvalidAcl);
            }
        } else {
            let valid = match id.scheme.as_str() {
                "digest" if !policy.digest_disabled => digest_valid(&id.id),
                "ip" => ip_valid(&id.id),
                "x509" if policy.x509 => dn_valid(&id.id),
                "sasl" if policy.sasl => KerberosName::parse(&id.id).is_some(),
                _ => false,
            };
            if !valid {
                return Err(Code::InvalidAcl);
            }
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// Authenticates an `addauth` packet: the ids to add, or `AuthFailed`.
pub fn authenticate(policy: &AclPolicy, scheme: &str, auth: &[u8]) -> Result<Vec<Id>, Code> {
    match scheme {
        "digest" if !policy.digest_disabled => {
            let text = String::from_utf8_lossy(auth);
            let digest = generate_digest(&text);
            let mut ids = Vec::new();
            if policy.super_digest.as_deref() == Some(digest.as_str()) {
                ids.push(Id {
                    scheme: "super".into(),
                    id: String::new(),
                });
            }
            ids.push(Id {
                scheme: "digest".into(),
                id: digest,
            });
            Ok(ids)
        }
        // IPAuthenticationProvider ignores the data and adds the client's
        // own address, which every connection already holds: nothing new.
        "ip" => Ok(Vec::new()),
        _ => Err(Code::AuthFailed),
    }
}

/// The user name `whoAmI` reports for an id (`AuthUtil.getUser`).
pub fn user_name(id: &Id) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_string(),
        "ip" | "x509" | "sasl" => id.id.clone(),
        _ => String::new(),
    }
}

/// Java's `String.hashCode`, over UTF-16 code units.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The jute-generated `Id.hashCode`.
fn java_id_hash(id: &Id) -> i32 {
    let r = 37i32
        .wrapping_mul(17)
        .wrapping_add(java_string_hash(&id.scheme));
    37i32.wrapping_mul(r).wrapping_add(java_string_hash(&id.id))
}

/// Adds `id` to a connection's auth ids, keeping the order ZooKeeper's
/// `ConcurrentHashMap`-backed set iterates in (by hash bucket, then by
/// insertion), since that order shows in whoAmI and in `auth` ACL expansion.
pub fn add_auth_id(ids: &mut Vec<Id>, id: Id) {
    if ids.contains(&id) {
        return;
    }
    ids.push(id);
    // The table starts at 16 buckets and doubles past 3/4 full.
    let mut table = 16usize;
    while ids.len() > table * 3 / 4 {
        table *= 2;
    }
    let bucket = |id: &Id| {
        let h = java_id_hash(id);
        let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
        spread as usize & (table - 1)
    };
    ids.sort_by_key(|id| bucket(id));
}

/// The ACL as a client without ADMIN sees it: digest hashes hidden.
pub fn redact(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: "digest".into(),
                        id: format!("{user}:x"),
                    },
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        }
    }
    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // The value `DigestAuthenticationProvider.generateDigest("super:test")` prints.
        assert_eq!(
            generate_digest("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn ip_prefixes() {
        assert!(ip_matches("127.0.0.1", "127.0.0.1"));
        assert!(ip_matches("10.1.2.3", "10.0.0.0/8"));
        assert!(!ip_matches("11.1.2.3", "10.0.0.0/8"));
        assert!(ip_matches("10.1.2.3", "10.1.2.0/25"));
        assert!(!ip_matches("10.1.2.200", "10.1.2.0/25"));
        assert!(!ip_matches("10.1.2.3", "10.1.2.0/33"));
        assert!(ip_valid("1.2.3.4/0") && !ip_valid("1.2.3") && !ip_valid("host"));
        // 3.8.0 parses IPv4 only, with Java's parseInt per part.
        assert!(!ip_valid("fe80::1") && !ip_valid("::1/128") && !ip_valid("1.2.3.256"));
        assert!(ip_valid("010.0.0.1") && ip_matches("10.0.0.1", "010.0.0.+1"));
        assert!(!ip_matches("::1", "0.0.0.0/0"));
    }

    #[test]
    fn check_and_fixup() {
        let p = AclPolicy::default();
        let a = vec![
            acl(perms::READ, "digest", "u:h"),
            acl(perms::ALL, "ip", "127.0.0.1"),
        ];
        assert_eq!(
            check(&p, &a, perms::WRITE, &[id("digest", "u:h")]),
            Err(Code::NoAuth)
        );
        assert_eq!(check(&p, &a, perms::READ, &[id("digest", "u:h")]), Ok(()));
        assert_eq!(
            check(&p, &a, perms::WRITE, &[id("ip", "127.0.0.1")]),
            Ok(())
        );
        assert_eq!(check(&p, &a, perms::WRITE, &[id("super", "")]), Ok(()));
        assert_eq!(
            check(
                &AclPolicy {
                    skip: true,
                    ..p.clone()
                },
                &a,
                perms::WRITE,
                &[]
            ),
            Ok(())
        );

        assert_eq!(
            fixup(&AclPolicy::default(), &[], &[]),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(
                &AclPolicy::default(),
                &[acl(31, "auth", "")],
                &[id("ip", "1.2.3.4")]
            ),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(
                &AclPolicy::default(),
                &[acl(31, "auth", "")],
                &[id("ip", "1.2.3.4"), id("digest", "u:h")]
            )
            .unwrap(),
            vec![acl(31, "digest", "u:h")]
        );
        assert_eq!(
            fixup(&AclPolicy::default(), &[acl(31, "digest", "user:")], &[]),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&AclPolicy::default(), &[acl(31, "digest", "a:b:c")], &[]),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&AclPolicy::default(), &[acl(31, "world", "someone")], &[]),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&AclPolicy::default(), &[acl(31, "bogus", "x")], &[]),
            Err(Code::InvalidAcl)
        );
        let dup = vec![acl(31, "world", "anyone"), acl(31, "world", "anyone")];
        assert_eq!(fixup(&AclPolicy::default(), &dup, &[]).unwrap().len(), 1);
    }

    #[test]
    fn auth_ids_iterate_like_zookeeper() {
        // java: "ip".hashCode() == 3367, "digest".hashCode() == -1331913276
        assert_eq!(java_string_hash("ip"), 3367);
        assert_eq!(java_string_hash("digest"), -1331913276);
        let mut ids = vec![];
        add_auth_id(&mut ids, id("ip", "127.0.0.1"));
        add_auth_id(&mut ids, id("digest", "alice:x"));
        add_auth_id(&mut ids, id("ip", "127.0.0.1"));
        assert_eq!(ids.len(), 2);
        assert!(!user_name(&ids[0]).is_empty());
    }

    #[test]
    fn super_digest_grants_super() {
        let p = AclPolicy {
            super_digest: Some(generate_digest("super:pw")),
            ..AclPolicy::default()
        };
        let ids = authenticate(&p, "digest", b"super:pw").unwrap();
        assert_eq!(ids[0].scheme, "super");
        assert_eq!(authenticate(&p, "digest", b"bob:pw").unwrap().len(), 1);
        assert_eq!(authenticate(&p, "kerberos", b"x"), Err(Code::AuthFailed));
    }

    #[test]
    fn a_disabled_digest_provider_leaves_no_digest_scheme() {
        let off = AclPolicy {
            digest_disabled: true,
            ..AclPolicy::default()
        };
        let d = generate_digest("bob:pw");
        let node = [acl(perms::READ, "digest", &d)];
        let me = [id("digest", &d)];
        assert_eq!(
            check(&AclPolicy::default(), &node, perms::READ, &me),
            Ok(())
        );
        assert_eq!(check(&off, &node, perms::READ, &me), Err(Code::NoAuth));
        assert_eq!(fixup(&off, &node, &[]), Err(Code::InvalidAcl));
        assert_eq!(
            authenticate(&off, "digest", b"bob:pw"),
            Err(Code::AuthFailed)
        );
        assert_eq!(
            fixup(&off, &[acl(31, "auth", "")], &me),
            Err(Code::InvalidAcl)
        );
    }

    #[test]
    fn sasl_ids_exist_only_with_the_provider_and_match_as_zookeeper_matches_them() {
        let off = AclPolicy::default();
        let on = AclPolicy {
            sasl: true,
            ..AclPolicy::default()
        };
        let node = [acl(perms::READ, "sasl", "bob")];
        let bob = [id("sasl", "bob")];
        assert_eq!(check(&off, &node, perms::READ, &bob), Err(Code::NoAuth));
        assert_eq!(fixup(&off, &node, &[]), Err(Code::InvalidAcl));
        assert_eq!(check(&on, &node, perms::READ, &bob), Ok(()));
        assert_eq!(
            check(&on, &node, perms::READ, &[id("sasl", "eve")]),
            Err(Code::NoAuth)
        );
        // A SASL user named super matches any sasl ACL.
        assert_eq!(
            check(&on, &node, perms::READ, &[id("sasl", "super")]),
            Ok(())
        );
        // letAnySaslUserDoX: any SASL user matches ACLs of that id.
        let any = AclPolicy {
            let_any_sasl_user_do_x: Some("bob".into()),
            ..on.clone()
        };
        assert_eq!(
            check(&any, &node, perms::READ, &[id("sasl", "eve")]),
            Ok(())
        );
        assert_eq!(
            check(&any, &node, perms::READ, &[id("digest", "bob")]),
            Err(Code::NoAuth)
        );
        // `auth` expands to the sasl id; a malformed Kerberos name is invalid.
        assert_eq!(
            fixup(
                &on,
                &[acl(31, "auth", "")],
                &[id("ip", "1.2.3.4"), id("sasl", "bob")]
            ),
            Ok(vec![acl(31, "sasl", "bob")])
        );
        assert_eq!(
            fixup(&on, &[acl(31, "sasl", "a@b@c")], &[]),
            Err(Code::InvalidAcl)
        );
        assert!(fixup(&on, &[acl(31, "sasl", "zk/h@R")], &[]).is_ok());
        assert_eq!(user_name(&id("sasl", "bob@R")), "bob@R");
    }

    #[test]
    fn x509_ids_exist_only_with_tls_and_match_exactly_or_as_super_user() {
        let dn = "CN=client,OU=test,O=corral";
        let off = AclPolicy::default();
        let on = AclPolicy {
            x509: true,
            ..AclPolicy::default()
        };
        let node = [acl(perms::READ, "x509", dn)];
        let me = [id("x509", dn)];
        // Without a TLS port the scheme is unknown: no match, no such ACL.
        assert_eq!(check(&off, &node, perms::READ, &me), Err(Code::NoAuth));
        assert_eq!(fixup(&off, &node, &[]), Err(Code::InvalidAcl));
        assert_eq!(check(&on, &node, perms::READ, &me), Ok(()));
        let other = [id("x509", "CN=other")];
        assert_eq!(check(&on, &node, perms::READ, &other), Err(Code::NoAuth));
        let su = AclPolicy {
            x509_super_user: Some("CN=other".into()),
            ..on.clone()
        };
        assert_eq!(check(&su, &node, perms::READ, &other), Ok(()));
        // `auth` expands to the x509 id (X509AuthenticationProvider is an
        // authenticated scheme); ip is not.
        assert_eq!(
            fixup(
                &on,
                &[acl(31, "auth", "")],
                &[id("ip", "1.2.3.4"), id("x509", dn)]
            ),
            Ok(vec![acl(31, "x509", dn)])
        );
        assert_eq!(fixup(&on, &node, &[]), Ok(node.to_vec()));
        assert_eq!(
            fixup(&on, &[acl(31, "x509", "not a name")], &[]),
            Err(Code::InvalidAcl)
        );
        assert_eq!(user_name(&me[0]), dn);
    }
}
