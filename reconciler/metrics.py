"""Process-wide Prometheus instruments the reconcile loop observes into.

Kept apart from `overseer.ui` so the master's loop can record without importing
Flask; the UI's `/metrics` exposes these next to the metrics it derives from the
snapshot. In a process that runs no reconcile loop (a standalone `overseer ui`)
the histogram simply stays empty.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

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
    ["event", "outcome"],
)

INSTRUMENTS = (RECONCILE_DURATION, HOOK_RUNS)
