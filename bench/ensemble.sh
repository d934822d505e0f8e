#!/usr/bin/env bash
# Side-by-side ensemble benchmark: a 3-server ZooKeeper 3.8 ensemble and a
# 3-server corral ensemble on this host, one after the other, each member
# with its own dataDir on the same disk. The sessions are spread over the
# three servers; server CPU per op is summed over the three processes.
#
#   bash bench/ensemble.sh                     # get and set, 10 s each
#   DURATION=5 SCENARIOS="set" bash bench/ensemble.sh
#   WARM_RUNS=0 bash bench/ensemble.sh         # the old cold-JVM method
#   CORRAL_BASE=/path/to/old/corral bash bench/ensemble.sh   # A/B: adds an
#                                   # ensemble of that build to each scenario
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-"get set"}
SESSIONS=${SESSIONS:-32}
OUTSTANDING=${OUTSTANDING:-8}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/corral-ens-bench.XXXXXX)}

bash scripts/setup.sh >/dev/null
cargo build --release -p corral -p corral-bench >/dev/null 2>&1
CORRAL=$PWD/target/release/corral
ZKBENCH=$PWD/target/release/zkbench
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Starts a 3-member ensemble of `kind`; sets ADDRS and EPIDS.
start_ensemble() {
  local kind=$1 i
  local -a cp qp ep
  for i in 1 2 3; do cp[$i]=$(free_port); qp[$i]=$(free_port); ep[$i]=$(free_port); done
  ADDRS="" EPIDS=""
  for i in 1 2 3; do
    local dir; dir=$(mktemp -d "$BENCH_DIR/$kind$i.XXXX")
    mkdir -p "$dir/data"; echo "$i" >"$dir/data/myid"
    {
      echo "tickTime=2000"; echo "initLimit=10"; echo "syncLimit=5"
      echo "dataDir=$dir/data"; echo "clientPort=${cp[$i]}"; echo "clientPortAddress=127.0.0.1"
      echo "maxClientCnxns=0"; echo "admin.enableServer=false"; echo "4lw.commands.whitelist=*"
      for j in 1 2 3; do echo "server.$j=127.0.0.1:${qp[$j]}:${ep[$j]}:participant;127.0.0.1:${cp[$j]}"; done
    } >"$dir/zoo.cfg"
    if [[ $kind == base ]]; then
      "$CORRAL_BASE" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
    elif [[ $kind == zk ]]; then
      java -Xmx1g -Dzookeeper.admin.enableServer=false \
        -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >"$dir/log" 2>&1 &
    else
      "$CORRAL" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
    fi
    PIDS+=("$!")
    ADDRS+="${ADDRS:+,}127.0.0.1:${cp[$i]}"; EPIDS+="${EPIDS:+,}$!"
  done
  # Serving: every member answers srvr with a mode.
  for _ in $(seq 1 600); do
    local ok=0
    for i in 1 2 3; do
      if python3 -c "import socket,sys
s=socket.create_connection(('127.0.0.1',${cp[$i]}),1);s.sendall(b'srvr');d=b''
while True:
  c=s.recv(4096)
  if not c: break
  d+=c
sys.exit(0 if b'Mode: leader' in d or b'Mode: follower' in d else 1)" 2>/dev/null; then ok=$((ok + 1)); fi
    done
    [[ $ok == 3 ]] && return 0
    sleep 0.1
  done
  echo "ensemble $kind did not start" >&2; exit 1
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
WARM_RUNS=${WARM_RUNS:-1}
echo "settings: 3 servers each, sessions=$SESSIONS outstanding=$OUTSTANDING duration=${DURATION}s warm_runs=$WARM_RUNS"
CORRAL_BASE=${CORRAL_BASE:-}
KINDS="zk corral"
if [[ -n $CORRAL_BASE ]]; then
  [[ -x $CORRAL_BASE ]] || { echo "CORRAL_BASE=$CORRAL_BASE is not an executable" >&2; exit 1; }
  KINDS="zk corral base"
fi
for sc in $SCENARIOS; do
  for kind in $KINDS; do
    start_ensemble "$kind"
    # As bench/run.sh: WARM_RUNS full unmeasured runs first (a warm JIT).
    for _ in $(seq 1 "$WARM_RUNS"); do
      "$ZKBENCH" --addr "$ADDRS" --scenario "$sc" --sessions "$SESSIONS" \
        --outstanding "$OUTSTANDING" --duration "$DURATION" >/dev/null
    done
    line=$("$ZKBENCH" --addr "$ADDRS" --scenario "$sc" --sessions "$SESSIONS" \
      --outstanding "$OUTSTANDING" --duration "$DURATION" --server-pid "$EPIDS" | tail -1)
    echo "$sc $kind: $line"
    cleanup; PIDS=()
    sleep 1
  done
done
