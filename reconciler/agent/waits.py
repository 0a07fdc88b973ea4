"""A service that depends on others is made active here only once they are.

The master makes a dependent active only once what it `requires` has an
active, and a follower only where its anchor (`colocateWith`) is active
(planner/relations.py). An agent that restarts or reconnects with an
assignment naming it active for both sides would take both up at once,
without the master: the follower promoted before its anchor. So each worker
holds a promote (and a start as active) until its own snapshot shows what
the service requires active somewhere, and its anchor active on this very
server: the agent's own safety rule, as its fence checks are, not the
master's. "Active" is read as the planner reads it
(relations.reported_active): reported role active for the current
assignment by a live server's running agent; on this very server (the
anchor always, a requirement when it runs here), also active in this agent
now: its report may not have reached etcd yet, or may be older than a
step-down still on its way (one made while etcd was unreachable).

Level-triggered: every snapshot re-evaluates the hold (LocalServices.sync).
While held, the worker changes nothing and reports its role as it is with
outcome `pending` and what it waits for: the board shows "waiting for db",
and the master reads a pending report as neither a step-down nor a fenced
server (it may still promote under that assignment). The hold itself is a
rule of the service's state machine (service_state.held).
"""
from __future__ import annotations

from typing import Callable

from overseer.desired.models import ServiceDoc
from overseer.desired.state import ClusterSnapshot
from overseer.reconciler.planner.relations import reported_active, waiting_words


def waiting_for(doc: ServiceDoc, server: str, snapshot: ClusterSnapshot,
                active_here: Callable[[str], bool]) -> str:
    """What keeps `doc`'s service from being made active on `server` now, in
    words; "" when nothing does. `active_here(name)`: this agent runs `name` as active."""
    name, spec, services = doc.metadata.name, doc.spec, snapshot.desired.services

    def up(other: str, where: str) -> bool:
        assignment = snapshot.assignments.get(other)
        return (assignment is not None and where in assignment.active
                and reported_active(snapshot.servers, snapshot.reports, assignment, where, other))

    def has_active(other: str) -> bool:
        # here, this agent knows better than its own report: a requirement that
        # stopped here while etcd was unreachable still reads active in etcd
        assignment = snapshot.assignments.get(other)
        return assignment is not None and any(up(other, s) and (s != server or active_here(other))
                                              for s in assignment.active)

    missing = [r for r in spec.requires if r in services and r != name and not has_active(r)]
    if missing:
        return waiting_words(missing)
    anchor = spec.colocateWith
    if anchor in services and anchor != name and not (active_here(anchor) and up(anchor, server)):
        return f"waiting for {anchor} to be active here (colocated with it)"
    return ""
