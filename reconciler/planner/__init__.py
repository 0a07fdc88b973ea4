"""The pure planner: desired + actual + assignments + now -> actions.

No I/O, no clock, no randomness: the reconcile loop gives it one consistent
snapshot and applies what it returns. Each service is decided on its own;
actions come out ordered by service name, then one FenceServer per dead
server whose fence agent a move waits for, ordered by server. See
docs/design.md, "Placement" and "Never two actives".
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional

from overseer.desired.state import Assignment, DesiredState, Role, SwitchoverRequest

from .actions import Action, Assign, ClearSwitchover, FenceServer, Record, Refusal
from .health import View
from .inputs import ActualState
from .service import plan_service


def plan(desired: DesiredState, actual: ActualState, assignments: Mapping[str, Assignment],
         now: float) -> list[Action]:
    """Every action needed now; empty when the assignments already match."""
    view = View(desired, actual, now)
    switchovers = actual.switchovers
    actions: list[Action] = []
    fences: dict[str, FenceServer] = {}
    for name in sorted(desired.services):
        if actual.is_paused(name):
            continue
        for action in plan_service(view, name, desired.services[name],
                                   assignments.get(name), due(switchovers.get(name), now)):
            if isinstance(action, FenceServer):
                fences[action.server] = _merged(fences.get(action.server), action)
            else:
                actions.append(action)
    return actions + [fences[server] for server in sorted(fences)]


def _merged(first: Optional[FenceServer], more: FenceServer) -> FenceServer:
    """One fence of a server for every service that waits for it."""
    if first is None:
        return more
    return replace(first, services=first.services + more.services, reason=f"{first.reason}; {more.reason}")


def due(request: Optional[SwitchoverRequest], now: float) -> Optional[SwitchoverRequest]:
    """A switchover request the master acts on now: a scheduled one (`--at`)
    waits for its moment, as `patronictl switchover --scheduled` does."""
    if request is None or (request.at is not None and now < request.at):
        return None
    return request


def what_if_down(desired: DesiredState, actual: ActualState, assignments: Mapping[str, Assignment],
                 now: float, server: str) -> list[Action]:
    """Plan as if `server` had died just long enough ago for its services to move."""
    view = View(desired, actual, now)
    servers = {k: v for k, v in actual.servers.items() if k != server}
    down_since = dict(actual.down_since)
    down_since[server] = now - view.margin
    return plan(desired, replace(actual, servers=servers, down_since=down_since), assignments, now)


def next_wakeup(desired: DesiredState, actual: ActualState, assignments: Mapping[str, Assignment],
                now: float) -> Optional[float]:
    """The earliest future moment the plan may change by itself: a dead
    server's failover margin expiring (an active's, or a standby's, which
    stays listed until then), or a scheduled switchover's time."""
    view = View(desired, actual, now)
    dead_actives: set[str] = set()
    for name, assignment in assignments.items():
        if name in desired.services and not actual.is_paused(name):
            dead_actives.update(s for s in (*assignment.active, *assignment.standby) if s not in actual.servers)
    for (server, name), report in actual.reports.items():
        if report.role == Role.ACTIVE and server not in actual.servers and not actual.is_paused(name):
            dead_actives.add(server)
    expiries = [actual.down_since[s] + view.margin for s in dead_actives if s in actual.down_since]
    # a failed fence's next attempt, a running one's timeout (fencing.py)
    expiries += [at for s in dead_actives if (at := view.fencing.next_at(s)) is not None]
    expiries += [r.at for name, r in actual.switchovers.items()
                 if r.at is not None and name in desired.services and not actual.is_paused(name)]
    future = [t for t in expiries if t > now]
    return min(future) if future else None


def shared_failure_domain(desired: DesiredState, service_name: str) -> Optional[str]:
    """The failure domain every candidate of the service shares (a board warning), else None."""
    svc = desired.services.get(service_name)
    if svc is None:
        return None
    domains = set()
    for server in svc.spec.candidates:
        doc = desired.servers.get(server)
        if doc is None or not doc.spec.failureDomain:
            return None
        domains.add(doc.spec.failureDomain)
    return domains.pop() if len(domains) == 1 else None


__all__ = [
    "ActualState", "Action", "Assign", "Record", "ClearSwitchover", "FenceServer", "Refusal",
    "plan", "what_if_down", "next_wakeup", "shared_failure_domain",
]
