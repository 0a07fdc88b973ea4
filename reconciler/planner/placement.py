"""Choosing servers: who may become active, in what order, and the standby list.

Preference among eligible servers: servers not cordoned first (a cordoned
server is a last resort: chosen only when no other eligible candidate is
left, so a cordon never leaves a service without its active), then healthy
before warn before marked (a remembered failure, memory.py), then servers the
current assignment designated as successors (`hints`: the head of the standby
list while a handover is in progress), then `candidates` order. Standbys:
every other live candidate, servers outside the actives' failure domains
first, then candidates order; `first` and `last` pin the designated
successors to the head and servers being demoted to the tail.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from overseer.desired.models import ServiceDoc

from .health import View, is_eligible


def ranked_pool(view: View, name: str, svc: ServiceDoc, grades: dict[str, int],
                exclude: Iterable[str], hints: Sequence[str] = ()) -> list[str]:
    """Eligible candidates not in `exclude`, best first."""
    skip = set(exclude)
    # hinted servers (successors named in phase 1) keep the order they were named
    # in, so planning phase 2 again gives the same list
    hint_rank = {server: i for i, server in enumerate(hints)}
    pool = []
    for index, server in enumerate(svc.spec.candidates):
        if server in skip:
            continue
        grade = grades[server]
        if is_eligible(grade):
            pool.append((server in view.cordoned, grade, hint_rank.get(server, len(hint_rank)), index, server))
    pool.sort()
    return [entry[-1] for entry in pool]


def standby_order(view: View, svc: ServiceDoc, actives: Sequence[str],
                  first: Sequence[str] = (), last: Sequence[str] = (),
                  current: Sequence[str] = ()) -> tuple[str, ...]:
    """Every live candidate that is not active, in promotion-friendly order.

    A current standby whose lease is gone but whose failover margin has not
    passed stays: it may only be re-registering (etcd expired every lease at
    once, docs/design-choices.md), and dropping it stopped its warm standby
    for nothing. It goes once the margin passed, as a dead active does."""
    live = set(view.live) | {s for s in current if s not in view.live and not view.margin_passed(s)}
    pinned = set(actives)
    pinned.update(first)
    pinned.update(last)
    rest = [s for s in svc.spec.candidates if s not in pinned and s in live]
    if len(rest) > 1:
        domains = view.domains
        taken = {domains.get(s, "") for s in actives}
        taken.update(domains.get(s, "") for s in first)
        # stable sort: candidates order within each group
        rest.sort(key=lambda s: (s in view.cordoned, domains.get(s, "") in taken))
    head = [s for s in first if s in live and s not in actives]
    tail = [s for s in last if s in live and s not in actives]
    return tuple(head + rest + tail)


def all_active_set(view: View, svc: ServiceDoc, grades: dict[str, int],
                   current: Sequence[str]) -> tuple[str, ...]:
    """all-active: every eligible candidate (a cordoned one only where it runs
    already); never empty the service while a live active remains."""
    chosen = tuple(s for s in svc.spec.candidates
                   if is_eligible(grades[s]) and (s not in view.cordoned or s in current))
    if not chosen:
        chosen = tuple(s for s in svc.spec.candidates if is_eligible(grades[s]))
    if chosen:
        return chosen
    return tuple(s for s in current if s in view.live)
