"""`overseer plan --what-if`: the whole chain of a failover, step by step.

A service that waits for another (start order, colocation) moves only in a
later pass; `what_follows` plays the agents between passes so it shows.
"""
from __future__ import annotations

from pathlib import Path

from overseer.desired.state import ClusterSnapshot, MasterRecord
from overseer.desired.validate import build_state, validate_paths
from overseer.reconciler.planner import Assign
from overseer.reconciler.what_if import what_follows, without_server
from tests.reconciler.planner_world import World
from tests.reconciler.test_planner_relations import call_centre, run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "qsuite.yaml"


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


def qsuite_moves(down: str) -> list[dict]:
    """examples/qsuite.yaml settled on its first candidates, then `down` lost:
    per step, the services given a new active (docs/call-centre.md shows it)."""
    state = build_state(validate_paths([EXAMPLE]).sources)
    w = World(live={s: "ok" for s in state.servers})
    run(w, state)
    epoch = next(iter(w.assignments.values())).epoch
    actual = w.actual()
    snap = ClusterSnapshot(cluster="qsuite", revision=10, desired=state, servers=actual.servers,
                           master=MasterRecord("web1", epoch), observations=actual.observations,
                           reports=actual.reports, assignments=dict(w.assignments))
    steps = what_follows(without_server(snap, down), now=1000.0, down=down)
    return [{a.service: a.active for a in step if isinstance(a, Assign) and a.active
             and a.active != w.assignments[a.service].active} for step in steps]


def test_the_example_call_centre_moves_the_dialer_after_the_pbx_and_keeps_dependents_on_a_db_failover():
    assert qsuite_moves("pbx1") == [{"asterisk": ("pbx2",)}, {"dialer": ("pbx2",)}]
    # web (web1) and dialer (pbx1) are active and stay: only the database moves
    assert qsuite_moves("db1") == [{"db": ("db2",)}]
