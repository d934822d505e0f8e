#!/usr/bin/env bash
# Side-by-side benchmark: Debian's ZooKeeper 3.8 and corral, same machine,
# same dataDir disk, same settings, one fresh server per run, alternating.
#
#   bash bench/run.sh                       # default scenarios, 10 s each
#   DURATION=5 SCENARIOS="get set" bash bench/run.sh
#
# Scenarios: zkbench's (get set mix lock watch fanout watchmany churn big
# tree), plus get8x1 / set8x1: getData / setData at 8 sessions x 1
# outstanding (p50 at low load). SESSIONS/OUTSTANDING/VALUE/KEYS apply to
# the others, except: fanout has FANOUT (default 1000) watchers of one
# node, re-registering, and one writer that sets the node once every
# watcher is armed again (ops: events delivered; p50/p99: the write to the
# last watcher's event); watchmany has 32 sessions each watching all of
# KEYS nodes, and one writer with OUTSTANDING setData in flight (ops:
# events delivered; p50/p99: the writes). The old `watch` row (one setter
# at 1 kHz) is bound by its setter's rate and measures nothing; it is no
# longer a default.
#
# Prints one table: throughput, p50/p99 latency, server CPU per op, RSS,
# and the corral/ZooKeeper ratios.
#
# TLS (issue 15): TLS=1 runs every scenario over TLS instead: both servers
# get a secureClientPort with the same stores (tests/tls/make-stores.sh:
# PKCS12 key and trust stores, EC P-256, ssl.clientAuth=need, ZooKeeper's
# default TLSv1.2), ZooKeeper with the Netty connection factory it needs
# for TLS, and zkbench connects with a client certificate. TLS=both runs
# each scenario in plain text and then over TLS in the same invocation,
# (rows `get` and `get/tls`), and adds a table of what TLS costs each
# server. ZK_NETTY=1 puts ZooKeeper's plain rows on Netty too (by default
# they use its NIO factory, as in the earlier runs).
#
# Fairness (issue 17): every server gets WARM_RUNS (default 1) full,
# unmeasured runs of the same scenario before the measured one, on the same
# process, so ZooKeeper's JIT has compiled its hot paths (a fresh JVM
# measured at once costs it about twice the CPU per op). WARM_RUNS=0 gives
# the old cold-JVM method. CEILING=1 (the default) adds bench/src/ceiling.rs
# to the get/set rows: a canned-reply server on corral's own substrate that
# parses each frame and writes a fixed answer, the CPU floor of this
# machine's network stack; a second table gives corral's CPU per op as a
# multiple of it. zkbench's own CPU per op ("gen") is printed beside.
#
# A/B against an older build: CORRAL_BASE=/path/to/old/corral adds that
# binary to every scenario in the same run (the three servers alternate),
# and a second table compares this build with it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-"get set mix lock fanout watchmany churn get8x1 set8x1"}
FANOUT=${FANOUT:-1000}
SESSIONS=${SESSIONS:-32}
OUTSTANDING=${OUTSTANDING:-8}
VALUE=${VALUE:-100}
KEYS=${KEYS:-1000}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/corral-bench.XXXXXX)}
FORCE_SYNC=${FORCE_SYNC:-yes}
TLS=${TLS:-0}
ZK_NETTY=${ZK_NETTY:-0}
WARM_RUNS=${WARM_RUNS:-1}
CEILING=${CEILING:-1}
case $TLS in
  0) MODES=plain ;;
  1) MODES=tls ;;
  both) MODES="plain tls" ;;
  *) echo "TLS=$TLS: expected 0, 1 or both" >&2; exit 1 ;;
esac

bash scripts/setup.sh >/dev/null
cargo build --release -p corral -p corral-bench >/dev/null 2>&1
CORRAL=$PWD/target/release/corral
ZKBENCH=$PWD/target/release/zkbench
CEILING_BIN=$PWD/target/release/ceiling
SERVING=$PWD/bench/serving.py

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

