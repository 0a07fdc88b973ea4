"""Scale: 1,000 services on 10 real agents, then 300 actives lost at once.

Phase 1: servers s01..s10 (leaseTTL 5 s, the default), 1,000 active-standby
services, each with a cold standby on the next server, a `process` actuator
running `sleep` and a process check every 5 s: 100 actives per agent. It
measures the time until all 1,000 run, then holds for `--stable` seconds and
counts lease losses (the agents' "lease ... expired" / "registered with a new
lease" lines), services whose active moved or whose child was restarted, the
agents' CPU and RSS, and etcd writes/s.

Phase 2: servers f1..f3 (leaseTTL 2 s), 300 services all preferring f1;
kill -9 of f1's agent. Per service, the time from the kill until another
server reports it active; p50 / p99 / max against leaseTTL + 2 s.

Writes bench/results/scale.json and bench/results/scale-failover.png.
Run: .venv/bin/python bench/scale.py [--services 1000] [--agents 10] [--stable 600] [--moved 300]
"""
from __future__ import annotations

import argparse
import base64
import datetime
import json
import re
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import local_etcd, percentile, running_cluster  # noqa: E402
from provenance import stamp  # noqa: E402

from overseer.desired.state import ServiceReport  # noqa: E402
from overseer.desired.store import documents  # noqa: E402
from overseer.desired.store.keys import REPORT  # noqa: E402
from tests.support.peers.local import free_port  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LEASE_LOST = re.compile(r"lease \w+ expired in etcd|registered with a new lease")


def docs(name: str, servers: list[str], ttl: str, services: int, candidates, check_interval: str) -> str:
    out = [textwrap.dedent(f"""\
        apiVersion: overseer/v1
        kind: Cluster
        metadata: {{name: {name}}}
        spec:
          hierarchy: [{", ".join(servers)}]
          leaseTTL: {ttl}
          failoverMargin: 200ms
          serverHealth: {{load1PerCPU: {{warn: 500, fail: 1000}}, memoryPercent: {{warn: 99, fail: 100}}, disk: {{path: /, warn: 99%, fail: 100%}}}}
        """)]
    for s in servers:
        out.append(f"apiVersion: overseer/v1\nkind: Server\nmetadata: {{name: {s}}}\n"
                   f"spec: {{address: 127.0.0.1, agentPort: {free_port()}, failureDomain: d-{s}}}\n")
    for i in range(services):
        out.append(textwrap.dedent(f"""\
            apiVersion: overseer/v1
            kind: Service
            metadata: {{name: svc{i:04d}}}
            spec:
              standby: cold
              candidates: [{", ".join(candidates(i))}]
              actuator: {{type: process, command: [sleep, "1000000"]}}
              checks: [{{name: alive, type: process, interval: {check_interval}}}]
            """))
    return "---\n".join(out)


def _lines(cluster, server: str) -> list[str]:
    return (cluster.workdir / f"{server}.log").read_text(errors="replace").splitlines()


def _count(cluster, server: str, what: str) -> int:
    return sum(1 for ln in _lines(cluster, server) if what in ln)


def _stamp(line: str) -> float:
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _phases(cluster, survivors: list[str], killed: float) -> dict:
    """Seconds from the kill, from the survivors' logs: where the failover's time goes."""
    stamped = ((_stamp(ln), ln) for s in survivors for ln in _lines(cluster, s) if ln[:4].isdigit())
    lines = sorted((t, ln) for t, ln in stamped if t >= killed)

    def first(what: str) -> float | None:
        return next((round(t - killed, 3) for t, ln in lines if what in ln), None)
    actives = [t for t, ln in lines if "now active" in ln]
    return {"new_master": first("became master"), "first_move_decided": first("f1: down"),
            "first_started": round(actives[0] - killed, 3) if actives else None,
            "last_started": round(actives[-1] - killed, 3) if actives else None}


def runs_active(r: ServiceReport) -> bool:
    """What counts as "active there": the role, a good outcome and a live child."""
    return r.role == "active" and r.outcome == "ok" and bool(r.pid)


def active_map(snap) -> dict[str, tuple[str, int]]:
    return {svc: (server, r.pid) for (server, svc), r in snap.reports.items() if runs_active(r)}


