"""Least lag: a failover of a replicated database promotes a standby that had caught up.

docs/operations.md ("Least lag"): once a service with a replication check
was placed, a failover never promotes a standby whose lag is above
`maxLagOnFailover`, and among eligible standbys that all have a lag it
promotes the least behind. The checker sees the world's lag (replication.py),
not what the master read, so it judges only what the master plainly knew.

When a service is made active on X after it first settled (not X taking
its own active up again, not during an operator's switchover of it, not
near a slow etcd), over the `window` before the promote (a probe, its
publication, the decision, a demote and the promote itself):
- X's lag held one value all along, X's agent was live (running, not paused,
  reaching etcd) and X ran as a standby all along. If that lag is past the
  limit, the failover promoted a standby too far behind: a violation.
- Else, if every other candidate either plainly had a lag (the same three
  conditions, and no injected fault on it there) or was plainly not in the
  failover's pool (its agent down since a lease before the window, or it is
  the active being replaced: active within the window), one of them with a lag
  within the limit and below X's was passed over: a violation. A successor
  named in a handover's first phase keeps its place only among equal lags
  (lag.rank), so a handover is judged as any failover.
Invariant "lag".
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .bounds import SLACK
from .replication import MIB

if TYPE_CHECKING:
    from .checker import Checker

PROBE_TIMEOUT = 0.5   # the simulated Cluster's defaults.timeout (world.documents)
# faults on a server that stop its published lag from reaching etcd while its lease lives on
_UNPUBLISHED = ("etcd_oneway", "etcd_link", "peer_oneway")


class LagCheck:
    def __init__(self, checker: "Checker"):
        self.checker = checker
        self.world = checker.world
        s = self.world.schedule
        self.window = s.interval + PROBE_TIMEOUT + 3 * s.actuator_timeout + 2 * SLACK
        self.down_since: dict[str, float] = {}

    def sample(self, t: float) -> None:
        for server in self.world.incarnation:
            if server in self.world.keys:
                self.down_since.pop(server, None)
            else:
                self.down_since.setdefault(server, t)

    def effect(self, server: str, service: str, before: str, after: str, t: float) -> None:
        if after == "active" and before != "active" and self.world.replication.concerns(service):
            self._judge(server, service, t)

    def _judge(self, chosen: str, service: str, t: float) -> None:
        checker, world, s = self.checker, self.world, self.world.schedule
        if checker.settled is None:
            return   # the first placement moves no data: no limit (lag.for_failover)
        if any(service in (p.name, p.colocate) for p in s.services if p.colocate):
            return   # a colocated group goes where its anchor goes (relations_check.py)
        start = t - self.window
        if checker.placement.left_active.get((chosen, service), -1e9) >= start - s.ttl - s.margin:
            return   # its own active taken up again, not a failover's choice
        if self._unjudged(service, start, t):
            return
        mine = self._known(chosen, service, start, t)
        if mine is None:
            return
        checker.judged["lags"] += 1
        limit = world.replication.limit(service)
        if mine > limit:
            checker.violation("lag", f"{service} promoted on {chosen} by a failover while its replication lag "
                                     f"was {mine / MIB:.1f} MiB > maxLagOnFailover {limit / MIB:.0f} MiB "
                                     f"(held since before {start:.2f})")
            return
        lags = {}
        for other in world.candidates[service]:
            if other == chosen or self.down_since.get(other, t + 1) <= start - s.ttl - s.margin - SLACK:
                continue
            if checker.placement.left_active.get((other, service), -1e9) >= start:
                continue   # the active it replaces: assigned still, so in no failover's pool
            lag = self._known(other, service, start, t, faults=True)
            if lag is None:
                return   # it may have been eligible with no lag to show: no ranking to judge
            lags[other] = lag
        if lags:
            checker.judged["lag ranks"] += 1
        better = sorted((lag, other) for other, lag in lags.items() if lag <= limit and lag < mine)
        if better:
            lag, other = better[0]
            checker.violation("lag", f"{service} promoted on {chosen} (replication lag {mine / MIB:.1f} MiB) "
                                     f"while {other}, eligible, was {lag / MIB:.1f} MiB behind (every "
                                     f"candidate's lag held since before {start:.2f})")

    def _known(self, server: str, service: str, start: float, t: float, faults: bool = False) -> Optional[float]:
        """`server`'s lag if the master plainly knew it over [start, t], else None."""
        placement, world = self.checker.placement, self.world
        lag, since = world.replication.lag(server, service, t)
        if since > start or placement.live_since.get(server, t + 1) > start:
            return None
        # judged before placement.effect records the promote: the chosen one's state is still its last
        state, state_since = placement.state_since.get((server, service), ("stopped", 0.0))
        if state != "running" or state_since > start:
            return None
        vip = any(p.vip for p in world.schedule.services if p.name == service)
        for b in self.checker.begun:
            f = b.fault
            if f.server != server or f.at > t or b.until < start - world.schedule.ttl:
                continue
            if f.kind in _UNPUBLISHED:
                return None
            if faults and (f.service == service or (f.kind == "vip_fail" and vip)):
                return None
        return lag

    def _unjudged(self, service: str, start: float, t: float) -> bool:
        """An operator's switchover of the service (its target is the
        operator's), or etcd slow to commit (the master may read an older lag)."""
        ttl = self.world.schedule.ttl
        for b in self.checker.begun:
            f = b.fault
            if f.service == service and f.kind == "switchover" and f.at <= t <= b.until:
                return True
            if f.kind in ("slow", "etcd_fsync") and f.at <= t and f.end + ttl >= start:
                return True
        return False
