"""Jinja filters for the board: clock times, moments shown as ages, values, status labels."""
from __future__ import annotations

import time
from typing import Optional

from flask import Flask

from overseer.reconciler.planner.memory import span

from .ages import Since

LABELS = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "unknown": "UNKNOWN"}


def clock(ts: Optional[float]) -> str:
    if not ts:
        return "–"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def stamp(ts: Optional[float]) -> str:
    if not ts:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def value(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def since(ts: float, form: str = "for") -> Since:
    return Since(ts, form)


def label(status: str) -> str:
    return LABELS.get(status, str(status).upper())


def css_status(status: str) -> str:
    # Only known values become CSS classes; anything else is shown as unknown.
    return status if status in LABELS else "unknown"


def install(app: Flask) -> None:
    app.jinja_env.filters.update(clock=clock, stamp=stamp, value=value, label=label, span=span,
                                 css_status=css_status, iso=iso, since=since)
