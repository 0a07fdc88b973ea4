"""Running schedules: one (with its trace), or many (with the summary table)."""
from __future__ import annotations

import multiprocessing
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .checker import INVARIANTS
from .schedule import Schedule, draw
from .trace import Trace
from .world import World


@dataclass
class Result:
    schedule: Schedule
    violations: list
    trace: str
    worst_outage: float
    recovery: dict
    virtual: float
    judged: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def run(schedule: Schedule, keep_logs: bool = True) -> Result:
    trace = Trace(keep_logs)
    world = World(schedule, trace)
    checker = world.run()
    return Result(schedule, list(checker.violations), trace.text(), checker.worst_outage,
                  dict(checker.recovery), world.now(), dict(checker.judged))


def run_seed(seed: int, keep_logs: bool = True) -> Result:
    return run(draw(seed), keep_logs)


@dataclass
class Summary:
    schedules: int = 0
    faults: int = 0
    calm: int = 0
    violations: dict = field(default_factory=lambda: {k: 0 for k in INVARIANTS})
    failing: list = field(default_factory=list)
    worst_outage: float = 0.0
    recoveries: list = field(default_factory=list)
    virtual: float = 0.0
    judged: dict = field(default_factory=dict)

    def add(self, result: Result) -> None:
        self.schedules += 1
        self.faults += len(result.schedule.faults)
        self.calm += result.schedule.calm
        self.virtual += result.virtual
        for _, invariant, _ in result.violations:
            self.violations[invariant] += 1
        if result.violations:
            self.failing.append(result.schedule.seed)
        self.worst_outage = max(self.worst_outage, result.worst_outage)
        self.recoveries += list(result.recovery.values())
        for what, n in result.judged.items():
            self.judged[what] = self.judged.get(what, 0) + n

    def table(self, wall: Optional[float] = None) -> str:
        rec = sorted(self.recoveries)
        p50 = statistics.median(rec) if rec else 0.0
        p99 = rec[min(len(rec) - 1, int(len(rec) * 0.99))] if rec else 0.0
        rows = [("schedules", f"{self.schedules} ({self.calm} of blips only)"),
                ("faults injected", str(self.faults)),
                *((f"violations: {k}", str(v)) for k, v in self.violations.items()),
                ("judged", ", ".join(f"{n} {what}" for what, n in self.judged.items())),
                ("worst outage (no active)", f"{self.worst_outage:.2f}s"),
                ("time to recovery p50 / p99", f"{p50:.2f}s / {p99:.2f}s"),
                ("virtual time simulated", f"{self.virtual:.0f}s")]
        if wall is not None:
            rows.append(("wall time", f"{wall:.1f}s"))
        if self.failing:
            rows.append(("failing seeds", " ".join(map(str, self.failing[:20]))
                         + (" ..." if len(self.failing) > 20 else "")))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _run_for_summary(seed: int) -> Result:
    result = run_seed(seed, keep_logs=False)
    result.trace = ""  # the table needs none of it; keeps what crosses the pipe small
    return result


def run_many(seeds: Iterable[int], jobs: int = 1) -> Summary:
    """Run the schedules, in `jobs` processes when more than one. Schedules are
    independent and each is decided by its seed alone, so splitting them over
    processes changes no result (the failing seeds are reported sorted)."""
    summary = Summary()
    seeds = list(seeds)
    if jobs <= 1 or len(seeds) < 2:
        for seed in seeds:
            summary.add(_run_for_summary(seed))
        return summary
    # fork: the children inherit PYTHONHASHSEED=0 and the imported modules
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for result in pool.imap_unordered(_run_for_summary, seeds, chunksize=8):
            summary.add(result)
    summary.failing.sort()
    return summary
