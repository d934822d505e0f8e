"""Scripted Debian zkCli.sh (Java client, ZooKeeperMain) against the server under test."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import uuid

import pytest

from zkserver import ZKCLI, die_with_parent

pytestmark = pytest.mark.timeout(120)


def digest(user, pw):
    return base64.b64encode(hashlib.sha1(f"{user}:{pw}".encode()).digest()).decode()


def _clean_err(text):
    return "\n".join(l for l in text.splitlines() if not l.startswith("SLF4J:")).strip()


def _clean_out(text):
    """drop the connection banner/watcher chatter zkCli prints before the command output"""
    # The watcher thread prints "\nWATCHER::" and "\nWatchedEvent ..." with
    # println while the main thread may be half-way through a line (ls
    # prints "[" and the children apart): cut them out whole first, so the
    # line they split comes back together.
    text = re.sub(r"\nWATCHER::\n", "", text)
    text = re.sub(r"\nWatchedEvent [^\n]*\n", "", text)
    keep = []
    for l in text.splitlines():
        if (l.startswith("Connecting to ") or l.startswith("WATCHER::") or l.startswith("WatchedEvent ")
                or l in ("Welcome to ZooKeeper!", "JLine support is disabled") or not l.strip()):
            continue
        keep.append(l)
    return "\n".join(keep)


class Cli:
    def __init__(self, server):
        if not ZKCLI.exists():
            pytest.fail(f"{ZKCLI} missing (run scripts/setup.sh)", pytrace=False)
        self.server = server

    def __call__(self, *args, expect_rc=0):
        p = subprocess.run([str(ZKCLI), "-server", self.server.hostport, *args],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                           preexec_fn=die_with_parent)
        out, err = _clean_out(p.stdout), _clean_err(p.stderr)
        if expect_rc is not None:
            assert p.returncode == expect_rc, f"zkCli {args}: rc={p.returncode}\nstdout:{out}\nstderr:{err}"
        return out, err

    def script(self, lines):
        p = subprocess.run([str(ZKCLI), "-server", self.server.hostport],
                           input="\n".join(lines) + "\nquit\n",
                           capture_output=True, text=True, timeout=60, preexec_fn=die_with_parent)
        assert p.returncode == 0, p.stderr
        return _clean_out(p.stdout), _clean_err(p.stderr)


def parse_stat(text):
    st = {}
    for l in text.splitlines():
        m = re.match(r"^(\w+) = (.*)$", l)
        if m:
            st[m.group(1)] = m.group(2)
    return st


@pytest.fixture
def cli(zk_server_module):
    return Cli(zk_server_module)


@pytest.fixture
def base():
    return f"/cli-{uuid.uuid4().hex[:10]}"


def test_create_get_set_stat(cli, base, kazoo_factory, zk_server_module):
    out, err = cli("create", base, "hello")
    assert err == f"Created {base}"
    out, _ = cli("get", base)
    assert out == "hello"
    cli("set", base, "world!")
    out, _ = cli("get", "-s", base)
    lines = out.splitlines()
    assert lines[0] == "world!"
    st = parse_stat(out)
    assert st["dataVersion"] == "1"
    assert st["dataLength"] == "6"
    assert st["numChildren"] == "0"
    assert st["cversion"] == "0" and st["aclVersion"] == "0"
    assert st["ephemeralOwner"] == "0x0"
    # cross-check with an independent client
    k = kazoo_factory(zk_server_module)
    k.sync("/")
    data, kst = k.get(base)
    assert data == b"world!"
    assert int(st["cZxid"], 16) == kst.czxid
    assert int(st["mZxid"], 16) == kst.mzxid
    assert int(st["pZxid"], 16) == kst.pzxid
    assert kst.mzxid > kst.czxid

    out2, _ = cli("stat", base)
    assert parse_stat(out2) == st
    # conditional set with matching / wrong version
    cli("set", "-v", "1", base, "v2")
    _, err = cli("set", "-v", "7", base, "v3", expect_rc=1)
    assert err == f"version No is not valid : {base}"
    assert cli("get", base)[0] == "v2"


def test_ls_sequential_and_recursive(cli, base):
    cli("create", base, "")
    cli("create", f"{base}/b", "1")
    cli("create", f"{base}/a", "2")
    _, e1 = cli("create", "-s", f"{base}/a/seq-", "x")
    _, e2 = cli("create", "-s", f"{base}/a/seq-", "y")
    assert e1 == f"Created {base}/a/seq-0000000000"
    assert e2 == f"Created {base}/a/seq-0000000001"
    out, _ = cli("ls", base)
    assert out == "[a, b]"
    out, _ = cli("ls", "-s", f"{base}/a")
    lines = out.splitlines()
    assert lines[0] == "[seq-0000000000, seq-0000000001]"
    st = parse_stat(out)
    assert st["numChildren"] == "2" and st["cversion"] == "2"
    out, _ = cli("ls", "-R", base)
    assert out.splitlines() == [base, f"{base}/a", f"{base}/b",
                                f"{base}/a/seq-0000000000", f"{base}/a/seq-0000000001"]
    out, _ = cli("ls", "/")
    assert out.startswith("[") and "zookeeper" in out and base[1:] in out


def test_errors(cli, base):
    cli("create", base, "x")
    cli("create", f"{base}/child", "y")
    _, err = cli("create", base, "again", expect_rc=1)
    assert err == f"Node already exists: {base}"
    _, err = cli("get", f"{base}/nope", expect_rc=1)
    assert err == f"Node does not exist: {base}/nope"
    _, err = cli("delete", base, expect_rc=1)
    assert err == f"Node not empty: {base}"
    _, err = cli("delete", f"{base}/nope", expect_rc=1)
    assert err == f"Node does not exist: {base}/nope"
    _, err = cli("create", f"{base}/no/parent", "z", expect_rc=1)
    assert err == f"Node does not exist: {base}/no/parent"
    _, err = cli("stat", f"{base}/nope", expect_rc=1)
    assert err == f"Node does not exist: {base}/nope"


def test_delete_and_deleteall(cli, base, kazoo_factory, zk_server_module):
    cli("create", base, "")
    for p in ("a", "a/b", "a/b/c", "a/d", "e"):
        cli("create", f"{base}/{p}", p)
    cli("delete", f"{base}/e")
    k = kazoo_factory(zk_server_module)
    k.sync("/")
    assert sorted(k.get_children(base)) == ["a"]
    cli("deleteall", f"{base}/a")
    k.sync("/")
    assert k.get_children(base) == []
    cli("delete", base)
    k.sync("/")
    assert k.exists(base) is None


def test_ephemeral_and_session_close(cli, base, kazoo_factory, zk_server_module):
    cli("create", base, "")
    out, err = cli.script([
        f"create -e {base}/eph data",
        f"stat {base}/eph",
        f"create -e -s {base}/eseq- d",
        f"ls {base}",
        f"create {base}/eph/child x",
        "close",
    ])
    assert f"Created {base}/eph" in err
    assert f"Created {base}/eseq-0000000001" in err
    st = parse_stat(out)
    assert st["ephemeralOwner"] != "0x0"
    assert f"[eph, eseq-0000000001]" in out
    assert "Ephemerals cannot have children" in err
    k = kazoo_factory(zk_server_module)
    k.sync("/")
    # the script closed its session -> ephemerals are gone
    assert k.get_children(base) == []


def test_acl_digest_and_noauth(cli, base):
    d = digest("alice", "secret")
    out, err = cli.script([
        "addauth digest alice:secret",
        f"create {base} top digest:alice:{d}:cdrwa",
        f"getAcl {base}",
        f"get {base}",
        "whoami",
    ])
    assert f"Created {base}" in err
    assert f"'digest,'alice:{d}\n: cdrwa" in out
    assert "\ntop" in "\n" + out
    assert "digest: alice" in out
    # another session without auth
    _, err = cli("get", base, expect_rc=1)
    assert err == f"Insufficient permission : {base}"
    # 3.8 requires READ or ADMIN for getACL
    _, err = cli("getAcl", base, expect_rc=1)
    assert err == f"Insufficient permission : {base}"
    _, err = cli("set", base, "x", expect_rc=1)
    assert err == f"Insufficient permission : {base}"
    # setAcl from an authenticated session
    out, err = cli.script([
        "addauth digest alice:secret",
        f"setAcl {base} world:anyone:r",
        f"getAcl {base}",
    ])
    assert "'world,'anyone\n: r" in out
    assert cli("get", base)[0] == "top"
    _, err = cli("set", base, "x", expect_rc=1)
    assert err == f"Insufficient permission : {base}"


def test_sync_and_quota(cli, base):
    out, err = cli.script([
        f"create {base} 12",
        f"create {base}/c 345",
        f"sync {base}",
        f"setquota -n 10 {base}",
        f"listquota {base}",
    ])
    assert "Sync is OK" in out
    assert f"Output quota for {base} count=10,bytes=-1" in out
    # server-maintained quota statistics: 2 nodes, 5 bytes
    assert f"Output stat for {base} count=2,bytes=5" in out
