"""corral's AdminServer and /metrics, against Debian's ZooKeeper 3.8.

* Differential: both servers get the same session, nodes and watches; then
  every AdminServer command is asked of both and the answers are compared by
  shape -- field names, their order-free nesting, and JSON types -- never by
  value. Debian's ZooKeeper serves its AdminServer once the servlet API jar
  (libservlet-api-java) is on its classpath (see zkserver.ref_classpath).
* corral alone: every command (and alias) answers valid JSON with
  `command` and `error`; bad requests get an HTTP error with a JSON body and
  never hang; an idle connection is closed after admin.idleTimeout.
* /metrics: ZooKeeper's metric names, and the same numbers as mntr.
* HTTPS (admin.forceHttps, admin.portUnification, the ssl.quorum.* stores),
  differential: what HTTPS and plain HTTP get on the port, and a bad store
  (ZooKeeper serves no AdminServer; corral refuses to start, naming the
  key); corral alone: handshakes bounded in time and count.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.request

import pytest
from kazoo.client import KazooClient

from zkserver import ZKServer, ToolMissing, free_port

PROMETHEUS = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


def start(kind, **kw):
    srv = ZKServer(kind, **kw)
    try:
        return srv.start()
    except ToolMissing as e:
        srv.stop()
        pytest.fail(f"required tool missing: {e}", pytrace=False)


def get(port, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def command(srv, name, query=""):
    status, ctype, body = get(srv.admin_port, f"/commands/{name}{query}")
    assert status == 200, (srv.kind, name, status, body)
    assert ctype.startswith("application/json"), (srv.kind, name, ctype)
    return json.loads(body)


def shape(v):
    """A value's JSON type structure; maps keep their keys, lists the shape
    of their elements (an empty list is 'list of anything')."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        shapes = []
        for x in v:
            sx = shape(x)
            if sx not in shapes:
                shapes.append(sx)
        return ["list", shapes]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if v is None:
        return "null"
    return type(v).__name__


