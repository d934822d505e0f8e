"""Quotas with zookeeper.enforceQuota, differential against ZooKeeper 3.8:
the same steps on both servers, quotas set with Debian's zkCli.sh
(setquota -N/-B/-n, listquota), writes through kazoo, and every outcome
compared. One known difference is written down (a multi's ops count
against the quota in order on corral); the steps here avoid it, and a
corral-only check pins it.
"""

import subprocess

import pytest
from kazoo.exceptions import QuotaExceededError

from conftest import start_server
from zkserver import ZKCLI, die_with_parent


def zkcli(server, *lines):
    if not ZKCLI.exists():
        pytest.fail(f"{ZKCLI} missing (run scripts/setup.sh)", pytrace=False)
    p = subprocess.run([str(ZKCLI), "-server", server.hostport],
                       input="\n".join(lines) + "\nquit\n", capture_output=True, text=True,
                       timeout=60, preexec_fn=die_with_parent)
    assert p.returncode == 0, p.stderr
    return [l for l in p.stdout.splitlines() if l.startswith("Output ")]


def outcome(f):
    try:
        f()
        return "ok"
    except Exception as e:  # the exception's class is the error code
        return type(e).__name__


def multi(zk, *paths):
    t = zk.transaction()
    for p in paths:
        t.create(p)
    for r in t.commit():
        if isinstance(r, Exception):
            raise r


def steps(server, kazoo_factory, enforce):
    zk = kazoo_factory(server)
    zk.create("/q")
    zk.create("/q/a")
    zk.create("/r", b"12345")
    zk.create("/s")
    zk.create("/t")
    zkcli(server, "setquota -N 3 /q", "setquota -B 10 /r", "setquota -n 1 /s", "setquota -b 1 /t")
    out = []
    for name, f in [
        ("create /q/b (count 3 of 3)", lambda: zk.create("/q/b")),
        ("create /q/c (count 4 of 3)", lambda: zk.create("/q/c")),
        ("create /q/a/deep", lambda: zk.create("/q/a/deep")),
        ("set /r to 10 bytes", lambda: zk.set("/r", b"1234567890")),
        ("set /r to 11 bytes", lambda: zk.set("/r", b"12345678901")),
        ("create /r/x empty", lambda: zk.create("/r/x")),
        ("create /r/y one byte", lambda: zk.create("/r/y", b"z")),
        ("set /r to 9 bytes", lambda: zk.set("/r", b"123456789")),
        ("create /r/y one byte again", lambda: zk.create("/r/y", b"z")),
        ("create /s/x (soft)", lambda: zk.create("/s/x")),
        ("create /s/y (soft)", lambda: zk.create("/s/y")),
        ("delete /q/b", lambda: zk.delete("/q/b")),
        ("multi: create /q/d", lambda: multi(zk, "/q/d")),
        ("multi: create /q/e", lambda: multi(zk, "/q/e")),
        ("create /t/x one byte (soft)", lambda: zk.create("/t/x", b"z")),
        ("create /t/y one byte (soft)", lambda: zk.create("/t/y", b"z")),
        ("create /free", lambda: zk.create("/free")),
    ]:
        out.append((name, outcome(f)))
    out.append(("listquota", zkcli(server, *(f"listquota /{p}" for p in "qrst"))))
    out.append(("children of /q", sorted(zk.get_children("/q"))))
    return out


@pytest.mark.parametrize("enforce", [True, False])
def test_quotas_match_zookeeper(kazoo_factory, enforce):
    flags = {"zookeeper.enforceQuota": "true"} if enforce else {}
    got = {}
    for kind in ("ref", "corral"):
        srv = start_server(kind, {}, jvm_flags=flags)
        try:
            got[kind] = steps(srv, kazoo_factory, enforce)
        finally:
            srv.stop()
    assert got["corral"] == got["ref"]
    outcomes = dict(got["ref"])
    # The steps do what they say, on the reference too.
    exceeded = "QuotaExceededError" if enforce else "ok"
    assert outcomes["create /q/c (count 4 of 3)"] == exceeded
    assert outcomes["set /r to 11 bytes"] == exceeded
    assert outcomes["create /s/y (soft)"] == "ok"


def test_a_multi_counts_its_own_ops_against_the_quota(kazoo_factory):
    """The known difference: /q holds 2 of 3; a multi creating two more
    fails whole on corral (ZooKeeper 3.8 checks each op against the tree
    before the multi, and lets both in)."""
    srv = start_server("corral", {}, jvm_flags={"zookeeper.enforceQuota": "true"})
    try:
        zk = kazoo_factory(srv)
        zk.create("/q")
        zk.create("/q/a")
        zkcli(srv, "setquota -N 3 /q")
        t = zk.transaction()
        t.create("/q/b")
        t.create("/q/c")
        results = t.commit()
        assert isinstance(results[1], QuotaExceededError), results
        assert zk.exists("/q/b") is None
        zk.create("/q/b")
    finally:
        srv.stop()


def test_quota_metrics(kazoo_factory):
    """ZooKeeper 3.8's quota metrics on /metrics (corral only: Debian's
    ZooKeeper has no Prometheus provider): the limit and usage gauge sets
    and the exceeded-error counter set, by namespace."""
    import urllib.request

    from zkserver import free_port
    port = free_port()
    srv = start_server("corral", {
        "metricsProvider.className":
            "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
        "metricsProvider.httpHost": "127.0.0.1",
        "metricsProvider.httpPort": str(port),
    }, jvm_flags={"zookeeper.enforceQuota": "true"})
    try:
        zk = kazoo_factory(srv)
        zk.create("/q", b"ab")
        zk.create("/r")
        zkcli(srv, "setquota -N 2 /q", "setquota -b 100 /r")
        zk.create("/q/a")
        with pytest.raises(QuotaExceededError):
            zk.create("/q/b")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        samples = {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1])
                   for l in body.splitlines() if l and not l.startswith("#")}
        assert samples['quota_count_limit_per_namespace{key="q"}'] == 2
        assert samples['quota_count_usage_per_namespace{key="q"}'] == 2
        assert samples['quota_bytes_usage_per_namespace{key="q"}'] == 2
        assert samples['quota_bytes_limit_per_namespace{key="r"}'] == 100
        assert samples['quota_count_limit_per_namespace{key="r"}'] == -1
        assert samples['quota_exceeded_error_per_namespace{key="q"}'] == 1
    finally:
        srv.stop()
