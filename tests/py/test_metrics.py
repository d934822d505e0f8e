"""docs/metrics.md against a live corral's /metrics: the list stays true.

docs/metrics.md lists every metric ZooKeeper 3.8's PrometheusMetricsProvider
can export (one table), marked `exported`, `throttles` or `no`, and
corral's own `corral_` metrics (a second table). Scraping a live corral --
standalone with a quota set, then the leader and a follower of a 3-server
ensemble -- this checks that:

* every row marked `exported` is served, with its `# TYPE`, and a set's
  samples carry ZooKeeper's `key` label;
* no row marked `no` is served, and a `throttles` row, once served, has its
  documented type;
* every served family is in one of the two tables (a `corral_` name too);
* every sample belongs to a family with a `# TYPE` line, and a summary's or
  histogram's samples are its `_count`/`_sum`/`_bucket`.

No live ZooKeeper with its Prometheus provider can be scraped here: Debian
ships neither the provider's jar nor the Prometheus Java client (see
docs/metrics.md), so the ZooKeeper side of the list is taken from its
source.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from zkserver import REPO, Ensemble, ZKServer, ToolMissing, free_port

PROMETHEUS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
DOC = Path(REPO) / "docs" / "metrics.md"
TYPES = {"gauge", "counter", "summary", "histogram"}


def doc_tables(text: str):
    """(zookeeper rows {name: (type, labels, status)}, corral rows {name: type})."""
    zk, own = {}, {}
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        m = re.match(r"^\| `([a-z0-9_]+)` \| ([a-z]+) \|([^|]*)\|(.*)$", line)
        if not m:
            continue
        name, typ, labels, rest = m.groups()
        assert typ in TYPES, line
        if section == "ZooKeeper 3.8's metrics":
            status = rest.split("|")[0].strip()
            assert status in ("exported", "exported (ensemble)", "exported (leader)",
                              "throttles", "no"), line
            assert name not in zk, f"{name} listed twice"
            zk[name] = (typ, labels, status)
        elif section == "corral's own":
            assert name.startswith("corral_"), line
            own[name] = typ
    return zk, own


def parse_exposition(body: str):
    """{family: type}, [(sample name, labels dict, value)] of a 0.0.4 page."""
    types, samples = {}, []
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name not in types, f"two TYPE lines for {name}"
            types[name] = typ
        elif line.startswith("#") or not line:
            continue
        else:
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m.groups()
            lab = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
            float(value)
            samples.append((name, lab, float(value)))
    return types, samples


def family_of(sample: str, types: dict) -> str:
    if sample in types:
        return sample
    for suffix in ("_count", "_sum", "_bucket"):
        base = sample[: -len(suffix)] if sample.endswith(suffix) else None
        if base and types.get(base) in ("summary", "histogram"):
            if suffix == "_bucket":
                assert types[base] == "histogram", sample
            return base
    raise AssertionError(f"sample {sample} has no # TYPE line")


STANDALONE = {"exported"}
FOLLOWER = {"exported", "exported (ensemble)"}
LEADER = {"exported", "exported (ensemble)", "exported (leader)"}


def check(body: str, zk: dict, own: dict, must_have=(), served=STANDALONE):
    """Every rule of the module doc; returns the list of broken ones.
    `served`: the statuses this server must serve (a standalone server, a
    follower or the leader); any other `exported (...)` row must be absent,
    as ZooKeeper registers those gauges only in that role."""
    problems = []
    types, samples = parse_exposition(body)
    by_family = {}
    for name, lab, _ in samples:
        try:
            by_family.setdefault(family_of(name, types), []).append(lab)
        except AssertionError as e:
            problems.append(str(e))
    for fam, typ in types.items():
        if fam in zk:
            want, labels, status = zk[fam]
            if status == "no":
                problems.append(f"{fam}: served, but docs/metrics.md says corral does not export it")
            elif status.startswith("exported") and status not in served:
                problems.append(f"{fam}: served, but docs/metrics.md says {status}")
            elif typ != want:
                problems.append(f"{fam}: TYPE {typ}, docs/metrics.md says {want}")
            if "`key`" in labels:
                for lab in by_family.get(fam, []):
                    if set(lab) != {"key"}:
                        problems.append(f"{fam}: labels {sorted(lab)}, ZooKeeper's are ['key']")
        elif fam in own:
            if typ != own[fam]:
                problems.append(f"{fam}: TYPE {typ}, docs/metrics.md says {own[fam]}")
        else:
            problems.append(f"{fam}: served, but in neither table of docs/metrics.md")
    for name, (want, _, status) in zk.items():
        if status in served and name not in types:
            problems.append(f"{name}: marked {status} in docs/metrics.md, not served")
    for name in must_have:
        if name not in types:
            problems.append(f"{name}: documented corral metric not served")
    return problems


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def metrics_cfg(port: int) -> dict:
    return {
        "metricsProvider.className": PROMETHEUS,
        "metricsProvider.httpHost": "127.0.0.1",
        "metricsProvider.httpPort": str(port),
    }


@pytest.fixture(scope="module")
def doc():
    zk, own = doc_tables(DOC.read_text())
    assert len(zk) > 150 and len(own) >= 10, (len(zk), len(own))
    return zk, own


def test_the_checker_catches_a_lie(doc):
    """The rules fail where the page and /metrics disagree."""
    zk, own = doc
    good = ("# TYPE znode_count gauge\nznode_count 5.0\n"
            "# TYPE fsynctime summary\nfsynctime_count 1.0\nfsynctime_sum 2.0\n")
    exported = {n for n, (_, _, s) in zk.items() if s == "exported"}
    problems = check(good, zk, own)
    assert all("marked exported in" in p for p in problems), problems
    assert len(problems) == len(exported - {"znode_count", "fsynctime"})
    lies = {
        "# TYPE znode_count counter\nznode_count 5.0\n": "TYPE counter",
        "# TYPE commit_count counter\ncommit_count 1.0\n": "does not export it",
        "# TYPE made_up gauge\nmade_up 1.0\n": "neither table",
        "# TYPE learners gauge\nlearners 2.0\n": "says exported (leader)",
        "# TYPE corral_made_up gauge\ncorral_made_up 1.0\n": "neither table",
        "znode_count 5.0\n": "no # TYPE line",
        '# TYPE quota_count_limit_per_namespace gauge\nquota_count_limit_per_namespace{path="/a"} 1.0\n':
            "ZooKeeper's are ['key']",
    }
    for body, needle in lies.items():
        assert any(needle in p for p in check(body, zk, own)), (body, needle)


def test_standalone_metrics_match_the_doc(doc):
    zk, own = doc
    port = free_port()
    srv = ZKServer("corral", extra_cfg=metrics_cfg(port))
    try:
        srv.start()
    except ToolMissing as e:
        srv.stop()
        pytest.fail(f"required tool missing: {e}", pytrace=False)
    try:
        c = KazooClient(hosts=srv.hostport)
        c.start(timeout=15)
        try:
            # A quota, so that the per-namespace sets have a `key` sample.
            c.create("/app", b"x")
            c.create("/zookeeper/quota/app/zookeeper_limits", b"count=10,bytes=-1", makepath=True)
            c.create("/zookeeper/quota/app/zookeeper_stats", b"count=1,bytes=1")
            for i in range(5):
                c.create(f"/app/n{i}", b"v")
                c.get("/app")
            body = scrape(port)
        finally:
            c.stop()
            c.close()
        problems = check(body, zk, own, must_have=own)
        assert not problems, "\n".join(problems)
        types, samples = parse_exposition(body)
        values = {(n, tuple(sorted(lab.items()))): v for n, lab, v in samples}
        assert values[("quota_count_limit_per_namespace", (("key", "app"),))] == 10
        assert values[("readlatency_count", ())] >= 5
        assert values[("updatelatency_count", ())] >= 5
        assert values[("dbinittime_count", ())] == 1
        assert values[("startup_txns_loaded_count", ())] == 1
        assert values[("process_resident_memory_bytes", ())] > 0
        assert values[("process_start_time_seconds", ())] > time.time() - 600
        executors = {lab["executor"] for n, lab, _ in samples if n == "corral_executor_cpu_seconds_total"}
        # One executor per role, or (the default on 1-2 CPUs) one per CPU
        # running every role placed on it, named core-N.
        assert {"sequencer", "log", "shard-0"} <= executors or "core-0" in executors, executors
        assert all(e in ("sequencer", "log", "zab") or re.fullmatch(r"(shard|core)-\d+", e) for e in executors), executors
    finally:
        srv.stop()


def test_export_jvm_info_false_drops_the_process_family(doc):
    zk, own = doc
    port = free_port()
    srv = ZKServer("corral", extra_cfg={**metrics_cfg(port), "metricsProvider.exportJvmInfo": "false"})
    srv.start()
    try:
        body = scrape(port)
        types, _ = parse_exposition(body)
        assert "znode_count" in types
        assert not [t for t in types if t.startswith("process_") or t == "corral_executor_cpu_seconds_total"]
        # The only rows this leaves out are the ones the key drops.
        problems = check(body, zk, own)
        assert all(p.startswith("process_") for p in problems), problems
    finally:
        srv.stop()


def test_ensemble_metrics_match_the_doc(doc):
    zk, own = doc
    ens = Ensemble(["corral"] * 3, tick_ms=200)
    ports = [free_port() for _ in range(3)]
    for i, p in enumerate(ports):
        ens.own_cfg[i] = metrics_cfg(p)
    try:
        ens.start_all()
        leader = ens.wait_leader([0, 1, 2])
        follower = next(i for i in range(3) if i != leader)
        c = KazooClient(hosts=ens.hostport(leader))
        c.start(timeout=15)
        try:
            c.create("/e", b"1")
        finally:
            c.stop()
            c.close()
        for i, served in ((leader, LEADER), (follower, FOLLOWER)):
            body = scrape(ports[i])
            problems = check(body, zk, own, must_have=own, served=served)
            assert not problems, f"member {i}:\n" + "\n".join(problems)
            types, samples = parse_exposition(body)
            values = {n: v for n, lab, v in samples if not lab}
            assert values["quorum_size"] == 3, i
            if i == leader:
                assert values["learners"] == 2 and values["synced_followers"] == 2, values
    finally:
        ens.stop()
