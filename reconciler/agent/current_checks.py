"""The workers' "is my assignment still current?" checks, asked of etcd together.

Before acting, every service worker confirms in etcd that its assignment is
still the master's (the fencing check, `Store.assignments_current`). After a
failover one agent asks this for hundreds of services in the same instant;
one etcd round trip each cost seconds of gRPC work on 2 cores (bench/scale.py,
300 actives lost). Here the first question goes out at once, and those that
arrive while it is in flight go together in the next call: no added latency
for one service, one call per batch for many. Each answer is still the
atomic compare of one transaction, so fencing is unchanged.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Optional, Sequence

from overseer.desired.state import Assignment


class CurrentChecks:
    def __init__(self, ask: Callable[[Sequence[Assignment]], Awaitable[list[bool]]]) -> None:
        self.ask = ask   # one etcd call for a batch (Store.assignments_current on the etcd lane)
        self._waiting: list[tuple[Assignment, asyncio.Future]] = []
        self._drainer: Optional[asyncio.Task] = None

    async def check(self, assignment: Assignment) -> bool:
        """True/False from etcd; raises what the etcd call raised."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((assignment, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="assignment checks")
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                answers: Any = await self.ask([a for a, _ in batch])
            except Exception as exc:  # every asker gets the reason (a StoreError, typically)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers):
                if not future.done():   # an asker cancelled meanwhile (its worker closed)
                    future.set_result(answer)
