"""One seed -> one cluster, one workload, one fault schedule (VOPR style).

The fault mix is itself drawn per seed: some seeds are gentle, some hostile,
some only blips (the calm check's seeds). Faults overlap freely. Everything is
plain data, so a schedule can be printed, shrunk (shrink.py) and replayed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Optional

from .fence_agents import FencePlan, fence_plan

SERVERS = ("s1", "s2", "s3")
FAULT_START = 8.0      # virtual seconds after the agents start: the cluster has settled
WINDOW = 30.0          # faults begin within this window

KINDS = ("proc_crash", "agent_crash", "agent_pause", "etcd_down", "cut", "slow",
         "act_hang", "act_fail", "flap", "switchover", "pause", "apply")
# Also drawn, each from a generator of its own: "etcd_silent" (_silent_etcd),
# "cleanup" (_cleanups), both in generators.py, and those of faultgen.py
# (docs/testing.md, fault kinds).
# act_hang / act_fail: the service's promote and demote commands fail or hang
# (and may have done their work first), its stop waits out a child ignoring
# the stop signal, its start (a spawn) fails; see sim/procs.py


@dataclass(frozen=True)
class Fault:
    """One fault or operator action. Which fields a kind reads is in
    docs/testing.md's table of fault kinds; the rest keep their defaults."""
    kind: str
    at: float
    duration: float = 0.0       # 0: an instant; float("inf"): for good (server_gone)
    server: str = ""
    service: str = ""
    blip: bool = False          # labelled blip: must move nothing
    etcd: bool = True           # cut: from etcd
    peers: bool = False         # cut: from the other agents
    to: Optional[str] = None    # switchover: the target; peer_oneway: the peer the server cannot reach
    latency: float = 0.0        # slow: extra one-way s per etcd call; etcd_fsync: s per fsync;
                                # fencer_late: s each kill of the fencer lands late
    member: str = ""            # etcd_*: "leader" or "follower" (whoever it is when the fault
                                # begins) or a member's name, "m1".."m3"
    how: str = ""               # etcd_quorum: down | stall | split; etcd_oneway: requests | answers
    rate: float = 0.0           # clock_rate: the server's clocks run at this many s per s
    step: float = 0.0           # wall_step: s the server's wall clock jumps (negative: back)

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        where = "/".join(x for x in (self.server, self.service, self.member) if x)
        extra = ""
        if self.kind == "cut":
            extra = " from " + "+".join(n for n, on in (("etcd", self.etcd), ("peers", self.peers)) if on)
        if self.kind == "switchover":
            extra = f" to {self.to or 'any'}"
        if self.kind == "peer_oneway":
            extra = f" cannot reach {self.to}"
        if self.kind == "slow":
            extra = f" +{self.latency:.3f}s per call"
        if self.kind in ("etcd_fsync", "fencer_late"):
            extra = f" {self.latency:.3f}s late"
        if self.how:
            extra += f" ({self.how})"
        if self.kind == "clock_rate":
            extra = f" x{self.rate:.4f}"
        if self.kind == "wall_step":
            extra = f" {self.step:+.2f}s"
        span = " for good" if self.duration == float("inf") else f" for {self.duration:.2f}s" if self.duration else ""
        return f"t={self.at:6.2f} {self.kind}{' (blip)' if self.blip else ''} {where}{extra}{span}".rstrip()


@dataclass(frozen=True)
class ServicePlan:
    name: str
    standby: str
    candidates: tuple[str, ...]
    replicas: int = 1
    demote: bool = True
    vip: int = 0                # a floating address with this arpCount; 0: none
    requires: tuple[str, ...] = ()   # spec.requires (related.py)
    colocate: str = ""               # spec.colocateWith; "": none
    grace: float = 0.0          # startupGrace of its `alive` check (faultgen.startup_grace); 0: none
    grace_on_check: bool = False  # written on the check itself, else on the Service
    lag_limit: float = 0.0      # a replication check's maxLagOnFailover, MiB (faultgen.replication_lag); 0: none
    lag_behind: float = 0.0     # how often its standbys drift past it (replication.py)


