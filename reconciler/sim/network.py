"""The simulated network: who reaches which etcd member and which peer, how
fast, and what a dropped link or a stopped etcd does to a request in flight.

An etcd call from server S (`EtcdLane`, the agent's `Edges.etcd` and
`Edges.keepalive`) runs one store method; each etcd request in it goes to the
member its client talks to (desired/store/sim_client.py), which does it now
or says why not (desired/store/sim_cluster.py). The lane then does what
etcd_http.py does on a real socket:
- the request travels one way (a small latency, more while etcd is slow);
- refused (the member is killed): the next member at once; every member
  refused: the call fails soon;
- no answer (a dropped link, a stopped member, a member without a leader, a
  commit that comes too late): the client waits up to its timeout; an
  idempotent request then goes to the next member, any other fails;
- a dropped request is retransmitted when its link returns (after 0.2, 0.6,
  1.4 ... s, Linux's back-off from RTO_MIN), a stopped member reads what
  queued when it resumes: if that is before the client's timeout, the call
  is answered;
- **a request applied after its client gave up:** a write etcd already took
  (waiting for its commit, or in the log of a leader that may still commit
  it) is applied anyway; one that reaches etcd only after its client closed
  the connection (a stopped member resuming, a link returning) is handled
  with probability LATE_APPLY (etcd's gateway runs a request unless it
  notices the closed connection first); an answer lost on its way back
  leaves the request applied;
- like a call on a thread, the call goes on when the awaiting coroutine is
  cancelled (asyncio.wait_for).

Watches stream from one member: a server gets events while that member
applies them and the link back works. One that missed events gets one call
(keys unknown) when it can stream again, as the real PrefixWatcher does after
re-creating its watch; a stream whose member was killed, or which etcd
cancelled because compaction passed it by, is re-created on the member the
client talks to.

Peers (`/healthz` for the failsafe) are reached unless either side is cut
off from peers, or the asker's connections to that peer are dropped
(`peer_blocked`: a one-way firewall; TCP needs both ways, so the peer's own
queries in the other direction still work).
"""
from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, Optional

from overseer.desired.store.client import EtcdUnavailable, StoreError
from overseer.desired.store.sim_cluster import (
    ANSWER, DELAY, LINK, LOST, QUEUED, REFUSED, WAIT, Abandoned, Blocked, Call, SimCluster,
)
from overseer.desired.store.simulated import Watch

from .loop import VirtualLoop

BASE_LATENCY = (0.0005, 0.003)   # one way, seconds
RTO_MIN = 0.2                    # Linux: a lost segment is re-sent after 0.2 s, then 0.4, 0.8 ...
LATE_APPLY = 0.5                 # a request read after its client closed still runs (see above)
ORPHAN_FOR = 60.0                # a closed connection's unsent request is retransmitted this long


