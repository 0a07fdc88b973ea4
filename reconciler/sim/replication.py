"""Simulated replication: each standby's lag behind the primary, as the world drifts it.

A service drawn with a replication check (faultgen.replication_lag:
`ServicePlan.lag_limit`, its `maxLagOnFailover` in MiB) gets a
`postgres-replication` check, `critical: false`, that the agents run through
their probe edge (procs.sim_probe) as they run `alive`. Its value on a
standby is the lag this module gives (server, service) at that moment; on
the active, 0 (a primary's own value is never a standby's lag); no running
child: a failed probe with no number.

The lag of each (server, service) is a timeline drawn up front from a random
stream of its own (the world's other draws stay as they were): segments of
`HOLD` seconds, each in another band than the one before: caught up (0),
behind (within the limit) or too far behind (past it). Every change crosses
0 or the limit, so the agent publishes it at its next probe (the monitor
republishes a lag at once when it crosses 0 or `maxLagOnFailover`,
observers/monitor.py), and the checker knows when the master can have seen
it (lag_check.py). A gap between the bands (no lag within 25 % below or 50 %
above the limit) keeps a value from sitting on the line.
"""
from __future__ import annotations

import bisect
import random
from typing import TYPE_CHECKING, Optional

from overseer.observers.probes import ProbeResult

from .schedule import SERVERS

if TYPE_CHECKING:
    from .schedule import Schedule, ServicePlan
    from .world import World

MIB = 1024 * 1024
HOLD = (12.0, 40.0)       # seconds a lag holds before it drifts to another band
CHECK = "replication"     # the check's name in the simulated documents


def check_doc(plan: "ServicePlan") -> Optional[dict]:
    """The replication check a service's document carries, or None."""
    if not plan.lag_limit:
        return None
    return {"name": CHECK, "type": "postgres-replication", "dsn": "host=127.0.0.1 dbname=sim",
            "maxLagOnFailover": f"{plan.lag_limit:g}MiB", "critical": False}


def _band(lag: float, limit: float) -> int:
    return 0 if lag == 0 else 1 if lag <= limit else 2


class SimReplication:
    def __init__(self, schedule: "Schedule"):
        rng = random.Random(schedule.seed * 7919 + 31)   # a stream of its own (world.py has 17, 23, 29)
        self.limits = {p.name: p.lag_limit * MIB for p in schedule.services if p.lag_limit}
        self.behind = {p.name: p.lag_behind for p in schedule.services if p.lag_limit}
        self.timelines: dict[tuple, tuple[list[float], list[float]]] = {}
        self.delay = random.Random(schedule.seed * 7919 + 37)   # the probes' own moments
        end = schedule.end
        for name in sorted(self.limits):
            for server in SERVERS:
                self.timelines[(server, name)] = self._draw(rng, self.limits[name], self.behind[name], end)

    @staticmethod
    def _draw(rng: random.Random, limit: float, behind: float, end: float) -> tuple[list[float], list[float]]:
        starts, lags, t, band = [], [], 0.0, None
        while t <= end:
            choices = [b for b in (0, 1, 2) if b != band]
            below = [b for b in choices if b != 2]
            weights = [behind if b == 2 else (1 - behind if 2 in choices else 1.0) / len(below) for b in choices]
            band = rng.choices(choices, weights)[0]
            lag = (0.0 if band == 0 else round(rng.uniform(0.02, 0.75) * limit) if band == 1
                   else round(rng.uniform(1.5, 4.0) * limit))
            starts.append(t)
            lags.append(lag)
            t += rng.uniform(*HOLD)
        return starts, lags

    def concerns(self, service: str) -> bool:
        return service in self.limits

    def limit(self, service: str) -> float:
        return self.limits[service]

    def lag(self, server: str, service: str, t: float) -> tuple[float, float]:
        """(the lag of `server`'s standby of `service` at `t`, since when it holds)."""
        starts, lags = self.timelines[(server, service)]
        i = bisect.bisect_right(starts, t) - 1
        return lags[i], starts[i]

    def too_far(self, server: str, service: str, t: float) -> Optional[str]:
        """Why `server`'s standby may not be promoted by a failover now, or None."""
        if not self.concerns(service):
            return None
        lag, since = self.lag(server, service, t)
        limit = self.limit(service)
        if lag <= limit:
            return None
        return (f"too far behind since {since:.2f} (replication lag {lag / MIB:.1f} MiB "
                f"> maxLagOnFailover {limit / MIB:.0f} MiB)")

    async def probe(self, world: "World", ctx) -> ProbeResult:
        import asyncio  # noqa: PLC0415
        await asyncio.sleep(self.delay.uniform(0.001, 0.01))
        actuator = world.actuator_of(ctx.server, ctx.service)
        if actuator is None or actuator.state == "stopped":
            return ProbeResult("fail", None, "PostgreSQL: connection refused (simulated)")
        if actuator.state == "active":
            return ProbeResult("ok", 0.0, "primary, worst replay lag 0 B (simulated)")
        lag = self.lag(ctx.server, ctx.service, world.now())[0]
        return ProbeResult("ok", lag, f"standby, replay lag {lag / MIB:.1f} MiB (simulated)")
