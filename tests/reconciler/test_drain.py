"""`overseer cordon`, `drain`, `uncordon` and `switchover --at` end to end:
real agents, real supervised children, real etcd."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from tests.support.cluster import cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service

SERVERS = ["pbx1", "pbx2", "web1"]


def active_of(snap, svc="pbx"):
    a = snap.assignments.get(svc)
    return a.active if a else ()


def start(cluster, extra: str):
    cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=extra))
    for server in SERVERS:
        cluster.start_agent(server)
    return cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None
                            and running_pid(s, "pbx1", "web") is not None, what="pbx and web active on pbx1")


def test_drain_moves_every_active_away_and_uncordon_lets_it_back(cluster):
    start(cluster, service() + "---\n" + service("web", candidates=("pbx1", "web1")))
    out = cluster.cli("drain", "pbx1", timeout=120)
    assert "pbx1: cordoned" in out.stdout and "pbx1: drained" in out.stdout, out.stdout
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None
                            and running_pid(s, "web1", "web") is not None, what="both moved off pbx1")
    assert active_of(snap) == ("pbx2",) and active_of(snap, "web") == ("web1",)
    assert snap.reports[("pbx1", "pbx")].role != "active" and snap.reports[("pbx1", "web")].role != "active"
    assert snap.cordoned == frozenset({"pbx1"})
    status = json.loads(cluster.cli("status", "--json").stdout)
    assert status["servers"]["pbx1"]["cordoned"] is True and status["servers"]["pbx2"]["cordoned"] is False
    assert "cordoned" in cluster.cli("status").stdout

    # pbx's only other candidate dies: the cordoned pbx1 is the last resort, and the reason says so
    cluster.kill("pbx2")
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") is not None, timeout=20,
                            what="pbx back on the cordoned pbx1, the only live candidate")
    assert "chosen although cordoned" in snap.assignments["pbx"].reason, snap.assignments["pbx"].reason

    # drain again: nowhere to go, so it says which service stays, exits 1 and keeps the cordon
    refused = cluster.cli("drain", "pbx1", check=False, timeout=120)
    assert refused.returncode == 1, refused
    assert "pbx" in refused.stderr and "still active there" in refused.stderr, refused.stderr
    assert active_of(cluster.snapshot()) == ("pbx1",)

    assert "pbx1: uncordoned" in cluster.cli("uncordon", "pbx1").stdout
    assert cluster.snapshot().cordoned == frozenset()
    assert "was not cordoned" in cluster.cli("uncordon", "pbx1").stdout


def test_cordon_of_an_unknown_server_names_the_choices(cluster):
    cluster.apply(cluster_yaml(cluster.name, SERVERS))
    bad = cluster.cli("cordon", "nosuch", check=False)
    assert bad.returncode == 1 and "no server 'nosuch'" in bad.stderr and "pbx1" in bad.stderr, bad


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def test_scheduled_switchover_happens_at_its_time_and_can_be_cancelled(cluster):
    start(cluster, service() + "---\n" + service("web", candidates=("pbx1", "web1")))
    at = time.time() + 4
    out = cluster.cli("switchover", "pbx", "--to", "pbx2", "--at", _iso(at))
    assert "scheduled for" in out.stdout, out.stdout
    snap = cluster.snapshot()
    assert snap.switchovers["pbx"].at is not None and abs(snap.switchovers["pbx"].at - at) < 0.01
    status = json.loads(cluster.cli("status", "--json").stdout)
    assert status["services"]["pbx"]["switchover"]["to"] == "pbx2"
    assert "scheduled for" in cluster.cli("status").stdout

    # a second one, for web, is withdrawn before its time and never happens
    cluster.cli("switchover", "web", "--at", _iso(time.time() + 3600))
    assert "switchover cancelled" in cluster.cli("switchover", "web", "--cancel").stdout
    assert "web" not in cluster.snapshot().switchovers

    snap = cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None, timeout=30, what="pbx on pbx2")
    moved = [h for h in snap.history["pbx"] if h.kind == "switchover"]
    assert moved and moved[-1].time >= at, (moved, at)   # not before its time
    assert active_of(snap, "web") == ("pbx1",)
    assert "pbx" not in snap.switchovers


def test_switchover_at_refuses_a_time_without_a_zone_or_in_the_past(cluster):
    start(cluster, service() + "---\n" + service("web", candidates=("pbx1", "web1")))
    naive = cluster.cli("switchover", "pbx", "--at", "2030-01-01T03:00", check=False)
    assert naive.returncode == 2 and "add the zone" in naive.stderr, naive
    past = cluster.cli("switchover", "pbx", "--at", "2020-01-01T03:00Z", check=False)
    assert past.returncode == 2 and "has passed" in past.stderr, past
    assert "pbx" not in cluster.snapshot().switchovers


def test_drain_fails_on_an_all_active_service_unless_told_to_ignore_it(cluster):
    """kubectl drain --ignore-daemonsets: an all-active service runs on every
    eligible candidate by design, so a drain that must succeed leaves it be."""
    everywhere = service("recorder", candidates=tuple(SERVERS), mode="all-active")
    start(cluster, service() + "---\n" + service("web", candidates=("pbx1", "web1")) + "---\n" + everywhere)
    cluster.wait_for(lambda s: running_pid(s, "pbx1", "recorder") is not None, what="recorder on pbx1")
    refused = cluster.cli("drain", "pbx1", check=False, timeout=120)
    assert refused.returncode == 1, refused
    assert "recorder: all-active" in refused.stdout and "still active there" in refused.stderr, refused

    out = cluster.cli("drain", "pbx1", "--ignore-all-active", timeout=120)
    assert "recorder: all-active, left running on pbx1 (--ignore-all-active)" in out.stdout, out.stdout
    assert "pbx1: drained but for all-active recorder" in out.stdout, out.stdout
    snap = cluster.wait_for(lambda s: running_pid(s, "pbx2") is not None
                            and running_pid(s, "web1", "web") is not None, what="pbx and web moved off pbx1")
    assert running_pid(snap, "pbx1", "recorder") is not None   # left running, as asked
    assert snap.cordoned == frozenset({"pbx1"})
