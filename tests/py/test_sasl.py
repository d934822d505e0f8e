"""SASL (DIGEST-MD5) on the client port, `sasl` ACLs and required
authentication, differential: the same zoo.cfg, JAAS file and client steps
against Debian's ZooKeeper 3.8 and corral, and the outcomes compared.

Clients: a raw protocol session driving pure-sasl's DIGEST-MD5 client (so
each step's error code and the connection's fate are seen), kazoo with
`sasl_options`, and the Java client (ZooKeeperMain) with a JAAS `Client`
section."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl
from puresasl.client import SASLClient

from conftest import start_server
from zkproto import OP, ConnectionClosed, NoReply, RawSession, W, body_path_watch

SERVER_JAAS = """
// as ZooKeeper's documentation shows it
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_bob="bobsecret"
    user_alice="alicesecret"
    user_admin="adminsecret";
};
"""

CLOSED = (OSError, EOFError, ConnectionError, struct.error, ConnectionClosed, NoReply)

SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"


@pytest.fixture(scope="module")
def jaas(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("jaas")
    (d / "server.jaas").write_text(SERVER_JAAS)
    return d


def server(kind: str, jaas: Path | None, **cfg):
    flags = {"java.security.auth.login.config": str(jaas / "server.jaas")} if jaas else {}
    return start_server(kind, cfg, jvm_flags=flags)


# ----------------------------------------------------------------- raw steps

def alive(s: RawSession) -> bool:
    """Whether the connection still answers (a ping)."""
    try:
        s.sock.settimeout(3)
        return s.ping().err == 0
    except CLOSED + (AssertionError,):
        return False


def sasl_packet(s: RawSession, token: bytes):
    """One SASL packet: (error name, token or None), or 'closed'."""
    try:
        r = s.request(OP["sasl"], W().buffer(token).bytes())
    except CLOSED:
        return "closed"
    tok = r.body.buffer() if r.body.remaining() >= 4 else "no body"
    return (r.errname, tok, r.zxid)


def digest_exchange(s: RawSession, user: str, pw: str, tamper=None) -> list:
    """Runs DIGEST-MD5 as kazoo does; returns each step's outcome."""
    cli = SASLClient("zk-sasl-md5", "zookeeper", mechanism="DIGEST-MD5",
                     username=user, password=pw)
    steps = []
    first = sasl_packet(s, b"")
    steps.append(first)
    if first == "closed" or first[0] != "OK" or not first[1]:
        return steps
    challenge = first[1]
    response = cli.process(challenge)
    if tamper:
        response = tamper(response)
    second = sasl_packet(s, response)
    if second != "closed" and second[0] == "OK" and second[1]:
        cli.process(second[1])  # checks rspauth: raises if the server is fake
        second = (second[0], "rspauth ok", second[2])
    steps.append(second)
    return steps


def shape(steps: list) -> list:
    """Steps with the random challenge left out."""
    out = []
    for st in steps:
        if st == "closed":
            out.append(st)
        else:
            err, tok, zxid = st
            if isinstance(tok, bytes):
                tok = "challenge" if b"nonce=" in tok else tok
            out.append((err, tok, zxid))
    return out


def who_am_i(s: RawSession) -> list:
    r = s.request(OP["whoAmI"])
    n = r.body.int()
    return sorted((r.body.string(), r.body.string()) for _ in range(n))


def raw(srv) -> RawSession:
    return RawSession(srv.host, srv.port)


def raw_case(srv, user, pw, tamper=None, then=None) -> dict:
    s = raw(srv)
    try:
        steps = shape(digest_exchange(s, user, pw, tamper))
        out = {"steps": steps, "alive": alive(s)}
        if out["alive"]:
            out["whoami"] = who_am_i(s)
            if then:
                out["then"] = then(s)
        return out
    finally:
        s.drop()


def kazoo_reads(srv, path: str, who: tuple[str, str] | None) -> str:
    kw = {}
    if who:
        kw["sasl_options"] = {"mechanism": "DIGEST-MD5", "username": who[0], "password": who[1]}
    zk = KazooClient(hosts=srv.hostport, timeout=5, connection_retry={"max_tries": 0}, **kw)
    try:
        zk.start(timeout=8)
    except Exception as e:  # noqa: BLE001 - the kind is the outcome
        zk.close()
        return f"no connection ({type(e).__name__})"
    try:
        return "reads" if zk.get(path)[0] == b"secret" else "wrong data"
    except NoAuthError:
        return "NoAuth"
    except Exception as e:  # noqa: BLE001 - the kind is the outcome
        return type(e).__name__
    finally:
        zk.stop()
        zk.close()


