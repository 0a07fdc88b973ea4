"""Which assignment answers a service that failed or stood down as active.

Pure, so the rules are unit-tested without agents. After a failure or a
self-fence the agent reported "standby" for its assignment, and the master
may already have promoted someone else on that report: the agent becomes
active again only on a decision the master made after it (docs/design-choices.md,
"A blocked active waits for the master").
"""
from __future__ import annotations

from typing import Optional

from overseer.desired.state import Assignment, Outcome, Role, ServiceReport

# What the liveness bound allows the master to answer a failure report
# (tests/faults, sim/schedule.py); the agent itself waits for the answer.
BLOCK_SECONDS = 5.0


def epoch_of(assignment: Optional[Assignment]) -> tuple:
    """Names one assignment record: what a report says it answers."""
    return (assignment.epoch, assignment.time) if assignment else ()


def decided_anew(assignment: Optional[Assignment], failed_under: Optional[Assignment]) -> bool:
    """Whether a new assignment answers the failure we are blocked on.

    Another active set does; so does a re-issue (the master saw the failure
    and keeps us: restart in place now), which raises `decision`. Neither
    adoption by a new master (it may not have seen the failure yet) nor a
    record that only changed the standbys does: both carry the decision."""
    if assignment is None or failed_under is None:
        return True
    if tuple(assignment.active) != tuple(failed_under.active):
        return True
    return assignment.decision > failed_under.decision


def stood_down_under(report: Optional[ServiceReport], assignment: Optional[Assignment], server: str) -> bool:
    """Whether our last report already told the master we stood down from, or
    failed under, this very assignment naming us active. A new worker (a
    restarted agent, a replaced document) then waits for the master's answer
    as its predecessor would have: the master may have promoted another
    server on that report (found by the simulator, seed 6038: a restarted
    agent promoted the assignment it had failed under, two actives). A
    "pending" report is no step-down: the worker holds its promote until what
    the service depends on is active (waits.py), and the master reads it so."""
    return (report is not None and assignment is not None and server in assignment.active
            and report.assigned == assignment.time and report.epoch == assignment.epoch
            and report.outcome != Outcome.PENDING
            and (report.outcome == Outcome.FAILED or report.role != Role.ACTIVE))
