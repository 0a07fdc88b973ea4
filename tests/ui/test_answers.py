"""Answers kept per snapshot (ui/answers.py): many requests, one build per
change; ETags and 304; time-bound pages rebuilt when their clock runs out;
and the live cache reads etcd once per revision, not once per resync."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from overseer.desired.state import FailCount, Observation
from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.store import Store
from overseer.ui import timeline as tl
from overseer.ui.answers import Answer, AnswerCache
from overseer.ui.app import create_app
from overseer.ui.live import Freshness, SnapshotCache
from tests.support.waiting import poll_until as wait_for
from tests.ui.seed import seed_cluster
from tests.ui.snapshots import FakeSource, make_snapshot, with_failover

ROUTES = ["/", "/partials/board", "/services/pbx", "/partials/services/pbx", "/timeline",
          "/partials/timeline", "/api/v1/services/pbx", "/api/v1/history", "/api/v1/history?service=pbx"]


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class ClockedSource(FakeSource):
    """A FakeSource whose view was read just now by the test's clock: never stale."""

    def __init__(self, snap, clock: Clock):
        super().__init__(snap)
        self.clock = clock

    def freshness(self) -> Freshness:
        return Freshness(ok_at=self.clock.now)


def snapshot(now: float):
    snap = make_snapshot({"a": "", "b": ""}, {"pbx": ["a", "b"], "web": ["b", "a"]}, now=now)
    return with_failover(snap, "pbx", "b", "a: alive failed 3/3", now=now - 600)


def test_concurrent_requests_for_one_answer_build_it_once():
    cache, started, release = AnswerCache(), threading.Event(), threading.Event()
    snap = object()

    def slow_build():
        started.set()
        release.wait(5)
        return Answer.of(b"body", "text/plain")

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(cache.get, snap, "k", 0.0, slow_build) for _ in range(20)]
        assert started.wait(5)
        release.set()
        bodies = {f.result(timeout=5).body for f in futures}
    assert bodies == {b"body"} and cache.builds == 1
    cache.get(object(), "k", 0.0, slow_build)       # a new snapshot: built again
    assert cache.builds == 2


def test_a_request_on_a_new_snapshot_never_gets_the_answer_being_built_for_the_old_one():
    cache, started, release = AnswerCache(), threading.Event(), threading.Event()
    old, new = object(), object()

    def old_build():
        started.set()
        release.wait(5)
        return Answer.of(b"old", "text/plain")

    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(cache.get, old, "k", 0.0, old_build)
        assert started.wait(5)
        fresh = pool.submit(cache.get, new, "k", 0.0, lambda: Answer.of(b"new", "text/plain"))
        assert fresh.result(timeout=5).body == b"new"
        release.set()
        assert slow.result(timeout=5).body == b"old"
    assert cache.get(new, "k", 0.0, lambda: Answer.of(b"again", "text/plain")).body == b"new"


def test_kept_answers_never_exceed_their_byte_budget():
    cache, snap = AnswerCache(max_bytes=1000), object()
    for i in range(50):
        cache.get(snap, i, 0.0, lambda: Answer.of(b"x" * 300, "text/plain"))
    assert cache._bytes <= 1000 and len(cache._answers) == 3


def test_many_polls_of_every_route_cost_one_build_per_route_per_snapshot():
    clock = Clock(time.time())
    source = FakeSource(snapshot(clock.now))
    app = create_app(source, clock=clock)
    answers = app.extensions["overseer"].answers
    client = app.test_client()
    for _ in range(10):
        for path in ROUTES:
            assert client.get(path).status_code == 200, path
    assert answers.builds == len(ROUTES)
    source.set(with_failover(source.snapshot(), "web", "a", "b: alive failed 3/3", now=clock.now - 5))
    for _ in range(10):
        for path in ROUTES:
            client.get(path)
    assert answers.builds == 2 * len(ROUTES)
    assert "b: alive failed 3/3" in client.get("/api/v1/history").get_data(as_text=True)


