"""etcd's default limits at scale: 128 operations per transaction, 1.5 MiB per
request, gRPC's 4 MiB answers. The session etcd runs with etcd's defaults."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from overseer.desired.loader import load_text
from overseer.desired.state import Assignment, HistoryEntry, ServerRecord
from overseer.desired.store import documents, staged
from overseer.desired.store.client import Conflict, EtcdConfig, StaleEpoch
from overseer.desired.store.keys import Keys
from overseer.desired.store.store import Store
from overseer.reconciler.master import MasterLoop
from tests.support.cluster import cluster_yaml, sleeper_service


@pytest.fixture
def store(etcd_url, cluster_name):
    s = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    yield s
    s.close()


def docs_yaml(cluster: str, services: int, prefix: str = "svc") -> str:
    extra = "---\n".join(sleeper_service(f"{prefix}{i}") for i in range(services))
    # fixed ports: applying the same text twice must be unchanged
    return cluster_yaml(cluster, ["pbx1", "pbx2"], ports={"pbx1": 7001, "pbx2": 7002}, extra=extra)


def sources(text: str):
    loaded = load_text(text, "t.yaml")
    assert loaded.errors == ()
    return loaded.sources


def first_apply(store, cluster, services, prefix="svc"):
    return documents.apply(store, cluster, sources(docs_yaml(cluster, services, prefix)))


def test_decisions_for_300_services_are_written_in_guarded_chunks(store):
    won = store.campaign("pbx1", store.grant_lease(10))
    now = time.time()
    names = [f"svc{i}" for i in range(300)]
    store.write_decisions(won.epoch, [Assignment(n, ("pbx1",), ("pbx2",), won.epoch, "r") for n in names],
                          [HistoryEntry(n, now, "placement", "r") for n in names])
    snap = store.snapshot()
    assert set(snap.assignments) == set(names)
    assert all(len(snap.history[n]) == 1 for n in names)
    # a deposed master's large pass writes nothing at all: every chunk is guarded
    assert store.resign(won)
    with pytest.raises(StaleEpoch):
        store.write_decisions(won.epoch, [Assignment(f"new{i}", ("pbx1",), (), won.epoch) for i in range(300)])
    assert not any(n.startswith("new") for n in store.snapshot().assignments)


def test_history_trim_beyond_one_transaction(store):
    for i in range(150):
        store.append_history(HistoryEntry("svc", 1000.0 + i, "check", f"m{i}"))
    store.append_history(HistoryEntry("svc2", 1.0, "check", "other service"))
    assert store.trim_history("svc", 3) == 147
    assert [h.message for h in store.history("svc")] == ["m147", "m148", "m149"]
    assert [h.message for h in store.history("svc2")] == ["other service"]
    assert store.trim_history("svc", 3) == 0


def test_master_places_320_services(store, cluster_name):
    first_apply(store, cluster_name, 320)
    lease = store.grant_lease(10)
    for rank, name in enumerate(["pbx1", "pbx2"]):
        store.put_server(ServerRecord(name, address="127.0.0.1", rank=rank, health="ok"), lease)
    won = store.campaign("pbx1", lease)
    master = MasterLoop(store, won)

    async def place():
        for _ in range(20):
            snap = store.snapshot()
            if len(snap.assignments) == 320:
                return snap
            await master.reconcile(snap)
        return store.snapshot()

    snap = asyncio.run(place())
    assert not master.deposed
    assert len(snap.assignments) == 320
    assert all(a.epoch == won.epoch for a in snap.assignments.values())


def test_apply_of_2000_documents(store, cluster_name):
    many = sources(docs_yaml(cluster_name, 1997))       # + Cluster + 2 Servers
    result = documents.apply(store, cluster_name, many)
    assert result.changed and result.generation == 1
    snap = documents.read(store, cluster_name)
    assert len(snap.docs) == 2000 and snap.pending is None and snap.generation == 1
    assert len(store.snapshot(history=False).desired.services) == 1997
    before = documents.revision(store)
    again = documents.apply(store, cluster_name, many)
    assert not again.changed and documents.revision(store) == before   # unchanged: nothing written


class CrashAfter:
    """The etcd client of an `apply` process that dies after `n` transactions."""

    def __init__(self, client, n: int):
        self._client, self._left = client, n

    def transaction(self, *args, **kwargs):
        if self._left == 0:
            raise KeyboardInterrupt("the apply process died here")
        self._left -= 1
        return self._client.transaction(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_an_unfinished_large_apply_is_invisible_then_undone(store, cluster_name):
    first_apply(store, cluster_name, 3, prefix="old")
    committed = documents.read(store, cluster_name).docs
    # marker + 2 chunks of the 500 new documents, then the process dies
    with pytest.raises(KeyboardInterrupt):
        documents.apply(CrashAfter(store.client, 3), cluster_name,
                        sources(docs_yaml(cluster_name, 500, prefix="big")), cfg=store.cfg)
    snap = documents.read(store, cluster_name)
    assert snap.pending is not None and len(snap.pending.live) > len(committed)   # partly written ...
    assert snap.docs == committed and snap.generation == 1                       # ... and not seen
    assert set(store.snapshot().desired.services) == {"old0", "old1", "old2"}
    assert documents.get(store, cluster_name, "Service", "big0") is None
    # the dead writer's lease runs out; the next apply takes over and writes exactly its own documents
    store.revoke_lease(snap.pending.lease)
    result = first_apply(store, cluster_name, 2, prefix="new")
    assert result.generation == 2
    after = documents.read(store, cluster_name)
    assert after.pending is None
    assert {n for k, n in after.docs if k == "Service"} == {"new0", "new1"} | {"old0", "old1", "old2"}
    assert set(store.snapshot().desired.services) == {"new0", "new1", "old0", "old1", "old2"}


def test_a_small_apply_waits_for_a_live_large_apply(store, cluster_name, monkeypatch):
    first_apply(store, cluster_name, 1)
    lease = store.grant_lease(10)
    store.client.put(Keys(cluster_name).applying(), json.dumps({"token": "x", "lease": lease}))
    monkeypatch.setattr(staged, "WAIT_FOR_OTHER", 0.3)
    with pytest.raises(Conflict, match="still writing"):
        first_apply(store, cluster_name, 2)
    assert documents.get(store, cluster_name, "Service", "svc1") is None


def test_reads_larger_than_grpcs_default_message(store, cluster_name):
    first_apply(store, cluster_name, 1)
    big = "x" * 1_200_000
    for i in range(4):   # 4.8 MB under the cluster, each value under etcd's 1.5 MiB request limit
        store.client.put(Keys(cluster_name).root + f"actual/pbx1/bulk{i}/alive", big)
    assert store.snapshot().desired.cluster is not None
    assert len(documents.read(store, cluster_name).docs) == 4


def test_snapshot_without_history_keeps_everything_else(store, cluster_name):
    first_apply(store, cluster_name, 1)
    store.append_history(HistoryEntry("svc0", 1.0, "check", "m"))
    store.set_paused("svc0", True)
    lease = store.grant_lease(10)
    store.put_server(ServerRecord("pbx1", address="127.0.0.1", rank=0, health="ok"), lease)
    full, lean = store.snapshot(), store.snapshot(history=False)
    assert full.history and not lean.history
    assert lean.is_paused("svc0") and "pbx1" in lean.servers and lean.desired == full.desired
