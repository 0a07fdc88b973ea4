"""What the operator was promised, per fault kind: which services a fault may
keep short of their actives, and by when they must have them again.

The bounds come from the requirement (docs/testing.md, "Deadlines"), not from
the implementation's own timers: a dead server's actives run elsewhere
within leaseTTL + failoverMargin + start + promote + 1 s (plus the election
when it held the master lock); a dead child is restarted or moved within
failAfter x interval + start + promote + 1 s; and so on.

The extension point is `KINDS`, keyed by `Fault.kind`. Each entry says
- `deadlines(fault, situation)`: one `Deadline` per service the fault may
  keep short, computed when the fault begins from what the checker saw then
  (who held the master lock, each service's candidates);
- `cluster_wide`: whether it touches every server and service (for calm:
  a blip overlapping it is not judged).
A fault kind missing from `KINDS` stops the run (`UnknownFault`): every new
kind must say what it promises before the checker can judge it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Optional

from .schedule import FAULT_START, SERVERS, Fault, Schedule

SLACK = 1.0          # the "+ 1 s" of every bound: watches, passes, etcd round trips
ETCD_ELECTION = 2.0  # etcd's longest election after losing its leader: 2 x --election-timeout
CLIENT_TIMEOUT = 3.0  # the agents' etcd timeout per member (world.TIMEOUT)
RETRY_MAX = 30.0     # the longest restart back-off (design-choices.md, "A blocked active")
ANY = "*"            # Situation.master when unknown: every server counts as the master


class UnknownFault(ValueError):
    """A fault kind that declares no bound: the checker cannot judge it."""


@dataclass(frozen=True)
class Deadline:
    service: str
    began: float        # the fault's start (or the event the bound counts from)
    at: float           # by then the service has its `replicas` actives again
    why: str            # the formula with its numbers, for the trace


@dataclass(frozen=True)
class Situation:
    """What the checker saw as the fault began."""
    schedule: Schedule
    master: Optional[str]                     # holder of the master lock; ANY: take the worst
    candidates: dict                          # service -> its candidates now (apply reorders them)
    earlier: tuple = ()                       # faults that began before this one


# --- the operator's timers, as configured --------------------------------------

def start_promote(s: Schedule) -> float:
    """A successor's start and promote, each bounded by the actuator's timeout."""
    return 2 * s.actuator_timeout


def grace(s: Schedule, service: str) -> float:
    """The service's start-up grace: a check failing right after a start or
    promote is judged at most this much later (operations.md, "Start-up grace")."""
    return next((p.grace for p in s.services if p.name == service), 0.0)


def handover(s: Schedule) -> float:
    """A live active's demote (and stop), each bounded by the actuator's timeout."""
    return 2 * s.actuator_timeout


def election(s: Schedule) -> float:
    """A new master: the next live server campaigns at once; one of rank r whose
    superior holds a lease but does not campaign waits (r + 1) x campaignDelay;
    at most len(hierarchy) x campaignDelay (the settle time)."""
    return len(SERVERS) * s.campaign_delay


def fencing(s: Schedule) -> float:
    """With fence agents, a dead server is powered off before its actives move
    (design-choices.md, "Fence agents"): every failed attempt (up to its
    timeout) and the back-off after it (1, 2 ... s), then the one that works."""
    plan = s.fence
    if plan is None:
        return 0.0
    backoff = sum(min(2.0 ** i, 30.0) for i in range(plan.max_failures))
    return plan.max_failures * plan.timeout + backoff + plan.delay[1]


def server_loss(s: Schedule) -> float:
    """The longest a lost server's actives may take to run elsewhere."""
    return s.ttl + s.margin + election(s) + fencing(s) + start_promote(s) + SLACK


