"""Minimal synchronous ZooKeeper wire-protocol client (jute over TCP).

Written from the public protocol description (framing, record layouts, opcodes)
so tests can send every opcode -- including ones kazoo lacks (TTL, container,
addWatch, removeWatches, getEphemerals, getAllChildrenNumber, whoAmI,
multiRead) -- and deliberately malformed input.

Every request is answered synchronously; watch notifications (xid -1) that
arrive meanwhile are buffered in ``RawSession.events`` in arrival order.
"""

from __future__ import annotations

import socket
import struct
import time

# ----------------------------------------------------------------- constants
OP = {
    "notification": 0, "create": 1, "delete": 2, "exists": 3, "getData": 4,
    "setData": 5, "getACL": 6, "setACL": 7, "getChildren": 8, "sync": 9,
    "ping": 11, "getChildren2": 12, "check": 13, "multi": 14, "create2": 15,
    "reconfig": 16, "checkWatches": 17, "removeWatches": 18,
    "createContainer": 19, "deleteContainer": 20, "createTTL": 21,
    "multiRead": 22, "auth": 100, "setWatches": 101, "sasl": 102,
    "getEphemerals": 103, "getAllChildrenNumber": 104, "setWatches2": 105,
    "addWatch": 106, "whoAmI": 107, "createSession": -10, "closeSession": -11,
    "error": -1,
}

ERR = {
    0: "OK", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency",
    -4: "ConnectionLoss", -5: "MarshallingError", -6: "Unimplemented",
    -7: "OperationTimeout", -8: "BadArguments", -12: "UnknownSession",
    -13: "NewConfigNoQuorum", -14: "ReconfigInProgress", -100: "APIError",
    -101: "NoNode", -102: "NoAuth", -103: "BadVersion",
    -108: "NoChildrenForEphemerals", -110: "NodeExists", -111: "NotEmpty",
    -112: "SessionExpired", -113: "InvalidCallback", -114: "InvalidACL",
    -115: "AuthFailed", -118: "SessionMoved", -119: "NotReadOnly",
    -120: "EphemeralOnLocalSession", -121: "NoWatcher", -122: "RequestTimeout",
    -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth",
    -125: "QuotaExceeded", -127: "Throttled",
}

# create modes
PERSISTENT, EPHEMERAL, PERSISTENT_SEQ, EPHEMERAL_SEQ = 0, 1, 2, 3
CONTAINER, PERSISTENT_TTL, PERSISTENT_SEQ_TTL = 4, 5, 6

# permissions
READ, WRITE, CREATE, DELETE, ADMIN, ALL = 1, 2, 4, 8, 16, 31

OPEN_ACL = [(ALL, "world", "anyone")]

# watcher types for removeWatches / checkWatches
WT_CHILDREN, WT_DATA, WT_ANY = 1, 2, 3
# addWatch modes
AW_PERSISTENT, AW_PERSISTENT_RECURSIVE = 0, 1

EVENT_TYPES = {
    -1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
    4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved",
    7: "PersistentWatchRemoved",
}
KEEPER_STATES = {
    -1: "Unknown", 0: "Disconnected", 3: "SyncConnected", 4: "AuthFailed",
    5: "ConnectedReadOnly", 6: "SaslAuthenticated", -112: "Expired", 7: "Closed",
}

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
               "aversion", "ephemeralOwner", "dataLength", "numChildren", "pzxid")
STAT_FMT = ">qqqqiiiqiiq"
STAT_SIZE = struct.calcsize(STAT_FMT)  # 68


# ----------------------------------------------------------------- encoding
class W:
    """jute writer"""

    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v)); return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v)); return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00"); return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b)); self.parts.append(bytes(b)); return self

    def string(self, s):
        if s is None:
            return self.int(-1)
        return self.buffer(s.encode("utf-8") if isinstance(s, str) else s)

    def strings(self, lst):
        if lst is None:
            return self.int(-1)
        self.int(len(lst))
        for s in lst:
            self.string(s)
        return self

    def acls(self, acl):
        if acl is None:
            return self.int(-1)
        self.int(len(acl))
        for perms, scheme, ident in acl:
            self.int(perms).string(scheme).string(ident)
        return self

    def raw(self, b):
        self.parts.append(b); return self

    def bytes(self):
        return b"".join(self.parts)


