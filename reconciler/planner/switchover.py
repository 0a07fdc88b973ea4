"""Operator switchovers: validate the request and name who leaves and who takes over.

A switchover is graceful and two-phase like a failover: phase 1 demotes the
current active (the `victim`), phase 2 (once it is fenced) promotes the
target. Which phase we are in is read from the assignment: while it has
fewer actives than wanted, the target is the head of its standby list.
Without `--to`, a replicated database's target is the standby with the least
lag (lag.py); until the target has caught up the move waits (service.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from overseer.desired.models import ServiceDoc
from overseer.desired.state import Assignment, SwitchoverRequest

from . import lag
from .actions import Refusal
from .health import DOWN, FAIL, View
from .placement import ranked_pool


@dataclass(frozen=True)
class SwitchIntent:
    victim: Optional[str]   # the active to demote now; None once it has been demoted
    target: str


def switchover_intent(view: View, name: str, svc: ServiceDoc, current: Optional[Assignment],
                      request: SwitchoverRequest, grades: dict[str, int]) -> Union[SwitchIntent, Refusal]:
    """The move to make, or the Refusal saying why it cannot be made."""
    if svc.spec.mode == "all-active":
        return Refusal(f"{name} is all-active (every eligible candidate already runs it)")
    if current is None or not (current.active or current.standby):
        return Refusal(f"{name} has no assignment yet")
    cur = tuple(current.active)
    replicas = svc.spec.replicas
    victim = cur[-1] if len(cur) >= replicas else None
    if request.to:
        refusal = _refuse_target(view, name, svc, request.to, cur, grades)
        return refusal or SwitchIntent(victim, request.to)
    hints = tuple(current.standby)[:replicas - len(cur)] if victim is None else ()
    # a planned move never goes to a cordoned server (drain moves actives away from one)
    pool = [s for s in ranked_pool(view, name, svc, grades, exclude=cur, hints=hints) if s not in view.cordoned]
    # forced: the least lag now, not the head of a standby list a lag hold left behind
    pool = lag.rank(view, name, svc, pool, () if request.force else hints)
    if not pool:
        cordoned = [s for s in svc.spec.candidates if s in view.cordoned and s not in cur]
        return Refusal(f"no eligible candidate to take over {name}"
                       + (f" ({', '.join(cordoned)} cordoned)" if cordoned else ""))
    return SwitchIntent(victim, pool[0])


def _refuse_target(view: View, name: str, svc: ServiceDoc, to: str,
                   cur: tuple[str, ...], grades: dict[str, int]) -> Optional[Refusal]:
    if to not in svc.spec.candidates:
        return Refusal(f"{to} is not a candidate of {name}")
    if to in cur:
        return Refusal(f"{to} is already active for {name}")
    if to in view.cordoned:
        return Refusal(f"{to} is cordoned (`overseer uncordon {to}` first)")
    grade = grades[to]
    if grade == DOWN:
        return Refusal(f"{to} is down")
    if grade == FAIL:
        return Refusal(f"{to} is in fail: {view.why(to, name, svc)}")
    return None
