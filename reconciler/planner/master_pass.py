"""The master's whole decision pass as a pure function: snapshot + memory + now.

The planner proper (`plan()`) reads one snapshot; the master adds what it
remembers between passes (`MasterMemory`): since when each missing server is
gone, when it took over (the settle window) and its epoch (whose assignments
it adopts). `master_pass` takes that memory as input and returns the next
one with the actions, so a recorded (snapshot, memory, now, vouched)
determines the pass: the golden files (tests/reconciler/golden/) replay
exactly this. The reconcile loop (reconciler/master.py) only keeps the
memory between passes, writes what `writes()` derives, and logs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

from overseer.desired.state import Assignment, ClusterSnapshot, HistoryEntry, HistoryKind

from . import next_wakeup, plan
from .actions import Action, Assign, ClearSwitchover, FenceServer, Record
from .inputs import ActualState
from .relations import unadoptable


@dataclass(frozen=True)
class MasterMemory:
    """What one master carries from a pass to the next; never written to etcd."""
    epoch: int                   # the master's epoch: assignments under another are adopted
    started: float               # when it took over: the settle window counts from here
    # desired servers without a lease -> when this master first saw them gone
    # (or until when it vouched for them, if later)
    down_since: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def long_running(cls, epoch: int, down_since: Optional[Mapping[str, float]] = None) -> "MasterMemory":
        """A master long past its settle window (`overseer plan`, tests)."""
        return cls(epoch, -math.inf, dict(down_since or {}))


@dataclass(frozen=True)
class MasterPass:
    """One pass's outcome: what to do, what to remember, when to look again."""
    actions: tuple[Action, ...]
    memory: MasterMemory
    wakeup: Optional[float]      # seconds until a timed pass is due (None: only on change)


@dataclass(frozen=True)
class Writes:
    """The records one pass's actions become (one guarded transaction)."""
    assigns: tuple[Assignment, ...]
    history: tuple[HistoryEntry, ...]
    cleared: tuple[str, ...]
    gone: Mapping[str, tuple[str, ...]]


def master_pass(snapshot: ClusterSnapshot, memory: MasterMemory, now: float,
                vouched: Mapping[str, float] = {}) -> MasterPass:
    """Everything the master would decide now: the plan (down tracking and
    failure memory included), held back while settling, plus adoptions.
    `vouched`: servers whose failsafe this agent vouched for, until when."""
    down = track_down(snapshot, memory.down_since, vouched, now)
    actual = actual_from(snapshot, down)
    actions = settled(snapshot, plan(snapshot.desired, actual, snapshot.assignments, now), now, memory.started)
    actions += adoptions(snapshot, actions, memory.epoch, actual)
    after = replace(memory, down_since=down)
    return MasterPass(tuple(actions), after, wakeup(snapshot, actual, after, now))


def actual_from(snapshot: ClusterSnapshot, down_since: Mapping[str, float]) -> ActualState:
    return ActualState(
        servers=snapshot.servers,
        down_since=dict(down_since),
        observations=snapshot.observations,
        reports=snapshot.reports,
        paused=snapshot.paused,
        switchovers=snapshot.switchovers,
        failures=snapshot.failures,
        cordoned=snapshot.cordoned,
        fences=snapshot.fences,
    )


def track_down(snapshot: ClusterSnapshot, down_since: Mapping[str, float], vouched: Mapping[str, float],
               now: float) -> dict[str, float]:
    """The next `down_since`: missing servers keep the moment first seen gone;
    servers with a lease again are forgotten."""
    down = dict(down_since)
    live = set(snapshot.servers)
    for server in set(snapshot.desired.servers) - live:
        # First sight of a missing server. A new master cannot know when an
        # earlier one saw it go, so it counts from now: never sooner.
        down.setdefault(server, now)
        if server in vouched:
            # we told it "etcd is gone here too": it keeps its actives until
            # then, so they count as running until then (plus the margin)
            down[server] = max(down[server], vouched[server])
    for server in live:
        down.pop(server, None)
    return down


def settle_until(snapshot: ClusterSnapshot, started: float) -> float:
    spec = snapshot.desired.cluster.spec if snapshot.desired.cluster else None
    return started + (spec.campaignDelay * len(spec.hierarchy) if spec else 0.0)


