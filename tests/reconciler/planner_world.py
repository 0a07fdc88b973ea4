"""Small builders for planner tests: desired documents, live servers, observations.

`World` holds the mutable picture a test (or a simulated agent loop) edits,
and `actual()` freezes it into the `ActualState` the planner reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from overseer.desired.models import ClusterDoc, ServerDoc, ServiceDoc
from overseer.desired.state import (
    Assignment, DesiredState, FailCount, FenceRecord, Observation, ServerRecord, ServiceReport,
    SwitchoverRequest,
)
from overseer.reconciler.planner.master_pass import assignment_time
from overseer.reconciler.planner import ActualState, Assign, plan


def cluster(servers: list[str], margin: float = 0.5) -> ClusterDoc:
    return ClusterDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Cluster", "metadata": {"name": "t"},
        "spec": {"hierarchy": servers, "failoverMargin": f"{int(margin * 1000)}ms"},
    })


def server(name: str, domain: str = "", fence: bool = False) -> ServerDoc:
    spec = {"address": f"10.0.0.{abs(hash(name)) % 250 + 1}", "failureDomain": domain}
    if fence:
        spec["fence"] = {"command": ["fence_virsh", f"--plug={name}", "--action=off"], "timeout": "10s"}
    return ServerDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Server", "metadata": {"name": name}, "spec": spec})


def service(name: str, candidates: list[str], mode: str = "active-standby", replicas: int = 1,
            standby: str = "warm", checks: tuple[str, ...] = ("alive",)) -> ServiceDoc:
    return ServiceDoc.model_validate({
        "apiVersion": "overseer/v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"mode": mode, "replicas": replicas, "standby": standby, "candidates": candidates,
                 "actuator": {"type": "process", "command": ["sleep", "1000"]},
                 "checks": [{"name": c, "type": "process"} for c in checks]},
    })


def desired(domains: dict[str, str], services: list[ServiceDoc], margin: float = 0.5,
            fenced: tuple[str, ...] = ()) -> DesiredState:
    """`fenced`: servers whose document configures a fence agent."""
    return DesiredState(
        cluster=cluster(list(domains), margin),
        servers={n: server(n, d, n in fenced) for n, d in domains.items()},
        services={s.metadata.name: s for s in services},
    )


@dataclass
class World:
    """Mutable actual state; `actual()` snapshots it for one plan."""
    live: dict[str, str] = field(default_factory=dict)          # server -> health
    down_since: dict[str, float] = field(default_factory=dict)
    checks: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    reports: dict[tuple[str, str], ServiceReport] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    switchovers: dict[str, SwitchoverRequest] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    failures: dict[tuple[str, str], FailCount] = field(default_factory=dict)
    cordoned: set[str] = field(default_factory=set)
    fences: dict[str, FenceRecord] = field(default_factory=dict)
    values: dict[tuple[str, str, str], Optional[float]] = field(default_factory=dict)

    def fence(self, server: str, outcome: str, started: float, ended: float = 0.0, attempt: int = 1,
              message: str = "") -> None:
        """The master's latest fence of `server` in its current outage (`fence/<server>`)."""
        self.fences[server] = FenceRecord(server, started, ended or started, outcome, 7, attempt, message,
                                          timeout=10.0)

    def failed(self, server: str, svc: str, at: float, count: int = 1, message: str = "alive failed") -> None:
        """Failure memory: the service failed `count` times as active on `server`, last at `at`."""
        self.failures[(server, svc)] = FailCount(server, svc, count, at, message)

    def check(self, server: str, svc: str, check: str, status: str, message: str = "",
              critical: bool = True) -> None:
        self.checks[(server, svc, check)] = (status, message, critical)

    def measured(self, server: str, svc: str, check: str, value: Optional[float], status: str = "ok",
                 critical: bool = False) -> None:
        """A check's published value (a replication check's lag) and status."""
        self.check(server, svc, check, status, critical=critical)
        self.values[(server, svc, check)] = value

    def report(self, server: str, svc: str, role: str, outcome: str = "ok", message: str = "") -> None:
        """The agent reports after acting on the service's current assignment."""
        current = self.assignments.get(svc)
        self.reports[(server, svc)] = ServiceReport(server, svc, role=role, outcome=outcome, message=message,
                                                    assigned=current.time if current else 0.0)

    def ack(self, svc: str, *servers: str) -> None:
        """Agents that saw the current assignment and had nothing to do report
        their unchanged role for it (the real agent reports on every change)."""
        for server in servers:
            old = self.reports.get((server, svc))
            self.report(server, svc, old.role if old else "standby", old.outcome if old else "ok")

    def kill(self, name: str, at: float) -> None:
        self.live.pop(name, None)
        self.down_since[name] = at

    def revive(self, name: str, health: str = "ok") -> None:
        """It registered again: its registration deletes its fence record."""
        self.live[name] = health
        self.down_since.pop(name, None)
        self.fences.pop(name, None)

    def actual(self) -> ActualState:
        return ActualState(
            servers={n: ServerRecord(n, health=h, message=f"{n} is {h}") for n, h in self.live.items()},
            down_since=dict(self.down_since),
            observations={k: Observation(k[0], k[1], k[2], status=v[0], message=v[1], critical=v[2],
                                         value=self.values.get(k))
                          for k, v in self.checks.items()},
            reports=dict(self.reports),
            paused=frozenset(self.paused),
            switchovers=dict(self.switchovers),
            failures=dict(self.failures),
            cordoned=frozenset(self.cordoned),
            fences=dict(self.fences),
        )

    def plan(self, state: DesiredState, now: float) -> list:
        return plan(state, self.actual(), self.assignments, now)

    def apply(self, actions: list, now: float = 0.0) -> None:
        """What the reconcile loop does with Assign and ClearSwitchover."""
        for action in actions:
            if isinstance(action, Assign):
                old = self.assignments.get(action.service)
                self.assignments[action.service] = Assignment(
                    action.service, active=action.active, standby=action.standby, reason=action.reason,
                    time=assignment_time(old, now))
            elif type(action).__name__ == "ClearSwitchover":
                self.switchovers.pop(action.service, None)

    def step(self, state: DesiredState, now: float) -> list:
        actions = self.plan(state, now)
        self.apply(actions, now)
        return actions

    def settle(self, state: DesiredState, now: float = 0.0) -> "World":
        """Place, then every agent reports what it was told."""
        self.step(state, now)
        for name, a in self.assignments.items():
            for s in a.active:
                self.report(s, name, "active")
            for s in a.standby:
                self.report(s, name, "standby")
        return self


def assigns(actions: list) -> list[Assign]:
    return [a for a in actions if isinstance(a, Assign)]


def only_assign(actions: list, service: Optional[str] = None) -> Assign:
    found = [a for a in assigns(actions) if service is None or a.service == service]
    assert len(found) == 1, actions
    return found[0]
