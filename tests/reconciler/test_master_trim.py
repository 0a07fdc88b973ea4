"""The master trims history after its pass, in the background; while etcd
fails it stops at the first error with every service still queued, instead
of waiting out a timeout (and logging) once per service."""
from __future__ import annotations

import asyncio

from overseer.desired.state import MasterRecord
from overseer.desired.store.client import EtcdUnavailable
from overseer.reconciler.master import MasterLoop


class Store:
    def __init__(self) -> None:
        self.down = True
        self.trimmed: list[str] = []
        self.calls = 0

    def trim_history(self, service: str, keep: int) -> int:
        self.calls += 1
        if self.down:
            raise EtcdUnavailable("etcd unreachable (test)")
        self.trimmed.append(service)
        return 0


async def _direct(fn, *args):
    return fn(*args)


def test_trimming_stops_at_the_first_failure_and_resumes_with_the_next_pass():
    async def main():
        store = Store()
        loop = MasterLoop(store, MasterRecord(server="a", epoch=5), etcd=_direct)
        services = {f"svc{i}" for i in range(300)}
        loop._trim_later(services, 50)
        await loop._trimmer
        assert store.calls == 1 and set(loop._untrimmed) == services   # nothing lost
        store.down = False
        loop._trim_later({"svc0"}, 50)                                  # the next pass
        await loop._trimmer
        assert sorted(store.trimmed) == sorted(services) and not loop._untrimmed
    asyncio.run(main())
