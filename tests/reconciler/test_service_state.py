"""The state machine of one service on an agent (reconciler/agent/service_state.py),
as a table of transitions: a state and an event give the next state and the
effects, in order. No worker, no actuator, no clock."""
from dataclasses import replace

import pytest

from overseer.desired.state import Assignment, RestartRequest, ServiceReport
from overseer.reconciler.agent import service_events as ev
from overseer.reconciler.agent import service_state as sm
from overseer.reconciler.agent.roles import DEMOTE, PROMOTE, START, STOP

ME = "s1"
A1 = Assignment("pbx", active=(ME,), standby=("s2",), epoch=3, time=10.0, decision=1, reason="placed")
A1_AGAIN = replace(A1, time=11.0, decision=2)             # the master re-issued its decision
A1_ADOPTED = replace(A1, epoch=4, time=12.0)               # a new master adopted it: same decision
MOVED = Assignment("pbx", active=("s2",), standby=(ME,), epoch=3, time=13.0, decision=2)
WARM = sm.State(ME, "warm", True)
COLD = sm.State(ME, "cold", True)
NO_DEMOTE = sm.State(ME, "warm", False)
ACTIVE = replace(WARM, role="active", assignment=A1, counted=False, active_since=100.0, started_at=1000.0)
BLOCKED = replace(WARM, role="stopped", assignment=A1, blocked=A1)


def report(role: str, outcome: str, about: Assignment) -> ServiceReport:
    return ServiceReport(ME, "pbx", role, about.epoch, outcome, "", 0.0, None, about.time)


