"""Shared plumbing for the election and failover benches: a throw-away etcd,
real `overseer agent` clusters (tests.support.cluster), a watch-driven wait
and percentile printing.

`watch_until` snapshots the cluster after every etcd change (Store.watch), with
a short poll as a fallback, so a measured duration is "kill -> first snapshot
showing the outcome", accurate to a few milliseconds.
"""
from __future__ import annotations

import contextlib
import math
import statistics
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support

from overseer.desired.state import ClusterSnapshot  # noqa: E402
from overseer.desired.store.local_etcd import LocalEtcd  # noqa: E402
from tests.support.cluster import Cluster, cluster_yaml, sleeper_service  # noqa: E402,F401  (re-exported)
from tests.support.cluster import running_pid as active_pid  # noqa: E402,F401  (re-exported)

# Only a safety net: the watch wakes `until` on every change. At 5 ms (as
# first written) the bench re-read the whole cluster back to back, and with
# 300 services that took most of a core of the two it measures on.
FALLBACK_POLL = 0.25


class BenchTimeout(Exception):
    """The cluster never reached the awaited state: the bench prints the agents' logs."""


@contextlib.contextmanager
def local_etcd() -> Iterator[LocalEtcd]:
    """A throw-away etcd, ended on every way out: the bench's end, an error,
    Ctrl-C, or SIGTERM/SIGHUP (made an exit, so every cleanup on the way runs:
    the cluster's agents, the daemons). etcd runs in a session of its own, so
    a terminal's Ctrl-C reaches only the bench."""
    with tempfile.TemporaryDirectory(prefix="overseer-bench-") as tmp, _signals_exit():
        etcd = LocalEtcd(data_dir=str(Path(tmp) / "etcd")).start()   # ends it if the start fails
        try:
            yield etcd
        finally:
            etcd.stop()


@contextlib.contextmanager
def _signals_exit() -> Iterator[None]:
    def leave(signum, frame):
        raise SystemExit(128 + signum)
    before = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def running_cluster(etcd_url: str, name: str) -> Iterator[Cluster]:
    keep = os.environ.get("BENCH_KEEP_LOGS")   # a directory: the agents' logs stay there to read
    with tempfile.TemporaryDirectory(prefix=f"overseer-{name}-") as tmp:
        cluster = Cluster(etcd_url, name, Path(tmp))
        try:
            yield cluster
        finally:
            cluster.stop()
            if keep:
                for log in Path(tmp).glob("*.log"):
                    shutil.copy(log, Path(keep) / f"{name}-{log.name}")


class Watch:
    """Wakes on every change under the cluster's prefix; `until` returns the
    first snapshot (and its monotonic time) that satisfies a predicate."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self._changed = threading.Event()
        self._cancel = cluster.store.watch(self._changed.set)

    def until(self, predicate: Callable[[ClusterSnapshot], object], timeout: float,
              what: str) -> tuple[ClusterSnapshot, float]:
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            snap = self.cluster.snapshot()
            seen = time.monotonic()
            if predicate(snap):
                return snap, seen
            if seen > deadline:
                raise BenchTimeout(f"timed out after {timeout:g}s waiting for {what}; "
                                   f"master={snap.master}, assign={dict(snap.assignments)}\n"
                                   f"reports={dict(snap.reports)}\nobservations={dict(snap.observations)}\n"
                                   f"{self.cluster.logs()}")
            self._changed.wait(FALLBACK_POLL)

    def close(self) -> None:
        self._cancel()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: p99 of 20 runs is the maximum, as it should be."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(label: str, values: list[float], extra: str = "") -> str:
    if not values:
        return f"{label}: no runs"
    return (f"{label}: n={len(values)} p50={statistics.median(values):.3f}s "
            f"p99={percentile(values, 99):.3f}s max={max(values):.3f}s "
            f"min={min(values):.3f}s{(' ' + extra) if extra else ''}")


def seconds(duration: str) -> float:
    """'2s' / '500ms' -> seconds, for the printed comparison with leaseTTL."""
    duration = duration.strip()
    if duration.endswith("ms"):
        return float(duration[:-2]) / 1000
    if duration.endswith("s"):
        return float(duration[:-1])
    return float(duration)