@dataclass(frozen=True)
class Schedule:
    seed: int
    ttl: float
    interval: float
    fail_after: int
    margin: float
    campaign_delay: float
    actuator_timeout: float
    services: tuple[ServicePlan, ...]
    faults: tuple[Fault, ...] = field(default=())
    fence: Optional[FencePlan] = None   # every server has a fence agent (fence_agents.py)
    failure_timeout: float = 600.0   # the Cluster's defaults.failureTimeout (its default unless drawn short)
    members: int = 1            # etcd members (1 or 3); every server's agent lists them all

    @property
    def calm(self) -> bool:
        """Only blips: nothing may move."""
        return bool(self.faults) and all(f.blip for f in self.faults)

    @cached_property
    def healed_at(self) -> float:
        """When the last fault ended (one that never ends counts from its start).
        Kept: the checker asks for it at every sample, and a schedule never changes."""
        return max((f.end if f.end != float("inf") else f.at for f in self.faults), default=FAULT_START)

    @property
    def end(self) -> float:
        """When the run ends: after every deadline a fault can set (bounds.py)."""
        from .bounds import run_end   # bounds.py reads these schedules: imported late
        return run_end(self)

    def but(self, **changes) -> "Schedule":
        return replace(self, **changes)


# The longest labelled blip, x leaseTTL (see _blip). It was 0.3 until
# 2026-12-05; seeds found before then replay with blips_upto=BLIPS_UPTO_BEFORE.
BLIPS_UPTO = 0.45
BLIPS_UPTO_BEFORE = 0.3


# Faults drawn from generators of their own, in the order they were added.
# `draw(seed, extras=...)` names the ones a schedule is drawn with, so a
# regression seed found before a generator existed keeps its schedule. The
# services' floating addresses (generators._vips) come with any of them.
EXTRAS = ("silent_etcd", "master_loss", "cleanups", "failing_failover", "long_loss", "short_memory",
          "etcd_members", "etcd_trouble", "slack_eaters", "server_loss", "one_way", "startup_grace",
          "address_trouble", "relations", "replication_lag")
EXTRAS_BEFORE_DEADLINES = EXTRAS[:4]   # before the checker judged per-fault deadlines
EXTRAS_BEFORE_ETCD_MODEL = EXTRAS[:6]  # before faultgen.py (etcd's members, troubles, slack eaters ...)
EXTRAS_BEFORE_LAG = EXTRAS[:EXTRAS.index("replication_lag")]   # before replicated databases drifted lag
# drawn for every schedule, blips only or not (the others: only beside real faults)
_EVERY_SCHEDULE = ("etcd_members", "etcd_trouble")


def draw(seed: int, extras=True, blips_upto: float = BLIPS_UPTO) -> Schedule:
    """The schedule of `seed`. `extras`: True (every generator of its own),
    False (none: as drawn before they existed) or the names of those to use;
    `blips_upto`: another longest blip. Regression seeds found under an older
    generator keep their schedule so."""
    from . import faultgen, generators  # noqa: PLC0415  (they build on this module's types)
    names = EXTRAS if extras is True else () if extras is False else tuple(extras)
    rng = random.Random(seed)
    ttl = rng.choice((2.0, 3.0, 5.0))
    services = []
    for name in rng.sample(("pbx", "web", "db"), rng.choice((1, 1, 2, 2, 3))):
        candidates = tuple(rng.sample(SERVERS, rng.choice((2, 3))))
        replicas = 2 if len(candidates) == 3 and rng.random() < 0.15 else 1
        services.append(ServicePlan(name, rng.choice(("warm", "cold")), candidates, replicas,
                                    demote=rng.random() < 0.7))
    schedule = Schedule(seed=seed, ttl=ttl, interval=rng.choice((0.5, 1.0)), fail_after=rng.choice((2, 3)),
                        margin=rng.choice((0.2, 0.5)), campaign_delay=1.0,
                        actuator_timeout=rng.choice((1.0, 2.0)), services=tuple(services))
    faults = _faults(rng, schedule, blips_upto)
    if names:
        schedule = schedule.but(services=generators._vips(seed, schedule.services), fence=fence_plan(seed))
    if "etcd_members" in names:
        schedule = schedule.but(members=faultgen.etcd_members(seed))
    if names and faults and not all(f.blip for f in faults):
        for name in names:
            if name not in _EVERY_SCHEDULE:
                schedule, more = generators._GENERATORS[name](seed, schedule)
                faults += more
    if "etcd_trouble" in names and faults:
        faults += faultgen.etcd_trouble(seed, schedule, faults)
    return schedule.but(faults=tuple(sorted(faults, key=lambda f: (f.at, f.kind))))


def _faults(rng: random.Random, s: Schedule, blips_upto: float) -> list[Fault]:
    names = [svc.name for svc in s.services]
    if rng.random() < 0.2:  # a calm seed: only labelled blips
        return _flaps_apart(_apart([_blip(rng, s, names, blips_upto) for _ in range(rng.randint(1, 4))], s.ttl), s.interval)
    weights = {k: (rng.random() if rng.random() < 0.6 else 0.0) for k in KINDS}
    if not any(weights.values()):
        weights["proc_crash"] = 1.0
    kinds = [k for k in KINDS if weights[k] > 0]
    out = []
    for _ in range(rng.randint(1, 8)):
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        out.append(_fault(rng, s, kind, names))
    if rng.random() < 0.3:
        out.append(_blip(rng, s, names, blips_upto))
    return out


