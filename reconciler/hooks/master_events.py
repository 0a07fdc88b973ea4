"""The master's events: `failover` from the decisions it wrote, `masterChange` when it won.

Fired only after the epoch-guarded write succeeded, once per written
decision (the planner writes a new assignment only when something changed,
and the notifier keys each event by the assignment's epoch and time). A
failover is a decision of kind failover or switchover that makes a new
server active. In a two-phase handover the old active is demoted first
(active set emptied, kind demote or switchover) and the successor promoted
by a later decision: the servers that left in phase one are remembered and
reported as `from` in phase two (a master that took over between the two
phases reports the previous assignment's actives, often none).
"""
from __future__ import annotations

from typing import Iterable, Optional

from overseer.desired.state import Assignment, ClusterSnapshot, HistoryEntry, HistoryKind

from .events import Notifier

MOVES = (HistoryKind.FAILOVER, HistoryKind.SWITCHOVER)
HANDOVER_STARTS = (HistoryKind.DEMOTE, HistoryKind.SWITCHOVER)


class MasterEvents:
    def __init__(self, notifier: Notifier):
        self.notifier = notifier
        self._leaving: dict[str, tuple[str, ...]] = {}   # service -> actives demoted in phase one

    def written(self, snapshot: ClusterSnapshot, assigns: Iterable[Assignment],
                history: Iterable[HistoryEntry]) -> None:
        kinds: dict[str, set[str]] = {}
        for entry in history:
            kinds.setdefault(entry.service, set()).add(entry.kind)
        for new in assigns:
            old: Optional[Assignment] = snapshot.assignments.get(new.service)
            before = tuple(old.active) if old else ()
            added = [s for s in new.active if s not in before]
            removed = tuple(s for s in before if s not in new.active)
            seen = kinds.get(new.service, set())
            if removed and not added and seen & set(HANDOVER_STARTS):
                self._leaving[new.service] = removed
                continue
            if not added or not seen & set(MOVES):
                continue
            left = removed or self._leaving.pop(new.service, ())
            self.notifier.fire("failover", new.service, ",".join(left), ",".join(added), new.epoch,
                               new.reason, key=(new.epoch, new.time))

    def became_master(self, previous: str, epoch: int, me: str) -> None:
        reason = f"{me} became master (epoch {epoch})" + (f"; previous master {previous}" if previous else "")
        self.notifier.fire("masterChange", "", previous, me, epoch, reason, key=epoch)
