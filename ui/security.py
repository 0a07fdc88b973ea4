"""Read-only and safe by construction: Host check, method gate, error pages, security headers.

The Host check (hosts.py) runs first: a request for a name the board is not
known by gets 421 whatever it asks, so a DNS-rebinding page reads nothing.
The method gate runs before routing errors surface, so `POST /no-such-page`
answers 405 rather than 404: nothing here accepts a write, anywhere.
"""
from __future__ import annotations

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, MisdirectedRequest

ALLOWED = ("GET", "HEAD")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _wants_json() -> bool:
    path = request.path
    return path.startswith("/api/") or path in ("/healthz", "/metrics")


def _refuse_strangers():
    host = request.environ.get("HTTP_HOST")
    if not current_app.extensions["overseer.hosts"].allows(host):
        raise MisdirectedRequest(f"this board does not answer to the name {host!r}; if that is its "
                                 "name, start it with --allow-host NAME")
    return None


def _refuse_writes():
    if request.method not in ALLOWED:
        raise MethodNotAllowed(valid_methods=list(ALLOWED))
    return None


def _error(exc: HTTPException):
    if _wants_json():
        response = jsonify(error=exc.name, status=exc.code, path=request.path, message=exc.description)
        response.status_code = exc.code or 500
    else:
        response = Response(render_template("error.html", error=exc), status=exc.code or 500)
    if isinstance(exc, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(ALLOWED)
    return response


def _headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def install(app: Flask) -> None:
    app.before_request(_refuse_strangers)
    app.before_request(_refuse_writes)
    app.register_error_handler(HTTPException, _error)
    app.after_request(_headers)
