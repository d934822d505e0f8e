"""Start/stop corral or the reference ZooKeeper 3.8 (Debian) for tests.

Guarantees:
  * each server gets a fresh temp dataDir and a free loopback port;
  * start() returns only after a TCP connect + ZooKeeper handshake succeeded
    (the probe session is closed cleanly: exactly createSession+closeSession);
  * stop() always kills the whole process group; children also get
    PR_SET_PDEATHSIG=SIGKILL so they die if the test runner dies; an atexit
    hook kills anything still registered.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from zkproto import handshake_probe

REPO = Path(__file__).resolve().parents[2]

ZK_SHARE = Path("/usr/share/zookeeper")
ZK_JAR = Path("/usr/share/java/zookeeper.jar")
ZK_CONF_DIR = Path("/etc/zookeeper/conf")
ZKCLI = ZK_SHARE / "bin" / "zkCli.sh"
ZK_C_BIN = Path("/usr/lib/zookeeper/bin")
CLI_MT = ZK_C_BIN / "cli_mt"
LOAD_GEN = ZK_C_BIN / "load_gen"

_LIVE: set = set()


class ToolMissing(RuntimeError):
    pass


_NEXT_PORT = [0]


def free_port() -> int:
    """A free loopback port from below the kernel's ephemeral range.

    A port from bind(0) lies inside that range, and once its server is
    killed an outgoing connection may take it as its local port, so the
    restarted server could not bind it again. Never hands a port out twice
    in one process; the start depends on the pid."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    assert low > 12000, f"ephemeral range starts at {low}: no room below it"
    lo, span = 10000, low - 10000
    start = (os.getpid() * 2654435761) % span
    for _ in range(span):
        port = lo + (start + _NEXT_PORT[0]) % span
        _NEXT_PORT[0] += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {lo}..{low}")


