"""ZooKeeper's request throttles, differential against ZooKeeper 3.8: a
flood on one connection that the throttle holds back while a probe
session keeps being answered, and the outcome the flood sees, on both
servers:

- the RequestThrottler (zookeeper.request_throttle_max_requests,
  request_throttle_stall_time): the flood stalls, every request succeeds,
  request_throttle_wait_count counts the stalls;
- zookeeper.throttled_op_wait_time: requests held longer are answered
  ZTHROTTLEDOP (-127), counted in throttled_ops;
- request_stale_latency_check with request_throttle_drop_stale: requests
  held past their session timeout are dropped and the connection closed
  (stale_requests_dropped);
- zookeeper.largeRequestThreshold / largeRequestMaxBytes: a large request
  over the budget closes its connection (large_requests_rejected);
- globalOutstandingLimit: the flood is read only as answers go out; it
  completes, and the probe is answered meanwhile.

The settings go in as -D flags (SERVER_JVMFLAGS for corral), the names
ZooKeeper's code reads; a corral-only test checks the zoo.cfg spellings.
"""

import struct
import threading
import time

import pytest

from conftest import start_server
from zkproto import OP, ConnectionClosed, RawSession, body_create, body_path_watch, recv_frame
from zkserver import four_letter

KINDS = ["corral", "ref"]
# A probe request must be answered within this (generous: a 2-core VM).
PROBE_BOUND_S = 10.0


def mntr(srv):
    out = {}
    for line in four_letter(srv.host, srv.port, "mntr", timeout=10).splitlines():
        k, _, v = line.partition("\t")
        out[k] = v
    return out


def counter(srv, name):
    v = mntr(srv).get(f"zk_{name}")
    assert v is not None, f"mntr has no zk_{name}"
    return int(v)


def flood_frames(n, prefix, data=b""):
    """n create requests (xids 1..n) as one byte string."""
    out = bytearray()
    for i in range(n):
        payload = struct.pack(">ii", i + 1, OP["create"]) + body_create(f"{prefix}{i}", data)
        out += struct.pack(">i", len(payload)) + payload
    return bytes(out)


class Flood(threading.Thread):
    """Pipelines n creates on its own session and reads every answer."""

    def __init__(self, srv, n, prefix, timeout_ms=30000, data=b""):
        super().__init__(daemon=True)
        self.sess = RawSession(srv.host, srv.port, timeout_ms=timeout_ms, io_timeout=120)
        self.n, self.prefix, self.data = n, prefix, data
        self.errs = []
        self.closed = False

    def run(self):
        frames = flood_frames(self.n, self.prefix, self.data)
        sender = threading.Thread(target=self._send, args=(frames,), daemon=True)
        sender.start()
        try:
            while len(self.errs) < self.n:
                frame = recv_frame(self.sess.sock)
                xid, _zxid, err = struct.unpack(">iqi", frame[:16])
                if xid == -1:
                    continue
                self.errs.append(err)
        except (ConnectionClosed, OSError):
            self.closed = True

    def _send(self, frames):
        try:
            self.sess.sock.sendall(frames)
        except OSError:
            pass


def probe_while(srv, flood, min_probes=5):
    """getData('/') on a probe session until the flood is done (at least
    min_probes); each answered within PROBE_BOUND_S. Returns the errors."""
    probe = RawSession(srv.host, srv.port, timeout_ms=30000, io_timeout=PROBE_BOUND_S)
    errs = []
    try:
        while flood.is_alive() or len(errs) < min_probes:
            t0 = time.monotonic()
            res = probe.request(OP["getData"], body_path_watch("/"))
            took = time.monotonic() - t0
            assert took < PROBE_BOUND_S, f"probe took {took:.1f}s"
            errs.append(res.err)
            time.sleep(0.01)
    finally:
        probe.drop()
    return errs


def run_flood(srv, n, prefix, **kw):
    flood = Flood(srv, n, prefix, **kw)
    flood.start()
    probes = probe_while(srv, flood)
    flood.join(120)
    assert not flood.is_alive(), "the flood never finished"
    flood.sess.drop()
    return flood, probes


