"""Actuators: start, stop, promote and demote a service on this server.

`build_actuator(name, spec)` returns one of: exec (user commands), systemd
(systemctl on a unit), process (a child supervised by the agent). They never
read etcd; the agent passes an `ActionContext` with every call.
"""
from .base import ActionContext, Actuator, ActuatorError, ActuatorTimeout
from .factory import build_actuator

__all__ = ["ActionContext", "Actuator", "ActuatorError", "ActuatorTimeout", "build_actuator"]
