"""`overseer restart SERVICE`: stop and start the active in place, end to end
(real agents, real supervised children, real etcd): a new child on the same
server, no move, no fail count, one `restart` history entry, the request gone."""
from __future__ import annotations

import psutil

from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service
from tests.support.waiting import holds_for

SERVERS = ["pbx1", "pbx2", "web1"]


def test_restart_in_place_starts_a_new_child_where_it_is_active_and_moves_nothing(cluster):
    cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=service()
                               + "---\n" + service("recorder", mode="all-active")))
    for server in SERVERS:
        cluster.start_agent(server)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None
                            and getattr(s.reports.get(("pbx2", "pbx")), "pid", None) is not None
                            and running_pid(s, "pbx1", "recorder") is not None
                            and running_pid(s, "pbx2", "recorder") is not None,
                            what="pbx active on pbx1 and pbx2 warm, recorder on both")
    old, standby = running_pid(snap, "pbx1"), snap.reports[("pbx2", "pbx")].pid
    before = snap.assignments["pbx"]

    out = cluster.cli("restart", "pbx", timeout=120)
    assert "pbx: restart in place on pbx1 requested" in out.stdout, out.stdout
    assert "pbx1: restarted in place (overseer restart)" in out.stdout, out.stdout
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") not in (None, old), what="a new child on pbx1")
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == psutil.STATUS_ZOMBIE
    assert snap.assignments["pbx"].active == before.active == ("pbx1",)
    assert snap.assignments["pbx"].decision == before.decision      # the master decided nothing anew
    assert snap.reports[("pbx2", "pbx")].pid == standby             # the standby was left alone
    assert ("pbx1", "pbx") not in snap.failures                     # asked for: not a failure
    assert "pbx" not in snap.restarts
    assert [h.kind for h in snap.history["pbx"]].count("restart") == 1
    new = running_pid(snap, "pbx1")
    holds_for(lambda: running_pid(cluster.snapshot(), "pbx1") == new, 2, what="it stays active on pbx1")

    # all-active on two servers: which one must be said; a server where it is not active is refused
    both = cluster.cli("restart", "recorder", check=False)
    assert both.returncode == 2 and "--server" in both.stderr, both
    nowhere = cluster.cli("restart", "pbx", "--server", "pbx2", check=False)
    assert nowhere.returncode == 1 and "not active on pbx2" in nowhere.stderr, nowhere
    assert cluster.snapshot().restarts == {}
    old_recorder = running_pid(cluster.snapshot(), "pbx2", "recorder")
    cluster.cli("restart", "recorder", "--server", "pbx2", timeout=120)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx2", "recorder") not in (None, old_recorder),
                            what="a new recorder child on pbx2")
    history = cluster.cli("history", "recorder").stdout
    assert "pbx2: restarted in place" in history, history


def test_a_restart_whose_demote_fails_leaves_the_active_running_and_says_why(cluster):
    """The stop half failed: nothing was stopped, the same child stays active,
    and the history (which the command prints) says at which step."""
    cluster.apply(cluster_yaml(cluster.name, SERVERS,
                               extra=service(extra_actuator=", demote: [/bin/false], promote: [/bin/true]")))
    for server in SERVERS[:2]:
        cluster.start_agent(server)
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, what="pbx active on pbx1")
    old = running_pid(snap, "pbx1")

    out = cluster.cli("restart", "pbx", timeout=120, check=False)
    assert "restart in place failed at demote" in out.stdout + out.stderr, out
    snap = cluster.wait_for(lambda s: "pbx" not in s.restarts, what="the request carried out")
    assert running_pid(snap, "pbx1") == old and snap.assignments["pbx"].active == ("pbx1",)
    holds_for(lambda: running_pid(cluster.snapshot(), "pbx1") == old, 2, what="the same child stays active")
