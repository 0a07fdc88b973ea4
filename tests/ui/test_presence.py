"""When the board last saw each server alive (ui/presence.py): its lease, as reads found it."""
from __future__ import annotations

from dataclasses import replace

from overseer.desired.state import ServerRecord
from overseer.ui.presence import Sightings, last_seen, seen_map
from tests.support.waiting import poll_until as wait_for
from tests.ui.seed import seed_cluster
from tests.ui.snapshots import make_snapshot
from tests.ui.test_live import cache_for

NOW = 1_800_000_000.0


def test_a_live_server_is_seen_at_the_last_read_and_a_gone_one_at_its_last_sighting():
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"]}, up=["pbx2"], now=NOW - 100)
    sightings = Sightings()
    sightings.saw(["pbx1", "pbx2"], NOW - 20)
    sightings.saw(["pbx1", "pbx2"], NOW - 17)
    sightings.saw(["pbx2"], NOW - 14)
    sightings.saw(["pbx2"], NOW - 2)           # later reads do not move when it went
    seen = last_seen(snap, sightings, NOW - 2, ["pbx1", "pbx2"])
    assert seen["pbx2"].up and seen["pbx2"].at == NOW - 2
    assert not seen["pbx1"].up and seen["pbx1"].at == NOW - 17 and seen["pbx1"].gone == NOW - 14
    assert seen["pbx1"].down_since == NOW - 14 and seen["pbx1"].how == "lease"


def test_a_server_back_is_up_and_forgets_its_outage():
    sightings = Sightings()
    sightings.saw(["a"], 1.0)
    sightings.saw([], 2.0)
    sightings.saw(["a"], 3.0)
    assert sightings.last() == ({"a": 3.0}, {})


def test_without_sightings_a_down_server_is_dated_by_its_newest_own_record():
    snap = make_snapshot({"pbx1": "", "pbx2": ""}, {"pbx": ["pbx1", "pbx2"]}, up=["pbx2"], now=NOW - 100)
    seen = seen_map(snap, None, NOW)
    assert seen["pbx1"].how == "records" and seen["pbx1"].at == NOW - 100   # its check results' newest
    silent = replace(snap, observations={}, reports={})
    assert seen_map(silent, None, NOW)["pbx1"].at is None


def test_the_live_cache_records_when_a_lease_went(etcd_url, cluster_name):
    store = seed_cluster(etcd_url, cluster_name)          # a live on a lease
    lease = store.grant_lease(10)
    store.put_server(ServerRecord(name="b", rank=1, health="ok"), lease)
    cache = cache_for(etcd_url, cluster_name, resync=30.0)
    try:
        wait_for(lambda: "b" in (cache.snapshot().servers if cache.snapshot() else {}), 5, "b live")
        before = cache.sightings.last()[0]["b"]
        store.revoke_lease(lease)                          # as etcd does when b's agent stops renewing
        wait_for(lambda: "b" in cache.sightings.last()[1], 5, "the read that finds b's lease gone")
        present, gone = cache.sightings.last()
        assert present["b"] == before < gone["b"] and "a" in present and "a" not in gone
        seen = seen_map(cache.snapshot(), cache.sightings, cache.freshness().ok_at)
        assert not seen["b"].up and seen["b"].gone == gone["b"] and seen["a"].up
    finally:
        cache.stop()
        store.close()