@pytest.mark.parametrize("kind", KINDS)
def test_request_throttler_stalls_the_flood_and_serves_the_probe(kind):
    srv = start_server(kind, jvm_flags={
        "zookeeper.request_throttle_max_requests": "2",
        "zookeeper.request_throttle_stall_time": "20",
    })
    try:
        before = counter(srv, "request_throttle_wait_count")
        flood, probes = run_flood(srv, 1500, "/stall-")
        assert not flood.closed
        assert flood.errs == [0] * 1500, "every stalled request is served"
        assert set(probes) == {0}
        assert counter(srv, "request_throttle_wait_count") > before
    finally:
        srv.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_throttled_op_wait_time_answers_ZTHROTTLEDOP(kind):
    srv = start_server(kind, jvm_flags={
        "zookeeper.request_throttle_max_requests": "1",
        "zookeeper.request_throttle_stall_time": "5",
        "zookeeper.throttled_op_wait_time": "10",
    })
    try:
        flood, probes = run_flood(srv, 2000, "/op-")
        assert not flood.closed
        assert len(flood.errs) == 2000
        assert set(flood.errs) <= {0, -127}, set(flood.errs)
        assert -127 in flood.errs, "requests held past 10 ms are ZTHROTTLEDOP"
        assert 0 in flood.errs
        assert set(probes) <= {0, -127}
        assert counter(srv, "throttled_ops") == flood.errs.count(-127) + probes.count(-127)
        # What was answered ZTHROTTLEDOP was not done.
        zk = RawSession(srv.host, srv.port)
        try:
            for i, err in enumerate(flood.errs[:200]):
                res = zk.request(OP["exists"], body_path_watch(f"/op-{i}"))
                assert (res.err == 0) == (err == 0), (i, err, res.err)
        finally:
            zk.drop()
    finally:
        srv.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_stale_requests_are_dropped_with_their_connection(kind):
    # minSessionTimeout=25 lets the flood have a 25 ms session: requests
    # held longer than that are stale. The flood's requests are held one
    # at a time behind a one-request limit, each waiting for the previous
    # one's fsync; the time a whole read of them (ZooKeeper: up to
    # globalOutstandingLimit of them; corral: a 16 KiB read buffer, about
    # 260 creates) waits is then several times 25 ms. (A 200 ms
    # session made the test depend on the disk: with a fast fsync, corral's
    # 260 held requests were all served within 200 ms, and nothing went
    # stale.) Sessions live in tickTime buckets, as in ZooKeeper; the flood's
    # session, touched by each request served, outlives the flood. (Shorter
    # still, ZooKeeper on a loaded machine expired the session before its
    # throttler found a request stale.)
    srv = start_server(kind, extra_cfg={"tickTime": "100", "minSessionTimeout": "25"}, jvm_flags={
        "zookeeper.request_throttle_max_requests": "1",
        "zookeeper.request_throttle_stall_time": "10",
        "zookeeper.request_stale_latency_check": "true",
    })
    try:
        flood, probes = run_flood(srv, 5000, "/stale-", timeout_ms=25)
        assert flood.closed, "the connection of a dropped request is closed"
        assert len(flood.errs) < 5000
        assert set(flood.errs) <= {0}
        assert set(probes) == {0}
        assert counter(srv, "stale_requests_dropped") >= 1
    finally:
        srv.stop()


def create_big(srv, size):
    """A create of `size` data bytes on a fresh session: its error, or
    'closed' when the server closes the connection."""
    s = RawSession(srv.host, srv.port)
    try:
        res = s.request(OP["create"], body_create(f"/big-{size}-{time.monotonic_ns()}", b"x" * size))
        return res.err
    except ConnectionClosed:
        return "closed"
    except OSError:
        return "closed"
    finally:
        s.drop()


@pytest.mark.parametrize("kind", KINDS)
def test_large_request_over_the_budget_closes_the_connection(kind):
    srv = start_server(kind, jvm_flags={
        "zookeeper.largeRequestThreshold": "1024",
        "zookeeper.largeRequestMaxBytes": "8192",
    })
    try:
        probe = RawSession(srv.host, srv.port, io_timeout=PROBE_BOUND_S)
        try:
            # Large but within the budget (corral's shards each hold an
            # equal share: a quarter fits any share on this machine).
            assert create_big(srv, 1500) == 0
            rejected = 0
            for _ in range(20):
                assert create_big(srv, 9000) == "closed"
                rejected += 1
                res = probe.request(OP["getData"], body_path_watch("/"))
                assert res.err == 0
            assert counter(srv, "large_requests_rejected") == rejected
            # Small requests never count.
            assert create_big(srv, 1000) == 0
        finally:
            probe.drop()
    finally:
        srv.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_global_outstanding_limit_holds_the_flood_back(kind):
    srv = start_server(kind, jvm_flags={"zookeeper.globalOutstandingLimit": "20"})
    try:
        flood, probes = run_flood(srv, 3000, "/gol-")
        assert not flood.closed
        assert flood.errs == [0] * 3000
        assert set(probes) == {0}
    finally:
        srv.stop()


def test_corral_zoo_cfg_spellings():
    """The zoo.cfg spelling ZooKeeper honours (the property's name without
    `zookeeper.`) works; the admin guide's camelCase names, which ZooKeeper
    3.8's code never reads, are warned about by name and ignored."""
    srv = start_server("corral", extra_cfg={
        "request_throttle_max_requests": "1",
        "request_throttle_stall_time": "5",
        "throttled_op_wait_time": "10",
        "requestThrottleLimit": "1000000",
    })
    try:
        log = srv.log.read_text(errors="replace")
        assert "requestThrottleLimit" in log and "request_throttle_max_requests" in log, log[-3000:]
        flood, _ = run_flood(srv, 2000, "/cfg-")
        assert -127 in flood.errs
    finally:
        srv.stop()
