"""Simulated processes and the agent's other edges: actuators, probes, fencer,
healthz, server health.

A `SimActuator` is the supervised service process of one (server, service):
`stopped`, `running` (warm standby) or `active` (promoted). Every effect it
really has is reported to the world's `Ledger` with the epoch the agent
passed (`OVERSEER_EPOCH`); the checker reads that, never the assignments.
Faults reach it from the world: a crash (the child exits, the agent is told
through `on_exit` as the real supervisor tells it), a command that hangs past
its timeout (killed, `ActuatorTimeout`) or fails (`ActuatorError`).
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Optional

from overseer.actuators.base import ActionContext, Actuator, ActuatorError, ActuatorTimeout
from overseer.observers.probes import ProbeContext, ProbeResult

if TYPE_CHECKING:
    from .world import World

STEP_TIME = {"start": (0.05, 0.4), "promote": (0.02, 0.2), "demote": (0.02, 0.1), "stop": (0.02, 0.2)}


class SimActuator(Actuator):
    def __init__(self, world: "World", server: str, service: str, spec):
        self.world, self.server, self.service = world, server, service
        self.timeout = float(getattr(spec, "timeout", 2.0) or 2.0)
        self.has_promote = getattr(spec, "promote", None) is not None
        self.state = "stopped"
        self.pid: Optional[int] = None
        self.closed = False
        world.actuators.append(self)

    async def _step(self, name: str, ctx: ActionContext) -> None:
        world = self.world
        fault = world.actuator_fault(self.server, self.service)
        # a failing command fails on demote too: the fault suite's `cmd` fault
        # (seed 339: a self-fence whose demote failed left the service promoted)
        if fault == "fail" and name in ("start", "promote", "demote"):
            await asyncio.sleep(world.rng.uniform(0.01, 0.05))
            raise ActuatorError(self.service, name, "exited 1 (simulated failure)")
        if fault == "hang" and name in ("start", "promote"):
            await asyncio.sleep(self.timeout)
            self._die(f"{name} timed out: process group killed")
            raise ActuatorTimeout(self.service, name, f"timed out after {self.timeout:g}s (simulated hang)")
        await asyncio.sleep(world.rng.uniform(*STEP_TIME[name]))

    def _set(self, state: str, ctx: Optional[ActionContext], why: str) -> None:
        before, self.state = self.state, state
        if state == "stopped":
            self.pid = None
        elif self.pid is None:
            self.pid = self.world.new_pid(self)
        self.world.checker.effect(self, before, state, ctx.epoch if ctx else None, why)

    async def start(self, ctx: ActionContext) -> None:
        await self._step("start", ctx)
        if self.state == "stopped":
            self._set("running", ctx, "start")

    async def promote(self, ctx: ActionContext) -> None:
        await self._step("promote", ctx)
        if self.state == "stopped":
            # a process actuator's promote without a running child has nothing to promote
            raise ActuatorError(self.service, "promote", "no running process (simulated)")
        self._set("active", ctx, "promote")

    async def demote(self, ctx: ActionContext) -> None:
        await self._step("demote", ctx)
        if self.state == "active":
            self._set("running", ctx, "demote")

    async def stop(self, ctx: ActionContext) -> None:
        await self._step("stop", ctx)
        if self.state != "stopped":
            self._set("stopped", ctx, "stop")

    async def running(self, ctx: ActionContext) -> bool:
        return self.state != "stopped"

    def child_pid(self) -> Optional[int]:
        return self.pid

    async def close(self) -> None:
        self.closed = True
        if self.state != "stopped":
            self._set("stopped", None, "agent stopped the service")

    # --- what happens to it from outside ---------------------------------------

    def _die(self, why: str) -> None:
        if self.state != "stopped":
            self._set("stopped", None, why)

    def crash(self, why: str, tell_agent: bool = True) -> None:
        """The child exits on its own (kill -9, a bug, the fencer)."""
        if self.state == "stopped":
            return
        self._die(why)
        if tell_agent and self.on_exit is not None and not self.closed:
            self.world.loop.call_soon(self.on_exit, self.service, -9, f"killed ({why})",
                                      context=self.world.agent_context(self.server))


class SimFencer:
    """fencer.py's watchdog: kills the vouched-for actives when the vouch runs
    out. A separate process: it keeps running while its agent is paused."""

    def __init__(self, world: "World", server: str):
        self.world, self.server = world, server
        self.token = 0
        self.groups: list[int] | None = None   # None: no deadline set (never vouched, or fired)
        self.alive = True

    def vouch(self, seconds: float, groups, vips=()) -> None:   # the simulated services carry no VIP
        self.token += 1
        self.groups = list(groups)
        self.world.loop.call_later(seconds, self._expire, self.token, context=self.world.context)

    def add(self, groups, vips=()) -> None:
        """`+ <pgid>...`: until the deadline already set; at once if none is."""
        if self.groups is None:
            self.vouch(0.0, groups)
        else:
            self.groups.extend(groups)

    def _expire(self, token: int) -> None:
        if not self.alive or token != self.token or self.groups is None:
            return
        groups, self.groups = self.groups, None
        for pid in groups:
            self.world.kill_pid(pid, "fencer: agent silent past its lease")

    def close(self) -> None:
        self.alive = False


class SimHealthz:
    def __init__(self, world: "World", server: str, status):
        self.world, self.server, self.status = world, server, status

    async def start(self) -> bool:
        self.world.healthz[self.server] = self.status
        return True

    async def close(self) -> None:
        if self.world.healthz.get(self.server) is self.status:
            del self.world.healthz[self.server]


class SimServerHealth:
    """Server health never changes in the simulation: report ok once."""

    def __init__(self, *, publish, **_):
        self.publish = publish

    async def run(self) -> None:
        self.publish("ok", "simulated server", {})
        await asyncio.Event().wait()


async def sim_probe(world: "World", check, ctx: ProbeContext) -> ProbeResult:
    """A `process` check sees the simulated child; an injected flap fails it."""
    await asyncio.sleep(world.rng.uniform(0.001, 0.01))
    if world.flapping(ctx.server, ctx.service):
        return ProbeResult("fail", 0, "simulated probe failure")
    actuator = world.actuator_of(ctx.server, ctx.service)
    if actuator is None or actuator.state == "stopped":
        return ProbeResult("fail", 0, "no process (simulated)")
    return ProbeResult("ok", 1, f"running (pid {actuator.pid})")
