#!/usr/bin/env python3
"""Inclusive share of folded stacks (inferno-collapse-perf output) that pass
through each pattern: `breakdown.py folded.txt [pattern ...]`."""
import re, sys

DEFAULT = [
    ("kernel: io_uring_enter (submit + wait)", r"io_uring_enter"),
    ("kernel: TCP send", r"tcp_sendmsg"),
    ("kernel: TCP receive", r"tcp_recvmsg"),
    ("kernel: softirq / net rx", r"net_rx_action|do_softirq"),
    ("kernel: scheduler (switches, wakeups)", r"schedule|finish_task_switch|try_to_wake_up"),
    ("corral: Conn::request (decode + route)", r"shard::Conn::request"),
    ("corral: answer_read (serve + frame)", r"Conn::answer_read"),
    ("corral: request::serve_read", r"request::serve_read"),
    ("corral: request::decode", r"request::decode"),
    ("tree lookup (imbl get)", r"GenericHashMap.*::get"),
    ("malloc/free/realloc", r"malloc|_int_free|realloc|cfree"),
    ("clock_gettime (Instant::now)", r"clock_gettime"),
    ("glommio reactor", r"glommio::sys::uring|glommio::reactor"),
    ("sequencer thread", r"^sequencer"),
    ("log thread", r"^log"),
]

def main():
    path = sys.argv[1]
    pats = [(p, p) for p in sys.argv[2:]] or DEFAULT
    stacks = []
    for line in open(path):
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if stack:
            stacks.append((stack, int(n)))
    total = sum(n for _, n in stacks) or 1
    print(f"total weight {total} (sample periods)")
    for name, p in pats:
        rx = re.compile(p)
        n = sum(c for s, c in stacks if rx.search(s))
        print(f"{100.0 * n / total:6.1f}%  {name}")

main()
