"""Two-phase fenced handover: failover, margin wait with next_wakeup, switchover."""
from __future__ import annotations

from overseer.desired.state import SwitchoverRequest
from overseer.reconciler.planner import ClearSwitchover, Record, Refusal, next_wakeup
from tests.reconciler.planner_world import World, desired, only_assign, service

DOMAINS = {"pbx1": "switch-a", "pbx2": "switch-b", "pbx3": "switch-a"}
MARGIN = 0.5
ALL_OK = {"pbx1": "ok", "pbx2": "ok", "pbx3": "ok"}


def asterisk(**kw):
    return desired(DOMAINS, [service("asterisk", ["pbx1", "pbx2", "pbx3"], **kw)], margin=0.5)


def settled(state) -> World:
    return World(live=dict(ALL_OK)).settle(state)


def test_two_phase_failover_waits_for_demoted_report():
    state = asterisk()
    w = settled(state)
    w.check("pbx1", "asterisk", "alive", "fail", "process asterisk not running")
    phase1 = w.step(state, 1)
    a = only_assign(phase1)
    assert (a.active, a.standby) == ((), ("pbx2", "pbx3", "pbx1"))
    assert Record("asterisk", "demote", a.reason, "pbx1") in phase1
    assert w.plan(state, 2) == []                  # still reported active: nothing new
    w.report("pbx1", "asterisk", "standby")
    assert w.plan(state, 2) == []                  # the standbys have not seen phase 1 yet
    w.ack("asterisk", "pbx2", "pbx3")
    phase2 = w.step(state, 3)
    a = only_assign(phase2)
    assert a.active == ("pbx2",)
    assert [r.kind for r in phase2 if isinstance(r, Record)] == ["failover"]
    assert w.plan(state, 4) == []


def test_cold_standby_handover_does_not_return_to_failed_server():
    # after demotion the cold server's checks read "unknown": the successor named in phase 1 still wins
    state = asterisk(standby="cold")
    w = settled(state)
    w.check("pbx1", "asterisk", "alive", "fail", "dead")
    w.step(state, 1)
    w.check("pbx1", "asterisk", "alive", "unknown")
    w.report("pbx1", "asterisk", "standby")
    w.ack("asterisk", "pbx2", "pbx3")
    assert only_assign(w.step(state, 2)).active == ("pbx2",)


def test_dead_active_waits_for_margin_and_next_wakeup_says_when():
    state = asterisk()
    w = settled(state)
    w.kill("pbx1", 10.0)
    assert w.plan(state, 10.2) == []
    assert next_wakeup(state, w.actual(), w.assignments, 10.2) == 10.5
    a = only_assign(w.step(state, 10.5))
    assert a.active == ("pbx2",) and a.reason.startswith("pbx1: down")
    assert next_wakeup(state, w.actual(), w.assignments, 10.5) is None


def test_a_move_off_a_dead_active_names_it_gone_so_the_write_requires_it_still_absent():
    # The store makes this write conditional on pbx1 not having registered
    # again: a returning agent must never meet a successor chosen on a stale
    # snapshot (simulator seed 7029).
    state = asterisk()
    w = settled(state)
    w.kill("pbx1", 10.0)
    a = only_assign(w.step(state, 10.5))
    assert a.active == ("pbx2",) and a.gone == ("pbx1",)
    # a move between live servers, fenced by reports, assumes nobody gone
    w.live["pbx1"] = "ok"
    w.report("pbx1", "asterisk", "standby")
    w.check("pbx2", "asterisk", "alive", "fail", "dead")
    w.step(state, 11)                                  # phase 1: demote pbx2
    w.report("pbx2", "asterisk", "standby")
    w.ack("asterisk", "pbx1", "pbx3")
    moved = only_assign(w.step(state, 12))
    assert moved.active != ("pbx2",) and moved.gone == ()


def test_missing_down_since_means_long_ago():
    state = asterisk()
    w = settled(state)
    w.live.pop("pbx1")
    assert only_assign(w.plan(state, 0)).active == ("pbx2",)


def test_switchover_to_target_overrides_stickiness():
    state = asterisk()
    w = settled(state)
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", to="pbx3")
    a = only_assign(w.step(state, 1))
    assert (a.active, a.standby[0], a.standby[-1]) == ((), "pbx3", "pbx1")
    assert "asterisk" in w.switchovers
    assert w.plan(state, 2) == []
    w.report("pbx1", "asterisk", "standby")
    w.ack("asterisk", "pbx2", "pbx3")
    actions = w.step(state, 3)
    assert only_assign(actions).active == ("pbx3",)
    assert ClearSwitchover("asterisk") in actions
    assert [r.kind for r in actions if isinstance(r, Record)] == ["switchover"]
    assert w.plan(state, 4) == []


def test_switchover_without_target_picks_best_non_active():
    state = asterisk()
    w = settled(state)
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk")
    assert only_assign(w.step(state, 1)).standby[0] == "pbx2"
    w.report("pbx1", "asterisk", "standby")
    w.ack("asterisk", "pbx2", "pbx3")
    actions = w.step(state, 2)
    assert only_assign(actions).active == ("pbx2",)
    assert ClearSwitchover("asterisk") in actions


