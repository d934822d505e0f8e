//! The jute codec: ZooKeeper's serialisation, for the wire, the disk and the
//! peers.
//!
//! Owns the primitive encodings (big-endian `int`/`long`, `boolean` as one
//! byte, `buffer`/`ustring`/`vector` with an `int` length where -1 is null)
//! and every record of `zookeeper.jute` that corral speaks. Decoding never
//! trusts a length: each is checked against the bytes that are there.
//! Touches nothing else.

use bytes::{BufMut, Bytes, BytesMut};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JuteError {
    #[error("record ends early: needed {needed} more bytes at offset {at}")]
    Short { at: usize, needed: usize },
    #[error("negative length {0}")]
    BadLength(i32),
    #[error("string is not valid UTF-8")]
    Utf8,
    /// A record that reads whole but that ZooKeeper refuses as it serves it
    /// (a null path it dereferences, a write inside a multiRead).
    #[error("{0}")]
    Refused(&'static str),
}

/// Reads primitives from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        if self.remaining() < n {
            return Err(JuteError::Short {
                at: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn int(&mut self) -> Result<i32, JuteError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn long(&mut self) -> Result<i64, JuteError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn boolean(&mut self) -> Result<bool, JuteError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A buffer; `None` for the null buffer (length -1).
    pub fn buffer(&mut self) -> Result<Option<&'a [u8]>, JuteError> {
        let len = self.int()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(JuteError::BadLength(len));
        }
        self.take(len as usize).map(Some)
    }

    /// A string; `None` for the null string. Bytes that are not UTF-8
    /// become U+FFFD, as Java's decoder makes them, so a bad path is then
    /// refused by the path rules (BadArguments), as ZooKeeper refuses it.
    pub fn ustring(&mut self) -> Result<Option<String>, JuteError> {
        Ok(self.ustr()?.map(|s| s.into_owned()))
    }

    /// [`Reader::ustring`] without a copy where the bytes are valid UTF-8.
    pub fn ustr(&mut self) -> Result<Option<std::borrow::Cow<'a, str>>, JuteError> {
        Ok(self.buffer()?.map(String::from_utf8_lossy))
    }

    /// A vector's element count; `None` for the null vector.
    pub fn vec_len(&mut self) -> Result<Option<usize>, JuteError> {
        let n = self.int()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            // Java's archive loops `for (i = 0; i < n; i++)`: any other
            // negative count is an empty vector, not an error.
            return Ok(Some(0));
        }
        // Each element takes at least one byte: a count larger than what is
        // left is a lie, and must not drive an allocation.
        if n as usize > self.remaining() {
            return Err(JuteError::Short {
                at: self.pos,
                needed: n as usize - self.remaining(),
            });
        }
        Ok(Some(n as usize))
    }
}

/// Writes primitives into a `BytesMut`.
pub trait JuteWrite {
    fn int(&mut self, v: i32);
    fn long(&mut self, v: i64);
    fn boolean(&mut self, v: bool);
    fn buffer(&mut self, v: Option<&[u8]>);
    fn ustring(&mut self, v: &str);
}

impl JuteWrite for BytesMut {
    fn int(&mut self, v: i32) {
        self.put_i32(v);
    }
    fn long(&mut self, v: i64) {
        self.put_i64(v);
    }
    fn boolean(&mut self, v: bool) {
        self.put_u8(v as u8);
    }
    fn buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_i32(-1),
            Some(b) => {
                self.put_i32(b.len() as i32);
                self.put_slice(b);
            }
        }
    }
    fn ustring(&mut self, v: &str) {
        self.buffer(Some(v.as_bytes()));
    }
}

/// A jute record or field type.
pub trait Jute: Sized {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError>;
    fn write(&self, w: &mut BytesMut);

    /// Decodes a whole record from `buf`.
    fn decode(buf: &[u8]) -> Result<Self, JuteError> {
        Self::read(&mut Reader::new(buf))
    }

    /// Encodes the record into a fresh buffer.
    fn encode(&self) -> BytesMut {
        // Most records (a Stat, a path, a small value) fit: one allocation
        // instead of a chain of doublings from empty.
        let mut b = BytesMut::with_capacity(256);
        self.write(&mut b);
        b
    }
}

impl Jute for i32 {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        r.int()
    }
    fn write(&self, w: &mut BytesMut) {
        w.int(*self)
    }
}

impl Jute for i64 {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        r.long()
    }
    fn write(&self, w: &mut BytesMut) {
        w.long(*self)
    }
}

impl Jute for bool {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        r.boolean()
    }
    fn write(&self, w: &mut BytesMut) {
        w.boolean(*self)
    }
}

/// A `ustring`; null decodes as the empty string.
impl Jute for String {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        Ok(r.ustring()?.unwrap_or_default())
    }
    fn write(&self, w: &mut BytesMut) {
        w.ustring(self)
    }
}

