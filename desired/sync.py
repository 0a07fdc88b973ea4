"""`overseer sync DIR`: apply a folder whenever a file in it changes.

watchdog reports changes; a short quiet period (debounce) groups an editor's
several writes into one apply. An invalid folder is logged error by error and
nothing is written, so the cluster keeps the last good generation. When etcd
is unreachable the apply is retried until it succeeds.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Optional

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from .loader import YAML_SUFFIXES
from .store import documents
from .store.client import EtcdConfig, StoreError, connect
from .validate import validate_paths

RETRY_SECONDS = 2.0
CHANGES = frozenset({"created", "modified", "deleted", "moved", "closed"})


class _Changed(FileSystemEventHandler):
    def __init__(self, wake: threading.Event):
        self.wake = wake

    def on_any_event(self, event) -> None:
        # inotify also reports opens and reads; our own reading must not wake us
        if event.event_type not in CHANGES:
            return
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
        if event.is_directory or any(str(p).endswith(YAML_SUFFIXES) for p in paths):
            self.wake.set()


class DirectorySync:
    def __init__(self, folder: str, cfg: EtcdConfig, cluster: Optional[str] = None,
                 prune: bool = False, debounce: float = 0.3,
                 log: Optional[logging.Logger] = None):
        self.folder = Path(folder)
        self.cfg = cfg
        self.cluster = cluster
        self.prune = prune
        self.debounce = debounce
        self.log = log or logging.getLogger("overseer.sync")
        self.client = None
        self.last_generation: Optional[int] = None
        self.applies = 0  # successful apply passes, for tests and logs

    def run(self, stop: threading.Event) -> None:
        wake = threading.Event()
        observer = Observer()
        observer.schedule(_Changed(wake), str(self.folder), recursive=True)
        observer.start()
        self.log.info("watching %s", self.folder)
        try:
            pending = True  # apply once at start
            while not stop.is_set():
                if not pending:
                    wake.wait(timeout=0.2)
                    if not wake.is_set():
                        continue
                self._quiet(wake, stop)
                pending = not self.sync_once()
                if pending:
                    stop.wait(RETRY_SECONDS)
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _quiet(self, wake: threading.Event, stop: threading.Event) -> None:
        """Wait until no change arrived for `debounce` seconds."""
        while not stop.is_set():
            wake.clear()
            time.sleep(self.debounce)
            if not wake.is_set():
                return

    def sync_once(self) -> bool:
        """Validate and apply the folder. False: retry later (etcd down)."""
        loaded = validate_paths([self.folder])
        if loaded.errors:
            for error in loaded.errors:
                self.log.error("%s", error)
            self.log.error("not applied: %d error(s); the cluster keeps generation %s",
                           len(loaded.errors), self.last_generation if self.last_generation is not None else "as before")
            return True  # nothing to retry until the files change
        try:
            if self.client is None:
                self.client = connect(self.cfg)
            cluster = self._cluster(loaded)
            result = documents.apply(self.client, cluster, loaded.sources, prune=self.prune, cfg=self.cfg)
        except StoreError as exc:
            self.log.error("%s; retrying in %gs", exc, RETRY_SECONDS)
            return False
        for kind, name, state in result.changes:
            if state != documents.UNCHANGED:
                self.log.info("%s.overseer/%s %s", kind.lower(), name, state)
        self.log.info("generation %d%s", result.generation, "" if result.changed else " (no change)")
        self.last_generation = result.generation
        self.applies += 1
        return True

    def _cluster(self, loaded) -> str:
        # validate_paths demands exactly one Cluster document in the folder
        name = next(s.name for s in loaded.sources if s.kind == "Cluster")
        if self.cluster and self.cluster != name:
            raise StoreError(f"the Cluster document is named {name!r} but --cluster says {self.cluster!r}")
        return name
