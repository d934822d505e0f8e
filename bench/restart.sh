#!/usr/bin/env bash
# Restart time with a large tree, side by side: ZooKeeper 3.8 and corral
# start on copies of one dataDir (a snapshot of N znodes plus the txn log
# that built them), and the time from exec to the first answered `srvr`
# is measured, with the RSS once serving.
#
#   bash bench/restart.sh                 # 1,000,000 znodes of 100 B
#   KEYS=200000 ROUNDS=3 bash bench/restart.sh
#   FILL=clients bash bench/restart.sh    # issue 17's "fill through clients"
#
# The dataDir is made once by corral (zkbench's `tree` scenario, then a
# clean restart, which snapshots after loading as ZooKeeper does); both
# servers read ZooKeeper's format, so each gets an identical copy.
# FILL=clients makes it as a client fill leaves it instead: snapCount at
# ZooKeeper's default (100000), and the filling server killed with -9 (no
# clean restart), so a restart loads the last snapshot taken during the
# fill and replays the log records after it.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-1000000}
ROUNDS=${ROUNDS:-2}
FILL=${FILL:-snapshot}
case $FILL in
  snapshot) SNAPCOUNT=100000000 ;;
  clients) SNAPCOUNT=100000 ;;
  *) echo "FILL must be snapshot or clients, not $FILL" >&2; exit 2 ;;
esac
WORK=${WORK:-$(mktemp -d /tmp/corral-restart.XXXXXX)}

bash scripts/setup.sh >/dev/null
cargo build --release -p corral -p corral-bench >/dev/null 2>&1
CORRAL=$PWD/target/release/corral
ZKBENCH=$PWD/target/release/zkbench
SERVING=$PWD/bench/serving.py
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
PID=
trap '[[ -n $PID ]] && kill -9 $PID 2>/dev/null || true' EXIT

cfg() { # dataDir -> config file
  cat >"$1.cfg" <<CFG
tickTime=2000
dataDir=$1
clientPort=$PORT
clientPortAddress=127.0.0.1
snapCount=$SNAPCOUNT
admin.enableServer=false
CFG
  echo "$1.cfg"
}

serving() { python3 "$SERVING" "$PORT" 2>/dev/null; }

start() { # kind cfg -> prints "seconds-until-serving pid"
  local t0 t1
  t0=$(date +%s.%N)
  if [[ $1 == zk ]]; then
    java -Xmx2g -Dzookeeper.admin.enableServer=false \
      -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
      org.apache.zookeeper.server.ZooKeeperServerMain "$2" >"$2.log" 2>&1 &
  else
    "$CORRAL" "$2" >"$2.log" 2>&1 &
  fi
  PID=$!
  until serving; do
    kill -0 "$PID" 2>/dev/null || { echo "server died: $2.log" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  echo "$(python3 -c "print(round($t1 - $t0, 3))") $PID"
}

stop() { kill "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; PID=; }

# The dataDir: corral fills it, then restarts once so it holds a snapshot.
BASE=$WORK/base
mkdir -p "$BASE"
c=$(cfg "$BASE")
read -r _ PID < <(start corral "$c")
echo "filling $KEYS znodes..." >&2
"$ZKBENCH" --addr "127.0.0.1:$PORT" --scenario tree --keys "$KEYS" --sessions 8 --duration 1 >/dev/null
if [[ $FILL == clients ]]; then
  kill -9 "$PID"; while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; PID=
else
  stop
  read -r _ PID < <(start corral "$c")
  sleep 5 # the snapshot after loading is written in the background
  stop
fi
du -sh "$BASE/version-2" >&2

ls "$BASE/version-2" >&2
echo "znodes=$KEYS fill=$FILL snapCount=$SNAPCOUNT machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
printf '%-7s %-6s %10s %10s\n' round server seconds rss_MB
for r in $(seq 1 "$ROUNDS"); do
  for kind in zk corral; do
    rm -rf "$WORK/run"
    cp -a "$BASE" "$WORK/run"
    c=$(cfg "$WORK/run")
    read -r s PID < <(start "$kind" "$c")
    rss=$(awk '/VmRSS/{print int($2/1024)}' "/proc/$PID/status")
    stop
    printf '%-7s %-6s %10.2f %10s\n' "$r" "$kind" "$s" "$rss"
  done
done
rm -rf "$WORK"
