"""Which process is an exec or systemd service's main process, and whether to watch it.

The agent did not start it as its child, so it learns the pid the way the
service's `process` checks name it (desired/checks.py `Match`), or for a
systemd unit from systemd (`systemctl show -p MainPID`). One candidate is
taken, in this order: a pidfile, a unit's MainPID, the one root process of a
name or command-line match. It is watched only if every other `process`
match of the service agrees with it, and:

- it is alive and not a zombie;
- it is neither the agent itself nor one of its ancestors, nor PID 1;
- from a pidfile: it did not start after the pidfile was last written (with
  FRESH_SLACK for the kernel's start-time rounding). A process starts before
  it (or its launcher) writes its pidfile; one that started later holds a
  pid reused after the pidfile's process died, and is not the service;
- from a name or command line: exactly one matching process has no matching
  parent (PostgreSQL's postmaster among its backends); several such roots
  are several services, and none is watched.

`NotYet`: nothing to watch now, perhaps later (a daemon still writing its
pidfile); `Refused`: something was found that is not the service's process.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import psutil

from overseer.desired.checks import PIDFILE_READ, Match, pid_in_pidfile

FRESH_SLACK = 2.0   # seconds: psutil's start times rest on a boot time in whole seconds

MainPidOf = Callable[[str], Awaitable[int]]
"""A unit's MainPID (0: not running); raises NotYet when systemd cannot tell."""


class NotWatched(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NotYet(NotWatched):
    """No process to watch now: asked again until the step's timeout."""


class Refused(NotWatched):
    """A process was found, but it is not the service's main process."""


@dataclass(frozen=True)
class MainProcess:
    pid: int
    what: str            # "pid 42 from pidfile /run/kamailio.pid", "unit asterisk.service (pid 42)"
    started: float       # its start time: the pidfd opened afterwards must be on this same process


def _ancestors() -> set[int]:
    pids, pid = {1}, os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = psutil.Process(pid).ppid()
        except psutil.Error:
            break
    return pids


def _live(pid: int, what: str) -> psutil.Process:
    if pid in _ancestors():
        raise Refused(f"{what} names pid {pid}: the agent itself, one of its ancestors, or PID 1")
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise NotYet(f"{what}: pid {pid} has exited")
    except psutil.NoSuchProcess:
        raise NotYet(f"{what}: pid {pid} is not running") from None
    except psutil.AccessDenied:
        pass   # another user's process: alive, which is what was asked
    return proc


def read_pidfile(path: str) -> int:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read(PIDFILE_READ).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise NotYet(f"cannot read pidfile {path}: {getattr(exc, 'strerror', None) or exc}") from None
    pid = pid_in_pidfile(text)
    if pid is None:
        raise NotYet(f"pidfile {path} holds no pid ({text[:20]!r})")
    return pid


def _fresh(proc: psutil.Process, path: str) -> None:
    try:
        written = os.stat(path).st_mtime
        started = proc.create_time()
    except (OSError, psutil.Error) as exc:
        raise NotYet(f"pidfile {path}: {exc}") from None
    if started > written + FRESH_SLACK:
        raise Refused(f"pid {proc.pid} from {path} started {started - written:.1f}s after the pidfile "
                      "was written: a reused pid, not the service's process")


def named(proc: psutil.Process, name: str) -> bool:
    """The `process` check's rule: its name, its executable's or argv[0]'s basename."""
    try:
        info = proc.as_dict(["name", "exe", "cmdline"])
    except psutil.Error:
        return False
    argv0 = (info.get("cmdline") or [""])[0]
    return name in {info.get("name"), os.path.basename(info.get("exe") or ""), os.path.basename(argv0)}


def with_cmdline(proc: psutil.Process, pattern: str) -> bool:
    try:
        return pattern in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def _matches(match: Match) -> Callable[[psutil.Process], bool]:
    if match.name is not None:
        return lambda proc: named(proc, match.name)
    return lambda proc: with_cmdline(proc, match.cmdline)


def _root(match: Match, what: str) -> int:
    """The one matching process whose parent does not match (blocking: a /proc scan)."""
    me, wanted = os.getpid(), _matches(match)
    hits = {}
    for proc in psutil.process_iter():
        if proc.pid != me and wanted(proc):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    hits[proc.pid] = proc.ppid()
            except psutil.Error:
                continue
    roots = sorted(pid for pid, parent in hits.items() if parent not in hits)
    if not roots:
        raise NotYet(f"no {what}")
    if len(roots) > 1:
        raise Refused(f"{len(roots)} separate {what}s ({', '.join(map(str, roots[:5]))}): "
                      "which one is the service is not known")
    return roots[0]


def _describe(match: Match) -> str:
    if match.pidfile is not None:
        return f"pidfile {match.pidfile}"
    if match.unit is not None:
        return f"unit {match.unit}"
    if match.name is not None:
        return f"process named {match.name}"
    return f"process whose command line contains {match.cmdline!r}"


def _order(match: Match) -> int:
    return (match.pidfile is None, match.unit is None, match.name is None)


async def _candidate(match: Match, main_pid_of: MainPidOf) -> int:
    what = _describe(match)
    if match.pidfile is not None:
        return read_pidfile(match.pidfile)
    if match.unit is not None:
        pid = await main_pid_of(match.unit)
        if not pid:
            raise NotYet(f"{what} has no main process (not running)")
        return pid
    return await asyncio.to_thread(_root, match, what)


async def _agrees(pid: int, proc: psutil.Process, match: Match, main_pid_of: MainPidOf) -> bool:
    if match.pidfile is not None:
        return read_pidfile(match.pidfile) == pid
    if match.unit is not None:
        return await main_pid_of(match.unit) == pid
    return _matches(match)(proc)


async def resolve(matches: Sequence[Match], main_pid_of: MainPidOf) -> MainProcess:
    """The service's main process per `matches` (at least one); NotYet or Refused."""
    ordered = sorted(matches, key=_order)
    first = ordered[0]
    what = _describe(first)
    pid = await _candidate(first, main_pid_of)
    proc = _live(pid, what)
    if first.pidfile is not None:
        _fresh(proc, first.pidfile)
    for other in ordered[1:]:
        if not await _agrees(pid, proc, other, main_pid_of):
            raise Refused(f"pid {pid} from {what} is not the {_describe(other)} of another process check")
    label = f"pid {pid} from {what}" if first.pidfile is not None else f"{what} (pid {pid})"
    return MainProcess(pid, label, started_at(pid))


def started_at(pid: int) -> float:
    """Its start time (NotYet if it is gone): two reads differ only for two processes."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        raise NotYet(f"pid {pid} is not running") from None


def parse_main_pid(text: str, unit: str) -> int:
    """`systemctl show -p MainPID --value UNIT`'s answer."""
    text = text.strip()
    if not text.isdigit():
        raise NotYet(f"systemctl show {unit}: MainPID {text[:20]!r} is not a pid")
    return int(text)
