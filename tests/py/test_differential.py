"""Differential test: the same scripted session against a fresh reference
ZooKeeper 3.8 and a fresh server under test; every observable is compared.

Per operation we record: error code, reply-header zxid, decoded result
(Stat without ctime/mtime, ephemeralOwner mapped to "session <name>", data,
sorted children, ACLs, multi results) and, after every operation, the watch
notifications (type, state, path, header zxid) received by *each* open session,
in order (collected by a ping round-trip on every session).

Both servers see exactly the same request sequence (readiness probe included),
so zxids must line up.  With ZK_TARGET=ref two reference servers are compared,
which checks the script itself is deterministic.

Set DIFF_DUMP=<dir> to write both recordings as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time

import pytest

from conftest import start_server
from zkproto import (ADMIN, ALL, AW_PERSISTENT, AW_PERSISTENT_RECURSIVE, CONTAINER, CREATE, DELETE,
                     EPHEMERAL, EPHEMERAL_SEQ, ERR, OP, OPEN_ACL, PERSISTENT, PERSISTENT_SEQ,
                     PERSISTENT_SEQ_TTL, PERSISTENT_TTL, READ, WRITE, WT_ANY, WT_CHILDREN, WT_DATA,
                     ConnectionClosed, R, RawSession, W, body_create, body_multi, body_path,
                     body_path_watch, connect_request, four_letter, recv_frame, send_frame)


def digest_id(user, pw):
    return f"{user}:" + base64.b64encode(hashlib.sha1(f"{user}:{pw}".encode()).digest()).decode()


ALICE = digest_id("alice", "secret")
BOB = digest_id("bob", "pw")

SILENT_WAIT = 2.0  # seconds to wait before declaring "no reply"
# how each session's pending notifications are collected after every op (see RawSession.drain)
DRAIN_MODE = os.environ.get("DIFF_DRAIN", "sync")


# =============================================================== recorder
class Runner:
    def __init__(self, server):
        self.server = server
        self.host, self.port = server.host, server.port
        self.sessions: dict[str, RawSession | None] = {}
        self.order: list[str] = []
        self.sid_names: dict[int, str] = {}
        self.creds: dict[str, tuple[int, bytes]] = {}
        self.rows: list[tuple[str, dict]] = []
        self.step = 0

    # ---------------------------------------------------------- normalisation
    def sid(self, session_id):
        if session_id == 0:
            return 0
        return f"session {self.sid_names.get(session_id, '?unknown')}"

    def norm(self, v):
        if isinstance(v, dict):
            if "czxid" in v and "pzxid" in v:  # a Stat
                d = {k: x for k, x in v.items() if k not in ("ctime", "mtime")}
                d["ephemeralOwner"] = self.sid(d["ephemeralOwner"])
                return d
            return {k: self.norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [self.norm(x) for x in v]
        if isinstance(v, bytes):
            return "b64:" + base64.b64encode(v).decode() if len(v) > 64 else repr(v)
        return v

    # ---------------------------------------------------------- recording
    def _record(self, label, row, sort_events=False):
        self.step += 1
        row["events"] = self._drain_all()
        if sort_events:
            # the order in which a session's ephemerals are deleted is unspecified
            row["events"] = {k: sorted(v, key=repr) for k, v in row["events"].items()}
        self.rows.append((f"{self.step:03d} {label}", _flatten(row)))

    def _drain_all(self):
        out = {}
        for name in self.order:
            s = self.sessions.get(name)
            if s is None:
                continue
            try:
                ev = s.drain(DRAIN_MODE)
            except (ConnectionClosed, OSError, ValueError, struct.error):
                ev = list(s.events) + ["<connection closed>"]
                self._kill(name)
            out[name] = [list(e) if isinstance(e, tuple) else e for e in ev]
        return out

    def _kill(self, name):
        s = self.sessions.get(name)
        if s is not None:
            s.drop()
        self.sessions[name] = None

    # ---------------------------------------------------------- session ops
    def connect(self, name, timeout_ms=30000, reattach=None, passwd=None, session_id=None,
                read_only=False, label=None):
        sid, pw = 0, b"\x00" * 16
        if reattach is not None:
            sid, pw = self.creds[reattach]
        if session_id is not None:
            sid = session_id
        if passwd is not None:
            pw = passwd
        row = {}
        try:
            s = RawSession(self.host, self.port, timeout_ms=timeout_ms, session_id=sid, passwd=pw,
                           read_only=read_only)
        except (ConnectionClosed, OSError, ValueError, struct.error) as e:
            row["connect"] = "closed"
            self.sessions[name] = None
        else:
            if s.session_id and s.session_id not in self.sid_names:
                self.sid_names[s.session_id] = name
            row.update(timeout=s.negotiated_timeout, session=self.sid(s.session_id),
                       protocolVersion=s.protocol_version, readOnly=s.read_only,
                       passwdLen=len(s.passwd or b""))
            if s.negotiated_timeout <= 0:
                # server refused (expired/invalid session): it must close the socket now
                row["after"] = _closed_or_alive(s)
                s.drop()
                self.sessions[name] = None
            else:
                self.sessions[name] = s
                self.creds[name] = (s.session_id, s.passwd)
                if name not in self.order:
                    self.order.append(name)
        self._record(label or f"{name}: connect(timeout={timeout_ms}, reattach={reattach})", row)

    def close(self, name):
        s = self.sessions.get(name)
        row = {}
        if s is None:
            row["outcome"] = "no-session"
        else:
            try:
                res = s.request(OP["closeSession"])
                row.update(err=res.errname, zxid=res.zxid)
                row["after"] = _closed_or_alive(s, quick=True)
            except (ConnectionClosed, OSError) as e:
                row["outcome"] = "closed"
            self._kill(name)
        self._record(f"{name}: closeSession", row, sort_events=True)

    def drop(self, name):
        """TCP close without closeSession; the session stays alive on the server."""
        self._kill(name)
        time.sleep(0.2)  # let the server notice the closed socket
        self._record(f"{name}: tcp drop", {})

    def op(self, name, method, *args, **kw):
        s = self.sessions.get(name)
        row = {}
        label = f"{name}: {method}({', '.join(_short(a) for a in args)}" + \
                (", " + ", ".join(f"{k}={_short(v)}" for k, v in kw.items()) if kw else "") + ")"
        if s is None:
            row["outcome"] = "no-session"
        else:
            try:
                res, val = getattr(s, method)(*args, **kw)
                row["err"] = res.errname
                row["zxid"] = res.zxid
                if val is not None:
                    if method in ("get_children", "get_ephemerals"):
                        val = sorted(val)
                    elif method == "get_children2":
                        val = (sorted(val[0]) if val[0] is not None else None, val[1])
                    row["value"] = self.norm(val)
            except socket.timeout:
                row["outcome"] = "no reply (timeout)"
                self._kill(name)
            except (ConnectionClosed, OSError, ValueError, struct.error) as e:
                row["outcome"] = "closed"
                self._kill(name)
        self._record(label, row)

    def last_zxid(self, name):
        s = self.sessions.get(name)
        return s.last_zxid if s else 0

    def wait_expired(self, name, watcher, path, max_wait=30.0):
        """Stop pinging <name>; ping everybody else until <path> (ephemeral of name) is gone."""
        deadline = time.monotonic() + max_wait
        gone = False
        w = self.sessions[watcher]
        while time.monotonic() < deadline:
            for other in self.order:
                s = self.sessions.get(other)
                if s is not None and other != name:
                    s.ping()
            res, _ = w.exists(path)
            if res.errname == "NoNode":
                gone = True
                break
            time.sleep(0.25)
        self._record(f"{name}: wait for session expiry", {"expired": gone}, sort_events=True)

    def raw_case(self, label, fn):
        """fn(RawSession) -> dict outcome, on its own fresh session/connection."""
        row = {}
        try:
            s = RawSession(self.host, self.port, io_timeout=SILENT_WAIT)
        except Exception as e:  # noqa: BLE001
            row["setup"] = f"failed {type(e).__name__}"
        else:
            self.sid_names.setdefault(s.session_id, f"raw{self.step + 1}")
            try:
                row.update(fn(s))
            finally:
                s.drop()
        self._record(f"raw: {label}", row)

    def raw_connect_case(self, label, payload: bytes):
        """Send <payload> as the very first frame(s) on a fresh TCP connection."""
        row = {}
        with socket.create_connection((self.host, self.port), timeout=SILENT_WAIT) as sock:
            try:
                sock.sendall(payload)
                r = R(recv_frame(sock))
                row["reply"] = {"protocolVersion": r.int(), "timeout": r.int(),
                                "session": "nonzero" if r.long() else 0}
                row["after"] = _sock_closed_or_alive(sock)
            except socket.timeout:
                row["reply"] = "none (silent)"
            except (ConnectionClosed, OSError, ValueError, struct.error) as e:
                row["reply"] = "closed"
        self._record(f"raw-connect: {label}", row)

    def four(self, cmd):
        try:
            out = four_letter(self.host, self.port, cmd)
        except OSError as e:
            out = f"error {type(e).__name__}"
        self._record(f"4lw: {cmd}", {"out": _norm_4lw(cmd, out)})

    def shutdown(self):
        for name in self.order:
            self._kill(name)


MNTR_KEYS = ("zk_server_state", "zk_znode_count", "zk_ephemerals_count", "zk_watch_count",
             "zk_global_sessions", "zk_outstanding_requests", "zk_approximate_data_size")


def _norm_4lw(cmd, out):
    """Keep only the deterministic, implementation-independent part of a 4lw answer."""
    lines = out.splitlines()
    if cmd in ("srvr", "stat"):
        return [l for l in lines if l.split(":")[0] in ("Zxid", "Mode", "Node count")]
    if cmd == "mntr":
        kv = dict(l.split("\t", 1) for l in lines if "\t" in l)
        return {k: kv.get(k, "<missing>") for k in MNTR_KEYS}
    if cmd == "envi":
        for l in lines:
            if l.startswith("zookeeper.version="):
                return "zookeeper.version=" + ".".join(l.split("=", 1)[1].split(".")[:2])
        return "<no zookeeper.version>"
    return out


def _short(a):
    if isinstance(a, bytes):
        return repr(a if len(a) <= 12 else a[:12] + b"...") + (f"[{len(a)}]" if len(a) > 12 else "")
    if isinstance(a, list) and a and isinstance(a[0], tuple) and len(a[0]) == 2 and isinstance(a[0][0], str):
        return "[" + ",".join(n for n, _ in a) + "]"
    r = repr(a)
    return r if len(r) <= 60 else r[:57] + "..."


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not (key == "events"):
            out.update(_flatten(v, key + "."))
        elif key == "events":
            for sess, evs in v.items():
                out[f"events.{sess}"] = evs
        else:
            out[key] = v
    return out


def _sock_closed_or_alive(sock):
    try:
        sock.settimeout(SILENT_WAIT)
        b = sock.recv(1)
        return "closed" if not b else "extra-data"
    except socket.timeout:
        return "open"
    except OSError:
        return "closed"


def _closed_or_alive(s: RawSession, quick=False):
    s.sock.settimeout(0.5 if quick else SILENT_WAIT)
    return _sock_closed_or_alive(s.sock)


def outcome(s: RawSession, want_xid=None):
    """Read one reply (skipping notifications) and classify; then probe the connection."""
    try:
        while True:
            r = R(recv_frame(s.sock))
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid != -1:
                break
        res = {"reply.xid": xid, "reply.zxid": zxid, "reply.err": ERR.get(err, err),
               "reply.bodyLen": r.remaining()}
    except socket.timeout:
        return {"reply": "none (silent)", "after": "open"}
    except (ConnectionClosed, OSError, ValueError, struct.error) as e:
        return {"reply": "closed"}
    # still usable?
    try:
        s.ping()
        res["after"] = "alive (ping ok)"
    except socket.timeout:
        res["after"] = "open but no ping reply"
    except (ConnectionClosed, OSError, ValueError, struct.error):
        res["after"] = "closed"
    return res


def send_and_classify(frame: bytes, want_xid=None):
    def fn(s: RawSession):
        try:
            s.send_raw(frame)
        except OSError:  # server may close while we are still sending (oversized frame)
            return {"reply": "closed"}
        return outcome(s, want_xid)
    return fn


def send_bytes_and_classify(data: bytes):
    def fn(s: RawSession):
        try:
            s.sock.sendall(data)
        except OSError:
            return {"reply": "closed"}
        return outcome(s)
    return fn


# =============================================================== the script
def script(x: Runner):  # noqa: C901  (long, straight-line on purpose)
    x.four("ruok")
    x.four("isro")

    # -------------------------------------------------------------- sessions
    x.connect("A")
    x.connect("B")
    x.connect("C", timeout_ms=1000)        # below min (2*tickTime) -> 4000
    x.connect("D", timeout_ms=10_000_000)  # above max (20*tickTime) -> 40000
    x.connect("RO", read_only=True)

    # -------------------------------------------------------------- well-known nodes
    x.op("A", "exists", "/")
    x.op("A", "get_data", "/")
    x.op("A", "exists", "/zookeeper")
    x.op("A", "get_children2", "/zookeeper")
    x.op("A", "get_data", "/zookeeper/config")
    x.op("A", "get_data", "/zookeeper/quota")
    x.op("A", "get_acl", "/")
    x.op("A", "get_acl", "/zookeeper")
    x.op("A", "get_acl", "/zookeeper/config")
    x.op("A", "get_all_children_number", "/")
    x.op("A", "get_ephemerals", "/")
    x.op("A", "who_am_i")

    # -------------------------------------------------------------- basic create/read
    x.op("A", "create", "/d", b"root-data")
    x.op("A", "create", "/d", b"again")            # NodeExists
    x.op("A", "create", "/d/a/b", b"")             # NoNode (parent missing)
    x.op("A", "create2", "/d/a", b"A")
    x.op("A", "create2", "/d/a/b", b"B" * 100)
    x.op("A", "create", "/d/empty")
    x.op("RO", "create", "/d/from-ro", b"ro")      # r/w server accepts writes from r/o-capable client
    x.op("A", "get_data", "/d")
    x.op("A", "get_children", "/d")
    x.op("A", "get_children2", "/d")
    x.op("A", "exists", "/d/nonexistent")
    x.op("A", "get_data", "/d/nonexistent")
    x.op("A", "get_children", "/d/nonexistent")
    x.op("A", "get_children2", "/d/nonexistent")
    x.op("A", "create", "/d/nulldata", None)
    x.op("A", "get_data", "/d/nulldata")
    x.op("A", "set_data", "/d/nulldata", None)
    x.op("A", "get_data", "/d/nulldata")
    x.op("A", "create", "/d/bin", bytes(range(256)))
    x.op("A", "get_data", "/d/bin")
    x.op("A", "create", "/d/ünïcødé-ß", "ü".encode())
    x.op("A", "get_children", "/d")
    x.op("A", "create", "/", b"")                  # root
    x.op("A", "delete", "/")
    x.op("A", "set_data", "/", b"root!")
    x.op("A", "get_data", "/")

    # -------------------------------------------------------------- bad paths
    bad_paths = ["", "d", "/d/", "//d", "/d//a", "/d/./a", "/d/../a", "/d/.", "/d/..",
                 "/d/a\x00b", "/d/\x01ctl", "/d/\x7fdel", "/d/\ue000pua", "/d/\ufff5x"]
    for p in bad_paths:
        x.op("A", "create", p, b"x")
    for p in ["", "d", "/d/", "/d//a"]:
        x.op("A", "exists", p)
        x.op("A", "get_data", p)
        x.op("A", "set_data", p, b"y")
        x.op("A", "delete", p)
        x.op("A", "get_children", p)
    x.op("A", "create", "/zookeeper/x", b"")
    x.op("A", "set_data", "/zookeeper/config", b"nope")
    x.op("A", "delete", "/zookeeper/config")
    x.op("A", "delete", "/zookeeper")

    # -------------------------------------------------------------- versions
    x.op("A", "set_data", "/d/a", b"v1", 0)
    x.op("A", "set_data", "/d/a", b"v2", 0)        # BadVersion
    x.op("A", "set_data", "/d/a", b"v2", -1)
    x.op("A", "set_data", "/d/a", b"v3", 2)
    x.op("A", "set_data", "/d/nonexistent", b"x")  # NoNode
    x.op("A", "delete", "/d/a", 99)                # BadVersion vs NotEmpty precedence
    x.op("A", "delete", "/d/a", -1)                # NotEmpty
    x.op("A", "delete", "/d/a", 3)                 # NotEmpty with right version
    x.op("A", "delete", "/d/a/b", 1)               # BadVersion
    x.op("A", "delete", "/d/a/b", 0)
    x.op("A", "delete", "/d/a/b", 0)               # NoNode
    x.op("A", "get_children2", "/d/a")
    x.op("A", "exists", "/d/a")

    # -------------------------------------------------------------- sequential
    x.op("A", "create2", "/d/seq")
    x.op("A", "create", "/d/seq/s-", b"1", OPEN_ACL, PERSISTENT_SEQ)
    x.op("A", "create", "/d/seq/s-", b"2", OPEN_ACL, PERSISTENT_SEQ)
    x.op("A", "create2", "/d/seq/s-", b"3", OPEN_ACL, PERSISTENT_SEQ)
    x.op("A", "create", "/d/seq/", b"slash", OPEN_ACL, PERSISTENT_SEQ)
    x.op("A", "create", "/d/seq/", b"slash", OPEN_ACL, PERSISTENT)  # BadArguments
    x.op("A", "delete", "/d/seq/s-0000000001")
    x.op("A", "create", "/d/seq/s-", b"5", OPEN_ACL, PERSISTENT_SEQ)
    x.op("A", "create", "/d/seq/plain")
    x.op("A", "create", "/d/seq/x-", b"", OPEN_ACL, PERSISTENT_SEQ)
    x.op("A", "create", "/d/seq/nope/x-", b"", OPEN_ACL, PERSISTENT_SEQ)  # NoNode
    x.op("A", "create", "/d/seq/e-", b"e", OPEN_ACL, EPHEMERAL_SEQ)
    x.op("A", "get_children2", "/d/seq")

    # -------------------------------------------------------------- ephemeral
    x.op("B", "create", "/d/eph", b"B's", OPEN_ACL, EPHEMERAL)
    x.op("B", "create", "/d/eph/child")                              # NoChildrenForEphemerals
    x.op("A", "create", "/d/eph/child")
    x.op("B", "create", "/d/eph/s-", b"", OPEN_ACL, EPHEMERAL_SEQ)
    x.op("B", "create", "/d/eph", b"", OPEN_ACL, EPHEMERAL)          # NodeExists
    x.op("A", "exists", "/d/eph")
    x.op("B", "create2", "/d/eph2", b"", OPEN_ACL, EPHEMERAL)
    x.op("B", "get_ephemerals", "/")
    x.op("B", "get_ephemerals", "/d")
    x.op("B", "get_ephemerals", "/d/eph")
    x.op("B", "get_ephemerals", "/nope")
    x.op("A", "get_ephemerals", "/")
    x.op("A", "get_ephemerals", "/d/seq")
    x.op("A", "get_all_children_number", "/d")
    x.op("A", "get_all_children_number", "/d/seq")
    x.op("A", "get_all_children_number", "/d/nonexistent")
    x.op("A", "get_children2", "/d")

    # -------------------------------------------------------------- container & TTL
    x.op("A", "create_container", "/d/cont", b"c")
    x.op("A", "create", "/d/cont/c1")
    x.op("A", "delete", "/d/cont/c1")
    x.op("A", "exists", "/d/cont")
    x.op("A", "create_container", "/d/cont")                                # NodeExists
    x.op("A", "create", "/d/cont2", b"", OPEN_ACL, CONTAINER)               # container flag via plain create
    x.op("A", "create2", "/d/cont3", b"", OPEN_ACL, CONTAINER)
    x.op("A", "create_ttl", "/d/ttl", b"t", OPEN_ACL, PERSISTENT_TTL, 60000)
    x.op("A", "create_ttl", "/d/ttl", b"t", OPEN_ACL, PERSISTENT_SEQ_TTL, 60000)
    x.op("A", "create_ttl", "/d/ttl", b"t", OPEN_ACL, PERSISTENT_TTL, 0)
    x.op("A", "create_ttl", "/d/ttl", b"t", OPEN_ACL, PERSISTENT, 60000)    # TTL op, non-TTL mode
    x.op("A", "create", "/d/ttl", b"t", OPEN_ACL, PERSISTENT_TTL)           # TTL mode via create
    x.op("A", "create", "/d/badmode", b"", OPEN_ACL, 7)                     # invalid mode
    x.op("A", "exists", "/d/ttl")

    # -------------------------------------------------------------- one-shot watches
    x.op("B", "exists", "/d/w", True)                  # NoNode + exists watch
    x.op("B", "get_data", "/d", True)
    x.op("B", "get_children", "/d", True)
    x.op("C", "get_children2", "/d", True)
    x.op("C", "exists", "/d", True)
    x.op("A", "create", "/d/w", b"w")                  # B: Created /d/w, ChildrenChanged /d ; C: ChildrenChanged
    x.op("A", "set_data", "/d", b"root-data-2")        # B,C: DataChanged /d
    x.op("A", "set_data", "/d", b"root-data-3")        # nothing: watches are one-shot
    x.op("B", "get_data", "/d/w", True)
    x.op("B", "exists", "/d/w", True)
    x.op("B", "get_children", "/d/w", True)
    x.op("A", "delete", "/d/w")                        # B: Deleted /d/w (once) ; ChildrenWatch -> Deleted
    x.op("B", "get_children", "/d/w", True)            # NoNode: no watch left behind
    x.op("A", "create", "/d/w")                        # no events for B
    x.op("A", "get_data", "/d/w", True)
    x.op("A", "set_data", "/d/w", b"self")             # A sees its own event before the reply
    x.op("B", "get_data", "/d/a", True)
    x.op("A", "set_acl", "/d/a", OPEN_ACL, 0)          # ACL change: no data watch fires
    x.op("A", "set_data", "/d/a", b"after-acl")        # now it fires
    x.op("B", "get_children", "/d/a", True)
    x.op("A", "create", "/d/a/kid")
    x.op("B", "get_children", "/d/a", True)
    x.op("A", "set_data", "/d/a/kid", b"x")            # child data change: no child event
    x.op("A", "delete", "/d/a/kid")
    x.op("D", "get_data", "/d/eph", True)
    x.op("D", "exists", "/d/eph2", True)
    x.op("D", "get_children", "/d", True)

    # -------------------------------------------------------------- remove / check watches
    x.op("B", "get_data", "/d/a", True)
    x.op("B", "check_watches", "/d/a", WT_DATA)
    x.op("B", "remove_watches", "/d/a", WT_DATA)
    x.op("B", "remove_watches", "/d/a", WT_DATA)        # NoWatcher
    x.op("B", "check_watches", "/d/a", WT_DATA)
    x.op("B", "get_children", "/d/a", True)
    x.op("B", "check_watches", "/d/a", WT_CHILDREN)
    x.op("B", "remove_watches", "/d/a", WT_CHILDREN)
    x.op("B", "check_watches", "/d/a", WT_CHILDREN)
    x.op("B", "remove_watches", "/d/a", WT_ANY)          # NoWatcher
    x.op("B", "exists", "/d/zz", True)
    x.op("B", "remove_watches", "/d/zz", WT_DATA)
    x.op("B", "get_data", "/d/a", True)
    x.op("B", "get_children", "/d/a", True)
    x.op("B", "remove_watches", "/d/a", WT_ANY)
    x.op("B", "remove_watches", "/d/nonexistent", WT_ANY)
    x.op("B", "remove_watches", "/d/a", 9)              # bad watcher type
    x.op("A", "set_data", "/d/a", b"no-watchers")
    x.op("A", "create", "/d/a/kid2")
    x.op("A", "create", "/d/zz")

    # -------------------------------------------------------------- persistent watches
    x.op("C", "add_watch", "/d/p", AW_PERSISTENT)
    x.op("A", "create", "/d/p", b"p")
    x.op("A", "set_data", "/d/p", b"p1")
    x.op("A", "set_data", "/d/p", b"p2")
    x.op("A", "create", "/d/p/c")
    x.op("A", "set_data", "/d/p/c", b"c1")
    x.op("A", "delete", "/d/p/c")
    x.op("C", "add_watch", "/d/p", AW_PERSISTENT_RECURSIVE)
    x.op("A", "create", "/d/p/r1")
    x.op("A", "create", "/d/p/r1/r2", b"deep")
    x.op("A", "set_data", "/d/p/r1/r2", b"deeper")
    x.op("A", "delete", "/d/p/r1/r2")
    x.op("C", "get_data", "/d/p", True)
    x.op("A", "set_data", "/d/p", b"p3")
    x.op("C", "check_watches", "/d/p", WT_DATA)
    x.op("C", "remove_watches", "/d/p", WT_DATA)
    x.op("A", "set_data", "/d/p", b"p4")
    x.op("C", "remove_watches", "/d/p", WT_ANY)
    x.op("A", "set_data", "/d/p", b"p5")
    x.op("D", "add_watch", "/", AW_PERSISTENT_RECURSIVE)
    x.op("D", "add_watch", "/d/p", AW_PERSISTENT)
    x.op("A", "create", "/d/p/r1/x", b"")
    x.op("A", "set_data", "/d/p", b"p6")
    x.op("A", "add_watch", "/d/p", 5)                   # invalid mode
    x.op("A", "add_watch", "bad", AW_PERSISTENT)
    x.op("D", "remove_watches", "/", WT_ANY)
    x.op("D", "remove_watches", "/d/p", WT_ANY)
    x.op("A", "delete", "/d/p/r1/x")

    # -------------------------------------------------------------- ACLs
    x.op("A", "create", "/d/acl-r", b"readonly", [(READ, "world", "anyone")])
    x.op("B", "get_data", "/d/acl-r")
    x.op("B", "set_data", "/d/acl-r", b"x")             # NoAuth
    x.op("B", "set_data", "/d/acl-r", b"x", 42)         # NoAuth before BadVersion
    x.op("B", "create", "/d/acl-r/kid")                 # NoAuth
    x.op("A", "get_acl", "/d/acl-r")
    x.op("A", "set_acl", "/d/acl-r", OPEN_ACL)          # NoAuth (no ADMIN)
    x.op("A", "create", "/d/acl-c", b"c", [(CREATE | DELETE, "world", "anyone")])
    x.op("A", "get_data", "/d/acl-c")                   # NoAuth
    x.op("A", "get_acl", "/d/acl-c")                    # NoAuth (3.8: READ or ADMIN needed)
    x.op("A", "exists", "/d/acl-c")                     # no ACL check
    x.op("A", "get_children", "/d/acl-c")               # NoAuth
    x.op("A", "create", "/d/acl-c/kid")
    x.op("A", "delete", "/d/acl-c/kid")
    x.op("A", "create", "/d/acl-d", b"", [(CREATE | READ, "world", "anyone")])
    x.op("A", "create", "/d/acl-d/kid")
    x.op("A", "delete", "/d/acl-d/kid")                 # NoAuth: needs DELETE on parent
    x.op("A", "create", "/d/acl-a", b"", [(ADMIN, "world", "anyone")])
    x.op("A", "get_acl", "/d/acl-a")
    x.op("A", "set_acl", "/d/acl-a", [(ALL, "world", "anyone")], 0)
    x.op("A", "set_acl", "/d/acl-a", [(ALL, "world", "anyone")], 0)   # BadVersion
    x.op("A", "get_acl", "/d/acl-a")
    x.op("A", "set_acl", "/d/nonexistent", OPEN_ACL)    # NoNode
    x.op("A", "create", "/d/dig", b"secret", [(ALL, "digest", ALICE)])
    x.op("B", "get_data", "/d/dig")                     # NoAuth
    x.op("B", "add_auth", "digest", b"alice:wrong")
    x.op("B", "get_data", "/d/dig")                     # still NoAuth
    x.op("B", "add_auth", "digest", b"alice:secret")
    x.op("B", "get_data", "/d/dig")
    x.op("B", "get_acl", "/d/dig")
    x.op("B", "set_acl", "/d/dig", [(READ, "world", "anyone"), (ALL, "digest", ALICE)], 0)
    x.op("B", "set_acl", "/d/dig", [(READ, "world", "anyone")], 0)    # BadVersion
    x.op("B", "who_am_i")
    x.op("A", "get_data", "/d/dig")
    x.op("A", "set_data", "/d/dig", b"x")               # NoAuth
    x.op("A", "create", "/d/authacl", b"", [(ALL, "auth", "")])       # InvalidACL (no auth)
    x.op("B", "create", "/d/authacl", b"", [(ALL, "auth", "")])
    x.op("B", "get_acl", "/d/authacl")
    x.op("C", "add_auth", "digest", b"bob:pw")
    x.op("C", "create", "/d/authacl2", b"", [(READ, "auth", "ignored"), (ALL, "digest", ALICE)])
    x.op("C", "get_acl", "/d/authacl2")
    x.op("A", "create", "/d/ip-ok", b"ip", [(ALL, "ip", "127.0.0.1")])
    x.op("A", "get_data", "/d/ip-ok")
    x.op("A", "create", "/d/ip-net", b"ip", [(ALL, "ip", "127.0.0.0/8")])
    x.op("A", "get_data", "/d/ip-net")
    x.op("A", "create", "/d/ip-other", b"ip", [(ALL, "ip", "10.1.2.3")])
    x.op("A", "get_data", "/d/ip-other")                # NoAuth
    x.op("A", "create", "/d/ip-bad", b"", [(ALL, "ip", "300.1.1.1")])
    x.op("A", "create", "/d/ip-bad2", b"", [(ALL, "ip", "127.0.0.1/40")])
    x.op("A", "create", "/d/acl-empty", b"", [])
    x.op("A", "create", "/d/acl-world", b"", [(ALL, "world", "someone")])
    x.op("A", "create", "/d/acl-scheme", b"", [(ALL, "foo", "bar")])
    x.op("A", "create", "/d/acl-zero", b"", [(0, "world", "anyone")])
    x.op("A", "create", "/d/acl-dig-bad", b"", [(ALL, "digest", "nocolon")])
    x.op("A", "create", "/d/acl-perms", b"", [(READ | WRITE | 64, "world", "anyone")])
    x.op("A", "get_acl", "/d/acl-perms")
    x.op("A", "set_acl", "/d/a", [(ALL, "world", "anyone"), (READ, "ip", "127.0.0.1")], -1)
    x.op("A", "get_acl", "/d/a")
    x.op("A", "exists", "/d/a")

    # -------------------------------------------------------------- multi
    x.op("B", "get_data", "/d/a", True)
    x.op("B", "get_children", "/d", True)
    x.op("A", "multi", [
        ("create", dict(path="/d/m1", data=b"m1")),
        ("create2", dict(path="/d/m1/c", data=b"c")),
        ("setData", dict(path="/d/m1", data=b"m1b", version=0)),
        ("check", dict(path="/d/m1", version=1)),
        ("setData", dict(path="/d/a", data=b"by-multi")),
        ("delete", dict(path="/d/m1/c", version=0)),
        ("createContainer", dict(path="/d/m-cont")),
        ("create", dict(path="/d/m-seq-", flags=PERSISTENT_SEQ)),
    ])
    x.op("A", "get_children2", "/d/m1")
    x.op("A", "multi", [
        ("create", dict(path="/d/m2")),
        ("check", dict(path="/d/m1", version=5)),
        ("create", dict(path="/d/m3")),
    ])
    x.op("A", "exists", "/d/m2")
    x.op("A", "multi", [("create", dict(path="/d/m2")), ("create", dict(path="/d/m2"))])
    x.op("A", "multi", [("delete", dict(path="/d/a")), ("create", dict(path="/d/m4"))])
    x.op("A", "multi", [("create", dict(path="/d/m5", flags=EPHEMERAL)),
                        ("create", dict(path="/d/m5/c"))])
    x.op("A", "multi", [("create", dict(path="/d/m6")), ("setData", dict(path="/d/nonexistent"))])
    x.op("A", "multi", [("create", dict(path="/d/m7")), ("delete", dict(path="/d/m7", version=3))])
    x.op("A", "multi", [("create", dict(path="bad"))])
    x.op("A", "multi", [])
    x.op("B", "multi", [("create", dict(path="/d/acl-r/x"))])                   # NoAuth
    x.op("A", "multi", [("check", dict(path="/d/nonexistent", version=0))])
    x.op("A", "multi", [("create", dict(path="/d/m8")), ("delete", dict(path="/d/m8")),
                        ("create", dict(path="/d/m8", data=b"again"))])
    x.op("A", "get_data", "/d/m8")
    x.op("A", "multi_read", [("getData", dict(path="/d")), ("getChildren", dict(path="/d/seq")),
                             ("getData", dict(path="/d/nonexistent")),
                             ("getChildren", dict(path="/d/acl-c")),
                             ("getData", dict(path="/d/m8"))])
    x.op("A", "multi_read", [])
    x.op("A", "multi", [("getData", dict(path="/d"))])                          # read in write multi
    x.op("A", "multi_read", [("create", dict(path="/d/mr"))])                   # write in read multi

    # -------------------------------------------------------------- sync / stats after churn
    x.op("A", "sync", "/d")
    x.op("A", "sync", "/d/nonexistent")
    x.op("A", "sync", "/")
    x.op("A", "get_children2", "/d")
    x.op("A", "get_children2", "/")
    x.op("A", "get_all_children_number", "/")

    # -------------------------------------------------------------- four letter words
    for cmd in ("srvr", "stat", "mntr", "wchs", "envi", "isro"):
        x.four(cmd)

    # -------------------------------------------------------------- session life-cycle
    x.op("A", "exists", "/d/eph", True)
    x.op("A", "get_children", "/d", True)
    x.drop("B")                                          # TCP gone, session alive
    x.op("A", "exists", "/d/eph")                        # still there
    x.connect("B2", reattach="B")                        # same session, same timeout
    x.op("B2", "exists", "/d/eph")
    x.op("B2", "who_am_i")                               # auth does not survive reconnect
    x.op("B2", "get_data", "/d/dig")
    x.connect("Bbad", reattach="B", passwd=b"\x01" * 16)   # wrong password -> refused (ZK also
    #                                                        drops B2's connection: reattach attempt)
    x.op("B2", "exists", "/d/eph")
    x.connect("Ghost", session_id=0x0123456789abcdef)      # unknown session -> refused
    x.connect("B3", reattach="B")                          # session itself is still alive
    x.op("B3", "exists", "/d/eph")
    x.op("A", "set_data", "/d/eph2", b"by A")              # other sessions may modify ephemerals
    x.close("B3")                                          # ephemerals /d/eph, /d/eph2 vanish
    x.op("A", "exists", "/d/eph")
    x.op("A", "get_ephemerals", "/")
    x.connect("B4", reattach="B")                          # closed session -> refused
    x.op("A", "get_children2", "/d")

    # setWatches after reconnect
    x.connect("E")
    x.op("E", "get_data", "/d/a", True)
    x.op("E", "get_data", "/d/sw-data")
    zx = x.last_zxid("E")
    x.drop("E")
    x.op("A", "set_data", "/d/a", b"while-E-away")
    x.op("A", "create", "/d/sw-gone")
    x.op("A", "delete", "/d/sw-gone")
    x.connect("E2", reattach="E")
    x.op("E2", "set_watches", zx, ["/d/a", "/d/sw-gone"], ["/d/sw-new"], ["/d"])
    x.op("A", "create", "/d/sw-new")
    x.op("E2", "set_watches", x.last_zxid("E2"), [], [], [], ["/d/seq"], ["/d/cont"])
    x.op("A", "set_data", "/d/seq", b"pw")
    x.op("A", "create", "/d/cont/deep")
    x.op("A", "delete", "/d/cont/deep")
    x.close("E2")

    # session expiry (timeout 4000 = minimum)
    x.connect("X", timeout_ms=4000)
    x.op("X", "create", "/d/x-eph", b"", OPEN_ACL, EPHEMERAL)
    x.op("X", "create", "/d/x-seq-", b"", OPEN_ACL, EPHEMERAL_SEQ)
    x.op("A", "exists", "/d/x-eph", True)
    x.op("A", "get_children", "/d", True)
    x.wait_expired("X", "A", "/d/x-eph")
    x.op("X", "exists", "/d")                            # socket closed by server
    x.connect("X2", reattach="X")                        # expired -> refused
    x.op("A", "get_children2", "/d")

    # close with pending watches; watcher's events must not leak to others
    x.op("C", "get_data", "/d/a", True)
    x.close("C")
    x.op("A", "set_data", "/d/a", b"after-C-closed")
    x.close("RO")

    # -------------------------------------------------------------- final state dump
    x.op("A", "get_children2", "/")
    for p in ["/d", "/d/a", "/d/seq", "/d/cont", "/d/m1", "/d/acl-r", "/d/dig", "/d/authacl",
              "/d/authacl2", "/d/ip-ok", "/d/p", "/d/p/r1", "/d/ünïcødé-ß", "/d/bin", "/d/nulldata",
              "/d/m-cont", "/d/m8", "/d/zz", "/d/w"]:
        x.op("A", "get_data", p)
        x.op("A", "get_children2", p)
        x.op("A", "get_acl", p)
    x.op("A", "get_all_children_number", "/")
    x.op("A", "get_all_children_number", "/zookeeper")
    x.op("A", "get_ephemerals", "/")
    x.op("D", "get_ephemerals", "/")
    for cmd in ("ruok", "srvr", "mntr", "wchs"):
        x.four(cmd)

    # -------------------------------------------------------------- malformed / unusual input
    x.raw_case("unknown opcode 999", send_and_classify(struct.pack(">ii", 77, 999)))
    x.raw_case("opcode 0 (notification)", send_and_classify(struct.pack(">ii", 77, 0)))
    x.raw_case("check outside multi, matching version",
               send_and_classify(struct.pack(">ii", 77, OP["check"]) + W().string("/d").int(2).bytes()))
    x.raw_case("check outside multi, wrong version",
               send_and_classify(struct.pack(">ii", 77, OP["check"]) + W().string("/d").int(0).bytes()))
    x.raw_case("truncated getData body",
               send_and_classify(struct.pack(">ii", 77, OP["getData"]) + struct.pack(">i", 50) + b"/d"))
    x.raw_case("getData with trailing garbage",
               send_and_classify(struct.pack(">ii", 77, OP["getData"]) + body_path_watch("/d") + b"junk"))
    x.raw_case("empty frame", send_and_classify(b""))
    x.raw_case("header only, no body (exists)", send_and_classify(struct.pack(">ii", 77, OP["exists"])))
    x.raw_case("ping with normal xid", send_and_classify(struct.pack(">ii", 5, OP["ping"])))
    x.raw_case("create with null ACL",
               send_and_classify(struct.pack(">ii", 77, OP["create"]) + body_create("/d/nullacl", b"", None, 0)))
    x.raw_case("createSession opcode after handshake", send_and_classify(struct.pack(">ii", 77, -10)))
    x.raw_case("deleteContainer opcode from client",
               send_and_classify(struct.pack(">ii", 77, OP["deleteContainer"]) + body_path("/d/cont")))
    x.raw_case("reconfig in standalone",
               send_and_classify(struct.pack(">ii", 77, OP["reconfig"])
                                 + W().string(None).string(None).string("server.1=127.0.0.1:1:2;3").long(-1).bytes()))
    x.raw_case("sasl with empty token",
               send_and_classify(struct.pack(">ii", 77, OP["sasl"]) + W().buffer(b"").bytes()))
    x.raw_case("auth with unknown scheme",
               send_and_classify(struct.pack(">ii", -4, OP["auth"]) + W().int(0).string("nosuch").buffer(b"x").bytes()))
    x.raw_case("auth digest without colon",
               send_and_classify(struct.pack(">ii", -4, OP["auth"]) + W().int(0).string("digest").buffer(b"nocolon").bytes()))
    x.raw_case("frame length 0x7fffffff", send_bytes_and_classify(struct.pack(">i", 0x7FFFFFFF)))
    x.raw_case("frame length negative", send_bytes_and_classify(struct.pack(">i", -5)))
    big_ok = struct.pack(">ii", 77, OP["create"]) + body_create("/d/big", b"z" * 1_000_000)
    x.raw_case("create with 1,000,000-byte data", send_and_classify(big_ok))
    x.op("A", "exists", "/d/big")
    big_bad = struct.pack(">ii", 77, OP["create"]) + body_create("/d/big2", b"z" * (1024 * 1024 + 10))
    x.raw_case("create with 1 MiB+10 data (> jute.maxbuffer)", send_and_classify(big_bad))
    x.op("A", "exists", "/d/big2")
    x.raw_connect_case("3-byte garbage connect frame", struct.pack(">i", 3) + b"abc")
    x.raw_connect_case("connect with lastZxidSeen far ahead",
                       struct.pack(">i", 45) + connect_request(last_zxid=1 << 40))
    x.raw_connect_case("connect with negative timeout",
                       struct.pack(">i", 45) + connect_request(timeout_ms=-1))
    x.raw_connect_case("connect without readOnly byte",
                       struct.pack(">i", 44) + connect_request()[:-1])
    x.raw_connect_case("4lw-like but unknown: 'abcd'", b"abcd")
    x.op("A", "get_all_children_number", "/")
    x.close("A")
    x.close("D")


def script_ttl(x: Runner):
    """Extended types enabled (extendedTypesEnabled=true on both servers): TTL nodes."""
    x.connect("A")
    x.connect("B")
    x.op("B", "exists", "/t", True)
    x.op("B", "get_children", "/", True)
    x.op("A", "create_ttl", "/t", b"x", OPEN_ACL, PERSISTENT_TTL, 60000)
    x.op("A", "create_ttl", "/t/s-", b"1", OPEN_ACL, PERSISTENT_SEQ_TTL, 1000)
    x.op("A", "create_ttl", "/t/s-", b"2", OPEN_ACL, PERSISTENT_SEQ_TTL, 1000)
    x.op("A", "create_ttl", "/t0", b"x", OPEN_ACL, PERSISTENT_TTL, 0)
    x.op("A", "create_ttl", "/tneg", b"x", OPEN_ACL, PERSISTENT_TTL, -5)
    x.op("A", "create_ttl", "/tmax", b"x", OPEN_ACL, PERSISTENT_TTL, (1 << 40) - 1)
    x.op("A", "create_ttl", "/tbig", b"x", OPEN_ACL, PERSISTENT_TTL, 1 << 40)
    x.op("A", "create", "/tc", b"x", OPEN_ACL, PERSISTENT_TTL)
    x.op("A", "create2", "/tc", b"x", OPEN_ACL, PERSISTENT_SEQ_TTL)
    x.op("A", "create_ttl", "/te", b"x", OPEN_ACL, EPHEMERAL, 1000)
    x.op("A", "create_ttl", "/tcont", b"x", OPEN_ACL, CONTAINER, 1000)
    x.op("A", "create_ttl", "/t", b"x", OPEN_ACL, PERSISTENT_TTL, 1000)     # NodeExists
    x.op("A", "create_ttl", "/nope/t", b"x", OPEN_ACL, PERSISTENT_TTL, 1000)  # NoNode
    x.op("A", "create_ttl", "/t/bad/", b"x", OPEN_ACL, PERSISTENT_TTL, 1000)  # bad path
    x.op("A", "create", "/t/e", b"", OPEN_ACL, EPHEMERAL)
    x.op("A", "exists", "/t")
    x.op("A", "exists", "/tmax")
    x.op("A", "get_children2", "/t")
    x.op("A", "get_ephemerals", "/")
    x.op("A", "set_data", "/t", b"y", 0)
    x.op("A", "set_acl", "/t", [(ALL, "world", "anyone")], 0)
    x.op("A", "multi", [("createTTL", dict(path="/mt", flags=PERSISTENT_TTL, ttl=5000)),
                        ("createTTL", dict(path="/mt/s-", flags=PERSISTENT_SEQ_TTL, ttl=5000))])
    x.op("A", "multi", [("createTTL", dict(path="/mt2", flags=PERSISTENT_TTL, ttl=5000)),
                        ("createTTL", dict(path="/mt3", flags=PERSISTENT_TTL, ttl=0))])
    x.op("A", "multi", [("createTTL", dict(path="/mt4", flags=EPHEMERAL, ttl=5000))])
    x.op("A", "get_children2", "/mt")
    x.op("A", "get_all_children_number", "/")
    x.op("A", "delete", "/t")                                                # NotEmpty
    x.op("A", "delete", "/t/s-0000000000")
    x.op("A", "delete", "/t/s-0000000001", 0)
    x.op("A", "get_children2", "/t")
    x.close("A")                                                             # /t/e vanishes
    x.op("B", "get_children2", "/t")
    x.op("B", "delete", "/t", 1)
    x.op("B", "get_children2", "/")
    x.close("B")


def _valid_bodies():
    """A well-formed body for every opcode a client can send, on the nodes
    that script_malformed creates (/m open, /m/c, /p readable by alice only)."""
    acl = [(ALL, "world", "anyone")]
    sw = W().long(0).strings(["/m"]).strings(["/m"]).strings(["/m"])
    return {
        "create": body_create("/m/n", b"x", acl, 0),
        "delete": W().string("/m/c").int(-1).bytes(),
        "exists": body_path_watch("/m"),
        "getData": body_path_watch("/m"),
        "setData": W().string("/m").buffer(b"y").int(-1).bytes(),
        "getACL": body_path("/m"),
        "setACL": W().string("/m").acls(acl).int(-1).bytes(),
        "getChildren": body_path_watch("/m"),
        "sync": body_path("/m"),
        "getChildren2": body_path_watch("/m"),
        "check": W().string("/m").int(-1).bytes(),
        "multi": body_multi([("create", dict(path="/m/mm")), ("setData", dict(path="/m", data=b"z"))]),
        "create2": body_create("/m/n2", b"x", acl, 0),
        "reconfig": W().string(None).string(None).string("server.1=127.0.0.1:1:2;3").long(-1).bytes(),
        "checkWatches": W().string("/m").int(WT_DATA).bytes(),
        "removeWatches": W().string("/m").int(WT_DATA).bytes(),
        "createContainer": body_create("/m/cont", b"", acl, CONTAINER),
        "deleteContainer": body_path("/m/c"),
        "createTTL": body_create("/m/ttl", b"x", acl, PERSISTENT_TTL, 1000),
        "multiRead": body_multi([("getData", dict(path="/m")), ("getChildren", dict(path="/m"))]),
        "auth": W().int(0).string("digest").buffer(b"u:p").bytes(),
        "setWatches": sw.bytes(),
        "sasl": W().buffer(b"token").bytes(),
        "getEphemerals": body_path("/m"),
        "getAllChildrenNumber": body_path("/m"),
        "setWatches2": W().long(0).strings(["/m"]).strings(["/m"]).strings(["/m"]).strings(["/m"])
                          .strings(["/m"]).bytes(),
        "addWatch": W().string("/m").int(AW_PERSISTENT_RECURSIVE).bytes(),
        "whoAmI": b"",
        "createSession": b"",
        "closeSession": b"",
    }


def _malformed_variants(name, good):
    """(label, body) variants of one opcode's body: empty, cut short, a huge
    or negative inner length at the front, a null first string, a negative
    vector count where the body has one, trailing garbage."""
    out = [("empty body", b""), ("truncated", good[: max(1, len(good) // 2)])]
    if name != "createSession":
        # (ZooKeeper answers a createSession with a body by echoing session
        # bytes that differ from run to run: not comparable.)
        out.append(("trailing garbage", good + b"\x00\x00\x00\x07junk"))
    if len(good) >= 4:
        out += [("first length 0x7fffff00", struct.pack(">i", 0x7FFFFF00) + good[4:]),
                ("first length -5", struct.pack(">i", -5) + good[4:]),
                ("first length -1 (null)", struct.pack(">i", -1) + good[4:])]
    if name in ("create", "create2", "createContainer", "createTTL"):
        path, data = "/m/neg", b""
        head = W().string(path).buffer(data).bytes()
        for n in (-5, -1, 0, 0x7FFFFFFF):
            out.append((f"acl count {n}", head + struct.pack(">i", n) + struct.pack(">i", 0)
                        + (struct.pack(">q", 1000) if name == "createTTL" else b"")))
    if name == "setACL":
        for n in (-5, -1, 0, 0x7FFFFFFF):
            out.append((f"acl count {n}", W().string("/m").bytes() + struct.pack(">ii", n, -1)))
    if name in ("setWatches", "setWatches2"):
        lists = 3 if name == "setWatches" else 5
        for n in (-5, -1, 0x7FFFFFFF):
            out.append((f"watch count {n}", struct.pack(">q", 0) + struct.pack(">i", n)
                        + struct.pack(">i", 0) * (lists - 1)))
    if name in ("multi", "multiRead"):
        out += [("no end header", good[:-9]),
                ("sub-op type 999", W().int(999).bool(False).int(-1).int(-1).bool(True).int(-1).bytes()),
                ("sub-op path null", W().int(OP["getData" if name == "multiRead" else "delete"]).bool(False)
                 .int(-1).string(None).int(-1).int(-1).bool(True).int(-1).bytes())]
    return out


def script_malformed(x: Runner):
    """Every client opcode with malformed bodies, each on a fresh session:
    the error code, the reply's zxid and whether the connection survives
    must match ZooKeeper's (issue 13, item 10)."""
    x.connect("A")
    x.op("A", "create", "/m", b"m", OPEN_ACL, PERSISTENT)
    x.op("A", "create", "/m/c", b"c", OPEN_ACL, PERSISTENT)
    x.op("A", "add_auth", "digest", b"alice:secret")
    x.op("A", "create", "/p", b"p", [(ALL, "digest", ALICE)], PERSISTENT)
    x.op("A", "create", "/p/leaf", b"l", [(ALL, "digest", ALICE)], PERSISTENT)
    for name, good in _valid_bodies().items():
        code = OP[name]
        xid = -4 if name == "auth" else 77
        for label, body in _malformed_variants(name, good):
            x.raw_case(f"{name} ({code}): {label}", send_and_classify(struct.pack(">ii", xid, code) + body))
    # internal opcodes must not bypass ACLs: the body read as a raw path
    for label, body in (("raw path", b"/p/leaf"), ("jute path", body_path("/p/leaf")),
                        ("raw path, open node", b"/m/c")):
        x.raw_case(f"deleteContainer from a client, {label}",
                   send_and_classify(struct.pack(">ii", 77, OP["deleteContainer"]) + body))
    x.op("A", "exists", "/p/leaf")
    x.op("A", "exists", "/m/c")
    x.op("A", "get_all_children_number", "/")
    x.close("A")


