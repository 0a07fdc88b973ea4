"""A prefix watch that survives etcd restarts.

A watch stream ends with its connection (an etcd restart, a dead link). This
wrapper re-creates it with backoff and calls `on_change` once it is back, because
events may have been missed meanwhile: consumers are level-triggered and
re-read the whole snapshot, so one extra call is always safe.

`on_change(keys)` gets the keys the batch changed, or None when they are not
known (a re-created watch): Store.watch lets a consumer skip batches it has
no use for, and None never is.
"""
from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Optional

from .client import EtcdConfig, StoreError, call

log = logging.getLogger(__name__)


# the gateway's JSON: every event's kv names its key first; values are base64 too
_KEY = re.compile(rb'"key":"([A-Za-z0-9+/=]*)"')


def changed_keys(response) -> Optional[list[bytes]]:
    """The keys of one watch batch: a raw JSON line (etcd_http.py passes it
    undecoded) or decoded events. None when it cannot tell."""
    try:
        if isinstance(response, (bytes, bytearray)):
            return [base64.b64decode(k) for k in _KEY.findall(response)] or None
        if isinstance(response, list):
            return [base64.b64decode(e["kv"]["key"]) for e in response] or None
    except (ValueError, KeyError, TypeError):
        pass
    return None


class PrefixWatcher:
    def __init__(self, client, prefix: str, on_change, cfg: EtcdConfig,
                 min_backoff: float = 0.1, max_backoff: float = 2.0):
        self.client = client
        self.prefix = prefix
        self.on_change = on_change
        self.cfg = cfg
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._broken = threading.Event()
        self._stopped = threading.Event()
        self._watch_id = None
        self._thread = threading.Thread(target=self._run, name=f"watch {prefix}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stopped.set()
        self._broken.set()
        if self._watch_id is not None:
            try:
                self.client.cancel_watch(self._watch_id)
            except Exception:  # cancelling on a dead channel: nothing left to cancel
                pass

    def _callback(self, response) -> None:
        if self._stopped.is_set():
            return
        if isinstance(response, Exception):
            self._broken.set()
            return
        try:
            self.on_change(None if response is None else changed_keys(response))
        except Exception:
            log.exception("watch consumer failed on %s", self.prefix)

    def _run(self) -> None:
        backoff = self.min_backoff
        failing = False
        while not self._stopped.is_set():
            self._broken.clear()
            try:
                self._watch_id = call(self.client.add_watch_prefix_callback, self.cfg,
                                      self.prefix, self._callback)
            except StoreError as exc:
                if not failing:
                    log.warning("watch on %s lost: %s; retrying", self.prefix, exc)
                    failing = True
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if failing:
                log.info("watch on %s restored", self.prefix)
                failing = False
            backoff = self.min_backoff
            # Anything may have changed while we were not watching.
            self._callback(None)
            self._broken.wait()
