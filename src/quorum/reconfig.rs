//! Dynamic reconfig's rules (ZooKeeper 3.8's `reconfig`, op 16): the
//! membership as a versioned value ([`Membership`]: the `server.N` lines,
//! any `group.N`/`weight.N` lines and the `version`), read from and printed
//! as the text of `/zookeeper/config` and the dynamic config file, and the
//! leader's checks that turn a `ReconfigRequest` into the next membership
//! ([`next_membership`], `PrepRequestProcessor.pRequest2Txn`'s reconfig
//! case, in its order).
//!
//! Logic only, no I/O. The sequencer preps a reconfig with it; the replica
//! activates what a quorum committed.

use crate::config::{parse_server_line, PeerType, ServerSpec};
use crate::protocol::jute::{Code, ReconfigRequest};
use crate::quorum::election::wire::{copied_map_capacity, quorum_config_text};
use crate::quorum::{Hierarchy, Quorum, Sid};
use std::collections::{BTreeMap, BTreeSet};

/// At start, `/zookeeper/config` holds the config file's text, as
/// ZooKeeper's `initConfigInZKDatabase` puts it there before the log is
/// replayed: except, with reconfig on, when the replayed log ends with a
/// newer config (a reconfig logged and maybe never activated here, whose
/// dynamic file was not written): that one stays, for the election and
/// NEWLEADER to count it as the last seen config.
pub fn put_config_node(
    tree: &mut crate::data::tree::Tree,
    text: &[u8],
    reconfig_enabled: bool,
    now: i64,
) {
    let version = Membership::parse(&String::from_utf8_lossy(text)).map_or(0, |m| m.version);
    let logged = tree
        .get(crate::data::tree::CONFIG)
        .and_then(|n| Membership::parse(&String::from_utf8_lossy(n.data()?)).ok());
    if reconfig_enabled && logged.is_some_and(|m| m.version > version) {
        return;
    }
    tree.set_config_node(text, version, now);
}

/// A quorum config with its version: the zxid of the reconfig that made
/// it (0 for a config file without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// One spec per server id, ascending.
    pub servers: Vec<ServerSpec>,
    pub hierarchy: Option<Hierarchy>,
    pub version: i64,
    /// The bucket count of the Java `HashMap` the config's text is printed
    /// from: 16 for a config read from text, less for an incremental
    /// reconfig's (copied from the last config, see [`Membership::text`]).
    pub capacity: usize,
}

impl Membership {
    pub fn new(servers: Vec<ServerSpec>, hierarchy: Option<Hierarchy>, version: i64) -> Membership {
        let mut by_id: BTreeMap<u64, ServerSpec> = BTreeMap::new();
        for s in servers {
            by_id.insert(s.id, s);
        }
        Membership {
            servers: by_id.into_values().collect(),
            hierarchy,
            version,
            capacity: 16,
        }
    }

    /// Who votes and what makes a quorum.
    pub fn quorum(&self) -> Quorum {
        let q = Quorum::from_servers(&self.servers);
        match &self.hierarchy {
            Some(h) => q.with_hierarchy(h.clone()),
            None => q,
        }
    }

    /// `QuorumVerifier.toString()`: what `/zookeeper/config`, the dynamic
    /// config file (less its last line) and notifications carry.
    pub fn text(&self) -> String {
        quorum_config_text(
            &self.servers,
            self.hierarchy.as_ref(),
            self.version,
            self.capacity,
        )
    }

    /// The text without its `version=` line: the dynamic config file's
    /// content, and the lines NEWLEADER carries.
    pub fn servers_text(&self) -> String {
        let t = self.text();
        match t.rfind("version=") {
            Some(i) => t[..i].to_string(),
            None => t,
        }
    }

    /// Every member's quorum addresses (`host:quorumPort`, several with
    /// `multiAddress.enabled`).
    pub fn quorum_addrs(&self) -> std::collections::HashMap<Sid, Vec<String>> {
        quorum_addrs(&self.servers)
    }

    /// Every member's election addresses (`host:electionPort`) but `me`'s.
    pub fn election_addrs(&self, me: Sid) -> std::collections::HashMap<Sid, Vec<String>> {
        election_addrs(&self.servers, me)
    }