def returned(s: Schedule) -> float:
    """A candidate became live again while a service had none: it may be the
    only server left, so it first wins the election (a restarted agent, as a
    new master, first waits the lease it counts every server as vouched for:
    design-choices.md, "Vouching"), then waits failoverMargin for the servers
    gone at its takeover, has a dead active's server fenced when the servers
    have fence agents, then starts and promotes."""
    return max(election(s), s.ttl) + s.margin + fencing(s) + start_promote(s) + SLACK


def _fmt(parts: list[tuple[str, float]]) -> tuple[float, str]:
    total = sum(v for _, v in parts)
    return total, " + ".join(f"{name} {v:g}" for name, v in parts if v) + f" = {total:g}s"


def _each(services, began: float, anchor: float, head: str, parts: list[tuple[str, float]]) -> list[Deadline]:
    total, formula = _fmt(parts)
    return [Deadline(name, began, anchor + total, f"{head}: {formula}") for name in services]


# --- the kinds -----------------------------------------------------------------

def server_lost(f: Fault, sit: Situation) -> list[Deadline]:
    """Its actives run elsewhere within leaseTTL + failoverMargin + start +
    promote + 1 s, plus the election when it held the master lock. Every
    service it is a candidate of (a failover may be on its way to it); every
    service when it was the master. A server that comes back in time also
    satisfies it."""
    s = sit.schedule
    if f.kind == "cut" and not f.etcd:
        return []   # cut from its peers only: it keeps its lease, nothing is lost
    was_master = sit.master in (f.server, ANY)
    services = [p.name for p in s.services if was_master or f.server in sit.candidates.get(p.name, ())]
    parts = [("leaseTTL", s.ttl), ("failoverMargin", s.margin)]
    if was_master:
        parts.append(("election", election(s)))
    if s.fence is not None:
        parts.append(("fence agent", fencing(s)))
    parts += [("start+promote", start_promote(s)), ("slack", SLACK)]
    head = f"{f.kind} {f.server} at {f.at:.2f}{' (the master)' if was_master and sit.master != ANY else ''}"
    return _each(services, f.at, f.at, head, parts)


def agent_restarted(f: Fault, sit: Situation) -> list[Deadline]:
    """A killed agent is lost (server_lost); once it runs again it counts
    every server as vouched for during its first lease (design-choices.md,
    "Vouching": it may have vouched just before it died), so as a new master
    it moves a lost server's actives only after that lease (or its election,
    if longer) plus failoverMargin: from its restart, max(leaseTTL, election)
    + failoverMargin + start + promote + 1 s, for every service."""
    s = sit.schedule
    parts = [("first lease or election", max(s.ttl, election(s))), ("failoverMargin", s.margin),
             ("start+promote", start_promote(s)), ("slack", SLACK)]
    return server_lost(f, sit) + _each([p.name for p in s.services], f.end, f.end,
                                       f"{f.server}'s agent restarted at {f.end:.2f}", parts)


def _restarts_before(f: Fault, sit: Situation) -> int:
    return sum(1 for e in sit.earlier if e.kind == "proc_crash" and e.server == f.server
               and e.service == f.service and f.at - e.at < RETRY_MAX)


def child_died(f: Fault, sit: Situation) -> list[Deadline]:
    """Restarted in place or moved within failAfter x interval + start +
    promote + 1 s (+ the start-up grace, when its check has one); a child
    that keeps dying waits the documented back-off (then 1, 2, 4 ... 30 s)
    before each further restart in place."""
    s = sit.schedule
    n = _restarts_before(f, sit) + 1
    backoff = 0.0 if n == 1 else min(2.0 ** (n - 2), RETRY_MAX)
    parts = [("failAfter x interval", s.fail_after * s.interval), ("startupGrace", grace(s, f.service)),
             ("back-off", backoff),
             ("start+promote", start_promote(s)), ("slack", SLACK)]
    return _each([f.service], f.at, f.at, f"proc_crash {f.server}/{f.service} at {f.at:.2f}", parts)


