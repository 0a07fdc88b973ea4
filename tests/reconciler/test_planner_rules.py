"""Planner placement rules: eligibility, preference, stickiness, standbys, modes, pause."""
from __future__ import annotations

from overseer.reconciler.planner import ClearSwitchover, Record, plan, shared_failure_domain, what_if_down
from tests.reconciler.planner_world import World, assigns, desired, only_assign, service

DOMAINS = {"pbx1": "switch-a", "pbx2": "switch-b", "pbx3": "switch-a"}
ALL_OK = {"pbx1": "ok", "pbx2": "ok", "pbx3": "ok"}


def asterisk(**kw):
    return desired(DOMAINS, [service("asterisk", ["pbx1", "pbx2", "pbx3"], **kw)])


def settled(state, world: World, now: float = 0.0) -> World:
    return world.settle(state, now)


def test_initial_placement_first_candidate_with_reason_and_record():
    w = World(live=dict(ALL_OK))
    actions = w.plan(asterisk(), 0)
    a = only_assign(actions)
    assert (a.active, a.standby) == (("pbx1",), ("pbx2", "pbx3"))
    assert a.reason.startswith("initial placement")
    assert Record("asterisk", "placement", a.reason, "pbx1") in actions


def test_standby_prefers_other_failure_domain():
    w = World(live=dict(ALL_OK))
    a = only_assign(w.plan(asterisk(), 0))
    assert a.standby[0] == "pbx2"   # switch-b, while pbx1 and pbx3 share switch-a
    state = desired(DOMAINS, [service("asterisk", ["pbx1", "pbx3", "pbx2"])])
    assert only_assign(w.plan(state, 0)).standby == ("pbx2", "pbx3")


def test_idempotent_after_apply():
    state, w = asterisk(), World(live=dict(ALL_OK))
    w.step(state, 0)
    assert w.plan(state, 1) == []


def test_warn_skipped_when_ok_exists():
    w = World(live={"pbx1": "warn", "pbx2": "ok", "pbx3": "ok"})
    assert only_assign(w.plan(asterisk(), 0)).active == ("pbx2",)
    w = World(live=dict(ALL_OK))
    w.check("pbx1", "asterisk", "alive", "warn", "slow")
    assert only_assign(w.plan(asterisk(), 0)).active == ("pbx2",)


def test_warn_chosen_when_only_warn_exists():
    w = World(live={"pbx1": "fail", "pbx2": "warn", "pbx3": "warn"})
    a = only_assign(w.plan(asterisk(), 0))
    assert a.active == ("pbx2",)
    assert "pbx2 chosen" in a.reason


def test_fail_server_never_chosen():
    w = World(live={"pbx1": "fail", "pbx2": "fail", "pbx3": "ok"})
    assert only_assign(w.plan(asterisk(), 0)).active == ("pbx3",)
    w = World(live={"pbx1": "fail", "pbx2": "fail", "pbx3": "fail"})
    a = only_assign(w.plan(asterisk(), 0))
    assert a.active == () and "only 0 of 1 active" in a.reason


def test_non_critical_failure_does_not_disqualify():
    w = World(live=dict(ALL_OK))
    w.check("pbx1", "asterisk", "alive", "fail", "dead", critical=False)
    assert only_assign(w.plan(asterisk(), 0)).active == ("pbx1",)


def test_stickiness_healthy_active_stays_when_better_candidate_returns():
    state, w = asterisk(), World(live={"pbx2": "ok", "pbx3": "ok"})
    settled(state, w)
    assert w.assignments["asterisk"].active == ("pbx2",)
    w.live["pbx1"] = "ok"
    a = only_assign(w.plan(state, 1))          # pbx1 joins the standbys only
    assert a.active == ("pbx2",) and "pbx1" in a.standby
    assert not [x for x in w.plan(state, 1) if isinstance(x, Record)]


def test_failover_reason_uses_observation_message():
    state, w = asterisk(), settled(asterisk(), World(live=dict(ALL_OK)))
    w.check("pbx1", "asterisk", "alive", "fail", "process asterisk not running")
    a = only_assign(w.plan(state, 1))
    assert a.reason == ("pbx1: alive failed 3/3 (process asterisk not running) → demoting; "
                        "pbx2 will take over once pbx1 reports demoted")


