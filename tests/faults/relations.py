"""Relationships (`requires`, `colocateWith`) judged from what ran.

Reads only the active intervals the checker built from the journal
(checker.build_intervals), the faults' heal times and the windows in which
nobody could move anything; never the assignments (docs/testing.md,
"Relationships on real processes"). The graces are the simulator's
(reconciler/sim/relations_check.py), from the cluster's timing:

- **order**: a service never becomes active (a promote of its warm child, a
  start of its cold child as active) while a service it requires has had no
  active for longer than `order_grace` (actuator timeout + 1 s: the promote
  runs up to the actuator's timeout after the master saw the requirement
  active, which may die meanwhile). An active dependent may stay when its
  requirement goes (design-choices.md, "Relationships between services"),
  so only becoming active is judged, at every moment of the run and in
  each recovery after a heal alike. A child resuming after a stop is no new
  active.
- **colocation**: a follower never becomes active on a server where its
  anchor is not active (same grace, from the anchor's last active there),
  and is never active apart from it, on a server where the anchor is not
  active, longer than `apart_grace` (leaseTTL + failoverMargin + 2 x
  actuator timeout + 1 s: the anchor may fail under it, and the follower
  leaves once the master heard, or its server fenced itself). Time apart
  counts only outside the windows in which nobody could move it: etcd
  without a quorum, either service paused by the operator.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

from .checker import Interval, ServiceSpec, Verdict
from .docs import Timing

NEVER = float("-inf")
SLACK = 1.0     # seconds: the simulator's SLACK (sim/bounds.py)


def order_grace(t: Timing) -> float:
    """actuator timeout + 1 s (3 s with the lab's timing)."""
    return t.actuator_timeout + SLACK


def apart_grace(t: Timing) -> float:
    """leaseTTL + failoverMargin + 2 x actuator timeout + 1 s (8.3 s with the lab's timing)."""
    return t.lease_ttl + t.failover_margin + 2 * t.actuator_timeout + SLACK


def _last_active(intervals: Sequence[Interval], service: str, t: float, server: Optional[str] = None) -> float:
    """The last moment up to `t` at which `service` had an active (on
    `server`, if given): `t` itself while one covers it, NEVER if none yet."""
    latest = NEVER
    for iv in intervals:
        if iv.service != service or (server is not None and iv.server != server) or iv.start > t:
            continue
        if iv.covers(t):
            return t
        latest = max(latest, iv.end if iv.end is not None else t)
    return latest


def _after_heal(t: float, heals: Sequence[float]) -> str:
    before = [h for h in heals if h <= t]
    return f" ({t - max(before):.2f}s after the heal at {max(before):.3f})" if before else ""


def judge_order(verdict: Verdict, specs: Mapping[str, ServiceSpec], grace: float,
                heals: Sequence[float] = ()) -> None:
    """Every new active of a dependent or follower, against what it waits for."""
    intervals = verdict.intervals
    for iv in sorted(intervals, key=lambda i: i.start):
        spec = specs.get(iv.service)
        if spec is None or iv.thawed:
            continue
        for req in spec.requires:
            verdict.judged_relations += 1
            gap = iv.start - _last_active(intervals, req, iv.start)
            if gap > grace:
                had = "never had one" if gap == float("inf") else f"had none for {gap:.2f}s"
                verdict.relations.append(
                    f"order: {iv.service} became active on {iv.server} at {iv.start:.3f}"
                    f"{_after_heal(iv.start, heals)} while {req}, which it requires, {had} (grace {grace:.2f}s)")
        if spec.colocate is not None:
            verdict.judged_relations += 1
            gap = iv.start - _last_active(intervals, spec.colocate, iv.start, iv.server)
            if gap > grace:
                verdict.relations.append(
                    f"colocation: {iv.service} became active on {iv.server} at {iv.start:.3f}"
                    f"{_after_heal(iv.start, heals)}, where {spec.colocate} (its anchor) was not active"
                    f" (grace {grace:.2f}s)")


def _outside(a: float, b: float, windows: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """[a, b) without the given windows."""
    pieces = [(a, b)]
    for lo, hi in sorted((w[0], w[1]) for w in windows):
        pieces = [p for x, y in pieces
                  for p in ((x, min(y, lo)), (max(x, hi), y)) if p[1] > p[0]]
    return pieces


def judge_apart(verdict: Verdict, specs: Mapping[str, ServiceSpec], grace: float, end: float,
                blocked: Mapping[str, Sequence[Sequence[float]]] = {}) -> None:
    """Every stretch a follower was active on a server where its anchor was not."""
    for follower, spec in specs.items():
        anchor = spec.colocate
        if anchor is None:
            continue
        frozen = [*blocked.get("*", ()), *blocked.get(follower, ()), *blocked.get(anchor, ())]
        for iv in (i for i in verdict.intervals if i.service == follower):
            there = [(a.start, end if a.end is None else a.end) for a in verdict.intervals
                     if a.service == anchor and a.server == iv.server]
            stop = end if iv.end is None else iv.end
            for x, y in _outside(iv.start, stop, there):
                verdict.judged_relations += 1
                for lo, hi in _outside(x, y, frozen):
                    if hi - lo > grace:
                        verdict.relations.append(
                            f"colocation: {follower} active on {iv.server} without {anchor} (its anchor)"
                            f" from {lo:.3f} for {hi - lo:.2f}s (grace {grace:.2f}s)")
                        break


def judge_relations(verdict: Verdict, specs: Mapping[str, ServiceSpec], timing: Timing, *, end: float,
                    heals: Sequence[float] = (), blocked: Mapping[str, Sequence[Sequence[float]]] = {}) -> None:
    """Both rules; `heals`: when each fault healed (named in a violation after one)."""
    judge_order(verdict, specs, order_grace(timing), heals)
    judge_apart(verdict, specs, apart_grace(timing), end, blocked)
