"""The master's fence agents: it carries out the planner's FenceServer actions.

Each runs as a task of its own, never on the reconcile pass: the pass goes
on planning everything else while a BMC takes seconds to answer. One fence
per server at a time. An attempt is written first (`fence/<server>`,
pending), then the command runs through `Edges.fence` (the real runner:
fence_agent.py; the simulator answers it), bounded by its timeout, then the
outcome is written with one history entry per waiting service. Every write
is guarded by the master's epoch and by the server still having no record
(Store.write_fence): a server that registered again meanwhile is not
fenced, and a deposed master writes nothing. The next pass (asked for at
once) moves the services on success, or plans the next attempt after the
back-off (planner/fencing.py).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Awaitable, Callable, Optional

from overseer.desired.fence import FenceAgent
from overseer.desired.state import ClusterSnapshot, FenceOutcome, FenceRecord, HistoryEntry, HistoryKind
from overseer.desired.store.client import ServerReturned, StaleEpoch, StoreError

from .fence_agent import FenceCall, FenceResult, fence_env, run_fence
from .planner.actions import FenceServer
from .planner.fencing import retry_delay

if TYPE_CHECKING:
    from .master import MasterLoop

log = logging.getLogger(__name__)

GRACE = 5.0   # beyond the command's timeout, for an edge that failed to enforce it


class FenceRuns:
    """The fence attempts one master has under way, at most one per server."""

    def __init__(self, master: "MasterLoop", run: Callable[[FenceCall], Awaitable[FenceResult]] = run_fence,
                 look_again: Callable[[], None] = lambda: None):
        self.master, self.run, self.look_again = master, run, look_again
        self.running: dict[str, asyncio.Task] = {}

    def start(self, snapshot: ClusterSnapshot, actions: list[FenceServer]) -> None:
        for action in actions:
            doc = snapshot.desired.servers.get(action.server)
            if action.server in self.running or doc is None or doc.spec.fence is None:
                continue
            task = asyncio.get_running_loop().create_task(
                self._attempt(snapshot.cluster, doc.spec.address, doc.spec.fence, action,
                              snapshot.fences.get(action.server)),
                name=f"fence {action.server}")
            self.running[action.server] = task

    async def _attempt(self, cluster: str, address: str, spec: FenceAgent, action: FenceServer,
                       previous: Optional[FenceRecord]) -> None:
        try:
            await self._run(cluster, address, spec, action, previous)
        finally:
            self.running.pop(action.server, None)

    def _writable(self) -> bool:
        return not (self.master.retired or self.master.deposed)

    async def _write(self, record: FenceRecord, history: list[HistoryEntry]) -> bool:
        """One guarded write; False when it was refused or failed (logged)."""
        m = self.master
        if not self._writable():
            return False
        try:
            await m.etcd(m.store.write_fence, m.epoch, record, history)
        except StaleEpoch as exc:
            log.error("deposed while fencing %s: %s", record.server, exc)
            m.deposed = True
            return False
        except ServerReturned:
            # its registration ended the outage: nothing to fence, or to record
            what = "not fenced" if record.outcome == FenceOutcome.PENDING else f"fence {record.outcome} not recorded"
            log.warning("%s registered again: %s (epoch %d)", record.server, what, m.epoch)
            return False
        except StoreError as exc:
            log.warning("could not record the fence of %s (%s, epoch %d): %s",
                        record.server, record.outcome, m.epoch, exc)
            return False
        return True

    async def _run(self, cluster: str, address: str, spec: FenceAgent, action: FenceServer,
                   previous: Optional[FenceRecord]) -> None:
        m, server, services = self.master, action.server, tuple(action.services)
        me, epoch = m.master.server, m.epoch
        started = m.clock()
        pending = FenceRecord(server, started, started, FenceOutcome.PENDING, epoch, action.attempt, "",
                              services, me, spec.timeout)
        first = [HistoryEntry(s, started, HistoryKind.FENCE,
                              f"fencing {server} before {s} moves (its fence agent, on {me}): {action.reason}",
                              server, epoch) for s in services] if action.attempt == 1 else []
        if not await self._write(pending, first):
            return
        log.warning("fencing %s for %s (attempt %d, epoch %d): %s", server, ", ".join(services),
                    action.attempt, epoch, action.reason)
        call = FenceCall(tuple(spec.command), fence_env(cluster, me, epoch, server, address, action.attempt,
                                                        services, action.reason), spec.timeout, server)
        try:
            result = await asyncio.wait_for(self.run(call), spec.timeout + GRACE)
        except asyncio.TimeoutError:
            result = FenceResult(False, f"did not end within {spec.timeout:g}s")
        ended = m.clock()
        took = max(ended - started, 0.0)
        outcome = FenceOutcome.OK if result.ok else FenceOutcome.FAILED
        record = FenceRecord(server, started, ended, outcome, epoch, action.attempt, result.message,
                             services, me, spec.timeout)
        history = [HistoryEntry(s, ended, HistoryKind.FENCE, self._words(record, s, took), server, epoch)
                   for s in services if self._worth_history(record, previous)]
        for s in services:
            log_at = logging.WARNING if result.ok else logging.ERROR
            log.log(log_at, "%s: %s (epoch %d)", s, self._words(record, s, took), epoch)
        if await self._write(record, history):
            self.look_again()

    @staticmethod
    def _words(record: FenceRecord, service: str, took: float) -> str:
        why = f": {record.message}" if record.message else ""
        if record.outcome == FenceOutcome.OK:
            return f"{record.server} fenced by its fence agent in {took:.1f}s{why}; {service} moves on"
        return (f"fence of {record.server} failed (attempt {record.attempt}, after {took:.1f}s){why};"
                f" {service} stays without an active; next attempt in {retry_delay(record.attempt):g}s"
                f" (or `overseer fence confirm {record.server}` once it is known to be off)")

    @staticmethod
    def _worth_history(record: FenceRecord, previous: Optional[FenceRecord]) -> bool:
        """Success, the first failure and a failure that says something new;
        a BMC that stays unreachable for an hour must not push a service's
        whole history out (every attempt is still logged)."""
        if record.outcome == FenceOutcome.OK or record.attempt == 1 or previous is None:
            return True
        return previous.outcome != FenceOutcome.FAILED or previous.message != record.message
