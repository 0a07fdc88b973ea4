"""Master hand-over time after `kill -9` of the master agent.

Each run: a fresh cluster name on one local etcd, 3 real `overseer agent`
processes (hierarchy pbx1, pbx2, web1), wait until pbx1 is master and all
three are registered, SIGKILL pbx1's agent, and time until the master key
names pbx2 (watch-driven; the key's disappearance, i.e. the lease expiry, is
timed too). Prints p50/p99/max next to the leaseTTL: expect about leaseTTL
plus campaignDelay (300 ms in the bench cluster) plus etcd's lease granularity.

Run: .venv/bin/python bench/election.py [--runs 20] [--ttl 2s]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cluster import (  # noqa: E402
    BenchTimeout, Watch, cluster_yaml, local_etcd, running_cluster, seconds, summary,
)

SERVERS = ["pbx1", "pbx2", "web1"]


def one_run(etcd_url: str, name: str, ttl: str) -> tuple[float, float]:
    """Returns (kill -> master key gone, kill -> pbx2 master)."""
    with running_cluster(etcd_url, name) as cluster:
        cluster.apply(cluster_yaml(name, SERVERS, ttl=ttl))
        for server in SERVERS:
            cluster.start_agent(server)
        watch = Watch(cluster)
        try:
            first, _ = watch.until(lambda s: s.master and s.master.server == "pbx1" and len(s.servers) == 3,
                                   timeout=30, what="pbx1 master with 3 servers")
            killed = time.monotonic()
            cluster.kill("pbx1")
            gone_at = None

            def next_master(snap):
                nonlocal gone_at
                if gone_at is None and (snap.master is None or snap.master.server != "pbx1"):
                    gone_at = time.monotonic()
                return snap.master and snap.master.server == "pbx2"

            snap, seen = watch.until(next_master, timeout=seconds(ttl) + 15, what="pbx2 master")
            if snap.master.epoch <= first.master.epoch:
                raise BenchTimeout(f"run {name}: epoch did not grow ({first.master} -> {snap.master})")
            return (gone_at or seen) - killed, seen - killed
        finally:
            watch.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ttl", default="2s", help="the Cluster's leaseTTL (default 2s)")
    args = parser.parse_args()
    gone, elected = [], []
    tag = f"bench-election-{os.getpid()}"
    started = time.monotonic()
    with local_etcd() as etcd:
        print(f"etcd {etcd.url}; {args.runs} runs; leaseTTL {args.ttl}; hierarchy {', '.join(SERVERS)}")
        for run in range(args.runs):
            try:
                g, e = one_run(etcd.url, f"{tag}-{run}", args.ttl)
            except BenchTimeout as exc:
                print(f"run {run}: FAILED\n{exc}", file=sys.stderr)
                return 1
            gone.append(g)
            elected.append(e)
            print(f"run {run:2d}: master key gone {g:.3f}s, pbx2 master {e:.3f}s", flush=True)
    ttl = seconds(args.ttl)
    print(summary("kill -9 master -> master key gone (lease expiry)", gone))
    print(summary("kill -9 master -> pbx2 master", elected,
                  f"(leaseTTL {args.ttl}; p50 - TTL = {statistics.median(elected) - ttl:+.3f}s)"))
    print(f"total bench time {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
