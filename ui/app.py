"""The Flask application factory: read-only board, JSON API, metrics, health.

`create_app(source)` wires the pages and API blueprints to one source (see
`state.Source`) and installs the safety rules every response follows: 421
for a Host the board is not known by (`hosts`: hosts.py), only
GET and HEAD anywhere (405 with `Allow` otherwise, even on unknown paths),
404 for unknown paths, autoescaped templates, a strict Content-Security-Policy
(no inline script: the live-update code is a static file) and nosniff.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from flask import Flask

from . import api, filters, pages, security
from .hosts import AllowedHosts
from .metrics import make_registry
from .state import Source, UiState


def create_app(source: Source, clock: Callable[[], float] = time.time,
               hosts: Optional[AllowedHosts] = None) -> Flask:
    app = Flask(__name__)
    app.config.update(SEND_FILE_MAX_AGE_DEFAULT=60, JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    # Every template is HTML; escape in all of them, whatever their extension.
    app.jinja_env.autoescape = True
    state = UiState(source, clock)
    app.extensions["overseer"] = state
    app.extensions["overseer.registry"] = make_registry(state)
    app.extensions["overseer.hosts"] = hosts or AllowedHosts()
    filters.install(app)
    security.install(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    return app
