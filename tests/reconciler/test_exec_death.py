"""An exec service's main process killed: real agents move it at once, not at
the next probe. Its `process` check runs every 5 s with failAfter 3, so
without the pidfd watch the move would take over 10 s."""
from __future__ import annotations

import os
import signal
import time

import pytest

from tests.support.cluster import cluster_yaml
from tests.support.exec_daemon import daemon_pid, exec_service, kill_daemons, start_agent_in_its_dir, write_scripts
from tests.support.waiting import poll_until

SERVERS = ["pbx1", "pbx2"]


@pytest.fixture
def exec_cluster(cluster, tmp_path):
    write_scripts(tmp_path / "bin")
    cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=exec_service(tmp_path / "bin")))
    for server in SERVERS:
        start_agent_in_its_dir(cluster, server)
    yield cluster
    cluster.stop()
    kill_daemons(cluster, SERVERS)


def role(snap, server: str):
    report = snap.reports.get((server, "pbx"))
    return report.role if report else None


def test_killed_exec_daemon_moves_the_service_before_any_probe(exec_cluster):
    cluster = exec_cluster
    cluster.wait_for(lambda s: role(s, "pbx1") == "active" and role(s, "pbx2") == "standby",
                     what="pbx active on pbx1, standby on pbx2")
    pid = daemon_pid(cluster, "pbx1")
    poll_until(lambda: f"watching pid {pid} from pidfile svc.pid" in (cluster.workdir / "pbx1.log").read_text(),
               10, "pbx1's agent to watch its daemon")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    snap = cluster.wait_for(lambda s: role(s, "pbx2") == "active", timeout=20, what="pbx active on pbx2")
    took = time.monotonic() - killed
    print(f"exec daemon kill -9 -> active on pbx2: {took:.3f}s (check interval 5s, failAfter 3)")
    assert took < 5.0, f"the move took {took:.2f}s: it waited for probes"
    reasons = [h.message for h in snap.history.get("pbx", ())]
    assert any("main process" in r and "exited" in r for r in reasons), reasons
