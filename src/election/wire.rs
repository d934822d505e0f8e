//! The election port's bytes, as ZooKeeper 3.8 writes and reads them
//! (`QuorumCnxManager`, `FastLeaderElection.buildMsg`, `WorkerReceiver`).
//!
//! - A connecting peer's initial message: protocol version (a negative
//!   long), its sid, then an int length and its election address(es).
//!   Very old servers send just their sid (a non-negative long).
//! - Then each message is an int length and a notification.
//!
//! Decoding never panics and never trusts a length.

use crate::config::{PeerType, ServerSpec};
use crate::quorum::Sid;

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`: one address (what 3.8 sends
/// unless multi-address is on).
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `PROTOCOL_VERSION_V2`: `|`-separated addresses.
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `QuorumCnxManager.maxBuffer`: the longest address string accepted.
pub const MAX_ADDRESS_BYTES: i32 = 2048;
/// `Notification.CURRENTVERSION`.
pub const NOTIFICATION_VERSION: i32 = 0x2;

/// A bad election message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unknown protocol version {0}")]
    Version(i64),
    #[error("address length {0} is out of range")]
    AddressLength(i32),
    #[error("bad election address {0:?}")]
    Address(String),
    #[error("a {0}-byte notification is too short")]
    Short(usize),
    #[error("unknown server state {0}")]
    State(i32),
    #[error("config length {0} is out of range")]
    ConfigLength(i32),
}

fn long(b: &[u8], at: usize) -> Option<i64> {
    b.get(at..at + 8)
        .map(|s| i64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
}

fn int(b: &[u8], at: usize) -> Option<i32> {
    b.get(at..at + 4)
        .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// This server's initial message (protocol V1, one address), as 3.8 sends
/// it when multi-address is off.
pub fn initial_message(sid: Sid, election_addr: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + election_addr.len());
    b.extend_from_slice(&PROTOCOL_VERSION_V1.to_be_bytes());
    b.extend_from_slice(&sid.to_be_bytes());
    b.extend_from_slice(&(election_addr.len() as i32).to_be_bytes());
    b.extend_from_slice(election_addr.as_bytes());
    b
}

/// A peer's initial message: its sid and how many bytes it took, `None`
/// while incomplete. The addresses are checked as `InitialMessage.parse`
/// checks them (each `host:port`), and otherwise unused: corral dials the
/// addresses of its own config.
pub fn parse_initial(b: &[u8]) -> Result<Option<(Sid, usize)>, String> {
    parse_initial_message(b).map_err(|e| e.to_string())
}

fn parse_initial_message(b: &[u8]) -> Result<Option<(Sid, usize)>, WireError> {
    let Some(first) = long(b, 0) else {
        return Ok(None);
    };
    if first >= 0 {
        // A server from before the protocol version: just its sid.
        return Ok(Some((first, 8)));
    }
    if first != PROTOCOL_VERSION_V1 && first != PROTOCOL_VERSION_V2 {
        return Err(WireError::Version(first));
    }
    let (Some(sid), Some(len)) = (long(b, 8), int(b, 16)) else {
        return Ok(None);
    };
    if len <= 0 || len > MAX_ADDRESS_BYTES {
        return Err(WireError::AddressLength(len));
    }
    let end = 20 + len as usize;
    let Some(addr) = b.get(20..end) else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(addr);
    for a in text.split('|') {
        let ok = a
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(WireError::Address(a.to_string()));
        }
    }
    Ok(Some((sid, end)))
}

/// A server's state as notifications carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl ServerState {
    pub fn code(self) -> i32 {
        match self {
            ServerState::Looking => 0,
            ServerState::Following => 1,
            ServerState::Leading => 2,
            ServerState::Observing => 3,
        }
    }

    fn from_code(c: i32) -> Option<ServerState> {
        Some(match c {
            0 => ServerState::Looking,
            1 => ServerState::Following,
            2 => ServerState::Leading,
            3 => ServerState::Observing,
            _ => return None,
        })
    }
}

/// One notification (the sender's sid comes from the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub state: ServerState,
    /// The proposed (or known) leader.
    pub leader: Sid,
    pub zxid: i64,
    /// The sender's logical clock (`electionEpoch`, "round").
    pub election_epoch: i64,
    pub peer_epoch: i64,
    /// 0 for the 28- and 40-byte forms, else the version written.
    pub version: i32,
    /// The sender's `QuorumVerifier.toString()`.
    pub config: Vec<u8>,
}

impl Notification {
    /// `buildMsg`: 44 bytes and the config.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(44 + self.config.len());
        b.extend_from_slice(&self.state.code().to_be_bytes());
        b.extend_from_slice(&self.leader.to_be_bytes());
        b.extend_from_slice(&self.zxid.to_be_bytes());
        b.extend_from_slice(&self.election_epoch.to_be_bytes());
        b.extend_from_slice(&self.peer_epoch.to_be_bytes());
        b.extend_from_slice(&NOTIFICATION_VERSION.to_be_bytes());
        b.extend_from_slice(&(self.config.len() as i32).to_be_bytes());
        b.extend_from_slice(&self.config);
        b
    }

    /// As `WorkerReceiver` reads one: at least 28 bytes; the 28-byte form
    /// has no peer epoch (it is the zxid's), the 40-byte form no version;
    /// from version 2 on a config follows.
    pub fn decode(b: &[u8]) -> Result<Notification, WireError> {
        let n = b.len();
        if n < 28 {
            return Err(WireError::Short(n));
        }
        let short = || WireError::Short(n);
        let state_code = int(b, 0).ok_or_else(short)?;
        let leader = long(b, 4).ok_or_else(short)?;
        let zxid = long(b, 12).ok_or_else(short)?;
        let election_epoch = long(b, 20).ok_or_else(short)?;
        let (peer_epoch, version) = if n == 28 {
            (crate::quorum::epoch_of(zxid), 0)
        } else if n == 40 {
            (long(b, 28).ok_or_else(short)?, 0)
        } else {
            (
                long(b, 28).ok_or_else(short)?,
                int(b, 36).ok_or_else(short)?,
            )
        };
        let mut config = Vec::new();
        if version > 0x1 {
            let len = int(b, 40).ok_or_else(short)?;
            if len < 0 || len as usize > n {
                return Err(WireError::ConfigLength(len));
            }
            config = b
                .get(44..44 + len as usize)
                .ok_or(WireError::ConfigLength(len))?
                .to_vec();
        }
        let state = ServerState::from_code(state_code).ok_or(WireError::State(state_code))?;
        Ok(Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version,
            config,
        })
    }
}

fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `QuorumMaj.toString()`: a `server.N=` line per member, then
/// `version=<hex>`, as notifications and NEWLEADER carry it.
pub fn quorum_config_string(servers: &[ServerSpec], version: i64) -> String {
    let mut s = String::new();
    for m in servers {
        s.push_str(&format!("server.{}=", m.id));
        let mut addrs: Vec<(String, u16, u16)> =
            std::iter::once((m.host.clone(), m.quorum_port, m.election_port))
                .chain(
                    m.extra_addresses
                        .iter()
                        .map(|a| (a.host.clone(), a.quorum_port, a.election_port)),
                )
                .collect();
        addrs.sort_by(|a, b| a.0.cmp(&b.0));
        let joined: Vec<String> = addrs
            .iter()
            .map(|(h, q, e)| format!("{}:{q}:{e}", delimited(h)))
            .collect();
        s.push_str(&joined.join("|"));
        s.push_str(match m.role {
            PeerType::Observer => ":observer",
            PeerType::Participant => ":participant",
        });
        if let Some(c) = &m.client {
            s.push_str(&format!(";{}:{}", delimited(&c.host), c.port));
        }
        s.push('\n');
    }
    s.push_str(&format!("version={version:x}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_initial_message_is_version_sid_and_address() {
        let b = initial_message(3, "127.0.0.1:3888");
        let mut want = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0];
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 14]);
        want.extend_from_slice(b"127.0.0.1:3888");
        assert_eq!(b, want);
        assert_eq!(parse_initial(&b), Ok(Some((3, b.len()))));
        for cut in 0..b.len() {
            assert_eq!(parse_initial(&b[..cut]), Ok(None), "cut at {cut}");
        }
        // A bare sid from an old server.
        assert_eq!(parse_initial(&7i64.to_be_bytes()), Ok(Some((7, 8))));
        // Unknown version, bad lengths, a bad address.
        assert!(parse_initial(&(-5i64).to_be_bytes()).is_err());
        let mut bad = b.clone();
        bad[16..20].copy_from_slice(&4000i32.to_be_bytes());
        assert!(parse_initial(&bad).is_err());
        bad[16..20].copy_from_slice(&0i32.to_be_bytes());
        assert!(parse_initial(&bad).is_err());
        assert!(parse_initial(&initial_message(3, "no-port")).is_err());
    }

    #[test]
    fn notifications_round_trip_and_legacy_forms_read() {
        let n = Notification {
            state: ServerState::Following,
            leader: 2,
            zxid: 0x1_0000_0005,
            election_epoch: 4,
            peer_epoch: 1,
            version: NOTIFICATION_VERSION,
            config: b"server.1=a:1:2:participant\nversion=0".to_vec(),
        };
        let b = n.encode();
        assert_eq!(&b[..4], &[0, 0, 0, 1]);
        assert_eq!(&b[36..40], &[0, 0, 0, 2]);
        assert_eq!(b.len(), 44 + n.config.len());
        assert_eq!(Notification::decode(&b), Ok(n.clone()));
        let old = Notification::decode(&b[..28]).unwrap();
        assert_eq!((old.peer_epoch, old.version), (1, 0));
        let v40 = Notification::decode(&b[..40]).unwrap();
        assert_eq!((v40.peer_epoch, v40.version), (1, 0));
        assert!(Notification::decode(&b[..27]).is_err());
        assert!(
            Notification::decode(&b[..43]).is_err(),
            "version 2 needs its config length"
        );
        let mut bad = b.clone();
        bad[..4].copy_from_slice(&9i32.to_be_bytes());
        assert_eq!(Notification::decode(&bad), Err(WireError::State(9)));
    }

    #[test]
    fn the_config_string_is_quorum_majs() {
        use crate::config::ClientAddress;
        let spec = |id, q, e, role, host: &str, port| ServerSpec {
            id,
            host: "127.0.0.1".into(),
            quorum_port: q,
            election_port: e,
            extra_addresses: Vec::new(),
            role,
            client: Some(ClientAddress {
                host: host.into(),
                port,
            }),
        };
        // `server.1=127.0.0.1:2888:3888;2181` and
        // `server.2=127.0.0.1:2889:3889:observer;127.0.0.1:2182`.
        let servers = vec![
            spec(1, 2888, 3888, PeerType::Participant, "0.0.0.0", 2181),
            spec(2, 2889, 3889, PeerType::Observer, "127.0.0.1", 2182),
        ];
        assert_eq!(
            quorum_config_string(&servers, 0x10),
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.2=127.0.0.1:2889:3889:observer;127.0.0.1:2182\n\
             version=10"
        );
    }

    proptest! {
        #[test]
        fn decoding_never_panics(b in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = Notification::decode(&b);
            let _ = parse_initial(&b);
        }
    }
}
