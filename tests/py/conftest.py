"""Fixtures for the corral python test-suite.

Server selection: env ZK_TARGET=corral|ref (default corral) or --zk-target.
  corral : CORRAL_BIN (default target/release/corral) run as `corral <zoo.cfg>`
  ref    : Debian ZooKeeper 3.8 (ZooKeeperServerMain, AdminServer disabled)

A missing tool/binary makes tests FAIL (error), never skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zkserver import REPO, ZKServer, ToolMissing  # noqa: E402

TARGETS = ("corral", "ref")


def pytest_addoption(parser):
    parser.addoption("--zk-target", default=None, choices=TARGETS,
                     help="server under test (default: $ZK_TARGET or corral)")


def _target(config) -> str:
    t = config.getoption("--zk-target") or os.environ.get("ZK_TARGET", "corral")
    if t not in TARGETS:
        raise pytest.UsageError(f"ZK_TARGET must be one of {TARGETS}, got {t!r}")
    return t


def pytest_configure(config):
    config._zk_target = _target(config)


def pytest_report_header(config):
    return f"zk target: {config._zk_target}"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    node = request.node
    return any(getattr(getattr(node, "rep_" + w, None), "failed", False)
               for w in ("setup", "call"))


def start_server(kind: str, extra_cfg=None, jvm_flags=None) -> ZKServer:
    srv = ZKServer(kind, extra_cfg=extra_cfg, jvm_flags=jvm_flags)
    missing = None
    try:
        srv.start()
    except ToolMissing as e:
        missing = str(e)
    except BaseException:
        srv.stop()
        raise
    if missing is not None:
        srv.stop()
        pytest.fail(f"required tool missing: {missing}", pytrace=False)
    return srv


def _serve(request, kind, extra_cfg=None):
    srv = start_server(kind, extra_cfg)
    try:
        yield srv
    finally:
        if _failed(request):
            print(f"\n----- {srv.kind} server log tail ({srv.log}) -----\n{srv.log_tail()}",
                  file=sys.stderr)
        srv.stop()


@pytest.fixture(scope="session")
def zk_target(pytestconfig) -> str:
    return pytestconfig._zk_target


@pytest.fixture
def corral(request):
    """A fresh corral server (function scope)."""
    yield from _serve(request, "corral")


@pytest.fixture
def refzk(request):
    """A fresh reference ZooKeeper 3.8 server (function scope)."""
    yield from _serve(request, "ref")


@pytest.fixture
def zk_server(request, zk_target):
    """A fresh server of the selected target (function scope)."""
    yield from _serve(request, zk_target)


@pytest.fixture(scope="module")
def zk_server_module(request, zk_target):
    """One server of the selected target shared by a test module."""
    yield from _serve(request, zk_target)


@pytest.fixture
def kazoo_factory():
    """make(server, **kw) -> started KazooClient; all are stopped/closed at teardown."""
    from kazoo.client import KazooClient

    clients = []

    def make(server, timeout=15.0, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=server.hostport, **kw)
        clients.append(c)
        c.start(timeout=timeout)
        return c

    yield make
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def stores(tmp_path_factory) -> Path:
    """Key and trust stores made by tests/tls/make-stores.sh (keytool and
    openssl, as an operator makes them for ZooKeeper; password storepw)."""
    d = tmp_path_factory.mktemp("stores")
    r = subprocess.run(["bash", str(REPO / "tests/tls/make-stores.sh"), str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"make-stores.sh failed:\n{r.stdout}\n{r.stderr}", pytrace=False)
    return d
