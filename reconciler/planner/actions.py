"""What the planner asks the reconcile loop to do; frozen, so plans compare.

The loop applies them in order: `Assign` replaces `assign/<service>`,
`Record` appends a history entry, `ClearSwitchover` deletes the operator's
request and reports its outcome.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Assign:
    """Write `assign/<service>` with these actives and standbys."""
    service: str
    active: tuple[str, ...]
    standby: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Record:
    """Append a history entry; only for transitions of the active set."""
    service: str
    kind: str            # failover | switchover | placement | demote
    message: str
    server: str = ""


@dataclass(frozen=True)
class ClearSwitchover:
    """The switchover request is finished: outcome is "done" or "refused: <why>"."""
    service: str
    outcome: str


Action = Union[Assign, Record, ClearSwitchover]

__all__ = ["Assign", "Record", "ClearSwitchover", "Action"]
