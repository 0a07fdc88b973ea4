"""Failure memory in the planner: marks rank, expire and never leave a service without an active;
actives that cannot serve under their assignment get it re-issued."""
from __future__ import annotations

from overseer.reconciler.planner import Assign, plan
from tests.reconciler.planner_world import World, assigns, desired, only_assign, service

DOMAINS = {"pbx1": "a", "pbx2": "b", "pbx3": "a"}
ALL_OK = {"pbx1": "ok", "pbx2": "ok", "pbx3": "ok"}
TEN_MIN = 600.0


def pbx(standby: str = "cold", **spec) -> tuple:
    svc = service("pbx", ["pbx1", "pbx2", "pbx3"], standby=standby)
    if spec:
        svc = svc.model_copy(update={"spec": svc.spec.model_copy(update=spec)})
    return desired(DOMAINS, [svc])


def placed_on(state, world: World, active: str, now: float = 0.0) -> World:
    """pbx is active on `active`, every agent has reported what it was told."""
    from overseer.desired.state import Assignment
    others = tuple(s for s in ("pbx1", "pbx2", "pbx3") if s != active and s in world.live)
    world.assignments["pbx"] = Assignment("pbx", (active,), others, time=now)
    world.report(active, "pbx", "active")
    for s in others:
        world.report(s, "pbx", "standby")
    return world


def test_a_remembered_failure_ranks_below_a_healthy_candidate():
    state = pbx()
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx3")
    w.failed("pbx1", "pbx", at=100.0)
    w.check("pbx3", "pbx", "alive", "fail", "process gone")
    a = only_assign(w.plan(state, 130.0))
    assert a.active == () and a.standby[0] == "pbx2", a   # phase 1: pbx3 demotes, pbx2 (not pbx1) is next
    assert "pbx2 will take over" in a.reason


def test_a_cold_standbys_left_over_fail_is_memory_not_health():
    """The demo's sequence: pbx1 failed once and is now a cold standby that
    still shows the `fail` of its last run; pbx2 (active) dies. pbx1 must get
    the service, and the reason must say it was chosen despite its failure."""
    state = desired({"pbx1": "a", "pbx2": "b"}, [service("pbx", ["pbx1", "pbx2"], standby="cold")])
    w = placed_on(state, World(live={"pbx1": "ok", "pbx2": "ok"}), "pbx2")
    w.failed("pbx1", "pbx", at=100.0, message="process exited: killed by SIGKILL")
    w.check("pbx1", "pbx", "alive", "fail", "left over from when pbx1 was active")
    w.kill("pbx2", 110.0)
    a = only_assign(w.plan(state, 120.0))
    assert a.active == ("pbx1",), a
    assert "remembered 1 failure (last: process exited: killed by SIGKILL)" in a.reason, a.reason
    assert "expires in 9m40s" in a.reason, a.reason


def test_a_marked_server_is_picked_when_it_is_the_only_live_candidate():
    state = pbx()
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx3")
    w.failed("pbx1", "pbx", at=100.0)
    w.failed("pbx2", "pbx", at=101.0, count=3)
    w.kill("pbx3", 110.0)
    a = only_assign(w.plan(state, 120.0))
    assert a.active == ("pbx1",), a   # both marked: candidates order decides
    assert "remembered" in a.reason


def test_marks_expire_after_failure_timeout():
    state = pbx()
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx3")
    w.failed("pbx1", "pbx", at=100.0)
    w.kill("pbx3", 200.0)
    assert only_assign(w.plan(state, 100.0 + TEN_MIN - 1)).active == ("pbx2",)
    a = only_assign(w.plan(state, 100.0 + TEN_MIN))
    assert a.active == ("pbx1",) and "remembered" not in a.reason, a


def test_service_policy_overrides_the_cluster_defaults():
    state = pbx(migrationThreshold=2, failureTimeout=30.0)
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx3")
    w.failed("pbx1", "pbx", at=100.0)                 # one failure: below the threshold of 2
    w.kill("pbx3", 110.0)
    a = only_assign(w.plan(state, 120.0))
    assert a.active == ("pbx1",) and "below migrationThreshold 2" in a.reason, a
    w.failed("pbx1", "pbx", at=100.0, count=2)
    assert only_assign(w.plan(state, 120.0)).active == ("pbx2",)
    assert only_assign(w.plan(state, 130.0)).active == ("pbx1",)   # 30 s later it has expired


def test_current_health_still_excludes_a_warm_standby_failing_now():
    state = pbx(standby="warm")
    w = placed_on(state, World(live={"pbx1": "ok", "pbx2": "ok"}), "pbx2")
    w.check("pbx1", "pbx", "alive", "fail", "standby not running")
    w.kill("pbx2", 110.0)
    a = assigns(w.plan(state, 120.0))
    assert all("pbx1" not in x.active for x in a), a


def test_a_healthy_marked_active_stays_put():
    state = pbx()
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx1")
    w.failed("pbx1", "pbx", at=100.0)
    assert w.plan(state, 120.0) == []                 # a needless failover costs as much as a missed one


def test_a_self_fenced_active_is_moved_to_the_next_candidate():
    state = pbx(standby="warm")
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx1")
    w.report("pbx1", "pbx", "standby", message="self-fenced: no lease renewal for 4.0s")
    a = only_assign(w.plan(state, 5.0))
    assert a.active == ("pbx2",), a                   # pbx1 said standby for this very assignment: fenced
    assert "pbx1" in a.reason


def test_a_self_fenced_only_candidate_gets_its_assignment_re_issued():
    state = desired({"pbx1": "a"}, [service("pbx", ["pbx1"])])
    w = placed_on(state, World(live={"pbx1": "ok"}), "pbx1")
    w.report("pbx1", "pbx", "standby", message="self-fenced: lease expired")
    a = only_assign(w.plan(state, 5.0))
    assert (a.active, a.standby) == (("pbx1",), ()), a
    assert "stepped down (self-fenced)" in a.reason and "re-assigned" in a.reason
    w.apply([a], now=5.0)                              # a new record...
    assert w.plan(state, 6.0) == []                    # ...and no re-issue until pbx1 reports on it
    w.report("pbx1", "pbx", "active")
    assert w.plan(state, 7.0) == []


def test_a_failed_only_candidate_is_restarted_in_place_once_per_failure():
    state = desired({"pbx1": "a"}, [service("pbx", ["pbx1"])])
    w = placed_on(state, World(live={"pbx1": "ok"}), "pbx1")
    w.report("pbx1", "pbx", "stopped", outcome="failed", message="process exited while active")
    a = only_assign(w.plan(state, 5.0))
    assert a.active == ("pbx1",) and "re-assigned" in a.reason, a
    w.apply([a], now=5.0)
    w.check("pbx1", "pbx", "alive", "fail", "still failing until it recovers")
    assert w.plan(state, 6.0) == []                    # the failure was answered: no second re-issue


def test_plan_is_pure_and_repeatable_with_memory():
    state = pbx()
    w = placed_on(state, World(live=dict(ALL_OK)), "pbx3")
    w.failed("pbx1", "pbx", at=100.0)
    w.kill("pbx3", 110.0)
    first = plan(state, w.actual(), w.assignments, 120.0)
    assert first == plan(state, w.actual(), w.assignments, 120.0)
    assert isinstance(first[0], Assign)