/// A `buffer` that is never null on write; null decodes as empty.
impl Jute for Bytes {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        Ok(r.buffer()?.map(Bytes::copy_from_slice).unwrap_or_default())
    }
    fn write(&self, w: &mut BytesMut) {
        w.buffer(Some(self))
    }
}

/// A nullable `buffer`: ZooKeeper keeps null data apart from empty data.
impl Jute for Option<Bytes> {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        Ok(r.buffer()?.map(Bytes::copy_from_slice))
    }
    fn write(&self, w: &mut BytesMut) {
        w.buffer(self.as_deref())
    }
}

/// A `vector`; null decodes as empty.
impl<T: Jute> Jute for Vec<T> {
    fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
        let n = r.vec_len()?.unwrap_or(0);
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::read(r)?);
        }
        Ok(v)
    }
    fn write(&self, w: &mut BytesMut) {
        w.int(self.len() as i32);
        for x in self {
            x.write(w);
        }
    }
}

macro_rules! records {
    ($( $(#[$m:meta])* $name:ident { $($f:ident : $t:ty),* $(,)? } )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $(pub $f: $t),* }
        impl Jute for $name {
            #[allow(unused_variables)]
            fn read(r: &mut Reader<'_>) -> Result<Self, JuteError> {
                Ok(Self { $($f: <$t as Jute>::read(r)?),* })
            }
            #[allow(unused_variables)]
            fn write(&self, w: &mut BytesMut) { $(self.$f.write(w);)* }
        }
    )*};
}

records! {
    /// An identity: a scheme and an id within it.
    Id { scheme: String, id: String }
    /// One access-control entry.
    Acl { perms: i32, id: Id }
    /// A node's metadata as the client sees it.
    Stat {
        czxid: i64, mzxid: i64, ctime: i64, mtime: i64,
        version: i32, cversion: i32, aversion: i32,
        ephemeral_owner: i64, data_length: i32, num_children: i32, pzxid: i64,
    }
    /// The handshake a client sends first (without the optional readOnly byte).
    ConnectRequest {
        protocol_version: i32, last_zxid_seen: i64, time_out: i32,
        session_id: i64, passwd: Bytes,
    }
    /// The handshake answer (without the optional readOnly byte).
    ConnectResponse { protocol_version: i32, time_out: i32, session_id: i64, passwd: Bytes }
    RequestHeader { xid: i32, op: i32 }
    ReplyHeader { xid: i32, zxid: i64, err: i32 }
    WatcherEvent { kind: i32, state: i32, path: String }
    AuthPacket { kind: i32, scheme: String, auth: Bytes }
    SetWatches {
        relative_zxid: i64, data_watches: Vec<String>,
        exist_watches: Vec<String>, child_watches: Vec<String>,
    }
    SetWatches2 {
        relative_zxid: i64, data_watches: Vec<String>, exist_watches: Vec<String>,
        child_watches: Vec<String>, persistent_watches: Vec<String>,
        persistent_recursive_watches: Vec<String>,
    }
    PathRequest { path: String }
    PathWatchRequest { path: String, watch: bool }
    CreateRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32 }
    CreateTtlRequest { path: String, data: Option<Bytes>, acl: Vec<Acl>, flags: i32, ttl: i64 }
    DeleteRequest { path: String, version: i32 }
    SetDataRequest { path: String, data: Option<Bytes>, version: i32 }
    SetAclRequest { path: String, acl: Vec<Acl>, version: i32 }
    CheckVersionRequest { path: String, version: i32 }
    AddWatchRequest { path: String, mode: i32 }
    WatchTypeRequest { path: String, kind: i32 }
    ReconfigRequest {
        joining_servers: String, leaving_servers: String, new_members: String,
        cur_config_id: i64,
    }
    StatResponse { stat: Stat }
    PathResponse { path: String }
    Create2Response { path: String, stat: Stat }
    GetDataResponse { data: Option<Bytes>, stat: Stat }
    GetChildrenResponse { children: Vec<String> }
    GetChildren2Response { children: Vec<String>, stat: Stat }
    GetAclResponse { acl: Vec<Acl>, stat: Stat }
    GetAllChildrenNumberResponse { total_number: i32 }
    ClientInfo { auth_scheme: String, user: String }
    WhoAmIResponse { client_info: Vec<ClientInfo> }
    MultiHeader { op: i32, done: bool, err: i32 }
    ErrorResponse { err: i32 }
    // Txn records: what the sequencer logs and applies.
    TxnHeader { client_id: i64, cxid: i32, zxid: i64, time: i64, op: i32 }
    CreateTxn { path: String, data: Option<Bytes>, acl: Vec<Acl>, ephemeral: bool, parent_cversion: i32 }
    CreateContainerTxn { path: String, data: Option<Bytes>, acl: Vec<Acl>, parent_cversion: i32 }
    CreateTtlTxn { path: String, data: Option<Bytes>, acl: Vec<Acl>, parent_cversion: i32, ttl: i64 }
    DeleteTxn { path: String }
    SetDataTxn { path: String, data: Option<Bytes>, version: i32 }
    CheckVersionTxn { path: String, version: i32 }
    SetAclTxn { path: String, acl: Vec<Acl>, version: i32 }
    CreateSessionTxn { time_out: i32 }
    CloseSessionTxn { paths_to_delete: Vec<String> }
    ErrorTxn { err: i32 }
    Txn { op: i32, data: Bytes }
    MultiTxn { txns: Vec<Txn> }
}

