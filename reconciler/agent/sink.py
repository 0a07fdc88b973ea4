"""Observations and reports on their way to etcd, without blocking the probes.

Observers call `publish` synchronously; the sink keeps only the newest value
per key and a writer task flushes them. If etcd is away the values wait (the
newest wins) and go out when it returns, with one log line per outage.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from overseer.desired.store.client import StoreError

log = logging.getLogger(__name__)


class LatestSink:
    def __init__(self, write: Callable[[object], None], name: str,
                 run: Callable[..., Awaitable[Any]] = asyncio.to_thread):
        self.write = write
        self.run_call = run  # runs the blocking write (agent/edges.py)
        self.name = name
        self.pending: dict[tuple, object] = {}
        self._event = asyncio.Event()
        self._failing = False

    def put(self, key: tuple, value: object) -> None:
        self.pending[key] = value
        self._event.set()

    async def run(self) -> None:
        while True:
            await self._event.wait()
            self._event.clear()
            while self.pending:
                key, value = next(iter(self.pending.items()))
                try:
                    await self.run_call(self.write, value)
                except StoreError as exc:
                    if not self._failing:
                        log.warning("%s: cannot write to etcd (%s); keeping the newest values", self.name, exc)
                        self._failing = True
                    await asyncio.sleep(0.5)
                    continue
                except Exception:  # a value we cannot write must not end reporting for good
                    log.exception("%s: dropping a value that cannot be written", self.name)
                if self._failing:
                    log.info("%s: writing to etcd again", self.name)
                    self._failing = False
                if self.pending.get(key) is value:
                    del self.pending[key]
