"""The reconcile loop that only the elected master runs.

Level-triggered: every call gets a whole consistent snapshot, plans from it
with the pure planner, and writes the decisions in one transaction guarded by
the master's epoch. A StaleEpoch means we were deposed: stop at once. Servers
already gone when we took over count as gone since that moment, so a fresh
master still waits the failover margin before moving their services.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Mapping, Optional

from overseer.desired.state import Assignment, ClusterSnapshot, HistoryEntry, HistoryKind, MasterRecord
from overseer.desired.store.client import ServerReturned, StaleEpoch, StoreError
from overseer.desired.store.store import Store

from .fence_agent import FenceCall, FenceResult, run_fence
from .master_fencing import FenceRuns
from .metrics import RECONCILE_DURATION
from .planner import next_wakeup, plan
from .planner.actions import Assign, ClearSwitchover, FenceServer, Record
from .planner.inputs import ActualState

log = logging.getLogger(__name__)


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


def actual_from(snapshot: ClusterSnapshot, down_since: dict[str, float]) -> ActualState:
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


class MasterLoop:
    def __init__(self, store: Store, master: MasterRecord, clock: Callable[[], float] = time.time,
                 etcd: Callable[..., Awaitable[Any]] = asyncio.to_thread,
                 vouched: Callable[[float], Mapping[str, float]] = lambda now: {},
                 fence: Callable[[FenceCall], Awaitable[FenceResult]] = run_fence,
                 look_again: Callable[[], None] = lambda: None):
        self.store = store
        # Servers whose failsafe this agent vouched for (failsafe.Vouches): their
        # actives may legitimately run until then although their lease is gone.
        self.vouched = vouched
        self.etcd = etcd  # runs one blocking Store call (agent/edges.py)
        self.master = master
        self.clock = clock
        self.started = clock()
        self.down_since: dict[str, float] = {}
        self.deposed = False
        self.retired = False   # set when the agent stepped down: write nothing more
        self._untrimmed: dict[str, int] = {}      # service -> history entries to keep
        self._trimmer: Optional[asyncio.Task] = None
        # dead servers' fence agents, run beside the passes (master_fencing.py)
        self.fence_runs = FenceRuns(self, fence, look_again)
        # told after each successful write (role-change hooks, reconciler/hooks/master_events.py)
        self.on_written: Callable[[ClusterSnapshot, list, list], None] = lambda snapshot, assigns, history: None

    @property
    def epoch(self) -> int:
        return self.master.epoch

    def _track_down(self, snapshot: ClusterSnapshot, now: float) -> None:
        desired = set(snapshot.desired.servers)
        live = set(snapshot.servers)
        vouched = self.vouched(now)
        for server in desired - live:
            # First sight of a missing server. A new master cannot know when an
            # earlier one saw it go, so it counts from now: never sooner.
            self.down_since.setdefault(server, now)
            if server in vouched:
                # we told it "etcd is gone here too": it keeps its actives until
                # then, so they count as running until then (plus the margin)
                self.down_since[server] = max(self.down_since[server], vouched[server])
        for server in live:
            self.down_since.pop(server, None)

    def actions_for(self, snapshot: ClusterSnapshot, now: float) -> list:
        self._track_down(snapshot, now)
        return plan(snapshot.desired, actual_from(snapshot, self.down_since), snapshot.assignments, now)

    def decisions(self, snapshot: ClusterSnapshot, now: float) -> list:
        """Everything this master would write now: the plan (down tracking and
        failure memory included), held back while settling, plus adoptions.
        `overseer plan` calls exactly this, so it cannot disagree with us."""
        actions = self._settled(snapshot, self.actions_for(snapshot, now), now)
        return actions + self._adoptions(snapshot, actions)

    def wakeup_after(self, snapshot: ClusterSnapshot, now: float) -> Optional[float]:
        """Seconds until the planner wants another look (a margin expiring)."""
        at = next_wakeup(snapshot.desired, actual_from(snapshot, self.down_since), snapshot.assignments, now)
        settle = self._settle_until(snapshot)
        if settle > now and (at is None or settle < at):
            at = settle
        return None if at is None else max(0.0, at - now)

    async def reconcile(self, snapshot: ClusterSnapshot) -> Optional[float]:
        """One pass. Returns seconds until the next timed pass, or None."""
        if snapshot.revision < self.epoch:
            return None  # read before we won: says nothing about our mastership
        if snapshot.master is None or snapshot.master.epoch != self.epoch:
            self.deposed = True
            return None
        started = time.perf_counter()
        now = self.clock()
        actions = self.decisions(snapshot, now)
        fences = [a for a in actions if isinstance(a, FenceServer)]
        writes = [a for a in actions if not isinstance(a, FenceServer)]
        if writes:
            await self._apply(snapshot, writes, now)
        if fences and not (self.deposed or self.retired):
            self.fence_runs.start(snapshot, fences)
        RECONCILE_DURATION.observe(time.perf_counter() - started)
        return self.wakeup_after(snapshot, now)

    def _settle_until(self, snapshot: ClusterSnapshot) -> float:
        spec = snapshot.desired.cluster.spec if snapshot.desired.cluster else None
        return self.started + (spec.campaignDelay * len(spec.hierarchy) if spec else 0.0)

    def _settled(self, snapshot: ClusterSnapshot, actions: list, now: float) -> list:
        """Right after the cluster starts, servers register one by one: hold the
        first placement of a service until its candidates are all up or the
        settle time (campaignDelay x servers) is over, so the preferred server
        gets it instead of whichever agent came up first."""
        if now >= self._settle_until(snapshot):
            return actions
        waiting = {name for name, doc in snapshot.desired.services.items()
                   if name not in snapshot.assignments
                   and not set(doc.spec.candidates) <= set(snapshot.servers)}
        return [a for a in actions if isinstance(a, FenceServer) or a.service not in waiting]

    def _adoptions(self, snapshot: ClusterSnapshot, actions: list) -> list:
        """Re-issue under our epoch every assignment a previous master wrote and
        the plan keeps: agents act only on the current master's epoch."""
        planned = {a.service for a in actions if isinstance(a, Assign)}
        # Not while an active is on a server that is down: the plan moves it
        # once the failover margin is over, and adopting it first rewrote
        # every such assignment twice (300 of them when a master holding 300
        # actives died, delaying the move itself: bench/scale.py). Its
        # standbys meanwhile keep the role the old assignment gave them.
        down = set(self.down_since)
        return [Assign(name, a.active, a.standby, f"adopted by epoch {self.epoch}: {_original(a.reason)}")
                for name, a in sorted(snapshot.assignments.items())
                if a.epoch != self.epoch and name not in planned and name in snapshot.desired.services
                and not snapshot.is_paused(name) and down.isdisjoint(a.active)]

    async def _apply(self, snapshot: ClusterSnapshot, actions: list, now: float) -> None:
        generation = snapshot.desired.generation
        assigns, history, cleared = [], [], []
        gone: dict[str, tuple[str, ...]] = {}
        for action in actions:
            if isinstance(action, Assign):
                if action.gone:
                    gone[action.service] = action.gone
                previous = snapshot.assignments.get(action.service)
                at = assignment_time(previous, now)
                assigns.append(Assignment(action.service, tuple(action.active), tuple(action.standby),
                                          self.epoch, action.reason, at, generation,
                                          next_decision(previous, action)))
            elif isinstance(action, Record):
                history.append(HistoryEntry(action.service, now, action.kind, action.message,
                                            action.server, self.epoch))
            elif isinstance(action, ClearSwitchover):
                cleared.append(action.service)
                kind = HistoryKind.SWITCHOVER if action.refusal is None else HistoryKind.SWITCHOVER_REFUSED
                history.append(HistoryEntry(action.service, now, kind,
                                            f"switchover {action.outcome}", "", self.epoch))
        if self.retired:
            return
        try:
            await self.etcd(self.store.write_decisions, self.epoch, assigns, history, cleared, gone)
        except StaleEpoch as exc:
            log.error("deposed while reconciling: %s", exc)
            self.deposed = True
            return
        except ServerReturned as exc:
            # its registration is on its way through the watch: that change
            # brings the next pass, which keeps what the server still runs
            log.warning("epoch %d: %s; planning again", self.epoch, exc)
            return
        self.on_written(snapshot, assigns, history)
        for a in assigns:
            log.info("%s: assigned active=%s standby=%s (epoch %d): %s", a.service,
                     ",".join(a.active) or "-", ",".join(a.standby) or "-", self.epoch, a.reason)
        self._trim_later({h.service for h in history}, _history_limit(snapshot))

    def _trim_later(self, services: set[str], keep: int) -> None:
        """Trim these services' history after the pass, one at a time. In the
        pass itself, a failover of 300 services made 300 sequential round
        trips before this agent's own snapshot loop (and its share of the
        failover) could go on (bench/scale.py)."""
        for service in services:
            self._untrimmed[service] = keep
        if services and (self._trimmer is None or self._trimmer.done()):
            self._trimmer = asyncio.get_running_loop().create_task(self._trim(), name="trim history")

    async def _trim(self) -> None:
        while self._untrimmed and not (self.retired or self.deposed):
            service = next(iter(self._untrimmed))
            keep = self._untrimmed.pop(service)
            try:
                await self.etcd(self.store.trim_history, service, keep)
            except StoreError as exc:
                # Only tidying: stop until the next pass that writes history,
                # with everything still queued. Going on would wait out one
                # timeout and log one line per service while etcd is away.
                self._untrimmed.setdefault(service, keep)
                log.warning("could not trim history (epoch %d), %d services left for later: %s",
                            self.epoch, len(self._untrimmed), exc)
                return


def _original(reason: str) -> str:
    return reason.split(": ", 1)[1] if reason.startswith("adopted by epoch ") else reason


def _history_limit(snapshot: ClusterSnapshot) -> int:
    cluster = snapshot.desired.cluster
    return cluster.spec.historyLimit if cluster else 200
