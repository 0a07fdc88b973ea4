"""The runtime store on a real etcd: election txn, fencing, snapshot, watch."""
import socket
import threading
import time

import pytest

from overseer.desired.state import (Assignment, FailCount, HistoryEntry, Observation, ServerRecord,
                                    ServiceReport)
from overseer.desired.store.client import EtcdConfig, ServerReturned, StaleEpoch
from overseer.desired.store.own_reports import ReportMoved
from overseer.desired.store.store import LeaseLost, Store


@pytest.fixture
def store(etcd_url, cluster_name):
    s = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    yield s
    s.close()


def test_campaign_only_one_wins_and_epoch_is_create_revision(store):
    l1, l2 = store.grant_lease(5), store.grant_lease(5)
    won = store.campaign("pbx1", l1)
    assert won is not None and won.server == "pbx1"
    assert store.campaign("pbx2", l2) is None
    master = store.get_master()
    assert master == won
    assert store.epoch_is(won.epoch)


def test_stale_epoch_write_is_refused(store):
    lease = store.grant_lease(5)
    first = store.campaign("pbx1", lease)
    assert store.resign(first)
    second = store.campaign("pbx2", store.grant_lease(5))
    assert second.epoch > first.epoch
    with pytest.raises(StaleEpoch):
        store.write_decisions(first.epoch, [Assignment("svc", ("pbx1",), (), first.epoch)])
    store.write_decisions(second.epoch, [Assignment("svc", ("pbx2",), (), second.epoch, "r")],
                          [HistoryEntry("svc", time.time(), "placement", "r")])
    snap = store.snapshot()
    assert snap.assignments["svc"].active == ("pbx2",)
    assert snap.history["svc"][0].kind == "placement"


def test_decision_that_took_a_server_for_gone_is_refused_once_it_registered_again(store):
    won = store.campaign("pbx1", store.grant_lease(5))
    store.write_decisions(won.epoch, [Assignment("svc", ("pbx2",), (), won.epoch, "first")])
    # pbx2 is gone (no record): the move away from it is written
    store.write_decisions(won.epoch, [Assignment("svc", ("pbx3",), (), won.epoch, "moved")],
                          gone={"svc": ("pbx2",)})
    assert store.snapshot().assignments["svc"].active == ("pbx3",)
    store.put_server(ServerRecord("pbx3", "10.0.0.3", 2), store.grant_lease(5))
    with pytest.raises(ServerReturned, match="pbx3 registered again"):
        store.write_decisions(won.epoch, [Assignment("svc", ("pbx1",), (), won.epoch, "again")],
                              [HistoryEntry("svc", time.time(), "failover", "again")],
                              gone={"svc": ("pbx3",)})
    snap = store.snapshot()
    assert snap.assignments["svc"].reason == "moved"       # nothing of the refused decision landed
    assert all(h.message != "again" for h in snap.history.get("svc", ()))
    # services assuming nothing still get written beside a refused one's chunk
    store.write_decisions(won.epoch, [Assignment("other", ("pbx1",), (), won.epoch, "r")])
    assert store.snapshot().assignments["other"].active == ("pbx1",)


def test_assignments_are_current_only_under_the_masters_epoch_and_exactly_as_written(store):
    won = store.campaign("pbx1", store.grant_lease(5))
    written = [Assignment(f"svc{i:03}", ("pbx1",), ("pbx2",), won.epoch, "r") for i in range(150)]
    store.write_decisions(won.epoch, written)
    changed = Assignment("svc007", ("pbx2",), ("pbx1",), won.epoch, "moved")
    store.write_decisions(won.epoch, [changed])
    never = Assignment("nowhere", ("pbx1",), (), won.epoch, "r")
    stale_epoch = Assignment("svc001", ("pbx1",), ("pbx2",), won.epoch - 1, "r")
    # more than one transaction's worth (MAX_OPS), mixed epochs, one changed, one absent
    asked = written + [changed, never, stale_epoch]
    got = store.assignments_current(asked)
    assert got == [a.service != "svc007" for a in written] + [True, False, False]
    assert store.assignments_current([changed, written[7]]) == [True, False]
    assert store.resign(won)
    assert store.assignments_current(written[:3]) == [False, False, False]


def test_put_many_writes_every_kind_of_record_in_chunks(store):
    reports = [ServiceReport("pbx1", f"svc{i:03}", "active", 3) for i in range(230)]
    store.put_many([*reports, Observation("pbx1", "svc000", "alive", "ok", 1.0, "", 1.0),
                    FailCount("pbx1", "svc000", 2, 5.0, "crashed")])
    snap = store.snapshot()
    assert {svc for (_, svc) in snap.reports} == {r.service for r in reports}
    assert snap.observations[("pbx1", "svc000", "alive")].status == "ok"
    assert snap.failures[("pbx1", "svc000")].count == 2


def test_a_report_write_landing_after_a_newer_one_changes_nothing(store):
    # A write given up on (a cut link, a new lease) may reach etcd late; it
    # must not put an older step-down over the newer report the master reads.
    store.put_report(ServiceReport("pbx1", "svc", "active", 3, "ok", "promote done", 1.0))
    late = store.report_writes([ServiceReport("pbx1", "svc", "standby", 3, "ok", "self-fenced", 2.0)])
    store.put_report(ServiceReport("pbx1", "svc", "standby", 4, "ok", "standby", 3.0))
    with pytest.raises(ReportMoved):
        store.put_reports(late)
    assert store.snapshot().reports[("pbx1", "svc")].epoch == 4
    store.put_report(ServiceReport("pbx1", "svc", "active", 4, "ok", "promote done", 4.0))
    assert store.snapshot().reports[("pbx1", "svc")].time == 4.0


