"""Planner: cordoned servers (`overseer cordon`) and scheduled switchovers (`--at`).

A cordoned server keeps what it runs, gets nothing new unless it is the only
eligible candidate left (and the reason says so), and is never the target
of a planned move. A scheduled switchover waits for its moment, and the
master is told when to look again.
"""
from __future__ import annotations

from overseer.desired.state import SwitchoverRequest
from overseer.reconciler.planner import ClearSwitchover, next_wakeup
from tests.reconciler.planner_world import World, assigns, desired, only_assign, service

DOMAINS = {"pbx1": "a", "pbx2": "b", "pbx3": "c"}
ALL_OK = {"pbx1": "ok", "pbx2": "ok", "pbx3": "ok"}


def pbx(mode: str = "active-standby"):
    return desired(DOMAINS, [service("pbx", ["pbx1", "pbx2", "pbx3"], mode=mode)])


def settled(world: World, state, now: float = 0.0) -> World:
    return world.settle(state, now)


def test_nothing_new_is_placed_on_a_cordoned_server():
    w = World(live=dict(ALL_OK), cordoned={"pbx1"})
    a = only_assign(w.plan(pbx(), 0))
    assert a.active == ("pbx2",)
    assert a.standby[-1] == "pbx1"     # a cordoned standby is the last to be promoted


def test_cordon_keeps_the_active_where_it_runs():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.cordoned.add("pbx1")
    actions = w.plan(state, 1)
    assert all(a.active == ("pbx1",) for a in assigns(actions)), actions   # standby order only


def test_a_failover_skips_a_cordoned_standby():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.cordoned.add("pbx2")
    w.step(state, 1)
    w.kill("pbx1", 2)
    a = only_assign(w.plan(state, 10))
    assert a.active == ("pbx3",), a


def test_the_only_live_candidate_is_used_although_cordoned_and_the_reason_says_so():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.cordoned.update({"pbx2", "pbx3"})
    w.kill("pbx1", 2)
    a = only_assign(w.plan(state, 10))
    assert a.active == ("pbx2",), a
    assert "pbx2 chosen" in a.reason and "chosen although cordoned" in a.reason, a.reason


def test_a_switchover_never_targets_a_cordoned_server():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.cordoned.add("pbx2")
    w.switchovers["pbx"] = SwitchoverRequest("pbx", None, 1.0)
    first = only_assign(w.step(state, 1))
    assert first.standby[0] == "pbx3", first          # the successor named in phase 1
    w.switchovers["pbx"] = SwitchoverRequest("pbx", "pbx2", 1.0)
    refused = [a for a in w.plan(state, 2) if isinstance(a, ClearSwitchover)]
    assert refused and refused[0].refusal is not None and "cordoned" in refused[0].refusal.why, refused


def test_a_switchover_with_every_other_candidate_cordoned_is_refused_naming_them():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.cordoned.update({"pbx2", "pbx3"})
    w.switchovers["pbx"] = SwitchoverRequest("pbx", None, 1.0)
    actions = w.plan(state, 1)
    assert not assigns(actions), actions
    (clear,) = [a for a in actions if isinstance(a, ClearSwitchover)]
    assert "no eligible candidate" in clear.refusal.why and "pbx2, pbx3 cordoned" in clear.refusal.why


def test_all_active_adds_no_cordoned_server_but_keeps_one_that_runs():
    state = pbx("all-active")
    w = World(live=dict(ALL_OK), cordoned={"pbx3"})
    assert only_assign(w.step(state, 0)).active == ("pbx1", "pbx2")
    w.cordoned = {"pbx1"}
    w.cordoned.discard("pbx3")
    assert only_assign(w.plan(state, 1)).active == ("pbx1", "pbx2", "pbx3")


def test_a_scheduled_switchover_waits_for_its_moment_and_wakes_the_master():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.switchovers["pbx"] = SwitchoverRequest("pbx", "pbx3", 1.0, at=100.0)
    assert w.plan(state, 50) == []
    assert next_wakeup(state, w.actual(), w.assignments, 50) == 100.0
    first = only_assign(w.step(state, 100))
    assert first.active == () and first.standby[0] == "pbx3", first    # phase 1 at its moment
    assert first.reason.startswith("switchover requested"), first.reason


def test_a_scheduled_switchover_to_an_unhealthy_target_is_refused_at_its_moment():
    state = pbx()
    w = settled(World(live=dict(ALL_OK)), state)
    w.switchovers["pbx"] = SwitchoverRequest("pbx", "pbx3", 1.0, at=100.0)
    w.live["pbx3"] = "fail"
    assert w.plan(state, 99) == []
    actions = w.plan(state, 100)
    assert not assigns(actions)
    (clear,) = [a for a in actions if isinstance(a, ClearSwitchover)]
    assert "pbx3 is in fail" in clear.refusal.why
