"""Polling for tests that wait on something other than a cluster snapshot
(tests/support/cluster.py has Cluster.wait_for for those).

Wait for a condition (`poll_until`), never for a fixed time; a fixed window is
right only to check that something does NOT happen (`holds_for`)."""
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


def holds_for(predicate, seconds: float, what: str, interval: float = 0.02) -> None:
    """Assert `predicate()` stays true for `seconds`: for "nothing happens" checks.

    A busy machine can only make such a window see less, never fail a correct
    program, so this is the one place a fixed duration is right."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), f"{what} stopped holding"
        time.sleep(interval)
    assert predicate(), f"{what} stopped holding"


async def async_poll_until(predicate, timeout: float, what: str, interval: float = 0.02):
    """`poll_until` inside an event loop: the loop keeps running while we wait."""
    import asyncio  # noqa: PLC0415  (only the async tests need it)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def async_holds_for(predicate, seconds: float, what: str, interval: float = 0.02) -> None:
    """`holds_for` inside an event loop."""
    import asyncio  # noqa: PLC0415
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), f"{what} stopped holding"
        await asyncio.sleep(interval)
    assert predicate(), f"{what} stopped holding"
