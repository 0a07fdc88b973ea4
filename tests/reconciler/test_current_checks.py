"""The workers' assignment checks go to etcd together (agent/current_checks.py)."""
import asyncio

from overseer.desired.state import Assignment
from overseer.desired.store.client import EtcdUnavailable
from overseer.reconciler.agent.current_checks import CurrentChecks


def _a(name: str) -> Assignment:
    return Assignment(name, ("s1",), (), 7, "r")


async def test_the_first_check_goes_alone_and_those_asked_meanwhile_go_in_one_call():
    calls = []
    gate = asyncio.Event()

    async def ask(batch):
        calls.append([a.service for a in batch])
        if len(calls) == 1:
            await gate.wait()          # the first call is in flight while the others ask
        return [a.service != "b3" for a in batch]

    checks = CurrentChecks(ask)
    first = asyncio.create_task(checks.check(_a("a")))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(checks.check(_a(f"b{i}"))) for i in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await first is True
    assert [await t for t in rest] == [True, True, True, False, True]
    assert calls == [["a"], ["b0", "b1", "b2", "b3", "b4"]]


async def test_an_etcd_error_reaches_every_asker_of_that_batch_and_the_next_batch_still_goes():
    fail = True

    async def ask(batch):
        if fail:
            raise EtcdUnavailable("no answer")
        return [True] * len(batch)

    checks = CurrentChecks(ask)
    results = await asyncio.gather(checks.check(_a("x")), checks.check(_a("y")), return_exceptions=True)
    assert all(isinstance(r, EtcdUnavailable) for r in results)
    fail = False
    assert await checks.check(_a("x")) is True
