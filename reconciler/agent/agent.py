"""One server's agent: the process `overseer agent --server NAME` runs.

Four jobs, each in its own module: presence (presence.py), observers
(overseer.observers, via sink.py), local convergence (service_worker.py) and
the election and, while master, the reconcile loop (mastership.py,
election.py, reconciler/master.py). This file only wires them to one stream of
snapshots: every etcd change (debounced) re-reads the whole cluster and
hands the same immutable snapshot to each part.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
from typing import Optional

from overseer.desired.state import ClusterSnapshot, ServerRecord
from overseer.desired.store.client import EtcdConfig, StoreError
from overseer.desired.store.store import Store

from .. import __version__
from . import sdnotify
from .edges import REAL, Edges
from ..hooks.events import Notifier
from ..hooks.master_events import MasterEvents
from . import agent_http
from .failsafe import Vouches, peers_of
from .local import LocalServices
from .mastership import Mastership
from .own_history import OwnHistory
from .peer_auth import OFF, PeerTrust
from .peer_desk import EtcdProbe, PeerDesk, announce
from .presence import Presence
from .vouching import Vouching

log = logging.getLogger(__name__)

DEBOUNCE = 0.01
MAX_PAUSE = 1.0   # the longest wait the last pass's cost may add before the next read
RESYNC = 2.0
HOOK_DRAIN = 5.0   # seconds a stopping agent gives queued hooks (the demote it just did)


class Agent:
    def __init__(self, cfg: EtcdConfig, server: str, cluster: Optional[str] = None,
                 state_dir: Optional[str] = None, edges: Edges = REAL, *, peer_trust: PeerTrust = OFF,
                 metrics_listen: Optional[tuple[str, int]] = None):
        self.cfg, self.me, self.cluster_name = cfg, server, cluster
        self.edges = edges
        self.peer_trust, self.metrics_listen = peer_trust, metrics_listen
        self.endpoints: list = []   # the peer endpoint, and the local one if asked for (agent_http.py)
        self.state_dir = state_dir
        self.store: Optional[Store] = None
        self.snapshot: Optional[ClusterSnapshot] = None
        self.presence: Optional[Presence] = None
        self.local: Optional[LocalServices] = None
        self.mastership: Optional[Mastership] = None
        self.health = ("unknown", "", {})
        self.started = edges.monotonic()
        # wall-clock start, computed once: recomputing it from the monotonic
        # clock jittered and made every presence check rewrite `servers/<me>`
        self.started_at = edges.wall()
        self._changed = asyncio.Event()
        self._pass_cost = 0.0   # CPU seconds the last snapshot read + handling took (_snapshot_loop)
        self._stop = asyncio.Event()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._etcd_failing = False
        self._failsafe_said: Optional[tuple] = None
        self.vouches = Vouches()   # peers we told "etcd is gone here too" (failsafe.py)
        self._ttl_noted: Optional[float] = None
        self._tasks: list[asyncio.Task] = []

    # --- start-up -------------------------------------------------------------

    async def _connect(self) -> None:
        backoff = 0.2
        while self.store is None and not self._stop.is_set():
            try:
                self.store = await self.edges.etcd(self.edges.connect, self.cfg, self.cluster_name)
            except StoreError as exc:
                self._note_etcd_error(exc)
                try:
                    await asyncio.wait_for(self._stop.wait(), backoff)
                except asyncio.TimeoutError:
                    pass
                backoff = min(backoff * 2, 5.0)
        if self.store is not None:
            self._note_etcd_ok()

    async def run(self) -> None:
        # etcd calls run in threads and can hang on a dropped link: give them
        # room so a few stuck calls never starve the keep-alive.
        if self.edges.etcd is REAL.etcd:
            asyncio.get_running_loop().set_default_executor(
                concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="etcd"))
        announce(self.peer_trust)
        await self._connect()
        if self.store is None:
            return  # stopped while etcd was still unreachable
        snapshot = await self._read()
        while snapshot is None or snapshot.desired.cluster is None or self.me not in snapshot.desired.servers:
            if snapshot is not None:
                log.error("server %s is not in the applied documents of cluster %s; waiting for an apply",
                          self.me, self.store.cluster)
            try:
                await asyncio.wait_for(self._stop.wait(), 2)
                return  # stopped before we ever joined: nothing to hand over
            except asyncio.TimeoutError:
                pass
            snapshot = await self._read()
        self.snapshot = snapshot
        spec = snapshot.desired.cluster.spec
        self.local = LocalServices(self.store, self.me, self.state_dir, self.edges)
        self.fencer = self.edges.fencer()
        self.vouching = Vouching(self.fencer)
        self.local.on_role_change = self._vouch_now
        self.local.legitimate = self._legitimate
        self.own_history = OwnHistory(self.store, self.me, self.edges)
        self.hooks = self.edges.hooks(self.own_history.hook)
        notifier = Notifier(self.me, lambda: self.snapshot.desired, self.hooks, self.edges.wall)
        self.local.notifier = notifier
        self.presence = Presence(self.store, self._record, spec.leaseTTL, self._fence,
                                 self._failsafe, self._lease_changed, vouch=self._vouch,
                                 clock=self.edges.monotonic, edges=self.edges)
        self.vouches.everyone_until(self.started_at + spec.leaseTTL)   # see Vouches
        self.mastership = Mastership(self.store, self.me, self.presence, self.started,
                                     self._wake_in, self._changed.set, self.edges, MasterEvents(notifier),
                                     vouched=lambda now: self.vouches.active(
                                         now, (s for s in self.snapshot.desired.servers if s != self.me)))
        if not await self._register():
            self.fencer.close()
            return  # stopped before we ever held a lease: nothing to hand over
        log.info("agent %s up in cluster %s (rank %d, lease %x, ttl %gs)", self.me, self.store.cluster,
                 snapshot.desired.rank(self.me), self.presence.state.lease, spec.leaseTTL)
        await self._start_endpoints(snapshot)
        sdnotify.ready(f"registered in cluster {self.store.cluster}")
        vital = [asyncio.create_task(self.presence.run(), name="presence"),
                 asyncio.create_task(self._health_loop(spec), name="server health"),
                 *self.local.start_sinks()]
        self._tasks += [*vital, asyncio.create_task(sdnotify.watchdog_loop(), name="sd watchdog")]
        self._loop = asyncio.get_running_loop()
        self.store.watch(self._on_watch, unused=self._unused)
        loop_task = asyncio.create_task(self._snapshot_loop(), name="snapshots")
        for task in [*vital, loop_task]:
            task.add_done_callback(self._task_ended)
        await self._stop.wait()
        loop_task.cancel()
        await self._shutdown()

    async def _register(self) -> bool:
        """Take our first lease, retrying while etcd does not answer (it may
        have gone again right after we read it). False: stopped meanwhile.
        (Found by the simulator, seed 10894: an agent restarted during an
        etcd blip ended with the blip's error instead of waiting it out.)"""
        backoff = 0.2
        while True:
            try:
                await self.presence.register()
                return True
            except StoreError as exc:
                log.warning("registering with etcd failed: %s; retrying in %.1fs", exc, backoff)
            try:
                await asyncio.wait_for(self._stop.wait(), backoff)
                return False
            except asyncio.TimeoutError:
                backoff = min(backoff * 2, 2.0)

    async def _start_endpoints(self, snapshot: ClusterSnapshot) -> None:
        doc = snapshot.desired.servers[self.me]
        probe = EtcdProbe(lambda: self.edges.etcd(self.store.get_master), self.edges.monotonic)
        self.desk = PeerDesk(self.me, self.peer_trust, self.edges.ask_peer, self.edges.wall, probe,
                             keepalives_ok=lambda: self.presence.state.etcd_ok, vouch=self._vouch_for)
        self.endpoints = agent_http.endpoints(self.edges, os.environ.get("OVERSEER_AGENT_LISTEN", doc.spec.address),
                                              doc.spec.agentPort, self.desk, self.metrics_listen, self._local_status)
        for endpoint in self.endpoints:
            await endpoint.start()

    def _vouch_for(self, asker: str) -> None:
        # a peer we told "etcd is gone here too": see failsafe.Vouches
        if asker in self.snapshot.desired.servers:
            self.vouches.vouch(asker, self.edges.wall() + self.presence.ttl)

    async def _local_status(self) -> dict:
        return {"server": self.me, "etcd": await self.desk.reaching(), "master": self.mastership.is_master,
                "fenced": self.presence.state.fenced, "lease": self.presence.state.lease is not None}

    async def _health_loop(self, spec) -> None:
        def publish(status: str, message: str, load: dict) -> None:
            self.health = (status, message, load)
            self._changed.set()  # republish presence on the next pass

        await self.edges.server_health(spec=spec.serverHealth, publish=publish,
                                  fail_after=spec.defaults.failAfter,
                                  recover_after=spec.defaults.recoverAfter,
                                  kept=spec.resultsKept).run()

    def _record(self) -> ServerRecord:
        desired = self.snapshot.desired
        doc = desired.servers.get(self.me)
        status, message, load = self.health
        return ServerRecord(name=self.me, address=doc.spec.address if doc else "",
                            rank=desired.rank(self.me), version=__version__, health=status,
                            message=message, load=load, started=self.started_at,
                            agentPort=doc.spec.agentPort if doc else 0)

    # --- the snapshot stream --------------------------------------------------

    def _on_watch(self) -> None:
        self._loop.call_soon_threadsafe(self._changed.set)

    def _unused(self, key: bytes) -> bool:
        """A change no pass of ours reads: history (agents never read it), and
        unless we are master, other servers' observations and reports. Those
        are most of a failover's changes, and a bystander re-reading the whole
        cluster for each burst took CPU from the survivor (bench/scale.py).
        A new master reads everything as it takes over (Mastership.look_again)."""
        history, actual, own = self._watch_prefixes
        if key.startswith(history):
            return True
        master = self.mastership is not None and self.mastership.is_master
        return not master and key.startswith(actual) and not key.startswith(own)

    @functools.cached_property
    def _watch_prefixes(self) -> tuple[bytes, bytes, bytes]:
        # once, not per key: _unused runs for every key of every watch batch
        keys = self.store.keys
        return (keys.history_prefix().encode(), keys.actual_prefix().encode(),
                keys.actual_prefix(self.me).encode())

    def request_stop(self) -> None:
        self._stop.set()

    def _task_ended(self, task: asyncio.Task) -> None:
        # These tasks run for the agent's life: one ending means a bug. Stop
        # (demoting, handing over) so systemd restarts us clean, rather than
        # half-run while still renewing the lease.
        if task.cancelled() or self._stop.is_set():
            return
        log.critical("agent task %r ended unexpectedly: %r; stopping the agent", task.get_name(),
                     task.exception())
        self.request_stop()

    async def _read(self, resync: bool = False) -> Optional[ClusterSnapshot]:
        try:
            if resync and self.snapshot is not None:
                # A periodic re-check with no event since: when etcd's revision has not
                # moved, the last snapshot is still exact, and re-reading (and parsing)
                # the whole cluster every RESYNC would be most of an idle agent's work.
                if await self.edges.etcd(self.store.revision) == self.snapshot.revision:
                    self._note_etcd_ok()
                    return self.snapshot
            # history is for people (status, board), not agents: never read it here
            snapshot = await self.edges.etcd(self.store.snapshot, history=False)
        except StoreError as exc:
            self._note_etcd_error(exc)
            return None
        self._note_etcd_ok()
        return snapshot

    async def _snapshot_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), RESYNC)
            except asyncio.TimeoutError:
                pass
            # Wait at least as long as the last pass cost in CPU: during a
            # storm of changes (a large cluster starting, hundreds of reports)
            # an agent spends at most about half its CPU reading and handling
            # whole snapshots, not all of it; level-triggered, the next read
            # sees everything that changed meanwhile. Idle, the cost is
            # DEBOUNCE. CPU, not wall time: a master pass that mostly waited
            # for its decisions to reach etcd held the next read (and this
            # agent's own part of the failover) back by up to a second.
            await asyncio.sleep(max(DEBOUNCE, self._pass_cost))
            resync = not self._changed.is_set()
            self._changed.clear()
            started = self.edges.cpu()
            snapshot = await self._read(resync)
            if snapshot is None:
                continue
            try:
                await self._handle(snapshot)
            except Exception:  # a bug on one snapshot must not stop the agent following the next
                log.exception("could not handle snapshot at revision %d", snapshot.revision)
                await self.mastership.resign("reconcile failed unexpectedly")
            self._pass_cost = min(MAX_PAUSE, self.edges.cpu() - started)

    async def _handle(self, snapshot: ClusterSnapshot) -> None:
        self.snapshot = snapshot
        self._note_ttl(snapshot)
        self.local.sync(snapshot)
        try:
            await self.presence.publish_if_changed()
            await self.mastership.step(snapshot)
        except StoreError as exc:
            self._note_etcd_error(exc)

    def _note_ttl(self, snapshot: ClusterSnapshot) -> None:
        # The lease (and the master lock on it) was granted with the old TTL;
        # changing it live would drop the lock. Say so once, apply on restart.
        cluster = snapshot.desired.cluster
        if cluster and cluster.spec.leaseTTL != self.presence.ttl and cluster.spec.leaseTTL != self._ttl_noted:
            self._ttl_noted = cluster.spec.leaseTTL
            log.warning("leaseTTL changed from %gs to %gs: restart this agent to apply it "
                        "(services, checks and the hierarchy follow changes live)",
                        self.presence.ttl, cluster.spec.leaseTTL)

    def _wake_in(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds + 0.005, self._changed.set)

    # --- fencing and failsafe -------------------------------------------------

    async def _fence(self, why: str) -> None:
        self.mastership.step_down(why)
        await self.local.fence(why)

    def _legitimate(self) -> bool:
        state = self.presence.state if self.presence else None
        return state is not None and not state.fenced and self.edges.monotonic() < state.vouched_until

    def _vouch_now(self) -> None:
        # a new active between two keep-alives, or on our peers' word (failsafe:
        # told nothing then, the fencer never killed it): until the fencer's deadline
        state = self.presence.state
        if state.fenced:
            self._vouch(0.0)  # an active while fenced: the fencer kills it at once
        else:
            self.vouching.changed(state.fencer_until - self.edges.monotonic(),
                                  self.local.active_groups(), self.local.active_vips())

    def _vouch(self, seconds: float) -> None:
        self.vouching.renew(seconds, self.local.active_groups(), self.local.active_vips())

    async def _lease_changed(self) -> None:
        self.local.unfence()
        self.local.reports.resend()   # a report sent into the outage may still hang on it
        self._changed.set()
        state = self.presence.state
        if state.kept_through is not None:
            state.kept_through = None
            # Every lease went at once: servers come back one by one, so give
            # them the same rank-scaled head start as at a cluster's start, or
            # whoever re-registered first would take the lock from the
            # hierarchy's head and the master would change for nothing.
            self.mastership.started = self.edges.monotonic()
            epoch = self.snapshot.master.epoch if self.snapshot.master else 0
            self._tasks.append(asyncio.create_task(
                self.own_history.kept(self.local.active_services(), epoch, state.lost_at - state.last_renewed),
                name="record kept actives"))

    async def _failsafe(self) -> tuple[bool, bool]:
        # longer than a peer's own etcd probe (0.3 s), short enough to decide in time
        verdict = await self.desk.verdict(peers_of(self.snapshot.desired, self.me),
                                          timeout=max(0.5, min(1.0, self.presence.ttl / 4)))
        said = (verdict.keep, verdict.definitive)
        if said != self._failsafe_said:
            # once per state change, not once per keep-alive tick
            self._failsafe_said = said
            outcome = ("failsafe: actives stay, nothing is promoted" if verdict.keep else
                       "we may be cut off: fencing at the lease deadline unless our keep-alive gets through" if verdict.definitive else
                       "asking again; fencing at 80% of the lease if this lasts")
            log.log(logging.WARNING if verdict.keep else logging.ERROR,
                    "etcd unreachable: %s → %s", verdict.why, outcome)
        return verdict.keep, verdict.definitive

    # --- shutdown -------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Planned stop: hand over at once instead of letting the lease run out."""
        sdnotify.stopping()
        await self.mastership.resign("agent stopping")
        await self.local.shutdown()
        await self.hooks.drain(HOOK_DRAIN)
        self.fencer.close()
        for task in self._tasks:
            task.cancel()
        if self.presence and self.presence.state.lease is not None:
            try:
                await self.edges.etcd(self.store.revoke_lease, self.presence.state.lease)
            except StoreError as exc:
                log.warning("could not revoke lease on shutdown: %s", exc)
        for endpoint in self.endpoints:
            await endpoint.close()
        self.store.close()
        log.info("agent %s stopped", self.me)

    def _note_etcd_error(self, exc: Exception) -> None:
        if not self._etcd_failing:
            log.warning("etcd: %s; retrying with backoff", exc)
            self._etcd_failing = True

    def _note_etcd_ok(self) -> None:
        if self._etcd_failing:
            log.info("etcd reachable again")
            self._etcd_failing = False
            self._failsafe_said = None
