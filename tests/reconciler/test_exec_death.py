"""An exec service's main process killed: real agents move it at once, not at
the next probe. Its `process` check runs every 5 s with failAfter 3, so
without the pidfd watch the move would take over 10 s."""
from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time

import pytest

from tests.support.cluster import OVERSEER, cluster_yaml
from tests.support.waiting import poll_until

SERVERS = ["pbx1", "pbx2"]

# Idempotent, as exec start commands must be: a live daemon named by the
# pidfile is left alone (a zombie is not live: PID 1 here may reap slowly).
START = """#!/bin/sh
if [ -s svc.pid ] && [ -e /proc/$(cat svc.pid) ] && ! grep -qs '^State:[[:space:]]*[ZX]' /proc/$(cat svc.pid)/status
then exit 0; fi
sleep 100000 >/dev/null 2>&1 </dev/null &
echo $! > svc.pid
"""
STOP = """#!/bin/sh
[ -s svc.pid ] && kill $(cat svc.pid) 2>/dev/null
rm -f svc.pid
"""


def exec_service(bindir) -> str:
    # relative pidfile: each agent runs in its own state directory, so the two
    # co-located agents' daemons and pidfiles never meet
    return textwrap.dedent(f"""\
        apiVersion: overseer/v1
        kind: Service
        metadata: {{name: pbx}}
        spec:
          mode: active-standby
          standby: warm
          candidates: [pbx1, pbx2]
          actuator: {{type: exec, start: [{bindir}/start], stop: [{bindir}/stop], timeout: 2s}}
          checks:
            - {{name: alive, type: process, match: {{pidfile: svc.pid}}, interval: 5s, failAfter: 3}}
        """)


def start_agent_in_its_dir(cluster, server: str) -> None:
    state = cluster.workdir / server
    state.mkdir(exist_ok=True)
    log = open(cluster.workdir / f"{server}.log", "ab")
    cluster.agents[server] = subprocess.Popen(
        [OVERSEER, "agent", "--server", server, "--state-dir", str(state)], env=cluster.env, cwd=state,
        stdout=log, stderr=log, start_new_session=True)


def daemon_pid(cluster, server: str):
    try:
        return int((cluster.workdir / server / "svc.pid").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture
def exec_cluster(cluster, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("start", START), ("stop", STOP)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    cluster.apply(cluster_yaml(cluster.name, SERVERS, extra=exec_service(bindir)))
    for server in SERVERS:
        start_agent_in_its_dir(cluster, server)
    yield cluster
    cluster.stop()
    for server in SERVERS:   # exec daemons are not the agent's children: they outlive it
        pid = daemon_pid(cluster, server)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


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
