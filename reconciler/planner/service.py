"""One service's plan: pick the mode's placement, then turn the decision into actions.

Emits nothing when the computed (active, standby) equals the assignment
(idempotence), one Assign otherwise, plus a Record when the active set
changes and a ClearSwitchover when an operator request finishes.
"""
from __future__ import annotations

from typing import Optional

from overseer.desired.models import ServiceDoc
from overseer.desired.state import Assignment, SwitchoverRequest

from . import reasons
from .actions import Action, Assign, ClearSwitchover, Record
from .failover import Decision, decide
from .health import FAIL, View, WARN
from .placement import all_active_set, standby_order
from .switchover import SwitchIntent, switchover_intent


def plan_service(view: View, name: str, svc: ServiceDoc, current: Optional[Assignment],
                 request: Optional[SwitchoverRequest]) -> list[Action]:
    cur = tuple(current.active) if current else ()
    cur_standby = tuple(current.standby) if current else ()
    if current is not None and request is None and _steady(view, name, svc, cur, cur_standby):
        return []
    grades = _grades(view, name, svc, cur)
    if svc.spec.mode == "all-active":
        decision = _all_active(view, svc, cur, grades)
        intent = None
        actions: list[Action] = []
        if request is not None:
            actions.append(ClearSwitchover(name, switchover_intent(view, name, svc, current, request, grades)))
    else:
        actions, intent = _switch(view, name, svc, current, request, grades)
        decision = decide(view, name, svc, cur, cur_standby, grades, intent,
                          current.time if current else 0.0)
    if decision is None or (current is not None and (decision.active, decision.standby) == (cur, cur_standby)):
        return actions
    actions[:0] = _assign(view, name, svc, current, decision, intent)
    if intent is not None and intent.target in decision.active:
        actions.append(ClearSwitchover(name, "done"))
    return actions


def _steady(view: View, name: str, svc: ServiceDoc, cur: tuple, cur_standby: tuple) -> bool:
    """Fast path: every wanted active is healthy and the standby list is already right."""
    if svc.spec.mode == "all-active" or len(cur) != svc.spec.replicas:
        return False
    for server in cur:
        if view.grade(server, name, svc) > WARN or server not in svc.spec.candidates:
            return False
    return standby_order(view, svc, cur) == cur_standby


def _grades(view: View, name: str, svc: ServiceDoc, cur: tuple) -> dict[str, int]:
    grades = {s: view.grade(s, name, svc) for s in svc.spec.candidates}
    for server in cur:
        grades.setdefault(server, FAIL)   # no longer a candidate: must be replaced
    return grades


def _switch(view, name, svc, current, request, grades) -> tuple[list[Action], Optional[SwitchIntent]]:
    if request is None:
        return [], None
    intent = switchover_intent(view, name, svc, current, request, grades)
    if isinstance(intent, str):
        return [ClearSwitchover(name, intent)], None
    return [], intent


def _all_active(view: View, svc: ServiceDoc, cur: tuple, grades: dict[str, int]) -> Decision:
    active = all_active_set(view, svc, grades, cur)
    return Decision(active=active, standby=(), added=tuple(s for s in active if s not in cur),
                    removed=tuple(s for s in cur if s not in active))


def _assign(view: View, name: str, svc: ServiceDoc, current: Optional[Assignment],
            d: Decision, intent: Optional[SwitchIntent]) -> list[Action]:
    reason, kind = _reason_and_kind(view, name, svc, current, d, intent)
    actions: list[Action] = [Assign(name, d.active, d.standby, reason)]
    if current is None or set(d.active) != set(current.active):
        server = (d.added or d.demoting or d.removed or ("",))[0]
        actions.append(Record(name, kind, reason, server))
    return actions


def _reason_and_kind(view, name, svc, current, d: Decision, intent) -> tuple[str, str]:
    short = reasons.shortfall(view, name, svc, d.active) \
        if svc.spec.mode == "active-standby" and len(d.active) < svc.spec.replicas and not d.pending else ""
    if current is None:
        return reasons.join("initial placement", *(reasons.chosen(view, name, svc, s) for s in d.added), short), "placement"
    gone = reasons.gone(view, name, svc, [s for s in d.removed if intent is None or s != intent.victim])
    if intent is not None:
        head = f"switchover requested: {intent.victim or 'demoted active'} → {intent.target}"
    else:
        head = gone
    if d.pending:
        wait = f"{', '.join(d.pending)} will take over once {', '.join(d.demoting)} reports demoted"
        return (f"{head} → demoting; {wait}" if head else f"handover: {wait}"), \
            "switchover" if intent else "demote"
    chosen = [reasons.chosen(view, name, svc, s) for s in d.added]
    kept = [f"{s} kept active: no eligible candidate to take over" for s in d.retained]
    if not d.added and not d.removed:
        return reasons.standby_change(view, name, svc, current.standby, d.standby), ""
    kind = "switchover" if intent else ("failover" if d.removed or d.hinted else "placement")
    if d.hinted and not d.removed and intent is None:
        head = "handover: previous active demoted"
    return reasons.join(head, *chosen, *kept, short), kind
