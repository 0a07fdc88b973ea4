"""`overseer plan --what-if`: the whole chain of a failover, step by step.

A service that waits for another (start order, colocation) moves only in a
later pass; `what_follows` plays the agents between passes so it shows.
"""
from __future__ import annotations

from overseer.desired.state import ClusterSnapshot, MasterRecord
from overseer.reconciler.planner import Assign
from overseer.reconciler.what_if import what_follows, without_server
from tests.reconciler.planner_world import World
from tests.reconciler.test_planner_relations import call_centre, run


def snapshot_of(w: World, state) -> ClusterSnapshot:
    actual = w.actual()
    return ClusterSnapshot(cluster="t", revision=10, desired=state, servers=actual.servers,
                           master=MasterRecord("b", 7), observations=actual.observations,
                           reports=actual.reports, assignments=dict(w.assignments))


def test_what_if_down_shows_each_service_in_the_step_where_it_moves():
    state, w = call_centre(), World(live={"a": "ok", "b": "ok", "c": "ok"})
    run(w, state)
    steps = what_follows(without_server(snapshot_of(w, state), "a"), now=1000.0)
    moved = [{a.service: a.active for a in step if isinstance(a, Assign) and a.active
              and a.active != w.assignments[a.service].active} for step in steps]
    assert moved[0] == {"db": ("b",), "pbx": ("b",)}
    assert moved[1] == {"dialer": ("b",)}   # follows pbx once pbx is active on b
    assert len(steps) == 2
    dialer = next(a for a in steps[1] if isinstance(a, Assign))
    assert dialer.reason.startswith("following pbx, active on b; b chosen"), dialer.reason


def test_nothing_to_do_is_no_step():
    state, w = call_centre(), World(live={"a": "ok", "b": "ok", "c": "ok"})
    run(w, state)
    snap = snapshot_of(w, state)
    steps = what_follows(snap, now=1000.0)
    assert all(not a.active or a.reason.startswith("adopted") for s in steps for a in s if isinstance(a, Assign))
