#!/usr/bin/env bash
# perf stat of a running corral during a zkbench scenario: cycles,
# instructions (where the CPU exposes them), task-clock, context switches,
# migrations, page faults, each divided by the ops zkbench counted.
#
#   bash perf/stat.sh                        # get and set, 5 s each
#   SCENARIOS=get DURATION=10 bash perf/stat.sh
#   CORRAL_BIN=... ZKBENCH_BIN=... bash perf/stat.sh   # prebuilt binaries
#
# SESSIONS / OUTSTANDING / KEYS / VALUE / FORCE_SYNC as for bench/run.sh.
# Results: a table on stdout, raw CSVs in perf/out/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_pkg perf linux-perf
build_bins
SCENARIOS=${SCENARIOS:-"get set"}
DURATION=${DURATION:-5}
EVENTS=${EVENTS:-cycles,instructions,task-clock,context-switches,cpu-migrations,page-faults}
trap stop_corral EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: sessions=${SESSIONS:-32} outstanding=${OUTSTANDING:-8} value=${VALUE:-100}B keys=${KEYS:-1000} duration=${DURATION}s forceSync=${FORCE_SYNC:-yes}"
rows=()
for sc in $SCENARIOS; do
  start_corral
  # Create the keys first, outside the counted window.
  zkbench_json "$sc" 0.2 --warmup 0 >/dev/null
  csv=$OUT/stat-$sc.csv
  perf stat -x, -o "$csv" -e "$EVENTS" -p "$CORRAL_PID" -- sleep "$DURATION" &
  perf_pid=$!
  json=$(zkbench_json "$sc" "$DURATION" --no-preload --warmup 0)
  wait "$perf_pid" || true
  rows+=("$sc|$json|$csv")
  stop_corral
done
python3 - "$DURATION" "${rows[@]}" <<'PY'
import json, sys
dur = float(sys.argv[1])
def counters(path):
    out = {}
    for line in open(path):
        parts = line.strip().split(",")
        if len(parts) < 3 or line.startswith("#"):
            continue
        value, event = parts[0], parts[2]
        event = event.split(":")[0]
        try:
            out[event] = float(value)
        except ValueError:
            out[event] = None  # <not supported> / <not counted>
    return out
print(f"{'scenario':8} {'ops/s':>9} {'p50/p99 us':>13} {'cpu us/op':>9} {'instr/op':>9} {'cycles/op':>9} {'IPC':>5} {'cs/op':>7} {'migr/op':>8} {'faults/op':>9}")
for arg in sys.argv[2:]:
    sc, js, path = arg.split("|")
    j = json.loads(js)
    c = counters(path)
    ops = j["ops_per_s"] * dur
    per = lambda k, scale=1.0: (c[k] * scale / ops) if c.get(k) is not None and ops else float("nan")
    ins, cyc = per("instructions"), per("cycles")
    ipc = ins / cyc if cyc == cyc and cyc else float("nan")
    f = lambda v, w, p=0: f"{v:>{w}.{p}f}" if v == v else f"{'n/a':>{w}}"
    print(f"{sc:8} {j['ops_per_s']:>9.0f} {str(j['p50_us'])+'/'+str(j['p99_us']):>13} "
          f"{f(per('task-clock', 1e3), 9, 2)} {f(ins, 9)} {f(cyc, 9)} {f(ipc, 5, 2)} "
          f"{f(per('context-switches'), 7, 3)} {f(per('cpu-migrations'), 8, 4)} {f(per('page-faults'), 9, 4)}")
if any(counters(a.split("|")[2]).get("instructions") is None for a in sys.argv[2:]):
    print("(instructions/cycles n/a: this CPU or VM exposes no hardware counters to perf;"
          " perf/callgrind.sh counts instructions instead)")
PY
