"""The agent's /healthz endpoint against hostile requests: an oversized request
line gets 414 and one log line, never a traceback, and the endpoint keeps
answering peers."""
from __future__ import annotations

import asyncio
import json
import logging

import pytest

from overseer.reconciler.agent.healthz import MAX_REQUEST_LINE, HealthzServer


async def _status(asker: str = "") -> dict:
    return {"etcd": True, "server": "a", **({"asker": asker} if asker else {})}


async def _ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


@pytest.mark.asyncio
async def test_oversized_request_line_gets_414_and_one_log_line(caplog):
    server = HealthzServer("127.0.0.1", 0, _status)
    assert await server.start()
    port = server._server.sockets[0].getsockname()[1]
    caplog.set_level(logging.DEBUG)
    try:
        answer = await _ask(port, b"GET /healthz?" + b"x" * (64 * 1024 + 10) + b" HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 414 "), answer[:80]
        ok = await _ask(port, b"GET /healthz HTTP/1.0\r\n\r\n")
        assert ok.startswith(b"HTTP/1.0 200 ")
        assert json.loads(ok.split(b"\r\n\r\n", 1)[1]) == {"etcd": True, "server": "a"}
    finally:
        await server.close()
    refused = [r for r in caplog.records if "refused (414)" in r.getMessage()]
    assert len(refused) == 1 and str(MAX_REQUEST_LINE) in refused[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records]
