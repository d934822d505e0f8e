"""ZooKeeper's connection throttle (BlueThrottle, zookeeper.connection_throttle_*),
on corral and on ZooKeeper 3.8 alike: a flood of connects is held to the
bucket plus its fill rate, each refused connect is closed unanswered and
counted in mntr's zk_connection_rejected, and a session opened before
the flood keeps being served throughout.
"""

import time

import pytest

from conftest import start_server
from zkproto import ConnectionClosed, RawSession, four_letter

TOKENS = 10
FILL_MS = 1000
FILL_COUNT = 2
FLOOD_S = 3.0


def mntr(srv):
    out = {}
    for line in four_letter(srv.host, srv.port, "mntr").splitlines():
        k, _, v = line.partition("\t")
        out[k] = v
    return out


@pytest.mark.parametrize("kind", ["corral", "ref"])
def test_a_connect_flood_is_held_to_the_bucket_and_its_fill_rate(kind, kazoo_factory):
    srv = start_server(kind, {
        "connection_throttle_tokens": TOKENS,
        "connection_throttle_fill_time": FILL_MS,
        "connection_throttle_fill_count": FILL_COUNT,
    })
    try:
        keeper = kazoo_factory(srv)
        keeper.create("/kept", b"v")
        # The bucket refills while the server starts and the keeper connects.
        time.sleep(TOKENS / FILL_COUNT * FILL_MS / 1000 + 0.5)
        accepted = refused = served = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < FLOOD_S:
            try:
                s = RawSession(srv.host, srv.port, io_timeout=5.0)
            except (ConnectionClosed, ConnectionResetError):
                refused += 1
            else:
                accepted += 1
                s.close()
                s.drop()
            if (accepted + refused) % 20 == 0:
                assert keeper.get("/kept")[0] == b"v"
                served += 1
        elapsed = time.monotonic() - t0
        # A full bucket, then FILL_COUNT a FILL_MS (one period of slack
        # for the refill that straddles the end).
        bound = TOKENS + FILL_COUNT * (elapsed * 1000 / FILL_MS + 1)
        print(f"{kind}: {accepted} connects served, {refused} refused in {elapsed:.1f} s "
              f"(bound {bound:.0f}); the keeper read {served} times")
        assert accepted <= bound, (accepted, refused, bound)
        assert accepted >= 2, (accepted, refused)
        assert refused >= 50, (accepted, refused)
        assert served >= 3
        # Each refused connect counted once; the keeper still served.
        m = mntr(srv)
        assert int(m["zk_connection_rejected"]) == refused, m.get("zk_connection_rejected")
        assert keeper.get("/kept")[0] == b"v"
    finally:
        srv.stop()


def test_the_throttle_is_off_by_default(corral):
    n = 0
    for _ in range(100):
        s = RawSession(corral.host, corral.port, io_timeout=5.0)
        s.close()
        s.drop()
        n += 1
    assert n == 100
    assert mntr(corral)["zk_connection_rejected"] == "0"
