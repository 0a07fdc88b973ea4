"""One service's plan: pick the mode's placement, then turn the decision into actions.

Emits nothing when the computed (active, standby) equals the assignment
(idempotence), one Assign otherwise, plus a Record when the active set
changes and a ClearSwitchover when an operator request finishes. A move
held for a dead server's fence agent asks for it (FenceServer, fencing.py).

An active the assignment keeps although it cannot serve under it now (it
fenced itself, or failed as active and nobody else is eligible) gets the
same decision re-issued: a new record is what tells its agent to take it up
again (restart in place) instead of waiting for a move that will not come.
"""
from __future__ import annotations

from typing import Optional

from overseer.desired.models import ServiceDoc
from overseer.desired.state import Assignment, HistoryKind, Outcome, SwitchoverRequest

from . import lag, reasons
from .actions import Action, Assign, ClearSwitchover, FenceServer, Record, Refusal
from .failover import Decision, Hold, decide
from .health import FAIL, View, is_eligible, stepped_down
from .placement import all_active_set, standby_order
from .switchover import SwitchIntent, switchover_intent


def plan_service(view: View, name: str, svc: ServiceDoc, current: Optional[Assignment],
                 request: Optional[SwitchoverRequest]) -> list[Action]:
    cur = tuple(current.active) if current else ()
    cur_standby = tuple(current.standby) if current else ()
    stepped = tuple(s for s in cur if stepped_down(view, s, name, current.time)) if current else ()
    if current is not None and request is None and not stepped and _steady(view, name, svc, cur, cur_standby):
        return []
    grades = _grades(view, name, svc, cur)
    for server in stepped:
        grades[server] = FAIL   # it will not serve under this assignment again
    if svc.spec.mode == "all-active":
        decision = _all_active(view, svc, cur, grades)
        intent = None
        actions: list[Action] = []
        if request is not None:
            refusal = switchover_intent(view, name, svc, current, request, grades)
            actions.append(ClearSwitchover(name, refusal if isinstance(refusal, Refusal) else None))
    else:
        actions, intent = _switch(view, name, svc, current, request, grades)
        decision = decide(view, name, svc, cur, cur_standby, grades, intent,
                          current.time if current else 0.0)
    fences = _fences(view, name, svc, decision.fence)
    if isinstance(decision, Hold):
        return actions + fences
    if current is not None and (decision.active, decision.standby) == (cur, cur_standby):
        return _reissue(view, name, svc, current, stepped) + actions + fences
    actions[:0] = _assign(view, name, svc, current, decision, intent)
    if intent is not None and intent.target in decision.active:
        actions.append(ClearSwitchover(name))
    return actions + fences


def _fences(view: View, name: str, svc: ServiceDoc, servers: tuple[str, ...]) -> list[Action]:
    """A FenceServer for each dead server the move waits for whose next
    attempt is due (none while one runs or backs off)."""
    out: list[Action] = []
    for server in servers:
        attempt = view.fencing.due(server)
        if attempt is not None:
            out.append(FenceServer(server, (name,), f"{name}: {reasons.fence(view, name, svc, server)}", attempt))
    return out


def _steady(view: View, name: str, svc: ServiceDoc, cur: tuple, cur_standby: tuple) -> bool:
    """Fast path: every wanted active is healthy and the standby list is already right."""
    if svc.spec.mode == "all-active" or len(cur) != svc.spec.replicas:
        return False
    for server in cur:
        if not is_eligible(view.grade(server, name, svc)) or server not in svc.spec.candidates:
            return False
    return standby_order(view, svc, cur, current=cur_standby) == cur_standby


def _reissue(view: View, name: str, svc: ServiceDoc, current: Assignment,
             stepped: tuple[str, ...]) -> list[Action]:
    """The same decision, as a new record, for actives kept that cannot serve
    under the current one: stepped down, or failed as active under it."""
    stuck = [s for s in current.active if s in stepped or _failed_under(view, s, name, current.time)]
    if not stuck:
        return []
    why = "; ".join(f"{s}: {'stepped down (self-fenced)' if s in stepped else view.why(s, name, svc)}"
                    for s in stuck)
    return [Assign(name, tuple(current.active), tuple(current.standby),
                   f"{why}; kept active: no eligible candidate to take over; re-assigned to take it up again",
                   answers=True)]


