"""HTTP/1.1 answers parsed without I/O, within Limits; requests encoded.

Each parsing step is a generator: it yields when it needs more bytes and is
sent the next ones (b"" once the peer closed). blocking.py feeds it from a
socket, streams.py from an asyncio stream, `parse` from bytes already read:
one parser, whatever does the reading. Nothing the peer sends is trusted:
a status or header line is bounded by max_line, the headers by max_headers
and, with any interim (1xx) answers, by max_head in all; a chunk-size line
by max_chunk_line; a body (or one line of a stream) by max_body, checked
against Content-Length and each chunk's size before anything is read. The
deadline is the driver's: one for the whole exchange.

What is spoken: answers with Content-Length, chunked transfer (read whole,
or line by line for etcd's watch stream), or neither (read to the close);
interim 1xx answers skipped; HTTP/1.0 or 1.1. Nothing else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generator, Iterable, Optional

from .errors import BodyTooLarge, HeadTooLarge, ProtocolError, RemoteClosed, UnsafeRequest

# A step yields None ("more bytes, please") and is sent them; it returns its result.
Step = Generator[None, bytes, "T"]

_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?\r?\n")
_UNSAFE = re.compile(r"[\r\n\x00]")
_HEAD_END = re.compile(rb"\n\r?\n")
_KEEP = 65536            # consumed bytes kept before the buffer is compacted


@dataclass(frozen=True)
class Limits:
    """What one answer may hold. max_body is each caller's; the rest is common."""
    max_body: int
    max_line: int = 8192           # the status line, one header or trailer line
    max_headers: int = 100         # header lines of one answer, trailers likewise
    max_head: int = 64 * 1024      # status lines and headers in all, interim answers included
    max_chunk_line: int = 1024     # a chunk's size line, extensions included


