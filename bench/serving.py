#!/usr/bin/env python3
"""Exit 0 when a ZooKeeper server (corral or the reference) on 127.0.0.1:PORT
is serving, not just listening: `srvr` answers with the version line.
Shared by bench/run.sh, bench/restart.sh and perf/common.sh."""
import socket
import sys

try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)
    s.sendall(b"srvr")
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    sys.exit(0 if data.startswith(b"Zookeeper version") else 1)
except OSError:
    sys.exit(1)
