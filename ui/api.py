"""JSON API, Prometheus metrics and the health check.

`/api/v1/status` is exactly `build_status` (the `overseer status --json`
shape); without any snapshot yet the API answers 503 with the reason rather
than an empty cluster that could be mistaken for "nothing runs".
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from overseer.reconciler.status_view import history_json, service_detail

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
    body = dict(view.status)
    body["freshness"] = view.freshness.to_json(view.now)
    return jsonify(body)


@bp.get("/api/v1/services/<name>")
def service(name: str):
    view = _view()
    if view.snapshot is None:
        return _unavailable(view)
    try:
        return jsonify(service_detail(view.snapshot, name))
    except KeyError:
        abort(404)


@bp.get("/api/v1/history")
def history():
    view = _view()
    if view.snapshot is None:
        return _unavailable(view)
    service = request.args.get("service") or None
    if service is not None and service not in view.snapshot.desired.services:
        abort(404)
    entries = history_json(view.snapshot, service)
    # ?kind=failover,fence: history kinds, or the timeline's categories (fence, move, ...)
    kinds = {k for k in (request.args.get("kind") or "").split(",") if k}
    if kinds:
        entries = [e for e in entries if e["kind"] in kinds or category(e["kind"], e["message"]) in kinds]
    since, start = request.args.get("since"), None
    if since:
        try:
            start = float(since)
        except ValueError:
            abort(400, f"since={since!r}: epoch seconds, e.g. since={int(view.now) - 3600}")
        entries = [e for e in entries if e["time"] >= start]
    return jsonify({"service": service, "kind": sorted(kinds) or None, "since": start, "history": entries})


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
