"""Fence records on a real etcd: written under the master's epoch only while
the server has no record, deleted by its registration, confirmed by hand
only while it is down; so a record always speaks of the outage going on now."""
import time

import pytest

from overseer.desired.state import FenceOutcome, FenceRecord, HistoryEntry, HistoryKind, ServerRecord
from overseer.desired.store.client import EtcdConfig, ServerReturned, StaleEpoch
from overseer.desired.store.store import Store


@pytest.fixture
def store(etcd_url, cluster_name):
    s = Store(EtcdConfig(endpoints=(etcd_url,)), cluster=cluster_name)
    yield s
    s.close()


def _record(outcome=FenceOutcome.OK, epoch=0, server="pbx1") -> FenceRecord:
    now = time.time()
    return FenceRecord(server, now - 0.4, now, outcome, epoch, 1, "Success: Powered OFF", ("pbx",), "pbx2", 10.0)


def test_a_fence_and_its_history_land_together_under_the_epoch(store):
    won = store.campaign("pbx2", store.grant_lease(5))
    entry = HistoryEntry("pbx", time.time(), HistoryKind.FENCE, "pbx1 fenced", "pbx1", won.epoch)
    store.write_fence(won.epoch, _record(epoch=won.epoch), [entry])
    snap = store.snapshot()
    assert snap.fences["pbx1"].off and snap.fences["pbx1"].services == ("pbx",)
    assert snap.history["pbx"][-1].message == "pbx1 fenced"
    assert store.resign(won)
    with pytest.raises(StaleEpoch):
        store.write_fence(won.epoch, _record(FenceOutcome.FAILED, won.epoch))
    assert store.snapshot().fences["pbx1"].outcome == FenceOutcome.OK


def test_a_server_that_registered_is_not_fenced_and_its_registration_forgets_the_last_fence(store):
    won = store.campaign("pbx2", store.grant_lease(5))
    store.write_fence(won.epoch, _record(epoch=won.epoch))
    store.put_server(ServerRecord("pbx1", "10.0.0.1"), store.grant_lease(5))
    assert "pbx1" not in store.snapshot().fences          # deleted by the registration
    with pytest.raises(ServerReturned):
        store.write_fence(won.epoch, _record(FenceOutcome.PENDING, won.epoch))
    assert "pbx1" not in store.snapshot().fences


def test_a_confirmation_by_hand_only_while_the_server_is_down(store):
    store.put_server(ServerRecord("pbx1", "10.0.0.1"), store.grant_lease(5))
    assert not store.confirm_fence(_record(FenceOutcome.CONFIRMED))
    assert "pbx1" not in store.snapshot().fences
    assert store.confirm_fence(_record(FenceOutcome.CONFIRMED, server="pbx3"))
    assert store.snapshot().fences["pbx3"].outcome == FenceOutcome.CONFIRMED
