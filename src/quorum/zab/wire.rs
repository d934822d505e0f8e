//! The quorum port's bytes: `QuorumPacket` and the bodies it carries.
//!
//! Owns the encoding of every record a leader and a learner exchange, as
//! ZooKeeper 3.8's `BinaryOutputArchive` writes them: a `QuorumPacket` is
//! `int type, long zxid, buffer data, vector<Id> authinfo`, written straight
//! onto the socket with no outer length (`Learner.writePacket`,
//! `LearnerHandler.sendPackets` both call `oa.writeRecord(pp, "packet")`).
//! The stream decoder is incremental: it says "not yet" until a whole packet
//! is there, and refuses lengths that `BinaryInputArchive.checkLength` would
//! refuse (negative other than the null -1, or over `jute.maxbuffer` plus
//! its extra size). It never panics on any input.
//!
//! The bodies are written with Java's `DataOutputStream` (big-endian,
//! no lengths): LEADERINFO's protocol version, ACKEPOCH's epoch, the
//! learner's PING touches, REQUEST, REVALIDATE both ways, and the
//! designated-leader prefix of COMMITANDACTIVATE/INFORMANDACTIVATE.

use crate::protocol::jute::{Id, Jute, JuteError, JuteWrite, Reader};
use crate::quorum::Sid;
use bytes::{BufMut, Bytes, BytesMut};

/// ZooKeeper's quorum packet types (the constants of `Leader`).
pub mod pkt {
    /// Learner to leader: a client request to run.
    pub const REQUEST: i32 = 1;
    /// Leader to follower: a txn to log and ack.
    pub const PROPOSAL: i32 = 2;
    /// Follower to leader: a txn (or NEWLEADER) is logged.
    pub const ACK: i32 = 3;
    /// Leader to follower: apply the txn with this zxid.
    pub const COMMIT: i32 = 4;
    /// Both ways: liveness; the learner's answer carries session touches.
    pub const PING: i32 = 5;
    /// Both ways: session revalidation.
    pub const REVALIDATE: i32 = 6;
    /// Leader to learner: a `sync` is done.
    pub const SYNC: i32 = 7;
    /// Leader to observer: a committed txn, with its data.
    pub const INFORM: i32 = 8;
    /// Leader to follower: commit a reconfig and activate it.
    pub const COMMITANDACTIVATE: i32 = 9;
    /// Leader to learner: the end of the sync; data is the quorum config.
    pub const NEWLEADER: i32 = 10;
    /// Follower to leader: the first packet, with a `LearnerInfo`.
    pub const FOLLOWERINFO: i32 = 11;
    /// Leader to learner: in sync, start serving.
    pub const UPTODATE: i32 = 12;
    /// Leader to learner: the txns that follow bring you up to date.
    pub const DIFF: i32 = 13;
    /// Leader to learner: drop your log after this zxid.
    pub const TRUNC: i32 = 14;
    /// Leader to learner: a snapshot follows on the stream.
    pub const SNAP: i32 = 15;
    /// Observer to leader: the first packet, with a `LearnerInfo`.
    pub const OBSERVERINFO: i32 = 16;
    /// Leader to learner: the new epoch (zxid) and protocol version (data).
    pub const LEADERINFO: i32 = 17;
    /// Learner to leader: the epoch is accepted; data is our current epoch.
    pub const ACKEPOCH: i32 = 18;
    /// Leader to observer: a committed reconfig, with its data.
    pub const INFORMANDACTIVATE: i32 = 19;

    /// The name ZooKeeper's `Leader.getPacketType` gives a type.
    pub fn name(typ: i32) -> &'static str {
        match typ {
            REQUEST => "REQUEST",
            PROPOSAL => "PROPOSAL",
            ACK => "ACK",
            COMMIT => "COMMIT",
            PING => "PING",
            REVALIDATE => "REVALIDATE",
            SYNC => "SYNC",
            INFORM => "INFORM",
            COMMITANDACTIVATE => "COMMITANDACTIVATE",
            NEWLEADER => "NEWLEADER",
            FOLLOWERINFO => "FOLLOWERINFO",
            UPTODATE => "UPTODATE",
            DIFF => "DIFF",
            TRUNC => "TRUNC",
            SNAP => "SNAP",
            OBSERVERINFO => "OBSERVERINFO",
            LEADERINFO => "LEADERINFO",
            ACKEPOCH => "ACKEPOCH",
            INFORMANDACTIVATE => "INFORMANDACTIVATE",
            _ => "UNKNOWN",
        }
    }
}

