"""What an agent must do locally to go from the role it has to the role assigned.

Pure, so the step tables are unit-tested without processes. Roles: `active`,
`standby` (warm: running, not promoted; cold: not running) and `stopped`
(not assigned here, or no assignment yet).
"""
from __future__ import annotations

from typing import Optional

from overseer.desired.state import Assignment

START, STOP, PROMOTE, DEMOTE = "start", "stop", "promote", "demote"


def target_role(assignment: Optional[Assignment], server: str) -> str:
    if assignment is None:
        return "stopped"
    if server in assignment.active:
        return "active"
    if server in assignment.standby:
        return "standby"
    return "stopped"


def runs_as(role: str, standby: str) -> bool:
    """Whether the service process should be running in this role."""
    return role == "active" or (role == "standby" and standby == "warm")


def steps(current: str, target: str, standby: str, has_demote_command: bool = True) -> list[str]:
    """Ordered actuator steps from `current` to `target` (both role names)."""
    if current == target:
        return []
    plan: list[str] = []
    if current == "active":
        plan.append(DEMOTE)
        if not has_demote_command and runs_as(target, standby):
            # Nothing tells a promoted child to step down but its end: a warm
            # standby is a restart, as in fence_steps. Left running, it went on
            # acting as active beside its successor (simulator seed 52).
            return plan + [STOP, START]
    if runs_as(target, standby) and not runs_as(current, standby):
        plan.append(START)
    if not runs_as(target, standby) and runs_as(current, standby):
        plan.append(STOP)
    if target == "active":
        plan.append(PROMOTE)
    return plan


def role_after(step: str, target: str, standby: str) -> str:
    """The role a successful step leaves the service in, on the way to `target`."""
    if step == PROMOTE:
        return "active"
    if step == DEMOTE:
        return "standby" if runs_as("standby", standby) else "stopped"
    if step == START:
        return "standby"
    # stopped: a cold standby that is not running is still a standby
    return "standby" if target == "standby" and standby == "cold" else "stopped"


def fence_steps(has_demote_command: bool, standby: str) -> list[str]:
    """Self-fencing an active we may no longer hold: demote it (and stop it when
    a standby does not run); with no demote command the only way to be sure it
    stops acting as active is to stop it."""
    return [DEMOTE] if has_demote_command and standby == "warm" else [DEMOTE, STOP]


def restart_delay(restarts: int, first: float, most: float) -> float:
    """Before the n-th restart in place under one decision: the first is
    immediate; a service that keeps failing right after each one backs off
    as converge retries do."""
    return 0.0 if restarts == 1 else min(first * 2 ** (restarts - 2), most)
