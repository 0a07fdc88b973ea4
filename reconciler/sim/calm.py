"""Calm, judged for every labelled blip in every schedule.

A blip touches services: a single failed probe its service; an agent pause
or a cut of one server the services with an active there as it begins; an
etcd blip every service. Its window runs from its start to its own
deadline (bounds.py: how long after it a wrong fence or move would show).
For each touched service that had all its actives as the blip began, and
that no overlapping fault explains, no process of that service may become
active or stop being active within the window.

A fault overlaps the blip for a service when its own window (its start to
the latest deadline it set, or its end if later) meets the blip's window and
it is cluster-wide, or on that service, or on the blip's server, or it set a
deadline for that service (a lost server that is one of its candidates: it
may rightly move it); every fault overlaps an etcd blip. `cleanup` forgets failures and moves nothing: it
never overlaps.

In a schedule of blips only, the stricter rule of the checker holds as well:
nothing becomes active or stops being active once the cluster first settled.
"""
from __future__ import annotations

from dataclasses import dataclass

from .bounds import Deadline, kind_of
from .schedule import Fault


@dataclass
class Begun:
    """A fault as the checker saw it begin."""
    fault: Fault
    deadlines: list[Deadline]
    holding: tuple[str, ...]    # services with an active on the fault's server then
    whole: frozenset            # services with all their actives then

    @property
    def until(self) -> float:
        return max([d.at for d in self.deadlines] + [self.fault.end])


def _touched(b: Begun, services: list[str]) -> list[str]:
    f = b.fault
    if kind_of(f).cluster_wide:
        return list(services)
    if f.service:
        return [f.service]
    return list(b.holding)


def _overlaps(other: Begun, blip: Begun, service: str) -> bool:
    o, f = other.fault, blip.fault
    if o.blip or o.kind == "cleanup" or other is blip:
        return False
    if o.at > blip.until or other.until < f.at:
        return False
    return (kind_of(o).cluster_wide or kind_of(f).cluster_wide or o.service == service
            or bool(o.server and o.server == f.server)
            or any(d.service == service for d in other.deadlines))


def judge(begun: list[Begun], effects: list[tuple], services: list[str]) -> tuple[int, list[tuple[float, str]]]:
    """(how many (blip, service) pairs were judged, (time, message) for each
    blip that moved or restarted a service). `effects`: (t, server, service,
    before, after, why) of every process."""
    out, judged = [], 0
    for blip in begun:
        if not blip.fault.blip:
            continue
        for service in _touched(blip, services):
            if service not in blip.whole:
                continue
            if any(_overlaps(other, blip, service) for other in begun):
                continue
            judged += 1
            for t, server, name, before, after, why in effects:
                if name == service and blip.fault.at <= t <= blip.until and "active" in (before, after):
                    out.append((t, f"{service} on {server}: {before} -> {after} ({why}) within "
                                   f"{t - blip.fault.at:.2f}s of the blip '{blip.fault.describe().strip()}' "
                                   f"(window to {blip.until:.2f}; no fault overlaps it)"))
                    break
    return judged, out