class Network:
    def __init__(self, loop: VirtualLoop, rng: random.Random, world_context, members: tuple[str, ...],
                 etcd_rng: random.Random, note: Callable[[str], None] = lambda text: None):
        self.loop, self.rng, self.context = loop, rng, world_context
        self.etcd_rng = etcd_rng
        self.cluster = SimCluster(members, etcd_rng, clock=loop.global_time, at=self._at,
                                  notify=self._deliver, note=note)
        self.cluster.on_change = self._changed
        self.etcd = self.cluster.etcd
        self.cut_peers: set[str] = set()    # servers that cannot reach (or be reached by) peers
        self.peer_blocked: set[tuple[str, str]] = set()   # (asker, peer): the asker cannot connect
        self.slow = 0.0                     # extra one-way latency of every etcd call
        self._missed: dict[int, Watch] = {}
        self._pending: dict[int, Optional[list[bytes]]] = {}   # watch id -> keys on their way
        self._event = asyncio.Event()

    def _at(self, when: float, fn, *args):
        return self.loop.call_at_global(when, fn, *args, context=self.context)

    def latency(self) -> float:
        return self.rng.uniform(*BASE_LATENCY) + (self.rng.uniform(0.5, 1.0) * self.slow if self.slow else 0.0)

    def travel(self) -> asyncio.Future:
        return self.loop.sleep_global(self.latency())

    @property
    def cut_etcd(self) -> set[str]:
        return self.cluster.cut_servers

    def reaches_etcd(self, server: str) -> bool:
        return self.cluster.reaches(server)

    def reaches_peer(self, asker: str, peer: str) -> bool:
        return (asker not in self.cut_peers and peer not in self.cut_peers
                and (asker, peer) not in self.peer_blocked)

    # --- faults ---------------------------------------------------------------

    def set_etcd_down(self, down: bool) -> None:
        """Every member killed (connections refused), or restarted."""
        for m in self.cluster.names:
            (self.cluster.kill if down else self.cluster.restart)(m)

    def set_etcd_silent(self, silent: bool) -> None:
        # Unlike set_etcd_down, etcd keeps running (and expiring leases) behind
        # the dropped links, and nobody's calls are refused: they hang.
        self.cluster.silent = silent
        self.cluster.links_changed()

    def cut(self, server: str, etcd: bool, peers: bool) -> None:
        if etcd:
            self.cluster.cut_servers.add(server)
        if peers:
            self.cut_peers.add(server)
        self.cluster.links_changed()

    def heal(self, server: str) -> None:
        self.cluster.cut_servers.discard(server)
        self.cut_peers.discard(server)
        self.cluster.links_changed()

    def block(self, pairs: list[tuple[str, str]], on: bool) -> None:
        """Drop (or let through again) packets from -> to, for each pair."""
        for pair in pairs:
            (self.cluster.blocked.add if on else self.cluster.blocked.discard)(pair)
        self.cluster.links_changed()

    def compact(self) -> None:
        for watch in self._missed.values():
            watch.compacted = True      # etcd cancels a watcher that fell behind the compaction
        self.cluster.compact()

    # --- changes and watches ------------------------------------------------------

    def _changed(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()
        self._reconnected()

    async def changed(self, timeout: float) -> bool:
        """Wait for any change of etcd or its links; False when `timeout` (on the
        caller's clock) passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), max(0.0, timeout))
            return True
        except asyncio.TimeoutError:
            return False

    def _streams(self, watch: Watch) -> bool:
        return self.cluster.streams(watch.member, watch.server)

    def _deliver(self, watch: Watch, keys: Optional[list[bytes]] = None) -> None:
        """`keys` the batch changed; None: unknown (after a reconnect)."""
        if not self._streams(watch):
            self._missed[watch.seq] = watch
            return
        if watch.seq in self._pending:
            # one delivery in flight already says "something changed": it
            # carries these keys too (or "unknown" if either is)
            known = self._pending[watch.seq]
            self._pending[watch.seq] = None if known is None or keys is None else known + keys
            return
        self._pending[watch.seq] = None if keys is None else list(keys)
        self.loop.call_at_global(self.loop.global_time() + self.latency(), self._fire, watch,
                                 context=self.context)

    def _fire(self, watch: Watch) -> None:
        keys = self._pending.pop(watch.seq, None)
        if watch.cancelled:
            return
        if not self._streams(watch):
            self._missed[watch.seq] = watch
            return
        watch.context.run(self.loop.call_soon, watch.callback, keys)

    def _reconnected(self) -> None:
        for key in sorted(self._missed):
            watch = self._missed[key]
            if watch.cancelled:
                del self._missed[key]
                continue
            member = self.cluster.members[watch.member]
            if watch.compacted or not member.up:
                self._reopen(watch)
            if self._streams(watch):
                del self._missed[key]
                self._deliver(watch, None)

    def _reopen(self, watch: Watch) -> None:
        """PrefixWatcher opens a new stream on its client's member (the next
        one that accepts a connection)."""
        client = watch.client
        for i in range(len(client.endpoints)):
            m = client.endpoints[(client.index + i) % len(client.endpoints)]
            if self.cluster.members[m].up and self.cluster.path(watch.server, m):
                watch.member = m
                watch.compacted = False
                return


class EtcdLane:
    """One server's etcd calls (`Edges.etcd` and `Edges.keepalive`)."""

    def __init__(self, net: Network, server: str, context: Callable[[], Any]):
        self.net, self.server, self.context = net, server, context

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # in the agent's I/O context: frozen with the process, not with a blocked event loop
        task = asyncio.get_running_loop().create_task(_Call(self, fn, args, kwargs).run(),
                                                      context=self.context())
        task.add_done_callback(_consume)
        return await asyncio.shield(task)


