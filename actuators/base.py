"""The actuator contract the agent calls: context, typed errors, abstract base.

An actuator makes one service run, stop, take over (promote) or step down
(demote) on this server. It never reads etcd: everything it needs arrives in
the `ActionContext` the agent passes with each call.
"""
from __future__ import annotations

import abc
import shlex
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from overseer.desired.child_env import child_environment

ROLES = ("active", "standby")

ExitCallback = Callable[[str, Optional[int], str], None]
"""(service, returncode or -signal, human message) — see `Actuator.on_exit`."""


@dataclass(frozen=True)
class ActionContext:
    """Who is acting and why: becomes OVERSEER_* in every command's environment."""

    cluster: str
    service: str
    server: str
    role: str  # "active" | "standby"
    epoch: int

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"ActionContext.role must be one of {ROLES}, got {self.role!r}")

    def overseer_env(self) -> dict[str, str]:
        return {
            "OVERSEER_CLUSTER": self.cluster,
            "OVERSEER_SERVICE": self.service,
            "OVERSEER_SERVER": self.server,
            "OVERSEER_ROLE": self.role,
            "OVERSEER_EPOCH": str(self.epoch),
        }

    def env(self, extra: dict[str, str] | None = None,
            account: dict[str, str] | None = None) -> dict[str, str]:
        """os.environ minus what is the agent's alone (its etcd credentials),
        then `account` (the command's user's HOME, USER...), then `extra` (the
        spec's env), then OVERSEER_* on top (desired/child_env.py)."""
        return child_environment(self.overseer_env(), extra, account=account)


class ActuatorError(Exception):
    """An action failed; the message names service, action, argv and reason."""

    def __init__(self, service: str, action: str, reason: str,
                 argv: Sequence[str] | None = None) -> None:
        self.service = service
        self.action = action
        self.reason = reason
        self.argv = tuple(argv) if argv is not None else None
        what = f"{shlex.join(self.argv)} " if self.argv else ""
        super().__init__(f"{service}: {action}: {what}{reason}")


class ActuatorTimeout(ActuatorError):
    """The command outlived `timeout`; its whole process group was killed."""


class Actuator(abc.ABC):
    """What the agent drives. All actions are coroutines on the agent's loop."""

    on_exit: ExitCallback | None = None
    """Set by the agent. Called on the event loop the moment a supervised child,
    or the main process of an exec or systemd service, dies without being
    asked to (never for a stop we requested)."""

    @abc.abstractmethod
    async def start(self, ctx: ActionContext) -> None:
        """Make the service run (warm standby, or before promote)."""

    @abc.abstractmethod
    async def stop(self, ctx: ActionContext) -> None:
        """Make the service stop."""

    async def promote(self, ctx: ActionContext) -> None:
        """Take over as active; no-op when the spec has no promote command."""

    async def demote(self, ctx: ActionContext) -> None:
        """Step down to standby; no-op when the spec has no demote command."""

    @abc.abstractmethod
    async def running(self, ctx: ActionContext) -> bool | None:
        """True/False, or None when this actuator cannot tell."""

    def child_pid(self) -> int | None:
        """The supervised child's pid (process actuator only)."""
        return None

    def follow(self, checks: Sequence) -> None:
        """The service's checks, given by the agent: the exec and systemd
        actuators find the main process to watch by its `process` checks."""

    @property
    def followed(self) -> tuple[str, ...]:
        """Names of the checks about the process whose exit `on_exit` reports
        (the supervised child's own `process` checks have no match, and are implied)."""
        return ()

    async def close(self) -> None:
        """Agent shutdown: stop any children this actuator owns."""
