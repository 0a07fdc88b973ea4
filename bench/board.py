"""What the board costs per request at 1,000 services x 3 servers x 3 checks.

Two parts:

1. Render time of `/` (median of 10, goal < 200 ms), after a change (the
   status view rebuilt) and on the same snapshot, plus the routes the live
   board polls.
2. `--history N` entries per service (default 200 = the default
   `historyLimit`, spread over the last 24 h; more than the store keeps in a
   snapshot, so an upper bound): CPU seconds and bytes of one request to each
   page and API route, once right after a change and once more on the same
   snapshot (what every further tab or poll costs), and `--tabs` polls of
   the timeline fragment on one snapshot. Each figure is the median of 3.

CPU is the process's CPU time (`time.process_time`), so other load on the
machine changes it little. Run: .venv/bin/python bench/board.py [--history 200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.ui.snapshots

from overseer.desired.state import HistoryEntry  # noqa: E402
from overseer.ui.app import create_app  # noqa: E402
from tests.ui.snapshots import FakeSource, make_snapshot  # noqa: E402

SERVICES, SERVERS, CHECKS, RUNS, GOAL_MS = 1000, 3, 3, 10, 200.0
REPEATS = 3   # per route in the history part: the median is printed
ROUTES = ("/", "/partials/board", "/services/svc0001", "/timeline", "/partials/timeline",
          "/api/v1/status", "/api/v1/services/svc0001", "/api/v1/history",
          "/api/v1/history?service=svc0001", "/metrics")


def build(history: int = 0, now: float = 0.0):
    servers = {f"srv{i}": f"switch-{i % 2}" for i in range(SERVERS)}
    names = list(servers)
    services = {f"svc{n:04d}": [names[n % SERVERS], names[(n + 1) % SERVERS], names[(n + 2) % SERVERS]]
                for n in range(SERVICES)}
    snap = make_snapshot(servers, services, checks=[f"check{c}" for c in range(CHECKS)])
    # make_snapshot reports on active + standby; add the third candidate's checks too
    obs = dict(snap.observations)
    for svc, cands in services.items():
        for c in range(CHECKS):
            key = (cands[2], svc, f"check{c}")
            obs[key] = replace(obs[(cands[0], svc, f"check{c}")], server=cands[2])
    step = 86_000.0 / max(history, 1)
    kept = {svc: tuple(HistoryEntry(service=svc, time=now - 86_000 + i * step + n / 1000, kind="failover",
                                    message=f"{svc}: moved from srv1 to srv2: check sip failed 3 times",
                                    server="srv2", epoch=123456) for i in range(history))
            for n, svc in enumerate(services)} if history else {}
    return replace(snap, observations=obs, history=kept)


def timed(client, path: str, fresh_snapshot=None, source=None) -> float:
    if fresh_snapshot is not None:
        source.set(replace(fresh_snapshot, revision=fresh_snapshot.revision + 1))
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


def render_part() -> None:
    snap = build()
    source = FakeSource(snap)
    client = create_app(source).test_client()
    print(f"snapshot: {SERVICES} services x {SERVERS} servers x {CHECKS} checks "
          f"= {len(snap.observations)} observations")
    cold = [timed(client, "/", snap, source) for _ in range(RUNS)]  # new snapshot each time
    warm = [timed(client, "/") for _ in range(RUNS)]                 # status view memoised
    frag = [timed(client, "/partials/board") for _ in range(RUNS)]
    api = [timed(client, "/api/v1/status") for _ in range(RUNS)]
    metrics = [timed(client, "/metrics") for _ in range(RUNS)]
    size = len(client.get("/").data)
    for label, runs in (("/ after a change (status view rebuilt)", cold),
                        ("/ same snapshot", warm), ("/partials/board", frag),
                        ("/api/v1/status", api), ("/metrics", metrics)):
        print(f"{label:40s} median {statistics.median(runs):7.1f} ms   max {max(runs):7.1f} ms")
    print(f"page size {size / 1024:.0f} KiB")
    median = statistics.median(cold)
    verdict = "OK" if median < GOAL_MS else "TOO SLOW"
    print(f"board render median {median:.1f} ms (goal < {GOAL_MS:.0f} ms): {verdict}")


def cpu_and_bytes(client, path: str) -> tuple[float, int]:
    start = time.process_time()
    response = client.get(path)
    cpu = time.process_time() - start
    assert response.status_code == 200, (path, response.status_code)
    return cpu, len(response.data)


def history_part(history: int, tabs: int) -> None:
    now = time.time()
    snap = build(history, now)
    source = FakeSource(snap)
    client = create_app(source).test_client()
    print(f"\nwith {history} history entries per service ({SERVICES * history:,} in the snapshot)")
    print(f"{'route':36s} {'CPU after a change':>18s} {'CPU same snapshot':>18s} {'bytes':>12s}")
    revision = snap.revision
    for path in ROUTES:
        cold, warm = [], []
        for _ in range(REPEATS):
            revision += 1
            source.set(replace(snap, revision=revision))   # a change: nothing memoised
            cpu, size = cpu_and_bytes(client, path)
            cold.append(cpu)
            warm.append(cpu_and_bytes(client, path)[0])
        print(f"{path:36s} {statistics.median(cold) * 1000:15.0f} ms "
              f"{statistics.median(warm) * 1000:15.0f} ms {size:12,d}")
    source.set(replace(snap, revision=revision + 1))
    start = time.process_time()
    for _ in range(tabs):
        cpu_and_bytes(client, "/partials/timeline")
    print(f"{tabs} polls of /partials/timeline on one snapshot: "
          f"{(time.process_time() - start) * 1000:.0f} ms CPU in all")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=200, help="history entries per service (0: skip)")
    parser.add_argument("--tabs", type=int, default=20, help="timeline polls on one snapshot")
    parser.add_argument("--skip-render", action="store_true", help="only the history part")
    args = parser.parse_args()
    if not args.skip_render:
        render_part()
    if args.history:
        history_part(args.history, args.tabs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
