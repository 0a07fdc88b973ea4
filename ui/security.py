"""Read-only and safe by construction: method gate, error pages, security headers.

The method gate runs before routing errors surface, so `POST /no-such-page`
answers 405 rather than 404: nothing here accepts a write, anywhere.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

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


def _refuse_writes():
    if request.method not in ALLOWED:
        raise MethodNotAllowed(valid_methods=list(ALLOWED))
    return None


def _error(exc: HTTPException):
    if _wants_json():
        response = jsonify(error=exc.name, status=exc.code, path=request.path)
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
    app.before_request(_refuse_writes)
    app.register_error_handler(HTTPException, _error)
    app.after_request(_headers)
