"""The live web console (`/` on the AdminServer) in headless Chromium:
load it against a running corral with data, check that the DOM shows the
tree, the node's data, Stat and ACL, the sessions with their watches, the
core map and chart values; save a screenshot under target/test-artifacts/.
Chromium is required (Debian `chromium`, installed by scripts/setup.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from zkserver import REPO, ZKServer

ARTIFACTS = REPO / "target" / "test-artifacts"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    pytest.fail("chromium not found (run scripts/setup.sh)", pytrace=False)


def browse(url: str, *extra: str) -> str:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--virtual-time-budget=5000", "--window-size=1400,1000", *extra, url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.fixture(scope="module")
def server():
    srv = ZKServer("corral", admin=True).start()
    zk = KazooClient(hosts=srv.hostport)
    zk.start()
    try:
        zk.create("/app/config", b"colour=blue", makepath=True)
        zk.create("/app/bin", b"\x00\x01\xff")
        for i in range(20):
            zk.set("/app/config", b"colour=blue")
        zk.get("/app/config", watch=lambda e: None)  # after the sets: one-shot
        yield srv
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def test_console_shows_tree_node_sessions_and_charts(server):
    url = f"http://127.0.0.1:{server.admin_port}/#/app/config"
    dom = browse(url, "--dump-dom")
    # the tree, opened down to the node in the URL
    assert 'data-path="/zookeeper"' in dom and 'data-path="/app"' in dom
    assert 'data-path="/app/config"' in dom and 'data-path="/app/bin"' in dom
    # the node's details
    assert '<span id="node-path">/app/config</span>' in dom
    assert '<pre id="node-data">colour=blue</pre>' in dom
    assert "636f6c6f75723d626c7565" in dom  # hex of the data
    assert "<th>version</th><td>20</td>" in dom
    assert "<th>numChildren</th><td>0</td>" in dom
    assert "world:anyone" in dom and "perms 31" in dom
    # sessions with their watches, the core map, chart values per shard
    assert "/app/config</td></tr>" in dom  # the session's watch
    assert "<td>sequencer</td>" in dom and "<td>log</td>" in dom
    assert 'id="ops-values"><span class="val"' in dom and "shard 0:" in dom and "ops/s" in dom
    assert 'id="fsync-values"><span class="val"' in dom
    # ...and what the charts plot is real: the page's own feed counts the
    # 22 writes above, their fsyncs, and reads on the shards.
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{server.admin_port}/api/stats", timeout=10) as r:
        stats = json.load(r)
    assert sum(s["writes"] for s in stats["shards"]) >= 22, stats
    assert sum(s["reads"] for s in stats["shards"]) >= 1, stats
    assert stats["fsync"]["count"] >= 1 and stats["fsync"]["sum_us"] > 0, stats
    assert stats["log"]["txns"] >= 22, stats
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "console.png"
    if shot.exists():
        shot.unlink()
    browse(url, f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000