def test_an_unchanged_fragment_is_a_304_without_a_body():
    clock = Clock(time.time())
    source = FakeSource(snapshot(clock.now))
    client = create_app(source, clock=clock).test_client()
    first = client.get("/partials/timeline")
    etag = first.headers["ETag"]
    again = client.get("/partials/timeline", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    source.set(with_failover(source.snapshot(), "web", "a", "moved", now=clock.now - 1))
    changed = client.get("/partials/timeline", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and b"moved" in changed.data


def test_a_countdown_is_rebuilt_each_second_and_a_still_board_not_at_all():
    clock = Clock(1_800_000_000.25)
    snap = snapshot(clock.now)
    still = create_app(ClockedSource(snap, clock), clock=clock)
    client = still.test_client()
    assert "moved to b" in client.get("/partials/board").get_data(as_text=True)
    clock.now += 60
    client.get("/partials/board")
    assert still.extensions["overseer"].answers.builds == 1   # ages are counted by the page, not rendered
    clock.now += 3600
    board = client.get("/partials/board").get_data(as_text=True)
    assert "expires in" not in board and "moved to b" not in board   # the move is no longer news
    clock.now += 3600
    client.get("/partials/board")
    assert still.extensions["overseer"].answers.builds == 2   # nothing else on the board depends on time

    counting = replace(snap, failures={("b", "pbx"): FailCount("b", "pbx", 1, clock.now - 20, "down")})
    app = create_app(ClockedSource(counting, clock), clock=clock)
    client = app.test_client()
    assert "expires in 9m40s" in client.get("/partials/board").get_data(as_text=True)
    clock.now += 0.5                                          # the same second: kept
    assert "expires in 9m40s" in client.get("/partials/board").get_data(as_text=True)
    clock.now += 1
    assert "expires in 9m39s" in client.get("/partials/board").get_data(as_text=True)
    assert app.extensions["overseer"].answers.builds == 2


def test_the_timeline_is_kept_until_its_right_edge_moves():
    clock = Clock(1_800_000_000.0)
    app = create_app(ClockedSource(snapshot(clock.now), clock), clock=clock)
    client = app.test_client()
    step = tl.SPAN / tl.WIDTH
    edge = tl.window(clock.now).end
    client.get("/partials/timeline?span=24h")
    clock.now = edge - 0.5
    client.get("/partials/timeline?span=24h")
    assert app.extensions["overseer"].answers.builds == 1
    clock.now = edge + 0.5
    page = client.get("/partials/timeline?span=24h").get_data(as_text=True)
    assert app.extensions["overseer"].answers.builds == 2
    assert time.strftime("%H:%M:%S", time.localtime(edge + step)) in page


class CountingStore:
    """A real Store that records the revision of every whole read, and counts revision checks."""

    def __init__(self, store: Store, log: dict):
        self.store, self.log = store, log

    def snapshot(self):
        snap = self.store.snapshot()
        self.log["read"].append(snap.revision)
        return snap

    def revision(self):
        self.log["checks"] += 1
        return self.store.revision()

    def watch(self, on_change):
        return self.store.watch(on_change)

    def close(self):
        self.store.close()


def test_the_live_view_reads_each_revision_once_however_many_ask(etcd_url, cluster_name):
    seeded = seed_cluster(etcd_url, cluster_name)
    log = {"read": [], "checks": 0}
    cfg = EtcdConfig(endpoints=(etcd_url,), timeout=2.0)
    cache = SnapshotCache(lambda: CountingStore(Store(cfg, cluster_name), log), resync=0.1).start()
    try:
        wait_for(cache.snapshot, 10, "the first snapshot")
        wait_for(lambda: log["checks"] >= 10, 10, "ten resyncs")
        # a resync that read nothing still counts: the view is fresh again right after
        # one (at a 0.1 s resync, fresh means read within 0.3 s, which a loaded
        # machine can miss at any one instant)
        wait_for(lambda: not cache.freshness().stale(time.time()), 10, "a fresh view")
        app = create_app(cache)
        client = app.test_client()
        reads = len(log["read"])
        with ThreadPoolExecutor(8) as pool:
            paths = ["/partials/board", "/partials/timeline", "/api/v1/history"] * 30
            assert set(pool.map(lambda path: client.get(path).status_code, paths)) == {200}
        # 90 requests: served from the snapshot in memory, each answer built once (the
        # timeline may be built once more if its right edge moved meanwhile)
        assert app.extensions["overseer"].answers.builds <= 4
        assert len(log["read"]) - reads <= 1, log   # at most a change that happened meanwhile
        seeded.put_observation(Observation(server="a", service="web", check="up", status="ok",
                                           message="", time=2.0))
        wait_for(lambda: cache.snapshot().observations[("a", "web", "up")].status == "ok", 10,
                 "the change to be read")
        checks = log["checks"]
        wait_for(lambda: log["checks"] >= checks + 10, 10, "ten more resyncs")
        assert len(log["read"]) == len(set(log["read"])), f"a revision was read twice: {log['read']}"
    finally:
        cache.stop()
        seeded.close()