# (why, state before, event, fields of the state after, effects in order)
TABLE = [
    # --- assignments and blocks
    ("a new assignment wakes a pass", WARM, ev.Assigned(A1),
     {"assignment": A1}, [ev.Wake(0.0)]),
    ("the same assignment again does nothing", replace(WARM, assignment=A1), ev.Assigned(A1),
     {}, []),
    ("a new assignment resets the retry backoff", replace(WARM, retry_delay=8.0), ev.Assigned(A1),
     {"assignment": A1, "retry_delay": sm.RETRY_MIN}, [ev.Wake(0.0)]),
    ("an adoption does not lift a block", BLOCKED, ev.Assigned(A1_ADOPTED),
     {"blocked": A1, "assignment": A1_ADOPTED}, [ev.Wake(0.0)]),
    ("a re-issue lifts the block: the first restart in place is immediate", BLOCKED, ev.Assigned(A1_AGAIN),
     {"blocked": None, "restarts": 1, "assignment": A1_AGAIN}, [ev.Wake(0.0)]),
    ("a second restart in place in a row waits", replace(BLOCKED, restarts=1), ev.Assigned(A1_AGAIN),
     {"blocked": None, "restarts": 2, "assignment": A1_AGAIN}, [ev.Wake(1.0)]),
    ("a move lifts the block and ends the restarts", replace(BLOCKED, restarts=3), ev.Assigned(MOVED),
     {"blocked": None, "restarts": 0, "assignment": MOVED}, [ev.Wake(0.0)]),
    ("a new worker takes up a failure report under the same assignment", WARM,
     ev.Inherited(report("standby", "failed", A1), A1), {"blocked": A1}, []),
    ("a pending report is no step-down", WARM,
     ev.Inherited(report("standby", "pending", A1), A1), {"blocked": None}, []),
    # --- waits
    ("new words wake a pass", WARM, ev.WaitsFor("waiting for db"), {"waiting": "waiting for db"}, [ev.Wake()]),
    ("the same words do nothing", replace(WARM, waiting="w"), ev.WaitsFor("w"), {}, []),
    # --- failures while active
    ("a failed check counts once while active", ACTIVE, ev.CheckFailed("sip", "timeout"),
     {"counted": True}, [ev.CountFailure("sip failed: timeout")]),
    ("a second failed check in the same active period counts nothing", replace(ACTIVE, counted=True),
     ev.CheckFailed("sip", ""), {}, []),
    ("a failed check of a standby counts nothing", replace(WARM, role="standby"), ev.CheckFailed("sip", ""),
     {}, []),
    ("an active's child dies: counted, blocked, hooks told, reported", ACTIVE, ev.ChildExited("killed", 110.0),
     {"role": "stopped", "exits": 1, "counted": True, "blocked": A1},
     [ev.CountFailure("process exited: killed"),
      ev.Notify("demote", "active", "stopped", A1, "process exited: killed"),
      ev.ChildDied("killed"), ev.AfterExit("active", "killed")]),
    ("an active that ran a good while restarts in place at once again", replace(ACTIVE, restarts=4),
     ev.ChildExited("killed", 100.0 + sm.RETRY_MAX + 1),
     {"role": "stopped", "exits": 1, "counted": True, "blocked": A1, "restarts": 0},
     [ev.CountFailure("process exited: killed"),
      ev.Notify("demote", "active", "stopped", A1, "process exited: killed"),
      ev.ChildDied("killed"), ev.AfterExit("active", "killed")]),
    ("a standby's child dies: no failure, no block", replace(WARM, role="standby", assignment=A1),
     ev.ChildExited("oom", 5.0), {"role": "stopped", "exits": 1, "blocked": None},
     [ev.ChildDied("oom"), ev.AfterExit("standby", "oom")]),
    ("a failed move to active counts and blocks", replace(WARM, role="standby", assignment=A1),
     ev.FailedAsActive("promote failed: exit 1", 50.0),
     {"counted": True, "blocked": A1}, [ev.CountFailure("promote failed: exit 1")]),
    # --- fencing
    ("a fence under an assignment naming us active stands down from its decision", ACTIVE, ev.Fencing(),
     {"fenced": True, "stood_down": 1}, []),
    ("a fence of a standby only fences", replace(WARM, assignment=MOVED), ev.Fencing(),
     {"fenced": True, "stood_down": None}, []),
    ("a fence's demote leaves a warm standby", ACTIVE, ev.FenceStepped(DEMOTE, True, 0), {"role": "standby"}, []),
    ("a failed fence demote leaves it active (the fencer keeps its group)", ACTIVE,
     ev.FenceStepped(DEMOTE, False, 0), {"role": "active"}, []),
    ("a demote with no command leaves it active until the stop", replace(ACTIVE, has_demote=False),
     ev.FenceStepped(DEMOTE, True, 0), {"role": "active"}, []),
    ("a step that saw the child die leaves it stopped", replace(ACTIVE, exits=1),
     ev.FenceStepped(DEMOTE, True, 0), {"role": "stopped"}, []),
    ("the fence is told and reported for the assignment stood down from", replace(ACTIVE, role="standby"),
     ev.Fenced("lease lost", "fence", A1), {},
     [ev.MonitorRole("standby"), ev.RoleChanged(), ev.Notify("fence", "active", "standby", A1, "lease lost"),
      ev.Report("ok", "self-fenced: lease lost", A1)]),
    ("unfenced: a pass runs", replace(WARM, fenced=True), ev.Unfenced(), {"fenced": False}, [ev.Wake()]),
    # --- reports
    ("a standby report under an assignment naming us active is a step-down", ACTIVE,
     ev.Reported(report("standby", "ok", A1), A1), {"stood_down": 1, "reported": ("standby", "ok", (3, 10.0))}, []),
    ("an active report is none", ACTIVE, ev.Reported(report("active", "ok", A1), A1),
     {"stood_down": None, "reported": ("active", "ok", (3, 10.0))}, []),
    # --- the converge pass
    ("nothing to run: take the role and report it", replace(WARM, assignment=MOVED), ev.Settled("standby"),
     {"role": "standby"}, [ev.MonitorRole("standby"), ev.Report("ok", "standby")]),
    ("nothing to run, already reported: say nothing", replace(WARM, assignment=MOVED, role="standby",
                                                              reported=("standby", "ok", (3, 13.0))),
     ev.Settled("standby"), {}, [ev.MonitorRole("standby")]),
    ("fenced while assigned active: no report the master would read as a step-down",
     replace(WARM, assignment=A1, role="standby", fenced=True), ev.Settled("standby"), {},
     [ev.MonitorRole("standby")]),
    ("blocked: the report keeps the failure visible", replace(BLOCKED, role="standby"), ev.Settled("standby"),
     {}, [ev.MonitorRole("standby"),
          ev.Report("failed", "failed as active under this assignment; standby; waiting for the master")]),
    ("a cold standby is probed as stopped", replace(COLD, assignment=MOVED), ev.Settled("standby"),
     {"role": "standby"}, [ev.MonitorRole("stopped"), ev.Report("ok", "standby")]),
    ("held: say once what we wait for", replace(WARM, assignment=A1, waiting="waiting for db"), ev.Held(A1),
     {"held_words": "waiting for db"}, [ev.Report("pending", "waiting for db; made active here once it is", A1)]),
    ("held, said already: nothing", replace(WARM, assignment=A1, waiting="w", held_words="w",
                                            reported=("stopped", "pending", (3, 10.0))), ev.Held(A1), {}, []),
    ("a promote tells the fencer before it runs", WARM, ev.StepStarting(PROMOTE),
     {"promoting": True}, [ev.RoleChanged()]),
    ("a start tells nobody", WARM, ev.StepStarting(START), {"promoting": False}, []),
    ("a step ended however: no promote runs", replace(WARM, promoting=True), ev.StepEnded(),
     {"promoting": False}, []),
    ("a start done leaves a standby", WARM, ev.Stepped(START, "active", 0), {"role": "standby"}, []),
    ("a promote done leaves an active", replace(WARM, role="standby"), ev.Stepped(PROMOTE, "active", 0),
     {"role": "active"}, []),
    ("the child died while the step ran: the pass ends, stopped", replace(WARM, exits=1),
     ev.Stepped(START, "active", 0), {"role": "stopped"},
     [ev.MonitorRole("stopped"), ev.RoleChanged(), ev.Interrupted()]),
    ("a retreat that finds the child running leaves a warm standby", ACTIVE, ev.Retreated(True),
     {"role": "standby"}, [ev.MonitorRole("standby")]),
    ("a retreat that finds nothing running leaves it stopped", ACTIVE, ev.Retreated(False),
     {"role": "stopped"}, [ev.MonitorRole("stopped")]),
    ("arrived active: a new active period, hooks, grace, report", replace(WARM, role="active", assignment=A1,
                                                                          retry_delay=4.0),
     ev.Arrived((START, PROMOTE), "stopped", A1, 200.0, 2000.0),
     {"counted": False, "active_since": 200.0, "started_at": 2000.0, "retry_delay": sm.RETRY_MIN},
     [ev.MonitorRole("active"), ev.BeginGrace(), ev.RoleChanged(),
      ev.Notify("promote", "stopped", "active", A1, "placed"), ev.Report("ok", "start + promote done", A1)]),
    ("arrived standby after a demote: no grace, a demote for the hooks",
     replace(WARM, role="standby", assignment=MOVED), ev.Arrived((DEMOTE,), "active", MOVED, 1.0, 1.0),
     {"counted": True}, [ev.MonitorRole("standby"), ev.RoleChanged(),
                         ev.Notify("demote", "active", "standby", MOVED, ""), ev.Report("ok", "demote done", MOVED)]),
    ("a retry doubles the backoff, up to its most", replace(WARM, retry_delay=16.0), ev.Retried(),
     {"retry_delay": sm.RETRY_MAX}, []),
    # --- restart in place
    ("a restart request for the active here begins it", ACTIVE, ev.RestartRequested(RestartRequest("pbx", ME, 5.0)),
     {"restarting": 5.0}, [ev.BeginRestart(RestartRequest("pbx", ME, 5.0))]),
    ("a request being carried out is not begun twice", replace(ACTIVE, restarting=5.0),
     ev.RestartRequested(RestartRequest("pbx", ME, 5.0)), {}, []),
    ("a request for another server is not ours", ACTIVE, ev.RestartRequested(RestartRequest("pbx", "s2", 5.0)),
     {"restarting": None}, []),
    ("on our way to active: the next snapshot carries it out", replace(WARM, assignment=A1),
     ev.RestartRequested(RestartRequest("pbx", ME, 5.0)), {"restarting": None}, []),
    ("not assigned active: begun, to be dropped saying why", replace(WARM, assignment=MOVED),
     ev.RestartRequested(RestartRequest("pbx", ME, 5.0)), {"restarting": 5.0},
     [ev.BeginRestart(RestartRequest("pbx", ME, 5.0))]),
    ("a restart's demote leaves a warm standby", ACTIVE, ev.RestartStepped(DEMOTE, 0), {"role": "standby"}, []),
    ("stopped for a restart: the fencer and the hooks hear of it", replace(ACTIVE, role="standby"),
     ev.RestartStopped(), {"role": "stopped"},
     [ev.MonitorRole("stopped"), ev.RoleChanged(),
      ev.Notify("demote", "active", "stopped", A1, "restart in place (overseer restart)")]),
    ("a restart finished", replace(ACTIVE, restarting=5.0), ev.RestartFinished(), {"restarting": None}, []),
]


