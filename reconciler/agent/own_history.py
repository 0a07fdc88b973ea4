"""What an agent itself writes into its services' history.

The master writes the decisions; an agent adds what only it knows: how a
notification hook it ran ended, and that it kept an active through etcd
trouble (presence.py, `_lease_lost`), so the history says why nothing moved.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from overseer.desired.state import HistoryEntry, HistoryKind
from overseer.desired.store.client import StoreError
from overseer.desired.store.store import Store

from .edges import Edges

log = logging.getLogger(__name__)


class OwnHistory:
    def __init__(self, store: Store, me: str, edges: Edges) -> None:
        self.store, self.me, self.edges = store, me, edges

    def hook(self, outcome, services: Iterable[str]) -> None:
        # on a hook worker thread: a blocking etcd call is fine there
        for service in services:
            self.store.append_history(HistoryEntry(service, self.edges.wall(), HistoryKind.HOOK,
                                                   outcome.message(), self.me, outcome.event.epoch))

    async def kept(self, services: Iterable[str], epoch: int, silent_for: float) -> None:
        message = (f"{self.me} kept its active: etcd answered again after {silent_for:.1f}s and had expired "
                   f"every lease at once while all servers still reached each other (failsafe); "
                   f"new lease taken, nothing moved")
        for service in services:
            try:
                await self.edges.etcd(self.store.append_history,
                                      HistoryEntry(service, self.edges.wall(), HistoryKind.KEPT, message,
                                                   self.me, epoch))
            except StoreError as exc:
                log.warning("could not record in %s's history that its active was kept: %s", service, exc)
                return
