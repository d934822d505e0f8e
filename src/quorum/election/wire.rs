//! Leader election on the wire, byte-compatible with ZooKeeper 3.8's
//! `QuorumCnxManager` and `FastLeaderElection`.
//!
//! A peer connects to another peer's election port and sends an
//! [`InitialMessage`] (protocol version, its sid, its election addresses).
//! [`tie_break`] then says which of two crossing connections survives. After
//! that, both directions carry frames: a big-endian `int` length and a
//! payload ([`next_frame`], [`encode_frame`]); every payload is a
//! [`Notification`]. Each notification carries the sender's quorum config as
//! text, which [`quorum_config_string`] produces exactly as ZooKeeper's
//! `QuorumVerifier.toString()` does.
//!
//! Decoders take byte slices, never panic, and return a [`WireError`] for any
//! input ZooKeeper would reject. All integers are big-endian (Java's
//! `DataOutputStream`/`ByteBuffer`).

use crate::config::{PeerType, ServerSpec};
use crate::quorum::{epoch_of, Sid};
use bytes::Bytes;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The protocol version a 3.5 server sends first (`PROTOCOL_VERSION_V1`):
/// one election address follows.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// The protocol version of 3.6+ with `multiAddress.enabled=true`
/// (`PROTOCOL_VERSION_V2`): `|`-separated election addresses follow. 3.8 sends
/// V1 unless the multi-address feature is on.
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// Longest address string an initial message may carry
/// (`QuorumCnxManager.maxBuffer`).
pub const MAX_ADDRESS_BYTES: usize = 2048;
/// Longest frame on an election connection (`QuorumCnxManager.PACKETMAXSIZE`).
pub const PACKET_MAX_SIZE: usize = 512 * 1024;
/// The sid an old observer without an id announces (`QuorumPeer.OBSERVER_ID`).
/// ZooKeeper gives each such connection a fresh negative id (-1, -2, ...)
/// instead; that counter belongs to the connection manager.
pub const OBSERVER_ID: Sid = i64::MAX;
/// The notification format version 3.8 writes (`Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 0x2;
/// Shortest notification ZooKeeper accepts (the pre-ZOOKEEPER-107 form).
pub const MIN_NOTIFICATION_BYTES: usize = 28;

/// A malformed or incomplete message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// More bytes are needed: at least `needed` in all. Only for stream
    /// prefixes ([`InitialMessage::decode`], [`next_frame`]).
    #[error("incomplete message: need at least {needed} bytes")]
    Incomplete { needed: usize },
    /// The first long is negative but neither V1 nor V2.
    #[error("unrecognized protocol version {0}")]
    UnknownProtocolVersion(i64),
    /// The address length is `<= 0` or over [`MAX_ADDRESS_BYTES`].
    #[error("unreasonable address length {0}")]
    BadAddressLength(i32),
    /// An address is not `host:port` / `[v6]:port`.
    #[error("badly formed address: {0:?}")]
    BadAddress(String),
    /// A port is not a number in 0..=65535.
    #[error("bad port number: {0:?}")]
    BadPort(String),
    /// A frame length is `<= 0` or over [`PACKET_MAX_SIZE`].
    #[error("invalid frame length {0}")]
    BadFrameLength(i32),
    /// A notification shorter than [`MIN_NOTIFICATION_BYTES`].
    #[error("notification too short: {0} bytes")]
    ShortNotification(usize),
    /// A notification that ends inside a field (ZooKeeper's "partial /
    /// malformed response message").
    #[error("truncated notification: {len} bytes, field needs {needed}")]
    TruncatedNotification { len: usize, needed: usize },
    /// The config length is negative or larger than the whole message.
    #[error("invalid config length {length} in a {capacity}-byte notification")]
    BadConfigLength { length: i32, capacity: usize },
}

impl WireError {
    /// Whether the input is merely a prefix: read more and try again.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, WireError::Incomplete { .. })
    }
}

