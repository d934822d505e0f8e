"""Dynamic reconfig (reconfigEnabled=true), the same steps on a 3-member
ensemble of corral and of ZooKeeper 3.8.

1. kazoo 2.11.0's own TestReconfig, unchanged (its class, imported from the
   installed kazoo.tests): a client without the superuser gets NoAuth; the
   superuser adds an observer and removes it again, and each answer carries
   the new config; a reconfig from a config version that does not exist yet
   gets BadVersion; a joining server that does not parse gets BadArguments.
   kazoo's harness starts its own Java cluster; here its cluster is the
   ensemble under test.
2. What the members do with a committed reconfig, compared across the two
   kinds: every member's /zookeeper/config holds the new config, with the
   same text and stat fields; each member writes zoo.cfg.dynamic.<version>
   and points its zoo.cfg at it; a member restarted from that zoo.cfg comes
   back with the new config.
"""

from __future__ import annotations

import sys
import time

import kazoo.testing.harness as harness
import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import BadArgumentsError, BadVersionError, NewConfigNoQuorumError, NoAuthError
import kazoo.tests.test_client as kazoo_client_tests

from test_zkcli import _clean_out
from zkserver import Ensemble, ToolMissing, four_letter

pytestmark = pytest.mark.timeout(300)

# kazoo's harness starts ZooKeeper with this superuser ("super:test").
SUPER = {"zookeeper.DigestAuthenticationProvider.superDigest": "super:D/InIHSb7yEEbrWz8b9l71RjZJU="}
SUPER_AUTH = [("digest", "super:test")]


def start_ensemble(kind: str, n: int = 3) -> Ensemble:
    e = Ensemble([kind] * n, extra_cfg={"reconfigEnabled": "true"}, jvm_flags=SUPER)
    try:
        # The highest sid leads, whichever kind: a reconfig's answer depends
        # on whether the server that takes it leads (the leader's text keeps
        # its HashMap order, a follower's is read back from the txn).
        e.start_all(first=n - 1)
        leader = e.wait_leader(list(range(n)))
        assert leader == n - 1, f"{kind}: member {leader} leads, not {n - 1}"
        # A write through every member: each follows the leader now.
        for i in range(n):
            c = KazooClient(e.hostport(i), timeout=10)
            c.start(timeout=30)
            c.ensure_path(f"/ready-{i}")
            c.stop()
            c.close()
    except ToolMissing as err:
        e.stop()
        pytest.fail(f"required tool missing: {err}", pytrace=False)
    except BaseException:
        print(e.log_tails(), file=sys.stderr)
        e.stop()
        raise
    return e


class _Server:
    def __init__(self, address: str):
        self.address = address
        self.running = True


class _Cluster(list):
    """What kazoo's harness asks of its cluster, for an ensemble started
    here."""

    def start(self):
        pass

    def stop(self):
        pass

    def terminate(self):
        pass


# The cluster kazoo's harness gets (its tearDownClass asks for it after
# the fixture below has stopped the ensemble).
_CLUSTER = [_Cluster()]
harness.get_global_cluster = lambda: _CLUSTER[0]


@pytest.fixture(scope="class")
def kazoo_cluster(request):
    e = start_ensemble(request.cls.KIND)
    _CLUSTER[0] = _Cluster(_Server(e.hostport(i)) for i in range(3))
    try:
        yield e
    finally:
        _CLUSTER[0] = _Cluster()
        if any(getattr(item, "rep_call", None) and item.rep_call.failed for item in request.session.items):
            print(e.log_tails(), file=sys.stderr)
        e.stop()


@pytest.mark.usefixtures("kazoo_cluster")
class TestKazooReconfigCorral(kazoo_client_tests.TestReconfig):
    KIND = "corral"


@pytest.mark.usefixtures("kazoo_cluster")
class TestKazooReconfigZooKeeper(kazoo_client_tests.TestReconfig):
    KIND = "ref"


def member_view(e: Ensemble, i: int):
    c = KazooClient(e.hostport(i), timeout=10)
    c.start(timeout=30)
    try:
        c.sync("/zookeeper/config")
        data, st = c.get("/zookeeper/config")
        return data.decode(), (st.version, st.mzxid, st.aversion, st.dataLength)
    finally:
        c.stop()
        c.close()


