"""The `systemd` actuator: `systemctl start|stop UNIT`, `is-active --quiet`.

The systemctl program is a constructor argument so tests (and odd hosts) can
point it elsewhere; by default it is looked up on the PATH of the command's
environment. Optional promote/demote commands run like `exec` ones.
"""
from __future__ import annotations


from overseer.desired.models import SystemdActuator as SystemdSpec

from .base import ActionContext, Actuator
from .hooks import CommandHooks


class SystemdUnitActuator(CommandHooks, Actuator):
    def __init__(self, service: str, spec: SystemdSpec, systemctl: str = "systemctl") -> None:
        self.service = service
        self.spec = spec
        self.systemctl = systemctl
        self.on_exit = None

    async def start(self, ctx: ActionContext) -> None:
        await self._run("start", (self.systemctl, "start", self.spec.unit), ctx)

    async def stop(self, ctx: ActionContext) -> None:
        await self._run("stop", (self.systemctl, "stop", self.spec.unit), ctx)

    async def running(self, ctx: ActionContext) -> bool:
        # is-active exits 0 only for "active"; inactive, failed, activating
        # and unknown units all count as not running.
        argv = (self.systemctl, "is-active", "--quiet", self.spec.unit)
        result = await self._run("status", argv, ctx, check=False)
        return result.returncode == 0
