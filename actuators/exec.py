"""The `exec` actuator: the service is driven by the user's own commands.

start/stop/promote/demote/status are argv commands run with the OVERSEER_*
environment; `status` exiting 0 means running, non-zero means not running.
Without `status` the actuator cannot tell (running() is None) and the checks
decide. The service's `process` checks name its main process: its exit is
reported at once (death_watch.py).
"""
from __future__ import annotations


from overseer.desired.models import ExecActuator as ExecSpec

from .base import ActionContext, Actuator
from .death_watch import DeathWatch
from .hooks import CommandHooks


class CommandActuator(DeathWatch, CommandHooks, Actuator):
    def __init__(self, service: str, spec: ExecSpec) -> None:
        self.service = service
        self.spec = spec
        self.on_exit = None

    async def start(self, ctx: ActionContext) -> None:
        await self._step("start", self._run("start", self.spec.start, ctx))

    async def stop(self, ctx: ActionContext) -> None:
        await self._step("stop", self._run("stop", self.spec.stop, ctx))

    async def promote(self, ctx: ActionContext) -> None:
        await self._step("promote", CommandHooks.promote(self, ctx))

    async def demote(self, ctx: ActionContext) -> None:
        await self._step("demote", CommandHooks.demote(self, ctx))

    async def running(self, ctx: ActionContext) -> bool | None:
        if not self.spec.status:
            return None
        result = await self._run("status", self.spec.status, ctx, check=False)
        return result.returncode == 0
