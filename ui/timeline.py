"""The board's cluster timeline: one SVG strip per service over the last 24 h.

A picture, not a table: each history entry (moves, refusals, fences, master
changes, failures as active, hooks, cleanups) becomes a mark at its time, and
each failed check result still kept in the observations becomes a thin red
tick; hovering shows the reason (an SVG `<title>`, no script). Pure: given
the snapshot's history, observations and `now`, it returns positioned marks
that the template draws, so placement is unit-tested without a browser.

What it can show is what is kept: the newest history entries per service in
the snapshot (desired/store/snapshot.py) and each check's recent results;
nothing is written to etcd for it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping

SPAN = 24 * 3600.0          # seconds shown
WIDTH = 960                 # user units of the strip (the SVG scales to its box)
HEIGHT = 18

# history kind -> (category the board styles, words in the legend)
CATEGORIES = {
    "placement": "move", "failover": "move", "switchover": "move", "demote": "move",
    "switchover-refused": "refused", "master": "master", "role": "failure", "action": "failure",
    "hook": "hook", "cleanup": "cleanup", "kept": "kept", "fence": "fence",   # fence: a fence agent's run
}
LEGEND = (("move", "move"), ("fence", "fence"), ("master", "master change"),
          ("failure", "failure as active"), ("check", "failed check"), ("refused", "refused switchover"),
          ("hook", "hook"), ("cleanup", "cleanup"), ("kept", "kept through etcd trouble"))


@dataclass(frozen=True)
class Mark:
    x: float            # 0..WIDTH, left is `now - SPAN`
    category: str       # a CSS class: tl-move, tl-fence, ...
    title: str          # the hover text: when, what, why


@dataclass(frozen=True)
class Strip:
    service: str
    marks: tuple[Mark, ...]


def category(kind: str, message: str) -> str:
    # a self-fence reaches history as the master's answer to it, in its reason
    if "self-fenced" in message or "fenced itself" in message or "fencer:" in message:
        return "fence"
    return CATEGORIES.get(kind, "move")


def x_of(t: float, now: float, span: float = SPAN) -> float:
    """Where moment `t` sits on a strip ending at `now` (clamped to the strip)."""
    return round(min(max((t - (now - span)) / span, 0.0), 1.0) * WIDTH, 1)


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def strips(services: Iterable[str], history: Mapping[str, Iterable], observations: Mapping,
           now: float, span: float = SPAN) -> list[Strip]:
    """One strip per service, marks oldest first (later ones draw on top)."""
    failed_checks: dict[str, list[Mark]] = {}
    for (server, service, check), obs in observations.items():
        for result in getattr(obs, "results", ()) or ():
            # a Result record, or the (t, status, value) triple it is stored as
            t, status = (result.t, result.status) if hasattr(result, "t") else (result[0], result[1])
            if status == "fail" and now - span <= t <= now:
                failed_checks.setdefault(service, []).append(
                    Mark(x_of(t, now, span), "check", f"{_stamp(t)} {server}/{check}: fail"))
    out = []
    for service in services:
        marks = list(failed_checks.get(service, ()))
        for entry in history.get(service, ()):
            if now - span <= entry.time <= now:
                who = f" [{entry.server}]" if entry.server else ""
                marks.append(Mark(x_of(entry.time, now, span), category(entry.kind, entry.message),
                                  f"{_stamp(entry.time)} {entry.kind}{who}: {entry.message}"))
        marks.sort(key=lambda m: (m.x, m.category != "check"))
        out.append(Strip(service, tuple(marks)))
    return out