# =============================================================== comparison
def run_script(server, fn=None):
    r = Runner(server)
    try:
        (fn or script)(r)
    finally:
        r.shutdown()
    return r.rows


def _fmt(v):
    s = v if isinstance(v, str) and "\n" not in v else json.dumps(v, ensure_ascii=False, default=repr)
    return s if len(s) <= 70 else s[:67] + "..."


# Differences from the reference that are known, with why corral keeps them.
KNOWN_DIFFERENCES = {
    # ZooKeeper logs an error txn for a multi whose sub-op has a null path
    # and answers it with an empty MultiResponse (9 bytes); corral logs the
    # same error txn and answers MarshallingError with no body, as it does
    # for every multi that does not decode; ZooKeeper's reply header carries
    # the zxid before that txn's, corral's the txn's own. No client sends a
    # null path.
    ("raw: multi (14): sub-op path null", "reply.bodyLen"),
    ("raw: multi (14): sub-op path null", "reply.zxid"),
}


def compare(ref_rows, tgt_rows, tgt_name):
    ref_d, tgt_d = dict(ref_rows), dict(tgt_rows)
    diffs = []
    labels = [l for l, _ in ref_rows] + [l for l, _ in tgt_rows if l not in ref_d]
    for label in labels:
        a, b = ref_d.get(label), tgt_d.get(label)
        if a is None or b is None:
            diffs.append((label, "<row>", "present" if a is not None else "MISSING",
                          "present" if b is not None else "MISSING"))
            continue
        for k in sorted(set(a) | set(b)):
            if tgt_name != "ref" and (label.split(" ", 1)[-1], k) in KNOWN_DIFFERENCES:
                continue
            if a.get(k, "<absent>") != b.get(k, "<absent>"):
                for sub, x, y in _leaf_diffs(a.get(k, "<absent>"), b.get(k, "<absent>"), k):
                    diffs.append((label, sub, x, y))
    return diffs


