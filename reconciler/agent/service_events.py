"""What can happen to one service on this server, and what its worker can do about it.

The vocabulary of the service's state machine (service_state.py): each event
is a fact the worker (service_worker.py) observed, carrying the time when a
rule needs it; each effect is one thing the worker carries out, in order,
after taking the new state. All plain frozen values, so a transition table
compares them directly (tests/reconciler/test_service_state.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from overseer.desired.state import Assignment, RestartRequest, ServiceReport


# --- events ---------------------------------------------------------------------

@dataclass(frozen=True)
class Assigned:
    assignment: Optional[Assignment]


@dataclass(frozen=True)
class Inherited:
    report: Optional[ServiceReport]
    assignment: Optional[Assignment]


@dataclass(frozen=True)
class WaitsFor:
    words: str


@dataclass(frozen=True)
class CheckFailed:
    check: str
    message: str


@dataclass(frozen=True)
class ChildExited:
    message: str
    now: float   # monotonic


@dataclass(frozen=True)
class Fencing:
    pass


@dataclass(frozen=True)
class FenceStepped:
    step: str
    ok: bool
    exits_before: int


@dataclass(frozen=True)
class Fenced:
    why: str
    event: str
    fenced_for: Optional[Assignment]


@dataclass(frozen=True)
class Unfenced:
    pass


@dataclass(frozen=True)
class Reported:
    report: ServiceReport
    about: Optional[Assignment]


@dataclass(frozen=True)
class RestartRequested:
    request: Optional[RestartRequest]


@dataclass(frozen=True)
class RestartStepped:
    step: str
    exits_before: int


@dataclass(frozen=True)
class RestartStopped:
    pass


@dataclass(frozen=True)
class RestartFinished:
    pass


@dataclass(frozen=True)
class Held:
    about: Optional[Assignment]


@dataclass(frozen=True)
class Settled:
    target: str


@dataclass(frozen=True)
class StepStarting:
    step: str


@dataclass(frozen=True)
class Stepped:
    step: str
    target: str
    exits_before: int


@dataclass(frozen=True)
class StepEnded:
    pass


@dataclass(frozen=True)
class FailedAsActive:
    why: str
    now: float   # monotonic


@dataclass(frozen=True)
class Retreated:
    running: bool


@dataclass(frozen=True)
class Arrived:
    plan: tuple
    was: str
    about: Optional[Assignment]
    now: float    # monotonic
    wall: float


@dataclass(frozen=True)
class Retried:
    pass


Event = Union[Assigned, Inherited, WaitsFor, CheckFailed, ChildExited, Fencing, FenceStepped, Fenced,
              Unfenced, Reported, RestartRequested, RestartStepped, RestartStopped, RestartFinished,
              Held, Settled, StepStarting, Stepped, StepEnded, FailedAsActive, Retreated, Arrived, Retried]


# --- effects --------------------------------------------------------------------

@dataclass(frozen=True)
class Wake:
    delay: float = 0.0


@dataclass(frozen=True)
class CountFailure:
    why: str


@dataclass(frozen=True)
class Notify:
    event: str
    was: str
    now: str
    assignment: Optional[Assignment]
    reason: str


@dataclass(frozen=True)
class MonitorRole:
    role: str   # what the monitor probes as: the role, or "stopped" where nothing runs


@dataclass(frozen=True)
class BeginGrace:
    pass


@dataclass(frozen=True)
class ChildDied:
    message: str


@dataclass(frozen=True)
class RoleChanged:
    pass


@dataclass(frozen=True)
class Report:
    outcome: str
    message: str
    about: Optional[Assignment] = None   # None: the current assignment


@dataclass(frozen=True)
class AfterExit:
    was: str
    message: str


@dataclass(frozen=True)
class BeginRestart:
    request: RestartRequest


@dataclass(frozen=True)
class Interrupted:
    pass


Effect = Union[Wake, CountFailure, Notify, MonitorRole, BeginGrace, ChildDied, RoleChanged, Report,
               AfterExit, BeginRestart, Interrupted]
