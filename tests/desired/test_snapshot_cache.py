"""build_snapshot parses each key's value once while its bytes stay the same.

An agent re-reads the whole cluster after every burst of changes; during a
300-service failover, re-parsing the unchanged observations was a third of a
bystander agent's CPU. The cache must never hand back a stale record.
"""
from __future__ import annotations

from overseer.desired.state import Observation
from overseer.desired.store import snapshot as snapshot_module
from overseer.desired.store.etcd_types import KV, Meta
from overseer.desired.store.keys import Keys
from overseer.desired.store.snapshot import build_snapshot

KEYS = Keys("c")


def _obs(status: str, time: float) -> bytes:
    return Observation(server="s1", service="pbx", check="alive", status=status, value=None,
                       message=status, time=time, since=time, critical=True, results=()).to_json().encode()


def _kvs(value: bytes):
    key = f"{KEYS.root}actual/s1/pbx/alive".encode()
    return [(value, Meta(KV(key, value, 1, 1, 1, 0), None))]


def test_unchanged_bytes_are_parsed_once_and_changed_ones_again(monkeypatch):
    parsed = []
    real = Observation.from_json
    monkeypatch.setattr(Observation, "from_json", staticmethod(lambda raw: parsed.append(raw) or real(raw)))
    monkeypatch.setattr(snapshot_module, "_records", {})
    ok = _obs("ok", 1.0)
    first = build_snapshot(KEYS, _kvs(ok), 10)
    second = build_snapshot(KEYS, _kvs(bytes(ok)), 11)       # equal bytes, another object
    assert len(parsed) == 1
    assert second.observations[("s1", "pbx", "alive")] is first.observations[("s1", "pbx", "alive")]
    third = build_snapshot(KEYS, _kvs(_obs("fail", 2.0)), 12)
    assert len(parsed) == 2 and third.observations[("s1", "pbx", "alive")].status == "fail"
    # a key gone from the cluster is gone from the cache: it never comes back stale
    build_snapshot(KEYS, [], 13)
    assert snapshot_module._records == {}
