"""The simulator's relations invariant: start order and colocation, judged from processes.

Scripted schedules run the real code with relationships declared and must
come out clean; the same schedules with the planner blind to relationships
(planted bugs, one monkeypatch each) must be caught.
"""
from overseer.reconciler import planner
from overseer.reconciler.planner import master_pass
from overseer.reconciler.agent import local
from overseer.reconciler.sim.run import run
from overseer.reconciler.sim.schedule import Fault, Schedule, ServicePlan

PBX = ServicePlan("pbx", "warm", ("s1", "s2", "s3"), 1, True)
# its own candidates order would put it on s2: only the colocation puts it with the PBX
DIALER = ServicePlan("dialer", "warm", ("s2", "s3", "s1"), 1, True, colocate="pbx")
DB = ServicePlan("db", "cold", ("s1", "s2"), 1, True)
WEB = ServicePlan("web", "warm", ("s2", "s1"), 1, True, requires=("db",))


def _schedule(*faults, services):
    return Schedule(seed=1, ttl=3.0, interval=0.5, fail_after=2, margin=0.5, campaign_delay=1.0,
                    actuator_timeout=1.0, services=tuple(services), faults=tuple(faults))


def _relations(result):
    return [m for _, inv, m in result.violations if inv == "relations"]


def test_a_colocated_pair_moves_together_when_the_anchor_s_server_dies():
    result = run(_schedule(Fault("agent_crash", 12.0, 30.0, server="s1"), services=(PBX, DIALER)))
    assert result.violations == [], result.violations
    assert result.judged["relations"] >= 2
    tail = result.trace.split("fault: agent_crash")[1] if "fault: agent_crash" in result.trace else result.trace
    assert "PROCESS pbx: running -> active" in tail and "PROCESS dialer: running -> active" in tail


def test_a_member_failure_moves_both_and_a_dependent_waits_for_what_it_requires():
    result = run(_schedule(Fault("proc_crash", 12.0, server="s1", service="dialer"),
                           Fault("agent_crash", 20.0, 30.0, server="s1"),
                           services=(PBX, DIALER, DB, WEB)))
    assert result.violations == [], result.violations


def _planner_blind(monkeypatch):
    monkeypatch.setattr(planner, "declared", lambda desired: False)
    monkeypatch.setattr(master_pass, "unadoptable", lambda *args: set())


def test_caught_when_the_planner_ignores_colocation(monkeypatch):
    """The agent on s2 holds the dialer for its anchor (agent/waits.py): never
    promoted apart, but never active either while s1 could serve it."""
    _planner_blind(monkeypatch)
    result = run(_schedule(services=(PBX, DIALER)))
    assert _relations(result) == [], result.violations
    assert any(inv == "liveness" and m.startswith("dialer:") for _, inv, m in result.violations), result.violations


def test_caught_when_neither_the_planner_nor_the_agent_keeps_colocation(monkeypatch):
    _planner_blind(monkeypatch)
    monkeypatch.setattr(local, "waiting_for", lambda *args: "")
    result = run(_schedule(services=(PBX, DIALER)))
    assert any("dialer promoted on s2, where pbx (colocated) is not active" in m for m in _relations(result)), \
        result.violations


def test_caught_when_a_follower_is_left_apart(monkeypatch):
    """The planner moves the anchor without waiting for its follower, and the
    follower never leaves: apart for longer than the grace."""
    from overseer.reconciler.planner import relations
    monkeypatch.setattr(relations.Relations, "member_on", lambda self, name, server: None)
    monkeypatch.setattr(relations.Relations, "stopped_here", lambda self, name, server: False)
    plain = relations.settle

    def keep_follower(view, rel, name, svc, current, decision):
        if rel.anchor(name) is not None and current is not None and current.active:
            rel.heading[name] = tuple(current.active)
            return None
        return plain(view, rel, name, svc, current, decision)
    monkeypatch.setattr(relations, "settle", keep_follower)
    result = run(_schedule(Fault("proc_crash", 12.0, server="s1", service="pbx"),
                           Fault("act_fail", 12.0, 30.0, server="s1", service="pbx"),
                           services=(PBX, DIALER)))
    assert any("dialer active on s1 without pbx (colocated)" in m for m in _relations(result)), result.violations
