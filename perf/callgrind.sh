#!/usr/bin/env bash
# Instructions per getData and per setData, counted by callgrind.
#
# corral itself does not run under valgrind: it loads its data, then its
# glommio executors never come up (valgrind does not model io_uring's
# shared rings), so nothing listens. This script therefore counts the
# request path without I/O, with the `reqpath` driver (bench/src/reqpath.rs):
#   get: decode the packet, answer from a tree version, frame the reply;
#   set: decode, prep, apply, serialise the txn log record (Adler32),
#        frame the reply; a tree version is published every 64 writes.
# Sockets, io_uring, the cross-core channels, fsync and the executors are
# NOT counted: the figures are the protocol + tree logic, a floor for what
# a server spends per op.
#
# Each mode runs twice (N1 and N2 ops, same tree) and the difference in
# instructions over the difference in ops is reported, so building the
# tree and start-up cancel out.
#
#   bash perf/callgrind.sh                      # 1000 keys, like bench/run.sh
#   KEYS=1000000 bash perf/callgrind.sh          # a 1M-node tree (slow: ~minutes)
# Output: a table; perf/out/callgrind.<mode>.out (callgrind_annotate-able)
# and perf/out/callgrind-<mode>.txt (top functions, inclusive and self).
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_pkg valgrind valgrind
need_pkg callgrind_annotate valgrind
build_bins
KEYS=${KEYS:-1000}
N1=${N1:-20000}
N2=${N2:-120000}

ir_of() { # mode ops outfile -> total Ir
  valgrind --tool=callgrind --callgrind-out-file="$3" "$REQPATH" "$1" "$2" --keys "$KEYS" --value-size "${VALUE:-100}" 2>&1 |
    sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}

printf '%-5s %10s %14s %14s %12s\n' op keys "Ir (N1=$N1)" "Ir (N2=$N2)" "Ir per op"
for mode in get set; do
  a=$(ir_of "$mode" "$N1" "$OUT/callgrind.$mode.n1.out")
  b=$(ir_of "$mode" "$N2" "$OUT/callgrind.$mode.out")
  per=$(( (b - a) / (N2 - N1) ))
  printf '%-5s %10s %14s %14s %12s\n' "$mode" "$KEYS" "$a" "$b" "$per"
  {
    echo "# reqpath $mode, $N2 ops, $KEYS keys: $per instructions per op"
    echo "## inclusive"
    callgrind_annotate --inclusive=yes "$OUT/callgrind.$mode.out" 2>/dev/null | sed -n '1,60p' || true
    echo "## self"
    callgrind_annotate "$OUT/callgrind.$mode.out" 2>/dev/null | sed -n '1,60p' || true
  } >"$OUT/callgrind-$mode.txt"
done
echo "top functions: $OUT/callgrind-get.txt $OUT/callgrind-set.txt"
