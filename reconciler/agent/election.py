"""When this server campaigns for master, and when it hands over.

`should_campaign` and `should_resign` are pure: the agent feeds them the live
servers, the current master and its own clock, so the hierarchy rules are
unit-tested without etcd. The campaign itself is one create-if-absent txn in
the store (the key's create_revision becomes the epoch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from overseer.desired.state import MasterRecord


@dataclass(frozen=True)
class ElectionView:
    me: str
    hierarchy: tuple[str, ...]
    live: frozenset[str]            # servers holding a presence lease
    master: Optional[MasterRecord]
    campaign_delay: float
    preempt: bool

    @property
    def my_rank(self) -> int:
        return self.hierarchy.index(self.me) if self.me in self.hierarchy else len(self.hierarchy)

    def higher_live(self) -> list[str]:
        return [s for s in self.hierarchy[: self.my_rank] if s in self.live]


def should_campaign(view: ElectionView, up_for: float, masterless_for: float) -> bool:
    """`up_for`: seconds since this agent registered; `masterless_for`: seconds
    since it last saw a master (0 while one exists)."""
    if view.master is not None or view.me not in view.hierarchy:
        return False
    wait = view.my_rank * view.campaign_delay
    if not view.higher_live():
        # Nobody above us is alive. Right after start, give servers started at
        # the same moment a rank-scaled head start so start order does not matter.
        return up_for >= wait
    # Someone above is alive but has not taken the lock: after the same delay,
    # stop waiting for it (it may be unable to campaign).
    return masterless_for >= wait + view.campaign_delay


def should_resign(view: ElectionView) -> bool:
    """With `preempt: true` the master yields to a live higher-ranked server."""
    if view.master is None or view.master.server != view.me or not view.preempt:
        return False
    return bool(view.higher_live())
