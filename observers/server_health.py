"""ServerHealthMonitor: this server's load, memory and disk against `serverHealth`.

A server in `fail` is never promoted to; that decision is the planner's. Here
we only sample psutil every `interval`, classify each part against its
limits, take the worst, pass it through the same Hysteresis as checks
(failAfter/recoverAfter of the Cluster defaults) and call
`publish(status, message, load_summary)` when the effective status changes,
or at most every `refresh` seconds (60) to refresh the numbers: each
rewrite of the server record makes every agent re-read the cluster.
"""
from __future__ import annotations

import asyncio
import os
import time
from typing import Callable, Optional

import psutil

from overseer.desired.models import ServerHealth

from .hysteresis import Hysteresis
from .probes._common import ProbeResult, classify, fmt_percent

_RANK = {"ok": 0, "warn": 1, "fail": 2}


def _limits(spec) -> tuple[Optional[float], Optional[float]]:
    return (spec.warn, spec.fail) if spec is not None else (None, None)


def sample(spec: ServerHealth) -> tuple[list[ProbeResult], dict]:
    """One reading of every configured part, and the numbers for the board."""
    cpus = psutil.cpu_count() or 1
    load1 = os.getloadavg()[0]
    summary = {"load1": round(load1, 2), "cpus": cpus, "load1PerCPU": round(load1 / cpus, 3)}
    parts = []
    if spec.load1PerCPU is not None:
        parts.append(classify(load1 / cpus, _limits(spec.load1PerCPU), "load/CPU",
                              lambda v: f"{v:.2f}"))
    if spec.memoryPercent is not None:
        memory = psutil.virtual_memory().percent
        summary["memoryPercent"] = memory
        parts.append(classify(memory, _limits(spec.memoryPercent), "memory", fmt_percent))
    if spec.disk is not None:
        parts.append(_disk(spec, summary))
    return parts, summary


def _disk(spec: ServerHealth, summary: dict) -> ProbeResult:
    path = spec.disk.path
    try:
        used = psutil.disk_usage(path).percent
    except OSError as exc:
        return ProbeResult("fail", None, f"disk {path}: cannot stat ({exc.strerror})")
    summary["diskPercent"] = used
    return classify(used, _limits(spec.disk), f"disk {path}", fmt_percent)


def worst(parts: list[ProbeResult]) -> str:
    return max((p.status for p in parts), key=_RANK.get, default="ok")


class ServerHealthMonitor:
    def __init__(self, *, spec: ServerHealth, publish: Callable[[str, str, dict], None],
                 interval: float = 2.0, fail_after: int = 3, recover_after: int = 2,
                 kept: int = 30, clock: Callable[[], float] = time.time,
                 refresh: float = 60.0) -> None:
        self.spec, self._publish, self.interval = spec, publish, interval
        self.hyst = Hysteresis(fail_after, recover_after, kept)
        self._clock, self._refresh = clock, refresh
        self._last: Optional[tuple[str, str, dict]] = None
        self._last_at = float("-inf")

    @property
    def status(self) -> str:
        return self.hyst.status

    def tick(self) -> None:
        """Sample once, feed the hysteresis, publish if the rules say so."""
        self._observe(*sample(self.spec))

    def _observe(self, parts: list[ProbeResult], summary: dict) -> None:
        raw = worst(parts)
        now = self._clock()
        before = self.hyst.status
        after = self.hyst.feed(raw, round(now, 3))
        message = ", ".join(p.message for p in parts) or "no serverHealth limits set"
        if after != before or self._last is None:
            self._emit(after, message, summary, now)
        elif now - self._last_at >= self._refresh and (message, summary) != self._last[1:]:
            self._emit(after, message, summary, now)

    def _emit(self, status: str, message: str, summary: dict, now: float) -> None:
        self._last, self._last_at = (status, message, summary), now
        self._publish(status, message, summary)

    async def run(self) -> None:
        while True:
            # psutil reads /proc and statvfs; a hung mount must not freeze the loop
            self._observe(*await asyncio.to_thread(sample, self.spec))
            await asyncio.sleep(self.interval)
