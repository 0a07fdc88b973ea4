"""Watches the real processes behind the journal, independently of the agents.

A thread tails the journal for children's `start` lines and every ~20 ms asks
the kernel (`/proc/<pid>/stat`) whether each known child still lives; a
zombie counts as dead (a stopped agent cannot reap). It keeps, per child, the
last time it was seen alive: the checker ends an active there, so sampling
lag can only shorten what it counts as active, never lengthen it.

It also keeps when each child was stopped (state `T`: a frozen host): a
stopped process acts for nobody. A stop counts from the last sample that saw
the child running, and ends at the first evidence that it runs again: a
sample that sees it running, or a journal line it wrote after it was seen
stopped (the test child journals `resume` first thing after a stall). So
the stop can hide a short double at its start, never invent one at its end.

`live()` also gives the current "who is active" from the journal so far, which
the runner uses to aim faults ("the active of pbx") and to wait for calm.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Optional

PERIOD = 0.02


def state(pid: int) -> str:
    """The process's state letter from /proc (`R`, `S`, `T` stopped, `Z`...); "" if gone."""
    try:
        with open(f"/proc/{pid}/stat") as src:
            return src.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def alive(pid: int) -> bool:
    return state(pid) not in ("", "Z", "X")


STOPPED = ("T", "t")
CHILD_OWN = ("start", "exit", "resume")   # lines the child writes itself (a command's name its pid too)


class Sampler:
    def __init__(self, journal: Path):
        self.journal = Path(journal)
        self.events: list[dict] = []
        self.last_alive: dict[int, float] = {}    # pid -> last seen alive, for children now dead
        self._seen: dict[int, float] = {}         # pid -> last seen alive, for children alive
        self._running: dict[int, float] = {}      # pid -> last seen alive and not stopped
        self._stopped: dict[int, tuple[float, float]] = {}   # pid -> (stop from, first seen stopped)
        self.stops: dict[int, list[tuple[float, float]]] = {}  # pid -> closed [from, to) stops
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.samples = 0

    def __enter__(self) -> "Sampler":
        self._thread = threading.Thread(target=self._run, name="faults-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._read()

    def _read(self) -> None:
        try:
            with open(self.journal, "rb") as src:
                src.seek(self._offset)
                chunk = src.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        with self._lock:
            for line in lines:
                if line.strip():
                    event = json.loads(line)
                    self.events.append(event)
                    if event["action"] == "start":
                        self._seen.setdefault(event["pid"], event["t"])
                        self._running.setdefault(event["pid"], event["t"])
                    stop = self._stopped.get(event["pid"])
                    if stop is not None and event["action"] in CHILD_OWN and event["t"] > stop[1]:
                        self._end_stop(event["pid"], event["t"])   # it wrote: it runs

    def _end_stop(self, pid: int, at: float) -> None:
        begun, _ = self._stopped.pop(pid)
        self.stops.setdefault(pid, []).append((begun, max(begun, at)))

    def _sample(self) -> None:
        for pid in list(self._seen):
            now = time.time()
            letter = state(pid)
            with self._lock:
                if letter in STOPPED:
                    self._seen[pid] = now
                    self._stopped.setdefault(pid, (self._running.get(pid, now), now))
                elif letter not in ("", "Z", "X"):
                    self._seen[pid] = self._running[pid] = now
                    if pid in self._stopped:
                        self._end_stop(pid, now)
                else:
                    self.last_alive[pid] = self._seen.pop(pid)
                    self._running.pop(pid, None)
                    if pid in self._stopped:
                        self._end_stop(pid, self.last_alive[pid])   # died stopped: it never ran again
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self._read()
            self._sample()
            self._stop.wait(PERIOD)

    def snapshot(self) -> tuple[list[dict], dict[int, float]]:
        """(journal events so far, last-alive times of children now dead)."""
        with self._lock:
            return list(self.events), dict(self.last_alive)

    def stopped(self) -> dict[int, list[tuple[float, float]]]:
        """pid -> [from, to) spans it was stopped; one still going ends at +inf."""
        with self._lock:
            out = {pid: list(spans) for pid, spans in self.stops.items()}
            for pid, (begun, _) in self._stopped.items():
                out.setdefault(pid, []).append((begun, float("inf")))
            return out

    def running(self) -> set[int]:
        with self._lock:
            return set(self._seen)
