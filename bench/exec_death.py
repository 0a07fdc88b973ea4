"""Bench: `kill -9` of an `exec` service's daemon -> started as active on the standby.

One cluster of two real agents (pbx1, pbx2) on this machine; service `pbx`
is an `exec` service whose start command leaves a daemon behind and writes
its pidfile, warm standby, with one `process` check on that pidfile every
`--interval` (default 5 s, failAfter 3). `kill -9` the active's daemon, time
until the snapshot shows the other server's report role=active; wait until
the old server is a warm standby again, and kill the new active's daemon: the
service ping-pongs (each round waits for the old server's check to be ok
again, up to an interval). Without the pidfd watch (actuators/death_watch.py) each
move waits for failAfter probes: over 10 s at the default interval.

Run: .venv/bin/python bench/exec_death.py [--runs 10] [--interval 5s]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cluster import BenchTimeout, Watch, cluster_yaml, local_etcd, running_cluster, summary  # noqa: E402
from tests.support.exec_daemon import (  # noqa: E402
    daemon_pid, exec_service, kill_daemons, start_agent_in_its_dir, write_scripts,
)

SERVERS = ("pbx1", "pbx2")


def role(snap, server: str):
    report = snap.reports.get((server, "pbx"))
    return report.role if report else None


def ready_standby(snap, server: str) -> bool:
    obs = snap.observations.get((server, "pbx", "alive"))
    return role(snap, server) == "standby" and bool(obs) and obs.status == "ok"


def watched(cluster, server: str, pid: int) -> bool:
    log = cluster.workdir / f"{server}.log"
    return f"watching pid {pid} from pidfile svc.pid" in log.read_text(errors="replace")


def kills(etcd_url: str, name: str, runs: int, interval: str) -> list[float]:
    took: list[float] = []
    with running_cluster(etcd_url, name) as cluster, tempfile.TemporaryDirectory() as tmp, \
            contextlib.ExitStack() as cleanup:
        # each runs whatever ends the bench, the ones after it too if one fails:
        # exec daemons are nobody's children, they would outlive us
        cleanup.callback(kill_daemons, cluster, SERVERS)
        cleanup.callback(cluster.stop)
        bindir = Path(tmp) / "bin"
        write_scripts(bindir)
        cluster.apply(cluster_yaml(cluster.name, list(SERVERS), extra=exec_service(bindir, interval)))
        for server in SERVERS:
            start_agent_in_its_dir(cluster, server)
        watch = Watch(cluster)
        cleanup.callback(watch.close)
        snap, _ = watch.until(lambda s: {role(s, x) for x in SERVERS} == {"active", "standby"}, 30,
                              "one active, one standby")
        for _ in range(runs):
            active = next(x for x in SERVERS if role(snap, x) == "active")
            other = SERVERS[1 - SERVERS.index(active)]
            pid = daemon_pid(cluster, active)
            deadline = time.monotonic() + 10
            while not watched(cluster, active, pid):   # the agent holds its pidfd
                if time.monotonic() > deadline:
                    raise BenchTimeout(f"{active} never watched pid {pid}\n{cluster.logs()}")
                time.sleep(0.01)
            killed = time.monotonic()
            os.kill(pid, 9)
            snap, seen = watch.until(lambda s: role(s, other) == "active", 30, f"pbx active on {other}")
            took.append(seen - killed)
            # its check, failed at once by the exit, is ok again only at its next probe
            snap, _ = watch.until(lambda s: ready_standby(s, active), 60, f"{active} a ready warm standby again")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="daemon kills (default 10)")
    parser.add_argument("--interval", default="5s", help="the process check's interval (default 5s)")
    args = parser.parse_args()
    with local_etcd() as etcd:
        print(f"etcd {etcd.url}; {args.runs} exec daemon kills; process check every {args.interval}, failAfter 3")
        try:
            took = kills(etcd.url, f"bench-exec-death-{os.getpid()}", args.runs, args.interval)
        except BenchTimeout as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    print(summary("exec daemon kill -9 -> active on the standby", took, "(goal p50 <= 0.5 s)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