def test_cold_standby_checks_never_disqualify_but_server_health_does():
    state = asterisk(standby="cold")
    w = settled(state, World(live=dict(ALL_OK)))
    w.check("pbx2", "asterisk", "alive", "unknown", "cold standby: not running")
    w.kill("pbx1", 0)
    assert only_assign(w.plan(state, 10)).active == ("pbx2",)
    w.live["pbx2"] = "fail"
    assert only_assign(w.plan(state, 10)).active == ("pbx3",)
    w.live["pbx2"] = "ok"
    # a cold standby does not run the service: a `fail` left from when it was
    # active is not current health (failure memory ranks it, test_planner_memory)
    w.check("pbx2", "asterisk", "alive", "fail", "left over from its last run")
    assert only_assign(w.plan(state, 10)).active == ("pbx2",)


def test_actuator_failure_moves_to_next_candidate():
    state, w = asterisk(), settled(asterisk(), World(live=dict(ALL_OK)))
    w.report("pbx1", "asterisk", "standby", outcome="failed", message="promote exited 1")
    a = only_assign(w.plan(state, 1))
    assert a.active == ("pbx2",)
    assert "pbx1: actuator failed (promote exited 1)" in a.reason


def test_failing_standby_stays_standby_but_is_not_promoted():
    state, w = asterisk(), settled(asterisk(), World(live=dict(ALL_OK)))
    w.check("pbx2", "asterisk", "alive", "fail", "x")
    assert w.plan(state, 1) == []
    w.kill("pbx1", 1)
    a = only_assign(w.plan(state, 5))
    assert a.active == ("pbx3",) and a.standby == ("pbx2",)


def test_paused_service_gets_nothing():
    state, w = asterisk(), World(live=dict(ALL_OK), paused={"asterisk"})
    assert w.plan(state, 0) == []
    w.paused = {"*"}
    assert w.plan(state, 0) == []


def test_all_active_every_eligible_candidate_in_order():
    state = asterisk(mode="all-active")
    w = World(live={"pbx1": "ok", "pbx2": "fail", "pbx3": "warn"})
    a = only_assign(w.step(state, 0))
    assert (a.active, a.standby) == (("pbx1", "pbx3"), ())
    w.check("pbx1", "asterisk", "alive", "fail", "dead")
    assert only_assign(w.step(state, 1)).active == ("pbx3",)
    w.live["pbx2"] = "ok"
    assert only_assign(w.step(state, 2)).active == ("pbx2", "pbx3")   # added at once, no fencing
    assert w.plan(state, 3) == []


def test_replicas_two_and_shortfall_reason():
    state = asterisk(replicas=2)
    w = World(live=dict(ALL_OK))
    assert only_assign(w.plan(state, 0)).active == ("pbx1", "pbx2")
    w = World(live={"pbx1": "ok", "pbx2": "fail"})
    a = only_assign(w.plan(state, 0))
    assert a.active == ("pbx1",) and "only 1 of 2 active" in a.reason and "pbx3: down" in a.reason


def test_unhealthy_active_kept_when_nobody_can_take_over():
    state = asterisk()
    w = settled(state, World(live=dict(ALL_OK)))
    w.live.update(pbx2="fail", pbx3="fail")
    w.step(state, 1)
    w.check("pbx1", "asterisk", "alive", "fail", "x")
    assert not [a for a in assigns(w.plan(state, 2)) if a.active != ("pbx1",)]


def test_what_if_down_moves_services_of_that_server_only():
    state = desired(DOMAINS, [service("asterisk", ["pbx1", "pbx2"]), service("web", ["pbx3", "pbx2"])])
    w = settled(state, World(live=dict(ALL_OK)))
    actions = what_if_down(state, w.actual(), w.assignments, 5, "pbx1")
    a = only_assign(actions)
    assert (a.service, a.active) == ("asterisk", ("pbx2",))
    assert "pbx1: down" in a.reason
    assert plan(state, w.actual(), w.assignments, 5) == []   # the real plan is unaffected


def test_shared_failure_domain():
    state = desired(DOMAINS, [service("a", ["pbx1", "pbx3"]), service("b", ["pbx1", "pbx2"])])
    assert shared_failure_domain(state, "a") == "switch-a"
    assert shared_failure_domain(state, "b") is None
    assert shared_failure_domain(state, "missing") is None


def test_output_ordered_by_service_name():
    state = desired(DOMAINS, [service(n, ["pbx1", "pbx2"]) for n in ("zeta", "alpha", "mid")])
    names = [a.service for a in World(live=dict(ALL_OK)).plan(state, 0)]
    assert names == sorted(names) and set(names) == {"alpha", "mid", "zeta"}


def test_clear_switchover_only_for_requests():
    w = World(live=dict(ALL_OK))
    assert not [a for a in w.plan(asterisk(), 0) if isinstance(a, ClearSwitchover)]
