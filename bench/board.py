"""Server-side render time of the board `/` for 1,000 services x 3 servers x 3 checks.

Prints the median of 10 renders (goal: < 200 ms), plus the first (cold) render
that also builds the status view, and the fragment and JSON routes the live
board polls. Run: .venv/bin/python bench/board.py
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.ui.snapshots

from overseer.ui.app import create_app  # noqa: E402
from tests.ui.snapshots import FakeSource, make_snapshot  # noqa: E402

SERVICES, SERVERS, CHECKS, RUNS, GOAL_MS = 1000, 3, 3, 10, 200.0


def build():
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
    return replace(snap, observations=obs)


def timed(client, path: str, fresh_snapshot=None, source=None) -> float:
    if fresh_snapshot is not None:
        source.set(replace(fresh_snapshot, revision=fresh_snapshot.revision + 1))
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


def main() -> int:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
