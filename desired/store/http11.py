"""The few parts of HTTP/1.1 that etcd's JSON gateway needs, on a plain socket.

Why not http.client: importing it imports `ssl` and `email`, and `ssl` loads
OpenSSL's libssl and libcrypto: about 5 MB of every agent's memory, for a
client that speaks TLS only when the operator configured https. Here `ssl`
is imported by whoever builds a TLS context (client.py), only then.

What is spoken: POST with a JSON body and Content-Length; answers with
Content-Length, chunked transfer (etcd's watch stream, read line by line),
or neither (read to the end, then the connection closes). Persistent
connections; `Connection: close` or HTTP/1.0 ends one. Nothing else.

Nothing the peer sends is trusted. Every read is bounded: a status or header
line by MAX_LINE, the headers by MAX_HEADERS, a chunk-size line by
MAX_CHUNK_LINE, a body (or one line of a stream) by the caller's `max_body`,
checked against Content-Length and chunk sizes before anything is read. And
one exchange (connect, send, the whole answer) has one deadline: a peer
dribbling a byte at a time cannot hold a call past it, as it could when the
timeout applied to each socket read. Every failure is an OSError (a timeout
is TimeoutError) or a ProtocolError.
"""
from __future__ import annotations

import re
import socket
import time
from typing import Optional

MAX_LINE = 8192          # the status line, one header or trailer line
MAX_HEADERS = 100
MAX_CHUNK_LINE = 1024    # a chunk's size line, extensions included
_RECV = 65536
_STATUS = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?\r?\n")
_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r?\n")


class ProtocolError(Exception):
    """The peer's answer is not HTTP/1.x as we speak it."""


class BodyTooLarge(ProtocolError):
    """A body, or one line of a stream, over the caller's limit: refused
    before reading past it."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


class RemoteClosed(ConnectionResetError):
    """The connection ended before an answer began: a pooled connection the
    server closed while it sat idle looks like this (http.client's
    RemoteDisconnected)."""


class HandshakeCut(ConnectionError):
    """The connection ended during the TLS handshake (reset or closed) rather
    than the handshake failing on its merits: typically https to a plain-http
    port, whose 400 answer the reset can overtake."""


def _left(deadline: Optional[float]) -> Optional[float]:
    """Seconds until `deadline` (monotonic); TimeoutError once it passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no complete answer before the deadline")
    return left


