"""An etcd that stalls (SIGSTOP, then SIGCONT) moves nothing, whatever the stall's length.

A stalled etcd that resumes without a leader change finds every lease expired
by its own clock and revokes them all at once, unlike a restarted etcd, which
extends them. While the servers still reach each other, failsafe keeps every
active; after the stall each agent takes a new lease and keeps what it runs
(docs/design-choices.md, "After a cluster-wide lease expiry").
"""
import os
import signal
import threading
import time

import psutil
import pytest

from overseer.desired.store.local_etcd import LocalEtcd
from tests.support.cluster import Cluster, cluster_yaml, running_pid
from tests.support.cluster import sleeper_service as service
from tests.support.waiting import holds_for, poll_until

SERVERS = ["pbx1", "pbx2", "web1"]


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def own_etcd(tmp_path):
    etcd = LocalEtcd(data_dir=str(tmp_path / "etcd")).start()
    yield etcd
    try:
        os.kill(etcd.proc.pid, signal.SIGCONT)   # never leave a stopped etcd behind
    except ProcessLookupError:
        pass
    etcd.stop()


@pytest.mark.parametrize("stall", [1.0, 2.5])   # x leaseTTL
def test_an_etcd_stall_moves_nothing(own_etcd, tmp_path, cluster_name, stall):
    ttl = 2.0
    cluster = Cluster(own_etcd.url, cluster_name, tmp_path)
    try:
        cluster.apply(cluster_yaml(cluster.name, SERVERS, ttl=f"{ttl:g}s", extra=service()))
        for server in SERVERS:
            cluster.start_agent(server)
        snap = cluster.wait_for(lambda s: running_pid(s, "pbx1") and len(s.servers) == 3
                                and s.reports.get(("pbx2", "pbx")) is not None
                                and s.reports[("pbx2", "pbx")].role == "standby", what="pbx on pbx1")
        child, master = running_pid(snap, "pbx1"), snap.master.server
        standby = snap.reports[("pbx2", "pbx")].pid
        died: list[float] = []

        def watch():
            while _alive(child) and (standby is None or _alive(standby)):
                time.sleep(0.005)
            died.append("the active child" if not _alive(child) else "the warm standby's child")
        threading.Thread(target=watch, daemon=True).start()
        cluster.store.close()
        cluster._store = None

        os.kill(own_etcd.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(stall * ttl)   # the fault itself: how long etcd is frozen
        finally:
            os.kill(own_etcd.proc.pid, signal.SIGCONT)
        resumed = time.monotonic()

        logs = {server: tmp_path / f"{server}.log" for server in SERVERS}
        snap = cluster.wait_for(lambda s: s.master is not None and len(s.servers) == 3
                                and all(s.reports.get((srv, "pbx")) is not None for srv in ("pbx1", "pbx2")),
                                timeout=30, what="every agent registered again after the stall")
        # two leases' worth after the resume: anything that would move did so by now
        holds_for(lambda: not died, 2 * ttl,
                  f"the active child on pbx1 (pid {child}) and the warm standby's on pbx2 (pid {standby}) "
                  f"running through the stall ({died})")
        snap = cluster.snapshot()
        assert snap.assignments["pbx"].active == ("pbx1",), snap.assignments["pbx"]
        assert running_pid(snap, "pbx1") == child
        if stall > 1.5:   # every lease expired at the resume: the history says why nothing moved
            cluster.wait_for(lambda s: any(e.kind == "kept" and e.server == "pbx1"
                                           for e in s.history.get("pbx", ())),
                             timeout=10, what="pbx's history saying its active was kept")
        for server, path in logs.items():
            text = path.read_text()
            assert "self-fencing" not in text, (server, text[-4000:])
        print(f"stall {stall * ttl:.1f}s (leaseTTL {ttl:g}s): pbx stayed on pbx1 (pid {child}); "
              f"master {master} -> {snap.master.server}; checked {time.monotonic() - resumed:.1f}s after resume")
    finally:
        cluster.stop()