/// The Zab protocol version a 3.4+ server speaks (`0x10000`), in
/// `LearnerInfo.protocolVersion` and LEADERINFO's data.
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// The string a leader writes after the snapshot that follows SNAP
/// (`LearnerHandler.run`: `oa.writeString("BenWasHere", "signature")`).
pub const SNAP_SIGNATURE: &str = "BenWasHere";

/// `jute.maxbuffer`'s default (`BinaryInputArchive.maxBuffer`).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// Why bytes on the quorum port could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A buffer, string or vector length ZooKeeper would call
    /// "Unreasonable length" (`BinaryInputArchive.checkLength`).
    #[error("unreasonable length {0}")]
    BadLength(i64),
    /// A body is shorter than its fields (Java would throw EOF/underflow).
    #[error("{what} ends early: {len} bytes")]
    ShortBody { what: &'static str, len: usize },
    /// A body that must be there is null.
    #[error("{0} has no data")]
    NoData(&'static str),
    /// A record inside a body does not decode.
    #[error("bad record: {0}")]
    Jute(#[from] JuteError),
    /// The snapshot signature after SNAP is not `BenWasHere`.
    #[error("missing snapshot signature, got {0:?}")]
    Signature(String),
}

/// The unit of the quorum port (`zookeeper.jute`'s `QuorumPacket`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumPacket {
    pub typ: i32,
    pub zxid: i64,
    /// `None` is the null buffer (length -1), kept apart from empty.
    pub data: Option<Bytes>,
    /// `None` is the null vector (length -1).
    pub authinfo: Option<Vec<Id>>,
}

impl QuorumPacket {
    /// A packet with no data and no authinfo.
    pub fn new(typ: i32, zxid: i64) -> QuorumPacket {
        QuorumPacket {
            typ,
            zxid,
            data: None,
            authinfo: None,
        }
    }

    /// A packet with data and no authinfo.
    pub fn with_data(typ: i32, zxid: i64, data: impl Into<Bytes>) -> QuorumPacket {
        QuorumPacket {
            typ,
            zxid,
            data: Some(data.into()),
            authinfo: None,
        }
    }

    /// The data, or empty for null.
    pub fn body(&self) -> &[u8] {
        self.data.as_deref().unwrap_or(&[])
    }

    /// Appends the packet as jute writes it.
    pub fn write(&self, w: &mut BytesMut) {
        w.int(self.typ);
        w.long(self.zxid);
        w.buffer(self.data.as_deref());
        match &self.authinfo {
            None => w.int(-1),
            Some(ids) => {
                w.int(ids.len() as i32);
                for id in ids {
                    id.write(w);
                }
            }
        }
    }

    /// The packet's bytes.
    pub fn encode(&self) -> BytesMut {
        let mut b = BytesMut::with_capacity(24 + self.body().len());
        self.write(&mut b);
        b
    }

    /// How many bytes [`QuorumPacket::write`] writes.
    pub fn encoded_len(&self) -> usize {
        let auth: usize = self
            .authinfo
            .iter()
            .flatten()
            .map(|id| 8 + id.scheme.len() + id.id.len())
            .sum();
        4 + 8 + 4 + self.body().len() + 4 + auth
    }
}

/// Decodes one packet from the front of a stream buffer: `Ok(None)` when
/// the packet is not all there yet, else the packet and the bytes it took.
/// Lengths over [`DEFAULT_MAX_BUFFER`] twice (ZooKeeper's default
/// `jute.maxbuffer` plus its default extra size) are refused.
pub fn decode(buf: &[u8]) -> Result<Option<(QuorumPacket, usize)>, WireError> {
    decode_with_limit(buf, DEFAULT_MAX_BUFFER * 2)
}

/// [`decode`] with the largest buffer or string length allowed
/// (`jute.maxbuffer` + `zookeeper.jute.maxbuffer.extrasize`).
pub fn decode_with_limit(
    buf: &[u8],
    max_len: usize,
) -> Result<Option<(QuorumPacket, usize)>, WireError> {
    let mut c = Cursor {
        buf,
        pos: 0,
        max_len,
    };
    let Some(typ) = c.int() else { return Ok(None) };
    let Some(zxid) = c.long() else {
        return Ok(None);
    };
    let data = match c.buffer()? {
        Step::More => return Ok(None),
        Step::Got(d) => d.map(Bytes::copy_from_slice),
    };
    let Some(count) = c.int() else {
        return Ok(None);
    };
    let authinfo = if count == -1 {
        None
    } else {
        // BinaryIndex treats any count <= 0 as empty; a count whose
        // smallest encoding (two empty strings each) is past the limit is
        // refused here rather than waited for.
        let n = count.max(0) as usize;
        if n.saturating_mul(8) > max_len {
            return Err(WireError::BadLength(count as i64));
        }
        let mut ids = Vec::with_capacity(n.min(16));
        for _ in 0..n {
            let scheme = match c.string()? {
                Step::More => return Ok(None),
                Step::Got(s) => s,
            };
            let id = match c.string()? {
                Step::More => return Ok(None),
                Step::Got(s) => s,
            };
            ids.push(Id { scheme, id });
        }
        Some(ids)
    };
    Ok(Some((
        QuorumPacket {
            typ,
            zxid,
            data,
            authinfo,
        },
        c.pos,
    )))
}

enum Step<T> {
    More,
    Got(T),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn int(&mut self) -> Option<i32> {
        let b = self.take(4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn long(&mut self) -> Option<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(i64::from_be_bytes(a))
    }
    /// A buffer: `Got(None)` for null.
    fn buffer(&mut self) -> Result<Step<Option<&'a [u8]>>, WireError> {
        let Some(len) = self.int() else {
            return Ok(Step::More);
        };
        if len == -1 {
            return Ok(Step::Got(None));
        }
        if len < 0 || len as usize > self.max_len {
            return Err(WireError::BadLength(len as i64));
        }
        Ok(match self.take(len as usize) {
            None => Step::More,
            Some(b) => Step::Got(Some(b)),
        })
    }
    /// A string; null reads as empty (an `Id` field is never null).
    fn string(&mut self) -> Result<Step<String>, WireError> {
        Ok(match self.buffer()? {
            Step::More => Step::More,
            Step::Got(b) => Step::Got(String::from_utf8_lossy(b.unwrap_or(&[])).into_owned()),
        })
    }
}

/// Reads the snapshot signature that ends a SNAP transfer: `Ok(None)` when
/// not all there, else the bytes it took. Anything but `BenWasHere` is an
/// error, as in `Learner.syncWithLeader`.
pub fn decode_snap_signature(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let mut c = Cursor {
        buf,
        pos: 0,
        max_len: DEFAULT_MAX_BUFFER * 2,
    };
    match c.string()? {
        Step::More => Ok(None),
        Step::Got(s) if s == SNAP_SIGNATURE => Ok(Some(c.pos)),
        Step::Got(s) => Err(WireError::Signature(s)),
    }
}

/// Writes the snapshot signature that ends a SNAP transfer.
pub fn write_snap_signature(w: &mut BytesMut) {
    w.ustring(SNAP_SIGNATURE);
}

/// What a learner says about itself in FOLLOWERINFO/OBSERVERINFO
/// (`zookeeper.jute`'s `LearnerInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerInfo {
    pub serverid: Sid,
    pub protocol_version: i32,
    pub config_version: i64,
}

