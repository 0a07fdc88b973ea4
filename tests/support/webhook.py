"""Local HTTP servers for webhook tests.

`WebhookServer` (http.server in a thread) collects POSTs: `status` answers
each request in turn (the last one repeats); `hang` makes every handler wait
until the server is closed, for timeout tests; `redirect` answers 302 with
that Location. Every request counts in `hits`, whatever its method (a client
that follows a redirect with a GET counts too). `tls`: an ssl.SSLContext
with the server's certificate, for https.

`RawAnswer` accepts connections and, after reading the request's head,
calls `answer(server, conn)`, which writes with `server.send` until
`server.closed` is set or the client hangs up: answers no HTTP library
would send (endless headers, a drip, a huge body).
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


class WebhookServer:
    def __init__(self, status=(200,), hang: bool = False, redirect: Optional[str] = None, tls=None):
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.hits = 0
        self.statuses, self.hang, self.redirect = list(status), hang, redirect
        self.released = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with owner._lock:
                    owner.hits += 1
                    owner.bodies.append(body)
                    owner.headers.append(dict(self.headers))
                    owner.paths.append(self.path)
                    code = owner.statuses.pop(0) if len(owner.statuses) > 1 else owner.statuses[0]
                if owner.hang:
                    owner.released.wait(60)
                self._answer(code)

            def do_GET(self):  # noqa: N802
                with owner._lock:
                    owner.hits += 1
                    owner.paths.append(self.path)
                self._answer(200)

            def _answer(self, code: int):
                if owner.redirect is not None:
                    self.send_response(302)
                    self.send_header("Location", owner.redirect)
                else:
                    self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http" if tls is None else "https"
        if tls is not None:   # an ssl.SSLContext with the server's certificate
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/hook"

    def received(self, **match) -> list[dict]:
        with self._lock:
            return [b for b in self.bodies if all(b.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class RawAnswer:
    """A TCP server whose answers are whatever `answer` writes."""

    def __init__(self, answer: Callable[["RawAnswer", socket.socket], None]):
        self.answer, self.closed = answer, threading.Event()
        self.sent = 0          # bytes written by the answers, as far as the socket took them
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head)
            try:
                self.answer(self, conn)
            except OSError:
                pass       # the client hung up: what these tests want to see

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def close(self) -> None:
        self.closed.set()
        self._sock.close()
