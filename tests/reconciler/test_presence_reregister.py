"""Taking a new lease after etcd expired every lease at once, on a slow disk.

The real Presence on the simulator's VirtualLoop (time jumps to the next
timer, so the moments below are exact). etcd stalls: keep-alives get no
answer; then it resumes with every lease expired and a disk so slow that the
grant of a new lease takes most of a lease to commit. Meanwhile every peer
still says "etcd is gone here too" (none of them has a lease either), then,
once one of them has its new lease, "reaching". The agent must keep its
actives through it: it goes on asking its peers while its grant waits (they
vouch for it), and that vouch still holds once the slow grant is in.
"""
from __future__ import annotations

import asyncio

from overseer.desired.state import ServerRecord
from overseer.desired.store.client import EtcdUnavailable
from overseer.desired.store.store import LeaseLost
from overseer.reconciler.agent.edges import REAL
from overseer.reconciler.agent.presence import Presence
from overseer.reconciler.sim.loop import VirtualLoop

TTL = 4.0
START = 1000.0
STALL = 2.1          # keep-alives get no answer from here (relative to START)
RESUMED = 6.0        # etcd answers again: the old lease has expired
GRANT_TAKES = 3.5    # a new lease commits this long after it was asked for
PEERS_VOUCH = 8.9    # every peer says "gone" until then, "reaching" after


class StalledThenSlow:
    def __init__(self, loop: VirtualLoop) -> None:
        self.loop = loop
        self.leases = iter(range(7, 100))

    def now(self) -> float:
        return self.loop.time() - START

    def dedicate_lease_channel(self, timeout):
        pass

    def grant_lease(self, ttl):
        return next(self.leases)

    def put_server(self, record, lease):
        pass

    def keepalive(self, lease):
        if lease == 7 and self.now() >= RESUMED:
            raise LeaseLost("lease 7 expired in etcd")
        if lease == 7 and self.now() >= STALL:
            raise EtcdUnavailable("etcd unreachable (test)")
        return int(TTL)


def test_a_new_lease_that_commits_slowly_keeps_the_actives_the_peers_vouch_for():
    loop = VirtualLoop(start=START)
    store = StalledThenSlow(loop)
    fences: list[tuple[float, str]] = []
    asked: list[float] = []

    async def lane(fn, *args):
        if fn == store.grant_lease and store.now() >= RESUMED:
            await asyncio.sleep(GRANT_TAKES)   # waits for etcd's next saves
        return fn(*args)

    async def on_fence(why):
        fences.append((store.now(), why))

    async def nothing():
        return None

    async def failsafe():
        asked.append(store.now())
        await asyncio.sleep(0.01)
        return store.now() < PEERS_VOUCH, False

    async def main():
        presence = Presence(store, lambda: ServerRecord("pbx1", address="127.0.0.1", rank=0, health="ok"),
                            TTL, on_fence, failsafe, nothing, clock=loop.time,
                            edges=REAL.but(etcd=lane, keepalive=lane))
        await presence.register()
        runner = asyncio.create_task(presence.run())
        await asyncio.sleep(4 * TTL)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        for _ in range(3):      # let the tasks run() cancelled on its way out unwind
            await asyncio.sleep(0)
        return presence.state

    state = loop.run_until_complete(main())
    loop.close()
    assert fences == []
    assert state.lease == 8 and state.lease_generation == 2 and state.etcd_ok
    # the peers were asked while the grant waited, not only between failed keep-alives
    assert any(RESUMED + 0.5 < t < RESUMED + GRANT_TAKES for t in asked), asked
