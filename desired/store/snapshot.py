"""Turn one consistent range read of `/overseer/<cluster>/` into a ClusterSnapshot.

Pure: takes (key, value, metadata) triples and the header revision, returns
frozen records. A value that does not parse is logged and left out rather than
stopping the whole cluster's view.
"""
from __future__ import annotations

import json
import logging
from typing import Iterable, Optional

from pydantic import ValidationError

from ..models import MODELS
from ..state import (
    Assignment, ClusterSnapshot, DesiredState, FailCount, FenceRecord, HistoryEntry, MasterRecord, Observation,
    RestartRequest, ServerRecord, ServiceReport, SwitchoverRequest,
)
from .keys import FAILURES, REPORT, Keys

log = logging.getLogger(__name__)

HISTORY_IN_SNAPSHOT = 50


# The documents of the last snapshot, by their stored bytes. Every snapshot
# re-read all of them (pydantic validation was a tenth of an agent's work in
# the simulator) though they change only on apply. Only the last snapshot's are
# kept, so the cache never holds more than the cluster's documents once; the
# models are frozen, so sharing one between snapshots is safe.
_parsed: dict[tuple[str, bytes], object] = {}


def parse_documents(items: Iterable[tuple[str, str, bytes]], generation: int = 0) -> DesiredState:
    """(kind, name, json) -> DesiredState; the documents were validated on apply."""
    global _parsed
    cluster, servers, services = None, {}, {}
    previous, used = _parsed, {}
    for kind, name, raw in items:
        model = MODELS.get(kind)
        if model is None:
            continue
        key = (kind, bytes(raw))
        doc = previous.get(key)
        if doc is None:
            try:
                doc = model.model_validate(json.loads(raw))
            except (ValidationError, ValueError, RecursionError) as exc:
                log.error("desired/%s/%s in etcd does not parse, ignored: %s", kind, name, exc)
                continue
        used[key] = doc
        if kind == "Cluster":
            cluster = doc
        elif kind == "Server":
            servers[name] = doc
        else:
            services[name] = doc
    _parsed = used
    return DesiredState(cluster=cluster, servers=servers, services=services, generation=generation)


# The records of the last snapshot, by key, with the bytes they were parsed
# from. An agent re-reads the whole cluster after every burst of changes, and
# most keys did not change: during a failover of 300 services, parsing the
# unchanged observations again was a third of a bystander agent's CPU
# (bench/scale.py). A hit needs equal bytes, not just the key, so nothing
# stale is ever returned; records are frozen, so sharing them is safe. Only
# the last snapshot's entries are kept (swapped whole: concurrent builders
# lose cache entries, never correctness).
_records: dict[str, tuple[bytes, object]] = {}


class _Builder:
    def __init__(self, keys: Keys):
        self.keys = keys
        self._previous, self.used = _records, {}
        self.docs: list[tuple[str, str, bytes]] = []
        self.generation = 0
        self.servers: dict[str, ServerRecord] = {}
        self.master: Optional[MasterRecord] = None
        self.observations: dict[tuple, Observation] = {}
        self.reports: dict[tuple, ServiceReport] = {}
        self.failures: dict[tuple, FailCount] = {}
        self.assignments: dict[str, Assignment] = {}
        self.history: dict[str, list] = {}
        self.paused: set[str] = set()
        self.switchovers: dict[str, SwitchoverRequest] = {}
        self.cordoned: set[str] = set()
        self.fences: dict[str, FenceRecord] = {}
        self.restarts: dict[str, RestartRequest] = {}

    def add(self, rel: str, value: bytes, meta) -> None:
        parts = rel.split("/")
        head = parts[0]
        if head == "desired":
            if rel == "desired/generation":
                self.generation = int(value or b"0")
            elif len(parts) == 3:
                self.docs.append((parts[1], parts[2], value))
        elif head == "servers" and len(parts) == 2:
            self.servers[parts[1]] = self._parsed(rel, value, ServerRecord.from_json)
        elif head == "master" and len(parts) == 1:
            self.master = MasterRecord(server=value.decode(errors="replace"), epoch=meta.create_revision,
                                       lease=meta.lease_id)
        elif head == "actual" and len(parts) == 4:
            server, service, check = parts[1:]
            if check == REPORT:
                self.reports[(server, service)] = self._parsed(rel, value, ServiceReport.from_json)
            elif check == FAILURES:
                self.failures[(server, service)] = self._parsed(rel, value, FailCount.from_json)
            else:
                self.observations[(server, service, check)] = self._parsed(rel, value, Observation.from_json)
        elif head == "assign" and len(parts) == 2:
            self.assignments[parts[1]] = self._parsed(rel, value, Assignment.from_json)
        elif head == "history" and len(parts) == 3:
            self.history.setdefault(parts[1], []).append(self._parsed(rel, value, HistoryEntry.from_json))
        elif head == "fence" and len(parts) == 2:
            self.fences[parts[1]] = self._parsed(rel, value, FenceRecord.from_json)
        elif head == "control" and len(parts) == 3:
            if parts[1] == "pause":
                self.paused.add(parts[2])
            elif parts[1] == "cordon":
                self.cordoned.add(parts[2])
            elif parts[1] == "switchover":
                self.switchovers[parts[2]] = SwitchoverRequest.from_json(value)
            elif parts[1] == "restart":
                self.restarts[parts[2]] = RestartRequest.from_json(value)

    def _parsed(self, rel: str, value: bytes, parse):
        hit = self._previous.get(rel)
        record = hit[1] if hit is not None and hit[0] == value else parse(value)
        self.used[rel] = (value, record)
        return record

    def build(self, revision: int) -> ClusterSnapshot:
        global _records
        _records = self.used
        return ClusterSnapshot(
            cluster=self.keys.cluster,
            revision=revision,
            desired=parse_documents(self.docs, self.generation),
            servers=self.servers,
            master=self.master,
            observations=self.observations,
            reports=self.reports,
            assignments=self.assignments,
            paused=frozenset(self.paused),
            switchovers=self.switchovers,
            # keys sort by time, so the tail is the most recent
            history={s: tuple(h[-HISTORY_IN_SNAPSHOT:]) for s, h in self.history.items()},
            failures=self.failures,
            cordoned=frozenset(self.cordoned),
            fences=self.fences,
            restarts=self.restarts,
        )


def build_snapshot(keys: Keys, kvs: Iterable[tuple[bytes, object]], revision: int) -> ClusterSnapshot:
    builder = _Builder(keys)
    for value, meta in kvs:
        rel = keys.relative(meta.key.decode(errors="replace"))
        try:
            builder.add(rel, value, meta)
        except (ValueError, TypeError, KeyError) as exc:   # a UnicodeDecodeError is a ValueError
            log.error("%s in etcd does not parse, ignored: %s", rel, exc)
    return builder.build(revision)