def test_a_new_agent_learns_its_reports_in_etcd_on_its_first_write(store, etcd_url, cluster_name):
    store.put_report(ServiceReport("pbx1", "svc", "active", 3, "ok", "promote done", 1.0))
    restarted = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    try:
        report = ServiceReport("pbx1", "svc", "standby", 5, "ok", "start done", 2.0)
        with pytest.raises(ReportMoved):
            restarted.put_report(report)      # it took the key for absent: nothing written
        assert store.snapshot().reports[("pbx1", "svc")].epoch == 3
        restarted.put_report(report)
        assert store.snapshot().reports[("pbx1", "svc")].epoch == 5
    finally:
        restarted.close()


def test_snapshot_reads_every_record_kind(store):
    lease = store.grant_lease(5)
    store.put_server(ServerRecord("pbx1", address="10.0.0.1", rank=0, health="ok"), lease)
    store.put_observation(Observation("pbx1", "svc", "alive", "ok", 1.0, "", 1.0))
    store.put_report(ServiceReport("pbx1", "svc", "active", 3))
    store.set_paused("svc", True)
    snap = store.snapshot()
    assert snap.servers["pbx1"].address == "10.0.0.1"
    assert snap.observations[("pbx1", "svc", "alive")].status == "ok"
    assert snap.reports[("pbx1", "svc")].role == "active"
    assert snap.is_paused("svc") and not snap.is_paused("other")
    store.revoke_lease(lease)
    assert "pbx1" not in store.snapshot().servers


def test_keepalive_of_a_revoked_lease_raises(store):
    lease = store.grant_lease(5)
    assert store.keepalive(lease) >= 4
    store.revoke_lease(lease)
    with pytest.raises(LeaseLost):
        store.keepalive(lease)


def test_rescue_keepalive_renews_on_a_fresh_connection_that_then_carries_the_lease(store):
    store.dedicate_lease_channel(2.0)
    lease = store.grant_lease(5)
    before = store._lease_client
    assert before is not None and before is not store.client
    assert store.rescue_keepalive(lease, 2.0) > 0
    after = store._lease_client
    assert after is not before and after is not store.client   # the old one may sit in TCP back-off
    assert store.keepalive(lease) > 0                           # the fresh connection carries on
    store.revoke_lease(lease)
    with pytest.raises(LeaseLost):
        store.rescue_keepalive(lease, 2.0)
    assert store._lease_client is after                         # a failed rescue replaces nothing


def _connections_waiting(listener) -> int:
    listener.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_rescues_start_at_successive_endpoints(etcd_url, cluster_name):
    """A server cut off with its etcd member still reaches that member, which
    holds a renewal until it hears its leader again: rescues that all began
    there fenced on short link flaps. Each rescue now starts at the next
    endpoint. A member that accepts and never answers stands in for it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    cfg = EtcdConfig(endpoints=(f"http://127.0.0.1:{silent.getsockname()[1]}", etcd_url))
    store = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    try:
        store.dedicate_lease_channel(2.0)
        lease = store.grant_lease(5)
        store.cfg = cfg   # set up on the live member alone; the rescues see both
        assert store.rescue_keepalive(lease, 0.3) > 0   # begins at the silent one, times out, goes on
        assert store.rescue_keepalive(lease, 0.3) > 0   # begins at the live one
        assert store.rescue_keepalive(lease, 0.3) > 0   # the silent one again
        assert _connections_waiting(silent) == 2
    finally:
        store.close()
        silent.close()


def test_watch_calls_back_on_change(store):
    seen = threading.Event()
    cancel = store.watch(seen.set)
    assert seen.wait(10)  # the watch calls back once it is established
    seen.clear()
    store.set_paused("x", True)
    assert seen.wait(10)
    cancel()


class _CapturedWatcher:
    """Stands in for PrefixWatcher: the test hands batches to Store.watch's callback."""
    last = None

    def __init__(self, client, prefix, on_change, cfg, **_):
        _CapturedWatcher.last = on_change

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass


def test_watch_skips_a_batch_only_when_every_key_is_unused(store):
    calls: list[int] = []
    store._watcher = _CapturedWatcher
    history = store.keys.history_prefix().encode()
    store.watch(lambda: calls.append(1), unused=lambda key: key.startswith(history))
    batch = _CapturedWatcher.last
    batch([history + b"svc/1"])
    assert calls == []                           # all unused: skipped
    batch([history + b"svc/2", store.keys.master().encode()])
    assert calls == [1]                          # one used key wakes the consumer
    batch(None)
    batch([])
    assert calls == [1, 1, 1]                    # keys unknown (a re-created watch): always


def test_history_trim_keeps_newest(store):
    for i in range(7):
        store.append_history(HistoryEntry("svc", 1000.0 + i, "check", f"m{i}"))
    assert store.trim_history("svc", 3) == 4
    assert [h.message for h in store.history("svc")] == ["m4", "m5", "m6"]


def test_revision_moves_with_any_write_and_matches_the_snapshot(store):
    snap = store.snapshot()
    assert store.revision() == snap.revision, "an idle agent reuses its snapshot on this equality"
    store.put_server(ServerRecord("pbx1"), store.grant_lease(5))
    assert store.revision() > snap.revision
    assert store.revision() == store.snapshot().revision