class R:
    """jute reader"""

    def __init__(self, data):
        self.d = data
        self.o = 0

    def _take(self, n):
        if self.o + n > len(self.d):
            raise ValueError("short read")
        b = self.d[self.o:self.o + n]
        self.o += n
        return b

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return self._take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "replace")

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.string() for _ in range(n)]

    def stat(self):
        return dict(zip(STAT_FIELDS, struct.unpack(STAT_FMT, self._take(STAT_SIZE))))

    def acls(self):
        n = self.int()
        if n < 0:
            return None
        return [(self.int(), self.string(), self.string()) for _ in range(n)]

    def remaining(self):
        return len(self.d) - self.o


# ----------------------------------------------------------------- request bodies
def body_create(path, data=b"", acl=OPEN_ACL, flags=0, ttl=None):
    w = W().string(path).buffer(data).acls(acl).int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def body_path_version(path, version=-1):
    return W().string(path).int(version).bytes()


def body_path_watch(path, watch=False):
    return W().string(path).bool(watch).bytes()


def body_set_data(path, data, version=-1):
    return W().string(path).buffer(data).int(version).bytes()


def body_path(path):
    return W().string(path).bytes()


def body_set_acl(path, acl, version=-1):
    return W().string(path).acls(acl).int(version).bytes()


def body_path_int(path, n):
    return W().string(path).int(n).bytes()


def body_multi(ops):
    """ops: list of (opname, kwargs) using the same opnames as RawSession methods."""
    w = W()
    for name, kw in ops:
        code, body = multi_op(name, **kw)
        w.int(code).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


def multi_op(name, **kw):
    if name in ("create", "create2", "createContainer", "createTTL"):
        flags = kw.get("flags", 0)
        if name == "createContainer":
            flags = CONTAINER
        return OP[name], body_create(kw["path"], kw.get("data", b""), kw.get("acl", OPEN_ACL),
                                     flags, kw.get("ttl"))
    if name == "delete":
        return OP[name], body_path_version(kw["path"], kw.get("version", -1))
    if name == "setData":
        return OP[name], body_set_data(kw["path"], kw.get("data", b""), kw.get("version", -1))
    if name == "check":
        return OP[name], body_path_version(kw["path"], kw.get("version", -1))
    if name in ("getData", "getChildren"):
        return OP[name], body_path_watch(kw["path"], kw.get("watch", False))
    raise ValueError(name)


def parse_multi_response(r: R):
    out = []
    while True:
        typ = r.int()
        done = r.bool()
        err = r.int()
        if done:
            break
        if typ == -1:
            out.append({"op": "error", "err": ERR.get(r.int(), "?")})
        elif typ == OP["create"]:
            out.append({"op": "create", "path": r.string()})
        elif typ in (OP["create2"], OP["createContainer"], OP["createTTL"]):
            out.append({"op": "create2", "path": r.string(), "stat": r.stat()})
        elif typ == OP["delete"]:
            out.append({"op": "delete"})
        elif typ == OP["setData"]:
            out.append({"op": "setData", "stat": r.stat()})
        elif typ == OP["check"]:
            out.append({"op": "check"})
        elif typ == OP["getData"]:
            out.append({"op": "getData", "data": r.buffer(), "stat": r.stat()})
        elif typ == OP["getChildren"]:
            out.append({"op": "getChildren", "children": sorted(r.strings() or [])})
        else:
            out.append({"op": f"type{typ}", "hdr_err": err})
            break
    return out


# ----------------------------------------------------------------- connection
class ConnectionClosed(Exception):
    pass


