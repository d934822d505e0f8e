"""A kazoo client moves between corral and ZooKeeper 3.8 servers of one
ensemble, with its session, its watches and its ephemeral node, while the
leader is killed so that each kind leads in turn.

Members are sid 1, 2, 3 (indexes 0, 1, 2); both mixes run:
2 corral + 1 ZooKeeper ([corral, ref, corral]) and 1 corral + 2 ZooKeeper
([ref, corral, ref]). With equal zxids the highest sid wins, so:

1. index 2 leads; the client starts on index 1 and moves to index 0
   (the other kind) by a dropped connection;
2. index 2 is killed -9: index 1 (the other kind) leads; the client, on
   index 0, reconnects there after the election;
3. the client moves to index 1, the new leader (the other kind again);
4. index 2 comes back and follows; the client is pointed at it and index 1
   (its server, the leader) is killed -9: index 2 leads again, and the
   client reconnects to it.

After every step: the same session id, the client's watches (kazoo's
DataWatch and ChildrenWatch, set once at the start) see writes made after
it, and the client's ephemeral node is there.
At the end every live server has the same data.

Then TLS between servers (sslQuorum with the ssl.quorum.* keys, stores from
tests/tls/make-stores.sh): corral leading ZooKeeper followers, and corral
following a ZooKeeper leader, with the same zoo.cfg keys for both kinds.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch, DataWatch
from kazoo.retry import KazooRetry

from zkserver import Ensemble, ToolMissing

WAIT = 30.0


def wait_until(cond, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def server_port(client: KazooClient):
    """The client port of the server this client is connected to, or None."""
    sock = getattr(client._connection, "_socket", None)
    try:
        return sock.getpeername()[1] if sock is not None else None
    except OSError:
        return None


class Watches:
    """kazoo's DataWatch and ChildrenWatch on one path, set once through
    `client`. kazoo fires its one-shot watches with NONE when a connection
    drops and sends no SetWatches; its recipes re-register on the server
    they reconnect to, which is how a kazoo application keeps its watches
    across servers (SetWatches itself is covered by tests/sessions.rs and
    the differential test)."""

    def __init__(self, client: KazooClient, path: str):
        self.lock = threading.Lock()
        self.data = []
        self.children = []
        DataWatch(client, path, self._data)
        ChildrenWatch(client, path, self._children)

    def _data(self, data, _stat):
        with self.lock:
            self.data.append(data)

    def _children(self, children):
        with self.lock:
            self.children.append(sorted(children))

    def saw(self, data: bytes, child: str) -> bool:
        with self.lock:
            return (bool(self.data) and self.data[-1] == data
                    and bool(self.children) and child in self.children[-1])


@pytest.fixture
def ensemble(request):
    ens = Ensemble(request.param)
    try:
        ens.start_all()
    except ToolMissing as e:
        ens.stop()
        pytest.fail(f"required tool missing: {e}", pytrace=False)
    yield ens
    failed = any(getattr(getattr(request.node, "rep_" + w, None), "failed", False)
                 for w in ("setup", "call"))
    if failed:
        print("\n" + ens.log_tails(60))
    ens.stop(cleanup=not failed)


@pytest.mark.parametrize("ensemble", [["corral", "ref", "corral"], ["ref", "corral", "ref"]],
                         indirect=True, ids=["2corral-1zk", "1corral-2zk"])
def test_kazoo_session_and_watches_move_across_kinds(ensemble):
    ens = ensemble
    kinds = ens.kinds
    assert ens.wait_leader([0, 1, 2]) == 2, "sid 3 wins a fresh election"

    # The writer may use any server; it retries through elections.
    writer = KazooClient(hosts=",".join(ens.hostport(i) for i in range(3)), timeout=10.0,
                         connection_retry=KazooRetry(max_tries=-1, max_delay=1.0),
                         command_retry=KazooRetry(max_tries=-1, max_delay=1.0, deadline=60))
    writer.start(timeout=WAIT)
    client = KazooClient(hosts=ens.hostport(1), timeout=10.0,
                         connection_retry=KazooRetry(max_tries=-1, max_delay=0.5))
    client.start(timeout=WAIT)
    try:
        session = client.client_id[0]
        client.create("/mv", b"0")
        client.create("/eph", b"mine", ephemeral=True)
        n = [0]

        w = Watches(client, "/mv")

        def check_watches(step: str):
            n[0] += 1
            value = str(n[0]).encode()
            writer.retry(writer.set, "/mv", value)
            writer.retry(writer.create, f"/mv/c{n[0]}")
            wait_until(lambda: w.saw(value, f"c{n[0]}"),
                       f"{step}: the client's watches seeing the writes (saw {w.data[-1:]}, "
                       f"{w.children[-1:]})")
            assert client.client_id[0] == session, f"{step}: the session changed"
            assert client.exists("/eph") is not None, f"{step}: the ephemeral node is gone"

        def move_to(i: int, step: str):
            client.set_hosts(ens.hostport(i))
            sock = client._connection._socket
            sock.shutdown(socket.SHUT_RDWR)
            wait_until(lambda: client.connected and server_port(client) == ens.members[i]["client"],
                       f"{step}: the client on sid {i + 1} ({kinds[i]})")

        # 1. From index 1 to index 0: the other kind.
        assert server_port(client) == ens.members[1]["client"]
        move_to(0, f"1: {kinds[1]} -> {kinds[0]}")
        check_watches(f"1: {kinds[1]} -> {kinds[0]}")

        # 2. The leader (index 2) dies: index 1 leads; the client stays on
        # index 0 and comes back to it after the election.
        ens.kill9(2)
        assert ens.wait_leader([0, 1]) == 1, "sid 2 wins over sid 1"
        wait_until(lambda: client.connected and server_port(client) == ens.members[0]["client"],
                   f"2: the client back on sid 1 ({kinds[0]}) under a {kinds[1]} leader")
        check_watches(f"2: {kinds[1]} leads")

        # 3. To the new leader, the other kind.
        move_to(1, f"3: {kinds[0]} -> {kinds[1]} (the leader)")
        check_watches(f"3: {kinds[0]} -> {kinds[1]}")

        # 4. Index 2 comes back and follows; the client's server (the
        # leader) dies, and the client goes to index 2, which then leads.
        ens.start(2)
        assert ens.wait_leader([0, 1, 2]) == 1, "sid 3 back as a follower"
        client.set_hosts(ens.hostport(2))
        ens.kill9(1)
        assert ens.wait_leader([0, 2]) == 2, "sid 3 wins over sid 1"
        wait_until(lambda: client.connected and server_port(client) == ens.members[2]["client"],
                   f"4: the client on sid 3 ({kinds[2]}), now the leader")
        check_watches(f"4: {kinds[1]} -> {kinds[2]}")

        # Every live server has the same /mv and /eph.
        views = []
        for i in (0, 2):
            c = KazooClient(hosts=ens.hostport(i), timeout=10.0)
            c.start(timeout=WAIT)
            try:
                c.sync("/mv")
                views.append((c.get("/mv")[0], sorted(c.get_children("/mv")),
                              c.get("/eph")[0], c.get("/eph")[1].ephemeralOwner))
            finally:
                c.stop()
                c.close()
        assert views[0] == views[1], views
        assert views[0][0] == str(n[0]).encode() and len(views[0][1]) == n[0], views
        assert views[0][2] == b"mine" and views[0][3] == session, views
    finally:
        for c in (client, writer):
            c.stop()
            c.close()




def quorum_tls_cfg(stores: Path) -> dict:
    """The same keys for both kinds: ZooKeeper 3.8's quorum TLS as its admin
    guide sets it up (the Netty factory for the client port, as with TLS)."""
    return {
        "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
        "sslQuorum": "true",
        "ssl.quorum.keyStore.password": "storepw",
        "ssl.quorum.trustStore.location": str(stores / "truststore.jks"),
        "ssl.quorum.trustStore.password": "storepw",
    }


@pytest.mark.parametrize("kinds", [["ref", "ref", "corral"], ["corral", "ref", "ref"]],
                         ids=["corral-leads-zk-over-tls", "corral-follows-zk-over-tls"])
def test_tls_between_corral_and_zookeeper(stores, kinds, request):
    ens = Ensemble(kinds, extra_cfg=quorum_tls_cfg(stores))
    for i, k in enumerate(kinds):
        # Each kind reads the other's store formats: JKS and PKCS12.
        store = "server.p12" if (k == "corral") == (i % 2 == 0) else "server.jks"
        ens.own_cfg[i]["ssl.quorum.keyStore.location"] = str(stores / store)
    ok = False
    try:
        try:
            ens.start_all()
        except ToolMissing as e:
            pytest.fail(f"required tool missing: {e}", pytrace=False)
        # [ref, ref, corral]: corral (sid 3, up first) leads. [corral, ref,
        # ref]: a ZooKeeper leads (sid 3, or sid 2 when sid 3's JVM comes
        # up after the other two have formed a quorum).
        leader = ens.wait_leader([0, 1, 2])
        assert kinds[leader] == ("corral" if kinds[2] == "corral" else "ref"), (leader, kinds)
        for i in range(3):
            c = KazooClient(hosts=ens.hostport(i), timeout=10.0)
            c.start(timeout=WAIT)
            try:
                c.create(f"/tls{i}", f"via {kinds[i]}".encode())
            finally:
                c.stop()
                c.close()
        for i in range(3):
            c = KazooClient(hosts=ens.hostport(i), timeout=10.0)
            c.start(timeout=WAIT)
            try:
                c.sync("/")
                got = [c.get(f"/tls{j}")[0] for j in range(3)]
            finally:
                c.stop()
                c.close()
            assert got == [f"via {k}".encode() for k in kinds], (i, got)
        # The links really are TLS: a plain peer is refused by each kind.
        for i in range(3):
            with socket.create_connection(("127.0.0.1", ens.members[i]["election"]), 5) as s:
                s.settimeout(10)
                # A plain election initial message (protocol -65536, sid 9).
                addr = b"127.0.0.1:1"
                s.sendall((-65536).to_bytes(8, "big", signed=True) + (9).to_bytes(8, "big")
                          + len(addr).to_bytes(4, "big") + addr)
                try:
                    back = s.recv(64)
                except OSError:
                    back = b""
                assert back == b"" or back[:1] == b"\x15", (kinds[i], back)
        assert ens.wait_leader([0, 1, 2], timeout=30) == leader, "still one quorum"
        ok = True
    finally:
        if not ok:
            print("\n" + ens.log_tails(60))
        ens.stop(cleanup=ok)