    /// The dynamic config file's content (`writeDynamicConfig` without
    /// the version): the `key=value` lines sorted as strings, joined by
    /// newlines, with none after the last.
    pub fn dynamic_file_text(&self) -> String {
        let mut lines: Vec<&str> = Vec::new();
        let text = self.servers_text();
        lines.extend(text.lines().filter(|l| !l.is_empty()));
        lines.sort_unstable();
        lines.join("\n")
    }

    /// A member's spec.
    pub fn server(&self, sid: Sid) -> Option<&ServerSpec> {
        self.servers.iter().find(|s| s.id as Sid == sid)
    }

    /// Reads a config text (`server.N`, `group.N`, `weight.N` and
    /// `version` lines, newline- or comma-separated): ZooKeeper's
    /// `parseDynamicConfig` without the backward-compatibility keys. The
    /// version is hex, 0 when absent.
    pub fn parse(text: &str) -> Result<Membership, String> {
        let mut servers = Vec::new();
        let mut groups: Vec<(u64, Vec<Sid>)> = Vec::new();
        let mut weights: BTreeMap<Sid, u64> = BTreeMap::new();
        let mut hierarchical = false;
        let mut version = 0;
        for line in text.split(['\n', ',']) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .map(|(k, v)| (k.trim(), v.trim()))
                .unwrap_or((line, ""));
            if key.starts_with("group") || key.starts_with("weight") {
                hierarchical = true;
                let id = key
                    .split_once('.')
                    .and_then(|(_, n)| n.parse::<u64>().ok())
                    .ok_or_else(|| format!("{key} is not group.N or weight.N"))?;
                if key.starts_with("group") {
                    let members = value
                        .split(':')
                        .map(|m| m.trim().parse::<Sid>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| format!("{key}={value} is not a list of server ids"))?;
                    groups.push((id, members));
                } else {
                    let w = value
                        .parse::<u64>()
                        .map_err(|_| format!("{key}={value} is not a weight"))?;
                    weights.insert(id as Sid, w);
                }
            } else if key.starts_with("server.") {
                // A config the ensemble wrote: checked against
                // `multiAddress.enabled` when it was proposed.
                servers.push(parse_server_line(key, value, true)?);
            } else if key == "version" {
                version = i64::from_str_radix(value, 16)
                    .map_err(|_| format!("version={value} is not a hex number"))?;
            } else {
                return Err(format!("Unrecognised parameter: {key}"));
            }
        }
        let hierarchy = if hierarchical {
            let mut seen = BTreeSet::new();
            for (_, members) in &groups {
                for m in members {
                    if !seen.insert(*m) {
                        return Err(format!("server {m} is in two groups"));
                    }
                }
            }
            Some(Hierarchy::new(&groups, &weights))
        } else {
            None
        };
        Ok(Membership::new(servers, hierarchy, version))
    }
}

/// Every server's quorum addresses (`host:quorumPort`), in the order listed.
pub fn quorum_addrs(servers: &[ServerSpec]) -> std::collections::HashMap<Sid, Vec<String>> {
    addrs_by_sid(servers, None, |(_, q, _)| q)
}

/// Every server's election addresses (`host:electionPort`) but `me`'s.
pub fn election_addrs(
    servers: &[ServerSpec],
    me: Sid,
) -> std::collections::HashMap<Sid, Vec<String>> {
    addrs_by_sid(servers, Some(me), |(_, _, e)| e)
}

/// Each server's addresses (but `skip`'s) as `host:port`, the port picked
/// from (host, quorum port, election port).
fn addrs_by_sid(
    servers: &[ServerSpec],
    skip: Option<Sid>,
    port: fn((&str, u16, u16)) -> u16,
) -> std::collections::HashMap<Sid, Vec<String>> {
    servers
        .iter()
        .filter(|s| Some(s.id as Sid) != skip)
        .map(|s| {
            let a = s.addresses().map(|a| host_port(a.0, port(a))).collect();
            (s.id as Sid, a)
        })
        .collect()
}

/// A `host:port` address (as [`host_port`] writes it) with another port.
pub fn with_port(addr: &str, port: u16) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    format!("{host}:{port}")
}

