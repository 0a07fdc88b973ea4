"""ServerHealthMonitor on this real machine, with limits chosen to land on each status."""
from __future__ import annotations

import asyncio

import pytest

from overseer.desired.models import ServerHealth
from overseer.observers import server_health
from overseer.observers.server_health import ServerHealthMonitor
from tests.support.waiting import async_poll_until


class Clock:
    def __init__(self) -> None:
        self.t = 5_000.0

    def __call__(self) -> float:
        return self.t


def _spec(**parts) -> ServerHealth:
    base = {"load1PerCPU": {"warn": 1000, "fail": 2000},
            "memoryPercent": {"warn": 99.8, "fail": 99.9},
            "disk": {"path": "/", "warn": 99.8, "fail": 99.9}}
    base.update(parts)
    return ServerHealth.model_validate(base)


def test_healthy_server_publishes_once_then_refreshes():
    published, clock = [], Clock()
    mon = ServerHealthMonitor(spec=_spec(), publish=lambda *a: published.append(a), clock=clock)
    for _ in range(50):
        mon.tick()
        clock.t += 0.1
    assert len(published) == 1
    status, message, load = published[0]
    assert status == "ok" and message.startswith("load/CPU ")
    assert {"load1", "cpus", "load1PerCPU", "memoryPercent", "diskPercent"} <= set(load)
    clock.t += 60
    mon.tick()
    # a refresh carries new numbers only: identical readings are not rewritten
    assert len(published) in (1, 2)
    if len(published) == 2:
        assert published[1][1:] != published[0][1:]


def test_memory_over_limit_fails_after_fail_after_ticks():
    published = []
    mon = ServerHealthMonitor(spec=_spec(memoryPercent={"warn": 0.1, "fail": 0.2}),
                              publish=lambda *a: published.append(a), clock=Clock(),
                              fail_after=3, recover_after=2)
    for _ in range(5):
        mon.tick()
    assert [p[0] for p in published] == ["unknown", "fail"]
    assert "memory" in published[-1][1] and "≥ fail 0.2%" in published[-1][1]


def test_missing_disk_path_fails():
    published = []
    mon = ServerHealthMonitor(spec=_spec(disk={"path": "/no/such", "warn": 80, "fail": 90}),
                              publish=lambda *a: published.append(a), fail_after=1)
    mon.tick()
    assert published[-1][0] == "fail" and "disk /no/such: cannot stat" in published[-1][1]


async def test_run_loop_publishes(monkeypatch):
    published, samples = [], []
    real = server_health.sample
    monkeypatch.setattr(server_health, "sample", lambda spec: samples.append(1) or real(spec))
    mon = ServerHealthMonitor(spec=_spec(), publish=lambda *a: published.append(a), interval=0.05)
    task = asyncio.create_task(mon.run())
    await async_poll_until(lambda: len(samples) >= 5, 20, "five samples")  # published once, not five times
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [p[0] for p in published] == ["ok"]
