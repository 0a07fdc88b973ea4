"""Placement: a failover goes where the operator was promised.

docs/design.md and design-choices.md ("Failure memory"): among eligible
candidates, a server without remembered failures ranks before a marked one,
then `candidates` order; a failure is forgotten `failureTimeout` after it.
So when a service is made active on X, no candidate Y listed before X may
have been plainly eligible and plainly unmarked all along the decision.

"Plainly", because the checker sees processes, not the master's view. Over
the `window` before the promote, Y must have been: live (agent running, not
paused, reaching etcd), free of injected actuator, probe, crash and (for
a service with a `vip`) address faults, running as a warm standby (a warm
service), never active there, and not
the last server the service was active on (it may have stepped down under
the decision still current, which then prefers another candidate). Y is
plainly unmarked when its latest possible failure of the service (it left
`active`, an actuator fault ended, a probe flapped, its child was killed)
is more than `failureTimeout` old at the window's start: its remembered
failure, if it had one, has expired, so it ranks by candidates order again.
A colocated group (anchor and followers) goes where every member may run,
so its promotes are not judged here (relations_check.py judges them); nor
are those of a replicated database, which go by replication lag before
candidates order (lag_check.py judges them).
Promotes during an operator's switchover of the service, near an apply of
it (a new candidates order), and near a slow etcd (the master's view may
lag) are not judged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .bounds import SLACK

if TYPE_CHECKING:
    from .checker import Checker


class Placement:
    def __init__(self, checker: "Checker"):
        self.checker = checker
        self.world = checker.world
        s = self.world.schedule
        self.window = 4 * s.actuator_timeout + 3.0
        self.live_since: dict[str, float] = {}
        self.state_since: dict[tuple, tuple[str, float]] = {}
        self.left_active: dict[tuple, float] = {}
        self.last_left: dict[str, tuple[str, float]] = {}   # service -> the last server to leave active
        self.became: dict[str, float] = {}                   # service -> when it last became active
        self.warm = {p.name: p.standby == "warm" for p in s.services}

    def sample(self, t: float) -> None:
        world = self.world
        for server in world.incarnation:
            if world.agent_up(server) and world.net.reaches_etcd(server):
                self.live_since.setdefault(server, t)
            else:
                self.live_since.pop(server, None)

    def effect(self, server: str, service: str, before: str, after: str, t: float) -> None:
        key = (server, service)
        if before == "active":
            self.left_active[key] = t
            self.last_left[service] = (server, t)
        if after == "active" and before != "active":
            self._judge(server, service, t)
            self.became[service] = t
        self.state_since[key] = (after, t)

    # --- the judgement --------------------------------------------------------------------

    def _judge(self, chosen: str, service: str, t: float) -> None:
        checker, world = self.checker, self.world
        if checker.settled is None:
            return   # the first placement: the settle hold decides
        if any(service in (p.name, p.colocate) for p in world.schedule.services if p.colocate):
            return   # a colocated group goes where every member may run: its anchor decides (relations_check.py)
        if world.replication.concerns(service):
            return   # a replicated database goes to the least lag first, past the limit nowhere (lag_check.py)
        start = t - self.window
        s = world.schedule
        if self.left_active.get((chosen, service), -1e9) >= start - s.ttl - s.margin:
            return   # it takes its own active up again (its lease and the margin had not run out): kept, not chosen
        if self._unjudged(service, start, t):
            return
        order = world.candidates[service]
        if chosen not in order or order.index(chosen) == 0:
            return   # nobody was listed before it
        checker.judged["placements"] += 1
        for server in order[:order.index(chosen)]:
            why = self._plainly_first(server, service, start, t)
            if why is not None:
                checker.violation("placement", f"{service} made active on {chosen} while {server}, listed "
                                               f"before it, was plainly eligible and unmarked since "
                                               f"{start:.2f} ({why})")
                return

    def _unjudged(self, service: str, start: float, t: float) -> bool:
        """An operator's switchover (its target is the operator's choice) or
        apply (a new candidates order) of the service in or near the window,
        or a slow etcd (the master may plan on an old snapshot): not judged.
        A refused or silent etcd needs no rule: nobody is live during it."""
        ttl = self.world.schedule.ttl
        for b in self.checker.begun:
            f = b.fault
            if f.service == service and f.kind == "switchover" and f.at <= t <= b.until:
                return True
            # a new order binds new decisions only: an assignment made before it
            # (the service has had no active since) is kept, not chosen again
            since = min(start - self.window, self.last_left.get(service, ("", start))[1])
            if f.service == service and f.kind == "apply" and since <= f.at <= t:
                return True
            # paused since its last active left: nothing was decided meanwhile,
            # and the assignment from before (its server back) is kept
            if f.service == service and f.kind == "pause" and f.at <= t and f.end >= since:
                return True
            if f.kind == "slow" and f.at <= t and f.end + ttl >= start:
                return True
        return False

    def _plainly_first(self, server: str, service: str, start: float, t: float) -> Optional[str]:
        """Why `server` plainly ranked first over the window, or None if it may not have."""
        s = self.world.schedule
        if self.live_since.get(server, t + 1) > start:
            return None
        state, since = self.state_since.get((server, service), ("stopped", 0.0))
        if state == "active" or self.left_active.get((server, service), -1e9) >= start:
            return None
        left = self.last_left.get(service)
        if left is not None and left[0] == server and self.became.get(service, -1e9) <= left[1]:
            # the last active, nobody since: it may have stepped down (a self-fence)
            # under the decision still current, and the master then prefers any
            # other eligible candidate (design-choices.md, "A self-fenced active
            # waits for a new decision")
            return None
        if self.warm[service] and (state != "running" or since > start):
            return None
        last = self.left_active.get((server, service))
        vip = any(p.vip for p in s.services if p.name == service)
        for b in self.checker.begun:
            f = b.fault
            refused = f.kind == "vip_fail" and vip   # every floating address on that server
            if f.server != server or (f.service != service and not refused) or f.at > t:
                continue
            if f.kind in ("act_hang", "act_fail", "vip_fail"):
                ends = f.end + s.actuator_timeout
            elif f.kind == "flap":
                ends = f.end + (s.fail_after + 1) * s.interval
            elif f.kind == "proc_crash":
                ends = f.at   # counted as the child exits
            else:
                continue
            if ends >= start:
                return None
            last = ends if last is None else max(last, ends)
        if last is not None and last + s.failure_timeout + SLACK >= start:
            return None
        return "never failed there" if last is None else \
            f"its last possible failure at {last:.2f} expired at {last + s.failure_timeout:.2f}"