def request_head(method: str, target: str, host: str, headers: Iterable[tuple[str, str]],
                 length: Optional[int], version: str = "HTTP/1.1") -> bytes:
    """The request line and headers; Content-Length if `length` is not None."""
    lines = [f"{method} {target} {version}", f"Host: {host}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in headers]
    if _UNSAFE.search("\t".join(lines)):
        number = next(n for n, line in enumerate(lines) if _UNSAFE.search(line))
        # named, not quoted: a webhook's path or header value may be its secret
        what = "the request line" if number == 0 else f"header {lines[number].partition(':')[0][:40]!r}"
        raise UnsafeRequest(f"{what} holds a line break or NUL")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Buffer:
    """The bytes read from one connection and not yet parsed."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0          # start of the unread bytes in _buf

    def _consume(self, end: int) -> bytes:
        out = bytes(self._buf[self._pos:end])
        self._pos = end
        if self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > _KEEP:
            del self._buf[:self._pos]
            self._pos = 0
        return out

    def line(self, limit: int) -> Step:
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
            data = yield
            if not data:
                return self._consume(len(self._buf))
            self._buf += data

    def exact(self, n: int) -> Step:
        """Exactly n bytes, or fewer if the stream ends first."""
        have = len(self._buf) - self._pos
        if have >= n:
            return self._consume(self._pos + n)
        out = bytearray(n)          # n is within a limit: checked before this is asked
        out[:have] = self._buf[self._pos:]
        self._buf.clear()
        self._pos = 0
        got = have
        while got < n:
            data = yield
            if not data:
                return bytes(out[:got])
            take = min(len(data), n - got)
            out[got:got + take] = data[:take] if take < len(data) else data
            got += take
            if take < len(data):
                self._buf += data[take:]
        return out                  # bytes-like: a large body is not copied again

    def head_block(self, limits: Limits, room: int) -> Step:
        """A status line and its headers, up to and with the blank line,
        within max_line a line, max_headers lines and `room` bytes in all.
        Found in one search when it came whole (as it nearly always does)."""
        scanned = self._pos
        while True:
            match = _HEAD_END.search(self._buf, scanned, self._pos + room)
            if match is not None:
                block = self._consume(match.end())
                self._check_lines(block, limits)
                return block
            self._check_lines(self._buf[self._pos:self._pos + room], limits)   # (what came past it: not yet)
            first = self._buf.find(b"\n", self._pos, self._pos + room)
            if first >= 0 and not _STATUS.fullmatch(self._buf, self._pos, first + 1):
                raise ProtocolError(f"not an HTTP answer: {bytes(self._buf[self._pos:first])[:60]!r}")
            if len(self._buf) - self._pos >= room:
                raise HeadTooLarge(f"a status line and headers over {limits.max_head // 1024} KiB",
                                   limits.max_head)
            scanned = max(self._pos, len(self._buf) - 2)   # an end may straddle two reads
            data = yield
            if not data:
                began = len(self._buf) > self._pos
                rest = self._consume(len(self._buf))
                if began and first < 0:
                    raise ProtocolError(f"not an HTTP answer: {rest[:60]!r}")
                raise RemoteClosed("the server closed the connection inside the headers" if began else
                                   "the server closed the connection without an answer", began=began)
            self._buf += data

    @staticmethod
    def _check_lines(head: bytes | bytearray, limits: Limits) -> None:
        if head.count(b"\n") > limits.max_headers + 2:     # the status line, the headers, the blank line
            raise HeadTooLarge(f"more than {limits.max_headers} header lines", limits.max_headers)
        if len(head) < limits.max_line:
            return
        start = 0
        while (end := head.find(b"\n", start)) >= 0:
            if end - start >= limits.max_line:
                raise HeadTooLarge(f"{'a status' if start == 0 else 'a header'} line longer than"
                                   f" {limits.max_line} bytes", limits.max_line)
            start = end + 1
        if len(head) - start >= limits.max_line:
            raise HeadTooLarge(f"{'a status' if start == 0 else 'a header'} line longer than"
                               f" {limits.max_line} bytes", limits.max_line)

    def to_close(self, limit: int) -> Step:
        """Everything until the peer closes; None if that is over `limit` bytes."""
        while len(self._buf) - self._pos <= limit:
            data = yield
            if not data:
                return self._consume(len(self._buf))
            self._buf += data
        return None


@dataclass(frozen=True)
class Head:
    status: int
    reason: str                 # as sent, undecoded beyond latin-1
    version: str                # "HTTP/1.0" or "HTTP/1.1"
    headers: dict[str, str]     # names lower-case


def head(buf: Buffer, limits: Limits) -> Step:
    """The final answer's status line and headers (interim 1xx answers skipped)."""
    room = limits.max_head
    while True:
        block = yield from buf.head_block(limits, room)
        room -= len(block)
        lines = block.split(b"\n")[:-2]        # the last two: the blank line's end and after it
        status = _STATUS.fullmatch(lines[0] + b"\n")
        if not status:
            raise ProtocolError(f"not an HTTP answer: {lines[0][:60]!r}")
        headers: dict[str, str] = {}
        for raw in lines[1:]:
            name, colon, value = raw.decode("latin-1").partition(":")
            if not colon or not name.strip():
                raise ProtocolError(f"a header line without a name: {raw[:40]!r}")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and headers.get(name, value) != value:
                raise ProtocolError("two different Content-Length headers")
            headers[name] = value
        code = int(status.group(2))
        if not 100 <= code < 200 or code == 101:
            return Head(code, (status.group(3) or b"").decode("latin-1"),
                        f"HTTP/1.{status.group(1).decode()}", headers)


class Body:
    """The framing of one answer's body, read through its Buffer."""

    def __init__(self, buf: Buffer, answer: Head, limits: Limits) -> None:
        self._buf = buf
        self.limits = limits
        self.max_body = limits.max_body
        headers = answer.headers
        connection = headers.get("connection", "").lower()
        coding = headers.get("transfer-encoding", "").lower()
        if coding not in ("", "chunked"):
            raise ProtocolError(f"Transfer-Encoding {coding[:40]!r} is not spoken here")
        self.chunked = coding == "chunked"
        self._left: Optional[int] = None
        self.length: Optional[int] = None
        length = headers.get("content-length")
        if length is not None and not self.chunked:
            if not _LENGTH.fullmatch(length):
                raise ProtocolError(f"Content-Length {length[:40]!r} is not a length")
            self._left = self.length = int(length)
            if self._left > self.max_body:
                raise BodyTooLarge(f"Content-Length {self._left:,} is over the limit of {self.max_body:,}"
                                   " bytes", self.max_body)
        self.will_close = (connection == "close" or (answer.version == "HTTP/1.0" and connection != "keep-alive")
                           or (not self.chunked and self._left is None))
        self._pending = b""          # decoded chunk data not yet handed out
        self._done = False

    def read(self) -> Step:
        """The whole body, at most max_body bytes."""
        if self.chunked:
            parts = [self._pending]
            size = len(self._pending)
            self._pending = b""
            while not self._done:
                chunk = yield from self._next_chunk(self.max_body - size)
                size += len(chunk)
                parts.append(chunk)
            return b"".join(parts)
        if self._left is None:
            data = yield from self._buf.to_close(self.max_body)
            if data is None:
                raise BodyTooLarge(f"a body without a length ran past the limit of {self.max_body:,} bytes",
                                   self.max_body)
        else:
            data = yield from self._buf.exact(self._left)
            if len(data) < self._left:
                raise ProtocolError(f"the body ended after {len(data)} of {self._left} bytes"
                                    f" (Content-Length {self.length})")
        self._left, self._done = 0, True
        return data

    def readline(self, limit: Optional[int] = None) -> Step:
        """One line of a (chunked) stream, at most `limit` (default max_body)
        bytes; b"" at its end."""
        limit = self.max_body if limit is None else limit
        if not self.chunked:
            if self._left is None:
                line = yield from self._buf.line(limit)
            elif self._left == 0:
                return b""
            elif self._left <= limit:         # never past the body's end: the next answer's
                line = yield from self._buf.line(self._left)
                if line is None:
                    line = yield from self._buf.exact(self._left)   # its last line, without a line end
            else:
                line = yield from self._buf.line(limit)
            if line is None:
                raise BodyTooLarge(f"a line of the stream ran past the limit of {limit:,} bytes", limit)
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
                    raise BodyTooLarge(f"a line of the stream ran past the limit of {limit:,} bytes", limit)
                return b"".join(parts)
            parts.append(pending)
            size += len(pending)
            if size > limit:
                raise BodyTooLarge(f"a line of the stream ran past the limit of {limit:,} bytes", limit)
            if self._done:
                self._pending = b""
                return b"".join(parts)
            pending = yield from self._next_chunk(limit + 1 - size, limit)

    def _next_chunk(self, room: int, limit: Optional[int] = None) -> Step:
        """The next chunk's data; b"" after the last. Over `room` bytes:
        BodyTooLarge (of `limit`, by default the body's)."""
        limits = self.limits
        size_line = yield from self._buf.line(limits.max_chunk_line)
        if size_line is None:
            raise ProtocolError(f"a chunk-size line longer than {limits.max_chunk_line} bytes")
        if not size_line:
            raise ProtocolError("the chunked body ended without its last chunk")
        match = _CHUNK_SIZE.fullmatch(size_line)
        if not match:
            raise ProtocolError(f"bad chunk size line {size_line[:40]!r}")
        size = int(match.group(1), 16)
        if size == 0:
            for _ in range(limits.max_headers):
                trailer = yield from self._buf.line(limits.max_line)
                if trailer is None:
                    raise HeadTooLarge(f"a trailer line longer than {limits.max_line} bytes", limits.max_line)
                if trailer in (b"\r\n", b"\n", b""):
                    self._done = True
                    return b""
            raise HeadTooLarge(f"more than {limits.max_headers} trailer lines", limits.max_headers)
        limit = self.max_body if limit is None else limit
        if size > room:
            raise BodyTooLarge(f"a chunk of {size:,} bytes is over the limit of {limit:,} bytes", limit)
        data = yield from self._buf.exact(size)
        end = yield from self._buf.exact(2)
        if len(data) < size or end != b"\r\n":
            raise ProtocolError("a chunk ended early")
        return data


def run_on(step: Step, data: bytes):
    """Runs `step` over `data`, then the end of the stream."""
    try:
        step.send(None)
        step.send(data)
        while True:
            step.send(b"")
    except StopIteration as done:
        return done.value


@dataclass(frozen=True)
class Answer:
    head: Head
    body: bytes


def parse(raw: bytes, limits: Limits) -> Answer:
    """A whole answer already read (to the peer's close)."""
    buf = Buffer()

    def whole() -> Step:
        answer = yield from head(buf, limits)
        body = yield from Body(buf, answer, limits).read()
        return Answer(answer, bytes(body))
    return run_on(whole(), raw)
