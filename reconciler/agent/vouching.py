"""What the fencer process was last told, so that a new active costs one short line.

Every keep-alive vouches for the whole list of active process groups with a
fresh deadline (`renew`). Between keep-alives, a role change used to send the
whole list again: a failover that starts 300 actives on one server wrote 300
lines of up to 300 groups, and the fencer parsed every one (an eighth of the
survivor's CPU in that burst). Now a change that only adds actives sends just
those (`Fencer.add`: until the deadline the fencer already has); a change
that drops one sends the whole list again, so the fencer never keeps a group
whose number may since have been reused.
"""
from __future__ import annotations

from typing import Any, Sequence


class Vouching:
    def __init__(self, fencer: Any) -> None:
        self.fencer = fencer
        self.groups: set[int] = set()
        self.vips: set[str] = set()

    def renew(self, seconds: float, groups: Sequence[int], vips: Sequence[str]) -> None:
        """All the actives, legitimate for `seconds` from now."""
        self.fencer.vouch(max(0.0, seconds), list(groups), list(vips))
        self.groups, self.vips = set(groups), set(vips)

    def changed(self, seconds: float, groups: Sequence[int], vips: Sequence[str]) -> None:
        """The actives changed between keep-alives; `seconds` is what is left of
        the current deadline, used only if the whole list must be sent."""
        now_groups, now_vips = set(groups), set(vips)
        if now_groups >= self.groups and now_vips >= self.vips:
            more_groups = [g for g in groups if g not in self.groups]
            more_vips = [v for v in vips if v not in self.vips]
            if more_groups or more_vips:
                self.fencer.add(more_groups, more_vips)
            self.groups, self.vips = now_groups, now_vips
        else:
            self.renew(seconds, groups, vips)
