#!/usr/bin/env bash
# The whole test suite: installs what the tests need (idempotent), builds
# corral, runs the Rust unit/property/integration tests, then the suites
# that drive the real binary with standard clients (kazoo, aiozk, zkCli.sh,
# the C client) and the differential test against ZooKeeper 3.8, then the
# bounded fuzzing run (scripts/fuzz.sh: about a minute per target).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check-imports.sh
cargo build --release --workspace
cargo test --release --workspace
if [[ -x scripts/test-py.sh ]]; then
  CORRAL_BIN="$PWD/target/release/corral" bash scripts/test-py.sh
fi
bash scripts/fuzz.sh