# ------------------------------------------------------------ DIGEST + ACLs

def digest_steps(kind: str, jaas: Path) -> dict:
    srv = server(kind, jaas, **{"authProvider.1": SASL_PROVIDER, "superUser": "admin"})
    try:
        owner = KazooClient(hosts=srv.hostport, timeout=5, sasl_options={
            "mechanism": "DIGEST-MD5", "username": "bob", "password": "bobsecret"})
        owner.start(timeout=10)
        owner.create("/bob", b"secret", acl=[make_acl("sasl", "bob", all=True)])
        # `auth` expands to the connection's sasl id.
        owner.create("/auth", b"secret", acl=[make_acl("auth", "", all=True)])
        got = {"auth acl": [(a.id.scheme, a.id.id) for a in owner.get_acls("/auth")[0]]}
        # A sasl id that is not a valid Kerberos name is an invalid ACL.
        try:
            owner.create("/bad", b"", acl=[make_acl("sasl", "a@b@c", all=True)])
            got["malformed sasl acl"] = "created"
        except Exception as e:  # noqa: BLE001
            got["malformed sasl acl"] = type(e).__name__
        owner.stop()
        owner.close()
        for name, who in (("bob", ("bob", "bobsecret")), ("alice", ("alice", "alicesecret")),
                          ("admin (superUser)", ("admin", "adminsecret")), ("anonymous", None),
                          ("bob, wrong password", ("bob", "nope"))):
            got[f"kazoo {name}"] = kazoo_reads(srv, "/bob", who)
        got["raw bob"] = raw_case(srv, "bob", "bobsecret")
        got["raw admin"] = raw_case(srv, "admin", "adminsecret")
        got["raw wrong password"] = raw_case(srv, "bob", "wrong")
        got["raw unknown user"] = raw_case(srv, "eve", "x")
        got["raw garbage response"] = raw_case(srv, "bob", "bobsecret",
                                               tamper=lambda r: b"\x00\xffgarbage,=,\"")
        got["raw tampered digest-uri"] = raw_case(
            srv, "bob", "bobsecret",
            tamper=lambda r: r.replace(b"zookeeper/zk-sasl-md5", b"zookeeper/elsewhere"))
        # A first token that is not empty (DIGEST-MD5 has no initial response).
        s = raw(srv)
        got["raw initial response"] = [shape([sasl_packet(s, b"username=bob")]), alive(s)]
        s.drop()
        # A second exchange after success.
        s = raw(srv)
        shape(digest_exchange(s, "bob", "bobsecret"))
        got["raw again after success"] = [shape([sasl_packet(s, b"")]), alive(s)]
        s.drop()
        # addauth sasl: the provider authenticates through SASL packets only.
        s = raw(srv)
        r = s.request(OP["auth"], W().int(0).string("sasl").buffer(b"bob:bobsecret").bytes(), xid=-4)
        got["addauth sasl"] = [r.errname, alive(s)]
        s.drop()
        return got
    finally:
        srv.stop()


def test_digest_md5_and_sasl_acls_match_zookeeper(jaas):
    ref = digest_steps("ref", jaas)
    ours = digest_steps("corral", jaas)
    assert ref["kazoo bob"] == "reads", ref
    assert ref["kazoo alice"] == "NoAuth", ref
    assert ref["kazoo admin (superUser)"] == "reads", ref
    assert ref["raw bob"]["whoami"] == [("ip", "127.0.0.1"), ("sasl", "bob")], ref
    assert ref["raw wrong password"]["alive"] is False, ref
    diff = {k: (ref[k], ours.get(k)) for k in ref if ours.get(k) != ref[k]}
    assert not diff, f"(ZooKeeper, corral): {diff}"
    assert ours == ref


def test_without_a_jaas_file_sasl_answers_an_empty_token_as_zookeeper_does():
    got = {}
    for kind in ("ref", "corral"):
        srv = server(kind, None)
        try:
            s = raw(srv)
            got[kind] = [shape([sasl_packet(s, b"")]), alive(s)]
            s.drop()
        finally:
            srv.stop()
    assert got["ref"] == [[("OK", None, 0)], True], got
    assert got["corral"] == got["ref"]


