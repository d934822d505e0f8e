"""zktop (Debian's `zktop` package) against corral and ZooKeeper 3.8.

zktop is a curses monitor with no batch mode: it polls each server with
`stat` every 3 s and draws an ensemble summary line, one row per server
and one row per client connection. Here it runs under a pseudo-terminal,
its output is fed to a terminal emulator (pyte), and the screen is read
back. A `stat` that zktop cannot parse shows as mode `U` (Unavailable)
with the numbers missing, so the screens of the two servers are compared
field by field: the same fields, all filled, the same node count and zxid
after the same writes (other values may differ). zktop's own parser
(`zktop.ZKServer`, loaded from the installed module) is run too, and the
attributes it finds must be the same for both.

test_a_broken_stat_is_caught serves corral's own `stat` with one field
broken from a stand-in server and checks that the comparison fails, so a
regression in corral's `stat` cannot pass unseen.
"""

from __future__ import annotations

import errno
import fcntl
import importlib.util
import os
import pty
import re
import select
import signal
import socket
import struct
import sys
import termios
import threading
import time

import pyte
import pytest
from kazoo.client import KazooClient

from zkserver import Ensemble, ZKServer, ToolMissing, four_letter

ZKTOP = "/usr/bin/zktop"
ZKTOP_MODULE = "/usr/lib/python3/dist-packages/zktop.py"
ROWS, COLS = 30, 120
SERVER_COLS = ["ID", "SERVER", "PORT", "M", "OUTST", "RECVD", "SENT", "CONNS",
               "MINLAT", "AVGLAT", "MAXLAT"]
SESSION_COLS = ["CLIENT", "PORT", "S", "I", "QUEUED", "RECVD", "SENT"]


def need_zktop():
    if not (os.path.exists(ZKTOP) and os.path.exists(ZKTOP_MODULE)):
        pytest.fail("zktop missing (Debian package zktop; run scripts/setup.sh)", pytrace=False)


