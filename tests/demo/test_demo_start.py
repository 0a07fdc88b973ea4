"""The demo's PBX starts without painting red: its AMI checks probe before the
fake PBX listens, and the start-up grace keeps those first failures `starting`,
on the first start and on the start after a failover alike."""
import os
import signal

import pytest

from overseer.desired.store.client import EtcdConfig
from overseer.desired.store.local_etcd import free_port
from overseer.desired.store.store import Store
from overseer.reconciler.demo.session import where
from tests.demo.test_demo import Banner, Output, moves_to, start_demo, stop_leaves_nothing
from tests.support.waiting import poll_until

AMI_CHECKS = ("ami", "channels")


def red(snap, server: str) -> list:
    """The failed results the board would draw as red ticks for the PBX's AMI checks on `server`."""
    out = []
    for check in AMI_CHECKS:
        obs = snap.observations.get((server, "pbx", check))
        out += [(check, r) for r in (obs.results if obs else ()) if r[1] == "fail"]
    return out


def answered(store: Store, server: str):
    def ok():
        snap = store.snapshot()
        statuses = [getattr(snap.observations.get((server, "pbx", c)), "status", "") for c in AMI_CHECKS]
        return all(s in ("ok", "warn") for s in statuses) and snap
    return poll_until(ok, 20, f"the AMI checks answered on {server}")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_demo_pbx_starts_and_fails_over_without_a_red_start(tmp_path):
    demo = start_demo(tmp_path, free_port())
    out = Output(demo)
    try:
        banner = Banner(out)
        store = Store(EtcdConfig(endpoints=(banner.etcd,)), "demo")
        try:
            first = where(store.snapshot()).pbx
            snap = answered(store, first)
            assert red(snap, first) == []
            assert [h.message for h in snap.history.get("pbx", ()) if h.kind == "failover"] == []
            other = {"pbx1": "pbx2", "pbx2": "pbx1"}[first]
            os.kill(banner.pid, signal.SIGKILL)
            moves_to(store, other)
            snap = answered(store, other)
            assert red(snap, other) == []
        finally:
            store.close()
        stop_leaves_nothing(out)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