def _fault(rng: random.Random, s: Schedule, kind: str, names: list[str]) -> Fault:
    at = round(FAULT_START + rng.uniform(0, WINDOW), 2)
    server, service = rng.choice(SERVERS), rng.choice(names)
    long = round(rng.uniform(0.5, 3.0) * s.ttl, 2)
    if kind == "proc_crash":
        return Fault(kind, at, server=server, service=service)
    if kind in ("agent_crash", "agent_pause", "act_hang", "act_fail", "flap"):
        return Fault(kind, at, long, server=server, service=service if kind.startswith(("act", "flap")) else "")
    if kind == "etcd_down":
        return Fault(kind, at, long)
    if kind == "cut":
        etcd = rng.random() < 0.8
        return Fault(kind, at, long, server=server, etcd=etcd, peers=not etcd or rng.random() < 0.5)
    if kind == "slow":
        return Fault(kind, at, round(rng.uniform(2, 10), 2), latency=round(rng.uniform(0.05, 0.3) * s.ttl, 3))
    if kind == "switchover":
        svc = next(x for x in s.services if x.name == service)
        return Fault(kind, at, service=service, to=rng.choice((None, *svc.candidates)))
    if kind == "pause":
        return Fault(kind, at, round(rng.uniform(1, 10), 2), service=service)
    return Fault("apply", at, service=service)


def _silenced(f: Fault) -> frozenset:
    """Servers a blip keeps from renewing their lease."""
    if f.kind in ("etcd_down", "etcd_silent") or (f.kind.startswith("etcd_") and f.kind != "etcd_compact"):
        return frozenset(SERVERS)
    return frozenset((f.server,)) if f.kind in ("agent_pause", "cut") else frozenset()


def _apart(blips: list[Fault], ttl: float) -> list[Fault]:
    """A calm schedule's blips, each one a blip: one that silences a server
    starts at least a lease after the previous one on that server ended.
    Back to back, a cut and a pause are one silence of most of the lease, which
    rightly fences (seed 890: a 0.11 s cut, then a 0.6 s pause 0.4 s later)."""
    placed: list[Fault] = []
    for f in sorted(blips, key=lambda f: f.at):
        at, servers, moved = f.at, _silenced(f), True
        while servers and moved:
            moved = False
            for other in placed:
                until = other.end + ttl
                if servers & _silenced(other) and other.at - f.duration - ttl < at < until:
                    at, moved = until, True
        placed.append(replace(f, at=at))
    return placed


def _flaps_apart(blips: list[Fault], interval: float) -> list[Fault]:
    """A flap fails the next probe of its check: two on one check whose probes
    are consecutive are `failAfter` 2 reached, a real failure that rightly
    moves the service (seed 29671: flaps 1.7 s apart at interval 1 s). Each
    later flap on the same check moves to 3 intervals after the previous one,
    so at least one good probe lies between them."""
    last: dict[tuple, float] = {}
    placed: list[Fault] = []
    for f in sorted(blips, key=lambda f: f.at):
        if f.kind == "flap":
            key = (f.server, f.service)
            if key in last and f.at < last[key] + 3 * interval:
                f = replace(f, at=round(last[key] + 3 * interval, 2))
            last[key] = f.at
        placed.append(f)
    return sorted(placed, key=lambda f: f.at)


def _blip(rng: random.Random, s: Schedule, names: list[str], upto: float) -> Fault:
    at = round(FAULT_START + rng.uniform(0, WINDOW), 2)
    kind = rng.choice(("flap", "agent_pause", "etcd_down", "cut"))
    server, service = rng.choice(SERVERS), rng.choice(names)
    if kind == "flap":   # a single failed probe
        return Fault(kind, at, 0.0, server=server, service=service, blip=True)
    # under half a lease (docs/design.md, calm): the last renewal may be TTL/8 old
    # when the blip begins, which leaves 0.225 x TTL after it for a renewal to
    # get through before the fence deadline (docs/testing.md, calm)
    short = round(rng.uniform(0.05, upto) * s.ttl, 2)
    if kind == "agent_pause":
        return Fault(kind, at, short, server=server, blip=True)
    if kind == "etcd_down":
        return Fault(kind, at, short, blip=True)
    return Fault(kind, at, short, server=server, etcd=True, peers=False, blip=True)
