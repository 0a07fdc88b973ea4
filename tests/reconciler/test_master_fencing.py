"""The master carries out FenceServer on a real etcd: the attempt is written
(pending), the command runs beside the reconcile passes (never inside one),
the outcome is written with a history entry per waiting service, and the
services move only after a success; a failure is retried after its back-off."""
from __future__ import annotations

import asyncio

import pytest

from overseer.desired.loader import Source
from overseer.desired.models import MODELS
from overseer.desired.state import Assignment, HistoryKind, ServerRecord
from overseer.desired.store import documents
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.reconciler.fence_agent import FenceCall, FenceResult
from overseer.reconciler.master import MasterLoop
from overseer.reconciler.planner.master_pass import MasterMemory
from overseer.reconciler.planner.fencing import retry_delay


def _docs(cluster: str) -> list[dict]:
    docs = [{"apiVersion": "overseer/v1", "kind": "Cluster", "metadata": {"name": cluster},
             "spec": {"hierarchy": ["a", "b"], "failoverMargin": "500ms"}}]
    for i, name in enumerate(("a", "b")):
        docs.append({"apiVersion": "overseer/v1", "kind": "Server", "metadata": {"name": name},
                     "spec": {"address": f"10.0.0.{i + 1}",
                              "fence": {"command": ["fence_virsh", f"--plug={name}"], "timeout": "5s"}}})
    docs.append({"apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": "pbx"},
                 "spec": {"candidates": ["a", "b"], "actuator": {"type": "process", "command": ["sleep", "1"]}}})
    return docs


class PowerSwitch:
    """The fence edge: records each call and answers when the test says so."""

    def __init__(self) -> None:
        self.calls: list[FenceCall] = []
        self.answers: asyncio.Queue = asyncio.Queue()

    async def __call__(self, call: FenceCall) -> FenceResult:
        self.calls.append(call)
        return await self.answers.get()


@pytest.fixture
def store(etcd_url, cluster_name):
    cfg = EtcdConfig(endpoints=(etcd_url,))
    s = Store(cfg, cluster=cluster_name)
    sources = [Source("t.yaml", i + 1, d, model=MODELS[d["kind"]].model_validate(d))
               for i, d in enumerate(_docs(cluster_name))]
    documents.apply(s, cluster_name, sources, cfg=cfg)
    yield s
    s.close()


async def _until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_the_master_fences_then_moves_and_retries_a_failed_fence(store):
    async def main():
        master = store.campaign("b", store.grant_lease(30))
        store.put_server(ServerRecord("b", "10.0.0.2"), store.grant_lease(30))
        store.write_decisions(master.epoch, [Assignment("pbx", ("a",), ("b",), master.epoch, "placed", 1.0, 1, 1)])
        clock = {"t": 100.0}
        switch, looked = PowerSwitch(), asyncio.Event()
        loop = MasterLoop(store, master, clock=lambda: clock["t"], fence=switch, look_again=looked.set)
        loop.memory = MasterMemory.long_running(loop.epoch)
        await loop.reconcile(store.snapshot())                    # a is seen gone: its margin runs
        assert not switch.calls
        clock["t"] = 100.6
        await loop.reconcile(store.snapshot())
        await _until(lambda: switch.calls, "the fence command")
        call = switch.calls[0]
        assert call.argv == ("fence_virsh", "--plug=a") and call.timeout == 5.0
        assert call.env["OVERSEER_FENCE_SERVER"] == "a" and call.env["OVERSEER_FENCE_ADDRESS"] == "10.0.0.1"
        snap = store.snapshot()
        assert snap.fences["a"].outcome == "pending" and snap.fences["a"].epoch == master.epoch
        assert snap.history["pbx"][-1].kind == HistoryKind.FENCE
        # the fence runs beside the passes: another pass neither waits nor starts a second one
        await asyncio.wait_for(loop.reconcile(snap), 2.0)
        assert len(switch.calls) == 1 and snap.assignments["pbx"].active == ("a",)

        switch.answers.put_nowait(FenceResult(False, "exit 1: Unable to connect to BMC"))
        await _until(lambda: store.snapshot().fences["a"].outcome == "failed", "the failure written")
        assert looked.is_set()
        snap = store.snapshot()
        assert "fence of a failed (attempt 1" in snap.history["pbx"][-1].message
        assert "pbx stays without an active" in snap.history["pbx"][-1].message
        await loop.reconcile(snap)                                # backing off: nothing
        assert len(switch.calls) == 1 and store.snapshot().assignments["pbx"].active == ("a",)

        clock["t"] = snap.fences["a"].time + retry_delay(1)
        await loop.reconcile(store.snapshot())
        await _until(lambda: len(switch.calls) == 2, "the second attempt")
        assert switch.calls[1].env["OVERSEER_FENCE_ATTEMPT"] == "2"
        switch.answers.put_nowait(FenceResult(True, "Success: Powered OFF"))
        await _until(lambda: store.snapshot().fences["a"].off, "the success written")
        assert store.snapshot().history["pbx"][-1].message.startswith("a fenced by its fence agent in ")
        await loop.reconcile(store.snapshot())
        snap = store.snapshot()
        assert snap.assignments["pbx"].active == ("b",), snap.assignments["pbx"]
        assert "fenced by its fence agent" in snap.assignments["pbx"].reason
    asyncio.run(main())


def test_a_server_that_registered_again_is_not_fenced_on_a_stale_snapshot(store):
    async def main():
        master = store.campaign("b", store.grant_lease(30))
        store.put_server(ServerRecord("b", "10.0.0.2"), store.grant_lease(30))
        store.write_decisions(master.epoch, [Assignment("pbx", ("a",), ("b",), master.epoch, "placed", 1.0, 1, 1)])
        switch = PowerSwitch()
        loop = MasterLoop(store, master, clock=lambda: 100.6, fence=switch)
        loop.memory = MasterMemory.long_running(loop.epoch, {"a": 100.0})   # seen gone; its margin has passed
        stale = store.snapshot()
        store.put_server(ServerRecord("a", "10.0.0.1"), store.grant_lease(30))   # a is back
        await loop.reconcile(stale)
        await _until(lambda: not loop.fence_runs.running, "the attempt to end")
        assert switch.calls == [] and "a" not in store.snapshot().fences
    asyncio.run(main())