def _failed_under(view: View, server: str, name: str, assigned_at: float) -> bool:
    report = view.reports.get((server, name))
    return (server in view.live and report is not None and report.outcome == Outcome.FAILED
            and report.assigned >= assigned_at)


def _grades(view: View, name: str, svc: ServiceDoc, cur: tuple) -> dict[str, int]:
    grades = {s: view.grade(s, name, svc) for s in svc.spec.candidates}
    for server in cur:
        grades.setdefault(server, FAIL)   # no longer a candidate: must be replaced
    return grades


def _switch(view, name, svc, current, request, grades) -> tuple[list[Action], Optional[SwitchIntent]]:
    if request is None:
        return [], None
    intent = switchover_intent(view, name, svc, current, request, grades)
    if isinstance(intent, Refusal):
        return [ClearSwitchover(name, intent)], None
    if not request.force and _behind(view, name, svc, intent):
        return [], None     # the request stays: the operator's --timeout withdraws it
    return [], intent


def _behind(view: View, name: str, svc: ServiceDoc, intent: SwitchIntent) -> bool:
    """A replicated database's target not caught up yet: before the active is
    demoted, lag within maxLagOnFailover (0 without one); with no active to
    demote, within maxLagOnFailover (only `--force` promotes past it)."""
    if intent.victim is not None:
        return bool(lag.catching_up(view, name, svc, intent.target))
    return bool(lag.held_back(view, name, svc, intent.target))


def _all_active(view: View, svc: ServiceDoc, cur: tuple, grades: dict[str, int]) -> Decision:
    active = all_active_set(view, svc, grades, cur)
    return Decision(active=active, standby=(), added=tuple(s for s in active if s not in cur),
                    removed=tuple(s for s in cur if s not in active))


def _assign(view: View, name: str, svc: ServiceDoc, current: Optional[Assignment],
            d: Decision, intent: Optional[SwitchIntent]) -> list[Action]:
    reason, kind = _reason_and_kind(view, name, svc, current, d, intent)
    actions: list[Action] = [Assign(name, d.active, d.standby, reason, gone=d.gone)]
    if current is None or set(d.active) != set(current.active):
        server = (d.added or d.demoting or d.removed or ("",))[0]
        actions.append(Record(name, kind, reason, server))
    return actions


def _reason_and_kind(view, name, svc, current, d: Decision, intent) -> tuple[str, str]:
    short = reasons.shortfall(view, name, svc, d.active) \
        if svc.spec.mode == "active-standby" and len(d.active) < svc.spec.replicas and not d.pending else ""
    if current is None:
        return reasons.join("initial placement", *(reasons.chosen(view, name, svc, s) for s in d.added), short), HistoryKind.PLACEMENT
    gone = reasons.gone(view, name, svc, [s for s in d.removed if intent is None or s != intent.victim])
    if intent is not None:
        head = f"switchover requested: {intent.victim or 'demoted active'} → {intent.target}"
    else:
        head = gone
    if d.pending:
        wait = f"{', '.join(d.pending)} will take over once {', '.join(d.demoting)} reports demoted"
        return (f"{head} → demoting; {wait}" if head else f"handover: {wait}"), \
            HistoryKind.SWITCHOVER if intent else HistoryKind.DEMOTE
    chosen = [reasons.chosen(view, name, svc, s) for s in d.added]
    kept = [f"{s} kept active: no eligible candidate to take over" for s in d.retained]
    if not d.added and not d.removed:
        return reasons.standby_change(view, name, svc, current.standby, d.standby), ""
    kind = HistoryKind.SWITCHOVER if intent else (
        HistoryKind.FAILOVER if d.removed or d.hinted else HistoryKind.PLACEMENT)
    if d.hinted and not d.removed and intent is None:
        head = "handover: previous active demoted"
    return reasons.join(head, *chosen, *kept, short), kind