STORES=$BENCH_DIR/stores
if [[ $MODES == *tls* ]]; then
  bash tests/tls/make-stores.sh "$STORES" >/dev/null
fi
NETTY=org.apache.zookeeper.server.NettyServerCnxnFactory

start_server() { # kind mode -> prints "pid port" (the TLS port in mode tls)
  local kind=$1 mode=$2 port sport dir
  port=$(free_port)
  dir=$(mktemp -d "$BENCH_DIR/$kind.XXXX")
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
forceSync=$FORCE_SYNC
admin.enableServer=false
4lw.commands.whitelist=*
CFG
  if [[ $mode == tls ]]; then
    sport=$(free_port)
    # The same keys for both servers; corral ignores serverCnxnFactory.
    cat >>"$dir/zoo.cfg" <<CFG
serverCnxnFactory=$NETTY
secureClientPort=$sport
secureClientPortAddress=127.0.0.1
ssl.keyStore.location=$STORES/server.p12
ssl.keyStore.password=storepw
ssl.trustStore.location=$STORES/truststore.p12
ssl.trustStore.password=storepw
ssl.clientAuth=need
CFG
  elif [[ $kind == zk && $ZK_NETTY == 1 ]]; then
    echo "serverCnxnFactory=$NETTY" >>"$dir/zoo.cfg"
  fi
  mkdir -p "$dir/data"
  if [[ $kind == ceiling ]]; then
    "$CEILING_BIN" --port "$port" --value-size "$VALUE" >"$dir/log" 2>&1 &
  elif [[ $kind == base ]]; then
    "$CORRAL_BASE" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
  elif [[ $kind == zk ]]; then
    # netty-codec: zookeeper.jar's manifest leaves it out, and the Netty
    # factory (TLS) needs it.
    java -Xmx2g -Dzookeeper.admin.enableServer=false \
      -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-codec.jar \
      org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/log" 2>&1 &
  else
    "$CORRAL" "$dir/zoo.cfg" >"$dir/log" 2>&1 &
  fi
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 300); do
    # Serving, not just listening: `srvr` answers with the version line.
    if python3 "$SERVING" "$port" 2>/dev/null
    then
      if [[ $mode != tls ]]; then echo "$pid $port"; return 0; fi
      if python3 -c 'import socket,sys;socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.5)' "$sport" 2>/dev/null; then
        echo "$pid $sport"; return 0
      fi
    fi
    sleep 0.1
  done
  echo "server $kind did not start; log:" >&2; cat "$dir/log" >&2; exit 1
}

run_one() { # kind scenario mode -> json line
  local kind=$1 sc=$2 mode=$3 pid port
  local zsc=$sc s=$SESSIONS o=$OUTSTANDING v=$VALUE k=$KEYS tls=()
  read -r pid port < <(start_server "$kind" "$mode")
  if [[ $mode == tls ]]; then
    tls=(--tls-ca "$STORES/ca.crt" --tls-cert "$STORES/client-cert.pem" --tls-key "$STORES/client-key.pem")
  fi
  case $sc in
    big) v=1048000 k=16 s=4 o=2 ;;
    tree) k=1000000 s=8 ;;
    # Latency at low load: 8 sessions, one request in flight each.
    get8x1) zsc=get s=8 o=1 ;;
    set8x1) zsc=set s=8 o=1 ;;
    fanout) s=$FANOUT ;;
    watchmany) s=32 ;;
  esac
  local args=(--addr "127.0.0.1:$port" --scenario "$zsc" --sessions "$s"
    --outstanding "$o" --value-size "$v" --keys "$k" --duration "$DURATION"
    --server-pid "$pid" --json "${tls[@]}")
  local preload=()
  for _ in $(seq 1 "$WARM_RUNS"); do
    "$ZKBENCH" "${args[@]}" "${preload[@]}" >/dev/null
    preload=(--no-preload)
  done
  "$ZKBENCH" "${args[@]}" "${preload[@]}"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
