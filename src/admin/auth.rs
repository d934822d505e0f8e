//! Who may run the AdminServer commands ZooKeeper 3.9 guards (`snapshot`,
//! `restore`), and how often: 3.9's `Commands.runCommand` authentication
//! and authorization, and its `RateLimiter`. Pure: the Authorization
//! header, the peer's address, the root node's ACL and the time come in, a
//! decision goes out.
//!
//! 3.9 reads the header as `<scheme>` or `<scheme> <data>` (split on one
//! space), asks that scheme's provider for the ids (`digest`: the ids of
//! `user:password`, the super id too when it matches the super digest;
//! `ip`: the connection's address, the data ignored; `x509`: the client
//! certificate, which corral's AdminServer never asks for, so it always
//! fails), and then checks the ids against the ACL of `/` for every bit of
//! ALL, as a client's request is checked (`zookeeper.skipACL`, the super
//! id and an empty ACL let anyone through).

use crate::data::acl::{self, perms, AclPolicy};
use crate::protocol::jute::{Acl, Id};
use std::net::SocketAddr;

/// The permissions `snapshot` and `restore` need on `/`
/// (`new AuthRequest(ZooDefs.Perms.ALL, ROOT_PATH)`).
pub const NEEDED: i32 = perms::ALL;

/// An AdminServer refusal: the HTTP status and the command's `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: &'static str,
}

/// No Authorization header.
pub const MISSING: Refusal = Refusal {
    status: 401,
    error: "Auth info is missing for the command",
};
/// The header names no known scheme, or its data fails it.
pub const NOT_AUTHENTICATED: Refusal = Refusal {
    status: 401,
    error: "Not authenticated",
};
/// The ids lack a permission on `/`.
pub const NOT_AUTHORIZED: Refusal = Refusal {
    status: 403,
    error: "Not authorized",
};

/// `Commands.handleAuthentication`: the ids the header stands for, or
/// `None` (not authenticated).
pub fn authenticate(policy: &AclPolicy, header: &str, peer: Option<SocketAddr>) -> Option<Vec<Id>> {
    // Java's `split(" ")`: trailing empty strings are dropped.
    let mut parts: Vec<&str> = header.split(' ').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() > 2 {
        return None;
    }
    let data = parts.get(1).copied();
    let ids = match parts[0] {
        // `DigestAuthenticationProvider` without data: a runtime exception,
        // which 3.9 reports as not authenticated.
        "digest" => acl::authenticate(policy, "digest", data?.as_bytes()).ok()?,
        "ip" => super::console::anonymous(peer),
        _ => return None,
    };
    (!ids.is_empty()).then_some(ids)
}

/// `Commands.handleAuthorization`: each bit of `perm` checked against
/// `acl` (the root node's) on its own, as 3.9 does.
pub fn authorize(policy: &AclPolicy, acl: &[Acl], ids: &[Id], perm: i32) -> bool {
    (0..31)
        .map(|b| 1 << b)
        .filter(|bit| perm & bit != 0)
        .all(|bit| acl::check(policy, acl, bit, ids).is_ok())
}

/// The whole decision for a guarded command: the header, then the ids
/// against the root ACL.
pub fn decide(
    policy: &AclPolicy,
    header: Option<&str>,
    peer: Option<SocketAddr>,
    root_acl: &[Acl],
) -> Result<(), Refusal> {
    let header = header.ok_or(MISSING)?;
    let ids = authenticate(policy, header, peer).ok_or(NOT_AUTHENTICATED)?;
    if authorize(policy, root_acl, &ids, NEEDED) {
        Ok(())
    } else {
        Err(NOT_AUTHORIZED)
    }
}

/// ZooKeeper's `RateLimiter` with a rate of one: the first call is
/// allowed, then one per interval (the interval restarts at the first
/// call after it has passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimiter {
    interval_ms: u64,
    last_reset_ms: u64,
    remained: u32,
}

impl RateLimiter {
    pub fn new(interval_ms: u64, now_ms: u64) -> RateLimiter {
        RateLimiter {
            interval_ms,
            last_reset_ms: now_ms,
            remained: 1,
        }
    }

