"""docs/operations.md "Backup and restore", step by step, against the real
binary: ZooKeeper 3.9's AdminServer `snapshot` and `restore` as corral
offers them (docs/admin.md), with their authentication, rate limit, body
bound and refusal of damaged snapshots; and the streamed snapshot loaded by
Debian's ZooKeeper 3.8 (differential: the same tree).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import SessionExpiredError
from kazoo.security import ACL, Id

from zkserver import ZKServer, ToolMissing

AUTH = "digest ops:secret"


def digest_id(user_pw: str) -> str:
    user = user_pw.split(":")[0]
    return user + ":" + base64.b64encode(hashlib.sha1(user_pw.encode()).digest()).decode()


OPS_ALL = ACL(31, Id("digest", digest_id("ops:secret")))
WORLD_READ = ACL(1, Id("world", "anyone"))


def start(srv):
    try:
        return srv.start()
    except ToolMissing as e:
        srv.stop()
        pytest.fail(f"required tool missing: {e}", pytrace=False)


def http(port, name, method="GET", body=None, auth=AUTH, query=""):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/commands/{name}{query}", data=body, method=method)
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def client(srv, auth=True):
    c = KazooClient(hosts=srv.hostport, timeout=10.0)
    c.start(timeout=15)
    if auth:
        c.add_auth("digest", "ops:secret")
    return c


def tree(c, path="/"):
    """Every node under `path` but /zookeeper: data, ACL and stat."""
    out = {}
    data, st = c.get(path)
    acl, _ = c.get_acls(path)
    out[path] = (data, sorted((a.perms, a.id.scheme, a.id.id) for a in acl),
                 (st.czxid, st.mzxid, st.pzxid, st.version, st.cversion, st.aversion,
                  st.ephemeralOwner, st.numChildren))
    for ch in sorted(c.get_children(path)):
        p = (path.rstrip("/") + "/" + ch)
        if p == "/zookeeper":
            continue
        out.update(tree(c, p))
    return out


def write(srv):
    """Step 1: protect the root, then write (an ephemeral too)."""
    c = client(srv)
    c.set_acls("/", [OPS_ALL, WORLD_READ])
    c.create("/app", b"v1")
    c.create("/app/cfg", b"x" * 3000)
    c.create("/app/secret", b"s", acl=[OPS_ALL])
    for i in range(20):
        c.create("/app/seq-", str(i).encode(), sequence=True)
    c.set("/app/cfg", b"v2")
    owner = client(srv, auth=False)
    owner.create("/app/live", b"e", ephemeral=True)
    return c, owner


def test_backup_and_restore_walkthrough(tmp_path):
    srv = start(ZKServer("corral", admin=True))
    try:
        c, owner = write(srv)
        before = tree(c)
        session = owner.client_id[0]
        assert before["/app/live"][2][6] == session

        # Step 2: the snapshot over HTTP, guarded as 3.9 guards it.
        st, _, body = http(srv.admin_port, "snapshot", auth=None)
        assert st == 401, body
        assert json.loads(body) == {"command": "snapshot",
                                    "error": "Auth info is missing for the command"}
        st, _, body = http(srv.admin_port, "snap", auth="digest ops:wrong")
        assert (st, json.loads(body)["error"]) == (403, "Not authorized"), body
        st, _, body = http(srv.admin_port, "snapshot", auth="Basic b3BzOnNlY3JldA==")
        assert (st, json.loads(body)["error"]) == (401, "Not authenticated"), body
        st, headers, snap = http(srv.admin_port, "snapshot")
        assert st == 200, snap
        assert headers["Content-Type"] == "application/octet-stream"
        assert int(headers["snapshot_size"]) == len(snap)
        zxid = int(headers["last_zxid"], 16)
        assert zxid >= max(max(v[2][:3]) for v in before.values())
        backup = tmp_path / "backup.snap"
        backup.write_bytes(snap)
        # streaming=false: the headers and the JSON only.
        st, headers2, body = http(srv.admin_port, "snapshot", query="?streaming=false")
        if st == 429:  # 3.9's snapshot limiter: the interval in microseconds
            import time
            time.sleep(0.5)
            st, headers2, body = http(srv.admin_port, "snapshot", query="?streaming=false")
        assert st == 200 and json.loads(body) == {"command": "snapshot", "error": None}
        assert headers2["last_zxid"] == headers["last_zxid"]

        # Steps 3-5: stop, wipe the data, start empty.
        c.stop()
        srv.stop(cleanup=False)
        owner.stop()
        shutil.rmtree(srv.datadir / "version-2")
        start(srv)
        c = client(srv)
        assert not c.exists("/app")

        # Step 6: restore over HTTP.
        st, _, body = http(srv.admin_port, "restore", method="POST", body=snap, auth=None)
        assert st == 401, body
        st, _, body = http(srv.admin_port, "restore", method="POST", body=snap)
        assert st == 200, body
        answer = json.loads(body)
        assert answer == {"last_zxid": zxid, "command": "restore", "error": None}, answer

        # Step 7: the tree is the snapshot's: paths, data, ACLs, stats,
        # the ephemeral with its session.
        assert tree(c) == before
        # One restore per interval (5 minutes by default).
        st, _, body = http(srv.admin_port, "restore", method="POST", body=snap)
        assert st == 429, body
        # A restart comes back with the restored tree (the restore is durable).
        c.stop()
        srv.stop(cleanup=False)
        start(srv)
        c = client(srv)
        assert tree(c) == before
        c.stop()
    finally:
        srv.stop()


def test_a_damaged_or_oversized_restore_leaves_the_data_alone(tmp_path):
    src = start(ZKServer("corral", admin=True))
    try:
        c, owner = write(src)
        st, _, snap = http(src.admin_port, "snapshot")
        assert st == 200
        c.stop()
        owner.stop()
    finally:
        src.stop()
    srv = start(ZKServer("corral", admin=True, extra_cfg={
        "admin.rateLimiterIntervalInMS": "0",
        "corral.admin.restore.maxBytes": str(len(snap) + 10),
    }))
    try:
        c = client(srv, auth=False)
        c.create("/live", b"keep")
        before = tree(c)
        for bad in (snap[: len(snap) // 2], snap[:-1],
                    snap[:100] + bytes([snap[100] ^ 1]) + snap[101:], b"", b"garbage"):
            st, _, body = http(srv.admin_port, "restore", method="POST", body=bad)
            assert st == 500, (len(bad), st, body)
            assert tree(c) == before
        # Over the bound: refused before the body is read.
        st, _, body = http(srv.admin_port, "restore", method="POST", body=snap + b"x" * 11)
        assert st == 413, body
        assert tree(c) == before
        # GET on restore, POST on snapshot: not these commands' methods.
        assert http(srv.admin_port, "restore")[0] == 405
        assert http(srv.admin_port, "snapshot", method="POST", body=b"")[0] == 405
        # The real one still restores.
        st, _, body = http(srv.admin_port, "restore", method="POST", body=snap)
        assert st == 200, body
        assert not c.exists("/live")
        c.add_auth("digest", "ops:secret")
        assert c.get("/app/cfg")[0] == b"v2"
        c.stop()
    finally:
        srv.stop()


def test_disabled_commands_answer_503():
    srv = start(ZKServer("corral", admin=True, extra_cfg={
        "admin.snapshot.enabled": "false", "admin.restore.enabled": "false"}))
    try:
        st, _, body = http(srv.admin_port, "snapshot")
        assert (st, json.loads(body)) == (503, {"command": "snapshot", "error": None})
        st, _, body = http(srv.admin_port, "restore", method="POST", body=b"x")
        assert (st, json.loads(body)) == (503, {"command": "restore", "error": None})
    finally:
        srv.stop()


def test_zookeeper_3_8_loads_the_streamed_snapshot(tmp_path):
    srv = start(ZKServer("corral", admin=True))
    try:
        c, owner = write(srv)
        st, headers, snap = http(srv.admin_port, "snapshot")
        assert st == 200
        want = tree(c)
        c.stop()
        owner.stop()
    finally:
        srv.stop()
    ref = ZKServer("ref")
    (ref.datadir / "version-2").mkdir()
    name = "snapshot." + headers["last_zxid"][2:]
    (ref.datadir / "version-2" / name).write_bytes(snap)
    start(ref)
    try:
        c = client(ref)
        got = tree(c)
        # The ephemeral's session expires on ZooKeeper in its own time:
        # compare it while it lasts, and everything else in full.
        assert got == want
        c.stop()
    finally:
        ref.stop()


def raw(port, head: bytes, trickle: bytes = b"", gap: float = 0.0, timeout: float = 10.0):
    """Sends a request head (then `trickle`, a byte per `gap` s); the status
    line and how long it took."""
    import socket
    import time
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        for b in trickle:
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            time.sleep(gap)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n")[0].decode(), time.monotonic() - t0


def test_a_restore_body_is_read_only_when_allowed_and_only_so_fast():
    srv = start(ZKServer("corral", admin=True, extra_cfg={
        "admin.idleTimeout": "1000", "admin.rateLimiterIntervalInMS": "0"}))
    try:
        c = client(srv)
        c.set_acls("/", [OPS_ALL, WORLD_READ])
        huge = b"Content-Length: 100000000000\r\n"
        # Unauthenticated or unauthorized: answered before the body.
        line, took = raw(srv.admin_port, b"POST /commands/restore HTTP/1.1\r\n" + huge + b"\r\n")
        assert line == "HTTP/1.1 401 Unauthorized" and took < 5, (line, took)
        line, _ = raw(srv.admin_port, b"POST /commands/restore HTTP/1.1\r\n"
                      b"Authorization: digest ops:wrong\r\n" + huge + b"\r\n")
        assert line == "HTTP/1.1 403 Forbidden", line
        # Authorized but over the bound: 413, unread.
        line, _ = raw(srv.admin_port, b"POST /commands/restore HTTP/1.1\r\n"
                      b"Authorization: digest ops:secret\r\n" + huge + b"\r\n")
        assert line == "HTTP/1.1 413 Payload Too Large", line
        # A body that trickles: cut off after admin.idleTimeout in all.
        # (The limiter allows one call per interval *after* it: 0 ms still
        # parts two calls in the same millisecond, as ZooKeeper's does.)
        import time
        time.sleep(0.05)
        line, took = raw(srv.admin_port, b"POST /commands/restore HTTP/1.1\r\n"
                         b"Authorization: digest ops:secret\r\nContent-Length: 100\r\n\r\n",
                         trickle=b"x" * 100, gap=0.05)
        assert line == "HTTP/1.1 408 Request Timeout" and took < 4, (line, took)
        assert c.get_acls("/")[0] == [OPS_ALL, WORLD_READ]
        c.stop()
    finally:
        srv.stop()


def test_a_restore_onto_a_server_further_on_stands_at_its_zxid_and_survives_a_restart():
    src = start(ZKServer("corral", admin=True))
    try:
        c, owner = write(src)
        want = tree(c)
        st, headers, snap = http(src.admin_port, "snapshot")
        assert st == 200
        c.stop()
        owner.stop()
    finally:
        src.stop()
    srv = start(ZKServer("corral", admin=True))
    try:
        c = client(srv, auth=False)
        for i in range(200):
            c.create(f"/n{i}")
        far = c.exists("/n199").czxid
        assert far > int(headers["last_zxid"], 16)
        st, _, body = http(srv.admin_port, "restore", method="POST", body=snap)
        assert st == 200, body
        # The server's zxid, not the snapshot's: the restored snapshot is
        # the newest on disk and covers the whole log.
        assert json.loads(body)["last_zxid"] >= far
        # A session the snapshot lacks is gone, as in 3.9 (a new session
        # tracker from the snapshot's sessions).
        with pytest.raises(SessionExpiredError):
            c.create("/before")
        c.stop()
        c = client(srv)
        assert tree(c) == want
        c.create("/after", b"1")
        c.stop()
        srv.stop(cleanup=False)
        start(srv)
        c = client(srv)
        got = tree(c)
        assert got.pop("/after")[0] == b"1"
        # The root's pzxid/cversion moved with /after; the rest is the snapshot's.
        got.pop("/"), want.pop("/")
        assert got == want
        c.stop()
    finally:
        srv.stop()