CORRAL_BASE=${CORRAL_BASE:-}
if [[ -n $CORRAL_BASE && ! -x $CORRAL_BASE ]]; then echo "CORRAL_BASE=$CORRAL_BASE is not an executable" >&2; exit 1; fi
echo "settings: warm_runs=$WARM_RUNS ceiling=$CEILING sessions=$SESSIONS fanout=$FANOUT outstanding=$OUTSTANDING value=${VALUE}B keys=$KEYS duration=${DURATION}s forceSync=$FORCE_SYNC dataDir=$BENCH_DIR tls=$TLS zk_plain_factory=$([[ $ZK_NETTY == 1 ]] && echo netty || echo nio)"
results=()
i=0
for sc in $SCENARIOS; do
  for mode in $MODES; do
    # Alternate which server goes first.
    if (( i % 2 == 0 )); then order="zk corral"; else order="corral zk"; fi
    if [[ -n $CORRAL_BASE ]]; then
      if (( i % 2 == 0 )); then order="$order base"; else order="base $order"; fi
    fi
    # The ceiling answers getData and setData only, in plain text.
    if [[ $CEILING == 1 && $mode == plain && $sc =~ ^(get|set)(8x1)?$ ]]; then
      order="$order ceiling"
    fi
    declare -A line=([base]='null' [ceiling]='null')
    for kind in $order; do line[$kind]=$(run_one "$kind" "$sc" "$mode"); done
    name=$sc
    [[ $mode == tls ]] && name=$sc/tls
    results+=("$name|${line[zk]}|${line[corral]}|${line[base]}|${line[ceiling]}")
    i=$((i + 1))
  done
done
python3 - "${results[@]}" <<'PY'
import json, sys
rows = []
W = max([8] + [len(a.split("|")[0]) for a in sys.argv[1:]])
print(f"{'scenario':{W}} {'zk ops/s':>10} {'corral ops/s':>13} {'ratio':>6} {'zk p50/p99 us':>16} {'corral p50/p99 us':>18} {'zk cpu us/op':>12} {'corral cpu':>10} {'cpu ratio':>9} {'zk rss':>7} {'corral rss':>10} {'errors z/c':>10} {'gen z/c us/op':>14}")
base_rows = []
ceiling_rows = []
by_name = {}
negotiated = set()
for arg in sys.argv[1:]:
    sc, z, c, b, ce = arg.split("|")
    z, c, b, ce = json.loads(z), json.loads(c), json.loads(b), json.loads(ce)
    if ce is not None:
        ceiling_rows.append((sc, z, c, ce))
    by_name.setdefault(sc, []).append((z, c))
    for who, r in (("zk", z), ("corral", c)):
        if r.get("tls"):
            negotiated.add(f"{who}: {r['tls']}")
    if b is not None:
        base_rows.append((sc, c, b))
    ratio = c["ops_per_s"] / z["ops_per_s"] if z["ops_per_s"] else float("nan")
    cr = c["cpu_us_per_op"] / z["cpu_us_per_op"] if z["cpu_us_per_op"] else float("nan")
    print(f"{sc:{W}} {z['ops_per_s']:>10.0f} {c['ops_per_s']:>13.0f} {ratio:>6.2f} "
          f"{str(z['p50_us'])+'/'+str(z['p99_us']):>16} {str(c['p50_us'])+'/'+str(c['p99_us']):>18} "
          f"{z['cpu_us_per_op']:>12.2f} {c['cpu_us_per_op']:>10.2f} {cr:>9.2f} {z['rss_mb']:>7.0f} {c['rss_mb']:>10.0f} {str(z['errors'])+'/'+str(c['errors']):>10} "
          f"{z.get('gen_cpu_us_per_op', float('nan')):>6.2f}/{c.get('gen_cpu_us_per_op', float('nan')):<7.2f}")
