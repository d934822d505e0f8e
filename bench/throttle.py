#!/usr/bin/env python3
"""A probe client's latency under a flood, each request throttle on and
off, against corral and ZooKeeper 3.8 in the same run (one fresh server
per row, alternating).

    .venv/bin/python bench/throttle.py                 # 5 s a row
    DURATION=10 FLOODERS=4 .venv/bin/python bench/throttle.py

The flood: FLOODERS raw sessions, each keeping PIPELINE creates (100-byte
values) in flight, for DURATION seconds. The probe: one session doing
getData('/') one at a time. Prints, per server and setting, the probe's
p50/p99 (ms) and its answers' error mix, and the flood's answered
requests per second and errors (ZTHROTTLEDOP -127, or closed).
"""

import os
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "py"))
from zkproto import OP, ConnectionClosed, RawSession, body_create, body_path_watch, recv_frame  # noqa: E402
from zkserver import ZKServer  # noqa: E402

DURATION = float(os.environ.get("DURATION", "5"))
FLOODERS = int(os.environ.get("FLOODERS", "4"))
PIPELINE = int(os.environ.get("PIPELINE", "200"))

SETTINGS = [
    ("off", {}),
    ("request_throttle_max_requests=50", {"zookeeper.request_throttle_max_requests": "50"}),
    ("max_requests=50,throttled_op_wait_time=20", {
        "zookeeper.request_throttle_max_requests": "50",
        "zookeeper.throttled_op_wait_time": "20",
    }),
    ("globalOutstandingLimit=100", {"zookeeper.globalOutstandingLimit": "100"}),
    ("largeRequestThreshold=1024,MaxBytes=8192 (flood 2000-byte values)", {
        "zookeeper.largeRequestThreshold": "1024",
        "zookeeper.largeRequestMaxBytes": "8192",
    }),
]


def flooder(srv, idx, stop, stats, value):
    n = 0
    try:
        s = RawSession(srv.host, srv.port, io_timeout=30)
    except Exception:
        stats["closed"] += 1
        return
    sock = s.sock
    sent = answered = 0

    def send(k):
        nonlocal sent
        out = bytearray()
        for _ in range(k):
            sent += 1
            p = struct.pack(">ii", sent, OP["create"]) + body_create(f"/f{idx}-{sent}-{n}", value)
            out += struct.pack(">i", len(p)) + p
        sock.sendall(out)

    try:
        send(PIPELINE)
        while not stop.is_set():
            frame = recv_frame(sock)
            xid, _z, err = struct.unpack(">iqi", frame[:16])
            if xid == -1:
                continue
            answered += 1
            stats["answered"] += 1
            if err:
                stats[err] = stats.get(err, 0) + 1
            send(1)
    except (ConnectionClosed, OSError):
        stats["closed"] += 1
    finally:
        s.drop()


def row(kind, flags):
    large = "largeRequestThreshold" in " ".join(flags)
    srv = ZKServer(kind, jvm_flags=flags)
    srv.start()
    try:
        stop = threading.Event()
        stats = {"answered": 0, "closed": 0}
        value = b"v" * (2000 if large else 100)
        threads = [threading.Thread(target=flooder, args=(srv, i, stop, stats, value), daemon=True)
                   for i in range(FLOODERS)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        probe = RawSession(srv.host, srv.port, io_timeout=30)
        lat, errs = [], {}
        t_end = time.monotonic() + DURATION
        a0, t0 = stats["answered"], time.monotonic()
        while time.monotonic() < t_end:
            s = time.perf_counter()
            r = probe.request(OP["getData"], body_path_watch("/"))
            lat.append((time.perf_counter() - s) * 1000)
            errs[r.err] = errs.get(r.err, 0) + 1
        rate = (stats["answered"] - a0) / (time.monotonic() - t0)
        stop.set()
        probe.drop()
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        flood_err = {k: v for k, v in stats.items() if k not in ("answered",) and v}
        return p(0.5), p(0.99), len(lat), errs, rate, flood_err
    finally:
        srv.stop()


def main():
    print(f"# DURATION={DURATION}s FLOODERS={FLOODERS} PIPELINE={PIPELINE}")
    print("| setting | server | probe p50 ms | probe p99 ms | probes | probe errors | flood answers/s | flood errors |")
    print("|---|---|---|---|---|---|---|---|")
    for name, flags in SETTINGS:
        for kind in ("corral", "ref"):
            p50, p99, n, errs, rate, ferr = row(kind, flags)
            label = "ZooKeeper 3.8" if kind == "ref" else "corral"
            print(f"| {name} | {label} | {p50:.2f} | {p99:.2f} | {n} | {errs} | {rate:.0f} | {ferr} |",
                  flush=True)


if __name__ == "__main__":
    main()