def test_sasl_acls_need_the_provider_as_in_zookeeper(jaas):
    """Without authProvider.N=SASLAuthenticationProvider, a SASL login works
    but `sasl` ACLs are invalid."""
    got = {}
    for kind in ("ref", "corral"):
        srv = server(kind, jaas)
        try:
            zk = KazooClient(hosts=srv.hostport, timeout=5, sasl_options={
                "mechanism": "DIGEST-MD5", "username": "bob", "password": "bobsecret"})
            zk.start(timeout=10)
            try:
                zk.create("/s", b"", acl=[make_acl("sasl", "bob", all=True)])
                got[kind] = "created"
            except Exception as e:  # noqa: BLE001
                got[kind] = type(e).__name__
            zk.stop()
            zk.close()
        finally:
            srv.stop()
    assert got["ref"] == "InvalidACLError", got
    assert got["corral"] == got["ref"]


# ------------------------------------------------------------- enforcement

def enforced_steps(kind: str, jaas: Path, cfg: dict) -> dict:
    srv = server(kind, jaas, **cfg)
    got = {}
    try:
        for name, op, body in (("ping", "ping", b""), ("exists", "exists", body_path_watch("/")),
                               ("getData", "getData", body_path_watch("/zookeeper"))):
            s = raw(srv)
            try:
                xid = -2 if op == "ping" else None
                r = s.request(OP[op], body, xid=xid)
                got[f"anonymous {name}"] = [r.errname, r.zxid, alive(s)]
            except CLOSED:
                got[f"anonymous {name}"] = "closed"
            finally:
                s.drop()
        got["bob"] = raw_case(srv, "bob", "bobsecret",
                              then=lambda s: s.request(OP["exists"], body_path_watch("/")).errname)
        got["wrong password"] = raw_case(srv, "bob", "wrong")
        got["garbage response"] = raw_case(srv, "bob", "bobsecret", tamper=lambda r: b"x")
        s = raw(srv)
        r = s.request(OP["auth"], W().int(0).string("digest").buffer(b"u:p").bytes(), xid=-4)
        try:
            r2 = s.request(OP["exists"], body_path_watch("/"))
            got["digest then exists"] = [r.errname, r2.errname, alive(s)]
        except CLOSED:
            got["digest then exists"] = [r.errname, "closed"]
        s.drop()
        got["kazoo anonymous"] = kazoo_reads(srv, "/zookeeper", None)
        return got
    finally:
        srv.stop()


@pytest.mark.parametrize("cfg", [
    {"authProvider.1": SASL_PROVIDER, "sessionRequireClientSASLAuth": "true"},
    {"authProvider.1": SASL_PROVIDER, "enforce.auth.enabled": "true",
     "enforce.auth.schemes": "sasl"},
    {"enforce.auth.enabled": "true", "enforce.auth.schemes": "digest"},
    {"authProvider.1": SASL_PROVIDER, "allowSaslFailedClients": "true"},
], ids=["sessionRequireClientSASLAuth", "enforce-sasl", "enforce-digest", "allowSaslFailedClients"])
def test_required_authentication_matches_zookeeper(jaas, cfg):
    ref = enforced_steps("ref", jaas, cfg)
    ours = enforced_steps("corral", jaas, cfg)
    diff = {k: (ref[k], ours.get(k)) for k in ref if ours.get(k) != ref[k]}
    assert not diff, f"(ZooKeeper, corral): {diff}"
    assert ours == ref


def test_enforcing_a_scheme_without_a_provider_refuses_to_start(tmp_path):
    from zkserver import corral_bin, free_port
    (tmp_path / "zoo.cfg").write_text(
        f"dataDir={tmp_path}\nclientPort={free_port()}\nadmin.enableServer=false\n"
        "enforce.auth.enabled=true\nenforce.auth.schemes=sasl\n")
    r = subprocess.run([str(corral_bin()), str(tmp_path / "zoo.cfg")], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0
    assert "enforce.auth.schemes" in r.stderr and "sasl" in r.stderr, r.stderr


@pytest.mark.parametrize("jaas_text,needle", [
    ("Server { com.sun.security.auth.module.Krb5LoginModule required; };", "Krb5LoginModule"),
    ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"x\" };",
     "server.jaas: line 1"),
])
def test_a_jaas_file_corral_cannot_use_refuses_to_start(tmp_path, jaas_text, needle):
    import os
    from zkserver import corral_bin, free_port
    (tmp_path / "server.jaas").write_text(jaas_text)
    (tmp_path / "zoo.cfg").write_text(
        f"dataDir={tmp_path}\nclientPort={free_port()}\nadmin.enableServer=false\n")
    env = dict(os.environ,
               SERVER_JVMFLAGS=f"-Djava.security.auth.login.config={tmp_path / 'server.jaas'}")
    r = subprocess.run([str(corral_bin()), str(tmp_path / "zoo.cfg")], capture_output=True,
                       text=True, timeout=20, env=env)
    assert r.returncode != 0
    assert needle in r.stderr and "java.security.auth.login.config" in r.stderr, r.stderr