impl LearnerInfo {
    /// The record's 20 bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(20);
        b.put_i64(self.serverid);
        b.put_i32(self.protocol_version);
        b.put_i64(self.config_version);
        b.freeze()
    }

    /// Reads the data of an INFO packet as `LearnerHandler.run` does: the
    /// sid if there are 8 bytes, the version if 12, the config version if
    /// 20; what is missing is `None` (a missing version means 0, pre-3.4).
    pub fn decode_lenient(data: &[u8]) -> (Option<Sid>, i32, Option<i64>) {
        let at = |i: usize, n: usize| data.get(i..i + n);
        let sid = at(0, 8).map(be_i64);
        let version = at(8, 4).map(be_i32).unwrap_or(0);
        let config = at(12, 8).map(be_i64);
        (sid, version, config)
    }
}

fn be_i32(b: &[u8]) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    i32::from_be_bytes(a)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// Reads a big-endian int at the front of a body (`ByteBuffer.getInt`).
pub fn body_int(what: &'static str, data: Option<&[u8]>) -> Result<i32, WireError> {
    let d = data.ok_or(WireError::NoData(what))?;
    d.get(..4)
        .map(be_i32)
        .ok_or(WireError::ShortBody { what, len: d.len() })
}

/// Reads a big-endian long at the front of a body (`ByteBuffer.getLong`).
pub fn body_long(what: &'static str, data: Option<&[u8]>) -> Result<i64, WireError> {
    let d = data.ok_or(WireError::NoData(what))?;
    d.get(..8)
        .map(be_i64)
        .ok_or(WireError::ShortBody { what, len: d.len() })
}

