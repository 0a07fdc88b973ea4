"""The UI's read model: one source, and the status view memoised per snapshot.

A source is anything with `snapshot() -> ClusterSnapshot | None` and
`freshness() -> Freshness` (the live `SnapshotCache`, or a fixed source in
tests and benches), and may keep `sightings` (presence.py): when its reads
found each server's lease. `build_status` runs once per new snapshot, not once per
request: the board polls every second from every open browser. Whole
answers are kept per snapshot too (`answers`: answers.py).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Protocol

from overseer.desired.state import ClusterSnapshot
from overseer.reconciler.status_view import build_status

from .answers import AnswerCache
from .live import Freshness
from .presence import Seen, Sightings, seen_map


class Source(Protocol):
    def snapshot(self) -> Optional[ClusterSnapshot]: ...
    def freshness(self) -> Freshness: ...


@dataclass(frozen=True)
class View:
    snapshot: Optional[ClusterSnapshot]
    status: Optional[dict[str, Any]]
    freshness: Freshness
    now: float
    sightings: Optional[Sightings] = None

    @property
    def banner(self) -> str:
        return self.freshness.banner(self.now)

    @property
    def stale(self) -> bool:
        return self.freshness.stale(self.now)

    def seen(self) -> Mapping[str, Seen]:
        """Per server, when it was last known alive (presence.py)."""
        return seen_map(self.snapshot, self.sightings, self.freshness.ok_at)


class UiState:
    def __init__(self, source: Source, clock: Callable[[], float] = time.time):
        self.source = source
        self.clock = clock
        self.answers = AnswerCache()
        self._lock = threading.Lock()
        self._memo: tuple[Optional[ClusterSnapshot], Optional[dict]] = (None, None)

    def view(self) -> View:
        snap = self.source.snapshot()
        return View(snapshot=snap, status=self._status(snap),
                    freshness=self.source.freshness(), now=self.clock(),
                    sightings=getattr(self.source, "sightings", None))

    def _status(self, snap: Optional[ClusterSnapshot]) -> Optional[dict[str, Any]]:
        if snap is None:
            return None
        with self._lock:
            last, status = self._memo
            if last is snap:
                return status
        status = build_status(snap)
        with self._lock:
            self._memo = (snap, status)
        return status