# ------------------------------------------------------------ Java client

def java_get(jaas_dir: Path, port: int, user: str, pw: str, path: str) -> str:
    from zkserver import java_bin
    client_jaas = jaas_dir / f"client-{user}.jaas"
    client_jaas.write_text(
        "Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n"
        f'  username="{user}"\n  password="{pw}";\n}};\n')
    p = subprocess.run([
        java_bin(), "-cp", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
        f"-Djava.security.auth.login.config={client_jaas}",
        "org.apache.zookeeper.ZooKeeperMain", "-server", f"127.0.0.1:{port}", "get", path,
    ], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    for needle, what in (("secret", "reads"), ("Insufficient permission", "NoAuth"),
                         ("AuthFailed", "auth failed"), ("ConnectionLoss", "no connection")):
        if needle in out:
            return what
    return f"rc={p.returncode}: {out[-300:]}"


def test_the_java_client_with_a_jaas_client_section_sees_what_zookeeper_shows(jaas):
    results = {}
    for kind in ("ref", "corral"):
        srv = server(kind, jaas, **{"authProvider.1": SASL_PROVIDER})
        try:
            owner = KazooClient(hosts=srv.hostport, timeout=5, sasl_options={
                "mechanism": "DIGEST-MD5", "username": "bob", "password": "bobsecret"})
            owner.start(timeout=10)
            owner.create("/bob", b"secret", acl=[make_acl("sasl", "bob", all=True)])
            owner.stop()
            owner.close()
            results[kind] = {u: java_get(jaas, srv.port, u, pw, "/bob")
                             for u, pw in (("bob", "bobsecret"), ("alice", "alicesecret"),
                                           ("bob-wrong", "x"))}
        finally:
            srv.stop()
    assert results["ref"]["bob"] == "reads" and results["ref"]["alice"] == "NoAuth", results
    assert results["corral"] == results["ref"]




# ------------------------------------------------------------- Kerberos

KRB_SERVER_JAAS = """
Server {{
    com.sun.security.auth.module.Krb5LoginModule required
    useKeyTab=true
    keyTab="{dir}/zookeeper_localhost.keytab"
    storeKey=true
    useTicketCache=false
    principal="zookeeper/localhost@EXAMPLE.COM";
}};
"""


@pytest.fixture(scope="module")
def kdc(tmp_path_factory):
    """A throw-away MIT KDC (tests/krb/kdc.sh) with principals
    zookeeper/localhost, bob and alice, and their keytabs."""
    from zkserver import REPO, free_port
    d = tmp_path_factory.mktemp("kdc")
    r = subprocess.run(["bash", str(REPO / "tests/krb/kdc.sh"), str(d), str(free_port())],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"kdc.sh failed:\n{r.stdout}\n{r.stderr}", pytrace=False)
    (d / "server.jaas").write_text(KRB_SERVER_JAAS.format(dir=d))
    yield d
    subprocess.run(["kill", (d / "kdc.pid").read_text().strip()], check=False)


def java_krb(kdc: Path, port: int, user: str, *cmd: str) -> str:
    from zkserver import java_bin
    jaas = kdc / f"client-{user}.jaas"
    jaas.write_text(
        "Client {\n  com.sun.security.auth.module.Krb5LoginModule required\n"
        f'  useKeyTab=true keyTab="{kdc}/{user}.keytab" storeKey=true useTicketCache=false\n'
        f'  principal="{user}@EXAMPLE.COM";\n}};\n')
    p = subprocess.run([
        java_bin(), "-cp", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar",
        f"-Djava.security.auth.login.config={jaas}",
        f"-Djava.security.krb5.conf={kdc / 'krb5.conf'}",
        "org.apache.zookeeper.ZooKeeperMain", "-server", f"127.0.0.1:{port}", *cmd,
    ], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.stdout + p.stderr


def krb_steps(kind: str, kdc: Path, **cfg) -> dict:
    flags = {"java.security.auth.login.config": str(kdc / "server.jaas"),
             "java.security.krb5.conf": str(kdc / "krb5.conf")}
    srv = start_server(kind, {"authProvider.1": SASL_PROVIDER, **cfg}, jvm_flags=flags)
    try:
        got = {}
        out = java_krb(kdc, srv.port, "bob", "whoami")
        got["bob whoami"] = sorted(line.strip() for line in out.splitlines()
                                   if line.startswith(("ip:", "sasl:", "super:")))
        got["bob authenticated"] = "SaslAuthenticated" in out
        me = "bob" if cfg.get("kerberos.removeRealmFromPrincipal") == "true" else "bob@EXAMPLE.COM"
        java_krb(kdc, srv.port, "bob", "create", "/k", "secret", f"sasl:{me}:cdrwa")
        for user in ("bob", "alice"):
            out = java_krb(kdc, srv.port, user, "get", "/k")
            got[f"{user} get"] = ("reads" if "secret" in out else
                                  "NoAuth" if "Insufficient permission" in out else out[-300:])
        # A garbage GSSAPI token, then an anonymous session.
        s = raw(srv)
        got["garbage token"] = [shape([sasl_packet(s, b"\x60\x05garbage")]), alive(s)]
        s.drop()
        return got
    finally:
        srv.stop()


@pytest.mark.parametrize("cfg", [{}, {"kerberos.removeRealmFromPrincipal": "true"}],
                         ids=["realm kept", "removeRealmFromPrincipal"])
def test_kerberos_logins_match_zookeeper(kdc, cfg):
    ref = krb_steps("ref", kdc, **cfg)
    ours = krb_steps("corral", kdc, **cfg)
    assert ref["bob authenticated"] is True and ref["bob get"] == "reads", ref
    assert ref["alice get"] == "NoAuth", ref
    diff = {k: (ref[k], ours.get(k)) for k in ref if ours.get(k) != ref[k]}
    assert not diff, f"(ZooKeeper, corral): {diff}"


def test_a_keytab_without_the_principal_refuses_to_start(kdc, tmp_path):
    import os
    from zkserver import corral_bin, free_port
    jaas = tmp_path / "server.jaas"
    jaas.write_text(KRB_SERVER_JAAS.format(dir=kdc).replace(
        "zookeeper_localhost.keytab", "bob.keytab"))
    (tmp_path / "zoo.cfg").write_text(
        f"dataDir={tmp_path}\nclientPort={free_port()}\nadmin.enableServer=false\n")
    env = dict(os.environ, SERVER_JVMFLAGS=f"-Djava.security.auth.login.config={jaas} "
                                           f"-Djava.security.krb5.conf={kdc / 'krb5.conf'}")
    r = subprocess.run([str(corral_bin()), str(tmp_path / "zoo.cfg")], capture_output=True,
                       text=True, timeout=20, env=env)
    assert r.returncode != 0
    assert "zookeeper/localhost@EXAMPLE.COM" in r.stderr and "bob.keytab" in r.stderr, r.stderr


# ------------------------------------------------- the digest provider

def digest_provider_steps(kind: str) -> dict:
    srv = start_server(kind, {"DigestAuthenticationProvider.enabled": "false"})
    try:
        got = {}
        s = raw(srv)
        r = s.request(OP["auth"], W().int(0).string("digest").buffer(b"bob:pw").bytes(), xid=-4)
        got["addauth digest"] = [r.errname, alive(s)]
        s.drop()
        zk = KazooClient(hosts=srv.hostport, timeout=5)
        zk.start(timeout=10)
        try:
            zk.create("/d", b"", acl=[make_acl("digest", "bob:x", all=True)])
            got["digest acl"] = "created"
        except Exception as e:  # noqa: BLE001
            got["digest acl"] = type(e).__name__
        zk.stop()
        zk.close()
        return got
    finally:
        srv.stop()


def test_a_disabled_digest_provider_matches_zookeeper():
    """DigestAuthenticationProvider.enabled=false: no digest scheme."""
    ref = digest_provider_steps("ref")
    ours = digest_provider_steps("corral")
    assert ref == {"addauth digest": ["AuthFailed", False], "digest acl": "InvalidACLError"}, ref
    assert ours == ref