fn be_i32(buf: &[u8], at: usize) -> Option<i32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be_i64(buf: &[u8], at: usize) -> Option<i64> {
    let b = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(i64::from_be_bytes(a))
}

// ---------------------------------------------------------------------------
// Connection set-up
// ---------------------------------------------------------------------------

/// Which form of initial message a peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A bare non-negative sid and nothing else (servers before 3.5).
    BareSid,
    /// [`PROTOCOL_VERSION_V1`]: one address.
    V1,
    /// [`PROTOCOL_VERSION_V2`]: `|`-separated addresses.
    V2,
}

/// One election address as sent in an initial message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionAddress {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl ElectionAddress {
    /// The address as ZooKeeper's `NetUtils.formatInetAddr` writes it:
    /// `host:port`, `[v6]:port`.
    pub fn to_wire_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// A resolved address, with its IP written as Java's `getHostAddress()`
    /// does (what ZooKeeper sends for a resolved election address).
    pub fn from_ip(ip: IpAddr, port: u16) -> ElectionAddress {
        ElectionAddress {
            host: java_host_address(ip),
            port,
        }
    }
}

/// The message a connecting peer sends before any frame
/// (`QuorumCnxManager.startConnection` / `InitialMessage.parse`).
///
/// Layout: `long protocolVersion, long sid, int length, byte[length]` where
/// the bytes are `host:port` (V1) or `host:port|host:port|...` (V2). A
/// non-negative first long is a bare sid from a pre-3.5 server and nothing
/// follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub protocol: Protocol,
    /// The connecting peer's sid. [`OBSERVER_ID`] means "an observer without
    /// an id"; see there.
    pub sid: Sid,
    /// Its election addresses, without wildcard addresses (ZooKeeper drops
    /// those). Empty for [`Protocol::BareSid`].
    pub addresses: Vec<ElectionAddress>,
}

impl InitialMessage {
    /// The bytes to send. V1 sends only the first address (as
    /// `getElectionAddress().getOne()`); [`Protocol::BareSid`] sends the sid
    /// alone.
    pub fn encode(&self) -> Vec<u8> {
        let version = match self.protocol {
            Protocol::BareSid => return self.sid.to_be_bytes().to_vec(),
            Protocol::V1 => PROTOCOL_VERSION_V1,
            Protocol::V2 => PROTOCOL_VERSION_V2,
        };
        let take = match self.protocol {
            Protocol::V1 => 1,
            _ => usize::MAX,
        };
        let addr: Vec<String> = self
            .addresses
            .iter()
            .take(take)
            .map(ElectionAddress::to_wire_string)
            .collect();
        let addr = addr.join("|");
        let mut out = Vec::with_capacity(20 + addr.len());
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&self.sid.to_be_bytes());
        out.extend_from_slice(&(addr.len() as i32).to_be_bytes());
        out.extend_from_slice(addr.as_bytes());
        out
    }

    /// Parses the start of a connection's byte stream. Returns the message
    /// and how many bytes it took; [`WireError::Incomplete`] while the
    /// message is not all there.
    pub fn decode(buf: &[u8]) -> Result<(InitialMessage, usize), WireError> {
        let first = be_i64(buf, 0).ok_or(WireError::Incomplete { needed: 8 })?;
        if first >= 0 {
            let msg = InitialMessage {
                protocol: Protocol::BareSid,
                sid: first,
                addresses: Vec::new(),
            };
            return Ok((msg, 8));
        }
        let protocol = match first {
            PROTOCOL_VERSION_V1 => Protocol::V1,
            PROTOCOL_VERSION_V2 => Protocol::V2,
            other => return Err(WireError::UnknownProtocolVersion(other)),
        };
        let sid = be_i64(buf, 8).ok_or(WireError::Incomplete { needed: 16 })?;
        let len = be_i32(buf, 16).ok_or(WireError::Incomplete { needed: 20 })?;
        if len <= 0 || len as usize > MAX_ADDRESS_BYTES {
            return Err(WireError::BadAddressLength(len));
        }
        let end = 20 + len as usize;
        let text = buf
            .get(20..end)
            .ok_or(WireError::Incomplete { needed: end })?;
        let text = String::from_utf8_lossy(text);
        let mut addresses = Vec::new();
        // Both versions split on '|' (Java's split drops trailing empties).
        for addr in java_split(&text, '|') {
            let parts = host_and_port(addr).ok_or_else(|| WireError::BadAddress(addr.into()))?;
            let [host, port] = parts.as_slice() else {
                return Err(WireError::BadAddress(addr.into()));
            };
            let port = java_parse_int(port)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| WireError::BadPort((*port).into()))?;
            if !is_wildcard(host) {
                addresses.push(ElectionAddress {
                    host: (*host).to_string(),
                    port,
                });
            }
        }
        Ok((
            InitialMessage {
                protocol,
                sid,
                addresses,
            },
            end,
        ))
    }
}

