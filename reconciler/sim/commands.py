"""A command the agent runs (a promote or demote command, `ip addr`): a process
of its own, on the world's time.

In production a command is a child process in its own process group
(actuators/commands.py), so it lives its own life: a SIGSTOP of the agent does
not stop it, and an agent killed with -9 leaves it running (no parent-death
signal). What it does lands when it runs. The agent waits for it with the
actuator's timeout on its own clock, which stops while the agent is stopped,
and kills its group when that runs out: a command killed after it acted has
still acted. A stopped agent learns that its command ended when it runs again.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from overseer.actuators.base import ActuatorTimeout

from .loop import PROCESS, server_of

if TYPE_CHECKING:
    from .world import World

Outcome = tuple[int, str]   # exit status, what it said on stderr


class SimCommand:
    """Runs `took` seconds, then does `act` (its effect on the world, which says
    how it exits), unless it is killed first. One that `hangs` never exits:
    it has done `act` (or not, `act` None) and waits for its kill."""

    def __init__(self, world: "World", took: float, act: Optional[Callable[[], Outcome]], hangs: bool = False):
        self.done: asyncio.Future = world.loop.create_future()
        self.hangs = hangs
        # on the host of the agent that started it: it outlives the agent, not a freeze of the host
        host = world.host_context(server_of(PROCESS.get()))
        self._handle = world.loop.call_later(took, self._run, act, context=host)

    def _run(self, act: Optional[Callable[[], Outcome]]) -> None:
        outcome = act() if act is not None else (1, "")
        if not self.hangs and not self.done.done():
            self.done.set_result(outcome)

    def kill(self) -> None:
        """SIGKILL of its group: whatever it has not done yet, it never does."""
        self._handle.cancel()


async def wait(command: SimCommand, timeout: float, service: str, action: str,
               argv: Sequence[str]) -> Outcome:
    """The agent's side, as commands.run_command: wait up to `timeout` on the
    agent's own clock; past it, or when cancelled, kill the command's group."""
    try:
        return await asyncio.wait_for(asyncio.shield(command.done), timeout)
    except asyncio.TimeoutError:
        command.kill()
        raise ActuatorTimeout(service, action, f"timed out after {timeout:g}s; killed its process group",
                              argv) from None
    except BaseException:
        command.kill()
        raise
