"""The services this server may run: one worker each, kept in step with desired state.

A service whose document changed gets a fresh worker (the old one is stopped
first), a service no longer listing this server is stopped and its
observations removed. Observations and reports leave through sinks so a slow
etcd never stalls a probe or an actuator.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Optional

from overseer.desired.models import ServiceDoc
from overseer.desired.state import ClusterSnapshot, FailCount, HistoryEntry, Observation, ServiceReport
from overseer.desired.store.client import StoreError
from overseer.desired.store.store import Store

from .edges import REAL, Edges
from .answers import epoch_of
from .current_checks import CurrentChecks
from .service_worker import ServiceWorker
from .sink import LatestSink
from .waits import waiting_for

log = logging.getLogger(__name__)

# Converge steps (start, promote, demote, stop) that may run at once on this
# agent (ServiceWorker.steps): enough that one slow command never holds up
# the rest, few enough that one turn of the event loop never forks hundreds.
STEP_SLOTS = 8


class LocalServices:
    def __init__(self, store: Store, server: str, state_dir: Optional[str], edges: Edges = REAL):
        self.store, self.server, self.edges = store, server, edges
        self.log_dir = os.path.join(state_dir, "logs") if state_dir else None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
        self.workers: dict[str, ServiceWorker] = {}
        self.docs: dict[str, ServiceDoc] = {}
        self.observations = LatestSink(store.put_observation, "observations", edges.etcd, store.put_many)
        self.reports = LatestSink(store.put_report, "role reports", edges.etcd, store.put_reports,
                                  prepare=store.report_writes)
        self.failcounts = LatestSink(store.put_failcount, "fail counts", edges.etcd, store.put_many)
        self.failures: dict[str, FailCount] = {}   # ours, per service: etcd's, or newer ones on their way
        self._defaults = None
        self._kept = 30
        self.on_role_change = lambda: None  # set by the agent: re-vouch to the fencer
        self.legitimate = lambda: True      # set by the agent: our actives are still vouched for
        self.notifier = None                # set by the agent: role-change hooks (reconciler/hooks/)
        self._retiring: set[asyncio.Task] = set()
        self._steps = asyncio.Semaphore(STEP_SLOTS)   # ServiceWorker.steps
        self._pgids: dict[int, int] = {}   # child pid -> its process group (active_groups)
        self._checks = CurrentChecks(lambda batch: edges.etcd(store.assignments_current, batch))

    def start_sinks(self) -> list[asyncio.Task]:
        return [asyncio.create_task(self.observations.run(), name="observation sink"),
                asyncio.create_task(self.reports.run(), name="report sink"),
                asyncio.create_task(self.failcounts.run(), name="fail count sink")]

    # --- wiring for one worker -------------------------------------------------

    def _monitor(self, worker: ServiceWorker):
        from overseer.observers.monitor import ServiceMonitor

        def publish(obs: Observation) -> None:
            if obs.status == "fail" and obs.critical and obs.since == obs.time:
                worker.check_failed(obs.check, obs.message)   # a new fail, not a refresh of one
            self.observations.put((obs.service, obs.check), obs)

        return ServiceMonitor(cluster=self.store.cluster, server=self.server, service=worker.doc,
                              defaults=self._defaults, results_kept=self._kept, publish=publish,
                              child_pid=worker.actuator.child_pid, epoch=worker.epoch,
                              clock=self.edges.wall, monotonic=self.edges.monotonic, probe=self.edges.probe)

    async def _still_current(self, assignment) -> Optional[bool]:
        """True/False from etcd; None when etcd cannot tell us now."""
        try:
            return await self._checks.check(assignment)
        except StoreError as exc:
            log.warning("%s: cannot confirm assignment (epoch %d) with etcd: %s; will retry",
                        assignment.service, assignment.epoch, exc)
            return None

    def _count_failure(self, service: str, why: str) -> None:
        """One more failure of `service` while active here (failure memory)."""
        doc = self.docs.get(service)
        if doc is None:
            return
        timeout = doc.spec.failureTimeout or (self._defaults.failureTimeout if self._defaults else 600.0)
        now = self.edges.wall()
        prev = self.failures.get(service)
        count = prev.count + 1 if prev is not None and now < prev.last + timeout else 1
        record = FailCount(self.server, service, count, now, why)
        self.failures[service] = record
        self.failcounts.put((service,), record)
        log.warning("%s: failure %d here within failureTimeout %gs: %s", service, count, timeout, why)

    def _sync_failures(self, snapshot: ClusterSnapshot) -> None:
        # etcd is the truth (`overseer cleanup` deletes there); a count still on
        # its way out stays until etcd has it
        stored = {svc: fc for (srv, svc), fc in snapshot.failures.items() if srv == self.server}
        for service in set(self.failures) | set(stored):
            if (service,) in self.failcounts.pending:
                continue
            if service in stored:
                self.failures[service] = stored[service]
            else:
                self.failures.pop(service, None)

    async def _report(self, report: ServiceReport) -> None:
        self.reports.put((report.service,), report)

    async def _history(self, entry: HistoryEntry) -> None:
        try:
            await self.edges.etcd(self.store.append_history, entry)
        except StoreError as exc:
            log.warning("%s: history not written: %s", entry.service, exc)

    async def _finish_restart(self, request, entry: HistoryEntry) -> None:
        try:
            await self.edges.etcd(self.store.finish_restart, request, entry)
        except StoreError as exc:   # the request stays: the next snapshot finds it satisfied and deletes it
            log.warning("%s: restart in place: could not record its outcome: %s", request.service, exc)

    def _new_worker(self, doc: ServiceDoc) -> ServiceWorker:
        worker = ServiceWorker(cluster=self.store.cluster, server=self.server, doc=doc,
                               still_current=self._still_current, report=self._report, history=self._history,
                               monitor_factory=self._monitor, log_dir=self.log_dir, edges=self.edges)
        worker.on_role_change = self.on_role_change
        worker.steps = self._steps
        worker.legitimate = lambda: self.legitimate()
        worker.on_failure = self._count_failure
        worker.finish_restart = self._finish_restart
        worker.notify = lambda event, was, now, a, reason: self._notify(doc.metadata.name, event, was, now, a, reason)
        worker.start()
        return worker

    # --- level-triggered sync ----------------------------------------------------

    def sync(self, snapshot: ClusterSnapshot) -> None:
        desired = snapshot.desired
        if desired.cluster is not None:
            self._defaults = desired.cluster.spec.defaults
            self._kept = desired.cluster.spec.resultsKept
        self._sync_failures(snapshot)
        mine = {name: doc for name, doc in desired.services.items() if self.server in doc.spec.candidates}
        for name in list(self.workers):
            if name in mine and mine[name] != self.docs.get(name) and self.workers[name].can_update(mine[name]):
                log.info("%s: document changed; taken live without restarting the service", name)
                self.workers[name].update(mine[name], self._monitor)
                self.docs[name] = mine[name]
            elif name not in mine or mine[name] != self.docs.get(name):
                self._retire(name, replaced=name in mine)
        for name, doc in mine.items():
            if name not in self.workers:
                self.docs[name] = doc
                self.workers[name] = self._new_worker(doc)
                self.workers[name].remember(snapshot.reports.get((self.server, name)), snapshot.assignments.get(name))
            self.workers[name].wait_for(waiting_for(doc, self.server, snapshot, self._active_here))
            self.workers[name].assign(snapshot.assignments.get(name))
            self.workers[name].restart_requested(snapshot.restarts.get(name))

    def _active_here(self, name: str) -> bool:
        worker = self.workers.get(name)
        return worker is not None and worker.role == "active"

    def _retire(self, name: str, replaced: bool) -> None:
        worker = self.workers.pop(name)
        self.docs.pop(name, None)
        log.info("%s: %s; stopping the local instance", name,
                 "actuator changed, restarting it" if replaced else "no longer assigned to this server")

        async def retire() -> None:
            await worker.close(stop=True)
            if not replaced:
                try:
                    await self.edges.etcd(self.store.delete_actual, self.server, name)
                except StoreError as exc:
                    log.warning("%s: could not remove old observations: %s", name, exc)

        task = asyncio.create_task(retire())
        self._retiring.add(task)  # held until done: an unreferenced task may be collected
        task.add_done_callback(self._retiring.discard)

    # --- fencing and shutdown ------------------------------------------------------

    def active_services(self) -> list[str]:
        return sorted(worker.name for worker in self.workers.values() if worker.role == "active")

    def active_groups(self) -> list[int]:
        """Process groups of the supervised children serving as active, or being
        promoted right now (the promote may finish while we are stopped)."""
        groups, seen = [], {}
        for worker in self.workers.values():
            pid = worker.actuator.child_pid()
            if (worker.role == "active" or worker.promoting) and pid:
                # A child's group never changes (it leads its own session), and
                # this runs on every role change: uncached, a failover to 300
                # actives made 180,000 getpgid calls on the event loop.
                pgid = self._pgids.get(pid)
                if pgid is None:
                    try:
                        pgid = self.edges.pgid(pid)
                    except ProcessLookupError:
                        continue
                seen[pid] = pgid
                groups.append(pgid)
        self._pgids = seen
        return groups

    def active_vips(self) -> list[str]:
        """`<cidr>@<interface>` of the floating IPs of those same actives: the
        fencer drops them when it kills the groups (or when the agent dies)."""
        return [f"{w.doc.spec.vip.address}@{w.doc.spec.vip.interface}" for w in self.workers.values()
                if (w.role == "active" or w.promoting) and w.doc.spec.vip is not None]

    def _notify(self, service: str, event: str, was: str, now: str, assignment, reason: str) -> None:
        if self.notifier is not None:
            self.notifier.fire(event, service, was, now, assignment.epoch if assignment else 0, reason,
                               key=epoch_of(assignment))

    async def fence(self, why: str, event: str = "fence") -> None:
        await asyncio.gather(*(w.fence(why, event) for w in self.workers.values()))

    def unfence(self) -> None:
        for worker in self.workers.values():
            worker.unfence()

    async def shutdown(self) -> None:
        await self.fence("agent stopping", event="demote")   # a planned step-down, not a fence
        for worker in self.workers.values():
            self.reports.put((worker.name,), ServiceReport(self.server, worker.name, "stopped",
                                                           worker.epoch(), "ok", "agent stopped"))
        for worker in self.workers.values():
            await worker.close(stop=True)
        # flush the final reports so the master sees us demoted before our lease goes
        for sink in (self.reports,):
            for value in list(sink.pending.values()):
                try:
                    await asyncio.wait_for(self.edges.etcd(sink.write, value), 2)
                except (StoreError, asyncio.TimeoutError):
                    break
