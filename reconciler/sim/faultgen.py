"""Faults drawn from generators of their own: etcd trouble, what eats the
fencing slack, servers lost, one-way cuts, floating addresses refused, the
etcd cluster's size, and the services' start-up grace.

Each generator has its own random stream (seeded from the seed and a number
of its own), so a seed's schedule stays what it was unless that generator
fires, and regression seeds found before it existed keep their schedule
(schedule.draw(extras=False)). docs/testing.md lists every kind, its fields,
and which ones are labelled blips.

Labelled blips here are the etcd troubles the product promises to ride
through with nothing moved, of any length, while the servers reach each
other: a stall of etcd (every member, the leader, or a follower), quorum
lost and regained, a member killed and restarted, a minority member, one
server cut off from one member, slow fsync, and compaction. In a schedule of
blips only they are placed a lease away from the blips that silence a server
(schedule._silenced), as the other blips are.
"""
from __future__ import annotations

import math
import random
from dataclasses import replace

from .schedule import FAULT_START, SERVERS, WINDOW, Fault, Schedule, _silenced

MEMBERS = ("m1", "m2", "m3")

# etcd trouble: kind -> weight, for a single member and for three
_ONE = {"etcd_stall": 0.6, "etcd_fsync": 0.25, "etcd_compact": 0.15}
_THREE = {"etcd_stall": 0.15, "etcd_leader_stall": 0.15, "etcd_member_stall": 0.1, "etcd_quorum": 0.15,
          "etcd_member_down": 0.1, "etcd_minority": 0.1, "etcd_link": 0.1, "etcd_fsync": 0.1,
          "etcd_compact": 0.05}
SLACK = ("host_freeze", "fencer_late", "loop_block", "clock_rate", "wall_step")


def _rng(seed: int, salt: int) -> random.Random:
    return random.Random(seed * 1_000_003 + salt)


def _at(rng: random.Random) -> float:
    return round(FAULT_START + rng.uniform(0, WINDOW), 2)


def etcd_members(seed: int) -> int:
    """Three etcd members in about a third of the seeds, one in the others."""
    return 3 if _rng(seed, 37).random() < 0.35 else 1


def etcd_trouble(seed: int, s: Schedule, existing: list[Fault]) -> list[Fault]:
    """Sometimes, one or two etcd troubles, every one a labelled blip."""
    rng = _rng(seed, 41)
    if rng.random() >= 0.3:
        return []
    weights = _THREE if s.members == 3 else _ONE
    out: list[Fault] = []
    for _ in range(1 if rng.random() < 0.8 else 2):
        kind = rng.choices(list(weights), list(weights.values()))[0]
        out.append(_etcd_fault(rng, s, kind))
    if all(f.blip for f in existing):   # a calm schedule: keep each blip a blip
        placed = list(existing)
        for i, f in enumerate(out):
            out[i] = _apart_from(f, placed, s.ttl)
            placed.append(out[i])
    return out


def _etcd_fault(rng: random.Random, s: Schedule, kind: str) -> Fault:
    at, ttl = _at(rng), s.ttl
    span = round(rng.uniform(0.2, 3.0) * ttl, 2)
    if kind in ("etcd_stall", "etcd_member_stall"):
        return Fault(kind, at, span, member="" if kind == "etcd_stall" else "follower", blip=True)
    if kind == "etcd_leader_stall":
        return Fault(kind, at, span, member="leader", blip=True)
    if kind == "etcd_quorum":
        return Fault(kind, at, span, how=rng.choice(("down", "stall", "split")), blip=True)
    longer = round(rng.uniform(0.5, 4.0) * ttl, 2)
    if kind in ("etcd_member_down", "etcd_minority"):
        return Fault(kind, at, longer, member=rng.choice(("leader", "follower")), blip=True)
    if kind == "etcd_link":
        # half of them on m1: every client starts there (all list the members in one order)
        member = "m1" if rng.random() < 0.5 else rng.choice(MEMBERS[1:])
        return Fault(kind, at, longer, server=rng.choice(SERVERS), member=member, blip=True)
    if kind == "etcd_fsync":
        return Fault(kind, at, round(rng.uniform(2.0, 10.0), 2), latency=round(rng.uniform(0.05, 0.8), 3),
                     blip=True)
    return Fault("etcd_compact", at, blip=True)


def _apart_from(f: Fault, placed: list[Fault], ttl: float) -> Fault:
    """Move `f` later until it is a lease away from every blip silencing a
    server it silences too (schedule._apart, without moving the others)."""
    servers, at, moved = _silenced(f), f.at, True
    while servers and moved:
        moved = False
        for other in placed:
            if servers & _silenced(other) and other.at - f.duration - ttl < at < other.end + ttl - 1e-9:
                at, moved = math.ceil((other.end + ttl) * 100 - 1e-6) / 100, True   # never rounded back in
    return replace(f, at=at)