def _leaf_diffs(a, b, path):
    """Descend into equally-shaped lists/dicts so the table shows the differing leaf."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            x, y = a.get(k, "<absent>"), b.get(k, "<absent>")
            if x != y:
                yield from _leaf_diffs(x, y, f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a and any(
            isinstance(v, (list, dict)) for v in a):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                yield from _leaf_diffs(x, y, f"{path}[{i}]")
    else:
        yield path, a, b


def format_table(diffs, tgt_name):
    w0 = min(60, max(len(d[0]) for d in diffs))
    w1 = max(len(d[1]) for d in diffs)
    lines = [f"{'step / op':<{w0}} | {'field':<{w1}} | {'reference':<70} | {tgt_name}",
             "-" * (w0 + w1 + 160)]
    for label, field, a, b in diffs:
        lines.append(f"{label[:w0]:<{w0}} | {field:<{w1}} | {_fmt(a):<70} | {_fmt(b)}")
    return "\n".join(lines)


SCRIPTS = {
    "main": (script, None),
    "ttl": (script_ttl, {"extendedTypesEnabled": "true"}),
    "malformed": (script_malformed, {"extendedTypesEnabled": "true"}),
}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("which", list(SCRIPTS))
def test_differential_against_reference(which, zk_target):
    fn, extra_cfg = SCRIPTS[which]
    ref = start_server("ref", extra_cfg)
    try:
        ref_rows = run_script(ref, fn)
    finally:
        ref.stop()
    tgt = start_server(zk_target, extra_cfg)
    try:
        tgt_rows = run_script(tgt, fn)
    finally:
        tgt.stop()

    dump_dir = os.environ.get("DIFF_DUMP")
    if dump_dir:
        os.makedirs(dump_dir, exist_ok=True)
        for name, rows in (("ref", ref_rows), (zk_target + ("2" if zk_target == "ref" else ""), tgt_rows)):
            with open(os.path.join(dump_dir, f"diff-{which}-{name}.json"), "w") as f:
                json.dump(rows, f, indent=1, ensure_ascii=False, default=repr)

    n_ops = len(ref_rows)
    if which == "main":
        assert n_ops >= 200, f"script too short: {n_ops} operations"
    diffs = compare(ref_rows, tgt_rows, zk_target)
    if diffs:
        differing_ops = len({d[0] for d in diffs})
        pytest.fail(f"[{which}] {differing_ops} of {n_ops} operations differ ({len(diffs)} fields):\n"
                    + format_table(diffs, zk_target), pytrace=False)
