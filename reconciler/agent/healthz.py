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
import ssl
import time
from collections import OrderedDict
from typing import Awaitable, Callable, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

from .failsafe import Caller, Reply
from .peer_tls import certified_names

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

Handler = Callable[[Mapping[str, str], Caller], Awaitable[Reply]]   # (query, who asks) -> Reply


class BadRequest(Exception):
    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


class HttpEndpoint:
    def __init__(self, host: str, port: int, routes: Mapping[str, Handler], *, name: str = "healthz",
                 max_connections: int = MAX_CONNECTIONS, tls: Optional[ssl.SSLContext] = None):
        self.host, self.port, self.routes, self.name = host, port, dict(routes), name
        self.max_connections, self.tls = max_connections, tls
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task | None = None
        self._open: set[asyncio.Task] = set()     # one task per connection, from accept to close
        # connections still sending their request (or their TLS handshake), oldest first:
        # the ones a new connection may close
        self._reading: OrderedDict[asyncio.Task, None] = OrderedDict()
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
                conn, address = await loop.sock_accept(self._sock)
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
            task = asyncio.create_task(self._serve(conn, _address(address)), name=f"{self.name} request")
            self._open.add(task)
            self._reading[task] = None
            task.add_done_callback(self._forget)
            # An accept that finds a connection waiting returns without yielding
            # to the loop: without this, a backlog full of a flood was accepted
            # before any connection closed by _make_room had let go of its descriptor.
            await asyncio.sleep(0)

    def _forget(self, task: asyncio.Task) -> None:
        self._open.discard(task)
        self._reading.pop(task, None)

    def _make_room(self) -> bool:
        if len(self._open) < self.max_connections:
            return True
        if not self._reading:
            return False
        oldest, _ = self._reading.popitem(last=False)
        self._open.discard(oldest)
        oldest.cancel()   # its transport is aborted as the cancellation unwinds (_serve)
        self._say(f"over {self.max_connections} connections: closed the oldest one still sending its request")
        return True

    async def _streams(self, conn: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_REQUEST_LINE, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        # a TLS handshake counts against the request's deadline, in this
        # connection's own task: never in the accept loop
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol, conn, ssl=self.tls,
            **({"ssl_handshake_timeout": REQUEST_DEADLINE, "ssl_shutdown_timeout": WRITE_DEADLINE}
               if self.tls else {}))
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def _serve(self, conn: socket.socket, address: str) -> None:
        writer: Optional[asyncio.StreamWriter] = None
        answered = False
        try:
            try:
                async with asyncio.timeout(REQUEST_DEADLINE):
                    reader, writer = await self._streams(conn)
                    method, target = await self._read_request(reader)
            except TimeoutError:
                return   # idle or too slow: nothing to answer
            except ssl.SSLError as exc:
                self._say(f"TLS handshake with {address} failed: {exc.reason or exc}")
                return
            except BadRequest as exc:
                self._say(f"request from {address} refused ({exc.status[:3]}): {exc}")
                reply = Reply(0, json.dumps({"error": str(exc)}).encode())
                await self._write(writer, exc.status, reply, method="GET")
                answered = True
                return
            self._reading.pop(asyncio.current_task(), None)
            if not method:
                return   # closed before a whole request
            caller = Caller(address, certified_names(writer.get_extra_info("peercert")))
            status, reply = await self._route(method, target, caller)
            await self._write(writer, status, reply, method)
            answered = True
        except (OSError, TimeoutError, UnicodeDecodeError):
            pass
        finally:
            if writer is None:
                conn.close()      # no transport took it (one that did closed it as it failed)
            elif answered:
                writer.close()    # after the answer: a clean end (TLS: close_notify, bounded)
            else:
                writer.transport.abort()   # idle, evicted, failed: free the descriptor now

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

    async def _route(self, method: str, target: str, caller: Caller) -> tuple[str, Reply]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", Reply(405, b'{"error":"read-only"}')
        url = urlsplit(target)
        handler = self.routes.get(url.path)
        if handler is None:
            return "404 Not Found", Reply(404, b'{"error":"not found"}')
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        reply = await handler(query, caller)
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
            tasks = [self._acceptor, *self._open]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._acceptor = None
        if self._sock is not None:
            self._sock.close()


_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 503: "Service Unavailable"}


def _address(peer) -> str:
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
