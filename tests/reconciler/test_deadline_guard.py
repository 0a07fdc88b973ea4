"""The fencing deadline guard, on virtual time: exactly when does it fence?

The real Presence on the simulator's VirtualLoop (time jumps to the next
timer, so the moments below are exact), with a store whose keep-alives stop
answering at a chosen moment and a peer query that ends when the test says.
The guard sleeps until the deadline instead of polling; these pin down that
it still fences on time, never early, and at once when a peer query that
was holding the deadline off ends without vouching.
"""
from __future__ import annotations

import asyncio

import pytest

from overseer.desired.state import ServerRecord
from overseer.desired.store.client import EtcdUnavailable
from overseer.reconciler.agent.edges import REAL
from overseer.reconciler.agent.presence import Presence
from overseer.reconciler.sim.loop import VirtualLoop

TTL = 4.0
START = 1000.0


class GoneAt:
    """Keep-alives answer until `down` (virtual time), then etcd is unreachable."""

    def __init__(self, loop: VirtualLoop, down: float) -> None:
        self.loop, self.down = loop, down

    def dedicate_lease_channel(self, timeout):
        pass

    def grant_lease(self, ttl):
        return 7

    def put_server(self, record, lease):
        pass

    def keepalive(self, lease):
        if self.loop.time() >= self.down:
            raise EtcdUnavailable("etcd unreachable (test)")
        return int(TTL)


def run(down_after: float, query_ends_after=None):
    """Fences and the moments they happened, relative to START, plus the
    last renewal sent (relative too)."""
    loop = VirtualLoop(start=START)
    store = GoneAt(loop, START + down_after)
    fences: list[tuple[float, str]] = []
    release = asyncio.Event()

    async def lane(fn, *args):
        return fn(*args)

    async def on_fence(why):
        fences.append((loop.time() - START, why))

    async def nothing():
        return None

    async def failsafe():
        if query_ends_after is None:
            return False, True
        await release.wait()
        return False, True     # somebody reaches etcd: nobody vouches for us

    async def main():
        presence = Presence(store, lambda: ServerRecord("pbx1", address="127.0.0.1", rank=0, health="ok"),
                            TTL, on_fence, failsafe, nothing, clock=loop.time,
                            edges=REAL.but(etcd=lane, keepalive=lane))
        await presence.register()
        runner = asyncio.create_task(presence.run())
        if query_ends_after is not None:
            loop.call_at(START + query_ends_after, release.set)
        await asyncio.sleep(3 * TTL)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        for _ in range(3):      # let the tasks run() cancelled on its way out unwind
            await asyncio.sleep(0)
        return presence.state.last_renewed - START

    last = loop.run_until_complete(main())
    loop.close()
    return fences, last


def test_fences_when_the_vouched_time_runs_out_never_before():
    fences, last = run(down_after=2.1)
    assert len(fences) == 1 and "no lease renewal" in fences[0][1]
    # 80% of a lease after the last renewal sent; the guard's sleep is exact
    assert fences[0][0] == pytest.approx(last + 0.8 * TTL)
    assert fences[0][0] < last + TTL          # before the lease can expire for the others


def test_a_peer_query_that_ends_without_vouching_fences_at_once():
    # The query started at half a lease of silence holds the deadline back by
    # 10% of a lease; ending before that grace is over must fence right then,
    # not at the old wake-up time.
    fences, last = run(down_after=2.1, query_ends_after=None)
    plain = fences[0][0]
    ends = plain + 0.07 * TTL                  # after the deadline, inside the grace
    fences, last = run(down_after=2.1, query_ends_after=ends)
    assert len(fences) == 1
    assert fences[0][0] == pytest.approx(ends)


def test_a_peer_query_still_running_gets_its_grace_and_no_more():
    # 90%: short of the fencer's 95%, so a "keep" verdict never comes after the fencer killed a child
    fences, last = run(down_after=2.1, query_ends_after=100.0)   # never ends in the run
    assert len(fences) == 1
    assert fences[0][0] == pytest.approx(last + 0.90 * TTL)