class _Reader:
    """Buffered reads from one socket, each recv within `deadline` (None: block,
    for a watch stream that may be idle for hours)."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.deadline: Optional[float] = None
        self._buf = bytearray()
        self._pos = 0          # start of the unread bytes in _buf

    def _recv(self) -> bytes:
        self.sock.settimeout(_left(self.deadline))
        return self.sock.recv(_RECV)

    def _consume(self, end: int) -> bytes:
        out = bytes(self._buf[self._pos:end])
        self._pos = end
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > _RECV:
            del self._buf[:self._pos]
            self._pos = 0
        return out

    def readline(self, limit: int) -> Optional[bytes]:
        """One line with its b"\\n"; what is left (maybe b"") if the stream ends
        first; None if no line end comes within `limit` bytes."""
        scanned = self._pos
        while True:
            end = self._buf.find(b"\n", scanned, self._pos + limit)
            if end >= 0:
                return self._consume(end + 1)
            if len(self._buf) - self._pos >= limit:
                return None
            scanned = len(self._buf)
            data = self._recv()
            if not data:
                return self._consume(len(self._buf))
            self._buf += data

    def read(self, n: int) -> bytes:
        """Exactly n bytes, or fewer if the stream ends first."""
        have = len(self._buf) - self._pos
        if have >= n:
            return self._consume(self._pos + n)
        out = bytearray(n)
        out[:have] = self._buf[self._pos:]
        self._buf.clear()
        self._pos = 0
        got = have
        with memoryview(out) as view:
            while got < n:
                self.sock.settimeout(_left(self.deadline))
                count = self.sock.recv_into(view[got:], n - got)
                if not count:
                    break
                got += count
        return out if got == n else bytes(out[:got])   # (bytes-like: a large body is not copied again)

    def read_to_close(self, limit: int) -> Optional[bytes]:
        """Everything until the peer closes; None if that is over `limit` bytes."""
        while len(self._buf) - self._pos <= limit:
            data = self._recv()
            if not data:
                return self._consume(len(self._buf))
            self._buf += data
        return None


class Response:
    def __init__(self, reader: _Reader, status: int, headers: dict[str, str], version: str,
                 max_body: int) -> None:
        self._reader = reader
        self.status = status
        self.headers = headers
        self.max_body = max_body
        connection = headers.get("connection", "").lower()
        coding = headers.get("transfer-encoding", "").lower()
        if coding not in ("", "chunked"):
            raise ProtocolError(f"Transfer-Encoding {coding[:40]!r} is not spoken here")
        self.chunked = coding == "chunked"
        self._left: Optional[int] = None
        length = headers.get("content-length")
        if length is not None and not self.chunked:
            if not _LENGTH.fullmatch(length):
                raise ProtocolError(f"Content-Length {length[:40]!r} is not a length")
            self._left = int(length)
            if self._left > max_body:
                raise BodyTooLarge(f"Content-Length {self._left:,}", max_body)
        self.will_close = (connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
                           or (not self.chunked and self._left is None))
        self._pending = b""          # decoded chunk data not yet handed out
        self._done = False

    def read(self) -> bytes:
        """The whole body, at most `max_body` bytes."""
        if self.chunked:
            parts = [self._pending]
            size = len(self._pending)
            self._pending = b""
            while not self._done:
                chunk = self._next_chunk(self.max_body - size)
                size += len(chunk)
                parts.append(chunk)
            return b"".join(parts)
        if self._left is None:
            data = self._reader.read_to_close(self.max_body)
            if data is None:
                raise BodyTooLarge("a body without a length ran past the limit", self.max_body)
        else:
            data = self._reader.read(self._left)
            if len(data) < self._left:
                raise ProtocolError(f"the body ended after {len(data)} of {self._left} bytes")
        self._left, self._done = 0, True
        return data

    def readline(self, limit: Optional[int] = None) -> bytes:
        """One line of a (chunked) stream, at most `limit` (default max_body)
        bytes; b"" at its end."""
        limit = self.max_body if limit is None else limit
        if not self.chunked:
            if self._left is None:
                line = self._reader.readline(limit)
            elif self._left == 0:
                return b""
            elif self._left <= limit:         # never past the body's end: the next answer's
                line = self._reader.readline(self._left)
                if line is None:
                    line = self._reader.read(self._left)   # its last line, without a line end
            else:
                line = self._reader.readline(limit)
            if line is None:
                raise BodyTooLarge("a line of the stream ran past the limit", limit)
            if self._left is not None:
                self._left -= len(line)
            return line
        parts: list[bytes] = []
        size = 0
        pending = self._pending
        while True:
            cut = pending.find(b"\n")
            if cut >= 0:
                parts.append(pending[:cut + 1])
                self._pending = pending[cut + 1:]
                size += cut + 1
                if size > limit:
                    raise BodyTooLarge("a line of the stream ran past the limit", limit)
                return b"".join(parts)
            parts.append(pending)
            size += len(pending)
            if size > limit:
                raise BodyTooLarge("a line of the stream ran past the limit", limit)
            if self._done:
                self._pending = b""
                return b"".join(parts)
            pending = self._next_chunk(limit + 1 - size, limit)

    def _next_chunk(self, room: int, limit: Optional[int] = None) -> bytes:
        """The next chunk's data; b"" after the last. Over `room` bytes:
        BodyTooLarge (of `limit`, by default the body's)."""
        size_line = self._reader.readline(MAX_CHUNK_LINE)
        if size_line is None:
            raise ProtocolError(f"a chunk-size line longer than {MAX_CHUNK_LINE} bytes")
        if not size_line:
            raise ProtocolError("the chunked body ended without its last chunk")
        match = _CHUNK_SIZE.fullmatch(size_line)
        if not match:
            raise ProtocolError(f"bad chunk size line {size_line[:40]!r}")
        size = int(match.group(1), 16)
        if size == 0:
            for _ in range(MAX_HEADERS):
                trailer = self._reader.readline(MAX_LINE)
                if trailer is None:
                    raise ProtocolError(f"a trailer line longer than {MAX_LINE} bytes")
                if trailer in (b"\r\n", b"\n", b""):
                    self._done = True
                    return b""
            raise ProtocolError(f"more than {MAX_HEADERS} trailer lines")
        if size > room:
            raise BodyTooLarge(f"a chunk of {size:,} bytes", self.max_body if limit is None else limit)
        data = self._reader.read(size)
        if len(data) < size or self._reader.read(2) != b"\r\n":
            raise ProtocolError("a chunk ended early")
        return data


class Connection:
    """One persistent HTTP/1.1 connection to host:port (TLS if given a context)."""

    def __init__(self, host: str, port: int, timeout: Optional[float], tls=None) -> None:
        self.host, self.port, self.timeout, self._tls = host, port, timeout, tls
        self.sock: Optional[socket.socket] = None
        self._reader: Optional[_Reader] = None

    def connect(self, deadline: Optional[float] = None) -> None:
        """Connect (and shake hands) by `deadline`, else within `timeout`."""
        timeout = self.timeout if deadline is None else _left(deadline)
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
                    sock.settimeout(_left(deadline))   # the handshake as a whole, not per read
                sock = self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        self.sock, self._reader = sock, _Reader(sock)

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

    def request(self, path: str, body: bytes, headers: dict[str, str],
                deadline: Optional[float] = None) -> None:
        """Send one request. Everything until the answer's last byte must then
        happen by `deadline` (monotonic; None: `timeout` per read)."""
        if self.sock is None:
            self.connect(deadline)
        if deadline is None and self.timeout is not None:
            deadline = time.monotonic() + self.timeout
        self._reader.deadline = deadline
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.settimeout(_left(deadline))   # sendall: one timeout for all of it
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def unbounded(self) -> None:
        """No deadline from here on (a watch stream, idle for hours: TCP
        keep-alive probes notice a dead link instead)."""
        self._reader.deadline = None
        self.sock.settimeout(None)

    def response(self, max_body: int) -> Response:
        line = self._reader.readline(MAX_LINE)
        if line is None:
            raise ProtocolError(f"a status line longer than {MAX_LINE} bytes")
        if not line:
            raise RemoteClosed("the server closed the connection without an answer")
        text = line.decode("latin-1")
        status = _STATUS.fullmatch(text)
        if not status:
            raise ProtocolError(f"not an HTTP answer: {line[:60]!r}")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            raw = self._reader.readline(MAX_LINE)
            if raw is None:
                raise ProtocolError(f"a header line longer than {MAX_LINE} bytes")
            if raw in (b"\r\n", b"\n"):
                return Response(self._reader, int(status.group(2)), headers, f"HTTP/1.{status.group(1)}",
                                max_body)
            if not raw:
                raise RemoteClosed("the server closed the connection inside the headers")
            name, colon, value = raw.decode("latin-1").partition(":")
            if not colon or not name.strip():
                raise ProtocolError(f"a header line without a name: {raw[:40]!r}")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and headers.get(name, value) != value:
                raise ProtocolError("two different Content-Length headers")
            headers[name] = value
        raise ProtocolError(f"more than {MAX_HEADERS} header lines")

    def close(self) -> None:
        sock = self.sock
        self.sock = self._reader = None
        if sock is not None:
            sock.close()
