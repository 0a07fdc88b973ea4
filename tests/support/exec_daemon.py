"""An `exec` service whose daemon is a real process with a pidfile, for real
agents: the start/stop scripts, the Service, and agents that each run in
their own state directory (the pidfile path is relative, so two co-located
agents' daemons and pidfiles never meet)."""
from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

from tests.support.cluster import OVERSEER

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


def exec_service(bindir, interval: str = "5s", fail_after: int = 3) -> str:
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
            - {{name: alive, type: process, match: {{pidfile: svc.pid}}, interval: {interval}, failAfter: {fail_after}}}
        """)


def start_agent_in_its_dir(cluster, server: str, **env: str) -> None:
    """`env`: variables this agent alone gets beside the cluster's."""
    state = cluster.workdir / server
    state.mkdir(exist_ok=True)
    log = open(cluster.workdir / f"{server}.log", "ab")
    cluster.agents[server] = subprocess.Popen(
        [OVERSEER, "agent", "--server", server, "--state-dir", str(state)], env=dict(cluster.env, **env),
        cwd=state, stdout=log, stderr=log, start_new_session=True)


def daemon_pid(cluster, server: str):
    try:
        return int((cluster.workdir / server / "svc.pid").read_text())
    except (OSError, ValueError):
        return None


def write_scripts(bindir: Path) -> None:
    bindir.mkdir(exist_ok=True)
    for name, text in (("start", START), ("stop", STOP)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)


def kill_daemons(cluster, servers) -> None:
    """exec daemons are not the agent's children: they outlive it."""
    for server in servers:
        pid = daemon_pid(cluster, server)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
