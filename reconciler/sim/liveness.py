"""Liveness, judged per outage against the deadlines of the faults that explain it.

An outage of a service is a stretch during which it has fewer `active`
processes than its `replicas` (a replicas-2 service at 1 active is one too),
outside an operator's pause. Its deadline is the latest deadline
(bounds.py) of every fault that began before now and whose deadline is not
before the outage began; an outage no fault explains gets one of its own
(`bounds.unexplained`). Past its deadline:
- if a *live candidate* could serve (a candidate without an active of the
  service whose agent runs, is not paused, reaches etcd, and has no injected
  actuator or probe fault there), the outage is late: reported when it
  ends ("late by N s"), or at the end of the run ("never");
- if none could, it is exempt, and the trace says so and why; it waits for a
  candidate to become live, which sets a new deadline (`bounds.became_live`).
A standby whose replication lag is past `maxLagOnFailover` (replication.py)
is no live candidate once the service was placed: with every standby too far
behind, the service stays without an active by design (operations.md,
"Least lag"), exempt.
A marked server (remembered failures) is a live candidate: an imperfect
server beats no server (docs/design.md, "Placement").

An active of a service with a floating address (`vip`) serves only while
it holds the address, or within `VIP_GRACE` of its promote (vip.py adds the
address right after the service's own promote): promoted without it, the
service is half promoted, which is an outage. A server whose kernel refuses
floating addresses (`vip_fail`) is no live candidate for such a service.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from . import bounds
from .bounds import Deadline

if TYPE_CHECKING:
    from .checker import Checker

# From a promote to its floating address: the `ip addr replace` after the
# service's own promote takes milliseconds (addresses.IP_COMMAND); a second
# is ample, and far below any deadline an outage is judged by.
VIP_GRACE = 1.0


class Outage:
    def __init__(self, service: str, start: float, actives: int):
        self.service, self.start, self.fewest = service, start, actives
        self.deadline: Optional[Deadline] = None
        self.exempt = False                     # past its deadline with nobody to serve
        self.late: Optional[tuple[Deadline, list[str]]] = None   # the deadline missed, who could serve


class Liveness:
    def __init__(self, checker: "Checker"):
        self.checker = checker
        self.world = checker.world
        schedule = self.world.schedule
        self.plans = {p.name: p for p in schedule.services}
        self.deadlines: dict[str, list[Deadline]] = {p.name: [] for p in schedule.services}
        self.outages: dict[str, Outage] = {}
        self.available: dict[str, int] = {p.name: 0 for p in schedule.services}
        self.paused: set[str] = set()
        self.add(bounds.initial(schedule))

    def add(self, deadlines: list[Deadline]) -> None:
        for d in deadlines:
            if d.service in self.deadlines:
                self.deadlines[d.service].append(d)

    def _say(self, text: str) -> None:
        self.world.trace.event(self.world.now(), "CHECKER", text)

    # --- who could serve -------------------------------------------------------------

    def why_not(self, server: str, service: str) -> Optional[str]:
        """None for a live candidate, else why it is not one."""
        world = self.world
        if server not in world.keys:
            return "agent down"
        if server in world.paused:
            return "agent paused"
        if not world.net.reaches_etcd(server):
            return "cannot reach etcd"
        fault = world.actuator_fault(server, service)
        if fault is not None:
            return f"its commands {'hang' if fault == 'hang' else 'fail'}"
        if world.flaps.get((server, service), (0, 0.0))[1] > world.now():
            return "its check fails"
        if self.plans[service].vip and world.addresses.failing(server):
            return "its floating address cannot come up"
        if self.checker.settled is not None:   # placed: a failover may not promote it (lag.py)
            behind = world.replication.too_far(server, service, world.now())
            if behind is not None:
                return behind
        return self.checker.relations.why_not(server, service)

    def serving(self, service: str, actives: list[str], t: float) -> list[str]:
        """The actives that serve: for a service with a `vip`, those holding
        its address or promoted less than VIP_GRACE ago."""
        if not self.plans[service].vip:
            return actives
        addresses = self.world.addresses
        return [server for server in actives
                if addresses.holds(server, service) or t - self._promoted_at(server, service) < VIP_GRACE]

    def _promoted_at(self, server: str, service: str) -> float:
        for when, where, name, before, after, _ in reversed(self.checker.log):
            if where == server and name == service and after == "active" and before != "active":
                return when
        return -1e9

    def could_serve(self, service: str, actives: list[str]) -> tuple[list[str], list[str]]:
        """(live candidates without an active, why each other candidate is not one)."""
        live, others = [], []
        for server in self.world.candidates[service]:
            if server in actives:
                continue
            why = self.why_not(server, service)
            if why is None:
                live.append(server)
            else:
                others.append(f"{server}: {why}")
        return live, others

    # --- sampling ---------------------------------------------------------------------

    def sample(self, t: float) -> None:
        for name, plan in self.plans.items():
            if name in self.world.op_paused:
                if name not in self.paused:
                    self.paused.add(name)
                    if name in self.outages:
                        self._say(f"{name}: paused by the operator: its outage is not judged while paused")
                        del self.outages[name]
                continue
            if name in self.paused:
                self.paused.discard(name)
                self.add([bounds.resumed(self.world.schedule, name, t)])
            actives = self.checker.actives(name)
            live, others = self.could_serve(name, actives)   # one half promoted is not "without an active"
            self._track(name, plan.replicas, self.serving(name, actives, t), live, others, t)

    def _track(self, name: str, replicas: int, actives: list[str], live: list[str], others: list[str],
               t: float) -> None:
        outage = self.outages.get(name)
        before, self.available[name] = self.available[name], len(live)
        if len(actives) >= replicas:
            if outage is not None:
                self._close(outage, t)
            return
        if outage is None:
            outage = self.outages[name] = Outage(name, t, len(actives))
            self.checker.judged["outages"] += 1
            if not any(d.began <= t <= d.at for d in self.deadlines[name]):
                self.add([bounds.unexplained(self.world.schedule, name, t)])
        elif len(live) > before and len(actives) + before < replicas:
            self.add([bounds.became_live(self.world.schedule, name, t, ", ".join(live))])
        outage.fewest = min(outage.fewest, len(actives))
        if outage.late is not None:
            return
        deadline = max((d for d in self.deadlines[name] if d.began <= t and d.at >= outage.start),
                       key=lambda d: d.at)
        if deadline is not outage.deadline:
            outage.deadline = deadline
            if outage.exempt and deadline.at >= t:
                outage.exempt = False
            self._say(f"{name}: {len(actives)} of {replicas} actives since {outage.start:.2f}; "
                      f"deadline {deadline.at:.2f} ({deadline.why})")
        if t <= deadline.at:
            return
        if live:
            outage.late = (deadline, live)
            self._say(f"{name}: deadline {deadline.at:.2f} passed with {len(actives)} of {replicas} actives "
                      f"while {', '.join(live)} could serve")
        elif not outage.exempt:
            outage.exempt = True
            self.checker.judged["exempt"] += 1
            self._say(f"{name}: deadline {deadline.at:.2f} passed with no live candidate "
                      f"({'; '.join(others) or 'no other candidate'}): exempt until one becomes live")

    def _close(self, outage: Outage, t: float) -> None:
        del self.outages[outage.service]
        replicas = self.plans[outage.service].replicas
        if outage.late is None:
            if outage.deadline is not None and (outage.exempt or t - outage.start > 1.0):
                self._say(f"{outage.service}: {replicas} of {replicas} actives again after "
                          f"{t - outage.start:.2f}s")
            return
        deadline, live = outage.late
        self.checker.violation(
            "liveness", f"{outage.service}: late by {t - deadline.at:.1f}s: {outage.fewest} of {replicas} "
                        f"actives from {outage.start:.2f} to {t:.2f}, deadline {deadline.at:.2f} "
                        f"({deadline.why}) while {', '.join(live)} could serve")

    def finish(self, t: float) -> None:
        for outage in list(self.outages.values()):
            replicas = self.plans[outage.service].replicas
            if outage.late is not None:
                deadline, live = outage.late
                self.checker.violation(
                    "liveness", f"{outage.service}: never: {outage.fewest} of {replicas} actives since "
                                f"{outage.start:.2f}, deadline {deadline.at:.2f} ({deadline.why}) passed "
                                f"{t - deadline.at:.1f}s before the end while {', '.join(live)} could serve")
            elif outage.exempt:
                self._say(f"{outage.service}: still short at the end, exempt: no live candidate")
            else:   # began within the last bound of the run (bounds.run_end): its deadline is still ahead
                self._say(f"{outage.service}: still short at the end, its deadline "
                          f"{outage.deadline.at:.2f} not reached")
