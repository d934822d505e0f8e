"""TLS on the client port (secureClientPort, client.portUnification) and
x509 ACLs, differential: the same zoo.cfg, stores and client steps against
Debian's ZooKeeper 3.8 (Netty) and corral, and the outcomes compared.

Stores come from tests/tls/make-stores.sh (keytool + openssl), as an
operator makes them for ZooKeeper."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

from conftest import start_server
from zkserver import free_port

CLIENT_DN = "CN=client,OU=test,O=corral"
ADMIN_DN = "CN=admin,OU=test,O=corral"


def tls_cfg(stores: Path, server_store: str, trust: str = "truststore.jks", **extra) -> dict:
    cfg = {
        "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
        "secureClientPort": str(free_port()),
        "secureClientPortAddress": "127.0.0.1",
        "ssl.keyStore.location": str(stores / server_store),
        "ssl.keyStore.password": "storepw",
        "ssl.trustStore.location": str(stores / trust),
        "ssl.trustStore.password": "storepw",
    }
    cfg.update(extra)
    return cfg


def client(stores: Path, port: int, who: str | None) -> KazooClient:
    kw = {}
    if who is not None:
        kw = {"certfile": str(stores / f"{who}-cert.pem"), "keyfile": str(stores / f"{who}-key.pem")}
    return KazooClient(hosts=f"127.0.0.1:{port}", use_ssl=True, ca=str(stores / "ca.crt"),
                       verify_certs=True, timeout=4, connection_retry={"max_tries": 0},
                       **kw)


def outcome(stores: Path, port: int, who: str | None) -> str:
    """What `who` (a client certificate, or none) may do: connect, then
    read the node only CLIENT_DN may read."""
    zk = client(stores, port, who)
    try:
        zk.start(timeout=4)
    except Exception as e:  # noqa: BLE001 - the kind is the outcome
        zk.close()
        return f"no connection ({type(e).__name__})"
    try:
        try:
            zk.get("/only-client")
            return "reads"
        except NoAuthError:
            return "connects, NoAuth"
    finally:
        zk.stop()
        zk.close()


def run_steps(kind: str, stores: Path, cfg: dict) -> dict:
    srv = start_server(kind, cfg)
    try:
        port = int(cfg["secureClientPort"])
        owner = client(stores, port, "client")
        owner.start(timeout=10)
        owner.create("/only-client", b"x", acl=[make_acl("x509", CLIENT_DN, all=True)])
        owner.stop()
        owner.close()
        got = {who or "no cert": outcome(stores, port, who)
               for who in ("client", "admin", "stranger", "expired", None)}
        # Plain text to the TLS port: no ZooKeeper answer.
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"ruok")
            s.settimeout(3)
            try:
                data = s.recv(64)
            except (socket.timeout, ConnectionResetError):
                data = b""
            got["plain text to the TLS port"] = "imok" if data == b"imok" else "refused"
        return got
    finally:
        srv.stop()


@pytest.mark.parametrize("server_store", ["server.jks", "server.p12", "server-nopw.pem"])
def test_tls_and_x509_outcomes_match_zookeeper(stores, server_store):
    # A PEM key store without a password holds a plain PKCS#8 key.
    pw = {"ssl.keyStore.password": ""} if server_store.endswith(".pem") else {}
    cfg = tls_cfg(stores, server_store, **pw)
    ref = run_steps("ref", stores, cfg)
    ours = run_steps("corral", stores, dict(cfg, secureClientPort=str(free_port())))
    assert ref == {
        "client": "reads",
        "admin": "connects, NoAuth",
        "stranger": ref["stranger"],
        "expired": ref["expired"],
        "no cert": ref["no cert"],
        "plain text to the TLS port": "refused",
    }, ref
    # An untrusted and an expired client certificate never connect.
    assert ref["stranger"].startswith("no connection"), ref
    assert ref["expired"].startswith("no connection"), ref
    assert ours == ref


def test_client_auth_want_and_the_x509_super_user_match_zookeeper(stores):
    cfg = tls_cfg(stores, "server.p12", trust="truststore.p12", **{
        "ssl.clientAuth": "want",
        "X509AuthenticationProvider.superUser": ADMIN_DN,
    })
    ref = run_steps("ref", stores, cfg)
    ours = run_steps("corral", stores, dict(cfg, secureClientPort=str(free_port())))
    assert ref["admin"] == "reads" and ref["no cert"] == "connects, NoAuth", ref
    assert ours == ref


def test_an_encrypted_pem_key_store_is_read_with_its_password(stores):
    # ZooKeeper 3.8.0's PemReader refuses openssl's PBES2 (AES-256) PKCS#8
    # key that corral reads (docs/security.md): corral only.
    cfg = tls_cfg(stores, "server.pem")
    srv = start_server("corral", cfg)
    try:
        zk = client(stores, int(cfg["secureClientPort"]), "client")
        zk.start(timeout=10)
        zk.create("/e", b"pem")
        assert zk.get("/e")[0] == b"pem"
        zk.stop()
        zk.close()
    finally:
        srv.stop()


def test_port_unification_serves_tls_and_plain_on_one_port(stores):
    cfg = tls_cfg(stores, "server.pem", trust="truststore.pem", **{"client.portUnification": "true"})
    srv = start_server("corral", cfg)
    try:
        zk = client(stores, srv.port, "client")
        zk.start(timeout=10)
        zk.create("/u", b"tls")
        zk.stop()
        zk.close()
        plain = KazooClient(hosts=srv.hostport, timeout=4)
        plain.start(timeout=10)
        assert plain.get("/u")[0] == b"tls"
        plain.stop()
        plain.close()
    finally:
        srv.stop()


def test_a_handshake_that_never_finishes_is_closed(stores):
    cfg = tls_cfg(stores, "server.p12", **{"ssl.handshakeDetectionTimeoutMillis": "500"})
    srv = start_server("corral", cfg)
    try:
        port = int(cfg["secureClientPort"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01")  # a TLS record header, then silence
            s.settimeout(5)
            assert s.recv(64) == b"", "the server closes a stalled handshake"
    finally:
        srv.stop()


@pytest.mark.parametrize("change,needle", [
    ({"ssl.keyStore.password": "wrong"}, "ssl.keyStore.location"),
    ({"ssl.keyStore.location": "/nonexistent/key.p12"}, "ssl.keyStore.location"),
    ({"ssl.trustStore.password": "wrong"}, "ssl.trustStore.location"),
])
def test_a_bad_store_refuses_to_start_naming_the_key(stores, tmp_path, change, needle):
    cfg = tls_cfg(stores, "server.p12", **change)
    lines = [f"dataDir={tmp_path}", f"clientPort={free_port()}", "clientPortAddress=127.0.0.1",
             "admin.enableServer=false"] + [f"{k}={v}" for k, v in cfg.items()]
    (tmp_path / "zoo.cfg").write_text("\n".join(lines) + "\n")
    from zkserver import corral_bin
    r = subprocess.run([str(corral_bin()), str(tmp_path / "zoo.cfg")], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr


# The Java client (ZooKeeperMain, the program zkCli.sh runs) with Netty and
# TLS. Debian's zkEnv.sh sets a class path without netty-codec, -resolver
# and friends, so zkCli.sh itself cannot load the Netty socket; the same
# main class is run with them added.
JAVA_CP = ":".join(["/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar"] + [
    f"/usr/share/java/netty-{m}.jar" for m in ("codec", "resolver", "handler", "transport")])


def java_get(stores: Path, port: int, key_store: str, path: str) -> str:
    from zkserver import java_bin
    p = subprocess.run([
        java_bin(), "-cp", JAVA_CP,
        "-Dzookeeper.client.secure=true",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        f"-Dzookeeper.ssl.keyStore.location={stores / key_store}",
        "-Dzookeeper.ssl.keyStore.password=storepw",
        f"-Dzookeeper.ssl.trustStore.location={stores / 'truststore.p12'}",
        "-Dzookeeper.ssl.trustStore.password=storepw",
        "org.apache.zookeeper.ZooKeeperMain", "-server", f"127.0.0.1:{port}", "get", path,
    ], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    for needle, what in (("secret", "reads"), ("Insufficient permission", "NoAuth"),
                         ("ConnectionLoss", "no connection")):
        if needle in out:
            return what
    return f"rc={p.returncode}: {out[-300:]}"


def test_the_java_client_over_tls_sees_what_zookeeper_shows(stores):
    results = {}
    for kind in ("ref", "corral"):
        cfg = tls_cfg(stores, "server.jks")
        srv = start_server(kind, cfg)
        try:
            port = int(cfg["secureClientPort"])
            owner = client(stores, port, "client")
            owner.start(timeout=10)
            owner.create("/only-client", b"secret", acl=[make_acl("x509", CLIENT_DN, all=True)])
            owner.stop()
            owner.close()
            results[kind] = {ks: java_get(stores, port, ks, "/only-client")
                             for ks in ("client.p12", "admin.jks", "stranger.p12")}
        finally:
            srv.stop()
    assert results["ref"] == {"client.p12": "reads", "admin.jks": "NoAuth",
                              "stranger.p12": "no connection"}, results
    assert results["corral"] == results["ref"]


def served_cn(stores: Path, port: int) -> str:
    ctx = ssl.create_default_context(cafile=str(stores / "ca.crt"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(stores / "client-cert.pem"), str(stores / "client-key.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return subject["commonName"]


def test_cert_reload_serves_a_rotated_key_store_to_new_connections(stores, tmp_path):
    import shutil
    import time
    live = tmp_path / "live.p12"
    shutil.copy(stores / "server.p12", live)
    cfg = tls_cfg(stores, "server.p12", **{"ssl.keyStore.location": str(live),
                                           "client.certReload": "true"})
    srv = start_server("corral", cfg)
    try:
        port = int(cfg["secureClientPort"])
        assert served_cn(stores, port) == "localhost"
        # A damaged store is refused and the last good one stays in use.
        live.write_bytes(b"not a store")
        time.sleep(2.5)
        assert served_cn(stores, port) == "localhost"
        shutil.copy(stores / "server2.p12", live)
        deadline = time.monotonic() + 10
        while served_cn(stores, port) != "server2" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert served_cn(stores, port) == "server2"
        assert "cannot be used" in srv.log.read_text()
    finally:
        srv.stop()
