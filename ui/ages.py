"""Sentences with ages in them: "pbx1 down 12 s; moved to pbx2 at 10:51:08".

A page is rendered once per snapshot and kept (answers.py), and an open tab
gets an empty 304 while nothing changes; an age written into the page would
be wrong a second later. So a sentence is a `Line` of words and `Since`
moments: the template writes each moment as a `<time data-t=...>` saying its
clock time ("since 10:51:03"), and static/live.js turns it into an age
("12 s") every second, on the server's clock. `text(line, now)` is the same
sentence as the browser shows it, for tests and hover titles.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Since:
    """A moment shown as an age: `for` reads "12 s", `ago` reads "12 s ago"."""
    t: float
    form: str = "for"

    def fallback(self) -> str:
        """What the page says before (or without) its script: the clock time."""
        return ("since " if self.form == "for" else "at ") + clock(self.t)


Part = Union[str, Since]
Line = tuple[Part, ...]


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def age(seconds: float) -> str:
    """12 s, 4 min 5 s, 2 h 5 min, 3 d 4 h (as live.js writes it)."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 and s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 >= 60 else f"{s // 3600} h"
    return f"{s // 86400} d {s % 86400 // 3600} h" if s % 86400 >= 3600 else f"{s // 86400} d"


def text(line: Line, now: float) -> str:
    out = []
    for part in line:
        if isinstance(part, Since):
            out.append(age(now - part.t) + (" ago" if part.form == "ago" else ""))
        else:
            out.append(part)
    return "".join(out)


def plain(line: Line) -> str:
    """The sentence with clock times instead of ages (a hover title, a page without script)."""
    return "".join(p.fallback() if isinstance(p, Since) else p for p in line)
