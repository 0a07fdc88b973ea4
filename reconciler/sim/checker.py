"""The invariants, judged only from what the simulated processes did.

The checker never reads assignments or reports: it sees each actuator's
effects (which server started, promoted, demoted, stopped what, under which
epoch), the `master` key as etcd committed it (epoch and holder), and the
faults as they begin.

- safety: never more `active` processes of a service than `replicas`; no
  promote under an epoch that was not the master's at any moment of the
  last `STALE_GRACE` seconds (the span between the agent's epoch check and
  the promote itself); never two servers holding a service's floating
  address at once (no grace: vip.py drops it before anyone may add it).
- liveness (liveness.py): every outage of a service (fewer actives than
  `replicas`) ends by the deadline of the faults that explain it
  (bounds.py), else it is "late" or "never"; exempt while no live
  candidate could serve, and the trace says so.
- calm (calm.py): no labelled blip moves or restarts a service that no
  overlapping fault explains, in any schedule; in a schedule of blips only,
  nothing is promoted or demoted once the cluster first settled.
- placement (placement.py): a failover goes to the candidate the operator
  was promised: an unmarked server before a marked one, then candidates
  order; a failure is forgotten `failureTimeout` after it.
- lag (lag_check.py): a failover of a replicated database never promotes a
  standby past `maxLagOnFailover`, and promotes the least behind when every
  eligible standby had a lag, judged where the master plainly knew the lags.
- relations (relations_check.py): start order and colocation, judged
  from the processes.
- crash: the real code logged an unexpected exception, or one escaped a task.
"""
from __future__ import annotations

import math

from typing import TYPE_CHECKING, Optional

from . import bounds, calm
from .calm import Begun
from .lag_check import LagCheck
from .liveness import Liveness
from .placement import Placement
from .relations_check import RelationsCheck

if TYPE_CHECKING:
    from .procs import SimActuator
    from .schedule import Fault
    from .world import World

SAMPLE = 0.1
STALE_GRACE = 1.0
# A frozen host's children (and addresses) count again the moment it thaws,
# and act until its fencer's overdue kill lands (procs.FENCER_KILL_SLOW, then
# `ip addr del`): more actives or holders than allowed that long after a thaw
# is the freeze's, not a bug; still there this long after it, it is.
THAW_GRACE = 0.25
INVARIANTS = ("safety", "liveness", "calm", "placement", "crash", "relations", "lag")


