"""The reconcile loop that only the elected master runs.

Level-triggered: every call gets a whole consistent snapshot and decides
with the pure master pass (planner/master_pass.py), handing it the memory
kept from the previous pass (`MasterMemory`: down tracking, the settle
window, the epoch whose assignments are adopted) and keeping the one it
returns; then writes the decisions in one transaction guarded by the
master's epoch. A StaleEpoch means we were deposed: stop at once. Servers
already gone when we took over count as gone since that moment, so a fresh
master still waits the failover margin before moving their services.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Mapping, Optional

from overseer.desired.state import ClusterSnapshot, MasterRecord
from overseer.desired.store.client import ServerReturned, StaleEpoch, StoreError
from overseer.desired.store.store import Store

from .fence_agent import FenceCall, FenceResult, run_fence
from .master_fencing import FenceRuns
from .metrics import RECONCILE_DURATION
from .planner.actions import FenceServer
from .planner.master_pass import MasterMemory, MasterPass, actual_from, master_pass, wakeup, writes

log = logging.getLogger(__name__)

# Told of every reconcile pass: (snapshot, memory, now, vouched, MasterPass).
# Only the golden-file recorder listens (tests/planner_golden/record.py).
PASS_LISTENERS: list[Callable[[ClusterSnapshot, MasterMemory, float, Mapping[str, float], MasterPass], None]] = []


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
        # what this master carries from one pass to the next (planner/master_pass.py)
        self.memory = MasterMemory(master.epoch, clock())
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

    def decide(self, snapshot: ClusterSnapshot, now: float) -> MasterPass:
        """One pass's decisions from the memory kept so far, which it replaces."""
        vouched = self.vouched(now)
        outcome = master_pass(snapshot, self.memory, now, vouched)
        for listener in PASS_LISTENERS:
            listener(snapshot, self.memory, now, vouched, outcome)
        self.memory = outcome.memory
        return outcome

    def decisions(self, snapshot: ClusterSnapshot, now: float) -> list:
        """Everything this master would write now: the plan (down tracking and
        failure memory included), held back while settling, plus adoptions.
        `overseer plan` calls exactly this, so it cannot disagree with us."""
        return list(self.decide(snapshot, now).actions)

    def wakeup_after(self, snapshot: ClusterSnapshot, now: float) -> Optional[float]:
        """Seconds until the planner wants another look (a margin expiring)."""
        return wakeup(snapshot, actual_from(snapshot, self.memory.down_since), self.memory, now)

    async def reconcile(self, snapshot: ClusterSnapshot) -> Optional[float]:
        """One pass. Returns seconds until the next timed pass, or None."""
        if snapshot.revision < self.epoch:
            return None  # read before we won: says nothing about our mastership
        if snapshot.master is None or snapshot.master.epoch != self.epoch:
            self.deposed = True
            return None
        started = time.perf_counter()
        now = self.clock()
        outcome = self.decide(snapshot, now)
        fences = [a for a in outcome.actions if isinstance(a, FenceServer)]
        to_write = [a for a in outcome.actions if not isinstance(a, FenceServer)]
        if to_write:
            await self._apply(snapshot, to_write, now)
        if fences and not (self.deposed or self.retired):
            self.fence_runs.start(snapshot, fences)
        RECONCILE_DURATION.observe(time.perf_counter() - started)
        return outcome.wakeup

    async def _apply(self, snapshot: ClusterSnapshot, actions: list, now: float) -> None:
        records = writes(snapshot, actions, self.epoch, now)
        assigns, history = list(records.assigns), list(records.history)
        if self.retired:
            return
        try:
            await self.etcd(self.store.write_decisions, self.epoch, assigns, history,
                            list(records.cleared), dict(records.gone))
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


def _history_limit(snapshot: ClusterSnapshot) -> int:
    cluster = snapshot.desired.cluster
    return cluster.spec.historyLimit if cluster else 200
