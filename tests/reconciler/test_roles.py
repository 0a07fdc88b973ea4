"""The step tables (reconciler/agent/roles.py): which actuator steps take a
service from the role it has to the role assigned."""
import pytest

from overseer.reconciler.agent.roles import DEMOTE, PROMOTE, START, STOP, fence_steps, role_after, steps


@pytest.mark.parametrize("current, target, standby, plan", [
    ("stopped", "active", "warm", [START, PROMOTE]),
    ("standby", "active", "warm", [PROMOTE]),
    ("standby", "active", "cold", [START, PROMOTE]),
    ("active", "standby", "warm", [DEMOTE]),
    ("active", "standby", "cold", [DEMOTE, STOP]),
    ("active", "stopped", "warm", [DEMOTE, STOP]),
    ("standby", "stopped", "warm", [STOP]),
    ("active", "active", "warm", []),
])
def test_steps_with_a_demote_command(current, target, standby, plan):
    assert steps(current, target, standby) == plan


def test_a_warm_active_without_a_demote_command_steps_down_by_a_restart():
    # nothing else makes a promoted child stop acting as active (seed 52)
    plan = steps("active", "standby", "warm", has_demote_command=False)
    assert plan == [DEMOTE, STOP, START]
    role = "active"
    for step in plan:
        role = role_after(step, "standby", "warm")
    assert role == "standby"
    # where the target does not run, the stop was there already
    assert steps("active", "standby", "cold", has_demote_command=False) == [DEMOTE, STOP]
    assert steps("active", "stopped", "warm", has_demote_command=False) == [DEMOTE, STOP]


def test_fencing_stops_whatever_a_demote_cannot_be_trusted_with():
    assert fence_steps(True, "warm") == [DEMOTE]
    assert fence_steps(False, "warm") == [DEMOTE, STOP]
    assert fence_steps(True, "cold") == [DEMOTE, STOP]
