"""The `systemd` actuator: `systemctl start|stop UNIT`, `is-active --quiet`.

The systemctl program is a constructor argument so tests (and odd hosts) can
point it elsewhere; by default it is looked up on the PATH of the command's
environment. Optional promote/demote commands run like `exec` ones.

The unit's main process is watched for its exit (death_watch.py): after each
step its MainPID is asked of systemd (`systemctl show -p MainPID`) and held
by a pidfd, so a crash is reported at once, not at the next probe.
"""
from __future__ import annotations


from overseer.desired.checks import Match
from overseer.desired.models import SystemdActuator as SystemdSpec

from .base import ActionContext, Actuator
from .death_watch import DeathWatch
from .hooks import CommandHooks


class SystemdUnitActuator(DeathWatch, CommandHooks, Actuator):
    def __init__(self, service: str, spec: SystemdSpec, systemctl: str = "systemctl") -> None:
        self.service = service
        self.spec = spec
        self.systemctl = systemctl
        self.on_exit = None

    def _watch_matches(self) -> list[Match]:
        # the unit is the service: its MainPID, checked against any process check
        return [Match(unit=self.spec.unit), *super()._watch_matches()]

    async def start(self, ctx: ActionContext) -> None:
        await self._step("start", self._run("start", (self.systemctl, "start", self.spec.unit), ctx))

    async def stop(self, ctx: ActionContext) -> None:
        await self._step("stop", self._run("stop", (self.systemctl, "stop", self.spec.unit), ctx))

    async def promote(self, ctx: ActionContext) -> None:
        await self._step("promote", CommandHooks.promote(self, ctx))

    async def demote(self, ctx: ActionContext) -> None:
        await self._step("demote", CommandHooks.demote(self, ctx))

    async def running(self, ctx: ActionContext) -> bool:
        # is-active exits 0 only for "active"; inactive, failed, activating
        # and unknown units all count as not running.
        argv = (self.systemctl, "is-active", "--quiet", self.spec.unit)
        result = await self._run("status", argv, ctx, check=False)
        return result.returncode == 0