def check_failed(f: Fault, sit: Situation) -> list[Deadline]:
    """A check failing failAfter times in a row on the active: moved (demote,
    then start + promote elsewhere) within failAfter x interval + handover +
    start + promote + 1 s (+ the start-up grace, when the check has one),
    counted from the flap's end (the service may land on the flapping server
    at any time during it)."""
    s = sit.schedule
    parts = [("failAfter x interval", s.fail_after * s.interval), ("startupGrace", grace(s, f.service)),
             ("demote+stop", handover(s)),
             ("start+promote", start_promote(s)), ("slack", SLACK)]
    return _each([f.service], f.at, f.end, f"flap {f.server}/{f.service} until {f.end:.2f}", parts)


def actuator_fault(f: Fault, sit: Situation) -> list[Deadline]:
    """Commands that fail or hang on one server: a failed start or promote is
    reported and the master moves the service (or re-issues it, restarted in
    place with the back-off). Counted from the fault's end: a step in flight
    (up to the actuator timeout), the pending back-off (it doubles, so it is
    at most the time spent failing + 1 s, and at most 30 s), start + promote."""
    s = sit.schedule
    parts = [("step in flight", s.actuator_timeout), ("back-off", min(f.duration + 1.0, RETRY_MAX)),
             ("start+promote", start_promote(s)), ("slack", SLACK)]
    return _each([f.service], f.at, f.end, f"{f.kind} {f.server}/{f.service} until {f.end:.2f}", parts)


def address_refused(f: Fault, sit: Situation) -> list[Deadline]:
    """A server whose kernel refuses floating addresses (`vip_fail`): a
    promote there fails once the service's own promote ran (vip.py adds the
    address after it), which is a failing promote to the agent: reported,
    and the master moves the service or re-issues it. The same bound as a
    failing promote command (`actuator_fault`), for every service with a
    `vip` that the server is a candidate of."""
    names = [p.name for p in sit.schedule.services if p.vip and f.server in sit.candidates.get(p.name, ())]
    return [d for name in names for d in actuator_fault(replace(f, service=name), sit)]


def etcd_trouble(f: Fault, sit: Situation) -> list[Deadline]:
    """etcd refused, silent, or slow: nobody can promote meanwhile. After it:
    a returning etcd extends every lease, so a server lost during it is seen
    gone only a lease later; a silent or slow one may have expired every
    lease (a new master, which honours the vouches it gave for a lease).
    Counted from the end: leaseTTL + failoverMargin + election + start +
    promote + 1 s, for every service."""
    s = sit.schedule
    parts = [("leaseTTL", s.ttl), ("failoverMargin", s.margin), ("election", election(s)),
             ("start+promote", start_promote(s)), ("slack", SLACK)]
    return _each([p.name for p in s.services], f.at, f.end, f"{f.kind} until {f.end:.2f}", parts)


def etcd_cluster_trouble(f: Fault, sit: Situation) -> list[Deadline]:
    """A trouble of some etcd members (a stall of the leader or a follower,
    quorum lost, a member down, a minority member): as `etcd_trouble`, plus
    the election etcd may hold once it ends (its followers' randomized
    election timeout: at most twice etcd's --election-timeout, 2 s)."""
    s = sit.schedule
    parts = [("etcd election", ETCD_ELECTION), ("leaseTTL", s.ttl), ("failoverMargin", s.margin),
             ("election", election(s)), ("start+promote", start_promote(s)), ("slack", SLACK)]
    return _each([p.name for p in s.services], f.at, f.end, f"{f.kind} until {f.end:.2f}", parts)


def link_lost(f: Fault, sit: Situation) -> list[Deadline]:
    """One server cut off from one etcd member: its client waits out one
    timeout there and moves on (etcd_http.py); at worst it is lost as a
    server cut off from etcd is, a client timeout later."""
    s = sit.schedule
    return [Deadline(d.service, d.began, d.at + CLIENT_TIMEOUT, f"{d.why} + client timeout {CLIENT_TIMEOUT:g}s")
            for d in server_lost(replace(f, kind="cut", etcd=True), sit)]


