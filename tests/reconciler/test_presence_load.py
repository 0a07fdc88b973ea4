"""The keep-alive under load: hundreds of slow etcd calls must not cost the lease.

Real etcd, the real Presence; the load is what an agent with hundreds of
services puts on its executor (fence checks, reports, snapshot reads), each
call made slow as on a busy etcd. The agent's default executor has 64 threads
(agent.py), so 300 such calls queue for seconds."""
from __future__ import annotations

import asyncio
import concurrent.futures
import time

from overseer.desired.state import ServerRecord
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.reconciler.agent.presence import Presence

TTL = 2.0
SERVICES = 300
SLOW = 1.0       # seconds each etcd call of a service takes
LOADED_FOR = 3 * TTL


def test_keepalive_never_waits_behind_other_etcd_calls(etcd_url, cluster_name):
    store = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    fences, lease_changes = [], []

    async def on_fence(why):
        fences.append(why)

    async def on_lease_change():
        lease_changes.append(time.monotonic())

    async def failsafe():
        return False, False   # nobody vouches: only our own keep-alives keep the lease

    def slow_etcd_call():
        time.sleep(SLOW)
        store.get_master()

    async def one_service(until):
        while time.monotonic() < until:
            await asyncio.to_thread(slow_etcd_call)

    async def main():
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="etcd"))
        presence = Presence(store, lambda: ServerRecord("pbx1", address="127.0.0.1", rank=0, health="ok"),
                            TTL, on_fence, failsafe, on_lease_change)
        await presence.register()
        first_lease = presence.state.lease
        runner = asyncio.create_task(presence.run())
        until = time.monotonic() + LOADED_FOR
        await asyncio.gather(*(one_service(until) for _ in range(SERVICES)))
        runner.cancel()
        return presence, first_lease

    try:
        presence, first_lease = asyncio.run(main())
        assert fences == [] and lease_changes == []
        assert presence.state.lease == first_lease and presence.state.lease_generation == 1
        assert store.keepalive(first_lease) > 0   # still alive in etcd
    finally:
        store.close()
