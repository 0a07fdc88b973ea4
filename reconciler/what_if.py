"""`overseer plan`: the master's own decision pass, run on a snapshot, writing nothing.

It builds a MasterLoop as the elected master would have it and asks it for
`decisions()`: the same planner input (down tracking, failure memory), the
same settle hold and adoptions. Servers already gone count as gone long
enough for their failover margin to have passed (what a master that has been
running a while sees); `--what-if down=S` removes S's lease from the snapshot.
`what_follows` plays the agents' part between passes, so a service waiting
for another (reconciler/planner/relations.py) shows the step where it moves.
"""
from __future__ import annotations

from dataclasses import replace

from overseer.desired.state import Assignment, ClusterSnapshot, MasterRecord, Role, ServiceReport

from .master import MasterLoop, assignment_time, next_decision
from .planner.actions import Assign


def without_server(snapshot: ClusterSnapshot, server: str) -> ClusterSnapshot:
    """The snapshot as it would be once `server`'s lease expired."""
    return replace(snapshot, servers={k: v for k, v in snapshot.servers.items() if k != server})


def what_master_would_do(snapshot: ClusterSnapshot, now: float) -> list:
    master = snapshot.master or MasterRecord(server="", epoch=0)
    loop = MasterLoop(store=None, master=master, clock=lambda: now)
    loop.started = float("-inf")   # long past its settle time
    # missing servers: gone since "long ago", so their failover margin has passed
    loop.down_since = {s: float("-inf") for s in snapshot.desired.servers if s not in snapshot.servers}
    return loop.decisions(snapshot, now)


def what_follows(snapshot: ClusterSnapshot, now: float, rounds: int = 8) -> list[list]:
    """The whole chain: the master's decisions now, then after each, as if
    every agent had done what it was told (actives promoted and reported,
    standbys reported) - so a service that waits for another (start order,
    colocation) shows the step where it moves. Stops when nothing changes."""
    steps = []
    for _ in range(rounds):
        actions = what_master_would_do(snapshot, now)
        if not any(isinstance(a, Assign) for a in actions):
            break
        steps.append(actions)
        snapshot = _carried_out(snapshot, actions, now)
        now += 1e-3
    return steps


def _carried_out(snapshot: ClusterSnapshot, actions: list, now: float) -> ClusterSnapshot:
    assignments, reports = dict(snapshot.assignments), dict(snapshot.reports)
    epoch = snapshot.master.epoch if snapshot.master else 0
    for action in actions:
        if not isinstance(action, Assign):
            continue
        previous = assignments.get(action.service)
        record = Assignment(action.service, tuple(action.active), tuple(action.standby), epoch, action.reason,
                            assignment_time(previous, now), snapshot.desired.generation,
                            next_decision(previous, action))
        assignments[action.service] = record
        for role, servers in ((Role.ACTIVE, record.active), (Role.STANDBY, record.standby)):
            for server in servers:
                if server in snapshot.servers:
                    reports[(server, action.service)] = ServiceReport(
                        server, action.service, role, epoch, "ok", "what-if", now, None, record.time)
    return replace(snapshot, assignments=assignments, reports=reports)
