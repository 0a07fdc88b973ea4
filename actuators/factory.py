"""Build the right actuator for a service from its validated spec."""
from __future__ import annotations

from overseer.desired.models import ExecActuator, ProcessActuator, SystemdActuator

from .base import Actuator
from .exec import CommandActuator
from .process import SupervisedProcessActuator
from .systemd import SystemdUnitActuator


def build_actuator(service_name: str, spec, *, log_dir: str | None = None,
                   systemctl: str = "systemctl") -> Actuator:
    """`spec` is a desired.models ExecActuator | SystemdActuator | ProcessActuator.

    `log_dir` (process only): where the child's stdout/stderr go, as
    `<log_dir>/<service>.log`; None lets the child inherit the agent's.
    """
    if isinstance(spec, ExecActuator):
        return CommandActuator(service_name, spec)
    if isinstance(spec, SystemdActuator):
        return SystemdUnitActuator(service_name, spec, systemctl=systemctl)
    if isinstance(spec, ProcessActuator):
        return SupervisedProcessActuator(service_name, spec, log_dir=log_dir)
    raise TypeError(f"service {service_name!r}: unknown actuator spec {type(spec).__name__}; "
                    "expected ExecActuator, SystemdActuator or ProcessActuator")