class _Call:
    def __init__(self, lane: EtcdLane, fn, args, kwargs):
        self.lane, self.net, self.server = lane, lane.net, lane.server
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.call = Call(self.server)
        self.deadline = 0.0     # the current attempt's, on this server's clock
        self.sent = 0.0         # when the current attempt's request left (global)
        self.tries = 0

    def _run(self, call: Call):
        cluster = self.net.cluster
        cluster.begin(call)
        try:
            return self.fn(*self.args, **self.kwargs), None
        finally:
            cluster.end()

    async def run(self) -> Any:
        loop = asyncio.get_running_loop()
        net, call = self.net, self.call
        await net.travel()
        self.sent, self.deadline = loop.global_time(), loop.time() + 3600.0
        while True:
            try:
                result, error = self._run(call)
            except Blocked as blocked:
                await self._blocked(blocked)
                continue
            except StoreError as exc:
                result, error = None, exc
            await net.travel()     # the answer's way back
            if call.last is not None and not net.cluster.path(call.last[0], self.server):
                await self._answer_lost()
                continue
            if error is not None:
                raise error
            return result

    def _fail(self, why: str) -> EtcdUnavailable:
        return EtcdUnavailable(f"etcd unreachable from {self.server} (simulated: {why})")

    async def _answer_lost(self) -> None:
        member, idempotent, client = self.call.last
        self._attempt(client, member, -2)
        await asyncio.sleep(max(0.0, self.deadline - asyncio.get_running_loop().time()))
        if not idempotent:
            raise self._fail("answer lost")
        self.call.records.pop()       # re-sent to the next member: it never answered this one
        self.call.last = None
        await self._next_member(client, member, "answer lost")

    def _attempt(self, client, member: str, op: int) -> None:
        """The request `op` waits at `member`: a new attempt, unless it already did."""
        if self.call.pin == member and self.call.pin_op == op:
            return
        loop = asyncio.get_running_loop()
        self.call.pin, self.call.pin_op = member, op
        self.deadline = loop.time() + client.timeout
        self.sent = loop.global_time()

    async def _next_member(self, client, member: str, why: str) -> None:
        """etcd_http.py: an idempotent request that got no answer goes to the next member."""
        self.call.pin, self.call.pin_op = None, -1
        client.advance(member)
        self.tries += 1
        if self.tries >= len(client.endpoints):
            raise self._fail(f"{why}; no member answered within {client.timeout:g}s")
        await self.net.travel()

    async def _blocked(self, b: Blocked) -> None:
        net, loop = self.net, asyncio.get_running_loop()
        if b.kind == REFUSED and b.everyone:
            await net.travel()
            raise self._fail("every member refuses connections")
        self._attempt(b.client, b.member, b.op)
        if b.kind == REFUSED:           # its member was killed while we waited: connection reset
            return await self._give_up(b, late=False)
        if b.kind == DELAY:
            if b.until <= self._global(self.deadline):
                await loop.sleep_global(b.until - loop.global_time())
                self.call.granted = b.op
                return None
            self._late(b)
            await asyncio.sleep(max(0.0, self.deadline - loop.time()))
            return await self._give_up(b, late=False)
        if b.kind in (LOST, ANSWER):
            await asyncio.sleep(max(0.0, self.deadline - loop.time()))
            return await self._give_up(b, late=False)
        # QUEUED, WAIT, LINK: until something changes, or the client's timeout
        while await net.changed(self.deadline - loop.time()):
            if b.kind == LINK:
                if not net.cluster.path(self.server, b.member):
                    continue
                arrives = _retransmitted(self.sent, loop.global_time())
                if arrives > self._global(self.deadline):
                    break
                await loop.sleep_global(arrives - loop.global_time())
                return None
            if net.cluster.still_pending(b):
                return None             # re-run: the request is handled now, or waits again
        return await self._give_up(b, late=True)

    def _global(self, local: float) -> float:
        loop = self.net.loop
        return loop.global_time() + (local - loop.time())

    async def _give_up(self, b: Blocked, late: bool) -> None:
        if late and b.effect:
            if b.kind == WAIT and b.term is not None:
                self._late(b)           # already in a leader's log, or its socket: it may commit
            elif b.kind in (QUEUED, LINK) and self.net.etcd_rng.random() < LATE_APPLY:
                self._late(b)
        if not b.idempotent:
            raise self._fail(f"no answer from {b.member} within {b.client.timeout:g}s ({b.kind})")
        await self._next_member(b.client, b.member, f"{b.kind} at {b.member}")

    def _late(self, b: Blocked) -> None:
        late = Call(self.server, records=list(self.call.records), pin=b.member, pin_op=b.op,
                    stop_after=b.op, late=True, memo=self.call.memo)
        if b.kind == DELAY:
            late.granted = b.op
        loop = self.net.loop
        loop.create_task(self._late_run(late, b, self.sent), context=self.net.context.copy())

    async def _late_run(self, late: Call, b: Blocked, sent: float) -> None:
        """The request reaches etcd after its client gave up: done when etcd can."""
        net, loop = self.net, self.net.loop
        give_up = loop.global_time() + ORPHAN_FOR
        kind = b.kind
        if kind == DELAY:
            await loop.sleep_global(max(0.0, b.until - loop.global_time()))
        while loop.global_time() < give_up:
            try:
                self._run(late)
                return
            except (Abandoned, StoreError):
                return
            except Blocked as again:
                if again.kind in (LOST, REFUSED, ANSWER) or not net.cluster.still_pending(again):
                    return
                if again.kind == DELAY:
                    late.granted = again.op
                    await loop.sleep_global(max(0.0, again.until - loop.global_time()))
                    continue
                if not await net.changed(give_up - loop.global_time()):
                    return
                if again.kind == LINK and net.cluster.path(self.server, again.member):
                    await loop.sleep_global(_retransmitted(sent, loop.global_time()) - loop.global_time())


def _retransmitted(sent: float, now: float) -> float:
    """The first retransmission, at or after `now`, of a segment first sent at `sent`."""
    at, step = sent + RTO_MIN, RTO_MIN
    while at < now:
        step *= 2
        at += step
    return at


def _consume(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
