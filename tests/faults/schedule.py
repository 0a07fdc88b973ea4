"""Seeded fault schedules: the same seed always yields the same schedule.

A schedule is a list of `Fault`s: when (seconds after the cluster converged),
what kind, aimed at whom, for how long. Targets are roles resolved when the
fault fires ("master", "etcd-leader", "active:pbx") or plain server names,
so the schedule is reproducible even though who holds a role is not.

Kinds (their `heal` undoes them after `duration`):
  cut            the target's cable pulled (packets dropped)
  oneway         nftables drops the target's packets in one direction (extra: in|out)
  agent-kill     SIGKILL of the agent (its children die with it); restarted at heal
  agent-stop     SIGSTOP of the agent; SIGCONT at heal (shorter or longer than leaseTTL)
  member-kill    SIGKILL of the target's etcd member; restarted at heal
  etcd-kill      every etcd member killed; all restarted at heal
  master-kill-failover  the active's child of pbx killed (a failover starts), the
                 master agent SIGKILLed `extra` seconds later; restarted at heal
  cmd            the target's promote or demote command of pbx (or of the
                 service `extra` names first: db:promote:fail) hangs or fails
  child-kill     SIGKILL of a service's active child (a real failure; instant)
  switchover     `overseer switchover SERVICE [--to extra]` (instant)
  pause          `overseer pause SERVICE`; `resume` at heal
  probe-fail     pbx's `flag` check fails on the target while it lasts
  cpu-burn       a busy spinner per core beside every agent
  leader-move    etcd's leader hands over to another member (move-leader)
  member-stop    SIGSTOP of one etcd member (target etcd-leader, etcd-follower or
                 a host); SIGCONT at heal
  etcd-stop      SIGSTOP of every etcd member; SIGCONT at heal
  host-freeze    SIGSTOP of the target's agent, fencer and children together;
                 SIGCONT at heal (a real failure when longer than leaseTTL)
  server-gone    SIGKILL of the target's agent, fencer and children, never
                 started again (its etcd member keeps running)

The last four come into random schedules from a generator of their own
(`_extras`), so every seed keeps the faults it drew before they existed and
gains at most one more (`random_schedule(seed, extras=False)`: without it).
Half the random schedules run the cluster with relationships
(docs.RELATED_SPECS) and gain one or two faults aimed at them, from a
generator of their own too (`_related`; `relations=False`: without it).
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from .docs import RELATED_SPECS, SPECS, Timing
from .lab import SERVERS

HOST_TARGETS = (*SERVERS, "master", "etcd-leader", "active:pbx", "active:web")
MEMBER_TARGETS = ("etcd-leader", "etcd-follower", *SERVERS)
KINDS = {   # relative weight in random schedules
    "cut": 3, "oneway": 2, "agent-kill": 2, "agent-stop": 3, "member-kill": 2, "etcd-kill": 2,
    "master-kill-failover": 2, "cmd": 2, "child-kill": 2, "switchover": 2, "pause": 1,
}


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    target: str = ""
    duration: float = 0.0
    extra: Any = None
    # labelled blip (the calm family): must move nothing. None: not judged for
    # calm (etcd's own bug may move it: UNJUDGED below), a real failure otherwise.
    blip: Optional[bool] = False

    def describe(self) -> str:
        extra = f" {self.extra}" if self.extra is not None else ""
        label = " (blip)" if self.blip else " (not judged for calm)" if self.blip is None else ""
        return f"+{self.at:.2f}s {self.kind}{label} {self.target}{extra} for {self.duration:.2f}s"


@dataclass
class Schedule:
    seed: int
    faults: list[Fault] = field(default_factory=list)
    label: str = "random"
    related: bool = False       # the cluster of docs.RELATED_SPECS (requires, colocateWith)

    def to_json(self) -> str:
        return json.dumps({"seed": self.seed, "label": self.label, "related": self.related,
                           "faults": [asdict(f) for f in self.faults]}, indent=1)

    def describe(self) -> str:
        return "\n".join(f.describe() for f in self.faults)


def _one(rng: random.Random, at: float, t: Timing) -> Fault:
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    span = lambda lo, hi: round(rng.uniform(lo, hi), 2)   # noqa: E731
    host = lambda: rng.choice(HOST_TARGETS)                # noqa: E731
    service = lambda: rng.choice(sorted(SPECS))           # noqa: E731
    if kind in ("cut", "agent-kill", "member-kill"):
        return Fault(at, kind, host(), span(0.5, 2 * t.lease_ttl))
    if kind == "oneway":
        return Fault(at, kind, host(), span(0.5, 2 * t.lease_ttl), rng.choice(["in", "out"]))
    if kind == "agent-stop":
        # shorter than leaseTTL/2 (a blip) or past leaseTTL (must be fenced)
        short = rng.random() < 0.5
        lo, hi = (0.2, t.lease_ttl / 2 - 0.1) if short else (t.lease_ttl * 0.85, 2 * t.lease_ttl)
        return Fault(at, kind, host(), span(lo, hi))
    if kind == "etcd-kill":
        return Fault(at, kind, "", span(0.5, 2 * t.lease_ttl))
    if kind == "master-kill-failover":
        return Fault(at, kind, "master", span(0.5, 2 * t.lease_ttl), span(0.0, 0.5))
    if kind == "cmd":
        return Fault(at, kind, rng.choice(SERVERS), span(1.0, 3 * t.actuator_timeout),
                     f"{rng.choice(['promote', 'demote'])}:{rng.choice(['hang', 'fail'])}")
    if kind == "child-kill":
        return Fault(at, kind, f"active:{service()}")
    if kind == "switchover":
        return Fault(at, kind, service())
    return Fault(at, "pause", service(), span(0.5, 2 * t.lease_ttl))


# etcd before 3.5.13 revokes, after a leader stall, leases renewed through the
# new leader meanwhile: such a stall may rightly move services here, and a fixed
# etcd must move nothing. Set to True to judge it against such an etcd.
UNJUDGED: Optional[bool] = None

EXTRAS = {"member-stop": 2, "etcd-stop": 2, "host-freeze": 2, "server-gone": 1}   # relative weights
EXTRA_CHANCE = 0.3


def _extras(seed: int, t: Timing, window: float) -> list[Fault]:
    """Sometimes one fault of a kind added after the first schedules were
    drawn: an etcd stall (a member or all; a blip at any length), a frozen
    host or a server gone for good. A generator of its own, so the faults a
    seed drew before stay as they were."""
    rng = random.Random(seed * 1_000_003 + 13)
    if rng.random() >= EXTRA_CHANCE:
        return []
    kind = rng.choices(list(EXTRAS), weights=list(EXTRAS.values()))[0]
    at = round(rng.uniform(0, window), 2)
    span = lambda lo, hi: round(rng.uniform(lo, hi), 2)   # noqa: E731
    if kind == "member-stop":
        target = rng.choice(MEMBER_TARGETS)     # drawn before the span, as it always was
        stall = span(0.3, 3 * t.lease_ttl)
        return [Fault(at, kind, target, stall, blip=_member_stop_blip(stall, t))]
    if kind == "etcd-stop":
        return [Fault(at, kind, "", span(0.3, 3 * t.lease_ttl), blip=True)]
    if kind == "host-freeze":
        return [Fault(at, kind, rng.choice(HOST_TARGETS), span(0.2, 2 * t.lease_ttl))]
    return [Fault(at, kind, rng.choice(HOST_TARGETS))]


def _member_stop_blip(stall: float, t: Timing) -> Optional[bool]:
    """A stalled member is a blip, unless it may be the leader and stalls past
    the lease: the etcd of these tests (3.5.1) then revokes on resuming leases
    renewed through the new leader meanwhile, and the agents rightly fence
    (docs/etcd-production.md, "Which etcd version"). Not judged for calm then."""
    return True if stall < t.lease_ttl else UNJUDGED


RELATED_CHANCE = 0.5
# Faults aimed at the relationships, each with its relative weight: the
# requirement or the anchor failing, the follower failing, a dependent
# failing while its requirement fails over, the anchor or the requirement
# switched over (the follower moves with its anchor).
RELATED_FAULTS = {"db-kill": 2, "db-and-web-kill": 2, "db-host-lost": 2, "pbx-kill": 2, "dialer-kill": 1,
                  "pbx-host-cut": 1, "switchover-pbx": 1, "switchover-db": 1}


def _related(seed: int, t: Timing, window: float) -> Optional[list[Fault]]:
    """The faults a schedule with relationships adds (one kind of
    RELATED_FAULTS), or None for a schedule without them. A generator of
    its own, so the faults a seed drew before stay as they were."""
    rng = random.Random(seed * 1_000_003 + 29)
    if rng.random() >= RELATED_CHANCE:
        return None
    kind = rng.choices(list(RELATED_FAULTS), weights=list(RELATED_FAULTS.values()))[0]
    at = round(rng.uniform(0, window), 2)
    span = lambda lo, hi: round(rng.uniform(lo, hi), 2)   # noqa: E731
    if kind == "db-kill":
        return [Fault(at, "child-kill", "active:db")]
    if kind == "db-and-web-kill":
        # db's promote fails everywhere for a while, so db has no active for
        # longer than the order grace; web's own failover lands meanwhile and
        # must wait for db's successor
        fail = span(2 * t.actuator_timeout, 3 * t.actuator_timeout)
        return [*(Fault(at, "cmd", host, fail, "db:promote:fail") for host in RELATED_SPECS["db"].candidates),
                Fault(round(at + 0.1, 2), "child-kill", "active:db"),
                Fault(round(at + span(1.0, 3.0), 2), "child-kill", "active:web")]
    if kind == "db-host-lost":
        return [Fault(at, rng.choice(["agent-kill", "cut"]), "active:db", span(1.2 * t.lease_ttl, 2 * t.lease_ttl))]
    if kind == "pbx-kill":
        return [Fault(at, "child-kill", "active:pbx")]
    if kind == "dialer-kill":
        return [Fault(at, "child-kill", "active:dialer")]
    if kind == "pbx-host-cut":
        return [Fault(at, "cut", "active:pbx", span(1.2 * t.lease_ttl, 2 * t.lease_ttl))]
    return [Fault(at, "switchover", kind.split("-", 1)[1])]


def random_schedule(seed: int, timing: Timing = Timing(), window: float = 8.0, extras: bool = True,
                    relations: bool = True) -> Schedule:
    """Two to four faults starting within `window` seconds; they may overlap.
    `extras=False`: as drawn before the kinds of `_extras` existed;
    `relations=False`: as drawn before relationships were (no `related`)."""
    rng = random.Random(seed)
    count = rng.randint(2, 4)
    starts = sorted(round(rng.uniform(0, window), 2) for _ in range(count))
    faults = [_one(rng, at, timing) for at in starts]
    if extras:
        faults = sorted(faults + _extras(seed, timing, window), key=lambda f: f.at)
    related = _related(seed, timing, window) if relations else None
    if related is not None:
        faults = sorted(faults + related, key=lambda f: f.at)
    return Schedule(seed, faults, related=related is not None)


def two_warm_actives(seed: int, t: Timing = Timing()) -> Schedule:
    """A warm active's worst history, jittered by the seed: pbx switched
    over to s2 (so its active is not the master), etcd killed and restarted
    twice 1.5 s apart, the active's agent paused from just under the fence
    deadline (80% of the lease) to past the lease while the master (s1) is
    killed, then a second switchover."""
    rng = random.Random(seed)
    # a switchover takes about 3 s here (CLI start, the master's next pass, demote, promote)
    first_kill = round(rng.uniform(4.0, 5.0), 2)
    pause_at = round(first_kill + 1.5 + rng.uniform(0.3, 1.5), 2)
    return Schedule(seed, [
        Fault(0.0, "switchover", "pbx", extra="s2"),
        Fault(first_kill, "etcd-kill", "", round(rng.uniform(0.3, 1.0), 2)),
        Fault(round(first_kill + 1.5, 2), "etcd-kill", "", round(rng.uniform(0.3, 1.0), 2)),
        Fault(pause_at, "agent-stop", "active:pbx", round(rng.uniform(0.75, 1.3) * t.lease_ttl, 2)),
        Fault(round(pause_at + rng.uniform(0.0, 1.0), 2), "agent-kill", "master", round(rng.uniform(1.0, 3.0), 2)),
        Fault(round(pause_at + t.lease_ttl + rng.uniform(0.5, 2.0), 2), "switchover", "pbx"),
    ], label="two-warm-actives")


def calm_cases(t: Timing = Timing()) -> list[Fault]:
    """Labelled blips, which must move nothing, and real failures, which must
    move within the bound. One fault per schedule. New cases go at the end,
    so seeds 0..N-1 keep the case they had."""
    # Under half a lease (docs/design.md, calm), for a link flap as for a pause. A
    # flap of 0.35 x leaseTTL fenced once renewals went every quarter lease:
    # the renewal before it may be that old, and the first one after the link
    # returns takes about half a second (docs/testing.md, "Calm on real links").
    short = round(0.45 * t.lease_ttl, 2)
    stall = round(1.5 * t.lease_ttl, 2)     # past the lease: etcd's own expiry would fire
    return [
        Fault(1.0, "probe-fail", "active:pbx", 0.3, blip=True),   # one failed probe (one run every 0.5 s)
        Fault(1.0, "cut", "active:pbx", short, blip=True),        # a link flap
        Fault(1.0, "agent-stop", "active:pbx", short, blip=True),
        Fault(1.0, "cpu-burn", "", 5.0, blip=True),
        Fault(1.0, "leader-move", "", blip=True),
        Fault(1.0, "child-kill", "active:pbx"),
        Fault(1.0, "agent-kill", "active:pbx", 2 * t.lease_ttl),
        Fault(1.0, "cut", "active:pbx", 2 * t.lease_ttl),
        Fault(1.0, "probe-fail", "active:pbx", 4.0),               # a check that keeps failing
        # etcd trouble while the servers reach each other: a blip at any length
        Fault(1.0, "member-stop", "etcd-follower", stall, blip=True),
        # the others elect a new leader; etcd 3.5.1's bug may then revoke leases
        Fault(1.0, "member-stop", "etcd-leader", stall, blip=UNJUDGED),
        Fault(1.0, "etcd-stop", "", stall, blip=True),                # every lease expires meanwhile
        Fault(1.0, "host-freeze", "active:pbx", stall),               # agent, fencer, children frozen
        Fault(1.0, "server-gone", "active:pbx"),                      # never comes back
    ]


def calm(seed: int, t: Timing = Timing()) -> Schedule:
    """Seed N runs case N mod len(calm_cases()): `make faults LABEL=calm N=14
    SEED=0` runs each once and prints the confusion table."""
    cases = calm_cases(t)
    return Schedule(seed, [cases[seed % len(cases)]], label="calm")


# The simulator's fault kinds as this lab can inject them.
# `slow` has no counterpart here (no netem in these namespaces), nor do
# actuator faults on services other than pbx or probe flaps of web; `db` is
# played by pbx. An etcd silent for everyone is every host's cable pulled.
_SIM_SERVICE = {"pbx": "pbx", "web": "web", "db": "pbx"}


def from_sim(seed: int, t: Timing = Timing(), schedule=None) -> Schedule:
    """The simulator's schedule of `seed` (or `schedule`), replayed on real
    processes: same servers, same times after the cluster settled, the same
    durations; the lab's own timing (leaseTTL 3 s) stays."""
    from overseer.reconciler.sim.schedule import FAULT_START, draw  # noqa: PLC0415
    sim = schedule or draw(seed)
    out = []
    for f in sim.faults:
        at, span = round(max(0.0, f.at - FAULT_START), 2), f.duration
        service = _SIM_SERVICE.get(f.service, "pbx")
        if f.kind == "agent_crash":
            out.append(Fault(at, "agent-kill", f.server, span))
        elif f.kind == "agent_pause":
            out.append(Fault(at, "agent-stop", f.server, span, blip=f.blip))
        elif f.kind == "cut":
            out.append(Fault(at, "cut", f.server, span, blip=f.blip))
        elif f.kind == "etcd_down":
            out.append(Fault(at, "etcd-kill", "", span, blip=f.blip))
        elif f.kind == "etcd_silent":
            out += [Fault(at, "cut", host, span) for host in SERVERS]
        elif f.kind == "proc_crash":
            out.append(Fault(at, "child-kill", f"active:{service}"))
        elif f.kind in ("act_hang", "act_fail") and service == "pbx":
            out.append(Fault(at, "cmd", f.server, span, f"promote:{f.kind[4:]}"))
        elif f.kind == "flap" and service == "pbx":
            out.append(Fault(at, "probe-fail", f.server, max(span, 0.3), blip=f.blip))
        elif f.kind == "switchover":
            out.append(Fault(at, "switchover", service, extra=f.to))
        elif f.kind == "pause":
            out.append(Fault(at, "pause", service, span))
    return Schedule(sim.seed, out, label="sim")


