"""The golden files' JSON: a master pass's input, and what it decided.

An input is the snapshot the master read (only what its pass reads: no
history, no restart requests, no probe results), its `MasterMemory`, `now`
and the failsafe vouches it held. Records are written as their fields that
differ from the defaults, in a stable order, and read back through the
records' own `from_json`; documents through `docs.py`. Infinite moments
(a master long past its settle window) are written as the strings "inf" /
"-inf", so every file is plain JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, fields
from typing import Any, Mapping

from overseer.desired.models import ClusterDoc, ServerDoc, ServiceDoc
from overseer.desired.state import (
    Assignment, ClusterSnapshot, DesiredState, FailCount, FenceRecord, MasterRecord, Observation,
    ServerRecord, ServiceReport, SwitchoverRequest,
)
from overseer.reconciler.planner.master_pass import MasterMemory, MasterPass, Writes

from .docs import doc_data

VERSION = 1


def dumps(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _moment(value: float) -> Any:
    return value if math.isfinite(value) else str(value)


def _record(obj) -> dict:
    """The fields that differ from their defaults (the defaults come back on reading)."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        if f.name == "results" or value == default:
            continue
        out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in sorted(value.items())}
    return value


def _records(mapping: Mapping) -> list:
    return [_record(mapping[key]) for key in sorted(mapping)]


def encode_input(snapshot: ClusterSnapshot, memory: MasterMemory, now: float,
                 vouched: Mapping[str, float]) -> dict:
    d = snapshot.desired
    return {
        "version": VERSION,
        "now": now,
        "vouched": dict(sorted(vouched.items())),
        "memory": {"epoch": memory.epoch, "started": _moment(memory.started),
                   "down_since": {k: _moment(v) for k, v in sorted(memory.down_since.items())}},
        "snapshot": {
            "cluster": snapshot.cluster,
            "revision": snapshot.revision,
            "master": None if snapshot.master is None else asdict(snapshot.master),
            "desired": {
                "generation": d.generation,
                "cluster": None if d.cluster is None else doc_data(d.cluster),
                "servers": {name: doc_data(doc) for name, doc in sorted(d.servers.items())},
                "services": {name: doc_data(doc) for name, doc in sorted(d.services.items())},
            },
            "servers": _records(snapshot.servers),
            "observations": _records(snapshot.observations),
            "reports": _records(snapshot.reports),
            "assignments": _records(snapshot.assignments),
            "paused": sorted(snapshot.paused),
            "switchovers": _records(snapshot.switchovers),
            "failures": _records(snapshot.failures),
            "cordoned": sorted(snapshot.cordoned),
            "fences": _records(snapshot.fences),
        },
    }


def decode_input(data: dict) -> tuple[ClusterSnapshot, MasterMemory, float, dict]:
    if data.get("version") != VERSION:
        raise ValueError(f"golden input of version {data.get('version')!r}, this codec reads {VERSION}")
    s, d = data["snapshot"], data["snapshot"]["desired"]
    desired = DesiredState(
        cluster=None if d["cluster"] is None else ClusterDoc.model_validate(d["cluster"]),
        servers={name: ServerDoc.model_validate(doc) for name, doc in d["servers"].items()},
        services={name: ServiceDoc.model_validate(doc) for name, doc in d["services"].items()},
        generation=d["generation"],
    )
    servers = [ServerRecord.from_json(r) for r in s["servers"]]
    observations = [Observation.from_json(r) for r in s["observations"]]
    reports = [ServiceReport.from_json(r) for r in s["reports"]]
    assignments = [Assignment.from_json(r) for r in s["assignments"]]
    switchovers = [SwitchoverRequest.from_json(r) for r in s["switchovers"]]
    failures = [FailCount.from_json(r) for r in s["failures"]]
    fences = [FenceRecord.from_json(r) for r in s["fences"]]
    snapshot = ClusterSnapshot(
        cluster=s["cluster"], revision=s["revision"], desired=desired,
        servers={r.name: r for r in servers},
        master=None if s["master"] is None else MasterRecord(**s["master"]),
        observations={(o.server, o.service, o.check): o for o in observations},
        reports={(r.server, r.service): r for r in reports},
        assignments={a.service: a for a in assignments},
        paused=frozenset(s["paused"]),
        switchovers={r.service: r for r in switchovers},
        failures={(f.server, f.service): f for f in failures},
        cordoned=frozenset(s["cordoned"]),
        fences={f.server: f for f in fences},
    )
    m = data["memory"]
    memory = MasterMemory(m["epoch"], float(m["started"]), {k: float(v) for k, v in m["down_since"].items()})
    return snapshot, memory, data["now"], dict(data["vouched"])


def encode_outcome(outcome: MasterPass, written: Writes) -> dict:
    """What a pass decided, for people to review: every action with its
    reason, each written assignment's decision counter and time, the memory
    it leaves and when it asks to look again."""
    return {
        "actions": [{"type": type(a).__name__, **_plain(asdict(a))} for a in outcome.actions],
        "assignments": {a.service: {"decision": a.decision, "time": a.time} for a in written.assigns},
        "down_since": {k: _moment(v) for k, v in sorted(outcome.memory.down_since.items())},
        "wakeup": outcome.wakeup,
    }