def settled(snapshot: ClusterSnapshot, actions: list, now: float, started: float) -> list:
    """Right after the cluster starts, servers register one by one: hold the
    first placement of a service until its candidates are all up or the
    settle time (campaignDelay x servers) is over, so the preferred server
    gets it instead of whichever agent came up first."""
    if now >= settle_until(snapshot, started):
        return actions
    waiting = {name for name, doc in snapshot.desired.services.items()
               if name not in snapshot.assignments
               and not set(doc.spec.candidates) <= set(snapshot.servers)}
    return [a for a in actions if isinstance(a, FenceServer) or a.service not in waiting]


def adoptions(snapshot: ClusterSnapshot, actions: list, epoch: int, actual: ActualState) -> list:
    """Re-issue under our epoch every assignment a previous master wrote and
    the plan keeps: agents act only on the current master's epoch."""
    planned = {a.service for a in actions if isinstance(a, Assign)}
    # Not while an active is on a server that is down: the plan moves it
    # once the failover margin is over, and adopting it first rewrote
    # every such assignment twice (300 of them when a master holding 300
    # actives died, delaying the move itself: bench/scale.py). Its
    # standbys meanwhile keep the role the old assignment gave them.
    down = set(actual.down_since)
    # a service whose requirement (or colocation anchor) has no active yet waits for it: start order
    waiting = unadoptable(snapshot.desired, actual, snapshot.assignments)
    return [Assign(name, a.active, a.standby, f"adopted by epoch {epoch}: {_original(a.reason)}")
            for name, a in sorted(snapshot.assignments.items())
            if a.epoch != epoch and name not in planned and name in snapshot.desired.services
            and not snapshot.is_paused(name) and down.isdisjoint(a.active) and name not in waiting]


def wakeup(snapshot: ClusterSnapshot, actual: ActualState, memory: MasterMemory, now: float) -> Optional[float]:
    """Seconds until the planner wants another look (a margin expiring, the settle window ending)."""
    at = next_wakeup(snapshot.desired, actual, snapshot.assignments, now)
    settle = settle_until(snapshot, memory.started)
    if settle > now and (at is None or settle < at):
        at = settle
    return None if at is None else max(0.0, at - now)


def assignment_time(previous: Optional[Assignment], now: float) -> float:
    """A new record's time, strictly after the one it replaces: agents' reports
    name the assignment they answer by its time, so a re-issued decision must
    never look like the record it replaces (even with a clock step back)."""
    return now if previous is None or now > previous.time else previous.time + 1e-6


def next_decision(previous: Optional[Assignment], action: Assign) -> int:
    """The new record's decision counter (Assignment.decision)."""
    if previous is None:
        return 1
    moved = tuple(action.active) != tuple(previous.active)
    return previous.decision + 1 if moved or action.answers else previous.decision


def writes(snapshot: ClusterSnapshot, actions: list, epoch: int, now: float) -> Writes:
    """The records of the actions that are written (FenceServer runs apart)."""
    generation = snapshot.desired.generation
    assigns, history, cleared = [], [], []
    gone: dict[str, tuple[str, ...]] = {}
    for action in actions:
        if isinstance(action, Assign):
            if action.gone:
                gone[action.service] = action.gone
            previous = snapshot.assignments.get(action.service)
            assigns.append(Assignment(action.service, tuple(action.active), tuple(action.standby),
                                      epoch, action.reason, assignment_time(previous, now), generation,
                                      next_decision(previous, action)))
        elif isinstance(action, Record):
            history.append(HistoryEntry(action.service, now, action.kind, action.message, action.server, epoch))
        elif isinstance(action, ClearSwitchover):
            cleared.append(action.service)
            kind = HistoryKind.SWITCHOVER if action.refusal is None else HistoryKind.SWITCHOVER_REFUSED
            history.append(HistoryEntry(action.service, now, kind, f"switchover {action.outcome}", "", epoch))
    return Writes(tuple(assigns), tuple(history), tuple(cleared), gone)


def _original(reason: str) -> str:
    return reason.split(": ", 1)[1] if reason.startswith("adopted by epoch ") else reason


__all__ = ["MasterMemory", "MasterPass", "Writes", "master_pass", "writes", "actual_from",
           "assignment_time", "next_decision"]