/// What to do with a freshly set-up election connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// Use it.
    Keep,
    /// Close it.
    Close,
    /// Close it and connect to the remote peer ourselves.
    CloseAndConnect,
}

/// The connection tie-break of `QuorumCnxManager`: between two peers only
/// the connection initiated by the larger sid survives, so there is exactly
/// one connection per pair.
///
/// * The initiator (`initiated_by_me`) keeps its connection unless the remote
///   sid is larger (`startConnection`: "Have smaller server identifier, so
///   dropping the connection").
/// * The acceptor keeps a connection from a larger sid; from a smaller sid it
///   closes it and connects back itself (`handleConnection`); from its own
///   sid (a misconfiguration) it does neither and the connection is unused.
pub fn tie_break(my_sid: Sid, remote_sid: Sid, initiated_by_me: bool) -> TieBreak {
    if initiated_by_me {
        if remote_sid > my_sid {
            TieBreak::Close
        } else {
            TieBreak::Keep
        }
    } else if remote_sid < my_sid {
        TieBreak::CloseAndConnect
    } else if remote_sid == my_sid {
        TieBreak::Close
    } else {
        TieBreak::Keep
    }
}

/// Whether a connection survives [`tie_break`].
pub fn keep_connection(my_sid: Sid, remote_sid: Sid, initiated_by_me: bool) -> bool {
    tie_break(my_sid, remote_sid, initiated_by_me) == TieBreak::Keep
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

/// The next whole frame at the start of `buf`: its payload and the bytes it
/// took (4 + payload). `Ok(None)` until all of it has arrived. A length
/// `<= 0` or over [`PACKET_MAX_SIZE`] is an error, as in `RecvWorker`; the
/// connection should then be closed.
pub fn next_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    let Some(len) = be_i32(buf, 0) else {
        return Ok(None);
    };
    if len <= 0 || len as usize > PACKET_MAX_SIZE {
        return Err(WireError::BadFrameLength(len));
    }
    let end = 4 + len as usize;
    Ok(buf.get(4..end).map(|payload| (payload, end)))
}

/// A frame: `int length` then the payload (`SendWorker.send`).
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

// ---------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------

/// A peer's role, as FastLeaderElection numbers it on the wire
/// (`QuorumPeer.ServerState.ordinal()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl ServerState {
    /// The wire int.
    pub fn to_wire(self) -> i32 {
        self as i32
    }

    /// The state a wire int names; `None` for ints ZooKeeper skips.
    pub fn from_wire(v: i32) -> Option<ServerState> {
        match v {
            0 => Some(ServerState::Looking),
            1 => Some(ServerState::Following),
            2 => Some(ServerState::Leading),
            3 => Some(ServerState::Observing),
            _ => None,
        }
    }
}

