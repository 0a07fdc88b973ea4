"""An agent restarted with both a colocated anchor and its follower assigned
to it starts the anchor first, without the master (real agents, real
children, real etcd): the assignments stay as they were, so only the
agent's own hold (reconciler/agent/waits.py) keeps the order. The anchor's
promote takes a second; the follower's promote, which stamps the time it ran,
must come after the anchor's "active" report of the new incarnation."""
from __future__ import annotations

import psutil

from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service

SERVERS = ["web1", "pbx1"]   # web1 ranks first: it stays master while pbx1's agent restarts


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_restarted_agent_promotes_the_follower_only_after_its_anchor_reported_active(cluster, tmp_path):
    stamps = tmp_path / "dialer-promotes"
    pbx = service("pbx", candidates=("pbx1",), extra_actuator=", promote: [/bin/sleep, '1']")
    dialer = service("dialer", candidates=("pbx1",),
                     extra_actuator=f", promote: [/bin/sh, -c, 'date +%s.%N >> {stamps}']")
    dialer = dialer.replace("spec:\n", "spec:\n  colocateWith: pbx\n", 1)
    cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=pbx + "---\n" + dialer))
    cluster.start_agent("web1")
    cluster.wait_for(lambda s: s.master is not None and s.master.server == "web1", what="web1 master")
    cluster.start_agent("pbx1")
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1", "pbx") and running_pid(s, "pbx1", "dialer"),
                            what="pbx and dialer active on pbx1")
    children = (running_pid(snap, "pbx1", "pbx"), running_pid(snap, "pbx1", "dialer"))
    assigned = {name: snap.assignments[name] for name in ("pbx", "dialer")}

    cluster.kill("pbx1")
    cluster.wait_for(lambda s: all(_gone(pid) for pid in children), what="the fencer ended both children")
    stamps.write_text("")
    cluster.start_agent("pbx1")
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1", "pbx") not in (None, children[0])
                            and running_pid(s, "pbx1", "dialer") not in (None, children[1]),
                            timeout=30, what="both active on pbx1 again")

    assert {name: snap.assignments[name] for name in ("pbx", "dialer")} == assigned   # the master did nothing
    anchor_up = snap.reports[("pbx1", "pbx")].time
    promoted = [float(line) for line in stamps.read_text().split()]
    assert len(promoted) == 1 and promoted[0] > anchor_up, (promoted, anchor_up, cluster.logs())
    log = (cluster.workdir / "pbx1.log").read_text(errors="replace")
    assert "dialer: waiting for pbx to be active here" in log, cluster.logs()