class ReportStream:
    """Role reports as etcd delivers them, timed on arrival: no reads at all.

    Re-reading the cluster after every change (as first written) made the
    bench itself one of the busiest processes on the two cores during the
    burst it times: 40 MB of range answers in 4 s."""

    def __init__(self, cluster):
        self.keys, self.client = cluster.store.keys, cluster.store.client
        self.lock, self.changed = threading.Lock(), threading.Event()
        self.active: dict[str, tuple[str, float]] = {}   # service -> (server, first seen active there)
        self.error: Exception | None = None
        self.id = self.client.add_watch_prefix_callback(self.keys.actual_prefix(), self._batch)

    def _batch(self, batch) -> None:
        seen = time.monotonic()
        if isinstance(batch, Exception):
            self.error = batch
        else:
            events = batch if isinstance(batch, list) else json.loads(batch).get("result", {}).get("events", [])
            for event in events:
                kv = event.get("kv", {})
                key = base64.b64decode(kv.get("key", "")).decode()
                if event.get("type") == "DELETE" or not key.endswith("/" + REPORT):
                    continue
                r = ServiceReport.from_json(base64.b64decode(kv.get("value", "")))
                with self.lock:
                    if runs_active(r):
                        if self.active.get(r.service, ("",))[0] != r.server:
                            self.active[r.service] = (r.server, seen)
                    elif self.active.get(r.service, ("",))[0] == r.server:
                        del self.active[r.service]
        self.changed.set()

    def until(self, predicate: Callable[[dict], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.changed.clear()
            with self.lock:
                if predicate(dict(self.active)):
                    return
            if self.error is not None:
                raise RuntimeError(f"watch ended while waiting for {what}: {self.error}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
            self.changed.wait(0.25)

    def close(self) -> None:
        self.client.cancel_watch(self.id)


def lease_losses(cluster) -> int:
    return sum(len(LEASE_LOST.findall((cluster.workdir / f"{s}.log").read_text(errors="replace")))
               for s in cluster.agents)


def phase_many(etcd_url: str, services: int, agents: int, stable: float) -> dict:
    servers = [f"s{i + 1:02d}" for i in range(agents)]
    with running_cluster(etcd_url, "scale") as cluster:
        t_apply = time.monotonic()
        cluster.apply(docs("scale", servers, "5s", services,
                           lambda i: (servers[i % agents], servers[(i + 1) % agents]), "5s"))
        applied = time.monotonic() - t_apply
        started = time.monotonic()
        for s in servers:
            cluster.start_agent(s)
        # polled every second, not read on every change: a whole-cluster read
        # per change by the bench itself took a core from the agents it measures
        deadline = started + 900
        while True:
            snap = cluster.snapshot()
            if len(active_map(snap)) == services:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"not all {services} services active after 900 s: "
                                   f"{len(active_map(snap))}\n{cluster.logs()}")
            time.sleep(1.0)
        placed = time.monotonic() - started
        print(f"placed {services} services on {agents} agents in {placed:.1f} s (apply {applied:.1f} s)", flush=True)
        before, losses0 = active_map(snap), lease_losses(cluster)
        procs = [psutil.Process(p.pid) for p in cluster.agents.values()]
        procs += [c for p in procs for c in p.children() if "fencer" in " ".join(c.cmdline())]
        cpu0 = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        rev0, t0 = documents.revision(cluster.store), time.monotonic()
        moved: set[str] = set()
        while time.monotonic() - t0 < stable:
            time.sleep(min(10.0, stable))
            now = active_map(cluster.snapshot())
            moved |= {svc for svc, where in before.items() if now.get(svc) != where}
        t1 = time.monotonic()
        cpu1 = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
        rev1 = documents.revision(cluster.store)
        rss = [p.memory_info().rss / 2**20 for p in procs[:agents]]
        return {"services": services, "agents": agents, "apply_s": round(applied, 1),
                "placed_s": round(placed, 1), "stable_window_s": round(t1 - t0),
                "lease_losses": lease_losses(cluster) - losses0, "services_moved_or_restarted": len(moved),
                "cpu_percent_of_core_per_agent": round(100 * (cpu1 - cpu0) / (t1 - t0) / agents, 2),
                "rss_mb_per_agent_max": round(max(rss), 1),
                "etcd_writes_per_s": round((rev1 - rev0) / (t1 - t0), 3)}


def phase_lost(etcd_url: str, services: int) -> dict:
    servers = ["f1", "f2", "f3"]
    with running_cluster(etcd_url, "lost") as cluster:
        cluster.apply(docs("lost", servers, "2s", services, lambda i: servers, "2s"))
        stream = ReportStream(cluster)   # before the agents: no report may come before it
        try:
            for s in servers:
                cluster.start_agent(s)
            stream.until(lambda act: sum(1 for srv, _ in act.values() if srv == "f1") == services,
                         timeout=600, what=f"all {services} services active on f1")
            time.sleep(3.0)
            fences_before = {s: _count(cluster, s, "self-fencing") for s in servers}
            t0, killed_wall = time.monotonic(), time.time()
            cluster.kill("f1")
            stream.until(lambda act: sum(1 for srv, _ in act.values() if srv != "f1") == services,
                         timeout=120, what=f"all {services} services moved off f1")
            moved = {svc: seen - t0 for svc, (srv, seen) in stream.active.items() if srv != "f1"}
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n{cluster.logs()}") from None
        finally:
            stream.close()
        became_master = [ln for s in servers[1:] for ln in _lines(cluster, s) if "became master" in ln]
        phases = _phases(cluster, servers[1:], killed_wall)
    times = sorted(moved.values())
    return {"services": services, "lease_ttl_s": 2.0, "bound_s": 4.0,
            "self_fences_while_starting": fences_before, "new_master_log": became_master[-1:],
            "phases_s": phases,
            "p50_s": round(statistics.median(times), 3), "p99_s": round(percentile(times, 99), 3),
            "max_s": round(max(times), 3), "within_bound": sum(1 for t in times if t <= 4.0),
            "times": [round(t, 3) for t in times]}


def plot(lost: dict, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (make bench installs it): no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 3.5))
    times = lost["times"]
    ax.plot(times, [(i + 1) / len(times) for i in range(len(times))], drawstyle="steps-post")
    ax.axvline(lost["bound_s"], color="red", linestyle="--", label="leaseTTL + 2 s")
    ax.axvline(lost["lease_ttl_s"], color="grey", linestyle=":", label="leaseTTL")
    ax.set_xlabel("seconds from kill -9 of the agent until the service is active elsewhere")
    ax.set_ylabel(f"fraction of {lost['services']} services")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--stable", type=float, default=600.0)
    parser.add_argument("--moved", type=int, default=300)
    args = parser.parse_args()
    result = {"bench": "scale", "cores": psutil.cpu_count(), **stamp()}
    with local_etcd() as etcd:
        if args.services:
            result["many"] = phase_many(etcd.url, args.services, args.agents, args.stable)
            print(json.dumps(result["many"]), flush=True)
        if args.moved:
            result["lost"] = phase_lost(etcd.url, args.moved)
            print(json.dumps({k: v for k, v in result["lost"].items() if k != "times"}), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    if "lost" in result:
        plot(result["lost"], RESULTS / "scale-failover.png")


if __name__ == "__main__":
    main()