def same_shape(a, b, where):
    """a and b have the same keys (recursively) and the same JSON types;
    maps whose keys are data (session ids, paths, times) compare values only;
    lists compare element shapes when both have elements."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), f"{where}: keys differ: only corral {sorted(set(a) - set(b))}, " \
                                 f"only ZooKeeper {sorted(set(b) - set(a))}"
        for k in a:
            same_shape(a[k], b[k], f"{where}.{k}")
        return
    if isinstance(a, list) and isinstance(b, list):
        if a and b:
            same_shape(a[0], b[0], f"{where}[0]")
        return
    # `error` is null or a string; ints and floats must match exactly.
    assert shape(a) == shape(b), f"{where}: corral {shape(a)!r} vs ZooKeeper {shape(b)!r}"


# Maps keyed by data (ids, paths, times): compare their values' shapes only.
DATA_KEYED = {
    ("dump", "expiry_time_to_session_ids"),
    ("dump", "session_id_to_ephemeral_paths"),
    ("watches", "session_id_to_watched_paths"),
    ("watches_by_path", "path_to_session_ids"),
}


def normalise(name, v):
    out = dict(v)
    for (cmd, key) in DATA_KEYED:
        if cmd == name and isinstance(out.get(key), dict):
            vals = list(out[key].values())
            out[key] = {"<key>": vals[0]} if vals else {}
    return out


def populate(srv):
    zk = KazooClient(hosts=srv.hostport)
    zk.start()
    zk.create("/a", b"hello")
    zk.create("/a/e", b"x", ephemeral=True)
    zk.get("/a", watch=lambda e: None)
    zk.get_children("/a", watch=lambda e: None)
    zk.exists("/nothere", watch=lambda e: None)
    return zk


@pytest.fixture(scope="module")
def pair():
    ref = start("ref", admin=True)
    cor = None
    clients = []
    try:
        # ZooKeeper's JSON types: session ids as numbers, not pseudonyms.
        cor = start("corral", admin=True, extra_cfg={"corral.admin.showSessionIds": "true"})
        clients = [populate(ref), populate(cor)]
        yield cor, ref
    finally:
        for c in clients:
            c.stop()
            c.close()
        ref.stop()
        if cor:
            cor.stop()


def listing(srv):
    status, ctype, body = get(srv.admin_port, "/commands")
    assert status == 200, body
    return sorted(set(part.split('"')[0].rsplit("/", 1)[-1]
                      for part in body.split('href="')[1:]))


def test_the_reference_serves_its_admin_server(pair):
    _, ref = pair
    assert command(ref, "ruok") == {"command": "ruok", "error": None}


def test_same_command_list(pair):
    cor, ref = pair
    names = listing(ref)
    assert len(names) == 26, names
    # And 3.9's snapshot and restore (tests/py/test_backup.py).
    assert listing(cor) == sorted(names + ["restore", "snapshot"])


# Commands whose keys cannot match by nature; checked separately below.
SPECIAL = {"monitor", "system_properties"}


def test_every_command_has_zookeepers_fields_and_types(pair):
    cor, ref = pair
    for name in listing(ref):
        if name in SPECIAL or name in ("stat_reset", "connection_stat_reset"):
            continue
        query = "?traceMask=306" if name == "set_trace_mask" else ""
        a = normalise(name, command(cor, name, query))
        b = normalise(name, command(ref, name, query))
        same_shape(a, b, name)
        # Key order too: `command` and `error` where ZooKeeper puts them.
        assert list(a)[-2:] == list(b)[-2:], (name, list(a), list(b))
    # Resets last (they zero the counters the others show).
    for name in ("stat_reset", "connection_stat_reset"):
        assert command(cor, name) == command(ref, name)


def test_monitor_is_a_typed_subset_of_zookeepers(pair):
    cor, ref = pair
    a, b = command(cor, "monitor"), command(ref, "monitor")
    missing = set(a) - set(b)
    assert not missing, f"corral invents monitor keys: {sorted(missing)}"
    for k in a:
        assert shape(a[k]) == shape(b[k]), (k, a[k], b[k])
    # The gauges mntr has always had (the 4lw's keys) are all there.
    for k in ("znode_count", "watch_count", "ephemerals_count", "approximate_data_size",
              "num_alive_connections", "outstanding_requests", "avg_latency", "min_latency",
              "max_latency", "packets_received", "packets_sent", "global_sessions", "uptime"):
        assert k in a, k


def test_system_properties_are_strings(pair):
    cor, ref = pair
    for srv in (cor, ref):
        v = command(srv, "system_properties")
        assert v["command"] == "system_properties" and v["error"] is None
        assert all(isinstance(x, str) for k, x in v.items() if k not in ("command", "error"))


def test_unknown_command_and_errors_as_zookeeper(pair):
    cor, ref = pair
    for q in ("/commands/bogus", "/commands/set_trace_mask", "/commands/stmk?traceMask=x",
              "/commands/leader"):
        a = get(cor.admin_port, q)
        b = get(ref.admin_port, q)
        assert a[0] == b[0], (q, a, b)
        assert json.loads(a[2]) == json.loads(b[2]), q


def test_aliases_answer_as_their_command(pair):
    cor, _ = pair
    aliases = {"srvr": "server_stats", "stat": "stats", "mntr": "monitor", "conf": "configuration",
               "config": "configuration", "cons": "connections", "crst": "connection_stat_reset",
               "srst": "stat_reset", "envi": "environment", "env": "environment",
               "wchs": "watch_summary", "wchc": "watches", "wchp": "watches_by_path",
               "isro": "is_read_only", "gtmk": "get_trace_mask", "lsnp": "last_snapshot",
               "icfg": "initial_configuration", "sysp": "system_properties", "lead": "leader",
               "obsr": "observers", "orst": "observer_connection_stat_reset"}
    for alias, primary in aliases.items():
        v = command(cor, alias)
        assert v["command"] == primary, (alias, v)
    assert command(cor, "stmk", "?traceMask=12")["tracemask"] == 12
    assert command(cor, "gtmk")["tracemask"] == 12


# ---------------------------------------------------------------- corral alone

@pytest.fixture(scope="module")
def corral():
    srv = start("corral", admin=True, extra_cfg={
        "admin.idleTimeout": "700",
        "metricsProvider.className": PROMETHEUS,
        "metricsProvider.httpHost": "127.0.0.1",
        "metricsProvider.httpPort": str(free_port()),
    })
    zk = populate(srv)
    try:
        yield srv
    finally:
        zk.stop()
        zk.close()
        srv.stop()


def raw(port, data: bytes, timeout=5.0):
    """Sends data, returns (status, json body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)


def test_every_command_answers_json(corral):
    for name in listing(corral):
        if name in ("restore", "snapshot"):
            continue  # guarded, POST: tests/py/test_backup.py
        v = command(corral, name)
        assert v["command"] == name
        assert "error" in v


