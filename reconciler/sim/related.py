"""Relationships drawn into a schedule's documents: `requires` and `colocateWith`.

About half the schedules with two or more services get some: a service may
require one listed before it (never a cycle), and may follow one listed
before it that shares a candidate and has at least as many actives. The
checker judges them (relations_check.py). A generator of its own, as the
faults' (schedule.EXTRAS), so schedules drawn without it keep theirs.
"""
from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schedule import ServicePlan


def draw_relations(seed: int, services: tuple["ServicePlan", ...]) -> tuple["ServicePlan", ...]:
    rng = random.Random(seed * 1_000_003 + 29)
    if len(services) < 2 or rng.random() < 0.5:
        return services
    out = list(services)
    for i in range(1, len(out)):
        svc, earlier = out[i], out[:i]
        other = rng.choice(earlier)
        if rng.random() < 0.5:
            out[i] = svc = replace(svc, requires=(other.name,))
        anchor = rng.choice(earlier)
        shared = set(svc.candidates) & set(anchor.candidates)
        if (rng.random() < 0.5 and shared and not anchor.colocate
                and svc.replicas <= min(len(shared), anchor.replicas)):
            out[i] = replace(svc, colocate=anchor.name)
    return tuple(out)
