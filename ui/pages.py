"""HTML pages: the board, the service detail and the timeline, each with a fragment route.

The full page embeds the fragment once; `static/live.js` re-fetches the
fragment every second and swaps it in only when it changed, so the board
updates live without reloads or flicker.

Each page is rendered once per snapshot and kept (answers.py) until the
snapshot changes or the page's own clock runs out: a countdown of a
remembered failure is right for a second, a timeline until its right edge
moves (timeline.Window), a tile's last move until it is no longer news.
Pages are rendered at a whole second so a kept page is the one a new render
would give. Ages ("pbx1 down 12 s", "last seen 3 s ago") are not rendered
into a page: it says the moment and static/live.js counts (ages.py), so
an unchanged page stays the same bytes.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

from flask import Blueprint, abort, current_app, render_template, request

from overseer.desired import units
from overseer.reconciler.status_view import service_detail

from . import detail_rows
from . import tiles as tiles_of
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
    until = math.inf
    tiles, seen = {}, {}
    if status is not None:
        seen = view.seen()
        tiles = tiles_of.tiles(view.snapshot, status, seen, view.now)
        for name, svc in status["services"].items():
            until = min(until, _countdown_until(view, svc["failures"].values()), tiles[name].moved_until)
    return {"view": view, "status": status, "tiles": tiles, "seen": seen,
            "counts": tiles_of.counts(tiles)}, until


def _detail_context(view: View, name: str) -> tuple[dict, float]:
    if view.snapshot is None:
        return {"view": view, "name": name, "detail": None}, math.inf
    try:
        detail = service_detail(view.snapshot, name)
    except KeyError:
        abort(404)
    snap = view.snapshot
    win = tl.window(view.now, tl.default_span(snap.history, [name], view.now))
    strip = tl.strips([name], snap.history, snap.observations, win.end, win.span)[0]
    seen = view.seen()
    tile = tiles_of.tile(snap, name, view.status["services"][name], seen, view.now)
    rows = detail_rows.server_rows(detail, seen)
    reports = {s: r for (s, svc), r in snap.reports.items() if svc == name}
    until = min(win.end, _countdown_until(view, detail["failures"].values()), tile.moved_until)
    return {"view": view, "name": name, "detail": detail, "master": view.status["master"],
            "tile": tile, "rows": rows, "agents": detail_rows.agent_rows(detail, rows, reports),
            "check_age": detail_rows.check_age, "window": win, "axis_labels": tl.axis(win),
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


def _timeline_query() -> tuple[Optional[float], int]:
    """`?span=` (a duration like 15m or 6h; None: the default span) and `?page=` (from 1)."""
    span, page = None, 1
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


def _timeline_context(view: View, asked: Optional[float], page: int) -> tuple[dict, float]:
    snap = view.snapshot
    names = [] if snap is None else sorted(snap.desired.services)
    pages = max(1, math.ceil(len(names) / tl.STRIPS_PER_PAGE))
    if page > pages:
        abort(404, f"page={page}: the timeline has {pages} page{'s' if pages != 1 else ''} "
                   f"of {tl.STRIPS_PER_PAGE} services")
    first = (page - 1) * tl.STRIPS_PER_PAGE
    shown = names[first:first + tl.STRIPS_PER_PAGE]
    span = asked if asked is not None else (
        tl.SPAN if snap is None else tl.default_span(snap.history, shown, view.now))
    win = tl.window(view.now, span)
    strips = [] if snap is None else tl.strips(shown, snap.history, snap.observations, win.end, win.span)
    query = {} if asked is None else {"span": tl.span_query(asked)}
    zoom = [(tl.span_short(s), tl.span_query(s), s == span) for s in tl.SPANS]
    return {"view": view, "strips": strips, "legend": tl.LEGEND, "width": tl.WIDTH, "height": tl.HEIGHT,
            "now": win.end, "start": win.start, "window": win, "page": page, "pages": pages,
            "first": first + 1, "last": first + len(shown), "total": len(names),
            "query": query, "zoom": zoom, "chosen": asked is None, "axis_labels": tl.axis(win)}, win.end


@bp.get("/timeline")
def timeline():
    view, (span, page) = _view(), _timeline_query()
    return _page("timeline.html", view, (span, page), lambda: _timeline_context(view, span, page))


@bp.get("/partials/timeline")
def timeline_fragment():
    view, (span, page) = _view(), _timeline_query()
    return _page("_timeline.html", view, (span, page), lambda: _timeline_context(view, span, page))
