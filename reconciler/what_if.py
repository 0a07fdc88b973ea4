"""`overseer plan`: the master's own decision pass, run on a snapshot, writing nothing.

It runs the master's own pass (planner/master_pass.py) with the memory the
elected master would have: the same planner input (down tracking, failure
memory), the same settle hold and adoptions. Servers already gone count as gone long
enough for their failover margin to have passed (what a master that has been
running a while sees); `--what-if down=S` removes S's lease from the snapshot
and counts S as gone exactly its failover margin ago.

When S is the master itself, nobody is left to run that pass: the agents
elect a new master first (the highest-ranked live server of the hierarchy,
agent/election.py), and it is that master's pass which is shown, adoptions
of the old master's assignments included.

`what_follows` plays the agents' part between passes, so a service waiting
for another (reconciler/planner/relations.py) shows the step where it moves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

from overseer.desired.state import Assignment, ClusterSnapshot, MasterRecord, Role, ServiceReport

from .planner.actions import Assign
from .planner.health import DEFAULT_MARGIN
from .planner.master_pass import MasterMemory, assignment_time, master_pass, next_decision


@dataclass(frozen=True)
class Succession:
    """Who becomes master once the current one is gone (None: nobody can)."""
    old: str
    new: Optional[str]
    within: float           # the longest the election may take after the lease expired (seconds)


def without_server(snapshot: ClusterSnapshot, server: str) -> ClusterSnapshot:
    """The snapshot as it would be once `server`'s lease expired."""
    return replace(snapshot, servers={k: v for k, v in snapshot.servers.items() if k != server})


def succession(snapshot: ClusterSnapshot, gone: str) -> Optional[Succession]:
    """None unless `gone` is the master now; else who is elected in its place:
    the first live server of the hierarchy (servers outside it never campaign),
    after up to its rank x campaignDelay (election.should_campaign)."""
    if snapshot.master is None or snapshot.master.server != gone:
        return None
    spec = snapshot.desired.cluster.spec if snapshot.desired.cluster else None
    hierarchy = list(spec.hierarchy) if spec else []
    live = [s for s in hierarchy if s in snapshot.servers and s != gone]
    if not live:
        return Succession(gone, None, 0.0)
    return Succession(gone, live[0], hierarchy.index(live[0]) * (spec.campaignDelay if spec else 0.0))


def what_master_would_do(snapshot: ClusterSnapshot, now: float, down: Optional[str] = None) -> list:
    """The decisions of the master that would run now; `down` is a server
    taken out of `snapshot` a failover margin ago (`without_server`)."""
    master = snapshot.master or MasterRecord(server="", epoch=0)
    heir = succession(snapshot, down) if down else None
    if heir is not None:
        # a new master, whose epoch is not known yet: one that differs from every assignment's
        master = MasterRecord(server=heir.new or "", epoch=0)
    # missing servers: gone since "long ago", so their failover margin has passed
    down_since = {s: float("-inf") for s in snapshot.desired.servers if s not in snapshot.servers}
    if down is not None:
        spec = snapshot.desired.cluster.spec if snapshot.desired.cluster else None
        down_since[down] = now - (spec.failoverMargin if spec else DEFAULT_MARGIN)
    # a master long past its settle time
    memory = MasterMemory.long_running(master.epoch, down_since)
    return [_finite(action) for action in master_pass(snapshot, memory, now).actions]


def _finite(action):
    """A server gone "long ago" is in the planner's words plain "down" (what
    it says for a server it has no time for), never "gone infs ago"."""
    if isinstance(action, Assign) and "inf" in action.reason:
        reason = action.reason.replace(f"down (gone {math.inf:.1f}s ago)", "down")
        return replace(action, reason=reason)
    return action


def what_follows(snapshot: ClusterSnapshot, now: float, down: Optional[str] = None,
                 rounds: int = 8) -> list[list]:
    """The whole chain: the master's decisions now, then after each, as if
    every agent had done what it was told (actives promoted and reported,
    standbys reported) - so a service that waits for another (start order,
    colocation) shows the step where it moves. Stops when nothing changes."""
    steps = []
    for _ in range(rounds):
        actions = what_master_would_do(snapshot, now, down=down)
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