@pytest.mark.parametrize("why, before, event, after, effects", TABLE, ids=[row[0] for row in TABLE])
def test_transition(why, before, event, after, effects):
    assert sm.transition(before, event) == (replace(before, **after), effects)


@pytest.mark.parametrize("state, target", [
    (replace(WARM, assignment=A1), "active"),
    (replace(WARM, assignment=MOVED), "standby"),
    (WARM, "stopped"),
    (replace(WARM, assignment=A1, fenced=True), "standby"),        # cut off: never active
    (BLOCKED, "standby"),                                           # failed under it: the master decides
    (replace(BLOCKED, assignment=A1_ADOPTED), "standby"),           # an adoption answers nothing
    (replace(WARM, assignment=A1, stood_down=1), "standby"),        # stood down from this decision
    (replace(WARM, assignment=A1_AGAIN, stood_down=1), "active"),   # a higher decision lifts it
])
def test_target(state, target):
    assert sm.target(state) == target


def test_a_promote_waits_only_on_its_way_to_active():
    waiting = replace(WARM, waiting="waiting for db")
    assert sm.held(waiting, "active")
    assert not sm.held(replace(waiting, role="active"), "active")   # never demoted for it
    assert not sm.held(waiting, "standby")
    assert not sm.held(WARM, "active")


