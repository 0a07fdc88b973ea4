"""Builders for ClusterSnapshots in tests and benches (no etcd needed).

`make_snapshot` assembles a snapshot from plain arguments through the real
document models, so the board and status view are tested on the same records
the store will hand them. `FakeSource` is the small source object the UI reads
(snapshot + freshness) whose snapshot a test can swap at any time.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Iterable, Optional

from overseer.desired.models import ClusterDoc, ServerDoc, ServiceDoc
from overseer.desired.state import (
    Assignment, ClusterSnapshot, DesiredState, HistoryEntry, MasterRecord, Observation,
    ServerRecord, ServiceReport,
)
from overseer.ui.live import Freshness
from overseer.ui.presence import Sightings


def cluster_doc(name: str, hierarchy: list[str]) -> ClusterDoc:
    return ClusterDoc.model_validate({"apiVersion": "overseer/v1", "kind": "Cluster",
                                      "metadata": {"name": name}, "spec": {"hierarchy": hierarchy}})


def server_doc(name: str, domain: str = "", address: str = "") -> ServerDoc:
    return ServerDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Server", "metadata": {"name": name},
        "spec": {"address": address or f"10.0.0.{abs(hash(name)) % 200 + 1}", "failureDomain": domain}})


def service_doc(name: str, candidates: list[str], checks: Iterable[str] = ("alive",),
                mode: str = "active-standby", standby: str = "warm") -> ServiceDoc:
    return ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"mode": mode, "standby": standby, "candidates": candidates,
                 "actuator": {"type": "exec", "start": "true", "stop": "true"},
                 "checks": [{"name": c, "type": "command", "command": ["true"]} for c in checks]}})


def observation(server: str, service: str, check: str, status: str = "ok", value=1.0,
                message: str = "", now: float = 1_700_000_000.0, results=None) -> Observation:
    if results is None:
        results = tuple((now - 5 + i, status, value) for i in range(5))
    return Observation(server=server, service=service, check=check, status=status, value=value,
                       message=message, time=now, since=now - 60, results=tuple(results))


def make_snapshot(servers: dict[str, str], services: dict[str, list[str]], *,
                  cluster: str = "qsuite", up: Optional[Iterable[str]] = None,
                  master: Optional[str] = None, epoch: int = 7,
                  checks: Iterable[str] = ("alive",), statuses: Optional[dict] = None,
                  messages: Optional[dict] = None, paused: Iterable[str] = (),
                  history: Optional[dict] = None, generation: int = 3,
                  now: float = 1_700_000_000.0) -> ClusterSnapshot:
    """servers: name -> failure domain; services: name -> candidates (first active,
    second standby). statuses/messages: (server, service, check) -> value; every
    check on every active and standby server reports (ok unless told)."""
    checks = tuple(checks)
    statuses = statuses or {}
    messages = messages or {}
    names = list(servers)
    up = names if up is None else list(up)
    desired = DesiredState(
        cluster=cluster_doc(cluster, names),
        servers={n: server_doc(n, d) for n, d in servers.items()},
        services={n: service_doc(n, c, checks) for n, c in services.items()},
        generation=generation)
    assignments, observations = {}, {}
    for svc, candidates in services.items():
        assignments[svc] = Assignment(service=svc, active=tuple(candidates[:1]),
                                      standby=tuple(candidates[1:2]), epoch=epoch,
                                      reason="initial placement", time=now)
        for server in candidates[:2]:
            for check in checks:
                key = (server, svc, check)
                observations[key] = observation(server, svc, check, statuses.get(key, "ok"),
                                                message=messages.get(key, ""), now=now)
    return ClusterSnapshot(
        cluster=cluster, revision=100, desired=desired,
        servers={n: ServerRecord(name=n, address="", rank=i, health="ok")
                 for i, n in enumerate(names) if n in up},
        master=MasterRecord(server=master or names[0], epoch=epoch),
        observations=observations,
        reports={(a.active[0], s): ServiceReport(server=a.active[0], service=s, role="active",
                                                 epoch=epoch) for s, a in assignments.items()},
        assignments=assignments, paused=frozenset(paused),
        history={s: tuple(h) for s, h in (history or {}).items()})


def with_failover(snap: ClusterSnapshot, service: str, to: str, reason: str,
                  now: float = 1_700_000_100.0) -> ClusterSnapshot:
    """The same snapshot after the master moved `service` to `to` for `reason`."""
    old = snap.assignments[service]
    moved = replace(old, active=(to,), standby=tuple(s for s in old.active if s != to),
                    reason=reason, time=now)
    entry = HistoryEntry(service=service, time=now, kind="failover", message=reason,
                         server=to, epoch=old.epoch)
    history = dict(snap.history)
    history[service] = tuple(history.get(service, ())) + (entry,)
    return replace(snap, assignments={**snap.assignments, service: moved}, history=history,
                   revision=snap.revision + 1)


def with_status(snap: ClusterSnapshot, server: str, service: str, check: str, status: str,
                message: str = "") -> ClusterSnapshot:
    obs = dict(snap.observations)
    obs[(server, service, check)] = observation(server, service, check, status, message=message)
    return replace(snap, observations=obs, revision=snap.revision + 1)


class FakeSource:
    """What the UI reads: a snapshot a test can swap, and freshness it can set."""

    def __init__(self, snapshot: Optional[ClusterSnapshot], resync: float = 3.0):
        self._lock = threading.Lock()
        self._snapshot = snapshot
        self._fresh = Freshness(ok_at=time.time(), error="", error_since=None, resync=resync)
        self.sightings = Sightings()   # fed at every set(), as the live cache feeds it at every read
        if snapshot is not None:
            self.sightings.saw(snapshot.servers, self._fresh.ok_at)

    def snapshot(self) -> Optional[ClusterSnapshot]:
        with self._lock:
            return self._snapshot

    def freshness(self) -> Freshness:
        with self._lock:
            return self._fresh

    def set(self, snapshot: ClusterSnapshot, at: Optional[float] = None) -> None:
        """Show `snapshot`, read at `at` (now unless told)."""
        at = time.time() if at is None else at
        self.sightings.saw(snapshot.servers, at)
        with self._lock:
            self._snapshot = snapshot
            self._fresh = replace(self._fresh, ok_at=at, error="", error_since=None)

    def go_stale(self, reason: str, since: float, ok_at: Optional[float] = None) -> None:
        with self._lock:
            self._fresh = replace(self._fresh, error=reason, error_since=since,
                                  ok_at=since if ok_at is None else ok_at)
