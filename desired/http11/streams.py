"""The HTTP layer on asyncio streams: one request, its answer read within
Limits, all by one deadline (connect, TLS handshake, send, the answer).

For the agent's loop: the failsafe peer exchange and the `http` probe. The
deadline is the whole exchange's: an answer in pieces is read to its end,
and a peer that trickles or floods it cannot hold the caller past it.
"""
from __future__ import annotations

import asyncio
import time
from typing import Optional

from .wire import Answer, Body, Buffer, Limits, Step, head

_RECV = 65536


async def exchange(host: str, port: int, request: bytes, deadline: float, limits: Limits, *,
                   tls=None, server_hostname: Optional[str] = None, read_body: bool = True) -> Answer:
    """Connect, send `request` (head and body, encoded: wire.request_head) and
    read the answer; with read_body False, its status and headers only (body
    b""). `deadline` is time.monotonic()'s. TimeoutError once it passed; else
    an OSError (ssl.SSLError from the handshake) or a ProtocolError."""
    async with _by(deadline):
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=server_hostname if tls is not None else None)
        return await over(reader, writer, request, deadline, limits, read_body=read_body)


async def over(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, deadline: float,
               limits: Limits, *, read_body: bool = True) -> Answer:
    """`exchange` on a connection the caller opened (and telling its failures
    apart from the answer's); it is closed after."""
    try:
        async with _by(deadline):
            writer.write(request)
            await writer.drain()
            buf = Buffer()
            answer = await _run(head(buf, limits), reader)
            body = await _run(Body(buf, answer, limits).read(), reader) if read_body else b""
            return Answer(answer, bytes(body))
    finally:
        writer.close()


def _by(deadline: float):
    """asyncio's timeout at a time.monotonic() deadline (the loop's clock may differ)."""
    loop = asyncio.get_running_loop()
    return asyncio.timeout_at(loop.time() + (deadline - time.monotonic()))


async def _run(step: Step, reader: asyncio.StreamReader):
    """Feeds `step` from the stream until it has its result."""
    try:
        step.send(None)
        while True:
            step.send(await reader.read(_RECV))
    except StopIteration as done:
        return done.value
