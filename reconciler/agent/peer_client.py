"""Asking one peer's `/healthz` over HTTP: the failsafe question on the wire.

One request, and the answer read to its end (its Content-Length, or the peer
closing) within MAX_ANSWER bytes and one deadline for the whole exchange
(connect, send, read). A single read used to take whatever had arrived, so
an answer split over two segments counted a live peer as silent; a peer that
trickles or floods its answer cannot hold the asker past its deadline either.
What the answer says, and whether it counts, is the caller's to check
(peer_desk.py, peer_auth.check_answer): this only moves bytes.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import Mapping, Optional
from urllib.parse import urlencode

from .failsafe import Peer, Reply, Unanswered

MAX_ANSWER = 16 * 1024    # a failsafe answer is about 100 bytes plus headers


async def ask_peer(peer: Peer, timeout: float, params: Mapping[str, str],
                   tls: Optional[ssl.SSLContext] = None) -> Reply | Unanswered:
    """`tls`: mutual TLS (peer_tls.py), the answering certificate must name `peer`."""
    query = urlencode(params)
    request = f"GET /healthz{'?' + query if query else ''} HTTP/1.0\r\nHost: {peer.address}\r\n\r\n"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                peer.address, peer.port, ssl=tls, server_hostname=peer.name if tls else None)
            try:
                writer.write(request.encode())
                await writer.drain()
                raw = await _read_to_end(reader)
            finally:
                writer.close()
    except TimeoutError:
        return Unanswered(f"silent for {timeout:g}s")
    except ssl.SSLError as exc:   # before OSError, which it is: the reason matters here
        return Unanswered(f"TLS: {getattr(exc, 'verify_message', None) or exc.reason or exc}")
    except OSError as exc:
        return Unanswered(exc.strerror or type(exc).__name__)
    except AnswerTooLong:
        return Unanswered(f"answer over {MAX_ANSWER} bytes")
    return parse_answer(raw)


class AnswerTooLong(Exception):
    pass


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = await reader.read(MAX_ANSWER + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            raise AnswerTooLong()


def parse_answer(raw: bytes) -> Reply | Unanswered:
    """An HTTP/1.x answer read to its end; a truncated one is no answer."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return Unanswered("truncated answer (no end of headers)" if raw else "closed without an answer")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        return Unanswered(f"not an HTTP answer: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return Unanswered(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) != len(body)):
        return Unanswered(f"answer body of {len(body)} bytes, Content-Length {length[:20]}")
    return Reply(int(status_line[1]), body, headers)
