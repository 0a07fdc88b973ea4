"""Relationships (`requires`, `colocateWith`), judged only from what the processes did.

- start order: a service is never promoted while a service it requires has
  had no active for longer than `order_grace` (a promote runs up to the
  actuator's timeout after the master saw the requirement active, and the
  requirement may have died meanwhile: that is a failure, not a wrong order).
  Under the chosen policy (docs/design-choices.md, "Relationships between
  services") an active dependent stays when its requirement goes: only
  promotions are judged. "Has an active" is what the master can know: an
  active that ended where nobody could tell etcd so (its agent killed,
  stopped, or cut off from etcd; its host frozen) still counts while its
  server's registration stands, until that agent reaches etcd again (its
  step-down lands then) or the registration goes (lease expired) or is
  replaced (the agent restarted and registered). Not on that very server:
  its agent saw the active end and holds its dependents (agent/waits.py).
  The checker reads the `servers/<name>` key as etcd committed it, as it
  reads `master`; never a report.
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

import json
from typing import TYPE_CHECKING, Optional

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
        self.required = {r for reqs in self.requires.values() for r in reqs}
        # (service, server) -> (the registration's start, agent incarnation) of an
        # active that ended there while its agent could not tell etcd
        self.unsaid: dict[tuple[str, str], tuple[float, int]] = {}
        self.believed: dict[tuple[str, str], float] = {}   # (service, server) -> last moment the master could count it

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

    # --- what the master can know of a required service's actives -------------------

    def _registered(self, server: str) -> Optional[float]:
        """The start time in `server`'s registration as etcd holds it now (None: none)."""
        kv = self.world.net.etcd.data.get(f"/overseer/sim/servers/{server}".encode())
        if kv is None:
            return None
        try:
            return float(json.loads(kv.value)["started"])
        except (ValueError, KeyError, TypeError):
            return None

    def _can_tell(self, server: str, incarnation: int) -> bool:
        world = self.world
        return (world.incarnation.get(server) == incarnation and world.agent_up(server)
                and world.net.reaches_etcd(server))

    def _ended_unsaid(self, service: str, server: str) -> None:
        """`service` left active on `server`: remember it if etcd cannot hear so yet."""
        started = self._registered(server)
        incarnation = self.world.incarnation.get(server, 0)
        if started is not None and not self._can_tell(server, incarnation):
            self.unsaid[(service, server)] = (started, incarnation)

    def _believed(self, t: float) -> None:
        """Count as active what the master cannot yet know has ended."""
        world = self.world
        for (service, server), (started, incarnation) in list(self.unsaid.items()):
            if self._registered(server) != started or self._can_tell(server, incarnation):
                del self.unsaid[(service, server)]
            else:
                self.believed[(service, server)] = t
        for a in world.actuators:   # a frozen host's active: it cannot act, nor tell
            if (a.service in self.required and a.state == "active" and not a.closed
                    and a.server in world.frozen_hosts and self._registered(a.server) is not None):
                self.believed[(a.service, a.server)] = t

    def _last_active(self, service: str, seen_from: str) -> float:
        """The last moment `service` had an active, or one the master could still
        count, as judged for a promote on `seen_from`."""
        return max([self.had_active.get(service, NEVER),
                    *(when for (name, server), when in self.believed.items()
                      if name == service and server != seen_from)])

    def effect(self, server: str, service: str, before: str, after: str, t: float) -> None:
        if before == "active":
            self.had_active[service] = t
            self.left[(service, server)] = t
            if after != "active" and service in self.required:
                self._ended_unsaid(service, server)
        if after != "active" or before == "active":
            return
        self._believed(t)
        checker, grace = self.checker, self.order_grace()
        for req in self.requires.get(service, ()):
            checker.judged["relations"] += 1
            since = t - self._last_active(req, server)
            if not checker.actives(req) and since > grace:
                gone = "has never had an active" if since == float("inf") else f"has had no active for {since:.2f}s"
                checker.violation("relations", f"{service} promoted on {server} while {req}, which it requires, {gone}")
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
        self._believed(t)
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
