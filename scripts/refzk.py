#!/usr/bin/env python3
"""Run a throw-away reference ZooKeeper 3.8 (Debian) -- or corral -- in the
foreground on a free loopback port, for manual comparison/debugging.

    .venv/bin/python scripts/refzk.py            # reference ZooKeeper
    .venv/bin/python scripts/refzk.py --corral   # target/release/corral (or $CORRAL_BIN)
    .venv/bin/python scripts/refzk.py --cfg extendedTypesEnabled=true

Prints "READY <host:port> <tmpdir>" once a ZooKeeper handshake succeeds; stops
(and deletes the temp dir unless --keep) on Ctrl-C / SIGTERM.  Uses the same
launcher as the pytest fixtures (tests/py/zkserver.py).
"""

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "py"))

from zkserver import ZKServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corral", action="store_true", help="run corral instead of the reference server")
    ap.add_argument("--cfg", action="append", default=[], metavar="KEY=VALUE", help="extra zoo.cfg line")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data, zoo.cfg, server.log)")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.cfg)
    srv = ZKServer("corral" if args.corral else "ref", extra_cfg=extra)

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        srv.start()
        print(f"READY {srv.hostport} {srv.tmp}", flush=True)
        while srv.alive():
            time.sleep(0.5)
        print(f"server exited with {srv.proc.returncode}; log tail:\n{srv.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        srv.stop(cleanup=not args.keep)


if __name__ == "__main__":
    sys.exit(main())
