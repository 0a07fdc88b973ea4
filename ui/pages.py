"""HTML pages: the board, the service detail and the timeline, each with a fragment route.

The full page embeds the fragment once; `static/live.js` re-fetches the
fragment every second and swaps it in only when it changed, so the board
updates live without reloads or flicker.

Each page is rendered once per snapshot and kept (answers.py) until the
snapshot changes or the page's own clock runs out: a countdown of a
remembered failure is right for a second, a timeline until its right edge
moves (timeline.Window). Pages are rendered at a whole second so a kept
page is the one a new render would give.
"""
from __future__ import annotations

import math
from dataclasses import replace

from flask import Blueprint, abort, current_app, render_template, request

from overseer.desired import units
from overseer.reconciler.status_view import service_detail

from . import timeline as tl
from .respond import html_answer, kept
from .state import View

bp = Blueprint("pages", __name__)


def _view() -> View:
    view = current_app.extensions["overseer"].view()
    return replace(view, now=float(math.floor(view.now)))


def _countdown_until(view: View, failures) -> float:
    """A shown "expires in" changes every second; without one, time changes nothing."""
    return view.now + 1 if any(f["expires"] > view.now for f in failures) else math.inf


def _board_context(view: View) -> tuple[dict, float]:
    status = view.status
    counts: dict[str, int] = {}
    until = math.inf
    if status is not None:
        for svc in status["services"].values():
            counts[svc["status"]] = counts.get(svc["status"], 0) + 1
            until = min(until, _countdown_until(view, svc["failures"].values()))
    return {"view": view, "status": status, "counts": counts}, until


def _detail_context(view: View, name: str) -> tuple[dict, float]:
    if view.snapshot is None:
        return {"view": view, "name": name, "detail": None}, math.inf
    try:
        detail = service_detail(view.snapshot, name)
    except KeyError:
        abort(404)
    win = tl.window(view.now)
    strip = tl.strips([name], view.snapshot.history, view.snapshot.observations, win.end, win.span)[0]
    until = min(win.end, _countdown_until(view, detail["failures"].values()))
    return {"view": view, "name": name, "detail": detail, "master": view.status["master"],
            "service_strip": strip, "tl_width": tl.WIDTH, "tl_height": tl.HEIGHT}, until


def _page(template: str, view: View, key: tuple, context):
    def build():
        values, until = context()
        return html_answer(render_template(template, **values), until)
    return kept(view, (template, view.banner, *key), build)


@bp.get("/")
def board():
    view = _view()
    return _page("board.html", view, (), lambda: _board_context(view))


@bp.get("/partials/board")
def board_fragment():
    view = _view()
    return _page("_board.html", view, (), lambda: _board_context(view))


@bp.get("/services/<name>")
def service(name: str):
    view = _view()
    return _page("service.html", view, (name,), lambda: _detail_context(view, name))


@bp.get("/partials/services/<name>")
def service_fragment(name: str):
    view = _view()
    return _page("_service.html", view, (name,), lambda: _detail_context(view, name))


def _timeline_query() -> tuple[float, int]:
    """`?span=` (a duration like 15m or 6h, default 24h) and `?page=` (from 1)."""
    span, page = tl.SPAN, 1
    text = request.args.get("span")
    if text:
        try:
            span = units.parse_duration(text)
        except ValueError:
            abort(400, f"span={text!r}: a duration like 15m, 1h or 24h")
        if not tl.MIN_SPAN <= span <= tl.MAX_SPAN:
            abort(400, f"span={text}: from {tl.span_label(tl.MIN_SPAN)} to {tl.span_label(tl.MAX_SPAN)}")
    text = request.args.get("page")
    if text:
        if not text.isdigit() or int(text) < 1:
            abort(400, f"page={text!r}: a page number from 1")
        page = int(text)
    return span, page


def _timeline_context(view: View, span: float, page: int) -> tuple[dict, float]:
    snap = view.snapshot
    win = tl.window(view.now, span)
    names = [] if snap is None else sorted(snap.desired.services)
    pages = max(1, math.ceil(len(names) / tl.STRIPS_PER_PAGE))
    if page > pages:
        abort(404, f"page={page}: the timeline has {pages} page{'s' if pages != 1 else ''} "
                   f"of {tl.STRIPS_PER_PAGE} services")
    first = (page - 1) * tl.STRIPS_PER_PAGE
    shown = names[first:first + tl.STRIPS_PER_PAGE]
    strips = [] if snap is None else tl.strips(shown, snap.history, snap.observations, win.end, win.span)
    query = {} if span == tl.SPAN else {"span": tl.span_query(span)}
    return {"view": view, "strips": strips, "legend": tl.LEGEND, "width": tl.WIDTH, "height": tl.HEIGHT,
            "now": win.end, "start": win.start, "window": win, "page": page, "pages": pages,
            "first": first + 1, "last": first + len(shown), "total": len(names),
            "query": query}, win.end


@bp.get("/timeline")
def timeline():
    view, (span, page) = _view(), _timeline_query()
    return _page("timeline.html", view, (span, page), lambda: _timeline_context(view, span, page))


@bp.get("/partials/timeline")
def timeline_fragment():
    view, (span, page) = _view(), _timeline_query()
    return _page("_timeline.html", view, (span, page), lambda: _timeline_context(view, span, page))
