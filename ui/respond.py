"""Flask responses from kept answers (answers.py): ETag, 304, JSON encoding.

`kept(view, key, build)` answers from the cache of the app's state and lets
Werkzeug turn a matching `If-None-Match` into 304 Not Modified (live.js
sends the ETag of what it shows). Every answer, a 304 too, carries the
board's clock (`X-Overseer-Now`) and the time of its last good etcd read
(`X-Overseer-Read-At`): live.js counts the ages a kept page only names
(ages.py) on the board's clock, not the browser's. `json_bytes` encodes like `jsonify` does
(compact, key order kept), so a kept answer reads like a built one.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Hashable

from flask import Response, current_app, request

from .answers import Answer
from .state import View

JSON = "application/json"
HTML = "text/html"


def json_bytes(value: Any) -> bytes:
    return (current_app.json.dumps(value, separators=(",", ":")) + "\n").encode()


def json_answer(value: Any, valid_until: float = math.inf) -> Answer:
    return Answer.of(json_bytes(value), JSON, valid_until)


def html_answer(text: str, valid_until: float = math.inf) -> Answer:
    return Answer.of(text.encode(), HTML, valid_until)


def kept(view: View, key: Hashable, build: Callable[[], Answer]) -> Response:
    state = current_app.extensions["overseer"]
    answer = state.answers.get(view.snapshot, key, view.now, build)
    response = Response(answer.body, mimetype=answer.mimetype)
    response.set_etag(answer.etag)
    response.headers["X-Overseer-Now"] = f"{time.time():.3f}"
    if view.freshness.ok_at is not None:
        response.headers["X-Overseer-Read-At"] = f"{view.freshness.ok_at:.3f}"
    return response.make_conditional(request)
