"""A real local HTTP server that collects webhook POSTs (http.server in a thread).

`status` answers each request in turn (the last one repeats); `hang` makes
every handler wait until the server is closed, for timeout tests.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookServer:
    def __init__(self, status=(200,), hang: bool = False):
        self.bodies: list[dict] = []
        self.statuses, self.hang = list(status), hang
        self.released = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with owner._lock:
                    owner.bodies.append(body)
                    code = owner.statuses.pop(0) if len(owner.statuses) > 1 else owner.statuses[0]
                if owner.hang:
                    owner.released.wait(60)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def received(self, **match) -> list[dict]:
        with self._lock:
            return [b for b in self.bodies if all(b.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
