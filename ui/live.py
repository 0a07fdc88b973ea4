"""Keeps one in-memory ClusterSnapshot fresh for the board: etcd watch + resync.

Requests never touch etcd: they read `SnapshotCache.snapshot()`. A background
thread re-reads the whole snapshot after every watch event (coalesced), and
every `resync` seconds asks etcd whether anything changed at all, because a
watch can die silently: a count-only read of one key returns etcd's revision,
and only a new revision costs a whole read (with history, 90 MiB for 1,000
services). So the board reads the cluster once per change, however many
people look at it. When etcd cannot be read, the last snapshot stays and
`freshness()` says since when and why it is stale, so the board can say so
instead of showing old data as news.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Protocol

from overseer.desired.state import ClusterSnapshot
from overseer.desired.store.client import StoreError

from .presence import Sightings

log = logging.getLogger(__name__)

STALE_FACTOR = 3  # /healthz fails when the view is older than this many resync periods


@dataclass(frozen=True)
class Freshness:
    """How current the view is: last good read, and the current error if any."""
    ok_at: Optional[float]           # time of the last successful snapshot read
    error: str = ""                  # why the last attempt failed; "" when it worked
    error_since: Optional[float] = None
    resync: float = 3.0

    def age(self, now: float) -> Optional[float]:
        return None if self.ok_at is None else max(0.0, now - self.ok_at)

    def too_old(self, now: float) -> bool:
        age = self.age(now)
        return age is None or age > STALE_FACTOR * self.resync

    def stale(self, now: float) -> bool:
        """The board warns as soon as a read failed, or when reads silently stopped."""
        return bool(self.error) or self.too_old(now)

    def banner(self, now: float) -> str:
        """The sentence the board shows when stale; "" when fresh."""
        if not self.stale(now):
            return ""
        since = self.error_since if self.error else self.ok_at
        reason = self.error or f"no successful read for {self.age(now) or 0:.0f}s"
        clock = time.strftime("%H:%M:%S", time.localtime(since)) if since else "start"
        age = self.age(now)
        if age is None:
            return f"no etcd view yet (trying since {clock}): {reason}"
        return f"etcd view stale since {clock}: {reason} (data is {age:.0f}s old)"

    def to_json(self, now: float) -> dict[str, Any]:
        age = self.age(now)
        return {"stale": self.stale(now), "ageSeconds": None if age is None else round(age, 3),
                "error": self.error, "errorSince": self.error_since,
                "resyncSeconds": self.resync, "message": self.banner(now)}


class StoreLike(Protocol):
    def snapshot(self) -> ClusterSnapshot: ...
    def revision(self) -> int: ...
    def watch(self, on_change: Callable[[], None]) -> Callable[[], None]: ...
    def close(self) -> None: ...


class SnapshotCache:
    """A snapshot source for the UI, fed by a store opened with `open_store()`."""

    def __init__(self, open_store: Callable[[], StoreLike], resync: float = 3.0,
                 debounce: float = 0.05):
        self._open_store = open_store
        self._resync = resync
        self._debounce = debounce
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._snapshot: Optional[ClusterSnapshot] = None
        self._fresh = Freshness(ok_at=None, error="", resync=resync)
        self._store: Optional[StoreLike] = None
        self._cancel: Optional[Callable[[], None]] = None
        self._thread: Optional[threading.Thread] = None
        # fed at every successful read, looked at or not: when a server's lease went
        self.sightings = Sightings()

    # --- what the UI reads -------------------------------------------------
    def snapshot(self) -> Optional[ClusterSnapshot]:
        with self._lock:
            return self._snapshot

    def freshness(self) -> Freshness:
        with self._lock:
            fresh = self._fresh
        if fresh.ok_at is None and not fresh.error:
            return replace(fresh, error="first read from etcd still pending",
                           error_since=time.time())
        return fresh

    # --- lifecycle ---------------------------------------------------------
    def start(self) -> "SnapshotCache":
        self._thread = threading.Thread(target=self._run, name="overseer-ui-snapshot", daemon=True)
        self._thread.start()
        return self

    def wait_first(self, timeout: float) -> bool:
        """Wait until a first snapshot or a first error is known."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._snapshot is not None or self._fresh.error:
                    return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._drop_store()

    # --- the background thread ---------------------------------------------
    def _changed(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            ok = self._refresh()
            # After a failure retry sooner than a full resync, but not in a spin.
            changed = self._wake.wait(timeout=self._resync if ok else min(self._resync, 1.0))
            if self._stop.is_set():
                break
            self._wake.clear()
            if changed:
                time.sleep(self._debounce)  # let a burst of changes land in one read

    def _refresh(self) -> bool:
        """A whole read, unless etcd's revision says the snapshot is still the latest.

        Asked after a watch event too: a resync may have read the change already."""
        try:
            if self._store is None:
                self._store = self._open_store()
                self._cancel = self._store.watch(self._changed)
            if self._current(self._store.revision()):
                return True
            snap = self._store.snapshot()
        except StoreError as exc:
            self._failed(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - the thread must outlive a store bug
            log.exception("reading the snapshot failed")
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        read_at = time.time()
        # before the snapshot is shown: a page of it must know when its servers went
        self.sightings.saw(snap.servers, read_at)
        with self._lock:
            if self._fresh.error:
                log.info("etcd view is current again")
            self._snapshot = snap
            self._fresh = Freshness(ok_at=read_at, resync=self._resync)
        return True

    def _current(self, revision: int) -> bool:
        """True (and the view fresh again) when the snapshot is still etcd's latest."""
        with self._lock:
            if self._snapshot is None or self._snapshot.revision != revision or self._fresh.error:
                return False
            read_at = time.time()
            self._fresh = Freshness(ok_at=read_at, resync=self._resync)
            servers = list(self._snapshot.servers)
        self.sightings.saw(servers, read_at)
        return True

    def _failed(self, reason: str) -> None:
        with self._lock:
            first = not self._fresh.error
            self._fresh = replace(self._fresh, error=reason,
                                  error_since=self._fresh.error_since if not first else time.time())
        if first:  # log once per state change, not once per retry
            log.warning("etcd view stale: %s", reason)
        # A failed read may mean a dead watch too: start over with a new store.
        self._drop_store()

    def _drop_store(self) -> None:
        cancel, store = self._cancel, self._store
        self._cancel = self._store = None
        for step in (cancel, store.close if store is not None else None):
            if step is None:
                continue
            try:
                step()
            except StoreError as exc:
                log.debug("closing the store: %s", exc)
