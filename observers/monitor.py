"""ServiceMonitor: runs one service's checks here and publishes Observations on change.

The agent owns one per local service, tells it the role the assignment gave
this server (`set_role`), forwards a dead supervised child or main process
(`child_died`) and wires `publish` to etcd. Observers never touch etcd and never decide
failover: they only say what they see.

- Checks run only while the role is `active` or `standby` (warm standby).
  With role `stopped` (cold standby, not assigned) every check is `unknown`,
  "not running here (cold standby)", published once.
- Start-up grace (`startupGrace`, desired/checks.py): `begin_grace()`, called
  when a start or promote step succeeded, opens each check's grace. Inside
  it a `fail` result is kept as `starting` and fed to nothing: it counts
  toward no `failAfter`, and while the check has no verdict yet its status is
  `starting`. The first `ok` or `warn` ends the grace at once; once it has
  run out, results count as always, so a service that never answers is
  caught at most the grace later. A dead supervised child ends it too.
- A result is fed to the check's Hysteresis; `publish` is called when the
  effective status changes, and only then: the value, message and last N
  results it carries are those of that moment. Steady state writes nothing
  (every write to etcd makes every agent and the board re-read the cluster).
  `refresh` (seconds) brings back a periodic rewrite of changed values for
  callers that want one; the agent does not.
- A replication check (`postgres-replication`, `mysql-replication`) is the
  exception: its value is the lag a failover ranks standbys by, so a moved
  value is published too: at once when it crosses 0 or `maxLagOnFailover` or
  appears or vanishes, otherwise at most every `lag_refresh` seconds. An idle
  database's lag holds at 0 and writes nothing.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Collection, Optional

from overseer.desired.checks import LAG_CHECK_TYPES
from overseer.desired.models import CheckDefaults, ServiceDoc
from overseer.desired.state import ROLES, Observation

from .hysteresis import Hysteresis
from .probes import PROBES, ProbeContext, ProbeResult
from .server_health import ServerHealthMonitor

log = logging.getLogger(__name__)

COLD_MESSAGE = "not running here (cold standby)"
STARTING = "starting"
REFRESH: Optional[float] = None  # never rewrite while the status holds
LAG_REFRESH = 5.0                 # a replication lag that moved, at most this often


@dataclass
class _CheckState:
    check: object
    hyst: Hysteresis
    interval: float
    timeout: float
    grace: float = 0.0                   # seconds of start-up grace after each (re)start
    grace_until: Optional[float] = None  # monotonic end of the grace under way, if any
    value: Optional[float] = None
    message: str = ""
    since: float = 0.0
    cold_published: bool = False
    published: Optional[Observation] = None
    published_at: float = field(default=float("-inf"))


def next_slot(started: float, interval: float) -> float:
    """When a check that started at `started` runs next: on the process-wide
    grid of its interval (multiples of it on the loop's monotonic clock).

    Every check of every service with the same interval then wakes in one
    loop iteration instead of each on its own timer: with 20 checks at 1 s,
    one wake-up a second instead of twenty, the main share of an idle agent's
    CPU. The first run after a start lands on the grid between half and one
    and a half intervals later; from then on runs are `interval` apart, as
    before (an overrun skips to the next slot, never runs twice at once)."""
    return (math.floor((started + interval * 0.5) / interval) + 1) * interval


def status_of(state: _CheckState) -> str:
    """What the check says: `starting` while in its grace with no verdict yet."""
    if state.grace_until is not None and state.hyst.status == "unknown":
        return STARTING
    return state.hyst.status


def _message(result: ProbeResult, hyst: Hysteresis) -> str:
    pending = hyst.pending()
    if pending is None:
        return result.message
    return f"{result.message} ({pending.target} in {pending.seen}/{pending.needed})"


class ServiceMonitor:
    def __init__(self, *, cluster: str, server: str, service: ServiceDoc, defaults: CheckDefaults,
                 results_kept: int, publish: Callable[[Observation], None],
                 child_pid: Callable[[], Optional[int]] = lambda: None,
                 epoch: Callable[[], int] = lambda: 0,
                 clock: Callable[[], float] = time.time, refresh: Optional[float] = REFRESH,
                 monotonic: Callable[[], float] = time.monotonic,
                 lag_refresh: float = LAG_REFRESH,
                 probe: Optional[Callable[[object, ProbeContext], Awaitable[ProbeResult]]] = None) -> None:
        self.cluster, self.server, self.service = cluster, server, service.metadata.name
        self._publish, self._child_pid, self._epoch = publish, child_pid, epoch
        self._clock, self._refresh, self._lag_refresh = clock, refresh, lag_refresh
        self._monotonic = monotonic
        # how a check runs: by its type's probe, or as the caller says (the simulator)
        self._run_probe = probe or (lambda check, ctx: PROBES[check.type](check, ctx))
        self.role = "stopped"
        self._generation = 0           # bumps on every role change; stale results are dropped
        self._running = asyncio.Event()
        grace = service.spec.startupGrace
        self.states = [self._state(check, defaults, results_kept, grace) for check in service.spec.checks]

    @staticmethod
    def _state(check, defaults: CheckDefaults, kept: int, grace: Optional[float]) -> _CheckState:
        hyst = Hysteresis(check.failAfter or defaults.failAfter,
                          check.recoverAfter or defaults.recoverAfter, kept)
        return _CheckState(check, hyst, check.interval or defaults.interval,
                           check.timeout or defaults.timeout, check.grace(grace))

    # --- what the agent calls ------------------------------------------------

    def set_role(self, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if role == self.role:
            return
        was, self.role = self.role, role
        self._generation += 1
        if role == "stopped":
            self._running.clear()
            for state in self.states:
                state.grace_until = None
                self._go_cold(state)
        else:
            if was == "stopped":
                for state in self.states:
                    state.hyst.reset()     # a fresh start earns no credit from before
            self._running.set()

    def begin_grace(self) -> None:
        """The service was (re)started or promoted here just now: each check's
        grace begins (one of 0 s: none)."""
        now = self._monotonic()
        for state in self.states:
            state.grace_until = now + state.grace if state.grace > 0 else None

    def child_died(self, message: str, checks: Collection[str] = ()) -> None:
        """The supervised child exited: its `process` check is `fail` now, published now.
        So are `checks` (names): those about an exec or systemd service's main
        process that was seen to exit. An exit is a fact, not a blip: no failAfter.
        Whatever was starting is not any more: every grace ends."""
        if self.role == "stopped":
            return
        for state in self.states:
            state.grace_until = None
            if state.check.type == "process" and (state.check.match is None or state.check.name in checks):
                now = self._clock()
                before = state.hyst.status
                state.hyst.force_fail()
                state.hyst.results.append((round(now, 3), "fail", 0.0))
                state.value, state.message = 0.0, message
                if before != "fail":
                    state.since = now
                self._emit(state, now)

    async def run(self) -> None:
        for state in self.states:
            if self.role == "stopped":
                self._go_cold(state)
        if not self.states:
            await asyncio.Event().wait()      # nothing to check; live until cancelled
        await asyncio.gather(*(self._loop(state) for state in self.states))

    async def tick(self) -> None:
        """Run every check once now (tests and `overseer` one-shot diagnostics)."""
        if self.role != "stopped":
            await asyncio.gather(*(self._tick(state) for state in self.states))

    # --- inside ---------------------------------------------------------------

    async def _loop(self, state: _CheckState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._running.wait()
            started = loop.time()
            await self._tick(state)
            await asyncio.sleep(max(0.0, next_slot(started, state.interval) - loop.time()))

    def _context(self, state: _CheckState) -> ProbeContext:
        return ProbeContext(cluster=self.cluster, service=self.service, server=self.server,
                            role=self.role, epoch=self._epoch(), timeout=state.timeout,
                            child_pid=self._child_pid())

    async def _probe(self, state: _CheckState) -> ProbeResult:
        try:
            return await self._run_probe(state.check, self._context(state))
        except Exception as exc:
            # A bug in one probe must not stop the others or the agent; it is
            # logged with its traceback and judged neither good nor bad.
            log.exception("probe %s/%s crashed", self.service, state.check.name)
            return ProbeResult("unknown", None, f"probe error: {exc.__class__.__name__}")

    async def _tick(self, state: _CheckState) -> None:
        generation = self._generation
        result = await self._probe(state)
        if generation != self._generation or self.role == "stopped":
            return                              # the role changed while probing
        now = self._clock()
        before = status_of(state)
        result = self._in_grace(state, result)
        state.hyst.feed(result.status, round(now, 3), result.value)
        after = status_of(state)
        state.value, state.message = result.value, _message(result, state.hyst)
        state.cold_published = False
        if after != before:
            state.since = now
        self._maybe_publish(state, now, changed=after != before)

    def _in_grace(self, state: _CheckState, result: ProbeResult) -> ProbeResult:
        """The result as the hysteresis takes it: a `fail` inside the grace is `starting`."""
        if state.grace_until is None:
            return result
        left = state.grace_until - self._monotonic()
        if left <= 0 or result.status in ("ok", "warn"):
            state.grace_until = None      # ran out, or answered: judged as always from now on
            return result
        if result.status != "fail":
            return result                 # `unknown` is counted for nothing anyway
        return ProbeResult(STARTING, result.value, f"{result.message} (starting, {left:.1f}s of grace left)")

    def _maybe_publish(self, state: _CheckState, now: float, changed: bool) -> None:
        last = state.published
        if changed or last is None or self._lag_moved(state, last, now):
            self._emit(state, now)
        elif self._refresh is not None and now - state.published_at >= self._refresh and (
                last.value != state.value or last.message != state.message
                or last.results != tuple(state.hyst.results)):
            self._emit(state, now)

    def _lag_moved(self, state: _CheckState, last: Observation, now: float) -> bool:
        if state.check.type not in LAG_CHECK_TYPES or last.value == state.value:
            return False
        old, new = last.value, state.value
        if old is None or new is None or (old == 0) != (new == 0):
            return True
        limit = getattr(state.check, "maxLagOnFailover", None)
        if limit is not None and (old > limit) != (new > limit):
            return True
        return now - state.published_at >= self._lag_refresh

    def _go_cold(self, state: _CheckState) -> None:
        if state.cold_published:
            return
        state.hyst.reset()
        now = self._clock()
        state.value, state.message, state.since = None, COLD_MESSAGE, now
        state.cold_published = True
        self._emit(state, now)

    def _emit(self, state: _CheckState, now: float) -> None:
        obs = Observation(
            server=self.server, service=self.service, check=state.check.name,
            status=status_of(state), value=state.value, message=state.message,
            time=now, since=state.since, critical=state.check.critical,
            results=tuple(state.hyst.results))
        state.published, state.published_at = obs, now
        self._publish(obs)


__all__ = ["ServiceMonitor", "ServerHealthMonitor", "COLD_MESSAGE", "REFRESH", "STARTING"]
