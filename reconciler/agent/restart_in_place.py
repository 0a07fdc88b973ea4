"""An operator's restart in place (`overseer restart`): stop and start the
active here, without a move.

A mixin of `ServiceWorker` (service_worker.py), split out by decision. The
request is a record in etcd (`control/restart/<service>`, naming the server),
level-triggered: every snapshot hands it to the worker, which acts on it only
where it is active, and deletes exactly that request with its outcome in the
history (one transaction), so it is carried out once:

- already satisfied: the active here started after the request was made
  (an agent that restarted, or crashed mid-restart and came back) — deleted
  without another restart;
- not active here and the assignment does not make us so (it moved): dropped,
  saying why;
- otherwise, under the worker's one-sequence lock: demote and stop, then the
  ordinary converge back to active (still-current fence check, start,
  promote, fencer told, report, hooks), as after any other stop.

The master is not involved and nothing moves: the assignment stays, and the
stop is asked for, so it counts no failure. A start or promote that fails
then is an ordinary failure as active (counted, reported, the master decides).
Checks go cold while stopped and earn no credit from before
(observers/monitor.py): if the restart takes longer than the planner waits
for a failing check, it is a failure like any other.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable, Optional

from overseer.actuators.base import ActionContext, ActuatorError
from overseer.desired.state import HistoryEntry, HistoryKind, RestartRequest

from . import roles

log = logging.getLogger("overseer.reconciler.agent.service_worker")   # one log for the worker


class RestartInPlace:
    # set by LocalServices: delete the request and record its outcome (Store.finish_restart)
    finish_restart: Callable[[RestartRequest, HistoryEntry], Awaitable[None]]
    started_at: float          # wall time the active here last became active (0: never)
    _restarting: Optional[float] = None   # the request being carried out (its `requested`)

    def restart_requested(self, request: Optional[RestartRequest]) -> None:
        """Called with every snapshot (level-triggered): act on a request for us."""
        if request is None or request.server != self.server or self._restarting == request.requested:
            return
        if self.role != "active" and roles.target_role(self.assignment, self.server) == "active":
            return   # on our way to active: the next snapshot after that carries it out
        self._restarting = request.requested
        self._spawn(self._restart(request))

    async def _restart(self, request: RestartRequest) -> None:
        try:
            async with self._acting:
                outcome = await self._restart_locked(request)
            if outcome is None:
                await self._converge_after_restart()
                outcome = (f"{self.server}: restarted in place (overseer restart)" if self.role == "active"
                           else f"{self.server}: restart in place: stopped, but not active again "
                                f"(now {self.role}; see its report)")
            await self.finish_restart(request, HistoryEntry(self.name, self.edges.wall(), HistoryKind.RESTART,
                                                            outcome, self.server, self.epoch()))
        finally:
            self._restarting = None

    async def _converge_after_restart(self) -> None:
        async with self._acting:
            await self._converge()

    async def _restart_locked(self, request: RestartRequest) -> Optional[str]:
        """Stop the active; None when stopped (start it again next), else why nothing was done."""
        if self.role != "active":
            return f"{self.server}: restart in place not done: {self.name} is not active here"
        if self.started_at > request.requested:
            return f"{self.server}: restart in place already done: active here since after the request"
        ctx = ActionContext(self.cluster, self.name, self.server, "standby", self.epoch())
        exits = self._exits
        log.warning("%s: restart in place asked by an operator: stopping the active (epoch %d)",
                    self.name, ctx.epoch)
        for step in roles.steps("active", "stopped", self.standby_mode, self.doc.spec.actuator.demote is not None):
            try:
                await getattr(self.actuator, step)(ctx)
            except ActuatorError as exc:
                # still active as far as we know: leave it so and say why
                log.error("%s: %s for a restart in place failed: %s", self.name, step, exc)
                self.poke()   # whatever that step left, the next converge pass takes it back to the assignment
                return f"{self.server}: restart in place failed at {step}: {exc}; left as it was"
            self.role = self._role_after(step, "stopped", exits)
        self.role = "stopped"
        self._set_monitor_role()
        self.on_role_change()
        self.notify("demote", "active", "stopped", self.assignment, "restart in place (overseer restart)")
        return None