def observe_reconfig(kind: str) -> dict:
    """Adds an observer, removes it, then restarts one member from the
    zoo.cfg the reconfig left; returns what is compared across kinds."""
    e = start_ensemble(kind)
    try:
        c = KazooClient(e.hostport(0), timeout=10, auth_data=SUPER_AUTH)
        c.start(timeout=30)
        before, _ = c.get("/zookeeper/config")
        ver0 = int(before.decode().split("\n")[-1].split("=")[1], 16)
        joining = "server.9=127.0.0.1:1:2:observer;127.0.0.1:3"
        # A watch on /zookeeper/config, on another member, sees the change.
        w = KazooClient(e.hostport(2), timeout=10)
        w.start(timeout=30)
        fired = []
        w.get("/zookeeper/config", watch=lambda ev: fired.append((ev.type, ev.path)))
        added, st = c.reconfig(joining=joining, leaving=None, new_members=None)
        deadline = time.monotonic() + 5
        while not fired and time.monotonic() < deadline:
            time.sleep(0.05)
        w.stop()
        w.close()
        ver1 = int(added.decode().split("\n")[-1].split("=")[1], 16)
        # Three voters synced of a new six-voter config: no quorum.
        try:
            c.reconfig(joining="server.10=127.0.0.1:4:5:participant;127.0.0.1:6,"
                               "server.11=127.0.0.1:7:8:participant;127.0.0.1:9,"
                               "server.12=127.0.0.1:10:11:participant;127.0.0.1:12",
                       leaving=None, new_members=None)
            too_many = "ok"
        except NewConfigNoQuorumError:
            too_many = "NewConfigNoQuorum"
        # Every member holds the new config, with the same stat.
        views = [member_view(e, i) for i in range(3)]
        # `conf` prints the quorum's lines and the active config.
        conf = four_letter("127.0.0.1", e.members[0]["client"], "conf")
        keys = [line.split("=")[0] for line in conf.split("membership:")[0].splitlines() if "=" in line]
        membership = conf.split("membership: \n")[1] if "membership: \n" in conf else ""
        conf_view = (keys, membership == added.decode() or membership == views[0][0],
                     f"serverId={e.members[0]['sid']}" in conf)
        # Each member wrote zoo.cfg.dynamic.<version> and points at it.
        files = []
        for i in range(3):
            d = e._dir(i)
            deadline = time.monotonic() + 10
            dyn = d / f"zoo.cfg.dynamic.{ver1:x}"
            while not dyn.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            cfg = (d / "zoo.cfg").read_text()
            files.append((dyn.exists(), f"dynamicConfigFile={dyn.resolve()}" in cfg,
                          "server.9=127.0.0.1:1:2:observer;127.0.0.1:3" in dyn.read_text()
                          if dyn.exists() else None))
        # A member restarted from its rewritten zoo.cfg has the new config.
        e.kill9(2)
        e.start(2, keep_cfg=True)
        e.wait_leader([0, 1, 2])
        restarted, _ = member_view(e, 2)
        removed, _ = c.reconfig(joining=None, leaving="9", new_members=None)
        # Non-incremental, from the current version (-v): the same three
        # members and server 9 as an observer, comma-separated.
        cur = int(removed.decode().split("\n")[-1].split("=")[1], 16)
        members = [line for line in removed.decode().split("\n") if line.startswith("server.")]
        listed, _ = c.reconfig(joining=None, leaving=None,
                               new_members=",".join(members + [joining]), from_config=cur)
        try:
            c.reconfig(joining=None, leaving=None, new_members=",".join(members), from_config=cur)
            stale = "ok"
        except BadVersionError:
            stale = "BadVersion"
        c.stop()
        c.close()
        return {
            "version bumped by the first election": ver0 > 0,
            "added": "server.9=127.0.0.1:1:2:observer;127.0.0.1:3" in added.decode(),
            "watch on /zookeeper/config": fired,
            "version is the reconfig's zxid": ver1 == st.mzxid,
            "answer stat version": st.version,
            "too many voters": too_many,
            "members agree": all(v == views[0] for v in views),
            "member stat (version, mzxid==ver)": (views[0][1][0], views[0][1][1] == ver1),
            "config text equals the answer": views[0][0] == added.decode(),
            "dynamic files": files,
            "restarted member has it": restarted == added.decode(),
            "removed": "server.9=" not in removed.decode(),
            "non-incremental": (joining in listed.decode(), len(listed.decode().splitlines())),
            "non-incremental from a stale version": stale,
            "conf (keys, membership is the new config, serverId)": conf_view,
        }
    except BaseException:
        print(e.log_tails(), file=sys.stderr)
        raise
    finally:
        e.stop()


