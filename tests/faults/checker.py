"""The independent checker: who was active, judged only from what ran.

Input is the journal the test service wrote (tests/faults/svc.py), the
sampler's record of when each child was last seen alive, and the fault
timeline; never the assignments or reports in etcd (Jepsen's rule: do not
trust the system's view of itself).

"Active" (docs/testing.md):
- a service with a promote command (warm): from a successful `promote` of a
  live child until a successful `demote` on that server or the child's death;
- a service without one: while a child started with role `active` lives.

A child's death counts at the last sample that saw it alive, so sampling lag
can hide a very short double, never invent one. A stopped child (a frozen
host) acts for nobody: its active is cut out for the stop the sampler saw,
and resumes at the first evidence that it runs again (a thawed active acting
beside its successor is a double active).

Verdict per schedule: overlaps above `replicas` (double actives), promotes
under an epoch older than one already acted on, whether each service had its
actives again within the bound after the faults healed (and how long it
took), and the longest outage while some candidate was healthy.
Relationships (start order, colocation) are judged over the same
intervals by relations.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

STEP = 0.01     # seconds: resolution of the outage sweep only (doubles are exact)


@dataclass(frozen=True)
class ServiceSpec:
    replicas: int
    warm: bool                  # has a promote command: active means promoted
    candidates: tuple[str, ...]
    requires: tuple[str, ...] = ()      # start order (relations.py judges it)
    colocate: Optional[str] = None      # active only where this service is active


@dataclass
class Interval:
    service: str
    server: str
    pid: int
    start: float
    end: Optional[float]        # None: still active at the end of the record
    epoch: int
    thawed: bool = False        # it began when its stopped child ran again

    def covers(self, t: float) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class Verdict:
    intervals: list[Interval]
    doubles: list[str] = field(default_factory=list)          # human lines, empty when safe
    stale_epochs: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)        # odd but not unsafe (demote with no child)
    recovery: dict[str, Optional[float]] = field(default_factory=dict)   # seconds after heal; None = stuck
    stuck: list[str] = field(default_factory=list)
    worst_outage: float = 0.0
    worst_outage_service: str = ""
    moves: list[str] = field(default_factory=list)            # actives that started or ended after `begin`
    calm: list[str] = field(default_factory=list)             # a blip that moved, a real failure that did not
    late: list[str] = field(default_factory=list)             # a lost server's services moved late or never
    relations: list[str] = field(default_factory=list)        # start order or colocation broken (relations.py)
    judged_relations: int = 0                                 # promotions and stretches apart it judged

    @property
    def ok(self) -> bool:
        return not (self.doubles or self.stale_epochs or self.stuck or self.calm or self.late or self.relations)


def build_intervals(events: Sequence[Mapping], last_alive: Mapping[int, float],
                    specs: Mapping[str, ServiceSpec],
                    stopped: Mapping[int, Sequence[tuple[float, float]]] = {},
                    ) -> tuple[list[Interval], list[str], list[str]]:
    """Active intervals from journal lines (sorted here by time), without the
    spans their child was stopped; also stale-epoch violations and anomalies."""
    deaths = dict(last_alive)
    # a death is an event at the last time the child was seen alive
    timeline = [(e["t"], 0, e) for e in events] + [(t, 1, {"action": "died", "pid": p}) for p, t in deaths.items()]
    timeline.sort(key=lambda item: (item[0], item[1]))
    children: dict[int, tuple[str, str]] = {}
    dead: set[int] = set()
    open_: dict[tuple[str, str], Interval] = {}
    done: list[Interval] = []
    stale, odd = [], []
    highest: dict[str, tuple[int, float, str]] = {}

    def close(key, t):
        iv = open_.pop(key, None)
        if iv is not None:
            iv.end = t
            done.append(iv)

    def open_at(key, pid, t, epoch):
        service, server = key
        seen = highest.get(service)
        if seen and epoch < seen[0]:
            stale.append(f"{service}: {server} became active under epoch {epoch} at {t:.3f} after "
                         f"{seen[2]} did under epoch {seen[0]} at {seen[1]:.3f}")
        if not seen or epoch > seen[0]:
            highest[service] = (epoch, t, server)
        if key not in open_:
            open_[key] = Interval(service, server, pid, t, None, epoch)

    for t, _, e in timeline:
        action, pid = e["action"], e.get("pid", 0)
        if action == "died":
            dead.add(pid)
            for key, iv in list(open_.items()):
                if iv.pid == pid:
                    close(key, t)
            continue
        service, server = e["service"], e["server"]
        spec = specs.get(service)
        if spec is None:
            continue
        key = (service, server)
        if action == "start":
            children[pid] = key
            if not spec.warm and e["role"] == "active":
                open_at(key, pid, t, e["epoch"])
        elif action == "exit":
            dead.add(pid)
            if key in open_ and open_[key].pid == pid:
                close(key, t)
        elif action == "promote":
            if pid in dead or children.get(pid) != key:
                odd.append(f"{service}: {server} promote at {t:.3f} found no live child (pid {pid})")
                continue
            open_at(key, pid, t, e["epoch"])
        elif action == "demote":
            if key not in open_:
                odd.append(f"{service}: {server} demote at {t:.3f} with nothing active there")
            close(key, t)
    intervals = [piece for iv in done + list(open_.values()) for piece in _acting(iv, stopped.get(iv.pid, ()))]
    return intervals, stale, odd


def _acting(iv: Interval, stops: Sequence[tuple[float, float]]) -> list[Interval]:
    """The parts of `iv` its child was not stopped in."""
    pieces, current = [], iv
    for a, b in sorted(stops):
        end = float("inf") if current.end is None else current.end
        if b <= current.start or a >= end:
            continue
        if a > current.start:
            pieces.append(Interval(iv.service, iv.server, iv.pid, current.start, a, iv.epoch, current.thawed))
        if b >= end:
            return pieces
        current = Interval(iv.service, iv.server, iv.pid, b, current.end, iv.epoch, thawed=True)
    return pieces + [current]


def _count(intervals: Iterable[Interval], t: float) -> int:
    return sum(1 for iv in intervals if iv.covers(t))


def doubles(intervals: list[Interval], specs: Mapping[str, ServiceSpec]) -> list[str]:
    """Every stretch where a service had more actives than replicas (exact, from interval ends)."""
    out = []
    for service, spec in specs.items():
        mine = [iv for iv in intervals if iv.service == service]
        edges = sorted({iv.start for iv in mine})
        reported_until = -1.0
        for t in edges:
            if t < reported_until:
                continue
            here = [iv for iv in mine if iv.covers(t)]
            if len(here) > spec.replicas:
                ends = [iv.end for iv in here if iv.end is not None]
                until = min(ends) if ends else None
                reported_until = until if until is not None else float("inf")
                span = f"{until - t:.3f}s" if until is not None else "until the end of the record"
                who = ", ".join(f"{iv.server}(pid {iv.pid}, epoch {iv.epoch}{', thawed' if iv.thawed else ''})"
                                for iv in here)
                out.append(f"{service}: {len(here)} actives > replicas {spec.replicas} at {t:.3f} for {span}: {who}")
    return out


def recovery(intervals: list[Interval], spec: ServiceSpec, service: str,
             healed: float, end: float) -> Optional[float]:
    """Seconds after `healed` from which the service had exactly `replicas`
    actives until `end`; None if it does not at `end`."""
    mine = [iv for iv in intervals if iv.service == service]
    if _count(mine, end) != spec.replicas:
        return None
    # the last moment in [healed, end] where the count was wrong
    edges = sorted({healed} | {x for iv in mine for x in (iv.start, iv.end) if x is not None and healed <= x <= end})
    last_bad = None
    for a, b in zip(edges, edges[1:] + [end]):
        probe = a if a == b else (a + b) / 2
        if _count(mine, probe) != spec.replicas:
            last_bad = b
    return 0.0 if last_bad is None else last_bad - healed


def worst_outage(intervals: list[Interval], specs: Mapping[str, ServiceSpec], begin: float, end: float,
                 impaired: Mapping[str, Sequence[tuple[float, float]]],
                 blocked: Mapping[str, Sequence[tuple[float, float]]]) -> tuple[float, str]:
    """Longest stretch in [begin, end] with fewer actives than replicas while at
    least one candidate was unimpaired and nothing blocked failover for that
    service (`blocked[service]` and `blocked["*"]`: paused, no etcd quorum)."""
    def inside(windows, t):
        return any(a <= t < b for a, b in windows)
    best, best_service = 0.0, ""
    for service, spec in specs.items():
        mine = [iv for iv in intervals if iv.service == service]
        run_start = None
        t = begin
        while t <= end:
            short = _count(mine, t) < spec.replicas
            candidate = any(not inside(impaired.get(s, ()), t) for s in spec.candidates)
            free = not inside(blocked.get(service, ()), t) and not inside(blocked.get("*", ()), t)
            if short and candidate and free:
                run_start = t if run_start is None else run_start
                if t - run_start > best:
                    best, best_service = t - run_start, service
            else:
                run_start = None
            t += STEP
    return best, best_service


def check(events: Sequence[Mapping], last_alive: Mapping[int, float], specs: Mapping[str, ServiceSpec], *,
          begin: float, healed: float, end: float, bound: float,
          impaired: Mapping[str, Sequence[tuple[float, float]]] = {},
          blocked: Mapping[str, Sequence[tuple[float, float]]] = {},
          stopped: Mapping[int, Sequence[tuple[float, float]]] = {}) -> Verdict:
    """The whole verdict. `begin`: the cluster had converged before the faults;
    `healed`: the last fault ended; `end`: the record stops; `stopped`: the
    sampler's stops per child pid."""
    intervals, stale, odd = build_intervals(events, last_alive, specs, stopped)
    verdict = Verdict(intervals, doubles(intervals, specs), stale, odd)
    for service in _requirements_first(specs):
        spec = specs[service]
        # a dependent or follower gets its bound from the moment what it
        # waits for had its actives again (docs/testing.md, "Relationships")
        waited = [verdict.recovery.get(other) for other in (*spec.requires, *filter(None, [spec.colocate]))]
        start = healed + max([w for w in waited if w is not None], default=0.0)
        took = recovery(intervals, spec, service, start, end)
        verdict.recovery[service] = None if took is None else start - healed + took
        if took is None or took > bound:
            what = "no" if took is None else f"only after {took:.2f}s"
            after = f"the faults healed at {healed:.3f}" if start == healed else \
                f"what it waits for had its actives again at {start:.3f}"
            verdict.stuck.append(f"{service}: {what} {spec.replicas} active(s) within the bound "
                                 f"{bound:.2f}s after {after}")
    verdict.worst_outage, verdict.worst_outage_service = worst_outage(
        intervals, specs, begin, healed, impaired, blocked)
    verdict.moves = moves(intervals, begin)
    return verdict


