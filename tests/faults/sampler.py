"""Watches the real processes behind the journal, independently of the agents.

A thread tails the journal for children's `start` lines and every ~20 ms asks
the kernel (`/proc/<pid>/stat`) whether each known child still lives; a
zombie counts as dead (a stopped agent cannot reap). It keeps, per child, the
last time it was seen alive: the checker ends an active there, so sampling
lag can only shorten what it counts as active, never lengthen it.

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


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as src:
            state = src.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Sampler:
    def __init__(self, journal: Path):
        self.journal = Path(journal)
        self.events: list[dict] = []
        self.last_alive: dict[int, float] = {}    # pid -> last seen alive, for children now dead
        self._seen: dict[int, float] = {}         # pid -> last seen alive, for children alive
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

    def _sample(self) -> None:
        for pid in list(self._seen):
            now = time.time()
            if alive(pid):
                self._seen[pid] = now
            else:
                with self._lock:
                    self.last_alive[pid] = self._seen.pop(pid)
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

    def running(self) -> set[int]:
        with self._lock:
            return set(self._seen)
