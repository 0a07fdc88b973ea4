"""What an idle agent costs: CPU, RSS (fencer included) and etcd writes/s.

One real `overseer agent` on a throw-away etcd, 4 services with 5 checks each
(20 checks at 1 s: the supervised child, a process by name, its memory, a TCP
port (etcd's), a disk), all active and healthy. After everything settled, measures
over a window: the agent's and fencer's CPU time (user+system, children such
as the sleeping services not counted), their RSS at the end, and etcd's
revision delta (every put/delete bumps it; lease keep-alives do not).

Prints one JSON line and writes bench/results/idle-<checks>checks.json. Numbers, no asserts.
Run: .venv/bin/python bench/idle.py [--window 30] [--checks 20]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import textwrap
import time
from pathlib import Path

import psutil

from _cluster import Watch, cluster_yaml, local_etcd, running_cluster
from provenance import stamp
from overseer.desired.store import documents
from overseer.desired.store.local_etcd import free_port

RESULTS = Path(__file__).resolve().parent / "results"
SLEEPER = "[python3, -c, 'import time; time.sleep(100000)']"
PEER = "ovs-idle-peer"   # a process the checks find by name, as they would find asterisk


def services_yaml(services: int, port: int, checks: bool = True) -> str:
    out = []
    for i in range(services):
        if not checks:
            out.append(textwrap.dedent(f"""\
                apiVersion: overseer/v1
                kind: Service
                metadata: {{name: svc{i}}}
                spec:
                  candidates: [pbx1]
                  actuator: {{type: process, command: {SLEEPER}, timeout: 2s}}
                """))
            continue
        out.append(textwrap.dedent(f"""\
            apiVersion: overseer/v1
            kind: Service
            metadata: {{name: svc{i}}}
            spec:
              candidates: [pbx1]
              actuator: {{type: process, command: {SLEEPER}, timeout: 2s}}
              checks:
                - {{name: alive, type: process, interval: 1s}}
                - {{name: named, type: process, match: {{name: {PEER}}}, interval: 1s}}
                - {{name: mem, type: memory, match: {{name: {PEER}}}, fail: 100GiB, interval: 1s}}
                - {{name: port, type: tcp, port: {port}, interval: 1s}}
                - {{name: disk, type: disk, path: /, interval: 1s}}
            """))
    return "---\n".join(out)


def agent_processes(agent: psutil.Process) -> tuple[psutil.Process, ...]:
    fencers = [c for c in agent.children()
               if any(a.endswith("fencer.py") or "agent.fencer" in a for a in c.cmdline())]
    return (agent, *fencers)


def cpu_seconds(procs) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--checks", type=int, default=20,
                        help="multiple of 5; 0: one service without checks (the agent's floor)")
    parser.add_argument("--ttl", default="5s", help="leaseTTL (the default is 5s)")
    parser.add_argument("--profile", metavar="FILE",
                        help="also sample the agent with py-spy during the window (collapsed stacks)")
    args = parser.parse_args()
    services = max(1, args.checks // 5)
    peer = subprocess.Popen([PEER, "100000"], executable="sleep")
    with local_etcd() as etcd, running_cluster(etcd.url, "idle") as cluster:
        # the TCP checks connect to etcd's client port: another process, as a PBX port would be
        target = int(etcd.url.rsplit(":", 1)[1])
        cluster.apply(cluster_yaml("idle", ["pbx1"], ttl=args.ttl, ports={"pbx1": free_port()},
                                   extra=services_yaml(services, target, checks=args.checks > 0)))
        agent = psutil.Process(cluster.start_agent("pbx1").pid)
        watch = Watch(cluster)
        started = time.monotonic()
        checks = services * 5 if args.checks > 0 else 0
        watch.until(lambda s: len(s.observations) == checks and all(
            o.status == "ok" for o in s.observations.values()) and all(
            r.role == "active" for r in s.reports.values()) and len(s.reports) == services,
            timeout=60, what="every service active and every check ok")
        watch.close()
        settled = time.monotonic() - started
        time.sleep(3)  # let the start-up writes (history, reports) pass before the window
        procs = agent_processes(agent)
        rev0, cpu0, t0 = documents.revision(cluster.store), cpu_seconds(procs), time.monotonic()
        if args.profile:
            subprocess.run(["py-spy", "record", "-p", str(agent.pid), "-d", str(int(args.window)),
                            "-r", "250", "-f", "raw", "-o", args.profile, "--nonblocking"],
                           capture_output=True, check=False)
        else:
            time.sleep(args.window)
        rev1, cpu1, t1 = documents.revision(cluster.store), cpu_seconds(procs), time.monotonic()
        rss = {p.pid: p.memory_info().rss for p in procs}
        result = {
            "bench": "idle", "checks": checks, "interval_s": 1.0, "lease_ttl": args.ttl, "window_s": round(t1 - t0, 1),
            "settled_s": round(settled, 2),
            "cpu_percent_of_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
            "rss_mb_agent": round(rss[agent.pid] / 2**20, 1),
            "rss_mb_fencer": round(sum(v for k, v in rss.items() if k != agent.pid) / 2**20, 1),
            "rss_mb_total": round(sum(rss.values()) / 2**20, 1),
            "etcd_writes_per_s": round((rev1 - rev0) / (t1 - t0), 3),
            **stamp(),
        }
    peer.kill()
    peer.wait()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"idle-{checks}checks.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
