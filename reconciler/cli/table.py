"""Plain-text tables and times for people, sized to the terminal.

A table that would be wider than the terminal gives up width in the columns
named shrinkable (long free text: failing checks, fail counts), cutting their
cells with "…", never in the columns that name things (services, servers).
`--wide` asks for no limit. Times are shown as a clock time and an age.
"""
from __future__ import annotations

import math
import shutil
import sys
import time
from typing import Optional, Sequence

from overseer.reconciler.planner.memory import span

ELLIPSIS = "…"
MIN_SHRUNK = 12    # a cut column keeps at least this much (or its header, if longer)


def terminal_width(default: int = 80) -> int:
    """The terminal's columns; `default` when output is not a terminal (a pipe,
    a file, a test), so what is written there never depends on a window."""
    if not sys.stdout.isatty():
        return default
    return shutil.get_terminal_size((default, 24)).columns


def widths_for(rows: list[list[str]], width: Optional[int] = None, shrinkable: Sequence[int] = ()) -> list[int]:
    """Each column's width: its widest cell, less what `width` takes from the shrinkable ones."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if width is not None:
        widths = _fitted(widths, [len(h) for h in rows[0]], width, shrinkable)
    return widths


def table(rows: list[list[str]], width: Optional[int] = None, shrinkable: Sequence[int] = ()) -> list[str]:
    """Rows (the first is the header) as aligned lines; with `width`, the
    `shrinkable` columns are cut until the lines fit (as far as they can)."""
    widths = widths_for(rows, width, shrinkable)
    return ["  ".join(_cut(cell, w).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _fitted(widths: list[int], headers: list[int], width: int, shrinkable: Sequence[int]) -> list[int]:
    widths = list(widths)
    floor = {i: max(MIN_SHRUNK, headers[i]) for i in shrinkable}
    # the last column needs no room after it: its trailing spaces are stripped
    while sum(widths) + 2 * (len(widths) - 1) > width:
        over = [i for i in shrinkable if widths[i] > floor[i]]
        if not over:
            break
        widest = max(over, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(width - 1, 0)] + ELLIPSIS


def clock(epoch: Optional[float]) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def ago(epoch: Optional[float], now: float) -> str:
    """'3m12s ago'; '-' for no time at all (never 'inf')."""
    if epoch is None or not math.isfinite(epoch) or epoch <= 0:
        return "-"
    return f"{span(now - epoch)} ago"


def when(epoch: Optional[float], now: float) -> str:
    """'2026-05-01 10:00:00 (3m12s ago)', or '-'."""
    return "-" if ago(epoch, now) == "-" else f"{clock(epoch)} ({ago(epoch, now)})"
