"""The simulated network: who reaches etcd and whom, how fast, and what a
cut link does to a call in flight.

An etcd call from server S (`EtcdLane`, the agent's `Edges.etcd`):
- the request travels one way (a small latency, more while etcd is slow);
- if etcd is down the connection is refused soon; if S is cut off (or etcd is
  silent: cut off from every server while it keeps running and expiring
  leases) the call hangs until the client's timeout and fails, as gRPC on a
  dropped link does;
- otherwise etcd applies it at once, on arrival;
- the answer travels back; a link cut meanwhile loses it (the change stays
  applied, the caller times out: "answered after the client gave up").
Like a call on a thread, the call is not undone when the awaiting coroutine
is cancelled (asyncio.wait_for): etcd applies it anyway.

Watches are delivered to a server only while it reaches etcd; one that
missed events while cut off gets one call when the link returns, as the
real PrefixWatcher does after re-creating its watch.
"""
from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, Optional

from overseer.desired.store.client import EtcdUnavailable

from overseer.desired.store.simulated import SimEtcd, Watch
from .loop import VirtualLoop

BASE_LATENCY = (0.0005, 0.003)   # one way, seconds


class Network:
    def __init__(self, loop: VirtualLoop, rng: random.Random, world_context, timeout: float):
        self.loop, self.rng, self.context, self.timeout = loop, rng, world_context, timeout
        self.etcd = SimEtcd(loop, world_context, self._deliver)
        self.cut_etcd: set[str] = set()     # servers that cannot reach etcd
        self.cut_peers: set[str] = set()    # servers that cannot reach (or be reached by) peers
        self.slow = 0.0                     # extra one-way latency of every etcd call
        self.silent = False                 # etcd up but cut off from every server (calls hang)
        self._missed: dict[int, Watch] = {}
        self._pending: dict[int, Optional[list[bytes]]] = {}   # watch -> keys on their way

    def latency(self) -> float:
        return self.rng.uniform(*BASE_LATENCY) + (self.rng.uniform(0.5, 1.0) * self.slow if self.slow else 0.0)

    def reaches_etcd(self, server: str) -> bool:
        return not self.etcd.down and not self.silent and server not in self.cut_etcd

    # --- faults ---------------------------------------------------------------

    def set_etcd_down(self, down: bool) -> None:
        if down:
            self.etcd.down = True
        else:
            self.etcd.come_back()
            self._reconnected()

    def set_etcd_silent(self, silent: bool) -> None:
        # Unlike set_etcd_down, etcd keeps running (and expiring leases) behind
        # the dropped links, and nobody's calls are refused: they hang.
        self.silent = silent
        if not silent:
            self._reconnected()

    def cut(self, server: str, etcd: bool, peers: bool) -> None:
        if etcd:
            self.cut_etcd.add(server)
        if peers:
            self.cut_peers.add(server)

    def heal(self, server: str) -> None:
        self.cut_etcd.discard(server)
        self.cut_peers.discard(server)
        self._reconnected()

    # --- watches --------------------------------------------------------------

    def _deliver(self, watch: Watch, keys: Optional[list[bytes]] = None) -> None:
        """`keys` the batch changed; None: unknown (after a reconnect)."""
        if not self.reaches_etcd(watch.server):
            self._missed[watch.seq] = watch
            return
        if watch.seq in self._pending:
            # one delivery in flight already says "something changed": it
            # carries these keys too (or "unknown" if either is)
            known = self._pending[watch.seq]
            self._pending[watch.seq] = None if known is None or keys is None else known + keys
            return
        self._pending[watch.seq] = None if keys is None else list(keys)
        self.loop.call_later(self.latency(), self._fire, watch, context=self.context)

    def _fire(self, watch: Watch) -> None:
        keys = self._pending.pop(watch.seq, None)
        if watch.cancelled:
            return
        if not self.reaches_etcd(watch.server):
            self._missed[watch.seq] = watch
            return
        watch.context.run(self.loop.call_soon, watch.callback, keys)

    def _reconnected(self) -> None:
        for key, watch in sorted(self._missed.items()):
            if self.reaches_etcd(watch.server):
                del self._missed[key]
                self._deliver(watch, None)


class EtcdLane:
    """One server's etcd calls (`Edges.etcd` and `Edges.keepalive`)."""

    def __init__(self, net: Network, server: str):
        self.net, self.server = net, server

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        task = asyncio.get_running_loop().create_task(self._call(fn, args, kwargs))
        task.add_done_callback(_consume)
        return await asyncio.shield(task)

    async def _fail(self, started: float, why: str) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, started + self.net.timeout - loop.time()))
        raise EtcdUnavailable(f"etcd unreachable from {self.server} (simulated: {why})")

    async def _call(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        net, loop = self.net, asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(net.latency())
        if self.server in net.cut_etcd or net.silent:
            await self._fail(started, "link cut")
        if net.etcd.down:
            await asyncio.sleep(net.latency())
            raise EtcdUnavailable(f"etcd unreachable from {self.server} (simulated: etcd is down)")
        error: Optional[BaseException] = None
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # etcd's answer is an error: it travels back like any answer
            error, result = exc, None
        await asyncio.sleep(net.latency())
        if not net.reaches_etcd(self.server):
            await self._fail(started, "answer lost")
        if error is not None:
            raise error
        return result


def _consume(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