def _requirements_first(specs: Mapping[str, ServiceSpec]) -> list[str]:
    """Service names, each after every service it requires or follows (the
    documents allow no cycle; one here would only keep its order as given)."""
    out: list[str] = []

    def visit(name: str, seen: frozenset) -> None:
        if name in out or name in seen or name not in specs:
            return
        spec = specs[name]
        for other in (*spec.requires, *filter(None, [spec.colocate])):
            visit(other, seen | {name})
        out.append(name)

    for name in specs:
        visit(name, frozenset())
    return out


def moves(intervals: Iterable[Interval], begin: float) -> list[str]:
    """Every change of who is active after `begin` (the faults' start): a
    promote or start, a demote, or a death of an active child."""
    out = []
    for iv in intervals:
        if iv.start >= begin:
            out.append(f"{iv.service} became active on {iv.server} at +{iv.start - begin:.2f}s")
        if iv.end is not None and iv.end >= begin:
            out.append(f"{iv.service} stopped being active on {iv.server} at +{iv.end - begin:.2f}s")
    return out


def judge_calm(verdict: Verdict, faults) -> None:
    """The calm invariant: a schedule of labelled blips moves nothing; a
    labelled family's real failure (one fault, not a blip) moves."""
    if faults and all(f.blip for f in faults) and verdict.moves:
        verdict.calm.append("blips moved a service: " + "; ".join(verdict.moves))
    elif len(faults) == 1 and faults[0].blip is False and faults[0].kind != "switchover" and not verdict.moves:
        verdict.calm.append(f"a real failure ({faults[0].kind}) moved nothing")


