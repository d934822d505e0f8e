#!/usr/bin/env bash
# getData throughput of corral alone with 1, 2, 4, 8 and 12 shards.
#
#   CORRAL_BIN=target/release/corral ZKBENCH_BIN=target/release/zkbench \
#     SHARDS="1 2 4 8 12" DURATION=5 bash bench/scaling.sh
#
# For N shards the core map is: shards on CPUs 0..N-1, then the sequencer
# and the log core on the next CPUs (sharing one, or the last shard's CPU,
# when the machine is short of CPUs). Every CPU left over runs one zkbench
# process pinned with taskset (SESSIONS split between them); when none is
# left the load generator runs unpinned and the row says "shared". A shard
# count larger than the machine's CPUs is skipped. Needs no Java: corral
# only. Without CORRAL_BIN/ZKBENCH_BIN it builds them (release).
#
# Columns: ops/s summed over the load generators; p50/p99 of the first
# load generator; the server's CPU (user+sys, from /proc) per op and in
# cores busy. If the load-generator CPUs are all busy, the row measures
# the load generator, not corral: compare "corral cores" with the shards.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARDS=${SHARDS:-"1 2 4 8 12"}
DURATION=${DURATION:-5}
SESSIONS=${SESSIONS:-64}
OUTSTANDING=${OUTSTANDING:-8}
KEYS=${KEYS:-1000}
VALUE=${VALUE:-100}
CPUS=$(nproc)
if [[ -z ${CORRAL_BIN:-} || -z ${ZKBENCH_BIN:-} ]]; then
  cargo build --release -p corral -p corral-bench >/dev/null 2>&1
fi
CORRAL=${CORRAL_BIN:-$PWD/target/release/corral}
ZKBENCH=${ZKBENCH_BIN:-$PWD/target/release/zkbench}
command -v taskset >/dev/null || { echo "scaling: taskset (util-linux) is missing" >&2; exit 1; }
WORK=$(mktemp -d /tmp/corral-scaling.XXXXXX)
PID=
cleanup() { [[ -n $PID ]] && kill -9 "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "machine: $CPUS CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r), memlock $(ulimit -l), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "settings: getData, sessions=$SESSIONS outstanding=$OUTSTANDING value=${VALUE}B keys=$KEYS duration=${DURATION}s"
printf '%-6s %-26s %-10s %10s %14s %11s %12s\n' shards "core map (shards/seq/log)" loadgen "ops/s" "p50/p99 us" "cpu us/op" "corral cores"
for n in $SHARDS; do
  if (( n > CPUS )); then
    printf '%-6s skipped: the machine has %s CPUs\n' "$n" "$CPUS"
    continue
  fi
  if (( n + 2 < CPUS )); then seq=$n log=$((n + 1)) free=$((n + 2))
  elif (( n + 1 < CPUS )); then seq=$n log=$n free=$((n + 1))
  else seq=$((n - 1)) log=$((n - 1)) free=$n
  fi
  gens=()
  for ((c = free; c < CPUS; c++)); do gens+=("$c"); done
  map=$WORK/map-$n.toml
  printf 'shards = [%s]\nsequencer = %s\nlog = %s\n' "$(seq -s, 0 $((n - 1)))" "$seq" "$log" >"$map"
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  dir=$WORK/s$n
  mkdir -p "$dir/data"
  printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nadmin.enableServer=false\n4lw.commands.whitelist=*\n' \
    "$dir/data" "$port" >"$dir/zoo.cfg"
  RUST_LOG=warn "$CORRAL" --core-map "$map" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
  PID=$!
  up=
  for _ in $(seq 1 200); do
    python3 -c 'import socket,sys;s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.5);s.sendall(b"ruok");sys.exit(0 if s.recv(4)==b"imok" else 1)' "$port" 2>/dev/null && { up=1; break; }
    sleep 0.1
  done
  if [[ -z $up ]]; then
    echo "scaling: corral with $n shards did not answer ruok in 20 s; its log:" >&2
    cat "$dir/log" >&2
    exit 1
  fi
  common=(--addr "127.0.0.1:$port" --scenario get --outstanding "$OUTSTANDING" --value-size "$VALUE" --keys "$KEYS" --json)
  "$ZKBENCH" "${common[@]}" --sessions 1 --duration 0.2 --warmup 0 >/dev/null # creates the keys
  ng=${#gens[@]}
  procs=$(( ng > 0 ? ng : 1 ))
  per=$(( SESSIONS / procs > 0 ? SESSIONS / procs : 1 ))
  t0=$(cpu_ticks "$PID")
  s0=$(date +%s.%N)
  outs=()
  for ((i = 0; i < procs; i++)); do
    pin=()
    (( ng > 0 )) && pin=(taskset -c "${gens[$i]}")
    "${pin[@]}" "$ZKBENCH" "${common[@]}" --sessions "$per" --no-preload --warmup 0.5 --duration "$DURATION" >"$dir/gen$i.json" &
    outs+=("$dir/gen$i.json")
  done
  wait $(jobs -p | grep -v "^$PID$") 2>/dev/null || true
  t1=$(cpu_ticks "$PID")
  s1=$(date +%s.%N)
  kill -9 "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
  loadgen=$([[ $ng -gt 0 ]] && echo "${gens[0]}-${gens[$((ng - 1))]}" || echo shared)
  python3 - "$n" "0-$((n - 1))/$seq/$log" "$loadgen" "$((t1 - t0))" "$(getconf CLK_TCK)" "$s0" "$s1" "$DURATION" "${outs[@]}" <<'PY'
import json, sys
n, cmap, gen, ticks, hz, s0, s1, dur = sys.argv[1:9]
rows = [json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[9:]]
ops = sum(r["ops_per_s"] for r in rows)
cpu_s = int(ticks) / int(hz)
wall = float(s1) - float(s0)
total_ops = ops * float(dur)  # ops in the measured windows
# CPU was read over the whole run (warm-up included): scale to the window.
cpu_per_op = cpu_s * (float(dur) / wall) * 1e6 / total_ops if total_ops else float("nan")
print(f"{n:<6} {cmap:<26} {gen:<10} {ops:>10.0f} {str(rows[0]['p50_us'])+'/'+str(rows[0]['p99_us']):>14} {cpu_per_op:>11.2f} {cpu_s / wall:>12.2f}")
PY
done
