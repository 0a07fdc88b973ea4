"""How much a probe tick costs on this machine, and how many writes steady state makes.

Prints numbers; asserts nothing. Run: .venv/bin/python bench/observers_probe_cost.py
"""
from __future__ import annotations

import asyncio
import os
import statistics
import time

from pydantic import TypeAdapter

from overseer.desired.checks import Check
from overseer.desired.models import CheckDefaults, ServiceDoc
from overseer.observers.monitor import ServiceMonitor
from overseer.observers.probes import PROBES, ProbeContext

CHECKS = [
    {"name": "by-name", "type": "process", "match": {"name": "init"}},
    {"name": "by-cmdline", "type": "process", "match": {"cmdline": "no-such-thing"}},
    {"name": "rss", "type": "memory", "match": {"pidfile": "/tmp/overseer-bench.pid"}},
    {"name": "disk", "type": "disk", "path": "/"},
    {"name": "cmd", "type": "command", "command": ["true"]},
]


async def probe_costs(rounds: int = 50) -> None:
    adapter = TypeAdapter(Check)
    with open("/tmp/overseer-bench.pid", "w") as fh:
        fh.write(f"{os.getpid()}\n")
    print(f"{len(os.listdir('/proc'))} /proc entries")
    for raw in CHECKS:
        check = adapter.validate_python(raw)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            await PROBES[check.type](check, ProbeContext())
            times.append(time.perf_counter() - start)
        print(f"{raw['name']:>11}: median {statistics.median(times) * 1000:6.2f} ms, "
              f"max {max(times) * 1000:6.2f} ms over {rounds}")


async def steady_writes(ticks: int = 600) -> None:
    doc = ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": "b"},
        "spec": {"candidates": ["s"], "actuator": {"type": "exec", "start": "true", "stop": "true"},
                 "checks": [{"name": "d", "type": "disk", "path": "/"}]}})
    writes: list = []
    clock = [0.0]
    mon = ServiceMonitor(cluster="c", server="s", service=doc, defaults=CheckDefaults(),
                         results_kept=30, publish=writes.append, clock=lambda: clock[0])
    mon.set_role("active")
    for _ in range(ticks):
        await mon.tick()
        clock[0] += 1.0                     # one tick per simulated second
    print(f"steady state: {len(writes)} writes for {ticks} ticks at 1 s "
          f"({len(writes) / ticks * 60:.1f} per check per minute)")


if __name__ == "__main__":
    asyncio.run(probe_costs())
    asyncio.run(steady_writes())
