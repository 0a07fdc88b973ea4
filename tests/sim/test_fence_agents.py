"""Fence agents in the simulator: the real master fences a dead server through
the simulated power switch before it promotes elsewhere, retries failed
attempts, and the fenced server boots again and rejoins."""
from __future__ import annotations

import re

from overseer.reconciler.sim.bounds import server_loss
from overseer.reconciler.sim.fence_agents import FencePlan, fence_plan
from overseer.reconciler.sim.run import run
from overseer.reconciler.sim.schedule import Fault, Schedule, ServicePlan, draw
from overseer.reconciler.sim.world import Trace, World


def _schedule(plan: FencePlan) -> Schedule:
    return Schedule(seed=1, ttl=2.0, interval=0.5, fail_after=2, margin=0.2, campaign_delay=1.0,
                    actuator_timeout=1.0, services=(ServicePlan("pbx", "warm", ("s2", "s1", "s3")),),
                    faults=(Fault("agent_crash", 15.0, 10.0, server="s2"),), fence=plan)


def _at(trace: str, pattern: str, after: float = 0.0) -> float:
    """The time of the first line matching `pattern` at or after `after`."""
    times = [float(t) for t in re.findall(r"^\s*([\d.]+) .*" + pattern, trace, re.M) if float(t) >= after]
    assert times, f"no line matching {pattern!r} after {after}"
    return times[0]


def test_the_master_fences_a_dead_active_before_it_promotes_elsewhere():
    plan = FencePlan(timeout=2.0, delay=(0.5, 0.5), failure=0.0, hang=0.0, max_failures=0, boot=(3.0, 3.0))
    result = run(_schedule(plan))
    assert result.ok, result.violations
    t = result.trace
    asked = _at(t, r"fencing s2 for pbx \(attempt 1")
    off = _at(t, r"fence agent: s2 powered off")
    promoted = _at(t, r"PROCESS pbx: running -> active", after=15.0)
    assert asked < off <= promoted, (asked, off, promoted)
    assert "s2: down (gone" in t and "fenced by its fence agent in 0.5s" in t
    # off past the bound (the crash's end at 25 s does not start it), up half a bound after the heal
    schedule = _schedule(plan)
    booted = _at(t, r"s2 booted after its fence")
    assert booted == round(schedule.healed_at + server_loss(schedule) / 2, 3)
    assert _at(t, r"agent started \(incarnation 2\)") == booted


def test_failed_attempts_are_retried_and_nothing_is_promoted_before_a_success():
    plan = FencePlan(timeout=2.0, delay=(0.2, 0.2), failure=1.0, hang=0.5, max_failures=2, boot=(3.0, 3.0))
    result = run(_schedule(plan))
    assert result.ok, result.violations
    t = result.trace
    assert len(re.findall(r"fence of s2 failed \(attempt [12]", t)) == 2, t[-4000:]
    succeeded = _at(t, r"s2 fenced by its fence agent")
    assert _at(t, r"fencing s2 for pbx \(attempt 3") < succeeded
    assert _at(t, r"PROCESS pbx: running -> active", after=15.0) > succeeded


def test_fence_agents_come_from_a_generator_of_their_own():
    # a seed without them draws exactly what it drew before they existed
    seeds = range(1, 200)
    with_agents = [s for s in seeds if fence_plan(s) is not None]
    assert 0.15 < len(with_agents) / len(seeds) < 0.35
    for seed in seeds:
        assert draw(seed).fence == fence_plan(seed)
        assert draw(seed, extras=False).fence is None



def test_a_power_off_drops_every_floating_address_of_the_server():
    # The fencer drops only what it was told of: an address a promote added
    # while its agent was stopped (seed 4742) stayed with the server after
    # its power-off, beside the successor's. A server powered off holds none.
    plan = FencePlan(timeout=2.0, delay=(0.5, 0.5), failure=0.0, hang=0.0, max_failures=0, boot=(3.0, 3.0))
    schedule = _schedule(plan).but(services=(ServicePlan("pbx", "warm", ("s2", "s1", "s3"), vip=2),
                                             ServicePlan("web", "warm", ("s2", "s1"), vip=1)))
    trace = Trace()
    world = World(schedule, trace)
    world.documents()
    for address in ("10.0.9.1/24", "10.0.9.2/24"):
        world.addresses.hold("s2", address, "a promote while its agent was stopped")
    world.addresses.hold("s1", "10.0.9.2/24", "another holder")
    world.fence_agents._power_off("s2")
    assert world.addresses.holders == {"10.0.9.1/24": set(), "10.0.9.2/24": {"s1"}}
    assert "ADDRESS 10.0.9.1/24 deleted (powered off)" in trace.text()
