"""What a supervised child's own death means to its service worker.

A mixin of `ServiceWorker` (service_worker.py), split out by decision: the
child (or an exec or systemd service's watched main process,
actuators/death_watch.py) died without being asked to (crash, kill -9, the
fencer), so the worker
counts a failure if it was active, reports at once instead of waiting for a
probe, and converges again from "stopped". A step that was running when the
child died must not overwrite that with the role the step would have left.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from overseer.desired.state import HistoryEntry, HistoryKind

from . import roles

log = logging.getLogger("overseer.reconciler.agent.service_worker")   # one log for the worker


class ChildExits:
    _exits: int   # children that died on their own so far (set by ServiceWorker)

    def _role_after(self, step: str, target: str, exits: int) -> str:
        # A child that died while the step ran leaves nothing running, whatever
        # the step said: a fence's demote "succeeding" on a child the fencer
        # killed meanwhile left a warm standby with no process, never started
        # again (simulator seed 77798: replicas 2 stuck at 1 active).
        return "stopped" if self._exits != exits else roles.role_after(step, target, self.standby_mode)

    def _child_exited(self, service: str, code: Optional[int], message: str) -> None:
        # Seen the moment the child dies: report at once, do not wait for a probe.
        self._exits += 1
        was = self.role
        if was == "active":
            self._failure(f"process exited: {message}")
        self.role = "stopped"
        if was == "active":
            self._block()
            # a crash is a demote the hooks must hear of: nobody will converge it away
            self.notify("demote", "active", "stopped", self.assignment, f"process exited: {message}")
        if hasattr(self.monitor, "child_died"):
            # the checks keep running (and failing) until we converge again
            self.monitor.child_died(message, self.actuator.followed)
        log.error("%s: child exited (%s) while %s", self.name, message, was)
        self._spawn(self._after_exit(was, message))

    def _spawn(self, coro) -> None:
        # keep a reference: a task nobody holds may be collected mid-flight
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _after_exit(self, was: str, message: str) -> None:
        await self._report("failed", f"process exited while {was}: {message}")
        await self.history(HistoryEntry(self.name, self.edges.wall(), HistoryKind.ROLE,
                                        f"{self.server}: process exited while {was}: {message}",
                                        self.server, self.epoch()))
        # A warm standby comes back on its own after a pause; an active waits for the master.
        asyncio.get_running_loop().call_later(self.retry_delay, self._wake.set)
