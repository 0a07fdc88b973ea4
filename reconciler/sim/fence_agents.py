"""Fence agents in the simulator: Server documents with `fence`, and the
power switch that answers the master's `Edges.fence`.

Some seeds give every server a fence agent, drawn from a generator of its
own (`fence_plan`), so the schedules drawn before fence agents existed stay
as they were unless it fires. The master's real code decides when to fence
(planner/fencing.py, master_fencing.py); this file only plays the switch:
after a drawn moment it powers the target off (its agent, fencer and
children die at once, as `crash_agent` does) and keeps it off for longer
than the liveness bound (a real server takes minutes to boot), so a service
that waits for a fence which never counts is seen as stuck while others
could serve it; it boots, its agent started, early enough to rejoin before
the run ends.
An attempt sometimes fails quickly or hangs to its timeout, having done its
work first or not; at most `max_failures` attempts fail per outage of a
server, so a fence that never succeeds (the service rightly stays without
an active) is left to the planner's unit tests, not to the liveness bound.
"""
from __future__ import annotations

import asyncio
import collections
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from ..fence_agent import FenceCall, FenceResult

if TYPE_CHECKING:
    from .schedule import Schedule
    from .world import World

CHANCE = 0.25       # of seeds whose servers have fence agents
PARTIAL = 0.5       # a failing or hanging attempt powered the server off first, this often


@dataclass(frozen=True)
class FencePlan:
    timeout: float                   # the Server documents' fence timeout
    delay: tuple[float, float]       # how long a switch takes to power a server off
    failure: float                   # chance an attempt fails (up to max_failures per outage)
    hang: float                      # chance a failing attempt hangs to its timeout instead
    max_failures: int
    boot: tuple[float, float]        # seconds beyond the schedule's bound from power-off to boot


def fence_plan(seed: int) -> Optional[FencePlan]:
    """Whether (and how) this seed's servers are fenced: a generator of its own."""
    rng = random.Random(seed * 1_000_003 + 23)
    if rng.random() >= CHANCE:
        return None
    timeout = rng.choice((2.0, 3.0))
    return FencePlan(timeout=timeout, delay=(0.05, rng.choice((0.3, 1.5))),
                     failure=rng.choice((0.0, 0.3, 0.6)), hang=rng.choice((0.0, 0.5)),
                     max_failures=rng.choice((1, 2)), boot=(1.0, 3.0))


def with_fence_agents(schedule: "Schedule", docs: list[dict]) -> list[dict]:
    """The documents, every Server with a fence agent when the seed has them."""
    plan = schedule.fence
    if plan is None:
        return docs
    for doc in docs:
        if doc["kind"] == "Server":
            doc["spec"]["fence"] = {"command": ["sim", "fence"], "timeout": f"{plan.timeout}s"}
    return docs


class SimFenceAgents:
    """The power switch every master's fence command reaches (`Edges.fence`)."""

    def __init__(self, world: "World"):
        self.world = world
        self.rng = random.Random(world.schedule.seed * 7919 + 29)   # draws of its own: the others unchanged
        self.failed: collections.Counter = collections.Counter()   # (server, incarnation) -> failed attempts
        self.off: set[str] = set()      # powered off, not booted yet: no fault's end starts its agent

    async def __call__(self, call: FenceCall) -> FenceResult:
        world, plan, target = self.world, self.world.schedule.fence, call.server
        if plan is None:
            return FenceResult(False, "no fence agent in this world")
        outage = (target, world.incarnation.get(target, 0))
        fails = self.failed[outage] < plan.max_failures and self.rng.random() < plan.failure
        hangs = fails and self.rng.random() < plan.hang
        works = not fails or self.rng.random() < PARTIAL
        delay = min(self.rng.uniform(*plan.delay), call.timeout * 0.9)
        done = world.loop.create_future()

        def act() -> None:
            # in the world's context: the switch acts even if the master dies meanwhile
            if works:
                self._power_off(target)
            if not done.done():
                done.set_result(None)
        world.loop.call_later(delay, act, context=world.context)
        if hangs:
            await asyncio.sleep(call.timeout)
            self.failed[outage] += 1
            return FenceResult(False, f"timed out after {call.timeout:g}s (killed)")
        await done
        if fails:
            self.failed[outage] += 1
            return FenceResult(False, "exit 1: Unable to connect/login to fencing device")
        return FenceResult(True, "Success: Powered OFF")

    def _power_off(self, server: str) -> None:
        world, schedule = self.world, self.world.schedule
        world.trace.event(world.now(), "sim", f"fence agent: {server} powered off")
        world.crash_agent(server)
        world.addresses.power_off(server)   # every address goes down with it, known to its fencer or not
        self.off.add(server)
        # off past the bound, yet up again half a bound after the faults
        # healed at the latest: time to rejoin before the run ends
        from .bounds import server_loss  # noqa: PLC0415  (bounds imports the schedule, which imports us)
        bound = server_loss(schedule)
        boot = world.now() + bound + self.rng.uniform(*schedule.fence.boot)
        boot = min(boot, max(world.now() + 2.0, schedule.healed_at + bound / 2))
        world.loop.call_later(boot - world.now(), self._boot, server, context=world.context)

    def _boot(self, server: str) -> None:
        world = self.world
        self.off.discard(server)
        if server not in world.keys and server not in world.gone:
            world.trace.event(world.now(), "sim", f"{server} booted after its fence")
            world.start_agent(server)
