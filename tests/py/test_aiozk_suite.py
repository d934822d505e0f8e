"""Run aiozk's own shipped test suite (from its PyPI sdist, unmodified) against
the server under test.  scripts/setup.sh unpacks it to .cache/aiozk-<ver>/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from zkserver import die_with_parent

REPO = Path(__file__).resolve().parents[2]
AIOZK_VERSION = "0.32.0"
SUITE = REPO / ".cache" / f"aiozk-{AIOZK_VERSION}"
# number of tests aiozk 0.32.0 ships (all must run and pass)
EXPECTED_MIN_TESTS = 85


@pytest.mark.timeout(420)
def test_aiozk_shipped_suite(zk_server, tmp_path):
    conftest = SUITE / "aiozk" / "test" / "conftest.py"
    if not conftest.exists():
        pytest.fail(f"aiozk test suite not found at {SUITE} -- run scripts/setup.sh", pytrace=False)
    junit = tmp_path / "aiozk-junit.xml"
    env = dict(os.environ, ZK_HOST=zk_server.host, ZK_PORT=str(zk_server.port),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "--no-cov",              # the sdist's pytest.ini adds --cov; coverage is irrelevant here
           "-o", "timeout=60",      # per-test guard (pytest-timeout), so a hang cannot eat the budget
           f"--junitxml={junit}", "aiozk/test"]
    try:
        proc = subprocess.run(cmd, cwd=SUITE, env=env, capture_output=True, text=True, timeout=400,
                              preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"aiozk suite timed out\n{(e.stdout or '')[-4000:]}")
    out = proc.stdout + proc.stderr
    assert junit.exists(), f"aiozk suite produced no report (rc={proc.returncode}):\n{out[-6000:]}"
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    tests = int(suite.get("tests"))
    bad = []
    for case in suite.iter("testcase"):
        for kind in ("failure", "error", "skipped"):
            if case.find(kind) is not None:
                bad.append(f"{kind.upper():8} {case.get('classname')}::{case.get('name')}")
    summary = "\n".join(bad)
    assert proc.returncode == 0 and not bad, (
        f"aiozk suite: rc={proc.returncode}, {len(bad)} not passed of {tests}:\n{summary}\n"
        f"----- output tail -----\n{out[-6000:]}")
    assert tests >= EXPECTED_MIN_TESTS, f"only {tests} aiozk tests collected"
