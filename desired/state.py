"""Immutable records of what is in etcd, and the snapshot the planner reads.

The store turns etcd key/values into these; everything above the store works
on them and never on raw etcd. Each record knows its JSON form (`to_json` /
`from_json`) so the key layout and the value layout live in one place.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Mapping, Optional

from .hooks import redact_urls
from .models import ClusterDoc, ServerDoc, ServiceDoc

class Status(StrEnum):
    """A check's, a server's or a service's health."""
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"
    # a check in its start-up grace that has not answered yet: judged neither
    # good nor bad (observers/monitor.py); a server's health is never this
    STARTING = "starting"


class Role(StrEnum):
    """What an agent runs a service as."""
    ACTIVE = "active"
    STANDBY = "standby"
    STOPPED = "stopped"


class Outcome(StrEnum):
    """How an agent's last action on its assignment went."""
    OK = "ok"
    FAILED = "failed"
    PENDING = "pending"


class HistoryKind(StrEnum):
    """What a history entry records (the board styles by it)."""
    PLACEMENT = "placement"
    FAILOVER = "failover"
    SWITCHOVER = "switchover"
    SWITCHOVER_REFUSED = "switchover-refused"
    DEMOTE = "demote"
    ROLE = "role"
    ACTION = "action"
    CLEANUP = "cleanup"
    HOOK = "hook"                    # a notification hook's outcome (desired/hooks.py)
    KEPT = "kept"                    # an active kept through etcd trouble: why nothing moved
    FENCE = "fence"                  # the master's fence agent run on a dead server, and its outcome
    MASTER = "master"                # a new master took over (written by it, once per service)
    RESTART = "restart"              # an operator's restart in place, carried out by the active's agent


class FenceOutcome(StrEnum):
    """How the master's attempt to fence a dead server went (`fence/<server>`)."""
    PENDING = "pending"              # the command runs
    OK = "ok"                        # it exited 0: the server is off
    FAILED = "failed"                # it failed or timed out: retried after a back-off
    CONFIRMED = "confirmed"          # `overseer fence confirm`: a person made sure it is off


# str-valued: records read back from JSON hold plain strings, equal to these
STATUSES = tuple(Status)
ROLES = tuple(Role)


def _dump(obj) -> str:
    return json.dumps(asdict(obj), separators=(",", ":"), sort_keys=True)


def _load(cls, raw: str | bytes | dict):
    """ValueError or TypeError when `raw` is not such a record (whoever wrote it)."""
    try:
        data = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
    except RecursionError:
        raise ValueError(f"not a {cls.__name__}: nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a {cls.__name__}: {type(data).__name__}, not a JSON object")
    types = _field_types(cls)
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in types}
    for name, value in values.items():
        if not isinstance(value, types[name]):
            raise ValueError(f"not a {cls.__name__}: {name} is {type(value).__name__}")
    return cls(**values)


# A record's field annotations (strings: `from __future__ import annotations`)
# as the JSON types a value may have; unknown annotations accept anything.
_JSON_TYPES = {"str": (str,), "float": (int, float), "int": (int,), "bool": (bool,), "tuple": (tuple,)}


@functools.lru_cache(maxsize=None)
def _field_types(cls) -> dict:
    out = {}
    for f in fields(cls):
        text = str(f.type)
        optional = text.startswith("Optional[")
        base = text[len("Optional["):-1] if optional else text
        types = (dict,) if base.startswith("Mapping[") else _JSON_TYPES.get(base, (object,))
        out[f.name] = types + ((type(None),) if optional else ())
    return out


class Record:
    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, raw):
        if isinstance(raw, (str, bytes)):
            return _load_cached(cls, raw)
        return _load(cls, raw)


# Every agent re-reads the whole cluster on each change, and most values have
# not changed since the last read: parse each distinct value once (records
# are frozen, so sharing one is safe).
@functools.lru_cache(maxsize=16384)
def _load_cached(cls, raw: str | bytes):
    return _load(cls, raw)


@dataclass(frozen=True)
class Result(Record):
    """One probe result kept in a check's recent history."""
    t: float
    status: str
    value: Optional[float] = None


@dataclass(frozen=True)
class Observation(Record):
    """`actual/<server>/<service>/<check>`: a check's hysteresis-filtered state."""
    server: str
    service: str
    check: str
    status: str = "unknown"          # ok | warn | fail | unknown | starting
    value: Optional[float] = None
    message: str = ""
    time: float = 0.0                # when status last changed or value refreshed
    since: float = 0.0               # when the current status began
    critical: bool = True
    results: tuple = ()              # recent raw results, each [t, status, value]; a `fail` in the start-up grace is kept as `starting`

    @classmethod
    def from_json(cls, raw):
        # Not through _load_cached: an observation's bytes change with every
        # refresh and would evict the stable records from that shared cache.
        # build_snapshot keeps each key's last parse instead (snapshot.py).
        return _load(cls, raw)


@dataclass(frozen=True)
class ServiceReport(Record):
    """`actual/<server>/<service>/.role`: what the agent did with its assignment."""
    server: str
    service: str
    role: str = "stopped"            # active | standby | stopped
    epoch: int = 0                   # assignment epoch the agent acted on
    outcome: str = "ok"              # ok | failed | pending
    message: str = ""
    time: float = 0.0
    pid: Optional[int] = None
    assigned: float = 0.0            # time of the assignment this report reflects


@dataclass(frozen=True)
class FailCount(Record):
    """`actual/<server>/<service>/.failures`: failures of the service while it
    was active on that server (Pacemaker's fail count). Written by that
    server's agent; expires `failureTimeout` after `last`; `overseer cleanup`
    deletes it."""
    server: str
    service: str
    count: int = 0
    last: float = 0.0                # wall time of the latest failure
    message: str = ""                # what the latest failure was