/// An int as four big-endian bytes: LEADERINFO's and ACKEPOCH's data.
pub fn int_body(v: i32) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

/// The LEADERINFO a leader sends (`LearnerHandler.run`).
pub fn leader_info(new_epoch_zxid: i64) -> QuorumPacket {
    QuorumPacket::with_data(pkt::LEADERINFO, new_epoch_zxid, int_body(PROTOCOL_VERSION))
}

/// The ACKEPOCH a learner sends (`Learner.registerWithLeader`): its last
/// zxid, and its current epoch, or -1 when it had already accepted this
/// epoch (then the leader does not count it as an ack).
pub fn ack_epoch(last_logged_zxid: i64, epoch: i32) -> QuorumPacket {
    QuorumPacket::with_data(pkt::ACKEPOCH, last_logged_zxid, int_body(epoch))
}

/// One session a learner's PING reports as touched, with its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    pub session_id: i64,
    pub timeout: i32,
}

/// The PING a learner answers with (`Learner.ping`): the leader's zxid and
/// authinfo back, with `(long session, int timeout)` for each touched
/// session.
pub fn ping_reply(ping: &QuorumPacket, touches: &[Touch]) -> QuorumPacket {
    let mut b = BytesMut::with_capacity(touches.len() * 12);
    for t in touches {
        b.put_i64(t.session_id);
        b.put_i32(t.timeout);
    }
    QuorumPacket {
        typ: pkt::PING,
        zxid: ping.zxid,
        data: Some(b.freeze()),
        authinfo: ping.authinfo.clone(),
    }
}

/// The touches in a learner's PING. `LearnerHandler` reads pairs while
/// bytes remain; a partial pair is an EOF there, an error here.
pub fn decode_touches(data: Option<&[u8]>) -> Result<Vec<Touch>, WireError> {
    let d = data.unwrap_or(&[]);
    if !d.len().is_multiple_of(12) {
        return Err(WireError::ShortBody {
            what: "PING touches",
            len: d.len(),
        });
    }
    Ok(d.chunks_exact(12)
        .map(|c| Touch {
            session_id: be_i64(&c[..8]),
            timeout: be_i32(&c[8..]),
        })
        .collect())
}

/// A client request a learner forwards (`Learner.request`): `long
/// sessionId, int cxid, int type`, then the request's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op: i32,
    pub request: Bytes,
    pub authinfo: Option<Vec<Id>>,
}

impl ForwardedRequest {
    /// The REQUEST packet (zxid -1, as `Learner.request` writes it).
    pub fn to_packet(&self) -> QuorumPacket {
        let mut b = BytesMut::with_capacity(16 + self.request.len());
        b.put_i64(self.session_id);
        b.put_i32(self.cxid);
        b.put_i32(self.op);
        b.put_slice(&self.request);
        QuorumPacket {
            typ: pkt::REQUEST,
            zxid: -1,
            data: Some(b.freeze()),
            authinfo: self.authinfo.clone(),
        }
    }

    /// Reads a REQUEST packet as `LearnerHandler.run` does.
    pub fn from_packet(p: &QuorumPacket) -> Result<ForwardedRequest, WireError> {
        let d = p.data.as_ref().ok_or(WireError::NoData("REQUEST"))?;
        if d.len() < 16 {
            return Err(WireError::ShortBody {
                what: "REQUEST",
                len: d.len(),
            });
        }
        Ok(ForwardedRequest {
            session_id: be_i64(&d[..8]),
            cxid: be_i32(&d[8..12]),
            op: be_i32(&d[12..16]),
            request: d.slice(16..),
            authinfo: p.authinfo.clone(),
        })
    }
}

