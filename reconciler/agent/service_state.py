"""The safety rules of one service on this server, as a pure state machine.

`transition(state, event)` returns the next `State` and the `Effect`s the
worker (service_worker.py) carries out, in order, after taking the new state:
no I/O, no clock (an event that needs the time carries it), so every rule is
a row of a transition table (tests/reconciler/test_service_state.py). The
worker feeds it what happened and runs the actuator steps it plans.

State (what the agent believes and has promised):

- `role`: `stopped`, `standby` or `active`, what really ran last; a step in
  flight changes it only once it succeeded.
- `assignment`: the master's latest record for the service.
- `blocked`: an assignment we failed under as active: never active again
  under it until the master decides anew (answers.decided_anew).
- `stood_down`: the highest decision our report already stepped down from
  (a fence, a failure): the master may have promoted someone else on it.
- `fenced`: our lease's legitimacy ran out; nothing becomes active.
- `promoting`: a promote step runs (the fencer must count its child already).
- `exits`: how many children died on their own; a step that saw it change
  must not claim the role it would have left.
- `counted`, `restarts`, `active_since`, `started_at`: failure memory (one
  failure per active period), restart-in-place backoff, when we became active.
- `waiting`, `held_words`: what a promote here waits for (waits.py).
- `reported`: (role, outcome, assignment) last reported, to say each once.
- `restarting`: the operator's restart-in-place request being carried out.
- `retry_delay`: the converge retry backoff.

The events and effects are in service_events.py. Beside the converge pass,
the machine carries an operator's restart in place (`overseer restart`): a
record in etcd (`control/restart/<service>`, naming the server), handed over
with every snapshot; acted on only where the service is active here, once
per request, then carried out by the worker under its one-sequence lock
(stop, then converge back as after any other stop). The stop is asked for,
so it counts no failure; the assignment stays.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

from overseer.desired.state import Assignment, Outcome, RestartRequest

from . import roles
from .answers import decided_anew, epoch_of, stood_down_under
from .service_events import (AfterExit, Arrived, Assigned, BeginGrace, BeginRestart, CheckFailed, ChildDied,
                             ChildExited, CountFailure, Event, FailedAsActive, Fenced, FenceStepped, Fencing,
                             Held, Inherited, Interrupted, MonitorRole, Notify, Reported, Report,
                             RestartFinished, RestartRequested, RestartStepped, RestartStopped, Retreated,
                             Retried, RoleChanged, Settled, StepEnded, Stepped, StepStarting, Unfenced, Wake,
                             WaitsFor)

RETRY_MIN, RETRY_MAX = 1.0, 30.0


@dataclass(frozen=True)
class State:
    server: str
    standby: str                # the service's standby mode: "warm" or "cold"
    has_demote: bool            # its actuator has a demote command
    role: str = "stopped"
    assignment: Optional[Assignment] = None
    blocked: Optional[Assignment] = None
    stood_down: Optional[int] = None
    fenced: bool = False
    promoting: bool = False
    exits: int = 0
    counted: bool = True        # this active period's failure is counted (none yet: nothing to count)
    restarts: int = 0           # restarts in place in a row under one decision
    active_since: float = 0.0   # monotonic
    started_at: float = 0.0     # wall time we last became active
    waiting: str = ""
    held_words: str = ""
    reported: tuple = ()
    restarting: Optional[float] = None   # the request being carried out (its `requested`)
    retry_delay: float = RETRY_MIN


Step = tuple[State, list]


# --- queries --------------------------------------------------------------------

def blocked_now(s: State) -> bool:
    # We failed as active under this decision and reported it: the master
    # moves the service, or keeps us and re-issues the decision (which lifts
    # the block). Never on a timer: our "failed, standby" report let the
    # master promote elsewhere at once, and a block that expired by itself
    # promoted us again under the same assignment just as the master moved
    # it after an etcd outage: two actives (simulator seed 4328).
    return (s.assignment is not None and s.blocked is not None
            and tuple(s.assignment.active) == tuple(s.blocked.active)
            and s.server in s.assignment.active)


def target(s: State) -> str:
    """The role to converge to: the assignment's, but never active while
    fenced, blocked, or under a decision we already stood down from."""
    assigned = roles.target_role(s.assignment, s.server)
    if assigned == "active" and (s.fenced or blocked_now(s)
                                 or (s.stood_down is not None and s.assignment.decision <= s.stood_down)):
        return "standby"
    return assigned


def held(s: State, to: str) -> bool:
    """A promote here waits for what the service depends on (waits.py)."""
    return to == "active" and s.role != "active" and bool(s.waiting)


def plan(s: State, to: str) -> list[str]:
    return roles.steps(s.role, to, s.standby, s.has_demote)


def cut_off(s: State, to: str, legitimate: Callable[[], bool]) -> bool:
    """Go no further towards active: fenced, or our lease's legitimacy ran
    out before the deadline guard had its turn (e.g. right after a pause).
    `legitimate` is asked only on the way to active and while not fenced."""
    return to == "active" and (s.fenced or not legitimate())


def outcome(s: State, message: str) -> tuple[str, str]:
    if blocked_now(s):
        # keep the failure visible so the master moves the active elsewhere
        return "failed", f"failed as active under this assignment; {message}; waiting for the master"
    return "ok", message


def monitor_role(s: State) -> MonitorRole:
    return MonitorRole(s.role if roles.runs_as(s.role, s.standby) else "stopped")


def retreat_steps(s: State) -> list[str]:
    return list(roles.fence_steps(s.has_demote, s.standby))


def restart_steps(s: State) -> list[str]:
    """A restart in place stops the active: the steps from active to stopped."""
    return roles.steps("active", "stopped", s.standby, s.has_demote)


def restart_refusal(s: State, request: RestartRequest, name: str) -> Optional[str]:
    """Why a restart in place of service `name` stops nothing (None: stop the active now)."""
    if s.role != "active":
        return f"{s.server}: restart in place not done: {name} is not active here"
    if s.started_at > request.requested:
        return f"{s.server}: restart in place already done: active here since after the request"
    return None


def _role_after(s: State, step: str, to: str, exits_before: int) -> str:
    # A child that died while the step ran leaves nothing running, whatever
    # the step said: a fence's demote "succeeding" on a child the fencer
    # killed meanwhile left a warm standby with no process, never started
    # again (simulator seed 77798: replicas 2 stuck at 1 active).
    return "stopped" if s.exits != exits_before else roles.role_after(step, to, s.standby)


def _failure(s: State, why: str) -> Step:
    """Count one failure as active here (failure memory), once per time we became active."""
    if s.counted:
        return s, []
    return replace(s, counted=True), [CountFailure(why)]


def _block(s: State, now: float) -> State:
    # Remember the assignment we failed under; `decided_anew` says which
    # later assignments lift the block.
    if now - s.active_since > RETRY_MAX:
        s = replace(s, restarts=0)   # it ran a good while: the next restart in place is immediate again
    return replace(s, blocked=s.assignment)


# --- transitions ----------------------------------------------------------------

def _assigned(s: State, e: Assigned) -> Step:
    if e.assignment == s.assignment:
        return s, []
    delay = 0.0
    if decided_anew(e.assignment, s.blocked):
        if s.blocked is not None and e.assignment is not None \
                and tuple(e.assignment.active) == tuple(s.blocked.active):
            restarts = s.restarts + 1   # restart in place, backing off if it keeps failing
            delay = roles.restart_delay(restarts, RETRY_MIN, RETRY_MAX)
        else:
            restarts = 0
        s = replace(s, restarts=restarts, blocked=None)  # the master decided anew: the block has done its job
    return replace(s, assignment=e.assignment, retry_delay=RETRY_MIN), [Wake(delay)]


def _inherited(s: State, e: Inherited) -> Step:
    # a new worker takes up its predecessor's block (answers.stood_down_under)
    if stood_down_under(e.report, e.assignment, s.server):
        return replace(s, blocked=e.assignment), []
    return s, []


def _waits_for(s: State, e: WaitsFor) -> Step:
    # the hold as of the latest snapshot: a pass runs when it changes
    if e.words == s.waiting:
        return s, []
    return replace(s, waiting=e.words), [Wake()]


def _check_failed(s: State, e: CheckFailed) -> Step:
    # a critical check went to `fail` (after failAfter): a failure only while active
    if s.role != "active":
        return s, []
    return _failure(s, f"{e.check} failed" + (f": {e.message}" if e.message else ""))


def _child_exited(s: State, e: ChildExited) -> Step:
    # Seen the moment the child dies: report at once, do not wait for a probe.
    was = s.role
    s = replace(s, exits=s.exits + 1)
    effects: list = []
    if was == "active":
        s, effects = _failure(s, f"process exited: {e.message}")
    s = replace(s, role="stopped")
    if was == "active":
        s = _block(s, e.now)
        # a crash is a demote the hooks must hear of: nobody will converge it away
        effects.append(Notify("demote", "active", "stopped", s.assignment, f"process exited: {e.message}"))
    # the checks keep running (and failing) until we converge again
    return s, effects + [ChildDied(e.message), AfterExit(was, e.message)]


def _fencing(s: State, e: Fencing) -> Step:
    # our "standby" report for this decision may let the master promote
    # someone else: never active under it again (a higher decision lifts it)
    if roles.target_role(s.assignment, s.server) == "active":
        return replace(s, fenced=True, stood_down=s.assignment.decision), []
    return replace(s, fenced=True), []


def _fence_stepped(s: State, e: FenceStepped) -> Step:
    if not e.ok and s.exits == e.exits_before:
        # A warm active whose demote failed may still act as active: the
        # role stays "active" until a step succeeds, so the fencer process
        # kills the group if the stop fails too (fault suite seed 339).
        return s, []
    if e.step == roles.DEMOTE and not s.has_demote and s.exits == e.exits_before:
        # No command demoted it (the step only dropped its address): it acts
        # as active until the stop ends it, and the fencer must keep its
        # group. Counted as "standby", a vouch made meanwhile dropped the
        # group, and a stop that hung let it run beside its successor
        # (simulator seed 3309).
        return s, []
    return replace(s, role=_role_after(s, e.step, "stopped", e.exits_before)), []


def _fenced(s: State, e: Fenced) -> Step:
    # The report reaches etcd when it answers again, so the master never
    # trusts a stale "active". It answers the assignment we stood down for: a
    # newer one that arrived while we demoted was not stood down for (we take
    # it up once unfenced), and the master must not read it as a step-down.
    return s, [monitor_role(s), RoleChanged(), Notify(e.event, "active", s.role, e.fenced_for, e.why),
               Report("ok", f"self-fenced: {e.why}", e.fenced_for)]


def _unfenced(s: State, e: Unfenced) -> Step:
    return replace(s, fenced=False), [Wake()]


def _reported(s: State, e: Reported) -> Step:
    s = replace(s, reported=(e.report.role, e.report.outcome, epoch_of(e.about)))
    if stood_down_under(e.report, e.about, s.server):
        # Whatever the path (a fence, a start while fenced, a failure), the
        # master may promote another server on this report: never become
        # active under this decision again (simulator seed 6805: a fenced
        # worker restarted its killed child as standby, reported it for a
        # newer assignment naming it active, then promoted once unfenced).
        s = replace(s, stood_down=max(s.stood_down or 0, e.about.decision))
    return s, []


def _restart_requested(s: State, e: RestartRequested) -> Step:
    # level-triggered: every snapshot hands the request over; act on it once
    r = e.request
    if r is None or r.server != s.server or s.restarting == r.requested:
        return s, []
    if s.role != "active" and roles.target_role(s.assignment, s.server) == "active":
        return s, []   # on our way to active: the next snapshot after that carries it out
    return replace(s, restarting=r.requested), [BeginRestart(r)]


def _restart_stepped(s: State, e: RestartStepped) -> Step:
    return replace(s, role=_role_after(s, e.step, "stopped", e.exits_before)), []


def _restart_stopped(s: State, e: RestartStopped) -> Step:
    s = replace(s, role="stopped")
    return s, [monitor_role(s), RoleChanged(),
               Notify("demote", "active", "stopped", s.assignment, "restart in place (overseer restart)")]


def _restart_finished(s: State, e: RestartFinished) -> Step:
    return replace(s, restarting=None), []


def _held(s: State, e: Held) -> Step:
    # stay as we are and say what we wait for (once per role, assignment and words)
    said = (s.role, Outcome.PENDING.value, epoch_of(e.about))
    if (said, s.waiting) == (s.reported, s.held_words):
        return s, []
    return (replace(s, held_words=s.waiting),
            [Report(Outcome.PENDING.value, f"{s.waiting}; made active here once it is", e.about)])


def _settled(s: State, e: Settled) -> Step:
    # Nothing to run (e.g. stopped -> cold standby), but say we are ready; a
    # block that ended or a new assignment changes what we report. The
    # monitor follows too: after a child exit it would otherwise keep
    # probing a dead child as active and its `fail` never clears.
    s = replace(s, role=e.target)
    effects: list = [monitor_role(s)]
    if s.fenced and roles.target_role(s.assignment, s.server) == "active":
        # Not a step-down the master should act on: we are cut off and
        # converge again when the lease is renewed (unfence wakes us).
        return s, effects
    said = outcome(s, e.target)
    if (s.role, said[0], epoch_of(s.assignment)) != s.reported:
        effects.append(Report(*said))
    return s, effects


def _step_starting(s: State, e: StepStarting) -> Step:
    # The fencer is told of the child before a promote, not after: a real
    # promote command completes even while its agent is stopped; vouching
    # only afterwards left an active the fencer never knew of beside the
    # master's next choice (simulator seed 2516).
    if e.step == roles.PROMOTE:
        return replace(s, promoting=True), [RoleChanged()]
    return s, []


def _step_ended(s: State, e: StepEnded) -> Step:
    # however it ended: a promote no longer runs
    return replace(s, promoting=False), []


def _stepped(s: State, e: Stepped) -> Step:
    if s.exits != e.exits_before:
        # the child died while the step ran: ChildExited set "stopped",
        # reported it, and wakes us to start again
        return s, [monitor_role(s), RoleChanged(), Interrupted()]
    return replace(s, role=roles.role_after(e.step, e.target, s.standby)), []


def _failed_as_active(s: State, e: FailedAsActive) -> Step:
    s, effects = _failure(replace(s, counted=False), e.why)
    return _block(s, e.now), effects


def _retreated(s: State, e: Retreated) -> Step:
    s = replace(s, role="standby" if e.running and s.standby == "warm" else "stopped")
    return s, [monitor_role(s)]


def _arrived(s: State, e: Arrived) -> Step:
    s = replace(s, retry_delay=RETRY_MIN)
    if s.role == "active":
        s = replace(s, counted=False, active_since=e.now, started_at=e.wall)
    effects: list = [monitor_role(s)]
    if roles.START in e.plan or roles.PROMOTE in e.plan:
        effects.append(BeginGrace())   # its checks' start-up grace counts from here
    effects.append(RoleChanged())
    if (e.was == "active") != (s.role == "active"):
        effects.append(Notify("promote" if s.role == "active" else "demote", e.was, s.role, e.about,
                              e.about.reason if e.about else ""))
    effects.append(Report(*outcome(s, f"{' + '.join(e.plan)} done"), e.about))
    return s, effects


def _retried(s: State, e: Retried) -> Step:
    return replace(s, retry_delay=min(s.retry_delay * 2, RETRY_MAX)), []


_TRANSITIONS = {
    Assigned: _assigned, Inherited: _inherited, WaitsFor: _waits_for, CheckFailed: _check_failed,
    ChildExited: _child_exited, Fencing: _fencing, FenceStepped: _fence_stepped, Fenced: _fenced,
    Unfenced: _unfenced, Reported: _reported, RestartRequested: _restart_requested,
    RestartStepped: _restart_stepped, RestartStopped: _restart_stopped, RestartFinished: _restart_finished,
    Held: _held, Settled: _settled, StepStarting: _step_starting, Stepped: _stepped, StepEnded: _step_ended,
    FailedAsActive: _failed_as_active, Retreated: _retreated, Arrived: _arrived, Retried: _retried,
}


def transition(s: State, event: Event) -> Step:
    """The next state and what to do, in order, once it is taken."""
    return _TRANSITIONS[type(event)](s, event)
