"""A hostile etcd: a TCP server in front of a real etcd that answers as told.

`HostileEtcd(etcd_url).set(MODE)` makes every request from then on get the
answer MODE names (a key of ANSWERS), or etcd's real answer bent by one of
MUTATIONS; `set(None)` passes traffic through untouched. Changing the mode
drops every open connection, so pooled connections and watches meet the new
one at once. `sent` counts the bytes hostile answers put on the wire, to show
a client stopped reading where it should; `answered` the hostile answers
begun, `piped` the connections passed through (tests wait on them). Threads, not asyncio, so it runs
beside any test and in front of real agents.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Callable, Iterator, Optional
from urllib.parse import urlparse

Pieces = Iterator[object]   # bytes to send, or a float: seconds to wait first


def _http(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _endless(piece: bytes) -> Pieces:
    while True:
        yield piece


def _chunked_forever() -> Pieces:
    yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    yield from _endless(b"10000\r\n" + chunk + b"\r\n")


def _unframed_forever() -> Pieces:
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
    yield from _endless(b"[" * 65536)


def _huge_length() -> Pieces:
    yield b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\n{\"header\":"
    yield 30.0                       # then nothing: the client must not wait for it


def _truncated() -> Pieces:
    yield b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"header":{"revision":"5"}'
    # and the connection closes


def _long_header() -> Pieces:
    yield b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n"


def _many_headers() -> Pieces:
    yield b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 5000 + b"\r\n"


def _chunk_line(line: bytes) -> Callable[[], Pieces]:
    def pieces() -> Pieces:
        yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + line
    return pieces


# Answers that need nothing from etcd: each a function returning the pieces.
ANSWERS: dict[str, Callable[[], Pieces]] = {
    "500 [1]": lambda: iter([_http("500 Internal Server Error", b"[1]")]),
    "500 html": lambda: iter([_http("500 Internal Server Error", b"<html>oops</html>", "Content-Type: text/html")]),
    "503 empty": lambda: iter([_http("503 Service Unavailable", b"")]),
    "502 object": lambda: iter([_http("502 Bad Gateway", b'{"header":{"revision":"9"},"kvs":[]}')]),
    "200 error body": lambda: iter([_http("200 OK", b'{"error":{"code":"x"}}')]),
    "200 error string": lambda: iter([_http("200 OK", b'{"error":"something broke"}')]),
    "not json": lambda: iter([_http("200 OK", b"hello, I am not etcd")]),
    "a list": lambda: iter([_http("200 OK", b"[1, 2, 3]")]),
    "deep nesting": lambda: iter([_http("200 OK", b"[" * 200_000 + b"]" * 200_000)]),
    "deep object": lambda: iter([_http("200 OK", b'{"kvs":' + b"[" * 200_000 + b"]" * 200_000 + b"}")]),
    "truncated": _truncated,
    "huge length": _huge_length,
    "bad length": lambda: iter([b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}"]),
    "two lengths": lambda: iter([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"]),
    "endless chunked": _chunked_forever,
    "endless unframed": _unframed_forever,
    "long header": _long_header,
    "many headers": _many_headers,
    "bad chunk size": _chunk_line(b"zz\r\n{}\r\n0\r\n\r\n"),
    "negative chunk": _chunk_line(b"-5\r\n{}\r\n0\r\n\r\n"),
    "huge chunk": _chunk_line(b"fffffffffffffff\r\n{}"),
    "long chunk line": _chunk_line(b"2;" + b"e" * 100_000 + b"\r\n{}\r\n0\r\n\r\n"),
    "gzip": lambda: iter([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}"]),
    "not http": lambda: iter([b"SSH-2.0-OpenSSH_9.2\r\n"]),
    "bad status": lambda: iter([b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}"]),
}


def _walk(value, fn):
    """Apply fn(dict) to every object in a decoded answer, depth first."""
    if isinstance(value, dict):
        for v in value.values():
            _walk(v, fn)
        fn(value)
    elif isinstance(value, list):
        for v in value:
            _walk(v, fn)


def _bend(name: str, fn: Callable[[dict], None]):
    def bend(answer):
        _walk(answer, fn)
        return answer
    return name, bend


def _set(key: str, value):
    def fn(d: dict) -> None:
        if key in d:
            d[key] = value
    return fn


def _header_revision(value):
    def fn(d: dict) -> None:
        if isinstance(d.get("header"), dict):
            d["header"]["revision"] = value
    return fn


def _bad_base64(d: dict) -> None:
    for key in ("key", "value"):
        if isinstance(d.get(key), str):
            d[key] = "!!not*base64"


# etcd's real answer, one field bent: (name, function on the decoded answer)
MUTATIONS = dict([
    _bend("kvs not a list", _set("kvs", {"0": "a"})),
    _bend("kvs items not objects", _set("kvs", [1, "two"])),
    _bend("revision a string", _header_revision("twelve")),
    _bend("revision a float", _header_revision(1.5)),
    _bend("revision negative", _header_revision("-3")),
    _bend("no header", lambda d: d.pop("header", None)),
    _bend("header a list", _set("header", [1])),
    _bend("bad base64", _bad_base64),
    _bend("create_revision an object", _set("create_revision", {"a": 1})),
    _bend("count huge", _set("count", "9" * 5000)),
    _bend("TTL a string", _set("TTL", "forever")),
    _bend("succeeded a string", _set("succeeded", "yes")),
    _bend("responses not a list", _set("responses", "none")),
    _bend("events not a list", _set("events", 7)),
    ("result a list", lambda answer: {"result": [1]} if "result" in answer else answer),
    ("drip", lambda answer: answer),      # the real answer, one byte at a time (see _serve)
])
DRIP_EVERY = 0.3


class HostileEtcd:
    def __init__(self, etcd_url: str, host: str = "127.0.0.1"):
        target = urlparse(etcd_url)
        self.target = (target.hostname, target.port)
        self.mode: Optional[str] = None
        self.sent = 0
        self.answered = 0
        self.piped = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self.host = host
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True, name="hostile etcd").start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set(self, mode: Optional[str]) -> None:
        if mode is not None and mode not in ANSWERS and mode not in MUTATIONS:
            raise KeyError(mode)
        self.mode = mode
        self.sent = self.answered = self.piped = 0
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            _drop(conn)

    def close(self) -> None:
        self._stopped = True
        self.set(None)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, self.mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: Optional[str]) -> None:
        try:
            if mode is None:
                self.piped += 1
                self._pipe(conn)
                return
            while True:
                request = _read_request(conn)
                if request is None:
                    return
                path, body = request
                self.answered += 1
                if mode in ANSWERS:
                    pieces = ANSWERS[mode]()
                elif mode == "drip":
                    pieces = _drip(self._upstream(path, body, lambda a: a))
                else:
                    pieces = iter([self._upstream(path, body, MUTATIONS[mode])])
                for piece in pieces:
                    if isinstance(piece, float):
                        time.sleep(piece)
                        continue
                    conn.sendall(piece)
                    self.sent += len(piece)
                if mode in ("truncated", "not http"):
                    return
        except OSError:
            pass
        finally:
            _drop(conn)

    def _upstream(self, path: str, body: bytes, bend) -> bytes:
        """etcd's answer to the request, bent; a watch gets its first message only."""
        conn = http.client.HTTPConnection(*self.target, timeout=5)
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            answer = conn.getresponse()
            status = f"{answer.status} {answer.reason}"
            if path == "/v3/watch":
                text = answer.readline()
            else:
                text = answer.read()
        finally:
            conn.close()
        lines = [json.dumps(bend(json.loads(line))).encode() for line in text.splitlines() if line.strip()]
        return _http(status, b"\n".join(lines) + (b"\n" if path in ("/v3/watch", "/v3/lease/keepalive") else b""))

    def _pipe(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target, timeout=5)
        upstream.settimeout(None)
        with self._lock:
            self._conns.append(upstream)
        threading.Thread(target=_copy, args=(upstream, client), daemon=True).start()
        _copy(client, upstream)


def _drip(answer: bytes) -> Pieces:
    for i in range(len(answer)):
        yield answer[i:i + 1]
        yield DRIP_EVERY


def _read_request(conn: socket.socket) -> Optional[tuple[str, bytes]]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return None
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                   if line.lower().startswith("content-length:")), 0)
    while len(body) < length:
        more = conn.recv(65536)
        if not more:
            return None
        body += more
    return lines[0].split()[1], body


def _copy(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _drop(src)
        _drop(dst)


def _drop(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