def test_a_committed_reconfig_reaches_every_member_and_their_files_as_on_zookeeper():
    ref = observe_reconfig("ref")
    mine = observe_reconfig("corral")
    print(f"\nZooKeeper 3.8: {ref}\ncorral:        {mine}")
    assert mine == ref
    assert mine["added"] and mine["removed"] and mine["restarted member has it"]
    assert all(f == (True, True, True) for f in mine["dynamic files"]), mine["dynamic files"]


def test_a_client_without_the_superuser_cannot_reconfig_on_either_kind():
    outcome = {}
    for kind in ("ref", "corral"):
        e = start_ensemble(kind)
        try:
            c = KazooClient(e.hostport(1), timeout=10)
            c.start(timeout=30)
            got = []
            for args in ({"joining": "server.9=127.0.0.1:1:2:observer;127.0.0.1:3"},
                         {"leaving": "3"},
                         {"new_members": "server.1=127.0.0.1:1:2:participant;127.0.0.1:3"}):
                kw = {"joining": None, "leaving": None, "new_members": None, **args}
                try:
                    c.reconfig(**kw)
                    got.append("ok")
                except (NoAuthError, BadArgumentsError, BadVersionError, NewConfigNoQuorumError) as err:
                    got.append(type(err).__name__)
            data, _ = c.get("/zookeeper/config")
            got.append("server.9" in data.decode())
            outcome[kind] = got
            c.stop()
            c.close()
        finally:
            e.stop()
    print(outcome)
    assert outcome["corral"] == outcome["ref"]
    assert outcome["corral"][0] == "NoAuthError"


def zkcli_reconfig(kind: str) -> list[str]:
    """zkCli.sh as an operator runs it: addauth, reconfig -add/-remove,
    config; the output with ports and versions replaced by names."""
    import re
    import subprocess

    from zkserver import ZKCLI, die_with_parent

    if not ZKCLI.exists():
        pytest.fail(f"{ZKCLI} missing (run scripts/setup.sh)", pytrace=False)
    e = start_ensemble(kind)
    try:
        script = [
            "addauth digest super:test",
            "reconfig -add server.9=127.0.0.1:1:2:observer;127.0.0.1:3",
            "config",
            "reconfig -remove 9",
            "config",
            "reconfig -remove 1,2",
        ]
        p = subprocess.run([str(ZKCLI), "-server", e.hostport(1)], input="\n".join(script) + "\nquit\n",
                           capture_output=True, text=True, timeout=120, preexec_fn=die_with_parent)
        out = p.stdout
        for m in e.members:
            for name in ("client", "quorum", "election"):
                out = out.replace(f":{m[name]}", f":<{name}{m['sid']}>")
        out = re.sub(r"version=[0-9a-f]+", "version=V", out)
        # zkCli's chatter as test_zkcli.py drops it, and its prompts.
        lines = (re.sub(r"^\[zk: [^\]]*\] ", "", line).strip() for line in out.splitlines())
        return [line for line in _clean_out("\n".join(lines)).splitlines() if line]
    finally:
        e.stop()


def test_zkcli_reconfig_and_config_print_what_zookeeper_prints():
    ref = zkcli_reconfig("ref")
    mine = zkcli_reconfig("corral")
    print("\n".join(mine))
    assert mine == ref
    assert any("server.9=127.0.0.1:1:2:observer;127.0.0.1:3" in line for line in mine)
