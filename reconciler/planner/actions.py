"""What the planner asks the reconcile loop to do; frozen, so plans compare.

The loop applies them in order: `Assign` replaces `assign/<service>`,
`Record` appends a history entry, `ClearSwitchover` deletes the operator's
request and reports its outcome, `FenceServer` runs a dead server's fence
agent (reconciler/master_fencing.py), off the reconcile loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


@dataclass(frozen=True)
class Assign:
    """Write `assign/<service>` with these actives and standbys."""
    service: str
    active: tuple[str, ...]
    standby: tuple[str, ...]
    reason: str
    answers: bool = False   # re-issued for a failure or step-down: raises the decision
    # Servers this decision took for dead (lease gone, margin passed) although
    # they may act as active: the write also requires they did not register
    # again, so a returning agent never meets a successor on a stale snapshot.
    gone: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """Append a history entry; only for transitions of the active set."""
    service: str
    kind: str            # failover | switchover | placement | demote
    message: str
    server: str = ""


@dataclass(frozen=True)
class Refusal:
    """Why a switchover cannot be carried out: a value, never parsed back from text."""
    why: str

    def __str__(self) -> str:
        return f"refused: {self.why}"


@dataclass(frozen=True)
class ClearSwitchover:
    """The switchover request is finished: done (refusal None) or refused."""
    service: str
    refusal: Optional[Refusal] = None

    @property
    def outcome(self) -> str:
        return "done" if self.refusal is None else str(self.refusal)


@dataclass(frozen=True)
class FenceServer:
    """Run `server`'s fence agent (its Server document's `fence`): it is down
    past its margin and may still act as active for `services`, which move
    only once an attempt succeeded. One per server per plan."""
    server: str
    services: tuple[str, ...]
    reason: str
    attempt: int = 1


Action = Union[Assign, Record, ClearSwitchover, FenceServer]

__all__ = ["Assign", "Record", "ClearSwitchover", "FenceServer", "Refusal", "Action"]
