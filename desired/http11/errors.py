"""What goes wrong reading an answer, typed so each caller can say why.

Every failure of the layer is one of these, an OSError (a passed deadline is
TimeoutError), or ssl.SSLError from a handshake.
"""
from __future__ import annotations


class ProtocolError(Exception):
    """The peer's answer is not HTTP/1.x as we speak it."""


class OverLimit(ProtocolError):
    """Part of an answer over one of the Limits: refused before reading past it.
    `limit` is that limit, in bytes (or lines, for a header count)."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


class BodyTooLarge(OverLimit):
    """A body, or one line of a stream, over the caller's max_body."""


class HeadTooLarge(OverLimit):
    """The status line and headers (or one line of them, or their count) over the limits."""


class RemoteClosed(ConnectionResetError):
    """The connection ended before an answer began: a pooled connection the
    server closed while it sat idle looks like this (http.client's
    RemoteDisconnected). `began`: some of the answer's head had come."""

    def __init__(self, message: str, began: bool = False):
        super().__init__(message)
        self.began = began


class HandshakeCut(ConnectionError):
    """The connection ended during the TLS handshake (reset or closed) rather
    than the handshake failing on its merits: typically https to a plain-http
    port, whose 400 answer the reset can overtake."""


class UnsafeRequest(ValueError):
    """A request line or header we were asked to send holds a line break or a
    NUL: sent, it would split into a request of the caller's making."""
