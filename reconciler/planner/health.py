"""Per (server, service) eligibility: can this server be active for that service?

`View` is built once per plan: it indexes the observations into per
(server, service) lists of critical failing/warning checks, so judging one
candidate is a few dict lookups instead of a scan of every observation.
Grades order the candidates: OK < WARN < MARKED < FAIL < DOWN; OK, WARN and
MARKED are eligible to be active. MARKED is failure memory (memory.py): a
server where the service failed recently, chosen only when no server without
that mark is eligible. Only what is failing now (server in fail, an actuator
failure, checks failing where the service runs) makes a server FAIL.
"""
from __future__ import annotations

from typing import Mapping

from overseer.desired.models import ServiceDoc
from overseer.desired.state import DesiredState, Observation, Outcome, Role, Status

from .fencing import Fencing
from .inputs import ActualState
from .memory import Memory

OK, WARN, MARKED, FAIL, DOWN = 0, 1, 2, 3, 4
DEFAULT_MARGIN = 0.5


def _index_bad_checks(observations: Mapping) -> dict[tuple[str, str], list[Observation]]:
    """(server, service) -> its critical observations in warn or fail (one pass)."""
    bad: dict[tuple[str, str], list[Observation]] = {}
    for obs in observations.values():
        status = obs.status
        if (status == Status.FAIL or status == Status.WARN) and obs.critical:
            key = (obs.server, obs.service)
            found = bad.get(key)
            if found is None:
                bad[key] = [obs]
            else:
                found.append(obs)
    return bad


