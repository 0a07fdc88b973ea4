"""PostgreSQL failover and idle cost: Overseer and Patroni side by side.

Same machine, same etcd, two real PostgreSQL 15 servers on loopback (primary +
streaming replica) under each stack in turn. Rows: Patroni with its defaults
(ttl 30, loop_wait 10, retry_timeout 10), Patroni at its validated minimums
(ttl 20, loop_wait 1, retry_timeout 3), Overseer at leaseTTL 2 s and at 20 s
(tests/support/cluster.py's defaults otherwise: checks every 200 ms,
failAfter 2, failoverMargin 200 ms), and at 2 s with PostgreSQL under the
`exec` actuator (`pg_ctl start`, followed through postmaster.pid) with the
product's default check interval of 1 s: its death is heard through a pidfd.

Scenarios, each on a freshly built pair:
- `postmaster`: kill -9 of the primary's postmaster;
- `server`: loss of the primary's whole server (its agent or Patroni, and its
  postgres, stopped and killed together).
The kill lands at a seeded random point of the dead member's renewal period
(`loop_wait` for Patroni, leaseTTL/8 for Overseer): a kill right after a
renewal and one right before it differ by that period, and fixed timing would
always land on the same side.
Measured: from the kill until the first INSERT commits on whichever node,
on a connection opened after the kill (INSERTs are tried on both every 10 ms;
a backend of a killed postmaster goes on committing on its old connection for
a moment, which is not "writes work again"), and whether any node but the
survivor committed after the survivor's first such commit ("two writers",
old connections included).
Idle: over a window with nothing happening, the member's own CPU (the agent
and its fencer, or Patroni; postgres not counted), RSS, and etcd writes/s
(revision delta; lease keep-alives are not writes).

Writes bench/results/pg-side-by-side.json and bench/results/pg-failover.png;
bench/report.py puts the table in docs/benchmarks.md.
Run: .venv/bin/python bench/pg_side_by_side.py [--runs 3] [--idle 30]
     [--rows 2,4 --scenario server]   (re-measure some cells, keep the rest)
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import local_etcd  # noqa: E402
import report  # noqa: E402
from provenance import stamp  # noqa: E402
from _pg import OverseerPair, PatroniPair, Writers, wait  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
ROWS = [
    ("Patroni, defaults (ttl 30, loop_wait 10, retry_timeout 10)", "patroni", dict(ttl=30, loop_wait=10, retry_timeout=10)),
    ("Patroni, minimums (ttl 20, loop_wait 1, retry_timeout 3)", "patroni", dict(ttl=20, loop_wait=1, retry_timeout=3)),
    ("Overseer, leaseTTL 2 s", "overseer", dict(ttl=2.0)),
    ("Overseer, leaseTTL 20 s (Patroni's minimum ttl)", "overseer", dict(ttl=20.0)),
    ("Overseer, leaseTTL 2 s, exec actuator (pg_ctl, check every 1 s)", "overseer",
     dict(ttl=2.0, actuator="exec")),
]
SCENARIOS = ("postmaster", "server")


def build(stack: str, cfg: dict, etcd_url: str, n: int):
    if stack == "patroni":
        return PatroniPair(etcd_url, scope=f"bench{n}", **cfg)
    return OverseerPair(etcd_url, cfg["ttl"], f"pgbench{n}", cfg.get("actuator", "process"))


def renewal_period(stack: str, cfg: dict) -> float:
    """How often the primary's member proves it is alive to etcd."""
    return float(cfg["loop_wait"]) if stack == "patroni" else cfg["ttl"] / 8


def one_failover(pair, scenario: str, timeout: float, phase: float) -> dict:
    writers = Writers(pair.ports)
    try:
        wait(lambda: writers.commits[pair.primary], 30, "a first write on the primary")
        time.sleep(phase)
        t0 = time.monotonic()
        (pair.kill_postmaster if scenario == "postmaster" else pair.kill_server)()
        try:
            wait(lambda: writers.first_after(t0) is not None, timeout, "a write after the fault")
        except TimeoutError:   # a result too: that stack did not recover within the timeout
            return {"seconds": None, "timed_out_after": timeout, "two_writers": writers.two_writers(t0)}
        node, t1 = writers.first_after(t0)
        time.sleep(3.0)   # keep writing on both: a second writer would show here
        return {"seconds": round(t1 - t0, 3), "wrote_first": node, "two_writers": writers.two_writers(t0),
                "phase_s": round(phase, 3)}
    finally:
        writers.close()


