"""Keeping this server's presence lease, and knowing when to fence ourselves.

The lease carries `servers/<name>` and, on the master, `master`. Keep-alives
go every TTL/4. From half the TTL without a successful keep-alive the agent
asks `failsafe` (the peers) on every tick: if all of them lost etcd too,
actives stay; if one still reaches etcd, we are the one cut off and fence at
once (`on_fence`); if peers do not answer, we keep asking until 80% of the
TTL and then fence, still before the lease can expire for the others. A lease
found expired (after a freeze or a long cut) fences too: the master may
already have moved our actives.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Optional

from overseer.desired.state import ServerRecord
from overseer.desired.store.client import EtcdUnavailable, StoreError
from overseer.desired.store.store import LeaseLost, Store

log = logging.getLogger(__name__)


@dataclass
class PresenceState:
    lease: Optional[int] = None
    last_renewed: float = 0.0          # monotonic time the last successful keep-alive was SENT
    etcd_ok: bool = False
    fenced: bool = False
    lease_generation: int = 0          # bumps each time we had to take a new lease
    kept_at: float = float("-inf")     # last time failsafe said "everyone lost etcd"
    asking: bool = False               # a failsafe query of the peers is under way
    errors: list = field(default_factory=list)


class Presence:
    def __init__(self, store: Store, record: Callable[[], ServerRecord], ttl: float,
                 on_fence: Callable[[str], Awaitable[None]],
                 failsafe: Callable[[], Awaitable[tuple[bool, bool]]],
                 on_lease_change: Callable[[], Awaitable[None]],
                 vouch: Callable[[float], None] = lambda seconds: None,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.record = record
        self.ttl = ttl
        self.on_fence = on_fence
        self.failsafe = failsafe
        self.on_lease_change = on_lease_change
        self.vouch = vouch  # tells the fencer process how long our actives stay legitimate
        self.clock = clock
        self.state = PresenceState()
        self._published: Optional[str] = None

    @property
    def fence_after(self) -> float:
        return self.ttl * 0.5

    async def register(self) -> int:
        """Take a fresh lease and publish `servers/<me>` on it."""
        sent = self.clock()
        lease = await asyncio.to_thread(self.store.grant_lease, self.ttl)
        record = self.record()
        await asyncio.to_thread(self.store.put_server, record, lease)
        self.state.lease, self.state.last_renewed = lease, sent
        self.vouch(self.ttl * 0.95 - (self.clock() - sent))
        self.state.etcd_ok, self.state.fenced = True, False
        self.state.lease_generation += 1
        self._published = record.to_json()
        return lease

    async def publish_if_changed(self) -> None:
        record = self.record()
        if self.state.lease is None or record.to_json() == self._published:
            return
        await asyncio.to_thread(self.store.put_server, record, self.state.lease)
        self._published = record.to_json()

    @property
    def call_timeout(self) -> float:
        # A dropped link makes calls hang, not fail: never wait longer than a
        # keep-alive period, or the fence deadline passes while we wait.
        return max(0.2, self.ttl / 4)

    async def run(self) -> None:
        interval = max(0.1, self.ttl / 4)
        guard = asyncio.create_task(self._deadline_guard())
        try:
            while True:
                await asyncio.sleep(interval)
                await self.tick()
        finally:
            guard.cancel()

    async def _deadline_guard(self) -> None:
        """Fence at 80% of the lease even while a keep-alive or a peer query
        still hangs, unless failsafe said "everyone lost etcd" recently."""
        while True:
            await asyncio.sleep(0.05)
            if self.state.lease is None or self.state.fenced:
                continue
            now = self.clock()
            silent_for = now - self.state.last_renewed
            # failsafe is asked again every tick (sleep + keep-alive + query < TTL)
            kept_recently = now - self.state.kept_at < self.ttl
            # a peer query still running gets until 95% of the lease, never more
            asking = self.state.asking and silent_for < self.ttl * 0.95
            if silent_for >= self.ttl * 0.8 and not kept_recently and not asking:
                await self._fence(f"no lease renewal for {silent_for:.1f}s")

    async def tick(self) -> None:
        try:
            if self.state.lease is None:
                await self.register()
                log.info("registered with a new lease %x", self.state.lease)
                await self.on_lease_change()
                return
            sent = self.clock()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.store.keepalive, self.state.lease),
                                       self.call_timeout)
            except asyncio.TimeoutError:
                raise EtcdUnavailable(f"keep-alive got no answer within {self.call_timeout:.1f}s") from None
            self.state.last_renewed = sent
            self.vouch(self.ttl * 0.95 - (self.clock() - sent))
            if not self.state.etcd_ok:
                log.info("etcd reachable again; lease %x still valid", self.state.lease)
            self.state.etcd_ok = True
            if self.state.fenced:
                # The outage ended before the lease did: converge back to the assignments.
                self.state.fenced = False
                await self.on_lease_change()
            await self.publish_if_changed()
        except LeaseLost:
            log.warning("lease %x expired in etcd: our master lock and presence are gone; re-registering",
                        self.state.lease)
            self.state.lease = None  # nothing may be written on the dead lease meanwhile
            await self._fence("lease expired")
            await self._reregister()
        except StoreError as exc:
            await self._etcd_down(exc)

    async def _reregister(self) -> None:
        try:
            await self.register()
            await self.on_lease_change()
        except StoreError as exc:
            await self._etcd_down(exc)

    async def _etcd_down(self, exc: StoreError) -> None:
        if self.state.etcd_ok:
            log.warning("etcd unreachable: %s (lease renewed %.1fs ago)", exc,
                        self.clock() - self.state.last_renewed)
        self.state.etcd_ok = False
        silent_for = self.clock() - self.state.last_renewed
        if silent_for < self.fence_after or self.state.fenced:
            return
        self.state.asking = True
        try:
            keep, definitive = await self.failsafe()
        finally:
            self.state.asking = False
        if keep:
            self.state.kept_at = self.clock()
            self.vouch(self.ttl * 0.95)
            return
        silent_for = self.clock() - self.state.last_renewed
        if definitive or silent_for >= self.ttl * 0.8:
            await self._fence(f"no lease renewal for {silent_for:.1f}s")

    async def _fence(self, why: str) -> None:
        if self.state.fenced:
            return
        self.state.fenced = True
        await self.on_fence(why)

    def renewed_recently(self) -> bool:
        return self.state.etcd_ok and self.clock() - self.state.last_renewed < self.ttl
