"""The agent's own tiny HTTP endpoint: `GET /healthz` for peers in failsafe,
and `GET /metrics` with this process's Prometheus instruments.

Plain asyncio, no framework: it must answer while the agent is busy and use
no thread. It reports whether this agent reaches etcd right now (a live probe, not a
cached flag: a peer asking is deciding whether to fence).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

# A request line longer than this is refused (414) before it is parsed; peers
# send about 30 bytes. The StreamReader limit bounds what is buffered per
# connection, so an oversized line costs at most this much memory.
MAX_REQUEST_LINE = 8192


def _exposition() -> tuple[bytes, str]:
    """This process's metrics in Prometheus' text format. prometheus_client is
    loaded on the first scrape (reconciler/metrics.py says why)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest  # noqa: PLC0415
    from ..metrics import INSTRUMENTS  # noqa: PLC0415
    global _registered
    if not _registered:
        for instrument in INSTRUMENTS:
            REGISTRY.register(instrument)
        _registered = True
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


_registered = False


class HealthzServer:
    def __init__(self, host: str, port: int, status: Callable[[str], Awaitable[dict]]):
        self.host, self.port, self.status = host, port, status
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> bool:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                      limit=MAX_REQUEST_LINE)
        except OSError as exc:
            log.warning("healthz endpoint not started on %s:%d: %s (failsafe peers cannot ask this agent)",
                        self.host, self.port, exc)
            return False
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = await asyncio.wait_for(reader.readline(), 2)
            except ValueError:
                # asyncio's "separator not found, chunk exceeds the limit"
                peer = writer.get_extra_info("peername")
                log.warning("healthz: request line from %s over %d bytes refused (414)",
                            peer, MAX_REQUEST_LINE)
                body = b'{"error":"request line too long"}'
                writer.write(b"HTTP/1.0 414 URI Too Long\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
                return
            parts = request.decode("latin-1").split()
            target = urlsplit(parts[1]) if len(parts) >= 2 else urlsplit("")
            path = target.path
            kind = "application/json"
            if len(parts) >= 2 and parts[0] not in ("GET", "HEAD"):
                code, body = "405 Method Not Allowed", b'{"error":"read-only"}'
            elif path == "/healthz":
                # `from`: the peer asking in failsafe; we vouch for it if etcd is gone here too
                asker = parse_qs(target.query).get("from", [""])[0]
                code, body = "200 OK", json.dumps(await self.status(asker)).encode()
            elif path == "/metrics":
                # this process's own instruments, e.g. the master's reconcile durations
                body, kind = _exposition()
                code = "200 OK"
            else:
                code, body = "404 Not Found", b'{"error":"not found"}'
            writer.write(f"HTTP/1.0 {code}\r\nContent-Type: {kind}\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        except (OSError, asyncio.TimeoutError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
