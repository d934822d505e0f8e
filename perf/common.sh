# Shared by the perf/ scripts: tools, binaries, and a corral on a temp dataDir.
# Source it; it sets CORRAL, ZKBENCH, REQPATH, OUT and defines start_corral.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVING=$ROOT/bench/serving.py
OUT=${OUT:-$ROOT/perf/out}
mkdir -p "$OUT"

# need_pkg <command> <debian package>: installs the package if the command
# is missing (idempotent); fails with a clear message when it cannot.
need_pkg() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "perf: '$1' is missing; install Debian's '$2' (as root: apt-get install -y $2)" >&2
    exit 1
  fi
  echo "perf: installing $2 for '$1'" >&2
  (apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null 2>&1; }) || {
    echo "perf: could not install $2" >&2
    exit 1
  }
}

# Release binaries: prebuilt ones through CORRAL_BIN / ZKBENCH_BIN /
# REQPATH_BIN, else built here (release profile keeps symbols: debug = 1).
build_bins() {
  if [[ -z ${CORRAL_BIN:-} || -z ${ZKBENCH_BIN:-} || -z ${REQPATH_BIN:-} ]]; then
    (cd "$ROOT" && cargo build --release -p corral -p corral-bench >/dev/null 2>&1) || {
      echo "perf: cargo build --release failed" >&2
      exit 1
    }
  fi
  CORRAL=${CORRAL_BIN:-$ROOT/target/release/corral}
  ZKBENCH=${ZKBENCH_BIN:-$ROOT/target/release/zkbench}
  REQPATH=${REQPATH_BIN:-$ROOT/target/release/reqpath}
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

CORRAL_PID=
stop_corral() {
  if [[ -n $CORRAL_PID ]]; then
    kill -9 "$CORRAL_PID" 2>/dev/null || true
    wait "$CORRAL_PID" 2>/dev/null || true
    CORRAL_PID=
  fi
}

# start_corral [extra corral args...]: corral on a fresh temp dataDir and a
# free port; sets CORRAL_PID and PORT once it serves (`srvr` answers).
start_corral() {
  PORT=$(free_port)
  local dir
  dir=$(mktemp -d /tmp/corral-perf.XXXXXX)
  mkdir -p "$dir/data"
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=${FORCE_SYNC:-yes}
admin.enableServer=false
4lw.commands.whitelist=*
CFG
  RUST_LOG=warn ${CORRAL_PREFIX:-} "$CORRAL" "$@" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
  CORRAL_PID=$!
  for _ in $(seq 1 300); do
    if python3 "$SERVING" "$PORT" 2>/dev/null
    then return 0; fi
    sleep 0.1
  done
  echo "perf: corral did not start; log:" >&2
  cat "$dir/log" >&2
  exit 1
}

# zkbench_json <scenario> <seconds> [extra zkbench args]: one JSON line.
zkbench_json() {
  local sc=$1 secs=$2
  shift 2
  ${LOADGEN_PREFIX:-} "$ZKBENCH" --addr "127.0.0.1:$PORT" --scenario "$sc" \
    --sessions "${SESSIONS:-32}" --outstanding "${OUTSTANDING:-8}" \
    --value-size "${VALUE:-100}" --keys "${KEYS:-1000}" --duration "$secs" \
    --server-pid "$CORRAL_PID" --json "$@"
}

json_field() { python3 -c 'import json,sys;print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
