"""The planted bugs: each a small named edit of the product's source.

A mutant is one or more `Edit`s, each replacing text that must occur exactly
once in its file (scratch.py refuses anything else, so a refactor that moves
the code breaks the mutant loudly). It names the invariants of the
simulator's checker (reconciler/sim/checker.py) that must report it, and
within how many seeds from seed 1.

Budgets come from two places. `within` on a mutant is measured: three times
the seed the simulator first catches it at, rounded up to tens, at least 20,
so schedules may change a little without a false alarm (`--every-seed` shows
how many seeds catch it and suggests a budget). Mutants the simulator cannot
catch yet have no `within`; their budget is the estimate in `ESTIMATED`, to
be replaced by a measured `within` once the simulator sees them. The table of
`make mutants` marks estimated budgets. `short` mutants also run in `make test`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Edit:
    path: str      # the source file, as in the repository (reconciler/agent/presence.py)
    old: str       # must occur exactly once in the file
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str                       # the planted bug, in words
    edits: tuple[Edit, ...]
    catches: tuple[str, ...]       # any of these invariants reporting it is a catch
    within: Optional[int] = None   # measured budget of seeds; None: see ESTIMATED
    short: bool = False            # also in `make test` (caught within a few seeds)
    pattern: str = ""              # a regex the violation's message must match, if set
    why: str = field(default="", compare=False)   # what catches it, or what it would take


# Best estimates, not measurements, for a new mutant the simulator cannot see
# yet: seeds within which it should be caught once it can. Calibrate then with
# `python -m tests.mutants --only <name> --every-seed --seeds <many>`, give the
# mutant a measured `within` and drop it from here. Every mutant is measured now.
ESTIMATED: dict[str, int] = {}


def _deadlines(leases: str) -> tuple[Edit, ...]:
    """The agent's own fence deadline (80% of a lease after the last renewal)
    and the fencer's (95%, which every fencer update reads), both moved to
    `leases` leases."""
    return (
        Edit("reconciler/agent/presence.py",
             "moment + self.ttl * 0.8)",
             f"moment + self.ttl * {leases})"),
        Edit("reconciler/agent/presence.py",
             "self.state.fencer_until = moment + self.ttl * 0.95",
             f"self.state.fencer_until = moment + self.ttl * {leases}"),
    )


_MARGIN = "self.margin = spec.failoverMargin if spec else DEFAULT_MARGIN"
_MARGIN_ZERO = Edit("reconciler/planner/health.py", _MARGIN,
                    "self.margin = 0.0  # the lease expiry alone says the server is gone")


# Measured with `--every-seed --seeds 300`: seeds of 1..300 that catch each
# late mover (8 s: 23, 12 s: 33, 16 s: 38, 20 s: 41), and the budget that
# misses it 1 time in 1,000.
_LATE_WITHIN = {8: 90, 12: 60, 16: 55, 20: 50}


def _late(seconds: int) -> Mutant:
    return Mutant(
        f"late-move-{seconds}s",
        f"a dead server's actives are moved {seconds} s late (its failover margin counts {seconds} s more)",
        (Edit("reconciler/planner/health.py", _MARGIN,
              f"self.margin = (spec.failoverMargin if spec else DEFAULT_MARGIN) + {seconds}.0"),),
        ("liveness",), within=_LATE_WITHIN[seconds],
        why="liveness, late: a lost server's deadline is leaseTTL + failoverMargin (+ the election if it "
            "was the master) + start + promote + 1 s, and the long-loss fault outlasts it",
    )


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "skipped-epoch-check",
        "an agent promotes without asking etcd whether its assignment and the master's epoch are still current",
        (Edit("reconciler/agent/local.py",
              "            return await self._checks.check(assignment)",
              "            return True  # the watch already delivered the newest assignment"),),
        ("safety",), within=120, short=True,
        why="safety: a promote under a dead master's epoch, or two actives (the master-loss fault)",
    ),
    Mutant(
        "deadlines-1.5-leases",
        "the agent's and the fencer's deadlines at 1.5 leases after the last renewal, past the lease",
        _deadlines("1.5"),
        ("safety",), within=20, short=True,
        why="safety: a server cut off from etcd keeps its active after its lease expired and the master moved it",
    ),
    Mutant(
        "fail-after-1",
        "a single failed probe fails a check: the Cluster's default failAfter is ignored",
        (Edit("observers/monitor.py",
              "Hysteresis(check.failAfter or defaults.failAfter,",
              "Hysteresis(check.failAfter or 1,"),),
        ("calm",), within=120, short=True,
        why="calm: a labelled single-probe flap moves the service",
    ),
    Mutant(
        "margin-0-deadlines-1.05",
        "failover margin 0 and the agent's and the fencer's deadlines at 1.05 leases",
        (_MARGIN_ZERO, *_deadlines("1.05")),
        ("safety",), within=260, short=True,
        why="safety: the master promotes the moment the lease expires while the old active still runs",
    ),
    Mutant(
        "dead-never-moved",
        "a dead server's actives are never moved: a server that is not live never counts as fenced",
        (Edit("reconciler/planner/health.py",
              "        if server not in self.live:\n            return self.dead_fenced(server)",
              "        if server not in self.live:\n            return False  # cannot hear from it: cannot know"),),
        ("liveness",), within=40,   # caught by 55 of seeds 1..300
        why="liveness, late (or never, for a server gone for good): the long-loss fault keeps a server "
            "that holds actives away for 1.5-3 times their deadline",
    ),
    _late(8), _late(12), _late(16), _late(20),
    Mutant(
        "margin-0",
        "failover margin 0: a dead server's actives are moved the moment its lease expires",
        (_MARGIN_ZERO,),
        ("safety",), within=410,
        why="safety: a fencer's kill that lands late, by no more than the slack the margin keeps, beside an "
            "agent stopped past its lease (faultgen.slack_eaters): the successor is promoted before the kill",
    ),
    Mutant(
        "deadlines-1.05-leases",
        "the agent's and the fencer's deadlines at 1.05 leases, the failover margin kept",
        _deadlines("1.05"),
        ("safety",), within=1000,   # caught by 7 of seeds 1..1000 (first at 297)
        why="safety, rarely: a fencer's kill late by the last tenth of the slack the design keeps "
            "(faultgen.slack_eaters, fencer_late) lands 0.1 x leaseTTL later still, after the successor's "
            "promote when etcd's lessor revoked the lease soon after its expiry (8 of the 99 late-fencer "
            "seeds of 1..1000)",
    ),
    Mutant(
        "fence-on-cluster-wide-expiry",
        "an agent fences whenever etcd says its lease expired, even while every peer vouched for it "
        "(a stalled etcd resuming without a leader change expires every lease at once)",
        (Edit("reconciler/agent/presence.py",
              "        return (not state.fenced and now < state.vouched_until\n"
              "                and now < state.kept_at + self.ttl * 0.8)",
              "        return False  # an expired lease: the master may have moved our actives"),),
        ("calm",), within=50, short=True,
        why="calm: an etcd stall (faultgen.etcd_trouble, a labelled blip) resumes and revokes every lease "
            "that expired meanwhile; every agent fences and the services move",
    ),
    Mutant(
        "memory-never-expires",
        "failure memory never expires: a server where a service failed ranks last for it for good",
        (Edit("reconciler/planner/memory.py",
              "if record is None or record.count <= 0 or now >= record.last + timeout:",
              "if record is None or record.count <= 0:"),),
        ("placement",), within=700,   # caught by 3 of seeds 1..300 (first at 71)
        why="placement: with failureTimeout drawn short (4-15 s), a service that failed on its first "
            "candidate and then on the next must go back to the first once the failure expired",
    ),
    Mutant(
        "vip-kept-on-demote",
        "a demoted (or self-fenced) active keeps its floating IP",
        (Edit("actuators/vip.py",
              "        await self.drop(ctx)   # before the service steps down: never two holders\n"
              "        await self.inner.demote(ctx)",
              "        await self.inner.demote(ctx)"),),
        ("safety",), within=80,   # caught by 25 of seeds 1..300 (first at 5)
        why="safety: floating addresses go through the real VIP actuator (sim/addresses.py); a demoted "
            "active still holds its address when its successor adds it",
    ),
    Mutant(
        "partial-promote-as-success",
        "a promote that failed while the service still runs is counted as done (the service is reported active)",
        (Edit("reconciler/agent/service_worker.py",
              "                except ActuatorError as exc:\n"
              "                    self._apply(ev.StepEnded())\n"
              "                    await self._failed(step, target, ctx, exc, about)\n"
              "                    return True\n",
              "                except ActuatorError as exc:\n"
              "                    self._apply(ev.StepEnded())\n"
              "                    if step != roles.PROMOTE or not await self._running(ctx):\n"
              "                        await self._failed(step, target, ctx, exc, about)\n"
              "                        return True\n"
              "                    log.warning(\"%s: promote failed (%s) but the service runs: taken as done\",\n"
              "                                self.name, exc)\n"),),
        ("liveness",), within=100,
        why="liveness, rarely: only where an injected failing promote meets a promote (seed 33 of the first 300); "
            "the service stays a standby that its agent reports active",
    ),
    Mutant(
        "requires-ignored",
        "start order ignored: the master places and promotes a dependent, and its agent takes it up, "
        "whatever what it requires is doing",
        (Edit("reconciler/planner/relations.py",
              "return [r for r in doc.spec.requires if r in self.services and r != name and not self.up(r)]",
              "return []   # start order ignored"),
         Edit("reconciler/agent/waits.py",
              "missing = [r for r in spec.requires if r in services and r != name and not has_active(r)]",
              "missing: list[str] = []   # start order ignored")),
        ("relations",), within=50,   # first caught at seed 16
        why="relations: a dependent promoted while what it requires has had no active past the grace "
            "(a first placement, a failover of the requirement)",
    ),
    Mutant(
        "relations-blind",
        "relationships ignored: the planner plans every service on its own and the agent holds nothing",
        (Edit("reconciler/planner/relations.py",
              "    return any(doc.spec.requires or doc.spec.colocateWith for doc in desired.services.values())",
              "    return False   # relationships ignored"),
         Edit("reconciler/agent/local.py",
              "self.workers[name].wait_for(waiting_for(doc, self.server, snapshot, self._active_here))",
              "self.workers[name].wait_for(\"\")   # relationships ignored")),
        ("relations",), within=20, short=True,   # first caught at seed 3
        why="relations: a follower promoted where its anchor is not active, a dependent before what it requires",
    ),
    Mutant(
        "vip-promote-without-address",
        "a promote whose floating IP could not be added counts as done: the service is half promoted",
        (Edit("actuators/vip.py",
              "            return\n        await self.add(ctx)\n",
              "            return\n"
              "        try:\n"
              "            await self.add(ctx)\n"
              "        except ActuatorError as exc:   # the service is promoted: the address can follow\n"
              "            log.warning(\"%s: adding %s failed: %s\", self.service, self.vip.address, exc)\n"),),
        ("liveness",), within=170,   # caught by 14 of seeds 1..300 (first at 19)
        why="liveness, never: a failover onto a server whose kernel refuses the address (faultgen."
            "address_trouble, vip_fail); the service's own promote works, the address never comes up, "
            "and an active without its address is no active",
    ),
    Mutant(
        "lag-limit-ignored",
        "a failover promotes a standby past maxLagOnFailover (the limit is never applied)",
        (Edit("reconciler/planner/lag.py",
              "    allowed = [s for s in pool if not (placed and held_back(view, name, svc, s))]",
              "    allowed = list(pool)"),),
        ("lag",), within=520,   # caught by 4 of seeds 1..300 (first at 87); 515 seeds miss it 1 time in 1,000
        why="lag: a replicated db (faultgen.replication_lag) fails over while its standby's simulated lag "
            "is past the limit (sim/replication.py)",
    ),
    Mutant(
        "lag-rank-ignored",
        "a failover promotes by candidates order, not the least lag (the ranking is never applied)",
        (Edit("reconciler/planner/lag.py",
              "    return sorted(pool, key=lambda s: (s in view.cordoned, lags[s], s not in named))",
              "    return list(pool)"),),
        ("lag",), within=2070,   # caught by 1 of seeds 1..300 (seed 252); 2,069 seeds miss it 1 time in 1,000
        why="lag: a replicated db fails over while the standbys it may promote all have a lag, and the "
            "first in candidates order is further behind than another",
    ),
)


def by_name() -> dict[str, Mutant]:
    return {m.name: m for m in MUTANTS}


def budget(mutant: Mutant) -> tuple[int, bool]:
    """(seeds, estimated): the measured `within`, else the estimate."""
    if mutant.within is not None:
        return mutant.within, False
    return ESTIMATED[mutant.name], True
