"""What every actuator type shares: running its argv commands as the spec's
`user`, and the optional `promote`/`demote` hooks of the spec."""
from __future__ import annotations

from typing import Optional, Sequence

from overseer.desired.child_user import Credentials, RunAsError, credentials
from overseer.desired.run_as import RunAs

from .base import ActionContext, ActuatorError
from .commands import CommandResult, run_command


class CommandHooks:
    """Mixin: `self.service` and `self.spec` (with timeout/promote/demote) are set
    by the actuator; a subclass may give commands extra env or a working dir."""

    def _extra_env(self) -> dict[str, str] | None:
        return None

    def _command_cwd(self) -> str | None:
        return None

    def _user(self, action: str) -> Optional[Credentials]:
        """Who the spec's commands run as, looked up now; None: as the agent
        (a systemd actuator's commands always do: systemctl needs it)."""
        if not isinstance(self.spec, RunAs):
            return None
        try:
            return credentials(self.spec)
        except RunAsError as exc:
            raise ActuatorError(self.service, action, f"{exc.where('spec.actuator')}: {exc.reason}") from None

    def _command_env(self, ctx: ActionContext, user: Optional[Credentials]) -> dict[str, str]:
        return ctx.env(self._extra_env(), account=user.env() if user is not None else None)

    async def _run(self, action: str, argv: Sequence[str], ctx: ActionContext,
                   check: bool = True) -> CommandResult:
        user = self._user(action)
        return await run_command(argv, env=self._command_env(ctx, user), timeout=self.spec.timeout,
                                 service=self.service, action=action, cwd=self._command_cwd(),
                                 check=check, user=user)

    async def promote(self, ctx: ActionContext) -> None:
        if self.spec.promote:
            await self._run("promote", self.spec.promote, ctx)

    async def demote(self, ctx: ActionContext) -> None:
        if self.spec.demote:
            await self._run("demote", self.spec.demote, ctx)
