"""Generators of their own beside the schedule's main draw (schedule.draw),
by name (schedule.EXTRAS): a silent etcd, a lost master, the operator's
cleanups, a failover into failing commands, a server lost for long, short
failure memory, the services' floating addresses, and, through faultgen.py
and related.py, the later ones.

Each has its own random stream (seeded from the seed and a number of its
own), so a seed's schedule stays what it was unless that generator fires,
and regression seeds found before one existed keep their schedule.
"""
from __future__ import annotations

import random
from dataclasses import replace

from .schedule import FAULT_START, SERVERS, WINDOW, Fault, Schedule, ServicePlan


def _loss_bound(s: Schedule) -> float:
    """A lost master's actives run elsewhere within this (bounds.server_lost)."""
    return s.ttl + s.margin + len(SERVERS) * s.campaign_delay + 2 * s.actuator_timeout + 1.0


def _long_loss(seed: int, s: Schedule) -> tuple[Schedule, list[Fault]]:
    """Sometimes, a server that holds actives is lost (agent killed, or cut
    off from etcd) for 1.5-3 times the longest bound a lost server's actives
    have: nothing that waits for it to come back can pass for a failover.
    A generator of its own, as above."""
    rng = random.Random(seed * 1_000_003 + 23)
    if rng.random() >= 0.3:
        return s, []
    server = rng.choice(s.services).candidates[0]
    at = round(FAULT_START + rng.uniform(0, WINDOW), 2)
    duration = round(rng.uniform(1.5, 3.0) * _loss_bound(s), 2)
    if rng.random() < 0.5:
        return s, [Fault("agent_crash", at, duration, server=server)]
    return s, [Fault("cut", at, duration, server=server, etcd=True, peers=rng.random() < 0.5)]


def _short_memory(seed: int, s: Schedule) -> tuple[Schedule, list[Fault]]:
    """Sometimes, failures are forgotten after seconds instead of ten minutes
    (failureTimeout 4, 8 or 15 s), and a service with three candidates fails
    on its first, then, once that failure has expired, on the server it moved
    to: it must go back to the first (candidates order again), not to the
    third. A generator of its own, as above."""
    rng = random.Random(seed * 1_000_003 + 29)
    if rng.random() >= 0.3:
        return s, []
    s = s.but(failure_timeout=rng.choice((4.0, 8.0, 15.0)))
    three = [svc for svc in s.services if len(svc.candidates) == 3]
    if not three:
        return s, []
    svc = rng.choice(three)
    first = round(FAULT_START + rng.uniform(0, 10), 2)
    # the second failure lands after the first expired and after the
    # placement check's window (placement.py) has passed it
    second = round(first + s.failure_timeout + 4 * s.actuator_timeout + 4.0 + rng.uniform(1, 4), 2)
    return s, [Fault("proc_crash", first, server=svc.candidates[0], service=svc.name),
               Fault("proc_crash", second, server=svc.candidates[1], service=svc.name)]


def _vips(seed: int, services: tuple[ServicePlan, ...]) -> tuple[ServicePlan, ...]:
    """Half the services of one active carry a floating address (spec.vip),
    announced 1-3 times. A generator of its own, as the faults below."""
    rng = random.Random(seed * 1_000_003 + 17)
    return tuple(replace(svc, vip=rng.choice((1, 2, 3))) if svc.replicas == 1 and rng.random() < 0.5 else svc
                 for svc in services)


