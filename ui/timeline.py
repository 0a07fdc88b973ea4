"""The board's cluster timeline: one SVG strip per service over a span, zoomable.

The page offers `SPANS` (15 min, 1 h, 6 h, 24 h; `?span=` takes any span
from 1 min to 24 h) and, unless asked, shows the smallest of them that holds
the newest `RECENT_EVENTS` history entries of the services shown
(`default_span`): a burst of moves in the last five minutes fills a 15-minute
strip instead of being a sliver of a day. Marks are drawn at least
`MARK_WIDTH` units wide and the strips have a clock axis (`axis`).

A picture, not a table: each history entry (moves, refusals, fences, master
changes, failures as active, hooks, cleanups) becomes a mark at its time, and
each failed check result still kept in the observations becomes a thin red
tick; hovering shows the reason (an SVG `<title>`, no script). Pure: given
the snapshot's history, observations and `now`, it returns positioned marks
that the template draws, so placement is unit-tested without a browser.

What it can show is what is kept: the newest history entries per service in
the snapshot (desired/store/snapshot.py) and each check's recent results;
nothing is written to etcd for it. What it draws is bounded, so a page costs
the same at any cluster size: at most `HISTORY_MARKS` entries and
`CHECK_MARKS` failed results per strip (the newest; the strip says how many
more it left out), hover texts of at most `TITLE_CHARS`, and the page shows
`STRIPS_PER_PAGE` services at a time (pages.py).

The strip ends at the next multiple of its resolution after `now` (span /
WIDTH, at least a second), not at `now` itself: marks then move in whole steps, and a
rendered timeline stays right until that moment (ui/answers.py keeps it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Mapping

SPAN = 24 * 3600.0          # the longest zoom, and the span when there is nothing to zoom into
MIN_SPAN, MAX_SPAN = 60.0, 24 * 3600.0
SPANS = (15 * 60.0, 3600.0, 6 * 3600.0, SPAN)   # the zoom links
RECENT_EVENTS = 20          # the default span is the smallest that holds this many newest entries
MARK_WIDTH = 6              # user units (of WIDTH) a history mark is wide at least
TICK_WIDTH = 2              # a failed check result's tick
AXIS_LABELS = 5             # clock labels under the strips, evenly spaced, both ends included
WIDTH = 960                 # user units of the strip (the SVG scales to its box)
HEIGHT = 18
HISTORY_MARKS = 30          # newest history entries drawn per strip
CHECK_MARKS = 10            # newest failed check results drawn per strip
TITLE_CHARS = 300           # a hover text longer than this is cut
STRIPS_PER_PAGE = 100

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
    hidden: int = 0     # marks in the span left out to keep the strip bounded (older ones)


@dataclass(frozen=True)
class Window:
    """What a strip covers: `end - span` to `end`; right until `end` (then redraw)."""
    end: float
    span: float

    @property
    def start(self) -> float:
        return self.end - self.span

    @property
    def label(self) -> str:
        return span_label(self.span)


def window(now: float, span: float = SPAN) -> Window:
    """The strip that shows `now`: it ends at the next whole step after it."""
    step = max(1.0, span / WIDTH)
    return Window(end=(math.floor(now / step) + 1) * step, span=span)


def default_span(history: Mapping[str, Iterable], services: Iterable[str], now: float,
                 events: int = RECENT_EVENTS) -> float:
    """The smallest of SPANS that holds the newest `events` history entries of
    `services` (all of them when fewer) in the last 24 h; SPAN when there are none."""
    times = sorted((e.time for s in services for e in history.get(s, ()) if now - SPAN <= e.time <= now),
                   reverse=True)[:events]
    if not times:
        return SPAN
    # the strip ends a step after now (`window`): hold the oldest of them in that strip
    return next((span for span in SPANS if times[-1] >= window(now, span).start), SPAN)


def axis(win: Window, labels: int = AXIS_LABELS) -> list[str]:
    """Clock times at evenly spaced points of the strip, left to right."""
    fmt = "%H:%M:%S" if win.span < 3600 else "%H:%M"
    return [time.strftime(fmt, time.localtime(win.start + win.span * i / (labels - 1)))
            for i in range(labels)]


def span_query(span: float) -> str:
    """The span as `?span=` takes it: '6h', '15m', '90s'."""
    for unit, size in (("h", 3600), ("m", 60)):
        if span >= size and span % size == 0:
            return f"{int(span // size)}{unit}"
    return f"{span:g}s"


def span_short(span: float) -> str:
    """'15 min', '1 h', '24 h': the zoom links' words."""
    if span >= 3600 and span % 3600 == 0:
        return f"{int(span // 3600)} h"
    if span >= 60 and span % 60 == 0:
        return f"{int(span // 60)} min"
    return f"{span:g} s"


def span_label(span: float) -> str:
    """'24 hours', '15 minutes', '90 seconds': for headings and aria labels."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if span >= size and span % size == 0:
            count = int(span // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{span:g} seconds"


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


def _title(text: str) -> str:
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1] + "…"


def _failed_results(observations: Mapping, wanted: set, start: float, end: float) -> dict[str, list]:
    """service -> [(t, server, check)] of failed results in the window."""
    found: dict[str, list] = {}
    for (server, service, check), obs in observations.items():
        if service not in wanted:
            continue
        for result in getattr(obs, "results", ()) or ():
            # a Result record, or the (t, status, value) triple it is stored as
            t, status = (result.t, result.status) if hasattr(result, "t") else (result[0], result[1])
            if status == "fail" and start <= t <= end:
                found.setdefault(service, []).append((t, server, check))
    return found


def strips(services: Iterable[str], history: Mapping[str, Iterable], observations: Mapping,
           now: float, span: float = SPAN) -> list[Strip]:
    """One strip per service, marks oldest first (later ones draw on top).

    `now` is the strip's right edge (pass `window(...).end` for a page that is
    kept until then)."""
    services = list(services)
    start = now - span
    failed = _failed_results(observations, set(services), start, now)
    out = []
    for service in services:
        entries = [e for e in history.get(service, ()) if start <= e.time <= now]
        entries.sort(key=lambda e: e.time)
        ticks = sorted(failed.get(service, ()))
        drawn, ticks_drawn = entries[-HISTORY_MARKS:], ticks[-CHECK_MARKS:]
        marks = [Mark(x_of(t, now, span), "check", f"{_stamp(t)} {server}/{check}: fail")
                 for t, server, check in ticks_drawn]
        for entry in drawn:
            who = f" [{entry.server}]" if entry.server else ""
            marks.append(Mark(x_of(entry.time, now, span), category(entry.kind, entry.message),
                              _title(f"{_stamp(entry.time)} {entry.kind}{who}: {entry.message}")))
        marks.sort(key=lambda m: (m.x, m.category != "check"))
        hidden = len(entries) - len(drawn) + len(ticks) - len(ticks_drawn)
        out.append(Strip(service, tuple(marks), hidden))
    return out