fan = [(sc, z, c) for sc, rows in by_name.items() for z, c in rows if "rounds" in c]
if fan:
    print()
    print("fan-out: rounds (one write, every watcher's event, every watcher armed again); latency from the write to each watcher's event")
    print(f"{'scenario':8} {'zk rounds/s':>11} {'corral rounds/s':>15} {'zk each p50/p99 us':>19} {'corral each p50/p99 us':>23}")
    for sc, z, c in fan:
        d = lambda r: r["rounds"] / (r["ops"] / r["ops_per_s"]) if r["ops_per_s"] else float("nan")
        print(f"{sc:8} {d(z):>11.1f} {d(c):>15.1f} {str(z['each_p50_us'])+'/'+str(z['each_p99_us']):>19} {str(c['each_p50_us'])+'/'+str(c['each_p99_us']):>23}")
if ceiling_rows:
    print()
    print("against the canned-reply ceiling (same run): CPU per op as a multiple of the ceiling's")
    print(f"{'scenario':8} {'ceiling ops/s':>13} {'ceiling cpu us/op':>17} {'corral/ceiling':>14} {'zk/ceiling':>10} {'corral/zk ops':>13}")
    for sc, z, c, ce in ceiling_rows:
        cc = ce["cpu_us_per_op"]
        print(f"{sc:8} {ce['ops_per_s']:>13.0f} {cc:>17.2f} {c['cpu_us_per_op']/cc:>14.2f} {z['cpu_us_per_op']/cc:>10.2f} {c['ops_per_s']/z['ops_per_s']:>13.2f}")
if negotiated:
    print()
    print("negotiated: " + "; ".join(sorted(negotiated)))
pairs = [(sc, by_name[sc], by_name[sc + "/tls"]) for sc in by_name
         if not sc.endswith("/tls") and sc + "/tls" in by_name]
if pairs:
    print()
    print("what TLS costs each server (TLS row / plain row of the same scenario; several rows: the means):")
    print(f"{'scenario':8} {'zk ops':>7} {'corral ops':>10} {'zk cpu/op':>10} {'corral cpu/op':>13} {'zk +us/op':>10} {'corral +us/op':>13}")
    mean = lambda rows, who, key: sum(r[who][key] for r in rows) / len(rows)
    for sc, plain, tls in pairs:
        p = [dict(zk=z, c=c) for z, c in plain]
        t = [dict(zk=z, c=c) for z, c in tls]
        zo = mean(t, "zk", "ops_per_s") / mean(p, "zk", "ops_per_s")
        co = mean(t, "c", "ops_per_s") / mean(p, "c", "ops_per_s")
        zc = mean(t, "zk", "cpu_us_per_op") / mean(p, "zk", "cpu_us_per_op")
        cc = mean(t, "c", "cpu_us_per_op") / mean(p, "c", "cpu_us_per_op")
        zd = mean(t, "zk", "cpu_us_per_op") - mean(p, "zk", "cpu_us_per_op")
        cd = mean(t, "c", "cpu_us_per_op") - mean(p, "c", "cpu_us_per_op")
        print(f"{sc:8} {zo:>7.2f} {co:>10.2f} {zc:>10.2f} {cc:>13.2f} {zd:>10.2f} {cd:>13.2f}")
if base_rows:
    print()
    print("this build against CORRAL_BASE, same run:")
    print(f"{'scenario':8} {'base ops/s':>11} {'new ops/s':>10} {'ratio':>6} {'base p50/p99 us':>16} {'new p50/p99 us':>15} {'base cpu':>9} {'new cpu':>8} {'cpu ratio':>9}")
    for sc, c, b in base_rows:
        ratio = c["ops_per_s"] / b["ops_per_s"] if b["ops_per_s"] else float("nan")
        cr = c["cpu_us_per_op"] / b["cpu_us_per_op"] if b["cpu_us_per_op"] else float("nan")
        print(f"{sc:8} {b['ops_per_s']:>11.0f} {c['ops_per_s']:>10.0f} {ratio:>6.2f} "
              f"{str(b['p50_us'])+'/'+str(b['p99_us']):>16} {str(c['p50_us'])+'/'+str(c['p99_us']):>15} "
              f"{b['cpu_us_per_op']:>9.2f} {c['cpu_us_per_op']:>8.2f} {cr:>9.2f}")
PY
