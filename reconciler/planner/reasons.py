"""Human reasons for assignments: what happened to whom, and why this server.

Example: "pbx1: alive failed 3/3 (process asterisk not running); pbx2 chosen:
next candidate, healthy, switch-b". Only called when an action is emitted,
so words cost nothing in the steady state.
"""
from __future__ import annotations

from typing import Sequence

from overseer.desired.models import ServiceDoc

from . import lag
from .health import View


def chosen(view: View, name: str, svc: ServiceDoc, server: str) -> str:
    position = "first candidate" if svc.spec.candidates[:1] == [server] else "next candidate"
    words = [position, view.why(server, name, svc)]
    if server in view.cordoned:
        words.append("chosen although cordoned: no other eligible candidate")
    if view.domain(server):
        words.append(view.domain(server))
    return f"{server} chosen: " + ", ".join(words)


def gone(view: View, name: str, svc: ServiceDoc, servers: Sequence[str]) -> str:
    """Why each server leaves the active set."""
    parts = []
    for server in servers:
        if server not in svc.spec.candidates:
            parts.append(f"{server}: no longer a candidate")
        else:
            parts.append(f"{server}: {view.why(server, name, svc)}")
    return "; ".join(parts)


def fence(view: View, name: str, svc: ServiceDoc, server: str) -> str:
    """Why a dead server is fenced before `name` moves."""
    return f"{server} is {view.why(server, name, svc)} and may still run it as active; it moves once {server} is fenced"


def shortfall(view: View, name: str, svc: ServiceDoc, active: Sequence[str]) -> str:
    """Say why fewer actives than `replicas` were placed."""
    others = [s for s in svc.spec.candidates if s not in active]
    why = ", ".join(f"{s}: {_words(view, name, svc, s)}" for s in others)
    text = f"only {len(active)} of {svc.spec.replicas} active: no other eligible candidate"
    return text + (f" ({why})" if why else "")


def _words(view: View, name: str, svc: ServiceDoc, server: str) -> str:
    held = lag.held_back(view, name, svc, server)
    return f"{view.why(server, name, svc)}, {held}" if held else view.why(server, name, svc)


def standby_change(view: View, name: str, svc: ServiceDoc,
                   old: Sequence[str], new: Sequence[str]) -> str:
    left = [s for s in old if s not in new]
    text = "standby now: " + (", ".join(new) or "none")
    if left:
        text += " (" + ", ".join(f"{s}: {view.why(s, name, svc)}" for s in left) + ")"
    return text


def join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
