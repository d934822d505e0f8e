#!/usr/bin/env bash
# AddressSanitizer over corral's unsafe blocks (see docs/fuzzing.md):
#
#  * src/storage/filemap.rs (the read-only mmap of snapshots and txn logs): the unit
#    tests that map files, including a file cut after its mapping was
#    dropped and the recovery after a follower's run-time TRUNC
#    (filemap::tests, storage::tests, snapshot::tests);
#  * src/server/shard.rs (the listener fd taken over from shards::listen):
#    the corral binary itself, built with ASan, serving the integration
#    tests of tests/fourlw.rs and tests/client.rs (CORRAL_TEST_BIN).
#
# Miri is not used: it needs a nightly toolchain with the miri component,
# which this machine's one toolchain cannot fetch, and it cannot run
# mmap/io_uring code anyway. ASan needs `-Zsanitizer`, which the stable
# compiler accepts with RUSTC_BOOTSTRAP=1; its runtime ships with the
# stable rust-std. Builds go to target/asan (sanitized code must not mix
# with the normal build). Exit status non-zero on any ASan report or test
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
export RUSTDOCFLAGS="$RUSTFLAGS"
# Leaks are reported too; a report fails the test binary.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
ARGS=(--release --target "$TRIPLE" --target-dir target/asan)

log() { printf '[sanitize] %s\n' "$*"; }

log "unit tests that reach src/storage/filemap.rs, under ASan"
cargo test "${ARGS[@]}" --lib -- filemap:: storage:: snapshot::

log "the corral binary under ASan (src/server/shard.rs), driven by tests/fourlw.rs and tests/client.rs"
cargo build "${ARGS[@]}" --bin corral
BIN="$PWD/target/asan/$TRIPLE/release/corral"
# The server's own ASan reports go to files: a test sees only the socket.
rm -rf target/asan/reports && mkdir -p target/asan/reports
ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$PWD/target/asan/reports/corral" \
  CORRAL_TEST_BIN="$BIN" cargo test "${ARGS[@]}" --test fourlw --test client
if compgen -G 'target/asan/reports/corral*' >/dev/null; then
  log "ASan reported on the server:"
  cat target/asan/reports/corral*
  exit 1
fi
log "no ASan report"
