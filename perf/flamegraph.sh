#!/usr/bin/env bash
# A CPU flamegraph of a running corral during a zkbench scenario:
# `perf record --call-graph dwarf` on the corral process, folded and drawn
# with inferno (installed once into .cache/tools, which git ignores), plus
# the top symbols by self time as text.
#
#   bash perf/flamegraph.sh                  # scenario get, 5 s
#   SCENARIO=set DURATION=5 bash perf/flamegraph.sh
#
# Output: perf/out/flame-<scenario>.svg and perf/out/top-<scenario>.txt.
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_pkg perf linux-perf
build_bins
SCENARIO=${SCENARIO:-get}
DURATION=${DURATION:-5}
FREQ=${FREQ:-499}
TOOLS=$ROOT/.cache/tools
if [[ ! -x $TOOLS/bin/inferno-flamegraph ]]; then
  echo "perf: installing inferno into $TOOLS (once)" >&2
  cargo install --locked --quiet inferno --root "$TOOLS" >&2 || echo "perf: inferno did not install; text report only" >&2
fi
trap stop_corral EXIT

# Hardware cycles where the CPU has them, else the cpu-clock timer (VMs).
event=cycles
if ! perf stat -e cycles true 2>&1 | grep -q '[0-9] *cycles'; then event=cpu-clock; fi

start_corral
zkbench_json "$SCENARIO" 0.2 --warmup 0 >/dev/null
data=$OUT/perf-$SCENARIO.data
perf record -q -e "$event" -F "$FREQ" --call-graph dwarf,16384 -p "$CORRAL_PID" -o "$data" -- sleep "$DURATION" 2>/dev/null &
rec=$!
json=$(zkbench_json "$SCENARIO" "$DURATION" --no-preload --warmup 0)
wait "$rec" || true
stop_corral
echo "load: $json"

top=$OUT/top-$SCENARIO.txt
{
  echo "# corral, scenario $SCENARIO, ${DURATION}s, event $event; zkbench: $json"
  echo "## self time, by symbol"
  perf report -i "$data" --no-children --stdio --sort symbol --percent-limit 0.7 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' || true
  echo "## self time, by thread"
  perf report -i "$data" --no-children --stdio --sort comm -g none 2>/dev/null | grep -v '^#' | grep -v '^$' || true
  echo "## self time, by binary"
  perf report -i "$data" --no-children --stdio --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' || true
} >"$top"
sed -n '1,40p' "$top"
if [[ -x $TOOLS/bin/inferno-flamegraph ]]; then
  svg=$OUT/flame-$SCENARIO.svg
  perf script -i "$data" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" >"$OUT/folded-$SCENARIO.txt"
  "$TOOLS/bin/inferno-flamegraph" --title "corral $SCENARIO ($event)" <"$OUT/folded-$SCENARIO.txt" >"$svg"
  echo "## inclusive, by part (perf/breakdown.py)"
  python3 "$ROOT/perf/breakdown.py" "$OUT/folded-$SCENARIO.txt" | tee -a "$top"
  echo "flamegraph: $svg"
fi