def zktop_screen(servers: list[str], done, timeout: float = 20.0) -> list[str]:
    """Runs zktop on a ROWS x COLS pty until done(screen lines) or timeout,
    quits it with `q`, and returns the screen's lines."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty's slave is its terminal
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            env = {"PATH": "/usr/bin:/bin", "TERM": "xterm", "LANG": "C.UTF-8",
                   "LINES": str(ROWS), "COLUMNS": str(COLS)}
            os.execve("/usr/bin/python3", ["python3", ZKTOP, "--servers", ",".join(servers),
                                          "-t", "2"], env)
        finally:
            os._exit(127)
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)

    def pump(secs: float) -> bool:
        """Reads what zktop drew for up to secs; False once it has exited."""
        end = time.monotonic() + secs
        while (left := end - time.monotonic()) > 0:
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError as e:
                if e.errno == errno.EIO:
                    return False
                raise
            if not data:
                return False
            stream.feed(data)
        return True

    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pump(0.2):
            if done(screen.display):
                break
        lines = list(screen.display)
        os.write(fd, b"q")
        pump(3.0)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return lines


def read_screen(lines: list[str]) -> dict:
    """The fields zktop shows: the summary line, the server rows (by ID)
    and the session rows."""
    out = {"summary": None, "servers": {}, "sessions": [], "server_header": None,
           "session_header": None}
    for line in lines:
        text = line.rstrip()
        m = re.match(r"^Ensemble -- nodecount:(\d+) zxid:0x([0-9a-f]+) sessions:(\d+)$", text)
        if m:
            out["summary"] = {"nodecount": int(m[1]), "zxid": int(m[2], 16), "sessions": int(m[3])}
            continue
        words = text.split()
        if words[:1] == ["ID"]:
            out["server_header"] = words
        elif words[:1] == ["CLIENT"]:
            out["session_header"] = words
        elif out["session_header"] and len(words) == len(SESSION_COLS):
            out["sessions"].append(dict(zip(SESSION_COLS, words)))
        elif out["server_header"] and not out["session_header"] and words and words[0].isdigit():
            out["servers"][int(words[0])] = dict(zip(SERVER_COLS, words))
    return out


def shape(view: dict) -> dict:
    """What must match between servers: which fields are shown (filled)."""
    return {
        "summary": sorted(view["summary"] or {}),
        "server_header": view["server_header"],
        "servers": {i: sorted(k for k, v in row.items() if v) for i, row in view["servers"].items()},
        "modes": {i: row.get("M") for i, row in view["servers"].items()},
        "session_header": view["session_header"],
        "session_fields": sorted({tuple(sorted(s)) for s in view["sessions"]}),
    }


def rows_drawn(n: int):
    """done() for zktop_screen: n server rows, each with all its fields."""
    def done(lines):
        v = read_screen(lines)
        return (v["summary"] is not None and len(v["servers"]) == n
                and all(len(r) == len(SERVER_COLS) for r in v["servers"].values())
                and len(v["sessions"]) >= 1)
    return done


def zktop_parser():
    """zktop's own stat parser (its ZKServer class), from the installed
    module; it reads sys.argv when loaded."""
    argv = sys.argv
    sys.argv = ["zktop"]
    try:
        spec = importlib.util.spec_from_file_location("zktop_installed", ZKTOP_MODULE)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.argv = argv
    return mod


def parsed(mod, hostport: str) -> dict:
    z = mod.ZKServer(hostport, 0)
    attrs = {k: v for k, v in vars(z).items() if k not in ("sessions", "server_id", "host", "port")}
    return {"attrs": attrs, "sessions": [sorted(vars(s)) for s in z.sessions]}


def start(kind: str) -> ZKServer:
    srv = ZKServer(kind)
    try:
        return srv.start()
    except ToolMissing as e:
        srv.stop()
        pytest.fail(f"required tool missing: {e}", pytrace=False)


def populate(srv: ZKServer) -> KazooClient:
    c = KazooClient(hosts=srv.hostport)
    c.start(timeout=15)
    c.create("/zktop", b"x")
    for i in range(3):
        c.create(f"/zktop/n{i}", b"v")
    c.get("/zktop")
    return c


def observe(srv_hostports: list[str]) -> tuple[dict, list[str]]:
    lines = zktop_screen(srv_hostports, rows_drawn(len(srv_hostports)))
    return read_screen(lines), lines


def differences(a: dict, b: dict) -> list[str]:
    sa, sb = shape(a), shape(b)
    return [f"{k}: {sa[k]!r} != {sb[k]!r}" for k in sa if sa[k] != sb[k]]


def test_zktop_shows_the_same_fields_for_corral_and_zookeeper():
    need_zktop()
    views, parses, clients, servers = {}, {}, [], []
    mod = zktop_parser()
    try:
        for kind in ("ref", "corral"):
            srv = start(kind)
            servers.append(srv)
            clients.append(populate(srv))
            views[kind], lines = observe([srv.hostport])
            v = views[kind]
            assert v["summary"], (kind, "\n".join(lines))
            row = v["servers"].get(0)
            assert row and row["M"] == "S" and len(row) == len(SERVER_COLS), (kind, "\n".join(lines))
            assert row["PORT"] == str(srv.port)
            assert v["summary"]["sessions"] >= 1 and v["sessions"], (kind, "\n".join(lines))
            parses[kind] = parsed(mod, srv.hostport)
            assert parses[kind]["attrs"]["unavailable"] is False, (kind, four_letter(srv.host, srv.port, "stat"))
    finally:
        for c in clients:
            c.stop()
            c.close()
        for s in servers:
            s.stop()
    diff = differences(views["ref"], views["corral"])
    assert not diff, "\n".join(diff)
    # The same writes: the same node count and zxid on both.
    assert views["corral"]["summary"]["nodecount"] == views["ref"]["summary"]["nodecount"]
    assert views["corral"]["summary"]["zxid"] == views["ref"]["summary"]["zxid"]
    # zktop's parser found the same attributes (stat's lines) in both.
    assert sorted(parses["corral"]["attrs"]) == sorted(parses["ref"]["attrs"])
    assert parses["corral"]["attrs"]["version"] == parses["ref"]["attrs"]["version"] == "3.8.0"
    assert {tuple(s) for s in parses["corral"]["sessions"]} == {tuple(s) for s in parses["ref"]["sessions"]}


class StandIn:
    """Answers every connection with a fixed 4lw reply (corral's own stat,
    with one field broken)."""

    def __init__(self, reply: bytes):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    conn.recv(16)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.sock.close()


BROKEN = [
    # the version line the parser needs
    (r"^Zookeeper version: 3\.8\.0", "Zookeeper version: corral"),
    # latency without its max
    (r"(?m)^Latency min/avg/max: (\d+)/(\d+)/\d+$", r"Latency min/avg/max: \1/\2"),
    # a session line in another shape
    (r"(?m)^ /127\.0\.0\.1:(\d+)\[(\d)\]", r" 127.0.0.1:\1[\2]"),
]


@pytest.mark.parametrize("pattern,replacement", BROKEN)
def test_a_broken_stat_is_caught(pattern, replacement):
    """The comparison above fails when corral's stat is wrong: a stand-in
    server replays corral's real stat with one field broken."""
    need_zktop()
    srv = start("corral")
    c = populate(srv)
    try:
        good_stat = four_letter(srv.host, srv.port, "stat")
        good, _ = observe([srv.hostport])
    finally:
        c.stop()
        c.close()
        srv.stop()
    broken_stat, n = re.subn(pattern, replacement, good_stat)
    assert n >= 1, good_stat
    fake = StandIn(broken_stat.encode())
    try:
        bad_lines = zktop_screen([f"127.0.0.1:{fake.port}"], rows_drawn(1), timeout=5)
        parse = parsed(zktop_parser(), f"127.0.0.1:{fake.port}")
    finally:
        fake.close()
    bad = read_screen(bad_lines)
    assert differences(good, bad), "\n".join(bad_lines)
    assert parse["attrs"]["unavailable"] is True, parse


def test_zktop_on_a_corral_ensemble():
    """One leader and two followers, each row filled, one summary."""
    need_zktop()
    ens = Ensemble(["corral"] * 3, tick_ms=200)
    try:
        ens.start_all()
        leader = ens.wait_leader([0, 1, 2])
        c = KazooClient(hosts=ens.hostport(leader))
        c.start(timeout=15)
        try:
            c.create("/zktop", b"x")
            hostports = [ens.hostport(i) for i in range(3)]
            view, lines = observe(hostports)
        finally:
            c.stop()
            c.close()
        screen = "\n".join(lines)
        assert sorted(r["M"] for r in view["servers"].values()) == ["F", "F", "L"], screen
        assert view["servers"][leader]["M"] == "L", screen
        assert all(len(r) == len(SERVER_COLS) for r in view["servers"].values()), screen
        assert view["summary"]["sessions"] >= 1, screen
    finally:
        ens.stop()