/// A learner asks whether a reconnecting client's session is still valid
/// (`Learner.validateSession`): `long sessionId, int timeout`, zxid -1.
pub fn revalidate_request(session_id: i64, timeout: i32) -> QuorumPacket {
    let mut b = BytesMut::with_capacity(12);
    b.put_i64(session_id);
    b.put_i32(timeout);
    QuorumPacket::with_data(pkt::REVALIDATE, -1, b.freeze())
}

/// Reads a learner's REVALIDATE: `(session, timeout)`.
pub fn decode_revalidate_request(data: Option<&[u8]>) -> Result<(i64, i32), WireError> {
    let d = data.ok_or(WireError::NoData("REVALIDATE"))?;
    if d.len() < 12 {
        return Err(WireError::ShortBody {
            what: "REVALIDATE",
            len: d.len(),
        });
    }
    Ok((be_i64(&d[..8]), be_i32(&d[8..12])))
}

/// The leader's answer to REVALIDATE (`LearnerHandler`/`Leader`
/// `revalidateSession`): `long sessionId, boolean valid`, zxid -1.
pub fn revalidate_reply(session_id: i64, valid: bool) -> QuorumPacket {
    let mut b = BytesMut::with_capacity(9);
    b.put_i64(session_id);
    b.put_u8(valid as u8);
    QuorumPacket::with_data(pkt::REVALIDATE, -1, b.freeze())
}

/// Reads the leader's REVALIDATE answer (`Learner.revalidate`).
pub fn decode_revalidate_reply(data: Option<&[u8]>) -> Result<(i64, bool), WireError> {
    let d = data.ok_or(WireError::NoData("REVALIDATE"))?;
    if d.len() < 9 {
        return Err(WireError::ShortBody {
            what: "REVALIDATE",
            len: d.len(),
        });
    }
    Ok((be_i64(&d[..8]), d[8] != 0))
}

/// The data of COMMITANDACTIVATE (`long designatedLeader`) or of
/// INFORMANDACTIVATE (`long designatedLeader` then the proposal's data).
pub fn designated_leader_body(designated: Sid, rest: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + rest.len());
    b.put_i64(designated);
    b.put_slice(rest);
    b.freeze()
}

/// Splits an ...ANDACTIVATE body into the designated leader and the rest.
pub fn decode_designated_leader(data: Option<&Bytes>) -> Result<(Sid, Bytes), WireError> {
    let d = data.ok_or(WireError::NoData("ANDACTIVATE"))?;
    if d.len() < 8 {
        return Err(WireError::ShortBody {
            what: "ANDACTIVATE",
            len: d.len(),
        });
    }
    Ok((be_i64(&d[..8]), d.slice(8..)))
}

