"""The documents (docs/reference.md) as pydantic v2 models.

A document is `apiVersion`, `kind`, `metadata`, `spec`; the loader picks the
model by `kind`. Cross-document rules (hierarchy, candidates, duplicates) live
in `validate.py`, because one document alone cannot know them.
"""
from __future__ import annotations

import signal
from typing import Annotated, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from .checks import Check
from .fence import FenceAgent
from .hooks import ClusterHooks, ServiceHooks
from .run_as import RunAs
from .vip import Vip
from .fields import (
    Command, Count, Duration, Name, Percent, PositiveDuration, PositiveInt, Strict,
)

API_VERSION = "overseer/v1"
MAX_HISTORY_LIMIT = 300


class Metadata(Strict):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# --- Cluster ---------------------------------------------------------------

class CheckDefaults(Strict):
    """Defaults of every check, and of every Service's failure memory
    (Pacemaker's migration-threshold / failure-timeout; reconciler/planner/memory.py)."""
    interval: PositiveDuration = 1.0
    timeout: PositiveDuration = 2.0
    failAfter: PositiveInt = 3
    recoverAfter: PositiveInt = 2
    migrationThreshold: PositiveInt = 1   # failures of a service while active on a server that mark the server: it then ranks below every unmarked eligible candidate
    failureTimeout: PositiveDuration = 600.0   # a server's failures of a service are forgotten this long after the latest one (or by `overseer cleanup`)


class FloatLimits(Strict):
    warn: float
    fail: float

    @model_validator(mode="after")
    def _order(self):
        if self.warn >= self.fail:
            raise ValueError(f"warn ({self.warn:g}) must be below fail ({self.fail:g})")
        return self


class PercentLimits(Strict):
    warn: Percent
    fail: Percent

    @model_validator(mode="after")
    def _order(self):
        if self.warn >= self.fail:
            raise ValueError(f"warn ({self.warn:g}%) must be below fail ({self.fail:g}%)")
        return self


class DiskLimits(PercentLimits):
    path: str = "/"


class ServerHealth(Strict):
    load1PerCPU: Optional[FloatLimits] = FloatLimits(warn=1.5, fail=4)
    memoryPercent: Optional[PercentLimits] = PercentLimits(warn=85, fail=95)
    disk: Optional[DiskLimits] = DiskLimits(path="/", warn=85, fail=95)


class ClusterSpec(Strict):
    hierarchy: list[Name] = Field(min_length=1)
    leaseTTL: PositiveDuration = 5.0
    preempt: bool = False
    # A server of rank r waits r x campaignDelay before its first campaign, so
    # servers started together elect the highest-ranked one.
    campaignDelay: PositiveDuration = 1.0
    # Extra wait after a dead server's lease expired before its services move.
    failoverMargin: PositiveDuration = 0.5
    defaults: CheckDefaults = CheckDefaults()
    serverHealth: ServerHealth = ServerHealth()
    # history entries kept per service, at most 300: `status` and the board read them all (docs/etcd-production.md)
    historyLimit: Annotated[PositiveInt, Field(le=MAX_HISTORY_LIMIT)] = 200
    resultsKept: PositiveInt = 30         # recent probe results kept per check
    on: Optional[ClusterHooks] = None     # notifications after role changes, for every service (desired/hooks.py)


class ClusterDoc(Strict):
    apiVersion: Literal["overseer/v1"]
    kind: Literal["Cluster"]
    metadata: Metadata
    spec: ClusterSpec


# --- Server ----------------------------------------------------------------

class ServerSpec(Strict):
    address: str = Field(min_length=1)
    failureDomain: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    # The agent's peer endpoint (/healthz, signed with the peer key), asked by peers when etcd is gone.
    agentPort: int = Field(default=7480, ge=1, le=65535)
    fence: Optional[FenceAgent] = None    # the command the master runs to power this server off before moving its actives (desired/fence.py)


class ServerDoc(Strict):
    apiVersion: Literal["overseer/v1"]
    kind: Literal["Server"]
    metadata: Metadata
    spec: ServerSpec


# --- Service ---------------------------------------------------------------

class _ActuatorBase(Strict):
    promote: Optional[Command] = None
    demote: Optional[Command] = None   # without one, a warm active steps down by a restart (stop, then start)
    timeout: PositiveDuration = 30.0


class ExecActuator(_ActuatorBase, RunAs):
    type: Literal["exec"]
    start: Command
    stop: Command
    status: Optional[Command] = None


class SystemdActuator(_ActuatorBase):
    """`systemctl start|stop|is-active UNIT`, run as the agent (systemctl needs
    root, or polkit rights over the unit). The unit's own `User=` decides who
    the service runs as; `promote` and `demote` run as the agent too."""
    type: Literal["systemd"]
    unit: str = Field(min_length=1)


class ProcessActuator(_ActuatorBase, RunAs):
    type: Literal["process"]
    command: Command
    stopSignal: str = "SIGTERM"
    workingDir: Optional[str] = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("stopSignal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        name = value if value.startswith("SIG") else f"SIG{value}"
        if not hasattr(signal, name):
            raise ValueError(f"unknown signal {value!r}; use e.g. SIGTERM, SIGINT, SIGQUIT")
        return name


Actuator = Annotated[
    Union[ExecActuator, SystemdActuator, ProcessActuator], Field(discriminator="type")
]


class ServiceSpec(Strict):
    mode: Literal["active-standby", "all-active"] = "active-standby"
    replicas: PositiveInt = 1
    standby: Literal["warm", "cold"] = "warm"
    candidates: list[Name]
    actuator: Actuator
    checks: list[Check] = Field(default_factory=list)
    startupGrace: Optional[Duration] = None   # every check's start-up grace unless the check sets its own; unset: each check type's default
    migrationThreshold: Optional[PositiveInt] = None   # this service's failure memory; unset: the Cluster's `defaults.migrationThreshold`
    failureTimeout: Optional[PositiveDuration] = None   # unset: the Cluster's `defaults.failureTimeout`
    on: Optional[ServiceHooks] = None     # this service's notifications; an event named here replaces the Cluster's
    vip: Optional[Vip] = None             # a floating IP that follows the active (desired/vip.py)
    requires: list[Name] = Field(default_factory=list)   # start order: no first placement, promotion or restart in place while one of these services has no active; an active one stays ([relationships](design-choices.md#relationships-between-services))
    colocateWith: Optional[Name] = None   # active only where that service is active: they move as one, a failure of either moves both, and this one stops first ([relationships](design-choices.md#relationships-between-services))

    @field_validator("candidates")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("candidates must list at least one server")
        return value


class ServiceDoc(Strict):
    apiVersion: Literal["overseer/v1"]
    kind: Literal["Service"]
    metadata: Metadata
    spec: ServiceSpec


Document = Union[ClusterDoc, ServerDoc, ServiceDoc]
MODELS: dict[str, type[Strict]] = {"Cluster": ClusterDoc, "Server": ServerDoc, "Service": ServiceDoc}
KINDS = tuple(MODELS)

__all__ = [
    "API_VERSION", "MODELS", "KINDS", "Document", "ClusterDoc", "ServerDoc", "ServiceDoc",
    "ClusterSpec", "ServerSpec", "ServiceSpec", "CheckDefaults", "ServerHealth",
    "ExecActuator", "SystemdActuator", "ProcessActuator", "Actuator", "Check", "Count", "Vip", "FenceAgent",
]
