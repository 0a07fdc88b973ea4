"""What the planner reads besides the desired documents: the actual state.

The reconcile loop builds one `ActualState` from a consistent snapshot and
hands it to `plan()`; the planner never reads etcd or the clock itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from overseer.desired.state import (
    FailCount, FenceRecord, Observation, ServerRecord, ServiceReport, SwitchoverRequest,
)


@dataclass(frozen=True)
class ActualState:
    # live servers only (they hold a lease); ServerRecord.health ok|warn|fail|unknown
    servers: Mapping[str, ServerRecord]
    # desired servers that are NOT live -> when the master first saw them gone;
    # a missing entry means "long ago" (the failover margin has passed)
    down_since: Mapping[str, float]
    # (server, service, check) -> hysteresis-filtered observation
    observations: Mapping[tuple[str, str, str], Observation]
    # (server, service) -> what that agent did (role, outcome)
    reports: Mapping[tuple[str, str], ServiceReport]
    paused: frozenset[str] = frozenset()                       # service names; "*" = all
    switchovers: Mapping[str, SwitchoverRequest] = field(default_factory=dict)
    # (server, service) -> failures of the service while active there (failure memory)
    failures: Mapping[tuple[str, str], FailCount] = field(default_factory=dict)
    # servers where nothing new is placed (`overseer cordon`): a last resort only
    cordoned: frozenset[str] = frozenset()
    # dead servers -> their fence agent's latest attempt in this outage (fence/<server>)
    fences: Mapping[str, FenceRecord] = field(default_factory=dict)

    def is_paused(self, service: str) -> bool:
        return "*" in self.paused or service in self.paused