def test_switchover_refused():
    state = desired({**DOMAINS, "pbx4": ""}, [service("asterisk", ["pbx1", "pbx2", "pbx3"])])
    w = settled(state)
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", to="pbx4")
    assert w.plan(state, 1) == [ClearSwitchover("asterisk", Refusal("pbx4 is not a candidate of asterisk"))]
    w.check("pbx3", "asterisk", "alive", "fail", "not running")
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", to="pbx3")
    assert w.plan(state, 1) == [ClearSwitchover(
        "asterisk", Refusal("pbx3 is in fail: alive failed 3/3 (not running)"))]
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", to="pbx1")
    assert w.plan(state, 1)[0].outcome.startswith("refused: pbx1 is already active")


def test_paused_service_keeps_switchover_request():
    state = asterisk()
    w = settled(state)
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", to="pbx2")
    w.paused = {"asterisk"}
    assert w.plan(state, 1) == []


def test_unreported_live_active_is_not_fenced():
    state = asterisk()
    w = World(live=dict(ALL_OK))
    w.step(state, 0)                  # pbx1 assigned, never reported yet
    w.check("pbx1", "asterisk", "alive", "fail", "x")
    a = only_assign(w.step(state, 1))
    assert a.active == ()             # demoted first; pbx2 waits for pbx1's report
    assert w.plan(state, 2) == []


def test_stray_active_report_blocks_promotion_until_it_demotes():
    state = asterisk()
    w = World(live=dict(ALL_OK))
    w.report("pbx3", "asterisk", "active")    # an agent still running an old assignment
    a = only_assign(w.step(state, 0))
    assert a.active == () and a.standby[0] == "pbx1" and a.standby[-1] == "pbx3"
    w.report("pbx3", "asterisk", "standby")
    # during a handover every live standby must have reported before anyone is
    # promoted; waiting for them changes nothing in the assignment
    assert w.step(state, 1) == []
    w.report("pbx1", "asterisk", "standby")
    w.report("pbx2", "asterisk", "standby")
    assert only_assign(w.step(state, 1)).active == ("pbx1",)


def test_replicas_two_replaces_only_the_failed_one():
    state = desired({**DOMAINS, "pbx4": "switch-b"},
                    [service("asterisk", ["pbx1", "pbx2", "pbx3", "pbx4"], replicas=2)])
    w = World(live={**ALL_OK, "pbx4": "ok"})
    w.step(state, 0)
    for s in ("pbx1", "pbx2"):
        w.report(s, "asterisk", "active")
    for s in ("pbx3", "pbx4"):
        w.report(s, "asterisk", "standby")
    w.check("pbx2", "asterisk", "alive", "fail", "x")
    assert only_assign(w.step(state, 1)).active == ("pbx1",)
    w.report("pbx2", "asterisk", "standby")
    w.ack("asterisk", "pbx1", "pbx3", "pbx4")
    assert only_assign(w.step(state, 2)).active == ("pbx1", "pbx3")


def test_a_report_older_than_the_assignment_does_not_fence():
    """pbx2 was just made active; its "standby" report predates that assignment
    (a promote may be under way). A second switchover must demote pbx2 first,
    not promote pbx3 next to a pbx2 that may still come up as active."""
    state = asterisk()
    w = settled(state)
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", "pbx2", 1.0)
    only_assign(w.step(state, 1))                 # phase 1: pbx1 demoted
    w.report("pbx1", "asterisk", "standby")
    w.ack("asterisk", "pbx2", "pbx3")
    a = only_assign(w.step(state, 2))             # phase 2: pbx2 named active at t=2
    assert a.active == ("pbx2",)
    assert w.reports[("pbx2", "asterisk")].assigned < w.assignments["asterisk"].time
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", "pbx3", 3.0)
    a = only_assign(w.step(state, 3))
    assert a.active == () and "pbx3" not in a.active, a   # demote pbx2 first
    w.report("pbx2", "asterisk", "standby")      # now a report for the current assignment
    w.ack("asterisk", "pbx1", "pbx3")
    a = only_assign(w.step(state, 4))
    assert a.active == ("pbx3",)


def test_a_standby_whose_lease_just_went_stays_listed_until_its_margin_passed():
    # etcd expired every lease at once (a stall): the standby is only
    # re-registering. Dropping it at once stopped its warm standby for nothing;
    # it goes, as a dead active does, once its failover margin passed.
    state = asterisk()
    w = settled(state)
    standby = w.assignments["asterisk"].standby
    w.kill("pbx2", 10.0)
    assert w.plan(state, 10.1) == []
    assert next_wakeup(state, w.actual(), w.assignments, 10.1) == 10.0 + MARGIN
    a = only_assign(w.step(state, 10.0 + MARGIN))
    assert a.active == ("pbx1",) and "pbx2" not in a.standby
    w.live["pbx2"] = "ok"                      # back: listed again
    assert "pbx2" in only_assign(w.step(state, 11)).standby
    assert standby[0] == "pbx2"


def test_a_server_holding_its_promote_is_demoted_before_a_move():
    """A "pending" report (its agent holds the promote until what the service
    depends on is active: agent/waits.py) is neither a step-down nor a fenced
    server: it may still promote under this assignment, so a move demotes it first."""
    state = asterisk()
    w = settled(state)
    w.report("pbx1", "asterisk", "standby", outcome="pending", message="waiting for db: it has no active (required)")
    assert w.plan(state, 1) == []                  # no re-issue: it did not step down
    w.switchovers["asterisk"] = SwitchoverRequest("asterisk", to="pbx3")
    assert only_assign(w.step(state, 1)).active == ()   # phase 1
    w.report("pbx1", "asterisk", "standby")
    w.ack("asterisk", "pbx2", "pbx3")
    assert only_assign(w.step(state, 2)).active == ("pbx3",)
