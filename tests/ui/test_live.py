"""SnapshotCache on a real etcd: watch-driven refresh, stale on outage, recovery."""
from __future__ import annotations

import time

from overseer.desired.state import Observation
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.local_etcd import LocalEtcd, free_port
from overseer.desired.store.store import Store
from overseer.ui.app import create_app
from overseer.ui.live import SnapshotCache
from tests.ui.seed import seed_cluster
from tests.support.waiting import poll_until as wait_for


def cache_for(url: str, cluster: str, resync: float = 5.0) -> SnapshotCache:
    cfg = EtcdConfig(endpoints=(url,), timeout=1.0)
    return SnapshotCache(lambda: Store(cfg, cluster), resync=resync).start()


def test_watch_refreshes_the_snapshot(etcd_url, cluster_name):
    store = seed_cluster(etcd_url, cluster_name)
    cache = cache_for(etcd_url, cluster_name, resync=30.0)  # only the watch can be this quick
    try:
        snap = wait_for(cache.snapshot, 5, "first snapshot")
        assert snap.observations[("a", "web", "up")].status == "fail"
        store.put_observation(Observation(server="a", service="web", check="up", status="ok",
                                          message="", time=2.0))
        wait_for(lambda: cache.snapshot().observations[("a", "web", "up")].status == "ok", 3,
                 "the watch to deliver the change")
        client = create_app(cache).test_client()
        assert client.get("/api/v1/status").get_json()["services"]["web"]["status"] == "warn"
        assert client.get("/healthz").status_code == 200
    finally:
        cache.stop()
        store.close()


def test_unreachable_etcd_from_the_start_is_reported(cluster_name):
    cache = cache_for(f"http://127.0.0.1:{free_port()}", cluster_name, resync=0.5)
    try:
        assert cache.wait_first(10)
        fresh = cache.freshness()
        assert "etcd" in fresh.error and "127.0.0.1" in fresh.error
        client = create_app(cache).test_client()
        html = client.get("/").get_data(as_text=True)
        assert "no etcd view yet (trying since " in html
        assert client.get("/healthz").status_code == 503
    finally:
        cache.stop()


def test_outage_keeps_last_snapshot_marks_it_stale_and_recovers(cluster_name, tmp_path):
    etcd = LocalEtcd(data_dir=str(tmp_path / "etcd")).start()
    store = seed_cluster(etcd.url, cluster_name)
    store.close()
    cache = cache_for(etcd.url, cluster_name, resync=0.3)
    try:
        wait_for(cache.snapshot, 5, "first snapshot")
        etcd.kill()
        fresh = wait_for(lambda: (lambda f: f if f.error else None)(cache.freshness()), 10,
                         "the cache to notice the outage")
        assert cache.snapshot() is not None and cache.snapshot().cluster == cluster_name
        client = create_app(cache).test_client()
        html = client.get("/").get_data(as_text=True)
        assert "etcd view stale since " + time.strftime("%H:%M:%S",
                                                         time.localtime(fresh.error_since)) in html
        assert 'data-service="web"' in html  # the last view is still shown
        wait_for(lambda: client.get("/healthz").status_code == 503, 10, "healthz to turn 503")
        etcd.start()
        wait_for(lambda: not cache.freshness().error, 15, "the cache to recover")
        assert client.get("/healthz").status_code == 200
        assert "stale since" not in client.get("/").get_data(as_text=True)
    finally:
        cache.stop()
        etcd.stop()
