"""The fault suite's fence agent: a power switch for one lab host.

    power.py HOSTS      HOSTS: the lab's JSON {host: {"ns", "member_pidfile"}, "log": path}

Every Server of the lab names it as its `fence` command, so the master's
agent runs it (from its own namespace) with the dead server in
`OVERSEER_FENCE_SERVER`. It does what pulling the plug does: SIGKILL every
process of that host (agent, fencer, children, commands in flight, stopped
ones too) but its etcd member, which stands for a separate machine of the
lab's etcd cluster. A process belongs to the host when it lives in the
host's network namespace (the test `ip netns pids` makes, on /proc). Exits
0 only once nothing of the host runs any more, which is the promise a real
fence agent (`fence_ipmilan --action=off`) makes.

The host stays off until the lab powers it on again (tests/faults/inject.py:
when the last fault on it heals, as a server back from a power cycle).
Standalone on purpose (stdlib only, no overseer import), as svc.py.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

ROUNDS = 200          # looks at /proc, 10 ms apart: a fork during a kill round is caught by the next
PAUSE = 0.01


def _in_namespace(ns_inode: int, exclude: set[int]) -> list[int]:
    """Live pids whose network namespace is the host's (zombies are dead already)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != ns_inode:
                continue
            with open(f"/proc/{entry}/stat") as src:
                state = src.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            found.append(int(entry))
    return found


def _member(pidfile: str) -> set[int]:
    try:
        with open(pidfile) as src:
            return {int(src.read().strip())}
    except (OSError, ValueError):
        return set()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: power.py HOSTS (the target comes in OVERSEER_FENCE_SERVER)", file=sys.stderr)
        return 2
    with open(argv[1]) as src:
        lab = json.load(src)
    target = os.environ.get("OVERSEER_FENCE_SERVER", "")
    host = lab["hosts"].get(target)
    if host is None:
        print(f"no such host: {target!r}")
        return 1
    ns_inode = os.stat(f"/run/netns/{host['ns']}").st_ino
    keep = _member(host["member_pidfile"]) | {os.getpid()}
    killed: set[int] = set()
    for _ in range(ROUNDS):
        alive = _in_namespace(ns_inode, keep)
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(PAUSE)
    else:
        print(f"{target}: still running after {ROUNDS} rounds: {' '.join(map(str, alive))}")
        return 1
    line = json.dumps({"t": time.time(), "host": target, "by": os.environ.get("OVERSEER_SERVER", "?"),
                       "killed": sorted(killed)})
    fd = os.open(lab["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    print(f"{target}: powered off ({len(killed)} processes killed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
