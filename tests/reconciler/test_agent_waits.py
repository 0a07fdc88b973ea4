"""What a worker holds a promote for (agent/waits.py): what the service requires
has no active, or its anchor is not active on this very server. Read as the
planner reads "has an active": reported for the current assignment by the
agent running now on a live server."""
from __future__ import annotations

from overseer.desired.state import Assignment, ClusterSnapshot, ServerRecord, ServiceReport
from overseer.reconciler.agent.answers import stood_down_under
from overseer.reconciler.agent.waits import waiting_for
from tests.reconciler.test_planner_relations import related
from tests.reconciler.planner_world import desired, service

DOMAINS = {"a": "r1", "b": "r2"}
STATE = desired(DOMAINS, [service("db", ["a", "b"]), related(service("web", ["a", "b"]), requires=["db"]),
                          service("pbx", ["a", "b"]), related(service("dialer", ["a", "b"]), colocate="pbx")])
ASSIGNED = {name: Assignment(name, ("a",), ("b",), epoch=3, time=100.0) for name in STATE.services}


def snapshot(reports: dict, started: float = 50.0, live=("a", "b")) -> ClusterSnapshot:
    return ClusterSnapshot("t", 1, STATE, {s: ServerRecord(s, started=started) for s in live}, None, {},
                           {(s, n): ServiceReport(s, n, role=role, epoch=3, outcome=outcome, time=200.0,
                                                  assigned=assigned)
                            for (s, n), (role, outcome, assigned) in reports.items()}, ASSIGNED)


def holds(name: str, server: str, snap: ClusterSnapshot, active_here=lambda n: True) -> str:
    return waiting_for(STATE.services[name], server, snap, active_here)


def test_a_dependent_waits_until_what_it_requires_reported_active_for_its_current_assignment():
    assert holds("web", "a", snapshot({})) == "waiting for db: it has no active (required)"
    assert holds("web", "a", snapshot({("a", "db"): ("active", "ok", 90.0)})) != ""       # an older assignment
    assert holds("web", "a", snapshot({("a", "db"): ("active", "failed", 100.0)})) != ""
    assert holds("web", "a", snapshot({("a", "db"): ("active", "ok", 100.0)}, started=300.0)) != ""  # before a restart
    assert holds("web", "a", snapshot({("a", "db"): ("active", "ok", 100.0)}, live=("b",))) != ""    # its server gone
    assert holds("web", "b", snapshot({("a", "db"): ("active", "ok", 100.0)})) == ""      # anywhere will do
    assert holds("db", "a", snapshot({})) == ""                                           # depends on nothing


def test_a_requirement_here_counts_only_while_this_agent_runs_it_active():
    """A requirement that stopped here while etcd was down still reads active in
    etcd until the step-down lands: the agent here knows better; elsewhere the
    report is all there is."""
    db_up_on_a = snapshot({("a", "db"): ("active", "ok", 100.0)})
    assert holds("web", "a", db_up_on_a, active_here=lambda n: n != "db") == "waiting for db: it has no active (required)"
    assert holds("web", "b", db_up_on_a, active_here=lambda n: n != "db") == ""
    assert holds("web", "a", db_up_on_a, active_here=lambda n: n == "db") == ""


def test_a_follower_waits_until_its_anchor_is_active_on_this_very_server():
    up = snapshot({("a", "pbx"): ("active", "ok", 100.0)})
    assert holds("dialer", "a", up) == ""
    assert holds("dialer", "b", up) == "waiting for pbx to be active here (colocated with it)"
    assert holds("dialer", "a", snapshot({("a", "pbx"): ("standby", "pending", 100.0)})) != ""
    # reported active, but this agent no longer runs it so (a step-down on its way to etcd)
    assert holds("dialer", "a", up, active_here=lambda n: False) != ""


def test_a_pending_report_is_no_step_down():
    a = ASSIGNED["web"]
    pending = ServiceReport("a", "web", role="stopped", epoch=3, outcome="pending", assigned=100.0,
                            message="waiting for db: it has no active (required)")
    assert not stood_down_under(pending, a, "a")
    assert stood_down_under(ServiceReport("a", "web", role="stopped", epoch=3, assigned=100.0), a, "a")