class View:
    """The indexed inputs of one plan; read-only after construction."""

    def __init__(self, desired: DesiredState, actual: ActualState, now: float):
        self.desired = desired
        self.actual = actual
        self.now = now
        self.live = actual.servers
        self.reports = actual.reports
        self.down_since = actual.down_since
        spec = desired.cluster.spec if desired.cluster else None
        self.margin = spec.failoverMargin if spec else DEFAULT_MARGIN
        self.default_fail_after = spec.defaults.failAfter if spec else 3
        self.domains = {name: doc.spec.failureDomain for name, doc in desired.servers.items()}
        self.bad = _index_bad_checks(actual.observations)
        self.memory = Memory(desired, actual.failures, now)
        self.cordoned = actual.cordoned
        self.fencing = Fencing(desired.servers, actual.fences, now)

    # --- grading (hot path) ------------------------------------------------

    def grade(self, server: str, name: str, svc: ServiceDoc) -> int:
        rec = self.live.get(server)
        if rec is None:
            return DOWN
        health = rec.health
        if health == Status.FAIL:
            return FAIL
        report = self.reports.get((server, name))
        if report is not None and report.outcome == Outcome.FAILED:
            return FAIL
        grade = WARN if health == Status.WARN else OK
        bad = self.bad.get((server, name))
        if bad and self._runs_here(server, name, svc):
            grade = max(grade, self._checks_grade(bad, svc))
        if grade < MARKED and self.memory.marked(server, name, svc):
            grade = MARKED
        return grade

    def _runs_here(self, server: str, name: str, svc: ServiceDoc) -> bool:
        """Whether the service's checks on `server` judge it now. A cold
        standby does not run the service: a `fail` it kept from when it was
        active is failure memory (a fail count), not current health."""
        if svc.spec.standby == "warm" or svc.spec.mode == "all-active":
            return True
        report = self.reports.get((server, name))
        return report is not None and report.role == Role.ACTIVE

    @staticmethod
    def _checks_grade(bad: list[Observation], svc: ServiceDoc) -> int:
        # Observations of checks no longer declared are leftovers, not verdicts.
        declared = {c.name for c in svc.spec.checks}
        grade = OK
        for obs in bad:
            if obs.check in declared:
                if obs.status == Status.FAIL:
                    return FAIL
                grade = WARN
        return grade

    # --- fencing -------------------------------------------------------------

    def margin_passed(self, server: str) -> bool:
        """A server that is not live is fenced once its lease expiry + margin passed."""
        since = self.down_since.get(server)
        return since is None or self.now >= since + self.margin

    def dead_fenced(self, server: str) -> bool:
        """A server that is not live can no longer act: its margin passed and,
        if it has a fence agent, that agent succeeded in this outage (fencing.py)."""
        return self.margin_passed(server) and self.fencing.done(server)

    def awaits_fence(self, server: str) -> bool:
        """Dead past its margin, but its fence agent has not succeeded yet."""
        return server not in self.live and self.margin_passed(server) and not self.fencing.done(server)

    def reports_active(self, server: str, name: str) -> bool:
        report = self.reports.get((server, name))
        return report is not None and report.role == Role.ACTIVE

    def fenced(self, server: str, name: str, assigned_at: float = 0.0) -> bool:
        """Can no longer be acting as active for `name` (demoted, or dead long enough).

        `assigned_at`: for a server the current assignment names active, only a
        report written for that assignment (or a later one) counts: an older
        "standby" may predate a promote that is still under way. A "pending"
        one says the agent holds its promote until what the service depends on
        is active (agent/waits.py): it may still promote under that assignment."""
        if server not in self.live:
            return self.dead_fenced(server)
        report = self.reports.get((server, name))
        return (report is not None and report.role != Role.ACTIVE and report.outcome != Outcome.PENDING
                and report.assigned >= assigned_at)

    # --- words (only when an action is emitted) --------------------------------

    def why(self, server: str, name: str, svc: ServiceDoc) -> str:
        """Why `server` has its grade for `name`, in words for a reason line."""
        rec = self.live.get(server)
        if rec is None:
            return self._down_words(server)
        if rec.health == Status.FAIL:
            return "server in fail" + (f" ({rec.message})" if rec.message else "")
        report = self.reports.get((server, name))
        if report is not None and report.outcome == Outcome.FAILED:
            return "actuator failed" + (f" ({report.message})" if report.message else "")
        checks = self._check_words(server, name, svc) if self._runs_here(server, name, svc) else ""
        if checks:
            return checks
        words = []
        if rec.health == Status.WARN:
            words.append("server in warn" + (f" ({rec.message})" if rec.message else ""))
        remembered = self.memory.words(server, name, svc)
        if remembered:
            words.append(remembered)
        if server in self.cordoned:
            words.append("cordoned")
        if words:
            return ", ".join(words)
        return "healthy" if rec.health == Status.OK else "health unknown"

    def _down_words(self, server: str) -> str:
        since = self.down_since.get(server)
        words = "down" if since is None else f"down (gone {max(self.now - since, 0.0):.1f}s ago)"
        fence = self.fencing.words(server)
        return f"{words}, {fence}" if fence else words

    def _check_words(self, server: str, name: str, svc: ServiceDoc) -> str:
        bad = self.bad.get((server, name)) or []
        by_name = {c.name: c for c in svc.spec.checks}
        fails = [o for o in bad if o.status == Status.FAIL and o.check in by_name]
        warns = [o for o in bad if o.status == Status.WARN and o.check in by_name]
        if fails:
            obs = fails[0]
            n = by_name[obs.check].failAfter or self.default_fail_after
            return f"{obs.check} failed {n}/{n}" + (f" ({obs.message})" if obs.message else "")
        if warns:
            obs = warns[0]
            return f"{obs.check} in warn" + (f" ({obs.message})" if obs.message else "")
        return ""

    def domain(self, server: str) -> str:
        return self.domains.get(server, "")



def is_eligible(grade: int) -> bool:
    return grade <= MARKED


def stepped_down(view: "View", server: str, name: str, assigned_at: float) -> bool:
    """An assigned active that reported, for this very assignment, a role other
    than active with no failure: it fenced itself (lost etcd) and will not take
    the assignment up again by itself, so the master must decide anew."""
    if server not in view.live:
        return False
    report = view.reports.get((server, name))
    return (report is not None and report.role != Role.ACTIVE and report.outcome == Outcome.OK
            and report.assigned >= assigned_at)