/// `host:port`, with brackets around an IPv6 host.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// zoo.cfg rewritten to point at a new dynamic config file
/// (`QuorumPeerConfig.editStaticConfig`): the `server.`, `group`,
/// `weight`, `dynamicConfigFile` and `peerType` lines go (and `clientPort`
/// and `clientPortAddress` when `erase_client` — this server's line
/// carries its client address), and `dynamicConfigFile=<path>` is
/// appended. Other lines, comments included, stay as written.
pub fn edit_static_config(text: &str, dynamic_path: &str, erase_client: bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line
            .trim_start()
            .split(['=', ':', ' ', '\t'])
            .next()
            .unwrap_or("");
        let comment = line.trim_start().starts_with('#') || line.trim_start().starts_with('!');
        let dropped = !comment
            && (key.starts_with("server.")
                || key.starts_with("group")
                || key.starts_with("weight")
                || key.starts_with("dynamicConfigFile")
                || key.starts_with("peerType")
                || (erase_client && key.starts_with("clientPort")));
        if !dropped {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("dynamicConfigFile=");
    out.push_str(dynamic_path);
    out.push('\n');
    out
}

/// What the leader's prep of a reconfig needs besides the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconfigView {
    /// The active config's version (`getQuorumVerifier().getVersion()`).
    pub active_version: i64,
    /// The last proposed config (`getLastSeenQuorumVerifier()`).
    pub last_seen: Membership,
    /// The voters in touch: the leader itself and its synced followers
    /// (`Leader.isQuorumSynced` counts those of the new config).
    pub synced: BTreeSet<Sid>,
    /// `standaloneEnabled`: a new config needs two voters, not one.
    pub standalone_enabled: bool,
    /// `multiAddress.enabled`: a server of the new config may list
    /// several addresses.
    pub multi_address: bool,
}

/// The next membership a reconfig asks for, or the error ZooKeeper's leader
/// answers, checked in its order: a reconfig in progress
/// (ReconfigInProgress), the `-v` version (BadVersion), the new members
/// (BadArguments), too few voters (BadArguments), and no synced quorum of
/// the new config (NewConfigNoQuorum). `zxid` becomes its version. (The
/// `reconfigEnabled` check comes before, and the ACL check after.)
pub fn next_membership(
    req: &ReconfigRequest,
    view: &ReconfigView,
    zxid: i64,
) -> Result<Membership, Code> {
    let last = &view.last_seen;
    if last.version != view.active_version {
        return Err(Code::ReconfigInProgress);
    }
    if req.cur_config_id != -1 && req.cur_config_id != last.version {
        return Err(Code::BadVersion);
    }
    let mut next = match given(&req.new_members) {
        Some(members) => {
            let m = Membership::parse(members).map_err(|e| {
                tracing::warn!(error = %e, "reconfig: bad new member list");
                Code::BadArguments
            })?;
            let voters = m
                .servers
                .iter()
                .filter(|s| s.role == PeerType::Participant)
                .count();
            let observers = m.servers.len() - voters;
            if voters == 0 && observers > 0 {
                return Err(Code::BadArguments);
            }
            m
        }
        None => incremental(req, last)?,
    };
    if !view.multi_address && next.servers.iter().any(|s| !s.extra_addresses.is_empty()) {
        tracing::warn!(
            "reconfig: a server lists several addresses, which needs multiAddress.enabled=true"
        );
        return Err(Code::BadArguments);
    }
    next.version = zxid;
    let voters = next.quorum().voters().count();
    let least = if view.standalone_enabled { 2 } else { 1 };
    if voters < least {
        tracing::warn!(
            voters,
            "reconfig failed: the new configuration must include at least {least} followers"
        );
        return Err(Code::BadArguments);
    }
    let q = next.quorum();
    let synced: BTreeSet<Sid> = view
        .synced
        .iter()
        .copied()
        .filter(|s| q.is_voter(*s))
        .collect();
    if !q.contains_quorum(&synced) {
        tracing::warn!(
            "reconfig failed: there must be a connected and synced quorum in the new configuration"
        );
        return Err(Code::NewConfigNoQuorum);
    }
    Ok(next)
}

