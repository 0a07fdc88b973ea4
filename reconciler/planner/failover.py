"""active-standby placement with fenced, two-phase handover (never two actives).

A server is newly made active only when every server that may still act as
active (assigned active now, or reporting role active) and is leaving is
fenced: it reported a non-active role, or it is down and its lease expiry +
failoverMargin has passed (and, for a server with a fence agent, that agent
succeeded: fencing.py). Otherwise phase 1 demotes the live ones and names
the successor at the head of the standby list; the plan after their report
(phase 2) promotes it. For a replicated database the standby with the least
replication lag comes first and one past `maxLagOnFailover` is never
promoted (lag.py). A dead, not yet fenced active is left untouched; one
that waits only for its fence agent is named in `fence`, for the master to run it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from overseer.desired.models import ServiceDoc

from . import lag
from .health import View, is_eligible
from .placement import ranked_pool, standby_order
from .switchover import SwitchIntent


@dataclass(frozen=True)
class Decision:
    active: tuple[str, ...]
    standby: tuple[str, ...]
    added: tuple[str, ...]        # newly active in this decision
    removed: tuple[str, ...]      # no longer active in this decision
    pending: tuple[str, ...] = () # successors waiting for `demoting` to report
    demoting: tuple[str, ...] = ()
    retained: tuple[str, ...] = ()  # unhealthy actives kept: nobody eligible to take over
    hinted: bool = False          # an added server was the designated successor
    gone: tuple[str, ...] = ()    # taken for dead although they may act as active (Assign.gone)
    fence: tuple[str, ...] = ()   # dead blockers whose fence agent must succeed first


@dataclass(frozen=True)
class Hold:
    """Nothing to write yet: a dead active's margin runs, or its fence agent
    (`fence`: the servers to fence) has not succeeded yet."""
    fence: tuple[str, ...] = ()


def decide(view: View, name: str, svc: ServiceDoc, cur: tuple[str, ...],
           cur_standby: tuple[str, ...], grades: dict[str, int],
           intent: Optional[SwitchIntent], assigned_at: float = 0.0) -> Union[Decision, Hold]:
    """The next assignment, or a Hold while a dead active's margin runs or
    its fence agent has not succeeded."""
    replicas, live = svc.spec.replicas, view.live
    victim = intent.victim if intent else None
    # dead actives that may still run: their margin runs, or their fence agent has not succeeded
    frozen = [s for s in cur if s not in live and not view.dead_fenced(s)]
    healthy = [s for s in cur if is_eligible(grades[s]) and s != victim][:replicas]
    hints = cur_standby[:replicas - len(cur)] if len(cur) < replicas else ()
    pool = ranked_pool(view, name, svc, grades, exclude=cur, hints=hints)
    if intent:
        pool = [intent.target] + [s for s in pool if s != intent.target]
    else:
        pool = lag.for_failover(view, name, svc, pool, hints, placed=bool(cur or cur_standby))
    new = pool[:max(replicas - len(healthy), 0)]
    shortfall = replicas - len(healthy) - len(new)
    # An unhealthy active is replaced, never just dropped: without a successor it stays.
    retained = [s for s in cur if s in live and s not in healthy and s != victim][:max(shortfall, 0)]
    keep = set(healthy) | set(retained) | (set() if new else set(frozen))
    active = [s for s in cur if s in keep] + new
    may_act = _may_act(view, name, svc, cur, cur_standby) if new else []
    blockers = [s for s in may_act if s not in active and not view.fenced(s, name, assigned_at)]
    fence = tuple(s for s in blockers if view.awaits_fence(s))
    pending: list[str] = []
    demoting: list[str] = []
    if blockers:
        # live servers that may act as active are demoted now; standbys that
        # have not yet acknowledged the current assignment are only waited for
        demoting = [s for s in blockers if s in live and (s in cur or view.reports_active(s, name))]
        if not demoting:
            return Hold(fence)
        pending, active = new, [s for s in cur if s in keep or s in frozen]
    # Servers being waited for go to the tail in their current order, so
    # re-planning the same snapshot gives the same list.
    was = {s: i for i, s in enumerate(cur_standby + cur)}
    last = sorted(demoting, key=lambda s: was.get(s, len(was)))
    standby = standby_order(view, svc, active, first=pending, last=last, current=cur_standby)
    added = tuple(s for s in active if s not in cur)
    return Decision(
        active=tuple(active), standby=standby, added=added,
        removed=tuple(s for s in cur if s not in active),
        pending=tuple(pending), demoting=tuple(demoting), retained=tuple(retained),
        hinted=bool(set(added) & set(hints)),
        gone=tuple(s for s in may_act if s not in active and s not in view.live) if added else (),
        fence=fence,
    )


def _may_act(view: View, name: str, svc: ServiceDoc, cur: tuple[str, ...],
             cur_standby: tuple[str, ...]) -> list[str]:
    """Servers that may still act as active: a leaving one must be fenced first.

    Besides the assigned actives and servers reporting role active, while the
    assignment is short of actives (a handover in progress) every live standby
    must have acknowledged the current assignment: it may be the one just
    demoted, or one whose promote was under way. Only a report written for
    the current assignment (or a later one) proves a server stepped down: an
    older one may predate a promote still under way (View.fenced).
    """
    maybe = list(cur) + [s for s in svc.spec.candidates
                         if s not in cur and view.reports_active(s, name)]
    if len(cur) < svc.spec.replicas:
        maybe += [s for s in cur_standby if s in view.live]
    return list(dict.fromkeys(maybe))
