//! The quorum: `server.N` lines (with their ports, roles and client
//! addresses), `group.N`/`weight.N`, `dynamicConfigFile`, the `myid` file and
//! the ensemble sanity checks `QuorumPeerConfig` performs.

use super::*;
use super::{keys::*, parser::*, properties::*, values::*};

impl Parser {
    /// Reads `dynamicConfigFile` (keys: `server.N`, `group.N`, `weight.N`).
    pub(super) fn dynamic_lines(
        &mut self,
        path: &Path,
        env: &Env<'_>,
    ) -> Result<(String, Vec<RawEntry>), ConfigError> {
        let text = (env.read)(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        let entries = parse_java_properties(&text, &name)?;
        for e in &entries {
            let at = Location::Line {
                file: name.clone(),
                line: e.line,
            };
            if e.key == "version" {
                return Err(ConfigError::invalid(
                    at,
                    "version",
                    "must not be inside a dynamic config file (it comes from the file name)",
                ));
            }
            if !is_quorum_key(&e.key) {
                return Err(ConfigError::invalid(
                    at,
                    &e.key,
                    "is not allowed in a dynamic config file (only server.N, group.N and weight.N)",
                ));
            }
            if let Some(reason) = java_only(&e.key, &e.value) {
                self.warn(&at, &e.key, reason);
            }
        }
        Ok((name, entries))
    }

    /// `parseDynamicConfig`: builds the server list and checks the ensemble.
    pub(super) fn build_quorum(
        &mut self,
        cfg: &mut Config,
        file: &str,
        lines: &[RawEntry],
    ) -> Result<(), ConfigError> {
        let mut servers: BTreeMap<u64, (ServerSpec, usize)> = BTreeMap::new();
        for e in lines.iter().filter(|e| e.key.starts_with("server.")) {
            let at = Location::Line {
                file: file.to_string(),
                line: e.line,
            };
            let spec = parse_server_line(&e.key, &e.value, cfg.multi_address_enabled)
                .map_err(|p| ConfigError::invalid(at.clone(), &e.key, p))?;
            if let Some((_, first)) = servers.get(&spec.id) {
                return Err(ConfigError::invalid(
                    at,
                    &e.key,
                    format!("server id {} is already defined on line {first}", spec.id),
                ));
            }
            servers.insert(spec.id, (spec, e.line));
        }
        cfg.servers = servers.into_values().map(|(s, _)| s).collect();
        self.build_hierarchy(cfg, file, lines)?;

        let at = Location::File {
            file: file.to_string(),
        };
        let voting = cfg.voting_members().count();
        let observers = cfg.observers().count();
        if voting == 0 {
            if !cfg.standalone_enabled {
                return Err(ConfigError::invalid(
                    at,
                    "standaloneEnabled",
                    "is false, so at least one participant server.N line is needed",
                ));
            }
            if observers > 0 {
                return Err(ConfigError::invalid(
                    at,
                    "server.N",
                    "observers without participants are not a valid configuration",
                ));
            }
        } else if voting == 1 && cfg.standalone_enabled {
            if observers > 0 {
                return Err(ConfigError::invalid(
                    at,
                    "server.N",
                    "observers without a quorum (only one participant) are not a valid configuration",
                ));
            }
            self.warn(
                &at,
                "server.N",
                "only one server is listed; it runs standalone, as ZooKeeper does (set standaloneEnabled=false for a one-member ensemble)",
            );
        } else if voting <= 2 {
            self.warn(
                &at,
                "server.N",
                "no server failure will be tolerated; you need at least 3 servers",
            );
        } else if voting.is_multiple_of(2) {
            self.warn(
                &at,
                "server.N",
                "non-optimal configuration; consider an odd number of servers",
            );
        }
        Ok(())
    }

    /// Any `group*`/`weight*` key makes the quorum hierarchical, as in
    /// `QuorumPeerConfig.parseDynamicConfig`: every participant must then
    /// be in exactly one group (`QuorumHierarchical.parse`). corral also
    /// refuses a group member that is not a participant (ZooKeeper fails
    /// on one without a weight, and counts one with a weight).
    fn build_hierarchy(
        &mut self,
        cfg: &mut Config,
        file: &str,
        lines: &[RawEntry],
    ) -> Result<(), ConfigError> {
        let mut groups: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut group_of: BTreeMap<u64, u64> = BTreeMap::new();
        let mut weights = BTreeMap::new();
        let mut first = None;
        for e in lines.iter().filter(|e| !e.key.starts_with("server.")) {
            let at = Location::Line {
                file: file.to_string(),
                line: e.line,
            };
            first.get_or_insert(at.clone());
            let bad = |what: &str| ConfigError::invalid(at.clone(), &e.key, what.to_string());
            let (kind, id) = e.key.split_once('.').ok_or_else(|| {
                bad("is not group.N or weight.N (hierarchical quorums take only those)")
            })?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| bad("must end in a number (group.N, weight.N)"))?;
            match kind {
                "group" => {
                    let mut members = Vec::new();
                    for part in e.value.split(':') {
                        let sid: u64 = part.trim().parse().map_err(|_| {
                            bad(&format!("{part:?} is not a server id (group.N=a:b:c)"))
                        })?;
                        if let Some(g) = group_of.insert(sid, id) {
                            return Err(bad(&format!(
                                "server {sid} is in multiple groups (group.{g} and group.{id})"
                            )));
                        }
                        members.push(sid);
                    }
                    if groups.insert(id, members).is_some() {
                        return Err(bad(&format!("group.{id} is given twice")));
                    }
                }
                "weight" => {
                    let w: u64 = e.value.trim().parse().map_err(|_| {
                        bad(&format!(
                            "{:?} is not a weight (a number, 0 or more)",
                            e.value
                        ))
                    })?;
                    weights.insert(id, w);
                }
                _ => {
                    return Err(bad(
                        "is not group.N or weight.N (hierarchical quorums take only those)",
                    ))
                }
            }
        }
        let Some(at) = first else {
            return Ok(());
        };
        for s in &cfg.servers {
            let grouped = group_of.contains_key(&s.id);
            if s.role == PeerType::Participant && !grouped {
                return Err(ConfigError::invalid(
                    at,
                    "group.N",
                    format!("server {} is not in a group (with group.N or weight.N lines, every participant must be in one)", s.id),
                ));
            }
        }
        if let Some(sid) = group_of
            .keys()
            .find(|sid| !cfg.voting_members().any(|s| s.id == **sid))
        {
            return Err(ConfigError::invalid(
                at,
                "group.N",
                format!("server {sid} is in a group but is not a participant server.N"),
            ));
        }
        cfg.quorum_groups = groups.into_iter().collect();
        cfg.quorum_weights = weights;
        Ok(())
    }