def _silent_etcd(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, etcd cut off from every server by dropped links while it keeps
    running and expiring leases (the failsafe's hard case: not refused, silent).
    Drawn from a generator of its own, so the schedules drawn before this fault
    existed (and their regression seeds) stay as they were unless it fires."""
    rng = random.Random(seed * 1_000_003 + 7)
    if rng.random() >= 0.12:
        return []
    at = round(FAULT_START + rng.uniform(0, WINDOW), 2)
    return [Fault("etcd_silent", at, round(rng.uniform(0.3, 2.5) * s.ttl, 2))]


def _master_loss(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, the master's server dies (s1 heads the hierarchy, so it is
    the master unless faults moved it) and, while the next master is still
    being elected, another server's agent crashes and comes back: it finds its
    assignment under the dead master's epoch. Widens the path an agent's epoch
    check guards (FoundationDB's "buggify"). A generator of its own, as above."""
    rng = random.Random(seed * 1_000_003 + 11)
    if rng.random() >= 0.15:
        return []
    at = round(FAULT_START + rng.uniform(0, WINDOW), 2)
    holders = [svc.candidates[0] for svc in s.services if svc.candidates[0] != SERVERS[0]]
    other = rng.choice(holders or list(SERVERS[1:]))
    return [Fault("agent_crash", at, round(rng.uniform(1.5, 3.0) * s.ttl, 2), server=SERVERS[0]),
            Fault("agent_crash", round(at + s.ttl + rng.uniform(0.3, 1.5), 2), round(rng.uniform(0.05, 0.3), 2),
                  server=other)]


def _cleanups(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, the operator's `overseer cleanup SERVICE [--server S]` in the
    middle of the faults: remembered failures forgotten while they matter.
    A generator of its own, as above."""
    rng = random.Random(seed * 1_000_003 + 13)
    if rng.random() >= 0.25:
        return []
    out = []
    for _ in range(rng.randint(1, 2)):
        svc = rng.choice(s.services)
        server = rng.choice(("", *svc.candidates))
        out.append(Fault("cleanup", round(FAULT_START + rng.uniform(0, WINDOW), 2), server=server, service=svc.name))
    return out


def failing_failover(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, a failover into failing commands: a service's first active
    crashes while the promote and demote commands of the candidate next in
    line fail or hang, after doing their work or not (the fault suite's `cmd`
    beside a `child-kill`): the path of a promote that partly succeeded.
    A generator of its own, as above."""
    rng = random.Random(seed * 1_000_003 + 19)
    if rng.random() >= 0.2:
        return []
    svc = rng.choice(s.services)
    at = round(FAULT_START + rng.uniform(0, WINDOW), 2)
    kind = rng.choice(("act_hang", "act_fail"))
    return [Fault(kind, at, round(rng.uniform(1.0, 3.0) * s.ttl, 2), server=svc.candidates[svc.replicas],
                  service=svc.name),
            Fault("proc_crash", round(at + rng.uniform(0.1, 1.0), 2), server=svc.candidates[0], service=svc.name)]


def _unchanged(generator):
    return lambda seed, s: (s, generator(seed, s))


def _faultgen(name: str, schedule: bool = False):   # schedule: it returns (schedule, faults)
    def generate(seed: int, s: Schedule) -> tuple[Schedule, list[Fault]]:
        from . import faultgen  # noqa: PLC0415  (it builds on this module's types)
        drawn = getattr(faultgen, name)(seed, s)
        return drawn if schedule else (s, drawn)
    return generate


def _related(seed: int, s: Schedule) -> tuple[Schedule, list[Fault]]:
    from .related import draw_relations   # noqa: PLC0415  (it builds on this module's types)
    return s.but(services=draw_relations(seed, s.services)), []


_GENERATORS = {"silent_etcd": _unchanged(_silent_etcd), "master_loss": _unchanged(_master_loss),
               "cleanups": _unchanged(_cleanups), "failing_failover": _unchanged(failing_failover),
               "long_loss": _long_loss, "short_memory": _short_memory,
               "slack_eaters": _faultgen("slack_eaters"), "server_loss": _faultgen("server_loss"),
               "one_way": _faultgen("one_way"), "startup_grace": _faultgen("startup_grace", schedule=True),
               "address_trouble": _faultgen("address_trouble"), "relations": _related,
               "replication_lag": _faultgen("replication_lag", schedule=True)}
