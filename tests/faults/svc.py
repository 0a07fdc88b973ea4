"""The fault suite's test service: a supervised child and its promote/demote
commands, each appending what it did to a journal outside the cluster.

    svc.py child   JOURNAL CTL     the service process (runs until SIGTERM)
    svc.py promote JOURNAL CTL     the promote command
    svc.py demote  JOURNAL CTL     the demote command

Who and under which epoch comes from the OVERSEER_* environment the actuator
gives (docs/interfaces.md, "What a service gets"). Each journal line is one JSON object
`{"t", "server", "service", "role", "epoch", "action", "pid"}` written with a
single O_APPEND write, so lines from several processes never interleave.

`action` is `start`/`exit` for the child (pid = its own), and `resume` when
it runs again after a stall (a frozen host thawing): the first thing it does
then, as a real service answers what queued up meanwhile, so the checker
sees a thawed active act beside its successor. For a command
`promote-begin` then `promote` (success, pid = the child it promoted, from
the pid file the child wrote) or `promote-fail`; likewise for demote. A
command that was told to hang never writes its success line: the actuator's
timeout kills it, and the checker must not count it as done.

Faults are files in CTL named `<server>.<service>.<promote|demote>` holding
`hang` or `fail` (written and removed by the runner). Standalone on purpose
(stdlib only, no overseer import): it starts fast and cannot share a bug
with the code it checks.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

CHILD_WAIT = 1.0    # seconds; below every actuator timeout the suite uses
TICK = 0.1          # seconds between the child's looks at the clock
STALL = 0.3         # seconds unaccounted for between two looks: it was stopped

def _who() -> dict:
    env = os.environ
    return {"server": env.get("OVERSEER_SERVER", "?"), "service": env.get("OVERSEER_SERVICE", "?"),
            "role": env.get("OVERSEER_ROLE", "?"), "epoch": int(env.get("OVERSEER_EPOCH", "0") or 0)}


def append(journal: str, action: str, pid: int) -> None:
    line = json.dumps({"t": time.time(), **_who(), "action": action, "pid": pid}) + "\n"
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _pidfile(ctl: str) -> str:
    who = _who()
    return os.path.join(ctl, f"{who['server']}.{who['service']}.pid")


def child(journal: str, ctl: str) -> None:
    def stop(signum, frame):
        append(journal, "exit", os.getpid())
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    # Journal the start before publishing the pid: a promote reads the pid
    # file, and its journal line must come after this one. The other order
    # let a promote land first, and the checker read it as "no live child"
    # and the service as stuck (seed 389 of a 200-schedule run).
    append(journal, "start", os.getpid())
    with open(_pidfile(ctl) + ".tmp", "w") as out:
        out.write(str(os.getpid()))
    os.replace(_pidfile(ctl) + ".tmp", _pidfile(ctl))
    # time.sleep waits for a monotonic deadline, so a child stopped past it
    # wakes at once when it continues, and its first act is this line.
    before = time.monotonic()
    while True:
        time.sleep(TICK)
        now = time.monotonic()
        if now - before > TICK + STALL:
            append(journal, "resume", os.getpid())
        before = now


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as src:
            return src.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _live_child(ctl: str, wait: float) -> int:
    """The pid of this server's live child, waiting up to `wait` seconds: the
    actuator runs promote right after spawning the child, often before the
    child has started far enough to write its pid file (0: none came)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(_pidfile(ctl)) as src:
                pid = int(src.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if (pid and _alive(pid)) or time.monotonic() > deadline:
            return pid if pid and _alive(pid) else 0
        time.sleep(0.01)


def command(action: str, journal: str, ctl: str) -> int:
    who = _who()
    pid = _live_child(ctl, CHILD_WAIT)
    append(journal, f"{action}-begin", pid)
    try:
        with open(os.path.join(ctl, f"{who['server']}.{who['service']}.{action}")) as src:
            fault = src.read().strip()
    except OSError:
        fault = ""
    if fault == "hang":
        time.sleep(3600)     # the actuator's timeout kills us; no success line
    if fault == "fail":
        append(journal, f"{action}-fail", pid)
        return 1
    append(journal, action, pid)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in ("child", "promote", "demote"):
        print("usage: svc.py child|promote|demote JOURNAL CTL", file=sys.stderr)
        return 2
    what, journal, ctl = argv[1:]
    if what == "child":
        child(journal, ctl)
        return 0
    return command(what, journal, ctl)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