def slack_eaters(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, one of what eats the fencing slack: the time between the
    fencer's kill (0.95 x leaseTTL after the last renewal it was told of) and
    a successor's promote (the lease's expiry in etcd, the lessor's next look,
    failoverMargin, start and promote). Each comes where it bites: on a server
    holding actives, beside an agent stopped past its lease (so the fencer is
    the one to kill), or on the master while it times a failover."""
    rng = _rng(seed, 43)
    if rng.random() >= 0.3:
        return []
    kind = rng.choices(SLACK, (0.15, 0.35, 0.15, 0.2, 0.15))[0]
    at, ttl = _at(rng), s.ttl
    holder = rng.choice(s.services).candidates[0]
    stopped = Fault("agent_pause", at, round(rng.uniform(1.2, 2.5) * ttl, 2), server=holder)
    if kind == "host_freeze":       # agent, fencer and children frozen together (a VM pause)
        return [Fault(kind, at, round(rng.uniform(0.2, 3.0) * ttl, 2), server=holder)]
    if kind == "loop_block":        # CPU work holds the agent's event loop: timers fire late
        return [Fault(kind, at, round(rng.uniform(0.2, 2.0) * ttl, 2), server=holder)]
    if kind == "fencer_late":       # its kill lands late (a child in uninterruptible sleep), at
        # the edge of the slack the design keeps: 0.05 x leaseTTL before the lease expires, plus
        # the margin. Within its last tenth: an earlier kill only races less, and a deadline
        # 5 % of a lease late must lose the race (docs/testing.md, "deadlines-1.05-leases")
        late = round(rng.uniform(0.9, 1.0) * (0.05 * ttl + s.margin), 3)
        return [Fault(kind, round(at - 1.0, 2), round(stopped.duration + 3.0, 2), server=holder, latency=late),
                stopped]
    if kind == "clock_rate":        # its crystal runs fast or slow while its fencer counts
        off = rng.uniform(0.0005, 0.03) * rng.choice((-1, 1))
        return [Fault(kind, round(at - 2.0, 2), round(rng.uniform(10.0, 40.0), 2), server=holder,
                      rate=round(1 + off, 5)), stopped]
    # the wall clock of the hierarchy's head (the master unless faults moved it)
    # steps while it times a lost server's failover margin (NTP, date -s)
    lost = rng.choice([x for x in SERVERS[1:]])
    step = round(rng.uniform(0.1, 3.0) * rng.choice((-1, 1)), 2)
    return [Fault("agent_crash", at, round(rng.uniform(1.5, 3.0) * ttl, 2), server=lost),
            Fault("wall_step", round(at + rng.uniform(0.8, 1.3) * ttl, 2), server=SERVERS[0], step=step)]


def server_loss(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, a server gone for good (never back) or for long (6-15 leases)."""
    rng = _rng(seed, 47)
    if rng.random() >= 0.12:
        return []
    at, server = _at(rng), rng.choice(SERVERS)
    duration = float("inf") if rng.random() < 0.5 else round(rng.uniform(6.0, 15.0) * s.ttl, 2)
    return [Fault("server_gone", at, duration, server=server)]


def one_way(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, a one-way cut: one server's requests to etcd (or etcd's
    answers to it) dropped, or one server unable to connect to one peer."""
    rng = _rng(seed, 53)
    if rng.random() >= 0.12:
        return []
    at, server = _at(rng), rng.choice(SERVERS)
    if rng.random() < 0.5:
        # up to six leases: past a lost server's deadline, what a master that
        # hears nothing from etcd (while its own requests land) does matters
        return [Fault("etcd_oneway", at, round(rng.uniform(0.3, 6.0) * s.ttl, 2), server=server,
                      how=rng.choice(("requests", "answers")))]
    peer = rng.choice([x for x in SERVERS if x != server])
    return [Fault("peer_oneway", at, round(rng.uniform(2.0, 15.0), 2), server=server, to=peer)]


def startup_grace(seed: int, s: Schedule) -> tuple[Schedule, list[Fault]]:
    """Sometimes, services whose `alive` check has a start-up grace (0.5-5 s,
    on the check or on the Service): failures right after a start or promote
    count for nothing until it ends, so a flap there moves the service later
    (bounds.py adds the grace to the deadlines it can delay)."""
    rng = _rng(seed, 59)
    if rng.random() >= 0.3:
        return s, []
    services = tuple(replace(svc, grace=rng.choice((0.5, 1.0, 2.0, 5.0)), grace_on_check=rng.random() < 0.5)
                     if rng.random() < 0.7 else svc for svc in s.services)
    return s.but(services=services), []


def address_trouble(seed: int, s: Schedule) -> list[Fault]:
    """Sometimes, a failover onto a server whose kernel refuses floating
    addresses for a while (`ip addr replace`: "Cannot assign requested
    address"): a service with a `vip` loses its active's child while its next
    candidate cannot add the address. The service's own promote works there,
    the address does not come up: a half-promoted service, which the promote
    must report as failed."""
    rng = _rng(seed, 61)
    with_vip = [svc for svc in s.services if svc.vip]
    if not with_vip or rng.random() >= 0.3:
        return []
    svc = rng.choice(with_vip)
    at = _at(rng)
    return [Fault("vip_fail", at, round(rng.uniform(1.0, 3.0) * s.ttl, 2), server=svc.candidates[1]),
            Fault("proc_crash", round(at + rng.uniform(0.1, 1.0), 2), server=svc.candidates[0], service=svc.name)]


def replication_lag(seed: int, s: Schedule) -> tuple[Schedule, list[Fault]]:
    """Sometimes, the `db` service is a replicated database (warm: its
    standbys run and replay): a `postgres-replication` check with
    `maxLagOnFailover` 64 MiB, whose value the world drifts per standby
    (replication.py), now and then past the limit, at times on every standby
    at once (the service then stays without an active by design)."""
    rng = _rng(seed, 67)
    dbs = [svc for svc in s.services if svc.name == "db" and svc.replicas == 1]   # one primary
    if not dbs or rng.random() >= 0.6:
        return s, []
    behind = rng.choice((0.2, 0.4, 0.7))
    services = tuple(replace(svc, standby="warm", lag_limit=64.0, lag_behind=behind) if svc in dbs else svc for svc in s.services)
    return s.but(services=services), []