class Checker:
    def __init__(self, world: "World"):
        self.world = world
        self.violations: list[tuple[float, str, str]] = []
        self.epochs: list[list] = []            # [start, epoch, end or None, server]
        self.settled: Optional[float] = None
        self.zero_since: dict[str, float] = {}
        self.worst_outage = 0.0
        self.recovery: dict[str, float] = {}
        self.effects = 0
        self.thawed_at: dict[str, float] = {}   # server -> when its frozen host last thawed
        self.log: list[tuple] = []              # (t, server, service, before, after, why)
        self.begun: list[Begun] = []
        # what was judged, so a run shows its checks could have failed
        self.judged = {"outages": 0, "exempt": 0, "blips": 0, "placements": 0, "relations": 0,
                       "lags": 0, "lag ranks": 0}
        self._master_key = f"/overseer/{'sim'}/master".encode()
        self._by_service: dict[str, list] = {}  # service -> its actuators (_actuators_of)
        self._indexed = 0                       # world.actuators taken in so far
        self._sampled: Optional[dict[str, list[str]]] = None   # actives during one sample
        for fault in world.schedule.faults:
            bounds.kind_of(fault)   # a kind that declares no bound stops the run before it starts
        self.liveness = Liveness(self)
        self.placement = Placement(self)
        self.lags = LagCheck(self)
        self.relations = RelationsCheck(self)

    def violation(self, invariant: str, message: str, t: Optional[float] = None) -> None:
        t = self.world.now() if t is None else t
        self.violations.append((t, invariant, message))
        self.world.trace.event(self.world.now(), "CHECKER", f"VIOLATION {invariant}: {message}")

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
            self.epochs.append([self.world.now(), epoch, None, kv.value.decode()])

    def _was_master(self, epoch: int, since: float) -> bool:
        return any(e == epoch and (end is None or end >= since) for _, e, end, _ in self.epochs)

    def master(self) -> Optional[str]:
        """The server holding the master lock now, as etcd committed it."""
        return self.epochs[-1][3] if self.epochs and self.epochs[-1][2] is None else None

    # --- faults as they begin ---------------------------------------------------------

    def fault_began(self, fault: "Fault") -> None:
        """Called by the world just before it injects the fault."""
        world = self.world
        situation = bounds.Situation(world.schedule, self.master(),
                                     {name: tuple(c) for name, c in world.candidates.items()},
                                     tuple(b.fault for b in self.begun))
        deadlines = bounds.deadlines(fault, situation)
        holding = tuple(p.name for p in world.schedule.services if fault.server in self.actives(p.name))
        whole = frozenset(p.name for p in world.schedule.services if len(self.actives(p.name)) >= p.replicas)
        self.begun.append(Begun(fault, deadlines, holding, whole))
        self.liveness.add(deadlines)

    # --- what processes did ----------------------------------------------------------

    def effect(self, actuator: "SimActuator", before: str, after: str, epoch: Optional[int], why: str) -> None:
        world, t = self.world, self.world.now()
        self.effects += 1
        self.log.append((t, actuator.server, actuator.service, before, after, why))
        world.trace.event(t, actuator.server, f"PROCESS {actuator.service}: {before} -> {after} "
                                              f"({why}{'' if epoch is None else f', epoch {epoch}'})")
        if after == "active":
            grace = STALE_GRACE + 3 * world.net.slow
            if epoch is None or not self._was_master(epoch, t - grace):
                self.violation("safety", f"{actuator.service} promoted on {actuator.server} under stale "
                                         f"epoch {epoch} (masters: {self._epochs_text()})")
            plan = self._plan(actuator.service)
            # a host thawed less than THAW_GRACE ago is judged by _after_thaw, at the grace's end
            actives = [a for a in self.actives(actuator.service)
                       if a == actuator.server or t - self.thawed_at.get(a, -math.inf) >= THAW_GRACE]
            if plan is not None and len(actives) > plan.replicas:
                self.violation("safety", f"{actuator.service}: {len(actives)} actives ({', '.join(actives)}) "
                                         f"> replicas {plan.replicas}")
        if self.world.schedule.calm and self.settled is not None and "active" in (before, after):
            self.violation("calm", f"{actuator.service} on {actuator.server}: {before} -> {after} ({why}) "
                                   "in a schedule of blips only")
        self.lags.effect(actuator.server, actuator.service, before, after, t)   # before placement records it
        self.placement.effect(actuator.server, actuator.service, before, after, t)
        self.relations.effect(actuator.server, actuator.service, before, after, t)

    def address_held(self, service: str, address: str, holders: list[str]) -> None:
        """A server added `service`'s floating address; `holders` hold it now
        (a frozen host's kernel answers for nothing until it thaws)."""
        holders = [h for h in holders if h not in self.world.frozen_hosts]
        if len(holders) > 1:
            self.violation("safety", f"{service}'s address {address} held by {', '.join(holders)} at once")

    def _epochs_text(self) -> str:
        return ", ".join(f"{e}@{s:.2f}" + ("" if end is None else f"-{end:.2f}") for s, e, end, _ in self.epochs[-4:])

    def _plan(self, service: str):
        return next((s for s in self.world.schedule.services if s.name == service), None)

    def actives(self, service: str) -> list[str]:
        """Servers where `service` runs active and can act (a frozen host's cannot).
        Within one sample nothing runs: each service's answer is kept till its end
        (callers read the list, never change it)."""
        if self._sampled is not None and service in self._sampled:
            return self._sampled[service]
        frozen = self.world.frozen_hosts
        actives = sorted(a.server for a in self._actuators_of(service)
                         if a.state == "active" and not a.closed and a.server not in frozen)
        if self._sampled is not None:
            self._sampled[service] = actives
        return actives

    def _actuators_of(self, service: str) -> list:
        """`service`'s actuators, in the world's order. Asked several times at
        every sample: kept per service, taking in the world's new ones (it
        only appends)."""
        actuators = self.world.actuators
        if len(actuators) > self._indexed:
            for actuator in actuators[self._indexed:]:
                self._by_service.setdefault(actuator.service, []).append(actuator)
            self._indexed = len(actuators)
        return self._by_service.get(service, [])

    def thawed(self, server: str) -> None:
        """A frozen host thaws: its actives act again, until its fencer kills them."""
        loop = self.world.loop
        self.thawed_at[server] = self.world.now()
        loop.call_at_global(loop.global_time() + THAW_GRACE, self._after_thaw, server, context=self.world.context)

    def _after_thaw(self, server: str) -> None:
        for plan in self.world.schedule.services:
            actives = self.actives(plan.name)
            if server in actives and len(actives) > plan.replicas:
                self.violation("safety", f"{plan.name}: {len(actives)} actives ({', '.join(actives)}) > replicas "
                                         f"{plan.replicas} {THAW_GRACE:g}s after {server} thawed")
        for address, held in self.world.addresses.holders.items():
            holders = sorted(h for h in held if h not in self.world.frozen_hosts)
            if server in holders and len(holders) > 1:
                self.violation("safety", f"address {address} held by {', '.join(holders)} {THAW_GRACE:g}s "
                                         f"after {server} thawed")

    # --- sampling ------------------------------------------------------------------------

    def start(self) -> None:
        self.world.at(SAMPLE, self._tick)

    def _tick(self) -> None:
        self.sample()
        loop = self.world.loop
        loop.call_at_global(loop.global_time() + SAMPLE, self._tick, context=self.world.context)

    def sample(self) -> None:
        self._sampled = {}
        try:
            self._sample()
        finally:
            self._sampled = None

    def _sample(self) -> None:
        world, t = self.world, self.world.now()
        schedule = world.schedule
        all_there = True
        for plan in schedule.services:
            n = len(self.actives(plan.name))
            all_there &= n >= plan.replicas
            if n == 0 and plan.name not in world.op_paused:
                since = self.zero_since.setdefault(plan.name, t)
                self.worst_outage = max(self.worst_outage, t - since)
            else:
                self.zero_since.pop(plan.name, None)
            if t >= schedule.healed_at and plan.name not in self.recovery and n >= plan.replicas:
                self.recovery[plan.name] = t - schedule.healed_at
        if all_there and self.settled is None:
            self.settled = t
        self.liveness.sample(t)
        self.placement.sample(t)
        self.lags.sample(t)
        self.relations.sample(t)

    def finish(self) -> None:
        t = self.world.now()
        self.liveness.finish(t)
        judged, wrong = calm.judge(self.begun, self.log, [p.name for p in self.world.schedule.services])
        self.judged["blips"] += judged
        for when, message in wrong:
            self.violation("calm", message, when)
