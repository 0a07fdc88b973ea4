"""The agent's small HTTP endpoints: the peer port and the optional local one.

The peer port (`agentPort` on the Server's address) serves `GET /healthz`
to failsafe peers and nothing else (peer_desk.py answers). The local port
(`overseer agent --metrics`, loopback unless told otherwise) serves
`/metrics`, this process's Prometheus instruments, and a `/healthz` for local
monitoring (agent_http.py); neither is for peers.

Plain asyncio, no framework, no thread: it must answer while the agent is
busy. Whoever reaches a port can open connections, so a connection's cost is
bounded, and an agent at RLIMIT_NOFILE 256 keeps its etcd connections under a
flood of idle ones (tests/reconciler/test_netns.py):

- at most `max_connections` at once. One more closes the oldest connection
  still sending its request (a peer sends its whole request at once, so an
  idle connection is never a peer's), or itself when every slot is answering.
  Connections are accepted one at a time by our own loop, each admitted
  before the next is taken: asyncio's server accepts up to its backlog per
  wake-up and looks at them later, so a flood held a hundred descriptors
  more than the cap for a moment;
- the request (line and headers) must arrive within REQUEST_DEADLINE and
  MAX_REQUEST_LINE / MAX_HEADERS bytes (414 / 431 otherwise). The headers
  are read, not left unread: closing a socket with unread input resets the
  connection, and the asker could lose the answer;
- handlers answer from what they have (the cached etcd probe), never with
  an etcd call per request.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import OrderedDict
from typing import Awaitable, Callable, Mapping
from urllib.parse import parse_qs, urlsplit

from .failsafe import Reply

log = logging.getLogger(__name__)

# A request line longer than this is refused (414) before it is parsed; a
# signed failsafe question is about 250 bytes. The StreamReader limit bounds
# what is buffered per connection.
MAX_REQUEST_LINE = 8192
MAX_HEADERS = 8192          # all header lines together (431 beyond)
MAX_CONNECTIONS = 32        # a cluster's peers ask one question each at a time
BACKLOG = 32                # connections the kernel queues before we accept them (no descriptor of ours)
REQUEST_DEADLINE = 1.0      # longer than any asker waits (failsafe asks with at most 1 s)
WRITE_DEADLINE = 2.0
LOG_EVERY = 10.0            # at most one line per this many seconds about bad requests

Handler = Callable[[Mapping[str, str], str], Awaitable[Reply]]   # (query, client address) -> Reply


class BadRequest(Exception):
    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


class HttpEndpoint:
    def __init__(self, host: str, port: int, routes: Mapping[str, Handler], *, name: str = "healthz",
                 max_connections: int = MAX_CONNECTIONS):
        self.host, self.port, self.routes, self.name = host, port, dict(routes), name
        self.max_connections = max_connections
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._open: set[asyncio.StreamWriter] = set()
        # connections still sending their request, oldest first: the ones a new connection may close
        self._reading: OrderedDict[asyncio.StreamWriter, None] = OrderedDict()
        self._quiet_until = 0.0
        self._unsaid = 0

    async def start(self) -> bool:
        loop = asyncio.get_running_loop()
        try:
            family = (await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                              flags=socket.AI_PASSIVE))[0][0]
            self._sock = socket.create_server((self.host, self.port), family=family, backlog=BACKLOG)
        except OSError as exc:
            log.warning("%s not started on %s:%d: %s", self.name, self.host, self.port, exc)
            return False
        self._sock.setblocking(False)
        self._acceptor = asyncio.create_task(self._accept_loop(), name=f"{self.name} accepting")
        return True

    @property
    def bound_port(self) -> int:
        return self._sock.getsockname()[1]

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self._sock)
            except OSError as exc:
                # out of descriptors (EMFILE) or buffers: the connection waits
                # in the backlog; the agent's own sockets matter more
                self._say(f"cannot accept: {exc.strerror or exc}")
                await asyncio.sleep(0.1)
                continue
            if not self._make_room():
                conn.close()
                self._say(f"over {self.max_connections} connections, all answering: refused a new one")
                continue
            try:
                reader, writer = await asyncio.open_connection(sock=conn, limit=MAX_REQUEST_LINE)
            except OSError:
                conn.close()
                continue
            self._open.add(writer)
            self._reading[writer] = None
            task = asyncio.create_task(self._handle(reader, writer), name=f"{self.name} request")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _make_room(self) -> bool:
        if len(self._open) < self.max_connections:
            return True
        if not self._reading:
            return False
        oldest, _ = self._reading.popitem(last=False)
        self._open.discard(oldest)
        oldest.transport.abort()
        self._say(f"over {self.max_connections} connections: closed the oldest one still sending its request")
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(REQUEST_DEADLINE):
                    method, target = await self._read_request(reader)
            except TimeoutError:
                return   # idle or too slow: nothing to answer
            except BadRequest as exc:
                self._say(f"request from {_client(writer)} refused ({exc.status[:3]}): {exc}")
                reply = Reply(0, json.dumps({"error": str(exc)}).encode())
                await self._write(writer, exc.status, reply, method="GET")
                return
            self._reading.pop(writer, None)
            if not method:
                return   # closed before a whole request, or closed by _admit
            status, reply = await self._route(method, target, _client(writer))
            await self._write(writer, status, reply, method)
        except (OSError, TimeoutError, UnicodeDecodeError):
            pass
        finally:
            self._reading.pop(writer, None)
            self._open.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        try:
            line = await reader.readline()
        except ValueError:   # asyncio's "separator not found, chunk exceeds the limit"
            raise BadRequest("414 URI Too Long", f"request line over {MAX_REQUEST_LINE} bytes") from None
        if not line.endswith(b"\n"):
            return "", ""
        total = 0
        while True:
            try:
                header = await reader.readline()
            except ValueError:
                header = b"x" * (MAX_HEADERS + 1)
            total += len(header)
            if total > MAX_HEADERS:
                raise BadRequest("431 Request Header Fields Too Large", f"headers over {MAX_HEADERS} bytes")
            if header in (b"\r\n", b"\n"):
                break
            if not header.endswith(b"\n"):
                return "", ""
        parts = line.decode("latin-1").split()
        if len(parts) < 2:
            raise BadRequest("400 Bad Request", "malformed request line")
        return parts[0], parts[1]

    async def _route(self, method: str, target: str, client: str) -> tuple[str, Reply]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", Reply(405, b'{"error":"read-only"}')
        url = urlsplit(target)
        handler = self.routes.get(url.path)
        if handler is None:
            return "404 Not Found", Reply(404, b'{"error":"not found"}')
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        reply = await handler(query, client)
        return f"{reply.status} {_REASONS.get(reply.status, 'Status')}", reply

    async def _write(self, writer: asyncio.StreamWriter, status: str, reply: Reply, method: str) -> None:
        headers = {"Content-Type": "application/json", **reply.headers,
                   "Content-Length": str(len(reply.body)), "Connection": "close"}
        head = f"HTTP/1.0 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1") + (reply.body if method != "HEAD" else b""))
        async with asyncio.timeout(WRITE_DEADLINE):
            await writer.drain()

    def _say(self, message: str) -> None:
        # one line per LOG_EVERY: a flood of bad requests must not become a flood of log lines
        now = time.monotonic()
        if now < self._quiet_until:
            self._unsaid += 1
            return
        more = f" (and {self._unsaid} more since the last such line)" if self._unsaid else ""
        log.warning("%s %s:%d: %s%s", self.name, self.host, self.port, message, more)
        self._quiet_until, self._unsaid = now + LOG_EVERY, 0

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(self._acceptor, *self._tasks, return_exceptions=True)
            self._acceptor = None
        if self._sock is not None:
            self._sock.close()
        for writer in list(self._open):
            writer.transport.abort()


_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable"}


def _client(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