def die_with_parent():
    """preexec_fn: SIGKILL this child when the test runner dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def corral_bin() -> Path:
    p = Path(os.environ.get("CORRAL_BIN", REPO / "target" / "release" / "corral"))
    if not p.is_absolute():
        p = REPO / p
    return p


def java_bin() -> str:
    j = shutil.which("java")
    if not j:
        raise ToolMissing("java not found (run scripts/setup.sh)")
    return j


SERVLET_API_JAR = Path("/usr/share/java/servlet-api.jar")
NETTY_CODEC_JAR = Path("/usr/share/java/netty-codec.jar")


def ref_classpath(admin: bool = False) -> str:
    """Debian's zkEnv.sh uses CLASSPATH=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar;
    zookeeper.jar's manifest Class-Path pulls in its dependencies (netty, jute, ...).
    We add slf4j-simple (if present) so the server log is readable."""
    if not ZK_JAR.exists():
        raise ToolMissing(f"{ZK_JAR} missing (run scripts/setup.sh)")
    cp = [str(ZK_JAR)]
    simple = Path("/usr/share/java/slf4j-simple.jar")
    if simple.exists():
        cp.append(str(simple))
    # zookeeper.jar's manifest leaves out netty-codec, which the Netty
    # connection factory (secureClientPort) needs.
    if not NETTY_CODEC_JAR.exists():
        raise ToolMissing(f"{NETTY_CODEC_JAR} missing (libnetty-java; run scripts/setup.sh)")
    cp.append(str(NETTY_CODEC_JAR))
    if admin:
        # Debian's zookeeper.jar names the Jetty jars in its manifest but
        # not the servlet API they need (javax.servlet.Servlet): without it
        # the reference logs "Unable to load jetty" and serves no AdminServer.
        if not SERVLET_API_JAR.exists():
            raise ToolMissing(f"{SERVLET_API_JAR} missing (libservlet-api-java; run scripts/setup.sh)")
        cp.append(str(SERVLET_API_JAR))
    return ":".join(cp)


class ZKServer:
    """A running server. Attributes: kind, host, port, hostport, datadir, log."""

    def __init__(self, kind: str, extra_cfg: dict | None = None, start_timeout: float = 60.0,
                 admin: bool = False, jvm_flags: dict | None = None):
        assert kind in ("corral", "ref"), kind
        self.kind = kind
        # admin=True: serve the AdminServer on a free loopback port
        # (self.admin_port); otherwise it is off, so that parallel servers
        # never fight over its default port 8080.
        self.admin = admin
        self.admin_port = None
        self.host = "127.0.0.1"
        self.port = None
        self.extra_cfg = dict(extra_cfg or {})
        # -D flags: on the java command line of the reference, in
        # SERVER_JVMFLAGS for corral (as zkServer.sh passes them).
        self.jvm_flags = dict(jvm_flags or {})
        self.start_timeout = start_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix=f"zk-{kind}-"))
        self.datadir = self.tmp / "data"
        self.datadir.mkdir()
        self.cfg = self.tmp / "zoo.cfg"
        self.log = self.tmp / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def hostport(self):
        return f"{self.host}:{self.port}"

    # -------------------------------------------------------------- config
    def _write_cfg(self):
        lines = {
            "tickTime": "2000",
            "dataDir": str(self.datadir),
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            "4lw.commands.whitelist": "*",
        }
        if self.admin:
            self.admin_port = free_port()
            lines["admin.serverAddress"] = "127.0.0.1"
            lines["admin.serverPort"] = str(self.admin_port)
        else:
            lines["admin.enableServer"] = "false"
        lines.update({k: str(v) for k, v in self.extra_cfg.items()})
        self.cfg.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def _cmd(self):
        if self.kind == "corral":
            b = corral_bin()
            if not b.exists():
                raise ToolMissing(f"corral binary {b} not found (cargo build --release, or set CORRAL_BIN)")
            env = None
            if self.jvm_flags:
                env = dict(os.environ)
                env["SERVER_JVMFLAGS"] = " ".join(f"-D{k}={v}" for k, v in self.jvm_flags.items())
            return [str(b), str(self.cfg)], env
        java = java_bin()
        cmd = [
            java, "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            *(f"-D{k}={v}" for k, v in self.jvm_flags.items()),
            f"-Dzookeeper.admin.enableServer={'true' if self.admin else 'false'}",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp", ref_classpath(admin=self.admin),
            "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.cfg),
        ]
        return cmd, None

    # -------------------------------------------------------------- lifecycle
    def start(self):
        last_err = None
        for _attempt in range(3):  # retry on port races
            self.port = free_port()
            self._write_cfg()
            cmd, env = self._cmd()
            logf = open(self.log, "ab")
            logf.write(f"\n=== start {cmd}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=str(self.tmp), start_new_session=True, preexec_fn=die_with_parent, env=env,
            )
            logf.close()
            _LIVE.add(self)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last_err = f"{self.kind} exited with {self.proc.returncode} during startup"
                    break
                if self._tcp_open() and handshake_probe(self.host, self.port):
                    return self
                time.sleep(0.1)
            else:
                last_err = f"{self.kind} not ready after {self.start_timeout}s"
            self.stop(cleanup=False)
        raise RuntimeError(f"{last_err}; log tail:\n{self.log_tail()}")

    def _tcp_open(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, cleanup=True):
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if p is not None:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # whole group, incl. stragglers
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _LIVE.discard(self)
        if cleanup and os.environ.get("ZK_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n=60):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<ZKServer {self.kind} {self.hostport}>"


@atexit.register
def _kill_all():
    for s in list(_LIVE):
        try:
            s.stop()
        except Exception:
            pass


def four_letter(host: str, port: int, word: str, timeout: float = 2.0) -> str:
    """A four-letter word's answer, or '' when the server does not answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class Ensemble:
    """A quorum of corral and/or reference servers on loopback.

    kinds: one of "corral" / "ref" per member; member i has sid i + 1.
    Each member gets its own dataDir (with myid) and zoo.cfg listing every
    peer.
    """

    def __init__(self, kinds, tick_ms: int = 500, extra_cfg: dict | None = None,
                 jvm_flags: dict | None = None):
        self.kinds = list(kinds)
        # -D flags: on the reference's java command line, in SERVER_JVMFLAGS
        # for corral (as zkServer.sh passes them).
        self.jvm_flags = dict(jvm_flags or {})
        self.tmp = Path(tempfile.mkdtemp(prefix="zk-ensemble-"))
        self.tick_ms = tick_ms
        # zoo.cfg keys for every member, and member i's own (own_cfg[i]).
        self.extra_cfg = dict(extra_cfg or {})
        self.own_cfg = [{} for _ in self.kinds]
        self.members = [
            {"sid": i + 1, "kind": k, "client": free_port(), "quorum": free_port(),
             "election": free_port(), "proc": None}
            for i, k in enumerate(self.kinds)
        ]
        _LIVE.add(self)

    def hostport(self, i: int) -> str:
        return f"127.0.0.1:{self.members[i]['client']}"

    def _dir(self, i: int) -> Path:
        return self.tmp / f"m{self.members[i]['sid']}"

    def log(self, i: int) -> Path:
        return self._dir(i) / "server.log"

    def _write_cfg(self, i: int) -> Path:
        d = self._dir(i)
        data = d / "data"
        data.mkdir(parents=True, exist_ok=True)
        m = self.members[i]
        (data / "myid").write_text(str(m["sid"]))
        lines = [
            f"tickTime={self.tick_ms}", "initLimit=10", "syncLimit=5",
            f"dataDir={data}", f"clientPort={m['client']}", "clientPortAddress=127.0.0.1",
            "4lw.commands.whitelist=*", "admin.enableServer=false",
        ]
        for p in self.members:
            lines.append(f"server.{p['sid']}=127.0.0.1:{p['quorum']}:{p['election']}:participant"
                         f";127.0.0.1:{p['client']}")
        for k, v in {**self.extra_cfg, **self.own_cfg[i]}.items():
            lines.append(f"{k}={v}")
        cfg = d / "zoo.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self, i: int, keep_cfg: bool = False):
        """Starts member i; it serves once it has joined a quorum. With
        keep_cfg, its zoo.cfg is read as the server left it (a reconfig
        rewrites it) instead of being written afresh."""
        self.kill9(i)
        cfg = self._dir(i) / "zoo.cfg" if keep_cfg else self._write_cfg(i)
        m = self.members[i]
        env = None
        if m["kind"] == "corral":
            b = corral_bin()
            if not b.exists():
                raise ToolMissing(f"corral binary {b} not found (cargo build --release, or set CORRAL_BIN)")
            cmd = [str(b), str(cfg)]
            if self.jvm_flags:
                env = dict(os.environ)
                env["SERVER_JVMFLAGS"] = " ".join(f"-D{k}={v}" for k, v in self.jvm_flags.items())
        else:
            cmd = [
                java_bin(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.admin.enableServer=false",
                *(f"-D{k}={v}" for k, v in self.jvm_flags.items()),
                "-cp", ref_classpath(), "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg),
            ]
        logf = open(self.log(i), "ab")
        logf.write(f"\n=== start {cmd}\n".encode())
        logf.flush()
        m["proc"] = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            cwd=str(self._dir(i)), start_new_session=True, preexec_fn=die_with_parent, env=env,
        )
        logf.close()

    def start_all(self, first=None):
        """Starts every member. With `first`, that member starts alone and
        answers `srvr` (it is up and LOOKING) before the others start: a
        fresh election then has its vote from the start, and with the
        highest sid it leads. (Started together, a JVM slower than the
        others can miss the first election, and the others elect without
        it.)"""
        if first is not None:
            self.start(first)
            deadline = time.monotonic() + 60
            while not four_letter("127.0.0.1", self.members[first]["client"], "srvr"):
                if time.monotonic() > deadline:
                    raise AssertionError(f"member {first} does not answer srvr\n{self.log_tails()}")
                time.sleep(0.1)
        for i in range(len(self.members)):
            if i != first:
                self.start(i)

    def kill9(self, i: int):
        p = self.members[i]["proc"]
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
        self.members[i]["proc"] = None

    def mode(self, i: int):
        """'leader', 'follower', ... from `srvr`, or None when not serving."""
        if self.members[i]["proc"] is None:
            return None
        for line in four_letter("127.0.0.1", self.members[i]["client"], "srvr").splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):].strip()
        return None

    def one_leader(self, among):
        """The index of the one leader in `among` when every other member
        of it follows, else None."""
        modes = {i: self.mode(i) for i in among}
        leaders = [i for i, md in modes.items() if md == "leader"]
        if len(leaders) == 1 and all(md in ("leader", "follower") for md in modes.values()):
            return leaders[0]
        return None

    def wait_leader(self, among, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.one_leader(among)
            if got is not None:
                return got
            time.sleep(0.2)
        raise AssertionError(f"no single leader among {among} in {timeout}s: "
                             f"{ {i: self.mode(i) for i in among} }\n{self.log_tails()}")

    def log_tails(self, n: int = 30) -> str:
        out = []
        for i, m in enumerate(self.members):
            try:
                tail = "\n".join(self.log(i).read_text(errors="replace").splitlines()[-n:])
            except OSError:
                tail = "<no log>"
            out.append(f"--- sid {m['sid']} ({m['kind']}) ---\n{tail}")
        return "\n".join(out)

    def stop(self, cleanup: bool = True):
        for i in range(len(self.members)):
            self.kill9(i)
        _LIVE.discard(self)
        if cleanup and os.environ.get("ZK_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)