    /// Whether a call now is allowed (and counts it).
    pub fn allow(&mut self, now_ms: u64) -> bool {
        if now_ms > self.last_reset_ms.saturating_add(self.interval_ms) {
            self.remained = 1;
            self.last_reset_ms = now_ms;
        }
        if self.remained > 0 {
            self.remained -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    fn acl_of(perms: i32, scheme: &str, who: &str) -> Vec<Acl> {
        vec![Acl {
            perms,
            id: id(scheme, who),
        }]
    }

    #[test]
    fn the_header_names_a_scheme_and_its_data() {
        let p = AclPolicy::default();
        let peer: Option<SocketAddr> = Some("10.1.2.3:5555".parse().unwrap());
        let ids = authenticate(&p, "digest ops:secret", peer).unwrap();
        assert_eq!(ids, [id("digest", &acl::generate_digest("ops:secret"))]);
        // A trailing space is dropped, as Java's split drops it.
        assert_eq!(authenticate(&p, "digest ops:secret ", peer).unwrap(), ids);
        assert_eq!(
            authenticate(&p, "ip", peer).unwrap(),
            [id("ip", "10.1.2.3")]
        );
        assert_eq!(
            authenticate(&p, "ip whatever", peer).unwrap(),
            [id("ip", "10.1.2.3")]
        );
        for bad in [
            "digest",
            "digest a b",
            "Basic b3BzOnNlY3JldA==",
            "x509",
            "sasl x",
            "",
        ] {
            assert_eq!(authenticate(&p, bad, peer), None, "{bad:?}");
        }
        let off = AclPolicy {
            digest_disabled: true,
            ..Default::default()
        };
        assert_eq!(authenticate(&off, "digest ops:secret", peer), None);
        let sup = AclPolicy {
            super_digest: Some(acl::generate_digest("super:pw")),
            ..Default::default()
        };
        assert_eq!(
            authenticate(&sup, "digest super:pw", peer).unwrap()[0].scheme,
            "super"
        );
    }

    #[test]
    fn every_bit_of_all_is_needed_on_the_root() {
        let p = AclPolicy::default();
        let ops = acl::generate_digest("ops:secret");
        let root = acl_of(perms::ALL, "digest", &ops);
        let peer: Option<SocketAddr> = Some("127.0.0.1:1".parse().unwrap());
        assert_eq!(decide(&p, None, peer, &root), Err(MISSING));
        assert_eq!(
            decide(&p, Some("digest"), peer, &root),
            Err(NOT_AUTHENTICATED)
        );
        assert_eq!(
            decide(&p, Some("digest ops:wrong"), peer, &root),
            Err(NOT_AUTHORIZED)
        );
        assert_eq!(decide(&p, Some("ip"), peer, &root), Err(NOT_AUTHORIZED));
        assert_eq!(decide(&p, Some("digest ops:secret"), peer, &root), Ok(()));
        // All bits, not any: READ|WRITE|CREATE|DELETE without ADMIN fails.
        let most = acl_of(perms::ALL & !perms::ADMIN, "digest", &ops);
        assert_eq!(
            decide(&p, Some("digest ops:secret"), peer, &most),
            Err(NOT_AUTHORIZED)
        );
        // The bits may come from different entries.
        let mut split = acl_of(perms::ADMIN, "ip", "127.0.0.1");
        split.extend(acl_of(perms::ALL & !perms::ADMIN, "ip", "127.0.0.0/8"));
        assert_eq!(decide(&p, Some("ip"), peer, &split), Ok(()));
        // world:anyone ALL (ZooKeeper's default root ACL): any id passes.
        let open = acl_of(perms::ALL, "world", "anyone");
        assert_eq!(decide(&p, Some("digest x:y"), peer, &open), Ok(()));
        assert_eq!(decide(&p, None, peer, &open), Err(MISSING));
        // skipACL and the super digest let anyone authenticated through.
        let skip = AclPolicy {
            skip: true,
            ..Default::default()
        };
        assert_eq!(decide(&skip, Some("digest x:y"), peer, &root), Ok(()));
        let sup = AclPolicy {
            super_digest: Some(acl::generate_digest("super:pw")),
            ..Default::default()
        };
        assert_eq!(decide(&sup, Some("digest super:pw"), peer, &root), Ok(()));
    }

    #[test]
    fn one_call_per_interval() {
        let mut r = RateLimiter::new(1000, 50);
        assert!(r.allow(50));
        assert!(!r.allow(60));
        assert!(!r.allow(1050));
        assert!(r.allow(1051));
        assert!(!r.allow(2000));
        assert!(r.allow(5000));
        let mut zero = RateLimiter::new(0, 0);
        assert!(zero.allow(0));
        assert!(!zero.allow(0));
        assert!(zero.allow(1));
    }
}
