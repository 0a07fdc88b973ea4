"""Process-wide instruments the reconcile loop and the hooks observe into.

Plain Python: recording must not load prometheus_client, which would be a few
MB of every agent's memory for a page most agents never serve. Each
instrument is a Prometheus custom collector (`collect()`), so whoever serves
`/metrics` (the board, ui/metrics.py; an agent, agent/healthz.py) registers it
and prometheus_client is imported there, when asked. In a process that runs
no reconcile loop (a standalone `overseer ui`) the histogram stays empty.
"""
from __future__ import annotations

import bisect
import itertools
import threading


class Histogram:
    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]):
        self.name, self.documentation = name, documentation
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)   # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)   # Prometheus buckets are "le"
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def collect(self):
        from prometheus_client.core import HistogramMetricFamily  # noqa: PLC0415  (only when served)
        from prometheus_client.utils import floatToGoString  # noqa: PLC0415
        with self._lock:
            cumulative, total = list(itertools.accumulate(self._counts)), self._sum
        bounds = [floatToGoString(b) for b in self.buckets] + ["+Inf"]
        return [HistogramMetricFamily(self.name, self.documentation,
                                      buckets=list(zip(bounds, cumulative)), sum_value=total)]


class Counter:
    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def labels(self, *values: str) -> "_Child":
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        return _Child(self, tuple(values))

    def _inc(self, key: tuple[str, ...], amount: float) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *values: str) -> float:
        with self._lock:
            return self._values.get(tuple(values), 0.0)

    def collect(self):
        from prometheus_client.core import CounterMetricFamily  # noqa: PLC0415  (only when served)
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self._lock:
            for key, value in sorted(self._values.items()):
                family.add_metric(list(key), value)
        return [family]


class _Child:
    def __init__(self, counter: Counter, key: tuple[str, ...]):
        self._counter, self._key = counter, key

    def inc(self, amount: float = 1.0) -> None:
        self._counter._inc(self._key, amount)


# Buckets span a quick no-op pass (ms) to a slow etcd round trip (seconds).
RECONCILE_DURATION = Histogram(
    "overseer_reconcile_duration_seconds",
    "Time of one reconcile pass of the master (snapshot read, plan, writes).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Cheap: one increment per hook run, in the process that ran it.
HOOK_RUNS = Counter(
    "overseer_hook_runs",
    "Notification hooks run by this process, by event and outcome (ok, failed, timed out, dropped).",
    ("event", "outcome"),
)

INSTRUMENTS = (RECONCILE_DURATION, HOOK_RUNS)
