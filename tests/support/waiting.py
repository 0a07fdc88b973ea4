"""Polling for tests that wait on something other than a cluster snapshot
(tests/support/cluster.py has Cluster.wait_for for those)."""
from __future__ import annotations

import time


def poll_until(predicate, timeout: float, what: str, interval: float = 0.02):
    """The first truthy value of `predicate()`; AssertionError naming `what`
    when none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
