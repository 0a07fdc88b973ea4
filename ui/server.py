"""Serving the board with waitress: in the foreground or in a background thread.

The background form is what tests use (a free port, stopped at the end) and
what an agent can use to show the board from every surviving server.
"""
from __future__ import annotations

import threading
from typing import Optional

from waitress.server import create_server

DEFAULT_LISTEN = "127.0.0.1:8080"


class ListenError(ValueError):
    """`--listen` could not be read as HOST:PORT."""


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or `:PORT` (= 127.0.0.1); never all interfaces by default."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ListenError(f"--listen {text!r}: write it as HOST:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ListenError(f"--listen {text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ListenError(f"--listen {text!r}: port must be between 0 and 65535")
    return host, number


class BackgroundServer:
    """waitress on HOST:PORT (port 0 = a free one) in a daemon thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
        self._server = create_server(app, host=host, port=port, threads=threads,
                                     ident="overseer", clear_untrusted_proxy_headers=True)
        self.host = host
        self.port: int = self._server.effective_port
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "BackgroundServer":
        self._thread = threading.Thread(target=self._server.run, name="overseer-ui-http",
                                        daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Serve in the calling thread until `stop()` (e.g. from a signal handler)."""
        self._server.run()

    def stop(self) -> None:
        """Close the listener and every open connection, and end the serving thread.

        In the background form the closing runs inside waitress's loop (its
        trigger): a socket closed by another thread while the loop waits on
        it makes the loop fail with EBADF, and a kept-alive connection left
        open would keep the loop, and its thread, running forever."""
        if self._thread is None or not self._thread.is_alive():
            self._server.close()
            return
        self._server.trigger.pull_trigger(self._close_all)
        self._thread.join(timeout=5)

    def _close_all(self) -> None:
        for channel in list(self._server._map.values()):
            channel.close()
        self._server.task_dispatcher.shutdown()