@dataclass(frozen=True)
class ServerRecord(Record):
    """`servers/<name>`: presence on the agent's lease."""
    name: str
    address: str = ""
    rank: int = -1
    version: str = ""
    health: str = "unknown"          # server-wide health: ok | warn | fail | unknown
    message: str = ""
    load: Mapping[str, float] = field(default_factory=dict)
    started: float = 0.0
    agentPort: int = 0
    etcdOk: bool = True


@dataclass(frozen=True)
class MasterRecord:
    server: str
    epoch: int                       # create_revision of the `master` key
    lease: int = 0


@dataclass(frozen=True)
class Assignment(Record):
    """`assign/<service>`: the master's decision, stamped with its epoch."""
    service: str
    active: tuple = ()
    standby: tuple = ()
    epoch: int = 0
    reason: str = ""
    time: float = 0.0
    generation: int = 0
    # Counts the master's answers: raised when the active set changes and when
    # a decision is re-issued after a failure or step-down; carried by adoption
    # and standby-only changes. An agent that failed or stood down under one
    # decision acts again only on a higher one (a newer record that merely
    # reshuffled standbys was read as an answer: simulator seed 5877).
    decision: int = 0


@dataclass(frozen=True)
class HistoryEntry(Record):
    """`history/<service>/<ts>`: a transition or an action, never a probe tick."""
    service: str
    time: float
    kind: str                        # a HistoryKind; a str so an entry of a newer version still reads
    message: str
    server: str = ""
    epoch: int = 0

    def __post_init__(self):
        # a hook outcome recorded by an earlier version quotes the webhook's
        # URL whole (its path may be the secret): shown as scheme://host/…
        if self.kind == HistoryKind.HOOK and "://" in self.message:
            object.__setattr__(self, "message", redact_urls(self.message))


@dataclass(frozen=True)
class FenceRecord(Record):
    """`fence/<server>`: the latest fence of a dead server in its current
    outage. Written only while the server has no `servers/<name>` record, and
    deleted by the server's own registration (one transaction), so a record
    that exists always speaks of the outage going on now."""
    server: str
    started: float                   # when the attempt began (or the confirmation was made)
    time: float = 0.0                # when it ended (pending: = started)
    outcome: str = "pending"         # pending | ok | failed | confirmed
    epoch: int = 0                   # the master that ran it (0: an operator's confirmation)
    attempt: int = 1                 # attempts in this outage, this one included
    message: str = ""                # the command's last line, or why it failed
    services: tuple = ()             # the services waiting for it
    by: str = ""                     # the server it ran on, or "operator"
    timeout: float = 0.0             # the command's timeout: a pending attempt older than this is lost

    @property
    def off(self) -> bool:
        """The server is known to be off: fenced, or confirmed by a person."""
        return self.outcome in (FenceOutcome.OK, FenceOutcome.CONFIRMED)


@dataclass(frozen=True)
class SwitchoverRequest(Record):
    """`control/switchover/<service>`: an operator asked for a planned move."""
    service: str
    to: Optional[str] = None
    requested: float = 0.0
    at: Optional[float] = None       # scheduled: not before this moment (`switchover --at`)
    force: bool = False              # past maxLagOnFailover, without waiting to catch up (`--force`)


@dataclass(frozen=True)
class RestartRequest(Record):
    """`control/restart/<service>`: an operator asked for a restart in place
    (`overseer restart`): stop and start the service on `server`, where it is
    active, without a move. That server's agent carries it out and deletes
    the request; an active that started after `requested` already satisfies it."""
    service: str
    server: str
    requested: float = 0.0


@dataclass(frozen=True)
class DesiredState:
    """The applied documents, parsed; `generation` counts changing applies."""
    cluster: Optional[ClusterDoc]
    servers: Mapping[str, ServerDoc]
    services: Mapping[str, ServiceDoc]
    generation: int = 0

    @property
    def name(self) -> str:
        return self.cluster.metadata.name if self.cluster else ""

    def rank(self, server: str) -> int:
        hierarchy = self.cluster.spec.hierarchy if self.cluster else []
        return hierarchy.index(server) if server in hierarchy else len(hierarchy)


@dataclass(frozen=True)
class ClusterSnapshot:
    """Everything under `/overseer/<cluster>/` at one etcd revision."""
    cluster: str
    revision: int
    desired: DesiredState
    servers: Mapping[str, ServerRecord]                 # live leases only
    master: Optional[MasterRecord]
    observations: Mapping[tuple, Observation]           # (server, service, check)
    reports: Mapping[tuple, ServiceReport]              # (server, service)
    assignments: Mapping[str, Assignment]
    paused: frozenset = frozenset()                     # service names; "*" = all
    switchovers: Mapping[str, SwitchoverRequest] = field(default_factory=dict)
    history: Mapping[str, tuple] = field(default_factory=dict)  # service -> recent HistoryEntry, oldest first
    failures: Mapping[tuple, FailCount] = field(default_factory=dict)  # (server, service)
    cordoned: frozenset = frozenset()                   # server names (`overseer cordon`)
    fences: Mapping[str, FenceRecord] = field(default_factory=dict)   # server -> its fence in this outage
    restarts: Mapping[str, RestartRequest] = field(default_factory=dict)  # service -> `overseer restart`

    def is_paused(self, service: str) -> bool:
        return "*" in self.paused or service in self.paused


def as_plain(value: Any) -> Any:
    """Records to JSON-able dicts (for status output)."""
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value
