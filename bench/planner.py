"""Planner speed: 10,000 services x 1,000 servers, steady state and 10% failing over.

Prints the median of 5 `plan()` runs for each case (target: steady < 100 ms).
Documents are built with `model_construct` (no validation) to keep setup short.
Run: .venv/bin/python bench/planner.py
"""
from __future__ import annotations

import random
import statistics
import time

from overseer.desired.checks import ProcessCheck
from overseer.desired.models import (
    ClusterDoc, ClusterSpec, Metadata, ProcessActuator, ServerDoc, ServerSpec, ServiceDoc, ServiceSpec,
)
from overseer.desired.state import Assignment, DesiredState, Observation, ServerRecord, ServiceReport
from overseer.reconciler.planner import ActualState, Assign, plan

N_SERVERS, N_SERVICES, CHECKS = 1000, 10_000, ("alive", "memory", "tcp")


def build(rng: random.Random):
    names = [f"srv{i:04d}" for i in range(N_SERVERS)]
    servers = {n: ServerDoc.model_construct(kind="Server", metadata=Metadata(name=n),
                                            spec=ServerSpec(address="10.0.0.1", failureDomain=f"sw{i % 8}"))
               for i, n in enumerate(names)}
    checks = [ProcessCheck.model_construct(name=c, type="process", critical=True, failAfter=None) for c in CHECKS]
    actuator = ProcessActuator.model_construct(type="process", command=("true",))
    services = {}
    for i in range(N_SERVICES):
        cands = rng.sample(names, rng.choice((2, 3)))
        spec = ServiceSpec.model_construct(mode="active-standby", replicas=1, standby="warm",
                                           candidates=cands, actuator=actuator, checks=checks)
        services[f"svc{i:05d}"] = ServiceDoc.model_construct(kind="Service", metadata=Metadata(name=f"svc{i:05d}"), spec=spec)
    cluster = ClusterDoc.model_construct(kind="Cluster", metadata=Metadata(name="bench"),
                                         spec=ClusterSpec(hierarchy=names[:3]))
    desired = DesiredState(cluster=cluster, servers=servers, services=services)
    live = {n: ServerRecord(n, health="ok") for n in names}
    return desired, live


def steady(desired: DesiredState, live: dict) -> tuple[ActualState, dict]:
    observations, reports = {}, {}
    empty = ActualState(servers=live, down_since={}, observations={}, reports={})
    assignments = {}
    for action in plan(desired, empty, {}, 0.0):
        if isinstance(action, Assign):
            assignments[action.service] = Assignment(action.service, action.active, action.standby)
    for name, a in assignments.items():
        for s in desired.services[name].spec.candidates:
            reports[(s, name)] = ServiceReport(s, name, role="active" if s in a.active else "standby")
            for c in CHECKS:
                observations[(s, name, c)] = Observation(s, name, c, status="ok")
    return ActualState(servers=live, down_since={}, observations=observations, reports=reports), assignments


def with_failures(actual: ActualState, assignments: dict, rng: random.Random) -> ActualState:
    """10% of services: the active's `alive` check fails and it already reported demoted."""
    observations, reports = dict(actual.observations), dict(actual.reports)
    for name in rng.sample(sorted(assignments), len(assignments) // 10):
        server = assignments[name].active[0]
        observations[(server, name, "alive")] = Observation(server, name, "alive", status="fail",
                                                            message="process not running")
        reports[(server, name)] = ServiceReport(server, name, role="standby")
    return ActualState(servers=actual.servers, down_since={}, observations=observations, reports=reports)


def timed(desired, actual, assignments, runs: int = 5) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        actions = plan(desired, actual, assignments, 100.0)
        times.append(time.perf_counter() - start)
        count = len(actions)
    return statistics.median(times) * 1000, count


def main() -> None:
    rng = random.Random(7)
    desired, live = build(rng)
    actual, assignments = steady(desired, live)
    print(f"{N_SERVICES} services x {N_SERVERS} servers, {len(actual.observations)} observations")
    ms, count = timed(desired, actual, assignments)
    print(f"steady state:   median {ms:7.1f} ms over 5 runs, {count} actions (target < 100 ms)")
    ms, count = timed(desired, with_failures(actual, assignments, rng), assignments)
    print(f"10% failovers:  median {ms:7.1f} ms over 5 runs, {count} actions")


if __name__ == "__main__":
    main()
