"""Keeping this server's presence lease, and knowing when to fence ourselves.

The lease carries `servers/<name>` and, on the master, `master`. Keep-alives
go every TTL/8 (RENEW_EVERY), on a thread and an etcd connection of their own; while etcd
does not answer, overlapping ones on fresh connections as well. Our actives are legitimate until 80% of a lease after the last
renewal we sent (`vouched_until`); a deadline guard fences them (`on_fence`)
when that passes, even while a call still hangs on a dropped link, so they are
down before the lease can expire for the others. From half the TTL without a
renewal the agent asks its peers (`failsafe`), again every 0.2 s after each
verdict until etcd renews it: if all answer and none reaches etcd, the
outage is etcd's and the legitimacy is extended from the moment we asked
(the peers also vouch for us, failsafe.py). A peer that reaches etcd
extends nothing: we may be the one cut off, or just the last to reconnect,
and a keep-alive that gets through in time settles it. A lease found expired
fences too once that legitimacy has run out: the master may already have
moved our actives. Before then it only means etcd expired every lease at once
(it stalled, or was cut off from everyone): we take a new lease and keep them. The fencer
process (fencer.py) enforces the same deadline if this agent itself hangs.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Optional

from overseer.desired.state import ServerRecord
from overseer.desired.store.client import EtcdUnavailable, StoreError
from overseer.desired.store.store import LeaseLost, Store

from .edges import REAL, Edges

log = logging.getLogger(__name__)

# Keep-alives go every TTL/8. The renewal before a link flap may be this old
# when the flap begins, and the fence deadline is 0.8 x TTL after it: at
# TTL/4, a flap of 0.45 x TTL left 0.1 x TTL for the first renewal after the
# link returned, and etcd needs about that to answer again (the fault suite's
# calm family fenced). TTL/8 leaves 0.225 x TTL, for one more small call per
# TTL/8 (docs/benchmarks.md, idle cost).
RENEW_EVERY = 1 / 8
RETRY_WHILE_DOWN = 0.2   # seconds between keep-alive attempts while etcd does not answer
# While etcd does not answer, overlapping keep-alives on fresh connections
# (`_rescue_while_down`): at most this many in flight at once.
MAX_RESCUES = 4


@dataclass
class PresenceState:
    lease: Optional[int] = None
    last_renewed: float = 0.0          # monotonic time the last successful keep-alive was SENT
    etcd_ok: bool = False
    fenced: bool = False
    lease_generation: int = 0          # bumps each time we had to take a new lease
    kept_at: float = float("-inf")     # last time failsafe said "everyone lost etcd"
    vouched_until: float = 0.0         # monotonic time our actives stop being legitimate
    fencer_until: float = 0.0          # monotonic time the fencer process kills them (last told)
    asking: bool = False               # a failsafe query of the peers is under way
    lost_at: Optional[float] = None    # when etcd last told us our lease had expired
    kept_through: Optional[float] = None  # that happened while our actives were legitimate: kept
    errors: list = field(default_factory=list)


class Presence:
    def __init__(self, store: Store, record: Callable[[], ServerRecord], ttl: float,
                 on_fence: Callable[[str], Awaitable[None]],
                 failsafe: Callable[[], Awaitable[tuple[bool, bool]]],
                 on_lease_change: Callable[[], Awaitable[None]],
                 vouch: Callable[[float], None] = lambda seconds: None,
                 clock: Callable[[], float] = time.monotonic, edges: Edges = REAL):
        self.store = store
        self.etcd, self._given_lane = edges.etcd, edges.keepalive
        self.record = record
        self.ttl = ttl
        self.on_fence = on_fence
        self.failsafe = failsafe
        self.on_lease_change = on_lease_change
        self.vouch = vouch  # tells the fencer process how long our actives stay legitimate
        self.clock = clock
        self.state = PresenceState()
        # compared as records, not as JSON: serialising on every keep-alive was
        # the biggest share of an idle agent's work after the probes
        self._published: Optional[ServerRecord] = None
        self._ask: Optional[asyncio.Task] = None
        # The lease's own thread (and, once registered, its own etcd connection):
        # hundreds of per-service etcd calls queue on the default executor, and
        # a keep-alive waiting behind them lost the lease under load.
        # (The simulator gives its own lane in `edges.keepalive` instead.)
        self._lane = None if self._given_lane else concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="keepalive")
        self._rescue_lane: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._rescuer: Optional[asyncio.Task] = None
        self._deadline_moved = asyncio.Event()   # wakes the guard: the deadline may be earlier

    async def _on_lane(self, fn, *args):
        if self._given_lane is not None:
            return await self._given_lane(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._lane, fn, *args)

    @property
    def fence_after(self) -> float:
        return self.ttl * 0.5

    async def register(self) -> int:
        """Take a fresh lease and publish `servers/<me>` on it."""
        await self._on_lane(self.store.dedicate_lease_channel, self.call_timeout)
        sent = self.clock()
        lease = await self._on_lane(self.store.grant_lease, self.ttl)
        record = self.record()
        await self.etcd(self.store.put_server, record, lease)
        # Legitimate from when we asked for the lease (it lives a TTL from its
        # commit, later), or from when our peers last vouched for us if that
        # is later: a grant waits for etcd's save, on a slow disk longer than
        # the rest of a lease, and a vouch holds whatever became of the lease.
        # Nothing else carries over from the old lease.
        kept = self.state.kept_at if self._kept_by_peers(self.clock()) else sent
        self.state.lease, self.state.last_renewed = lease, sent
        self.state.vouched_until = 0.0
        self._legitimate_until(max(sent, kept))
        self.state.etcd_ok, self.state.fenced = True, False
        self._deadline_moved.set()
        self.state.lease_generation += 1
        self._published = record
        return lease

    async def publish_if_changed(self) -> None:
        record = self.record()
        if self.state.lease is None or record == self._published:
            return
        await self.etcd(self.store.put_server, record, self.state.lease)
        self._published = record

    @property
    def call_timeout(self) -> float:
        # A dropped link makes calls hang, not fail: give up after a quarter
        # lease (two keep-alive periods, so a keep-alive slowed by load is not
        # an outage); once one has failed, rescues on fresh connections
        # overlap every RETRY_WHILE_DOWN, so no wait holds the next renewal back.
        return max(0.2, self.ttl / 4)

    async def run(self) -> None:
        interval = max(0.1, self.ttl * RENEW_EVERY)
        guard = asyncio.create_task(self._deadline_guard())
        try:
            while True:
                # while etcd is away, try again soon: a keep-alive that gets
                # through right after etcd returns is what keeps us from fencing
                await asyncio.sleep(interval if self.state.etcd_ok else min(interval, RETRY_WHILE_DOWN))
                if guard.done():
                    raise RuntimeError("the fencing deadline guard stopped")  # never run without it
                try:
                    await self.tick()
                except Exception:  # keep renewing: one bad tick must not end our presence
                    log.exception("keep-alive tick failed unexpectedly")
        finally:
            guard.cancel()
            for task in (self._ask, self._rescuer):
                if task is not None:
                    task.cancel()
            if self._rescue_lane is not None:
                self._rescue_lane.shutdown(wait=False, cancel_futures=True)

    async def _deadline_guard(self) -> None:
        """Fence when the actives' legitimacy runs out (`vouched_until`), even
        while a keep-alive or a peer query still hangs."""
        # Sleep until the deadline. It moves later on every renewal (then we
        # wake at the old one, find it moved and sleep again: about one wake-up
        # per lease) and earlier only where `_deadline_moved` is set (a new
        # lease, a peer query ending). Polling at 4-20 Hz was a third of an
        # idle agent's event-loop wake-ups.
        while True:
            self._deadline_moved.clear()
            wait = self.ttl   # nothing held, or fenced: nothing to guard until poked
            if self._holding() and not self.state.fenced:
                now = self.clock()
                # A peer query still running gets a little longer: to 90% of a
                # lease, short of the fencer's 95%. At 95% both, the fencer
                # could kill a child just before a "keep" verdict extended our
                # legitimacy, and the worker then started it again beside the
                # master's replacement (a slow etcd answered its epoch check).
                grace = self.ttl * 0.1 if self.state.asking else 0.0
                if now >= self.state.vouched_until + grace:
                    try:
                        await self._fence(f"no lease renewal for {now - self.state.last_renewed:.1f}s")
                    except Exception:  # the fencer process still enforces the deadline
                        log.exception("self-fencing failed unexpectedly")
                    continue
                wait = self.state.vouched_until + grace - now
            try:
                async with asyncio.timeout(wait):
                    await self._deadline_moved.wait()
            except TimeoutError:
                pass

    def _holding(self) -> bool:
        # A lease, or a lost one whose deadline still runs while we take a new one.
        return self.state.lease is not None or self.state.vouched_until > 0.0

    def _legitimate_until(self, moment: float) -> None:
        # Our lease lives at least a TTL after `moment` (a renewal we sent, or a
        # moment when nobody reached etcd: every peer vouched for us until a lease
        # after its answer, and a master moves nothing of ours before that ends).
        self.state.vouched_until = max(self.state.vouched_until, moment + self.ttl * 0.8)
        self.state.fencer_until = moment + self.ttl * 0.95
        self.vouch(self.state.fencer_until - self.clock())

    async def tick(self) -> None:
        try:
            if self.state.lease is None:
                await self.register()
                log.info("registered with a new lease %x", self.state.lease)
                await self.on_lease_change()
                return
            sent = self.clock()
            try:
                await asyncio.wait_for(self._on_lane(self.store.keepalive, self.state.lease),
                                       self.call_timeout)
            except asyncio.TimeoutError:
                if self.state.last_renewed >= sent:
                    return   # a rescue keep-alive got through meanwhile: not an outage
                raise EtcdUnavailable(f"keep-alive got no answer within {self.call_timeout:.1f}s") from None
            except StoreError as exc:
                if self.state.last_renewed >= sent and not isinstance(exc, LeaseLost):
                    return   # the rescue replaced the connection this call hung on
                raise
            await self._renewed(sent)
            try:
                await self.publish_if_changed()
            except EtcdUnavailable as exc:
                # The renewal got through, so the lease and etcd are fine; right
                # after etcd returns the other channel may still be reconnecting.
                # Not "unreachable" again: that flapped the log three times in a
                # row under load. The next tick publishes (nothing marked done).
                log.debug("publishing servers/%s deferred to the next renewal: %s", self.record().name, exc)
        except LeaseLost:
            await self._lease_lost()
        except StoreError as exc:
            await self._etcd_down(exc)

    async def _lease_lost(self) -> None:
        """etcd says our lease is gone. If our peers vouched for our actives
        (failsafe: everyone lost etcd) and that still holds, no master moves
        them before the vouch ends, whatever became of the lease: a stalled
        etcd resuming without a leader change expires every lease at once.
        Then we take a new lease and keep them; the deadline guard still
        fences if that does not succeed in time. Otherwise the master may
        already have moved them: fence (docs/design-choices.md, "After a
        cluster-wide lease expiry")."""
        lost, now = self.state.lease, self.clock()
        self.state.lease = None  # nothing may be written on the dead lease meanwhile
        self.state.lost_at = now
        if self._kept_by_peers(now):
            self.state.kept_through = self.state.vouched_until
            log.warning("lease %x expired in etcd while our peers vouch for our actives for %.1fs more "
                        "(failsafe: everyone lost etcd): taking a new lease and keeping them",
                        lost, self.state.vouched_until - now)
        else:
            log.warning("lease %x expired in etcd: our master lock and presence are gone; re-registering", lost)
            await self._fence("lease expired")
        await self._reregister()

    def _kept_by_peers(self, now: float) -> bool:
        """Whether our actives are still legitimate on our peers' word: a
        failsafe "keep" less than 80 % of a lease ago. Every peer vouched for
        us then, until a lease after its answer, so no master moves them
        before that ends. A deadline that rests on a renewal alone is not
        enough: a lease expired early that way (an etcd leader that stalled
        and revoked leases renewed through the new leader meanwhile) is
        unknown to the master, which may move our actives a margin later."""
        state = self.state
        return (not state.fenced and now < state.vouched_until
                and now < state.kept_at + self.ttl * 0.8)

    async def _renewed(self, sent: float) -> None:
        """A keep-alive sent at `sent` got through (the loop's or a rescue's)."""
        self.state.last_renewed = max(self.state.last_renewed, sent)
        self._legitimate_until(sent)
        if not self.state.etcd_ok:
            log.info("etcd reachable again; lease %x still valid", self.state.lease)
        self.state.etcd_ok = True
        if self.state.fenced:
            # The outage ended before the lease did: converge back to the assignments.
            self.state.fenced = False
            self._deadline_moved.set()
            await self.on_lease_change()

    async def _rescue_while_down(self) -> None:
        """While etcd does not answer, start a keep-alive every RETRY_WHILE_DOWN
        without waiting for the one before to give up, each on a fresh
        connection. A call sent into a cut link hangs until its timeout, and
        its TCP connection sits in retransmission back-off for seconds after
        the link returns; serial keep-alives then fenced on a link flap of a
        third of the lease (simulator seeds 9984 and 15997; the fault suite's
        calm family). The first that gets through renews the lease and
        becomes the lease connection."""
        inflight: set[asyncio.Task] = set()
        while not self.state.etcd_ok and self.state.lease is not None:
            if len(inflight) < MAX_RESCUES:
                task = asyncio.create_task(self._rescue_once(self.state.lease), name="rescue keep-alive")
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            await asyncio.sleep(RETRY_WHILE_DOWN)

    async def _rescue_once(self, lease: int) -> None:
        sent = self.clock()
        try:
            if self._given_lane is not None:   # the simulator: every call is a call of its own
                call = self._given_lane(self.store.keepalive, lease)
            else:
                if self._rescue_lane is None:
                    self._rescue_lane = concurrent.futures.ThreadPoolExecutor(
                        max_workers=MAX_RESCUES, thread_name_prefix="keepalive-rescue")
                call = asyncio.get_running_loop().run_in_executor(
                    self._rescue_lane, self.store.rescue_keepalive, lease, self.call_timeout)
            await asyncio.wait_for(call, self.call_timeout)
        except (asyncio.TimeoutError, StoreError) as exc:
            # an expired lease included: the keep-alive loop finds that out and
            # re-registers; two paths doing it raced each other
            log.debug("rescue keep-alive failed: %s", exc)
            return
        except Exception:  # a bug here must not go unseen, nor stop the next rescue
            log.exception("rescue keep-alive failed unexpectedly")
            return
        if self.state.lease == lease:
            await self._renewed(sent)

    async def _reregister(self) -> None:
        try:
            await self.register()
            await self.on_lease_change()
        except StoreError as exc:
            await self._etcd_down(exc)

    async def _etcd_down(self, exc: StoreError) -> None:
        was_ok, self.state.etcd_ok = self.state.etcd_ok, False
        if was_ok:
            log.warning("etcd unreachable: %s (lease renewed %.1fs ago)", exc,
                        self.clock() - self.state.last_renewed)
        if self._rescuer is None or self._rescuer.done():
            self._rescuer = asyncio.create_task(self._rescue_while_down(), name="rescue keep-alives")
        silent_for = self.clock() - self.state.last_renewed
        if silent_for < self.fence_after or self.state.fenced:
            return
        # Ask the peers beside the keep-alives, not instead of them: a query
        # waits up to a second for a silent peer, and a keep-alive held back
        # meanwhile fenced us after etcd had come back (found by the simulator:
        # a short etcd outage while one peer was paused).
        if self._ask is None or self._ask.done():
            self._ask = asyncio.create_task(self._ask_while_away(), name="failsafe queries")

    async def _ask_while_away(self) -> None:
        """Ask the peers again and again, until etcd renews us (a keep-alive
        or a new lease gets through) or we fenced. On a loop of its own, not
        once per failed tick: a tick that takes a new lease waits for etcd's
        commit (two saves of a slow disk), and our legitimacy must go on
        being extended meanwhile while every peer still cannot renew either
        (simulator: an etcd stall longer than the lease, then slow fsync)."""
        while not self.state.etcd_ok and not self.state.fenced:
            await self._ask_peers()
            await asyncio.sleep(RETRY_WHILE_DOWN)

    async def _ask_peers(self) -> None:
        self.state.asking = True
        # From when we asked, not when the answers came: a peer vouches for us
        # for a lease from its answer (failsafe.Vouches), which is later.
        asked = self.clock()
        try:
            keep, _definitive = await self.failsafe()
        finally:
            self.state.asking = False
            self._deadline_moved.set()   # the grace is over
        if keep and not self.state.etcd_ok:  # a renewal meanwhile says more than the peers
            self.state.kept_at = asked
            self._legitimate_until(asked)
        # Otherwise nothing more to do here: the deadline guard fences when the
        # legitimacy runs out, unless a keep-alive gets through first (a peer
        # reaching etcd may just have reconnected sooner than we did).

    async def _fence(self, why: str) -> None:
        if self.state.fenced:
            return
        self.state.fenced = True
        await self.on_fence(why)