def server_gone(f: Fault, sit: Situation) -> list[Deadline]:
    """Agent and children dead, for good (its actives run elsewhere within
    `server_lost`) or for long (and then as a restarted agent)."""
    return agent_restarted(f, sit) if math.isfinite(f.end) else server_lost(f, sit)


def switchover(f: Fault, sit: Situation) -> list[Deadline]:
    """The operator's move: the active is demoted (and stopped), then the
    target starts and promotes: handover + start + promote + 1 s."""
    s = sit.schedule
    parts = [("demote+stop", handover(s)), ("start+promote", start_promote(s)), ("slack", SLACK)]
    return _each([f.service], f.at, f.at, f"switchover {f.service} at {f.at:.2f}", parts)


def resumed(schedule: Schedule, service: str, at: float) -> Deadline:
    """After `overseer resume`: a child that died while paused is restarted or
    moved as a dead child is, counted from the resume."""
    s = schedule
    parts = [("failAfter x interval", s.fail_after * s.interval), ("startupGrace", grace(s, service)),
             ("start+promote", start_promote(s)), ("slack", SLACK)]
    total, formula = _fmt(parts)
    return Deadline(service, at, at + total, f"resumed at {at:.2f}: {formula}")


def became_live(schedule: Schedule, service: str, at: float, who: str) -> Deadline:
    parts = [("first lease or election", max(election(schedule), schedule.ttl)),
             ("failoverMargin", schedule.margin)]
    if schedule.fence is not None:
        parts.append(("fence agent", fencing(schedule)))
    total, formula = _fmt(parts + [("start+promote", start_promote(schedule)), ("slack", SLACK)])
    return Deadline(service, at, at + total, f"{who} became a live candidate at {at:.2f}: {formula}")


def unexplained(schedule: Schedule, service: str, at: float) -> Deadline:
    """An outage no fault explains must still end, as if a candidate had just returned."""
    total, formula = _fmt([("election", election(schedule)), ("failoverMargin", schedule.margin),
                           ("start+promote", start_promote(schedule)), ("slack", SLACK)])
    return Deadline(service, at, at + total, f"no fault explains it (at {at:.2f}): {formula}")


def initial(schedule: Schedule) -> list[Deadline]:
    """First placement: the settle time (campaignDelay x servers), then start + promote."""
    s = schedule
    parts = [("settle", election(s)), ("failoverMargin", s.margin), ("start+promote", start_promote(s)),
             ("slack", SLACK)]
    return _each([p.name for p in s.services], 0.0, 0.0, "first placement", parts)


def nothing(f: Fault, sit: Situation) -> list[Deadline]:
    """Moves nothing by itself (pause: exempt while paused, `resumed` after)."""
    return []


@dataclass(frozen=True)
class Kind:
    deadlines: Callable[[Fault, Situation], list[Deadline]]
    cluster_wide: bool = False


KINDS: dict[str, Kind] = {
    "agent_crash": Kind(agent_restarted),
    "cut": Kind(server_lost),
    "agent_pause": Kind(server_lost),
    "proc_crash": Kind(child_died),
    "flap": Kind(check_failed),
    "act_hang": Kind(actuator_fault),
    "act_fail": Kind(actuator_fault),
    "vip_fail": Kind(address_refused),
    "etcd_down": Kind(etcd_trouble, cluster_wide=True),
    "etcd_silent": Kind(etcd_trouble, cluster_wide=True),
    "slow": Kind(etcd_trouble, cluster_wide=True),
    "switchover": Kind(switchover),
    "pause": Kind(nothing),
    "apply": Kind(nothing),
    "cleanup": Kind(nothing),
    # faultgen.py's (docs/testing.md, fault kinds)
    "etcd_stall": Kind(etcd_trouble, cluster_wide=True),
    "etcd_leader_stall": Kind(etcd_cluster_trouble, cluster_wide=True),
    "etcd_member_stall": Kind(etcd_cluster_trouble, cluster_wide=True),
    "etcd_quorum": Kind(etcd_cluster_trouble, cluster_wide=True),
    "etcd_member_down": Kind(etcd_cluster_trouble, cluster_wide=True),
    "etcd_minority": Kind(etcd_cluster_trouble, cluster_wide=True),
    "etcd_fsync": Kind(etcd_trouble, cluster_wide=True),
    "etcd_compact": Kind(nothing, cluster_wide=True),
    "etcd_link": Kind(link_lost),
    "etcd_oneway": Kind(server_lost),
    "peer_oneway": Kind(nothing),
    "host_freeze": Kind(server_lost),
    "loop_block": Kind(server_lost),
    "fencer_late": Kind(nothing),
    "clock_rate": Kind(nothing),
    "wall_step": Kind(nothing),
    "server_gone": Kind(server_gone),
}


