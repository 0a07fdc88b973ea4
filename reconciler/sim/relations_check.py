"""Relationships (`requires`, `colocateWith`), judged only from what the processes did.

- start order: a service is never promoted while a service it requires has
  had no active for longer than `order_grace` (a promote runs up to the
  actuator's timeout after the master saw the requirement active, and the
  requirement may have died meanwhile: that is a failure, not a wrong order).
  Under the chosen policy (docs/design-choices.md, "Relationships between
  services") an active dependent stays when its requirement goes: only
  promotions are judged.
- colocation: a follower is never promoted on a server where its anchor is
  not active (same grace); and never stays active apart from its anchor, on
  a server where the anchor is not active, longer than `apart_grace`: the
  anchor may fail under it (its child gone, a server cut off) and the
  follower leaves once the master heard of it, or the server fenced itself
  (leaseTTL + failoverMargin + two actuator steps + SLACK), or later when a
  fault explains it (its deadline per bounds.py: etcd down, nobody moves
  anything until it is back). A frozen host's
  processes do not count (Checker.actives), and nothing is judged while
  either service is paused by the operator.

Liveness (liveness.py) asks `why_not`: a follower can serve only where its
anchor is active, a dependent only while what it requires has an active; when
that changes, the candidate becomes live and gets a deadline as any does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .bounds import SLACK

if TYPE_CHECKING:
    from .checker import Checker

NEVER = float("-inf")


class RelationsCheck:
    def __init__(self, checker: "Checker"):
        self.checker = checker
        self.world = checker.world
        services = self.world.schedule.services
        self.requires = {p.name: p.requires for p in services if p.requires}
        self.anchor = {p.name: p.colocate for p in services if p.colocate}
        self.had_active: dict[str, float] = {}          # service -> last moment it had an active
        self.left: dict[tuple[str, str], float] = {}     # (service, server) -> when it last left active there
        self.apart_since: dict[tuple[str, str], float] = {}
        self.reported: set[tuple[str, str, float]] = set()

    def order_grace(self) -> float:
        s = self.world.schedule
        return s.actuator_timeout + SLACK + 3 * self.world.net.slow

    def apart_grace(self) -> float:
        s = self.world.schedule
        return s.ttl + s.margin + 2 * s.actuator_timeout + SLACK + 3 * self.world.net.slow

    def _explained_until(self, follower: str, anchor: str, since: float, t: float) -> float:
        """The latest deadline (liveness.py's, per fault) of a fault that began
        by `t` and had not run out when the pair came apart: an etcd outage,
        say, during which no master can move anything, so the follower may
        stay where its anchor died until the outage's own deadline."""
        deadlines = self.checker.liveness.deadlines
        return max((d.at for name in (follower, anchor) for d in deadlines.get(name, ())
                    if d.began <= t and d.at >= since), default=NEVER)

    def _paused(self, *names: str) -> bool:
        return any(n in self.world.op_paused for n in names)

    def effect(self, server: str, service: str, before: str, after: str, t: float) -> None:
        if before == "active":
            self.had_active[service] = t
            self.left[(service, server)] = t
        if after != "active" or before == "active":
            return
        checker, grace = self.checker, self.order_grace()
        for req in self.requires.get(service, ()):
            checker.judged["relations"] += 1
            if not checker.actives(req) and t - self.had_active.get(req, NEVER) > grace:
                checker.violation("relations", f"{service} promoted on {server} while {req}, which it requires,"
                                               f" has had no active for {t - self.had_active.get(req, NEVER):.2f}s")
        anchor = self.anchor.get(service)
        if anchor is not None:
            checker.judged["relations"] += 1
            if server not in checker.actives(anchor) and t - self.left.get((anchor, server), NEVER) > grace:
                checker.violation("relations", f"{service} promoted on {server}, where {anchor} (colocated) is not active")

    def why_not(self, server: str, service: str) -> "str | None":
        """Why a live candidate cannot serve `service` now because of a
        relationship (liveness.py): a follower serves only where its anchor
        is active, a dependent only once what it requires has an active."""
        anchor = self.anchor.get(service)
        if anchor is not None and server not in self.checker.actives(anchor):
            return f"{anchor} (colocated) is not active here"
        for req in self.requires.get(service, ()):
            if not self.checker.actives(req):
                return f"{req} (required) has no active"
        return None

    def sample(self, t: float) -> None:
        checker = self.checker
        for plan in self.world.schedule.services:
            if checker.actives(plan.name):
                self.had_active[plan.name] = t
        for follower, anchor in self.anchor.items():
            theirs = set(checker.actives(anchor))
            mine = set(checker.actives(follower))
            for key in [k for k in self.apart_since if k[0] == follower and (k[1] not in mine or k[1] in theirs)]:
                del self.apart_since[key]
            if self._paused(follower, anchor):
                for key in [k for k in self.apart_since if k[0] == follower]:
                    del self.apart_since[key]
                continue
            for server in sorted(mine - theirs):
                since = self.apart_since.setdefault((follower, server), t)
                if t - since > self.apart_grace() and t > self._explained_until(follower, anchor, since, t) \
                        and (follower, server, since) not in self.reported:
                    self.reported.add((follower, server, since))
                    checker.violation("relations", f"{follower} active on {server} without {anchor} (colocated)"
                                                   f" for {t - since:.2f}s", since)
