"""One notification event: what happened, and how a hook sees it.

A command hook gets it as environment variables, a webhook as a JSON body;
both are built here so they cannot disagree. `Notifier` is what the agent's
parts call: it picks the effective hook (desired/hooks.py), fires each
event once (keyed by service, event and the assignment or epoch it came
from, so level-triggered callers may call it again without effect) and
hands the work to the runner, never waiting for it.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional

from overseer.desired.child_env import child_environment
from overseer.desired.hooks import effective_hook
from overseer.desired.state import DesiredState

log = logging.getLogger(__name__)

# (service, event, key) already fired; old keys fall out, new events never collide with them
REMEMBERED = 4096


@dataclass(frozen=True)
class HookEvent:
    cluster: str
    service: str          # "" for masterChange
    event: str            # promote | demote | failover | fence | masterChange
    server: str           # where it fired
    from_: str            # a role (promote/demote/fence) or server names, comma-separated
    to: str
    epoch: int
    reason: str
    time: float

    def body(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "service": self.service, "event": self.event,
                "server": self.server, "from": self.from_, "to": self.to, "epoch": self.epoch,
                "reason": self.reason, "time": self.time}

    def env(self, account: Optional[dict[str, str]] = None) -> dict[str, str]:
        """The documented OVERSEER_* of a service command, plus the event's own;
        never the agent's etcd settings (child_env.py). `account`: the hook's
        user's HOME, USER, LOGNAME, SHELL."""
        overseer = {"OVERSEER_CLUSTER": self.cluster, "OVERSEER_SERVICE": self.service,
                    "OVERSEER_SERVER": self.server, "OVERSEER_EPOCH": str(self.epoch),
                    "OVERSEER_EVENT": self.event, "OVERSEER_FROM": self.from_,
                    "OVERSEER_TO": self.to, "OVERSEER_REASON": self.reason}
        if self.event in ("promote", "demote", "fence"):
            overseer["OVERSEER_ROLE"] = "active" if self.to == "active" else "standby"
        return child_environment(overseer, account=account)


class Notifier:
    """Turns events into queued hook runs; cheap and non-blocking for the caller."""

    def __init__(self, server: str, desired: Callable[[], Optional[DesiredState]],
                 runner: Any, wall: Callable[[], float]):
        self.server, self.desired, self.runner, self.wall = server, desired, runner, wall
        self._fired: OrderedDict = OrderedDict()

    def fire(self, event: str, service: str, from_: str, to: str, epoch: int, reason: str,
             key: Any = None) -> bool:
        """Queue the hook of `event` for `service` once per `key`; False if none runs."""
        desired = self.desired()
        if desired is None or desired.cluster is None:
            return False
        doc = desired.services.get(service)
        if service and doc is None:
            return False
        hook = effective_hook(desired.cluster.spec.on, doc.spec.on if doc else None, event)
        if hook is None:
            return False
        seen = (service, event, key if key is not None else epoch)
        if seen in self._fired:
            return False
        self._fired[seen] = True
        while len(self._fired) > REMEMBERED:
            self._fired.popitem(last=False)
        services = (service,) if service else tuple(sorted(desired.services))
        ev = HookEvent(desired.name, service, event, self.server, from_, to, epoch, reason, self.wall())
        return self.runner.submit(ev, hook, services)
