"""Debian's ZooKeeper C client tools (libzookeeper-mt 3.8.0) against the server under test.

load_gen <hosts> <root> <n>: loops forever: async-create n children of <root>
("first"), async-set all to "second", async-get all (exit(1) on a value other
than "second"), async-delete all.  Every failure is logged as ZOO_ERROR.
load_gen <hosts> <root> clean: recursive delete, exit 0 on success.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid

import pytest

from zkproto import RawSession
from zkserver import CLI_MT, LOAD_GEN, die_with_parent

LOAD_SECONDS = float(os.environ.get("LOAD_GEN_SECONDS", "30"))


def _need(tool):
    if not tool.exists():
        pytest.fail(f"{tool} missing (run scripts/setup.sh)", pytrace=False)


@pytest.mark.timeout(LOAD_SECONDS + 120)
def test_load_gen(zk_server):
    _need(LOAD_GEN)
    roots = [f"/lg-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    procs = []
    try:
        for i, root in enumerate(roots):
            procs.append(subprocess.Popen(
                [str(LOAD_GEN), zk_server.hostport, root, str(300 if i == 0 else 50)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, start_new_session=True, preexec_fn=die_with_parent))
        # drain stderr continuously so the pipe never blocks the tool
        logs = [[] for _ in procs]
        readers = [threading.Thread(target=lambda p=p, l=l: l.extend(p.stderr), daemon=True)
                   for p, l in zip(procs, logs)]
        for r in readers:
            r.start()
        deadline = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < deadline:
            for p, l in zip(procs, logs):
                assert p.poll() is None, (f"load_gen exited early rc={p.returncode}:\n"
                                          + "".join(l[-40:]))
            time.sleep(0.5)
        assert zk_server.alive(), "server died under load"
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    for r in readers:
        r.join(10)

    for root, log in zip(roots, logs):
        errors = [l for l in log if "ZOO_ERROR" in l or "Invalid read" in l or "Failed to" in l]
        assert not errors, f"load_gen {root} reported errors:\n" + "".join(errors[:30])
        deletes = sum("Starting the delete cycle" in l for l in log)
        assert deletes >= 3, f"load_gen {root} completed only {deletes} full cycles"

    # clean mode: recursive delete must succeed
    for root in roots:
        p = subprocess.run([str(LOAD_GEN), zk_server.hostport, root, "clean"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                           preexec_fn=die_with_parent)
        assert p.returncode == 0, p.stderr[-3000:]
        assert "Successfully deleted a subtree" in p.stderr
    with RawSession(zk_server.host, zk_server.port) as s:
        s.sync("/")
        for root in roots:
            res, _ = s.exists(root)
            assert res.errname == "NoNode"


class CliMt:
    """Drives cli_mt interactively; output (all on stderr) is collected by a thread."""

    def __init__(self, hostport):
        self.p = subprocess.Popen([str(CLI_MT), "-h", hostport], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True, preexec_fn=die_with_parent)
        self.buf = ""
        self.pos = 0
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.buf += line

    def wait_for(self, pattern, timeout=10.0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                m = rx.search(self.buf, self.pos)
                if m:
                    self.pos = m.end()
                    return m
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(f"cli_mt: {pattern!r} not seen; output after pos {self.pos}:\n"
                                 f"{self.buf[self.pos:]}")

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def cmd(self, line, pattern, timeout=10.0):
        self.send(line)
        return self.wait_for(pattern, timeout)

    def close(self):
        try:
            if self.p.poll() is None:
                self.send("quit")
                self.p.wait(10)
        except Exception:
            pass
        finally:
            if self.p.poll() is None:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)


@pytest.mark.timeout(90)
def test_cli_mt_scripted(zk_server):
    _need(CLI_MT)
    b = f"/climt-{uuid.uuid4().hex[:8]}"
    c = CliMt(zk_server.hostport)
    other = RawSession(zk_server.host, zk_server.port)
    try:
        c.wait_for(r"Got a new session id: 0x([0-9a-f]+)")
        c.cmd(f"create {b}", rf"\[{b}\]: rc = 0\n\tname = {b}\n")
        c.cmd(f"create +e {b}/e", rf"\[{b}/e\]: rc = 0\n\tname = {b}/e\n")
        c.cmd(f"create +s {b}/s", rf"\[{b}/s\]: rc = 0\n\tname = {b}/s0000000001\n")
        m = c.cmd(f"create2 {b}/c2", rf"\[{b}/c2\]: rc = 0\n\tname = {b}/c2\n(?:.*\n){{1}}\tczxid=([0-9a-f]+)\n")
        czxid = int(m.group(1), 16)
        other.sync("/")
        _, st = other.exists(f"{b}/c2")
        assert st["czxid"] == czxid
        m = c.cmd(f"ls {b}", rf"{b}: rc = 0\n((?:\t.*\n)+)")
        assert sorted(x.strip() for x in m.group(1).splitlines()) == ["c2", "e", "s0000000001"]
        m = c.cmd(f"ls2 {b}", rf"{b}: rc = 0\n((?:\t.*\n)+)time = .*\n(?:.*\n){{4}}\tversion=0\taversion=0\n")
        # `get` sets a watch (watch=1); a set from another session must fire it
        c.cmd(f"get {b}", rf"{b}: rc = 0\n value_len = 3\nnew\n")
        other.set_data(b, b"changed")
        c.wait_for(rf"Watcher CHANGED_EVENT state = CONNECTED_STATE for path {b}\n")
        c.cmd(f"set {b} hello", rf"{b}: rc = 0 Stat:\n(?:.*\n){{3}}\tmzxid=[0-9a-f]+\n\tversion=2\taversion=0\n")
        c.cmd(f"get {b}", rf"{b}: rc = 0\n value_len = 5\nhello\n")
        c.cmd(f"wexists {b}/later", rf"Error -101 for {b}/later\n")
        other.create(f"{b}/later")
        c.wait_for(rf"Watcher CREATED_EVENT state = CONNECTED_STATE for path {b}/later\n")
        c.cmd(f"sync {b}", rf"\[{b}\]: rc = 0\n")
        c.cmd(f"delete {b}", rf"{b}: rc = -111\n")  # NotEmpty
        c.cmd(f"get {b}/nope", rf"{b}/nope: rc = -101\n")  # NoNode
        c.cmd(f"create {b}/e/x", rf"\[{b}/e/x\]: rc = -108\n")  # NoChildrenForEphemerals
        c.cmd(f"create {b}", rf"\[{b}\]: rc = -110\n")  # NodeExists
        c.cmd(f"delete {b}/c2", rf"{b}/c2: rc = 0\n")
        c.send("quit")
        c.wait_for(r"Quitting...")
        assert c.p.wait(10) == 0
        # session closed by zookeeper_close -> ephemeral gone
        other.sync("/")
        res, kids = other.get_children(b)
        assert sorted(kids) == ["later", "s0000000001"]
    finally:
        c.close()
        other.close()


@pytest.mark.timeout(60)
def test_cli_mt_batch_mode(zk_server):
    _need(CLI_MT)
    b = f"/climtb-{uuid.uuid4().hex[:8]}"
    with RawSession(zk_server.host, zk_server.port) as s:
        s.create(b, b"payload")
        s.create(f"{b}/k1")
        s.create(f"{b}/k2")
    p = subprocess.run([str(CLI_MT), "-h", zk_server.hostport, "-c", f"ls {b}"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       preexec_fn=die_with_parent)
    assert p.returncode == 0, p.stderr
    m = re.search(rf"{b}: rc = 0\n((?:\t.*\n)+)", p.stderr)
    assert m, p.stderr
    assert sorted(x.strip() for x in m.group(1).splitlines()) == ["k1", "k2"]
    p = subprocess.run([str(CLI_MT), "-h", zk_server.hostport, "-c", f"get {b}"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       preexec_fn=die_with_parent)
    assert p.returncode == 0, p.stderr
    assert re.search(rf"{b}: rc = 0\n value_len = 7\npayload\n", p.stderr), p.stderr
