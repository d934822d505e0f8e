"""kazoo recipes against the server under test, with several real clients."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kazoo.exceptions import ConnectionClosedError, LockTimeout, NoNodeError
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock
from kazoo.recipe.queue import LockingQueue, Queue
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def server(zk_server_module):
    return zk_server_module


@pytest.fixture
def base():
    return f"/recipes-{uuid.uuid4().hex[:10]}"


def wait_until(pred, timeout=10.0, step=0.02, msg="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {msg}")


def fresh(*clients):
    """sync() so a client's view includes every write completed by other clients.
    (ZooKeeper does not promise cross-client read-after-write without sync.)"""
    for c in clients:
        c.sync("/")
    return clients[0]


def children_or_empty(client, path):
    try:
        return client.get_children(path)
    except NoNodeError:
        return []


def run_threads(targets):
    errors = []

    def wrap(fn):
        def inner():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
        return inner

    ts = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
        assert not t.is_alive(), "worker thread hung"
    if errors:
        raise errors[0]


# ------------------------------------------------------------------ Lock
def test_lock_mutual_exclusion(server, kazoo_factory, base):
    clients = [kazoo_factory(server) for _ in range(3)]
    clients[0].create(f"{base}/value", b"0", makepath=True)
    inside = []
    max_inside = [0]
    guard = threading.Lock()
    iterations = 8

    def worker(c, ident):
        def run():
            lock = Lock(c, f"{base}/lock", identifier=ident)
            for _ in range(iterations):
                with lock:
                    with guard:
                        inside.append(ident)
                        max_inside[0] = max(max_inside[0], len(inside))
                    # non-atomic read-modify-write, only safe under the lock
                    data, stat = c.get(f"{base}/value")
                    time.sleep(0.002)
                    c.set(f"{base}/value", str(int(data) + 1).encode(), version=stat.version)
                    with guard:
                        inside.remove(ident)
        return run

    run_threads([worker(c, f"w{i}") for i, c in enumerate(clients)])
    fresh(*clients)
    data, stat = clients[1].get(f"{base}/value")
    assert int(data) == 3 * iterations
    assert stat.version == 3 * iterations
    assert max_inside[0] == 1
    # all lock nodes are gone
    assert clients[2].get_children(f"{base}/lock") == []


def test_lock_contenders_timeout_and_session_release(server, kazoo_factory, base):
    a, b = kazoo_factory(server), kazoo_factory(server)
    la = Lock(a, f"{base}/lock", identifier="alice")
    lb = Lock(b, f"{base}/lock", identifier="bob")
    assert la.acquire(timeout=5)
    fresh(b)
    assert lb.acquire(blocking=False) is False
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.5)

    got = threading.Event()

    def waiter():
        if lb.acquire(timeout=20):
            got.set()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    wait_until(lambda: la.contenders() == ["alice", "bob"], msg="both contenders visible")
    assert not got.is_set()
    # Closing alice's session must delete her ephemeral lock node.
    a.stop()
    assert got.wait(15), "bob did not get the lock after alice's session closed"
    t.join(5)
    assert lb.is_acquired
    assert lb.contenders() == ["bob"]
    lb.release()
    assert b.get_children(f"{base}/lock") == []


# ------------------------------------------------------------------ Election
def test_election_leader_failover(server, kazoo_factory, base):
    clients = [kazoo_factory(server) for _ in range(3)]
    leaders = []
    release = {i: threading.Event() for i in range(3)}
    elections = [Election(c, f"{base}/election", identifier=f"node{i}") for i, c in enumerate(clients)]
    threads = []

    def make(i):
        def lead():
            leaders.append(i)
            release[i].wait(30)
        def run():
            try:
                elections[i].run(lead)
            except ConnectionClosedError:
                assert i == 0  # node0's client is stopped while it leads
        return run

    for i in range(3):
        t = threading.Thread(target=make(i), daemon=True)
        t.start()
        threads.append(t)
        # make the contender order deterministic
        wait_until(lambda: len(children_or_empty(clients[0], f"{base}/election")) == i + 1,
                   msg=f"contender {i} registered")

    wait_until(lambda: len(leaders) == 1, msg="first leader")
    assert leaders == [0]
    fresh(clients[1])
    assert elections[1].contenders() == ["node0", "node1", "node2"]
    time.sleep(0.3)
    assert leaders == [0], "only one leader at a time"

    # leader crashes (session closed) -> next in line leads
    clients[0].stop()
    wait_until(lambda: len(leaders) == 2, msg="second leader")
    assert leaders == [0, 1]
    fresh(clients[2])
    assert elections[2].contenders() == ["node1", "node2"]

    # leader steps down voluntarily -> last one leads
    release[1].set()
    wait_until(lambda: len(leaders) == 3, msg="third leader")
    assert leaders == [0, 1, 2]
    release[2].set()
    release[0].set()
    for t in threads:
        t.join(10)
    fresh(clients[2])
    assert clients[2].get_children(f"{base}/election") == []


# ------------------------------------------------------------------ Queue
def test_queue_priority_fifo_two_clients(server, kazoo_factory, base):
    prod, cons = kazoo_factory(server), kazoo_factory(server)
    qp, qc = Queue(prod, f"{base}/q"), Queue(cons, f"{base}/q")
    qp.put(b"low-1", priority=200)
    qp.put(b"hi-1", priority=10)
    qp.put(b"mid-1", priority=100)
    qp.put(b"hi-2", priority=10)
    qp.put(b"low-2", priority=200)
    fresh(cons)
    assert len(qc) == 5
    got = [qc.get() for _ in range(5)]
    assert got == [b"hi-1", b"hi-2", b"mid-1", b"low-1", b"low-2"]
    assert qc.get() is None
    fresh(prod)
    assert len(qp) == 0


def test_queue_concurrent_consumers_no_duplicates(server, kazoo_factory, base):
    prod = kazoo_factory(server)
    consumers = [kazoo_factory(server) for _ in range(3)]
    n = 30
    q = Queue(prod, f"{base}/q")
    for i in range(n):
        q.put(f"item-{i}".encode())
    results = []
    guard = threading.Lock()
    fresh(*consumers)

    def consume(c):
        def run():
            qq = Queue(c, f"{base}/q")
            while True:
                item = qq.get()
                if item is None:
                    return
                with guard:
                    results.append(item)
        return run

    run_threads([consume(c) for c in consumers])
    assert sorted(results) == sorted(f"item-{i}".encode() for i in range(n))


def test_locking_queue_consume_and_lost_holder(server, kazoo_factory, base):
    a, b, prod = kazoo_factory(server), kazoo_factory(server), kazoo_factory(server)
    qprod = LockingQueue(prod, f"{base}/lq")
    qprod.put_all([b"one", b"two"], priority=50)
    qprod.put(b"urgent", priority=1)
    assert len(qprod) == 3

    qa = LockingQueue(a, f"{base}/lq")
    fresh(a)
    assert qa.get(timeout=5) == b"urgent"
    assert qa.holds_lock()
    assert qa.consume() is True
    fresh(prod)
    assert len(qprod) == 2

    # a takes "one" and dies without consuming -> b must see it again
    assert qa.get(timeout=5) == b"one"
    qb = LockingQueue(b, f"{base}/lq")
    fresh(b)
    # "one" is locked by a, so b gets "two"
    assert qb.get(timeout=5) == b"two"
    assert qb.consume()
    # b cannot get anything while "one" is locked by a
    assert qb.get(timeout=0.5) is None
    a.stop()
    assert qb.get(timeout=10) == b"one"
    assert qb.consume()
    fresh(prod)
    assert len(qprod) == 0


# ------------------------------------------------------------------ Barrier
def test_barrier_blocks_until_removed(server, kazoo_factory, base):
    a, b = kazoo_factory(server), kazoo_factory(server)
    ba, bb = Barrier(a, f"{base}/barrier"), Barrier(b, f"{base}/barrier")
    assert bb.wait(timeout=0.1) is True  # no barrier yet -> pass through
    ba.create()
    fresh(b)
    assert bb.wait(timeout=0.5) is False
    passed = threading.Event()

    def waiter():
        if bb.wait(timeout=20):
            passed.set()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.3)
    assert not passed.is_set()
    ba.remove()
    assert passed.wait(10)
    t.join(5)
    assert a.exists(f"{base}/barrier") is None


def test_double_barrier_three_clients(server, kazoo_factory, base):
    n = 3
    clients = [kazoo_factory(server) for _ in range(n)]
    entered, left = [], []
    order = []
    guard = threading.Lock()
    barriers = [DoubleBarrier(c, f"{base}/db", n, identifier=f"p{i}") for i, c in enumerate(clients)]

    def participant(i):
        def run():
            time.sleep(0.2 * i)  # stagger arrivals
            barriers[i].enter()
            with guard:
                entered.append(i)
                order.append(("in", i))
            time.sleep(0.1 * (n - i))
            barriers[i].leave()
            with guard:
                left.append(i)
                order.append(("out", i))
        return run

    run_threads([participant(i) for i in range(n)])
    assert sorted(entered) == list(range(n)) and sorted(left) == list(range(n))
    # nobody leaves before everybody entered
    first_out = min(k for k, (kind, _) in enumerate(order) if kind == "out")
    assert all(kind == "in" for kind, _ in order[:first_out])
    assert first_out == n
    fresh(clients[0])
    assert clients[0].get_children(f"{base}/db") == []


# ------------------------------------------------------------------ Counter
def test_counter_concurrent_increments(server, kazoo_factory, base):
    clients = [kazoo_factory(server) for _ in range(3)]
    per = 25

    def inc(c):
        def run():
            ctr = Counter(c, f"{base}/ctr")
            for _ in range(per):
                ctr += 1
        return run

    run_threads([inc(c) for c in clients])
    fresh(clients[0])
    ctr = Counter(clients[0], f"{base}/ctr")
    assert ctr.value == 3 * per
    ctr -= 5
    assert ctr.value == 3 * per - 5
    assert ctr.pre_value == 3 * per and ctr.post_value == 3 * per - 5
    fctr = Counter(clients[1], f"{base}/fctr", default=0.0)
    fctr += 2.5
    fctr += 0.25
    fresh(clients[2])
    assert Counter(clients[2], f"{base}/fctr", default=0.0).value == pytest.approx(2.75)


# ------------------------------------------------------------------ TreeCache
def test_tree_cache_follows_other_client(server, kazoo_factory, base):
    watcher_client, writer = kazoo_factory(server), kazoo_factory(server)
    root = f"{base}/tree"
    writer.create(f"{root}/a", b"A", makepath=True)
    writer.create(f"{root}/a/x", b"AX")
    events = []
    lock = threading.Lock()
    cache = TreeCache(watcher_client, root)

    def listener(ev):
        with lock:
            events.append((ev.event_type, ev.event_data.path if ev.event_data else None))

    cache.listen(listener)
    cache.start()
    try:
        wait_until(lambda: any(t == TreeEvent.INITIALIZED for t, _ in events), msg="cache init")
        assert cache.get_data(f"{root}/a").data == b"A"
        assert cache.get_children(f"{root}/a") == frozenset({"x"})

        writer.create(f"{root}/b", b"B")
        writer.set(f"{root}/a", b"A2")
        writer.create(f"{root}/a/y/deep", b"D", makepath=True)
        writer.delete(f"{root}/a/x")

        def settled():
            d = cache.get_data(f"{root}/a")
            deep = cache.get_data(f"{root}/a/y/deep")
            return (cache.get_data(f"{root}/b") is not None and d is not None and d.data == b"A2"
                    and deep is not None and cache.get_data(f"{root}/a/x") is None)

        wait_until(settled, msg="cache to reflect writes")
        assert cache.get_children(root) == frozenset({"a", "b"})
        assert cache.get_children(f"{root}/a") == frozenset({"y"})
        assert cache.get_data(f"{root}/a/y/deep").stat.version == 0
        assert cache.get_data(f"{root}/a").stat.version == 1
        # kazoo calls the listeners from its own task queue, after the
        # cache itself has changed: the events may trail `settled`.
        expected = [
            (TreeEvent.NODE_ADDED, f"{root}/b"),
            (TreeEvent.NODE_UPDATED, f"{root}/a"),
            (TreeEvent.NODE_ADDED, f"{root}/a/y/deep"),
            (TreeEvent.NODE_REMOVED, f"{root}/a/x"),
        ]

        def all_seen():
            with lock:
                return all(e in events for e in expected)

        wait_until(all_seen, msg="the cache's listener to see every change")

        writer.delete(root, recursive=True)
        wait_until(lambda: cache.get_data(f"{root}/a") is None, msg="cache to see recursive delete")
    finally:
        cache.close()


# ------------------------------------------------------------------ watchers
def test_data_and_children_watch(server, kazoo_factory, base):
    w, writer = kazoo_factory(server), kazoo_factory(server)
    writer.create(f"{base}/dw", b"v0", makepath=True)
    data_seen, kids_seen = [], []
    DataWatch(w, f"{base}/dw", func=lambda d, s: data_seen.append(d))
    ChildrenWatch(w, f"{base}/dw", func=lambda ch: kids_seen.append(sorted(ch)))
    wait_until(lambda: data_seen == [b"v0"] and kids_seen == [[]], msg="initial watch calls")
    writer.set(f"{base}/dw", b"v1")
    wait_until(lambda: data_seen[-1:] == [b"v1"], msg="data change")
    writer.create(f"{base}/dw/c1")
    wait_until(lambda: kids_seen[-1:] == [["c1"]], msg="child add")
    writer.create(f"{base}/dw/c2")
    wait_until(lambda: kids_seen[-1:] == [["c1", "c2"]], msg="child add 2")
    writer.delete(f"{base}/dw", recursive=True)
    wait_until(lambda: data_seen[-1:] == [None], msg="delete seen by DataWatch")
    with pytest.raises(NoNodeError):
        w.get(f"{base}/dw")


def test_transaction_and_ephemeral_visibility(server, kazoo_factory, base):
    a, b = kazoo_factory(server), kazoo_factory(server)
    a.ensure_path(base)
    t = a.transaction()
    t.create(f"{base}/t1", b"1")
    t.create(f"{base}/t2", b"2", ephemeral=True)
    t.check(f"{base}/t1", 0)
    res = t.commit()
    assert res == [f"{base}/t1", f"{base}/t2", True]
    fresh(b)
    assert b.get(f"{base}/t2")[1].ephemeralOwner == a.client_id[0]
    a.stop()
    wait_until(lambda: b.exists(f"{base}/t2") is None, msg="ephemeral removal")
    assert b.exists(f"{base}/t1") is not None
