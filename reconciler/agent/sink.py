"""Observations and reports on their way to etcd, without blocking the probes.

Observers call `publish` synchronously; the sink keeps only the newest value
per key and a writer task flushes them. If etcd is away the values wait (the
newest wins) and go out when it returns, with one log line per outage.
A write given up on a dead connection (`resend`) may still land later, over
a newer value written meanwhile: once it ends, the newest value of its keys
goes out again, so etcd is left holding the newest.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Awaitable, Callable, Optional

from overseer.desired.store.client import Conflict, StoreError

log = logging.getLogger(__name__)


BATCH = 100   # values per write_many call (each its own chunked transactions)


class Abandoned(Exception):
    """A write given up for a new one (`LatestSink.resend`)."""


def _quiet(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()   # retrieved: whether it landed or not, its keys are sent again (_landed_late)


class LatestSink:
    def __init__(self, write: Callable[[object], None], name: str,
                 run: Callable[..., Awaitable[Any]] = asyncio.to_thread,
                 write_many: Optional[Callable[[Any], None]] = None,
                 prepare: Optional[Callable[[list], Any]] = None):
        self.write = write
        self.write_many = write_many   # several pending values in one call (Store.put_many)
        # Turns values into write_many's argument before the call, on the event
        # loop: what a request compares with is fixed when it is sent
        # (Store.report_writes), even if the call runs on after we gave up on it.
        self.prepare = prepare
        self.run_call = run  # runs the blocking write (agent/edges.py)
        self.name = name
        self.pending: dict[tuple, object] = {}
        self.written: dict[tuple, object] = {}   # the newest value etcd confirmed, per key
        self._late: set[tuple] = set()   # keys an abandoned write ended on since: send their newest again
        self._event = asyncio.Event()
        self._resend = asyncio.Event()
        self._failing = False

    def put(self, key: tuple, value: object) -> None:
        self.pending[key] = value
        self._event.set()

    def resend(self) -> None:
        """etcd answers us again (a new lease): stop waiting for a write sent
        into a cut link, which hangs until the client's timeout, and send what
        is pending on a new call. Only for values that say which assignment
        they answer (role reports): the abandoned write may still land late,
        and then changes nothing, since each report write compares with the
        value it replaces (desired/store/own_reports.py). Once it ends, the
        newest confirmed value of its keys goes out again all the same, so
        etcd is left holding the newest whatever the store compares."""
        if self.pending:
            self._resend.set()

    async def _call(self, fn, arg, keys: list) -> None:
        self._resend.clear()
        call = asyncio.ensure_future(self.run_call(fn, arg))
        resend = asyncio.ensure_future(self._resend.wait())
        try:
            await asyncio.wait((call, resend), return_when=asyncio.FIRST_COMPLETED)
        finally:
            resend.cancel()
        if not call.done():
            call.add_done_callback(_quiet)
            call.add_done_callback(lambda _: self._landed_late(keys))
            raise Abandoned(f"{self.name}: a write hung on a dead connection; sending again")
        call.result()

    async def run(self) -> None:
        while True:
            await self._event.wait()
            self._event.clear()
            alone = False   # after a batch that failed for a reason of its own: find the bad value
            while self._requeue_late() or self.pending:
                batch = list(itertools.islice(self.pending.items(), 1 if alone or not self.write_many else BATCH))
                landed = True
                try:
                    keys = [k for k, _ in batch]
                    if self.prepare is not None:
                        await self._call(self.write_many, self.prepare([value for _, value in batch]), keys)
                    elif len(batch) > 1:
                        await self._call(self.write_many, [value for _, value in batch], keys)
                    else:
                        await self._call(self.write, batch[0][1], [batch[0][0]])
                except Abandoned:
                    continue
                except Conflict:
                    # an older write of ours landed late (own_reports.py): the
                    # store now knows what is there; the newest values go again
                    continue
                except StoreError as exc:
                    if not self._failing:
                        log.warning("%s: cannot write to etcd (%s); keeping the newest values", self.name, exc)
                        self._failing = True
                    await asyncio.sleep(0.5)
                    continue
                except Exception:  # a value we cannot write must not end reporting for good
                    if len(batch) > 1:
                        alone = True   # write them one by one: only the bad one is dropped
                        continue
                    log.exception("%s: dropping a value that cannot be written", self.name)
                    landed = False
                if self._failing:
                    log.info("%s: writing to etcd again", self.name)
                    self._failing = False
                for key, value in batch:
                    if landed:
                        self.written[key] = value
                    if self.pending.get(key) is value:   # a newer value came meanwhile: it goes next
                        del self.pending[key]

    def _landed_late(self, keys: list) -> None:
        """An abandoned write ended (landed or not): its keys go out again."""
        self._late.update(keys)
        self._event.set()

    def _requeue_late(self) -> bool:
        """Between writes (none in flight): the newest confirmed value of each
        key an abandoned write ended on goes out again, unless a newer one is
        pending anyway. Returns whether anything is pending."""
        for key in self._late:
            if key not in self.pending and key in self.written:
                self.pending[key] = self.written[key]
        self._late.clear()
        return bool(self.pending)
