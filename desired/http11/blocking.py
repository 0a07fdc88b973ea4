"""The HTTP layer on a blocking socket: etcd's gateway client (desired/store)
and webhooks (reconciler/hooks), which run in threads of their own.

One exchange (connect, send, the whole answer) has one deadline: every
socket call waits only for what is left of it, so a peer dribbling a byte
at a time cannot hold a call past it, as it could when a timeout applied to
each read. Persistent connections; `Connection: close` or HTTP/1.0 ends one.
`ssl` is imported only by a connection given a TLS context.
"""
from __future__ import annotations

import dataclasses
import socket
import time
from typing import Optional, Sequence

from .errors import HandshakeCut
from .wire import Body, Buffer, Head, Limits, head, request_head

_RECV = 65536


def left(deadline: Optional[float]) -> Optional[float]:
    """Seconds until `deadline` (monotonic); TimeoutError once it passed."""
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete answer before the deadline")
    return remaining


class Response:
    """One answer's status and headers; its body read by read() or readline()."""

    def __init__(self, conn: "Connection", answer: Head, limits: Limits) -> None:
        self._conn = conn
        self.status, self.headers = answer.status, answer.headers
        self._body = Body(conn._buf, answer, limits)
        self.max_body = limits.max_body
        self.chunked, self.will_close = self._body.chunked, self._body.will_close

    def read(self) -> bytes:
        """The whole body, at most max_body bytes."""
        return self._conn._run(self._body.read())

    def readline(self, limit: Optional[int] = None) -> bytes:
        """One line of a stream, at most `limit` (default max_body) bytes; b"" at its end."""
        return self._conn._run(self._body.readline(limit))


class Connection:
    """One persistent HTTP/1.1 connection to host:port (TLS if given a context)."""

    def __init__(self, host: str, port: int, timeout: Optional[float], tls=None,
                 host_header: Optional[str] = None, limits: Limits = Limits(0)) -> None:
        self.host, self.port, self.timeout, self._tls = host, port, timeout, tls
        bracketed = f"[{host}]" if ":" in host else host
        self.host_header = host_header or f"{bracketed}:{port}"
        self.limits = limits        # max_body is each response()'s
        self._limits: dict[int, Limits] = {}
        self.sock: Optional[socket.socket] = None
        self._buf: Optional[Buffer] = None
        self._deadline: Optional[float] = None

    def connect(self, deadline: Optional[float] = None) -> None:
        """Connect (and shake hands) by `deadline`, else within `timeout`."""
        timeout = self.timeout if deadline is None else left(deadline)
        # bytes, not str: a str host is encoded with the idna codec, whose
        # import (unicodedata, stringprep) is another MB for a literal address
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), timeout)
        try:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass      # already reset: the handshake or the request says so
            if self._tls is not None:
                if deadline is not None:
                    sock.settimeout(left(deadline))   # the handshake as a whole, not per read
                sock = self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        self.adopt(sock)

    def adopt(self, sock: socket.socket, deadline: Optional[float] = None) -> None:
        """Speak over `sock`, connected (and TLS-wrapped) by the caller;
        `deadline`: that of an exchange the caller already began."""
        self.sock, self._buf, self._deadline = sock, Buffer(), deadline

    def _handshake(self, sock: socket.socket):
        import ssl  # noqa: PLC0415  (only with TLS, which built the context with it)
        try:
            # explicitly, not on wrap: a socket reset before the wrap counts
            # as "not connected" there and would fail later, at the request
            tls = self._tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
            tls.do_handshake()
        except ssl.SSLError:
            raise                     # the handshake failed on its merits (certificates, versions)
        except TimeoutError:
            raise
        except (OSError, EOFError) as exc:
            raise HandshakeCut(f"the connection ended during the TLS handshake ({exc})") from exc
        return tls

    def request(self, path: str, body: bytes, headers: dict[str, str] | Sequence[tuple[str, str]],
                deadline: Optional[float] = None, method: str = "POST") -> None:
        """Send one request. Everything until the answer's last byte must then
        happen by `deadline` (monotonic; None: `timeout` from now)."""
        if self.sock is None:
            self.connect(deadline)
        if deadline is None and self.timeout is not None:
            deadline = time.monotonic() + self.timeout
        self._deadline = deadline
        pairs = headers.items() if isinstance(headers, dict) else headers
        data = request_head(method, path, self.host_header, pairs, len(body)) + body
        self.sock.settimeout(left(deadline))   # sendall: one timeout for all of it
        self.sock.sendall(data)

    def unbounded(self) -> None:
        """No deadline from here on (a watch stream, idle for hours: TCP
        keep-alive probes notice a dead link instead)."""
        self._deadline = None
        self.sock.settimeout(None)

    def head(self) -> Head:
        """The answer's status and headers only; the connection is then spent."""
        return self._run(head(self._buf, self.limits))

    def response(self, max_body: int) -> Response:
        limits = self._limits.get(max_body)
        if limits is None:          # a few sizes per connection: built once each
            limits = self._limits[max_body] = dataclasses.replace(self.limits, max_body=max_body)
        return Response(self, self._run(head(self._buf, limits)), limits)

    def _run(self, step):
        """Feeds `step` from the socket until it has its result, by the deadline."""
        sock = self.sock
        try:
            step.send(None)
            while True:
                sock.settimeout(left(self._deadline))
                step.send(sock.recv(_RECV))
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        sock = self.sock
        self.sock = self._buf = None
        if sock is not None:
            sock.close()