def kind_of(f: Fault) -> Kind:
    kind = KINDS.get(f.kind)
    if kind is None:
        raise UnknownFault(f"fault kind {f.kind!r} declares no bound: add it to KINDS in reconciler/sim/bounds.py")
    return kind


def deadlines(f: Fault, sit: Situation) -> list[Deadline]:
    return colocated(f, kind_of(f).deadlines(f, sit), sit.schedule)


def _anchors(s: Schedule) -> dict[str, list[str]]:
    """Each service of a colocated group -> its anchors, nearest first."""
    anchor = {p.name: p.colocate for p in s.services if p.colocate}
    chains = {}
    for p in s.services:
        chain, name = [], p.name
        while name in anchor and anchor[name] not in chain:
            name = anchor[name]
            chain.append(name)
        chains[p.name] = chain
    return chains


def colocated(f: Fault, found: list[Deadline], s: Schedule) -> list[Deadline]:
    """A colocated group moves as one (design-choices.md, "Relationships
    between services"): a follower stops before its anchor leaves and is
    promoted after it arrived, and a follower failing moves its anchor. So a
    follower gets each anchor's deadline plus its own handover and start +
    promote; and a fault on one service itself (its child, its checks, its
    commands) gives the rest of its group the same, unless it gave them a
    deadline of their own. A fault on a server (a refused address, say) moves
    only what it gave a deadline: the group leaves that server only where it
    was active, which the fault's own deadlines cover."""
    anchors = _anchors(s)
    if f.blip or not any(anchors.values()):
        return found   # a labelled blip moves nothing, its group included
    root = {name: (chain[-1] if chain else name) for name, chain in anchors.items()}
    own = {d.service for d in found}
    extra, formula = _fmt([("demote+stop", handover(s)), ("start+promote", start_promote(s))])
    more = [Deadline(other, d.began, d.at + extra, f"{d.why}; colocated with {d.service}: + {formula}")
            for d in found for other in sorted(anchors)
            if other != d.service and d.service in root and root[other] == root[d.service]
            and (d.service in anchors[other] or (f.service == d.service and other not in own))]
    return found + more


def run_end(schedule: Schedule) -> float:
    """Long enough to judge every deadline any fault can set, and an outage
    that begins at the last of them (its own deadline: `returned`)."""
    candidates = {p.name: p.candidates for p in schedule.services}
    last = max([d.at for d in initial(schedule)] + [FAULT_START])
    for i, f in enumerate(schedule.faults):
        # a fault that never ends (a server gone for good) sets its deadlines
        # from its start; only those that end are waited for
        ats = [d.at for d in deadlines(f, Situation(schedule, ANY, candidates, schedule.faults[:i]))]
        ats.append(f.end + returned(schedule))
        last = max([last] + [at for at in ats if math.isfinite(at)])
    return round(last + returned(schedule) + 1.0, 3)


__all__ = ["KINDS", "Kind", "Deadline", "Situation", "UnknownFault", "deadlines", "run_end",
           "resumed", "became_live", "unexplained", "initial", "returned"]