    /// `setupClientPort`, `setupPeerType` and `checkValidity`.
    pub(super) fn finish_quorum(
        &mut self,
        cfg: &mut Config,
        st: &FileState,
        env: &Env<'_>,
    ) -> Result<(), ConfigError> {
        let mut client_from_server = false;
        if let Some(spec) = cfg.my_server().cloned() {
            let at = self.whole_file();
            if let Some(client) = &spec.client {
                let key = format!("server.{}", spec.id);
                let ip =
                    ip_addr(&client.host).map_err(|p| ConfigError::invalid(at.clone(), &key, p))?;
                let from_line = SocketAddr::new(ip, client.port);
                if st.client_port.is_some() {
                    let stat = cfg.client_address();
                    let conflict = if stat.ip().is_unspecified() {
                        stat.port() != from_line.port()
                    } else {
                        stat != from_line
                    };
                    if conflict {
                        return Err(ConfigError::invalid(
                            at,
                            key,
                            format!(
                                "client address {from_line} differs from clientPortAddress/clientPort {stat} for this server (myid {})",
                                spec.id
                            ),
                        ));
                    }
                }
                cfg.client_port_address = ip;
                cfg.client_port = client.port;
                client_from_server = true;
            }
            if spec.role != cfg.peer_type {
                let at = st.peer_type.clone().unwrap_or_else(|| self.whole_file());
                self.warn(
                    &at,
                    "peerType",
                    &format!(
                        "{} does not match server.{} ({}); using the server line, as ZooKeeper does",
                        cfg.peer_type, spec.id, spec.role
                    ),
                );
                cfg.peer_type = spec.role;
            }
        }
        if st.client_port.is_none() && !client_from_server {
            let at = self.whole_file();
            self.warn(
                &at,
                "clientPort",
                "is not set; corral listens on 0.0.0.0:2181 (ZooKeeper would open no plaintext client port)",
            );
        }

        if cfg.is_distributed() {
            let at = self.whole_file();
            if cfg.init_limit == 0 {
                return Err(ConfigError::invalid(
                    at,
                    "initLimit",
                    "is not set; an ensemble needs it",
                ));
            }
            if cfg.sync_limit == 0 {
                return Err(ConfigError::invalid(
                    at,
                    "syncLimit",
                    "is not set; an ensemble needs it",
                ));
            }
            if env.look_for_myid {
                match cfg.server_id {
                    None => {
                        return Err(ConfigError::invalid(
                            Location::File {
                                file: cfg.data_dir.join("myid").display().to_string(),
                            },
                            "myid",
                            "file is missing; every ensemble member needs one in dataDir",
                        ))
                    }
                    Some(id) if cfg.my_server().is_none() => {
                        return Err(ConfigError::invalid(
                            at,
                            format!("server.{id}"),
                            format!("is missing, but myid says this server is {id}"),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(id) = cfg.server_id {
            if cfg.extended_types_enabled && id > MAX_EXTENDED_SERVER_ID {
                let (at, key) = self.prop_source("zookeeper.extendedTypesEnabled");
                return Err(ConfigError::invalid(
                    at,
                    key,
                    format!("is true, so the server id must be at most {MAX_EXTENDED_SERVER_ID}, but myid is {id}"),
                ));
            }
        }
        Ok(())
    }
}

/// Java `String.split`: trailing empty pieces are dropped.
pub(super) fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(sep).collect();
    while v.len() > 1 && v.last() == Some(&"") {
        v.pop();
    }
    v
}

/// `ConfigUtils.getHostAndPort`: `[v6addr]:a:b` or `host:a:b`.
pub(super) fn host_and_ports(s: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = s.strip_prefix('[') else {
        return Ok(java_split(s, ':'));
    };
    let close = rest
        .find(']')
        .ok_or_else(|| format!("\"{s}\" starts with '[' but has no matching ']'"))?;
    let host = &rest[..close];
    let after = &rest[close + 1..];
    if after.is_empty() {
        return Ok(vec![host]);
    }
    let ports = after
        .strip_prefix(':')
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("\"{s}\" has no port after ']:'"))?;
    let mut parts = vec![host];
    parts.extend(java_split(ports, ':'));
    Ok(parts)
}

/// One `server.N` line's value as `QuorumPeer.QuorumServer` reads it.
pub fn parse_server_line(
    key: &str,
    value: &str,
    multi_address_enabled: bool,
) -> Result<ServerSpec, String> {
    let id_text = key.strip_prefix("server.").unwrap_or(key);
    let id = id_text.parse::<u64>().map_err(|_| {
        format!("\"{id_text}\" is not a server id (server.N needs a non-negative number N)")
    })?;
    let form = || format!("\"{value}\" is not of the form {SERVER_LINE_FORM}");

    let server_client = java_split(value, ';');
    if server_client.len() > 2 {
        return Err(form());
    }
    let client = match server_client.get(1) {
        Some(c) => {
            let parts = host_and_ports(c.trim())?;
            let (host, port_text) = match parts.as_slice() {
                [p] => ("0.0.0.0", *p),
                [h, p] => (*h, *p),
                _ => return Err(form()),
            };
            Some(ClientAddress {
                host: host.trim().to_string(),
                port: port(port_text).map_err(|p| format!("client port: {p}"))?,
            })
        }
        None => None,
    };

    let addresses: Vec<&str> = server_client[0].split('|').collect();
    if addresses.len() > 1 && !multi_address_enabled {
        return Err(
            "lists several addresses, which needs multiAddress.enabled=true (as in ZooKeeper)"
                .into(),
        );
    }
    let mut role: Option<PeerType> = None;
    let mut parsed = Vec::new();
    for addr in addresses {
        let parts = host_and_ports(addr.trim())?;
        if !(3..=4).contains(&parts.len()) {
            return Err(form());
        }
        let host = parts[0].trim();
        if host.is_empty() {
            return Err(format!("{}: the host is missing", form()));
        }
        let quorum_port = port(parts[1]).map_err(|p| format!("quorum port: {p}"))?;
        let election_port = port(parts[2]).map_err(|p| format!("election port: {p}"))?;
        if quorum_port == election_port {
            return Err(format!(
                "quorum port and election port must be different (both are {quorum_port})"
            ));
        }
        if let Some(t) = parts.get(3) {
            let r = PeerType::parse(t).ok_or_else(|| {
                format!(
                    "\"{}\" is not a peer type (participant or observer)",
                    t.trim()
                )
            })?;
            if role.is_some_and(|prev| prev != r) {
                return Err("all addresses of one server must have the same role".into());
            }
            role = Some(r);
        }
        parsed.push(QuorumAddress {
            host: host.to_string(),
            quorum_port,
            election_port,
        });
    }
    let mut parsed = parsed.into_iter();
    let first = parsed.next().ok_or_else(form)?;
    Ok(ServerSpec {
        id,
        host: first.host,
        quorum_port: first.quorum_port,
        election_port: first.election_port,
        extra_addresses: parsed.collect(),
        role: role.unwrap_or(PeerType::Participant),
        client,
    })
}
