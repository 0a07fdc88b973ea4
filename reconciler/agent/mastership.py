"""This agent's part in the election, and its reconcile loop while master.

Fed the same snapshots as the rest of the agent: campaigns when the hierarchy
says so (election.py), hands over when preempted, notices a lost lock,
takes the lock up again after a self-fence its lease survived, and runs one
reconcile pass per snapshot while it holds the lock.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Mapping, Optional

from overseer.desired.state import ClusterSnapshot, HistoryEntry, HistoryKind
from overseer.desired.store.client import StoreError
from overseer.desired.store.store import Store

from ..hooks.master_events import MasterEvents
from ..master import MasterLoop
from . import election
from .edges import REAL, Edges
from .presence import Presence

log = logging.getLogger(__name__)


class Mastership:
    def __init__(self, store: Store, me: str, presence: Presence, started: float,
                 wake_in: Callable[[float], None], look_again: Callable[[], None], edges: Edges = REAL,
                 events: Optional[MasterEvents] = None,
                 vouched: Callable[[float], Mapping[str, float]] = lambda now: {}):
        self.store, self.me, self.presence, self.started = store, me, presence, started
        self.vouched = vouched          # failsafe vouches we gave (server -> until), for down tracking
        self.edges = edges
        self.wake_in = wake_in          # ask for another snapshot after some seconds
        self.look_again = look_again    # ask for another snapshot now
        self.master: Optional[MasterLoop] = None
        self.masterless_since: Optional[float] = None
        self.events = events            # failover and masterChange hooks fire here, on the master
        self.last_master = ""           # the previous master, for masterChange's `from`
        self._recording: Optional[asyncio.Task] = None

    @property
    def is_master(self) -> bool:
        return self.master is not None

    async def step(self, snapshot: ClusterSnapshot) -> None:
        """Election, then one reconcile pass if we are master."""
        await self._elect(snapshot)
        master = self.master
        if master is None:
            return
        wake = await master.reconcile(snapshot)
        if self.master is not master:
            return  # fenced or resigned while reconciling
        if master.deposed:
            log.warning("no longer master (epoch %d)", master.epoch)
            self.master = None
        elif wake is not None:
            self.wake_in(wake)

    async def _elect(self, snapshot: ClusterSnapshot) -> None:
        if snapshot.desired.cluster is None:
            await self.resign("the Cluster document is missing or does not parse")
            return
        spec = snapshot.desired.cluster.spec
        view = election.ElectionView(self.me, tuple(spec.hierarchy), frozenset(snapshot.servers),
                                     snapshot.master, spec.campaignDelay, spec.preempt)
        now = self.edges.monotonic()
        if snapshot.master is not None and snapshot.master.server != self.me:
            self.last_master = snapshot.master.server
        self.masterless_since = (self.masterless_since or now) if snapshot.master is None else None
        if self.master and snapshot.revision >= self.master.epoch and (
                snapshot.master is None or snapshot.master.epoch != self.master.epoch):
            log.warning("lost the master lock (epoch %d)", self.master.epoch)
            self.master = None
        if self.master and election.should_resign(view):
            await self.resign("a higher-ranked server is back and preempt is true")
            return
        self._reclaim(snapshot)
        state = self.presence.state
        if snapshot.master is not None or state.fenced or not state.etcd_ok:
            return
        if election.should_campaign(view, now - self.started, now - (self.masterless_since or now)):
            await self._campaign(snapshot)
        else:
            self.wake_in(0.2)

    async def _campaign(self, snapshot: ClusterSnapshot) -> None:
        won = await self.edges.etcd(self.store.campaign, self.me, self.presence.state.lease)
        if won:
            log.info("became master (epoch %d)", won.epoch)
            self.master = self._loop(won)
            if self.events is not None:
                self.events.became_master(self.last_master, won.epoch, self.me)
            # Recorded beside the first passes, not before them: one entry per
            # service, and a new master's first job is often a failover.
            self._recording = asyncio.get_running_loop().create_task(
                self._history_all(snapshot, f"{self.me} became master (epoch {won.epoch})", won.epoch),
                name="record the new master")
            self.look_again()

    def _reclaim(self, snapshot: ClusterSnapshot) -> None:
        """After self-fencing we stop reconciling; if our lease (and with it the
        master lock) survived the outage, we are still the master: take it up
        again, or nobody would ever reconcile while we keep renewing."""
        held = snapshot.master
        state = self.presence.state
        if (self.master is None and held is not None and held.server == self.me
                and held.lease == state.lease and not state.fenced and state.etcd_ok):
            log.info("still master after the outage (epoch %d): reconciling again", held.epoch)
            self.master = self._loop(held)

    def _loop(self, record) -> MasterLoop:
        loop = MasterLoop(self.store, record, clock=self.edges.wall, etcd=self.edges.etcd, vouched=self.vouched,
                          fence=self.edges.fence, look_again=self.look_again)
        if self.events is not None:
            loop.on_written = self.events.written
        return loop

    def step_down(self, why: str) -> None:
        """Stop acting as master without etcd (self-fencing): write nothing more."""
        if self.master is not None:
            log.error("stepping down as master: %s", why)
            self.master.retired = True  # a reconcile in flight must not write any more
            self.master = None

    async def resign(self, why: str) -> None:
        """Give the lock back so the next server takes over at once."""
        master, self.master = self.master, None
        if master is None:
            return
        master.retired = True
        try:
            if await self.edges.etcd(self.store.resign, master.master):
                log.info("resigned as master (epoch %d): %s", master.epoch, why)
        except StoreError as exc:
            log.error("could not resign as master (epoch %d): %s", master.epoch, exc)

    async def _history_all(self, snapshot: ClusterSnapshot, message: str, epoch: int) -> None:
        entries = [HistoryEntry(s, self.edges.wall(), HistoryKind.MASTER, message, self.me, epoch)
                   for s in snapshot.desired.services]
        try:
            await self.edges.etcd(self.store.write_decisions, epoch, (), entries)
        except StoreError as exc:
            log.warning("could not record the new master in history: %s", exc)
