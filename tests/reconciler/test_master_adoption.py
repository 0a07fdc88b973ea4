"""A new master re-issues (adopts) the previous master's assignments under its
epoch, except those whose active is on a server that is down: the plan moves
those once the failover margin is over, and adopting them first wrote every
one twice (bench/scale.py: a master holding 300 actives killed)."""
from __future__ import annotations

from overseer.desired.state import Assignment, ClusterSnapshot, MasterRecord, ServerRecord
from overseer.reconciler.master import MasterLoop
from overseer.reconciler.planner.master_pass import MasterMemory
from overseer.reconciler.planner import Assign
from tests.reconciler.planner_world import desired, service

SERVERS = {"a": "", "b": "", "c": ""}


def _snapshot(live: list[str]) -> ClusterSnapshot:
    state = desired(SERVERS, [service("on-a", ["a", "b"]), service("on-b", ["b", "c"])])
    old = 3   # the dead master's epoch
    return ClusterSnapshot(cluster="t", revision=10, desired=state,
                           servers={s: ServerRecord(name=s) for s in live},
                           master=MasterRecord(server="b", epoch=7), observations={}, reports={},
                           assignments={"on-a": Assignment("on-a", ("a",), ("b",), old, "placed", 50.0),
                                        "on-b": Assignment("on-b", ("b",), ("c",), old, "placed", 50.0)})


def _assigned(actions) -> dict:
    return {a.service: (a.active, a.reason) for a in actions if isinstance(a, Assign)}


def test_adopts_what_stays_and_leaves_the_moves_to_the_plan():
    now = {"t": 100.0}
    loop = MasterLoop(store=None, master=MasterRecord(server="b", epoch=7), clock=lambda: now["t"])
    loop.memory = MasterMemory.long_running(7)
    gone = _snapshot(["b", "c"])                 # a (the old master) is gone
    first = _assigned(loop.decisions(gone, 100.0))
    assert set(first) == {"on-b"} and first["on-b"][1].startswith("adopted by epoch 7")
    later = _assigned(loop.decisions(gone, 101.0))   # the margin (0.5 s) is over
    assert later["on-a"][0] == ("b",) and not later["on-a"][1].startswith("adopted")


def test_every_assignment_is_adopted_when_all_servers_are_up():
    loop = MasterLoop(store=None, master=MasterRecord(server="b", epoch=7), clock=lambda: 100.0)
    loop.memory = MasterMemory.long_running(7)
    assigned = _assigned(loop.decisions(_snapshot(["a", "b", "c"]), 100.0))
    assert set(assigned) == {"on-a", "on-b"}
    assert all(reason.startswith("adopted by epoch 7") for _, reason in assigned.values())