/// ZooKeeper's opcodes (`ZooDefs.OpCode`).
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Special xids.
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// ZooKeeper's error codes (`KeeperException.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    DataInconsistency = -3,
    ConnectionLoss = -4,
    MarshallingError = -5,
    Unimplemented = -6,
    OperationTimeout = -7,
    BadArguments = -8,
    UnknownSession = -12,
    NewConfigNoQuorum = -13,
    ReconfigInProgress = -14,
    ApiError = -100,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidCallback = -113,
    InvalidAcl = -114,
    AuthFailed = -115,
    SessionMoved = -118,
    NotReadOnly = -119,
    EphemeralOnLocalSession = -120,
    NoWatcher = -121,
    RequestTimeout = -122,
    ReconfigDisabled = -123,
    SessionClosedRequireSaslAuth = -124,
    QuotaExceeded = -125,
    Throttled = -127,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<T: Jute + PartialEq + std::fmt::Debug>(v: &T) {
        let enc = v.encode();
        let mut r = Reader::new(&enc);
        let back = T::read(&mut r).expect("decodes");
        assert_eq!(&back, v);
        assert_eq!(r.remaining(), 0, "trailing bytes");
        // Every strict prefix must fail cleanly, never panic.
        for cut in 0..enc.len() {
            let _ = T::decode(&enc[..cut]);
        }
    }

    fn id() -> impl Strategy<Value = Id> {
        (".{0,8}", ".{0,16}").prop_map(|(scheme, id)| Id { scheme, id })
    }
    fn acl() -> impl Strategy<Value = Acl> {
        (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
    }
    fn data() -> impl Strategy<Value = Option<Bytes>> {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from))
    }
    fn stat() -> impl Strategy<Value = Stat> {
        (any::<[i64; 5]>(), any::<[i32; 5]>(), any::<i64>()).prop_map(|(l, i, pzxid)| Stat {
            czxid: l[0],
            mzxid: l[1],
            ctime: l[2],
            mtime: l[3],
            version: i[0],
            cversion: i[1],
            aversion: i[2],
            ephemeral_owner: l[4],
            data_length: i[3],
            num_children: i[4],
            pzxid,
        })
    }
    fn strings() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(".{0,12}", 0..6)
    }

    proptest! {
        #[test]
        fn primitives_and_small_records(a in any::<i32>(), b in any::<i64>(), c in any::<bool>(), s in ".{0,40}") {
            round_trip(&a); round_trip(&b); round_trip(&c); round_trip(&s);
            round_trip(&RequestHeader { xid: a, op: a.wrapping_add(1) });
            round_trip(&ReplyHeader { xid: a, zxid: b, err: a });
            round_trip(&WatcherEvent { kind: a, state: a, path: s.clone() });
            round_trip(&PathRequest { path: s.clone() });
            round_trip(&PathWatchRequest { path: s.clone(), watch: c });
            round_trip(&DeleteRequest { path: s.clone(), version: a });
            round_trip(&CheckVersionRequest { path: s.clone(), version: a });
            round_trip(&AddWatchRequest { path: s.clone(), mode: a });
            round_trip(&WatchTypeRequest { path: s.clone(), kind: a });
            round_trip(&PathResponse { path: s.clone() });
            round_trip(&GetAllChildrenNumberResponse { total_number: a });
            round_trip(&MultiHeader { op: a, done: c, err: a });
            round_trip(&ErrorResponse { err: a });
            round_trip(&TxnHeader { client_id: b, cxid: a, zxid: b, time: b, op: a });
            round_trip(&DeleteTxn { path: s.clone() });
            round_trip(&CreateSessionTxn { time_out: a });
            round_trip(&ErrorTxn { err: a });
            round_trip(&ReconfigRequest { joining_servers: s.clone(), leaving_servers: s.clone(), new_members: s, cur_config_id: b });
        }

        #[test]
        fn records_with_data_and_acls(path in ".{0,30}", d in data(), acls in proptest::collection::vec(acl(), 0..4),
                                      flags in any::<i32>(), ttl in any::<i64>(), st in stat(), pw in proptest::collection::vec(any::<u8>(), 0..16)) {
            round_trip(&CreateRequest { path: path.clone(), data: d.clone(), acl: acls.clone(), flags });
            round_trip(&CreateTtlRequest { path: path.clone(), data: d.clone(), acl: acls.clone(), flags, ttl });
            round_trip(&SetDataRequest { path: path.clone(), data: d.clone(), version: flags });
            round_trip(&SetAclRequest { path: path.clone(), acl: acls.clone(), version: flags });
            round_trip(&StatResponse { stat: st.clone() });
            round_trip(&Create2Response { path: path.clone(), stat: st.clone() });
            round_trip(&GetDataResponse { data: d.clone(), stat: st.clone() });
            round_trip(&GetAclResponse { acl: acls.clone(), stat: st.clone() });
            round_trip(&ConnectRequest { protocol_version: flags, last_zxid_seen: ttl, time_out: flags, session_id: ttl, passwd: Bytes::from(pw.clone()) });
            round_trip(&ConnectResponse { protocol_version: flags, time_out: flags, session_id: ttl, passwd: Bytes::from(pw.clone()) });
            round_trip(&AuthPacket { kind: flags, scheme: path.clone(), auth: Bytes::from(pw) });
            round_trip(&CreateTxn { path: path.clone(), data: d.clone(), acl: acls.clone(), ephemeral: flags % 2 == 0, parent_cversion: flags });
            round_trip(&CreateContainerTxn { path: path.clone(), data: d.clone(), acl: acls.clone(), parent_cversion: flags });
            round_trip(&CreateTtlTxn { path: path.clone(), data: d.clone(), acl: acls.clone(), parent_cversion: flags, ttl });
            round_trip(&SetDataTxn { path: path.clone(), data: d, version: flags });
            round_trip(&SetAclTxn { path: path.clone(), acl: acls, version: flags });
            round_trip(&CheckVersionTxn { path, version: flags });
        }

        #[test]
        fn records_with_vectors(a in strings(), b in strings(), c in strings(), z in any::<i64>(), st in stat()) {
            round_trip(&SetWatches { relative_zxid: z, data_watches: a.clone(), exist_watches: b.clone(), child_watches: c.clone() });
            round_trip(&SetWatches2 { relative_zxid: z, data_watches: a.clone(), exist_watches: b.clone(), child_watches: c.clone(), persistent_watches: a.clone(), persistent_recursive_watches: b.clone() });
            round_trip(&GetChildrenResponse { children: a.clone() });
            round_trip(&GetChildren2Response { children: b.clone(), stat: st });
            round_trip(&CloseSessionTxn { paths_to_delete: c.clone() });
            round_trip(&WhoAmIResponse { client_info: a.iter().zip(b.iter()).map(|(x, y)| ClientInfo { auth_scheme: x.clone(), user: y.clone() }).collect() });
            let txns: Vec<Txn> = a.iter().map(|s| Txn { op: s.len() as i32, data: Bytes::from(s.clone().into_bytes()) }).collect();
            round_trip(&MultiTxn { txns });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = CreateRequest::decode(&bytes);
            let _ = SetWatches2::decode(&bytes);
            let _ = MultiTxn::decode(&bytes);
            let _ = GetAclResponse::decode(&bytes);
        }
    }

    #[test]
    fn null_buffers_and_vectors() {
        let mut b = BytesMut::new();
        b.int(-1);
        assert_eq!(<Option<Bytes>>::decode(&b).unwrap(), None);
        assert_eq!(<Vec<String>>::decode(&b).unwrap(), Vec::<String>::new());
        assert_eq!(String::decode(&b).unwrap(), "");
        let mut b = BytesMut::new();
        b.int(-2);
        assert_eq!(<Option<Bytes>>::decode(&b), Err(JuteError::BadLength(-2)));
        let mut b = BytesMut::new();
        b.int(1_000_000);
        assert!(matches!(
            <Vec<i32>>::decode(&b),
            Err(JuteError::Short { .. })
        ));
        let mut b = BytesMut::new();
        b.buffer(Some(&[b'/', 0xff]));
        assert_eq!(String::decode(&b).unwrap(), "/\u{fffd}");
    }

    #[test]
    fn stat_layout_is_zookeepers() {
        // 5 longs before version, then 3 ints, a long, 2 ints, a long: 68 bytes.
        let st = Stat {
            czxid: 1,
            pzxid: 2,
            ..Default::default()
        };
        let enc = st.encode();
        assert_eq!(enc.len(), 68);
        assert_eq!(&enc[0..8], &1i64.to_be_bytes());
        assert_eq!(&enc[60..68], &2i64.to_be_bytes());
    }
}
