"""Failure memory: fail counts per (service, server) with a lifetime.

As Pacemaker's fail counts: each failure of a service while active on a
server is counted there by that server's agent (`FailCount`). Once the count
reaches the service's `migrationThreshold`, the server is *marked* for the
service: it ranks below every unmarked eligible candidate, until
`failureTimeout` after the latest failure, or until `overseer cleanup`.

A mark only ranks; it never excludes. A service with no unmarked eligible
candidate is placed on a marked one (an imperfect server beats no server),
and the reason says so. Expiry is computed from `now`, never written.
"""
from __future__ import annotations

from typing import Mapping, Optional

from overseer.desired.models import ServiceDoc
from overseer.desired.state import DesiredState, FailCount


def policy(desired: DesiredState, svc: ServiceDoc) -> tuple[int, float]:
    """(migrationThreshold, failureTimeout) of the service: its own or the Cluster's."""
    defaults = desired.cluster.spec.defaults if desired.cluster else None
    threshold = svc.spec.migrationThreshold or (defaults.migrationThreshold if defaults else 1)
    timeout = svc.spec.failureTimeout or (defaults.failureTimeout if defaults else 600.0)
    return threshold, timeout


def live_count(record: Optional[FailCount], timeout: float, now: float) -> int:
    """The count that still holds at `now` (0 once `timeout` after the latest failure)."""
    if record is None or record.count <= 0 or now >= record.last + timeout:
        return 0
    return record.count


def span(seconds: float) -> str:
    """A duration to come, for people: '9m40s', '1h05m', '12s'."""
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Memory:
    """The fail counts of one plan, judged at its `now`."""

    def __init__(self, desired: DesiredState, failures: Mapping[tuple, FailCount], now: float):
        self.desired, self.failures, self.now = desired, failures, now

    def count(self, server: str, name: str, svc: ServiceDoc) -> int:
        if not self.failures:
            return 0
        _, timeout = policy(self.desired, svc)
        return live_count(self.failures.get((server, name)), timeout, self.now)

    def marked(self, server: str, name: str, svc: ServiceDoc) -> bool:
        if not self.failures:
            return False
        threshold, _ = policy(self.desired, svc)
        return self.count(server, name, svc) >= threshold

    def words(self, server: str, name: str, svc: ServiceDoc) -> str:
        """'remembered failure: 2 (last: alive failed), expires in 8m12s', or ''."""
        count = self.count(server, name, svc)
        if not count:
            return ""
        threshold, timeout = policy(self.desired, svc)
        record = self.failures[(server, name)]
        what = f" (last: {record.message})" if record.message else ""
        noun = "failure" if count == 1 else "failures"
        head = "remembered" if count >= threshold else f"below migrationThreshold {threshold}:"
        return f"{head} {count} {noun}{what}, expires in {span(record.last + timeout - self.now)}"