class NoReply(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionClosed()
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    (n,) = struct.unpack(">i", recv_exact(sock, 4))
    if n < 0 or n > 64 * 1024 * 1024:
        raise ValueError(f"bad frame length {n}")
    return recv_exact(sock, n)


def send_frame(sock, payload):
    sock.sendall(struct.pack(">i", len(payload)) + payload)


def connect_request(timeout_ms=30000, session_id=0, passwd=b"\x00" * 16,
                    last_zxid=0, read_only=False, protocol_version=0):
    return (W().int(protocol_version).long(last_zxid).int(timeout_ms)
            .long(session_id).buffer(passwd).bool(read_only).bytes())


class ZKResult:
    """Outcome of one request."""

    __slots__ = ("xid", "zxid", "err", "body")

    def __init__(self, xid, zxid, err, body):
        self.xid, self.zxid, self.err, self.body = xid, zxid, err, body

    @property
    def ok(self):
        return self.err == 0

    @property
    def errname(self):
        return ERR.get(self.err, f"err{self.err}")

    def __repr__(self):
        return f"ZKResult(xid={self.xid}, zxid={self.zxid:#x}, err={self.errname}, body={self.body!r})"


class RawSession:
    """One TCP connection + ZooKeeper session, fully synchronous."""

    def __init__(self, host, port, timeout_ms=30000, session_id=0, passwd=b"\x00" * 16,
                 read_only=False, last_zxid=0, io_timeout=10.0):
        self.host, self.port = host, port
        self.io_timeout = io_timeout
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.events = []        # (type, state, path, header-zxid) in arrival order
        self.last_zxid = 0      # zxid of the last reply
        self.xid = 0
        self.closed = False
        try:
            send_frame(self.sock, connect_request(timeout_ms, session_id, passwd, last_zxid, read_only))
            r = R(recv_frame(self.sock))
            self.protocol_version = r.int()
            self.negotiated_timeout = r.int()
            self.session_id = r.long()
            self.passwd = r.buffer()
            self.read_only = r.bool() if r.remaining() else None
        except BaseException:
            self.drop()
            raise

    # -- low level
    def send_raw(self, payload: bytes):
        send_frame(self.sock, payload)

    def _read_reply(self, want_xid):
        while True:
            frame = recv_frame(self.sock)
            r = R(frame)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == -1:  # watch notification
                typ, state, path = r.int(), r.int(), r.string()
                self.events.append((EVENT_TYPES.get(typ, typ), KEEPER_STATES.get(state, state), path, zxid))
                continue
            if zxid > 0:
                self.last_zxid = max(self.last_zxid, zxid)
            if want_xid is not None and xid != want_xid:
                raise AssertionError(f"unexpected xid {xid}, wanted {want_xid}")
            return ZKResult(xid, zxid, err, r)

    def request(self, op, body=b"", xid=None):
        if isinstance(op, str):
            op = OP[op]
        if xid is None:
            self.xid += 1
            xid = self.xid
        send_frame(self.sock, struct.pack(">ii", xid, op) + body)
        return self._read_reply(xid)

    # -- housekeeping
    def ping(self):
        return self.request(OP["ping"], b"", xid=-2)

    def drain(self, mode="sync"):
        """Collect the notifications this session must have received by now.

        mode="sync": round-trip a sync("/").  ZooKeeper guarantees a client sees a
        watch event before it sees the data change that triggered it; after a sync
        the client's view includes every write completed before, so all those
        events must have arrived.  mode="ping": a ping round-trip only (stricter
        than the guarantee; holds for standalone ZooKeeper).
        """
        if mode == "ping":
            self.ping()
        else:
            res = self.request(OP["sync"], body_path("/"))
            if res.err != 0:
                raise AssertionError(f"sync failed: {res.errname}")
        ev = self.events
        self.events = []
        return ev

    def close(self):
        """closeSession (a transaction) then TCP close."""
        if self.closed:
            return None
        try:
            res = self.request(OP["closeSession"])
        finally:
            self.drop()
        return res

    def drop(self):
        """TCP close without closing the session."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- operations: return (ZKResult, decoded) ; decoded is None on error
    def _do(self, op, body, decode=None):
        res = self.request(op, body)
        val = None
        if res.ok and decode is not None:
            val = decode(res.body)
        return res, val

    def create(self, path, data=b"", acl=OPEN_ACL, flags=0):
        return self._do("create", body_create(path, data, acl, flags), lambda r: r.string())

    def create2(self, path, data=b"", acl=OPEN_ACL, flags=0):
        return self._do("create2", body_create(path, data, acl, flags),
                        lambda r: (r.string(), r.stat()))

    def create_container(self, path, data=b"", acl=OPEN_ACL):
        return self._do("createContainer", body_create(path, data, acl, CONTAINER),
                        lambda r: (r.string(), r.stat()))

    def create_ttl(self, path, data=b"", acl=OPEN_ACL, flags=PERSISTENT_TTL, ttl=60000):
        return self._do("createTTL", body_create(path, data, acl, flags, ttl),
                        lambda r: (r.string(), r.stat()))

    def delete(self, path, version=-1):
        return self._do("delete", body_path_version(path, version))

    def exists(self, path, watch=False):
        return self._do("exists", body_path_watch(path, watch), lambda r: r.stat())

    def get_data(self, path, watch=False):
        return self._do("getData", body_path_watch(path, watch), lambda r: (r.buffer(), r.stat()))

    def set_data(self, path, data, version=-1):
        return self._do("setData", body_set_data(path, data, version), lambda r: r.stat())

    def get_acl(self, path):
        return self._do("getACL", body_path(path), lambda r: (r.acls(), r.stat()))

    def set_acl(self, path, acl, version=-1):
        return self._do("setACL", body_set_acl(path, acl, version), lambda r: r.stat())

    def get_children(self, path, watch=False):
        return self._do("getChildren", body_path_watch(path, watch), lambda r: r.strings())

    def get_children2(self, path, watch=False):
        return self._do("getChildren2", body_path_watch(path, watch),
                        lambda r: (r.strings(), r.stat()))

    def sync(self, path):
        return self._do("sync", body_path(path), lambda r: r.string())

    def check(self, path, version):
        return self._do("check", body_path_version(path, version))

    def multi(self, ops):
        return self._do("multi", body_multi(ops), parse_multi_response)

    def multi_read(self, ops):
        return self._do("multiRead", body_multi(ops), parse_multi_response)

    def add_auth(self, scheme, auth: bytes):
        body = W().int(0).string(scheme).buffer(auth).bytes()
        return self.request(OP["auth"], body, xid=-4), None

    def get_ephemerals(self, prefix):
        return self._do("getEphemerals", body_path(prefix), lambda r: r.strings())

    def get_all_children_number(self, path):
        return self._do("getAllChildrenNumber", body_path(path), lambda r: r.int())

    def add_watch(self, path, mode):
        return self._do("addWatch", body_path_int(path, mode))

    def remove_watches(self, path, wtype):
        return self._do("removeWatches", body_path_int(path, wtype))

    def check_watches(self, path, wtype):
        return self._do("checkWatches", body_path_int(path, wtype))

    def who_am_i(self):
        return self._do("whoAmI", b"", lambda r: [(r.string(), r.string()) for _ in range(r.int())])

    def set_watches(self, rel_zxid, data=(), exist=(), child=(), persistent=None, recursive=None):
        w = W().long(rel_zxid).strings(list(data)).strings(list(exist)).strings(list(child))
        if persistent is None and recursive is None:
            return self.request(OP["setWatches"], w.bytes(), xid=-8), None
        w.strings(list(persistent or [])).strings(list(recursive or []))
        return self.request(OP["setWatches2"], w.bytes(), xid=-8), None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if not self.closed:
                self.close()
        except Exception:
            self.drop()


def handshake_probe(host, port, timeout=2.0):
    """Connect, complete a ZooKeeper handshake, then close the session cleanly.

    Returns True when the server answered with a positive session id and a
    positive negotiated timeout.  (A session create + close = 2 transactions.)
    """
    try:
        s = RawSession(host, port, timeout_ms=30000, io_timeout=timeout)
    except (OSError, ConnectionClosed, ValueError, struct.error):
        return False
    try:
        ok = s.session_id != 0 and s.negotiated_timeout > 0
        if ok:
            s.close()
        return ok
    except (OSError, ConnectionClosed, ValueError, struct.error):
        return False
    finally:
        s.drop()


def four_letter(host, port, cmd, timeout=5.0):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        out = bytearray()
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            out += b
        return out.decode("utf-8", "replace")
