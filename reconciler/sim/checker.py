"""The invariants, judged only from what the simulated processes did.

The checker never reads assignments or reports: it sees each actuator's
effects (which server started, promoted, demoted, stopped what, under which
epoch), the `master` key's epochs as etcd committed them, and the faults.

- safety: never more `active` processes of a service than `replicas`; no
  promote under an epoch that was not the master's at any moment of the
  last `STALE_GRACE` seconds (the span between the agent's epoch check and
  the promote itself).
- liveness: after the last fault heals, every service has `replicas` actives
  within `Schedule.bound`; while faults last, no service is without an active
  for longer than the bound while a live candidate exists (agent running and
  not paused, reaching etcd, no injected actuator or probe fault there).
- calm: in a schedule of labelled blips only, nothing is promoted or demoted
  once the cluster first settled.
- crash: the real code logged an unexpected exception, or one escaped a task.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .procs import SimActuator
    from .world import World

SAMPLE = 0.1
STALE_GRACE = 1.0
# A frozen host's children count as active again the moment it thaws, and may
# run a moment before its fencer's overdue kill lands (world.THAW_RACE): more
# actives than replicas that long after a thaw is the freeze's, not a bug;
# still there this long after it, it is.
THAW_GRACE = 0.1
INVARIANTS = ("safety", "liveness", "calm", "crash")


class Checker:
    def __init__(self, world: "World"):
        self.world = world
        self.violations: list[tuple[float, str, str]] = []
        self.epochs: list[list] = []            # [start, epoch, end or None]
        self.settled: Optional[float] = None
        self.zero_since: dict[str, float] = {}
        self.live_since: dict[str, float] = {}
        self.flagged: set[str] = set()
        self.worst_outage = 0.0
        self.recovery: dict[str, float] = {}
        self.effects = 0
        self._master_key = f"/overseer/{'sim'}/master".encode()

    def violation(self, invariant: str, message: str) -> None:
        t = self.world.now()
        self.violations.append((t, invariant, message))
        self.world.trace.event(t, "CHECKER", f"VIOLATION {invariant}: {message}")

    # --- what etcd committed -------------------------------------------------------

    def on_commit(self, keys: list[bytes]) -> None:
        if self._master_key not in keys:
            return
        kv = self.world.net.etcd.data.get(self._master_key)
        current = self.epochs[-1] if self.epochs and self.epochs[-1][2] is None else None
        epoch = kv.create_revision if kv else None
        if current is not None and current[1] != epoch:
            current[2] = self.world.now()
        if epoch is not None and (current is None or current[1] != epoch):
            self.epochs.append([self.world.now(), epoch, None])

    def _was_master(self, epoch: int, since: float) -> bool:
        return any(e == epoch and (end is None or end >= since) for _, e, end in self.epochs)

    # --- what processes did ----------------------------------------------------------

    def effect(self, actuator: "SimActuator", before: str, after: str, epoch: Optional[int], why: str) -> None:
        world, t = self.world, self.world.now()
        self.effects += 1
        world.trace.event(t, actuator.server, f"PROCESS {actuator.service}: {before} -> {after} "
                                              f"({why}{'' if epoch is None else f', epoch {epoch}'})")
        if after == "active":
            grace = STALE_GRACE + 3 * world.net.slow
            if epoch is None or not self._was_master(epoch, t - grace):
                self.violation("safety", f"{actuator.service} promoted on {actuator.server} under stale "
                                         f"epoch {epoch} (masters: {self._epochs_text()})")
            plan = self._plan(actuator.service)
            actives = self.actives(actuator.service)
            if plan is not None and len(actives) > plan.replicas:
                self.violation("safety", f"{actuator.service}: {len(actives)} actives ({', '.join(actives)}) "
                                         f"> replicas {plan.replicas}")
        if self.world.schedule.calm and self.settled is not None and "active" in (before, after):
            self.violation("calm", f"{actuator.service} on {actuator.server}: {before} -> {after} ({why}) "
                                   "in a schedule of blips only")

    def _epochs_text(self) -> str:
        return ", ".join(f"{e}@{s:.2f}" + ("" if end is None else f"-{end:.2f}") for s, e, end in self.epochs[-4:])

    def _plan(self, service: str):
        return next((s for s in self.world.schedule.services if s.name == service), None)

    def actives(self, service: str) -> list[str]:
        """Servers where `service` runs active and can act (a frozen host's cannot)."""
        frozen = self.world.frozen_hosts
        return sorted(a.server for a in self.world.actuators
                      if a.service == service and a.state == "active" and not a.closed and a.server not in frozen)

    def thawed(self, server: str) -> None:
        """A frozen host thaws: its actives act again, until its fencer kills them."""
        self.world.loop.call_at_global(self.world.loop.global_time() + THAW_GRACE, self._after_thaw, server,
                                       context=self.world.context)

    def _after_thaw(self, server: str) -> None:
        for plan in self.world.schedule.services:
            actives = self.actives(plan.name)
            if server in actives and len(actives) > plan.replicas:
                self.violation("safety", f"{plan.name}: {len(actives)} actives ({', '.join(actives)}) > replicas "
                                         f"{plan.replicas} {THAW_GRACE:g}s after {server} thawed")

    # --- sampling liveness -------------------------------------------------------------

    def start(self) -> None:
        self.world.at(SAMPLE, self._tick)

    def _tick(self) -> None:
        self.sample()
        loop = self.world.loop
        loop.call_at_global(loop.global_time() + SAMPLE, self._tick, context=self.world.context)

    def live_candidate(self, server: str, service: str) -> bool:
        world = self.world
        return (world.agent_up(server) and world.net.reaches_etcd(server)
                and world.actuator_fault(server, service) is None
                and world.flaps.get((server, service), (0, 0.0))[1] <= world.now())

    def sample(self) -> None:
        world, t = self.world, self.world.now()
        schedule = world.schedule
        bound, healed = schedule.bound, schedule.healed_at
        all_there = True
        for plan in schedule.services:
            name = plan.name
            n = len(self.actives(name))
            all_there &= n >= plan.replicas
            if name in world.op_paused:
                self.zero_since.pop(name, None)
                self.live_since.pop(name, None)
                continue
            if n == 0:
                since = self.zero_since.setdefault(name, t)
                self.worst_outage = max(self.worst_outage, t - since)
            else:
                self.zero_since.pop(name, None)
            # who could serve matters only while nobody does (and costs the most)
            live = [s for s in world.candidates[name] if self.live_candidate(s, name)] if n == 0 else []
            if live:
                since = self.live_since.setdefault(name, t)
                if t - since > bound and name not in self.flagged:
                    self.flagged.add(name)
                    self.violation("liveness", f"{name}: no active for {t - since:.1f}s (bound {bound:.1f}s) "
                                               f"while {', '.join(live)} could serve")
            else:
                self.live_since.pop(name, None)
            if t >= healed and name not in self.recovery and n >= plan.replicas:
                self.recovery[name] = t - healed
        if all_there and self.settled is None:
            self.settled = t

    def finish(self) -> None:
        schedule = self.world.schedule
        for plan in schedule.services:
            if plan.name not in self.recovery and f"{plan.name}:healed" not in self.flagged:
                self.violation("liveness", f"{plan.name}: {len(self.actives(plan.name))} of {plan.replicas} "
                                           f"actives {schedule.end - schedule.healed_at:.1f}s after the faults "
                                           f"healed (bound {schedule.bound:.1f}s)")