/// A string field of the request; the codec reads Java's null as empty,
/// and an empty list means none given.
fn given(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// `joining` and `leaving` applied to the last seen config (a majority
/// quorum only).
fn incremental(req: &ReconfigRequest, last: &Membership) -> Result<Membership, Code> {
    if last.hierarchy.is_some() {
        tracing::warn!("incremental reconfiguration requested but last configuration seen has a non-majority quorum system");
        return Err(Code::BadArguments);
    }
    let mut next: BTreeMap<u64, ServerSpec> =
        last.servers.iter().map(|s| (s.id, s.clone())).collect();
    if let Some(leaving) = given(&req.leaving_servers) {
        for sid in leaving.split(',').filter(|s| !s.is_empty()) {
            let sid: u64 = sid.trim().parse().map_err(|_| Code::BadArguments)?;
            next.remove(&sid);
        }
    }
    if let Some(joining) = given(&req.joining_servers) {
        for joiner in joining.split(',').filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = joiner.split('=').filter(|p| !p.is_empty()).collect();
            let [key, value] = parts.as_slice() else {
                return Err(Code::BadArguments);
            };
            let id = key.rsplit('.').next().unwrap_or(key);
            let spec = parse_server_line(&format!("server.{}", id.trim()), value.trim(), true)
                .map_err(|e| {
                    tracing::warn!(error = %e, "reconfig: bad joining server");
                    Code::BadArguments
                })?;
            // "each server should have at least 3 ports specified".
            if spec.client.is_none() {
                return Err(Code::BadArguments);
            }
            let clash = next.values().any(|o| {
                o.id != spec.id
                    && o.host == spec.host
                    && [o.quorum_port, o.election_port]
                        .iter()
                        .any(|p| *p == spec.quorum_port || *p == spec.election_port)
            });
            if clash {
                return Err(Code::BadArguments);
            }
            next.insert(spec.id, spec);
        }
    }
    // `new HashMap<>(lastSeenQV.getAllMembers())`, then the leaving
    // removed and the joining put in.
    let mut m = Membership::new(next.into_values().collect(), None, 0);
    m.capacity = copied_map_capacity(last.servers.len());
    Ok(m)
}