def from_sim_as_found(seed: int, t: Timing = Timing()) -> Schedule:
    """As `from_sim`, with the schedule drawn before the simulator's extra
    faults existed: how seeds 57, 1515, 2516 and 5877 looked when they found
    their bugs (tests/sim/test_regressions.py)."""
    from overseer.reconciler.sim.schedule import draw  # noqa: PLC0415
    return from_sim(seed, t, draw(seed, extras=False))


def frozen_host(seed: int, t: Timing = Timing()) -> Schedule:
    """pbx's active host frozen (agent, fencer, children) past the lease,
    jittered by the seed; on odd seeds its demote command hangs too, so the
    thawed host cannot end its active with a demote. The others take over
    meanwhile; after the thaw the old child must not act beside them."""
    rng = random.Random(seed)
    freeze = Fault(1.0, "host-freeze", "active:pbx", round(rng.uniform(1.2, 2.0) * t.lease_ttl, 2))
    faults = [freeze]
    if seed % 2:
        # aimed at pbx's first candidate, where it runs after the cluster converged
        hang = Fault(0.5, "cmd", SPECS["pbx"].candidates[0], round(freeze.duration + 3 * t.actuator_timeout, 2),
                     "demote:hang")
        faults = [hang, freeze]
    return Schedule(seed, faults, label="frozen-host")


def random_as_found(seed: int, t: Timing = Timing()) -> Schedule:
    """The random schedule of `seed` as drawn before the kinds of `_extras` existed."""
    schedule = random_schedule(seed, t, extras=False, relations=False)
    schedule.label = "random-as-found"
    return schedule


LABELLED = {"two-warm-actives": two_warm_actives, "calm": calm, "sim": from_sim,
            "sim-as-found": from_sim_as_found, "random-as-found": random_as_found, "frozen-host": frozen_host}
