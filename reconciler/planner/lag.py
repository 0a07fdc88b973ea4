"""Replication lag: which standby of a replicated database a move may promote, best first.

Only services with a `postgres-replication` or `mysql-replication` check
(the first one declared) are concerned; for every other service each
function here leaves the candidates as they are.

- A standby's lag is its check's value while it reports role `standby`, its
  server is live, and the check measured a number (status not `unknown`):
  the monitor republishes a lag check whenever the number moves (at once
  across 0 or `maxLagOnFailover`, else at most every few seconds,
  observers/monitor.py), so a live agent's number is that recent. The
  primary's own value (its worst replica) is never a standby's lag.
- Ranking: among the eligible candidates, least lag first, but only when
  every one of them has a lag; otherwise today's order stands (a guess from
  some numbers and no others would rank a standby that says nothing above
  one that says it is a little behind). Cordoned servers stay last; a
  successor already named for a handover (the head of the standby list
  while the service is short of actives) stays first among equal lags only:
  that head is no proof anyone was named (a standby list written while
  nobody could take over is candidates order), and lags move between the
  two phases, so the least behind at the promote is the one promoted.
- `maxLagOnFailover`: once the service has an assignment, a failover never
  promotes a standby whose lag is above it, nor one whose check ran and could
  not measure one (no number while not `unknown`). A cold or just started
  check (`unknown`) holds nobody back. Only `switchover --force` overrides it.
- A switchover (not forced) waits until its target has caught up: its lag
  within `maxLagOnFailover`, or 0 without one.
"""
from __future__ import annotations

from typing import Optional, Sequence

from overseer.desired.checks import LAG_CHECK_TYPES
from overseer.desired.models import ServiceDoc
from overseer.desired.state import Role, Status

from .health import View


def lag_check(svc: ServiceDoc):
    """The service's replication check, the first declared; None without one."""
    for check in svc.spec.checks:
        if check.type in LAG_CHECK_TYPES:
            return check
    return None


def _measured(view: View, name: str, check, server: str) -> tuple[bool, Optional[float]]:
    """(whether the standby's check has a say, its lag or None)."""
    if server not in view.live:
        return False, None
    report = view.reports.get((server, name))
    if report is None or report.role != Role.STANDBY:
        return False, None
    obs = view.actual.observations.get((server, name, check.name))
    if obs is None or obs.status == Status.UNKNOWN:
        return False, None
    return True, obs.value


def lag_of(view: View, name: str, svc: ServiceDoc, server: str) -> Optional[float]:
    """The standby's lag in its check's unit, None when it has none to show."""
    check = lag_check(svc)
    return None if check is None else _measured(view, name, check, server)[1]


def held_back(view: View, name: str, svc: ServiceDoc, server: str) -> str:
    """Why a failover may not promote `server` ("" when it may)."""
    check = lag_check(svc)
    limit = getattr(check, "maxLagOnFailover", None)
    if limit is None:
        return ""
    ran, lag = _measured(view, name, check, server)
    if not ran:
        return ""
    if lag is None:
        return (f"{check.name} measured no replication lag; maxLagOnFailover {check.show(limit)} "
                f"cannot be kept (`overseer switchover {name} --to {server} --force` promotes it anyway)")
    if lag > limit:
        return (f"replication lag {check.show(lag)} > maxLagOnFailover {check.show(limit)} "
                f"(`overseer switchover {name} --to {server} --force` promotes it anyway)")
    return ""


def rank(view: View, name: str, svc: ServiceDoc, pool: Sequence[str],
         hints: Sequence[str] = ()) -> list[str]:
    """`pool` (eligible, best first) with the least lag first, when every one has a lag."""
    check = lag_check(svc)
    if check is None or len(pool) < 2:
        return list(pool)
    lags = {s: _measured(view, name, check, s)[1] for s in pool}
    if any(lag is None for lag in lags.values()):
        return list(pool)
    named = set(hints)
    # stable: equal lags keep the order health and candidates gave them
    return sorted(pool, key=lambda s: (s in view.cordoned, lags[s], s not in named))


def for_failover(view: View, name: str, svc: ServiceDoc, pool: Sequence[str],
                 hints: Sequence[str], placed: bool) -> list[str]:
    """The candidates a failover may promote, best first: over-the-limit ones
    dropped (only once the service was `placed`: a first placement moves no data)."""
    if lag_check(svc) is None:
        return list(pool)
    allowed = [s for s in pool if not (placed and held_back(view, name, svc, s))]
    return rank(view, name, svc, allowed, hints)


def catching_up(view: View, name: str, svc: ServiceDoc, target: str) -> str:
    """Why a switchover to `target` waits ("" once it has caught up)."""
    check = lag_check(svc)
    if check is None:
        return ""
    limit = getattr(check, "maxLagOnFailover", None)
    lag = _measured(view, name, check, target)[1]
    bound = 0.0 if limit is None else limit
    if lag is not None and lag <= bound:
        return ""
    seen = "no replication lag measured yet" if lag is None else f"replication lag {check.show(lag)}"
    return f"waiting for {target} to catch up ({seen}; wanted ≤ {check.show(bound)})"
