"""HTML pages: the board and the service detail, each with a fragment route.

The full page embeds the fragment once; `static/live.js` re-fetches the
fragment every second and swaps it in only when it changed, so the board
updates live without reloads or flicker.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from overseer.reconciler.status_view import service_detail

from . import timeline as tl
from .state import View

bp = Blueprint("pages", __name__)


def _view() -> View:
    return current_app.extensions["overseer"].view()


def _board_context(view: View) -> dict:
    status = view.status
    counts = {}
    if status is not None:
        for svc in status["services"].values():
            counts[svc["status"]] = counts.get(svc["status"], 0) + 1
    return {"view": view, "status": status, "counts": counts}


def _detail_context(view: View, name: str) -> dict:
    if view.snapshot is None:
        return {"view": view, "name": name, "detail": None}
    try:
        detail = service_detail(view.snapshot, name)
    except KeyError:
        abort(404)
    strip = tl.strips([name], view.snapshot.history, view.snapshot.observations, view.now)[0]
    return {"view": view, "name": name, "detail": detail, "master": view.status["master"],
            "service_strip": strip, "tl_width": tl.WIDTH, "tl_height": tl.HEIGHT}


@bp.get("/")
def board():
    return render_template("board.html", **_board_context(_view()))


@bp.get("/partials/board")
def board_fragment():
    return render_template("_board.html", **_board_context(_view()))


@bp.get("/services/<name>")
def service(name: str):
    return render_template("service.html", **_detail_context(_view(), name))


@bp.get("/partials/services/<name>")
def service_fragment(name: str):
    return render_template("_service.html", **_detail_context(_view(), name))


def _timeline_context(view: View) -> dict:
    snap = view.snapshot
    strips = [] if snap is None else tl.strips(sorted(snap.desired.services), snap.history,
                                               snap.observations, view.now)
    return {"view": view, "strips": strips, "legend": tl.LEGEND, "width": tl.WIDTH, "height": tl.HEIGHT,
            "now": view.now, "start": view.now - tl.SPAN}


@bp.get("/timeline")
def timeline():
    return render_template("timeline.html", **_timeline_context(_view()))


@bp.get("/partials/timeline")
def timeline_fragment():
    return render_template("_timeline.html", **_timeline_context(_view()))
