"""What every actuator type shares: running its argv commands, and the
optional `promote`/`demote` hooks of the spec."""
from __future__ import annotations

from typing import Sequence

from .base import ActionContext
from .commands import CommandResult, run_command


class CommandHooks:
    """Mixin: `self.service` and `self.spec` (with timeout/promote/demote) are set
    by the actuator; a subclass may give commands extra env or a working dir."""

    def _command_env(self, ctx: ActionContext) -> dict[str, str]:
        return ctx.env()

    def _command_cwd(self) -> str | None:
        return None

    async def _run(self, action: str, argv: Sequence[str], ctx: ActionContext,
                   check: bool = True) -> CommandResult:
        return await run_command(argv, env=self._command_env(ctx), timeout=self.spec.timeout,
                                 service=self.service, action=action, cwd=self._command_cwd(),
                                 check=check)

    async def promote(self, ctx: ActionContext) -> None:
        if self.spec.promote:
            await self._run("promote", self.spec.promote, ctx)

    async def demote(self, ctx: ActionContext) -> None:
        if self.spec.demote:
            await self._run("demote", self.spec.demote, ctx)
