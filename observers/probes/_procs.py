"""Find the processes a check means: by name, pidfile, systemd unit, cmdline, or the child.

- `name`: every process whose name, executable basename or argv[0] basename
  equals it (Linux truncates `comm` to 15 characters, so argv[0] counts too);
- `cmdline`: every process whose arguments joined by spaces contain it
  (the agent itself is never matched);
- `pidfile`: the one process whose pid the file holds;
- `unit`: the unit's MainPID from `systemctl show` (0 means not running);
- no match: the process actuator's child, pid given by the agent.
Zombies count as dead. Memory and threads are summed over all matches.

Matching by name or cmdline means reading every process in /proc, which was
most of an idle agent's CPU at 1 s intervals. A scan reads only the raw
/proc files it needs (comm, cmdline, the exe link) and hands the few
processes that may match to psutil for the exact rule. And a scan's hits are kept: while
they are all still alive (same pid *and* start time, so never a reused pid),
probes reuse them, and a full scan happens only every RESCAN seconds (to pick
up processes that appeared beside them) or at once when one of them is gone.
A check that finds nothing scans on every probe, so a restarted process is
seen at the next probe.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import psutil

from overseer.desired.checks import PIDFILE_READ, Match, pid_in_pidfile


@dataclass(frozen=True)
class Found:
    processes: tuple            # psutil.Process objects, alive at match time
    what: str                   # "process named nginx", "pid 42 from /run/x.pid", ...
    problem: str = ""           # why nothing was found, when nothing was


_PROC_STAT = os.path.exists("/proc/self/stat")


def _stat(pid: int) -> Optional[tuple[bytes, bytes]]:
    """(state, start time in clock ticks) from /proc/<pid>/stat, or None if gone.
    The name in parentheses may hold spaces and ')': split after the last one."""
    raw = _read(f"/proc/{pid}/stat")
    if not raw:
        return None
    fields = raw.rpartition(b")")[2].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None


class _Proc(psutil.Process):
    """A psutil.Process that remembers its start time in ticks, so that asking
    whether it still runs is one read of /proc/<pid>/stat. psutil's own
    is_running() and status() read it three times (and a new Process once
    more), which was most of what a `process` check cost at 1 s intervals."""

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        stat = _stat(pid) if _PROC_STAT else None
        self.start_ticks = stat[1] if stat else None

    def alive(self) -> bool:
        if self.start_ticks is None:     # no /proc/<pid>/stat here: psutil's way
            try:
                return self.is_running() and self.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                return False
        stat = _stat(self.pid)
        # another start time: the pid was reused; Z: exited, not yet reaped
        return stat is not None and stat[1] == self.start_ticks and stat[0] != b"Z"


RESCAN = 10.0   # seconds a scan's hits are reused while they all stay alive

_scans: dict[tuple[str, str], tuple[float, tuple]] = {}
_scans_lock = threading.Lock()


def _recent(kind: str, needle: str, clock=time.monotonic) -> Optional[Found]:
    """The hits of a recent scan if they are all still alive, else None. Cheap
    (one stat read per hit), so the probe asks it on the event loop and only
    hands a full scan to a thread."""
    with _scans_lock:
        hit = _scans.get((kind, needle))
    if hit is not None and clock() - hit[0] < RESCAN and all(p.alive() for p in hit[1].processes):
        return hit[1]
    return None


_scanning: dict[tuple[str, str], threading.Lock] = {}


def _cached(kind: str, needle: str, scan: Callable[[str], Found], clock=time.monotonic) -> Found:
    """`scan(needle)`, or the hits of a recent one if they are all still alive.

    One scan per needle at a time: checks run on a shared grid (monitor.next_slot),
    so every check of that name finds the cache stale in the same instant, and
    without this each would walk /proc itself. Latecomers take the fresh result."""
    key = (kind, needle)
    with _scans_lock:
        gate = _scanning.setdefault(key, threading.Lock())
    with gate:
        recent = _recent(kind, needle, clock)
        if recent is not None:
            return recent
        now = clock()
        found = scan(needle)
        with _scans_lock:
            if found.processes:
                _scans[key] = (now, found)
            else:
                _scans.pop(key, None)
        return found


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _candidates(wanted: Callable[[int], bool]) -> list[psutil.Process]:
    """Processes `wanted(pid)` lets through, as psutil objects. `wanted` reads
    raw /proc files and must let through every process that could match; the
    callers then apply the exact rule to these few only. Without /proc, every
    process is a candidate."""
    if not os.path.isdir("/proc/self"):
        return [_Proc(proc.pid) for proc in psutil.process_iter()]
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and wanted(int(entry.name)):
            try:
                out.append(_Proc(int(entry.name)))
            except psutil.Error:
                continue
    return out


def _may_be_named(name: str) -> Callable[[int], bool]:
    short, raw = name[:15].encode(), name.encode()

    def wanted(pid: int) -> bool:
        comm = _read(f"/proc/{pid}/comm").rstrip(b"\n")
        # comm is the name cut to 15 characters (kernel threads: sometimes longer)
        if comm and (comm in (raw, short) or raw.startswith(comm)):
            return True
        if raw in _read(f"/proc/{pid}/cmdline").split(b"\0", 1)[0]:
            return True
        try:
            return os.path.basename(os.readlink(f"/proc/{pid}/exe")) == name
        except OSError:
            return False
    return wanted


def _by_name(name: str) -> Found:
    me = os.getpid()
    hits = []
    for proc in _candidates(_may_be_named(name)):
        try:
            info = proc.as_dict(["name", "exe", "cmdline"])
        except psutil.Error:
            continue
        argv0 = (info.get("cmdline") or [""])[0]
        names = {info.get("name"), os.path.basename(info.get("exe") or ""),
                 os.path.basename(argv0)}
        if proc.pid != me and name in names and proc.alive():
            hits.append(proc)
    return Found(tuple(hits), f"process named {name}", f"no process named {name}")


def _by_cmdline(pattern: str) -> Found:
    me = os.getpid()
    hits = []
    raw = pattern.encode()
    for proc in _candidates(lambda pid: raw in _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ")):
        try:
            line = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if proc.pid != me and pattern in line and proc.alive():
            hits.append(proc)
    return Found(tuple(hits), f"process matching {pattern!r}",
                 f"no process whose command line contains {pattern!r}")


_known: dict[int, _Proc] = {}     # pid -> the process last found alive under it


def _process(pid: int) -> Optional[_Proc]:
    """The live process with this pid, reusing the one found before while it
    is the same process (same start time): one /proc read per probe."""
    proc = _known.get(pid)
    if proc is not None and proc.alive():
        return proc
    _known.pop(pid, None)
    try:
        proc = _Proc(pid)
    except psutil.Error:
        return None
    if not proc.alive():
        return None
    if len(_known) >= 1024:           # pids probed once and gone: never let it grow
        _known.clear()
    _known[pid] = proc
    return proc


def _by_pid(pid: Optional[int], what: str, missing: str) -> Found:
    if pid:
        proc = _process(pid)
        if proc is not None:
            return Found((proc,), what)
        return Found((), what, f"{missing}: pid {pid} is not running")
    return Found((), what, missing)


def _by_pidfile(path: str) -> Found:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read(PIDFILE_READ).strip()
    except (OSError, UnicodeDecodeError) as exc:
        return Found((), f"pidfile {path}", f"cannot read pidfile {path}: {getattr(exc, 'strerror', None) or exc}")
    pid = pid_in_pidfile(text)
    if pid is None:
        return Found((), f"pidfile {path}", f"pidfile {path} holds no pid ({text[:20]!r})")
    return _by_pid(pid, f"pid {pid} from {path}", f"pidfile {path}")


async def _by_unit(unit: str) -> Found:
    try:
        proc = await asyncio.create_subprocess_exec(
            "systemctl", "show", "--property=MainPID", "--value", unit,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        return Found((), f"unit {unit}", f"cannot ask about unit {unit}: no systemctl here")
    out, err = await proc.communicate()
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0 or not text.isdigit():
        detail = err.decode(errors="replace").strip().splitlines()[:1]
        return Found((), f"unit {unit}", f"systemctl show {unit} failed: {' '.join(detail)}")
    return _by_pid(int(text), f"main process of {unit}", f"unit {unit} is not running")


async def find(match: Optional[Match], child_pid: Optional[int]) -> Found:
    """Resolve a check's `match` (or the supervised child) to live processes."""
    if match is None:
        return _by_pid(child_pid, "supervised child", "supervised child is not running")
    if match.name is not None:
        return _recent("name", match.name) or await asyncio.to_thread(
            _cached, "name", match.name, _by_name)
    if match.cmdline is not None:
        return _recent("cmdline", match.cmdline) or await asyncio.to_thread(
            _cached, "cmdline", match.cmdline, _by_cmdline)
    if match.pidfile is not None:
        return _by_pidfile(match.pidfile)
    return await _by_unit(match.unit)


def plural(found: Found) -> str:
    """' (3 processes)' when a match summed several, else ''."""
    n = len(found.processes)
    return f" ({n} processes)" if n > 1 else ""


def sum_over(processes, measure: Callable[[psutil.Process], float]) -> tuple[float, int]:
    """Sum `measure` over the matched processes: (total, how many answered).
    A process that exits between matching and measuring is simply skipped."""
    total, seen = 0.0, 0
    for proc in processes:
        try:
            total += measure(proc)
            seen += 1
        except psutil.Error:
            continue
    return total, seen
