#!/usr/bin/env bash
# Coverage-guided fuzzing of corral's decoders (AFL++ through cargo-afl, on
# the stable toolchain; see docs/fuzzing.md). Builds the targets in fuzz/,
# runs each for a bounded time from the committed seed corpus
# (fuzz/corpus/<target>/), and fails if any run found a crash (a panic, an
# abort, or a heap over the bound of fuzz/src/lib.rs) or a hang.
#
#   FUZZ_SECONDS  seconds of fuzzing per target (default 60)
#   FUZZ_JOBS     targets fuzzed at once (default 2: one per core here)
#   FUZZ_TARGETS  which targets (default: all of them)
#   FUZZ_OUT      where AFL++ writes its queues and findings (default fuzz/out)
#   FUZZ_TIMEOUT_MS  one execution longer than this is a hang (default 2000)
#   FUZZ_MEM_MB   AFL++'s address-space limit per execution (default 1024)
#
# Needs cargo-afl (scripts/setup.sh installs it). Exit status: 0 when every
# target ran and found nothing; 1 otherwise, with each reproducer's path
# and the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(jute request txnlog snapshot election zab admin_http fourlw)
read -r -a TARGETS <<<"${FUZZ_TARGETS:-${ALL_TARGETS[*]}}"
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
OUT=${FUZZ_OUT:-fuzz/out}
TIMEOUT_MS=${FUZZ_TIMEOUT_MS:-2000}
MEM_MB=${FUZZ_MEM_MB:-1024}
MAX_LEN=65536 # fuzz/src/lib.rs MAX_INPUT
BIN=fuzz/target/release

log() { printf '[fuzz] %s\n' "$*"; }

if ! cargo afl --version >/dev/null 2>&1; then
  echo "[fuzz] cargo-afl is missing: run scripts/setup.sh" >&2
  exit 1
fi

log "building the targets (cargo afl build --release)"
cargo afl build --release --manifest-path fuzz/Cargo.toml --bins

# The allocation bound must bite: with a bound of 0 MiB, a seed that
# allocates has to abort. Otherwise a broken bound would pass silently.
if bash -c 'CORRAL_FUZZ_ALLOC_MB=0 "$1" <"$2"; exit $?' _ "$BIN/jute" fuzz/corpus/jute/rec3 >/dev/null 2>&1; then
  echo "[fuzz] the allocation bound did not abort the jute target" >&2
  exit 1
fi

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
  AFL_NO_AFFINITY=1 AFL_SKIP_CRASHES=0 AFL_QUIET=1
mkdir -p "$OUT"

run_one() {
  local t=$1
  rm -rf "${OUT:?}/$t"
  cargo afl fuzz -i "fuzz/corpus/$t" -o "$OUT/$t" -V "$SECONDS_EACH" \
    -t "$TIMEOUT_MS" -m "$MEM_MB" -G "$MAX_LEN" -- "$BIN/$t" >"$OUT/$t.log" 2>&1
}

log "fuzzing ${TARGETS[*]} for ${SECONDS_EACH}s each, ${JOBS} at a time"
pids=()
declare -A status=()
for t in "${TARGETS[@]}"; do
  [[ -d fuzz/corpus/$t && -x $BIN/$t ]] || { echo "[fuzz] unknown target $t" >&2; exit 1; }
  while (($(jobs -rp | wc -l) >= JOBS)); do
    wait -n || true
  done
  run_one "$t" &
  pids+=("$t:$!")
done
for p in "${pids[@]}"; do
  if wait "${p#*:}"; then status[${p%%:*}]=0; else status[${p%%:*}]=$?; fi
done

fstat() { sed -n "s/^$2 *: *//p" "$OUT/$1/default/fuzzer_stats" 2>/dev/null; }

failed=0
summary="$OUT/summary.txt"
printf '%-11s %12s %10s %10s %8s %6s\n' target execs_done execs/s edges bitmap crashes+hangs | tee "$summary"
for t in "${TARGETS[@]}"; do
  if [[ ${status[$t]} -ne 0 || ! -f $OUT/$t/default/fuzzer_stats ]]; then
    echo "[fuzz] $t: afl-fuzz failed (exit ${status[$t]}); its output:" >&2
    tail -20 "$OUT/$t.log" >&2
    failed=1
    continue
  fi
  crashes=$(fstat "$t" saved_crashes)
  hangs=$(fstat "$t" saved_hangs)
  printf '%-11s %12s %10s %10s %8s %6s\n' "$t" "$(fstat "$t" execs_done)" "$(fstat "$t" execs_per_sec)" \
    "$(fstat "$t" edges_found)" "$(fstat "$t" bitmap_cvg)" "$((crashes + hangs))" | tee -a "$summary"
  if ((crashes + hangs > 0)); then
    failed=1
    for f in "$OUT/$t"/default/crashes/id:* "$OUT/$t"/default/hangs/id:*; do
      [[ -e $f ]] || continue
      echo "[fuzz] $t found: $f" >&2
      echo "[fuzz]   replay: $BIN/$t < '$f'" >&2
    done
  fi
done
if ((failed)); then
  echo "[fuzz] FAILED: see the reproducers above (and $OUT/<target>.log)" >&2
  exit 1
fi
log "no crash, hang or allocation over the bound"
