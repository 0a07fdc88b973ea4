"""Values and keys in etcd that Overseer never wrote, read through the real
store from a real etcd (its own member: these keys would bother others).

Well-formed answers can still carry anything as values: a key that is not
UTF-8, a record that is not JSON, nested past Python's recursion limit, or
of the wrong shape or field types. Each is logged and left out, as the
snapshot promises; none may end a read (an agent's snapshot loop, `status`,
`get`) with an exception other than a StoreError, or loop forever.
"""
from __future__ import annotations

import pytest

from overseer.desired.loader import load_text
from overseer.desired.store import documents
from overseer.desired.store.client import EtcdConfig, connect
from overseer.desired.store.keys import ROOT, Keys
from overseer.desired.store.local_etcd import LocalEtcd
from overseer.desired.store.staged import Pending
from overseer.desired.store.store import Store
from tests.support.cluster import cluster_yaml, sleeper_service

CLUSTER = "odd"
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def store():
    with LocalEtcd() as etcd:
        cfg = EtcdConfig(endpoints=(etcd.url,))
        client = connect(cfg)
        loaded = load_text(cluster_yaml(CLUSTER, ["pbx1", "pbx2"]) + "---\n" + sleeper_service("svc"), "odd.yaml")
        assert loaded.valid, loaded.errors
        documents.apply(client, CLUSTER, loaded.sources, cfg=cfg)
        keys = Keys(CLUSTER)
        odd = {
            keys.server("pbx1"): b"[1]",
            keys.server("pbx2"): b'{"name": "pbx2", "rank": "first"}',
            keys.report("pbx1", "svc"): DEEP,
            keys.actual("pbx1", "svc", "alive"): b"\xff\xfe",
            keys.failures("pbx1", "svc"): b'{"server": "pbx1", "service": "svc", "count": {}}',
            keys.assign("svc"): b'{"service": "svc", "active": 5}',
            keys.master(): b"\xff",
            keys.desired("Service", "deep"): DEEP,
            keys.generation(): b"not a number",
            keys.switchover("svc"): b'{"service": 1}',
            keys.history("svc", 1): b"nope",
            keys.history("svc", 2): b'{"service": "svc", "time": "now", "kind": "x", "message": ""}',
            keys.history("svc", 3): b'{"service": "svc", "time": 3, "kind": "failover", "message": "kept"}',
            keys.root.encode() + b"actual/\xff\xfe/svc/.role": b"{}",
            ROOT.encode() + b"\xff\xfe/desired/Cluster/x": b"{}",
        }
        for key, value in odd.items():
            client.put(key, value)
        made = Store(cfg, CLUSTER, client=client)
        yield made
        made.close()


def test_odd_values_are_left_out_of_the_snapshot(store):
    for history in (False, True):
        snap = store.snapshot(history=history)
        assert snap.servers == {} and snap.reports == {} and snap.observations == {}
        assert snap.failures == {} and snap.assignments == {} and snap.switchovers == {}
        assert snap.master is not None and snap.master.server == "\ufffd"   # there, but nobody's
        assert snap.desired.cluster is not None and set(snap.desired.services) == {"svc"}
    assert [entry.message for entry in snap.history["svc"]] == ["kept"]


def test_odd_values_do_not_stop_reading_documents(store):
    snap = documents.read(store, CLUSTER)
    assert snap.generation == 0                    # not a number: counted as 0 until the next apply
    assert documents.get(store, CLUSTER, "Service", "svc")["metadata"]["name"] == "svc"
    with pytest.raises(documents.StoredDocumentInvalid, match="'deep' is not JSON"):
        documents.get(store, CLUSTER, "Service", "deep")


def test_history_and_clusters_read_past_odd_keys(store):
    assert [entry.message for entry in store.history("svc")] == ["kept"]
    # a cluster name that is not UTF-8 (no valid name) neither stops nor loops the search
    assert documents.discover_clusters(store) == [CLUSTER]


@pytest.mark.parametrize("marker", ["[1]", "{\"lease\": {}}", "[" * 100_000, "not json", "{\"lease\": \"x\"}"])
def test_an_odd_apply_marker_has_no_lease(marker):
    assert Pending(marker, 1, 1, {}).lease == 0
