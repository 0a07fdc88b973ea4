"""The few parts of HTTP/1.1 that etcd's JSON gateway needs, on a plain socket.

Why not http.client: importing it imports `ssl` and `email`, and `ssl` loads
OpenSSL's libssl and libcrypto: about 5 MB of every agent's memory, for a
client that speaks TLS only when the operator configured https. Here `ssl`
is imported by whoever builds a TLS context (client.py), only then.

What is spoken: POST with a JSON body and Content-Length; answers with
Content-Length, chunked transfer (etcd's watch stream, read line by line),
or neither (read to the end, then the connection closes). Persistent
connections; `Connection: close` or HTTP/1.0 ends one. Nothing else.
"""
from __future__ import annotations

import socket
from typing import Optional

_MAX_LINE = 65536
_MAX_HEADERS = 100


class ProtocolError(Exception):
    """The peer's answer is not HTTP/1.x as we speak it."""


class RemoteClosed(ConnectionResetError):
    """The connection ended before an answer began: a pooled connection the
    server closed while it sat idle looks like this (http.client's
    RemoteDisconnected)."""


class HandshakeCut(ConnectionError):
    """The connection ended during the TLS handshake (reset or closed) rather
    than the handshake failing on its merits: typically https to a plain-http
    port, whose 400 answer the reset can overtake."""


class Response:
    def __init__(self, reader, status: int, headers: dict[str, str], version: str) -> None:
        self._reader = reader
        self.status = status
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._left: Optional[int] = int(length) if length is not None and not self.chunked else None
        self.will_close = (connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
                           or (not self.chunked and self._left is None))
        self._pending = b""          # decoded chunk data not yet handed out
        self._done = False

    def read(self) -> bytes:
        """The whole body."""
        if self.chunked:
            parts = [self._pending]
            self._pending = b""
            while not self._done:
                parts.append(self._next_chunk())
            return b"".join(parts)
        if self._left is None:
            data = self._reader.read()
        else:
            data = self._reader.read(self._left)
            if len(data) < self._left:
                raise ProtocolError(f"the body ended after {len(data)} of {self._left} bytes")
        self._left, self._done = 0, True
        return data

    def readline(self) -> bytes:
        """One line of a (chunked) stream, b"" at its end."""
        if not self.chunked:
            return self._reader.readline(_MAX_LINE)
        while b"\n" not in self._pending and not self._done:
            self._pending += self._next_chunk()
        line, sep, rest = self._pending.partition(b"\n")
        self._pending = rest
        return line + sep

    def _next_chunk(self) -> bytes:
        size_line = self._reader.readline(_MAX_LINE)
        if not size_line:
            raise ProtocolError("the chunked body ended without its last chunk")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            while self._reader.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass                      # trailers: none expected, skipped
            self._done = True
            return b""
        data = self._reader.read(size)
        if len(data) < size or self._reader.read(2) != b"\r\n":
            raise ProtocolError("a chunk ended early")
        return data


class Connection:
    """One persistent HTTP/1.1 connection to host:port (TLS if given a context)."""

    def __init__(self, host: str, port: int, timeout: Optional[float], tls=None) -> None:
        self.host, self.port, self.timeout, self._tls = host, port, timeout, tls
        self.sock: Optional[socket.socket] = None
        self._reader = None

    def connect(self) -> None:
        # bytes, not str: a str host is encoded with the idna codec, whose
        # import (unicodedata, stringprep) is another MB for a literal address
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        sock = socket.create_connection((host, self.port), self.timeout)
        try:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass      # already reset: the handshake or the request says so
            if self._tls is not None:
                sock = self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        self.sock, self._reader = sock, sock.makefile("rb")

    def _handshake(self, sock: socket.socket):
        import ssl  # noqa: PLC0415  (only with TLS, which built the context with it)
        try:
            # explicitly, not on wrap: a socket reset before the wrap counts
            # as "not connected" there and would fail later, at the request
            tls = self._tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
            tls.do_handshake()
        except ssl.SSLError:
            raise                     # the handshake failed on its merits (certificates, versions)
        except (OSError, EOFError) as exc:
            raise HandshakeCut(f"the connection ended during the TLS handshake ({exc})") from exc
        return tls

    def request(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        if self.sock is None:
            self.connect()
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def response(self) -> Response:
        line = self._reader.readline(_MAX_LINE)
        if not line:
            raise RemoteClosed("the server closed the connection without an answer")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code = rest.partition(" ")[0]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP answer: {line[:60]!r}")
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            raw = self._reader.readline(_MAX_LINE)
            if raw in (b"\r\n", b"\n"):
                return Response(self._reader, int(code), headers, version)
            if not raw:
                raise RemoteClosed("the server closed the connection inside the headers")
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ProtocolError(f"more than {_MAX_HEADERS} header lines")

    def close(self) -> None:
        sock, reader = self.sock, self._reader
        self.sock = self._reader = None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()