def judge_server_loss(verdict: Verdict, specs: Mapping[str, ServiceSpec], lost: str, at: float,
                      services: Iterable[str], bound: float, end: float) -> None:
    """Decisive: each of `services` (active on `lost` when it was lost, frozen
    or gone for good, at `at`) has its `replicas` actives off `lost` within
    `bound` seconds; else it moved "late" (how late) or "never". A follower
    or a dependent whose anchor or requirement was lost with it is timed from
    the moment that one moved."""
    services = list(services)
    moved_at: dict[str, float] = {}
    for service in _requirements_first(specs):
        if service not in services:
            continue
        spec = specs[service]
        waits = [moved_at[o] for o in (*spec.requires, *filter(None, [spec.colocate])) if o in moved_at]
        start = max([at, *waits])
        elsewhere = [iv for iv in verdict.intervals if iv.service == service and iv.server != lost]
        edges = sorted({start} | {iv.start for iv in elsewhere if iv.start >= start})
        moved = next((t for t in edges if _count(elsewhere, t) >= spec.replicas), None)
        if moved is None or moved > end:
            verdict.late.append(f"{service}: never moved off {lost} (lost at {at:.3f}; "
                                f"the record ends {end - at:.2f}s later, bound {bound:.2f}s)")
            continue
        moved_at[service] = moved
        if moved - start > bound:
            what = "it was lost" if start == at else "what it waits for moved"
            verdict.late.append(f"{service}: moved off {lost} late: {moved - start:.2f}s after {what} "
                                f"(bound {bound:.2f}s)")