def idle_cost(pair, etcd_url: str, window: float) -> dict:
    time.sleep(3.0)   # start-up writes pass first
    procs = [p for s in pair.SERVERS for p in pair.processes(s)]
    per_member = len(pair.SERVERS)

    def cpu() -> float:
        return sum(p.cpu_times().user + p.cpu_times().system for p in procs)

    rev0, c0, t0 = _revision(etcd_url), cpu(), time.monotonic()
    time.sleep(window)
    rev1, c1, t1 = _revision(etcd_url), cpu(), time.monotonic()
    rss = sum(p.memory_info().rss for p in procs) / per_member
    return {"cpu_percent_of_core": round(100 * (c1 - c0) / (t1 - t0) / per_member, 2),
            "rss_mb": round(rss / 2**20, 1),
            "etcd_writes_per_s": round((rev1 - rev0) / (t1 - t0) / per_member, 3)}


def _revision(etcd_url: str) -> int:
    from overseer.desired.store.client import EtcdConfig, connect
    client = connect(EtcdConfig(endpoints=(etcd_url,)))
    try:
        return client.get_response(b"/", count_only=True).header.revision
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="failovers per row and scenario")
    parser.add_argument("--idle", type=float, default=30.0, help="idle window in seconds")
    parser.add_argument("--only", choices=("patroni", "overseer"), help="one stack only")
    parser.add_argument("--rows", help="comma-separated row numbers (1-5) to run; the others keep "
                                       "their last results in the JSON")
    parser.add_argument("--scenario", choices=SCENARIOS, help="one scenario only (the other keeps its last results)")
    parser.add_argument("--seed", type=int, default=1, help="seeds the kill phases")
    args = parser.parse_args()
    wanted = {int(x) for x in args.rows.split(",")} if args.rows else set(range(1, len(ROWS) + 1))
    path = RESULTS / "pg-side-by-side.json"
    partial = args.only or args.rows or args.scenario
    earlier = json.loads(path.read_text()) if partial and path.exists() else {"rows": []}
    kept = {r["row"]: r for r in earlier["rows"]}
    results = {"bench": "pg-side-by-side", "runs": args.runs, "cores": psutil.cpu_count(), "rows": [], **stamp()}
    if kept and earlier.get("commit") not in (None, results["commit"]):
        # a partial run keeps the other rows and scenarios as they were measured
        results["commit"] += f" (the cells not rerun: {earlier['commit']}, {earlier.get('date')})"
    rng = random.Random(args.seed)
    n = 0
    with local_etcd() as etcd:
        for i, (label, stack, cfg) in enumerate(ROWS, start=1):
            if (args.only and stack != args.only) or i not in wanted:
                if label in kept:
                    results["rows"].append(kept[label])
                continue
            row = dict(kept.get(label, {}), row=label, stack=stack, config=cfg)
            timeout = cfg["ttl"] * 3 + 30
            for scenario in SCENARIOS:
                if args.scenario and scenario != args.scenario:
                    continue
                runs = []
                for _ in range(args.runs):
                    n += 1
                    pair = build(stack, cfg, etcd.url, n)
                    try:
                        if not runs and (scenario == SCENARIOS[0] or "idle" not in row):
                            row["idle"] = idle_cost(pair, etcd.url, args.idle)
                            print(f"{label}: idle {row['idle']}", flush=True)
                        phase = rng.uniform(0, renewal_period(stack, cfg))
                        runs.append(one_failover(pair, scenario, timeout, phase))
                    finally:
                        pair.close()
                    print(f"{label} / {scenario}: {runs[-1]}", flush=True)
                times = [r["seconds"] for r in runs if r["seconds"] is not None]
                row[scenario] = {"runs": runs,
                                 "p50": round(statistics.median(times), 3) if times else None,
                                 "max": max(times) if times else None,
                                 "timed_out": sum(1 for r in runs if r["seconds"] is None),
                                 "two_writers": sum(1 for r in runs if r["two_writers"])}
            results["rows"].append(row)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "pg-failover.png")
    print(report.pg_table(results))


def plot(results: dict, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (make bench installs it): no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(11, 4), sharey=False)
    for ax, scenario in zip(axes, SCENARIOS):
        rows = [r for r in results["rows"] if scenario in r]
        data = [[x["seconds"] for x in r[scenario]["runs"] if x["seconds"] is not None] or [0.0] for r in rows]
        ax.boxplot(data, orientation="horizontal", whis=(0, 100))
        for i, d in enumerate(data, start=1):
            ax.plot(d, [i] * len(d), "o", alpha=0.6)
        ax.set_yticks(range(1, len(rows) + 1), [r["row"].split(" (")[0] for r in rows], fontsize=8)
        ax.set_xlabel("seconds until the first INSERT commits")
        ax.set_title(f"kill -9 of the primary's {'postmaster' if scenario == 'postmaster' else 'whole server'}")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