/// One election message (the payload of a frame), as `buildMsg` writes it
/// and `WorkerReceiver` reads it.
///
/// 3.8 layout (44 + n bytes): `int state, long leader, long zxid, long
/// electionEpoch, long peerEpoch, int version (=2), int n, byte[n] config`.
/// Older senders are accepted as ZooKeeper accepts them: exactly 40 bytes
/// (no version: version 0), exactly 28 bytes (no peer epoch either: it is
/// taken from the zxid's epoch), and any version below 2 (no config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sender's state as a wire int (see [`ServerState::from_wire`]); kept
    /// raw because ZooKeeper answers a non-voter before looking at it.
    pub state: i32,
    /// The proposed (or followed) leader.
    pub leader: Sid,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The sender's logical clock (election round).
    pub election_epoch: i64,
    /// The proposed leader's epoch.
    pub peer_epoch: i64,
    /// The format version: [`NOTIFICATION_VERSION`] from 3.8, 0 or 1 from
    /// older senders.
    pub version: i32,
    /// `QuorumVerifier.toString()` of the sender, UTF-8 (version 2 only).
    pub config: Option<Bytes>,
}

impl Notification {
    /// A 3.8 notification.
    pub fn new(
        state: ServerState,
        leader: Sid,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
        config: Bytes,
    ) -> Notification {
        Notification {
            state: state.to_wire(),
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: NOTIFICATION_VERSION,
            config: Some(config),
        }
    }

    /// The sender's state, if the int names one.
    pub fn server_state(&self) -> Option<ServerState> {
        ServerState::from_wire(self.state)
    }

    /// The 3.8 form (`buildMsg` with config data): always version 2 and a
    /// config (empty if `config` is `None`).
    pub fn encode(&self) -> Vec<u8> {
        let config: &[u8] = self.config.as_deref().unwrap_or(&[]);
        let mut out = Vec::with_capacity(44 + config.len());
        out.extend_from_slice(&self.state.to_be_bytes());
        out.extend_from_slice(&self.leader.to_be_bytes());
        out.extend_from_slice(&self.zxid.to_be_bytes());
        out.extend_from_slice(&self.election_epoch.to_be_bytes());
        out.extend_from_slice(&self.peer_epoch.to_be_bytes());
        out.extend_from_slice(&NOTIFICATION_VERSION.to_be_bytes());
        out.extend_from_slice(&(config.len() as i32).to_be_bytes());
        out.extend_from_slice(config);
        out
    }

