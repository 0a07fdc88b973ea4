"""The master's pass as a pure function of snapshot, memory and now
(reconciler/planner/master_pass.py), and the reconcile loop that keeps
only the memory between passes (reconciler/master.py)."""
from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from overseer.desired.state import MasterRecord
from overseer.reconciler.master import MasterLoop
from overseer.reconciler.planner.actions import Assign
from overseer.reconciler.planner.master_pass import MasterMemory, master_pass
from tests.planner_golden import handwritten
from tests.planner_golden.record import record_seed


def test_the_memory_decides_what_the_snapshot_alone_does_not():
    """The same snapshot, other memories: other passes."""
    snapshot, memory, now, _ = handwritten.dead_active_within_margin()
    seen_late = master_pass(snapshot, memory, now)                       # gone 0.2 s: inside the margin
    seen_long_ago = master_pass(snapshot, MasterMemory(0, memory.started, {"a": 0.0}), now)
    assert seen_late.actions == () and seen_late.wakeup == pytest.approx(0.3)
    assert [a.active for a in seen_long_ago.actions if isinstance(a, Assign)] == [("b",)]

    snapshot, memory, now, _ = handwritten.adoption_of_a_previous_masters_assignments()
    assert memory.epoch == 7 and len(master_pass(snapshot, memory, now).actions) == 2   # both adopted
    assert master_pass(snapshot, MasterMemory.long_running(0), now).actions == ()       # its own epoch

    snapshot, memory, now, _ = handwritten.settle_window_holds_first_placement()
    assert master_pass(snapshot, memory, now).actions == ()                              # a is not up yet
    assert master_pass(snapshot, MasterMemory.long_running(0), now).actions != ()


def test_the_pass_is_pure_and_returns_the_next_memory():
    snapshot, memory, now, vouched = handwritten.vouched_server_counts_as_running()
    first, again = master_pass(snapshot, memory, now, vouched), master_pass(snapshot, memory, now, vouched)
    assert first == again
    assert memory.down_since == {"a": 10.0}                   # the input is not touched
    assert first.memory.down_since == {"a": 14.0}             # the vouch holds it running until 14
    assert first.memory.epoch == memory.epoch and first.memory.started == memory.started
    with pytest.raises(FrozenInstanceError):
        memory.epoch = 3


def test_the_loop_keeps_the_memory_its_pass_returned():
    snapshot, _, now, _ = handwritten.dead_active_within_margin()
    loop = MasterLoop(store=None, master=MasterRecord(server="b", epoch=0), clock=lambda: now)
    loop.memory = MasterMemory.long_running(0)
    assert loop.decisions(snapshot, now) == []
    assert loop.memory.down_since == {"a": now}               # first seen gone now: never sooner
    later = loop.decisions(snapshot, now + 0.6)               # its margin (0.5 s) is over
    assert [a.active for a in later if isinstance(a, Assign)] == [("b",)]
    assert later == list(master_pass(snapshot, MasterMemory.long_running(0, {"a": now}), now + 0.6).actions)


def test_a_simulated_masters_passes_replay_from_their_recorded_inputs():
    """Every pass of seed 7 that acted (fence agents, a failover) decides the
    same again from its input read back from the golden files' JSON."""
    recorded = record_seed(7, False, set())     # raises when a replay decides otherwise
    assert len(recorded) >= 3
