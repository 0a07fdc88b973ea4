"""Bench: kill -9 of a supervised child -> the process actuator's on_exit.

Prints p50/p99/max over N runs (default 50). This is the first hop of a
failover on child death; the goal is milliseconds (docs/benchmarks.md: child
kill -9 -> new active running p50 < 0.3 s end to end).

    .venv/bin/python bench/actuator_child_exit.py [runs]
"""
from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time

from overseer.actuators import ActionContext, build_actuator
from overseer.desired.models import ProcessActuator


async def one_run(ctx: ActionContext) -> float:
    spec = ProcessActuator.model_validate({"type": "process", "command": ["sleep", "60"]})
    act = build_actuator("bench", spec)
    seen = asyncio.get_running_loop().create_future()
    act.on_exit = lambda *_: seen.done() or seen.set_result(time.perf_counter())
    await act.start(ctx)
    await asyncio.sleep(0.01)  # let the child settle into sleep
    killed_at = time.perf_counter()
    os.kill(act.child_pid(), signal.SIGKILL)
    return await asyncio.wait_for(seen, 5) - killed_at


async def main(runs: int) -> None:
    ctx = ActionContext("bench", "bench", "local", "active", 1)
    latencies = sorted([await one_run(ctx) for _ in range(runs)])
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
    print(f"kill -9 -> on_exit over {runs} runs: p50 {statistics.median(latencies) * 1000:.2f} ms"
          f"  p99 {p99 * 1000:.2f} ms  max {latencies[-1] * 1000:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