    /// Reads a frame payload as `WorkerReceiver.run` does. Trailing bytes
    /// after the fields ZooKeeper reads are ignored, as there. On an error
    /// ZooKeeper skips the message and keeps the connection.
    pub fn decode(buf: &[u8]) -> Result<Notification, WireError> {
        let capacity = buf.len();
        if capacity < MIN_NOTIFICATION_BYTES {
            return Err(WireError::ShortNotification(capacity));
        }
        let truncated = |needed| WireError::TruncatedNotification {
            len: capacity,
            needed,
        };
        let state = be_i32(buf, 0).ok_or(truncated(4))?;
        let leader = be_i64(buf, 4).ok_or(truncated(12))?;
        let zxid = be_i64(buf, 12).ok_or(truncated(20))?;
        let election_epoch = be_i64(buf, 20).ok_or(truncated(28))?;
        let mut version = 0;
        let mut config = None;
        let peer_epoch = if capacity == 28 {
            epoch_of(zxid)
        } else {
            let pe = be_i64(buf, 28).ok_or(truncated(36))?;
            if capacity != 40 {
                version = be_i32(buf, 36).ok_or(truncated(40))?;
            }
            pe
        };
        if version > 0x1 {
            let length = be_i32(buf, 40).ok_or(truncated(44))?;
            if length < 0 || length as usize > capacity {
                return Err(WireError::BadConfigLength { length, capacity });
            }
            let end = 44 + length as usize;
            let bytes = buf.get(44..end).ok_or(truncated(end))?;
            config = Some(Bytes::copy_from_slice(bytes));
        }
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

// ---------------------------------------------------------------------------
// The config string
// ---------------------------------------------------------------------------

/// `QuorumVerifier.toString()` of the given servers with the given version: one
/// `server.N=...` line per member (see [`server_string`]), each ending in
/// `\n`, then a hierarchical quorum's `group.N` and `weight.N` lines
/// (`QuorumHierarchical.toString`), then `version=<hex>` with no newline.
///
/// Members come in the iteration order of ZooKeeper's `HashMap<Long, ...>`:
/// by bucket (`hash(sid) & (capacity - 1)`, the capacity growing from 16 as
/// entries pass three quarters of it), so for small ensembles with sids below
/// 16 that is ascending sid order. Within one bucket (sids that differ by a
/// multiple of the capacity, such as 1 and 17) Java's order follows the
/// order in which the config's `Properties` were iterated; here it is
/// ascending sid.
pub fn quorum_config_string(
    servers: &[ServerSpec],
    hierarchy: Option<&crate::quorum::Hierarchy>,
    version: i64,
) -> String {
    quorum_config_text(servers, hierarchy, version, 16)
}

/// [`quorum_config_string`] for a member map whose table started at
/// `capacity` buckets (a power of two): a `HashMap` copied from another
/// of `n` entries starts at `tableSizeFor(n / 0.75 + 1)` (see
/// [`copied_map_capacity`]), so the reconfig leader's new config lists
/// a joining server by its bucket among the old ones.
pub fn quorum_config_text(
    servers: &[ServerSpec],
    hierarchy: Option<&crate::quorum::Hierarchy>,
    version: i64,
    capacity: usize,
) -> String {
    let mut members: Vec<&ServerSpec> = Vec::new();
    for s in servers {
        // A later line for the same sid replaces the earlier (HashMap.put).
        if let Some(slot) = members.iter_mut().find(|m| m.id == s.id) {
            *slot = s;
        } else {
            members.push(s);
        }
    }
    let mut capacity = capacity.max(1);
    while members.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let bucket = |sid: u64| {
        let v = sid as i64;
        let h = (v ^ ((v as u64) >> 32) as i64) as i32;
        let spread = h ^ ((h as u32) >> 16) as i32;
        (spread as u32 as usize) & (capacity - 1)
    };
    members.sort_by_key(|s| (bucket(s.id), s.id));
    let mut out = String::new();
    for s in members {
        out.push_str("server.");
        out.push_str(&s.id.to_string());
        out.push('=');
        out.push_str(&server_string(s));
        out.push('\n');
    }
    if let Some(h) = hierarchy {
        out.push_str(&h.config_lines());
    }
    out.push_str("version=");
    out.push_str(&format!("{:x}", version as u64));
    out
}

/// The table size of Java's `new HashMap<>(m)` for a map of `n` entries:
/// `tableSizeFor((int) (n / 0.75f + 1))`.
pub fn copied_map_capacity(n: usize) -> usize {
    let want = (n as f32 / 0.75 + 1.0) as usize;
    want.max(1).next_power_of_two()
}

/// `QuorumServer.toString()`: `host:quorumPort:electionPort` for each
/// address (several joined by `|`, each list sorted by host string), then
/// `:participant` or `:observer`, then `;clientHost:clientPort` if the
/// server line had a client part (a bare client port prints as
/// `0.0.0.0:port`). IP literals are printed as Java prints the resolved
/// address (`0:0:0:0:0:0:0:1`, `10.1.2.3` for `010.1.2.3`); host names as
/// written. Hosts that share a host string keep their written order.
pub fn server_string(s: &ServerSpec) -> String {
    let mut quorum: Vec<(String, u16)> = Vec::new();
    let mut election: Vec<(String, u16)> = Vec::new();
    let main = std::iter::once((s.host.as_str(), s.quorum_port, s.election_port));
    let extra = s
        .extra_addresses
        .iter()
        .map(|a| (a.host.as_str(), a.quorum_port, a.election_port));
    for (host, qp, ep) in main.chain(extra) {
        let host = java_host_string(host);
        if !quorum.iter().any(|(h, p)| *h == host && *p == qp) {
            quorum.push((host.clone(), qp));
        }
        if !election.iter().any(|(h, p)| *h == host && *p == ep) {
            election.push((host, ep));
        }
    }
    quorum.sort_by(|a, b| a.0.cmp(&b.0));
    election.sort_by(|a, b| a.0.cmp(&b.0));
    let addrs: Vec<String> = quorum
        .iter()
        .zip(&election)
        .map(|((host, qp), (_, ep))| format!("{}:{}:{}", delimited(host), qp, ep))
        .collect();
    let mut out = addrs.join("|");
    out.push_str(match s.role {
        PeerType::Observer => ":observer",
        PeerType::Participant => ":participant",
    });
    if let Some(c) = &s.client {
        out.push(';');
        out.push_str(&delimited(&java_host_string(&c.host)));
        out.push(':');
        out.push_str(&c.port.to_string());
    }
    out
}

/// `QuorumServer.delimitedHostString`: brackets around a host with a colon.
fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// What Java's `InetSocketAddress(host, port).getHostString()` returns: an
/// IP literal in its canonical form, anything else as written.
fn java_host_string(host: &str) -> String {
    match java_ip_literal(host) {
        Some(ip) => java_host_address(ip),
        None => host.to_string(),
    }
}

/// Java's `InetAddress.getHostAddress()`: dotted quad, or eight
/// uncompressed lower-case hex groups.
pub fn java_host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            groups.join(":")
        }
    }
}