def test_bad_requests_get_http_errors_with_json(corral):
    p = corral.admin_port
    assert raw(p, b"POST /commands/ruok HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")[0] == 405
    assert raw(p, b"TRACE /commands/ruok HTTP/1.1\r\n\r\n")[0] == 403
    st, body = raw(p, b"this is not http\r\n\r\n")
    assert st == 400 and body["status"] == 400
    st, body = raw(p, b"GET /commands/ruok HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    assert st == 431 and "error" in body
    st, body = raw(p, b"GET /nowhere HTTP/1.1\r\n\r\n")
    assert st == 404 and body["error"] == "Not Found"
    st, body = raw(p, b"GET /commands/ruok HTTP/2.0\r\n\r\n")
    assert st == 505


def test_idle_connections_time_out(corral):
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", corral.admin_port), timeout=10) as s:
        assert s.recv(100) == b""  # closed by the server, not by our timeout
    took = time.monotonic() - t0
    assert 0.5 < took < 5, took
    # A half-sent request also ends, with 408.
    with socket.create_connection(("127.0.0.1", corral.admin_port), timeout=10) as s:
        s.sendall(b"GET /commands/ruok HTTP/1.1\r\n")
        assert b" 408 " in s.recv(200)
    # And the server still answers.
    assert command(corral, "ruok")["error"] is None


# ZooKeeper 3.8's gauges (ZooKeeperServer.registerMetrics) that corral
# computes, and its fsynctime/snapshottime summaries (ServerMetrics).
ZK_METRICS = ["avg_latency", "max_latency", "min_latency", "packets_received", "packets_sent",
              "num_alive_connections", "outstanding_requests", "uptime", "znode_count",
              "watch_count", "ephemerals_count", "approximate_data_size", "global_sessions",
              "local_sessions", "open_file_descriptor_count", "max_file_descriptor_count",
              "fsynctime_count", "fsynctime_sum", "snapshottime_count", "snapshottime_sum"]
CORRAL_METRICS = ["corral_shard_connections", "corral_shard_packets_received_total",
                  "corral_shard_request_latency_seconds_count", "corral_log_batches_total",
                  "corral_log_fsync_seconds_sum", "corral_sequencer_queue",
                  "corral_zxid_counter_remaining", "corral_stalls_total"]


def metrics(srv):
    port = int(srv.extra_cfg["metricsProvider.httpPort"])
    status, ctype, body = get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return body, samples


def mntr(srv):
    with socket.create_connection((srv.host, srv.port), timeout=5) as s:
        s.sendall(b"mntr")
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    return dict(line.split("\t", 1) for line in buf.decode().splitlines())


def test_metrics_names_and_mntr_agree(corral):
    body, samples = metrics(corral)
    names = {k.split("{")[0] for k in samples}
    for n in ZK_METRICS + CORRAL_METRICS:
        assert n in names, n
    assert "# TYPE znode_count gauge" in body
    assert samples["fsynctime_count"] >= 2  # the writes populate() made
    m = mntr(corral)
    for k in ("znode_count", "ephemerals_count", "watch_count", "approximate_data_size",
              "global_sessions", "max_file_descriptor_count"):
        assert float(m[f"zk_{k}"]) == samples[k], k
    assert samples["znode_count"] == 7
    assert get(int(corral.extra_cfg["metricsProvider.httpPort"]), "/other")[0] == 404


def test_admin_port_in_use_is_logged_and_clients_still_served():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        srv = start("corral", extra_cfg={"admin.enableServer": "true",
                                         "admin.serverAddress": "127.0.0.1",
                                         "admin.serverPort": str(port)})
        try:
            with socket.create_connection((srv.host, srv.port), timeout=5) as s:
                s.sendall(b"ruok")
                assert s.recv(10) == b"imok"
            assert "problem starting AdminServer" in srv.log.read_text()
        finally:
            srv.stop()


# ---------------------------------------------------------------- HTTPS
# admin.forceHttps / admin.portUnification with the ssl.quorum.* stores,
# as ZooKeeper's JettyAdminServer reads them. Stores: tests/tls/make-stores.sh.

def https_cfg(stores, mode, **extra):
    cfg = {
        mode: "true",
        "ssl.quorum.keyStore.location": str(stores / "server.p12"),
        "ssl.quorum.keyStore.password": "storepw",
        "ssl.quorum.trustStore.location": str(stores / "truststore.jks"),
        "ssl.quorum.trustStore.password": "storepw",
    }
    cfg.update(extra)
    return cfg


def https_get(stores, port, path="/commands/ruok"):
    """(status, HSTS header, body) over HTTPS, checking the server's
    certificate against the test CA (its SAN holds 127.0.0.1)."""
    ctx = ssl.create_default_context(cafile=str(stores / "ca.crt"))
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Strict-Transport-Security"), r.read().decode()
    finally:
        c.close()


def plain_outcome(port):
    """What a plain HTTP request to the port gets: an HTTP answer, a TLS
    record (an alert), or the connection closed with nothing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /commands/ruok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        buf = b""
        try:
            while chunk := s.recv(65536):
                buf += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    if buf.startswith(b"HTTP/"):
        return "HTTP " + buf.split(b" ")[1].decode()
    if buf[:1] == b"\x15" and len(buf) >= 7:
        # Its level; the description differs: Java's internal_error (80),
        # rustls' decode_error (50).
        return "fatal TLS alert" if buf[5] == 2 else f"TLS alert level {buf[5]}"
    return "closed" if not buf else f"other {buf[:16]!r}"


def https_steps(kind, stores, mode):
    srv = start(kind, admin=True, extra_cfg=https_cfg(stores, mode))
    try:
        status, hsts, body = https_get(stores, srv.admin_port)
        return {
            "https": (status, json.loads(body)),
            "hsts": hsts,
            "plain http": plain_outcome(srv.admin_port),
        }
    finally:
        srv.stop()


RUOK = (200, {"command": "ruok", "error": None})
HSTS = "max-age=86400; includeSubDomains"


def test_force_https_serves_https_only_as_zookeeper(stores):
    ref = https_steps("ref", stores, "admin.forceHttps")
    ours = https_steps("corral", stores, "admin.forceHttps")
    assert ref["https"] == RUOK and ref["hsts"] == HSTS, ref
    assert ref["plain http"] == "fatal TLS alert", ref
    assert ours == ref


def test_port_unification_serves_http_and_https_as_zookeeper(stores):
    ref = https_steps("ref", stores, "admin.portUnification")
    ours = https_steps("corral", stores, "admin.portUnification")
    assert ref == {"https": RUOK, "hsts": HSTS, "plain http": "HTTP 200"}, ref
    assert ours == ref


def admin_served(srv) -> bool:
    try:
        socket.create_connection(("127.0.0.1", srv.admin_port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("change,needle", [
    ({"ssl.quorum.keyStore.password": "wrong"}, "ssl.quorum.keyStore.location"),
    ({"ssl.quorum.trustStore.location": "/nonexistent/trust.jks"}, "ssl.quorum.trustStore.location"),
    ({"ssl.quorum.trustStore.location": ""}, "ssl.quorum.trustStore.location"),
])
def test_a_bad_admin_store_stops_corral_and_zookeeper_serves_no_admin_server(stores, change, needle):
    cfg = https_cfg(stores, "admin.forceHttps", **change)
    # ZooKeeper logs the failure and serves clients without an AdminServer.
    ref = start("ref", admin=True, extra_cfg=cfg)
    try:
        assert not admin_served(ref)
        log = ref.log.read_text()
        assert "Failed to load authentication certificates for admin server" in log
        assert "Unable to start JettyAdminServer" in log
    finally:
        ref.stop()
    # corral refuses to start, naming the key.
    srv = ZKServer("corral", extra_cfg=cfg, admin=True, start_timeout=10)
    with pytest.raises(RuntimeError) as e:
        srv.start()
    srv.stop()
    assert needle in str(e.value), e.value


def test_https_handshakes_are_bounded_in_time_and_count(stores):
    # corral alone: a handshake is part of reading the request (a 1 s
    # deadline here), and a stalled one is a connection the cap of 2 may
    # close for a newcomer. ZooKeeper's Jetty bounds it by idleTimeout.
    srv = start("corral", admin=True, extra_cfg=https_cfg(
        stores, "admin.forceHttps", **{"corral.admin.requestTimeoutMs": "1000",
                                        "corral.admin.maxConnections": "2"}))
    try:
        hello = b"\x16\x03\x01\x02\x00\x01"  # the start of a ClientHello, never finished
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.admin_port), timeout=10) as s:
            s.sendall(hello)
            assert s.recv(100) == b""  # closed by the server
        assert time.monotonic() - t0 < 5
        stalled = [socket.create_connection(("127.0.0.1", srv.admin_port)) for _ in range(4)]
        try:
            for s in stalled:
                s.sendall(hello)
            time.sleep(0.5)  # the ones closed for a newcomer leave
            assert https_get(stores, srv.admin_port)[0] == 200
        finally:
            for s in stalled:
                s.close()
        # Clients are served all along.
        with socket.create_connection((srv.host, srv.port), timeout=5) as s:
            s.sendall(b"ruok")
            assert s.recv(10) == b"imok"
    finally:
        srv.stop()
