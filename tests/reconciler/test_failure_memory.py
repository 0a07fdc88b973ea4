"""Failure memory end to end: real agents, real children, real etcd.

The sequence a new user tried on the demo: kill the cold-standby PBX's child
on pbx1 (it moves to pbx2), kill it again (it moves back to pbx1, the
remembered failure on pbx1 does not make pbx1 unusable), then kill pbx2's
agent: pbx1 must still host the PBX. `overseer cleanup` forgets the counts.
"""
import json
import os
import signal

from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service

SERVERS = ["pbx1", "pbx2", "web1"]


def _start(cluster, standby: str):
    cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl="2s", extra=service(standby=standby)))
    for server in SERVERS:
        cluster.start_agent(server)
    return cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx active on pbx1")


def _kill_child_and_wait(cluster, on: str, to: str, what: str):
    os.kill(running_pid(cluster.snapshot(), on), signal.SIGKILL)
    return cluster.wait_for(lambda s: running_pid(s, to) is not None
                            and s.assignments["pbx"].active == (to,), timeout=15, what=what)


def test_cold_standby_fails_over_back_and_forth_and_survives_the_other_agent(cluster):
    _start(cluster, "cold")
    snap = _kill_child_and_wait(cluster, "pbx1", "pbx2", "pbx moved to pbx2")
    snap = cluster.wait_for(lambda s: s.failures.get(("pbx1", "pbx")) is not None, what="pbx1's failure counted")
    assert snap.failures[("pbx1", "pbx")].count == 1
    assert "process exited" in snap.failures[("pbx1", "pbx")].message
    # pbx1 is a cold standby now: its `alive` must no longer say fail
    cluster.wait_for(lambda s: s.observations[("pbx1", "pbx", "alive")].status == "unknown",
                     what="pbx1's checks cold")
    snap = _kill_child_and_wait(cluster, "pbx2", "pbx1", "pbx moved back to pbx1")
    assert "remembered" in snap.assignments["pbx"].reason, snap.assignments["pbx"].reason
    cluster.kill("pbx2")
    snap = cluster.wait_for(lambda s: "pbx2" not in s.servers, timeout=10, what="pbx2's lease gone")
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx still on pbx1")
    assert snap.assignments["pbx"].active == ("pbx1",)
    status = json.loads(cluster.cli("status", "--json").stdout)
    assert status["services"]["pbx"]["status"] != "fail", status["services"]["pbx"]
    counts = status["services"]["pbx"]["failures"]
    assert counts["pbx1"]["count"] == 1 and counts["pbx1"]["marked"], counts
    assert counts["pbx2"]["count"] == 1
    text = cluster.cli("status", "--wide").stdout   # the whole cell: the default table cuts to 80 columns
    assert "pbx1 1 (marked) expires in 9m" in text, text


def test_single_candidate_is_restarted_in_place_at_once(cluster):
    cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl="2s", extra=service(candidates=("pbx1",))))
    for server in SERVERS:
        cluster.start_agent(server)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx active on pbx1")
    old, before = running_pid(snap, "pbx1"), snap.assignments["pbx"]
    os.kill(old, signal.SIGKILL)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") not in (None, old), timeout=15,
                            what="pbx restarted on pbx1")
    after = snap.assignments["pbx"]
    assert after.active == ("pbx1",) and after.time > before.time, after
    assert "re-assigned to take it up again" in after.reason, after.reason
    log = (cluster.workdir / "pbx1.log").read_text()
    assert "waiting for the master" not in log.split("child exited")[-1], "restart must not wait out the block"


def test_cleanup_forgets_the_counts(cluster):
    _start(cluster, "warm")
    _kill_child_and_wait(cluster, "pbx1", "pbx2", "pbx moved to pbx2")
    cluster.wait_for(lambda s: ("pbx1", "pbx") in s.failures, what="pbx1's failure counted")
    bad = cluster.cli("cleanup", "pbx", "--server", "nosuch", check=False)
    assert bad.returncode == 1 and "no server 'nosuch'" in bad.stderr, bad.stderr
    out = cluster.cli("cleanup", "pbx").stdout
    assert "fail counts cleared on pbx1" in out, out
    snap = cluster.wait_for(lambda s: ("pbx1", "pbx") not in s.failures, what="counts gone")
    assert any(h.kind == "cleanup" for h in snap.history.get("pbx", ())), snap.history.get("pbx")
    assert "no remembered failures" in cluster.cli("cleanup", "pbx").stdout
