"""The audit log (audit.enable), against ZooKeeper 3.8: the same writes,
anonymous and as a digest user, successes and failures (NodeExists,
NoAuth, a failed multi), through kazoo; each server's audit lines read
from its log (corral: target corral::audit on stderr; the reference: its
Slf4jAuditLogger through slf4j-simple) and compared field by field, the
session ids renamed in order of appearance.
"""

import getpass
import re
import shutil
import time

from kazoo.security import make_digest_acl

from conftest import start_server

AUDITED = re.compile(r"((?:session=[^\t]*\t)?user=[^\t]*\t.*result=(?:success|failure|invoked))\s*$")


def audit_lines(srv):
    out = []
    for line in srv.log.read_text(errors="replace").splitlines():
        m = AUDITED.search(line)
        if m and "operation=" in m.group(1):
            out.append(m.group(1))
    return out


def fields(line):
    return [tuple(kv.split("=", 1)) for kv in line.split("\t")]


def normalised(lines):
    """Session ids become S1, S2, ... in order of first appearance."""
    names = {}
    out = []
    for line in lines:
        fs = []
        for k, v in fields(line):
            if k == "session":
                v = names.setdefault(v, f"S{len(names) + 1}")
            fs.append((k, v))
        out.append(fs)
    return out


def stopped(srv):
    """Stops the server (SIGTERM first) and returns its audit lines."""
    srv.stop(cleanup=False)
    try:
        return audit_lines(srv)
    finally:
        shutil.rmtree(srv.tmp, ignore_errors=True)


def steps(srv, kazoo_factory):
    anon = kazoo_factory(srv)
    alice = kazoo_factory(srv, auth_data=[("digest", "alice:secret")])
    anon.create("/a", b"x")
    try:
        anon.create("/a")
    except Exception as e:
        assert type(e).__name__ == "NodeExistsError", e
    anon.set("/a", b"y")
    anon.create("/e", ephemeral=True)
    t = anon.transaction()
    t.create("/m")
    t.set_data("/m", b"z")
    t.check("/m", 1)
    t.delete("/m")
    assert not any(isinstance(r, Exception) for r in t.commit())
    t = anon.transaction()
    t.create("/n")
    t.create("/a")
    assert any(isinstance(r, Exception) for r in t.commit())
    anon.set_acls("/a", [make_digest_acl("alice", "secret", all=True)])
    try:
        anon.set("/a", b"no")
    except Exception as e:
        assert type(e).__name__ == "NoAuthError", e
    alice.set("/a", b"yes")
    seq = alice.create("/a/s-", sequence=True)
    alice.delete(seq)
    alice.delete("/a")
    anon.stop()
    anon.close()
    # The log lines are written before each reply; give the ephemeral's
    # deletion at the session's close a moment.
    time.sleep(1.0)
    alice.stop()


def test_audit_lines_field_by_field(kazoo_factory):
    srv = start_server("corral", {"audit.enable": "true"})
    try:
        steps(srv, kazoo_factory)
    finally:
        lines = stopped(srv)
    user = getpass.getuser()
    got = normalised(lines)
    anon = [("session", "S1"), ("user", "127.0.0.1"), ("ip", "127.0.0.1")]
    # ZooKeeper lists the ids in its hash set's order: the digest first here.
    alice = [("session", "S2"), ("user", "alice,127.0.0.1"), ("ip", "127.0.0.1")]
    op = lambda o, z, *rest: [("operation", o), ("znode", z), *rest]
    ok, fail = ("result", "success"), ("result", "failure")
    acl = make_digest_acl("alice", "secret", all=True)
    want = [
        [("user", user), ("operation", "serverStart"), ok],
        anon + op("create", "/a", ("znode_type", "persistent"), ok),
        anon + op("create", "/a", ("znode_type", "persistent"), fail),
        anon + op("setData", "/a", ok),
        anon + op("create", "/e", ("znode_type", "ephemeral"), ok),
        anon + op("create", "/m", ("znode_type", "persistent"), ok),
        anon + op("setData", "/m", ok),
        anon + op("delete", "/m", ok),
        anon + [("operation", "multiOperation"), fail],
        anon + op("setAcl", "/a", ("acl", f"digest:{acl.id.id}:cdrwa"), ok),
        anon + op("setData", "/a", fail),
        alice + op("setData", "/a", ok),
        alice + op("create", "/a/s-0000000000", ("znode_type", "persistent_sequential"), ok),
        alice + op("delete", "/a/s-0000000000", ok),
        alice + op("delete", "/a", ok),
        [("session", "S1"), ("user", user),
         ("operation", "ephemeralZNodeDeletionOnSessionCloseOrExpire"), ("znode", "/e"), ok],
        [("user", user), ("operation", "serverStop"), ("result", "invoked")],
    ]
    assert got == want, "\n".join(lines)


def test_no_audit_lines_unless_enabled(kazoo_factory):
    srv = start_server("corral", {})
    try:
        zk = kazoo_factory(srv)
        zk.create("/quiet")
        zk.delete("/quiet")
        zk.stop()
    finally:
        assert stopped(srv) == []


def test_audit_matches_zookeeper(kazoo_factory):
    got = {}
    for kind in ("ref", "corral"):
        srv = start_server(kind, {"audit.enable": "true"})
        try:
            steps(srv, kazoo_factory)
        finally:
            got[kind] = normalised(stopped(srv))
    # The reference writes serverStop from its shutdown hook, which the
    # test's kill may cut short: compare up to the stop.
    stop = lambda ls: [l for l in ls if ("operation", "serverStop") not in l]
    assert stop(got["corral"]) == stop(got["ref"])
    assert len(stop(got["ref"])) == 16
