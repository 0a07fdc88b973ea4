"""Simulated processes beside an agent: its supervised children (behind the
process actuator), its fencer, its healthz and server health, and probes.

A `SimActuator` is the process actuator (actuators/process.py) of one
(server, service) and its child: `stopped`, `running` (warm standby) or
`active` (promoted). Every effect the child really has is reported to the
world's checker with the epoch the agent passed (`OVERSEER_EPOCH`); the
checker reads that, never the assignments. It fails as production fails:
- start is a spawn, not a command: it fails at once (`act_fail`) or the child runs;
- promote and demote are commands (commands.py), processes of their own: one
  that fails may have done its work first, and one that hangs is killed at the
  actuator's timeout, the service running on as the command left it (promoted
  or not: drawn); while the agent is stopped they run on;
- stop is the stop signal, then SIGKILL after the timeout: a child that
  ignores the signal (`act_hang`) makes stop take the whole timeout;
- a crash (kill -9, the fencer) reaches the agent through `on_exit`, as the
  real supervisor tells it, except for an exit a stop asked for.

`SimFencer` is fencer.py's process: the agent's lines go to fencer.py's own
`Watch` (fencer_watch.py) on virtual time, which decides what to kill and
drop and when; the kill and each `ip addr del` take a drawn moment.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable, Optional

from overseer.actuators.base import ActionContext, Actuator, ActuatorError
from overseer.desired.checks import LAG_CHECK_TYPES
from overseer.observers.probes import ProbeContext, ProbeResult
from overseer.reconciler.agent.fencer_watch import BYE, Watch, add_line, vouch_line

from .addresses import IP_COMMAND
from .commands import Outcome, SimCommand, wait

if TYPE_CHECKING:
    from .world import World

STEP_TIME = {"start": (0.05, 0.4), "promote": (0.02, 0.2), "demote": (0.02, 0.1), "stop": (0.02, 0.2)}
PARTIAL = 0.5                     # a failing or hanging promote/demote did its work first, this often
FENCER_KILL = (0.001, 0.02)       # from the deadline to the children's death: the fencer's wake-up, killpg, exit
FENCER_KILL_SLOW = (0.02, 0.1)    # one kill in ten, on a loaded host or a child slow to exit


class SimActuator(Actuator):
    def __init__(self, world: "World", server: str, service: str, spec):
        self.world, self.server, self.service = world, server, service
        self.spec = spec
        self.timeout = float(getattr(spec, "timeout", 2.0) or 2.0)
        self.state = "stopped"
        self.pid: Optional[int] = None
        self.closed = False
        self._stopping: Optional[int] = None   # the child a stop signalled: its exit is no crash
        world.actuators.append(self)

    def _set(self, state: str, ctx: Optional[ActionContext], why: str) -> None:
        before, self.state = self.state, state
        if state == "stopped":
            self.pid = None
        elif self.pid is None:
            self.pid = self.world.new_pid(self)
        self.world.checker.effect(self, before, state, ctx.epoch if ctx else None, why)

    def _fault(self) -> Optional[str]:
        return self.world.actuator_fault(self.server, self.service)

    async def start(self, ctx: ActionContext) -> None:
        if self._fault() == "fail":   # ENOENT, EAGAIN, a failed exec: nothing runs
            await asyncio.sleep(self.world.rng.uniform(0.01, 0.05))
            raise ActuatorError(self.service, "start", "cannot start: simulated failure", self.spec.command)
        await asyncio.sleep(self.world.rng.uniform(*STEP_TIME["start"]))
        if self.state == "stopped":
            self._set("running", ctx, "start")

    async def promote(self, ctx: ActionContext) -> None:
        if self.spec.promote:   # no command: nothing to run (CommandHooks.promote)
            await self._command("promote", self.spec.promote, ctx, self._promoted)

    async def demote(self, ctx: ActionContext) -> None:
        if self.spec.demote:    # no command: the child goes on as it was
            await self._command("demote", self.spec.demote, ctx, self._demoted)

    def _promoted(self, pid: Optional[int], ctx: ActionContext) -> Outcome:
        # the command acts on the child that ran when it started, if it still does
        if pid is None or self.pid != pid:
            return 1, "no running process (simulated)"
        if self.state != "active":
            self._set("active", ctx, "promote")
        return 0, ""

    def _demoted(self, pid: Optional[int], ctx: ActionContext) -> Outcome:
        if pid is not None and self.pid == pid and self.state == "active":
            self._set("running", ctx, "demote")
        return 0, ""

    async def _command(self, action: str, argv, ctx: ActionContext,
                       act: Callable[[Optional[int], ActionContext], Outcome]) -> None:
        world, fault, pid = self.world, self._fault(), self.pid
        if fault is None:
            command = SimCommand(world, world.rng.uniform(*STEP_TIME[action]), lambda: act(pid, ctx))
        else:
            partial = world.proc_rng.random() < PARTIAL
            if fault == "fail":
                def failing() -> Outcome:
                    if partial:
                        act(pid, ctx)
                    return 1, "simulated failure"
                command = SimCommand(world, world.rng.uniform(0.01, 0.05), failing)
            else:
                command = SimCommand(world, world.proc_rng.uniform(*STEP_TIME[action]),
                                     (lambda: act(pid, ctx)) if partial else None, hangs=True)
        code, err = await wait(command, self.timeout, self.service, action, argv)
        if code != 0:
            raise ActuatorError(self.service, action, f"exited {code}" + (f": {err}" if err else ""), argv)

    async def stop(self, ctx: ActionContext) -> None:
        await self._terminate(ctx, "stop")

    async def _terminate(self, ctx: Optional[ActionContext], why: str) -> None:
        """The stop signal; SIGKILL if the child outlives the timeout."""
        if self.state == "stopped":
            return
        pid = self._stopping = self.pid
        world = self.world
        ignores = self._fault() == "hang"

        def exited() -> Outcome:
            if self.pid == pid:
                self._set("stopped", ctx, why)
            return 0, ""
        leaving = SimCommand(world, world.rng.uniform(*STEP_TIME["stop"]), None if ignores else exited,
                             hangs=ignores)
        try:
            await asyncio.wait_for(asyncio.shield(leaving.done), self.timeout)
        except asyncio.TimeoutError:
            leaving.kill()
            exited()   # SIGKILL to the group

    async def running(self, ctx: ActionContext) -> bool:
        return self.state != "stopped"

    def child_pid(self) -> Optional[int]:
        return self.pid

    async def close(self) -> None:
        await self._terminate(None, "agent stopped the service")
        self.closed = True

    # --- what happens to it from outside ---------------------------------------

    def crash(self, why: str, tell_agent: bool = True) -> None:
        """The child exits on its own (kill -9, a bug, the fencer)."""
        if self.state == "stopped":
            return
        pid = self.pid
        self._set("stopped", None, why)
        if tell_agent and self.on_exit is not None and not self.closed and pid != self._stopping:
            self.world.loop.call_soon(self.on_exit, self.service, -9, f"killed ({why})",
                                      context=self.world.agent_context(self.server))


class SimFencer:
    """fencer.py's process beside one agent. It keeps running while its agent
    is paused and learns of the agent's death as the real one does; it stops
    with its host (world.host_context)."""

    def __init__(self, world: "World", server: str):
        self.world, self.server = world, server
        # its host's monotonic clock, whoever reads it (the agent's vouch, or its own timer)
        self.watch = Watch(lambda: world.loop.local_time(server))
        self.alive = True
        self._timer: Optional[asyncio.TimerHandle] = None

    # the agent's end of the pipe (fencer.Fencer)
    def vouch(self, seconds: float, groups, vips=()) -> None:
        self._read(vouch_line(seconds, groups, vips))

    def add(self, groups, vips=()) -> None:
        self._read(add_line(groups, vips))

    def close(self) -> None:
        """The agent's clean stop: `bye`, then the pipe closes."""
        self._read(BYE + b"\n")
        self.agent_died()

    # the process
    def agent_died(self) -> None:
        """End of input or the parent-death signal: kill and drop what is vouched, then exit."""
        if self.alive:
            self.alive = False
            self._end(self.watch.agent_gone(), "agent gone")

    def _read(self, line: bytes) -> None:
        if not self.alive:
            return   # a broken pipe: the agent's write is lost, as Fencer._write ignores it
        self.watch.feed(line)
        self._arm()

    def _arm(self) -> None:
        # the real process sleeps in select() for watch.wait(); on virtual time, to
        # the deadline itself, on its host's clock (which may run at its own rate)
        if self._timer is not None:
            self._timer.cancel()
        deadline, loop = self.watch.deadline, self.world.loop
        self._timer = (None if deadline is None else
                       loop.call_at_global(loop.global_of(self.server, deadline) + 1e-9, self._due,
                                           context=self.world.host_context(self.server)))

    def _due(self) -> None:
        self._timer = None
        if not self.alive:
            return
        fired = self.watch.expired()
        if fired is not None:
            self._end(fired, "agent silent past its lease")
        else:
            self._arm()   # woke a hair early (clocks round): select() again, as fencer.serve does

    def _end(self, fired: tuple[list[int], list[str]], why: str) -> None:
        groups, vips = fired
        if not groups and not vips:
            return
        rng = self.world.proc_rng
        took = rng.uniform(*(FENCER_KILL_SLOW if rng.random() < 0.1 else FENCER_KILL))
        self.world.loop.call_later(took, self._kill, groups, vips, why, context=self.world.host_context(self.server))

    def _kill(self, groups: list[int], vips: list[str], why: str) -> None:
        for pid in groups:
            self.world.kill_pid(pid, f"fencer: {why}")
        took = 0.0
        for vip in vips:   # one `ip addr del` after the other
            took += self.world.proc_rng.uniform(*IP_COMMAND)
            address = vip.partition("@")[0]
            self.world.loop.call_later(took, self.world.addresses.release, self.server, address,
                                       f"fencer: {why}", context=self.world.host_context(self.server))


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
    """A `process` check sees the simulated child; an injected flap fails it.
    A replication check measures the world's lag (replication.py)."""
    if world.replication.concerns(ctx.service) and check.type in LAG_CHECK_TYPES:
        return await world.replication.probe(world, ctx)
    await asyncio.sleep(world.rng.uniform(0.001, 0.01))
    if world.flapping(ctx.server, ctx.service):
        return ProbeResult("fail", 0, "simulated probe failure")
    actuator = world.actuator_of(ctx.server, ctx.service)
    if actuator is None or actuator.state == "stopped":
        return ProbeResult("fail", 0, "no process (simulated)")
    return ProbeResult("ok", 1, f"running (pid {actuator.pid})")
