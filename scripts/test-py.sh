#!/usr/bin/env bash
# Runs the python test-suite (tests/py) against corral (default) or the
# reference ZooKeeper:  ZK_TARGET=ref scripts/test-py.sh
# Extra arguments go to pytest, e.g.  scripts/test-py.sh -k differential
# Env: CORRAL_BIN (default target/release/corral), ZK_TARGET (corral|ref),
#      LOAD_GEN_SECONDS (default 30), DIFF_DUMP=<dir> (write differential JSON).
# Exit status: pytest's.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/pytest ]]; then
  echo "test-py: .venv missing -- run scripts/setup.sh first" >&2
  exit 2
fi
export ZK_TARGET="${ZK_TARGET:-corral}"
export PYTHONDONTWRITEBYTECODE=1
# per-test limit from tests/py/pytest.ini (180 s, some tests set their own);
# the outer timeout is a last resort so CI can never hang.
timeout --signal=TERM --kill-after=30 2400 \
  .venv/bin/pytest tests/py -v --durations=10 "$@"
exit $?
