"""The summary table of a batch of fault schedules (`make faults`)."""
from __future__ import annotations

import collections
import math


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


class Table:
    def __init__(self, bound: float):
        self.bound = bound
        self.count = 0
        self.faults = 0
        self.kinds: collections.Counter = collections.Counter()
        self.doubles = 0
        self.stale = 0
        self.stuck = 0
        self.relations = 0         # start order or colocation broken
        self.related = 0           # schedules run with relationships
        self.judged_relations = 0
        self.recoveries: list[float] = []
        self.worst = (0.0, "")
        self.failed_seeds: list[int] = []
        self.notes: list[str] = []
        self.unjudged = 0          # schedules with a fault not judged for calm (schedule.UNJUDGED)
        # calm confusion: (labelled "blip" | "real", "moved" | "still") -> schedules
        self.confusion: collections.Counter = collections.Counter()

    @property
    def ok(self) -> bool:
        return not (self.doubles or self.stale or self.stuck or self.relations
                    or self.confusion[("blip", "moved")] or self.confusion[("real", "still")])

    def note(self, line: str) -> None:
        self.notes.append(line)

    def add(self, result) -> None:
        v = result.verdict
        self.count += 1
        self.faults += result.injected
        self.kinds.update(f.kind for f in result.schedule.faults)
        self.doubles += len(v.doubles)
        self.stale += len(v.stale_epochs)
        self.stuck += len(v.stuck)
        self.relations += len(v.relations)
        self.related += bool(getattr(result.schedule, "related", False))
        self.judged_relations += v.judged_relations
        self.recoveries += [r for r in v.recovery.values() if r is not None]
        if v.worst_outage > self.worst[0]:
            self.worst = (v.worst_outage, f"seed {result.schedule.seed} {v.worst_outage_service}")
        if not v.ok:
            self.failed_seeds.append(result.schedule.seed)
        faults = result.schedule.faults
        if any(f.blip is None for f in faults):
            self.unjudged += 1
        elif result.schedule.label == "calm" or (faults and all(f.blip for f in faults)):
            label = "blip" if all(f.blip for f in faults) else "real"
            self.confusion[(label, "moved" if v.moves else "still")] += 1

    def render(self) -> str:
        rows = [
            ("schedules", str(self.count)),
            ("faults injected", f"{self.faults} (" + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items())) + ")"),
            ("double actives (must be 0)", str(self.doubles)),
            ("promotes under a stale epoch (must be 0)", str(self.stale)),
            ("stuck services (must be 0)", f"{self.stuck} (bound {self.bound:.1f}s after heal)"),
            ("relationships broken (must be 0)",
             f"{self.relations} ({self.related} schedule(s) with relationships, {self.judged_relations} judged)"),
            ("worst outage while a candidate was healthy", f"{self.worst[0]:.2f}s ({self.worst[1] or '-'})"),
            ("recovery after heal p50 / p99 / max",
             f"{percentile(self.recoveries, 50):.2f}s / {percentile(self.recoveries, 99):.2f}s / "
             f"{max(self.recoveries, default=0.0):.2f}s"),
            ("failing seeds", ", ".join(map(str, self.failed_seeds)) or "none"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'':{width}} | |", f"|{'-' * (width + 2)}|---|"]
        lines += [f"| {k:{width}} | {v} |" for k, v in rows]
        if self.confusion:
            c = self.confusion
            lines += ["", "| calm: labelled | moved | did not move |", "|---|---|---|",
                      f"| blip (must not move) | {c[('blip', 'moved')]} | {c[('blip', 'still')]} |",
                      f"| real failure (must move) | {c[('real', 'moved')]} | {c[('real', 'still')]} |"]
        if self.unjudged:
            lines += ["", f"{self.unjudged} schedule(s) with an etcd leader stall past the lease were not judged "
                          "for calm: etcd before 3.5.13 may revoke leases then (docs/etcd-production.md)"]
        return "\n".join(lines + self.notes)