def test_the_way_to_active_stops_when_fenced_or_no_longer_legitimate():
    asked = []

    def legitimate() -> bool:
        asked.append(1)
        return False
    assert sm.cut_off(WARM, "active", legitimate)
    assert not sm.cut_off(WARM, "standby", legitimate)
    assert sm.cut_off(replace(WARM, fenced=True), "active", legitimate)
    assert len(asked) == 1   # asked only on the way to active and while not fenced


def test_the_steps_that_take_an_active_down():
    assert sm.retreat_steps(WARM) == [DEMOTE]
    assert sm.retreat_steps(COLD) == [DEMOTE, STOP]
    assert sm.retreat_steps(NO_DEMOTE) == [DEMOTE, STOP]
    assert sm.restart_steps(WARM) == [DEMOTE, STOP]
    assert sm.restart_steps(COLD) == [DEMOTE, STOP]


def test_a_restart_in_place_stops_only_an_active_that_started_before_the_request():
    request = RestartRequest("pbx", ME, 1500.0)
    assert sm.restart_refusal(ACTIVE, request, "pbx") is None
    assert "not active here" in sm.restart_refusal(replace(ACTIVE, role="standby"), request, "pbx")
    assert "already done" in sm.restart_refusal(replace(ACTIVE, started_at=1600.0), request, "pbx")


def test_the_machine_does_no_io_and_reads_no_clock():
    """Its modules import nothing that waits, reads a clock, logs or touches
    the system: time comes in with the events."""
    import ast
    from pathlib import Path
    agent = Path(sm.__file__).parent
    banned = {"asyncio", "time", "os", "logging", "socket", "subprocess", "random", "datetime"}
    for name in ("service_state.py", "service_events.py", "roles.py", "answers.py"):
        tree = ast.parse((agent / name).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and not node.level}
        assert not imported & banned, f"{name} imports {imported & banned}"
