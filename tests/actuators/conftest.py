"""Shared helpers for actuator tests: a context and process-liveness checks."""
from __future__ import annotations

import time

import psutil
import pytest

from overseer.actuators import ActionContext


@pytest.fixture
def ctx() -> ActionContext:
    return ActionContext(cluster="lab", service="pbx", server="pbx1", role="active", epoch=7)


def gone(pid: int) -> bool:
    """Dead or a zombie nobody reaped yet (PID 1 here may be slow to reap)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.01)
    return gone(pid)


def wait_file(path, within: float = 5.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written within {within}s")