/// The server a leader hands over to when a committed reconfig leaves it
/// out of the voters (`Leader.getDesignatedLeader`): itself while it
/// votes, else the first new voter that acked the reconfig, else itself.
pub fn designated_leader(me: Sid, next: &Quorum, acked: &BTreeSet<Sid>) -> Sid {
    if next.is_voter(me) {
        return me;
    }
    acked
        .iter()
        .copied()
        .find(|s| next.is_voter(*s))
        .unwrap_or(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Membership {
        Membership::parse(
            "server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001\n\
             server.2=127.0.0.1:2002:3002:participant;127.0.0.1:4002\n\
             server.3=127.0.0.1:2003:3003:participant;127.0.0.1:4003\n\
             version=100000000",
        )
        .unwrap()
    }

    #[test]
    fn a_replayed_newer_config_stays_in_the_config_node_at_start() {
        // Found by the reconfig simulation (seeds 28325, 40828): a member
        // restarted with a reconfig in its log whose dynamic file it never
        // wrote; the file's config was put over the replayed node, so it
        // led (and committed) with the old config's quorum alone while
        // the new config's voters elected another leader.
        let node = |t: &crate::data::tree::Tree| {
            let n = t.get(crate::data::tree::CONFIG).unwrap();
            Membership::parse(&String::from_utf8_lossy(n.data().unwrap())).unwrap()
        };
        let file = three();
        let mut logged = three();
        logged.servers.pop();
        logged.version = 0x100000005;
        let mut t = crate::data::tree::Tree::new();
        t.set_config_node(logged.text().as_bytes(), logged.version, 0);
        put_config_node(&mut t, file.text().as_bytes(), true, 1);
        assert_eq!(node(&t).version, 0x100000005);
        // Without reconfig, or with an older log, the file's.
        put_config_node(&mut t, file.text().as_bytes(), false, 1);
        assert_eq!(node(&t), file);
        put_config_node(&mut t, logged.text().as_bytes(), true, 1);
        assert_eq!(node(&t).version, 0x100000005);
        put_config_node(&mut t, file.text().as_bytes(), true, 1);
        assert_eq!(node(&t).version, 0x100000005);
    }

    fn view(synced: &[Sid]) -> ReconfigView {
        let m = three();
        ReconfigView {
            active_version: m.version,
            last_seen: m,
            synced: synced.iter().copied().collect(),
            standalone_enabled: true,
            multi_address: false,
        }
    }

    fn req(joining: Option<&str>, leaving: Option<&str>, members: Option<&str>) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: joining.unwrap_or_default().into(),
            leaving_servers: leaving.unwrap_or_default().into(),
            new_members: members.unwrap_or_default().into(),
            cur_config_id: -1,
        }
    }

    #[test]
    fn the_text_reads_back_as_the_same_membership() {
        let m = three();
        assert_eq!(m.version, 0x1_0000_0000);
        assert_eq!(Membership::parse(&m.text()).unwrap(), m);
        assert!(m.text().ends_with("\nversion=100000000"));
        assert!(!m.servers_text().contains("version"));
    }

    #[test]
    fn an_observer_joins_and_leaves_with_the_reconfig_zxid_as_version() {
        let joining = "server.100=0.0.0.0:21001:21002:observer;0.0.0.0:21003";
        let m = next_membership(
            &req(Some(joining), None, None),
            &view(&[1, 2]),
            0x1_0000_0005,
        )
        .unwrap();
        assert!(m.text().contains(joining), "{}", m.text());
        // Printed from a copy of the three-member map (8 buckets): 100
        // lands in bucket 4, after 3; server.9 would follow server.1.
        let nine = next_membership(
            &req(
                Some("server.9=127.0.0.1:1:2:observer;127.0.0.1:3"),
                None,
                None,
            ),
            &view(&[1, 2]),
            5,
        )
        .unwrap();
        let text = nine.text();
        let order: Vec<&str> = text.lines().map(|l| &l[..8]).collect();
        assert_eq!(
            order,
            ["server.1", "server.9", "server.2", "server.3", "version="]
        );
        assert!(m.text().ends_with("version=100000005"));
        assert_eq!(m.quorum().observers().collect::<Vec<_>>(), vec![100]);
        let mut v = view(&[1, 2]);
        v.active_version = m.version;
        v.last_seen = m;
        let back = next_membership(&req(None, Some("100"), None), &v, 0x1_0000_0006).unwrap();
        assert!(!back.text().contains("server.100"));
    }

    #[test]
    fn several_addresses_need_the_multi_address_switch() {
        let joiner = "server.9=127.0.0.1:1:2|127.0.0.2:5:6:observer;127.0.0.1:3";
        assert_eq!(
            next_membership(&req(Some(joiner), None, None), &view(&[1, 2]), 5),
            Err(Code::BadArguments)
        );
        let members = "server.1=127.0.0.1:1:2|127.0.0.2:5:6;3\nserver.2=127.0.0.1:7:8;9";
        assert_eq!(
            next_membership(&req(None, None, Some(members)), &view(&[1, 2]), 5),
            Err(Code::BadArguments)
        );
        let mut v = view(&[1, 2]);
        v.multi_address = true;
        let m = next_membership(&req(Some(joiner), None, None), &v, 5).unwrap();
        let nine = m.servers.iter().find(|s| s.id == 9).unwrap();
        assert_eq!(nine.addresses().count(), 2);
        assert_eq!(
            m.election_addrs(1)[&9],
            vec!["127.0.0.1:2".to_string(), "127.0.0.2:6".to_string()]
        );
        // The text the ensemble logs reads back with both addresses.
        let back = Membership::parse(&m.text()).unwrap();
        assert_eq!(back.quorum_addrs()[&9].len(), 2);
    }

    #[test]
    fn checks_come_in_zookeepers_order() {
        // In progress first, whatever the rest says.
        let mut v = view(&[1]);
        v.active_version = 7;
        assert_eq!(
            next_membership(&req(Some("junk"), None, None), &v, 9),
            Err(Code::ReconfigInProgress)
        );
        // Then the version.
        let mut r = req(Some("junk"), None, None);
        r.cur_config_id = 5;
        assert_eq!(next_membership(&r, &view(&[1]), 9), Err(Code::BadVersion));
        // Then the arguments, before the synced quorum.
        assert_eq!(
            next_membership(&req(Some("some thing"), None, None), &view(&[1]), 9),
            Err(Code::BadArguments)
        );
        // A server without a client port is refused.
        assert_eq!(
            next_membership(&req(Some("server.4=h:1:2"), None, None), &view(&[1, 2]), 9),
            Err(Code::BadArguments)
        );
        // Too few voters.
        assert_eq!(
            next_membership(&req(None, Some("2,3"), None), &view(&[1, 2, 3]), 9),
            Err(Code::BadArguments)
        );
        // No synced quorum of the new config.
        assert_eq!(
            next_membership(
                &req(Some("server.4=127.0.0.1:2004:3004:participant;4004,server.5=127.0.0.1:2005:3005:participant;4005"), None, None),
                &view(&[1, 2]),
                9
            ),
            Err(Code::NewConfigNoQuorum)
        );
        // The version check passes with the last seen version.
        let mut r = req(None, Some("3"), None);
        r.cur_config_id = 0x1_0000_0000;
        assert!(next_membership(&r, &view(&[1, 2]), 9).is_ok());
    }

    #[test]
    fn a_joiner_on_a_members_ports_is_refused() {
        assert_eq!(
            next_membership(
                &req(
                    Some("server.4=127.0.0.1:2001:3009:participant;4004"),
                    None,
                    None
                ),
                &view(&[1, 2, 3]),
                9
            ),
            Err(Code::BadArguments)
        );
    }

    #[test]
    fn non_incremental_replaces_the_list_and_may_bring_groups() {
        let members = "server.1=127.0.0.1:2001:3001:participant;4001,server.2=127.0.0.1:2002:3002:participant;4002";
        let m = next_membership(&req(None, None, Some(members)), &view(&[1, 2]), 9).unwrap();
        assert_eq!(m.quorum().voters().collect::<Vec<_>>(), vec![1, 2]);
        let grouped = format!("{members},group.1=1:2,weight.1=1,weight.2=1");
        let m = next_membership(&req(None, None, Some(&grouped)), &view(&[1, 2]), 9).unwrap();
        assert!(m.hierarchy.is_some());
        // Incremental on a hierarchical config is refused.
        let mut v = view(&[1, 2]);
        v.last_seen = m.clone();
        v.active_version = m.version;
        assert_eq!(
            next_membership(&req(None, Some("2"), None), &v, 10),
            Err(Code::BadArguments)
        );
        assert_eq!(
            next_membership(&req(None, None, Some("clientPort=1")), &view(&[1]), 9),
            Err(Code::BadArguments)
        );
    }

    #[test]
    fn the_dynamic_file_and_the_static_edit_are_zookeepers() {
        let m = three();
        assert_eq!(
            m.dynamic_file_text(),
            "server.1=127.0.0.1:2001:3001:participant;127.0.0.1:4001\n\
             server.2=127.0.0.1:2002:3002:participant;127.0.0.1:4002\n\
             server.3=127.0.0.1:2003:3003:participant;127.0.0.1:4003"
        );
        let cfg = "# mine\ntickTime=2000\nclientPort=4001\nserver.1=a:1:2\ngroup.1=1\ndynamicConfigFile=/old\ninitLimit=5\n";
        assert_eq!(
            edit_static_config(cfg, "/d/zoo.cfg.dynamic.5", true),
            "# mine\ntickTime=2000\ninitLimit=5\ndynamicConfigFile=/d/zoo.cfg.dynamic.5\n"
        );
        assert!(edit_static_config(cfg, "/x", false).contains("clientPort=4001"));
    }

    #[test]
    fn the_designated_leader_is_the_leader_while_it_votes() {
        let q = Quorum::new([1, 2, 3], []);
        assert_eq!(designated_leader(1, &q, &BTreeSet::from([2, 3])), 1);
        let q = Quorum::new([2, 3], [1]);
        assert_eq!(designated_leader(1, &q, &BTreeSet::from([1, 3])), 3);
    }
}