/// Reads a whole jute record from a body (for callers that carry one).
pub fn body_record<T: Jute>(data: &[u8]) -> Result<T, WireError> {
    Ok(T::read(&mut Reader::new(data))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full(p: &QuorumPacket) -> QuorumPacket {
        let enc = p.encode();
        assert_eq!(enc.len(), p.encoded_len());
        let (back, used) = decode(&enc).expect("valid").expect("complete");
        assert_eq!(used, enc.len());
        // Every strict prefix is "not yet", never an error or a panic.
        for cut in 0..enc.len() {
            assert_eq!(decode(&enc[..cut]), Ok(None), "prefix {cut}");
        }
        back
    }

    #[test]
    fn ack_golden_bytes() {
        // ACK of zxid 0x100000002, null data, null authinfo.
        let p = QuorumPacket::new(pkt::ACK, 0x1_0000_0002);
        let golden: &[u8] = &[
            0, 0, 0, 3, // type
            0, 0, 0, 1, 0, 0, 0, 2, // zxid
            0xff, 0xff, 0xff, 0xff, // data: null
            0xff, 0xff, 0xff, 0xff, // authinfo: null
        ];
        assert_eq!(&p.encode()[..], golden);
        assert_eq!(full(&p), p);
    }

    #[test]
    fn followerinfo_golden_bytes() {
        // FOLLOWERINFO as Learner.registerWithLeader sends it: zxid is
        // (acceptedEpoch << 32), data a LearnerInfo(sid 3, 0x10000, cfg 0).
        let li = LearnerInfo {
            serverid: 3,
            protocol_version: PROTOCOL_VERSION,
            config_version: 0,
        };
        let p = QuorumPacket::with_data(pkt::FOLLOWERINFO, 5 << 32, li.encode());
        let golden: &[u8] = &[
            0, 0, 0, 11, // FOLLOWERINFO
            0, 0, 0, 5, 0, 0, 0, 0, // zxid
            0, 0, 0, 20, // data length
            0, 0, 0, 0, 0, 0, 0, 3, // serverid
            0, 1, 0, 0, // protocolVersion
            0, 0, 0, 0, 0, 0, 0, 0, // configVersion
            0xff, 0xff, 0xff, 0xff, // authinfo: null
        ];
        assert_eq!(&p.encode()[..], golden);
        assert_eq!(full(&p), p);
        assert_eq!(
            LearnerInfo::decode_lenient(p.body()),
            (Some(3), PROTOCOL_VERSION, Some(0))
        );
        assert_eq!(
            LearnerInfo::decode_lenient(&p.body()[..8]),
            (Some(3), 0, None)
        );
        assert_eq!(LearnerInfo::decode_lenient(&[]), (None, 0, None));
    }

    #[test]
    fn leaderinfo_and_ackepoch_golden_bytes() {
        let p = leader_info(7 << 32);
        let golden: &[u8] = &[
            0, 0, 0, 17, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(&p.encode()[..], golden);
        assert_eq!(body_int("LEADERINFO", p.data.as_deref()), Ok(0x10000));
        let a = ack_epoch(0x6_0000_0009, -1);
        let golden: &[u8] = &[
            0, 0, 0, 18, 0, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff,
        ];
        assert_eq!(&a.encode()[..], golden);
        assert_eq!(full(&a), a);
        assert!(matches!(
            body_int("x", Some(&[0, 1])),
            Err(WireError::ShortBody { .. })
        ));
        assert_eq!(body_int("x", None), Err(WireError::NoData("x")));
    }

    #[test]
    fn authinfo_and_empty_data_golden_bytes() {
        let p = QuorumPacket {
            typ: pkt::REQUEST,
            zxid: -1,
            data: Some(Bytes::new()),
            authinfo: Some(vec![Id {
                scheme: "ip".into(),
                id: "1.2".into(),
            }]),
        };
        let golden: &[u8] = &[
            0, 0, 0, 1, // REQUEST
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // zxid -1
            0, 0, 0, 0, // empty data, not null
            0, 0, 0, 1, // one Id
            0, 0, 0, 2, b'i', b'p', // scheme
            0, 0, 0, 3, b'1', b'.', b'2', // id
        ];
        assert_eq!(&p.encode()[..], golden);
        assert_eq!(full(&p), p);
        let empty = QuorumPacket {
            authinfo: Some(vec![]),
            ..QuorumPacket::new(pkt::PING, 1)
        };
        assert_eq!(full(&empty), empty);
    }

    #[test]
    fn request_ping_revalidate_bodies() {
        let r = ForwardedRequest {
            session_id: 0x1122,
            cxid: 7,
            op: crate::protocol::jute::op::CREATE,
            request: Bytes::from_static(b"abc"),
            authinfo: None,
        };
        let p = r.to_packet();
        assert_eq!(
            p.body(),
            &[0, 0, 0, 0, 0, 0, 0x11, 0x22, 0, 0, 0, 7, 0, 0, 0, 1, b'a', b'b', b'c']
        );
        assert_eq!(p.zxid, -1);
        assert_eq!(ForwardedRequest::from_packet(&full(&p)), Ok(r));
        assert!(
            ForwardedRequest::from_packet(&QuorumPacket::with_data(1, 0, vec![0; 15])).is_err()
        );

        let ping = QuorumPacket::new(pkt::PING, 42);
        let t = [
            Touch {
                session_id: 1,
                timeout: 3000,
            },
            Touch {
                session_id: -2,
                timeout: 10,
            },
        ];
        let reply = ping_reply(&ping, &t);
        assert_eq!(reply.zxid, 42);
        assert_eq!(reply.body().len(), 24);
        assert_eq!(decode_touches(reply.data.as_deref()), Ok(t.to_vec()));
        assert_eq!(decode_touches(None), Ok(vec![]));
        assert!(decode_touches(Some(&[0; 13])).is_err());

        let rv = revalidate_request(9, 4000);
        assert_eq!(rv.body(), &[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0x0f, 0xa0]);
        assert_eq!(decode_revalidate_request(rv.data.as_deref()), Ok((9, 4000)));
        let ans = revalidate_reply(9, true);
        assert_eq!(ans.body(), &[0, 0, 0, 0, 0, 0, 0, 9, 1]);
        assert_eq!(decode_revalidate_reply(ans.data.as_deref()), Ok((9, true)));
        assert!(decode_revalidate_reply(Some(&[0; 8])).is_err());

        let d = designated_leader_body(2, b"xy");
        assert_eq!(
            decode_designated_leader(Some(&d)),
            Ok((2, Bytes::from_static(b"xy")))
        );
    }

    #[test]
    fn lengths_zookeeper_calls_unreasonable_are_refused() {
        let mut b = BytesMut::new();
        b.put_i32(pkt::PROPOSAL);
        b.put_i64(1);
        let head = b.clone();
        b.put_i32(-2);
        assert_eq!(decode(&b), Err(WireError::BadLength(-2)));
        let mut b = head.clone();
        b.put_i32((DEFAULT_MAX_BUFFER * 2 + 1) as i32);
        assert!(decode(&b).is_err());
        // At the limit it is only incomplete.
        let mut b = head.clone();
        b.put_i32((DEFAULT_MAX_BUFFER * 2) as i32);
        assert_eq!(decode(&b), Ok(None));
        // A smaller limit (a lowered jute.maxbuffer) refuses more.
        let p = QuorumPacket::with_data(pkt::PROPOSAL, 1, vec![0u8; 100]);
        assert!(decode_with_limit(&p.encode(), 99).is_err());
        assert!(decode_with_limit(&p.encode(), 100).is_ok());
        // A negative vector count other than -1 is empty, as BinaryIndex.
        let mut b = head.clone();
        b.put_i32(-1);
        b.put_i32(-5);
        let (p, _) = decode(&b).unwrap().unwrap();
        assert_eq!(p.authinfo, Some(vec![]));
        // A count no limit could hold is refused.
        let mut b = head;
        b.put_i32(-1);
        b.put_i32(i32::MAX);
        assert!(decode(&b).is_err());
    }

    #[test]
    fn two_packets_back_to_back() {
        let a = QuorumPacket::new(pkt::UPTODATE, -1);
        let b = QuorumPacket::with_data(pkt::PROPOSAL, 5, Bytes::from_static(b"txn"));
        let mut s = a.encode();
        s.extend_from_slice(&b.encode());
        let (p1, n1) = decode(&s).unwrap().unwrap();
        let (p2, n2) = decode(&s[n1..]).unwrap().unwrap();
        assert_eq!((p1, p2), (a, b));
        assert_eq!(n1 + n2, s.len());
    }

    #[test]
    fn snap_signature() {
        let mut b = BytesMut::new();
        write_snap_signature(&mut b);
        assert_eq!(&b[..], b"\0\0\0\x0aBenWasHere");
        assert_eq!(decode_snap_signature(&b), Ok(Some(14)));
        assert_eq!(decode_snap_signature(&b[..5]), Ok(None));
        assert!(decode_snap_signature(b"\0\0\0\x01x").is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(Some((p, n))) = decode(&bytes) {
                prop_assert!(n <= bytes.len());
                // What decodes re-encodes to the same bytes (authinfo aside:
                // lossy UTF-8 and BinaryIndex's negative counts change it).
                if p.authinfo.is_none() {
                    prop_assert_eq!(&p.encode()[..], &bytes[..n]);
                }
            }
            let _ = decode_snap_signature(&bytes);
            let _ = decode_touches(Some(&bytes));
            let _ = decode_revalidate_reply(Some(&bytes));
            let _ = LearnerInfo::decode_lenient(&bytes);
        }

        #[test]
        fn round_trip(typ in any::<i32>(), zxid in any::<i64>(),
                      data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
                      auth in proptest::option::of(proptest::collection::vec((".{0,6}", ".{0,6}"), 0..3))) {
            let p = QuorumPacket {
                typ, zxid, data: data.map(Bytes::from),
                authinfo: auth.map(|v| v.into_iter().map(|(scheme, id)| Id { scheme, id }).collect()),
            };
            let enc = p.encode();
            let (back, n) = decode(&enc).unwrap().unwrap();
            prop_assert_eq!(n, enc.len());
            prop_assert_eq!(back, p);
        }
    }
}
