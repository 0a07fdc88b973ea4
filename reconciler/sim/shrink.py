"""Shrinking a failing schedule to a minimal one that still fails the same way.

A simple delta-debugging loop: drop one fault at a time, then halve the
durations, keeping each change only while the run still violates the same
invariant. Every candidate is a full deterministic run, so the result is a
schedule anyone can replay, printed with the agents' own log lines.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from .run import Result, run
from .schedule import Schedule

BUDGET = 80   # runs; each is a fraction of a second


@dataclass
class Shrunk:
    original: Schedule
    schedule: Schedule
    result: Result
    runs: int

    def report(self) -> str:
        lines = [f"shrunk seed {self.original.seed}: {len(self.original.faults)} -> "
                 f"{len(self.schedule.faults)} faults in {self.runs} runs",
                 f"cluster: leaseTTL {self.schedule.ttl:g}s, interval {self.schedule.interval:g}s, "
                 f"failAfter {self.schedule.fail_after}, failoverMargin {self.schedule.margin:g}s, "
                 f"actuator timeout {self.schedule.actuator_timeout:g}s, failureTimeout "
                 f"{self.schedule.failure_timeout:g}s, run ends at {self.schedule.end:.1f}s",
                 *(f"service {s.name}: standby {s.standby}, replicas {s.replicas}, candidates "
                   f"{', '.join(s.candidates)}, demote command {'yes' if s.demote else 'no'}"
                   + (f", startupGrace {s.grace:g}s on the {'check' if s.grace_on_check else 'Service'}"
                      if s.grace else "")
                   for s in self.schedule.services),
                 "faults:", *(f"  {f.describe()}" for f in self.schedule.faults),
                 "violations:", *(f"  {t:8.3f} {inv}: {msg}" for t, inv, msg in self.result.violations),
                 "trace (virtual seconds, simulated process, the agents' own log lines):",
                 *(line for line in self.result.trace.splitlines() if " sink: " not in line)]
        return "\n".join(lines)


def _invariant(result: Result) -> Optional[str]:
    return result.violations[0][1] if result.violations else None


def shrink(schedule: Schedule, budget: int = BUDGET) -> Shrunk:
    best = run(schedule)
    invariant = _invariant(best)
    runs = 1
    if invariant is None:
        return Shrunk(schedule, schedule, best, runs)

    def attempt(candidate: Schedule) -> bool:
        nonlocal best, runs
        runs += 1
        result = run(candidate)
        if any(v[1] == invariant for v in result.violations):
            best = result
            return True
        return False

    current, progress = schedule, True
    while progress and runs < budget:
        progress = False
        faults = list(current.faults)
        for i in range(len(faults)):
            if runs >= budget:
                break
            candidate = current.but(faults=tuple(faults[:i] + faults[i + 1:]))
            if attempt(candidate):
                current, progress = candidate, True
                break
        if progress:
            continue
        for i, fault in enumerate(faults):
            if runs >= budget or fault.duration < 0.2:
                continue
            shorter = replace(fault, duration=round(fault.duration / 2, 2))
            candidate = current.but(faults=tuple(faults[:i] + [shorter] + faults[i + 1:]))
            if attempt(candidate):
                current, progress = candidate, True
                break
    return Shrunk(schedule, current, best, runs)
