"""JSON API, Prometheus metrics and the health check.

`/api/v1/status` is exactly `build_status` (the `overseer status --json`
shape); without any snapshot yet the API answers 503 with the reason rather
than an empty cluster that could be mistaken for "nothing runs".

Answers are built once per snapshot and kept (answers.py); the status
document is kept encoded and only its `freshness`, which changes with every
second, is added per request. `/api/v1/history` answers in pages
(history_page.py): `limit` entries (100 unless asked, at most 1,000) and a
`next` cursor.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from overseer.reconciler.status_view import service_detail

from . import history_page as hp
from .respond import JSON, json_answer, json_bytes, kept
from .state import View
from .timeline import category

bp = Blueprint("api", __name__)


def _view() -> View:
    return current_app.extensions["overseer"].view()


def _unavailable(view: View):
    response = jsonify(error="no etcd view yet", message=view.banner,
                       freshness=view.freshness.to_json(view.now))
    response.status_code = 503
    return response


@bp.get("/api/v1/status")
def status():
    view = _view()
    if view.status is None:
        return _unavailable(view)
    encoded = current_app.extensions["overseer"].answers.get(
        view.snapshot, ("status",), view.now, lambda: json_answer(view.status)).body
    # `{...status}\n` + freshness = `{...status,"freshness":{...}}\n`, as jsonify would write it
    fresh = json_bytes(view.freshness.to_json(view.now)).rstrip()
    return Response(encoded.rstrip()[:-1] + b',"freshness":' + fresh + b"}\n", mimetype=JSON)


@bp.get("/api/v1/services/<name>")
def service(name: str):
    view = _view()
    if view.snapshot is None:
        return _unavailable(view)
    if name not in view.snapshot.desired.services:
        abort(404)
    return kept(view, ("service", name), lambda: json_answer(service_detail(view.snapshot, name)))


def _entry_json(e) -> dict:
    return {"service": e.service, "time": e.time, "kind": e.kind, "message": e.message,
            "server": e.server, "epoch": e.epoch}


@bp.get("/api/v1/history")
def history():
    """Newest first, in pages: ?service= ?kind= ?since= ?before= ?limit= ?cursor= (the answer's `next`)."""
    view = _view()
    if view.snapshot is None:
        return _unavailable(view)
    args = request.args
    service = args.get("service") or None
    if service is not None and service not in view.snapshot.desired.services:
        abort(404)
    # ?kind=failover,fence: history kinds, or the timeline's categories (fence, move, ...)
    kinds = tuple(sorted({k for k in (args.get("kind") or "").split(",") if k}))
    try:
        limit = hp.parse_limit(args.get("limit"))
        since = hp.parse_time("since", args.get("since"), view.now - 3600)
        before = hp.parse_time("before", args.get("before"), view.now - 3600)
        cursor = hp.decode_cursor(args["cursor"]) if args.get("cursor") else None
    except hp.BadQuery as exc:
        abort(400, str(exc))

    def build():
        keep = (lambda e: e.kind in kinds or category(e.kind, e.message) in kinds) if kinds else (lambda e: True)
        entries, after = hp.page(view.snapshot.history, limit, service=service, cursor=cursor,
                                 before=before, since=since, keep=keep)
        return json_answer({"service": service, "kind": list(kinds) or None, "since": since,
                            "before": before, "limit": limit, "next": after,
                            "history": [_entry_json(e) for e in entries]})
    return kept(view, ("history", service, kinds, since, before, cursor, limit), build)


@bp.get("/metrics")
def metrics():
    registry = current_app.extensions["overseer.registry"]
    return Response(generate_latest(registry), mimetype=None,
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


@bp.get("/healthz")
def healthz():
    view = _view()
    fresh = view.freshness
    healthy = view.snapshot is not None and not fresh.too_old(view.now)
    body = {"status": "ok" if healthy else "stale",
            "cluster": view.snapshot.cluster if view.snapshot else None,
            "revision": view.snapshot.revision if view.snapshot else None,
            "etcd": fresh.to_json(view.now)}
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    return response