/// An IP literal as `InetAddress.getByName` reads one (without resolving):
/// Java's lenient IPv4 forms (`1.2.3`, leading zeros read as decimal) and
/// IPv6, where an IPv4-mapped address becomes IPv4.
fn java_ip_literal(host: &str) -> Option<IpAddr> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let first = host.chars().next()?;
    if !(first.is_ascii_hexdigit() || first == ':') {
        return None;
    }
    if let Some(v4) = java_ipv4_literal(host) {
        return Some(IpAddr::V4(v4));
    }
    if host.contains(':') {
        let v6: Ipv6Addr = host.parse().ok()?;
        return Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        });
    }
    None
}

/// `IPAddressUtil.textToNumericFormatV4`.
fn java_ipv4_literal(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() || s.len() > 15 {
        return None;
    }
    let mut res = [0u8; 4];
    let mut value: u64 = 0;
    let mut byte = 0;
    let mut new_octet = true;
    for c in s.chars() {
        if c == '.' {
            if new_octet || value > 0xff || byte == 3 {
                return None;
            }
            res[byte] = value as u8;
            byte += 1;
            value = 0;
            new_octet = true;
        } else {
            let d = c.to_digit(10)?;
            value = value * 10 + u64::from(d);
            new_octet = false;
        }
    }
    if new_octet || value >= 1u64 << ((4 - byte) * 8) {
        return None;
    }
    for (i, slot) in res.iter_mut().enumerate().skip(byte) {
        *slot = (value >> ((3 - i) * 8)) as u8;
    }
    Some(Ipv4Addr::from(res))
}

/// Whether an address is a wildcard (`0.0.0.0`, `::`), which ZooKeeper leaves
/// out of an initial message's addresses. Host names are not resolved here.
fn is_wildcard(host: &str) -> bool {
    java_ip_literal(host).is_some_and(|ip| ip.is_unspecified())
}

/// Java's `String.split(regex)` on one character: trailing empty strings
/// are dropped, and a string without the separator is returned whole (so
/// `""` gives `[""]`).
fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// `ConfigUtils.getHostAndPort`: `[v6]:rest` or a plain `split(":")`.
/// `None` where ZooKeeper throws.
fn host_and_port(s: &str) -> Option<Vec<&str>> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        // ZooKeeper skips the one character after ']' without checking it.
        let after = &rest[close + 1..];
        let mut chars = after.chars();
        match chars.next() {
            None => Some(vec![host]),
            Some(_) if chars.as_str().is_empty() => None,
            Some(_) => {
                let mut v = vec![host];
                v.extend(java_split(chars.as_str(), ':'));
                Some(v)
            }
        }
    } else {
        Some(java_split(s, ':'))
    }
}

/// Java's `Integer.parseInt` (ASCII digits, optional sign, 32-bit range).
fn java_parse_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests;
